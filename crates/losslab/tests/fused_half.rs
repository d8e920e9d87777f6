//! The half-precision fused softmax cross entropy (`bf16` and `f16` logits,
//! computed in `f32`) against the `f64` truth: the general `f64` path on the
//! same logits, each exactly representable (every half value is an `f64`).
//! Values within `f32` tolerance, gradients within 1 ulp of the half type;
//! bit-identical results whatever the thread count; NaN and infinities as the
//! general path has them.

use crate::common;

use common::fused::{general_path, labels, logits, losses, same_bits, with_threads, with_weights, Logit};
use common::Rng;
use losslab::half::{bf16, f16};
use losslab::{CrossEntropyLoss, HalfFloat, Reduction};
use ndarray::{s, Array1, Array2, ArrayD, Axis};

fn wide<H: HalfFloat, D: ndarray::Dimension>(a: &ndarray::Array<H, D>) -> ndarray::Array<f64, D> {
    a.mapv(|v| f64::from(v.to_f32()))
}

/// The spacing of the half type `H` at `x` (subnormals included).
fn ulp<H: HalfFloat>(x: f64) -> f64 {
    let (digits, min_exp) = if H::NAME == "bfloat16" { (8, -126) } else { (11, -14) };
    let e = if x == 0.0 { min_exp } else { (x.abs().log2().floor() as i32).max(min_exp) };
    2f64.powi(e - (digits - 1))
}

/// Values: `|a − b| ≤ rel·|b| + abs`, NaN matching NaN, infinities equal.
fn close_values(what: &str, a: &ArrayD<f32>, b: &ArrayD<f64>, rel: f64, abs: f64) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    for (i, (&x, &y)) in a.iter().zip(b.iter()).enumerate() {
        let x = f64::from(x);
        let ok = if y.is_nan() { x.is_nan() } else if y.is_infinite() { x == y } else { (x - y).abs() <= rel * y.abs() + abs };
        assert!(ok, "{what}[{i}]: half kernel {x:e}, f64 truth {y:e}");
    }
}

/// Gradients: within 1 ulp of `H` at `max(|truth|, floor)`, `floor` 1e-3 of
/// the largest gradient (below it, `f32` rounding inside the kernel counts
/// more than the half type's).
fn close_grad<H: HalfFloat>(what: &str, a: &ArrayD<H>, b: &ArrayD<f64>) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    let scale = b.iter().filter(|v| v.is_finite()).fold(0f64, |m, v| m.max(v.abs()));
    let floor = 1e-3 * scale;
    let mut worst = 0f64;
    for (i, (&x, &y)) in a.iter().zip(b.iter()).enumerate() {
        let x = f64::from(x.to_f32());
        if y.is_nan() {
            assert!(x.is_nan(), "{what}[{i}]: half kernel {x:e}, f64 truth NaN");
            continue;
        }
        let u = ulp::<H>(y.abs().max(floor));
        let err = (x - y).abs() / u;
        worst = worst.max(err);
        assert!(err <= 1.0, "{what}[{i}]: half kernel {x:e}, f64 truth {y:e}: {err:.3} ulp of {}", H::NAME);
    }
    if std::env::var_os("LOSSLAB_TEST_VERBOSE").is_some() {
        eprintln!("{what}: worst {worst:.3} ulp of {}", H::NAME);
    }
}

fn agree_with_f64_truth<H: HalfFloat + Logit>() {
    let mut rng = Rng::new(5);
    // C = 1, odd C, one block, several blocks with a short last one, and a row
    // longer than the kernel's scratch row (its exponentials recomputed).
    let mut shapes = vec![(5usize, 1usize, 3.0), (7, 3, 5.0), (33, 17, 8.0), (9, 100, 30.0), (3, 2048, 10.0), (4, 5000, 8.0)];
    if H::NAME == "bfloat16" {
        shapes.push((2, 40_000, 50.0));
    }
    for &(n, c, scale) in &shapes {
        let x = logits::<H>(&mut rng, n, c, scale);
        let xw = wide(&x);
        for (name, ce) in losses() {
            let ce = with_weights(&ce, c, &mut rng);
            let y = labels(&mut rng, n, c, ce.ignore_index);
            let what = format!("{} {n}x{c} {name}", H::NAME);
            let (tv, tg) = general_path(&ce, &xw, &y);
            let mut g = Array2::from_elem((n, c), H::default());
            let v = ce.forward_backward_half_into(x.view(), y.view(), g.view_mut()).unwrap();
            let g = g.into_dyn();
            close_values(&format!("{what} value"), &v, &tv, 2e-6, 1e-7);
            close_grad(&format!("{what} grad"), &g, &tg);
            let f = ce.forward_half(x.view(), y.view()).unwrap();
            assert!(same_bits(&f, &v), "{what}: forward = forward_backward, to the bit");
            let mut xi = x.clone();
            let vi = ce.forward_backward_half_inplace(xi.view_mut(), y.view()).unwrap();
            assert!(same_bits(&vi, &v), "{what}: in-place value = into a buffer, to the bit");
            assert!(same_bits(&xi.into_dyn(), &g), "{what}: in-place gradient = buffer gradient, to the bit");
            if ce.reduction == Reduction::None {
                let go = Array1::from_shape_fn(n, |i| i as f32 - 1.5).into_dyn();
                let mut gb = Array2::from_elem((n, c), H::default());
                ce.backward_half_into(x.view(), y.view(), go.view(), gb.view_mut()).unwrap();
                let gb3 = ce
                    .backward(xw.clone().insert_axis(Axis(2)).view(), y.clone().insert_axis(Axis(1)).view(), go.mapv(f64::from).insert_axis(Axis(1)).view())
                    .unwrap();
                close_grad(&format!("{what} backward"), &gb.into_dyn(), &gb3.input.index_axis_move(Axis(2), 0));
            }
        }
    }
}

#[test]
fn bf16_agrees_with_the_f64_truth() {
    agree_with_f64_truth::<bf16>();
}

#[test]
fn f16_agrees_with_the_f64_truth() {
    agree_with_f64_truth::<f16>();
}

/// `(C,)` input, a non-contiguous input (the `f32` path on the widened
/// logits), and zero rows.
#[test]
fn other_layouts_and_empty_inputs() {
    let mut rng = Rng::new(9);
    let x = logits::<bf16>(&mut rng, 6, 11, 4.0);
    let ce = CrossEntropyLoss::new().label_smoothing(0.05);
    // One row as (C,) and as (1, C).
    let row = x.row(2).to_owned();
    let mut g1 = Array1::from_elem(11, bf16::ZERO);
    let v1 = ce.forward_backward_half_into(row.view(), ndarray::arr0(4i64).view(), g1.view_mut()).unwrap();
    let (tv, tg) = general_path(&ce, &wide(&row.clone().insert_axis(Axis(0))), &Array1::from_elem(1, 4));
    close_values("(C,) value", &v1, &tv, 2e-6, 1e-7);
    close_grad("(C,) grad", &g1.insert_axis(Axis(0)).into_dyn(), &tg);
    // A transposed (non-contiguous) view: (11, 6) → its transpose (6, 11).
    let xt = x.t().to_owned();
    let y = labels(&mut rng, 6, 11, -100);
    let mut g = Array2::from_elem((6, 11), bf16::ZERO);
    let v = ce.forward_backward_half_into(xt.t(), y.view(), g.view_mut()).unwrap();
    let (tv, tg) = general_path(&ce, &wide(&x), &y);
    close_values("transposed value", &v, &tv, 2e-6, 1e-7);
    close_grad("transposed grad", &g.into_dyn(), &tg);
    // Zero rows: as the f32 path.
    let x0 = Array2::from_elem((0, 5), f16::ZERO);
    let y0 = Array1::<i64>::zeros(0);
    for r in Reduction::ALL {
        let ce = CrossEntropyLoss::new().reduction(r);
        let mut g0 = Array2::from_elem((0, 5), f16::ZERO);
        let v = ce.forward_backward_half_into(x0.view(), y0.view(), g0.view_mut()).unwrap();
        let want = ce.forward(Array2::<f32>::zeros((0, 5)).view(), y0.view()).unwrap();
        assert_eq!(v.shape(), want.shape(), "{r}: zero rows");
        assert!(v.iter().zip(want.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "{r}: zero rows {v} vs {want}");
    }
}

/// Errors are the `f32` path's, and leave the logits untouched.
#[test]
fn errors_name_the_problem_and_leave_the_logits_untouched() {
    let mut x = ndarray::array![[1.0f32, 2.0], [3.0, 4.0]].mapv(bf16::from_f32);
    let before = x.clone();
    let err = CrossEntropyLoss::new().forward_backward_half_inplace(x.view_mut(), ndarray::array![0i64, 2].view()).unwrap_err();
    assert!(err.to_string().contains("class index 2"), "{err}");
    assert_eq!(x, before);
    let mut g = Array2::from_elem((3, 2), bf16::ZERO);
    let err = CrossEntropyLoss::new().forward_backward_half_into(before.view(), ndarray::array![0i64, 1].view(), g.view_mut()).unwrap_err();
    assert!(err.to_string().contains("`grad` has shape [3, 2]"), "{err}");
}

/// NaN and ±∞ logits: as the general `f64` path on the same values.
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
    for eps in [0.0, 0.2] {
        for r in Reduction::ALL {
            let ce = CrossEntropyLoss::new().reduction(r).label_smoothing(eps);
            let (tv, tg) = general_path(&ce, &x, &y);
            for (name, v, g) in [
                ("bf16", run_half::<bf16>(&ce, &x, &y).0, run_half::<bf16>(&ce, &x, &y).1.mapv(|v| f64::from(v.to_f32()))),
                ("f16", run_half::<f16>(&ce, &x, &y).0, run_half::<f16>(&ce, &x, &y).1.mapv(|v| f64::from(v.to_f32()))),
            ] {
                close_values(&format!("{name} ε={eps} {r} value"), &v, &tv, 2e-6, 1e-7);
                for (i, (a, b)) in g.iter().zip(tg.iter()).enumerate() {
                    assert!(if b.is_nan() { a.is_nan() } else { (a - b).abs() <= 4e-3 * b.abs().max(1e-2) }, "{name} ε={eps} {r} grad[{i}]: {a} vs {b}");
                }
            }
        }
    }
}

/// An infinite loss (a target whose logit is −∞) without a NaN beside it sums
/// to +∞, as in the general path, on short rows (the `f32` single-block path)
/// and long ones (the blockwise driver): the compensated sums keep the plain
/// sum where the compensation turns NaN.
#[test]
fn an_infinite_loss_sums_to_infinity() {
    for c in [3usize, 100, 3000] {
        let mut x = Array2::from_shape_fn((4, c), |(r, k)| ((r * 7 + k * 3) % 11) as f64 * 0.5 - 2.0);
        x[[1, 2]] = f64::NEG_INFINITY;
        let y = ndarray::array![0i64, 2, 1, 0];
        for r in [Reduction::Sum, Reduction::Mean, Reduction::None] {
            let ce = CrossEntropyLoss::new().reduction(r);
            let (tv, _) = general_path(&ce, &x, &y);
            assert!(tv.iter().any(|v| *v == f64::INFINITY), "{c} {r}: the truth has an infinite loss");
            close_values(&format!("bf16 {c} {r}"), &run_half::<bf16>(&ce, &x, &y).0, &tv, 2e-6, 1e-7);
            close_values(&format!("f16 {c} {r}"), &run_half::<f16>(&ce, &x, &y).0, &tv, 2e-6, 1e-7);
        }
    }
}

fn run_half<H: HalfFloat>(ce: &CrossEntropyLoss, x: &Array2<f64>, y: &Array1<i64>) -> (ArrayD<f32>, ArrayD<H>) {
    let xh = x.mapv(H::from_f64);
    let mut g = Array2::from_elem(x.dim(), H::default());
    let v = ce.forward_backward_half_into(xh.view(), y.view(), g.view_mut()).unwrap();
    (v, g.into_dyn())
}

/// Every thread count gives the same bits: the work is split by the problem's
/// size alone, and partial results are combined in a fixed order.
#[test]
fn bit_identical_whatever_the_thread_count() {
    fn check<H: HalfFloat + Logit>(rng: &mut Rng) {
        // Many rows (split over rows), one or two long rows (split over
        // blocks), rows longer than the scratch row, few classes.
        for &(n, c) in &[(300usize, 777usize), (1, 30_000), (2, 50_000), (3000, 10)] {
            let x = logits::<H>(rng, n, c, 8.0);
            let y = labels(rng, n, c, -100);
            for ce in [
                CrossEntropyLoss::new(),
                CrossEntropyLoss::new().label_smoothing(0.1).reduction(Reduction::Sum),
                CrossEntropyLoss::new().reduction(Reduction::None),
            ] {
                let run = |threads: usize| {
                    with_threads(threads, || {
                        let mut g = Array2::from_elem((n, c), H::default());
                        let v = ce.forward_backward_half_into(x.view(), y.view(), g.view_mut()).unwrap();
                        let mut xi = x.clone();
                        let vi = ce.forward_backward_half_inplace(xi.view_mut(), y.view()).unwrap();
                        (v, g.into_dyn(), vi, xi.into_dyn())
                    })
                };
                let (v1, g1, vi1, xi1) = run(1);
                for t in [2, 8] {
                    let (v, g, vi, xi) = run(t);
                    let what = format!("{} {n}x{c} {t} threads", H::NAME);
                    assert!(same_bits(&v, &v1) && same_bits(&vi, &vi1), "{what}: value");
                    assert!(same_bits(&g, &g1) && same_bits(&xi, &xi1), "{what}: gradient");
                }
            }
        }
    }
    let mut rng = Rng::new(11);
    check::<bf16>(&mut rng);
    check::<f16>(&mut rng);
}

/// Short rows (at most 64 classes) are widened to `f32` a chunk of rows at a
/// time: with many rows each task takes several chunks, and every row's loss
/// and gradient are those of the row alone (each row's arithmetic is its own),
/// whatever chunk it fell in: the labels, weights, ignored rows, per-row
/// upstream gradients and losses are taken at each chunk's offset.
#[test]
fn short_rows_in_many_chunks_are_each_rows_own() {
    fn check<H: HalfFloat + Logit>(rng: &mut Rng) {
        // 70 000 rows of 64 classes: 274 rows a task, chunks of 256 and 18;
        // 5000 rows of 40: 20 a task, in one chunk; 3000 rows of 65: the
        // blockwise driver.
        for &(n, c) in &[(70_000usize, 64usize), (5000, 40), (3000, 65)] {
            let x = logits::<H>(rng, n, c, 8.0);
            let y = labels(rng, n, c, 3);
            let w = Array1::from_shape_fn(c, |_| rng.uniform() * 2.0);
            let ce = CrossEntropyLoss::new().reduction(Reduction::None).ignore_index(3);
            // (Smoothing with weights takes the blockwise driver.)
            for ce in [ce.clone().weight(w.view()), ce.label_smoothing(0.1)] {
                let mut g = Array2::from_elem((n, c), H::default());
                let v = ce.forward_backward_half_into(x.view(), y.view(), g.view_mut()).unwrap();
                let go = Array1::from_shape_fn(n, |i| (i % 7) as f32 - 2.5).into_dyn();
                let mut gb = Array2::from_elem((n, c), H::default());
                ce.backward_half_into(x.view(), y.view(), go.view(), gb.view_mut()).unwrap();
                for r in (0..n).step_by(n / 97) {
                    let what = format!("{} {n}x{c} row {r}", H::NAME);
                    let (xr, yr) = (x.slice(s![r..r + 1, ..]), y.slice(s![r..r + 1]));
                    let mut gr = Array2::from_elem((1, c), H::default());
                    let vr = ce.forward_backward_half_into(xr, yr, gr.view_mut()).unwrap();
                    assert_eq!(vr[[0]].to_bits(), v[[r]].to_bits(), "{what}: loss");
                    assert!(gr.row(0).iter().zip(g.row(r)).all(|(a, b)| a.to_f32().to_bits() == b.to_f32().to_bits()), "{what}: gradient");
                    let gor = go.slice(s![r..r + 1]).to_owned().into_dyn();
                    ce.backward_half_into(xr, yr, gor.view(), gr.view_mut()).unwrap();
                    assert!(gr.row(0).iter().zip(gb.row(r)).all(|(a, b)| a.to_f32().to_bits() == b.to_f32().to_bits()), "{what}: backward");
                }
            }
        }
    }
    let mut rng = Rng::new(13);
    check::<bf16>(&mut rng);
    check::<f16>(&mut rng);
}
