//! OpenCLIP (`open_clip.loss`): contrastive image-text pretraining: every loss of the registry's `open_clip:` names, under the
//! reference's own function names, each with its parameters struct.
//!
//! Nothing is implemented here: each name is re-exported from the family that
//! implements its mathematics.
//!
//! | function | parameters | family |
//! |---|---|---|
//! | [`clip_loss`] | [`ClipLoss`] | [`contrastive`](crate::contrastive) |
//! | [`siglip_loss`] | [`SigLipLoss`] | [`contrastive`](crate::contrastive) |

crate::machinery::methods::face! {
    clip_loss = contrastive::clip_loss, ClipLoss = contrastive::ClipLoss;
    siglip_loss = contrastive::siglip_loss, SigLipLoss = contrastive::SigLipLoss;
}

// The types these losses return.
pub use crate::contrastive::ContrastiveGradients;
