//! Identities of the names and forms of issue 12: each new form agrees with the
//! form it is defined by (bit for bit where the arithmetic is the same).

use losslab::classification::OptaxSparsemaxLoss;
use losslab::regression::OptaxHuberLoss;
use losslab::sequence::OptaxCtcLoss;
use losslab::{keras, Reduction, WeightedCrossEntropyWithLogits};
use ndarray::{array, Array2, Array3, Axis};

#[test]
fn keras_huber_is_the_mean_of_optax_huber_over_the_last_axis() {
    let y_true = array![[0.1f64, -2.0, 0.5], [1.5, 0.0, -0.3]];
    let y_pred = array![[0.3f64, 1.0, 0.45], [-1.0, 0.0, 0.9]];
    for delta in [0.25, 1.0, 3.0] {
        let (v, g) = keras::Huber::new().delta(delta).forward_backward(y_true.view(), y_pred.view()).unwrap();
        let (e, ge) = OptaxHuberLoss::new().delta(delta).forward_backward(y_pred.view(), y_true.view()).unwrap();
        let want = e.mean_axis(Axis(1)).unwrap();
        for (a, b) in v.iter().zip(&want) {
            assert!((a - b).abs() < 1e-15, "delta {delta}: {v} vs {want}");
        }
        // ∂/∂y_pred = clip(e, −δ, δ)/n, and ∂/∂y_true its opposite.
        for ((a, b), t) in g.input.iter().zip(&ge.input).zip(g.target.as_ref().unwrap()) {
            assert!((a - b / 3.0).abs() < 1e-15);
            assert_eq!(*t, -a);
        }
    }
}

#[test]
fn keras_ctc_is_optax_ctc_with_paddings_from_the_nonzero_labels() {
    let logits = Array3::from_shape_fn((3, 5, 4), |(b, t, c)| ((b * 7 + t * 3 + c * 5) % 11) as f64 * 0.37 - 1.5);
    // Right-padded rows, and a 0 inside a row (the first two entries are its sequence).
    let y = array![[1i64, 2, 0], [3, 0, 0], [2, 0, 1]];
    let label_paddings = array![[0.0f64, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]];
    let (v, g) = keras::Ctc::new().forward_backward(y.view(), logits.view()).unwrap();
    let (w, gw) = OptaxCtcLoss::new().forward_backward(logits.view(), Array2::<f64>::zeros((3, 5)).view(), y.view(), label_paddings.view()).unwrap();
    assert_eq!(v, w);
    assert_eq!(g.input, gw.input);
    let mean = keras::Ctc::new().reduction(Reduction::Mean).forward(y.view(), logits.view()).unwrap();
    assert!((mean[[]] - v.mean().unwrap()).abs() < 1e-14);
}

#[test]
fn a_number_pos_weight_is_the_0d_tensor_and_the_filled_tensor() {
    let labels = array![[0.0f64, 1.0, 0.3], [1.0, 0.5, 0.0]];
    let logits = array![[2.0f64, -1.0, 0.0], [0.5, 30.0, -4.0]];
    let q = 2.5;
    let (a, ga) = WeightedCrossEntropyWithLogits::new(q).forward_backward(labels.view(), logits.view()).unwrap();
    let filled = Array2::from_elem((2, 3), q);
    let (b, gb) = WeightedCrossEntropyWithLogits::new(1.0).pos_weight(filled.view()).forward_backward(labels.view(), logits.view()).unwrap();
    assert_eq!(a, b);
    assert_eq!(ga.input, gb.input);
    assert_eq!(ga.target, gb.target);
}

#[test]
fn float_sparsemax_labels_are_read_as_zero_or_nonzero() {
    let logits = array![0.3f64, -0.5, 2.0, 0.1, 0.2, 0.7];
    let floats = array![1.0f64, 0.0, 0.5, f64::NAN, -3.0, -0.0];
    let ints = array![1i64, 0, 1, 1, 1, 0];
    let loss = OptaxSparsemaxLoss::new();
    assert_eq!(loss.forward(logits.view(), floats.view()).unwrap(), loss.forward(logits.view(), ints.view()).unwrap());
    let f32s = floats.mapv(|v| v as f32);
    let l32 = logits.mapv(|v| v as f32);
    assert_eq!(loss.forward(l32.view(), f32s.view()).unwrap(), loss.forward(l32.view(), ints.view()).unwrap());
    let (_, g) = loss.forward_backward(logits.view(), floats.view()).unwrap();
    assert!(g.target.is_none(), "labels get no gradient");
}

#[test]
fn keras_circle_of_refs_equal_to_the_queries_is_the_self_form() {
    let e = array![[0.5f64, 0.3, -0.2], [0.1, -0.6, 0.4], [0.45, 0.2, 0.1], [-0.3, 0.5, 0.35]];
    let l = array![0i64, 1, 0, 1];
    let loss = keras::Circle::new().gamma(8.0);
    let (v, g) = loss.forward_backward(l.view(), e.view()).unwrap();
    let (w, gw) = loss.forward_backward_with_refs(l.view(), e.view(), Some(l.view().into_dyn()), Some(e.view().into_dyn())).unwrap();
    assert_eq!(v, w);
    // Given as references, their gradient is separate; the self form sums both roles.
    let sum = &gw.input + gw.target.as_ref().unwrap();
    for (a, b) in g.input.iter().zip(&sum) {
        assert!((a - b).abs() < 1e-12);
    }
    // A label alone in the batch: loss 0 (no positive pair).
    let lone = keras::circle(array![0i64, 0, 5].view(), e.slice(ndarray::s![..3, ..])).unwrap();
    assert_eq!(lone[2], 0.0);
}
