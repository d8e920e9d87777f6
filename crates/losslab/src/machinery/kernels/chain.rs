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
//! One task per sequence ([`par::for_each`]): its lattice, its value and its
//! gradient rows are its own, so the results are bit-identical whatever the
//! thread count. Scratch: `O(T · M)` numbers per task (the emissions and α),
//! freed when the sequence is done; nothing else beyond the caller's gradient.
//!
//! The path takes finite inputs only (log-probabilities at most
//! [`MAX_LOG_PROB`]): a sequence that reads anything else stops, and
//! [`run`] reports [`NonFinite`] so that the caller runs its general path,
//! whose NaN and infinity semantics are the references'.

use super::elementwise::{self, exp_nonpos};
use super::par::{self, SyncPtr};
use super::rows::lane_sum;
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
    let m = lat.class.len();
    let nf = lat.frames.len();
    let mut stats = vec![(0.0, 0.0); nf];
    let mut emit = vec![0.0; nf * m];
    emissions(x, c, form, lat, &mut stats, &mut emit)?;
    if grad.is_null() {
        return Some(forward(lat, lat.init_value.as_deref().unwrap_or(&lat.init), &emit, None));
    }
    let w = m + 2;
    let mut alpha = vec![0.0; nf * w];
    let log_l = forward(lat, &lat.init, &emit, Some(&mut alpha));
    let value = match &lat.init_value {
        Some(init) => forward(lat, init, &emit, None),
        None => log_l,
    };
    let g = match scale(log_l) {
        RowScale::Zero => return Some(value),
        RowScale::Nan => {
            for &o in &lat.frames {
                // SAFETY: the row is in the buffer and this sequence's alone.
                unsafe { std::slice::from_raw_parts_mut(grad.add(o), c) }.fill(T::nan());
            }
            return Some(value);
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
    Some(value)
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
