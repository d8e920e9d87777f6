//! pytorch-metric-learning (`pytorch_metric_learning.losses`): deep metric learning's losses as pml's loss objects compute them: every loss of the registry's `pml:` names, under
//! snake-case names of pml's classes, each with its parameters struct (pml's class name).
//!
//! Nothing is implemented here: each name is re-exported from the family that
//! implements its mathematics.
//!
//! | function | parameters | family |
//! |---|---|---|
//! | [`arc_face`] | [`ArcFaceLoss`] | [`metric`](crate::metric) |
//! | [`cos_face`] | [`CosFaceLoss`] | [`metric`](crate::metric) |
//! | [`sphere_face`] | [`SphereFaceLoss`] | [`metric`](crate::metric) |
//! | [`sup_con`] | [`SupConLoss`] | [`metric`](crate::metric) |
//! | [`multi_similarity`] | [`MultiSimilarityLoss`] | [`metric`](crate::metric) |
//! | [`circle`] | [`CircleLoss`] | [`metric`](crate::metric) |
//! | [`lifted_structure`] | [`LiftedStructureLoss`] | [`metric`](crate::metric) |
//! | [`generalized_lifted_structure`] | [`GeneralizedLiftedStructureLoss`] | [`metric`](crate::metric) |
//! | [`n_pairs`] | [`NPairsLoss`] | [`metric`](crate::metric) |

crate::machinery::methods::face! {
    arc_face = metric::arc_face, ArcFaceLoss = metric::ArcFaceLoss;
    cos_face = metric::cos_face, CosFaceLoss = metric::CosFaceLoss;
    sphere_face = metric::sphere_face, SphereFaceLoss = metric::SphereFaceLoss;
    sup_con = metric::sup_con, SupConLoss = metric::SupConLoss;
    multi_similarity = metric::multi_similarity, MultiSimilarityLoss = metric::MultiSimilarityLoss;
    circle = metric::circle, CircleLoss = metric::CircleLoss;
    lifted_structure = metric::lifted_structure, LiftedStructureLoss = metric::LiftedStructureLoss;
    generalized_lifted_structure = metric::generalized_lifted_structure, GeneralizedLiftedStructureLoss = metric::GeneralizedLiftedStructureLoss;
    n_pairs = metric::n_pairs, NPairsLoss = metric::NPairsLoss;
}

// The types these losses take and return.
pub use crate::metric::{MetricGradients, MetricReducer};
