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
//! [`LinearCrossEntropyLoss`] (the LM head: `torch.nn.functional.linear_cross_entropy`
//! with a z-loss, a soft-cap and per-token outputs) never holds the `(N, V)`
//! logits: a tile of tokens at a time, the `gemm` crate's matrix products
//! around the fused row pass, its memory its gradients and one tile. Its
//! sharded form splits the vocabulary over processes through a [`collective`]
//! (MPI with the `mpi` feature), exchanging a few numbers per token.
//!
//! ## Features
//! - `rayon` (default): the fused kernels run on rayon's current thread pool
//!   (install a `rayon::ThreadPool` to choose the number of threads). Without
//!   it they run on the calling thread, with the same results to the bit.
//! - `mpi` (off): `collective::Mpi`, the sharded LM head over MPI (the
//!   `mpi` crate: an MPI installation and libclang to build), and the example
//!   `sharded_lm_head`.
//!
//! ## The house
//! Read from the bottom up; each layer uses only the layers under it.
//!
//! | layer | where | what it holds |
//! |---|---|---|
//! | faces | [`torch`], [`torchvision`], [`torchaudio`], [`tf`], [`keras`], [`optax`], [`scipy`], [`trl`], [`open_clip`], [`pml`], [`diffusers`], [`own`] | each framework's losses under its own function names (`losslab::keras::hinge`, `losslab::optax::huber_loss`), with their parameters structs named without a prefix (`losslab::keras::Hinge`); nothing is implemented there |
//! | the crate root | this page | the unqualified names as `losslab eval` resolves them: the first of `torch`, `torchvision`, `torchaudio`, `tf`, `keras`, `optax`, `scipy`, `trl`, `open_clip`, `pml`, `diffusers`, `losslab` that has the name ([`ROOT_NAMES`]); the machinery's public types; the stable primitives |
//! | families | [`classification`], [`regression`], [`margin`], [`embedding`] (and ranking), [`likelihood`], [`segmentation`], [`detection`], [`sequence`] (CTC, the RNN transducer), [`information`], [`contrastive`], [`generative`], [`vocabulary`] (adaptive and sampled softmax), [`policy`] (RL fine-tuning), [`distillation`] (per-token log-probabilities and distillation over `(B, T, V)` logits), [`metric`] (angular margins and pair losses), [`preference`] (DPO and its kin) | each loss implemented once, in the family of its mathematics, whatever framework defines its semantics: its value, its derivatives and its checks |
//! | primitives | [`math`] | the stable scalar and array primitives (log-sum-exp, softmax, softplus, `xlogy`) the families compute with |
//! | machinery | (private) `machinery` | errors, the float traits, shape checks and broadcasting, the element-wise and per-lane evaluation loops, reductions and the upstream gradient, the macros that write each loss's methods and faces, and under them the fused vectorised kernels (`machinery::kernels`) |
//!
//! A new loss goes into the family of its mathematics, and is named in the face
//! of every framework that defines it (and in the registry crate, which every
//! front end calls).
//!
//! ## By framework
//! - [`torch`] — PyTorch (`torch.nn.functional`, 2.15), `torch:` in the registry: [`cross_entropy`](torch::cross_entropy), [`nll_loss`](torch::nll_loss), [`binary_cross_entropy`](torch::binary_cross_entropy), [`binary_cross_entropy_with_logits`](torch::binary_cross_entropy_with_logits), [`kl_div`](torch::kl_div), [`mse_loss`](torch::mse_loss), [`l1_loss`](torch::l1_loss), [`smooth_l1_loss`](torch::smooth_l1_loss), [`huber_loss`](torch::huber_loss), [`poisson_nll_loss`](torch::poisson_nll_loss), [`gaussian_nll_loss`](torch::gaussian_nll_loss), [`margin_ranking_loss`](torch::margin_ranking_loss), [`hinge_embedding_loss`](torch::hinge_embedding_loss), [`soft_margin_loss`](torch::soft_margin_loss), [`multilabel_soft_margin_loss`](torch::multilabel_soft_margin_loss), [`multilabel_margin_loss`](torch::multilabel_margin_loss), [`multi_margin_loss`](torch::multi_margin_loss), [`cosine_embedding_loss`](torch::cosine_embedding_loss), [`triplet_margin_loss`](torch::triplet_margin_loss), [`triplet_margin_with_distance_loss`](torch::triplet_margin_with_distance_loss), [`ctc_loss`](torch::ctc_loss), [`linear_cross_entropy`](torch::linear_cross_entropy), [`adaptive_log_softmax_with_loss`](torch::adaptive_log_softmax_with_loss).
//! - [`torchvision`] — torchvision (`torchvision.ops`, 0.29), `torchvision:` in the registry: [`sigmoid_focal_loss`](torchvision::sigmoid_focal_loss), [`generalized_box_iou_loss`](torchvision::generalized_box_iou_loss), [`distance_box_iou_loss`](torchvision::distance_box_iou_loss), [`complete_box_iou_loss`](torchvision::complete_box_iou_loss).
//! - [`torchaudio`] — torchaudio (`torchaudio.functional`, 2.11 semantics), `torchaudio:` in the registry: [`rnnt_loss`](torchaudio::rnnt_loss).
//! - [`tf`] — TensorFlow (`tf.nn`, 2.21), `tf:` in the registry: [`softmax_cross_entropy_with_logits`](tf::softmax_cross_entropy_with_logits), [`sparse_softmax_cross_entropy_with_logits`](tf::sparse_softmax_cross_entropy_with_logits), [`sigmoid_cross_entropy_with_logits`](tf::sigmoid_cross_entropy_with_logits), [`weighted_cross_entropy_with_logits`](tf::weighted_cross_entropy_with_logits), [`log_poisson_loss`](tf::log_poisson_loss), [`l2_loss`](tf::l2_loss), [`ctc_loss`](tf::ctc_loss), [`sampled_softmax_loss`](tf::sampled_softmax_loss), [`nce_loss`](tf::nce_loss).
//! - [`keras`] — Keras 3 (`keras.losses`, 3.15, JAX backend), `keras:` in the registry: [`binary_crossentropy`](keras::binary_crossentropy), [`binary_focal_crossentropy`](keras::binary_focal_crossentropy), [`categorical_crossentropy`](keras::categorical_crossentropy), [`categorical_focal_crossentropy`](keras::categorical_focal_crossentropy), [`sparse_categorical_crossentropy`](keras::sparse_categorical_crossentropy), [`categorical_generalized_cross_entropy`](keras::categorical_generalized_cross_entropy), [`kl_divergence`](keras::kl_divergence), [`log_cosh`](keras::log_cosh), [`mean_squared_logarithmic_error`](keras::mean_squared_logarithmic_error), [`mean_absolute_percentage_error`](keras::mean_absolute_percentage_error), [`poisson`](keras::poisson), [`hinge`](keras::hinge), [`squared_hinge`](keras::squared_hinge), [`categorical_hinge`](keras::categorical_hinge), [`cosine_similarity`](keras::cosine_similarity), [`dice`](keras::dice), [`tversky`](keras::tversky), [`huber`](keras::huber), [`circle`](keras::circle), [`ctc`](keras::ctc).
//! - [`optax`] — optax (`optax.losses`, 0.2.8), `optax:` in the registry: [`poly_loss_cross_entropy`](optax::poly_loss_cross_entropy), [`safe_softmax_cross_entropy`](optax::safe_softmax_cross_entropy), [`smooth_labels`](optax::smooth_labels), [`sparsemax_loss`](optax::sparsemax_loss), [`multiclass_sparsemax_loss`](optax::multiclass_sparsemax_loss), [`kl_divergence`](optax::kl_divergence), [`kl_divergence_with_log_targets`](optax::kl_divergence_with_log_targets), [`generalized_kl_divergence`](optax::generalized_kl_divergence), [`huber_loss`](optax::huber_loss), [`log_cosh`](optax::log_cosh), [`multiclass_hinge_loss`](optax::multiclass_hinge_loss), [`perceptron_loss`](optax::perceptron_loss), [`multiclass_perceptron_loss`](optax::multiclass_perceptron_loss), [`triplet_margin_loss`](optax::triplet_margin_loss), [`ntxent`](optax::ntxent), [`ranking_softmax_loss`](optax::ranking_softmax_loss), [`dice_loss`](optax::dice_loss), [`binary_dice_loss`](optax::binary_dice_loss), [`multiclass_generalized_dice_loss`](optax::multiclass_generalized_dice_loss), [`ctc_loss`](optax::ctc_loss).
//! - [`scipy`] — SciPy (`scipy.stats`, 1.17), `scipy:` in the registry: [`entropy`](scipy::entropy).
//! - [`trl`] — Hugging Face TRL (`trl.trainer` and `trl.experimental`, 1.16.0), `trl:` in the registry: [`dpo_loss`](trl::dpo_loss), [`cpo_loss`](trl::cpo_loss), [`odds_ratio_loss`](trl::odds_ratio_loss), [`kto_loss`](trl::kto_loss), [`grpo_loss`](trl::grpo_loss), [`generalized_jsd_loss`](trl::generalized_jsd_loss).
//! - [`open_clip`] — OpenCLIP (`open_clip.loss`, 3.3.0), `open_clip:` in the registry: [`clip_loss`](open_clip::clip_loss), [`siglip_loss`](open_clip::siglip_loss).
//! - [`pml`] — pytorch-metric-learning (`pytorch_metric_learning.losses`, 2.9.0), `pml:` in the registry: [`arc_face`](pml::arc_face), [`cos_face`](pml::cos_face), [`sphere_face`](pml::sphere_face), [`sup_con`](pml::sup_con), [`multi_similarity`](pml::multi_similarity), [`circle`](pml::circle), [`lifted_structure`](pml::lifted_structure), [`generalized_lifted_structure`](pml::generalized_lifted_structure), [`n_pairs`](pml::n_pairs).
//! - [`diffusers`] — Hugging Face diffusers (`diffusers.training_utils` and its `train_text_to_image.py`, 0.42.1), `diffusers:` in the registry: [`min_snr_loss`](diffusers::min_snr_loss).
//! - [`own`] — losslab's own losses (`losslab:` in the registry), `losslab:` in the registry: [`softmax_focal_loss`](own::softmax_focal_loss), [`quantile_loss`](own::quantile_loss), [`jaccard_loss`](own::jaccard_loss), [`lovasz_softmax`](own::lovasz_softmax), [`self_information`](own::self_information), [`entropy`](own::entropy), [`binary_entropy`](own::binary_entropy), [`cross_entropy`](own::cross_entropy), [`kl_divergence`](own::kl_divergence), [`js_divergence`](own::js_divergence), [`gan_generator_loss`](own::gan_generator_loss), [`gan_discriminator_loss`](own::gan_discriminator_loss), [`gradient_penalty`](own::gradient_penalty), [`vae_kl`](own::vae_kl), [`vae_elbo`](own::vae_elbo), [`ppo_clip_loss`](own::ppo_clip_loss), [`sequence_log_probs`](own::sequence_log_probs), [`distillation_kl`](own::distillation_kl).
//!
//! Stable primitives ([`math`]): [`logsumexp`], [`softmax`], [`log_softmax`],
//! [`sigmoid`], [`log_sigmoid`], [`softplus`], [`xlogy`]; information theory in
//! any base, with gradients: [`information`].
#![deny(missing_docs)]
// The index by framework links every name through its face, also where the root has the same item.
#![allow(rustdoc::redundant_explicit_links)]
#![warn(rust_2018_idioms)]

/// Writes the crate root's loss names: each unqualified name from the first
/// framework (in the registry's order) that has it, and [`ROOT_NAMES`].
macro_rules! root {
    ($($fw:ident ($reg:literal) : [$($name:ident $($st:ident)?),*];)*) => {
        $(#[allow(unused_imports)] // a face without losses yet
        pub use $fw::{$($name, $($st,)?)*};)*
        /// The loss names at the crate root, each with the framework it comes
        /// from (the registry's prefix: `torch`, `keras`, ..., `losslab`): the
        /// first framework in the order `torch`, `torchvision`, `torchaudio`, `tf`, `keras`,
        /// `optax`, `scipy`, `trl`, `open_clip`, `pml`, `diffusers`, `losslab` that has it, as `losslab eval` resolves
        /// an unqualified name.
        pub const ROOT_NAMES: &[(&str, &str)] = &[$($((stringify!($name), $reg),)*)*];
    };
}

// The families, by mathematics: each implements its losses, whatever framework
// defines their semantics, on the machinery below.
pub mod classification;
pub mod contrastive;
pub mod detection;
pub mod embedding;
pub mod information;
pub mod likelihood;
pub mod margin;
pub mod regression;
pub mod segmentation;
pub mod sequence;
pub mod vocabulary;
pub mod policy;
pub mod distillation;
pub mod metric;
pub mod preference;
pub mod generative;

// The layers under the families.
pub mod collective;
mod machinery;
pub mod math;

// For the programs built on it: an allocator that backs large buffers with huge pages.
pub mod alloc;

// The frameworks as faces: their losses under their own names.
pub mod keras;
pub mod optax;
pub mod own;
pub mod scipy;
pub mod tf;
pub mod trl;
pub mod open_clip;
pub mod pml;
pub mod diffusers;
pub mod torch;
pub mod torchvision;
pub mod torchaudio;

pub use machinery::error::{LossError, Result};
pub use machinery::float::{ClassIndex, Float, HalfFloat};
pub use machinery::reduction::{Gradients, ParseReductionError, Reduction};
/// The `half` crate, whose [`bf16`](half::bf16) and [`f16`](half::f16) the half-precision kernels take.
pub use half;
pub use machinery::kernels::{kernel_isa, sum_exp};
pub use math::{log_sigmoid, log_softmax, logsumexp, sigmoid, softmax, softplus, xlogy};
pub use torch::{LinearCrossEntropyGradients, LinearCrossEntropyOutput, CosineEmbeddingGradients, GaussianNllGradients, MarginRankingGradients, TripletDistance, TripletGradients};
pub use own::LovaszClasses;

root! {
    torch("torch"): [cross_entropy CrossEntropyLoss, nll_loss NllLoss, binary_cross_entropy BinaryCrossEntropy, binary_cross_entropy_with_logits BinaryCrossEntropyWithLogits, kl_div KlDivLoss, mse_loss MseLoss, l1_loss L1Loss, smooth_l1_loss SmoothL1Loss, huber_loss HuberLoss, poisson_nll_loss PoissonNllLoss, gaussian_nll_loss GaussianNllLoss, margin_ranking_loss MarginRankingLoss, hinge_embedding_loss HingeEmbeddingLoss, soft_margin_loss SoftMarginLoss, multilabel_soft_margin_loss MultilabelSoftMarginLoss, multilabel_margin_loss MultilabelMarginLoss, multi_margin_loss MultiMarginLoss, cosine_embedding_loss CosineEmbeddingLoss, triplet_margin_loss TripletMarginLoss, triplet_margin_with_distance_loss TripletMarginWithDistanceLoss, ctc_loss CtcLoss, linear_cross_entropy LinearCrossEntropyLoss, adaptive_log_softmax_with_loss AdaptiveLogSoftmaxWithLoss];
    torchaudio("torchaudio"): [rnnt_loss RnntLoss];
    torchvision("torchvision"): [sigmoid_focal_loss SigmoidFocalLoss, generalized_box_iou_loss GeneralizedBoxIouLoss, distance_box_iou_loss DistanceBoxIouLoss, complete_box_iou_loss CompleteBoxIouLoss];
    tf("tf"): [softmax_cross_entropy_with_logits SoftmaxCrossEntropyWithLogits, sparse_softmax_cross_entropy_with_logits SparseSoftmaxCrossEntropyWithLogits, sigmoid_cross_entropy_with_logits SigmoidCrossEntropyWithLogits, weighted_cross_entropy_with_logits WeightedCrossEntropyWithLogits, log_poisson_loss LogPoissonLoss, l2_loss L2Loss, sampled_softmax_loss SampledSoftmaxLoss, nce_loss NceLoss];
    keras("keras"): [binary_crossentropy BinaryCrossentropy, binary_focal_crossentropy BinaryFocalCrossentropy, categorical_crossentropy CategoricalCrossentropy, categorical_focal_crossentropy CategoricalFocalCrossentropy, sparse_categorical_crossentropy SparseCategoricalCrossentropy, categorical_generalized_cross_entropy CategoricalGeneralizedCrossEntropy, kl_divergence KlDivergence, log_cosh LogCosh, mean_squared_logarithmic_error MeanSquaredLogarithmicError, mean_absolute_percentage_error MeanAbsolutePercentageError, poisson Poisson, hinge Hinge, squared_hinge SquaredHinge, categorical_hinge CategoricalHinge, cosine_similarity CosineSimilarity, dice Dice, tversky Tversky, huber Huber, circle Circle, ctc Ctc];
    optax("optax"): [poly_loss_cross_entropy PolyLossCrossEntropy, safe_softmax_cross_entropy SafeSoftmaxCrossEntropy, smooth_labels SmoothLabels, sparsemax_loss SparsemaxLoss, multiclass_sparsemax_loss MulticlassSparsemaxLoss, kl_divergence_with_log_targets KlDivergenceWithLogTargets, generalized_kl_divergence GeneralizedKlDivergence, multiclass_hinge_loss MulticlassHingeLoss, perceptron_loss PerceptronLoss, multiclass_perceptron_loss MulticlassPerceptronLoss, ntxent NtXent, ranking_softmax_loss RankingSoftmaxLoss, dice_loss DiceLoss, binary_dice_loss BinaryDiceLoss, multiclass_generalized_dice_loss MulticlassGeneralizedDiceLoss];
    scipy("scipy"): [entropy Entropy];
    trl("trl"): [dpo_loss DpoLoss, cpo_loss CpoLoss, odds_ratio_loss OddsRatioLoss, kto_loss KtoLoss, grpo_loss GrpoLoss, generalized_jsd_loss GeneralizedJsdLoss];
    open_clip("open_clip"): [clip_loss ClipLoss, siglip_loss SigLipLoss];
    pml("pml"): [arc_face ArcFaceLoss, cos_face CosFaceLoss, sphere_face SphereFaceLoss, sup_con SupConLoss, multi_similarity MultiSimilarityLoss, lifted_structure LiftedStructureLoss, generalized_lifted_structure GeneralizedLiftedStructureLoss, n_pairs NPairsLoss];
    diffusers("diffusers"): [min_snr_loss MinSnrLoss];
    own("losslab"): [softmax_focal_loss SoftmaxFocalLoss, quantile_loss QuantileLoss, jaccard_loss JaccardLoss, lovasz_softmax LovaszSoftmax, self_information, binary_entropy, js_divergence, gan_generator_loss GanGeneratorLoss, gan_discriminator_loss GanDiscriminatorLoss, gradient_penalty GradientPenalty, vae_kl VaeKl, vae_elbo VaeElbo, ppo_clip_loss PpoClipLoss, sequence_log_probs SequenceLogProbs, distillation_kl DistillationKl];
}

/// The README's examples, compiled and run as doctests so that they stay true
/// (the candle and burn sections' sketches are marked `ignore`: this crate does not
/// depend on those frameworks; the adapter crates' own doc tests run full examples).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
