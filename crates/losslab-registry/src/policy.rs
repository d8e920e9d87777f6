//! Policy-gradient objectives of RL fine-tuning: TRL's GRPO loss (`trl:grpo_loss`,
//! every `loss_type`) and PPO's clipped surrogate (`losslab:ppo_clip_loss`), on
//! per-token log-probabilities. Both return one scalar (no reduction argument).

use super::call::{Call, Output};
use super::{eval, float, opt, opt_float, opt_promoted, promoted, Framework, LossSpec, OptionType};
use crate::error::fail;
use crate::tensor::FloatElement;
use crate::Result;
use losslab::own::{PpoClipLoss, PpoLevel};
use losslab::trl::{GrpoLoss, GrpoLossType, ImportanceSamplingLevel, PolicyGradients};
use ndarray::{ArrayD, IxDyn};

const LOSS_TYPES: &[&str] = &["grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo", "luspo", "vespo"];

pub(super) const LOSSES: &[LossSpec] = &[
    LossSpec {
        framework: Framework::Trl,
        name: "grpo_loss",
        summary: "TRL GRPOTrainer's loss from per-token log-probs: the clipped ratio objective −min(c₁A, clip(c₁)A) (or CISPO/SAPO/VESPO) + β·k3 KL, normalised as loss_type says",
        tensors: &[
            float("per_token_logps", "the policy's log-probability of each completion token, shape (B, T)"),
            opt_float("old_per_token_logps", "the sampling policy's log-probabilities, (B, T); absent: TRL's per_token_logps.detach() (ratio 1)"),
            float("advantages", "one advantage per completion (B,) (or (B, 1)), or per token (B, T)"),
            promoted("completion_mask", "1 for a completion token, 0 for padding, (B, T) (not differentiated)"),
            opt_float("ref_per_token_logps", "the reference model's log-probabilities, (B, T); needed when beta ≠ 0"),
        ],
        options: &[
            opt("loss_type", OptionType::Choice(LOSS_TYPES), "dapo", "grpo (per-completion mean), bnpo (token mean), dr_grpo (/ B·max_completion_length), dapo (/ num_items_in_batch), cispo, sapo, luspo, vespo"),
            opt("beta", OptionType::Float, "0.0", "the KL coefficient (k3 estimator against ref_per_token_logps)"),
            opt("epsilon", OptionType::Float, "0.2", "ε_low of the clip range [1 − ε_low, 1 + ε_high]"),
            opt("epsilon_high", OptionType::OptionalFloat, "None", "ε_high (None: epsilon); CISPO's cap on the ratio"),
            opt("delta", OptionType::OptionalFloat, "None", "the upper bound of two-sided clipping (None: off)"),
            opt("importance_sampling_level", OptionType::Choice(&["token", "sequence"]), "token", "token: one ratio per token; sequence: exp of each completion's mean log-ratio (GSPO)"),
            opt("max_completion_length", OptionType::Int, "512", "dr_grpo's constant normaliser (with B)"),
            opt("num_items_in_batch", OptionType::OptionalFloat, "None", "the dapo/cispo/vespo normaliser: the generation batch's token count (None: the mask's sum)"),
            opt("use_bias_correction_kl", OptionType::Bool, "True", "multiply the KL term by the importance ratio"),
            opt("sapo_temperature_pos", OptionType::Float, "1.0", "SAPO's temperature for positive advantages"),
            opt("sapo_temperature_neg", OptionType::Float, "1.05", "SAPO's temperature for the others"),
            opt("vespo_k_pos", OptionType::Float, "2.0", "VESPO's k for non-negative advantages"),
            opt("vespo_lambda_pos", OptionType::Float, "3.0", "VESPO's λ for non-negative advantages"),
            opt("vespo_k_neg", OptionType::Float, "3.0", "VESPO's k for negative advantages"),
            opt("vespo_lambda_neg", OptionType::Float, "2.0", "VESPO's λ for negative advantages"),
        ],
        default_reduction: None,
        grads: &["per_token_logps", "old_per_token_logps", "advantages", "ref_per_token_logps"],
        eval: eval!(grpo),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "ppo_clip_loss",
        summary: "PPO's clipped surrogate per token, max(−A·r, −A·clamp(r, 1 − ε_low, 1 + ε_high)) with r = exp(logp − old), the masked token (or sequence) mean",
        tensors: &[
            float("log_probs", "the policy's log-probability of each action (token), shape (B, T)"),
            float("old_log_probs", "the sampling policy's log-probabilities, (B, T)"),
            float("advantages", "one advantage per sequence (B,) (or (B, 1)), or per token (B, T)"),
            opt_promoted("mask", "a weight per token, (B, T): 1 for an action, 0 for padding (default ones; not differentiated)"),
        ],
        options: &[
            opt("clip_epsilon", OptionType::Float, "0.2", "ε_low of the clip range [1 − ε_low, 1 + ε_high]"),
            opt("clip_epsilon_high", OptionType::OptionalFloat, "None", "ε_high (None: clip_epsilon)"),
            opt("level", OptionType::Choice(&["token", "sequence"]), "token", "token: Σ ℓ m / max(Σ m, 1); sequence: the mean over sequences of their masked means"),
        ],
        default_reduction: None,
        grads: &["log_probs", "old_log_probs", "advantages"],
        eval: eval!(ppo),
    },
];

/// The scalar loss under any reduction (the sum and mean of one element are itself).
fn finish<T: FloatElement>(
    c: &Call<'_, T>,
    value: ArrayD<T>,
    names: [&'static str; 4],
    backward: impl FnOnce(ndarray::ArrayViewD<'_, T>) -> losslab::Result<PolicyGradients<T>>,
    aux: Vec<(&'static str, crate::Tensor)>,
) -> Result<Output<T>> {
    if !c.want_grads {
        return Ok(Output { value, grads: vec![], aux });
    }
    let go = c.grad_output_for(&value)?;
    let g = backward(go.view())?;
    let mut grads = vec![(names[0], g.logps), (names[2], g.advantages)];
    grads.extend(g.old_logps.map(|x| (names[1], x)));
    grads.extend(g.ref_logps.map(|x| (names[3], x)));
    Ok(Output { value, grads, aux })
}

fn grpo<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let max_len = c.i64("max_completion_length");
    let Ok(max_len) = usize::try_from(max_len) else {
        fail!(Option, "{}: option `max_completion_length` = {max_len} is invalid: expected a length ≥ 1", c.spec.qualified_name());
    };
    let loss = GrpoLoss::new()
        .loss_type(c.name("loss_type").parse::<GrpoLossType>()?)
        .beta(c.f64("beta"))
        .epsilon(c.f64("epsilon"))
        .epsilon_high(c.opt_f64("epsilon_high"))
        .delta(c.opt_f64("delta"))
        .importance_sampling_level(c.name("importance_sampling_level").parse::<ImportanceSamplingLevel>()?)
        .max_completion_length(max_len)
        .num_items_in_batch(c.opt_f64("num_items_in_batch"))
        .use_bias_correction_kl(c.bool("use_bias_correction_kl"))
        .sapo_temperature_pos(c.f64("sapo_temperature_pos"))
        .sapo_temperature_neg(c.f64("sapo_temperature_neg"))
        .vespo_k_pos(c.f64("vespo_k_pos"))
        .vespo_lambda_pos(c.f64("vespo_lambda_pos"))
        .vespo_k_neg(c.f64("vespo_k_neg"))
        .vespo_lambda_neg(c.f64("vespo_lambda_neg"));
    let (lp, old, adv, m, rf) = (c.float("per_token_logps"), c.opt_float("old_per_token_logps"), c.float("advantages"), c.float("completion_mask"), c.opt_float("ref_per_token_logps"));
    let value = loss.forward(lp.view(), old.clone(), adv.view(), m.view(), rf.clone())?;
    let aux = loss
        .metrics(lp.view(), old.clone(), adv.view(), m.view(), rf.clone())?
        .into_iter()
        .map(|(name, v)| (name, T::into_tensor(ArrayD::from_elem(IxDyn(&[]), T::from_wide(v)))))
        .collect();
    finish(c, value, ["per_token_logps", "old_per_token_logps", "advantages", "ref_per_token_logps"], |g| loss.backward(lp.view(), old, adv.view(), m.view(), rf, g), aux)
}

fn ppo<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = PpoClipLoss::new()
        .clip_epsilon(c.f64("clip_epsilon"))
        .clip_epsilon_high(c.opt_f64("clip_epsilon_high"))
        .level(c.name("level").parse::<PpoLevel>()?);
    let (lp, old, adv, m) = (c.float("log_probs"), c.float("old_log_probs"), c.float("advantages"), c.opt_float("mask"));
    let value = loss.forward(lp.view(), old.view(), adv.view(), m.clone())?;
    finish(c, value, ["log_probs", "old_log_probs", "advantages", ""], |g| loss.backward(lp.view(), old.view(), adv.view(), m, g), vec![])
}
