//! Fused softmax cross entropy over the rows of a contiguous `(rows, C)`
//! buffer: the loss of each row and, where asked, its gradient, written in
//! place over the logits or into a separate buffer.
//!
//! One driver, [`Job`], serves every logit type: it is generic over the block
//! operations ([`RowOps`]), which say what differs between them — the element
//! read from memory, where the exponentials of pass 1 are kept for pass 2, and
//! the pass-2 write:
//!
//! - `f32`/`f64` ([`BlockOps`], per instruction set in [`simd`]): the
//!   exponentials stored in the destination, pass 2 an affine update in place;
//! - `bf16`/`f16` ([`HalfOps`](super::softmax_ce_half::HalfOps), in
//!   [`softmax_ce_half`](super::softmax_ce_half)): the logits widened to `f32`,
//!   the exponentials kept in an `f32` scratch row on the stack of each task,
//!   pass 2 the affine update narrowed to the half type; rows longer than the
//!   scratch row recompute the exponentials in pass 2.
//!
//! Per row, in blocks of [`block_len`] elements (a few thousand, so that a
//! block stays in the L1 cache):
//!
//! ```text
//! pass 1, per block b:  m_b = max x,  e_k = exp(x_k − m_b) kept,  s_b = Σ e_k (f64)
//! combine, in order:    M = max m_b,  S = Σ_b s_b · exp(m_b − M),  log Σ exp x = M + log S
//! pass 2, per block b:  grad_k = e_k · f_b + c,  f_b = −Σg · exp(m_b − M) / S   (from cache)
//!                       and the target's element recomputed in f64
//! ```
//!
//! so that the logits are read from memory once and the gradient written once.
//! Block boundaries depend only on `C`, row groups only on the number of rows,
//! and partial results are combined in a fixed order: the results are
//! bit-identical whatever the number of threads. Rows are spread over threads;
//! when there are fewer rows than twice the threads, the blocks of each row are.
//!
//! `f32`/`f64` rows that fit one block (`C ≤ BLOCK`) with class-index targets
//! (not both weights and label smoothing) take the single-block path instead
//! ([`RowOps::fast_path`]): rows go
//! [`ROW_GROUP`] at a time through one kernel call that leaves each row's
//! maximum, sum of exponentials (and `Σ (x − m)` for smoothing) and stored
//! exponentials, then one vectorisable `ln` over the group's sums, then the
//! loss and the gradient `e · f + c` of each row; no block statistics, no
//! per-row dispatch or closures, no `f64` `exp` per row. Rows of at most
//! [`simd::SHORT_ROW_MAX`] `f32` are held in AVX-512 registers whole. The
//! instruction set is chosen once per call.

use super::par::{self, SyncPtr};
use super::simd::{self, BlockOps, RowIo, ShortRowsFn, ROW_GROUP};
use crate::machinery::float::{ClassIndex, Float};
use crate::machinery::reduction::{sum_f64, Neumaier};
use std::mem::MaybeUninit;

/// The preferred block length, in elements.
pub(crate) const BLOCK: usize = 2048;
/// The most blocks per row (their statistics live on the stack).
pub(crate) const MAX_BLOCKS: usize = 256;
/// The most row groups (their partial sums live on the stack).
pub(crate) const MAX_PARTS: usize = 256;

/// The block length for rows of `c` classes: [`BLOCK`], or longer for rows of
/// more than `BLOCK · MAX_BLOCKS` elements. A function of `c` alone.
pub(crate) fn block_len(c: usize) -> usize {
    BLOCK.max(c.div_ceil(MAX_BLOCKS).div_ceil(64) * 64)
}

/// The targets of the rows.
#[derive(Clone, Copy)]
pub(crate) enum Targets<'a, T, L> {
    /// One class index per row (validated: in `[0, C)` or `ignore_index`).
    Index { labels: &'a [L], ignore_index: Option<i64> },
    /// A distribution over the classes per row (`rows × C`, contiguous).
    Probs { t: &'a [T] },
}

/// The upstream gradient of each row's loss.
#[derive(Clone, Copy)]
pub(crate) enum Up<'a> {
    /// The same for every row.
    Uniform(f64),
    /// One per row.
    PerRow(&'a [f64]),
}

impl Up<'_> {
    #[inline]
    fn at(&self, r: usize) -> f64 {
        match self {
            Up::Uniform(g) => *g,
            Up::PerRow(v) => v[r],
        }
    }
}

/// What the driver needs of the block operations of one logit type: the
/// element read from memory and written back ([`RowOps::X`]), where the
/// exponentials of pass 1 are kept for pass 2 ([`RowOps::E`]: the destination
/// itself, or a scratch row on the stack of the task), and the pass-2 write
/// (`e · f + c` in place, or narrowed from the scratch row). Implemented by
/// [`BlockOps`] (`f32`, `f64`: exponentials in the destination) and by
/// [`HalfOps`](super::softmax_ce_half::HalfOps) (`bf16`, `f16`: exponentials in
/// an `f32` scratch row).
pub(crate) trait RowOps: Sync + Sized + 'static {
    /// The logits' and the gradient's element.
    type X: Copy;
    /// The element the exponentials are kept in between the passes.
    type E: Copy;
    /// Each task's scratch row for the exponentials (`()` where they go to the destination).
    type Scratch;
    /// The per-row losses' element.
    type Loss: Copy;
    /// The element of probability targets.
    type P: Float;
    /// `x` widened to `f64` (exact).
    fn wide(x: Self::X) -> f64;
    /// `v` rounded to the element (to nearest even).
    fn narrow(v: f64) -> Self::X;
    /// A loss rounded to the losses' element.
    fn loss(v: f64) -> Self::Loss;
    /// A kept exponential widened to `f64` (exact).
    fn e_wide(e: Self::E) -> f64;
    /// The maximum of a block (widened) ignoring NaN, and whether it holds a NaN.
    ///
    /// # Safety
    /// `src` holds `len` elements.
    unsafe fn max(&self, src: *const Self::X, len: usize) -> (f64, bool);
    /// The exponentials `exp(x − mref)` of a block, kept at `e` unless it is
    /// null; `(Σ exp(x − mref), Σ (x − mref))` (the second when `want_xsum`).
    /// `mref` is a block maximum as [`RowOps::max`] gave it, or 0.
    ///
    /// # Safety
    /// `src` holds `len` elements, `e` is null or has room for `len`.
    unsafe fn exp_sum(&self, src: *const Self::X, e: *mut Self::E, len: usize, mref: f64, want_xsum: bool) -> (f64, f64);
    /// Pass 2: `dst[i] = e[i] · f + c` (`f` and `c` rounded to the compute type).
    ///
    /// # Safety
    /// `e` and `dst` hold `len` elements (the same buffer where the exponentials
    /// are kept in the destination).
    unsafe fn affine(&self, e: *const Self::E, dst: *mut Self::X, len: usize, f: f64, c: f64);
    /// Where the exponentials of the row whose gradient goes to `dst` are kept:
    /// `dst`, or the task's scratch row `scratch`; null for none.
    fn exps_at(dst: *mut Self::X, scratch: *mut Self::E) -> *mut Self::E;
    /// The task's scratch row in `s` for rows of `classes` elements, or null
    /// where the exponentials are not kept there (no gradient, rows too long,
    /// or kept in the destination).
    fn scratch_row(s: &mut MaybeUninit<Self::Scratch>, classes: usize, grad: bool) -> *mut Self::E;
    /// Pass 2 of a row whose exponentials were not kept: those of `[lo, hi)`
    /// recomputed against `mref`, chunk by chunk, each handed to
    /// `f(offset, exps, len)`.
    ///
    /// # Safety
    /// `src` holds the row.
    unsafe fn recompute(&self, src: *const Self::X, lo: usize, hi: usize, mref: f64, f: &mut dyn FnMut(usize, *const Self::E, usize));
    /// The job's total by a faster path, where one takes it (the single-block
    /// path of `f32`/`f64`); `None` for the blockwise driver.
    fn fast_path<L: ClassIndex>(_job: &Job<'_, Self, L>, _parts: usize, _per_part: usize, _blen: usize) -> Option<f64> {
        None
    }
}

/// One fused evaluation.
pub(crate) struct Job<'a, O: RowOps, L> {
    pub(crate) ops: &'a O,
    /// The logits (`rows × classes`); in place, the same buffer as `dst`.
    pub(crate) src: *const O::X,
    /// Where the gradient goes (`rows × classes`); null for the loss alone.
    pub(crate) dst: SyncPtr<O::X>,
    /// Where each row's loss goes (`rows`); null when only the total is wanted.
    pub(crate) losses: SyncPtr<O::Loss>,
    pub(crate) rows: usize,
    pub(crate) classes: usize,
    pub(crate) weight: Option<&'a [f64]>,
    pub(crate) eps: f64,
    pub(crate) targets: Targets<'a, O::P, L>,
    pub(crate) up: Up<'a>,
}

// SAFETY: the raw pointers are read (src) or written in disjoint ranges (dst,
// losses) by the parallel tasks; the job itself is shared read-only.
unsafe impl<O: RowOps, L: Sync> Sync for Job<'_, O, L> {}

/// The sums of pass 1 over the logits of a block `[lo, hi)` before its
/// exponentials are taken against `mref`: `(xs, ws, gs)` of [`Stat`].
type BlockSums<'a> = dyn Fn(usize, usize, f64) -> (f64, f64, f64) + Sync + 'a;

/// Per-block statistics of pass 1.
#[derive(Clone, Copy, Default)]
struct Stat {
    /// The block's maximum.
    m: f64,
    /// The reference the exponentials were taken against: `m`, or 0 when `m = −∞`.
    mref: f64,
    /// `Σ exp(x − mref)`.
    s: f64,
    /// Index targets: `Σ w (x − mref)` (smoothing only). Probability targets: `Σ w t (x − mref)`.
    xs: f64,
    /// Index targets: `Σ w` over the block. Probability targets: `Σ w t`.
    ws: f64,
    /// Probability targets: `Σ (up · w) · t`, the upstream gradient's sum, as
    /// the general path sums it (so that a gradient that is 0 comes out 0).
    gs: f64,
    /// NaN or `+∞` in the block.
    special: bool,
}

/// A row's combined statistics.
struct RowStat {
    m: f64,
    log_s: f64,
    s: f64,
    /// `Σ w (x − M)` (index targets with smoothing) or `Σ w t (x − M)` (probabilities).
    wx: f64,
    /// `Σ w t` (probabilities).
    wt: f64,
    /// `Σ (up · w) · t` (probabilities).
    gt: f64,
    special: bool,
}

impl<O: RowOps, L: ClassIndex> Job<'_, O, L> {
    /// Runs the job; the sum of the rows' losses (compensated, in a fixed order).
    pub(crate) fn run(&self) -> f64 {
        if self.rows == 0 {
            return 0.0;
        }
        let blen = block_len(self.classes);
        let nblocks = self.classes.div_ceil(blen);
        let parts = self.rows.min(MAX_PARTS);
        let per_part = self.rows.div_ceil(parts);
        let parts = self.rows.div_ceil(per_part);
        if let Some(total) = O::fast_path(self, parts, per_part, blen) {
            return total;
        }
        let mut partial = [0.0f64; MAX_PARTS];
        let partial_ptr = SyncPtr(partial.as_mut_ptr());
        let split_rows = self.rows >= 2 * par::threads() || nblocks < 2;
        let grad = !self.dst.is_null();
        let part = |p: usize, split_blocks: bool| {
            let mut stats = [Stat::default(); MAX_BLOCKS];
            let mut scratch = MaybeUninit::<O::Scratch>::uninit();
            let scratch = SyncPtr(O::scratch_row(&mut scratch, self.classes, grad));
            let rows = p * per_part..((p + 1) * per_part).min(self.rows);
            // SAFETY: row r is this task's alone, and so is the scratch row.
            let total = sum_f64(rows.map(|r| unsafe { self.row(r, blen, nblocks, &mut stats[..nblocks.max(1)], scratch, split_blocks) }));
            // SAFETY: slot p is this task's alone.
            unsafe { *partial_ptr.add(p) = total };
        };
        if split_rows {
            par::for_each(parts, self.rows * self.classes, |p| part(p, false));
        } else {
            (0..parts).for_each(|p| part(p, true));
        }
        par::neumaier(&partial[..parts])
    }

    /// The loss of row `r`, its gradient written when `dst` is set.
    ///
    /// # Safety
    /// Row `r` of `dst` and `losses` is not touched by any other task;
    /// `scratch` is null or a scratch row that is this row's alone.
    unsafe fn row(&self, r: usize, blen: usize, nblocks: usize, stats: &mut [Stat], scratch: SyncPtr<O::E>, split_blocks: bool) -> f64 {
        let c = self.classes;
        let base = r * c;
        let src = self.src.add(base);
        let dst = self.dst.add(base);
        let ex = if dst.is_null() { std::ptr::null_mut() } else { O::exps_at(dst, scratch.0) };
        let loss = match self.targets {
            Targets::Index { labels, ignore_index } => {
                let l = labels[r].index();
                if Some(l) == ignore_index {
                    if !dst.is_null() {
                        std::slice::from_raw_parts_mut(dst, c).fill(O::narrow(0.0));
                    }
                    0.0
                } else {
                    self.index_row(r, l as usize, src, dst, ex, blen, nblocks, stats, split_blocks)
                }
            }
            Targets::Probs { t } => self.probs_row(r, &t[base..base + c], src, dst, ex, blen, nblocks, stats, split_blocks),
        };
        if !self.losses.is_null() {
            *self.losses.add(r) = O::loss(loss);
        }
        loss
    }

    /// Pass 1 over every block of a row (the exponentials kept at `ex` unless
    /// it is null), then the combination.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn pass1(
        &self,
        src: *const O::X,
        ex: *mut O::E,
        blen: usize,
        nblocks: usize,
        stats: &mut [Stat],
        split_blocks: bool,
        extra: Option<&BlockSums<'_>>,
        want_xsum: bool,
    ) -> RowStat {
        let c = self.classes;
        let ops = self.ops;
        let sp = SyncPtr(stats.as_mut_ptr());
        let ep = SyncPtr(ex);
        let sp_src = SyncPtr(src as *mut O::X);
        let block = |b: usize| {
            let (lo, hi) = (b * blen, ((b + 1) * blen).min(c));
            let (len, s) = (hi - lo, sp_src.add(lo) as *const O::X);
            let (m, nan) = ops.max(s, len);
            let st = if nan || m == f64::INFINITY {
                Stat { m, special: true, ..Stat::default() }
            } else {
                let mref = if m == f64::NEG_INFINITY { 0.0 } else { m };
                // Before the exponentials overwrite the logits (in place).
                let (exs, ews, gs) = match extra {
                    _ if want_xsum => (0.0, len as f64, 0.0),
                    Some(extra) => extra(lo, hi, mref),
                    None => (0.0, 0.0, 0.0),
                };
                let (sum, xs) = ops.exp_sum(s, ep.add(lo), len, mref, want_xsum);
                let xs = if want_xsum { xs } else { exs };
                Stat { m, mref, s: sum, xs, ws: ews, gs, special: false }
            };
            *sp.add(b) = st;
        };
        if split_blocks {
            par::for_each(nblocks, self.classes, block);
        } else {
            (0..nblocks).for_each(block);
        }
        let stats = &stats[..nblocks];
        let mut m = f64::NEG_INFINITY;
        let mut special = false;
        for st in stats {
            special |= st.special;
            m = m.max(st.m);
        }
        if special || !m.is_finite() {
            return RowStat { m, log_s: f64::NAN, s: f64::NAN, wx: f64::NAN, wt: f64::NAN, gt: f64::NAN, special: true };
        }
        let (mut s, mut wx, mut wt, mut gt) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for st in stats {
            if st.m == f64::NEG_INFINITY {
                // exp(−∞ − x) = 0 for every element; Σ w (x − M) = −∞ where w > 0.
                wx += st.xs + st.ws * (st.mref - m);
                wt += st.ws;
                gt += st.gs;
                continue;
            }
            s += st.s * if st.m == m { 1.0 } else { (st.m - m).exp() };
            wx += st.xs + st.ws * (st.mref - m);
            wt += st.ws;
            gt += st.gs;
        }
        RowStat { m, log_s: s.ln(), s, wx, wt, gt, special: false }
    }

    /// Pass 2: `grad = e · f_b + c_k` over every block, from the exponentials
    /// kept at `ex`, or recomputed from `src` where `ex` is null.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn pass2(
        &self,
        src: *const O::X,
        dst: *mut O::X,
        ex: *mut O::E,
        blen: usize,
        nblocks: usize,
        stats: &[Stat],
        rs: &RowStat,
        neg_total: f64,
        split_blocks: bool,
        per_elem: Option<&(dyn Fn(usize) -> f64 + Sync)>,
        uniform_c: f64,
    ) {
        let c = self.classes;
        let ops = self.ops;
        let dp = SyncPtr(dst);
        let ep = SyncPtr(ex);
        let sp_src = SyncPtr(src as *mut O::X);
        let block = |b: usize| {
            let (lo, hi) = (b * blen, ((b + 1) * blen).min(c));
            let st = stats[b];
            let f = if st.m == f64::NEG_INFINITY {
                0.0
            } else if st.m == rs.m {
                // exp(0) = 1: the same value without the call.
                neg_total / rs.s
            } else {
                neg_total * (st.m - rs.m).exp() / rs.s
            };
            let mut write = |off: usize, e: *const O::E, n: usize| match per_elem {
                None => ops.affine(e, dp.add(off), n, f, uniform_c),
                Some(g) => {
                    for k in 0..n {
                        *dp.add(off + k) = O::narrow(g(off + k) + O::e_wide(*e.add(k)) * f);
                    }
                }
            };
            if ep.is_null() {
                ops.recompute(sp_src.add(0), lo, hi, st.mref, &mut write);
            } else {
                write(lo, ep.add(lo), hi - lo);
            }
        };
        if split_blocks {
            par::for_each(nblocks, self.classes, block);
        } else {
            (0..nblocks).for_each(block);
        }
    }

    #[allow(clippy::too_many_arguments)]
    unsafe fn index_row(
        &self,
        r: usize,
        y: usize,
        src: *const O::X,
        dst: *mut O::X,
        ex: *mut O::E,
        blen: usize,
        nblocks: usize,
        stats: &mut [Stat],
        split_blocks: bool,
    ) -> f64 {
        let c = self.classes;
        let eps = self.eps;
        let xy = O::wide(*src.add(y));
        let w = self.weight;
        let smoothing = eps > 0.0;
        let sp = SyncPtr(src as *mut O::X);
        let weights = w.unwrap_or(&[]);
        let weighted_sum = |lo: usize, hi: usize, mref: f64| -> (f64, f64, f64) {
            let x = std::slice::from_raw_parts(sp.add(lo), hi - lo);
            let (mut xs, mut ws) = (0.0, 0.0);
            for (k, &v) in x.iter().enumerate() {
                xs += weights[lo + k] * (O::wide(v) - mref);
                ws += weights[lo + k];
            }
            (xs, ws, 0.0)
        };
        // The weighted sum (smoothing with weights) needs the logits before pass
        // 1 overwrites them: it is taken inside pass 1, block by block, before
        // the exponentials are stored.
        let extra: Option<&BlockSums<'_>> = if smoothing && w.is_some() { Some(&weighted_sum) } else { None };
        let rs = self.pass1(src, ex, blen, nblocks, stats, split_blocks, extra, smoothing && w.is_none());
        let wy = w.map_or(1.0, |w| w[y]);
        let up = self.up.at(r);
        if rs.special {
            if !dst.is_null() {
                std::slice::from_raw_parts_mut(dst, c).fill(O::narrow(f64::NAN));
            }
            return f64::NAN;
        }
        // As `CrossEntropyLoss::indexed_losses` and `indexed_grad` compute them.
        let lp_y = (xy - rs.m) - rs.log_s;
        let nll = -(lp_y * wy);
        let loss = if smoothing {
            let wsum = rs.wt;
            let smooth = -(rs.wx - wsum * rs.log_s);
            (1.0 - eps) * nll + smooth * (eps / c as f64)
        } else {
            nll
        };
        if !dst.is_null() {
            let g_y_main = -(wy * ((1.0 - eps) * up));
            let b = up * (eps / c as f64);
            let wsum = if smoothing { rs.wt } else { 0.0 };
            let total = g_y_main - b * wsum;
            let weighted_c = |k: usize| -b * w.map_or(1.0, |w| w[k]);
            let per_elem: Option<&(dyn Fn(usize) -> f64 + Sync)> = if smoothing && w.is_some() { Some(&weighted_c) } else { None };
            self.pass2(src, dst, ex, blen, nblocks, stats, &rs, -total, split_blocks, per_elem, -b);
            // The target's element in f64: g_y − p_y · Σg, without cancellation.
            let g_y = g_y_main - b * wy;
            *dst.add(y) = O::narrow(g_y - lp_y.exp() * total);
        }
        loss
    }

    #[allow(clippy::too_many_arguments)]
    unsafe fn probs_row(
        &self,
        r: usize,
        t: &[O::P],
        src: *const O::X,
        dst: *mut O::X,
        ex: *mut O::E,
        blen: usize,
        nblocks: usize,
        stats: &mut [Stat],
        split_blocks: bool,
    ) -> f64 {
        let c = self.classes;
        let eps = self.eps;
        let w = self.weight;
        let smoothed = |k: usize| {
            let v = t[k].to_wide();
            if eps > 0.0 {
                v * (1.0 - eps) + eps / c as f64
            } else {
                v
            }
        };
        let sp = SyncPtr(src as *mut O::X);
        let up = self.up.at(r);
        let wt_sums = |lo: usize, hi: usize, mref: f64| -> (f64, f64, f64) {
            let x = std::slice::from_raw_parts(sp.add(lo), hi - lo);
            let (mut xs, mut ws, mut gs) = (0.0, 0.0, 0.0);
            for (k, &v) in x.iter().enumerate() {
                let (wk, tk) = (w.map_or(1.0, |w| w[lo + k]), smoothed(lo + k));
                let wt = wk * tk;
                xs += (O::wide(v) - mref) * wt;
                ws += wt;
                gs += (up * wk) * tk;
            }
            (xs, ws, gs)
        };
        let rs = self.pass1(src, ex, blen, nblocks, stats, split_blocks, Some(&wt_sums), false);
        if rs.special {
            if !dst.is_null() {
                std::slice::from_raw_parts_mut(dst, c).fill(O::narrow(f64::NAN));
            }
            return f64::NAN;
        }
        // ℓ = −Σ w t (x − M − log S)
        let loss = -(rs.wx - rs.wt * rs.log_s);
        if !dst.is_null() {
            // g_k = −up · w_k · t_k; grad_k = g_k − p_k Σg.
            let g = |k: usize| -(up * w.map_or(1.0, |w| w[k])) * smoothed(k);
            let total = -rs.gt;
            self.pass2(src, dst, ex, blen, nblocks, stats, &rs, -total, split_blocks, Some(&g), 0.0);
        }
        loss
    }
}

/// `f32` and `f64` logits: the exponentials kept in the destination, the
/// single-block path for rows of at most [`BLOCK`] elements.
impl<T: Float> RowOps for BlockOps<T> {
    type X = T;
    type E = T;
    type Scratch = ();
    type Loss = T;
    type P = T;
    #[inline(always)]
    fn wide(x: T) -> f64 {
        x.to_wide()
    }
    #[inline(always)]
    fn narrow(v: f64) -> T {
        T::from_wide(v)
    }
    #[inline(always)]
    fn loss(v: f64) -> T {
        T::from_wide(v)
    }
    #[inline(always)]
    fn e_wide(e: T) -> f64 {
        e.to_wide()
    }
    #[inline(always)]
    unsafe fn max(&self, src: *const T, len: usize) -> (f64, bool) {
        let (m, nan) = (self.max)(src, len);
        (m.to_wide(), nan)
    }
    #[inline(always)]
    unsafe fn exp_sum(&self, src: *const T, e: *mut T, len: usize, mref: f64, want_xsum: bool) -> (f64, f64) {
        (self.exp_sum)(src, e, len, T::from_wide(mref), want_xsum)
    }
    #[inline(always)]
    unsafe fn affine(&self, e: *const T, dst: *mut T, len: usize, f: f64, c: f64) {
        debug_assert!(std::ptr::eq(e, dst), "the exponentials are kept in the destination");
        (self.affine)(dst, len, T::from_wide(f), T::from_wide(c));
    }
    #[inline(always)]
    fn exps_at(dst: *mut T, _scratch: *mut T) -> *mut T {
        dst
    }
    #[inline(always)]
    fn scratch_row(_s: &mut MaybeUninit<()>, _classes: usize, _grad: bool) -> *mut T {
        std::ptr::null_mut()
    }
    unsafe fn recompute(&self, _src: *const T, _lo: usize, _hi: usize, _mref: f64, _f: &mut dyn FnMut(usize, *const T, usize)) {
        unreachable!("the exponentials of f32 and f64 rows are kept in the destination")
    }
    fn fast_path<L: ClassIndex>(job: &Job<'_, Self, L>, parts: usize, per_part: usize, blen: usize) -> Option<f64> {
        if !job.single_block() {
            return None;
        }
        let mut partial = [0.0f64; MAX_PARTS];
        let partial_ptr = SyncPtr(partial.as_mut_ptr());
        let kernels = job.row_kernels();
        par::for_each(parts, job.rows * job.classes, |p| {
            let (lo, hi) = (p * per_part, ((p + 1) * per_part).min(job.rows));
            // SAFETY: rows lo..hi are this task's alone; slot p is this task's alone.
            unsafe { *partial_ptr.add(p) = job.single_block_rows(lo, hi, blen, &kernels) };
        });
        Some(par::neumaier(&partial[..parts]))
    }
}

/// The kernels of the single-block path, chosen once per call.
pub(crate) struct RowKernels<T> {
    /// The register kernel (`f32`, AVX-512, `C ≤ SHORT_ROW_MAX`).
    short: Option<ShortRowsFn<T>>,
    /// Whether the `ln` of a group may use AVX-512.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    avx512: bool,
}

/// `ln x` for finite `x ≥ 1`, within 1 ulp: fdlibm's `__ieee754_log` (the
/// argument reduced to `[√½, √2)`, then `log(1 + f)` by its minimax
/// polynomial in `s = f / (2 + f)`), without branches so that a loop over a
/// group of sums vectorises.
#[inline(always)]
pub(crate) fn ln_ge1(x: f64) -> f64 {
    let bits = x.to_bits();
    ln_reduced(((bits >> 52) & 0x7ff) as i64 - 1023, bits)
}

/// fdlibm's `__ieee754_log` of `2^e · m`, with `m ∈ [1, 2)` the mantissa of
/// the normal number whose bits are `bits`: the one core of [`ln_ge1`] and of
/// the per-row losses' `ln` (which scales subnormals and handles 0, ∞, NaN).
#[inline(always)]
#[allow(clippy::excessive_precision)] // fdlibm's constants, as published
pub(crate) fn ln_reduced(e: i64, bits: u64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const LG1: f64 = 6.666_666_666_666_735_130e-1;
    const LG2: f64 = 3.999_999_999_940_941_908e-1;
    const LG3: f64 = 2.857_142_874_366_239_149e-1;
    const LG4: f64 = 2.222_219_843_214_978_396e-1;
    const LG5: f64 = 1.818_357_216_161_805_012e-1;
    const LG6: f64 = 1.531_383_769_920_937_332e-1;
    const LG7: f64 = 1.479_819_860_511_658_591e-1;
    let mant = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    let high = mant > std::f64::consts::SQRT_2;
    let mant = if high { mant * 0.5 } else { mant };
    // k = e + high as f64, exactly, by the 2⁵² trick: an integer n < 2⁵² is
    // bits(2⁵²) | n minus 2⁵² (i64 → f64 has no AVX2 instruction: a plain
    // `as f64` is done one lane at a time). n = e + high + 2048 ≥ 0 for every
    // e of a normal or scaled-subnormal number.
    const TWO52: f64 = 4_503_599_627_370_496.0;
    let k = f64::from_bits(TWO52.to_bits() | (e + i64::from(high) + 2048) as u64) - (TWO52 + 2048.0);
    let f = mant - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)
}

/// `ln` of every sum of a group (each `≥ 1`).
#[inline(always)]
fn ln_group(v: &mut [f64; ROW_GROUP]) {
    for x in v.iter_mut() {
        *x = ln_ge1(*x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn ln_group_avx512(v: &mut [f64; ROW_GROUP]) {
    ln_group(v);
}

impl<T: Float, L: ClassIndex> Job<'_, BlockOps<T>, L> {
    /// Whether the single-block path takes this job.
    pub(crate) fn single_block(&self) -> bool {
        self.classes <= BLOCK && matches!(self.targets, Targets::Index { .. }) && !(self.eps > 0.0 && self.weight.is_some())
    }

    pub(crate) fn row_kernels(&self) -> RowKernels<T> {
        let short = if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && self.classes <= simd::SHORT_ROW_MAX {
            // SAFETY: T is f32, so the function types are the same.
            simd::short_rows_f32().map(|k| unsafe { std::mem::transmute_copy::<ShortRowsFn<f32>, ShortRowsFn<T>>(&k) })
        } else {
            None
        };
        RowKernels { short, avx512: simd::f32_ops().name == "avx512" }
    }

    /// [`ShortRowsFn`] through the block operations: per row, the target's
    /// logit into `xy`, the maximum, the exponentials stored and summed, then
    /// (from cache) the affine update and the target's element.
    unsafe fn rows_via_ops(
        &self,
        src: *const T,
        dst: *mut T,
        rows: usize,
        want_xsum: bool,
        io: &mut [RowIo; ROW_GROUP],
        xy: &mut [f64; ROW_GROUP],
    ) {
        let (c, ops) = (self.classes, self.ops);
        for (r, o) in io.iter_mut().enumerate().take(rows) {
            // The target's logit, before the gradient overwrites it (in place).
            xy[r] = (*src.add(r * c + o.y)).to_wide();
            let (m, nan) = (ops.max)(src.add(r * c), c);
            let m = m.to_wide();
            o.m = m;
            o.special = nan || !m.is_finite();
            if o.special {
                continue;
            }
            let d = if dst.is_null() { dst } else { dst.add(r * c) };
            let (s, xs) = (ops.exp_sum)(src.add(r * c), d, c, T::from_wide(m), want_xsum);
            (o.s, o.xs) = (s, xs);
            if d.is_null() {
                continue;
            }
            if o.skip {
                std::slice::from_raw_parts_mut(d, c).fill(T::zero());
                continue;
            }
            let e_y = (*d.add(o.y)).to_wide();
            (ops.affine)(d, c, T::from_wide(-o.total / s), T::from_wide(o.cc));
            *d.add(o.y) = T::from_wide(o.fix + ((s - e_y) / s) * o.total);
        }
    }

    /// Rows `lo..hi` by the single-block path; their losses summed in row
    /// order, compensated ([`sum_f64`]'s sum).
    ///
    /// # Safety
    /// Rows `lo..hi` of `dst` and `losses` are not touched by any other task.
    pub(crate) unsafe fn single_block_rows(&self, lo: usize, hi: usize, blen: usize, k: &RowKernels<T>) -> f64 {
        let Targets::Index { labels, ignore_index } = self.targets else { unreachable!("single-block rows take index targets") };
        let c = self.classes;
        let cf = c as f64;
        let eps = self.eps;
        let smoothing = eps > 0.0;
        let w = self.weight;
        let grad = !self.dst.is_null();
        let mut io = [RowIo::default(); ROW_GROUP];
        let mut ls = [0.0f64; ROW_GROUP];
        let mut xy = [0.0f64; ROW_GROUP];
        let mut wys = [0.0f64; ROW_GROUP];
        let mut one = [Stat::default(); 1];
        let mut sum = Neumaier::default();
        let short = k.short.is_some();
        let mut r0 = lo;
        while r0 < hi {
            let nb = ROW_GROUP.min(hi - r0);
            let src = self.src.add(r0 * c);
            let dst = self.dst.add(r0 * c);
            for (i, o) in io.iter_mut().enumerate().take(nb) {
                let l = labels[r0 + i].index();
                o.skip = Some(l) == ignore_index;
                o.y = if o.skip { 0 } else { l as usize };
                // The target's logit, before the gradient overwrites it (in
                // place); for long rows, read by `rows_via_ops` as each row
                // starts (reading ahead into the group's rows slows the
                // streaming of the rows from memory).
                if short {
                    xy[i] = (*src.add(i * c + o.y)).to_wide();
                }
                let wy = w.map_or(1.0, |w| w[o.y]);
                wys[i] = wy;
                if grad && !o.skip {
                    // As `index_row` computes them.
                    let up = self.up.at(r0 + i);
                    let g_y_main = -(wy * ((1.0 - eps) * up));
                    let b = up * (eps / cf);
                    let wsum = if smoothing { cf } else { 0.0 };
                    o.total = g_y_main - b * wsum;
                    o.cc = -b;
                    // g_y − p_y Σg = b (Σw − w_y) + (1 − p_y) Σg.
                    o.fix = b * (wsum - wy);
                }
            }
            match k.short {
                Some(rows_fn) => rows_fn(src, dst, c, nb, smoothing, &mut io),
                None => self.rows_via_ops(src, dst, nb, smoothing, &mut io, &mut xy),
            }
            for i in 0..ROW_GROUP {
                ls[i] = if i < nb && !io[i].special { io[i].s } else { 1.0 };
            }
            #[cfg(target_arch = "x86_64")]
            if k.avx512 {
                ln_group_avx512(&mut ls);
            } else {
                ln_group(&mut ls);
            }
            #[cfg(not(target_arch = "x86_64"))]
            ln_group(&mut ls);
            // The losses of the group (a loop that vectorises), as `index_row`
            // (and `CrossEntropyLoss::indexed_losses`) computes them.
            let mut lv = [0.0f64; ROW_GROUP];
            for i in 0..ROW_GROUP {
                let (o, log_s) = (&io[i], ls[i]);
                let lp_y = (xy[i] - o.m) - log_s;
                let nll = -(lp_y * wys[i]);
                lv[i] = if smoothing {
                    // Unweighted: Σ w = C, Σ w (x − M) = Σ (x − m).
                    let smooth = -(o.xs - cf * log_s);
                    (1.0 - eps) * nll + smooth * (eps / cf)
                } else {
                    nll
                };
            }
            lv[nb..].fill(0.0);
            for i in 0..nb {
                let o = &io[i];
                if o.skip && !o.special {
                    lv[i] = 0.0;
                } else if o.special {
                    // NaN, +∞ or a row of −∞: the general row (nothing was written).
                    lv[i] = self.row(r0 + i, blen, 1, &mut one, SyncPtr::null(), false);
                    continue;
                }
                if !self.losses.is_null() {
                    *self.losses.add(r0 + i) = T::from_wide(lv[i]);
                }
            }
            // The group's sum by a fixed tree, then into the running total
            // (compensated): groups are fixed by the number of rows alone.
            let mut h = ROW_GROUP;
            while h > 1 {
                h /= 2;
                for i in 0..h {
                    lv[i] += lv[i + h];
                }
            }
            sum.add(lv[0]);
            r0 += nb;
        }
        sum.total()
    }
}
#[cfg(test)]
mod tests {
    use super::ln_ge1;

    #[test]
    fn ln_ge1_is_within_1_ulp_of_libm() {
        let mut xs: Vec<f64> = (0..200_000).map(|i| 1.0 + i as f64 * 1e-5).collect();
        xs.extend((0..2_000).map(|i| 1.0 + (i as f64 * 0.37).exp2() * 1e-12));
        xs.extend((0..100_000).map(|i| 1.0 + i as f64 * 0.031));
        xs.extend([1.0, 1.0 + f64::EPSILON, std::f64::consts::SQRT_2, 2.0, 64.0, 2048.0, 1e300, f64::MAX]);
        for x in xs {
            let (got, want) = (ln_ge1(x), x.ln());
            let ulp = if want == 0.0 { f64::MIN_POSITIVE } else { f64::from_bits(want.abs().to_bits() + 1) - want.abs() };
            assert!((got - want).abs() <= ulp, "ln({x:e}) = {got:e}, libm {want:e}");
        }
    }
}
