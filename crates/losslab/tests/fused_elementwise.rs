//! The fused element-wise losses (MSE, L1, Smooth L1, Huber, BCE with logits,
//! sigmoid focal) against the general path, and bit-identical whatever the
//! thread count.
//!
//! The general path runs on a strided view of the same values (every other
//! element of a longer array), which the fused path does not take.
//!
//! Tolerances: the regression losses compute each element by the general
//! path's own operations (in `f64`, in the AVX-512 loop too), so their values
//! and gradients must be bit-identical to it. BCE with logits on `f32` inputs
//! computes in `f32` lanes with its own exp and log1p where the CPU has
//! AVX-512: within 4 ulp of `f32` of the general path (`f64` rounded once;
//! in the subnormal range, within 4 of its steps). The sigmoid focal loss: in
//! `f64`, a vectorisable exp and log1p (within 2 ulp of libm's) and
//! torchvision's `1 − p_t`, which cancels: within `1e-10` relative (`f64`),
//! 2 ulp (`f32`, the `f64` result rounded once), against `max(|a|, |b|, 1e-3)`.
//! Gradients everywhere against `max(|a|, |b|, 1)`: `σ(x) − y` cancels.

use losslab::{BinaryCrossEntropyWithLogits, Float, Gradients, HuberLoss, L1Loss, MseLoss, Reduction, SigmoidFocalLoss, SmoothL1Loss};
use ndarray::{s, Array1, ArrayD, ArrayView1, ArrayViewD, ArrayViewMut1};

/// A xorshift generator from state `st` (odd): numbers in `[0, 1)`.
fn xorshift(mut st: u64) -> impl FnMut() -> f64 {
    move || {
        st ^= st << 13;
        st ^= st >> 7;
        st ^= st << 17;
        (st >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Values within `[-8, 8)` and some exact ties, zeros and large logits.
fn data<T: Float>(n: usize, seed: u64) -> (Array1<T>, Array1<T>) {
    let mut next = xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
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
        loss!("focal", SigmoidFocalLoss::new(), r),
        loss!("focal alpha=-1 gamma=0", SigmoidFocalLoss::new().alpha(-1.0).gamma(0.0), r),
        loss!("focal alpha=0.6 gamma=1.5", SigmoidFocalLoss::new().alpha(0.6).gamma(1.5), r),
        loss!("focal alpha=1 gamma=3", SigmoidFocalLoss::new().alpha(1.0).gamma(3.0), r),
        loss!("focal alpha=0 gamma=1", SigmoidFocalLoss::new().alpha(0.0).gamma(1.0), r),
    ]
}

/// Per-element and summed tolerances `(elem, sum, floor)` of a loss, for `T`.
fn tolerances<T: Float>(name: &str) -> (f64, f64, f64) {
    let f32 = std::mem::size_of::<T>() == 4;
    let eps = f32::EPSILON as f64;
    let sum = if f32 { 2.0 * eps } else { 1e-13 };
    if name.starts_with("bce") {
        // In the subnormal range of f32, within 4 of its steps.
        (if f32 { 4.0 * eps } else { 1e-13 }, if f32 { 4.0 * eps } else { 1e-13 }, if f32 { f32::MIN_POSITIVE as f64 } else { 0.0 })
    } else if name.starts_with("focal") {
        (if f32 { 2.0 * eps } else { 1e-10 }, if f32 { 2.0 * eps } else { 1e-10 }, 1e-3)
    } else {
        (0.0, sum, 0.0)
    }
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

/// Gradients: BCE's `σ(x) − y` cancels, so its error is relative to `σ(x)`, at most 1.
fn close_grad<T: Float>(what: &str, a: &ArrayD<T>, b: &ArrayD<T>, rel: f64) {
    close_to(what, a, b, rel, 1.0)
}

fn agree<T: Float>(n: usize, seed: u64) {
    let (x, y) = data::<T>(n, seed);
    let (xs, ys) = (strided(&x), strided(&y));
    let (xv, yv) = (xs.slice(s![..;2]), ys.slice(s![..;2]));
    assert!(n < 2 || xv.as_slice().is_none());
    for r in [Reduction::None, Reduction::Sum, Reduction::Mean, Reduction::BatchMean] {
        for l in losses::<T>(r) {
            let what = format!("{} {r:?} {} n={n}", l.name, std::any::type_name::<T>());
            // The per-element values and gradients (see the tolerances above);
            // sums differ in order.
            let (elem, sum_rel, floor) = tolerances::<T>(l.name);
            let sum = if r == Reduction::None { elem } else { sum_rel };
            close_to(&format!("{what} forward"), &(l.fwd)(x.view(), y.view()), &(l.fwd)(xv, yv), sum, floor);
            let (v, g) = (l.fb)(x.view(), y.view());
            let (v0, g0) = (l.fb)(xv, yv);
            close_to(&format!("{what} forward_backward value"), &v, &v0, sum, floor);
            close_grad(&format!("{what} grad input"), &g.input, &g0.input, elem);
            close_grad(&format!("{what} grad target"), g.target.as_ref().unwrap(), g0.target.as_ref().unwrap(), elem);
            // NaN before: `into` must write every element (the burn adapter reuses buffers).
            let mut gi = Array1::from_elem(n, T::from_wide(f64::NAN));
            let vi = (l.into)(x.view(), y.view(), gi.view_mut());
            close_to(&format!("{what} into value"), &vi, &v0, sum, floor);
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
            close_grad(&format!("{what} backward target"), b.target.as_ref().unwrap(), b0.target.as_ref().unwrap(), elem);
        }
    }
}

#[test]
fn fused_agrees_with_the_general_path_f32() {
    agree::<f32>(70_001, 7);
}

#[test]
fn fused_agrees_with_the_general_path_f64() {
    agree::<f64>(70_001, 7);
}

/// Lengths around the 16 lanes and the 8192-element chunk, and the empty and
/// one-element inputs.
#[test]
fn fused_agrees_on_every_kind_of_length() {
    for (k, n) in [0usize, 1, 2, 15, 16, 17, 31, 33, 8191, 8192, 8193, 16_400].into_iter().enumerate() {
        agree::<f32>(n, 100 + k as u64);
        agree::<f64>(n, 200 + k as u64);
    }
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

/// Infinite and NaN inputs give what the general path gives, in `f64` and in
/// `f32` (the AVX-512 loop), in full groups of 16 and in the last, partial one.
fn non_finite<T: Float>() {
    let big = if std::mem::size_of::<T>() == 4 { 3e38 } else { 1e308 };
    let xs = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 0.0, big, -big, 745.5, -745.5, 100.0, -100.0, 0.0, 1.0];
    let ys = [0.0, 0.0, 1.0, f64::NAN, 1.0, 0.0, 0.5, 0.5, 0.0, 1.0, f64::INFINITY, f64::NEG_INFINITY];
    let n = 3 * xs.len() + 5;
    let x = Array1::from_shape_fn(n, |i| T::from_wide(xs[i % xs.len()]));
    let y = Array1::from_shape_fn(n, |i| T::from_wide(ys[(i + i / xs.len()) % ys.len()]));
    let (xs, ys) = (strided(&x), strided(&y));
    for l in losses::<T>(Reduction::None) {
        let (elem, _, floor) = tolerances::<T>(l.name);
        let what = format!("{} {}", l.name, std::any::type_name::<T>());
        let (v, g) = (l.fb)(x.view(), y.view());
        let (v0, g0) = (l.fb)(xs.slice(s![..;2]), ys.slice(s![..;2]));
        close_to(&format!("{what} value"), &v, &v0, elem.max(1e-15), floor);
        close_grad(&format!("{what} grad"), &g.input, &g0.input, elem.max(1e-15));
        close_grad(&format!("{what} grad target"), g.target.as_ref().unwrap(), g0.target.as_ref().unwrap(), elem.max(1e-15));
    }
}

#[test]
fn non_finite_inputs_match_the_general_path() {
    non_finite::<f64>();
    non_finite::<f32>();
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

/// The element-wise sweep's `f32` lanes of PyTorch's soft margin loss and
/// Poisson NLL (`log_input`, no Stirling term) against the general path, on
/// the data above with non-finite values, on every kind of length: in `f32`
/// (the lanes where the CPU has AVX-512, computing as PyTorch's `float32`
/// kernels do, `−y x` rounded to `f32` first) within 8 ulp of the general
/// path's `f64` rounded once, plus the rounding of the exponent (`|x y| ·
/// 2⁻²⁴` relative), against the size of the terms (`|eˣ| + |y x|` for the
/// Poisson loss, whose two terms cancel); in `f64` (the portable loop) within
/// `1e-13` of the same.
fn lanes_agree<T: Float>(n: usize, seed: u64) {
    use losslab::{PoissonNllLoss, SoftMarginLoss};
    let f32 = std::mem::size_of::<T>() == 4;
    let (eps, rel) = if f32 { (f32::EPSILON as f64 / 2.0, 8.0 * f32::EPSILON as f64) } else { (0.0, 1e-13) };
    let (mut x, y) = data::<T>(n, seed);
    // Large logits are out of the Poisson loss's range; non-finite values in.
    let odd = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 0.0, 80.0, -80.0];
    for (k, i) in (3..n).step_by(41).enumerate() {
        x[i] = T::from_wide(odd[k % odd.len()]);
    }
    let mut y2 = y.clone();
    for (k, i) in (7..n).step_by(53).enumerate() {
        y2[i] = T::from_wide([f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -1.0][k % 4]);
    }
    let (xs, ys) = (strided(&x), strided(&y2));
    let (xv, yv) = (xs.slice(s![..;2]), ys.slice(s![..;2]));
    let (xw, yw) = (x.mapv(|v| v.to_wide()), y2.mapv(|v| v.to_wide()));
    // |a − b| within `tol(i) · max(|a|, |b|, scale(i))`.
    let check = |what: &str, a: &ArrayD<T>, b: &ArrayD<T>, tol: &dyn Fn(usize) -> f64, scale: &dyn Fn(usize) -> f64| {
        assert_eq!(a.shape(), b.shape(), "{what}: shapes");
        for (i, (&p, &q)) in a.iter().zip(b.iter()).enumerate() {
            let (p, q) = (p.to_wide(), q.to_wide());
            let ok = (p.is_nan() && q.is_nan()) || p == q || (p - q).abs() <= tol(i) * p.abs().max(q.abs()).max(scale(i));
            assert!(ok, "{what}[{i}]: fused {p} vs general {q} (x {}, y {})", xw[i.min(n - 1)], yw[i.min(n - 1)]);
        }
    };
    let arg = |i: usize| rel + (xw[i] * yw[i]).abs() * eps;
    let pois = |i: usize| xw[i].exp() + (xw[i] * yw[i]).abs();
    let finite_sum = |f: &dyn Fn(usize) -> f64| (0..n).map(f).filter(|v| v.is_finite()).sum::<f64>();
    for r in [Reduction::None, Reduction::Sum, Reduction::Mean] {
        let what = format!("{r:?} {} n={n}", std::any::type_name::<T>());
        let per = if r == Reduction::Mean { 1.0 / n.max(1) as f64 } else { 1.0 };
        let l = SoftMarginLoss::new().reduction(r);
        let (v, g) = l.forward_backward(x.view(), y2.view()).unwrap();
        let (v0, g0) = l.forward_backward(xv, yv).unwrap();
        if r == Reduction::None {
            check(&format!("soft margin {what} value"), &v, &v0, &arg, &|_| 0.0);
        } else {
            let total = per * finite_sum(&|i| (xw[i] * yw[i]).abs() + 1.0);
            check(&format!("soft margin {what} value"), &v, &v0, &|_| 2.0 * rel, &|_| total);
        }
        check(&format!("soft margin {what} grad"), &g.input, &g0.input, &|i| arg(i) * (1.0 + yw[i].abs()), &|i| per * yw[i].abs());
        let l = PoissonNllLoss::new().reduction(r);
        let (v, g) = l.forward_backward(x.view(), y2.view()).unwrap();
        let (v0, g0) = l.forward_backward(xv, yv).unwrap();
        if r == Reduction::None {
            check(&format!("poisson nll {what} value"), &v, &v0, &arg, &pois);
        } else {
            let total = per * finite_sum(&|i| pois(i) * (1.0 + xw[i].abs()));
            check(&format!("poisson nll {what} value"), &v, &v0, &|_| 2.0 * rel, &|_| total);
        }
        check(&format!("poisson nll {what} grad input"), &g.input, &g0.input, &|i| rel * (1.0 + xw[i].abs()), &|i| per * (xw[i].exp() + yw[i].abs()));
        check(&format!("poisson nll {what} grad target"), g.target.as_ref().unwrap(), g0.target.as_ref().unwrap(), &|_| rel, &|_| 0.0);
    }
}

#[test]
fn soft_margin_and_poisson_lanes_agree_with_the_general_path() {
    for (k, n) in [0usize, 1, 15, 16, 17, 33, 8193, 70_001].into_iter().enumerate() {
        lanes_agree::<f32>(n, 300 + k as u64);
        lanes_agree::<f64>(n, 400 + k as u64);
    }
}

/// PyTorch's `binary_cross_entropy` on the sweep's `f32` lanes (where the CPU
/// has AVX-512) against the general path (`f64`, rounded once), on
/// probabilities spread over `[0, 1]` with its edges: 0 and 1 (the −100
/// floor of the logarithms, the 1e-12 floor of the gradient's denominator,
/// infinite target gradients), ½ and its neighbours (where `−ln(x/(1 − x))`
/// cancels), ⅓ and its neighbours (where its two forms meet), tiny and
/// subnormal inputs. Each value and gradient within 4 ulp of `f32` of the
/// general path's (2 seen) (against `max(|a|, |b|)`, the smallest normal `f32` at
/// least); the reductions within the same of the sum of the terms' sizes.
/// In `f64` both paths run the same formulas: the same bits.
#[test]
fn bce_lanes_agree_with_the_general_path() {
    use losslab::BinaryCrossEntropy;
    let n = 20_011;
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    let third = 1.0f32 / 3.0;
    let edges = [
        0.0,
        1.0,
        0.5,
        f32::from_bits(0.5f32.to_bits() + 1),
        f32::from_bits(0.5f32.to_bits() - 1),
        f32::from_bits(0.5f32.to_bits() + 40),
        third,
        f32::from_bits(third.to_bits() + 1),
        f32::from_bits(third.to_bits() - 1),
        1e-30,
        1e-40,
        f32::EPSILON,
        1.0 - f32::EPSILON / 2.0,
        1e-13,
        1.0 - 1e-7,
    ];
    let mut x = Array1::from_shape_fn(n, |_| next() as f32);
    let mut y = Array1::from_shape_fn(n, |_| next() as f32);
    for i in (0..n).step_by(7) {
        x[i] = edges[(i / 7) % edges.len()];
    }
    for i in (3..n).step_by(11) {
        y[i] = [0.0, 1.0, 0.5, x[i]][(i / 11) % 4];
    }
    let (xs, ys) = (strided(&x), strided(&y));
    let (xv, yv) = (xs.slice(s![..;2]), ys.slice(s![..;2]));
    let tol = 4.0 * f32::EPSILON as f64;
    let check = |what: &str, a: &ArrayD<f32>, b: &ArrayD<f32>, scale: f64| {
        assert_eq!(a.shape(), b.shape(), "{what}: shapes");
        for (i, (&p, &q)) in a.iter().zip(b.iter()).enumerate() {
            let (p, q) = (f64::from(p), f64::from(q));
            let ok = p == q || (p - q).abs() <= tol * p.abs().max(q.abs()).max(scale).max(f32::MIN_POSITIVE as f64);
            assert!(ok, "{what}[{i}]: fused {p:e} vs general {q:e} (x {:e}, y {:e})", x[i.min(n - 1)], y[i.min(n - 1)]);
        }
    };
    for r in [Reduction::None, Reduction::Sum, Reduction::Mean] {
        let l = BinaryCrossEntropy::new().reduction(r);
        let (v, g) = l.forward_backward(x.view(), y.view()).unwrap();
        let (v0, g0) = l.forward_backward(xv, yv).unwrap();
        let total = if r == Reduction::None { 0.0 } else { v0.iter().map(|&t| f64::from(t).abs()).sum::<f64>() };
        check(&format!("bce {r:?} value"), &v, &v0, total);
        check(&format!("bce {r:?} grad input"), &g.input, &g0.input, 0.0);
        check(&format!("bce {r:?} grad target"), g.target.as_ref().unwrap(), g0.target.as_ref().unwrap(), 0.0);
        assert_eq!(l.forward(x.view(), y.view()).unwrap(), v, "{r:?}: forward");
        // f64: the same formulas on both paths.
        let (xd, yd) = (x.mapv(f64::from), y.mapv(f64::from));
        let (xds, yds) = (strided(&xd), strided(&yd));
        let (v, g) = l.forward_backward(xd.view(), yd.view()).unwrap();
        let (v0, g0) = l.forward_backward(xds.slice(s![..;2]), yds.slice(s![..;2])).unwrap();
        if r == Reduction::None {
            assert_eq!(v.mapv(f64::to_bits), v0.mapv(f64::to_bits), "f64 value");
        } else {
            assert!((v[[]] - v0[[]]).abs() <= 1e-13 * v0[[]].abs(), "f64 {r:?} value");
        }
        assert_eq!(g.input.mapv(f64::to_bits), g0.input.mapv(f64::to_bits), "f64 grad input");
        assert_eq!(g.target.unwrap().mapv(f64::to_bits), g0.target.unwrap().mapv(f64::to_bits), "f64 grad target");
    }
}
