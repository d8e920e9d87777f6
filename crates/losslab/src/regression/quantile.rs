//! The quantile (pinball) loss.

use crate::machinery::methods::{free_fn, setters};
#[allow(unused_imports)] // for the docs' links
use crate::machinery::error::LossError;
use crate::machinery::error::{check_option, Result};
use crate::machinery::float::Float;
use crate::machinery::pointwise::Pointwise;
use crate::machinery::reduction::{Gradients, Reduction};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension};

/// Quantile (pinball) loss, losslab's own (`losslab:quantile_loss`): the loss
/// whose minimiser is the `q`-quantile of the target's distribution.
///
/// ```text
/// dᵢ = yᵢ − xᵢ
/// ℓᵢ = q · dᵢ            if dᵢ ≥ 0      (under-prediction costs q per unit)
///      (q − 1) · dᵢ      otherwise      (over-prediction costs 1 − q per unit)
/// ∂ℓᵢ/∂xᵢ = −q if dᵢ ≥ 0, 1 − q otherwise;   ∂ℓᵢ/∂yᵢ = −∂ℓᵢ/∂xᵢ
/// ```
///
/// `input` (the predicted quantile) and `target` have the same shape. `q = 0.5`
/// is half the L1 loss (the median). At `dᵢ = 0` the derivative is taken from
/// the `dᵢ ≥ 0` side. Default `quantile = 0.5`, reduction `Mean`.
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ; [`LossError::Option`] for a
/// quantile outside `(0, 1)`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::{QuantileLoss, Reduction};
/// let x = array![1.0f64, 3.0];
/// let y = array![2.0f64, 2.0];
/// let l = QuantileLoss::new().quantile(0.9).reduction(Reduction::None).forward(x.view(), y.view()).unwrap();
/// assert!((l[[0]] - 0.9).abs() < 1e-15 && (l[[1]] - 0.1).abs() < 1e-15);
/// ```
///
/// # References
/// R. Koenker, G. Bassett, "Regression Quantiles", Econometrica 46(1), 1978,
/// <https://doi.org/10.2307/1913643>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct QuantileLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// The quantile `q` in `(0, 1)` (default 0.5).
    pub quantile: f64,
}

impl Default for QuantileLoss {
    fn default() -> Self {
        QuantileLoss { reduction: Reduction::Mean, quantile: 0.5 }
    }
}

impl QuantileLoss {
    const NAME: &'static str = "quantile_loss";
    /// losslab's defaults: `quantile = 0.5`, `Mean`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction,
        /// Sets the quantile.
        quantile: f64
    );
    fn prepare<T: Float, D: Dimension>(&self, input: &ArrayView<'_, T, D>, target: &ArrayView<'_, T, D>) -> Result<Pointwise> {
        let q = self.quantile;
        check_option(Self::NAME, "quantile", q, q > 0.0 && q < 1.0, "a number in (0, 1)")?;
        Pointwise::new(Self::NAME, input, target)
    }
    fn value(&self, x: f64, y: f64) -> f64 {
        let d = y - x;
        if d >= 0.0 {
            self.quantile * d
        } else {
            (self.quantile - 1.0) * d
        }
    }
    fn derivatives(&self, x: f64, y: f64) -> (f64, f64) {
        let d = y - x;
        let g = if d >= 0.0 {
            self.quantile
        } else if d < 0.0 {
            self.quantile - 1.0
        } else {
            d
        };
        (-g, g)
    }

    /// The loss, reduced.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension>(&self, input: ArrayView<'_, T, D>, target: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
        let p = self.prepare(&input, &target)?;
        Ok(p.forward(self.reduction, |_, x, y| self.value(x, y)))
    }

    /// The gradients of `Σ grad_output · loss` with respect to `input` and `target`.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        let p = self.prepare(&input, &target)?;
        p.backward(Self::NAME, self.reduction, &grad_output, true, |_, x, y| self.derivatives(x, y))
    }

    /// The loss and its gradients (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        let p = self.prepare(&input, &target)?;
        let value = p.forward(self.reduction, |_, x, y| self.value(x, y));
        let g = p.unit_grad::<T>(self.reduction);
        let grads = p.backward(Self::NAME, self.reduction, &g.view(), true, |_, x, y| self.derivatives(x, y))?;
        Ok((value, grads))
    }
}

free_fn! {
    /// [`QuantileLoss`] with `quantile` and `reduction`.
    pub fn quantile_loss(input: float, target: float; quantile: f64, reduction: Reduction) = QuantileLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// use losslab::Reduction;
        /// // q = 0.5 is half the L1 loss
        /// let v = losslab::quantile_loss(array![0.0f64, 4.0].view(), array![1.0f64, 1.0].view(), 0.5, Reduction::Sum).unwrap();
        /// assert_eq!(v[[]], 0.5 * (1.0 + 3.0));
        /// ```
        ///
        /// # References
        /// [`QuantileLoss`]: its formula, the reference's semantics and the paper.
    }
}
