//! The overlap losses' sweep (Keras's `dice` and `tversky`, optax's three dice
//! losses, losslab's soft Jaccard): per group, sums over a run of axes of two
//! contiguous tensors of one shape; then every element's two gradients from its
//! group's sums, in a second pass over the same elements, read in place and
//! written in the tensors' own type.
//!
//! The summed axes are one run of the shape, so that the tensors are
//! `outer × mid × inner` and group `(o, i)` sums the elements `(o, m, i)` over
//! `m` (NumPy's `sum(axis=…)` over the run: the groups in the order of the
//! result's elements). A row `o` is `mid × inner` consecutive elements; element
//! `j` of a stretch of a row goes into lane `j mod E` of the stretch's
//! accumulators, `E` the least common multiple of `inner` and [`LANES`] (so
//! that a lane holds one group and the loop runs over whole vectors of
//! [`LANES`]), and a group's lanes are added in lane order at the end of the
//! stretch.
//!
//! The work is cut into pieces fixed by the layout alone, never by the number
//! of threads: a row longer than a piece into stretches of about [`PIECE`]
//! elements (more for a wide `inner`), shorter rows gathered into pieces of
//! about that many elements. Each stretch's sums go to a slot of their own, and
//! a group's slots are added in order (compensated) once every piece is done,
//! so that the sums are bit-identical whatever the thread count. The pieces run
//! on the row sweep's parallel loop ([`rows::run`]), compiled per instruction
//! set.
//!
//! The first tensor may be mapped to probabilities first ([`Activation`]): a
//! sigmoid, or a softmax over the pixels of the last axis, in arithmetic that
//! vectorises ([`exp_nonpos`]); the second pass recomputes them in `f64` and
//! applies their backward.

use super::elementwise::exp_nonpos;
use super::par::SyncPtr;
use super::rows::{self, LANES};
use crate::machinery::float::Float;
use crate::machinery::fresh;
use crate::machinery::reduction::{sum_f64, Neumaier};
use crate::math::max_nan;
use std::sync::atomic::{AtomicBool, Ordering};

/// The elements of a piece, about: rows longer than this (and than 256
/// `inner`s) are cut into stretches, shorter ones gathered.
pub(crate) const PIECE: usize = 1 << 15;

/// The widest `inner` (the elements of one index of the summed run) the sweep
/// takes: its accumulators hold up to `3 · lcm(inner, LANES)` values per piece.
pub(crate) const MAX_INNER: usize = 4096;

/// The elements of an activation's block, about (a multiple of [`LANES`] and
/// of the pixel).
const BLOCK: usize = 512;

/// The `f64`s of scratch a piece keeps on the stack; beyond (a wide `inner`
/// or pixel), on the heap.
const STACK: usize = 2048;

/// `len` zeroed `f64`s of scratch for one piece: on the stack up to
/// [`STACK`], on the heap beyond.
struct Scratch {
    stack: [f64; STACK],
    heap: Vec<f64>,
    len: usize,
}

impl Scratch {
    #[inline(always)]
    fn new(len: usize) -> Self {
        Scratch { stack: [0.0; STACK], heap: if len > STACK { vec![0.0; len] } else { Vec::new() }, len }
    }

    #[inline(always)]
    fn get(&mut self) -> &mut [f64] {
        if self.len > STACK {
            &mut self.heap
        } else {
            &mut self.stack[..self.len]
        }
    }
}

/// How the first tensor becomes the `p` the sums read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `p = x`.
    Identity,
    /// `p = x`, each pixel (the last axis, of the given length) checked to sum
    /// to 1 as optax checks it (`|Σ − 1| ≤ 1e-8 + 1e-5`, compensated).
    Probabilities(usize),
    /// `p = σ(x)`.
    Sigmoid,
    /// `p = softmax(x)` over each pixel (the last axis, of the given length).
    Softmax(usize),
}

impl Activation {
    /// The elements one pixel holds (1 when pixels do not matter).
    fn pixel(self) -> usize {
        match self {
            Activation::Probabilities(c) | Activation::Softmax(c) => c,
            _ => 1,
        }
    }
}

/// The layout of a sum over one run of axes, and its pieces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    /// The product of the axes before the run (rows).
    outer: usize,
    /// The product of the run's axes.
    mid: usize,
    /// The product of the axes after the run (groups per row).
    inner: usize,
    /// `lcm(inner, LANES)`: the accumulator lanes of a stretch.
    lanes: usize,
    /// Stretches per row (1: whole rows).
    per_row: usize,
    /// The run's indices of a stretch (`mid` for whole rows).
    stretch: usize,
    /// Rows per piece (1 when rows are cut).
    rows_per: usize,
    /// The pieces.
    pieces: usize,
    /// The elements of an activation's block.
    block: usize,
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn lcm(a: usize, b: usize) -> usize {
    a / gcd(a, b) * b
}

impl Layout {
    /// The layout of a tensor of `shape` summed over the axes marked in
    /// `reduce`, read through `act`; `None` where the sweep does not apply: a
    /// 0-d or empty tensor, marked axes that are not one run, more than
    /// [`MAX_INNER`] elements per index of the run, or pixels that straddle
    /// the run. With no axis marked, every element is its own group (the run
    /// is taken empty, before the last axis).
    pub(crate) fn new(shape: &[usize], reduce: &[bool], act: Activation) -> Option<Layout> {
        debug_assert_eq!(shape.len(), reduce.len());
        if shape.is_empty() || shape.contains(&0) {
            return None;
        }
        let (a0, a1) = match reduce.iter().position(|&r| r) {
            None => (shape.len() - 1, shape.len() - 1),
            Some(a0) => {
                let a1 = a0 + reduce[a0..].iter().take_while(|&&r| r).count();
                if reduce[a1..].iter().any(|&r| r) {
                    return None;
                }
                (a0, a1)
            }
        };
        let outer: usize = shape[..a0].iter().product();
        let mid: usize = shape[a0..a1].iter().product();
        let inner: usize = shape[a1..].iter().product();
        let pixel = act.pixel();
        if inner > MAX_INNER || inner % pixel != 0 {
            return None;
        }
        let lanes = lcm(inner, LANES);
        let unit = lcm(pixel, LANES);
        let block = unit * (BLOCK / unit).max(1);
        let (row, target) = (mid * inner, PIECE.max(256 * inner));
        let (per_row, stretch, rows_per) = if row > target {
            let stretch = mid.div_ceil(row.div_ceil(target));
            (mid.div_ceil(stretch), stretch, 1)
        } else {
            (1, mid, (target / row).max(1))
        };
        let pieces = if per_row > 1 { outer * per_row } else { outer.div_ceil(rows_per) };
        Some(Layout { outer, mid, inner, lanes, per_row, stretch, rows_per, pieces, block })
    }

    /// The number of groups: the elements of the result.
    pub(crate) fn groups(&self) -> usize {
        self.outer * self.inner
    }

    /// The elements of the tensors.
    pub(crate) fn len(&self) -> usize {
        self.outer * self.mid * self.inner
    }

    /// Piece `p`: its rows `r0..r1`, its stretch `m0..m1` of the run, and the
    /// stretch's index in its row.
    #[inline(always)]
    fn piece(&self, p: usize) -> (usize, usize, usize, usize, usize) {
        if self.per_row > 1 {
            let (r, s) = (p / self.per_row, p % self.per_row);
            (r, r + 1, s * self.stretch, ((s + 1) * self.stretch).min(self.mid), s)
        } else {
            (p * self.rows_per, ((p + 1) * self.rows_per).min(self.outer), 0, self.mid, 0)
        }
    }

    /// The elements of row `r`'s stretch `m0..m1`.
    #[inline(always)]
    fn span(&self, r: usize, m0: usize, m1: usize) -> std::ops::Range<usize> {
        (r * self.mid + m0) * self.inner..(r * self.mid + m1) * self.inner
    }
}

/// `p` of a block of `x` (whole pixels) by `act`; `false`
/// where a pixel of [`Activation::Probabilities`] does not sum to 1.
#[inline(always)]
fn activate<T: Float>(act: Activation, x: &[T], p: &mut [f64]) -> bool {
    let p = &mut p[..x.len()];
    match act {
        Activation::Identity => {
            for (o, v) in p.iter_mut().zip(x) {
                *o = v.to_wide();
            }
        }
        Activation::Probabilities(c) => {
            for (o, v) in p.iter_mut().zip(x) {
                *o = v.to_wide();
            }
            // The general path's test (optax's jnp.allclose(sum, 1, rtol=1e-5)), on the same compensated sum.
            for px in p.chunks_exact(c) {
                let s = sum_f64(px.iter().copied());
                if !((s - 1.0).abs() <= 1e-8 + 1e-5) {
                    return false;
                }
            }
        }
        Activation::Sigmoid => {
            // σ(z) = 1 / (1 + e) for z ≥ 0, e / (1 + e) below, e = exp(−|z|): one division.
            for (o, v) in p.iter_mut().zip(x) {
                let z = v.to_wide();
                let e = exp_nonpos(-z.abs());
                let r = 1.0 / (1.0 + e);
                *o = if z >= 0.0 { r } else { e * r };
            }
        }
        Activation::Softmax(c) => {
            // The block's maximum shifts every pixel (softmax does not depend on
            // the shift), so that the exponentials run over the block as one
            // loop; a pixel whose sum comes out below `TINY` (its logits far
            // below the block's maximum), and every pixel of a block with a NaN
            // or an infinite logit, by its own maximum instead.
            const TINY: f64 = 1e-200;
            let m = rows::lane_max_at(x, #[inline(always)] |_, v| v);
            if m.is_finite() {
                for (o, v) in p.iter_mut().zip(x) {
                    *o = exp_nonpos(v.to_wide() - m);
                }
                for (pp, xp) in p.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
                    let mut s = 0.0;
                    for v in pp.iter() {
                        s += v;
                    }
                    if s >= TINY {
                        let r = 1.0 / s;
                        for v in pp.iter_mut() {
                            *v *= r;
                        }
                    } else {
                        softmax_pixel(xp, pp);
                    }
                }
            } else {
                for (pp, xp) in p.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
                    softmax_pixel(xp, pp);
                }
            }
        }
    }
    true
}

/// One pixel's softmax shifted by its own maximum (the general path's form;
/// NaN where the pixel holds a NaN, or `+∞`, or only `−∞`).
#[inline(never)]
fn softmax_pixel<T: Float>(x: &[T], p: &mut [f64]) {
    let m = max_nan(x.iter().map(|v| v.to_wide()));
    let mut s = 0.0;
    for (o, v) in p.iter_mut().zip(x) {
        *o = exp_nonpos(v.to_wide() - m);
        s += *o;
    }
    let r = 1.0 / s;
    for o in p.iter_mut() {
        *o *= r;
    }
}

/// Adds `terms(p_j, t_j)` into lane `lane + j mod E` of `acc` (`K` runs of
/// `e = E` lanes), `lane` a multiple of [`LANES`]; the lane of the next element.
#[inline(always)]
fn accumulate<T: Float, const K: usize>(
    p: &[f64],
    t: &[T],
    acc: &mut [f64],
    e: usize,
    mut lane: usize,
    terms: &impl Fn(f64, f64) -> [f64; K],
) -> usize {
    let t = &t[..p.len()];
    let ((pc, pr), (tc, tr)) = (p.as_chunks::<LANES>(), t.as_chunks::<LANES>());
    if e == LANES {
        // One vector of lanes per sum: kept in registers over the block.
        let mut a = [[0.0f64; LANES]; K];
        for (k, ak) in a.iter_mut().enumerate() {
            ak.copy_from_slice(&acc[k * LANES..(k + 1) * LANES]);
        }
        for (cp, ct) in pc.iter().zip(tc) {
            for i in 0..LANES {
                let v = terms(cp[i], ct[i].to_wide());
                for k in 0..K {
                    a[k][i] += v[k];
                }
            }
        }
        for (k, ak) in a.iter().enumerate() {
            acc[k * LANES..(k + 1) * LANES].copy_from_slice(ak);
        }
    } else {
        for (cp, ct) in pc.iter().zip(tc) {
            let mut v = [[0.0f64; LANES]; K];
            for i in 0..LANES {
                let u = terms(cp[i], ct[i].to_wide());
                for k in 0..K {
                    v[k][i] = u[k];
                }
            }
            for (k, vk) in v.iter().enumerate() {
                let a = &mut acc[k * e + lane..k * e + lane + LANES];
                for i in 0..LANES {
                    a[i] += vk[i];
                }
            }
            lane += LANES;
            if lane == e {
                lane = 0;
            }
        }
    }
    for (i, (&u, v)) in pr.iter().zip(tr).enumerate() {
        let z = terms(u, v.to_wide());
        for k in 0..K {
            acc[k * e + lane + i] += z[k];
        }
    }
    lane
}

/// `Σ terms(p_k, t_k)` per group over the layout's run, `p` the first tensor
/// `x` through `act` and `t` the second: one `[f64; K]` per group, in the
/// result's order. `None` where a pixel of [`Activation::Probabilities`] does
/// not sum to 1 (the general path then says where). `terms` must be an
/// `#[inline(always)]` closure in arithmetic that vectorises.
///
/// `x` and `t` hold the layout's elements.
pub(crate) fn sums<T: Float, const K: usize>(
    lay: &Layout,
    act: Activation,
    x: &[T],
    t: &[T],
    terms: impl Fn(f64, f64) -> [f64; K] + Sync,
) -> Option<Vec<[f64; K]>> {
    assert!(x.len() == lay.len() && t.len() == lay.len(), "the tensors hold the layout's elements");
    let (w, e, blk) = (lay.inner, lay.lanes, lay.block);
    let mut slots = vec![[0.0f64; K]; lay.outer * lay.per_row * w];
    let sp = SyncPtr(slots.as_mut_ptr());
    let bad = AtomicBool::new(false);
    let terms = &terms;
    // SAFETY: no per-row losses (null); piece p writes only the slots of its
    // own rows' stretches (row r, stretch s: slots (r · per_row + s) · w ..+ w).
    unsafe {
        rows::run::<T, _>(lay.pieces, lay.len(), SyncPtr::null(), #[inline(always)] |p: usize| {
            let (r0, r1, m0, m1, s) = lay.piece(p);
            let mut scratch = Scratch::new(K * e + blk);
            let (acc, pb) = scratch.get().split_at_mut(K * e);
            for r in r0..r1 {
                acc.fill(0.0);
                let span = lay.span(r, m0, m1);
                let mut lane = 0;
                for (xb, tb) in x[span.clone()].chunks(blk).zip(t[span].chunks(blk)) {
                    if !activate(act, xb, pb) {
                        bad.store(true, Ordering::Relaxed);
                        return 0.0;
                    }
                    lane = accumulate(&pb[..xb.len()], tb, acc, e, lane, terms);
                }
                let slot = (r * lay.per_row + s) * w;
                for i in 0..w {
                    let mut v = [0.0f64; K];
                    for (k, vk) in v.iter_mut().enumerate() {
                        let mut j = i;
                        while j < e {
                            *vk += acc[k * e + j];
                            j += w;
                        }
                    }
                    *sp.add(slot + i) = v;
                }
            }
            0.0
        });
    }
    if bad.load(Ordering::Relaxed) {
        return None;
    }
    if lay.per_row == 1 {
        return Some(slots);
    }
    Some(
        (0..lay.groups())
            .map(|g| {
                let (r, i) = (g / w, g % w);
                let mut n = [Neumaier::default(); K];
                for s in 0..lay.per_row {
                    let v = slots[(r * lay.per_row + s) * w + i];
                    for k in 0..K {
                        n[k].add(v[k]);
                    }
                }
                n.map(Neumaier::total)
            })
            .collect(),
    )
}

/// `gp_j = a·t_j + b` (into `gp`, `f64`) and `gt_j = c·p_j + d` (into `gt`, in
/// `T`), `[a, b, c, d]` at the element's lane of `cf` (4 runs of `e` lanes);
/// the lane of the next element (as [`accumulate`]).
#[inline(always)]
fn affine<T: Float>(p: &[f64], t: &[T], cf: &[f64], e: usize, mut lane: usize, gp: &mut [f64], gt: &mut [T]) -> usize {
    let n = p.len();
    let (t, gp, gt) = (&t[..n], &mut gp[..n], &mut gt[..n]);
    let ((pc, pr), (tc, tr)) = (p.as_chunks::<LANES>(), t.as_chunks::<LANES>());
    let ((gpc, gpr), (gtc, gtr)) = (gp.as_chunks_mut::<LANES>(), gt.as_chunks_mut::<LANES>());
    for (((cp, ct), cg), co) in pc.iter().zip(tc).zip(gpc.iter_mut()).zip(gtc.iter_mut()) {
        let at = |k: usize| -> &[f64; LANES] { cf[k * e + lane..k * e + lane + LANES].try_into().expect("LANES lanes") };
        let (a, b, c, d) = (at(0), at(1), at(2), at(3));
        for i in 0..LANES {
            cg[i] = a[i] * ct[i].to_wide() + b[i];
            co[i] = T::from_wide(c[i] * cp[i] + d[i]);
        }
        lane += LANES;
        if lane == e {
            lane = 0;
        }
    }
    for (i, (((&u, v), g), o)) in pr.iter().zip(tr).zip(gpr.iter_mut()).zip(gtr.iter_mut()).enumerate() {
        let l = lane + i;
        *g = cf[l] * v.to_wide() + cf[e + l];
        *o = T::from_wide(cf[2 * e + l] * u + cf[3 * e + l]);
    }
    lane
}

/// The first tensor's gradient of a block from `gp = ∂/∂p`, through `act`'s
/// backward.
#[inline(always)]
fn backward<T: Float>(act: Activation, p: &[f64], gp: &[f64], gx: &mut [T]) {
    let n = p.len();
    let (gp, gx) = (&gp[..n], &mut gx[..n]);
    match act {
        Activation::Identity | Activation::Probabilities(_) => {
            for (o, g) in gx.iter_mut().zip(gp) {
                *o = T::from_wide(*g);
            }
        }
        Activation::Sigmoid => {
            for ((o, g), q) in gx.iter_mut().zip(gp).zip(p) {
                *o = T::from_wide(g * q * (1.0 - q));
            }
        }
        Activation::Softmax(c) => {
            for ((pp, gg), go) in p.chunks_exact(c).zip(gp.chunks_exact(c)).zip(gx.chunks_exact_mut(c)) {
                let mut dot = 0.0;
                for (q, g) in pp.iter().zip(gg) {
                    dot += q * g;
                }
                for ((o, q), g) in go.iter_mut().zip(pp).zip(gg) {
                    *o = T::from_wide(q * (g - dot));
                }
            }
        }
    }
}

/// The gradients of the sums' loss, in the tensors' own type: `coef(g) = [a,
/// b, c, d]` says that for the elements of group `g` the loss's derivative is
/// `a·t + b` with respect to `p` and `c·p + d` with respect to `t`; the first
/// tensor's gradient is the one with respect to `x` (through `act`), the
/// second's with respect to `t`. Groups, tensors and `act` as [`sums`] had
/// them (pixels already checked).
pub(crate) fn grads<T: Float>(lay: &Layout, act: Activation, x: &[T], t: &[T], coef: impl Fn(usize) -> [f64; 4] + Sync) -> (Vec<T>, Vec<T>) {
    assert!(x.len() == lay.len() && t.len() == lay.len(), "the tensors hold the layout's elements");
    let act = match act {
        Activation::Probabilities(_) => Activation::Identity,
        a => a,
    };
    let (n, w, e, blk) = (lay.len(), lay.inner, lay.lanes, lay.block);
    let (mut gx, mut gt) = (fresh::zeroed(n), fresh::zeroed(n));
    let (gxp, gtp) = (SyncPtr(gx.as_mut_ptr()), SyncPtr(gt.as_mut_ptr()));
    let coef = &coef;
    // SAFETY: no per-row losses (null); piece p writes only its own elements
    // of the gradients (each holds n).
    unsafe {
        rows::run::<T, _>(lay.pieces, 2 * n, SyncPtr::null(), #[inline(always)] |p: usize| {
            let (r0, r1, m0, m1, _) = lay.piece(p);
            let mut scratch = Scratch::new(4 * e + 2 * blk);
            let (cf, buf) = scratch.get().split_at_mut(4 * e);
            let (pb, gp) = buf.split_at_mut(blk);
            for r in r0..r1 {
                let span = lay.span(r, m0, m1);
                // The coefficients by lane: lane j holds group r · w + j mod w.
                let used = e.min(span.len());
                for i in 0..w.min(used) {
                    let c = coef(r * w + i);
                    let mut j = i;
                    while j < used {
                        for (k, ck) in c.iter().enumerate() {
                            cf[k * e + j] = *ck;
                        }
                        j += w;
                    }
                }
                let gxr = std::slice::from_raw_parts_mut(gxp.add(span.start), span.len());
                let gtr = std::slice::from_raw_parts_mut(gtp.add(span.start), span.len());
                let mut lane = 0;
                let blocks = x[span.clone()].chunks(blk).zip(t[span].chunks(blk)).zip(gxr.chunks_mut(blk)).zip(gtr.chunks_mut(blk));
                for (((xb, tb), gxb), gtb) in blocks {
                    activate(act, xb, pb);
                    let len = xb.len();
                    lane = affine(&pb[..len], tb, cf, e, lane, gp, gtb);
                    backward(act, &pb[..len], gp, gxb);
                }
            }
            0.0
        });
    }
    (gx, gt)
}

#[cfg(test)]
mod tests {
    use super::{Activation, Layout, LANES};

    #[test]
    fn layouts_take_one_run_of_axes() {
        let l = Layout::new(&[4, 5, 6], &[false, true, false], Activation::Identity).unwrap();
        assert_eq!((l.outer, l.mid, l.inner, l.lanes, l.groups()), (4, 5, 6, 24, 24));
        let l = Layout::new(&[4, 5, 6], &[true, true, true], Activation::Identity).unwrap();
        assert_eq!((l.outer, l.mid, l.inner, l.lanes), (1, 120, 1, LANES));
        // Nothing summed: each element its own group, the empty run before the last axis.
        let l = Layout::new(&[4, 5, 6], &[false; 3], Activation::Softmax(6)).unwrap();
        assert_eq!((l.outer, l.mid, l.inner), (20, 1, 6));
        assert!(Layout::new(&[4, 5, 6], &[true, false, true], Activation::Identity).is_none());
        assert!(Layout::new(&[4, 0, 6], &[false, true, false], Activation::Identity).is_none());
        assert!(Layout::new(&[], &[], Activation::Identity).is_none());
        assert!(Layout::new(&[2, 3, 5000], &[false, true, false], Activation::Identity).is_none());
        // Pixels of the softmax straddle the run: refused.
        assert!(Layout::new(&[4, 5, 6], &[false, false, true], Activation::Softmax(6)).is_none());
    }

    #[test]
    fn pieces_cover_every_element_once() {
        for (shape, reduce) in [
            (vec![3usize, 100_000, 4], vec![false, true, false]),
            (vec![1000, 70], vec![false, true]),
            (vec![5, 300_001], vec![true, true]),
            (vec![7, 9000, 300], vec![false, true, false]),
        ] {
            let l = Layout::new(&shape, &reduce, Activation::Identity).unwrap();
            let mut seen = vec![0u8; l.len()];
            for p in 0..l.pieces {
                let (r0, r1, m0, m1, s) = l.piece(p);
                assert!(s < l.per_row);
                for r in r0..r1 {
                    for k in l.span(r, m0, m1) {
                        seen[k] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "{shape:?}");
        }
    }
}
