//! Keras 3's functional losses (`keras.losses.*`): binary, categorical and
//! sparse categorical cross entropy, their focal variants, the generalized
//! cross entropy, KL divergence, log-cosh, MSLE and MAPE.
//!
//! Every function here follows Keras 3 (3.15) with its JAX backend, including
//! the parts that surprise:
//!
//! - **Probabilities are clipped to `[ε, 1 − ε]`, `ε = 1e-7`** (`keras.backend.epsilon()`)
//!   before their logarithm is taken, so a confident wrong prediction costs at most
//!   `−log(1e-7) ≈ 16.1`, and the gradient stops flowing where the clip is active.
//!   The clip is `min(max(x, lo), hi)`, whose derivative JAX takes as 1 strictly
//!   inside, **½ exactly on a bound** and 0 outside; losslab does the same.
//! - Categorical losses on probabilities first **renormalise** `y_pred` along the
//!   class axis (`y_pred / Σ y_pred`), and the gradient flows through that division.
//! - The results are **per sample**: the mean (binary losses, log-cosh, MSLE, MAPE) or
//!   the sum (categorical losses, KL) over the last axis (`axis`). The default
//!   reduction is therefore [`Reduction::None`]; Keras's `Loss` classes would then
//!   average over the batch (`Reduction::Mean`).
//! - Gradients are given with respect to `y_pred` (`Gradients::input`) and, where
//!   `y_true` is a float tensor, with respect to `y_true` (`Gradients::target`), as
//!   `jax.grad` gives them.
//!
//! - Keras 3.15's `ops.mean` computes in `result_type(dtype, "float32")`, which is
//!   float32 even for float64 inputs: its mean-based losses are only float32-accurate
//!   in float64. losslab computes the mean in `f64`; the golden truth replaces
//!   Keras's mean by `jnp.mean` for that reason.
//!
//! Where the JAX backend silently returns a number for an invalid input (a class
//! index outside `[0, C)` gives a loss of 0; a `(N, 1)` label tensor broadcasts
//! `categorical_generalized_cross_entropy` to an `(N, N)` result), losslab
//! returns an error instead.

use crate::error::{check_option, same_shape, shape_err, unravel, LossError, Result};
use crate::float::{narrow, widen, ClassIndex, Float};
use crate::math::{lanes, log_sigmoid_f64, log_softmax_backward, log_softmax_lane, resolve_axis, sigmoid_f64, softmax_lane, softplus_f64};
use crate::reduction::{sum_f64, Gradients, Reducer, Reduction};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension};

/// `keras.backend.epsilon()`.
pub(crate) const EPSILON: f64 = 1e-7;

/// `clip(x, lo, hi)` as `jnp.clip`: NaN stays NaN.
#[inline]
pub(crate) fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    if x.is_nan() {
        x
    } else {
        x.max(lo).min(hi)
    }
}

/// `d clip(x, lo, hi) / dx` as JAX computes it for `min(max(x, lo), hi)`:
/// 1 strictly inside, ½ on a bound (JAX splits the gradient of a tie), 0 outside.
#[inline]
pub(crate) fn clip_grad(x: f64, lo: f64, hi: f64) -> f64 {
    if x > lo && x < hi {
        1.0
    } else if x == lo || x == hi {
        0.5
    } else {
        0.0
    }
}

/// `d max(x, lo) / dx` as JAX computes it: 1 above, ½ at a tie, 0 below.
#[inline]
pub(crate) fn max_grad(x: f64, lo: f64) -> f64 {
    if x > lo {
        1.0
    } else if x == lo {
        0.5
    } else {
        0.0
    }
}

/// `d|x|/dx` as JAX computes it: `+1` for `x ≥ 0` (so `+1` at 0), `−1` otherwise (NaN included).
#[inline]
pub(crate) fn abs_grad(x: f64) -> f64 {
    if x >= 0.0 {
        1.0
    } else {
        -1.0
    }
}

/// `log cosh x`, accurate for every `x`: `log1p(2 sinh²(x/2))` for `|x| < 1`
/// (no cancellation near 0, where it is `x²/2`), `|x| + softplus(−2|x|) − log 2`
/// beyond (no overflow for large `|x|`).
#[inline]
pub(crate) fn log_cosh_f64(x: f64) -> f64 {
    let a = x.abs();
    if a < 1.0 {
        let s = (0.5 * x).sinh();
        (2.0 * s * s).ln_1p()
    } else {
        a + softplus_f64(-2.0 * a) - std::f64::consts::LN_2
    }
}

/// The lanes of a tensor along one axis: `outer × inner` lanes of `len` elements
/// with stride `inner`, and the shape of one result per lane.
#[derive(Debug, Clone)]
pub(crate) struct Lanes {
    pub(crate) outer: usize,
    pub(crate) len: usize,
    pub(crate) inner: usize,
    pub(crate) out_shape: Vec<usize>,
}

impl Lanes {
    pub(crate) fn new(loss: &'static str, tensor: &'static str, shape: &[usize], axis: isize) -> Result<Self> {
        if shape.is_empty() {
            return Err(shape_err(loss, tensor, "at least 1 dimension", shape));
        }
        let ax = resolve_axis(loss, "axis", axis, shape.len())?;
        let (outer, len, inner) = lanes(shape, ax);
        let mut out_shape = shape.to_vec();
        out_shape.remove(ax);
        Ok(Lanes { outer, len, inner, out_shape })
    }
    pub(crate) fn count(&self) -> usize {
        self.outer * self.inner
    }
    #[inline]
    pub(crate) fn at(&self, s: usize, k: usize) -> usize {
        let (o, i) = (s / self.inner, s % self.inner);
        o * self.len * self.inner + k * self.inner + i
    }
}

/// Gradients of a pair kernel, lane by lane: `(∂/∂a, ∂/∂b)`.
pub(crate) type LaneGrads<'a> = Option<(&'a mut [f64], &'a mut [f64])>;

/// The value, and the gradients w.r.t. both tensors when an upstream gradient was given.
pub(crate) type PairOutput<T> = (ArrayD<T>, Option<(ArrayD<T>, ArrayD<T>)>);

/// Runs a per-lane loss over two float tensors of the same shape.
///
/// `kernel(a, b, grads)` returns the loss of one lane and, when `grads` is
/// `Some`, writes the lane's gradients w.r.t. `a` and `b` into it (zeroed).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_pair<T: Float, D: Dimension>(
    loss: &'static str,
    (an, a): (&'static str, &ArrayView<'_, T, D>),
    (bn, b): (&'static str, &ArrayView<'_, T, D>),
    axis: isize,
    reduction: Reduction,
    grad_output: Option<&ArrayViewD<'_, T>>,
    kernel: impl Fn(&[f64], &[f64], LaneGrads<'_>) -> f64,
) -> Result<PairOutput<T>> {
    same_shape(loss, an, a.shape(), bn, b.shape())?;
    let lanes = Lanes::new(loss, an, a.shape(), axis)?;
    let shape = a.shape().to_vec();
    let (av, bv) = (widen(a), widen(b));
    let reducer = Reducer::counting(reduction, &lanes.out_shape, &shape);
    let scales = match grad_output {
        Some(g) => Some(reducer.scales(loss, g)?),
        None => None,
    };
    let n = lanes.len;
    let (mut la, mut lb, mut ga, mut gb) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let want = scales.is_some();
    let (mut gav, mut gbv) = (vec![0.0; if want { av.len() } else { 0 }], vec![0.0; if want { av.len() } else { 0 }]);
    let mut losses = Vec::with_capacity(lanes.count());
    for s in 0..lanes.count() {
        for k in 0..n {
            let i = lanes.at(s, k);
            la[k] = av[i];
            lb[k] = bv[i];
        }
        match &scales {
            Some(sc) => {
                ga.fill(0.0);
                gb.fill(0.0);
                losses.push(kernel(&la, &lb, Some((&mut ga, &mut gb))));
                let up = sc.at(s);
                for k in 0..n {
                    let i = lanes.at(s, k);
                    gav[i] = up * ga[k];
                    gbv[i] = up * gb[k];
                }
            }
            None => losses.push(kernel(&la, &lb, None)),
        }
    }
    let value = reducer.output(losses);
    Ok((value, want.then(|| (narrow(&shape, gav), narrow(&shape, gbv)))))
}

/// Validated integer labels for a tensor whose last axis holds the classes:
/// `Some(class)` per sample, `None` where the label is `ignore`d.
pub(crate) fn class_labels<L: ClassIndex, D: Dimension>(
    loss: &'static str,
    tensor: &'static str,
    labels: &ArrayView<'_, L, D>,
    classes: usize,
    ignore: Option<i64>,
) -> Result<Vec<Option<usize>>> {
    labels
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            let l = l.index();
            if Some(l) == ignore {
                Ok(None)
            } else if l < 0 || l as u64 >= classes as u64 {
                Err(LossError::ClassIndex {
                    loss,
                    tensor,
                    index: l,
                    position: unravel(i, labels.shape()),
                    classes,
                    ignore_index: ignore,
                })
            } else {
                Ok(Some(l as usize))
            }
        })
        .collect()
}

/// Runs a per-sample loss over a float tensor `(…, C)` (classes on the last axis)
/// and integer labels `(…)`.
///
/// `kernel(x, label, grad)` returns the loss of one sample and, when `grad` is
/// `Some`, writes the gradient w.r.t. `x` (zeroed) into it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_labels<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
    loss: &'static str,
    (xn, x): (&'static str, &ArrayView<'_, T, D1>),
    (ln, labels): (&'static str, &ArrayView<'_, L, D2>),
    squeeze_trailing_one: bool,
    ignore: Option<i64>,
    reduction: Reduction,
    grad_output: Option<&ArrayViewD<'_, T>>,
    kernel: impl Fn(&[f64], Option<usize>, Option<&mut [f64]>) -> f64,
) -> Result<(ArrayD<T>, Option<ArrayD<T>>)> {
    let shape = x.shape().to_vec();
    if shape.is_empty() {
        return Err(shape_err(loss, xn, "at least 1 dimension (the classes, last)", &shape));
    }
    let lanes = Lanes::new(loss, xn, &shape, -1)?;
    let mut lshape = labels.shape().to_vec();
    if squeeze_trailing_one && lshape.len() == shape.len() && lshape.last() == Some(&1) {
        lshape.pop();
    }
    if lshape != lanes.out_shape {
        let extra = if squeeze_trailing_one { format!(" or {:?}", [lanes.out_shape.as_slice(), &[1]].concat()) } else { String::new() };
        return Err(shape_err(
            loss,
            ln,
            format!("{:?}{extra} (the shape of `{xn}` without its last, class axis)", lanes.out_shape),
            labels.shape(),
        ));
    }
    let labs = class_labels(loss, ln, labels, lanes.len, ignore)?;
    let xv = widen(x);
    let reducer = Reducer::counting(reduction, &lanes.out_shape, &shape);
    let scales = match grad_output {
        Some(g) => Some(reducer.scales(loss, g)?),
        None => None,
    };
    let n = lanes.len;
    let (mut lx, mut g) = (vec![0.0; n], vec![0.0; n]);
    let mut gx = vec![0.0; if scales.is_some() { xv.len() } else { 0 }];
    let mut losses = Vec::with_capacity(lanes.count());
    for (s, &lab) in labs.iter().enumerate() {
        for (k, v) in lx.iter_mut().enumerate() {
            *v = xv[lanes.at(s, k)];
        }
        match &scales {
            Some(sc) => {
                g.fill(0.0);
                losses.push(kernel(&lx, lab, Some(&mut g)));
                let up = sc.at(s);
                for (k, gk) in g.iter().enumerate() {
                    gx[lanes.at(s, k)] = up * gk;
                }
            }
            None => losses.push(kernel(&lx, lab, None)),
        }
    }
    let value = reducer.output(losses);
    Ok((value, scales.is_some().then(|| narrow(&shape, gx))))
}

/// The mean over a lane of an element-wise loss `f(t, p)` with local
/// derivatives `df(t, p) = (∂f/∂t, ∂f/∂p)`.
#[inline]
fn mean_lane(
    t: &[f64],
    p: &[f64],
    grads: LaneGrads<'_>,
    f: impl Fn(f64, f64) -> f64,
    df: impl Fn(f64, f64) -> (f64, f64),
) -> f64 {
    let n = t.len() as f64;
    let v = sum_f64(t.iter().zip(p).map(|(&a, &b)| f(a, b))) / n;
    if let Some((gt, gp)) = grads {
        for k in 0..t.len() {
            let (dt, dp) = df(t[k], p[k]);
            gt[k] = dt / n;
            gp[k] = dp / n;
        }
    }
    v
}

/// The gradient of `y = x / Σx` (Keras's renormalisation of probabilities) pulled
/// back: `∂/∂xⱼ = gⱼ / S − Σₖ gₖ xₖ / S²`.
fn renormalise_backward(x: &[f64], s: f64, g: &[f64], out: &mut [f64]) {
    let cross = sum_f64(g.iter().zip(x).map(|(&gk, &xk)| -gk * xk / (s * s)));
    for (j, o) in out.iter_mut().enumerate() {
        *o = g[j] / s + cross;
    }
}

/// The softmax gradient pulled back: `∂/∂xⱼ = pⱼ (gⱼ − Σₖ gₖ pₖ)`.
fn softmax_backward(p: &[f64], g: &[f64], out: &mut [f64]) {
    let dot = sum_f64(g.iter().zip(p).map(|(a, b)| a * b));
    for (j, o) in out.iter_mut().enumerate() {
        *o = p[j] * (g[j] - dot);
    }
}

/// Keras's probabilities of a class lane: `log(clip(y / Σy, ε, 1 − ε))` (or the
/// log-softmax of logits), with what the backward pass needs.
struct ClassLogProbs {
    /// log-probabilities used by the loss.
    lp: Vec<f64>,
    /// the (clipped) probabilities `exp(lp)` on the probability path.
    c: Vec<f64>,
    /// `Σ y_pred` (probability path).
    s: f64,
}

fn class_log_probs(x: &[f64], from_logits: bool) -> ClassLogProbs {
    let mut lp = vec![0.0; x.len()];
    if from_logits {
        log_softmax_lane(x, &mut lp);
        ClassLogProbs { lp, c: vec![], s: f64::NAN }
    } else {
        let s: f64 = sum_f64(x.iter().copied());
        let c: Vec<f64> = x.iter().map(|&v| clip(v / s, EPSILON, 1.0 - EPSILON)).collect();
        for (l, &ck) in lp.iter_mut().zip(&c) {
            *l = ck.ln();
        }
        ClassLogProbs { lp, c, s }
    }
}

/// Pulls `∂L/∂lp` back to `∂L/∂x` through [`class_log_probs`].
fn class_log_probs_backward(x: &[f64], from_logits: bool, lp: &ClassLogProbs, g_lp: &[f64], out: &mut [f64]) {
    if from_logits {
        log_softmax_backward(&lp.lp, g_lp, |j, v| out[j] = v);
    } else {
        let gy: Vec<f64> =
            (0..x.len()).map(|k| g_lp[k] / lp.c[k] * clip_grad(x[k] / lp.s, EPSILON, 1.0 - EPSILON)).collect();
        renormalise_backward(x, lp.s, &gy, out);
    }
}

macro_rules! check_smoothing {
    ($loss:expr, $ls:expr) => {
        check_option($loss, "label_smoothing", $ls, (0.0..=1.0).contains(&$ls), "a number in [0, 1]")
    };
}

/// The `forward` / `backward` / `forward_backward` / `reduction` methods of a
/// Keras loss on `(y_true, y_pred)` floats; the type provides
/// `run(&self, y_true, y_pred, grad_output) -> Result<PairOutput<T>>`.
macro_rules! keras_pair_methods {
    () => {
        /// The per-sample losses (reduced as `self.reduction` says), in Keras's
        /// argument order.
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward<T: Float, D: Dimension>(&self, y_true: ArrayView<'_, T, D>, y_pred: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
            Ok(self.run(&y_true, &y_pred, None)?.0)
        }

        /// The gradients of `Σ grad_output · loss`: `input` w.r.t. `y_pred`,
        /// `target` w.r.t. `y_true`.
        ///
        /// # Errors
        /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
        /// have the result's shape.
        pub fn backward<T: Float, D: Dimension>(
            &self,
            y_true: ArrayView<'_, T, D>,
            y_pred: ArrayView<'_, T, D>,
            grad_output: ArrayViewD<'_, T>,
        ) -> Result<Gradients<T>> {
            match self.run(&y_true, &y_pred, Some(&grad_output))?.1 {
                Some((gt, gp)) => Ok(Gradients { input: gp, target: Some(gt) }),
                None => unreachable!("gradients are computed when grad_output is given"),
            }
        }

        /// The loss and its gradients (of the result's sum when unreduced).
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward_backward<T: Float, D: Dimension>(
            &self,
            y_true: ArrayView<'_, T, D>,
            y_pred: ArrayView<'_, T, D>,
        ) -> Result<(ArrayD<T>, Gradients<T>)> {
            let value = self.forward(y_true.view(), y_pred.view())?;
            let ones = ArrayD::from_elem(value.shape(), T::one());
            Ok((value, self.backward(y_true, y_pred, ones.view())?))
        }

        /// Sets the reduction of the per-sample losses (default `None`).
        #[must_use]
        pub fn reduction(mut self, reduction: Reduction) -> Self {
            self.reduction = reduction;
            self
        }
    };
}

/// The `forward` / `backward` / `forward_backward` / `reduction` methods of a
/// Keras loss on integer `y_true` and float `y_pred`; the type provides
/// `run(&self, y_true, y_pred, grad_output)`.
macro_rules! keras_label_methods {
    () => {
        /// The per-sample losses (reduced as `self.reduction` says), in Keras's
        /// argument order.
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
            &self,
            y_true: ArrayView<'_, L, D1>,
            y_pred: ArrayView<'_, T, D2>,
        ) -> Result<ArrayD<T>> {
            Ok(self.run(&y_true, &y_pred, None)?.0)
        }

        /// The gradient of `Σ grad_output · loss` w.r.t. `y_pred` (`target`: `None`,
        /// the labels are integers).
        ///
        /// # Errors
        /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
        /// have the result's shape.
        pub fn backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
            &self,
            y_true: ArrayView<'_, L, D1>,
            y_pred: ArrayView<'_, T, D2>,
            grad_output: ArrayViewD<'_, T>,
        ) -> Result<Gradients<T>> {
            match self.run(&y_true, &y_pred, Some(&grad_output))?.1 {
                Some(g) => Ok(Gradients { input: g, target: None }),
                None => unreachable!("gradients are computed when grad_output is given"),
            }
        }

        /// The loss and its gradient (of the result's sum when unreduced).
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward_backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
            &self,
            y_true: ArrayView<'_, L, D1>,
            y_pred: ArrayView<'_, T, D2>,
        ) -> Result<(ArrayD<T>, Gradients<T>)> {
            let value = self.forward(y_true.view(), y_pred.view())?;
            let ones = ArrayD::from_elem(value.shape(), T::one());
            Ok((value, self.backward(y_true, y_pred, ones.view())?))
        }

        /// Sets the reduction of the per-sample losses (default `None`).
        #[must_use]
        pub fn reduction(mut self, reduction: Reduction) -> Self {
            self.reduction = reduction;
            self
        }
    };
}

macro_rules! builder {
    ($(#[$doc:meta])* $field:ident: $t:ty) => {
        $(#[$doc])*
        #[must_use]
        pub fn $field(mut self, $field: $t) -> Self {
            self.$field = $field;
            self
        }
    };
}

// ---------------------------------------------------------------------------------------
// binary_crossentropy

/// Keras's `keras.losses.binary_crossentropy`: the mean over `axis` of the
/// element-wise binary cross entropy.
///
/// ```text
/// t  = y_true · (1 − label_smoothing) + label_smoothing / 2
/// probabilities (from_logits = false):
///   c = clip(y_pred, ε, 1 − ε)                 ε = 1e-7
///   ℓ = −(t · log c + (1 − t) · log(1 − c))
/// logits (from_logits = true):
///   ℓ = −t · log σ(y_pred) − (1 − t) · log σ(−y_pred)
/// loss = mean over `axis` of ℓ
/// ```
///
/// On probabilities the clip bounds every element's loss by `−log(1e-7) ≈ 16.12`
/// and stops the gradient where it is active (½ of it on the bound itself, as JAX
/// differentiates `clip`); with `from_logits` the log-sigmoid form is exact for
/// any logit. Labels are not checked to lie in `[0, 1]`.
///
/// Shapes: `y_true` and `y_pred` the same shape, at least 1-d; the result drops `axis`.
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ or are 0-d; [`LossError::Option`] for
/// `label_smoothing` outside `[0, 1]` or an `axis` the tensors do not have.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::KerasBinaryCrossentropy;
/// let y_true = array![[0.0f64, 1.0], [0.0, 0.0]];
/// let y_pred = array![[0.6f64, 0.4], [0.4, 0.6]];
/// let loss = KerasBinaryCrossentropy::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 0.916290731874155).abs() < 1e-12);
/// assert!((loss[1] - 0.7135581778200728).abs() < 1e-12);
/// ```
///
/// # References
/// <https://keras.io/api/losses/probabilistic_losses/#binary_crossentropy-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasBinaryCrossentropy {
    /// `y_pred` holds logits rather than probabilities (default `false`).
    pub from_logits: bool,
    /// Squeezes the labels towards ½ (default 0, in `[0, 1]`).
    pub label_smoothing: f64,
    /// The axis the mean is taken over (default −1).
    pub axis: isize,
    /// The reduction of the per-sample losses (default `None`: Keras's own output).
    pub reduction: Reduction,
}

impl Default for KerasBinaryCrossentropy {
    fn default() -> Self {
        KerasBinaryCrossentropy { from_logits: false, label_smoothing: 0.0, axis: -1, reduction: Reduction::None }
    }
}

/// Element-wise binary cross entropy of Keras's backend, with `(∂/∂t, ∂/∂p)`.
#[inline]
fn keras_bce(t: f64, p: f64, from_logits: bool) -> (f64, f64, f64) {
    if from_logits {
        let (lsp, lsn) = (log_sigmoid_f64(p), log_sigmoid_f64(-p));
        let v = -t * lsp - (1.0 - t) * lsn;
        (v, -lsp + lsn, -t * sigmoid_f64(-p) + (1.0 - t) * sigmoid_f64(p))
    } else {
        let c = clip(p, EPSILON, 1.0 - EPSILON);
        let (lc, l1c) = (c.ln(), (1.0 - c).ln());
        let v = -(t * lc + (1.0 - t) * l1c);
        (v, -(lc - l1c), -(t / c - (1.0 - t) / (1.0 - c)) * clip_grad(p, EPSILON, 1.0 - EPSILON))
    }
}

impl KerasBinaryCrossentropy {
    const NAME: &'static str = "binary_crossentropy";

    /// Keras's defaults: `from_logits = false`, `label_smoothing = 0`, `axis = −1`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    builder!(
        /// Sets `from_logits`.
        from_logits: bool
    );
    builder!(
        /// Sets `label_smoothing`.
        label_smoothing: f64
    );
    builder!(
        /// Sets the axis the mean is taken over.
        axis: isize
    );

    fn run<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        check_smoothing!(Self::NAME, self.label_smoothing)?;
        let ls = self.label_smoothing;
        let fl = self.from_logits;
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), self.axis, self.reduction, go, |t, p, g| {
            mean_lane(
                t,
                p,
                g,
                |t, p| keras_bce(t * (1.0 - ls) + 0.5 * ls, p, fl).0,
                |t, p| {
                    let (_, dt, dp) = keras_bce(t * (1.0 - ls) + 0.5 * ls, p, fl);
                    (dt * (1.0 - ls), dp)
                },
            )
        })
    }
    keras_pair_methods!();
}

// ---------------------------------------------------------------------------------------
// binary_focal_crossentropy

/// Keras's `keras.losses.binary_focal_crossentropy`: binary cross entropy scaled
/// by the focal factor `(1 − p_t)^γ`, optionally class-balanced by `α`.
///
/// ```text
/// t    = y_true · (1 − label_smoothing) + label_smoothing / 2
/// p    = σ(y_pred) if from_logits, else y_pred
/// bce  = −(t · log c + (1 − t) · log(1 − c)),   c = clip(p, ε, 1 − ε)
/// p_t  = t · p + (1 − t) · (1 − p)               (unclipped p)
/// ℓ    = (1 − p_t)^γ · bce   · (α t + (1 − α)(1 − t)  if apply_class_balancing)
/// loss = mean over `axis` of ℓ
/// ```
///
/// Unlike [`KerasBinaryCrossentropy`], `from_logits` here goes through the
/// sigmoid and the clipped probability, as Keras does, so a logit beyond about
/// ±16 saturates. With `gamma = 0` (and no balancing) it equals
/// [`KerasBinaryCrossentropy`] on probabilities. The focal factor's derivative
/// is `γ (1 − p_t)^(γ−1)`, which JAX evaluates literally: NaN where `1 − p_t = 0`
/// and `γ = 0`, infinite there for `0 < γ < 1`.
///
/// # Errors
/// As [`KerasBinaryCrossentropy`]; also [`LossError::Option`] for a NaN `gamma`
/// or `alpha`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::KerasBinaryFocalCrossentropy;
/// let y_true = array![[0.0f64, 1.0], [0.0, 0.0]];
/// let y_pred = array![[0.6f64, 0.4], [0.4, 0.6]];
/// let loss = KerasBinaryFocalCrossentropy::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 0.3298646635).abs() < 1e-9);
/// assert!((loss[1] - 0.2057983816).abs() < 1e-9);
/// ```
///
/// # References
/// T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollár, "Focal Loss for Dense
/// Object Detection", ICCV 2017, <https://arxiv.org/abs/1708.02002>;
/// <https://keras.io/api/losses/probabilistic_losses/#binary_focal_crossentropy-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasBinaryFocalCrossentropy {
    /// Weight the classes by `alpha` (class 1) and `1 − alpha` (class 0) (default `false`).
    pub apply_class_balancing: bool,
    /// The weight of class 1 under class balancing (default 0.25).
    pub alpha: f64,
    /// The focusing parameter (default 2.0).
    pub gamma: f64,
    /// `y_pred` holds logits rather than probabilities (default `false`).
    pub from_logits: bool,
    /// Squeezes the labels towards ½ (default 0, in `[0, 1]`).
    pub label_smoothing: f64,
    /// The axis the mean is taken over (default −1).
    pub axis: isize,
    /// The reduction of the per-sample losses (default `None`).
    pub reduction: Reduction,
}

impl Default for KerasBinaryFocalCrossentropy {
    fn default() -> Self {
        KerasBinaryFocalCrossentropy {
            apply_class_balancing: false,
            alpha: 0.25,
            gamma: 2.0,
            from_logits: false,
            label_smoothing: 0.0,
            axis: -1,
            reduction: Reduction::None,
        }
    }
}

impl KerasBinaryFocalCrossentropy {
    const NAME: &'static str = "binary_focal_crossentropy";

    /// Keras's defaults: no class balancing, `alpha = 0.25`, `gamma = 2`,
    /// `from_logits = false`, `label_smoothing = 0`, `axis = −1`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    builder!(
        /// Sets `apply_class_balancing`.
        apply_class_balancing: bool
    );
    builder!(
        /// Sets `alpha`.
        alpha: f64
    );
    builder!(
        /// Sets `gamma`.
        gamma: f64
    );
    builder!(
        /// Sets `from_logits`.
        from_logits: bool
    );
    builder!(
        /// Sets `label_smoothing`.
        label_smoothing: f64
    );
    builder!(
        /// Sets the axis the mean is taken over.
        axis: isize
    );

    /// `(ℓ, ∂ℓ/∂t_smoothed, ∂ℓ/∂y_pred)` of one element.
    fn element(&self, t: f64, x: f64) -> (f64, f64, f64) {
        let (a, g) = (self.alpha, self.gamma);
        let p = if self.from_logits { sigmoid_f64(x) } else { x };
        let (bce, dbce_dt, dbce_dp) = keras_bce(t, p, false);
        let pt = t * p + (1.0 - t) * (1.0 - p);
        let u = 1.0 - pt;
        let ff = u.powf(g);
        let dff = g * u.powf(g - 1.0);
        let w = if self.apply_class_balancing { t * a + (1.0 - t) * (1.0 - a) } else { 1.0 };
        let v = w * (ff * bce);
        // u = 1 − (t p + (1 − t)(1 − p)):  ∂u/∂p = 1 − 2t,  ∂u/∂t = 1 − 2p
        let dp = w * (dff * (1.0 - 2.0 * t) * bce + ff * dbce_dp);
        let mut dt = w * (dff * (1.0 - 2.0 * p) * bce + ff * dbce_dt);
        if self.apply_class_balancing {
            dt += (2.0 * a - 1.0) * (ff * bce);
        }
        let dx = if self.from_logits { dp * (p * (1.0 - p)) } else { dp };
        (v, dt, dx)
    }

    fn run<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        check_smoothing!(Self::NAME, self.label_smoothing)?;
        check_option(Self::NAME, "gamma", self.gamma, !self.gamma.is_nan(), "a number")?;
        check_option(Self::NAME, "alpha", self.alpha, !self.alpha.is_nan(), "a number")?;
        let ls = self.label_smoothing;
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), self.axis, self.reduction, go, |t, p, g| {
            mean_lane(
                t,
                p,
                g,
                |t, p| self.element(t * (1.0 - ls) + 0.5 * ls, p).0,
                |t, p| {
                    let (_, dt, dp) = self.element(t * (1.0 - ls) + 0.5 * ls, p);
                    (dt * (1.0 - ls), dp)
                },
            )
        })
    }
    keras_pair_methods!();
}

// ---------------------------------------------------------------------------------------
// categorical_crossentropy

/// Keras's `keras.losses.categorical_crossentropy`: cross entropy between one-hot
/// (or soft) `y_true` and predicted probabilities or logits, summed over `axis`.
///
/// ```text
/// t    = y_true · (1 − label_smoothing) + label_smoothing / C
/// probabilities: log q = log clip(y_pred / Σ y_pred, ε, 1 − ε)        ε = 1e-7
/// logits:        log q = log_softmax(y_pred)
/// loss = −Σ_axis t · log q
/// ```
///
/// On probabilities Keras **renormalises** `y_pred` along `axis` (so unnormalised
/// scores are silently accepted) and clips before the logarithm; the gradient
/// flows through both (½ on a clip bound). `label_smoothing` spreads `label_smoothing / C`
/// over the `C` classes of the **last** axis, whatever `axis` is (as Keras does).
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ or are 0-d; [`LossError::Option`] for
/// `label_smoothing` outside `[0, 1]` or an `axis` the tensors do not have.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::KerasCategoricalCrossentropy;
/// let y_true = array![[0.0f64, 1.0, 0.0], [0.0, 0.0, 1.0]];
/// let y_pred = array![[0.05f64, 0.95, 0.0], [0.1, 0.8, 0.1]];
/// let loss = KerasCategoricalCrossentropy::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 0.05129329438755058).abs() < 1e-12);
/// assert!((loss[1] - 10f64.ln()).abs() < 1e-12);
/// ```
///
/// # References
/// <https://keras.io/api/losses/probabilistic_losses/#categorical_crossentropy-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasCategoricalCrossentropy {
    /// `y_pred` holds logits rather than probabilities (default `false`).
    pub from_logits: bool,
    /// Mixes the labels with the uniform distribution (default 0, in `[0, 1]`).
    pub label_smoothing: f64,
    /// The class axis (default −1).
    pub axis: isize,
    /// The reduction of the per-sample losses (default `None`).
    pub reduction: Reduction,
}

impl Default for KerasCategoricalCrossentropy {
    fn default() -> Self {
        KerasCategoricalCrossentropy { from_logits: false, label_smoothing: 0.0, axis: -1, reduction: Reduction::None }
    }
}

/// Keras's label smoothing over `classes` (the size of `y_true`'s last axis).
#[inline]
fn smooth(t: f64, ls: f64, classes: usize) -> f64 {
    if ls != 0.0 {
        t * (1.0 - ls) + ls / classes as f64
    } else {
        t
    }
}

impl KerasCategoricalCrossentropy {
    const NAME: &'static str = "categorical_crossentropy";

    /// Keras's defaults: `from_logits = false`, `label_smoothing = 0`, `axis = −1`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    builder!(
        /// Sets `from_logits`.
        from_logits: bool
    );
    builder!(
        /// Sets `label_smoothing`.
        label_smoothing: f64
    );
    builder!(
        /// Sets the class axis.
        axis: isize
    );

    fn run<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        check_smoothing!(Self::NAME, self.label_smoothing)?;
        let ls = self.label_smoothing;
        let classes = y_true.shape().last().copied().unwrap_or(1);
        let fl = self.from_logits;
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), self.axis, self.reduction, go, |t, x, g| {
            let lq = class_log_probs(x, fl);
            let ts: Vec<f64> = t.iter().map(|&v| smooth(v, ls, classes)).collect();
            let v = -sum_f64(ts.iter().zip(&lq.lp).map(|(a, b)| a * b));
            if let Some((gt, gx)) = g {
                let g_lp: Vec<f64> = ts.iter().map(|&v| -v).collect();
                class_log_probs_backward(x, fl, &lq, &g_lp, gx);
                for (k, o) in gt.iter_mut().enumerate() {
                    *o = -lq.lp[k] * if ls != 0.0 { 1.0 - ls } else { 1.0 };
                }
            }
            v
        })
    }
    keras_pair_methods!();
}

// ---------------------------------------------------------------------------------------
// categorical_focal_crossentropy

/// Keras's `keras.losses.categorical_focal_crossentropy`: categorical cross
/// entropy with each class's term scaled by `α (1 − q)^γ`.
///
/// ```text
/// t    = y_true · (1 − label_smoothing) + label_smoothing / C
/// y    = softmax(y_pred) if from_logits, else y_pred
/// q    = clip(y / Σ y, ε, 1 − ε)                                     ε = 1e-7
/// loss = Σ_axis α · (1 − q)^γ · (−t · log q)
/// ```
///
/// With logits Keras takes the softmax and then the same clipped path as for
/// probabilities (so very confident logits saturate at `q = 1 − 1e-7`). `gamma = 0`
/// gives `α ×` [`KerasCategoricalCrossentropy`].
///
/// # Errors
/// As [`KerasCategoricalCrossentropy`]; also [`LossError::Option`] for a NaN
/// `alpha` or `gamma`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::KerasCategoricalFocalCrossentropy;
/// let y_true = array![[0.0f64, 1.0, 0.0], [0.0, 0.0, 1.0]];
/// let y_pred = array![[0.05f64, 0.9, 0.05], [0.1, 0.85, 0.05]];
/// let loss = KerasCategoricalFocalCrossentropy::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 2.63401289e-4).abs() < 1e-12);
/// assert!((loss[1] - 0.675912094).abs() < 1e-9);
/// ```
///
/// # References
/// T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollár, "Focal Loss for Dense
/// Object Detection", ICCV 2017, <https://arxiv.org/abs/1708.02002>;
/// <https://keras.io/api/losses/probabilistic_losses/#categorical_focal_crossentropy-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasCategoricalFocalCrossentropy {
    /// The weight of every class (default 0.25).
    pub alpha: f64,
    /// The focusing parameter (default 2.0).
    pub gamma: f64,
    /// `y_pred` holds logits rather than probabilities (default `false`).
    pub from_logits: bool,
    /// Mixes the labels with the uniform distribution (default 0, in `[0, 1]`).
    pub label_smoothing: f64,
    /// The class axis (default −1).
    pub axis: isize,
    /// The reduction of the per-sample losses (default `None`).
    pub reduction: Reduction,
}

impl Default for KerasCategoricalFocalCrossentropy {
    fn default() -> Self {
        KerasCategoricalFocalCrossentropy {
            alpha: 0.25,
            gamma: 2.0,
            from_logits: false,
            label_smoothing: 0.0,
            axis: -1,
            reduction: Reduction::None,
        }
    }
}

impl KerasCategoricalFocalCrossentropy {
    const NAME: &'static str = "categorical_focal_crossentropy";

    /// Keras's defaults: `alpha = 0.25`, `gamma = 2`, `from_logits = false`,
    /// `label_smoothing = 0`, `axis = −1`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    builder!(
        /// Sets `alpha`.
        alpha: f64
    );
    builder!(
        /// Sets `gamma`.
        gamma: f64
    );
    builder!(
        /// Sets `from_logits`.
        from_logits: bool
    );
    builder!(
        /// Sets `label_smoothing`.
        label_smoothing: f64
    );
    builder!(
        /// Sets the class axis.
        axis: isize
    );

    fn run<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        check_smoothing!(Self::NAME, self.label_smoothing)?;
        check_option(Self::NAME, "gamma", self.gamma, !self.gamma.is_nan(), "a number")?;
        check_option(Self::NAME, "alpha", self.alpha, !self.alpha.is_nan(), "a number")?;
        let (ls, a, gm) = (self.label_smoothing, self.alpha, self.gamma);
        let classes = y_true.shape().last().copied().unwrap_or(1);
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), self.axis, self.reduction, go, |t, x, g| {
            let n = x.len();
            let mut y = x.to_vec();
            if self.from_logits {
                softmax_lane(x, &mut y);
            }
            let s = sum_f64(y.iter().copied());
            let q: Vec<f64> = y.iter().map(|&v| clip(v / s, EPSILON, 1.0 - EPSILON)).collect();
            let ts: Vec<f64> = t.iter().map(|&v| smooth(v, ls, classes)).collect();
            let term = |k: usize| {
                let cce = -ts[k] * q[k].ln();
                (a * (1.0 - q[k]).powf(gm)) * cce
            };
            let v = sum_f64((0..n).map(term));
            if let Some((gt, gx)) = g {
                let mut gq = vec![0.0; n];
                for k in 0..n {
                    let m = (1.0 - q[k]).powf(gm);
                    let dm = -(gm * (1.0 - q[k]).powf(gm - 1.0));
                    let cce = -ts[k] * q[k].ln();
                    // ∂/∂q of α m(q) · (−t log q)
                    let dq = a * dm * cce + a * m * (-ts[k] / q[k]);
                    gq[k] = dq * clip_grad(y[k] / s, EPSILON, 1.0 - EPSILON);
                    gt[k] = a * m * -q[k].ln() * if ls != 0.0 { 1.0 - ls } else { 1.0 };
                }
                let mut gy = vec![0.0; n];
                renormalise_backward(&y, s, &gq, &mut gy);
                if self.from_logits {
                    softmax_backward(&y, &gy, gx);
                } else {
                    gx.copy_from_slice(&gy);
                }
            }
            v
        })
    }
    keras_pair_methods!();
}

// ---------------------------------------------------------------------------------------
// sparse_categorical_crossentropy

/// Keras's `keras.losses.sparse_categorical_crossentropy`: categorical cross
/// entropy with integer class labels.
///
/// ```text
/// probabilities: log q = log clip(y_pred / Σ y_pred, ε, 1 − ε)        ε = 1e-7
/// logits:        log q = log_softmax(y_pred)
/// loss = −Σ_c onehot(y_true)_c · log q_c           (0 where y_true = ignore_class)
/// ```
///
/// Classes are on the last axis of `y_pred` (Keras's JAX backend requires it:
/// `axis` must name the last axis). `y_true` has `y_pred`'s shape without the class
/// axis, or with a trailing axis of size 1, which is squeezed. Samples whose label
/// is `ignore_class` give a loss of 0 and no gradient. Keras computes the loss as
/// a sum with the one-hot labels, so a `−∞` logit on a class that is not the label
/// makes the loss NaN (`0 · −∞`); losslab does the same.
///
/// # Errors
/// [`LossError::Shape`] for shapes that do not fit; [`LossError::ClassIndex`] for a
/// label outside `[0, C)` that is not `ignore_class` (Keras's JAX backend silently
/// gives a loss of 0, its TensorFlow backend raises); [`LossError::Unsupported`]
/// for an `axis` that is not the last.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::KerasSparseCategoricalCrossentropy;
/// let y_true = array![1i64, 2];
/// let y_pred = array![[0.05f64, 0.95, 0.0], [0.1, 0.8, 0.1]];
/// let loss = KerasSparseCategoricalCrossentropy::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 0.05129329438755058).abs() < 1e-12);
/// assert!((loss[1] - 10f64.ln()).abs() < 1e-12);
/// ```
///
/// # References
/// <https://keras.io/api/losses/probabilistic_losses/#sparse_categorical_crossentropy-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasSparseCategoricalCrossentropy {
    /// `y_pred` holds logits rather than probabilities (default `false`).
    pub from_logits: bool,
    /// A label whose samples are ignored (default none).
    pub ignore_class: Option<i64>,
    /// The class axis (default −1; must be the last axis).
    pub axis: isize,
    /// The reduction of the per-sample losses (default `None`).
    pub reduction: Reduction,
}

impl Default for KerasSparseCategoricalCrossentropy {
    fn default() -> Self {
        KerasSparseCategoricalCrossentropy { from_logits: false, ignore_class: None, axis: -1, reduction: Reduction::None }
    }
}

impl KerasSparseCategoricalCrossentropy {
    const NAME: &'static str = "sparse_categorical_crossentropy";

    /// Keras's defaults: `from_logits = false`, no `ignore_class`, `axis = −1`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    builder!(
        /// Sets `from_logits`.
        from_logits: bool
    );
    builder!(
        /// Sets `ignore_class` (`None`: every label counts).
        ignore_class: Option<i64>
    );
    builder!(
        /// Sets the class axis (only the last axis is supported, as in Keras's JAX backend).
        axis: isize
    );

    fn run<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        y_true: &ArrayView<'_, L, D1>,
        y_pred: &ArrayView<'_, T, D2>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<(ArrayD<T>, Option<ArrayD<T>>)> {
        let nd = y_pred.ndim();
        if nd > 0 {
            let ax = resolve_axis(Self::NAME, "axis", self.axis, nd)?;
            if ax != nd - 1 {
                return Err(LossError::Unsupported {
                    loss: Self::NAME,
                    message: format!(
                        "option `axis` = {} is not supported: expected the last axis of `y_pred` (-1 or {} for its shape {:?}), \
                         as Keras's backend requires the classes on the last axis",
                        self.axis,
                        nd - 1,
                        y_pred.shape()
                    ),
                });
            }
        }
        let fl = self.from_logits;
        run_labels(Self::NAME, ("y_pred", y_pred), ("y_true", y_true), true, self.ignore_class, self.reduction, go, |x, lab, g| {
            let Some(y) = lab else { return 0.0 };
            let lq = class_log_probs(x, fl);
            // −Σ onehot · log q, as Keras computes it (0 · −∞ = NaN included)
            let v = -sum_f64(lq.lp.iter().enumerate().map(|(k, &l)| if k == y { l } else { 0.0 * l }));
            if let Some(gx) = g {
                let g_lp: Vec<f64> = (0..x.len()).map(|k| if k == y { -1.0 } else { 0.0 }).collect();
                class_log_probs_backward(x, fl, &lq, &g_lp, gx);
            }
            v
        })
    }
    keras_label_methods!();
}

// ---------------------------------------------------------------------------------------
// categorical_generalized_cross_entropy

/// Keras's `keras.losses.categorical_generalized_cross_entropy`: the generalized
/// cross entropy (GCE) of Zhang & Sabuncu, robust to noisy labels.
///
/// ```text
/// p    = Σ_c onehot(y_true)_c · y_pred_c        (the predicted probability of the label)
/// loss = (1 − p^q) / q
/// ∂loss/∂y_pred_c = onehot_c · (−p^(q−1))
/// ```
///
/// `q → 0` tends to cross entropy `−log p`, `q = 1` is the MAE `1 − p`. `y_pred`
/// is used as given: no clipping, no renormalisation, no softmax. The gradient is
/// computed through the one-hot product as Keras does, so where `p = 0` (and
/// `q < 1`) every class's gradient is NaN (`0 · ∞`) except the label's (`−∞`).
/// The Keras function has no default for `q`; its `Loss` class uses 0.5, as here.
///
/// Shapes: `y_pred` `(…, C)`, `y_true` `(…)` (integers).
///
/// # Errors
/// [`LossError::Shape`] if `y_true`'s shape is not `y_pred`'s without the last axis
/// (Keras's `(N, 1)` labels would broadcast into an `(N, N)` result);
/// [`LossError::ClassIndex`] for a label outside `[0, C)` (Keras gives `1/q`);
/// [`LossError::Option`] for `q ≤ 0` or NaN.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::KerasCategoricalGeneralizedCrossEntropy;
/// let y_true = array![1i64, 2];
/// let y_pred = array![[0.05f64, 0.9, 0.05], [0.1, 0.85, 0.05]];
/// let loss = KerasCategoricalGeneralizedCrossEntropy::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 2.0 * (1.0 - 0.9f64.sqrt())).abs() < 1e-15);
/// assert!((loss[1] - 2.0 * (1.0 - 0.05f64.sqrt())).abs() < 1e-15);
/// ```
///
/// # References
/// Z. Zhang, M. R. Sabuncu, "Generalized Cross Entropy Loss for Training Deep
/// Neural Networks with Noisy Labels", NeurIPS 2018, <https://arxiv.org/abs/1805.07836>;
/// <https://keras.io/api/losses/probabilistic_losses/>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasCategoricalGeneralizedCrossEntropy {
    /// The noise parameter `q` (default 0.5, > 0; Keras documents `(0, 1)`).
    pub q: f64,
    /// The reduction of the per-sample losses (default `None`).
    pub reduction: Reduction,
}

impl Default for KerasCategoricalGeneralizedCrossEntropy {
    fn default() -> Self {
        KerasCategoricalGeneralizedCrossEntropy { q: 0.5, reduction: Reduction::None }
    }
}

impl KerasCategoricalGeneralizedCrossEntropy {
    const NAME: &'static str = "categorical_generalized_cross_entropy";

    /// `q = 0.5` (the default of Keras's `CategoricalGeneralizedCrossEntropy` class), no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    builder!(
        /// Sets `q`.
        q: f64
    );

    fn run<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        y_true: &ArrayView<'_, L, D1>,
        y_pred: &ArrayView<'_, T, D2>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<(ArrayD<T>, Option<ArrayD<T>>)> {
        let q = self.q;
        check_option(Self::NAME, "q", q, q > 0.0, "a number > 0 (Keras documents the range (0, 1))")?;
        run_labels(Self::NAME, ("y_pred", y_pred), ("y_true", y_true), false, None, self.reduction, go, |x, lab, g| {
            let y = lab.unwrap_or(usize::MAX);
            let p = sum_f64(x.iter().enumerate().map(|(k, &v)| if k == y { v } else { v * 0.0 }));
            let v = (1.0 - p.powf(q)) / q;
            if let Some(gx) = g {
                let dp = (-1.0 / q) * (q * p.powf(q - 1.0));
                for (k, o) in gx.iter_mut().enumerate() {
                    *o = if k == y { dp } else { 0.0 * dp };
                }
            }
            v
        })
    }
    keras_label_methods!();
}

// ---------------------------------------------------------------------------------------
// kl_divergence

/// Keras's `keras.losses.kl_divergence`: `Σ t log(t / p)` over the last axis, with
/// both tensors clipped to `[ε, 1]`.
///
/// ```text
/// t = clip(y_true, ε, 1),  p = clip(y_pred, ε, 1)             ε = 1e-7
/// loss = Σ_last t · log(t / p)
/// ```
///
/// Because of the clip a zero in `y_true` contributes `1e-7 · log(1e-7 / p)`
/// rather than 0, and values above 1 count as 1; the gradient is 0 outside
/// `[ε, 1]` and halved on its bounds (on `y_true = 1` exactly, for instance).
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ or are 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::KerasKlDivergence;
/// let y_true = array![[0.5f64, 0.5]];
/// let y_pred = array![[0.25f64, 0.75]];
/// let loss = KerasKlDivergence::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 0.5 * (2f64.ln() + (2.0f64 / 3.0).ln())).abs() < 1e-15);
/// ```
///
/// # References
/// S. Kullback, R. A. Leibler, "On Information and Sufficiency", Annals of
/// Mathematical Statistics 22(1), 1951, <https://doi.org/10.1214/aoms/1177729694>;
/// <https://keras.io/api/losses/probabilistic_losses/#kl_divergence-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasKlDivergence {
    /// The reduction of the per-sample losses (default `None`).
    pub reduction: Reduction,
}

impl Default for KerasKlDivergence {
    fn default() -> Self {
        KerasKlDivergence { reduction: Reduction::None }
    }
}

impl KerasKlDivergence {
    const NAME: &'static str = "kl_divergence";

    /// No reduction (Keras's per-sample output).
    pub fn new() -> Self {
        Self::default()
    }

    fn run<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), -1, self.reduction, go, |yt, yp, g| {
            let v = sum_f64(yt.iter().zip(yp).map(|(&a, &b)| {
                let (t, p) = (clip(a, EPSILON, 1.0), clip(b, EPSILON, 1.0));
                t * (t / p).ln()
            }));
            if let Some((gt, gp)) = g {
                for k in 0..yt.len() {
                    let (t, p) = (clip(yt[k], EPSILON, 1.0), clip(yp[k], EPSILON, 1.0));
                    gt[k] = ((t / p).ln() + 1.0) * clip_grad(yt[k], EPSILON, 1.0);
                    gp[k] = -(t / p) * clip_grad(yp[k], EPSILON, 1.0);
                }
            }
            v
        })
    }
    keras_pair_methods!();
}

// ---------------------------------------------------------------------------------------
// log_cosh, mean_squared_logarithmic_error, mean_absolute_percentage_error

/// Keras's `keras.losses.log_cosh`: the mean over the last axis of `log cosh(y_pred − y_true)`.
///
/// ```text
/// x = y_pred − y_true
/// loss = mean_last log cosh(x)          ∂/∂y_pred = tanh(x) / n
/// log cosh x ≈ x²/2 near 0,  ≈ |x| − log 2 far from 0
/// ```
///
/// Computed without overflow or cancellation: `log1p(2 sinh²(x/2))` for `|x| < 1`,
/// `|x| + softplus(−2|x|) − log 2` beyond (Keras evaluates `x + softplus(−2x) − log 2`).
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ or are 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::KerasLogCosh;
/// let y_true = array![[0.0f64, 1.0], [0.0, 0.0]];
/// let y_pred = array![[1.0f64, 1.0], [0.0, 0.0]];
/// let loss = KerasLogCosh::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 1f64.cosh().ln() / 2.0).abs() < 1e-15);
/// assert_eq!(loss[1], 0.0);
/// ```
///
/// # References
/// P. Chen, G. Chen, S. Zhang, "Log Hyperbolic Cosine Loss Improves Variational
/// Auto-Encoder", 2019, <https://openreview.net/forum?id=rkglvsC9Ym>;
/// <https://keras.io/api/losses/regression_losses/#log_cosh-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasLogCosh {
    /// The reduction of the per-sample losses (default `None`).
    pub reduction: Reduction,
}

impl Default for KerasLogCosh {
    fn default() -> Self {
        KerasLogCosh { reduction: Reduction::None }
    }
}

impl KerasLogCosh {
    const NAME: &'static str = "log_cosh";

    /// No reduction (Keras's per-sample output).
    pub fn new() -> Self {
        Self::default()
    }

    fn run<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), -1, self.reduction, go, |t, p, g| {
            mean_lane(t, p, g, |t, p| log_cosh_f64(p - t), |t, p| {
                let d = (p - t).tanh();
                (-d, d)
            })
        })
    }
    keras_pair_methods!();
}

/// Keras's `keras.losses.mean_squared_logarithmic_error` (MSLE).
///
/// ```text
/// loss = mean_last (log(max(y_pred, ε) + 1) − log(max(y_true, ε) + 1))²      ε = 1e-7
/// ```
///
/// Negative and zero values count as `ε` (with no gradient below it, half of it at
/// it).
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ or are 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::KerasMeanSquaredLogarithmicError;
/// let y_true = array![[1.0f64, 3.0]];
/// let y_pred = array![[1.0f64, 1.0]];
/// let loss = KerasMeanSquaredLogarithmicError::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 2f64.ln().powi(2) / 2.0).abs() < 1e-15);
/// ```
///
/// # References
/// <https://keras.io/api/losses/regression_losses/#mean_squared_logarithmic_error-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasMeanSquaredLogarithmicError {
    /// The reduction of the per-sample losses (default `None`).
    pub reduction: Reduction,
}

impl Default for KerasMeanSquaredLogarithmicError {
    fn default() -> Self {
        KerasMeanSquaredLogarithmicError { reduction: Reduction::None }
    }
}

impl KerasMeanSquaredLogarithmicError {
    const NAME: &'static str = "mean_squared_logarithmic_error";

    /// No reduction (Keras's per-sample output).
    pub fn new() -> Self {
        Self::default()
    }

    fn run<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        let e = EPSILON;
        let lg = move |v: f64| if v.is_nan() { v } else { v.max(e) }.ln_1p();
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), -1, self.reduction, go, |t, p, g| {
            mean_lane(
                t,
                p,
                g,
                |t, p| {
                    let d = lg(p) - lg(t);
                    d * d
                },
                |t, p| {
                    let d = lg(p) - lg(t);
                    let dp = 2.0 * d / (p.max(e) + 1.0) * max_grad(p, e);
                    let dt = -2.0 * d / (t.max(e) + 1.0) * max_grad(t, e);
                    (dt, dp)
                },
            )
        })
    }
    keras_pair_methods!();
}

/// Keras's `keras.losses.mean_absolute_percentage_error` (MAPE).
///
/// ```text
/// loss = 100 · mean_last |(y_true − y_pred) / max(|y_true|, ε)|          ε = 1e-7
/// ```
///
/// A zero target divides by `1e-7`: the loss is then `1e9 · |y_pred|`, not an
/// error. The derivative of `|·|` at 0 is taken as `+1`, as JAX does.
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ or are 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::KerasMeanAbsolutePercentageError;
/// let y_true = array![[1.0f64, 2.0], [0.0, 4.0]];
/// let y_pred = array![[1.5f64, 1.0], [0.5, 4.0]];
/// let loss = KerasMeanAbsolutePercentageError::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 50.0).abs() < 1e-12);
/// assert!((loss[1] - 2.5e8).abs() < 1e-3);
/// ```
///
/// # References
/// <https://keras.io/api/losses/regression_losses/#mean_absolute_percentage_error-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasMeanAbsolutePercentageError {
    /// The reduction of the per-sample losses (default `None`).
    pub reduction: Reduction,
}

impl Default for KerasMeanAbsolutePercentageError {
    fn default() -> Self {
        KerasMeanAbsolutePercentageError { reduction: Reduction::None }
    }
}

impl KerasMeanAbsolutePercentageError {
    const NAME: &'static str = "mean_absolute_percentage_error";

    /// No reduction (Keras's per-sample output).
    pub fn new() -> Self {
        Self::default()
    }

    fn run<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        let e = EPSILON;
        let den = move |t: f64| if t.is_nan() { t } else { t.abs().max(e) };
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), -1, self.reduction, go, |t, p, g| {
            let n = t.len() as f64;
            let v = 100.0 * (sum_f64(t.iter().zip(p).map(|(&t, &p)| ((t - p) / den(t)).abs())) / n);
            if let Some((gt, gp)) = g {
                for k in 0..t.len() {
                    let (d, m) = (t[k] - p[k], den(t[k]));
                    let dr = 100.0 / n * abs_grad(d / m);
                    gp[k] = -dr / m;
                    gt[k] = dr / m + (-dr * d / (m * m)) * max_grad(t[k].abs(), e) * abs_grad(t[k]);
                }
            }
            v
        })
    }
    keras_pair_methods!();
}

// ---------------------------------------------------------------------------------------
// free functions

/// [`KerasBinaryCrossentropy`] with Keras's defaults: `keras.losses.binary_crossentropy(y_true, y_pred)`.
///
/// # Errors
/// See [`KerasBinaryCrossentropy`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::keras_binary_crossentropy(array![[1.0f64, 0.0]].view(), array![[0.5f64, 0.5]].view()).unwrap();
/// assert!((v[0] - 2f64.ln()).abs() < 1e-15);
/// ```
///
/// # References
/// [`KerasBinaryCrossentropy`]: its formula, the reference's semantics and the paper.
pub fn keras_binary_crossentropy<T: Float, D: Dimension>(y_true: ArrayView<'_, T, D>, y_pred: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
    KerasBinaryCrossentropy::new().forward(y_true, y_pred)
}

/// [`KerasCategoricalCrossentropy`] with Keras's defaults: `keras.losses.categorical_crossentropy(y_true, y_pred)`.
///
/// # Errors
/// See [`KerasCategoricalCrossentropy`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::keras_categorical_crossentropy(array![[0.0f64, 1.0]].view(), array![[1.0f64, 3.0]].view()).unwrap();
/// assert!((v[0] - (4.0f64 / 3.0).ln()).abs() < 1e-15); // y_pred is renormalised to [1/4, 3/4]
/// ```
///
/// # References
/// [`KerasCategoricalCrossentropy`]: its formula, the reference's semantics and the paper.
pub fn keras_categorical_crossentropy<T: Float, D: Dimension>(y_true: ArrayView<'_, T, D>, y_pred: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
    KerasCategoricalCrossentropy::new().forward(y_true, y_pred)
}

/// [`KerasSparseCategoricalCrossentropy`] with Keras's defaults:
/// `keras.losses.sparse_categorical_crossentropy(y_true, y_pred)`.
///
/// # Errors
/// See [`KerasSparseCategoricalCrossentropy`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::keras_sparse_categorical_crossentropy(array![0u8].view(), array![[0.25f64, 0.75]].view()).unwrap();
/// assert!((v[0] - 4f64.ln()).abs() < 1e-15);
/// ```
///
/// # References
/// [`KerasSparseCategoricalCrossentropy`]: its formula, the reference's semantics and the paper.
pub fn keras_sparse_categorical_crossentropy<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
    y_true: ArrayView<'_, L, D1>,
    y_pred: ArrayView<'_, T, D2>,
) -> Result<ArrayD<T>> {
    KerasSparseCategoricalCrossentropy::new().forward(y_true, y_pred)
}

/// [`KerasBinaryFocalCrossentropy`] with Keras's defaults.
///
/// # Errors
/// See [`KerasBinaryFocalCrossentropy`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::keras_binary_focal_crossentropy(array![[1.0f64]].view(), array![[0.5f64]].view()).unwrap();
/// assert!((v[0] - 0.25 * 2f64.ln()).abs() < 1e-15);
/// ```
///
/// # References
/// [`KerasBinaryFocalCrossentropy`]: its formula, the reference's semantics and the paper.
pub fn keras_binary_focal_crossentropy<T: Float, D: Dimension>(y_true: ArrayView<'_, T, D>, y_pred: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
    KerasBinaryFocalCrossentropy::new().forward(y_true, y_pred)
}

/// [`KerasCategoricalFocalCrossentropy`] with Keras's defaults.
///
/// # Errors
/// See [`KerasCategoricalFocalCrossentropy`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::keras_categorical_focal_crossentropy(array![[0.0f64, 1.0]].view(), array![[0.5f64, 0.5]].view()).unwrap();
/// assert!((v[0] - 0.25 * 0.25 * 2f64.ln()).abs() < 1e-15);
/// ```
///
/// # References
/// [`KerasCategoricalFocalCrossentropy`]: its formula, the reference's semantics and the paper.
pub fn keras_categorical_focal_crossentropy<T: Float, D: Dimension>(y_true: ArrayView<'_, T, D>, y_pred: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
    KerasCategoricalFocalCrossentropy::new().forward(y_true, y_pred)
}

/// [`KerasCategoricalGeneralizedCrossEntropy`] with `q`.
///
/// # Errors
/// See [`KerasCategoricalGeneralizedCrossEntropy`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::keras_categorical_generalized_cross_entropy(array![0i32].view(), array![[0.25f64, 0.75]].view(), 0.5).unwrap();
/// assert_eq!(v[0], 1.0); // (1 − √0.25) / 0.5
/// ```
///
/// # References
/// [`KerasCategoricalGeneralizedCrossEntropy`]: its formula, the reference's semantics and the paper.
pub fn keras_categorical_generalized_cross_entropy<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
    y_true: ArrayView<'_, L, D1>,
    y_pred: ArrayView<'_, T, D2>,
    q: f64,
) -> Result<ArrayD<T>> {
    KerasCategoricalGeneralizedCrossEntropy::new().q(q).forward(y_true, y_pred)
}

/// [`KerasKlDivergence`]: `keras.losses.kl_divergence(y_true, y_pred)`.
///
/// # Errors
/// See [`KerasKlDivergence`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let p = array![[0.25f64, 0.75]];
/// assert_eq!(losslab::keras_kl_divergence(p.view(), p.view()).unwrap()[0], 0.0);
/// ```
///
/// # References
/// [`KerasKlDivergence`]: its formula, the reference's semantics and the paper.
pub fn keras_kl_divergence<T: Float, D: Dimension>(y_true: ArrayView<'_, T, D>, y_pred: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
    KerasKlDivergence::new().forward(y_true, y_pred)
}

/// [`KerasLogCosh`]: `keras.losses.log_cosh(y_true, y_pred)`.
///
/// # Errors
/// See [`KerasLogCosh`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::keras_log_cosh(array![[0.0f64]].view(), array![[1000.0f64]].view()).unwrap();
/// assert_eq!(v[0], 1000.0 - 2f64.ln());
/// ```
///
/// # References
/// [`KerasLogCosh`]: its formula, the reference's semantics and the paper.
pub fn keras_log_cosh<T: Float, D: Dimension>(y_true: ArrayView<'_, T, D>, y_pred: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
    KerasLogCosh::new().forward(y_true, y_pred)
}

/// [`KerasMeanSquaredLogarithmicError`]: `keras.losses.mean_squared_logarithmic_error(y_true, y_pred)`.
///
/// # Errors
/// See [`KerasMeanSquaredLogarithmicError`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::keras_mean_squared_logarithmic_error(array![[0.0f64]].view(), array![[-5.0f64]].view()).unwrap();
/// assert_eq!(v[0], 0.0); // both are replaced by epsilon
/// ```
///
/// # References
/// [`KerasMeanSquaredLogarithmicError`]: its formula, the reference's semantics and the paper.
pub fn keras_mean_squared_logarithmic_error<T: Float, D: Dimension>(
    y_true: ArrayView<'_, T, D>,
    y_pred: ArrayView<'_, T, D>,
) -> Result<ArrayD<T>> {
    KerasMeanSquaredLogarithmicError::new().forward(y_true, y_pred)
}

/// [`KerasMeanAbsolutePercentageError`]: `keras.losses.mean_absolute_percentage_error(y_true, y_pred)`.
///
/// # Errors
/// See [`KerasMeanAbsolutePercentageError`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::keras_mean_absolute_percentage_error(array![[2.0f64]].view(), array![[1.0f64]].view()).unwrap();
/// assert_eq!(v[0], 50.0);
/// ```
///
/// # References
/// [`KerasMeanAbsolutePercentageError`]: its formula, the reference's semantics and the paper.
pub fn keras_mean_absolute_percentage_error<T: Float, D: Dimension>(
    y_true: ArrayView<'_, T, D>,
    y_pred: ArrayView<'_, T, D>,
) -> Result<ArrayD<T>> {
    KerasMeanAbsolutePercentageError::new().forward(y_true, y_pred)
}
