//! Keras and optax losses: gradients by central finite differences in f64 (every
//! reduction, random upstream gradients for unreduced results), identities, edge
//! cases and error messages. Values and gradients against the references are in
//! the golden suite (crates/losslab-cli/tests/golden/kerasoptax.json).

use crate::common;

use common::{assert_close, check_gradient, dot, Rng};
use losslab::*;
use losslab::classification::{KerasBinaryCrossentropy, KerasBinaryFocalCrossentropy, KerasCategoricalCrossentropy, KerasCategoricalFocalCrossentropy, KerasCategoricalGeneralizedCrossEntropy, KerasSparseCategoricalCrossentropy, OptaxMulticlassSparsemaxLoss, OptaxPolyLossCrossEntropy, OptaxSafeSoftmaxCrossEntropy, OptaxSmoothLabels, OptaxSparsemaxLoss};
use losslab::information::{KerasKlDivergence, OptaxGeneralizedKlDivergence, OptaxKlDivergence, OptaxKlDivergenceWithLogTargets};
use losslab::regression::{KerasLogCosh, KerasMeanAbsolutePercentageError, KerasMeanSquaredLogarithmicError, OptaxHuberLoss, OptaxLogCosh};
use ndarray::{array, ArrayD, IxDyn};

fn upstream(rng: &mut Rng, reduction: Reduction, shape: &[usize]) -> ArrayD<f64> {
    match reduction {
        Reduction::None => rng.array(shape, -1.0, 1.0),
        _ => ArrayD::from_elem(IxDyn(&[]), 0.7),
    }
}

/// FD check of a (y_true, y_pred) pair loss w.r.t. both tensors, every reduction.
macro_rules! check_pair {
    ($name:expr, $mk:expr, $t:expr, $p:expr, $rng:expr) => {{
        for r in Reduction::ALL {
            let loss = $mk.reduction(r);
            let (t, p): (&ArrayD<f64>, &ArrayD<f64>) = (&$t, &$p);
            let out = loss.forward(t.view(), p.view()).unwrap();
            let g = upstream($rng, r, out.shape());
            let grads = loss.backward(t.view(), p.view(), g.view()).unwrap();
            check_gradient(&format!("{} {r} d/dpred", $name), p, &grads.input, |p| dot(&g, &loss.forward(t.view(), p.view()).unwrap()));
            check_gradient(&format!("{} {r} d/dtrue", $name), t, grads.target.as_ref().unwrap(), |t| {
                dot(&g, &loss.forward(t.view(), p.view()).unwrap())
            });
            let (v2, g2) = loss.forward_backward(t.view(), p.view()).unwrap();
            assert_eq!(v2, out);
            assert_eq!(g2.input.shape(), p.shape());
        }
    }};
}

/// FD check of an optax pair loss (prediction first) w.r.t. both tensors.
macro_rules! check_optax_pair {
    ($name:expr, $mk:expr, $a:expr, $b:expr, $rng:expr) => {{
        for r in Reduction::ALL {
            let loss = $mk.reduction(r);
            let (a, b): (&ArrayD<f64>, &ArrayD<f64>) = (&$a, &$b);
            let out = loss.forward(a.view(), b.view()).unwrap();
            let g = upstream($rng, r, out.shape());
            let grads = loss.backward(a.view(), b.view(), g.view()).unwrap();
            check_gradient(&format!("{} {r} d/da", $name), a, &grads.input, |a| dot(&g, &loss.forward(a.view(), b.view()).unwrap()));
            check_gradient(&format!("{} {r} d/db", $name), b, grads.target.as_ref().unwrap(), |b| dot(&g, &loss.forward(a.view(), b.view()).unwrap()));
        }
    }};
}

/// FD check of a loss with integer labels w.r.t. its float tensor.
macro_rules! check_labels {
    ($name:expr, $mk:expr, $lab:expr, $x:expr, $rng:expr, $order:ident) => {{
        for r in Reduction::ALL {
            let loss = $mk.reduction(r);
            let (l, x): (&ArrayD<i64>, &ArrayD<f64>) = (&$lab, &$x);
            let f = |x: &ArrayD<f64>| check_labels!(@call loss, forward, $order, l, x);
            let out = f(x);
            let g = upstream($rng, r, out.shape());
            let grads = check_labels!(@call loss, backward, $order, l, x, g.view());
            assert!(grads.target.is_none());
            check_gradient(&format!("{} {r}", $name), x, &grads.input, |x| dot(&g, &f(x)));
        }
    }};
    (@call $loss:ident, $m:ident, labels_first, $l:expr, $x:expr $(, $g:expr)?) => { $loss.$m($l.view(), $x.view() $(, $g)?).unwrap() };
    (@call $loss:ident, $m:ident, x_first, $l:expr, $x:expr $(, $g:expr)?) => { $loss.$m($x.view(), $l.view() $(, $g)?).unwrap() };
}

fn binary(rng: &mut Rng, shape: &[usize]) -> ArrayD<f64> {
    ArrayD::from_shape_fn(IxDyn(shape), |_| rng.below(2) as f64)
}
fn labels(rng: &mut Rng, shape: &[usize], c: usize) -> ArrayD<i64> {
    ArrayD::from_shape_fn(IxDyn(shape), |_| rng.below(c) as i64)
}

#[test]
fn keras_binary_losses_gradients() {
    let mut rng = Rng::new(11);
    for shape in [vec![3, 4], vec![2, 2, 3]] {
        let t = rng.array(&shape, 0.0, 1.0);
        let p = rng.array(&shape, 0.05, 0.95);
        let x = rng.array(&shape, -3.0, 3.0);
        for (fl, pred) in [(false, &p), (true, &x)] {
            for ls in [0.0, 0.3] {
                for axis in [-1, 0] {
                    check_pair!("bce", KerasBinaryCrossentropy::new().from_logits(fl).label_smoothing(ls).axis(axis), t, *pred, &mut rng);
                }
                for (bal, a, g) in [(false, 0.25, 2.0), (true, 0.7, 1.5), (true, 0.25, 0.0)] {
                    let l = KerasBinaryFocalCrossentropy::new().apply_class_balancing(bal).alpha(a).gamma(g).from_logits(fl).label_smoothing(ls);
                    check_pair!("binary focal", l.clone(), t, *pred, &mut rng);
                }
            }
        }
    }
}

#[test]
fn keras_categorical_losses_gradients() {
    let mut rng = Rng::new(12);
    for shape in [vec![3, 4], vec![2, 3, 4]] {
        let t = rng.simplex(&shape);
        let p = rng.array(&shape, 0.1, 1.0); // unnormalised: Keras renormalises
        let x = rng.array(&shape, -3.0, 3.0);
        for (fl, pred) in [(false, &p), (true, &x)] {
            for ls in [0.0, 0.2] {
                for axis in [-1, 1] {
                    check_pair!("cce", KerasCategoricalCrossentropy::new().from_logits(fl).label_smoothing(ls).axis(axis), t, *pred, &mut rng);
                }
                for (a, g) in [(0.25, 2.0), (1.0, 0.5), (0.5, 0.0)] {
                    check_pair!("cat focal", KerasCategoricalFocalCrossentropy::new().alpha(a).gamma(g).from_logits(fl).label_smoothing(ls), t, *pred, &mut rng);
                }
            }
        }
        let lab = labels(&mut rng, &shape[..shape.len() - 1], 4);
        for (fl, pred) in [(false, &p), (true, &x)] {
            for ignore in [None, Some(2)] {
                check_labels!("sparse cce", KerasSparseCategoricalCrossentropy::new().from_logits(fl).ignore_class(ignore), lab, *pred, &mut rng, labels_first);
            }
        }
        let probs = rng.simplex(&shape);
        for q in [0.5, 0.1, 0.9] {
            check_labels!("gce", KerasCategoricalGeneralizedCrossEntropy::new().q(q), lab, probs, &mut rng, labels_first);
        }
    }
}

#[test]
fn keras_regression_and_kl_gradients() {
    let mut rng = Rng::new(13);
    for shape in [vec![3, 4], vec![2, 2, 3], vec![5]] {
        let (t, p) = (rng.array(&shape, -3.0, 3.0), rng.array(&shape, -3.0, 3.0));
        check_pair!("log_cosh", KerasLogCosh::new(), t, p, &mut rng);
        let (tp, pp) = (rng.array(&shape, 0.2, 4.0), rng.array(&shape, 0.2, 4.0));
        check_pair!("msle", KerasMeanSquaredLogarithmicError::new(), tp, pp, &mut rng);
        let tn = tp.mapv(|v| if v > 2.0 { -v } else { v });
        check_pair!("mape", KerasMeanAbsolutePercentageError::new(), tn, pp, &mut rng);
        let (ts, ps) = (rng.array(&shape, 0.05, 0.95), rng.array(&shape, 0.05, 0.95));
        check_pair!("keras kl", KerasKlDivergence::new(), ts, ps, &mut rng);
    }
}

#[test]
fn optax_gradients() {
    let mut rng = Rng::new(14);
    for shape in [vec![3, 4], vec![2, 3, 4]] {
        let x = rng.array(&shape, -3.0, 3.0);
        let l = rng.simplex(&shape);
        for eps in [2.0, -1.0] {
            for axis in [-1, 1] {
                check_optax_pair!("poly", OptaxPolyLossCrossEntropy::new().epsilon(eps).axis(axis), x, l, &mut rng);
            }
        }
        check_optax_pair!("safe ce", OptaxSafeSoftmaxCrossEntropy::new(), x, l, &mut rng);
        let lp = rng.array(&shape, -3.0, 0.5);
        let t = rng.array(&shape, 0.1, 2.0);
        check_optax_pair!("kl", OptaxKlDivergence::new(), lp, t, &mut rng);
        check_optax_pair!("gkl", OptaxGeneralizedKlDivergence::new(), lp, t, &mut rng);
        check_optax_pair!("kl log", OptaxKlDivergenceWithLogTargets::new(), lp, rng.array(&shape, -3.0, 0.5), &mut rng);
        let (a, b) = (rng.array(&shape, -3.0, 3.0), rng.array(&shape, -3.0, 3.0));
        for d in [1.0, 0.4, 2.5] {
            check_optax_pair!("huber", OptaxHuberLoss::new().delta(d), a, b, &mut rng);
        }
        check_optax_pair!("log_cosh", OptaxLogCosh::new(), a, b, &mut rng);
        // binary sparsemax: points away from the kinks ±1
        let z = x.mapv(|v| if (v.abs() - 1.0).abs() < 0.05 { v + 0.2 } else { v });
        let lab = labels(&mut rng, &shape, 2);
        check_labels!("sparsemax", OptaxSparsemaxLoss::new(), lab, z, &mut rng, x_first);
        for r in Reduction::ALL {
            let s = OptaxSmoothLabels::new(0.3).reduction(r);
            let out = s.forward(l.view()).unwrap();
            let g = upstream(&mut rng, r, out.shape());
            let grads = s.backward(l.view(), g.view()).unwrap();
            check_gradient("smooth_labels", &l, &grads.input, |l| dot(&g, &s.forward(l.view()).unwrap()));
        }
    }
    // multiclass sparsemax on rows with generic supports (no ties at 0)
    let scores = rng.array(&[6, 5], -2.0, 2.0);
    let lab = labels(&mut rng, &[6], 5);
    check_labels!("mc sparsemax", OptaxMulticlassSparsemaxLoss::new(), lab, scores, &mut rng, x_first);
}

#[test]
fn binary_focal_with_gamma_zero_is_binary_crossentropy() {
    let mut rng = Rng::new(21);
    let t = binary(&mut rng, &[4, 5]);
    let p = rng.array(&[4, 5], 0.01, 0.99);
    for ls in [0.0, 0.1] {
        let f = KerasBinaryFocalCrossentropy::new().gamma(0.0).label_smoothing(ls).forward(t.view(), p.view()).unwrap();
        let b = KerasBinaryCrossentropy::new().label_smoothing(ls).forward(t.view(), p.view()).unwrap();
        assert_close("focal γ=0 vs bce", &f, &b, 1e-14);
    }
    // with class balancing, each element is weighted by α or 1 − α
    let f = KerasBinaryFocalCrossentropy::new().gamma(0.0).apply_class_balancing(true).alpha(0.5).forward(t.view(), p.view()).unwrap();
    let b = KerasBinaryCrossentropy::new().forward(t.view(), p.view()).unwrap();
    assert_close("balanced α=½", &f, &b.mapv(|v| 0.5 * v), 1e-14);
}

#[test]
fn categorical_crossentropy_from_logits_on_one_hot_is_sparse_cross_entropy() {
    let mut rng = Rng::new(22);
    let x = rng.array(&[6, 5], -4.0, 4.0);
    let lab = labels(&mut rng, &[6], 5);
    let onehot = ArrayD::from_shape_fn(IxDyn(&[6, 5]), |i| if lab[[i[0]]] as usize == i[1] { 1.0 } else { 0.0 });
    let k = KerasCategoricalCrossentropy::new().from_logits(true).forward_backward(onehot.view(), x.view()).unwrap();
    let s = SparseSoftmaxCrossEntropyWithLogits::new().forward_backward(lab.view(), x.view()).unwrap();
    let ks = KerasSparseCategoricalCrossentropy::new().from_logits(true).forward_backward(lab.view(), x.view()).unwrap();
    let ce = CrossEntropyLoss::new().reduction(Reduction::None).forward(x.view(), lab.view()).unwrap();
    assert_close("keras cce vs tf sparse", &k.0, &s.0, 1e-13);
    assert_close("keras cce vs torch ce", &k.0, &ce, 1e-13);
    assert_close("keras sparse vs tf sparse", &ks.0, &s.0, 1e-13);
    assert_close("grads", &k.1.input, &s.1.input, 1e-12);
    // categorical focal with γ = 0 and α = 1 is categorical cross entropy
    let p = rng.simplex(&[6, 5]);
    let f = KerasCategoricalFocalCrossentropy::new().alpha(1.0).gamma(0.0).forward(onehot.view(), p.view()).unwrap();
    let c = KerasCategoricalCrossentropy::new().forward(onehot.view(), p.view()).unwrap();
    assert_close("cat focal γ=0", &f, &c, 1e-14);
}

#[test]
fn optax_huber_is_losslab_huber() {
    let mut rng = Rng::new(23);
    let (a, b) = (rng.array(&[7, 3], -4.0, 4.0), rng.array(&[7, 3], -4.0, 4.0));
    for d in [0.3, 1.0, 2.0] {
        let o = OptaxHuberLoss::new().delta(d).forward_backward(a.view(), b.view()).unwrap();
        let h = HuberLoss::new().delta(d).reduction(Reduction::None).forward_backward(a.view(), b.view()).unwrap();
        assert_close("huber value", &o.0, &h.0, 1e-15);
        assert_close("huber grad", &o.1.input, &h.1.input, 1e-15);
    }
    // on the kink |e| = δ optax's gradient is δ·sign(e), like the sides
    let g = OptaxHuberLoss::new().delta(1.0).forward_backward(array![1.0f64, -1.0].view(), array![0.0, 0.0].view()).unwrap().1;
    assert_eq!(g.input, array![1.0, -1.0].into_dyn());
}

#[test]
fn log_cosh_limits() {
    for x in [1e-12f64, 1e-6, 1e-3, -2e-4] {
        let v = OptaxLogCosh::new().forward(array![x].view(), array![0.0].view()).unwrap()[0];
        // log cosh x = x²/2 − x⁴/12 + x⁶/45 − …
        let series = x * x / 2.0 - x.powi(4) / 12.0 + x.powi(6) / 45.0;
        assert!((v - series).abs() <= 1e-15 * series, "{x}: {v} vs {series}");
    }
    for x in [30.0f64, -50.0, 1e4, -1e300] {
        let v = KerasLogCosh::new().forward(array![[0.0]].view(), array![[x]].view()).unwrap()[0];
        let far = x.abs() - std::f64::consts::LN_2;
        assert!((v - far).abs() <= 1e-15 * far, "{x}: {v} vs {far}");
        let g = KerasLogCosh::new().forward_backward(array![[0.0]].view(), array![[x]].view()).unwrap().1;
        assert_eq!(g.input[[0, 0]], x.signum());
    }
    // mid-range: against cosh directly
    for x in [0.5f64, 1.0, 3.0] {
        let v = OptaxLogCosh::new().forward(array![x].view(), array![0.0].view()).unwrap()[0];
        assert!((v - x.cosh().ln()).abs() < 1e-15);
    }
}

#[test]
fn keras_clipping_semantics() {
    // A confident wrong prediction costs at most −log(1e-7); the gradient stops there.
    let (v, g) = KerasBinaryCrossentropy::new().forward_backward(array![[1.0f64, 0.0]].view(), array![[0.0f64, 1.0]].view()).unwrap();
    assert!((v[0] - -(1e-7f64).ln()).abs() < 1e-9);
    assert_eq!(g.input, array![[0.0, 0.0]].into_dyn());
    // on the clip bound JAX halves the gradient: ∂/∂p of −log(p) at p = 1e-7 is −½ · 1e7 / n
    let (_, g) = KerasBinaryCrossentropy::new().forward_backward(array![[1.0f64]].view(), array![[1e-7f64]].view()).unwrap();
    assert!((g.input[[0, 0]] - -0.5e7).abs() < 1e-3);
    // logits are not clipped
    let v = KerasBinaryCrossentropy::new().from_logits(true).forward(array![[1.0f64]].view(), array![[-100.0f64]].view()).unwrap();
    assert!((v[0] - 100.0).abs() < 1e-12);
    // categorical: renormalised before clipping
    let v = KerasCategoricalCrossentropy::new().forward(array![[1.0f64, 0.0]].view(), array![[2.0f64, 2.0]].view()).unwrap();
    assert!((v[0] - 2f64.ln()).abs() < 1e-15);
    // KL clips y_true to [1e-7, 1]: a zero target still contributes
    let v = KerasKlDivergence::new().forward(array![[0.0f64, 1.0]].view(), array![[0.5f64, 0.5]].view()).unwrap();
    let want = 1e-7 * (1e-7f64 / 0.5).ln() + 2f64.ln();
    assert!((v[0] - want).abs() < 1e-15);
}

#[test]
fn keras_sparse_ignore_class_and_trailing_one() {
    let p = array![[0.2f64, 0.8], [0.6, 0.4], [0.5, 0.5]];
    let (v, g) = KerasSparseCategoricalCrossentropy::new().ignore_class(Some(-1)).forward_backward(array![1i64, -1, 0].view(), p.view()).unwrap();
    assert!((v[0] - -(0.8f64).ln()).abs() < 1e-15);
    assert_eq!(v[1], 0.0);
    assert_eq!(g.input.slice(ndarray::s![1, ..]).to_vec(), vec![0.0, 0.0]);
    let a = KerasSparseCategoricalCrossentropy::new().forward(array![[1i64], [0], [0]].view(), p.view()).unwrap();
    let b = KerasSparseCategoricalCrossentropy::new().forward(array![1i64, 0, 0].view(), p.view()).unwrap();
    assert_eq!(a, b);
    // a −∞ logit on another class: Keras's one-hot sum gives 0 · −∞ = NaN
    let v = KerasSparseCategoricalCrossentropy::new().from_logits(true).forward(array![0i64].view(), array![[0.0f64, f64::NEG_INFINITY]].view()).unwrap();
    assert!(v[0].is_nan());
}

#[test]
fn sparsemax_edge_cases() {
    // binary: zero exactly when the sparse sigmoid matches the label
    let v = OptaxSparsemaxLoss::new().forward(array![1.0f64, -1.0, 5.0, 0.0].view(), array![1i64, 0, 1, 1].view()).unwrap();
    assert_eq!(v, array![0.0, 0.0, 0.0, 0.25].into_dyn());
    // multiclass: uniform scores give the uniform distribution; gradient p − onehot
    let (v, g) = OptaxMulticlassSparsemaxLoss::new().forward_backward(array![[0.0f64, 0.0, 0.0, 0.0]].view(), array![2i64].view()).unwrap();
    assert!((v[0] - 0.5 * (1.0 - 0.25)).abs() < 1e-15);
    assert_eq!(g.input, array![[0.25, 0.25, -0.75, 0.25]].into_dyn());
    // shift invariance
    let s = array![[0.3f64, -1.2, 2.0, 0.1]];
    let a = OptaxMulticlassSparsemaxLoss::new().forward(s.view(), array![0i64].view()).unwrap();
    let b = OptaxMulticlassSparsemaxLoss::new().forward(s.mapv(|v| v + 100.0).view(), array![0i64].view()).unwrap();
    assert!((a[0] - b[0]).abs() < 1e-12);
    // the projection sums to one and is sparse for spread-out scores
    let v = OptaxMulticlassSparsemaxLoss::new().forward(array![[10.0f64, 0.0, -10.0]].view(), array![0i64].view()).unwrap();
    assert_eq!(v[0], 0.0);
}

#[test]
fn optax_kl_semantics() {
    // KL(p, p) = 0 for both KL forms
    let p = array![[0.2f64, 0.3, 0.5]];
    let lp = p.mapv(f64::ln);
    assert!(OptaxKlDivergence::new().forward(lp.view(), p.view()).unwrap()[0].abs() < 1e-16);
    assert!(OptaxKlDivergenceWithLogTargets::new().forward(lp.view(), lp.view()).unwrap()[0].abs() < 1e-16);
    assert!(OptaxGeneralizedKlDivergence::new().forward(lp.view(), p.view()).unwrap()[0].abs() < 1e-16);
    // zero target: value 0, target gradient NaN (as JAX differentiates the where)
    let (v, g) = OptaxKlDivergence::new().forward_backward(array![[-1.0f64, 0.0]].view(), array![[0.0f64, 1.0]].view()).unwrap();
    assert_eq!(v[0], 0.0);
    assert!(g.target.as_ref().unwrap()[[0, 0]].is_nan());
    // safe CE: −∞ logit with zero label contributes nothing; finite logits gradient
    let (v, g) = OptaxSafeSoftmaxCrossEntropy::new()
        .forward_backward(array![[0.0f64, f64::NEG_INFINITY, 0.0]].view(), array![[0.5f64, 0.0, 0.5]].view())
        .unwrap();
    assert!((v[0] - 2f64.ln()).abs() < 1e-15);
    assert_eq!(g.input, array![[0.0, 0.0, 0.0]].into_dyn());
    // poly-1 with epsilon = 0 is cross entropy
    let x = array![[1.0f64, -0.5, 2.0]];
    let l = array![[0.0f64, 0.0, 1.0]];
    let v = OptaxPolyLossCrossEntropy::new().epsilon(0.0).forward(x.view(), l.view()).unwrap();
    let ce = SoftmaxCrossEntropyWithLogits::new().forward(l.view(), x.view()).unwrap();
    assert!((v[0] - ce[0]).abs() < 1e-15);
}

#[test]
fn smooth_labels_values_and_gradient() {
    let (s, g) = OptaxSmoothLabels::new(0.4).forward_backward(array![[1.0f64, 0.0, 0.0, 0.0]].view()).unwrap();
    assert_close("smoothed", &s, &array![[0.7, 0.1, 0.1, 0.1]].into_dyn(), 1e-15);
    assert_eq!(g.input, array![[0.6, 0.6, 0.6, 0.6]].into_dyn());
    assert!(g.target.is_none());
}

#[test]
fn f32_matches_f64() {
    let t = array![[0.0f32, 1.0, 1.0], [1.0, 0.0, 0.0]];
    let p = array![[0.25f32, 0.5, 0.75], [0.125, 0.5, 0.875]];
    let v32 = KerasBinaryFocalCrossentropy::new().forward(t.view(), p.view()).unwrap();
    let v64 = KerasBinaryFocalCrossentropy::new().forward(t.mapv(f64::from).view(), p.mapv(f64::from).view()).unwrap();
    // f32 computes in f32 lanes on AVX-512 (a few ulp), else in f64 (the same bits).
    for (a, b) in v32.iter().zip(v64.iter()) {
        assert!((f64::from(*a) - b).abs() <= 4.0 * f64::from(f32::EPSILON) * b.abs(), "{a} vs {b}");
    }
}

#[test]
fn errors_are_pinned() {
    let e = KerasBinaryCrossentropy::new().forward(array![[0.0f64, 1.0]].view(), array![[0.5f64]].view()).unwrap_err();
    assert_eq!(e.to_string(), "binary_crossentropy: `y_pred` has shape [1, 1], expected [1, 2] (the shape of `y_true`)");
    let e = KerasBinaryCrossentropy::new().label_smoothing(1.5).forward(array![[0.0f64]].view(), array![[0.5f64]].view()).unwrap_err();
    assert_eq!(e.to_string(), "binary_crossentropy: option `label_smoothing` = 1.5 is invalid: expected a number in [0, 1]");
    let e = KerasCategoricalCrossentropy::new().axis(2).forward(array![[0.0f64, 1.0]].view(), array![[0.5f64, 0.5]].view()).unwrap_err();
    assert!(e.to_string().starts_with("categorical_crossentropy: option `axis` = 2 is invalid"), "{e}");
    let p = array![[0.5f64, 0.5]];
    let e = KerasSparseCategoricalCrossentropy::new().forward(array![2i64].view(), p.view()).unwrap_err();
    assert_eq!(e.to_string(), "sparse_categorical_crossentropy: `y_true` holds class index 2 at position [0], outside the valid range [0, 2)");
    let e = KerasSparseCategoricalCrossentropy::new().forward(array![0i64, 1].view(), p.view()).unwrap_err();
    assert_eq!(e.to_string(), "sparse_categorical_crossentropy: `y_true` has shape [2], expected [1] or [1, 1] (the shape of `y_pred` without its last, class axis)");
    let e = KerasSparseCategoricalCrossentropy::new().axis(0).forward(array![0i64].view(), p.view()).unwrap_err();
    assert!(matches!(e, LossError::Unsupported { .. }), "{e}");
    let e = KerasCategoricalGeneralizedCrossEntropy::new().forward(array![[0i64]].view(), p.view()).unwrap_err();
    assert_eq!(e.to_string(), "categorical_generalized_cross_entropy: `y_true` has shape [1, 1], expected [1] (the shape of `y_pred` without its last, class axis)");
    let e = KerasCategoricalGeneralizedCrossEntropy::new().q(0.0).forward(array![0i64].view(), p.view()).unwrap_err();
    assert!(e.to_string().starts_with("categorical_generalized_cross_entropy: option `q` = 0 is invalid"), "{e}");
    let e = OptaxMulticlassSparsemaxLoss::new().forward(array![0.5f64, 0.5].view(), array![0i64].view()).unwrap_err();
    assert!(e.to_string().starts_with("multiclass_sparsemax_loss: `scores` has shape [2], expected (N, C)"), "{e}");
    let e = OptaxMulticlassSparsemaxLoss::new().forward(p.view(), array![-1i64].view()).unwrap_err();
    assert!(matches!(e, LossError::ClassIndex { index: -1, .. }), "{e}");
    let e = OptaxHuberLoss::new().delta(f64::NAN).forward(p.view(), p.view()).unwrap_err();
    assert!(matches!(e, LossError::Option { option: "delta", .. }), "{e}");
    let e = KerasLogCosh::new().forward(ndarray::arr0(1.0f64).view(), ndarray::arr0(1.0f64).view()).unwrap_err();
    assert_eq!(e.to_string(), "log_cosh: `y_true` has shape [], expected at least 1 dimension");
    let e = KerasLogCosh::new().reduction(Reduction::Mean).backward(p.view(), p.view(), array![1.0f64, 2.0].into_dyn().view()).unwrap_err();
    assert!(matches!(e, LossError::Shape { tensor: "grad_output", .. }), "{e}");
    let e = OptaxSmoothLabels::new(0.1).forward(ndarray::arr0(1.0f64).view()).unwrap_err();
    assert_eq!(e.to_string(), "smooth_labels: `labels` has shape [], expected at least 1 dimension");
}

#[test]
fn empty_batches() {
    let e = ArrayD::<f64>::zeros(IxDyn(&[0, 3]));
    assert_eq!(KerasCategoricalCrossentropy::new().forward(e.view(), e.view()).unwrap().shape(), &[0]);
    assert!(KerasLogCosh::new().reduction(Reduction::Mean).forward(e.view(), e.view()).unwrap()[[]].is_nan());
    assert_eq!(OptaxLogCosh::new().reduction(Reduction::Sum).forward(e.view(), e.view()).unwrap()[[]], 0.0);
}

// ---------------------------------------------------------------------------------------
// The row sweep against the general path

/// The same values in a non-contiguous (column-major) array: the general path's input.
fn strided<T: Clone>(a: &ndarray::Array2<T>) -> ndarray::Array2<T> {
    let f = a.t().as_standard_layout().into_owned().reversed_axes();
    assert!(f.as_slice().is_none() || a.len() <= 1 || a.ncols() == 1 || a.nrows() == 1);
    f
}

/// `a ≈ b` within `rtol` of `|b|` or of the largest `|b|` (NaN where NaN).
fn near(name: &str, a: &ArrayD<f64>, b: &ArrayD<f64>, rtol: f64) {
    assert_eq!(a.shape(), b.shape(), "{name}: shape");
    let scale = b.iter().filter(|v| v.is_finite()).fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let ok = if x.is_finite() && y.is_finite() { (x - y).abs() <= rtol * (y.abs() + 1e-3 * scale) } else { x.is_nan() && y.is_nan() || x == y };
        assert!(ok, "{name}: element {i}: {x} vs {y}");
    }
}

/// The row sweep (contiguous tensors) gives the general path's (a strided view)
/// values and gradients, in f64 and f32, for every reduction, with ones and a
/// random upstream gradient.
macro_rules! rows_vs_general {
    ($name:expr, $mk:expr, $t:expr, $p:expr) => {{
        rows_vs_general!(@ty f64, 1e-12, $name, $mk, $t, $p);
        rows_vs_general!(@ty f32, 2e-6, $name, $mk, $t, $p);
    }};
    // f32 within `tol32`: a softmax's gradient `p Σw − w` from the f32
    // probabilities the sweep keeps (the golden suite's f32 tolerance is 1e-5)
    (f32: $tol32:expr, $name:expr, $mk:expr, $t:expr, $p:expr) => {{
        rows_vs_general!(@ty f64, 1e-12, $name, $mk, $t, $p);
        rows_vs_general!(@ty f32, $tol32, $name, $mk, $t, $p);
    }};
    (@ty $ty:ty, $tol:expr, $name:expr, $mk:expr, $t:expr, $p:expr) => {{
        let (t, p): (ndarray::Array2<$ty>, ndarray::Array2<$ty>) = ($t.mapv(|v: f64| v as $ty), $p.mapv(|v: f64| v as $ty));
        let (ts, ps) = (strided(&t), strided(&p));
        let wide = |a: &ArrayD<$ty>| a.mapv(|v| v as f64);
        let mut rng = Rng::new(99);
        for r in Reduction::ALL {
            let loss = $mk.clone().reduction(r);
            let what = format!("{} {} {r}", $name, stringify!($ty));
            let (v, g) = loss.forward_backward(t.view(), p.view()).unwrap();
            let (vs, gs) = loss.forward_backward(ts.view(), ps.view()).unwrap();
            near(&format!("{what} value"), &wide(&v), &wide(&vs), $tol);
            near(&format!("{what} input"), &wide(&g.input), &wide(&gs.input), $tol);
            near(&format!("{what} target"), &wide(g.target.as_ref().unwrap()), &wide(gs.target.as_ref().unwrap()), $tol);
            let up = upstream(&mut rng, r, v.shape()).mapv(|v| v as $ty);
            let g = loss.backward(t.view(), p.view(), up.view()).unwrap();
            let gs = loss.backward(ts.view(), ps.view(), up.view()).unwrap();
            near(&format!("{what} input, upstream"), &wide(&g.input), &wide(&gs.input), $tol);
            near(&format!("{what} target, upstream"), &wide(g.target.as_ref().unwrap()), &wide(gs.target.as_ref().unwrap()), $tol);
        }
    }};
}

fn pair_data(rng: &mut Rng, (n, c): (usize, usize), t: (f64, f64), p: (f64, f64), nan: bool) -> (ndarray::Array2<f64>, ndarray::Array2<f64>) {
    let mut tt = ndarray::Array2::from_shape_fn((n, c), |_| rng.range(t.0, t.1));
    let mut pp = ndarray::Array2::from_shape_fn((n, c), |_| rng.range(p.0, p.1));
    if nan {
        // a NaN in one row of each tensor: the row's loss and gradients NaN on both paths
        tt[[1, 2]] = f64::NAN;
        pp[[n - 1, c - 1]] = f64::NAN;
    }
    (tt, pp)
}

#[test]
fn keras_mean_losses_on_the_row_sweep_match_the_general_path() {
    use losslab::likelihood::KerasPoisson;
    use losslab::margin::{KerasHinge, KerasSquaredHinge};
    use losslab::regression::KerasHuber;
    let mut rng = Rng::new(2026);
    for (shape, nan) in [((37, 13), false), ((5, 3), true), ((3, 1), false)] {
        let (t, p) = pair_data(&mut rng, shape, (0.0, 3.0), (0.01, 3.0), nan);
        rows_vs_general!("poisson", KerasPoisson::new(), t, p);
        let (t, p) = pair_data(&mut rng, shape, (-1.0, 1.0), (-2.0, 2.0), nan);
        let b = t.mapv(|v| if v.is_nan() { v } else if v > 0.0 { 1.0 } else { 0.0 });
        for t in [&t, &b] {
            rows_vs_general!("hinge", KerasHinge::new(), t, p);
            rows_vs_general!("squared_hinge", KerasSquaredHinge::new(), t, p);
        }
        let (t, p) = pair_data(&mut rng, shape, (0.0, 1.0), (0.0, 1.0), nan);
        let (_, x) = pair_data(&mut rng, shape, (0.0, 1.0), (-8.0, 8.0), nan);
        for ls in [0.0, 0.2] {
            for (fl, p) in [(false, &p), (true, &x)] {
                rows_vs_general!("binary_crossentropy", KerasBinaryCrossentropy::new().from_logits(fl).label_smoothing(ls), t, p);
                for (bal, a, g) in [(false, 0.25, 2.0), (true, 0.7, 1.5)] {
                    let l = KerasBinaryFocalCrossentropy::new().apply_class_balancing(bal).alpha(a).gamma(g).from_logits(fl).label_smoothing(ls);
                    rows_vs_general!("binary_focal_crossentropy", l, t, p);
                }
            }
        }
        let (t, p) = pair_data(&mut rng, shape, (-3.0, 3.0), (-3.0, 3.0), nan);
        rows_vs_general!("log_cosh", KerasLogCosh::new(), t, p);
        rows_vs_general!("mean_absolute_percentage_error", KerasMeanAbsolutePercentageError::new(), t, p);
        rows_vs_general!("huber", KerasHuber::new(), t, p);
        rows_vs_general!("huber", KerasHuber::new().delta(0.3), t, p);
        let (t, p) = pair_data(&mut rng, shape, (-0.5, 5.0), (-0.5, 5.0), nan);
        rows_vs_general!("mean_squared_logarithmic_error", KerasMeanSquaredLogarithmicError::new(), t, p);
    }
    // log_cosh near 0 and far from it, MAPE at a zero target, MSLE at the epsilon
    let t = array![[0.0, 0.0, 0.0, 0.0, 1e-7, -2.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]];
    let p = array![[1e-9, -0.999, 1.0, 40.0, 1e-7, -2.5], [f64::INFINITY, f64::NEG_INFINITY, 1e-300, 0.5, 1e-7, 0.0]];
    rows_vs_general!("log_cosh", KerasLogCosh::new(), t, p);
    rows_vs_general!("mean_absolute_percentage_error", KerasMeanAbsolutePercentageError::new(), t, p);
    rows_vs_general!("mean_squared_logarithmic_error", KerasMeanSquaredLogarithmicError::new(), t, p);
    rows_vs_general!("huber", KerasHuber::new(), t, p);
}

#[test]
fn keras_generalized_cross_entropy_on_the_row_sweep_matches_the_general_path() {
    let mut rng = Rng::new(7);
    for (n, c) in [(37, 13), (4, 1)] {
        let lab = ndarray::Array1::from_shape_fn(n, |_| rng.below(c) as i64);
        let mut x = ndarray::Array2::from_shape_fn((n, c), |_| rng.range(0.0, 1.0));
        x[[0, 0]] = 0.0;
        if c > 2 {
            x[[1, (lab[1] as usize + 1) % c]] = f64::INFINITY;
        }
        for q in [0.5, 0.7] {
            macro_rules! one {
                ($ty:ty, $tol:expr) => {{
                    let x: ndarray::Array2<$ty> = x.mapv(|v| v as $ty);
                    let xs = strided(&x);
                    let wide = |a: &ArrayD<$ty>| a.mapv(|v| v as f64);
                    for r in Reduction::ALL {
                        let loss = KerasCategoricalGeneralizedCrossEntropy::new().q(q).reduction(r);
                        let (v, g) = loss.forward_backward(lab.view(), x.view()).unwrap();
                        let (vs, gs) = loss.forward_backward(lab.view(), xs.view()).unwrap();
                        near(&format!("gce {r} value"), &wide(&v), &wide(&vs), $tol);
                        near(&format!("gce {r} grad"), &wide(&g.input), &wide(&gs.input), $tol);
                    }
                }};
            }
            one!(f64, 1e-12);
            one!(f32, 2e-6);
        }
    }
    // the label checked as on the general path
    let x = ndarray::Array2::<f64>::zeros((2, 3));
    assert!(KerasCategoricalGeneralizedCrossEntropy::new().forward(array![0i64, 3].view(), x.view()).is_err());
}

#[test]
fn keras_row_sweeps_are_bit_identical_on_any_thread_count() {
    use losslab::likelihood::KerasPoisson;
    use losslab::margin::{KerasHinge, KerasSquaredHinge};
    use losslab::regression::KerasHuber;
    // large enough to go parallel
    let mut rng = Rng::new(31);
    let (n, c) = (700, 97);
    let t = ndarray::Array2::from_shape_fn((n, c), |_| rng.range(0.0, 1.0) as f32);
    let p = ndarray::Array2::from_shape_fn((n, c), |_| rng.range(0.01, 1.0) as f32);
    let x = ndarray::Array2::from_shape_fn((n, c), |_| rng.range(-4.0, 4.0));
    let lab = ndarray::Array1::from_shape_fn(n, |_| rng.below(c) as i64);
    let run = || {
        let mut out: Vec<(ArrayD<f32>, ArrayD<f32>, Option<ArrayD<f32>>)> = Vec::new();
        macro_rules! push {
            ($l:expr, $a:expr, $b:expr) => {{
                for r in [Reduction::None, Reduction::Mean] {
                    let (v, g) = $l.reduction(r).forward_backward($a.view(), $b.view()).unwrap();
                    out.push((v, g.input, g.target));
                }
            }};
        }
        push!(KerasPoisson::new(), t, p);
        push!(KerasHinge::new(), t, p);
        push!(KerasSquaredHinge::new(), t, p);
        push!(KerasBinaryCrossentropy::new(), t, p);
        push!(KerasBinaryCrossentropy::new().from_logits(true).label_smoothing(0.1), t, p);
        push!(KerasBinaryFocalCrossentropy::new(), t, p);
        push!(KerasLogCosh::new(), t, p);
        push!(KerasMeanSquaredLogarithmicError::new(), t, p);
        push!(KerasMeanAbsolutePercentageError::new(), t, p);
        push!(KerasHuber::new(), t, p);
        push!(KerasCategoricalGeneralizedCrossEntropy::new(), lab, p);
        let (v, g) = KerasLogCosh::new().reduction(Reduction::Sum).forward_backward(x.view(), x.mapv(|v| v * 0.5).view()).unwrap();
        (out, v, g.input)
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run);
    let four = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap().install(run);
    assert!(one == four);
}

/// The row sweep (contiguous scores and labels) of a loss of scores and class
/// labels gives the general path's (strided scores) values and gradients, in
/// f64 and f32, every reduction, ones and a random upstream gradient.
macro_rules! label_rows_vs_general {
    ($name:expr, $mk:expr, $x:expr, $lab:expr) => {{
        label_rows_vs_general!(@ty f64, 1e-12, $name, $mk, $x, $lab);
        label_rows_vs_general!(@ty f32, 2e-6, $name, $mk, $x, $lab);
    }};
    (@ty $ty:ty, $tol:expr, $name:expr, $mk:expr, $x:expr, $lab:expr) => {{
        let x: ndarray::Array2<$ty> = $x.mapv(|v: f64| v as $ty);
        let xs = strided(&x);
        let wide = |a: &ArrayD<$ty>| a.mapv(|v| v as f64);
        let mut rng = Rng::new(5);
        for r in Reduction::ALL {
            let loss = $mk.clone().reduction(r);
            let what = format!("{} {} {r}", $name, stringify!($ty));
            let (v, g) = loss.forward_backward(x.view(), $lab.view()).unwrap();
            let (vs, gs) = loss.forward_backward(xs.view(), $lab.view()).unwrap();
            near(&format!("{what} value"), &wide(&v), &wide(&vs), $tol);
            near(&format!("{what} grad"), &wide(&g.input), &wide(&gs.input), $tol);
            near(&format!("{what}: forward is forward_backward's value"), &wide(&loss.forward(x.view(), $lab.view()).unwrap()), &wide(&v), 0.0);
            let up = upstream(&mut rng, r, v.shape()).mapv(|v| v as $ty);
            let g = loss.backward(x.view(), $lab.view(), up.view()).unwrap();
            let gs = loss.backward(xs.view(), $lab.view(), up.view()).unwrap();
            near(&format!("{what} grad, upstream"), &wide(&g.input), &wide(&gs.input), $tol);
        }
    }};
}

#[test]
fn optax_multiclass_losses_on_the_row_sweep_match_the_general_path() {
    let mut rng = Rng::new(2027);
    for (n, c) in [(37, 13), (5, 3), (4, 1), (3, 40)] {
        let lab = ndarray::Array1::from_shape_fn(n, |_| rng.below(c) as i64);
        // integers: ties for the largest score (and with the label's offset)
        let ints = ndarray::Array2::from_shape_fn((n, c), |_| rng.below(4) as f64);
        let mut x = ndarray::Array2::from_shape_fn((n, c), |_| rng.range(-3.0, 3.0));
        if c > 2 && n > 3 {
            x[[1, 2]] = f64::NAN;
            x[[2, 0]] = f64::INFINITY;
            x[[3, 1]] = f64::NEG_INFINITY;
            x[[0, lab[0] as usize]] = 1e-17; // (s + 1) − 1 is not s
        }
        for x in [&x, &ints] {
            label_rows_vs_general!("multiclass_hinge_loss", MulticlassHingeLoss::new(), x, lab);
            label_rows_vs_general!("multiclass_perceptron_loss", MulticlassPerceptronLoss::new(), x, lab);
        }
    }
    // 1-d scores: one example, a 0-d label
    let x = array![0.5f64, 2.0, 1.5];
    let lab = ndarray::arr0(0i64);
    let v = MulticlassHingeLoss::new().forward(x.view(), lab.view()).unwrap();
    assert_eq!(v.shape(), &[] as &[usize]);
    assert_eq!(v[[]], 3.0 - 0.5);
    // labels checked as on the general path
    let x = ndarray::Array2::<f64>::zeros((2, 3));
    assert!(MulticlassHingeLoss::new().forward(x.view(), array![0i64, 3].view()).is_err());
    assert!(MulticlassPerceptronLoss::new().forward(x.view(), array![-1i64, 0].view()).is_err());
}

/// optax's multiclass sparsemax on the row sweep (which sorts only the
/// elements within `1 + δ` of a row's maximum) gives the general path's bits
/// (the whole row sorted): narrow rows where every element is in the support,
/// wide ones where few are, integer ties, a large common offset, rows with an
/// infinity or a NaN, a long row; f64 and f32, every reduction, ones and a
/// random upstream gradient.
#[test]
fn multiclass_sparsemax_on_the_row_sweep_gives_the_general_paths_bits() {
    let mut rng = Rng::new(2031);
    for (n, c, spread) in [(37, 13, 3.0), (29, 64, 0.01), (23, 50, 40.0), (5, 3, 1.0), (4, 1, 1.0), (3, 3000, 2.0), (6, 700, 1e-9)] {
        let lab = ndarray::Array1::from_shape_fn(n, |_| rng.below(c) as i64);
        let mut x = ndarray::Array2::from_shape_fn((n, c), |_| rng.range(-spread, spread));
        let ints = ndarray::Array2::from_shape_fn((n, c), |_| rng.below(4) as f64 * spread);
        let offset = x.mapv(|v| v + 1e6);
        if c > 2 && n > 4 {
            x[[1, 2]] = f64::NAN;
            x[[2, 0]] = f64::INFINITY;
            x[[3, 1]] = f64::NEG_INFINITY;
            x[[4, 0]] = x[[4, 1]]; // a tie at the boundary's side
        }
        for x in [&x, &ints, &offset] {
            label_rows_vs_general!(@ty f64, 0.0, "multiclass_sparsemax_loss", OptaxMulticlassSparsemaxLoss::new(), x, lab);
            label_rows_vs_general!(@ty f32, 0.0, "multiclass_sparsemax_loss", OptaxMulticlassSparsemaxLoss::new(), x, lab);
        }
    }
    // every element −∞: the general path's NaN row (∞ − ∞), on both paths
    let x = ndarray::Array2::from_elem((2, 4), f64::NEG_INFINITY);
    label_rows_vs_general!(@ty f64, 0.0, "multiclass_sparsemax_loss", OptaxMulticlassSparsemaxLoss::new(), &x, array![0i64, 3]);
    // labels checked as on the general path
    let x = ndarray::Array2::<f64>::zeros((2, 3));
    let e = OptaxMulticlassSparsemaxLoss::new().forward(x.view(), array![0i64, 3].view()).unwrap_err().to_string();
    assert_eq!(e, OptaxMulticlassSparsemaxLoss::new().forward(strided(&x).view(), array![0i64, 3].view()).unwrap_err().to_string());
}

#[test]
fn optax_softmax_losses_on_the_row_sweep_match_the_general_path() {
    let mut rng = Rng::new(2028);
    for ((n, c), nan) in [((37, 13), false), ((5, 3), true), ((3, 1), false), ((4, 40), false)] {
        let (l, x) = pair_data(&mut rng, (n, c), (0.0, 1.0), (-5.0, 5.0), nan);
        let mut xi = x.clone();
        if c > 2 {
            xi[[0, 1]] = f64::NEG_INFINITY; // a −∞ logit with a positive label: +∞ loss, finite gradients
        }
        for x in [&x, &xi] {
            for eps in [2.0, -1.0, 0.0, 0.7] {
                rows_vs_general!(f32: 2e-5, "poly_loss_cross_entropy", OptaxPolyLossCrossEntropy::new().epsilon(eps), x, l);
            }
            rows_vs_general!(f32: 2e-5, "ranking_softmax_loss", RankingSoftmaxLoss::new(), x, l);
        }
        // graded relevance: labels that do not sum to 1
        let g = l.mapv(|v| (v * 4.0).floor());
        rows_vs_general!(f32: 2e-5, "ranking_softmax_loss", RankingSoftmaxLoss::new(), x, g);
        rows_vs_general!(f32: 2e-5, "poly_loss_cross_entropy", OptaxPolyLossCrossEntropy::new().axis(1), x, g);
    }
    // a NaN or infinite logit maximum: the general path's answer
    let x = array![[1.0, f64::INFINITY, 0.0], [0.0, 1.0, 2.0]];
    let l = array![[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]];
    rows_vs_general!(f32: 2e-5, "poly_loss_cross_entropy", OptaxPolyLossCrossEntropy::new(), x, l);
    rows_vs_general!(f32: 2e-5, "ranking_softmax_loss", RankingSoftmaxLoss::new(), x, l);
    // ranking: a mean of +∞ and −∞ losses is NaN without a NaN loss; optax's
    // _safe_reduce gives 0 then (the general path), with zero gradients
    let x = array![[0.0, -800.0], [0.0, -800.0]];
    let l = array![[0.0, 1.0], [0.0, -1.0]];
    let loss = RankingSoftmaxLoss::new();
    let (v, g) = loss.forward_backward(x.view(), l.view()).unwrap();
    let (vs, gs) = loss.forward_backward(strided(&x).view(), strided(&l).view()).unwrap();
    assert_eq!((v.clone(), g.input.clone()), (vs, gs.input));
    assert_eq!(loss.forward(x.view(), l.view()).unwrap(), v);
    // one list (1-d), and the where/weights options on the general path
    let (x1, l1) = (array![2.0f64, 1.0, 3.0], array![1.0f64, 0.0, 0.0]);
    let v = RankingSoftmaxLoss::new().forward(x1.view(), l1.view()).unwrap();
    assert!((v[[]] - 1.408).abs() < 5e-4);
    let w = RankingSoftmaxLoss::new().weights(array![1.0f64, 1.0, 1.0].view()).forward(x1.view(), l1.view()).unwrap();
    assert!((w[[]] - v[[]]).abs() <= 1e-15);
}

#[test]
fn smooth_labels_on_the_sweep_match_the_general_path() {
    let mut rng = Rng::new(2029);
    for (n, c) in [(37, 13), (3, 1)] {
        let l = ndarray::Array2::from_shape_fn((n, c), |_| rng.range(0.0, 1.0));
        macro_rules! one {
            ($ty:ty, $tol:expr) => {{
                let l: ndarray::Array2<$ty> = l.mapv(|v| v as $ty);
                let ls = strided(&l);
                let wide = |a: &ArrayD<$ty>| a.mapv(|v| v as f64);
                for r in Reduction::ALL {
                    for a in [0.0, 0.1, 1.0] {
                        let s = OptaxSmoothLabels::new(a).reduction(r);
                        let (v, g) = s.forward_backward(l.view()).unwrap();
                        let (vs, gs) = s.forward_backward(ls.view()).unwrap();
                        near(&format!("smooth_labels {r} value"), &wide(&v), &wide(&vs), $tol);
                        assert_eq!(g.input, gs.input, "smooth_labels {r} grad");
                        let up = upstream(&mut rng, r, v.shape()).mapv(|v| v as $ty);
                        assert_eq!(s.backward(l.view(), up.view()).unwrap().input, s.backward(ls.view(), up.view()).unwrap().input);
                        // a strided upstream gradient
                        if r == Reduction::None {
                            let ups = strided(&up.clone().into_dimensionality::<ndarray::Ix2>().unwrap()).into_dyn();
                            assert_eq!(s.backward(l.view(), ups.view()).unwrap().input, s.backward(ls.view(), up.view()).unwrap().input);
                        }
                    }
                }
                // errors as on the general path
                assert!(OptaxSmoothLabels::new(f64::NAN).forward(l.view()).is_err());
                assert!(OptaxSmoothLabels::new(0.1).backward(l.view(), ndarray::ArrayD::<$ty>::zeros(IxDyn(&[2])).view()).is_err());
            }};
        }
        one!(f64, 1e-15);
        one!(f32, 1e-7);
    }
}

/// optax's `smooth_labels`: `forward_backward` on contiguous labels (one sweep
/// writing the smoothed labels and the constant gradient) gives `forward`'s
/// value and `backward`'s gradient with ones bit for bit, every reduction, f32
/// and f64, on labels large enough for the parallel sweep.
#[test]
fn smooth_labels_forward_backward_is_forward_then_backward_with_ones() {
    let mut rng = Rng::new(2031);
    let l = ndarray::Array2::from_shape_fn((300, 257), |_| rng.range(0.0, 1.0));
    macro_rules! one {
        ($ty:ty) => {{
            let l: ndarray::Array2<$ty> = l.mapv(|v| v as $ty);
            for r in Reduction::ALL {
                for a in [0.0, 0.1, 0.7] {
                    let s = OptaxSmoothLabels::new(a).reduction(r);
                    let (v, g) = s.forward_backward(l.view()).unwrap();
                    assert_eq!(v, s.forward(l.view()).unwrap(), "smooth_labels {r} α={a} value");
                    let ones = ArrayD::from_elem(v.shape(), 1.0 as $ty);
                    assert_eq!(g.input, s.backward(l.view(), ones.view()).unwrap().input, "smooth_labels {r} α={a} grad");
                    assert!(g.target.is_none());
                }
            }
        }};
    }
    one!(f64);
    one!(f32);
}

#[test]
fn optax_row_sweeps_are_bit_identical_on_any_thread_count() {
    let mut rng = Rng::new(32);
    let (n, c) = (700, 97);
    let x = ndarray::Array2::from_shape_fn((n, c), |_| rng.range(-4.0, 4.0) as f32);
    let ints = ndarray::Array2::from_shape_fn((n, c), |_| rng.below(3) as f32);
    let l = ndarray::Array2::from_shape_fn((n, c), |_| rng.range(0.0, 1.0) as f32);
    let lab = ndarray::Array1::from_shape_fn(n, |_| rng.below(c) as i64);
    let run = || {
        let mut out: Vec<(ArrayD<f32>, ArrayD<f32>, Option<ArrayD<f32>>)> = Vec::new();
        for r in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            for s in [&x, &ints] {
                let (v, g) = MulticlassHingeLoss::new().reduction(r).forward_backward(s.view(), lab.view()).unwrap();
                out.push((v, g.input, g.target));
                let (v, g) = MulticlassPerceptronLoss::new().reduction(r).forward_backward(s.view(), lab.view()).unwrap();
                out.push((v, g.input, g.target));
            }
            let (v, g) = OptaxPolyLossCrossEntropy::new().reduction(r).forward_backward(x.view(), l.view()).unwrap();
            out.push((v, g.input, g.target));
            let (v, g) = RankingSoftmaxLoss::new().reduction(r).forward_backward(x.view(), l.view()).unwrap();
            out.push((v, g.input, g.target));
            let (v, g) = OptaxSmoothLabels::new(0.1).reduction(r).forward_backward(l.view()).unwrap();
            out.push((v, g.input, g.target));
            let (v, g) = OptaxMulticlassSparsemaxLoss::new().reduction(r).forward_backward(x.view(), lab.view()).unwrap();
            out.push((v, g.input, g.target));
        }
        out
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run);
    let four = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap().install(run);
    assert!(one == four);
}

#[test]
fn optax_elementwise_losses_on_the_sweep_match_the_general_path() {
    let mut rng = Rng::new(2030);
    for ((n, c), nan) in [((37, 13), false), ((5, 3), true), ((3, 1), false)] {
        let (p, t) = pair_data(&mut rng, (n, c), (-4.0, 4.0), (-4.0, 4.0), nan);
        let mut e = p.clone();
        e[[0, 0]] = 1e-9;
        e[[1, 0]] = t[[1, 0]] + 1.0; // |e| = δ, the kink
        e[[2, 0]] = f64::INFINITY;
        if c > 1 {
            e[[0, 1]] = f64::NEG_INFINITY;
        }
        for p in [&p, &e] {
            for d in [1.0, 0.3, 2.5, 0.0] {
                rows_vs_general!("optax huber_loss", OptaxHuberLoss::new().delta(d), p, t);
            }
            rows_vs_general!("optax log_cosh", OptaxLogCosh::new(), p, t);
        }
    }
    // broadcast operands stay on the general path (NumPy's rule), as before
    let (p, t) = (rng.array(&[4, 3], -2.0, 2.0), rng.array(&[3], -2.0, 2.0));
    let tb = t.broadcast(IxDyn(&[4, 3])).unwrap().to_owned();
    for (name, v, vb) in [
        ("huber", OptaxHuberLoss::new().forward_backward(p.view(), t.view()).unwrap(), OptaxHuberLoss::new().forward_backward(p.view(), tb.view()).unwrap()),
        ("log_cosh", OptaxLogCosh::new().forward_backward(p.view(), t.view()).unwrap(), OptaxLogCosh::new().forward_backward(p.view(), tb.view()).unwrap()),
    ] {
        assert_eq!(v.0, vb.0, "{name} value");
        assert_eq!(v.1.input, vb.1.input, "{name} grad");
        let summed = vb.1.target.as_ref().unwrap().sum_axis(ndarray::Axis(0));
        assert_close(&format!("{name} target grad"), v.1.target.as_ref().unwrap(), &summed, 1e-14);
    }
    assert!(OptaxHuberLoss::new().forward(p.view(), rng.array(&[2], 0.0, 1.0).view()).is_err());
}

/// optax's Huber and perceptron losses on f32 take 8 f64 lanes on AVX-512 (the
/// portable loop elsewhere): the same bits as the general path (a strided
/// view, the scalar f64 formula rounded once), values and both gradients, for
/// every reduction and an upstream gradient, on kinks (|e| = δ, z = 0), zeros,
/// infinities, NaN, and lengths with every tail.
#[test]
fn optax_f64_lane_ops_give_the_general_paths_bits() {
    let mut rng = Rng::new(2033);
    for (n, c) in [(37, 13), (5, 3), (64, 1007)] {
        let (mut p, t) = pair_data(&mut rng, (n, c), (-4.0, 4.0), (-4.0, 4.0), true);
        p[[0, 0]] = t[[0, 0]] + 1.0; // |e| = δ
        p[[0, 1]] = t[[0, 1]] - 1.0;
        p[[2, 0]] = f64::INFINITY;
        p[[2, 1]] = 0.0; // z = −0 · t
        p[[3, 1]] = f64::NEG_INFINITY;
        let ints = p.mapv(|v| v.round());
        for p in [&p, &ints] {
            for d in [1.0, 0.3, 0.0] {
                rows_vs_general!(@ty f32, 0.0, "optax huber_loss", OptaxHuberLoss::new().delta(d), p, t);
            }
            rows_vs_general!(@ty f32, 0.0, "optax perceptron_loss", PerceptronLoss::new(), p, t);
            rows_vs_general!(@ty f64, 0.0, "optax perceptron_loss", PerceptronLoss::new(), p, t);
        }
    }
}

#[test]
fn optax_elementwise_sweeps_are_bit_identical_on_any_thread_count() {
    let mut rng = Rng::new(33);
    let n = 300_000;
    let p = ndarray::Array1::from_shape_fn(n, |_| rng.range(-4.0, 4.0) as f32);
    let t = ndarray::Array1::from_shape_fn(n, |_| rng.range(-4.0, 4.0) as f32);
    let run = || {
        let mut out: Vec<(ArrayD<f32>, ArrayD<f32>, Option<ArrayD<f32>>)> = Vec::new();
        for r in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            let (v, g) = OptaxHuberLoss::new().reduction(r).forward_backward(p.view(), t.view()).unwrap();
            out.push((v, g.input, g.target));
            let (v, g) = OptaxLogCosh::new().reduction(r).forward_backward(p.view(), t.view()).unwrap();
            out.push((v, g.input, g.target));
        }
        out
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run);
    let four = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap().install(run);
    assert!(one == four);
}

/// Both log-cosh losses on inputs large enough for the fresh output buffers to
/// be faulted in ahead (`machinery::fresh`: at least 2 MiB each), f32 (the
/// AVX-512 f32 lanes where the CPU has them) and f64: the general path's values
/// and gradients (a strided view, widened to f64) within the f32 tolerance, and
/// bit-identical results on 1 and 3 threads.
#[test]
fn log_cosh_large_inputs_match_the_general_path_on_any_thread_count() {
    let mut rng = Rng::new(1313);
    // 1000 rows of 1031: 4 MB per f32 tensor, rows not a multiple of 16.
    let (n, c) = (1000, 1031);
    let t = ndarray::Array2::from_shape_fn((n, c), |_| rng.range(-6.0, 6.0));
    let mut p = ndarray::Array2::from_shape_fn((n, c), |_| rng.range(-6.0, 6.0));
    p[[3, 5]] = t[[3, 5]] + 1e-6; // near 0
    p[[4, 7]] = t[[4, 7]] + 1.0; // the split
    macro_rules! both {
        ($ty:ty, $tol:expr) => {{
            let (t, p): (ndarray::Array2<$ty>, ndarray::Array2<$ty>) = (t.mapv(|v| v as $ty), p.mapv(|v| v as $ty));
            let (ts, ps) = (strided(&t), strided(&p));
            let wide = |a: &ArrayD<$ty>| a.mapv(|v| v as f64);
            let run = || {
                let mut out = Vec::new();
                for r in [Reduction::None, Reduction::Mean] {
                    let (v, g) = KerasLogCosh::new().reduction(r).forward_backward(t.view(), p.view()).unwrap();
                    out.push((v, g.input, g.target.unwrap()));
                    let (v, g) = OptaxLogCosh::new().reduction(r).forward_backward(p.view(), t.view()).unwrap();
                    out.push((v, g.input, g.target.unwrap()));
                }
                out
            };
            let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run);
            let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap().install(run);
            assert!(one == three, "{}: thread counts differ", stringify!($ty));
            let mut k = 0;
            for r in [Reduction::None, Reduction::Mean] {
                let (v, g) = KerasLogCosh::new().reduction(r).forward_backward(ts.view(), ps.view()).unwrap();
                let what = format!("keras log_cosh {} {r}", stringify!($ty));
                near(&format!("{what} value"), &wide(&one[k].0), &wide(&v), $tol);
                near(&format!("{what} y_true"), &wide(&one[k].1), &wide(&g.input), $tol);
                near(&format!("{what} y_pred"), &wide(&one[k].2), &wide(g.target.as_ref().unwrap()), $tol);
                let (v, g) = OptaxLogCosh::new().reduction(r).forward_backward(ps.view(), ts.view()).unwrap();
                let what = format!("optax log_cosh {} {r}", stringify!($ty));
                near(&format!("{what} value"), &wide(&one[k + 1].0), &wide(&v), $tol);
                near(&format!("{what} predictions"), &wide(&one[k + 1].1), &wide(&g.input), $tol);
                near(&format!("{what} targets"), &wide(&one[k + 1].2), &wide(g.target.as_ref().unwrap()), $tol);
                k += 2;
            }
        }};
    }
    both!(f32, 2e-6);
    both!(f64, 1e-12);
}

#[test]
fn smooth_labels_f32_sweep_gives_the_bits_of_the_f64_formula() {
    // The fused sweep (8 f64 lanes on AVX-512, the portable loop elsewhere),
    // a strided view (the general path) and the formula in f64 rounded once
    // agree bit for bit, on a length with a tail of every lane count.
    let mut rng = Rng::new(31);
    for (rows, c) in [(3usize, 37usize), (64, 1000 + 7)] {
        let l = rng.array(&[rows, c], -0.5, 1.5).mapv(|v| v as f32);
        let a = 0.1f64;
        let want = l.mapv(|v| ((1.0 - a) * f64::from(v) + a / c as f64) as f32);
        let s = OptaxSmoothLabels::new(a);
        assert_eq!(s.forward(l.view()).unwrap(), want, "forward {rows}×{c}");
        let (v, g) = s.forward_backward(l.view()).unwrap();
        assert_eq!(v, want, "forward_backward's value {rows}×{c}");
        assert!(g.input.iter().all(|&d| d == (1.0 - a) as f32), "gradient {rows}×{c}");
        let wide = ndarray::Array2::from_shape_fn((rows, 2 * c), |(r, k)| l[[r, k / 2]]);
        let strided = wide.slice(ndarray::s![.., ..;2]);
        assert_eq!(s.forward(strided).unwrap(), want, "strided {rows}×{c}");
    }
}
