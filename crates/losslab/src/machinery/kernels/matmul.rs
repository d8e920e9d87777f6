//! Matrix products of `f32`/`f64` operands through the `gemm` crate, for the
//! losses built on products (the LM head, Keras's circle loss): one call
//! shape, any strides, parallel on rayon's current pool. `gemm` splits the
//! output into blocks and sums each element's products in an order fixed by
//! the shapes, so the bits do not depend on the thread count.
//!
//! The LM head's products go through [`matmul_split`] and [`matmul_nt`]
//! instead: the destination cut into blocks of a fixed size, each block one
//! single-threaded `gemm` call, the blocks spread over the pool. `gemm`'s own
//! parallel loop synchronises its threads once per block of the contraction
//! axis (a few hundred times for `dX = G · W` on 128256 classes) and its
//! packing of a row-major `W` for `X · Wᵀ` (a transpose, element by element)
//! took as long as the product on 128-token tiles; [`matmul_nt`] transposes
//! blocks of `W` 16 × 16 in registers instead. An element's sum is split
//! only along the contraction axis, in blocks `gemm` chooses from that axis's
//! length (and, for blocks of at most 64 × 64, from the block's shape, which
//! is fixed here), so the bits do not depend on the thread count either.

use crate::machinery::float::Float;
use crate::machinery::kernels::par::{self, SyncPtr};
use crate::machinery::kernels::{gemm_bf16, simd};

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
    call(m, n, k, dst, dst_cs, dst_rs, accumulate, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs, parallelism);
}

/// One `gemm` call, `dst = [dst +] lhs · rhs`, on `parallelism`.
///
/// # Safety
/// As [`matmul`]'s, with `k > 0`.
#[allow(clippy::too_many_arguments)]
unsafe fn call<T: Float>(
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
    parallelism: gemm::Parallelism,
) {
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

/// How [`matmul_split`] cuts the destination: into blocks of this many rows,
/// or of this many columns.
#[derive(Clone, Copy)]
pub(crate) enum Split {
    /// Blocks of rows (of `dst` and `lhs`).
    Rows(usize),
    /// Blocks of columns (of `dst` and `rhs`).
    Cols(usize),
}

/// `dst (m × n) = [dst +] lhs (m × k) · rhs (k × n)` as [`matmul`], the
/// destination cut by `split` into blocks of a fixed size, each block one
/// single-threaded `gemm` call, the blocks in parallel on rayon's pool.
///
/// # Safety
/// As [`matmul`]'s.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul_split<T: Float>(
    split: Split,
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
    if m == 0 || n == 0 || k == 0 {
        return matmul(m, n, k, dst, dst_cs, dst_rs, accumulate, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs);
    }
    let (len, size) = match split {
        Split::Rows(b) => (m, b.max(1)),
        Split::Cols(b) => (n, b.max(1)),
    };
    let (dst, lhs, rhs) = (SyncPtr(dst), SyncPtr(lhs.cast_mut()), SyncPtr(rhs.cast_mut()));
    par::for_each(len.div_ceil(size), m * n * k, |q| {
        let (a, b) = (q * size, ((q + 1) * size).min(len));
        // SAFETY: block q writes its own rows (columns) of dst; the operands are read only.
        unsafe {
            match split {
                Split::Rows(_) => call(b - a, n, k, dst.add(0).offset(a as isize * dst_rs), dst_cs, dst_rs, accumulate, lhs.add(0).offset(a as isize * lhs_rs), lhs_cs, lhs_rs, rhs.add(0), rhs_cs, rhs_rs, gemm::Parallelism::None),
                Split::Cols(_) => call(m, b - a, k, dst.add(0).offset(a as isize * dst_cs), dst_cs, dst_rs, accumulate, lhs.add(0), lhs_cs, lhs_rs, rhs.add(0).offset(a as isize * rhs_cs), rhs_cs, rhs_rs, gemm::Parallelism::None),
            }
        }
    });
}

/// The rows of `b` per block of [`matmul_nt`].
const NT_BLOCK: usize = 128;

/// `dst (m × n, row stride ldd) = a (m × k, row stride lda) · bᵀ` with `b`
/// row-major `(n × k, row stride ldb)`: by blocks of [`NT_BLOCK`] rows of `b`,
/// each transposed into a per-thread `(k × NT_BLOCK)` buffer (16 × 16 in
/// AVX-512 registers for `f32`) and multiplied by one single-threaded `gemm`
/// call, the blocks in parallel. Working memory: one buffer per thread.
///
/// # Safety
/// `dst`, `a` and `b` address what the shapes and strides say; `dst` does not
/// overlap them.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul_nt<T: Float>(m: usize, n: usize, k: usize, dst: *mut T, ldd: usize, a: *const T, lda: usize, b: *const T, ldb: usize) {
    if m == 0 || n == 0 || k == 0 {
        return matmul(m, n, k, dst, 1, ldd as isize, false, a, 1, lda as isize, b, ldb as isize, 1);
    }
    let blocks = n.div_ceil(NT_BLOCK);
    let parts = par::threads().clamp(1, blocks);
    let f32_simd = std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && simd::f32_ops().name == "avx512";
    let (dst, a, b) = (SyncPtr(dst), SyncPtr(a.cast_mut()), SyncPtr(b.cast_mut()));
    par::for_each(parts, m * n * k, |q| {
        let mut bt = vec![T::zero(); k * NT_BLOCK];
        for blk in q * blocks / parts..(q + 1) * blocks / parts {
            let (j0, j1) = (blk * NT_BLOCK, ((blk + 1) * NT_BLOCK).min(n));
            let nb = j1 - j0;
            // SAFETY: rows j0..j1 of b are read, columns j0..j1 of dst written by this block alone.
            unsafe {
                let src = b.add(j0 * ldb);
                if f32_simd {
                    // SAFETY: T is f32 and the AVX-512 kernels run here.
                    gemm_bf16::transpose_f32(nb, k, src.cast::<f32>(), ldb, bt.as_mut_ptr().cast::<f32>(), nb);
                } else {
                    for r0 in (0..nb).step_by(16) {
                        for c0 in (0..k).step_by(16) {
                            for r in r0..(r0 + 16).min(nb) {
                                for c in c0..(c0 + 16).min(k) {
                                    bt[c * nb + r] = *src.add(r * ldb + c);
                                }
                            }
                        }
                    }
                }
                call(m, nb, k, dst.add(j0), 1, ldd as isize, false, a.add(0), 1, lda as isize, bt.as_ptr(), 1, nb as isize, gemm::Parallelism::None);
            }
        }
    });
}
