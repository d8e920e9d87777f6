//! PyTorch (`torch.nn.functional`, 2.15): every loss of the registry's `torch:` names, under the
//! reference's own function names, each with its parameters struct.
//!
//! Nothing is implemented here: each name is re-exported from the family that
//! implements its mathematics.
//!
//! | function | parameters | family |
//! |---|---|---|
//! | [`cross_entropy`] | [`CrossEntropyLoss`] | [`classification`](crate::classification) |
//! | [`nll_loss`] | [`NllLoss`] | [`classification`](crate::classification) |
//! | [`binary_cross_entropy`] | [`BinaryCrossEntropy`] | [`classification`](crate::classification) |
//! | [`binary_cross_entropy_with_logits`] | [`BinaryCrossEntropyWithLogits`] | [`classification`](crate::classification) |
//! | [`kl_div`] | [`KlDivLoss`] | [`information`](crate::information) |
//! | [`mse_loss`] | [`MseLoss`] | [`regression`](crate::regression) |
//! | [`l1_loss`] | [`L1Loss`] | [`regression`](crate::regression) |
//! | [`smooth_l1_loss`] | [`SmoothL1Loss`] | [`regression`](crate::regression) |
//! | [`huber_loss`] | [`HuberLoss`] | [`regression`](crate::regression) |
//! | [`poisson_nll_loss`] | [`PoissonNllLoss`] | [`likelihood`](crate::likelihood) |
//! | [`gaussian_nll_loss`] | [`GaussianNllLoss`] | [`likelihood`](crate::likelihood) |
//! | [`margin_ranking_loss`] | [`MarginRankingLoss`] | [`margin`](crate::margin) |
//! | [`hinge_embedding_loss`] | [`HingeEmbeddingLoss`] | [`margin`](crate::margin) |
//! | [`soft_margin_loss`] | [`SoftMarginLoss`] | [`margin`](crate::margin) |
//! | [`multilabel_soft_margin_loss`] | [`MultilabelSoftMarginLoss`] | [`margin`](crate::margin) |
//! | [`multilabel_margin_loss`] | [`MultilabelMarginLoss`] | [`margin`](crate::margin) |
//! | [`multi_margin_loss`] | [`MultiMarginLoss`] | [`margin`](crate::margin) |
//! | [`cosine_embedding_loss`] | [`CosineEmbeddingLoss`] | [`embedding`](crate::embedding) |
//! | [`triplet_margin_loss`] | [`TripletMarginLoss`] | [`embedding`](crate::embedding) |
//! | [`triplet_margin_with_distance_loss`] | [`TripletMarginWithDistanceLoss`] | [`embedding`](crate::embedding) |
//! | [`ctc_loss`] | [`CtcLoss`] | [`sequence`](crate::sequence) |
//! | [`linear_cross_entropy`] | [`LinearCrossEntropyLoss`] | [`classification`](crate::classification) |
//! | [`adaptive_log_softmax_with_loss`] | [`AdaptiveLogSoftmaxWithLoss`] | [`vocabulary`](crate::vocabulary) |

crate::machinery::methods::face! {
    cross_entropy = classification::cross_entropy, CrossEntropyLoss = classification::CrossEntropyLoss;
    nll_loss = classification::nll_loss, NllLoss = classification::NllLoss;
    binary_cross_entropy = classification::binary_cross_entropy, BinaryCrossEntropy = classification::BinaryCrossEntropy;
    binary_cross_entropy_with_logits = classification::binary_cross_entropy_with_logits, BinaryCrossEntropyWithLogits = classification::BinaryCrossEntropyWithLogits;
    kl_div = information::kl_div, KlDivLoss = information::KlDivLoss;
    mse_loss = regression::mse_loss, MseLoss = regression::MseLoss;
    l1_loss = regression::l1_loss, L1Loss = regression::L1Loss;
    smooth_l1_loss = regression::smooth_l1_loss, SmoothL1Loss = regression::SmoothL1Loss;
    huber_loss = regression::huber_loss, HuberLoss = regression::HuberLoss;
    poisson_nll_loss = likelihood::poisson_nll_loss, PoissonNllLoss = likelihood::PoissonNllLoss;
    gaussian_nll_loss = likelihood::gaussian_nll_loss, GaussianNllLoss = likelihood::GaussianNllLoss;
    margin_ranking_loss = margin::margin_ranking_loss, MarginRankingLoss = margin::MarginRankingLoss;
    hinge_embedding_loss = margin::hinge_embedding_loss, HingeEmbeddingLoss = margin::HingeEmbeddingLoss;
    soft_margin_loss = margin::soft_margin_loss, SoftMarginLoss = margin::SoftMarginLoss;
    multilabel_soft_margin_loss = margin::multilabel_soft_margin_loss, MultilabelSoftMarginLoss = margin::MultilabelSoftMarginLoss;
    multilabel_margin_loss = margin::multilabel_margin_loss, MultilabelMarginLoss = margin::MultilabelMarginLoss;
    multi_margin_loss = margin::multi_margin_loss, MultiMarginLoss = margin::MultiMarginLoss;
    cosine_embedding_loss = embedding::cosine_embedding_loss, CosineEmbeddingLoss = embedding::CosineEmbeddingLoss;
    triplet_margin_loss = embedding::triplet_margin_loss, TripletMarginLoss = embedding::TripletMarginLoss;
    triplet_margin_with_distance_loss = embedding::triplet_margin_with_distance_loss, TripletMarginWithDistanceLoss = embedding::TripletMarginWithDistanceLoss;
    ctc_loss = sequence::ctc_loss, CtcLoss = sequence::CtcLoss;
    linear_cross_entropy = classification::linear_cross_entropy, LinearCrossEntropyLoss = classification::LinearCrossEntropyLoss;
    adaptive_log_softmax_with_loss = vocabulary::adaptive_log_softmax_with_loss, AdaptiveLogSoftmaxWithLoss = vocabulary::AdaptiveLogSoftmaxWithLoss;
}

// The types these losses return or take.
pub use crate::likelihood::GaussianNllGradients;
pub use crate::margin::MarginRankingGradients;
pub use crate::embedding::CosineEmbeddingGradients;
pub use crate::embedding::TripletGradients;
pub use crate::embedding::TripletDistance;
pub use crate::classification::{LinearCrossEntropyGradients, LinearCrossEntropyOutput};
pub use crate::vocabulary::{AdaptiveLogSoftmaxGradients, AdaptiveLogSoftmaxOutput, AdaptiveWeights};
