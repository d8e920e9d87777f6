//! CTC losses: gradients by finite differences in f64, a brute-force sum over
//! every path on small cases, the identities (one frame per label ⇒
//! summed NLL; empty target ⇒ all-blank), impossible alignments, long
//! sequences, agreement between the three frameworks' semantics, and error
//! messages. Values against the references are in the golden suite
//! (crates/losslab-cli/tests/golden/ctc.json).

use crate::common;

use common::{assert_close, check_gradient, dot, Rng};
use losslab::{ctc_loss, CtcLoss, Reduction};
use losslab::sequence::{optax_ctc_loss, tf_ctc_loss, OptaxCtcLoss, TfCtcLoss};
use ndarray::{array, Array1, Array2, Array3, ArrayD, Axis, IxDyn};

// ---------------------------------------------------------------------------------------------
// helpers written from the definitions

/// Row-wise log-softmax over the last axis.
fn log_softmax(x: &ArrayD<f64>) -> ArrayD<f64> {
    let mut out = x.clone();
    let last = x.ndim() - 1;
    for mut lane in out.lanes_mut(Axis(last)) {
        let m = lane.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = lane.iter().map(|v| (v - m).exp()).sum();
        lane.mapv_inplace(|v| v - m - s.ln());
    }
    out
}

/// Random `(T, N, C)` logits.
fn logits(rng: &mut Rng, t: usize, n: usize, c: usize, scale: f64) -> ArrayD<f64> {
    rng.array(&[t, n, c], -scale, scale)
}

/// Random labels in `1..c` (blank 0 excluded).
fn labels(rng: &mut Rng, len: usize, c: usize) -> Vec<i64> {
    (0..len).map(|_| 1 + rng.below(c - 1) as i64).collect()
}

/// `(N, S)` padded targets with zeros.
fn pad(seqs: &[Vec<i64>], width: usize) -> Array2<i64> {
    let mut a = Array2::zeros((seqs.len(), width));
    for (b, s) in seqs.iter().enumerate() {
        for (i, &l) in s.iter().enumerate() {
            a[[b, i]] = l;
        }
    }
    a
}

/// CTC by brute force: `−log Σ` over all `C^T` frame paths that collapse to `y`
/// (merge repeats, then drop blanks).
fn brute_force(lp: &[Vec<f64>], y: &[i64], blank: i64) -> f64 {
    let t = lp.len();
    let c = lp.first().map_or(0, Vec::len);
    let mut total = 0.0;
    let mut path = vec![0usize; t];
    loop {
        let mut collapsed = vec![];
        let mut prev = None;
        for &k in &path {
            if Some(k) != prev && k as i64 != blank {
                collapsed.push(k as i64);
            }
            prev = Some(k);
        }
        if collapsed == y {
            total += path.iter().enumerate().map(|(ti, &k)| lp[ti][k]).sum::<f64>().exp();
        }
        // next path (odometer)
        let mut i = 0;
        loop {
            if i == t {
                return -total.ln();
            }
            path[i] += 1;
            if path[i] < c {
                break;
            }
            path[i] = 0;
            i += 1;
        }
    }
}

/// Rows `0..frames` of sequence `b` of a `(T, N, C)` array.
fn rows(lp: &ArrayD<f64>, b: usize, frames: usize) -> Vec<Vec<f64>> {
    (0..frames).map(|t| (0..lp.shape()[2]).map(|k| lp[[t, b, k]]).collect()).collect()
}

/// `[y]` as a `(1, S)` array.
fn row1(y: &[i64]) -> Array2<i64> {
    Array2::from_shape_vec((1, y.len()), y.to_vec()).unwrap()
}

fn scalar(v: f64) -> ArrayD<f64> {
    ArrayD::from_elem(IxDyn(&[]), v)
}

fn upstream(rng: &mut Rng, reduction: Reduction, n: usize) -> ArrayD<f64> {
    match reduction {
        Reduction::None => rng.array(&[n], -1.0, 1.0),
        _ => scalar(0.7),
    }
}

// ---------------------------------------------------------------------------------------------
// PyTorch semantics

/// A batch with repeats, an empty target, a sequence at exactly its minimum
/// number of frames (3 labels, one repeat: 4 frames), and unequal input lengths.
fn torch_batch(rng: &mut Rng) -> (ArrayD<f64>, Array2<i64>, Array1<i64>, Array1<i64>) {
    let lp = log_softmax(&logits(rng, 7, 4, 4, 2.0));
    let targets = pad(&[vec![1, 2, 2], vec![3, 1], vec![], vec![2, 3, 1, 3]], 4);
    (lp, targets, array![4, 7, 5, 6], array![3, 2, 0, 4])
}

#[test]
fn torch_forward_matches_brute_force_over_all_paths() {
    let mut rng = Rng::new(1);
    let (lp, targets, il, tl) = torch_batch(&mut rng);
    let got = CtcLoss::new().reduction(Reduction::None).forward(lp.view(), targets.view(), il.view(), tl.view()).unwrap();
    for b in 0..4 {
        let y: Vec<i64> = targets.row(b).iter().take(tl[b] as usize).copied().collect();
        let want = brute_force(&rows(&lp, b, il[b] as usize), &y, 0);
        assert!((got[[b]] - want).abs() <= 1e-12 * want.abs(), "sequence {b}: {} vs {want}", got[[b]]);
    }
    // A non-zero blank, and log-probabilities that are not normalised.
    let x = logits(&mut rng, 5, 1, 4, 1.0);
    let t = array![[0i64, 3, 3]];
    let got = CtcLoss::new().blank(2).reduction(Reduction::Sum).forward(x.view(), t.view(), array![5].view(), array![3].view()).unwrap();
    let want = brute_force(&rows(&x, 0, 5), &[0, 3, 3], 2);
    assert!((got[[]] - want).abs() <= 1e-12 * want.abs());
}

#[test]
fn torch_gradient_is_pytorchs_exp_log_probs_minus_posterior() {
    // PyTorch returns exp(log_probs) − posterior: the true derivative of the loss
    // with respect to log_probs is −posterior, so grad − g·exp(log_probs) (on the
    // frames inside each input length) must be the finite-difference gradient of
    // the loss itself, normalised inputs or not.
    let mut rng = Rng::new(2);
    let (lp, targets, il, tl) = torch_batch(&mut rng);
    let raw = logits(&mut rng, 7, 4, 4, 1.5); // not normalised
    for x in [lp, raw] {
        for r in Reduction::ALL {
            for zero_infinity in [false, true] {
                let ctc = CtcLoss::new().reduction(r).zero_infinity(zero_infinity);
                let g = upstream(&mut rng, r, 4);
                let grads = ctc.backward(x.view(), targets.view(), il.view(), tl.view(), g.view()).unwrap();
                assert!(grads.target.is_none());
                let mut true_grad = grads.input.clone();
                for b in 0..4 {
                    let gr = match r {
                        Reduction::None => g[[b]],
                        Reduction::Sum => g[[]],
                        Reduction::Mean => g[[]] / 4.0 / (tl[b].max(1) as f64),
                        Reduction::BatchMean => g[[]] / 4.0,
                    };
                    for t in 0..il[b] as usize {
                        for k in 0..4 {
                            true_grad[[t, b, k]] -= gr * x[[t, b, k]].exp();
                        }
                    }
                }
                check_gradient(&format!("ctc {r:?} zi={zero_infinity}"), &x, &true_grad, |x| {
                    dot(&g, &ctc.forward(x.view(), targets.view(), il.view(), tl.view()).unwrap())
                });
            }
        }
    }
}

#[test]
fn torch_gradient_is_the_gradient_through_log_softmax() {
    // f(x) = ctc_loss(log_softmax(x)): ∂f/∂x = softmax − posterior, which is what
    // PyTorch's gradient at log_probs = log_softmax(x) is.
    let mut rng = Rng::new(3);
    let (_, targets, il, tl) = torch_batch(&mut rng);
    let x = logits(&mut rng, 7, 4, 4, 2.0);
    for r in Reduction::ALL {
        let ctc = CtcLoss::new().reduction(r);
        let g = upstream(&mut rng, r, 4);
        let grads = ctc.backward(log_softmax(&x).view(), targets.view(), il.view(), tl.view(), g.view()).unwrap();
        check_gradient(&format!("ctc∘log_softmax {r:?}"), &x, &grads.input, |x| {
            dot(&g, &ctc.forward(log_softmax(x).view(), targets.view(), il.view(), tl.view()).unwrap())
        });
    }
}

#[test]
fn torch_one_frame_per_label_is_the_summed_nll() {
    // T = S, no repeats: the only path is the labels themselves.
    let mut rng = Rng::new(4);
    let lp = log_softmax(&logits(&mut rng, 6, 1, 5, 2.0));
    let y = [1i64, 3, 2, 4, 1, 3];
    let (loss, grads) = CtcLoss::new()
        .reduction(Reduction::Sum)
        .forward_backward(lp.view(), row1(&y).view(), array![6].view(), array![6].view())
        .unwrap();
    let nll: f64 = -y.iter().enumerate().map(|(t, &k)| lp[[t, 0, k as usize]]).sum::<f64>();
    assert!((loss[[]] - nll).abs() <= 1e-13 * nll);
    // The posterior is the one-hot of the path: gradient = softmax − one-hot.
    for (t, &k) in y.iter().enumerate() {
        for c in 0..5 {
            let want = lp[[t, 0, c]].exp() - if c == k as usize { 1.0 } else { 0.0 };
            assert!((grads.input[[t, 0, c]] - want).abs() < 1e-13);
        }
    }
    // With repeats the minimum is S + repeats frames, and the only path puts a
    // blank between the repeats.
    let y = [2i64, 2, 3, 3];
    let lp = log_softmax(&logits(&mut rng, 6, 1, 4, 2.0));
    let loss = ctc_loss(lp.view(), row1(&y).view(), array![6].view(), array![4].view(), Reduction::Sum).unwrap();
    let path = [2usize, 0, 2, 3, 0, 3];
    let nll: f64 = -path.iter().enumerate().map(|(t, &k)| lp[[t, 0, k]]).sum::<f64>();
    assert!((loss[[]] - nll).abs() <= 1e-13 * nll);
}

#[test]
fn torch_empty_target_is_all_blank() {
    let mut rng = Rng::new(5);
    let lp = log_softmax(&logits(&mut rng, 5, 2, 3, 2.0));
    let empty = Array2::<i64>::zeros((2, 0));
    let loss = CtcLoss::new().blank(1).reduction(Reduction::None).forward(lp.view(), empty.view(), array![5, 3].view(), array![0, 0].view()).unwrap();
    for (b, frames) in [(0, 5), (1, 3)] {
        let want: f64 = -(0..frames).map(|t| lp[[t, b, 1]]).sum::<f64>();
        assert!((loss[[b]] - want).abs() <= 1e-14 * want);
    }
    // Mean divides by max(target length, 1): an empty target counts as length 1.
    let mean = CtcLoss::new().blank(1).forward(lp.view(), empty.view(), array![5, 3].view(), array![0, 0].view()).unwrap();
    assert!((mean[[]] - (loss[[0]] + loss[[1]]) / 2.0).abs() < 1e-14);
    // No frames and no labels: the empty path, loss −0.0 as PyTorch gives.
    let z = ctc_loss(lp.view(), empty.view(), array![0, 3].view(), array![0, 0].view(), Reduction::None).unwrap();
    assert_eq!(z[[0]], 0.0);
}

#[test]
fn torch_impossible_alignment_is_infinite_or_zero_with_zero_infinity() {
    let mut rng = Rng::new(6);
    let lp = log_softmax(&logits(&mut rng, 4, 3, 4, 1.0));
    // 3 labels in 2 frames; "1 1" needs 3 frames but has 2; a possible one.
    let targets = pad(&[vec![1, 2, 3], vec![1, 1], vec![2, 3]], 3);
    let (il, tl) = (array![2, 2, 4], array![3, 2, 2]);
    let ctc = CtcLoss::new().reduction(Reduction::None);
    let (loss, grads) = ctc.forward_backward(lp.view(), targets.view(), il.view(), tl.view()).unwrap();
    assert_eq!(loss[[0]], f64::INFINITY);
    assert_eq!(loss[[1]], f64::INFINITY);
    assert!(loss[[2]].is_finite());
    // As PyTorch: NaN gradient on the impossible sequences' frames, 0 past their lengths.
    assert!(grads.input[[0, 0, 0]].is_nan() && grads.input[[1, 1, 3]].is_nan());
    assert_eq!(grads.input[[2, 0, 0]], 0.0);
    let zi = ctc.clone().zero_infinity(true);
    let (loss0, grads0) = zi.forward_backward(lp.view(), targets.view(), il.view(), tl.view()).unwrap();
    assert_eq!((loss0[[0]], loss0[[1]], loss0[[2]]), (0.0, 0.0, loss[[2]]));
    for t in 0..4 {
        for k in 0..4 {
            assert_eq!(grads0.input[[t, 0, k]], 0.0);
            assert_eq!(grads0.input[[t, 1, k]], 0.0);
            assert_eq!(grads0.input[[t, 2, k]], grads.input[[t, 2, k]]);
        }
    }
    // Labels but no frames.
    let v = ctc.forward(lp.view(), targets.view(), array![0, 4, 4].view(), tl.view()).unwrap();
    assert_eq!(v[[0]], f64::INFINITY);
}

#[test]
fn torch_reductions_padded_concatenated_and_unbatched_agree() {
    let mut rng = Rng::new(7);
    let (lp, targets, il, tl) = torch_batch(&mut rng);
    let none = CtcLoss::new().reduction(Reduction::None).forward(lp.view(), targets.view(), il.view(), tl.view()).unwrap();
    let red = |r| CtcLoss::new().reduction(r).forward(lp.view(), targets.view(), il.view(), tl.view()).unwrap()[[]];
    let sum: f64 = none.iter().sum();
    let mean: f64 = none.iter().zip(tl.iter()).map(|(l, &n)| l / n.max(1) as f64).sum::<f64>() / 4.0;
    assert!((red(Reduction::Sum) - sum).abs() < 1e-13 * sum);
    assert!((red(Reduction::Mean) - mean).abs() < 1e-13 * mean);
    assert!((red(Reduction::BatchMean) - sum / 4.0).abs() < 1e-13 * sum);
    // Concatenated targets.
    let cat: Vec<i64> = (0..4).flat_map(|b| targets.row(b).iter().take(tl[b] as usize).copied().collect::<Vec<_>>()).collect();
    let cat = Array1::from(cat);
    let ctc = CtcLoss::new().reduction(Reduction::None);
    let (v2, g2) = ctc.forward_backward(lp.view(), cat.view(), il.view(), tl.view()).unwrap();
    let (_, g1) = ctc.forward_backward(lp.view(), targets.view(), il.view(), tl.view()).unwrap();
    assert_eq!(v2, none);
    assert_eq!(g2.input, g1.input);
    // Unbatched (T, C) with 0-d lengths: the batched result squeezed.
    let one = lp.index_axis(Axis(1), 1).to_owned();
    let (u, gu) = ctc
        .forward_backward(one.view(), array![3i64, 1].view(), ndarray::arr0(7i64).view(), ndarray::arr0(2i64).view())
        .unwrap();
    assert_eq!(u.shape(), &[] as &[usize]);
    assert_eq!(u[[]], none[[1]]);
    assert_eq!(gu.input, g1.input.index_axis(Axis(1), 1).to_owned());
    // Padding past the target lengths is never read.
    let mut garbage = targets.clone();
    garbage[[1, 3]] = -7;
    garbage[[2, 0]] = 99;
    assert_eq!(ctc.forward(lp.view(), garbage.view(), il.view(), tl.view()).unwrap(), none);
}

#[test]
fn torch_f32_agrees_with_f64() {
    let mut rng = Rng::new(8);
    let (lp, targets, il, tl) = torch_batch(&mut rng);
    let lp32 = lp.mapv(|v| v as f32);
    let lp64 = lp32.mapv(f64::from);
    for r in Reduction::ALL {
        let ctc = CtcLoss::new().reduction(r);
        let (a, ga) = ctc.forward_backward(lp32.view(), targets.view(), il.view(), tl.view()).unwrap();
        let (b, gb) = ctc.forward_backward(lp64.view(), targets.view(), il.view(), tl.view()).unwrap();
        assert_close("f32 value", &a.mapv(f64::from), &b, 1e-6);
        for (x, y) in ga.input.iter().zip(gb.input.iter()) {
            assert!((f64::from(*x) - y).abs() <= 1e-6 * y.abs().max(1e-2));
        }
    }
}

/// Logits that favour one valid alignment of `y` over `t ≥ 2·len(y)` frames:
/// label `i` at frame `i·⌊t/len(y)⌋`, blanks everywhere else (so repeats are
/// separated), so that even a long sequence has a moderate loss.
fn peaked_logits(rng: &mut Rng, t: usize, c: usize, y: &[i64]) -> ArrayD<f64> {
    let mut x = logits(rng, t, 1, c, 1.0);
    let stride = t / y.len();
    assert!(stride >= 2);
    for f in 0..t {
        let k = if f % stride == 0 && f / stride < y.len() { y[f / stride] as usize } else { 0 };
        x[[f, 0, k]] += 6.0;
    }
    x
}

#[test]
fn long_sequences_run_and_the_three_semantics_agree() {
    // T = 2000 frames, S = 500 labels (1001 states): no cap, and a brute-force-free check.
    let mut rng = Rng::new(9);
    let (t, c, s) = (2000, 8, 500);
    let y = labels(&mut rng, s, c);
    let x = peaked_logits(&mut rng, t, c, &y);
    let lp = log_softmax(&x);
    let targets = Array2::from_shape_vec((1, s), y.clone()).unwrap();
    let (loss, grads) = CtcLoss::new()
        .reduction(Reduction::Sum)
        .forward_backward(lp.view(), targets.view(), array![t as i64].view(), array![s as i64].view())
        .unwrap();
    let l = loss[[]];
    assert!(l.is_finite() && l > 0.0 && l < 600.0, "loss {l}");
    // The posterior of every frame sums to 1, so each frame's gradient sums to 0.
    for ti in 0..t {
        let row: f64 = (0..c).map(|k| grads.input[[ti, 0, k]]).sum();
        assert!(row.abs() < 1e-9, "frame {ti}: gradient sums to {row}");
    }
    // TensorFlow (on the logits) and optax (batch-major, no padding) agree.
    let ys = Array2::from_shape_vec((1, s), y).unwrap();
    let (tf, tfg) = TfCtcLoss::new()
        .forward_backward(ys.view(), x.view(), array![s as i64].view(), array![t as i64].view())
        .unwrap();
    assert!((tf[[0]] - l).abs() <= 1e-11 * l, "tf {} vs torch {l}", tf[[0]]);
    let xb = x.clone().permuted_axes(vec![1, 0, 2]).as_standard_layout().to_owned();
    let (ox, oxg) = OptaxCtcLoss::new()
        .forward_backward(xb.view(), Array2::<f64>::zeros((1, t)).view(), ys.view(), Array2::<f64>::zeros((1, s)).view())
        .unwrap();
    assert!((ox[[0]] - l).abs() <= 1e-11 * l, "optax {} vs torch {l}", ox[[0]]);
    for ti in (0..t).step_by(97) {
        for k in 0..c {
            let want = grads.input[[ti, 0, k]];
            assert!((tfg.input[[ti, 0, k]] - want).abs() < 1e-9);
            assert!((oxg.input[[0, ti, k]] - want).abs() < 1e-9);
        }
    }
}

#[test]
fn torch_errors_are_pinned() {
    let lp = ArrayD::<f64>::from_elem(IxDyn(&[4, 2, 3]), -(3f64.ln()));
    let t = array![[1i64, 2], [2, 0]];
    let ctc = CtcLoss::new();
    let err = |t: ndarray::ArrayView2<'_, i64>, il: Array1<i64>, tl: Array1<i64>| {
        ctc.forward(lp.view(), t, il.view(), tl.view()).unwrap_err().to_string()
    };
    assert_eq!(
        err(t.view(), array![5, 4], array![2, 1]),
        "ctc_loss: `input_lengths` holds 5 at position [0], expected a length at most T, the size of `log_probs`'s time axis"
    );
    assert_eq!(err(t.view(), array![4, -1], array![2, 1]), "ctc_loss: `input_lengths` holds -1 at position [1], expected a length ≥ 0");
    assert_eq!(
        err(t.view(), array![4, 4], array![3, 1]),
        "ctc_loss: `target_lengths` holds 3 at position [0], expected a length at most S, the size of the padded `targets`'s second axis"
    );
    assert_eq!(
        err(array![[1i64, 0], [2, 0]].view(), array![4, 4], array![2, 1]),
        "ctc_loss: `targets` holds 0 at position [0, 1], expected a label other than the blank (the blank is implied between labels, never a target)"
    );
    assert_eq!(
        err(array![[1i64, 3], [2, 0]].view(), array![4, 4], array![2, 1]),
        "ctc_loss: `targets` holds class index 3 at position [0, 1], outside the valid range [0, 3)"
    );
    assert_eq!(
        err(t.view(), array![4, 4, 4], array![2, 1]),
        "ctc_loss: `input_lengths` has shape [3], expected [2] (one length per sequence: N = 2)"
    );
    assert_eq!(
        ctc.forward(lp.view(), array![1i64, 2].view(), array![4, 4].view(), array![2, 1].view()).unwrap_err().to_string(),
        "ctc_loss: `targets` has shape [2], expected [3] (Σ target_lengths, concatenated)"
    );
    assert_eq!(
        CtcLoss::new().blank(3).forward(lp.view(), t.view(), array![4, 4].view(), array![2, 1].view()).unwrap_err().to_string(),
        "ctc_loss: option `blank` = 3 is invalid: expected a class index in [0, 3) (C = the size of `log_probs`'s class axis)"
    );
    let flat = Array1::<f64>::zeros(3);
    assert_eq!(
        ctc.forward(flat.view(), t.view(), array![4, 4].view(), array![2, 1].view()).unwrap_err().to_string(),
        "ctc_loss: `log_probs` has shape [3], expected (T, N, C) or (T, C)"
    );
    let empty = Array3::<f64>::zeros((0, 2, 3));
    assert!(ctc.forward(empty.view(), t.view(), array![0, 0].view(), array![0, 0].view()).is_err());
    let g = ArrayD::<f64>::zeros(IxDyn(&[2]));
    assert!(ctc.backward(lp.view(), t.view(), array![4, 4].view(), array![2, 1].view(), g.view()).is_err());
}

// ---------------------------------------------------------------------------------------------
// TensorFlow semantics

#[test]
fn tf_gradient_matches_finite_differences_and_equals_torch_on_log_softmax() {
    let mut rng = Rng::new(10);
    let x = logits(&mut rng, 7, 3, 5, 2.0);
    let seqs = [vec![1, 2, 2], vec![4, 1], vec![]];
    let labels = pad(&seqs, 3);
    let (ll, gl) = (array![3i64, 2, 0], array![7i64, 5, 4]);
    for r in Reduction::ALL {
        let tf = TfCtcLoss::new().reduction(r);
        let g = upstream(&mut rng, r, 3);
        let grads = tf.backward(labels.view(), x.view(), ll.view(), gl.view(), g.view()).unwrap();
        check_gradient(&format!("tf {r:?}"), &x, &grads.input, |x| dot(&g, &tf.forward(labels.view(), x.view(), ll.view(), gl.view()).unwrap()));
    }
    // Per-sequence loss and gradient: PyTorch's on log_softmax(logits).
    let tf = TfCtcLoss::new();
    let (v, g) = tf.forward_backward(labels.view(), x.view(), ll.view(), gl.view()).unwrap();
    let torch = CtcLoss::new().reduction(Reduction::None);
    let (tv, tg) = torch.forward_backward(log_softmax(&x).view(), labels.view(), gl.view(), ll.view()).unwrap();
    assert_close("tf vs torch", &v, &tv, 1e-13);
    for (a, b) in g.input.iter().zip(tg.input.iter()) {
        assert!((a - b).abs() < 1e-13);
    }
}

#[test]
fn tf_batch_major_and_blank_index_are_permutations() {
    let mut rng = Rng::new(11);
    let x = logits(&mut rng, 6, 2, 4, 2.0);
    let labels = array![[1i64, 3, 3], [2, 1, 0]];
    let (ll, gl) = (array![3i64, 2], array![6i64, 5]);
    let base = TfCtcLoss::new();
    let (v, g) = base.forward_backward(labels.view(), x.view(), ll.view(), gl.view()).unwrap();
    // Batch-major.
    let xb = x.clone().permuted_axes(vec![1, 0, 2]).as_standard_layout().to_owned();
    let (vb, gb) = base.clone().logits_time_major(false).forward_backward(labels.view(), xb.view(), ll.view(), gl.view()).unwrap();
    assert_eq!(vb, v);
    assert_eq!(gb.input.permuted_axes(vec![1, 0, 2]), g.input);
    // The blank moved to the last class (blank_index = −1): the same loss with
    // the classes rotated and the labels shifted down by one.
    let mut xr = x.clone();
    for t in 0..6 {
        for b in 0..2 {
            for k in 0..4 {
                xr[[t, b, (k + 3) % 4]] = x[[t, b, k]];
            }
        }
    }
    let lr = labels.mapv(|l| l - 1);
    let (vr, gr) = base.clone().blank_index(-1).forward_backward(lr.view(), xr.view(), ll.view(), gl.view()).unwrap();
    assert_close("blank_index=-1", &vr, &v, 1e-14);
    for t in 0..6 {
        for b in 0..2 {
            for k in 0..4 {
                assert!((gr.input[[t, b, (k + 3) % 4]] - g.input[[t, b, k]]).abs() < 1e-15);
            }
        }
    }
}

#[test]
fn tf_identities_and_impossible_alignments() {
    let mut rng = Rng::new(12);
    let x = logits(&mut rng, 4, 1, 5, 2.0);
    let lp = log_softmax(&x);
    // One frame per label: the summed NLL.
    let y = [3i64, 1, 4, 2];
    let v = tf_ctc_loss(row1(&y).view(), x.view(), array![4].view(), array![4].view()).unwrap();
    let nll: f64 = -y.iter().enumerate().map(|(t, &k)| lp[[t, 0, k as usize]]).sum::<f64>();
    assert!((v[[0]] - nll).abs() < 1e-13 * nll);
    // Empty labels: all blank.
    let v = tf_ctc_loss(array![[2i64, 0]].view(), x.view(), array![0].view(), array![3].view()).unwrap();
    let blanks: f64 = -(0..3).map(|t| lp[[t, 0, 0]]).sum::<f64>();
    assert!((v[[0]] - blanks).abs() < 1e-13 * blanks);
    // Impossible: TensorFlow's log_0 = float32(ln 1e-307) makes it large but finite.
    let (v, g) = TfCtcLoss::new().forward_backward(array![[1i64, 2, 3]].view(), x.view(), array![3].view(), array![2].view()).unwrap();
    assert!(v[[0]].is_finite() && v[[0]] > 706.0, "{}", v[[0]]);
    assert!(g.input.iter().all(|v| v.is_finite()));
    // No frames and no labels: loss 0; no frames with labels: −log_0.
    let v = tf_ctc_loss(array![[0i64], [1]].view(), logits(&mut rng, 2, 2, 3, 1.0).view(), array![0, 1].view(), array![0, 0].view()).unwrap();
    assert_eq!(v[[0]], 0.0);
    assert!((v[[1]] - 706.893_615_722_656_2).abs() < 1e-12);
}

#[test]
fn tf_errors_are_pinned() {
    let x = ArrayD::<f64>::zeros(IxDyn(&[4, 2, 3]));
    let labels = array![[1i64, 2], [2, 0]];
    let tf = TfCtcLoss::new();
    assert_eq!(
        tf.clone().blank_index(3).forward(labels.view(), x.view(), array![2, 1].view(), array![4, 4].view()).unwrap_err().to_string(),
        "ctc_loss: option `blank_index` = 3 is invalid: expected a class index in [-3, 3) (C = the size of `logits`'s class axis)"
    );
    assert_eq!(
        tf.forward(labels.view(), x.view(), array![2, 1].view(), array![5, 4].view()).unwrap_err().to_string(),
        "ctc_loss: `logit_length` holds 5 at position [0], expected a length at most T, the number of frames in `logits`"
    );
    assert_eq!(
        tf.forward(array![[1i64, 2, 0]].view(), x.view(), array![2].view(), array![4].view()).unwrap_err().to_string(),
        "ctc_loss: `labels` has shape [1, 3], expected [2, S] (N = 2 padded label sequences)"
    );
    assert!(tf.forward(array![[1i64, 0], [2, 0]].view(), x.view(), array![2, 1].view(), array![4, 4].view()).is_err());
}

// ---------------------------------------------------------------------------------------------
// optax semantics

#[test]
fn optax_gradient_matches_finite_differences() {
    let mut rng = Rng::new(13);
    let x = rng.array(&[3, 7, 4], -2.0, 2.0);
    let labels = array![[1i64, 2, 2], [3, 1, 0], [0, 0, 0]];
    let lpads = array![[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]];
    let mut fpads = Array2::<f64>::zeros((3, 7));
    fpads[[1, 6]] = 1.0;
    fpads[[2, 2]] = 1.0; // a padded frame in the middle carries the state over
    fpads[[2, 3]] = 1.0;
    for r in Reduction::ALL {
        for (blank, eps) in [(0, -1e5), (3, -1e5), (0, -20.0)] {
            let labels = if blank == 3 { labels.mapv(|l| if l == 3 { 2 } else { l }) } else { labels.clone() };
            let ox = OptaxCtcLoss::new().reduction(r).blank_id(blank).log_epsilon(eps);
            let g = upstream(&mut rng, r, 3);
            let grads = ox.backward(x.view(), fpads.view(), labels.view(), lpads.view(), g.view()).unwrap();
            check_gradient(&format!("optax {r:?} blank={blank} eps={eps}"), &x, &grads.input, |x| {
                dot(&g, &ox.forward(x.view(), fpads.view(), labels.view(), lpads.view()).unwrap())
            });
        }
    }
}

#[test]
fn optax_agrees_with_torch_and_its_epsilon_shows_on_impossible_alignments() {
    let mut rng = Rng::new(14);
    let x = rng.array(&[2, 6, 4], -2.0, 2.0);
    let labels = array![[1i64, 2, 2], [3, 1, 0]];
    let lpads = array![[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
    let mut fpads = Array2::<f64>::zeros((2, 6));
    fpads[[1, 5]] = 1.0;
    let (v, g) = OptaxCtcLoss::new().forward_backward(x.view(), fpads.view(), labels.view(), lpads.view()).unwrap();
    let xt = x.clone().permuted_axes(vec![1, 0, 2]).as_standard_layout().to_owned();
    let torch = CtcLoss::new().reduction(Reduction::None);
    let (tv, tg) = torch.forward_backward(log_softmax(&xt).view(), labels.view(), array![6i64, 5].view(), array![3i64, 2].view()).unwrap();
    assert_close("optax vs torch", &v, &tv, 1e-13);
    for (a, b) in g.input.iter().zip(tg.input.permuted_axes(vec![1, 0, 2]).iter()) {
        assert!((a - b).abs() < 1e-13);
    }
    // Impossible: 3 labels with a repeat in 3 frames costs about one log_epsilon.
    let few = array![[0.0, 0.0, 0.0, 1.0, 1.0, 1.0], [0.0; 6]];
    let v = optax_ctc_loss(x.view(), few.view(), labels.view(), lpads.view()).unwrap();
    assert!(v[[0]] > 1e5 && v[[0]] < 1e5 + 100.0, "{}", v[[0]]);
    // One frame per label; empty labels.
    let lp = log_softmax(&x);
    let y = array![[1i64, 3, 2, 1, 3, 2]];
    let v = optax_ctc_loss(x.slice(ndarray::s![0..1, .., ..]).view(), Array2::<f64>::zeros((1, 6)).view(), y.view(), Array2::<f64>::zeros((1, 6)).view()).unwrap();
    let nll: f64 = -(0..6).map(|t| lp[[0, t, y[[0, t]] as usize]]).sum::<f64>();
    assert!((v[[0]] - nll).abs() < 1e-12 * nll);
    let none = Array2::<i64>::zeros((2, 0));
    let v = optax_ctc_loss(x.view(), fpads.view(), none.view(), Array2::<f64>::zeros((2, 0)).view()).unwrap();
    let blanks: f64 = -(0..6).map(|t| lp[[0, t, 0]]).sum::<f64>();
    assert!((v[[0]] - blanks).abs() < 1e-12 * blanks);
}

#[test]
fn optax_errors_are_pinned() {
    let x = ArrayD::<f64>::zeros(IxDyn(&[2, 4, 3]));
    let f = Array2::<f64>::zeros((2, 4));
    let labels = array![[1i64, 2], [2, 1]];
    let ox = OptaxCtcLoss::new();
    assert_eq!(
        ox.forward(x.view(), f.view(), labels.view(), array![[0.0, 0.5], [0.0, 0.0]].view()).unwrap_err().to_string(),
        "ctc_loss: `label_paddings` holds 0.5 at position [0, 1], expected 0 (data) or 1 (padding)"
    );
    assert_eq!(
        ox.forward(x.view(), f.view(), labels.view(), array![[1.0, 0.0], [0.0, 0.0]].view()).unwrap_err().to_string(),
        "ctc_loss: `label_paddings` holds 1 at position [0, 0], expected right padding: zeros, then ones (optax requires it)"
    );
    assert_eq!(
        ox.forward(x.view(), f.view(), array![[1i64, 3], [2, 1]].view(), Array2::<f64>::zeros((2, 2)).view()).unwrap_err().to_string(),
        "ctc_loss: `labels` holds class index 3 at position [0, 1], outside the valid range [0, 3)"
    );
    // A padded label may be anything.
    assert!(ox.forward(x.view(), f.view(), array![[1i64, 3], [2, 1]].view(), array![[0.0, 1.0], [0.0, 0.0]].view()).is_ok());
    assert_eq!(
        ox.forward(x.view(), Array2::<f64>::zeros((2, 3)).view(), labels.view(), Array2::<f64>::zeros((2, 2)).view()).unwrap_err().to_string(),
        "ctc_loss: `logit_paddings` has shape [2, 3], expected [2, 4] (the shape of `logits` without its class axis)"
    );
}

// ---------------------------------------------------------------------------------------------
// The RNN transducer (torchaudio's rnnt_loss); golden cases: the registry's transducer.json.

mod rnnt {
    use losslab::{LossError, Reduction, RnntLoss};
    use ndarray::{array, Array1, Array2, Array4};

    fn logits(n: usize, t: usize, u1: usize, c: usize) -> Array4<f64> {
        Array4::from_shape_fn((n, t, u1, c), |(b, i, j, k)| (((b * 7 + i * 5 + j * 3 + k * 11) % 13) as f64 - 6.0) / 3.0)
    }

    #[test]
    fn without_labels_the_only_path_emits_a_blank_per_frame() {
        let x = logits(1, 4, 1, 3);
        let l = RnntLoss::new().forward(x.view(), Array2::<i64>::zeros((1, 0)).view(), array![4i64].view(), array![0i64].view()).unwrap();
        let mut want = 0.0;
        for t in 0..4usize {
            let row = x.slice(ndarray::s![0usize, t, 0usize, ..]);
            let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
            want -= row[2] - lse;
        }
        assert!((l[[]] - want).abs() < 1e-13, "{} vs {want}", l[[]]);
    }

    #[test]
    fn the_same_bits_whatever_the_thread_count() {
        // Sequences are computed in parallel, each into its own block of the gradient.
        // 16 × 20 × 6 × 20 logits: above the size at which work goes to rayon's threads.
        let x = logits(16, 20, 6, 20);
        let targets = Array2::from_shape_fn((16, 5), |(b, i)| ((b + i) % 19) as i64);
        let tl = Array1::from_shape_fn(16, |b| [20i64, 13, 1, 20, 7][b % 5]);
        let ul = Array1::from_shape_fn(16, |b| [5i64, 0, 3, 2, 5, 1][b % 6]);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| RnntLoss::new().reduction(Reduction::None).forward_backward(x.view(), targets.view(), tl.view(), ul.view()).unwrap())
        };
        let (v1, g1) = run(1);
        for threads in [2, 3, 8] {
            let (v, g) = run(threads);
            assert_eq!(v.mapv(f64::to_bits), v1.mapv(f64::to_bits), "{threads} threads");
            assert_eq!(g.input.mapv(f64::to_bits), g1.input.mapv(f64::to_bits), "{threads} threads");
        }
        // The forward alone (which no longer computes α) gives the same values.
        let v = RnntLoss::new().reduction(Reduction::None).forward(x.view(), targets.view(), tl.view(), ul.view()).unwrap();
        assert_eq!(v.mapv(f64::to_bits), v1.mapv(f64::to_bits));
    }

    #[test]
    fn f32_agrees_with_f64_and_gradients_vanish_past_the_lengths() {
        let x = logits(2, 5, 4, 6);
        let targets = array![[1i64, 2, 3], [4, 0, 0]];
        let (tl, ul) = (array![5i64, 3], array![3i64, 1]);
        let loss = RnntLoss::new().reduction(Reduction::Sum);
        let (v64, g64) = loss.forward_backward(x.view(), targets.view(), tl.view(), ul.view()).unwrap();
        let x32 = x.mapv(|v| v as f32);
        let (v32, g32) = loss.forward_backward(x32.view(), targets.view(), tl.view(), ul.view()).unwrap();
        assert!((f64::from(v32[[]]) - v64[[]]).abs() < 1e-5 * v64[[]].abs());
        for (a, b) in g32.input.iter().zip(g64.input.iter()) {
            assert!((f64::from(*a) - b).abs() < 1e-6);
        }
        // Sequence 1 has 3 frames and 1 label: nothing past them.
        let g = g64.input.into_dimensionality::<ndarray::Ix4>().unwrap();
        assert!(g.slice(ndarray::s![1usize, 3usize.., .., ..]).iter().all(|&v| v == 0.0));
        assert!(g.slice(ndarray::s![1usize, .., 2usize.., ..]).iter().all(|&v| v == 0.0));
        // Through the fused log-softmax each node's gradient sums to 0 over the classes.
        for t in 0..5usize {
            for u in 0..4usize {
                assert!(g.slice(ndarray::s![0usize, t, u, ..]).sum().abs() < 1e-12);
            }
        }
    }

    #[test]
    fn a_long_lattice_stays_finite() {
        let (t, u, c) = (400, 120, 8);
        let x = Array4::from_shape_fn((1, t, u + 1, c), |(_, i, j, k)| ((i * 31 + j * 17 + k * 7) % 19) as f64 / 2.0 - 4.0);
        let targets = Array2::from_shape_fn((1, u), |(_, j)| (j % 7) as i64);
        let (v, g) = RnntLoss::new().forward_backward(x.view(), targets.view(), array![t as i64].view(), array![u as i64].view()).unwrap();
        assert!(v[[]].is_finite() && v[[]] > 0.0);
        assert!(g.input.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn errors_name_the_problem() {
        let x = logits(2, 3, 3, 4);
        let targets = array![[1i64, 2], [0, 0]];
        let ok = (array![3i64, 2], array![2i64, 1]);
        let msg = |r: losslab::Result<ndarray::ArrayD<f64>>| r.unwrap_err().to_string();
        let loss = RnntLoss::new();
        assert_eq!(
            msg(loss.forward(x.view(), array![[1i64, 9], [0, 0]].view(), ok.0.view(), ok.1.view())),
            "rnnt_loss: `targets` holds class index 9 at position [0, 1], outside the valid range [0, 4)"
        );
        let e = loss.forward(x.view(), targets.view(), array![3i64, 0].view(), ok.1.view()).unwrap_err();
        assert!(matches!(e, LossError::Domain { .. }) && e.to_string().contains("a length ≥ 1"), "{e}");
        assert!(msg(loss.forward(x.view(), targets.view(), array![2i64, 2].view(), ok.1.view())).contains("input length mismatch"));
        assert!(msg(loss.forward(x.view(), targets.view(), ok.0.view(), array![1i64, 1].view())).contains("output length mismatch"));
        assert!(msg(RnntLoss::new().blank(4).forward(x.view(), targets.view(), ok.0.view(), ok.1.view())).contains("option `blank` = 4"));
        assert!(msg(RnntLoss::new().clamp(f64::NAN).forward(x.view(), targets.view(), ok.0.view(), ok.1.view())).contains("clamp"));
        let x3 = Array1::<f64>::zeros(4).into_shape_with_order((1, 1, 4)).unwrap();
        assert!(msg(loss.forward(x3.view(), targets.view(), ok.0.view(), ok.1.view())).contains("(N, T, U + 1, C)"));
    }
}

// ---------------------------------------------------------------------------------------------
// The chain kernel (contiguous, finite inputs) against the general path (strided views)

mod chain_kernel {
    use super::*;
    use losslab::sequence::KerasCtc;
    use ndarray::{ArrayViewD, Slice};

    /// `x` spread over every other element of a last axis twice as long (the
    /// gaps NaN, never read): [`strided`] of it is a non-contiguous view of
    /// `x`'s values, the general path's input.
    fn spread<T: Copy + num_traits::Float>(x: &ArrayD<T>) -> ArrayD<T> {
        let mut shape = x.shape().to_vec();
        let last = shape.len() - 1;
        shape[last] *= 2;
        let mut big = ArrayD::from_elem(IxDyn(&shape), T::nan());
        big.slice_each_axis_mut(|ax| if ax.axis.index() == last { Slice::new(0, None, 2) } else { Slice::from(..) }).assign(x);
        big
    }

    /// The view of `x`'s values inside [`spread`]'s array.
    fn strided<T>(big: &ArrayD<T>) -> ArrayViewD<'_, T> {
        let last = big.ndim() - 1;
        big.slice_each_axis(|ax| if ax.axis.index() == last { Slice::new(0, None, 2) } else { Slice::from(..) })
    }

    /// Equal within `tol · max(1, |b|)`; NaN where the other is NaN, infinities equal.
    fn close(name: &str, a: &ArrayD<f64>, b: &ArrayD<f64>, tol: f64) {
        assert_eq!(a.shape(), b.shape(), "{name}: shape");
        for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
            let ok = if x.is_finite() && y.is_finite() { (x - y).abs() <= tol * y.abs().max(1.0) } else { x.is_nan() && y.is_nan() || x == y };
            assert!(ok, "{name}: element {i}: {x} vs {y}");
        }
    }

    /// Runs `f` on rayon pools of 1, 2 and 3 threads: the same bits on each.
    fn same_bits_on_any_thread_count(name: &str, f: impl Fn() -> (ArrayD<f64>, ArrayD<f64>) + Send + Sync) {
        let run = |threads: usize| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(&f);
        let (v1, g1) = run(1);
        for threads in [2, 3] {
            let (v, g) = run(threads);
            assert_eq!(v.mapv(f64::to_bits), v1.mapv(f64::to_bits), "{name}: value, {threads} threads");
            assert_eq!(g.mapv(f64::to_bits), g1.mapv(f64::to_bits), "{name}: gradient, {threads} threads");
        }
    }

    /// A PyTorch batch with every case: repeats, an empty target, a sequence
    /// at its minimum number of frames, one that cannot be aligned (3 labels
    /// with a repeat in 3 frames), input lengths 0 with and without labels.
    fn torch_cases(rng: &mut Rng) -> (ArrayD<f64>, Array2<i64>, Array1<i64>, Array1<i64>) {
        let lp = log_softmax(&logits(rng, 9, 7, 5, 3.0));
        let targets = pad(&[vec![1, 2, 2], vec![3, 1], vec![], vec![2, 3, 1, 3], vec![4, 4, 1], vec![], vec![2]], 4);
        (lp, targets, array![4, 9, 5, 8, 3, 0, 0], array![3, 2, 0, 4, 3, 0, 1])
    }

    #[test]
    fn torch_equals_the_general_path() {
        let mut rng = Rng::new(31);
        let (lp, targets, il, tl) = torch_cases(&mut rng);
        // Unnormalised log-probabilities (PyTorch's gradient keeps exp(log_probs) as is) too.
        let raw = logits(&mut rng, 9, 7, 5, 3.0);
        for x in [&lp, &raw] {
            let big = spread(x);
            for r in Reduction::ALL {
                for zi in [false, true] {
                    let ctc = CtcLoss::new().reduction(r).zero_infinity(zi);
                    let up = upstream(&mut rng, r, 7);
                    let (v, g) = ctc.forward_backward(x.view(), targets.view(), il.view(), tl.view()).unwrap();
                    let (vs, gs) = ctc.forward_backward(strided(&big), targets.view(), il.view(), tl.view()).unwrap();
                    let name = format!("{r:?} zero_infinity={zi}");
                    close(&format!("{name} value"), &v, &vs, 1e-13);
                    close(&format!("{name} gradient"), &g.input, &gs.input, 1e-12);
                    close(&format!("{name} forward"), &ctc.forward(x.view(), targets.view(), il.view(), tl.view()).unwrap(), &vs, 1e-13);
                    let gb = ctc.backward(x.view(), targets.view(), il.view(), tl.view(), up.view()).unwrap();
                    let gbs = ctc.backward(strided(&big), targets.view(), il.view(), tl.view(), up.view()).unwrap();
                    close(&format!("{name} backward"), &gb.input, &gbs.input, 1e-12);
                }
            }
        }
        // Impossible alignments: +∞ and NaN rows, or 0 with zero_infinity; empty input and target: −0.
        let none = CtcLoss::new().reduction(Reduction::None);
        let (v, g) = none.forward_backward(lp.view(), targets.view(), il.view(), tl.view()).unwrap();
        assert_eq!(v[[4]], f64::INFINITY);
        assert_eq!(v[[6]], f64::INFINITY);
        assert_eq!(v[[5]].to_bits(), (-0.0f64).to_bits());
        assert!((0..3).all(|t| (0..5).all(|k| g.input[[t, 4, k]].is_nan())) && (3..9).all(|t| g.input[[t, 4, 0]] == 0.0));
        assert!((0..9).all(|t| g.input[[t, 6, 0]] == 0.0 && g.input[[t, 5, 0]] == 0.0));
        // Unbatched (T, C).
        let x1 = lp.index_axis(Axis(1), 1).to_owned();
        let big1 = spread(&x1);
        let (v, g) = CtcLoss::new().forward_backward(x1.view(), array![3i64, 1].view(), array![9i64].view(), array![2i64].view()).unwrap();
        let (vs, gs) = CtcLoss::new().forward_backward(strided(&big1), array![3i64, 1].view(), array![9i64].view(), array![2i64].view()).unwrap();
        close("unbatched value", &v, &vs, 1e-13);
        close("unbatched gradient", &g.input, &gs.input, 1e-12);
    }

    /// TensorFlow's labels padded with values it reads as emissions (−1: the
    /// blank's class, uncredited; `C`: certain; the blank's index: the class
    /// below it), time- and batch-major, every blank index, an impossible
    /// alignment and a sequence without frames.
    #[test]
    fn tf_equals_the_general_path() {
        let mut rng = Rng::new(32);
        let (t, n, c) = (8, 5, 5);
        let x = logits(&mut rng, t, n, c, 3.0);
        let xb = x.clone().permuted_axes(vec![1, 0, 2]).as_standard_layout().to_owned();
        let ll = array![2i64, 3, 0, 3, 1];
        let gl = array![8i64, 5, 4, 2, 0];
        for blank in [0i64, 2, -1] {
            let b = blank.rem_euclid(c as i64);
            let label = |v: i64| if v >= b { v + 1 } else { v };
            let labels = Array2::from_shape_fn((n, 4), |(s, i)| {
                if (i as i64) < ll[s] {
                    label([1, 3, 3, 0][(s + i) % 4])
                } else {
                    [-1, c as i64, b, 7][(s + i) % 4]
                }
            });
            for (major, x) in [(true, &x), (false, &xb)] {
                let big = spread(x);
                for r in [Reduction::None, Reduction::Mean] {
                    let tf = TfCtcLoss::new().reduction(r).blank_index(blank).logits_time_major(major);
                    let (v, g) = tf.forward_backward(labels.view(), x.view(), ll.view(), gl.view()).unwrap();
                    let (vs, gs) = tf.forward_backward(labels.view(), strided(&big), ll.view(), gl.view()).unwrap();
                    let name = format!("blank {blank}, time-major {major}, {r:?}");
                    close(&format!("{name} value"), &v, &vs, 1e-13);
                    close(&format!("{name} gradient"), &g.input, &gs.input, 1e-12);
                    let up = upstream(&mut rng, r, n);
                    let gb = tf.backward(labels.view(), x.view(), ll.view(), gl.view(), up.view()).unwrap();
                    let gbs = tf.backward(labels.view(), strided(&big), ll.view(), gl.view(), up.view()).unwrap();
                    close(&format!("{name} backward"), &gb.input, &gbs.input, 1e-12);
                    close(&format!("{name} forward"), &tf.forward(labels.view(), x.view(), ll.view(), gl.view()).unwrap(), &vs, 1e-13);
                }
            }
        }
    }

    /// optax with padded frames inside and at the end, repeats, a label equal
    /// to the blank, an empty and an impossible label sequence, its default
    /// `log_epsilon` and one small enough to show; Keras on the same logits.
    #[test]
    fn optax_and_keras_equal_the_general_path() {
        let mut rng = Rng::new(33);
        let (bsz, t, k) = (5, 8, 5);
        let x = logits(&mut rng, bsz, t, k, 3.0);
        let big = spread(&x);
        let labels = array![[1i64, 1, 2, 9], [3, 0, 3, 3], [2, 4, 4, 4], [4, 4, 4, 4], [1, 2, 3, 1]];
        let lpads = array![[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]];
        let mut fpads = Array2::<f64>::zeros((bsz, t));
        fpads[[0, 3]] = 1.0;
        fpads[[1, 7]] = 1.0;
        fpads[[4, 0]] = 1.0;
        fpads[[4, 5]] = 1.0;
        for (blank, eps) in [(0i64, -1e5), (2, -1e5), (0, -5.0)] {
            let ox = OptaxCtcLoss::new().blank_id(blank).log_epsilon(eps);
            let (v, g) = ox.forward_backward(x.view(), fpads.view(), labels.view(), lpads.view()).unwrap();
            let (vs, gs) = ox.forward_backward(strided(&big), fpads.view(), labels.view(), lpads.view()).unwrap();
            let name = format!("blank {blank}, log_epsilon {eps}");
            close(&format!("{name} value"), &v, &vs, 1e-13);
            close(&format!("{name} gradient"), &g.input, &gs.input, 1e-12);
            let up = upstream(&mut rng, Reduction::None, bsz);
            let gb = ox.backward(x.view(), fpads.view(), labels.view(), lpads.view(), up.view()).unwrap();
            let gbs = ox.backward(strided(&big), fpads.view(), labels.view(), lpads.view(), up.view()).unwrap();
            close(&format!("{name} backward"), &gb.input, &gbs.input, 1e-12);
            // The padded frames' gradient is 0.
            assert!(g.input.index_axis(Axis(0), 4).index_axis(Axis(0), 5).iter().all(|&v| v == 0.0));
        }
        let y_true = array![[1i64, 1, 2, 0], [3, 0, 3, 3], [0, 0, 0, 0], [4, 4, 4, 4], [1, 2, 0, 0]];
        for r in [Reduction::None, Reduction::Mean] {
            let keras = KerasCtc::new().reduction(r);
            let (v, g) = keras.forward_backward(y_true.view(), x.view()).unwrap();
            let (vs, gs) = keras.forward_backward(y_true.view(), strided(&big)).unwrap();
            close(&format!("keras {r:?} value"), &v, &vs, 1e-13);
            close(&format!("keras {r:?} gradient"), &g.input, &gs.input, 1e-12);
        }
    }

    /// A NaN or an infinity where a sequence reads it sends the batch to the
    /// general path: the same results as a strided view, NaN where it gives NaN.
    #[test]
    fn non_finite_inputs_take_the_general_path() {
        let mut rng = Rng::new(34);
        let (lp, targets, il, tl) = torch_cases(&mut rng);
        for v in [f64::NAN, f64::NEG_INFINITY, f64::INFINITY, 800.0] {
            let mut x = lp.clone();
            x[[1, 0, 3]] = v;
            let big = spread(&x);
            let ctc = CtcLoss::new().reduction(Reduction::None);
            let (a, ga) = ctc.forward_backward(x.view(), targets.view(), il.view(), tl.view()).unwrap();
            let (b, gb) = ctc.forward_backward(strided(&big), targets.view(), il.view(), tl.view()).unwrap();
            assert_eq!(a.mapv(f64::to_bits), b.mapv(f64::to_bits), "{v}");
            assert_eq!(ga.input.mapv(f64::to_bits), gb.input.mapv(f64::to_bits), "{v}");
        }
        let x = logits(&mut rng, 2, 6, 4, 2.0);
        let mut fpads = Array2::<f64>::zeros((2, 6));
        fpads[[0, 2]] = 1.0;
        let (labels, lpads) = (array![[1i64, 2], [3, 3]], Array2::<f64>::zeros((2, 2)));
        for (at, v) in [([0, 2, 1], f64::NAN), ([1, 4, 0], f64::INFINITY)] {
            let mut xx = x.clone();
            xx[at] = v;
            let big = spread(&xx);
            let (a, ga) = OptaxCtcLoss::new().forward_backward(xx.view(), fpads.view(), labels.view(), lpads.view()).unwrap();
            let (b, gb) = OptaxCtcLoss::new().forward_backward(strided(&big), fpads.view(), labels.view(), lpads.view()).unwrap();
            assert_eq!(a.mapv(f64::to_bits), b.mapv(f64::to_bits), "{v} at {at:?}");
            assert_eq!(ga.input.mapv(f64::to_bits), gb.input.mapv(f64::to_bits), "{v} at {at:?}");
            assert!(a[[at[0]]].is_nan());
        }
    }

    /// `f32` inputs (read in place, the recursion in `f64`) against the `f64`
    /// truth on the same values: within `f32` rounding.
    #[test]
    fn f32_agrees_with_the_f64_truth() {
        let mut rng = Rng::new(35);
        let f32_close = |name: &str, a: &ArrayD<f32>, b: &ArrayD<f64>| {
            for (x, y) in a.iter().zip(b.iter()) {
                assert!((f64::from(*x) - y).abs() <= 1e-6 * y.abs().max(1e-2), "{name}: {x} vs {y}");
            }
        };
        let (t, n, c) = (40, 6, 12);
        let x32 = logits(&mut rng, t, n, c, 4.0).mapv(|v| v as f32);
        let x64 = x32.mapv(f64::from);
        let seqs: Vec<Vec<i64>> = (0..n).map(|b| labels(&mut rng, 3 + 3 * b, c)).collect();
        let targets = pad(&seqs, 18);
        let tl = Array1::from_iter(seqs.iter().map(|s| s.len() as i64));
        let il = Array1::from_iter((0..n).map(|b| (t - b) as i64));
        let lp32 = log_softmax(&x64).mapv(|v| v as f32);
        let lp64 = lp32.mapv(f64::from);
        let ctc = CtcLoss::new().reduction(Reduction::None);
        let (a, ga) = ctc.forward_backward(lp32.view(), targets.view(), il.view(), tl.view()).unwrap();
        let (b, gb) = ctc.forward_backward(lp64.view(), targets.view(), il.view(), tl.view()).unwrap();
        f32_close("torch value", &a, &b);
        f32_close("torch gradient", &ga.input, &gb.input);
        let tf = TfCtcLoss::new();
        let (a, ga) = tf.forward_backward(targets.view(), x32.view(), tl.view(), il.view()).unwrap();
        let (b, gb) = tf.forward_backward(targets.view(), x64.view(), tl.view(), il.view()).unwrap();
        f32_close("tf value", &a, &b);
        f32_close("tf gradient", &ga.input, &gb.input);
        let xb32 = x32.clone().permuted_axes(vec![1, 0, 2]).as_standard_layout().to_owned();
        let xb64 = xb32.mapv(f64::from);
        let lpads = targets.mapv(|v| if v == 0 { 1.0f32 } else { 0.0 });
        let fpads = Array2::<f32>::zeros((n, t));
        let (a, ga) = OptaxCtcLoss::new().forward_backward(xb32.view(), fpads.view(), targets.view(), lpads.view()).unwrap();
        let (b, gb) = OptaxCtcLoss::new().forward_backward(xb64.view(), fpads.mapv(f64::from).view(), targets.view(), lpads.mapv(f64::from).view()).unwrap();
        f32_close("optax value", &a, &b);
        f32_close("optax gradient", &ga.input, &gb.input);
        let (a, ga) = KerasCtc::new().forward_backward(targets.view(), xb32.view()).unwrap();
        let (b, gb) = KerasCtc::new().forward_backward(targets.view(), xb64.view()).unwrap();
        f32_close("keras value", &a, &b);
        f32_close("keras gradient", &ga.input, &gb.input);
    }

    /// Sequences run in parallel, each into its own rows: the same bits on
    /// 1, 2 and 3 threads, for every face (inputs above the size at which the
    /// work goes to rayon's threads).
    #[test]
    fn the_same_bits_whatever_the_thread_count() {
        let mut rng = Rng::new(36);
        let (t, n, c) = (40, 16, 60);
        let x = logits(&mut rng, t, n, c, 3.0);
        let lp = log_softmax(&x);
        let seqs: Vec<Vec<i64>> = (0..n).map(|b| labels(&mut rng, 1 + b, c)).collect();
        let targets = pad(&seqs, n);
        let tl = Array1::from_iter(seqs.iter().map(|s| s.len() as i64));
        let il = Array1::from_iter((0..n).map(|b| (t - b) as i64));
        same_bits_on_any_thread_count("torch", || {
            let (v, g) = CtcLoss::new().forward_backward(lp.view(), targets.view(), il.view(), tl.view()).unwrap();
            (v, g.input)
        });
        same_bits_on_any_thread_count("tf", || {
            let (v, g) = TfCtcLoss::new().forward_backward(targets.view(), x.view(), tl.view(), il.view()).unwrap();
            (v, g.input)
        });
        let xb = x.clone().permuted_axes(vec![1, 0, 2]).as_standard_layout().to_owned();
        let lpads = Array2::from_shape_fn((n, n), |(b, i)| if (i as i64) < tl[b] { 0.0 } else { 1.0 });
        same_bits_on_any_thread_count("optax", || {
            let (v, g) = OptaxCtcLoss::new().forward_backward(xb.view(), Array2::<f64>::zeros((n, t)).view(), targets.view(), lpads.view()).unwrap();
            (v, g.input)
        });
        same_bits_on_any_thread_count("keras", || {
            let (v, g) = KerasCtc::new().forward_backward(targets.view(), xb.view()).unwrap();
            (v, g.input)
        });
        // The forward alone gives the values of the forward and backward.
        let v = CtcLoss::new().forward(lp.view(), targets.view(), il.view(), tl.view()).unwrap();
        let (w, _) = CtcLoss::new().forward_backward(lp.view(), targets.view(), il.view(), tl.view()).unwrap();
        assert_eq!(v.mapv(f64::to_bits), w.mapv(f64::to_bits));
    }
}
