//! Regression losses: gradients by finite differences in f64, reductions,
//! identities. Values against PyTorch are in the golden suite.

use crate::common;

use common::{assert_close, check_gradient, dot, Rng};
use losslab::{HuberLoss, L1Loss, MseLoss, Reduction, SmoothL1Loss};
use ndarray::{ArrayD, IxDyn};

macro_rules! fd_check {
    ($name:expr, $loss:expr, $x:expr, $y:expr, $rng:expr) => {{
        let loss = $loss;
        let out_shape = loss.forward($x.view(), $y.view()).unwrap().shape().to_vec();
        let g = if out_shape.is_empty() { ArrayD::from_elem(IxDyn(&[]), 1.3) } else { $rng.array(&out_shape, -1.0, 1.0) };
        let grads = loss.backward($x.view(), $y.view(), g.view()).unwrap();
        check_gradient(&format!("{} d/dinput", $name), &$x, &grads.input, |x| dot(&g, &loss.forward(x.view(), $y.view()).unwrap()));
        check_gradient(&format!("{} d/dtarget", $name), &$y, grads.target.as_ref().unwrap(), |y| {
            dot(&g, &loss.forward($x.view(), y.view()).unwrap())
        });
    }};
}

/// Points whose residuals stay at least 0.05 away from the kinks at 0, ±beta and ±delta.
fn away_from_kinks(rng: &mut Rng, shape: &[usize], kinks: &[f64]) -> (ArrayD<f64>, ArrayD<f64>) {
    let y = rng.array(shape, -2.0, 2.0);
    let mut x = y.clone();
    for v in x.iter_mut() {
        loop {
            let d = rng.range(-4.0, 4.0);
            if kinks.iter().all(|k| (d.abs() - k).abs() > 0.05) {
                *v += d;
                break;
            }
        }
    }
    (x, y)
}

#[test]
fn gradients_match_finite_differences() {
    let mut rng = Rng::new(21);
    for shape in [vec![], vec![7], vec![2, 3, 4]] {
        for r in Reduction::ALL {
            let (x, y) = away_from_kinks(&mut rng, &shape, &[0.0, 0.5, 1.0, 2.0]);
            fd_check!("mse", MseLoss::new().reduction(r), x, y, rng);
            fd_check!("l1", L1Loss::new().reduction(r), x, y, rng);
            for beta in [0.0, 0.5, 2.0] {
                fd_check!("smooth_l1", SmoothL1Loss::new().reduction(r).beta(beta), x, y, rng);
            }
            for delta in [0.5, 1.0, 2.0] {
                fd_check!("huber", HuberLoss::new().reduction(r).delta(delta), x, y, rng);
            }
        }
    }
}

#[test]
fn reductions_relate_as_documented() {
    let mut rng = Rng::new(22);
    let x = rng.array(&[4, 5], -3.0, 3.0);
    let y = rng.array(&[4, 5], -3.0, 3.0);
    let none = HuberLoss::new().reduction(Reduction::None).forward(x.view(), y.view()).unwrap();
    let sum = HuberLoss::new().reduction(Reduction::Sum).forward(x.view(), y.view()).unwrap()[[]];
    let mean = HuberLoss::new().reduction(Reduction::Mean).forward(x.view(), y.view()).unwrap()[[]];
    let bm = HuberLoss::new().reduction(Reduction::BatchMean).forward(x.view(), y.view()).unwrap()[[]];
    assert!((none.sum() - sum).abs() <= 1e-13 * sum);
    assert!((mean - sum / 20.0).abs() <= 1e-15 * sum);
    assert!((bm - sum / 4.0).abs() <= 1e-15 * sum);
}

#[test]
fn smooth_l1_with_beta_zero_is_l1_exactly() {
    let mut rng = Rng::new(23);
    let x = rng.array(&[50], -3.0, 3.0);
    let mut y = rng.array(&[50], -3.0, 3.0);
    y[[0]] = x[[0]]; // a zero residual: L1's gradient there is 0, not NaN
    let (a, ga) = SmoothL1Loss::new().beta(0.0).reduction(Reduction::None).forward_backward(x.view(), y.view()).unwrap();
    let (b, gb) = L1Loss::new().reduction(Reduction::None).forward_backward(x.view(), y.view()).unwrap();
    assert_eq!(a, b);
    assert_eq!(ga, gb);
    assert_eq!(ga.input[[0]], 0.0);
}

#[test]
fn l2_gradient_vanishes_near_the_target_while_l1_does_not() {
    // The article's question 5, as numbers: at residual 1e-3, L2's slope is 2e-3,
    // L1's is 1, Smooth L1's is 1e-3 (quadratic zone), and far away Smooth L1's is 1.
    let x = ndarray::arr1(&[1e-3f64, 10.0]);
    let y = ndarray::arr1(&[0.0f64, 0.0]);
    let s = |g: ArrayD<f64>| g.into_raw_vec_and_offset().0;
    let l2 = MseLoss::new().reduction(Reduction::Sum).forward_backward(x.view(), y.view()).unwrap().1.input;
    let l1 = L1Loss::new().reduction(Reduction::Sum).forward_backward(x.view(), y.view()).unwrap().1.input;
    let sl1 = SmoothL1Loss::new().reduction(Reduction::Sum).forward_backward(x.view(), y.view()).unwrap().1.input;
    assert_eq!(s(l2), vec![2e-3, 20.0]);
    assert_eq!(s(l1), vec![1.0, 1.0]);
    assert_eq!(s(sl1), vec![1e-3, 1.0]);
}

#[test]
fn f32_and_f64_agree() {
    let mut rng = Rng::new(24);
    let x = rng.array(&[100], -5.0, 5.0).mapv(|v| v as f32 as f64);
    let y = rng.array(&[100], -5.0, 5.0).mapv(|v| v as f32 as f64);
    let (a, ga) = SmoothL1Loss::new().beta(0.7).forward_backward(x.mapv(|v| v as f32).view(), y.mapv(|v| v as f32).view()).unwrap();
    let (b, gb) = SmoothL1Loss::new().beta(0.7).forward_backward(x.view(), y.view()).unwrap();
    assert_close("f32 value", &a.mapv(f64::from), &b, 1e-6);
    assert_close("f32 grad", &ga.input.mapv(f64::from), &gb.input, 1e-6);
}
