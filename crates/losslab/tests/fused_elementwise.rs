//! The fused element-wise losses (MSE, L1, Smooth L1, Huber, BCE with logits)
//! against the general path, and bit-identical whatever the thread count.
//!
//! The general path runs on a strided view of the same values (every other
//! element of a longer array), which the fused path does not take.

use losslab::{BinaryCrossEntropyWithLogits, Float, Gradients, HuberLoss, L1Loss, MseLoss, Reduction, SmoothL1Loss};
use ndarray::{s, Array1, ArrayD, ArrayView1, ArrayViewD, ArrayViewMut1};

/// Values within `[-8, 8)` and some exact ties, zeros and large logits.
fn data<T: Float>(n: usize, seed: u64) -> (Array1<T>, Array1<T>) {
    let mut st = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        st ^= st << 13;
        st ^= st >> 7;
        st ^= st << 17;
        (st >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut x = Array1::from_shape_fn(n, |_| T::from_wide(next() * 16.0 - 8.0));
    let y = Array1::from_shape_fn(n, |_| T::from_wide(next()));
    for i in (0..n).step_by(97) {
        x[i] = y[i];
    }
    for i in (5..n).step_by(89) {
        x[i] = T::from_wide(if i % 2 == 0 { 60.0 } else { -800.0 });
    }
    (x, y)
}

/// A strided copy: the same values, not contiguous.
fn strided<T: Float>(a: &Array1<T>) -> Array1<T> {
    let mut b = Array1::from_elem(2 * a.len(), T::zero());
    b.slice_mut(s![..;2]).assign(a);
    b
}

type Fwd<'a, T> = Box<dyn Fn(ArrayView1<'_, T>, ArrayView1<'_, T>) -> ArrayD<T> + 'a>;
type Bwd<'a, T> = Box<dyn Fn(ArrayView1<'_, T>, ArrayView1<'_, T>, ArrayViewD<'_, T>) -> Gradients<T> + 'a>;
type Fb<'a, T> = Box<dyn Fn(ArrayView1<'_, T>, ArrayView1<'_, T>) -> (ArrayD<T>, Gradients<T>) + 'a>;
type Into<'a, T> = Box<dyn Fn(ArrayView1<'_, T>, ArrayView1<'_, T>, ArrayViewMut1<'_, T>) -> ArrayD<T> + 'a>;

struct Loss<'a, T> {
    name: &'static str,
    fwd: Fwd<'a, T>,
    bwd: Bwd<'a, T>,
    fb: Fb<'a, T>,
    into: Into<'a, T>,
}

macro_rules! loss {
    ($name:literal, $make:expr, $r:expr) => {{
        let l = $make.reduction($r);
        let (a, b, c, d) = (l.clone(), l.clone(), l.clone(), l);
        Loss::<T> {
            name: $name,
            fwd: Box::new(move |x, y| a.forward(x, y).unwrap()),
            bwd: Box::new(move |x, y, g| b.backward(x, y, g).unwrap()),
            fb: Box::new(move |x, y| c.forward_backward(x, y).unwrap()),
            into: Box::new(move |x, y, g| d.forward_backward_into(x, y, g).unwrap()),
        }
    }};
}

fn losses<'a, T: Float>(r: Reduction) -> Vec<Loss<'a, T>> {
    vec![
        loss!("mse", MseLoss::new(), r),
        loss!("l1", L1Loss::new(), r),
        loss!("smooth_l1", SmoothL1Loss::new().beta(0.7), r),
        loss!("smooth_l1 beta=0", SmoothL1Loss::new().beta(0.0), r),
        loss!("huber", HuberLoss::new().delta(1.3), r),
        loss!("bce_with_logits", BinaryCrossEntropyWithLogits::new(), r),
    ]
}

/// `|a − b| ≤ rel · max(|a|, |b|, floor)`, NaN with NaN and equal infinities agreeing.
fn close_to<T: Float>(what: &str, a: &ArrayD<T>, b: &ArrayD<T>, rel: f64, floor: f64) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    for (i, (&p, &q)) in a.iter().zip(b.iter()).enumerate() {
        let (p, q) = (p.to_wide(), q.to_wide());
        let ok = (p.is_nan() && q.is_nan()) || p == q || (p - q).abs() <= rel * p.abs().max(q.abs()).max(floor);
        assert!(ok, "{what}[{i}]: fused {p} vs general {q}");
    }
}

fn close<T: Float>(what: &str, a: &ArrayD<T>, b: &ArrayD<T>, rel: f64) {
    close_to(what, a, b, rel, 0.0)
}

/// Gradients: BCE's `σ(x) − y` cancels, so its error is relative to `σ(x)`, at most 1.
fn close_grad<T: Float>(what: &str, a: &ArrayD<T>, b: &ArrayD<T>, rel: f64) {
    close_to(what, a, b, rel, 1.0)
}

fn agree<T: Float>(rel: f64) {
    let n = 70_001;
    let (x, y) = data::<T>(n, 7);
    let (xs, ys) = (strided(&x), strided(&y));
    let (xv, yv) = (xs.slice(s![..;2]), ys.slice(s![..;2]));
    assert!(xv.as_slice().is_none());
    for r in [Reduction::None, Reduction::Sum, Reduction::Mean, Reduction::BatchMean] {
        for l in losses::<T>(r) {
            let what = format!("{} {r:?} {}", l.name, std::any::type_name::<T>());
            // The per-element values and gradients use the same formulas (BCE:
            // its own exp and log1p, within an ulp or two); sums differ in order.
            let elem = if l.name.starts_with("bce") { rel } else { 0.0 };
            let sum = if r == Reduction::None { elem } else { rel };
            close(&format!("{what} forward"), &(l.fwd)(x.view(), y.view()), &(l.fwd)(xv, yv), sum);
            let (v, g) = (l.fb)(x.view(), y.view());
            let (v0, g0) = (l.fb)(xv, yv);
            close(&format!("{what} forward_backward value"), &v, &v0, sum);
            close_grad(&format!("{what} grad input"), &g.input, &g0.input, elem);
            close(&format!("{what} grad target"), g.target.as_ref().unwrap(), g0.target.as_ref().unwrap(), elem);
            let mut gi = Array1::from_elem(n, T::zero());
            let vi = (l.into)(x.view(), y.view(), gi.view_mut());
            close(&format!("{what} into value"), &vi, &v0, sum);
            close_grad(&format!("{what} into grad"), &gi.into_dyn(), &g0.input, elem);
            // An upstream gradient: per element when unreduced, a scalar else.
            let up = if r == Reduction::None {
                Array1::from_shape_fn(n, |i| T::from_wide((i % 7) as f64 - 3.0)).into_dyn()
            } else {
                ArrayD::from_elem(ndarray::IxDyn(&[]), T::from_wide(-2.5))
            };
            let b = (l.bwd)(x.view(), y.view(), up.view());
            let b0 = (l.bwd)(xv, yv, up.view());
            close_grad(&format!("{what} backward input"), &b.input, &b0.input, elem);
            close(&format!("{what} backward target"), b.target.as_ref().unwrap(), b0.target.as_ref().unwrap(), elem);
        }
    }
}

#[test]
fn fused_agrees_with_the_general_path_f32() {
    agree::<f32>(2.0 * f32::EPSILON as f64);
}

#[test]
fn fused_agrees_with_the_general_path_f64() {
    agree::<f64>(1e-13);
}

/// The same bits on pools of 1, 2 and 8 threads, over more chunks than the
/// kernel has parts (so that each part sums several chunks).
#[test]
fn bit_identical_whatever_the_thread_count() {
    let n = 2_600_003;
    let (x, y) = data::<f32>(n, 11);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut out = Vec::new();
            for r in [Reduction::Mean, Reduction::Sum, Reduction::None] {
                for l in losses::<f32>(r) {
                    let (v, g) = (l.fb)(x.view(), y.view());
                    out.push((l.name, (l.fwd)(x.view(), y.view()), v, g.input, g.target.unwrap()));
                }
            }
            out
        })
    };
    let one = run(1);
    for threads in [2, 8] {
        let other = run(threads);
        for (a, b) in one.iter().zip(&other) {
            let bits = |t: &ArrayD<f32>| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a.1), bits(&b.1), "{} forward, {threads} threads", a.0);
            assert_eq!(bits(&a.2), bits(&b.2), "{} forward_backward value, {threads} threads", a.0);
            assert_eq!(bits(&a.3), bits(&b.3), "{} grad input, {threads} threads", a.0);
            assert_eq!(bits(&a.4), bits(&b.4), "{} grad target, {threads} threads", a.0);
        }
    }
}

/// Infinite and NaN inputs give what the general path gives.
#[test]
fn non_finite_inputs_match_the_general_path() {
    let x = Array1::from(vec![f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 0.0, 1e308, -1e308, 745.5, -745.5]);
    let y = Array1::from(vec![0.0, 0.0, 1.0, f64::NAN, 1.0, 0.0, 0.5, 0.5]);
    let (xs, ys) = (strided(&x), strided(&y));
    for l in losses::<f64>(Reduction::None) {
        let (v, g) = (l.fb)(x.view(), y.view());
        let (v0, g0) = (l.fb)(xs.slice(s![..;2]), ys.slice(s![..;2]));
        close(&format!("{} value", l.name), &v, &v0, 1e-15);
        close_grad(&format!("{} grad", l.name), &g.input, &g0.input, 1e-15);
    }
}

/// A shape mismatch is the same error on both paths.
#[test]
fn shape_errors_are_unchanged() {
    let (x, y) = (Array1::<f32>::zeros(3), Array1::<f32>::zeros(4));
    let e = MseLoss::new().forward(x.view(), y.view()).unwrap_err().to_string();
    assert!(e.contains("target"), "{e}");
    let mut g = Array1::<f32>::zeros(4);
    let e = MseLoss::new().forward_backward_into(x.view(), x.view(), g.view_mut()).unwrap_err().to_string();
    assert!(e.contains("grad"), "{e}");
    let e = BinaryCrossEntropyWithLogits::new().forward_backward_into(x.view(), x.view(), g.view_mut()).unwrap_err().to_string();
    assert!(e.contains("grad"), "{e}");
}
