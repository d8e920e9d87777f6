//! Regression losses reduced per sample over the last axis, as Keras computes
//! them: log-cosh, mean squared logarithmic error, mean absolute percentage
//! error, Huber.

#[allow(unused_imports)] // for the docs' links
use crate::machinery::error::LossError;
use crate::machinery::error::Result;
use crate::machinery::float::Float;
use crate::machinery::lanes::*;
use crate::machinery::methods::*;
use crate::machinery::clip::*;
use crate::machinery::kernels::elementwise::{exp_nonpos, log1p_unit, ElemOp, Lanes};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use crate::machinery::kernels::rows::ln_1p_nonneg;
use crate::machinery::reduction::{sum_f64, Reduction};
use crate::math::*;
use ndarray::{ArrayD, ArrayView, Dimension};

// ---------------------------------------------------------------------------------------
// log_cosh, mean_squared_logarithmic_error, mean_absolute_percentage_error

/// `(log cosh x, tanh x)` in arithmetic that vectorises, by the general path's
/// split ([`log_cosh_f64`]): for `|x| < 1`, `s = sinh(x/2)` by its series (to
/// `x¹⁵`, truncation below 10⁻¹⁷), `log1p(2 s²)` and `tanh x = 2 s √(1 + s²) /
/// (1 + 2 s²)`; beyond, `e = exp(−2|x|)`, `|x| + log1p(e) − log 2` and
/// `±(1 − e) / (1 + e)`. NaN propagates; `±∞` gives `∞` and `±1`.
#[inline(always)]
pub(super) fn log_cosh_tanh(x: f64) -> (f64, f64) {
    let a = x.abs();
    let small = a < 1.0;
    let y = 0.5 * if small { x } else { 0.0 };
    let y2 = y * y;
    let mut p = 1.0 / 1_307_674_368_000.0; // 1/15!
    for c in [1.0 / 6_227_020_800.0, 1.0 / 39_916_800.0, 1.0 / 362_880.0, 1.0 / 5_040.0, 1.0 / 120.0, 1.0 / 6.0, 1.0] {
        p = p * y2 + c;
    }
    let s = y * p;
    let w = 2.0 * (s * s);
    let e = exp_nonpos(-2.0 * a);
    // One log1p and one division serve both sides (each side's operands
    // chosen first, the same operations as computing both): `w ≤ 0.55` and
    // `e ≤ e⁻²` are both in log1p_unit's [0, 1].
    let l = log1p_unit(if small { w } else { e });
    let (num, den) = if small { (2.0 * s * (1.0 + s * s).sqrt(), 1.0 + w) } else { (1.0 - e, 1.0 + e) };
    let t = num / den;
    if small { (l, t) } else { (a + l - std::f64::consts::LN_2, t.copysign(x)) }
}

/// log-cosh as an element-wise op of the machinery's sweep: `(log cosh(x −
/// y), tanh(x − y), −tanh(x − y))`. The portable loop (`f64` inputs, CPUs
/// without AVX-512) runs [`log_cosh_tanh`] in `f64`; `f32` inputs on AVX-512
/// take [`ElemOp::eval_ps`], the same split in 16 `f32` lanes.
#[derive(Clone, Copy)]
pub(crate) struct LogCosh;

impl ElemOp for LogCosh {
    #[inline(always)]
    fn eval(self, x: f64, y: f64) -> (f64, f64, f64) {
        let (l, t) = log_cosh_tanh(x - y);
        (l, t, -t)
    }

    const LANES512: Lanes = Lanes::F32;

    /// [`log_cosh_tanh`]'s split in `f32` lanes, `d = x − y` rounded to `f32`:
    /// for `|d| < 1`, `s = sinh(d/2)` by its series to `d⁹` (truncation below
    /// 10⁻¹⁰ relative), `log1p(2 s²)` and `tanh d = 2 s √(1 + s²) / (1 + 2 s²)`;
    /// beyond, `e = exp(−2|d|)`, `(|d| − ln 2) + log1p(e)` (`ln 2` in two
    /// parts) and `±(1 − e) / (1 + e)`. The exp, log1p and reciprocal are BCE
    /// with logits' (within 1, 2.5 and ¼ ulp). Within 8 ulp of the `f64`
    /// truth of `f32` operands (tested); NaN propagates, `±∞` gives `∞` and `±1`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_ps(self, x: __m512, y: __m512) -> (__m512, __m512, __m512) {
        use crate::machinery::kernels::elementwise::x86::{exp_ps, log1p_unit_ps, recip_ps};
        // ln 2 = LN2_HI + LN2_LO, LN2_HI the nearest f32.
        const LN2_HI: f32 = std::f32::consts::LN_2;
        const LN2_LO: f32 = (std::f64::consts::LN_2 - LN2_HI as f64) as f32;
        let one = _mm512_set1_ps(1.0);
        let d = _mm512_sub_ps(x, y);
        let a = _mm512_abs_ps(d);
        let small = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, one);
        // d/2 on the small side, 0 beyond (so that s stays finite there).
        let h = _mm512_maskz_mov_ps(small, _mm512_mul_ps(d, _mm512_set1_ps(0.5)));
        let h2 = _mm512_mul_ps(h, h);
        let mut p = _mm512_set1_ps(1.0 / 362_880.0);
        for c in [1.0 / 5_040.0, 1.0 / 120.0, 1.0 / 6.0] {
            p = _mm512_fmadd_ps(p, h2, _mm512_set1_ps(c));
        }
        let s = _mm512_fmadd_ps(_mm512_mul_ps(h, h2), p, h);
        let s2 = _mm512_mul_ps(s, s);
        let w = _mm512_add_ps(s2, s2);
        let e = exp_ps(_mm512_mul_ps(a, _mm512_set1_ps(-2.0)));
        // One log1p and one reciprocal serve both sides (w ≤ 0.55, e ≤ e⁻²).
        let l = log1p_unit_ps(_mm512_mask_blend_ps(small, e, w));
        let two_s = _mm512_add_ps(s, s);
        let num = _mm512_mask_blend_ps(small, _mm512_sub_ps(one, e), _mm512_mul_ps(two_s, _mm512_sqrt_ps(_mm512_add_ps(one, s2))));
        let den = _mm512_add_ps(one, _mm512_mask_blend_ps(small, e, w));
        let t = _mm512_mul_ps(num, recip_ps(den));
        let far = _mm512_add_ps(_mm512_sub_ps(a, _mm512_set1_ps(LN2_HI)), _mm512_sub_ps(l, _mm512_set1_ps(LN2_LO)));
        let value = _mm512_mask_blend_ps(small, far, l);
        // tanh's sign is d's (the small side's s carries it already; NaN stays NaN).
        let sign = _mm512_set1_epi32(i32::MIN);
        // (bitwise `sign ? d : t`)
        let t = _mm512_castsi512_ps(_mm512_ternarylogic_epi32::<0xCA>(sign, _mm512_castps_si512(d), _mm512_castps_si512(t)));
        let neg_t = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(t), sign));
        (value, t, neg_t)
    }
}

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
/// Shapes: `y_true` and `y_pred` broadcast together as Keras broadcasts them: where
/// the ranks differ by one, a trailing axis of size 1 is first squeezed or expanded
/// (`squeeze_or_expand_to_same_rank`: `y_true` `(N,)` against `y_pred` `(N, 1)`
/// gives `(N,)`), then NumPy's rule (`(N, 1)` or `(1, C)` against `(N, C)`, either
/// way); the mean runs over the last axis of the broadcast shape and each gradient
/// is summed back to its tensor's shape.
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::regression::KerasLogCosh;
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
        up: &Upstream<'_, T>,
    ) -> Result<PairOutput<T>> {
        // The row sweep for one shape, contiguous (each row on the element-wise
        // sweep's loop, value and both gradients in one pass: log cosh is even,
        // so `LogCosh` at (y_true, y_pred) gives log cosh(y_pred − y_true) and
        // the gradients of y_true and y_pred, in that order); the general path
        // otherwise.
        if let Some(done) = pair_rows_op(Self::NAME, ("y_true", y_true), y_pred, self.reduction, up, LogCosh, true)? {
            return Ok(done);
        }
        run_pair_with(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), -1, PairShapes::KERAS_RANK, self.reduction, up.given(), |t, p, g| {
            mean_lane(t, p, g, |t, p| log_cosh_f64(p - t), |t, p| {
                let d = (p - t).tanh();
                (-d, d)
            })
        })
    }
    loss_methods!(keras: run(input = last), (y_true: float, y_pred: float));
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
/// Shapes: `y_true` and `y_pred` broadcast together as Keras broadcasts them: where
/// the ranks differ by one, a trailing axis of size 1 is first squeezed or expanded
/// (`squeeze_or_expand_to_same_rank`: `y_true` `(N,)` against `y_pred` `(N, 1)`
/// gives `(N,)`), then NumPy's rule (`(N, 1)` or `(1, C)` against `(N, C)`, either
/// way); the mean runs over the last axis of the broadcast shape and each gradient
/// is summed back to its tensor's shape.
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::regression::KerasMeanSquaredLogarithmicError;
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

/// Keras's squared log error as an element-wise op of the machinery's sweep
/// (`x` the label `t`, `y` the prediction `p`; `p̂ = max(p, ε)`, `t̂`
/// likewise, NaN kept): `(d², −2d / (t̂ + 1) · ∂max, 2d / (p̂ + 1) · ∂max)`
/// with `d = ln(p̂ + 1) − ln(t̂ + 1)`. The portable loop computes in `f64`,
/// the logarithms by [`ln_1p_nonneg`]; `f32` inputs on AVX-512 compute in
/// 16 `f32` lanes, `d` where it does not cancel: `log1p((p̂ − t̂) · (1 /
/// (1 + t̂)))` where that operand is in `[−½, 1]`, else `ln((p̂ + 1) · (1 /
/// (t̂ + 1)))` (`|d| > ln 2` there, so the roundings of the sums and their
/// ratio move `d` by a few of its ulp): within 16 ulp of the `f64` truth of
/// the `f32` operands (tested), where Keras's `float32` program
/// (`log(p̂ + 1) − log(t̂ + 1)` everywhere) loses digits as `d` cancels.
#[derive(Clone, Copy)]
struct Msle;

impl ElemOp for Msle {
    #[inline(always)]
    fn eval(self, t: f64, p: f64) -> (f64, f64, f64) {
        let e = KERAS_EPSILON;
        let lf = |v: f64| ln_1p_nonneg(if v.is_nan() { v } else { v.max(e) });
        let d = lf(p) - lf(t);
        (d * d, -2.0 * d / (t.max(e) + 1.0) * max_grad(t, e), 2.0 * d / (p.max(e) + 1.0) * max_grad(p, e))
    }

    const LANES512: Lanes = Lanes::F32;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_ps(self, t: __m512, p: __m512) -> (__m512, __m512, __m512) {
        use crate::machinery::clip::x86::max_grad_ps;
        use crate::machinery::kernels::elementwise::x86::{ln_ps, log1p_unit_ps};
        let (one, e) = (_mm512_set1_ps(1.0), _mm512_set1_ps(KERAS_EPSILON as f32));
        // max(ε, v) returns v where v is NaN.
        let (mt, mp) = (_mm512_max_ps(e, t), _mm512_max_ps(e, p));
        let (ut, up) = (_mm512_add_ps(mt, one), _mm512_add_ps(mp, one));
        // 1 / (t̂ + 1) once, for the quotient and ∂/∂t.
        let rt = _mm512_div_ps(one, ut);
        let x = _mm512_mul_ps(_mm512_sub_ps(mp, mt), rt);
        let near = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_set1_ps(-0.5)) & _mm512_cmp_ps_mask::<_CMP_LE_OQ>(x, one);
        // Far apart (|d| > ln 2): the logarithm of the sums' ratio, rounded
        // twice (an ulp of it moves d by under two of d's), where a difference
        // of two logarithms would carry the absolute error of each (at
        // t̂ = 10⁶, 18 ulp of d).
        let far = ln_ps(_mm512_mul_ps(up, rt));
        let d = _mm512_mask_mov_ps(far, near, log1p_unit_ps(_mm512_maskz_mov_ps(near, x)));
        let d2 = _mm512_add_ps(d, d);
        let dt = _mm512_mul_ps(_mm512_mul_ps(d2, rt), max_grad_ps(t, e));
        let dp = _mm512_mul_ps(_mm512_div_ps(d2, up), max_grad_ps(p, e));
        (_mm512_mul_ps(d, d), _mm512_sub_ps(_mm512_setzero_ps(), dt), dp)
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
        up: &Upstream<'_, T>,
    ) -> Result<PairOutput<T>> {
        let e = KERAS_EPSILON;
        // The row sweep for one shape, contiguous (one pass); the general path otherwise.
        let fused = pair_rows_op(Self::NAME, ("y_true", y_true), y_pred, self.reduction, up, Msle, true)?;
        if let Some(done) = fused {
            return Ok(done);
        }
        let lg = move |v: f64| if v.is_nan() { v } else { v.max(e) }.ln_1p();
        run_pair_with(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), -1, PairShapes::KERAS_RANK, self.reduction, up.given(), |t, p, g| {
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
    loss_methods!(keras: run(input = last), (y_true: float, y_pred: float));
}

/// [`KerasMeanAbsolutePercentageError`] at one element `(y_true, y_pred)`:
/// `100 |(t − p) / max(|t|, ε)|` and its derivatives as `jax.grad` gives them
/// (`d|x|/dx = 1` at 0, the clip's ½ at `|t| = ε`), for the row sweep: on
/// `f32` inputs with AVX-512, 8 `f64` lanes by the same operations (the same
/// bits per element); the portable loop vectorised this body across groups,
/// with gathers.
#[derive(Clone, Copy)]
struct KerasMapeOp;

impl KerasMapeOp {
    /// `max(|t|, ε)`, NaN kept.
    #[inline(always)]
    fn den(t: f64) -> f64 {
        if t.is_nan() { t } else { t.abs().max(KERAS_EPSILON) }
    }
}

impl ElemOp for KerasMapeOp {
    #[inline(always)]
    fn eval(self, t: f64, p: f64) -> (f64, f64, f64) {
        let (d, m) = (t - p, Self::den(t));
        let r = 100.0 * abs_grad(d / m);
        let dt = r / m + (-r * d / (m * m)) * max_grad(t.abs(), KERAS_EPSILON) * abs_grad(t);
        (100.0 * (d / m).abs(), dt, -r / m)
    }

    const LANES512: Lanes = Lanes::F64;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_pd(self, t: __m512d, p: __m512d) -> (__m512d, __m512d, __m512d) {
        let (zero, one, hundred) = (_mm512_setzero_pd(), _mm512_set1_pd(1.0), _mm512_set1_pd(100.0));
        let eps = _mm512_set1_pd(KERAS_EPSILON);
        use crate::machinery::kernels::elementwise::x86::neg_pd as neg;
        // ±1 as abs_grad: +1 where x ≥ 0, −1 otherwise (NaN included)
        let sign = |x: __m512d| _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_GE_OQ>(x, zero), neg(one), one);
        let at = _mm512_abs_pd(t);
        // max(ε, |t|) returns |t| where it is NaN (the second operand)
        let m = _mm512_max_pd(eps, at);
        let d = _mm512_sub_pd(t, p);
        let q = _mm512_div_pd(d, m);
        let r = _mm512_mul_pd(hundred, sign(q));
        let above = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(at, eps);
        let tie = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(at, eps);
        let mg = _mm512_mask_blend_pd(above, _mm512_maskz_mov_pd(tie, _mm512_set1_pd(0.5)), one);
        let cross = _mm512_mul_pd(_mm512_mul_pd(_mm512_div_pd(_mm512_mul_pd(neg(r), d), _mm512_mul_pd(m, m)), mg), sign(t));
        let dt = _mm512_add_pd(_mm512_div_pd(r, m), cross);
        (_mm512_mul_pd(hundred, _mm512_abs_pd(q)), dt, _mm512_div_pd(neg(r), m))
    }
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
/// Shapes: `y_true` and `y_pred` broadcast together as Keras broadcasts them: where
/// the ranks differ by one, a trailing axis of size 1 is first squeezed or expanded
/// (`squeeze_or_expand_to_same_rank`: `y_true` `(N,)` against `y_pred` `(N, 1)`
/// gives `(N,)`), then NumPy's rule (`(N, 1)` or `(1, C)` against `(N, C)`, either
/// way); the mean runs over the last axis of the broadcast shape and each gradient
/// is summed back to its tensor's shape.
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::regression::KerasMeanAbsolutePercentageError;
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
        up: &Upstream<'_, T>,
    ) -> Result<PairOutput<T>> {
        let e = KERAS_EPSILON;
        // The row sweep for one shape, contiguous (each row on the element-wise
        // sweep's loop, value and both gradients in one pass); the general path
        // otherwise.
        if let Some(done) = pair_rows_op(Self::NAME, ("y_true", y_true), y_pred, self.reduction, up, KerasMapeOp, true)? {
            return Ok(done);
        }
        let den = |t: f64| KerasMapeOp::den(t);
        run_pair_with(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), -1, PairShapes::KERAS_RANK, self.reduction, up.given(), |t, p, g| {
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
    loss_methods!(keras: run(input = last), (y_true: float, y_pred: float));
}

free_fn! {
    /// [`KerasLogCosh`]: `keras.losses.log_cosh(y_true, y_pred)`.
    pub fn keras_log_cosh(y_true: float, y_pred: float) = KerasLogCosh {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::regression::keras_log_cosh(array![[0.0f64]].view(), array![[1000.0f64]].view()).unwrap();
        /// assert_eq!(v[0], 1000.0 - 2f64.ln());
        /// ```
        ///
        /// # References
        /// [`KerasLogCosh`]: its formula, the reference's semantics and the paper.
    }

    /// [`KerasMeanSquaredLogarithmicError`]: `keras.losses.mean_squared_logarithmic_error(y_true, y_pred)`.
    pub fn keras_mean_squared_logarithmic_error(y_true: float, y_pred: float) = KerasMeanSquaredLogarithmicError {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::regression::keras_mean_squared_logarithmic_error(array![[0.0f64]].view(), array![[-5.0f64]].view()).unwrap();
        /// assert_eq!(v[0], 0.0); // both are replaced by epsilon
        /// ```
        ///
        /// # References
        /// [`KerasMeanSquaredLogarithmicError`]: its formula, the reference's semantics and the paper.
    }

    /// [`KerasMeanAbsolutePercentageError`]: `keras.losses.mean_absolute_percentage_error(y_true, y_pred)`.
    pub fn keras_mean_absolute_percentage_error(y_true: float, y_pred: float) = KerasMeanAbsolutePercentageError {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::regression::keras_mean_absolute_percentage_error(array![[2.0f64]].view(), array![[1.0f64]].view()).unwrap();
        /// assert_eq!(v[0], 50.0);
        /// ```
        ///
        /// # References
        /// [`KerasMeanAbsolutePercentageError`]: its formula, the reference's semantics and the paper.
    }
}

// ---------------------------------------------------------------------------------------
// huber

/// [`KerasHuber`] at one element `(y_true, y_pred)`: the Huber loss of
/// `e = y_pred − y_true` and its derivatives as `jax.grad` gives them (the
/// branch taken, `|e| = δ` quadratic; an infinite `e` has the gradient NaN),
/// for the row sweep: on `f32` inputs with AVX-512, 8 `f64` lanes by the same
/// operations (no fused multiply-add), the same bits as the scalar formulas;
/// the portable loop vectorised this short body across groups, with gathers.
#[derive(Clone, Copy)]
struct KerasHuberOp {
    delta: f64,
}

impl ElemOp for KerasHuberOp {
    #[inline(always)]
    fn eval(self, t: f64, p: f64) -> (f64, f64, f64) {
        let d = self.delta;
        let e = p - t;
        let (q, lin) = (0.5 * e * e, d * e.abs() - 0.5 * d * d);
        let g = if e.abs() <= d || e.is_nan() {
            e
        } else if e.is_infinite() {
            f64::NAN
        } else {
            d.copysign(e)
        };
        (if e.abs() <= d { q } else { lin }, -g, g)
    }

    const LANES512: Lanes = Lanes::F64;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_pd(self, t: __m512d, p: __m512d) -> (__m512d, __m512d, __m512d) {
        let (d, half) = (_mm512_set1_pd(self.delta), _mm512_set1_pd(0.5));
        let e = _mm512_sub_pd(p, t);
        let a = _mm512_abs_pd(e);
        let quad = _mm512_cmp_pd_mask::<_CMP_LE_OQ>(a, d);
        let q = _mm512_mul_pd(_mm512_mul_pd(half, e), e);
        let lin = _mm512_sub_pd(_mm512_mul_pd(d, a), _mm512_mul_pd(_mm512_mul_pd(half, d), d));
        let l = _mm512_mask_blend_pd(quad, lin, q);
        // d with e's sign (d ≥ 0), NaN where e is infinite, e itself where quadratic or NaN
        let sign = _mm512_and_si512(_mm512_castpd_si512(e), _mm512_set1_epi64(i64::MIN));
        let g = _mm512_castsi512_pd(_mm512_or_si512(sign, _mm512_castpd_si512(d)));
        let g = _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_EQ_OQ>(a, _mm512_set1_pd(f64::INFINITY)), g, _mm512_set1_pd(f64::NAN));
        let g = _mm512_mask_blend_pd(quad | _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(e, e), g, e);
        (l, _mm512_sub_pd(_mm512_setzero_pd(), g), g)
    }
}

/// Keras's `keras.losses.huber(y_true, y_pred, delta=1.0)`: the mean over the last
/// axis of the Huber loss of `y_pred − y_true`.
///
/// ```text
/// e = y_pred − y_true
/// h(e) = ½ e²               if |e| ≤ δ
///        δ |e| − ½ δ²       otherwise
/// loss = mean_last h(e)          ∂/∂y_pred = clip(e, −δ, δ) / n = −∂/∂y_true
/// ```
///
/// Keras's semantics: one value per sample (the last axis averaged), the default
/// reduction `None`; `|e| = δ` takes the quadratic branch (both sides have slope
/// `±δ` there). An infinite error has the loss `∞` and a NaN gradient, as
/// `jax.grad` gives it (`jnp.where` sends a zero cotangent into the quadratic
/// branch, and `0 · ∞` is NaN). The element-wise form without the mean is
/// [`OptaxHuberLoss`](crate::regression::OptaxHuberLoss), and PyTorch's
/// [`HuberLoss`](crate::HuberLoss) averages over every element.
///
/// Shapes as Keras's: where the ranks differ by one, a trailing axis of size 1
/// is squeezed or expanded (`squeeze_or_expand_to_same_rank`), then `y_true`
/// and `y_pred` broadcast (NumPy's rule, either way); the mean runs over the
/// last axis of the broadcast shape, each gradient summed back to its
/// tensor's shape. Keras computes with any `delta`; a
/// negative or NaN `delta` (no Huber loss: the linear branch everywhere) is an
/// error here, as for optax's `huber_loss`. Keras 3.15's `ops.mean` averages a
/// float64 input in float32; losslab averages in f64 (the float64 truth).
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast or are 0-d; [`LossError::Option`]
/// for a negative or NaN `delta`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::regression::KerasHuber;
/// // The example of Keras's docs: 0.155 on average.
/// let y_true = array![[0.0f64, 1.0], [0.0, 0.0]];
/// let y_pred = array![[0.6f64, 0.4], [0.4, 0.6]];
/// let loss = KerasHuber::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 0.18).abs() < 1e-15 && (loss[1] - 0.13).abs() < 1e-15);
/// // Beyond delta the loss is linear.
/// let far = KerasHuber::new().delta(0.5).forward(array![[0.0f64]].view(), array![[3.0f64]].view()).unwrap();
/// assert_eq!(far[0], 0.5 * 3.0 - 0.125);
/// ```
///
/// # References
/// P. J. Huber, "Robust Estimation of a Location Parameter", 1964,
/// <https://doi.org/10.1214/aoms/1177703732>;
/// <https://keras.io/api/losses/regression_losses/#huber-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasHuber {
    /// The reduction of the per-sample losses (default `None`).
    pub reduction: Reduction,
    /// The bound of the quadratic region (default 1.0).
    pub delta: f64,
}

impl Default for KerasHuber {
    fn default() -> Self {
        KerasHuber { reduction: Reduction::None, delta: 1.0 }
    }
}

impl KerasHuber {
    const NAME: &'static str = "huber";

    /// Keras's default `delta = 1.0`, no reduction (Keras's per-sample output).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `delta`, the bound of the quadratic region (≥ 0).
    #[must_use]
    pub fn delta(mut self, delta: f64) -> Self {
        self.delta = delta;
        self
    }

    fn run<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<PairOutput<T>> {
        crate::machinery::error::check_option(Self::NAME, "delta", self.delta, self.delta >= 0.0, "a number >= 0")?;
        let op = KerasHuberOp { delta: self.delta };
        // The row sweep for one shape, contiguous (each row on the element-wise
        // sweep's loop, value and both gradients in one pass); the general path
        // otherwise.
        if let Some(done) = pair_rows_op(Self::NAME, ("y_true", y_true), y_pred, self.reduction, up, op, true)? {
            return Ok(done);
        }
        run_pair_with(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), -1, PairShapes::KERAS_RANK, self.reduction, up.given(), |t, p, g| {
            mean_lane(t, p, g, |t, p| op.eval(t, p).0, |t, p| {
                let (_, dt, dp) = op.eval(t, p);
                (dt, dp)
            })
        })
    }
    loss_methods!(keras: run(input = last), (y_true: float, y_pred: float));
}

/// [`KerasHuber`]: `keras.losses.huber(y_true, y_pred, delta)`.
///
/// # Errors
/// See [`KerasHuber`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::regression::keras_huber(array![[0.0f64, 0.0]].view(), array![[0.5f64, 2.0]].view(), 1.0).unwrap();
/// assert_eq!(v[0], (0.125 + 1.5) / 2.0);
/// ```
///
/// # References
/// [`KerasHuber`]: its formula, the reference's semantics and the paper.
pub fn keras_huber<T: Float, D: Dimension>(y_true: ArrayView<'_, T, D>, y_pred: ArrayView<'_, T, D>, delta: f64) -> Result<ArrayD<T>> {
    KerasHuber::new().delta(delta).forward(y_true, y_pred)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ulp of `f32` at `t` (the smallest normal's below it).
    #[cfg(target_arch = "x86_64")]
    fn ulp(t: f32) -> f64 {
        let t = t.abs();
        if t < f32::MIN_POSITIVE { f64::from(f32::MIN_POSITIVE) } else { f64::from(f32::from_bits(t.to_bits() + 1) - t) }
    }

    /// [`Msle`]'s `f32` lanes against its `f64` formulas on the same `f32`
    /// operands (the truth to far below an `f32` ulp): the value `d²` and both
    /// derivatives within 16 ulp of `f32` (an absolute floor at the smallest
    /// normal), on pairs near each other (`d` cancelling), on both sides of
    /// the near form's bounds (`x = −½`, `x = 1`), across magnitudes from below
    /// `ε` to 10⁶ (none near `ε`, nor both below it: the lanes clip at `ε`
    /// rounded to `f32`), and random pairs in `(0, 3)` as the benchmark draws them.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn msle_f32_lanes_are_within_16_ulp() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut xs: Vec<(f32, f32)> = Vec::new();
        let mags = [0.0f32, 1e-9, 1e-7, 3e-7, 1e-5, 0.01, 0.3, 0.5, 0.9, 1.0, 1.5, 2.0, 3.0, 10.0, 1e3, 1e6];
        for &t in &mags {
            for &p in &mags {
                xs.push((t, p));
            }
            for k in -40..=40 {
                xs.push((t, t * (1.0 + k as f32 * 3e-7) + k as f32 * 1e-9));
            }
            // x = (p̂ − t̂) / (1 + t̂) about 1 and −½
            for k in -20..=20 {
                let u = 1.0 + t.max(1e-7);
                xs.push((t, t.max(1e-7) + u * (1.0 + k as f32 * 1e-6)));
                xs.push((t, t.max(1e-7) - u * (0.5 + k as f32 * 1e-6)));
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20000 {
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32 * 3.0
            };
            xs.push((next(), next()));
        }
        let mut worst = [0.0f64; 3];
        for c in xs.chunks(16) {
            let (mut a, mut b) = ([0f32; 16], [0f32; 16]);
            for (k, &(x, y)) in c.iter().enumerate() {
                (a[k], b[k]) = (x, y);
            }
            let mut got = [[0f32; 16]; 3];
            // SAFETY: AVX-512 is present (checked above).
            unsafe {
                let (l, dt, dp) = Msle.eval_ps(_mm512_loadu_ps(a.as_ptr()), _mm512_loadu_ps(b.as_ptr()));
                _mm512_storeu_ps(got[0].as_mut_ptr(), l);
                _mm512_storeu_ps(got[1].as_mut_ptr(), dt);
                _mm512_storeu_ps(got[2].as_mut_ptr(), dp);
            }
            for k in 0..c.len() {
                // Near ε or both below it: the lanes clip at ε rounded to f32
                // (as Keras's float32 program), the f64 formulas at ε itself;
                // the two differ by 10⁻¹⁵ (the whole of d where both are
                // clipped) and put the clip's tie (its ½) at different operands.
                if a[k].max(b[k]) <= 2e-7 || [a[k], b[k]].iter().any(|v| (5e-8..=2e-7).contains(v)) {
                    continue;
                }
                let (l, dt, dp) = Msle.eval(f64::from(a[k]), f64::from(b[k]));
                for (w, (truth, g)) in worst.iter_mut().zip([l, dt, dp].into_iter().zip([got[0][k], got[1][k], got[2][k]])) {
                    let e = (f64::from(g) - truth).abs() / ulp(truth as f32);
                    assert!(e <= 16.0, "msle(t = {}, p = {}): {g}, truth {truth}: {e} ulp", a[k], b[k]);
                    *w = w.max(e);
                }
            }
        }
        eprintln!("msle f32 lanes: worst {:.2} ulp (value), {:.2} (d/dt), {:.2} (d/dp)", worst[0], worst[1], worst[2]);
    }

    /// [`LogCosh`]'s `f32` lanes against the `f64` truth of the same `f32`
    /// operands ([`log_cosh_tanh`] at their exact difference): the value and
    /// `tanh` within 8 ulp of `f32` (an absolute floor at the smallest normal),
    /// on differences from 10⁻³⁰ to 10⁴ and both sides of the split at 1, and
    /// the special values.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn log_cosh_f32_lanes_are_within_8_ulp() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut xs: Vec<(f32, f32)> = Vec::new();
        let mut d = 1e-30f32;
        while d < 1e4 {
            for y in [0.0f32, 0.3, -2.0, 7.5] {
                xs.push((y + d, y));
                xs.push((y - d, y));
            }
            d *= 1.0137;
        }
        for k in -200..=200 {
            xs.push((1.0 + k as f32 * 1e-7, 0.0));
        }
        let (mut worst_l, mut worst_t) = (0.0f64, 0.0f64);
        for c in xs.chunks(16) {
            let (mut a, mut b) = ([0f32; 16], [0f32; 16]);
            for (k, &(x, y)) in c.iter().enumerate() {
                (a[k], b[k]) = (x, y);
            }
            let (mut l, mut t, mut nt) = ([0f32; 16], [0f32; 16], [0f32; 16]);
            // SAFETY: AVX-512 is present (checked above).
            unsafe {
                let (vl, vt, vn) = LogCosh.eval_ps(_mm512_loadu_ps(a.as_ptr()), _mm512_loadu_ps(b.as_ptr()));
                _mm512_storeu_ps(l.as_mut_ptr(), vl);
                _mm512_storeu_ps(t.as_mut_ptr(), vt);
                _mm512_storeu_ps(nt.as_mut_ptr(), vn);
            }
            for k in 0..c.len() {
                let (wl, wt) = log_cosh_tanh(f64::from(a[k]) - f64::from(b[k]));
                let el = (f64::from(l[k]) - wl).abs() / ulp(wl as f32);
                let et = (f64::from(t[k]) - wt).abs() / ulp(wt as f32);
                assert!(el <= 8.0 && et <= 8.0, "log_cosh({} − {}) = ({}, {}), truth ({wl}, {wt}): {el}, {et} ulp", a[k], b[k], l[k], t[k]);
                assert_eq!(nt[k].to_bits(), (-t[k]).to_bits());
                worst_l = worst_l.max(el);
                worst_t = worst_t.max(et);
            }
        }
        eprintln!("log_cosh f32 lanes: worst {worst_l:.2} ulp (value), {worst_t:.2} ulp (tanh)");
        let special = [(f32::INFINITY, 0.0), (f32::NEG_INFINITY, 0.0), (f32::NAN, 0.0), (0.0, 0.0), (-0.0, 0.0), (f32::MAX, -f32::MAX)];
        let (mut a, mut b) = ([0f32; 16], [0f32; 16]);
        for (k, &(x, y)) in special.iter().enumerate() {
            (a[k], b[k]) = (x, y);
        }
        let (mut l, mut t) = ([0f32; 16], [0f32; 16]);
        // SAFETY: as above.
        unsafe {
            let (vl, vt, _) = LogCosh.eval_ps(_mm512_loadu_ps(a.as_ptr()), _mm512_loadu_ps(b.as_ptr()));
            _mm512_storeu_ps(l.as_mut_ptr(), vl);
            _mm512_storeu_ps(t.as_mut_ptr(), vt);
        }
        assert_eq!((l[0], t[0]), (f32::INFINITY, 1.0));
        assert_eq!((l[1], t[1]), (f32::INFINITY, -1.0));
        assert!(l[2].is_nan() && t[2].is_nan());
        assert_eq!((l[3], t[3]), (0.0, 0.0));
        assert_eq!((l[4], t[4].to_bits()), (0.0, (-0.0f32).to_bits()));
        assert_eq!((l[5], t[5]), (f32::INFINITY, 1.0));
    }
}
