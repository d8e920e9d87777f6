//! Preference optimisation (`trl:`): TRL 1.16.0's DPO (every loss type but
//! `sft`), CPO/SimPO/AlphaPO, ORPO's odds-ratio term and KTO, from per-sequence
//! log-probabilities of shape `(B,)` (KTO: unpaired, chosen and rejected of
//! their own sizes).

use super::call::{Call, Output};
use super::{eval, float, opt, opt_float, Framework, LossSpec, OptionType};
use crate::tensor::FloatElement;
use crate::Result;
use losslab::trl::{CpoLoss, CpoLossType, DpoLoss, DpoLossType, FDivergence, KtoGradients, KtoLoss, KtoLossType, OddsRatioLoss, PreferenceGradients};
use losslab::Reduction;
use ndarray::ArrayD;

const DPO_TYPES: &[&str] = &[
    "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sigmoid_norm",
];
const BETA: super::OptionSpec = opt("beta", OptionType::Float, "0.1", "β, the temperature of the implicit reward");

pub(super) const LOSSES: &[LossSpec] = &[
    LossSpec {
        framework: Framework::Trl,
        name: "dpo_loss",
        summary: "DPO and its variants as TRL 1.16.0's DPOTrainer computes them (every loss_type but sft): e.g. sigmoid −log σ(β((π_c − ref_c) − (π_r − ref_r))), per pair",
        tensors: &[
            float("chosen_logps", "the policy's log-probabilities of the chosen completions (summed over their tokens), shape (B,)"),
            float("rejected_logps", "the policy's log-probabilities of the rejected completions, shape (B,)"),
            float("ref_chosen_logps", "the reference model's log-probabilities of the chosen completions, shape (B,)"),
            float("ref_rejected_logps", "the reference model's log-probabilities of the rejected completions, shape (B,)"),
            opt_float("chosen_lengths", "the chosen completions' token counts (clamped to ≥ 1), shape (B,): ipo and sigmoid_norm divide the scores by them (absent: 1)"),
            opt_float("rejected_lengths", "the rejected completions' token counts, shape (B,); given with chosen_lengths"),
        ],
        options: &[
            opt("loss_type", OptionType::Choice(DPO_TYPES), "sigmoid", "the objective (DPOConfig.loss_type; sft, the chosen tokens' NLL, is not here)"),
            BETA,
            opt("label_smoothing", OptionType::Float, "0.0", "ε of exo_pair (ε = 0 gives inf), robust, aot and aot_unpaired"),
            opt("discopop_tau", OptionType::Float, "0.05", "τ of discopop"),
            opt(
                "f_divergence_type",
                OptionType::Choice(&["reverse_kl", "forward_kl", "js_divergence", "alpha_divergence"]),
                "reverse_kl",
                "the f-divergence of f-DPO (only with sigmoid, sigmoid_norm, hinge, ipo, exo_pair, robust, discopop)",
            ),
            opt("f_alpha_divergence_coef", OptionType::Float, "0.5", "α of alpha_divergence"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["chosen_logps", "rejected_logps", "ref_chosen_logps", "ref_rejected_logps"],
        eval: eval!(dpo),
    },
    LossSpec {
        framework: Framework::Trl,
        name: "cpo_loss",
        summary: "CPO, SimPO and AlphaPO's preference term as TRL 1.16.0's CPOTrainer.cpo_loss computes it (no reference model; the NLL term is outside)",
        tensors: &[
            float("chosen_logps", "the policy's log-probabilities of the chosen completions, shape (B,): summed, or per-token averaged for ipo and simpo (as TRL passes them)"),
            float("rejected_logps", "the policy's log-probabilities of the rejected completions, shape (B,)"),
        ],
        options: &[
            opt("loss_type", OptionType::Choice(&["sigmoid", "hinge", "ipo", "simpo"]), "sigmoid", "the objective (TRL's alphapo is simpo with alpha ≠ 0 and cpo_alpha = 0)"),
            BETA,
            opt("label_smoothing", OptionType::Float, "0.0", "ε of sigmoid and simpo"),
            opt("simpo_gamma", OptionType::Float, "0.5", "SimPO's target reward margin γ"),
            opt("alpha", OptionType::Float, "0.0", "AlphaPO's α: rewards (1 − p^(−α))/α of p = exp(logps); 0: the log-probabilities"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["chosen_logps", "rejected_logps"],
        eval: eval!(cpo),
    },
    LossSpec {
        framework: Framework::Trl,
        name: "odds_ratio_loss",
        summary: "ORPO's odds-ratio term as TRL 1.16.0's ORPOTrainer.odds_ratio_loss returns it: β · log σ(log odds(π_c) − log odds(π_r)) (≤ 0; TRL subtracts its mean from the NLL)",
        tensors: &[
            float("chosen_logps", "the policy's per-token averaged log-probabilities of the chosen completions, shape (B,), < 0"),
            float("rejected_logps", "the policy's per-token averaged log-probabilities of the rejected completions, shape (B,), < 0"),
        ],
        options: &[BETA],
        default_reduction: Some(Reduction::Mean),
        grads: &["chosen_logps", "rejected_logps"],
        eval: eval!(odds_ratio),
    },
    LossSpec {
        framework: Framework::Trl,
        name: "kto_loss",
        summary: "KTO as TRL 1.16.0's KTOTrainer computes it on an unpaired batch: w_d·(1 − σ(β(l_c − z))) per chosen, w_u·(1 − σ(β(z − l_r))) per rejected, z = the detached KL estimate clamped at 0; nanmean",
        tensors: &[
            float("policy_chosen_logps", "the policy's log-probabilities of the desirable completions (summed over their tokens), shape (B_c,), B_c ≥ 0"),
            float("policy_rejected_logps", "the policy's log-probabilities of the undesirable completions, shape (B_r,), B_r ≥ 0 (independent of B_c)"),
            opt_float("policy_KL_logps", "the policy's log-probabilities of the mismatched KL completions, shape (B_k,); needed by kto (detached: zero gradient)"),
            float("reference_chosen_logps", "the reference model's log-probabilities of the desirable completions, shape (B_c,)"),
            float("reference_rejected_logps", "the reference model's log-probabilities of the undesirable completions, shape (B_r,)"),
            opt_float("reference_KL_logps", "the reference model's log-probabilities of the KL completions, shape (B_k,); given with policy_KL_logps (zero gradient)"),
        ],
        options: &[
            opt("loss_type", OptionType::Choice(&["kto", "apo_zero_unpaired"]), "kto", "the objective (KTOConfig.loss_type); apo_zero_unpaired has no KL term"),
            BETA,
            opt("desirable_weight", OptionType::Float, "1.0", "the weight w_d of the desirable (chosen) losses"),
            opt("undesirable_weight", OptionType::Float, "1.0", "the weight w_u of the undesirable (rejected) losses"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["policy_chosen_logps", "policy_rejected_logps", "policy_KL_logps", "reference_chosen_logps", "reference_rejected_logps", "reference_KL_logps"],
        eval: eval!(kto),
    },
];

fn reduction<T>(c: &Call<'_, T>) -> Reduction {
    c.reduction.unwrap_or(Reduction::Mean)
}

fn named<T>(g: PreferenceGradients<T>) -> Vec<(&'static str, ArrayD<T>)> {
    let mut v = vec![("chosen_logps", g.chosen_logps), ("rejected_logps", g.rejected_logps)];
    v.extend(g.ref_chosen_logps.map(|t| ("ref_chosen_logps", t)));
    v.extend(g.ref_rejected_logps.map(|t| ("ref_rejected_logps", t)));
    v
}

fn dpo<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = DpoLoss::new()
        .reduction(reduction(c))
        .loss_type(c.name("loss_type").parse::<DpoLossType>()?)
        .beta(c.f64("beta"))
        .label_smoothing(c.f64("label_smoothing"))
        .discopop_tau(c.f64("discopop_tau"))
        .f_divergence_type(c.name("f_divergence_type").parse::<FDivergence>()?)
        .f_alpha_divergence_coef(c.f64("f_alpha_divergence_coef"));
    let (pc, pr, rc, rr) = (c.float("chosen_logps"), c.float("rejected_logps"), c.float("ref_chosen_logps"), c.float("ref_rejected_logps"));
    let lengths = match (c.opt_float("chosen_lengths"), c.opt_float("rejected_lengths")) {
        (Some(a), Some(b)) => Some((a, b)),
        (None, None) => None,
        (a, _) => crate::error::fail!(
            MissingTensor,
            "{}: `{}` given without `{}` (give both completion lengths or neither)",
            c.spec.qualified_name(),
            if a.is_some() { "chosen_lengths" } else { "rejected_lengths" },
            if a.is_some() { "rejected_lengths" } else { "chosen_lengths" }
        ),
    };
    let len = || lengths.as_ref().map(|(a, b)| (a.view(), b.view()));
    let value = loss.forward(pc.view(), pr.view(), rc.view(), rr.view(), len())?;
    let (cr, rj) = loss.rewards(pc.view(), pr.view(), rc.view(), rr.view())?;
    let aux = vec![("chosen_rewards", T::into_tensor(cr)), ("rejected_rewards", T::into_tensor(rj))];
    if !c.want_grads {
        return Ok(Output { value, grads: vec![], aux });
    }
    let g = loss.backward(pc.view(), pr.view(), rc.view(), rr.view(), len(), c.grad_output_for(&value)?.view())?;
    Ok(Output { value, grads: named(g), aux })
}

fn cpo<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = CpoLoss::new()
        .reduction(reduction(c))
        .loss_type(c.name("loss_type").parse::<CpoLossType>()?)
        .beta(c.f64("beta"))
        .label_smoothing(c.f64("label_smoothing"))
        .simpo_gamma(c.f64("simpo_gamma"))
        .alpha(c.f64("alpha"));
    let (pc, pr) = (c.float("chosen_logps"), c.float("rejected_logps"));
    let value = loss.forward(pc.view(), pr.view())?;
    let (cr, rj) = loss.rewards(pc.view(), pr.view())?;
    let aux = vec![("chosen_rewards", T::into_tensor(cr)), ("rejected_rewards", T::into_tensor(rj))];
    if !c.want_grads {
        return Ok(Output { value, grads: vec![], aux });
    }
    let g = loss.backward(pc.view(), pr.view(), c.grad_output_for(&value)?.view())?;
    Ok(Output { value, grads: named(g), aux })
}

fn odds_ratio<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = OddsRatioLoss::new().reduction(reduction(c)).beta(c.f64("beta"));
    let (pc, pr) = (c.float("chosen_logps"), c.float("rejected_logps"));
    let value = loss.forward(pc.view(), pr.view())?;
    let (cr, rj, ratio, lo) = loss.terms(pc.view(), pr.view())?;
    let aux = vec![
        ("chosen_rewards", T::into_tensor(cr)),
        ("rejected_rewards", T::into_tensor(rj)),
        ("log_odds_ratio", T::into_tensor(ratio)),
        ("log_odds_chosen", T::into_tensor(lo)),
    ];
    if !c.want_grads {
        return Ok(Output { value, grads: vec![], aux });
    }
    let g = loss.backward(pc.view(), pr.view(), c.grad_output_for(&value)?.view())?;
    Ok(Output { value, grads: named(g), aux })
}

fn kto<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = KtoLoss::new()
        .reduction(reduction(c))
        .loss_type(c.name("loss_type").parse::<KtoLossType>()?)
        .beta(c.f64("beta"))
        .desirable_weight(c.f64("desirable_weight"))
        .undesirable_weight(c.f64("undesirable_weight"));
    let (pc, pr, rc, rr) = (c.float("policy_chosen_logps"), c.float("policy_rejected_logps"), c.float("reference_chosen_logps"), c.float("reference_rejected_logps"));
    let kl = match (c.opt_float("policy_KL_logps"), c.opt_float("reference_KL_logps")) {
        (Some(a), Some(b)) => Some((a, b)),
        (None, None) => None,
        (a, _) => crate::error::fail!(
            MissingTensor,
            "{}: `{}` given without `{}` (give both KL log-probabilities or neither)",
            c.spec.qualified_name(),
            if a.is_some() { "policy_KL_logps" } else { "reference_KL_logps" },
            if a.is_some() { "reference_KL_logps" } else { "policy_KL_logps" }
        ),
    };
    let kl = || kl.as_ref().map(|(a, b)| (a.view(), b.view()));
    let value = loss.forward(pc.view(), pr.view(), rc.view(), rr.view(), kl())?;
    let (cr, rj, z) = loss.terms(pc.view(), pr.view(), rc.view(), rr.view(), kl())?;
    let aux = vec![("chosen_rewards", T::into_tensor(cr)), ("rejected_rewards", T::into_tensor(rj)), ("kl", T::into_tensor(z))];
    if !c.want_grads {
        return Ok(Output { value, grads: vec![], aux });
    }
    let g: KtoGradients<T> = loss.backward(pc.view(), pr.view(), rc.view(), rr.view(), kl(), c.grad_output_for(&value)?.view())?;
    let mut grads = vec![
        ("policy_chosen_logps", g.policy_chosen_logps),
        ("policy_rejected_logps", g.policy_rejected_logps),
        ("reference_chosen_logps", g.reference_chosen_logps),
        ("reference_rejected_logps", g.reference_rejected_logps),
    ];
    grads.extend(g.policy_kl_logps.map(|t| ("policy_KL_logps", t)));
    grads.extend(g.reference_kl_logps.map(|t| ("reference_KL_logps", t)));
    Ok(Output { value, grads, aux })
}
