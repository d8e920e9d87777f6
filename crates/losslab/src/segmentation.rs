//! Segmentation losses: overlap measures made differentiable. Keras's `dice`
//! and `tversky`, optax's `dice_loss`, `binary_dice_loss` and
//! `multiclass_generalized_dice_loss`, and two of losslab's own: the soft
//! Jaccard (IoU) loss and the Lovász-softmax loss.
//!
//! The overlap losses sum over some axes (the "region" of one loss value) and
//! return one value per remaining index. Each reference picks different axes
//! by default (Keras: **all of them, batch included**; optax: all but the first
//! and the last; losslab's Jaccard: all but the first) and each docs say which.
//! [`Reduction::BatchMean`] divides by the first axis of the unreduced result
//! (1 when that result is a scalar).
//!
//! Contiguous tensors of one shape whose summed axes are one run of the shape
//! (every default is) take the machinery's overlap sweep: the sums of each
//! group in vectorised lanes (optax's sigmoid or softmax computed on the way),
//! then every element's gradients from its group's sums in a second pass, in
//! parallel over pieces fixed by the shape (the same bits on any thread
//! count), read in place and written in the tensors' own type; `forward_backward`
//! runs the two passes once. Broadcast or strided tensors, summed axes that
//! are not one run, and every error take the general path (each element
//! widened to `f64`).

use crate::machinery::broadcast::Broadcast;
use crate::machinery::kernels::overlap::{self, Layout};
use crate::machinery::lanes::{Eval, Upstream};
use crate::machinery::methods::{free_fn, loss_methods, setters};
use crate::machinery::error::{same_shape, shape_err, unravel, LossError, Result};
use crate::machinery::float::{narrow, widen, ClassIndex, Float};
use crate::math::{sigmoid_f64, softmax_lane};
use crate::machinery::reduction::{ones_like_output, sum_f64, Gradients, Reducer, Reduction};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension, IxDyn};

// ---------------------------------------------------------------------------------
// shared machinery: sums over a set of axes

/// The map from each element of a tensor to the index of its group when the
/// axes marked in `reduce` are summed over (NumPy's `sum(axis=…)`, keepdims off).
#[derive(Debug, Clone)]
pub(crate) struct Groups {
    /// Shape of the result: the axes not summed over, in order.
    pub(crate) out_shape: Vec<usize>,
    /// Group (flat index into the result) of each element, in row-major order.
    pub(crate) of: Vec<usize>,
    /// Number of groups.
    pub(crate) count: usize,
}

impl Groups {
    pub(crate) fn new(shape: &[usize], reduce: &[bool]) -> Self {
        debug_assert_eq!(shape.len(), reduce.len());
        let out_shape = kept(shape, reduce);
        let count = out_shape.iter().product();
        // strides of the result along each input axis (0 for summed axes)
        let mut strides = vec![0usize; shape.len()];
        let mut s = 1;
        for i in (0..shape.len()).rev() {
            if !reduce[i] {
                strides[i] = s;
                s *= shape[i];
            }
        }
        let n: usize = shape.iter().product();
        let mut of = Vec::with_capacity(n);
        let mut idx = vec![0usize; shape.len()];
        for _ in 0..n {
            of.push(idx.iter().zip(&strides).map(|(i, s)| i * s).sum());
            for a in (0..shape.len()).rev() {
                idx[a] += 1;
                if idx[a] < shape[a] {
                    break;
                }
                idx[a] = 0;
            }
        }
        Groups { out_shape, of, count }
    }

    /// `Σ f(i)` over the elements of each group (compensated, in element order).
    /// (Neumaier's compensation per group, the same sums as `sum_f64` over each group's elements.)
    pub(crate) fn sums(&self, f: impl Fn(usize) -> f64) -> Vec<f64> {
        let mut s = vec![crate::machinery::reduction::Neumaier::default(); self.count];
        for (i, &g) in self.of.iter().enumerate() {
            s[g].add(f(i));
        }
        s.into_iter().map(crate::machinery::reduction::Neumaier::total).collect()
    }
}

/// The axes of `shape` not marked in `reduce`: the shape of one result per group.
fn kept(shape: &[usize], reduce: &[bool]) -> Vec<usize> {
    shape.iter().zip(reduce).filter(|(_, &r)| !r).map(|(&d, _)| d).collect()
}

/// A gradient of `shape` from its elements in row-major order.
fn shaped<T>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), v).expect("one gradient per element")
}

/// Resolves a list of possibly negative axes (NumPy style) into a mask.
pub(crate) fn axes_mask(loss: &'static str, option: &'static str, axes: &[isize], ndim: usize) -> Result<Vec<bool>> {
    let mut mask = vec![false; ndim];
    for &a in axes {
        let r = if a < 0 { a + ndim as isize } else { a };
        if r < 0 || r >= ndim as isize || mask[r as usize] {
            return Err(LossError::Option {
                loss,
                option,
                value: format!("{axes:?}"),
                expected: format!("distinct axes in [-{ndim}, {ndim}) for a tensor with {ndim} dimension(s)"),
            });
        }
        mask[r as usize] = true;
    }
    Ok(mask)
}

fn batch_reducer(reduction: Reduction, out_shape: &[usize]) -> Reducer {
    Reducer::counting(reduction, out_shape, out_shape)
}

// ---------------------------------------------------------------------------------
// Keras dice and tversky

/// Keras's epsilon, `keras.config.epsilon()`.
const KERAS_EPSILON: f64 = 1e-7;

#[derive(Debug, Clone, Copy)]
enum KerasOverlap {
    Dice,
    Tversky { alpha: f64, beta: f64 },
}

/// The tensors of a Keras overlap loss broadcast together (NumPy's rule), and
/// the groups of the broadcast shape that are summed.
struct KerasPrepared {
    yt: Vec<f64>,
    yp: Vec<f64>,
    bc: Broadcast,
    groups: Groups,
    /// Per tensor (`y_pred`, `y_true`): how many elements of a group read each
    /// of its own elements (Dice sums each tensor over its own elements, not
    /// the broadcast's).
    repeats: [f64; 2],
}

impl KerasOverlap {
    fn prepare<T: Float, D: Dimension>(
        loss: &'static str,
        axis: &Option<Vec<isize>>,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
    ) -> Result<KerasPrepared> {
        let bc = Broadcast::numpy(loss, &[("y_pred", y_pred.shape()), ("y_true", y_true.shape())])?;
        if axis.is_some() && y_pred.ndim() != y_true.ndim() {
            return Err(shape_err(
                loss,
                "y_true",
                format!("{} dimensions, as `y_pred` {:?} (with `axis` given, tensors of different ranks do not broadcast here)", y_pred.ndim(), y_pred.shape()),
                y_true.shape(),
            ));
        }
        let shape = bc.shape.clone();
        let mask = match axis {
            None => vec![true; shape.len()],
            Some(a) => axes_mask(loss, "axis", a, shape.len())?,
        };
        let repeats = [0, 1].map(|k| {
            let own = bc.shape_of(k);
            let lead = shape.len() - own.len();
            (0..shape.len())
                .filter(|&ax| mask[ax])
                .map(|ax| if shape[ax] > 0 && (ax < lead || own[ax - lead] != shape[ax]) { shape[ax] as f64 } else { 1.0 })
                .product::<f64>()
        });
        let (yp, yt) = (bc.expand(0, y_pred), bc.expand(1, y_true));
        Ok(KerasPrepared { yt, yp, groups: Groups::new(&shape, &mask), bc, repeats })
    }

    /// Per group: the loss, and the three sums it is made of.
    fn sums(self, p: &KerasPrepared) -> Vec<[f64; 3]> {
        let (yt, yp) = (&p.yt, &p.yp);
        let a: Vec<f64>;
        let b: Vec<f64>;
        let i = p.groups.sums(|k| yt[k] * yp[k]);
        match self {
            KerasOverlap::Dice => {
                a = p.groups.sums(|k| yt[k]).into_iter().map(|v| v / p.repeats[1]).collect();
                b = p.groups.sums(|k| yp[k]).into_iter().map(|v| v / p.repeats[0]).collect();
            }
            KerasOverlap::Tversky { .. } => {
                a = p.groups.sums(|k| (1.0 - yp[k]) * yt[k]);
                b = p.groups.sums(|k| yp[k] * (1.0 - yt[k]));
            }
        }
        (0..i.len()).map(|g| [i[g], a[g], b[g]]).collect()
    }

    /// The loss's derivatives for the elements of a group with sums `[i, a,
    /// b]` (tensors of one shape: every element counted once) and upstream
    /// factor `c`, in the form the overlap sweep takes: `∂/∂ŷ = A·y + B`,
    /// `∂/∂y = C·ŷ + D` as `[A, B, C, D]` ([`grads`](Self::grads) multiplied out).
    fn coefs(self, [i, a, b]: [f64; 3], c: f64) -> [f64; 4] {
        match self {
            KerasOverlap::Dice => {
                let d = a + b + KERAS_EPSILON;
                let (slope, r) = (-2.0 * c / d, c * (2.0 * i / (d * d)));
                [slope, r, slope, r]
            }
            KerasOverlap::Tversky { alpha, beta } => {
                let d = i + a * alpha + b * beta + KERAS_EPSILON;
                let q = c * (i / (d * d));
                let slope = -c / d + q * (1.0 - alpha - beta);
                [slope, q * beta, slope, q * alpha]
            }
        }
    }

    /// The overlap sweep ([`overlap`]) when `y_true` and `y_pred` have one
    /// shape, are contiguous and the summed axes are one run: the three sums
    /// per group in vectorised lanes, then both gradients from them, in
    /// parallel over fixed pieces in the tensors' own type. `None` otherwise
    /// (the general path).
    fn fused<T: Float, D: Dimension>(
        self,
        loss: &'static str,
        (axis, reduction): (&Option<Vec<isize>>, Reduction),
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Option<Eval<T, Gradients<T>>>> {
        let shape = y_pred.shape();
        if y_true.shape() != shape {
            return Ok(None);
        }
        let (Some(p), Some(t)) = (y_pred.as_slice(), y_true.as_slice()) else { return Ok(None) };
        let mask = match axis {
            None => vec![true; shape.len()],
            Some(a) => axes_mask(loss, "axis", a, shape.len())?,
        };
        let id = overlap::Activation::Identity;
        let Some(lay) = Layout::new(shape, &mask, id) else { return Ok(None) };
        let reducer = batch_reducer(reduction, &kept(shape, &mask));
        let scales = up.scales(loss, &reducer)?;
        let s = match self {
            KerasOverlap::Dice => overlap::sums(&lay, id, p, t, #[inline(always)] |p, t| [t * p, t, p]),
            KerasOverlap::Tversky { .. } => overlap::sums(&lay, id, p, t, #[inline(always)] |p, t| [t * p, (1.0 - p) * t, p * (1.0 - t)]),
        }
        .expect("no pixel to check");
        let value = reducer.output(self.losses(&s));
        let grads = scales.map(|sc| {
            let (gp, gt) = overlap::grads(&lay, id, p, t, |g| self.coefs(s[g], sc.at(g)));
            Gradients { input: shaped(shape, gp), target: Some(shaped(shape, gt)) }
        });
        Ok(Some((value, grads)))
    }

    fn losses(self, s: &[[f64; 3]]) -> Vec<f64> {
        s.iter()
            .map(|&[i, a, b]| match self {
                KerasOverlap::Dice => 1.0 - 2.0 * i / (a + b + KERAS_EPSILON),
                KerasOverlap::Tversky { alpha, beta } => 1.0 - i / (i + a * alpha + b * beta + KERAS_EPSILON),
            })
            .collect()
    }

    /// Gradients with respect to y_pred and y_true, given one upstream factor per group.
    fn grads(self, p: &KerasPrepared, s: &[[f64; 3]], scale: impl Fn(usize) -> f64) -> (Vec<f64>, Vec<f64>) {
        let n = p.yt.len();
        let mut gp = Vec::with_capacity(n);
        let mut gt = Vec::with_capacity(n);
        for k in 0..n {
            let g = p.groups.of[k];
            let [i, a, b] = s[g];
            let c = scale(g);
            let (yt, yp) = (p.yt[k], p.yp[k]);
            match self {
                KerasOverlap::Dice => {
                    let d = a + b + KERAS_EPSILON;
                    let r = 2.0 * i / (d * d);
                    gp.push(-c * (2.0 * yt / d - r / p.repeats[0]));
                    gt.push(-c * (2.0 * yp / d - r / p.repeats[1]));
                }
                KerasOverlap::Tversky { alpha, beta } => {
                    let d = i + a * alpha + b * beta + KERAS_EPSILON;
                    let q = i / (d * d);
                    gp.push(-c * (yt / d - q * (yt - alpha * yt + beta * (1.0 - yt))));
                    gt.push(-c * (yp / d - q * (yp + alpha * (1.0 - yp) - beta * yp)));
                }
            }
        }
        (gp, gt)
    }
}

/// The methods of a Keras overlap loss (the type provides `kind` and
/// `validate`): its evaluation, `forward` / `backward` / `forward_backward` /
/// `reduction` from it, and the `axis` setter.
macro_rules! keras_overlap_methods {
    () => {
        fn eval<T: Float, D: Dimension>(
            &self,
            y_true: ArrayView<'_, T, D>,
            y_pred: ArrayView<'_, T, D>,
            up: &Upstream<'_, T>,
        ) -> Result<Eval<T, Gradients<T>>> {
            self.validate()?;
            if let Some(done) = self.kind().fused(Self::NAME, (&self.axis, self.reduction), &y_true, &y_pred, up)? {
                return Ok(done);
            }
            let p = KerasOverlap::prepare(Self::NAME, &self.axis, &y_true, &y_pred)?;
            let reducer = batch_reducer(self.reduction, &p.groups.out_shape);
            let scales = up.scales(Self::NAME, &reducer)?;
            let s = self.kind().sums(&p);
            let value = reducer.output(self.kind().losses(&s));
            Ok((value, scales.map(|sc| {
                let (gp, gt) = self.kind().grads(&p, &s, |g| sc.at(g));
                Gradients { input: p.bc.reduce(0, gp), target: Some(p.bc.reduce(1, gt)) }
            })))
        }

        loss_methods!(torch: eval, (y_true: float, y_pred: float), "`input` w.r.t. `y_pred`, `target` w.r.t. `y_true`");

        setters!(
            /// Sets the axes summed over (`None`: all axes, the batch included).
            axis: Option<Vec<isize>>
        );
    };
}

/// Dice loss, `keras.losses.dice(y_true, y_pred, axis=None)` (Keras 3).
///
/// ```text
/// ℓ = 1 − 2 Σ y·ŷ / (Σ y + Σ ŷ + ε)        ε = keras.config.epsilon() = 1e-7
/// ```
///
/// with the sums over `axis`. `y_true` (`y`) and `y_pred` (`ŷ`, probabilities)
/// have the same shape; the result has the shape of the axes not summed over.
///
/// **With `axis = None` (Keras's default) the sums run over every axis, the
/// batch included**: the result is one scalar for the whole batch, not a
/// per-sample loss averaged afterwards (Keras's own example gives 0.6164 for a
/// batch whose per-sample losses are 0.5 and 0.7576). Give `axis` (e.g.
/// `[1, 2, 3]` for `(N, H, W, C)`) for one loss per sample. losslab follows
/// Keras here. The default reduction is `None`: Keras's result as it is.
///
/// Differentiable in both tensors (`y_true` is cast to `y_pred`'s type).
/// The loss of a perfect prediction is `ε/(2Σy + ε)`, 0 up to Keras's `ε`.
///
/// Shapes: `y_true` and `y_pred` broadcast together as Keras broadcasts them
/// (NumPy's rule; each gradient summed back to its tensor's shape): the
/// intersection is summed over the broadcast, `Σ y_true` and `Σ y_pred` over each
/// tensor's own elements, as Keras sums them. With `axis` given, the tensors must
/// have one rank.
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast (or differ in rank with
/// `axis` given); [`LossError::Option`] for an axis out of range or repeated.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::segmentation::KerasDice;
/// // Keras's docstring example.
/// let y_true = array![[1.0f64, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]];
/// let y_pred = array![[0.0f64, 1.0, 0.0, 1.0], [0.4, 0.0, 0.0, 0.9]];
/// let all = KerasDice::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((all[[]] - 0.6164384).abs() < 1e-6);
/// let per_sample = KerasDice::new().axis(Some(vec![1])).forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((per_sample[[0]] - 0.5).abs() < 1e-7 && (per_sample[[1]] - 0.75757575).abs() < 1e-7);
/// ```
///
/// # References
/// F. Milletari, N. Navab, S.-A. Ahmadi, "V-Net: Fully Convolutional Neural
/// Networks for Volumetric Medical Image Segmentation", 3DV 2016,
/// <https://arxiv.org/abs/1606.04797>; <https://keras.io/api/losses/regression_losses/#dice-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasDice {
    /// The reduction applied to Keras's result (default `None`).
    pub reduction: Reduction,
    /// The axes summed over (default `None`: every axis).
    pub axis: Option<Vec<isize>>,
}

impl Default for KerasDice {
    fn default() -> Self {
        KerasDice { reduction: Reduction::None, axis: None }
    }
}

impl KerasDice {
    const NAME: &'static str = "dice";
    /// Keras's defaults: `axis = None`; reduction `None`.
    pub fn new() -> Self {
        Self::default()
    }
    fn kind(&self) -> KerasOverlap {
        KerasOverlap::Dice
    }
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    keras_overlap_methods!();
}

/// Tversky loss, `keras.losses.tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None)` (Keras 3).
///
/// ```text
/// I = Σ y·ŷ      A = Σ (1 − ŷ)·y      B = Σ ŷ·(1 − y)
/// ℓ = 1 − I / (I + α·A + β·B + ε)        ε = 1e-7
/// ```
///
/// Shapes and `axis` as [`KerasDice`] (**`axis = None` sums over the batch
/// too**). Note what Keras's `alpha` multiplies: Keras names the sum `A`
/// "fp", but `A = Σ (1 − ŷ)·y` is the mass of the *missed* positives (false
/// negatives in the paper's terms), and `beta` multiplies the false positives
/// `B`. losslab follows Keras's formula under Keras's name. With
/// `alpha = beta = 0.5` it equals [`KerasDice`] but for where `ε` enters.
///
/// Shapes: `y_true` and `y_pred` broadcast together as Keras broadcasts them
/// (NumPy's rule; the three sums over the broadcast, each gradient summed back to
/// its tensor's shape). With `axis` given, the tensors must have one rank.
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast (or differ in rank with
/// `axis` given); [`LossError::Option`] for an axis out of range or repeated.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::segmentation::KerasTversky;
/// let y = array![1.0f64, 1.0, 0.0];
/// let p = array![1.0f64, 0.0, 1.0];
/// // I = 1, A = 1 (the missed positive), B = 1 (the false positive)
/// let l = KerasTversky::new().alpha(0.7).beta(0.3).forward(y.view(), p.view()).unwrap();
/// assert!((l[[]] - (1.0 - 1.0 / (1.0 + 0.7 + 0.3 + 1e-7))).abs() < 1e-15);
/// ```
///
/// # References
/// S. S. M. Salehi, D. Erdogmus, A. Gholipour, "Tversky loss function for image
/// segmentation using 3D fully convolutional deep networks", MLMI 2017,
/// <https://arxiv.org/abs/1706.05721>; <https://keras.io/api/losses/regression_losses/#tversky-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasTversky {
    /// The reduction applied to Keras's result (default `None`).
    pub reduction: Reduction,
    /// The weight of `Σ (1 − ŷ)·y` (default 0.5).
    pub alpha: f64,
    /// The weight of `Σ ŷ·(1 − y)` (default 0.5).
    pub beta: f64,
    /// The axes summed over (default `None`: every axis).
    pub axis: Option<Vec<isize>>,
}

impl Default for KerasTversky {
    fn default() -> Self {
        KerasTversky { reduction: Reduction::None, alpha: 0.5, beta: 0.5, axis: None }
    }
}

impl KerasTversky {
    const NAME: &'static str = "tversky";
    /// Keras's defaults: `alpha = beta = 0.5`, `axis = None`; reduction `None`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets `alpha`.
        alpha: f64,
        /// Sets `beta`.
        beta: f64
    );
    fn kind(&self) -> KerasOverlap {
        KerasOverlap::Tversky { alpha: self.alpha, beta: self.beta }
    }
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    keras_overlap_methods!();
}

free_fn! {
    /// [`KerasDice`]: `keras.losses.dice(y_true, y_pred, axis)`.
    pub fn keras_dice(y_true: float, y_pred: float; axis: Option<Vec<isize>>) = KerasDice {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let y = array![0.0f64, 1.0, 1.0];
        /// // a perfect prediction: 0 up to Keras's epsilon
        /// assert!(losslab::segmentation::keras_dice(y.view(), y.view(), None).unwrap()[[]] < 1e-7);
        /// ```
        ///
        /// # References
        /// [`KerasDice`]: its formula, the reference's semantics and the paper.
    }

    /// [`KerasTversky`]: `keras.losses.tversky(y_true, y_pred, alpha, beta, axis)`.
    pub fn keras_tversky(y_true: float, y_pred: float; alpha: f64, beta: f64, axis: Option<Vec<isize>>) = KerasTversky {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let y = array![[0.0f64, 1.0], [1.0, 1.0]];
        /// let l = losslab::segmentation::keras_tversky(y.view(), y.view(), 0.3, 0.7, Some(vec![-1])).unwrap();
        /// assert_eq!(l.shape(), &[2]);
        /// assert!(l.iter().all(|&v| v < 1e-7));
        /// ```
        ///
        /// # References
        /// [`KerasTversky`]: its formula, the reference's semantics and the paper.
    }
}

// ---------------------------------------------------------------------------------
// optax dice losses

/// How optax's dice losses turn logits into probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activation {
    /// sigmoid for one channel, softmax over the last axis otherwise
    Auto,
    /// already probabilities: each row must sum to 1
    Identity,
}

/// The optax dice computation shared by the three optax losses.
struct OptaxDice {
    classes: usize,
    /// probabilities
    p: Vec<f64>,
    t: Vec<f64>,
    /// sigmoid (one channel) or softmax was applied
    activation: Activation,
    groups: Groups,
    /// per (group): intersection, prediction sum, target sum; groups are (..., class)
    sums: Vec<[f64; 3]>,
}

#[derive(Debug, Clone, Copy)]
struct DiceCoef {
    smooth: f64,
    alpha: f64,
    beta: f64,
}

impl DiceCoef {
    fn loss(&self, [i, p, t]: [f64; 3]) -> f64 {
        let num = i + self.smooth;
        let den = i + self.alpha * (p - i) + self.beta * (t - i) + self.smooth;
        1.0 - num / den
    }

    /// The derivatives of `a · loss` for the elements of a group with sums
    /// `[i, p, t]`, in the form the overlap sweep takes: `∂/∂p = A·t + B`,
    /// `∂/∂t = C·p + D` as `[A, B, C, D]` ([`OptaxDice::grads`] multiplied out).
    fn coefs(&self, [i, p, t]: [f64; 3], a: f64) -> [f64; 4] {
        let num = i + self.smooth;
        let den = i + self.alpha * (p - i) + self.beta * (t - i) + self.smooth;
        let q = a * (num / (den * den));
        let slope = -a / den + q * (1.0 - self.alpha - self.beta);
        [slope, q * self.alpha, slope, q * self.beta]
    }
}

/// optax's summed axes of a tensor with `ndim` axes: `axis` (batch and
/// spatial axes only), or every axis but the first and the last.
fn optax_mask(loss: &'static str, ndim: usize, axis: &Option<Vec<isize>>) -> Result<Vec<bool>> {
    match axis {
        None => Ok((0..ndim).map(|a| a >= 1 && a + 1 < ndim).collect()),
        Some(a) => {
            let m = axes_mask(loss, "axis", a, ndim)?;
            if m[ndim - 1] {
                return Err(LossError::Unsupported {
                    loss,
                    message: format!(
                        "option `axis` = {a:?} is not supported: expected batch and spatial axes only \
                         (losslab sums optax's `axis` over those), found the class (last) axis {} among them",
                        ndim - 1
                    ),
                });
            }
            Ok(m)
        }
    }
}

/// The optax dice losses' sums on the overlap sweep ([`overlap`]): the
/// tensors, the activation, and per group (the axes not summed over, the class
/// last) `[Σ p·t, Σ p, Σ t]`.
struct OptaxFused<'a, T> {
    lay: Layout,
    act: overlap::Activation,
    x: &'a [T],
    t: &'a [T],
    /// The shape of the groups (the class axis last).
    groups: Vec<usize>,
    sums: Vec<[f64; 3]>,
}

impl<'a, T: Float> OptaxFused<'a, T> {
    /// The sweep's sums for predictions `x` and targets `t` (contiguous, when
    /// given) of `shape`, summed over `mask`: `None` where the sweep does not
    /// apply ([`Layout::new`]) and where, without the softmax, a row of
    /// probabilities does not sum to 1 (the general path then says where).
    fn new(x: Option<&'a [T]>, t: Option<&'a [T]>, shape: &[usize], mask: &[bool], apply: bool) -> Option<Self> {
        let (x, t) = (x?, t?);
        let c = shape[shape.len() - 1];
        let act = match (apply, c) {
            (false, _) => overlap::Activation::Probabilities(c),
            (true, 1) => overlap::Activation::Sigmoid,
            (true, _) => overlap::Activation::Softmax(c),
        };
        let lay = Layout::new(shape, mask, act)?;
        let sums = overlap::sums(&lay, act, x, t, #[inline(always)] |p, t| [p * t, p, t])?;
        Some(OptaxFused { lay, act, x, t, groups: kept(shape, mask), sums })
    }

    /// The classes (the groups' last axis).
    fn classes(&self) -> usize {
        self.groups[self.groups.len() - 1]
    }

    /// The unweighted per-(group, class) losses, `1 − coeff`.
    fn losses(&self, c: DiceCoef) -> Vec<f64> {
        self.sums.iter().map(|&s| c.loss(s)).collect()
    }

    /// The gradients with respect to the predictions and the targets (in
    /// their own shapes) of `Σ a[g] · (1 − coeff[g])`, plus `extra[g]` per
    /// element of group `g` in the targets' (a class's path through the
    /// weights; none when empty).
    fn grads(&self, c: DiceCoef, a: &[f64], extra: &[f64], shapes: (&[usize], &[usize])) -> Gradients<T> {
        let k = self.classes();
        let (gx, gt) = overlap::grads(&self.lay, self.act, self.x, self.t, |g| {
            let mut f = c.coefs(self.sums[g], a[g]);
            if !extra.is_empty() {
                f[3] += extra[g % k];
            }
            f
        });
        Gradients { input: shaped(shapes.0, gx), target: Some(shaped(shapes.1, gt)) }
    }
}

impl OptaxDice {
    #[allow(clippy::too_many_arguments)]
    fn new(
        loss: &'static str,
        shape: Vec<usize>,
        x: Vec<f64>,
        t: Vec<f64>,
        activation: Activation,
        axis: &Option<Vec<isize>>,
    ) -> Result<Self> {
        let ndim = shape.len();
        let classes = shape[ndim - 1];
        let outer = x.len().checked_div(classes).unwrap_or(0);
        let p = match activation {
            Activation::Auto if classes == 1 => x.iter().map(|&v| sigmoid_f64(v)).collect(),
            Activation::Auto => {
                let mut p = vec![0.0; x.len()];
                for r in 0..outer {
                    softmax_lane(&x[r * classes..(r + 1) * classes], &mut p[r * classes..(r + 1) * classes]);
                }
                p
            }
            Activation::Identity => {
                for r in 0..outer {
                    let s = sum_f64(x[r * classes..(r + 1) * classes].iter().copied());
                    // jnp.allclose(sum, 1.0, rtol=1e-5): |sum − 1| ≤ 1e-8 + 1e-5 (a NaN sum is not)
                    let close = (s - 1.0).abs() <= 1e-8 + 1e-5;
                    if !close {
                        return Err(LossError::Domain {
                            loss,
                            tensor: "predictions",
                            value: s,
                            expected: "rows (along the last axis) that sum to 1 when apply_softmax is false \
                                       (optax: \"predictions must be valid probability distributions\")",
                            position: unravel(r * classes, &shape)[..ndim - 1].to_vec(),
                        });
                    }
                }
                x
            }
        };
        let mask = optax_mask(loss, ndim, axis)?;
        let groups = Groups::new(&shape, &mask);
        let i = groups.sums(|k| p[k] * t[k]);
        let ps = groups.sums(|k| p[k]);
        let ts = groups.sums(|k| t[k]);
        let sums = (0..groups.count).map(|g| [i[g], ps[g], ts[g]]).collect();
        Ok(OptaxDice { classes, p, t, activation, groups, sums })
    }

    /// Unweighted per-(group, class) losses, `1 − coeff`.
    fn losses(&self, c: DiceCoef) -> Vec<f64> {
        self.sums.iter().map(|&s| c.loss(s)).collect()
    }

    /// Gradients with respect to the logits (or probabilities) and the targets
    /// of `Σ a[g] · (1 − coeff[g])`.
    fn grads(&self, c: DiceCoef, a: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let n = self.p.len();
        let mut gp = vec![0.0; n];
        let mut gt = vec![0.0; n];
        for k in 0..n {
            let g = self.groups.of[k];
            let [i, ps, ts] = self.sums[g];
            let num = i + c.smooth;
            let den = i + c.alpha * (ps - i) + c.beta * (ts - i) + c.smooth;
            let q = num / (den * den);
            let (p, t) = (self.p[k], self.t[k]);
            gp[k] = -a[g] * (t / den - q * (t + c.alpha * (1.0 - t) - c.beta * t));
            gt[k] = -a[g] * (p / den - q * (p - c.alpha * p + c.beta * (1.0 - p)));
        }
        let gx = match self.activation {
            Activation::Identity => gp,
            Activation::Auto if self.classes == 1 => (0..n).map(|k| gp[k] * self.p[k] * (1.0 - self.p[k])).collect(),
            Activation::Auto => {
                let k = self.classes;
                let mut gx = vec![0.0; n];
                // No rows when the class axis is empty (k = 0, n = 0).
                for r in 0..n.checked_div(k).unwrap_or(0) {
                    let (ps, gs) = (&self.p[r * k..(r + 1) * k], &gp[r * k..(r + 1) * k]);
                    let dot = sum_f64(ps.iter().zip(gs).map(|(p, g)| p * g));
                    for j in 0..k {
                        gx[r * k + j] = ps[j] * (gs[j] - dot);
                    }
                }
                gx
            }
        };
        (gx, gt)
    }
}

/// Checks optax's class reduction (`'mean'`, `'sum'` or `'none'`).
fn check_class_reduction(loss: &'static str, r: Reduction) -> Result<()> {
    if r == Reduction::BatchMean {
        return Err(LossError::Option {
            loss,
            option: "class_reduction",
            value: r.to_string(),
            expected: "none, mean or sum (optax's `reduction` across classes)".into(),
        });
    }
    Ok(())
}

fn check_smooth(loss: &'static str, smooth: f64) -> Result<()> {
    crate::machinery::error::check_option(loss, "smooth", smooth, !smooth.is_nan(), "a number")
}

/// Dice loss for multi-class (or binary) segmentation, `optax.losses.dice_loss`
/// (optax 0.2.8), generalised to the Tversky index by `alpha` and `beta`.
///
/// ```text
/// p = softmax(x) over the last (class) axis     (sigmoid for one channel; x itself if apply_softmax = false)
/// I_c = Σ p·t,   P_c = Σ p,   T_c = Σ t          sums over `axis` (default: all but the first and last)
/// ℓ_c = w_c · (1 − (I_c + s) / (I_c + α(P_c − I_c) + β(T_c − I_c) + s))
/// result = class_reduction over c of ℓ_c          (after dropping class 0 if ignore_background)
/// ```
///
/// `predictions` (logits, or probabilities with `apply_softmax = false`) and
/// `targets` (one-hot or soft) have shape `(..., C)`; either may omit a trailing
/// axis of length 1 (`[...]` is read as `[..., 1]`, binary segmentation). The
/// result has the shape of the axes not summed over, less the class axis when
/// `class_reduction` is `Mean` or `Sum`; with `None` it keeps the class axis.
///
/// optax's own `reduction` argument (across classes, default `'mean'`) is
/// `class_reduction` here, because losslab's `reduction` is applied to optax's
/// result afterwards (default `None`: optax's result as it is).
///
/// As optax: with `apply_softmax = false` every row along the class axis must
/// sum to 1 within `1e-5` (an error otherwise), which for a single channel means
/// every prediction must be 1; `class_weights` of length `C` (or 1) multiply the
/// per-class losses; `ignore_background` drops class 0 only when `C > 1`.
/// Differentiable in `predictions` and `targets` (not in `class_weights`).
///
/// # Errors
/// [`LossError::Shape`] for shapes that differ (after the trailing-axis
/// expansion), a 0-d tensor, or `class_weights` of a length other than `C` or 1;
/// [`LossError::Domain`] for rows not summing to 1 when `apply_softmax = false`;
/// [`LossError::Option`] for a bad `axis`, `class_reduction = BatchMean` or a NaN
/// `smooth`; [`LossError::Unsupported`] for an `axis` that includes the class axis.
///
/// # Examples
/// ```
/// use ndarray::{array, Axis};
/// use losslab::DiceLoss;
/// // optax's docstring example: binary logits (2, 2, 1) → one loss per sample.
/// let logits = array![[1.0f64, -1.0], [0.5, 0.5]].insert_axis(Axis(2));
/// let targets = array![[1.0f64, 0.0], [1.0, 0.0]].insert_axis(Axis(2));
/// let l = DiceLoss::new().forward(logits.view(), targets.view()).unwrap();
/// assert_eq!(l.shape(), &[2]);
/// // sample 0: p = (σ(1), σ(−1)), I = σ(1), P = 1, T = 1
/// let s1 = 1.0 / (1.0 + (-1.0f64).exp());
/// let want = 1.0 - (s1 + 1.0) / (s1 + 0.5 * (1.0 - s1) + 0.5 * (1.0 - s1) + 1.0);
/// assert!((l[[0]] - want).abs() < 1e-15);
/// ```
///
/// # References
/// F. Milletari, N. Navab, S.-A. Ahmadi, "V-Net: Fully Convolutional Neural
/// Networks for Volumetric Medical Image Segmentation", 3DV 2016,
/// <https://arxiv.org/abs/1606.04797>; S. S. M. Salehi et al., "Tversky loss
/// function for image segmentation using 3D fully convolutional deep networks",
/// 2017, <https://arxiv.org/abs/1706.05721>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.dice_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DiceLoss {
    /// losslab's reduction of optax's result (default `None`).
    pub reduction: Reduction,
    /// optax's `reduction` across classes: `Mean` (default), `Sum` or `None`.
    pub class_reduction: Reduction,
    /// One weight per class (default none).
    pub class_weights: Option<Vec<f64>>,
    /// The smoothing constant `s` (default 1).
    pub smooth: f64,
    /// The weight of false positives `P − I` (default 0.5).
    pub alpha: f64,
    /// The weight of false negatives `T − I` (default 0.5).
    pub beta: f64,
    /// Apply sigmoid (one channel) or softmax to `predictions` (default true).
    pub apply_softmax: bool,
    /// Drop class 0 from the result (default false).
    pub ignore_background: bool,
    /// The axes summed over (default `None`: all but the first and the last).
    pub axis: Option<Vec<isize>>,
}

impl Default for DiceLoss {
    fn default() -> Self {
        DiceLoss {
            reduction: Reduction::None,
            class_reduction: Reduction::Mean,
            class_weights: None,
            smooth: 1.0,
            alpha: 0.5,
            beta: 0.5,
            apply_softmax: true,
            ignore_background: false,
            axis: None,
        }
    }
}

/// Expands `[...]` against `[..., 1]` as optax's `dice_loss` does, and checks the shapes.
fn optax_shapes(loss: &'static str, ps: &[usize], ts: &[usize]) -> Result<Vec<usize>> {
    let (mut ps, mut ts) = (ps.to_vec(), ts.to_vec());
    if ps.len() + 1 == ts.len() {
        ps.push(1);
    }
    if ts.len() + 1 == ps.len() {
        ts.push(1);
    }
    same_shape(loss, "predictions", &ps, "targets", &ts)?;
    if ps.is_empty() {
        return Err(shape_err(loss, "predictions", "at least 1 dimension: (..., num_classes)", &ps));
    }
    Ok(ps)
}

impl DiceLoss {
    const NAME: &'static str = "dice_loss";

    /// optax's defaults: `smooth = 1`, `alpha = beta = 0.5`, `apply_softmax`,
    /// class reduction `Mean`, no class weights, no background dropping, default axes;
    /// losslab's reduction `None`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets optax's `reduction` across classes (`None`, `Mean` or `Sum`).
        class_reduction: Reduction
    );
    /// Sets the class weights.
    #[must_use]
    pub fn class_weights<T: Float>(mut self, w: ndarray::ArrayView1<'_, T>) -> Self {
        self.class_weights = Some(w.iter().map(|v| v.to_wide()).collect());
        self
    }
    setters!(
        /// Sets `smooth`.
        smooth: f64,
        /// Sets `alpha`.
        alpha: f64,
        /// Sets `beta`.
        beta: f64,
        /// Sets `apply_softmax`.
        apply_softmax: bool,
        /// Sets `ignore_background`.
        ignore_background: bool,
        /// Sets the axes summed over (`None`: optax's default).
        axis: Option<Vec<isize>>
    );

    fn coef(&self) -> DiceCoef {
        DiceCoef { smooth: self.smooth, alpha: self.alpha, beta: self.beta }
    }

    /// The class weights for `classes` classes: one each, or one for all.
    fn weights(&self, classes: usize) -> Result<Vec<f64>> {
        match &self.class_weights {
            None => Ok(vec![1.0; classes]),
            Some(w) if w.len() == classes => Ok(w.clone()),
            Some(w) if w.len() == 1 => Ok(vec![w[0]; classes]),
            Some(w) => Err(shape_err(
                Self::NAME,
                "class_weights",
                format!("[{classes}] (one weight per class: the size of the last axis)"),
                &[w.len()],
            )),
        }
    }

    /// The loss, as optax computes it, then reduced by `self.reduction`, and
    /// its gradients for the upstream gradient `up`.
    ///
    /// Predictions and targets contiguous (after optax's trailing-axis
    /// expansion), the summed axes one run, valid options and weights: the
    /// overlap sweep ([`overlap`]), the activation (sigmoid, softmax over the
    /// class axis, or the rows' check) and the three sums per (group, class)
    /// in one pass, the gradients from them in a second. Everything else, and
    /// every error, on the general path.
    fn eval<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        predictions: ArrayView<'_, T, D1>,
        targets: ArrayView<'_, T, D2>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        check_class_reduction(Self::NAME, self.class_reduction)?;
        check_smooth(Self::NAME, self.smooth)?;
        let shape = optax_shapes(Self::NAME, predictions.shape(), targets.shape())?;
        let coef = self.coef();
        let shapes = (predictions.shape(), targets.shape());
        // Errors in the axes or the weights: the general path reports them in its order.
        if let (Ok(mask), Ok(weights)) = (optax_mask(Self::NAME, shape.len(), &self.axis), self.weights(shape[shape.len() - 1])) {
            if let Some(f) = OptaxFused::new(predictions.as_slice(), targets.as_slice(), &shape, &mask, self.apply_softmax) {
                let plan = ClassPlan::new(&f.groups, weights, self.ignore_background, self.class_reduction);
                let reducer = batch_reducer(self.reduction, &plan.out_shape);
                let scales = up.scales(Self::NAME, &reducer)?;
                let value = reducer.output(plan.forward(&f.losses(coef)));
                return Ok((value, scales.map(|sc| f.grads(coef, &plan.backward(&sc), &[], shapes))));
            }
        }
        let act = if self.apply_softmax { Activation::Auto } else { Activation::Identity };
        let d = OptaxDice::new(Self::NAME, shape, widen(&predictions), widen(&targets), act, &self.axis)?;
        let plan = ClassPlan::new(&d.groups.out_shape, self.weights(d.classes)?, self.ignore_background, self.class_reduction);
        let reducer = batch_reducer(self.reduction, &plan.out_shape);
        let scales = up.scales(Self::NAME, &reducer)?;
        let value = reducer.output(plan.forward(&d.losses(coef)));
        Ok((value, scales.map(|sc| {
            let (gx, gt) = d.grads(coef, &plan.backward(&sc));
            Gradients { input: narrow(shapes.0, gx), target: Some(narrow(shapes.1, gt)) }
        })))
    }

    loss_methods!(optax: eval, (predictions: float, targets: float_any), "`input` w.r.t. `predictions`, in its own shape; `target` w.r.t. `targets`");
}

/// Class weights, background dropping and the reduction across classes of
/// optax's `dice_loss`: from per-(group, class) losses to optax's result.
struct ClassPlan {
    classes: usize,
    weights: Vec<f64>,
    /// first class kept (1 when the background is dropped)
    first: usize,
    class_reduction: Reduction,
    out_shape: Vec<usize>,
    /// number of rows (groups without the class axis)
    rows: usize,
}

impl ClassPlan {
    /// The plan for groups of shape `groups` (the class axis last).
    fn new(groups: &[usize], weights: Vec<f64>, ignore_background: bool, class_reduction: Reduction) -> Self {
        let classes = groups[groups.len() - 1];
        let first = usize::from(ignore_background && classes > 1);
        let mut out_shape = groups.to_vec();
        let last = out_shape.len() - 1;
        match class_reduction {
            Reduction::None => out_shape[last] = classes - first,
            _ => {
                out_shape.pop();
            }
        }
        // The groups without the class axis: counted from the shape, not as
        // count / classes, which is 0 for a zero-sized class axis whatever the other axes.
        let rows = groups[..last].iter().product();
        ClassPlan { classes, weights, first, class_reduction, out_shape, rows }
    }
    fn kept(&self) -> usize {
        self.classes - self.first
    }
    fn forward(&self, losses: &[f64]) -> Vec<f64> {
        let k = self.classes;
        let mut out = Vec::new();
        for r in 0..self.rows {
            let row = (self.first..k).map(|c| losses[r * k + c] * self.weights[c]);
            match self.class_reduction {
                Reduction::None => out.extend(row),
                Reduction::Sum => out.push(sum_f64(row)),
                _ => out.push(sum_f64(row) / self.kept() as f64),
            }
        }
        out
    }
    /// The factor of each unweighted per-(group, class) loss.
    fn backward(&self, scales: &crate::machinery::reduction::Scales) -> Vec<f64> {
        let k = self.classes;
        let kept = self.kept();
        let mut a = vec![0.0; self.rows * k];
        for r in 0..self.rows {
            for c in self.first..k {
                let s = match self.class_reduction {
                    Reduction::None => scales.at(r * kept + (c - self.first)),
                    Reduction::Sum => scales.at(r),
                    _ => scales.at(r) / kept as f64,
                };
                a[r * k + c] = s * self.weights[c];
            }
        }
        a
    }
}

/// Binary Dice loss, `optax.losses.binary_dice_loss` (optax 0.2.8): [`DiceLoss`]
/// on one channel.
///
/// ```text
/// p = σ(x)   (x itself if apply_sigmoid = false)
/// ℓ = 1 − (Σ p·t + s) / (Σ p·t + ½(Σ p − Σ p·t) + ½(Σ t − Σ p·t) + s)
/// ```
///
/// As optax: when `predictions` and `targets` have the same number of axes and
/// the last is not of length 1, a channel axis is appended to both; the sums
/// then run over all axes but the first (and the appended channel). A 1-D
/// input `(N,)` is thus `(N, 1)`, whose sums run over no axis: one loss per
/// element. With `apply_sigmoid = false`, optax requires every prediction to
/// equal 1 within 1e-5 (its probability check sums a single channel): any other
/// value is an error there and here.
///
/// # Errors
/// As [`DiceLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::BinaryDiceLoss;
/// let logits = array![[4.0f64, -4.0, 4.0]];
/// let targets = array![[1.0f64, 0.0, 1.0]];
/// let l = BinaryDiceLoss::new().forward(logits.view(), targets.view()).unwrap();
/// assert_eq!(l.shape(), &[1]);
/// assert!(l[[0]] < 0.02);
/// ```
///
/// # References
/// F. Milletari et al., "V-Net", 2016, <https://arxiv.org/abs/1606.04797>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.binary_dice_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BinaryDiceLoss {
    /// losslab's reduction of optax's result (default `None`).
    pub reduction: Reduction,
    /// The smoothing constant (default 1).
    pub smooth: f64,
    /// Apply the sigmoid to `predictions` (default true).
    pub apply_sigmoid: bool,
}

impl Default for BinaryDiceLoss {
    fn default() -> Self {
        BinaryDiceLoss { reduction: Reduction::None, smooth: 1.0, apply_sigmoid: true }
    }
}

impl BinaryDiceLoss {
    const NAME: &'static str = "binary_dice_loss";
    /// optax's defaults: `smooth = 1`, `apply_sigmoid = true`; losslab's reduction `None`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets `smooth`.
        smooth: f64,
        /// Sets `apply_sigmoid`.
        apply_sigmoid: bool
    );
    fn rename(e: LossError) -> LossError {
        match e {
            LossError::Shape { tensor, expected, found, .. } => LossError::Shape { loss: Self::NAME, tensor, expected, found },
            LossError::Domain { tensor, value, position, expected, .. } => {
                LossError::Domain { loss: Self::NAME, tensor, value, position, expected }
            }
            LossError::Option { option, value, expected, .. } => LossError::Option { loss: Self::NAME, option, value, expected },
            LossError::Unsupported { message, .. } => LossError::Unsupported { loss: Self::NAME, message },
            e => e,
        }
    }

    /// [`DiceLoss`]'s evaluation on views of the tensors with optax's channel
    /// axis appended (no copy: contiguous tensors stay on its overlap sweep),
    /// the gradients back in the tensors' own shapes.
    fn eval<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        predictions: ArrayView<'_, T, D1>,
        targets: ArrayView<'_, T, D2>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        let (ps, ts) = (predictions.shape().to_vec(), targets.shape().to_vec());
        if ps.is_empty() || ts.is_empty() {
            return Err(shape_err(Self::NAME, if ps.is_empty() { "predictions" } else { "targets" }, "at least 1 dimension", &[]));
        }
        if ps.len() == ts.len() {
            // Before the class axis is added, so that the message shows the shapes given.
            same_shape(Self::NAME, "predictions", &ps, "targets", &ts)?;
        }
        let (mut p, mut t) = (predictions.into_dyn(), targets.into_dyn());
        if ps.len() == ts.len() && ps[ps.len() - 1] != 1 {
            p = p.insert_axis(ndarray::Axis(ps.len()));
            t = t.insert_axis(ndarray::Axis(ts.len()));
        }
        let d = DiceLoss::new().smooth(self.smooth).apply_softmax(self.apply_sigmoid).reduction(self.reduction);
        let (value, grads) = d.eval(p, t, up).map_err(Self::rename)?;
        let reshape = |a: ArrayD<T>, s: &[usize]| a.into_shape_with_order(IxDyn(s)).expect("same size");
        Ok((value, grads.map(|g| Gradients { input: reshape(g.input, &ps), target: g.target.map(|t| reshape(t, &ts)) })))
    }

    loss_methods!(optax: eval, (predictions: float, targets: float_any), "`input` w.r.t. `predictions`, `target` w.r.t. `targets`, in their own shapes");
}

/// Generalized Dice loss with automatic class weights,
/// `optax.losses.multiclass_generalized_dice_loss` (optax 0.2.8).
///
/// ```text
/// f_c = Σ t[..., c]  over every axis but the last          (class frequencies)
/// w_c = 1 / (f_c² + 1e-7),    ŵ_c = C · w_c / Σ_k w_k
/// ℓ   = mean over (sample, class) of ŵ_c · dice_c            (dice_c of DiceLoss, α = β = ½)
/// ```
///
/// `predictions` and `targets`: the same shape `(N, ..., C)` (no trailing-axis
/// expansion here). The result is a scalar. The weights are computed from the
/// targets, as in optax, so the gradient with respect to `targets` includes
/// the path through the weights (jax differentiates it). With
/// `ignore_background` the weights are still normalised over all `C` classes
/// before class 0 is dropped (as optax).
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ or are 0-d; otherwise as [`DiceLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::MulticlassGeneralizedDiceLoss;
/// let t = array![[[1.0f64, 0.0], [1.0, 0.0], [0.0, 1.0]]];
/// let l = MulticlassGeneralizedDiceLoss::new().apply_softmax(false).forward(t.view(), t.view()).unwrap();
/// assert!(l[[]].abs() < 1e-15); // a perfect prediction
/// ```
///
/// # References
/// C. H. Sudre, W. Li, T. Vercauteren, S. Ourselin, M. J. Cardoso, "Generalised
/// Dice overlap as a deep learning loss function for highly unbalanced
/// segmentations", DLMIA 2017, <https://arxiv.org/abs/1707.03237>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.multiclass_generalized_dice_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MulticlassGeneralizedDiceLoss {
    /// losslab's reduction of optax's (scalar) result (default `None`).
    pub reduction: Reduction,
    /// The smoothing constant (default 1).
    pub smooth: f64,
    /// Apply sigmoid (one channel) or softmax to `predictions` (default true).
    pub apply_softmax: bool,
    /// Drop class 0 (default false).
    pub ignore_background: bool,
}

impl Default for MulticlassGeneralizedDiceLoss {
    fn default() -> Self {
        MulticlassGeneralizedDiceLoss { reduction: Reduction::None, smooth: 1.0, apply_softmax: true, ignore_background: false }
    }
}

impl MulticlassGeneralizedDiceLoss {
    const NAME: &'static str = "multiclass_generalized_dice_loss";
    const EPSILON: f64 = 1e-7;

    /// optax's defaults: `smooth = 1`, `apply_softmax`, no background dropping; reduction `None`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets `smooth`.
        smooth: f64,
        /// Sets `apply_softmax`.
        apply_softmax: bool,
        /// Sets `ignore_background`.
        ignore_background: bool
    );

    fn coef(&self) -> DiceCoef {
        DiceCoef { smooth: self.smooth, alpha: 0.5, beta: 0.5 }
    }

    /// The raw weights `w_c = 1 / (f_c² + ε)` of the class frequencies `freq`,
    /// and the plan with their normalised form `C · w_c / Σ w`.
    fn plan(&self, groups: &[usize], freq: &[f64]) -> (Vec<f64>, ClassPlan) {
        let k = freq.len();
        let w: Vec<f64> = freq.iter().map(|f| 1.0 / (f * f + Self::EPSILON)).collect();
        let total = sum_f64(w.iter().copied());
        let normalised = w.iter().map(|wc| wc / total * k as f64).collect();
        (w, ClassPlan::new(groups, normalised, self.ignore_background, Reduction::None))
    }

    fn reducer(&self) -> Reducer {
        batch_reducer(self.reduction, &[])
    }

    /// optax's mean over (sample, class): the plan's per-class output, averaged.
    fn value(plan: &ClassPlan, losses: &[f64]) -> f64 {
        let out = plan.forward(losses);
        let n = out.len() as f64;
        sum_f64(out) / n
    }

    /// For the gradient of `s · ℓ`: the factor of each per-(group, class)
    /// dice term, `a = s/M · ŵ_c`, and per class the gradient of the class
    /// frequency (the weights' path), given the unweighted per-(group, class)
    /// losses, the frequencies and the raw weights.
    fn factors(plan: &ClassPlan, losses: &[f64], freq: &[f64], w: &[f64], s: f64) -> (Vec<f64>, Vec<f64>) {
        let k = plan.classes;
        let rows = plan.rows;
        let m = (rows * plan.kept()) as f64;
        // per (group, class): ∂ℓ/∂dice = s/M · ŵ_c
        let mut a = vec![0.0; rows * k];
        for r in 0..rows {
            for c in plan.first..k {
                a[r * k + c] = s / m * plan.weights[c];
            }
        }
        // the weights' path: b_c = ∂ℓ/∂ŵ_c = s/M Σ_r dice[r, c] (kept classes)
        let b: Vec<f64> = (0..k)
            .map(|c| if c < plan.first { 0.0 } else { s / m * sum_f64((0..rows).map(|r| losses[r * k + c])) })
            .collect();
        let total = sum_f64(w.iter().copied());
        let bw = sum_f64(b.iter().zip(w).map(|(b, w)| b * w)) / total;
        let kf = k as f64;
        let g_f = (0..k)
            .map(|j| {
                let g_w = kf / total * (b[j] - bw);
                // w = 1 / (f² + ε): ∂w/∂f = −2f / (f² + ε)²
                let den = freq[j] * freq[j] + Self::EPSILON;
                g_w * (-2.0 * freq[j] / (den * den))
            })
            .collect();
        (a, g_f)
    }

    /// The scalar loss, as optax computes it, then reduced by `self.reduction`,
    /// and its gradients for the upstream gradient `up` (the targets' through
    /// the dice terms and through the class weights).
    ///
    /// Contiguous tensors take the overlap sweep ([`overlap`]): the
    /// activation and the sums per (sample, class) in one pass (the class
    /// frequencies from the targets' sums), the gradients in a second. Other
    /// layouts, and every error, on the general path.
    fn eval<T: Float, D: Dimension>(
        &self,
        predictions: ArrayView<'_, T, D>,
        targets: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        check_smooth(Self::NAME, self.smooth)?;
        same_shape(Self::NAME, "predictions", predictions.shape(), "targets", targets.shape())?;
        let shape = predictions.shape().to_vec();
        if shape.is_empty() {
            return Err(shape_err(Self::NAME, "predictions", "at least 1 dimension: (..., num_classes)", &shape));
        }
        let coef = self.coef();
        let shapes = (predictions.shape(), targets.shape());
        let mask = optax_mask(Self::NAME, shape.len(), &None)?;
        if let Some(f) = OptaxFused::new(predictions.as_slice(), targets.as_slice(), &shape, &mask, self.apply_softmax) {
            let k = f.classes();
            let freq: Vec<f64> = (0..k).map(|c| sum_f64(f.sums.iter().skip(c).step_by(k).map(|s| s[2]))).collect();
            let (w, plan) = self.plan(&f.groups, &freq);
            let scales = up.scales(Self::NAME, &self.reducer())?;
            let losses = f.losses(coef);
            let value = self.reducer().output(vec![Self::value(&plan, &losses)]);
            return Ok((value, scales.map(|sc| {
                let (a, g_f) = Self::factors(&plan, &losses, &freq, &w, sc.at(0));
                f.grads(coef, &a, &g_f, shapes)
            })));
        }
        let act = if self.apply_softmax { Activation::Auto } else { Activation::Identity };
        let d = OptaxDice::new(Self::NAME, shape, widen(&predictions), widen(&targets), act, &None)?;
        let k = d.classes;
        let freq: Vec<f64> = (0..k).map(|c| sum_f64(d.t.iter().skip(c).step_by(k).copied())).collect();
        let (w, plan) = self.plan(&d.groups.out_shape, &freq);
        let scales = up.scales(Self::NAME, &self.reducer())?;
        let losses = d.losses(coef);
        let value = self.reducer().output(vec![Self::value(&plan, &losses)]);
        Ok((value, scales.map(|sc| {
            let (a, g_f) = Self::factors(&plan, &losses, &freq, &w, sc.at(0));
            let (gx, mut gt) = d.grads(coef, &a);
            for (i, g) in gt.iter_mut().enumerate() {
                *g += g_f[i % k];
            }
            Gradients { input: narrow(shapes.0, gx), target: Some(narrow(shapes.1, gt)) }
        })))
    }

    loss_methods!(optax: eval, (predictions: float, targets: float), "`input` w.r.t. `predictions`; `target` w.r.t. `targets`, through the dice terms and through the class weights");
}

free_fn! {
    /// [`DiceLoss`] with optax's defaults: `optax.losses.dice_loss(predictions, targets)`.
    pub fn dice_loss(predictions: float, targets: float_any) = DiceLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// // (batch 1, 2 pixels, 2 classes)
        /// let logits = array![[[5.0f64, -5.0], [-5.0, 5.0]]];
        /// let targets = array![[[1.0f64, 0.0], [0.0, 1.0]]];
        /// assert!(losslab::dice_loss(logits.view(), targets.view()).unwrap()[[0]] < 1e-3);
        /// ```
        ///
        /// # References
        /// [`DiceLoss`]: its formula, the reference's semantics and the paper.
    }

    /// [`BinaryDiceLoss`]: `optax.losses.binary_dice_loss(predictions, targets, smooth, apply_sigmoid)`.
    pub fn binary_dice_loss(predictions: float, targets: float_any; smooth: f64, apply_sigmoid: bool) = BinaryDiceLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let l = losslab::binary_dice_loss(array![[0.0f64, 0.0]].view(), array![[1.0f64, 0.0]].view(), 1.0, true).unwrap();
        /// // p = ½ everywhere: I = ½, P = 1, T = 1 → 1 − 1.5 / 2
        /// assert!((l[[0]] - 0.25).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`BinaryDiceLoss`]: its formula, the reference's semantics and the paper.
    }
}

/// [`MulticlassGeneralizedDiceLoss`]: `optax.losses.multiclass_generalized_dice_loss(predictions, targets, smooth, apply_softmax, ignore_background)`.
///
/// # Errors
/// As [`MulticlassGeneralizedDiceLoss::forward`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let x = array![[[2.0f64, -1.0, 0.0], [0.5, 0.5, 3.0]]];
/// let t = array![[[1.0f64, 0.0, 0.0], [0.0, 0.0, 1.0]]];
/// let l = losslab::multiclass_generalized_dice_loss(x.view(), t.view(), 1.0, true, false).unwrap();
/// assert!(l[[]] > 0.0 && l[[]] < 1.0);
/// ```
///
/// # References
/// [`MulticlassGeneralizedDiceLoss`]: its formula, the reference's semantics and the paper.
pub fn multiclass_generalized_dice_loss<T: Float, D: Dimension>(
    predictions: ArrayView<'_, T, D>,
    targets: ArrayView<'_, T, D>,
    smooth: f64,
    apply_softmax: bool,
    ignore_background: bool,
) -> Result<ArrayD<T>> {
    MulticlassGeneralizedDiceLoss::new()
        .smooth(smooth)
        .apply_softmax(apply_softmax)
        .ignore_background(ignore_background)
        .forward(predictions, targets)
}

// ---------------------------------------------------------------------------------
// losslab's soft Jaccard

/// Soft Jaccard (IoU) loss for segmentation, losslab's own (`losslab:jaccard_loss`).
///
/// ```text
/// I = Σ p·t      U = Σ p + Σ t − I        sums over `axis` (default: all but the first)
/// ℓ = 1 − (I + s) / (U + s)
/// ∂ℓ/∂pᵢ = −(tᵢ (U + s) − (I + s)(1 − tᵢ)) / (U + s)²
/// ```
///
/// `input` holds probabilities `p` (e.g. sigmoid or softmax outputs) and
/// `target` the target masks `t` (0/1 or soft), of the same shape; by default
/// one loss per sample (the sums run over every axis but the first), reduced
/// by `Mean`. `smooth` (default 1) keeps an empty target with an empty
/// prediction at loss 0 and the gradient finite; with `smooth = 0` that case is
/// `0/0 = NaN`. Differentiable in both tensors.
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ; [`LossError::Option`] for a bad
/// `axis` or a negative or NaN `smooth`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::{JaccardLoss, Reduction};
/// let p = array![[0.9f64, 0.8, 0.1], [0.2, 0.1, 0.0]];
/// let t = array![[1.0f64, 1.0, 0.0], [0.0, 0.0, 0.0]];
/// let l = JaccardLoss::new().smooth(0.0).reduction(Reduction::None).forward(p.view(), t.view()).unwrap();
/// // sample 0: I = 1.7, U = 1.8 + 2 − 1.7 = 2.1
/// assert!((l[[0]] - (1.0 - 1.7 / 2.1)).abs() < 1e-15);
/// assert_eq!(l[[1]], 1.0); // nothing to find: every predicted pixel is a false positive
/// ```
///
/// # References
/// P. Jaccard, "Étude comparative de la distribution florale dans une portion
/// des Alpes et du Jura", 1901; M. A. Rahman, Y. Wang, "Optimizing Intersection-
/// over-Union in Deep Neural Networks for Image Segmentation", ISVC 2016,
/// <https://doi.org/10.1007/978-3-319-50835-1_22>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JaccardLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// The smoothing constant `s` (default 1, ≥ 0).
    pub smooth: f64,
    /// The axes summed over (default `None`: every axis but the first).
    pub axis: Option<Vec<isize>>,
}

impl Default for JaccardLoss {
    fn default() -> Self {
        JaccardLoss { reduction: Reduction::Mean, smooth: 1.0, axis: None }
    }
}

impl JaccardLoss {
    const NAME: &'static str = "jaccard_loss";
    /// losslab's defaults: `Mean`, `smooth = 1`, per-sample sums.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets `smooth`.
        smooth: f64,
        /// Sets the axes summed over (`None`: all but the first).
        axis: Option<Vec<isize>>
    );

    /// The loss, one value per index of the axes not summed over, reduced,
    /// and its gradients for the upstream gradient `up`.
    ///
    /// Contiguous tensors whose summed axes are one run take the overlap
    /// sweep ([`overlap`]): `[I, U]` per group in vectorised lanes, then both
    /// gradients from them in a second pass; other layouts the general path.
    fn eval<T: Float, D: Dimension>(&self, input: ArrayView<'_, T, D>, target: ArrayView<'_, T, D>, up: &Upstream<'_, T>) -> Result<Eval<T, Gradients<T>>> {
        crate::machinery::error::check_option(Self::NAME, "smooth", self.smooth, self.smooth >= 0.0, "a number >= 0")?;
        same_shape(Self::NAME, "input", input.shape(), "target", target.shape())?;
        let shape = input.shape();
        let mask = match &self.axis {
            None => (0..shape.len()).map(|a| a >= 1).collect(),
            Some(a) => axes_mask(Self::NAME, "axis", a, shape.len())?,
        };
        let reducer = batch_reducer(self.reduction, &kept(shape, &mask));
        let scales = up.scales(Self::NAME, &reducer)?;
        let s = self.smooth;
        let loss = |[i, u]: [f64; 2]| 1.0 - (i + s) / (u + s);
        let id = overlap::Activation::Identity;
        if let (Some(p), Some(t), Some(lay)) = (input.as_slice(), target.as_slice(), Layout::new(shape, &mask, id)) {
            let sums = overlap::sums(&lay, id, p, t, #[inline(always)] |p, t| [p * t, p + t - p * t]).expect("no pixel to check");
            let value = reducer.output(sums.iter().map(|&v| loss(v)).collect());
            return Ok((value, scales.map(|sc| {
                // ∂ℓ/∂p = −(t (U + s) − (I + s)(1 − t)) / (U + s)², multiplied out: a·t + b
                let (gp, gt) = overlap::grads(&lay, id, p, t, |g| {
                    let [i, u] = sums[g];
                    let (n, d, c) = (i + s, u + s, sc.at(g));
                    let (slope, b) = (-c * (d + n) / (d * d), c * n / (d * d));
                    [slope, b, slope, b]
                });
                Gradients { input: shaped(shape, gp), target: Some(shaped(shape, gt)) }
            })));
        }
        let (p, t) = (widen(&input), widen(&target));
        let groups = Groups::new(shape, &mask);
        let i = groups.sums(|k| p[k] * t[k]);
        let u = groups.sums(|k| p[k] + t[k] - p[k] * t[k]);
        let sums: Vec<[f64; 2]> = i.into_iter().zip(u).map(|(i, u)| [i, u]).collect();
        let value = reducer.output(sums.iter().map(|&v| loss(v)).collect());
        Ok((value, scales.map(|sc| {
            let mut gp = vec![0.0; p.len()];
            let mut gt = vec![0.0; p.len()];
            for k in 0..p.len() {
                let g = groups.of[k];
                let [i, u] = sums[g];
                let (n, d) = (i + s, u + s);
                let c = sc.at(g);
                gp[k] = -c * (t[k] * d - n * (1.0 - t[k])) / (d * d);
                gt[k] = -c * (p[k] * d - n * (1.0 - p[k])) / (d * d);
            }
            Gradients { input: narrow(input.shape(), gp), target: Some(narrow(target.shape(), gt)) }
        })))
    }

    loss_methods!(torch: eval, (input: float, target: float), "`input` w.r.t. `input`, `target` w.r.t. `target`");
}

free_fn! {
    /// [`JaccardLoss`] with `reduction` and `smooth`.
    pub fn jaccard_loss(input: float, target: float; reduction: Reduction, smooth: f64) = JaccardLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// use losslab::Reduction;
        /// let t = array![[1.0f64, 0.0, 1.0]];
        /// assert_eq!(losslab::jaccard_loss(t.view(), t.view(), Reduction::Mean, 1.0).unwrap()[[]], 0.0);
        /// ```
        ///
        /// # References
        /// [`JaccardLoss`]: its formula, the reference's semantics and the paper.
    }
}

// ---------------------------------------------------------------------------------
// Lovász-softmax

/// Which classes the Lovász-softmax loss averages over.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LovaszClasses {
    /// Every class.
    All,
    /// The classes present in the labels (of the image, with `per_image`): the default.
    #[default]
    Present,
    /// The listed classes, present or not.
    List(Vec<usize>),
}

/// Lovász-softmax loss, losslab's own (`losslab:lovasz_softmax`): the convex
/// Lovász extension of the Jaccard loss, optimised directly on softmax
/// probabilities (Berman et al. 2018).
///
/// ```text
/// for each class c:   mᵢ = |[yᵢ = c] − pᵢ,c|                 errors of the pixels
///                     sort m decreasingly: m₍₁₎ ≥ m₍₂₎ ≥ …   (fg₍ₖ₎ the label indicator in that order)
///                     J(k) = 1 − (G − Σ_{j≤k} fg₍ⱼ₎) / (G + Σ_{j≤k} (1 − fg₍ⱼ₎))    G = Σ fg
///                     ℓ_c = Σₖ m₍ₖ₎ · (J(k) − J(k−1)),   J(0) = 0
/// ℓ = mean of ℓ_c over the classes (present ones by default)
/// ∂ℓ_c/∂pᵢ,c = −sign([yᵢ = c] − pᵢ,c) · (J(k) − J(k−1)) at i's rank k   (sign(0) = 0)
/// ```
///
/// `probas`: probabilities `(N, C, d1, …, dk)` (softmax outputs); `labels`:
/// class indices `(N, d1, …, dk)`. Pixels labelled `ignore` are removed first.
/// With `per_image` the loss is computed per image and averaged over the
/// images; otherwise over all pixels of the batch at once. The result is a
/// scalar (so every reduction but `None` returns it unchanged; `None` returns it
/// 0-d). The gradient is that of the sorted-errors formulation, the Lovász
/// gradient `J(k) − J(k−1)` held constant, as autograd computes it for the
/// reference implementation (`lovasz_losses.py` of the paper's repository);
/// between tied errors the sort is stable (the earlier pixel ranks first),
/// which only changes the gradient of ties, never the value.
///
/// Differences from the reference implementation, all in degenerate cases: a
/// batch (or, with `per_image`, an image) whose pixels are all ignored has loss
/// 0 (the reference returns an empty tensor); one channel (`C = 1`) is treated
/// like any other class count (the reference raises for `classes = 'present'`).
///
/// # Errors
/// [`LossError::Shape`] for `probas` with fewer than 2 axes or `labels` of the
/// wrong shape; [`LossError::ClassIndex`] for a label outside `[0, C)` that is
/// not `ignore`; [`LossError::Option`] for a listed class outside `[0, C)`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::LovaszSoftmax;
/// // 1 image, 2 classes, 2 pixels labelled (0, 1), both predicted with confidence 0.8.
/// let probas = array![[[0.8f64, 0.2], [0.2, 0.8]]];
/// let labels = array![[0i64, 1]];
/// let l = LovaszSoftmax::new().forward(probas.view(), labels.view()).unwrap();
/// // class 0: errors (0.2, 0.2): 0.2 · J(all) = 0.2; class 1 the same; their mean 0.2
/// assert!((l[[]] - 0.2).abs() < 1e-15);
/// ```
///
/// # References
/// M. Berman, A. Rannen Triki, M. B. Blaschko, "The Lovász-Softmax loss: A
/// tractable surrogate for the optimization of the intersection-over-union
/// measure in neural networks", CVPR 2018, <https://arxiv.org/abs/1705.08790>;
/// reference code <https://github.com/bermanmaxim/LovaszSoftmax>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LovaszSoftmax {
    /// The reduction of the scalar result (default `Mean`: the value itself).
    pub reduction: Reduction,
    /// The classes averaged over (default `Present`).
    pub classes: LovaszClasses,
    /// Compute the loss per image and average (default false).
    pub per_image: bool,
    /// A label whose pixels are ignored (default none).
    pub ignore: Option<i64>,
}

impl Default for LovaszSoftmax {
    fn default() -> Self {
        LovaszSoftmax { reduction: Reduction::Mean, classes: LovaszClasses::Present, per_image: false, ignore: None }
    }
}

/// One class of one pixel set: `Σ a[i] · ℓ_c` gradient written into `grad` (per pixel).
fn lovasz_class(p: &[f64], fg: &[bool], grad: Option<&mut [f64]>) -> f64 {
    let n = p.len();
    let errors: Vec<f64> = (0..n).map(|i| (f64::from(u8::from(fg[i])) - p[i]).abs()).collect();
    let mut order: Vec<usize> = (0..n).collect();
    // descending, stable; NaN first (as torch.sort puts NaN largest)
    order.sort_by(|&a, &b| {
        let (x, y) = (errors[a], errors[b]);
        match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            _ => y.partial_cmp(&x).expect("not NaN"),
        }
    });
    let gts = fg.iter().filter(|&&f| f).count() as f64;
    let (mut cum_fg, mut cum_bg) = (0.0, 0.0);
    let mut prev = 0.0;
    let mut terms = Vec::with_capacity(n);
    let mut grad = grad;
    for &i in &order {
        if fg[i] {
            cum_fg += 1.0;
        } else {
            cum_bg += 1.0;
        }
        let jac = 1.0 - (gts - cum_fg) / (gts + cum_bg);
        let w = jac - prev;
        prev = jac;
        terms.push(errors[i] * w);
        if let Some(g) = grad.as_deref_mut() {
            let d = f64::from(u8::from(fg[i])) - p[i];
            let sign = if d > 0.0 {
                1.0
            } else if d < 0.0 {
                -1.0
            } else {
                d * 0.0
            };
            g[i] = -sign * w;
        }
    }
    sum_f64(terms)
}

impl LovaszSoftmax {
    const NAME: &'static str = "lovasz_softmax";
    /// The reference's defaults: `classes = Present`, `per_image = false`, no `ignore`; reduction `Mean`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction of the scalar result.
        reduction: Reduction,
        /// Sets which classes are averaged over.
        classes: LovaszClasses,
        /// Sets `per_image`.
        per_image: bool,
        /// Sets the ignored label.
        ignore: Option<i64>
    );

    /// The value and, given the upstream gradient `s`, the gradient w.r.t. `probas`.
    fn compute<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        probas: &ArrayView<'_, T, D1>,
        labels: &ArrayView<'_, L, D2>,
        s: Option<f64>,
    ) -> Result<(f64, Vec<f64>)> {
        let shape = probas.shape();
        if shape.len() < 2 {
            return Err(shape_err(Self::NAME, "probas", "(N, C, d1, ..., dk): at least 2 dimensions", shape));
        }
        let (n, c) = (shape[0], shape[1]);
        let mut lshape = shape.to_vec();
        lshape.remove(1);
        if labels.shape() != lshape.as_slice() {
            return Err(shape_err(Self::NAME, "labels", format!("{lshape:?} (the shape of `probas` without its class axis)"), labels.shape()));
        }
        if let LovaszClasses::List(list) = &self.classes {
            if let Some(&bad) = list.iter().find(|&&k| k >= c) {
                return Err(LossError::Option {
                    loss: Self::NAME,
                    option: "classes",
                    value: format!("{list:?}"),
                    expected: format!("class indices in [0, {c}) (the size of `probas`' class axis); {bad} is not"),
                });
            }
        }
        let inner: usize = shape[2..].iter().product();
        let x = widen(probas);
        let mut lab: Vec<Option<usize>> = Vec::with_capacity(n * inner);
        for (i, &l) in labels.iter().enumerate() {
            let l = l.index();
            if Some(l) == self.ignore {
                lab.push(None);
            } else if l < 0 || l as u64 >= c as u64 {
                return Err(LossError::ClassIndex {
                    loss: Self::NAME,
                    tensor: "labels",
                    index: l,
                    position: unravel(i, labels.shape()),
                    classes: c,
                    ignore_index: self.ignore,
                });
            } else {
                lab.push(Some(l as usize));
            }
        }
        let at = |pix: usize, k: usize| (pix / inner) * c * inner + k * inner + pix % inner;
        let mut grad = vec![0.0; x.len()];
        // pixel sets: the whole batch, or one per image
        let sets: Vec<Vec<usize>> = if self.per_image {
            (0..n).map(|b| (b * inner..(b + 1) * inner).filter(|&i| lab[i].is_some()).collect()).collect()
        } else {
            vec![(0..n * inner).filter(|&i| lab[i].is_some()).collect()]
        };
        let set_scale = s.map(|s| s / sets.len() as f64);
        let mut set_losses = Vec::with_capacity(sets.len());
        for pix in &sets {
            if pix.is_empty() {
                set_losses.push(0.0);
                continue;
            }
            let classes: Vec<usize> = match &self.classes {
                LovaszClasses::All => (0..c).collect(),
                LovaszClasses::Present => (0..c).filter(|&k| pix.iter().any(|&i| lab[i] == Some(k))).collect(),
                LovaszClasses::List(l) => l.clone(),
            };
            let mut losses = Vec::with_capacity(classes.len());
            let nc = classes.len() as f64;
            for &k in &classes {
                let p: Vec<f64> = pix.iter().map(|&i| x[at(i, k)]).collect();
                let fg: Vec<bool> = pix.iter().map(|&i| lab[i] == Some(k)).collect();
                if let Some(ss) = set_scale {
                    let mut g = vec![0.0; pix.len()];
                    losses.push(lovasz_class(&p, &fg, Some(&mut g)));
                    for (j, &i) in pix.iter().enumerate() {
                        grad[at(i, k)] += ss / nc * g[j];
                    }
                } else {
                    losses.push(lovasz_class(&p, &fg, None));
                }
            }
            // the reference's mean() of an empty list is 0
            let v = if losses.is_empty() { 0.0 } else { sum_f64(losses) / nc };
            set_losses.push(v);
        }
        let value = sum_f64(set_losses) / sets.len().max(1) as f64;
        Ok((value, grad))
    }

    /// The loss (a scalar), reduced.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        probas: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
    ) -> Result<ArrayD<T>> {
        let (v, _) = self.compute(&probas, &labels, None)?;
        Ok(batch_reducer(self.reduction, &[]).output(vec![v]))
    }

    /// The gradient of `grad_output · loss` with respect to `probas` (`target`: `None`).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` is not a
    /// single value.
    pub fn backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        probas: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        let s = batch_reducer(self.reduction, &[]).scales(Self::NAME, &grad_output)?.at(0);
        let (_, g) = self.compute(&probas, &labels, Some(s))?;
        Ok(Gradients { input: narrow(probas.shape(), g), target: None })
    }

    /// The loss and its gradient.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        probas: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        let r = batch_reducer(self.reduction, &[]);
        let one: ArrayD<T> = ones_like_output(&r);
        let s = r.scales(Self::NAME, &one.view())?.at(0);
        let (v, g) = self.compute(&probas, &labels, Some(s))?;
        Ok((r.output(vec![v]), Gradients { input: narrow(probas.shape(), g), target: None }))
    }
}

free_fn! {
    /// [`LovaszSoftmax`] with the reference's defaults (`classes = 'present'`, not per image, no ignored label).
    pub fn lovasz_softmax(probas: float, labels: labels) = LovaszSoftmax {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// // a perfect one-hot prediction has no error
        /// let probas = array![[[1.0f64, 0.0], [0.0, 1.0]]];
        /// assert_eq!(losslab::lovasz_softmax(probas.view(), array![[0u8, 1]].view()).unwrap()[[]], 0.0);
        /// ```
        ///
        /// # References
        /// [`LovaszSoftmax`]: its formula, the reference's semantics and the paper.
    }
}
