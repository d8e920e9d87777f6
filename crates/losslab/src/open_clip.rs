//! OpenCLIP (`open_clip.loss`): contrastive image-text pretraining: every loss of the registry's `open_clip:` names, under the
//! reference's own function names, each with its parameters struct.
//!
//! Nothing is implemented here: each name is re-exported from the family that
//! implements its mathematics.
//!
//! | function | parameters | family |
//! |---|---|---|

crate::machinery::methods::face! {
}
