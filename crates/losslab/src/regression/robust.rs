//! Robust element-wise losses without reduction, as optax computes them:
//! Huber and log-cosh.

#[allow(unused_imports)] // for the docs' links
use crate::machinery::error::LossError;
use crate::machinery::broadcast::Broadcast;
use crate::machinery::error::{check_option, Result};
use crate::machinery::float::Float;
use crate::machinery::kernels::elementwise::{ElemOp, Lanes};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use crate::machinery::lanes::{eval_pointwise_op, Eval, Pairing, Upstream};
use crate::machinery::methods::*;
use crate::machinery::pointwise::Pointwise;
use crate::machinery::reduction::{Gradients, Reduction};
use ndarray::{ArrayView, Dimension};

/// An optax element-wise loss of `(predictions, targets)`: `f(p, t)` its value,
/// `df(p, t) = (∂/∂p, ∂/∂t)`. Tensors of one shape take the machinery's
/// element-wise sweep ([`eval_pointwise`](crate::machinery::lanes::eval_pointwise): contiguous ones fused, value and
/// both gradients in one parallel pass in their own type; strided ones
/// widened); others broadcast as optax broadcasts them (NumPy's rule), widened
/// to `f64`, each gradient summed back to its tensor's shape.
///
/// `op` is the fused sweep's op (one with an AVX-512 form of its own,
/// [`eval_pointwise_op`]); `op.eval(p, t)` agrees with `f` and `df`.
fn optax_eval_op<T, D, O, F, G>(
    name: &'static str,
    (a, b): (&ArrayView<'_, T, D>, &ArrayView<'_, T, D>),
    reduction: Reduction,
    up: &Upstream<'_, T>,
    op: O,
    f: F,
    df: G,
) -> Result<Eval<T, Gradients<T>>>
where
    T: Float,
    D: Dimension,
    O: ElemOp,
    F: Fn(f64, f64) -> f64 + Copy + Send + Sync,
    G: Fn(f64, f64) -> (f64, f64) + Copy + Send + Sync,
{
    if a.shape() == b.shape() {
        return eval_pointwise_op(name, Pairing::Same, ("predictions", a), ("targets", b), reduction, up, true, op, #[inline(always)] move |_, p, t| f(p, t), #[inline(always)] move |_, p, t| df(p, t));
    }
    let p = Pointwise::from_broadcast(Broadcast::numpy(name, &[("predictions", a.shape()), ("targets", b.shape())])?, a, b);
    let value = p.forward(reduction, |_, x, y| f(x, y));
    let grads = match up {
        Upstream::Skip => None,
        Upstream::Ones => Some(p.backward(name, reduction, &p.unit_grad::<T>(reduction).view(), true, |_, x, y| df(x, y))?),
        Upstream::Given(g) => Some(p.backward(name, reduction, g, true, |_, x, y| df(x, y))?),
    };
    Ok((value, grads))
}

// ---------------------------------------------------------------------------------------
// huber_loss, log_cosh

/// optax's `huber_loss`: quadratic within `delta` of the target, linear beyond.
///
/// ```text
/// e = predictions − targets
/// loss = ½ min(|e|, δ)² + δ (|e| − min(|e|, δ))
/// ∂/∂predictions = clip(e, −δ, δ)
/// ```
///
/// Element-wise (the result has the predictions' shape). Identical to
/// [`HuberLoss`](crate::HuberLoss) with `delta` and no reduction; optax's form
/// gives the same gradient on the kink `|e| = δ` (½ of each side's slope).
/// optax's `targets = None` means zeros: pass zeros.
///
/// Shapes: the two broadcast together as optax broadcasts them (NumPy's rule,
/// either way, any ranks): the result has the broadcast shape, each gradient summed
/// back to its tensor's shape.
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast; [`LossError::Option`] for a
/// NaN or negative `delta`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::regression::OptaxHuberLoss;
/// let v = OptaxHuberLoss::new().forward(array![0.5f64, 3.0].view(), array![0.0f64, 0.0].view()).unwrap();
/// assert_eq!(v, array![0.125, 2.5].into_dyn());
/// ```
///
/// # References
/// P. J. Huber, "Robust Estimation of a Location Parameter", 1964,
/// <https://doi.org/10.1214/aoms/1177703732>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.huber_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OptaxHuberLoss {
    /// The bound of the quadratic region (default 1.0).
    pub delta: f64,
    /// The reduction of the element-wise losses (default `None`).
    pub reduction: Reduction,
}

impl Default for OptaxHuberLoss {
    fn default() -> Self {
        OptaxHuberLoss { delta: 1.0, reduction: Reduction::None }
    }
}

impl OptaxHuberLoss {
    const NAME: &'static str = "huber_loss";

    /// optax's defaults: `delta = 1.0`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets `delta`.
        delta: f64
    );
    fn validate(&self) -> Result<()> {
        check_option(Self::NAME, "delta", self.delta, self.delta >= 0.0, "a number >= 0")
    }
    fn eval<T: Float, D: Dimension>(&self, predictions: ArrayView<'_, T, D>, targets: ArrayView<'_, T, D>, up: &Upstream<'_, T>) -> Result<Eval<T, Gradients<T>>> {
        self.validate()?;
        let delta = self.delta;
        let op = HuberOp { delta };
        optax_eval_op(Self::NAME, (&predictions, &targets), self.reduction, up, op, #[inline(always)] move |p, t| op.eval(p, t).0, #[inline(always)] move |p, t| {
            let (_, dp, dt) = op.eval(p, t);
            (dp, dt)
        })
    }
    loss_methods!(optax_elementwise: eval, (predictions: float, targets: float), "`input` w.r.t. `predictions`, `target` w.r.t. `targets`");
}

/// optax's Huber loss at one element, `½ q² + δ (|e| − q)` with `q = min(|e|, δ)`
/// and its gradient `clip(e, −δ, δ)`, `e = p − t` (NaN kept): on `f32` inputs
/// with AVX-512, 8 `f64` lanes by the same operations (no fused multiply-add),
/// the same bits as every other path; the portable loop vectorised this short
/// body across groups with gathers.
#[derive(Clone, Copy)]
struct HuberOp {
    delta: f64,
}

impl ElemOp for HuberOp {
    #[inline(always)]
    fn eval(self, p: f64, t: f64) -> (f64, f64, f64) {
        let delta = self.delta;
        // compare-and-select: min(|e|, δ) and clip(e, −δ, δ), NaN kept
        let e = p - t;
        let a = e.abs();
        let q = if a > delta { delta } else { a };
        let d = if e > delta { delta } else if e < -delta { -delta } else { e };
        (0.5 * q * q + delta * (a - q), d, -d)
    }

    const LANES512: Lanes = Lanes::F64;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_pd(self, p: __m512d, t: __m512d) -> (__m512d, __m512d, __m512d) {
        let (delta, ndelta) = (_mm512_set1_pd(self.delta), _mm512_set1_pd(-self.delta));
        let e = _mm512_sub_pd(p, t);
        let a = _mm512_abs_pd(e);
        let q = _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_GT_OQ>(a, delta), a, delta);
        let d = _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_LT_OQ>(e, ndelta), e, ndelta);
        let d = _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_GT_OQ>(e, delta), d, delta);
        let l = _mm512_add_pd(_mm512_mul_pd(_mm512_mul_pd(_mm512_set1_pd(0.5), q), q), _mm512_mul_pd(delta, _mm512_sub_pd(a, q)));
        (l, d, _mm512_sub_pd(_mm512_setzero_pd(), d))
    }
}

simple_struct!(
    /// optax's `log_cosh`: `log cosh(predictions − targets)`, element-wise.
    ///
    /// ```text
    /// loss = log cosh(e),  e = predictions − targets      ∂/∂predictions = tanh(e)
    /// ≈ e²/2 near 0,  ≈ |e| − log 2 far from 0
    /// ```
    ///
    /// Computed without overflow or cancellation (`log1p(2 sinh²(e/2))` for
    /// `|e| < 1`, `|e| + softplus(−2|e|) − log 2` beyond; optax evaluates
    /// `logaddexp(e, −e) − log 2`), without libm calls (Keras's
    /// `log_cosh`'s formulas). optax's `targets = None` means zeros.
    ///
    /// Shapes: the two broadcast together as optax broadcasts them (NumPy's rule,
    /// either way, any ranks): the result has the broadcast shape, each gradient
    /// summed back to its tensor's shape.
    ///
    /// # Errors
    /// [`LossError::Shape`] if the shapes do not broadcast.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::regression::OptaxLogCosh;
    /// let v = OptaxLogCosh::new().forward(array![1e-8f64, 800.0].view(), array![0.0f64, 0.0].view()).unwrap();
    /// assert!((v[0] - 5e-17).abs() < 1e-31); // 1e-8² / 2, where cosh would round to 1
    /// assert_eq!(v[1], 800.0 - 2f64.ln());
    /// ```
    ///
    /// # References
    /// P. Chen, G. Chen, S. Zhang, "Log Hyperbolic Cosine Loss Improves Variational
    /// Auto-Encoder", 2019, <https://openreview.net/forum?id=rkglvsC9Ym>;
    /// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.log_cosh>
    OptaxLogCosh
);

impl OptaxLogCosh {
    const NAME: &'static str = "log_cosh";

    /// No reduction (optax's element-wise output).
    pub fn new() -> Self {
        Self::default()
    }
    fn eval<T: Float, D: Dimension>(&self, predictions: ArrayView<'_, T, D>, targets: ArrayView<'_, T, D>, up: &Upstream<'_, T>) -> Result<Eval<T, Gradients<T>>> {
        use super::per_sample::{log_cosh_tanh, LogCosh};
        optax_eval_op(
            Self::NAME,
            (&predictions, &targets),
            self.reduction,
            up,
            LogCosh,
            #[inline(always)]
            |p, t| log_cosh_tanh(p - t).0,
            #[inline(always)]
            |p, t| {
                let d = log_cosh_tanh(p - t).1;
                (d, -d)
            },
        )
    }
    loss_methods!(optax_elementwise: eval, (predictions: float, targets: float), "`input` w.r.t. `predictions`, `target` w.r.t. `targets`");
}

free_fn! {
    /// [`OptaxHuberLoss`] with `delta`: `optax.losses.huber_loss(predictions, targets, delta=…)`.
    pub fn optax_huber_loss(predictions: float, targets: float; delta: f64) = OptaxHuberLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::regression::optax_huber_loss(array![4.0f64].view(), array![0.0f64].view(), 2.0).unwrap();
        /// assert_eq!(v[0], 2.0 + 2.0 * 2.0);
        /// ```
        ///
        /// # References
        /// [`OptaxHuberLoss`]: its formula, the reference's semantics and the paper.
    }

    /// [`OptaxLogCosh`]: `optax.losses.log_cosh(predictions, targets)`.
    pub fn optax_log_cosh(predictions: float, targets: float) = OptaxLogCosh {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::regression::optax_log_cosh(array![0.0f64].view(), array![0.0f64].view()).unwrap();
        /// assert_eq!(v[0], 0.0);
        /// ```
        ///
        /// # References
        /// [`OptaxLogCosh`]: its formula, the reference's semantics and the paper.
    }
}
