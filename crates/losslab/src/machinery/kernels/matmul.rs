//! Matrix products of `f32`/`f64` operands through the `gemm` crate, for the
//! losses built on products (the LM head, Keras's circle loss): one call
//! shape, any strides, parallel on rayon's current pool. `gemm` splits the
//! output into blocks and sums each element's products in an order fixed by
//! the shapes, so the bits do not depend on the thread count.

use crate::machinery::float::Float;
#[cfg(feature = "rayon")]
use crate::machinery::kernels::par;

/// `dst (m × n) = [dst +] lhs (m × k) · rhs (k × n)` through the `gemm` crate,
/// each operand given by its column and row strides, on rayon's current pool.
///
/// # Safety
/// `dst`, `lhs` and `rhs` must address `m × n`, `m × k` and `k × n` valid
/// elements through their strides, and `dst` must not overlap the operands.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul<T: Float>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_cs: isize,
    dst_rs: isize,
    accumulate: bool,
    lhs: *const T,
    lhs_cs: isize,
    lhs_rs: isize,
    rhs: *const T,
    rhs_cs: isize,
    rhs_rs: isize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                for c in 0..n {
                    *dst.offset(r as isize * dst_rs + c as isize * dst_cs) = T::zero();
                }
            }
        }
        return;
    }
    #[cfg(feature = "rayon")]
    let parallelism = if par::threads() > 1 { gemm::Parallelism::Rayon(par::threads()) } else { gemm::Parallelism::None };
    #[cfg(not(feature = "rayon"))]
    let parallelism = gemm::Parallelism::None;
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_cs,
        dst_rs,
        accumulate,
        lhs,
        lhs_cs,
        lhs_rs,
        rhs,
        rhs_cs,
        rhs_rs,
        T::one(),
        T::one(),
        false,
        false,
        false,
        parallelism,
    );
}
