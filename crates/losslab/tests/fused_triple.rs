//! The three-operand element-wise sweep (Gaussian NLL, margin ranking, optax's
//! binary sparsemax) and Gaussian NLL's row sweep (one variance per row)
//! against the general path, against the `f64` truth, and bit-identical
//! whatever the thread count.
//!
//! The general path runs on strided views of the same values (every other
//! element of a longer array), which the fused paths do not take. Each
//! element is computed by the same function on both paths, so the unreduced
//! values and the gradients of one element are bit-identical; sums differ in
//! order only (`1e-13` relative in `f64`, one rounding to `f32`).

use losslab::classification::OptaxSparsemaxLoss;
use losslab::{Float, GaussianNllLoss, MarginRankingLoss, Reduction};
use ndarray::{s, Array2, ArrayD, ArrayView2, ArrayViewD, Axis, IxDyn};

/// A `(n, c)` array of `f(k)` for a stream of uniforms in `[0, 1)`.
fn data<T: Float>(n: usize, c: usize, seed: u64, f: impl Fn(f64) -> f64) -> Array2<T> {
    let mut st = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Array2::from_shape_fn((n, c), |_| {
        st ^= st << 13;
        st ^= st >> 7;
        st ^= st << 17;
        T::from_wide(f((st >> 11) as f64 / (1u64 << 53) as f64))
    })
}

/// A strided copy: the same values in every other column of a wider array.
fn strided<T: Clone + Default>(a: &Array2<T>) -> Array2<T> {
    let mut b = Array2::from_elem((a.nrows(), 2 * a.ncols()), T::default());
    b.slice_mut(s![.., ..;2]).assign(a);
    b
}

fn bits<T: Float>(a: &ArrayD<T>) -> Vec<u64> {
    a.iter().map(|v| v.to_wide().to_bits()).collect()
}

/// `|a − b| ≤ rel · max(|a|, |b|, floor)`, NaN with NaN agreeing.
fn close<T: Float>(what: &str, a: &ArrayD<T>, b: &ArrayD<T>, rel: f64, floor: f64) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    for (i, (&p, &q)) in a.iter().zip(b.iter()).enumerate() {
        let (p, q) = (p.to_wide(), q.to_wide());
        let ok = (p.is_nan() && q.is_nan()) || p == q || (p - q).abs() <= rel * p.abs().max(q.abs()).max(floor);
        assert!(ok, "{what}[{i}]: {p} vs {q}");
    }
}

/// The tolerance of a sum computed in another order: `f64`'s, or one rounding to `f32`.
fn sum_rel<T: Float>() -> f64 {
    if std::mem::size_of::<T>() == 4 { f64::from(f32::EPSILON) } else { 1e-13 }
}

/// Equal where `exact` (unreduced values, per-element gradients: the same
/// operations on both paths; a NaN's sign and the sign of a zero aside, which
/// the compiler does not keep, and the general path's sum of one term
/// rounds `−0` to `+0`), else close as a sum.
fn agree<T: Float>(what: &str, a: &ArrayD<T>, b: &ArrayD<T>, exact: bool) {
    if exact {
        assert_eq!(a.shape(), b.shape(), "{what}: shapes");
        for (i, (&p, &q)) in a.iter().zip(b.iter()).enumerate() {
            let (p, q) = (p.to_wide(), q.to_wide());
            assert!(p == q || (p.is_nan() && q.is_nan()), "{what}[{i}]: {p:e} vs {q:e}, not equal");
        }
    } else {
        close(what, a, b, sum_rel::<T>(), 1e-300);
    }
}

/// The upstream gradient of a result of `shape`: varied per element, a scalar when reduced.
fn upstream<T: Float>(r: Reduction, n: usize, c: usize) -> ArrayD<T> {
    if r == Reduction::None {
        Array2::from_shape_fn((n, c), |(i, j)| T::from_wide(((i * c + j) % 7) as f64 - 3.0)).into_dyn()
    } else {
        ArrayD::from_elem(IxDyn(&[]), T::from_wide(-2.5))
    }
}

/// One loss's outputs on its tensors: forward, forward_backward's value and
/// gradients, backward's gradients with [`upstream`].
type Outputs<T> = Vec<(String, ArrayD<T>, bool)>;

fn gaussian<T: Float>(loss: &GaussianNllLoss, x: ArrayView2<'_, T>, y: ArrayView2<'_, T>, v: ArrayViewD<'_, T>) -> Outputs<T> {
    let r = loss.reduction;
    let unreduced = r == Reduction::None;
    let (value, g) = loss.forward_backward(x, y, v.view()).unwrap();
    let b = loss.backward(x, y, v.view(), upstream::<T>(r, x.nrows(), x.ncols()).view()).unwrap();
    // The variance's gradient is a sum where var is broadcast.
    let var_exact = v.shape() == x.shape();
    vec![
        ("forward".into(), loss.forward(x, y, v.view()).unwrap(), unreduced),
        ("value".into(), value, unreduced),
        ("grad input".into(), g.input, true),
        ("grad target".into(), g.target, true),
        ("grad var".into(), g.var, var_exact),
        ("backward input".into(), b.input, true),
        ("backward target".into(), b.target, true),
        ("backward var".into(), b.var, var_exact),
    ]
}

fn ranking<T: Float>(loss: &MarginRankingLoss, a: ArrayView2<'_, T>, b: ArrayView2<'_, T>, y: ArrayView2<'_, T>) -> Outputs<T> {
    let r = loss.reduction;
    let unreduced = r == Reduction::None;
    let (value, g) = loss.forward_backward(a, b, y).unwrap();
    let bw = loss.backward(a, b, y, upstream::<T>(r, a.nrows(), a.ncols()).view()).unwrap();
    vec![
        ("forward".into(), loss.forward(a, b, y).unwrap(), unreduced),
        ("value".into(), value, unreduced),
        ("grad input1".into(), g.input1, true),
        ("grad input2".into(), g.input2, true),
        ("grad target".into(), g.target, true),
        ("backward input1".into(), bw.input1, true),
        ("backward input2".into(), bw.input2, true),
        ("backward target".into(), bw.target, true),
    ]
}

fn sparsemax<T: Float, L: losslab::classification::BinaryLabel>(loss: &OptaxSparsemaxLoss, x: ArrayView2<'_, T>, l: ArrayView2<'_, L>) -> Outputs<T> {
    let r = loss.reduction;
    let unreduced = r == Reduction::None;
    let (value, g) = loss.forward_backward(x, l).unwrap();
    let b = loss.backward(x, l, upstream::<T>(r, x.nrows(), x.ncols()).view()).unwrap();
    assert!(g.target.is_none() && b.target.is_none());
    vec![
        ("forward".into(), loss.forward(x, l).unwrap(), unreduced),
        ("value".into(), value, unreduced),
        ("grad logits".into(), g.input, true),
        ("backward logits".into(), b.input, true),
    ]
}

fn compare<T: Float>(what: &str, fused: Outputs<T>, general: Outputs<T>) {
    for ((name, a, exact), (_, b, _)) in fused.into_iter().zip(general) {
        agree(&format!("{what} {name}"), &a, &b, exact);
    }
}

const REDUCTIONS: [Reduction; 4] = [Reduction::None, Reduction::Mean, Reduction::Sum, Reduction::BatchMean];

/// Inputs with ties (x = y), variances below `eps`, zeros, NaNs and infinities.
fn gaussian_inputs<T: Float>(n: usize, c: usize, seed: u64) -> (Array2<T>, Array2<T>, Array2<T>) {
    let x = data::<T>(n, c, seed, |u| u * 8.0 - 4.0);
    let mut y = data::<T>(n, c, seed + 1, |u| u * 8.0 - 4.0);
    let mut v = data::<T>(n, c, seed + 2, |u| u * u * 3.0);
    for (k, ((yv, vv), xv)) in y.iter_mut().zip(v.iter_mut()).zip(x.iter()).enumerate() {
        match k % 53 {
            0 => *yv = *xv,
            1 => *vv = T::zero(),
            2 => *vv = T::from_wide(1e-9),
            3 if k % 2 == 0 => *vv = T::from_wide(f64::NAN),
            4 if k % 3 == 0 => *vv = T::from_wide(f64::INFINITY),
            _ => {}
        }
    }
    (x, y, v)
}

fn gaussian_agrees<T: Float>(n: usize, c: usize, seed: u64) {
    let (x, y, v) = gaussian_inputs::<T>(n, c, seed);
    let (xs, ys, vs) = (strided(&x), strided(&y), strided(&v));
    let (xv, yv, vv) = (xs.slice(s![.., ..;2]), ys.slice(s![.., ..;2]), vs.slice(s![.., ..;2]));
    // One variance per row: (N,) and (N, 1), contiguous (the general path: strided x and y).
    let v_row = v.column(0).to_owned();
    let v_col = v.slice(s![.., 0..1]).to_owned();
    for r in REDUCTIONS {
        for full in [false, true] {
            let loss = GaussianNllLoss::new().reduction(r).full(full).eps(1e-6);
            let what = format!("gaussian_nll {r:?} full={full} {} {n}x{c}", T::NAME);
            compare(&what, gaussian(&loss, x.view(), y.view(), v.view().into_dyn()), gaussian(&loss, xv, yv, vv.into_dyn()));
            for var in [v_row.view().into_dyn(), v_col.view().into_dyn()] {
                let what = format!("{what} var {:?}", var.shape());
                compare(&what, gaussian(&loss, x.view(), y.view(), var.view()), gaussian(&loss, xv, yv, var.view()));
            }
        }
    }
}

#[test]
fn gaussian_nll_fused_agrees_with_the_general_path() {
    for (k, (n, c)) in [(1, 1), (3, 5), (7, 17), (64, 129), (257, 300)].into_iter().enumerate() {
        gaussian_agrees::<f32>(n, c, 10 + k as u64);
        gaussian_agrees::<f64>(n, c, 20 + k as u64);
    }
}

/// Scores with ties (`x1 = x2`: the term at the margin), targets ±1 with some
/// 0, NaN and infinite, NaN scores.
fn ranking_inputs<T: Float>(n: usize, c: usize, seed: u64) -> (Array2<T>, Array2<T>, Array2<T>) {
    let mut a = data::<T>(n, c, seed, |u| u * 4.0 - 2.0);
    let b = data::<T>(n, c, seed + 1, |u| u * 4.0 - 2.0);
    let mut y = data::<T>(n, c, seed + 2, |u| if u < 0.5 { -1.0 } else { 1.0 });
    for (k, ((av, yv), bv)) in a.iter_mut().zip(y.iter_mut()).zip(b.iter()).enumerate() {
        match k % 41 {
            0 => *av = *bv,
            1 => *yv = T::zero(),
            2 if k % 2 == 0 => *yv = T::from_wide(f64::NAN),
            3 if k % 2 == 0 => *yv = T::from_wide(f64::INFINITY),
            4 if k % 3 == 0 => *av = T::from_wide(f64::NAN),
            _ => {}
        }
    }
    (a, b, y)
}

fn ranking_agrees<T: Float>(n: usize, c: usize, seed: u64) {
    let (a, b, y) = ranking_inputs::<T>(n, c, seed);
    let (as_, bs, ys) = (strided(&a), strided(&b), strided(&y));
    for r in REDUCTIONS {
        for margin in [0.0, 0.5] {
            let loss = MarginRankingLoss::new().reduction(r).margin(margin);
            let what = format!("margin_ranking {r:?} margin={margin} {} {n}x{c}", T::NAME);
            compare(
                &what,
                ranking(&loss, a.view(), b.view(), y.view()),
                ranking(&loss, as_.slice(s![.., ..;2]), bs.slice(s![.., ..;2]), ys.slice(s![.., ..;2])),
            );
        }
    }
}

#[test]
fn margin_ranking_fused_agrees_with_the_general_path() {
    for (k, (n, c)) in [(1, 1), (3, 5), (7, 17), (64, 129), (257, 300)].into_iter().enumerate() {
        ranking_agrees::<f32>(n, c, 30 + k as u64);
        ranking_agrees::<f64>(n, c, 40 + k as u64);
    }
}

/// Logits on and around the kinks at ±1, NaN; labels 0/1 (and other nonzero values).
fn sparsemax_inputs<T: Float>(n: usize, c: usize, seed: u64) -> (Array2<T>, Array2<i64>) {
    let mut x = data::<T>(n, c, seed, |u| u * 6.0 - 3.0);
    let l = data::<f64>(n, c, seed + 1, |u| (u * 2.2).floor()).mapv(|v| v as i64);
    for (k, xv) in x.iter_mut().enumerate() {
        match k % 37 {
            0 => *xv = T::one(),
            1 => *xv = -T::one(),
            2 if k % 2 == 0 => *xv = T::from_wide(f64::NAN),
            3 => *xv = T::from_wide(if k % 2 == 0 { f64::INFINITY } else { f64::NEG_INFINITY }),
            _ => {}
        }
    }
    (x, l)
}

fn sparsemax_agrees<T: Float + losslab::classification::BinaryLabel>(n: usize, c: usize, seed: u64) {
    let (x, l) = sparsemax_inputs::<T>(n, c, seed);
    let lf = l.mapv(|v| T::from_wide(v as f64));
    let (xs, ls) = (strided(&x), strided(&l));
    for r in REDUCTIONS {
        let loss = OptaxSparsemaxLoss::new().reduction(r);
        let what = format!("sparsemax_loss {r:?} {} {n}x{c}", T::NAME);
        let general = || sparsemax(&loss, xs.slice(s![.., ..;2]), ls.slice(s![.., ..;2]));
        compare(&what, sparsemax(&loss, x.view(), l.view()), general());
        compare(&format!("{what} float labels"), sparsemax(&loss, x.view(), lf.view()), general());
    }
}

#[test]
fn sparsemax_loss_fused_agrees_with_the_general_path() {
    for (k, (n, c)) in [(1, 1), (3, 5), (7, 17), (64, 129), (257, 300)].into_iter().enumerate() {
        sparsemax_agrees::<f32>(n, c, 50 + k as u64);
        sparsemax_agrees::<f64>(n, c, 60 + k as u64);
    }
}

/// `f32` inputs on the fused paths against the `f64` truth (the same inputs
/// widened): the golden suite's `f32` tolerance.
#[test]
fn f32_is_within_tolerance_of_the_f64_truth() {
    let (n, c) = (129, 65);
    let wide = |a: &Array2<f32>| a.mapv(f64::from);
    let check = |what: &str, got: Outputs<f32>, want: Outputs<f64>| {
        for ((name, a, _), (_, b, _)) in got.into_iter().zip(want) {
            let a = a.mapv(f64::from);
            let scale = b.iter().filter(|v| v.is_finite()).fold(f64::MIN_POSITIVE, |m, v| m.max(v.abs()));
            close(&format!("{what} {name}"), &a, &b, 1e-6, 1e-6 * scale);
        }
    };
    let (x, y, v) = gaussian_inputs::<f32>(n, c, 1);
    let (xw, yw, vw) = (wide(&x), wide(&y), wide(&v));
    for r in REDUCTIONS {
        let loss = GaussianNllLoss::new().reduction(r);
        check(&format!("gaussian_nll {r:?}"), gaussian(&loss, x.view(), y.view(), v.view().into_dyn()), gaussian(&loss, xw.view(), yw.view(), vw.view().into_dyn()));
        let (vr, vrw) = (v.column(0).to_owned(), vw.column(0).to_owned());
        check(&format!("gaussian_nll {r:?} var per row"), gaussian(&loss, x.view(), y.view(), vr.view().into_dyn()), gaussian(&loss, xw.view(), yw.view(), vrw.view().into_dyn()));
        let (a, b, t) = ranking_inputs::<f32>(n, c, 2);
        let loss = MarginRankingLoss::new().reduction(r).margin(0.25);
        check(&format!("margin_ranking {r:?}"), ranking(&loss, a.view(), b.view(), t.view()), ranking(&loss, wide(&a).view(), wide(&b).view(), wide(&t).view()));
        let (x, l) = sparsemax_inputs::<f32>(n, c, 3);
        let loss = OptaxSparsemaxLoss::new().reduction(r);
        check(&format!("sparsemax_loss {r:?}"), sparsemax(&loss, x.view(), l.view()), sparsemax(&loss, wide(&x).view(), l.view()));
    }
}

/// The same bits on pools of 1 and 3 threads, over more chunks than the
/// sweep has parts and more rows than the row sweep has parts.
#[test]
fn bit_identical_whatever_the_thread_count() {
    let (n, c) = (3001, 700);
    let (x, y, v) = gaussian_inputs::<f32>(n, c, 5);
    let vr = v.column(0).to_owned();
    let (a, b, t) = ranking_inputs::<f32>(n, c, 6);
    let (z, l) = sparsemax_inputs::<f32>(n, c, 7);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut out = Vec::new();
            for r in [Reduction::None, Reduction::Mean] {
                out.extend(gaussian(&GaussianNllLoss::new().reduction(r), x.view(), y.view(), v.view().into_dyn()));
                out.extend(gaussian(&GaussianNllLoss::new().reduction(Reduction::Sum), x.view(), y.view(), vr.view().into_dyn()));
                out.extend(ranking(&MarginRankingLoss::new().reduction(r).margin(0.1), a.view(), b.view(), t.view()));
                out.extend(sparsemax(&OptaxSparsemaxLoss::new().reduction(r), z.view(), l.view()));
            }
            out
        })
    };
    let one = run(1);
    let three = run(3);
    for ((name, p, _), (_, q, _)) in one.iter().zip(&three) {
        assert_eq!(bits(p), bits(q), "{name}: 1 and 3 threads differ");
    }
}

/// Broadcast operands take the general path, and give what the fused path
/// gives on the operands broadcast by hand (each gradient summed back).
#[test]
fn broadcast_operands_take_the_general_path() {
    let (n, c) = (33, 21);
    let (x, y, v) = gaussian_inputs::<f64>(n, c, 8);
    // Gaussian: target (1, C) against input (N, C).
    let y1 = y.slice(s![0..1, ..]).to_owned();
    let yb = y1.broadcast((n, c)).unwrap().to_owned();
    for r in REDUCTIONS {
        let loss = GaussianNllLoss::new().reduction(r);
        let (v0, g0) = loss.forward_backward(x.view(), y1.view(), v.view()).unwrap();
        let (v1, g1) = loss.forward_backward(x.view(), yb.view(), v.view()).unwrap();
        close("gaussian broadcast value", &v0, &v1, 1e-13, 1e-300);
        close("gaussian broadcast grad input", &g0.input, &g1.input, 0.0, 0.0);
        close("gaussian broadcast grad target", &g0.target, &g1.target.sum_axis(Axis(0)).insert_axis(Axis(0)), 1e-12, 1e-12);
    }
    // Margin ranking: target (N, 1).
    let (a, b, t) = ranking_inputs::<f64>(n, c, 9);
    let t1 = t.slice(s![.., 0..1]).to_owned();
    let tb = t1.broadcast((n, c)).unwrap().to_owned();
    for r in REDUCTIONS {
        let loss = MarginRankingLoss::new().reduction(r).margin(0.3);
        let (v0, g0) = loss.forward_backward(a.view(), b.view(), t1.view()).unwrap();
        let (v1, g1) = loss.forward_backward(a.view(), b.view(), tb.view()).unwrap();
        close("ranking broadcast value", &v0, &v1, 1e-13, 1e-300);
        close("ranking broadcast grad input1", &g0.input1, &g1.input1, 0.0, 0.0);
        close("ranking broadcast grad target", &g0.target, &g1.target.sum_axis(Axis(1)).insert_axis(Axis(1)), 1e-12, 1e-12);
    }
    // Sparsemax: labels (N, 1).
    let (z, l) = sparsemax_inputs::<f64>(n, c, 10);
    let l1 = l.slice(s![.., 0..1]).to_owned();
    let lb = l1.broadcast((n, c)).unwrap().to_owned();
    let loss = OptaxSparsemaxLoss::new();
    let (v0, g0) = loss.forward_backward(z.view(), l1.view()).unwrap();
    let (v1, g1) = loss.forward_backward(z.view(), lb.view()).unwrap();
    close("sparsemax broadcast value", &v0, &v1, 0.0, 0.0);
    close("sparsemax broadcast grad", &g0.input, &g1.input, 0.0, 0.0);
}

/// PyTorch's checks come first and are the same error on either path.
#[test]
fn errors_are_unchanged() {
    let (x, y, mut v) = gaussian_inputs::<f32>(4, 6, 11);
    v[[2, 3]] = -1.0;
    let vs = strided(&v);
    let loss = GaussianNllLoss::new();
    let e0 = loss.forward(x.view(), y.view(), v.view()).unwrap_err().to_string();
    let e1 = loss.forward(x.view(), y.view(), vs.slice(s![.., ..;2])).unwrap_err().to_string();
    assert_eq!(e0, e1);
    assert!(e0.contains("var has negative entry") && e0.contains("[2, 3]"), "{e0}");
    let g = ArrayD::<f32>::zeros(IxDyn(&[3]));
    let v = v.mapv(f32::abs);
    let fused = GaussianNllLoss::new().reduction(Reduction::None).backward(x.view(), y.view(), v.view(), g.view()).unwrap_err();
    assert!(fused.to_string().contains("grad_output"), "{fused}");
    let e = MarginRankingLoss::new().forward(x.view(), x.view(), x.slice(s![0..1, 0..1])).map(|_| ());
    assert!(e.is_ok(), "a (1, 1) target broadcasts");
}
