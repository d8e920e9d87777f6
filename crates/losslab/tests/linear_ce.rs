//! The LM head's fused linear cross entropy ([`LinearCrossEntropyLoss`]):
//! gradients against finite differences in f64, the fused loss against the
//! cross entropy of the explicit logits, tiles and threads (bit-identical
//! whatever the thread count), f32 against the f64 truth, the per-token
//! outputs, and the errors. Its golden cases (PyTorch's `linear_cross_entropy`)
//! run through the registry (`crates/losslab-registry/tests/golden.rs`).

use crate::common;

use losslab::{CrossEntropyLoss, LinearCrossEntropyLoss, LossError, Reduction};
use ndarray::{Array1, Array2, ArrayD, Axis};

/// `n` values uniform in [−scale, scale) from `seed`.
fn values(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    common::Rng::new(seed).symmetric(n, scale)
}

struct Problem {
    x: Array2<f64>,
    w: Array2<f64>,
    b: Array1<f64>,
    cw: Array1<f64>,
    t: Array1<i64>,
}

fn problem(n: usize, d: usize, v: usize, seed: u64) -> Problem {
    let x = Array2::from_shape_vec((n, d), values(n * d, seed, 2.0)).unwrap();
    let w = Array2::from_shape_vec((v, d), values(v * d, seed + 1, 0.7)).unwrap();
    let b = Array1::from_vec(values(v, seed + 2, 0.5));
    let cw = Array1::from_vec(values(v, seed + 3, 0.5).into_iter().map(|u| 1.0 + u).collect());
    let t = Array1::from_shape_fn(n, |i| if i % 5 == 3 { -100 } else { ((i * 7 + seed as usize) % v) as i64 });
    Problem { x, w, b, cw, t }
}

/// Every option at once, in several tiles.
fn loaded(tile_rows_of: usize, v: usize) -> LinearCrossEntropyLoss {
    LinearCrossEntropyLoss::new()
        .label_smoothing(0.1)
        .lse_square_scale(1e-2)
        .softcap(Some(3.0))
        .logit_scale(1.3)
        .tile_bytes(tile_rows_of * v * 8)
}

#[test]
fn gradients_match_finite_differences_in_f64() {
    let (n, d, v) = (7, 4, 13);
    let p = problem(n, d, v, 11);
    for (what, lce) in [
        ("plain", LinearCrossEntropyLoss::new().tile_bytes(2 * v * 8)),
        ("all options", loaded(2, v).weight(p.cw.view())),
        ("all options, sum", loaded(3, v).weight(p.cw.view()).reduction(Reduction::Sum)),
        ("weights and smoothing, no cap", LinearCrossEntropyLoss::new().weight(p.cw.view()).label_smoothing(0.2).logit_scale(0.7).tile_bytes(v * 8)),
    ] {
        let f = |x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>| lce.forward(x.view(), w.view(), Some(b.view()), p.t.view()).unwrap().loss[[]];
        let (_, g) = lce.forward_backward(p.x.view(), p.w.view(), Some(p.b.view()), p.t.view(), None).unwrap();
        let h = 1e-6;
        let check = |name: &str, analytic: f64, plus: f64, minus: f64| {
            let numeric = (plus - minus) / (2.0 * h);
            assert!((analytic - numeric).abs() <= 1e-7 * (1.0 + numeric.abs()), "{what}: d/d{name}: analytic {analytic}, numeric {numeric}");
        };
        for i in 0..n {
            for k in 0..d {
                let (mut xp, mut xm) = (p.x.clone(), p.x.clone());
                xp[[i, k]] += h;
                xm[[i, k]] -= h;
                check(&format!("input[{i},{k}]"), g.input[[i, k]], f(&xp, &p.w, &p.b), f(&xm, &p.w, &p.b));
            }
        }
        for j in 0..v {
            for k in 0..d {
                let (mut wp, mut wm) = (p.w.clone(), p.w.clone());
                wp[[j, k]] += h;
                wm[[j, k]] -= h;
                check(&format!("linear_weight[{j},{k}]"), g.linear_weight[[j, k]], f(&p.x, &wp, &p.b), f(&p.x, &wm, &p.b));
            }
            let (mut bp, mut bm) = (p.b.clone(), p.b.clone());
            bp[j] += h;
            bm[j] -= h;
            check(&format!("linear_bias[{j}]"), g.linear_bias.as_ref().unwrap()[j], f(&p.x, &p.w, &bp), f(&p.x, &p.w, &bm));
        }
    }
}

#[test]
fn equals_the_cross_entropy_of_the_explicit_logits() {
    let (n, d, v) = (37, 9, 211);
    let p = problem(n, d, v, 5);
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        let lce = LinearCrossEntropyLoss::new().weight(p.cw.view()).label_smoothing(0.15).reduction(reduction).tile_bytes(8 * v * 8);
        let (out, g) = lce.forward_backward(p.x.view(), p.w.view(), Some(p.b.view()), p.t.view(), None).unwrap();
        let logits = p.x.dot(&p.w.t()) + &p.b;
        let ce = CrossEntropyLoss::new().weight(p.cw.view()).label_smoothing(0.15).reduction(reduction);
        let (want, gz) = ce.forward_backward(logits.view(), p.t.view()).unwrap();
        let gz = gz.input.into_dimensionality::<ndarray::Ix2>().unwrap();
        let close = |a: &ArrayD<f64>, b: &ArrayD<f64>, what: &str| {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{reduction:?} {what}: {x} vs {y}");
            }
        };
        close(&out.loss, &want, "loss");
        close(&g.input, &gz.dot(&p.w).into_dyn(), "input");
        close(&g.linear_weight.clone().into_dyn(), &gz.t().dot(&p.x).into_dyn(), "linear_weight");
        close(&g.linear_bias.clone().unwrap().into_dyn(), &gz.sum_axis(Axis(0)).into_dyn(), "linear_bias");
        assert!(out.z_loss.iter().all(|&z| z == 0.0));
    }
}

#[test]
fn bit_identical_whatever_the_thread_count_and_close_whatever_the_tile() {
    let (n, d, v) = (67, 33, 517);
    let p = problem(n, d, v, 3);
    let (x, w, b) = (p.x.mapv(|v| v as f32), p.w.mapv(|v| v as f32), p.b.mapv(|v| v as f32));
    let run = |threads: usize, rows: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let lce = loaded(rows, v).weight(p.cw.view()).tile_bytes(rows * v * 4).return_lse(true).return_entropy(true);
        pool.install(|| lce.forward_backward(x.view(), w.view(), Some(b.view()), p.t.view(), None).unwrap())
    };
    let one = run(1, 8);
    for threads in [2, 3, 8] {
        let other = run(threads, 8);
        assert_eq!(one, other, "{threads} threads");
    }
    // Products large enough for gemm to split them over threads.
    let (n2, d2, v2) = (320, 96, 2500);
    let q = problem(n2, d2, v2, 4);
    let (x2, w2) = (q.x.mapv(|v| v as f32), q.w.mapv(|v| v as f32));
    let big = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let lce = LinearCrossEntropyLoss::new().label_smoothing(0.1).tile_bytes(64 * v2 * 4);
        pool.install(|| lce.forward_backward(x2.view(), w2.view(), None, q.t.view(), None).unwrap())
    };
    let big1 = big(1);
    for threads in [2, 4] {
        assert_eq!(big1, big(threads), "{n2}x{d2}x{v2}, {threads} threads");
    }
    // Another tile size sums the weight gradient in another grouping: equal to float32 rounding.
    let whole = run(2, n);
    let rel = |a: &ArrayD<f32>, b: &ArrayD<f32>| {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    };
    assert!(rel(&one.0.loss, &whole.0.loss) < 1e-6);
    assert!(rel(&one.1.input, &whole.1.input) < 1e-6);
    assert!(rel(&one.1.linear_weight.clone().into_dyn(), &whole.1.linear_weight.clone().into_dyn()) < 1e-5);
}

#[test]
fn float32_is_close_to_the_float64_truth() {
    let (n, d, v) = (48, 64, 3001);
    let p = problem(n, d, v, 9);
    let r32 = |a: &Array2<f64>| a.mapv(|v| v as f32);
    for lce in [LinearCrossEntropyLoss::new(), loaded(16, v).weight(p.cw.view())] {
        let (x, w, b) = (r32(&p.x), r32(&p.w), p.b.mapv(|v| v as f32));
        let (o32, g32) = lce.forward_backward(x.view(), w.view(), Some(b.view()), p.t.view(), None).unwrap();
        // The truth: the same (float32-exact) inputs in f64.
        let (x64, w64, b64) = (x.mapv(f64::from), w.mapv(f64::from), b.mapv(f64::from));
        let (o64, g64) = lce.forward_backward(x64.view(), w64.view(), Some(b64.view()), p.t.view(), None).unwrap();
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-30);
        assert!(rel(f64::from(o32.loss[[]]), o64.loss[[]]) < 2e-6, "{} vs {}", o32.loss[[]], o64.loss[[]]);
        for (got, want, what) in [
            (g32.input.mapv(f64::from), g64.input.clone(), "input"),
            (g32.linear_weight.mapv(f64::from).into_dyn(), g64.linear_weight.clone().into_dyn(), "linear_weight"),
            (g32.linear_bias.unwrap().mapv(f64::from).into_dyn(), g64.linear_bias.clone().unwrap().into_dyn(), "linear_bias"),
        ] {
            let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
            let dev = got.iter().zip(&want).fold(0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(dev <= 1e-5 * scale, "{what}: max |Δ| {dev:e}, scale {scale:e}");
        }
    }
}

#[test]
fn three_d_input_is_the_flattened_problem_and_per_token_outputs_have_its_shape() {
    let (bsz, tlen, d, v) = (2, 5, 6, 29);
    let p = problem(bsz * tlen, d, v, 21);
    let x3 = p.x.clone().into_shape_with_order((bsz, tlen, d)).unwrap();
    let t2 = p.t.clone().into_shape_with_order((bsz, tlen)).unwrap();
    let lce = LinearCrossEntropyLoss::new().reduction(Reduction::None).return_lse(true).return_entropy(true).return_predicted(true).lse_square_scale(0.1);
    let (o3, g3) = lce.forward_backward(x3.view(), p.w.view(), None, t2.view(), None).unwrap();
    let (o2, g2) = lce.forward_backward(p.x.view(), p.w.view(), None, p.t.view(), None).unwrap();
    assert_eq!(o3.loss.shape(), &[bsz, tlen]);
    assert_eq!(g3.input.shape(), &[bsz, tlen, d]);
    assert_eq!(o3.loss.iter().collect::<Vec<_>>(), o2.loss.iter().collect::<Vec<_>>());
    assert_eq!(g3.input.iter().collect::<Vec<_>>(), g2.input.iter().collect::<Vec<_>>());
    let logits = p.x.dot(&p.w.t());
    let (lse, ent, pred) = (o2.lse.unwrap(), o2.entropy.unwrap(), o2.predicted.unwrap());
    for i in 0..bsz * tlen {
        let row = logits.row(i);
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|z| (z - m).exp()).sum();
        let want_lse = m + s.ln();
        let want_ent = want_lse - row.iter().map(|z| (z - want_lse).exp() * z).sum::<f64>();
        assert!((lse[[i]] - want_lse).abs() < 1e-12);
        assert!((ent[[i]] - want_ent).abs() < 1e-12);
        assert_eq!(pred[[i]], row.iter().position(|&z| z == m).unwrap() as i64);
        let z = if p.t[i] == -100 { 0.0 } else { 0.1 * want_lse * want_lse };
        assert!((o2.z_loss[[i]] - z).abs() < 1e-12);
    }
    assert_eq!(o3.predicted.unwrap().shape(), &[bsz, tlen]);
}

#[test]
fn bad_input_is_a_clear_error() {
    let p = problem(4, 3, 5, 1);
    let lce = LinearCrossEntropyLoss::new();
    let msg = |e: LossError| e.to_string();
    let e = lce.forward(p.x.view(), Array2::<f64>::zeros((5, 4)).view(), None, p.t.view()).unwrap_err();
    assert_eq!(msg(e), "linear_cross_entropy: `linear_weight` has shape [5, 4], expected [V, 3] with V ≥ 1 (one row of `input`'s feature size per class)");
    let e = lce.forward(p.x.view(), p.w.view(), Some(Array1::zeros(4).view()), p.t.view()).unwrap_err();
    assert!(msg(e).contains("`linear_bias` has shape [4], expected [5]"));
    let e = lce.forward(p.x.view(), p.w.view(), None, Array1::from_vec(vec![0i64, 1, 5, 2]).view()).unwrap_err();
    assert_eq!(msg(e), "linear_cross_entropy: `target` holds class index 5 at position [2], outside the valid range [0, 5) and not ignore_index (-100)");
    let e = lce.forward(p.x.view(), p.w.view(), None, Array1::from_vec(vec![0i64, 1]).view()).unwrap_err();
    assert!(msg(e).contains("`target` has shape [2], expected [4]"));
    let e = LinearCrossEntropyLoss::new().softcap(Some(0.0)).forward(p.x.view(), p.w.view(), None, p.t.view()).unwrap_err();
    let m = msg(e);
    assert!(m.contains("softcap"), "{m}");
    // BatchMean (every reduction is valid for every loss): the sum over the first axis's length.
    let bm = LinearCrossEntropyLoss::new().reduction(Reduction::BatchMean).lse_square_scale(0.1).forward(p.x.view(), p.w.view(), None, p.t.view()).unwrap();
    let sum = LinearCrossEntropyLoss::new().reduction(Reduction::Sum).lse_square_scale(0.1).forward(p.x.view(), p.w.view(), None, p.t.view()).unwrap();
    assert!((bm.loss[[]] - sum.loss[[]] / 4.0).abs() < 1e-15 && (bm.z_loss[[]] - sum.z_loss[[]] / 4.0).abs() < 1e-15);
    let e = LinearCrossEntropyLoss::new().weight(Array1::<f64>::ones(3).view()).forward(p.x.view(), p.w.view(), None, p.t.view()).unwrap_err();
    assert!(msg(e).contains("`weight` has shape [3], expected [5]"));
    let e = lce.forward_backward(p.x.view(), p.w.view(), None, p.t.view(), Some(ArrayD::zeros(ndarray::IxDyn(&[4])).view())).unwrap_err();
    assert!(msg(e).contains("`grad_output` has shape [4], expected []"));
}

#[test]
fn non_finite_logits_give_nan_for_their_token_only() {
    let p = problem(3, 2, 4, 2);
    let mut x = p.x.clone();
    x[[1, 0]] = f64::NAN;
    let t = Array1::from_vec(vec![0i64, 1, 2]);
    let (out, g) = LinearCrossEntropyLoss::new().reduction(Reduction::None).forward_backward(x.view(), p.w.view(), None, t.view(), None).unwrap();
    assert!(out.loss[[0]].is_finite() && out.loss[[1]].is_nan() && out.loss[[2]].is_finite());
    assert!(g.input.index_axis(Axis(0), 0).iter().all(|v| v.is_finite()));
    assert!(g.input.index_axis(Axis(0), 1).iter().all(|v| v.is_nan()));
}

/// The largest |a − b| over the largest |b|.
fn max_rel(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((x - y).abs())) / scale.max(1e-300)
}

/// `bf16` inputs: the loss and per-token outputs within f32 rounding of the
/// f64 truth on the same (bf16) values, the gradients within a few bf16 ulps
/// (the logits' gradient is rounded to bf16 before the backward products),
/// on every option, several tiles, odd vocabularies and token counts, and a
/// (B, T, D) input; the same bits on 1, 2 and 4 threads.
#[test]
fn bfloat16_is_close_to_the_float64_truth_and_bit_identical_across_threads() {
    use losslab::half::bf16;
    eprintln!("bf16 on AVX512_BF16 dot products here: {}", LinearCrossEntropyLoss::bf16_dot_products(64));
    for &(n, d, v, rows) in &[(37, 64, 517, 8), (64, 96, 2001, 64), (5, 2, 3, 2), (33, 30, 1000, 16)] {
        let p = problem(n, d, v, 21);
        let h = |a: &Array2<f64>| a.mapv(bf16::from_f64);
        let (x, w, b) = (h(&p.x), h(&p.w), p.b.mapv(bf16::from_f64));
        let (x64, w64, b64) = (x.mapv(|v| f64::from(v.to_f32())), w.mapv(|v| f64::from(v.to_f32())), b.mapv(|v| f64::from(v.to_f32())));
        for (what, lce) in [
            ("plain", LinearCrossEntropyLoss::new().tile_bytes(rows * v * 4)),
            ("all options", loaded(rows, v).weight(p.cw.view()).tile_bytes(rows * v * 4).return_lse(true).return_entropy(true).return_predicted(true)),
            ("none", LinearCrossEntropyLoss::new().reduction(Reduction::None).label_smoothing(0.05).tile_bytes(rows * v * 4)),
        ] {
            let up = (lce.reduction == Reduction::None).then(|| ArrayD::from_shape_fn(ndarray::IxDyn(&[n]), |i| 0.5 + (i[0] % 3) as f32));
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| lce.forward_backward_half(x.view(), w.view(), Some(b.view()), p.t.view(), up.as_ref().map(|u| u.view())).unwrap())
            };
            let (o, g) = run(1);
            for threads in [2, 4] {
                assert_eq!((o.clone(), g.clone()), run(threads), "{what} ({n}, {d}, {v}): {threads} threads");
            }
            let up64 = up.as_ref().map(|u| u.mapv(f64::from));
            let (o64, g64) = lce.forward_backward(x64.view(), w64.view(), Some(b64.view()), p.t.view(), up64.as_ref().map(|u| u.view())).unwrap();
            let wide = |a: &ArrayD<f32>| a.mapv(f64::from);
            assert!(max_rel(&wide(&o.loss), &o64.loss) < 1e-5, "{what} ({n}, {d}, {v}): loss {} vs {}", o.loss, o64.loss);
            assert!(max_rel(&wide(&o.z_loss), &o64.z_loss) < 1e-5 || o64.z_loss.iter().all(|&z| z == 0.0));
            if let (Some(l), Some(l64)) = (&o.lse, &o64.lse) {
                assert!(max_rel(&wide(l), l64) < 1e-5, "{what}: lse");
                assert!(max_rel(&wide(o.entropy.as_ref().unwrap()), o64.entropy.as_ref().unwrap()) < 1e-4, "{what}: entropy");
            }
            let hw = |a: ArrayD<bf16>| a.mapv(|v| f64::from(v.to_f32()));
            for (got, want, name) in [
                (hw(g.input.clone()), g64.input.clone(), "input"),
                (hw(g.linear_weight.clone().into_dyn()), g64.linear_weight.clone().into_dyn(), "linear_weight"),
                (hw(g.linear_bias.clone().unwrap().into_dyn()), g64.linear_bias.clone().unwrap().into_dyn(), "linear_bias"),
            ] {
                // A few bf16 ulps (2⁻⁸ relative) of the largest element.
                let dev = max_rel(&got, &want);
                assert!(dev < 3e-2 / 2.0, "{what} ({n}, {d}, {v}): {name}: max |Δ| {dev:e} of the largest");
                // and on the whole tensor, near one bf16 rounding.
                let num: f64 = got.iter().zip(&want).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
                let den: f64 = want.iter().map(|b| b * b).sum::<f64>().sqrt();
                assert!(num <= 8e-3 * den, "{what} ({n}, {d}, {v}): {name}: ‖Δ‖ / ‖g‖ = {:e}", num / den);
            }
        }
    }
}

/// `bf16` inputs without a bias: the logits' gradient is rounded to bf16 in
/// the row pass, row by row, where a bias (whose gradient reads the `f32`
/// rows) has it rounded after the pass: the same bits either way (a zero bias
/// changes no logit), on 1, 2 and 3 threads, on odd and even vocabularies.
#[test]
fn bfloat16_without_a_bias_rounds_in_the_row_pass_to_the_same_bits() {
    use losslab::half::bf16;
    for &(n, d, v, rows) in &[(37, 64, 517, 8), (24, 34, 2000, 16), (5, 2, 3, 2)] {
        let p = problem(n, d, v, 5);
        let h = |a: &Array2<f64>| a.mapv(bf16::from_f64);
        let (x, w) = (h(&p.x), h(&p.w));
        let zero = Array1::from_elem(v, bf16::ZERO);
        let lce = LinearCrossEntropyLoss::new().label_smoothing(0.1).lse_square_scale(1e-3).tile_bytes(rows * v * 4);
        let run = |threads: usize, bias: bool| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| lce.forward_backward_half(x.view(), w.view(), bias.then(|| zero.view()), p.t.view(), None).unwrap())
        };
        let (o, g) = run(1, false);
        for threads in [1, 2, 3] {
            let (ob, gb) = run(threads, true);
            assert_eq!(o.loss, ob.loss, "({n}, {d}, {v}): {threads} threads");
            assert_eq!((&g.input, &g.linear_weight), (&gb.input, &gb.linear_weight), "({n}, {d}, {v}): {threads} threads, zero bias");
            assert_eq!((o.clone(), g.clone()), run(threads, false), "({n}, {d}, {v}): {threads} threads");
        }
    }
}

/// Where the inputs are widened (f16; bf16 with an odd hidden size), the
/// `f32` path's results on the widened values, rounded once: the same bits.
#[test]
fn half_inputs_off_the_dot_products_are_the_f32_path_rounded_once() {
    use losslab::half::{bf16, f16};
    let (n, d, v) = (19, 7, 101);
    let p = problem(n, d, v, 5);
    let lce = loaded(4, v).weight(p.cw.view()).tile_bytes(4 * v * 4).return_lse(true);
    let (x, w, b) = (p.x.mapv(f16::from_f64), p.w.mapv(f16::from_f64), p.b.mapv(f16::from_f64));
    let (o, g) = lce.forward_backward_half(x.view(), w.view(), Some(b.view()), p.t.view(), None).unwrap();
    let (o32, g32) = lce.forward_backward(x.mapv(f16::to_f32).view(), w.mapv(f16::to_f32).view(), Some(b.mapv(f16::to_f32).view()), p.t.view(), None).unwrap();
    assert_eq!(o, o32);
    assert_eq!(g.input, g32.input.mapv(f16::from_f32));
    assert_eq!(g.linear_weight, g32.linear_weight.mapv(f16::from_f32));
    assert_eq!(g.linear_bias.unwrap(), g32.linear_bias.unwrap().mapv(f16::from_f32));
    // bf16 with an odd hidden size (7): widened too.
    assert!(!LinearCrossEntropyLoss::bf16_dot_products(d));
    let (xb, wb) = (p.x.mapv(bf16::from_f64), p.w.mapv(bf16::from_f64));
    let (ob, gb) = lce.forward_backward_half(xb.view(), wb.view(), None, p.t.view(), None).unwrap();
    let (ob32, gb32) = lce.forward_backward(xb.mapv(bf16::to_f32).view(), wb.mapv(bf16::to_f32).view(), None, p.t.view(), None).unwrap();
    assert_eq!(ob, ob32);
    assert_eq!(gb.linear_weight, gb32.linear_weight.mapv(bf16::from_f32));
    // Bad input: the same errors as f32.
    let e = lce.forward_half(xb.view(), wb.t(), None, p.t.view()).unwrap_err();
    assert!(matches!(e, LossError::Shape { .. }), "{e}");
}
