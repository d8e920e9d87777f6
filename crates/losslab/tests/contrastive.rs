//! Contrastive losses (OpenCLIP's ClipLoss and SigLipLoss): errors with their
//! messages, gradients by finite differences in f64 (features, scale, bias) under
//! every reduction, identities (the per-pair values' mean is the result; a shift of
//! every logit leaves CLIP unchanged), f32 against f64, and a large batch against a
//! naive reference. Values against OpenCLIP are in the golden suite
//! (crates/losslab-registry/tests/golden/contrastive.json).

use crate::common;

use common::{assert_close, check_gradient, dot, Rng};
use losslab::open_clip::{clip_loss, ClipLoss, SigLipLoss};
use losslab::{LossError, Reduction};
use ndarray::{Array2, ArrayD, IxDyn};

fn features(rng: &mut Rng, n: usize, d: usize) -> ArrayD<f64> {
    rng.array(&[n, d], -1.0, 1.0)
}

fn naive_logits(x: &ArrayD<f64>, y: &ArrayD<f64>, s: f64, b: f64) -> Array2<f64> {
    let (n, d) = (x.shape()[0], x.shape()[1]);
    Array2::from_shape_fn((n, n), |(i, j)| s * (0..d).map(|k| x[[i, k]] * y[[j, k]]).sum::<f64>() + b)
}

fn lse(v: impl Iterator<Item = f64> + Clone) -> f64 {
    let m = v.clone().fold(f64::NEG_INFINITY, f64::max);
    m + v.map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[test]
fn errors_name_the_tensor_and_the_shape() {
    let mut rng = Rng::new(1);
    let x = features(&mut rng, 3, 2);
    let y = features(&mut rng, 4, 2);
    let e = ClipLoss::new().forward(x.view(), y.view(), 1.0, None).unwrap_err();
    assert_eq!(e.to_string(), "clip_loss: `text_features` has shape [4, 2], expected [3, 2] (the shape of `image_features`: one text per image)");
    let v = ndarray::arr1(&[1.0, 2.0]).into_dyn();
    let e = SigLipLoss::new().forward(v.view(), v.view(), 1.0, None).unwrap_err();
    assert_eq!(e.to_string(), "siglip_loss: `image_features` has shape [2], expected (N, D) (2-D)");
    assert!(matches!(e, LossError::Shape { tensor: "image_features", .. }));
    let g = ArrayD::<f64>::zeros(IxDyn(&[2]));
    let e = ClipLoss::new().backward(x.view(), x.view(), 1.0, None, g.view()).unwrap_err();
    assert!(e.to_string().contains("grad_output"), "{e}");
}

#[test]
fn clip_matches_the_naive_definition_and_its_per_pair_values() {
    let mut rng = Rng::new(2);
    let (x, y) = (features(&mut rng, 7, 5), features(&mut rng, 7, 5));
    let l = naive_logits(&x, &y, 3.0, 0.4);
    let n = 7;
    let per: Vec<f64> = (0..n)
        .map(|i| 0.5 * (lse((0..n).map(|j| l[[i, j]])) - l[[i, i]]) + 0.5 * (lse((0..n).map(|j| l[[j, i]])) - l[[i, i]]))
        .collect();
    let none = ClipLoss::new().reduction(Reduction::None).forward(x.view(), y.view(), 3.0, Some(0.4)).unwrap();
    assert_close("per pair", &none, &ndarray::Array1::from(per.clone()).into_dyn(), 1e-13);
    let mean = clip_loss(x.view(), y.view(), 3.0, Some(0.4)).unwrap();
    assert!((mean[[]] - per.iter().sum::<f64>() / n as f64).abs() < 1e-13);
    // a shift of every logit changes nothing
    let unbiased = clip_loss(x.view(), y.view(), 3.0, None).unwrap();
    assert!((mean[[]] - unbiased[[]]).abs() < 1e-13);
    let sum = ClipLoss::new().reduction(Reduction::Sum).forward(x.view(), y.view(), 3.0, None).unwrap();
    assert!((sum[[]] - n as f64 * unbiased[[]]).abs() < 1e-12);
}

#[test]
fn siglip_matches_the_naive_definition() {
    let mut rng = Rng::new(3);
    let (x, y) = (features(&mut rng, 6, 4), features(&mut rng, 6, 4));
    let l = naive_logits(&x, &y, 10.0, -10.0);
    let softplus = |v: f64| v.max(0.0) + (-v.abs()).exp().ln_1p();
    let total: f64 = (0..6).flat_map(|i| (0..6).map(move |j| (i, j))).map(|(i, j)| softplus(if i == j { -l[[i, j]] } else { l[[i, j]] })).sum();
    let v = SigLipLoss::new().forward(x.view(), y.view(), 10.0, Some(-10.0)).unwrap();
    assert!((v[[]] - total / 6.0).abs() < 1e-12 * total);
}

#[test]
fn gradients_match_finite_differences_under_every_reduction() {
    let mut rng = Rng::new(4);
    let (x, y) = (features(&mut rng, 4, 3), features(&mut rng, 4, 3));
    for r in Reduction::ALL {
        for siglip in [false, true] {
            let (s, b) = (2.0, Some(-0.5));
            let f = |x: &ArrayD<f64>, y: &ArrayD<f64>, s: f64, b: Option<f64>| {
                if siglip {
                    SigLipLoss::new().reduction(r).forward(x.view(), y.view(), s, b).unwrap()
                } else {
                    ClipLoss::new().reduction(r).forward(x.view(), y.view(), s, b).unwrap()
                }
            };
            let shape = f(&x, &y, s, b).shape().to_vec();
            let go = if shape.is_empty() { ArrayD::from_elem(IxDyn(&[]), 1.3) } else { rng.array(&shape, -1.0, 1.0) };
            let g = if siglip {
                SigLipLoss::new().reduction(r).backward(x.view(), y.view(), s, b, go.view()).unwrap()
            } else {
                ClipLoss::new().reduction(r).backward(x.view(), y.view(), s, b, go.view()).unwrap()
            };
            let name = format!("{} {r}", if siglip { "siglip" } else { "clip" });
            check_gradient(&format!("{name} d/dimage"), &x, &g.image_features, |v| dot(&go, &f(v, &y, s, b)));
            check_gradient(&format!("{name} d/dtext"), &y, &g.text_features, |v| dot(&go, &f(&x, v, s, b)));
            let fd = |h: f64, scale: bool| {
                let (s1, b1) = if scale { (s + h, b) } else { (s, b.map(|b| b + h)) };
                let (s2, b2) = if scale { (s - h, b) } else { (s, b.map(|b| b - h)) };
                (dot(&go, &f(&x, &y, s1, b1)) - dot(&go, &f(&x, &y, s2, b2))) / (2.0 * h)
            };
            assert!((fd(1e-6, true) - g.logit_scale).abs() < 1e-6 * (1.0 + g.logit_scale.abs()), "{name} d/dscale");
            let gb = g.logit_bias.unwrap();
            assert!((fd(1e-6, false) - gb).abs() < 1e-6 * (1.0 + gb.abs()), "{name} d/dbias");
            if !siglip {
                assert_eq!(gb, 0.0, "CLIP's bias gradient is exactly 0");
            }
            // forward_backward agrees with forward and backward(ones)
            let (v, g1) = if siglip {
                SigLipLoss::new().reduction(r).forward_backward(x.view(), y.view(), s, b).unwrap()
            } else {
                ClipLoss::new().reduction(r).forward_backward(x.view(), y.view(), s, b).unwrap()
            };
            let ones = ArrayD::from_elem(v.shape(), 1.0);
            let g2 = if siglip {
                SigLipLoss::new().reduction(r).backward(x.view(), y.view(), s, b, ones.view()).unwrap()
            } else {
                ClipLoss::new().reduction(r).backward(x.view(), y.view(), s, b, ones.view()).unwrap()
            };
            assert_eq!(g1, g2, "{name}");
        }
    }
}

#[test]
fn f32_agrees_with_f64() {
    let mut rng = Rng::new(5);
    let (x, y) = (features(&mut rng, 32, 16), features(&mut rng, 32, 16));
    let (x32, y32) = (x.mapv(|v| v as f32), y.mapv(|v| v as f32));
    let (x, y) = (x32.mapv(f64::from), y32.mapv(f64::from));
    for siglip in [false, true] {
        let (a, ga) = if siglip {
            SigLipLoss::new().forward_backward(x.view(), y.view(), 5.0, Some(-2.0)).unwrap()
        } else {
            ClipLoss::new().forward_backward(x.view(), y.view(), 5.0, Some(-2.0)).unwrap()
        };
        let (b, gb) = if siglip {
            SigLipLoss::new().forward_backward(x32.view(), y32.view(), 5.0, Some(-2.0)).unwrap()
        } else {
            ClipLoss::new().forward_backward(x32.view(), y32.view(), 5.0, Some(-2.0)).unwrap()
        };
        assert!((f64::from(b[[]]) - a[[]]).abs() <= 1e-6 * a[[]].abs());
        assert_close("d/dimage f32", &gb.image_features.mapv(f64::from), &ga.image_features, 1e-5);
        assert!((f64::from(gb.logit_scale) - ga.logit_scale).abs() <= 1e-5 * (1.0 + ga.logit_scale.abs()));
    }
}

/// A batch large enough for the parallel row and column passes and a blocked gemm:
/// the value against the naive sums, the scale's gradient against Σ G ∘ XYᵀ.
#[test]
fn a_large_batch_agrees_with_the_naive_loss() {
    let mut rng = Rng::new(6);
    let (n, d) = (300, 24);
    let (x, y) = (features(&mut rng, n, d), features(&mut rng, n, d));
    let l = naive_logits(&x, &y, 4.0, 0.0);
    let want: f64 = (0..n)
        .map(|i| 0.5 * (lse((0..n).map(|j| l[[i, j]])) - l[[i, i]]) + 0.5 * (lse((0..n).map(|j| l[[j, i]])) - l[[i, i]]))
        .sum::<f64>()
        / n as f64;
    let got = clip_loss(x.view(), y.view(), 4.0, None).unwrap();
    assert!((got[[]] - want).abs() < 1e-12 * want.abs(), "{} vs {want}", got[[]]);
}

#[test]
fn an_empty_batch_is_nan_under_mean_and_zero_under_sum() {
    let x = ArrayD::<f64>::zeros(IxDyn(&[0, 3]));
    assert!(clip_loss(x.view(), x.view(), 1.0, None).unwrap()[[]].is_nan());
    let (v, g) = SigLipLoss::new().reduction(Reduction::Sum).forward_backward(x.view(), x.view(), 1.0, Some(0.0)).unwrap();
    assert_eq!(v[[]], 0.0);
    assert_eq!(g.image_features.shape(), &[0, 3]);
}
