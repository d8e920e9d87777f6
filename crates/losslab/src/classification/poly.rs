//! Softmax cross entropies with a twist, as optax computes them: the poly-1
//! cross entropy, the safe softmax cross entropy, and label smoothing.
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

#[allow(unused_imports)] // for the docs' links
use crate::machinery::error::LossError;
use crate::machinery::error::{check_option, shape_err, Result};
use crate::machinery::float::{narrow, widen, Float};
use crate::machinery::lanes::*;
use crate::machinery::methods::*;
use crate::machinery::reduction::{sum_f64, Gradients, Reducer, Reduction};
use crate::machinery::kernels::rows::{lane_sum2_zip_store, lane_sum_zip, zip_update};
use crate::machinery::kernels::elementwise::{ElemOp, Lanes};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use crate::math::*;
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension};

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
/// Shapes: the two broadcast together as optax broadcasts them (NumPy's rule, any
/// ranks; one result per lane of the broadcast shape, each gradient summed back to
/// its tensor's shape), except along the logits' class axis: optax takes the
/// softmax over the logits' own class axis first, and a size-1 one that would
/// broadcast is refused here (optax accepts it).
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast (or the logits' class axis
/// would) or are 0-d; [`LossError::Option`] for an `axis` the tensors do not have
/// or a NaN `epsilon`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::classification::OptaxPolyLossCrossEntropy;
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
    setters!(
        /// Sets `epsilon`.
        epsilon: f64,
        /// Sets the class axis.
        axis: isize
    );

    fn run<T: Float, D: Dimension>(
        &self,
        logits: &ArrayView<'_, T, D>,
        labels: &ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<PairOutput<T>> {
        let eps = self.epsilon;
        check_option(Self::NAME, "epsilon", eps, !eps.is_nan(), "a number")?;
        if let Some(done) = self.fused(logits, labels, up)? {
            return Ok(done);
        }
        // optax takes the softmax over the logits' own class axis, then broadcasts.
        let shapes = PairShapes::Numpy { own_lane: [true, false], keras_rank: false };
        run_pair_with(Self::NAME, ("logits", logits), ("labels", labels), self.axis, shapes, self.reduction, up.given(), |x, l, g: LaneGrads<'_>| {
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
    /// The machinery's row sweep for logits and labels of one shape, both
    /// contiguous, classes on the last axis: per row the cross-entropy kernel's
    /// block maximum and exponential sum `S`, then in one pass over the row
    /// `p_k = exp(x_k − m) / S` (a vectorised exp), the loss's two sums, `Σ
    /// labels` and `Σ labels · p`; then both gradients in one more, `p`
    /// recomputed in `f64`; rows in parallel in the tensors' own type. `None`
    /// for every other case, and for inputs with a NaN or infinite logit
    /// maximum (the general path's formulas handle them).
    fn fused<T: Float, D: Dimension>(&self, logits: &ArrayView<'_, T, D>, labels: &ArrayView<'_, T, D>, up: &Upstream<'_, T>) -> Result<Option<PairOutput<T>>> {
        use crate::machinery::kernels::elementwise::exp_nonpos;
        use crate::machinery::kernels::rows::lane_sums_zip;
        let shape = logits.shape();
        let last = shape.len() as isize - 1;
        if labels.shape() != shape || shape.is_empty() || (self.axis != -1 && self.axis != last) {
            return Ok(None);
        }
        let (Some(xs), Some(ls)) = (logits.as_slice(), labels.as_slice()) else { return Ok(None) };
        let (rows, c, out) = last_axis(Self::NAME, "logits", shape)?;
        if rows * c == 0 {
            return Ok(None);
        }
        let reducer = Reducer::counting(self.reduction, &out, shape);
        let (eps, special) = (self.epsilon, std::sync::atomic::AtomicBool::new(false));
        let done = eval_rows(Self::NAME, &reducer, shape, (rows, c), up, true, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
            let (x, l) = (&xs[r * c..(r + 1) * c], &ls[r * c..(r + 1) * c]);
            // SAFETY: a null destination: nothing is stored.
            let Some((m, s)) = (unsafe { softmax_row(x, std::ptr::null_mut(), &special) }) else { return 0.0 };
            let ls = s.ln();
            let p = inlined(#[inline(always)] |xk: f64| exp_nonpos(xk - m) / s);
            let Some(g) = g else {
                let [ce, omp] = lane_sums_zip(x, l, #[inline(always)] |xk, lk| [lk * ((xk - m) - ls), lk * (1.0 - p(xk))]);
                return -ce + eps * omp;
            };
            let up = g.up;
            let [ce, omp, sl, slp] = lane_sums_zip(x, l, #[inline(always)] |xk, lk| {
                let p = p(xk);
                [lk * ((xk - m) - ls), lk * (1.0 - p), lk, lk * p]
            });
            // Both gradients in one more loop, p recomputed (in f64, as the sums saw it).
            for (((gk, ok), &xk), &lk) in g.gx.iter_mut().zip(g.go.iter_mut()).zip(x).zip(l) {
                let (xk, lk) = (xk.to_wide(), lk.to_wide());
                let p = p(xk);
                *ok = T::from_wide(up * (-((xk - m) - ls) + eps * (1.0 - p)));
                *gk = T::from_wide(up * ((p * sl - lk) - eps * (p * (lk - slp))));
            }
            -ce + eps * omp
        })?;
        Ok((!special.load(std::sync::atomic::Ordering::Relaxed)).then(|| pair_output(done)))
    }

    loss_methods!(optax: run(input = first), (logits: float, labels: float));
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
    /// Shapes: the two broadcast together as optax broadcasts them (NumPy's rule,
    /// any ranks; one result per lane of the broadcast shape, each gradient summed
    /// back to its tensor's shape), except along the logits' class axis: optax
    /// takes the softmax over the logits' own class axis first, and a size-1 one
    /// that would broadcast is refused here (optax accepts it).
    ///
    /// # Errors
    /// [`LossError::Shape`] if the shapes do not broadcast (or the logits' class
    /// axis would) or are 0-d.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::classification::OptaxSafeSoftmaxCrossEntropy;
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
        up: &Upstream<'_, T>,
    ) -> Result<PairOutput<T>> {
        if let Some(done) = self.fused(logits, labels, up)? {
            return Ok(done);
        }
        let shapes = PairShapes::Numpy { own_lane: [true, false], keras_rank: false };
        run_pair_with(Self::NAME, ("logits", logits), ("labels", labels), -1, shapes, self.reduction, up.given(), |x, w, g| {
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
    /// The machinery's row sweep ([`softmax_ce_rows`], `0 · log 0 = 0`) for
    /// logits and labels of one shape, both contiguous; `None` for every other
    /// case.
    fn fused<T: Float, D: Dimension>(&self, logits: &ArrayView<'_, T, D>, labels: &ArrayView<'_, T, D>, up: &Upstream<'_, T>) -> Result<Option<PairOutput<T>>> {
        Ok(softmax_ce_rows::<T, D, true>(Self::NAME, logits, labels, self.reduction, up)?.map(pair_output))
    }

    loss_methods!(optax: run(input = first), (logits: float, labels: float));
}

/// The softmax cross entropy `−Σ w_k log p_k` (`p = softmax(x)` along the last
/// axis) of logits `x` and weights `w` of one shape, both contiguous, on the
/// machinery's row sweep: per row the cross-entropy kernel's block operations
/// (the maximum; the exponentials stored in the logits' gradient row and summed
/// in `f64`), then the loss, `∂/∂w = −log p` and `∂/∂x = p Σw − w` in one pass
/// from cache, in parallel in the tensors' own type. `SAFE` takes `0 · log 0 =
/// 0` (optax's `safe_softmax_cross_entropy`); otherwise every term counts
/// (`ranking_softmax_loss`, whose labels weigh every item). `None` for shapes
/// that differ, strided or 0-d tensors, no element, and for inputs with a NaN
/// or infinite logit maximum: the caller's general path takes those.
pub(crate) fn softmax_ce_rows<T: Float, D: Dimension, const SAFE: bool>(
    name: &'static str,
    logits: &ArrayView<'_, T, D>,
    labels: &ArrayView<'_, T, D>,
    reduction: Reduction,
    up: &Upstream<'_, T>,
) -> Result<Option<Eval<T, Gradients<T>>>> {
    let shape = logits.shape();
    if labels.shape() != shape || shape.is_empty() {
        return Ok(None);
    }
    let (Some(xs), Some(ws)) = (logits.as_slice(), labels.as_slice()) else { return Ok(None) };
    let (rows, c, out) = last_axis(name, "logits", shape)?;
    if rows * c == 0 {
        return Ok(None);
    }
    let reducer = Reducer::counting(reduction, &out, shape);
    let special = std::sync::atomic::AtomicBool::new(false);
    // Both gradient rows written in full (`full`: no zeroing first): the
    // logits' by the exponentials, then in place; the labels' by the loss's pass.
    let done = eval_rows_into(name, &reducer, shape, (rows, c), up, true, true, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
        let (x, w) = (&xs[r * c..(r + 1) * c], &ws[r * c..(r + 1) * c]);
        let mut g = g;
        let dst = g.as_mut().map_or(std::ptr::null_mut(), |g| g.gx.as_mut_ptr());
        // SAFETY: the gradient row holds c elements, as the row does.
        let Some((m, s)) = (unsafe { softmax_row(x, dst, &special) }) else {
            // A special row (the general path takes the call): written all the same.
            if let Some(g) = g {
                g.gx.fill(T::zero());
                g.go.fill(T::zero());
            }
            return 0.0;
        };
        let ls = s.ln();
        let lp = |xk: f64| (xk - m) - ls;
        let term = |xk: f64, wk: f64| if !SAFE || wk != 0.0 { wk * lp(xk) } else { 0.0 };
        let Some(g) = g else { return -lane_sum_zip(x, w, term) };
        let (v, sw) = lane_sum2_zip_store(x, w, g.go, |xk, wk| (term(xk, wk), wk, g.up * -lp(xk)));
        // p_k Σw − w_k, p_k = e_k / S (e_k kept in the gradient row).
        let f = sw / s;
        zip_update(g.gx, w, #[inline(always)] |ek, wk| g.up * (ek * f - wk));
        -v
    })?;
    Ok((!special.load(std::sync::atomic::Ordering::Relaxed)).then_some(done))
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
/// use losslab::classification::OptaxSmoothLabels;
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

    fn prepare<T: Float, D: Dimension>(&self, labels: &ArrayView<'_, T, D>) -> Result<(Vec<f64>, Reducer, usize)> {
        check_option(Self::NAME, "alpha", self.alpha, !self.alpha.is_nan(), "a number")?;
        let shape = labels.shape();
        let Some(&c) = shape.last() else {
            return Err(shape_err(Self::NAME, "labels", "at least 1 dimension", shape));
        };
        Ok((widen(labels), Reducer::counting(self.reduction, shape, shape), c))
    }

    /// The element-wise sweep on contiguous labels of `c` classes (read as
    /// both of its operands): the smoothed labels, and with an upstream
    /// gradient of ones their gradient `1 − alpha` (times the reduction's
    /// factor), in the same pass ([`SmoothOp`]: 8 `f64` lanes on AVX-512).
    fn sweep<T: Float, D: Dimension>(&self, labels: &ArrayView<'_, T, D>, c: usize, up: &Upstream<'_, T>) -> Result<Eval<T, Gradients<T>>> {
        let a = self.alpha;
        check_option(Self::NAME, "alpha", a, !a.is_nan(), "a number")?;
        let op = SmoothOp { keep: 1.0 - a, add: a / c as f64 };
        eval_pointwise_op(Self::NAME, Pairing::Same, ("labels", labels), ("labels", labels), self.reduction, up, false, op, #[inline(always)] move |_, v, _| op.eval(v, v).0, #[inline(always)] move |_, _, _| (op.keep, 0.0))
    }

    /// The smoothed labels (reduced as `self.reduction` says).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension>(&self, labels: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
        let (a, shape) = (self.alpha, labels.shape());
        if let (Some(&c), Some(_)) = (shape.last(), labels.as_slice()) {
            return Ok(self.sweep(&labels, c, &Upstream::Skip)?.0);
        }
        let (l, reducer, c) = self.prepare(&labels)?;
        Ok(reducer.output(l.iter().map(|&v| (1.0 - a) * v + a / c as f64).collect()))
    }

    /// The gradient of `Σ grad_output · smooth_labels(labels)` w.r.t. `labels`
    /// (`input`); `target` is `None`.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, D: Dimension>(&self, labels: ArrayView<'_, T, D>, grad_output: ArrayViewD<'_, T>) -> Result<Gradients<T>> {
        let (a, shape) = (self.alpha, labels.shape());
        if !shape.is_empty() && labels.as_slice().is_some() {
            check_option(Self::NAME, "alpha", a, !a.is_nan(), "a number")?;
            // The gradient does not read the labels: `(1 − alpha)` times the upstream gradient.
            if self.reduction != Reduction::None {
                let sc = Reducer::counting(self.reduction, shape, shape).scales(Self::NAME, &grad_output)?.at(0);
                return Ok(Gradients { input: ArrayD::from_elem(ndarray::IxDyn(shape), T::from_wide(sc * (1.0 - a))), target: None });
            }
            if grad_output.shape() == shape && grad_output.as_slice().is_some() {
                // The element-wise sweep over the upstream gradient: `u (1 − alpha)` stored per element.
                let g = (&grad_output, &grad_output);
                let (input, _) = eval_pointwise(Self::NAME, Pairing::Same, ("grad_output", g.0), ("grad_output", g.1), Reduction::None, &Upstream::Skip, false, #[inline(always)] |_, u, _| u * (1.0 - a), |_, _, _| (0.0, 0.0))?;
                return Ok(Gradients { input, target: None });
            }
        }
        let (l, reducer, _) = self.prepare(&labels)?;
        let scales = reducer.scales(Self::NAME, &grad_output)?;
        let g = (0..l.len()).map(|i| scales.at(i) * (1.0 - self.alpha)).collect();
        Ok(Gradients { input: narrow(labels.shape(), g), target: None })
    }

    /// The smoothed labels and the gradient of their sum (of the reduced
    /// result's, under a reduction): on contiguous labels one element-wise
    /// sweep writes both (the gradient is the constant `1 − alpha`, times the
    /// reduction's factor), each output allocated once; other layouts take
    /// [`forward`](Self::forward), then [`backward`](Self::backward) with ones.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D: Dimension>(&self, labels: ArrayView<'_, T, D>) -> Result<(ArrayD<T>, Gradients<T>)> {
        if let (Some(&c), Some(_)) = (labels.shape().last(), labels.as_slice()) {
            let (v, g) = self.sweep(&labels, c, &Upstream::Ones)?;
            return Ok((v, g.expect("gradients requested")));
        }
        let value = self.forward(labels.view())?;
        let ones = ArrayD::from_elem(value.shape(), T::one());
        Ok((value, self.backward(labels, ones.view())?))
    }

    /// Sets the reduction.
    #[must_use]
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}

/// [`OptaxSmoothLabels`]'s element: `keep · v + add` (`keep = 1 − alpha`,
/// `add = alpha / C`), its derivative `keep`. On AVX-512 the `f32` labels run
/// in 8 `f64` lanes by the same multiply and add (not fused), so that every
/// path gives the same bits; the portable loop of 16 groups of 16 elements,
/// which LLVM vectorises across groups with gathers for a body this short, ran
/// at 2 GB/s.
#[derive(Clone, Copy)]
struct SmoothOp {
    keep: f64,
    add: f64,
}

impl ElemOp for SmoothOp {
    #[inline(always)]
    fn eval(self, v: f64, _: f64) -> (f64, f64, f64) {
        (self.keep * v + self.add, self.keep, 0.0)
    }

    const LANES512: Lanes = Lanes::F64;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_pd(self, v: __m512d, _: __m512d) -> (__m512d, __m512d, __m512d) {
        let keep = _mm512_set1_pd(self.keep);
        (_mm512_add_pd(_mm512_mul_pd(keep, v), _mm512_set1_pd(self.add)), keep, _mm512_setzero_pd())
    }
}

free_fn! {
    /// [`OptaxPolyLossCrossEntropy`] with `epsilon`: `optax.losses.poly_loss_cross_entropy(logits, labels, epsilon=…)`.
    pub fn optax_poly_loss_cross_entropy(logits: float, labels: float; epsilon: f64) = OptaxPolyLossCrossEntropy {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::classification::optax_poly_loss_cross_entropy(array![[0.0f64, 0.0]].view(), array![[0.0f64, 1.0]].view(), 0.0).unwrap();
        /// assert!((v[0] - 2f64.ln()).abs() < 1e-15); // epsilon = 0 is cross entropy
        /// ```
        ///
        /// # References
        /// [`OptaxPolyLossCrossEntropy`]: its formula, the reference's semantics and the paper.
    }
}

/// [`OptaxSmoothLabels`]: `optax.losses.smooth_labels(labels, alpha)`.
///
/// # Errors
/// See [`OptaxSmoothLabels`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let s = losslab::classification::optax_smooth_labels(array![[1.0f64, 0.0, 0.0, 0.0]].view(), 0.2).unwrap();
/// assert!((s[[0, 0]] - 0.85).abs() < 1e-15 && (s[[0, 1]] - 0.05).abs() < 1e-15);
/// ```
///
/// # References
/// [`OptaxSmoothLabels`]: its formula, the reference's semantics and the paper.
pub fn optax_smooth_labels<T: Float, D: Dimension>(labels: ArrayView<'_, T, D>, alpha: f64) -> Result<ArrayD<T>> {
    OptaxSmoothLabels::new(alpha).forward(labels)
}

free_fn! {
    /// [`OptaxSafeSoftmaxCrossEntropy`]: `optax.losses.safe_softmax_cross_entropy(logits, labels)`, one value per example.
    pub fn optax_safe_softmax_cross_entropy(logits: float, labels: float) = OptaxSafeSoftmaxCrossEntropy;
}
