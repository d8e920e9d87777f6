//! Metric-learning losses (pytorch-metric-learning's ArcFace, CosFace,
//! SphereFace, the pair losses: SupCon, Multi-Similarity, Circle, the lifted
//! structure losses, N-pairs): errors with their messages, closed forms (CosFace and ArcFace on
//! axis-aligned inputs, SphereFace's multiple-angle polynomial against cos mθ),
//! the reducers (the mean and sum of the per-element losses, AvgNonZero), f32
//! against f64, and gradients by finite differences in f64 under every reducer,
//! with a non-trivial upstream gradient, and the same bits on 1 and 4 threads
//! for the pair losses' parallel row blocks. Values against pml are in the golden
//! suite (crates/losslab-registry/tests/golden/metric.json).

use crate::common;

use common::{assert_close, check_gradient, dot, Rng};
use losslab::pml::{arc_face, ArcFaceLoss, CircleLoss, CosFaceLoss, GeneralizedLiftedStructureLoss, LiftedStructureLoss, MetricReducer, MultiSimilarityLoss, NPairsLoss, SphereFaceLoss, SupConLoss};
use losslab::LossError;
use ndarray::{arr1, array, ArrayD, IxDyn};

fn inputs(rng: &mut Rng, n: usize, d: usize, c: usize) -> (ArrayD<f64>, ndarray::Array1<i64>, ArrayD<f64>) {
    let e = rng.array(&[n, d], -1.0, 1.0);
    let w = rng.array(&[d, c], -1.0, 1.0);
    let labels = ndarray::Array1::from_iter((0..n).map(|i| (i % c) as i64));
    (e, labels, w)
}

#[test]
fn errors_name_the_loss_the_tensor_and_what_was_expected() {
    let e = array![[1.0f64, 0.0], [0.0, 1.0]];
    let w = array![[1.0f64, 0.0], [0.0, 1.0]];
    let err = arc_face(e.view(), arr1(&[0i64, 2]).view(), w.view()).unwrap_err();
    assert_eq!(err.to_string(), "arc_face: `labels` holds class index 2 at position [1], outside the valid range [0, 2)");
    let err = CosFaceLoss::new().forward(e.view(), arr1(&[0i64]).view(), w.view()).unwrap_err();
    assert_eq!(err.to_string(), "cos_face: `labels` has shape [1], expected [2] (1-D, one label per embedding)");
    let w3 = array![[1.0f64, 0.0], [0.0, 1.0], [1.0, 1.0]];
    let err = CosFaceLoss::new().forward(e.view(), arr1(&[0i64, 1]).view(), w3.view()).unwrap_err();
    assert_eq!(err.to_string(), "cos_face: `W` has shape [3, 2], expected (2, num_classes) (2-D: embedding_size × num_classes)");
    let v = arr1(&[1.0f64, 2.0]);
    let err = SphereFaceLoss::new().forward(v.view(), arr1(&[0i64, 1]).view(), w.view()).unwrap_err();
    assert!(matches!(err, LossError::Shape { tensor: "embeddings", .. }), "{err}");
    let err = SphereFaceLoss::new().margin(0.5).forward(e.view(), arr1(&[0i64, 1]).view(), w.view()).unwrap_err();
    assert_eq!(err.to_string(), "sphere_face: option `margin` = 0.5 is invalid: expected a number whose integer part is between 1 and 64 (the multiplier m)");
    let err = ArcFaceLoss::new().margin(f64::NAN).forward(e.view(), arr1(&[0i64, 1]).view(), w.view()).unwrap_err();
    assert!(matches!(err, LossError::Option { option: "margin", .. }), "{err}");
    let err = CosFaceLoss::new().scale(f64::INFINITY).forward(e.view(), arr1(&[0i64, 1]).view(), w.view()).unwrap_err();
    assert!(matches!(err, LossError::Option { option: "scale", .. }), "{err}");
    let g = ArrayD::<f64>::zeros(IxDyn(&[2]));
    let err = ArcFaceLoss::new().backward(e.view(), arr1(&[0i64, 1]).view(), w.view(), g.view()).unwrap_err();
    assert!(err.to_string().contains("grad_output"), "{err}");
}

#[test]
fn closed_forms_on_axis_aligned_inputs() {
    // embeddings along class axes of W (columns of any norm: they are normalised)
    let e = array![[3.0f64, 0.0, 0.0], [0.0, 0.5, 0.0]];
    let w = array![[2.0f64, 0.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 0.1]];
    let labels = arr1(&[0i64, 1]);
    let ce = |t: f64, others: f64| ((t.exp() + 2.0 * others.exp()).ln()) - t;
    // CosFace: target logit s(1 − m), the others 0
    let l = CosFaceLoss::new().margin(0.2).scale(5.0).reducer(MetricReducer::None).forward(e.view(), labels.view(), w.view()).unwrap();
    assert_close("cos_face", &l, &arr1(&[ce(4.0, 0.0), ce(4.0, 0.0)]).into_dyn(), 1e-14);
    // ArcFace: θ = 0, target cos(m)
    let l = ArcFaceLoss::new().margin(40.0).scale(3.0).forward(e.view(), labels.view(), w.view()).unwrap();
    let t = 3.0 * 40f64.to_radians().cos();
    assert!((l[[]] - ce(t, 0.0)).abs() < 1e-13);
    // ArcFace past π − m: an embedding opposite its class
    let e2 = array![[-1.0f64, 0.0, 0.0]];
    let l = ArcFaceLoss::new().margin(30.0).scale(1.0).forward(e2.view(), arr1(&[0i64]).view(), w.view()).unwrap();
    let m = 30f64.to_radians();
    let t = -1.0 - m * m.sin();
    assert!((l[[]] - ce(t, 0.0)).abs() < 1e-13);
    // SphereFace scales by the embedding's norm: θ = 0 → ψ = 1
    let l = SphereFaceLoss::new().scale(2.0).reducer(MetricReducer::None).forward(e.view(), labels.view(), w.view()).unwrap();
    assert_close("sphere_face", &l, &arr1(&[ce(6.0, 0.0), ce(1.0, 0.0)]).into_dyn(), 1e-14);
}

#[test]
fn sphere_face_target_logit_is_the_monotone_psi() {
    // one embedding at angle θ from its class column (1, 0); the other class's column (0, −1)
    for m in 1..=5u32 {
        for k in 1..30 {
            let theta = f64::from(k) * std::f64::consts::PI / 30.0 + 0.01;
            let e = array![[theta.cos(), theta.sin()]];
            let w2 = array![[1.0f64, 0.0], [0.0, -1.0]];
            let l = SphereFaceLoss::new().margin(f64::from(m)).reducer(MetricReducer::None).forward(e.view(), arr1(&[0i64]).view(), w2.view()).unwrap();
            let kk = (theta / (std::f64::consts::PI / f64::from(m))).floor();
            let psi = (-1f64).powi(kk as i32) * (f64::from(m) * theta).cos() - 2.0 * kk;
            let other = -theta.sin();
            let want = (psi.exp() + other.exp()).ln() - psi;
            assert!((l[[0]] - want).abs() < 1e-12, "m {m} θ {theta}: {} vs {want}", l[[0]]);
        }
    }
}

#[test]
fn reducers_are_pml_s() {
    let mut rng = Rng::new(3);
    let (e, labels, w) = inputs(&mut rng, 6, 4, 3);
    let loss = CosFaceLoss::new().scale(4.0).margin(-0.5);
    let per = loss.clone().reducer(MetricReducer::None).forward(e.view(), labels.view(), w.view()).unwrap();
    let sum: f64 = per.iter().sum();
    let mean = loss.forward(e.view(), labels.view(), w.view()).unwrap();
    assert!((mean[[]] - sum / 6.0).abs() < 1e-14);
    let s = loss.clone().reducer(MetricReducer::Sum).forward(e.view(), labels.view(), w.view()).unwrap();
    assert!((s[[]] - sum).abs() < 1e-13);
    // AvgNonZero: every cross entropy is > 0 here, so it is the mean
    let a = loss.clone().reducer(MetricReducer::AvgNonZero).forward(e.view(), labels.view(), w.view()).unwrap();
    assert!((a[[]] - sum / 6.0).abs() < 1e-14);
}

#[test]
fn f32_agrees_with_f64() {
    let mut rng = Rng::new(4);
    let (e, labels, w) = inputs(&mut rng, 9, 5, 4);
    let (e32, w32) = (e.mapv(|v| v as f32), w.mapv(|v| v as f32));
    let (e64, w64) = (e32.mapv(f64::from), w32.mapv(f64::from));
    let check = |name: &str, a: (ArrayD<f32>, losslab::pml::MetricGradients<f32>), b: (ArrayD<f64>, losslab::pml::MetricGradients<f64>)| {
        assert_close(name, &a.0.mapv(f64::from), &b.0, 1e-5);
        let close = |x: &ArrayD<f32>, y: &ArrayD<f64>| {
            let scale = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            x.iter().zip(y.iter()).all(|(p, q)| (f64::from(*p) - q).abs() <= 1e-5 * scale + 1e-6)
        };
        assert!(close(&a.1.embeddings, &b.1.embeddings), "{name}: embeddings");
        assert!(close(a.1.weight.as_ref().unwrap(), b.1.weight.as_ref().unwrap()), "{name}: W");
    };
    let arc = ArcFaceLoss::new().scale(8.0).margin(20.0);
    check("arc", arc.forward_backward(e32.view(), labels.view(), w32.view()).unwrap(), arc.forward_backward(e64.view(), labels.view(), w64.view()).unwrap());
    let cos = CosFaceLoss::new();
    check("cos", cos.forward_backward(e32.view(), labels.view(), w32.view()).unwrap(), cos.forward_backward(e64.view(), labels.view(), w64.view()).unwrap());
    let sph = SphereFaceLoss::new().margin(3.0);
    check("sphere", sph.forward_backward(e32.view(), labels.view(), w32.view()).unwrap(), sph.forward_backward(e64.view(), labels.view(), w64.view()).unwrap());
}

/// `Σ go · loss` and its gradients for a loss with `forward`/`backward`, checked by finite differences.
macro_rules! fd_check {
    ($name:expr, $loss:expr, $e:expr, $labels:expr, $w:expr, $go:expr) => {{
        let loss = $loss;
        let (e, labels, w, go): (&ArrayD<f64>, &ndarray::Array1<i64>, &ArrayD<f64>, &ArrayD<f64>) = ($e, $labels, $w, $go);
        let g = loss.backward(e.view(), labels.view(), w.view(), go.view()).unwrap();
        check_gradient(&format!("{} embeddings", $name), e, &g.embeddings, |x| dot(go, &loss.forward(x.view(), labels.view(), w.view()).unwrap()));
        check_gradient(&format!("{} W", $name), w, g.weight.as_ref().unwrap(), |x| dot(go, &loss.forward(e.view(), labels.view(), x.view()).unwrap()));
    }};
}

#[test]
fn gradients_match_finite_differences_under_every_reducer() {
    let mut rng = Rng::new(5);
    let (e, labels, w) = inputs(&mut rng, 5, 3, 4);
    let per_go = arr1(&[0.7, -1.3, 0.2, 2.0, -0.4]).into_dyn();
    let scalar_go = ndarray::arr0(-1.7).into_dyn();
    for reducer in [MetricReducer::Mean, MetricReducer::Sum, MetricReducer::AvgNonZero, MetricReducer::None] {
        let go = if reducer == MetricReducer::None { &per_go } else { &scalar_go };
        fd_check!(format!("arc {reducer:?}"), ArcFaceLoss::new().scale(3.0).margin(35.0).reducer(reducer), &e, &labels, &w, go);
        fd_check!(format!("arc wide {reducer:?}"), ArcFaceLoss::new().scale(1.0).margin(100.0).reducer(reducer), &e, &labels, &w, go);
        fd_check!(format!("cos {reducer:?}"), CosFaceLoss::new().scale(2.0).reducer(reducer), &e, &labels, &w, go);
        fd_check!(format!("sphere {reducer:?}"), SphereFaceLoss::new().scale(1.5).reducer(reducer), &e, &labels, &w, go);
        fd_check!(format!("sphere m3 {reducer:?}"), SphereFaceLoss::new().margin(3.0).reducer(reducer), &e, &labels, &w, go);
    }
}

#[test]
fn forward_backward_is_forward_and_backward_of_ones() {
    let mut rng = Rng::new(6);
    let (e, labels, w) = inputs(&mut rng, 4, 3, 2);
    let loss = SphereFaceLoss::new().margin(2.0);
    let (v, g) = loss.forward_backward(e.view(), labels.view(), w.view()).unwrap();
    assert_eq!(v, loss.forward(e.view(), labels.view(), w.view()).unwrap());
    let g2 = loss.backward(e.view(), labels.view(), w.view(), ndarray::arr0(1.0).into_dyn().view()).unwrap();
    assert_eq!(g, g2);
}

// ---------------------------------------------------------------------------------------
// The pair losses

fn naive_cos(e: &ArrayD<f64>) -> Vec<Vec<f64>> {
    let (n, d) = (e.shape()[0], e.shape()[1]);
    let norm = |i: usize| (0..d).map(|k| e[[i, k]] * e[[i, k]]).sum::<f64>().sqrt();
    (0..n).map(|i| (0..n).map(|j| (0..d).map(|k| e[[i, k]] * e[[j, k]]).sum::<f64>() / (norm(i) * norm(j))).collect()).collect()
}

fn lse(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[test]
fn pair_losses_match_their_naive_definitions() {
    let mut rng = Rng::new(7);
    let e = rng.array(&[7, 4], -1.0, 1.0);
    let lab = arr1(&[0i64, 1, 0, 2, 1, 0, 3]);
    let s = naive_cos(&e);
    let n = 7;
    // SupCon, τ = 0.3
    let t = 0.3;
    let sup: Vec<f64> = (0..n)
        .map(|i| {
            let others: Vec<f64> = (0..n).filter(|&j| j != i).map(|j| s[i][j] / t).collect();
            let den = lse(&others);
            let pos: Vec<usize> = (0..n).filter(|&j| j != i && lab[j] == lab[i]).collect();
            if pos.is_empty() { 0.0 } else { -pos.iter().map(|&j| s[i][j] / t - den).sum::<f64>() / pos.len() as f64 }
        })
        .collect();
    let got = SupConLoss::new().temperature(t).reducer(MetricReducer::None).forward(e.view(), lab.view()).unwrap();
    assert_close("sup_con", &got, &arr1(&sup).into_dyn(), 1e-12);
    let nonzero: Vec<f64> = sup.iter().copied().filter(|&v| v > 0.0).collect();
    let avg = SupConLoss::new().temperature(t).forward(e.view(), lab.view()).unwrap();
    assert!((avg[[]] - nonzero.iter().sum::<f64>() / nonzero.len() as f64).abs() < 1e-12);
    // Multi-similarity
    let (a, b, base) = (2.0, 10.0, 0.3);
    let ms: Vec<f64> = (0..n)
        .map(|i| {
            let p: f64 = (0..n).filter(|&j| j != i && lab[j] == lab[i]).map(|j| (-a * (s[i][j] - base)).exp()).sum();
            let q: f64 = (0..n).filter(|&j| lab[j] != lab[i]).map(|j| (b * (s[i][j] - base)).exp()).sum();
            p.ln_1p() / a + q.ln_1p() / b
        })
        .collect();
    let got = MultiSimilarityLoss::new().alpha(a).beta(b).base(base).reducer(MetricReducer::None).forward(e.view(), lab.view()).unwrap();
    assert_close("multi_similarity", &got, &arr1(&ms).into_dyn(), 1e-12);
    // Circle
    let (m, g) = (0.25, 8.0);
    let ci: Vec<f64> = (0..n)
        .map(|i| {
            let p: Vec<f64> = (0..n).filter(|&j| j != i && lab[j] == lab[i]).map(|j| -g * (1.0 + m - s[i][j]).max(0.0) * (s[i][j] - 1.0 + m)).collect();
            let q: Vec<f64> = (0..n).filter(|&j| lab[j] != lab[i]).map(|j| g * (s[i][j] + m).max(0.0) * (s[i][j] - m)).collect();
            if p.is_empty() || q.is_empty() { 0.0 } else { (lse(&p) + lse(&q)).exp().ln_1p() }
        })
        .collect();
    let got = CircleLoss::new().m(m).gamma(g).reducer(MetricReducer::None).forward(e.view(), lab.view()).unwrap();
    assert_close("circle", &got, &arr1(&ci).into_dyn(), 1e-12);
}

#[test]
fn pair_losses_without_pairs_are_zero() {
    let e = array![[0.3f64, 0.4]];
    for v in [SupConLoss::new().forward(e.view(), arr1(&[0i64]).view()).unwrap(), MultiSimilarityLoss::new().forward(e.view(), arr1(&[0i64]).view()).unwrap(), CircleLoss::new().forward(e.view(), arr1(&[0i64]).view()).unwrap()] {
        assert_eq!(v[[]], 0.0);
    }
    // one class: SupCon and Circle have no negatives: 0, gradient 0
    let e = array![[0.3f64, 0.4], [0.1, -0.2], [0.5, 0.5]];
    let l = arr1(&[2i64, 2, 2]);
    let (v, g) = SupConLoss::new().forward_backward(e.view(), l.view()).unwrap();
    assert_eq!(v[[]], 0.0);
    assert!(g.embeddings.iter().all(|&x| x == 0.0));
    let (v, g) = CircleLoss::new().forward_backward(e.view(), l.view()).unwrap();
    assert_eq!(v[[]], 0.0);
    assert!(g.embeddings.iter().all(|&x| x == 0.0));
    // Multi-similarity: only the positive term
    let v = MultiSimilarityLoss::new().forward(e.view(), l.view()).unwrap();
    assert!(v[[]] > 0.0);
    let err = SupConLoss::new().temperature(0.0).forward(e.view(), l.view()).unwrap_err();
    assert_eq!(err.to_string(), "sup_con: option `temperature` = 0 is invalid: expected a finite non-zero number");
    let err = CircleLoss::new().forward(e.view(), arr1(&[0i64, 1]).view()).unwrap_err();
    assert_eq!(err.to_string(), "circle: `labels` has shape [2], expected [3] (1-D, one label per embedding)");
}

#[test]
fn sup_con_and_multi_similarity_gradients_match_finite_differences_under_every_reducer() {
    let mut rng = Rng::new(8);
    let e = rng.array(&[6, 3], -1.0, 1.0);
    let lab = arr1(&[0i64, 1, 0, 1, 2, 0]);
    let per_go = arr1(&[0.7, -1.3, 0.2, 2.0, -0.4, 1.1]).into_dyn();
    let scalar_go = ndarray::arr0(-1.7).into_dyn();
    for reducer in [MetricReducer::Mean, MetricReducer::Sum, MetricReducer::AvgNonZero, MetricReducer::None] {
        let go = if reducer == MetricReducer::None { &per_go } else { &scalar_go };
        let sup = SupConLoss::new().temperature(0.4).reducer(reducer);
        let g = sup.backward(e.view(), lab.view(), go.view()).unwrap();
        check_gradient("sup_con", &e, &g.embeddings, |x| dot(go, &sup.forward(x.view(), lab.view()).unwrap()));
        let ms = MultiSimilarityLoss::new().beta(8.0).reducer(reducer);
        let g = ms.backward(e.view(), lab.view(), go.view()).unwrap();
        check_gradient("multi_similarity", &e, &g.embeddings, |x| dot(go, &ms.forward(x.view(), lab.view()).unwrap()));
        // CircleLoss's gradient is not the loss's derivative (pml detaches its
        // weights αₚ, αₙ): the golden suite checks it against pml's autograd.
    }
}

#[test]
fn pair_losses_f32_agree_with_f64() {
    let mut rng = Rng::new(9);
    let e = rng.array(&[12, 5], -1.0, 1.0).mapv(|v| v as f32);
    let e64 = e.mapv(f64::from);
    let lab = arr1(&[0i64, 1, 2, 0, 1, 2, 0, 1, 3, 3, 4, 0]);
    let pairs: [(f64, f64); 3] = [
        (f64::from(SupConLoss::new().forward(e.view(), lab.view()).unwrap()[[]]), SupConLoss::new().forward(e64.view(), lab.view()).unwrap()[[]]),
        (f64::from(MultiSimilarityLoss::new().forward(e.view(), lab.view()).unwrap()[[]]), MultiSimilarityLoss::new().forward(e64.view(), lab.view()).unwrap()[[]]),
        (f64::from(CircleLoss::new().forward(e.view(), lab.view()).unwrap()[[]]), CircleLoss::new().forward(e64.view(), lab.view()).unwrap()[[]]),
    ];
    for (a, b) in pairs {
        assert!((a - b).abs() <= 1e-5 * b.abs() + 1e-6, "{a} vs {b}");
    }
}

fn naive_dist(e: &ArrayD<f64>, normalize: bool) -> Vec<Vec<f64>> {
    let n = e.shape()[0];
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let r: Vec<f64> = e.index_axis(ndarray::Axis(0), i).iter().copied().collect();
            let nrm = if normalize { r.iter().map(|v| v * v).sum::<f64>().sqrt() } else { 1.0 };
            r.iter().map(|v| v / nrm).collect()
        })
        .collect();
    (0..n).map(|i| (0..n).map(|j| rows[i].iter().zip(&rows[j]).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt()).collect()).collect()
}

#[test]
fn lifted_structure_losses_match_their_naive_definitions() {
    let mut rng = Rng::new(21);
    let e = rng.array(&[9, 4], -1.0, 1.0);
    let lab = arr1(&[0i64, 1, 2, 0, 1, 2, 0, 3, 1]);
    let n = 9;
    for normalize in [true, false] {
        let d = naive_dist(&e, normalize);
        let (nm, pm) = (1.3, 0.2);
        // Lifted: per ordered positive pair, the negatives of both anchors in one log-sum-exp
        let mut want = vec![];
        for a in 0..n {
            for p in 0..n {
                if a != p && lab[a] == lab[p] {
                    let lab = &lab;
                    let negs: Vec<f64> = [a, p].iter().flat_map(|&k| (0..n).filter(move |&j| lab[j] != lab[k]).map(move |j| (k, j))).map(|(k, j)| nm - d[k][j]).collect();
                    let z = (lse(&negs) + d[a][p] - pm).max(0.0);
                    want.push(z * z / 2.0);
                }
            }
        }
        let loss = LiftedStructureLoss::new().neg_margin(nm).pos_margin(pm).normalize_embeddings(normalize);
        let got = loss.clone().reducer(MetricReducer::None).forward(e.view(), lab.view()).unwrap();
        assert_close("lifted_structure", &got, &arr1(&want).into_dyn(), 1e-12);
        let mean = loss.forward(e.view(), lab.view()).unwrap();
        assert!((mean[[]] - want.iter().sum::<f64>() / want.len() as f64).abs() < 1e-12);
        // Generalized: per anchor
        let want: Vec<f64> = (0..n)
            .map(|i| {
                let p: Vec<f64> = (0..n).filter(|&j| j != i && lab[j] == lab[i]).map(|j| d[i][j] - pm).collect();
                let q: Vec<f64> = (0..n).filter(|&j| lab[j] != lab[i]).map(|j| nm - d[i][j]).collect();
                let lp = if p.is_empty() { 0.0 } else { lse(&p) };
                (lp + lse(&q)).max(0.0)
            })
            .collect();
        let got = GeneralizedLiftedStructureLoss::new().neg_margin(nm).pos_margin(pm).normalize_embeddings(normalize).reducer(MetricReducer::None).forward(e.view(), lab.view()).unwrap();
        assert_close("generalized_lifted_structure", &got, &arr1(&want).into_dyn(), 1e-12);
    }
}

#[test]
fn n_pairs_takes_pml_s_pairs_in_label_order() {
    let mut rng = Rng::new(22);
    let e = rng.array(&[9, 3], -1.0, 1.0);
    // label 7: samples 1, 4 (and 8); label -2: samples 2, 6; label 0: samples 3, 5; label 9 alone
    let lab = arr1(&[9i64, 7, -2, 0, 7, 0, -2, 11, 7]);
    let pairs = [(2usize, 6usize), (3, 5), (1, 4)];
    let rows: Vec<Vec<f64>> = (0..9)
        .map(|i| {
            let r: Vec<f64> = e.index_axis(ndarray::Axis(0), i).iter().copied().collect();
            let nrm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
            r.iter().map(|v| v / nrm).collect()
        })
        .collect();
    let want: Vec<f64> = pairs
        .iter()
        .map(|&(a, _)| {
            let s: Vec<f64> = pairs.iter().map(|&(_, p)| rows[a].iter().zip(&rows[p]).map(|(x, y)| x * y).sum()).collect();
            let own = pairs.iter().position(|&(x, _)| x == a).unwrap();
            lse(&s) - s[own]
        })
        .collect();
    let got = NPairsLoss::new().reducer(MetricReducer::None).forward(e.view(), lab.view()).unwrap();
    assert_close("n_pairs", &got, &arr1(&want).into_dyn(), 1e-12);
    // the samples outside the pairs have no gradient
    let (_, g) = NPairsLoss::new().forward_backward(e.view(), lab.view()).unwrap();
    for i in [0usize, 7, 8] {
        assert!(g.embeddings.index_axis(ndarray::Axis(0), i).iter().all(|&v| v == 0.0), "row {i}");
    }
    // one pair: cross entropy over one column is 0
    let (v, g) = NPairsLoss::new().forward_backward(e.view(), arr1(&[1i64, 2, 1, 3, 4, 5, 6, 8, 9]).view()).unwrap();
    assert_eq!(v[[]], 0.0);
    assert!(g.embeddings.iter().all(|&x| x == 0.0));
}

#[test]
fn lifted_and_n_pairs_without_pairs_are_zero() {
    let one = array![[0.3f64, 0.4]];
    let three = array![[0.3f64, 0.4], [0.1, -0.2], [0.5, 0.5]];
    for (e, l) in [(one.view(), arr1(&[0i64])), (three.view(), arr1(&[2i64, 2, 2])), (three.view(), arr1(&[0i64, 1, 2]))] {
        let (v, g) = LiftedStructureLoss::new().forward_backward(e, l.view()).unwrap();
        assert_eq!(v[[]], 0.0);
        assert!(g.embeddings.iter().all(|&x| x == 0.0));
        // no per-element losses (pml's zero loss)
        assert_eq!(LiftedStructureLoss::new().reducer(MetricReducer::None).forward(e, l.view()).unwrap().shape(), &[0]);
        let (v, g) = NPairsLoss::new().forward_backward(e, if l[0] == 2 { arr1(&[0i64, 1, 2]) } else { l.clone() }.view()).unwrap();
        assert_eq!(v[[]], 0.0);
        assert!(g.embeddings.iter().all(|&x| x == 0.0));
    }
    // one sample: the generalized loss is 0; one class: its negative term is 0
    assert_eq!(GeneralizedLiftedStructureLoss::new().forward(one.view(), arr1(&[0i64]).view()).unwrap()[[]], 0.0);
    let v = GeneralizedLiftedStructureLoss::new().pos_margin(-1.0).reducer(MetricReducer::None).forward(three.view(), arr1(&[2i64, 2, 2]).view()).unwrap();
    assert!(v.iter().all(|&x| x > 0.0));
}

#[test]
fn lifted_and_n_pairs_errors() {
    let e = array![[0.3f64, 0.4], [0.1, -0.2], [0.5, 0.5]];
    let l = arr1(&[0i64, 0, 1]);
    let err = LiftedStructureLoss::new().neg_margin(f64::NAN).forward(e.view(), l.view()).unwrap_err();
    assert_eq!(err.to_string(), "lifted_structure: option `neg_margin` = NaN is invalid: expected a finite number");
    let err = GeneralizedLiftedStructureLoss::new().pos_margin(f64::INFINITY).forward(e.view(), l.view()).unwrap_err();
    assert_eq!(err.to_string(), "generalized_lifted_structure: option `pos_margin` = inf is invalid: expected a finite number");
    let err = NPairsLoss::new().forward(e.view(), arr1(&[0i64, 1]).view()).unwrap_err();
    assert_eq!(err.to_string(), "n_pairs: `labels` has shape [2], expected [3] (1-D, one label per embedding)");
    let err = LiftedStructureLoss::new().forward(arr1(&[1.0f64, 2.0]).view(), arr1(&[0i64, 1]).view()).unwrap_err();
    assert!(matches!(err, LossError::Shape { tensor: "embeddings", .. }), "{err}");
    // unreduced: one loss per ordered positive pair (2 here), not per embedding
    let g = ArrayD::<f64>::zeros(IxDyn(&[3]));
    let err = LiftedStructureLoss::new().reducer(MetricReducer::None).backward(e.view(), l.view(), g.view()).unwrap_err();
    assert_eq!(err.to_string(), "lifted_structure: `grad_output` has shape [3], expected [2] (the shape of the result)");
}

#[test]
fn lifted_and_n_pairs_gradients_match_finite_differences_under_every_reducer() {
    let mut rng = Rng::new(23);
    let e = rng.array(&[6, 3], -1.0, 1.0);
    let lab = arr1(&[0i64, 1, 0, 1, 2, 0]);
    let scalar_go = ndarray::arr0(-1.7).into_dyn();
    let go_of = |len: usize| arr1(&(0..len).map(|i| 0.3 + 0.7 * (i as f64) - 0.2 * (i * i % 5) as f64).collect::<Vec<_>>()).into_dyn();
    for reducer in [MetricReducer::Mean, MetricReducer::Sum, MetricReducer::AvgNonZero, MetricReducer::None] {
        for normalize in [true, false] {
            let ls = LiftedStructureLoss::new().neg_margin(1.2).pos_margin(0.1).normalize_embeddings(normalize).reducer(reducer);
            let go = if reducer == MetricReducer::None { go_of(8) } else { scalar_go.clone() };
            let g = ls.backward(e.view(), lab.view(), go.view()).unwrap();
            check_gradient("lifted_structure", &e, &g.embeddings, |x| dot(&go, &ls.forward(x.view(), lab.view()).unwrap()));
            let gl = GeneralizedLiftedStructureLoss::new().neg_margin(1.5).normalize_embeddings(normalize).reducer(reducer);
            let go = if reducer == MetricReducer::None { go_of(6) } else { scalar_go.clone() };
            let g = gl.backward(e.view(), lab.view(), go.view()).unwrap();
            check_gradient("generalized_lifted_structure", &e, &g.embeddings, |x| dot(&go, &gl.forward(x.view(), lab.view()).unwrap()));
            let np = NPairsLoss::new().normalize_embeddings(normalize).reducer(reducer);
            let go = if reducer == MetricReducer::None { go_of(2) } else { scalar_go.clone() };
            let g = np.backward(e.view(), lab.view(), go.view()).unwrap();
            check_gradient("n_pairs", &e, &g.embeddings, |x| dot(&go, &np.forward(x.view(), lab.view()).unwrap()));
        }
    }
}

#[test]
fn lifted_ties_have_zero_distance_gradient() {
    // equal embeddings within a class (d = 0) and across classes
    let e = array![[0.5f64, 0.2, -0.1], [0.5, 0.2, -0.1], [0.1, 0.7, 0.3], [-0.4, 0.2, 0.6], [0.1, 0.7, 0.3]];
    let l = arr1(&[0i64, 0, 1, 2, 1]);
    for loss in [LiftedStructureLoss::new(), LiftedStructureLoss::new().normalize_embeddings(false)] {
        let (v, g) = loss.forward_backward(e.view(), l.view()).unwrap();
        assert!(v[[]].is_finite() && g.embeddings.iter().all(|x| x.is_finite()));
    }
    let (v, g) = GeneralizedLiftedStructureLoss::new().forward_backward(e.view(), l.view()).unwrap();
    assert!(v[[]].is_finite() && g.embeddings.iter().all(|x| x.is_finite()));
}

#[test]
fn lifted_and_n_pairs_f32_agree_with_f64() {
    let mut rng = Rng::new(24);
    let e = rng.array(&[12, 5], -1.0, 1.0).mapv(|v| v as f32);
    let e64 = e.mapv(f64::from);
    let lab = arr1(&[0i64, 1, 2, 0, 1, 2, 0, 1, 3, 3, 4, 0]);
    let pairs: [(f64, f64); 3] = [
        (f64::from(LiftedStructureLoss::new().forward(e.view(), lab.view()).unwrap()[[]]), LiftedStructureLoss::new().forward(e64.view(), lab.view()).unwrap()[[]]),
        (f64::from(GeneralizedLiftedStructureLoss::new().forward(e.view(), lab.view()).unwrap()[[]]), GeneralizedLiftedStructureLoss::new().forward(e64.view(), lab.view()).unwrap()[[]]),
        (f64::from(NPairsLoss::new().forward(e.view(), lab.view()).unwrap()[[]]), NPairsLoss::new().forward(e64.view(), lab.view()).unwrap()[[]]),
    ];
    for (a, b) in pairs {
        assert!((a - b).abs() <= 1e-5 * b.abs() + 1e-6, "{a} vs {b}");
    }
}

#[test]
fn pair_losses_give_the_same_bits_on_any_thread_count() {
    // large enough for the parallel row blocks (N² D well above the parallel threshold)
    let mut rng = Rng::new(25);
    let (n, d) = (300, 48);
    let e = rng.array(&[n, d], -1.0, 1.0);
    let lab = ndarray::Array1::from_iter((0..n).map(|i| ((i * 7) % 37) as i64));
    let run = || {
        let mut out: Vec<(ArrayD<f64>, ArrayD<f64>)> = vec![];
        let (v, g) = LiftedStructureLoss::new().forward_backward(e.view(), lab.view()).unwrap();
        out.push((v, g.embeddings));
        let (v, g) = GeneralizedLiftedStructureLoss::new().forward_backward(e.view(), lab.view()).unwrap();
        out.push((v, g.embeddings));
        let (v, g) = NPairsLoss::new().normalize_embeddings(false).forward_backward(e.view(), lab.view()).unwrap();
        out.push((v, g.embeddings));
        let (v, g) = SupConLoss::new().forward_backward(e.view(), lab.view()).unwrap();
        out.push((v, g.embeddings));
        out
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run);
    let four = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap().install(run);
    for (k, (a, b)) in one.iter().zip(&four).enumerate() {
        assert_eq!(a.0.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.0.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "loss {k}: value");
        assert!(a.1.iter().zip(b.1.iter()).all(|(x, y)| x.to_bits() == y.to_bits()), "loss {k}: gradient");
    }
}
