//! TensorFlow (`tf.nn`, 2.21): every loss of the registry's `tf:` names, under the
//! reference's own function names, each with its parameters struct.
//!
//! Nothing is implemented here: each name is re-exported from the family that
//! implements its mathematics.
//!
//! | function | parameters | family |
//! |---|---|---|
//! | [`softmax_cross_entropy_with_logits`] | [`SoftmaxCrossEntropyWithLogits`] | [`classification`](crate::classification) |
//! | [`sparse_softmax_cross_entropy_with_logits`] | [`SparseSoftmaxCrossEntropyWithLogits`] | [`classification`](crate::classification) |
//! | [`sigmoid_cross_entropy_with_logits`] | [`SigmoidCrossEntropyWithLogits`] | [`likelihood`](crate::likelihood) |
//! | [`weighted_cross_entropy_with_logits`] | [`WeightedCrossEntropyWithLogits`] | [`likelihood`](crate::likelihood) |
//! | [`log_poisson_loss`] | [`LogPoissonLoss`] | [`likelihood`](crate::likelihood) |
//! | [`l2_loss`] | [`L2Loss`] | [`likelihood`](crate::likelihood) |
//! | [`ctc_loss`] | [`CtcLoss`] | [`sequence`](crate::sequence) |
//! | [`sampled_softmax_loss`] | [`SampledSoftmaxLoss`] | [`vocabulary`](crate::vocabulary) |
//! | [`nce_loss`] | [`NceLoss`] | [`vocabulary`](crate::vocabulary) |

crate::machinery::methods::face! {
    softmax_cross_entropy_with_logits = classification::softmax_cross_entropy_with_logits, SoftmaxCrossEntropyWithLogits = classification::SoftmaxCrossEntropyWithLogits;
    sparse_softmax_cross_entropy_with_logits = classification::sparse_softmax_cross_entropy_with_logits, SparseSoftmaxCrossEntropyWithLogits = classification::SparseSoftmaxCrossEntropyWithLogits;
    sigmoid_cross_entropy_with_logits = likelihood::sigmoid_cross_entropy_with_logits, SigmoidCrossEntropyWithLogits = likelihood::SigmoidCrossEntropyWithLogits;
    weighted_cross_entropy_with_logits = likelihood::weighted_cross_entropy_with_logits, WeightedCrossEntropyWithLogits = likelihood::WeightedCrossEntropyWithLogits;
    log_poisson_loss = likelihood::log_poisson_loss, LogPoissonLoss = likelihood::LogPoissonLoss;
    l2_loss = likelihood::l2_loss, L2Loss = likelihood::L2Loss;
    ctc_loss = sequence::tf_ctc_loss, CtcLoss = sequence::TfCtcLoss;
    sampled_softmax_loss = vocabulary::sampled_softmax_loss, SampledSoftmaxLoss = vocabulary::SampledSoftmaxLoss;
    nce_loss = vocabulary::nce_loss, NceLoss = vocabulary::NceLoss;
}

// The types these losses return or take.
pub use crate::vocabulary::{SampledGradients, SampledValues};
