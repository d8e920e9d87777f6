//! The fused softmax cross entropy (contiguous `(N, C)` and `(C,)` inputs)
//! against the general path (the same input as `(N, C, 1)`, which the fused
//! kernel does not take), with every option; bit-identical results whatever the
//! thread count. (`fused_alloc.rs` counts the in-place mode's allocations.)

use crate::common;

use common::fused::{general_path, labels, logits, losses, same_bits, with_threads, with_weights, Logit};
use common::Rng;
use losslab::{CrossEntropyLoss, Float, Reduction};
use ndarray::{Array1, Array2, ArrayD, Axis};

/// `|a − b| ≤ rel·|b| + abs·max|b|`, NaN matching NaN.
fn close<T: Float>(what: &str, a: &ArrayD<T>, b: &ArrayD<T>, rel: f64, abs: f64) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    let scale = b.iter().filter(|v| v.is_finite()).fold(f64::MIN_POSITIVE, |m, v| m.max(v.to_wide().abs()));
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        let (x, y) = (x.to_wide(), y.to_wide());
        let ok = if y.is_nan() {
            x.is_nan()
        } else if y.is_infinite() {
            x == y
        } else {
            (x - y).abs() <= rel * y.abs() + abs * scale
        };
        assert!(ok, "{what}[{i}]: fused {x:e}, general {y:e} (scale {scale:e})");
    }
}

fn tol<T: Float>() -> (f64, f64) {
    if T::NAME == "float32" {
        (2e-6, 2e-7)
    } else {
        (1e-12, 1e-14)
    }
}

fn agree_with_general_path<T: Float + Logit>() {
    let (rel, abs) = tol::<T>();
    let mut rng = Rng::new(7);
    // One block, several blocks with a short last one, many blocks.
    // The single-block path (C ≤ 2048): C = 1, 2, one register (16), the
    // register kernel's limit (64) and one past it, the block (2048) and one
    // past it (two blocks); row counts that are not a multiple of the group (16).
    for &(n, c, scale) in &[
        (5usize, 1usize, 3.0),
        (37, 1, 3.0),
        (21, 2, 4.0),
        (7, 3, 5.0),
        (50, 10, 6.0),
        (17, 16, 8.0),
        (33, 17, 30.0),
        (19, 64, 10.0),
        (18, 65, 10.0),
        (9, 100, 1e4),
        (3, 2048, 10.0),
        (3, 2049, 10.0),
        (4, 5000, 20.0),
        (2, 70_001, 50.0),
    ] {
        let x = logits::<T>(&mut rng, n, c, scale);
        let x3 = x.clone().insert_axis(Axis(2));
        for (name, ce) in losses() {
            let ce = with_weights(&ce, c, &mut rng);
            let y = labels(&mut rng, n, c, ce.ignore_index);
            let y2 = y.clone().insert_axis(Axis(1));
            let what = format!("{} {n}x{c} {name}", T::NAME);
            let (v, g) = ce.forward_backward(x.view(), y.view()).unwrap();
            let (v3, g3) = general_path(&ce, &x, &y);
            close(&format!("{what} value"), &v, &v3, rel, abs);
            close(&format!("{what} grad"), &g.input, &g3, rel, abs);
            close(&format!("{what} forward"), &ce.forward(x.view(), y.view()).unwrap(), &v, rel, abs);
            // In place, and a per-sample upstream gradient.
            let mut xi = x.clone();
            let vi = ce.forward_backward_inplace(xi.view_mut(), y.view()).unwrap();
            assert!(same_bits(&vi, &v), "{what}: in place = into a buffer, to the bit");
            assert!(same_bits(&xi.into_dyn(), &g.input), "{what}: in-place gradient = buffer gradient, to the bit");
            // Into a buffer of NaN: every element written (ignored rows with
            // zeros, weighted losses through the general path's copy), as the
            // burn adapter relies on when it reuses a buffer.
            let mut gn = Array2::from_elem((n, c), T::from_wide(f64::NAN));
            let vn = ce.forward_backward_into(x.view(), y.view(), gn.view_mut()).unwrap();
            assert!(same_bits(&vn, &v), "{what}: into a used buffer, the value to the bit");
            assert!(same_bits(&gn.into_dyn(), &g.input), "{what}: into a used buffer, every gradient element written, to the bit");
            if ce.reduction == Reduction::None {
                let go: ArrayD<T> = Array1::from_shape_fn(n, |i| T::from_wide(i as f64 - 1.5)).into_dyn();
                let gb = ce.backward(x.view(), y.view(), go.view()).unwrap();
                let gb3 = ce.backward(x3.view(), y2.view(), go.clone().insert_axis(Axis(1)).view()).unwrap();
                close(&format!("{what} backward"), &gb.input, &gb3.input.index_axis_move(Axis(2), 0), rel, abs);
            }
            // Probability targets (ignore_index must be negative there).
            let ce = ce.clone().ignore_index(-100);
            let t = Array2::from_shape_fn((n, c), |_| T::from_wide(rng.uniform()));
            let t3 = t.clone().insert_axis(Axis(2));
            let (vp, gp) = ce.forward_backward_probs(x.view(), t.view()).unwrap();
            let (vp3, gp3) = ce.forward_backward_probs(x3.view(), t3.view()).unwrap();
            let vp3 = if ce.reduction == Reduction::None { vp3.index_axis_move(Axis(1), 0) } else { vp3 };
            close(&format!("{what} probs value"), &vp, &vp3, rel, abs);
            close(&format!("{what} probs forward"), &ce.forward_probs(x.view(), t.view()).unwrap(), &vp3, rel, abs);
            let mut gi = Array2::from_elem((n, c), T::from_wide(f64::NAN));
            let vi = ce.forward_backward_probs_into(x.view(), t.view(), gi.view_mut()).unwrap();
            close(&format!("{what} probs into value"), &vi, &vp, rel, abs);
            close(&format!("{what} probs grad"), &gi.into_dyn(), &gp.input, rel, abs);
            close(&format!("{what} probs grad vs general"), &gp.input, &gp3.input.index_axis_move(Axis(2), 0), rel, abs);
        }
    }
}

#[test]
fn fused_agrees_with_the_general_path_f64() {
    agree_with_general_path::<f64>();
}

#[test]
fn fused_agrees_with_the_general_path_f32() {
    agree_with_general_path::<f32>();
}

#[test]
fn non_finite_logits_behave_as_the_general_path() {
    let inf = f64::INFINITY;
    let x = ndarray::array![
        [0.0, -inf, 1.0, 2.0],
        [f64::NAN, 0.0, 1.0, 1.0],
        [inf, 0.0, 0.0, 0.0],
        [-inf, -inf, -inf, -inf],
        [-inf, 0.0, 0.0, 0.0]
    ];
    let y = ndarray::array![0i64, 1, 1, 2, 0];
    non_finite_rows_agree(&x, &y);
    // The same rows among finite ones, in groups of the single-block path
    // (16 rows), with 12 and 40 classes (one and three registers).
    for c in [12usize, 40] {
        let mut rng = Rng::new(5);
        let mut big = logits::<f64>(&mut rng, 37, c, 4.0);
        for (i, row) in x.outer_iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                big[[3 + 7 * i, j * (c / 4)]] = v;
            }
        }
        let yb = labels(&mut rng, 37, c, 3);
        non_finite_rows_agree(&big, &yb);
    }
}

fn non_finite_rows_agree(x: &Array2<f64>, y: &Array1<i64>) {
    for eps in [0.0, 0.2] {
        for r in Reduction::ALL {
            let ce = CrossEntropyLoss::new().reduction(r).label_smoothing(eps);
            let (v, g) = ce.forward_backward(x.view(), y.view()).unwrap();
            let (v3, g3) = general_path(&ce, x, y);
            close(&format!("ε={eps} {r} value"), &v, &v3, 1e-12, 1e-14);
            close(&format!("ε={eps} {r} grad"), &g.input, &g3, 1e-12, 1e-14);
            // f32 too, through the SIMD kernels.
            let xf = x.mapv(|v| v as f32);
            let (vf, gf) = ce.forward_backward(xf.view(), y.view()).unwrap();
            close(&format!("f32 ε={eps} {r} value"), &vf.mapv(f64::from), &v3, 1e-6, 1e-7);
            close(&format!("f32 ε={eps} {r} grad"), &gf.input.mapv(f64::from), &g.input, 1e-6, 1e-7);
        }
    }
}

#[test]
fn errors_leave_the_logits_untouched() {
    let mut x = ndarray::array![[1.0f32, 2.0], [3.0, 4.0]];
    let before = x.clone();
    let err = CrossEntropyLoss::new().forward_backward_inplace(x.view_mut(), ndarray::array![0i64, 2].view()).unwrap_err();
    assert!(err.to_string().contains("class index 2"), "{err}");
    assert_eq!(x, before);
    let mut g = Array2::<f32>::zeros((3, 2));
    let err = CrossEntropyLoss::new().forward_backward_into(before.view(), ndarray::array![0i64, 1].view(), g.view_mut()).unwrap_err();
    assert!(err.to_string().contains("`grad` has shape [3, 2]"), "{err}");
}

/// Every thread count gives the same bits: the work is split by the problem's
/// size alone, and partial results are combined in a fixed order.
#[test]
fn bit_identical_whatever_the_thread_count() {
    let mut rng = Rng::new(11);
    // Many rows (split over rows), and one or two long rows (split over blocks).
    for &(n, c) in &[(300usize, 777usize), (1, 100_000), (2, 50_000), (3000, 10), (4099, 1), (1001, 64), (999, 65), (70, 2048)] {
        let x = logits::<f32>(&mut rng, n, c, 8.0);
        let y = labels(&mut rng, n, c, -100);
        let t = Array2::from_shape_fn((n, c), |_| rng.uniform() as f32);
        let weight: Vec<f64> = (0..c).map(|_| rng.uniform() * 2.0).collect();
        for ce in [
            CrossEntropyLoss::new(),
            CrossEntropyLoss::new().label_smoothing(0.1).reduction(Reduction::Sum),
            CrossEntropyLoss::new().reduction(Reduction::None),
            CrossEntropyLoss::new().weight(Array1::from(weight.clone()).view()),
        ] {
            let run = |threads: usize| {
                with_threads(threads, || {
                    let mut g = x.clone();
                    let v = ce.forward_backward_inplace(g.view_mut(), y.view()).unwrap();
                    let mut gp = Array2::<f32>::zeros((n, c));
                    let vp = ce.forward_backward_probs_into(x.view(), t.view(), gp.view_mut()).unwrap();
                    let f = ce.forward(x.view(), y.view()).unwrap();
                    (v, g, vp, gp, f)
                })
            };
            let one = run(1);
            for threads in [2, 8] {
                let other = run(threads);
                let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits());
                assert!(same(one.0.as_slice().unwrap(), other.0.as_slice().unwrap()), "{n}x{c} value, {threads} threads");
                assert!(same(one.1.as_slice().unwrap(), other.1.as_slice().unwrap()), "{n}x{c} grad, {threads} threads");
                assert!(same(one.2.as_slice().unwrap(), other.2.as_slice().unwrap()), "{n}x{c} probs value, {threads} threads");
                assert!(same(one.3.as_slice().unwrap(), other.3.as_slice().unwrap()), "{n}x{c} probs grad, {threads} threads");
                assert!(same(one.4.as_slice().unwrap(), other.4.as_slice().unwrap()), "{n}x{c} forward, {threads} threads");
            }
        }
    }
}
