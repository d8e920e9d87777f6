//! The per-token losses over (B, T, V) logits: errors, f32 against f64,
//! reductions, closed forms and identities between them, `backward` with a
//! non-trivial upstream gradient, and bit-identical results on any thread count.

use losslab::own::{DistillationKl, KlDirection, SequenceLogProbs};
use losslab::trl::GeneralizedJsdLoss;
use losslab::{LossError, Reduction};
use ndarray::{Array2, Array3, ArrayD, Axis, IxDyn};

/// Deterministic pseudo-random logits of shape (b, t, v).
fn logits(b: usize, t: usize, v: usize, seed: u64, scale: f64) -> Array3<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    Array3::from_shape_fn((b, t, v), |_| {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0 * scale
    })
}

fn labels(b: usize, t: usize, v: usize, ignore_every: usize) -> Array2<i64> {
    Array2::from_shape_fn((b, t), |(i, j)| if ignore_every > 0 && (i * t + j) % ignore_every == 0 { -100 } else { ((i * 7 + j * 3) % v) as i64 })
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

fn assert_all_close(a: &ArrayD<f64>, b: &ArrayD<f64>, tol: f64, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    for (k, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        assert!(close(*x, *y, tol), "{what}[{k}]: {x} vs {y}");
    }
}

fn none_labels() -> Option<ndarray::ArrayView2<'static, i64>> {
    None
}

// ---------------------------------------------------------------- errors

#[test]
fn errors_name_the_loss_and_the_tensor() {
    let x = logits(2, 3, 4, 1, 1.0);
    let y = labels(2, 3, 4, 0);
    let flat = ndarray::arr1(&[0.0f64, 1.0]);
    let e = SequenceLogProbs::new().forward(flat.view(), ndarray::arr0(0i64).view()).unwrap_err();
    assert!(matches!(e, LossError::Shape { loss: "sequence_log_probs", tensor: "logits", .. }), "{e}");
    let e = SequenceLogProbs::new().forward(x.view(), labels(2, 4, 4, 0).view()).unwrap_err();
    assert!(matches!(e, LossError::Shape { tensor: "labels", .. }), "{e}");
    let mut bad = y.clone();
    bad[[1, 2]] = 4;
    let e = SequenceLogProbs::new().forward(x.view(), bad.view()).unwrap_err();
    assert!(matches!(e, LossError::ClassIndex { index: 4, classes: 4, .. }), "{e}");
    assert!(e.to_string().contains("[1, 2]"), "{e}");
    bad[[1, 2]] = -1;
    assert!(SequenceLogProbs::new().forward(x.view(), bad.view()).is_err());
    assert!(SequenceLogProbs::new().ignore_index(-1).forward(x.view(), bad.view()).is_ok());

    let t = logits(2, 3, 5, 2, 1.0);
    let e = GeneralizedJsdLoss::new().forward(x.view(), t.view(), none_labels()).unwrap_err();
    assert!(matches!(e, LossError::Shape { loss: "generalized_jsd_loss", tensor: "teacher_logits", .. }), "{e}");
    let e = DistillationKl::new().forward(x.view(), t.view(), none_labels()).unwrap_err();
    assert!(matches!(e, LossError::Shape { loss: "distillation_kl", tensor: "teacher_logits", .. }), "{e}");
    for beta in [-0.1, 1.5, f64::NAN] {
        let e = GeneralizedJsdLoss::new().beta(beta).forward(x.view(), x.view(), none_labels()).unwrap_err();
        assert!(matches!(e, LossError::Option { option: "beta", .. }), "{e}");
    }
    for tau in [0.0, -1.0, f64::INFINITY, f64::NAN] {
        let e = GeneralizedJsdLoss::new().temperature(tau).forward(x.view(), x.view(), none_labels()).unwrap_err();
        assert!(matches!(e, LossError::Option { option: "temperature", .. }), "{e}");
        let e = DistillationKl::new().temperature(tau).forward(x.view(), x.view(), none_labels()).unwrap_err();
        assert!(matches!(e, LossError::Option { option: "temperature", .. }), "{e}");
    }
    // labels of the wrong shape for the pair losses
    let e = GeneralizedJsdLoss::new().forward(x.view(), x.view(), Some(labels(3, 3, 4, 0).view())).unwrap_err();
    assert!(matches!(e, LossError::Shape { tensor: "labels", .. }), "{e}");
    // grad_output of the wrong shape
    let go = ArrayD::<f64>::ones(IxDyn(&[2, 3]));
    let e = GeneralizedJsdLoss::new().backward(x.view(), x.view(), none_labels(), go.view()).unwrap_err();
    assert!(matches!(e, LossError::Shape { tensor: "grad_output", .. }), "{e}");
    let e = DistillationKl::new().reduction(Reduction::None).backward(x.view(), x.view(), none_labels(), ArrayD::<f64>::ones(IxDyn(&[3, 2])).view()).unwrap_err();
    assert!(matches!(e, LossError::Shape { tensor: "grad_output", .. }), "{e}");
    assert!("sideways".parse::<KlDirection>().is_err());
}

// ---------------------------------------------------------------- sequence_log_probs

#[test]
fn log_probs_are_a_distribution_and_the_gradient_is_onehot_minus_softmax() {
    let (b, t, v) = (2, 3, 6);
    let x = logits(b, t, v, 3, 3.0);
    // every label of each row: their probabilities sum to 1
    for r in 0..b * t {
        let (i, j) = (r / t, r % t);
        let mut total = 0.0;
        for c in 0..v {
            let mut y = labels(b, t, v, 0);
            y[[i, j]] = c as i64;
            let lp = SequenceLogProbs::new().forward(x.view(), y.view()).unwrap();
            total += lp[[i, j]].exp();
        }
        assert!(close(total, 1.0, 1e-14), "row {r}: {total}");
    }
    let y = labels(b, t, v, 4);
    let (lp, g) = SequenceLogProbs::new().forward_backward(x.view(), y.view()).unwrap();
    for i in 0..b {
        for j in 0..t {
            let row = x.index_axis(Axis(0), i).index_axis(Axis(0), j).to_owned();
            let m = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            let lse = m + row.mapv(|z| (z - m).exp()).sum().ln();
            if y[[i, j]] == -100 {
                assert_eq!(lp[[i, j]], 0.0);
                assert!((0..v).all(|c| g[[i, j, c]] == 0.0));
                continue;
            }
            let yl = y[[i, j]] as usize;
            assert!(close(lp[[i, j]], row[yl] - lse, 1e-14));
            for c in 0..v {
                let want = f64::from(u8::from(c == yl)) - (row[c] - lse).exp();
                assert!(close(g[[i, j, c]], want, 1e-14), "({i}, {j}, {c})");
            }
        }
    }
}

#[test]
fn sequence_log_probs_reductions_and_backward() {
    let (b, t, v) = (3, 4, 9);
    let x = logits(b, t, v, 5, 2.0);
    let y = labels(b, t, v, 3);
    let per = SequenceLogProbs::new().forward(x.view(), y.view()).unwrap();
    let counted = y.iter().filter(|&&l| l != -100).count() as f64;
    let total: f64 = per.sum();
    let red = |r| SequenceLogProbs::new().reduction(r).forward(x.view(), y.view()).unwrap()[[]];
    assert!(close(red(Reduction::Sum), total, 1e-14));
    assert!(close(red(Reduction::Mean), total / counted, 1e-14));
    assert!(close(red(Reduction::BatchMean), total / b as f64, 1e-14));
    // backward with a per-token upstream gradient: each row's gradient scaled by it
    let go = ArrayD::from_shape_fn(IxDyn(&[b, t]), |i| 0.5 - (i[0] * t + i[1]) as f64 * 0.3);
    let g = SequenceLogProbs::new().backward(x.view(), y.view(), go.view()).unwrap();
    let (_, g1) = SequenceLogProbs::new().forward_backward(x.view(), y.view()).unwrap();
    for ((i, j, c), &gv) in g.indexed_iter().map(|(ix, v)| ((ix[0], ix[1], ix[2]), v)) {
        assert!(close(gv, go[[i, j]] * g1[[i, j, c]], 1e-14));
    }
    // Mean: the gradient divided by the number of counted tokens, times a scalar upstream
    let gm = SequenceLogProbs::new().reduction(Reduction::Mean).backward(x.view(), y.view(), ndarray::arr0(-2.0).into_dyn().view()).unwrap();
    assert_all_close(&gm, &g1.mapv(|z| -2.0 * z / counted), 1e-14, "mean backward");
    // f32 agrees with f64
    let xf = x.mapv(|z| z as f32);
    let (pf, gf) = SequenceLogProbs::new().forward_backward(xf.view(), y.view()).unwrap();
    assert_all_close(&pf.mapv(f64::from), &SequenceLogProbs::new().forward(xf.mapv(f64::from).view(), y.view()).unwrap(), 1e-6, "f32 value");
    assert_all_close(&gf.mapv(f64::from), &SequenceLogProbs::new().forward_backward(xf.mapv(f64::from).view(), y.view()).unwrap().1, 1e-6, "f32 grad");
}

// ---------------------------------------------------------------- generalized JSD and KL

#[test]
fn jsd_endpoints_are_the_two_kls_and_half_is_symmetric_and_bounded() {
    let (b, t, v) = (2, 5, 11);
    let (s, q) = (logits(b, t, v, 7, 2.0), logits(b, t, v, 8, 2.0));
    let y = labels(b, t, v, 3);
    for tau in [1.0, 2.0] {
        let sum = |beta: f64| GeneralizedJsdLoss::new().beta(beta).temperature(tau).reduction(Reduction::Sum).forward(s.view(), q.view(), Some(y.view())).unwrap()[[]];
        let kl = |d| DistillationKl::new().direction(d).temperature(tau).reduction(Reduction::Sum).forward(s.view(), q.view(), Some(y.view())).unwrap()[[]] / (tau * tau);
        assert!(close(sum(0.0), kl(KlDirection::Forward), 1e-13));
        assert!(close(sum(1.0), kl(KlDirection::Reverse), 1e-13));
    }
    // β = ½: symmetric in student and teacher, at most ln 2 per token
    let j = GeneralizedJsdLoss::new().reduction(Reduction::None).forward(s.view(), q.view(), none_labels()).unwrap();
    let jr = GeneralizedJsdLoss::new().reduction(Reduction::None).forward(q.view(), s.view(), none_labels()).unwrap();
    assert_all_close(&j, &jr, 1e-13, "symmetry");
    for tok in j.lanes(Axis(2)) {
        let total: f64 = tok.sum();
        assert!(total >= -1e-15 && total <= std::f64::consts::LN_2 + 1e-15, "{total}");
    }
}

#[test]
fn jsd_reductions_follow_trl() {
    let (b, t, v) = (3, 4, 7);
    let (s, q) = (logits(b, t, v, 11, 1.5), logits(b, t, v, 12, 1.5));
    let y = labels(b, t, v, 3);
    let n = y.iter().filter(|&&l| l != -100).count();
    let none = GeneralizedJsdLoss::new().beta(0.3).reduction(Reduction::None).forward(s.view(), q.view(), Some(y.view())).unwrap();
    assert_eq!(none.shape(), &[n, v]); // the masked selection, as jsd[mask]
    let total: f64 = none.sum();
    let red = |r, lab: bool| {
        let l = if lab { Some(y.view()) } else { None };
        GeneralizedJsdLoss::new().beta(0.3).reduction(r).forward(s.view(), q.view(), l).unwrap()[[]]
    };
    assert!(close(red(Reduction::Sum, true), total, 1e-13));
    assert!(close(red(Reduction::BatchMean, true), total / n as f64, 1e-13));
    assert!(close(red(Reduction::Mean, true), total / (n * v) as f64, 1e-13));
    // without labels, batchmean divides by the first axis (TRL's jsd.size(0)), not by the tokens
    let all = GeneralizedJsdLoss::new().beta(0.3).reduction(Reduction::None).forward(s.view(), q.view(), none_labels()).unwrap();
    assert_eq!(all.shape(), &[b, t, v]);
    assert!(close(red(Reduction::BatchMean, false), all.sum() / b as f64, 1e-13));
    // every token masked: batchmean is 0 (TRL's clamp_min(1)), with zero gradients
    let masked = Array2::from_elem((b, t), -100i64);
    let (val, g) = GeneralizedJsdLoss::new().forward_backward(s.view(), q.view(), Some(masked.view())).unwrap();
    assert_eq!(val[[]], 0.0);
    assert!(g.student_logits.iter().chain(g.teacher_logits.iter()).all(|&z| z == 0.0));
}

#[test]
fn kl_student_gradient_is_tau_times_p_minus_q() {
    let (b, t, v) = (2, 3, 8);
    let (s, q) = (logits(b, t, v, 21, 2.0), logits(b, t, v, 22, 2.0));
    let tau = 2.5;
    let (val, g) = DistillationKl::new().temperature(tau).reduction(Reduction::Sum).forward_backward(s.view(), q.view(), none_labels()).unwrap();
    let soft = |x: &Array3<f64>, i: usize, j: usize| {
        let row = x.index_axis(Axis(0), i).index_axis(Axis(0), j).mapv(|z| z / tau);
        let m = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let e = row.mapv(|z| (z - m).exp());
        let s = e.sum();
        e / s
    };
    let mut total = 0.0;
    for i in 0..b {
        for j in 0..t {
            let (p, qq) = (soft(&s, i, j), soft(&q, i, j));
            for c in 0..v {
                assert!(close(g.student_logits[[i, j, c]], tau * (p[c] - qq[c]), 1e-13));
                total += tau * tau * qq[c] * (qq[c].ln() - p[c].ln());
            }
        }
    }
    assert!(close(val[[]], total, 1e-13));
}

#[test]
fn pair_losses_backward_with_an_upstream_gradient() {
    let (b, t, v) = (2, 4, 6);
    let (s, q) = (logits(b, t, v, 31, 1.0), logits(b, t, v, 32, 1.0));
    let y = labels(b, t, v, 3);
    // unreduced KL: per-token upstream gradient scales each row's gradient
    let kl = DistillationKl::new().direction(KlDirection::Reverse).temperature(1.5).reduction(Reduction::None);
    let go = ArrayD::from_shape_fn(IxDyn(&[b, t]), |i| 1.0 - 0.4 * (i[0] * t + i[1]) as f64);
    let g = kl.backward(s.view(), q.view(), Some(y.view()), go.view()).unwrap();
    let (per, g1) = kl.forward_backward(s.view(), q.view(), Some(y.view())).unwrap();
    for ((i, j, c), &gv) in g.student_logits.indexed_iter().map(|(ix, v)| ((ix[0], ix[1], ix[2]), v)) {
        assert!(close(gv, go[[i, j]] * g1.student_logits[[i, j, c]], 1e-13));
        assert!(close(g.teacher_logits[[i, j, c]], go[[i, j]] * g1.teacher_logits[[i, j, c]], 1e-13));
        if y[[i, j]] == -100 {
            assert_eq!(per[[i, j]], 0.0);
            assert_eq!(gv, 0.0);
        }
    }
    // unreduced JSD: an element-wise upstream gradient, checked by finite differences on one student logit
    let jsd = GeneralizedJsdLoss::new().beta(0.4).temperature(0.8).reduction(Reduction::None);
    let n = y.iter().filter(|&&l| l != -100).count();
    let go = ArrayD::from_shape_fn(IxDyn(&[n, v]), |i| 0.3 + 0.1 * ((i[0] * 5 + i[1] * 3) % 7) as f64 - 0.35);
    let g = jsd.backward(s.view(), q.view(), Some(y.view()), go.view()).unwrap();
    let obj = |s: &Array3<f64>, q: &Array3<f64>| (jsd.forward(s.view(), q.view(), Some(y.view())).unwrap() * &go).sum();
    for (i, j, c) in [(0, 1, 2), (1, 3, 5), (1, 2, 0)] {
        let h = 1e-6;
        let (mut sp, mut sm) = (s.clone(), s.clone());
        sp[[i, j, c]] += h;
        sm[[i, j, c]] -= h;
        let fd = (obj(&sp, &q) - obj(&sm, &q)) / (2.0 * h);
        assert!(close(g.student_logits[[i, j, c]], fd, 1e-6), "student ({i}, {j}, {c}): {} vs {fd}", g.student_logits[[i, j, c]]);
        let (mut qp, mut qm) = (q.clone(), q.clone());
        qp[[i, j, c]] += h;
        qm[[i, j, c]] -= h;
        let fd = (obj(&s, &qp) - obj(&s, &qm)) / (2.0 * h);
        assert!(close(g.teacher_logits[[i, j, c]], fd, 1e-6), "teacher ({i}, {j}, {c})");
    }
}

#[test]
fn f32_agrees_with_f64() {
    let (b, t, v) = (2, 3, 300);
    let (s, q) = (logits(b, t, v, 41, 3.0).mapv(|z| z as f32), logits(b, t, v, 42, 3.0).mapv(|z| z as f32));
    let y = labels(b, t, v, 4);
    let (s64, q64) = (s.mapv(f64::from), q.mapv(f64::from));
    for beta in [0.0, 0.5, 1.0] {
        let l = GeneralizedJsdLoss::new().beta(beta).temperature(1.3);
        let (v32, g32) = l.forward_backward(s.view(), q.view(), Some(y.view())).unwrap();
        let (v64, g64) = l.forward_backward(s64.view(), q64.view(), Some(y.view())).unwrap();
        assert!(close(f64::from(v32[[]]), v64[[]], 1e-6));
        assert_all_close(&g32.student_logits.mapv(f64::from), &g64.student_logits, 1e-6, "jsd student");
        assert_all_close(&g32.teacher_logits.mapv(f64::from), &g64.teacher_logits, 1e-6, "jsd teacher");
    }
    let l = DistillationKl::new().temperature(2.0);
    let (v32, g32) = l.forward_backward(s.view(), q.view(), none_labels()).unwrap();
    let (v64, g64) = l.forward_backward(s64.view(), q64.view(), none_labels()).unwrap();
    assert!(close(f64::from(v32[[]]), v64[[]], 1e-6));
    assert_all_close(&g32.student_logits.mapv(f64::from), &g64.student_logits, 1e-6, "kl student");
}

#[test]
fn results_are_bit_identical_on_any_thread_count() {
    // large enough to go parallel
    let (b, t, v) = (4, 16, 1024);
    let (s, q) = (logits(b, t, v, 51, 2.0).mapv(|z| z as f32), logits(b, t, v, 52, 2.0).mapv(|z| z as f32));
    let y = labels(b, t, v, 5);
    let run = || {
        let (a, ga) = SequenceLogProbs::new().reduction(Reduction::Sum).forward_backward(s.view(), y.view()).unwrap();
        let (j, gj) = GeneralizedJsdLoss::new().forward_backward(s.view(), q.view(), Some(y.view())).unwrap();
        let (k, gk) = DistillationKl::new().temperature(2.0).forward_backward(s.view(), q.view(), Some(y.view())).unwrap();
        (a, ga, j, gj, k, gk)
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run);
    let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap().install(run);
    assert!(one == three);
}

/// The largest `|a − b|` over two arrays, and the largest `|b|`.
fn worst(a: &ArrayD<f32>, b: &ArrayD<f64>) -> (f64, f64) {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b).fold((0.0f64, 0.0f64), |(e, m), (x, y)| (e.max((f64::from(*x) - y).abs()), m.max(y.abs())))
}

/// The largest probability of any row of `z`'s softmax at temperature `tau`.
fn max_prob(z: &ArrayD<f64>, tau: f64) -> f64 {
    z.lanes(ndarray::Axis(z.ndim() - 1)).into_iter().fold(0.0f64, |acc, row| {
        let m = row.fold(f64::NEG_INFINITY, |m, &x| m.max(x));
        let sum: f64 = row.iter().map(|&x| ((x - m) / tau).exp()).sum();
        acc.max(1.0 / sum)
    })
}

#[test]
fn f32_lanes_agree_with_f64_truth() {
    // f32 logits take the f32 lanes where the CPU has AVX-512 (the f64 lanes
    // otherwise): against the same logits in f64, at τ = 1 and 2, a row length
    // that leaves a tail of 16 lanes, labels that mask tokens, the reductions'
    // one upstream gradient and a per-token one; and a teacher close to the
    // student (a small divergence, its terms cancelling).
    //
    // The bounds are those of f32 exponentials (each within 1 ulp, 1.2e-7
    // relative): a row's normaliser ln Σ e^(a(x − m)) is then off by a weighted
    // mean of its elements' errors, which moves every token's value by as much
    // (times τ² where the loss is scaled by it): 6e-8 per token here, half the
    // worst case (observed: about 6e-9 at τ = 1); and a gradient, a difference of
    // two probabilities, by an ulp of the largest of them (2.5e-7 · p_max · a).
    // A relative 2e-6 beside them for values and gradients far from zero.
    let (b, t, v) = (2, 5, 1000 + 7);
    let s = logits(b, t, v, 61, 4.0);
    let y = labels(b, t, v, 3);
    let tokens = y.iter().filter(|&&l| l != -100).count() as f64;
    for (name, q) in [("far", logits(b, t, v, 62, 4.0)), ("close", &s + &(logits(b, t, v, 63, 1.0) * 1e-3))] {
        let (s32, q32) = (s.mapv(|z| z as f32), q.mapv(|z| z as f32));
        let (s64, q64) = (s32.mapv(f64::from).into_dyn(), q32.mapv(f64::from).into_dyn());
        for tau in [1.0, 2.0] {
            let (a, p_max) = (1.0 / tau, max_prob(&s64, tau).max(max_prob(&q64, tau)));
            let grad_ok = |e: f64, m: f64, g: f64| e <= 1e-5 * m + 2.5e-7 * p_max * a * g;
            for beta in [0.0, 0.1, 0.5, 0.9, 1.0] {
                let l = GeneralizedJsdLoss::new().beta(beta).temperature(tau).reduction(Reduction::Sum);
                let (v32, g32) = l.forward_backward(s32.view(), q32.view(), Some(y.view())).unwrap();
                let (v64, g64) = l.forward_backward(s64.view(), q64.view(), Some(y.view())).unwrap();
                let f32_only = l.forward(s32.view(), q32.view(), Some(y.view())).unwrap();
                let what = format!("{name} jsd β = {beta}, τ = {tau}");
                let err = (f64::from(v32[[]]) - v64[[]]).abs();
                assert!(err <= 2e-6 * v64[[]].abs() + 6e-8 * tokens, "{what}: {} vs {}", v32[[]], v64[[]]);
                assert_eq!(f32_only, v32, "{what}: forward = forward_backward's value");
                for (g, h, side) in [(&g32.student_logits, &g64.student_logits, "student"), (&g32.teacher_logits, &g64.teacher_logits, "teacher")] {
                    let (e, m) = worst(g, h);
                    assert!(grad_ok(e, m, 1.0), "{what} {side}: error {e:e}, largest {m:e}");
                }
            }
            for d in [KlDirection::Forward, KlDirection::Reverse] {
                let l = DistillationKl::new().direction(d).temperature(tau).reduction(Reduction::None);
                let (v32, g32) = l.forward_backward(s32.view(), q32.view(), Some(y.view())).unwrap();
                let (v64, g64) = l.forward_backward(s64.view(), q64.view(), Some(y.view())).unwrap();
                let what = format!("{name} kl {d}, τ = {tau}");
                let (e, m) = worst(&v32, &v64);
                assert!(e <= 2e-6 * m + 6e-8 * tau * tau, "{what}: values, error {e:e}, largest {m:e}");
                let (e, m) = worst(&g32.student_logits, &g64.student_logits);
                assert!(grad_ok(e, m, tau * tau), "{what} student: error {e:e}, largest {m:e}");
                let (e, m) = worst(&g32.teacher_logits, &g64.teacher_logits);
                assert!(grad_ok(e, m, tau * tau), "{what} teacher: error {e:e}, largest {m:e}");
                // a per-token upstream gradient
                let go = ArrayD::from_shape_fn(IxDyn(&[b, t]), |i| 1.0 - 0.3 * (i[0] * t + i[1]) as f64);
                let g32 = l.backward(s32.view(), q32.view(), Some(y.view()), go.mapv(|z| z as f32).view()).unwrap();
                let g64 = l.backward(s64.view(), q64.view(), Some(y.view()), go.view()).unwrap();
                let (e, m) = worst(&g32.student_logits, &g64.student_logits);
                let g_max = go.iter().fold(0.0f64, |m, &z| m.max(z.abs()));
                assert!(grad_ok(e, m, tau * tau * g_max), "{what} per-token upstream: error {e:e}, largest {m:e}");
            }
        }
    }
}
