//! KL divergences as Keras (`keras.losses.kl_divergence`, clipped
//! probabilities) and optax (`kl_divergence`, `kl_divergence_with_log_targets`,
//! `convex_kl_divergence`/generalized KL) compute them.

#[allow(unused_imports)] // for the docs' links
use crate::machinery::error::LossError;
use crate::machinery::error::Result;
use crate::machinery::float::Float;
use crate::machinery::lanes::*;
use crate::machinery::methods::*;
use crate::machinery::clip::*;
use crate::machinery::kernels::rows::{self, lane_sum2_zip_store, lane_sum_zip, zip_store};
use crate::machinery::reduction::{sum_f64, Reduction};
use crate::machinery::vmath::exp;
use ndarray::{ArrayView, ArrayViewD, Dimension};

// ---------------------------------------------------------------------------------------
// kl_divergence

/// Keras's `keras.losses.kl_divergence`: `Σ t log(t / p)` over the last axis, with
/// both tensors clipped to `[ε, 1]`.
///
/// ```text
/// t = clip(y_true, ε, 1),  p = clip(y_pred, ε, 1)             ε = 1e-7
/// loss = Σ_last t · log(t / p)
/// ```
///
/// Because of the clip a zero in `y_true` contributes `1e-7 · log(1e-7 / p)`
/// rather than 0, and values above 1 count as 1; the gradient is 0 outside
/// `[ε, 1]` and halved on its bounds (on `y_true = 1` exactly, for instance).
///
/// Shapes: `y_true` and `y_pred` broadcast together as Keras broadcasts them
/// (NumPy's rule: `(N, 1)` or `(1, C)` against `(N, C)`, either way, any ranks;
/// `(N,)` against `(N, C)` does not broadcast); one result per lane of the
/// broadcast shape, each gradient summed back to its tensor's shape.
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::information::KerasKlDivergence;
/// let y_true = array![[0.5f64, 0.5]];
/// let y_pred = array![[0.25f64, 0.75]];
/// let loss = KerasKlDivergence::new().forward(y_true.view(), y_pred.view()).unwrap();
/// assert!((loss[0] - 0.5 * (2f64.ln() + (2.0f64 / 3.0).ln())).abs() < 1e-15);
/// ```
///
/// # References
/// S. Kullback, R. A. Leibler, "On Information and Sufficiency", Annals of
/// Mathematical Statistics 22(1), 1951, <https://doi.org/10.1214/aoms/1177729694>;
/// <https://keras.io/api/losses/probabilistic_losses/#kl_divergence-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasKlDivergence {
    /// The reduction of the per-sample losses (default `None`).
    pub reduction: Reduction,
}

impl Default for KerasKlDivergence {
    fn default() -> Self {
        KerasKlDivergence { reduction: Reduction::None }
    }
}

impl KerasKlDivergence {
    const NAME: &'static str = "kl_divergence";

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
        // The row sweep for one shape, contiguous; the general path's formulas
        // (the row's ln branch-free, within 1 ulp of libm's).
        const E: f64 = KERAS_EPSILON;
        let fused = eval_pair_rows(Self::NAME, ("y_true", y_true), y_pred, self.reduction, go, #[inline(always)] |yt: &[T], yp: &[T], g: Option<RowGrads<'_, T>>| {
            // The value's sum and each gradient's loop apart: each vectorises
            // (the ln evaluated twice), where one loop of both does not.
            let v = lane_sum_zip(yt, yp, #[inline(always)] |a, b| {
                let (t, p) = (clip(a, E, 1.0), clip(b, E, 1.0));
                t * rows::ln(t / p)
            });
            let Some(g) = g else { return v };
            let up = g.up;
            zip_store(yt, yp, g.go, #[inline(always)] |a, b| up * (-(clip(a, E, 1.0) / clip(b, E, 1.0)) * clip_grad(b, E, 1.0)));
            zip_store(yt, yp, g.gx, #[inline(always)] |a, b| {
                let (t, p) = (clip(a, E, 1.0), clip(b, E, 1.0));
                up * ((rows::ln(t / p) + 1.0) * clip_grad(a, E, 1.0))
            });
            v
        })?;
        if let Some(done) = fused {
            return Ok(done);
        }
        run_pair_with(Self::NAME, ("y_true", y_true), ("y_pred", y_pred), -1, PairShapes::NUMPY, self.reduction, go, |yt, yp, g| {
            let v = sum_f64(yt.iter().zip(yp).map(|(&a, &b)| {
                let (t, p) = (clip(a, KERAS_EPSILON, 1.0), clip(b, KERAS_EPSILON, 1.0));
                t * (t / p).ln()
            }));
            if let Some((gt, gp)) = g {
                for k in 0..yt.len() {
                    let (t, p) = (clip(yt[k], KERAS_EPSILON, 1.0), clip(yp[k], KERAS_EPSILON, 1.0));
                    gt[k] = ((t / p).ln() + 1.0) * clip_grad(yt[k], KERAS_EPSILON, 1.0);
                    gp[k] = -(t / p) * clip_grad(yp[k], KERAS_EPSILON, 1.0);
                }
            }
            v
        })
    }
    loss_methods!(keras: run(input = last), (y_true: float, y_pred: float));
}

free_fn! {
    /// [`KerasKlDivergence`]: `keras.losses.kl_divergence(y_true, y_pred)`.
    pub fn keras_kl_divergence(y_true: float, y_pred: float) = KerasKlDivergence {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let p = array![[0.25f64, 0.75]];
        /// assert_eq!(losslab::information::keras_kl_divergence(p.view(), p.view()).unwrap()[0], 0.0);
        /// ```
        ///
        /// # References
        /// [`KerasKlDivergence`]: its formula, the reference's semantics and the paper.
    }
}

// ---------------------------------------------------------------------------------------
// KL family

simple_struct!(
    /// optax's `kl_divergence`: `KL(targets ‖ exp(log_predictions))` along the last axis.
    ///
    /// ```text
    /// loss = Σ_last targets · (where(targets = 0, 0, log targets) − log_predictions)
    /// ∂/∂log_predictions = −targets
    /// ∂/∂targets = log targets − log_predictions + 1       (NaN where targets = 0)
    /// ```
    ///
    /// A zero target contributes 0 to the value unless its log-prediction is
    /// `−∞` (`0 · ∞ = NaN`); JAX differentiates the `where` by masking a `1/0`,
    /// which gives a **NaN** gradient w.r.t. every zero target. losslab follows.
    ///
    /// Shapes: the two broadcast together as optax broadcasts them (NumPy's rule,
    /// either way, any ranks): one result per lane of the broadcast shape, each
    /// gradient summed back to its tensor's shape.
    ///
    /// # Errors
    /// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::information::OptaxKlDivergence;
    /// let log_predictions = array![[0.25f64.ln(), 0.75f64.ln()]];
    /// let targets = array![[0.5f64, 0.5]];
    /// let v = OptaxKlDivergence::new().forward(log_predictions.view(), targets.view()).unwrap();
    /// assert!((v[0] - 0.5 * (2f64.ln() + (2.0f64 / 3.0).ln())).abs() < 1e-15);
    /// ```
    ///
    /// # References
    /// S. Kullback, R. A. Leibler, "On Information and Sufficiency", 1951,
    /// <https://doi.org/10.1214/aoms/1177729694>;
    /// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.kl_divergence>
    OptaxKlDivergence
);

#[inline]
fn optax_kl_term(lp: f64, t: f64) -> (f64, f64, f64) {
    let lt = if t == 0.0 { 0.0 } else { t.ln() };
    let v = t * (lt - lp);
    let dt = if t == 0.0 { f64::NAN } else { (lt - lp) + 1.0 };
    (v, -t, dt)
}

/// [`optax_kl_term`] with the row sweep's `ln` (branch-free, within 1 ulp of libm's).
#[inline(always)]
fn optax_kl_term_ln(lp: f64, t: f64) -> (f64, f64, f64) {
    // ln first, then the select: a branch around it would keep the loop scalar.
    let l = rows::ln(t);
    let lt = if t == 0.0 { 0.0 } else { l };
    let v = t * (lt - lp);
    let dt = if t == 0.0 { f64::NAN } else { (lt - lp) + 1.0 };
    (v, -t, dt)
}

impl OptaxKlDivergence {
    const NAME: &'static str = "kl_divergence";

    /// No reduction (optax's per-example output).
    pub fn new() -> Self {
        Self::default()
    }

    fn run<T: Float, D: Dimension>(
        &self,
        log_predictions: &ArrayView<'_, T, D>,
        targets: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        // The row sweep for one shape, contiguous; the general path's formulas.
        let fused = eval_pair_rows(Self::NAME, ("log_predictions", log_predictions), targets, self.reduction, go, #[inline(always)] |lp: &[T], t: &[T], g: Option<RowGrads<'_, T>>| {
            // The value's sum and each gradient's loop apart, each vectorised.
            let v = lane_sum_zip(lp, t, #[inline(always)] |a, b| optax_kl_term_ln(a, b).0);
            let Some(g) = g else { return v };
            let up = g.up;
            zip_store(lp, t, g.gx, #[inline(always)] |_, b| up * -b);
            zip_store(lp, t, g.go, #[inline(always)] |a, b| up * optax_kl_term_ln(a, b).2);
            v
        })?;
        if let Some(done) = fused {
            return Ok(done);
        }
        run_pair_with(Self::NAME, ("log_predictions", log_predictions), ("targets", targets), -1, PairShapes::NUMPY, self.reduction, go, |lp, t, g| {
            let v = sum_f64(lp.iter().zip(t).map(|(&a, &b)| optax_kl_term(a, b).0));
            if let Some((glp, gt)) = g {
                for k in 0..lp.len() {
                    let (_, a, b) = optax_kl_term(lp[k], t[k]);
                    glp[k] = a;
                    gt[k] = b;
                }
            }
            v
        })
    }
    loss_methods!(optax: run(input = first), (log_predictions: float, targets: float));
}

simple_struct!(
    /// optax's `generalized_kl_divergence`: the KL divergence extended to
    /// unnormalised measures (the Bregman divergence of `x log x − x`).
    ///
    /// ```text
    /// loss = Σ_last targets · (where(targets = 0, 0, log targets) − log_predictions)
    ///        + Σ_last (exp(log_predictions) − targets)
    /// ∂/∂log_predictions = exp(log_predictions) − targets
    /// ∂/∂targets = log targets − log_predictions         (NaN where targets = 0, as optax)
    /// ```
    ///
    /// Equal to [`OptaxKlDivergence`] when both sides are normalised.
    ///
    /// Shapes: the two broadcast together as optax broadcasts them (NumPy's rule,
    /// either way, any ranks): one result per lane of the broadcast shape, each
    /// gradient summed back to its tensor's shape.
    ///
    /// # Errors
    /// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::information::OptaxGeneralizedKlDivergence;
    /// let log_predictions = array![[0.0f64]]; // prediction 1
    /// let targets = array![[2.0f64]];
    /// let v = OptaxGeneralizedKlDivergence::new().forward(log_predictions.view(), targets.view()).unwrap();
    /// assert!((v[0] - (2.0 * 2f64.ln() - 1.0)).abs() < 1e-15);
    /// ```
    ///
    /// # References
    /// S. Boyd, L. Vandenberghe, *Convex Optimization*, 2004, p. 90; L. M. Bregman,
    /// 1967, <https://doi.org/10.1016/0041-5553(67)90040-7>;
    /// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.generalized_kl_divergence>
    OptaxGeneralizedKlDivergence
);

impl OptaxGeneralizedKlDivergence {
    const NAME: &'static str = "generalized_kl_divergence";

    /// No reduction (optax's per-example output).
    pub fn new() -> Self {
        Self::default()
    }

    fn run<T: Float, D: Dimension>(
        &self,
        log_predictions: &ArrayView<'_, T, D>,
        targets: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        let fused = eval_pair_rows(Self::NAME, ("log_predictions", log_predictions), targets, self.reduction, go, #[inline(always)] |lp: &[T], t: &[T], g: Option<RowGrads<'_, T>>| {
            let v = lane_sum_zip(lp, t, #[inline(always)] |a, b| optax_kl_term_ln(a, b).0) + lane_sum_zip(lp, t, #[inline(always)] |a, b| exp(a) - b);
            let Some(g) = g else { return v };
            let up = g.up;
            zip_store(lp, t, g.go, #[inline(always)] |a, b| up * (optax_kl_term_ln(a, b).2 - 1.0));
            zip_store(lp, t, g.gx, #[inline(always)] |a, b| up * (-b + exp(a)));
            v
        })?;
        if let Some(done) = fused {
            return Ok(done);
        }
        run_pair_with(Self::NAME, ("log_predictions", log_predictions), ("targets", targets), -1, PairShapes::NUMPY, self.reduction, go, |lp, t, g| {
            let x = sum_f64(lp.iter().zip(t).map(|(&a, &b)| optax_kl_term(a, b).0));
            let y = sum_f64(lp.iter().zip(t).map(|(&a, &b)| exp(a) - b));
            if let Some((glp, gt)) = g {
                for k in 0..lp.len() {
                    let (_, a, b) = optax_kl_term(lp[k], t[k]);
                    glp[k] = a + exp(lp[k]);
                    gt[k] = b - 1.0;
                }
            }
            x + y
        })
    }
    loss_methods!(optax: run(input = first), (log_predictions: float, targets: float));
}

simple_struct!(
    /// optax's `kl_divergence_with_log_targets`: `KL(exp(log_targets) ‖ exp(log_predictions))`.
    ///
    /// ```text
    /// loss = Σ_last exp(log_targets) · (log_targets − log_predictions)
    /// ∂/∂log_predictions = −exp(log_targets)
    /// ∂/∂log_targets = exp(log_targets) · (log_targets − log_predictions + 1)
    /// ```
    ///
    /// A `−∞` log-target gives `0 · −∞ = NaN`, as in optax.
    ///
    /// Shapes: the two broadcast together as optax broadcasts them (NumPy's rule,
    /// either way, any ranks): one result per lane of the broadcast shape, each
    /// gradient summed back to its tensor's shape.
    ///
    /// # Errors
    /// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::information::OptaxKlDivergenceWithLogTargets;
    /// let lp = array![[0.5f64.ln(), 0.5f64.ln()]];
    /// let v = OptaxKlDivergenceWithLogTargets::new().forward(lp.view(), lp.view()).unwrap();
    /// assert_eq!(v[0], 0.0);
    /// ```
    ///
    /// # References
    /// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.kl_divergence_with_log_targets>
    OptaxKlDivergenceWithLogTargets
);

impl OptaxKlDivergenceWithLogTargets {
    const NAME: &'static str = "kl_divergence_with_log_targets";

    /// No reduction (optax's per-example output).
    pub fn new() -> Self {
        Self::default()
    }

    fn run<T: Float, D: Dimension>(
        &self,
        log_predictions: &ArrayView<'_, T, D>,
        log_targets: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        let fused = eval_pair_rows(Self::NAME, ("log_predictions", log_predictions), log_targets, self.reduction, go, #[inline(always)] |lp: &[T], lt: &[T], g: Option<RowGrads<'_, T>>| {
            let Some(g) = g else { return lane_sum_zip(lp, lt, #[inline(always)] |a, b| exp(b) * (b - a)) };
            let up = g.up;
            zip_store(lp, lt, g.gx, #[inline(always)] |_, b| up * -exp(b));
            lane_sum2_zip_store(lp, lt, g.go, #[inline(always)] |a, b| {
                let e = exp(b);
                (e * (b - a), 0.0, up * (e * (b - a) + e))
            })
            .0
        })?;
        if let Some(done) = fused {
            return Ok(done);
        }
        run_pair_with(Self::NAME, ("log_predictions", log_predictions), ("log_targets", log_targets), -1, PairShapes::NUMPY, self.reduction, go, |lp, lt, g| {
            let v = sum_f64(lp.iter().zip(lt).map(|(&a, &b)| exp(b) * (b - a)));
            if let Some((glp, glt)) = g {
                for k in 0..lp.len() {
                    let e = exp(lt[k]);
                    glp[k] = -e;
                    glt[k] = e * (lt[k] - lp[k]) + e;
                }
            }
            v
        })
    }
    loss_methods!(optax: run(input = first), (log_predictions: float, log_targets: float));
}

free_fn! {
    /// [`OptaxKlDivergence`]: `optax.losses.kl_divergence(log_predictions, targets)`, one value per example.
    pub fn optax_kl_divergence(log_predictions: float, targets: float) = OptaxKlDivergence;

    /// [`OptaxKlDivergenceWithLogTargets`]: `optax.losses.kl_divergence_with_log_targets(log_predictions, log_targets)`.
    pub fn optax_kl_divergence_with_log_targets(log_predictions: float, log_targets: float) = OptaxKlDivergenceWithLogTargets;

    /// [`OptaxGeneralizedKlDivergence`]: `optax.losses.generalized_kl_divergence(log_predictions, targets)`.
    pub fn optax_generalized_kl_divergence(log_predictions: float, targets: float) = OptaxGeneralizedKlDivergence;
}
