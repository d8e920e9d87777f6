//! Keras's functional losses (`keras.losses.*`) and optax's (`optax.losses.*`):
//! cross entropies, focal and generalized cross entropy, KL, sparsemax, poly-1,
//! label smoothing and the robust regression losses.

use super::call::{Call, Output};
use super::{eval, float, int, opt, opt_promoted, promoted, Framework, LossSpec, OptionType};
use crate::tensor::FloatElement;
use crate::error::fail;
use crate::Result;
use losslab::{keras, optax};
use ndarray::ArrayD;

// Keras casts y_true to y_pred's dtype.
const Y_TRUE: super::TensorSpec = promoted("y_true", "the targets, y_pred's shape");
// The losses where Keras broadcasts y_true and y_pred together (NumPy's rule).
const Y_TRUE_BROADCAST: super::TensorSpec = promoted("y_true", "the targets: a shape that broadcasts with y_pred's (NumPy's rule)");
// ... after squeezing or expanding a trailing axis of size 1 (Keras's regression losses).
const Y_TRUE_KERAS_RANK: super::TensorSpec =
    promoted("y_true", "the targets: a shape that broadcasts with y_pred's (NumPy's rule, after Keras squeezes or expands a trailing axis of 1)");
const FROM_LOGITS: super::OptionSpec = opt("from_logits", OptionType::Bool, "False", "y_pred holds logits rather than probabilities");
const SMOOTHING: super::OptionSpec = opt("label_smoothing", OptionType::Float, "0.0", "smooths the labels, in [0, 1]");
const AXIS: super::OptionSpec = opt("axis", OptionType::Axis, "-1", "the axis reduced over");
const ALPHA: super::OptionSpec = opt("alpha", OptionType::Float, "0.25", "the class weight");
const GAMMA: super::OptionSpec = opt("gamma", OptionType::Float, "2.0", "the focusing parameter");

const fn keras(name: &'static str, summary: &'static str, tensors: &'static [super::TensorSpec], options: &'static [super::OptionSpec], grads: &'static [&'static str], eval: super::Eval) -> LossSpec {
    LossSpec { framework: Framework::Keras, name, summary, tensors, options, default_reduction: None, grads, eval }
}

const fn optax(name: &'static str, summary: &'static str, tensors: &'static [super::TensorSpec], options: &'static [super::OptionSpec], grads: &'static [&'static str], eval: super::Eval) -> LossSpec {
    LossSpec { framework: Framework::Optax, name, summary, tensors, options, default_reduction: None, grads, eval }
}

pub(super) const LOSSES: &[LossSpec] = &[
    keras(
        "binary_crossentropy",
        "Binary cross entropy, probabilities clipped to [1e-7, 1 − 1e-7], mean over axis",
        &[Y_TRUE, float("y_pred", "probabilities (or logits), at least 1-d")],
        &[FROM_LOGITS, SMOOTHING, AXIS],
        &["y_pred", "y_true"],
        eval!(k_bce),
    ),
    keras(
        "categorical_crossentropy",
        "Categorical cross entropy of renormalised, clipped probabilities (or logits), summed over axis",
        &[Y_TRUE, float("y_pred", "probabilities (or logits), classes along axis")],
        &[FROM_LOGITS, SMOOTHING, AXIS],
        &["y_pred", "y_true"],
        eval!(k_cce),
    ),
    keras(
        "sparse_categorical_crossentropy",
        "Categorical cross entropy at integer labels, probabilities clipped to [1e-7, 1 − 1e-7]",
        &[int("y_true", "class indices, y_pred's shape without the last axis (or with a last axis of 1)"), float("y_pred", "probabilities (or logits), shape (..., C)")],
        &[FROM_LOGITS, opt("ignore_class", OptionType::OptionalFloat, "None", "a label whose samples give 0"), AXIS],
        &["y_pred"],
        eval!(k_scce),
    ),
    keras(
        "binary_focal_crossentropy",
        "Binary cross entropy scaled by (1 − p_t)^gamma, optionally class-balanced by alpha",
        &[Y_TRUE, float("y_pred", "probabilities (or logits), at least 1-d")],
        &[opt("apply_class_balancing", OptionType::Bool, "False", "weight class 1 by alpha, class 0 by 1 − alpha"), ALPHA, GAMMA, FROM_LOGITS, SMOOTHING, AXIS],
        &["y_pred", "y_true"],
        eval!(k_bfce),
    ),
    keras(
        "categorical_focal_crossentropy",
        "Categorical cross entropy with each class scaled by alpha (1 − q)^gamma",
        &[Y_TRUE_BROADCAST, float("y_pred", "probabilities (or logits), classes along axis (its own: that axis does not broadcast)")],
        &[ALPHA, GAMMA, FROM_LOGITS, SMOOTHING, AXIS],
        &["y_pred", "y_true"],
        eval!(k_cfce),
    ),
    keras(
        "categorical_generalized_cross_entropy",
        "Generalized cross entropy (1 − p^q)/q at integer labels",
        &[int("y_true", "class indices, shape (N,)"), float("y_pred", "probabilities, shape (N, C)")],
        &[opt("q", OptionType::Float, "0.5", "the noise parameter, in (0, 1)")],
        &["y_pred"],
        eval!(k_gce),
    ),
    keras("kl_divergence", "Σ t log(t / p) over the last axis, both clipped to [1e-7, 1]", &[Y_TRUE_BROADCAST, float("y_pred", "probabilities, at least 1-d")], &[], &["y_pred", "y_true"], eval!(k_kl)),
    keras("log_cosh", "Mean over the last axis of log cosh(y_pred − y_true)", &[Y_TRUE_KERAS_RANK, float("y_pred", "predictions, at least 1-d")], &[], &["y_pred", "y_true"], eval!(k_logcosh)),
    keras(
        "mean_squared_logarithmic_error",
        "Mean over the last axis of (log(1 + max(y_pred, ε)) − log(1 + max(y_true, ε)))²",
        &[Y_TRUE_KERAS_RANK, float("y_pred", "predictions, at least 1-d")],
        &[],
        &["y_pred", "y_true"],
        eval!(k_msle),
    ),
    keras(
        "mean_absolute_percentage_error",
        "100 × mean over the last axis of |(y_true − y_pred) / max(|y_true|, ε)|",
        &[Y_TRUE_KERAS_RANK, float("y_pred", "predictions, at least 1-d")],
        &[],
        &["y_pred", "y_true"],
        eval!(k_mape),
    ),
    keras(
        "huber",
        "Mean over the last axis of the Huber loss of y_pred − y_true: ½e² within delta, delta·|e| − ½delta² beyond",
        &[Y_TRUE_KERAS_RANK, float("y_pred", "predictions, at least 1-d")],
        &[opt("delta", OptionType::Float, "1.0", "the bound of the quadratic region (>= 0)")],
        &["y_pred", "y_true"],
        eval!(k_huber),
    ),
    optax(
        "poly_loss_cross_entropy",
        "Poly-1: softmax cross entropy + epsilon · Σ labels (1 − p)",
        &[float("logits", "unnormalized log-probabilities, classes along axis"), float("labels", "distributions: a shape that broadcasts with logits' (NumPy's rule; not along the logits' own class axis)")],
        &[opt("epsilon", OptionType::Float, "2.0", "the coefficient of the first polynomial term"), AXIS],
        &["logits", "labels"],
        eval!(o_poly),
    ),
    optax(
        "sparsemax_loss",
        "Binary sparsemax loss: sparse_plus(∓logits), element-wise",
        &[
            float("logits", "scores, any shape (the result has the broadcast shape)"),
            super::TensorSpec {
                name: "labels",
                required: true,
                kind: super::TensorKind::Either,
                doc: "0 or 1, integer or float (any nonzero label is positive, as jnp.where reads it): a shape that broadcasts with logits' (NumPy's rule)",
            },
        ],
        &[],
        &["logits"],
        eval!(o_sparsemax),
    ),
    optax(
        "multiclass_sparsemax_loss",
        "Sparsemax (Fenchel–Young) loss of integer labels",
        &[float("scores", "scores, shape (N, C)"), int("labels", "class indices, shape (N,)")],
        &[],
        &["scores"],
        eval!(o_mc_sparsemax),
    ),
    optax(
        "generalized_kl_divergence",
        "KL divergence extended to unnormalised measures",
        &[float("log_predictions", "log-predictions, classes on the last axis"), float("targets", "targets: a shape that broadcasts with log_predictions' (NumPy's rule)")],
        &[],
        &["log_predictions", "targets"],
        eval!(o_gkl),
    ),
    optax(
        "kl_divergence",
        "KL(targets ‖ exp(log_predictions)) over the last axis",
        &[float("log_predictions", "log-predictions, classes on the last axis"), float("targets", "probabilities: a shape that broadcasts with log_predictions' (NumPy's rule)")],
        &[],
        &["log_predictions", "targets"],
        eval!(o_kl),
    ),
    optax(
        "kl_divergence_with_log_targets",
        "KL(exp(log_targets) ‖ exp(log_predictions)) over the last axis",
        &[float("log_predictions", "log-predictions, classes on the last axis"), float("log_targets", "log-probabilities: a shape that broadcasts with log_predictions' (NumPy's rule)")],
        &[],
        &["log_predictions", "log_targets"],
        eval!(o_kl_log),
    ),
    optax(
        "safe_softmax_cross_entropy",
        "Softmax cross entropy with 0 · log 0 = 0 (−inf logits with zero labels)",
        &[float("logits", "unnormalized log-probabilities, shape (..., C)"), promoted("labels", "distributions: a shape that broadcasts with logits' (NumPy's rule; not along the logits' own class axis)")],
        &[],
        &["logits", "labels"],
        eval!(o_safe_ce),
    ),
    optax(
        "smooth_labels",
        "Label smoothing (a transform): (1 − alpha) labels + alpha / C",
        &[float("labels", "one-hot labels, classes on the last axis")],
        &[opt("alpha", OptionType::OptionalFloat, "None", "the smoothing factor (required)")],
        &["labels"],
        eval!(o_smooth),
    ),
    optax(
        "huber_loss",
        "Huber loss, element-wise: quadratic within delta, linear beyond",
        &[float("predictions", "any shape"), opt_promoted("targets", "a shape that broadcasts with predictions' (NumPy's rule; the result has the broadcast shape; default zeros)")],
        &[opt("delta", OptionType::Float, "1.0", "the bound of the quadratic region")],
        &["predictions", "targets"],
        eval!(o_huber),
    ),
    optax(
        "log_cosh",
        "log cosh(predictions − targets), element-wise",
        &[float("predictions", "any shape"), opt_promoted("targets", "a shape that broadcasts with predictions' (NumPy's rule; the result has the broadcast shape; default zeros)")],
        &[],
        &["predictions", "targets"],
        eval!(o_logcosh),
    ),
];

macro_rules! keras_pair {
    ($fn:ident, $loss:expr) => {
        fn $fn<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
            let loss = $loss(c)?.reduction(c.reduction());
            let (t, p) = (c.float("y_true"), c.float("y_pred"));
            c.finish_once(("y_pred", Some("y_true")), || loss.forward(t.view(), p.view()), || loss.forward_backward(t.view(), p.view()), |g| loss.backward(t.view(), p.view(), g))
        }
    };
}

keras_pair!(k_bce, |c: &Call<'_, T>| -> Result<_> {
    Ok(keras::BinaryCrossentropy::new().from_logits(c.bool("from_logits")).label_smoothing(c.f64("label_smoothing")).axis(c.axis("axis")?))
});
keras_pair!(k_cce, |c: &Call<'_, T>| -> Result<_> {
    Ok(keras::CategoricalCrossentropy::new().from_logits(c.bool("from_logits")).label_smoothing(c.f64("label_smoothing")).axis(c.axis("axis")?))
});
keras_pair!(k_bfce, |c: &Call<'_, T>| -> Result<_> {
    Ok(keras::BinaryFocalCrossentropy::new()
        .apply_class_balancing(c.bool("apply_class_balancing"))
        .alpha(c.f64("alpha"))
        .gamma(c.f64("gamma"))
        .from_logits(c.bool("from_logits"))
        .label_smoothing(c.f64("label_smoothing"))
        .axis(c.axis("axis")?))
});
keras_pair!(k_cfce, |c: &Call<'_, T>| -> Result<_> {
    Ok(keras::CategoricalFocalCrossentropy::new()
        .alpha(c.f64("alpha"))
        .gamma(c.f64("gamma"))
        .from_logits(c.bool("from_logits"))
        .label_smoothing(c.f64("label_smoothing"))
        .axis(c.axis("axis")?))
});
keras_pair!(k_kl, |_c: &Call<'_, T>| -> Result<_> { Ok(keras::KlDivergence::new()) });
keras_pair!(k_logcosh, |_c: &Call<'_, T>| -> Result<_> { Ok(keras::LogCosh::new()) });
keras_pair!(k_msle, |_c: &Call<'_, T>| -> Result<_> { Ok(keras::MeanSquaredLogarithmicError::new()) });
keras_pair!(k_mape, |_c: &Call<'_, T>| -> Result<_> { Ok(keras::MeanAbsolutePercentageError::new()) });
keras_pair!(k_huber, |c: &Call<'_, T>| -> Result<_> { Ok(keras::Huber::new().delta(c.f64("delta"))) });

fn k_scce<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let ignore = match c.opt_f64("ignore_class") {
        None => None,
        Some(v) if v.fract() == 0.0 && v.abs() < 9e15 => Some(v as i64),
        Some(v) => fail!(Option, "keras:sparse_categorical_crossentropy: option `ignore_class` = {v} is invalid: expected an integer (below 9e15 in magnitude) or None"),
    };
    let loss =
        keras::SparseCategoricalCrossentropy::new().from_logits(c.bool("from_logits")).ignore_class(ignore).axis(c.axis("axis")?).reduction(c.reduction());
    let (t, p) = (c.int("y_true"), c.float("y_pred"));
    c.finish_once(("y_pred", None), || loss.forward(t.view(), p.view()), || loss.forward_backward(t.view(), p.view()), |g| loss.backward(t.view(), p.view(), g))
}

fn k_gce<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = keras::CategoricalGeneralizedCrossEntropy::new().q(c.f64("q")).reduction(c.reduction());
    let (t, p) = (c.int("y_true"), c.float("y_pred"));
    c.finish_once(("y_pred", None), || loss.forward(t.view(), p.view()), || loss.forward_backward(t.view(), p.view()), |g| loss.backward(t.view(), p.view(), g))
}

macro_rules! optax_pair {
    ($fn:ident, $a:literal, $b:literal, $loss:expr) => {
        fn $fn<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
            let loss = $loss(c)?.reduction(c.reduction());
            let (a, b) = (c.float($a), c.float($b));
            c.finish_once(($a, Some($b)), || loss.forward(a.view(), b.view()), || loss.forward_backward(a.view(), b.view()), |g| loss.backward(a.view(), b.view(), g))
        }
    };
}

optax_pair!(o_poly, "logits", "labels", |c: &Call<'_, T>| -> Result<_> {
    Ok(optax::PolyLossCrossEntropy::new().epsilon(c.f64("epsilon")).axis(c.axis("axis")?))
});
optax_pair!(o_gkl, "log_predictions", "targets", |_c: &Call<'_, T>| -> Result<_> { Ok(optax::GeneralizedKlDivergence::new()) });
optax_pair!(o_kl, "log_predictions", "targets", |_c: &Call<'_, T>| -> Result<_> { Ok(optax::KlDivergence::new()) });
optax_pair!(o_kl_log, "log_predictions", "log_targets", |_c: &Call<'_, T>| -> Result<_> { Ok(optax::KlDivergenceWithLogTargets::new()) });
optax_pair!(o_safe_ce, "logits", "labels", |_c: &Call<'_, T>| -> Result<_> { Ok(optax::SafeSoftmaxCrossEntropy::new()) });

fn o_sparsemax<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = optax::SparsemaxLoss::new().reduction(c.reduction());
    let x = c.float("logits");
    // optax reads integer and float labels alike: nonzero is positive.
    if c.is_int("labels") {
        sparsemax_with(c, &loss, &x, &c.int("labels"))
    } else {
        // The float labels in place: T (f32 or f64) is a BinaryLabel.
        sparsemax_with(c, &loss, &x, &c.float("labels"))
    }
}

/// optax's binary sparsemax loss on labels of type `L`: without an upstream
/// gradient, value and gradient in one sweep.
fn sparsemax_with<T: FloatElement, L: losslab::classification::BinaryLabel>(
    c: &Call<'_, T>,
    loss: &optax::SparsemaxLoss,
    x: &ndarray::ArrayViewD<'_, T>,
    l: &ndarray::ArrayViewD<'_, L>,
) -> Result<Output<T>> {
    match (&c.grad_output, c.want_grads) {
        (None, true) => {
            let (value, g) = loss.forward_backward(x.view(), l.view())?;
            Ok(Output { aux: vec![], value, grads: vec![("logits", g.input)] })
        }
        _ => c.finish_once(("logits", None), || loss.forward(x.view(), l.view()), || loss.forward_backward(x.view(), l.view()), |g| loss.backward(x.view(), l.view(), g)),
    }
}

fn o_mc_sparsemax<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = optax::MulticlassSparsemaxLoss::new().reduction(c.reduction());
    let (x, l) = (c.float("scores"), c.int("labels"));
    c.finish_once(("scores", None), || loss.forward(x.view(), l.view()), || loss.forward_backward(x.view(), l.view()), |g| loss.backward(x.view(), l.view(), g))
}

fn o_smooth<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let Some(alpha) = c.opt_f64("alpha") else { fail!(Option, "optax:smooth_labels: option `alpha` = None is invalid: expected a number (the smoothing factor; optax has no default)") };
    let t = optax::SmoothLabels::new(alpha).reduction(c.reduction());
    let l = c.float("labels");
    c.finish_once(("labels", None), || t.forward(l.view()), || t.forward_backward(l.view()), |g| t.backward(l.view(), g))
}

/// `targets` (lent), or zeros of `predictions`' shape (optax's `targets=None`).
fn targets_or_zeros<'a, T: FloatElement>(c: &'a Call<'_, T>) -> ndarray::CowArray<'a, T, ndarray::IxDyn> {
    c.opt_float("targets").map_or_else(|| ArrayD::zeros(c.float("predictions").shape()).into(), Into::into)
}

/// An optax element-wise loss of `(predictions, targets)`: one sweep for the
/// value and the gradients when no upstream gradient is given.
macro_rules! optax_targets_pair {
    ($fn:ident, $loss:expr) => {
        fn $fn<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
            let loss = $loss(c).reduction(c.reduction());
            let (p, t) = (c.float("predictions"), targets_or_zeros(c));
            let targets = if c.opt_float("targets").is_some() { Some("targets") } else { None };
            c.finish_once(("predictions", targets), || loss.forward(p.view(), t.view()), || loss.forward_backward(p.view(), t.view()), |g| loss.backward(p.view(), t.view(), g))
        }
    };
}

optax_targets_pair!(o_huber, |c: &Call<'_, T>| optax::HuberLoss::new().delta(c.f64("delta")));
optax_targets_pair!(o_logcosh, |_c: &Call<'_, T>| optax::LogCosh::new());
