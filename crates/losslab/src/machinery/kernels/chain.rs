//! The chain lattices of the CTC losses (PyTorch's, TensorFlow's, optax's and
//! Keras's): each sequence's forward–backward (α–β) recursion in log space,
//! vectorised along the chain's states, the sequences in parallel, and the
//! gradient of the frames' inputs written from α and β in the same call.
//!
//! A chain has `M` states; each frame moves a path from state `s` to `s`, to
//! `s + 1` (log-weight `next(s + 1)`) or to `s + 2` (`skip(s + 2)`, `−∞`
//! where the move does not exist), and state `s` emits the log-probability
//! `E_t(s)` of its class at frame `t` (0 for a state that emits with
//! certainty, `−∞` for one that never does, a start state):
//!
//! ```text
//! α_t(s) = lse(α_{t−1}(s), α_{t−1}(s−1) + next(s), α_{t−1}(s−2) + skip(s)) + E_t(s)      α_{−1} = init
//! β_t(s) = lse(b(s), b(s+1) + next(s+1), b(s+2) + skip(s+2)),  b = β_{t+1} + E_{t+1}      β_last = fin
//! log L  = lse_s(α_last(s) + fin(s))
//! γ_t(s) = exp(α_t(s) + β_t(s) − log L)     (per frame: − lse_s(α_t(s) + β_t(s)), TensorFlow's)
//! ∂/∂x_t(k) = g · (exp(lp_t(k)) · A − Σ_{s credited to k} γ_t(s))      A = 1, or Σ_k of the sum (through the log-softmax)
//! ```
//!
//! Each three-term log-sum-exp is the largest term plus `ln(1 + e₁ + e₂)` of
//! the other two's exponentials, by [`exp_nonpos`] and [`ln_ge1`] (about 1
//! ulp each, in arithmetic that vectorises): a frame's step is one loop over
//! the states of shifted vectors, compiled for AVX-512, AVX2 + FMA and the
//! baseline and chosen once ([`elementwise::level`]); LLVM neither contracts
//! nor reorders floating-point operations, so the three give the same bits.
//! Rows of logits get their log-softmax here, `(x − m) − ln Σ exp(x − m)`,
//! from the row read in place in the input's own type.
//!
//! Each sequence first tries the **scaled path** ([`scaled`]): the same
//! recursion in probabilities, `α̂_t(s) = (α̂_{t−1}(s) + α̂_{t−1}(s−1) + α̂_{t−1}(s−2)) · p_t(s)`,
//! each frame rescaled by the power of two that brings its sum into `[1, 2)`
//! (exact), the posteriors `α̂β̂ / Σ α̂β̂`: a multiply-add per cell where the
//! log path takes two exponentials and a logarithm (PyTorch's `ctc_loss` at
//! T = 200, N = 16, C = 50, S = 40: 2.8 → 1.1 ms forward + backward on 2
//! threads). Cells below `2⁻⁹⁶⁰` of their frame are flushed, the mass of the
//! paths they held is bounded in the backward pass, and the path stands down
//! to the log path (below) where that bound passes `2⁻⁵⁵` of the likelihood,
//! or where the lattice or the emissions leave its range (TensorFlow's
//! `ln 1e−307` weights, log-probabilities above 0 or below −700, alignments
//! far from every frame's bulk of α or β, as over T ≫ S).
//!
//! One task per sequence ([`par::for_each`]): its lattice, its value and its
//! gradient rows are its own, so the results are bit-identical whatever the
//! thread count. Scratch: `O(T · M)` numbers per thread (the emissions, the
//! probabilities and α), kept from one sequence and call to the next up to
//! 4 MiB each; nothing else beyond the caller's gradient.
//!
//! The path takes finite inputs only (log-probabilities at most
//! [`MAX_LOG_PROB`]): a sequence that reads anything else stops, and
//! [`run`] reports [`NonFinite`] so that the caller runs its general path,
//! whose NaN and infinity semantics are the references'.

use super::elementwise::{self, exp_nonpos};
use super::par::{self, SyncPtr};
use super::rows::{lane_sum, lane_sum_zip, tree_serial, LANES};
use super::softmax_ce::ln_ge1;
use crate::machinery::float::Float;
use std::sync::atomic::{AtomicBool, Ordering};

const NEG_INF: f64 = f64::NEG_INFINITY;

/// The largest log-probability (rows that are not logits) this path takes:
/// [`exp_nonpos`] is exact up to `exp(709)`.
pub(crate) const MAX_LOG_PROB: f64 = 700.0;

/// One sequence's chain, and the rows of its frames.
///
/// Classes are column indices of a row (`< C`); [`Lattice::certain`] (`C`)
/// stands for an emission of log-probability 0 and [`Lattice::never`]
/// (`C + 1`) for `−∞`. A credit of `C` credits no class.
#[derive(Debug, Clone)]
pub(crate) struct Lattice {
    /// The column each state emits.
    pub(crate) class: Vec<usize>,
    /// The column each state's posterior is subtracted from (`C`: none).
    pub(crate) credit: Vec<usize>,
    /// `next[s]`: the log-weight of the move `s − 1 → s` (`next[0]` unused).
    pub(crate) next: Vec<f64>,
    /// `skip[s]`: the log-weight of the move `s − 2 → s`, `−∞` where there is none.
    pub(crate) skip: Vec<f64>,
    /// The log-weights before the first frame (the gradient's, and the value's
    /// unless `init_value`).
    pub(crate) init: Vec<f64>,
    /// The value's own log-weights before the first frame, where they differ
    /// from `init` (TensorFlow's).
    pub(crate) init_value: Option<Vec<f64>>,
    /// The log-weight of ending in each state after the last frame.
    pub(crate) fin: Vec<f64>,
    /// The offset in the input (and its gradient) of each frame's row, in time order.
    pub(crate) frames: Vec<usize>,
}

impl Lattice {
    /// The column standing for a certain emission (log-probability 0).
    pub(crate) fn certain(c: usize) -> usize {
        c
    }
    /// The column standing for an impossible emission (log-probability `−∞`).
    pub(crate) fn never(c: usize) -> usize {
        c + 1
    }
}

/// How each frame's row is read and its gradient formed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Form {
    /// The rows are logits, whose log-softmax the states emit (else the rows
    /// are the log-probabilities themselves).
    pub(crate) logits: bool,
    /// The posterior is normalised frame by frame (TensorFlow's), not by the likelihood.
    pub(crate) per_frame: bool,
    /// The gradient is the derivative through the log-softmax,
    /// `exp(lp) · Σ_k post_k − post` (optax's), else `exp(lp) − post`.
    pub(crate) through_softmax: bool,
}

/// What a sequence's gradient rows are, given its log-likelihood.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowScale {
    /// The gradient times this upstream factor.
    By(f64),
    /// Zero (the rows are left as the caller's buffer has them).
    Zero,
    /// NaN on every row of the sequence's frames.
    Nan,
}

/// A sequence read an input this path does not take (not finite, or a
/// log-probability above [`MAX_LOG_PROB`]).
#[derive(Debug)]
pub(crate) struct NonFinite;

/// `log(eᵃ + eᵇ + eᶜ)` of terms that are finite or `−∞`: the largest plus
/// `ln(1 + e₁ + e₂)` of the other two (one `ln` of a sum in `[1, 3]`).
#[inline(always)]
fn lse3(a: f64, b: f64, c: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    let (m, mid) = if hi > c { (hi, c) } else { (c, hi) };
    let r = m + ln_ge1(1.0 + exp_nonpos(lo - m) + exp_nonpos(mid - m));
    if m == NEG_INF {
        NEG_INF
    } else {
        r
    }
}

/// `lse_s(a_s + b_s)` (`−∞` when every term is).
#[inline(always)]
fn lse_sum(a: &[f64], b: &[f64]) -> f64 {
    let mut m = NEG_INF;
    for (&x, &y) in a.iter().zip(b) {
        let v = x + y;
        m = if v > m { v } else { m };
    }
    if m == NEG_INF {
        return NEG_INF;
    }
    let s: f64 = a.iter().zip(b).map(|(&x, &y)| exp_nonpos((x + y) - m)).sum();
    m + ln_ge1(s)
}

/// One frame of the forward recursion: `out[2 + s] = α(s)` from `prev[2 + s]`
/// (both with two leading `−∞`), the emissions `e`.
#[inline(always)]
fn forward_step(prev: &[f64], e: &[f64], next: &[f64], skip: &[f64], out: &mut [f64]) {
    let m = e.len();
    let (p0, p1, p2) = (&prev[..m], &prev[1..m + 1], &prev[2..m + 2]);
    let (next, skip) = (&next[..m], &skip[..m]);
    for (s, o) in out[2..m + 2].iter_mut().enumerate() {
        *o = lse3(p2[s], p1[s] + next[s], p0[s] + skip[s]) + e[s];
    }
}

/// One frame of the backward recursion: `out[s] = β(s)` from `ext = β' + E'`
/// of the next frame (two trailing `−∞`) and the moves into `s + 1` and
/// `s + 2` seen from `s`.
#[inline(always)]
fn backward_step(ext: &[f64], next_up: &[f64], skip_up: &[f64], out: &mut [f64]) {
    let m = out.len();
    let (e0, e1, e2) = (&ext[..m], &ext[1..m + 1], &ext[2..m + 2]);
    let (nu, su) = (&next_up[..m], &skip_up[..m]);
    for (s, o) in out.iter_mut().enumerate() {
        *o = lse3(e0[s], e1[s] + nu[s], e2[s] + su[s]);
    }
}

/// `out[s] = a[s] + b[s]`.
#[inline(always)]
fn add(a: &[f64], b: &[f64], out: &mut [f64]) {
    let m = out.len();
    let (a, b) = (&a[..m], &b[..m]);
    for (s, o) in out.iter_mut().enumerate() {
        *o = a[s] + b[s];
    }
}

/// The posteriors `out[s] = exp(a[s] + b[s] − norm)`.
#[inline(always)]
fn posteriors(a: &[f64], b: &[f64], norm: f64, out: &mut [f64]) {
    let m = out.len();
    let (a, b) = (&a[..m], &b[..m]);
    for (s, o) in out.iter_mut().enumerate() {
        *o = exp_nonpos((a[s] + b[s]) - norm);
    }
}

/// A frame's gradient row: `out_k = g · (exp((x_k − mx) − ls) · total − post_k)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn grad_row<T: Float>(x: &[T], post: &[f64], mx: f64, ls: f64, g: f64, total: f64, out: &mut [T]) {
    let c = out.len();
    let (x, post) = (&x[..c], &post[..c]);
    for (k, o) in out.iter_mut().enumerate() {
        let lp = (x[k].to_wide() - mx) - ls;
        *o = T::from_wide(g * (exp_nonpos(lp) * total - post[k]));
    }
}

/// Each frame's row statistics `(m, ln Σ exp(x − m))` (`(0, 0)` for
/// log-probabilities) and the states' emissions `(frames × M)`; `None` when
/// a row holds an input this path does not take.
#[inline(always)]
fn emissions<T: Float>(x: &[T], c: usize, form: Form, lat: &Lattice, stats: &mut [(f64, f64)], emit: &mut [f64]) -> Option<()> {
    let m = lat.class.len();
    let mut lp = vec![0.0; c + 2];
    lp[Lattice::never(c)] = NEG_INF;
    for (i, &o) in lat.frames.iter().enumerate() {
        let row = &x[o..o + c];
        let (mx, ls) = if form.logits {
            let mut mx = NEG_INF;
            let mut bad = false;
            for v in row {
                let w = v.to_wide();
                bad |= !w.is_finite();
                mx = if w > mx { w } else { mx };
            }
            if bad {
                return None;
            }
            (mx, ln_ge1(lane_sum(row, |w| exp_nonpos(w - mx))))
        } else {
            let mut bad = false;
            for v in row {
                let w = v.to_wide();
                bad |= w.is_nan() | (w < -f64::MAX) | (w > MAX_LOG_PROB);
            }
            if bad {
                return None;
            }
            (0.0, 0.0)
        };
        stats[i] = (mx, ls);
        for (d, v) in lp[..c].iter_mut().zip(row) {
            *d = (v.to_wide() - mx) - ls;
        }
        for (d, &k) in emit[i * m..(i + 1) * m].iter_mut().zip(&lat.class) {
            *d = lp[k];
        }
    }
    Some(())
}

/// The forward recursion from `init` over the emissions; with `store`
/// (`frames × (M + 2)`), each frame's α kept there (two leading `−∞` per
/// row). Returns `log L`.
#[inline(always)]
fn forward(lat: &Lattice, init: &[f64], emit: &[f64], mut store: Option<&mut [f64]>) -> f64 {
    let m = lat.class.len();
    let w = m + 2;
    let mut cur = vec![NEG_INF; w];
    cur[2..].copy_from_slice(init);
    let mut nxt = vec![NEG_INF; w];
    for (i, e) in emit.chunks_exact(m.max(1)).take(lat.frames.len()).enumerate() {
        forward_step(&cur, e, &lat.next, &lat.skip, &mut nxt);
        if let Some(st) = store.as_deref_mut() {
            st[i * w..(i + 1) * w].copy_from_slice(&nxt);
        }
        std::mem::swap(&mut cur, &mut nxt);
    }
    lse_sum(&cur[2..], &lat.fin)
}

/// Sequence `lat`'s value (`log L` from `init_value`, else `init`) and, with
/// `grad`, its gradient rows written at `grad` as `scale(log L)` says.
/// `None` when a row holds an input this path does not take.
///
/// # Safety
/// `grad` is null or holds the input's elements, and the rows of `lat`'s
/// frames are written by this call alone.
#[inline(always)]
unsafe fn sequence<T: Float>(x: &[T], c: usize, form: Form, lat: &Lattice, grad: SyncPtr<T>, scale: &dyn Fn(f64) -> RowScale) -> Option<f64> {
    let mut sc = SCRATCH.with_borrow_mut(std::mem::take);
    // SAFETY: the caller's contract.
    let v = unsafe { sequence_in(&mut sc, x, c, form, lat, grad, scale) };
    sc.trim();
    SCRATCH.with_borrow_mut(|s| *s = sc);
    v
}

/// A thread's buffers for its sequences' `O(T · M)` arrays, kept from one
/// sequence (and call) to the next: a fresh allocation of this size comes
/// from the kernel's pages each time (a worker thread's arena returns them
/// on free), which cost more than the recursion itself.
#[derive(Default)]
struct Scratch {
    stats: Vec<(f64, f64)>,
    emit: Vec<f64>,
    probs: Vec<f64>,
    alpha: Vec<f64>,
}

/// The most elements a [`Scratch`] buffer keeps between calls (4 MiB of `f64`).
const SCRATCH_KEEP: usize = 1 << 19;

impl Scratch {
    /// Frees the buffers grown beyond [`SCRATCH_KEEP`].
    fn trim(&mut self) {
        if self.stats.capacity() > SCRATCH_KEEP {
            self.stats = Vec::new();
        }
        for v in [&mut self.emit, &mut self.probs, &mut self.alpha] {
            if v.capacity() > SCRATCH_KEEP {
                *v = Vec::new();
            }
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// `v` holding `n` copies of `fill`, its allocation reused.
#[inline(always)]
fn sized<V: Copy>(v: &mut Vec<V>, n: usize, fill: V) -> &mut [V] {
    v.clear();
    v.resize(n, fill);
    v
}

/// One sequence as both recursions read it: the input and its columns, the
/// form, the lattice, its emissions and row statistics ([`emissions`]), and
/// where and by what factor its gradient rows go.
#[derive(Clone, Copy)]
struct Seq<'a, T> {
    x: &'a [T],
    c: usize,
    form: Form,
    lat: &'a Lattice,
    emit: &'a [f64],
    stats: &'a [(f64, f64)],
    grad: SyncPtr<T>,
    scale: &'a dyn Fn(f64) -> RowScale,
}

impl<T: Float> Seq<'_, T> {
    /// NaN on every element of the sequence's frame rows of the gradient.
    ///
    /// # Safety
    /// As [`sequence`]: the rows are in the buffer and this sequence's alone.
    unsafe fn nan_rows(&self) {
        for &o in &self.lat.frames {
            // SAFETY: the caller's contract.
            unsafe { std::slice::from_raw_parts_mut(self.grad.add(o), self.c) }.fill(T::nan());
        }
    }
}

/// [`sequence`] with the thread's buffers.
///
/// # Safety
/// As [`sequence`].
#[inline(always)]
unsafe fn sequence_in<T: Float>(sc: &mut Scratch, x: &[T], c: usize, form: Form, lat: &Lattice, grad: SyncPtr<T>, scale: &dyn Fn(f64) -> RowScale) -> Option<f64> {
    let m = lat.class.len();
    let nf = lat.frames.len();
    let stats = sized(&mut sc.stats, nf, (0.0, 0.0));
    let emit = sized(&mut sc.emit, nf * m, 0.0);
    emissions(x, c, form, lat, stats, emit)?;
    let (stats, emit) = (&sc.stats[..], &sc.emit[..]);
    let seq = Seq { x, c, form, lat, emit, stats, grad, scale };
    // SAFETY: the caller's contract.
    if let Some(v) = unsafe { scaled(seq, (&mut sc.probs, &mut sc.alpha)) } {
        return Some(v);
    }
    // SAFETY: the caller's contract.
    Some(unsafe { logs(seq, &mut sc.alpha) })
}

/// Sequence `lat` on the log path, from its emissions `emit` and row
/// statistics `stats` ([`emissions`]): the recursion in log space, where
/// each cell's step is a three-term log-sum-exp.
///
/// # Safety
/// As [`sequence`].
#[inline(always)]
unsafe fn logs<T: Float>(seq: Seq<'_, T>, alpha_buf: &mut Vec<f64>) -> f64 {
    let Seq { x, c, form, lat, emit, stats, grad, scale } = seq;
    let m = lat.class.len();
    let nf = lat.frames.len();
    if grad.is_null() {
        return forward(lat, lat.init_value.as_deref().unwrap_or(&lat.init), emit, None);
    }
    let w = m + 2;
    let alpha = sized(alpha_buf, nf * w, 0.0);
    let log_l = forward(lat, &lat.init, emit, Some(alpha));
    let value = match &lat.init_value {
        Some(init) => forward(lat, init, emit, None),
        None => log_l,
    };
    let g = match scale(log_l) {
        RowScale::Zero => return value,
        RowScale::Nan => {
            // SAFETY: the caller's contract.
            unsafe { seq.nan_rows() };
            return value;
        }
        RowScale::By(g) => g,
    };
    // β of the frame at hand (two trailing −∞), the moves into s + 1 and s + 2 seen from s.
    let mut beta = vec![NEG_INF; w];
    beta[..m].copy_from_slice(&lat.fin);
    let mut ext = vec![NEG_INF; w];
    let next_up: Vec<f64> = (0..m).map(|s| if s + 1 < m { lat.next[s + 1] } else { NEG_INF }).collect();
    let skip_up: Vec<f64> = (0..m).map(|s| if s + 2 < m { lat.skip[s + 2] } else { NEG_INF }).collect();
    let mut gam = vec![0.0; m];
    let mut post = vec![0.0; c + 1];
    for i in (0..nf).rev() {
        let a = &alpha[i * w + 2..(i + 1) * w];
        let norm = if form.per_frame { lse_sum(a, &beta[..m]) } else { log_l };
        posteriors(a, &beta, norm, &mut gam);
        post.fill(0.0);
        for (&k, &v) in lat.credit.iter().zip(&gam) {
            post[k] += v;
        }
        let total = if form.through_softmax { post[..c].iter().sum() } else { 1.0 };
        let o = lat.frames[i];
        let (mx, ls) = stats[i];
        // SAFETY: the row is in the buffer and this sequence's alone.
        grad_row(&x[o..o + c], &post, mx, ls, g, total, unsafe { std::slice::from_raw_parts_mut(grad.add(o), c) });
        if i > 0 {
            add(&beta, &emit[i * m..(i + 1) * m], &mut ext[..m]);
            backward_step(&ext, &next_up, &skip_up, &mut beta[..m]);
        }
    }
    value
}

// ------------------------------------------------ the scaled path (probabilities)

/// The smallest value a cell of the scaled path keeps, `2⁻⁹⁶⁰`: above it
/// every product and sum of the recursion is a normal number. A smaller
/// cell is set to 0 (flushed), and the paths it held are counted as lost.
const FLOOR: f64 = f64::from_bits((1023 - 960) << 52);

/// The most probability mass, as a fraction of the likelihood, that the
/// scaled path may lose to flushed cells and neglected weights (`2⁻⁵⁵`,
/// below the rounding of `f64`); beyond it the log path runs.
const LOST_MAX: f64 = f64::from_bits((1023 - 55) << 52);

/// A move's log-weight below this is `0` as a probability (`exp(w)` rounds to
/// zero in `f64`); the paths it carries count as lost (below `e^(w − log L)`).
const NEGLIGIBLE: f64 = -745.2;

/// The log-weights `w` as probabilities in `mp` slots (`0` beyond `w`):
/// `1` for `0`, `0` for `−∞` and for weights below [`NEGLIGIBLE`] (the
/// largest of those kept in `neglect`); `None` for any other weight.
fn probs(w: &[f64], mp: usize, neglect: &mut f64) -> Option<Vec<f64>> {
    let mut out = vec![0.0; mp];
    for (o, &v) in out.iter_mut().zip(w) {
        if v == 0.0 {
            *o = 1.0;
        } else if v < NEGLIGIBLE {
            if v > *neglect {
                *neglect = v;
            }
        } else if v != NEG_INF {
            return None;
        }
    }
    Some(out)
}

/// `2⁻ᵏ` for the exponent `k` of a positive normal `s` (`s · 2⁻ᵏ ∈ [1, 2)`):
/// a rescaling that is exact.
#[inline(always)]
fn pow2_scale(s: f64) -> f64 {
    let biased = (s.to_bits() >> 52) & 0x7ff;
    f64::from_bits((2046 - biased) << 52)
}

/// The exponent `k` of a positive normal `s`.
#[inline(always)]
fn exponent(s: f64) -> i64 {
    ((s.to_bits() >> 52) & 0x7ff) as i64 - 1023
}

/// `v · f` over a slice (a loop that vectorises).
#[inline(always)]
fn scale_by(v: &mut [f64], f: f64) {
    for x in v {
        *x *= f;
    }
}

/// A cell `v` of the scaled path: kept at or above [`FLOOR`], else 0 (and
/// `flushed` set).
#[inline(always)]
fn keep(v: f64, flushed: &mut bool) -> f64 {
    let small = (v > 0.0) & (v < FLOOR);
    *flushed |= small;
    if small {
        0.0
    } else {
        v
    }
}

/// One frame of the scaled forward recursion over `mp` (a multiple of
/// [`LANES`]) states: `out[2 + s] = (a(s) + a(s−1)·n(s) + a(s−2)·k(s)) · e(s)`
/// from `prev` (two leading zeros), cells below [`FLOOR`] flushed. Returns
/// the cells' sum (in lanes) and whether any was flushed.
#[inline(always)]
fn scaled_forward_step(prev: &[f64], e: &[f64], np: &[f64], kp: &[f64], out: &mut [f64]) -> (f64, bool) {
    let mp = e.len();
    let (p0, p1, p2) = (prev[..mp].as_chunks::<LANES>().0, prev[1..mp + 1].as_chunks::<LANES>().0, prev[2..mp + 2].as_chunks::<LANES>().0);
    let (e, np, kp) = (e.as_chunks::<LANES>().0, np[..mp].as_chunks::<LANES>().0, kp[..mp].as_chunks::<LANES>().0);
    let out = out[2..mp + 2].as_chunks_mut::<LANES>().0;
    let (mut sum, mut flushed) = ([0.0f64; LANES], [false; LANES]);
    for j in 0..out.len() {
        for i in 0..LANES {
            let v = keep((p2[j][i] + p1[j][i] * np[j][i] + p0[j][i] * kp[j][i]) * e[j][i], &mut flushed[i]);
            out[j][i] = v;
            sum[i] += v;
        }
    }
    (tree_serial(sum), flushed.contains(&true))
}

/// `out = a · b` over `mp` slots, products below [`FLOOR`] flushed; returns
/// the sum of the products, the sum of `b` (both in lanes), and whether any
/// product was flushed.
#[inline(always)]
fn scaled_products(a: &[f64], b: &[f64], out: &mut [f64]) -> (f64, f64, bool) {
    let mp = out.len();
    let (a, b, out) = (a[..mp].as_chunks::<LANES>().0, b[..mp].as_chunks::<LANES>().0, out.as_chunks_mut::<LANES>().0);
    let (mut sum, mut sb, mut flushed) = ([0.0f64; LANES], [0.0f64; LANES], [false; LANES]);
    for j in 0..out.len() {
        for i in 0..LANES {
            let v = keep(a[j][i] * b[j][i], &mut flushed[i]);
            out[j][i] = v;
            sum[i] += v;
            sb[i] += b[j][i];
        }
    }
    (tree_serial(sum), tree_serial(sb), flushed.contains(&true))
}

/// `out = β̂ · e` over `mp` slots, products below [`FLOOR`] flushed; returns
/// `Σ γ(s)` over the flushed slots (the posteriors `gam` of the frame: the
/// share of the likelihood whose paths pass there).
#[inline(always)]
fn scaled_ext(beta: &[f64], e: &[f64], gam: &[f64], out: &mut [f64]) -> f64 {
    let mp = out.len();
    let (beta, e, gam, out) = (beta[..mp].as_chunks::<LANES>().0, e[..mp].as_chunks::<LANES>().0, gam[..mp].as_chunks::<LANES>().0, out.as_chunks_mut::<LANES>().0);
    let mut lost = [0.0f64; LANES];
    for j in 0..out.len() {
        for i in 0..LANES {
            let v = beta[j][i] * e[j][i];
            let small = (v > 0.0) & (v < FLOOR);
            out[j][i] = if small { 0.0 } else { v };
            lost[i] += if small { gam[j][i] + FLOOR } else { 0.0 };
        }
    }
    tree_serial(lost)
}

/// One frame of the scaled backward recursion: `out[s] = b(s) + b(s+1)·nu(s)
/// + b(s+2)·su(s)` from `ext = β' · E'` (two trailing zeros); returns the sum.
#[inline(always)]
fn scaled_backward_step(ext: &[f64], nu: &[f64], su: &[f64], out: &mut [f64]) -> f64 {
    let mp = out.len();
    let (e0, e1, e2) = (ext[..mp].as_chunks::<LANES>().0, ext[1..mp + 1].as_chunks::<LANES>().0, ext[2..mp + 2].as_chunks::<LANES>().0);
    let (nu, su, out) = (nu[..mp].as_chunks::<LANES>().0, su[..mp].as_chunks::<LANES>().0, out.as_chunks_mut::<LANES>().0);
    let mut sum = [0.0f64; LANES];
    for j in 0..out.len() {
        for i in 0..LANES {
            let v = e0[j][i] + e1[j][i] * nu[j][i] + e2[j][i] * su[j][i];
            out[j][i] = v;
            sum[i] += v;
        }
    }
    tree_serial(sum)
}

/// Sequence `lat` on the scaled path: the forward–backward recursion in
/// probabilities rather than logarithms, each frame's cells rescaled by the
/// power of two that brings their sum into `[1, 2)` (exact), `log L` from the
/// last frame's sum and the exponents, each frame's posteriors
/// `α̂β̂ / Σ α̂β̂` (the same as `exp(α + β − log L)`: `Σ_s α_t(s)β_t(s) = L`
/// at every frame). No exponential or logarithm per cell and step, where
/// the log path takes two exponentials and a logarithm.
///
/// Its range is `f64`'s: a cell below [`FLOOR`] of its frame's sum is
/// flushed to 0, which drops the paths through it. The backward pass bounds
/// the probability so dropped at every frame (a flushed `α̂` by the floor
/// times the frame's `Σ β̂`, a flushed `β̂ · E` or `α̂β̂` by its frame's
/// posterior), and the result stands only if the total, with the paths
/// through neglected weights, stays below [`LOST_MAX`] of the likelihood:
/// the cells of a long lattice far behind or ahead of the likely alignment
/// are flushed without changing a bit that matters, while an alignment that
/// only such cells carry stands the path down. It also takes only move,
/// start and end weights of `0`, `−∞` or below [`NEGLIGIBLE`], no
/// `init_value`, and emissions of log-probability in `[−700, 0]` (or `−∞`);
/// a forward pass alone runs the backward pass (without rows) only where it
/// flushed a cell. Otherwise
/// `None`, and the caller runs the log path, which rewrites every row this
/// call may have written.
///
/// # Safety
/// As [`sequence`].
#[inline(always)]
unsafe fn scaled<T: Float>(seq: Seq<'_, T>, (probs_buf, alpha_buf): (&mut Vec<f64>, &mut Vec<f64>)) -> Option<f64> {
    let Seq { x, c, form, lat, emit, stats, grad, scale } = seq;
    let m = lat.class.len();
    let nf = lat.frames.len();
    if lat.init_value.is_some() || m == 0 {
        return None;
    }
    let mp = m.div_ceil(LANES) * LANES;
    let w = mp + 2;
    let mut neglect = NEG_INF;
    let init = probs(&lat.init, mp, &mut neglect)?;
    let fin = probs(&lat.fin, mp, &mut neglect)?;
    let np = probs(&lat.next, mp, &mut neglect)?;
    let kp = probs(&lat.skip, mp, &mut neglect)?;
    let ep = sized(probs_buf, nf * mp, 0.0);
    let mut ok = true;
    for (row, src) in ep.chunks_exact_mut(mp).zip(emit.chunks_exact(m)) {
        for (d, &v) in row.iter_mut().zip(src) {
            ok &= (v == NEG_INF) | ((v >= -700.0) & (v <= 0.0));
            *d = if v == NEG_INF { 0.0 } else { exp_nonpos(v) };
        }
    }
    if !ok {
        return None;
    }
    let ep = &ep[..];
    let alpha = sized(alpha_buf, nf * w, 0.0);
    // Per frame: the bound of a flushed α̂ in the frame's units (0: none flushed).
    let mut floor_at = vec![0.0; nf];
    let mut any_flushed = false;
    let mut cur = vec![0.0; w];
    cur[2..].copy_from_slice(&init);
    let mut nxt = vec![0.0; w];
    let mut exp2: i64 = 0;
    for i in 0..nf {
        let (sum, flushed) = scaled_forward_step(&cur, &ep[i * mp..(i + 1) * mp], &np, &kp, &mut nxt);
        if !(sum > 0.0) {
            return None;
        }
        let f = pow2_scale(sum);
        scale_by(&mut nxt[2..], f);
        exp2 += exponent(sum);
        alpha[i * w..(i + 1) * w].copy_from_slice(&nxt);
        floor_at[i] = if flushed { FLOOR * f } else { 0.0 };
        any_flushed |= flushed;
        std::mem::swap(&mut cur, &mut nxt);
    }
    let end = lane_sum_zip(&cur[2..], &fin, |a, f| a * f);
    if !(end > 0.0) {
        return None;
    }
    let log_l = end.ln() + exp2 as f64 * std::f64::consts::LN_2;
    // The paths through a neglected weight: at most e^w times the sum over
    // every path of its emissions, which is at most Π_t Σ_s E_t(s) ≤ M^T.
    let mut lost = (neglect + (nf + 1) as f64 * (mp as f64).ln() - log_l).exp();
    if !(lost <= LOST_MAX) {
        return None;
    }
    // A forward pass alone needs the backward pass only to bound what flushed cells dropped.
    if grad.is_null() && !any_flushed {
        return Some(log_l);
    }
    // β̂ of the frame at hand (two trailing zeros), the moves into s + 1 and s + 2 seen from s.
    let mut beta = vec![0.0; w];
    beta[..mp].copy_from_slice(&fin);
    let mut ext = vec![0.0; w];
    let nu: Vec<f64> = (0..mp).map(|s| np.get(s + 1).copied().unwrap_or(0.0)).collect();
    let su: Vec<f64> = (0..mp).map(|s| kp.get(s + 2).copied().unwrap_or(0.0)).collect();
    let mut gam = vec![0.0; mp];
    let mut post = vec![0.0; c + 1];
    // The class most states credit (CTC's blank, every other state) is summed
    // in lanes; the others are added one by one (a loop of `post[k] += γ`
    // over every state waits on each blank's previous store).
    let major = {
        let mut count = vec![0u32; c + 1];
        lat.credit.iter().for_each(|&k| count[k] += 1);
        (0..c).max_by_key(|&k| (count[k], std::cmp::Reverse(k))).unwrap_or(c)
    };
    let mask: Vec<f64> = (0..mp).map(|s| if lat.credit.get(s) == Some(&major) { 1.0 } else { 0.0 }).collect();
    let rest: Vec<(usize, usize)> = lat.credit.iter().enumerate().filter(|&(_, &k)| k != major && k < c).map(|(s, &k)| (s, k)).collect();
    // The rows are written as the backward pass goes; where the lost share
    // ends above the bound, the caller's log path rewrites them. With a zero
    // factor no row is written, but the pass still bounds the value's loss.
    let g = match if grad.is_null() { RowScale::Zero } else { scale(log_l) } {
        RowScale::Zero => None,
        RowScale::Nan => {
            // SAFETY: the caller's contract.
            unsafe { seq.nan_rows() };
            return Some(log_l);
        }
        RowScale::By(g) => Some(g),
    };
    for i in (0..nf).rev() {
        let (sum, sum_beta, flushed) = scaled_products(&alpha[i * w + 2..(i + 1) * w], &beta[..mp], &mut gam);
        if !(sum > 0.0) {
            return None;
        }
        let inv = 1.0 / sum;
        lost += (floor_at[i] * sum_beta + if flushed { FLOOR * mp as f64 } else { 0.0 }) * inv;
        scale_by(&mut gam, inv);
        if let Some(g) = g {
            post.fill(0.0);
            post[major] = lane_sum_zip(&gam, &mask, |v, k| v * k);
            for &(s, k) in &rest {
                post[k] += gam[s];
            }
            let total = if form.through_softmax { post[..c].iter().sum() } else { 1.0 };
            let o = lat.frames[i];
            let (mx, ls) = stats[i];
            // SAFETY: the row is in the buffer and this sequence's alone.
            grad_row(&x[o..o + c], &post, mx, ls, g, total, unsafe { std::slice::from_raw_parts_mut(grad.add(o), c) });
        }
        if i > 0 {
            lost += scaled_ext(&beta[..mp], &ep[i * mp..(i + 1) * mp], &gam, &mut ext[..mp]);
            let sum = scaled_backward_step(&ext, &nu, &su, &mut beta[..mp]);
            if !(sum > 0.0) {
                return None;
            }
            scale_by(&mut beta[..mp], pow2_scale(sum));
        }
    }
    if !(lost <= LOST_MAX) {
        return None;
    }
    Some(log_l)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn sequence_avx512<T: Float>(x: &[T], c: usize, form: Form, lat: &Lattice, grad: SyncPtr<T>, scale: &dyn Fn(f64) -> RowScale) -> Option<f64> {
    // SAFETY: the caller's contract.
    unsafe { sequence(x, c, form, lat, grad, scale) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sequence_avx2<T: Float>(x: &[T], c: usize, form: Form, lat: &Lattice, grad: SyncPtr<T>, scale: &dyn Fn(f64) -> RowScale) -> Option<f64> {
    // SAFETY: the caller's contract.
    unsafe { sequence(x, c, form, lat, grad, scale) }
}

unsafe fn sequence_base<T: Float>(x: &[T], c: usize, form: Form, lat: &Lattice, grad: SyncPtr<T>, scale: &dyn Fn(f64) -> RowScale) -> Option<f64> {
    // SAFETY: the caller's contract.
    unsafe { sequence(x, c, form, lat, grad, scale) }
}

/// The type of one sequence's driver.
type SequenceFn<T> = unsafe fn(&[T], usize, Form, &Lattice, SyncPtr<T>, &dyn Fn(f64) -> RowScale) -> Option<f64>;

/// Every sequence's `log L` (its value's: from `init_value` where given) of
/// the rows of `x` (`C` columns, contiguous), in parallel over the
/// sequences; with `grad` (a buffer of `x`'s length, and the factor of each
/// sequence `b` given its log-likelihood, `scale(b, log L)`), each
/// sequence's frame rows of the gradient written there (other rows are left
/// as they are). [`NonFinite`] when a sequence reads an input this path does
/// not take; the gradient is then partly written.
///
/// # Panics
/// If a frame's row or a lattice's class lies outside `x`, or the lattices'
/// vectors disagree in length (the callers build them consistent).
pub(crate) fn run<T: Float>(
    x: &[T],
    c: usize,
    form: Form,
    seqs: &[Lattice],
    grad: Option<(&mut [T], &(dyn Fn(usize, f64) -> RowScale + Sync))>,
) -> Result<Vec<f64>, NonFinite> {
    for lat in seqs {
        let m = lat.class.len();
        assert!(lat.credit.len() == m && lat.next.len() == m && lat.skip.len() == m && lat.init.len() == m && lat.fin.len() == m);
        assert!(lat.init_value.as_ref().is_none_or(|v| v.len() == m));
        assert!(lat.class.iter().all(|&k| k <= Lattice::never(c)) && lat.credit.iter().all(|&k| k <= c));
        assert!(lat.frames.iter().all(|&o| o.checked_add(c).is_some_and(|e| e <= x.len())));
    }
    let f: SequenceFn<T> = match elementwise::level() {
        #[cfg(target_arch = "x86_64")]
        2 => sequence_avx512::<T>,
        #[cfg(target_arch = "x86_64")]
        1 => sequence_avx2::<T>,
        _ => sequence_base::<T>,
    };
    let n = seqs.len();
    let (gp, scale): (SyncPtr<T>, Option<&(dyn Fn(usize, f64) -> RowScale + Sync)>) = match grad {
        Some((g, s)) => {
            assert_eq!(g.len(), x.len());
            (SyncPtr(g.as_mut_ptr()), Some(s))
        }
        None => (SyncPtr::null(), None),
    };
    let mut values = vec![0.0; n];
    let vp = SyncPtr(values.as_mut_ptr());
    let bad = AtomicBool::new(false);
    let work: usize = seqs.iter().map(|l| l.frames.len() * (c + 4 * l.class.len())).sum();
    par::for_each(n, work, |b| {
        if bad.load(Ordering::Relaxed) {
            return;
        }
        let at = |ll: f64| scale.map_or(RowScale::Zero, |s| s(b, ll));
        // SAFETY: sequence b's frames are its own rows of the gradient (the
        // lattices' frames are disjoint), and its value slot is its own.
        match unsafe { f(x, c, form, &seqs[b], gp, &at) } {
            Some(v) => unsafe { *vp.add(b) = v },
            None => bad.store(true, Ordering::Relaxed),
        }
    });
    if bad.into_inner() {
        Err(NonFinite)
    } else {
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::{lse3, NEG_INF};

    /// The vectorised three-term log-sum-exp against libm's, and its `−∞` cases.
    #[test]
    fn lse3_is_close_to_libm() {
        let libm = |a: f64, b: f64, c: f64| {
            let m = a.max(b).max(c);
            m + ((a - m).exp() + (b - m).exp() + (c - m).exp()).ln()
        };
        let vals = [0.0, -1e-300, -0.5, 1.25, -3.0, -40.0, -700.0, -745.5, 800.0, -1e5, 123.456];
        for &a in &vals {
            for &b in &vals {
                for &c in &vals {
                    let (got, want) = (lse3(a, b, c), libm(a, b, c));
                    assert!((got - want).abs() <= 4.0 * f64::EPSILON * want.abs().max(1.0), "lse3({a}, {b}, {c}) = {got}, libm {want}");
                }
            }
            for &b in &vals {
                let (got, want) = (lse3(a, b, NEG_INF), libm(a, b, NEG_INF));
                assert!((got - want).abs() <= 4.0 * f64::EPSILON * want.abs().max(1.0), "lse3({a}, {b}, −∞) = {got}, libm {want}");
                assert_eq!(lse3(NEG_INF, b, NEG_INF), b);
            }
            assert_eq!(lse3(a, NEG_INF, NEG_INF), a);
        }
        assert_eq!(lse3(NEG_INF, NEG_INF, NEG_INF), NEG_INF);
    }
}

#[cfg(test)]
mod scaled_tests {
    use super::{emissions, logs, scaled, Form, Lattice, RowScale, Seq, NEG_INF};
    use crate::machinery::kernels::par::SyncPtr;

    /// PyTorch's chain over `labels` (a never-emitting start state, then
    /// blank, label, …, blank), rows `t · c` of `nf` frames.
    fn torch_lattice(labels: &[usize], blank: usize, c: usize, nf: usize) -> Lattice {
        let m = 2 * labels.len() + 2;
        let mut class = vec![Lattice::never(c)];
        let mut skip = vec![NEG_INF];
        for (i, &y) in labels.iter().enumerate() {
            class.extend([blank, y]);
            skip.extend([NEG_INF, if i == 0 || labels[i - 1] != y { 0.0 } else { NEG_INF }]);
        }
        class.push(blank);
        skip.push(NEG_INF);
        let credit = class.iter().map(|&k| k.min(c)).collect();
        let mut init = vec![NEG_INF; m];
        init[0] = 0.0;
        let mut fin = vec![NEG_INF; m];
        fin[m - 1] = 0.0;
        fin[m - 2] = 0.0;
        Lattice { class, credit, next: vec![0.0; m], skip, init, init_value: None, fin, frames: (0..nf).map(|t| t * c).collect() }
    }

    /// A xorshift generator's numbers in `[0, 1)`.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// `nf` rows of `c` logits spread over `[0, spread)`, as log-probabilities
    /// unless `raw`; every `peak`-th row's class `t mod c` raised by `spread`.
    fn rows(rng: &mut Rng, nf: usize, c: usize, spread: f64, raw: bool) -> Vec<f64> {
        let mut x = vec![0.0; nf * c];
        for (t, row) in x.chunks_exact_mut(c).enumerate() {
            row.iter_mut().for_each(|v| *v = rng.next() * spread);
            row[(t * 7) % c] += spread;
            if !raw {
                let m = row.iter().cloned().fold(f64::MIN, f64::max);
                let ls = row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                row.iter_mut().for_each(|v| *v = *v - m - ls);
            }
        }
        x
    }

    /// Both paths on one sequence, forward and forward + backward:
    /// the scaled path's result (`None` where it stood down) and the log path's.
    #[allow(clippy::type_complexity)]
    fn both(x: &[f64], c: usize, form: Form, lat: &Lattice) -> (Option<(f64, f64, Vec<f64>)>, (f64, f64, Vec<f64>)) {
        let nf = lat.frames.len();
        let m = lat.class.len();
        let (mut stats, mut emit) = (vec![(0.0, 0.0); nf], vec![0.0; nf * m]);
        emissions(x, c, form, lat, &mut stats, &mut emit).expect("finite rows");
        let scale = |_: f64| RowScale::By(0.75);
        let (mut probs, mut alpha) = (Vec::new(), Vec::new());
        let mut g_s = vec![0.0; x.len()];
        let mut g_l = vec![0.0; x.len()];
        // SAFETY: the gradients hold the input's elements; one sequence, one thread.
        unsafe {
            let seq = |grad| Seq { x, c, form, lat, emit: &emit, stats: &stats, grad, scale: &scale };
            let s_fwd = scaled(seq(SyncPtr::null()), (&mut probs, &mut alpha));
            let s_fb = scaled(seq(SyncPtr(g_s.as_mut_ptr())), (&mut probs, &mut alpha));
            let l_fwd = logs(seq(SyncPtr::null()), &mut alpha);
            let l_fb = logs(seq(SyncPtr(g_l.as_mut_ptr())), &mut alpha);
            assert_eq!(s_fwd.is_some(), s_fb.is_some());
            (s_fwd.zip(s_fb).map(|(a, b)| (a, b, g_s)), (l_fwd, l_fb, g_l))
        }
    }

    fn close(what: &str, a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol * b.abs().max(1.0), "{what}: scaled {a} vs log {b}");
    }

    /// The log path's posteriors `exp(α + β − log L)` carry the rounding of
    /// exponents as large as `|log L|`, accumulated over the frames' steps
    /// (`ε · |log L|` each and more: 1.6 · 10⁻¹² at `log L = −1776`); the
    /// scaled path's only the rounding of its products and sums.
    fn agree(what: &str, s: &(f64, f64, Vec<f64>), l: &(f64, f64, Vec<f64>)) {
        close(&format!("{what}: forward"), s.0, l.0, 1e-13);
        close(&format!("{what}: value"), s.1, l.1, 1e-13);
        let tol = 1e-12f64.max(16.0 * f64::EPSILON * l.1.abs());
        for (k, (a, b)) in s.2.iter().zip(&l.2).enumerate() {
            close(&format!("{what}: gradient {k}"), *a, *b, tol);
        }
    }

    /// Where every cell stays within the floor's range, the scaled path
    /// stands and agrees with the log path: PyTorch's form and optax's
    /// (logits, the gradient through the softmax), repeats, the shortest
    /// alignment, lattices long enough for thousands of rescalings.
    #[test]
    fn the_scaled_path_agrees_with_the_log_path() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let torch = Form { logits: false, per_frame: false, through_softmax: false };
        let optax = Form { logits: true, per_frame: false, through_softmax: true };
        let c = 11;
        for (nf, labels, spread) in [
            (3, vec![4usize, 4], 2.0),
            (6, vec![1, 2, 3], 3.0),
            (40, vec![3, 3, 3, 1, 9, 9], 4.0),
            (200, (0..40).map(|i| 1 + i % 10).collect(), 3.0),
            (200, (0..40).map(|i| 1 + (i * 3) % 10).collect(), 15.0),
            (500, (0..100).map(|i| 1 + (i * 3) % 10).collect(), 5.0),
            (1000, (0..450).map(|i| 1 + (i * 3) % 10).collect(), 3.0),
        ] {
            for (form, raw) in [(torch, false), (optax, true)] {
                let x = rows(&mut rng, nf, c, spread, raw);
                let lat = torch_lattice(&labels, 0, c, nf);
                let (s, l) = both(&x, c, form, &lat);
                let s = s.unwrap_or_else(|| panic!("T = {nf}, S = {}: the scaled path stood down", labels.len()));
                agree(&format!("T = {nf}, S = {}, {form:?}", labels.len()), &s, &l);
            }
        }
    }

    /// Optax's start weights (`ε = −10⁵` on every state but the first) are
    /// neglected, and the result still agrees; TensorFlow's `ln 1e−307`
    /// weights are not a probability the scaled path takes.
    #[test]
    fn negligible_weights_are_neglected_and_others_stand_it_down() {
        let mut rng = Rng(7);
        let c = 6;
        let x = rows(&mut rng, 30, c, 3.0, false);
        let torch = Form { logits: false, per_frame: false, through_softmax: false };
        let mut lat = torch_lattice(&[1, 2, 2, 5], 0, c, 30);
        lat.init.iter_mut().skip(1).for_each(|w| *w = -1e5);
        let (s, l) = both(&x, c, torch, &lat);
        agree("ε starts", &s.expect("ε starts are negligible"), &l);
        lat.init.iter_mut().skip(1).for_each(|w| *w = -706.893_615_722_656_2);
        assert!(both(&x, c, torch, &lat).0.is_none(), "TensorFlow's log 0 is not negligible");
    }

    /// Peaked rows over a long lattice spread a frame's cells beyond the
    /// floor (2⁻⁹⁶⁰): the scaled path stands down (the caller then runs the
    /// log path), and so it does for a log-probability above 0, one below
    /// −700, and an alignment that cannot be made.
    #[test]
    fn the_scaled_path_stands_down_beyond_its_range() {
        let mut rng = Rng(11);
        let torch = Form { logits: false, per_frame: false, through_softmax: false };
        let c = 8;
        let labels: Vec<usize> = (0..30).map(|i| 1 + i % 7).collect();
        let x = rows(&mut rng, 400, c, 60.0, false);
        let lat = torch_lattice(&labels, 0, c, 400);
        assert!(both(&x, c, torch, &lat).0.is_none(), "peaked rows over 400 frames");
        // 3000 frames for 401 states: each frame's α̂ piles on the last
        // states and β̂ on the first, the alignment between them flushed.
        let labels: Vec<usize> = (0..200).map(|i| 1 + (i * 3) % 7).collect();
        let x = rows(&mut rng, 3000, c, 1.0, false);
        assert!(both(&x, c, torch, &torch_lattice(&labels, 0, c, 3000)).0.is_none(), "3000 frames, 401 states");
        let short = torch_lattice(&[1, 2], 0, c, 4);
        let mut y = rows(&mut rng, 4, c, 2.0, false);
        assert!(both(&y, c, torch, &short).0.is_some());
        y[2] = 1e-3;
        assert!(both(&y, c, torch, &short).0.is_none(), "a log-probability above 0");
        y[2] = -0.5;
        y[1] = -701.0;
        assert!(both(&y, c, torch, &short).0.is_none(), "a log-probability below −700 on a label's column");
        let impossible = torch_lattice(&[1, 1, 1], 0, c, 4);
        assert!(both(&rows(&mut rng, 4, c, 2.0, false), c, torch, &impossible).0.is_none(), "3 repeats in 4 frames");
    }
}
