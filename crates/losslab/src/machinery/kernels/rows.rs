//! The per-row losses' sweep (NLL, multi-margin, multi-label soft margin):
//! one pass over the rows of a contiguous `(rows, C)` buffer that computes each
//! row's loss and, where asked, writes its gradient, in the tensors' own type.
//!
//! Rows are cut into at most [`MAX_PARTS`] parts of consecutive rows, fixed by
//! the number of rows alone (never by the number of threads); each part sums
//! its rows' losses in row order (compensated), and the parts' sums are
//! compensated in part order, so that the results are bit-identical whatever
//! the thread count. Parts run in parallel ([`par::for_each`]) once the call
//! touches [`par::PAR_MIN_WORK`] elements.
//!
//! A part's loop is compiled three times, for AVX-512, AVX2 + FMA and the
//! baseline, and chosen once per call (the element-wise loops' choice, with
//! `LOSSLAB_NO_AVX512` / `LOSSLAB_NO_SIMD`): a row function that LLVM can
//! vectorise is vectorised for the CPU. LLVM neither contracts nor reorders
//! floating-point operations, so the three give the same bits.

use super::elementwise;
use super::par::{self, SyncPtr};
use crate::machinery::float::Float;
use crate::machinery::reduction::Neumaier;

/// The most parts a call is cut into.
pub(crate) const MAX_PARTS: usize = 256;

/// Lanes of the row sums of [`lane_sum`]: independent accumulators, combined
/// by a fixed tree, so that a row's sum vectorises.
pub(crate) const LANES: usize = 8;

/// Rows `lo..hi`: each row's loss `row(r)` stored at `losses` (unless it is
/// null), their sum compensated in row order.
#[inline(always)]
unsafe fn part<T: Float, F: Fn(usize) -> f64>(row: &F, losses: SyncPtr<T>, lo: usize, hi: usize) -> f64 {
    let mut sum = Neumaier::default();
    for r in lo..hi {
        let l = row(r);
        if !losses.is_null() {
            *losses.add(r) = T::from_wide(l);
        }
        sum.add(l);
    }
    sum.total()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn part_avx512<T: Float, F: Fn(usize) -> f64>(row: &F, losses: SyncPtr<T>, lo: usize, hi: usize) -> f64 {
    part(row, losses, lo, hi)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn part_avx2<T: Float, F: Fn(usize) -> f64>(row: &F, losses: SyncPtr<T>, lo: usize, hi: usize) -> f64 {
    part(row, losses, lo, hi)
}

unsafe fn part_base<T: Float, F: Fn(usize) -> f64>(row: &F, losses: SyncPtr<T>, lo: usize, hi: usize) -> f64 {
    part(row, losses, lo, hi)
}

/// Runs `row(r)` for every row `r < rows`, in parallel where the call touches
/// `work` elements of at least [`par::PAR_MIN_WORK`]; each row's loss stored at
/// `losses[r]` unless `losses` is null. Returns the sum of the losses, in a
/// fixed order (see the module's docs).
///
/// `row` must write only its own row's outputs (gradients), so that the parts
/// may run at once.
///
/// # Safety
/// `losses` is null or holds `rows` elements that nothing else touches.
pub(crate) unsafe fn run<T: Float, F: Fn(usize) -> f64 + Sync>(rows: usize, work: usize, losses: SyncPtr<T>, row: F) -> f64 {
    if rows == 0 {
        return 0.0;
    }
    let f: unsafe fn(&F, SyncPtr<T>, usize, usize) -> f64 = match elementwise::level() {
        #[cfg(target_arch = "x86_64")]
        2 => part_avx512::<T, F>,
        #[cfg(target_arch = "x86_64")]
        1 => part_avx2::<T, F>,
        _ => part_base::<T, F>,
    };
    let parts = rows.min(MAX_PARTS);
    let per_part = rows.div_ceil(parts);
    let parts = rows.div_ceil(per_part);
    let mut partial = [0.0f64; MAX_PARTS];
    let pp = SyncPtr(partial.as_mut_ptr());
    let row = &row;
    par::for_each(parts, work, |p| {
        // SAFETY: part p's rows and slot are its own.
        unsafe { *pp.add(p) = f(row, losses, p * per_part, ((p + 1) * per_part).min(rows)) };
    });
    par::neumaier(&partial[..parts])
}

/// The fixed tree over the lanes.
#[inline(always)]
fn tree(mut acc: [f64; LANES]) -> f64 {
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for i in 0..w {
            acc[i] += acc[i + w];
        }
    }
    acc[0]
}

/// `Σ f(x_k)` over a slice, in [`LANES`] accumulators (the `k`-th element into
/// lane `k mod LANES`, the last `len mod LANES` into a tail), combined by a
/// fixed tree: a sum that vectorises, the same bits on every instruction set.
#[inline(always)]
pub(crate) fn lane_sum<T: Float>(x: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let (body, rest) = x.as_chunks::<LANES>();
    for ch in body {
        for i in 0..LANES {
            acc[i] += f(ch[i].to_wide());
        }
    }
    let mut tail = 0.0f64;
    for v in rest {
        tail += f(v.to_wide());
    }
    tree(acc) + tail
}

/// [`lane_sum`] over two slices of one length: `Σ f(a_k, b_k)`.
#[inline(always)]
pub(crate) fn lane_sum_zip<T: Float>(a: &[T], b: &[T], f: impl Fn(f64, f64) -> f64) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let b = &b[..a.len()];
    let mut acc = [0.0f64; LANES];
    let ((ab, ar), (bb, br)) = (a.as_chunks::<LANES>(), b.as_chunks::<LANES>());
    for (ca, cb) in ab.iter().zip(bb) {
        for i in 0..LANES {
            acc[i] += f(ca[i].to_wide(), cb[i].to_wide());
        }
    }
    let mut tail = 0.0f64;
    for (u, v) in ar.iter().zip(br) {
        tail += f(u.to_wide(), v.to_wide());
    }
    tree(acc) + tail
}

/// Two [`lane_sum`]s at once that also write an output per element:
/// `f(x_k) = (a, b, o)` adds `a` and `b` to their sums and stores `o` at
/// `out[k]` (`out` as long as `x`).
#[inline(always)]
pub(crate) fn lane_sum2_store<T: Float>(x: &[T], out: &mut [T], f: impl Fn(f64) -> (f64, f64, f64)) -> (f64, f64) {
    debug_assert_eq!(x.len(), out.len());
    let out = &mut out[..x.len()];
    let (mut a, mut b) = ([0.0f64; LANES], [0.0f64; LANES]);
    let ((xb, xr), (ob, or)) = (x.as_chunks::<LANES>(), out.as_chunks_mut::<LANES>());
    for (cx, co) in xb.iter().zip(ob.iter_mut()) {
        for i in 0..LANES {
            let (u, v, o) = f(cx[i].to_wide());
            a[i] += u;
            b[i] += v;
            co[i] = T::from_wide(o);
        }
    }
    let (mut ta, mut tb) = (0.0f64, 0.0f64);
    for (v, o) in xr.iter().zip(or.iter_mut()) {
        let (u, w, g) = f(v.to_wide());
        ta += u;
        tb += w;
        *o = T::from_wide(g);
    }
    (tree(a) + ta, tree(b) + tb)
}
