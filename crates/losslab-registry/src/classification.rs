//! Classification losses: PyTorch's cross entropy, NLL and binary cross
//! entropy, TensorFlow's softmax cross entropy.

use super::call::{Call, Output};
use crate::error::fail;
use super::{eval, float, int, opt, opt_float, opt_promoted, promoted, Framework, LossSpec, OptionType, TensorKind, TensorSpec};
use crate::tensor::FloatElement;
use crate::Result;
use losslab::{LinearCrossEntropyLoss, BinaryCrossEntropy, BinaryCrossEntropyWithLogits, CrossEntropyLoss, NllLoss, Reduction, SoftmaxCrossEntropyWithLogits, SparseSoftmaxCrossEntropyWithLogits};

const CLASS_WEIGHT: TensorSpec = opt_float("weight", "a weight per class, shape (C,)");
const IGNORE_INDEX: super::OptionSpec =
    opt("ignore_index", OptionType::Int, "-100", "a class index whose samples count for nothing (class-index targets)");

pub(super) const LOSSES: &[LossSpec] = &[
    LossSpec {
        framework: Framework::Torch,
        name: "cross_entropy",
        summary: "Softmax cross entropy of logits against class indices or class probabilities",
        tensors: &[
            float("input", "logits, shape (N, C) or (N, C, d1, ...) or (C,)"),
            TensorSpec {
                name: "target",
                required: true,
                kind: TensorKind::Either,
                doc: "class indices (int, shape (N,) or (N, d1, ...), or (1,) for a (C,) input) or class probabilities (float, input's shape)",
            },
            CLASS_WEIGHT,
        ],
        options: &[
            IGNORE_INDEX,
            opt("label_smoothing", OptionType::Float, "0.0", "mixes the target with the uniform distribution, in [0, 1]"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "target", "weight"],
        eval: eval!(cross_entropy),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "nll_loss",
        summary: "Negative log likelihood of log-probabilities at class indices",
        tensors: &[
            float("input", "log-probabilities, shape (N, C) or (N, C, d1, ...) or (C,)"),
            int("target", "class indices, shape (N,) or (N, d1, ...)"),
            CLASS_WEIGHT,
        ],
        options: &[IGNORE_INDEX],
        default_reduction: Some(Reduction::Mean),
        grads: &["input"],
        eval: eval!(nll),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "binary_cross_entropy",
        summary: "Binary cross entropy of probabilities: −w (t log p + (1 − t) log(1 − p))",
        tensors: &[
            float("input", "probabilities in [0, 1], any shape"),
            float("target", "targets in [0, 1], input's shape"),
            opt_promoted("weight", "a weight per element, broadcast to input's shape"),
        ],
        options: &[],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "target"],
        eval: eval!(bce),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "binary_cross_entropy_with_logits",
        summary: "Binary cross entropy of logits, stable for any logit: −w (pw t log σ(x) + (1 − t) log σ(−x))",
        tensors: &[
            float("input", "logits, any shape"),
            float("target", "targets in [0, 1], input's shape"),
            opt_promoted("weight", "a weight per element, broadcast to input's shape"),
            opt_promoted("pos_weight", "a weight of the positive term, broadcast to input's shape (typically one per class, (C,))"),
        ],
        options: &[],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "target"],
        eval: eval!(bce_with_logits),
    },
    LossSpec {
        framework: Framework::Tf,
        name: "softmax_cross_entropy_with_logits",
        summary: "Cross entropy of softmax(logits) against label distributions, one value per sample",
        tensors: &[
            promoted("labels", "a distribution over classes per sample: logits' shape, or one that broadcasts to it in TensorFlow's (rows, classes) form (one row; a class axis of 1, in either)"),
            float("logits", "unnormalized log-probabilities, classes along `axis`"),
        ],
        options: &[opt("axis", OptionType::Axis, "-1", "the class axis")],
        default_reduction: None,
        grads: &["logits", "labels"],
        eval: eval!(softmax_ce),
    },
    LossSpec {
        framework: Framework::Tf,
        name: "sparse_softmax_cross_entropy_with_logits",
        summary: "Cross entropy of softmax(logits) at class indices, one value per sample",
        tensors: &[
            int("labels", "class indices in [0, C), logits' shape without the last axis"),
            float("logits", "unnormalized log-probabilities, shape (..., C)"),
        ],
        options: &[],
        default_reduction: None,
        grads: &["logits"],
        eval: eval!(sparse_softmax_ce),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "linear_cross_entropy",
        summary: "The LM head's loss: cross entropy of input · linear_weightᵀ + linear_bias, fused so the logits are never held whole",
        tensors: &[
            float("input", "hidden states, shape (N, D) or (B, T, D) (any leading axes)"),
            float("linear_weight", "the classifier's weight, shape (V, D)"),
            int("target", "class indices, `input`'s shape without its last axis"),
            opt_float("linear_bias", "the classifier's bias, shape (V,)"),
            opt_float("weight", "a weight per class, shape (V,)"),
        ],
        options: &[
            IGNORE_INDEX,
            opt("label_smoothing", OptionType::Float, "0.0", "mixes the target with the uniform distribution, in [0, 1]"),
            opt("lse_square_scale", OptionType::Float, "0.0", "the z-loss λ · lse² per counted token (Liger-Kernel, PaLM); not weighted; reported as the output `z_loss`"),
            opt("softcap", OptionType::OptionalFloat, "None", "caps the logits at c: c · tanh(z / c) (Gemma 2)"),
            opt("logit_scale", OptionType::Float, "1.0", "multiplies the logits before the cap (a temperature T is 1/T)"),
            opt("return_lse", OptionType::Bool, "False", "also returns each token's log-sum-exp (output `lse`)"),
            opt("return_entropy", OptionType::Bool, "False", "also returns each token's softmax entropy (output `entropy`)"),
            opt("return_predicted", OptionType::Bool, "False", "also returns each token's predicted class (output `predicted`)"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "linear_weight", "linear_bias"],
        eval: eval!(linear_cross_entropy),
    },
];

fn cross_entropy<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let mut loss =
        CrossEntropyLoss::new().reduction(c.reduction()).ignore_index(c.i64("ignore_index")).label_smoothing(c.f64("label_smoothing"));
    if let Some(w) = c.opt_vector("weight", "one weight per class")? {
        loss = loss.weight(w);
    }
    let x = c.float("input");
    if c.is_int("target") {
        let t = c.int("target");
        c.finish_once(("input", None), || loss.forward(x.view(), t.view()), || loss.forward_backward(x.view(), t.view()), |g| loss.backward(x.view(), t.view(), g))
    } else {
        let t = c.float("target");
        let value = loss.forward_probs(x.view(), t.view())?;
        if !c.want_grads {
            return Ok(Output { aux: vec![], value, grads: vec![] });
        }
        // With probability targets PyTorch's autograd differentiates the weight
        // (with class indices it refuses: "not differentiable", and so none above).
        let (g, gw) = loss.backward_probs_with_weight(x.view(), t.view(), c.grad_output_for(&value)?.view())?;
        let mut grads = vec![("input", g.input)];
        grads.extend(g.target.map(|t| ("target", t)));
        if c.opt_float("weight").is_some() {
            grads.push(("weight", gw));
        }
        Ok(Output { aux: vec![], value, grads })
    }
}

fn nll<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let mut loss = NllLoss::new().reduction(c.reduction()).ignore_index(c.i64("ignore_index"));
    if let Some(w) = c.opt_vector("weight", "one weight per class")? {
        loss = loss.weight(w);
    }
    let (x, t) = (c.float("input"), c.int("target"));
    c.finish_once(("input", None), || loss.forward(x.view(), t.view()), || loss.forward_backward(x.view(), t.view()), |g| loss.backward(x.view(), t.view(), g))
}

fn bce<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let mut loss = BinaryCrossEntropy::new().reduction(c.reduction());
    if let Some(w) = c.opt_float("weight") {
        loss = loss.weight(w);
    }
    let (x, y) = (c.float("input"), c.float("target"));
    c.finish_once(("input", Some("target")), || loss.forward(x.view(), y.view()), || loss.forward_backward(x.view(), y.view()), |g| loss.backward(x.view(), y.view(), g))
}

fn bce_with_logits<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let mut loss = BinaryCrossEntropyWithLogits::new().reduction(c.reduction());
    if let Some(w) = c.opt_float("weight") {
        loss = loss.weight(w);
    }
    if let Some(w) = c.opt_float("pos_weight") {
        loss = loss.pos_weight(w);
    }
    let (x, y) = (c.float("input"), c.float("target"));
    c.finish_once(("input", Some("target")), || loss.forward(x.view(), y.view()), || loss.forward_backward(x.view(), y.view()), |g| loss.backward(x.view(), y.view(), g))
}

fn softmax_ce<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = SoftmaxCrossEntropyWithLogits::new().reduction(c.reduction()).axis(c.axis("axis")?);
    let (labels, logits) = (c.float("labels"), c.float("logits"));
    c.finish_once(("logits", Some("labels")), || loss.forward(labels.view(), logits.view()), || loss.forward_backward(labels.view(), logits.view()), |g| loss.backward(labels.view(), logits.view(), g))
}

fn sparse_softmax_ce<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = SparseSoftmaxCrossEntropyWithLogits::new().reduction(c.reduction());
    let (labels, logits) = (c.int("labels"), c.float("logits"));
    c.finish_once(("logits", None), || loss.forward(labels.view(), logits.view()), || loss.forward_backward(labels.view(), logits.view()), |g| loss.backward(labels.view(), logits.view(), g))
}

fn linear_cross_entropy<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let name = c.spec.qualified_name();
    let mut loss = LinearCrossEntropyLoss::new()
        .reduction(c.reduction())
        .ignore_index(c.i64("ignore_index"))
        .label_smoothing(c.f64("label_smoothing"))
        .lse_square_scale(c.f64("lse_square_scale"))
        .softcap(c.opt_f64("softcap"))
        .logit_scale(c.f64("logit_scale"))
        .return_lse(c.bool("return_lse"))
        .return_entropy(c.bool("return_entropy"))
        .return_predicted(c.bool("return_predicted"));
    if let Some(w) = c.opt_vector("weight", "one weight per class")? {
        loss = loss.weight(w);
    }
    let w = c.float("linear_weight");
    let shape = w.shape().to_vec();
    let Ok(w) = w.into_dimensionality::<ndarray::Ix2>() else {
        fail!(Shape, "{name}: `linear_weight` has shape {shape:?}, expected 2-D (V, D)")
    };
    let b = c.opt_vector("linear_bias", "one bias per class")?;
    let (x, t) = (c.float("input"), c.int("target"));
    let (out, grads) = if c.want_grads {
        let up = c.grad_output.as_ref().map(|g| g.view());
        let (out, g) = loss.forward_backward(x, w, b, t, up)?;
        let mut grads = vec![("input", g.input), ("linear_weight", g.linear_weight.into_dyn())];
        grads.extend(g.linear_bias.map(|b| ("linear_bias", b.into_dyn())));
        (out, grads)
    } else {
        (loss.forward(x, w, b, t)?, vec![])
    };
    let mut aux = vec![("z_loss", T::into_tensor(out.z_loss))];
    aux.extend(out.lse.map(|a| ("lse", T::into_tensor(a))));
    aux.extend(out.entropy.map(|a| ("entropy", T::into_tensor(a))));
    aux.extend(out.predicted.map(|a| ("predicted", crate::Tensor::I64(a))));
    Ok(Output { value: out.loss, grads, aux })
}
