//! Softmax regression on the digits with hand-written backpropagation:
//! `z = x W + b`, trained by minibatch gradient descent on cross entropy (with
//! optional label smoothing) or on MSE of the softmax outputs against one-hot
//! targets, every loss and gradient from [`losslab`].

use super::data::Digits;
use super::{one_hot, softmax_backward, Rng};
use anyhow::Result;
use losslab::{CrossEntropyLoss, MseLoss, Reduction};
use ndarray::{s, Array1, Array2, ArrayView2, Axis, Ix2};

/// What the classifier is trained on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// Cross entropy of the logits, with label smoothing `ε`.
    CrossEntropy {
        /// Label smoothing ε in [0, 1].
        smoothing: f64,
    },
    /// `Σⱼ (softmax(z)ⱼ − yⱼ)²` per example, averaged over the batch.
    MseOnSoftmax,
}

/// A train/test split of the digits.
#[derive(Debug, Clone)]
pub struct Split {
    /// Training images.
    pub train_x: Array2<f64>,
    /// Training labels.
    pub train_y: Vec<usize>,
    /// Test images.
    pub test_x: Array2<f64>,
    /// Test labels.
    pub test_y: Vec<usize>,
}

/// A shuffled split: the first `test` images of a seeded permutation are the test set.
pub fn split(d: &Digits, test: usize, seed: u64) -> Split {
    let perm = Rng::new(seed).permutation(d.y.len());
    let (te, tr) = perm.split_at(test);
    Split { train_x: d.x.select(Axis(0), tr), train_y: tr.iter().map(|&i| d.y[i]).collect(), test_x: d.x.select(Axis(0), te), test_y: te.iter().map(|&i| d.y[i]).collect() }
}

/// The softmax-regression model.
#[derive(Debug, Clone)]
pub struct Model {
    /// Weights, (features, classes).
    pub w: Array2<f64>,
    /// Biases, (classes,).
    pub b: Array1<f64>,
}

impl Model {
    /// Small random weights N(0, 0.01²) from `seed`, zero biases.
    pub fn new(features: usize, classes: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        Model { w: Array2::from_shape_fn((features, classes), |_| 0.01 * rng.normal()), b: Array1::zeros(classes) }
    }

    /// The logits of a batch.
    pub fn logits(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        x.dot(&self.w) + &self.b
    }

    /// Class probabilities.
    ///
    /// # Errors
    /// Never for a well-formed model.
    pub fn probs(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        Ok(losslab::softmax(&self.logits(x).view(), Axis(1))?.into_dimensionality::<Ix2>()?)
    }
}

/// The loss of a batch and its gradient with respect to the logits.
///
/// # Errors
/// Never for labels within the classes.
pub fn loss_and_grad(obj: Objective, z: &Array2<f64>, y: &[usize]) -> Result<(f64, Array2<f64>)> {
    let (n, c) = z.dim();
    match obj {
        Objective::CrossEntropy { smoothing } => {
            let labels = Array1::from(y.iter().map(|&v| v as i64).collect::<Vec<_>>());
            let (l, g) = CrossEntropyLoss::new().label_smoothing(smoothing).forward_backward(z.view(), labels.view())?;
            Ok((l[[]], g.input.into_dimensionality::<Ix2>()?))
        }
        Objective::MseOnSoftmax => {
            let p = losslab::softmax(&z.view(), Axis(1))?.into_dimensionality::<Ix2>()?;
            let t = one_hot(y, c);
            let (l, g) = MseLoss::new().reduction(Reduction::Sum).forward_backward(p.view(), t.view())?;
            #[allow(clippy::cast_precision_loss)]
            let inv = 1.0 / n as f64;
            let gp = g.input.into_dimensionality::<Ix2>()? * inv;
            Ok((l[[]] * inv, softmax_backward(p.view(), gp.view())))
        }
    }
}

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Passes over the training set.
    pub epochs: usize,
    /// Learning rate.
    pub lr: f64,
    /// Minibatch size.
    pub batch: usize,
    /// Seed of the initial weights and of the batch order.
    pub seed: u64,
}

/// What one training run records after each epoch (index 0: before training).
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The objective on the whole training set.
    pub train_loss: Vec<f64>,
    /// Accuracy on the test set.
    pub test_acc: Vec<f64>,
}

/// Accuracy of a model.
///
/// # Errors
/// Never for a well-formed model.
pub fn accuracy(m: &Model, x: ArrayView2<'_, f64>, y: &[usize]) -> Result<f64> {
    let z = m.logits(x);
    let right = z.outer_iter().zip(y).filter(|(r, &t)| argmax(r.iter().copied()) == t).count();
    #[allow(clippy::cast_precision_loss)]
    Ok(right as f64 / y.len() as f64)
}

fn argmax(v: impl Iterator<Item = f64>) -> usize {
    v.enumerate().fold((0, f64::NEG_INFINITY), |(bi, bv), (i, x)| if x > bv { (i, x) } else { (bi, bv) }).0
}

/// Trains a fresh model (`Model::new(.., cfg.seed)`) on `data` for `obj`;
/// `on_epoch` is called after each epoch.
///
/// # Errors
/// Never for well-formed data.
pub fn train(data: &Split, obj: Objective, cfg: Config, on_epoch: impl FnMut()) -> Result<(Model, History)> {
    let d = data.train_x.ncols();
    train_from(data, obj, cfg, Model::new(d, 10, cfg.seed), on_epoch)
}

/// Trains `init` on `data` for `obj` (minibatches drawn with `cfg.seed`);
/// `on_epoch` is called after each epoch.
///
/// # Errors
/// Never for well-formed data.
pub fn train_from(data: &Split, obj: Objective, cfg: Config, init: Model, mut on_epoch: impl FnMut()) -> Result<(Model, History)> {
    let n = data.train_x.nrows();
    let mut m = init;
    let mut rng = Rng::new(cfg.seed ^ 0x5EED);
    let mut h = History::default();
    let record = |m: &Model, h: &mut History| -> Result<()> {
        h.train_loss.push(loss_and_grad(obj, &m.logits(data.train_x.view()), &data.train_y)?.0);
        h.test_acc.push(accuracy(m, data.test_x.view(), &data.test_y)?);
        Ok(())
    };
    record(&m, &mut h)?;
    for _ in 0..cfg.epochs {
        let perm = rng.permutation(n);
        for chunk in perm.chunks(cfg.batch) {
            let x = data.train_x.select(Axis(0), chunk);
            let y: Vec<usize> = chunk.iter().map(|&i| data.train_y[i]).collect();
            let (_, gz) = loss_and_grad(obj, &m.logits(x.view()), &y)?;
            m.w.scaled_add(-cfg.lr, &x.t().dot(&gz));
            m.b.scaled_add(-cfg.lr, &gz.sum_axis(Axis(0)));
        }
        record(&m, &mut h)?;
        on_epoch();
    }
    Ok((m, h))
}

/// `model` turned confidently wrong: each class's weights and bias moved to
/// the next class (`c → c + 1 mod C`) and scaled by `scale`, so that an input
/// the model classified as `c` is now classified as `c + 1`, with a
/// confidence that grows with `scale`. The start of question 3's experiment:
/// a network that is sure of the wrong answer.
pub fn confidently_wrong(model: &Model, scale: f64) -> Model {
    let c = model.b.len();
    let mut w = Array2::zeros(model.w.raw_dim());
    let mut b = Array1::zeros(c);
    for k in 0..c {
        w.column_mut((k + 1) % c).assign(&(&model.w.column(k) * scale));
        b[(k + 1) % c] = model.b[k] * scale;
    }
    Model { w, b }
}

/// One seed of question 3's experiment: the same confidently wrong start
/// trained with cross entropy and with MSE on the softmax.
#[derive(Debug, Clone)]
pub struct RecoveryRun {
    /// The seed (initial weights, pre-training and minibatch order).
    pub seed: u64,
    /// Test accuracy after each epoch (the start first), cross entropy.
    pub ce_acc: Vec<f64>,
    /// Test accuracy after each epoch (the start first), MSE on the softmax.
    pub mse_acc: Vec<f64>,
    /// The median probability of the true class over the training set at the start.
    pub start_p_true: f64,
    /// The start's probabilities of the true class and each loss's gradient
    /// norm with respect to the logits, per training example: `(p, ‖∂CE/∂z‖, ‖∂MSE/∂z‖)`.
    pub start_grads: Vec<(f64, f64, f64)>,
}

/// Question 3's experiment for one seed: a softmax classifier trained with
/// cross entropy for `pretrain` epochs, made [`confidently_wrong`] with
/// `scale`, then trained from there for `cfg.epochs` epochs with each loss.
///
/// # Errors
/// Never for well-formed data.
pub fn recovery_run(data: &Split, cfg: Config, pretrain: usize, scale: f64) -> Result<RecoveryRun> {
    let ce = Objective::CrossEntropy { smoothing: 0.0 };
    let (m, _) = train(data, ce, Config { epochs: pretrain, ..cfg }, || {})?;
    let start = confidently_wrong(&m, scale);
    let z = start.logits(data.train_x.view());
    let mut start_grads = Vec::with_capacity(z.nrows());
    for (row, &y) in z.outer_iter().zip(&data.train_y) {
        let r = super::ce_vs_mse(row.as_slice().expect("contiguous"), y)?;
        start_grads.push((r.p_true, r.ce_grad, r.mse_grad));
    }
    let mut ps: Vec<f64> = start_grads.iter().map(|g| g.0).collect();
    ps.sort_by(f64::total_cmp);
    let (_, h_ce) = train_from(data, ce, cfg, start.clone(), || {})?;
    let (_, h_mse) = train_from(data, Objective::MseOnSoftmax, cfg, start, || {})?;
    Ok(RecoveryRun { seed: cfg.seed, ce_acc: h_ce.test_acc, mse_acc: h_mse.test_acc, start_p_true: ps[ps.len() / 2], start_grads })
}

/// Calibration of a model on a data set.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// Accuracy.
    pub accuracy: f64,
    /// Mean confidence (the largest predicted probability).
    pub confidence: f64,
    /// Mean negative log-likelihood of the true class.
    pub nll: f64,
    /// Expected calibration error over 10 equal-width confidence bins.
    pub ece: f64,
    /// Per bin: (mean confidence, accuracy, count).
    pub bins: Vec<(f64, f64, usize)>,
}

/// Measures [`Calibration`].
///
/// # Errors
/// Never for a well-formed model.
#[allow(clippy::cast_precision_loss)]
pub fn calibration(m: &Model, x: ArrayView2<'_, f64>, y: &[usize]) -> Result<Calibration> {
    let p = m.probs(x)?;
    let n = y.len() as f64;
    let mut bins = vec![(0.0, 0.0, 0usize); 10];
    let (mut acc, mut conf, mut nll) = (0.0, 0.0, 0.0);
    for (row, &t) in p.outer_iter().zip(y) {
        let k = argmax(row.iter().copied());
        let c = row[k];
        let right = f64::from(u8::from(k == t));
        acc += right;
        conf += c;
        nll -= row[t].ln();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let b = ((c * 10.0) as usize).min(9);
        bins[b].0 += c;
        bins[b].1 += right;
        bins[b].2 += 1;
    }
    let ece = bins.iter().map(|&(c, a, k)| if k == 0 { 0.0 } else { (c - a).abs() / n }).sum();
    let bins = bins.into_iter().map(|(c, a, k)| if k == 0 { (0.0, 0.0, 0) } else { (c / k as f64, a / k as f64, k) }).collect();
    Ok(Calibration { accuracy: acc / n, confidence: conf / n, nll: nll / n, ece, bins })
}

/// The first `k` rows of a split's training set (the report's quick mode).
pub fn truncate(s: &Split, k: usize) -> Split {
    let k = k.min(s.train_y.len());
    Split { train_x: s.train_x.slice(s![..k, ..]).to_owned(), train_y: s.train_y[..k].to_vec(), test_x: s.test_x.clone(), test_y: s.test_y.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mse_gradient_matches_finite_differences() {
        let z = ndarray::array![[0.3, -1.0, 2.0], [0.0, 0.5, -0.5]];
        let y = [2usize, 0];
        let (_, g) = loss_and_grad(Objective::MseOnSoftmax, &z, &y).unwrap();
        let h = 1e-6;
        for i in 0..2 {
            for j in 0..3 {
                let (mut a, mut b) = (z.clone(), z.clone());
                a[[i, j]] += h;
                b[[i, j]] -= h;
                let fd = (loss_and_grad(Objective::MseOnSoftmax, &a, &y).unwrap().0 - loss_and_grad(Objective::MseOnSoftmax, &b, &y).unwrap().0) / (2.0 * h);
                assert!((fd - g[[i, j]]).abs() < 1e-8, "{fd} vs {}", g[[i, j]]);
            }
        }
    }

    #[test]
    fn from_confidently_wrong_cross_entropy_recovers_and_mse_stalls() {
        let d = super::super::data::digits().unwrap();
        let s = truncate(&split(&d, 300, 0), 600);
        let r = recovery_run(&s, Config { epochs: 5, lr: 0.5, batch: 32, seed: 3 }, 2, 3.0).unwrap();
        assert!(r.ce_acc[0] < 0.2 && r.mse_acc[0] == r.ce_acc[0], "the same wrong start: {} {}", r.ce_acc[0], r.mse_acc[0]);
        assert!(r.start_p_true < 0.01, "confidently wrong: median p(true) {}", r.start_p_true);
        assert!(r.ce_acc[5] > 0.85, "cross entropy recovers: {:?}", r.ce_acc);
        assert!(r.mse_acc[5] < 0.5, "MSE stalls: {:?}", r.mse_acc);
        // Why: at the start, MSE's gradient is a small fraction of cross entropy's on the confidently wrong examples.
        let mut ratios: Vec<f64> = r.start_grads.iter().filter(|g| g.0 < 0.01).map(|g| g.2 / g.1).collect();
        ratios.sort_by(f64::total_cmp);
        assert!(ratios[ratios.len() / 2] < 0.05, "{:?}", &ratios[ratios.len() / 2]);
    }

    #[test]
    fn cross_entropy_learns_digits() {
        let d = super::super::data::digits().unwrap();
        let s = truncate(&split(&d, 300, 0), 600);
        let (m, h) = train(&s, Objective::CrossEntropy { smoothing: 0.0 }, Config { epochs: 3, lr: 0.5, batch: 32, seed: 1 }, || {}).unwrap();
        assert!(h.train_loss[3] < h.train_loss[0]);
        assert!(accuracy(&m, s.test_x.view(), &s.test_y).unwrap() > 0.8);
    }
}
