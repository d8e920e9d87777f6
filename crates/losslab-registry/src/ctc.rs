//! Sequence losses. Connectionist temporal classification: PyTorch's `ctc_loss`, TensorFlow's
//! `tf.nn.ctc_loss` (dense labels), optax's `ctc_loss` and Keras's `ctc`; the RNN
//! transducer: torchaudio's `rnnt_loss`.

use super::call::{Call, Output};
use super::{eval, float, int, opt, promoted, Framework, LossSpec, OptionType};
use crate::tensor::FloatElement;
use crate::Result;
use losslab::{CtcLoss, Gradients, Reduction, RnntLoss, keras, optax, tf};
use ndarray::{ArrayD, ArrayViewD};

pub(super) const LOSSES: &[LossSpec] = &[
    LossSpec {
        framework: Framework::Torch,
        name: "ctc_loss",
        summary: "CTC: −log of the summed probability of every alignment of the target to the input frames",
        tensors: &[
            float("log_probs", "log-probabilities, shape (T, N, C), or (T, C) unbatched"),
            int("targets", "labels, padded (N, S) or concatenated 1-D (Σ target_lengths); never the blank"),
            int("input_lengths", "frames of each sequence, N values (one, 0-d, unbatched)"),
            int("target_lengths", "labels of each sequence, N values (one, 0-d, unbatched)"),
        ],
        options: &[
            opt("blank", OptionType::Int, "0", "the blank's class index"),
            opt("zero_infinity", OptionType::Bool, "False", "impossible alignments (infinite losses) count 0, with gradient 0"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["log_probs"],
        eval: eval!(torch_ctc),
    },
    LossSpec {
        framework: Framework::Tf,
        name: "ctc_loss",
        summary: "CTC on logits (log_softmax applied), dense padded labels, one loss per sequence",
        tensors: &[
            int("labels", "padded labels, shape (N, S); never the blank"),
            float("logits", "unnormalized log-probabilities, shape (T, N, C), or (N, T, C) with logits_time_major=False"),
            int("label_length", "labels of each sequence, shape (N,)"),
            int("logit_length", "frames of each sequence, shape (N,)"),
        ],
        options: &[
            opt("logits_time_major", OptionType::Bool, "True", "logits are (T, N, C) if True, (N, T, C) if False"),
            opt("blank_index", OptionType::Int, "0", "the blank's class index, negative from the end (None in TensorFlow means 0 for dense labels)"),
        ],
        default_reduction: None,
        grads: &["logits"],
        eval: eval!(tf_ctc),
    },
    LossSpec {
        framework: Framework::Optax,
        name: "ctc_loss",
        summary: "CTC on logits with 0/1 padding masks and a finite log 0 (log_epsilon), one loss per sequence",
        tensors: &[
            float("logits", "unnormalized log-probabilities, shape (B, T, K)"),
            promoted("logit_paddings", "1 where a frame is padding, else 0, shape (B, T)"),
            int("labels", "labels, shape (B, N)"),
            promoted("label_paddings", "1 where a label is padding (right-padded), else 0, shape (B, N)"),
        ],
        options: &[
            opt("blank_id", OptionType::Int, "0", "the blank's class index"),
            opt("log_epsilon", OptionType::Float, "-100000.0", "the finite stand-in for log 0"),
        ],
        default_reduction: None,
        grads: &["logits"],
        eval: eval!(optax_ctc),
    },
    LossSpec {
        framework: Framework::Keras,
        name: "ctc",
        summary: "CTC on logits, blank 0, all frames, label lengths = nonzero labels per row (optax's recursion), one loss per sequence",
        tensors: &[
            int("y_true", "labels, shape (B, S); 0 is the blank and the padding, the length is the count of nonzero labels"),
            float("y_pred", "logits (not normalised), shape (B, T, C)"),
        ],
        options: &[],
        default_reduction: None,
        grads: &["y_pred"],
        eval: eval!(keras_ctc),
    },
    LossSpec {
        framework: Framework::Torchaudio,
        name: "rnnt_loss",
        summary: "RNN transducer: −log of the summed probability of every path through the (T, U + 1) lattice of frames and emitted labels",
        tensors: &[
            float("logits", "joint network outputs, shape (N, T, U + 1, C), with T = max(logit_lengths), U = max(target_lengths)"),
            int("targets", "labels, shape (N, U), padded past each sequence's length"),
            int("logit_lengths", "frames of each sequence, shape (N,), each ≥ 1"),
            int("target_lengths", "labels of each sequence, shape (N,)"),
        ],
        options: &[
            opt("blank", OptionType::Int, "-1", "the blank's class index, negative from the end"),
            opt("clamp", OptionType::Float, "-1.0", "clamp each gradient element to [−clamp, clamp] when > 0 (before the upstream gradient scales it)"),
            opt("fused_log_softmax", OptionType::Bool, "True", "apply log_softmax to the logits inside the loss; False: the logits are log-probabilities"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["logits"],
        eval: eval!(torchaudio_rnnt),
    },
];

fn torchaudio_rnnt<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = RnntLoss::new()
        .reduction(c.reduction())
        .blank(c.i64("blank"))
        .clamp(c.f64("clamp"))
        .fused_log_softmax(c.bool("fused_log_softmax"));
    let (logits, t) = (c.float("logits"), c.int("targets"));
    let (ll, tl) = (c.int("logit_lengths"), c.int("target_lengths"));
    c.finish(loss.forward(logits.view(), t.view(), ll.view(), tl.view())?, ("logits", None), |g| {
        loss.backward(logits.view(), t.view(), ll.view(), tl.view(), g)
    })
}

/// The output of a CTC loss whose gradient is that of `input`: one pass
/// (`forward_backward`, the value and the gradient of its sum together) when
/// gradients are wanted without a caller's upstream gradient; else the
/// forward and, with the caller's upstream gradient, the backward.
fn finish_ctc<T: FloatElement>(
    c: &Call<'_, T>,
    input: &'static str,
    forward: impl FnOnce() -> losslab::Result<ArrayD<T>>,
    backward: impl FnOnce(ArrayViewD<'_, T>) -> losslab::Result<Gradients<T>>,
    forward_backward: impl FnOnce() -> losslab::Result<(ArrayD<T>, Gradients<T>)>,
) -> Result<Output<T>> {
    if c.want_grads && c.grad_output.is_none() {
        let (value, g) = forward_backward()?;
        return Ok(Output { aux: vec![], value, grads: vec![(input, g.input)] });
    }
    c.finish(forward()?, (input, None), backward)
}

fn torch_ctc<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = CtcLoss::new().reduction(c.reduction()).blank(c.i64("blank")).zero_infinity(c.bool("zero_infinity"));
    let (lp, t) = (c.float("log_probs"), c.int("targets"));
    let (il, tl) = (c.int("input_lengths"), c.int("target_lengths"));
    finish_ctc(
        c,
        "log_probs",
        || loss.forward(lp.view(), t.view(), il.view(), tl.view()),
        |g| loss.backward(lp.view(), t.view(), il.view(), tl.view(), g),
        || loss.forward_backward(lp.view(), t.view(), il.view(), tl.view()),
    )
}

fn tf_ctc<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = tf::CtcLoss::new()
        .reduction(c.reduction())
        .logits_time_major(c.bool("logits_time_major"))
        .blank_index(c.i64("blank_index"));
    let (labels, logits) = (c.int("labels"), c.float("logits"));
    let (ll, gl) = (c.int("label_length"), c.int("logit_length"));
    finish_ctc(
        c,
        "logits",
        || loss.forward(labels.view(), logits.view(), ll.view(), gl.view()),
        |g| loss.backward(labels.view(), logits.view(), ll.view(), gl.view(), g),
        || loss.forward_backward(labels.view(), logits.view(), ll.view(), gl.view()),
    )
}

fn optax_ctc<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = optax::CtcLoss::new().reduction(c.reduction()).blank_id(c.i64("blank_id")).log_epsilon(c.f64("log_epsilon"));
    let (logits, fp) = (c.float("logits"), c.float("logit_paddings"));
    let (labels, lp) = (c.int("labels"), c.float("label_paddings"));
    finish_ctc(
        c,
        "logits",
        || loss.forward(logits.view(), fp.view(), labels.view(), lp.view()),
        |g| loss.backward(logits.view(), fp.view(), labels.view(), lp.view(), g),
        || loss.forward_backward(logits.view(), fp.view(), labels.view(), lp.view()),
    )
}

fn keras_ctc<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = keras::Ctc::new().reduction(c.reduction());
    let (t, p) = (c.int("y_true"), c.float("y_pred"));
    finish_ctc(c, "y_pred", || loss.forward(t.view(), p.view()), |g| loss.backward(t.view(), p.view(), g), || loss.forward_backward(t.view(), p.view()))
}
