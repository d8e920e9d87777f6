//! Classification losses: gradients by finite differences in f64, identities,
//! edge cases and error messages. Values against the references are in the
//! golden suite (crates/losslab-cli/tests/golden.rs).

use crate::common;

use common::{assert_close, check_gradient, dot, Rng};
use losslab::{
    BinaryCrossEntropy, BinaryCrossEntropyWithLogits, CrossEntropyLoss, NllLoss, Reduction, SoftmaxCrossEntropyWithLogits,
    SparseSoftmaxCrossEntropyWithLogits,
};
use ndarray::{array, ArrayD, IxDyn};

fn labels(rng: &mut Rng, shape: &[usize], classes: usize) -> ArrayD<i64> {
    ArrayD::from_shape_fn(IxDyn(shape), |_| rng.below(classes) as i64)
}

/// The upstream gradient for a result of `shape`: random for unreduced results, 0.7 for scalars.
fn upstream(rng: &mut Rng, reduction: Reduction, shape: &[usize]) -> ArrayD<f64> {
    match reduction {
        Reduction::None => rng.array(shape, -1.0, 1.0),
        _ => ArrayD::from_elem(IxDyn(&[]), 0.7),
    }
}

fn ce_variants() -> Vec<CrossEntropyLoss> {
    let mut v = vec![];
    for r in Reduction::ALL {
        for eps in [0.0, 0.25] {
            v.push(CrossEntropyLoss::new().reduction(r).label_smoothing(eps));
            v.push(CrossEntropyLoss::new().reduction(r).label_smoothing(eps).weight(array![0.5, 2.0, 1.0, 0.25].view()).ignore_index(1));
        }
    }
    v
}

#[test]
fn cross_entropy_indices_gradient_matches_finite_differences() {
    let mut rng = Rng::new(1);
    for (shape, tshape) in [(vec![5, 4], vec![5]), (vec![2, 4, 3], vec![2, 3]), (vec![4], vec![])] {
        let x = rng.array(&shape, -3.0, 3.0);
        let t = labels(&mut rng, &tshape, 4);
        for ce in ce_variants() {
            let out_shape = ce.forward(x.view(), t.view()).unwrap().shape().to_vec();
            let g = upstream(&mut rng, ce.reduction, &out_shape);
            let grads = ce.backward(x.view(), t.view(), g.view()).unwrap();
            assert!(grads.target.is_none());
            check_gradient(&format!("{ce:?} {shape:?}"), &x, &grads.input, |x| dot(&g, &ce.forward(x.view(), t.view()).unwrap()));
        }
    }
}

#[test]
fn cross_entropy_probs_gradients_match_finite_differences() {
    let mut rng = Rng::new(2);
    for shape in [vec![3, 4], vec![2, 4, 3]] {
        let x = rng.array(&shape, -3.0, 3.0);
        let t = rng.array(&shape, 0.0, 1.0); // not normalised: the formula does not need it
        for ce in ce_variants() {
            let ce = ce.ignore_index(-100);
            let out_shape = ce.forward_probs(x.view(), t.view()).unwrap().shape().to_vec();
            let g = upstream(&mut rng, ce.reduction, &out_shape);
            let grads = ce.backward_probs(x.view(), t.view(), g.view()).unwrap();
            check_gradient("ce probs d/dinput", &x, &grads.input, |x| dot(&g, &ce.forward_probs(x.view(), t.view()).unwrap()));
            check_gradient("ce probs d/dtarget", &t, grads.target.as_ref().unwrap(), |t| {
                dot(&g, &ce.forward_probs(x.view(), t.view()).unwrap())
            });
        }
    }
}

#[test]
fn nll_gradient_matches_finite_differences() {
    let mut rng = Rng::new(3);
    let x = rng.array(&[6, 4], -4.0, 0.0);
    let t = labels(&mut rng, &[6], 4);
    for r in Reduction::ALL {
        for nll in [NllLoss::new().reduction(r), NllLoss::new().reduction(r).weight(array![1.0, 0.5, 3.0, 2.0].view()).ignore_index(2)] {
            let out_shape = nll.forward(x.view(), t.view()).unwrap().shape().to_vec();
            let g = upstream(&mut rng, r, &out_shape);
            let grads = nll.backward(x.view(), t.view(), g.view()).unwrap();
            check_gradient("nll", &x, &grads.input, |x| dot(&g, &nll.forward(x.view(), t.view()).unwrap()));
        }
    }
}

#[test]
fn bce_gradients_match_finite_differences() {
    let mut rng = Rng::new(4);
    let x = rng.array(&[3, 4], 0.05, 0.95);
    let y = rng.array(&[3, 4], 0.0, 1.0);
    let w = rng.array(&[4], 0.1, 2.0);
    for r in Reduction::ALL {
        for bce in [BinaryCrossEntropy::new().reduction(r), BinaryCrossEntropy::new().reduction(r).weight(w.view())] {
            let out_shape = bce.forward(x.view(), y.view()).unwrap().shape().to_vec();
            let g = upstream(&mut rng, r, &out_shape);
            let grads = bce.backward(x.view(), y.view(), g.view()).unwrap();
            check_gradient("bce d/dx", &x, &grads.input, |x| dot(&g, &bce.forward(x.view(), y.view()).unwrap()));
            check_gradient("bce d/dy", &y, grads.target.as_ref().unwrap(), |y| dot(&g, &bce.forward(x.view(), y.view()).unwrap()));
        }
    }
}

#[test]
fn bce_with_logits_gradients_match_finite_differences() {
    let mut rng = Rng::new(5);
    let x = rng.array(&[3, 4], -6.0, 6.0);
    let y = rng.array(&[3, 4], 0.0, 1.0);
    let w = rng.array(&[3, 1], 0.1, 2.0);
    let pw = rng.array(&[4], 0.2, 5.0);
    for r in Reduction::ALL {
        for bce in [
            BinaryCrossEntropyWithLogits::new().reduction(r),
            BinaryCrossEntropyWithLogits::new().reduction(r).weight(w.view()).pos_weight(pw.view()),
        ] {
            let out_shape = bce.forward(x.view(), y.view()).unwrap().shape().to_vec();
            let g = upstream(&mut rng, r, &out_shape);
            let grads = bce.backward(x.view(), y.view(), g.view()).unwrap();
            check_gradient("bcel d/dx", &x, &grads.input, |x| dot(&g, &bce.forward(x.view(), y.view()).unwrap()));
            check_gradient("bcel d/dy", &y, grads.target.as_ref().unwrap(), |y| dot(&g, &bce.forward(x.view(), y.view()).unwrap()));
        }
    }
}

#[test]
fn tensorflow_gradients_match_finite_differences() {
    let mut rng = Rng::new(6);
    let logits = rng.array(&[4, 2, 5], -3.0, 3.0);
    let labels_dense = rng.simplex(&[4, 2, 5]); // rows sum to 1: TF's logits gradient is then the true one
    let g = rng.array(&[4, 2], -1.0, 1.0);
    let tf = SoftmaxCrossEntropyWithLogits::new();
    let grads = tf.backward(labels_dense.view(), logits.view(), g.view()).unwrap();
    check_gradient("tf dense d/dlogits", &logits, &grads.input, |x| dot(&g, &tf.forward(labels_dense.view(), x.view()).unwrap()));
    check_gradient("tf dense d/dlabels", &labels_dense, grads.target.as_ref().unwrap(), |t| {
        dot(&g, &tf.forward(t.view(), logits.view()).unwrap())
    });
    // Along another axis.
    let tf0 = SoftmaxCrossEntropyWithLogits::new().axis(0);
    let l0 = labels_dense.mapv(|v| v / 4.0).permuted_axes(IxDyn(&[0, 1, 2])).to_owned();
    let mut l0 = l0;
    for mut lane in l0.lanes_mut(ndarray::Axis(0)) {
        let s: f64 = lane.sum();
        lane.mapv_inplace(|v| v / s);
    }
    let g0 = rng.array(&[2, 5], -1.0, 1.0);
    let grads = tf0.backward(l0.view(), logits.view(), g0.view()).unwrap();
    check_gradient("tf dense axis=0", &logits, &grads.input, |x| dot(&g0, &tf0.forward(l0.view(), x.view()).unwrap()));

    let sparse = SparseSoftmaxCrossEntropyWithLogits::new();
    let t = labels(&mut rng, &[4, 2], 5);
    let grads = sparse.backward(t.view(), logits.view(), g.view()).unwrap();
    check_gradient("tf sparse", &logits, &grads.input, |x| dot(&g, &sparse.forward(t.view(), x.view()).unwrap()));
}

#[test]
fn tensorflow_logits_gradient_is_softmax_minus_labels_even_for_unnormalised_labels() {
    let logits = array![[1.0f64, 2.0, 3.0]];
    let labels = array![[1.0f64, 1.0, 0.0]]; // sums to 2
    let (_, g) = SoftmaxCrossEntropyWithLogits::new().forward_backward(labels.view(), logits.view()).unwrap();
    let z: f64 = [1f64, 2.0, 3.0].iter().map(|v| v.exp()).sum();
    let want = [1f64.exp() / z - 1.0, 2f64.exp() / z - 1.0, 3f64.exp() / z];
    for (a, b) in g.input.iter().zip(want) {
        assert!((a - b).abs() < 1e-15);
    }
}

#[test]
fn sparse_and_dense_agree_on_one_hot_labels() {
    let mut rng = Rng::new(7);
    let logits = rng.array(&[6, 5], -10.0, 10.0);
    let t = labels(&mut rng, &[6], 5);
    let onehot = ArrayD::from_shape_fn(IxDyn(&[6, 5]), |i| if t[[i[0]]] as usize == i[1] { 1.0 } else { 0.0 });
    let (s, gs) = SparseSoftmaxCrossEntropyWithLogits::new().forward_backward(t.view(), logits.view()).unwrap();
    let (d, gd) = SoftmaxCrossEntropyWithLogits::new().forward_backward(onehot.view(), logits.view()).unwrap();
    assert_close("tf loss", &s, &d, 1e-15);
    assert_close("tf grad", &gs.input, &gd.input, 1e-15);
    // And PyTorch's two target kinds, with weights and smoothing (Sum: both normalise alike).
    let ce = CrossEntropyLoss::new().reduction(Reduction::Sum).label_smoothing(0.1).weight(array![1.0, 2.0, 0.5, 1.5, 3.0].view());
    let (a, ga) = ce.forward_backward(logits.view(), t.view()).unwrap();
    let (b, gb) = ce.forward_backward_probs(logits.view(), onehot.view()).unwrap();
    assert_close("torch loss", &a, &b, 1e-14);
    assert_close("torch grad", &ga.input, &gb.input, 1e-13);
}

#[test]
fn adding_a_constant_to_every_logit_changes_nothing() {
    let mut rng = Rng::new(8);
    let x = rng.array(&[4, 6], -5.0, 5.0);
    let t = labels(&mut rng, &[4], 6);
    let ce = CrossEntropyLoss::new().reduction(Reduction::None).label_smoothing(0.2);
    let base = ce.forward_backward(x.view(), t.view()).unwrap();
    for c in [-1000.0, -3.5, 17.0, 1e4] {
        let shifted = x.mapv(|v| v + c);
        let (v, g) = ce.forward_backward(shifted.view(), t.view()).unwrap();
        assert_close("shifted loss", &v, &base.0, 1e-9);
        assert_close("shifted grad", &g.input, &base.1.input, 1e-9);
    }
}

#[test]
fn an_ignored_row_changes_nothing() {
    let mut rng = Rng::new(9);
    let x = rng.array(&[5, 4], -2.0, 2.0);
    let t = array![0i64, 2, 3, 1, 0].into_dyn();
    let mut t_ignored = t.clone();
    t_ignored[[3]] = -100;
    let keep: Vec<usize> = vec![0, 1, 2, 4];
    let x4 = x.select(ndarray::Axis(0), &keep);
    let t4 = t.select(ndarray::Axis(0), &keep);
    for ce in ce_variants().into_iter().map(|c| c.ignore_index(-100)).filter(|c| c.reduction != Reduction::None && c.reduction != Reduction::BatchMean) {
        let (a, ga) = ce.forward_backward(x.view(), t_ignored.view()).unwrap();
        let (b, gb) = ce.forward_backward(x4.view(), t4.view()).unwrap();
        assert_close("ignored loss", &a, &b, 1e-14);
        assert!(ga.input.index_axis(ndarray::Axis(0), 3).iter().all(|&v| v == 0.0), "ignored row has zero gradient");
        assert_close("other rows' gradient", &ga.input.select(ndarray::Axis(0), &keep), &gb.input, 1e-13);
    }
}

#[test]
fn nll_of_log_softmax_is_cross_entropy() {
    let mut rng = Rng::new(10);
    let x = rng.array(&[3, 5, 2], -4.0, 4.0);
    let t = labels(&mut rng, &[3, 2], 5);
    let lp = losslab::log_softmax(&x.view(), ndarray::Axis(1)).unwrap();
    let w = array![1.0, 2.0, 0.5, 0.1, 4.0];
    for r in Reduction::ALL {
        let a = NllLoss::new().reduction(r).weight(w.view()).forward(lp.view(), t.view()).unwrap();
        let b = CrossEntropyLoss::new().reduction(r).weight(w.view()).forward(x.view(), t.view()).unwrap();
        assert_close("nll∘log_softmax", &a, &b, 1e-14);
    }
}

#[test]
fn bce_with_logits_is_bce_of_sigmoid() {
    let mut rng = Rng::new(11);
    let x = rng.array(&[20], -8.0, 8.0);
    let y = rng.array(&[20], 0.0, 1.0);
    let p = losslab::sigmoid(&x.view());
    let a = BinaryCrossEntropyWithLogits::new().reduction(Reduction::None).forward(x.view(), y.view()).unwrap();
    let b = BinaryCrossEntropy::new().reduction(Reduction::None).forward(p.view(), y.view()).unwrap();
    assert_close("bce logits vs probs", &a, &b, 1e-11);
}

#[test]
fn extreme_logits_are_exact() {
    // ±1e4: log-sum-exp keeps them exact, in f32 too.
    let x = array![[1e4f32, -1e4, 0.0]];
    let v = CrossEntropyLoss::new().forward(x.view(), array![1i64].view()).unwrap();
    assert_eq!(v[[]], 2e4);
    // A −∞ logit that is not the target is a probability of exactly 0.
    let x = array![[f64::NEG_INFINITY, 0.0, 0.0]];
    let (v, g) = CrossEntropyLoss::new().forward_backward(x.view(), array![1i64].view()).unwrap();
    assert_eq!(v[[]], 2f64.ln());
    assert_eq!(g.input, array![[0.0, -0.5, 0.5]].into_dyn());
    // A −∞ target logit is an infinite loss.
    let v = CrossEntropyLoss::new().forward(x.view(), array![0i64].view()).unwrap();
    assert_eq!(v[[]], f64::INFINITY);
}

#[test]
fn empty_and_all_ignored_batches() {
    let x = ArrayD::<f64>::zeros(IxDyn(&[0, 3]));
    let t = ArrayD::<i64>::zeros(IxDyn(&[0]));
    let ce = CrossEntropyLoss::new();
    assert!(ce.forward(x.view(), t.view()).unwrap()[[]].is_nan());
    assert_eq!(ce.clone().reduction(Reduction::Sum).forward(x.view(), t.view()).unwrap()[[]], 0.0);
    let x = array![[1.0f64, 2.0], [3.0, 4.0]];
    let t = array![-100i64, -100];
    let (v, g) = ce.forward_backward(x.view(), t.view()).unwrap();
    assert!(v[[]].is_nan());
    assert!(g.input.iter().all(|&v| v == 0.0));
    assert_eq!(ce.reduction(Reduction::Sum).forward(x.view(), t.view()).unwrap()[[]], 0.0);
}

#[test]
fn f32_agrees_with_f64() {
    let mut rng = Rng::new(12);
    let x64 = rng.array(&[8, 7], -20.0, 20.0).mapv(|v| v as f32 as f64);
    let t = labels(&mut rng, &[8], 7);
    let x32 = x64.mapv(|v| v as f32);
    let ce = CrossEntropyLoss::new().label_smoothing(0.1);
    let (a, ga) = ce.forward_backward(x32.view(), t.view()).unwrap();
    let (b, gb) = ce.forward_backward(x64.view(), t.view()).unwrap();
    assert_close("f32 loss", &a.mapv(f64::from), &b, 1e-6);
    let scale = gb.input.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (p, q) in ga.input.iter().zip(gb.input.iter()) {
        assert!((f64::from(*p) - q).abs() <= 1e-6 * q.abs() + 1e-7 * scale);
    }
}

#[test]
fn error_messages_name_the_problem() {
    let x = array![[1.0f64, 2.0, 3.0]];
    let e = CrossEntropyLoss::new().forward(x.view(), array![3i64].view()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cross_entropy: `target` holds class index 3 at position [0], outside the valid range [0, 3) and not ignore_index (-100)"
    );
    let e = CrossEntropyLoss::new().forward(x.view(), array![0i64, 1].view()).unwrap_err();
    assert_eq!(e.to_string(), "cross_entropy: `target` has shape [2], expected [1] (the shape of `input` without its class axis)");
    let e = CrossEntropyLoss::new().label_smoothing(1.5).forward(x.view(), array![0i64].view()).unwrap_err();
    assert_eq!(e.to_string(), "cross_entropy: option `label_smoothing` = 1.5 is invalid: expected a number in [0, 1]");
    let e = CrossEntropyLoss::new().weight(array![1.0, 2.0].view()).forward(x.view(), array![0i64].view()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cross_entropy: `weight` has shape [2], expected [3] (one weight per class: the size of `input`'s class axis)"
    );
    let e = CrossEntropyLoss::new().ignore_index(0).forward_probs(x.view(), x.view()).unwrap_err();
    assert!(e.to_string().contains("option `ignore_index` = 0 is not supported with class probabilities"), "{e}");
    let e = BinaryCrossEntropy::new().forward(array![0.5f64, 1.5].view(), array![1.0, 1.0].view()).unwrap_err();
    assert_eq!(e.to_string(), "binary_cross_entropy: `input` holds 1.5 at position [1], expected a probability in [0, 1]");
    let e = SparseSoftmaxCrossEntropyWithLogits::new().forward(array![-1i64].view(), x.view()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sparse_softmax_cross_entropy_with_logits: `labels` holds class index -1 at position [0], outside the valid range [0, 3)"
    );
    let e = CrossEntropyLoss::new().forward(ndarray::arr0(1.0f64).view(), ndarray::arr0(0i64).view()).unwrap_err();
    assert!(e.to_string().starts_with("cross_entropy: `input` has shape [], expected (C,)"), "{e}");
    let e = CrossEntropyLoss::new().reduction(Reduction::None).backward(x.view(), array![0i64].view(), array![1.0, 2.0].into_dyn().view());
    assert!(e.unwrap_err().to_string().contains("`grad_output` has shape [2]"));
}

#[test]
fn cross_entropy_is_entropy_plus_kl() {
    // The article's identity H(p, q) = H(p) + KL(p‖q), with q = softmax(logits):
    // the loss on probability targets is the targets' entropy plus the divergence.
    let mut rng = Rng::new(13);
    let logits = rng.array(&[6, 5], -4.0, 4.0);
    let mut p = rng.simplex(&[6, 5]);
    p[[0, 1]] = 0.0; // a zero probability: 0·log 0 = 0 on both sides
    let q = losslab::softmax(&logits.view(), ndarray::Axis(1)).unwrap();
    let ce = CrossEntropyLoss::new().reduction(Reduction::None).forward_probs(logits.view(), p.view()).unwrap();
    let h = losslab::information::entropy(p.view(), -1, None).unwrap();
    let kl = losslab::information::kl_divergence(p.view(), q.view(), -1, None).unwrap();
    assert_close("H(p, q) = H(p) + KL(p‖q)", &ce, &(&h + &kl), 1e-12);
}
