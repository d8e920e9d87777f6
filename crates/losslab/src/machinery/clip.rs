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
