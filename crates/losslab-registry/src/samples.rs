//! Valid random inputs for every loss of the catalog, from one table of
//! recipes: what `losslab bench` times, and what a front end or a peer
//! benchmark can reuse to run on the same kind of data.
//!
//! Each [`Recipe`] names its loss, the sizes its shape is made of (`N`, `N×C`,
//! `T×N×C×S`, ...), a default of a few million elements (sequence and pair
//! losses smaller), the options it needs, and how it draws its tensors: class
//! indices in range, probabilities in (0, 1) (rows normalised where the loss
//! wants distributions), positive rates and variances, ±1 labels where the loss
//! wants them, valid boxes (x1 < x2, y1 < y2), feasible CTC lengths. A unit test
//! checks that every loss of [`catalog`](crate::catalog) has a recipe and that each
//! recipe's inputs evaluate, with every gradient the loss differentiates.
//!
//! # Examples
//! ```
//! use losslab_registry::{resolve, samples, Dtype, EvalRequest};
//! let spec = resolve("keras:hinge").unwrap();
//! let recipe = samples::recipe(spec).unwrap();
//! assert_eq!(recipe.dims, "N×C");
//! let dims = recipe.scaled_dims(1e-4); // the batch axis scaled: a small run
//! let tensors = samples::sample_inputs(spec, &dims, Dtype::Float32, 7).unwrap();
//! let mut request = EvalRequest { want_grads: true, ..EvalRequest::default() };
//! request.tensors = tensors.into_iter().map(|(n, t)| (n.to_string(), t.into())).collect();
//! request.options = samples::sample_options(spec);
//! let e = spec.evaluate(request).unwrap();
//! assert_eq!(e.grads.keys().collect::<Vec<_>>(), ["y_pred", "y_true"]);
//! ```

use crate::error::fail;
use crate::{Dtype, LossSpec, OptionValue, Result, Tensor};
use ndarray::{ArrayD, Axis, IxDyn};
use std::collections::BTreeMap;

/// A recipe's drawing of its tensors, given its sizes.
type Build = fn(&mut Maker, &[usize]) -> Vec<(&'static str, Tensor)>;

/// How to draw valid inputs for one loss.
#[derive(Clone, Copy)]
pub struct Recipe {
    /// The loss's qualified name (`torch:mse_loss`).
    pub loss: &'static str,
    /// The sizes a shape is made of, joined by `×` (`N`, `N×C`, `T×N×C×S`).
    pub dims: &'static str,
    /// The default sizes (a few million elements in the largest tensor).
    pub default: &'static [usize],
    /// The least each size may be (classes ≥ 2, ...).
    pub min: &'static [usize],
    /// The index of the batch size, the one [`scaled_dims`](Recipe::scaled_dims) scales.
    pub batch: usize,
    /// Options the loss needs beyond its defaults (TensorFlow's `pos_weight`, optax's `alpha`).
    pub options: &'static [(&'static str, OptionValue)],
    build: Build,
}

impl std::fmt::Debug for Recipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipe").field("loss", &self.loss).field("dims", &self.dims).field("default", &self.default).finish_non_exhaustive()
    }
}

impl Recipe {
    /// The default sizes with the batch size multiplied by `scale` (rounded, at least the minimum).
    pub fn scaled_dims(&self, scale: f64) -> Vec<usize> {
        let mut d = self.default.to_vec();
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let scaled = (d[self.batch] as f64 * scale).round().max(1.0) as usize;
        d[self.batch] = scaled.max(self.min[self.batch]);
        d
    }
}

/// Every recipe, one per loss of the catalog.
pub fn recipes() -> &'static [Recipe] {
    RECIPES
}

/// The recipe of `spec`'s loss (`None` only for a loss added to the catalog
/// without one, which a unit test refuses).
pub fn recipe(spec: &LossSpec) -> Option<&'static Recipe> {
    let q = spec.qualified_name();
    RECIPES.iter().find(|r| r.loss == q)
}

/// The options `spec`'s recipe sets (empty for most losses).
pub fn sample_options(spec: &LossSpec) -> BTreeMap<String, OptionValue> {
    recipe(spec).map(|r| r.options.iter().map(|&(k, v)| (k.to_string(), v)).collect()).unwrap_or_default()
}

/// Valid random inputs of `spec`'s loss for the sizes `dims` (see
/// [`Recipe::dims`]), float tensors in `dtype`, drawn from `seed`
/// (the same arguments give the same tensors).
///
/// # Errors
/// [`ErrorKind::Shape`](crate::ErrorKind::Shape) for sizes of the wrong count, below the
/// recipe's minimum, or overflowing; [`ErrorKind::Dtype`](crate::ErrorKind::Dtype) for an
/// integer `dtype`; [`ErrorKind::UnknownLoss`](crate::ErrorKind::UnknownLoss) for a loss without a recipe.
pub fn sample_inputs(spec: &LossSpec, dims: &[usize], dtype: Dtype, seed: u64) -> Result<Vec<(&'static str, Tensor)>> {
    let q = spec.qualified_name();
    let Some(r) = recipe(spec) else { fail!(UnknownLoss, "{q} has no input recipe (losslab_registry::samples)") };
    if !dtype.is_float() {
        fail!(Dtype, "{q}: samples are float32 or float64, not {dtype}");
    }
    if dims.len() != r.default.len() {
        fail!(Shape, "{q} takes a shape {} ({} sizes, e.g. {}), got {} size(s)", r.dims, r.default.len(), join(r.default), dims.len());
    }
    let names: Vec<&str> = r.dims.split('×').collect();
    for ((&d, &m), n) in dims.iter().zip(r.min).zip(&names) {
        if d < m {
            fail!(Shape, "{q}: size {n} = {d} is too small (at least {m}; the shape is {})", r.dims);
        }
    }
    if dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_none_or(|n| n > isize::MAX as usize / 16) {
        fail!(Shape, "{q}: the shape {} is too large", join(dims));
    }
    let mut m = Maker { seed, stream: 0, dtype };
    Ok((r.build)(&mut m, dims))
}

fn join(d: &[usize]) -> String {
    d.iter().map(ToString::to_string).collect::<Vec<_>>().join("x")
}

/// Draws tensors: each from its own stream of `seed`.
struct Maker {
    seed: u64,
    stream: u64,
    dtype: Dtype,
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    #[allow(clippy::cast_precision_loss)]
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Uniform in [0, n).
    #[allow(clippy::cast_possible_truncation)]
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

impl Maker {
    fn rng(&mut self) -> Rng {
        self.stream += 1;
        Rng(self.seed ^ self.stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    fn float(&self, a: ArrayD<f64>) -> Tensor {
        Tensor::F64(a).cast_float(self.dtype)
    }

    fn fill(&mut self, shape: &[usize], mut f: impl FnMut(&mut Rng) -> f64) -> ArrayD<f64> {
        let mut r = self.rng();
        ArrayD::from_shape_simple_fn(IxDyn(shape), || f(&mut r))
    }

    /// Normal, standard deviation `scale`.
    fn normal(&mut self, shape: &[usize], scale: f64) -> Tensor {
        let a = self.fill(shape, |r| r.normal() * scale);
        self.float(a)
    }

    /// Uniform in [lo, hi).
    fn uniform(&mut self, shape: &[usize], lo: f64, hi: f64) -> Tensor {
        let a = self.fill(shape, |r| lo + (hi - lo) * r.unit());
        self.float(a)
    }

    /// −1 or 1.
    fn signs(&mut self, shape: &[usize]) -> Tensor {
        let a = self.fill(shape, |r| if r.next() >> 63 == 0 { -1.0 } else { 1.0 });
        self.float(a)
    }

    /// 0 or 1.
    #[allow(clippy::cast_precision_loss)]
    fn binary(&mut self, shape: &[usize]) -> Tensor {
        let a = self.fill(shape, |r| (r.next() >> 63) as f64);
        self.float(a)
    }

    /// Poisson counts of mean 2 (as floats).
    fn counts(&mut self, shape: &[usize]) -> Tensor {
        let l = (-2.0f64).exp();
        let a = self.fill(shape, |r| {
            let (mut k, mut p) = (0.0, r.unit());
            while p > l {
                k += 1.0;
                p *= r.unit();
            }
            k
        });
        self.float(a)
    }

    /// Softmax of normal logits (scale 2) along `axis`: each lane a distribution in (0, 1).
    fn simplex_raw(&mut self, shape: &[usize], axis: usize) -> ArrayD<f64> {
        let mut a = self.fill(shape, |r| r.normal() * 2.0);
        for mut lane in a.lanes_mut(Axis(axis)) {
            let max = lane.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            lane.mapv_inplace(|v| (v - max).exp());
            let s = lane.sum();
            lane.mapv_inplace(|v| v / s);
        }
        a
    }

    /// Distributions along the last axis.
    fn simplex(&mut self, shape: &[usize]) -> Tensor {
        let a = self.simplex_raw(shape, shape.len() - 1);
        self.float(a)
    }

    /// Log-distributions along the last axis.
    fn log_simplex(&mut self, shape: &[usize]) -> Tensor {
        let a = self.simplex_raw(shape, shape.len() - 1).mapv(f64::ln);
        self.float(a)
    }

    /// Class indices in [lo, hi).
    #[allow(clippy::cast_possible_wrap)]
    fn classes(&mut self, shape: &[usize], lo: usize, hi: usize) -> Tensor {
        let mut r = self.rng();
        Tensor::I64(ArrayD::from_shape_simple_fn(IxDyn(shape), || (lo + r.below(hi - lo)) as i64))
    }

    /// One-hot rows of `n × c` (as floats).
    fn one_hot(&mut self, n: usize, c: usize) -> Tensor {
        let mut r = self.rng();
        let mut a = ArrayD::zeros(IxDyn(&[n, c]));
        for i in 0..n {
            a[[i, r.below(c)]] = 1.0;
        }
        self.float(a)
    }

    /// Per-token log-probabilities `(B, T)` in (−4, 0), and two more within a normal
    /// step of scale 0.2 of them (the sampling and reference policies'), at most 0.
    fn policy_logps(&mut self, shape: &[usize]) -> (Tensor, Tensor, Tensor) {
        let lp = self.fill(shape, |r| -4.0 * r.unit() - 1e-3);
        let near = |m: &mut Self| {
            let noise = m.fill(shape, |r| r.normal() * 0.2);
            m.float((&lp + &noise).mapv(|v| v.min(0.0)))
        };
        let (old, rf) = (near(self), near(self));
        (self.float(lp.clone()), old, rf)
    }

    /// A right-padded 0/1 mask `(B, T)` (int64): each row's length uniform in [1, T].
    #[allow(clippy::cast_possible_wrap)]
    fn padding_mask(&mut self, shape: &[usize]) -> Tensor {
        let mut r = self.rng();
        let (b, t) = (shape[0], shape[1]);
        let mut a = ArrayD::zeros(IxDyn(&[b, t]));
        for i in 0..b {
            let len = 1 + r.below(t);
            for j in 0..len {
                a[[i, j]] = 1i64;
            }
        }
        Tensor::I64(a)
    }

    /// `n × d` rows of unit L2 norm.
    fn unit_rows(&mut self, n: usize, d: usize) -> Tensor {
        let mut a = self.fill(&[n, d], Rng::normal);
        for mut row in a.lanes_mut(Axis(1)) {
            let norm = row.dot(&row).sqrt().max(1e-12);
            row.mapv_inplace(|v| v / norm);
        }
        self.float(a)
    }

    /// `n` valid boxes (x1, y1, x2, y2): x1 < x2, y1 < y2, in a 100 × 100 frame.
    fn boxes(&mut self, n: usize) -> Tensor {
        let mut r = self.rng();
        let mut a = ArrayD::zeros(IxDyn(&[n, 4]));
        for i in 0..n {
            let (x, y) = (r.unit() * 80.0, r.unit() * 80.0);
            let (w, h) = (1.0 + r.unit() * 19.0, 1.0 + r.unit() * 19.0);
            a[[i, 0]] = x;
            a[[i, 1]] = y;
            a[[i, 2]] = x + w;
            a[[i, 3]] = y + h;
        }
        self.float(a)
    }

    /// Padded CTC labels for `n` sequences of at most `s` labels in [1, c), each length
    /// at most `(t − 1) / 2` (always feasible in `t` frames, repeats included): the
    /// labels (n, s) padded with `pad`, and the lengths (n,).
    #[allow(clippy::cast_possible_wrap)]
    fn ctc_labels(&mut self, t: usize, n: usize, c: usize, s: usize, pad: i64) -> (Tensor, Vec<usize>) {
        let mut r = self.rng();
        let most = s.min((t.saturating_sub(1) / 2).max(1));
        let least = (most / 2).max(1);
        let mut labels = ArrayD::from_elem(IxDyn(&[n, s]), pad);
        let mut lengths = Vec::with_capacity(n);
        for i in 0..n {
            let len = least + r.below(most - least + 1);
            for j in 0..len {
                labels[[i, j]] = 1 + r.below(c - 1) as i64;
            }
            lengths.push(len);
        }
        (Tensor::I64(labels), lengths)
    }
}

/// Inputs of TensorFlow's sampled losses: B examples, dim D, V classes, S sampled candidates.
fn sampled_inputs(m: &mut Maker, d: &[usize]) -> Vec<(&'static str, Tensor)> {
    let (b, dim, v, s) = (d[0], d[1], d[2], d[3]);
    #[allow(clippy::cast_precision_loss)]
    let w = m.normal(&[v, dim], 1.0 / (dim.max(1) as f64).sqrt());
    vec![
        ("weights", w),
        ("biases", m.normal(&[v], 0.1)),
        ("labels", m.classes(&[b, 1], 0, v)),
        ("inputs", m.normal(&[b, dim], 1.0)),
        ("sampled_candidates", m.classes(&[s], 0, v)),
        ("true_expected_count", m.uniform(&[b, 1], 0.01, 1.0)),
        ("sampled_expected_count", m.uniform(&[s], 0.01, 1.0)),
    ]
}

#[allow(clippy::cast_possible_wrap)]
fn ints(v: &[usize]) -> Tensor {
    Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.iter().map(|&x| x as i64).collect()).expect("1-d"))
}

/// Element-wise losses over a vector.
const EW: &[usize] = &[1 << 22];
const EW_MIN: &[usize] = &[1];
/// Per-row losses: N rows of C classes.
const ROWS: &[usize] = &[16384, 256];
const ROWS_MIN: &[usize] = &[1, 2];
/// Keras-style losses averaged over the last axis.
const KROWS: &[usize] = &[65536, 64];
const KROWS_MIN: &[usize] = &[1, 1];
/// The LM head: tokens, hidden size, vocabulary.
const LM_HEAD: &[usize] = &[2048, 512, 32000];
const LM_HEAD_MIN: &[usize] = &[1, 1, 2];
/// Pairs and triplets of embeddings: N × D.
const PAIRS: &[usize] = &[1 << 20, 16];
/// Losses over every pair of a batch: N × D.
const ALL_PAIRS: &[usize] = &[2048, 128];
const ALL_PAIRS_MIN: &[usize] = &[2, 1];
/// CTC: frames, batch, classes (blank included), labels.
const CTC: &[usize] = &[200, 32, 50, 40];
const CTC_MIN: &[usize] = &[3, 1, 2, 1];
/// Segmentation: batch, pixels, classes.
const SEG: &[usize] = &[16, 65536, 4];
const SEG_MIN: &[usize] = &[1, 1, 1];

/// Angular-margin softmax losses: embeddings, their width, classes.
const FACE: &[usize] = &[2048, 256, 1000];
const FACE_MIN: &[usize] = &[1, 1, 1];

/// Embeddings `N × D`, labels in `[0, C)`, a class matrix `W` `(D, C)` of standard normals.
fn face_inputs(m: &mut Maker, d: &[usize]) -> Vec<(&'static str, Tensor)> {
    vec![("embeddings", m.normal(&d[..2], 1.0)), ("labels", m.classes(&d[..1], 0, d[2])), ("W", m.normal(&[d[1], d[2]], 1.0))]
}

/// The pair losses of pml (every pair, O(N²) per-row loops; N-pairs on one pair per label): N × D.
const METRIC_PAIRS: &[usize] = &[1024, 128];

/// Embeddings `N × D`, labels in `[0, N/8)`.
fn pair_inputs(m: &mut Maker, d: &[usize]) -> Vec<(&'static str, Tensor)> {
    vec![("embeddings", m.normal(d, 1.0)), ("labels", m.classes(&d[..1], 0, (d[0] / 8).max(1)))]
}
/// Language-model logits: batch, sequence, vocabulary.
const TOKENS: &[usize] = &[4, 128, 8192];
const TOKENS_MIN: &[usize] = &[1, 1, 2];

/// Policy-gradient losses: completions, tokens.
const POLICY: &[usize] = &[4096, 1024];
const POLICY_MIN: &[usize] = &[1, 1];

const fn r(
    loss: &'static str,
    dims: &'static str,
    default: &'static [usize],
    min: &'static [usize],
    build: Build,
) -> Recipe {
    Recipe { loss, dims, default, min, batch: 0, options: &[], build }
}

static RECIPES: &[Recipe] = &[
    // ---- PyTorch: regression
    r("torch:mse_loss", "N", EW, EW_MIN, |m, d| vec![("input", m.normal(d, 1.0)), ("target", m.normal(d, 1.0))]),
    r("torch:l1_loss", "N", EW, EW_MIN, |m, d| vec![("input", m.normal(d, 1.0)), ("target", m.normal(d, 1.0))]),
    r("torch:smooth_l1_loss", "N", EW, EW_MIN, |m, d| vec![("input", m.normal(d, 1.0)), ("target", m.normal(d, 1.0))]),
    r("torch:huber_loss", "N", EW, EW_MIN, |m, d| vec![("input", m.normal(d, 1.0)), ("target", m.normal(d, 1.0))]),
    // ---- PyTorch: classification
    r("torch:cross_entropy", "N×C", ROWS, ROWS_MIN, |m, d| vec![("input", m.normal(d, 2.0)), ("target", m.classes(&d[..1], 0, d[1]))]),
    r("torch:linear_cross_entropy", "N×D×V", LM_HEAD, LM_HEAD_MIN, |m, d| {
        let (n, dim, v) = (d[0], d[1], d[2]);
        #[allow(clippy::cast_precision_loss)]
        let w = m.normal(&[v, dim], 1.0 / (dim.max(1) as f64).sqrt());
        vec![("input", m.normal(&[n, dim], 1.0)), ("linear_weight", w), ("target", m.classes(&[n], 0, v))]
    }),
    // adaptive softmax: cutoffs at V/10 and V/2 (two clusters), div_value 4 (tails of D/4 and D/16 rows)
    r("torch:adaptive_log_softmax_with_loss", "N×D×V", &[4096, 512, 50000], &[1, 1, 4], |m, d| {
        let (n, dim, v) = (d[0], d[1], d[2]);
        let c0 = (v / 10).max(1);
        let c1 = (v / 2).max(c0 + 1);
        let (h0, h1) = (dim / 4, dim / 16);
        #[allow(clippy::cast_precision_loss)]
        let s = |k: usize| 1.0 / (k.max(1) as f64).sqrt();
        vec![
            ("input", m.normal(&[n, dim], 1.0)),
            ("target", m.classes(&[n], 0, v)),
            ("cutoffs", ints(&[c0, c1])),
            ("head_weight", m.normal(&[c0 + 2, dim], s(dim))),
            ("tail_0_proj", m.normal(&[h0, dim], s(dim))),
            ("tail_0_out", m.normal(&[c1 - c0, h0], s(h0))),
            ("tail_1_proj", m.normal(&[h1, dim], s(dim))),
            ("tail_1_out", m.normal(&[v - c1, h1], s(h1))),
        ]
    }),
    r("torch:nll_loss", "N×C", ROWS, ROWS_MIN, |m, d| vec![("input", m.log_simplex(d)), ("target", m.classes(&d[..1], 0, d[1]))]),
    r("torch:binary_cross_entropy", "N", EW, EW_MIN, |m, d| vec![("input", m.uniform(d, 0.01, 0.99)), ("target", m.uniform(d, 0.0, 1.0))]),
    r("torch:binary_cross_entropy_with_logits", "N", EW, EW_MIN, |m, d| vec![("input", m.normal(d, 2.0)), ("target", m.binary(d))]),
    r("torch:kl_div", "N×C", ROWS, ROWS_MIN, |m, d| vec![("input", m.log_simplex(d)), ("target", m.simplex(d))]),
    // ---- PyTorch: likelihood and margin
    r("torch:poisson_nll_loss", "N", EW, EW_MIN, |m, d| vec![("input", m.normal(d, 0.5)), ("target", m.counts(d))]),
    r("torch:gaussian_nll_loss", "N", EW, EW_MIN, |m, d| {
        vec![("input", m.normal(d, 1.0)), ("target", m.normal(d, 1.0)), ("var", m.uniform(d, 0.1, 2.0))]
    }),
    r("torch:margin_ranking_loss", "N", EW, EW_MIN, |m, d| {
        vec![("input1", m.normal(d, 1.0)), ("input2", m.normal(d, 1.0)), ("target", m.signs(d))]
    }),
    r("torch:hinge_embedding_loss", "N", EW, EW_MIN, |m, d| vec![("input", m.uniform(d, 0.0, 2.0)), ("target", m.signs(d))]),
    r("torch:soft_margin_loss", "N", EW, EW_MIN, |m, d| vec![("input", m.normal(d, 1.0)), ("target", m.signs(d))]),
    r("torch:multilabel_soft_margin_loss", "N×C", ROWS, ROWS_MIN, |m, d| vec![("input", m.normal(d, 2.0)), ("target", m.binary(d))]),
    r("torch:multilabel_margin_loss", "N×C", &[65536, 16], ROWS_MIN, |m, d| {
        // Up to 4 distinct target classes per row, then −1.
        let (n, c) = (d[0], d[1]);
        let mut rng = m.rng();
        let mut t = ArrayD::from_elem(IxDyn(&[n, c]), -1i64);
        for i in 0..n {
            let k = 1 + rng.below(c.min(4));
            let start = rng.below(c);
            for j in 0..k {
                #[allow(clippy::cast_possible_wrap)]
                let class = ((start + j) % c) as i64;
                t[[i, j]] = class;
            }
        }
        vec![("input", m.normal(d, 1.0)), ("target", Tensor::I64(t))]
    }),
    r("torch:multi_margin_loss", "N×C", &[4096, 1000], ROWS_MIN, |m, d| vec![("input", m.normal(d, 1.0)), ("target", m.classes(&d[..1], 0, d[1]))]),
    // ---- PyTorch: CTC
    r("torch:ctc_loss", "T×N×C×S", CTC, CTC_MIN, |m, d| {
        let (t, n, c, s) = (d[0], d[1], d[2], d[3]);
        let (targets, lengths) = m.ctc_labels(t, n, c, s, 0);
        vec![("log_probs", m.log_simplex(&[t, n, c])), ("targets", targets), ("input_lengths", ints(&vec![t; n])), ("target_lengths", ints(&lengths))]
    })
    .batch(1),
    // ---- torchaudio: the RNN transducer
    r("torchaudio:rnnt_loss", "N×T×U×C", &[8, 100, 20, 64], &[1, 1, 1, 2], |m, d| {
        let (n, t, u, c) = (d[0], d[1], d[2], d[3]);
        vec![
            ("logits", m.normal(&[n, t, u + 1, c], 1.0)),
            ("targets", m.classes(&[n, u], 0, c - 1)),
            ("logit_lengths", ints(&vec![t; n])),
            ("target_lengths", ints(&vec![u; n])),
        ]
    }),
    // ---- PyTorch: embeddings
    r("torch:cosine_embedding_loss", "N×D", PAIRS, ROWS_MIN, |m, d| {
        vec![("input1", m.normal(d, 1.0)), ("input2", m.normal(d, 1.0)), ("target", m.signs(&d[..1]))]
    }),
    r("torch:triplet_margin_loss", "N×D", PAIRS, ROWS_MIN, |m, d| {
        vec![("anchor", m.normal(d, 1.0)), ("positive", m.normal(d, 1.0)), ("negative", m.normal(d, 1.0))]
    }),
    r("torch:triplet_margin_with_distance_loss", "N×D", PAIRS, ROWS_MIN, |m, d| {
        vec![("anchor", m.normal(d, 1.0)), ("positive", m.normal(d, 1.0)), ("negative", m.normal(d, 1.0))]
    }),
    // ---- torchvision
    r("torchvision:sigmoid_focal_loss", "N", EW, EW_MIN, |m, d| vec![("inputs", m.normal(d, 2.0)), ("targets", m.binary(d))]),
    r("torchvision:generalized_box_iou_loss", "N", &[1 << 20], EW_MIN, |m, d| vec![("boxes1", m.boxes(d[0])), ("boxes2", m.boxes(d[0]))]),
    r("torchvision:distance_box_iou_loss", "N", &[1 << 20], EW_MIN, |m, d| vec![("boxes1", m.boxes(d[0])), ("boxes2", m.boxes(d[0]))]),
    r("torchvision:complete_box_iou_loss", "N", &[1 << 20], EW_MIN, |m, d| vec![("boxes1", m.boxes(d[0])), ("boxes2", m.boxes(d[0]))]),
    // ---- TensorFlow
    r("tf:softmax_cross_entropy_with_logits", "N×C", ROWS, ROWS_MIN, |m, d| vec![("labels", m.simplex(d)), ("logits", m.normal(d, 2.0))]),
    r("tf:sparse_softmax_cross_entropy_with_logits", "N×C", ROWS, ROWS_MIN, |m, d| {
        vec![("labels", m.classes(&d[..1], 0, d[1])), ("logits", m.normal(d, 2.0))]
    }),
    r("tf:sigmoid_cross_entropy_with_logits", "N", EW, EW_MIN, |m, d| vec![("labels", m.binary(d)), ("logits", m.normal(d, 2.0))]),
    Recipe {
        options: &[("pos_weight", OptionValue::Float(2.0))],
        ..r("tf:weighted_cross_entropy_with_logits", "N", EW, EW_MIN, |m, d| vec![("labels", m.binary(d)), ("logits", m.normal(d, 2.0))])
    },
    r("tf:log_poisson_loss", "N", EW, EW_MIN, |m, d| vec![("targets", m.counts(d)), ("log_input", m.normal(d, 0.5))]),
    r("tf:l2_loss", "N", EW, EW_MIN, |m, d| vec![("t", m.normal(d, 1.0))]),
    r("tf:ctc_loss", "T×N×C×S", CTC, CTC_MIN, |m, d| {
        let (t, n, c, s) = (d[0], d[1], d[2], d[3]);
        let (labels, lengths) = m.ctc_labels(t, n, c, s, 0);
        vec![("labels", labels), ("logits", m.normal(&[t, n, c], 2.0)), ("label_length", ints(&lengths)), ("logit_length", ints(&vec![t; n]))]
    })
    .batch(1),
    // ---- Keras
    r("keras:poisson", "N×C", KROWS, KROWS_MIN, |m, d| vec![("y_true", m.counts(d)), ("y_pred", m.uniform(d, 0.1, 3.0))]),
    r("keras:hinge", "N×C", KROWS, KROWS_MIN, |m, d| vec![("y_true", m.signs(d)), ("y_pred", m.normal(d, 1.0))]),
    r("keras:squared_hinge", "N×C", KROWS, KROWS_MIN, |m, d| vec![("y_true", m.signs(d)), ("y_pred", m.normal(d, 1.0))]),
    r("keras:categorical_hinge", "N×C", ROWS, ROWS_MIN, |m, d| vec![("y_true", m.one_hot(d[0], d[1])), ("y_pred", m.normal(d, 1.0))]),
    r("keras:binary_crossentropy", "N×C", KROWS, KROWS_MIN, |m, d| vec![("y_true", m.binary(d)), ("y_pred", m.uniform(d, 0.01, 0.99))]),
    r("keras:categorical_crossentropy", "N×C", ROWS, ROWS_MIN, |m, d| vec![("y_true", m.one_hot(d[0], d[1])), ("y_pred", m.simplex(d))]),
    r("keras:sparse_categorical_crossentropy", "N×C", ROWS, ROWS_MIN, |m, d| {
        vec![("y_true", m.classes(&d[..1], 0, d[1])), ("y_pred", m.simplex(d))]
    }),
    r("keras:binary_focal_crossentropy", "N×C", KROWS, KROWS_MIN, |m, d| vec![("y_true", m.binary(d)), ("y_pred", m.uniform(d, 0.01, 0.99))]),
    r("keras:categorical_focal_crossentropy", "N×C", ROWS, ROWS_MIN, |m, d| vec![("y_true", m.one_hot(d[0], d[1])), ("y_pred", m.simplex(d))]),
    r("keras:categorical_generalized_cross_entropy", "N×C", ROWS, ROWS_MIN, |m, d| {
        vec![("y_true", m.classes(&d[..1], 0, d[1])), ("y_pred", m.simplex(d))]
    }),
    r("keras:kl_divergence", "N×C", ROWS, ROWS_MIN, |m, d| vec![("y_true", m.simplex(d)), ("y_pred", m.simplex(d))]),
    r("keras:log_cosh", "N×C", KROWS, KROWS_MIN, |m, d| vec![("y_true", m.normal(d, 1.0)), ("y_pred", m.normal(d, 1.0))]),
    r("keras:mean_squared_logarithmic_error", "N×C", KROWS, KROWS_MIN, |m, d| vec![("y_true", m.uniform(d, 0.0, 3.0)), ("y_pred", m.uniform(d, 0.0, 3.0))]),
    r("keras:mean_absolute_percentage_error", "N×C", KROWS, KROWS_MIN, |m, d| vec![("y_true", m.uniform(d, 0.5, 2.0)), ("y_pred", m.normal(d, 1.0))]),
    r("keras:huber", "N×C", KROWS, KROWS_MIN, |m, d| vec![("y_true", m.normal(d, 1.0)), ("y_pred", m.normal(d, 1.0))]),
    r("keras:dice", "N×C", KROWS, KROWS_MIN, |m, d| vec![("y_true", m.binary(d)), ("y_pred", m.uniform(d, 0.0, 1.0))]),
    r("keras:tversky", "N×C", KROWS, KROWS_MIN, |m, d| vec![("y_true", m.binary(d)), ("y_pred", m.uniform(d, 0.0, 1.0))]),
    r("keras:ctc", "T×N×C×S", CTC, CTC_MIN, |m, d| {
        let (t, n, c, s) = (d[0], d[1], d[2], d[3]);
        let (labels, _) = m.ctc_labels(t, n, c, s, 0);
        vec![("y_true", labels), ("y_pred", m.normal(&[n, t, c], 2.0))]
    })
    .batch(1),
    r("keras:cosine_similarity", "N×D", PAIRS, ROWS_MIN, |m, d| vec![("y_true", m.normal(d, 1.0)), ("y_pred", m.normal(d, 1.0))]),
    r("keras:circle", "N×D", ALL_PAIRS, ALL_PAIRS_MIN, |m, d| vec![("y_true", m.classes(&d[..1], 0, 16)), ("y_pred", m.unit_rows(d[0], d[1]))]),
    // ---- optax
    r("optax:multiclass_hinge_loss", "N×C", ROWS, ROWS_MIN, |m, d| vec![("scores", m.normal(d, 1.0)), ("labels", m.classes(&d[..1], 0, d[1]))]),
    r("optax:perceptron_loss", "N", EW, EW_MIN, |m, d| vec![("predictor_outputs", m.normal(d, 1.0)), ("targets", m.signs(d))]),
    r("optax:multiclass_perceptron_loss", "N×C", ROWS, ROWS_MIN, |m, d| vec![("scores", m.normal(d, 1.0)), ("labels", m.classes(&d[..1], 0, d[1]))]),
    r("optax:poly_loss_cross_entropy", "N×C", ROWS, ROWS_MIN, |m, d| vec![("logits", m.normal(d, 2.0)), ("labels", m.simplex(d))]),
    r("optax:sparsemax_loss", "N", EW, EW_MIN, |m, d| vec![("logits", m.normal(d, 1.0)), ("labels", m.classes(d, 0, 2))]),
    r("optax:multiclass_sparsemax_loss", "N×C", ROWS, ROWS_MIN, |m, d| vec![("scores", m.normal(d, 1.0)), ("labels", m.classes(&d[..1], 0, d[1]))]),
    r("optax:generalized_kl_divergence", "N×C", ROWS, ROWS_MIN, |m, d| vec![("log_predictions", m.normal(d, 1.0)), ("targets", m.uniform(d, 0.01, 2.0))]),
    r("optax:kl_divergence", "N×C", ROWS, ROWS_MIN, |m, d| vec![("log_predictions", m.log_simplex(d)), ("targets", m.simplex(d))]),
    r("optax:kl_divergence_with_log_targets", "N×C", ROWS, ROWS_MIN, |m, d| vec![("log_predictions", m.log_simplex(d)), ("log_targets", m.log_simplex(d))]),
    r("optax:safe_softmax_cross_entropy", "N×C", ROWS, ROWS_MIN, |m, d| vec![("logits", m.normal(d, 2.0)), ("labels", m.simplex(d))]),
    Recipe {
        options: &[("alpha", OptionValue::Float(0.1))],
        ..r("optax:smooth_labels", "N×C", ROWS, ROWS_MIN, |m, d| vec![("labels", m.one_hot(d[0], d[1]))])
    },
    r("optax:huber_loss", "N", EW, EW_MIN, |m, d| vec![("predictions", m.normal(d, 1.0)), ("targets", m.normal(d, 1.0))]),
    r("optax:log_cosh", "N", EW, EW_MIN, |m, d| vec![("predictions", m.normal(d, 1.0)), ("targets", m.normal(d, 1.0))]),
    r("optax:ctc_loss", "T×N×C×S", CTC, CTC_MIN, |m, d| {
        let (t, n, c, s) = (d[0], d[1], d[2], d[3]);
        let (labels, lengths) = m.ctc_labels(t, n, c, s, 0);
        let mut pads = ArrayD::zeros(IxDyn(&[n, s]));
        for (i, &len) in lengths.iter().enumerate() {
            for j in len..s {
                pads[[i, j]] = 1.0;
            }
        }
        vec![("logits", m.normal(&[n, t, c], 2.0)), ("logit_paddings", m.float(ArrayD::zeros(IxDyn(&[n, t])))), ("labels", labels), ("label_paddings", m.float(pads))]
    })
    .batch(1),
    r("optax:dice_loss", "N×P×C", SEG, SEG_MIN, |m, d| {
        let (n, p, c) = (d[0], d[1], d[2]);
        let labels = m.classes(&[n * p], 0, c);
        let Tensor::I64(l) = labels else { unreachable!() };
        let mut t = ArrayD::zeros(IxDyn(d));
        for (i, &k) in l.iter().enumerate() {
            #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
            let k = k as usize;
            t[[i / p, i % p, k]] = 1.0;
        }
        vec![("predictions", m.normal(d, 2.0)), ("targets", m.float(t))]
    }),
    r("optax:binary_dice_loss", "N×P", &[256, 16384], KROWS_MIN, |m, d| vec![("predictions", m.normal(d, 2.0)), ("targets", m.binary(d))]),
    r("optax:multiclass_generalized_dice_loss", "N×P×C", SEG, SEG_MIN, |m, d| {
        let (n, p, c) = (d[0], d[1], d[2]);
        let t = match m.one_hot(n * p, c) {
            Tensor::F32(a) => Tensor::F32(a.into_shape_with_order(IxDyn(d)).expect("n·p·c")),
            Tensor::F64(a) => Tensor::F64(a.into_shape_with_order(IxDyn(d)).expect("n·p·c")),
            Tensor::I64(_) => unreachable!(),
        };
        vec![("predictions", m.normal(d, 2.0)), ("targets", t)]
    }),
    r("optax:ntxent", "N×D", ALL_PAIRS, ALL_PAIRS_MIN, |m, d| vec![("embeddings", m.normal(d, 1.0)), ("labels", m.classes(&d[..1], 0, (d[0] / 2).max(1)))]),
    r("optax:triplet_margin_loss", "N×D", PAIRS, ROWS_MIN, |m, d| {
        vec![("anchors", m.normal(d, 1.0)), ("positives", m.normal(d, 1.0)), ("negatives", m.normal(d, 1.0))]
    }),
    r("optax:ranking_softmax_loss", "N×L", KROWS, KROWS_MIN, |m, d| vec![("logits", m.normal(d, 1.0)), ("labels", m.counts(d))]),
    // ---- SciPy
    r("scipy:entropy", "N×C", ROWS, ROWS_MIN, |m, d| vec![("pk", m.uniform(d, 0.01, 1.0)), ("qk", m.uniform(d, 0.01, 1.0))]),
    // ---- losslab's own
    r("losslab:self_information", "N", EW, EW_MIN, |m, d| vec![("p", m.uniform(d, 0.01, 1.0))]),
    r("losslab:entropy", "N×C", ROWS, ROWS_MIN, |m, d| vec![("p", m.simplex(d))]),
    r("losslab:binary_entropy", "N", EW, EW_MIN, |m, d| vec![("p", m.uniform(d, 0.01, 0.99))]),
    r("losslab:cross_entropy", "N×C", ROWS, ROWS_MIN, |m, d| vec![("p", m.simplex(d)), ("q", m.simplex(d))]),
    r("losslab:kl_divergence", "N×C", ROWS, ROWS_MIN, |m, d| vec![("p", m.simplex(d)), ("q", m.simplex(d))]),
    r("losslab:js_divergence", "N×C", ROWS, ROWS_MIN, |m, d| vec![("p", m.simplex(d)), ("q", m.simplex(d))]),
    r("losslab:softmax_focal_loss", "N×C", ROWS, ROWS_MIN, |m, d| vec![("input", m.normal(d, 2.0)), ("target", m.classes(&d[..1], 0, d[1]))]),
    r("losslab:quantile_loss", "N", EW, EW_MIN, |m, d| vec![("input", m.normal(d, 1.0)), ("target", m.normal(d, 1.0))]),
    r("losslab:jaccard_loss", "N×P", &[1024, 4096], KROWS_MIN, |m, d| vec![("input", m.uniform(d, 0.0, 1.0)), ("target", m.binary(d))]),
    r("losslab:lovasz_softmax", "N×C×H×W", &[4, 8, 256, 256], &[1, 2, 1, 1], |m, d| {
        let probas = m.simplex_raw(d, 1);
        vec![("probas", m.float(probas)), ("labels", m.classes(&[d[0], d[2], d[3]], 0, d[1]))]
    }),
    // ---- OpenCLIP: unit-norm features (as the models give them), CLIP's initial scale 1/0.07, SigLIP's 10 and −10
    r("open_clip:clip_loss", "N×D", &[4096, 512], ALL_PAIRS_MIN, |m, d| {
        vec![("image_features", m.unit_rows(d[0], d[1])), ("text_features", m.unit_rows(d[0], d[1])), ("logit_scale", m.float(ArrayD::from_elem(IxDyn(&[]), 1.0 / 0.07)))]
    }),
    r("open_clip:siglip_loss", "N×D", &[4096, 512], ALL_PAIRS_MIN, |m, d| {
        vec![
            ("image_features", m.unit_rows(d[0], d[1])),
            ("text_features", m.unit_rows(d[0], d[1])),
            ("logit_scale", m.float(ArrayD::from_elem(IxDyn(&[]), 10.0))),
            ("logit_bias", m.float(ArrayD::from_elem(IxDyn(&[]), -10.0))),
        ]
    }),
    // ---- pytorch-metric-learning: angular-margin softmax over C classes (W drawn as pml's normal_ init)
    r("pml:arc_face", "N×D×C", FACE, FACE_MIN, |m, d| face_inputs(m, d)),
    r("pml:cos_face", "N×D×C", FACE, FACE_MIN, |m, d| face_inputs(m, d)),
    r("pml:sphere_face", "N×D×C", FACE, FACE_MIN, |m, d| face_inputs(m, d)),
    // ---- pytorch-metric-learning: every pair of the batch; N/8 classes (about 8 samples a class)
    r("pml:sup_con", "N×D", METRIC_PAIRS, ALL_PAIRS_MIN, |m, d| pair_inputs(m, d)),
    r("pml:multi_similarity", "N×D", METRIC_PAIRS, ALL_PAIRS_MIN, |m, d| pair_inputs(m, d)),
    r("pml:circle", "N×D", METRIC_PAIRS, ALL_PAIRS_MIN, |m, d| pair_inputs(m, d)),
    r("pml:lifted_structure", "N×D", METRIC_PAIRS, ALL_PAIRS_MIN, |m, d| pair_inputs(m, d)),
    r("pml:generalized_lifted_structure", "N×D", METRIC_PAIRS, ALL_PAIRS_MIN, |m, d| pair_inputs(m, d)),
    r("pml:n_pairs", "N×D", METRIC_PAIRS, ALL_PAIRS_MIN, |m, d| pair_inputs(m, d)),
    // ---- TensorFlow: candidate sampling (uniform-ish expected counts; candidates may repeat)
    r("tf:sampled_softmax_loss", "B×D×V×S", &[4096, 128, 50000, 4096], &[1, 1, 1, 1], |m, d| sampled_inputs(m, d)),
    r("tf:nce_loss", "B×D×V×S", &[4096, 128, 50000, 4096], &[1, 1, 1, 1], |m, d| sampled_inputs(m, d)),
    // ---- generative models
    r("losslab:gan_generator_loss", "N", EW, EW_MIN, |m, d| vec![("fake_logits", m.normal(d, 2.0))]),
    r("losslab:gan_discriminator_loss", "N", EW, EW_MIN, |m, d| vec![("real_logits", m.normal(d, 2.0)), ("fake_logits", m.normal(d, 2.0))]),
    r("losslab:gradient_penalty", "N×D", KROWS, KROWS_MIN, |m, d| vec![("gradients", m.normal(d, 0.5))]),
    r("losslab:vae_kl", "N×L", KROWS, KROWS_MIN, |m, d| vec![("mu", m.normal(d, 1.0)), ("logvar", m.normal(d, 0.5))]),
    r("losslab:vae_elbo", "N×P×L", &[256, 16384, 64], &[1, 1, 1], |m, d| {
        let (x, z) = (&[d[0], d[1]][..], &[d[0], d[2]][..]);
        vec![("reconstruction", m.normal(x, 1.0)), ("target", m.uniform(x, 0.0, 1.0)), ("mu", m.normal(z, 1.0)), ("logvar", m.normal(z, 0.5))]
    }),
    r("diffusers:min_snr_loss", "N×P×T", &[64, 65536, 1000], &[1, 1, 1], |m, d| {
        vec![
            ("model_pred", m.normal(&d[..2], 1.0)),
            ("target", m.normal(&d[..2], 1.0)),
            ("timesteps", m.classes(&d[..1], 0, d[2])),
            ("alphas_cumprod", m.uniform(&d[2..], 0.01, 0.99)),
        ]
    }),
    // ---- TRL preference losses: B pairs of per-sequence log-probabilities (summed for DPO, averaged for CPO/ORPO)
    r("trl:dpo_loss", "B", &[1 << 20], &[1], |m, d| {
        vec![
            ("chosen_logps", m.uniform(d, -60.0, -5.0)),
            ("rejected_logps", m.uniform(d, -60.0, -5.0)),
            ("ref_chosen_logps", m.uniform(d, -60.0, -5.0)),
            ("ref_rejected_logps", m.uniform(d, -60.0, -5.0)),
        ]
    }),
    r("trl:cpo_loss", "B", &[1 << 20], &[1], |m, d| vec![("chosen_logps", m.uniform(d, -3.0, -0.05)), ("rejected_logps", m.uniform(d, -3.0, -0.05))]),
    r("trl:odds_ratio_loss", "B", &[1 << 20], &[1], |m, d| vec![("chosen_logps", m.uniform(d, -3.0, -0.05)), ("rejected_logps", m.uniform(d, -3.0, -0.05))]),
    // KTO: B desirable and B undesirable completions, a KL batch of all 2B (as TRL's)
    r("trl:kto_loss", "B", &[1 << 20], &[1], |m, d| {
        let k = &[2 * d[0]][..];
        vec![
            ("policy_chosen_logps", m.uniform(d, -60.0, -5.0)),
            ("policy_rejected_logps", m.uniform(d, -60.0, -5.0)),
            ("policy_KL_logps", m.uniform(k, -60.0, -5.0)),
            ("reference_chosen_logps", m.uniform(d, -60.0, -5.0)),
            ("reference_rejected_logps", m.uniform(d, -60.0, -5.0)),
            ("reference_KL_logps", m.uniform(k, -60.0, -5.0)),
        ]
    }),
    // ---- per-token losses over (B, T, V) logits
    r("losslab:sequence_log_probs", "B×T×V", TOKENS, TOKENS_MIN, |m, d| vec![("logits", m.normal(d, 2.0)), ("labels", m.classes(&d[..2], 0, d[2]))]),
    r("trl:generalized_jsd_loss", "B×T×V", TOKENS, TOKENS_MIN, |m, d| {
        vec![("student_logits", m.normal(d, 2.0)), ("teacher_logits", m.normal(d, 2.0)), ("labels", m.classes(&d[..2], 0, d[2]))]
    }),
    r("losslab:distillation_kl", "B×T×V", TOKENS, TOKENS_MIN, |m, d| {
        vec![("student_logits", m.normal(d, 2.0)), ("teacher_logits", m.normal(d, 2.0)), ("labels", m.classes(&d[..2], 0, d[2]))]
    }),
    // ---- RL fine-tuning: B completions of T tokens, log-probabilities in (−4, 0), the
    // sampling and reference policies' within ~0.2 of them, right-padded masks
    Recipe {
        options: &[("beta", OptionValue::Float(0.04))],
        ..r("trl:grpo_loss", "B×T", POLICY, POLICY_MIN, |m, d| {
            let (lp, old, rf) = m.policy_logps(d);
            vec![("per_token_logps", lp), ("old_per_token_logps", old), ("advantages", m.normal(&d[..1], 1.0)), ("completion_mask", m.padding_mask(d)), ("ref_per_token_logps", rf)]
        })
    },
    r("losslab:ppo_clip_loss", "B×T", POLICY, POLICY_MIN, |m, d| {
        let (lp, old, _) = m.policy_logps(d);
        vec![("log_probs", lp), ("old_log_probs", old), ("advantages", m.normal(d, 1.0)), ("mask", m.padding_mask(d))]
    }),
];

impl Recipe {
    /// This recipe with `batch` the index of the batch size.
    const fn batch(self, batch: usize) -> Recipe {
        Recipe { batch, ..self }
    }
}
