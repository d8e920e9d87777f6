//! torchaudio (`torchaudio.functional`): every loss of the registry's `torchaudio:` names, under the
//! reference's own function names, each with its parameters struct.
//!
//! Nothing is implemented here: each name is re-exported from the family that
//! implements its mathematics.
//!
//! | function | parameters | family |
//! |---|---|---|
//! | [`rnnt_loss`] | [`RnntLoss`] | [`sequence`](crate::sequence) |

crate::machinery::methods::face! {
    rnnt_loss = sequence::rnnt_loss, RnntLoss = sequence::RnntLoss;
}
