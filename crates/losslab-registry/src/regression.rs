//! PyTorch's regression losses.

use super::call::{Call, Output};
use super::{eval, float, opt, promoted, Framework, LossSpec, OptionType};
use crate::tensor::FloatElement;
use crate::Result;
use losslab::{HuberLoss, L1Loss, MseLoss, Reduction, SmoothL1Loss};

// PyTorch promotes an integer input or target to the other's float dtype
// (huber_loss refuses an integer input: its output takes the input's dtype).
const INPUT: super::TensorSpec = promoted("input", "the prediction, any shape");
const FLOAT_INPUT: super::TensorSpec = float("input", "the prediction, any shape");
const TARGET: super::TensorSpec = promoted("target", "the target: a shape that broadcasts with input's (PyTorch's broadcasting; the result has the broadcast shape)");

pub(super) const LOSSES: &[LossSpec] = &[
    LossSpec {
        framework: Framework::Torch,
        name: "mse_loss",
        summary: "Mean squared error (L2): (input − target)²",
        tensors: &[INPUT, TARGET],
        options: &[],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "target"],
        eval: eval!(mse),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "l1_loss",
        summary: "Mean absolute error (L1): |input − target|",
        tensors: &[INPUT, TARGET],
        options: &[],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "target"],
        eval: eval!(l1),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "smooth_l1_loss",
        summary: "Smooth L1: quadratic within beta of the target, linear beyond",
        tensors: &[INPUT, TARGET],
        options: &[opt("beta", OptionType::Float, "1.0", "where the loss turns from quadratic to linear (>= 0; 0 is L1)")],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "target"],
        eval: eval!(smooth_l1),
    },
    LossSpec {
        framework: Framework::Torch,
        name: "huber_loss",
        summary: "Huber: quadratic within delta of the target, linear with slope delta beyond",
        tensors: &[FLOAT_INPUT, TARGET],
        options: &[opt("delta", OptionType::Float, "1.0", "where the loss turns from quadratic to linear (> 0)")],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "target"],
        eval: eval!(huber),
    },
];

fn mse<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = MseLoss::new().reduction(c.reduction());
    let (x, y) = (c.float("input"), c.float("target"));
    c.finish_once(("input", Some("target")), || loss.forward(x.view(), y.view()), || loss.forward_backward(x.view(), y.view()), |g| loss.backward(x.view(), y.view(), g))
}

fn l1<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = L1Loss::new().reduction(c.reduction());
    let (x, y) = (c.float("input"), c.float("target"));
    c.finish_once(("input", Some("target")), || loss.forward(x.view(), y.view()), || loss.forward_backward(x.view(), y.view()), |g| loss.backward(x.view(), y.view(), g))
}

fn smooth_l1<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = SmoothL1Loss::new().reduction(c.reduction()).beta(c.f64("beta"));
    let (x, y) = (c.float("input"), c.float("target"));
    c.finish_once(("input", Some("target")), || loss.forward(x.view(), y.view()), || loss.forward_backward(x.view(), y.view()), |g| loss.backward(x.view(), y.view(), g))
}

fn huber<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = HuberLoss::new().reduction(c.reduction()).delta(c.f64("delta"));
    let (x, y) = (c.float("input"), c.float("target"));
    c.finish_once(("input", Some("target")), || loss.forward(x.view(), y.view()), || loss.forward_backward(x.view(), y.view()), |g| loss.backward(x.view(), y.view(), g))
}
