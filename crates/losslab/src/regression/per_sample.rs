//! Regression losses reduced per sample over the last axis, as Keras computes
//! them: log-cosh, mean squared logarithmic error, mean absolute percentage
//! error.

#[allow(unused_imports)] // for the docs' links
use crate::LossError;
use crate::machinery::error::Result;
use crate::machinery::float::Float;
use crate::machinery::lanes::*;
use crate::machinery::methods::*;
use crate::machinery::clip::*;
use crate::machinery::reduction::{sum_f64, Reduction};
use crate::math::*;
use ndarray::{ArrayView, ArrayViewD, Dimension};

// ---------------------------------------------------------------------------------------
// log_cosh, mean_squared_logarithmic_error, mean_absolute_percentage_error

/// Keras's `keras.losses.log_cosh`: the mean over the last axis of `log cosh(y_pred − y_true)`.
///
/// ```text
/// x = y_pred − y_true
/// loss = mean_last log cosh(x)          ∂/∂y_pred = tanh(x) / n
/// log cosh x ≈ x²/2 near 0,  ≈ |x| − log 2 far from 0
/// ```
///
/// Computed without overflow or cancellation: `log1p(2 sinh²(x/2))` for `|x| < 1`,
/// `|x| + softplus(−2|x|) − log 2` beyond (Keras evaluates `x + softplus(−2x) − log 2`).
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ or are 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::regression::KerasLogCosh;
/// let y_true = array![[0.0f64, 1.0], [0.0, 0.0]];
/// let y_pred = array![[1.0f64, 1.0], [0.0, 0.0]];
/// let loss = KerasLogCosh::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 1f64.cosh().ln() / 2.0).abs() < 1e-15);
/// assert_eq!(loss[1], 0.0);
/// ```
///
/// # References
/// P. Chen, G. Chen, S. Zhang, "Log Hyperbolic Cosine Loss Improves Variational
/// Auto-Encoder", 2019, <https://openreview.net/forum?id=rkglvsC9Ym>;
/// <https://keras.io/api/losses/regression_losses/#log_cosh-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasLogCosh {
    /// The reduction of the per-sample losses (default `None`).
    pub reduction: Reduction,
}

impl Default for KerasLogCosh {
    fn default() -> Self {
        KerasLogCosh { reduction: Reduction::None }
    }
}

impl KerasLogCosh {
    const NAME: &'static str = "log_cosh";

    /// No reduction (Keras's per-sample output).
    pub fn new() -> Self {
        Self::default()
    }

    fn run<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), -1, self.reduction, go, |t, p, g| {
            mean_lane(t, p, g, |t, p| log_cosh_f64(p - t), |t, p| {
                let d = (p - t).tanh();
                (-d, d)
            })
        })
    }
    loss_methods!(keras: run(input = last), (y_true: float, y_pred: float));
}

/// Keras's `keras.losses.mean_squared_logarithmic_error` (MSLE).
///
/// ```text
/// loss = mean_last (log(max(y_pred, ε) + 1) − log(max(y_true, ε) + 1))²      ε = 1e-7
/// ```
///
/// Negative and zero values count as `ε` (with no gradient below it, half of it at
/// it).
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ or are 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::regression::KerasMeanSquaredLogarithmicError;
/// let y_true = array![[1.0f64, 3.0]];
/// let y_pred = array![[1.0f64, 1.0]];
/// let loss = KerasMeanSquaredLogarithmicError::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 2f64.ln().powi(2) / 2.0).abs() < 1e-15);
/// ```
///
/// # References
/// <https://keras.io/api/losses/regression_losses/#mean_squared_logarithmic_error-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasMeanSquaredLogarithmicError {
    /// The reduction of the per-sample losses (default `None`).
    pub reduction: Reduction,
}

impl Default for KerasMeanSquaredLogarithmicError {
    fn default() -> Self {
        KerasMeanSquaredLogarithmicError { reduction: Reduction::None }
    }
}

impl KerasMeanSquaredLogarithmicError {
    const NAME: &'static str = "mean_squared_logarithmic_error";

    /// No reduction (Keras's per-sample output).
    pub fn new() -> Self {
        Self::default()
    }

    fn run<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        let e = KERAS_EPSILON;
        let lg = move |v: f64| if v.is_nan() { v } else { v.max(e) }.ln_1p();
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), -1, self.reduction, go, |t, p, g| {
            mean_lane(
                t,
                p,
                g,
                |t, p| {
                    let d = lg(p) - lg(t);
                    d * d
                },
                |t, p| {
                    let d = lg(p) - lg(t);
                    let dp = 2.0 * d / (p.max(e) + 1.0) * max_grad(p, e);
                    let dt = -2.0 * d / (t.max(e) + 1.0) * max_grad(t, e);
                    (dt, dp)
                },
            )
        })
    }
    loss_methods!(keras: run(input = last), (y_true: float, y_pred: float));
}

/// Keras's `keras.losses.mean_absolute_percentage_error` (MAPE).
///
/// ```text
/// loss = 100 · mean_last |(y_true − y_pred) / max(|y_true|, ε)|          ε = 1e-7
/// ```
///
/// A zero target divides by `1e-7`: the loss is then `1e9 · |y_pred|`, not an
/// error. The derivative of `|·|` at 0 is taken as `+1`, as JAX does.
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ or are 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::regression::KerasMeanAbsolutePercentageError;
/// let y_true = array![[1.0f64, 2.0], [0.0, 4.0]];
/// let y_pred = array![[1.5f64, 1.0], [0.5, 4.0]];
/// let loss = KerasMeanAbsolutePercentageError::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 50.0).abs() < 1e-12);
/// assert!((loss[1] - 2.5e8).abs() < 1e-3);
/// ```
///
/// # References
/// <https://keras.io/api/losses/regression_losses/#mean_absolute_percentage_error-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasMeanAbsolutePercentageError {
    /// The reduction of the per-sample losses (default `None`).
    pub reduction: Reduction,
}

impl Default for KerasMeanAbsolutePercentageError {
    fn default() -> Self {
        KerasMeanAbsolutePercentageError { reduction: Reduction::None }
    }
}

impl KerasMeanAbsolutePercentageError {
    const NAME: &'static str = "mean_absolute_percentage_error";

    /// No reduction (Keras's per-sample output).
    pub fn new() -> Self {
        Self::default()
    }

    fn run<T: Float, D: Dimension>(
        &self,
        y_true: &ArrayView<'_, T, D>,
        y_pred: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        let e = KERAS_EPSILON;
        let den = move |t: f64| if t.is_nan() { t } else { t.abs().max(e) };
        run_pair(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), -1, self.reduction, go, |t, p, g| {
            let n = t.len() as f64;
            let v = 100.0 * (sum_f64(t.iter().zip(p).map(|(&t, &p)| ((t - p) / den(t)).abs())) / n);
            if let Some((gt, gp)) = g {
                for k in 0..t.len() {
                    let (d, m) = (t[k] - p[k], den(t[k]));
                    let dr = 100.0 / n * abs_grad(d / m);
                    gp[k] = -dr / m;
                    gt[k] = dr / m + (-dr * d / (m * m)) * max_grad(t[k].abs(), e) * abs_grad(t[k]);
                }
            }
            v
        })
    }
    loss_methods!(keras: run(input = last), (y_true: float, y_pred: float));
}

free_fn! {
    /// [`KerasLogCosh`]: `keras.losses.log_cosh(y_true, y_pred)`.
    pub fn keras_log_cosh(y_true: float, y_pred: float) = KerasLogCosh {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::regression::keras_log_cosh(array![[0.0f64]].view(), array![[1000.0f64]].view()).unwrap();
        /// assert_eq!(v[0], 1000.0 - 2f64.ln());
        /// ```
        ///
        /// # References
        /// [`KerasLogCosh`]: its formula, the reference's semantics and the paper.
    }

    /// [`KerasMeanSquaredLogarithmicError`]: `keras.losses.mean_squared_logarithmic_error(y_true, y_pred)`.
    pub fn keras_mean_squared_logarithmic_error(y_true: float, y_pred: float) = KerasMeanSquaredLogarithmicError {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::regression::keras_mean_squared_logarithmic_error(array![[0.0f64]].view(), array![[-5.0f64]].view()).unwrap();
        /// assert_eq!(v[0], 0.0); // both are replaced by epsilon
        /// ```
        ///
        /// # References
        /// [`KerasMeanSquaredLogarithmicError`]: its formula, the reference's semantics and the paper.
    }

    /// [`KerasMeanAbsolutePercentageError`]: `keras.losses.mean_absolute_percentage_error(y_true, y_pred)`.
    pub fn keras_mean_absolute_percentage_error(y_true: float, y_pred: float) = KerasMeanAbsolutePercentageError {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::regression::keras_mean_absolute_percentage_error(array![[2.0f64]].view(), array![[1.0f64]].view()).unwrap();
        /// assert_eq!(v[0], 50.0);
        /// ```
        ///
        /// # References
        /// [`KerasMeanAbsolutePercentageError`]: its formula, the reference's semantics and the paper.
    }
}
