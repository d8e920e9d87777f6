//! Fused, vectorised, multi-threaded kernels behind the losses' fast paths.
//!
//! - [`simd`]: block operations (maximum, exponentials summed in `f64`, affine
//!   update) for AVX-512, AVX2 + FMA (chosen once at run time) and portable code.
//! - [`softmax_ce`]: softmax cross entropy, forward and backward in one sweep
//!   per row.
//! - [`par`]: the parallel loop (rayon, behind the `rayon` feature) with a
//!   partition fixed by the problem's size, so that results are bit-identical
//!   whatever the thread count.
//!
//! Setting the environment variable `LOSSLAB_NO_AVX512` (or `LOSSLAB_NO_SIMD`)
//! before the first call selects the AVX2 (or portable) code, for comparisons.

pub(crate) mod par;
pub(crate) mod simd;
pub(crate) mod softmax_ce;

use crate::float::Float;
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
