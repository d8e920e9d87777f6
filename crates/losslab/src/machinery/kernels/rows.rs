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
    let row = &row;
    // SAFETY: a part's rows are its own (as the caller promises of `row`).
    run_parts(rows, work, |lo, hi| unsafe { f(row, losses, lo, hi) })
}

/// Rows per batch of [`run_batched`].
pub(crate) const BATCH: usize = 64;

/// Rows `lo..hi` of [`run_batched`] ([`part`]'s stores and sum, in the same
/// row order), by batches of [`BATCH`] rows.
#[inline(always)]
unsafe fn part_batched<T: Float, A, M, F>(steps: &(A, M, F), losses: SyncPtr<T>, lo: usize, hi: usize) -> f64
where
    A: Fn(usize) -> f64,
    M: Fn(&[f64], &mut [f64]),
    F: Fn(usize, f64, f64) -> f64,
{
    let (first, middle, row) = steps;
    let mut sum = Neumaier::default();
    let (mut a, mut b) = ([0.0f64; BATCH], [0.0f64; BATCH]);
    for b0 in (lo..hi).step_by(BATCH) {
        let b1 = (b0 + BATCH).min(hi);
        let (a, b) = (&mut a[..b1 - b0], &mut b[..b1 - b0]);
        for (k, v) in a.iter_mut().enumerate() {
            *v = first(b0 + k);
        }
        middle(a, b);
        for (k, (&u, &v)) in a.iter().zip(b.iter()).enumerate() {
            let l = row(b0 + k, u, v);
            if !losses.is_null() {
                *losses.add(b0 + k) = T::from_wide(l);
            }
            sum.add(l);
        }
    }
    sum.total()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn part_batched_avx512<T: Float, A: Fn(usize) -> f64, M: Fn(&[f64], &mut [f64]), F: Fn(usize, f64, f64) -> f64>(
    steps: &(A, M, F),
    losses: SyncPtr<T>,
    lo: usize,
    hi: usize,
) -> f64 {
    part_batched(steps, losses, lo, hi)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn part_batched_avx2<T: Float, A: Fn(usize) -> f64, M: Fn(&[f64], &mut [f64]), F: Fn(usize, f64, f64) -> f64>(
    steps: &(A, M, F),
    losses: SyncPtr<T>,
    lo: usize,
    hi: usize,
) -> f64 {
    part_batched(steps, losses, lo, hi)
}

unsafe fn part_batched_base<T: Float, A: Fn(usize) -> f64, M: Fn(&[f64], &mut [f64]), F: Fn(usize, f64, f64) -> f64>(
    steps: &(A, M, F),
    losses: SyncPtr<T>,
    lo: usize,
    hi: usize,
) -> f64 {
    part_batched(steps, losses, lo, hi)
}

/// [`run`] in three steps over batches of [`BATCH`] consecutive rows:
/// `first(r)` for each row of the batch, `middle(firsts, seconds)` over the
/// batch's values at once (filling `seconds`), then `row(r, first, second)`
/// for each row, whose value is the row's loss (stored and summed as
/// [`run`]'s, in the same order: the same bits whatever the thread count).
/// For a per-row step that costs a call into a library (`pow`): made one
/// batch at a time, the calls do not wait on the rows' memory, nor the rows
/// on the calls.
///
/// # Safety
/// As [`run`]'s.
pub(crate) unsafe fn run_batched<T, A, M, F>(rows: usize, work: usize, losses: SyncPtr<T>, first: A, middle: M, row: F) -> f64
where
    T: Float,
    A: Fn(usize) -> f64 + Sync,
    M: Fn(&[f64], &mut [f64]) + Sync,
    F: Fn(usize, f64, f64) -> f64 + Sync,
{
    let f: unsafe fn(&(A, M, F), SyncPtr<T>, usize, usize) -> f64 = match elementwise::level() {
        #[cfg(target_arch = "x86_64")]
        2 => part_batched_avx512::<T, A, M, F>,
        #[cfg(target_arch = "x86_64")]
        1 => part_batched_avx2::<T, A, M, F>,
        _ => part_batched_base::<T, A, M, F>,
    };
    let steps = (first, middle, row);
    let steps = &steps;
    // SAFETY: a part's rows are its own (as the caller promises of `row`).
    run_parts(rows, work, |lo, hi| unsafe { f(steps, losses, lo, hi) })
}

/// [`run`]'s partition of `rows` rows into parts, with the parts' loop given:
/// `part(lo, hi)` computes rows `lo..hi` (storing what it stores) and returns
/// the sum of their losses compensated in row order, as [`run`]'s parts do;
/// the parts run in parallel where `work` is at least [`par::PAR_MIN_WORK`],
/// and their sums are compensated in part order. `part` must write only its
/// own rows' outputs.
pub(crate) fn run_parts(rows: usize, work: usize, part: impl Fn(usize, usize) -> f64 + Sync) -> f64 {
    if rows == 0 {
        return 0.0;
    }
    let parts = rows.min(MAX_PARTS);
    let per_part = rows.div_ceil(parts);
    let parts = rows.div_ceil(per_part);
    let mut partial = [0.0f64; MAX_PARTS];
    let pp = SyncPtr(partial.as_mut_ptr());
    par::for_each(parts, work, |p| {
        // SAFETY: part p's slot is its own.
        unsafe { *pp.add(p) = part(p * per_part, ((p + 1) * per_part).min(rows)) };
    });
    par::neumaier(&partial[..parts])
}

/// The fixed tree over `N` lanes (a power of two): this module's [`LANES`],
/// the element-wise sweep's chunk lanes ([`elementwise::lane_tree`]).
///
/// The lanes pass through [`std::hint::black_box`] first: the same values,
/// but LLVM then vectorises the loop that accumulated them at the full
/// width. Seeing the tree's pairwise sums, it laid the `LANES` accumulators
/// out as 2-lane vectors (four `xmm` sums where one `zmm` serves; reproduced
/// alone, with or without `avx512vl`, `target-cpu` or the `-slp-*` options).
#[inline(always)]
pub(crate) fn tree<const N: usize>(acc: [f64; N]) -> f64 {
    tree_serial(std::hint::black_box(acc))
}

/// [`tree`] without the `black_box`: for the few sums whose result the next
/// step waits on (the CTC recursion's per-frame sums,
/// [`chain`](super::chain)), where the store and reload would sit on that
/// chain and the accumulating loops are short.
#[inline(always)]
pub(crate) fn tree_serial<const N: usize>(mut acc: [f64; N]) -> f64 {
    debug_assert!(N.is_power_of_two());
    let mut w = N;
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
        // Loaded, computed, then stored (as the element-wise sweep does): the
        // stores need not be proved apart from the loads for the loop to
        // vectorise (interleaved, LLVM kept it scalar).
        let w: [f64; LANES] = std::array::from_fn(|i| cx[i].to_wide());
        let mut o = [0.0f64; LANES];
        for i in 0..LANES {
            let (u, v, g) = f(w[i]);
            a[i] += u;
            b[i] += v;
            o[i] = g;
        }
        *co = o.map(T::from_wide);
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

/// [`lane_sum2_store`] over two slices of one length: `f(a_k, b_k) = (u, v, o)`.
#[inline(always)]
pub(crate) fn lane_sum2_zip_store<T: Float>(a: &[T], b: &[T], out: &mut [T], f: impl Fn(f64, f64) -> (f64, f64, f64)) -> (f64, f64) {
    debug_assert!(a.len() == b.len() && a.len() == out.len());
    let (b, out) = (&b[..a.len()], &mut out[..a.len()]);
    let (mut su, mut sv) = ([0.0f64; LANES], [0.0f64; LANES]);
    let ((ab, ar), (bb, br), (ob, or)) = (a.as_chunks::<LANES>(), b.as_chunks::<LANES>(), out.as_chunks_mut::<LANES>());
    for ((ca, cb), co) in ab.iter().zip(bb).zip(ob.iter_mut()) {
        // Loaded, computed, then stored (see [`lane_sum2_store`]).
        let (x, y): ([f64; LANES], [f64; LANES]) = (std::array::from_fn(|i| ca[i].to_wide()), std::array::from_fn(|i| cb[i].to_wide()));
        let mut o = [0.0f64; LANES];
        for i in 0..LANES {
            let (u, v, g) = f(x[i], y[i]);
            su[i] += u;
            sv[i] += v;
            o[i] = g;
        }
        *co = o.map(T::from_wide);
    }
    let (mut tu, mut tv) = (0.0f64, 0.0f64);
    for ((x, y), o) in ar.iter().zip(br).zip(or.iter_mut()) {
        let (u, v, g) = f(x.to_wide(), y.to_wide());
        tu += u;
        tv += v;
        *o = T::from_wide(g);
    }
    (tree(su) + tu, tree(sv) + tv)
}

/// `K` [`lane_sum`]s at once over two slices of one length: `f(a_k, b_k)`
/// gives the `K` terms of element `k`.
#[inline(always)]
pub(crate) fn lane_sums_zip<T: Float, const K: usize>(a: &[T], b: &[T], f: impl Fn(f64, f64) -> [f64; K]) -> [f64; K] {
    debug_assert_eq!(a.len(), b.len());
    let b = &b[..a.len()];
    let mut acc = [[0.0f64; LANES]; K];
    let ((ab, ar), (bb, br)) = (a.as_chunks::<LANES>(), b.as_chunks::<LANES>());
    for (ca, cb) in ab.iter().zip(bb) {
        for i in 0..LANES {
            let t = f(ca[i].to_wide(), cb[i].to_wide());
            for j in 0..K {
                acc[j][i] += t[j];
            }
        }
    }
    let mut tail = [0.0f64; K];
    for (u, v) in ar.iter().zip(br) {
        let t = f(u.to_wide(), v.to_wide());
        for j in 0..K {
            tail[j] += t[j];
        }
    }
    std::array::from_fn(|j| tree(acc[j]) + tail[j])
}

/// The larger of `a` and `v`, NaN once either is NaN (`a` first: a NaN kept).
#[inline(always)]
fn max_nan2(a: f64, v: f64) -> f64 {
    if v > a || v.is_nan() { v } else { a }
}

/// `max_k f(k, x_k)` over a slice (`k` the element's index), NaN where any
/// `f` is NaN, `−∞` for an empty slice: [`LANES`] running maxima combined in
/// a fixed order, a maximum that vectorises (the maximum is exact: any order
/// gives the same value).
#[inline(always)]
pub(crate) fn lane_max_at<T: Float>(x: &[T], f: impl Fn(usize, f64) -> f64) -> f64 {
    let mut acc = [f64::NEG_INFINITY; LANES];
    let (body, rest) = x.as_chunks::<LANES>();
    for (j, ch) in body.iter().enumerate() {
        for i in 0..LANES {
            acc[i] = max_nan2(acc[i], f(j * LANES + i, ch[i].to_wide()));
        }
    }
    let mut m = f64::NEG_INFINITY;
    for (i, v) in rest.iter().enumerate() {
        m = max_nan2(m, f(body.len() * LANES + i, v.to_wide()));
    }
    acc.into_iter().fold(m, max_nan2)
}

/// [`lane_sum`] with the element's index: `Σ f(k, x_k)`.
#[inline(always)]
pub(crate) fn lane_sum_at<T: Float>(x: &[T], f: impl Fn(usize, f64) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let (body, rest) = x.as_chunks::<LANES>();
    for (j, ch) in body.iter().enumerate() {
        for i in 0..LANES {
            acc[i] += f(j * LANES + i, ch[i].to_wide());
        }
    }
    let mut tail = 0.0f64;
    for (i, v) in rest.iter().enumerate() {
        tail += f(body.len() * LANES + i, v.to_wide());
    }
    tree(acc) + tail
}

/// `out_k = f(a_k, b_k)` (a loop that vectorises).
#[inline(always)]
pub(crate) fn zip_store<T: Float>(a: &[T], b: &[T], out: &mut [T], f: impl Fn(f64, f64) -> f64) {
    debug_assert!(a.len() == b.len() && a.len() == out.len());
    let (b, out) = (&b[..a.len()], &mut out[..a.len()]);
    for ((x, y), o) in a.iter().zip(b).zip(out.iter_mut()) {
        *o = T::from_wide(f(x.to_wide(), y.to_wide()));
    }
}

/// `out_k = f(out_k, b_k)` in place (a loop that vectorises).
#[inline(always)]
pub(crate) fn zip_update<T: Float>(out: &mut [T], b: &[T], f: impl Fn(f64, f64) -> f64) {
    debug_assert_eq!(out.len(), b.len());
    let b = &b[..out.len()];
    for (o, y) in out.iter_mut().zip(b) {
        *o = T::from_wide(f(o.to_wide(), y.to_wide()));
    }
}

/// `ln x` within 1 ulp of libm's, in arithmetic that vectorises (no call, no
/// branch): fdlibm's `__ieee754_log` (the argument reduced to `[√½, √2)`,
/// then `log(1 + f)` by its minimax polynomial in `s = f / (2 + f)`), as
/// [`ln_ge1`](super::softmax_ce::ln_ge1) but for every input: subnormals
/// scaled by 2⁵⁴ first; `ln 0 = −∞`, `ln ∞ = ∞`, NaN for negative inputs and NaN.
#[inline(always)]
pub(crate) fn ln(x: f64) -> f64 {
    const TWO54: f64 = 18_014_398_509_481_984.0;
    let sub = x < f64::MIN_POSITIVE;
    let xs = if sub { x * TWO54 } else { x };
    let bits = xs.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023 - if sub { 54 } else { 0 };
    let v = super::softmax_ce::ln_reduced(e, bits);
    let special = if x == 0.0 { f64::NEG_INFINITY } else if x == f64::INFINITY { x } else { f64::NAN };
    if x > 0.0 && x < f64::INFINITY { v } else { special }
}

/// `log(1 + x)` for `x ≥ 0` (NaN and ∞ propagate) in arithmetic that
/// vectorises: [`ln`]`(u)` of `u = 1 + x` corrected by the rounding of the sum,
/// `+ (x − (u − 1)) / u` (Goldberg's form; within a few ulp of libm's).
#[inline(always)]
pub(crate) fn ln_1p_nonneg(x: f64) -> f64 {
    let u = 1.0 + x;
    let v = ln(u) + (x - (u - 1.0)) / u;
    if x == f64::INFINITY { x } else { v }
}

#[cfg(test)]
mod tests {
    use super::ln;

    #[test]
    fn ln_1p_nonneg_is_close_to_libm() {
        for i in 0..200_000 {
            let x = (i as f64 * 0.0003 - 40.0).exp2();
            let (got, want) = (super::ln_1p_nonneg(x), x.ln_1p());
            assert!((got - want).abs() <= 4.0 * f64::EPSILON * want, "ln_1p({x:e}) = {got:e}, libm {want:e}");
        }
        assert_eq!(super::ln_1p_nonneg(0.0), 0.0);
        assert_eq!(super::ln_1p_nonneg(f64::INFINITY), f64::INFINITY);
        assert!(super::ln_1p_nonneg(f64::NAN).is_nan());
    }

    #[test]
    fn ln_is_within_1_ulp_of_libm() {
        let mut xs: Vec<f64> = (0..200_000).map(|i| 1e-7 + i as f64 * 5e-6).collect();
        xs.extend((0..4_000).map(|i| (i as f64 * 0.37 - 740.0).exp2()));
        xs.extend((0..1_100).map(|i| f64::from_bits(1 + i * 0x0000_1234_5678_9abc)));
        xs.extend((0..100_000).map(|i| 1.0 + i as f64 * 0.031));
        xs.extend([f64::MIN_POSITIVE, 5e-324, 1.0, 1.0 - f64::EPSILON / 2.0, 1.0 + f64::EPSILON, std::f64::consts::SQRT_2, 2.0, 1e300, f64::MAX]);
        for x in xs {
            let (got, want) = (ln(x), x.ln());
            let ulp = if want == 0.0 { f64::MIN_POSITIVE } else { f64::from_bits(want.abs().to_bits() + 1) - want.abs() };
            assert!((got - want).abs() <= ulp, "ln({x:e}) = {got:e}, libm {want:e}");
        }
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert_eq!(ln(-0.0), f64::NEG_INFINITY);
        assert_eq!(ln(f64::INFINITY), f64::INFINITY);
        assert!(ln(-1.0).is_nan() && ln(f64::NAN).is_nan() && ln(f64::NEG_INFINITY).is_nan());
    }
}
