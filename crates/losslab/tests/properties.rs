//! Property tests (proptest) over every loss of the library (the 83 entries of
//! `losslab list`, 87 kinds of the harness `common/losses.rs`), each drawn with
//! random shapes, values and hyper-parameters. Where a property does not apply
//! to a loss, the harness's docs say so in a table.
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
//! nothing. For losses with `ignore_index`, `ignore_class`, `where`, `ignore`
//! or weights: an ignored, masked or zero-weight row (item, pixel) changes
//! nothing and receives a zero gradient.
//!
//! Each property runs `PROPTEST_CASES` cases (64 by default, so that `cargo
//! test` stays fast), every case over every loss.

use crate::common;

use common::losses::*;
use common::Rng;
use losslab::*;
use losslab::classification::{KerasSparseCategoricalCrossentropy};
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

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0) || (a.is_nan() && b.is_nan()) || a == b
}

/// CIoU's aspect-ratio term `v = 4/π² (atan(w₂/h₂) − atan(w₁/h₁))²` per box pair.
fn aspect_term(b1: &ArrayD<f64>, b2: &ArrayD<f64>) -> Vec<f64> {
    let ratio = |b: ndarray::ArrayViewD<'_, f64>| ((b[2] - b[0]) / (b[3] - b[1])).atan();
    b1.rows().into_iter().zip(b2.rows()).map(|(a, b)| 4.0 / std::f64::consts::PI.powi(2) * (ratio(b.into_dyn()) - ratio(a.into_dyn())).powi(2)).collect()
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
            let f_loss = |x: &ArrayD<f64>| eval(&loss, &In { x: x.clone(), ..inp.clone() }, Reduction::Sum).unwrap().0[[]];
            // CIoU's α passes no gradient (torchvision computes it under
            // no_grad): its gradient is that of DIoU + α·v with α frozen.
            let ciou_alpha = matches!(loss, Loss::Ciou).then(|| {
                let ciou = eval(&loss, &inp, Reduction::None).unwrap().0;
                let diou = eval(&Loss::Diou, &inp, Reduction::None).unwrap().0;
                let v = aspect_term(&inp.x, &inp.y);
                ciou.iter().zip(&diou).zip(&v).map(|((c, d), v)| if *v > 0.0 { (c - d) / v } else { 0.0 }).collect::<Vec<f64>>()
            });
            let f_xy = |x: &ArrayD<f64>, y: &ArrayD<f64>| match &ciou_alpha {
                Some(alpha) => {
                    let diou = eval(&Loss::Diou, &In { x: x.clone(), y: y.clone(), ..inp.clone() }, Reduction::Sum).unwrap().0[[]];
                    diou + aspect_term(x, y).iter().zip(alpha).map(|(v, a)| a * v).sum::<f64>()
                }
                None => eval(&loss, &In { x: x.clone(), y: y.clone(), ..inp.clone() }, Reduction::Sum).unwrap().0[[]],
            };
            let f = |x: &ArrayD<f64>| if ciou_alpha.is_some() { f_xy(x, &inp.y) } else { f_loss(x) };
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

            // The gradient with respect to the second input (targets, probabilities,
            // positives, boxes2, p), where the library gives one.
            let Some(gy) = eval_xy(&loss, &inp, Reduction::Sum).unwrap().2 else { continue };
            if !target_differentiable(&loss, &inp) {
                continue;
            }
            prop_assert!(gy.shape() == inp.y.shape(), "{:?}: ∂y shape {:?}", loss, gy.shape());
            let fy = |y: &ArrayD<f64>| f_xy(&inp.x, y);
            let fd = |i: usize, h: f64| {
                let mut yp = inp.y.clone();
                yp.as_slice_mut().unwrap()[i] += h;
                let mut ym = inp.y.clone();
                ym.as_slice_mut().unwrap()[i] -= h;
                (fy(&yp) - fy(&ym)) / (2.0 * h)
            };
            for (i, &a) in gy.iter().enumerate() {
                let (d1, d2) = (fd(i, 1e-6), fd(i, 2.5e-7));
                if close(d1, d2, 1e-5) {
                    prop_assert!(close(a, d1, FD_TOL), "{:?}: ∂y[{}] analytic {} vs central difference {}", loss, i, a, d1);
                }
            }
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

    #[test]
    fn masked_and_zero_weight_items_of_the_other_losses_change_nothing(seed in any::<u64>()) {
        let mut r = Rng::new(seed ^ 0x5EED);
        let n = 2 + r.below(4);
        let c = 2 + r.below(4);
        let x = r.array(&[n, c], -4.0, 4.0);
        let labels: Vec<i64> = (0..n).map(|_| r.below(c) as i64).collect();
        let full = Array1::from(labels.clone()).into_dyn();
        let (xr, lr) = (x.slice(ndarray::s![1.., ..]).to_owned().into_dyn(), Array1::from(labels[1..].to_vec()).into_dyn());
        let row0_zero = |g: &ArrayD<f64>| g.index_axis(Axis(0), 0).iter().all(|&d| d == 0.0);
        let sum = Reduction::Sum;

        // Keras's sparse categorical cross entropy: a sample labelled ignore_class gives 0, no gradient.
        for from_logits in [false, true] {
            let p = if from_logits { x.clone() } else { r.simplex(&[n, c]) };
            let pr = p.slice(ndarray::s![1.., ..]).to_owned();
            let mut ignored = full.clone();
            ignored[0] = IGNORE;
            let k = KerasSparseCategoricalCrossentropy::new().from_logits(from_logits).ignore_class(Some(IGNORE));
            let (none, g) = k.clone().forward_backward(ignored.view(), p.view()).unwrap();
            prop_assert!(none[0] == 0.0 && row0_zero(&g.input), "Keras SCCE: ignored sample {} {}", none, g.input);
            let v = k.clone().reduction(sum).forward(ignored.view(), p.view()).unwrap();
            let v_rest = k.reduction(sum).forward(lr.view(), pr.view()).unwrap();
            prop_assert!(close(v[[]], v_rest[[]], 1e-12), "Keras SCCE: {} vs {}", v, v_rest);
        }

        // A zero weight on row 0's class only: multi-margin's class weight, softmax focal's alpha.
        let y0 = labels[0] as usize;
        if labels[1..].iter().all(|&l| l as usize != y0) {
            let w = Array1::from_shape_fn(c, |k| if k == y0 { 0.0 } else { 0.5 + k as f64 });
            let mm = MultiMarginLoss::new().reduction(sum).p(1 + r.below(2) as i64).margin(r.range(0.1, 2.0)).weight(w.view());
            let (v, g) = mm.forward_backward(x.view(), full.view()).unwrap();
            prop_assert!(close(v[[]], mm.forward(xr.view(), lr.view()).unwrap()[[]], 1e-12), "multi-margin zero weight");
            prop_assert!(row0_zero(&g.input), "multi-margin zero weight: row 0's gradient {}", g.input);
            let focal = SoftmaxFocalLoss::new().reduction(sum).gamma(r.range(0.0, 3.0)).alpha(w.view());
            let (v, g) = focal.forward_backward(x.view(), full.view()).unwrap();
            prop_assert!(close(v[[]], focal.forward(xr.view(), lr.view()).unwrap()[[]], 1e-12), "focal zero alpha");
            prop_assert!(row0_zero(&g.input), "focal zero alpha: row 0's gradient {}", g.input);
        }

        // BCE with logits: an element weight of zero removes the element from `sum`.
        let t = r.array(&[n, c], 0.0, 1.0);
        let mut w = ArrayD::from_elem(IxDyn(&[n, c]), 1.0);
        w[[0, 0]] = 0.0;
        let bce = BinaryCrossEntropyWithLogits::new();
        let (v, g) = bce.clone().reduction(sum).weight(w.view()).forward_backward(x.view(), t.view()).unwrap();
        let all = bce.reduction(Reduction::None).forward(x.view(), t.view()).unwrap();
        prop_assert!(close(v[[]], all.sum() - all[[0, 0]], 1e-12), "BCE with logits zero weight");
        prop_assert!(g.input[[0, 0]] == 0.0);

        // optax's ranking softmax: an item outside `where` is as if absent from its list.
        if c >= 3 {
            let rel = r.array(&[n, c], 0.0, 3.0).mapv(f64::floor);
            let mut mask = ArrayD::from_elem(IxDyn(&[n, c]), true);
            mask.index_axis_mut(Axis(1), 0).fill(false);
            for red in [Reduction::Sum, Reduction::Mean] {
                let loss = RankingSoftmaxLoss::new().reduction(red);
                let (v, g) = loss.clone().where_(mask.view()).forward_backward(x.view(), rel.view()).unwrap();
                let rest = |a: &ArrayD<f64>| a.slice(ndarray::s![.., 1..]).to_owned();
                let v_rest = loss.forward(rest(&x).view(), rest(&rel).view()).unwrap();
                prop_assert!(close(v[[]], v_rest[[]], 1e-12), "ranking softmax masked item {:?}: {} vs {}", red, v, v_rest);
                prop_assert!(g.input.index_axis(Axis(1), 0).iter().all(|&d| d == 0.0), "ranking softmax: masked gradient {}", g.input);
            }
        }

        // Lovász: an ignored pixel is as if absent.
        let d = 2 + r.below(3);
        let probas = r.simplex(&[n, d, c]).permuted_axes(IxDyn(&[0, 2, 1])).as_standard_layout().to_owned();
        let pix: ArrayD<i64> = ArrayD::from_shape_fn(IxDyn(&[n, d]), |_| r.below(c) as i64);
        let mut pix_ignored = pix.clone();
        pix_ignored.index_axis_mut(Axis(1), 0).fill(IGNORE);
        let per_image = r.uniform() < 0.5;
        let lov = LovaszSoftmax::new().per_image(per_image).ignore(Some(IGNORE));
        let (v, g) = lov.forward_backward(probas.view(), pix_ignored.view()).unwrap();
        let v_rest = lov
            .forward(probas.slice(ndarray::s![.., .., 1..]).view(), pix.slice(ndarray::s![.., 1..]).view())
            .unwrap();
        prop_assert!(close(v[[]], v_rest[[]], 1e-12), "Lovász ignored pixel: {} vs {}", v, v_rest);
        prop_assert!(g.input.index_axis(Axis(2), 0).iter().all(|&d| d == 0.0), "Lovász: ignored pixel's gradient {}", g.input);
    }
}
