//! optax's losses (`optax.losses.*`, optax 0.2.8): poly-1 cross entropy, the
//! sparsemax losses, the KL family, the safe softmax cross entropy, label
//! smoothing, Huber and log-cosh.
//!
//! optax functions return per-example values and take no reduction argument, so
//! the default reduction here is [`Reduction::None`] (optax's own output); every
//! other reduction is offered on top. Gradients are those `jax.grad` gives:
//! `Gradients::input` w.r.t. the first tensor (`logits`, `scores`,
//! `log_predictions`, `predictions`, or `labels` for [`OptaxSmoothLabels`]),
//! `Gradients::target` w.r.t. a float second tensor (`labels`, `targets`,
//! `log_targets`).
//!
//! Where optax's semantics surprise, losslab follows optax and says so:
//! `optax.losses.sparsemax_loss` is the **binary** sparsemax loss (its
//! multi-class sibling is `multiclass_sparsemax_loss`); `kl_divergence`'s gradient
//! w.r.t. a zero target is NaN; `poly_loss_cross_entropy` and `kl_divergence`
//! are not "safe" for `−∞` logits (`0 · −∞ = NaN`), `safe_softmax_cross_entropy` is.

use crate::error::{check_option, same_shape, shape_err, Result};
#[allow(unused_imports)] // for the docs' links
use crate::LossError;
use crate::float::{narrow, widen, ClassIndex, Float};
use crate::keras::{log_cosh_f64, run_labels, run_pair, LaneGrads, PairOutput};
use crate::math::log_softmax_lane;
use crate::pointwise::Pointwise;
use crate::reduction::{sum_f64, Gradients, Reducer, Reduction};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension};

/// `forward` / `backward` / `forward_backward` / `reduction` for an optax loss of
/// two float tensors `$a` (the prediction) and `$b`; the type provides `run`.
macro_rules! optax_pair_methods {
    ($a:ident, $b:ident) => {
        /// The per-example losses (reduced as `self.reduction` says), in optax's
        /// argument order.
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward<T: Float, D: Dimension>(&self, $a: ArrayView<'_, T, D>, $b: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
            Ok(self.run(&$a, &$b, None)?.0)
        }

        #[doc = concat!("The gradients of `Σ grad_output · loss`: `input` w.r.t. `", stringify!($a), "`, `target` w.r.t. `", stringify!($b), "`.")]
        ///
        /// # Errors
        /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
        /// have the result's shape.
        pub fn backward<T: Float, D: Dimension>(
            &self,
            $a: ArrayView<'_, T, D>,
            $b: ArrayView<'_, T, D>,
            grad_output: ArrayViewD<'_, T>,
        ) -> Result<Gradients<T>> {
            match self.run(&$a, &$b, Some(&grad_output))?.1 {
                Some((ga, gb)) => Ok(Gradients { input: ga, target: Some(gb) }),
                None => unreachable!("gradients are computed when grad_output is given"),
            }
        }

        /// The loss and its gradients (of the result's sum when unreduced).
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward_backward<T: Float, D: Dimension>(
            &self,
            $a: ArrayView<'_, T, D>,
            $b: ArrayView<'_, T, D>,
        ) -> Result<(ArrayD<T>, Gradients<T>)> {
            let value = self.forward($a.view(), $b.view())?;
            let ones = ArrayD::from_elem(value.shape(), T::one());
            Ok((value, self.backward($a, $b, ones.view())?))
        }

        /// Sets the reduction of the per-example losses (default `None`).
        #[must_use]
        pub fn reduction(mut self, reduction: Reduction) -> Self {
            self.reduction = reduction;
            self
        }
    };
}

/// `forward` / `backward` / `forward_backward` / `reduction` for an element-wise
/// optax loss with `value(a, b)` and `derivative(a, b) = (∂/∂a, ∂/∂b)`.
macro_rules! optax_pointwise_methods {
    ($name:expr, $a:ident, $b:ident) => {
        /// The element-wise losses (reduced as `self.reduction` says), in optax's
        /// argument order.
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward<T: Float, D: Dimension>(&self, $a: ArrayView<'_, T, D>, $b: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
            self.validate()?;
            let p = Pointwise::named($name, (stringify!($a), &$a), (stringify!($b), &$b))?;
            Ok(p.forward(self.reduction, |_, a, b| self.value(a, b)))
        }

        #[doc = concat!("The gradients of `Σ grad_output · loss`: `input` w.r.t. `", stringify!($a), "`, `target` w.r.t. `", stringify!($b), "`.")]
        ///
        /// # Errors
        /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
        /// have the result's shape.
        pub fn backward<T: Float, D: Dimension>(
            &self,
            $a: ArrayView<'_, T, D>,
            $b: ArrayView<'_, T, D>,
            grad_output: ArrayViewD<'_, T>,
        ) -> Result<Gradients<T>> {
            self.validate()?;
            let p = Pointwise::named($name, (stringify!($a), &$a), (stringify!($b), &$b))?;
            p.backward($name, self.reduction, &grad_output, true, |_, a, b| self.derivative(a, b))
        }

        /// The loss and its gradients (of the result's sum when unreduced).
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward_backward<T: Float, D: Dimension>(
            &self,
            $a: ArrayView<'_, T, D>,
            $b: ArrayView<'_, T, D>,
        ) -> Result<(ArrayD<T>, Gradients<T>)> {
            let value = self.forward($a.view(), $b.view())?;
            let ones = ArrayD::from_elem(value.shape(), T::one());
            Ok((value, self.backward($a, $b, ones.view())?))
        }

        /// Sets the reduction of the element-wise losses (default `None`).
        #[must_use]
        pub fn reduction(mut self, reduction: Reduction) -> Self {
            self.reduction = reduction;
            self
        }
    };
}

macro_rules! simple_struct {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub struct $name {
            /// The reduction of the per-example losses (default `None`: optax's own output).
            pub reduction: Reduction,
        }

        impl Default for $name {
            fn default() -> Self {
                $name { reduction: Reduction::None }
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// poly_loss_cross_entropy

/// optax's `poly_loss_cross_entropy`: Poly-1, softmax cross entropy plus
/// `epsilon · (1 − p_t)`.
///
/// ```text
/// p    = softmax(logits)                 along `axis`
/// loss = −Σ labels · log p  +  epsilon · Σ labels · (1 − p)
/// ∂/∂logits = p Σlabels − labels − epsilon · p (labels − Σ labels · p)
/// ∂/∂labels = −log p + epsilon (1 − p)
/// ```
///
/// The cross-entropy part is optax's (unsafe) `softmax_cross_entropy`: a `−∞`
/// logit with a zero label gives NaN. `epsilon = −1` removes the first
/// polynomial term.
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ or are 0-d; [`LossError::Option`] for
/// an `axis` the tensors do not have or a NaN `epsilon`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::OptaxPolyLossCrossEntropy;
/// let logits = array![[0.0f64, 0.0]];
/// let labels = array![[1.0f64, 0.0]];
/// let v = OptaxPolyLossCrossEntropy::new().forward(logits.view(), labels.view()).unwrap();
/// assert!((v[0] - (2f64.ln() + 2.0 * 0.5)).abs() < 1e-15);
/// ```
///
/// # References
/// Z. Leng, M. Tan, C. Liu, E. D. Cubuk, X. Shi, S. Cheng, D. Anguelov, "PolyLoss:
/// A Polynomial Expansion Perspective of Classification Loss Functions", ICLR 2022,
/// <https://arxiv.org/abs/2204.12511>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.poly_loss_cross_entropy>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OptaxPolyLossCrossEntropy {
    /// The coefficient of the first polynomial term (default 2.0).
    pub epsilon: f64,
    /// The class axis (default −1).
    pub axis: isize,
    /// The reduction of the per-example losses (default `None`).
    pub reduction: Reduction,
}

impl Default for OptaxPolyLossCrossEntropy {
    fn default() -> Self {
        OptaxPolyLossCrossEntropy { epsilon: 2.0, axis: -1, reduction: Reduction::None }
    }
}

impl OptaxPolyLossCrossEntropy {
    const NAME: &'static str = "poly_loss_cross_entropy";

    /// optax's defaults: `epsilon = 2.0`, `axis = −1`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets `epsilon`.
    #[must_use]
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }
    /// Sets the class axis.
    #[must_use]
    pub fn axis(mut self, axis: isize) -> Self {
        self.axis = axis;
        self
    }

    fn run<T: Float, D: Dimension>(
        &self,
        logits: &ArrayView<'_, T, D>,
        labels: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        let eps = self.epsilon;
        check_option(Self::NAME, "epsilon", eps, !eps.is_nan(), "a number")?;
        run_pair(Self::NAME, ("logits", logits), ("labels", labels), self.axis, self.reduction, go, |x, l, g: LaneGrads<'_>| {
            let n = x.len();
            let mut lp = vec![0.0; n];
            log_softmax_lane(x, &mut lp);
            let p: Vec<f64> = lp.iter().map(|v| v.exp()).collect();
            let omp = sum_f64((0..n).map(|k| l[k] * (1.0 - p[k])));
            let ce = -sum_f64((0..n).map(|k| l[k] * lp[k]));
            if let Some((gx, gl)) = g {
                let sl = sum_f64(l.iter().copied());
                let slp = sum_f64((0..n).map(|k| l[k] * p[k]));
                for k in 0..n {
                    gx[k] = (p[k] * sl - l[k]) - eps * (p[k] * (l[k] - slp));
                    gl[k] = -lp[k] + eps * (1.0 - p[k]);
                }
            }
            ce + eps * omp
        })
    }
    optax_pair_methods!(logits, labels);
}

// ---------------------------------------------------------------------------------------
// safe_softmax_cross_entropy

simple_struct!(
    /// optax's `safe_softmax_cross_entropy`: softmax cross entropy with
    /// `0 · log 0 = 0`, so a `−∞` logit with a zero label contributes nothing.
    ///
    /// ```text
    /// loss = −Σ_last where(labels ≠ 0, labels · log_softmax(logits), 0)
    /// ∂/∂logits = softmax(logits) · Σ labels − labels
    /// ∂/∂labels = −log_softmax(logits)        (+∞ for a −∞ logit)
    /// ```
    ///
    /// optax's custom JVP gives exactly these gradients, finite in the logits even
    /// where a logit is `−∞`.
    ///
    /// # Errors
    /// [`LossError::Shape`] if the shapes differ or are 0-d.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::OptaxSafeSoftmaxCrossEntropy;
    /// let logits = array![[0.0f64, f64::NEG_INFINITY]];
    /// let labels = array![[1.0f64, 0.0]];
    /// let v = OptaxSafeSoftmaxCrossEntropy::default().forward(logits.view(), labels.view()).unwrap();
    /// assert_eq!(v[0], 0.0);
    /// ```
    ///
    /// # References
    /// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.safe_softmax_cross_entropy>
    OptaxSafeSoftmaxCrossEntropy
);

impl OptaxSafeSoftmaxCrossEntropy {
    const NAME: &'static str = "safe_softmax_cross_entropy";

    /// No reduction (optax's per-example output).
    pub fn new() -> Self {
        Self::default()
    }

    fn run<T: Float, D: Dimension>(
        &self,
        logits: &ArrayView<'_, T, D>,
        labels: &ArrayView<'_, T, D>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<PairOutput<T>> {
        run_pair(Self::NAME, ("logits", logits), ("labels", labels), -1, self.reduction, go, |x, w, g| {
            let n = x.len();
            let mut lp = vec![0.0; n];
            log_softmax_lane(x, &mut lp);
            let v = -sum_f64((0..n).map(|k| if w[k] != 0.0 { w[k] * lp[k] } else { 0.0 }));
            if let Some((gx, gw)) = g {
                let sw = sum_f64(w.iter().copied());
                for k in 0..n {
                    gx[k] = lp[k].exp() * sw - w[k];
                    gw[k] = -lp[k];
                }
            }
            v
        })
    }
    optax_pair_methods!(logits, labels);
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
    /// # Errors
    /// [`LossError::Shape`] if the shapes differ or are 0-d.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::OptaxKlDivergence;
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
        run_pair(Self::NAME, ("log_predictions", log_predictions), ("targets", targets), -1, self.reduction, go, |lp, t, g| {
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
    optax_pair_methods!(log_predictions, targets);
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
    /// # Errors
    /// [`LossError::Shape`] if the shapes differ or are 0-d.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::OptaxGeneralizedKlDivergence;
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
        run_pair(Self::NAME, ("log_predictions", log_predictions), ("targets", targets), -1, self.reduction, go, |lp, t, g| {
            let x = sum_f64(lp.iter().zip(t).map(|(&a, &b)| optax_kl_term(a, b).0));
            let y = sum_f64(lp.iter().zip(t).map(|(&a, &b)| a.exp() - b));
            if let Some((glp, gt)) = g {
                for k in 0..lp.len() {
                    let (_, a, b) = optax_kl_term(lp[k], t[k]);
                    glp[k] = a + lp[k].exp();
                    gt[k] = b - 1.0;
                }
            }
            x + y
        })
    }
    optax_pair_methods!(log_predictions, targets);
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
    /// # Errors
    /// [`LossError::Shape`] if the shapes differ or are 0-d.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::OptaxKlDivergenceWithLogTargets;
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
        run_pair(Self::NAME, ("log_predictions", log_predictions), ("log_targets", log_targets), -1, self.reduction, go, |lp, lt, g| {
            let v = sum_f64(lp.iter().zip(lt).map(|(&a, &b)| b.exp() * (b - a)));
            if let Some((glp, glt)) = g {
                for k in 0..lp.len() {
                    let e = lt[k].exp();
                    glp[k] = -e;
                    glt[k] = e * (lt[k] - lp[k]) + e;
                }
            }
            v
        })
    }
    optax_pair_methods!(log_predictions, log_targets);
}

// ---------------------------------------------------------------------------------------
// huber_loss, log_cosh

/// optax's `huber_loss`: quadratic within `delta` of the target, linear beyond.
///
/// ```text
/// e = predictions − targets
/// loss = ½ min(|e|, δ)² + δ (|e| − min(|e|, δ))
/// ∂/∂predictions = clip(e, −δ, δ)
/// ```
///
/// Element-wise (the result has the predictions' shape). Identical to
/// [`HuberLoss`](crate::HuberLoss) with `delta` and no reduction; optax's form
/// gives the same gradient on the kink `|e| = δ` (½ of each side's slope).
/// optax's `targets = None` means zeros: pass zeros.
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ; [`LossError::Option`] for a NaN or
/// negative `delta`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::OptaxHuberLoss;
/// let v = OptaxHuberLoss::new().forward(array![0.5f64, 3.0].view(), array![0.0f64, 0.0].view()).unwrap();
/// assert_eq!(v, array![0.125, 2.5].into_dyn());
/// ```
///
/// # References
/// P. J. Huber, "Robust Estimation of a Location Parameter", 1964,
/// <https://doi.org/10.1214/aoms/1177703732>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.huber_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OptaxHuberLoss {
    /// The bound of the quadratic region (default 1.0).
    pub delta: f64,
    /// The reduction of the element-wise losses (default `None`).
    pub reduction: Reduction,
}

impl Default for OptaxHuberLoss {
    fn default() -> Self {
        OptaxHuberLoss { delta: 1.0, reduction: Reduction::None }
    }
}

impl OptaxHuberLoss {
    const NAME: &'static str = "huber_loss";

    /// optax's defaults: `delta = 1.0`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets `delta`.
    #[must_use]
    pub fn delta(mut self, delta: f64) -> Self {
        self.delta = delta;
        self
    }
    fn validate(&self) -> Result<()> {
        check_option(Self::NAME, "delta", self.delta, self.delta >= 0.0, "a number >= 0")
    }
    #[inline]
    fn value(&self, p: f64, t: f64) -> f64 {
        let a = (p - t).abs();
        let q = if a.is_nan() { a } else { a.min(self.delta) };
        0.5 * q * q + self.delta * (a - q)
    }
    #[inline]
    fn derivative(&self, p: f64, t: f64) -> (f64, f64) {
        let e = p - t;
        let d = if e.is_nan() { e } else { e.clamp(-self.delta, self.delta) };
        (d, -d)
    }
    optax_pointwise_methods!(Self::NAME, predictions, targets);
}

simple_struct!(
    /// optax's `log_cosh`: `log cosh(predictions − targets)`, element-wise.
    ///
    /// ```text
    /// loss = log cosh(e),  e = predictions − targets      ∂/∂predictions = tanh(e)
    /// ≈ e²/2 near 0,  ≈ |e| − log 2 far from 0
    /// ```
    ///
    /// Computed without overflow or cancellation (`log1p(2 sinh²(e/2))` for
    /// `|e| < 1`, `|e| + softplus(−2|e|) − log 2` beyond; optax evaluates
    /// `logaddexp(e, −e) − log 2`). optax's `targets = None` means zeros.
    ///
    /// # Errors
    /// [`LossError::Shape`] if the shapes differ.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::OptaxLogCosh;
    /// let v = OptaxLogCosh::new().forward(array![1e-8f64, 800.0].view(), array![0.0f64, 0.0].view()).unwrap();
    /// assert!((v[0] - 5e-17).abs() < 1e-31); // 1e-8² / 2, where cosh would round to 1
    /// assert_eq!(v[1], 800.0 - 2f64.ln());
    /// ```
    ///
    /// # References
    /// P. Chen, G. Chen, S. Zhang, "Log Hyperbolic Cosine Loss Improves Variational
    /// Auto-Encoder", 2019, <https://openreview.net/forum?id=rkglvsC9Ym>;
    /// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.log_cosh>
    OptaxLogCosh
);

impl OptaxLogCosh {
    const NAME: &'static str = "log_cosh";

    /// No reduction (optax's element-wise output).
    pub fn new() -> Self {
        Self::default()
    }
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    #[inline]
    fn value(&self, p: f64, t: f64) -> f64 {
        log_cosh_f64(p - t)
    }
    #[inline]
    fn derivative(&self, p: f64, t: f64) -> (f64, f64) {
        let d = (p - t).tanh();
        (d, -d)
    }
    optax_pointwise_methods!(Self::NAME, predictions, targets);
}

// ---------------------------------------------------------------------------------------
// smooth_labels

/// optax's `smooth_labels`: a transform, not a loss. Mixes the labels with the
/// uniform distribution over the last axis.
///
/// ```text
/// smooth_labels(labels) = (1 − alpha) · labels + alpha / C        C = labels.shape[-1]
/// ∂/∂labels = 1 − alpha
/// ```
///
/// Exposed with the interface of a loss: `forward` returns the smoothed labels
/// (under `Reduction::None`, the default; other reductions reduce them), `backward`
/// the gradient of `Σ grad_output · smoothed` w.r.t. `labels` (`Gradients::input`;
/// `target` is `None`). optax has no default `alpha`; it is required.
///
/// # Errors
/// [`LossError::Shape`] for 0-d labels; [`LossError::Option`] for a NaN `alpha`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::OptaxSmoothLabels;
/// let s = OptaxSmoothLabels::new(0.1).forward(array![[0.0f64, 1.0]].view()).unwrap();
/// assert!((s[[0, 0]] - 0.05).abs() < 1e-15 && (s[[0, 1]] - 0.95).abs() < 1e-15);
/// ```
///
/// # References
/// R. Müller, S. Kornblith, G. Hinton, "When Does Label Smoothing Help?",
/// NeurIPS 2019, <https://arxiv.org/abs/1906.02629>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.smooth_labels>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OptaxSmoothLabels {
    /// The smoothing factor (required by optax).
    pub alpha: f64,
    /// The reduction of the smoothed labels (default `None`: optax's output).
    pub reduction: Reduction,
}

impl OptaxSmoothLabels {
    const NAME: &'static str = "smooth_labels";

    /// Smoothing by `alpha`, no reduction.
    pub fn new(alpha: f64) -> Self {
        OptaxSmoothLabels { alpha, reduction: Reduction::None }
    }
    /// Sets the reduction.
    #[must_use]
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    fn prepare<T: Float, D: Dimension>(&self, labels: &ArrayView<'_, T, D>) -> Result<(Vec<f64>, Reducer, usize)> {
        check_option(Self::NAME, "alpha", self.alpha, !self.alpha.is_nan(), "a number")?;
        let shape = labels.shape();
        let Some(&c) = shape.last() else {
            return Err(shape_err(Self::NAME, "labels", "at least 1 dimension", shape));
        };
        Ok((widen(labels), Reducer::counting(self.reduction, shape, shape), c))
    }

    /// The smoothed labels (reduced as `self.reduction` says).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension>(&self, labels: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
        let (l, reducer, c) = self.prepare(&labels)?;
        let a = self.alpha;
        Ok(reducer.output(l.iter().map(|&v| (1.0 - a) * v + a / c as f64).collect()))
    }

    /// The gradient of `Σ grad_output · smooth_labels(labels)` w.r.t. `labels`
    /// (`input`); `target` is `None`.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, D: Dimension>(&self, labels: ArrayView<'_, T, D>, grad_output: ArrayViewD<'_, T>) -> Result<Gradients<T>> {
        let (l, reducer, _) = self.prepare(&labels)?;
        let scales = reducer.scales(Self::NAME, &grad_output)?;
        let g = (0..l.len()).map(|i| scales.at(i) * (1.0 - self.alpha)).collect();
        Ok(Gradients { input: narrow(labels.shape(), g), target: None })
    }

    /// The smoothed labels and their gradient (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D: Dimension>(&self, labels: ArrayView<'_, T, D>) -> Result<(ArrayD<T>, Gradients<T>)> {
        let value = self.forward(labels.view())?;
        let ones = ArrayD::from_elem(value.shape(), T::one());
        Ok((value, self.backward(labels, ones.view())?))
    }
}

// ---------------------------------------------------------------------------------------
// sparsemax losses

/// `jax.nn.sparse_plus`: 0 for `x ≤ −1`, `(x + 1)²/4` between, `x` for `x ≥ 1`;
/// and its derivative (0, `(x + 1)/2`, 1).
#[inline]
fn sparse_plus(x: f64) -> (f64, f64) {
    if x <= -1.0 {
        (0.0, 0.0)
    } else if x >= 1.0 {
        (x, 1.0)
    } else if x.is_nan() {
        (x, x)
    } else {
        ((x + 1.0) * (x + 1.0) / 4.0, (x + 1.0) / 2.0)
    }
}

/// optax's `sparsemax_loss`: the **binary** sparsemax loss (Fenchel–Young loss of
/// the sparse sigmoid), element-wise on logits and 0/1 labels.
///
/// ```text
/// z    = −logits if labels ≠ 0, else logits
/// loss = sparse_plus(z) = 0 (z ≤ −1),  (z + 1)²/4 (−1 < z < 1),  z (z ≥ 1)
/// ```
///
/// Zero exactly when `sparse_sigmoid(logits) = labels`. optax's name is
/// `sparsemax_loss`, though it is binary; the multi-class loss is
/// [`OptaxMulticlassSparsemaxLoss`]. As in optax (`jnp.where(labels, …)`), any
/// nonzero label counts as the positive class.
///
/// # Errors
/// [`LossError::Shape`] if `labels`' shape is not `logits`'.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::OptaxSparsemaxLoss;
/// let v = OptaxSparsemaxLoss::new().forward(array![0.3f64, 2.0].view(), array![1i64, 0].view()).unwrap();
/// assert!((v[0] - 0.1225).abs() < 1e-15);
/// assert_eq!(v[1], 2.0);
/// ```
///
/// # References
/// M. Blondel, A. F. T. Martins, V. Niculae, "Learning with Fenchel-Young Losses",
/// JMLR 21, 2020, Sec. 4.4, <https://arxiv.org/abs/1901.02324>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.sparsemax_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OptaxSparsemaxLoss {
    /// The reduction of the element-wise losses (default `None`).
    pub reduction: Reduction,
}

impl Default for OptaxSparsemaxLoss {
    fn default() -> Self {
        OptaxSparsemaxLoss { reduction: Reduction::None }
    }
}

impl OptaxSparsemaxLoss {
    const NAME: &'static str = "sparsemax_loss";

    /// No reduction (optax's element-wise output).
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the reduction.
    #[must_use]
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    fn prepare<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        logits: &ArrayView<'_, T, D1>,
        labels: &ArrayView<'_, L, D2>,
    ) -> Result<(Vec<f64>, Vec<f64>, Reducer)> {
        same_shape(Self::NAME, "logits", logits.shape(), "labels", labels.shape())?;
        let x = widen(logits);
        let s = labels.iter().map(|l| if l.index() != 0 { -1.0 } else { 1.0 }).collect();
        Ok((x, s, Reducer::counting(self.reduction, logits.shape(), logits.shape())))
    }

    /// The element-wise losses (reduced as `self.reduction` says).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        logits: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
    ) -> Result<ArrayD<T>> {
        let (x, s, reducer) = self.prepare(&logits, &labels)?;
        Ok(reducer.output(x.iter().zip(&s).map(|(&x, &s)| sparse_plus(s * x).0).collect()))
    }

    /// The gradient of `Σ grad_output · loss` w.r.t. `logits` (`target`: `None`).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        logits: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        let (x, s, reducer) = self.prepare(&logits, &labels)?;
        let scales = reducer.scales(Self::NAME, &grad_output)?;
        let g = (0..x.len()).map(|i| scales.at(i) * (s[i] * sparse_plus(s[i] * x[i]).1)).collect();
        Ok(Gradients { input: narrow(logits.shape(), g), target: None })
    }

    /// The loss and its gradient (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        logits: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        let value = self.forward(logits.view(), labels.view())?;
        let ones = ArrayD::from_elem(value.shape(), T::one());
        Ok((value, self.backward(logits, labels, ones.view())?))
    }
}

/// The Euclidean projection of `v` onto the probability simplex (sparsemax), by
/// the sorted-threshold algorithm exactly as optax's `projection_simplex` writes it:
/// sort descending, `k = #{i : 1/i + uᵢ − (Σ_{j≤i} uⱼ)/i > 0}`,
/// `p = relu(1/k + v − (Σ_{j≤k} uⱼ)/k)`.
pub(crate) fn projection_simplex(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    if n == 0 {
        return vec![];
    }
    if v.iter().any(|x| x.is_nan()) {
        return vec![f64::NAN; n];
    }
    let mut u = v.to_vec();
    u.sort_by(|a, b| b.total_cmp(a));
    let mut cumsum = Vec::with_capacity(n);
    let mut acc = 0.0;
    for &x in &u {
        acc += x;
        cumsum.push(acc);
    }
    let k = (0..n).filter(|&i| 1.0 / (i + 1) as f64 + (u[i] - cumsum[i] / (i + 1) as f64) > 0.0).count().max(1);
    let kf = k as f64;
    v.iter().map(|&x| (1.0 / kf + (x - cumsum[k - 1] / kf)).max(0.0)).collect()
}

/// optax's `multiclass_sparsemax_loss`: the sparsemax (Fenchel–Young) loss of
/// integer labels, one per row of `scores`.
///
/// ```text
/// p    = sparsemax(scores) = argmin_{p ∈ Δ} ‖p − scores‖²       (row by row)
/// s'   = scores − scores[label]   (with s'[label] = 0)
/// loss = Σ_i p_i s'_i + ½ (1 − Σ_i p_i²)
/// ∂/∂scores = p − onehot(label)
/// ```
///
/// The loss is 0 exactly when `sparsemax(scores)` is the one-hot label; unlike
/// softmax cross entropy it reaches 0 at finite scores (a margin). The gradient
/// is the one JAX computes through optax's custom JVP of the projection
/// (`diag(s) − s sᵀ/|s|` on the support `s`), which simplifies to `p − onehot`.
///
/// Shapes: `scores` `(N, C)`, `labels` `(N,)` (optax `vmap`s over the rows).
///
/// # Errors
/// [`LossError::Shape`] if `scores` is not 2-d or `labels` is not `(N,)`;
/// [`LossError::ClassIndex`] for a label outside `[0, C)` (JAX would clamp the index
/// silently).
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::OptaxMulticlassSparsemaxLoss;
/// let scores = array![[3.0f64, 0.0, 0.0], [1.0, 0.5, 0.0]];
/// let labels = array![0i64, 0];
/// let (v, g) = OptaxMulticlassSparsemaxLoss::new().forward_backward(scores.view(), labels.view()).unwrap();
/// assert_eq!(v[0], 0.0); // sparsemax is already one-hot
/// // p = [0.75, 0.25, 0]: loss = 0.25·(−0.5) + ½(1 − 0.625)
/// assert_eq!(v[1], 0.0625);
/// assert_eq!(g.input.as_slice().unwrap()[3..], [-0.25, 0.25, 0.0]);
/// ```
///
/// # References
/// A. F. T. Martins, R. F. Astudillo, "From Softmax to Sparsemax: A Sparse Model of
/// Attention and Multi-Label Classification", ICML 2016, <https://arxiv.org/abs/1602.02068>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.multiclass_sparsemax_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OptaxMulticlassSparsemaxLoss {
    /// The reduction of the per-example losses (default `None`).
    pub reduction: Reduction,
}

impl Default for OptaxMulticlassSparsemaxLoss {
    fn default() -> Self {
        OptaxMulticlassSparsemaxLoss { reduction: Reduction::None }
    }
}

impl OptaxMulticlassSparsemaxLoss {
    const NAME: &'static str = "multiclass_sparsemax_loss";

    /// No reduction (optax's per-example output).
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the reduction.
    #[must_use]
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    fn run<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        scores: &ArrayView<'_, T, D1>,
        labels: &ArrayView<'_, L, D2>,
        go: Option<&ArrayViewD<'_, T>>,
    ) -> Result<(ArrayD<T>, Option<ArrayD<T>>)> {
        if scores.ndim() != 2 {
            return Err(shape_err(Self::NAME, "scores", "(N, C): optax maps the loss over the rows of a 2-d tensor", scores.shape()));
        }
        run_labels(Self::NAME, ("scores", scores), ("labels", labels), false, None, self.reduction, go, |s, lab, g| {
            let y = lab.unwrap_or(0);
            let p = projection_simplex(s);
            let sy = s[y];
            let v = sum_f64((0..s.len()).map(|i| {
                let sp = if i == y { 0.0 } else { s[i] - sy };
                p[i] * if p[i] != 0.0 { sp } else { 0.0 }
            })) + 0.5 * (1.0 - sum_f64(p.iter().map(|x| x * x)));
            if let Some(gx) = g {
                for (i, o) in gx.iter_mut().enumerate() {
                    *o = p[i];
                }
                gx[y] = -sum_f64((0..s.len()).filter(|&i| i != y).map(|i| p[i]));
            }
            v
        })
    }

    /// The per-example losses (reduced as `self.reduction` says).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        scores: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
    ) -> Result<ArrayD<T>> {
        Ok(self.run(&scores, &labels, None)?.0)
    }

    /// The gradient of `Σ grad_output · loss` w.r.t. `scores` (`target`: `None`).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        scores: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        match self.run(&scores, &labels, Some(&grad_output))?.1 {
            Some(g) => Ok(Gradients { input: g, target: None }),
            None => unreachable!("gradients are computed when grad_output is given"),
        }
    }

    /// The loss and its gradient (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        scores: ArrayView<'_, T, D1>,
        labels: ArrayView<'_, L, D2>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        let value = self.forward(scores.view(), labels.view())?;
        let ones = ArrayD::from_elem(value.shape(), T::one());
        Ok((value, self.backward(scores, labels, ones.view())?))
    }
}

// ---------------------------------------------------------------------------------------
// free functions

/// [`OptaxPolyLossCrossEntropy`] with `epsilon`: `optax.losses.poly_loss_cross_entropy(logits, labels, epsilon=…)`.
///
/// # Errors
/// See [`OptaxPolyLossCrossEntropy`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::optax_poly_loss_cross_entropy(array![[0.0f64, 0.0]].view(), array![[0.0f64, 1.0]].view(), 0.0).unwrap();
/// assert!((v[0] - 2f64.ln()).abs() < 1e-15); // epsilon = 0 is cross entropy
/// ```
///
/// # References
/// [`OptaxPolyLossCrossEntropy`]: its formula, the reference's semantics and the paper.
pub fn optax_poly_loss_cross_entropy<T: Float, D: Dimension>(
    logits: ArrayView<'_, T, D>,
    labels: ArrayView<'_, T, D>,
    epsilon: f64,
) -> Result<ArrayD<T>> {
    OptaxPolyLossCrossEntropy::new().epsilon(epsilon).forward(logits, labels)
}

/// [`OptaxHuberLoss`] with `delta`: `optax.losses.huber_loss(predictions, targets, delta=…)`.
///
/// # Errors
/// See [`OptaxHuberLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::optax_huber_loss(array![4.0f64].view(), array![0.0f64].view(), 2.0).unwrap();
/// assert_eq!(v[0], 2.0 + 2.0 * 2.0);
/// ```
///
/// # References
/// [`OptaxHuberLoss`]: its formula, the reference's semantics and the paper.
pub fn optax_huber_loss<T: Float, D: Dimension>(predictions: ArrayView<'_, T, D>, targets: ArrayView<'_, T, D>, delta: f64) -> Result<ArrayD<T>> {
    OptaxHuberLoss::new().delta(delta).forward(predictions, targets)
}

/// [`OptaxLogCosh`]: `optax.losses.log_cosh(predictions, targets)`.
///
/// # Errors
/// See [`OptaxLogCosh`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::optax_log_cosh(array![0.0f64].view(), array![0.0f64].view()).unwrap();
/// assert_eq!(v[0], 0.0);
/// ```
///
/// # References
/// [`OptaxLogCosh`]: its formula, the reference's semantics and the paper.
pub fn optax_log_cosh<T: Float, D: Dimension>(predictions: ArrayView<'_, T, D>, targets: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
    OptaxLogCosh::new().forward(predictions, targets)
}

/// [`OptaxSmoothLabels`]: `optax.losses.smooth_labels(labels, alpha)`.
///
/// # Errors
/// See [`OptaxSmoothLabels`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let s = losslab::optax_smooth_labels(array![[1.0f64, 0.0, 0.0, 0.0]].view(), 0.2).unwrap();
/// assert!((s[[0, 0]] - 0.85).abs() < 1e-15 && (s[[0, 1]] - 0.05).abs() < 1e-15);
/// ```
///
/// # References
/// [`OptaxSmoothLabels`]: its formula, the reference's semantics and the paper.
pub fn optax_smooth_labels<T: Float, D: Dimension>(labels: ArrayView<'_, T, D>, alpha: f64) -> Result<ArrayD<T>> {
    OptaxSmoothLabels::new(alpha).forward(labels)
}

/// [`OptaxMulticlassSparsemaxLoss`]: `optax.losses.multiclass_sparsemax_loss(scores, labels)`.
///
/// # Errors
/// See [`OptaxMulticlassSparsemaxLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::optax_multiclass_sparsemax_loss(array![[0.0f64, 0.0]].view(), array![1u8].view()).unwrap();
/// assert_eq!(v[0], 0.25); // p = [½, ½]: ½·0 + ½·0 + ½(1 − ½)
/// ```
///
/// # References
/// [`OptaxMulticlassSparsemaxLoss`]: its formula, the reference's semantics and the paper.
pub fn optax_multiclass_sparsemax_loss<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
    scores: ArrayView<'_, T, D1>,
    labels: ArrayView<'_, L, D2>,
) -> Result<ArrayD<T>> {
    OptaxMulticlassSparsemaxLoss::new().forward(scores, labels)
}
