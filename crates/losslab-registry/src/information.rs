//! Information theory: PyTorch's `kl_div`, SciPy's `entropy`, and losslab's
//! own information functions.

use super::call::{Call, Output};
use super::{eval, float, opt, opt_float, Framework, LossSpec, OptionSpec, OptionType, TensorSpec};
use crate::tensor::FloatElement;
use crate::Result;
use losslab::information as info;
use losslab::{Gradients, KlDivLoss, Reduction};
use losslab::scipy;
use ndarray::{ArrayD, ArrayViewD, Zip};

const BASE: OptionSpec = opt("base", OptionType::OptionalFloat, "None", "the logarithm's base (None: nats; 2: bits)");
const AXIS: OptionSpec = opt("axis", OptionType::Axis, "-1", "the axis the sums run along (the result loses it)");
const P: TensorSpec = float("p", "probabilities, any shape");
const P_DIST: TensorSpec = float("p", "the true distribution(s), summing to 1 along axis");
const Q_DIST: TensorSpec = float("q", "the predicted distribution(s), p's shape");

pub(super) const LOSSES: &[LossSpec] = &[
    LossSpec {
        framework: Framework::Torch,
        name: "kl_div",
        summary: "KL divergence loss of log-probabilities input against target: target·(log target − input)",
        tensors: &[
            float("input", "log-probabilities, any shape"),
            float("target", "probabilities (log-probabilities with log_target): a shape that broadcasts with input's (PyTorch's broadcasting; the result has the broadcast shape)"),
        ],
        options: &[opt("log_target", OptionType::Bool, "False", "whether target holds log-probabilities")],
        default_reduction: Some(Reduction::Mean),
        grads: &["input", "target"],
        eval: eval!(kl_div),
    },
    LossSpec {
        framework: Framework::Scipy,
        name: "entropy",
        summary: "scipy.stats.entropy: entropy of pk, or KL(pk‖qk) with qk, each normalised along axis",
        tensors: &[
            float("pk", "(unnormalised) probabilities, any shape"),
            opt_float("qk", "(unnormalised) probabilities to compare with, pk's shape"),
        ],
        options: &[BASE, opt("axis", OptionType::Axis, "0", "the axis the sums run along (the result loses it)")],
        default_reduction: None,
        grads: &["pk", "qk"],
        eval: eval!(scipy_entropy),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "self_information",
        summary: "Self-information −log p, element-wise",
        tensors: &[P],
        options: &[BASE],
        default_reduction: None,
        grads: &["p"],
        eval: eval!(self_information),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "entropy",
        summary: "Shannon entropy −Σ p log p along axis (not normalised)",
        tensors: &[P_DIST],
        options: &[AXIS, BASE],
        default_reduction: None,
        grads: &["p"],
        eval: eval!(entropy),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "binary_entropy",
        summary: "Entropy of a Bernoulli event −p log p − (1 − p) log(1 − p), element-wise",
        tensors: &[P],
        options: &[BASE],
        default_reduction: None,
        grads: &["p"],
        eval: eval!(binary_entropy),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "cross_entropy",
        summary: "Cross entropy −Σ p log q of distributions along axis",
        tensors: &[P_DIST, Q_DIST],
        options: &[AXIS, BASE],
        default_reduction: None,
        grads: &["p", "q"],
        eval: eval!(cross_entropy),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "kl_divergence",
        summary: "Kullback–Leibler divergence Σ p log(p/q) along axis",
        tensors: &[P_DIST, Q_DIST],
        options: &[AXIS, BASE],
        default_reduction: None,
        grads: &["p", "q"],
        eval: eval!(kl_divergence),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "js_divergence",
        summary: "Jensen–Shannon divergence ½ KL(p‖m) + ½ KL(q‖m), m = ½ (p + q), along axis",
        tensors: &[P_DIST, Q_DIST],
        options: &[AXIS, BASE],
        default_reduction: None,
        grads: &["p", "q"],
        eval: eval!(js_divergence),
    },
];

fn kl_div<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = KlDivLoss::new().reduction(c.reduction()).log_target(c.bool("log_target"));
    let (x, y) = (c.float("input"), c.float("target"));
    c.finish_once(("input", Some("target")), || loss.forward(x.view(), y.view()), || loss.forward_backward(x.view(), y.view()), |g| loss.backward(x.view(), y.view(), g))
}

fn scipy_entropy<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = scipy::Entropy::new().reduction(c.reduction()).base(c.opt_f64("base")).axis(c.axis("axis")?);
    let (pk, qk) = (c.float("pk"), c.opt_float("qk"));
    let value = loss.forward(pk.view(), qk.as_ref().map(|q| q.view()))?;
    // With qk, `input` is ∂/∂qk and `target` ∂/∂pk; without it, `input` is ∂/∂pk.
    let names = if qk.is_some() { ("qk", Some("pk")) } else { ("pk", None) };
    c.finish(value, names, |g| loss.backward(pk.view(), qk.as_ref().map(|q| q.view()), g))
}

/// `∂/∂p` from the closed form `d(p)` (in nats), scaled by the upstream gradient and the base.
fn elementwise_grad<T: FloatElement>(p: &ArrayViewD<'_, T>, g: &ArrayViewD<'_, T>, base: Option<f64>, d: impl Fn(f64) -> f64) -> ArrayD<T> {
    let ln_b = base.map_or(1.0, f64::ln);
    let mut out = ArrayD::from_elem(p.shape(), T::zero());
    Zip::from(&mut out).and(p).and(g).for_each(|o, &p, &g| *o = T::from_wide(g.to_wide() * d(p.to_wide()) / ln_b));
    out
}

fn self_information<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let (p, base) = (c.float("p"), c.opt_f64("base"));
    // ∂(−ln p)/∂p = −1/p: −∞ at p = 0 (the one-sided limit), NaN for p < 0 (outside the domain).
    c.finish_unreduced(info::self_information(p.view(), base)?, ("p", None), |g| {
        let d = |p: f64| if p < 0.0 { f64::NAN } else { -1.0 / p };
        Ok(Gradients { input: elementwise_grad(&p, &g, base, d), target: None })
    })
}

fn binary_entropy<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let (p, base) = (c.float("p"), c.opt_f64("base"));
    // ∂H/∂p = ln((1 − p)/p): +∞ at p = 0, −∞ at p = 1, NaN outside [0, 1].
    c.finish_unreduced(info::binary_entropy(p.view(), base)?, ("p", None), |g| {
        let d = |p: f64| if (0.0..=1.0).contains(&p) { (-p).ln_1p() - p.ln() } else { f64::NAN };
        Ok(Gradients { input: elementwise_grad(&p, &g, base, d), target: None })
    })
}

fn entropy<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let (p, axis, base) = (c.float("p"), c.axis("axis")?, c.opt_f64("base"));
    c.finish_unreduced(info::entropy(p.view(), axis, base)?, ("p", None), |g| {
        Ok(Gradients { input: info::entropy_backward(p.view(), axis, base, g)?, target: None })
    })
}

fn cross_entropy<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let (p, q, axis, base) = (c.float("p"), c.float("q"), c.axis("axis")?, c.opt_f64("base"));
    c.finish_unreduced(info::cross_entropy(p.view(), q.view(), axis, base)?, ("q", Some("p")), |g| {
        Ok(info::cross_entropy_backward(p.view(), q.view(), axis, base, g)?)
    })
}

fn kl_divergence<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let (p, q, axis, base) = (c.float("p"), c.float("q"), c.axis("axis")?, c.opt_f64("base"));
    c.finish_unreduced(info::kl_divergence(p.view(), q.view(), axis, base)?, ("q", Some("p")), |g| {
        Ok(info::kl_divergence_backward(p.view(), q.view(), axis, base, g)?)
    })
}

fn js_divergence<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let (p, q, axis, base) = (c.float("p"), c.float("q"), c.axis("axis")?, c.opt_f64("base"));
    c.finish_unreduced(info::js_divergence(p.view(), q.view(), axis, base)?, ("q", Some("p")), |g| {
        Ok(info::js_divergence_backward(p.view(), q.view(), axis, base, g)?)
    })
}
