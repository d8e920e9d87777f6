//! The per-row losses on the machinery's row sweep (`nll_loss`,
//! `multi_margin_loss`, `multilabel_soft_margin_loss`, Keras's
//! `categorical_hinge` and `categorical_crossentropy`, the softmax focal loss,
//! optax's `safe_softmax_cross_entropy`; Keras's `kl_divergence`,
//! `categorical_focal_crossentropy` and `sparse_categorical_crossentropy`,
//! optax's three KL divergences, PyTorch's `multilabel_margin_loss`, TensorFlow's `softmax_cross_entropy_with_logits`
//! and its sparse form)
//! and `kl_div` on the
//! element-wise sweep, against the general path (the same values in a strided
//! view, which the fused paths do not take), with their options; results
//! bit-identical whatever the thread count. (`fused_rows_alloc.rs` counts
//! their allocations.)
//!
//! Tolerances: NLL and the multi-class margin compute each element in `f64` by
//! the general path's formulas (only the order of the sums differs); the
//! multi-label soft margin runs BCE with logits' element-wise loop (in `f32`
//! lanes with its own exp and log1p where the CPU has AVX-512), so its `f32`
//! results are within a few ulp of `f32`; `kl_div`'s gradients are scaled after
//! the derivative (`s · (ln t + 1 − x)`, not `s ln t + s − s x`); Keras's
//! `categorical_crossentropy` takes a vectorised `ln` (within 1 ulp of libm's);
//! the softmax focal loss the cross-entropy kernel's exponentials (in `f32`
//! for `f32` logits, within 1 ulp); Keras's categorical cross entropy and
//! focal loss divide by a row's sum as a product with its reciprocal (1 ulp);
//! Keras's and optax's KL divergences and the focal loss take the vectorised `ln`.

use crate::common;

use common::Rng;
use losslab::keras::{CategoricalCrossentropy, CategoricalFocalCrossentropy, CategoricalHinge, KlDivergence as KerasKl, SparseCategoricalCrossentropy};
use losslab::optax::{GeneralizedKlDivergence, KlDivergence as OptaxKl, KlDivergenceWithLogTargets, SafeSoftmaxCrossEntropy};
use losslab::{Float, KlDivLoss, MultiMarginLoss, MultilabelMarginLoss, MultilabelSoftMarginLoss, NllLoss, Reduction, SoftmaxCrossEntropyWithLogits, SoftmaxFocalLoss, SparseSoftmaxCrossEntropyWithLogits};
use ndarray::{s, Array1, Array2, ArrayD, ArrayView1, ArrayView2, ArrayViewD};

/// `|a − b| ≤ rel·|b| + abs·max(max|b|, 1)`, NaN matching NaN.
fn close<T: Float>(what: &str, a: &ArrayD<T>, b: &ArrayD<T>, rel: f64, abs: f64) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    let scale = b.iter().filter(|v| v.is_finite()).fold(1.0f64, |m, v| m.max(v.to_wide().abs()));
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
        (4e-6, 1e-7)
    } else {
        (1e-12, 1e-15)
    }
}

/// A loss under test and its options.
#[derive(Clone)]
enum Loss {
    Nll(NllLoss),
    Margin(MultiMarginLoss),
    Multilabel(MultilabelSoftMarginLoss),
    Kl(KlDivLoss),
    Hinge(CategoricalHinge),
    Cce(CategoricalCrossentropy),
    Focal(SoftmaxFocalLoss),
    Safe(SafeSoftmaxCrossEntropy),
    KerasKl(KerasKl),
    KerasFocal(CategoricalFocalCrossentropy),
    Sparse(SparseCategoricalCrossentropy),
    OptaxKl(OptaxKl),
    OptaxGkl(GeneralizedKlDivergence),
    OptaxKlLog(KlDivergenceWithLogTargets),
    Tf(SoftmaxCrossEntropyWithLogits),
    TfSparse(SparseSoftmaxCrossEntropyWithLogits),
}

impl Loss {
    fn name(&self) -> String {
        match self {
            Loss::Nll(l) => format!("nll {:?} w={} ii={}", l.reduction, l.weight.is_some(), l.ignore_index),
            Loss::Margin(l) => format!("multi_margin {:?} p={} m={} w={}", l.reduction, l.p, l.margin, l.weight.is_some()),
            Loss::Multilabel(l) => format!("multilabel_soft_margin {:?}", l.reduction),
            Loss::Kl(l) => format!("kl_div {:?} log_target={}", l.reduction, l.log_target),
            Loss::Hinge(l) => format!("keras categorical_hinge {:?}", l.reduction),
            Loss::Cce(l) => format!("keras categorical_crossentropy {:?} ls={}", l.reduction, l.label_smoothing),
            Loss::Focal(l) => format!("softmax_focal {:?} gamma={} alpha={}", l.reduction, l.gamma, l.alpha.is_some()),
            Loss::Safe(l) => format!("optax safe_softmax_cross_entropy {:?}", l.reduction),
            Loss::KerasKl(l) => format!("keras kl_divergence {:?}", l.reduction),
            Loss::KerasFocal(l) => format!("keras categorical_focal_crossentropy {:?} gamma={} ls={}", l.reduction, l.gamma, l.label_smoothing),
            Loss::Sparse(l) => format!("keras sparse_categorical_crossentropy {:?} ignore={:?}", l.reduction, l.ignore_class),
            Loss::OptaxKl(l) => format!("optax kl_divergence {:?}", l.reduction),
            Loss::OptaxGkl(l) => format!("optax generalized_kl_divergence {:?}", l.reduction),
            Loss::OptaxKlLog(l) => format!("optax kl_divergence_with_log_targets {:?}", l.reduction),
            Loss::Tf(l) => format!("tf softmax_cross_entropy_with_logits {:?}", l.reduction),
            Loss::TfSparse(l) => format!("tf sparse_softmax_cross_entropy_with_logits {:?}", l.reduction),
        }
    }

    fn reduction(&self) -> Reduction {
        match self {
            Loss::Nll(l) => l.reduction,
            Loss::Margin(l) => l.reduction,
            Loss::Multilabel(l) => l.reduction,
            Loss::Kl(l) => l.reduction,
            Loss::Hinge(l) => l.reduction,
            Loss::Cce(l) => l.reduction,
            Loss::Focal(l) => l.reduction,
            Loss::Safe(l) => l.reduction,
            Loss::KerasKl(l) => l.reduction,
            Loss::KerasFocal(l) => l.reduction,
            Loss::Sparse(l) => l.reduction,
            Loss::OptaxKl(l) => l.reduction,
            Loss::OptaxGkl(l) => l.reduction,
            Loss::OptaxKlLog(l) => l.reduction,
            Loss::Tf(l) => l.reduction,
            Loss::TfSparse(l) => l.reduction,
        }
    }

    /// `[forward, forward_backward's value, its input gradient, its target
    /// gradient (where the loss has one), backward's input gradient (and target
    /// gradient) for the upstream gradient `up`]`.
    fn run<T: Float>(&self, x: ArrayView2<'_, T>, tf: ArrayView2<'_, T>, ti: ArrayView1<'_, i64>, up: ArrayViewD<'_, T>) -> Vec<ArrayD<T>> {
        let mut out = Vec::new();
        macro_rules! go {
            ($l:expr, $t:expr) => {{
                out.push($l.forward(x, $t).unwrap());
                let (v, g) = $l.forward_backward(x, $t).unwrap();
                out.push(v);
                out.push(g.input);
                out.extend(g.target);
                let g = $l.backward(x, $t, up).unwrap();
                out.push(g.input);
                out.extend(g.target);
            }};
        }
        match self {
            Loss::Nll(l) => go!(l, ti),
            Loss::Margin(l) => go!(l, ti),
            Loss::Multilabel(l) => go!(l, tf),
            Loss::Kl(l) => go!(l, tf),
            Loss::Hinge(l) => go!(l, tf),
            Loss::Cce(l) => go!(l, tf),
            Loss::Focal(l) => go!(l, ti),
            Loss::Safe(l) => go!(l, tf),
            Loss::KerasKl(l) => go!(l, tf),
            Loss::KerasFocal(l) => go!(l, tf),
            Loss::OptaxKl(l) => go!(l, tf),
            Loss::OptaxGkl(l) => go!(l, tf),
            Loss::OptaxKlLog(l) => go!(l, tf),
            Loss::Tf(l) => go!(l, tf),
            // Labels first; the probabilities (`tf`) as y_pred.
            Loss::TfSparse(l) => {
                out.push(l.forward(ti, x).unwrap());
                let (v, g) = l.forward_backward(ti, x).unwrap();
                out.push(v);
                out.push(g.input);
                out.push(l.backward(ti, x, up).unwrap().input);
            }
            Loss::Sparse(l) => {
                out.push(l.forward(ti, tf).unwrap());
                let (v, g) = l.forward_backward(ti, tf).unwrap();
                out.push(v);
                out.push(g.input);
                out.push(l.backward(ti, tf, up).unwrap().input);
            }
        }
        out
    }
}

/// Every loss with its options, under `r`, for `c` classes.
fn losses(r: Reduction, c: usize) -> Vec<Loss> {
    let w = Array1::from_shape_fn(c, |k| 0.25 + (k % 5) as f64 * 0.5);
    let mut v = vec![
        Loss::Nll(NllLoss::new().reduction(r)),
        Loss::Nll(NllLoss::new().reduction(r).weight(w.view()).ignore_index(1)),
        Loss::Margin(MultiMarginLoss::new().reduction(r)),
        Loss::Margin(MultiMarginLoss::new().reduction(r).p(2).margin(0.7).weight(w.view())),
        Loss::Multilabel(MultilabelSoftMarginLoss::new().reduction(r)),
        Loss::Kl(KlDivLoss::new().reduction(r)),
        Loss::Kl(KlDivLoss::new().reduction(r).log_target(true)),
        Loss::Hinge(CategoricalHinge::new().reduction(r)),
        Loss::Cce(CategoricalCrossentropy::new().reduction(r)),
        Loss::Cce(CategoricalCrossentropy::new().reduction(r).label_smoothing(0.1)),
        Loss::Focal(SoftmaxFocalLoss::new().reduction(r)),
        Loss::Focal(SoftmaxFocalLoss::new().reduction(r).gamma(0.5).alpha(w.view()).ignore_index(1)),
        Loss::Safe(SafeSoftmaxCrossEntropy::new().reduction(r)),
        Loss::KerasKl(KerasKl::new().reduction(r)),
        Loss::KerasFocal(CategoricalFocalCrossentropy::new().reduction(r)),
        Loss::KerasFocal(CategoricalFocalCrossentropy::new().reduction(r).gamma(0.5).alpha(0.7).label_smoothing(0.1)),
        Loss::Sparse(SparseCategoricalCrossentropy::new().reduction(r)),
        Loss::Sparse(SparseCategoricalCrossentropy::new().reduction(r).ignore_class(Some(1))),
        Loss::OptaxKl(OptaxKl::new().reduction(r)),
        Loss::OptaxGkl(GeneralizedKlDivergence::new().reduction(r)),
        Loss::OptaxKlLog(KlDivergenceWithLogTargets::new().reduction(r)),
        Loss::Tf(SoftmaxCrossEntropyWithLogits::new().reduction(r)),
        Loss::TfSparse(SparseSoftmaxCrossEntropyWithLogits::new().reduction(r)),
    ];
    if r == Reduction::Mean {
        v.push(Loss::Kl(KlDivLoss::new().reduction(Reduction::BatchMean)));
    }
    v
}

/// Inputs of `n × c`: values in `[-4, 4)` with some ties, probabilities (zeros
/// included) and class indices (some equal to 1, NLL's `ignore_index` here).
fn data<T: Float>(n: usize, c: usize, seed: u64) -> (Array2<T>, Array2<T>, Array1<i64>) {
    let mut rng = Rng::new(seed);
    let x = Array2::from_shape_fn((n, c), |_| T::from_wide(rng.range(-4.0, 4.0)));
    let tf = Array2::from_shape_fn((n, c), |(i, j)| T::from_wide(if (i + j) % 11 == 0 { 0.0 } else { rng.uniform() }));
    let ti = Array1::from_shape_fn(n, |i| if i % 7 == 3 && c > 1 { 1 } else { (rng.next_u64() % c as u64) as i64 });
    (x, tf, ti)
}

/// The same values, every other column of a wider array: not contiguous.
fn strided<T: Float>(a: &Array2<T>) -> Array2<T> {
    let mut b = Array2::from_elem((a.nrows(), 2 * a.ncols()), T::zero());
    b.slice_mut(s![.., ..;2]).assign(a);
    b
}

/// An upstream gradient of the result of `l` on `n × c` inputs: one per row
/// unreduced (one per element for `kl_div`), a scalar otherwise.
fn upstream<T: Float>(l: &Loss, n: usize, c: usize) -> ArrayD<T> {
    let shape = match (l.reduction(), l) {
        (Reduction::None, Loss::Kl(_)) => vec![n, c],
        (Reduction::None, _) => vec![n],
        _ => vec![],
    };
    let len: usize = shape.iter().product();
    ArrayD::from_shape_vec(ndarray::IxDyn(&shape), (0..len).map(|i| T::from_wide(0.5 + (i % 3) as f64)).collect()).unwrap()
}

fn agree<T: Float>(n: usize, c: usize, seed: u64) {
    let (rel, abs) = tol::<T>();
    let (x, tf, ti) = data::<T>(n, c, seed);
    let (xs, tfs) = (strided(&x), strided(&tf));
    for r in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        for l in losses(r, c) {
            let up = upstream::<T>(&l, n, c);
            let fused = l.run(x.view(), tf.view(), ti.view(), up.view());
            let general = l.run(xs.slice(s![.., ..;2]), tfs.slice(s![.., ..;2]), ti.view(), up.view());
            assert_eq!(fused.len(), general.len());
            for (k, (a, b)) in fused.iter().zip(&general).enumerate() {
                close(&format!("{} {} {n}x{c} output {k}", l.name(), T::NAME), a, b, rel, abs);
            }
        }
    }
}

#[test]
fn fused_rows_agree_with_the_general_path() {
    // One row, one class, rows shorter and longer than the 8 lanes of the row
    // sums, more rows than the 256 parts, a long row.
    for (k, &(n, c)) in [(1usize, 1usize), (1, 5), (3, 2), (17, 8), (9, 9), (40, 33), (600, 7), (3, 20_000)].iter().enumerate() {
        agree::<f64>(n, c, 10 + k as u64);
        agree::<f32>(n, c, 20 + k as u64);
    }
}

/// A 1-D input (one sample): NLL and the multi-class margin take it too.
#[test]
fn one_sample_inputs() {
    let (rel, abs) = tol::<f64>();
    let x = Array1::from_vec(vec![-1.5f64, -0.2, -3.0, -0.7]);
    let xs = strided(&x.clone().insert_axis(ndarray::Axis(0)));
    let xs = xs.slice(s![0, ..;2]);
    let t = ndarray::arr0(2i64);
    for r in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        let nll = NllLoss::new().reduction(r);
        close("nll 1-D", &nll.forward(x.view(), t.view()).unwrap(), &nll.forward(xs, t.view()).unwrap(), rel, abs);
        let g = nll.forward_backward(x.view(), t.view()).unwrap().1.input;
        close("nll 1-D grad", &g, &nll.forward_backward(xs, t.view()).unwrap().1.input, rel, abs);
        let mm = MultiMarginLoss::new().reduction(r).p(2);
        close("multi_margin 1-D", &mm.forward(x.view(), t.view()).unwrap(), &mm.forward(xs, t.view()).unwrap(), rel, abs);
        let g = mm.forward_backward(x.view(), t.view()).unwrap().1.input;
        close("multi_margin 1-D grad", &g, &mm.forward_backward(xs, t.view()).unwrap().1.input, rel, abs);
    }
}

/// Keras's sparse categorical cross entropy on rows whose sum is zero or not
/// finite: the row sweep runs the general path's formulas there (NaN where
/// Keras's one-hot product makes one).
#[test]
fn sparse_categorical_crossentropy_degenerate_rows() {
    let (rel, abs) = tol::<f64>();
    let x = ndarray::arr2(&[[0.0f64, 0.0, 0.0], [0.2, f64::INFINITY, 0.3], [0.1, f64::NAN, 0.5], [f64::MAX, f64::MAX, 0.1], [0.2, 0.3, 0.5]]);
    let xs = strided(&x);
    let y = Array1::from_vec(vec![1i64, 0, 2, 2, 1]);
    let up = Array1::from_vec(vec![0.5f64, 1.5, 2.0, 1.0, 3.0]).into_dyn();
    let l = SparseCategoricalCrossentropy::new();
    let xv = xs.slice(s![.., ..;2]);
    close("sparse degenerate value", &l.forward(y.view(), x.view()).unwrap(), &l.forward(y.view(), xv).unwrap(), rel, abs);
    let g = l.backward(y.view(), x.view(), up.view()).unwrap().input;
    close("sparse degenerate grad", &g, &l.backward(y.view(), xv, up.view()).unwrap().input, rel, abs);
}

/// PyTorch's `multilabel_margin_loss` on the row sweep against the general
/// path (a strided input), with targets ended by −1 (repeats included), every
/// reduction and an upstream gradient; the same bits on 1, 2 and 8 threads.
#[test]
fn multilabel_margin_loss_rows() {
    for (n, c, seed) in [(1usize, 1usize, 3u64), (5, 4, 4), (40, 33, 5), (3001, 16, 6)] {
        let mut rng = Rng::new(seed);
        let x = Array2::from_shape_fn((n, c), |_| rng.range(-2.0, 2.0));
        let t = Array2::from_shape_fn((n, c), |(i, j)| {
            let k = (i * 7 + j * 3) % (c + 1);
            if j >= (i % (c + 1)) { -1i64 } else if k == c { 0 } else { k as i64 }
        });
        let xs = strided(&x);
        let xv = xs.slice(s![.., ..;2]);
        let (rel, abs) = tol::<f64>();
        for r in [Reduction::Mean, Reduction::Sum, Reduction::None] {
            let l = MultilabelMarginLoss::new().reduction(r);
            let up = if r == Reduction::None { Array1::from_shape_fn(n, |i| 0.5 + (i % 3) as f64).into_dyn() } else { ndarray::arr0(1.5).into_dyn() };
            let what = format!("multilabel_margin {r:?} {n}x{c}");
            close(&what, &l.forward(x.view(), t.view()).unwrap(), &l.forward(xv, t.view()).unwrap(), rel, abs);
            close(&what, &l.backward(x.view(), t.view(), up.view()).unwrap().input, &l.backward(xv, t.view(), up.view()).unwrap().input, rel, abs);
            let x32 = x.mapv(|v| v as f32);
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| {
                    let (v, g) = l.forward_backward(x32.view(), t.view()).unwrap();
                    (v.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), g.input.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
                })
            };
            let one = run(1);
            for threads in [2, 8] {
                assert!(one == run(threads), "{what}: {threads} threads");
            }
        }
    }
}

/// Errors are the general path's: the fused paths hand every invalid input to it.
#[test]
fn errors_are_unchanged() {
    let x = Array2::<f32>::zeros((3, 4));
    let e = NllLoss::new().forward(x.view(), Array1::from_vec(vec![0i64, 4, 1]).view()).unwrap_err().to_string();
    assert!(e.contains("target") && e.contains('4'), "{e}");
    let e = NllLoss::new().forward(x.view(), Array1::from_vec(vec![0i64, 1]).view()).unwrap_err().to_string();
    assert!(e.contains("target"), "{e}");
    let e = MultiMarginLoss::new().forward(x.view(), Array1::from_vec(vec![0i64, 5, 1]).view()).unwrap_err().to_string();
    assert!(e.contains("target"), "{e}");
    let up = Array1::<f32>::zeros(2).into_dyn();
    let e = NllLoss::new().reduction(Reduction::None).backward(x.view(), Array1::from_vec(vec![0i64, 1, 2]).view(), up.view()).unwrap_err();
    assert!(e.to_string().contains("grad_output"), "{e}");
}

/// The same bits on pools of 1, 2 and 8 threads, with more rows than parts and
/// enough work to go parallel.
#[test]
fn bit_identical_whatever_the_thread_count() {
    let (n, c) = (3001, 41);
    let (x, tf, ti) = data::<f32>(n, c, 5);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut out = Vec::new();
            for r in [Reduction::Mean, Reduction::Sum, Reduction::None] {
                for l in losses(r, c) {
                    let up = upstream::<f32>(&l, n, c);
                    out.push((l.name(), l.run(x.view(), tf.view(), ti.view(), up.view())));
                }
            }
            out
        })
    };
    let one = run(1);
    let bits = |t: &ArrayD<f32>| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for threads in [2, 8] {
        let other = run(threads);
        for ((name, a), (_, b)) in one.iter().zip(&other) {
            for (k, (a, b)) in a.iter().zip(b).enumerate() {
                assert_eq!(bits(a), bits(b), "{name} output {k}, {threads} threads");
            }
        }
    }
}
