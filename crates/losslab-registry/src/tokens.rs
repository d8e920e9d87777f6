//! Per-token losses over language-model logits `(B, T, V)`: the labels'
//! log-probabilities (`losslab:sequence_log_probs`), TRL's generalized JSD of
//! on-policy distillation (`trl:generalized_jsd_loss`) and Hinton's KL
//! (`losslab:distillation_kl`), each fused per row.

use super::call::{Call, Output};
use super::{eval, float, int, opt, Framework, LossSpec, OptionType, TensorKind, TensorSpec};
use crate::tensor::FloatElement;
use crate::Result;
use losslab::own::{DistillationKl, KlDirection, SequenceLogProbs};
use losslab::trl::GeneralizedJsdLoss;
use losslab::Reduction;
use ndarray::ArrayViewD;

const OPT_LABELS: TensorSpec = TensorSpec {
    name: "labels",
    required: false,
    kind: TensorKind::Int,
    doc: "the tokens' labels, shape (B, T) (the logits' without V); tokens labelled -100 do not count",
};

pub(super) const LOSSES: &[LossSpec] = &[
    LossSpec {
        framework: Framework::Losslab,
        name: "sequence_log_probs",
        summary: "per-token log-probability of the label, log_softmax(logits)[label] (0 where ignored), fused: the log-softmax tensor is never formed (TRL's selective_log_softmax, DPO's per-token logps)",
        tensors: &[
            float("logits", "the model's logits, shape (B, T, V) (any (..., V))"),
            int("labels", "the token ids, shape (B, T); ignore_index where a token does not count"),
        ],
        options: &[opt("ignore_index", OptionType::Int, "-100", "the label of tokens that do not count (log-probability 0)")],
        default_reduction: Some(Reduction::None),
        grads: &["logits"],
        eval: eval!(sequence_log_probs),
    },
    LossSpec {
        framework: Framework::Trl,
        name: "generalized_jsd_loss",
        summary: "GKD's generalized Jensen-Shannon divergence between student and teacher token distributions (β = 0: KL(teacher‖student), β = 1: KL(student‖teacher)), GKDTrainer.generalized_jsd_loss",
        tensors: &[
            float("student_logits", "the student's logits, shape (B, T, V)"),
            float("teacher_logits", "the teacher's logits, shape (B, T, V)"),
            OPT_LABELS,
        ],
        options: &[
            opt("beta", OptionType::Float, "0.5", "the mixture's interpolation in [0, 1]: 0 forward KL, 1 reverse KL"),
            opt("temperature", OptionType::Float, "1.0", "the softmax temperature (both logits divided by it)"),
        ],
        default_reduction: Some(Reduction::BatchMean),
        grads: &["student_logits", "teacher_logits"],
        eval: eval!(generalized_jsd),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "distillation_kl",
        summary: "Hinton's distillation loss per token: τ² KL(softmax(teacher/τ) ‖ softmax(student/τ)) (or the reverse), over the tokens whose label is not ignore_index",
        tensors: &[
            float("student_logits", "the student's logits, shape (B, T, V)"),
            float("teacher_logits", "the teacher's logits, shape (B, T, V)"),
            OPT_LABELS,
        ],
        options: &[
            opt("temperature", OptionType::Float, "1.0", "the softmax temperature τ (the result is scaled by τ²)"),
            opt("direction", OptionType::Choice(&["forward", "reverse"]), "forward", "forward: KL(teacher ‖ student) (Hinton's); reverse: KL(student ‖ teacher)"),
            opt("ignore_index", OptionType::Int, "-100", "the label of tokens that do not count"),
        ],
        default_reduction: Some(Reduction::BatchMean),
        grads: &["student_logits", "teacher_logits"],
        eval: eval!(distillation_kl),
    },
];

fn labels<'a, T: FloatElement>(c: &'a Call<'_, T>) -> Option<ArrayViewD<'a, i64>> {
    c.is_int("labels").then(|| c.int("labels"))
}

fn sequence_log_probs<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = SequenceLogProbs::new().reduction(c.reduction.unwrap_or(Reduction::None)).ignore_index(c.i64("ignore_index"));
    let (x, y) = (c.float("logits"), c.int("labels"));
    if !c.want_grads {
        return Ok(Output { value: loss.forward(x.view(), y.view())?, grads: vec![], aux: vec![] });
    }
    let (value, g) = match &c.grad_output {
        None => loss.forward_backward(x.view(), y.view())?,
        Some(_) => {
            let value = loss.forward(x.view(), y.view())?;
            let g = loss.backward(x.view(), y.view(), c.grad_output_for(&value)?.view())?;
            (value, g)
        }
    };
    Ok(Output { value, grads: vec![("logits", g)], aux: vec![] })
}

fn generalized_jsd<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = GeneralizedJsdLoss::new().reduction(c.reduction.unwrap_or(Reduction::BatchMean)).beta(c.f64("beta")).temperature(c.f64("temperature"));
    let (s, t, l) = (c.float("student_logits"), c.float("teacher_logits"), labels(c));
    let lv = || l.as_ref().map(|l| l.view());
    if !c.want_grads {
        return Ok(Output { value: loss.forward(s.view(), t.view(), lv())?, grads: vec![], aux: vec![] });
    }
    let (value, g) = match &c.grad_output {
        None => loss.forward_backward(s.view(), t.view(), lv())?,
        Some(_) => {
            let value = loss.forward(s.view(), t.view(), lv())?;
            let g = loss.backward(s.view(), t.view(), lv(), c.grad_output_for(&value)?.view())?;
            (value, g)
        }
    };
    Ok(Output { value, grads: vec![("student_logits", g.student_logits), ("teacher_logits", g.teacher_logits)], aux: vec![] })
}

fn distillation_kl<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = DistillationKl::new()
        .reduction(c.reduction.unwrap_or(Reduction::BatchMean))
        .temperature(c.f64("temperature"))
        .direction(c.name("direction").parse::<KlDirection>()?)
        .ignore_index(c.i64("ignore_index"));
    let (s, t, l) = (c.float("student_logits"), c.float("teacher_logits"), labels(c));
    let lv = || l.as_ref().map(|l| l.view());
    if !c.want_grads {
        return Ok(Output { value: loss.forward(s.view(), t.view(), lv())?, grads: vec![], aux: vec![] });
    }
    let (value, g) = match &c.grad_output {
        None => loss.forward_backward(s.view(), t.view(), lv())?,
        Some(_) => {
            let value = loss.forward(s.view(), t.view(), lv())?;
            let g = loss.backward(s.view(), t.view(), lv(), c.grad_output_for(&value)?.view())?;
            (value, g)
        }
    };
    Ok(Output { value, grads: vec![("student_logits", g.student_logits), ("teacher_logits", g.teacher_logits)], aux: vec![] })
}
