//! Property tests (proptest) over the library's losses: a representative of
//! every family, each drawn with random shapes, values and hyper-parameters.
//!
//! For every loss:
//! - finite inputs in the loss's domain give a finite value and gradient;
//! - the value is non-negative where the mathematics says so;
//! - the `none` reduction summed equals `sum`, and `mean` equals the reference's
//!   own mean of the `none` output (the sum over the right count: weights of
//!   non-ignored rows for cross entropy, target lengths for CTC, ...);
//! - `f32` agrees with `f64` within the `f32` tolerances below;
//! - the gradient agrees with central finite differences in `f64`, at random
//!   points away from kinks (a coordinate where two step sizes disagree sits on
//!   a kink and is skipped).
//!
//! For softmax-based losses: adding a constant to each row of logits changes
//! nothing. For losses with `ignore_index` or weights: an ignored or
//! zero-weight row changes nothing and receives a zero gradient.
//!
//! Each property runs `PROPTEST_CASES` cases (64 by default, so that `cargo
//! test` stays fast), every case over every loss.

mod common;

use common::Rng;
use losslab::*;
use ndarray::{Array1, ArrayD, Axis, IxDyn};
use proptest::prelude::*;

/// `f32` against `f64`, values: `|a − b| ≤ F32_VALUE_TOL · max(1, |b|)`.
const F32_VALUE_TOL: f64 = 1e-5;
/// `f32` against `f64`, gradients (JAX's `f32` gradient tolerance).
const F32_GRAD_TOL: f64 = 2e-3;
/// Reductions against each other in `f64`.
const F64_REDUCTION_TOL: f64 = 1e-12;
/// Analytic gradient against central differences, in `f64`.
const FD_TOL: f64 = 1e-5;
/// Shift invariance of softmax-based losses, in `f64` (the shift is up to ±40).
const SHIFT_TOL: f64 = 1e-10;

/// The inputs of one loss evaluation; which are used depends on the [`Loss`].
#[derive(Debug, Clone)]
struct In<T> {
    /// The differentiated input (logits, predictions, anchor, ...).
    x: ArrayD<T>,
    /// The second float input (target, positive, labels as probabilities, ...).
    y: ArrayD<T>,
    /// The third float input (variance, negative, element weights, ...).
    z: ArrayD<T>,
    /// Class indices.
    labels: ArrayD<i64>,
    /// CTC input and target lengths.
    input_lengths: Array1<i64>,
    target_lengths: Array1<i64>,
}

impl In<f64> {
    /// The same inputs rounded to `f32`.
    fn to_f32(&self) -> In<f32> {
        In {
            x: self.x.mapv(|v| v as f32),
            y: self.y.mapv(|v| v as f32),
            z: self.z.mapv(|v| v as f32),
            labels: self.labels.clone(),
            input_lengths: self.input_lengths.clone(),
            target_lengths: self.target_lengths.clone(),
        }
    }
}

impl In<f32> {
    fn to_f64(&self) -> In<f64> {
        In {
            x: self.x.mapv(f64::from),
            y: self.y.mapv(f64::from),
            z: self.z.mapv(f64::from),
            labels: self.labels.clone(),
            input_lengths: self.input_lengths.clone(),
            target_lengths: self.target_lengths.clone(),
        }
    }
}

/// One loss of each family, with its hyper-parameters.
#[derive(Debug, Clone)]
enum Loss {
    Ce { weight: Option<Vec<f64>>, smoothing: f64 },
    /// Cross entropy over `(N, C, D)`: the non-fused, strided path.
    CeSpatial { smoothing: f64 },
    CeProbs { smoothing: f64 },
    Nll { weight: Option<Vec<f64>> },
    /// `z` holds the element weights when `weighted`.
    Bce { weighted: bool },
    /// `z` holds `pos_weight` (one per class) when `pos_weighted`.
    BceLogits { pos_weighted: bool },
    Mse,
    L1,
    SmoothL1 { beta: f64 },
    Huber { delta: f64 },
    KlDiv { log_target: bool },
    TfSoftmax,
    TfSparse,
    PoissonNll,
    GaussianNll,
    MultiMargin { p: i64, margin: f64 },
    SoftMargin,
    Triplet { margin: f64, swap: bool },
    Dice,
    SigmoidFocal { gamma: f64 },
    SoftmaxFocal { gamma: f64 },
    /// `x` holds logits; the loss is applied to their log-softmax.
    Ctc,
}

/// The number of [`Loss`] kinds [`draw`] knows.
const KINDS: usize = 23;
/// The ignore index every loss with one uses here.
const IGNORE: i64 = -100;

/// Draws loss `kind` and its inputs from `seed`: shapes small, values in the loss's domain.
fn draw(kind: usize, seed: u64) -> (Loss, In<f64>) {
    let mut r = Rng::new(seed.wrapping_mul(31).wrapping_add(kind as u64));
    let n = 1 + r.below(4);
    let c = 2 + r.below(4);
    let labels_with_ignored = |r: &mut Rng, n: usize, c: usize| {
        let mut l: Vec<i64> = (0..n).map(|_| if r.uniform() < 0.2 { IGNORE } else { r.below(c) as i64 }).collect();
        // At least one row counts, so that `mean` is defined.
        if l.iter().all(|&v| v == IGNORE) {
            l[0] = r.below(c) as i64;
        }
        ArrayD::from_shape_vec(IxDyn(&[n]), l).unwrap()
    };
    let weight = |r: &mut Rng, c: usize| (r.uniform() < 0.5).then(|| (0..c).map(|_| r.range(0.2, 2.0)).collect::<Vec<f64>>());
    let empty = || ArrayD::zeros(IxDyn(&[0]));
    let mut inp = In {
        x: r.array(&[n, c], -4.0, 4.0),
        y: empty(),
        z: empty(),
        labels: ArrayD::from_shape_fn(IxDyn(&[n]), |_| 0),
        input_lengths: Array1::zeros(0),
        target_lengths: Array1::zeros(0),
    };
    let loss = match kind {
        0 => {
            inp.labels = labels_with_ignored(&mut r, n, c);
            Loss::Ce { weight: weight(&mut r, c), smoothing: if r.uniform() < 0.5 { 0.0 } else { r.range(0.0, 0.3) } }
        }
        1 => {
            let d = 1 + r.below(3);
            inp.x = r.array(&[n, c, d], -4.0, 4.0);
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n, d]), |_| r.below(c) as i64);
            Loss::CeSpatial { smoothing: r.range(0.0, 0.3) }
        }
        2 => {
            inp.y = r.simplex(&[n, c]);
            Loss::CeProbs { smoothing: r.range(0.0, 0.3) }
        }
        3 => {
            inp.x = r.array(&[n, c], -5.0, 0.0);
            inp.labels = labels_with_ignored(&mut r, n, c);
            Loss::Nll { weight: weight(&mut r, c) }
        }
        4 => {
            inp.x = r.array(&[n, c], 0.02, 0.98);
            inp.y = r.array(&[n, c], 0.0, 1.0);
            inp.z = r.array(&[n, c], 0.0, 2.0);
            Loss::Bce { weighted: r.uniform() < 0.5 }
        }
        5 => {
            inp.x = r.array(&[n, c], -6.0, 6.0);
            inp.y = r.array(&[n, c], 0.0, 1.0);
            inp.z = r.array(&[c], 0.2, 3.0);
            Loss::BceLogits { pos_weighted: r.uniform() < 0.5 }
        }
        6..=9 => {
            inp.y = r.array(&[n, c], -4.0, 4.0);
            match kind {
                6 => Loss::Mse,
                7 => Loss::L1,
                8 => Loss::SmoothL1 { beta: r.range(0.1, 2.0) },
                _ => Loss::Huber { delta: r.range(0.1, 2.0) },
            }
        }
        10 => {
            inp.x = r.simplex(&[n, c]).mapv(f64::ln);
            let log_target = r.uniform() < 0.5;
            inp.y = r.simplex(&[n, c]);
            if log_target {
                inp.y.mapv_inplace(f64::ln);
            }
            Loss::KlDiv { log_target }
        }
        11 => {
            inp.y = r.simplex(&[n, c]);
            Loss::TfSoftmax
        }
        12 => {
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n]), |_| r.below(c) as i64);
            Loss::TfSparse
        }
        13 => {
            inp.x = r.array(&[n, c], -2.0, 2.0);
            inp.y = r.array(&[n, c], 0.0, 5.0);
            Loss::PoissonNll
        }
        14 => {
            inp.y = r.array(&[n, c], -4.0, 4.0);
            inp.z = r.array(&[n, c], 0.1, 3.0);
            Loss::GaussianNll
        }
        15 => {
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n]), |_| r.below(c) as i64);
            Loss::MultiMargin { p: 1 + r.below(2) as i64, margin: r.range(0.1, 2.0) }
        }
        16 => {
            inp.y = r.array(&[n, c], 0.0, 1.0).mapv(|v| if v < 0.5 { -1.0 } else { 1.0 });
            Loss::SoftMargin
        }
        17 => {
            inp.y = r.array(&[n, c], -4.0, 4.0);
            inp.z = r.array(&[n, c], -4.0, 4.0);
            Loss::Triplet { margin: r.range(0.1, 4.0), swap: r.uniform() < 0.5 }
        }
        18 => {
            let s = 1 + r.below(3);
            inp.x = r.array(&[n, s, c], -4.0, 4.0);
            inp.y = r.array(&[n, s, c], 0.0, 1.0);
            Loss::Dice
        }
        19 => {
            inp.y = r.array(&[n, c], 0.0, 1.0);
            Loss::SigmoidFocal { gamma: r.range(0.0, 3.0) }
        }
        20 => {
            inp.labels = labels_with_ignored(&mut r, n, c);
            Loss::SoftmaxFocal { gamma: r.range(0.0, 3.0) }
        }
        21 => {
            let t = 5 + r.below(3);
            let classes = 3 + r.below(2);
            let s = 2;
            inp.x = r.array(&[t, n, classes], -3.0, 3.0);
            inp.labels = ArrayD::from_shape_fn(IxDyn(&[n, s]), |_| 1 + r.below(classes - 1) as i64);
            inp.input_lengths = Array1::from_shape_fn(n, |_| (t - r.below(2)) as i64);
            inp.target_lengths = Array1::from_shape_fn(n, |_| 1 + r.below(s) as i64);
            Loss::Ctc
        }
        _ => {
            inp.x = r.array(&[n, c], -4.0, 4.0);
            inp.y = r.array(&[n, c], -4.0, 4.0);
            Loss::Mse
        }
    };
    (loss, inp)
}

/// The loss of `inp` reduced by `red`, and the gradient with respect to `x` of its sum.
fn eval<T: Float>(loss: &Loss, inp: &In<T>, red: Reduction) -> losslab::Result<(ArrayD<T>, ArrayD<T>)> {
    let (x, y, z, l) = (inp.x.view(), inp.y.view(), inp.z.view(), inp.labels.view());
    let w = |w: &Option<Vec<f64>>| w.as_ref().map(|w| Array1::from(w.clone()));
    let g = |(v, g): (ArrayD<T>, Gradients<T>)| (v, g.input);
    Ok(match loss {
        Loss::Ce { weight, smoothing } => {
            let mut ce = CrossEntropyLoss::new().reduction(red).label_smoothing(*smoothing).ignore_index(IGNORE);
            if let Some(w) = w(weight) {
                ce = ce.weight(w.view());
            }
            g(ce.forward_backward(x, l)?)
        }
        Loss::CeSpatial { smoothing } => g(CrossEntropyLoss::new().reduction(red).label_smoothing(*smoothing).forward_backward(x, l)?),
        Loss::CeProbs { smoothing } => g(CrossEntropyLoss::new().reduction(red).label_smoothing(*smoothing).forward_backward_probs(x, y)?),
        Loss::Nll { weight } => {
            let mut nll = NllLoss::new().reduction(red).ignore_index(IGNORE);
            if let Some(w) = w(weight) {
                nll = nll.weight(w.view());
            }
            g(nll.forward_backward(x, l)?)
        }
        Loss::Bce { weighted } => {
            let mut bce = BinaryCrossEntropy::new().reduction(red);
            if *weighted {
                bce = bce.weight(z);
            }
            g(bce.forward_backward(x, y)?)
        }
        Loss::BceLogits { pos_weighted } => {
            let mut bce = BinaryCrossEntropyWithLogits::new().reduction(red);
            if *pos_weighted {
                bce = bce.pos_weight(z);
            }
            g(bce.forward_backward(x, y)?)
        }
        Loss::Mse => g(MseLoss::new().reduction(red).forward_backward(x, y)?),
        Loss::L1 => g(L1Loss::new().reduction(red).forward_backward(x, y)?),
        Loss::SmoothL1 { beta } => g(SmoothL1Loss::new().reduction(red).beta(*beta).forward_backward(x, y)?),
        Loss::Huber { delta } => g(HuberLoss::new().reduction(red).delta(*delta).forward_backward(x, y)?),
        Loss::KlDiv { log_target } => g(KlDivLoss::new().reduction(red).log_target(*log_target).forward_backward(x, y)?),
        Loss::TfSoftmax => g(SoftmaxCrossEntropyWithLogits::new().reduction(red).forward_backward(y, x)?),
        Loss::TfSparse => g(SparseSoftmaxCrossEntropyWithLogits::new().reduction(red).forward_backward(l, x)?),
        Loss::PoissonNll => g(PoissonNllLoss::new().reduction(red).forward_backward(x, y)?),
        Loss::GaussianNll => {
            let (v, gr) = GaussianNllLoss::new().reduction(red).forward_backward(x, y, z)?;
            (v, gr.input)
        }
        Loss::MultiMargin { p, margin } => g(MultiMarginLoss::new().reduction(red).p(*p).margin(*margin).forward_backward(x, l)?),
        Loss::SoftMargin => g(SoftMarginLoss::new().reduction(red).forward_backward(x, y)?),
        Loss::Triplet { margin, swap } => {
            let (v, gr) = TripletMarginLoss::new().reduction(red).margin(*margin).swap(*swap).forward_backward(x, y, z)?;
            (v, gr.anchor)
        }
        Loss::Dice => g(DiceLoss::new().reduction(red).forward_backward(x, y)?),
        Loss::SigmoidFocal { gamma } => g(SigmoidFocalLoss::new().reduction(red).gamma(*gamma).forward_backward(x, y)?),
        Loss::SoftmaxFocal { gamma } => {
            g(SoftmaxFocalLoss::new().reduction(red).gamma(*gamma).ignore_index(IGNORE).forward_backward(x, l)?)
        }
        Loss::Ctc => {
            // The loss of log_softmax(x); its gradient chained through the log-softmax.
            let lp = log_softmax(&x, Axis(2))?;
            let (v, gr) = CtcLoss::new().reduction(red).forward_backward(lp.view(), l, inp.input_lengths.view(), inp.target_lengths.view())?;
            let mut gx = gr.input;
            for (mut gl, lpl) in gx.lanes_mut(Axis(2)).into_iter().zip(lp.lanes(Axis(2))) {
                let s = gl.iter().fold(T::zero(), |a, &b| a + b);
                gl.zip_mut_with(&lpl, |gi, &li| *gi = *gi - li.exp() * s);
            }
            (v, gx)
        }
    })
}

/// Whether every element of the unreduced loss is ≥ 0 (else only checked finite).
fn nonnegative(loss: &Loss) -> bool {
    !matches!(loss, Loss::KlDiv { .. } | Loss::PoissonNll | Loss::GaussianNll)
}

/// The rows of `x` along its last axis are logits of a softmax: a constant
/// added to a row changes nothing.
fn softmax_rows(loss: &Loss) -> bool {
    matches!(loss, Loss::Ce { .. } | Loss::CeProbs { .. } | Loss::TfSoftmax | Loss::TfSparse | Loss::SoftmaxFocal { .. } | Loss::MultiMargin { .. })
}

/// The reference's `mean`, from the `none` output.
fn expected_mean(loss: &Loss, inp: &In<f64>, none: &ArrayD<f64>) -> f64 {
    let sum: f64 = none.sum();
    let rows = |w: &Option<Vec<f64>>| -> f64 {
        inp.labels.iter().filter(|&&y| y != IGNORE).map(|&y| w.as_ref().map_or(1.0, |w| w[y as usize])).sum()
    };
    match loss {
        // PyTorch: Σ wᵧ·ℓ over the weights of the rows not ignored.
        Loss::Ce { weight, .. } | Loss::Nll { weight } => sum / rows(weight),
        Loss::SoftmaxFocal { .. } => sum / rows(&None),
        // PyTorch: each loss divided by its target length, then the batch mean.
        Loss::Ctc => {
            none.iter().zip(&inp.target_lengths).map(|(&v, &t)| v / t.max(1) as f64).sum::<f64>() / none.len() as f64
        }
        _ => sum / none.len() as f64,
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0) || (a.is_nan() && b.is_nan()) || a == b
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn finite_inputs_give_finite_nonnegative_values_and_gradients(seed in any::<u64>()) {
        for kind in 0..KINDS {
            let (loss, inp) = draw(kind, seed);
            for red in Reduction::ALL {
                let (v, g) = eval(&loss, &inp, red).unwrap_or_else(|e| panic!("{loss:?} {red:?}: {e}"));
                prop_assert!(v.iter().all(|v| v.is_finite()), "{:?} {:?}: value {}", loss, red, v);
                prop_assert!(g.iter().all(|v| v.is_finite()), "{:?} {:?}: gradient {}", loss, red, g);
                if nonnegative(&loss) {
                    prop_assert!(v.iter().all(|&v| v >= -1e-12), "{:?} {:?}: negative {}", loss, red, v);
                }
            }
            if matches!(loss, Loss::KlDiv { .. }) {
                // KL of two distributions is ≥ 0 row by row, not element by element.
                let (v, _) = eval(&loss, &inp, Reduction::Sum).unwrap();
                prop_assert!(v[[]] >= -1e-12, "KL sum {}", v);
            }
        }
    }

    #[test]
    fn none_sums_to_sum_and_mean_divides_by_the_right_count(seed in any::<u64>()) {
        for kind in 0..KINDS {
            let (loss, inp) = draw(kind, seed);
            let (none, g_none) = eval(&loss, &inp, Reduction::None).unwrap();
            let (sum, g_sum) = eval(&loss, &inp, Reduction::Sum).unwrap();
            let (mean, _) = eval(&loss, &inp, Reduction::Mean).unwrap();
            prop_assert!(sum.ndim() == 0 && mean.ndim() == 0, "{:?}: reduced results are scalars", loss);
            prop_assert!(close(none.sum(), sum[[]], F64_REDUCTION_TOL), "{:?}: Σ none {} ≠ sum {}", loss, none.sum(), sum);
            let want = expected_mean(&loss, &inp, &none);
            prop_assert!(close(mean[[]], want, F64_REDUCTION_TOL), "{:?}: mean {} ≠ {}", loss, mean, want);
            // The gradient of the unreduced output is that of its sum.
            for (a, b) in g_none.iter().zip(&g_sum) {
                prop_assert!(close(*a, *b, F64_REDUCTION_TOL), "{:?}: ∂Σnone {} ≠ ∂sum {}", loss, a, b);
            }
        }
    }

    #[test]
    fn f32_agrees_with_f64(seed in any::<u64>()) {
        for kind in 0..KINDS {
            let (loss, inp) = draw(kind, seed);
            // The same (f32-representable) inputs in both types.
            let inp32 = inp.to_f32();
            let inp64 = inp32.to_f64();
            for red in [Reduction::None, Reduction::Mean] {
                let (v32, g32) = eval(&loss, &inp32, red).unwrap();
                let (v64, g64) = eval(&loss, &inp64, red).unwrap();
                for (a, b) in v32.iter().zip(&v64) {
                    prop_assert!(close(f64::from(*a), *b, F32_VALUE_TOL), "{:?} {:?}: f32 {} vs f64 {}", loss, red, a, b);
                }
                for (a, b) in g32.iter().zip(&g64) {
                    prop_assert!(close(f64::from(*a), *b, F32_GRAD_TOL), "{:?} {:?}: f32 ∂ {} vs f64 {}", loss, red, a, b);
                }
            }
        }
    }

    #[test]
    fn gradients_agree_with_central_differences(seed in any::<u64>()) {
        for kind in 0..KINDS {
            let (loss, inp) = draw(kind, seed);
            let (_, grad) = eval(&loss, &inp, Reduction::Sum).unwrap();
            let f = |x: &ArrayD<f64>| eval(&loss, &In { x: x.clone(), ..inp.clone() }, Reduction::Sum).unwrap().0[[]];
            let fd = |i: usize, h: f64| {
                let mut xp = inp.x.clone();
                xp.as_slice_mut().unwrap()[i] += h;
                let mut xm = inp.x.clone();
                xm.as_slice_mut().unwrap()[i] -= h;
                (f(&xp) - f(&xm)) / (2.0 * h)
            };
            let mut checked = 0;
            for (i, &a) in grad.iter().enumerate() {
                let (d1, d2) = (fd(i, 1e-6), fd(i, 2.5e-7));
                if !close(d1, d2, 1e-5) {
                    continue; // a kink within the step: not a point to check
                }
                checked += 1;
                prop_assert!(close(a, d1, FD_TOL), "{:?}: ∂x[{}] analytic {} vs central difference {}", loss, i, a, d1);
            }
            prop_assert!(checked > 0, "{:?}: every coordinate sat on a kink", loss);
        }
    }

    #[test]
    fn softmax_losses_ignore_a_constant_added_to_each_row(seed in any::<u64>(), shift in -40.0f64..40.0) {
        for kind in 0..KINDS {
            let (loss, inp) = draw(kind, seed);
            if !softmax_rows(&loss) {
                continue;
            }
            let mut shifted = inp.clone();
            for (i, mut row) in shifted.x.rows_mut().into_iter().enumerate() {
                row += shift * (1.0 + i as f64 * 0.37);
            }
            let (v, g) = eval(&loss, &inp, Reduction::None).unwrap();
            let (vs, gs) = eval(&loss, &shifted, Reduction::None).unwrap();
            for (a, b) in vs.iter().zip(&v) {
                prop_assert!(close(*a, *b, SHIFT_TOL * 100.0), "{:?}: shifted {} vs {}", loss, a, b);
            }
            for (a, b) in gs.iter().zip(&g) {
                prop_assert!((a - b).abs() <= SHIFT_TOL * 1e3, "{:?}: shifted ∂ {} vs {}", loss, a, b);
            }
        }
    }

    #[test]
    fn an_ignored_or_zero_weight_row_changes_nothing(seed in any::<u64>()) {
        let mut r = Rng::new(seed);
        let n = 2 + r.below(4);
        let c = 2 + r.below(4);
        let x = r.array(&[n, c], -4.0, 4.0);
        let labels: Vec<i64> = (0..n).map(|_| r.below(c) as i64).collect();
        let rest = || (x.slice(ndarray::s![1.., ..]).to_owned().into_dyn(), Array1::from(labels[1..].to_vec()).into_dyn());
        let mut ignored = labels.clone();
        ignored[0] = IGNORE;
        let ignored = Array1::from(ignored).into_dyn();
        let smoothing = r.range(0.0, 0.3);
        let (xr, lr) = rest();
        for red in [Reduction::Sum, Reduction::Mean] {
            // Cross entropy (fused and generic paths), NLL and softmax focal with row 0 ignored.
            let ce = CrossEntropyLoss::new().reduction(red).label_smoothing(smoothing);
            let (v, g) = ce.forward_backward(x.view(), ignored.view()).unwrap();
            let v_rest = ce.forward(xr.view(), lr.view()).unwrap();
            prop_assert!(close(v[[]], v_rest[[]], 1e-12), "CE {:?}: {} vs {}", red, v, v_rest);
            prop_assert!(g.input.index_axis(Axis(0), 0).iter().all(|&d| d == 0.0), "CE: ignored row's gradient {}", g.input);
            let nll = NllLoss::new().reduction(red);
            prop_assert!(close(nll.forward(x.view(), ignored.view()).unwrap()[[]], nll.forward(xr.view(), lr.view()).unwrap()[[]], 1e-12));
            let focal = SoftmaxFocalLoss::new().reduction(red);
            let (fv, fg) = focal.forward_backward(x.view(), ignored.view()).unwrap();
            prop_assert!(close(fv[[]], focal.forward(xr.view(), lr.view()).unwrap()[[]], 1e-12), "focal {:?}", red);
            prop_assert!(fg.input.index_axis(Axis(0), 0).iter().all(|&d| d == 0.0));

            // A class weight of zero on row 0's class only: as if row 0 were absent.
            let y0 = labels[0] as usize;
            if labels[1..].iter().all(|&l| l as usize != y0) {
                let w = Array1::from_shape_fn(c, |k| if k == y0 { 0.0 } else { 0.5 + k as f64 });
                let full = Array1::from(labels.clone()).into_dyn();
                let ce = CrossEntropyLoss::new().reduction(red).weight(w.view());
                let (v, g) = ce.forward_backward(x.view(), full.view()).unwrap();
                let v_rest = ce.forward(xr.view(), lr.view()).unwrap();
                prop_assert!(close(v[[]], v_rest[[]], 1e-12), "CE zero weight {:?}: {} vs {}", red, v, v_rest);
                prop_assert!(g.input.index_axis(Axis(0), 0).iter().all(|&d| d == 0.0), "CE zero weight: row 0's gradient {}", g.input);
                let nll = NllLoss::new().reduction(red).weight(w.view());
                let (v, g) = nll.forward_backward(x.view(), full.view()).unwrap();
                let v_rest = nll.forward(xr.view(), lr.view()).unwrap();
                prop_assert!(close(v[[]], v_rest[[]], 1e-12), "NLL zero weight {:?}: {} vs {}", red, v, v_rest);
                prop_assert!(g.input.index_axis(Axis(0), 0).iter().all(|&d| d == 0.0), "NLL zero weight: row 0's gradient {}", g.input);
            }

            // BCE: an element weight of zero removes the element from `sum`.
            let p = r.array(&[n, c], 0.05, 0.95);
            let t = r.array(&[n, c], 0.0, 1.0);
            let mut w = ArrayD::from_elem(IxDyn(&[n, c]), 1.0);
            w[[0, 0]] = 0.0;
            let (v, g) = BinaryCrossEntropy::new().reduction(Reduction::Sum).weight(w.view()).forward_backward(p.view(), t.view()).unwrap();
            let all = BinaryCrossEntropy::new().reduction(Reduction::None).forward(p.view(), t.view()).unwrap();
            prop_assert!(close(v[[]], all.sum() - all[[0, 0]], 1e-12));
            prop_assert!(g.input[[0, 0]] == 0.0);
        }
    }
}
