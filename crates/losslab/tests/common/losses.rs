//! Every loss of the library, drawn at random with its inputs, and evaluated
//! generically in `f32` or `f64`: the harness of `properties.rs` and `hostile.rs`.
//!
//! [`KINDS`] = 87 kinds cover the 83 entries of `losslab list` (PyTorch's cross
//! entropy twice: class indices, fused and over `(N, C, D)`, and probabilities;
//! CTC's log-probabilities are the log-softmax of random logits; TensorFlow's
//! weighted cross entropy and optax's sparsemax loss twice: `pos_weight` a
//! tensor and a number, integer and float labels). Each kind
//! draws its hyper-parameters (margins, δ, β, γ, α, q, temperatures, smoothing,
//! bases, `from_logits`, optional weights and masks) and inputs in its domain:
//! probabilities in (0, 1) or on the simplex, log-probabilities, boxes with
//! x1 < x2 and y1 < y2, ±1 or {0, 1} targets, one-hot or soft labels, counts,
//! right-padded sequences, group labels with a positive pair (NT-Xent).
//! `x` is the input that is differentiated (logits, predictions, `y_pred`,
//! `boxes1`, anchor, `q` of the information measures); `y` the second float
//! input, whose gradient [`eval_xy`] also returns where the library gives one
//! (targets, probabilities, `input2`, positives, `boxes2`, `p`, `pk`). The
//! gradient of a third input (variances, negatives, weights) is not checked.
//!
//! Where a property of `properties.rs` (1 finite and non-negative, 2 reductions,
//! 3 f32 = f64, 4 finite differences, 5 shift invariance, 6 ignored or
//! zero-weight items) does not apply as stated, or applies only in part:
//!
//! | Loss | Property | Why |
//! |---|---|---|
//! | `torch:kl_div`, `torch:poisson_nll_loss`, `torch:gaussian_nll_loss`, `tf:log_poisson_loss`, `keras:poisson`, `keras:cosine_similarity` | 1, non-negativity | not ≥ 0 mathematically (KL: ≥ 0 per row, checked on the sum; cosine similarity is in [−1, 1]) |
//! | `optax:sparsemax_loss` with float labels | 4, for `y` | the labels only choose a branch (optax: nonzero is positive): no gradient |
//! | `torch:hinge_embedding_loss` | 1, non-negativity | ≥ 0 only for distances ≥ 0, which is what is drawn |
//! | `losslab:self_information`, `entropy`, `binary_entropy`, `cross_entropy`, `kl_divergence`, `js_divergence` | 2 | no reduction parameter: the harness reduces them (as `losslab eval` does), so the property only checks the harness |
//! | `optax:ntxent`, `losslab:lovasz_softmax`, `optax:multiclass_generalized_dice_loss`, `keras:dice` and `keras:tversky` with `axis=None` | 2 | the result is one scalar for the batch: every reduction returns it (checked) |
//! | `torch:cross_entropy`, `torch:nll_loss`, `losslab:softmax_focal_loss`, `torch:ctc_loss` | 2, the count | `mean` divides by the weights of the rows not ignored, the rows not ignored, the target lengths; every other loss by the number of elements of its `none` output |
//! | `torchvision:complete_box_iou_loss` | 4 | α passes no gradient (torchvision's `no_grad`): checked against the differences of DIoU + α·v with α frozen |
//! | `keras:hinge`, `keras:squared_hinge` with {0, 1} labels | 4, for `y_true` | the labels become ±1 only while every label is 0 or 1: the gradient is that of the branch taken (as JAX's), which any step leaves; checked with ±1 labels |
//! | every loss whose `y` is absent or not differentiated (integer labels; the ±1 targets of PyTorch's hinge embedding, soft margin and cosine embedding losses; single-input losses) | 4, for `y` | the library gives no gradient for it (as its reference): nothing to check |
//! | `losslab:self_information`, `losslab:binary_entropy` | 4 | the library has no backward for them: the closed form `losslab eval` uses is checked against differences of the library's values |
//! | every loss with a kink (L1, smooth L1, Huber, hinges, margins, perceptrons, triplets, sparsemax, MAPE, quantile, box IoU, Lovász, clipping) | 4 | coordinates where two step sizes disagree sit on a kink and are skipped; at least one per case is checked |
//! | all but cross entropy (indices, probabilities), TF's softmax pair, softmax focal, multi-margin, Keras's categorical, sparse categorical and categorical focal cross entropy with `from_logits`, optax's multiclass hinge, multiclass perceptron, poly-1, multiclass sparsemax, safe softmax cross entropy, ranking softmax, TF's and optax's CTC (on logits) | 5 | not a softmax of the logits (Keras's probability forms renormalise by the sum: scale, not shift, invariant) |
//! | all but cross entropy, NLL, softmax focal (`ignore_index`, class weight, α), BCE and BCE with logits (element weight), multi-margin (class weight), Keras's sparse categorical cross entropy (`ignore_class`), optax's ranking softmax (`where`), Lovász (`ignore`) | 6 | no ignore index, mask or weight that removes an item |

use super::Rng;
use losslab::*;
use losslab::classification::{KerasBinaryCrossentropy, KerasBinaryFocalCrossentropy, KerasCategoricalCrossentropy, KerasCategoricalFocalCrossentropy, KerasCategoricalGeneralizedCrossEntropy, KerasSparseCategoricalCrossentropy, OptaxMulticlassSparsemaxLoss, OptaxPolyLossCrossEntropy, OptaxSafeSoftmaxCrossEntropy, OptaxSmoothLabels, OptaxSparsemaxLoss};
use losslab::embedding::{CosineSimilarityLoss, KerasCircle, NtXentLoss, OptaxTripletMarginLoss};
use losslab::information::{KerasKlDivergence, OptaxGeneralizedKlDivergence, OptaxKlDivergence, OptaxKlDivergenceWithLogTargets, ScipyEntropy, entropy, entropy_backward};
use losslab::likelihood::{KerasPoisson};
use losslab::margin::{KerasCategoricalHinge, KerasHinge, KerasSquaredHinge};
use losslab::regression::{KerasHuber, KerasLogCosh, KerasMeanAbsolutePercentageError, KerasMeanSquaredLogarithmicError, OptaxHuberLoss, OptaxLogCosh};
use losslab::segmentation::{KerasDice, KerasTversky};
use losslab::sequence::{KerasCtc, OptaxCtcLoss, TfCtcLoss};
use ndarray::{Array1, ArrayD, Axis, IxDyn};

/// The inputs of one loss evaluation; which are used depends on the [`Loss`].
#[derive(Debug, Clone)]
pub struct In<T> {
    /// The differentiated input (logits, predictions, anchor, ...).
    pub x: ArrayD<T>,
    /// The second float input (target, positive, labels as probabilities, ...).
    pub y: ArrayD<T>,
    /// The third float input (variance, negative, element weights, ...).
    pub z: ArrayD<T>,
    /// Class indices.
    pub labels: ArrayD<i64>,
    /// CTC input and target lengths.
    pub input_lengths: Array1<i64>,
    pub target_lengths: Array1<i64>,
}

impl In<f64> {
    /// The same inputs rounded to `f32`.
    pub fn to_f32(&self) -> In<f32> {
        In {
            x: self.x.mapv(|v| v as f32),
            y: self.y.mapv(|v| v as f32),
            z: self.z.mapv(|v| v as f32),
            labels: self.labels.clone(),
            input_lengths: self.input_lengths.clone(),
            target_lengths: self.target_lengths.clone(),
        }
    }
}

impl In<f32> {
    pub fn to_f64(&self) -> In<f64> {
        In {
            x: self.x.mapv(f64::from),
            y: self.y.mapv(f64::from),
            z: self.z.mapv(f64::from),
            labels: self.labels.clone(),
            input_lengths: self.input_lengths.clone(),
            target_lengths: self.target_lengths.clone(),
        }
    }
}

/// Every loss of the library, with its hyper-parameters.
#[derive(Debug, Clone)]
pub enum Loss {
    Ce { weight: Option<Vec<f64>>, smoothing: f64 },
    /// Cross entropy over `(N, C, D)`: the non-fused, strided path.
    CeSpatial { smoothing: f64 },
    CeProbs { smoothing: f64 },
    Nll { weight: Option<Vec<f64>> },
    /// `z` holds the element weights when `weighted`.
    Bce { weighted: bool },
    /// `z` holds `pos_weight` (one per class) when `pos_weighted`.
    BceLogits { pos_weighted: bool },
    Mse,
    L1,
    SmoothL1 { beta: f64 },
    Huber { delta: f64 },
    KlDiv { log_target: bool },
    TfSoftmax,
    TfSparse,
    PoissonNll,
    GaussianNll,
    MultiMargin { p: i64, margin: f64 },
    SoftMargin,
    Triplet { margin: f64, swap: bool },
    Dice,
    SigmoidFocal { gamma: f64 },
    SoftmaxFocal { gamma: f64 },
    /// `x` holds logits; the loss is applied to their log-softmax.
    Ctc,
    // PyTorch, the rest.
    /// `x` input1, `y` input2, `z` the ±1 target.
    MarginRanking { margin: f64 },
    /// `x` distances (≥ 0), `y` the ±1 target.
    HingeEmbedding { margin: f64 },
    /// `z` holds a weight per class when `weighted`.
    MultilabelSoftMargin { weighted: bool },
    /// `labels` holds each row's target classes, ended by −1.
    MultilabelMargin,
    /// `x` input1, `y` input2 (`(N, D)`), `z` the ±1 target `(N,)`.
    CosineEmbedding { margin: f64 },
    /// `x` anchor, `y` positive, `z` negative.
    TripletDistance { cosine: bool, margin: f64, swap: bool },
    // torchvision's box losses: `x` boxes1, `y` boxes2, `(N, 4)`.
    Giou,
    Diou,
    Ciou,
    // TensorFlow.
    TfSigmoid,
    /// `z` holds `pos_weight` (one per class).
    TfWeighted,
    TfLogPoisson { full: bool },
    TfL2,
    /// `x` logits `(T, N, C)`; `labels` `(N, S)`; `input_lengths` the logit
    /// lengths, `target_lengths` the label lengths.
    TfCtc,
    // Keras (`x` is `y_pred`, `y` is `y_true`).
    KerasPoisson,
    KerasHinge,
    KerasSquaredHinge,
    KerasCategoricalHinge,
    KerasBce { from_logits: bool, smoothing: f64 },
    KerasCce { from_logits: bool, smoothing: f64 },
    /// `labels` the class indices; `ignore` Keras's `ignore_class`.
    KerasScce { from_logits: bool, ignore: Option<i64> },
    KerasBfce { balancing: bool, alpha: f64, gamma: f64, from_logits: bool, smoothing: f64 },
    KerasCfce { alpha: f64, gamma: f64, from_logits: bool, smoothing: f64 },
    KerasGce { q: f64 },
    KerasKl,
    KerasLogCosh,
    KerasMsle,
    KerasMape,
    KerasDice { axis: Option<Vec<isize>> },
    KerasTversky { alpha: f64, beta: f64, axis: Option<Vec<isize>> },
    KerasCosine,
    // optax.
    MulticlassHinge,
    Perceptron,
    MulticlassPerceptron,
    Poly { epsilon: f64 },
    /// `labels` holds the 0/1 labels, `x`'s shape.
    Sparsemax,
    MulticlassSparsemax,
    OptaxGkl,
    OptaxKl,
    OptaxKlLog,
    SafeCe,
    SmoothLabels { alpha: f64 },
    OptaxHuber { delta: f64 },
    OptaxLogCosh,
    BinaryDice { smooth: f64 },
    GeneralizedDice { smooth: f64 },
    /// `x` logits `(B, T, K)`, `y` logit paddings `(B, T)`, `labels` `(B, S)`, `z` label paddings.
    OptaxCtc,
    /// `labels` the group labels.
    NtXent { temperature: f64 },
    OptaxTriplet { degree: f64, margin: f64 },
    /// `labels` holds optax's `where` (nonzero: valid) when `masked`; `z` the weights when `weighted`.
    RankingSoftmax { masked: bool, weighted: bool },
    // SciPy's and losslab's information measures (`x` is the differentiated
    // distribution: `q` of the pairs, `y` is `p`).
    /// `x` is `qk` and `y` is `pk` when `with_qk` (the gradient is `qk`'s); else `x` is `pk`.
    ScipyEntropy { with_qk: bool, base: Option<f64>, axis: isize },
    SelfInformation { base: Option<f64> },
    Entropy { base: Option<f64> },
    BinaryEntropy { base: Option<f64> },
    InfoCrossEntropy { base: Option<f64> },
    InfoKl { base: Option<f64> },
    InfoJs { base: Option<f64> },
    Quantile { q: f64 },
    Jaccard { smooth: f64 },
    /// `x` probabilities `(N, C, D)`, `labels` `(N, D)`.
    Lovasz { per_image: bool, all_classes: bool, ignore: bool },
    // The names of issue 12.
    KerasHuber { delta: f64 },
    /// `x` the embeddings `(N, F)`, `labels` their labels; with `refs`, `y` the
    /// reference embeddings `(M, F)` and `target_lengths` their labels.
    KerasCircle { remove_diagonal: bool, gamma: f64, margin: f64, refs: bool },
    /// `x` logits `(B, T, C)`, `labels` `(B, S)` right-padded with 0.
    KerasCtc,
    /// `pos_weight` a number.
    TfWeightedNumber { pos_weight: f64 },
    /// `y` the labels as floats (0, 1 and other nonzero values).
    SparsemaxFloat,
}

/// The number of [`Loss`] kinds [`draw`] knows.
pub const KINDS: usize = 87;
/// The ignore index every loss with one uses here.
pub const IGNORE: i64 = -100;

/// Draws loss `kind` and its inputs from `seed`: shapes small, values in the loss's domain.
pub fn draw(kind: usize, seed: u64) -> (Loss, In<f64>) {
    draw_batch(kind, seed, None)
}

/// As [`draw`], with a batch of `n` samples when given (0 included).
pub fn draw_batch(kind: usize, seed: u64, n: Option<usize>) -> (Loss, In<f64>) {
    let mut r = Rng::new(seed.wrapping_mul(31).wrapping_add(kind as u64));
    let drawn = 1 + r.below(4);
    let n = n.unwrap_or(drawn);
    let c = 2 + r.below(4);
    let labels_with_ignored = |r: &mut Rng, n: usize, c: usize| {
        let mut l: Vec<i64> = (0..n).map(|_| if r.uniform() < 0.2 { IGNORE } else { r.below(c) as i64 }).collect();
        // At least one row counts, so that `mean` is defined.
        if !l.is_empty() && l.iter().all(|&v| v == IGNORE) {
            l[0] = r.below(c) as i64;
        }
        ArrayD::from_shape_vec(IxDyn(&[n]), l).unwrap()
    };
    let weight = |r: &mut Rng, c: usize| (r.uniform() < 0.5).then(|| (0..c).map(|_| r.range(0.2, 2.0)).collect::<Vec<f64>>());
    let empty = || ArrayD::zeros(IxDyn(&[0]));
    let mut inp = In {
        x: r.array(&[n, c], -4.0, 4.0),
        y: empty(),
        z: empty(),
        labels: ArrayD::from_shape_fn(IxDyn(&[n]), |_| 0),
        input_lengths: Array1::zeros(0),
        target_lengths: Array1::zeros(0),
    };
    let loss = match kind {
        0 => {
            inp.labels = labels_with_ignored(&mut r, n, c);
            Loss::Ce { weight: weight(&mut r, c), smoothing: if r.uniform() < 0.5 { 0.0 } else { r.range(0.0, 0.3) } }
        }
        1 => {
            let d = 1 + r.below(3);
            inp.x = r.array(&[n, c, d], -4.0, 4.0);
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n, d]), |_| r.below(c) as i64);
            Loss::CeSpatial { smoothing: r.range(0.0, 0.3) }
        }
        2 => {
            inp.y = r.simplex(&[n, c]);
            Loss::CeProbs { smoothing: r.range(0.0, 0.3) }
        }
        3 => {
            inp.x = r.array(&[n, c], -5.0, 0.0);
            inp.labels = labels_with_ignored(&mut r, n, c);
            Loss::Nll { weight: weight(&mut r, c) }
        }
        4 => {
            inp.x = r.array(&[n, c], 0.02, 0.98);
            inp.y = r.array(&[n, c], 0.0, 1.0);
            inp.z = r.array(&[n, c], 0.0, 2.0);
            Loss::Bce { weighted: r.uniform() < 0.5 }
        }
        5 => {
            inp.x = r.array(&[n, c], -6.0, 6.0);
            inp.y = r.array(&[n, c], 0.0, 1.0);
            inp.z = r.array(&[c], 0.2, 3.0);
            Loss::BceLogits { pos_weighted: r.uniform() < 0.5 }
        }
        6..=9 => {
            inp.y = r.array(&[n, c], -4.0, 4.0);
            match kind {
                6 => Loss::Mse,
                7 => Loss::L1,
                8 => Loss::SmoothL1 { beta: r.range(0.1, 2.0) },
                _ => Loss::Huber { delta: r.range(0.1, 2.0) },
            }
        }
        10 => {
            inp.x = r.simplex(&[n, c]).mapv(f64::ln);
            let log_target = r.uniform() < 0.5;
            inp.y = r.simplex(&[n, c]);
            if log_target {
                inp.y.mapv_inplace(f64::ln);
            }
            Loss::KlDiv { log_target }
        }
        11 => {
            inp.y = r.simplex(&[n, c]);
            Loss::TfSoftmax
        }
        12 => {
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n]), |_| r.below(c) as i64);
            Loss::TfSparse
        }
        13 => {
            inp.x = r.array(&[n, c], -2.0, 2.0);
            inp.y = r.array(&[n, c], 0.0, 5.0);
            Loss::PoissonNll
        }
        14 => {
            inp.y = r.array(&[n, c], -4.0, 4.0);
            inp.z = r.array(&[n, c], 0.1, 3.0);
            Loss::GaussianNll
        }
        15 => {
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n]), |_| r.below(c) as i64);
            Loss::MultiMargin { p: 1 + r.below(2) as i64, margin: r.range(0.1, 2.0) }
        }
        16 => {
            inp.y = r.array(&[n, c], 0.0, 1.0).mapv(|v| if v < 0.5 { -1.0 } else { 1.0 });
            Loss::SoftMargin
        }
        17 => {
            inp.y = r.array(&[n, c], -4.0, 4.0);
            inp.z = r.array(&[n, c], -4.0, 4.0);
            Loss::Triplet { margin: r.range(0.1, 4.0), swap: r.uniform() < 0.5 }
        }
        18 => {
            let s = 1 + r.below(3);
            inp.x = r.array(&[n, s, c], -4.0, 4.0);
            inp.y = r.array(&[n, s, c], 0.0, 1.0);
            Loss::Dice
        }
        19 => {
            inp.y = r.array(&[n, c], 0.0, 1.0);
            Loss::SigmoidFocal { gamma: r.range(0.0, 3.0) }
        }
        20 => {
            inp.labels = labels_with_ignored(&mut r, n, c);
            Loss::SoftmaxFocal { gamma: r.range(0.0, 3.0) }
        }
        21 => {
            let t = 5 + r.below(3);
            let classes = 3 + r.below(2);
            let s = 2;
            inp.x = r.array(&[t, n, classes], -3.0, 3.0);
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n, s]), |_| 1 + r.below(classes - 1) as i64);
            inp.input_lengths = Array1::from_shape_fn(n, |_| (t - r.below(2)) as i64);
            inp.target_lengths = Array1::from_shape_fn(n, |_| 1 + r.below(s) as i64);
            Loss::Ctc
        }
        22 => {
            inp.y = r.array(&[n, c], -4.0, 4.0);
            inp.z = r.array(&[n, c], 0.0, 1.0).mapv(|v| if v < 0.5 { -1.0 } else { 1.0 });
            Loss::MarginRanking { margin: r.range(-0.5, 1.0) }
        }
        23 => {
            inp.x = r.array(&[n, c], 0.0, 4.0);
            inp.y = r.array(&[n, c], 0.0, 1.0).mapv(|v| if v < 0.5 { -1.0 } else { 1.0 });
            Loss::HingeEmbedding { margin: r.range(0.1, 3.0) }
        }
        24 => {
            inp.y = r.array(&[n, c], 0.0, 1.0);
            inp.z = r.array(&[c], 0.2, 2.0);
            Loss::MultilabelSoftMargin { weighted: r.uniform() < 0.5 }
        }
        25 => {
            // Each row: 1 to C − 1 distinct target classes, then −1 (and anything after it).
            let mut l = ArrayD::from_elem(IxDyn(&[n, c]), -1i64);
            for i in 0..n {
                let k = 1 + r.below(c - 1);
                let mut classes: Vec<i64> = (0..c as i64).collect();
                for j in 0..k {
                    let pick = j + r.below(c - j);
                    classes.swap(j, pick);
                    l[[i, j]] = classes[j];
                }
            }
            inp.labels = l;
            Loss::MultilabelMargin
        }
        26 => {
            let d = 2 + r.below(3);
            inp.x = r.array(&[n, d], -2.0, 2.0);
            inp.y = r.array(&[n, d], -2.0, 2.0);
            inp.z = r.array(&[n], 0.0, 1.0).mapv(|v| if v < 0.5 { -1.0 } else { 1.0 });
            Loss::CosineEmbedding { margin: r.range(-0.5, 0.5) }
        }
        27 => {
            inp.y = r.array(&[n, c], -4.0, 4.0);
            inp.z = r.array(&[n, c], -4.0, 4.0);
            Loss::TripletDistance { cosine: r.uniform() < 0.5, margin: r.range(0.1, 3.0), swap: r.uniform() < 0.5 }
        }
        28..=30 => {
            // (x1, y1, x2, y2) with x1 < x2, y1 < y2.
            let boxes = |r: &mut Rng| {
                let mut b = ArrayD::zeros(IxDyn(&[n, 4]));
                for i in 0..n {
                    let (x1, y1) = (r.range(0.0, 4.0), r.range(0.0, 4.0));
                    b[[i, 0]] = x1;
                    b[[i, 1]] = y1;
                    b[[i, 2]] = x1 + r.range(0.5, 3.0);
                    b[[i, 3]] = y1 + r.range(0.5, 3.0);
                }
                b
            };
            inp.x = boxes(&mut r);
            inp.y = boxes(&mut r);
            match kind {
                28 => Loss::Giou,
                29 => Loss::Diou,
                _ => Loss::Ciou,
            }
        }
        31 => {
            inp.x = r.array(&[n, c], -6.0, 6.0);
            inp.y = r.array(&[n, c], 0.0, 1.0);
            Loss::TfSigmoid
        }
        32 => {
            inp.x = r.array(&[n, c], -6.0, 6.0);
            inp.y = r.array(&[n, c], 0.0, 1.0);
            inp.z = r.array(&[c], 0.2, 3.0);
            Loss::TfWeighted
        }
        33 => {
            inp.x = r.array(&[n, c], -2.0, 2.0);
            // Counts, some in [0, 1] (no Stirling term there), some above.
            inp.y = r.array(&[n, c], 0.0, 5.0);
            Loss::TfLogPoisson { full: r.uniform() < 0.5 }
        }
        34 => Loss::TfL2,
        35 => {
            let t = 5 + r.below(3);
            let classes = 3 + r.below(2);
            let s = 2;
            inp.x = r.array(&[t, n, classes], -3.0, 3.0);
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n, s]), |_| 1 + r.below(classes - 1) as i64);
            inp.input_lengths = Array1::from_shape_fn(n, |_| (t - r.below(2)) as i64);
            inp.target_lengths = Array1::from_shape_fn(n, |_| 1 + r.below(s) as i64);
            Loss::TfCtc
        }
        36 => {
            inp.x = r.array(&[n, c], 0.1, 5.0);
            inp.y = r.array(&[n, c], 0.0, 5.0);
            Loss::KerasPoisson
        }
        37 | 38 => {
            inp.x = r.array(&[n, c], -3.0, 3.0);
            // {0, 1} labels (Keras maps them to ±1) or ±1.
            let zero_one = r.uniform() < 0.5;
            inp.y = r.array(&[n, c], 0.0, 1.0).mapv(|v| if v >= 0.5 { 1.0 } else if zero_one { 0.0 } else { -1.0 });
            if kind == 37 { Loss::KerasHinge } else { Loss::KerasSquaredHinge }
        }
        39 => {
            inp.x = r.array(&[n, c], -3.0, 3.0);
            inp.y = one_hot(&mut r, n, c);
            Loss::KerasCategoricalHinge
        }
        40 => {
            let from_logits = r.uniform() < 0.5;
            inp.x = if from_logits { r.array(&[n, c], -6.0, 6.0) } else { r.array(&[n, c], 0.02, 0.98) };
            inp.y = r.array(&[n, c], 0.0, 1.0);
            Loss::KerasBce { from_logits, smoothing: if r.uniform() < 0.5 { 0.0 } else { r.range(0.0, 0.3) } }
        }
        41 => {
            let from_logits = r.uniform() < 0.5;
            inp.x = if from_logits { r.array(&[n, c], -4.0, 4.0) } else { r.simplex(&[n, c]) };
            inp.y = r.simplex(&[n, c]);
            Loss::KerasCce { from_logits, smoothing: if r.uniform() < 0.5 { 0.0 } else { r.range(0.0, 0.3) } }
        }
        42 => {
            let from_logits = r.uniform() < 0.5;
            inp.x = if from_logits { r.array(&[n, c], -4.0, 4.0) } else { r.simplex(&[n, c]) };
            let ignore = r.uniform() < 0.5;
            inp.labels = if ignore { labels_with_ignored(&mut r, n, c) } else { ArrayD::from_shape_fn(IxDyn(&[n]), |_| r.below(c) as i64) };
            Loss::KerasScce { from_logits, ignore: ignore.then_some(IGNORE) }
        }
        43 => {
            let from_logits = r.uniform() < 0.5;
            inp.x = if from_logits { r.array(&[n, c], -6.0, 6.0) } else { r.array(&[n, c], 0.02, 0.98) };
            inp.y = r.array(&[n, c], 0.0, 1.0);
            Loss::KerasBfce {
                balancing: r.uniform() < 0.5,
                alpha: r.range(0.1, 0.9),
                gamma: r.range(0.0, 3.0),
                from_logits,
                smoothing: if r.uniform() < 0.5 { 0.0 } else { r.range(0.0, 0.3) },
            }
        }
        44 => {
            let from_logits = r.uniform() < 0.5;
            inp.x = if from_logits { r.array(&[n, c], -4.0, 4.0) } else { r.simplex(&[n, c]) };
            inp.y = r.simplex(&[n, c]);
            Loss::KerasCfce {
                alpha: r.range(0.1, 0.9),
                gamma: r.range(0.0, 3.0),
                from_logits,
                smoothing: if r.uniform() < 0.5 { 0.0 } else { r.range(0.0, 0.3) },
            }
        }
        45 => {
            inp.x = r.simplex(&[n, c]);
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n]), |_| r.below(c) as i64);
            Loss::KerasGce { q: r.range(0.1, 0.9) }
        }
        46 => {
            inp.x = r.simplex(&[n, c]);
            inp.y = r.simplex(&[n, c]);
            Loss::KerasKl
        }
        47 => {
            inp.y = r.array(&[n, c], -4.0, 4.0);
            Loss::KerasLogCosh
        }
        48 => {
            inp.x = r.array(&[n, c], 0.0, 4.0);
            inp.y = r.array(&[n, c], 0.0, 4.0);
            Loss::KerasMsle
        }
        49 => {
            inp.y = r.array(&[n, c], 0.5, 4.0).mapv(|v| if r.uniform() < 0.5 { -v } else { v });
            Loss::KerasMape
        }
        50 | 51 => {
            inp.x = r.array(&[n, c], 0.0, 1.0);
            inp.y = r.array(&[n, c], 0.0, 1.0);
            let axis = (r.uniform() < 0.5).then(|| vec![-1]);
            if kind == 50 {
                Loss::KerasDice { axis }
            } else {
                Loss::KerasTversky { alpha: r.range(0.1, 0.9), beta: r.range(0.1, 0.9), axis }
            }
        }
        52 => {
            inp.y = r.array(&[n, c], -4.0, 4.0);
            Loss::KerasCosine
        }
        53 | 55 => {
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n]), |_| r.below(c) as i64);
            if kind == 53 { Loss::MulticlassHinge } else { Loss::MulticlassPerceptron }
        }
        54 => {
            inp.y = r.array(&[n, c], 0.0, 1.0).mapv(|v| if v < 0.5 { -1.0 } else { 1.0 });
            Loss::Perceptron
        }
        56 => {
            inp.y = r.simplex(&[n, c]);
            Loss::Poly { epsilon: r.range(0.0, 3.0) }
        }
        57 => {
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n, c]), |_| r.below(2) as i64);
            Loss::Sparsemax
        }
        58 => {
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n]), |_| r.below(c) as i64);
            Loss::MulticlassSparsemax
        }
        59 => {
            inp.x = r.array(&[n, c], -2.0, 1.0);
            inp.y = r.array(&[n, c], 0.05, 2.0);
            Loss::OptaxGkl
        }
        60 | 61 => {
            inp.x = r.simplex(&[n, c]).mapv(f64::ln);
            inp.y = r.simplex(&[n, c]);
            if kind == 60 {
                Loss::OptaxKl
            } else {
                inp.y.mapv_inplace(f64::ln);
                Loss::OptaxKlLog
            }
        }
        62 => {
            inp.y = r.simplex(&[n, c]);
            Loss::SafeCe
        }
        63 => {
            inp.x = if r.uniform() < 0.5 { one_hot(&mut r, n, c) } else { r.simplex(&[n, c]) };
            Loss::SmoothLabels { alpha: r.range(0.0, 0.5) }
        }
        64 | 65 => {
            inp.y = r.array(&[n, c], -4.0, 4.0);
            if kind == 64 { Loss::OptaxHuber { delta: r.range(0.1, 2.0) } } else { Loss::OptaxLogCosh }
        }
        66 => {
            let s = 1 + r.below(3);
            inp.x = r.array(&[n, s, c], -4.0, 4.0);
            inp.y = r.array(&[n, s, c], 0.0, 1.0).mapv(|v| if v < 0.5 { 0.0 } else { 1.0 });
            Loss::BinaryDice { smooth: r.range(0.1, 2.0) }
        }
        67 => {
            let s = 1 + r.below(3);
            inp.x = r.array(&[n, s, c], -4.0, 4.0);
            inp.y = one_hot(&mut r, n * s, c).into_shape_with_order(IxDyn(&[n, s, c])).unwrap();
            Loss::GeneralizedDice { smooth: r.range(0.1, 2.0) }
        }
        68 => {
            let t = 5 + r.below(3);
            let classes = 3 + r.below(2);
            let s = 2;
            inp.x = r.array(&[n, t, classes], -3.0, 3.0);
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n, s]), |_| 1 + r.below(classes - 1) as i64);
            // Right-padded: the last frame of some sequences, the last label of some.
            let frames: Vec<usize> = (0..n).map(|_| t - r.below(2)).collect();
            let labels: Vec<usize> = (0..n).map(|_| 1 + r.below(s)).collect();
            inp.y = ArrayD::from_shape_fn(IxDyn(&[n, t]), |ix| if ix[1] < frames[ix[0]] { 0.0 } else { 1.0 });
            inp.z = ArrayD::from_shape_fn(IxDyn(&[n, s]), |ix| if ix[1] < labels[ix[0]] { 0.0 } else { 1.0 });
            Loss::OptaxCtc
        }
        69 => {
            // At least one positive pair (none is documented NaN, 0/0): two rows or more, rows 0 and 1 alike.
            let n = if n == 0 { 0 } else { n.max(2) };
            let f = 2 + r.below(3);
            inp.x = r.array(&[n, f], -2.0, 2.0);
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n]), |_| r.below(2) as i64);
            if n >= 2 {
                inp.labels[1] = inp.labels[0];
            }
            Loss::NtXent { temperature: r.range(0.1, 1.0) }
        }
        70 => {
            inp.y = r.array(&[n, c], -4.0, 4.0);
            inp.z = r.array(&[n, c], -4.0, 4.0);
            Loss::OptaxTriplet { degree: if r.uniform() < 0.5 { 2.0 } else { 4.0 }, margin: r.range(0.1, 3.0) }
        }
        71 => {
            inp.y = r.array(&[n, c], 0.0, 3.0).mapv(f64::floor);
            // optax's `where`: one item of some lists masked (each list keeps valid items).
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n, c]), |ix| i64::from(ix[1] != 0 || r.uniform() < 0.5));
            inp.z = r.array(&[n, c], 0.2, 2.0);
            Loss::RankingSoftmax { masked: r.uniform() < 0.5, weighted: r.uniform() < 0.5 }
        }
        72 => {
            let with_qk = r.uniform() < 0.5;
            // Unnormalised probabilities (SciPy normalises them along `axis`).
            inp.x = r.array(&[n, c], 0.05, 2.0);
            inp.y = r.array(&[n, c], 0.05, 2.0);
            let base = (r.uniform() < 0.5).then(|| r.range(1.5, 10.0));
            Loss::ScipyEntropy { with_qk, base, axis: if r.uniform() < 0.5 { 0 } else { -1 } }
        }
        73..=78 => {
            let base = (r.uniform() < 0.5).then(|| r.range(1.5, 10.0));
            match kind {
                73 => {
                    inp.x = r.array(&[n, c], 0.05, 1.0);
                    Loss::SelfInformation { base }
                }
                74 => {
                    inp.x = r.simplex(&[n, c]);
                    Loss::Entropy { base }
                }
                75 => {
                    inp.x = r.array(&[n, c], 0.02, 0.98);
                    Loss::BinaryEntropy { base }
                }
                _ => {
                    inp.x = r.simplex(&[n, c]);
                    inp.y = r.simplex(&[n, c]);
                    match kind {
                        76 => Loss::InfoCrossEntropy { base },
                        77 => Loss::InfoKl { base },
                        _ => Loss::InfoJs { base },
                    }
                }
            }
        }
        79 => {
            inp.y = r.array(&[n, c], -4.0, 4.0);
            Loss::Quantile { q: r.range(0.05, 0.95) }
        }
        80 => {
            let s = 1 + r.below(3);
            inp.x = r.array(&[n, s, c], 0.0, 1.0);
            inp.y = r.array(&[n, s, c], 0.0, 1.0);
            Loss::Jaccard { smooth: r.range(0.0, 2.0) }
        }
        81 => {
            let d = 1 + r.below(4);
            inp.x = r.simplex(&[n, d, c]).permuted_axes(IxDyn(&[0, 2, 1])).as_standard_layout().to_owned();
            let ignore = r.uniform() < 0.5;
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n, d]), |_| if ignore && r.uniform() < 0.2 { IGNORE } else { r.below(c) as i64 });
            Loss::Lovasz { per_image: r.uniform() < 0.5, all_classes: r.uniform() < 0.5, ignore }
        }
        82 => {
            inp.y = r.array(&[n, c], -4.0, 4.0);
            Loss::KerasHuber { delta: r.range(0.1, 2.0) }
        }
        83 => {
            let f = 2 + r.below(3);
            // Rows of norm below 1 (dot products below 1), a few groups.
            inp.x = r.array(&[n, f], -0.55, 0.55);
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n]), |_| r.below(3) as i64);
            let refs = r.uniform() < 0.5;
            if refs {
                let m = 1 + r.below(5);
                inp.y = r.array(&[m, f], -0.55, 0.55);
                inp.target_lengths = Array1::from_shape_fn(m, |_| r.below(3) as i64);
            }
            Loss::KerasCircle { remove_diagonal: r.uniform() < 0.5, gamma: r.range(1.0, 16.0), margin: r.range(0.1, 0.5), refs }
        }
        84 => {
            let classes = 3 + r.below(2);
            let s = 1 + r.below(3);
            // Enough frames for any labels, repeats included (an impossible alignment costs
            // about 1e5, optax's log 0, beyond what central differences resolve).
            let t = 2 * s + 1 + r.below(3);
            inp.x = r.array(&[n, t, classes], -3.0, 3.0);
            let lens: Vec<usize> = (0..n).map(|_| r.below(s + 1)).collect();
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n, s]), |ix| if ix[1] < lens[ix[0]] { 1 + r.below(classes - 1) as i64 } else { 0 });
            Loss::KerasCtc
        }
        85 => {
            inp.x = r.array(&[n, c], -6.0, 6.0);
            inp.y = r.array(&[n, c], 0.0, 1.0);
            Loss::TfWeightedNumber { pos_weight: r.range(0.0, 3.0) }
        }
        86 => {
            inp.x = r.array(&[n, c], -3.0, 3.0);
            inp.y = r.array(&[n, c], 0.0, 1.0).mapv(|v| if v < 0.4 { 0.0 } else if v < 0.8 { 1.0 } else { 2.0 * v - 1.0 });
            Loss::SparsemaxFloat
        }
        _ => unreachable!("kind {kind} ≥ KINDS"),
    };
    (loss, inp)
}

/// One-hot rows `(n, c)`.
fn one_hot(r: &mut Rng, n: usize, c: usize) -> ArrayD<f64> {
    let mut a = ArrayD::zeros(IxDyn(&[n, c]));
    for i in 0..n {
        a[[i, r.below(c)]] = 1.0;
    }
    a
}

/// The loss of `inp` reduced by `red`, and the gradient with respect to `x` of its sum.
pub fn eval<T: Float>(loss: &Loss, inp: &In<T>, red: Reduction) -> losslab::Result<(ArrayD<T>, ArrayD<T>)> {
    eval_xy(loss, inp, red).map(|(v, gx, _)| (v, gx))
}

/// A value, its gradient with respect to `x`, and with respect to `y` where the library gives one.
pub type Evaluated<T> = (ArrayD<T>, ArrayD<T>, Option<ArrayD<T>>);

/// As [`eval`], with the gradient with respect to `y` where the library gives one.
pub fn eval_xy<T: Float>(loss: &Loss, inp: &In<T>, red: Reduction) -> losslab::Result<Evaluated<T>> {
    let (x, y, z, l) = (inp.x.view(), inp.y.view(), inp.z.view(), inp.labels.view());
    let w = |w: &Option<Vec<f64>>| w.as_ref().map(|w| Array1::from(w.clone()));
    let g = |(v, g): (ArrayD<T>, Gradients<T>)| (v, g.input, g.target);
    Ok(match loss {
        Loss::Ce { weight, smoothing } => {
            let mut ce = CrossEntropyLoss::new().reduction(red).label_smoothing(*smoothing).ignore_index(IGNORE);
            if let Some(w) = w(weight) {
                ce = ce.weight(w.view());
            }
            g(ce.forward_backward(x, l)?)
        }
        Loss::CeSpatial { smoothing } => g(CrossEntropyLoss::new().reduction(red).label_smoothing(*smoothing).forward_backward(x, l)?),
        Loss::CeProbs { smoothing } => g(CrossEntropyLoss::new().reduction(red).label_smoothing(*smoothing).forward_backward_probs(x, y)?),
        Loss::Nll { weight } => {
            let mut nll = NllLoss::new().reduction(red).ignore_index(IGNORE);
            if let Some(w) = w(weight) {
                nll = nll.weight(w.view());
            }
            g(nll.forward_backward(x, l)?)
        }
        Loss::Bce { weighted } => {
            let mut bce = BinaryCrossEntropy::new().reduction(red);
            if *weighted {
                bce = bce.weight(z);
            }
            g(bce.forward_backward(x, y)?)
        }
        Loss::BceLogits { pos_weighted } => {
            let mut bce = BinaryCrossEntropyWithLogits::new().reduction(red);
            if *pos_weighted {
                bce = bce.pos_weight(z);
            }
            g(bce.forward_backward(x, y)?)
        }
        Loss::Mse => g(MseLoss::new().reduction(red).forward_backward(x, y)?),
        Loss::L1 => g(L1Loss::new().reduction(red).forward_backward(x, y)?),
        Loss::SmoothL1 { beta } => g(SmoothL1Loss::new().reduction(red).beta(*beta).forward_backward(x, y)?),
        Loss::Huber { delta } => g(HuberLoss::new().reduction(red).delta(*delta).forward_backward(x, y)?),
        Loss::KlDiv { log_target } => g(KlDivLoss::new().reduction(red).log_target(*log_target).forward_backward(x, y)?),
        Loss::TfSoftmax => g(SoftmaxCrossEntropyWithLogits::new().reduction(red).forward_backward(y, x)?),
        Loss::TfSparse => g(SparseSoftmaxCrossEntropyWithLogits::new().reduction(red).forward_backward(l, x)?),
        Loss::PoissonNll => g(PoissonNllLoss::new().reduction(red).forward_backward(x, y)?),
        Loss::GaussianNll => {
            let (v, gr) = GaussianNllLoss::new().reduction(red).forward_backward(x, y, z)?;
            (v, gr.input, Some(gr.target))
        }
        Loss::MultiMargin { p, margin } => g(MultiMarginLoss::new().reduction(red).p(*p).margin(*margin).forward_backward(x, l)?),
        Loss::SoftMargin => g(SoftMarginLoss::new().reduction(red).forward_backward(x, y)?),
        Loss::Triplet { margin, swap } => {
            let (v, gr) = TripletMarginLoss::new().reduction(red).margin(*margin).swap(*swap).forward_backward(x, y, z)?;
            (v, gr.anchor, Some(gr.positive))
        }
        Loss::Dice => g(DiceLoss::new().reduction(red).forward_backward(x, y)?),
        Loss::SigmoidFocal { gamma } => g(SigmoidFocalLoss::new().reduction(red).gamma(*gamma).forward_backward(x, y)?),
        Loss::SoftmaxFocal { gamma } => {
            g(SoftmaxFocalLoss::new().reduction(red).gamma(*gamma).ignore_index(IGNORE).forward_backward(x, l)?)
        }
        Loss::Ctc => {
            // The loss of log_softmax(x); its gradient chained through the log-softmax.
            let lp = log_softmax(&x, Axis(2))?;
            let (v, gr) = CtcLoss::new().reduction(red).forward_backward(lp.view(), l, inp.input_lengths.view(), inp.target_lengths.view())?;
            let mut gx = gr.input;
            for (mut gl, lpl) in gx.lanes_mut(Axis(2)).into_iter().zip(lp.lanes(Axis(2))) {
                let s = gl.iter().fold(T::zero(), |a, &b| a + b);
                gl.zip_mut_with(&lpl, |gi, &li| *gi = *gi - li.exp() * s);
            }
            (v, gx, None)
        }
        Loss::MarginRanking { margin } => {
            let (v, gr) = MarginRankingLoss::new().reduction(red).margin(*margin).forward_backward(x, y, z)?;
            (v, gr.input1, Some(gr.input2))
        }
        Loss::HingeEmbedding { margin } => g(HingeEmbeddingLoss::new().reduction(red).margin(*margin).forward_backward(x, y)?),
        Loss::MultilabelSoftMargin { weighted } => {
            let mut loss = MultilabelSoftMarginLoss::new().reduction(red);
            if *weighted {
                loss = loss.weight(z);
            }
            g(loss.forward_backward(x, y)?)
        }
        Loss::MultilabelMargin => g(MultilabelMarginLoss::new().reduction(red).forward_backward(x, l)?),
        Loss::CosineEmbedding { margin } => {
            let (v, gr) = CosineEmbeddingLoss::new().reduction(red).margin(*margin).forward_backward(x, y, z)?;
            (v, gr.input1, Some(gr.input2))
        }
        Loss::TripletDistance { cosine, margin, swap } => {
            let d = if *cosine { TripletDistance::Cosine } else { TripletDistance::Pairwise };
            let loss = TripletMarginWithDistanceLoss::new().reduction(red).distance_function(d).margin(*margin).swap(*swap);
            let (v, gr) = loss.forward_backward(x, y, z)?;
            (v, gr.anchor, Some(gr.positive))
        }
        Loss::Giou => g(GeneralizedBoxIouLoss::new().reduction(red).forward_backward(x, y)?),
        Loss::Diou => g(DistanceBoxIouLoss::new().reduction(red).forward_backward(x, y)?),
        Loss::Ciou => g(CompleteBoxIouLoss::new().reduction(red).forward_backward(x, y)?),
        Loss::TfSigmoid => g(SigmoidCrossEntropyWithLogits::new().reduction(red).forward_backward(y, x)?),
        Loss::TfWeighted => g(WeightedCrossEntropyWithLogits::new(1.0).reduction(red).pos_weight(z).forward_backward(y, x)?),
        Loss::TfLogPoisson { full } => g(LogPoissonLoss::new().reduction(red).compute_full_loss(*full).forward_backward(y, x)?),
        Loss::TfL2 => g(L2Loss::new().reduction(red).forward_backward(x)?),
        Loss::TfCtc => {
            let (il, tl) = (inp.input_lengths.view(), inp.target_lengths.view());
            g(TfCtcLoss::new().reduction(red).forward_backward(l, x, tl, il)?)
        }
        Loss::KerasPoisson => g(KerasPoisson::new().reduction(red).forward_backward(y, x)?),
        Loss::KerasHinge => g(KerasHinge::new().reduction(red).forward_backward(y, x)?),
        Loss::KerasSquaredHinge => g(KerasSquaredHinge::new().reduction(red).forward_backward(y, x)?),
        Loss::KerasCategoricalHinge => g(KerasCategoricalHinge::new().reduction(red).forward_backward(y, x)?),
        Loss::KerasBce { from_logits, smoothing } => {
            g(KerasBinaryCrossentropy::new().from_logits(*from_logits).label_smoothing(*smoothing).reduction(red).forward_backward(y, x)?)
        }
        Loss::KerasCce { from_logits, smoothing } => g(KerasCategoricalCrossentropy::new()
            .from_logits(*from_logits)
            .label_smoothing(*smoothing)
            .reduction(red)
            .forward_backward(y, x)?),
        Loss::KerasScce { from_logits, ignore } => g(KerasSparseCategoricalCrossentropy::new()
            .from_logits(*from_logits)
            .ignore_class(*ignore)
            .reduction(red)
            .forward_backward(l, x)?),
        Loss::KerasBfce { balancing, alpha, gamma, from_logits, smoothing } => g(KerasBinaryFocalCrossentropy::new()
            .apply_class_balancing(*balancing)
            .alpha(*alpha)
            .gamma(*gamma)
            .from_logits(*from_logits)
            .label_smoothing(*smoothing)
            .reduction(red)
            .forward_backward(y, x)?),
        Loss::KerasCfce { alpha, gamma, from_logits, smoothing } => g(KerasCategoricalFocalCrossentropy::new()
            .alpha(*alpha)
            .gamma(*gamma)
            .from_logits(*from_logits)
            .label_smoothing(*smoothing)
            .reduction(red)
            .forward_backward(y, x)?),
        Loss::KerasGce { q } => g(KerasCategoricalGeneralizedCrossEntropy::new().q(*q).reduction(red).forward_backward(l, x)?),
        Loss::KerasKl => g(KerasKlDivergence::new().reduction(red).forward_backward(y, x)?),
        Loss::KerasLogCosh => g(KerasLogCosh::new().reduction(red).forward_backward(y, x)?),
        Loss::KerasMsle => g(KerasMeanSquaredLogarithmicError::new().reduction(red).forward_backward(y, x)?),
        Loss::KerasMape => g(KerasMeanAbsolutePercentageError::new().reduction(red).forward_backward(y, x)?),
        Loss::KerasDice { axis } => g(KerasDice::new().axis(axis.clone()).reduction(red).forward_backward(y, x)?),
        Loss::KerasTversky { alpha, beta, axis } => {
            g(KerasTversky::new().alpha(*alpha).beta(*beta).axis(axis.clone()).reduction(red).forward_backward(y, x)?)
        }
        Loss::KerasCosine => g(CosineSimilarityLoss::new().reduction(red).forward_backward(y, x)?),
        Loss::MulticlassHinge => g(MulticlassHingeLoss::new().reduction(red).forward_backward(x, l)?),
        Loss::Perceptron => g(PerceptronLoss::new().reduction(red).forward_backward(x, y)?),
        Loss::MulticlassPerceptron => g(MulticlassPerceptronLoss::new().reduction(red).forward_backward(x, l)?),
        Loss::Poly { epsilon } => g(OptaxPolyLossCrossEntropy::new().epsilon(*epsilon).reduction(red).forward_backward(x, y)?),
        Loss::Sparsemax => g(OptaxSparsemaxLoss::new().reduction(red).forward_backward(x, l)?),
        Loss::MulticlassSparsemax => g(OptaxMulticlassSparsemaxLoss::new().reduction(red).forward_backward(x, l)?),
        Loss::OptaxGkl => g(OptaxGeneralizedKlDivergence::new().reduction(red).forward_backward(x, y)?),
        Loss::OptaxKl => g(OptaxKlDivergence::new().reduction(red).forward_backward(x, y)?),
        Loss::OptaxKlLog => g(OptaxKlDivergenceWithLogTargets::new().reduction(red).forward_backward(x, y)?),
        Loss::SafeCe => g(OptaxSafeSoftmaxCrossEntropy::new().reduction(red).forward_backward(x, y)?),
        Loss::SmoothLabels { alpha } => g(OptaxSmoothLabels::new(*alpha).reduction(red).forward_backward(x)?),
        Loss::OptaxHuber { delta } => g(OptaxHuberLoss::new().delta(*delta).reduction(red).forward_backward(x, y)?),
        Loss::OptaxLogCosh => g(OptaxLogCosh::new().reduction(red).forward_backward(x, y)?),
        Loss::BinaryDice { smooth } => g(BinaryDiceLoss::new().smooth(*smooth).reduction(red).forward_backward(x, y)?),
        Loss::GeneralizedDice { smooth } => g(MulticlassGeneralizedDiceLoss::new().smooth(*smooth).reduction(red).forward_backward(x, y)?),
        Loss::OptaxCtc => g(OptaxCtcLoss::new().reduction(red).forward_backward(x, y, l, z)?),
        Loss::NtXent { temperature } => g(NtXentLoss::new().temperature(*temperature).reduction(red).forward_backward(x, l)?),
        Loss::OptaxTriplet { degree, margin } => {
            let (v, gr) = OptaxTripletMarginLoss::new().norm_degree(*degree).margin(*margin).reduction(red).forward_backward(x, y, z)?;
            (v, gr.anchor, Some(gr.positive))
        }
        Loss::RankingSoftmax { masked, weighted } => {
            let mut loss = RankingSoftmaxLoss::new().reduction(red);
            let mask = l.mapv(|v| v != 0);
            if *masked {
                loss = loss.where_(mask.view());
            }
            if *weighted {
                loss = loss.weights(z);
            }
            g(loss.forward_backward(x, y)?)
        }
        Loss::ScipyEntropy { with_qk, base, axis } => {
            let loss = ScipyEntropy::new().reduction(red).base(*base).axis(*axis);
            // With qk, the gradient `input` is qk's: x is qk, y is pk.
            if *with_qk {
                g(loss.forward_backward(y, Some(x))?)
            } else {
                g(loss.forward_backward(x, None)?)
            }
        }
        // losslab's information measures have no reduction parameter: reduced
        // here, as `losslab eval` does.
        Loss::SelfInformation { base } => {
            let lnb = base.map_or(1.0, f64::ln);
            let gx = x.mapv(|p| T::from(-1.0 / (p.to_f64().unwrap() * lnb)).unwrap());
            reduce_free(red, self_information(x, *base)?, |g| Ok(Gradients { input: &gx * &g, target: None }))?
        }
        Loss::BinaryEntropy { base } => {
            let lnb = base.map_or(1.0, f64::ln);
            let gx = x.mapv(|p| {
                let p = p.to_f64().unwrap();
                T::from(((-p).ln_1p() - p.ln()) / lnb).unwrap()
            });
            reduce_free(red, binary_entropy(x, *base)?, |g| Ok(Gradients { input: &gx * &g, target: None }))?
        }
        Loss::Entropy { base } => reduce_free(red, entropy(x.view(), -1, *base)?, |g| Ok(Gradients { input: entropy_backward(x, -1, *base, g.view())?, target: None }))?,
        Loss::InfoCrossEntropy { base } => reduce_free(red, information::cross_entropy(y.view(), x.view(), -1, *base)?, |g| {
            information::cross_entropy_backward(y, x, -1, *base, g.view())
        })?,
        Loss::InfoKl { base } => reduce_free(red, information::kl_divergence(y.view(), x.view(), -1, *base)?, |g| {
            information::kl_divergence_backward(y, x, -1, *base, g.view())
        })?,
        Loss::InfoJs { base } => reduce_free(red, information::js_divergence(y.view(), x.view(), -1, *base)?, |g| {
            information::js_divergence_backward(y, x, -1, *base, g.view())
        })?,
        Loss::Quantile { q } => g(QuantileLoss::new().quantile(*q).reduction(red).forward_backward(x, y)?),
        Loss::Jaccard { smooth } => g(JaccardLoss::new().smooth(*smooth).reduction(red).forward_backward(x, y)?),
        Loss::Lovasz { per_image, all_classes, ignore } => {
            let classes = if *all_classes { LovaszClasses::All } else { LovaszClasses::Present };
            let loss = LovaszSoftmax::new().classes(classes).per_image(*per_image).ignore(ignore.then_some(IGNORE)).reduction(red);
            g(loss.forward_backward(x, l)?)
        }
        Loss::KerasHuber { delta } => g(KerasHuber::new().delta(*delta).reduction(red).forward_backward(y, x)?),
        Loss::KerasCircle { remove_diagonal, gamma, margin, refs } => {
            let loss = KerasCircle::new().remove_diagonal(*remove_diagonal).gamma(*gamma).margin(*margin).reduction(red);
            if *refs {
                let rl = inp.target_lengths.view().into_dyn();
                g(loss.forward_backward_with_refs(l, x, Some(rl), Some(y.view()))?)
            } else {
                g(loss.forward_backward(l, x)?)
            }
        }
        Loss::KerasCtc => g(KerasCtc::new().reduction(red).forward_backward(l, x)?),
        Loss::TfWeightedNumber { pos_weight } => g(WeightedCrossEntropyWithLogits::new(*pos_weight).reduction(red).forward_backward(y, x)?),
        Loss::SparsemaxFloat => {
            // The library takes f32 and f64 labels; here T is generic: as f64.
            let labels = y.mapv(|v| v.to_f64().unwrap());
            g(OptaxSparsemaxLoss::new().reduction(red).forward_backward(x, labels.view())?)
        }
    })
}

/// An unreduced result reduced by `red` (`BatchMean`: over the first axis), and the
/// gradient `backward(upstream)` of that reduction.
fn reduce_free<T: Float>(
    red: Reduction,
    unreduced: ArrayD<T>,
    backward: impl FnOnce(ArrayD<T>) -> losslab::Result<Gradients<T>>,
) -> losslab::Result<Evaluated<T>> {
    let n = unreduced.len() as f64;
    let scale = match red {
        Reduction::None | Reduction::Sum => 1.0,
        Reduction::Mean => 1.0 / n,
        Reduction::BatchMean => 1.0 / unreduced.shape().first().map_or(1.0, |&b| b as f64),
    };
    let grad = backward(ArrayD::from_elem(unreduced.shape(), T::from(scale).unwrap()))?;
    let value = match red {
        Reduction::None => unreduced,
        _ => {
            let sum: f64 = unreduced.iter().map(|v| v.to_f64().unwrap()).sum();
            ArrayD::from_elem(IxDyn(&[]), T::from(sum * scale).unwrap())
        }
    };
    Ok((value, grad.input, grad.target))
}

/// Whether every element of the unreduced loss is ≥ 0 (else only checked finite).
pub fn nonnegative(loss: &Loss) -> bool {
    !matches!(
        loss,
        Loss::KlDiv { .. } | Loss::PoissonNll | Loss::GaussianNll | Loss::TfLogPoisson { .. } | Loss::KerasPoisson | Loss::KerasCosine
    )
}

/// Whether the library's gradient with respect to `y` is the derivative of the
/// value in `y` nearby: not for Keras's hinges on {0, 1} labels, converted to
/// ±1 only while every label is 0 or 1 (the gradient is that of the branch
/// taken, as JAX's; any step leaves it).
pub fn target_differentiable(loss: &Loss, inp: &In<f64>) -> bool {
    !(matches!(loss, Loss::KerasHinge | Loss::KerasSquaredHinge) && inp.y.iter().all(|&v| v == 0.0 || v == 1.0))
}

/// The rows of `x` along its last axis are logits of a softmax: a constant
/// added to a row changes nothing.
pub fn softmax_rows(loss: &Loss) -> bool {
    matches!(
        loss,
        Loss::Ce { .. }
            | Loss::CeProbs { .. }
            | Loss::TfSoftmax
            | Loss::TfSparse
            | Loss::SoftmaxFocal { .. }
            | Loss::MultiMargin { .. }
            | Loss::KerasCce { from_logits: true, .. }
            | Loss::KerasScce { from_logits: true, .. }
            | Loss::KerasCfce { from_logits: true, .. }
            | Loss::MulticlassHinge
            | Loss::MulticlassPerceptron
            | Loss::Poly { .. }
            | Loss::MulticlassSparsemax
            | Loss::SafeCe
            | Loss::RankingSoftmax { .. }
            // CTC on logits: a log-softmax over the class axis (the last).
            | Loss::TfCtc
            | Loss::OptaxCtc
            | Loss::KerasCtc
    )
}

/// The reference's `mean`, from the `none` output.
pub fn expected_mean(loss: &Loss, inp: &In<f64>, none: &ArrayD<f64>) -> f64 {
    let sum: f64 = none.sum();
    let rows = |w: &Option<Vec<f64>>| -> f64 {
        inp.labels.iter().filter(|&&y| y != IGNORE).map(|&y| w.as_ref().map_or(1.0, |w| w[y as usize])).sum()
    };
    match loss {
        // PyTorch: Σ wᵧ·ℓ over the weights of the rows not ignored.
        Loss::Ce { weight, .. } | Loss::Nll { weight } => sum / rows(weight),
        Loss::SoftmaxFocal { .. } => sum / rows(&None),
        // PyTorch: each loss divided by its target length, then the batch mean.
        Loss::Ctc => {
            none.iter().zip(&inp.target_lengths).map(|(&v, &t)| v / t.max(1) as f64).sum::<f64>() / none.len() as f64
        }
        _ => sum / none.len() as f64,
    }
}
