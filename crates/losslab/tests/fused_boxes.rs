//! torchvision's box IoU losses (generalized, distance, complete) on their
//! fused per-box sweep against the general path, against the `f64` truth,
//! and bit-identical whatever the thread count.
//!
//! The general path runs on strided views of the same boxes (every other box
//! of a longer array) and on a broadcast `boxes2`, which the fused sweep does
//! not take. Each pair of boxes is computed by the same function on both paths,
//! so the unreduced values and the gradients are bit-identical; sums differ in
//! order only (`1e-13` relative in `f64`, one rounding to `f32`).

use losslab::{CompleteBoxIouLoss, DistanceBoxIouLoss, Float, GeneralizedBoxIouLoss, Gradients, Reduction};
use ndarray::{s, Array2, ArrayD, ArrayView2, IxDyn};

/// `n` boxes `(x1, y1, x2, y2)` from a stream of uniforms, each pair of the
/// two arrays a case of its own now and then: identical boxes, zero width,
/// zero height, zero area, far apart, touching edges, shared edges (ties in
/// `max`/`min`), inverted boxes and NaN coordinates.
fn boxes<T: Float>(n: usize, seed: u64) -> (Array2<T>, Array2<T>) {
    let mut st = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut u = move || {
        st ^= st << 13;
        st ^= st >> 7;
        st ^= st << 17;
        (st >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut one = || {
        let (x, y) = (u() * 10.0, u() * 10.0);
        [x, y, x + u() * 4.0, y + u() * 4.0]
    };
    let mut a = Array2::<f64>::zeros((n, 4));
    let mut b = Array2::<f64>::zeros((n, 4));
    for k in 0..n {
        let (mut p, mut q) = (one(), one());
        match k % 23 {
            0 => q = p,
            1 => p[2] = p[0],
            2 => q[3] = q[1],
            3 => p = [p[0], p[1], p[0], p[1]],
            4 => q = [q[0] + 50.0, q[1] + 50.0, q[2] + 50.0, q[3] + 50.0],
            5 => (q[0], q[1]) = (p[2], p[1]),
            6 => (q[0], q[3]) = (p[0], p[3]),
            7 => (p[0], p[2]) = (p[2], p[0]),
            8 if k % 2 == 0 => q[1] = f64::NAN,
            _ => {}
        }
        a.row_mut(k).assign(&ndarray::arr1(&p));
        b.row_mut(k).assign(&ndarray::arr1(&q));
    }
    (a.mapv(T::from_wide), b.mapv(T::from_wide))
}

/// A strided copy: the same boxes in every other row of a longer array.
fn strided<T: Clone + Default>(a: &Array2<T>) -> Array2<T> {
    let mut b = Array2::from_elem((2 * a.nrows(), 4), T::default());
    b.slice_mut(s![..;2, ..]).assign(a);
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

/// Equal where `exact` (unreduced values, gradients: the same operations on
/// both paths; a NaN's sign aside), else close as a sum in another order.
fn agree<T: Float>(what: &str, a: &ArrayD<T>, b: &ArrayD<T>, exact: bool) {
    if exact {
        assert_eq!(a.shape(), b.shape(), "{what}: shapes");
        for (i, (&p, &q)) in a.iter().zip(b.iter()).enumerate() {
            let (p, q) = (p.to_wide(), q.to_wide());
            assert!(p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()), "{what}[{i}]: {p:e} vs {q:e}, not equal");
        }
    } else {
        let rel = if std::mem::size_of::<T>() == 4 { f64::from(f32::EPSILON) } else { 1e-13 };
        close(what, a, b, rel, 1e-300);
    }
}

/// The upstream gradient of a result of `n` losses: varied per box, a scalar when reduced.
fn upstream<T: Float>(r: Reduction, n: usize) -> ArrayD<T> {
    if r == Reduction::None {
        ArrayD::from_shape_fn(IxDyn(&[n]), |i| T::from_wide((i[0] % 7) as f64 - 3.0))
    } else {
        ArrayD::from_elem(IxDyn(&[]), T::from_wide(-2.5))
    }
}

/// The three losses.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Giou,
    Diou,
    Ciou,
}
const KINDS: [Kind; 3] = [Kind::Giou, Kind::Diou, Kind::Ciou];

const REDUCTIONS: [Reduction; 4] = [Reduction::None, Reduction::Mean, Reduction::Sum, Reduction::BatchMean];

/// One loss's outputs on its boxes: forward, forward_backward's value and
/// gradients, backward's gradients with [`upstream`] (and whether each is
/// per box, so exact between paths).
type Outputs<T> = Vec<(String, ArrayD<T>, bool)>;

fn outputs<T: Float>(kind: Kind, r: Reduction, eps: f64, a: ArrayView2<'_, T>, b: ArrayView2<'_, T>) -> Outputs<T> {
    let g = upstream::<T>(r, a.nrows());
    macro_rules! run {
        ($ty:ident) => {{
            let l = $ty::new().reduction(r).eps(eps);
            (l.forward(a, b).unwrap(), l.forward_backward(a, b).unwrap(), l.backward(a, b, g.view()).unwrap())
        }};
    }
    let (f, (v, fb), bw): (ArrayD<T>, (ArrayD<T>, Gradients<T>), Gradients<T>) = match kind {
        Kind::Giou => run!(GeneralizedBoxIouLoss),
        Kind::Diou => run!(DistanceBoxIouLoss),
        Kind::Ciou => run!(CompleteBoxIouLoss),
    };
    let unreduced = r == Reduction::None;
    vec![
        ("forward".into(), f, unreduced),
        ("value".into(), v, unreduced),
        ("grad boxes1".into(), fb.input, true),
        ("grad boxes2".into(), fb.target.expect("boxes2's gradient"), true),
        ("backward boxes1".into(), bw.input, true),
        ("backward boxes2".into(), bw.target.expect("boxes2's gradient"), true),
    ]
}

fn compare<T: Float>(what: &str, fused: Outputs<T>, general: Outputs<T>) {
    for ((name, a, exact), (_, b, _)) in fused.into_iter().zip(general) {
        agree(&format!("{what} {name}"), &a, &b, exact);
    }
}

fn agrees<T: Float>(n: usize, seed: u64) {
    let (a, b) = boxes::<T>(n, seed);
    let (as_, bs) = (strided(&a), strided(&b));
    let (av, bv) = (as_.slice(s![..;2, ..]), bs.slice(s![..;2, ..]));
    for kind in KINDS {
        for r in REDUCTIONS {
            for eps in [1e-7, 0.5] {
                let what = format!("{kind:?} {r:?} eps={eps} {} n={n}", T::NAME);
                compare(&what, outputs(kind, r, eps, a.view(), b.view()), outputs(kind, r, eps, av, bv));
            }
        }
    }
}

/// Every case of [`boxes`] (degenerate boxes included), every reduction, one
/// box to more than a chunk's lanes and a partial group of lanes.
#[test]
fn fused_agrees_with_the_general_path() {
    for (k, n) in [1, 3, 16, 17, 100, 1001].into_iter().enumerate() {
        agrees::<f32>(n, 10 + k as u64);
        agrees::<f64>(n, 20 + k as u64);
    }
}

/// The degenerate cases give what torchvision gives: identical boxes a loss
/// of about 0, touching and far-apart boxes no intersection, and CIoU's
/// zero-height box a NaN gradient (`w / h`), all on the fused path.
#[test]
fn degenerate_boxes_on_the_fused_path() {
    let a = ndarray::arr2(&[[0.0f64, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 0.0]]);
    let b = ndarray::arr2(&[[0.0f64, 0.0, 2.0, 2.0], [1.0, 0.0, 2.0, 1.0], [5.0, 5.0, 6.0, 6.0], [0.0, 0.0, 2.0, 1.0]]);
    let giou = GeneralizedBoxIouLoss::new().forward(a.view(), b.view()).unwrap();
    assert!(giou[[0]].abs() < 1e-7);
    // touching unit squares: I = 0, U = 2, C = 2
    assert_eq!(giou[[1]], 1.0);
    // far apart: I = 0, U = 2, C = 36
    assert!((giou[[2]] - (1.0 + 34.0 / (36.0 + 1e-7))).abs() < 1e-15);
    let (c, g) = CompleteBoxIouLoss::new().forward_backward(a.view(), b.view()).unwrap();
    assert!(c[[0]].abs() < 1e-7 && c[[3]].is_finite());
    let row = |i: usize| g.input.slice(s![i, ..]).to_vec();
    assert!(row(3).iter().any(|v| v.is_nan()));
    assert!(row(0).iter().chain(&row(1)).all(|v| v.is_finite()));
}

/// `f32` boxes on the fused sweep against the `f64` truth (the same boxes
/// widened): the golden suite's `f32` tolerance. Boxes away from the
/// degenerate cases, whose gradients are not smooth in the coordinates.
#[test]
fn f32_is_within_tolerance_of_the_f64_truth() {
    let n = 1000;
    let (a, b) = boxes::<f32>(n, 3);
    let keep: Vec<usize> = (0..n).filter(|k| k % 23 > 8).collect();
    let (a, b) = (a.select(ndarray::Axis(0), &keep), b.select(ndarray::Axis(0), &keep));
    let wide = |x: &Array2<f32>| x.mapv(f64::from);
    for kind in KINDS {
        for r in REDUCTIONS {
            let got = outputs(kind, r, 1e-7, a.view(), b.view());
            let want = outputs(kind, r, 1e-7, wide(&a).view(), wide(&b).view());
            for ((name, p, _), (_, q, _)) in got.into_iter().zip(want) {
                let p = p.mapv(f64::from);
                let scale = q.iter().filter(|v| v.is_finite()).fold(f64::MIN_POSITIVE, |m, v| m.max(v.abs()));
                close(&format!("{kind:?} {r:?} {name}"), &p, &q, 1e-6, 1e-6 * scale);
            }
        }
    }
}

/// The same bits on pools of 1 and 3 threads, over more chunks than one.
#[test]
fn bit_identical_whatever_the_thread_count() {
    let n = 70_001;
    let (a, b) = boxes::<f32>(n, 5);
    let (a64, b64) = boxes::<f64>(n, 6);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut out32 = Vec::new();
            let mut out64 = Vec::new();
            for kind in KINDS {
                for r in [Reduction::None, Reduction::Mean, Reduction::Sum] {
                    out32.extend(outputs(kind, r, 1e-7, a.view(), b.view()));
                    out64.extend(outputs(kind, r, 1e-7, a64.view(), b64.view()));
                }
            }
            (out32, out64)
        })
    };
    let (one32, one64) = run(1);
    let (three32, three64) = run(3);
    for ((name, p, _), (_, q, _)) in one32.iter().zip(&three32) {
        assert_eq!(bits(p), bits(q), "f32 {name}: 1 and 3 threads differ");
    }
    for ((name, p, _), (_, q, _)) in one64.iter().zip(&three64) {
        assert_eq!(bits(p), bits(q), "f64 {name}: 1 and 3 threads differ");
    }
}

/// A broadcast `boxes2` (one box against many) takes the general path, and
/// gives what the fused sweep gives on the box repeated by hand (its gradient
/// summed back); no boxes give torchvision's empty mean, 0.
#[test]
fn broadcast_and_empty_boxes_take_the_general_path() {
    let (a, b) = boxes::<f64>(300, 7);
    let one = b.slice(s![9..10, ..]).to_owned();
    let rep = Array2::from_shape_fn((300, 4), |(_, c)| one[[0, c]]);
    for kind in KINDS {
        for r in REDUCTIONS {
            let what = format!("{kind:?} {r:?} broadcast");
            let bc = outputs(kind, r, 1e-7, a.view(), one.view());
            let full = outputs(kind, r, 1e-7, a.view(), rep.view());
            for ((name, p, exact), (_, q, _)) in bc.into_iter().zip(full) {
                if name.ends_with("boxes2") {
                    let q = q.sum_axis(ndarray::Axis(0)).insert_axis(ndarray::Axis(0));
                    close(&format!("{what} {name}"), &p, &q, 1e-12, 1e-12);
                } else {
                    agree(&format!("{what} {name}"), &p, &q, exact);
                }
            }
        }
    }
    let e = Array2::<f64>::zeros((0, 4));
    for kind in KINDS {
        let o = outputs(kind, Reduction::Mean, 1e-7, e.view(), e.view());
        assert_eq!(o[0].1[[]], 0.0, "{kind:?}: the empty mean");
        assert_eq!(o[2].1.shape(), &[0, 4]);
    }
}
