//! optax (`optax.losses`, 0.2.8): every loss of the registry's `optax:` names, under the
//! reference's own function names, each with its parameters struct.
//!
//! Nothing is implemented here: each name is re-exported from the family that
//! implements its mathematics.
//!
//! | function | parameters | family |
//! |---|---|---|
//! | [`poly_loss_cross_entropy`] | [`PolyLossCrossEntropy`] | [`classification`](crate::classification) |
//! | [`safe_softmax_cross_entropy`] | [`SafeSoftmaxCrossEntropy`] | [`classification`](crate::classification) |
//! | [`smooth_labels`] | [`SmoothLabels`] | [`classification`](crate::classification) |
//! | [`sparsemax_loss`] | [`SparsemaxLoss`] | [`classification`](crate::classification) |
//! | [`multiclass_sparsemax_loss`] | [`MulticlassSparsemaxLoss`] | [`classification`](crate::classification) |
//! | [`kl_divergence`] | [`KlDivergence`] | [`information`](crate::information) |
//! | [`kl_divergence_with_log_targets`] | [`KlDivergenceWithLogTargets`] | [`information`](crate::information) |
//! | [`generalized_kl_divergence`] | [`GeneralizedKlDivergence`] | [`information`](crate::information) |
//! | [`huber_loss`] | [`HuberLoss`] | [`regression`](crate::regression) |
//! | [`log_cosh`] | [`LogCosh`] | [`regression`](crate::regression) |
//! | [`multiclass_hinge_loss`] | [`MulticlassHingeLoss`] | [`margin`](crate::margin) |
//! | [`perceptron_loss`] | [`PerceptronLoss`] | [`margin`](crate::margin) |
//! | [`multiclass_perceptron_loss`] | [`MulticlassPerceptronLoss`] | [`margin`](crate::margin) |
//! | [`triplet_margin_loss`] | [`TripletMarginLoss`] | [`embedding`](crate::embedding) |
//! | [`ntxent`] | [`NtXent`] | [`embedding`](crate::embedding) |
//! | [`ranking_softmax_loss`] | [`RankingSoftmaxLoss`] | [`embedding`](crate::embedding) |
//! | [`dice_loss`] | [`DiceLoss`] | [`segmentation`](crate::segmentation) |
//! | [`binary_dice_loss`] | [`BinaryDiceLoss`] | [`segmentation`](crate::segmentation) |
//! | [`multiclass_generalized_dice_loss`] | [`MulticlassGeneralizedDiceLoss`] | [`segmentation`](crate::segmentation) |
//! | [`ctc_loss`] | [`CtcLoss`] | [`sequence`](crate::sequence) |

crate::machinery::methods::face! {
    poly_loss_cross_entropy = classification::optax_poly_loss_cross_entropy, PolyLossCrossEntropy = classification::OptaxPolyLossCrossEntropy;
    safe_softmax_cross_entropy = classification::optax_safe_softmax_cross_entropy, SafeSoftmaxCrossEntropy = classification::OptaxSafeSoftmaxCrossEntropy;
    smooth_labels = classification::optax_smooth_labels, SmoothLabels = classification::OptaxSmoothLabels;
    sparsemax_loss = classification::optax_sparsemax_loss, SparsemaxLoss = classification::OptaxSparsemaxLoss;
    multiclass_sparsemax_loss = classification::optax_multiclass_sparsemax_loss, MulticlassSparsemaxLoss = classification::OptaxMulticlassSparsemaxLoss;
    kl_divergence = information::optax_kl_divergence, KlDivergence = information::OptaxKlDivergence;
    kl_divergence_with_log_targets = information::optax_kl_divergence_with_log_targets, KlDivergenceWithLogTargets = information::OptaxKlDivergenceWithLogTargets;
    generalized_kl_divergence = information::optax_generalized_kl_divergence, GeneralizedKlDivergence = information::OptaxGeneralizedKlDivergence;
    huber_loss = regression::optax_huber_loss, HuberLoss = regression::OptaxHuberLoss;
    log_cosh = regression::optax_log_cosh, LogCosh = regression::OptaxLogCosh;
    multiclass_hinge_loss = margin::multiclass_hinge_loss, MulticlassHingeLoss = margin::MulticlassHingeLoss;
    perceptron_loss = margin::perceptron_loss, PerceptronLoss = margin::PerceptronLoss;
    multiclass_perceptron_loss = margin::multiclass_perceptron_loss, MulticlassPerceptronLoss = margin::MulticlassPerceptronLoss;
    triplet_margin_loss = embedding::optax_triplet_margin_loss, TripletMarginLoss = embedding::OptaxTripletMarginLoss;
    ntxent = embedding::ntxent, NtXent = embedding::NtXentLoss;
    ranking_softmax_loss = embedding::ranking_softmax_loss, RankingSoftmaxLoss = embedding::RankingSoftmaxLoss;
    dice_loss = segmentation::dice_loss, DiceLoss = segmentation::DiceLoss;
    binary_dice_loss = segmentation::binary_dice_loss, BinaryDiceLoss = segmentation::BinaryDiceLoss;
    multiclass_generalized_dice_loss = segmentation::multiclass_generalized_dice_loss, MulticlassGeneralizedDiceLoss = segmentation::MulticlassGeneralizedDiceLoss;
    ctc_loss = sequence::optax_ctc_loss, CtcLoss = sequence::OptaxCtcLoss;
}
