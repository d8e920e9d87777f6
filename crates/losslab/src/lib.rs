//! # losslab
//!
//! The loss functions of deep learning, exact and numerically stable, with
//! analytic gradients and PyTorch's options and semantics, on
//! [`ndarray`] views of `f32` or `f64`.
//!
//! Every loss offers its value ([`forward`](MseLoss::forward)), the gradients of
//! `Σ grad_output · loss` ([`backward`](MseLoss::backward)) and both at once
//! ([`forward_backward`](MseLoss::forward_backward)); every [`Reduction`] is
//! valid for every loss; bad input is a [`LossError`] that names the loss, the
//! tensor or option, what was expected and what was found, never a panic.
//!
//! ```
//! use ndarray::array;
//! use losslab::{CrossEntropyLoss, Reduction};
//!
//! let logits = array![[2.0f32, 0.5, -1.0], [0.1, 0.2, 3.0]];
//! let labels = array![0i64, 2];
//! let (loss, grads) = CrossEntropyLoss::new()
//!     .label_smoothing(0.1)
//!     .forward_backward(logits.view(), labels.view())
//!     .unwrap();
//! // torch.nn.functional.cross_entropy(x, y, label_smoothing=0.1) in float64, PyTorch 2.15:
//! assert!((loss[[]] - 0.3454563805893112).abs() < 1e-7);
//! assert_eq!(grads.input.shape(), &[2, 3]);
//! ```
//!
//! ## Precision
//! Every computation widens to `f64`, accumulates there (sums are compensated),
//! and rounds once to the element type. Against float64 references the f64
//! results agree to about 1e-12 relative, the f32 results to about 1e-7.
//! The one exception is the fused softmax cross entropy on `f32` (below): its
//! exponentials are vectorised `f32` (≤ 1 ulp) summed in `f64`, for results
//! within about 1e-6 relative of the float64 truth.
//!
//! ## Speed
//! [`CrossEntropyLoss`] on a contiguous `(N, C)` or `(C,)` input runs a fused
//! kernel: one sweep per row computes the loss and the gradient `softmax −
//! target`, reading each logit from memory once and writing its gradient once,
//! vectorised (AVX-512 or AVX2 + FMA, chosen at run time; [`kernel_isa`] says
//! which) and spread over threads. It can write the gradient into a caller's
//! buffer ([`CrossEntropyLoss::forward_backward_into`]) or over the logits
//! ([`CrossEntropyLoss::forward_backward_inplace`], which allocates nothing but
//! its result). Results are bit-identical whatever the number of threads.
//! [`CrossEntropyLoss::forward_half`] and its siblings take `bf16` or `f16`
//! logits ([`half`]) and write a half gradient: the same sweep, computed in
//! `f32` with `f64` sums, moving 2 bytes per logit each way.
//!
//! The element-wise losses [`MseLoss`], [`L1Loss`], [`SmoothL1Loss`],
//! [`HuberLoss`] and [`BinaryCrossEntropyWithLogits`] (without weights) on
//! contiguous inputs run one fused sweep too: each element in `f64` by the same
//! formulas as the general path (BCE with its own vectorisable exp and log1p,
//! within 2 ulp), the loss summed in fixed chunks combined in a fixed order,
//! vectorised and spread over threads, bit-identical whatever the thread count.
//! Their `forward_backward_into` writes the input's gradient into a caller's
//! buffer. Figures: `docs/performance.md`.
//!
//! ## Features
//! - `rayon` (default): the fused kernels run on rayon's current thread pool
//!   (install a `rayon::ThreadPool` to choose the number of threads). Without
//!   it they run on the calling thread, with the same results to the bit.
//!
//! ## Catalog
//! | family | losses |
//! |---|---|
//! | stable primitives ([`math`]) | [`logsumexp`], [`softmax`], [`log_softmax`], [`sigmoid`], [`log_sigmoid`], [`softplus`], [`xlogy`] |
//! | information theory ([`information`]) | [`self_information`], [`entropy`], [`binary_entropy`], [`information::cross_entropy`], [`kl_divergence`], [`js_divergence`], [`KlDivLoss`] (`torch.nn.functional.kl_div`), [`ScipyEntropy`] (`scipy.stats.entropy`) |
//! | classification ([`classification`]) | [`CrossEntropyLoss`] (integer labels and probability targets), [`NllLoss`], [`BinaryCrossEntropy`], [`BinaryCrossEntropyWithLogits`], TensorFlow's [`SoftmaxCrossEntropyWithLogits`] and [`SparseSoftmaxCrossEntropyWithLogits`] |
//! | regression ([`regression`]) | [`MseLoss`], [`L1Loss`], [`SmoothL1Loss`], [`HuberLoss`] |
//! | embedding & ranking ([`embedding`]) | [`CosineEmbeddingLoss`], [`TripletMarginLoss`], [`TripletMarginWithDistanceLoss`] (PyTorch); [`CosineSimilarityLoss`] (Keras `cosine_similarity`); [`NtXentLoss`], [`OptaxTripletMarginLoss`], [`RankingSoftmaxLoss`] (optax) |
//! | likelihood ([`likelihood`]) | [`PoissonNllLoss`], [`GaussianNllLoss`] (PyTorch); [`SigmoidCrossEntropyWithLogits`], [`WeightedCrossEntropyWithLogits`], [`LogPoissonLoss`], [`L2Loss`] (TensorFlow); [`KerasPoisson`] (`keras.losses.poisson`) |
//! | margin ([`margin`]) | [`MarginRankingLoss`], [`HingeEmbeddingLoss`], [`SoftMarginLoss`], [`MultilabelSoftMarginLoss`], [`MultilabelMarginLoss`], [`MultiMarginLoss`] (PyTorch); [`KerasHinge`], [`KerasSquaredHinge`], [`KerasCategoricalHinge`] (Keras); [`MulticlassHingeLoss`], [`PerceptronLoss`], [`MulticlassPerceptronLoss`] (optax) |
//! | Keras ([`keras`]) | [`KerasBinaryCrossentropy`], [`KerasCategoricalCrossentropy`], [`KerasSparseCategoricalCrossentropy`], [`KerasBinaryFocalCrossentropy`], [`KerasCategoricalFocalCrossentropy`], [`KerasCategoricalGeneralizedCrossEntropy`], [`KerasKlDivergence`], [`KerasLogCosh`], [`KerasMeanSquaredLogarithmicError`], [`KerasMeanAbsolutePercentageError`] |
//! | optax ([`optax`]) | [`OptaxPolyLossCrossEntropy`], [`OptaxSparsemaxLoss`], [`OptaxMulticlassSparsemaxLoss`], [`OptaxKlDivergence`], [`OptaxKlDivergenceWithLogTargets`], [`OptaxGeneralizedKlDivergence`], [`OptaxSafeSoftmaxCrossEntropy`], [`OptaxSmoothLabels`], [`OptaxHuberLoss`], [`OptaxLogCosh`] |
//! | detection ([`detection`], `torchvision.ops`) | [`SigmoidFocalLoss`], [`GeneralizedBoxIouLoss`], [`DistanceBoxIouLoss`], [`CompleteBoxIouLoss`] |
//! | segmentation ([`segmentation`]) | Keras's [`KerasDice`] and [`KerasTversky`]; optax's [`DiceLoss`], [`BinaryDiceLoss`], [`MulticlassGeneralizedDiceLoss`]; losslab's [`JaccardLoss`] (soft IoU) and [`LovaszSoftmax`] |
//! | beyond the frameworks ([`beyond`]) | [`SoftmaxFocalLoss`] (multi-class focal), [`QuantileLoss`] (pinball) |
//! | sequence ([`sequence`]) | [`CtcLoss`] (`torch.nn.functional.ctc_loss`), [`TfCtcLoss`] (`tf.nn.ctc_loss`), [`OptaxCtcLoss`] (`optax.ctc_loss`) |
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

pub mod classification;
pub mod detection;
pub mod embedding;
pub mod information;
pub mod likelihood;
pub mod margin;
mod kernels;
pub mod math;
mod machinery;
pub mod regression;
pub mod segmentation;
pub mod sequence;

pub use classification::{softmax_focal_loss, SoftmaxFocalLoss};
pub use regression::{quantile_loss, QuantileLoss};
pub use classification::{
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, nll_loss, sparse_softmax_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits, BinaryCrossEntropy, BinaryCrossEntropyWithLogits, CrossEntropyLoss, NllLoss,
    SoftmaxCrossEntropyWithLogits, SparseSoftmaxCrossEntropyWithLogits,
};
pub use detection::{
    complete_box_iou_loss, distance_box_iou_loss, generalized_box_iou_loss, sigmoid_focal_loss, CompleteBoxIouLoss, DistanceBoxIouLoss,
    GeneralizedBoxIouLoss, SigmoidFocalLoss,
};
pub use embedding::{
    cosine_embedding_loss, cosine_similarity_loss, ntxent, optax_triplet_margin_loss, ranking_softmax_loss, triplet_margin_loss,
    triplet_margin_with_distance_loss, CosineEmbeddingGradients, CosineEmbeddingLoss, CosineSimilarityLoss, NtXentLoss,
    OptaxTripletMarginLoss, RankingSoftmaxLoss, TripletDistance, TripletGradients, TripletMarginLoss, TripletMarginWithDistanceLoss,
};
pub use machinery::error::{LossError, Result};
pub use machinery::float::{ClassIndex, Float, HalfFloat};
/// The `half` crate, whose [`bf16`](half::bf16) and [`f16`](half::f16) the half-precision kernels take.
pub use half;
pub use kernels::{kernel_isa, sum_exp};
pub use information::{
    binary_entropy, entropy, entropy_backward, js_divergence, js_divergence_backward, kl_div, kl_divergence,
    kl_divergence_backward, self_information, KlDivLoss, ScipyEntropy,
};
pub use classification::{keras_binary_crossentropy, keras_binary_focal_crossentropy, keras_categorical_crossentropy, keras_categorical_focal_crossentropy, keras_categorical_generalized_cross_entropy, keras_sparse_categorical_crossentropy, KerasBinaryCrossentropy, KerasBinaryFocalCrossentropy, KerasCategoricalCrossentropy, KerasCategoricalFocalCrossentropy, KerasCategoricalGeneralizedCrossEntropy, KerasSparseCategoricalCrossentropy};
pub use information::{keras_kl_divergence, KerasKlDivergence};
pub use regression::{keras_log_cosh, keras_mean_absolute_percentage_error, keras_mean_squared_logarithmic_error, KerasLogCosh, KerasMeanAbsolutePercentageError, KerasMeanSquaredLogarithmicError};
pub use math::{log_sigmoid, log_softmax, logsumexp, sigmoid, softmax, softplus, xlogy};
pub use likelihood::{gaussian_nll_loss, keras_poisson, l2_loss, log_poisson_loss, poisson_nll_loss, sigmoid_cross_entropy_with_logits, weighted_cross_entropy_with_logits, GaussianNllGradients, GaussianNllLoss, KerasPoisson, L2Loss, LogPoissonLoss, PoissonNllLoss, SigmoidCrossEntropyWithLogits, WeightedCrossEntropyWithLogits};
pub use margin::{keras_hinge, margin_ranking_loss, multi_margin_loss, multiclass_hinge_loss, soft_margin_loss, HingeEmbeddingLoss, KerasCategoricalHinge, KerasHinge, KerasSquaredHinge, MarginRankingGradients, MarginRankingLoss, MultiMarginLoss, MulticlassHingeLoss, MulticlassPerceptronLoss, MultilabelMarginLoss, MultilabelSoftMarginLoss, PerceptronLoss, SoftMarginLoss};
pub use classification::{optax_multiclass_sparsemax_loss, optax_poly_loss_cross_entropy, optax_smooth_labels, OptaxMulticlassSparsemaxLoss, OptaxPolyLossCrossEntropy, OptaxSafeSoftmaxCrossEntropy, OptaxSmoothLabels, OptaxSparsemaxLoss};
pub use information::{OptaxGeneralizedKlDivergence, OptaxKlDivergence, OptaxKlDivergenceWithLogTargets};
pub use regression::{optax_huber_loss, optax_log_cosh, OptaxHuberLoss, OptaxLogCosh};
pub use machinery::reduction::{Gradients, ParseReductionError, Reduction};
pub use segmentation::{
    binary_dice_loss, dice_loss, jaccard_loss, keras_dice, keras_tversky, lovasz_softmax, multiclass_generalized_dice_loss, BinaryDiceLoss,
    DiceLoss, JaccardLoss, KerasDice, KerasTversky, LovaszClasses, LovaszSoftmax, MulticlassGeneralizedDiceLoss,
};
pub use regression::{huber_loss, l1_loss, mse_loss, smooth_l1_loss, HuberLoss, L1Loss, MseLoss, SmoothL1Loss};
pub use sequence::{ctc_loss, optax_ctc_loss, tf_ctc_loss, CtcLoss, OptaxCtcLoss, TfCtcLoss};

/// The README's examples, compiled and run as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
