//! The lab behind `losslab explain`, `plot` and `report`: small computations
//! built on [`losslab`]'s losses and gradients, the data sets shipped in the
//! repository, the experiments of the report and the figures.
//!
//! - [`data`]: scikit-learn's handwritten digits and diabetes data, embedded.
//! - [`train`]: softmax regression on the digits with hand-written
//!   backpropagation (cross entropy, MSE on softmax outputs, label smoothing).
//! - [`robust`]: a straight-line fit under L2, L1, Smooth L1 and Huber.
//! - [`curves`]: a loss and its gradient along the residual, the margin or the
//!   predicted probability, for any loss of the catalog that fits.
//! - [`api`] and [`page`]: the JSON API and the page of `losslab serve`
//!   (the page's text in English and Chinese).
//! - [`pipeline`]: the cross-entropy pipeline drawn, with a worked example's numbers.
//! - [`figure`]: line and scatter figures drawn with `plotters`, as SVG text or
//!   PNG files (with an embedded font, so no system font is needed).

pub mod api;
pub mod curves;
pub mod data;
pub mod figure;
pub mod i18n;
pub mod modern;
pub mod page;
pub mod pipeline;
pub mod robust;
pub mod train;

use anyhow::Result;
use losslab::{CrossEntropyLoss, MseLoss, Reduction};
use ndarray::{Array1, Array2, ArrayView2, Axis};

/// The backward pass through a softmax, row by row: given `p = softmax(z)` and
/// `g = ∂L/∂p`, returns `∂L/∂z = p ⊙ (g − Σⱼ gⱼ pⱼ)` (the softmax Jacobian
/// `diag(p) − p pᵀ` applied to `g`).
///
/// # Examples
/// ```
/// use ndarray::array;
/// let p = array![[0.5, 0.5]];
/// let g = array![[1.0, 0.0]];
/// let dz = losslab_cli::lab::softmax_backward(p.view(), g.view());
/// assert_eq!(dz, array![[0.25, -0.25]]);
/// ```
pub fn softmax_backward(p: ArrayView2<'_, f64>, g: ArrayView2<'_, f64>) -> Array2<f64> {
    let mut dz = Array2::zeros(p.raw_dim());
    for ((pr, gr), mut dr) in p.outer_iter().zip(g.outer_iter()).zip(dz.outer_iter_mut()) {
        let dot: f64 = pr.iter().zip(gr.iter()).map(|(a, b)| a * b).sum();
        for ((d, &pi), &gi) in dr.iter_mut().zip(pr.iter()).zip(gr.iter()) {
            *d = pi * (gi - dot);
        }
    }
    dz
}

/// One-hot rows for class indices.
pub fn one_hot(labels: &[usize], classes: usize) -> Array2<f64> {
    let mut y = Array2::zeros((labels.len(), classes));
    for (i, &c) in labels.iter().enumerate() {
        y[[i, c]] = 1.0;
    }
    y
}

/// Cross entropy and MSE on softmax outputs at one point: values and
/// gradients with respect to the logits, all from [`losslab`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CeVsMse {
    /// The predicted probability of the true class.
    pub p_true: f64,
    /// `−ln p_true`.
    pub ce: f64,
    /// `‖∂CE/∂z‖₂ = ‖softmax(z) − onehot‖₂`.
    pub ce_grad: f64,
    /// `Σⱼ (pⱼ − yⱼ)²`.
    pub mse: f64,
    /// `‖∂MSE/∂z‖₂`, through the softmax.
    pub mse_grad: f64,
}

/// [`CeVsMse`] for one row of logits and its true class (MSE summed over the
/// classes, as one example's squared error).
///
/// # Errors
/// A class index out of range.
pub fn ce_vs_mse(logits: &[f64], target: usize) -> Result<CeVsMse> {
    let z = Array2::from_shape_vec((1, logits.len()), logits.to_vec())?;
    let labels = Array1::from(vec![target as i64]);
    let (ce, g_ce) = CrossEntropyLoss::new().reduction(Reduction::Sum).forward_backward(z.view(), labels.view())?;
    let p = losslab::softmax(&z.view(), Axis(1))?.into_dimensionality::<ndarray::Ix2>()?;
    let y = one_hot(&[target], logits.len());
    let (mse, g_mse) = MseLoss::new().reduction(Reduction::Sum).forward_backward(p.view(), y.view())?;
    let g_p = g_mse.input.into_dimensionality::<ndarray::Ix2>()?;
    let dz = softmax_backward(p.view(), g_p.view());
    let norm = |a: &mut dyn Iterator<Item = f64>| a.map(|v| v * v).sum::<f64>().sqrt();
    Ok(CeVsMse {
        p_true: p[[0, target]],
        ce: ce[[]],
        ce_grad: norm(&mut g_ce.input.iter().copied()),
        mse: mse[[]],
        mse_grad: norm(&mut dz.iter().copied()),
    })
}

/// [`ce_vs_mse`] on two classes, with logits `(0, s)` chosen so that the true
/// class 0 has probability `p_true`: `s = ln((1 − p_true) / p_true)`.
///
/// # Errors
/// Never for `p_true` in `(0, 1)`.
pub fn ce_vs_mse_two_class(p_true: f64) -> Result<CeVsMse> {
    ce_vs_mse(&[0.0, ((1.0 - p_true) / p_true).ln()], 0)
}

/// A small deterministic random number generator (SplitMix64), so that every
/// experiment is reproducible from its seed without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let v = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        v
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A uniformly random permutation of `0..n` (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            #[allow(clippy::cast_possible_truncation)]
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_class_closed_forms() {
        // CE gradient: (p − 1, 1 − p), norm √2 (1 − p). MSE: 2 (1 − p)²,
        // gradient through the softmax ±4 p (1 − p)², norm 4√2 p (1 − p)².
        for p in [0.999, 0.9, 0.5, 0.1, 0.001] {
            let r = ce_vs_mse_two_class(p).unwrap();
            assert!((r.p_true - p).abs() < 1e-12);
            assert!((r.ce + p.ln()).abs() < 1e-12);
            assert!((r.ce_grad - 2f64.sqrt() * (1.0 - p)).abs() < 1e-12);
            assert!((r.mse - 2.0 * (1.0 - p).powi(2)).abs() < 1e-12);
            assert!((r.mse_grad - 4.0 * 2f64.sqrt() * p * (1.0 - p).powi(2)).abs() < 1e-12);
        }
    }

    #[test]
    fn rng_is_deterministic() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.next_u64(), b.next_u64());
        let mut perm = Rng::new(1).permutation(10);
        perm.sort_unstable();
        assert_eq!(perm, (0..10).collect::<Vec<_>>());
    }
}
