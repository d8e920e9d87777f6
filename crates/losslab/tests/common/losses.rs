//! One loss of each family, drawn at random with its inputs, and evaluated
//! generically in `f32` or `f64`: the harness of `properties.rs` and `hostile.rs`.

use super::Rng;
use losslab::*;
use ndarray::{Array1, ArrayD, Axis, IxDyn};

/// The inputs of one loss evaluation; which are used depends on the [`Loss`].
#[derive(Debug, Clone)]
pub struct In<T> {
    /// The differentiated input (logits, predictions, anchor, ...).
    pub x: ArrayD<T>,
    /// The second float input (target, positive, labels as probabilities, ...).
    pub y: ArrayD<T>,
    /// The third float input (variance, negative, element weights, ...).
    pub z: ArrayD<T>,
    /// Class indices.
    pub labels: ArrayD<i64>,
    /// CTC input and target lengths.
    pub input_lengths: Array1<i64>,
    pub target_lengths: Array1<i64>,
}

impl In<f64> {
    /// The same inputs rounded to `f32`.
    pub fn to_f32(&self) -> In<f32> {
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
    pub fn to_f64(&self) -> In<f64> {
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
pub enum Loss {
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
pub const KINDS: usize = 23;
/// The ignore index every loss with one uses here.
pub const IGNORE: i64 = -100;

/// Draws loss `kind` and its inputs from `seed`: shapes small, values in the loss's domain.
pub fn draw(kind: usize, seed: u64) -> (Loss, In<f64>) {
    draw_batch(kind, seed, None)
}

/// As [`draw`], with a batch of `n` samples when given (0 included).
pub fn draw_batch(kind: usize, seed: u64, n: Option<usize>) -> (Loss, In<f64>) {
    let mut r = Rng::new(seed.wrapping_mul(31).wrapping_add(kind as u64));
    let drawn = 1 + r.below(4);
    let n = n.unwrap_or(drawn);
    let c = 2 + r.below(4);
    let labels_with_ignored = |r: &mut Rng, n: usize, c: usize| {
        let mut l: Vec<i64> = (0..n).map(|_| if r.uniform() < 0.2 { IGNORE } else { r.below(c) as i64 }).collect();
        // At least one row counts, so that `mean` is defined.
        if !l.is_empty() && l.iter().all(|&v| v == IGNORE) {
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
pub fn eval<T: Float>(loss: &Loss, inp: &In<T>, red: Reduction) -> losslab::Result<(ArrayD<T>, ArrayD<T>)> {
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
pub fn nonnegative(loss: &Loss) -> bool {
    !matches!(loss, Loss::KlDiv { .. } | Loss::PoissonNll | Loss::GaussianNll)
}

/// The rows of `x` along its last axis are logits of a softmax: a constant
/// added to a row changes nothing.
pub fn softmax_rows(loss: &Loss) -> bool {
    matches!(loss, Loss::Ce { .. } | Loss::CeProbs { .. } | Loss::TfSoftmax | Loss::TfSparse | Loss::SoftmaxFocal { .. } | Loss::MultiMargin { .. })
}

/// The reference's `mean`, from the `none` output.
pub fn expected_mean(loss: &Loss, inp: &In<f64>, none: &ArrayD<f64>) -> f64 {
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
