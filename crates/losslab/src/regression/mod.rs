//! Regression losses (the article's question 5): MSE (L2), L1, Smooth L1 and Huber.
//!
//! All take `input` (the prediction) and `target`, broadcast together as PyTorch
//! broadcasts them (PyTorch warns when the shapes differ, and computes: so does
//! losslab, without the warning; the result has the broadcast shape), and are
//! differentiable in both: `∂ℓ/∂target = −∂ℓ/∂input`, each gradient summed back
//! to its tensor's shape. Tensors of one contiguous shape take the fused kernel.

use crate::machinery::error::{check_option, Result};
use crate::machinery::kernels::elementwise::{ElemOp, Lanes};
use crate::machinery::reduction::Reduction;
use crate::machinery::methods::{free_fn, loss_methods, setters};


// The fused kernel evaluates each element by the loss's own formulas; its
// AVX-512 loop for f32 inputs by `simd_pd`, the same operations on 8 f64 lanes
// (so the same bits).
macro_rules! elem_op {
    ($($t:ty),*) => {$(
        impl ElemOp for &$t {
            #[inline(always)]
            fn eval(self, x: f64, y: f64) -> (f64, f64, f64) {
                let d = x - y;
                let g = self.derivative(d);
                (self.value(d), g, -g)
            }
            const LANES512: Lanes = Lanes::F64;
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn eval_pd(self, x: __m512d, y: __m512d) -> (__m512d, __m512d, __m512d) {
                let (l, g) = self.simd_pd(_mm512_sub_pd(x, y));
                (l, g, simd::neg(g))
            }
        }
    )*};
}

/// The derivative of `|d|` as PyTorch's autograd gives it (`sign`): 1, −1, 0
/// (of either sign, as `pos − neg`), and 0 for NaN (a NaN residual, from a NaN
/// or from `∞ − ∞`, has gradient 0 in PyTorch, whose `sign(NaN)` is 0).
#[inline(always)]
fn sign0(d: f64) -> f64 {
    let pos = if d > 0.0 { 1.0 } else { 0.0 };
    let neg = if d < 0.0 { 1.0 } else { 0.0 };
    pos - neg
}

/// AVX-512 forms of the regression losses' `value` and `derivative` (8 `f64`
/// lanes, the same operations in the same order, comparisons ordered as Rust's).
#[cfg(target_arch = "x86_64")]
mod simd {
    pub(super) use std::arch::x86_64::*;

    pub(super) use crate::machinery::kernels::elementwise::x86::neg_pd as neg;

    /// [`super::sign0`]: 1, −1, 0 (of either sign, as `pos − neg`), 0 for NaN.
    #[inline(always)]
    pub(super) unsafe fn sgn(d: __m512d) -> __m512d {
        let (z, one) = (_mm512_setzero_pd(), _mm512_set1_pd(1.0));
        let pos = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask::<_CMP_GT_OQ>(d, z), one);
        let neg = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask::<_CMP_LT_OQ>(d, z), one);
        _mm512_sub_pd(pos, neg)
    }
}
#[cfg(target_arch = "x86_64")]
use simd::*;

mod per_sample;
mod quantile;
mod robust;
pub use per_sample::*;
pub use quantile::*;
pub use robust::*;
elem_op!(MseLoss, L1Loss, SmoothL1Loss, HuberLoss);

/// Mean squared error (L2 loss), `torch.nn.functional.mse_loss`.
///
/// ```text
/// ℓᵢ = (xᵢ − yᵢ)²        ∂ℓᵢ/∂xᵢ = 2 (xᵢ − yᵢ)
/// ```
///
/// Smooth, with a gradient that shrinks near the optimum; squares outliers, so
/// one bad target dominates the fit.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::{MseLoss, Reduction};
/// let (x, y) = (array![1.0f64, 2.0, 4.0], array![1.0, 1.0, 1.0]);
/// let (loss, grads) = MseLoss::new().forward_backward(x.view(), y.view()).unwrap();
/// assert_eq!(loss[[]], 10.0 / 3.0);
/// assert_eq!(grads.input, array![0.0, 2.0 / 3.0, 2.0].into_dyn());
/// let none = MseLoss::new().reduction(Reduction::None).forward(x.view(), y.view()).unwrap();
/// assert_eq!(none, array![0.0, 1.0, 9.0].into_dyn());
/// ```
///
/// # References
/// C. F. Gauss, *Theoria motus corporum coelestium*, 1809 (least squares);
/// <https://pytorch.org/docs/stable/generated/torch.nn.functional.mse_loss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MseLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
}

impl Default for MseLoss {
    fn default() -> Self {
        MseLoss { reduction: Reduction::Mean }
    }
}

impl MseLoss {
    /// PyTorch's defaults: `reduction = Mean`.
    pub fn new() -> Self {
        Self::default()
    }
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    #[inline(always)]
    fn value(&self, d: f64) -> f64 {
        d * d
    }
    #[inline(always)]
    fn derivative(&self, d: f64) -> f64 {
        2.0 * d
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn simd_pd(&self, d: __m512d) -> (__m512d, __m512d) {
        (_mm512_mul_pd(d, d), _mm512_mul_pd(_mm512_set1_pd(2.0), d))
    }
    loss_methods!(torch: fused("mse_loss"), (input: float, target: float));
}

/// Mean absolute error (L1 loss), `torch.nn.functional.l1_loss`.
///
/// ```text
/// ℓᵢ = |xᵢ − yᵢ|         ∂ℓᵢ/∂xᵢ = sign(xᵢ − yᵢ)   (0 at xᵢ = yᵢ, and where xᵢ − yᵢ is NaN, as PyTorch)
/// ```
///
/// Robust to outliers (their pull is bounded), but the gradient has constant
/// magnitude however close the prediction is, and no derivative at 0.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::L1Loss;
/// let (loss, g) = L1Loss::new().forward_backward(array![1.0f32, 3.0].view(), array![2.0f32, 3.0].view()).unwrap();
/// assert_eq!(loss[[]], 0.5);
/// assert_eq!(g.input, array![-0.5f32, 0.0].into_dyn());
/// ```
///
/// # References
/// P. S. Laplace, 1774 (least absolute deviations);
/// <https://pytorch.org/docs/stable/generated/torch.nn.functional.l1_loss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct L1Loss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
}

impl Default for L1Loss {
    fn default() -> Self {
        L1Loss { reduction: Reduction::Mean }
    }
}

impl L1Loss {
    /// PyTorch's defaults: `reduction = Mean`.
    pub fn new() -> Self {
        Self::default()
    }
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    #[inline(always)]
    fn value(&self, d: f64) -> f64 {
        d.abs()
    }
    #[inline(always)]
    fn derivative(&self, d: f64) -> f64 {
        sign0(d)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn simd_pd(&self, d: __m512d) -> (__m512d, __m512d) {
        (_mm512_abs_pd(d), simd::sgn(d))
    }
    loss_methods!(torch: fused("l1_loss"), (input: float, target: float));
}

/// Smooth L1 loss, `torch.nn.functional.smooth_l1_loss`: quadratic within `beta`
/// of the target, linear beyond.
///
/// ```text
///        ⎧ 0.5 dᵢ² / β     if |dᵢ| < β          dᵢ = xᵢ − yᵢ
/// ℓᵢ =  ⎨
///        ⎩ |dᵢ| − 0.5 β    otherwise
///
/// ∂ℓᵢ/∂xᵢ = dᵢ / β inside, sign(dᵢ) outside
/// ```
///
/// `beta = 0` is exactly [`L1Loss`] (PyTorch dispatches it to `l1_loss`), and
/// `Huber(δ) = δ · SmoothL1(β = δ)`. The gradient is bounded by 1 like L1's, yet
/// shrinks to 0 near the target like L2's: why detectors regress boxes with it.
///
/// # Errors
/// [`LossError::Option`](crate::LossError::Option) for a negative or NaN `beta`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::SmoothL1Loss;
/// let v = SmoothL1Loss::new().beta(1.0).forward(array![0.5f64, 3.0].view(), array![0.0, 0.0].view()).unwrap();
/// assert_eq!(v[[]], (0.125 + 2.5) / 2.0);
/// ```
///
/// # References
/// R. Girshick, "Fast R-CNN", ICCV 2015, <https://arxiv.org/abs/1504.08083>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SmoothL1Loss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// Where the loss changes from quadratic to linear (default 1.0, ≥ 0).
    pub beta: f64,
}

impl Default for SmoothL1Loss {
    fn default() -> Self {
        SmoothL1Loss { reduction: Reduction::Mean, beta: 1.0 }
    }
}

impl SmoothL1Loss {
    /// PyTorch's defaults: `reduction = Mean`, `beta = 1.0`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets `beta`.
        beta: f64
    );
    fn validate(&self) -> Result<()> {
        check_option("smooth_l1_loss", "beta", self.beta, self.beta >= 0.0, "a number >= 0")
    }
    // Inside |d| < β the loss and its derivative multiply by 1/β (rounded
    // once) where PyTorch divides by β: within an ulp of `f64` of PyTorch's
    // formula, and no division per element.
    #[inline(always)]
    fn value(&self, d: f64) -> f64 {
        let a = d.abs();
        if self.beta == 0.0 {
            a
        } else if a < self.beta {
            0.5 * d * d * (1.0 / self.beta)
        } else {
            a - 0.5 * self.beta
        }
    }
    #[inline(always)]
    fn derivative(&self, d: f64) -> f64 {
        if self.beta == 0.0 {
            sign0(d)
        } else if d < -self.beta {
            -1.0
        } else if d > self.beta {
            1.0
        } else {
            d * (1.0 / self.beta)
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn simd_pd(&self, d: __m512d) -> (__m512d, __m512d) {
        if self.beta == 0.0 {
            return (_mm512_abs_pd(d), simd::sgn(d));
        }
        let (b, inv, one) = (_mm512_set1_pd(self.beta), _mm512_set1_pd(1.0 / self.beta), _mm512_set1_pd(1.0));
        let a = _mm512_abs_pd(d);
        let inside = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(a, b);
        let quad = _mm512_mul_pd(_mm512_mul_pd(_mm512_mul_pd(_mm512_set1_pd(0.5), d), d), inv);
        let l = _mm512_mask_blend_pd(inside, _mm512_sub_pd(a, _mm512_set1_pd(0.5 * self.beta)), quad);
        let g = _mm512_mul_pd(d, inv);
        let g = _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_GT_OQ>(d, b), g, one);
        let g = _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_LT_OQ>(d, simd::neg(b)), g, simd::neg(one));
        (l, g)
    }
    loss_methods!(torch: fused("smooth_l1_loss"), (input: float, target: float));
}

/// Huber loss, `torch.nn.functional.huber_loss`: quadratic within `delta` of the
/// target, linear (with slope `delta`) beyond.
///
/// ```text
///        ⎧ 0.5 dᵢ²               if |dᵢ| ≤ δ        dᵢ = xᵢ − yᵢ
/// ℓᵢ =  ⎨
///        ⎩ δ (|dᵢ| − 0.5 δ)       otherwise
///
/// ∂ℓᵢ/∂xᵢ = dᵢ inside, δ · sign(dᵢ) outside
/// ```
///
/// # Errors
/// [`LossError::Option`](crate::LossError::Option) for `delta ≤ 0` or NaN (PyTorch:
/// "huber_loss does not support non-positive values for delta").
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::HuberLoss;
/// let v = HuberLoss::new().delta(2.0).forward(array![1.0f64, 5.0].view(), array![0.0, 0.0].view()).unwrap();
/// assert_eq!(v[[]], (0.5 + 2.0 * (5.0 - 1.0)) / 2.0);
/// ```
///
/// # References
/// P. J. Huber, "Robust Estimation of a Location Parameter", Annals of
/// Mathematical Statistics 35(1), 1964, <https://doi.org/10.1214/aoms/1177703732>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HuberLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// Where the loss changes from quadratic to linear (default 1.0, > 0).
    pub delta: f64,
}

impl Default for HuberLoss {
    fn default() -> Self {
        HuberLoss { reduction: Reduction::Mean, delta: 1.0 }
    }
}

impl HuberLoss {
    /// PyTorch's defaults: `reduction = Mean`, `delta = 1.0`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets `delta`.
        delta: f64
    );
    fn validate(&self) -> Result<()> {
        check_option("huber_loss", "delta", self.delta, self.delta > 0.0, "a number > 0")
    }
    #[inline(always)]
    fn value(&self, d: f64) -> f64 {
        let a = d.abs();
        if a < self.delta {
            0.5 * d * d
        } else {
            self.delta * (a - 0.5 * self.delta)
        }
    }
    #[inline(always)]
    fn derivative(&self, d: f64) -> f64 {
        if d < -self.delta {
            -self.delta
        } else if d > self.delta {
            self.delta
        } else {
            d
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn simd_pd(&self, d: __m512d) -> (__m512d, __m512d) {
        let dl = _mm512_set1_pd(self.delta);
        let a = _mm512_abs_pd(d);
        let inside = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(a, dl);
        let quad = _mm512_mul_pd(_mm512_mul_pd(_mm512_set1_pd(0.5), d), d);
        let lin = _mm512_mul_pd(dl, _mm512_sub_pd(a, _mm512_set1_pd(0.5 * self.delta)));
        let l = _mm512_mask_blend_pd(inside, lin, quad);
        let g = _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_GT_OQ>(d, dl), d, dl);
        let g = _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_LT_OQ>(d, simd::neg(dl)), g, simd::neg(dl));
        (l, g)
    }
    loss_methods!(torch: fused("huber_loss"), (input: float, target: float));
}

free_fn! {
    /// [`MseLoss`] with `reduction`: `torch.nn.functional.mse_loss(input, target, reduction=...)`.
    ///
    /// ```text
    /// ℓᵢ = (xᵢ − yᵢ)²
    /// ```
    pub fn mse_loss(input: float, target: float; reduction: Reduction) = MseLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::mse_loss(array![1.0f64, 3.0].view(), array![0.0, 0.0].view(), losslab::Reduction::Sum).unwrap();
        /// assert_eq!(v[[]], 10.0);
        /// ```
        ///
        /// # References
        /// [`MseLoss`]; <https://pytorch.org/docs/stable/generated/torch.nn.functional.mse_loss.html>
    }

    /// [`L1Loss`] with `reduction`: `torch.nn.functional.l1_loss`.
    ///
    /// ```text
    /// ℓᵢ = |xᵢ − yᵢ|
    /// ```
    pub fn l1_loss(input: float, target: float; reduction: Reduction) = L1Loss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::l1_loss(array![1.0f64, -3.0].view(), array![0.0, 0.0].view(), losslab::Reduction::Mean).unwrap();
        /// assert_eq!(v[[]], 2.0);
        /// ```
        ///
        /// # References
        /// [`L1Loss`]; <https://pytorch.org/docs/stable/generated/torch.nn.functional.l1_loss.html>
    }

    /// [`SmoothL1Loss`] with `reduction` and `beta`: `torch.nn.functional.smooth_l1_loss`.
    ///
    /// ```text
    /// ℓᵢ = 0.5 dᵢ² / β if |dᵢ| < β, else |dᵢ| − 0.5 β        dᵢ = xᵢ − yᵢ
    /// ```
    pub fn smooth_l1_loss(input: float, target: float; reduction: Reduction, beta: f64) = SmoothL1Loss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// use losslab::Reduction;
        /// let (x, y) = (array![0.0f64, 2.0], array![0.5f64, 0.0]);
        /// // beta = 0 is exactly L1.
        /// assert_eq!(losslab::smooth_l1_loss(x.view(), y.view(), Reduction::Sum, 0.0).unwrap()[[]], 2.5);
        /// ```
        ///
        /// # References
        /// [`SmoothL1Loss`]; <https://pytorch.org/docs/stable/generated/torch.nn.functional.smooth_l1_loss.html>
    }

    /// [`HuberLoss`] with `reduction` and `delta`: `torch.nn.functional.huber_loss`.
    ///
    /// ```text
    /// ℓᵢ = 0.5 dᵢ² if |dᵢ| ≤ δ, else δ (|dᵢ| − 0.5 δ)        dᵢ = xᵢ − yᵢ
    /// ```
    pub fn huber_loss(input: float, target: float; reduction: Reduction, delta: f64) = HuberLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// use losslab::Reduction;
        /// let v = losslab::huber_loss(array![3.0f64].view(), array![0.0f64].view(), Reduction::Mean, 1.0).unwrap();
        /// assert_eq!(v[[]], 2.5);
        /// ```
        ///
        /// # References
        /// [`HuberLoss`]; <https://pytorch.org/docs/stable/generated/torch.nn.functional.huber_loss.html>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn huber_is_delta_times_smooth_l1() {
        let x = array![-3.0f64, -0.7, 0.0, 0.2, 1.5, 4.0];
        let y = array![0.1f64, 0.3, 0.0, -0.1, 0.0, 1.0];
        for delta in [0.1, 0.5, 1.0, 2.5] {
            let h = HuberLoss::new().delta(delta).reduction(Reduction::None).forward(x.view(), y.view()).unwrap();
            let s = SmoothL1Loss::new().beta(delta).reduction(Reduction::None).forward(x.view(), y.view()).unwrap();
            for (a, b) in h.iter().zip(s.iter()) {
                assert!((a - delta * b).abs() <= 1e-15 * a.abs().max(1.0), "{a} vs {delta}·{b}");
            }
        }
    }

    #[test]
    fn negative_beta_and_nonpositive_delta_are_errors() {
        let x = array![1.0f64];
        let e = SmoothL1Loss::new().beta(-1.0).forward(x.view(), x.view()).unwrap_err();
        assert_eq!(e.to_string(), "smooth_l1_loss: option `beta` = -1 is invalid: expected a number >= 0");
        assert!(HuberLoss::new().delta(0.0).forward(x.view(), x.view()).is_err());
        assert!(HuberLoss::new().delta(f64::NAN).forward(x.view(), x.view()).is_err());
    }

    #[test]
    fn empty_batch_mean_is_nan_sum_is_zero() {
        let e = ndarray::Array1::<f32>::zeros(0);
        assert!(mse_loss(e.view(), e.view(), Reduction::Mean).unwrap()[[]].is_nan());
        assert_eq!(mse_loss(e.view(), e.view(), Reduction::Sum).unwrap()[[]], 0.0);
    }
}
