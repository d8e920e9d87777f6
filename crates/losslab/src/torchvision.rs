//! torchvision (`torchvision.ops`, 0.29): every loss of the registry's `torchvision:` names, under the
//! reference's own function names, each with its parameters struct.
//!
//! Nothing is implemented here: each name is re-exported from the family that
//! implements its mathematics.
//!
//! | function | parameters | family |
//! |---|---|---|
//! | [`sigmoid_focal_loss`] | [`SigmoidFocalLoss`] | [`detection`](crate::detection) |
//! | [`generalized_box_iou_loss`] | [`GeneralizedBoxIouLoss`] | [`detection`](crate::detection) |
//! | [`distance_box_iou_loss`] | [`DistanceBoxIouLoss`] | [`detection`](crate::detection) |
//! | [`complete_box_iou_loss`] | [`CompleteBoxIouLoss`] | [`detection`](crate::detection) |

crate::machinery::methods::face! {
    sigmoid_focal_loss = detection::sigmoid_focal_loss, SigmoidFocalLoss = detection::SigmoidFocalLoss;
    generalized_box_iou_loss = detection::generalized_box_iou_loss, GeneralizedBoxIouLoss = detection::GeneralizedBoxIouLoss;
    distance_box_iou_loss = detection::distance_box_iou_loss, DistanceBoxIouLoss = detection::DistanceBoxIouLoss;
    complete_box_iou_loss = detection::complete_box_iou_loss, CompleteBoxIouLoss = detection::CompleteBoxIouLoss;
}
