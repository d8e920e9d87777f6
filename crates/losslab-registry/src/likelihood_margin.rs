//! Likelihood and margin losses: PyTorch's Poisson and Gaussian NLL and margin
//! losses; TensorFlow's sigmoid / weighted cross entropy, `log_poisson_loss`,
//! `l2_loss`; Keras's `poisson` and hinge losses; optax's hinge and perceptron losses.

use super::call::{Call, Output};
use super::{eval, float, int, opt, opt_float, opt_promoted, promoted, Framework, LossSpec, OptionType, OptionValue, TensorSpec};
use crate::tensor::FloatElement;
use crate::error::fail;
use crate::Result;
use losslab::{GaussianNllLoss, HingeEmbeddingLoss, L2Loss, LogPoissonLoss, MarginRankingLoss, MultiMarginLoss, MulticlassHingeLoss, MulticlassPerceptronLoss, MultilabelMarginLoss, MultilabelSoftMarginLoss, PerceptronLoss, PoissonNllLoss, Reduction, SigmoidCrossEntropyWithLogits, SoftMarginLoss, WeightedCrossEntropyWithLogits, keras};
use ndarray::{ArrayD, CowArray, IxDyn};

const INPUT: TensorSpec = float("input", "the prediction, any shape");
// Keras casts y_true to y_pred's dtype.
const Y_TRUE: TensorSpec = promoted("y_true", "the labels: a shape that broadcasts with y_pred's (NumPy's rule)");
const Y_PRED: TensorSpec = float("y_pred", "the prediction, shape (..., C); the loss averages over the last axis");
const ROWS: TensorSpec = float("input", "scores, shape (N, C) or (C,)");
const SCORES: TensorSpec = float("scores", "scores, shape (..., C)");
const LABELS: TensorSpec = int("labels", "class indices in [0, C), scores' shape without the last axis");
const MARGIN1: super::OptionSpec = opt("margin", OptionType::Float, "1.0", "the margin");

pub(super) const LOSSES: &[LossSpec] = &[
    LossSpec {
        framework: Framework::Torch,
        name: "poisson_nll_loss",
        summary: "Poisson negative log likelihood: exp(input) − target·input (log_input), or input − target·log(input + eps)",
        tensors: &[promoted("input", "the log-rate (log_input) or the rate, any shape"), promoted("target", "counts: a shape that broadcasts with input's (PyTorch's broadcasting; the result has the broadcast shape)")],
        options: &[
            opt("log_input", OptionType::Bool, "True", "whether input is the log of the rate"),
            opt("full", OptionType::Bool, "False", "add the Stirling term target·log(target) − target + ½log(2π·target) where target > 1"),
            opt("eps", OptionType::Float, "1e-08", "added to the rate before its log when log_input is False"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "target"],
        eval: eval!(poisson_nll),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "gaussian_nll_loss",
        summary: "Gaussian negative log likelihood: ½(log var + (input − target)²/var), var clamped at eps",
        tensors: &[
            promoted("input", "the predicted mean, any shape"),
            promoted("target", "the target: a shape that broadcasts with input's (PyTorch's broadcasting; the result has the broadcast shape)"),
            opt_float(
                "var",
                "the predicted variance (>= 0): input's shape, input's shape without the last axis, or with one axis of size 1; \
                 or, instead, the option var (one float)",
            ),
        ],
        options: &[
            opt(
                "var",
                OptionType::OptionalFloat,
                "None",
                "one variance (>= 0) for every element, PyTorch's var as a float, instead of the tensor var (no gradient for it)",
            ),
            opt("full", OptionType::Bool, "False", "add the constant ½log(2π)"),
            opt("eps", OptionType::Float, "1e-06", "the variance's lower clamp (the gradient passes through it, as PyTorch's)"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "target", "var"],
        eval: eval!(gaussian_nll),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "margin_ranking_loss",
        summary: "Margin ranking: max(0, −target·(input1 − input2) + margin)",
        tensors: &[
            promoted("input1", "the first scores, any shape"),
            promoted("input2", "the second scores: input1's rank, a shape that broadcasts with input1's"),
            promoted("target", "1 where input1 should rank higher, −1 where lower: input1's rank, broadcast with input1 and input2"),
        ],
        options: &[opt("margin", OptionType::Float, "0.0", "the margin")],
        default_reduction: Some(Reduction::Mean),
        grads: &["input1", "input2", "target"],
        eval: eval!(margin_ranking),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "hinge_embedding_loss",
        summary: "Hinge embedding: input where target = 1, max(0, margin − input) where target = −1",
        tensors: &[float("input", "distances, any shape"), promoted("target", "1 (similar) or −1 (dissimilar): a shape that broadcasts with input's (PyTorch's broadcasting; the result has the broadcast shape)")],
        options: &[MARGIN1],
        default_reduction: Some(Reduction::Mean),
        grads: &["input"],
        eval: eval!(hinge_embedding),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "soft_margin_loss",
        summary: "Soft margin (two-class logistic): log(1 + exp(−target·input)), computed stably",
        tensors: &[INPUT, promoted("target", "1 or −1: a shape that broadcasts to input's (the result keeps input's shape, as PyTorch's)")],
        options: &[],
        default_reduction: Some(Reduction::Mean),
        grads: &["input"],
        eval: eval!(soft_margin),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "multilabel_soft_margin_loss",
        summary: "Multi-label soft margin: per-class logistic loss averaged over the classes (last axis)",
        tensors: &[
            float("input", "logits, shape (N, C) or (..., C)"),
            promoted("target", "0/1 (or soft) labels: input's shape, or one that broadcasts with it"),
            opt_promoted("weight", "weights, usually one per class (C,): a shape that broadcasts with input and target"),
        ],
        options: &[],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "target", "weight"],
        eval: eval!(multilabel_soft_margin),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "multilabel_margin_loss",
        summary: "Multi-label margin: Σ over target j and non-target i of max(0, 1 − (x[j] − x[i])) / C",
        tensors: &[ROWS, int("target", "target class indices, input's shape, each row ended by −1")],
        options: &[],
        default_reduction: Some(Reduction::Mean),
        grads: &["input"],
        eval: eval!(multilabel_margin),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "multi_margin_loss",
        summary: "Multi-class margin (Weston–Watkins SVM): Σ_{i≠y} w[y]·max(0, margin − x[y] + x[i])^p / C",
        tensors: &[ROWS, int("target", "class indices, shape (N,) or ()"), opt_float("weight", "a weight per class, shape (C,)")],
        options: &[opt("p", OptionType::Int, "1", "the power, 1 or 2"), MARGIN1],
        default_reduction: Some(Reduction::Mean),
        grads: &["input"],
        eval: eval!(multi_margin),
    },
    LossSpec {
        framework: Framework::Tf,
        name: "sigmoid_cross_entropy_with_logits",
        summary: "Binary cross entropy of logits: max(x, 0) − x·z + log(1 + exp(−|x|)), element-wise",
        tensors: &[float("labels", "targets in [0, 1], logits' shape"), float("logits", "logits, any shape")],
        options: &[],
        default_reduction: None,
        grads: &["logits", "labels"],
        eval: eval!(sigmoid_ce),
    },
    LossSpec {
        framework: Framework::Tf,
        name: "weighted_cross_entropy_with_logits",
        summary: "Binary cross entropy of logits with the positive term weighted by pos_weight, element-wise",
        tensors: &[
            float("labels", "targets in [0, 1], logits' shape"),
            float("logits", "logits, any shape"),
            opt_float(
                "pos_weight",
                "the positive examples' weight: a scalar () or a tensor broadcast to logits' shape; or, instead, the option pos_weight (one number)",
            ),
        ],
        options: &[opt(
            "pos_weight",
            OptionType::OptionalFloat,
            "None",
            "the positive examples' weight as one number, TensorFlow's usual Python float, instead of the tensor pos_weight",
        )],
        default_reduction: None,
        grads: &["logits", "labels"],
        eval: eval!(weighted_ce),
    },
    LossSpec {
        framework: Framework::Tf,
        name: "log_poisson_loss",
        summary: "Poisson loss on log-rates: exp(log_input) − log_input·targets (+ Stirling term)",
        tensors: &[float("targets", "counts, log_input's shape"), float("log_input", "log-rates, any shape")],
        options: &[opt("compute_full_loss", OptionType::Bool, "False", "add the Stirling term where targets are not in [0, 1]")],
        default_reduction: None,
        grads: &["log_input", "targets"],
        eval: eval!(log_poisson),
    },
    LossSpec {
        framework: Framework::Tf,
        name: "l2_loss",
        summary: "Half the sum of squares: Σ t² / 2",
        tensors: &[float("t", "any shape")],
        options: &[],
        default_reduction: None,
        grads: &["t"],
        eval: eval!(l2),
    },
    LossSpec {
        framework: Framework::Keras,
        name: "poisson",
        summary: "Poisson loss on rates, mean over the last axis of y_pred − y_true·log(y_pred + 1e-7)",
        tensors: &[promoted("y_true", "counts: a shape that broadcasts with y_pred's (NumPy's rule)"), float("y_pred", "rates, shape (..., C)")],
        options: &[],
        default_reduction: None,
        grads: &["y_pred", "y_true"],
        eval: eval!(keras_poisson),
    },
    LossSpec {
        framework: Framework::Keras,
        name: "hinge",
        summary: "Hinge, mean over the last axis of max(1 − y_true·y_pred, 0); {0, 1} labels become {−1, 1}",
        tensors: &[Y_TRUE, Y_PRED],
        options: &[],
        default_reduction: None,
        grads: &["y_pred", "y_true"],
        eval: eval!(keras_hinge),
    },
    LossSpec {
        framework: Framework::Keras,
        name: "squared_hinge",
        summary: "Squared hinge, mean over the last axis of max(1 − y_true·y_pred, 0)²; {0, 1} labels become {−1, 1}",
        tensors: &[Y_TRUE, Y_PRED],
        options: &[],
        default_reduction: None,
        grads: &["y_pred", "y_true"],
        eval: eval!(keras_squared_hinge),
    },
    LossSpec {
        framework: Framework::Keras,
        name: "categorical_hinge",
        summary: "Categorical hinge: max(max((1 − y_true)·y_pred) − Σ y_true·y_pred + 1, 0) over the last axis",
        tensors: &[promoted("y_true", "one-hot labels: a shape that broadcasts with y_pred's (NumPy's rule)"), float("y_pred", "scores, shape (..., C)")],
        options: &[],
        default_reduction: None,
        grads: &["y_pred", "y_true"],
        eval: eval!(keras_categorical_hinge),
    },
    LossSpec {
        framework: Framework::Optax,
        name: "multiclass_hinge_loss",
        summary: "Multi-class hinge (Crammer–Singer): max_k(scores_k + 1 − [k = label]) − scores_label",
        tensors: &[SCORES, LABELS],
        options: &[],
        default_reduction: None,
        grads: &["scores"],
        eval: eval!(multiclass_hinge),
    },
    LossSpec {
        framework: Framework::Optax,
        name: "perceptron_loss",
        summary: "Binary perceptron: max(0, −predictor_outputs·targets), element-wise",
        tensors: &[promoted("predictor_outputs", "scores, any shape"), promoted("targets", "1 or −1, predictor_outputs' shape")],
        options: &[],
        default_reduction: None,
        grads: &["predictor_outputs", "targets"],
        eval: eval!(perceptron),
    },
    LossSpec {
        framework: Framework::Optax,
        name: "multiclass_perceptron_loss",
        summary: "Multi-class perceptron: max_k scores_k − scores_label",
        tensors: &[SCORES, LABELS],
        options: &[],
        default_reduction: None,
        grads: &["scores"],
        eval: eval!(multiclass_perceptron),
    },
];

/// The upstream gradient of a result: the one given or ones (its shape is
/// checked by the loss's `backward`).
fn upstream<'c, T: FloatElement>(c: &'c Call<'_, T>, value: &ArrayD<T>) -> CowArray<'c, T, IxDyn> {
    match &c.grad_output {
        Some(g) => g.view().into(),
        None => ArrayD::from_elem(value.shape(), T::one()).into(),
    }
}

fn poisson_nll<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = PoissonNllLoss::new().reduction(c.reduction()).log_input(c.bool("log_input")).full(c.bool("full")).eps(c.f64("eps"));
    let (x, y) = (c.float("input"), c.float("target"));
    c.finish_once(("input", Some("target")), || loss.forward(x.view(), y.view()), || loss.forward_backward(x.view(), y.view()), |g| loss.backward(x.view(), y.view(), g))
}

fn gaussian_nll<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = GaussianNllLoss::new().reduction(c.reduction()).full(c.bool("full")).eps(c.f64("eps"));
    let (x, y) = (c.float("input"), c.float("target"));
    let name = c.spec.qualified_name();
    match (c.opt_float("var"), c.opt_f64("var")) {
        (Some(v), None) => {
            if !c.want_grads {
                return Ok(Output { aux: vec![], value: loss.forward(x.view(), y.view(), v.view())?, grads: vec![] });
            }
            // Without an upstream gradient, value and gradients in one sweep.
            let (value, g) = match &c.grad_output {
                None => loss.forward_backward(x.view(), y.view(), v.view())?,
                Some(_) => {
                    let value = loss.forward(x.view(), y.view(), v.view())?;
                    let g = loss.backward(x.view(), y.view(), v.view(), upstream(c, &value).view())?;
                    (value, g)
                }
            };
            Ok(Output { aux: vec![], value, grads: vec![("input", g.input), ("target", g.target), ("var", g.var)] })
        }
        // PyTorch's `var` as a Python float: checked for sign as given, then
        // rounded to the inputs' dtype (as `var * ones_like(input)`), and not
        // differentiated.
        (None, Some(var)) => {
            let value = loss.forward_scalar_var(x.view(), y.view(), var)?;
            if !c.want_grads {
                return Ok(Output { aux: vec![], value, grads: vec![] });
            }
            let g = loss.backward_scalar_var(x.view(), y.view(), var, upstream(c, &value).view())?;
            Ok(Output { aux: vec![], value, grads: vec![("input", g.input), ("target", g.target)] })
        }
        (Some(_), Some(var)) => fail!(
            Option,
            "{name}: `var` is given twice, as a tensor and as the option var = {}, expected one of them \
             (a tensor, or one float for every element)",
            OptionValue::Float(var)
        ),
        (None, None) => fail!(
            MissingTensor,
            "{name} needs `var`, the predicted variance (>= 0): a tensor (--tensor var=FILE.npy) or one float for every \
             element (--option var=VALUE), found neither; its tensors are input, target, var"
        ),
    }
}

fn margin_ranking<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = MarginRankingLoss::new().reduction(c.reduction()).margin(c.f64("margin"));
    let (a, b, y) = (c.float("input1"), c.float("input2"), c.float("target"));
    if !c.want_grads {
        return Ok(Output { aux: vec![], value: loss.forward(a.view(), b.view(), y.view())?, grads: vec![] });
    }
    // Without an upstream gradient, value and gradients in one sweep.
    let (value, g) = match &c.grad_output {
        None => loss.forward_backward(a.view(), b.view(), y.view())?,
        Some(_) => {
            let value = loss.forward(a.view(), b.view(), y.view())?;
            let g = loss.backward(a.view(), b.view(), y.view(), upstream(c, &value).view())?;
            (value, g)
        }
    };
    Ok(Output { aux: vec![], value, grads: vec![("input1", g.input1), ("input2", g.input2), ("target", g.target)] })
}

fn hinge_embedding<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = HingeEmbeddingLoss::new().reduction(c.reduction()).margin(c.f64("margin"));
    let (x, y) = (c.float("input"), c.float("target"));
    c.finish_once(("input", None), || loss.forward(x.view(), y.view()), || loss.forward_backward(x.view(), y.view()), |g| loss.backward(x.view(), y.view(), g))
}

fn soft_margin<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = SoftMarginLoss::new().reduction(c.reduction());
    let (x, y) = (c.float("input"), c.float("target"));
    c.finish_once(("input", None), || loss.forward(x.view(), y.view()), || loss.forward_backward(x.view(), y.view()), |g| loss.backward(x.view(), y.view(), g))
}

fn multilabel_soft_margin<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let mut loss = MultilabelSoftMarginLoss::new().reduction(c.reduction());
    if let Some(w) = c.opt_float("weight") {
        loss = loss.weight(w);
    }
    let (x, y) = (c.float("input"), c.float("target"));
    let value = loss.forward(x.view(), y.view())?;
    if !c.want_grads {
        return Ok(Output { aux: vec![], value, grads: vec![] });
    }
    // PyTorch's autograd differentiates the weight too.
    let (g, gw) = loss.backward_with_weight(x.view(), y.view(), c.grad_output_for(&value)?.view())?;
    let mut grads = vec![("input", g.input)];
    grads.extend(g.target.map(|t| ("target", t)));
    grads.extend(gw.map(|w| ("weight", w)));
    Ok(Output { aux: vec![], value, grads })
}

fn multilabel_margin<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = MultilabelMarginLoss::new().reduction(c.reduction());
    let (x, t) = (c.float("input"), c.int("target"));
    c.finish_once(("input", None), || loss.forward(x.view(), t.view()), || loss.forward_backward(x.view(), t.view()), |g| loss.backward(x.view(), t.view(), g))
}

fn multi_margin<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let mut loss = MultiMarginLoss::new().reduction(c.reduction()).p(c.i64("p")).margin(c.f64("margin"));
    if let Some(w) = c.opt_vector("weight", "one weight per class")? {
        loss = loss.weight(w);
    }
    let (x, t) = (c.float("input"), c.int("target"));
    c.finish_once(("input", None), || loss.forward(x.view(), t.view()), || loss.forward_backward(x.view(), t.view()), |g| loss.backward(x.view(), t.view(), g))
}

fn sigmoid_ce<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = SigmoidCrossEntropyWithLogits::new().reduction(c.reduction());
    let (labels, logits) = (c.float("labels"), c.float("logits"));
    c.finish_once(("logits", Some("labels")), || loss.forward(labels.view(), logits.view()), || loss.forward_backward(labels.view(), logits.view()), |g| loss.backward(labels.view(), logits.view(), g))
}

fn weighted_ce<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let name = c.spec.qualified_name();
    let loss = match (c.opt_float("pos_weight"), c.opt_f64("pos_weight")) {
        (Some(w), None) => WeightedCrossEntropyWithLogits::new(1.0).pos_weight(w),
        // TensorFlow's usual form, a Python number: used as it is (no array is made of it).
        (None, Some(w)) => WeightedCrossEntropyWithLogits::new(w),
        (Some(_), Some(w)) => fail!(
            Option,
            "{name}: `pos_weight` is given twice, as a tensor and as the option pos_weight = {}, expected one of them \
             (a tensor, or one number)",
            OptionValue::Float(w)
        ),
        (None, None) => fail!(
            MissingTensor,
            "{name} needs `pos_weight`, the positive examples' weight: a tensor (--tensor pos_weight=FILE.npy) or one \
             number (--option pos_weight=VALUE), found neither; its tensors are labels, logits, pos_weight"
        ),
    }
    .reduction(c.reduction());
    let (labels, logits) = (c.float("labels"), c.float("logits"));
    c.finish_once(("logits", Some("labels")), || loss.forward(labels.view(), logits.view()), || loss.forward_backward(labels.view(), logits.view()), |g| loss.backward(labels.view(), logits.view(), g))
}

fn log_poisson<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = LogPoissonLoss::new().reduction(c.reduction()).compute_full_loss(c.bool("compute_full_loss"));
    let (t, l) = (c.float("targets"), c.float("log_input"));
    c.finish_once(("log_input", Some("targets")), || loss.forward(t.view(), l.view()), || loss.forward_backward(t.view(), l.view()), |g| loss.backward(t.view(), l.view(), g))
}

fn l2<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    // TensorFlow's own output is the sum; other reductions apply to the terms t²/2.
    let loss = L2Loss::new().reduction(c.reduction.unwrap_or(Reduction::Sum));
    let t = c.float("t");
    c.finish_once(("t", None), || loss.forward(t.view()), || loss.forward_backward(t.view()), |g| loss.backward(t.view(), g))
}

fn keras_poisson<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = keras::Poisson::new().reduction(c.reduction());
    let (yt, yp) = (c.float("y_true"), c.float("y_pred"));
    c.finish_once(("y_pred", Some("y_true")), || loss.forward(yt.view(), yp.view()), || loss.forward_backward(yt.view(), yp.view()), |g| loss.backward(yt.view(), yp.view(), g))
}

fn keras_hinge<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = keras::Hinge::new().reduction(c.reduction());
    let (yt, yp) = (c.float("y_true"), c.float("y_pred"));
    c.finish_once(("y_pred", Some("y_true")), || loss.forward(yt.view(), yp.view()), || loss.forward_backward(yt.view(), yp.view()), |g| loss.backward(yt.view(), yp.view(), g))
}

fn keras_squared_hinge<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = keras::SquaredHinge::new().reduction(c.reduction());
    let (yt, yp) = (c.float("y_true"), c.float("y_pred"));
    c.finish_once(("y_pred", Some("y_true")), || loss.forward(yt.view(), yp.view()), || loss.forward_backward(yt.view(), yp.view()), |g| loss.backward(yt.view(), yp.view(), g))
}

fn keras_categorical_hinge<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = keras::CategoricalHinge::new().reduction(c.reduction());
    let (yt, yp) = (c.float("y_true"), c.float("y_pred"));
    c.finish_once(("y_pred", Some("y_true")), || loss.forward(yt.view(), yp.view()), || loss.forward_backward(yt.view(), yp.view()), |g| loss.backward(yt.view(), yp.view(), g))
}

fn multiclass_hinge<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = MulticlassHingeLoss::new().reduction(c.reduction());
    let (s, l) = (c.float("scores"), c.int("labels"));
    c.finish_once(("scores", None), || loss.forward(s.view(), l.view()), || loss.forward_backward(s.view(), l.view()), |g| loss.backward(s.view(), l.view(), g))
}

fn multiclass_perceptron<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = MulticlassPerceptronLoss::new().reduction(c.reduction());
    let (s, l) = (c.float("scores"), c.int("labels"));
    c.finish_once(("scores", None), || loss.forward(s.view(), l.view()), || loss.forward_backward(s.view(), l.view()), |g| loss.backward(s.view(), l.view(), g))
}

fn perceptron<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = PerceptronLoss::new().reduction(c.reduction());
    let (x, t) = (c.float("predictor_outputs"), c.float("targets"));
    c.finish_once(("predictor_outputs", Some("targets")), || loss.forward(x.view(), t.view()), || loss.forward_backward(x.view(), t.view()), |g| loss.backward(x.view(), t.view(), g))
}
