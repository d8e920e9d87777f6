//! Fused, vectorised, multi-threaded kernels behind the losses' fast paths.
//!
//! - [`simd`]: block operations (maximum, exponentials summed in `f64`, affine
//!   update) for AVX-512, AVX2 + FMA (chosen once at run time) and portable code.
//! - [`elementwise`]: the element-wise losses (MSE, L1, Smooth L1, Huber,
//!   BCE with logits), loss and gradients in one vectorised sweep.
//! - [`softmax_ce`]: softmax cross entropy, forward and backward in one sweep
//!   per row: one driver for every logit type, generic over its block
//!   operations.
//! - [`softmax_ce_half`]: the block operations of `bf16`/`f16` logits,
//!   computed in `f32`, for that driver.
//! - [`rows`]: the per-row losses (NLL, multi-margin, multi-label soft
//!   margin): each row's loss and gradient in one parallel sweep over the rows.
//! - [`chain`]: the CTC losses' chain lattices: each sequence's α–β
//!   recursion vectorised along its states and its gradient rows in one
//!   call, the sequences in parallel.
//! - [`overlap`]: the overlap losses (Dice, Tversky, Jaccard): sums per
//!   group over a run of axes in vectorised lanes, then each element's
//!   gradients from its group's sums, in parallel over fixed pieces.
//! - [`triple`]: element-wise losses of up to three operands of their own
//!   element types (Gaussian NLL, margin ranking, optax's binary sparsemax):
//!   loss and gradients in one sweep of the portable vectorised loop.
//! - [`gemm_bf16`]: matrix products of `bf16` operands accumulated in `f32`
//!   (AVX512_BF16's dot products), for the LM head.
//! - [`matmul`]: `f32`/`f64` matrix products through the `gemm` crate, any
//!   strides, the same bits on any thread count.
//! - [`par`]: the parallel loop (rayon, behind the `rayon` feature) with a
//!   partition fixed by the problem's size, so that results are bit-identical
//!   whatever the thread count.
//!
//! Setting the environment variable `LOSSLAB_NO_AVX512` (or `LOSSLAB_NO_SIMD`)
//! before the first call selects the AVX2 (or portable) code, for comparisons.

pub(crate) mod chain;
pub(crate) mod elementwise;
pub(crate) mod gemm_bf16;
pub(crate) mod matmul;
pub(crate) mod overlap;
pub(crate) mod par;
pub(crate) mod rows;
pub(crate) mod simd;
pub(crate) mod softmax_ce;
pub(crate) mod softmax_ce_half;
pub(crate) mod triple;

use crate::machinery::float::Float;
use simd::BlockOps;
use std::any::TypeId;

/// The block operations for the element type `T`.
pub(crate) fn ops_for<T: Float>() -> &'static BlockOps<T> {
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        // SAFETY: T is f32, so BlockOps<f32> and BlockOps<T> are the same type.
        unsafe { &*(simd::f32_ops() as *const BlockOps<f32>).cast::<BlockOps<T>>() }
    } else {
        static F64: BlockOps<f64> = simd::F64_SCALAR;
        // SAFETY: Float is sealed to f32 and f64, so T is f64.
        unsafe { &*(&F64 as *const BlockOps<f64>).cast::<BlockOps<T>>() }
    }
}

/// The instruction set the `f32` kernels use on this CPU: `"avx512"`,
/// `"avx2+fma"` or `"scalar"`.
///
/// # Examples
/// ```
/// assert!(["avx512", "avx2+fma", "scalar"].contains(&losslab::kernel_isa()));
/// ```
pub fn kernel_isa() -> &'static str {
    simd::f32_ops().name
}

/// `Σᵢ exp(xᵢ − m)`, accumulated in `f64`, with the vectorised exponential of
/// the fused kernels (AVX-512 or AVX2 + FMA where the CPU has them, accurate to
/// 1 ulp; `f64::exp` otherwise). `m` should be at least every `xᵢ` (the maximum,
/// as log-sum-exp subtracts it); `xᵢ = −∞` contributes 0. Single-threaded.
///
/// ```text
/// sum_exp(x, m) = Σᵢ exp(xᵢ − m)
/// ```
///
/// # Examples
/// ```
/// let s = losslab::sum_exp(&[0.0f32, 0.0, f32::NEG_INFINITY], 0.0);
/// assert_eq!(s, 2.0);
/// let lse = 3.0 + losslab::sum_exp(&[1.0f32, 3.0], 3.0).ln();
/// assert!((lse - (1f64.exp() + 3f64.exp()).ln()).abs() < 1e-6);
/// ```
pub fn sum_exp(x: &[f32], m: f32) -> f64 {
    let ops = simd::f32_ops();
    // SAFETY: reads `x.len()` elements of `x`; no destination.
    unsafe { (ops.exp_sum)(x.as_ptr(), std::ptr::null_mut(), x.len(), m, false).0 }
}
