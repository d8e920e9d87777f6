//! The large-vocabulary losses: the adaptive softmax (PyTorch's
//! `AdaptiveLogSoftmaxWithLoss`) and TensorFlow's sampled softmax and NCE losses.
//! Errors, f32 against f64, reductions, closed forms and properties, and
//! `backward` with a non-trivial upstream gradient against finite differences.

use losslab::tf::{NceLoss, SampledSoftmaxLoss, SampledValues};
use losslab::torch::{AdaptiveLogSoftmaxWithLoss, AdaptiveWeights};
use losslab::{LossError, Reduction};
use ndarray::{arr0, array, ArrayD, IxDyn};

/// Deterministic values in about [-scale, scale].
fn pr(shape: &[usize], seed: f64, scale: f64) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|k| scale * ((k as f64 + 1.0) * 1.37 + seed).sin()).collect()).unwrap()
}

/// in_features 6, cutoffs [2, 4], n_classes 7, div_value 2: head (4, 6), tails (3, 6)/(2, 3) and (1, 6)/(3, 1).
struct Asm {
    head: ArrayD<f64>,
    bias: ArrayD<f64>,
    tails: Vec<(ArrayD<f64>, ArrayD<f64>)>,
}

fn asm() -> Asm {
    Asm {
        head: pr(&[4, 6], 1.1, 0.6),
        bias: pr(&[4], 6.6, 0.5),
        tails: vec![(pr(&[3, 6], 2.2, 0.6), pr(&[2, 3], 3.3, 0.8)), (pr(&[1, 6], 4.4, 0.6), pr(&[3, 1], 5.5, 0.8))],
    }
}

impl Asm {
    fn weights(&self, bias: bool) -> AdaptiveWeights<'_, f64> {
        AdaptiveWeights {
            head_weight: self.head.view(),
            head_bias: bias.then(|| self.bias.view()),
            tails: self.tails.iter().map(|(p, o)| (p.view(), o.view())).collect(),
        }
    }
}

fn module() -> AdaptiveLogSoftmaxWithLoss {
    AdaptiveLogSoftmaxWithLoss::new([2, 4]).div_value(2.0)
}

#[test]
fn adaptive_probabilities_sum_to_one_over_every_class() {
    let a = asm();
    for bias in [false, true] {
        let w = a.weights(bias);
        let x = pr(&[7, 6], 0.3, 1.5);
        // Row r of x with every class as its target: Σ_y p(y | x_r) = 1.
        for r in 0..7 {
            let xs = ArrayD::from_shape_fn(IxDyn(&[7, 6]), |i| x[[r, i[1]]]);
            let t = array![0i64, 1, 2, 3, 4, 5, 6];
            let out = module().head_bias(bias).forward(xs.view(), t.view(), &w).unwrap();
            let total: f64 = out.output.iter().map(|v| v.exp()).sum();
            assert!((total - 1.0).abs() < 1e-14, "row {r}: Σ p = {total}");
        }
    }
}

#[test]
fn adaptive_reductions_and_unbatched_form() {
    let a = asm();
    let w = a.weights(true);
    let m = module().head_bias(true);
    let x = pr(&[5, 6], 0.3, 1.0);
    let t = array![0i64, 2, 3, 5, 6];
    let mean = m.forward(x.view(), t.view(), &w).unwrap();
    let none = m.clone().reduction(Reduction::None).forward(x.view(), t.view(), &w).unwrap();
    let sum = m.clone().reduction(Reduction::Sum).forward(x.view(), t.view(), &w).unwrap();
    assert_eq!(none.loss.shape(), &[5]);
    for (l, o) in none.loss.iter().zip(none.output.iter()) {
        assert_eq!(*l, -o);
    }
    let s: f64 = none.loss.iter().sum();
    assert!((sum.loss[[]] - s).abs() < 1e-13);
    assert!((mean.loss[[]] - s / 5.0).abs() < 1e-14);
    // A (in_features,) input with a 0-d target: the same as its row, with 0-d outputs.
    let row = ArrayD::from_shape_fn(IxDyn(&[6]), |i| x[[3, i[0]]]);
    let one = m.forward(row.view(), arr0(5i64).view(), &w).unwrap();
    assert_eq!(one.output.shape(), &[] as &[usize]);
    assert!((one.output[[]] - none.output[3]).abs() < 1e-15);
    assert!((one.loss[[]] + none.output[3]).abs() < 1e-15);
}

#[test]
fn adaptive_f32_agrees_with_f64() {
    let a = asm();
    let w = a.weights(true);
    let x = pr(&[5, 6], 0.3, 1.0);
    let t = array![0i64, 2, 3, 5, 6];
    let (o64, g64) = module().head_bias(true).forward_backward(x.view(), t.view(), &w).unwrap();
    let c = |v: &ArrayD<f64>| v.mapv(|e| e as f32);
    let (h, b, x32) = (c(&a.head), c(&a.bias), c(&x));
    let tails: Vec<_> = a.tails.iter().map(|(p, o)| (c(p), c(o))).collect();
    let w32 = AdaptiveWeights { head_weight: h.view(), head_bias: Some(b.view()), tails: tails.iter().map(|(p, o)| (p.view(), o.view())).collect() };
    let (o32, g32) = module().head_bias(true).forward_backward(x32.view(), t.view(), &w32).unwrap();
    assert!((o32.loss[[]] as f64 - o64.loss[[]]).abs() < 1e-5);
    for (a, b) in g32.input.iter().zip(g64.input.iter()) {
        assert!((*a as f64 - b).abs() < 1e-5);
    }
    for ((p32, o32), (p64, o64)) in g32.tails.iter().zip(&g64.tails) {
        for (a, b) in p32.iter().chain(o32.iter()).zip(p64.iter().chain(o64.iter())) {
            assert!((*a as f64 - b).abs() < 1e-5);
        }
    }
}

#[test]
fn adaptive_backward_with_a_per_sample_upstream_gradient_matches_finite_differences() {
    let a = asm();
    let x = pr(&[4, 6], 0.3, 1.0);
    let t = array![1i64, 2, 4, 6];
    let go = array![0.5, -2.0, 1.25, 3.0].into_dyn();
    let m = module().head_bias(true).reduction(Reduction::None);
    let g = m.backward(x.view(), t.view(), &a.weights(true), go.view()).unwrap();
    let objective = |a: &Asm, x: &ArrayD<f64>| {
        let l = m.forward(x.view(), t.view(), &a.weights(true)).unwrap().loss;
        l.iter().zip(go.iter()).map(|(l, g)| l * g).sum::<f64>()
    };
    let h = 1e-6;
    // the input, the head's bias and the second tail's output weight
    for k in 0..24 {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp.as_slice_mut().unwrap()[k] += h;
        xm.as_slice_mut().unwrap()[k] -= h;
        let fd = (objective(&a, &xp) - objective(&a, &xm)) / (2.0 * h);
        assert!((fd - g.input.as_slice().unwrap()[k]).abs() < 1e-7, "input[{k}]");
    }
    for k in 0..4 {
        let (mut ap, mut am) = (asm(), asm());
        ap.bias.as_slice_mut().unwrap()[k] += h;
        am.bias.as_slice_mut().unwrap()[k] -= h;
        let fd = (objective(&ap, &x) - objective(&am, &x)) / (2.0 * h);
        assert!((fd - g.head_bias.as_ref().unwrap()[k]).abs() < 1e-7, "head_bias[{k}]");
    }
    for k in 0..3 {
        let (mut ap, mut am) = (asm(), asm());
        ap.tails[1].1.as_slice_mut().unwrap()[k] += h;
        am.tails[1].1.as_slice_mut().unwrap()[k] -= h;
        let fd = (objective(&ap, &x) - objective(&am, &x)) / (2.0 * h);
        assert!((fd - g.tails[1].1.as_slice().unwrap()[k]).abs() < 1e-7, "tail_1_out[{k}]");
    }
    // A scalar upstream gradient scales the mean's gradients.
    let (_, g1) = module().forward_backward(x.view(), t.view(), &a.weights(false)).unwrap();
    let g2 = module().backward(x.view(), t.view(), &a.weights(false), arr0(-2.0).into_dyn().view()).unwrap();
    for (u, v) in g1.head_weight.iter().zip(g2.head_weight.iter()) {
        assert!((-2.0 * u - v).abs() < 1e-15);
    }
}

#[test]
fn adaptive_errors() {
    let a = asm();
    let w = a.weights(false);
    let x = pr(&[3, 6], 0.3, 1.0);
    let t = array![0i64, 2, 6];
    let err = |m: AdaptiveLogSoftmaxWithLoss, x: &ArrayD<f64>, t: ArrayD<i64>, w: &AdaptiveWeights<'_, f64>| m.forward(x.view(), t.view(), w).unwrap_err();
    let e = err(module(), &x, array![0i64, 7, 1].into_dyn(), &w);
    assert!(matches!(e, LossError::ClassIndex { index: 7, classes: 7, .. }), "{e}");
    let e = err(module(), &x, array![0i64, -1, 1].into_dyn(), &w);
    assert!(matches!(e, LossError::ClassIndex { index: -1, .. }), "{e}");
    let e = err(AdaptiveLogSoftmaxWithLoss::new([4, 2]).div_value(2.0), &x, t.clone().into_dyn(), &w);
    assert!(e.to_string().contains("cutoffs") && e.to_string().contains("increasing"), "{e}");
    let e = err(AdaptiveLogSoftmaxWithLoss::new(Vec::new()), &x, t.clone().into_dyn(), &w);
    assert!(e.to_string().contains("non-empty"), "{e}");
    let e = err(module().div_value(0.0), &x, t.clone().into_dyn(), &w);
    assert!(e.to_string().contains("div_value"), "{e}");
    let e = err(module().div_value(f64::NAN), &x, t.clone().into_dyn(), &w);
    assert!(e.to_string().contains("div_value"), "{e}");
    // div_value 4 makes tails of 6 // 4 = 1 and 6 // 16 = 0 rows: the tail of 3 rows is refused, named.
    let e = err(module().div_value(4.0), &x, t.clone().into_dyn(), &w);
    assert_eq!(e.to_string(), "adaptive_log_softmax_with_loss: `tail_0_proj` has shape [3, 6], expected [1, 6] (in_features // div_value^1 = 6 // 4^1, in_features)");
    let e = err(AdaptiveLogSoftmaxWithLoss::new([2]).div_value(2.0), &x, t.clone().into_dyn(), &w);
    assert!(e.to_string().contains("1 clusters") && e.to_string().contains("found 2"), "{e}");
    let e = err(module().head_bias(true), &x, t.clone().into_dyn(), &w);
    assert!(e.to_string().contains("no `head_bias` tensor"), "{e}");
    let e = err(module(), &x, t.clone().into_dyn(), &a.weights(true));
    assert!(e.to_string().contains("option head_bias is False"), "{e}");
    let e = err(module(), &pr(&[3, 5], 0.1, 1.0), t.clone().into_dyn(), &w);
    assert!(e.to_string().contains("`head_weight` has shape [4, 6], expected [4, 5]"), "{e}");
    let e = err(module(), &x, array![0i64, 1].into_dyn(), &w);
    assert!(e.to_string().contains("`target` has shape [2], expected [3]"), "{e}");
    let e = err(module(), &x, array![[0i64, 1, 2]].into_dyn(), &w);
    assert!(e.to_string().contains("multi-target"), "{e}");
    let e = err(module(), &x, arr0(1i64).into_dyn(), &w);
    assert!(e.to_string().contains("0-d target expects a 1-D input"), "{e}");
    let mut bad = asm();
    bad.tails[0].1 = pr(&[3, 3], 0.0, 1.0);
    let e = err(module(), &x, t.clone().into_dyn(), &bad.weights(false));
    assert!(e.to_string().contains("`tail_0_out` has shape [3, 3], expected [2, 3]"), "{e}");
    // grad_output of the wrong shape
    let e = module().backward(x.view(), t.view(), &w, array![1.0, 2.0].into_dyn().view()).unwrap_err();
    assert!(matches!(e, LossError::Shape { tensor: "grad_output", .. }), "{e}");
}

// ---------------------------------------------------------------------------------------

struct Sampled {
    w: ArrayD<f64>,
    b: ArrayD<f64>,
    labels: ArrayD<i64>,
    x: ArrayD<f64>,
    cand: ArrayD<i64>,
    tec: ArrayD<f64>,
    sec: ArrayD<f64>,
}

impl Sampled {
    fn sv(&self) -> SampledValues<'_, i64, f64> {
        SampledValues { sampled_candidates: self.cand.view(), true_expected_count: self.tec.view(), sampled_expected_count: self.sec.view() }
    }
}

fn zeros_case(labels: ArrayD<i64>, cand: &[i64]) -> Sampled {
    let b = labels.shape()[0];
    let nt = labels.shape()[1];
    Sampled {
        w: ArrayD::zeros(IxDyn(&[6, 2])),
        b: ArrayD::zeros(IxDyn(&[6])),
        x: pr(&[b, 2], 0.5, 1.0),
        tec: ArrayD::ones(IxDyn(&[b, nt])),
        sec: ArrayD::ones(IxDyn(&[cand.len()])),
        cand: ArrayD::from_shape_vec(IxDyn(&[cand.len()]), cand.to_vec()).unwrap(),
        labels,
    }
}

#[test]
fn sampled_closed_forms_with_zero_logits() {
    // Every logit 0: sampled softmax ln(#logits kept), NCE (#logits kept) ln 2 for num_true 1.
    let c = zeros_case(array![[1i64], [3]].into_dyn(), &[1, 2, 5, 1]);
    let f = |m: SampledSoftmaxLoss| m.forward(c.w.view(), c.b.view(), c.labels.view(), c.x.view(), &c.sv()).unwrap();
    let kept = f(SampledSoftmaxLoss::new());
    // row 0: label 1 is sampled twice; only the last position is masked (TensorFlow's
    // compute_accidental_hits): 1 true + 3 sampled logits kept. Row 1: no hit, 5 logits.
    assert!((kept[0] - 4f64.ln()).abs() < 1e-15 && (kept[1] - 5f64.ln()).abs() < 1e-15, "{kept}");
    let all = f(SampledSoftmaxLoss::new().remove_accidental_hits(false));
    assert!((all[0] - 5f64.ln()).abs() < 1e-15 && (all[1] - 5f64.ln()).abs() < 1e-15);
    let n = NceLoss::new().forward(c.w.view(), c.b.view(), c.labels.view(), c.x.view(), &c.sv()).unwrap();
    assert!((n[0] - 5.0 * 2f64.ln()).abs() < 1e-14);
    let n = NceLoss::new().remove_accidental_hits(true).forward(c.w.view(), c.b.view(), c.labels.view(), c.x.view(), &c.sv()).unwrap();
    assert!((n[0] - 4.0 * 2f64.ln()).abs() < 1e-14 && (n[1] - 5.0 * 2f64.ln()).abs() < 1e-14, "{n}");
    // num_true 2: the true logits' labels are 1/2 each; NCE's sce(0, 1/2) = ln 2 still.
    let c2 = zeros_case(array![[0i64, 4]].into_dyn(), &[2, 3]);
    let s = SampledSoftmaxLoss::new().num_true(2).forward(c2.w.view(), c2.b.view(), c2.labels.view(), c2.x.view(), &c2.sv()).unwrap();
    assert!((s[0] - 4f64.ln()).abs() < 1e-15);
}

#[test]
fn sampled_softmax_over_every_class_is_the_full_softmax() {
    // Every class sampled once, expected counts 1, hits removed: the true class's sampled
    // copy is masked, and the loss is the cross entropy of the full logits x W^T + b.
    let (c_n, d, b) = (7, 3, 4);
    let c = Sampled {
        w: pr(&[c_n, d], 0.2, 1.0),
        b: pr(&[c_n], 1.4, 0.5),
        labels: array![[0i64], [3], [6], [3]].into_dyn(),
        x: pr(&[b, d], 2.6, 1.2),
        cand: ArrayD::from_shape_vec(IxDyn(&[c_n]), (0..c_n as i64).collect()).unwrap(),
        tec: ArrayD::ones(IxDyn(&[b, 1])),
        sec: ArrayD::ones(IxDyn(&[c_n])),
    };
    let l = SampledSoftmaxLoss::new().forward(c.w.view(), c.b.view(), c.labels.view(), c.x.view(), &c.sv()).unwrap();
    for i in 0..b {
        let logits: Vec<f64> = (0..c_n).map(|k| (0..d).map(|q| c.x[[i, q]] * c.w[[k, q]]).sum::<f64>() + c.b[k]).collect();
        let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + logits.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        let want = lse - logits[c.labels[[i, 0]] as usize];
        assert!((l[i] - want).abs() < 1e-13, "{i}: {} vs {want}", l[i]);
    }
}

fn sampled_case() -> Sampled {
    Sampled {
        w: pr(&[6, 3], 0.4, 0.8),
        b: pr(&[6], 1.6, 0.4),
        labels: array![[1i64, 4], [4, 4], [2, 0]].into_dyn(),
        x: pr(&[3, 3], 2.9, 1.0),
        cand: array![4i64, 0, 5, 4].into_dyn(),
        tec: array![[0.3, 0.9], [1.2, 0.5], [0.7, 0.25]].into_dyn(),
        sec: array![0.4, 0.8, 1.1, 0.6].into_dyn(),
    }
}

#[test]
fn sampled_backward_with_an_upstream_gradient_matches_finite_differences() {
    let go = array![0.5, -2.0, 1.5].into_dyn();
    for nce in [false, true] {
        for remove in [false, true] {
            let c = sampled_case();
            let value = |c: &Sampled| -> f64 {
                let v = if nce {
                    NceLoss::new().num_true(2).remove_accidental_hits(remove).forward(c.w.view(), c.b.view(), c.labels.view(), c.x.view(), &c.sv())
                } else {
                    SampledSoftmaxLoss::new().num_true(2).remove_accidental_hits(remove).forward(c.w.view(), c.b.view(), c.labels.view(), c.x.view(), &c.sv())
                };
                v.unwrap().iter().zip(go.iter()).map(|(l, g)| l * g).sum()
            };
            let g = if nce {
                NceLoss::new().num_true(2).remove_accidental_hits(remove).backward(c.w.view(), c.b.view(), c.labels.view(), c.x.view(), &c.sv(), go.view())
            } else {
                SampledSoftmaxLoss::new().num_true(2).remove_accidental_hits(remove).backward(c.w.view(), c.b.view(), c.labels.view(), c.x.view(), &c.sv(), go.view())
            }
            .unwrap();
            let h = 1e-6;
            for (name, len) in [("w", 18), ("b", 6), ("x", 9)] {
                for k in 0..len {
                    let at = |dx: f64| {
                        let mut c = sampled_case();
                        let t = match name {
                            "w" => &mut c.w,
                            "b" => &mut c.b,
                            _ => &mut c.x,
                        };
                        t.as_slice_mut().unwrap()[k] += dx;
                        value(&c)
                    };
                    let fd = (at(h) - at(-h)) / (2.0 * h);
                    let got = match name {
                        "w" => g.weights.as_slice().unwrap()[k],
                        "b" => g.biases.as_slice().unwrap()[k],
                        _ => g.inputs.as_slice().unwrap()[k],
                    };
                    assert!((fd - got).abs() < 1e-7 * (1.0 + got.abs()), "nce {nce} remove {remove} {name}[{k}]: {got} vs {fd}");
                }
            }
            // class 3 is neither true nor sampled: no gradient
            assert!(g.weights.slice(ndarray::s![3, ..]).iter().all(|&v| v == 0.0) && g.biases[3] == 0.0);
        }
    }
}

#[test]
fn sampled_reductions_and_f32() {
    let c = sampled_case();
    let none = NceLoss::new().num_true(2).forward(c.w.view(), c.b.view(), c.labels.view(), c.x.view(), &c.sv()).unwrap();
    assert_eq!(none.shape(), &[3]);
    let mean = NceLoss::new().num_true(2).reduction(Reduction::Mean).forward(c.w.view(), c.b.view(), c.labels.view(), c.x.view(), &c.sv()).unwrap();
    assert!((mean[[]] - none.sum() / 3.0).abs() < 1e-14);
    let s = |a: &ArrayD<f64>| a.mapv(|v| v as f32);
    let (w, b, x, tec, sec) = (s(&c.w), s(&c.b), s(&c.x), s(&c.tec), s(&c.sec));
    let sv = SampledValues { sampled_candidates: c.cand.view(), true_expected_count: tec.view(), sampled_expected_count: sec.view() };
    let (l32, g32) = SampledSoftmaxLoss::new().num_true(2).forward_backward(w.view(), b.view(), c.labels.view(), x.view(), &sv).unwrap();
    let (l64, g64) = SampledSoftmaxLoss::new().num_true(2).forward_backward(c.w.view(), c.b.view(), c.labels.view(), c.x.view(), &c.sv()).unwrap();
    for (a, b) in l32.iter().zip(l64.iter()).chain(g32.weights.iter().zip(g64.weights.iter())) {
        assert!((*a as f64 - b).abs() < 1e-5 * (1.0 + b.abs()));
    }
}

#[test]
fn sampled_errors() {
    let c = sampled_case();
    let run = |m: SampledSoftmaxLoss, c: &Sampled| m.forward(c.w.view(), c.b.view(), c.labels.view(), c.x.view(), &c.sv()).unwrap_err().to_string();
    assert!(run(SampledSoftmaxLoss::new(), &c).contains("`labels` has shape [3, 2], expected [3, 1] (batch_size, num_true)"));
    assert!(run(SampledSoftmaxLoss::new().num_true(0), &c).contains("num_true"));
    let mut bad = sampled_case();
    bad.cand = array![4i64, 6].into_dyn();
    bad.sec = array![1.0, 1.0].into_dyn();
    let e = run(SampledSoftmaxLoss::new().num_true(2), &bad);
    assert!(e.contains("`sampled_candidates` holds class index 6") && e.contains("[0, 6)"), "{e}");
    let mut bad = sampled_case();
    bad.labels[[1, 0]] = -1;
    assert!(run(SampledSoftmaxLoss::new().num_true(2), &bad).contains("`labels` holds class index -1 at position [1, 0]"));
    let mut bad = sampled_case();
    bad.sec = array![1.0, 1.0].into_dyn();
    assert!(run(SampledSoftmaxLoss::new().num_true(2), &bad).contains("`sampled_expected_count` has shape [2], expected [4]"));
    let mut bad = sampled_case();
    bad.tec = array![1.0, 1.0, 1.0].into_dyn();
    assert!(run(SampledSoftmaxLoss::new().num_true(2), &bad).contains("`true_expected_count` has shape [3], expected [3, 2]"));
    let mut bad = sampled_case();
    bad.b = array![1.0].into_dyn();
    assert!(run(SampledSoftmaxLoss::new().num_true(2), &bad).contains("`biases` has shape [1], expected [6]"));
    let mut bad = sampled_case();
    bad.x = pr(&[3, 2], 0.0, 1.0);
    assert!(run(SampledSoftmaxLoss::new().num_true(2), &bad).contains("`inputs` has shape [3, 2]"));
}
