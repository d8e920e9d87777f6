//! Embedding and ranking losses: PyTorch's cosine embedding and triplet margin
//! losses (with any `p`-norm, or a named distance), Keras's cosine similarity,
//! and optax's NT-Xent (InfoNCE), triplet margin and ranking softmax losses.
//!
//! These losses compare vectors along one axis (the last one unless an `axis`
//! option says otherwise), so each produces one value per vector pair: the
//! input's shape without that axis. Each reference's own numerical details are
//! followed exactly, because they decide the value and the gradient at the
//! places these losses are known for (zero vectors, zero distances, margins
//! exactly met):
//!
//! | reference | zero-norm guard | gradient where the hinge is exactly met |
//! |---|---|---|
//! | `torch:cosine_embedding_loss` | `‖x‖² + 1e-12` under the square root | 0 |
//! | `torch:triplet_margin_loss` | `eps` added to the difference, `‖a − p + eps‖_p` | 0 |
//! | `torch:triplet_margin_with_distance_loss` (cosine) | `max(‖x‖, 1e-8)`, not differentiated | 0 |
//! | `keras:cosine_similarity` | `x · min(1/‖x‖, 1e7)` | (no hinge) |
//! | `optax:ntxent` | `√max(‖x‖², machine ε of the dtype)` | (no hinge) |
//! | `optax:triplet_margin_loss` | `(Σ dᵢᵏ + eps)^(1/k)`, no absolute value | ½ |
//!
//! Losses with more than two differentiable tensors return their own gradient
//! structs with named fields ([`TripletGradients`], [`CosineEmbeddingGradients`]).

use crate::machinery::broadcast::{keras_same_rank, Broadcast};
use crate::machinery::lanes::{Eval, Upstream};
use crate::machinery::methods::{free_fn, loss_methods, setters};
use crate::machinery::error::{check_option, shape_err, LossError, Result};
use crate::machinery::float::{narrow, widen, ClassIndex, Float};
use crate::machinery::lanes::{lanes, resolve_axis};
use crate::math::sgn;
use crate::machinery::reduction::{ones_like_output, sum_f64, Gradients, Reducer, Reduction, Scales};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension, IxDyn};
use crate::machinery::kernels::par::{self, SyncPtr};
use crate::machinery::kernels::rows::lane_sum_zip;
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

// ---------------------------------------------------------------------------------------
// shared machinery

/// The lanes of a row-major tensor along one axis: `outer × inner` vectors of
/// `len` elements with stride `inner`. A 0-d tensor is one vector of length 1.
#[derive(Debug, Clone)]
struct Lanes {
    outer: usize,
    len: usize,
    inner: usize,
    /// The shape of one value per lane (the tensor's shape without the axis).
    out_shape: Vec<usize>,
}

impl Lanes {
    fn new(shape: &[usize], axis: Option<usize>) -> Self {
        match axis {
            None => Lanes { outer: 1, len: 1, inner: 1, out_shape: vec![] },
            Some(axis) => {
                let (outer, len, inner) = lanes(shape, axis);
                let mut out_shape = shape.to_vec();
                out_shape.remove(axis);
                Lanes { outer, len, inner, out_shape }
            }
        }
    }
    /// The last axis (or the 0-d rule).
    fn last(shape: &[usize]) -> Self {
        Self::new(shape, shape.len().checked_sub(1))
    }
    fn count(&self) -> usize {
        self.outer * self.inner
    }
    #[inline]
    fn at(&self, s: usize, c: usize) -> usize {
        let (o, i) = (s / self.inner, s % self.inner);
        o * self.len * self.inner + c * self.inner + i
    }
    /// The index of lane `s`'s first element and the stride between its
    /// elements: element `c` is at `start + c · stride` (one division per lane).
    #[inline]
    fn start(&self, s: usize) -> (usize, usize) {
        (self.at(s, 0), self.inner)
    }
    /// Lane `s` of `data`, widened to `f64`, into `out`.
    fn gather<T: Float>(&self, data: &[T], s: usize, out: &mut Vec<f64>) {
        out.clear();
        let (start, stride) = self.start(s);
        if stride == 1 {
            out.extend(data[start..start + self.len].iter().map(|v| v.to_wide()));
        } else {
            out.extend((0..self.len).map(|c| data[start + c * stride].to_wide()));
        }
    }
    fn scatter_add(&self, data: &mut [f64], s: usize, lane: &[f64]) {
        for (c, v) in lane.iter().enumerate() {
            data[self.at(s, c)] += v;
        }
    }
}

#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    sum_f64(a.iter().zip(b).map(|(x, y)| x * y))
}

/// PyTorch's `torch.minimum`: NaN if either is NaN.
#[inline]
fn torch_minimum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// The share of the gradient of `minimum(a, b)` that goes to `a` and to `b`
/// (PyTorch's autograd: half each at a tie; both get it when one is NaN).
#[inline]
fn minimum_split(a: f64, b: f64) -> (f64, f64) {
    if a == b {
        (0.5, 0.5)
    } else {
        // NaN compares false both ways: both get the gradient, as PyTorch's masked_fill.
        (if a > b { 0.0 } else { 1.0 }, if a < b { 0.0 } else { 1.0 })
    }
}

// ---------------------------------------------------------------------------------------
// distances of PyTorch's triplet losses

/// `torch.nn.functional.pairwise_distance(x1, x2, p, eps)` on one lane:
/// `‖x1 − x2 + eps‖_p`, and the vector-norm backward of `torch.linalg.vector_norm`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pairwise {
    p: f64,
    eps: f64,
}

impl Pairwise {
    fn diff(&self, x1: &[f64], x2: &[f64], d: &mut Vec<f64>) {
        d.clear();
        // PyTorch: at::norm(x1 - x2 + eps, p, -1)
        d.extend(x1.iter().zip(x2).map(|(a, b)| (a - b) + self.eps));
    }

    fn norm(&self, d: &[f64]) -> f64 {
        let p = self.p;
        if p == 0.0 {
            d.iter().filter(|&&v| v != 0.0).count() as f64
        } else if p == f64::INFINITY {
            d.iter().fold(0.0f64, |m, v| if v.is_nan() || m.is_nan() { f64::NAN } else { m.max(v.abs()) })
        } else if p == f64::NEG_INFINITY {
            if d.is_empty() {
                return 0.0;
            }
            d.iter().fold(f64::INFINITY, |m, v| if v.is_nan() || m.is_nan() { f64::NAN } else { m.min(v.abs()) })
        } else if p == 1.0 {
            sum_f64(d.iter().map(|v| v.abs()))
        } else if p == 2.0 {
            sum_f64(d.iter().map(|v| v * v)).sqrt()
        } else {
            sum_f64(d.iter().map(|v| v.abs().powf(p))).powf(1.0 / p)
        }
    }

    /// `g · ∂‖d‖_p/∂d` into `out`, as PyTorch's `norm_backward` computes it
    /// (0 where the norm is 0; the subgradient `sign(d)` for p = 1; the maximum's
    /// gradient split among the ties for p = ±∞; none for p = 0).
    fn norm_backward(&self, d: &[f64], n: f64, g: f64, out: &mut Vec<f64>) {
        let p = self.p;
        out.clear();
        if p == 0.0 {
            out.resize(d.len(), 0.0);
        } else if p == 1.0 {
            out.extend(d.iter().map(|&v| sgn(v) * g));
        } else if p == 2.0 {
            out.extend(d.iter().map(|&v| g * if n == 0.0 { 0.0 } else { v / n }));
        } else if p.is_infinite() {
            let mask: Vec<bool> = d.iter().map(|v| v.abs() == n || v.is_nan()).collect();
            let count = mask.iter().filter(|&&m| m).count() as f64;
            out.extend(d.iter().zip(&mask).map(|(&v, &m)| sgn(v) * ((g / count) * m as u8 as f64)));
        } else if p < 1.0 {
            let scale = g * n.powf(1.0 - p);
            out.extend(d.iter().map(|&v| sgn(v) * if v == 0.0 { 0.0 } else { v.abs().powf(p - 1.0) } * scale));
        } else {
            let scale = if n == 0.0 { 0.0 } else { g / n.powf(p - 1.0) };
            if p < 2.0 {
                out.extend(d.iter().map(|&v| sgn(v) * v.abs().powf(p - 1.0) * scale));
            } else {
                out.extend(d.iter().map(|&v| v * v.abs().powf(p - 2.0) * scale));
            }
        }
    }
}

/// A distance between two vectors that PyTorch's triplet losses accept.
trait Distance {
    fn value(&self, x1: &[f64], x2: &[f64], scratch: &mut Vec<f64>) -> f64;
    /// Adds `g · ∂dist/∂x1` to `g1` and `g · ∂dist/∂x2` to `g2`.
    fn backward(&self, x1: &[f64], x2: &[f64], g: f64, g1: &mut [f64], g2: &mut [f64], scratch: &mut (Vec<f64>, Vec<f64>));
}

impl Distance for Pairwise {
    fn value(&self, x1: &[f64], x2: &[f64], d: &mut Vec<f64>) -> f64 {
        self.diff(x1, x2, d);
        self.norm(d)
    }
    fn backward(&self, x1: &[f64], x2: &[f64], g: f64, g1: &mut [f64], g2: &mut [f64], (d, out): &mut (Vec<f64>, Vec<f64>)) {
        self.diff(x1, x2, d);
        let n = self.norm(d);
        self.norm_backward(d, n, g, out);
        for ((a, b), v) in g1.iter_mut().zip(g2.iter_mut()).zip(out.iter()) {
            *a += v;
            *b -= v;
        }
    }
}

/// `1 − torch.nn.functional.cosine_similarity(x1, x2, dim=-1, eps)`, with
/// PyTorch's autograd: each norm is clamped to `eps` under `no_grad`, so the
/// gradient flows through the unclamped norm.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CosineDistance {
    eps: f64,
}

impl CosineDistance {
    fn norms(&self, x1: &[f64], x2: &[f64]) -> (f64, f64) {
        (dot(x1, x1).sqrt(), dot(x2, x2).sqrt())
    }
}

impl Distance for CosineDistance {
    fn value(&self, x1: &[f64], x2: &[f64], _: &mut Vec<f64>) -> f64 {
        let (n1, n2) = self.norms(x1, x2);
        let (c1, c2) = (n1.max(self.eps), n2.max(self.eps));
        1.0 - sum_f64(x1.iter().zip(x2).map(|(a, b)| (a / c1) * (b / c2)))
    }
    fn backward(&self, x1: &[f64], x2: &[f64], g: f64, g1: &mut [f64], g2: &mut [f64], _: &mut (Vec<f64>, Vec<f64>)) {
        let (n1, n2) = self.norms(x1, x2);
        let (c1, c2) = (n1.max(self.eps), n2.max(self.eps));
        let gc = -g; // d(1 − cos) = −d cos
        // cos = Σ (x1/c1)(x2/c2): direct terms, and the (unclamped) norms' terms.
        let gn1 = -sum_f64(x1.iter().zip(x2).map(|(a, b)| gc * (b / c2) * a / (c1 * c1)));
        let gn2 = -sum_f64(x1.iter().zip(x2).map(|(a, b)| gc * (a / c1) * b / (c2 * c2)));
        for i in 0..x1.len() {
            let dn1 = if n1 == 0.0 { 0.0 } else { x1[i] / n1 };
            let dn2 = if n2 == 0.0 { 0.0 } else { x2[i] / n2 };
            g1[i] += gc * (x2[i] / c2) / c1 + gn1 * dn1;
            g2[i] += gc * (x1[i] / c1) / c2 + gn2 * dn2;
        }
    }
}

/// The gradients of a triplet loss, one per input, each of its input's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TripletGradients<T> {
    /// Gradient with respect to `anchor`.
    pub anchor: ArrayD<T>,
    /// Gradient with respect to `positive`.
    pub positive: ArrayD<T>,
    /// Gradient with respect to `negative`.
    pub negative: ArrayD<T>,
}

/// The shape-checked inputs of a triplet loss in their own element type,
/// row-major: borrowed where the tensors are already (no copy), broadcast to
/// one shape where PyTorch's or NumPy's rule makes them differ. Each lane is
/// widened to `f64` as it is computed, in a scratch buffer of one lane.
struct Triplet<'a, T: Clone> {
    shape: Vec<usize>,
    lanes: Lanes,
    a: Cow<'a, [T]>,
    p: Cow<'a, [T]>,
    n: Cow<'a, [T]>,
    /// The broadcast of PyTorch's three tensors, where their shapes differ.
    bc: Option<Broadcast>,
}

/// A tensor's elements in row-major order: borrowed when it is in standard
/// layout, copied (in its own type) otherwise.
fn row_major<'a, T: Float, D: Dimension>(a: &ArrayView<'a, T, D>) -> Cow<'a, [T]> {
    match a.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().copied().collect()),
    }
}

/// Runs `f(s, scratch)` for every lane `s < count` of `len` elements, in
/// parallel over groups of lanes fixed by the sizes alone (about 4096 elements'
/// worth), each group with a scratch of its own from `scratch()`: lanes are
/// computed independently, so results do not depend on the thread count.
/// `touched`: the elements one lane reads and writes, over all tensors.
fn par_lanes<S>(count: usize, len: usize, touched: usize, scratch: impl Fn() -> S + Sync, f: impl Fn(usize, &mut S) + Sync) {
    let per = (4096 / len.max(1)).max(1);
    par::for_each(count.div_ceil(per), count * touched, |task| {
        let mut w = scratch();
        for s in task * per..((task + 1) * per).min(count) {
            f(s, &mut w);
        }
    });
}

/// `f(s, scratch)` of every lane into a vector, by [`par_lanes`].
fn map_lanes<S>(count: usize, len: usize, touched: usize, scratch: impl Fn() -> S + Sync, f: impl Fn(usize, &mut S) -> f64 + Sync) -> Vec<f64> {
    let mut out = vec![0.0; count];
    let dst = SyncPtr(out.as_mut_ptr());
    // SAFETY: lane s < count is written by its own task alone.
    par_lanes(count, len, touched, scratch, |s, w| unsafe { *dst.add(s) = f(s, w) });
    out
}

/// One lane's scratch: the three widened lanes and their gradients, and the
/// distances' own scratch.
struct LaneScratch {
    a: Vec<f64>,
    p: Vec<f64>,
    n: Vec<f64>,
    ga: Vec<f64>,
    gp: Vec<f64>,
    gn: Vec<f64>,
    dist: (Vec<f64>, Vec<f64>),
}

impl LaneScratch {
    fn new(len: usize) -> Self {
        let v = || Vec::with_capacity(len);
        LaneScratch { a: v(), p: v(), n: v(), ga: vec![0.0; len], gp: vec![0.0; len], gn: vec![0.0; len], dist: (v(), v()) }
    }
}

impl<'a, T: Float> Triplet<'a, T> {
    #[allow(clippy::type_complexity)]
    fn new<D: Dimension>(
        loss: &'static str,
        names: [&'static str; 3],
        (a, p, n): (&ArrayView<'a, T, D>, &ArrayView<'a, T, D>, &ArrayView<'a, T, D>),
        axis: Option<isize>,
    ) -> Result<Self> {
        // The broadcast tensors, in T (the expansion only repeats elements: exact).
        let expand = |bc: &Broadcast, k: usize, t: &ArrayView<'_, T, D>| -> Cow<'a, [T]> { Cow::Owned(bc.expand(k, t).into_iter().map(T::from_wide).collect()) };
        let lanes = match axis {
            // PyTorch: tensors of one rank, broadcast together (the distances are
            // those of the broadcast tensors, `pairwise_distance`'s and
            // `cosine_similarity`'s own broadcasting).
            None => {
                for (name, t) in [(names[1], p.shape()), (names[2], n.shape())] {
                    if t.len() != a.ndim() {
                        return Err(shape_err(
                            loss,
                            name,
                            format!(
                                "{} dimensions, as `{}` {:?} (PyTorch: the anchor, positive, and negative tensors are expected to have the same number of dimensions)",
                                a.ndim(),
                                names[0],
                                a.shape()
                            ),
                            t,
                        ));
                    }
                }
                let bc = Broadcast::new(loss, &[(names[0], a.shape()), (names[1], p.shape()), (names[2], n.shape())])?;
                if !bc.is_trivial() {
                    let lanes = Lanes::last(&bc.shape);
                    let (av, pv, nv) = (expand(&bc, 0, a), expand(&bc, 1, p), expand(&bc, 2, n));
                    return Ok(Triplet { shape: bc.shape.clone(), lanes, a: av, p: pv, n: nv, bc: Some(bc) });
                }
                Lanes::last(a.shape())
            }
            // optax: the three broadcast together (NumPy's rule, any ranks),
            // the distances along `axis` of the broadcast shape.
            Some(ax) => {
                let bc = Broadcast::numpy(loss, &[(names[0], a.shape()), (names[1], p.shape()), (names[2], n.shape())])?;
                if bc.shape.is_empty() {
                    return Err(shape_err(loss, names[0], "at least 1 dimension (the embedding axis), in one of the three tensors", a.shape()));
                }
                let lanes = Lanes::new(&bc.shape, Some(resolve_axis(loss, "axis", ax, bc.shape.len())?));
                if !bc.is_trivial() {
                    let (av, pv, nv) = (expand(&bc, 0, a), expand(&bc, 1, p), expand(&bc, 2, n));
                    return Ok(Triplet { shape: bc.shape.clone(), lanes, a: av, p: pv, n: nv, bc: Some(bc) });
                }
                lanes
            }
        };
        Ok(Triplet { shape: a.shape().to_vec(), lanes, a: row_major(a), p: row_major(p), n: row_major(n), bc: None })
    }

    /// Lane `s` of the three tensors, widened into the scratch's `a`, `p`, `n`.
    fn gather(&self, s: usize, w: &mut LaneScratch) {
        self.lanes.gather(&self.a, s, &mut w.a);
        self.lanes.gather(&self.p, s, &mut w.p);
        self.lanes.gather(&self.n, s, &mut w.n);
    }

    /// `f(a, p, n)` of every lane, in parallel ([`par_lanes`]).
    fn map_lanes(&self, f: impl Fn(&mut LaneScratch) -> f64 + Sync) -> Vec<f64> {
        let len = self.lanes.len;
        map_lanes(self.lanes.count(), len, 3 * len, || LaneScratch::new(len), |s, w| {
            self.gather(s, w);
            f(w)
        })
    }

    /// The gradients: `f(s, scratch)` fills the scratch's `ga`, `gp`, `gn` with
    /// lane `s`'s gradient (its `a`, `p`, `n` gathered), in parallel over fixed
    /// groups of lanes, each written into its tensor's gradient (every element
    /// belongs to one lane); broadcast tensors' gradients are summed back to
    /// their shapes.
    fn grads(&self, f: impl Fn(usize, &mut LaneScratch) + Sync) -> TripletGradients<T> {
        let (count, len) = (self.lanes.count(), self.lanes.len);
        let total = self.a.len();
        let write = |ga: SyncPtr<f64>, gp: SyncPtr<f64>, gn: SyncPtr<f64>, t: [SyncPtr<T>; 3]| {
            par_lanes(count, len, 6 * len, || LaneScratch::new(len), |s, w| {
                self.gather(s, w);
                f(s, w);
                let (start, stride) = self.lanes.start(s);
                for c in 0..len {
                    let i = start + c * stride;
                    // SAFETY: element i belongs to lane s alone, written by its task alone.
                    unsafe {
                        if ga.is_null() {
                            *t[0].add(i) = T::from_wide(w.ga[c]);
                            *t[1].add(i) = T::from_wide(w.gp[c]);
                            *t[2].add(i) = T::from_wide(w.gn[c]);
                        } else {
                            *ga.add(i) = w.ga[c];
                            *gp.add(i) = w.gp[c];
                            *gn.add(i) = w.gn[c];
                        }
                    }
                }
            });
        };
        match &self.bc {
            Some(b) => {
                let (mut ga, mut gp, mut gn) = (vec![0.0; total], vec![0.0; total], vec![0.0; total]);
                write(SyncPtr(ga.as_mut_ptr()), SyncPtr(gp.as_mut_ptr()), SyncPtr(gn.as_mut_ptr()), [SyncPtr::null(); 3]);
                TripletGradients { anchor: b.reduce(0, ga), positive: b.reduce(1, gp), negative: b.reduce(2, gn) }
            }
            None => {
                let (mut ga, mut gp, mut gn) = (vec![T::zero(); total], vec![T::zero(); total], vec![T::zero(); total]);
                write(SyncPtr::null(), SyncPtr::null(), SyncPtr::null(), [SyncPtr(ga.as_mut_ptr()), SyncPtr(gp.as_mut_ptr()), SyncPtr(gn.as_mut_ptr())]);
                let shaped = |v: Vec<T>| ArrayD::from_shape_vec(IxDyn(&self.shape), v).expect("shape and length agree");
                TripletGradients { anchor: shaped(ga), positive: shaped(gp), negative: shaped(gn) }
            }
        }
    }
}

/// PyTorch's triplet computation for any distance: forward values and backward.
fn torch_triplet_losses<T: Float>(t: &Triplet<'_, T>, dist: &(dyn Distance + Sync), margin: f64, swap: bool) -> Vec<f64> {
    t.map_lanes(|w| {
        let dp = dist.value(&w.a, &w.p, &mut w.dist.0);
        let mut dn = dist.value(&w.a, &w.n, &mut w.dist.0);
        if swap {
            dn = torch_minimum(dn, dist.value(&w.p, &w.n, &mut w.dist.0));
        }
        // torch.clamp_min(margin + dist_pos - dist_neg, 0), NaN propagating
        let v = (margin + dp) - dn;
        if v.is_nan() { v } else { v.max(0.0) }
    })
}

fn torch_triplet_grads<T: Float>(t: &Triplet<'_, T>, dist: &(dyn Distance + Sync), margin: f64, swap: bool, scales: &Scales) -> TripletGradients<T> {
    t.grads(|s, w| {
        let dp = dist.value(&w.a, &w.p, &mut w.dist.0);
        let dn = dist.value(&w.a, &w.n, &mut w.dist.0);
        let ds = if swap { dist.value(&w.p, &w.n, &mut w.dist.0) } else { f64::NAN };
        let dneg = if swap { torch_minimum(dn, ds) } else { dn };
        let v = (margin + dp) - dneg;
        // clamp_min's backward passes the gradient only where the input is > 0:
        // a margin exactly met (v = 0) gets none.
        let c = if v > 0.0 { scales.at(s) } else { 0.0 };
        let (wn, ws) = if swap { minimum_split(dn, ds) } else { (1.0, 0.0) };
        for v in [&mut w.ga, &mut w.gp, &mut w.gn] {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
        dist.backward(&w.a, &w.p, c, &mut w.ga, &mut w.gp, &mut w.dist);
        dist.backward(&w.a, &w.n, -c * wn, &mut w.ga, &mut w.gn, &mut w.dist);
        if swap {
            dist.backward(&w.p, &w.n, -c * ws, &mut w.gp, &mut w.gn, &mut w.dist);
        }
    })
}

/// One triplet's three rows of gradients in a [`Triplet::fast`] row function:
/// the upstream gradient of its loss, then `∂/∂` the anchor, positive and
/// negative (the rows' elements, zeroed).
type TripletRowGrads<'g, T> = (f64, &'g mut [T], &'g mut [T], &'g mut [T]);

impl<T: Float> Triplet<'_, T> {
    /// The row sweep ([`kernels::rows`](crate::machinery::kernels::rows)) for
    /// tensors of one shape (none broadcast) with the distances along their
    /// last, contiguous axis: `row(a, p, n, grads)` is one triplet's loss
    /// from its three rows read in place and, with `grads`, writes its three
    /// gradient rows; rows in parallel over parts fixed by the number of rows
    /// (the same bits on any thread count), the gradients written in the
    /// tensors' own type, the sum in a fixed order. `None` for broadcast
    /// tensors or another axis.
    fn fast(
        &self,
        loss: &'static str,
        reduction: Reduction,
        up: &Upstream<'_, T>,
        row: impl Fn(&[T], &[T], &[T], Option<TripletRowGrads<'_, T>>) -> f64 + Sync,
    ) -> Result<Option<Eval<T, TripletGradients<T>>>> {
        let (rows, c) = (self.lanes.count(), self.lanes.len);
        if self.bc.is_some() || self.lanes.inner != 1 || rows * c == 0 {
            return Ok(None);
        }
        let r = Reducer::counting(reduction, &self.lanes.out_shape, &self.lanes.out_shape);
        let scales = up.scales(loss, &r)?;
        let n = rows * c;
        let mut losses = Vec::new();
        let lp = if reduction == Reduction::None {
            losses = vec![T::zero(); rows];
            SyncPtr(losses.as_mut_ptr())
        } else {
            SyncPtr::null()
        };
        let (mut ga, mut gp, mut gn) = (Vec::new(), Vec::new(), Vec::new());
        if scales.is_some() {
            (ga, gp, gn) = (vec![T::zero(); n], vec![T::zero(); n], vec![T::zero(); n]);
        }
        let g = [SyncPtr(ga.as_mut_ptr()), SyncPtr(gp.as_mut_ptr()), SyncPtr(gn.as_mut_ptr())];
        let (a, p, ng) = (&self.a[..], &self.p[..], &self.n[..]);
        // SAFETY: `losses` holds `rows` elements (or is null) and is this call's
        // own; row r's gradient elements are its task's alone.
        let total = unsafe {
            crate::machinery::kernels::rows::run(rows, 6 * n, lp, #[inline(always)] |i: usize| {
                let (ra, rp, rn) = (&a[i * c..(i + 1) * c], &p[i * c..(i + 1) * c], &ng[i * c..(i + 1) * c]);
                match &scales {
                    None => row(ra, rp, rn, None),
                    Some(sc) => {
                        let row_of = |k: usize| std::slice::from_raw_parts_mut(g[k].add(i * c), c);
                        row(ra, rp, rn, Some((sc.at(i), row_of(0), row_of(1), row_of(2))))
                    }
                }
            })
        };
        let value = if reduction == Reduction::None {
            ArrayD::from_shape_vec(IxDyn(&r.shape), losses).expect("one loss per triplet")
        } else {
            r.output_total(total)
        };
        let shaped = |v: Vec<T>| ArrayD::from_shape_vec(IxDyn(&self.shape), v).expect("shape and length agree");
        let grads = scales.is_some().then(|| TripletGradients { anchor: shaped(ga), positive: shaped(gp), negative: shaped(gn) });
        Ok(Some((value, grads)))
    }
}

/// PyTorch's triplet loss with the pairwise distance for `p = 2` and no swap
/// on the row sweep ([`Triplet::fast`]): each distance a vectorised sum of
/// squares, the gradients from the rows read again; the general path's
/// formulas.
fn torch_pairwise_fast<T: Float>(
    t: &Triplet<'_, T>,
    loss: &'static str,
    reduction: Reduction,
    up: &Upstream<'_, T>,
    eps: f64,
    margin: f64,
) -> Result<Option<Eval<T, TripletGradients<T>>>> {
    let sq = |x: f64, y: f64| {
        let d = (x - y) + eps;
        d * d
    };
    t.fast(loss, reduction, up, #[inline(always)] |a: &[T], p: &[T], n: &[T], g: Option<TripletRowGrads<'_, T>>| {
        let (dp, dn) = (lane_sum_zip(a, p, sq).sqrt(), lane_sum_zip(a, n, sq).sqrt());
        let v = (margin + dp) - dn;
        if let Some((up, ga, gp, gn)) = g {
            // clamp_min's backward: nothing where the margin is met exactly.
            let c = if v > 0.0 { up } else { 0.0 };
            // The norm's backward g · d / ‖d‖ (0 where the norm is 0), divided
            // as PyTorch divides (a lane of one element gets exactly ±g).
            let unit = |d: f64, n: f64| if n == 0.0 { 0.0 } else { d / n };
            for k in 0..a.len() {
                let (ak, pk, nk) = (a[k].to_wide(), p[k].to_wide(), n[k].to_wide());
                let vp = c * unit((ak - pk) + eps, dp);
                let vn = -c * unit((ak - nk) + eps, dn);
                ga[k] = T::from_wide(vp + vn);
                gp[k] = T::from_wide(-vp);
                gn[k] = T::from_wide(-vn);
            }
        }
        if v.is_nan() { v } else { v.max(0.0) }
    })
}

/// The methods of a triplet loss: its evaluation on [`Triplet`] lanes (the
/// type provides `validate`, `losses`, `grads` and `fast`, the row sweep where
/// it applies), `forward` / `backward` /
/// `forward_backward` / `reduction` from it, and the `margin` setter.
macro_rules! triplet_methods {
    ($names:expr, $axis:expr) => {
        fn eval<T: Float, D: Dimension>(
            &self,
            a: ArrayView<'_, T, D>,
            p: ArrayView<'_, T, D>,
            n: ArrayView<'_, T, D>,
            up: &Upstream<'_, T>,
        ) -> Result<Eval<T, TripletGradients<T>>> {
            self.validate()?;
            let t = Triplet::new(Self::NAME, $names, (&a, &p, &n), $axis(self))?;
            if let Some(done) = self.fast(&t, up)? {
                return Ok(done);
            }
            let r = Reducer::counting(self.reduction, &t.lanes.out_shape, &t.lanes.out_shape);
            let scales = up.scales(Self::NAME, &r)?;
            let value = r.output(self.losses(&t));
            Ok((value, scales.map(|s| self.grads(&t, &s))))
        }

        loss_methods!(torch: eval -> TripletGradients<T>, (anchor: float, positive: float, negative: float), "with respect to the three inputs");

        setters!(
            /// Sets `margin`.
            margin: f64
        );
    };
}

// ---------------------------------------------------------------------------------------
// torch:triplet_margin_loss

/// Triplet margin loss, `torch.nn.functional.triplet_margin_loss`: the anchor
/// should be closer to the positive than to the negative by at least `margin`.
///
/// ```text
/// d(x, y) = ‖x − y + eps‖_p                     PyTorch's pairwise_distance (eps added to the difference)
/// ℓ = max(margin + d(a, p) − d(a, n), 0)
/// swap: d(a, n) is replaced by min(d(a, n), d(p, n))
/// ```
///
/// `anchor`, `positive` and `negative` have one rank, `(N, D)` or `(D)` (any
/// rank: the distance is taken along the last axis, and a 0-d tensor is one
/// vector of length 1), and broadcast together as PyTorch broadcasts them (a
/// `(1, D)` positive against `(N, D)` anchors; each gradient is summed back to
/// its tensor's shape); the unreduced result has the broadcast shape without
/// the last axis.
///
/// **PyTorch's `eps`** is added to every component of the difference
/// (`‖a − p + eps‖`), not to the norm: `d(a, a) = eps · D^(1/p)`, not 0, and the
/// distance is not symmetric. losslab does the same.
///
/// Gradients, as PyTorch's autograd gives them: the norm's gradient is 0 where
/// the norm is 0 (`eps = 0` and identical vectors), `sign(·)` for `p = 1`, split
/// among the maximal components for `p = ∞`, and 0 for `p = 0` (a count); a
/// margin exactly met (`margin + d(a, p) − d(a, n) = 0`) passes no gradient
/// (`clamp_min`'s backward); a tie `d(a, n) = d(p, n)` under `swap` splits the
/// gradient in halves (`torch.minimum`'s backward).
///
/// # Errors
/// [`LossError::Shape`] if the three tensors differ in rank (PyTorch: "The
/// anchor, positive, and negative tensors are expected to have the same number
/// of dimensions") or do not broadcast;
/// [`LossError::Option`] for `margin ≤ 0` (as PyTorch: "margin must be greater
/// than 0") or a NaN `p`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::TripletMarginLoss;
/// let a = array![[0.0f64, 0.0]];
/// let p = array![[3.0f64, 4.0]];
/// let n = array![[0.0f64, 1.0]];
/// let (loss, g) = TripletMarginLoss::new().eps(0.0).forward_backward(a.view(), p.view(), n.view()).unwrap();
/// assert_eq!(loss[[]], 1.0 + 5.0 - 1.0);
/// assert_eq!(g.positive, array![[0.6, 0.8]].into_dyn());
/// // PyTorch's default eps = 1e-6 is added to the difference:
/// let d = TripletMarginLoss::new().forward(a.view(), a.view(), n.view()).unwrap()[[]];
/// let expected = 1.0 + (2.0f64 * 1e-12).sqrt() - (1e-12f64 + (1.0f64 - 1e-6).powi(2)).sqrt();
/// assert!((d - expected).abs() < 1e-15);
/// ```
///
/// # References
/// V. Balntas, E. Riba, D. Ponsa, K. Mikolajczyk, "Learning local feature
/// descriptors with triplets and shallow convolutional neural networks", BMVC 2016,
/// <https://bmva-archive.org.uk/bmvc/2016/papers/paper119/>;
/// F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet: A Unified Embedding for Face
/// Recognition and Clustering", CVPR 2015, <https://arxiv.org/abs/1503.03832>;
/// <https://pytorch.org/docs/stable/generated/torch.nn.functional.triplet_margin_loss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TripletMarginLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// The margin (default 1.0, > 0).
    pub margin: f64,
    /// The norm degree `p` (default 2; any non-NaN number, `±∞` included).
    pub p: f64,
    /// Added to each component of the difference (default 1e-6).
    pub eps: f64,
    /// Use `min(d(a, n), d(p, n))` as the negative distance (default false).
    pub swap: bool,
}

impl Default for TripletMarginLoss {
    fn default() -> Self {
        TripletMarginLoss { reduction: Reduction::Mean, margin: 1.0, p: 2.0, eps: 1e-6, swap: false }
    }
}

impl TripletMarginLoss {
    const NAME: &'static str = "triplet_margin_loss";

    /// PyTorch's defaults: `Mean`, `margin = 1`, `p = 2`, `eps = 1e-6`, no swap.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the norm degree `p`.
        p: f64,
        /// Sets `eps`.
        eps: f64,
        /// Sets `swap`.
        swap: bool
    );
    fn validate(&self) -> Result<()> {
        check_option(Self::NAME, "margin", self.margin, self.margin > 0.0, "a number > 0")?;
        check_option(Self::NAME, "p", self.p, !self.p.is_nan(), "a number (inf allowed)")
    }
    fn dist(&self) -> Pairwise {
        Pairwise { p: self.p, eps: self.eps }
    }
    fn losses<T: Float>(&self, t: &Triplet<'_, T>) -> Vec<f64> {
        torch_triplet_losses(t, &self.dist(), self.margin, self.swap)
    }
    fn grads<T: Float>(&self, t: &Triplet<'_, T>, scales: &Scales) -> TripletGradients<T> {
        torch_triplet_grads(t, &self.dist(), self.margin, self.swap, scales)
    }
    /// `p = 2` without `swap` on the row sweep ([`Triplet::fast`]): each
    /// distance a vectorised sum of squares, the gradients from the rows read
    /// again; the general path's formulas.
    fn fast<T: Float>(&self, t: &Triplet<'_, T>, up: &Upstream<'_, T>) -> Result<Option<Eval<T, TripletGradients<T>>>> {
        if self.p != 2.0 || self.swap {
            return Ok(None);
        }
        torch_pairwise_fast(t, Self::NAME, self.reduction, up, self.eps, self.margin)
    }
    triplet_methods!(["anchor", "positive", "negative"], |_: &Self| None);
}

// ---------------------------------------------------------------------------------------
// torch:triplet_margin_with_distance_loss

/// A distance that [`TripletMarginWithDistanceLoss`] accepts by name.
///
/// PyTorch takes any callable; these are the two its documentation uses.
/// Parsed from `"pairwise"` (also `"pairwise_distance"`) and `"cosine"` (also
/// `"cosine_distance"`).
///
/// # Examples
/// ```
/// use losslab::TripletDistance;
/// assert_eq!("cosine".parse::<TripletDistance>().unwrap(), TripletDistance::Cosine);
/// assert_eq!(TripletDistance::default(), TripletDistance::Pairwise);
/// assert!("euclid".parse::<TripletDistance>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TripletDistance {
    /// `torch.nn.functional.pairwise_distance(x1, x2)` with its defaults `p = 2`,
    /// `eps = 1e-6`: `‖x1 − x2 + 1e-6‖₂` (PyTorch's `distance_function=None`).
    #[default]
    Pairwise,
    /// `1 − torch.nn.functional.cosine_similarity(x1, x2, dim=-1, eps=1e-8)`.
    Cosine,
}

impl TripletDistance {
    /// The distance's name (`"pairwise"`, `"cosine"`).
    pub fn name(self) -> &'static str {
        match self {
            TripletDistance::Pairwise => "pairwise",
            TripletDistance::Cosine => "cosine",
        }
    }
}

impl fmt::Display for TripletDistance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TripletDistance {
    type Err = LossError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pairwise" | "pairwise_distance" => Ok(TripletDistance::Pairwise),
            "cosine" | "cosine_distance" => Ok(TripletDistance::Cosine),
            _ => Err(LossError::Option {
                loss: "triplet_margin_with_distance_loss",
                option: "distance_function",
                value: s.to_string(),
                expected: "pairwise or cosine".to_string(),
            }),
        }
    }
}

/// Triplet margin loss with a named distance,
/// `torch.nn.functional.triplet_margin_with_distance_loss`.
///
/// ```text
/// ℓ = max(margin + d(a, p) − d(a, n), 0)          swap: d(a, n) → min(d(a, n), d(p, n))
/// pairwise: d(x, y) = ‖x − y + 1e-6‖₂             (PyTorch's default, distance_function=None)
/// cosine:   d(x, y) = 1 − Σᵢ (xᵢ / max(‖x‖, 1e-8)) (yᵢ / max(‖y‖, 1e-8))
/// ```
///
/// Shapes as [`TripletMarginLoss`] (the distance along the last axis; tensors
/// of one rank that broadcast, as PyTorch's, which requires one rank). With
/// `Pairwise` it is exactly `TripletMarginLoss` with its defaults. The cosine
/// distance is PyTorch's `cosine_similarity`, which normalises each vector
/// first; its clamp of the norm to `1e-8` runs under `no_grad`, so the gradient
/// is computed as if the norm were not clamped (a zero vector gets a finite
/// gradient, the other vector none). PyTorch's docs write the cosine distance as
/// `1 - F.cosine_similarity(x, y)`, whose default `dim=1` is the last axis for the
/// `(N, D)` inputs they describe; losslab always uses the last axis.
///
/// # Errors
/// [`LossError::Shape`] if the three tensors differ in rank or do not
/// broadcast; [`LossError::Option`] for `margin ≤ 0` (as PyTorch).
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::{TripletDistance, TripletMarginWithDistanceLoss};
/// let a = array![[1.0f64, 0.0]];
/// let p = array![[1.0f64, 1.0]];
/// let n = array![[0.0f64, 1.0]];
/// let l = TripletMarginWithDistanceLoss::new()
///     .distance_function(TripletDistance::Cosine)
///     .forward(a.view(), p.view(), n.view())
///     .unwrap();
/// let cos45 = 1.0 / 2f64.sqrt();
/// assert!((l[[]] - (1.0 + (1.0 - cos45) - 1.0)).abs() < 1e-15);
/// ```
///
/// # References
/// As [`TripletMarginLoss`];
/// <https://pytorch.org/docs/stable/generated/torch.nn.TripletMarginWithDistanceLoss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TripletMarginWithDistanceLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// The distance (default `Pairwise`).
    pub distance_function: TripletDistance,
    /// The margin (default 1.0, > 0).
    pub margin: f64,
    /// Use `min(d(a, n), d(p, n))` as the negative distance (default false).
    pub swap: bool,
}

impl Default for TripletMarginWithDistanceLoss {
    fn default() -> Self {
        TripletMarginWithDistanceLoss {
            reduction: Reduction::Mean,
            distance_function: TripletDistance::Pairwise,
            margin: 1.0,
            swap: false,
        }
    }
}

impl TripletMarginWithDistanceLoss {
    const NAME: &'static str = "triplet_margin_with_distance_loss";

    /// PyTorch's defaults: `Mean`, pairwise distance, `margin = 1`, no swap.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the distance.
        distance_function: TripletDistance,
        /// Sets `swap`.
        swap: bool
    );
    fn validate(&self) -> Result<()> {
        check_option(Self::NAME, "margin", self.margin, self.margin > 0.0, "a number > 0")
    }
    fn with_dist<R>(&self, f: impl FnOnce(&(dyn Distance + Sync)) -> R) -> R {
        match self.distance_function {
            TripletDistance::Pairwise => f(&Pairwise { p: 2.0, eps: 1e-6 }),
            TripletDistance::Cosine => f(&CosineDistance { eps: 1e-8 }),
        }
    }
    fn losses<T: Float>(&self, t: &Triplet<'_, T>) -> Vec<f64> {
        self.with_dist(|d| torch_triplet_losses(t, d, self.margin, self.swap))
    }
    fn grads<T: Float>(&self, t: &Triplet<'_, T>, scales: &Scales) -> TripletGradients<T> {
        self.with_dist(|d| torch_triplet_grads(t, d, self.margin, self.swap, scales))
    }
    /// The pairwise distance without `swap` on the row sweep, as
    /// [`TripletMarginLoss`]'s defaults.
    fn fast<T: Float>(&self, t: &Triplet<'_, T>, up: &Upstream<'_, T>) -> Result<Option<Eval<T, TripletGradients<T>>>> {
        if self.distance_function != TripletDistance::Pairwise || self.swap {
            return Ok(None);
        }
        torch_pairwise_fast(t, Self::NAME, self.reduction, up, 1e-6, self.margin)
    }
    triplet_methods!(
        ["anchor", "positive", "negative"],
        |_: &Self| None
    );
}

// ---------------------------------------------------------------------------------------
// optax:triplet_margin_loss

/// Triplet margin loss as optax computes it, `optax.losses.triplet_margin_loss`.
///
/// ```text
/// d(x, y) = (Σᵢ (xᵢ − yᵢ)ᵏ + eps)^(1/k)          k = norm_degree, along `axis`
/// ℓ = max(d(a, p) − d(a, n) + margin, 0)
/// ```
///
/// **optax's semantics differ from PyTorch's** ([`TripletMarginLoss`]): `eps` is
/// added to the sum of powers, not to the difference, and the powers are taken
/// without an absolute value: for even integer `k` this is the `k`-norm, for
/// `k = 1` it is the plain (signed) sum of the differences, and an odd or
/// fractional `k` with a negative sum is NaN (`pow` of a negative number), as
/// in optax. At a margin exactly met the gradient is halved (`jnp.maximum`'s
/// derivative at a tie is ½); with `eps = 0` and identical vectors the gradient
/// is NaN (`0 · ∞`, as JAX gives it). No reduction by default (`None`): optax
/// returns the loss per triplet.
///
/// Shapes: the three broadcast together as optax broadcasts them (NumPy's rule, any
/// ranks: a `(1, D)` anchor against `(N, D)` positives); the distances run along
/// `axis` of the broadcast shape, each gradient summed back to its tensor's shape.
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast or the broadcast has no
/// axis; [`LossError::Option`] for an `axis` out of range.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::embedding::OptaxTripletMarginLoss;
/// // optax's own docstring example: [0.1414 0.1414]
/// let a = array![[0.0f64, 0.0], [1.0, 1.0]];
/// let p = array![[0.1f64, 0.1], [1.1, 1.1]];
/// let n = array![[1.0f64, 0.0], [0.0, 1.0]];
/// let l = OptaxTripletMarginLoss::new().forward(a.view(), p.view(), n.view()).unwrap();
/// assert!((l[[0]] - 0.1414).abs() < 1e-4 && (l[[1]] - 0.1414).abs() < 1e-4);
/// ```
///
/// # References
/// V. Balntas et al., "Learning local feature descriptors with triplets and
/// shallow convolutional neural networks", BMVC 2016,
/// <https://bmva-archive.org.uk/bmvc/2016/papers/paper119/>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.triplet_margin_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OptaxTripletMarginLoss {
    /// The reduction (default `None`: one loss per triplet, as optax).
    pub reduction: Reduction,
    /// The axis holding the embedding (default −1).
    pub axis: isize,
    /// The power `k` (default 2).
    pub norm_degree: f64,
    /// The margin (default 1.0).
    pub margin: f64,
    /// Added to the sum of powers (default 1e-6).
    pub eps: f64,
}

impl Default for OptaxTripletMarginLoss {
    fn default() -> Self {
        OptaxTripletMarginLoss { reduction: Reduction::None, axis: -1, norm_degree: 2.0, margin: 1.0, eps: 1e-6 }
    }
}

impl OptaxTripletMarginLoss {
    const NAME: &'static str = "optax_triplet_margin_loss";

    /// optax's defaults: `axis = −1`, `norm_degree = 2`, `margin = 1`, `eps = 1e-6`; no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets `axis`.
        axis: isize,
        /// Sets `norm_degree`.
        norm_degree: f64,
        /// Sets `eps`.
        eps: f64
    );
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    /// `S = Σ dᵢᵏ + eps` and `S^(1/k)`.
    fn dist(&self, x: &[f64], y: &[f64]) -> (f64, f64) {
        let k = self.norm_degree;
        if k == 2.0 {
            // The default: a square and a square root, not two `powf` (XLA simplifies
            // pow(x, 2) and pow(x, 0.5) the same way; within an ulp of `powf`).
            let s = sum_f64(x.iter().zip(y).map(|(a, b)| (a - b) * (a - b))) + self.eps;
            return (s, s.sqrt());
        }
        let s = sum_f64(x.iter().zip(y).map(|(a, b)| (a - b).powf(k))) + self.eps;
        (s, s.powf(1.0 / k))
    }
    fn losses<T: Float>(&self, t: &Triplet<'_, T>) -> Vec<f64> {
        t.map_lanes(|w| {
            let v = (self.dist(&w.a, &w.p).1 - self.dist(&w.a, &w.n).1) + self.margin;
            if v.is_nan() { v } else { v.max(0.0) }
        })
    }
    fn grads<T: Float>(&self, t: &Triplet<'_, T>, scales: &Scales) -> TripletGradients<T> {
        let k = self.norm_degree;
        let l = t.lanes.len;
        // JAX's derivative of x^y in x: y · x^(y−1) (0 for y = 0).
        // (The default k = 2's exponents 2 and ½ without `powf`.)
        let dpow = |x: f64, y: f64| {
            if y == 0.0 {
                0.0
            } else if y == 2.0 {
                2.0 * x
            } else if y == 0.5 {
                0.5 / x.sqrt()
            } else {
                y * x.powf(y - 1.0)
            }
        };
        t.grads(|s, w| {
            let (a, p, n) = (&w.a, &w.p, &w.n);
            let (sp, dp) = self.dist(a, p);
            let (sn, dn) = self.dist(a, n);
            let v = (dp - dn) + self.margin;
            // jnp.maximum(v, 0): derivative 1 above, 0 below, ½ at the tie.
            let m = if v > 0.0 {
                1.0
            } else if v == 0.0 {
                0.5
            } else {
                0.0
            };
            let c = scales.at(s) * m;
            // Chain through S^(1/k), then through each (xᵢ − yᵢ)ᵏ, as JAX multiplies.
            let cp = c * dpow(sp, 1.0 / k);
            let cn = -c * dpow(sn, 1.0 / k);
            for i in 0..l {
                let gpi = cp * dpow(a[i] - p[i], k);
                let gni = cn * dpow(a[i] - n[i], k);
                w.ga[i] = gpi + gni;
                w.gp[i] = -gpi;
                w.gn[i] = -gni;
            }
        })
    }
    /// `norm_degree = 2` on the row sweep ([`Triplet::fast`]): each distance
    /// a vectorised sum of squares, the gradients from the rows read again;
    /// the general path's formulas.
    fn fast<T: Float>(&self, t: &Triplet<'_, T>, up: &Upstream<'_, T>) -> Result<Option<Eval<T, TripletGradients<T>>>> {
        if self.norm_degree != 2.0 {
            return Ok(None);
        }
        let (eps, margin) = (self.eps, self.margin);
        let sq = |x: f64, y: f64| (x - y) * (x - y);
        t.fast(Self::NAME, self.reduction, up, #[inline(always)] |a: &[T], p: &[T], n: &[T], g: Option<TripletRowGrads<'_, T>>| {
            let (sp, sn) = (lane_sum_zip(a, p, sq) + eps, lane_sum_zip(a, n, sq) + eps);
            let v = (sp.sqrt() - sn.sqrt()) + margin;
            if let Some((up, ga, gp, gn)) = g {
                // jnp.maximum(v, 0): derivative 1 above, 0 below, ½ at the tie.
                let m = if v > 0.0 {
                    1.0
                } else if v == 0.0 {
                    0.5
                } else {
                    0.0
                };
                let c = up * m;
                let (cp, cn) = (c * (0.5 / sp.sqrt()), -c * (0.5 / sn.sqrt()));
                for k in 0..a.len() {
                    let (ak, pk, nk) = (a[k].to_wide(), p[k].to_wide(), n[k].to_wide());
                    let (gpi, gni) = (cp * (2.0 * (ak - pk)), cn * (2.0 * (ak - nk)));
                    ga[k] = T::from_wide(gpi + gni);
                    gp[k] = T::from_wide(-gpi);
                    gn[k] = T::from_wide(-gni);
                }
            }
            if v.is_nan() { v } else { v.max(0.0) }
        })
    }
    triplet_methods!(
        ["anchors", "positives", "negatives"],
        |s: &Self| Some(s.axis)
    );
}

// ---------------------------------------------------------------------------------------
// torch:cosine_embedding_loss

/// The gradients of [`CosineEmbeddingLoss`]: with respect to `input1` and `input2`.
#[derive(Debug, Clone, PartialEq)]
pub struct CosineEmbeddingGradients<T> {
    /// Gradient with respect to `input1`.
    pub input1: ArrayD<T>,
    /// Gradient with respect to `input2`.
    pub input2: ArrayD<T>,
}

/// Cosine embedding loss, `torch.nn.functional.cosine_embedding_loss`: pulls
/// pairs labelled 1 together (cosine → 1) and pushes pairs labelled −1 apart
/// (cosine below `margin`).
///
/// ```text
/// cos = Σ x1ᵢ x2ᵢ / √((Σ x1ᵢ² + ε) (Σ x2ᵢ² + ε))      ε = PyTorch's EPSILON = (float) 1e-12
///       ⎧ 1 − cos                 y =  1
/// ℓ  =  ⎨ max(0, cos − margin)    y = −1
///       ⎩ 0                       any other y
/// ```
///
/// `input1` and `input2` are `(N, D)` with `target` `(N)`, or `(D)` with a 0-d
/// `target`; as PyTorch's, the inputs broadcast (a `(1, D)` against `(N, D)`;
/// each squared norm is its input's own, along its own last axis) and the target
/// with the pairs (a `(1,)` target for every pair, or `(N,)` targets for one
/// pair); each gradient is summed back to its input's shape. PyTorch adds its `EPSILON` (the `float` 1e-12, i.e.
/// `9.999999960041972e-13` in double precision) to each squared norm, so a zero
/// vector has cosine 0 (loss 1 for `y = 1`) and a finite, large gradient
/// `∂cos/∂x1 = x2 / √((‖x1‖² + ε)(‖x2‖² + ε)) − cos · x1 / (‖x1‖² + ε)`. A
/// target that is neither 1 nor −1 gives 0 (PyTorch's `where`); `Mean` divides by
/// `N` all the same. `cos − margin = 0` exactly passes no gradient
/// (`clamp_min`'s backward). The target is not differentiated.
///
/// # Errors
/// [`LossError::Shape`] if the inputs or the target do not broadcast, if
/// `target` is neither 0-d with 1-D inputs nor 1-D with 2-D inputs (PyTorch:
/// "0D or 1D target tensor expected, multi-target not supported").
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::CosineEmbeddingLoss;
/// let x1 = array![[1.0f64, 0.0], [1.0, 1.0]];
/// let x2 = array![[0.0f64, 1.0], [1.0, 1.0]];
/// let y = array![1.0f64, -1.0];
/// let l = CosineEmbeddingLoss::new().margin(0.5).forward(x1.view(), x2.view(), y.view()).unwrap();
/// // pair 0: orthogonal, y = 1 → 1 − 0; pair 1: identical, y = −1 → cos − 0.5 ≈ 0.5
/// assert!((l[[]] - (1.0 + 0.5) / 2.0).abs() < 1e-12);
/// ```
///
/// # References
/// <https://pytorch.org/docs/stable/generated/torch.nn.CosineEmbeddingLoss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CosineEmbeddingLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// The margin for dissimilar pairs (default 0; PyTorch suggests `[−1, 1]`).
    pub margin: f64,
}

impl Default for CosineEmbeddingLoss {
    fn default() -> Self {
        CosineEmbeddingLoss { reduction: Reduction::Mean, margin: 0.0 }
    }
}

/// PyTorch's `EPSILON` in `cosine_embedding_loss`: a C++ `float` 1e-12, so the
/// double it adds is `(double)1e-12f = 9.999999960041972e-13`.
const COSINE_EMBEDDING_EPS: f64 = 1e-12_f32 as f64;

struct CosinePairs<'a, T: Clone> {
    /// The broadcast of `input1` and `input2`.
    bc: Broadcast,
    /// The vectors of the broadcast shape, along its last axis.
    lanes: Lanes,
    /// The inputs in the broadcast shape, row-major in their own type:
    /// borrowed where they already are.
    x1: Cow<'a, [T]>,
    x2: Cow<'a, [T]>,
    /// The inputs' own vector lengths (1 where a vector broadcasts along it).
    d1: usize,
    d2: usize,
    y: Vec<f64>,
    /// The number of results: the pairs and the targets broadcast together.
    out: usize,
}

impl<T: Float> CosinePairs<'_, T> {
    /// Every pair's cosine, in parallel ([`par_lanes`]).
    fn cosines(&self) -> Vec<f64> {
        let len = self.lanes.len;
        map_lanes(self.lanes.count(), len, 2 * len, || (Vec::with_capacity(len), Vec::with_capacity(len)), |s, (a, b)| self.cos(s, a, b).3)
    }

    /// `(m1, m2, denom, cos)` of pair `s`. As PyTorch, the product sums over the
    /// broadcast vectors and each squared norm over its input's own vector.
    fn cos(&self, s: usize, a: &mut Vec<f64>, b: &mut Vec<f64>) -> (f64, f64, f64, f64) {
        self.lanes.gather(&self.x1, s, a);
        self.lanes.gather(&self.x2, s, b);
        let prod = dot(a, b);
        let m1 = dot(&a[..self.d1], &a[..self.d1]) + COSINE_EMBEDDING_EPS;
        let m2 = dot(&b[..self.d2], &b[..self.d2]) + COSINE_EMBEDDING_EPS;
        let denom = (m1 * m2).sqrt();
        (m1, m2, denom, prod / denom)
    }

    /// The pair and the target of result `o`.
    fn at(&self, o: usize) -> (usize, f64) {
        let s = if self.lanes.count() == 1 { 0 } else { o };
        (s, if self.y.len() == 1 { self.y[0] } else { self.y[o] })
    }
}

impl CosineEmbeddingLoss {
    const NAME: &'static str = "cosine_embedding_loss";

    /// PyTorch's defaults: `Mean`, `margin = 0`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction,
        /// Sets `margin`.
        margin: f64
    );

    fn prepare<'a, T: Float, D1: Dimension, D2: Dimension>(
        &self,
        x1: &ArrayView<'a, T, D1>,
        x2: &ArrayView<'a, T, D1>,
        y: &ArrayView<'_, T, D2>,
    ) -> Result<(CosinePairs<'a, T>, Reducer)> {
        let name = Self::NAME;
        for (tensor, x) in [("input1", x1.shape()), ("input2", x2.shape())] {
            match y.ndim() {
                0 if x.len() != 1 => {
                    return Err(shape_err(name, tensor, "(D) (1-D, with a 0-d target)", x));
                }
                1 if x.len() != 2 => {
                    return Err(shape_err(name, tensor, "(N, D) (2-D, with a 1-D target)", x));
                }
                0 | 1 => {}
                _ => {
                    return Err(shape_err(name, "target", "(N) or () (PyTorch: multi-target not supported)", y.shape()));
                }
            }
        }
        // PyTorch: the inputs broadcast (a (1, D) against (N, D)), and the target
        // with the pairs' cosines.
        let bc = Broadcast::new(name, &[("input1", x1.shape()), ("input2", x2.shape())])?;
        let lanes = Lanes::last(&bc.shape);
        let pairs = lanes.count();
        let out_shape = if y.ndim() == 1 {
            let m = y.shape()[0];
            if m != pairs && m != 1 && pairs != 1 {
                return Err(shape_err(
                    name,
                    "target",
                    format!("[{pairs}] or [1] (the batch size of the inputs, broadcast as PyTorch's)"),
                    y.shape(),
                ));
            }
            vec![if pairs == 1 { m } else { pairs }]
        } else {
            vec![]
        };
        let reducer = Reducer::counting(self.reduction, &out_shape, &out_shape);
        let (d1, d2) = (x1.shape().last().copied().unwrap_or(1), x2.shape().last().copied().unwrap_or(1));
        // Broadcast in T (the expansion only repeats elements: exact), or borrowed.
        let expand = |k: usize, x: &ArrayView<'a, T, D1>| -> Cow<'a, [T]> {
            if bc.is_trivial() {
                row_major(x)
            } else {
                Cow::Owned(bc.expand(k, x).into_iter().map(T::from_wide).collect())
            }
        };
        let (e1, e2) = (expand(0, x1), expand(1, x2));
        let out = out_shape.iter().product();
        Ok((CosinePairs { bc, lanes, x1: e1, x2: e2, d1, d2, y: widen(y), out }, reducer))
    }

    /// The row sweep ([`eval_rows`](crate::machinery::lanes::eval_rows)) for
    /// `(N, D)` inputs of one shape, both contiguous, and a contiguous `(N,)`
    /// target: per row the sums `Σ x₁x₂`, `Σ x₁²`, `Σ x₂²` in vectorised lanes
    /// over the rows read in place, the loss from them, and both gradients in
    /// one loop each, by PyTorch's autograd formulas (the general path's):
    ///
    /// ```text
    /// m = Σ x² + ε    denom = √(m₁ m₂)    cos = Σ x₁x₂ / denom    g = ∂ℓ/∂cos
    /// ∂ℓ/∂x₁ = g/denom · x₂ + 2 · (−g · cos/denom / (2 denom) · m₂) · x₁   (and 1 ↔ 2)
    /// ```
    ///
    /// Rows in parallel in the tensors' own type, the reduction's sum in a
    /// fixed order (the same bits on any thread count). `None` for a broadcast,
    /// a strided tensor or a 0-d target: the general path.
    fn fast<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        x1: &ArrayView<'_, T, D1>,
        x2: &ArrayView<'_, T, D1>,
        y: &ArrayView<'_, T, D2>,
        up: &Upstream<'_, T>,
    ) -> Result<Option<Eval<T, Gradients<T>>>> {
        use crate::machinery::kernels::rows::{lane_sums_zip, zip_store};
        use crate::machinery::lanes::{eval_rows, RowGrads};
        let shape = x1.shape();
        if shape.len() != 2 || x2.shape() != shape || y.ndim() != 1 || y.len() != shape[0] || shape[0] * shape[1] == 0 {
            return Ok(None);
        }
        let (Some(a), Some(b), Some(t)) = (x1.as_slice(), x2.as_slice(), y.as_slice()) else { return Ok(None) };
        let (rows, d) = (shape[0], shape[1]);
        let reducer = Reducer::counting(self.reduction, &[rows], &[rows]);
        let margin = self.margin;
        let done = eval_rows(Self::NAME, &reducer, shape, (rows, d), up, true, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
            let (a, b, y) = (&a[r * d..(r + 1) * d], &b[r * d..(r + 1) * d], t[r].to_wide());
            let [prod, s1, s2] = lane_sums_zip(a, b, #[inline(always)] |p, q| [p * q, p * p, q * q]);
            let (m1, m2) = (s1 + COSINE_EMBEDDING_EPS, s2 + COSINE_EMBEDDING_EPS);
            let denom = (m1 * m2).sqrt();
            let cos = prod / denom;
            let neg = cos - margin;
            let neg = if neg.is_nan() { neg } else { neg.max(0.0) };
            let loss = (if y == 1.0 { 1.0 - cos } else { 0.0 }) + (if y == -1.0 { neg } else { 0.0 });
            if let Some(g) = g {
                let gc = g.up * if y == 1.0 { -1.0 } else if y == -1.0 && cos - margin > 0.0 { 1.0 } else { 0.0 };
                let gprod = gc / denom;
                let gmm = (-gc * (cos / denom)) / (2.0 * denom);
                let (gm1, gm2) = (gmm * m2, gmm * m1);
                zip_store(a, b, g.gx, #[inline(always)] |p, q| gprod * q + 2.0 * (gm1 * p));
                zip_store(a, b, g.go, #[inline(always)] |p, q| gprod * p + 2.0 * (gm2 * q));
            }
            loss
        })?;
        Ok(Some(done))
    }

    /// [`fast`](Self::fast)'s gradients under their names.
    fn fast_grads<T>(g: Gradients<T>) -> CosineEmbeddingGradients<T> {
        CosineEmbeddingGradients { input1: g.input, input2: g.target.expect("both inputs' gradients") }
    }

    fn losses<T: Float>(&self, c: &CosinePairs<'_, T>) -> Vec<f64> {
        let cos = c.cosines();
        (0..c.out)
            .map(|o| {
                let (s, y) = c.at(o);
                let cos = cos[s];
                let neg = cos - self.margin;
                let neg = if neg.is_nan() { neg } else { neg.max(0.0) };
                // at::where(target == 1, 1 - cos, 0) + at::where(target == -1, neg, 0)
                (if y == 1.0 { 1.0 - cos } else { 0.0 }) + (if y == -1.0 { neg } else { 0.0 })
            })
            .collect()
    }

    /// The gradients, each summed back to its input's shape. As PyTorch's
    /// autograd: the product's path (`g/denom · x2`, summed over the elements
    /// that read each entry) and the squared norm's path (`2 · g_m1 · x1`, with
    /// `g_m1` from `denom = √(m1 m2)`) are summed back separately and then added.
    fn grads<T: Float>(&self, c: &CosinePairs<'_, T>, scales: &Scales) -> CosineEmbeddingGradients<T> {
        let cos = c.cosines();
        // The upstream gradient of each pair's cosine, from every result that reads it.
        let mut gcos = vec![0.0; c.lanes.count()];
        for o in 0..c.out {
            let (s, y) = c.at(o);
            gcos[s] += scales.at(o)
                * if y == 1.0 {
                    -1.0
                } else if y == -1.0 && cos[s] - self.margin > 0.0 {
                    1.0
                } else {
                    0.0
                };
        }
        // Each pair's gradient, in parallel: the product's path (p) and the squared
        // norms' path (n) of each input, into `sink(s, k, [p1, p2, n1, n2])` for the
        // lane's element k.
        let len = c.lanes.len;
        let each = |sink: &(dyn Fn(usize, usize, [f64; 4]) + Sync)| {
            par_lanes(c.lanes.count(), len, 4 * len, || (Vec::with_capacity(len), Vec::with_capacity(len)), |s, (a, b)| {
                let gc = gcos[s];
                let (m1, m2, denom, cos) = c.cos(s, a, b);
                // cos = prod / denom; denom = √(m1 m2); m = Σ x² + ε (its input's own vector:
                // the first d entries of the broadcast one).
                let gprod = gc / denom;
                let gmm = (-gc * (cos / denom)) / (2.0 * denom);
                let (gm1, gm2) = (gmm * m2, gmm * m1);
                for k in 0..len {
                    let n1 = if k < c.d1 { 2.0 * (gm1 * a[k]) } else { 0.0 };
                    let n2 = if k < c.d2 { 2.0 * (gm2 * b[k]) } else { 0.0 };
                    sink(s, k, [gprod * b[k], gprod * a[k], n1, n2]);
                }
            });
        };
        let n = c.x1.len();
        if c.bc.is_trivial() {
            // No broadcast: each element's gradient is its two paths' sum.
            let (mut g1, mut g2) = (vec![T::zero(); n], vec![T::zero(); n]);
            let (d1, d2) = (SyncPtr(g1.as_mut_ptr()), SyncPtr(g2.as_mut_ptr()));
            // SAFETY: element i belongs to lane s alone, written by its task alone.
            each(&|s, k, [p1, p2, n1, n2]| unsafe {
                let i = c.lanes.start(s).0 + k * c.lanes.inner;
                *d1.add(i) = T::from_wide(p1 + n1);
                *d2.add(i) = T::from_wide(p2 + n2);
            });
            let shaped = |v: Vec<T>| ArrayD::from_shape_vec(IxDyn(&c.bc.shape), v).expect("shape and length agree");
            return CosineEmbeddingGradients { input1: shaped(g1), input2: shaped(g2) };
        }
        let mut bufs = [vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]];
        let ptrs = bufs.each_mut().map(|b| SyncPtr(b.as_mut_ptr()));
        // SAFETY: as above, in the broadcast shape.
        each(&|s, k, v| unsafe {
            let i = c.lanes.at(s, k);
            for (p, v) in ptrs.iter().zip(v) {
                *p.add(i) = v;
            }
        });
        let [p1, p2, n1, n2] = bufs;
        let back = |k: usize, p: Vec<f64>, n: Vec<f64>| -> ArrayD<T> {
            let (p, n): (ArrayD<f64>, ArrayD<f64>) = (c.bc.reduce(k, p), c.bc.reduce(k, n));
            narrow(p.shape(), p.iter().zip(n.iter()).map(|(p, n)| p + n).collect())
        };
        CosineEmbeddingGradients { input1: back(0, p1, n1), input2: back(1, p2, n2) }
    }

    /// The loss, reduced as `self.reduction` says.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        input1: ArrayView<'_, T, D1>,
        input2: ArrayView<'_, T, D1>,
        target: ArrayView<'_, T, D2>,
    ) -> Result<ArrayD<T>> {
        if let Some((value, _)) = self.fast(&input1, &input2, &target, &Upstream::Skip)? {
            return Ok(value);
        }
        let (c, r) = self.prepare(&input1, &input2, &target)?;
        Ok(r.output(self.losses(&c)))
    }

    /// The gradients of `Σ grad_output · loss` with respect to `input1` and `input2`.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        input1: ArrayView<'_, T, D1>,
        input2: ArrayView<'_, T, D1>,
        target: ArrayView<'_, T, D2>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<CosineEmbeddingGradients<T>> {
        if let Some((_, Some(g))) = self.fast(&input1, &input2, &target, &Upstream::Given(grad_output.view()))? {
            return Ok(Self::fast_grads(g));
        }
        let (c, r) = self.prepare(&input1, &input2, &target)?;
        let scales = r.scales(Self::NAME, &grad_output)?;
        Ok(self.grads(&c, &scales))
    }

    /// The loss and its gradients (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        input1: ArrayView<'_, T, D1>,
        input2: ArrayView<'_, T, D1>,
        target: ArrayView<'_, T, D2>,
    ) -> Result<(ArrayD<T>, CosineEmbeddingGradients<T>)> {
        if let Some((value, Some(g))) = self.fast(&input1, &input2, &target, &Upstream::Ones)? {
            return Ok((value, Self::fast_grads(g)));
        }
        let (c, r) = self.prepare(&input1, &input2, &target)?;
        let value = r.output(self.losses(&c));
        let g = ones_like_output::<T>(&r);
        let scales = r.scales(Self::NAME, &g.view())?;
        Ok((value, self.grads(&c, &scales)))
    }
}

// ---------------------------------------------------------------------------------------
// keras:cosine_similarity

/// Keras's cosine similarity loss, `keras.losses.cosine_similarity`: the
/// **negative** cosine similarity, so that minimising it aligns the vectors.
///
/// ```text
/// normalize(x) = x · min(1/√(Σ xᵢ²), 1/ε)        ε = keras.backend.epsilon() = 1e-7
/// ℓ = −Σᵢ normalize(y_true)ᵢ · normalize(y_pred)ᵢ     along `axis`
/// ```
///
/// In `[−1, 1]`: −1 for vectors pointing the same way, 0 for orthogonal ones or
/// a zero vector. Keras's normalisation (`ops.normalize`, `x · rsqrt(Σx²)`
/// capped at `1/ε`) is followed exactly: a vector shorter than `1e-7` is scaled
/// by `1e7` rather than to unit length, and a zero vector's own gradient is NaN
/// (JAX's `0 · ∞` through `rsqrt(0)`, as `jax.grad` of the Keras function gives
/// it). Differentiable in both tensors: [`Gradients::input`] is the gradient
/// with respect to `y_pred`, [`Gradients::target`] with respect to `y_true`.
/// No reduction by default (`None`): the loss per vector, the input's shape
/// without `axis`. A 0-d pair is one vector of length 1.
///
/// Shapes as Keras's: where the ranks differ by one, a trailing axis of size 1
/// is squeezed or expanded (`squeeze_or_expand_to_same_rank`); each tensor is
/// normalised over its own `axis` (a size-1 axis normalises to ±1), and the
/// normalised tensors broadcast together (NumPy's rule) before their product
/// is summed over the broadcast's axis; each gradient is summed back to its
/// tensor's shape.
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast (after Keras's squeeze or
/// expansion of a trailing axis of size 1), or differ in rank with a
/// non-negative `axis`; [`LossError::Option`] for an `axis` out of range.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::embedding::CosineSimilarityLoss;
/// // Keras's own docstring example: [-0., -0.99999994, 0.99999994] in float32
/// let y_true = array![[0.0f64, 1.0], [1.0, 1.0], [1.0, 1.0]];
/// let y_pred = array![[1.0f64, 0.0], [1.0, 1.0], [-1.0, -1.0]];
/// let l = CosineSimilarityLoss::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert_eq!(l[[0]], 0.0);
/// assert!((l[[1]] + 1.0).abs() < 1e-15 && (l[[2]] - 1.0).abs() < 1e-15);
/// ```
///
/// # References
/// <https://keras.io/api/losses/regression_losses/#cosine_similarity-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CosineSimilarityLoss {
    /// The reduction (default `None`: Keras's functional loss is per vector).
    pub reduction: Reduction,
    /// The axis along which the similarity is computed (default −1).
    pub axis: isize,
}

impl Default for CosineSimilarityLoss {
    fn default() -> Self {
        CosineSimilarityLoss { reduction: Reduction::None, axis: -1 }
    }
}

/// `1 / keras.backend.epsilon()`.
const KERAS_INV_EPS: f64 = 1.0 / 1e-7;

/// Keras's `normalize`: `x · min(rsqrt(Σx²), 1/ε)`; returns `(q, r, inv)`.
#[inline]
fn keras_inv_norm(x: &[f64]) -> (f64, f64, f64) {
    let q = dot(x, x);
    let r = 1.0 / q.sqrt();
    let inv = if r.is_nan() { r } else { r.min(KERAS_INV_EPS) };
    (q, r, inv)
}

/// The gradient of `Σ gᵢ · normalize(x)ᵢ` with respect to `x`, as JAX computes it.
fn keras_normalize_backward(x: &[f64], g: &[f64], out: &mut Vec<f64>) {
    let (q, r, inv) = keras_inv_norm(x);
    // minimum(r, 1/ε): derivative 1 where r is the smaller, ½ at a tie.
    let m = if r < KERAS_INV_EPS {
        1.0
    } else if r == KERAS_INV_EPS {
        0.5
    } else {
        0.0
    };
    let ct_inv = dot(g, x) * m;
    // rsqrt's derivative: −½ · rsqrt(q) / q (∞ at q = 0: 0 · ∞ = NaN, as JAX).
    let ct_q = ct_inv * (-0.5 * r / q);
    out.clear();
    out.extend(x.iter().zip(g).map(|(xi, gi)| gi * inv + ct_q * 2.0 * xi));
}

/// Keras's `normalize` of every lane of `x`.
fn normalized(lanes: &Lanes, x: &[f64]) -> Vec<f64> {
    let (mut out, mut a) = (vec![0.0; x.len()], Vec::new());
    for s in 0..lanes.count() {
        lanes.gather(x, s, &mut a);
        let inv = keras_inv_norm(&a).2;
        for (k, v) in a.iter().enumerate() {
            out[lanes.at(s, k)] = v * inv;
        }
    }
    out
}

/// The gradient of `Σ g · normalize(x)` with respect to `x`, lane by lane.
fn normalize_backward(lanes: &Lanes, x: &[f64], g: &[f64]) -> Vec<f64> {
    let (mut out, mut a, mut b, mut lane) = (vec![0.0; x.len()], Vec::new(), Vec::new(), Vec::new());
    for s in 0..lanes.count() {
        lanes.gather(x, s, &mut a);
        lanes.gather(g, s, &mut b);
        keras_normalize_backward(&a, &b, &mut lane);
        lanes.scatter_add(&mut out, s, &lane);
    }
    out
}

/// [`CosineSimilarityLoss`]'s checked inputs: the tensors (flat), their lanes,
/// and the normalised tensors broadcast together.
struct CosinePrep {
    bc: Broadcast,
    /// The lanes of the broadcast shape, and of `y_pred` and `y_true` (as Keras squeezed or expanded them).
    lanes: Lanes,
    lp: Lanes,
    lt: Lanes,
    p: Vec<f64>,
    t: Vec<f64>,
    /// `normalize(y_pred)` and `normalize(y_true)`, broadcast.
    bp: Vec<f64>,
    bt: Vec<f64>,
}

impl CosineSimilarityLoss {
    const NAME: &'static str = "cosine_similarity";

    /// Keras's defaults: `axis = −1`; no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction,
        /// Sets `axis`.
        axis: isize
    );

    /// The lanes of a tensor of `shape` along `self.axis` (one lane of one
    /// element for a 0-d tensor).
    fn lanes_of(&self, shape: &[usize]) -> Result<Lanes> {
        Ok(if shape.is_empty() {
            Lanes::new(&[], None)
        } else {
            Lanes::new(shape, Some(resolve_axis(Self::NAME, "axis", self.axis, shape.len())?))
        })
    }

    /// Keras's order of operations: squeeze or expand a trailing axis of size 1
    /// ([`keras_same_rank`]), normalise each tensor over its own axis, then
    /// broadcast the normalised tensors together (NumPy's rule) and sum their
    /// product over the broadcast's axis.
    fn prepare<T: Float, D: Dimension>(&self, y_true: &ArrayView<'_, T, D>, y_pred: &ArrayView<'_, T, D>) -> Result<(CosinePrep, Reducer)> {
        let (st, sp) = keras_same_rank(y_true.shape(), y_pred.shape());
        let bc = Broadcast::numpy(Self::NAME, &[("y_pred", &sp), ("y_true", &st)])?;
        if self.axis >= 0 && st.len() != sp.len() {
            return Err(shape_err(
                Self::NAME,
                "y_true",
                format!("{} dimensions, as `y_pred` {sp:?} (with the axis {} counted from the front, tensors of different ranks do not broadcast here)", sp.len(), self.axis),
                y_true.shape(),
            ));
        }
        let (lp, lt, lanes) = (self.lanes_of(&sp)?, self.lanes_of(&st)?, self.lanes_of(&bc.shape)?);
        let r = Reducer::counting(self.reduction, &lanes.out_shape, &lanes.out_shape);
        let (p, t) = (widen(y_pred), widen(y_true));
        let (np, nt) = (normalized(&lp, &p), normalized(&lt, &t));
        let (bp, bt) = (bc.expand_flat(0, &np), bc.expand_flat(1, &nt));
        Ok((CosinePrep { bc, lanes, lp, lt, p, t, bp, bt }, r))
    }

    /// The row sweep ([`eval_pair_rows`](crate::machinery::lanes::eval_pair_rows))
    /// when `y_true` and `y_pred` have one shape of at least two axes, are
    /// contiguous and `axis` is the last: per row the three sums `Σp²`, `Σt²`,
    /// `Σpt` in vectorised lanes, then both gradients in one loop each,
    ///
    /// ```text
    /// ∂ℓ/∂p = −g·(invp·invt)·t + g·invt·(pt·mₚ)·(rₚ/Σp²)·p      rₚ = 1/√Σp², invp = min(rₚ, 1/ε), mₚ = ∂invp/∂rₚ
    /// ```
    ///
    /// (and the same with `p` and `t` exchanged), the chain rule of
    /// [`keras_normalize_backward`] written out so that a zero vector's own
    /// gradient is NaN as there. `None`: the general path.
    fn fast<T: Float, D: Dimension>(&self, y_true: &ArrayView<'_, T, D>, y_pred: &ArrayView<'_, T, D>, up: &Upstream<'_, T>) -> Result<Option<Eval<T, Gradients<T>>>> {
        use crate::machinery::kernels::rows::{lane_sums_zip, zip_store};
        let nd = y_pred.ndim();
        if nd < 2 || resolve_axis(Self::NAME, "axis", self.axis, nd).ok() != Some(nd - 1) {
            return Ok(None);
        }
        // rsqrt capped at 1/ε (NaN kept), and the cap's derivative (½ at the tie).
        #[inline(always)]
        fn norm(q: f64) -> (f64, f64, f64) {
            let r = 1.0 / q.sqrt();
            let inv = if r.is_nan() { r } else { r.min(KERAS_INV_EPS) };
            let m = if r < KERAS_INV_EPS { 1.0 } else if r == KERAS_INV_EPS { 0.5 } else { 0.0 };
            (r, inv, m)
        }
        crate::machinery::lanes::eval_pair_rows(Self::NAME, ("y_pred", y_pred), y_true, self.reduction, up, #[inline(always)] |p: &[T], t: &[T], g: Option<crate::machinery::lanes::RowGrads<'_, T>>| {
            let [pp, tt, pt] = lane_sums_zip(p, t, #[inline(always)] |a, b| [a * a, b * b, a * b]);
            let ((rp, invp, mp), (rt, invt, mt)) = (norm(pp), norm(tt));
            let loss = -(pt * invp * invt);
            if let Some(g) = g {
                let u = g.up;
                let a = -u * (invp * invt);
                // ∂/∂p: the cotangent −u·invt·t of normalize(p), through normalize's backward.
                let bp = -u * invt * ((pt * mp) * (-0.5 * rp / pp)) * 2.0;
                let bt = -u * invp * ((pt * mt) * (-0.5 * rt / tt)) * 2.0;
                zip_store(p, t, g.gx, #[inline(always)] |x, y| a * y + bp * x);
                zip_store(p, t, g.go, #[inline(always)] |x, y| a * x + bt * y);
            }
            loss
        })
    }

    fn losses(c: &CosinePrep) -> Vec<f64> {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        (0..c.lanes.count())
            .map(|s| {
                c.lanes.gather(&c.bt, s, &mut a);
                c.lanes.gather(&c.bp, s, &mut b);
                -sum_f64(a.iter().zip(&b).map(|(x, y)| x * y))
            })
            .collect()
    }

    fn grads(c: &CosinePrep, scales: &Scales) -> (Vec<f64>, Vec<f64>) {
        // The cotangents of the normalised tensors, in the broadcast shape.
        let (mut ct, mut cp) = (vec![0.0; c.bt.len()], vec![0.0; c.bp.len()]);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for s in 0..c.lanes.count() {
            c.lanes.gather(&c.bt, s, &mut a);
            c.lanes.gather(&c.bp, s, &mut b);
            let g = -scales.at(s);
            for (k, (x, y)) in a.iter().zip(&b).enumerate() {
                let i = c.lanes.at(s, k);
                cp[i] = g * x; // cotangent of normalize(y_pred)
                ct[i] = g * y; // cotangent of normalize(y_true)
            }
        }
        let (cp, ct) = (c.bc.reduce_wide(0, cp), c.bc.reduce_wide(1, ct));
        (normalize_backward(&c.lt, &c.t, &ct), normalize_backward(&c.lp, &c.p, &cp))
    }

    /// The loss, in Keras's argument order (`y_true`, `y_pred`).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension>(&self, y_true: ArrayView<'_, T, D>, y_pred: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
        if let Some((v, _)) = self.fast(&y_true, &y_pred, &Upstream::Skip)? {
            return Ok(v);
        }
        let (c, r) = self.prepare(&y_true, &y_pred)?;
        Ok(r.output(Self::losses(&c)))
    }

    /// The gradients of `Σ grad_output · loss`: `input` with respect to `y_pred`,
    /// `target` with respect to `y_true`.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, D: Dimension>(
        &self,
        y_true: ArrayView<'_, T, D>,
        y_pred: ArrayView<'_, T, D>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        if let Some((_, g)) = self.fast(&y_true, &y_pred, &Upstream::Given(grad_output.view()))? {
            return Ok(g.expect("gradients requested"));
        }
        let (c, r) = self.prepare(&y_true, &y_pred)?;
        let scales = r.scales(Self::NAME, &grad_output)?;
        let (gt, gp) = Self::grads(&c, &scales);
        Ok(Gradients { input: narrow(y_pred.shape(), gp), target: Some(narrow(y_true.shape(), gt)) })
    }

    /// The loss and its gradients (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D: Dimension>(
        &self,
        y_true: ArrayView<'_, T, D>,
        y_pred: ArrayView<'_, T, D>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        if let Some((v, g)) = self.fast(&y_true, &y_pred, &Upstream::Ones)? {
            return Ok((v, g.expect("gradients requested")));
        }
        let (c, r) = self.prepare(&y_true, &y_pred)?;
        let value = r.output(Self::losses(&c));
        let g = ones_like_output::<T>(&r);
        let scales = r.scales(Self::NAME, &g.view())?;
        let (gt, gp) = Self::grads(&c, &scales);
        Ok((value, Gradients { input: narrow(y_pred.shape(), gp), target: Some(narrow(y_true.shape(), gt)) }))
    }
}

// ---------------------------------------------------------------------------------------
// optax:ntxent

/// The normalised temperature-scaled cross entropy (NT-Xent, InfoNCE) of a batch
/// of embeddings, `optax.losses.ntxent`: SimCLR's contrastive loss.
///
/// ```text
/// uᵢ = eᵢ / √max(‖eᵢ‖², ε)                 ε = the machine epsilon of the dtype
/// sᵢⱼ = uᵢ · uⱼ / τ                        τ = temperature
/// P = {(i, j) : i ≠ j, labelᵢ = labelⱼ}     the positive pairs
/// ℓ = (1/|P|) Σ_{(i,j)∈P} −log( exp(sᵢⱼ) / (exp(sᵢⱼ) + Σ_{k: labelₖ ≠ labelᵢ} exp(sᵢₖ)) )
/// ```
///
/// `embeddings` is `(N, F)`, `labels` `(N)` (integers: equal labels mark the
/// positive pairs). The result is a scalar: optax averages over the positive
/// pairs, so every [`Reduction`] returns that scalar as it is (the default is
/// `None`). optax's exact semantics: each positive pair is contrasted with the
/// row's **negatives only** (other positives are not in its denominator); the
/// anchor itself is excluded; with no positive pair the loss is `0/0 = NaN`
/// (gradient 0); a row's maximum is subtracted for stability (under
/// `stop_gradient`, which changes nothing). The norm guard `ε` is the **dtype's**
/// machine epsilon (`2⁻²³` in `f32`, `2⁻⁵²` in `f64`), so an embedding with
/// `‖e‖² < 2⁻²³` gives different numbers in `f32` and `f64`, as in optax; at
/// `‖e‖² = ε` exactly the norm's gradient is halved (JAX's `clip` at a tie).
/// Only `embeddings` is differentiated ([`Gradients::target`] is `None`).
///
/// Computed without the `N × N` matrices: the rows `u` in `f64`, then blocks of
/// 64 rows (fixed by `N`: the same bits on any thread count) in parallel, each
/// block's similarities by one matrix product, a first pass keeping each row's
/// maximum, negatives' sum, loss terms and `Σⱼ 1/dᵢⱼ` over its positives (so
/// that `∂ℓ/∂sᵢₖ` of a negative is one product, not a sum over the positives);
/// the gradient's pass recomputes the block, forms `(∂ℓ/∂S + ∂ℓ/∂Sᵀ)/τ` from
/// the two rows' statistics and multiplies it by `U`. `O(N² F)` time, memory
/// `O(N F)` plus one `64 × N` block of `f64` per thread.
///
/// # Errors
/// [`LossError::Shape`] if `embeddings` is not 2-D or `labels` not `(N)`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::embedding::NtXentLoss;
/// // Two pairs of identical unit embeddings, the pairs orthogonal: each positive
/// // (s = 1/τ) is contrasted with two negatives (s = 0).
/// let e = array![[1.0f64, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]];
/// let l = NtXentLoss::new().temperature(0.5).forward(e.view(), array![0, 0, 1, 1].view()).unwrap();
/// let expected = -(2f64.exp() / (2f64.exp() + 2.0)).ln();
/// assert!((l[[]] - expected).abs() < 1e-15);
/// ```
///
/// # References
/// T. Chen, S. Kornblith, M. Norouzi, G. Hinton, "A Simple Framework for
/// Contrastive Learning of Visual Representations", ICML 2020,
/// <https://arxiv.org/abs/2002.05709>; A. van den Oord, Y. Li, O. Vinyals,
/// "Representation Learning with Contrastive Predictive Coding" (InfoNCE), 2018,
/// <https://arxiv.org/abs/1807.03748>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.ntxent>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NtXentLoss {
    /// The reduction (default `None`; the loss is already a scalar).
    pub reduction: Reduction,
    /// The temperature `τ` (default 0.07).
    pub temperature: f64,
}

impl Default for NtXentLoss {
    fn default() -> Self {
        NtXentLoss { reduction: Reduction::None, temperature: 0.07 }
    }
}

/// Rows of the similarity matrix per parallel task of [`NtXentLoss`]: each
/// task's scratch is one block of `NTXENT_ROWS × N` similarities in `f64`.
/// Fixed, not derived from the thread count, so the bits are the same on any.
const NTXENT_ROWS: usize = 64;

/// A validated NT-Xent batch: the normalised rows and the labels.
struct NtXentBatch {
    n: usize,
    f: usize,
    /// `uᵢ = eᵢ / √max(‖eᵢ‖², ε)`, row-major `n × f`.
    u: Vec<f64>,
    /// The clipped norm `√max(‖eᵢ‖², ε)`.
    norm: Vec<f64>,
    /// The share of the norm's gradient that passes the clip: 1 above `ε`, ½
    /// at `ε` (JAX's `clip` at a tie), 0 below (NaN propagating through the norm).
    pass: Vec<f64>,
    labels: Vec<i64>,
    /// The temperature `τ`.
    tau: f64,
}

/// What the first pass keeps of row `i` of the similarities (`sᵢⱼ`, `j ≠ i`).
#[derive(Clone, Copy, Default)]
struct NtXentRow {
    /// `mᵢ = max_{j≠i} sᵢⱼ`, NaN propagating.
    m: f64,
    /// `Σ_{k: labelₖ ≠ labelᵢ} exp(sᵢₖ − mᵢ)`.
    neg: f64,
    /// `Aᵢ = Σ_{j pos} 1/dᵢⱼ`, `dᵢⱼ = negᵢ + exp(sᵢⱼ − mᵢ)`.
    a: f64,
    /// `Σ_{j pos} −((sᵢⱼ − mᵢ) − ln dᵢⱼ)`.
    loss: f64,
    /// The row's positives.
    pos: usize,
}

impl NtXentRow {
    /// `∂ℓ/∂sᵢⱼ` for this row `i` at `s = sᵢⱼ`, `j ≠ i` (`same`: `labelⱼ =
    /// labelᵢ`), `w = g/|P|`: `w (exp(s − m)/d − 1)` for a positive,
    /// `w A exp(s − m)` for a negative, 0 for a row without a positive.
    #[inline(always)]
    fn ds(&self, s: f64, same: bool, w: f64) -> f64 {
        if self.pos == 0 {
            return 0.0;
        }
        let e = (s - self.m).exp();
        if same {
            w * (e / (self.neg + e) - 1.0)
        } else {
            w * self.a * e
        }
    }
}

impl NtXentBatch {
    /// `S = U Uᵀ / τ` for rows `lo..hi` into `s` (`(hi − lo) × n`): one
    /// single-threaded `gemm` call (the calling task is already one of many).
    fn similarities(&self, lo: usize, hi: usize, s: &mut [f64]) {
        use crate::machinery::kernels::matmul::{matmul_split, Split};
        let (n, f) = (self.n, self.f);
        debug_assert_eq!(s.len(), (hi - lo) * n);
        // SAFETY: s is (hi − lo) × n and the rows lo..hi of u are (hi − lo) × f,
        // row-major; u read as n × f columns is Uᵀ. One block: one call, here.
        unsafe { matmul_split(Split::Rows(hi - lo), hi - lo, n, f, s.as_mut_ptr(), 1, n as isize, false, self.u[lo * f..].as_ptr(), 1, f as isize, self.u.as_ptr(), f as isize, 1) };
        for v in s.iter_mut() {
            *v /= self.tau;
        }
    }

    /// The first pass: every row's [`NtXentRow`], in parallel over blocks of
    /// [`NTXENT_ROWS`] rows (scratch: one block of similarities per task).
    fn rows(&self) -> Vec<NtXentRow> {
        let n = self.n;
        let mut out = vec![NtXentRow::default(); n];
        let op = SyncPtr(out.as_mut_ptr());
        par::for_each(n.div_ceil(NTXENT_ROWS), n * n * self.f.max(1), |blk| {
            let (lo, hi) = (blk * NTXENT_ROWS, ((blk + 1) * NTXENT_ROWS).min(n));
            let mut s = vec![0.0; (hi - lo) * n];
            self.similarities(lo, hi, &mut s);
            for i in lo..hi {
                let row = &s[(i - lo) * n..(i - lo + 1) * n];
                let li = self.labels[i];
                let m = crate::math::max_nan(row.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, &v)| v));
                let neg = sum_f64(row.iter().zip(&self.labels).filter(|&(_, &l)| l != li).map(|(&v, _)| (v - m).exp()));
                let (mut loss, mut a, mut pos) = (crate::machinery::reduction::Neumaier::default(), 0.0, 0);
                for (j, (&v, &l)) in row.iter().zip(&self.labels).enumerate() {
                    if j != i && l == li {
                        let sh = v - m;
                        let d = neg + sh.exp();
                        loss.add(-(sh - d.ln()));
                        a += 1.0 / d;
                        pos += 1;
                    }
                }
                // SAFETY: element i is this task's alone.
                unsafe { *op.add(i) = NtXentRow { m, neg, a, loss: loss.total(), pos } };
            }
        });
        out
    }

    /// `|P|`, the positive pairs.
    fn positives(rows: &[NtXentRow]) -> f64 {
        rows.iter().map(|r| r.pos).sum::<usize>() as f64
    }

    /// The loss from the first pass: the rows' sums in order over `|P|`.
    fn loss(rows: &[NtXentRow]) -> f64 {
        sum_f64(rows.iter().map(|r| r.loss)) / Self::positives(rows)
    }

    /// The gradient of `g · ℓ` with respect to the embeddings, in `T`. As
    /// `sᵢⱼ = sⱼᵢ`, `∂ℓ/∂uᵢ = (1/τ) Σⱼ (DSᵢⱼ + DSⱼᵢ) uⱼ`: per block of rows the
    /// similarities again, overwritten by `Cᵢⱼ = (DSᵢⱼ + DSⱼᵢ)/τ` from the two
    /// rows' [`NtXentRow`]s, `∂ℓ/∂U = C U` by one product, then through the
    /// norm into the block's rows of the result. 0 without a positive pair.
    fn grad<T: Float>(&self, rows: &[NtXentRow], g: f64) -> Vec<T> {
        use crate::machinery::kernels::matmul::{matmul_split, Split};
        let (n, f) = (self.n, self.f);
        let mut out = vec![T::zero(); n * f];
        let p = Self::positives(rows);
        if p == 0.0 {
            return out;
        }
        let w = g / p;
        let op = SyncPtr(out.as_mut_ptr());
        par::for_each(n.div_ceil(NTXENT_ROWS), n * n * f.max(1), |blk| {
            let (lo, hi) = (blk * NTXENT_ROWS, ((blk + 1) * NTXENT_ROWS).min(n));
            let mut s = vec![0.0; (hi - lo) * n];
            self.similarities(lo, hi, &mut s);
            for i in lo..hi {
                let (ri, li) = (&rows[i], self.labels[i]);
                let row = &mut s[(i - lo) * n..(i - lo + 1) * n];
                for (j, ((v, rj), &lj)) in row.iter_mut().zip(rows).zip(&self.labels).enumerate() {
                    let same = lj == li;
                    *v = if j == i { 0.0 } else { (ri.ds(*v, same, w) + rj.ds(*v, same, w)) / self.tau };
                }
            }
            let mut du = vec![0.0; (hi - lo) * f];
            // SAFETY: du is (hi − lo) × f, C (in s) (hi − lo) × n, U n × f, all row-major.
            unsafe { matmul_split(Split::Rows(hi - lo), hi - lo, f, n, du.as_mut_ptr(), 1, f as isize, false, s.as_ptr(), 1, n as isize, self.u.as_ptr(), 1, f as isize) };
            // u = e / √max(q, ε): ∂/∂e = (g_u − p (u · g_u) u) / norm, p = 1, ½ or 0.
            for i in lo..hi {
                let gu = &du[(i - lo) * f..(i - lo + 1) * f];
                let ui = &self.u[i * f..(i + 1) * f];
                let proj = dot(gu, ui) / self.norm[i] * self.pass[i];
                // SAFETY: row i of the result is this task's alone.
                let dst = unsafe { std::slice::from_raw_parts_mut(op.add(i * f), f) };
                for ((d, &gk), &uk) in dst.iter_mut().zip(gu).zip(ui) {
                    *d = T::from_wide(gk / self.norm[i] - proj * uk);
                }
            }
        });
        out
    }
}

impl NtXentLoss {
    const NAME: &'static str = "ntxent";

    /// optax's defaults: `temperature = 0.07`; no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction,
        /// Sets the temperature.
        temperature: f64
    );

    fn prepare<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        embeddings: &ArrayView<'_, T, D1>,
        labels: &ArrayView<'_, L, D2>,
    ) -> Result<NtXentBatch> {
        if embeddings.ndim() != 2 {
            return Err(shape_err(Self::NAME, "embeddings", "(N, F) (2-D: a batch of embeddings)", embeddings.shape()));
        }
        let (n, f) = (embeddings.shape()[0], embeddings.shape()[1]);
        if labels.shape() != [n] {
            return Err(shape_err(Self::NAME, "labels", format!("[{n}] (one label per embedding)"), labels.shape()));
        }
        let e = embeddings.as_standard_layout();
        let e = e.as_slice().expect("standard layout");
        let eps = T::epsilon().to_wide();
        let mut u = vec![0.0; n * f];
        let (mut norm, mut pass) = (vec![0.0; n], vec![0.0; n]);
        for i in 0..n {
            let row = &mut u[i * f..(i + 1) * f];
            for (d, v) in row.iter_mut().zip(&e[i * f..(i + 1) * f]) {
                *d = v.to_wide();
            }
            let q = dot(row, row);
            // sqrt(clip(‖e‖², ε)), NaN propagating
            norm[i] = if q.is_nan() { q } else { q.max(eps) }.sqrt();
            pass[i] = if q > eps {
                1.0
            } else if q == eps {
                0.5
            } else {
                0.0
            };
            row.iter_mut().for_each(|v| *v /= norm[i]);
        }
        let labels = labels.iter().map(|l| l.index()).collect();
        Ok(NtXentBatch { n, f, u, norm, pass, labels, tau: self.temperature })
    }

    fn reducer() -> impl Fn(Reduction) -> Reducer {
        |r| Reducer::counting(r, &[], &[])
    }

    /// The loss (a 0-d array).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        embeddings: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
    ) -> Result<ArrayD<T>> {
        let b = self.prepare(&embeddings, &labels)?;
        Ok(Self::reducer()(self.reduction).output(vec![NtXentBatch::loss(&b.rows())]))
    }

    /// The gradient of `grad_output · loss` with respect to `embeddings`
    /// (`target`: `None`).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` has more
    /// than one element.
    pub fn backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        embeddings: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        let b = self.prepare(&embeddings, &labels)?;
        let scales = Self::reducer()(self.reduction).scales(Self::NAME, &grad_output)?;
        let input = b.grad::<T>(&b.rows(), scales.at(0));
        Ok(Gradients { input: ArrayD::from_shape_vec(IxDyn(embeddings.shape()), input).expect("shape and length agree"), target: None })
    }

    /// The loss and its gradient.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        embeddings: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        let b = self.prepare(&embeddings, &labels)?;
        let rows = b.rows();
        let value = Self::reducer()(self.reduction).output(vec![NtXentBatch::loss(&rows)]);
        let input = b.grad::<T>(&rows, 1.0);
        Ok((value, Gradients { input: ArrayD::from_shape_vec(IxDyn(embeddings.shape()), input).expect("shape and length agree"), target: None }))
    }
}

// ---------------------------------------------------------------------------------------
// optax:ranking_softmax_loss

/// The listwise softmax ranking loss, `optax.losses.ranking_softmax_loss`: the
/// cross entropy between the relevance labels and the softmax of the scores
/// over each list.
///
/// ```text
/// ỹᵢ = labelsᵢ · weightsᵢ   (0 where `where` is false)
/// ℓ = −Σᵢ ỹᵢ · log_softmax(s)ᵢ      over the valid items of the list (the last axis);
///                                   invalid items are scores of −∞
/// ```
///
/// `logits` and `labels` are `[..., list_size]`; `where` (a boolean mask) and
/// `weights` broadcast to that shape. One loss per list: the shape without the
/// last axis. optax's `reduce_fn` is the [`Reduction`] (default `Mean`, optax's
/// `jnp.mean`; `None` is `reduce_fn=None`, `Sum` `jnp.sum`) with optax's
/// `_safe_reduce`: a list without a valid item has loss 0 and is left out of
/// `Mean`'s count; a `Mean` that would be NaN while no list's loss is NaN (every
/// list masked) is 0. `BatchMean` divides the sum by the first axis of the
/// result (1 for a single list). Labels are not required to sum to 1 (graded
/// relevance). Differentiated in `logits` ([`Gradients::input`]) and `labels`
/// ([`Gradients::target`]: `−weightsᵢ · log_softmax(s)ᵢ`, 0 for masked
/// items); `weights` is not differentiated.
///
/// `logits` and `labels` broadcast together as optax broadcasts them (NumPy's
/// rule; each gradient summed back to its tensor's shape), except along the
/// list axis of the logits, over which optax takes the softmax first: a
/// size-1 list axis of the logits that would broadcast is refused.
///
/// # Errors
/// [`LossError::Shape`] if `labels`' shape does not broadcast with `logits'`
/// (or the logits' list axis would), if `where` or `weights` do not broadcast
/// to the broadcast shape, or if `logits` is 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::RankingSoftmaxLoss;
/// // optax's docstring examples: 1.408, and 0.497 with a mask.
/// let l = RankingSoftmaxLoss::new().forward(array![2.0f64, 1.0, 3.0].view(), array![1.0, 0.0, 0.0].view()).unwrap();
/// assert!((l[[]] - 1.408).abs() < 5e-4);
/// let scores = array![[2.0f64, 1.0, 0.0], [1.0, 0.5, 1.5]];
/// let labels = array![[1.0f64, 0.0, 0.0], [0.0, 0.0, 1.0]];
/// let mask = array![[true, true, false], [true, true, true]];
/// let l = RankingSoftmaxLoss::new().where_(mask.view()).forward(scores.view(), labels.view()).unwrap();
/// assert!((l[[]] - 0.497).abs() < 5e-4);
/// ```
///
/// # References
/// Z. Cao, T. Qin, T.-Y. Liu, M.-F. Tsai, H. Li, "Learning to Rank: From Pairwise
/// Approach to Listwise Approach" (ListNet), ICML 2007,
/// <https://doi.org/10.1145/1273496.1273513>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.ranking_softmax_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RankingSoftmaxLoss {
    /// The reduction, optax's `reduce_fn` (default `Mean`).
    pub reduction: Reduction,
    /// Which items are valid (optax's `where`; default: all).
    pub where_: Option<ArrayD<bool>>,
    /// Per-item weights multiplying the labels (default none).
    pub weights: Option<ArrayD<f64>>,
}

impl Default for RankingSoftmaxLoss {
    fn default() -> Self {
        RankingSoftmaxLoss { reduction: Reduction::Mean, where_: None, weights: None }
    }
}

struct RankingLists {
    /// `logits` and `labels` broadcast together.
    bc: Broadcast,
    lanes: Lanes,
    s: Vec<f64>,
    y: Vec<f64>,
    valid: Vec<bool>,
    w: Vec<f64>,
    /// Whether each list has a valid item.
    any: Vec<bool>,
}

impl RankingLists {
    /// The log-softmax over the valid items of list `l` (masked items: −∞).
    fn log_softmax(&self, l: usize, out: &mut Vec<f64>) {
        out.clear();
        let xs: Vec<f64> =
            (0..self.lanes.len).map(|c| self.lanes.at(l, c)).map(|i| if self.valid[i] { self.s[i] } else { f64::NEG_INFINITY }).collect();
        out.resize(xs.len(), 0.0);
        crate::math::log_softmax_lane(&xs, out);
    }
}

impl RankingSoftmaxLoss {
    const NAME: &'static str = "ranking_softmax_loss";

    /// optax's defaults: `reduce_fn = jnp.mean`, no mask, no weights.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction (optax's `reduce_fn`).
        reduction: Reduction
    );
    /// Sets the validity mask (optax's `where`).
    #[must_use]
    pub fn where_<D: Dimension>(mut self, mask: ArrayView<'_, bool, D>) -> Self {
        self.where_ = Some(mask.to_owned().into_dyn());
        self
    }
    /// Sets the per-item weights.
    #[must_use]
    pub fn weights<T: Float, D: Dimension>(mut self, weights: ArrayView<'_, T, D>) -> Self {
        self.weights = Some(weights.map(|v| v.to_wide()).into_dyn());
        self
    }

    fn prepare<T: Float, D: Dimension>(&self, logits: &ArrayView<'_, T, D>, labels: &ArrayView<'_, T, D>) -> Result<(RankingLists, Reducer)> {
        let name = Self::NAME;
        if logits.ndim() == 0 {
            return Err(shape_err(name, "logits", "at least 1 dimension (the list)", logits.shape()));
        }
        // optax: logits and labels broadcast (NumPy's rule), but the softmax runs
        // over the logits' own list axis, which must not broadcast.
        let bc = Broadcast::numpy(name, &[("logits", logits.shape()), ("labels", labels.shape())])?;
        let shape = bc.shape.clone();
        let shape = shape.as_slice();
        if logits.shape().last() != shape.last() {
            return Err(shape_err(
                name,
                "logits",
                format!("a shape whose last axis (the list) has {} entries, as the broadcast shape {shape:?} (optax takes the softmax over the logits' own list axis; a size-1 one that broadcasts is not taken)", shape[shape.len() - 1]),
                logits.shape(),
            ));
        }
        let bcast = |t: &'static str, s: &[usize]| {
            shape_err(name, t, format!("a shape that broadcasts to {shape:?} (the shape of `logits` and `labels` broadcast)"), s)
        };
        let n: usize = shape.iter().product();
        let valid: Vec<bool> = match &self.where_ {
            None => vec![true; n],
            Some(m) => m.broadcast(IxDyn(shape)).ok_or_else(|| bcast("where", m.shape()))?.iter().copied().collect(),
        };
        let w: Vec<f64> = match &self.weights {
            None => vec![1.0; n],
            Some(m) => m.broadcast(IxDyn(shape)).ok_or_else(|| bcast("weights", m.shape()))?.iter().copied().collect(),
        };
        let lanes = Lanes::last(shape);
        let any = (0..lanes.count()).map(|l| (0..lanes.len).any(|c| valid[lanes.at(l, c)])).collect();
        let mut r = Reducer::counting(self.reduction, &lanes.out_shape, &lanes.out_shape);
        if self.where_.is_some() {
            let any: &Vec<bool> = &any;
            r.mean_denominator = any.iter().filter(|&&a| a).count() as f64;
        }
        let (s, y) = (bc.expand(0, logits), bc.expand(1, labels));
        Ok((RankingLists { bc, lanes, s, y, valid, w, any }, r))
    }

    fn losses(lists: &RankingLists) -> Vec<f64> {
        let mut lp = Vec::new();
        (0..lists.lanes.count())
            .map(|l| {
                lists.log_softmax(l, &mut lp);
                let terms = (0..lists.lanes.len).filter_map(|c| {
                    let i = lists.lanes.at(l, c);
                    lists.valid[i].then(|| lists.y[i] * lists.w[i] * lp[c])
                });
                -sum_f64(terms)
            })
            .collect()
    }

    /// optax's `_safe_reduce` for `Mean`: NaN without a NaN loss becomes 0.
    fn output<T: Float>(&self, r: &Reducer, losses: Vec<f64>) -> (ArrayD<T>, bool) {
        let has_nan = losses.iter().any(|v| v.is_nan());
        let out: ArrayD<T> = r.output(losses);
        if self.reduction == Reduction::Mean && !has_nan && out.iter().all(|v| v.is_nan()) {
            (ArrayD::from_elem(IxDyn(&[]), T::zero()), true)
        } else {
            (out, false)
        }
    }

    fn grads(lists: &RankingLists, scales: &Scales, zeroed: bool) -> (Vec<f64>, Vec<f64>) {
        let n = lists.s.len();
        let (mut gs, mut gy) = (vec![0.0; n], vec![0.0; n]);
        if zeroed {
            return (gs, gy);
        }
        let mut lp = Vec::new();
        for l in 0..lists.lanes.count() {
            if !lists.any[l] {
                continue;
            }
            let g = scales.at(l);
            lists.log_softmax(l, &mut lp);
            let idx: Vec<usize> = (0..lists.lanes.len).map(|c| lists.lanes.at(l, c)).collect();
            let total = sum_f64(idx.iter().filter(|&&i| lists.valid[i]).map(|&i| lists.y[i] * lists.w[i]));
            for (c, &i) in idx.iter().enumerate() {
                if lists.valid[i] {
                    gs[i] = g * (lp[c].exp() * total - lists.y[i] * lists.w[i]);
                    gy[i] = -g * lists.w[i] * lp[c];
                }
            }
        }
        (gs, gy)
    }

    /// The machinery's row sweep ([`crate::classification::softmax_ce_rows`],
    /// every term counted) without `where_` or `weights`, for logits and labels
    /// of one shape, both contiguous. `None` for every other case, for inputs
    /// with a NaN or infinite logit maximum, and for a `Mean` that comes out
    /// NaN (optax's `_safe_reduce` then looks at the losses): the general path
    /// takes those.
    fn fused<T: Float, D: Dimension>(&self, logits: &ArrayView<'_, T, D>, labels: &ArrayView<'_, T, D>, up: &Upstream<'_, T>) -> Result<Option<Eval<T, Gradients<T>>>> {
        if self.where_.is_some() || self.weights.is_some() {
            return Ok(None);
        }
        let done = crate::classification::softmax_ce_rows::<T, D, false>(Self::NAME, logits, labels, self.reduction, up)?;
        Ok(done.filter(|(v, _)| self.reduction != Reduction::Mean || !v.iter().any(|x| x.is_nan())))
    }

    /// The loss.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension>(&self, logits: ArrayView<'_, T, D>, labels: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
        if let Some((v, _)) = self.fused(&logits, &labels, &Upstream::Skip)? {
            return Ok(v);
        }
        let (lists, r) = self.prepare(&logits, &labels)?;
        Ok(self.output(&r, Self::losses(&lists)).0)
    }

    /// The gradients of `Σ grad_output · loss`: `input` with respect to `logits`,
    /// `target` with respect to `labels`.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, D: Dimension>(
        &self,
        logits: ArrayView<'_, T, D>,
        labels: ArrayView<'_, T, D>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        if let Some((_, Some(g))) = self.fused(&logits, &labels, &Upstream::Given(grad_output.view()))? {
            return Ok(g);
        }
        let (lists, r) = self.prepare(&logits, &labels)?;
        let scales = r.scales(Self::NAME, &grad_output)?;
        let zeroed = self.output::<T>(&r, Self::losses(&lists)).1;
        let (gs, gy) = Self::grads(&lists, &scales, zeroed);
        Ok(Gradients { input: lists.bc.reduce(0, gs), target: Some(lists.bc.reduce(1, gy)) })
    }

    /// The loss and its gradients.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D: Dimension>(
        &self,
        logits: ArrayView<'_, T, D>,
        labels: ArrayView<'_, T, D>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        if let Some((v, Some(g))) = self.fused(&logits, &labels, &Upstream::Ones)? {
            return Ok((v, g));
        }
        let (lists, r) = self.prepare(&logits, &labels)?;
        let (value, zeroed) = self.output::<T>(&r, Self::losses(&lists));
        let g = ones_like_output::<T>(&r);
        let scales = r.scales(Self::NAME, &g.view())?;
        let (gs, gy) = Self::grads(&lists, &scales, zeroed);
        Ok((value, Gradients { input: lists.bc.reduce(0, gs), target: Some(lists.bc.reduce(1, gy)) }))
    }
}

// ---------------------------------------------------------------------------------------
// free functions

free_fn! {
    /// [`CosineEmbeddingLoss`] with `margin` and `reduction`:
    /// `torch.nn.functional.cosine_embedding_loss(input1, input2, target, margin, reduction=...)`.
    pub fn cosine_embedding_loss(input1: float, input2: float, target: float_any; margin: f64, reduction: Reduction) = CosineEmbeddingLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let l = losslab::cosine_embedding_loss(
        ///     array![1.0f64, 0.0].view(), array![0.0f64, 1.0].view(), ndarray::arr0(1.0f64).view(), 0.0, losslab::Reduction::Mean,
        /// ).unwrap();
        /// assert_eq!(l[[]], 1.0);
        /// ```
        ///
        /// # References
        /// [`CosineEmbeddingLoss`]: its formula, the reference's semantics and the paper.
    }

    /// [`TripletMarginLoss`] with PyTorch's defaults and `reduction`:
    /// `torch.nn.functional.triplet_margin_loss(anchor, positive, negative, reduction=...)`.
    pub fn triplet_margin_loss(anchor: float, positive: float, negative: float; reduction: Reduction) = TripletMarginLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let (a, p, n) = (array![[0.0f64, 0.0]], array![[0.0f64, 0.0]], array![[0.0f64, 5.0]]);
        /// let l = losslab::triplet_margin_loss(a.view(), p.view(), n.view(), losslab::Reduction::Sum).unwrap();
        /// assert_eq!(l[[]], 0.0); // the negative is farther than the positive by more than the margin
        /// ```
        ///
        /// # References
        /// [`TripletMarginLoss`]: its formula, the reference's semantics and the paper.
    }

    /// [`TripletMarginWithDistanceLoss`] with a named distance and `reduction`:
    /// `torch.nn.functional.triplet_margin_with_distance_loss`.
    pub fn triplet_margin_with_distance_loss(anchor: float, positive: float, negative: float; distance_function: TripletDistance, reduction: Reduction) = TripletMarginWithDistanceLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// use losslab::{Reduction, TripletDistance};
        /// let (a, p, n) = (array![[1.0f64, 0.0]], array![[2.0f64, 0.0]], array![[-1.0f64, 0.0]]);
        /// let l = losslab::triplet_margin_with_distance_loss(a.view(), p.view(), n.view(), TripletDistance::Cosine, Reduction::Mean)
        ///     .unwrap();
        /// assert_eq!(l[[]], 0.0); // cosine distances 0 and 2: the margin 1 is exceeded
        /// ```
        ///
        /// # References
        /// [`TripletMarginWithDistanceLoss`]: its formula, the reference's semantics and the paper.
    }

    /// [`CosineSimilarityLoss`] along the last axis: `keras.losses.cosine_similarity(y_true, y_pred)`.
    pub fn cosine_similarity_loss(y_true: float, y_pred: float) = CosineSimilarityLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let l = losslab::embedding::cosine_similarity_loss(array![[3.0f64, 4.0]].view(), array![[6.0f64, 8.0]].view()).unwrap();
        /// assert!((l[[0]] + 1.0).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`CosineSimilarityLoss`]: its formula, the reference's semantics and the paper.
    }

    /// [`NtXentLoss`] with `temperature`: `optax.losses.ntxent(embeddings, labels, temperature)`.
    pub fn ntxent(embeddings: float, labels: labels; temperature: f64) = NtXentLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// // One positive pair and no negatives.
        /// let e = array![[1.0f64, 0.0], [0.0, 1.0]];
        /// let l = losslab::ntxent(e.view(), array![7, 7].view(), 0.1).unwrap();
        /// assert!(l[[]].abs() < 1e-15); // no negatives: −log(exp(s)/exp(s)) = 0
        /// ```
        ///
        /// # References
        /// [`NtXentLoss`]: its formula, the reference's semantics and the paper.
    }

    /// [`OptaxTripletMarginLoss`] with optax's defaults:
    /// `optax.losses.triplet_margin_loss(anchors, positives, negatives)`.
    pub fn optax_triplet_margin_loss(anchors: float, positives: float, negatives: float) = OptaxTripletMarginLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let (a, p, n) = (array![[0.0f64, 0.0]], array![[0.0f64, 0.0]], array![[0.0f64, 3.0]]);
        /// let l = losslab::embedding::optax_triplet_margin_loss(a.view(), p.view(), n.view()).unwrap();
        /// assert_eq!(l.shape(), &[1]);
        /// assert_eq!(l[[0]], 0.0); // 1e-3 − 3.0000002 + 1 < 0
        /// ```
        ///
        /// # References
        /// [`OptaxTripletMarginLoss`]: its formula, the reference's semantics and the paper.
    }

    /// [`RankingSoftmaxLoss`] with `reduction` (optax's `reduce_fn`), no mask or weights:
    /// `optax.losses.ranking_softmax_loss(logits, labels)`.
    pub fn ranking_softmax_loss(logits: float, labels: float; reduction: Reduction) = RankingSoftmaxLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let l = losslab::ranking_softmax_loss(array![0.0f64, 0.0].view(), array![1.0, 0.0].view(), losslab::Reduction::Mean).unwrap();
        /// assert!((l[[]] - 2f64.ln()).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`RankingSoftmaxLoss`]: its formula, the reference's semantics and the paper.
    }
}

// ---------------------------------------------------------------------------------------
// keras:circle

/// Keras's circle loss, `keras.losses.circle(y_true, y_pred, ref_labels=None,
/// ref_embeddings=None, remove_diagonal=True, gamma=80, margin=0.4)`: the
/// metric-learning loss of Sun et al. (2020) on cosine distances, as Keras 3.15
/// computes it, one value per query embedding.
///
/// ```text
/// dᵢⱼ = max(1 − y_predᵢ · refⱼ, 0)                   (cosine distance of L2-normalised rows)
/// pos(i, j): labelᵢ = ref_labelⱼ (and i ≠ j if remove_diagonal)    neg(i, j): labelᵢ ≠ ref_labelⱼ
/// αᵖᵢⱼ = max(m + dᵢⱼ, 0)        aᵢⱼ = −γ αᵖᵢⱼ (m − dᵢⱼ)            over pos
/// αⁿᵢⱼ = max(1 + m − dᵢⱼ, 0)    bᵢⱼ =  γ αⁿᵢⱼ (1 − m − dᵢⱼ)        over neg
/// ℓᵢ = softplus(logsumexp_{j ∈ pos} aᵢⱼ + logsumexp_{j ∈ neg} bᵢⱼ)   (an empty logsumexp is −∞)
/// ```
///
/// `y_true` `(N,)` or `(N, 1)` integer labels, `y_pred` `(N, D)` embeddings;
/// `ref_labels` `(M,)` or `(M, 1)` and `ref_embeddings` `(M, D)` default to
/// `y_true` and `y_pred` (either may be given alone: the other then defaults,
/// so `M = N`). The result is `(N,)`; the default reduction `None` is Keras's
/// functional output.
///
/// Keras's details, followed here (some are surprising):
/// - The embeddings are **not** normalised: Keras expects L2-normalised rows
///   and uses the raw dot product. The distance is clamped at 0 (a dot product
///   above 1 counts as a distance of 0, with no gradient), not at 2.
/// - The weights `α` are differentiated (common implementations, the
///   authors' included, detach them); `max(·, 0)` passes half the gradient
///   where its argument is exactly 0, as JAX's `maximum` does (a distance of
///   exactly 0, e.g. an embedding with itself under `remove_diagonal=False`).
/// - `remove_diagonal` removes the pairs `(i, i)` by position (`i < min(N, M)`)
///   from the positives only, also when `ref_embeddings` are other vectors; a
///   pair `(i, i)` has equal labels, so it is never a negative.
/// - A query without positives, or without negatives, gets `−∞` inside the
///   softplus (a logsumexp over no pair): a loss of exactly 0 and no gradient,
///   whatever the other set holds; a batch of one class has loss 0 everywhere
///   (Keras marks these: the returned tensor carries a
///   Keras mask `loss > 0`, so the class `keras.losses.Circle` with its default
///   `"sum_over_batch_size"` averages over the samples with a positive loss;
///   the functional form, which this is, returns every sample, and
///   [`Reduction::Mean`] divides by `N`).
/// - Labels are compared after Keras's cast to `int32` (wrapping: labels that
///   differ by a multiple of 2³² are equal). Keras also casts float labels
///   (truncating); losslab takes integer labels.
/// - `gamma` and `margin` are not checked, as in Keras (the defaults are 80
///   and 0.4).
///
/// Gradients: [`Gradients::input`] with respect to `y_pred`, and
/// [`Gradients::target`] with respect to `ref_embeddings` when they are given
/// (`None` otherwise: `y_pred`'s gradient then includes its role as the
/// references), as `jax.grad` gives them.
///
/// # Errors
/// [`LossError::Shape`] for a `y_pred` or `ref_embeddings` that is not 2-D, of
/// different widths, or labels that do not have one entry per embedding.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::embedding::KerasCircle;
/// // Two classes on the unit circle; the pair of class 0 is close, class 1 alone.
/// let e = array![[1.0f64, 0.0], [0.8, 0.6], [0.0, 1.0]];
/// let labels = array![0i64, 0, 1];
/// let loss = KerasCircle::new().forward(labels.view(), e.view()).unwrap();
/// assert_eq!(loss.shape(), &[3]);
/// assert_eq!(loss[2], 0.0); // no positive for the last one
/// // Row 1: a = −80·0.6·(0.4 − 0.2) = −9.6 (its positive), b = 80·1·(0.6 − 0.4) = 16
/// // (its negative at distance 0.4): softplus(6.4).
/// assert!((loss[1] - (1.0 + 6.4f64.exp()).ln()).abs() < 1e-9);
/// assert!(loss[0] < 1e-9); // its negative is far: softplus(−9.6 − 12.8)
/// ```
///
/// # References
/// Y. Sun, C. Cheng, Y. Zhang, C. Zhang, L. Zheng, Z. Wang, Y. Wei, "Circle Loss: A
/// Unified Perspective of Pair Similarity Optimization", CVPR 2020,
/// <https://arxiv.org/abs/2002.10857>;
/// <https://keras.io/api/losses/>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasCircle {
    /// The reduction of the per-query losses (default `None`).
    pub reduction: Reduction,
    /// Whether the pairs `(i, i)` are removed from the positives (default `true`).
    pub remove_diagonal: bool,
    /// The scale `γ` (default 80).
    pub gamma: f64,
    /// The relaxation margin `m` (default 0.4).
    pub margin: f64,
}

impl Default for KerasCircle {
    fn default() -> Self {
        KerasCircle { reduction: Reduction::None, remove_diagonal: true, gamma: 80.0, margin: 0.4 }
    }
}

/// A validated circle-loss batch: queries `(n, f)` and references `(m, f)` in
/// standard layout (`r`: `None` when the references are the queries), and the
/// labels after Keras's cast to `int32`.
struct CircleBatch<'a, T> {
    n: usize,
    m: usize,
    f: usize,
    q: ndarray::CowArray<'a, T, IxDyn>,
    r: Option<ndarray::CowArray<'a, T, IxDyn>>,
    ql: Vec<i32>,
    rl: Vec<i32>,
}

impl<T: Float> CircleBatch<'_, T> {
    /// The queries, row-major.
    fn q(&self) -> &[T] {
        self.q.as_slice().expect("standard layout")
    }
    /// The references, row-major.
    fn r(&self) -> &[T] {
        self.r.as_ref().map_or_else(|| self.q(), |r| r.as_slice().expect("standard layout"))
    }
}

/// Rows of the similarity matrix per parallel task of [`KerasCircle`] (each
/// task's scratch is one row of `f64`).
const CIRCLE_ROWS: usize = 8;

/// Lanes of [`KerasCircle::row_lanes`]'s maxima and sums (the element-wise
/// sweeps' [`LANES`](crate::machinery::kernels::elementwise::LANES): two
/// AVX-512 registers of `f64`), combined by their fixed tree.
const CIRCLE_LANES: usize = crate::machinery::kernels::elementwise::LANES;

/// `W ← W + Wᵀ` for a row-major `n × n` matrix, in place: each pair of
/// mirrored entries summed once (`w_ij + w_ji`, the same bits at both), by
/// pairs of 8 × 8 blocks (block `(I, J ≥ I)` and its mirror read by rows into
/// local arrays, the sums written back by rows, one of them transposed in
/// registers: a column walk would stride by whole rows per element), the
/// entries past the last whole block one by one; block rows in parallel (block
/// row `I` holds the pairs `(I, J ≥ I)`: no two tasks touch one entry).
fn symmetrize<T: Float>(w: &mut [T], n: usize) {
    const K: usize = 8;
    assert_eq!(w.len(), n * n, "an n × n matrix");
    let nb = n / K;
    let p = SyncPtr(w.as_mut_ptr());
    par::for_each(nb, n * n, |bi| {
        let i0 = bi * K;
        for j0 in (i0..nb * K).step_by(K) {
            // SAFETY: the blocks (bi, j0 / K) and its mirror are this task's
            // alone (j0 ≥ i0), and lie within n × n.
            unsafe {
                let (mut a, mut b) = ([[T::zero(); K]; K], [[T::zero(); K]; K]);
                for r in 0..K {
                    a[r].copy_from_slice(std::slice::from_raw_parts(p.add((i0 + r) * n + j0), K));
                    b[r].copy_from_slice(std::slice::from_raw_parts(p.add((j0 + r) * n + i0), K));
                }
                let mut s = [[T::zero(); K]; K];
                for r in 0..K {
                    for c in 0..K {
                        s[r][c] = a[r][c] + b[c][r];
                    }
                }
                for r in 0..K {
                    std::slice::from_raw_parts_mut(p.add((i0 + r) * n + j0), K).copy_from_slice(&s[r]);
                    let mut t = [T::zero(); K];
                    for c in 0..K {
                        t[c] = s[c][r];
                    }
                    std::slice::from_raw_parts_mut(p.add((j0 + r) * n + i0), K).copy_from_slice(&t);
                }
            }
        }
    });
    // The pairs with an index past the whole blocks.
    let e = nb * K;
    for i in 0..n {
        for j in e.max(i)..n {
            let v = w[i * n + j] + w[j * n + i];
            w[i * n + j] = v;
            w[j * n + i] = v;
        }
    }
}

/// `f(j, lane)` for `j < n` in order, `lane = j mod` [`CIRCLE_LANES`] within
/// whole groups of lanes and `j` minus the last group's start in the tail: a
/// loop LLVM vectorises across the lanes.
#[inline(always)]
fn circle_lanes(n: usize, mut f: impl FnMut(usize, usize)) {
    let body = n / CIRCLE_LANES * CIRCLE_LANES;
    let mut j = 0;
    while j < body {
        for k in 0..CIRCLE_LANES {
            f(j + k, k);
        }
        j += CIRCLE_LANES;
    }
    for j in body..n {
        f(j, j - body);
    }
}

/// Rows `lo..hi` of a [`KerasCircle`] batch: each query's loss stored at
/// `losses[i]`, its row of products at `s` (`b.m` columns) overwritten by its
/// gradient row when `scales` are given; [`KerasCircle::row_lanes`], or
/// [`KerasCircle::row`] where that declines. Scratch: two rows of `f64`.
///
/// # Safety
/// `s` holds `b.n × b.m` and `losses` `b.n` elements; rows `lo..hi` of both
/// are the caller's alone.
#[inline(always)]
unsafe fn circle_rows<T: Float>(loss: &KerasCircle, b: &CircleBatch<'_, T>, s: SyncPtr<T>, losses: SyncPtr<f64>, scales: Option<&Scales>, lo: usize, hi: usize) {
    let m = b.m;
    let mut scratch = vec![0.0f64; 2 * m];
    let (e, h) = scratch.split_at_mut(m);
    for i in lo..hi {
        // SAFETY: row i of s is the caller's alone (the function's contract).
        let srow = unsafe { std::slice::from_raw_parts_mut(s.add(i * m), m) };
        let sc = scales.map(|sc| sc.at(i));
        let l = match loss.row_lanes(b, i, srow, e, h, sc) {
            Some(l) => l,
            None => loss.row(b, i, srow, e, sc),
        };
        // SAFETY: as above, for losses.
        unsafe { *losses.add(i) = l };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn circle_rows_avx512<T: Float>(loss: &KerasCircle, b: &CircleBatch<'_, T>, s: SyncPtr<T>, losses: SyncPtr<f64>, scales: Option<&Scales>, lo: usize, hi: usize) {
    // SAFETY: the caller's contract.
    unsafe { circle_rows(loss, b, s, losses, scales, lo, hi) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn circle_rows_avx2<T: Float>(loss: &KerasCircle, b: &CircleBatch<'_, T>, s: SyncPtr<T>, losses: SyncPtr<f64>, scales: Option<&Scales>, lo: usize, hi: usize) {
    // SAFETY: the caller's contract.
    unsafe { circle_rows(loss, b, s, losses, scales, lo, hi) }
}

unsafe fn circle_rows_base<T: Float>(loss: &KerasCircle, b: &CircleBatch<'_, T>, s: SyncPtr<T>, losses: SyncPtr<f64>, scales: Option<&Scales>, lo: usize, hi: usize) {
    // SAFETY: the caller's contract.
    unsafe { circle_rows(loss, b, s, losses, scales, lo, hi) }
}

/// [`circle_rows`] for one instruction set.
type CircleRowsFn<T> = unsafe fn(&KerasCircle, &CircleBatch<'_, T>, SyncPtr<T>, SyncPtr<f64>, Option<&Scales>, usize, usize);

/// [`KerasCircle::row_lanes`]'s first pass on 8 `f64` lanes ([`circle_x86::logits`]).
fn circle_fast_logits(e: &mut [f64], h: &mut [f64], rl: &[i32], li: i32, diag: usize, g: f64, m: f64) -> (f64, f64, bool) {
    assert!(h.len() == e.len() && rl.len() == e.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: called only where the element-wise kernels run AVX-512 (level 2);
    // the three slices have one length.
    unsafe {
        circle_x86::logits(e, h, rl, li, diag, g, m)
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the circle's explicit lanes are x86-64's")
}

/// [`KerasCircle::row_lanes`]'s second pass on 8 `f64` lanes ([`circle_x86::exps`]).
fn circle_fast_exps(e: &mut [f64], rl: &[i32], li: i32, diag: usize, mp: f64, mn: f64) -> (f64, f64) {
    assert!(rl.len() == e.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as circle_fast_logits.
    unsafe {
        circle_x86::exps(e, rl, li, diag, mp, mn)
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the circle's explicit lanes are x86-64's")
}

/// [`KerasCircle::row_lanes`]'s gradient pass on 8 `f64` lanes ([`circle_x86::grads`]).
#[allow(clippy::too_many_arguments)]
fn circle_fast_grads(out: &mut [f32], e: &[f64], h: &[f64], rl: &[i32], li: i32, diag: usize, dz: f64, sp: f64, sn: f64) {
    assert!(out.len() == e.len() && h.len() == e.len() && rl.len() == e.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as circle_fast_logits.
    unsafe {
        circle_x86::grads(out, e, h, rl, li, diag, dz, sp, sn)
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the circle's explicit lanes are x86-64's")
}

/// [`KerasCircle::row_lanes`]'s three passes for `f32` embeddings on AVX-512:
/// the portable lanes' formulas, operation for operation (no FMA), on 8 `f64`
/// lanes, the sets as masks (`eq`: the same label; `pos`: `eq` less the
/// removed diagonal; `neg`: not `eq`). What differs from the portable lanes:
/// the exponential ([`exp_nonpos_pd`](crate::machinery::kernels::elementwise::x86::exp_nonpos_pd),
/// within 3·10⁻¹³ relative: an `f32` result's precision), the order of the
/// two sets' sums (8 lanes, then a fixed tree) and the softmax weights, `e`
/// times the reciprocal of its set's sum (one division a row, not one a
/// pair: within an `f64` ulp of the quotient, far below the `f32` result's).
#[cfg(target_arch = "x86_64")]
mod circle_x86 {
    use crate::machinery::kernels::elementwise::x86::exp_nonpos_pd;
    use std::arch::x86_64::*;

    /// The lanes from `j` on (at most 8 of `n`), the labels' `eq` mask, and
    /// the diagonal's bit among them (0 where it is elsewhere).
    #[inline(always)]
    unsafe fn sets(rl: &[i32], li: i32, diag: usize, j: usize) -> (__mmask8, __mmask8, __mmask8) {
        let n = rl.len();
        let k: __mmask8 = if n - j >= 8 { 0xff } else { ((1u32 << (n - j)) - 1) as __mmask8 };
        let r = _mm256_maskz_loadu_epi32(k, rl.as_ptr().add(j).cast());
        let eq = _mm256_mask_cmpeq_epi32_mask(k, r, _mm256_set1_epi32(li));
        let d: __mmask8 = if diag >= j && diag < j + 8 { 1 << (diag - j) } else { 0 };
        (k, eq, d)
    }

    /// `max(x, 0)` NaN propagating (`maxpd` returns its second operand on a NaN).
    #[inline(always)]
    unsafe fn max0(x: __m512d) -> __m512d {
        _mm512_max_pd(_mm512_setzero_pd(), x)
    }

    /// JAX's `d max(x, 0)/dx`: 1 above 0, ½ at 0, 0 below (and for NaN).
    #[inline(always)]
    unsafe fn max0_grad(x: __m512d) -> __m512d {
        let z = _mm512_setzero_pd();
        let gt = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(x, z);
        let at = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(x, z);
        _mm512_mask_blend_pd(gt, _mm512_maskz_mov_pd(at, _mm512_set1_pd(0.5)), _mm512_set1_pd(1.0))
    }

    /// Pass 1: each pair's logit into `e` (from its product there) and
    /// `∂logit/∂s` into `h`; the positive and negative sets' maxima, and
    /// whether a logit in a set is NaN or +∞.
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
    pub(super) unsafe fn logits(e: &mut [f64], h: &mut [f64], rl: &[i32], li: i32, diag: usize, g: f64, m: f64) -> (f64, f64, bool) {
        let set = _mm512_set1_pd;
        let (one, ninf) = (set(1.0), set(f64::NEG_INFINITY));
        let (mut mp, mut mn) = (ninf, ninf);
        let mut bad: __mmask8 = 0;
        let mut j = 0;
        while j < e.len() {
            let (k, eq, dg) = sets(rl, li, diag, j);
            let (pos, neg) = (eq & !dg, k & !eq);
            let s = _mm512_maskz_loadu_pd(k, e.as_ptr().add(j));
            let oms = _mm512_sub_pd(one, s);
            let d = max0(oms);
            // positive (a, σ, c, k) = (m, 1, m, −γ), negative (1 + m, −1, 1 − m, γ)
            let a = _mm512_mask_blend_pd(eq, set(1.0 + m), set(m));
            let sg = _mm512_mask_blend_pd(eq, set(-1.0), one);
            let c = _mm512_mask_blend_pd(eq, set(1.0 - m), set(m));
            let kk = _mm512_mask_blend_pd(eq, set(g), set(-g));
            let x = _mm512_mask_blend_pd(eq, _mm512_sub_pd(a, d), _mm512_add_pd(a, d));
            let w = max0(x);
            let cd = _mm512_sub_pd(c, d);
            let l = _mm512_mul_pd(_mm512_mul_pd(kk, w), cd);
            let dl = _mm512_mul_pd(kk, _mm512_sub_pd(_mm512_mul_pd(_mm512_mul_pd(sg, max0_grad(x)), cd), w));
            let hj = _mm512_mul_pd(dl, _mm512_sub_pd(_mm512_setzero_pd(), max0_grad(oms)));
            _mm512_mask_storeu_pd(h.as_mut_ptr().add(j), k, hj);
            _mm512_mask_storeu_pd(e.as_mut_ptr().add(j), k, l);
            let odd = _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(l, l) | _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(l, set(f64::INFINITY));
            bad |= (pos | neg) & odd;
            mp = _mm512_mask_max_pd(mp, pos, l, mp);
            mn = _mm512_mask_max_pd(mn, neg, l, mn);
            j += 8;
        }
        (_mm512_reduce_max_pd(mp), _mm512_reduce_max_pd(mn), bad != 0)
    }

    /// Pass 2: `exp(logit − its set's maximum)` into `e` (0 off the sets);
    /// the positive and negative sets' sums.
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
    pub(super) unsafe fn exps(e: &mut [f64], rl: &[i32], li: i32, diag: usize, mp: f64, mn: f64) -> (f64, f64) {
        let (mut sp, mut sn) = (_mm512_setzero_pd(), _mm512_setzero_pd());
        let (vp, vn) = (_mm512_set1_pd(mp), _mm512_set1_pd(mn));
        let mut j = 0;
        while j < e.len() {
            let (k, eq, dg) = sets(rl, li, diag, j);
            let (pos, neg) = (eq & !dg, k & !eq);
            let l = _mm512_maskz_loadu_pd(k, e.as_ptr().add(j));
            // off the sets (the diagonal, the tail) the argument may be positive: discarded
            let v = _mm512_maskz_mov_pd(pos | neg, exp_nonpos_pd(_mm512_sub_pd(l, _mm512_mask_blend_pd(eq, vn, vp))));
            _mm512_mask_storeu_pd(e.as_mut_ptr().add(j), k, v);
            sp = _mm512_add_pd(sp, _mm512_maskz_mov_pd(pos, v));
            sn = _mm512_add_pd(sn, _mm512_maskz_mov_pd(neg, v));
            j += 8;
        }
        (_mm512_reduce_add_pd(sp), _mm512_reduce_add_pd(sn))
    }

    /// Pass 3: the gradient row `dz · (e · (1 / its set's sum)) · h` (0 off the sets), in `f32`.
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn grads(out: &mut [f32], e: &[f64], h: &[f64], rl: &[i32], li: i32, diag: usize, dz: f64, sp: f64, sn: f64) {
        // The sets' softmax weights `e / sum` as `e · (1 / sum)`: one division a row.
        let (rp, rn, vz) = (_mm512_set1_pd(1.0 / sp), _mm512_set1_pd(1.0 / sn), _mm512_set1_pd(dz));
        let mut j = 0;
        while j < e.len() {
            let (k, eq, dg) = sets(rl, li, diag, j);
            let inset = (eq & !dg) | (k & !eq);
            let ej = _mm512_maskz_loadu_pd(k, e.as_ptr().add(j));
            let hj = _mm512_maskz_loadu_pd(k, h.as_ptr().add(j));
            let ds = _mm512_mul_pd(_mm512_mul_pd(vz, _mm512_mul_pd(ej, _mm512_mask_blend_pd(eq, rn, rp))), hj);
            _mm256_mask_storeu_ps(out.as_mut_ptr().add(j), k, _mm512_cvtpd_ps(_mm512_maskz_mov_pd(inset, ds)));
            j += 8;
        }
    }
}

/// How close to a kink of [`KerasCircle`]'s loss an `f32` dot product is
/// recomputed in `f64` (its rounding error is far below this for any width
/// Keras users give it).
const CIRCLE_KINK: f64 = 1e-3;

/// `d max(x, 0)/dx` as JAX's `maximum`: 1 above, ½ at the tie, 0 below.
#[inline(always)]
fn max0_grad(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x == 0.0 {
        0.5
    } else {
        0.0
    }
}

/// `max(x, 0)`, NaN propagating (as `jnp.maximum`).
#[inline(always)]
fn max0(x: f64) -> f64 {
    if x.is_nan() {
        x
    } else {
        x.max(0.0)
    }
}

impl KerasCircle {
    const NAME: &'static str = "circle";

    /// Keras's defaults: `remove_diagonal = true`, `gamma = 80`, `margin = 0.4`; no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the reduction.
    #[must_use]
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
    /// Sets `remove_diagonal`.
    #[must_use]
    pub fn remove_diagonal(mut self, remove_diagonal: bool) -> Self {
        self.remove_diagonal = remove_diagonal;
        self
    }
    /// Sets the scale `gamma`.
    #[must_use]
    pub fn gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }
    /// Sets the margin.
    #[must_use]
    pub fn margin(mut self, margin: f64) -> Self {
        self.margin = margin;
        self
    }

    fn labels<L: ClassIndex>(tensor: &'static str, labels: &ArrayViewD<'_, L>, n: usize) -> Result<Vec<i32>> {
        let s = labels.shape();
        if !(s == [n] || s == [n, 1]) {
            return Err(shape_err(Self::NAME, tensor, format!("[{n}] or [{n}, 1] (one label per embedding)"), s));
        }
        // Keras's ops.cast(labels, "int32"): two's-complement wrap.
        Ok(labels.iter().map(|l| l.index() as i32).collect())
    }

    fn prepare<'a, T: Float, L: ClassIndex>(
        &self,
        y_true: ArrayViewD<'_, L>,
        y_pred: ArrayViewD<'a, T>,
        ref_labels: Option<ArrayViewD<'_, L>>,
        ref_embeddings: Option<ArrayViewD<'a, T>>,
    ) -> Result<CircleBatch<'a, T>> {
        if y_pred.ndim() != 2 {
            return Err(shape_err(Self::NAME, "y_pred", "(N, D) (2-D: a batch of embeddings)", y_pred.shape()));
        }
        let (n, f) = (y_pred.shape()[0], y_pred.shape()[1]);
        let ql = Self::labels("y_true", &y_true, n)?;
        if let Some(r) = &ref_embeddings {
            if r.ndim() != 2 || r.shape()[1] != f {
                return Err(shape_err(Self::NAME, "ref_embeddings", format!("(M, {f}) (2-D, y_pred's width)"), r.shape()));
            }
        }
        let m = ref_embeddings.as_ref().map_or(n, |r| r.shape()[0]);
        let rl = match &ref_labels {
            None if m != n => {
                return Err(shape_err(
                    Self::NAME,
                    "ref_embeddings",
                    format!("[{n}, {f}] (ref_labels default to y_true: one per query)"),
                    &[m, f],
                ))
            }
            None => ql.clone(),
            Some(l) => Self::labels("ref_labels", l, m)?,
        };
        // A strided tensor is copied to standard layout (the products read rows).
        let standard = |v: ArrayViewD<'a, T>| if v.is_standard_layout() { ndarray::CowArray::from(v) } else { ndarray::CowArray::from(v.as_standard_layout().into_owned()) };
        let (q, r) = (standard(y_pred), ref_embeddings.map(standard));
        Ok(CircleBatch { n, m, f, q, r, ql, rl })
    }

    /// Pair `(i, j)`'s set: `Some(true)` a positive, `Some(false)` a negative, `None` neither.
    #[inline(always)]
    fn set_of<T>(&self, b: &CircleBatch<'_, T>, i: usize, j: usize) -> Option<bool> {
        if b.ql[i] != b.rl[j] {
            Some(false)
        } else if self.remove_diagonal && i == j {
            None
        } else {
            Some(true)
        }
    }

    /// Pair `(i, j)`'s dot product from its entry `s` of the product `Q Rᵀ`.
    /// In `f32` an entry within [`CIRCLE_KINK`] of a kink of the loss (a
    /// distance `1 − s` of 0, `−m` or `1 + m`, where `max(·, 0)` switches) is
    /// recomputed in `f64`, so that the branch taken, and with it the gradient,
    /// is the one of the exact product (an embedding with itself has `s ≈ 1`).
    #[inline(always)]
    fn similarity<T: Float>(&self, b: &CircleBatch<'_, T>, i: usize, j: usize, s: T) -> f64 {
        let s = s.to_wide();
        if T::NAME == f64::NAME {
            return s;
        }
        let d = 1.0 - s;
        let m = self.margin;
        if d.abs() <= CIRCLE_KINK || (d + m).abs() <= CIRCLE_KINK || (d - 1.0 - m).abs() <= CIRCLE_KINK {
            let f = b.f;
            let (q, r) = (&b.q()[i * f..(i + 1) * f], &b.r()[j * f..(j + 1) * f]);
            q.iter().zip(r).map(|(a, c)| a.to_wide() * c.to_wide()).sum()
        } else {
            s
        }
    }

    /// A pair's logit in its set's logsumexp and `∂logit/∂d`, from its dot product `s`.
    #[inline(always)]
    fn logit(&self, s: f64, pos: bool) -> (f64, f64) {
        let d = max0(1.0 - s);
        let (g, m) = (self.gamma, self.margin);
        if pos {
            let w = max0(m + d);
            (-g * w * (m - d), -g * (max0_grad(m + d) * (m - d) - w))
        } else {
            let w = max0(1.0 + m - d);
            (g * w * ((1.0 - m) - d), g * (-max0_grad(1.0 + m - d) * ((1.0 - m) - d) - w))
        }
    }

    /// Query `i`'s loss from its row `srow` of dot products with the
    /// references; with `scale = Some(c)`, overwrites `srow` with `c · ∂ℓᵢ/∂sᵢⱼ`
    /// (0 for the pairs in neither set). `e` is a scratch row of `f64`.
    fn row<T: Float>(&self, b: &CircleBatch<'_, T>, i: usize, srow: &mut [T], e: &mut [f64], scale: Option<f64>) -> f64 {
        // The logits, each set's maximum (NaN if one is NaN, −∞ for an empty set).
        let (mut mp, mut mn) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
        for (j, (ej, s)) in e.iter_mut().zip(srow.iter()).enumerate() {
            let Some(pos) = self.set_of(b, i, j) else { continue };
            let l = self.logit(self.similarity(b, i, j, *s), pos).0;
            *ej = l;
            let mx = if pos { &mut mp } else { &mut mn };
            if l.is_nan() || *mx < l {
                if !mx.is_nan() {
                    *mx = l;
                }
            }
        }
        // Each set's logsumexp (`math::logsumexp_f64`'s order and special
        // cases); with a finite maximum, `e` keeps exp(logit − maximum).
        let (mut sp, mut sn) = (0.0f64, 0.0f64);
        let (fp, fneg) = (mp.is_finite(), mn.is_finite());
        if fp || fneg {
            for (j, ej) in e.iter_mut().enumerate() {
                match self.set_of(b, i, j) {
                    Some(true) if fp => {
                        *ej = (*ej - mp).exp();
                        sp += *ej;
                    }
                    Some(false) if fneg => {
                        *ej = (*ej - mn).exp();
                        sn += *ej;
                    }
                    _ => {}
                }
            }
        }
        let (lp, ln) = (if fp { mp + sp.ln() } else { mp }, if fneg { mn + sn.ln() } else { mn });
        let z = lp + ln;
        let loss = crate::math::softplus_f64(z);
        if let Some(scale) = scale {
            let dz = scale * crate::math::sigmoid_f64(z);
            for (j, (sv, ej)) in srow.iter_mut().zip(e.iter()).enumerate() {
                let ds = match self.set_of(b, i, j) {
                    Some(pos) if dz != 0.0 => {
                        let s = self.similarity(b, i, j, *sv);
                        let (w, lse) = if pos { (if fp { ej / sp } else { f64::NAN }, lp) } else { (if fneg { ej / sn } else { f64::NAN }, ln) };
                        // Without a finite maximum `e` kept the logit itself.
                        let w = if (pos && fp) || (!pos && fneg) { w } else { (ej - lse).exp() };
                        // d = max(1 − s, 0): ∂d/∂s = −(1, ½ or 0)
                        dz * w * self.logit(s, pos).1 * -max0_grad(1.0 - s)
                    }
                    _ => 0.0,
                };
                *sv = T::from_wide(ds);
            }
        }
        loss
    }

    /// Query `i`'s loss and gradient row as [`row`](Self::row) computes them,
    /// in loops that vectorise (inlined into [`circle_rows`]'s AVX-512 / AVX2
    /// builds, 8 or 4 `f64` lanes): the pairs' dot products widened (the few
    /// `f32` ones near a kink recomputed in `f64`, as [`similarity`](Self::similarity)
    /// does), then each pair's logit and `∂logit/∂s` by selects (the same
    /// operations as [`logit`](Self::logit), so the same bits), each set's
    /// maximum and sum of `exp(logit − maximum)` in [`CIRCLE_LANES`] lanes
    /// combined by a fixed tree ([`vmath::exp`](crate::machinery::vmath::exp),
    /// no libm call), then the gradient row. `e` and `h` are scratch rows of
    /// `f64` of `srow`'s length.
    ///
    /// `None` (nothing written) where a set's maximum is NaN or `+∞`, or the
    /// upstream scale is not finite while a set is empty: [`row`](Self::row)
    /// then handles the row and its special cases.
    #[inline(always)]
    fn row_lanes<T: Float>(&self, b: &CircleBatch<'_, T>, i: usize, srow: &mut [T], e: &mut [f64], h: &mut [f64], scale: Option<f64>) -> Option<f64> {
        const L: usize = CIRCLE_LANES;
        let mlen = srow.len();
        let (e, h) = (&mut e[..mlen], &mut h[..mlen]);
        let (li, rl) = (b.ql[i], &b.rl[..mlen]);
        // The diagonal pair, removed from the positives (`set_of`).
        let diag = if self.remove_diagonal { i } else { usize::MAX };
        let (g, m) = (self.gamma, self.margin);
        let wide = T::NAME == f64::NAME;
        // The products, widened; the f32 ones in a set near a kink counted
        // (without short circuits: a loop LLVM vectorises).
        let mut near = 0usize;
        if wide {
            for (ej, s) in e.iter_mut().zip(srow.iter()) {
                *ej = s.to_wide();
            }
        } else {
            for (j, ((ej, s), &lj)) in e.iter_mut().zip(srow.iter()).zip(rl).enumerate() {
                let s = s.to_wide();
                *ej = s;
                let d = 1.0 - s;
                let kink = (d.abs() <= CIRCLE_KINK) | ((d + m).abs() <= CIRCLE_KINK) | ((d - 1.0 - m).abs() <= CIRCLE_KINK);
                near += usize::from(kink & ((j != diag) | (lj != li)));
            }
        }
        if near > 0 {
            for j in 0..mlen {
                if j != diag || rl[j] != li {
                    e[j] = self.similarity(b, i, j, srow[j]);
                }
            }
        }
        // f32 embeddings on AVX-512: the three passes below in 8 explicit f64
        // lanes (`circle_x86`, the same formulas); the portable lanes stay
        // scalar (LLVM does not vectorise the two sets' branches).
        // (level 2 exists on x86-64 only: elsewhere `fast` is false.)
        let fast = T::NAME == f32::NAME && crate::machinery::kernels::elementwise::level() == 2;
        let (mp, mn, bad) = if fast {
            circle_fast_logits(e, h, rl, li, diag, g, m)
        } else {
            // Logits (into e) and `∂logit/∂d · ∂d/∂s` (into h); each set's maximum in lanes.
            let (mut mp, mut mn) = ([f64::NEG_INFINITY; L], [f64::NEG_INFINITY; L]);
            let mut bad = false;
            circle_lanes(mlen, #[inline(always)] |j, lane| {
                let eq = rl[j] == li;
                let pos = eq && j != diag;
                let s = e[j];
                let d = max0(1.0 - s);
                // `logit`'s two forms as one: positive (a, σ, c, k) = (m, 1, m, −γ),
                // negative (1 + m, −1, 1 − m, γ).
                let (a, sg, c, k) = if eq { (m, 1.0, m, -g) } else { (1.0 + m, -1.0, 1.0 - m, g) };
                let x = if eq { a + d } else { a - d };
                let w = max0(x);
                let l = k * w * (c - d);
                let dl = k * (sg * max0_grad(x) * (c - d) - w);
                h[j] = dl * -max0_grad(1.0 - s);
                e[j] = l;
                let inset = pos || !eq;
                bad |= inset && (l.is_nan() || l == f64::INFINITY);
                mp[lane] = if pos && l > mp[lane] { l } else { mp[lane] };
                mn[lane] = if !eq && l > mn[lane] { l } else { mn[lane] };
            });
            let max_of = |a: [f64; L]| a.iter().fold(f64::NEG_INFINITY, |x, &y| if y > x { y } else { x });
            (max_of(mp), max_of(mn), bad)
        };
        if bad {
            return None;
        }
        let (fp, fneg) = (mp.is_finite(), mn.is_finite());
        if !(fp && fneg) {
            // A set without a finite logit: its logsumexp is −∞, so is z; the
            // loss is softplus(−∞) = 0 and the gradient 0 (dz = 0).
            let sc = scale.unwrap_or(0.0);
            if !sc.is_finite() {
                return None;
            }
            if scale.is_some() {
                srow.fill(T::zero());
            }
            return Some(crate::math::softplus_f64(f64::NEG_INFINITY));
        }
        // exp(logit − maximum) per set (kept in e), summed in lanes.
        let (sp, sn) = if fast {
            circle_fast_exps(e, rl, li, diag, mp, mn)
        } else {
            let (mut sp, mut sn) = ([0.0f64; L], [0.0f64; L]);
            circle_lanes(mlen, #[inline(always)] |j, lane| {
                let eq = rl[j] == li;
                let pos = eq && j != diag;
                let v = crate::machinery::vmath::exp(e[j] - if eq { mp } else { mn });
                let v = if pos || !eq { v } else { 0.0 };
                e[j] = v;
                sp[lane] += if pos { v } else { 0.0 };
                sn[lane] += if eq { 0.0 } else { v };
            });
            (crate::machinery::kernels::elementwise::lane_tree(sp), crate::machinery::kernels::elementwise::lane_tree(sn))
        };
        let (lp, ln) = (mp + sp.ln(), mn + sn.ln());
        let z = lp + ln;
        let loss = crate::math::softplus_f64(z);
        if let Some(scale) = scale {
            let dz = scale * crate::math::sigmoid_f64(z);
            if dz == 0.0 {
                srow.fill(T::zero());
            } else if fast {
                // SAFETY (cast): fast only for f32 (`!wide`, T is f32).
                let out = unsafe { std::slice::from_raw_parts_mut(srow.as_mut_ptr().cast::<f32>(), mlen) };
                circle_fast_grads(out, e, h, rl, li, diag, dz, sp, sn);
            } else {
                for (j, (sv, (ej, hj))) in srow.iter_mut().zip(e.iter().zip(h.iter())).enumerate() {
                    let eq = rl[j] == li;
                    let pos = eq && j != diag;
                    let ds = dz * (ej / if eq { sp } else { sn }) * hj;
                    *sv = T::from_wide(if pos || !eq { ds } else { 0.0 });
                }
            }
        }
        Some(loss)
    }

    /// The similarity matrix `S = Q Rᵀ` by one matrix product in the
    /// embeddings' type, each query's loss from its row in parallel (row blocks
    /// fixed by `n`), the row overwritten by its gradient `W = ∂L/∂S`, then
    /// `∂L/∂Q = W R` and `∂L/∂R = Wᵀ Q` by two more products (for the self
    /// form their sum, `(W + Wᵀ) Q`, by one: [`symmetrize`]): O(n m f) in
    /// `gemm`, O(n m) memory.
    #[allow(clippy::type_complexity)]
    fn eval<T: Float, L: ClassIndex>(
        &self,
        y_true: ArrayViewD<'_, L>,
        y_pred: ArrayViewD<'_, T>,
        ref_labels: Option<ArrayViewD<'_, L>>,
        ref_embeddings: Option<ArrayViewD<'_, T>>,
        up: &crate::machinery::lanes::Upstream<'_, T>,
    ) -> Result<(ArrayD<T>, Option<Gradients<T>>)> {
        use crate::machinery::kernels::matmul::matmul;
        let b = self.prepare(y_true, y_pred, ref_labels, ref_embeddings)?;
        let (n, m, f) = (b.n, b.m, b.f);
        let reducer = Reducer::counting(self.reduction, &[n], &[n]);
        let scales = up.scales(Self::NAME, &reducer)?;
        let (q, r) = (b.q(), b.r());
        // S, written in full by the product (no zeroing first).
        let mut s = crate::machinery::fresh::Fresh::<T>::new(n * m);
        // SAFETY: s is n × m, q is n × f and r is m × f, all row-major; the
        // product overwrites every element of s (it does not read it).
        let mut s = unsafe {
            matmul(n, m, f, s.ptr().0, 1, m as isize, false, q.as_ptr(), 1, f as isize, r.as_ptr(), f as isize, 1);
            s.written()
        };
        let mut losses = vec![0.0f64; n];
        let (sp, lp) = (SyncPtr(s.as_mut_ptr()), SyncPtr(losses.as_mut_ptr()));
        let rows: CircleRowsFn<T> = match crate::machinery::kernels::elementwise::level() {
            #[cfg(target_arch = "x86_64")]
            2 => circle_rows_avx512::<T>,
            #[cfg(target_arch = "x86_64")]
            1 => circle_rows_avx2::<T>,
            _ => circle_rows_base::<T>,
        };
        par::for_each(n.div_ceil(CIRCLE_ROWS), n * m * 4, |blk| {
            // SAFETY: rows [blk · CIRCLE_ROWS, …) of s and losses are this task's alone.
            unsafe { rows(self, &b, sp, lp, scales.as_ref(), blk * CIRCLE_ROWS, ((blk + 1) * CIRCLE_ROWS).min(n)) };
        });
        let value = reducer.output(losses);
        let grads = scales.map(|_| {
            let mut gq = vec![T::zero(); n * f];
            let mut gr = vec![T::zero(); if b.r.is_some() { m * f } else { 0 }];
            // SAFETY: W (= s) is n × m, gq n × f, gr m × f, all row-major; the self
            // form accumulates Wᵀ Q into gq (m = n).
            unsafe {
                if b.r.is_some() {
                    matmul(n, f, m, gq.as_mut_ptr(), 1, f as isize, false, s.as_ptr(), 1, m as isize, r.as_ptr(), 1, f as isize);
                    matmul(m, f, n, gr.as_mut_ptr(), 1, f as isize, false, s.as_ptr(), m as isize, 1, q.as_ptr(), 1, f as isize);
                } else {
                    // The self form: W Q + Wᵀ Q = (W + Wᵀ) Q, one product
                    // (W made symmetric in place) in place of two.
                    symmetrize(&mut s, n);
                    matmul(n, f, n, gq.as_mut_ptr(), 1, f as isize, false, s.as_ptr(), 1, n as isize, q.as_ptr(), 1, f as isize);
                }
            }
            let array = |shape: [usize; 2], v: Vec<T>| ArrayD::from_shape_vec(IxDyn(&shape), v).expect("shape and length agree");
            let target = b.r.is_some().then(|| array([m, f], gr));
            Gradients { input: array([n, f], gq), target }
        });
        Ok((value, grads))
    }

    /// The per-query losses (reduced as `self.reduction` says), the references
    /// being the queries themselves (`ref_labels = y_true`, `ref_embeddings = y_pred`).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        y_true: ArrayView<'_, L, D1>,
        y_pred: ArrayView<'_, T, D2>,
    ) -> Result<ArrayD<T>> {
        Ok(self.eval(y_true.into_dyn(), y_pred.into_dyn(), None, None, &crate::machinery::lanes::Upstream::Skip)?.0)
    }

    /// The gradient of `Σ grad_output · loss` with respect to `y_pred` (`target`: `None`).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        y_true: ArrayView<'_, L, D1>,
        y_pred: ArrayView<'_, T, D2>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        let up = crate::machinery::lanes::Upstream::Given(grad_output);
        Ok(self.eval(y_true.into_dyn(), y_pred.into_dyn(), None, None, &up)?.1.expect("gradients requested"))
    }

    /// The loss and its gradient (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        y_true: ArrayView<'_, L, D1>,
        y_pred: ArrayView<'_, T, D2>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        let (v, g) = self.eval(y_true.into_dyn(), y_pred.into_dyn(), None, None, &crate::machinery::lanes::Upstream::Ones)?;
        Ok((v, g.expect("gradients requested")))
    }

    /// As [`forward`](Self::forward), with Keras's `ref_labels` and
    /// `ref_embeddings` (`None`: `y_true`, `y_pred`).
    ///
    /// # Errors
    /// See the type's docs.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::embedding::KerasCircle;
    /// let q = array![[1.0f64, 0.0]];
    /// let refs = array![[1.0f64, 0.0], [0.0, 1.0]];
    /// let (loss, g) = KerasCircle::new()
    ///     .forward_backward_with_refs(array![0i64].view(), q.view(), Some(array![0i64, 1].view().into_dyn()), Some(refs.view().into_dyn()))
    ///     .unwrap();
    /// assert_eq!(loss.shape(), &[1]);
    /// assert_eq!(g.target.unwrap().shape(), &[2, 2]); // the references' gradient
    /// ```
    pub fn forward_with_refs<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        y_true: ArrayView<'_, L, D1>,
        y_pred: ArrayView<'_, T, D2>,
        ref_labels: Option<ArrayViewD<'_, L>>,
        ref_embeddings: Option<ArrayViewD<'_, T>>,
    ) -> Result<ArrayD<T>> {
        Ok(self.eval(y_true.into_dyn(), y_pred.into_dyn(), ref_labels, ref_embeddings, &crate::machinery::lanes::Upstream::Skip)?.0)
    }

    /// As [`backward`](Self::backward), with Keras's `ref_labels` and
    /// `ref_embeddings`: `target` is the gradient with respect to
    /// `ref_embeddings` when they are given.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward_with_refs<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        y_true: ArrayView<'_, L, D1>,
        y_pred: ArrayView<'_, T, D2>,
        ref_labels: Option<ArrayViewD<'_, L>>,
        ref_embeddings: Option<ArrayViewD<'_, T>>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        let up = crate::machinery::lanes::Upstream::Given(grad_output);
        Ok(self.eval(y_true.into_dyn(), y_pred.into_dyn(), ref_labels, ref_embeddings, &up)?.1.expect("gradients requested"))
    }

    /// As [`forward_backward`](Self::forward_backward), with Keras's
    /// `ref_labels` and `ref_embeddings`.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward_with_refs<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        y_true: ArrayView<'_, L, D1>,
        y_pred: ArrayView<'_, T, D2>,
        ref_labels: Option<ArrayViewD<'_, L>>,
        ref_embeddings: Option<ArrayViewD<'_, T>>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        let up = crate::machinery::lanes::Upstream::Ones;
        let (v, g) = self.eval(y_true.into_dyn(), y_pred.into_dyn(), ref_labels, ref_embeddings, &up)?;
        Ok((v, g.expect("gradients requested")))
    }
}

/// [`KerasCircle`] with Keras's defaults (`remove_diagonal=True`, `gamma=80`,
/// `margin=0.4`): `keras.losses.circle(y_true, y_pred)`, one loss per embedding.
///
/// # Errors
/// See [`KerasCircle`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// // Two identical embeddings of class 3 (distance 0: a = −γ·m·m) and an orthogonal one of
/// // class 4 (distance 1: b = γ·(1 + m − 1)·(1 − m − 1) = −γ·m·m).
/// let e = array![[1.0f64, 0.0], [1.0, 0.0], [0.0, 1.0]];
/// let l = losslab::embedding::keras_circle(array![3i64, 3, 4].view(), e.view()).unwrap();
/// let want = (-2.0 * 80.0 * 0.4 * 0.4f64).exp().ln_1p(); // softplus(a + b)
/// assert!(((l[0] - want) / want).abs() < 1e-12 && ((l[1] - want) / want).abs() < 1e-12);
/// assert_eq!(l[2], 0.0); // no positive
/// // One class only: no negatives, every loss 0.
/// let one = losslab::embedding::keras_circle(array![3i64, 3].view(), e.slice(ndarray::s![..2, ..])).unwrap();
/// assert_eq!(one, array![0.0, 0.0].into_dyn());
/// ```
///
/// # References
/// [`KerasCircle`]: its formula, the reference's semantics and the paper.
pub fn keras_circle<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
    y_true: ArrayView<'_, L, D1>,
    y_pred: ArrayView<'_, T, D2>,
) -> Result<ArrayD<T>> {
    KerasCircle::new().forward(y_true, y_pred)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic generator of uniform numbers in `[0, 1)`.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// The circle loss's self form sums `W + Wᵀ` in place in tiles: the same
    /// bits as the plain sum, for sizes that do and do not fill the tiles,
    /// in `f32` and `f64`.
    #[test]
    fn symmetrize_is_w_plus_its_transpose() {
        let mut rng = Lcg(7);
        for n in [1usize, 2, 31, 32, 33, 64, 70, 129] {
            let w: Vec<f64> = (0..n * n).map(|_| rng.next() * 2.0 - 1.0).collect();
            let mut got = w.clone();
            symmetrize(&mut got, n);
            let w32: Vec<f32> = w.iter().map(|&v| v as f32).collect();
            let mut got32 = w32.clone();
            symmetrize(&mut got32, n);
            for i in 0..n {
                for j in 0..n {
                    assert_eq!(got[i * n + j].to_bits(), (w[i * n + j] + w[j * n + i]).to_bits(), "f64 n={n} ({i}, {j})");
                    assert_eq!(got32[i * n + j].to_bits(), (w32[i * n + j] + w32[j * n + i]).to_bits(), "f32 n={n} ({i}, {j})");
                }
            }
        }
    }

    /// `(n, f)` rows of unit length.
    fn unit_rows(rng: &mut Lcg, n: usize, f: usize) -> Vec<f64> {
        let mut v: Vec<f64> = (0..n * f).map(|_| rng.next() * 2.0 - 1.0).collect();
        for row in v.chunks_mut(f) {
            let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
            row.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }

    /// [`KerasCircle::row_lanes`] against the scalar [`KerasCircle::row`] on
    /// every query of a batch in `T`: the same loss and gradient row to
    /// rounding (the two sum the exponentials in other orders, and
    /// `vmath::exp` is within 1 ulp of libm's), or a declined row where the
    /// scalar one meets a special case. Returns the rows declined.
    fn lanes_agree<T: Float>(loss: &KerasCircle, q: &[f64], r: Option<&[f64]>, ql: &[i32], rl: &[i32], f: usize, scale: Option<f64>, tol: f64) -> usize {
        let (n, m) = (ql.len(), rl.len());
        let cast = |v: &[f64]| ndarray::ArrayD::from_shape_vec(IxDyn(&[v.len() / f, f]), v.iter().map(|&x| T::from_wide(x)).collect::<Vec<T>>()).unwrap();
        let b = CircleBatch { n, m, f, q: cast(q).into(), r: r.map(|r| cast(r).into()), ql: ql.to_vec(), rl: rl.to_vec() };
        let (qs, rs) = (b.q(), b.r());
        let mut declined = 0;
        let (mut e, mut h) = (vec![0.0f64; m], vec![0.0f64; m]);
        for i in 0..n {
            // The row of products as the f32 or f64 product gives it.
            let srow: Vec<T> = (0..m).map(|j| T::from_wide((0..f).map(|k| qs[i * f + k].to_wide() * rs[j * f + k].to_wide()).sum())).collect();
            let (mut a, mut c) = (srow.clone(), srow.clone());
            let want = loss.row(&b, i, &mut a, &mut e, scale);
            let Some(got) = loss.row_lanes(&b, i, &mut c, &mut e, &mut h, scale) else {
                assert_eq!(c.iter().map(|v| v.to_wide().to_bits()).collect::<Vec<_>>(), srow.iter().map(|v| v.to_wide().to_bits()).collect::<Vec<_>>(), "row {i}: a declined row is left as it was");
                declined += 1;
                continue;
            };
            assert!(got == want || (got - want).abs() <= tol * want.abs().max(1e-300), "row {i}: loss {got} vs {want}");
            let big = a.iter().fold(0.0f64, |s, v| s.max(v.to_wide().abs()));
            for (j, (x, y)) in c.iter().zip(&a).enumerate() {
                let (x, y) = (x.to_wide(), y.to_wide());
                assert!(x == y || (x.is_nan() && y.is_nan()) || (x - y).abs() <= tol * big, "row {i} pair {j}: ∂ {x} vs {y}");
            }
        }
        declined
    }

    #[test]
    fn circle_row_lanes_match_the_scalar_row() {
        let mut rng = Lcg(7);
        let (n, m, f) = (37, 53, 24);
        let q = unit_rows(&mut rng, n, f);
        let mut r = unit_rows(&mut rng, m, f);
        // A reference equal to a query (distance 0: the kink of max(1 − s, 0)) and
        // one at distance about 1 + m from it (s = −m: the negatives' kink).
        r[5 * f..6 * f].copy_from_slice(&q[5 * f..6 * f]);
        let anti: Vec<f64> = q[9 * f..10 * f].iter().map(|x| -0.4 * x).collect();
        r[11 * f..12 * f].copy_from_slice(&anti);
        // Five classes; query labels 7 and 8 have no reference (no positive).
        let ql: Vec<i32> = (0..n).map(|i| if i == 3 { 7 } else if i == 4 { 8 } else { (i % 5) as i32 }).collect();
        let rl: Vec<i32> = (0..m).map(|j| (j % 5) as i32).collect();
        let self_l: Vec<i32> = ql.clone();
        for (gamma, margin) in [(80.0, 0.4), (16.0, 0.25), (256.0, 0.1)] {
            for rd in [true, false] {
                let loss = KerasCircle::new().remove_diagonal(rd).gamma(gamma).margin(margin);
                for scale in [None, Some(1.0), Some(0.37)] {
                    // Separate references and the self form, in f64 and f32.
                    assert_eq!(lanes_agree::<f64>(&loss, &q, Some(&r), &ql, &rl, f, scale, 1e-12), 0);
                    assert_eq!(lanes_agree::<f64>(&loss, &q, None, &ql, &self_l, f, scale, 1e-12), 0);
                    assert_eq!(lanes_agree::<f32>(&loss, &q, Some(&r), &ql, &rl, f, scale, 1e-6), 0);
                    assert_eq!(lanes_agree::<f32>(&loss, &q, None, &ql, &self_l, f, scale, 1e-6), 0);
                }
                // An infinite upstream scale: the rows without positives are declined.
                assert_eq!(lanes_agree::<f64>(&loss, &q, Some(&r), &ql, &rl, f, Some(f64::INFINITY), 1e-12), 2);
            }
        }
        // A NaN reference: every row that reads it is declined (all but query 2,
        // whose pair with reference 2 is the removed diagonal).
        let loss = KerasCircle::new();
        let mut bad = r.clone();
        bad[2 * f] = f64::NAN;
        assert_eq!(lanes_agree::<f64>(&loss, &q, Some(&bad), &ql, &rl, f, Some(1.0), 1e-12), n - 1);
        let mut inf = r.clone();
        inf[f] = f64::NEG_INFINITY;
        let declined = lanes_agree::<f32>(&loss, &q, Some(&inf), &ql, &rl, f, Some(1.0), 1e-6);
        assert!(declined > 0, "an infinite product gives an infinite or NaN logit");
        // One class: no negatives, loss 0 and no gradient, on the vectorised row.
        let one = vec![3i32; n];
        assert_eq!(lanes_agree::<f64>(&loss, &q, None, &one, &one, f, Some(1.0), 1e-12), 0);
    }
}
