//! losslab's own losses (`losslab:` in the registry): every loss of the registry's `losslab:` names, under the
//! reference's own function names, each with its parameters struct.
//!
//! Nothing is implemented here: each name is re-exported from the family that
//! implements its mathematics.
//!
//! | function | parameters | family |
//! |---|---|---|
//! | [`softmax_focal_loss`] | [`SoftmaxFocalLoss`] | [`classification`](crate::classification) |
//! | [`quantile_loss`] | [`QuantileLoss`] | [`regression`](crate::regression) |
//! | [`jaccard_loss`] | [`JaccardLoss`] | [`segmentation`](crate::segmentation) |
//! | [`lovasz_softmax`] | [`LovaszSoftmax`] | [`segmentation`](crate::segmentation) |
//! | [`self_information`] | — | [`information`](crate::information) |
//! | [`entropy`] | — | [`information`](crate::information) |
//! | [`binary_entropy`] | — | [`information`](crate::information) |
//! | [`cross_entropy`] | — | [`information`](crate::information) |
//! | [`kl_divergence`] | — | [`information`](crate::information) |
//! | [`js_divergence`] | — | [`information`](crate::information) |
//! | [`gan_generator_loss`] | [`GanGeneratorLoss`] | [`generative`](crate::generative) |
//! | [`gan_discriminator_loss`] | [`GanDiscriminatorLoss`] | [`generative`](crate::generative) |
//! | [`gradient_penalty`] | [`GradientPenalty`] | [`generative`](crate::generative) |
//! | [`vae_kl`] | [`VaeKl`] | [`generative`](crate::generative) |
//! | [`vae_elbo`] | [`VaeElbo`] | [`generative`](crate::generative) |
//! | [`sequence_log_probs`] | [`SequenceLogProbs`] | [`distillation`](crate::distillation) |
//! | [`distillation_kl`] | [`DistillationKl`] | [`distillation`](crate::distillation) |
//! | [`ppo_clip_loss`] | [`PpoClipLoss`] | [`policy`](crate::policy) |

crate::machinery::methods::face! {
    softmax_focal_loss = classification::softmax_focal_loss, SoftmaxFocalLoss = classification::SoftmaxFocalLoss;
    quantile_loss = regression::quantile_loss, QuantileLoss = regression::QuantileLoss;
    jaccard_loss = segmentation::jaccard_loss, JaccardLoss = segmentation::JaccardLoss;
    lovasz_softmax = segmentation::lovasz_softmax, LovaszSoftmax = segmentation::LovaszSoftmax;
    self_information = information::self_information;
    entropy = information::entropy;
    binary_entropy = information::binary_entropy;
    cross_entropy = information::cross_entropy;
    kl_divergence = information::kl_divergence;
    js_divergence = information::js_divergence;
    gan_generator_loss = generative::gan_generator_loss, GanGeneratorLoss = generative::GanGeneratorLoss;
    gan_discriminator_loss = generative::gan_discriminator_loss, GanDiscriminatorLoss = generative::GanDiscriminatorLoss;
    gradient_penalty = generative::gradient_penalty, GradientPenalty = generative::GradientPenalty;
    vae_kl = generative::vae_kl, VaeKl = generative::VaeKl;
    vae_elbo = generative::vae_elbo, VaeElbo = generative::VaeElbo;
    sequence_log_probs = distillation::sequence_log_probs, SequenceLogProbs = distillation::SequenceLogProbs;
    distillation_kl = distillation::distillation_kl, DistillationKl = distillation::DistillationKl;
    ppo_clip_loss = policy::ppo_clip_loss, PpoClipLoss = policy::PpoClipLoss;
}

// The types these losses return or take.
pub use crate::segmentation::LovaszClasses;
pub use crate::information::entropy_backward;
pub use crate::information::cross_entropy_backward;
pub use crate::information::kl_divergence_backward;
pub use crate::information::js_divergence_backward;
pub use crate::generative::{GanDiscriminatorGradients, GanKind, Likelihood, PenaltyKind, VaeElboGradients, VaeKlGradients};
pub use crate::distillation::{DistillationGradients, KlDirection, SequenceLogProbsGradients};
pub use crate::policy::{PolicyGradients, PpoLevel};
