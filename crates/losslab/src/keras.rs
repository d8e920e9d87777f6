//! Keras 3 (`keras.losses`, 3.15, JAX backend): every loss of the registry's `keras:` names, under the
//! reference's own function names, each with its parameters struct.
//!
//! Nothing is implemented here: each name is re-exported from the family that
//! implements its mathematics.
//!
//! | function | parameters | family |
//! |---|---|---|
//! | [`binary_crossentropy`] | [`BinaryCrossentropy`] | [`classification`](crate::classification) |
//! | [`binary_focal_crossentropy`] | [`BinaryFocalCrossentropy`] | [`classification`](crate::classification) |
//! | [`categorical_crossentropy`] | [`CategoricalCrossentropy`] | [`classification`](crate::classification) |
//! | [`categorical_focal_crossentropy`] | [`CategoricalFocalCrossentropy`] | [`classification`](crate::classification) |
//! | [`sparse_categorical_crossentropy`] | [`SparseCategoricalCrossentropy`] | [`classification`](crate::classification) |
//! | [`categorical_generalized_cross_entropy`] | [`CategoricalGeneralizedCrossEntropy`] | [`classification`](crate::classification) |
//! | [`kl_divergence`] | [`KlDivergence`] | [`information`](crate::information) |
//! | [`log_cosh`] | [`LogCosh`] | [`regression`](crate::regression) |
//! | [`mean_squared_logarithmic_error`] | [`MeanSquaredLogarithmicError`] | [`regression`](crate::regression) |
//! | [`mean_absolute_percentage_error`] | [`MeanAbsolutePercentageError`] | [`regression`](crate::regression) |
//! | [`poisson`] | [`Poisson`] | [`likelihood`](crate::likelihood) |
//! | [`hinge`] | [`Hinge`] | [`margin`](crate::margin) |
//! | [`squared_hinge`] | [`SquaredHinge`] | [`margin`](crate::margin) |
//! | [`categorical_hinge`] | [`CategoricalHinge`] | [`margin`](crate::margin) |
//! | [`cosine_similarity`] | [`CosineSimilarity`] | [`embedding`](crate::embedding) |
//! | [`dice`] | [`Dice`] | [`segmentation`](crate::segmentation) |
//! | [`tversky`] | [`Tversky`] | [`segmentation`](crate::segmentation) |
//! | [`huber`] | [`Huber`] | [`regression`](crate::regression) |
//! | [`circle`] | [`Circle`] | [`embedding`](crate::embedding) |
//! | [`ctc`] | [`Ctc`] | [`sequence`](crate::sequence) |

crate::machinery::methods::face! {
    binary_crossentropy = classification::keras_binary_crossentropy, BinaryCrossentropy = classification::KerasBinaryCrossentropy;
    binary_focal_crossentropy = classification::keras_binary_focal_crossentropy, BinaryFocalCrossentropy = classification::KerasBinaryFocalCrossentropy;
    categorical_crossentropy = classification::keras_categorical_crossentropy, CategoricalCrossentropy = classification::KerasCategoricalCrossentropy;
    categorical_focal_crossentropy = classification::keras_categorical_focal_crossentropy, CategoricalFocalCrossentropy = classification::KerasCategoricalFocalCrossentropy;
    sparse_categorical_crossentropy = classification::keras_sparse_categorical_crossentropy, SparseCategoricalCrossentropy = classification::KerasSparseCategoricalCrossentropy;
    categorical_generalized_cross_entropy = classification::keras_categorical_generalized_cross_entropy, CategoricalGeneralizedCrossEntropy = classification::KerasCategoricalGeneralizedCrossEntropy;
    kl_divergence = information::keras_kl_divergence, KlDivergence = information::KerasKlDivergence;
    log_cosh = regression::keras_log_cosh, LogCosh = regression::KerasLogCosh;
    mean_squared_logarithmic_error = regression::keras_mean_squared_logarithmic_error, MeanSquaredLogarithmicError = regression::KerasMeanSquaredLogarithmicError;
    mean_absolute_percentage_error = regression::keras_mean_absolute_percentage_error, MeanAbsolutePercentageError = regression::KerasMeanAbsolutePercentageError;
    poisson = likelihood::keras_poisson, Poisson = likelihood::KerasPoisson;
    hinge = margin::keras_hinge, Hinge = margin::KerasHinge;
    squared_hinge = margin::keras_squared_hinge, SquaredHinge = margin::KerasSquaredHinge;
    categorical_hinge = margin::keras_categorical_hinge, CategoricalHinge = margin::KerasCategoricalHinge;
    cosine_similarity = embedding::cosine_similarity_loss, CosineSimilarity = embedding::CosineSimilarityLoss;
    dice = segmentation::keras_dice, Dice = segmentation::KerasDice;
    tversky = segmentation::keras_tversky, Tversky = segmentation::KerasTversky;
    huber = regression::keras_huber, Huber = regression::KerasHuber;
    circle = embedding::keras_circle, Circle = embedding::KerasCircle;
    ctc = sequence::keras_ctc, Ctc = sequence::KerasCtc;
}
