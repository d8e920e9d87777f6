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

/// One parameter θ fitted to one target `t` by gradient descent at a fixed
/// learning rate (the box-regression setting: one coordinate, one ground
/// truth), from `start`: θ after each step (`steps + 1` values, the start
/// first) and the loss at each.
///
/// L1's gradient is ±1 whatever the distance, so once θ is within one step
/// of `t` it jumps across it and back forever; L2's gradient 2(θ − t) and
/// Smooth L1's (θ − t)/β near `t` shrink with the distance, so θ settles.
///
/// # Errors
/// Never.
///
/// # Examples
/// ```
/// use losslab_cli::lab::robust::{fixed_step_path, Fit};
/// let l1 = fixed_step_path(Fit::L1, 0.37, 3.0, 0.1, 100).unwrap();
/// let smooth = fixed_step_path(Fit::SmoothL1, 0.37, 3.0, 0.1, 100).unwrap();
/// let (last_l1, last_smooth) = (l1.last().unwrap().0, smooth.last().unwrap().0);
/// assert!((last_l1 - 0.37).abs() > 0.01);       // still jumping around 0.37
/// assert!((last_smooth - 0.37).abs() < 1e-3);  // settled
/// ```
pub fn fixed_step_path(fit: Fit, t: f64, start: f64, lr: f64, steps: usize) -> Result<Vec<(f64, f64)>> {
    let target = Array1::from(vec![t]);
    let mut theta = start;
    let mut path = Vec::with_capacity(steps + 1);
    for _ in 0..=steps {
        let (l, g) = fit.loss_grad(&Array1::from(vec![theta]), &target)?;
        path.push((theta, l));
        theta -= lr * g.iter().next().copied().unwrap_or(0.0);
    }
    Ok(path)
}

/// A line `y ≈ a + b x` fitted by full-batch gradient descent at a fixed
/// learning rate `lr`: the size of each step, `‖(Δa, Δb)‖`. Where the fit
/// has settled the steps shrink towards 0; where it oscillates around the
/// optimum they stay as large as the gradient's size times `lr`.
///
/// # Errors
/// Never for inputs of one length.
pub fn fixed_step_sizes(fit: Fit, x: &Array1<f64>, y: &Array1<f64>, lr: f64, steps: usize) -> Result<Vec<f64>> {
    let (mut a, mut b) = (0.0, 0.0);
    let mut sizes = Vec::with_capacity(steps);
    for _ in 0..steps {
        let pred = x.mapv(|v| a + b * v);
        let (_, g) = fit.loss_grad(&pred, y)?;
        let ga: f64 = g.sum();
        let gb: f64 = g.iter().zip(x.iter()).map(|(g, x)| g * x).sum();
        a -= lr * ga;
        b -= lr * gb;
        sizes.push(lr * ga.hypot(gb));
    }
    Ok(sizes)
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
    fn at_a_fixed_step_l1_oscillates_and_the_others_settle() {
        for fit in Fit::ALL {
            let path = fixed_step_path(fit, 0.37, 3.0, 0.1, 200).unwrap();
            let tail: Vec<f64> = path[150..].iter().map(|p| p.0).collect();
            let spread = tail.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b)) - tail.iter().fold(f64::INFINITY, |a, &b| a.min(b));
            if fit == Fit::L1 {
                // θ alternates between two points one step (0.1) apart around 0.37.
                assert!((spread - 0.1).abs() < 1e-9, "{spread}");
                assert!(tail.iter().all(|t| (t - 0.37).abs() < 0.1 + 1e-12));
            } else {
                assert!(spread < 1e-6, "{fit:?}: {spread}");
                assert!((tail[tail.len() - 1] - 0.37).abs() < 1e-6, "{fit:?}");
            }
        }
        // The line fit: L2's steps shrink geometrically, L1's do not.
        let x = Array1::from(vec![-1.5, -0.5, 0.2, 0.9, 1.7, -0.3]);
        let y = Array1::from(vec![-1.2, -0.6, 0.4, 0.7, 1.9, 0.1]);
        let l2 = fixed_step_sizes(Fit::L2, &x, &y, 0.02, 400).unwrap();
        let l1 = fixed_step_sizes(Fit::L1, &x, &y, 0.02, 400).unwrap();
        assert!(l2[399] < 1e-8, "{}", l2[399]);
        assert!(l1[300..].iter().all(|&s| s > 1e-4), "{:?}", &l1[390..]);
    }

    #[test]
    fn l2_descent_reaches_least_squares() {
        let x = Array1::from(vec![-1.0, 0.0, 1.0, 2.0]);
        let y = Array1::from(vec![-0.5, 0.4, 1.6, 2.4]);
        let (a, b) = fit_line(Fit::L2, &x, &y, 3000).unwrap();
        let (a0, b0) = ols(x.as_slice().unwrap(), y.as_slice().unwrap());
        assert!((a - a0).abs() < 1e-6 && (b - b0).abs() < 1e-6, "{a} {b} vs {a0} {b0}");
    }
}
