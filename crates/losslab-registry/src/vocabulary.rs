//! Large vocabularies: PyTorch's adaptive softmax (`torch:adaptive_log_softmax_with_loss`,
//! the module's weights as tensors) and TensorFlow's candidate-sampling losses
//! (`tf:sampled_softmax_loss`, `tf:nce_loss`, the sampler's output as tensors).
//!
//! The registry has no list-valued options, so the adaptive softmax's `cutoffs` is a
//! 1-D integer tensor (as `optax:dice_loss`'s `classes`), and its tails are named
//! tensors `tail_{i}_proj` (PyTorch's `tail[i][0].weight`) and `tail_{i}_out`
//! (`tail[i][1].weight`) for up to [`MAX_CLUSTERS`] clusters.

use super::call::{Call, Output};
use super::{eval, float, int, opt, opt_float, Framework, LossSpec, OptionType, TensorKind, TensorSpec};
use crate::error::fail;
use crate::tensor::FloatElement;
use crate::Result;
use losslab::torch::{AdaptiveLogSoftmaxWithLoss, AdaptiveWeights};
use losslab::tf::{NceLoss, SampledSoftmaxLoss, SampledValues};
use losslab::Reduction;
use ndarray::ArrayD;

/// The most clusters (cutoffs) `torch:adaptive_log_softmax_with_loss` takes here.
const MAX_CLUSTERS: usize = 4;

const TAILS: [[&str; 2]; MAX_CLUSTERS] = [["tail_0_proj", "tail_0_out"], ["tail_1_proj", "tail_1_out"], ["tail_2_proj", "tail_2_out"], ["tail_3_proj", "tail_3_out"]];

const SAMPLED_TENSORS: &[TensorSpec] = &[
    float("weights", "the class embeddings, shape (num_classes, dim)"),
    float("biases", "the class biases, shape (num_classes,)"),
    int("labels", "the target classes, shape (batch_size, num_true)"),
    float("inputs", "the activations, shape (batch_size, dim)"),
    int("sampled_candidates", "sampled_values[0]: the sampled classes, shape (num_sampled,) (a *_candidate_sampler's output)"),
    float("true_expected_count", "sampled_values[1]: the expected count of each true class, shape (batch_size, num_true)"),
    float("sampled_expected_count", "sampled_values[2]: the expected count of each sampled class, shape (num_sampled,)"),
];

pub(super) const LOSSES: &[LossSpec] = &[
    LossSpec {
        framework: Framework::Torch,
        name: "adaptive_log_softmax_with_loss",
        summary: "nn.AdaptiveLogSoftmaxWithLoss (adaptive softmax, Grave et al.) with its weights as tensors: the mean NLL (`.loss`); the per-sample target log-probabilities (`.output`) as the output `output`",
        tensors: &[
            float("input", "the features, shape (N, in_features), or (in_features,) with a 0-d target"),
            int("target", "the classes, shape (N,) (or 0-d), in [0, n_classes)"),
            int("cutoffs", "the module's cutoffs, shape (K,), K ≤ 4: unique, increasing, positive (n_classes is the last cutoff plus the rows of the last tail_{K-1}_out)"),
            float("head_weight", "head.weight, shape (cutoffs[0] + K, in_features)"),
            opt_float("head_bias", "head.bias, shape (cutoffs[0] + K,): given for a module built with head_bias=True (its presence is that option: a tensor and an option of one name would collide in the front ends)"),
            TensorSpec { name: "tail_0_proj", required: false, kind: TensorKind::Float, doc: "tail[0][0].weight, shape (in_features // div_value, in_features)" },
            TensorSpec { name: "tail_0_out", required: false, kind: TensorKind::Float, doc: "tail[0][1].weight, shape (cutoffs[1] − cutoffs[0] (or n_classes − cutoffs[0]), in_features // div_value)" },
            TensorSpec { name: "tail_1_proj", required: false, kind: TensorKind::Float, doc: "tail[1][0].weight, shape (in_features // div_value², in_features)" },
            TensorSpec { name: "tail_1_out", required: false, kind: TensorKind::Float, doc: "tail[1][1].weight, shape (cluster 1's size, in_features // div_value²)" },
            TensorSpec { name: "tail_2_proj", required: false, kind: TensorKind::Float, doc: "tail[2][0].weight, shape (in_features // div_value³, in_features)" },
            TensorSpec { name: "tail_2_out", required: false, kind: TensorKind::Float, doc: "tail[2][1].weight, shape (cluster 2's size, in_features // div_value³)" },
            TensorSpec { name: "tail_3_proj", required: false, kind: TensorKind::Float, doc: "tail[3][0].weight, shape (in_features // div_value⁴, in_features)" },
            TensorSpec { name: "tail_3_out", required: false, kind: TensorKind::Float, doc: "tail[3][1].weight, shape (cluster 3's size, in_features // div_value⁴)" },
        ],
        options: &[
            opt("div_value", OptionType::Float, "4.0", "the divisor of each tail's projection size: tail i projects to in_features // div_value^(i+1)"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "head_weight", "head_bias", "tail_0_proj", "tail_0_out", "tail_1_proj", "tail_1_out", "tail_2_proj", "tail_2_out", "tail_3_proj", "tail_3_out"],
        eval: eval!(adaptive),
    },
    LossSpec {
        framework: Framework::Tf,
        name: "sampled_softmax_loss",
        summary: "tf.nn.sampled_softmax_loss with sampled_values given: softmax cross entropy over the true and sampled classes' logits (minus log Q), accidental hits removed; per example",
        tensors: SAMPLED_TENSORS,
        options: &[
            opt("num_true", OptionType::Int, "1", "the number of target classes per example (labels' second axis); each has target probability 1/num_true"),
            opt("remove_accidental_hits", OptionType::Bool, "True", "shift by -FLT_MAX the logit of a sampled class that is one of the example's true classes"),
        ],
        default_reduction: None,
        grads: &["weights", "biases", "inputs"],
        eval: eval!(sampled_softmax),
    },
    LossSpec {
        framework: Framework::Tf,
        name: "nce_loss",
        summary: "tf.nn.nce_loss with sampled_values given: sigmoid cross entropy of the true (label 1/num_true) and sampled (label 0) classes' logits minus log Q, summed per example",
        tensors: SAMPLED_TENSORS,
        options: &[
            opt("num_true", OptionType::Int, "1", "the number of target classes per example (labels' second axis); each has label 1/num_true"),
            opt("remove_accidental_hits", OptionType::Bool, "False", "shift by -FLT_MAX the logit of a sampled class that is one of the example's true classes"),
        ],
        default_reduction: None,
        grads: &["weights", "biases", "inputs"],
        eval: eval!(nce),
    },
];

fn adaptive<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let q = c.spec.qualified_name();
    let cut = c.int("cutoffs");
    if cut.ndim() != 1 {
        fail!(Shape, "{q}: `cutoffs` has shape {:?}, expected 1-D (the list of cutoffs)", cut.shape());
    }
    if cut.is_empty() || cut.len() > MAX_CLUSTERS {
        fail!(Shape, "{q}: `cutoffs` has shape {:?}, expected 1 to {MAX_CLUSTERS} cutoffs (the registry's tensors name at most {MAX_CLUSTERS} tails)", cut.shape());
    }
    let mut cutoffs = Vec::with_capacity(cut.len());
    for &v in cut.iter() {
        match usize::try_from(v) {
            Ok(u) if u > 0 => cutoffs.push(u),
            _ => fail!(Option, "{q}: `cutoffs` holds {v}, expected unique, positive integers sorted in an increasing order"),
        }
    }
    let k = cutoffs.len();
    let mut tails = Vec::with_capacity(k);
    for (i, [p, o]) in TAILS.iter().enumerate() {
        match (c.opt_float(p), c.opt_float(o)) {
            (Some(pw), Some(ow)) if i < k => tails.push((pw, ow)),
            (None, None) if i >= k => {}
            (pw, _) if i < k => {
                let missing = if pw.is_none() { p } else { o };
                fail!(MissingTensor, "{q}: {k} cutoffs make {k} clusters: `{missing}` is needed (each cluster i < {k} needs tail_i_proj and tail_i_out)");
            }
            _ => fail!(UnknownTensor, "{q}: `{p}`/`{o}` given, but {k} cutoffs make only {k} clusters (tails 0 to {})", k - 1),
        }
    }
    let weights = AdaptiveWeights { head_weight: c.float("head_weight"), head_bias: c.opt_float("head_bias"), tails };
    let loss = AdaptiveLogSoftmaxWithLoss::new(cutoffs).div_value(c.f64("div_value")).head_bias(c.opt_float("head_bias").is_some()).reduction(c.reduction.unwrap_or(Reduction::Mean));
    let (input, target) = (c.float("input"), c.int("target"));
    if !c.want_grads {
        let out = loss.forward(input, target, &weights)?;
        return Ok(Output { value: out.loss, grads: vec![], aux: vec![("output", T::into_tensor(out.output))] });
    }
    let (out, g) = match &c.grad_output {
        None => loss.forward_backward(input.view(), target.view(), &weights)?,
        Some(_) => {
            let out = loss.forward(input.view(), target.view(), &weights)?;
            let go = c.grad_output_for(&out.loss)?;
            let g = loss.backward(input.view(), target.view(), &weights, go.view())?;
            (out, g)
        }
    };
    let mut grads = vec![("input", g.input), ("head_weight", g.head_weight)];
    if let Some(b) = g.head_bias {
        grads.push(("head_bias", b));
    }
    for (i, (p, o)) in g.tails.into_iter().enumerate() {
        grads.push((TAILS[i][0], p));
        grads.push((TAILS[i][1], o));
    }
    Ok(Output { value: out.loss, grads, aux: vec![("output", T::into_tensor(out.output))] })
}

fn run_sampled<T: FloatElement>(c: &Call<'_, T>, nce: bool) -> Result<Output<T>> {
    let q = c.spec.qualified_name();
    let nt = c.i64("num_true");
    let Ok(num_true) = usize::try_from(nt) else {
        fail!(Option, "{q}: option `num_true` = {nt} is invalid: expected an integer ≥ 1");
    };
    let remove = c.bool("remove_accidental_hits");
    let reduction = c.reduction();
    let (ss, nc) = (
        SampledSoftmaxLoss::new().num_true(num_true).remove_accidental_hits(remove).reduction(reduction),
        NceLoss::new().num_true(num_true).remove_accidental_hits(remove).reduction(reduction),
    );
    let (w, b, labels, x) = (c.float("weights"), c.float("biases"), c.int("labels"), c.float("inputs"));
    let sv = SampledValues { sampled_candidates: c.int("sampled_candidates"), true_expected_count: c.float("true_expected_count"), sampled_expected_count: c.float("sampled_expected_count") };
    let forward = || if nce { nc.forward(w.view(), b.view(), labels.view(), x.view(), &sv) } else { ss.forward(w.view(), b.view(), labels.view(), x.view(), &sv) };
    if !c.want_grads {
        return Ok(Output { value: forward()?, grads: vec![], aux: vec![] });
    }
    let (value, g): (ArrayD<T>, _) = match &c.grad_output {
        None => {
            if nce {
                nc.forward_backward(w.view(), b.view(), labels.view(), x.view(), &sv)?
            } else {
                ss.forward_backward(w.view(), b.view(), labels.view(), x.view(), &sv)?
            }
        }
        Some(_) => {
            let value = forward()?;
            let go = c.grad_output_for(&value)?;
            let g = if nce {
                nc.backward(w.view(), b.view(), labels.view(), x.view(), &sv, go.view())?
            } else {
                ss.backward(w.view(), b.view(), labels.view(), x.view(), &sv, go.view())?
            };
            (value, g)
        }
    };
    Ok(Output { value, grads: vec![("weights", g.weights), ("biases", g.biases), ("inputs", g.inputs)], aux: vec![] })
}

fn sampled_softmax<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    run_sampled(c, false)
}

fn nce<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    run_sampled(c, true)
}
