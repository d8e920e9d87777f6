//! Detection and segmentation losses (torchvision, Keras, optax) and losslab's
//! own softmax focal, quantile, Jaccard and Lovász-softmax losses: gradients by
//! finite differences in f64, every reduction, identities and edge cases.
//! Values against the references are in the golden suite (detseg.json).

use crate::common;

use common::{assert_close, check_gradient, dot, Rng};
use losslab::{BinaryCrossEntropyWithLogits, BinaryDiceLoss, CompleteBoxIouLoss, CrossEntropyLoss, DiceLoss, DistanceBoxIouLoss, GeneralizedBoxIouLoss, Gradients, JaccardLoss, L1Loss, LossError, LovaszClasses, LovaszSoftmax, MulticlassGeneralizedDiceLoss, QuantileLoss, Reduction, SigmoidFocalLoss, SoftmaxFocalLoss};
use losslab::segmentation::{KerasDice, KerasTversky};
use ndarray::{arr1, arr2, ArrayD, IxDyn};

type Fwd<'a> = Box<dyn Fn(&ArrayD<f64>, &ArrayD<f64>) -> ArrayD<f64> + 'a>;
type Bwd<'a> = Box<dyn Fn(&ArrayD<f64>, &ArrayD<f64>, &ArrayD<f64>) -> (ArrayD<f64>, ArrayD<f64>) + 'a>;

/// Checks the gradients of `Σ g · f(a, b)` with respect to `a` and `b` (`bwd`
/// returns them in that order) by central differences, with a random `g` for
/// an unreduced result and 1.3 for a scalar.
fn fd_pair(name: &str, fwd: Fwd<'_>, bwd: Bwd<'_>, a: &ArrayD<f64>, b: &ArrayD<f64>, rng: &mut Rng) {
    let shape = fwd(a, b).shape().to_vec();
    let g = if shape.is_empty() { ArrayD::from_elem(IxDyn(&[]), 1.3) } else { rng.array(&shape, -1.0, 1.0) };
    let (ga, gb) = bwd(a, b, &g);
    check_gradient(&format!("{name} d/da"), a, &ga, |a| dot(&g, &fwd(a, b)));
    check_gradient(&format!("{name} d/db"), b, &gb, |b| dot(&g, &fwd(a, b)));
}

fn both(g: Gradients<f64>) -> (ArrayD<f64>, ArrayD<f64>) {
    (g.input, g.target.expect("a target gradient"))
}

fn row(a: &ArrayD<f64>, i: usize) -> Vec<f64> {
    a.index_axis(ndarray::Axis(0), i).iter().copied().collect()
}

fn binary(rng: &mut Rng, shape: &[usize]) -> ArrayD<f64> {
    rng.array(shape, 0.0, 1.0).mapv(|v| if v > 0.5 { 1.0 } else { 0.0 })
}

// ----------------------------------------------------------------------------------
// torchvision: sigmoid focal loss

#[test]
fn sigmoid_focal_gradients_match_finite_differences() {
    let mut rng = Rng::new(301);
    for shape in [vec![], vec![6], vec![2, 3, 2]] {
        let x = rng.array(&shape, -4.0, 4.0);
        let y = rng.array(&shape, 0.05, 0.95);
        for r in Reduction::ALL {
            for (alpha, gamma) in [(0.25, 2.0), (-1.0, 2.0), (0.8, 0.5), (0.5, 0.0), (-1.0, 3.0), (1.0, 1.0)] {
                let l = SigmoidFocalLoss::new().alpha(alpha).gamma(gamma).reduction(r);
                fd_pair(
                    &format!("focal α={alpha} γ={gamma} {r}"),
                    Box::new(|a, b| l.forward(a.view(), b.view()).unwrap()),
                    Box::new(|a, b, g| both(l.backward(a.view(), b.view(), g.view()).unwrap())),
                    &x,
                    &y,
                    &mut rng,
                );
            }
        }
    }
}

#[test]
fn sigmoid_focal_with_gamma_zero_and_no_alpha_is_bce_with_logits() {
    let mut rng = Rng::new(302);
    let x = rng.array(&[4, 5], -6.0, 6.0);
    let y = rng.array(&[4, 5], 0.0, 1.0);
    for r in Reduction::ALL {
        let (a, ga) = SigmoidFocalLoss::new().alpha(-1.0).gamma(0.0).reduction(r).forward_backward(x.view(), y.view()).unwrap();
        let (b, gb) = BinaryCrossEntropyWithLogits::new().reduction(r).forward_backward(x.view(), y.view()).unwrap();
        assert_close("value", &a, &b, 1e-14);
        assert_close("d/dinput", &ga.input, &gb.input, 1e-14);
        assert_close("d/dtarget", ga.target.as_ref().unwrap(), gb.target.as_ref().unwrap(), 1e-14);
    }
}

#[test]
fn sigmoid_focal_saturated_sigmoids_stay_finite() {
    // σ(±40) rounds to 1/0 in f64 and σ(±800) underflows: the focal factor is
    // exactly 0 for the easy examples and the hard ones cost α_t · |x|.
    let x = arr1(&[40.0f64, -40.0, 800.0, -800.0, 800.0, -800.0]);
    let y = arr1(&[1.0f64, 0.0, 1.0, 0.0, 0.0, 1.0]);
    let (l, g) = SigmoidFocalLoss::new().forward_backward(x.view(), y.view()).unwrap();
    assert_eq!(l, arr1(&[0.0, 0.0, 0.0, 0.0, 0.75 * 800.0, 0.25 * 800.0]).into_dyn());
    assert!(g.input.iter().chain(g.target.as_ref().unwrap().iter()).all(|v| v.is_finite()));
    // the hard positive at −800: ∂/∂x = α (σ(x) − 1) = −0.25
    assert_eq!(g.input[[5]], -0.25);
}

#[test]
fn sigmoid_focal_errors_and_defaults() {
    let x = arr1(&[0.0f64]);
    let e = SigmoidFocalLoss::new().alpha(1.5).forward(x.view(), x.view()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sigmoid_focal_loss: option `alpha` = 1.5 is invalid: expected a number in [0, 1], or -1 for no weighting"
    );
    let e = SigmoidFocalLoss::new().forward(arr1(&[0.0f64, 1.0]).view(), x.view()).unwrap_err();
    assert_eq!(e.to_string(), "sigmoid_focal_loss: `targets` has shape [1], expected [2] (the shape of `inputs`)");
    let d = SigmoidFocalLoss::new();
    assert_eq!((d.alpha, d.gamma, d.reduction), (0.25, 2.0, Reduction::None));
    // an empty batch: mean NaN (torch's .mean()), sum 0
    let e0 = ArrayD::<f64>::zeros(IxDyn(&[0, 3]));
    assert!(SigmoidFocalLoss::new().reduction(Reduction::Mean).forward(e0.view(), e0.view()).unwrap()[[]].is_nan());
    assert_eq!(SigmoidFocalLoss::new().reduction(Reduction::Sum).forward(e0.view(), e0.view()).unwrap()[[]], 0.0);
}

// ----------------------------------------------------------------------------------
// torchvision: box IoU losses

fn random_boxes(rng: &mut Rng, n: usize, lo: f64, hi: f64) -> ArrayD<f64> {
    let mut b = ArrayD::zeros(IxDyn(&[n, 4]));
    for i in 0..n {
        let (x, y) = (rng.range(lo, hi), rng.range(lo, hi));
        let (w, h) = (rng.range(0.5, 5.0), rng.range(0.5, 5.0));
        b[[i, 0]] = x;
        b[[i, 1]] = y;
        b[[i, 2]] = x + w;
        b[[i, 3]] = y + h;
    }
    b
}

/// CIoU's aspect term v, written from the paper.
fn aspect_v(b1: &[f64], b2: &[f64]) -> f64 {
    let at = |b: &[f64]| ((b[2] - b[0]) / (b[3] - b[1])).atan();
    4.0 / std::f64::consts::PI.powi(2) * (at(b2) - at(b1)).powi(2)
}

#[test]
fn box_losses_gradients_match_finite_differences() {
    let mut rng = Rng::new(311);
    for r in Reduction::ALL {
        // overlapping (close) and disjoint (far apart) pairs, no tied edges
        for (lo2, hi2) in [(0.0, 6.0), (30.0, 40.0)] {
            let a = random_boxes(&mut rng, 5, 0.0, 6.0);
            let b = random_boxes(&mut rng, 5, lo2, hi2);
            for eps in [1e-7, 0.3] {
                let giou = GeneralizedBoxIouLoss::new().reduction(r).eps(eps);
                fd_pair(
                    "giou",
                    Box::new(|a, b| giou.forward(a.view(), b.view()).unwrap()),
                    Box::new(|a, b, g| both(giou.backward(a.view(), b.view(), g.view()).unwrap())),
                    &a,
                    &b,
                    &mut rng,
                );
                let diou = DistanceBoxIouLoss::new().reduction(r).eps(eps);
                fd_pair(
                    "diou",
                    Box::new(|a, b| diou.forward(a.view(), b.view()).unwrap()),
                    Box::new(|a, b, g| both(diou.backward(a.view(), b.view(), g.view()).unwrap())),
                    &a,
                    &b,
                    &mut rng,
                );
            }
        }
    }
}

#[test]
fn ciou_gradient_holds_alpha_constant() {
    // torchvision computes α = v / (1 − IoU + v + eps) under no_grad: the gradient is
    // that of DIoU + α₀·v with α₀ frozen at the point, not of the full formula.
    let mut rng = Rng::new(312);
    let a = random_boxes(&mut rng, 4, 0.0, 4.0);
    let b = random_boxes(&mut rng, 4, 0.0, 4.0);
    let eps = 0.25;
    let ciou = CompleteBoxIouLoss::new().eps(eps);
    let diou = DistanceBoxIouLoss::new(); // CIoU's DIoU part always uses eps = 1e-7
    let g = rng.array(&[4], -1.0, 1.0);
    let grads = ciou.backward(a.view(), b.view(), g.view()).unwrap();
    let alpha0: Vec<f64> = (0..4)
        .map(|i| {
            let (p, q) = (row(&a, i), row(&b, i));
            let v = aspect_v(&p, &q);
            let iou = {
                let iw = (p[2].min(q[2]) - p[0].max(q[0])).max(0.0);
                let ih = (p[3].min(q[3]) - p[1].max(q[1])).max(0.0);
                let inter = iw * ih;
                let union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter;
                inter / (union + 1e-7)
            };
            v / (1.0 - iou + v + eps)
        })
        .collect();
    let frozen = |a: &ArrayD<f64>, b: &ArrayD<f64>| {
        let d = diou.forward(a.view(), b.view()).unwrap();
        (0..4).map(|i| g[i] * (d[i] + alpha0[i] * aspect_v(&row(a, i), &row(b, i)))).sum::<f64>()
    };
    check_gradient("ciou d/dboxes1", &a, &grads.input, |x| frozen(x, &b));
    check_gradient("ciou d/dboxes2", &b, grads.target.as_ref().unwrap(), |x| frozen(&a, x));
    // and the value is DIoU + α₀·v
    let c = ciou.forward(a.view(), b.view()).unwrap();
    let d = diou.forward(a.view(), b.view()).unwrap();
    for i in 0..4 {
        let want = d[i] + alpha0[i] * aspect_v(&row(&a, i), &row(&b, i));
        assert!((c[i] - want).abs() <= 1e-14, "{} vs {want}", c[i]);
    }
}

#[test]
fn ciou_eps_only_enters_alpha() {
    // Same aspect ratio: v = 0, so CIoU is DIoU with torchvision's default eps, whatever eps is given.
    let a = arr2(&[[0.0f64, 0.0, 2.0, 1.0], [1.0, 1.0, 3.0, 2.0]]).into_dyn();
    let b = arr2(&[[1.0f64, 0.5, 5.0, 2.5], [0.0, 0.0, 2.0, 1.0]]).into_dyn();
    let d = DistanceBoxIouLoss::new().forward(a.view(), b.view()).unwrap();
    for eps in [0.0, 0.5, 3.0] {
        assert_eq!(CompleteBoxIouLoss::new().eps(eps).forward(a.view(), b.view()).unwrap(), d);
    }
    assert_ne!(DistanceBoxIouLoss::new().eps(0.5).forward(a.view(), b.view()).unwrap(), d);
}

#[test]
fn identical_boxes_have_zero_loss_and_symmetric_split_gradients() {
    let mut rng = Rng::new(313);
    let a = random_boxes(&mut rng, 3, 0.0, 10.0);
    for name in ["giou", "diou", "ciou"] {
        let (l, g) = match name {
            "giou" => GeneralizedBoxIouLoss::new().forward_backward(a.view(), a.view()).unwrap(),
            "diou" => DistanceBoxIouLoss::new().forward_backward(a.view(), a.view()).unwrap(),
            _ => CompleteBoxIouLoss::new().forward_backward(a.view(), a.view()).unwrap(),
        };
        for (i, v) in l.iter().enumerate() {
            let area = (a[[i, 2]] - a[[i, 0]]) * (a[[i, 3]] - a[[i, 1]]);
            // 1 − area/(area + eps) (+ 0 for the other terms): eps/(area + eps)
            let want = 1.0 - area / (area + 1e-7);
            let want = if name == "giou" { want + 0.0 / (area + 1e-7) } else { want };
            assert!((v - want).abs() <= 1e-15, "{name}: {v} vs {want}");
        }
        // every edge ties: torch.max/min split the gradient in halves, the same to each box
        assert_eq!(g.input, g.target.unwrap(), "{name}");
    }
}

#[test]
fn zero_area_boxes_follow_torchvision() {
    let pt = arr2(&[[1.0f64, 1.0, 1.0, 1.0]]).into_dyn();
    let sq = arr2(&[[0.0f64, 0.0, 2.0, 2.0]]).into_dyn();
    // a point against itself: I = U = C = 0, the eps keep GIoU at exactly 1 (0/eps terms)
    assert_eq!(GeneralizedBoxIouLoss::new().forward(pt.view(), pt.view()).unwrap()[[0]], 1.0);
    // without eps: 0/0
    assert!(GeneralizedBoxIouLoss::new().eps(0.0).forward(pt.view(), pt.view()).unwrap()[[0]].is_nan());
    // a point inside a square: I = 0, U = 4, C = 4
    let (l, g) = GeneralizedBoxIouLoss::new().forward_backward(pt.view(), sq.view()).unwrap();
    assert!((l[[0]] - 1.0).abs() < 1e-15);
    assert!(g.input.iter().all(|v| v.is_finite()));
    // CIoU: w/h = 0/0 for the point, a NaN loss, as torchvision
    assert!(CompleteBoxIouLoss::new().forward(pt.view(), sq.view()).unwrap()[[0]].is_nan());
    // a zero-height box: atan(w/0) = π/2 in the value, NaN in the gradient (0/0 in w/h's backward)
    let flat = arr2(&[[0.0f64, 0.0, 2.0, 0.0]]).into_dyn();
    let (l, g) = CompleteBoxIouLoss::new().forward_backward(flat.view(), sq.view()).unwrap();
    assert!(l[[0]].is_finite());
    assert!(g.input.iter().any(|v| v.is_nan()));
}

#[test]
fn box_losses_reductions_shapes_and_errors() {
    let mut rng = Rng::new(314);
    let a = random_boxes(&mut rng, 6, 0.0, 5.0).into_shape_with_order(IxDyn(&[2, 3, 4])).unwrap();
    let b = random_boxes(&mut rng, 6, 0.0, 5.0).into_shape_with_order(IxDyn(&[2, 3, 4])).unwrap();
    let none = DistanceBoxIouLoss::new().forward(a.view(), b.view()).unwrap();
    assert_eq!(none.shape(), &[2, 3]);
    let s = DistanceBoxIouLoss::new().reduction(Reduction::Sum).forward(a.view(), b.view()).unwrap()[[]];
    let m = DistanceBoxIouLoss::new().reduction(Reduction::Mean).forward(a.view(), b.view()).unwrap()[[]];
    let bm = DistanceBoxIouLoss::new().reduction(Reduction::BatchMean).forward(a.view(), b.view()).unwrap()[[]];
    assert!((none.sum() - s).abs() < 1e-13 && (m - s / 6.0).abs() < 1e-14 && (bm - s / 2.0).abs() < 1e-14);
    // torchvision: the mean of no boxes is 0
    let e = ArrayD::<f64>::zeros(IxDyn(&[0, 4]));
    assert_eq!(GeneralizedBoxIouLoss::new().reduction(Reduction::Mean).forward(e.view(), e.view()).unwrap()[[]], 0.0);
    let three = ArrayD::<f64>::zeros(IxDyn(&[2, 3]));
    assert_eq!(
        CompleteBoxIouLoss::new().forward(three.view(), three.view()).unwrap_err().to_string(),
        "complete_box_iou_loss: `boxes1` has shape [2, 3], expected (..., 4): boxes (x1, y1, x2, y2) on the last axis"
    );
    let e = GeneralizedBoxIouLoss::new().forward(a.view(), b.slice(ndarray::s![.., ..2, ..]).into_dyn()).unwrap_err();
    assert!(matches!(e, LossError::Shape { tensor: "boxes2", .. }), "{e}");
}

// ----------------------------------------------------------------------------------
// Keras dice and tversky

#[test]
fn keras_overlap_gradients_match_finite_differences() {
    let mut rng = Rng::new(321);
    let yt = rng.array(&[2, 3, 4], 0.0, 1.0);
    let yp = rng.array(&[2, 3, 4], 0.0, 1.0);
    for axis in [None, Some(vec![1, 2]), Some(vec![0]), Some(vec![-1]), Some(vec![0, 1, 2])] {
        for r in Reduction::ALL {
            let d = KerasDice::new().axis(axis.clone()).reduction(r);
            fd_pair(
                "keras dice",
                Box::new(|p, t| d.forward(t.view(), p.view()).unwrap()),
                Box::new(|p, t, g| both(d.backward(t.view(), p.view(), g.view()).unwrap())),
                &yp,
                &yt,
                &mut rng,
            );
            for (alpha, beta) in [(0.5, 0.5), (0.7, 0.3), (0.0, 2.0)] {
                let tv = KerasTversky::new().alpha(alpha).beta(beta).axis(axis.clone()).reduction(r);
                fd_pair(
                    "keras tversky",
                    Box::new(|p, t| tv.forward(t.view(), p.view()).unwrap()),
                    Box::new(|p, t, g| both(tv.backward(t.view(), p.view(), g.view()).unwrap())),
                    &yp,
                    &yt,
                    &mut rng,
                );
            }
        }
    }
}

#[test]
fn keras_dice_reduces_over_the_batch_by_default() {
    // Keras's docstring example: per sample 0.5 and 0.7576, but one scalar 0.6164 for the batch.
    let yt = arr2(&[[1.0f64, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]).into_dyn();
    let yp = arr2(&[[0.0f64, 1.0, 0.0, 1.0], [0.4, 0.0, 0.0, 0.9]]).into_dyn();
    let all = KerasDice::new().forward(yt.view(), yp.view()).unwrap();
    assert_eq!(all.shape(), &[] as &[usize]);
    assert!((all[[]] - (1.0 - 2.0 * 1.4 / (4.0 + 3.3 + 1e-7))).abs() < 1e-15);
    let per = KerasDice::new().axis(Some(vec![1])).forward(yt.view(), yp.view()).unwrap();
    assert!((per[[0]] - (1.0 - 2.0 / (2.0 + 2.0 + 1e-7))).abs() < 1e-15);
    assert!((per[[1]] - (1.0 - 0.8 / (2.0 + 1.3 + 1e-7))).abs() < 1e-15);
    assert!(((per[[0]] + per[[1]]) / 2.0 - all[[]]).abs() > 0.01, "the batch dice is not the mean of the per-sample dice");
}

#[test]
fn keras_perfect_prediction_and_tversky_half_is_dice() {
    let mut rng = Rng::new(322);
    let y = binary(&mut rng, &[3, 8]);
    let s: f64 = y.sum();
    let d = KerasDice::new().forward(y.view(), y.view()).unwrap()[[]];
    assert!((d - (1.0 - 2.0 * s / (2.0 * s + 1e-7))).abs() < 1e-16 && d < 1e-8);
    let t = KerasTversky::new().forward(y.view(), y.view()).unwrap()[[]];
    assert!(t < 1e-8);
    let p = rng.array(&[3, 8], 0.0, 1.0);
    let d = KerasDice::new().forward(y.view(), p.view()).unwrap()[[]];
    let t = KerasTversky::new().forward(y.view(), p.view()).unwrap()[[]];
    assert!((d - t).abs() < 1e-7, "{d} vs {t}: equal but for where eps enters");
    // Keras's alpha weighs Σ(1 − ŷ)·y (missed positives): predicting nothing costs α's term only
    let zero = ArrayD::<f64>::zeros(IxDyn(&[3, 8]));
    let miss = KerasTversky::new().alpha(1.0).beta(0.0).forward(y.view(), zero.view()).unwrap()[[]];
    let miss_b = KerasTversky::new().alpha(0.0).beta(1.0).forward(y.view(), zero.view()).unwrap()[[]];
    assert!((miss - 1.0).abs() < 1e-15);
    assert!((miss_b - 1.0).abs() < 1e-15, "0/(0 + eps) = 0: the loss is 1 either way when nothing is predicted");
    let e = KerasDice::new().axis(Some(vec![2])).forward(y.view(), y.view()).unwrap_err();
    assert_eq!(e.to_string(), "dice: option `axis` = [2] is invalid: expected distinct axes in [-2, 2) for a tensor with 2 dimension(s)");
}

// ----------------------------------------------------------------------------------
// optax dice losses

#[test]
fn optax_dice_gradients_match_finite_differences() {
    let mut rng = Rng::new(331);
    let x = rng.array(&[2, 3, 2, 3], -2.0, 2.0);
    let t = rng.simplex(&[2, 3, 2, 3]);
    let w = arr1(&[0.5f64, 1.5, 2.0]);
    for cr in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        for r in Reduction::ALL {
            let variants = [
                DiceLoss::new(),
                DiceLoss::new().alpha(0.3).beta(0.8).smooth(0.5),
                DiceLoss::new().class_weights(w.view()).ignore_background(true),
                DiceLoss::new().axis(Some(vec![0, 2])),
                DiceLoss::new().axis(Some(vec![])),
            ];
            for d in variants {
                let d = d.class_reduction(cr).reduction(r);
                fd_pair(
                    "optax dice",
                    Box::new(|a, b| d.forward(a.view(), b.view()).unwrap()),
                    Box::new(|a, b, g| both(d.backward(a.view(), b.view(), g.view()).unwrap())),
                    &x,
                    &t,
                    &mut rng,
                );
            }
        }
    }
    // one channel: sigmoid; probabilities (rows summing to 1: FD steps of 1e-6 stay within optax's 1e-5)
    let xb = rng.array(&[2, 5, 1], -3.0, 3.0);
    let tb = binary(&mut rng, &[2, 5, 1]);
    let d = DiceLoss::new();
    fd_pair(
        "optax dice sigmoid",
        Box::new(|a, b| d.forward(a.view(), b.view()).unwrap()),
        Box::new(|a, b, g| both(d.backward(a.view(), b.view(), g.view()).unwrap())),
        &xb,
        &tb,
        &mut rng,
    );
    let p = rng.simplex(&[2, 4, 3]);
    let d = DiceLoss::new().apply_softmax(false).class_reduction(Reduction::None);
    fd_pair(
        "optax dice probabilities",
        Box::new(|a, b| d.forward(a.view(), b.view()).unwrap()),
        Box::new(|a, b, g| both(d.backward(a.view(), b.view(), g.view()).unwrap())),
        &p,
        &rng.simplex(&[2, 4, 3]),
        &mut rng,
    );
}

#[test]
fn optax_binary_and_generalized_dice_gradients_match_finite_differences() {
    let mut rng = Rng::new(332);
    for shape in [vec![6], vec![2, 5], vec![2, 3, 4], vec![2, 3, 1]] {
        let x = rng.array(&shape, -3.0, 3.0);
        let t = rng.array(&shape, 0.0, 1.0);
        for r in Reduction::ALL {
            let b = BinaryDiceLoss::new().smooth(0.7).reduction(r);
            fd_pair(
                "binary dice",
                Box::new(|a, c| b.forward(a.view(), c.view()).unwrap()),
                Box::new(|a, c, g| both(b.backward(a.view(), c.view(), g.view()).unwrap())),
                &x,
                &t,
                &mut rng,
            );
        }
    }
    let x = rng.array(&[2, 4, 3], -2.0, 2.0);
    let t = rng.simplex(&[2, 4, 3]);
    for ib in [false, true] {
        for smooth in [1.0, 0.1] {
            let m = MulticlassGeneralizedDiceLoss::new().ignore_background(ib).smooth(smooth);
            // the target gradient includes the path through the class weights
            fd_pair(
                "generalized dice",
                Box::new(|a, c| m.forward(a.view(), c.view()).unwrap()),
                Box::new(|a, c, g| both(m.backward(a.view(), c.view(), g.view()).unwrap())),
                &x,
                &t,
                &mut rng,
            );
        }
    }
}

#[test]
fn optax_dice_shapes_identities_and_errors() {
    let mut rng = Rng::new(333);
    let x = rng.array(&[2, 3, 4, 3], -2.0, 2.0);
    let t = rng.simplex(&[2, 3, 4, 3]);
    assert_eq!(DiceLoss::new().forward(x.view(), t.view()).unwrap().shape(), &[2]);
    let none = DiceLoss::new().class_reduction(Reduction::None).forward(x.view(), t.view()).unwrap();
    assert_eq!(none.shape(), &[2, 3]);
    let ib = DiceLoss::new().class_reduction(Reduction::None).ignore_background(true).forward(x.view(), t.view()).unwrap();
    assert_eq!(ib, none.slice(ndarray::s![.., 1..]).to_owned().into_dyn());
    let sum = DiceLoss::new().class_reduction(Reduction::Sum).forward(x.view(), t.view()).unwrap();
    assert!((sum[[0]] - row(&none, 0).iter().sum::<f64>()).abs() < 1e-14);
    // binary_dice_loss(x, t) is dice_loss(x[..., None], t[..., None])
    let xb = rng.array(&[2, 5], -2.0, 2.0);
    let tb = binary(&mut rng, &[2, 5]);
    let a = BinaryDiceLoss::new().forward(xb.view(), tb.view()).unwrap();
    let b = DiceLoss::new().forward(xb.view().insert_axis(ndarray::Axis(2)), tb.view().insert_axis(ndarray::Axis(2))).unwrap();
    assert_eq!(a, b);
    // a perfect prediction (probabilities) with smooth = 0 is exactly 0
    let p = binary(&mut rng, &[2, 6]).mapv(|v| v);
    let onehot = ndarray::stack(ndarray::Axis(2), &[p.view(), p.mapv(|v| 1.0 - v).view()]).unwrap().into_dyn();
    let l = DiceLoss::new().apply_softmax(false).smooth(0.0).forward(onehot.view(), onehot.view()).unwrap();
    assert_eq!(l, ArrayD::zeros(IxDyn(&[2])));
    // errors
    let e = DiceLoss::new().apply_softmax(false).forward(x.view(), t.view()).unwrap_err();
    assert!(matches!(e, LossError::Domain { tensor: "predictions", .. }), "{e}");
    let e = BinaryDiceLoss::new().apply_sigmoid(false).forward(arr1(&[0.5f64, 1.0]).view(), arr1(&[1.0f64, 1.0]).view()).unwrap_err();
    assert!(e.to_string().starts_with("binary_dice_loss: `predictions` holds 0.5 at position [0]"), "{e}");
    assert!(BinaryDiceLoss::new().apply_sigmoid(false).forward(arr1(&[1.0f64, 1.0]).view(), arr1(&[1.0f64, 0.0]).view()).is_ok());
    let e = DiceLoss::new().axis(Some(vec![-1])).forward(x.view(), t.view()).unwrap_err();
    assert!(matches!(e, LossError::Unsupported { loss: "dice_loss", .. }), "{e}");
    let e = DiceLoss::new().class_weights(arr1(&[1.0f64, 2.0]).view()).forward(x.view(), t.view()).unwrap_err();
    assert_eq!(e.to_string(), "dice_loss: `class_weights` has shape [2], expected [3] (one weight per class: the size of the last axis)");
    let e = DiceLoss::new().class_reduction(Reduction::BatchMean).forward(x.view(), t.view()).unwrap_err();
    assert!(matches!(e, LossError::Option { option: "class_reduction", .. }));
    let e = MulticlassGeneralizedDiceLoss::new().forward(x.view(), t.slice(ndarray::s![.., .., .., ..2]).into_dyn()).unwrap_err();
    assert!(matches!(e, LossError::Shape { tensor: "targets", .. }), "{e}");
}

#[test]
fn generalized_dice_weights_are_inverse_squared_frequencies() {
    // One sample, probabilities given: dice_c per class, weights ∝ 1/(f_c² + 1e-7), normalised to sum C.
    let p = arr2(&[[0.5f64, 0.5], [0.25, 0.75], [1.0, 0.0]]).into_dyn().insert_axis(ndarray::Axis(0));
    let t = arr2(&[[1.0f64, 0.0], [0.0, 1.0], [1.0, 0.0]]).into_dyn().insert_axis(ndarray::Axis(0));
    let l = MulticlassGeneralizedDiceLoss::new().apply_softmax(false).forward(p.view(), t.view()).unwrap()[[]];
    let dice = |i: f64, ps: f64, ts: f64| 1.0 - (i + 1.0) / (i + 0.5 * (ps - i) + 0.5 * (ts - i) + 1.0);
    let d0 = dice(1.5, 1.75, 2.0);
    let d1 = dice(0.75, 1.25, 1.0);
    let (w0, w1) = (1.0 / (4.0 + 1e-7), 1.0 / (1.0 + 1e-7));
    let (n0, n1) = (2.0 * w0 / (w0 + w1), 2.0 * w1 / (w0 + w1));
    assert!((l - (n0 * d0 + n1 * d1) / 2.0).abs() < 1e-15);
}

// ----------------------------------------------------------------------------------
// losslab: Jaccard, Lovász-softmax, softmax focal, quantile

#[test]
fn jaccard_gradients_and_identities() {
    let mut rng = Rng::new(341);
    let p = rng.array(&[3, 2, 4], 0.0, 1.0);
    let t = binary(&mut rng, &[3, 2, 4]);
    for r in Reduction::ALL {
        for (smooth, axis) in [(1.0, None), (0.0, None), (0.5, Some(vec![0, 2])), (1.0, Some(vec![]))] {
            let j = JaccardLoss::new().reduction(r).smooth(smooth).axis(axis);
            fd_pair(
                "jaccard",
                Box::new(|a, b| j.forward(a.view(), b.view()).unwrap()),
                Box::new(|a, b, g| both(j.backward(a.view(), b.view(), g.view()).unwrap())),
                &p,
                &t,
                &mut rng,
            );
        }
    }
    // perfect prediction: 0; empty target and prediction: 0 with smooth, NaN without
    let l = JaccardLoss::new().reduction(Reduction::None).forward(t.view(), t.view()).unwrap();
    assert!(l.iter().all(|&v| v == 0.0));
    let z = ArrayD::<f64>::zeros(IxDyn(&[2, 3]));
    assert_eq!(JaccardLoss::new().forward(z.view(), z.view()).unwrap()[[]], 0.0);
    assert!(JaccardLoss::new().smooth(0.0).forward(z.view(), z.view()).unwrap()[[]].is_nan());
    let e = JaccardLoss::new().smooth(-1.0).forward(z.view(), z.view()).unwrap_err();
    assert_eq!(e.to_string(), "jaccard_loss: option `smooth` = -1 is invalid: expected a number >= 0");
}

/// Probabilities (N, C, d) with a softmax over axis 1, all errors distinct.
fn probas(rng: &mut Rng, n: usize, c: usize, d: usize) -> ArrayD<f64> {
    let mut x = rng.array(&[n, c, d], -2.0, 2.0);
    for i in 0..n {
        for k in 0..d {
            let s: f64 = (0..c).map(|j| x[[i, j, k]].exp()).sum();
            for j in 0..c {
                x[[i, j, k]] = x[[i, j, k]].exp() / s;
            }
        }
    }
    x
}

#[test]
fn lovasz_gradients_match_finite_differences() {
    let mut rng = Rng::new(351);
    let p = probas(&mut rng, 2, 3, 6);
    let mut labels = ndarray::Array2::<i64>::zeros((2, 6));
    for v in labels.iter_mut() {
        *v = rng.below(2) as i64; // class 2 absent
    }
    labels[[1, 3]] = 9;
    for classes in [LovaszClasses::Present, LovaszClasses::All, LovaszClasses::List(vec![2, 0])] {
        for per_image in [false, true] {
            for r in Reduction::ALL {
                let l = LovaszSoftmax::new().classes(classes.clone()).per_image(per_image).ignore(Some(9)).reduction(r);
                let g = ArrayD::from_elem(IxDyn(&[]), 0.7);
                let grads = l.backward(p.view(), labels.view(), g.view()).unwrap();
                assert!(grads.target.is_none());
                check_gradient("lovasz", &p, &grads.input, |x| 0.7 * l.forward(x.view(), labels.view()).unwrap()[[]]);
            }
        }
    }
}

#[test]
fn lovasz_equals_jaccard_loss_at_hard_predictions() {
    // The Lovász extension agrees with the set function on the vertices: with one-hot
    // probabilities the loss is the mean over present classes of 1 − IoU(predicted, true).
    let mut rng = Rng::new(352);
    let (n, c, d) = (2, 3, 7);
    let mut pred = vec![0usize; n * d];
    let mut lab = ndarray::Array2::<i64>::zeros((n, d));
    for i in 0..n * d {
        pred[i] = rng.below(c);
        lab[[i / d, i % d]] = rng.below(c) as i64;
    }
    let mut p = ArrayD::<f64>::zeros(IxDyn(&[n, c, d]));
    for i in 0..n * d {
        p[[i / d, pred[i], i % d]] = 1.0;
    }
    let mut total = 0.0;
    let mut present = 0.0;
    for k in 0..c {
        let fg: Vec<bool> = lab.iter().map(|&l| l as usize == k).collect();
        if !fg.iter().any(|&f| f) {
            continue;
        }
        let inter = (0..n * d).filter(|&i| fg[i] && pred[i] == k).count() as f64;
        let union = (0..n * d).filter(|&i| fg[i] || pred[i] == k).count() as f64;
        total += 1.0 - inter / union;
        present += 1.0;
    }
    let l = LovaszSoftmax::new().forward(p.view(), lab.view()).unwrap()[[]];
    assert!((l - total / present).abs() < 1e-15, "{l} vs {}", total / present);
    // a perfect prediction has no loss
    let mut perfect = ArrayD::<f64>::zeros(IxDyn(&[n, c, d]));
    for i in 0..n * d {
        perfect[[i / d, lab[[i / d, i % d]] as usize, i % d]] = 1.0;
    }
    assert_eq!(LovaszSoftmax::new().forward(perfect.view(), lab.view()).unwrap()[[]], 0.0);
}

#[test]
fn lovasz_edge_cases_and_errors() {
    let p = arr2(&[[0.7f64, 0.2], [0.3, 0.8]]).into_dyn().insert_axis(ndarray::Axis(0)); // (1, 2, 2)
    // every pixel ignored: 0 with a zero gradient
    let (l, g) = LovaszSoftmax::new().ignore(Some(-1)).forward_backward(p.view(), arr2(&[[-1i64, -1]]).view()).unwrap();
    assert_eq!(l[[]], 0.0);
    assert!(g.input.iter().all(|&v| v == 0.0));
    let e = LovaszSoftmax::new().forward(p.view(), arr2(&[[0i64, 2]]).view()).unwrap_err();
    assert_eq!(e.to_string(), "lovasz_softmax: `labels` holds class index 2 at position [0, 1], outside the valid range [0, 2)");
    let e = LovaszSoftmax::new().classes(LovaszClasses::List(vec![0, 5])).forward(p.view(), arr2(&[[0i64, 1]]).view()).unwrap_err();
    assert!(matches!(e, LossError::Option { option: "classes", .. }), "{e}");
    let e = LovaszSoftmax::new().forward(p.view(), arr1(&[0i64, 1]).view()).unwrap_err();
    assert!(matches!(e, LossError::Shape { tensor: "labels", .. }), "{e}");
}

#[test]
fn softmax_focal_gradients_and_identities() {
    let mut rng = Rng::new(361);
    let x = rng.array(&[4, 3, 2], -3.0, 3.0);
    let mut y = ndarray::Array2::<i64>::zeros((4, 2));
    for v in y.iter_mut() {
        *v = rng.below(3) as i64;
    }
    y[[2, 1]] = -100;
    let alpha = arr1(&[0.2f64, 0.5, 0.9]);
    for r in Reduction::ALL {
        for gamma in [0.0, 0.5, 1.0, 2.0, 3.5] {
            for with_alpha in [false, true] {
                let mut l = SoftmaxFocalLoss::new().gamma(gamma).reduction(r);
                if with_alpha {
                    l = l.alpha(alpha.view());
                }
                let shape = l.forward(x.view(), y.view()).unwrap().shape().to_vec();
                let g = if shape.is_empty() { ArrayD::from_elem(IxDyn(&[]), 1.3) } else { rng.array(&shape, -1.0, 1.0) };
                let grads = l.backward(x.view(), y.view(), g.view()).unwrap();
                check_gradient("softmax focal", &x, &grads.input, |x| dot(&g, &l.forward(x.view(), y.view()).unwrap()));
            }
        }
        // γ = 0, no α: cross entropy, ignored samples included
        let (a, ga) = SoftmaxFocalLoss::new().gamma(0.0).reduction(r).forward_backward(x.view(), y.view()).unwrap();
        let (b, gb) = CrossEntropyLoss::new().reduction(r).forward_backward(x.view(), y.view()).unwrap();
        assert_close("focal γ=0 = CE", &a, &b, 1e-14);
        assert_close("focal γ=0 = CE grad", &ga.input, &gb.input, 1e-13);
    }
}

#[test]
fn softmax_focal_saturated_and_errors() {
    // p = 1 exactly (log p = 0): loss 0 and gradient 0, also for γ < 1 where (1 − p)^(γ − 1) = ∞
    let x = arr2(&[[800.0f64, 0.0, -800.0], [0.0, 0.0, 0.0]]);
    let y = arr1(&[0i64, 1]);
    for gamma in [0.25, 1.0, 2.0] {
        let (l, g) = SoftmaxFocalLoss::new().gamma(gamma).reduction(Reduction::None).forward_backward(x.view(), y.view()).unwrap();
        assert_eq!(l[[0]], 0.0);
        assert!(g.input.iter().all(|v| v.is_finite()), "γ = {gamma}: {:?}", g.input);
        assert_eq!(row(&g.input, 0), vec![0.0, 0.0, 0.0]);
        let want = -(2.0f64 / 3.0).powf(gamma) * (1.0f64 / 3.0).ln();
        assert!((l[[1]] - want).abs() < 1e-15);
    }
    let e = SoftmaxFocalLoss::new().gamma(-1.0).forward(x.view(), y.view()).unwrap_err();
    assert_eq!(e.to_string(), "softmax_focal_loss: option `gamma` = -1 is invalid: expected a number >= 0");
    let e = SoftmaxFocalLoss::new().forward(x.view(), arr1(&[0i64, 3]).view()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "softmax_focal_loss: `target` holds class index 3 at position [1], outside the valid range [0, 3) and not ignore_index (-100)"
    );
    let e = SoftmaxFocalLoss::new().alpha(arr1(&[1.0f64]).view()).forward(x.view(), y.view()).unwrap_err();
    assert!(matches!(e, LossError::Shape { tensor: "alpha", .. }));
}

#[test]
fn quantile_gradients_and_identities() {
    let mut rng = Rng::new(371);
    let y = rng.array(&[3, 4], -2.0, 2.0);
    let x = y.mapv(|v| v + if rng.uniform() < 0.5 { rng.range(0.1, 2.0) } else { -rng.range(0.1, 2.0) });
    for r in Reduction::ALL {
        for q in [0.1, 0.5, 0.9] {
            let l = QuantileLoss::new().quantile(q).reduction(r);
            fd_pair(
                "quantile",
                Box::new(|a, b| l.forward(a.view(), b.view()).unwrap()),
                Box::new(|a, b, g| both(l.backward(a.view(), b.view(), g.view()).unwrap())),
                &x,
                &y,
                &mut rng,
            );
        }
        let half = QuantileLoss::new().reduction(r).forward(x.view(), y.view()).unwrap();
        let l1 = L1Loss::new().reduction(r).forward(x.view(), y.view()).unwrap();
        assert_close("q = 0.5 is half L1", &half, &l1.mapv(|v| 0.5 * v), 1e-15);
    }
    // at d = 0 the derivative is the d ≥ 0 side's
    let g = QuantileLoss::new().quantile(0.3).reduction(Reduction::Sum).forward_backward(arr1(&[1.0f64]).view(), arr1(&[1.0f64]).view()).unwrap().1;
    assert_eq!(g.input[[0]], -0.3);
    for q in [0.0, 1.0, f64::NAN] {
        assert!(QuantileLoss::new().quantile(q).forward(arr1(&[1.0f64]).view(), arr1(&[1.0f64]).view()).is_err());
    }
}

#[test]
fn f32_and_f64_agree() {
    let mut rng = Rng::new(381);
    let a = random_boxes(&mut rng, 8, 0.0, 5.0).mapv(|v| v as f32 as f64);
    let b = random_boxes(&mut rng, 8, 0.0, 5.0).mapv(|v| v as f32 as f64);
    let (v32, g32) = CompleteBoxIouLoss::new().forward_backward(a.mapv(|v| v as f32).view(), b.mapv(|v| v as f32).view()).unwrap();
    let (v64, g64) = CompleteBoxIouLoss::new().forward_backward(a.view(), b.view()).unwrap();
    assert_close("ciou f32", &v32.mapv(f64::from), &v64.mapv(|v| v as f32 as f64), 0.0);
    assert_close("ciou grad f32", &g32.input.mapv(f64::from), &g64.input.mapv(|v| v as f32 as f64), 0.0);
    let p = rng.array(&[2, 3, 4, 3], -2.0, 2.0).mapv(|v| v as f32 as f64);
    let t = rng.simplex(&[2, 3, 4, 3]).mapv(|v| v as f32 as f64);
    let v32 = DiceLoss::new().forward(p.mapv(|v| v as f32).view(), t.mapv(|v| v as f32).view()).unwrap();
    let v64 = DiceLoss::new().forward(p.view(), t.view()).unwrap();
    assert_close("dice f32 (rounded once)", &v32.mapv(f64::from), &v64.mapv(|v| v as f32 as f64), 0.0);
}
