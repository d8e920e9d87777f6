//! Deep metric learning: pytorch-metric-learning's (`pml`) losses on `(N, D)`
//! embeddings and `(N,)` labels, computed as pml 2.9.0's loss objects compute
//! them: the classification losses with an angular margin and a learnable
//! class matrix `W` of shape `(D, C)` — ArcFace, CosFace and SphereFace — and
//! the pair losses over every pair of the batch by label, on each loss's
//! default distance — SupCon, Multi-Similarity and Circle on
//! `CosineSimilarity`, the lifted structure losses (Song et al.'s and the
//! generalized) on `LpDistance` (Euclidean), N-pairs on `DotProductSimilarity`.
//!
//! The pair matrices (similarities, distances) and the products of their
//! gradients are computed by blocks of anchors (rows) in parallel (rayon, with
//! the `rayon` feature, once a call is large), each entry by one sequential
//! loop in a fixed order: the results are bit-identical on any number of threads.
//!
//! Every loss here follows pml's structure: a per-element loss (one per
//! embedding) handed to a *reducer*. pml's losses have no reduction argument;
//! their default reducer is part of their semantics ([`MetricReducer`]): the
//! face losses take pml's `MeanReducer`. [`MetricReducer::None`] (the
//! per-element losses the reducer receives) is losslab's.
//!
//! Gradients are of the embeddings and of `W`, as pml's autograd gives them:
//! through the normalisations pml applies (`torch.nn.functional.normalize`,
//! `eps = 1e-12`, of the embeddings and of `W`'s columns), the `acos`/`cos` of
//! ArcFace, SphereFace's multiple-angle polynomial (with its sign index `k`
//! computed under `torch.no_grad()`) and SphereFace's embedding-norm scale.
//! Sums are accumulated in `f64`.

use crate::machinery::error::{check_option, shape_err, LossError, Result};
use crate::machinery::float::{narrow, ClassIndex, Float};
use crate::machinery::kernels::par::{self, SyncPtr};
use crate::machinery::reduction::sum_f64;
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension, IxDyn};

/// The reducer pml hands a loss's per-element losses to (its `reducers`
/// module). pml's losses have no reduction argument: each has a default
/// reducer (documented on each loss), and the others are `reducer=` arguments
/// of pml's constructors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricReducer {
    /// `MeanReducer`: the mean over every element (NaN included).
    Mean,
    /// `AvgNonZeroReducer`: the mean over the elements `> 0` (zero, and its
    /// gradient zero, when none is).
    AvgNonZero,
    /// `SumReducer`: the sum.
    Sum,
    /// losslab's: the per-element losses, unreduced (`(N,)`), as the reducer
    /// receives them (MultiSimilarity's and Circle's `(N, 1)` column flattened).
    None,
}

/// The gradients of a metric loss: of the embeddings and, for the losses that
/// have one, of the class matrix `W`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricGradients<T> {
    /// Gradient with respect to `embeddings` (its shape).
    pub embeddings: ArrayD<T>,
    /// Gradient with respect to `W` (its shape), for the losses with a class matrix.
    pub weight: Option<ArrayD<T>>,
}

// ---------------------------------------------------------------------------------------
// Reducers

/// The reduced output of per-element `values`.
fn reduce<T: Float>(values: &[f64], reducer: MetricReducer) -> ArrayD<T> {
    let scalar = |v: f64| ArrayD::from_elem(IxDyn(&[]), T::from_wide(v));
    match reducer {
        MetricReducer::None => narrow(&[values.len()], values.to_vec()),
        MetricReducer::Sum => scalar(sum_f64(values.iter().copied())),
        #[allow(clippy::cast_precision_loss)]
        MetricReducer::Mean => scalar(if values.is_empty() { 0.0 } else { sum_f64(values.iter().copied()) / values.len() as f64 }),
        MetricReducer::AvgNonZero => {
            let kept: Vec<f64> = values.iter().copied().filter(|&v| v > 0.0).collect();
            #[allow(clippy::cast_precision_loss)]
            scalar(if kept.is_empty() { 0.0 } else { sum_f64(kept.iter().copied()) / kept.len() as f64 })
        }
    }
}

/// The upstream gradient of each element's loss, from the reduced result's
/// `grad_output` (checked to have the result's shape).
fn element_grads<T: Float>(loss: &'static str, values: &[f64], reducer: MetricReducer, grad_output: &ArrayViewD<'_, T>) -> Result<Vec<f64>> {
    let n = values.len();
    if reducer == MetricReducer::None {
        if grad_output.shape() != [n] {
            return Err(shape_err(loss, "grad_output", format!("[{n}] (the shape of the result)"), grad_output.shape()));
        }
        return Ok(grad_output.iter().map(|v| v.to_wide()).collect());
    }
    if grad_output.len() != 1 || grad_output.ndim() > 1 {
        return Err(shape_err(loss, "grad_output", "[] (the shape of the result)", grad_output.shape()));
    }
    let g = grad_output.iter().next().expect("one element").to_wide();
    #[allow(clippy::cast_precision_loss)]
    Ok(match reducer {
        MetricReducer::Sum => vec![g; n],
        MetricReducer::Mean => vec![g / n.max(1) as f64; n],
        MetricReducer::AvgNonZero => {
            let count = values.iter().filter(|&&v| v > 0.0).count();
            values.iter().map(|&v| if v > 0.0 { g / count as f64 } else { 0.0 }).collect()
        }
        MetricReducer::None => unreachable!(),
    })
}

fn ones_for<T: Float>(n: usize, reducer: MetricReducer) -> ArrayD<T> {
    if reducer == MetricReducer::None {
        ArrayD::from_elem(IxDyn(&[n]), T::one())
    } else {
        ArrayD::from_elem(IxDyn(&[]), T::one())
    }
}

// ---------------------------------------------------------------------------------------
// Checks, normalisation, products

/// The embeddings, checked 2-D, widened: `(n, d, data)`.
fn embeddings_of<T: Float, D: Dimension>(loss: &'static str, e: &ArrayView<'_, T, D>) -> Result<(usize, usize, Vec<f64>)> {
    if e.ndim() != 2 {
        return Err(shape_err(loss, "embeddings", "(N, D) (2-D: pml's embeddings must be a 2D tensor of shape (batch_size, embedding_size))", e.shape()));
    }
    Ok((e.shape()[0], e.shape()[1], e.iter().map(|v| v.to_wide()).collect()))
}

/// The labels, checked 1-D with one per embedding.
fn labels_of<L: ClassIndex, D: Dimension>(loss: &'static str, labels: &ArrayView<'_, L, D>, n: usize) -> Result<Vec<i64>> {
    if labels.ndim() != 1 || labels.len() != n {
        return Err(shape_err(loss, "labels", format!("[{n}] (1-D, one label per embedding)"), labels.shape()));
    }
    Ok(labels.iter().map(|l| l.index()).collect())
}

/// `torch.nn.functional.normalize(x, p=2, dim=1)` of the `rows × d` matrix:
/// the normalised rows and each row's norm.
fn normalize_rows(x: &[f64], rows: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut out = vec![0.0; rows * d];
    let mut norms = vec![0.0; rows];
    for i in 0..rows {
        let r = &x[i * d..(i + 1) * d];
        let nrm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
        norms[i] = nrm;
        let den = nrm.max(NORMALIZE_EPS);
        for k in 0..d {
            out[i * d + k] = r[k] / den;
        }
    }
    (out, norms)
}

/// `F.normalize`'s `eps`.
const NORMALIZE_EPS: f64 = 1e-12;

/// The gradient of the rows through `F.normalize`: `(ĝ − x̂ (x̂·ĝ)) / ‖x‖`, or
/// `ĝ / eps` where the norm is clamped to `eps`.
fn normalize_backward(xhat: &[f64], norms: &[f64], ghat: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0.0; ghat.len()];
    for (i, &nrm) in norms.iter().enumerate() {
        let (xr, gr) = (&xhat[i * d..(i + 1) * d], &ghat[i * d..(i + 1) * d]);
        if nrm >= NORMALIZE_EPS {
            let dot: f64 = xr.iter().zip(gr).map(|(a, b)| a * b).sum();
            for k in 0..d {
                out[i * d + k] = (gr[k] - xr[k] * dot) / nrm;
            }
        } else {
            for k in 0..d {
                out[i * d + k] = gr[k] / NORMALIZE_EPS;
            }
        }
    }
    out
}

/// Rows of an output that one task of [`by_row_blocks`] computes.
const ROW_BLOCK: usize = 16;

/// Columns of an `(m, n)` pair matrix that [`mat_abt`] and [`mat_dist`] sweep
/// for one block of rows before moving on (the block's rows and these columns'
/// rows of `b` stay in cache).
const COL_BLOCK: usize = 64;

/// The row-major `(rows, cols)` matrix whose rows `lo..hi` are written by
/// `f(lo, hi, out)`, for blocks of [`ROW_BLOCK`] consecutive rows; the blocks run
/// in parallel (the crate's parallel loop: rayon, once the call's `work` is
/// large) and each entry is computed by the same sequential loop whatever the
/// thread count, so the results are bit-identical on any number of threads.
fn by_row_blocks(rows: usize, cols: usize, work: usize, f: impl Fn(usize, usize, &mut [f64]) + Sync + Send) -> Vec<f64> {
    let mut out = vec![0.0; rows * cols];
    let ptr = SyncPtr(out.as_mut_ptr());
    par::for_each(rows.div_ceil(ROW_BLOCK), work, |b| {
        let (lo, hi) = (b * ROW_BLOCK, ((b + 1) * ROW_BLOCK).min(rows));
        // SAFETY: the blocks' ranges of rows are disjoint and within `out`.
        let block = unsafe { std::slice::from_raw_parts_mut(ptr.add(lo * cols), (hi - lo) * cols) };
        f(lo, hi, block);
    });
    out
}

/// `out[i, j] = pair(a_i, b_j)` for the rows of `a` (`m × k`) and `b` (`n × k`),
/// row-major `m × n`: blocks of rows in parallel, each swept by blocks of
/// [`COL_BLOCK`] columns.
fn pair_matrix(a: &[f64], b: &[f64], m: usize, n: usize, k: usize, pair: impl Fn(&[f64], &[f64]) -> f64 + Sync + Send) -> Vec<f64> {
    by_row_blocks(m, n, m * n * k.max(1), |lo, hi, out| {
        for j0 in (0..n).step_by(COL_BLOCK) {
            let j1 = (j0 + COL_BLOCK).min(n);
            for i in lo..hi {
                let ar = &a[i * k..(i + 1) * k];
                let row = &mut out[(i - lo) * n..(i - lo + 1) * n];
                for j in j0..j1 {
                    row[j] = pair(ar, &b[j * k..(j + 1) * k]);
                }
            }
        }
    })
}

/// `a (m × k) · bᵀ (b: n × k)`, row-major `m × n` (each entry's dot product in order).
fn mat_abt(a: &[f64], b: &[f64], m: usize, n: usize, k: usize) -> Vec<f64> {
    pair_matrix(a, b, m, n, k, |x, y| x.iter().zip(y).map(|(x, y)| x * y).sum())
}

/// The Euclidean distances `‖a_i − b_j‖` of the rows of `a` (`m × k`) and `b`
/// (`n × k`), row-major `m × n`, from the differences (0 exactly for equal rows).
fn mat_dist(a: &[f64], b: &[f64], m: usize, n: usize, k: usize) -> Vec<f64> {
    pair_matrix(a, b, m, n, k, |x, y| x.iter().zip(y).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt())
}

/// `g (m × n) · b (n × k)`, row-major `m × k`: rows in parallel, each row's sum in `j` order.
fn mat_gb(g: &[f64], b: &[f64], m: usize, n: usize, k: usize) -> Vec<f64> {
    by_row_blocks(m, k, m * n * k.max(1), |lo, hi, out| {
        for i in lo..hi {
            let o = &mut out[(i - lo) * k..(i - lo + 1) * k];
            for j in 0..n {
                let gij = g[i * n + j];
                if gij != 0.0 {
                    for (ov, bv) in o.iter_mut().zip(&b[j * k..(j + 1) * k]) {
                        *ov += gij * bv;
                    }
                }
            }
        }
    })
}

/// `gᵀ (g: m × n) · b (m × k)`, row-major `n × k`: output rows in parallel,
/// each one's sum in `i` order.
fn mat_gtb(g: &[f64], b: &[f64], m: usize, n: usize, k: usize) -> Vec<f64> {
    by_row_blocks(n, k, m * n * k.max(1), |lo, hi, out| {
        for i in 0..m {
            let br = &b[i * k..(i + 1) * k];
            for j in lo..hi {
                let gij = g[i * n + j];
                if gij != 0.0 {
                    for (ov, bv) in out[(j - lo) * k..(j - lo + 1) * k].iter_mut().zip(br) {
                        *ov += gij * bv;
                    }
                }
            }
        }
    })
}

/// `logsumexp` of a row (`torch.logsumexp`: the maximum where it is ±inf or NaN).
fn lse(row: &[f64]) -> f64 {
    let m = row.iter().copied().fold(f64::NEG_INFINITY, |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) });
    if !m.is_finite() {
        return m;
    }
    m + row.iter().map(|&v| (v - m).exp()).sum::<f64>().ln()
}

// ---------------------------------------------------------------------------------------
// The angular-margin softmax losses

/// Which of pml's `LargeMarginSoftmaxLoss` subclasses.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Face {
    /// margin in radians.
    Arc(f64),
    Cos(f64),
    /// the integer multiplier.
    Sphere(u32),
}

/// The target-class logit before scaling, and its derivative in the cosine.
fn modify(face: Face, c: f64) -> (f64, f64) {
    let clamped = c.clamp(-1.0, 1.0);
    let pass = (-1.0..=1.0).contains(&c);
    match face {
        Face::Cos(m) => (c - m, 1.0),
        Face::Arc(m) => {
            let theta = clamped.acos();
            // torch: acos backward −1/√(1 − c²); clamp passes inside [−1, 1]
            let dtheta = if pass { -1.0 / (1.0 - clamped * clamped).sqrt() } else { 0.0 };
            let pi = 180f64.to_radians();
            if theta <= pi - m {
                ((theta + m).cos(), -(theta + m).sin() * dtheta)
            } else {
                (theta.cos() - m * m.sin(), -theta.sin() * dtheta)
            }
        }
        Face::Sphere(m) => {
            let mf = f64::from(m);
            let theta = clamped.acos();
            // under no_grad: k = floor(θ / (π / m))
            let k = (theta / (std::f64::consts::PI / mf)).floor();
            let sign = if k.rem_euclid(2.0) == 0.0 { 1.0 } else { -1.0 };
            let s2 = 1.0 - c * c;
            let (mut v, mut dv) = (0.0, 0.0);
            for n in 0..=(m / 2) {
                let (nf, p) = (f64::from(n), f64::from(m - 2 * n));
                let coef = (if n % 2 == 0 { 1.0 } else { -1.0 }) * binom(m, 2 * n);
                let (cp, sp) = (c.powf(p), s2.powf(nf));
                v += coef * cp * sp;
                let dcp = if p == 0.0 { 0.0 } else { p * c.powf(p - 1.0) };
                let dsp = if nf == 0.0 { 0.0 } else { nf * s2.powf(nf - 1.0) * (-2.0 * c) };
                dv += coef * (dcp * sp + cp * dsp);
            }
            (sign * v - 2.0 * k, sign * dv)
        }
    }
}

/// `scipy.special.binom(n, k)` for small integers.
fn binom(n: u32, k: u32) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * f64::from(n - i) / f64::from(i + 1))
}

/// The shared computation of the three losses: the per-element losses and,
/// from the per-element upstream gradients, the gradients.
struct FaceProblem {
    n: usize,
    d: usize,
    c: usize,
    e_hat: Vec<f64>,
    e_norm: Vec<f64>,
    w_hat: Vec<f64>,
    w_norm: Vec<f64>,
    labels: Vec<usize>,
    /// per row: the modified logits before the scale (cos + mask·diff)
    pre: Vec<f64>,
    /// per row: the scale of its logits
    row_scale: Vec<f64>,
    /// per row: the derivative of the target's modified cosine
    dmod: Vec<f64>,
    /// per row: logsumexp of the scaled logits
    lse: Vec<f64>,
    values: Vec<f64>,
}

impl FaceProblem {
    fn new<T: Float, L: ClassIndex, D: Dimension, DL: Dimension, DW: Dimension>(
        loss: &'static str,
        face: Face,
        scale: f64,
        embeddings: &ArrayView<'_, T, D>,
        labels: &ArrayView<'_, L, DL>,
        weight: &ArrayView<'_, T, DW>,
    ) -> Result<FaceProblem> {
        let (n, d, e) = embeddings_of(loss, embeddings)?;
        let raw = labels_of(loss, labels, n)?;
        if weight.ndim() != 2 || weight.shape()[0] != d {
            return Err(shape_err(loss, "W", format!("({d}, num_classes) (2-D: embedding_size × num_classes)"), weight.shape()));
        }
        let c = weight.shape()[1];
        let mut lab = Vec::with_capacity(n);
        for (i, &l) in raw.iter().enumerate() {
            match usize::try_from(l) {
                Ok(u) if u < c => lab.push(u),
                _ => return Err(LossError::ClassIndex { loss, tensor: "labels", index: l, position: vec![i], classes: c, ignore_index: None }),
            }
        }
        // W.t(): (C, D), row-major
        let mut wt = vec![0.0; c * d];
        for ((k, j), v) in weight.view().into_dimensionality::<ndarray::Ix2>().expect("2-D").indexed_iter() {
            wt[j * d + k] = v.to_wide();
        }
        let (e_hat, e_norm) = normalize_rows(&e, n, d);
        let (w_hat, w_norm) = normalize_rows(&wt, c, d);
        let mut pre = mat_abt(&e_hat, &w_hat, n, c, d);
        let mut row_scale = vec![scale; n];
        let mut dmod = vec![0.0; n];
        let mut lses = vec![0.0; n];
        let mut values = vec![0.0; n];
        for i in 0..n {
            let y = lab[i];
            let cy = pre[i * c + y];
            let (mv, md) = modify(face, cy);
            dmod[i] = md;
            pre[i * c + y] = cy + (mv - cy);
            if let Face::Sphere(_) = face {
                row_scale[i] = e_norm[i] * scale;
            }
            let row: Vec<f64> = pre[i * c..(i + 1) * c].iter().map(|v| v * row_scale[i]).collect();
            lses[i] = lse(&row);
            values[i] = lses[i] - row[y];
        }
        Ok(FaceProblem { n, d, c, e_hat, e_norm, w_hat, w_norm, labels: lab, pre, row_scale, dmod, lse: lses, values })
    }

    fn grads<T: Float>(&self, sphere: bool, scale: f64, g: &[f64], e_shape: &[usize], w_shape: &[usize]) -> MetricGradients<T> {
        let (n, d, c) = (self.n, self.d, self.c);
        // dL/dcos
        let mut gc = vec![0.0; n * c];
        let mut gnorm = vec![0.0; n];
        for i in 0..n {
            if g[i] == 0.0 {
                continue;
            }
            let y = self.labels[i];
            let s = self.row_scale[i];
            let mut dpre_dot = 0.0;
            for j in 0..c {
                let p = (self.pre[i * c + j] * s - self.lse[i]).exp();
                let dl = g[i] * (p - if j == y { 1.0 } else { 0.0 });
                dpre_dot += dl * self.pre[i * c + j];
                let dpre = dl * s;
                gc[i * c + j] = if j == y { dpre * self.dmod[i] } else { dpre };
            }
            if sphere {
                // logits · ‖e‖ · scale: d/d‖e‖
                gnorm[i] = dpre_dot * scale;
            }
        }
        let ge_hat = mat_gb(&gc, &self.w_hat, n, c, d);
        let gw_hat = mat_gtb(&gc, &self.e_hat, n, c, d);
        let mut ge = normalize_backward(&self.e_hat, &self.e_norm, &ge_hat, d);
        if sphere {
            // torch.norm's backward: e / ‖e‖ (0 where the norm is 0)
            for i in 0..n {
                if self.e_norm[i] > 0.0 && gnorm[i] != 0.0 {
                    let den = self.e_norm[i].max(NORMALIZE_EPS);
                    for k in 0..d {
                        // e_hat · den / ‖e‖ = e / ‖e‖
                        ge[i * d + k] += gnorm[i] * self.e_hat[i * d + k] * den / self.e_norm[i];
                    }
                }
            }
        }
        let gwt = normalize_backward(&self.w_hat, &self.w_norm, &gw_hat, d);
        let mut gw = vec![0.0; d * c];
        for j in 0..c {
            for k in 0..d {
                gw[k * c + j] = gwt[j * d + k];
            }
        }
        MetricGradients { embeddings: narrow(e_shape, ge), weight: Some(narrow(w_shape, gw)) }
    }
}

/// Writes the setters, `forward`, `backward` and `forward_backward` of a face loss.
macro_rules! face_methods {
    () => {
        /// Sets the scale `s` of the logits.
        #[must_use]
        pub fn scale(mut self, scale: f64) -> Self {
            self.scale = scale;
            self
        }

        /// Sets the reducer (pml's `reducer=`).
        #[must_use]
        pub fn reducer(mut self, reducer: MetricReducer) -> Self {
            self.reducer = reducer;
            self
        }

        fn problem<T: Float, L: ClassIndex, D: Dimension, DL: Dimension, DW: Dimension>(
            &self,
            embeddings: &ArrayView<'_, T, D>,
            labels: &ArrayView<'_, L, DL>,
            weight: &ArrayView<'_, T, DW>,
        ) -> Result<FaceProblem> {
            check_option(Self::NAME, "scale", self.scale, self.scale.is_finite(), "a finite number")?;
            let face = self.face()?;
            FaceProblem::new(Self::NAME, face, self.scale, embeddings, labels, weight)
        }

        /// The loss, reduced by `self.reducer`.
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward<T: Float, L: ClassIndex, D: Dimension, DL: Dimension, DW: Dimension>(
            &self,
            embeddings: ArrayView<'_, T, D>,
            labels: ArrayView<'_, L, DL>,
            weight: ArrayView<'_, T, DW>,
        ) -> Result<ArrayD<T>> {
            let p = self.problem(&embeddings, &labels, &weight)?;
            Ok(reduce(&p.values, self.reducer))
        }

        /// The gradients of `Σ grad_output · loss` (`grad_output` has the result's
        /// shape) with respect to `embeddings` and `W`.
        ///
        /// # Errors
        /// See the type's docs; also [`LossError::Shape`](crate::LossError::Shape)
        /// if `grad_output` does not have the result's shape.
        pub fn backward<T: Float, L: ClassIndex, D: Dimension, DL: Dimension, DW: Dimension>(
            &self,
            embeddings: ArrayView<'_, T, D>,
            labels: ArrayView<'_, L, DL>,
            weight: ArrayView<'_, T, DW>,
            grad_output: ArrayViewD<'_, T>,
        ) -> Result<MetricGradients<T>> {
            let p = self.problem(&embeddings, &labels, &weight)?;
            let g = element_grads(Self::NAME, &p.values, self.reducer, &grad_output)?;
            Ok(p.grads(self.is_sphere(), self.scale, &g, embeddings.shape(), weight.shape()))
        }

        /// The loss and its gradients (of the result's sum when unreduced).
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward_backward<T: Float, L: ClassIndex, D: Dimension, DL: Dimension, DW: Dimension>(
            &self,
            embeddings: ArrayView<'_, T, D>,
            labels: ArrayView<'_, L, DL>,
            weight: ArrayView<'_, T, DW>,
        ) -> Result<(ArrayD<T>, MetricGradients<T>)> {
            let p = self.problem(&embeddings, &labels, &weight)?;
            let value = reduce(&p.values, self.reducer);
            let ones = ones_for::<T>(p.n, self.reducer);
            let g = element_grads(Self::NAME, &p.values, self.reducer, &ones.view())?;
            Ok((value, p.grads(self.is_sphere(), self.scale, &g, embeddings.shape(), weight.shape())))
        }
    };
}

/// ArcFace (additive angular margin), pml's `ArcFaceLoss`: the cross entropy
/// of scaled cosines between the normalised embeddings and the normalised
/// columns of the class matrix `W`, the target class's angle widened by `m`.
///
/// ```text
/// cos θᵢⱼ = êᵢ · ŵⱼ          ê = e/‖e‖, ŵⱼ = W[:, j]/‖W[:, j]‖ (F.normalize, eps 1e-12)
/// θ = acos(clamp(cos θ, −1, 1)),  m = radians(margin)
/// ψ(θ) = cos(θ + m)  if θ ≤ π − m,  else cos θ − m·sin m
/// ℓᵢ = cross_entropy(s · [cos θᵢⱼ, with ψ(θᵢ,yᵢ) at j = yᵢ], yᵢ)
/// loss = MeanReducer: (1/N) Σᵢ ℓᵢ
/// ```
///
/// `margin` is in **degrees**, as pml takes it (default 28.6°, about 0.5 rad);
/// `scale` `s` defaults to 64. The fallback `cos θ − m sin m` past `π − m`
/// keeps the logit decreasing (pml's choice; InsightFace's uses `cos θ − m sin m`
/// past another threshold). The gradient of the target logit runs through the
/// `acos` (infinite at `cos θ = ±1`, as in PyTorch; zero outside `[−1, 1]`, the
/// clamp's). The reducer defaults to pml's `MeanReducer` over the `N` embeddings.
///
/// # Errors
/// [`LossError::Shape`](crate::LossError::Shape) if `embeddings` is not 2-D,
/// `labels` is not `(N,)` or `W` is not `(D, C)`;
/// [`LossError::ClassIndex`](crate::LossError::ClassIndex) for a label outside `[0, C)`;
/// [`LossError::Option`](crate::LossError::Option) for a non-finite margin or scale.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::pml::ArcFaceLoss;
/// // two classes along the axes; the embedding on class 0's axis
/// let e = array![[2.0f64, 0.0]];
/// let w = array![[1.0f64, 0.0], [0.0, 1.0]];
/// let l = ArcFaceLoss::new().margin(30.0).scale(2.0).forward(e.view(), array![0i64].view(), w.view()).unwrap();
/// // logits: s·cos(0 + 30°) for class 0, s·cos 90° = 0 for class 1
/// let t = 2.0 * 30f64.to_radians().cos();
/// assert!((l[[]] - ((t.exp() + 1.0).ln() - t)).abs() < 1e-12);
/// ```
///
/// # References
/// J. Deng, J. Guo, N. Xue, S. Zafeiriou, "ArcFace: Additive Angular Margin Loss
/// for Deep Face Recognition", CVPR 2019; pytorch-metric-learning
/// `pytorch_metric_learning.losses.ArcFaceLoss`
/// (<https://github.com/KevinMusgrave/pytorch-metric-learning/blob/master/src/pytorch_metric_learning/losses/arcface_loss.py>), 2.9.0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ArcFaceLoss {
    /// The additive angular margin, in degrees (default 28.6).
    pub margin: f64,
    /// The scale of the logits (default 64).
    pub scale: f64,
    /// The reducer (default `Mean`, pml's `MeanReducer`).
    pub reducer: MetricReducer,
}

impl Default for ArcFaceLoss {
    fn default() -> Self {
        ArcFaceLoss { margin: 28.6, scale: 64.0, reducer: MetricReducer::Mean }
    }
}

impl ArcFaceLoss {
    const NAME: &'static str = "arc_face";

    /// pml's defaults: margin 28.6°, scale 64, `MeanReducer`.
    pub fn new() -> Self {
        Self::default()
    }

    crate::machinery::methods::setters!(
        /// Sets the margin, in degrees.
        margin: f64
    );

    fn face(&self) -> Result<Face> {
        check_option(Self::NAME, "margin", self.margin, self.margin.is_finite(), "a finite number of degrees")?;
        // np.radians: x · (π / 180)
        Ok(Face::Arc(self.margin * (std::f64::consts::PI / 180.0)))
    }

    fn is_sphere(&self) -> bool {
        false
    }

    face_methods!();
}

/// CosFace (additive cosine margin, "large margin cosine loss"), pml's
/// `CosFaceLoss`: the cross entropy of scaled cosines, the target's lowered by `m`.
///
/// ```text
/// cos θᵢⱼ = êᵢ · ŵⱼ          (normalised embeddings and columns of W, F.normalize)
/// ℓᵢ = cross_entropy(s · [cos θᵢⱼ − m·[j = yᵢ]], yᵢ)
/// loss = MeanReducer: (1/N) Σᵢ ℓᵢ
/// ```
///
/// Defaults `margin` 0.35 (a cosine, not an angle), `scale` 64, pml's `MeanReducer`.
///
/// # Errors
/// As [`ArcFaceLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::pml::CosFaceLoss;
/// let e = array![[3.0f64, 0.0]];
/// let w = array![[1.0f64, 0.0], [0.0, 2.0]];
/// let l = CosFaceLoss::new().margin(0.5).scale(4.0).forward(e.view(), array![0i64].view(), w.view()).unwrap();
/// // logits 4·(1 − 0.5) = 2 and 0
/// assert!((l[[]] - ((2f64.exp() + 1.0).ln() - 2.0)).abs() < 1e-12);
/// ```
///
/// # References
/// H. Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face
/// Recognition", CVPR 2018; pytorch-metric-learning
/// `pytorch_metric_learning.losses.CosFaceLoss`, 2.9.0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CosFaceLoss {
    /// The additive cosine margin (default 0.35).
    pub margin: f64,
    /// The scale of the logits (default 64).
    pub scale: f64,
    /// The reducer (default `Mean`, pml's `MeanReducer`).
    pub reducer: MetricReducer,
}

impl Default for CosFaceLoss {
    fn default() -> Self {
        CosFaceLoss { margin: 0.35, scale: 64.0, reducer: MetricReducer::Mean }
    }
}

impl CosFaceLoss {
    const NAME: &'static str = "cos_face";

    /// pml's defaults: margin 0.35, scale 64, `MeanReducer`.
    pub fn new() -> Self {
        Self::default()
    }

    crate::machinery::methods::setters!(
        /// Sets the cosine margin.
        margin: f64
    );

    fn face(&self) -> Result<Face> {
        check_option(Self::NAME, "margin", self.margin, self.margin.is_finite(), "a finite number")?;
        Ok(Face::Cos(self.margin))
    }

    fn is_sphere(&self) -> bool {
        false
    }

    face_methods!();
}

/// SphereFace (multiplicative angular margin, A-Softmax), pml's
/// `SphereFaceLoss`: the target's angle multiplied by the integer `m` through
/// the multiple-angle formula, the logits scaled by the embedding's norm.
///
/// ```text
/// cos θᵢⱼ = êᵢ · ŵⱼ              (normalised embeddings and columns of W)
/// k = ⌊θ / (π/m)⌋                 (θ = acos(clamp(cos θ, −1, 1)), under no_grad)
/// ψ(θ) = (−1)ᵏ cos(mθ) − 2k,   cos(mθ) = Σₙ (−1)ⁿ C(m, 2n) cosᵐ⁻²ⁿθ (1 − cos²θ)ⁿ
/// ℓᵢ = cross_entropy(s · ‖eᵢ‖ · [cos θᵢⱼ, with ψ at j = yᵢ], yᵢ)
/// loss = MeanReducer: (1/N) Σᵢ ℓᵢ
/// ```
///
/// As pml: `margin` is the **integer multiplier** `m` (default 4; pml truncates
/// it with `int()`, so 4.7 is 4), not an angle; `scale` defaults to 1. The
/// logits are scaled by the embedding's norm `‖eᵢ‖` only (the paper's A-Softmax
/// normalises `W`, and pml's `SphereFaceLoss` overrides the base class's scale by
/// both norms); the gradient flows through that norm and through the
/// polynomial in `cos θ` (not through `k`, computed under `no_grad`). A margin
/// whose integer part is below 1 is refused (pml divides by it: `ZeroDivisionError`).
///
/// # Errors
/// As [`ArcFaceLoss`]; [`LossError::Option`](crate::LossError::Option) if `int(margin) < 1`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::pml::SphereFaceLoss;
/// let e = array![[0.0f64, 2.0]];
/// let w = array![[1.0f64, 0.0], [0.0, 1.0]];
/// // θ = 0 for the target (class 1): ψ = cos 0 = 1; logits 2·[0, 1]
/// let l = SphereFaceLoss::new().forward(e.view(), array![1i64].view(), w.view()).unwrap();
/// assert!((l[[]] - ((1.0 + 2f64.exp()).ln() - 2.0)).abs() < 1e-12);
/// ```
///
/// # References
/// W. Liu et al., "SphereFace: Deep Hypersphere Embedding for Face
/// Recognition", CVPR 2017; pytorch-metric-learning
/// `pytorch_metric_learning.losses.SphereFaceLoss` (on `LargeMarginSoftmaxLoss`), 2.9.0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SphereFaceLoss {
    /// The angular multiplier `m` (default 4; truncated to an integer).
    pub margin: f64,
    /// The scale of the logits (default 1).
    pub scale: f64,
    /// The reducer (default `Mean`, pml's `MeanReducer`).
    pub reducer: MetricReducer,
}

impl Default for SphereFaceLoss {
    fn default() -> Self {
        SphereFaceLoss { margin: 4.0, scale: 1.0, reducer: MetricReducer::Mean }
    }
}

impl SphereFaceLoss {
    const NAME: &'static str = "sphere_face";

    /// pml's defaults: margin 4, scale 1, `MeanReducer`.
    pub fn new() -> Self {
        Self::default()
    }

    crate::machinery::methods::setters!(
        /// Sets the multiplier `m` (truncated to an integer, as pml's `int(margin)`).
        margin: f64
    );

    fn face(&self) -> Result<Face> {
        let ok = self.margin.is_finite() && self.margin.trunc() >= 1.0 && self.margin.trunc() <= 64.0;
        check_option(Self::NAME, "margin", self.margin, ok, "a number whose integer part is between 1 and 64 (the multiplier m)")?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(Face::Sphere(self.margin.trunc() as u32))
    }

    fn is_sphere(&self) -> bool {
        true
    }

    face_methods!();
}

crate::machinery::methods::free_fn! {
    /// [`ArcFaceLoss`]'s result with pml's defaults: `ArcFaceLoss(num_classes, embedding_size)` with `loss.W = W`.
    pub fn arc_face(embeddings: float, labels: labels, weight: float_any) = ArcFaceLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let l = losslab::pml::arc_face(array![[0.6f64, 0.8]].view(), array![0i64].view(), array![[1.0f64, 0.0], [0.0, 1.0]].view()).unwrap();
        /// assert!(l[[]] > 0.0);
        /// ```
    }

    /// [`CosFaceLoss`]'s result with pml's defaults.
    pub fn cos_face(embeddings: float, labels: labels, weight: float_any) = CosFaceLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let l = losslab::pml::cos_face(array![[0.6f64, 0.8]].view(), array![0i64].view(), array![[1.0f64, 0.0], [0.0, 1.0]].view()).unwrap();
        /// assert!(l[[]] > 0.0);
        /// ```
    }

    /// [`SphereFaceLoss`]'s result with pml's defaults.
    pub fn sphere_face(embeddings: float, labels: labels, weight: float_any) = SphereFaceLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let l = losslab::pml::sphere_face(array![[0.6f64, 0.8]].view(), array![0i64].view(), array![[1.0f64, 0.0], [0.0, 1.0]].view()).unwrap();
        /// assert!(l[[]] > 0.0);
        /// ```
    }
}

// ---------------------------------------------------------------------------------------
// The pair losses: every pair of the batch, by label, on pml's distances

/// A pml distance of the pair losses: its matrix of every pair of the batch.
/// Both are computed by [`pair_matrix`]: blocks of anchors (rows) in parallel,
/// each entry by one sequential loop (the same bits on any thread count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Distance {
    /// `DotProductSimilarity`: `X Yᵀ` (`CosineSimilarity` is this on
    /// normalised embeddings), a similarity (pml's `is_inverted`).
    Dot { normalize: bool },
    /// `LpDistance(p=2, power=1)`: `torch.cdist(X, Y)`, the Euclidean distances.
    Euclidean { normalize: bool },
}

impl Distance {
    /// pml's `CosineSimilarity()`.
    const COSINE: Distance = Distance::Dot { normalize: true };

    fn normalize(self) -> bool {
        match self {
            Distance::Dot { normalize } | Distance::Euclidean { normalize } => normalize,
        }
    }

    /// The rows pml's distance compares: `F.normalize(x, p=2, dim=1)` of them
    /// (and their norms) when the distance normalises, the rows themselves otherwise.
    fn rows(self, x: Vec<f64>, rows: usize, d: usize) -> (Vec<f64>, Option<Vec<f64>>) {
        if self.normalize() {
            let (xhat, norms) = normalize_rows(&x, rows, d);
            (xhat, Some(norms))
        } else {
            (x, None)
        }
    }

    /// The `(m, n)` matrix of the rows of `a` and `b` (already through [`Distance::rows`]).
    fn matrix(self, a: &[f64], b: &[f64], m: usize, n: usize, d: usize) -> Vec<f64> {
        match self {
            Distance::Dot { .. } => mat_abt(a, b, m, n, d),
            Distance::Euclidean { .. } => mat_dist(a, b, m, n, d),
        }
    }

    /// The gradient of the rows of `a` and of `b` from `G = ∂/∂M` (`(m, n)`)
    /// of the matrix `mat`: for the dot product `G B` and `Gᵀ A`; for the
    /// distance `Σⱼ Hᵢⱼ (aᵢ − bⱼ)` and `Σᵢ Hᵢⱼ (bⱼ − aᵢ)`, `H = G / M` (0 where
    /// `M = 0`: `cdist`'s backward, its subgradient at 0).
    #[allow(clippy::too_many_arguments)]
    fn backward(self, g: &[f64], mat: &[f64], a: &[f64], b: &[f64], m: usize, n: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
        match self {
            Distance::Dot { .. } => (mat_gb(g, b, m, n, d), mat_gtb(g, a, m, n, d)),
            Distance::Euclidean { .. } => {
                let h: Vec<f64> = g.iter().zip(mat).map(|(&g, &dist)| if dist == 0.0 || g == 0.0 { 0.0 } else { g / dist }).collect();
                let rows_h = by_row_blocks(m, 1, m * n, |lo, hi, out| {
                    for i in lo..hi {
                        out[i - lo] = h[i * n..(i + 1) * n].iter().sum();
                    }
                });
                let cols_h = by_row_blocks(n, 1, m * n, |lo, hi, out| {
                    for j in lo..hi {
                        out[j - lo] = (0..m).map(|i| h[i * n + j]).sum();
                    }
                });
                let mut ga = mat_gb(&h, b, m, n, d);
                for (i, r) in ga.chunks_mut(d.max(1)).enumerate().take(m) {
                    for (k, v) in r.iter_mut().enumerate() {
                        *v = a[i * d + k] * rows_h[i] - *v;
                    }
                }
                let mut gb = mat_gtb(&h, a, m, n, d);
                for (j, r) in gb.chunks_mut(d.max(1)).enumerate().take(n) {
                    for (k, v) in r.iter_mut().enumerate() {
                        *v = b[j * d + k] * cols_h[j] - *v;
                    }
                }
                (ga, gb)
            }
        }
    }
}

/// pml's distance matrix of every pair of the batch (the loss's distance of
/// the embeddings with themselves), the labels, and what the gradient of the
/// matrix becomes.
struct Pairs {
    n: usize,
    d: usize,
    dist: Distance,
    /// the rows the distance compares (normalised where it normalises)
    x: Vec<f64>,
    /// the embeddings' norms, where the distance normalises
    norms: Option<Vec<f64>>,
    labels: Vec<i64>,
    /// `(N, N)` similarities or distances, row-major.
    s: Vec<f64>,
}

impl Pairs {
    fn new<T: Float, L: ClassIndex, D: Dimension, DL: Dimension>(loss: &'static str, embeddings: &ArrayView<'_, T, D>, labels: &ArrayView<'_, L, DL>, dist: Distance) -> Result<Pairs> {
        let (n, d, e) = embeddings_of(loss, embeddings)?;
        let labels = labels_of(loss, labels, n)?;
        let (x, norms) = dist.rows(e, n, d);
        let s = dist.matrix(&x, &x, n, n, d);
        Ok(Pairs { n, d, dist, x, norms, labels, s })
    }

    /// A positive pair: same label, not the same element.
    fn pos(&self, i: usize, j: usize) -> bool {
        i != j && self.labels[i] == self.labels[j]
    }

    /// A negative pair: different labels.
    fn neg(&self, i: usize, j: usize) -> bool {
        self.labels[i] != self.labels[j]
    }

    /// pml's `GenericPairLoss`: no loss when the batch has at most one positive
    /// and at most one negative (ordered) pair.
    fn too_few(&self) -> bool {
        let (mut p, mut q) = (0usize, 0usize);
        for i in 0..self.n {
            for j in 0..self.n {
                p += usize::from(self.pos(i, j));
                q += usize::from(self.neg(i, j));
            }
        }
        p <= 1 && q <= 1
    }

    /// The embeddings' gradient from `G = ∂/∂S` (`(N, N)`): the distance's
    /// backward for both of its arguments (the embeddings twice), then `F.normalize`'s.
    fn grads<T: Float>(&self, g: &[f64], shape: &[usize]) -> MetricGradients<T> {
        let (n, d) = (self.n, self.d);
        let (mut ge, gt) = self.dist.backward(g, &self.s, &self.x, &self.x, n, n, d);
        ge.iter_mut().zip(&gt).for_each(|(a, b)| *a += b);
        MetricGradients { embeddings: narrow(shape, rows_backward(&self.x, self.norms.as_deref(), ge, d)), weight: None }
    }
}

/// The gradient of the embeddings from that of the rows a distance compared:
/// `F.normalize`'s backward where it normalised.
fn rows_backward(x: &[f64], norms: Option<&[f64]>, g: Vec<f64>, d: usize) -> Vec<f64> {
    match norms {
        Some(norms) => normalize_backward(x, norms, &g, d),
        None => g,
    }
}

/// pml's `lmu.logsumexp` over the entries of `row` that `keep` keeps (the others
/// filled with the dtype's lowest finite value), with a zero appended when
/// `add_one`; 0 where nothing is kept. Returns the value and each entry's
/// softmax weight (0 for the entries not kept).
fn masked_lse(row: &[f64], keep: impl Fn(usize) -> bool, add_one: bool, lowest: f64) -> (f64, Vec<f64>) {
    let kept = (0..row.len()).any(&keep);
    if !kept {
        return (0.0, vec![0.0; row.len()]);
    }
    let x: Vec<f64> = row.iter().enumerate().map(|(j, &v)| if keep(j) { v } else { lowest }).collect();
    let mut all = x.clone();
    if add_one {
        all.push(0.0);
    }
    let v = lse(&all);
    let w = x.iter().enumerate().map(|(j, &xj)| if keep(j) { (xj - v).exp() } else { 0.0 }).collect();
    (v, w)
}

/// The lowest finite value of `T` (pml's `c_f.neg_inf(dtype)`, `torch.finfo(dtype).min`).
fn lowest<T: Float>() -> f64 {
    T::min_value().to_wide()
}

/// Writes the reducer setter, `forward`, `backward` and `forward_backward` of a
/// pair loss from its `distance()`, `values(&Pairs, lowest)` (the per-element
/// losses the reducer receives) and `grad_s(&Pairs, per-element upstream
/// gradients, lowest)` (the gradient of the distance matrix).
macro_rules! pair_methods {
    () => {
        /// Sets the reducer (pml's `reducer=`).
        #[must_use]
        pub fn reducer(mut self, reducer: MetricReducer) -> Self {
            self.reducer = reducer;
            self
        }

        /// The loss, reduced by `self.reducer`.
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward<T: Float, L: ClassIndex, D: Dimension, DL: Dimension>(&self, embeddings: ArrayView<'_, T, D>, labels: ArrayView<'_, L, DL>) -> Result<ArrayD<T>> {
            self.check()?;
            let p = Pairs::new(Self::NAME, &embeddings, &labels, self.distance())?;
            let values = self.values(&p, lowest::<T>());
            Ok(reduce(&values, self.reducer))
        }

        /// The gradient of `Σ grad_output · loss` (`grad_output` has the result's
        /// shape) with respect to `embeddings`.
        ///
        /// # Errors
        /// See the type's docs; also [`LossError::Shape`](crate::LossError::Shape)
        /// if `grad_output` does not have the result's shape.
        pub fn backward<T: Float, L: ClassIndex, D: Dimension, DL: Dimension>(
            &self,
            embeddings: ArrayView<'_, T, D>,
            labels: ArrayView<'_, L, DL>,
            grad_output: ArrayViewD<'_, T>,
        ) -> Result<MetricGradients<T>> {
            self.check()?;
            let p = Pairs::new(Self::NAME, &embeddings, &labels, self.distance())?;
            let values = self.values(&p, lowest::<T>());
            let g = element_grads(Self::NAME, &values, self.reducer, &grad_output)?;
            Ok(p.grads(&self.grad_s(&p, &g, lowest::<T>()), embeddings.shape()))
        }

        /// The loss and its gradient (of the result's sum when unreduced).
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward_backward<T: Float, L: ClassIndex, D: Dimension, DL: Dimension>(
            &self,
            embeddings: ArrayView<'_, T, D>,
            labels: ArrayView<'_, L, DL>,
        ) -> Result<(ArrayD<T>, MetricGradients<T>)> {
            self.check()?;
            let p = Pairs::new(Self::NAME, &embeddings, &labels, self.distance())?;
            let values = self.values(&p, lowest::<T>());
            let ones = ones_for::<T>(values.len(), self.reducer);
            let g = element_grads(Self::NAME, &values, self.reducer, &ones.view())?;
            Ok((reduce(&values, self.reducer), p.grads(&self.grad_s(&p, &g, lowest::<T>()), embeddings.shape())))
        }
    };
}

/// The supervised contrastive loss, pml's `SupConLoss` (default distance
/// `CosineSimilarity`, no miner: every pair of the batch by its labels).
///
/// ```text
/// sᵢⱼ = êᵢ · êⱼ / τ,  s'ᵢⱼ = sᵢⱼ − maxⱼ sᵢⱼ (detached; the row's maximum, the diagonal included)
/// log pᵢⱼ = s'ᵢⱼ − log Σ_{k ≠ i} exp s'ᵢₖ
/// ℓᵢ = − Σ_{j ∈ P(i)} log pᵢⱼ / (|P(i)| + tiny)        P(i): the other samples of i's class
/// loss = AvgNonZeroReducer: the mean of the ℓᵢ > 0
/// ```
///
/// As pml: a batch without any positive pair or without any negative pair has
/// loss 0 (gradient 0); an anchor without positives has `ℓᵢ = 0`, which the
/// default reducer (`AvgNonZeroReducer`) leaves out of the mean. `tiny` is the
/// dtype's smallest normal number (`torch.finfo(dtype).tiny`); the row maximum
/// is detached (it cancels in the gradient). The denominator runs over every
/// other sample (positives and negatives).
///
/// # Errors
/// [`LossError::Shape`](crate::LossError::Shape) if `embeddings` is not 2-D or
/// `labels` is not `(N,)`; [`LossError::Option`](crate::LossError::Option) for a
/// temperature that is not a finite non-zero number.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::pml::SupConLoss;
/// // two classes, two samples each, orthogonal pairs of pairs
/// let e = array![[1.0f64, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]];
/// let l = SupConLoss::new().temperature(1.0).forward(e.view(), array![0i64, 0, 1, 1].view()).unwrap();
/// // each anchor: −log(e¹ / (e¹ + 2e⁰))
/// let want = -(1f64.exp() / (1f64.exp() + 2.0)).ln();
/// assert!((l[[]] - want).abs() < 1e-12);
/// ```
///
/// # References
/// P. Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020;
/// pytorch-metric-learning `pytorch_metric_learning.losses.SupConLoss`, 2.9.0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SupConLoss {
    /// The temperature τ (default 0.1).
    pub temperature: f64,
    /// The reducer (default `AvgNonZero`, pml's `AvgNonZeroReducer`).
    pub reducer: MetricReducer,
}

impl Default for SupConLoss {
    fn default() -> Self {
        SupConLoss { temperature: 0.1, reducer: MetricReducer::AvgNonZero }
    }
}

impl SupConLoss {
    const NAME: &'static str = "sup_con";

    /// pml's defaults: temperature 0.1, `AvgNonZeroReducer`.
    pub fn new() -> Self {
        Self::default()
    }

    crate::machinery::methods::setters!(
        /// Sets the temperature τ.
        temperature: f64
    );

    fn check(&self) -> Result<()> {
        let t = self.temperature;
        check_option(Self::NAME, "temperature", t, t.is_finite() && t != 0.0, "a finite non-zero number")
    }

    fn active(p: &Pairs) -> bool {
        let n = p.n;
        let (mut any_p, mut any_n) = (false, false);
        for i in 0..n {
            for j in 0..n {
                any_p |= p.pos(i, j);
                any_n |= p.neg(i, j);
            }
        }
        !p.too_few() && any_p && any_n
    }

    /// Per row: the log-softmax denominator and the shifted logits.
    fn row(&self, p: &Pairs, i: usize, lowest: f64) -> (Vec<f64>, f64, Vec<f64>) {
        let n = p.n;
        let m: Vec<f64> = p.s[i * n..(i + 1) * n].iter().map(|v| v / self.temperature).collect();
        let mx = m.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let m: Vec<f64> = m.iter().map(|v| v - mx).collect();
        let (den, w) = masked_lse(&m, |j| j != i, false, lowest);
        (m, den, w)
    }

    fn values(&self, p: &Pairs, lowest: f64) -> Vec<f64> {
        let n = p.n;
        if !Self::active(p) {
            return vec![0.0; n];
        }
        (0..n)
            .map(|i| {
                let (m, den, _) = self.row(p, i, lowest);
                let count = (0..n).filter(|&j| p.pos(i, j)).count();
                let s = sum_f64((0..n).filter(|&j| p.pos(i, j)).map(|j| m[j] - den));
                #[allow(clippy::cast_precision_loss)]
                let v = -(s / (count as f64 + tiny(lowest)));
                v
            })
            .collect()
    }

    fn grad_s(&self, p: &Pairs, g: &[f64], lowest: f64) -> Vec<f64> {
        let n = p.n;
        let mut out = vec![0.0; n * n];
        if !Self::active(p) {
            return out;
        }
        for i in 0..n {
            let count = (0..n).filter(|&j| p.pos(i, j)).count();
            if count == 0 || g[i] == 0.0 {
                continue;
            }
            let (_, _, w) = self.row(p, i, lowest);
            #[allow(clippy::cast_precision_loss)]
            let c = count as f64;
            for j in 0..n {
                if j == i {
                    continue;
                }
                let pos = if p.pos(i, j) { 1.0 } else { 0.0 };
                out[i * n + j] = g[i] * (c * w[j] - pos) / (c + tiny(lowest)) / self.temperature;
            }
        }
        out
    }

    /// pml's default distance, `CosineSimilarity()`.
    fn distance(&self) -> Distance {
        Distance::COSINE
    }

    pair_methods!();
}

/// `torch.finfo(dtype).tiny` from the dtype's lowest value (`f32` or `f64`).
fn tiny(lowest: f64) -> f64 {
    if lowest == f64::MIN {
        f64::MIN_POSITIVE
    } else {
        f64::from(f32::MIN_POSITIVE)
    }
}

/// The multi-similarity loss, pml's `MultiSimilarityLoss` (default distance
/// `CosineSimilarity`, every pair of the batch by its labels).
///
/// ```text
/// sᵢⱼ = êᵢ · êⱼ
/// ℓᵢ = (1/α) log(1 + Σ_{j ∈ P(i)} exp(−α (sᵢⱼ − λ))) + (1/β) log(1 + Σ_{j ∈ N(i)} exp(β (sᵢⱼ − λ)))
/// loss = MeanReducer: (1/N) Σᵢ ℓᵢ
/// ```
///
/// Defaults `alpha` 2, `beta` 50, `base` λ = 0.5. pml's version has no pair
/// mining (the paper's hard-pair selection is pml's separate
/// `MultiSimilarityMiner`); an anchor without positives (negatives) has a zero
/// positive (negative) term, and the mean runs over all `N` anchors.
///
/// # Errors
/// As [`SupConLoss`]; `alpha` and `beta` must be finite and non-zero, `base` finite.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::pml::MultiSimilarityLoss;
/// let e = array![[1.0f64, 0.0], [1.0, 0.0]];
/// // one class: s = 1 for the positive, no negatives
/// let l = MultiSimilarityLoss::new().forward(e.view(), array![0i64, 0].view()).unwrap();
/// let want = 0.5 * (1.0 + (-2.0f64 * 0.5).exp()).ln();
/// assert!((l[[]] - want).abs() < 1e-12);
/// ```
///
/// # References
/// X. Wang, X. Han, W. Huang, D. Dong, M. R. Scott, "Multi-Similarity Loss with
/// General Pair Weighting for Deep Metric Learning", CVPR 2019;
/// pytorch-metric-learning `pytorch_metric_learning.losses.MultiSimilarityLoss`, 2.9.0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MultiSimilarityLoss {
    /// The positive pairs' exponent weight α (default 2).
    pub alpha: f64,
    /// The negative pairs' exponent weight β (default 50).
    pub beta: f64,
    /// The similarity offset λ (default 0.5).
    pub base: f64,
    /// The reducer (default `Mean`, pml's `MeanReducer`).
    pub reducer: MetricReducer,
}

impl Default for MultiSimilarityLoss {
    fn default() -> Self {
        MultiSimilarityLoss { alpha: 2.0, beta: 50.0, base: 0.5, reducer: MetricReducer::Mean }
    }
}

impl MultiSimilarityLoss {
    const NAME: &'static str = "multi_similarity";

    /// pml's defaults: alpha 2, beta 50, base 0.5, `MeanReducer`.
    pub fn new() -> Self {
        Self::default()
    }

    crate::machinery::methods::setters!(
        /// Sets α.
        alpha: f64,
        /// Sets β.
        beta: f64,
        /// Sets the offset λ.
        base: f64
    );

    fn check(&self) -> Result<()> {
        check_option(Self::NAME, "alpha", self.alpha, self.alpha.is_finite() && self.alpha != 0.0, "a finite non-zero number")?;
        check_option(Self::NAME, "beta", self.beta, self.beta.is_finite() && self.beta != 0.0, "a finite non-zero number")?;
        check_option(Self::NAME, "base", self.base, self.base.is_finite(), "a finite number")
    }

    /// Row i's two terms and their softmax weights.
    fn row(&self, p: &Pairs, i: usize, lowest: f64) -> ((f64, Vec<f64>), (f64, Vec<f64>)) {
        let n = p.n;
        let r = &p.s[i * n..(i + 1) * n];
        // CosineSimilarity is inverted: margin(x, y) = y − x
        let xp: Vec<f64> = r.iter().map(|&s| self.alpha * (self.base - s)).collect();
        let xn: Vec<f64> = r.iter().map(|&s| self.beta * (s - self.base)).collect();
        (masked_lse(&xp, |j| p.pos(i, j), true, lowest), masked_lse(&xn, |j| p.neg(i, j), true, lowest))
    }

    fn values(&self, p: &Pairs, lowest: f64) -> Vec<f64> {
        if p.too_few() {
            return vec![0.0; p.n];
        }
        (0..p.n)
            .map(|i| {
                let ((lp, _), (ln, _)) = self.row(p, i, lowest);
                (1.0 / self.alpha) * lp + (1.0 / self.beta) * ln
            })
            .collect()
    }

    fn grad_s(&self, p: &Pairs, g: &[f64], lowest: f64) -> Vec<f64> {
        let n = p.n;
        let mut out = vec![0.0; n * n];
        if p.too_few() {
            return out;
        }
        for i in 0..n {
            if g[i] == 0.0 {
                continue;
            }
            let ((_, wp), (_, wn)) = self.row(p, i, lowest);
            for j in 0..n {
                // d/ds of (1/α) lse(α(λ − s)) = −w; of (1/β) lse(β(s − λ)) = +w
                out[i * n + j] = g[i] * (wn[j] - wp[j]);
            }
        }
        out
    }

    /// pml's default distance, `CosineSimilarity()`.
    fn distance(&self) -> Distance {
        Distance::COSINE
    }

    pair_methods!();
}

/// PyTorch's `Softplus(beta=1, threshold=20)`: `x` above the threshold.
fn softplus20(x: f64) -> (f64, f64) {
    if x > 20.0 {
        (x, 1.0)
    } else {
        let z = x.exp();
        (z.ln_1p(), z / (z + 1.0))
    }
}

/// The circle loss, pml's `CircleLoss` (default distance `CosineSimilarity`,
/// every pair of the batch by its labels).
///
/// ```text
/// sᵢⱼ = êᵢ · êⱼ,  αₚ = [1 + m − sₚ]₊, αₙ = [sₙ + m]₊   (detached)
/// ℓᵢ = softplus( log Σ_{p ∈ P(i)} exp(−γ αₚ (sₚ − (1 − m))) + log Σ_{n ∈ N(i)} exp(γ αₙ (sₙ − m)) )
/// loss = AvgNonZeroReducer: the mean of the ℓᵢ > 0
/// ```
///
/// Defaults `m` 0.4, `gamma` 80. As pml: the weights `αₚ`, `αₙ` are detached
/// (no gradient through them: the gradient returned is pml's autograd's, **not
/// the derivative of the loss**); an anchor without positives or without
/// negatives has `ℓᵢ = 0` (left out by the default reducer); `softplus` is
/// PyTorch's, linear above 20.
///
/// # Errors
/// As [`SupConLoss`]; `m` and `gamma` must be finite.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::pml::CircleLoss;
/// let e = array![[1.0f64, 0.0], [1.0, 0.0], [0.0, 1.0]];
/// let l = CircleLoss::new().gamma(1.0).forward(e.view(), array![0i64, 0, 1].view()).unwrap();
/// assert!(l[[]] > 0.0);
/// ```
///
/// # References
/// Y. Sun et al., "Circle Loss: A Unified Perspective of Pair Similarity
/// Optimization", CVPR 2020; pytorch-metric-learning
/// `pytorch_metric_learning.losses.CircleLoss`, 2.9.0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CircleLoss {
    /// The relaxation margin m (default 0.4).
    pub m: f64,
    /// The scale γ (default 80).
    pub gamma: f64,
    /// The reducer (default `AvgNonZero`, pml's `AvgNonZeroReducer`).
    pub reducer: MetricReducer,
}

impl Default for CircleLoss {
    fn default() -> Self {
        CircleLoss { m: 0.4, gamma: 80.0, reducer: MetricReducer::AvgNonZero }
    }
}

impl CircleLoss {
    const NAME: &'static str = "circle";

    /// pml's defaults: m 0.4, gamma 80, `AvgNonZeroReducer`.
    pub fn new() -> Self {
        Self::default()
    }

    crate::machinery::methods::setters!(
        /// Sets the margin m.
        m: f64,
        /// Sets the scale γ.
        gamma: f64
    );

    fn check(&self) -> Result<()> {
        check_option(Self::NAME, "m", self.m, self.m.is_finite(), "a finite number")?;
        check_option(Self::NAME, "gamma", self.gamma, self.gamma.is_finite(), "a finite number")
    }

    /// Row i: the logits (pml's `new_mat`) and their derivative in s.
    fn logits(&self, p: &Pairs, i: usize) -> (Vec<f64>, Vec<f64>) {
        let n = p.n;
        let (op, on, dp, dn) = (1.0 + self.m, -self.m, 1.0 - self.m, self.m);
        let mut x = vec![0.0; n];
        let mut dx = vec![0.0; n];
        for j in 0..n {
            let s = p.s[i * n + j];
            if p.pos(i, j) {
                let a = (op - s).max(0.0);
                x[j] = -self.gamma * a * (s - dp);
                dx[j] = -self.gamma * a;
            } else if p.neg(i, j) {
                let a = (s - on).max(0.0);
                x[j] = self.gamma * a * (s - dn);
                dx[j] = self.gamma * a;
            }
        }
        (x, dx)
    }

    #[allow(clippy::type_complexity)]
    fn row(&self, p: &Pairs, i: usize, lowest: f64) -> Option<(f64, f64, Vec<f64>, Vec<f64>, Vec<f64>)> {
        let n = p.n;
        let has_p = (0..n).any(|j| p.pos(i, j));
        let has_n = (0..n).any(|j| p.neg(i, j));
        let (x, dx) = self.logits(p, i);
        let (lp, wp) = masked_lse(&x, |j| p.pos(i, j), false, lowest);
        let (ln, wn) = masked_lse(&x, |j| p.neg(i, j), false, lowest);
        let (v, dv) = softplus20(lp + ln);
        if has_p && has_n {
            Some((v, dv, wp, wn, dx))
        } else {
            None
        }
    }

    fn values(&self, p: &Pairs, lowest: f64) -> Vec<f64> {
        if p.too_few() {
            return vec![0.0; p.n];
        }
        (0..p.n).map(|i| self.row(p, i, lowest).map_or(0.0, |r| r.0)).collect()
    }

    fn grad_s(&self, p: &Pairs, g: &[f64], lowest: f64) -> Vec<f64> {
        let n = p.n;
        let mut out = vec![0.0; n * n];
        if p.too_few() {
            return out;
        }
        for i in 0..n {
            if g[i] == 0.0 {
                continue;
            }
            if let Some((_, dv, wp, wn, dx)) = self.row(p, i, lowest) {
                for j in 0..n {
                    out[i * n + j] = g[i] * dv * (wp[j] + wn[j]) * dx[j];
                }
            }
        }
        out
    }

    /// pml's default distance, `CosineSimilarity()`.
    fn distance(&self) -> Distance {
        Distance::COSINE
    }

    pair_methods!();
}

/// `relu`'s derivative as PyTorch's autograd takes it: 1 above 0, 0 at and below.
fn relu_grad(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else {
        0.0
    }
}

/// The lifted structure loss, pml's `LiftedStructureLoss` (default distance
/// `LpDistance()`: Euclidean distances of the normalised embeddings; every
/// pair of the batch by its labels), one term per **ordered positive pair**.
///
/// ```text
/// dᵢⱼ = ‖êᵢ − êⱼ‖                         (torch.cdist of F.normalize(e), p = 2)
/// for each positive pair (a, p), a ≠ p, in row-major order:
///   Jₐₚ = log Σ_{(k, n) : k ∈ {a, p}, yₙ ≠ yₖ} exp(neg_margin − dₖₙ)
///   ℓₐₚ = relu(Jₐₚ + dₐₚ − pos_margin)² / 2
/// loss = MeanReducer: the mean over the ordered positive pairs
/// ```
///
/// Defaults `neg_margin` 1, `pos_margin` 0, `normalize_embeddings` true (the
/// `LpDistance`'s). As pml: the per-element losses are the ordered positive
/// pairs' (`reduction_type="pos_pair"`, `(a, p)` and `(p, a)` both counted,
/// hence pml's `/ 2`), so [`MetricReducer::None`] returns one loss per ordered
/// positive pair (row-major, `torch.where` of the label matrix), not per
/// embedding; the log-sum-exp runs over the negative pairs *anchored* at `a` or
/// at `p`; a batch without positive or without negative pairs has loss 0
/// (gradient 0, and no per-element losses). The gradient of a zero distance
/// (equal normalised embeddings) is 0 (`cdist`'s subgradient); the relu's is 0
/// at 0. Distances come from the differences (`cdist`'s direct computation;
/// PyTorch switches to `‖x‖² + ‖y‖² − 2x·y` above 25 rows, which differs in
/// the last bits and, for equal rows, by up to `√ε` instead of 0).
///
/// # Errors
/// As [`SupConLoss`]; the margins must be finite.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::pml::LiftedStructureLoss;
/// // two classes on the axes: d = 0 within a class, √2 across
/// let e = array![[1.0f64, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]];
/// let l = LiftedStructureLoss::new().forward(e.view(), array![0i64, 0, 1, 1].view()).unwrap();
/// // every pair: J = log(4 e^{1 − √2})
/// let j = (4.0 * (1.0 - 2f64.sqrt()).exp()).ln();
/// assert!((l[[]] - j * j / 2.0).abs() < 1e-12);
/// ```
///
/// # References
/// H. O. Song, Y. Xiang, S. Jegelka, S. Savarese, "Deep Metric Learning via
/// Lifted Structured Feature Embedding", CVPR 2016; pytorch-metric-learning
/// `pytorch_metric_learning.losses.LiftedStructureLoss`, 2.9.0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LiftedStructureLoss {
    /// The negative pairs' margin (default 1).
    pub neg_margin: f64,
    /// The positive pairs' margin (default 0).
    pub pos_margin: f64,
    /// Whether the distance normalises the embeddings (default true, `LpDistance`'s).
    pub normalize_embeddings: bool,
    /// The reducer (default `Mean`, pml's `MeanReducer`).
    pub reducer: MetricReducer,
}

impl Default for LiftedStructureLoss {
    fn default() -> Self {
        LiftedStructureLoss { neg_margin: 1.0, pos_margin: 0.0, normalize_embeddings: true, reducer: MetricReducer::Mean }
    }
}

/// Per anchor of a pair matrix: the masked log-sum-exp of `f(s)` over the
/// columns `keep` keeps, and its softmax weights; blocks of anchors in parallel.
fn anchor_lses(p: &Pairs, f: impl Fn(f64) -> f64 + Sync + Send, keep: impl Fn(usize, usize) -> bool + Sync + Send, lowest: f64) -> Vec<(f64, Vec<f64>)> {
    let n = p.n;
    let lses = by_row_blocks(n, 1 + n, n * n, |lo, hi, out| {
        for i in lo..hi {
            let row: Vec<f64> = p.s[i * n..(i + 1) * n].iter().map(|&s| f(s)).collect();
            let (v, w) = masked_lse(&row, |j| keep(i, j), false, lowest);
            let o = &mut out[(i - lo) * (1 + n)..(i - lo + 1) * (1 + n)];
            o[0] = v;
            o[1..].copy_from_slice(&w);
        }
    });
    lses.chunks(1 + n).map(|r| (r[0], r[1..].to_vec())).collect()
}

/// A pair margin option: finite.
fn check_margins(loss: &'static str, neg_margin: f64, pos_margin: f64) -> Result<()> {
    check_option(loss, "neg_margin", neg_margin, neg_margin.is_finite(), "a finite number")?;
    check_option(loss, "pos_margin", pos_margin, pos_margin.is_finite(), "a finite number")
}

impl LiftedStructureLoss {
    const NAME: &'static str = "lifted_structure";

    /// pml's defaults: neg_margin 1, pos_margin 0, `LpDistance()`, `MeanReducer`.
    pub fn new() -> Self {
        Self::default()
    }

    crate::machinery::methods::setters!(
        /// Sets the negative pairs' margin.
        neg_margin: f64,
        /// Sets the positive pairs' margin.
        pos_margin: f64,
        /// Sets whether the distance normalises the embeddings (`LpDistance(normalize_embeddings=...)`).
        normalize_embeddings: bool
    );

    fn check(&self) -> Result<()> {
        check_margins(Self::NAME, self.neg_margin, self.pos_margin)
    }

    fn distance(&self) -> Distance {
        Distance::Euclidean { normalize: self.normalize_embeddings }
    }

    /// The ordered positive pairs (row-major) when the loss is computed: pml's
    /// `len(a1) > 0 and len(a2) > 0` (and `GenericPairLoss`'s batch check).
    fn pos_pairs(p: &Pairs) -> Vec<(usize, usize)> {
        let n = p.n;
        let any_neg = (0..n).any(|i| (0..n).any(|j| p.neg(i, j)));
        if p.too_few() || !any_neg {
            return vec![];
        }
        (0..n).flat_map(|i| (0..n).filter(move |&j| p.pos(i, j)).map(move |j| (i, j))).collect()
    }

    /// Per anchor: the log-sum-exp of `neg_margin − d` over its negatives.
    fn negatives(&self, p: &Pairs, lowest: f64) -> Vec<(f64, Vec<f64>)> {
        let m = self.neg_margin;
        anchor_lses(p, move |s| m - s, |i, j| p.neg(i, j), lowest)
    }

    /// Pair `(a, p)`'s `J` (the log-sum-exp over both anchors' negatives) and `z = J + d − pos_margin`.
    fn pair(&self, p: &Pairs, neg: &[(f64, Vec<f64>)], a: usize, b: usize) -> (f64, f64) {
        let (la, lb) = (neg[a].0, neg[b].0);
        let j = lse(&[la, lb]);
        (j, j + p.s[a * p.n + b] - self.pos_margin)
    }

    fn values(&self, p: &Pairs, lowest: f64) -> Vec<f64> {
        let pairs = Self::pos_pairs(p);
        if pairs.is_empty() {
            return vec![];
        }
        let neg = self.negatives(p, lowest);
        pairs
            .iter()
            .map(|&(a, b)| {
                let z = self.pair(p, &neg, a, b).1.max(0.0);
                z * z / 2.0
            })
            .collect()
    }

    fn grad_s(&self, p: &Pairs, g: &[f64], lowest: f64) -> Vec<f64> {
        let n = p.n;
        let mut out = vec![0.0; n * n];
        let pairs = Self::pos_pairs(p);
        if pairs.is_empty() {
            return out;
        }
        let neg = self.negatives(p, lowest);
        // per anchor k: Σ over the pairs whose J runs over k's negatives of ∂ℓ/∂J · ∂J/∂Lₖ
        let mut coef = vec![0.0; n];
        for (&(a, b), &gk) in pairs.iter().zip(g) {
            let (j, z) = self.pair(p, &neg, a, b);
            // d/dz relu(z)²/2 = relu(z) (PyTorch: 2·relu(z)·relu'(z) / 2)
            let r = gk * z.max(0.0) * relu_grad(z);
            if r == 0.0 {
                continue;
            }
            out[a * n + b] += r;
            coef[a] += r * (neg[a].0 - j).exp();
            coef[b] += r * (neg[b].0 - j).exp();
        }
        for (k, &c) in coef.iter().enumerate() {
            if c != 0.0 {
                for (o, w) in out[k * n..(k + 1) * n].iter_mut().zip(&neg[k].1) {
                    // ∂(neg_margin − d)/∂d = −1
                    *o -= c * w;
                }
            }
        }
        out
    }

    pair_methods!();
}

/// The generalized lifted structure loss, pml's `GeneralizedLiftedStructureLoss`
/// (Hermans, Beyer and Leibe's form; default distance `LpDistance()`, every
/// pair of the batch by its labels), one term per anchor.
///
/// ```text
/// dᵢⱼ = ‖êᵢ − êⱼ‖                         (torch.cdist of F.normalize(e), p = 2)
/// ℓᵢ = relu( log Σ_{j ∈ P(i)} exp(dᵢⱼ − pos_margin) + log Σ_{j ∈ N(i)} exp(neg_margin − dᵢⱼ) )
/// loss = MeanReducer: (1/N) Σᵢ ℓᵢ
/// ```
///
/// Defaults `neg_margin` 1, `pos_margin` 0, `normalize_embeddings` true. As
/// pml: an anchor without positives (negatives) has a zero positive (negative)
/// term (pml's masked `logsumexp`), and still counts in the mean over all `N`
/// anchors; a batch of one sample has loss 0. Zero distances and the relu at 0
/// have gradient 0, as in [`LiftedStructureLoss`].
///
/// # Errors
/// As [`LiftedStructureLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::pml::GeneralizedLiftedStructureLoss;
/// let e = array![[1.0f64, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]];
/// let l = GeneralizedLiftedStructureLoss::new().forward(e.view(), array![0i64, 0, 1, 1].view()).unwrap();
/// // each anchor: log e⁰ + log(2 e^{1 − √2})
/// let want = (2.0 * (1.0 - 2f64.sqrt()).exp()).ln().max(0.0);
/// assert!((l[[]] - want).abs() < 1e-12);
/// ```
///
/// # References
/// A. Hermans, L. Beyer, B. Leibe, "In Defense of the Triplet Loss for Person
/// Re-Identification", arXiv:1703.07737 (page 4), after H. O. Song et al.,
/// CVPR 2016; pytorch-metric-learning
/// `pytorch_metric_learning.losses.GeneralizedLiftedStructureLoss`, 2.9.0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GeneralizedLiftedStructureLoss {
    /// The negative pairs' margin (default 1).
    pub neg_margin: f64,
    /// The positive pairs' margin (default 0).
    pub pos_margin: f64,
    /// Whether the distance normalises the embeddings (default true, `LpDistance`'s).
    pub normalize_embeddings: bool,
    /// The reducer (default `Mean`, pml's `MeanReducer`).
    pub reducer: MetricReducer,
}

impl Default for GeneralizedLiftedStructureLoss {
    fn default() -> Self {
        GeneralizedLiftedStructureLoss { neg_margin: 1.0, pos_margin: 0.0, normalize_embeddings: true, reducer: MetricReducer::Mean }
    }
}

impl GeneralizedLiftedStructureLoss {
    const NAME: &'static str = "generalized_lifted_structure";

    /// pml's defaults: neg_margin 1, pos_margin 0, `LpDistance()`, `MeanReducer`.
    pub fn new() -> Self {
        Self::default()
    }

    crate::machinery::methods::setters!(
        /// Sets the negative pairs' margin.
        neg_margin: f64,
        /// Sets the positive pairs' margin.
        pos_margin: f64,
        /// Sets whether the distance normalises the embeddings (`LpDistance(normalize_embeddings=...)`).
        normalize_embeddings: bool
    );

    fn check(&self) -> Result<()> {
        check_margins(Self::NAME, self.neg_margin, self.pos_margin)
    }

    fn distance(&self) -> Distance {
        Distance::Euclidean { normalize: self.normalize_embeddings }
    }

    /// Per anchor: `(z, positive weights, negative weights)`, `z` the relu's argument.
    fn rows(&self, p: &Pairs, lowest: f64) -> Vec<(f64, Vec<f64>, Vec<f64>)> {
        let (pm, nm) = (self.pos_margin, self.neg_margin);
        let pos = anchor_lses(p, move |s| s - pm, |i, j| p.pos(i, j), lowest);
        let neg = anchor_lses(p, move |s| nm - s, |i, j| p.neg(i, j), lowest);
        pos.into_iter().zip(neg).map(|((lp, wp), (ln, wn))| (lp + ln, wp, wn)).collect()
    }

    fn values(&self, p: &Pairs, lowest: f64) -> Vec<f64> {
        if p.too_few() {
            return vec![0.0; p.n];
        }
        self.rows(p, lowest).iter().map(|r| r.0.max(0.0)).collect()
    }

    fn grad_s(&self, p: &Pairs, g: &[f64], lowest: f64) -> Vec<f64> {
        let n = p.n;
        let mut out = vec![0.0; n * n];
        if p.too_few() {
            return out;
        }
        for (i, (z, wp, wn)) in self.rows(p, lowest).into_iter().enumerate() {
            let r = g[i] * relu_grad(z);
            if r != 0.0 {
                for j in 0..n {
                    out[i * n + j] = r * (wp[j] - wn[j]);
                }
            }
        }
        out
    }

    pair_methods!();
}

/// The N-pairs loss, pml's `NPairsLoss` (default distance
/// `DotProductSimilarity()`: dot products of the normalised embeddings): one
/// positive pair per label, each anchor's cross entropy over every pair's positive.
///
/// ```text
/// (aₖ, pₖ), k = 1..K: per label with at least two samples, in increasing label
///          order, its first sample and its second (pml's np.unique(labels[a],
///          return_index=True) over the positive pairs in row-major order)
/// Sₖₗ = âₖ · p̂ₗ
/// ℓₖ = −log softmax(Sₖ)ₖ = log Σₗ exp Sₖₗ − Sₖₖ
/// loss = MeanReducer: (1/K) Σₖ ℓₖ
/// ```
///
/// Default `normalize_embeddings` true (the `DotProductSimilarity`'s; false:
/// raw dot products). As pml: every other sample is left out; a batch without
/// a positive pair has loss 0 (gradient 0, no per-element losses); with one
/// pair the loss is 0. [`MetricReducer::None`] returns the `K` pairs' losses in
/// increasing label order.
///
/// # Errors
/// [`LossError::Shape`](crate::LossError::Shape) if `embeddings` is not 2-D or
/// `labels` is not `(N,)`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::pml::NPairsLoss;
/// // labels 1 and 0: the pairs are (1, 3) for label 0, then (0, 2) for label 1
/// let e = array![[1.0f64, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 5.0]];
/// let l = NPairsLoss::new().forward(e.view(), array![1i64, 0, 1, 0].view()).unwrap();
/// // S = I: each anchor −log(e / (e + 1))
/// let want = (1.0 + (-1f64).exp()).ln();
/// assert!((l[[]] - want).abs() < 1e-12);
/// ```
///
/// # References
/// K. Sohn, "Improved Deep Metric Learning with Multi-class N-pair Loss
/// Objective", NeurIPS 2016; pytorch-metric-learning
/// `pytorch_metric_learning.losses.NPairsLoss`, 2.9.0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NPairsLoss {
    /// Whether the distance normalises the embeddings (default true, `DotProductSimilarity`'s).
    pub normalize_embeddings: bool,
    /// The reducer (default `Mean`, pml's `MeanReducer`).
    pub reducer: MetricReducer,
}

impl Default for NPairsLoss {
    fn default() -> Self {
        NPairsLoss { normalize_embeddings: true, reducer: MetricReducer::Mean }
    }
}

/// [`NPairsLoss`]'s problem: the pairs, the rows compared and the `(K, K)` similarities.
struct NPairsProblem {
    n: usize,
    d: usize,
    dist: Distance,
    pairs: Vec<(usize, usize)>,
    /// anchors' and positives' rows (through the distance's normalisation), `K × D` each
    a: Vec<f64>,
    a_norms: Option<Vec<f64>>,
    b: Vec<f64>,
    b_norms: Option<Vec<f64>>,
    s: Vec<f64>,
    /// per anchor: log Σₗ exp Sₖₗ
    lse: Vec<f64>,
    values: Vec<f64>,
}

impl NPairsLoss {
    const NAME: &'static str = "n_pairs";

    /// pml's defaults: `DotProductSimilarity()`, `MeanReducer`.
    pub fn new() -> Self {
        Self::default()
    }

    crate::machinery::methods::setters!(
        /// Sets whether the distance normalises the embeddings (`DotProductSimilarity(normalize_embeddings=...)`).
        normalize_embeddings: bool
    );

    /// Sets the reducer (pml's `reducer=`).
    #[must_use]
    pub fn reducer(mut self, reducer: MetricReducer) -> Self {
        self.reducer = reducer;
        self
    }

    /// pml's `convert_to_pos_pairs_with_unique_labels`: per label (increasing)
    /// with a positive pair, the first positive pair of row-major order: the
    /// label's first sample and its second.
    fn pairs(labels: &[i64]) -> Vec<(usize, usize)> {
        let mut first: std::collections::BTreeMap<i64, (usize, Option<usize>)> = std::collections::BTreeMap::new();
        for (i, &l) in labels.iter().enumerate() {
            first.entry(l).and_modify(|e| if e.1.is_none() { e.1 = Some(i) }).or_insert((i, None));
        }
        first.values().filter_map(|&(a, b)| b.map(|b| (a, b))).collect()
    }

    fn problem<T: Float, L: ClassIndex, D: Dimension, DL: Dimension>(&self, embeddings: &ArrayView<'_, T, D>, labels: &ArrayView<'_, L, DL>) -> Result<NPairsProblem> {
        let (n, d, e) = embeddings_of(Self::NAME, embeddings)?;
        let labels = labels_of(Self::NAME, labels, n)?;
        let pairs = Self::pairs(&labels);
        let k = pairs.len();
        let gather = |which: fn(&(usize, usize)) -> usize| pairs.iter().flat_map(|pr| e[which(pr) * d..(which(pr) + 1) * d].iter().copied()).collect::<Vec<f64>>();
        let dist = Distance::Dot { normalize: self.normalize_embeddings };
        let (a, a_norms) = dist.rows(gather(|p| p.0), k, d);
        let (b, b_norms) = dist.rows(gather(|p| p.1), k, d);
        let s = dist.matrix(&a, &b, k, k, d);
        let lses: Vec<f64> = s.chunks(k.max(1)).take(k).map(lse).collect();
        let values = (0..k).map(|i| lses[i] - s[i * k + i]).collect();
        Ok(NPairsProblem { n, d, dist, pairs, a, a_norms, b, b_norms, s, lse: lses, values })
    }

    fn grads<T: Float>(p: &NPairsProblem, g: &[f64], shape: &[usize]) -> MetricGradients<T> {
        let (k, d) = (p.pairs.len(), p.d);
        // cross entropy: g (softmax − one-hot)
        let gs: Vec<f64> = (0..k * k)
            .map(|ij| {
                let (i, j) = (ij / k, ij % k);
                if g[i] == 0.0 {
                    0.0
                } else {
                    g[i] * ((p.s[ij] - p.lse[i]).exp() - if i == j { 1.0 } else { 0.0 })
                }
            })
            .collect();
        let (ga, gb) = p.dist.backward(&gs, &p.s, &p.a, &p.b, k, k, d);
        let ga = rows_backward(&p.a, p.a_norms.as_deref(), ga, d);
        let gb = rows_backward(&p.b, p.b_norms.as_deref(), gb, d);
        let mut out = vec![0.0; p.n * d];
        for (r, &(ia, ib)) in p.pairs.iter().enumerate() {
            for c in 0..d {
                out[ia * d + c] += ga[r * d + c];
                out[ib * d + c] += gb[r * d + c];
            }
        }
        MetricGradients { embeddings: narrow(shape, out), weight: None }
    }

    /// The loss, reduced by `self.reducer`.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, D: Dimension, DL: Dimension>(&self, embeddings: ArrayView<'_, T, D>, labels: ArrayView<'_, L, DL>) -> Result<ArrayD<T>> {
        Ok(reduce(&self.problem(&embeddings, &labels)?.values, self.reducer))
    }

    /// The gradient of `Σ grad_output · loss` (`grad_output` has the result's
    /// shape) with respect to `embeddings`.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`](crate::LossError::Shape)
    /// if `grad_output` does not have the result's shape.
    pub fn backward<T: Float, L: ClassIndex, D: Dimension, DL: Dimension>(
        &self,
        embeddings: ArrayView<'_, T, D>,
        labels: ArrayView<'_, L, DL>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<MetricGradients<T>> {
        let p = self.problem(&embeddings, &labels)?;
        let g = element_grads(Self::NAME, &p.values, self.reducer, &grad_output)?;
        Ok(Self::grads(&p, &g, embeddings.shape()))
    }

    /// The loss and its gradient (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: ClassIndex, D: Dimension, DL: Dimension>(&self, embeddings: ArrayView<'_, T, D>, labels: ArrayView<'_, L, DL>) -> Result<(ArrayD<T>, MetricGradients<T>)> {
        let p = self.problem(&embeddings, &labels)?;
        let ones = ones_for::<T>(p.values.len(), self.reducer);
        let g = element_grads(Self::NAME, &p.values, self.reducer, &ones.view())?;
        Ok((reduce(&p.values, self.reducer), Self::grads(&p, &g, embeddings.shape())))
    }
}

crate::machinery::methods::free_fn! {
    /// [`SupConLoss`]'s result with pml's defaults.
    pub fn sup_con(embeddings: float, labels: labels) = SupConLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let e = array![[1.0f64, 0.2], [0.9, 0.1], [0.0, 1.0]];
        /// let l = losslab::pml::sup_con(e.view(), array![0i64, 0, 1].view()).unwrap();
        /// assert!(l[[]] > 0.0);
        /// ```
    }

    /// [`MultiSimilarityLoss`]'s result with pml's defaults.
    pub fn multi_similarity(embeddings: float, labels: labels) = MultiSimilarityLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let e = array![[1.0f64, 0.2], [0.9, 0.1], [0.0, 1.0]];
        /// let l = losslab::pml::multi_similarity(e.view(), array![0i64, 0, 1].view()).unwrap();
        /// assert!(l[[]] > 0.0);
        /// ```
    }

    /// [`CircleLoss`]'s result with pml's defaults.
    pub fn circle(embeddings: float, labels: labels) = CircleLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let e = array![[1.0f64, 0.2], [0.9, 0.1], [0.0, 1.0]];
        /// let l = losslab::pml::circle(e.view(), array![0i64, 0, 1].view()).unwrap();
        /// assert!(l[[]] >= 0.0);
        /// ```
    }

    /// [`LiftedStructureLoss`]'s result with pml's defaults (`LiftedStructureLoss(neg_margin=1, pos_margin=0)`).
    pub fn lifted_structure(embeddings: float, labels: labels) = LiftedStructureLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let e = array![[1.0f64, 0.2], [0.9, 0.1], [0.0, 1.0]];
        /// let l = losslab::pml::lifted_structure(e.view(), array![0i64, 0, 1].view()).unwrap();
        /// assert!(l[[]] > 0.0);
        /// ```
    }

    /// [`GeneralizedLiftedStructureLoss`]'s result with pml's defaults (`neg_margin=1, pos_margin=0`).
    pub fn generalized_lifted_structure(embeddings: float, labels: labels) = GeneralizedLiftedStructureLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let e = array![[1.0f64, 0.2], [0.9, 0.1], [0.0, 1.0]];
        /// let l = losslab::pml::generalized_lifted_structure(e.view(), array![0i64, 0, 1].view()).unwrap();
        /// assert!(l[[]] > 0.0);
        /// ```
    }

    /// [`NPairsLoss`]'s result with pml's defaults.
    pub fn n_pairs(embeddings: float, labels: labels) = NPairsLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let e = array![[1.0f64, 0.2], [0.9, 0.1], [0.0, 1.0], [0.1, 1.0]];
        /// let l = losslab::pml::n_pairs(e.view(), array![0i64, 0, 1, 1].view()).unwrap();
        /// assert!(l[[]] > 0.0);
        /// ```
    }
}
