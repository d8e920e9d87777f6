//! Hugging Face diffusers (`diffusers.training_utils`): the noise-level weightings of diffusion training: every loss of the registry's `diffusers:` names, under the
//! reference's own function names, each with its parameters struct.
//!
//! Nothing is implemented here: each name is re-exported from the family that
//! implements its mathematics.
//!
//! | function | parameters | family |
//! |---|---|---|
//! | [`min_snr_loss`] | [`MinSnrLoss`] | [`generative`](crate::generative) |

crate::machinery::methods::face! {
    min_snr_loss = generative::min_snr_loss, MinSnrLoss = generative::MinSnrLoss;
}

// The options these losses take.
pub use crate::generative::PredictionType;
