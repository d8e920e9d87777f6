//! Detection and segmentation: torchvision's focal and box IoU losses, Keras's
//! dice and tversky, optax's dice losses, and losslab's own softmax focal,
//! quantile, Jaccard and Lovász-softmax losses.
//!
//! Options are scalars here, so an `axis` is `None` or one integer (the
//! library takes a list), Lovász's `classes` is an optional integer tensor
//! (with the bool option `present` for `'present'` / `'all'`), and optax
//! `dice_loss`'s own `reduction` argument (across classes) is the evaluation's
//! reduction.

use super::call::{Call, Output};
use super::{eval, float, int, opt, opt_float, opt_promoted, promoted, Framework, LossSpec, OptionSpec, OptionType, TensorKind, TensorSpec};
use crate::tensor::FloatElement;
use crate::error::fail;
use crate::Result;
use losslab::{BinaryDiceLoss, CompleteBoxIouLoss, DiceLoss, DistanceBoxIouLoss, GeneralizedBoxIouLoss, JaccardLoss, LovaszClasses, LovaszSoftmax, MulticlassGeneralizedDiceLoss, QuantileLoss, Reduction, SigmoidFocalLoss, SoftmaxFocalLoss, keras};

// torchvision promotes integer boxes.
const BOXES1: TensorSpec = promoted("boxes1", "boxes (x1, y1, x2, y2), shape (..., 4)");
const BOXES2: TensorSpec = promoted("boxes2", "boxes (x1, y1, x2, y2): boxes1's shape, or one that broadcasts to it (a (1, 4) box against (N, 4), as torchvision)");
const BOX_EPS: OptionSpec = opt("eps", OptionType::Float, "1e-7", "added to the denominators");
// Keras casts y_true to y_pred's dtype.
const Y_TRUE: TensorSpec = promoted("y_true", "targets in [0, 1], any shape");
const Y_PRED: TensorSpec = float("y_pred", "predicted probabilities: a shape that broadcasts with y_true's (NumPy's rule)");
const KERAS_AXIS: OptionSpec =
    opt("axis", OptionType::OptionalFloat, "None", "the axis summed over (an integer); None: every axis, the batch included");
const PREDICTIONS: TensorSpec = float("predictions", "logits (probabilities without apply_softmax), shape (..., C) or (...)");
const TARGETS: TensorSpec = promoted("targets", "one-hot or soft targets, predictions' shape (or with/without a trailing axis of 1)");
const SMOOTH: OptionSpec = opt("smooth", OptionType::Float, "1.0", "added to the numerator and the denominator");
const INPUT: TensorSpec = float("input", "the prediction, any shape");
const TARGET: TensorSpec = float("target", "the target, input's shape");

pub(super) const LOSSES: &[LossSpec] = &[
    LossSpec {
        framework: Framework::Torchvision,
        name: "sigmoid_focal_loss",
        summary: "RetinaNet's focal loss on logits: α_t (1 − p_t)^γ · BCE-with-logits",
        tensors: &[float("inputs", "logits, any shape"), float("targets", "targets in [0, 1] (usually 0/1), inputs' shape")],
        options: &[
            opt("alpha", OptionType::Float, "0.25", "the weight of positives in [0, 1], or -1 for none"),
            opt("gamma", OptionType::Float, "2", "the focusing exponent"),
        ],
        default_reduction: Some(Reduction::None),
        grads: &["inputs", "targets"],
        eval: eval!(sigmoid_focal),
    },
    LossSpec {
        framework: Framework::Torchvision,
        name: "generalized_box_iou_loss",
        summary: "GIoU loss of box pairs: 1 − IoU + (C − U)/C, C the enclosing box's area",
        tensors: &[BOXES1, BOXES2],
        options: &[BOX_EPS],
        default_reduction: Some(Reduction::None),
        grads: &["boxes1", "boxes2"],
        eval: eval!(giou),
    },
    LossSpec {
        framework: Framework::Torchvision,
        name: "distance_box_iou_loss",
        summary: "DIoU loss of box pairs: 1 − IoU + ρ²/c², the centres' squared distance over the enclosing diagonal's",
        tensors: &[BOXES1, BOXES2],
        options: &[BOX_EPS],
        default_reduction: Some(Reduction::None),
        grads: &["boxes1", "boxes2"],
        eval: eval!(diou),
    },
    LossSpec {
        framework: Framework::Torchvision,
        name: "complete_box_iou_loss",
        summary: "CIoU loss of box pairs: DIoU + α·v, v the aspect-ratio term, α without gradient",
        tensors: &[BOXES1, BOXES2],
        options: &[opt("eps", OptionType::Float, "1e-7", "added to α's denominator (the DIoU part always uses 1e-7, as torchvision)")],
        default_reduction: Some(Reduction::None),
        grads: &["boxes1", "boxes2"],
        eval: eval!(ciou),
    },
    LossSpec {
        framework: Framework::Keras,
        name: "dice",
        summary: "1 − 2Σ y·ŷ / (Σ y + Σ ŷ + 1e-7), summed over axis (by default over everything, the batch included)",
        tensors: &[Y_TRUE, Y_PRED],
        options: &[KERAS_AXIS],
        default_reduction: None,
        grads: &["y_pred", "y_true"],
        eval: eval!(keras_dice),
    },
    LossSpec {
        framework: Framework::Keras,
        name: "tversky",
        summary: "1 − Σ y·ŷ / (Σ y·ŷ + α Σ (1 − ŷ)·y + β Σ ŷ·(1 − y) + 1e-7), summed over axis",
        tensors: &[Y_TRUE, Y_PRED],
        options: &[
            opt("alpha", OptionType::Float, "0.5", "the weight of Σ (1 − ŷ)·y (Keras's \"fp\": the missed positives)"),
            opt("beta", OptionType::Float, "0.5", "the weight of Σ ŷ·(1 − y)"),
            KERAS_AXIS,
        ],
        default_reduction: None,
        grads: &["y_pred", "y_true"],
        eval: eval!(keras_tversky),
    },
    LossSpec {
        framework: Framework::Optax,
        name: "dice_loss",
        summary: "Soft Dice (Tversky with alpha, beta) per class over the spatial axes; --reduction is optax's, across classes \
                  (mean by default; batchmean: that mean averaged over the first axis)",
        tensors: &[PREDICTIONS, TARGETS, opt_promoted("class_weights", "a weight per class, shape (C,)")],
        options: &[
            SMOOTH,
            opt("alpha", OptionType::Float, "0.5", "the weight of false positives"),
            opt("beta", OptionType::Float, "0.5", "the weight of false negatives"),
            opt("apply_softmax", OptionType::Bool, "True", "softmax over the last axis (sigmoid for one channel); False: probabilities"),
            opt("ignore_background", OptionType::Bool, "False", "drop class 0 (when C > 1)"),
            opt("axis", OptionType::OptionalFloat, "None", "the axis summed over (an integer); None: all but the first and the last"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["predictions", "targets"],
        eval: eval!(optax_dice),
    },
    LossSpec {
        framework: Framework::Optax,
        name: "binary_dice_loss",
        summary: "Soft Dice of sigmoid(predictions) against binary targets, one value per sample",
        tensors: &[float("predictions", "logits, shape (...) or (..., 1)"), promoted("targets", "binary targets, predictions' shape")],
        options: &[SMOOTH, opt("apply_sigmoid", OptionType::Bool, "True", "apply the sigmoid; False: every prediction must be 1 (optax)")],
        default_reduction: None,
        grads: &["predictions", "targets"],
        eval: eval!(optax_binary_dice),
    },
    LossSpec {
        framework: Framework::Optax,
        name: "multiclass_generalized_dice_loss",
        summary: "Generalized Dice: per-class Dice weighted by 1/(class frequency² + 1e-7), averaged",
        tensors: &[float("predictions", "logits, shape (..., C)"), promoted("targets", "one-hot targets, predictions' shape")],
        options: &[
            SMOOTH,
            opt("apply_softmax", OptionType::Bool, "True", "softmax over the last axis; False: probabilities"),
            opt("ignore_background", OptionType::Bool, "False", "drop class 0 (when C > 1)"),
        ],
        default_reduction: None,
        grads: &["predictions", "targets"],
        eval: eval!(optax_generalized_dice),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "softmax_focal_loss",
        summary: "Multi-class focal loss on logits: −α_y (1 − p_y)^γ log p_y, in log space",
        tensors: &[
            float("input", "logits, shape (N, C) or (N, C, d1, ...) or (C,)"),
            int("target", "class indices, shape (N,) or (N, d1, ...)"),
            opt_float("alpha", "a weight per class, shape (C,)"),
        ],
        options: &[
            opt("gamma", OptionType::Float, "2.0", "the focusing exponent (>= 0; 0 is cross entropy)"),
            opt("ignore_index", OptionType::Int, "-100", "a class index whose samples count for nothing"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["input"],
        eval: eval!(softmax_focal),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "quantile_loss",
        summary: "Pinball loss: q·(y − x) above the prediction, (1 − q)·(x − y) below",
        tensors: &[INPUT, TARGET],
        options: &[opt("quantile", OptionType::Float, "0.5", "the quantile q in (0, 1)")],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "target"],
        eval: eval!(quantile),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "jaccard_loss",
        summary: "Soft IoU loss: 1 − (Σ p·t + s)/(Σ p + Σ t − Σ p·t + s), per sample",
        tensors: &[float("input", "probabilities, shape (N, ...)"), float("target", "target masks, input's shape")],
        options: &[
            opt("smooth", OptionType::Float, "1.0", "added to the numerator and the denominator (>= 0)"),
            opt("axis", OptionType::OptionalFloat, "None", "the axis summed over (an integer); None: all but the first"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "target"],
        eval: eval!(jaccard),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "lovasz_softmax",
        summary: "Lovász-softmax: the Lovász extension of the Jaccard loss on softmax probabilities (Berman et al. 2018)",
        tensors: &[
            float("probas", "probabilities, shape (N, C, d1, ...)"),
            int("labels", "class indices, shape (N, d1, ...)"),
            TensorSpec { name: "classes", required: false, kind: TensorKind::Int, doc: "the classes to average over, shape (K,)" },
        ],
        options: &[
            opt("present", OptionType::Bool, "True", "without `classes`: average over the classes present (False: all classes)"),
            opt("per_image", OptionType::Bool, "False", "compute per image and average"),
            opt("ignore", OptionType::OptionalFloat, "None", "a label whose pixels are ignored (an integer)"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["probas"],
        eval: eval!(lovasz),
    },
];

/// An integer given through a float-or-None option.
fn opt_integer<T: FloatElement>(c: &Call<'_, T>, key: &str) -> Result<Option<i64>> {
    match c.opt_f64(key) {
        None => Ok(None),
        #[allow(clippy::cast_possible_truncation)]
        Some(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(Some(v as i64)),
        Some(v) => fail!(Option, "{}: option `{key}` = {v} is invalid: expected an integer (below 9e15 in magnitude) or None", c.spec.qualified_name()),
    }
}

/// An axis option as the library's list of axes.
fn axes<T: FloatElement>(c: &Call<'_, T>, key: &str) -> Result<Option<Vec<isize>>> {
    Ok(opt_integer(c, key)?.map(|a| vec![a as isize]))
}

fn sigmoid_focal<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = SigmoidFocalLoss::new().alpha(c.f64("alpha")).gamma(c.f64("gamma")).reduction(c.reduction());
    let (x, y) = (c.float("inputs"), c.float("targets"));
    c.finish(loss.forward(x.view(), y.view())?, ("inputs", Some("targets")), |g| loss.backward(x.view(), y.view(), g))
}

macro_rules! box_eval {
    ($f:ident, $ty:ident) => {
        fn $f<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
            let loss = $ty::new().eps(c.f64("eps")).reduction(c.reduction());
            let (a, b) = (c.float("boxes1"), c.float("boxes2"));
            c.finish_once(("boxes1", Some("boxes2")), || loss.forward(a.view(), b.view()), || loss.forward_backward(a.view(), b.view()), |g| loss.backward(a.view(), b.view(), g))
        }
    };
}
box_eval!(giou, GeneralizedBoxIouLoss);
box_eval!(diou, DistanceBoxIouLoss);
box_eval!(ciou, CompleteBoxIouLoss);

fn keras_dice<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = keras::Dice::new().axis(axes(c, "axis")?).reduction(c.reduction());
    let (t, p) = (c.float("y_true"), c.float("y_pred"));
    c.finish_once(("y_pred", Some("y_true")), || loss.forward(t.view(), p.view()), || loss.forward_backward(t.view(), p.view()), |g| loss.backward(t.view(), p.view(), g))
}

fn keras_tversky<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = keras::Tversky::new().alpha(c.f64("alpha")).beta(c.f64("beta")).axis(axes(c, "axis")?).reduction(c.reduction());
    let (t, p) = (c.float("y_true"), c.float("y_pred"));
    c.finish_once(("y_pred", Some("y_true")), || loss.forward(t.view(), p.view()), || loss.forward_backward(t.view(), p.view()), |g| loss.backward(t.view(), p.view(), g))
}

/// optax's `reduction` is across classes: `none`, `mean`, `sum` map to it; `batchmean` is
/// optax's per-sample `mean` averaged over the first axis.
fn optax_dice<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let (class_reduction, reduction) = match c.reduction {
        None => (Reduction::Mean, Reduction::None),
        Some(Reduction::BatchMean) => (Reduction::Mean, Reduction::BatchMean),
        Some(r) => (r, Reduction::None),
    };
    let mut loss = DiceLoss::new()
        .class_reduction(class_reduction)
        .reduction(reduction)
        .smooth(c.f64("smooth"))
        .alpha(c.f64("alpha"))
        .beta(c.f64("beta"))
        .apply_softmax(c.bool("apply_softmax"))
        .ignore_background(c.bool("ignore_background"))
        .axis(axes(c, "axis")?);
    if let Some(w) = c.opt_vector("class_weights", "one weight per class")? {
        loss = loss.class_weights(w);
    }
    let (p, t) = (c.float("predictions"), c.float("targets"));
    c.finish_once(("predictions", Some("targets")), || loss.forward(p.view(), t.view()), || loss.forward_backward(p.view(), t.view()), |g| loss.backward(p.view(), t.view(), g))
}

fn optax_binary_dice<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = BinaryDiceLoss::new().smooth(c.f64("smooth")).apply_sigmoid(c.bool("apply_sigmoid")).reduction(c.reduction());
    let (p, t) = (c.float("predictions"), c.float("targets"));
    c.finish_once(("predictions", Some("targets")), || loss.forward(p.view(), t.view()), || loss.forward_backward(p.view(), t.view()), |g| loss.backward(p.view(), t.view(), g))
}

fn optax_generalized_dice<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = MulticlassGeneralizedDiceLoss::new()
        .smooth(c.f64("smooth"))
        .apply_softmax(c.bool("apply_softmax"))
        .ignore_background(c.bool("ignore_background"))
        .reduction(c.reduction());
    let (p, t) = (c.float("predictions"), c.float("targets"));
    c.finish_once(("predictions", Some("targets")), || loss.forward(p.view(), t.view()), || loss.forward_backward(p.view(), t.view()), |g| loss.backward(p.view(), t.view(), g))
}

fn softmax_focal<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let mut loss = SoftmaxFocalLoss::new().gamma(c.f64("gamma")).ignore_index(c.i64("ignore_index")).reduction(c.reduction());
    if let Some(a) = c.opt_vector("alpha", "one weight per class")? {
        loss = loss.alpha(a);
    }
    let (x, t) = (c.float("input"), c.int("target"));
    c.finish(loss.forward(x.view(), t.view())?, ("input", None), |g| loss.backward(x.view(), t.view(), g))
}

fn quantile<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = QuantileLoss::new().quantile(c.f64("quantile")).reduction(c.reduction());
    let (x, y) = (c.float("input"), c.float("target"));
    c.finish(loss.forward(x.view(), y.view())?, ("input", Some("target")), |g| loss.backward(x.view(), y.view(), g))
}

fn jaccard<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = JaccardLoss::new().smooth(c.f64("smooth")).axis(axes(c, "axis")?).reduction(c.reduction());
    let (x, y) = (c.float("input"), c.float("target"));
    c.finish_once(("input", Some("target")), || loss.forward(x.view(), y.view()), || loss.forward_backward(x.view(), y.view()), |g| loss.backward(x.view(), y.view(), g))
}

fn lovasz<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let classes = if c.is_int("classes") {
        let list = c.int("classes");
        if list.ndim() != 1 {
            fail!(Shape, "{}: `classes` has shape {:?}, expected 1-D (a list of class indices)", c.spec.qualified_name(), list.shape());
        }
        let mut v = Vec::with_capacity(list.len());
        for &k in list {
            match usize::try_from(k) {
                Ok(k) => v.push(k),
                Err(_) => fail!(ClassIndex, "{}: `classes` holds {k}, expected a class index ≥ 0", c.spec.qualified_name()),
            }
        }
        LovaszClasses::List(v)
    } else if c.bool("present") {
        LovaszClasses::Present
    } else {
        LovaszClasses::All
    };
    let loss = LovaszSoftmax::new()
        .classes(classes)
        .per_image(c.bool("per_image"))
        .ignore(opt_integer(c, "ignore")?)
        .reduction(c.reduction());
    let (p, l) = (c.float("probas"), c.int("labels"));
    c.finish(loss.forward(p.view(), l.view())?, ("probas", None), |g| loss.backward(p.view(), l.view(), g))
}
