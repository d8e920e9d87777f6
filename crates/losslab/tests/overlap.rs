//! The overlap losses on the machinery's overlap sweep (Keras's `dice` and
//! `tversky`, optax's `dice_loss`, `binary_dice_loss` and
//! `multiclass_generalized_dice_loss`, losslab's `jaccard_loss`) against the
//! general path (the same values in a strided view, which the sweep does not
//! take) and, for `f32`, against the general path in `f64`; with their
//! options, NaN inputs and errors; results bit-identical whatever the thread
//! count.
//!
//! Tolerances: the sweep sums in lanes (another order than the general path's
//! compensated sums), writes each gradient as `a·t + b` from its group's sums
//! (the general path's formulas multiplied out) and takes the vectorised
//! `exp` (within 2 ulp of libm's) for the sigmoid and the softmax.

use crate::common;

use common::Rng;
use losslab::keras::{Dice, Tversky};
use losslab::{BinaryDiceLoss, DiceLoss, Float, Gradients, JaccardLoss, MulticlassGeneralizedDiceLoss, Reduction};
use ndarray::{Array1, ArrayD, ArrayViewD, Axis, IxDyn};

/// `|a − b| ≤ rel·|b| + abs·max(max|b|, 1)`, NaN matching NaN.
fn close<T: Float>(what: &str, a: &ArrayD<T>, b: &ArrayD<T>, rel: f64, abs: f64) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    let scale = b.iter().filter(|v| v.is_finite()).fold(1.0f64, |m, v| m.max(v.to_wide().abs()));
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        let (x, y) = (x.to_wide(), y.to_wide());
        let ok = if y.is_nan() { x.is_nan() } else { (x - y).abs() <= rel * y.abs() + abs * scale };
        assert!(ok, "{what}[{i}]: sweep {x:e}, general {y:e} (scale {scale:e})");
    }
}

/// A loss under test: each takes its two tensors in its own API's order.
#[derive(Clone, Debug)]
enum Loss {
    Dice(Dice),
    Tversky(Tversky),
    Optax(DiceLoss),
    Binary(BinaryDiceLoss),
    Generalized(MulticlassGeneralizedDiceLoss),
    Jaccard(JaccardLoss),
}

/// What the tensors hold: labels in {0, 1}, probabilities in (0, 1), logits,
/// rows of probabilities along the last axis, or all ones.
#[derive(Clone, Copy, Debug)]
enum Fill {
    Binary,
    Unit,
    Logits,
    /// Logits in (−1000, 1000): pixels far below their block's maximum.
    Wide,
    Simplex,
    Ones,
}

impl Loss {
    /// `[forward, forward_backward's value and two gradients, backward's two
    /// gradients for the upstream gradient `up`]`; `up` `None`: ones.
    fn run<T: Float>(&self, a: ArrayViewD<'_, T>, b: ArrayViewD<'_, T>, up: Option<ArrayViewD<'_, T>>) -> Vec<ArrayD<T>> {
        macro_rules! go {
            ($l:expr) => {{
                let f = $l.forward(a.view(), b.view()).unwrap();
                let (v, g) = $l.forward_backward(a.view(), b.view()).unwrap();
                let ones = ArrayD::from_elem(f.shape(), T::one());
                let up = up.unwrap_or(ones.view());
                let gb: Gradients<T> = $l.backward(a.view(), b.view(), up).unwrap();
                vec![f, v, g.input, g.target.unwrap(), gb.input, gb.target.unwrap()]
            }};
        }
        match self {
            Loss::Dice(l) => go!(l),
            Loss::Tversky(l) => go!(l),
            Loss::Optax(l) => go!(l),
            Loss::Binary(l) => go!(l),
            Loss::Generalized(l) => go!(l),
            Loss::Jaccard(l) => go!(l),
        }
    }

    /// The result's shape for tensors `a`, `b`.
    fn out_shape<T: Float>(&self, a: ArrayViewD<'_, T>, b: ArrayViewD<'_, T>) -> Vec<usize> {
        match self {
            Loss::Dice(l) => l.forward(a, b),
            Loss::Tversky(l) => l.forward(a, b),
            Loss::Optax(l) => l.forward(a, b),
            Loss::Binary(l) => l.forward(a, b),
            Loss::Generalized(l) => l.forward(a, b),
            Loss::Jaccard(l) => l.forward(a, b),
        }
        .unwrap()
        .shape()
        .to_vec()
    }

    /// What its two tensors hold, in its argument order (`probabilities`:
    /// optax's predictions without the softmax).
    fn fills(&self) -> (Fill, Fill) {
        match self {
            Loss::Dice(_) | Loss::Tversky(_) => (Fill::Binary, Fill::Unit),
            Loss::Optax(l) if !l.apply_softmax => (Fill::Simplex, Fill::Binary),
            Loss::Optax(l) if l.smooth == 2.0 => (Fill::Wide, Fill::Binary),
            Loss::Generalized(l) if !l.apply_softmax => (Fill::Simplex, Fill::Binary),
            Loss::Binary(l) if !l.apply_sigmoid => (Fill::Ones, Fill::Binary),
            Loss::Optax(_) | Loss::Binary(_) | Loss::Generalized(_) => (Fill::Logits, Fill::Binary),
            Loss::Jaccard(_) => (Fill::Unit, Fill::Binary),
        }
    }
}

fn fill(rng: &mut Rng, shape: &[usize], f: Fill) -> ArrayD<f64> {
    match f {
        Fill::Binary => ArrayD::from_shape_fn(IxDyn(shape), |_| f64::from(u8::from(rng.uniform() < 0.4))),
        Fill::Unit => rng.array(shape, 0.0, 1.0),
        Fill::Logits => rng.array(shape, -4.0, 4.0),
        Fill::Wide => rng.array(shape, -1000.0, 1000.0),
        Fill::Simplex => rng.simplex(shape),
        Fill::Ones => ArrayD::from_elem(IxDyn(shape), 1.0),
    }
}

/// `x`'s values twice along a new last axis: its first index is a strided
/// view of `x`, the general path's input.
fn strided<T: Float>(x: &ArrayD<T>) -> ArrayD<T> {
    let mut shape = x.shape().to_vec();
    shape.push(2);
    let flat: Vec<T> = x.iter().flat_map(|&v| [v, v]).collect();
    ArrayD::from_shape_vec(IxDyn(&shape), flat).unwrap()
}

/// The losses under test, with their options, on the shapes they take.
fn cases() -> Vec<(Loss, Vec<usize>)> {
    let mut v = vec![];
    for r in Reduction::ALL {
        v.push((Loss::Dice(Dice::new().reduction(r)), vec![6, 50]));
        v.push((Loss::Dice(Dice::new().reduction(r).axis(Some(vec![1]))), vec![6, 50]));
        v.push((Loss::Tversky(Tversky::new().alpha(0.3).beta(0.8).reduction(r).axis(Some(vec![-1]))), vec![7, 33]));
        v.push((Loss::Jaccard(JaccardLoss::new().reduction(r)), vec![4, 300]));
        v.push((Loss::Optax(DiceLoss::new().reduction(r)), vec![3, 40, 5]));
        v.push((Loss::Binary(BinaryDiceLoss::new().reduction(r)), vec![4, 300]));
        v.push((Loss::Generalized(MulticlassGeneralizedDiceLoss::new().reduction(r)), vec![3, 40, 5]));
    }
    // Keras: every axis (one scalar), the leading axis (groups interleaved), a run in the middle.
    v.push((Loss::Dice(Dice::new().axis(Some(vec![0]))), vec![9, 50]));
    v.push((Loss::Tversky(Tversky::new()), vec![300, 250]));
    v.push((Loss::Tversky(Tversky::new().alpha(0.7).beta(0.2).axis(Some(vec![1, 2]))), vec![3, 4, 5, 6]));
    v.push((Loss::Dice(Dice::new().axis(Some(vec![])).reduction(Reduction::Sum)), vec![3, 4]));
    // optax: class reductions, weights, the background, the Tversky weights, axes, one channel, no summed axis.
    for cr in [Reduction::None, Reduction::Sum, Reduction::Mean] {
        v.push((Loss::Optax(DiceLoss::new().class_reduction(cr).ignore_background(true)), vec![2, 3, 7, 4]));
    }
    let w = Array1::from_vec(vec![0.5, 2.0, 1.0, 0.25, 3.0]);
    v.push((Loss::Optax(DiceLoss::new().class_weights(w.view()).alpha(0.2).beta(0.9).smooth(0.5)), vec![3, 40, 5]));
    v.push((Loss::Optax(DiceLoss::new().apply_softmax(false)), vec![3, 40, 5]));
    // Logits far apart (smooth = 2 marks them): pixels shifted by their own maximum.
    v.push((Loss::Optax(DiceLoss::new().smooth(2.0)), vec![3, 40, 5]));
    v.push((Loss::Optax(DiceLoss::new().axis(Some(vec![0, 1]))), vec![3, 40, 5]));
    v.push((Loss::Optax(DiceLoss::new().axis(Some(vec![1])).class_reduction(Reduction::None)), vec![2, 9, 4, 3]));
    v.push((Loss::Optax(DiceLoss::new()), vec![5, 60, 1]));
    v.push((Loss::Optax(DiceLoss::new()), vec![7, 5]));
    v.push((Loss::Optax(DiceLoss::new()), vec![2, 20_000, 3]));
    v.push((Loss::Binary(BinaryDiceLoss::new().smooth(0.1)), vec![4, 30, 1]));
    v.push((Loss::Binary(BinaryDiceLoss::new()), vec![50]));
    v.push((Loss::Binary(BinaryDiceLoss::new().apply_sigmoid(false)), vec![4, 30]));
    v.push((Loss::Generalized(MulticlassGeneralizedDiceLoss::new().apply_softmax(false).ignore_background(true)), vec![3, 40, 5]));
    v.push((Loss::Generalized(MulticlassGeneralizedDiceLoss::new().smooth(0.0)), vec![2, 5, 6, 4]));
    // Jaccard: the leading axis, a run, no smoothing, rows cut into stretches.
    v.push((Loss::Jaccard(JaccardLoss::new().axis(Some(vec![0]))), vec![40, 30]));
    v.push((Loss::Jaccard(JaccardLoss::new().axis(Some(vec![1, 2])).smooth(0.0).reduction(Reduction::None)), vec![2, 3, 4, 5]));
    v.push((Loss::Jaccard(JaccardLoss::new()), vec![3, 50_000]));
    v
}

/// Inputs for `loss` on `shape` (rounded to `T`), and an upstream gradient.
fn inputs<T: Float>(loss: &Loss, shape: &[usize], seed: u64) -> (ArrayD<T>, ArrayD<T>, ArrayD<T>) {
    let mut rng = Rng::new(seed);
    let (fa, fb) = loss.fills();
    let (a, b) = (fill(&mut rng, shape, fa).mapv(T::from_wide), fill(&mut rng, shape, fb).mapv(T::from_wide));
    let out = loss.out_shape(a.view(), b.view());
    let up = rng.array(&out, 0.5, 2.0).mapv(T::from_wide);
    (a, b, up)
}

fn sweep_against_general<T: Float>(rel: f64, abs: f64) {
    for (k, (loss, shape)) in cases().into_iter().enumerate() {
        let (a, b, up) = inputs::<T>(&loss, &shape, 7 + k as u64);
        let (aw, bw) = (strided(&a), strided(&b));
        let last = shape.len();
        let (av, bv) = (aw.index_axis(Axis(last), 0), bw.index_axis(Axis(last), 0));
        assert!(av.as_slice().is_none());
        let what = format!("{loss:?} {shape:?} {}", T::NAME);
        for u in [None, Some(up.view())] {
            let fast = loss.run(a.view(), b.view(), u.clone());
            let general = loss.run(av.clone(), bv.clone(), u);
            for (i, (x, y)) in fast.iter().zip(&general).enumerate() {
                close(&format!("{what} output {i}"), x, y, rel, abs);
            }
        }
    }
}

/// The sweep (contiguous tensors) against the general path (the same values
/// strided), in `f64`.
#[test]
fn sweep_equals_the_general_path_f64() {
    sweep_against_general::<f64>(1e-12, 1e-14);
}

/// The same in `f32`.
#[test]
fn sweep_equals_the_general_path_f32() {
    sweep_against_general::<f32>(4e-6, 1e-7);
}

/// The sweep in `f32` against the general path in `f64` on the same values:
/// within `f32`'s rounding.
#[test]
fn f32_sweep_is_close_to_the_f64_truth() {
    for (k, (loss, shape)) in cases().into_iter().enumerate() {
        let (a, b, up) = inputs::<f32>(&loss, &shape, 100 + k as u64);
        let wide = |x: &ArrayD<f32>| x.mapv(f64::from);
        let (a64, b64, up64) = (wide(&a), wide(&b), wide(&up));
        let (aw, bw) = (strided(&a64), strided(&b64));
        let last = shape.len();
        let truth = loss.run(aw.index_axis(Axis(last), 0), bw.index_axis(Axis(last), 0), Some(up64.view()));
        let got = loss.run(a.view(), b.view(), Some(up.view()));
        for (i, (x, y)) in got.iter().zip(&truth).enumerate() {
            close(&format!("{loss:?} {shape:?} output {i}"), &wide(x), y, 4e-6, 1e-7);
        }
    }
}

/// NaN in an input: the groups that read it are NaN, as on the general path.
#[test]
fn nan_propagates_as_on_the_general_path() {
    for (k, (loss, shape)) in cases().into_iter().enumerate() {
        let (mut a, mut b, up) = inputs::<f64>(&loss, &shape, 300 + k as u64);
        if matches!(loss.fills(), (Fill::Simplex | Fill::Ones, _)) {
            continue; // rows checked to sum to 1: an error either way
        }
        let n = a.len();
        a.as_slice_mut().unwrap()[n / 3] = f64::NAN;
        b.as_slice_mut().unwrap()[n - 1] = f64::NAN;
        let last = shape.len();
        let (aw, bw) = (strided(&a), strided(&b));
        let fast = loss.run(a.view(), b.view(), Some(up.view()));
        let general = loss.run(aw.index_axis(Axis(last), 0), bw.index_axis(Axis(last), 0), Some(up.view()));
        for (i, (x, y)) in fast.iter().zip(&general).enumerate() {
            close(&format!("{loss:?} {shape:?} NaN output {i}"), x, y, 1e-12, 1e-14);
        }
    }
}

/// optax's probabilities check (without the softmax): the same error, at the
/// same row, from contiguous and strided tensors.
#[test]
fn rows_that_do_not_sum_to_one_are_the_general_paths_error() {
    let mut rng = Rng::new(5);
    let mut p = rng.simplex(&[3, 40, 5]);
    p[[1, 17, 2]] += 0.01;
    let t = fill(&mut rng, &[3, 40, 5], Fill::Binary);
    let (pw, tw) = (strided(&p), strided(&t));
    let (pv, tv) = (pw.index_axis(Axis(3), 0), tw.index_axis(Axis(3), 0));
    let l = DiceLoss::new().apply_softmax(false);
    let fast = l.forward(p.view(), t.view()).unwrap_err().to_string();
    assert_eq!(fast, l.forward(pv.clone(), tv.clone()).unwrap_err().to_string());
    assert!(fast.contains("[1, 17]"), "{fast}");
    let g = MulticlassGeneralizedDiceLoss::new().apply_softmax(false);
    assert_eq!(g.forward_backward(p.view(), t.view()).unwrap_err().to_string(), g.forward_backward(pv, tv).unwrap_err().to_string());
    let e = BinaryDiceLoss::new().apply_sigmoid(false).forward(t.view(), t.view()).unwrap_err().to_string();
    assert!(e.contains("binary_dice_loss"), "{e}");
}

/// Broadcast tensors (Keras) and summed axes that are not one run take the
/// general path: its results, as the f64 formulas give them.
#[test]
fn broadcast_and_split_axes_fall_back() {
    let mut rng = Rng::new(11);
    let y = fill(&mut rng, &[4, 1, 6], Fill::Binary);
    let p = rng.array(&[4, 5, 6], 0.0, 1.0);
    let ye = y.broadcast(IxDyn(&[4, 5, 6])).unwrap().to_owned();
    for l in [Dice::new(), Dice::new().axis(Some(vec![1, 2]))] {
        // Broadcast: Keras sums y_true over its own elements.
        let (v, g) = l.forward_backward(y.view(), p.view()).unwrap();
        assert_eq!(g.input.shape(), &[4, 5, 6]);
        assert_eq!(g.target.unwrap().shape(), &[4, 1, 6]);
        assert!(v.iter().all(|x| x.is_finite()));
    }
    // Axes 0 and 2 are not one run: each group by hand.
    let l = Tversky::new().alpha(0.6).beta(0.3).axis(Some(vec![0, 2]));
    let v = l.forward(ye.view(), p.view()).unwrap();
    for m in 0..5 {
        let (mut i, mut a, mut b) = (0.0, 0.0, 0.0);
        for o in 0..4 {
            for k in 0..6 {
                let (t, q) = (ye[[o, m, k]], p[[o, m, k]]);
                i += t * q;
                a += (1.0 - q) * t;
                b += q * (1.0 - t);
            }
        }
        let want = 1.0 - i / (i + 0.6 * a + 0.3 * b + 1e-7);
        assert!((v[[m]] - want).abs() < 1e-12, "{m}: {} vs {want}", v[[m]]);
    }
}

/// The same bits on pools of 1, 2 and 3 threads, on tensors large enough to
/// go parallel and to cut rows into stretches.
#[test]
fn bit_identical_whatever_the_thread_count() {
    let cases: Vec<(Loss, Vec<usize>)> = vec![
        (Loss::Dice(Dice::new()), vec![300, 700]),
        (Loss::Tversky(Tversky::new().alpha(0.3).beta(0.7).axis(Some(vec![1]))), vec![3000, 70]),
        (Loss::Optax(DiceLoss::new()), vec![3, 50_000, 4]),
        (Loss::Optax(DiceLoss::new().apply_softmax(false).class_reduction(Reduction::None)), vec![2, 40_000, 3]),
        (Loss::Binary(BinaryDiceLoss::new()), vec![5, 70_000]),
        (Loss::Generalized(MulticlassGeneralizedDiceLoss::new()), vec![4, 30_000, 5]),
        (Loss::Jaccard(JaccardLoss::new().axis(Some(vec![0]))), vec![2000, 100]),
        (Loss::Jaccard(JaccardLoss::new()), vec![6, 90_000]),
    ];
    let bits = |t: &ArrayD<f32>| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for (k, (loss, shape)) in cases.into_iter().enumerate() {
        let (a, b, up) = inputs::<f32>(&loss, &shape, 500 + k as u64);
        let run = |threads: usize| common::fused::with_threads(threads, || loss.run(a.view(), b.view(), Some(up.view())));
        let one = run(1);
        for threads in [2, 3] {
            for (i, (x, y)) in one.iter().zip(&run(threads)).enumerate() {
                assert_eq!(bits(x), bits(y), "{loss:?} {shape:?} output {i}, {threads} threads");
            }
        }
    }
}
