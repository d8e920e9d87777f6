//! Hostile values and determinism.
//!
//! - NaN, +∞ and −∞ in every position of every float input of every loss
//!   (the harness of `properties.rs`), in `f32` and `f64`, under every
//!   reduction: never a panic; NaN propagates to the result (or is an error
//!   where the reference checks the domain), except where the reference does
//!   not read the value or masks it by design (see `nan_may_vanish`); ±∞ gives
//!   the limits below.
//! - Out-of-range labels, negative lengths, mismatched shapes, negative
//!   variances: errors naming the loss and the tensor.
//! - Zero-sized batches: `none` empty, `sum` 0, `mean` NaN (as documented on
//!   [`Reduction`]; 0 where the reference says so), empty gradients; the
//!   documented scalar for the losses that give one scalar per batch.
//! - Bit-identical values and gradients across repeated runs and rayon pools
//!   of 1, 2 and 8 threads.
//! - Indexing past 2³¹ elements (an ignored test: 9 s in a release build).

use crate::common;

use common::losses::*;
use common::Rng;
use losslab::*;
use ndarray::{array, Array1, Array2, ArrayD, Axis, IxDyn};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Seeds of the inputs each hostile value is placed in.
const SEEDS: u64 = 3;

/// Which float input of [`In`] a hostile value goes to.
#[derive(Debug, Clone, Copy)]
enum Slot {
    X,
    Y,
    Z,
}

fn slot(inp: &mut In<f64>, s: Slot) -> &mut ArrayD<f64> {
    match s {
        Slot::X => &mut inp.x,
        Slot::Y => &mut inp.y,
        Slot::Z => &mut inp.z,
    }
}

/// Whether a NaN at this input position may leave the result finite: it is
/// not read (an unused CTC frame or class, a weight of an unweighted loss), or
/// it is multiplied away as the reference does too.
fn nan_may_vanish(loss: &Loss, inp: &In<f64>, s: Slot, pos: usize) -> bool {
    match (loss, s) {
        // A row whose label is ignore_index is not read (PyTorch masks it too).
        (Loss::Ce { .. } | Loss::SoftmaxFocal { .. }, Slot::X) => inp.labels[pos / inp.x.shape()[1]] == IGNORE,
        // NLL reads only the target's log-probability (PyTorch gathers it too).
        (Loss::Nll { .. }, Slot::X) => inp.labels[pos / inp.x.shape()[1]] != (pos % inp.x.shape()[1]) as i64,
        // CTC reads only the log-probabilities on some alignment path, within the input length.
        (Loss::Ctc, _) => true,
        // z unused unless the option is set.
        (Loss::Bce { weighted: false }, Slot::Z)
        | (Loss::BceLogits { pos_weighted: false }, Slot::Z)
        | (Loss::MultilabelSoftMargin { weighted: false }, Slot::Z)
        | (Loss::RankingSoftmax { weighted: false, .. }, Slot::Z)
        | (Loss::ScipyEntropy { with_qk: false, .. }, Slot::Y) => true,
        // TensorFlow's CTC reads no frame past `logit_length` (documented on TfCtcLoss).
        (Loss::TfCtc, Slot::X) => {
            let (n, classes) = (inp.x.shape()[1], inp.x.shape()[2]);
            pos / (n * classes) >= inp.input_lengths[(pos / classes) % n] as usize
        }
        // PyTorch's `where`: a target neither 1 nor −1 (NaN) gives 0 for cosine
        // embedding, both terms (finite) for hinge embedding; documented on each.
        (Loss::CosineEmbedding { .. }, Slot::Z) | (Loss::HingeEmbedding { .. }, Slot::Y) => true,
        // optax's sparsemax loss reads a label only as zero or nonzero: NaN is positive.
        (Loss::SparsemaxFloat, Slot::Y) => true,
        // Keras's circle: a query whose only reference is itself, its diagonal pair removed, has
        // no pair at all (loss 0, by design), and such a reference is read by no query.
        (Loss::KerasCircle { remove_diagonal: true, refs, .. }, Slot::X) => {
            let m = if *refs { inp.y.shape()[0] } else { inp.x.shape()[0] };
            m == 0 || (m == 1 && pos / inp.x.shape()[1] == 0)
        }
        (Loss::KerasCircle { remove_diagonal: true, refs: true, .. }, Slot::Y) => {
            let n = inp.x.shape()[0];
            n == 0 || (n == 1 && pos / inp.y.shape()[1] == 0)
        }
        // optax's `where`: a masked item's logit, label and weight are not read.
        (Loss::RankingSoftmax { masked: true, .. }, _) => inp.labels.iter().nth(pos) == Some(&0),
        // Lovász: ignored pixels are removed first; a class absent from the labels
        // (of the image, with per_image) is not averaged over unless all classes are.
        (Loss::Lovasz { per_image, all_classes, ignore }, Slot::X) => {
            let (c, d) = (inp.x.shape()[1], inp.x.shape()[2]);
            let (b, k, px) = (pos / (c * d), (pos / d) % c, pos % d);
            let label = |b: usize, px: usize| inp.labels[[b, px]];
            if *ignore && label(b, px) == IGNORE {
                return true;
            }
            let images: Vec<usize> = if *per_image { vec![b] } else { (0..inp.x.shape()[0]).collect() };
            !*all_classes && !images.iter().any(|&i| (0..d).any(|q| label(i, q) == k as i64))
        }
        _ => false,
    }
}

#[test]
fn nan_and_infinities_in_every_input_position_never_panic_and_nan_propagates() {
    let mut tried = 0usize;
    let mut errors = 0usize;
    let mut lost = Vec::new();
    let mut refusing = std::collections::BTreeSet::new();
    for kind in 0..KINDS {
        for seed in 0..SEEDS {
            let (loss, clean) = draw(kind, seed);
            for s in [Slot::X, Slot::Y, Slot::Z] {
                let len = slot(&mut clean.clone(), s).len();
                for pos in 0..len {
                    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                        let mut inp = clean.clone();
                        *slot(&mut inp, s).iter_mut().nth(pos).unwrap() = v;
                        let inp32 = inp.to_f32();
                        for red in Reduction::ALL {
                            tried += 2;
                            let r64 = catch_unwind(AssertUnwindSafe(|| eval(&loss, &inp, red)))
                                .unwrap_or_else(|_| panic!("{loss:?} {red:?}: {v} at {s:?}[{pos}] panics (f64)"));
                            let r32 = catch_unwind(AssertUnwindSafe(|| eval(&loss, &inp32, red)))
                                .unwrap_or_else(|_| panic!("{loss:?} {red:?}: {v} at {s:?}[{pos}] panics (f32)"));
                            // Both types agree on whether it is an error.
                            assert_eq!(r64.is_ok(), r32.is_ok(), "{loss:?} {red:?}: {v} at {s:?}[{pos}]: {r64:?} vs {r32:?}");
                            match r64 {
                                Err(e) => {
                                    errors += 1;
                                    refusing.insert(format!("{loss:?}").split([' ', '{']).next().unwrap_or_default().to_string());
                                    // Only a domain check may refuse a non-finite value, and it says so.
                                    assert!(matches!(e, LossError::Domain { .. }), "{loss:?}: {v} at {s:?}[{pos}]: {e}");
                                }
                                Ok((value, _)) if v.is_nan() && red == Reduction::Sum && !nan_may_vanish(&loss, &clean, s, pos) => {
                                    if !value[[]].is_nan() {
                                        lost.push(format!("{loss:?}: NaN at {s:?}[{pos}] gives {value}"));
                                    }
                                }
                                Ok(_) => {}
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(lost.is_empty(), "NaN lost where the reference propagates it:\n{}", lost.join("\n"));
    eprintln!("non-finite inputs tried: {tried} evaluations ({errors} domain errors in f64, from {refusing:?})");
    assert!(tried > 10_000, "{tried}");
}

/// Masking a class with a −∞ logit (a common use) is the loss without that class.
#[test]
fn a_minus_infinity_logit_masks_its_class() {
    let mut r = Rng::new(7);
    for _ in 0..20 {
        let (n, c) = (1 + r.below(5), 3 + r.below(4));
        let x = r.array(&[n, c], -4.0, 4.0);
        let masked_class = r.below(c);
        let labels: Vec<i64> = (0..n).map(|_| loop {
            let y = r.below(c);
            if y != masked_class {
                break y as i64;
            }
        }).collect();
        let mut xm = x.clone();
        xm.index_axis_mut(Axis(1), masked_class).fill(f64::NEG_INFINITY);
        let kept: Vec<usize> = (0..c).filter(|&k| k != masked_class).collect();
        let xr = x.select(Axis(1), &kept);
        let lr: Array1<i64> = labels.iter().map(|&y| if y as usize > masked_class { y - 1 } else { y }).collect();
        let l = Array1::from(labels.clone());
        for f32_too in [false, true] {
            let ce = CrossEntropyLoss::new().reduction(Reduction::None);
            let (v, g) = if f32_too {
                let (v, g) = ce.forward_backward(xm.mapv(|v| v as f32).view(), l.view()).unwrap();
                (v.mapv(f64::from), g.input.mapv(f64::from))
            } else {
                let (v, g) = ce.forward_backward(xm.view(), l.view()).unwrap();
                (v, g.input)
            };
            let want = CrossEntropyLoss::new().reduction(Reduction::None).forward(xr.view(), lr.view()).unwrap();
            let tol = if f32_too { 1e-5 } else { 1e-13 };
            for (a, b) in v.iter().zip(&want) {
                assert!((a - b).abs() <= tol * b.abs().max(1.0), "{a} vs {b}");
            }
            assert!(g.index_axis(Axis(1), masked_class).iter().all(|&d| d == 0.0), "masked gradient {g}");
            assert!(g.iter().all(|d| d.is_finite()));
        }
        let sparse = SparseSoftmaxCrossEntropyWithLogits::new().forward(l.view(), xm.view()).unwrap();
        let want = SparseSoftmaxCrossEntropyWithLogits::new().forward(lr.view(), xr.view()).unwrap();
        assert!(sparse.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-13));
        let focal = SoftmaxFocalLoss::new().reduction(Reduction::None).forward(xm.view(), l.view()).unwrap();
        let want = SoftmaxFocalLoss::new().reduction(Reduction::None).forward(xr.view(), lr.view()).unwrap();
        assert!(focal.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-13));
    }
    // The target's own logit at −∞: the loss is +∞, as log 0 is.
    let v = CrossEntropyLoss::new().forward(array![[f64::NEG_INFINITY, 0.0]].view(), array![0i64].view()).unwrap();
    assert_eq!(v[[]], f64::INFINITY);
}

/// Infinite residuals give infinite regression losses; ∞ − ∞ gives NaN, as in IEEE arithmetic and PyTorch.
#[test]
fn infinite_residuals_give_infinite_losses() {
    let x = array![f64::INFINITY, f64::NEG_INFINITY, 1.0, f64::INFINITY];
    let y = array![0.0, 0.0, f64::INFINITY, f64::INFINITY];
    let none = Reduction::None;
    let want = [f64::INFINITY, f64::INFINITY, f64::INFINITY, f64::NAN];
    let outs = [
        MseLoss::new().reduction(none).forward(x.view(), y.view()).unwrap(),
        L1Loss::new().reduction(none).forward(x.view(), y.view()).unwrap(),
        SmoothL1Loss::new().reduction(none).forward(x.view(), y.view()).unwrap(),
        HuberLoss::new().reduction(none).forward(x.view(), y.view()).unwrap(),
    ];
    for out in outs {
        for (a, b) in out.iter().zip(want) {
            assert!(a == &b || (a.is_nan() && b.is_nan()), "{out} vs {want:?}");
        }
    }
}

#[test]
fn invalid_inputs_are_errors_naming_the_loss_and_tensor() {
    let x = array![[0.5f64, -1.0, 2.0], [0.0, 1.0, 3.0]];
    let msg = |e: LossError| e.to_string();
    for bad in [3i64, -1, i64::MAX, i64::MIN, -101] {
        let l = array![0i64, bad];
        let e = msg(CrossEntropyLoss::new().forward(x.view(), l.view()).unwrap_err());
        assert!(e.starts_with("cross_entropy: `target` holds class index") && e.contains(&bad.to_string()), "{e}");
        // The generic (non-fused) path: a non-standard (transposed) view.
        let xt = x.t().to_owned();
        let e = msg(CrossEntropyLoss::new().forward(xt.t(), l.view()).unwrap_err());
        assert!(e.starts_with("cross_entropy: `target` holds class index"), "{e}");
        let e = msg(NllLoss::new().forward(x.view(), l.view()).unwrap_err());
        assert!(e.contains("`target` holds class index"), "{e}");
        let e = msg(SparseSoftmaxCrossEntropyWithLogits::new().forward(l.view(), x.view()).unwrap_err());
        assert!(e.contains("`labels`") && e.contains("class index"), "{e}");
        let e = msg(MultiMarginLoss::new().forward(x.view(), l.view()).unwrap_err());
        assert!(e.contains("class index"), "{e}");
        let e = msg(SoftmaxFocalLoss::new().forward(x.view(), l.view()).unwrap_err());
        assert!(e.contains("class index"), "{e}");
    }
    // Spatial cross entropy (the generic path) with a label out of range.
    let x3 = ArrayD::<f64>::zeros(IxDyn(&[1, 3, 2]));
    let l3 = ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![0i64, 5]).unwrap();
    let e = msg(CrossEntropyLoss::new().forward(x3.view(), l3.view()).unwrap_err());
    assert!(e.contains("class index 5 at position [0, 1]"), "{e}");

    // Mismatched shapes.
    let y = array![[0.0f64, 1.0], [1.0, 0.0]];
    for e in [
        msg(MseLoss::new().forward(x.view(), y.view()).unwrap_err()),
        msg(BinaryCrossEntropyWithLogits::new().forward(x.view(), y.view()).unwrap_err()),
        msg(KlDivLoss::new().forward(x.view(), y.view()).unwrap_err()),
        msg(CrossEntropyLoss::new().forward_probs(x.view(), y.view()).unwrap_err()),
        msg(SoftmaxCrossEntropyWithLogits::new().forward(y.view(), x.view()).unwrap_err()),
        msg(TripletMarginLoss::new().forward(x.view(), x.view(), y.view()).unwrap_err()),
    ] {
        assert!(e.contains("has shape [2, 2]") || e.contains("has shape [2, 3]"), "{e}");
        assert!(e.contains("expected"), "{e}");
    }
    let e = msg(CrossEntropyLoss::new().forward(x.view(), array![0i64, 1, 2].view()).unwrap_err());
    assert!(e.contains("cross_entropy: `target` has shape [3]"), "{e}");

    // Negative variance; BCE probabilities outside [0, 1].
    let e = msg(GaussianNllLoss::new().forward(x.view(), x.view(), array![[1.0f64, -1.0, 1.0], [1.0, 1.0, 1.0]].view()).unwrap_err());
    assert!(e.contains("`var`") && e.contains("-1"), "{e}");
    let e = msg(BinaryCrossEntropy::new().forward(array![1.5f64].view(), array![1.0].view()).unwrap_err());
    assert!(e.contains("`input`") && e.contains("1.5"), "{e}");

    // CTC: negative lengths, lengths past the input, targets out of range.
    let lp = ArrayD::from_elem(IxDyn(&[4, 1, 3]), (1.0f64 / 3.0).ln());
    let targets = array![[1i64, 2]];
    for (il, tl, what) in [(-1i64, 2i64, "input_lengths"), (4, -1, "target_lengths"), (5, 2, "input_lengths"), (4, 3, "target_lengths")] {
        let e = msg(CtcLoss::new().forward(lp.view(), targets.view(), array![il].view(), array![tl].view()).unwrap_err());
        assert!(e.starts_with("ctc_loss: `") && e.contains(what), "({il}, {tl}): {e}");
    }
    let e = msg(CtcLoss::new().forward(lp.view(), array![[1i64, 3]].view(), array![4i64].view(), array![2i64].view()).unwrap_err());
    assert!(e.contains("`targets`"), "{e}");
    let e = msg(CtcLoss::new().forward(lp.view(), array![[0i64, 1]].view(), array![4i64].view(), array![2i64].view()).unwrap_err());
    assert!(e.contains("`targets`") && e.contains("blank"), "{e}");
}

/// The documented `mean` of an empty batch: 0/0 = NaN (as documented on
/// [`Reduction`] and as in PyTorch), but 0 for torchvision's box losses
/// (`0.0 * loss.sum()`) and optax's ranking softmax loss (`_safe_reduce`).
fn mean_of_an_empty_batch(loss: &Loss) -> f64 {
    match loss {
        Loss::Giou | Loss::Diou | Loss::Ciou | Loss::RankingSoftmax { .. } => 0.0,
        _ => f64::NAN,
    }
}

/// The documented result of an empty batch for a loss that gives one scalar for
/// the whole batch: Keras's dice and Tversky over every axis, 1 − 0/(0 + 1e-7) = 1;
/// optax's generalized Dice, a mean over no (sample, class) pair, and NT-Xent,
/// with no positive pair, 0/0 = NaN; Lovász, whose empty (or all-ignored)
/// batch has loss 0.
fn scalar_of_an_empty_batch(loss: &Loss) -> Option<f64> {
    match loss {
        Loss::KerasDice { axis: None } | Loss::KerasTversky { axis: None, .. } => Some(1.0),
        Loss::GeneralizedDice { .. } | Loss::NtXent { .. } => Some(f64::NAN),
        Loss::Lovasz { .. } => Some(0.0),
        _ => None,
    }
}

#[test]
fn zero_sized_batches_give_the_documented_results() {
    let mut tried = 0;
    for kind in 0..KINDS {
        let (loss, inp) = draw_batch(kind, 1, Some(0));
        if matches!(loss, Loss::Ctc) {
            // Documented: CTC needs T, N, C ≥ 1.
            let e = eval(&loss, &inp, Reduction::Mean).unwrap_err().to_string();
            assert!(e.starts_with("ctc_loss: `log_probs` has shape [") && e.contains("non-empty"), "{e}");
            continue;
        }
        let inp32 = inp.to_f32();
        let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
        if let Some(want) = scalar_of_an_empty_batch(&loss) {
            // A loss whose result is one scalar over the whole batch: that scalar, under every reduction.
            for red in Reduction::ALL {
                let (v, g) = eval(&loss, &inp, red).unwrap_or_else(|e| panic!("{loss:?}: {e}"));
                assert!(v.ndim() == 0 && same(v[[]], want), "{loss:?} {red:?}: {v}, documented {want}");
                assert_eq!(g.shape(), inp.x.shape(), "{loss:?}");
                let (v32, _) = eval(&loss, &inp32, red).unwrap();
                assert!(same(f64::from(v32[[]]), want), "{loss:?} {red:?}: f32 {v32}");
                tried += 2;
            }
            continue;
        }
        let (none, g) = eval(&loss, &inp, Reduction::None).unwrap_or_else(|e| panic!("{loss:?}: {e}"));
        assert_eq!(none.len(), 0, "{loss:?}: none of an empty batch {none}");
        assert_eq!(g.shape(), inp.x.shape(), "{loss:?}");
        let (sum, g) = eval(&loss, &inp, Reduction::Sum).unwrap();
        assert_eq!(sum[[]], 0.0, "{loss:?}: sum of an empty batch");
        assert_eq!(g.len(), 0);
        let want = mean_of_an_empty_batch(&loss);
        let (mean, _) = eval(&loss, &inp, Reduction::Mean).unwrap();
        assert!(same(mean[[]], want), "{loss:?}: mean of an empty batch is {want}, got {mean}");
        let (mean32, _) = eval(&loss, &inp32, Reduction::Mean).unwrap();
        assert!(same(f64::from(mean32[[]]), want), "{loss:?}: f32 mean of an empty batch {mean32}");
        tried += 4;
    }
    // Every row ignored: mean is NaN, sum 0, the gradient zero.
    let x = array![[1.0f64, 2.0], [3.0, 4.0]];
    let l = array![-100i64, -100];
    assert!(CrossEntropyLoss::new().forward(x.view(), l.view()).unwrap()[[]].is_nan());
    let (s, g) = CrossEntropyLoss::new().reduction(Reduction::Sum).forward_backward(x.view(), l.view()).unwrap();
    assert_eq!((s[[]], g.input.sum()), (0.0, 0.0));
    eprintln!("zero-sized evaluations: {tried}");
}

/// The bits of a value and its gradient.
fn bits<T: Float>((v, g): &(ArrayD<T>, ArrayD<T>)) -> (Vec<u64>, Vec<u64>) {
    let b = |a: &ArrayD<T>| a.iter().map(|x| x.to_f64().unwrap().to_bits()).collect();
    (b(v), b(g))
}

/// One evaluation, returning the bits of its value and gradient.
type Run<'a> = dyn Fn() -> (Vec<u64>, Vec<u64>) + Sync + 'a;

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

#[test]
fn values_and_gradients_are_bit_identical_across_runs_and_thread_counts() {
    // Large enough that the fused kernels split the work across threads.
    let mut r = Rng::new(3);
    let (n, c) = (3000, 517);
    let x = r.array(&[n, c], -8.0, 8.0).into_dimensionality::<ndarray::Ix2>().unwrap();
    let x32 = x.mapv(|v| v as f32);
    let labels: Array1<i64> = (0..n).map(|i| if i % 13 == 0 { -100 } else { r.below(c) as i64 }).collect();
    let w: Array1<f64> = (0..c).map(|_| r.range(0.1, 2.0)).collect();
    let probs = r.simplex(&[n, c]).into_dimensionality::<ndarray::Ix2>().unwrap();
    let y = r.array(&[n, c], 0.0, 1.0).into_dimensionality::<ndarray::Ix2>().unwrap();
    let big: Vec<Box<Run<'_>>> = vec![
        Box::new(|| {
            let ce = CrossEntropyLoss::new().weight(w.view()).label_smoothing(0.1);
            let (v, g) = ce.forward_backward(x32.view(), labels.view()).unwrap();
            bits(&(v, g.input))
        }),
        Box::new(|| {
            let (v, g) = CrossEntropyLoss::new().reduction(Reduction::None).forward_backward(x.view(), labels.view()).unwrap();
            bits(&(v, g.input))
        }),
        Box::new(|| {
            let (v, g) = CrossEntropyLoss::new().forward_backward_probs(x32.view(), probs.mapv(|v| v as f32).view()).unwrap();
            bits(&(v, g.input))
        }),
        Box::new(|| {
            let (v, g) = BinaryCrossEntropyWithLogits::new().forward_backward(x.view(), y.view()).unwrap();
            bits(&(v, g.input))
        }),
        Box::new(|| {
            let (v, g) = MseLoss::new().forward_backward(x32.view(), y.mapv(|v| v as f32).view()).unwrap();
            bits(&(v, g.input))
        }),
        Box::new(|| {
            let lp = log_softmax(&x.view(), Axis(1)).unwrap();
            let (v, g) = KlDivLoss::new().reduction(Reduction::BatchMean).forward_backward(lp.view(), probs.view().into_dyn()).unwrap();
            bits(&(v, g.input))
        }),
    ];
    for (i, f) in big.iter().enumerate() {
        let first = in_pool(1, f);
        for threads in [1, 2, 8, 1, 8] {
            assert!(in_pool(threads, f) == first, "loss {i}: {threads} threads differ from 1 thread");
        }
    }
    // Every loss of the harness, on small inputs, in both types.
    for kind in 0..KINDS {
        for seed in 0..4 {
            let (loss, inp) = draw(kind, seed);
            let inp32 = inp.to_f32();
            for red in Reduction::ALL {
                let first = in_pool(1, || (bits(&eval(&loss, &inp, red).unwrap()), bits(&eval(&loss, &inp32, red).unwrap())));
                for threads in [2, 8] {
                    let again = in_pool(threads, || (bits(&eval(&loss, &inp, red).unwrap()), bits(&eval(&loss, &inp32, red).unwrap())));
                    assert!(again == first, "{loss:?} {red:?}: {threads} threads");
                }
            }
        }
    }
}

/// Cross entropy over more than 2³¹ elements (2²⁵ + 1 rows of 64 classes, f32:
/// 8.6 GB of address space, but zero pages: the resident memory stays small):
/// every row's loss is ln 64 with uniform logits but the last, so the sum is
/// known exactly; a 32-bit index anywhere would wrap and miscount. Run with
/// `cargo test --release -p losslab --test suite hostile:: -- --ignored` (9 s).
#[test]
#[ignore = "8.6 GB of address space, about 9 s in a release build"]
fn cross_entropy_indexes_more_than_2_pow_31_elements() {
    let (n, c) = ((1usize << 25) + 1, 64usize);
    assert!(n * c > 1 << 31);
    let mut x = Array2::<f32>::zeros((n, c));
    // The last row differs: its target logit is 1, the others 0.
    x[[n - 1, c - 1]] = 1.0;
    let mut labels = Array1::<i64>::zeros(n);
    labels[n - 1] = (c - 1) as i64;
    let v = CrossEntropyLoss::new().reduction(Reduction::None).forward(x.view(), labels.view()).unwrap();
    let ln_c = (c as f64).ln();
    assert!((f64::from(v[0]) - ln_c).abs() < 1e-6 && (f64::from(v[n - 2]) - ln_c).abs() < 1e-6);
    let last = ((c - 1) as f64 + 1f64.exp()).ln() - 1.0;
    assert!((f64::from(v[n - 1]) - last).abs() < 1e-6, "{} vs {last}", v[n - 1]);
    let sum = CrossEntropyLoss::new().reduction(Reduction::Sum).forward(x.view(), labels.view()).unwrap();
    let want = (n - 1) as f64 * ln_c + last;
    assert!((f64::from(sum[[]]) - want).abs() <= 1e-6 * want, "{} vs {want}", sum[[]]);
}

