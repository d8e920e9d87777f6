//! Cross entropies on clipped probabilities, as Keras 3 computes them
//! (`keras.losses.*` on its JAX backend): binary, categorical and sparse
//! categorical cross entropy, their focal variants, and the generalized cross
//! entropy.
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

use crate::machinery::error::{check_option, LossError, Result};
use crate::machinery::float::{ClassIndex, Float};
use crate::machinery::lanes::*;
use crate::machinery::methods::*;
use crate::machinery::clip::*;
use crate::machinery::kernels::elementwise::logistic;
use crate::machinery::kernels::rows::{self, lane_sum, lane_sum_zip, zip_store};
use crate::machinery::reduction::{sum_f64, Reducer, Reduction};
use crate::math::*;
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension};

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
        let c: Vec<f64> = x.iter().map(|&v| clip(v / s, KERAS_EPSILON, 1.0 - KERAS_EPSILON)).collect();
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
            (0..x.len()).map(|k| g_lp[k] / lp.c[k] * clip_grad(x[k] / lp.s, KERAS_EPSILON, 1.0 - KERAS_EPSILON)).collect();
        renormalise_backward(x, lp.s, &gy, out);
    }
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
/// use losslab::classification::KerasBinaryCrossentropy;
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

/// Element-wise binary cross entropy of Keras's backend, with `(∂/∂t, ∂/∂p)`,
/// in arithmetic that vectorises (the logistic parts of [`logistic`], the
/// row sweep's `ln`: within 2 ulp of libm's), for the row sweep and the
/// general path alike.
#[inline(always)]
fn keras_bce(t: f64, p: f64, from_logits: bool) -> (f64, f64, f64) {
    if from_logits {
        // log σ(p) = −softplus(−p), log σ(−p) = −softplus(p).
        let lg = logistic(p);
        let v = t * lg.softplus_neg + (1.0 - t) * lg.softplus;
        (v, lg.softplus_neg - lg.softplus, -t * lg.sigmoid_neg + (1.0 - t) * lg.sigmoid)
    } else {
        let c = clip(p, KERAS_EPSILON, 1.0 - KERAS_EPSILON);
        let (lc, l1c) = (rows::ln(c), rows::ln(1.0 - c));
        let v = -(t * lc + (1.0 - t) * l1c);
        (v, -(lc - l1c), -(t / c - (1.0 - t) / (1.0 - c)) * clip_grad(p, KERAS_EPSILON, 1.0 - KERAS_EPSILON))
    }
}

/// The smoothed label's element of a binary loss: `el(t̃, p) = (ℓ, ∂ℓ/∂t̃,
/// ∂ℓ/∂p)` at `t̃ = t (1 − ls) + ls / 2`, on the row sweep when both tensors
/// have one shape, are contiguous and `axis` is the last (the mean over the
/// last axis); `None` otherwise (the general path's then).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn binary_rows<T: Float, D: Dimension>(
    loss: &'static str,
    y_true: &ArrayView<'_, T, D>,
    y_pred: &ArrayView<'_, T, D>,
    axis: isize,
    ls: f64,
    reduction: Reduction,
    go: Option<&ArrayViewD<'_, T>>,
    el: impl Fn(f64, f64) -> (f64, f64, f64) + Copy + Sync,
) -> Result<Option<PairOutput<T>>> {
    let nd = y_pred.ndim() as isize;
    if axis != -1 && axis != nd - 1 {
        return Ok(None);
    }
    pair_mean_rows(loss, ("y_true", y_true), y_pred, reduction, go,
        #[inline(always)] move |t, p| el(t * (1.0 - ls) + 0.5 * ls, p).0,
        #[inline(always)] move |t, p| el(t * (1.0 - ls) + 0.5 * ls, p).1 * (1.0 - ls),
        #[inline(always)] move |t, p| el(t * (1.0 - ls) + 0.5 * ls, p).2)
}

impl KerasBinaryCrossentropy {
    const NAME: &'static str = "binary_crossentropy";

    /// Keras's defaults: `from_logits = false`, `label_smoothing = 0`, `axis = −1`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets `from_logits`.
        from_logits: bool
    );
    setters!(
        /// Sets `label_smoothing`.
        label_smoothing: f64
    );
    setters!(
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
        // The row sweep (one instantiation per `from_logits`), else the general path.
        let fused = if fl {
            binary_rows(Self::NAME, y_true, y_pred, self.axis, ls, self.reduction, go, #[inline(always)] |t, p| keras_bce(t, p, true))?
        } else {
            binary_rows(Self::NAME, y_true, y_pred, self.axis, ls, self.reduction, go, #[inline(always)] |t, p| keras_bce(t, p, false))?
        };
        if let Some(done) = fused {
            return Ok(done);
        }
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
    loss_methods!(keras: run(input = last), (y_true: float, y_pred: float));
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
/// use losslab::classification::KerasBinaryFocalCrossentropy;
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
    setters!(
        /// Sets `apply_class_balancing`.
        apply_class_balancing: bool
    );
    setters!(
        /// Sets `alpha`.
        alpha: f64
    );
    setters!(
        /// Sets `gamma`.
        gamma: f64
    );
    setters!(
        /// Sets `from_logits`.
        from_logits: bool
    );
    setters!(
        /// Sets `label_smoothing`.
        label_smoothing: f64
    );
    setters!(
        /// Sets the axis the mean is taken over.
        axis: isize
    );

    /// `(ℓ, ∂ℓ/∂t_smoothed, ∂ℓ/∂y_pred)` of one element, `from_logits` as
    /// `fl` says, `pows(u) = (u^γ, u^(γ−1))`.
    #[inline(always)]
    fn element(&self, t: f64, x: f64, fl: bool, pows: impl Fn(f64) -> (f64, f64)) -> (f64, f64, f64) {
        let (a, g) = (self.alpha, self.gamma);
        let p = if fl { logistic(x).sigmoid } else { x };
        let (bce, dbce_dt, dbce_dp) = keras_bce(t, p, false);
        let pt = t * p + (1.0 - t) * (1.0 - p);
        let u = 1.0 - pt;
        let (ff, fm1) = pows(u);
        let dff = g * fm1;
        let w = if self.apply_class_balancing { t * a + (1.0 - t) * (1.0 - a) } else { 1.0 };
        let v = w * (ff * bce);
        // u = 1 − (t p + (1 − t)(1 − p)):  ∂u/∂p = 1 − 2t,  ∂u/∂t = 1 − 2p
        let dp = w * (dff * (1.0 - 2.0 * t) * bce + ff * dbce_dp);
        let mut dt = w * (dff * (1.0 - 2.0 * p) * bce + ff * dbce_dt);
        if self.apply_class_balancing {
            dt += (2.0 * a - 1.0) * (ff * bce);
        }
        let dx = if fl { dp * (p * (1.0 - p)) } else { dp };
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
        let (fl, gm) = (self.from_logits, self.gamma);
        // The row sweep (one instantiation per `from_logits`, and for Keras's
        // γ = 2 by products), else the general path.
        let sq = inlined(#[inline(always)] |u: f64| (u * u, u));
        let pw = inlined(#[inline(always)] move |u: f64| (u.powf(gm), u.powf(gm - 1.0)));
        let (a, b, r, go2) = (y_true, y_pred, self.reduction, go);
        let fused = match (fl, gm == 2.0) {
            (true, true) => binary_rows(Self::NAME, a, b, self.axis, ls, r, go2, #[inline(always)] |t, p| self.element(t, p, true, sq))?,
            (false, true) => binary_rows(Self::NAME, a, b, self.axis, ls, r, go2, #[inline(always)] |t, p| self.element(t, p, false, sq))?,
            (true, false) => binary_rows(Self::NAME, a, b, self.axis, ls, r, go2, #[inline(always)] |t, p| self.element(t, p, true, pw))?,
            (false, false) => binary_rows(Self::NAME, a, b, self.axis, ls, r, go2, #[inline(always)] |t, p| self.element(t, p, false, pw))?,
        };
        if let Some(done) = fused {
            return Ok(done);
        }
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), self.axis, self.reduction, go, |t, p, g| {
            mean_lane(
                t,
                p,
                g,
                |t, p| self.element(t * (1.0 - ls) + 0.5 * ls, p, fl, pw).0,
                |t, p| {
                    let (_, dt, dp) = self.element(t * (1.0 - ls) + 0.5 * ls, p, fl, pw);
                    (dt * (1.0 - ls), dp)
                },
            )
        })
    }
    loss_methods!(keras: run(input = last), (y_true: float, y_pred: float));
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
/// use losslab::classification::KerasCategoricalCrossentropy;
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
    setters!(
        /// Sets `from_logits`.
        from_logits: bool
    );
    setters!(
        /// Sets `label_smoothing`.
        label_smoothing: f64
    );
    setters!(
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
        if let Some(done) = self.fused(y_true, y_pred, go)? {
            return Ok(done);
        }
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
    /// The machinery's row sweep for probabilities (not logits) of one shape
    /// as `y_true`, both contiguous, classes on the last axis: per row, `Σ y`,
    /// then the loss, the `y_true` gradient and the renormalisation's cross
    /// term in one pass (a vectorised `ln`), then the `y_pred` gradient from
    /// cache; the general path's formulas. `None` for every other case.
    fn fused<T: Float, D: Dimension>(&self, y_true: &ArrayView<'_, T, D>, y_pred: &ArrayView<'_, T, D>, go: Option<&ArrayViewD<'_, T>>) -> Result<Option<PairOutput<T>>> {
        let shape = y_pred.shape();
        let nd = shape.len() as isize;
        if self.from_logits || y_true.shape() != shape || nd == 0 || (self.axis != -1 && self.axis != nd - 1) {
            return Ok(None);
        }
        let (Some(ts), Some(xs)) = (y_true.as_slice(), y_pred.as_slice()) else { return Ok(None) };
        let (rows, c, out) = last_axis(Self::NAME, "y_pred", shape)?;
        if rows * c == 0 {
            return Ok(None);
        }
        let (ls, (lo, hi)) = (self.label_smoothing, (KERAS_EPSILON, 1.0 - KERAS_EPSILON));
        let ft = if ls != 0.0 { 1.0 - ls } else { 1.0 };
        let reducer = Reducer::counting(self.reduction, &out, shape);
        let up = go.map_or(Upstream::Skip, |g| Upstream::Given(g.view()));
        let (value, grads) = eval_rows(Self::NAME, &reducer, shape, (rows, c), &up, true, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
            let (t, x) = (&ts[r * c..(r + 1) * c], &xs[r * c..(r + 1) * c]);
            let s = lane_sum(x, |v| v);
            // The row's divisions by s and s² as products with their
            // reciprocals (f64 divisions, 8 lanes at a time, are the loops'
            // bottleneck).
            let inv = 1.0 / s;
            // The value's sum, the cross term's and each gradient's loop apart:
            // each vectorises (the ln evaluated twice), where one loop of all
            // three does not.
            let v = lane_sum_zip(t, x, |tk, xk| smooth(tk, ls, c) * rows::ln(clip(xk * inv, lo, hi)));
            let Some(g) = g else { return -v };
            let (up, inv2) = (g.up, 1.0 / (s * s));
            // ∂/∂lp = −t̃; through the clip and the renormalisation.
            let cross = lane_sum_zip(t, x, #[inline(always)] |tk, xk| {
                let q = xk * inv;
                -(-smooth(tk, ls, c) / clip(q, lo, hi) * clip_grad(q, lo, hi)) * xk * inv2
            });
            zip_store(t, x, g.go, #[inline(always)] |_, xk| up * (-rows::ln(clip(xk * inv, lo, hi)) * ft));
            zip_store(t, x, g.gx, #[inline(always)] |tk, xk| {
                let q = xk * inv;
                let gy = -smooth(tk, ls, c) / clip(q, lo, hi) * clip_grad(q, lo, hi);
                up * (gy * inv + cross)
            });
            -v
        })?;
        Ok(Some((value, grads.map(|g| (g.target.expect("y_true's gradient"), g.input)))))
    }

    loss_methods!(keras: run(input = last), (y_true: float, y_pred: float));
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
/// Shapes: `y_true` broadcasts against `y_pred` as Keras broadcasts them (NumPy's
/// rule, any ranks; label smoothing counts `y_true`'s own classes, as Keras does);
/// `y_pred` is renormalised (or softmaxed) over its own class axis before it
/// broadcasts, so that axis must have the broadcast's length (Keras also takes a
/// size-1 one; losslab refuses it), its other axes broadcast. Each gradient is
/// summed back to its tensor's shape.
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast (or `y_pred`'s class axis
/// would), are 0-d, or differ in rank with a non-negative `axis`;
/// [`LossError::Option`] for an `axis` out of range, a `label_smoothing` outside
/// [0, 1], a NaN `alpha` or `gamma`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::classification::KerasCategoricalFocalCrossentropy;
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
    setters!(
        /// Sets `alpha`.
        alpha: f64
    );
    setters!(
        /// Sets `gamma`.
        gamma: f64
    );
    setters!(
        /// Sets `from_logits`.
        from_logits: bool
    );
    setters!(
        /// Sets `label_smoothing`.
        label_smoothing: f64
    );
    setters!(
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
        if let Some(done) = self.fused(y_true, y_pred, go)? {
            return Ok(done);
        }
        let classes = y_true.shape().last().copied().unwrap_or(1);
        // Keras renormalises (or softmaxes) y_pred over its own class axis, then broadcasts.
        let shapes = PairShapes::Numpy { own_lane: [false, true], keras_rank: false };
        run_pair_with(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), self.axis, shapes, self.reduction, go, |t, x, g| {
            let n = x.len();
            let mut y = x.to_vec();
            if self.from_logits {
                softmax_lane(x, &mut y);
            }
            let s = sum_f64(y.iter().copied());
            let q: Vec<f64> = y.iter().map(|&v| clip(v / s, KERAS_EPSILON, 1.0 - KERAS_EPSILON)).collect();
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
                    gq[k] = dq * clip_grad(y[k] / s, KERAS_EPSILON, 1.0 - KERAS_EPSILON);
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

    /// The machinery's row sweep for probabilities (not logits) of one shape as
    /// `y_true`, both contiguous, classes on the last axis: per row `Σ y`, then
    /// the loss, the `y_true` gradient and the renormalisation's cross term in
    /// one pass (a vectorised `ln`; `(1 − q)^γ` by products for `γ = 2`), then
    /// the `y_pred` gradient; the general path's formulas. `None` for every
    /// other case.
    fn fused<T: Float, D: Dimension>(&self, y_true: &ArrayView<'_, T, D>, y_pred: &ArrayView<'_, T, D>, go: Option<&ArrayViewD<'_, T>>) -> Result<Option<PairOutput<T>>> {
        let nd = y_pred.ndim() as isize;
        if self.from_logits || (self.axis != -1 && self.axis != nd - 1) {
            return Ok(None);
        }
        if self.gamma == 2.0 {
            self.fused_with(y_true, y_pred, go, #[inline(always)] |b: f64| (b * b, b))
        } else {
            let gm = self.gamma;
            self.fused_with(y_true, y_pred, go, #[inline(always)] |b: f64| (b.powf(gm), b.powf(gm - 1.0)))
        }
    }

    /// [`Self::fused`] with `pows(b) = (b^γ, b^(γ−1))`.
    fn fused_with<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
        pows: impl Fn(f64) -> (f64, f64) + Sync,
    ) -> Result<Option<PairOutput<T>>> {
        let (ls, a, gm) = (self.label_smoothing, self.alpha, self.gamma);
        let (lo, hi) = (KERAS_EPSILON, 1.0 - KERAS_EPSILON);
        let ft = if ls != 0.0 { 1.0 - ls } else { 1.0 };
        eval_pair_rows(Self::NAME, ("y_true", y_true), y_pred, self.reduction, go, #[inline(always)] |t: &[T], x: &[T], g: Option<RowGrads<'_, T>>| {
            let c = t.len();
            let s = lane_sum(x, |v| v);
            let (inv, inv2) = (1.0 / s, 1.0 / (s * s));
            // (∂/∂q of α (1 − q)^γ (−t̃ log q), the term, log q) at one element.
            let at = |tk: f64, xk: f64| {
                let q = clip(xk * inv, lo, hi);
                let ts = smooth(tk, ls, c);
                let lq = rows::ln(q);
                let (m, m1) = pows(1.0 - q);
                let cce = -ts * lq;
                let dq = a * -(gm * m1) * cce + a * m * (-ts / q);
                (dq * clip_grad(xk * inv, lo, hi), a * m * cce, lq, m)
            };
            // The value's sum, the cross term's and each gradient's loop apart,
            // each vectorised.
            let v = lane_sum_zip(t, x, #[inline(always)] |tk, xk| at(tk, xk).1);
            let Some(g) = g else { return v };
            let up = g.up;
            let cross = lane_sum_zip(t, x, #[inline(always)] |tk, xk| -at(tk, xk).0 * xk * inv2);
            zip_store(t, x, g.gx, #[inline(always)] |tk, xk| {
                let (_, _, lq, m) = at(tk, xk);
                up * (a * m * -lq * ft)
            });
            zip_store(t, x, g.go, #[inline(always)] |tk, xk| up * (at(tk, xk).0 * inv + cross));
            v
        })
    }
    loss_methods!(keras: run(input = last), (y_true: float, y_pred: float));
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
/// use losslab::classification::KerasSparseCategoricalCrossentropy;
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
    setters!(
        /// Sets `from_logits`.
        from_logits: bool
    );
    setters!(
        /// Sets `ignore_class` (`None`: every label counts).
        ignore_class: Option<i64>
    );
    setters!(
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
        if let Some(done) = self.fused(y_true, y_pred, go)? {
            return Ok(done);
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

    /// The machinery's row sweep for probabilities (not logits), `y_pred`
    /// contiguous with its classes on the last axis, contiguous valid labels of
    /// its shape without that axis (or with a trailing 1): per row `Σ y`, then
    /// the label's term and the gradient (the renormalisation's cross term on
    /// every class, the label's own term on its class) from that sum alone, in
    /// parallel in `y_pred`'s own type. Rows with a zero or non-finite sum run
    /// the general path's formulas element by element (the one-hot product's
    /// NaN included). `None` for every other case, which the general path takes
    /// (and whose errors it reports).
    fn fused<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        y_true: &ArrayView<'_, L, D1>,
        y_pred: &ArrayView<'_, T, D2>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<Option<(ArrayD<T>, Option<ArrayD<T>>)>> {
        let shape = y_pred.shape();
        if self.from_logits || shape.is_empty() {
            return Ok(None);
        }
        let (rows, c, out) = last_axis(Self::NAME, "y_pred", shape)?;
        let ls = y_true.shape();
        let squeezed = ls.len() == shape.len() && ls.last() == Some(&1) && ls[..ls.len() - 1] == out[..];
        if (ls != out.as_slice() && !squeezed) || rows * c == 0 {
            return Ok(None);
        }
        let (Some(x), Some(labels)) = (y_pred.as_slice(), y_true.as_slice()) else { return Ok(None) };
        let ignore = self.ignore_class;
        if labels.iter().any(|&l| {
            let l = l.index();
            Some(l) != ignore && (l < 0 || l as u64 >= c as u64)
        }) {
            return Ok(None);
        }
        let reducer = Reducer::counting(self.reduction, &out, shape);
        let up = go.map_or(Upstream::Skip, |g| Upstream::Given(g.view()));
        let (lo, hi) = (KERAS_EPSILON, 1.0 - KERAS_EPSILON);
        let (value, grads) = eval_rows(Self::NAME, &reducer, shape, (rows, c), &up, false, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
            let l = labels[r].index();
            if Some(l) == ignore {
                return 0.0;
            }
            let (y, xr) = (l as usize, &x[r * c..(r + 1) * c]);
            let s = lane_sum(xr, |v| v);
            let ss = s * s;
            if s.is_finite() && s != 0.0 {
                // Every q finite: −Σ onehot · log q is the label's term; ∂/∂q is
                // 0 off the label, so the cross term is the label's alone.
                let xy = xr[y].to_wide();
                let q = xy / s;
                let cl = clip(q, lo, hi);
                if let Some(g) = g {
                    let gy = -1.0 / cl * clip_grad(q, lo, hi);
                    let cross = -gy * xy / ss;
                    g.gx.fill(T::from_wide(g.up * cross));
                    g.gx[y] = T::from_wide(g.up * (gy / s + cross));
                }
                return -cl.ln();
            }
            // A zero or non-finite sum: the general path's formulas, element by element.
            let q = |k: usize| xr[k].to_wide() / s;
            let lp = |k: usize| clip(q(k), lo, hi).ln();
            let v = -(0..c).fold(0.0, |a, k| a + if k == y { lp(k) } else { 0.0 * lp(k) });
            if let Some(g) = g {
                let gy = |k: usize| if k == y { -1.0 } else { 0.0 } / clip(q(k), lo, hi) * clip_grad(q(k), lo, hi);
                let cross = (0..c).fold(0.0, |a, k| a + -gy(k) * xr[k].to_wide() / ss);
                for (k, o) in g.gx.iter_mut().enumerate() {
                    *o = T::from_wide(g.up * (gy(k) / s + cross));
                }
            }
            v
        })?;
        Ok(Some((value, grads.map(|g| g.input))))
    }
    loss_methods!(keras: run(input = only), (y_true: labels, y_pred: float));
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
/// use losslab::classification::KerasCategoricalGeneralizedCrossEntropy;
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
    setters!(
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
        if let Some(done) = self.fused(y_true, y_pred, go)? {
            return Ok(done);
        }
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

    /// The machinery's row sweep for a contiguous `y_pred` whose labels have its
    /// shape without the last axis: per row the one-hot product's sum (the
    /// label's entry plus the others' `x · 0`, NaN from a non-finite one, as the
    /// general path), the loss and the gradient row. `None` otherwise.
    fn fused<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        y_true: &ArrayView<'_, L, D1>,
        y_pred: &ArrayView<'_, T, D2>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<Option<(ArrayD<T>, Option<ArrayD<T>>)>> {
        let shape = y_pred.shape();
        let (Some(xs), Some((&c, out))) = (y_pred.as_slice(), shape.split_last()) else { return Ok(None) };
        let rows = out.iter().product::<usize>();
        if y_true.shape() != out || rows * c == 0 {
            return Ok(None);
        }
        let labs = class_labels(Self::NAME, "y_true", y_true, c, None)?;
        let q = self.q;
        let reducer = Reducer::counting(self.reduction, out, shape);
        let up = go.map_or(Upstream::Skip, |g| Upstream::Given(g.view()));
        let (value, grads) = eval_rows(Self::NAME, &reducer, shape, (rows, c), &up, false, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
            let x = &xs[r * c..(r + 1) * c];
            let y = labs[r].expect("no ignored class");
            let zero = inlined(#[inline(always)] |v: f64| v * 0.0);
            let p = x[y].to_wide() + (lane_sum(&x[..y], zero) + lane_sum(&x[y + 1..], zero));
            let v = (1.0 - p.powf(q)) / q;
            if let Some(g) = g {
                let dp = (-1.0 / q) * (q * p.powf(q - 1.0));
                let off = T::from_wide(g.up * (0.0 * dp));
                g.gx.fill(off);
                g.gx[y] = T::from_wide(g.up * dp);
            }
            v
        })?;
        Ok(Some((value, grads.map(|g| g.input))))
    }
    loss_methods!(keras: run(input = only), (y_true: labels, y_pred: float));
}

// ---------------------------------------------------------------------------------------
// free functions

free_fn! {
    /// [`KerasBinaryCrossentropy`] with Keras's defaults: `keras.losses.binary_crossentropy(y_true, y_pred)`.
    pub fn keras_binary_crossentropy(y_true: float, y_pred: float) = KerasBinaryCrossentropy {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::classification::keras_binary_crossentropy(array![[1.0f64, 0.0]].view(), array![[0.5f64, 0.5]].view()).unwrap();
        /// assert!((v[0] - 2f64.ln()).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`KerasBinaryCrossentropy`]: its formula, the reference's semantics and the paper.
    }

    /// [`KerasCategoricalCrossentropy`] with Keras's defaults: `keras.losses.categorical_crossentropy(y_true, y_pred)`.
    pub fn keras_categorical_crossentropy(y_true: float, y_pred: float) = KerasCategoricalCrossentropy {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::classification::keras_categorical_crossentropy(array![[0.0f64, 1.0]].view(), array![[1.0f64, 3.0]].view()).unwrap();
        /// assert!((v[0] - (4.0f64 / 3.0).ln()).abs() < 1e-15); // y_pred is renormalised to [1/4, 3/4]
        /// ```
        ///
        /// # References
        /// [`KerasCategoricalCrossentropy`]: its formula, the reference's semantics and the paper.
    }

    /// [`KerasSparseCategoricalCrossentropy`] with Keras's defaults:
    /// `keras.losses.sparse_categorical_crossentropy(y_true, y_pred)`.
    pub fn keras_sparse_categorical_crossentropy(y_true: labels, y_pred: float) = KerasSparseCategoricalCrossentropy {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::classification::keras_sparse_categorical_crossentropy(array![0u8].view(), array![[0.25f64, 0.75]].view()).unwrap();
        /// assert!((v[0] - 4f64.ln()).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`KerasSparseCategoricalCrossentropy`]: its formula, the reference's semantics and the paper.
    }

    /// [`KerasBinaryFocalCrossentropy`] with Keras's defaults.
    pub fn keras_binary_focal_crossentropy(y_true: float, y_pred: float) = KerasBinaryFocalCrossentropy {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::classification::keras_binary_focal_crossentropy(array![[1.0f64]].view(), array![[0.5f64]].view()).unwrap();
        /// assert!((v[0] - 0.25 * 2f64.ln()).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`KerasBinaryFocalCrossentropy`]: its formula, the reference's semantics and the paper.
    }

    /// [`KerasCategoricalFocalCrossentropy`] with Keras's defaults.
    pub fn keras_categorical_focal_crossentropy(y_true: float, y_pred: float) = KerasCategoricalFocalCrossentropy {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::classification::keras_categorical_focal_crossentropy(array![[0.0f64, 1.0]].view(), array![[0.5f64, 0.5]].view()).unwrap();
        /// assert!((v[0] - 0.25 * 0.25 * 2f64.ln()).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`KerasCategoricalFocalCrossentropy`]: its formula, the reference's semantics and the paper.
    }

    /// [`KerasCategoricalGeneralizedCrossEntropy`] with `q`.
    pub fn keras_categorical_generalized_cross_entropy(y_true: labels, y_pred: float; q: f64) = KerasCategoricalGeneralizedCrossEntropy {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::classification::keras_categorical_generalized_cross_entropy(array![0i32].view(), array![[0.25f64, 0.75]].view(), 0.5).unwrap();
        /// assert_eq!(v[0], 1.0); // (1 − √0.25) / 0.5
        /// ```
        ///
        /// # References
        /// [`KerasCategoricalGeneralizedCrossEntropy`]: its formula, the reference's semantics and the paper.
    }
}
