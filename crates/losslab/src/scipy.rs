//! SciPy (`scipy.stats`, 1.17): every loss of the registry's `scipy:` names, under the
//! reference's own function names, each with its parameters struct.
//!
//! Nothing is implemented here: each name is re-exported from the family that
//! implements its mathematics.
//!
//! | function | parameters | family |
//! |---|---|---|
//! | [`entropy`] | [`Entropy`] | [`information`](crate::information) |

crate::machinery::methods::face! {
    entropy = information::scipy_entropy, Entropy = information::ScipyEntropy;
}
