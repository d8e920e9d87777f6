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
use crate::machinery::kernels::elementwise::{logistic, ElemOp, Lanes};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use crate::machinery::kernels::rows::{self, lane_sum, lane_sum2_zip_store, lane_sum_zip, zip_store};
use crate::machinery::reduction::{sum_f64, Reducer, Reduction};
use crate::math::*;
use ndarray::{ArrayD, ArrayView, Dimension};

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

/// A binary loss's element on the smoothed label, as an element-wise op of
/// the machinery's sweep (`x` the label, `y` the prediction): `el(t̃, p) =
/// (ℓ, ∂ℓ/∂t̃, ∂ℓ/∂p)` at `t̃ = t (1 − ls) + ls / 2`, the label's gradient
/// times `1 − ls`; in `f64` by the portable loop (the options without an
/// `f32` form of their own: [`KerasBce`], [`KerasFocal`] have one).
#[derive(Clone, Copy)]
struct Smoothed<E> {
    ls: f64,
    el: E,
}

impl<E: Fn(f64, f64) -> (f64, f64, f64) + Copy + Send + Sync> ElemOp for Smoothed<E> {
    #[inline(always)]
    fn eval(self, t: f64, p: f64) -> (f64, f64, f64) {
        let (v, dt, dp) = (self.el)(t * (1.0 - self.ls) + 0.5 * self.ls, p);
        (v, dt * (1.0 - self.ls), dp)
    }
}

/// Keras's smoothed label on 16 `f32` lanes, `t (1 − ls) + ls / 2` in
/// Keras's order of operations, and the factor `1 − ls` of its gradient.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn smoothed_ps(t: __m512, ls: f64) -> (__m512, __m512) {
    let keep = _mm512_set1_ps((1.0 - ls) as f32);
    (_mm512_add_ps(_mm512_mul_ps(t, keep), _mm512_set1_ps((0.5 * ls) as f32)), keep)
}

/// Keras's binary cross entropy on `f32` lanes: `(ℓ, ∂ℓ/∂t, ∂ℓ/∂p)` of
/// `−(t ln c + (1 − t) ln(1 − c))`, `c = clip(p, ε, 1 − ε)` with Keras's
/// `float32` bounds (`1 − ε` = 0.99999988). Each term is computed where it
/// does not cancel (so within a few ulp of the `f64` truth of the `f32`
/// operands, where Keras's own `float32` program loses digits): `ln c` by
/// [`ln_ps`], `ln(1 − c)` by [`log1p_ps`]`(−c)`, `∂ℓ/∂t = ln((1 − c) / c)`
/// by `log1p((1 − 2c) / c)` for `c ∈ [⅓, ⅔]` (else the difference of the two
/// logs, at least `ln 2` apart), `∂ℓ/∂p = (c − t) / (c (1 − c))` (the same
/// as `(1 − t)/(1 − c) − t/c`), times the clip's gradient.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn keras_bce_ps(t: __m512, p: __m512) -> (__m512, __m512, __m512) {
    use crate::machinery::clip::x86::{clip_grad_ps, clip_ps};
    use crate::machinery::kernels::elementwise::x86::{ln_ps, log1p_ps, log1p_unit_ps};
    let one = _mm512_set1_ps(1.0);
    let lo = _mm512_set1_ps(KERAS_EPSILON as f32);
    let hi = _mm512_sub_ps(one, lo);
    let c = clip_ps(p, lo, hi);
    let (c1, t1) = (_mm512_sub_ps(one, c), _mm512_sub_ps(one, t));
    let (lc, l1c) = (ln_ps(c), log1p_ps(_mm512_sub_ps(_mm512_setzero_ps(), c)));
    let v = _mm512_add_ps(_mm512_mul_ps(t, lc), _mm512_mul_ps(t1, l1c));
    // ln((1 − c) / c) = log1p((1 − 2c) / c), its operand in [−½, 1] for c ∈ [⅓, ⅔].
    let mid = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(c, _mm512_set1_ps(1.0 / 3.0)) & _mm512_cmp_ps_mask::<_CMP_LE_OQ>(c, _mm512_set1_ps(2.0 / 3.0));
    let x = _mm512_div_ps(_mm512_fnmadd_ps(_mm512_set1_ps(2.0), c, one), c);
    let dt = _mm512_mask_mov_ps(_mm512_sub_ps(l1c, lc), mid, log1p_unit_ps(_mm512_maskz_mov_ps(mid, x)));
    let dp = _mm512_div_ps(_mm512_sub_ps(c, t), _mm512_mul_ps(c, c1));
    (_mm512_sub_ps(_mm512_setzero_ps(), v), dt, _mm512_mul_ps(dp, clip_grad_ps(p, lo, hi)))
}

/// Keras's binary cross entropy on probabilities ([`keras_bce`]) with label
/// smoothing `ls`, as an element-wise op; `f32` inputs on AVX-512 compute in
/// 16 `f32` lanes ([`keras_bce_ps`]), as Keras's `float32` program does.
#[derive(Clone, Copy)]
struct KerasBce {
    ls: f64,
}

impl ElemOp for KerasBce {
    #[inline(always)]
    fn eval(self, t: f64, p: f64) -> (f64, f64, f64) {
        Smoothed { ls: self.ls, el: |t, p| keras_bce(t, p, false) }.eval(t, p)
    }

    const LANES512: Lanes = Lanes::F32;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_ps(self, t: __m512, p: __m512) -> (__m512, __m512, __m512) {
        let (ts, keep) = smoothed_ps(t, self.ls);
        let (v, dt, dp) = keras_bce_ps(ts, p);
        (v, _mm512_mul_ps(dt, keep), dp)
    }
}

/// The row sweep of a binary loss given as an [`ElemOp`] (the mean over the
/// last axis, one pass), when both tensors have one shape, are contiguous and
/// `axis` is the last; `None` otherwise (the general path's then).
fn binary_rows<T: Float, D: Dimension, O: ElemOp>(
    loss: &'static str,
    y_true: &ArrayView<'_, T, D>,
    y_pred: &ArrayView<'_, T, D>,
    axis: isize,
    reduction: Reduction,
    up: &Upstream<'_, T>,
    op: O,
) -> Result<Option<PairOutput<T>>> {
    let nd = y_pred.ndim() as isize;
    if axis != -1 && axis != nd - 1 {
        return Ok(None);
    }
    pair_rows_op(loss, ("y_true", y_true), y_pred, reduction, up, op, true)
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
        up: &Upstream<'_, T>,
    ) -> Result<PairOutput<T>> {
        check_smoothing!(Self::NAME, self.label_smoothing)?;
        let ls = self.label_smoothing;
        let fl = self.from_logits;
        // The row sweep (one instantiation per `from_logits`), else the general path.
        let fused = if fl {
            binary_rows(Self::NAME, y_true, y_pred, self.axis, self.reduction, up, Smoothed { ls, el: |t, p| keras_bce(t, p, true) })?
        } else {
            binary_rows(Self::NAME, y_true, y_pred, self.axis, self.reduction, up, KerasBce { ls })?
        };
        if let Some(done) = fused {
            return Ok(done);
        }
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), self.axis, self.reduction, up.given(), |t, p, g| {
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

/// Keras's binary focal cross entropy of one element: `(ℓ, ∂ℓ/∂t_smoothed,
/// ∂ℓ/∂y_pred)` at label `t` (smoothed already) and prediction `x` (a logit
/// where `fl`), `(α, γ, class balancing)`, `pows(u) = (u^γ, u^(γ−1))`.
#[inline(always)]
fn focal_element(t: f64, x: f64, (a, g, balancing): (f64, f64, bool), fl: bool, pows: impl Fn(f64) -> (f64, f64)) -> (f64, f64, f64) {
    let p = if fl { logistic(x).sigmoid } else { x };
    let (bce, dbce_dt, dbce_dp) = keras_bce(t, p, false);
    let pt = t * p + (1.0 - t) * (1.0 - p);
    let u = 1.0 - pt;
    let (ff, fm1) = pows(u);
    let dff = g * fm1;
    let w = if balancing { t * a + (1.0 - t) * (1.0 - a) } else { 1.0 };
    let v = w * (ff * bce);
    // u = 1 − (t p + (1 − t)(1 − p)):  ∂u/∂p = 1 − 2t,  ∂u/∂t = 1 − 2p
    let dp = w * (dff * (1.0 - 2.0 * t) * bce + ff * dbce_dp);
    let mut dt = w * (dff * (1.0 - 2.0 * p) * bce + ff * dbce_dt);
    if balancing {
        dt += (2.0 * a - 1.0) * (ff * bce);
    }
    let dx = if fl { dp * (p * (1.0 - p)) } else { dp };
    (v, dt, dx)
}

/// Keras's binary focal cross entropy on probabilities at `γ = 2` (its
/// default) with label smoothing `ls`, as an element-wise op: the portable
/// loop runs [`focal_element`] in `f64`; `f32` inputs on AVX-512 compute it
/// in 16 `f32` lanes, in its order of operations, on [`keras_bce_ps`].
#[derive(Clone, Copy)]
struct KerasFocal {
    ls: f64,
    alpha: f64,
    balancing: bool,
}

impl ElemOp for KerasFocal {
    #[inline(always)]
    fn eval(self, t: f64, p: f64) -> (f64, f64, f64) {
        let opts = (self.alpha, 2.0, self.balancing);
        Smoothed { ls: self.ls, el: |t, p| focal_element(t, p, opts, false, |u| (u * u, u)) }.eval(t, p)
    }

    const LANES512: Lanes = Lanes::F32;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_ps(self, t: __m512, p: __m512) -> (__m512, __m512, __m512) {
        let one = _mm512_set1_ps(1.0);
        let (t, keep) = smoothed_ps(t, self.ls);
        let (bce, dbce_dt, dbce_dp) = keras_bce_ps(t, p);
        let (t1, p1) = (_mm512_sub_ps(one, t), _mm512_sub_ps(one, p));
        let u = _mm512_sub_ps(one, _mm512_add_ps(_mm512_mul_ps(t, p), _mm512_mul_ps(t1, p1)));
        let (ff, dff) = (_mm512_mul_ps(u, u), _mm512_add_ps(u, u));
        let ffb = _mm512_mul_ps(ff, bce);
        let two = _mm512_set1_ps(2.0);
        let dp = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(dff, _mm512_fnmadd_ps(two, t, one)), bce), _mm512_mul_ps(ff, dbce_dp));
        let dt = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(dff, _mm512_fnmadd_ps(two, p, one)), bce), _mm512_mul_ps(ff, dbce_dt));
        let (v, dp, dt) = if self.balancing {
            let a = _mm512_set1_ps(self.alpha as f32);
            let w = _mm512_add_ps(_mm512_mul_ps(t, a), _mm512_mul_ps(t1, _mm512_sub_ps(one, a)));
            let extra = _mm512_mul_ps(_mm512_set1_ps((2.0 * self.alpha - 1.0) as f32), ffb);
            (_mm512_mul_ps(w, ffb), _mm512_mul_ps(w, dp), _mm512_add_ps(_mm512_mul_ps(w, dt), extra))
        } else {
            (ffb, dp, dt)
        };
        (v, _mm512_mul_ps(dt, keep), dp)
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
        focal_element(t, x, (self.alpha, self.gamma, self.apply_class_balancing), fl, pows)
    }

    fn run<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
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
        let (a, b, r, u) = (y_true, y_pred, self.reduction, up);
        let fused = match (fl, gm == 2.0) {
            (true, true) => binary_rows(Self::NAME, a, b, self.axis, r, u, Smoothed { ls, el: |t, p| self.element(t, p, true, sq) })?,
            (false, true) => binary_rows(Self::NAME, a, b, self.axis, r, u, KerasFocal { ls, alpha: self.alpha, balancing: self.apply_class_balancing })?,
            (true, false) => binary_rows(Self::NAME, a, b, self.axis, r, u, Smoothed { ls, el: |t, p| self.element(t, p, true, pw) })?,
            (false, false) => binary_rows(Self::NAME, a, b, self.axis, r, u, Smoothed { ls, el: |t, p| self.element(t, p, false, pw) })?,
        };
        if let Some(done) = fused {
            return Ok(done);
        }
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), self.axis, self.reduction, up.given(), |t, p, g| {
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
        up: &Upstream<'_, T>,
    ) -> Result<PairOutput<T>> {
        check_smoothing!(Self::NAME, self.label_smoothing)?;
        let ls = self.label_smoothing;
        let classes = y_true.shape().last().copied().unwrap_or(1);
        let fl = self.from_logits;
        if let Some(done) = self.fused(y_true, y_pred, up)? {
            return Ok(done);
        }
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), self.axis, self.reduction, up.given(), |t, x, g| {
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
    fn fused<T: Float, D: Dimension>(&self, y_true: &ArrayView<'_, T, D>, y_pred: &ArrayView<'_, T, D>, up: &Upstream<'_, T>) -> Result<Option<PairOutput<T>>> {
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
        let (value, grads) = eval_rows(Self::NAME, &reducer, shape, (rows, c), up, true, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
            let (t, x) = (&ts[r * c..(r + 1) * c], &xs[r * c..(r + 1) * c]);
            let s = lane_sum(x, |v| v);
            // The row's divisions by s and s² as products with their
            // reciprocals (f64 divisions, 8 lanes at a time, are the loops'
            // bottleneck).
            let inv = 1.0 / s;
            let Some(g) = g else { return -lane_sum_zip(t, x, |tk, xk| smooth(tk, ls, c) * rows::ln(clip(xk * inv, lo, hi))) };
            let (up, inv2) = (g.up, 1.0 / (s * s));
            // The value's sum, the cross term's and y_true's gradient in one
            // loop (one ln an element; the same lanes as two sums apart),
            // then y_pred's gradient, which needs the cross term. ∂/∂lp = −t̃;
            // through the clip and the renormalisation.
            let (v, cross) = lane_sum2_zip_store(t, x, g.go, #[inline(always)] |tk, xk| {
                let q = xk * inv;
                let l = rows::ln(clip(q, lo, hi));
                let cross = -(-smooth(tk, ls, c) / clip(q, lo, hi) * clip_grad(q, lo, hi)) * xk * inv2;
                (smooth(tk, ls, c) * l, cross, up * (-l * ft))
            });
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
        up: &Upstream<'_, T>,
    ) -> Result<PairOutput<T>> {
        check_smoothing!(Self::NAME, self.label_smoothing)?;
        check_option(Self::NAME, "gamma", self.gamma, !self.gamma.is_nan(), "a number")?;
        check_option(Self::NAME, "alpha", self.alpha, !self.alpha.is_nan(), "a number")?;
        let (ls, a, gm) = (self.label_smoothing, self.alpha, self.gamma);
        if let Some(done) = self.fused(y_true, y_pred, up)? {
            return Ok(done);
        }
        let classes = y_true.shape().last().copied().unwrap_or(1);
        // Keras renormalises (or softmaxes) y_pred over its own class axis, then broadcasts.
        let shapes = PairShapes::Numpy { own_lane: [false, true], keras_rank: false };
        run_pair_with(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), self.axis, shapes, self.reduction, up.given(), |t, x, g| {
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
    fn fused<T: Float, D: Dimension>(&self, y_true: &ArrayView<'_, T, D>, y_pred: &ArrayView<'_, T, D>, up: &Upstream<'_, T>) -> Result<Option<PairOutput<T>>> {
        let nd = y_pred.ndim() as isize;
        if self.from_logits || (self.axis != -1 && self.axis != nd - 1) {
            return Ok(None);
        }
        if self.gamma == 2.0 {
            self.fused_with(y_true, y_pred, up, #[inline(always)] |b: f64| (b * b, b))
        } else {
            let gm = self.gamma;
            self.fused_with(y_true, y_pred, up, #[inline(always)] |b: f64| (b.powf(gm), b.powf(gm - 1.0)))
        }
    }

    /// [`Self::fused`] with `pows(b) = (b^γ, b^(γ−1))`.
    fn fused_with<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
        pows: impl Fn(f64) -> (f64, f64) + Sync,
    ) -> Result<Option<PairOutput<T>>> {
        let (ls, a, gm) = (self.label_smoothing, self.alpha, self.gamma);
        let (lo, hi) = (KERAS_EPSILON, 1.0 - KERAS_EPSILON);
        let ft = if ls != 0.0 { 1.0 - ls } else { 1.0 };
        Ok(eval_pair_rows(Self::NAME, ("y_true", y_true), y_pred, self.reduction, up, #[inline(always)] |t: &[T], x: &[T], g: Option<RowGrads<'_, T>>| {
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
            let Some(g) = g else { return lane_sum_zip(t, x, #[inline(always)] |tk, xk| at(tk, xk).1) };
            let up = g.up;
            // The value's sum, the cross term's and y_true's gradient in one
            // loop (the same lanes as two sums apart), then y_pred's gradient,
            // which needs the cross term.
            let (v, cross) = lane_sum2_zip_store(t, x, g.gx, #[inline(always)] |tk, xk| {
                let (d, term, lq, m) = at(tk, xk);
                (term, -d * xk * inv2, up * (a * m * -lq * ft))
            });
            zip_store(t, x, g.go, #[inline(always)] |tk, xk| up * (at(tk, xk).0 * inv + cross));
            v
        })?.map(pair_output))
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
        up: &Upstream<'_, T>,
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
        if let Some(done) = self.fused(y_true, y_pred, up)? {
            return Ok(done);
        }
        let fl = self.from_logits;
        run_labels(Self::NAME, ("y_pred", y_pred), ("y_true", y_true), true, self.ignore_class, self.reduction, up.given(), |x, lab, g| {
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
        up: &Upstream<'_, T>,
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
        let (lo, hi) = (KERAS_EPSILON, 1.0 - KERAS_EPSILON);
        let (value, grads) = eval_rows(Self::NAME, &reducer, shape, (rows, c), up, false, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
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
        up: &Upstream<'_, T>,
    ) -> Result<(ArrayD<T>, Option<ArrayD<T>>)> {
        let q = self.q;
        check_option(Self::NAME, "q", q, q > 0.0, "a number > 0 (Keras documents the range (0, 1))")?;
        if let Some(done) = self.fused(y_true, y_pred, up)? {
            return Ok(done);
        }
        run_labels(Self::NAME, ("y_pred", y_pred), ("y_true", y_true), false, None, self.reduction, up.given(), |x, lab, g| {
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
        up: &Upstream<'_, T>,
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
        // Per row its `p`; per batch of rows their `p^q` (`pow_batch`: for
        // `f32` results in `f64` lanes, else libm's `pow`); then per row the
        // loss and its gradient row, written in full (`full`: no zeroing first).
        let (value, grads) = eval_rows_batched(
            Self::NAME,
            &reducer,
            shape,
            (rows, c),
            up,
            true,
            #[inline(always)]
            |r: usize| {
                let x = &xs[r * c..(r + 1) * c];
                let y = labs[r].expect("no ignored class");
                // The others' `x · 0` sum to +0 (the lanes start at +0), or NaN
                // where one is not finite: a test that vectorises in place of the sum.
                let finite = inlined(#[inline(always)] |v: &[T]| v.iter().fold(true, |ok, &e| ok & (e * T::zero() == T::zero())));
                // The whole row first (its length's loop; the two sides of the
                // label would leave each a scalar remainder), the sides where
                // the row holds a non-finite value.
                let zeros = if finite(x) || (finite(&x[..y]) & finite(&x[y + 1..])) { 0.0 } else { f64::NAN };
                x[y].to_wide() + zeros
            },
            |p: &[f64], pq: &mut [f64]| crate::machinery::kernels::elementwise::pow_batch(p, q, pq, T::NAME == f32::NAME),
            #[inline(always)]
            |r: usize, p: f64, pq: f64, g: Option<RowGrads<'_, T>>| {
                let v = (1.0 - pq) / q;
                if let Some(g) = g {
                    let y = labs[r].expect("no ignored class");
                    // p^(q − 1) as p^q / p (p^q from the batch step: no
                    // second pow), pow itself where that division is not
                    // p^(q − 1)'s value (p = 0, ∞, negative or NaN).
                    let pq1 = if p > 0.0 && pq.is_finite() && pq > 0.0 { pq / p } else { p.powf(q - 1.0) };
                    let dp = (-1.0 / q) * (q * pq1);
                    let off = T::from_wide(g.up * (0.0 * dp));
                    g.gx.fill(off);
                    g.gx[y] = T::from_wide(g.up * dp);
                }
                v
            },
        )?;
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
