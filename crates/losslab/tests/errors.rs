//! Every error the library returns, pinned: one bad input per distinct error
//! site (at least one per loss module), with the exact message. Each message
//! names the loss, the tensor or option at fault, what was expected and what
//! was found (issue 6: errors a person can act on).
//!
//! A failure lists every case whose message changed, with the message now given.

use losslab::*;
use losslab::classification::{KerasBinaryCrossentropy, KerasBinaryFocalCrossentropy, KerasCategoricalCrossentropy, KerasCategoricalFocalCrossentropy, KerasCategoricalGeneralizedCrossEntropy, KerasSparseCategoricalCrossentropy, OptaxMulticlassSparsemaxLoss, OptaxPolyLossCrossEntropy, OptaxSafeSoftmaxCrossEntropy, OptaxSmoothLabels, OptaxSparsemaxLoss};
use losslab::embedding::{CosineSimilarityLoss, NtXentLoss, OptaxTripletMarginLoss};
use losslab::information::{KerasKlDivergence, ScipyEntropy, entropy_backward, kl_divergence, kl_divergence_backward};
use losslab::likelihood::{KerasPoisson};
use losslab::margin::{KerasCategoricalHinge, KerasHinge};
use losslab::regression::{OptaxHuberLoss};
use losslab::segmentation::{KerasDice, KerasTversky};
use losslab::sequence::{OptaxCtcLoss, TfCtcLoss};
use ndarray::{array, ArrayD, Axis, IxDyn};

/// The message of an error (or `<no error>`).
macro_rules! msg {
    ($e:expr) => {
        match $e {
            Ok(_) => "<no error>".to_string(),
            Err(e) => LossError::to_string(&e),
        }
    };
}

fn zeros(shape: &[usize]) -> ArrayD<f64> {
    ArrayD::zeros(IxDyn(shape))
}

fn ints(shape: &[usize], v: i64) -> ArrayD<i64> {
    ArrayD::from_elem(IxDyn(shape), v)
}

/// `(site, message given, message expected)`.
type Case = (&'static str, String, &'static str);

fn cases() -> Vec<Case> {
    let x3 = array![1.0f64, 2.0, 4.0];
    let y2 = array![1.0f64, 1.0];
    let m23 = zeros(&[2, 3]);
    let m22 = zeros(&[2, 2]);
    let s0 = zeros(&[]);
    let v2 = zeros(&[2]);
    let l2 = ints(&[2], 0);
    let g2 = zeros(&[2]);
    let g3 = zeros(&[3]);
    vec![
        // --- regression, pointwise, reduction (the shared helpers) ---
        (
            "regression: mse_loss shapes (same_shape)",
            msg!(mse_loss(x3.view(), y2.view(), Reduction::Mean)),
            "mse_loss: `target` has shape [2], expected a shape that broadcasts with `input` [3] (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "regression: smooth_l1 beta",
            msg!(SmoothL1Loss::new().beta(-1.0).forward(x3.view(), x3.view())),
            "smooth_l1_loss: option `beta` = -1 is invalid: expected a number >= 0",
        ),
        (
            "regression: huber delta",
            msg!(HuberLoss::new().delta(0.0).forward(x3.view(), x3.view())),
            "huber_loss: option `delta` = 0 is invalid: expected a number > 0",
        ),
        (
            "reduction: grad_output of an unreduced result",
            msg!(L1Loss::new().reduction(Reduction::None).backward(x3.view(), x3.view(), g2.view())),
            "l1_loss: `grad_output` has shape [2], expected [3] (the shape of `input`)",
        ),
        (
            "reduction: grad_output of a scalar result",
            msg!(L1Loss::new().backward(x3.view(), x3.view(), g3.view())),
            "l1_loss: `grad_output` has shape [3], expected [] (the result is a scalar under reduction `mean`)",
        ),
        (
            "pointwise: BCE weight broadcast",
            msg!(BinaryCrossEntropy::new().weight(g3.view().into_dyn()).forward(v2.view(), v2.view())),
            "binary_cross_entropy: `weight` has shape [3], expected a shape that broadcasts to [2] (the shape of `input`)",
        ),
        // --- classification ---
        (
            "classification: cross_entropy 0-d input",
            msg!(CrossEntropyLoss::new().forward(s0.view(), ints(&[], 0).view())),
            "cross_entropy: `input` has shape [], expected (C,), (N, C) or (N, C, d1, ..., dk)",
        ),
        (
            "classification: cross_entropy target shape",
            msg!(CrossEntropyLoss::new().forward(m23.view(), ints(&[3], 0).view())),
            "cross_entropy: `target` has shape [3], expected [2] (the shape of `input` without its class axis)",
        ),
        (
            "classification: cross_entropy class index (fused)",
            msg!(CrossEntropyLoss::new().forward(m23.view(), array![0i64, 3].view())),
            "cross_entropy: `target` holds class index 3 at position [1], outside the valid range [0, 3) and not ignore_index (-100)",
        ),
        (
            "classification: cross_entropy class index (spatial, generic)",
            msg!(CrossEntropyLoss::new().forward(zeros(&[1, 3, 2]).view(), array![[0i64, -5]].view())),
            "cross_entropy: `target` holds class index -5 at position [0, 1], outside the valid range [0, 3) and not ignore_index (-100)",
        ),
        (
            "classification: cross_entropy weight length",
            msg!(CrossEntropyLoss::new().weight(y2.view()).forward(m23.view(), l2.view())),
            "cross_entropy: `weight` has shape [2], expected [3] (one weight per class: the size of `input`'s class axis)",
        ),
        (
            "classification: cross_entropy label_smoothing",
            msg!(CrossEntropyLoss::new().label_smoothing(1.5).forward(m23.view(), l2.view())),
            "cross_entropy: option `label_smoothing` = 1.5 is invalid: expected a number in [0, 1]",
        ),
        (
            "classification: cross_entropy probabilities with ignore_index",
            msg!(CrossEntropyLoss::new().ignore_index(0).forward_probs(m23.view(), m23.view())),
            "cross_entropy: option `ignore_index` = 0 is not supported with class probabilities (a floating point `target`): \
             expected a negative ignore_index, or class-index targets (PyTorch: \"ignore_index is not supported for floating point target\")",
        ),
        (
            "classification: cross_entropy probabilities shape",
            msg!(CrossEntropyLoss::new().forward_probs(m23.view(), m22.view())),
            "cross_entropy: `target` has shape [2, 2], expected [2, 3] (the shape of `input`)",
        ),
        (
            "classification: nll_loss class index",
            msg!(nll_loss(m23.view(), array![7i64, 0].view(), Reduction::Mean)),
            "nll_loss: `target` holds class index 7 at position [0], outside the valid range [0, 3) and not ignore_index (-100)",
        ),
        (
            "classification: binary_cross_entropy probability",
            msg!(BinaryCrossEntropy::new().forward(array![0.5f64, 1.5].view(), y2.view())),
            "binary_cross_entropy: `input` holds 1.5 at position [1], expected a probability in [0, 1]",
        ),
        (
            "classification: bce_with_logits shapes",
            msg!(BinaryCrossEntropyWithLogits::new().forward(x3.view(), y2.view())),
            "binary_cross_entropy_with_logits: `target` has shape [2], expected [3] (the shape of `input`)",
        ),
        (
            "classification: softmax_cross_entropy_with_logits 0-d",
            msg!(SoftmaxCrossEntropyWithLogits::new().forward(s0.view(), s0.view())),
            "softmax_cross_entropy_with_logits: `logits` has shape [], expected at least 1 dimension (the classes)",
        ),
        (
            "classification: softmax_cross_entropy_with_logits shapes",
            msg!(SoftmaxCrossEntropyWithLogits::new().forward(m22.view(), m23.view())),
            "softmax_cross_entropy_with_logits: `labels` has shape [2, 2], expected [2, 3] (the shape of `logits`), or a shape whose (rows, classes) form broadcasts to the logits' [2, 3] as TensorFlow's kernel broadcasts it (1 row or 2; 1 class or 3; or logits of 1 class)",
        ),
        (
            "classification: softmax_cross_entropy_with_logits labels of more rows",
            msg!(SoftmaxCrossEntropyWithLogits::new().forward(m23.view(), zeros(&[1, 3]).view())),
            "softmax_cross_entropy_with_logits: `labels` has shape [2, 3], expected [1, 3] (the shape of `logits`), or a shape whose (rows, classes) form broadcasts to the logits' [1, 3] as TensorFlow's kernel broadcasts it (1 row or 1; 1 class or 3; or logits of 1 class)",
        ),
        (
            "classification: softmax_cross_entropy_with_logits axis",
            msg!(SoftmaxCrossEntropyWithLogits::new().axis(2).forward(m23.view(), m23.view())),
            "softmax_cross_entropy_with_logits: option `axis` = 2 is invalid: expected an axis in [-2, 2) for a tensor with 2 dimension(s)",
        ),
        (
            "classification: sparse_softmax_cross_entropy_with_logits labels shape",
            msg!(SparseSoftmaxCrossEntropyWithLogits::new().forward(ints(&[3], 0).view(), m23.view())),
            "sparse_softmax_cross_entropy_with_logits: `labels` has shape [3], expected [2] (the shape of `logits` without its class axis)",
        ),
        (
            "classification: sparse_softmax_cross_entropy_with_logits class index",
            msg!(SparseSoftmaxCrossEntropyWithLogits::new().forward(array![0i64, -1].view(), m23.view())),
            "sparse_softmax_cross_entropy_with_logits: `labels` holds class index -1 at position [1], outside the valid range [0, 3)",
        ),
        // --- beyond ---
        (
            "beyond: softmax_focal gamma",
            msg!(SoftmaxFocalLoss::new().gamma(-1.0).forward(m23.view(), l2.view())),
            "softmax_focal_loss: option `gamma` = -1 is invalid: expected a number >= 0",
        ),
        (
            "beyond: softmax_focal class index",
            msg!(SoftmaxFocalLoss::new().forward(m23.view(), array![0i64, 9].view())),
            "softmax_focal_loss: `target` holds class index 9 at position [1], outside the valid range [0, 3) and not ignore_index (-100)",
        ),
        (
            "beyond: softmax_focal target shape",
            msg!(SoftmaxFocalLoss::new().forward(m23.view(), ints(&[3], 0).view())),
            "softmax_focal_loss: `target` has shape [3], expected [2] (the shape of `input` without its class axis)",
        ),
        (
            "beyond: quantile",
            msg!(QuantileLoss::new().quantile(1.5).forward(x3.view(), x3.view())),
            "quantile_loss: option `quantile` = 1.5 is invalid: expected a number in (0, 1)",
        ),
        // --- detection ---
        (
            "detection: sigmoid_focal alpha",
            msg!(SigmoidFocalLoss::new().alpha(2.0).forward(v2.view(), v2.view())),
            "sigmoid_focal_loss: option `alpha` = 2 is invalid: expected a number in [0, 1], or -1 for no weighting",
        ),
        (
            "detection: generalized_box_iou boxes1 last axis",
            msg!(GeneralizedBoxIouLoss::new().forward(m23.view(), m23.view())),
            "generalized_box_iou_loss: `boxes1` has shape [2, 3], expected (..., 4): boxes (x1, y1, x2, y2) on the last axis",
        ),
        (
            "detection: complete_box_iou boxes2 shape",
            msg!(CompleteBoxIouLoss::new().forward(zeros(&[1, 4]).view(), zeros(&[2, 4]).view())),
            "complete_box_iou_loss: `boxes2` has shape [2, 4], expected a shape that broadcasts to [1, 4] (the shape of `boxes1`, which the result keeps, as PyTorch's)",
        ),
        // --- embedding ---
        (
            "embedding: triplet shapes",
            msg!(TripletMarginLoss::new().forward(m23.view(), m23.view(), m22.view())),
            "triplet_margin_loss: `negative` has shape [2, 2], expected a shape that broadcasts with `anchor` [2, 3] and `positive` [2, 3] (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "embedding: triplet margin",
            msg!(TripletMarginLoss::new().margin(0.0).forward(m23.view(), m23.view(), m23.view())),
            "triplet_margin_loss: option `margin` = 0 is invalid: expected a number > 0",
        ),
        (
            "embedding: triplet p",
            msg!(TripletMarginLoss::new().p(f64::NAN).forward(m23.view(), m23.view(), m23.view())),
            "triplet_margin_loss: option `p` = NaN is invalid: expected a number (inf allowed)",
        ),
        (
            "embedding: triplet distance name",
            "euclid".parse::<TripletDistance>().map(|_| ()).unwrap_err().to_string(),
            "triplet_margin_with_distance_loss: option `distance_function` = euclid is invalid: expected pairwise or cosine",
        ),
        (
            "embedding: optax triplet axis",
            msg!(OptaxTripletMarginLoss::new().axis(5).forward(m23.view(), m23.view(), m23.view())),
            "optax_triplet_margin_loss: option `axis` = 5 is invalid: expected an axis in [-2, 2) for a tensor with 2 dimension(s)",
        ),
        (
            "embedding: cosine_embedding target rank",
            msg!(CosineEmbeddingLoss::new().forward(m23.view(), m23.view(), m22.view())),
            "cosine_embedding_loss: `target` has shape [2, 2], expected (N) or () (PyTorch: multi-target not supported)",
        ),
        (
            "embedding: cosine_embedding input1 rank",
            msg!(CosineEmbeddingLoss::new().forward(x3.view(), x3.view(), y2.view())),
            "cosine_embedding_loss: `input1` has shape [3], expected (N, D) (2-D, with a 1-D target)",
        ),
        (
            "embedding: cosine_embedding target batch",
            msg!(CosineEmbeddingLoss::new().forward(m23.view(), m23.view(), x3.view())),
            "cosine_embedding_loss: `target` has shape [3], expected [2] or [1] (the batch size of the inputs, broadcast as PyTorch's)",
        ),
        (
            "embedding: cosine_similarity axis",
            msg!(CosineSimilarityLoss::new().axis(-3).forward(m23.view(), m23.view())),
            "cosine_similarity: option `axis` = -3 is invalid: expected an axis in [-2, 2) for a tensor with 2 dimension(s)",
        ),
        (
            "embedding: nt_xent embeddings rank",
            msg!(NtXentLoss::new().forward(x3.view(), ints(&[3], 0).view())),
            "ntxent: `embeddings` has shape [3], expected (N, F) (2-D: a batch of embeddings)",
        ),
        (
            "embedding: nt_xent labels",
            msg!(NtXentLoss::new().forward(m23.view(), ints(&[3], 0).view())),
            "ntxent: `labels` has shape [3], expected [2] (one label per embedding)",
        ),
        (
            "embedding: ranking_softmax 0-d",
            msg!(RankingSoftmaxLoss::new().forward(s0.view(), s0.view())),
            "ranking_softmax_loss: `logits` has shape [], expected at least 1 dimension (the list)",
        ),
        (
            "embedding: ranking_softmax weights broadcast",
            msg!(RankingSoftmaxLoss::new().weights(g3.view().into_dyn()).forward(m22.view(), m22.view())),
            "ranking_softmax_loss: `weights` has shape [3], expected a shape that broadcasts to [2, 2] (the shape of `logits` and `labels` broadcast)",
        ),
        // --- information ---
        (
            "information: kl_div shapes",
            msg!(KlDivLoss::new().forward(m23.view(), m22.view())),
            "kl_div: `target` has shape [2, 2], expected a shape that broadcasts with `input` [2, 3] (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "information: scipy entropy base",
            msg!(ScipyEntropy::new().base(1.0).forward(x3.view(), None)),
            "scipy.stats.entropy: option `base` = 1 is invalid: expected a finite number > 0 other than 1",
        ),
        (
            "information: scipy entropy shapes",
            msg!(ScipyEntropy::new().forward(x3.view(), Some(y2.view()))),
            "scipy.stats.entropy: `qk` has shape [2], expected [3] (the shape of `pk`)",
        ),
        (
            "information: kl_divergence axis",
            msg!(kl_divergence(x3.view(), x3.view(), 1, None)),
            "kl_divergence: option `axis` = 1 is invalid: expected an axis in [-1, 1) for a tensor with 1 dimension(s)",
        ),
        // --- keras ---
        (
            "keras: binary_crossentropy shapes",
            msg!(KerasBinaryCrossentropy::new().forward(m23.view(), m22.view())),
            "binary_crossentropy: `y_pred` has shape [2, 2], expected [2, 3] (the shape of `y_true`)",
        ),
        (
            "keras: binary_crossentropy 0-d",
            msg!(KerasBinaryCrossentropy::new().forward(s0.view(), s0.view())),
            "binary_crossentropy: `y_true` has shape [], expected at least 1 dimension",
        ),
        (
            "keras: categorical_crossentropy label_smoothing",
            msg!(KerasCategoricalCrossentropy::new().label_smoothing(2.0).forward(m23.view(), m23.view())),
            "categorical_crossentropy: option `label_smoothing` = 2 is invalid: expected a number in [0, 1]",
        ),
        (
            "keras: sparse_categorical_crossentropy axis not last",
            msg!(KerasSparseCategoricalCrossentropy::new().axis(0).forward(l2.view(), m23.view())),
            "sparse_categorical_crossentropy: option `axis` = 0 is not supported: expected the last axis of `y_pred` (-1 or 1 for its shape [2, 3]), \
             as Keras's backend requires the classes on the last axis",
        ),
        (
            "keras: categorical_focal gamma",
            msg!(KerasCategoricalFocalCrossentropy::new().gamma(f64::NAN).forward(m23.view(), m23.view())),
            "categorical_focal_crossentropy: option `gamma` = NaN is invalid: expected a number",
        ),
        (
            "keras: binary_focal alpha",
            msg!(KerasBinaryFocalCrossentropy::new().alpha(f64::NAN).forward(m23.view(), m23.view())),
            "binary_focal_crossentropy: option `alpha` = NaN is invalid: expected a number",
        ),
        (
            "keras: sparse_categorical_crossentropy labels shape",
            msg!(KerasSparseCategoricalCrossentropy::new().forward(ints(&[3], 0).view(), m23.view())),
            "sparse_categorical_crossentropy: `y_true` has shape [3], expected [2] or [2, 1] (the shape of `y_pred` without its last, class axis)",
        ),
        (
            "keras: sparse_categorical_crossentropy class index",
            msg!(KerasSparseCategoricalCrossentropy::new().forward(array![1i64, 3].view(), m23.view())),
            "sparse_categorical_crossentropy: `y_true` holds class index 3 at position [1], outside the valid range [0, 3)",
        ),
        (
            "keras: sparse_categorical_crossentropy 0-d",
            msg!(KerasSparseCategoricalCrossentropy::new().forward(ints(&[], 0).view(), s0.view())),
            "sparse_categorical_crossentropy: `y_pred` has shape [], expected at least 1 dimension (the classes, last)",
        ),
        (
            "keras: generalized cross entropy q",
            msg!(KerasCategoricalGeneralizedCrossEntropy::new().q(0.0).forward(l2.view(), m23.view())),
            "categorical_generalized_cross_entropy: option `q` = 0 is invalid: expected a number > 0 (Keras documents the range (0, 1))",
        ),
        // --- likelihood ---
        (
            "likelihood: gaussian_nll negative variance",
            msg!(GaussianNllLoss::new().forward(x3.view(), x3.view(), array![1.0f64, -1.0, 1.0].view())),
            "gaussian_nll_loss: `var` holds -1 at position [1], expected a variance >= 0 (PyTorch: var has negative entry/entries)",
        ),
        (
            "likelihood: gaussian_nll negative scalar variance",
            msg!(GaussianNllLoss::new().forward_scalar_var(x3.view(), x3.view(), -1.0)),
            "gaussian_nll_loss: `var` holds -1 at position [], expected a variance >= 0 (PyTorch: var has negative entry/entries)",
        ),
        (
            "likelihood: gaussian_nll scalar variance, target shape",
            msg!(GaussianNllLoss::new().forward_scalar_var(x3.view(), y2.view(), 1.0)),
            "gaussian_nll_loss: `target` has shape [2], expected a shape that broadcasts with `input` [3] (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "likelihood: gaussian_nll variance shape",
            msg!(GaussianNllLoss::new().forward(x3.view(), x3.view(), y2.view())),
            "gaussian_nll_loss: `var` has shape [2], expected [3] (the shape of `input`), [], a shape with a last axis of size 1, or one axis of size 1 where `input`'s differs (PyTorch: var is of incorrect size)",
        ),
        (
            "likelihood: keras poisson shapes",
            msg!(KerasPoisson::new().forward(m23.view(), m22.view())),
            "poisson: `y_true` has shape [2, 3], expected a shape that broadcasts with `y_pred` [2, 2] (NumPy's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "likelihood: keras poisson 0-d",
            msg!(KerasPoisson::new().forward(s0.view(), s0.view())),
            "poisson: `y_pred` has shape [], expected at least 1 dimension (the last axis is reduced)",
        ),
        // --- margin ---
        (
            "margin: multi_margin p",
            msg!(MultiMarginLoss::new().p(3).forward(m23.view(), l2.view())),
            "multi_margin_loss: option `p` = 3 is invalid: expected 1 or 2 (PyTorch: only p == 1 and p == 2 supported)",
        ),
        (
            "margin: multi_margin input rank",
            msg!(MultiMarginLoss::new().forward(zeros(&[1, 2, 3]).view(), l2.view())),
            "multi_margin_loss: `input` has shape [1, 2, 3], expected (), (C,) or (N, C) with C >= 1 (a scalar, or a non-empty vector or matrix)",
        ),
        (
            "margin: multi_margin target shape",
            msg!(MultiMarginLoss::new().forward(m23.view(), ints(&[3], 0).view())),
            "multi_margin_loss: `target` has shape [3], expected [2] (one class index per row of `input`)",
        ),
        (
            "margin: multi_margin weight",
            msg!(MultiMarginLoss::new().weight(y2.view()).forward(m23.view(), l2.view())),
            "multi_margin_loss: `weight` has shape [2], expected [3] (one weight per class)",
        ),
        (
            "margin: multi_margin class index",
            msg!(MultiMarginLoss::new().forward(m23.view(), array![0i64, 4].view())),
            "multi_margin_loss: `target` holds class index 4 at position [1], outside the valid range [0, 3)",
        ),
        (
            "margin: margin_ranking shapes",
            msg!(MarginRankingLoss::new().forward(x3.view(), x3.view(), y2.view())),
            "margin_ranking_loss: `target` has shape [2], expected a shape that broadcasts with `input1` [3] and `input2` [3] (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "margin: soft_margin shapes",
            msg!(SoftMarginLoss::new().forward(x3.view(), y2.view())),
            "soft_margin_loss: `target` has shape [2], expected a shape that broadcasts with `input` [3] (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "margin: multilabel_margin",
            msg!(MultilabelMarginLoss::new().forward(m23.view(), array![[0i64, 5, -1], [0, -1, 0]].view())),
            "multilabel_margin_loss: `target` holds 5 at position [0, 1], expected a class index in [0, C) or -1 (which ends the sample's targets)",
        ),
        (
            "margin: keras hinge shapes",
            msg!(KerasHinge::new().forward(m23.view(), m22.view())),
            "hinge: `y_true` has shape [2, 3], expected a shape that broadcasts with `y_pred` [2, 2] (NumPy's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "margin: multiclass_hinge labels",
            msg!(MulticlassHingeLoss::new().forward(m23.view(), ints(&[3], 0).view())),
            "multiclass_hinge_loss: `labels` has shape [3], expected [2] (the shape of `scores` without its last axis)",
        ),
        // --- math ---
        (
            "math: softmax axis",
            msg!(softmax(&m23.view(), Axis(2))),
            "softmax: `x` has shape [2, 3], expected at least 3 dimension(s) (axis = 2)",
        ),
        (
            "math: xlogy shapes",
            msg!(xlogy(&x3.view(), &y2.view())),
            "xlogy: `y` has shape [2], expected [3] (the shape of `x`)",
        ),
        // --- optax ---
        (
            "optax: huber delta",
            msg!(OptaxHuberLoss::new().delta(-1.0).forward(x3.view(), x3.view())),
            "huber_loss: option `delta` = -1 is invalid: expected a number >= 0",
        ),
        (
            "optax: smooth_labels alpha",
            msg!(OptaxSmoothLabels::new(f64::NAN).forward(m23.view())),
            "smooth_labels: option `alpha` = NaN is invalid: expected a number",
        ),
        (
            "optax: smooth_labels 0-d",
            msg!(OptaxSmoothLabels::new(0.1).forward(s0.view())),
            "smooth_labels: `labels` has shape [], expected at least 1 dimension",
        ),
        (
            "optax: multiclass_sparsemax rank",
            msg!(OptaxMulticlassSparsemaxLoss::new().forward(x3.view(), ints(&[], 0).view())),
            "multiclass_sparsemax_loss: `scores` has shape [3], expected (N, C): optax maps the loss over the rows of a 2-d tensor",
        ),
        (
            "optax: sparsemax shapes",
            msg!(OptaxSparsemaxLoss::new().forward(x3.view(), l2.view())),
            "sparsemax_loss: `labels` has shape [2], expected a shape that broadcasts with `logits` [3] (NumPy's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "optax: safe_softmax_cross_entropy shapes",
            msg!(OptaxSafeSoftmaxCrossEntropy::new().forward(m23.view(), m22.view())),
            "safe_softmax_cross_entropy: `labels` has shape [2, 2], expected a shape that broadcasts with `logits` [2, 3] (NumPy's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "keras: categorical_focal y_pred's own class axis (broadcast)",
            msg!(KerasCategoricalFocalCrossentropy::new().forward(m23.view(), zeros(&[2, 1]).view())),
            "categorical_focal_crossentropy: `y_pred` has shape [2, 1], expected a shape that broadcasts to [2, 3] with its own axis -1 of 3 entries (the reference transforms `y_pred` over that axis before it broadcasts; a size-1 axis there is not taken)",
        ),
        (
            "keras: categorical_focal ranks with a non-negative axis (broadcast)",
            msg!(KerasCategoricalFocalCrossentropy::new().axis(0).forward(zeros(&[3]).view(), m23.view())),
            "categorical_focal_crossentropy: `y_true` has shape [3], expected 2 dimensions, as `y_pred` [2, 3] (with the axis 0 counted from the front, tensors of different ranks do not broadcast here)",
        ),
        (
            "keras: dice ranks with an axis (broadcast)",
            msg!(KerasDice::new().axis(Some(vec![1])).forward(zeros(&[3]).view(), m23.view())),
            "dice: `y_true` has shape [3], expected 2 dimensions, as `y_pred` [2, 3] (with `axis` given, tensors of different ranks do not broadcast here)",
        ),
        (
            "optax: ranking_softmax logits' own list axis (broadcast)",
            msg!(losslab::embedding::RankingSoftmaxLoss::new().forward(zeros(&[2, 1]).view(), m23.view())),
            "ranking_softmax_loss: `logits` has shape [2, 1], expected a shape whose last axis (the list) has 3 entries, as the broadcast shape [2, 3] (optax takes the softmax over the logits' own list axis; a size-1 one that broadcasts is not taken)",
        ),
        // --- segmentation ---
        (
            "segmentation: keras dice shapes",
            msg!(KerasDice::new().forward(m23.view(), m22.view())),
            "dice: `y_true` has shape [2, 3], expected a shape that broadcasts with `y_pred` [2, 2] (NumPy's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "segmentation: keras dice axis",
            msg!(KerasDice::new().axis(Some(vec![1, 1])).forward(m23.view(), m23.view())),
            "dice: option `axis` = [1, 1] is invalid: expected distinct axes in [-2, 2) for a tensor with 2 dimension(s)",
        ),
        (
            "segmentation: optax dice probabilities",
            msg!(DiceLoss::new().apply_softmax(false).forward(m23.view(), m23.view())),
            "dice_loss: `predictions` holds 0 at position [0], expected rows (along the last axis) that sum to 1 when apply_softmax is false (optax: \"predictions must be valid probability distributions\")",
        ),
        (
            "segmentation: optax dice axis over classes",
            msg!(DiceLoss::new().axis(Some(vec![-1])).forward(m23.view(), m23.view())),
            "dice_loss: option `axis` = [-1] is not supported: expected batch and spatial axes only \
             (losslab sums optax's `axis` over those), found the class (last) axis 1 among them",
        ),
        (
            "segmentation: optax dice class_weights",
            msg!(DiceLoss::new().class_weights(y2.view()).forward(m23.view(), m23.view())),
            "dice_loss: `class_weights` has shape [2], expected [3] (one weight per class: the size of the last axis)",
        ),
        (
            "segmentation: optax dice smooth",
            msg!(DiceLoss::new().smooth(f64::NAN).forward(m23.view(), m23.view())),
            "dice_loss: option `smooth` = NaN is invalid: expected a number",
        ),
        (
            "segmentation: optax dice shapes",
            msg!(DiceLoss::new().forward(m23.view(), m22.view())),
            "dice_loss: `targets` has shape [2, 2], expected [2, 3] (the shape of `predictions`)",
        ),
        (
            "segmentation: binary dice 0-d",
            msg!(BinaryDiceLoss::new().forward(s0.view(), s0.view())),
            "binary_dice_loss: `predictions` has shape [], expected at least 1 dimension",
        ),
        (
            "segmentation: generalized dice shapes",
            msg!(MulticlassGeneralizedDiceLoss::new().forward(m23.view(), m22.view())),
            "multiclass_generalized_dice_loss: `targets` has shape [2, 2], expected [2, 3] (the shape of `predictions`)",
        ),
        (
            "segmentation: jaccard smooth",
            msg!(JaccardLoss::new().smooth(-1.0).forward(m23.view(), m23.view())),
            "jaccard_loss: option `smooth` = -1 is invalid: expected a number >= 0",
        ),
        (
            "segmentation: lovasz probas rank",
            msg!(LovaszSoftmax::new().forward(x3.view(), ints(&[], 0).view())),
            "lovasz_softmax: `probas` has shape [3], expected (N, C, d1, ..., dk): at least 2 dimensions",
        ),
        (
            "segmentation: lovasz labels",
            msg!(LovaszSoftmax::new().forward(m23.view(), ints(&[3], 0).view())),
            "lovasz_softmax: `labels` has shape [3], expected [2] (the shape of `probas` without its class axis)",
        ),
        (
            "segmentation: lovasz class index",
            msg!(LovaszSoftmax::new().forward(m23.view(), array![0i64, 7].view())),
            "lovasz_softmax: `labels` holds class index 7 at position [1], outside the valid range [0, 3)",
        ),
        // --- sequence (CTC) ---
        (
            "sequence: ctc log_probs rank",
            msg!(CtcLoss::new().forward(x3.view(), array![1i64].view(), array![3i64].view(), array![1i64].view())),
            "ctc_loss: `log_probs` has shape [3], expected (T, N, C) or (T, C)",
        ),
        (
            "sequence: ctc empty log_probs",
            msg!(CtcLoss::new().forward(zeros(&[0, 1, 3]).view(), array![[1i64]].view(), array![0i64].view(), array![1i64].view())),
            "ctc_loss: `log_probs` has shape [0, 1, 3], expected a non-empty tensor (T, N, C ≥ 1)",
        ),
        (
            "sequence: ctc blank",
            msg!(CtcLoss::new().blank(3).forward(zeros(&[2, 1, 3]).view(), array![[1i64]].view(), array![2i64].view(), array![1i64].view())),
            "ctc_loss: option `blank` = 3 is invalid: expected a class index in [0, 3) (C = the size of `log_probs`'s class axis)",
        ),
        (
            "sequence: ctc negative input length",
            msg!(CtcLoss::new().forward(zeros(&[2, 1, 3]).view(), array![[1i64]].view(), array![-2i64].view(), array![1i64].view())),
            "ctc_loss: `input_lengths` holds -2 at position [0], expected a length ≥ 0",
        ),
        (
            "sequence: ctc input length past T",
            msg!(CtcLoss::new().forward(zeros(&[2, 1, 3]).view(), array![[1i64]].view(), array![5i64].view(), array![1i64].view())),
            "ctc_loss: `input_lengths` holds 5 at position [0], expected a length at most T, the size of `log_probs`'s time axis",
        ),
        (
            "sequence: ctc lengths shape",
            msg!(CtcLoss::new().forward(zeros(&[2, 1, 3]).view(), array![[1i64]].view(), array![2i64, 2].view(), array![1i64].view())),
            "ctc_loss: `input_lengths` has shape [2], expected [1] (one length per sequence: N = 1)",
        ),
        (
            "sequence: ctc target is the blank",
            msg!(CtcLoss::new().forward(zeros(&[2, 1, 3]).view(), array![[0i64]].view(), array![2i64].view(), array![1i64].view())),
            "ctc_loss: `targets` holds 0 at position [0, 0], expected a label other than the blank (the blank is implied between labels, never a target)",
        ),
        (
            "sequence: ctc target out of range",
            msg!(CtcLoss::new().forward(zeros(&[2, 1, 3]).view(), array![[4i64]].view(), array![2i64].view(), array![1i64].view())),
            "ctc_loss: `targets` holds class index 4 at position [0, 0], outside the valid range [0, 3)",
        ),
        (
            "sequence: ctc padded targets batch",
            msg!(CtcLoss::new().forward(zeros(&[2, 1, 3]).view(), array![[1i64], [1]].view(), array![2i64].view(), array![1i64].view())),
            "ctc_loss: `targets` has shape [2, 1], expected [1, S] (N = 1 padded sequences)",
        ),
        (
            "sequence: ctc concatenated targets length",
            msg!(CtcLoss::new().forward(zeros(&[2, 1, 3]).view(), array![1i64, 2].view(), array![2i64].view(), array![1i64].view())),
            "ctc_loss: `targets` has shape [2], expected [1] (Σ target_lengths, concatenated)",
        ),
        (
            "sequence: ctc targets rank",
            msg!(CtcLoss::new().forward(zeros(&[2, 1, 3]).view(), zeros(&[1, 1, 1]).mapv(|_| 1i64).view(), array![2i64].view(), array![1i64].view())),
            "ctc_loss: `targets` has shape [1, 1, 1], expected (N, S) padded or 1-D concatenated",
        ),
        (
            "sequence: tf ctc logits rank",
            msg!(TfCtcLoss::new().forward(array![[1i64]].view(), m23.view(), array![1i64].view(), array![2i64].view())),
            "ctc_loss: `logits` has shape [2, 3], expected (T, N, C) with C ≥ 1",
        ),
        (
            "sequence: tf ctc blank_index",
            msg!(TfCtcLoss::new().blank_index(3).forward(array![[1i64]].view(), zeros(&[2, 1, 3]).view(), array![1i64].view(), array![2i64].view())),
            "ctc_loss: option `blank_index` = 3 is invalid: expected a class index in [-3, 3) (C = the size of `logits`'s class axis)",
        ),
        (
            "sequence: tf ctc labels",
            msg!(TfCtcLoss::new().forward(array![[1i64], [1]].view(), zeros(&[2, 1, 3]).view(), array![1i64].view(), array![2i64].view())),
            "ctc_loss: `labels` has shape [2, 1], expected [1, S] (N = 1 padded label sequences)",
        ),
        (
            "sequence: tf ctc logit_length past T",
            msg!(TfCtcLoss::new().forward(array![[1i64]].view(), zeros(&[2, 1, 3]).view(), array![1i64].view(), array![3i64].view())),
            "ctc_loss: `logit_length` holds 3 at position [0], expected a length at most T, the number of frames in `logits`",
        ),
        (
            "sequence: optax ctc logits rank",
            msg!(OptaxCtcLoss::new().forward(m23.view(), m22.view(), array![[1i64]].view(), array![[0.0f64]].view())),
            "ctc_loss: `logits` has shape [2, 3], expected (B, T, K) with T ≥ 1 and K ≥ 1",
        ),
        (
            "sequence: optax ctc logit_paddings",
            msg!(OptaxCtcLoss::new().forward(zeros(&[1, 2, 3]).view(), m22.view(), array![[1i64]].view(), array![[0.0f64]].view())),
            "ctc_loss: `logit_paddings` has shape [2, 2], expected [1, 2] (the shape of `logits` without its class axis)",
        ),
        (
            "sequence: optax ctc label_paddings",
            msg!(OptaxCtcLoss::new().forward(zeros(&[1, 2, 3]).view(), zeros(&[1, 2]).view(), array![[1i64]].view(), array![[0.0f64, 0.0]].view())),
            "ctc_loss: `label_paddings` has shape [1, 2], expected [1, 1] (the shape of `labels`)",
        ),
        (
            "sequence: optax ctc label out of range",
            msg!(OptaxCtcLoss::new().forward(zeros(&[1, 2, 3]).view(), zeros(&[1, 2]).view(), array![[7i64]].view(), array![[0.0f64]].view())),
            "ctc_loss: `labels` holds class index 7 at position [0, 0], outside the valid range [0, 3)",
        ),
        // --- more sites: the remaining shape, option and domain checks ---
        (
            "embedding: optax triplet 0-d with an axis",
            msg!(OptaxTripletMarginLoss::new().axis(0).forward(s0.view(), s0.view(), s0.view())),
            "optax_triplet_margin_loss: `anchors` has shape [], expected at least 1 dimension (the embedding axis), in one of the three tensors",
        ),
        (
            "embedding: triplet_with_distance margin",
            msg!(TripletMarginWithDistanceLoss::new().margin(-1.0).forward(m23.view(), m23.view(), m23.view())),
            "triplet_margin_with_distance_loss: option `margin` = -1 is invalid: expected a number > 0",
        ),
        (
            "embedding: cosine_embedding 0-d target",
            msg!(CosineEmbeddingLoss::new().forward(m23.view(), m23.view(), s0.view())),
            "cosine_embedding_loss: `input1` has shape [2, 3], expected (D) (1-D, with a 0-d target)",
        ),
        (
            "embedding: cosine_embedding input2",
            msg!(CosineEmbeddingLoss::new().forward(m23.view(), m22.view(), y2.view())),
            "cosine_embedding_loss: `input2` has shape [2, 2], expected a shape that broadcasts with `input1` [2, 3] (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "embedding: cosine_similarity shapes",
            msg!(CosineSimilarityLoss::new().forward(m23.view(), m22.view())),
            "cosine_similarity: `y_true` has shape [2, 3], expected a shape that broadcasts with `y_pred` [2, 2] (NumPy's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "embedding: ranking_softmax labels",
            msg!(RankingSoftmaxLoss::new().forward(m23.view(), m22.view())),
            "ranking_softmax_loss: `labels` has shape [2, 2], expected a shape that broadcasts with `logits` [2, 3] (NumPy's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "embedding: ranking_softmax where",
            msg!(RankingSoftmaxLoss::new().where_(array![true, false].view()).forward(m23.view(), m23.view())),
            "ranking_softmax_loss: `where` has shape [2], expected a shape that broadcasts to [2, 3] (the shape of `logits` and `labels` broadcast)",
        ),
        (
            "keras: binary_crossentropy label_smoothing",
            msg!(KerasBinaryCrossentropy::new().label_smoothing(-0.5).forward(m23.view(), m23.view())),
            "binary_crossentropy: option `label_smoothing` = -0.5 is invalid: expected a number in [0, 1]",
        ),
        (
            "keras: binary_focal gamma",
            msg!(KerasBinaryFocalCrossentropy::new().gamma(f64::NAN).forward(m23.view(), m23.view())),
            "binary_focal_crossentropy: option `gamma` = NaN is invalid: expected a number",
        ),
        (
            "keras: categorical_focal label_smoothing",
            msg!(KerasCategoricalFocalCrossentropy::new().label_smoothing(3.0).forward(m23.view(), m23.view())),
            "categorical_focal_crossentropy: option `label_smoothing` = 3 is invalid: expected a number in [0, 1]",
        ),
        (
            "keras: kl_divergence shapes",
            msg!(KerasKlDivergence::new().forward(m23.view(), m22.view())),
            "kl_divergence: `y_pred` has shape [2, 2], expected a shape that broadcasts with `y_true` [2, 3] (NumPy's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "information: entropy_backward grad_output",
            msg!(entropy_backward(m23.view(), -1, None, g3.view().into_dyn())),
            "entropy: `grad_output` has shape [3], expected [2] (the shape of the result)",
        ),
        (
            "information: kl_divergence_backward shapes",
            msg!(kl_divergence_backward(m23.view(), zeros(&[3, 2]).view(), -1, None, g2.view().into_dyn())),
            "kl_divergence: `q` has shape [3, 2], expected [2, 3] (the shape of `p`)",
        ),
        (
            "information: kl_divergence shapes",
            msg!(kl_divergence(m23.view(), zeros(&[3, 2]).view(), -1, None)),
            "kl_divergence: `q` has shape [3, 2], expected [2, 3] (the shape of `p`)",
        ),
        (
            "margin: margin_ranking input2",
            msg!(MarginRankingLoss::new().forward(x3.view(), y2.view(), x3.view())),
            "margin_ranking_loss: `input2` has shape [2], expected a shape that broadcasts with `input1` [3] (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "margin: multilabel_margin shapes",
            msg!(MultilabelMarginLoss::new().forward(m23.view(), ints(&[2, 2], 0).view())),
            "multilabel_margin_loss: `target` has shape [2, 2], expected [2, 3] (the shape of `input`)",
        ),
        (
            "margin: multilabel_soft_margin shapes",
            msg!(MultilabelSoftMarginLoss::new().forward(m23.view(), m22.view())),
            "multilabel_soft_margin_loss: `target` has shape [2, 2], expected a shape that broadcasts with `input` [2, 3] (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "margin: categorical hinge shapes",
            msg!(KerasCategoricalHinge::new().forward(m23.view(), m22.view())),
            "categorical_hinge: `y_true` has shape [2, 3], expected a shape that broadcasts with `y_pred` [2, 2] (NumPy's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "margin: multiclass_hinge no classes",
            msg!(MulticlassHingeLoss::new().forward(zeros(&[2, 0]).view(), l2.view())),
            "multiclass_hinge_loss: `scores` has shape [2, 0], expected a last axis of at least 1 class",
        ),
        (
            "margin: multiclass_hinge class index",
            msg!(MulticlassHingeLoss::new().forward(m23.view(), array![0i64, 3].view())),
            "multiclass_hinge_loss: `labels` holds class index 3 at position [1], outside the valid range [0, 3)",
        ),
        (
            "classification: sparse tf 0-d logits",
            msg!(SparseSoftmaxCrossEntropyWithLogits::new().forward(ints(&[], 0).view(), s0.view())),
            "sparse_softmax_cross_entropy_with_logits: `logits` has shape [], expected at least 1 dimension (the classes)",
        ),
        (
            "classification: bce_with_logits grad buffer",
            msg!(BinaryCrossEntropyWithLogits::new().forward_backward_into(x3.view(), x3.view(), zeros(&[2]).into_dimensionality().unwrap().view_mut())),
            "binary_cross_entropy_with_logits: `grad` has shape [2], expected [3] (the shape of `input`)",
        ),
        (
            "classification: cross_entropy grad buffer",
            msg!(CrossEntropyLoss::new().forward_backward_into(m23.view(), l2.view(), m22.clone().into_dimensionality().unwrap().view_mut())),
            "cross_entropy: `grad` has shape [2, 2], expected [2, 3] (the shape of `input`)",
        ),
        (
            "classification: cross_entropy grad_output of the unreduced result",
            msg!(CrossEntropyLoss::new().reduction(Reduction::None).backward(m23.view(), l2.view(), g3.view().into_dyn())),
            "cross_entropy: `grad_output` has shape [3], expected [2] (the shape of the unreduced result)",
        ),
        (
            "regression: mse grad buffer",
            msg!(MseLoss::new().forward_backward_into(x3.view(), x3.view(), zeros(&[2]).into_dimensionality().unwrap().view_mut())),
            "mse_loss: `grad` has shape [2], expected [3] (the shape of `input`)",
        ),
        (
            "beyond: softmax_focal alpha length",
            msg!(SoftmaxFocalLoss::new().alpha(y2.view()).forward(m23.view(), l2.view())),
            "softmax_focal_loss: `alpha` has shape [2], expected [3] (one weight per class)",
        ),
        (
            "beyond: softmax_focal 0-d",
            msg!(SoftmaxFocalLoss::new().forward(s0.view(), ints(&[], 0).view())),
            "softmax_focal_loss: `input` has shape [], expected (C,), (N, C) or (N, C, d1, ..., dk)",
        ),
        (
            "optax: poly_loss epsilon",
            msg!(OptaxPolyLossCrossEntropy::new().epsilon(f64::NAN).forward(m23.view(), m23.view())),
            "poly_loss_cross_entropy: option `epsilon` = NaN is invalid: expected a number",
        ),
        (
            "optax: poly_loss shapes",
            msg!(OptaxPolyLossCrossEntropy::new().forward(m23.view(), m22.view())),
            "poly_loss_cross_entropy: `labels` has shape [2, 2], expected a shape that broadcasts with `logits` [2, 3] (NumPy's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "segmentation: optax dice class_reduction",
            msg!(DiceLoss::new().class_reduction(Reduction::BatchMean).forward(m23.view(), m23.view())),
            "dice_loss: option `class_reduction` = batchmean is invalid: expected none, mean or sum (optax's `reduction` across classes)",
        ),
        (
            "segmentation: generalized dice 0-d",
            msg!(MulticlassGeneralizedDiceLoss::new().forward(s0.view(), s0.view())),
            "multiclass_generalized_dice_loss: `predictions` has shape [], expected at least 1 dimension: (..., num_classes)",
        ),
        (
            "segmentation: binary dice shapes",
            msg!(BinaryDiceLoss::new().forward(m23.view(), m22.view())),
            "binary_dice_loss: `targets` has shape [2, 2], expected [2, 3] (the shape of `predictions`)",
        ),
        (
            "segmentation: jaccard shapes",
            msg!(JaccardLoss::new().forward(m23.view(), m22.view())),
            "jaccard_loss: `target` has shape [2, 2], expected [2, 3] (the shape of `input`)",
        ),
        (
            "segmentation: keras tversky shapes",
            msg!(KerasTversky::new().forward(m23.view(), m22.view())),
            "tversky: `y_true` has shape [2, 3], expected a shape that broadcasts with `y_pred` [2, 2] (NumPy's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "segmentation: lovasz classes option",
            msg!(LovaszSoftmax::new().classes(LovaszClasses::List(vec![0, 5])).forward(m23.view(), l2.view())),
            "lovasz_softmax: option `classes` = [0, 5] is invalid: expected class indices in [0, 3) (the size of `probas`' class axis); 5 is not",
        ),
        (
            "sequence: optax ctc blank_id",
            msg!(OptaxCtcLoss::new().blank_id(3).forward(zeros(&[1, 2, 3]).view(), zeros(&[1, 2]).view(), array![[1i64]].view(), array![[0.0f64]].view())),
            "ctc_loss: option `blank_id` = 3 is invalid: expected a class index in [0, 3) (K = the size of `logits`'s class axis)",
        ),
        (
            "sequence: optax ctc paddings not 0 or 1",
            msg!(OptaxCtcLoss::new().forward(zeros(&[1, 2, 3]).view(), array![[0.0f64, 0.5]].view(), array![[1i64]].view(), array![[0.0f64]].view())),
            "ctc_loss: `logit_paddings` holds 0.5 at position [0, 1], expected 0 (data) or 1 (padding)",
        ),
        (
            "sequence: optax ctc left padding",
            msg!(OptaxCtcLoss::new().forward(zeros(&[1, 2, 3]).view(), zeros(&[1, 2]).view(), array![[1i64, 1]].view(), array![[1.0f64, 0.0]].view())),
            "ctc_loss: `label_paddings` holds 1 at position [0, 0], expected right padding: zeros, then ones (optax requires it)",
        ),
        (
            "sequence: tf ctc label_length shape",
            msg!(TfCtcLoss::new().forward(array![[1i64]].view(), zeros(&[2, 1, 3]).view(), array![1i64, 1].view(), array![2i64].view())),
            "ctc_loss: `label_length` has shape [2], expected [1] (one length per sequence: N = 1)",
        ),
        (
            "sequence: tf ctc label out of range",
            msg!(TfCtcLoss::new().forward(array![[5i64]].view(), zeros(&[2, 1, 3]).view(), array![1i64].view(), array![2i64].view())),
            "ctc_loss: `labels` holds class index 5 at position [0, 0], outside the valid range [0, 3)",
        ),
        // --- the names of issue 12 ---
        (
            "regression: keras huber shapes",
            msg!(keras::huber(m23.view(), m22.view(), 1.0)),
            "huber: `y_pred` has shape [2, 2], expected a shape that broadcasts with `y_true` [2, 3] (NumPy's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "regression: keras huber delta",
            msg!(keras::Huber::new().delta(-1.0).forward(m23.view(), m23.view())),
            "huber: option `delta` = -1 is invalid: expected a number >= 0",
        ),
        (
            "embedding: keras circle y_pred rank",
            msg!(keras::circle(l2.view(), v2.view())),
            "circle: `y_pred` has shape [2], expected (N, D) (2-D: a batch of embeddings)",
        ),
        (
            "embedding: keras circle labels",
            msg!(keras::circle(ints(&[3], 0).view(), m22.view())),
            "circle: `y_true` has shape [3], expected [2] or [2, 1] (one label per embedding)",
        ),
        (
            "embedding: keras circle ref_embeddings width",
            msg!(keras::Circle::new().forward_with_refs(l2.view(), m22.view(), None, Some(m23.view()))),
            "circle: `ref_embeddings` has shape [2, 3], expected (M, 2) (2-D, y_pred's width)",
        ),
        (
            "embedding: keras circle ref_embeddings count without ref_labels",
            msg!(keras::Circle::new().forward_with_refs(l2.view(), m22.view(), None, Some(zeros(&[3, 2]).view()))),
            "circle: `ref_embeddings` has shape [3, 2], expected [2, 2] (ref_labels default to y_true: one per query)",
        ),
        (
            "embedding: keras circle ref_labels",
            msg!(keras::Circle::new().forward_with_refs(l2.view(), m22.view(), Some(ints(&[3], 0).view()), Some(m22.view()))),
            "circle: `ref_labels` has shape [3], expected [2] or [2, 1] (one label per embedding)",
        ),
        (
            "sequence: keras ctc y_true rank",
            msg!(keras::ctc(l2.view(), zeros(&[2, 3, 3]).view())),
            "ctc: `y_true` has shape [2], expected (batch_size, max_length) (2-D integer labels)",
        ),
        (
            "sequence: keras ctc y_pred rank",
            msg!(keras::ctc(ints(&[2, 2], 1).view(), m23.view())),
            "ctc: `y_pred` has shape [2, 3], expected (batch_size, max_length, num_classes) with max_length ≥ 1 and num_classes ≥ 1",
        ),
        (
            "sequence: keras ctc batch",
            msg!(keras::ctc(ints(&[2, 2], 1).view(), zeros(&[3, 4, 3]).view())),
            "ctc: `y_true` has shape [2, 2], expected [3, S] (one label sequence per batch entry of `y_pred`)",
        ),
        (
            "sequence: keras ctc label out of range",
            msg!(keras::ctc(array![[1i64, -2]].view(), zeros(&[1, 4, 3]).view())),
            "ctc: `y_true` holds class index -2 at position [0, 1], outside the valid range [0, 3)",
        ),
        (
            "likelihood: weighted cross entropy pos_weight (a tensor) broadcast",
            msg!(WeightedCrossEntropyWithLogits::new(1.0).pos_weight(g3.view()).forward(m22.view(), m22.view())),
            "weighted_cross_entropy_with_logits: `pos_weight` has shape [3], expected a shape that broadcasts to [2, 2] (the shape of `input`)",
        ),
        (
            "optax: sparsemax float labels shapes",
            msg!(OptaxSparsemaxLoss::new().forward(x3.view(), y2.view())),
            "sparsemax_loss: `labels` has shape [2], expected a shape that broadcasts with `logits` [3] (NumPy's broadcasting: sizes aligned from the last axis, equal or 1)",
        ),
        (
            "math: log_softmax axis",
            msg!(log_softmax(&x3.view(), Axis(1))),
            "log_softmax: `x` has shape [3], expected at least 2 dimension(s) (axis = 1)",
        ),
        (
            "math: logsumexp axis",
            msg!(logsumexp(&x3.view(), Axis(1))),
            "logsumexp: `x` has shape [3], expected at least 2 dimension(s) (axis = 1)",
        ),
    ]
}

#[test]
fn every_error_message_is_pinned() {
    let cases = cases();
    let mut changed = Vec::new();
    for (site, got, want) in &cases {
        if got != want {
            changed.push(format!("{site}:\n    given:    {got}\n    expected: {want}"));
        }
    }
    assert!(changed.is_empty(), "{} of {} messages differ:\n{}", changed.len(), cases.len(), changed.join("\n"));
}

#[test]
fn every_message_names_the_loss_and_says_what_is_expected() {
    for (site, got, _) in cases() {
        let (loss, rest) = got.split_once(": ").unwrap_or_else(|| panic!("{site}: no loss name: {got}"));
        assert!(!loss.contains(' '), "{site}: `{loss}` is not a loss name: {got}");
        assert!(
            rest.contains("expected") || rest.contains("outside the valid range"),
            "{site}: does not say what is expected: {got}"
        );
        // What was found: a shape, a value, or an option's value.
        assert!(
            rest.contains(" has shape ") || rest.contains(" holds ") || rest.contains(" = "),
            "{site}: does not say what was found: {got}"
        );
    }
}
