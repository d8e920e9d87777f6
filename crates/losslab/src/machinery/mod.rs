//! The machinery under the families: errors, the float traits, shape checks,
//! broadcasting (shapes → the broadcast shape, each operand's reads, and its
//! gradient summed back to its own shape), the element-wise and per-lane evaluation loops, reductions and the upstream
//! gradient. A family states its mathematics (the value and its derivatives)
//! and its checks; the loops, reductions and method boilerplate live here.

pub(crate) mod broadcast;
pub(crate) mod clip;
pub(crate) mod error;
pub(crate) mod float;
pub(crate) mod fresh;
pub(crate) mod kernels;
pub(crate) mod lanes;
pub(crate) mod methods;
pub(crate) mod pointwise;
pub(crate) mod reduction;
pub(crate) mod vmath;
