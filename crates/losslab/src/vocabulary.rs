//! Large vocabularies: softmax losses that never build the full `(N, classes)`
//! logits. PyTorch's adaptive softmax (`nn.AdaptiveLogSoftmaxWithLoss`: a head
//! over the frequent classes and one cluster token per tail, each tail a
//! low-rank two-layer projection) and TensorFlow's candidate-sampling losses
//! (`tf.nn.sampled_softmax_loss`, `tf.nn.nce_loss`: the true classes' and a
//! sample of classes' logits only), with their parameters as tensors.
//!
//! Every product runs in `f64` through the `gemm` crate (the head's and tails'
//! logits, the sampled classes' logits, and the gradients' products); the
//! per-row log-sum-exps, softmaxes and sigmoids are scalar `f64` loops. Memory:
//! the head's `(N, shortlist + clusters)` logits and each tail's logits for the
//! rows whose target falls in it; for the sampled losses the `(B, S)` sampled
//! logits and a dense gradient of `weights`.

use crate::contrastive::matmul;
use crate::machinery::error::{check_option, shape_err, LossError, Result};
use crate::machinery::float::{narrow, ClassIndex, Float};
use crate::machinery::reduction::{sum_f64, Reducer, Reduction, Scales};
use crate::math::{max_nan, sigmoid_f64};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension};

/// `m + ln Σ exp(x − m)` over `row` (the maximum itself where it is NaN or infinite).
fn lse(row: &[f64]) -> f64 {
    let m = max_nan(row.iter().copied());
    if m.is_nan() || m.is_infinite() {
        m
    } else {
        m + row.iter().map(|&v| (v - m).exp()).sum::<f64>().ln()
    }
}

/// Python's float floor division `a // b` (CPython's `float_floor_div`): the
/// floor of the quotient computed from `fmod`, not `(a / b).floor()`.
fn py_floordiv(a: f64, b: f64) -> f64 {
    let m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div != 0.0 {
        let mut f = div.floor();
        if div - f > 0.5 {
            f += 1.0;
        }
        f
    } else {
        0.0f64.copysign(a / b)
    }
}

const TAIL_NAMES: [[&str; 2]; 8] = [
    ["tail_0_proj", "tail_0_out"],
    ["tail_1_proj", "tail_1_out"],
    ["tail_2_proj", "tail_2_out"],
    ["tail_3_proj", "tail_3_out"],
    ["tail_4_proj", "tail_4_out"],
    ["tail_5_proj", "tail_5_out"],
    ["tail_6_proj", "tail_6_out"],
    ["tail_7_proj", "tail_7_out"],
];

fn tail_name(i: usize, k: usize) -> &'static str {
    TAIL_NAMES.get(i).map_or(["tail_proj", "tail_out"][k], |n| n[k])
}

// ---------------------------------------------------------------------------------------
// torch:adaptive_log_softmax_with_loss

/// The parameters of an [`AdaptiveLogSoftmaxWithLoss`] as tensors, PyTorch's
/// `head.weight`, `head.bias` and, per cluster `i`, `tail[i][0].weight` (the
/// projection, `(hsz_i, in_features)`) and `tail[i][1].weight` (the cluster's
/// logits, `(osz_i, hsz_i)`).
#[derive(Debug, Clone)]
pub struct AdaptiveWeights<'a, T> {
    /// `head.weight`, `(shortlist + n_clusters, in_features)`.
    pub head_weight: ArrayViewD<'a, T>,
    /// `head.bias`, `(shortlist + n_clusters,)`, when the module has one (`head_bias=True`).
    pub head_bias: Option<ArrayViewD<'a, T>>,
    /// Per cluster: `(tail[i][0].weight, tail[i][1].weight)`.
    pub tails: Vec<(ArrayViewD<'a, T>, ArrayViewD<'a, T>)>,
}

/// The result of an [`AdaptiveLogSoftmaxWithLoss`]: PyTorch's `_ASMoutput`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveLogSoftmaxOutput<T> {
    /// The loss: the negative log-likelihoods reduced (`Mean`: the module's `.loss`).
    pub loss: ArrayD<T>,
    /// Each sample's log-probability of its target (the module's `.output`), `(N,)`
    /// (0-d for a 0-d target).
    pub output: ArrayD<T>,
}

/// The gradients of an [`AdaptiveLogSoftmaxWithLoss`].
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveLogSoftmaxGradients<T> {
    /// With respect to `input`.
    pub input: ArrayD<T>,
    /// With respect to `head_weight`.
    pub head_weight: ArrayD<T>,
    /// With respect to `head_bias`, where one was given.
    pub head_bias: Option<ArrayD<T>>,
    /// With respect to each cluster's `(projection, output)` weights.
    pub tails: Vec<(ArrayD<T>, ArrayD<T>)>,
}

/// PyTorch's adaptive softmax, `nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes,
/// cutoffs, div_value, head_bias)(input, target)`, with the module's weights given
/// as tensors.
///
/// The classes are split by `cutoffs = [c₀, c₁, …, c_{K−1}]` (and `c_K = n_classes`)
/// into a shortlist `[0, c₀)` and `K` clusters `[cᵢ, cᵢ₊₁)`. The head scores the
/// shortlist and one token per cluster; cluster `i`'s tail is
/// `Oᵢ (Pᵢ x)` with `Pᵢ` of `hszᵢ = in_features // div_value^(i+1)` rows:
///
/// ```text
/// h = W_h x (+ b_h)                                    (shortlist + K,)
/// log p(y) = log_softmax(h)_y                          y < c₀
/// log p(y) = log_softmax(h)_{c₀+i} + log_softmax(Oᵢ Pᵢ x)_{y−cᵢ}    cᵢ ≤ y < cᵢ₊₁
/// output = log p(target),  loss = mean(−output)
/// ```
///
/// `n_classes` is not a parameter here: it is `c_{K−1}` plus the rows of the last
/// tail's output weight. Every other shape follows from the module's constructor
/// and is checked: `head_weight` `(c₀ + K, in_features)`, `tail_i_proj`
/// `(in_features // div_value^(i+1), in_features)` (Python's float floor division,
/// as PyTorch computes it; possibly 0 rows, when the tail's logits are all 0),
/// `tail_i_out` `(cᵢ₊₁ − cᵢ, hszᵢ)`. The cutoffs must be unique, positive and
/// increasing (PyTorch's constructor check), and every target in `[0, n_classes)`.
///
/// `input` is `(N, in_features)` with a `(N,)` target, or `(in_features,)` with a
/// 0-d target (the module's unbatched form: `output` is then 0-d). The reduction
/// (of the per-sample negative log-likelihoods `−output`) is `Mean` by default:
/// the module's `.loss`; `None`, `Sum` and `BatchMean` are losslab's. Every weight
/// and the input are differentiated.
///
/// # Errors
/// [`LossError::Shape`] for a shape that does not follow from the cutoffs and
/// `div_value` (the message names the tensor and the expected shape),
/// [`LossError::Option`] for invalid cutoffs or `div_value` (≤ 0 or NaN), a
/// `head_bias` given against the option or missing for it, and
/// [`LossError::ClassIndex`] for a target outside `[0, n_classes)`.
///
/// # Examples
/// ```
/// use ndarray::{array, ArrayD, IxDyn};
/// use losslab::torch::{AdaptiveLogSoftmaxWithLoss, AdaptiveWeights};
/// // in_features 4, cutoffs [2], n_classes 4, div_value 4: head (3, 4), tail (1, 4) and (2, 1)
/// let z = |s: &[usize]| ArrayD::<f64>::zeros(IxDyn(s));
/// let (head, p, o) = (z(&[3, 4]), z(&[1, 4]), z(&[2, 1]));
/// let w = AdaptiveWeights { head_weight: head.view(), head_bias: None, tails: vec![(p.view(), o.view())] };
/// let x = array![[1.0f64, 2.0, 3.0, 4.0], [0.5, 0.0, -1.0, 2.0]];
/// let out = AdaptiveLogSoftmaxWithLoss::new([2]).forward(x.view(), array![0i64, 3].view(), &w).unwrap();
/// // all logits 0: a shortlist class has probability 1/3, a tail class 1/3 · 1/2
/// assert!((out.output[0] - (1.0f64 / 3.0).ln()).abs() < 1e-15);
/// assert!((out.output[1] - (1.0f64 / 6.0).ln()).abs() < 1e-15);
/// ```
///
/// # References
/// E. Grave, A. Joulin, M. Cissé, D. Grangier, H. Jégou, "Efficient softmax
/// approximation for GPUs", ICML 2017; PyTorch `torch.nn.AdaptiveLogSoftmaxWithLoss`
/// (`torch/nn/modules/adaptive.py`), 2.15.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AdaptiveLogSoftmaxWithLoss {
    /// The cutoffs, without `n_classes` (PyTorch's constructor argument).
    pub cutoffs: Vec<usize>,
    /// The divisor of each tail's projection size (default 4.0).
    pub div_value: f64,
    /// Whether the head has a bias (default `false`).
    pub head_bias: bool,
    /// The reduction of the per-sample negative log-likelihoods (default `Mean`).
    pub reduction: Reduction,
}

/// The shapes of one evaluation, checked.
struct AsmShapes {
    n: usize,
    d: usize,
    batched: bool,
    /// The cutoffs with 0 in front and `n_classes` at the end.
    bounds: Vec<usize>,
    hsz: Vec<usize>,
    targets: Vec<usize>,
}

/// The forward pass's intermediate values, kept for the backward pass.
struct AsmState {
    x: Vec<f64>,
    /// Head logits `(n, head_size)`.
    h: Vec<f64>,
    h_lse: Vec<f64>,
    /// Per cluster: its rows, their inputs `(r, d)`, projections `(r, hsz)`, logits `(r, osz)` and their lse.
    clusters: Vec<Cluster>,
    output: Vec<f64>,
}

struct Cluster {
    rows: Vec<usize>,
    xi: Vec<f64>,
    p: Vec<f64>,
    z: Vec<f64>,
    z_lse: Vec<f64>,
}

impl Default for AdaptiveLogSoftmaxWithLoss {
    fn default() -> Self {
        AdaptiveLogSoftmaxWithLoss { cutoffs: Vec::new(), div_value: 4.0, head_bias: false, reduction: Reduction::Mean }
    }
}

impl AdaptiveLogSoftmaxWithLoss {
    const NAME: &'static str = "adaptive_log_softmax_with_loss";

    /// The module with these `cutoffs` and PyTorch's defaults (`div_value=4.0`,
    /// `head_bias=False`), its `.loss` (`Mean`).
    pub fn new(cutoffs: impl Into<Vec<usize>>) -> Self {
        AdaptiveLogSoftmaxWithLoss { cutoffs: cutoffs.into(), ..Self::default() }
    }

    crate::machinery::methods::setters!(
        /// Sets `div_value`.
        div_value: f64,
        /// Sets `head_bias`.
        head_bias: bool,
        /// Sets the reduction of the per-sample negative log-likelihoods.
        reduction: Reduction
    );

    fn option_err(&self, option: &'static str, value: String, expected: &str) -> LossError {
        LossError::Option { loss: Self::NAME, option, value, expected: expected.to_string() }
    }

    fn check<T: Float, L: ClassIndex>(&self, input: &ArrayViewD<'_, T>, target: &ArrayViewD<'_, L>, w: &AdaptiveWeights<'_, T>) -> Result<AsmShapes> {
        let name = Self::NAME;
        check_option(name, "div_value", self.div_value, self.div_value > 0.0, "a number > 0")?;
        let c = &self.cutoffs;
        let shown = || format!("{c:?}");
        if c.is_empty() {
            return Err(self.option_err("cutoffs", shown(), "a non-empty sequence (PyTorch: cutoffs should be a sequence of length larger than 0)"));
        }
        if c[0] == 0 || c.windows(2).any(|p| p[0] >= p[1]) {
            return Err(self.option_err("cutoffs", shown(), "unique, positive integers sorted in an increasing order"));
        }
        if w.tails.len() != c.len() {
            return Err(LossError::Unsupported {
                loss: name,
                message: format!("{} cutoffs make {} clusters, expected that many tails (a projection and an output weight each), found {}", c.len(), c.len(), w.tails.len()),
            });
        }
        // Shapes: target (N,) with input (N, d), or a 0-d target with input (d,).
        let batched = match target.ndim() {
            1 => {
                if input.ndim() != 2 {
                    return Err(shape_err(name, "input", "(N, in_features) (2-D: a 1-D target expects a 2-D input)", input.shape()));
                }
                if input.shape()[0] != target.len() {
                    return Err(shape_err(name, "target", format!("[{}] (the batch size of `input`)", input.shape()[0]), target.shape()));
                }
                true
            }
            0 => {
                if input.ndim() != 1 {
                    return Err(shape_err(name, "input", "(in_features,) (1-D: a 0-d target expects a 1-D input)", input.shape()));
                }
                false
            }
            _ => return Err(shape_err(name, "target", "(N,) or 0-d (multi-target not supported)", target.shape())),
        };
        let d = *input.shape().last().expect("1-D or 2-D");
        let n = if batched { input.shape()[0] } else { 1 };
        let k = c.len();
        let head_size = c[0] + k;
        if w.head_weight.shape() != [head_size, d] {
            return Err(shape_err(name, "head_weight", format!("[{head_size}, {d}] (shortlist {} + {k} clusters, in_features)", c[0]), w.head_weight.shape()));
        }
        match (&w.head_bias, self.head_bias) {
            (Some(b), true) if b.shape() != [head_size] => return Err(shape_err(name, "head_bias", format!("[{head_size}] (one per row of `head_weight`)"), b.shape())),
            (Some(_), false) => return Err(LossError::Unsupported { loss: name, message: "`head_bias` is given, but the option head_bias is False (a head without a bias)".into() }),
            (None, true) => return Err(LossError::Unsupported { loss: name, message: "the option head_bias is True, but no `head_bias` tensor is given".into() }),
            _ => {}
        }
        let (last_out, _) = (&w.tails[k - 1].1, ());
        if last_out.ndim() != 2 || last_out.shape()[0] == 0 {
            return Err(shape_err(name, tail_name(k - 1, 1), "(n_classes − last cutoff, hsz) with at least one row (every cutoff must be ≤ n_classes − 1)", last_out.shape()));
        }
        let n_classes = c[k - 1] + last_out.shape()[0];
        let mut bounds = Vec::with_capacity(k + 2);
        bounds.push(0);
        bounds.extend_from_slice(c);
        bounds.push(n_classes);
        let mut hsz = Vec::with_capacity(k);
        for (i, (p, o)) in w.tails.iter().enumerate() {
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let h = py_floordiv(d as f64, self.div_value.powf((i + 1) as f64)) as usize;
            if p.shape() != [h, d] {
                return Err(shape_err(name, tail_name(i, 0), format!("[{h}, {d}] (in_features // div_value^{} = {d} // {}^{}, in_features)", i + 1, self.div_value, i + 1), p.shape()));
            }
            let osz = bounds[i + 2] - bounds[i + 1];
            if o.shape() != [osz, h] {
                return Err(shape_err(name, tail_name(i, 1), format!("[{osz}, {h}] (the cluster's {osz} classes [{}, {}), the projection's size)", bounds[i + 1], bounds[i + 2]), o.shape()));
            }
            hsz.push(h);
        }
        let mut targets = Vec::with_capacity(n);
        for (pos, t) in target.iter().enumerate() {
            let v = t.index();
            if v < 0 || v as u64 >= n_classes as u64 {
                return Err(LossError::ClassIndex {
                    loss: name,
                    tensor: "target",
                    index: v,
                    position: if batched { vec![pos] } else { vec![] },
                    classes: n_classes,
                    ignore_index: None,
                });
            }
            targets.push(v as usize);
        }
        Ok(AsmShapes { n, d, batched, bounds, hsz, targets })
    }

    fn run<T: Float>(&self, s: &AsmShapes, input: &ArrayViewD<'_, T>, w: &AdaptiveWeights<'_, T>) -> AsmState {
        let (n, d) = (s.n, s.d);
        let (di, k) = (d as isize, s.hsz.len());
        let short = s.bounds[1];
        let hs = short + k;
        let x: Vec<f64> = input.iter().map(|v| v.to_wide()).collect();
        let wh: Vec<f64> = w.head_weight.iter().map(|v| v.to_wide()).collect();
        let mut h = vec![0.0; n * hs];
        matmul(n, hs, d, &mut h, &x, (di, 1), &wh, (1, di), 1.0);
        if let Some(b) = &w.head_bias {
            let b: Vec<f64> = b.iter().map(|v| v.to_wide()).collect();
            for row in h.chunks_mut(hs.max(1)) {
                row.iter_mut().zip(&b).for_each(|(v, bj)| *v += bj);
            }
        }
        let h_lse: Vec<f64> = (0..n).map(|r| lse(&h[r * hs..(r + 1) * hs])).collect();
        let mut output = vec![0.0; n];
        let mut clusters = Vec::with_capacity(k);
        for i in 0..k {
            let (lo, hi) = (s.bounds[i + 1], s.bounds[i + 2]);
            let rows: Vec<usize> = (0..n).filter(|&r| (lo..hi).contains(&s.targets[r])).collect();
            let (r, hz, osz) = (rows.len(), s.hsz[i], hi - lo);
            let mut xi = Vec::with_capacity(r * d);
            for &row in &rows {
                xi.extend_from_slice(&x[row * d..(row + 1) * d]);
            }
            let pw: Vec<f64> = w.tails[i].0.iter().map(|v| v.to_wide()).collect();
            let ow: Vec<f64> = w.tails[i].1.iter().map(|v| v.to_wide()).collect();
            let mut p = vec![0.0; r * hz];
            matmul(r, hz, d, &mut p, &xi, (di, 1), &pw, (1, di), 1.0);
            let mut z = vec![0.0; r * osz];
            matmul(r, osz, hz, &mut z, &p, (hz as isize, 1), &ow, (1, hz as isize), 1.0);
            let z_lse: Vec<f64> = (0..r).map(|j| lse(&z[j * osz..(j + 1) * osz])).collect();
            for (j, &row) in rows.iter().enumerate() {
                output[row] = z[j * osz + s.targets[row] - lo] - z_lse[j];
            }
            clusters.push(Cluster { rows, xi, p, z, z_lse });
        }
        for r in 0..n {
            let t = s.targets[r];
            let g = if t < short { t } else { short + (1..=k).find(|&i| t < s.bounds[i + 1]).expect("in range") - 1 };
            output[r] += h[r * hs + g] - h_lse[r];
        }
        AsmState { x, h, h_lse, clusters, output }
    }

    fn reducer(&self, s: &AsmShapes) -> Reducer {
        let shape: &[usize] = if s.batched { &[s.n][..] } else { &[] };
        Reducer::counting(self.reduction, shape, shape)
    }

    fn result<T: Float>(&self, s: &AsmShapes, st: &AsmState) -> AdaptiveLogSoftmaxOutput<T> {
        let shape: &[usize] = if s.batched { &[s.n][..] } else { &[] };
        AdaptiveLogSoftmaxOutput { loss: self.reducer(s).output(st.output.iter().map(|v| -v).collect()), output: narrow(shape, st.output.clone()) }
    }

    fn grads<T: Float>(&self, s: &AsmShapes, mut st: AsmState, w: &AdaptiveWeights<'_, T>, scales: &Scales) -> AdaptiveLogSoftmaxGradients<T> {
        let (n, d) = (s.n, s.d);
        let (di, k) = (d as isize, s.hsz.len());
        let short = s.bounds[1];
        let hs = short + k;
        // dℓ/dh = softmax(h) − onehot(g), times the sample's scale; written over h.
        for r in 0..n {
            let u = scales.at(r);
            let t = s.targets[r];
            let g = if t < short { t } else { short + (1..=k).find(|&i| t < s.bounds[i + 1]).expect("in range") - 1 };
            let row = &mut st.h[r * hs..(r + 1) * hs];
            let l = st.h_lse[r];
            for (j, v) in row.iter_mut().enumerate() {
                *v = u * ((*v - l).exp() - if j == g { 1.0 } else { 0.0 });
            }
        }
        let dh = &st.h;
        let wh: Vec<f64> = w.head_weight.iter().map(|v| v.to_wide()).collect();
        let mut dwh = vec![0.0; hs * d];
        matmul(hs, d, n, &mut dwh, dh, (1, hs as isize), &st.x, (di, 1), 1.0);
        let mut dx = vec![0.0; n * d];
        matmul(n, d, hs, &mut dx, dh, (hs as isize, 1), &wh, (di, 1), 1.0);
        let dbh = w.head_bias.as_ref().map(|_| (0..hs).map(|j| sum_f64((0..n).map(|r| dh[r * hs + j]))).collect::<Vec<f64>>());
        let mut tails = Vec::with_capacity(k);
        for (i, cl) in st.clusters.iter_mut().enumerate() {
            let (lo, hi) = (s.bounds[i + 1], s.bounds[i + 2]);
            let (r, hz, osz) = (cl.rows.len(), s.hsz[i], hi - lo);
            for (j, &row) in cl.rows.iter().enumerate() {
                let u = scales.at(row);
                let rel = s.targets[row] - lo;
                let l = cl.z_lse[j];
                for (q, v) in cl.z[j * osz..(j + 1) * osz].iter_mut().enumerate() {
                    *v = u * ((*v - l).exp() - if q == rel { 1.0 } else { 0.0 });
                }
            }
            let pw: Vec<f64> = w.tails[i].0.iter().map(|v| v.to_wide()).collect();
            let ow: Vec<f64> = w.tails[i].1.iter().map(|v| v.to_wide()).collect();
            let (hzi, oszi) = (hz as isize, osz as isize);
            let mut dow = vec![0.0; osz * hz];
            matmul(osz, hz, r, &mut dow, &cl.z, (1, oszi), &cl.p, (hzi, 1), 1.0);
            let mut dp = vec![0.0; r * hz];
            matmul(r, hz, osz, &mut dp, &cl.z, (oszi, 1), &ow, (hzi, 1), 1.0);
            let mut dpw = vec![0.0; hz * d];
            matmul(hz, d, r, &mut dpw, &dp, (1, hzi), &cl.xi, (di, 1), 1.0);
            let mut dxi = vec![0.0; r * d];
            matmul(r, d, hz, &mut dxi, &dp, (hzi, 1), &pw, (di, 1), 1.0);
            for (j, &row) in cl.rows.iter().enumerate() {
                dx[row * d..(row + 1) * d].iter_mut().zip(&dxi[j * d..(j + 1) * d]).for_each(|(a, b)| *a += b);
            }
            tails.push((narrow(w.tails[i].0.shape(), dpw), narrow(w.tails[i].1.shape(), dow)));
        }
        let in_shape: Vec<usize> = if s.batched { vec![n, d] } else { vec![d] };
        AdaptiveLogSoftmaxGradients {
            input: narrow(&in_shape, dx),
            head_weight: narrow(w.head_weight.shape(), dwh),
            head_bias: dbh.map(|b| narrow(&[hs], b)),
            tails,
        }
    }

    /// The loss and each sample's target log-probability (PyTorch's `_ASMoutput`).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, L, D2>,
        weights: &AdaptiveWeights<'_, T>,
    ) -> Result<AdaptiveLogSoftmaxOutput<T>> {
        let (input, target) = (input.into_dyn(), target.into_dyn());
        let s = self.check(&input, &target, weights)?;
        let st = self.run(&s, &input, weights);
        Ok(self.result(&s, &st))
    }

    /// The gradients of `Σ grad_output · loss` (`grad_output` has the loss's shape)
    /// with respect to the input and every weight.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not have
    /// the loss's shape.
    pub fn backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, L, D2>,
        weights: &AdaptiveWeights<'_, T>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<AdaptiveLogSoftmaxGradients<T>> {
        let (input, target) = (input.into_dyn(), target.into_dyn());
        let s = self.check(&input, &target, weights)?;
        let scales = self.reducer(&s).scales(Self::NAME, &grad_output)?;
        let st = self.run(&s, &input, weights);
        Ok(self.grads(&s, st, weights, &scales))
    }

    /// The loss, the per-sample log-probabilities and the gradients (of the loss's
    /// sum when unreduced), in one pass.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, L, D2>,
        weights: &AdaptiveWeights<'_, T>,
    ) -> Result<(AdaptiveLogSoftmaxOutput<T>, AdaptiveLogSoftmaxGradients<T>)> {
        let (input, target) = (input.into_dyn(), target.into_dyn());
        let s = self.check(&input, &target, weights)?;
        let st = self.run(&s, &input, weights);
        let out = self.result(&s, &st);
        let r = self.reducer(&s);
        let ones = ArrayD::<T>::from_elem(ndarray::IxDyn(&r.output_shape()), T::one());
        let scales = r.scales(Self::NAME, &ones.view())?;
        Ok((out, self.grads(&s, st, weights, &scales)))
    }
}

/// [`AdaptiveLogSoftmaxWithLoss`]'s result with PyTorch's defaults (`div_value=4.0`,
/// `head_bias` as `weights` has it): `(output, loss)` as the module returns them.
///
/// # Errors
/// See [`AdaptiveLogSoftmaxWithLoss`].
///
/// # Examples
/// ```
/// use ndarray::{array, ArrayD, IxDyn};
/// let z = |s: &[usize]| ArrayD::<f64>::zeros(IxDyn(s));
/// let (head, p, o) = (z(&[3, 4]), z(&[1, 4]), z(&[2, 1]));
/// let w = losslab::torch::AdaptiveWeights { head_weight: head.view(), head_bias: None, tails: vec![(p.view(), o.view())] };
/// let out = losslab::torch::adaptive_log_softmax_with_loss(array![[1.0f64, 0.0, 0.0, 0.0]].view(), array![1i64].view(), &[2], &w).unwrap();
/// assert!((out.loss[[]] - 3f64.ln()).abs() < 1e-15);
/// ```
pub fn adaptive_log_softmax_with_loss<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
    input: ArrayView<'_, T, D1>,
    target: ArrayView<'_, L, D2>,
    cutoffs: &[usize],
    weights: &AdaptiveWeights<'_, T>,
) -> Result<AdaptiveLogSoftmaxOutput<T>> {
    AdaptiveLogSoftmaxWithLoss::new(cutoffs).head_bias(weights.head_bias.is_some()).forward(input, target, weights)
}

// ---------------------------------------------------------------------------------------
// tf:sampled_softmax_loss, tf:nce_loss

/// TensorFlow's `sampled_values`: the output of a `*_candidate_sampler`, given so
/// that the loss is deterministic.
#[derive(Debug, Clone)]
pub struct SampledValues<'a, L, T> {
    /// The sampled classes, `(num_sampled,)`.
    pub sampled_candidates: ArrayViewD<'a, L>,
    /// The expected count of each true class in the sample, `(batch_size, num_true)`.
    pub true_expected_count: ArrayViewD<'a, T>,
    /// The expected count of each sampled class, `(num_sampled,)`.
    pub sampled_expected_count: ArrayViewD<'a, T>,
}

/// The gradients of [`SampledSoftmaxLoss`] and [`NceLoss`].
#[derive(Debug, Clone, PartialEq)]
pub struct SampledGradients<T> {
    /// With respect to `weights` (dense, `(num_classes, dim)`: zero on the rows neither true nor sampled).
    pub weights: ArrayD<T>,
    /// With respect to `biases`.
    pub biases: ArrayD<T>,
    /// With respect to `inputs`.
    pub inputs: ArrayD<T>,
}

/// The value TensorFlow's `compute_accidental_hits` adds to an accidental hit's
/// logit: `-FLT_MAX` (as a float32, cast to the logits' dtype).
const ACCIDENTAL_HIT: f64 = -(f32::MAX as f64);

/// The logits of `_compute_sampled_logits`, `subtract_log_q=True`.
struct SampledLogits {
    b: usize,
    d: usize,
    nt: usize,
    s: usize,
    x: Vec<f64>,
    labels: Vec<usize>,
    cand: Vec<usize>,
    /// The sampled classes' weight rows `(s, d)`.
    ws: Vec<f64>,
    /// True logits `(b, nt)`.
    tl: Vec<f64>,
    /// Sampled logits `(b, s)`.
    sl: Vec<f64>,
}

#[allow(clippy::too_many_arguments)]
fn sampled_logits<T: Float, L: ClassIndex>(
    loss: &'static str,
    num_true: usize,
    remove_accidental_hits: bool,
    weights: &ArrayViewD<'_, T>,
    biases: &ArrayViewD<'_, T>,
    labels: &ArrayViewD<'_, L>,
    inputs: &ArrayViewD<'_, T>,
    sv: &SampledValues<'_, L, T>,
) -> Result<SampledLogits> {
    if num_true == 0 {
        return Err(LossError::Option { loss, option: "num_true", value: "0".into(), expected: "an integer ≥ 1".into() });
    }
    if weights.ndim() != 2 {
        return Err(shape_err(loss, "weights", "(num_classes, dim) (2-D)", weights.shape()));
    }
    let (c, d) = (weights.shape()[0], weights.shape()[1]);
    if biases.shape() != [c] {
        return Err(shape_err(loss, "biases", format!("[{c}] (num_classes, the rows of `weights`)"), biases.shape()));
    }
    if inputs.ndim() != 2 || inputs.shape()[1] != d {
        return Err(shape_err(loss, "inputs", format!("(batch_size, {d}) (2-D, dim as `weights`)"), inputs.shape()));
    }
    let b = inputs.shape()[0];
    let nt = num_true;
    if labels.shape() != [b, nt] {
        return Err(shape_err(loss, "labels", format!("[{b}, {nt}] (batch_size, num_true)"), labels.shape()));
    }
    if sv.sampled_candidates.ndim() != 1 {
        return Err(shape_err(loss, "sampled_candidates", "(num_sampled,) (1-D)", sv.sampled_candidates.shape()));
    }
    let s = sv.sampled_candidates.len();
    if sv.true_expected_count.shape() != [b, nt] {
        return Err(shape_err(loss, "true_expected_count", format!("[{b}, {nt}] (batch_size, num_true)"), sv.true_expected_count.shape()));
    }
    if sv.sampled_expected_count.shape() != [s] {
        return Err(shape_err(loss, "sampled_expected_count", format!("[{s}] (num_sampled: one per sampled candidate)"), sv.sampled_expected_count.shape()));
    }
    let index = |tensor: &'static str, shape: &[usize], it: &mut dyn Iterator<Item = i64>| -> Result<Vec<usize>> {
        it.enumerate()
            .map(|(pos, v)| {
                if v < 0 || v as u64 >= c as u64 {
                    Err(LossError::ClassIndex { loss, tensor, index: v, position: crate::machinery::error::unravel(pos, shape), classes: c, ignore_index: None })
                } else {
                    Ok(v as usize)
                }
            })
            .collect()
    };
    let labels_v = index("labels", labels.shape(), &mut labels.iter().map(|l| l.index()))?;
    let cand = index("sampled_candidates", &[s], &mut sv.sampled_candidates.iter().map(|l| l.index()))?;
    let x: Vec<f64> = inputs.iter().map(|v| v.to_wide()).collect();
    let wrow = |k: usize| weights.slice(ndarray::s![k, ..]).iter().map(|v| v.to_wide()).collect::<Vec<f64>>();
    let bias: Vec<f64> = biases.iter().map(|v| v.to_wide()).collect();
    let tec: Vec<f64> = sv.true_expected_count.iter().map(|v| v.to_wide()).collect();
    let sec: Vec<f64> = sv.sampled_expected_count.iter().map(|v| v.to_wide()).collect();
    let mut ws = Vec::with_capacity(s * d);
    for &k in &cand {
        ws.extend(wrow(k));
    }
    // True logits: the row-wise dots, plus the biases, minus log Q.
    let mut tl = vec![0.0; b * nt];
    for i in 0..b {
        let xi = &x[i * d..(i + 1) * d];
        for j in 0..nt {
            let l = labels_v[i * nt + j];
            let w = weights.slice(ndarray::s![l, ..]);
            let dot = sum_f64(xi.iter().zip(w.iter()).map(|(a, w)| a * w.to_wide()));
            tl[i * nt + j] = dot + bias[l] - tec[i * nt + j].ln();
        }
    }
    // Sampled logits: X W_sᵀ + biases (+ −FLT_MAX at the accidental hits) − log Q.
    let mut sl = vec![0.0; b * s];
    matmul(b, s, d, &mut sl, &x, (d as isize, 1), &ws, (1, d as isize), 1.0);
    let mut hit = vec![false; b * s];
    if remove_accidental_hits {
        // TensorFlow's ComputeAccidentalHits: each sampled value's last position.
        let mut last = std::collections::HashMap::new();
        for (k, &v) in cand.iter().enumerate() {
            last.insert(v, k);
        }
        for i in 0..b {
            for j in 0..nt {
                if let Some(&k) = last.get(&labels_v[i * nt + j]) {
                    hit[i * s + k] = true;
                }
            }
        }
    }
    for i in 0..b {
        for k in 0..s {
            let v = &mut sl[i * s + k];
            *v += bias[cand[k]];
            if hit[i * s + k] {
                *v += ACCIDENTAL_HIT;
            }
            *v -= sec[k].ln();
        }
    }
    Ok(SampledLogits { b, d, nt, s, x, labels: labels_v, cand, ws, tl, sl })
}

impl SampledLogits {
    /// The gradients from the logits' gradients `gt` `(b, nt)` and `gs` `(b, s)`.
    fn grads<T: Float>(&self, weights: &ArrayViewD<'_, T>, gt: &[f64], gs: &[f64]) -> SampledGradients<T> {
        let (b, d, nt, s) = (self.b, self.d, self.nt, self.s);
        let c = weights.shape()[0];
        let mut dw = vec![0.0; c * d];
        let mut db = vec![0.0; c];
        let mut dx = vec![0.0; b * d];
        matmul(b, d, s, &mut dx, gs, (s as isize, 1), &self.ws, (d as isize, 1), 1.0);
        let mut dws = vec![0.0; s * d];
        matmul(s, d, b, &mut dws, gs, (1, s as isize), &self.x, (d as isize, 1), 1.0);
        for (k, &cl) in self.cand.iter().enumerate() {
            dw[cl * d..(cl + 1) * d].iter_mut().zip(&dws[k * d..(k + 1) * d]).for_each(|(a, v)| *a += v);
            db[cl] += sum_f64((0..b).map(|i| gs[i * s + k]));
        }
        for i in 0..b {
            for j in 0..nt {
                let (l, g) = (self.labels[i * nt + j], gt[i * nt + j]);
                let w = weights.slice(ndarray::s![l, ..]);
                for (q, wv) in w.iter().enumerate() {
                    dx[i * d + q] += g * wv.to_wide();
                    dw[l * d + q] += g * self.x[i * d + q];
                }
                db[l] += g;
            }
        }
        SampledGradients { weights: narrow(weights.shape(), dw), biases: narrow(&[c], db), inputs: narrow(&[b, d], dx) }
    }
}

/// Writes the parameters struct's methods of a sampled loss from its
/// `losses(&SampledLogits) -> Vec<f64>` and `logit_grads(&SampledLogits, &Scales) -> (gt, gs)`.
macro_rules! sampled_methods {
    () => {
        /// Sets `num_true`, the number of target classes per example.
        #[must_use]
        pub fn num_true(mut self, num_true: usize) -> Self {
            self.num_true = num_true;
            self
        }

        /// Sets `remove_accidental_hits`.
        #[must_use]
        pub fn remove_accidental_hits(mut self, remove: bool) -> Self {
            self.remove_accidental_hits = remove;
            self
        }

        /// Sets the reduction of the per-example losses (default `None`: TensorFlow's `(batch_size,)` result).
        #[must_use]
        pub fn reduction(mut self, reduction: Reduction) -> Self {
            self.reduction = reduction;
            self
        }

        fn logits<T: Float, L: ClassIndex>(
            &self,
            weights: &ArrayViewD<'_, T>,
            biases: &ArrayViewD<'_, T>,
            labels: &ArrayViewD<'_, L>,
            inputs: &ArrayViewD<'_, T>,
            sampled_values: &SampledValues<'_, L, T>,
        ) -> Result<(SampledLogits, Reducer)> {
            let p = sampled_logits(Self::NAME, self.num_true, self.remove_accidental_hits, weights, biases, labels, inputs, sampled_values)?;
            let r = Reducer::counting(self.reduction, &[p.b], &[p.b]);
            Ok((p, r))
        }

        /// The per-example losses `(batch_size,)`, reduced as `self.reduction` says.
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward<T: Float, L: ClassIndex>(
            &self,
            weights: ArrayViewD<'_, T>,
            biases: ArrayViewD<'_, T>,
            labels: ArrayViewD<'_, L>,
            inputs: ArrayViewD<'_, T>,
            sampled_values: &SampledValues<'_, L, T>,
        ) -> Result<ArrayD<T>> {
            let (p, r) = self.logits(&weights, &biases, &labels, &inputs, sampled_values)?;
            Ok(r.output(self.losses(&p)))
        }

        /// The gradients of `Σ grad_output · loss` with respect to `weights`, `biases`
        /// and `inputs` (the sampled values are constants: TensorFlow stops their gradient).
        ///
        /// # Errors
        /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not have the result's shape.
        pub fn backward<T: Float, L: ClassIndex>(
            &self,
            weights: ArrayViewD<'_, T>,
            biases: ArrayViewD<'_, T>,
            labels: ArrayViewD<'_, L>,
            inputs: ArrayViewD<'_, T>,
            sampled_values: &SampledValues<'_, L, T>,
            grad_output: ArrayViewD<'_, T>,
        ) -> Result<SampledGradients<T>> {
            let (p, r) = self.logits(&weights, &biases, &labels, &inputs, sampled_values)?;
            let scales = r.scales(Self::NAME, &grad_output)?;
            let (gt, gs) = self.logit_grads(&p, &scales);
            Ok(p.grads(&weights, &gt, &gs))
        }

        /// The losses and their gradients (of their sum when unreduced), in one pass.
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward_backward<T: Float, L: ClassIndex>(
            &self,
            weights: ArrayViewD<'_, T>,
            biases: ArrayViewD<'_, T>,
            labels: ArrayViewD<'_, L>,
            inputs: ArrayViewD<'_, T>,
            sampled_values: &SampledValues<'_, L, T>,
        ) -> Result<(ArrayD<T>, SampledGradients<T>)> {
            let (p, r) = self.logits(&weights, &biases, &labels, &inputs, sampled_values)?;
            let value = r.output(self.losses(&p));
            let ones = ArrayD::<T>::from_elem(ndarray::IxDyn(&r.output_shape()), T::one());
            let scales = r.scales(Self::NAME, &ones.view())?;
            let (gt, gs) = self.logit_grads(&p, &scales);
            Ok((value, p.grads(&weights, &gt, &gs)))
        }
    };
}

/// TensorFlow's sampled softmax, `tf.nn.sampled_softmax_loss(weights, biases, labels,
/// inputs, num_sampled, num_classes, num_true, sampled_values, remove_accidental_hits=True)`,
/// with the candidate sampler's output given (`sampled_values`) so that it is deterministic.
///
/// As TensorFlow's `_compute_sampled_logits` (`subtract_log_q=True`): for example `b`
/// with true classes `y_b1 … y_bT` (`T = num_true`) and the sampled classes `s_1 … s_S`,
///
/// ```text
/// t_bj = x_b · w_{y_bj} + bias_{y_bj} − log true_expected_count_bj
/// u_bk = x_b · w_{s_k} + bias_{s_k} (− FLT_MAX at an accidental hit) − log sampled_expected_count_k
/// loss_b = softmax_cross_entropy([t_b, u_b], [1/T, …, 1/T, 0, …, 0])
///        = logsumexp(t_b, u_b) − (1/T) Σ_j t_bj
/// ```
///
/// An accidental hit is a sampled class equal to one of the example's true classes;
/// TensorFlow's `compute_accidental_hits` marks, for a value sampled more than once,
/// only its **last** position in `sampled_candidates`, and adds `-FLT_MAX` (the float32
/// maximum, also in float64) rather than `-inf`: followed. The expected counts are
/// constants (TensorFlow stops their gradient); the gradients are those of `weights`,
/// `biases` and `inputs`. `num_sampled` and `num_classes` are not parameters: they are
/// the length of `sampled_candidates` and the rows of `weights` (TensorFlow uses
/// `num_classes` only to sample). `labels` must be `(batch_size, num_true)`.
///
/// # Errors
/// [`LossError::Shape`] for a tensor whose shape does not fit the others (the message
/// says the expected shape), [`LossError::ClassIndex`] for a label or sampled candidate
/// outside `[0, num_classes)` (TensorFlow's `embedding_lookup` refuses it),
/// [`LossError::Option`] for `num_true` 0.
///
/// # Examples
/// ```
/// use ndarray::{array, ArrayD, IxDyn};
/// use losslab::tf::{SampledSoftmaxLoss, SampledValues};
/// let w = ArrayD::<f64>::zeros(IxDyn(&[4, 2]));
/// let b = ArrayD::<f64>::zeros(IxDyn(&[4]));
/// let x = array![[1.0f64, 2.0]].into_dyn();
/// let labels = array![[0i64]].into_dyn();
/// let cand = array![1i64, 2].into_dyn();
/// let (tec, sec) = (array![[1.0f64]].into_dyn(), array![1.0f64, 1.0].into_dyn());
/// let sv = SampledValues { sampled_candidates: cand.view(), true_expected_count: tec.view(), sampled_expected_count: sec.view() };
/// let l = SampledSoftmaxLoss::new().forward(w.view(), b.view(), labels.view(), x.view(), &sv).unwrap();
/// assert!((l[0] - 3f64.ln()).abs() < 1e-15); // three logits 0
/// ```
///
/// # References
/// S. Jean, K. Cho, R. Memisevic, Y. Bengio, "On Using Very Large Target Vocabulary
/// for Neural Machine Translation", ACL 2015; TensorFlow `tf.nn.sampled_softmax_loss`
/// (`tensorflow/python/ops/nn_impl.py`), 2.21.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SampledSoftmaxLoss {
    /// The number of target classes per example (default 1).
    pub num_true: usize,
    /// Whether to remove the accidental hits (default `true`).
    pub remove_accidental_hits: bool,
    /// The reduction of the per-example losses (default `None`).
    pub reduction: Reduction,
}

impl Default for SampledSoftmaxLoss {
    fn default() -> Self {
        SampledSoftmaxLoss { num_true: 1, remove_accidental_hits: true, reduction: Reduction::None }
    }
}

impl SampledSoftmaxLoss {
    const NAME: &'static str = "sampled_softmax_loss";

    /// TensorFlow's defaults: `num_true=1`, `remove_accidental_hits=True`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }

    fn losses(&self, p: &SampledLogits) -> Vec<f64> {
        let (nt, s) = (p.nt, p.s);
        #[allow(clippy::cast_precision_loss)]
        let y = 1.0 / nt as f64;
        (0..p.b)
            .map(|i| {
                let row: Vec<f64> = p.tl[i * nt..(i + 1) * nt].iter().chain(&p.sl[i * s..(i + 1) * s]).copied().collect();
                let l = lse(&row);
                sum_f64(p.tl[i * nt..(i + 1) * nt].iter().map(|&t| y * (l - t)))
            })
            .collect()
    }

    fn logit_grads(&self, p: &SampledLogits, scales: &Scales) -> (Vec<f64>, Vec<f64>) {
        let (nt, s) = (p.nt, p.s);
        #[allow(clippy::cast_precision_loss)]
        let y = 1.0 / nt as f64;
        let (mut gt, mut gs) = (vec![0.0; p.b * nt], vec![0.0; p.b * s]);
        for i in 0..p.b {
            let u = scales.at(i);
            let row: Vec<f64> = p.tl[i * nt..(i + 1) * nt].iter().chain(&p.sl[i * s..(i + 1) * s]).copied().collect();
            let l = lse(&row);
            for j in 0..nt {
                gt[i * nt + j] = u * ((p.tl[i * nt + j] - l).exp() - y);
            }
            for k in 0..s {
                gs[i * s + k] = u * (p.sl[i * s + k] - l).exp();
            }
        }
        (gt, gs)
    }

    sampled_methods!();
}

/// TensorFlow's noise-contrastive estimation loss, `tf.nn.nce_loss(weights, biases,
/// labels, inputs, num_sampled, num_classes, num_true, sampled_values,
/// remove_accidental_hits=False)`, with the candidate sampler's output given.
///
/// The logits are [`SampledSoftmaxLoss`]'s (`_compute_sampled_logits`,
/// `subtract_log_q=True`); each is a binary classification, the true classes with
/// label `1/num_true`, the sampled ones with label 0:
///
/// ```text
/// loss_b = Σ_j sce(t_bj, 1/T) + Σ_k sce(u_bk, 0)
/// sce(x, z) = max(x, 0) − x z + log(1 + exp(−|x|))     (sigmoid_cross_entropy_with_logits)
/// ```
///
/// With `remove_accidental_hits` (off by default, as TensorFlow's), a hit's logit is
/// shifted by `-FLT_MAX` and contributes 0. See [`SampledSoftmaxLoss`] for the
/// accidental hits, the shapes and what is differentiated.
///
/// # Errors
/// As [`SampledSoftmaxLoss`].
///
/// # Examples
/// ```
/// use ndarray::{array, ArrayD, IxDyn};
/// use losslab::tf::{NceLoss, SampledValues};
/// let w = ArrayD::<f64>::zeros(IxDyn(&[4, 2]));
/// let b = ArrayD::<f64>::zeros(IxDyn(&[4]));
/// let x = array![[1.0f64, 2.0]].into_dyn();
/// let labels = array![[0i64]].into_dyn();
/// let cand = array![1i64, 2].into_dyn();
/// let (tec, sec) = (array![[1.0f64]].into_dyn(), array![1.0f64, 1.0].into_dyn());
/// let sv = SampledValues { sampled_candidates: cand.view(), true_expected_count: tec.view(), sampled_expected_count: sec.view() };
/// let l = NceLoss::new().forward(w.view(), b.view(), labels.view(), x.view(), &sv).unwrap();
/// assert!((l[0] - 3.0 * 2f64.ln()).abs() < 1e-15); // three logits 0: 3 ln 2
/// ```
///
/// # References
/// M. Gutmann, A. Hyvärinen, "Noise-contrastive estimation: A new estimation principle
/// for unnormalized statistical models", AISTATS 2010; TensorFlow `tf.nn.nce_loss`
/// (`tensorflow/python/ops/nn_impl.py`), 2.21.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NceLoss {
    /// The number of target classes per example (default 1).
    pub num_true: usize,
    /// Whether to remove the accidental hits (default `false`).
    pub remove_accidental_hits: bool,
    /// The reduction of the per-example losses (default `None`).
    pub reduction: Reduction,
}

impl Default for NceLoss {
    fn default() -> Self {
        NceLoss { num_true: 1, remove_accidental_hits: false, reduction: Reduction::None }
    }
}

/// TensorFlow's `sigmoid_cross_entropy_with_logits`: `max(x, 0) − x z + log1p(exp(−|x|))`.
fn sce(x: f64, z: f64) -> f64 {
    x.max(0.0) - x * z + (-x.abs()).exp().ln_1p()
}

impl NceLoss {
    const NAME: &'static str = "nce_loss";

    /// TensorFlow's defaults: `num_true=1`, `remove_accidental_hits=False`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }

    fn losses(&self, p: &SampledLogits) -> Vec<f64> {
        let (nt, s) = (p.nt, p.s);
        #[allow(clippy::cast_precision_loss)]
        let y = 1.0 / nt as f64;
        (0..p.b)
            .map(|i| sum_f64(p.tl[i * nt..(i + 1) * nt].iter().map(|&t| sce(t, y)).chain(p.sl[i * s..(i + 1) * s].iter().map(|&u| sce(u, 0.0)))))
            .collect()
    }

    fn logit_grads(&self, p: &SampledLogits, scales: &Scales) -> (Vec<f64>, Vec<f64>) {
        let (nt, s) = (p.nt, p.s);
        #[allow(clippy::cast_precision_loss)]
        let y = 1.0 / nt as f64;
        let gt = (0..p.b * nt).map(|q| scales.at(q / nt) * (sigmoid_f64(p.tl[q]) - y)).collect();
        let gs = (0..p.b * s).map(|q| scales.at(q / s.max(1)) * sigmoid_f64(p.sl[q])).collect();
        (gt, gs)
    }

    sampled_methods!();
}

/// [`SampledSoftmaxLoss`]'s result with TensorFlow's defaults and `num_true`:
/// `tf.nn.sampled_softmax_loss(weights, biases, labels, inputs, S, C, num_true, sampled_values)`.
///
/// # Errors
/// See [`SampledSoftmaxLoss`].
///
/// # Examples
/// ```
/// use ndarray::{array, ArrayD, IxDyn};
/// let w = ArrayD::<f64>::zeros(IxDyn(&[3, 1]));
/// let b = ArrayD::<f64>::zeros(IxDyn(&[3]));
/// let (cand, tec, sec) = (array![0i64, 2].into_dyn(), array![[1.0f64]].into_dyn(), array![1.0f64, 1.0].into_dyn());
/// let sv = losslab::tf::SampledValues { sampled_candidates: cand.view(), true_expected_count: tec.view(), sampled_expected_count: sec.view() };
/// // class 0 is sampled and true: an accidental hit, removed
/// let l = losslab::tf::sampled_softmax_loss(w.view(), b.view(), array![[0i64]].into_dyn().view(), array![[1.0f64]].into_dyn().view(), 1, &sv).unwrap();
/// assert!((l[0] - 2f64.ln()).abs() < 1e-15);
/// ```
pub fn sampled_softmax_loss<T: Float, L: ClassIndex>(
    weights: ArrayViewD<'_, T>,
    biases: ArrayViewD<'_, T>,
    labels: ArrayViewD<'_, L>,
    inputs: ArrayViewD<'_, T>,
    num_true: usize,
    sampled_values: &SampledValues<'_, L, T>,
) -> Result<ArrayD<T>> {
    SampledSoftmaxLoss::new().num_true(num_true).forward(weights, biases, labels, inputs, sampled_values)
}

/// [`NceLoss`]'s result with TensorFlow's defaults and `num_true`:
/// `tf.nn.nce_loss(weights, biases, labels, inputs, S, C, num_true, sampled_values)`.
///
/// # Errors
/// See [`NceLoss`].
///
/// # Examples
/// ```
/// use ndarray::{array, ArrayD, IxDyn};
/// let w = ArrayD::<f64>::zeros(IxDyn(&[3, 1]));
/// let b = ArrayD::<f64>::zeros(IxDyn(&[3]));
/// let (cand, tec, sec) = (array![2i64].into_dyn(), array![[1.0f64]].into_dyn(), array![1.0f64].into_dyn());
/// let sv = losslab::tf::SampledValues { sampled_candidates: cand.view(), true_expected_count: tec.view(), sampled_expected_count: sec.view() };
/// let l = losslab::tf::nce_loss(w.view(), b.view(), array![[0i64]].into_dyn().view(), array![[1.0f64]].into_dyn().view(), 1, &sv).unwrap();
/// assert!((l[0] - 2.0 * 2f64.ln()).abs() < 1e-15);
/// ```
pub fn nce_loss<T: Float, L: ClassIndex>(
    weights: ArrayViewD<'_, T>,
    biases: ArrayViewD<'_, T>,
    labels: ArrayViewD<'_, L>,
    inputs: ArrayViewD<'_, T>,
    num_true: usize,
    sampled_values: &SampledValues<'_, L, T>,
) -> Result<ArrayD<T>> {
    NceLoss::new().num_true(num_true).forward(weights, biases, labels, inputs, sampled_values)
}

#[cfg(test)]
mod tests {
    use super::py_floordiv;

    #[test]
    fn floor_division_is_pythons() {
        // Python: 7 // 2.0 == 3.0, 1 // 0.1 == 9.0 (not floor(1 / 0.1) = 10), 5 // inf == 0.0
        assert_eq!(py_floordiv(7.0, 2.0), 3.0);
        assert_eq!(py_floordiv(1.0, 0.1), 9.0);
        assert_eq!(py_floordiv(5.0, f64::INFINITY), 0.0);
        assert_eq!(py_floordiv(16.0, 4.0f64.powf(2.0)), 1.0);
    }
}
