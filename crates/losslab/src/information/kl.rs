//! KL divergences as Keras (`keras.losses.kl_divergence`, clipped
//! probabilities) and optax (`kl_divergence`, `kl_divergence_with_log_targets`,
//! `convex_kl_divergence`/generalized KL) compute them.

#[allow(unused_imports)] // for the docs' links
use crate::machinery::error::LossError;
use crate::machinery::error::Result;
use crate::machinery::float::Float;
use crate::machinery::lanes::*;
use crate::machinery::methods::*;
use crate::machinery::clip::*;
use crate::machinery::kernels::elementwise::{ElemOp, Lanes};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use crate::machinery::kernels::rows;
use crate::machinery::reduction::{sum_f64, Reduction};
use crate::machinery::vmath::exp;
use ndarray::{ArrayView, Dimension};

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
/// Shapes: `y_true` and `y_pred` broadcast together as Keras broadcasts them
/// (NumPy's rule: `(N, 1)` or `(1, C)` against `(N, C)`, either way, any ranks;
/// `(N,)` against `(N, C)` does not broadcast); one result per lane of the
/// broadcast shape, each gradient summed back to its tensor's shape.
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::information::KerasKlDivergence;
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

/// Keras's KL term as an element-wise op of the machinery's sweep (`x` the
/// label, `y` the prediction): `(t ln(t/p), (ln(t/p) + 1) · ∂t/∂x, −(t/p) ·
/// ∂p/∂y)`, `t` and `p` clipped to `[ε, 1]` (JAX's clip gradients). The
/// portable loop (`f64` inputs, CPUs without AVX-512) computes in `f64` with
/// the row sweep's ln (branch-free, within 1 ulp of libm's); `f32` inputs on
/// AVX-512 compute in 16 `f32` lanes as Keras's `float32` program does (`ε`
/// an `f32`, `t/p` rounded to `f32`, [`ln_ps`](crate::machinery::kernels::elementwise::x86::ln_ps)
/// within 2.5 ulp), the sum in `f64`.
#[derive(Clone, Copy)]
struct KerasKl;

impl ElemOp for KerasKl {
    #[inline(always)]
    fn eval(self, a: f64, b: f64) -> (f64, f64, f64) {
        const E: f64 = KERAS_EPSILON;
        let (t, p) = (clip(a, E, 1.0), clip(b, E, 1.0));
        let r = t / p;
        let l = rows::ln(r);
        (t * l, (l + 1.0) * clip_grad(a, E, 1.0), -r * clip_grad(b, E, 1.0))
    }

    const LANES512: Lanes = Lanes::F32;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_ps(self, a: __m512, b: __m512) -> (__m512, __m512, __m512) {
        use crate::machinery::clip::x86::{clip_grad_ps, clip_ps};
        use crate::machinery::kernels::elementwise::x86::ln_ps;
        let (lo, hi) = (_mm512_set1_ps(KERAS_EPSILON as f32), _mm512_set1_ps(1.0));
        let (t, p) = (clip_ps(a, lo, hi), clip_ps(b, lo, hi));
        let r = _mm512_div_ps(t, p);
        let l = ln_ps(r);
        let dt = _mm512_mul_ps(_mm512_add_ps(l, hi), clip_grad_ps(a, lo, hi));
        let dp = _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), r), clip_grad_ps(b, lo, hi));
        (_mm512_mul_ps(t, l), dt, dp)
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
        up: &Upstream<'_, T>,
    ) -> Result<PairOutput<T>> {
        // The row sweep for one shape, contiguous (one pass: the value and
        // both gradients); the general path's formulas, the ln branch-free.
        let fused = pair_rows_op(Self::NAME, ("y_true", y_true), y_pred, self.reduction, up, KerasKl, false)?;
        if let Some(done) = fused {
            return Ok(done);
        }
        run_pair_with(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), -1, PairShapes::NUMPY, self.reduction, up.given(), |yt, yp, g| {
            let v = sum_f64(yt.iter().zip(yp).map(|(&a, &b)| {
                let (t, p) = (clip(a, KERAS_EPSILON, 1.0), clip(b, KERAS_EPSILON, 1.0));
                t * (t / p).ln()
            }));
            if let Some((gt, gp)) = g {
                for k in 0..yt.len() {
                    let (t, p) = (clip(yt[k], KERAS_EPSILON, 1.0), clip(yp[k], KERAS_EPSILON, 1.0));
                    gt[k] = ((t / p).ln() + 1.0) * clip_grad(yt[k], KERAS_EPSILON, 1.0);
                    gp[k] = -(t / p) * clip_grad(yp[k], KERAS_EPSILON, 1.0);
                }
            }
            v
        })
    }
    loss_methods!(keras: run(input = last), (y_true: float, y_pred: float));
}

free_fn! {
    /// [`KerasKlDivergence`]: `keras.losses.kl_divergence(y_true, y_pred)`.
    pub fn keras_kl_divergence(y_true: float, y_pred: float) = KerasKlDivergence {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let p = array![[0.25f64, 0.75]];
        /// assert_eq!(losslab::information::keras_kl_divergence(p.view(), p.view()).unwrap()[0], 0.0);
        /// ```
        ///
        /// # References
        /// [`KerasKlDivergence`]: its formula, the reference's semantics and the paper.
    }
}

// ---------------------------------------------------------------------------------------
// KL family

simple_struct!(
    /// optax's `kl_divergence`: `KL(targets ‖ exp(log_predictions))` along the last axis.
    ///
    /// ```text
    /// loss = Σ_last targets · (where(targets = 0, 0, log targets) − log_predictions)
    /// ∂/∂log_predictions = −targets
    /// ∂/∂targets = log targets − log_predictions + 1       (NaN where targets = 0)
    /// ```
    ///
    /// A zero target contributes 0 to the value unless its log-prediction is
    /// `−∞` (`0 · ∞ = NaN`); JAX differentiates the `where` by masking a `1/0`,
    /// which gives a **NaN** gradient w.r.t. every zero target. losslab follows.
    ///
    /// Shapes: the two broadcast together as optax broadcasts them (NumPy's rule,
    /// either way, any ranks): one result per lane of the broadcast shape, each
    /// gradient summed back to its tensor's shape.
    ///
    /// # Errors
    /// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::information::OptaxKlDivergence;
    /// let log_predictions = array![[0.25f64.ln(), 0.75f64.ln()]];
    /// let targets = array![[0.5f64, 0.5]];
    /// let v = OptaxKlDivergence::new().forward(log_predictions.view(), targets.view()).unwrap();
    /// assert!((v[0] - 0.5 * (2f64.ln() + (2.0f64 / 3.0).ln())).abs() < 1e-15);
    /// ```
    ///
    /// # References
    /// S. Kullback, R. A. Leibler, "On Information and Sufficiency", 1951,
    /// <https://doi.org/10.1214/aoms/1177729694>;
    /// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.kl_divergence>
    OptaxKlDivergence
);

#[inline]
fn optax_kl_term(lp: f64, t: f64) -> (f64, f64, f64) {
    let lt = if t == 0.0 { 0.0 } else { t.ln() };
    let v = t * (lt - lp);
    let dt = if t == 0.0 { f64::NAN } else { (lt - lp) + 1.0 };
    (v, -t, dt)
}

/// [`optax_kl_term`] with the row sweep's `ln` (branch-free, within 1 ulp of libm's).
#[inline(always)]
fn optax_kl_term_ln(lp: f64, t: f64) -> (f64, f64, f64) {
    // ln first, then the select: a branch around it would keep the loop scalar.
    let l = rows::ln(t);
    let lt = if t == 0.0 { 0.0 } else { l };
    let v = t * (lt - lp);
    let dt = if t == 0.0 { f64::NAN } else { (lt - lp) + 1.0 };
    (v, -t, dt)
}

/// optax's KL terms as an element-wise op of the machinery's sweep (`x` the
/// log-prediction `lp`, `y` the target `t`): [`optax_kl_term_ln`]'s `t (ln t
/// − lp)` (0 at `t = 0`; its `t`-gradient NaN there, as optax's), plus, for
/// the generalized divergence, `exp(lp) − t`. The portable loop computes in
/// `f64`; `f32` inputs on AVX-512 compute in 16 `f32` lanes as optax's
/// `float32` program does ([`ln_ps`](crate::machinery::kernels::elementwise::x86::ln_ps),
/// [`exp_any_ps`](crate::machinery::kernels::elementwise::x86::exp_any_ps)).
#[derive(Clone, Copy)]
struct OptaxKl {
    generalized: bool,
}

impl ElemOp for OptaxKl {
    #[inline(always)]
    fn eval(self, lp: f64, t: f64) -> (f64, f64, f64) {
        let (v, dlp, dt) = optax_kl_term_ln(lp, t);
        if self.generalized {
            let e = exp(lp);
            (v + (e - t), dlp + e, dt - 1.0)
        } else {
            (v, dlp, dt)
        }
    }

    const LANES512: Lanes = Lanes::F32;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_ps(self, lp: __m512, t: __m512) -> (__m512, __m512, __m512) {
        use crate::machinery::kernels::elementwise::x86::{exp_any_ps, ln_ps};
        let zero = _mm512_setzero_ps();
        let t0 = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(t, zero);
        let d = _mm512_sub_ps(_mm512_maskz_mov_ps(!t0, ln_ps(t)), lp);
        let v = _mm512_mul_ps(t, d);
        let dlp = _mm512_sub_ps(zero, t);
        let dt = _mm512_mask_mov_ps(_mm512_add_ps(d, _mm512_set1_ps(1.0)), t0, _mm512_set1_ps(f32::NAN));
        if self.generalized {
            let e = exp_any_ps(lp);
            (_mm512_add_ps(v, _mm512_sub_ps(e, t)), _mm512_add_ps(dlp, e), _mm512_sub_ps(dt, _mm512_set1_ps(1.0)))
        } else {
            (v, dlp, dt)
        }
    }
}

/// optax's `kl_divergence_with_log_targets` term as an element-wise op (`x`
/// the log-prediction `a`, `y` the log-target `b`): `(eᵇ (b − a), −eᵇ, eᵇ (b −
/// a) + eᵇ)`; in `f64` by the portable loop, in 16 `f32` lanes for `f32`
/// inputs on AVX-512 ([`exp_any_ps`](crate::machinery::kernels::elementwise::x86::exp_any_ps)).
#[derive(Clone, Copy)]
struct KlLogTargets;

impl ElemOp for KlLogTargets {
    #[inline(always)]
    fn eval(self, a: f64, b: f64) -> (f64, f64, f64) {
        let e = exp(b);
        let v = e * (b - a);
        (v, -e, v + e)
    }

    const LANES512: Lanes = Lanes::F32;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_ps(self, a: __m512, b: __m512) -> (__m512, __m512, __m512) {
        use crate::machinery::kernels::elementwise::x86::exp_any_ps;
        let e = exp_any_ps(b);
        let v = _mm512_mul_ps(e, _mm512_sub_ps(b, a));
        (v, _mm512_sub_ps(_mm512_setzero_ps(), e), _mm512_add_ps(v, e))
    }
}

impl OptaxKlDivergence {
    const NAME: &'static str = "kl_divergence";

    /// No reduction (optax's per-example output).
    pub fn new() -> Self {
        Self::default()
    }

    fn run<T: Float, D: Dimension>(
        &self,
        log_predictions: &ArrayView<'_, T, D>,
        targets: &ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<PairOutput<T>> {
        // The row sweep for one shape, contiguous; the general path's formulas.
        let fused = pair_rows_op(Self::NAME, ("log_predictions", log_predictions), targets, self.reduction, up, OptaxKl { generalized: false }, false)?;
        if let Some(done) = fused {
            return Ok(done);
        }
        run_pair_with(Self::NAME, ("log_predictions", log_predictions), ("targets", targets), -1, PairShapes::NUMPY, self.reduction, up.given(), |lp, t, g| {
            let v = sum_f64(lp.iter().zip(t).map(|(&a, &b)| optax_kl_term(a, b).0));
            if let Some((glp, gt)) = g {
                for k in 0..lp.len() {
                    let (_, a, b) = optax_kl_term(lp[k], t[k]);
                    glp[k] = a;
                    gt[k] = b;
                }
            }
            v
        })
    }
    loss_methods!(optax: run(input = first), (log_predictions: float, targets: float));
}

simple_struct!(
    /// optax's `generalized_kl_divergence`: the KL divergence extended to
    /// unnormalised measures (the Bregman divergence of `x log x − x`).
    ///
    /// ```text
    /// loss = Σ_last targets · (where(targets = 0, 0, log targets) − log_predictions)
    ///        + Σ_last (exp(log_predictions) − targets)
    /// ∂/∂log_predictions = exp(log_predictions) − targets
    /// ∂/∂targets = log targets − log_predictions         (NaN where targets = 0, as optax)
    /// ```
    ///
    /// Equal to [`OptaxKlDivergence`] when both sides are normalised.
    ///
    /// Shapes: the two broadcast together as optax broadcasts them (NumPy's rule,
    /// either way, any ranks): one result per lane of the broadcast shape, each
    /// gradient summed back to its tensor's shape.
    ///
    /// # Errors
    /// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::information::OptaxGeneralizedKlDivergence;
    /// let log_predictions = array![[0.0f64]]; // prediction 1
    /// let targets = array![[2.0f64]];
    /// let v = OptaxGeneralizedKlDivergence::new().forward(log_predictions.view(), targets.view()).unwrap();
    /// assert!((v[0] - (2.0 * 2f64.ln() - 1.0)).abs() < 1e-15);
    /// ```
    ///
    /// # References
    /// S. Boyd, L. Vandenberghe, *Convex Optimization*, 2004, p. 90; L. M. Bregman,
    /// 1967, <https://doi.org/10.1016/0041-5553(67)90040-7>;
    /// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.generalized_kl_divergence>
    OptaxGeneralizedKlDivergence
);

impl OptaxGeneralizedKlDivergence {
    const NAME: &'static str = "generalized_kl_divergence";

    /// No reduction (optax's per-example output).
    pub fn new() -> Self {
        Self::default()
    }

    fn run<T: Float, D: Dimension>(
        &self,
        log_predictions: &ArrayView<'_, T, D>,
        targets: &ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<PairOutput<T>> {
        // The row sweep for one shape, contiguous (one pass); the general path otherwise.
        let fused = pair_rows_op(Self::NAME, ("log_predictions", log_predictions), targets, self.reduction, up, OptaxKl { generalized: true }, false)?;
        if let Some(done) = fused {
            return Ok(done);
        }
        run_pair_with(Self::NAME, ("log_predictions", log_predictions), ("targets", targets), -1, PairShapes::NUMPY, self.reduction, up.given(), |lp, t, g| {
            let x = sum_f64(lp.iter().zip(t).map(|(&a, &b)| optax_kl_term(a, b).0));
            let y = sum_f64(lp.iter().zip(t).map(|(&a, &b)| exp(a) - b));
            if let Some((glp, gt)) = g {
                for k in 0..lp.len() {
                    let (_, a, b) = optax_kl_term(lp[k], t[k]);
                    glp[k] = a + exp(lp[k]);
                    gt[k] = b - 1.0;
                }
            }
            x + y
        })
    }
    loss_methods!(optax: run(input = first), (log_predictions: float, targets: float));
}

simple_struct!(
    /// optax's `kl_divergence_with_log_targets`: `KL(exp(log_targets) ‖ exp(log_predictions))`.
    ///
    /// ```text
    /// loss = Σ_last exp(log_targets) · (log_targets − log_predictions)
    /// ∂/∂log_predictions = −exp(log_targets)
    /// ∂/∂log_targets = exp(log_targets) · (log_targets − log_predictions + 1)
    /// ```
    ///
    /// A `−∞` log-target gives `0 · −∞ = NaN`, as in optax.
    ///
    /// Shapes: the two broadcast together as optax broadcasts them (NumPy's rule,
    /// either way, any ranks): one result per lane of the broadcast shape, each
    /// gradient summed back to its tensor's shape.
    ///
    /// # Errors
    /// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::information::OptaxKlDivergenceWithLogTargets;
    /// let lp = array![[0.5f64.ln(), 0.5f64.ln()]];
    /// let v = OptaxKlDivergenceWithLogTargets::new().forward(lp.view(), lp.view()).unwrap();
    /// assert_eq!(v[0], 0.0);
    /// ```
    ///
    /// # References
    /// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.kl_divergence_with_log_targets>
    OptaxKlDivergenceWithLogTargets
);

impl OptaxKlDivergenceWithLogTargets {
    const NAME: &'static str = "kl_divergence_with_log_targets";

    /// No reduction (optax's per-example output).
    pub fn new() -> Self {
        Self::default()
    }

    fn run<T: Float, D: Dimension>(
        &self,
        log_predictions: &ArrayView<'_, T, D>,
        log_targets: &ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<PairOutput<T>> {
        // The row sweep for one shape, contiguous (one pass); the general path otherwise.
        let fused = pair_rows_op(Self::NAME, ("log_predictions", log_predictions), log_targets, self.reduction, up, KlLogTargets, false)?;
        if let Some(done) = fused {
            return Ok(done);
        }
        run_pair_with(Self::NAME, ("log_predictions", log_predictions), ("log_targets", log_targets), -1, PairShapes::NUMPY, self.reduction, up.given(), |lp, lt, g| {
            let v = sum_f64(lp.iter().zip(lt).map(|(&a, &b)| exp(b) * (b - a)));
            if let Some((glp, glt)) = g {
                for k in 0..lp.len() {
                    let e = exp(lt[k]);
                    glp[k] = -e;
                    glt[k] = e * (lt[k] - lp[k]) + e;
                }
            }
            v
        })
    }
    loss_methods!(optax: run(input = first), (log_predictions: float, log_targets: float));
}

free_fn! {
    /// [`OptaxKlDivergence`]: `optax.losses.kl_divergence(log_predictions, targets)`, one value per example.
    pub fn optax_kl_divergence(log_predictions: float, targets: float) = OptaxKlDivergence;

    /// [`OptaxKlDivergenceWithLogTargets`]: `optax.losses.kl_divergence_with_log_targets(log_predictions, log_targets)`.
    pub fn optax_kl_divergence_with_log_targets(log_predictions: float, log_targets: float) = OptaxKlDivergenceWithLogTargets;

    /// [`OptaxGeneralizedKlDivergence`]: `optax.losses.generalized_kl_divergence(log_predictions, targets)`.
    pub fn optax_generalized_kl_divergence(log_predictions: float, targets: float) = OptaxGeneralizedKlDivergence;
}
