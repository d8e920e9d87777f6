//! Hugging Face TRL (`trl.trainer`): preference optimisation, policy-gradient objectives and distillation as TRL's trainers compute their losses: every loss of the registry's `trl:` names, under the
//! reference's own function names, each with its parameters struct.
//!
//! Nothing is implemented here: each name is re-exported from the family that
//! implements its mathematics.
//!
//! | function | parameters | family |
//! |---|---|---|
//! | [`dpo_loss`] | [`DpoLoss`] | [`preference`](crate::preference) |
//! | [`cpo_loss`] | [`CpoLoss`] | [`preference`](crate::preference) |
//! | [`odds_ratio_loss`] | [`OddsRatioLoss`] | [`preference`](crate::preference) |
//! | [`kto_loss`] | [`KtoLoss`] | [`preference`](crate::preference) |
//! | [`grpo_loss`] | [`GrpoLoss`] | [`policy`](crate::policy) |
//! | [`generalized_jsd_loss`] | [`GeneralizedJsdLoss`] | [`distillation`](crate::distillation) |

crate::machinery::methods::face! {
    dpo_loss = preference::dpo_loss, DpoLoss = preference::DpoLoss;
    cpo_loss = preference::cpo_loss, CpoLoss = preference::CpoLoss;
    odds_ratio_loss = preference::odds_ratio_loss, OddsRatioLoss = preference::OddsRatioLoss;
    kto_loss = preference::kto_loss, KtoLoss = preference::KtoLoss;
    grpo_loss = policy::grpo_loss, GrpoLoss = policy::GrpoLoss;
    generalized_jsd_loss = distillation::generalized_jsd_loss, GeneralizedJsdLoss = distillation::GeneralizedJsdLoss;
}

// The types these losses take or return.
pub use crate::policy::{GrpoLossType, GrpoMetrics, ImportanceSamplingLevel, PolicyGradients};
pub use crate::distillation::DistillationGradients;
pub use crate::preference::{CpoLossType, DpoLossType, FDivergence, KtoGradients, KtoLossType, KtoTerms, OddsRatioTerms, PreferenceGradients};
