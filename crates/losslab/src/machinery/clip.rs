//! Clipping and maxima with the subgradients JAX (and so Keras on JAX, and optax)
//! takes: 1 strictly inside, ½ exactly on a bound, 0 outside.

/// `keras.backend.epsilon()`.
pub(crate) const KERAS_EPSILON: f64 = 1e-7;

/// `clip(x, lo, hi)` as `jnp.clip`: NaN stays NaN.
#[inline(always)]
pub(crate) fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    if x.is_nan() {
        x
    } else {
        x.max(lo).min(hi)
    }
}

/// `d clip(x, lo, hi) / dx` as JAX computes it for `min(max(x, lo), hi)`:
/// 1 strictly inside, ½ on a bound (JAX splits the gradient of a tie), 0 outside.
#[inline(always)]
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
#[inline(always)]
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
#[inline(always)]
pub(crate) fn abs_grad(x: f64) -> f64 {
    if x >= 0.0 {
        1.0
    } else {
        -1.0
    }
}

/// The clips and their JAX gradients on 16 `f32` lanes (AVX-512), for the
/// element-wise ops' `f32` forms: the bounds are `f32`s, as in a Keras or
/// optax program on `float32` tensors (`1 − ε` rounded to `f32`, so
/// `0.99999988` for Keras's `ε = 10⁻⁷`).
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    /// [`clip`](super::clip) on 16 lanes: NaN stays NaN.
    #[inline(always)]
    pub(crate) unsafe fn clip_ps(x: __m512, lo: __m512, hi: __m512) -> __m512 {
        // max(lo, x) and min(hi, ·) return their second operand, x, where it is NaN.
        _mm512_min_ps(hi, _mm512_max_ps(lo, x))
    }

    /// [`clip_grad`](super::clip_grad) on 16 lanes: 1 strictly inside, ½ on a bound, 0 outside (and for NaN).
    #[inline(always)]
    pub(crate) unsafe fn clip_grad_ps(x: __m512, lo: __m512, hi: __m512) -> __m512 {
        let inside = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, lo) & _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, hi);
        let bound = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(x, lo) | _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(x, hi);
        _mm512_mask_mov_ps(_mm512_maskz_mov_ps(bound, _mm512_set1_ps(0.5)), inside, _mm512_set1_ps(1.0))
    }

    /// [`max_grad`](super::max_grad) on 16 lanes: 1 above, ½ at a tie, 0 below (and for NaN).
    #[inline(always)]
    pub(crate) unsafe fn max_grad_ps(x: __m512, lo: __m512) -> __m512 {
        let above = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, lo);
        let tie = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(x, lo);
        _mm512_mask_mov_ps(_mm512_maskz_mov_ps(tie, _mm512_set1_ps(0.5)), above, _mm512_set1_ps(1.0))
    }
}
