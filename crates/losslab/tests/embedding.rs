//! Embedding & ranking losses: gradients by central finite differences in f64,
//! every reduction, identities and the edge cases these losses are known for
//! (zero distances, zero vectors, identical embeddings, margins exactly met).
//! Values against PyTorch, Keras and optax are in the golden suite
//! (crates/losslab-cli/tests/golden/embedding.json).

use crate::common;

use common::{assert_close, check_gradient, dot, Rng};
use losslab::{CosineEmbeddingLoss, LossError, RankingSoftmaxLoss, Reduction, TripletDistance, TripletMarginLoss, TripletMarginWithDistanceLoss};
use losslab::embedding::{CosineSimilarityLoss, NtXentLoss, OptaxTripletMarginLoss};
use ndarray::{arr0, array, ArrayD, IxDyn};

/// A random upstream gradient of the result's shape (1.3 for a scalar).
fn upstream(rng: &mut Rng, shape: &[usize]) -> ArrayD<f64> {
    if shape.is_empty() {
        ArrayD::from_elem(IxDyn(&[]), 1.3)
    } else {
        rng.array(shape, -1.0, 1.0)
    }
}

/// Checks the three gradients of a triplet loss against finite differences.
macro_rules! triplet_fd {
    ($name:expr, $loss:expr, $a:expr, $p:expr, $n:expr, $rng:expr) => {{
        let loss = $loss;
        let (a, p, n): (&ArrayD<f64>, &ArrayD<f64>, &ArrayD<f64>) = (&$a, &$p, &$n);
        let shape = loss
            .forward(a.view(), p.view(), n.view())
            .unwrap()
            .shape()
            .to_vec();
        let g = upstream($rng, &shape);
        let gr = loss
            .backward(a.view(), p.view(), n.view(), g.view())
            .unwrap();
        check_gradient(&format!("{} d/danchor", $name), a, &gr.anchor, |x| {
            dot(&g, &loss.forward(x.view(), p.view(), n.view()).unwrap())
        });
        check_gradient(&format!("{} d/dpositive", $name), p, &gr.positive, |x| {
            dot(&g, &loss.forward(a.view(), x.view(), n.view()).unwrap())
        });
        check_gradient(&format!("{} d/dnegative", $name), n, &gr.negative, |x| {
            dot(&g, &loss.forward(a.view(), p.view(), x.view()).unwrap())
        });
    }};
}

/// Triplets whose hinge is comfortably active (or inactive) for every row, and whose
/// distances are far from ties, so that finite differences see a smooth function.
fn triplets(rng: &mut Rng, shape: &[usize]) -> (ArrayD<f64>, ArrayD<f64>, ArrayD<f64>) {
    (
        rng.array(shape, -2.0, 2.0),
        rng.array(shape, -2.0, 2.0),
        rng.array(shape, -2.0, 2.0),
    )
}

#[test]
fn torch_triplet_gradients_match_finite_differences() {
    let mut rng = Rng::new(31);
    for shape in [vec![5, 4], vec![3], vec![2, 3, 4]] {
        for r in Reduction::ALL {
            for p in [2.0, 1.0, 3.0, 1.5, 0.5, f64::INFINITY] {
                for swap in [false, true] {
                    let (a, pp, n) = triplets(&mut rng, &shape);
                    let loss = TripletMarginLoss::new()
                        .reduction(r)
                        .p(p)
                        .swap(swap)
                        .margin(3.0)
                        .eps(1e-3);
                    triplet_fd!(
                        format!("triplet p={p} swap={swap} {r} {shape:?}"),
                        loss,
                        a,
                        pp,
                        n,
                        &mut rng
                    );
                }
            }
            for dist in [TripletDistance::Pairwise, TripletDistance::Cosine] {
                let (a, p, n) = triplets(&mut rng, &shape);
                let loss = TripletMarginWithDistanceLoss::new()
                    .reduction(r)
                    .distance_function(dist)
                    .swap(true)
                    .margin(2.5);
                triplet_fd!(format!("with_distance {dist} {r}"), loss, a, p, n, &mut rng);
            }
        }
    }
}

#[test]
fn optax_triplet_gradients_match_finite_differences() {
    let mut rng = Rng::new(32);
    for (shape, axis) in [
        (vec![5, 4], -1),
        (vec![4, 3], 0),
        (vec![2, 3, 4], 1),
        (vec![6], -1),
    ] {
        for r in Reduction::ALL {
            for k in [2.0, 4.0] {
                let (a, p, n) = triplets(&mut rng, &shape);
                let loss = OptaxTripletMarginLoss::new()
                    .reduction(r)
                    .axis(axis)
                    .norm_degree(k)
                    .margin(4.0);
                triplet_fd!(
                    format!("optax triplet k={k} axis={axis} {r}"),
                    loss,
                    a,
                    p,
                    n,
                    &mut rng
                );
            }
            // k = 1 is the signed sum: positive sums keep it real.
            let (a, p, n) = (
                rng.array(&shape, 2.0, 3.0),
                rng.array(&shape, 0.0, 1.0),
                rng.array(&shape, 0.0, 1.0),
            );
            triplet_fd!(
                "optax triplet k=1",
                OptaxTripletMarginLoss::new()
                    .reduction(r)
                    .axis(axis)
                    .norm_degree(1.0),
                a,
                p,
                n,
                &mut rng
            );
        }
    }
}

#[test]
fn cosine_embedding_gradients_match_finite_differences() {
    let mut rng = Rng::new(33);
    for r in Reduction::ALL {
        for margin in [-0.5, 0.0, 0.3] {
            let x1 = rng.array(&[6, 4], -2.0, 2.0);
            let x2 = rng.array(&[6, 4], -2.0, 2.0);
            let y =
                ArrayD::from_shape_vec(IxDyn(&[6]), vec![1.0, -1.0, 1.0, -1.0, -1.0, 0.0]).unwrap();
            let loss = CosineEmbeddingLoss::new().reduction(r).margin(margin);
            let shape = loss
                .forward(x1.view(), x2.view(), y.view())
                .unwrap()
                .shape()
                .to_vec();
            let g = upstream(&mut rng, &shape);
            let gr = loss
                .backward(x1.view(), x2.view(), y.view(), g.view())
                .unwrap();
            check_gradient("cosine_embedding d/dinput1", &x1, &gr.input1, |x| {
                dot(&g, &loss.forward(x.view(), x2.view(), y.view()).unwrap())
            });
            check_gradient("cosine_embedding d/dinput2", &x2, &gr.input2, |x| {
                dot(&g, &loss.forward(x1.view(), x.view(), y.view()).unwrap())
            });
        }
    }
}

#[test]
fn keras_cosine_gradients_match_finite_differences() {
    let mut rng = Rng::new(34);
    for (shape, axis) in [
        (vec![5, 4], -1),
        (vec![5, 4], 0),
        (vec![2, 3, 4], 1),
        (vec![7], -1),
    ] {
        for r in Reduction::ALL {
            let t = rng.array(&shape, -2.0, 2.0);
            let p = rng.array(&shape, -2.0, 2.0);
            let loss = CosineSimilarityLoss::new().reduction(r).axis(axis);
            let out = loss.forward(t.view(), p.view()).unwrap().shape().to_vec();
            let g = upstream(&mut rng, &out);
            let gr = loss.backward(t.view(), p.view(), g.view()).unwrap();
            check_gradient("keras cosine d/dy_pred", &p, &gr.input, |x| {
                dot(&g, &loss.forward(t.view(), x.view()).unwrap())
            });
            check_gradient(
                "keras cosine d/dy_true",
                &t,
                gr.target.as_ref().unwrap(),
                |x| dot(&g, &loss.forward(x.view(), p.view()).unwrap()),
            );
        }
    }
}

#[test]
fn ntxent_gradient_matches_finite_differences() {
    let mut rng = Rng::new(35);
    for labels in [
        vec![0i64, 1, 2, 0, 1, 2],
        vec![4, 4, 4, 7, 7, 9],
        vec![1, 1, 1, 1, 2, 2],
    ] {
        for tau in [0.07, 0.5, 2.0] {
            for r in Reduction::ALL {
                let e = rng.array(&[6, 3], -2.0, 2.0);
                let l = ndarray::Array1::from(labels.clone());
                let loss = NtXentLoss::new().temperature(tau).reduction(r);
                let g = ArrayD::from_elem(IxDyn(&[]), -0.7);
                let gr = loss.backward(e.view(), l.view(), g.view()).unwrap();
                check_gradient("ntxent d/dembeddings", &e, &gr.input, |x| {
                    dot(&g, &loss.forward(x.view(), l.view()).unwrap())
                });
                assert!(gr.target.is_none());
            }
        }
    }
}

#[test]
fn ranking_softmax_gradients_match_finite_differences() {
    let mut rng = Rng::new(36);
    let mask = array![
        [true, true, false, true],
        [false, false, false, false],
        [true, true, true, true]
    ];
    let w = array![0.5, 2.0, 1.0, 1.5];
    for r in Reduction::ALL {
        for masked in [false, true] {
            let s = rng.array(&[3, 4], -3.0, 3.0);
            let y = rng.array(&[3, 4], 0.0, 2.0);
            let mut loss = RankingSoftmaxLoss::new().reduction(r).weights(w.view());
            if masked {
                loss = loss.where_(mask.view());
            }
            let out = loss.forward(s.view(), y.view()).unwrap().shape().to_vec();
            let g = upstream(&mut rng, &out);
            let gr = loss.backward(s.view(), y.view(), g.view()).unwrap();
            check_gradient("ranking d/dlogits", &s, &gr.input, |x| {
                dot(&g, &loss.forward(x.view(), y.view()).unwrap())
            });
            check_gradient("ranking d/dlabels", &y, gr.target.as_ref().unwrap(), |x| {
                dot(&g, &loss.forward(s.view(), x.view()).unwrap())
            });
        }
    }
}

#[test]
fn reductions_relate_as_documented() {
    let mut rng = Rng::new(37);
    let (a, p, n) = triplets(&mut rng, &[8, 3]);
    let at = |r| {
        TripletMarginLoss::new()
            .margin(3.0)
            .reduction(r)
            .forward(a.view(), p.view(), n.view())
            .unwrap()
    };
    let none = at(Reduction::None);
    assert_eq!(none.shape(), &[8]);
    let sum = at(Reduction::Sum)[[]];
    assert!((none.sum() - sum).abs() <= 1e-13 * sum.abs());
    assert!((at(Reduction::Mean)[[]] - sum / 8.0).abs() <= 1e-15 * sum.abs());
    assert!((at(Reduction::BatchMean)[[]] - sum / 8.0).abs() <= 1e-15 * sum.abs());
    // The scalar NT-Xent is the same under every reduction.
    let e = rng.array(&[4, 3], -1.0, 1.0);
    let l = array![0, 0, 1, 1];
    let v: Vec<f64> = Reduction::ALL
        .iter()
        .map(|&r| {
            NtXentLoss::new()
                .reduction(r)
                .forward(e.view(), l.view())
                .unwrap()[[]]
        })
        .collect();
    assert!(v.iter().all(|&x| x == v[0]), "{v:?}");
}

// ---- identities ----------------------------------------------------------------------

#[test]
fn pairwise_distance_adds_eps_to_the_difference() {
    // d(a, p) = ‖a − p + eps‖₂ = √(Σ (a − p + eps)²): not symmetric, and eps·√D at a = p.
    let a = array![[1.0f64, 2.0, 3.0]];
    let p = array![[0.5f64, 2.5, 1.0]];
    let far = array![[100.0f64, 100.0, 100.0]];
    let eps = 0.01;
    let loss = TripletMarginLoss::new()
        .eps(eps)
        .margin(1.0)
        .reduction(Reduction::Sum);
    let v = loss.forward(a.view(), p.view(), far.view()).unwrap()[[]];
    assert_eq!(v, 0.0);
    let v = loss.forward(a.view(), p.view(), a.view()).unwrap()[[]];
    let dp = ((0.5f64 + eps).powi(2) + (-0.5f64 + eps).powi(2) + (2.0f64 + eps).powi(2)).sqrt();
    let d0 = (3.0 * eps * eps).sqrt();
    assert!((v - (1.0 + dp - d0)).abs() < 1e-14, "{v}");
    // torch:triplet_margin_with_distance_loss with the pairwise distance is triplet_margin_loss with defaults.
    let (x, y, z) = (
        array![[0.3f64, -1.0], [2.0, 0.1]],
        array![[0.0f64, 0.5], [1.0, 1.0]],
        array![[1.0f64, 1.0], [2.0, 0.0]],
    );
    let w = TripletMarginWithDistanceLoss::new()
        .reduction(Reduction::None)
        .forward(x.view(), y.view(), z.view())
        .unwrap();
    let t = TripletMarginLoss::new()
        .reduction(Reduction::None)
        .forward(x.view(), y.view(), z.view())
        .unwrap();
    assert_eq!(w, t);
}

#[test]
fn optax_puts_eps_under_the_root() {
    // optax: d = (Σ (a − p)² + eps)^(1/2); PyTorch: ‖a − p + eps‖. They differ.
    let a = array![[3.0f64, 0.0]];
    let p = array![[0.0f64, 4.0]];
    let n = array![[0.0f64, 0.0]];
    let eps = 0.25;
    let o = OptaxTripletMarginLoss::new()
        .eps(eps)
        .margin(10.0)
        .forward(a.view(), p.view(), n.view())
        .unwrap()[[0]];
    let expected = (25.0f64 + eps).sqrt() - (9.0f64 + eps).sqrt() + 10.0;
    assert!((o - expected).abs() < 1e-14);
    let t = TripletMarginLoss::new()
        .eps(eps)
        .margin(10.0)
        .forward(a.view(), p.view(), n.view())
        .unwrap()[[]];
    let torch = ((3.0f64 + eps).powi(2) + (-4.0f64 + eps).powi(2)).sqrt()
        - ((3.0f64 + eps).powi(2) + eps * eps).sqrt()
        + 10.0;
    assert!((t - torch).abs() < 1e-14);
    assert!((t - o).abs() > 1e-3);
}

#[test]
fn keras_cosine_similarity_is_negative_cosine_and_scale_invariant() {
    let mut rng = Rng::new(38);
    let t = rng.array(&[4, 5], -2.0, 2.0);
    let p = rng.array(&[4, 5], -2.0, 2.0);
    let l = CosineSimilarityLoss::new()
        .forward(t.view(), p.view())
        .unwrap();
    for i in 0..4 {
        let (a, b) = (t.row_i(i), p.row_i(i));
        let cos = a.dot(&b) / (a.dot(&a).sqrt() * b.dot(&b).sqrt());
        assert!((l[[i]] + cos).abs() < 1e-14);
    }
    let scaled = CosineSimilarityLoss::new()
        .forward((&t * 3.5).view(), (&p * 0.01).view())
        .unwrap();
    assert_close("scale invariance", &scaled, &l, 1e-13);
}

trait RowI {
    fn row_i(&self, i: usize) -> ndarray::Array1<f64>;
}
impl RowI for ArrayD<f64> {
    fn row_i(&self, i: usize) -> ndarray::Array1<f64> {
        self.index_axis(ndarray::Axis(0), i)
            .to_owned()
            .into_dimensionality()
            .unwrap()
    }
}

#[test]
fn ntxent_matches_its_definition() {
    // Written from the definition: for each positive pair (i, j), −log(e^{s_ij} / (e^{s_ij} + Σ_neg e^{s_ik})).
    let mut rng = Rng::new(39);
    let e = rng.array(&[5, 3], -1.0, 1.0);
    let labels = array![0i64, 1, 0, 1, 0];
    let tau = 0.3;
    let u: Vec<ndarray::Array1<f64>> = (0..5)
        .map(|i| {
            let r = e.row_i(i);
            let n = r.dot(&r).sqrt();
            r / n
        })
        .collect();
    let s = |i: usize, j: usize| u[i].dot(&u[j]) / tau;
    let (mut total, mut count) = (0.0, 0.0);
    for i in 0..5 {
        for j in 0..5 {
            if i != j && labels[i] == labels[j] {
                let neg: f64 = (0..5)
                    .filter(|&k| labels[k] != labels[i])
                    .map(|k| s(i, k).exp())
                    .sum();
                total += -(s(i, j).exp() / (s(i, j).exp() + neg)).ln();
                count += 1.0;
            }
        }
    }
    let v = NtXentLoss::new()
        .temperature(tau)
        .forward(e.view(), labels.view())
        .unwrap()[[]];
    assert!(
        (v - total / count).abs() < 1e-13,
        "{v} vs {}",
        total / count
    );
}

#[test]
fn ranking_softmax_with_one_hot_labels_is_cross_entropy() {
    let s = array![[2.0f64, -1.0, 0.5], [0.0, 3.0, 1.0]];
    let y = array![[0.0f64, 0.0, 1.0], [0.0, 1.0, 0.0]];
    let v = RankingSoftmaxLoss::new()
        .reduction(Reduction::None)
        .forward(s.view(), y.view())
        .unwrap();
    let ce = |row: [f64; 3], k: usize| -(row[k] - row.iter().map(|x| x.exp()).sum::<f64>().ln());
    assert!((v[[0]] - ce([2.0, -1.0, 0.5], 2)).abs() < 1e-14);
    assert!((v[[1]] - ce([0.0, 3.0, 1.0], 1)).abs() < 1e-14);
    // Adding a constant to a list's logits changes nothing.
    let shifted = RankingSoftmaxLoss::new()
        .reduction(Reduction::None)
        .forward((&s + 100.0).view(), y.view())
        .unwrap();
    assert_close("shift", &shifted, &v, 1e-12);
}

// ---- edge cases ------------------------------------------------------------------------

#[test]
fn zero_distance_gradient_is_zero_in_torch_and_nan_in_optax() {
    let a = array![[0.5f64, -1.0], [2.0, 0.0]];
    let n = array![[0.5f64, 1.0], [2.0, 0.5]];
    // PyTorch, eps = 0: ‖0‖'s gradient is 0 for every p.
    for p in [2.0, 1.0, 3.0, 1.5, 0.5, f64::INFINITY] {
        let (v, g) = TripletMarginLoss::new()
            .eps(0.0)
            .p(p)
            .margin(5.0)
            .forward_backward(a.view(), a.view(), n.view())
            .unwrap();
        assert!(v[[]].is_finite());
        assert!(
            g.positive.iter().all(|x| *x == 0.0),
            "p = {p}: {:?}",
            g.positive
        );
        assert!(g.anchor.iter().all(|x| x.is_finite()));
    }
    // optax, eps = 0: the derivative of √S at S = 0 is ∞, and 0 · ∞ = NaN, as jax.grad gives.
    let (_, g) = OptaxTripletMarginLoss::new()
        .eps(0.0)
        .margin(5.0)
        .forward_backward(a.view(), a.view(), n.view())
        .unwrap();
    assert!(g.positive.iter().all(|x| x.is_nan()));
    assert!(g.negative.iter().all(|x| x.is_finite()));
    // optax with its default eps: finite.
    let (_, g) = OptaxTripletMarginLoss::new()
        .margin(5.0)
        .forward_backward(a.view(), a.view(), n.view())
        .unwrap();
    assert!(g.positive.iter().all(|x| x.is_finite()));
}

#[test]
fn margin_exactly_met_passes_no_gradient_in_torch_and_half_in_optax() {
    // d(a, p) = 0.5, d(a, n) = 1.5, margin 1: margin + d(a, p) − d(a, n) = 0 exactly.
    let a = array![[0.0f64, 0.0]];
    let p = array![[0.0f64, 0.5]];
    let n = array![[0.0f64, 1.5]];
    let (v, g) = TripletMarginLoss::new()
        .eps(0.0)
        .forward_backward(a.view(), p.view(), n.view())
        .unwrap();
    assert_eq!(v[[]], 0.0);
    assert!(g
        .positive
        .iter()
        .chain(g.negative.iter())
        .all(|x| *x == 0.0));
    let (v, g) = OptaxTripletMarginLoss::new()
        .eps(0.0)
        .forward_backward(a.view(), p.view(), n.view())
        .unwrap();
    assert_eq!(v[[0]], 0.0);
    // ½ · ∂d(a, p)/∂p = ½ · (0, 1)
    assert_eq!(g.positive, array![[0.0, 0.5]].into_dyn());
    assert_eq!(g.negative, array![[0.0, -0.5]].into_dyn());
}

#[test]
fn swap_tie_splits_the_gradient() {
    // d(a, n) = d(p, n) = 1 (eps 0): torch.minimum's backward gives each half.
    let a = array![[0.0f64, 0.0]];
    let p = array![[1.0f64, 1.0]];
    let n = array![[1.0f64, 0.0]];
    let (_, g) = TripletMarginLoss::new()
        .eps(0.0)
        .swap(true)
        .margin(2.0)
        .reduction(Reduction::Sum)
        .forward_backward(a.view(), p.view(), n.view())
        .unwrap();
    // negative: −½ ∂d(a,n)/∂n − ½ ∂d(p,n)/∂n = −½ (1, 0) − ½ (0, −1)
    assert_eq!(g.negative, array![[-0.5, 0.5]].into_dyn());
}

#[test]
fn cosine_embedding_zero_vector_and_identical_pairs() {
    let x1 = array![[0.0f64, 0.0], [1.0, 2.0]];
    let x2 = array![[3.0f64, 4.0], [1.0, 2.0]];
    let eps = 1e-12_f32 as f64; // PyTorch's EPSILON is a C++ float
    let (v, g) = CosineEmbeddingLoss::new()
        .reduction(Reduction::None)
        .forward_backward(x1.view(), x2.view(), array![1.0, 1.0].view())
        .unwrap();
    // The zero vector: cos = 0, loss 1, gradient −x2 / √(ε (25 + ε)); the other gradient 0.
    assert_eq!(v[[0]], 1.0);
    let d = (eps * (25.0 + eps)).sqrt();
    assert!((g.input1[[0, 0]] + 3.0 / d).abs() <= 1e-12 * 3.0 / d);
    assert_eq!(g.input2[[0, 0]], 0.0);
    // Identical vectors: loss ≈ 0 (1 − 5/(5 + ε)).
    assert!(v[[1]].abs() < 1e-12);
    // y = −1, margin 0, a zero vector: cos − margin = 0 exactly, no gradient (clamp_min).
    let (v, g) = CosineEmbeddingLoss::new()
        .forward_backward(x1.view(), x2.view(), array![-1.0, 0.0].view())
        .unwrap();
    assert_eq!(v[[]], 0.0);
    assert!(g.input1.iter().chain(g.input2.iter()).all(|x| *x == 0.0));
}

#[test]
fn keras_cosine_zero_vector_gives_nan_gradient_and_tiny_vectors_are_scaled_by_1e7() {
    let t = array![[0.0f64, 0.0], [1e-9, 0.0]];
    let p = array![[1.0f64, 2.0], [1.0, 0.0]];
    let (v, g) = CosineSimilarityLoss::new()
        .forward_backward(t.view(), p.view())
        .unwrap();
    assert_eq!(v[[0]], 0.0);
    // ‖y_true‖ = 1e-9 < 1e-7: normalised to 1e-9 · 1e7 = 0.01, not to 1.
    assert!((v[[1]] + 0.01).abs() < 1e-15);
    let gt = g.target.unwrap();
    assert!(gt[[0, 0]].is_nan() && gt[[0, 1]].is_nan());
    assert_eq!(g.input[[0, 0]], 0.0);
    assert!((gt[[1, 0]] + 1e7).abs() < 1e-6);
}

#[test]
fn ntxent_edge_cases() {
    // Identical embeddings within each group, groups orthogonal: finite and symmetric.
    let e = array![[1.0f64, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]];
    let (v, g) = NtXentLoss::new()
        .temperature(0.5)
        .forward_backward(e.view(), array![0, 0, 1, 1].view())
        .unwrap();
    assert!((v[[]] - -(2f64.exp() / (2f64.exp() + 2.0)).ln()).abs() < 1e-15);
    assert!(g.input.iter().all(|x| x.is_finite()));
    // No positive pair: 0/0 = NaN, gradient 0.
    let (v, g) = NtXentLoss::new()
        .forward_backward(e.view(), array![0, 1, 2, 3].view())
        .unwrap();
    assert!(v[[]].is_nan());
    assert!(g.input.iter().all(|x| *x == 0.0));
    // A zero embedding: similarity 0 with everything, a finite (large) gradient g/√ε.
    let z = array![[0.0f64, 0.0], [1.0, 0.0], [0.0, 1.0]];
    let (v, g) = NtXentLoss::new()
        .forward_backward(z.view(), array![0, 0, 1].view())
        .unwrap();
    assert!(v[[]].is_finite() && g.input.iter().all(|x| x.is_finite()));
    // The norm guard is the dtype's epsilon: f32 and f64 differ for ‖e‖² < 2⁻²³.
    let small = array![[1e-4f64, 0.0], [1.0, 0.0], [0.0, 1.0]];
    let v64 = NtXentLoss::new()
        .forward(small.view(), array![0, 0, 1].view())
        .unwrap()[[]];
    let v32 = NtXentLoss::new()
        .forward(small.mapv(|x| x as f32).view(), array![0, 0, 1].view())
        .unwrap()[[]];
    assert!((v64 - v32 as f64).abs() > 1e-2, "{v64} vs {v32}");
}

/// NT-Xent's value and gradient straight from the definition, in plain `f64`
/// loops (the full similarity matrix, each positive pair's denominator summed
/// over the row's negatives, no shift by the row maximum), for
/// `ntxent_matches_a_plain_f64_reimplementation`. Every row's squared norm must be
/// above the `f64` epsilon (the guard is not modelled).
fn ntxent_reference(e: &ArrayD<f64>, labels: &[i64], tau: f64, g: f64) -> (f64, Vec<f64>) {
    let (n, f) = (e.shape()[0], e.shape()[1]);
    let x: Vec<f64> = e.iter().copied().collect();
    let norm: Vec<f64> = (0..n).map(|i| x[i * f..(i + 1) * f].iter().map(|v| v * v).sum::<f64>().sqrt()).collect();
    let u: Vec<f64> = (0..n * f).map(|k| x[k] / norm[k / f]).collect();
    let s: Vec<f64> = (0..n * n).map(|k| (0..f).map(|c| u[k / n * f + c] * u[k % n * f + c]).sum::<f64>() / tau).collect();
    let (mut total, mut count) = (0.0, 0.0);
    let mut ds = vec![0.0; n * n];
    for i in 0..n {
        let neg: f64 = (0..n).filter(|&k| labels[k] != labels[i]).map(|k| s[i * n + k].exp()).sum();
        for j in (0..n).filter(|&j| j != i && labels[j] == labels[i]) {
            let d = s[i * n + j].exp() + neg;
            total += -(s[i * n + j].exp() / d).ln();
            count += 1.0;
            // ∂/∂s of −s_ij + ln d
            ds[i * n + j] += s[i * n + j].exp() / d - 1.0;
            for k in (0..n).filter(|&k| labels[k] != labels[i]) {
                ds[i * n + k] += s[i * n + k].exp() / d;
            }
        }
    }
    let mut grad = vec![0.0; n * f];
    for i in 0..n {
        let mut du = vec![0.0; f];
        for j in 0..n {
            let c = (ds[i * n + j] + ds[j * n + i]) / tau * g / count;
            for k in 0..f {
                du[k] += c * u[j * f + k];
            }
        }
        let proj: f64 = (0..f).map(|k| du[k] * u[i * f + k]).sum();
        for k in 0..f {
            grad[i * f + k] = (du[k] - proj * u[i * f + k]) / norm[i];
        }
    }
    (total / count, grad)
}

/// Labels for NT-Xent's larger batches: `i mod classes`, every 37th row a
/// label of its own (a row without a positive).
fn ntxent_labels(n: usize, classes: usize) -> ndarray::Array1<i64> {
    ndarray::Array1::from_iter((0..n).map(|i| if i % 37 == 0 { 1000 + i as i64 } else { (i % classes) as i64 }))
}

/// Over several blocks of rows (N = 300): the value and the gradient equal the
/// definition's plain `f64` loops to 1e-12, for a few labels and temperatures.
#[test]
fn ntxent_matches_a_plain_f64_reimplementation() {
    let mut rng = Rng::new(43);
    let e = rng.array(&[300, 17], -1.0, 1.0);
    for classes in [2, 5, 40] {
        let labels = ntxent_labels(300, classes);
        for tau in [0.07, 0.5, 3.0] {
            let loss = NtXentLoss::new().temperature(tau);
            let (want, want_g) = ntxent_reference(&e, labels.as_slice().unwrap(), tau, -0.7);
            let v = loss.forward(e.view(), labels.view()).unwrap()[[]];
            assert!((v - want).abs() <= 1e-12 * want.abs(), "{classes} classes, τ = {tau}: {v} vs {want}");
            let (v2, _) = loss.forward_backward(e.view(), labels.view()).unwrap();
            assert_eq!(v2[[]].to_bits(), v.to_bits());
            let g = loss.backward(e.view(), labels.view(), arr0(-0.7).into_dyn().view()).unwrap();
            assert!(g.target.is_none());
            let scale = want_g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (k, (a, b)) in g.input.iter().zip(&want_g).enumerate() {
                assert!((a - b).abs() <= 1e-12 * scale, "{classes} classes, τ = {tau}, element {k}: {a} vs {b}");
            }
        }
    }
}

/// The blocks of rows are fixed by N: the same bits on pools of 1 and 3
/// threads, in `f32` and `f64`; a strided batch gives the contiguous one's bits.
#[test]
fn ntxent_bit_identical_whatever_the_thread_count() {
    let mut rng = Rng::new(44);
    let e = rng.array(&[300, 17], -1.0, 1.0);
    let e32 = e.mapv(|v| v as f32);
    let labels = ntxent_labels(300, 5);
    let loss = NtXentLoss::new().temperature(0.2);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
            let mut out: Vec<Vec<u64>> = Vec::new();
            let (v, g) = loss.forward_backward(e.view(), labels.view()).unwrap();
            out.extend([v.iter().map(|x| x.to_bits()).collect(), g.input.iter().map(|x| x.to_bits()).collect()]);
            let g = loss.backward(e.view(), labels.view(), arr0(0.3).into_dyn().view()).unwrap();
            out.push(g.input.iter().map(|x| x.to_bits()).collect());
            let (v, g) = loss.forward_backward(e32.view(), labels.view()).unwrap();
            out.extend([v.iter().map(|x| x.to_bits() as u64).collect(), g.input.iter().map(|x| x.to_bits() as u64).collect()]);
            let v = loss.forward(e32.view(), labels.view()).unwrap();
            out.push(v.iter().map(|x| x.to_bits() as u64).collect());
            out
        })
    };
    let one = run(1);
    assert!(one == run(3), "3 threads");
    // The same batch stored column-major.
    let strided = e.t().as_standard_layout().into_owned();
    let (v, g) = loss.forward_backward(strided.t(), labels.view()).unwrap();
    let (v0, g0) = loss.forward_backward(e.view(), labels.view()).unwrap();
    assert_eq!(v[[]].to_bits(), v0[[]].to_bits());
    assert!(g.input.iter().zip(g0.input.iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
    // A NaN embedding: NaN loss and gradient; no positive pair: NaN loss, gradient 0.
    let mut nan = e.clone();
    nan[[150, 3]] = f64::NAN;
    let (v, g) = loss.forward_backward(nan.view(), labels.view()).unwrap();
    assert!(v[[]].is_nan() && g.input.iter().all(|x| x.is_nan()));
    let unique = ndarray::Array1::from_iter(0..300i64);
    let (v, g) = loss.forward_backward(nan.view(), unique.view()).unwrap();
    assert!(v[[]].is_nan() && g.input.iter().all(|x| *x == 0.0));
}

#[test]
fn ranking_softmax_masks_and_safe_mean() {
    let s = array![[1.0f64, 2.0, 3.0], [0.0, 0.0, 0.0]];
    let y = array![[1.0f64, 0.0, 0.0], [1.0, 1.0, 0.0]];
    let none = RankingSoftmaxLoss::new().reduction(Reduction::None);
    // A masked item is a score of −∞ and a label of 0.
    let mask = array![[true, true, false], [false, false, false]];
    let v = none
        .clone()
        .where_(mask.view())
        .forward(s.view(), y.view())
        .unwrap();
    let expected = -(1.0f64 - (1f64.exp() + 2f64.exp()).ln());
    assert!((v[[0]] - expected).abs() < 1e-15);
    assert_eq!(v[[1]], 0.0, "a list without valid items");
    // Mean leaves the empty list out of the count.
    let m = RankingSoftmaxLoss::new()
        .where_(mask.view())
        .forward(s.view(), y.view())
        .unwrap();
    assert!((m[[]] - expected).abs() < 1e-15);
    // Every item masked: optax's safe mean is 0, not NaN, and the gradient 0.
    let all = ndarray::Array2::from_elem((2, 3), false);
    let (m, g) = RankingSoftmaxLoss::new()
        .where_(all.view())
        .forward_backward(s.view(), y.view())
        .unwrap();
    assert_eq!(m[[]], 0.0);
    assert!(g.input.iter().all(|x| *x == 0.0));
}

// ---- errors ----------------------------------------------------------------------------

#[test]
fn errors_name_the_loss_the_tensor_and_the_expectation() {
    let a = array![[1.0f64, 2.0]];
    let e = TripletMarginLoss::new()
        .margin(0.0)
        .forward(a.view(), a.view(), a.view())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "triplet_margin_loss: option `margin` = 0 is invalid: expected a number > 0"
    );
    let e = TripletMarginLoss::new()
        .forward(a.view(), array![[1.0f64, 2.0, 3.0]].view(), a.view())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "triplet_margin_loss: `positive` has shape [1, 3], expected a shape that broadcasts with `anchor` [1, 2] \
         (PyTorch's broadcasting: sizes aligned from the last axis, equal or 1)"
    );
    let e = TripletMarginWithDistanceLoss::new()
        .margin(-1.0)
        .forward(a.view(), a.view(), a.view())
        .unwrap_err();
    assert!(matches!(
        e,
        LossError::Option {
            option: "margin",
            ..
        }
    ));
    let e = "euclid".parse::<TripletDistance>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "triplet_margin_with_distance_loss: option `distance_function` = euclid is invalid: expected pairwise or cosine"
    );
    let e = CosineEmbeddingLoss::new()
        .forward(a.view(), a.view(), arr0(1.0).view())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cosine_embedding_loss: `input1` has shape [1, 2], expected (D) (1-D, with a 0-d target)"
    );
    // One pair with two targets broadcasts, as PyTorch's; three targets for two pairs do not.
    assert!(CosineEmbeddingLoss::new().forward(a.view(), a.view(), array![1.0, 1.0].view()).is_ok());
    let b = array![[1.0f64, 2.0], [3.0, 4.0]];
    let e = CosineEmbeddingLoss::new()
        .forward(b.view(), a.view(), array![1.0, 1.0, 1.0].view())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cosine_embedding_loss: `target` has shape [3], expected [2] or [1] (the batch size of the inputs, broadcast as PyTorch's)"
    );
    let e = CosineSimilarityLoss::new()
        .axis(2)
        .forward(a.view(), a.view())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cosine_similarity: option `axis` = 2 is invalid: expected an axis in [-2, 2) for a tensor with 2 dimension(s)"
    );
    let e = NtXentLoss::new()
        .forward(array![1.0f64, 2.0].view(), array![0, 0].view())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ntxent: `embeddings` has shape [2], expected (N, F) (2-D: a batch of embeddings)"
    );
    let e = NtXentLoss::new()
        .forward(a.view(), array![0, 0].view())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ntxent: `labels` has shape [2], expected [1] (one label per embedding)"
    );
    let e = RankingSoftmaxLoss::new()
        .weights(array![1.0f64, 2.0, 3.0].view())
        .forward(a.view(), a.view())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ranking_softmax_loss: `weights` has shape [3], expected a shape that broadcasts to [1, 2] (the shape of `logits` and `labels` broadcast)"
    );
    let e = TripletMarginLoss::new()
        .reduction(Reduction::None)
        .backward(a.view(), a.view(), a.view(), arr0(1.0).into_dyn().view());
    assert!(matches!(
        e,
        Err(LossError::Shape {
            tensor: "grad_output",
            ..
        })
    ));
}

#[test]
fn f32_and_f64_agree() {
    let mut rng = Rng::new(40);
    let (a, p, n) = triplets(&mut rng, &[6, 4]);
    let (a, p, n) = (
        a.mapv(|v| v as f32 as f64),
        p.mapv(|v| v as f32 as f64),
        n.mapv(|v| v as f32 as f64),
    );
    let f = |x: &ArrayD<f64>| x.mapv(|v| v as f32);
    let loss = TripletMarginLoss::new()
        .margin(3.0)
        .swap(true)
        .reduction(Reduction::None);
    let (v32, g32) = loss
        .forward_backward(f(&a).view(), f(&p).view(), f(&n).view())
        .unwrap();
    let (v64, g64) = loss.forward_backward(a.view(), p.view(), n.view()).unwrap();
    assert_close("f32 value", &v32.mapv(f64::from), &v64, 1e-6);
    assert_close("f32 grad", &g32.anchor.mapv(f64::from), &g64.anchor, 1e-5);
}

/// The pair losses run in parallel over groups of lanes fixed by the sizes: the
/// same bits on pools of 1, 2 and 8 threads, for the value and every gradient,
/// in float32, over more lanes than one group holds (and a broadcast positive).
#[test]
fn pair_losses_bit_identical_whatever_the_thread_count() {
    let mut rng = Rng::new(41);
    let (n, d) = (3001, 40);
    let f = |a: ArrayD<f64>| a.mapv(|v| v as f32);
    let (a, p, q) = (f(rng.array(&[n, d], -1.0, 1.0)), f(rng.array(&[n, d], -1.0, 1.0)), f(rng.array(&[n, d], -1.0, 1.0)));
    let p1 = f(rng.array(&[1, d], -1.0, 1.0));
    let y = f(rng.array(&[n], -1.0, 1.0)).mapv(|v| if v > 0.0 { 1.0f32 } else { -1.0 });
    let bits = |t: &ArrayD<f32>| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut out: Vec<Vec<u32>> = Vec::new();
            for r in [Reduction::Mean, Reduction::None] {
                for swap in [false, true] {
                    let l = TripletMarginLoss::new().reduction(r).swap(swap);
                    for pos in [&p, &p1] {
                        let (v, g) = l.forward_backward(a.view(), pos.view(), q.view()).unwrap();
                        out.extend([bits(&v), bits(&g.anchor), bits(&g.positive), bits(&g.negative)]);
                    }
                }
                let (v, g) = OptaxTripletMarginLoss::new().forward_backward(a.view(), p.view(), q.view()).unwrap();
                out.extend([bits(&v), bits(&g.anchor), bits(&g.positive), bits(&g.negative)]);
                let (v, g) = TripletMarginWithDistanceLoss::new().reduction(r).forward_backward(a.view(), p.view(), q.view()).unwrap();
                out.extend([bits(&v), bits(&g.anchor), bits(&g.positive), bits(&g.negative)]);
                let l = CosineEmbeddingLoss::new().reduction(r).margin(0.1);
                for x2 in [&p, &p1] {
                    let (v, g) = l.forward_backward(a.view(), x2.view(), y.view()).unwrap();
                    out.extend([bits(&v), bits(&g.input1), bits(&g.input2)]);
                }
            }
            out
        })
    };
    let one = run(1);
    for threads in [2, 8] {
        assert!(one == run(threads), "{threads} threads");
    }
}

/// The row sweep (one shape, the distance along the last, contiguous axis:
/// PyTorch's `p = 2` without swap, optax's `norm_degree = 2`) against the
/// general path on the same triplets: PyTorch's through a negative repeated
/// along a broadcast leading axis (each copy's loss the row's; the anchor's and
/// positive's gradients twice the row's), optax's along axis 0 of the
/// transposed tensors.
#[test]
fn pair_row_sweep_agrees_with_the_general_path() {
    let mut rng = Rng::new(42);
    let (n, d) = (37, 19);
    let (a, p, q) = triplets(&mut rng, &[n, d]);
    let up = rng.array(&[n], 0.5, 1.5);
    let two = |x: &ArrayD<f64>| ndarray::concatenate(ndarray::Axis(0), &[x.view().insert_axis(ndarray::Axis(0)), x.view().insert_axis(ndarray::Axis(0))]).unwrap();
    let one = |x: &ArrayD<f64>| x.clone().insert_axis(ndarray::Axis(0));
    let up2 = two(&up);
    for margin in [0.5, 3.0] {
        let torch: Vec<Box<dyn Fn(&ArrayD<f64>, &ArrayD<f64>, &ArrayD<f64>, &ArrayD<f64>) -> (ArrayD<f64>, [ArrayD<f64>; 3])>> = vec![
            Box::new(move |a, p, q, g| {
                let l = TripletMarginLoss::new().margin(margin).reduction(Reduction::None);
                let b = l.backward(a.view(), p.view(), q.view(), g.view()).unwrap();
                (l.forward(a.view(), p.view(), q.view()).unwrap(), [b.anchor, b.positive, b.negative])
            }),
            Box::new(move |a, p, q, g| {
                let l = TripletMarginWithDistanceLoss::new().margin(margin).reduction(Reduction::None);
                let b = l.backward(a.view(), p.view(), q.view(), g.view()).unwrap();
                (l.forward(a.view(), p.view(), q.view()).unwrap(), [b.anchor, b.positive, b.negative])
            }),
        ];
        for f in &torch {
            let (v, [ga, gp, gq]) = f(&a, &p, &q, &up);
            let (v2, [ga2, gp2, gq2]) = f(&one(&a), &one(&p), &two(&q), &up2);
            assert_close("triplet value", &v, &v2.index_axis(ndarray::Axis(0), 0).to_owned(), 1e-11);
            assert_close("triplet value (copy)", &v, &v2.index_axis(ndarray::Axis(0), 1).to_owned(), 1e-11);
            assert_close("triplet anchor grad", &(&ga * 2.0), &ga2.index_axis(ndarray::Axis(0), 0).to_owned(), 1e-11);
            assert_close("triplet positive grad", &(&gp * 2.0), &gp2.index_axis(ndarray::Axis(0), 0).to_owned(), 1e-11);
            assert_close("triplet negative grad", &gq, &gq2.index_axis(ndarray::Axis(0), 1).to_owned(), 1e-11);
        }
        let l = OptaxTripletMarginLoss::new().margin(margin);
        let lt = OptaxTripletMarginLoss::new().margin(margin).axis(0);
        let t = |x: &ArrayD<f64>| x.t().to_owned();
        let (v, g) = (l.forward(a.view(), p.view(), q.view()).unwrap(), l.backward(a.view(), p.view(), q.view(), up.view()).unwrap());
        let (vt, gt) = (lt.forward(t(&a).view(), t(&p).view(), t(&q).view()).unwrap(), lt.backward(t(&a).view(), t(&p).view(), t(&q).view(), up.view()).unwrap());
        assert_close("optax value", &v, &vt, 1e-11);
        assert_close("optax anchor grad", &g.anchor, &t(&gt.anchor), 1e-11);
        assert_close("optax positive grad", &g.positive, &t(&gt.positive), 1e-11);
        assert_close("optax negative grad", &g.negative, &t(&gt.negative), 1e-11);
    }
}

/// Keras's cosine similarity on the row sweep (one shape, the last axis,
/// contiguous) against the general path on the same vectors, read along axis 0
/// of the transposed tensors: values and both gradients, every reduction, a
/// zero vector among them (its own gradient NaN on both paths, as JAX's).
#[test]
fn keras_cosine_row_sweep_agrees_with_the_general_path() {
    let mut rng = Rng::new(43);
    let (n, d) = (29, 13);
    let mut p = rng.array(&[n, d], -2.0, 2.0);
    let t = rng.array(&[n, d], -2.0, 2.0);
    p.index_axis_mut(ndarray::Axis(0), 3).fill(0.0);
    let up = rng.array(&[n], 0.5, 1.5);
    let tr = |x: &ArrayD<f64>| x.t().as_standard_layout().into_owned();
    for r in Reduction::ALL {
        let fast = CosineSimilarityLoss::new().reduction(r);
        let general = CosineSimilarityLoss::new().reduction(r).axis(0);
        let (v1, v0) = (fast.forward(t.view(), p.view()).unwrap(), general.forward(tr(&t).view(), tr(&p).view()).unwrap());
        let scaled = |name: &str, a: &ArrayD<f64>, b: &ArrayD<f64>| {
            let scale = b.iter().filter(|v| v.is_finite()).fold(1.0f64, |s, v| s.max(v.abs()));
            assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-13 * scale), "{r:?} {name}: {a} vs {b}");
        };
        scaled("value", &v1, &v0);
        let g = if r == Reduction::None { up.clone() } else { arr0(0.7).into_dyn() };
        let (g1, g0) = (fast.backward(t.view(), p.view(), g.view()).unwrap(), general.backward(tr(&t).view(), tr(&p).view(), g.view()).unwrap());
        for (name, a, b) in [("d/dy_pred", &g1.input, &tr(&g0.input)), ("d/dy_true", g1.target.as_ref().unwrap(), &tr(g0.target.as_ref().unwrap()))] {
            let nan_rows = |x: &ArrayD<f64>| x.outer_iter().map(|row| row.iter().all(|v| v.is_nan())).collect::<Vec<_>>();
            assert_eq!(nan_rows(a), nan_rows(b), "{r:?} {name}: NaN rows");
            let finite = |x: &ArrayD<f64>| x.mapv(|v| if v.is_nan() { 0.0 } else { v });
            scaled(name, &finite(a), &finite(b));
        }
        assert!(g1.input.index_axis(ndarray::Axis(0), 3).iter().all(|v| v.is_nan()), "a zero y_pred's own gradient is NaN");
    }
}

/// Keras's circle loss: its similarity matrix and gradients are matrix
/// products, its rows in parallel blocks: the same bits on pools of 1, 2 and 5
/// threads (float32, with and without separate references); float32 within
/// f32 tolerances of float64 on the same values, with every query's
/// self-pair at a distance of about 0 (the kink `max(1 − s, 0)`) kept on the
/// exact side; a transposed (strided) `y_pred` gives the contiguous result.
#[test]
fn keras_circle_products_are_thread_independent_and_f32_agrees() {
    use losslab::embedding::KerasCircle;
    let mut rng = Rng::new(44);
    let (n, m, d) = (70, 45, 24);
    let unit = |a: ArrayD<f64>| {
        let mut a = a;
        for mut row in a.outer_iter_mut() {
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            row.mapv_inplace(|v| v / norm);
        }
        a
    };
    let (q, r) = (unit(rng.array(&[n, d], -1.0, 1.0)), unit(rng.array(&[m, d], -1.0, 1.0)));
    let labels = ndarray::Array1::from_iter((0..n).map(|i| (i % 5) as i64));
    let rl = ndarray::Array1::from_iter((0..m).map(|i| (i % 4) as i64)).into_dyn();
    let f = |a: &ArrayD<f64>| a.mapv(|v| v as f32);
    let (q32, r32) = (f(&q), f(&r));
    // Rounded to f32 and back: both types see the same values.
    let (q64, r64) = (q32.mapv(f64::from), r32.mapv(f64::from));
    let bits = |t: &ArrayD<f32>| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
            let mut out = Vec::new();
            for rd in [true, false] {
                let l = KerasCircle::new().remove_diagonal(rd).gamma(16.0).margin(0.25);
                let (v, g) = l.forward_backward(labels.view(), q32.view()).unwrap();
                out.extend([bits(&v), bits(&g.input)]);
                let (v, g) = l.forward_backward_with_refs(labels.view(), q32.view(), Some(rl.view()), Some(r32.view())).unwrap();
                out.extend([bits(&v), bits(&g.input), bits(g.target.as_ref().unwrap())]);
            }
            out
        })
    };
    let one = run(1);
    for threads in [2, 5] {
        assert!(one == run(threads), "{threads} threads");
    }
    for rd in [true, false] {
        // Keras's defaults (γ = 80) and a smaller scale.
        for (gamma, margin) in [(80.0, 0.4), (16.0, 0.25)] {
            let l = KerasCircle::new().remove_diagonal(rd).gamma(gamma).margin(margin).reduction(Reduction::Sum);
            let (v32, g32) = l.forward_backward(labels.view(), q32.view()).unwrap();
            let (v64, g64) = l.forward_backward(labels.view(), q64.view()).unwrap();
            let tol = 1e-5 * v64.iter().fold(1.0f64, |a, v| a.max(v.abs()));
            assert!((f64::from(v32[[]]) - v64[[]]).abs() <= tol, "rd={rd} γ={gamma}: f32 {} vs f64 {}", v32[[]], v64[[]]);
            let scale = g64.input.iter().fold(1.0f64, |a, v| a.max(v.abs()));
            for (a, b) in g32.input.iter().zip(&g64.input) {
                assert!((f64::from(*a) - b).abs() <= 2e-3 * scale, "rd={rd} γ={gamma}: f32 ∂ {a} vs f64 {b}");
            }
            let (vr32, gr32) = l.forward_backward_with_refs(labels.view(), q32.view(), Some(rl.view()), Some(r32.view())).unwrap();
            let (vr64, gr64) = l.forward_backward_with_refs(labels.view(), q64.view(), Some(rl.view()), Some(r64.view())).unwrap();
            assert!((f64::from(vr32[[]]) - vr64[[]]).abs() <= 1e-5 * vr64[[]].abs().max(1.0));
            let (a, b) = (gr32.target.unwrap().mapv(f64::from), gr64.target.unwrap());
            let scale = b.iter().fold(1.0f64, |s, v| s.max(v.abs()));
            assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 2e-3 * scale), "rd={rd} γ={gamma}: references' gradient");
        }
    }
    // Strided y_pred: copied to standard layout, the same result.
    let qt = q64.t().as_standard_layout().into_owned();
    let l = KerasCircle::new();
    let (v, g) = l.forward_backward(labels.view(), qt.t()).unwrap();
    let (v0, g0) = l.forward_backward(labels.view(), q64.view()).unwrap();
    assert_eq!(v, v0);
    assert_eq!(g.input, g0.input);
}

/// PyTorch's cosine embedding loss on the row sweep ((N, D) inputs of one
/// shape, contiguous, a contiguous (N,) target) against the general path on
/// the same values read through strided views: values, `backward` and
/// `forward_backward`, every reduction, margins on both sides of 0, targets
/// 1, −1 and 0, a zero vector and an identical pair among the rows. Then
/// float32: the same bits on pools of 1 and 3 threads, and within float32's
/// tolerance of float64.
#[test]
fn cosine_embedding_row_sweep_agrees_with_the_general_path() {
    let mut rng = Rng::new(45);
    let (n, d) = (41, 23);
    let mut x1 = rng.array(&[n, d], -2.0, 2.0);
    let mut x2 = rng.array(&[n, d], -2.0, 2.0);
    x1.index_axis_mut(ndarray::Axis(0), 4).fill(0.0);
    let row7 = x1.index_axis(ndarray::Axis(0), 7).to_owned();
    x2.index_axis_mut(ndarray::Axis(0), 7).assign(&row7);
    let y = ArrayD::from_shape_fn(IxDyn(&[n]), |i| [1.0, -1.0, 1.0, -1.0, 0.0][i[0] % 5]);
    // The same values behind a transposed layout: the general path.
    let strided = |x: &ArrayD<f64>| x.t().as_standard_layout().into_owned();
    let (s1, s2) = (strided(&x1), strided(&x2));
    let up = rng.array(&[n], 0.5, 1.5);
    let close = |what: &str, a: &ArrayD<f64>, b: &ArrayD<f64>| {
        let scale = b.iter().fold(1.0f64, |s, v| s.max(v.abs()));
        assert!(a.shape() == b.shape() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-13 * scale), "{what}: {a} vs {b}");
    };
    for r in Reduction::ALL {
        for margin in [-0.5, 0.0, 0.3] {
            let l = CosineEmbeddingLoss::new().reduction(r).margin(margin);
            let (v_fast, v_gen) = (l.forward(x1.view(), x2.view(), y.view()).unwrap(), l.forward(s1.t(), s2.t(), y.view()).unwrap());
            close(&format!("{r:?} {margin} value"), &v_fast, &v_gen);
            let g = if r == Reduction::None { up.clone() } else { arr0(0.7).into_dyn() };
            let (b_fast, b_gen) = (l.backward(x1.view(), x2.view(), y.view(), g.view()).unwrap(), l.backward(s1.t(), s2.t(), y.view(), g.view()).unwrap());
            close(&format!("{r:?} {margin} d/dinput1"), &b_fast.input1, &b_gen.input1);
            close(&format!("{r:?} {margin} d/dinput2"), &b_fast.input2, &b_gen.input2);
            let (fv, fg) = l.forward_backward(x1.view(), x2.view(), y.view()).unwrap();
            let (gv, gg) = l.forward_backward(s1.t(), s2.t(), y.view()).unwrap();
            close(&format!("{r:?} {margin} forward_backward value"), &fv, &gv);
            close(&format!("{r:?} {margin} forward_backward d/dinput1"), &fg.input1, &gg.input1);
            close(&format!("{r:?} {margin} forward_backward d/dinput2"), &fg.input2, &gg.input2);
        }
    }
    // float32: thread-independent bits, and float64's values to f32 rounding.
    let (n, d) = (3001, 37);
    let f = |a: ArrayD<f64>| a.mapv(|v| v as f32);
    let (a32, b32) = (f(rng.array(&[n, d], -1.0, 1.0)), f(rng.array(&[n, d], -1.0, 1.0)));
    let y32 = ArrayD::from_shape_fn(IxDyn(&[n]), |i| if i[0] % 3 == 0 { -1.0f32 } else { 1.0 });
    let l = CosineEmbeddingLoss::new().margin(0.1);
    let bits = |t: &ArrayD<f32>| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
            let (v, g) = l.forward_backward(a32.view(), b32.view(), y32.view()).unwrap();
            [bits(&v), bits(&g.input1), bits(&g.input2)]
        })
    };
    assert_eq!(run(1), run(3), "float32 bits depend on the thread count");
    let w = |a: &ArrayD<f32>| a.mapv(f64::from);
    let (v64, g64) = l.forward_backward(w(&a32).view(), w(&b32).view(), w(&y32).view()).unwrap();
    let (v32, g32) = l.forward_backward(a32.view(), b32.view(), y32.view()).unwrap();
    assert!((f64::from(v32[[]]) - v64[[]]).abs() <= 1e-6 * v64[[]].abs().max(1.0), "{v32} vs {v64}");
    for (a, b) in [(&g32.input1, &g64.input1), (&g32.input2, &g64.input2)] {
        let scale = b.iter().fold(0.0f64, |s, v| s.max(v.abs()));
        assert!(a.iter().zip(b).all(|(x, y)| (f64::from(*x) - y).abs() <= 1e-5 * scale), "float32 gradients");
    }
}
