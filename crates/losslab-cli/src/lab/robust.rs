//! A straight line fitted by gradient descent under L2, L1, Smooth L1 and
//! Huber, every loss and gradient from [`losslab`].

use anyhow::Result;
use losslab::{HuberLoss, L1Loss, MseLoss, SmoothL1Loss};
use ndarray::{Array1, ArrayD};

/// The robust-regression losses compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// MSE.
    L2,
    /// Mean absolute error.
    L1,
    /// Smooth L1, β = 1.
    SmoothL1,
    /// Huber, δ = 1.
    Huber,
}

impl Fit {
    /// All four.
    pub const ALL: [Fit; 4] = [Fit::L2, Fit::L1, Fit::SmoothL1, Fit::Huber];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Fit::L2 => "L2 (MSE)",
            Fit::L1 => "L1",
            Fit::SmoothL1 => "Smooth L1 (β = 1)",
            Fit::Huber => "Huber (δ = 1)",
        }
    }

    /// The mean loss of predictions against targets and its gradient with respect to the predictions.
    ///
    /// # Errors
    /// Never for inputs of one length.
    pub fn loss_grad(self, pred: &Array1<f64>, y: &Array1<f64>) -> Result<(f64, ArrayD<f64>)> {
        let (l, g) = match self {
            Fit::L2 => MseLoss::new().forward_backward(pred.view(), y.view())?,
            Fit::L1 => L1Loss::new().forward_backward(pred.view(), y.view())?,
            Fit::SmoothL1 => SmoothL1Loss::new().forward_backward(pred.view(), y.view())?,
            Fit::Huber => HuberLoss::new().forward_backward(pred.view(), y.view())?,
        };
        Ok((l[[]], g.input))
    }
}

/// Fits `y ≈ a + b x` by full-batch gradient descent (step `0.5 / √(1 + t/50)`),
/// on standardised data; returns `(a, b)`.
///
/// # Errors
/// Never for inputs of one length.
pub fn fit_line(fit: Fit, x: &Array1<f64>, y: &Array1<f64>, iterations: usize) -> Result<(f64, f64)> {
    let (mut a, mut b) = (0.0, 0.0);
    for t in 0..iterations {
        let pred = x.mapv(|v| a + b * v);
        let (_, g) = fit.loss_grad(&pred, y)?;
        let ga: f64 = g.sum();
        let gb: f64 = g.iter().zip(x.iter()).map(|(g, x)| g * x).sum();
        #[allow(clippy::cast_precision_loss)]
        let lr = 0.5 / (1.0 + t as f64 / 50.0).sqrt();
        a -= lr * ga;
        b -= lr * gb;
    }
    Ok((a, b))
}

/// Ordinary least squares in closed form: `(a, b)`.
pub fn ols(x: &[f64], y: &[f64]) -> (f64, f64) {
    #[allow(clippy::cast_precision_loss)]
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let b = sxy / sxx;
    (my - b * mx, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l2_descent_reaches_least_squares() {
        let x = Array1::from(vec![-1.0, 0.0, 1.0, 2.0]);
        let y = Array1::from(vec![-0.5, 0.4, 1.6, 2.4]);
        let (a, b) = fit_line(Fit::L2, &x, &y, 3000).unwrap();
        let (a0, b0) = ols(x.as_slice().unwrap(), y.as_slice().unwrap());
        assert!((a - a0).abs() < 1e-6 && (b - b0).abs() < 1e-6, "{a} {b} vs {a0} {b0}");
    }
}
