//! Classification losses (the article's questions 2 and 4): softmax cross
//! entropy with integer labels and with probability targets, NLL, binary cross
//! entropy on probabilities and on logits, and TensorFlow's dense and sparse
//! `softmax_cross_entropy_with_logits`.
//!
//! Softmax-based losses go through log-sum-exp with the maximum subtracted, so
//! logits of ±1e4 are exact and a `−∞` logit that is not the target is a
//! probability of exactly 0. Their gradients are written in the form PyTorch's
//! autograd computes them (the log-softmax backward `g − p · Σg`), so that even
//! the degenerate cases (all-ignored batches, zero class weights) give the same
//! numbers, NaN included.

use crate::machinery::broadcast::Broadcast;
use crate::machinery::methods::{free_fn, loss_methods, setters};
use crate::machinery::error::{check_option, same_shape, shape_err, unravel, LossError, Result};
use crate::machinery::float::{narrow, widen, ClassIndex, Float};
use crate::machinery::kernels::elementwise::{BceLogits, ElemOp, Lanes as SweepLanes};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use crate::machinery::kernels::rows::{lane_sum2_zip_store, lane_sum_zip};
use crate::machinery::lanes::{eval_pointwise, eval_pointwise_op, eval_rows, eval_rows_into, resolve_axis, softmax_row, Eval, Pairing, RowGrads, Upstream};
use crate::math::{log_sigmoid_f64, log_softmax_backward, log_softmax_lane, sigmoid_f64};
use crate::machinery::pointwise::{broadcast_weight, Fused, Pointwise};
use crate::machinery::reduction::{ones_like_output, Gradients, Reducer, Reduction, Scales};
use crate::machinery::vmath;
use ndarray::{ArrayD, ArrayView, ArrayView1, ArrayViewD, ArrayViewMut, Dimension};

mod clipped;
mod focal;
mod linear;
mod poly;
mod sparsemax;
pub use clipped::*;
pub use focal::*;
pub use linear::*;
pub use poly::*;
pub use sparsemax::*;

mod fused;

/// The lanes of a tensor along its class axis: `outer × inner` samples of
/// `classes` values each, with stride `inner`.
struct ClassLanes {
    outer: usize,
    classes: usize,
    inner: usize,
    x: Vec<f64>,
}

impl ClassLanes {
    fn new<T: Float, D: Dimension>(x: &ArrayView<'_, T, D>, axis: usize) -> Self {
        let (outer, classes, inner) = crate::machinery::lanes::lanes(x.shape(), axis);
        ClassLanes { outer, classes, inner, x: widen(x) }
    }
    fn samples(&self) -> usize {
        self.outer * self.inner
    }
    /// Flat index of class `c` of sample `s`.
    #[inline]
    fn at(&self, s: usize, c: usize) -> usize {
        let (o, i) = (s / self.inner, s % self.inner);
        o * self.classes * self.inner + c * self.inner + i
    }
    /// The log-softmax of sample `s` into `out` (length `classes`).
    fn log_softmax(&self, s: usize, lane: &mut [f64], out: &mut [f64]) {
        for (c, l) in lane.iter_mut().enumerate() {
            *l = self.x[self.at(s, c)];
        }
        log_softmax_lane(lane, out);
    }
}

/// The class axis of a PyTorch-style input: 1 for `(N, C, d…)`, 0 for `(C,)`;
/// and the shape of one loss per sample.
fn torch_class_axis(loss: &'static str, shape: &[usize]) -> Result<(usize, Vec<usize>)> {
    match shape.len() {
        0 => Err(shape_err(loss, "input", "(C,), (N, C) or (N, C, d1, ..., dk)", shape)),
        1 => Ok((0, vec![])),
        _ => {
            let mut s = shape.to_vec();
            s.remove(1);
            Ok((1, s))
        }
    }
}

fn class_weights<T: Float>(w: ArrayView1<'_, T>) -> Vec<f64> {
    w.iter().map(|v| v.to_wide()).collect()
}

fn check_weight(loss: &'static str, weight: &Option<Vec<f64>>, classes: usize) -> Result<()> {
    match weight {
        Some(w) if w.len() != classes => Err(shape_err(
            loss,
            "weight",
            format!("[{classes}] (one weight per class: the size of `input`'s class axis)"),
            &[w.len()],
        )),
        _ => Ok(()),
    }
}

/// Validated integer labels: `Some(class)` per sample, `None` where ignored.
fn check_labels<L: ClassIndex, D: Dimension>(
    loss: &'static str,
    tensor: &'static str,
    target: &ArrayView<'_, L, D>,
    classes: usize,
    ignore_index: Option<i64>,
) -> Result<Vec<Option<usize>>> {
    target
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            let l = l.index();
            if Some(l) == ignore_index {
                Ok(None)
            } else if l < 0 || l as u64 >= classes as u64 {
                Err(LossError::ClassIndex {
                    loss,
                    tensor,
                    index: l,
                    position: unravel(i, target.shape()),
                    classes,
                    ignore_index,
                })
            } else {
                Ok(Some(l as usize))
            }
        })
        .collect()
}

/// The part of softmax cross entropy with integer labels shared by the
/// forward and backward passes.
struct IndexedCe {
    lanes: ClassLanes,
    labels: Vec<Option<usize>>,
    reducer: Reducer,
}

/// Shared by [`CrossEntropyLoss`] (with smoothing) and [`NllLoss`] (the input is
/// already log-probabilities).
struct IndexedSpec<'a> {
    loss: &'static str,
    reduction: Reduction,
    weight: &'a Option<Vec<f64>>,
    ignore_index: Option<i64>,
}

impl IndexedCe {
    fn new<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        spec: &IndexedSpec<'_>,
        input: &ArrayView<'_, T, D1>,
        target: &ArrayView<'_, L, D2>,
        torch_layout: bool,
    ) -> Result<Self> {
        let (axis, sample_shape) = if torch_layout {
            torch_class_axis(spec.loss, input.shape())?
        } else {
            // TensorFlow: classes on the last axis.
            let s = input.shape();
            if s.is_empty() {
                return Err(shape_err(spec.loss, "logits", "at least 1 dimension (the classes)", s));
            }
            (s.len() - 1, s[..s.len() - 1].to_vec())
        };
        let (tname, iname) = if torch_layout { ("target", "input") } else { ("labels", "logits") };
        if target.shape() != sample_shape.as_slice() && !(torch_layout && one_sample_target(input.shape(), target.shape())) {
            return Err(shape_err(
                spec.loss,
                tname,
                format!("{sample_shape:?} (the shape of `{iname}` without its class axis)"),
                target.shape(),
            ));
        }
        let lanes = ClassLanes::new(input, axis);
        check_weight(spec.loss, spec.weight, lanes.classes)?;
        let labels = check_labels(spec.loss, tname, target, lanes.classes, spec.ignore_index)?;
        let denominator = sum_weights(spec.weight, &labels);
        let reducer = Reducer {
            reduction: spec.reduction,
            shape: sample_shape,
            mean_denominator: denominator,
            batch: input.shape().first().copied().filter(|_| input.ndim() > 1).unwrap_or(1) as f64,
        };
        Ok(IndexedCe { lanes, labels, reducer })
    }
}

/// The rows of a class-score input on the fused row sweeps: `(rows, C, the
/// sample shape a class-index target has)` for a non-empty `(N, C)` or `(C,)`
/// shape, `None` for any other (which the general path takes).
pub(crate) fn class_rows(shape: &[usize]) -> Option<(usize, usize, &[usize])> {
    match *shape {
        [c] if c > 0 => Some((1, c, &[])),
        [n, c] if n > 0 && c > 0 => Some((n, c, &shape[..1])),
        _ => None,
    }
}

/// Whether `target` is PyTorch's `(1,)` form of the 0-d target of a `(C,)`
/// input: PyTorch's `nll_loss` (and `cross_entropy` without label smoothing)
/// computes its value as the 0-d target's, a 0-d result (its backward raises
/// "size mismatch (got input: [C], target: [1])"; losslab's gives the 0-d
/// target's gradient).
fn one_sample_target(input: &[usize], target: &[usize]) -> bool {
    input.len() == 1 && target == [1]
}

/// PyTorch refuses [`one_sample_target`] with label smoothing ("output with
/// shape [] doesn't match the broadcast shape [1]").
fn check_one_sample_smoothing(input: &[usize], target: &[usize], smoothing: f64) -> Result<()> {
    if smoothing > 0.0 && one_sample_target(input, target) {
        return Err(shape_err(
            CrossEntropyLoss::NAME,
            "target",
            "[] with label smoothing, for a (C,) input (PyTorch refuses the (1,) form then: \
             \"output with shape [] doesn't match the broadcast shape [1]\")",
            target,
        ));
    }
    Ok(())
}

/// `Σ w[yₛ]` over the samples that count (their number without weights), summed
/// in sample order as PyTorch does.
fn sum_weights(weight: &Option<Vec<f64>>, labels: &[Option<usize>]) -> f64 {
    crate::machinery::reduction::sum_f64(labels.iter().flatten().map(|&y| weight.as_ref().map_or(1.0, |w| w[y])))
}

/// Softmax cross entropy, `torch.nn.functional.cross_entropy`: log-softmax over
/// the class axis, then the negative log-likelihood of the target.
///
/// `input` holds logits of shape `(N, C)`, `(N, C, d1, …, dk)` or `(C,)`. The
/// target is either class indices ([`forward`](Self::forward): shape `(N, d1, …, dk)`,
/// or `()` for a `(C,)` input; also `(1,)` there, without label smoothing, as
/// PyTorch, whose value is the 0-d target's and a 0-d result, though PyTorch's
/// own backward then raises "size mismatch": losslab gives the 0-d target's
/// gradient) or class probabilities
/// ([`forward_probs`](Self::forward_probs): the input's shape).
///
/// ```text
/// log pₛ = log_softmax(xₛ)                                       over the C classes
/// class indices:      ℓₛ = (1−ε) · (−w[yₛ] log pₛ[yₛ]) + ε/C · (−Σ_c w_c log pₛ[c])
///                     Mean = Σₛ ℓₛ / Σₛ w[yₛ]          (samples with yₛ = ignore_index: ℓₛ = 0, not counted)
/// class probabilities: ℓₛ = −Σ_c w_c tₛ[c] log pₛ[c],   tₛ = (1−ε) tₛ + ε/C
///                     Mean = Σₛ ℓₛ / (number of samples)
/// ∂ℓₛ/∂xₛ = w[yₛ] (pₛ − onehot(yₛ)) without smoothing or weights: softmax − one-hot
/// ```
///
/// with class weights `w` (all 1 by default) and label smoothing `ε`. These are
/// PyTorch's normalisations to the detail: with weights, label smoothing's
/// uniform term is divided by the same `Σ w[yₛ]` as the main term; a weighted
/// mean over probability targets divides by the number of samples, not by weights.
/// An empty batch, or one whose every target is ignored, has mean `NaN` and sum 0.
///
/// # Errors
/// [`LossError::Shape`] for an input without a class axis, a target or weight of
/// the wrong shape; [`LossError::ClassIndex`] for a class index outside `[0, C)`
/// that is not `ignore_index`; [`LossError::Option`] for `label_smoothing` outside
/// `[0, 1]`; [`LossError::Unsupported`] for probability targets with
/// `ignore_index ≥ 0` (as PyTorch: "ignore_index is not supported for floating
/// point target").
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::{CrossEntropyLoss, Reduction};
/// // The article's pipeline: logits → softmax → −log p(true class) → batch mean.
/// let logits = array![[2.0f64, 1.0, 0.1]];
/// let (loss, g) = CrossEntropyLoss::new().forward_backward(logits.view(), array![0usize].view()).unwrap();
/// let p0 = 2f64.exp() / (2f64.exp() + 1f64.exp() + 0.1f64.exp());
/// assert!((loss[[]] - -p0.ln()).abs() < 1e-15);
/// assert!((g.input[[0, 0]] - (p0 - 1.0)).abs() < 1e-15); // softmax − one-hot
///
/// // Ignored samples count for nothing.
/// let ce = CrossEntropyLoss::new().ignore_index(-1);
/// let two = ce.forward(array![[2.0f64, 1.0, 0.1], [5.0, 0.0, 0.0]].view(), array![0i64, -1].view()).unwrap();
/// assert_eq!(two[[]], loss[[]]);
/// ```
///
/// # References
/// J. S. Bridle, "Probabilistic interpretation of feedforward classification
/// network outputs, with relationships to statistical pattern recognition", 1990;
/// C. Szegedy et al., "Rethinking the Inception Architecture for Computer Vision"
/// (label smoothing), CVPR 2016, <https://arxiv.org/abs/1512.00567>;
/// <https://pytorch.org/docs/stable/generated/torch.nn.functional.cross_entropy.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CrossEntropyLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// One weight per class (default none: all 1).
    pub weight: Option<Vec<f64>>,
    /// The class index whose samples are ignored (default −100).
    pub ignore_index: i64,
    /// Label smoothing `ε` in `[0, 1]` (default 0).
    pub label_smoothing: f64,
}

impl Default for CrossEntropyLoss {
    fn default() -> Self {
        CrossEntropyLoss { reduction: Reduction::Mean, weight: None, ignore_index: -100, label_smoothing: 0.0 }
    }
}

impl CrossEntropyLoss {
    const NAME: &'static str = "cross_entropy";

    /// PyTorch's defaults: `Mean`, no weight, `ignore_index = −100`, no smoothing.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction
    );
    /// Sets the class weights (one per class).
    #[must_use]
    pub fn weight<T: Float>(mut self, weight: ArrayView1<'_, T>) -> Self {
        self.weight = Some(class_weights(weight));
        self
    }
    setters!(
        /// Sets the ignored class index.
        ignore_index: i64,
        /// Sets the label smoothing `ε`.
        label_smoothing: f64
    );

    fn validate(&self) -> Result<()> {
        let e = self.label_smoothing;
        check_option(Self::NAME, "label_smoothing", e, (0.0..=1.0).contains(&e), "a number in [0, 1]")
    }

    fn indexed<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: &ArrayView<'_, T, D1>,
        target: &ArrayView<'_, L, D2>,
    ) -> Result<IndexedCe> {
        self.validate()?;
        check_one_sample_smoothing(input.shape(), target.shape(), self.label_smoothing)?;
        let spec = IndexedSpec {
            loss: Self::NAME,
            reduction: self.reduction,
            weight: &self.weight,
            ignore_index: Some(self.ignore_index),
        };
        IndexedCe::new(&spec, input, target, true)
    }

    /// The loss with class-index targets.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, L, D2>,
    ) -> Result<ArrayD<T>> {
        if let Some(value) = self.fused_forward::<fused::Wide, T, L, D1, D2>(&input, &target)? {
            return Ok(value);
        }
        let ce = self.indexed(&input, &target)?;
        Ok(ce.reducer.output(self.indexed_losses(&ce)))
    }

    /// The gradient with respect to `input` of `Σ grad_output · loss`, for
    /// class-index targets (`target` gradient: `None`).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, L, D2>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        if fused::applies(&input) {
            let mut grad = ArrayD::<T>::zeros(input.shape());
            self.backward_into(input.into_dyn(), target, grad_output, grad.view_mut())?;
            return Ok(Gradients { input: grad, target: None });
        }
        let ce = self.indexed(&input, &target)?;
        let scales = ce.reducer.scales(Self::NAME, &grad_output)?;
        Ok(Gradients { input: narrow(input.shape(), self.indexed_grad(&ce, &scales)), target: None })
    }

    /// The loss and its gradient (of the result's sum when unreduced), for class-index targets.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, L, D2>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        if fused::applies(&input) {
            let mut grad = ArrayD::<T>::zeros(input.shape());
            let value = self.forward_backward_into(input.into_dyn(), target, grad.view_mut())?;
            return Ok((value, Gradients { input: grad, target: None }));
        }
        let ce = self.indexed(&input, &target)?;
        let value = ce.reducer.output(self.indexed_losses(&ce));
        let ones = ones_like_output::<T>(&ce.reducer);
        let scales = ce.reducer.scales(Self::NAME, &ones.view())?;
        Ok((value, Gradients { input: narrow(input.shape(), self.indexed_grad(&ce, &scales)), target: None }))
    }

    fn indexed_losses(&self, ce: &IndexedCe) -> Vec<f64> {
        let c = ce.lanes.classes;
        let eps = self.label_smoothing;
        let (mut lane, mut lp) = (vec![0.0; c], vec![0.0; c]);
        (0..ce.lanes.samples())
            .map(|s| {
                let Some(y) = ce.labels[s] else { return 0.0 };
                ce.lanes.log_softmax(s, &mut lane, &mut lp);
                let wy = self.weight.as_ref().map_or(1.0, |w| w[y]);
                let nll = -(lp[y] * wy);
                if eps > 0.0 {
                    let smooth = -match &self.weight {
                        Some(w) => crate::machinery::reduction::sum_f64(lp.iter().zip(w).map(|(l, w)| l * w)),
                        None => crate::machinery::reduction::sum_f64(lp.iter().copied()),
                    };
                    (1.0 - eps) * nll + smooth * (eps / c as f64)
                } else {
                    nll
                }
            })
            .collect()
    }

    fn indexed_grad(&self, ce: &IndexedCe, scales: &Scales) -> Vec<f64> {
        let c = ce.lanes.classes;
        let eps = self.label_smoothing;
        let mut grad = vec![0.0; ce.lanes.x.len()];
        let (mut lane, mut lp, mut g) = (vec![0.0; c], vec![0.0; c], vec![0.0; c]);
        for s in 0..ce.lanes.samples() {
            let Some(y) = ce.labels[s] else { continue };
            ce.lanes.log_softmax(s, &mut lane, &mut lp);
            let up = scales.at(s);
            // The upstream gradient on the log-probabilities, as autograd builds it.
            let wy = self.weight.as_ref().map_or(1.0, |w| w[y]);
            g.fill(0.0);
            g[y] = -(wy * ((1.0 - eps) * up));
            if eps > 0.0 {
                let b = up * (eps / c as f64);
                for (k, gk) in g.iter_mut().enumerate() {
                    *gk -= b * self.weight.as_ref().map_or(1.0, |w| w[k]);
                }
            }
            log_softmax_backward(&lp, &g, |k, v| grad[ce.lanes.at(s, k)] = v);
        }
        grad
    }

    fn probs<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        input: &ArrayView<'_, T, D1>,
        target: &ArrayView<'_, T, D2>,
    ) -> Result<(ClassLanes, Vec<f64>, Reducer)> {
        self.validate()?;
        if self.ignore_index >= 0 {
            return Err(LossError::Unsupported {
                loss: Self::NAME,
                message: format!(
                    "option `ignore_index` = {} is not supported with class probabilities (a floating point `target`): \
                     expected a negative ignore_index, or class-index targets \
                     (PyTorch: \"ignore_index is not supported for floating point target\")",
                    self.ignore_index
                ),
            });
        }
        let (axis, sample_shape) = torch_class_axis(Self::NAME, input.shape())?;
        same_shape(Self::NAME, "input", input.shape(), "target", target.shape())?;
        let lanes = ClassLanes::new(input, axis);
        check_weight(Self::NAME, &self.weight, lanes.classes)?;
        let mut t = widen(target);
        if self.label_smoothing > 0.0 {
            let (e, c) = (self.label_smoothing, lanes.classes as f64);
            t.iter_mut().for_each(|v| *v = *v * (1.0 - e) + e / c);
        }
        let n = lanes.samples();
        let reducer = Reducer {
            reduction: self.reduction,
            shape: sample_shape,
            mean_denominator: n as f64,
            batch: if input.ndim() > 1 { input.shape()[0] as f64 } else { 1.0 },
        };
        Ok((lanes, t, reducer))
    }

    fn prob_losses(&self, lanes: &ClassLanes, t: &[f64]) -> Vec<f64> {
        let c = lanes.classes;
        let (mut lane, mut lp) = (vec![0.0; c], vec![0.0; c]);
        (0..lanes.samples())
            .map(|s| {
                lanes.log_softmax(s, &mut lane, &mut lp);
                -crate::machinery::reduction::sum_f64((0..c).map(|k| {
                    let v = lp[k] * t[lanes.at(s, k)];
                    self.weight.as_ref().map_or(v, |w| v * w[k])
                }))
            })
            .collect()
    }

    /// The gradients with respect to the input and the target, and (`gw`, one
    /// per class) with respect to the class weights: `∂ℓₛ/∂w_c = −tₛ[c] log pₛ[c]`.
    fn prob_grads(&self, lanes: &ClassLanes, t: &[f64], scales: &Scales) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let c = lanes.classes;
        let mut gx = vec![0.0; lanes.x.len()];
        let mut gt = vec![0.0; lanes.x.len()];
        let mut gw = vec![crate::machinery::reduction::Neumaier::default(); c];
        let (mut lane, mut lp, mut g) = (vec![0.0; c], vec![0.0; c], vec![0.0; c]);
        let keep = 1.0 - self.label_smoothing;
        for s in 0..lanes.samples() {
            lanes.log_softmax(s, &mut lane, &mut lp);
            let up = scales.at(s);
            for k in 0..c {
                let wk = self.weight.as_ref().map_or(1.0, |w| w[k]);
                let i = lanes.at(s, k);
                // d/d(log p · t) = −up · w; the target's share passes the smoothing's (1 − ε).
                let gprod = -(up * wk);
                g[k] = gprod * t[i];
                gt[i] = if self.label_smoothing > 0.0 { gprod * lp[k] * keep } else { gprod * lp[k] };
                gw[k].add(-up * (lp[k] * t[i]));
            }
            log_softmax_backward(&lp, &g, |k, v| gx[lanes.at(s, k)] = v);
        }
        (gx, gt, gw.into_iter().map(crate::machinery::reduction::Neumaier::total).collect())
    }

    /// The loss with class-probability targets (`target` has `input`'s shape).
    ///
    /// # Errors
    /// See the type's docs.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::CrossEntropyLoss;
    /// let x = array![[1.0f64, 2.0, 3.0]];
    /// let hard = CrossEntropyLoss::new().forward(x.view(), array![2i64].view()).unwrap();
    /// let soft = CrossEntropyLoss::new().forward_probs(x.view(), array![[0.0, 0.0, 1.0]].view()).unwrap();
    /// assert!((hard[[]] - soft[[]]).abs() < 1e-15); // one-hot probabilities = class indices
    /// ```
    pub fn forward_probs<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, T, D2>,
    ) -> Result<ArrayD<T>> {
        if let Some(plan) = self.probs_plan::<T, D2>(input.shape(), input.is_standard_layout(), &target)? {
            return Ok(self.run_plan::<fused::Wide, T, i64>(&plan, input.as_ptr(), std::ptr::null_mut(), fused::NO_GRAD));
        }
        let (lanes, t, reducer) = self.probs(&input, &target)?;
        Ok(reducer.output(self.prob_losses(&lanes, &t)))
    }

    /// The gradients with respect to `input` and `target` of `Σ grad_output · loss`,
    /// for class-probability targets.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward_probs<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, T, D2>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        Ok(self.backward_probs_with_weight(input, target, grad_output)?.0)
    }

    /// [`backward_probs`](Self::backward_probs)'s gradients, and the gradient of
    /// `Σ grad_output · loss` with respect to the class weights, shape `(C,)`,
    /// at [`weight`](Self::weight) (all 1 where none is set): PyTorch's autograd
    /// differentiates the weight with probability targets, `∂ℓₛ/∂w_c = −tₛ[c]
    /// log pₛ[c]` (`tₛ` smoothed). With class indices PyTorch refuses the
    /// weight's gradient ("not differentiable"), and losslab has none.
    ///
    /// # Errors
    /// As [`backward_probs`](Self::backward_probs).
    pub fn backward_probs_with_weight<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, T, D2>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<(Gradients<T>, ArrayD<T>)> {
        let (lanes, t, reducer) = self.probs(&input, &target)?;
        let scales = reducer.scales(Self::NAME, &grad_output)?;
        let (gx, gt, gw) = self.prob_grads(&lanes, &t, &scales);
        let c = gw.len();
        Ok((Gradients { input: narrow(input.shape(), gx), target: Some(narrow(target.shape(), gt)) }, narrow(&[c], gw)))
    }

    /// The loss and its gradients (of the result's sum when unreduced), for
    /// class-probability targets.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward_probs<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, T, D2>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        let (lanes, t, reducer) = self.probs(&input, &target)?;
        let value = reducer.output(self.prob_losses(&lanes, &t));
        let ones = ones_like_output::<T>(&reducer);
        let (gx, gt, _) = self.prob_grads(&lanes, &t, &reducer.scales(Self::NAME, &ones.view())?);
        Ok((value, Gradients { input: narrow(input.shape(), gx), target: Some(narrow(target.shape(), gt)) }))
    }
}

/// Negative log-likelihood, `torch.nn.functional.nll_loss`, on log-probabilities.
///
/// ```text
/// ℓₛ = −w[yₛ] · xₛ[yₛ]          Mean = Σₛ ℓₛ / Σₛ w[yₛ]   (ignored samples: 0, not counted)
/// ∂ℓₛ/∂xₛ[yₛ] = −w[yₛ], 0 elsewhere
/// ```
///
/// `input` is `(N, C)`, `(N, C, d1, …, dk)` or `(C,)` log-probabilities (usually
/// [`log_softmax`](crate::log_softmax) output: `nll_loss(log_softmax(x))` is
/// [`CrossEntropyLoss`]); `target` holds class indices of shape `(N, d1, …, dk)`,
/// or `()` for a `(C,)` input. As PyTorch, a `(C,)` input also takes a `(1,)`
/// target: the value is the 0-d target's, a 0-d result for every reduction
/// (PyTorch's backward then raises `size mismatch (got input: [C], target:
/// [1])`; losslab's gives the 0-d target's gradient).
///
/// # Errors
/// [`LossError::Shape`] for mismatched shapes or weights; [`LossError::ClassIndex`]
/// for an index outside `[0, C)` that is not `ignore_index`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::NllLoss;
/// let logp = array![[-0.5f64, -1.0], [-2.0, -0.1]];
/// let loss = NllLoss::new().weight(array![1.0, 3.0].view()).forward(logp.view(), array![0i32, 1].view()).unwrap();
/// assert_eq!(loss[[]], (0.5 * 1.0 + 0.1 * 3.0) / 4.0);
/// ```
///
/// # References
/// <https://pytorch.org/docs/stable/generated/torch.nn.functional.nll_loss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NllLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// One weight per class (default none: all 1).
    pub weight: Option<Vec<f64>>,
    /// The class index whose samples are ignored (default −100).
    pub ignore_index: i64,
}

impl Default for NllLoss {
    fn default() -> Self {
        NllLoss { reduction: Reduction::Mean, weight: None, ignore_index: -100 }
    }
}

impl NllLoss {
    const NAME: &'static str = "nll_loss";

    /// PyTorch's defaults: `Mean`, no weight, `ignore_index = −100`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction
    );
    /// Sets the class weights (one per class).
    #[must_use]
    pub fn weight<T: Float>(mut self, weight: ArrayView1<'_, T>) -> Self {
        self.weight = Some(class_weights(weight));
        self
    }
    setters!(
        /// Sets the ignored class index.
        ignore_index: i64
    );

    fn prepare<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: &ArrayView<'_, T, D1>,
        target: &ArrayView<'_, L, D2>,
    ) -> Result<IndexedCe> {
        let spec = IndexedSpec {
            loss: Self::NAME,
            reduction: self.reduction,
            weight: &self.weight,
            ignore_index: Some(self.ignore_index),
        };
        IndexedCe::new(&spec, input, target, true)
    }

    /// The fused row sweep ([`eval_rows`]) for a contiguous `(N, C)` or `(C,)`
    /// input with valid targets of its shape (contiguous); `None` for every
    /// other case, which the general path takes (and whose errors it reports).
    fn fused<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: &ArrayView<'_, T, D1>,
        target: &ArrayView<'_, L, D2>,
        up: &Upstream<'_, T>,
    ) -> Result<Option<Eval<T, Gradients<T>>>> {
        let shape = input.shape();
        let Some((rows, c, sample_shape)) = class_rows(shape) else { return Ok(None) };
        if target.shape() != sample_shape && !one_sample_target(shape, target.shape()) {
            return Ok(None);
        }
        let (Some(x), Some(labels)) = (input.as_slice(), target.as_slice()) else { return Ok(None) };
        let weight = self.weight.as_deref();
        if weight.is_some_and(|w| w.len() != c) {
            return Ok(None);
        }
        // Validate as the general path does; the denominator of `Mean` is
        // `Σ w[y]` over the samples that count, in sample order (their number
        // without weights).
        let ignore = self.ignore_index;
        let mut den = crate::machinery::reduction::Neumaier::default();
        let mut count = 0usize;
        for &l in labels {
            let l = l.index();
            if l == ignore {
                continue;
            }
            if l < 0 || l as u64 >= c as u64 {
                return Ok(None);
            }
            match weight {
                Some(w) => den.add(w[l as usize]),
                None => count += 1,
            }
        }
        let reducer = Reducer {
            reduction: self.reduction,
            shape: sample_shape.to_vec(),
            mean_denominator: if weight.is_some() { den.total() } else { count as f64 },
            batch: if shape.len() > 1 { rows as f64 } else { 1.0 },
        };
        // Each row writes its whole gradient row (zeros, then the target's
        // element): the zeros are written in parallel, in the pass, rather
        // than by the allocator on one thread before it.
        Ok(Some(eval_rows_into(Self::NAME, &reducer, shape, (rows, c), up, false, true, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
            let l = labels[r].index();
            let g = g.map(|g| {
                g.gx.fill(T::zero());
                (g.gx, g.up)
            });
            if l == ignore {
                return 0.0;
            }
            let y = l as usize;
            let wy = weight.map_or(1.0, |w| w[y]);
            if let Some((gx, up)) = g {
                gx[y] = T::from_wide(-up * wy);
            }
            -(x[r * c + y].to_wide() * wy)
        })?))
    }

    fn losses(&self, ce: &IndexedCe) -> Vec<f64> {
        (0..ce.lanes.samples())
            .map(|s| match ce.labels[s] {
                None => 0.0,
                Some(y) => -(ce.lanes.x[ce.lanes.at(s, y)] * self.weight.as_ref().map_or(1.0, |w| w[y])),
            })
            .collect()
    }

    fn grad(&self, ce: &IndexedCe, scales: &Scales) -> Vec<f64> {
        let mut g = vec![0.0; ce.lanes.x.len()];
        for s in 0..ce.lanes.samples() {
            if let Some(y) = ce.labels[s] {
                g[ce.lanes.at(s, y)] = -scales.at(s) * self.weight.as_ref().map_or(1.0, |w| w[y]);
            }
        }
        g
    }

    /// The loss.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, L, D2>,
    ) -> Result<ArrayD<T>> {
        if let Some((value, _)) = self.fused(&input, &target, &Upstream::Skip)? {
            return Ok(value);
        }
        let ce = self.prepare(&input, &target)?;
        Ok(ce.reducer.output(self.losses(&ce)))
    }

    /// The gradient with respect to `input` of `Σ grad_output · loss` (`target`: `None`).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, L, D2>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        if let Some((_, Some(g))) = self.fused(&input, &target, &Upstream::Given(grad_output.view()))? {
            return Ok(g);
        }
        let ce = self.prepare(&input, &target)?;
        let scales = ce.reducer.scales(Self::NAME, &grad_output)?;
        Ok(Gradients { input: narrow(input.shape(), self.grad(&ce, &scales)), target: None })
    }

    /// The loss and its gradient (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, L, D2>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        if let Some((value, Some(g))) = self.fused(&input, &target, &Upstream::Ones)? {
            return Ok((value, g));
        }
        let ce = self.prepare(&input, &target)?;
        let value = ce.reducer.output(self.losses(&ce));
        let ones = ones_like_output::<T>(&ce.reducer);
        let scales = ce.reducer.scales(Self::NAME, &ones.view())?;
        Ok((value, Gradients { input: narrow(input.shape(), self.grad(&ce, &scales)), target: None }))
    }
}

/// Binary cross entropy on probabilities, `torch.nn.functional.binary_cross_entropy`.
///
/// ```text
/// ℓᵢ = −wᵢ [ yᵢ · max(log xᵢ, −100) + (1 − yᵢ) · max(log(1 − xᵢ), −100) ]
/// ∂ℓᵢ/∂xᵢ = wᵢ (xᵢ − yᵢ) / max(xᵢ (1 − xᵢ), 1e−12)        ∂ℓᵢ/∂yᵢ = −wᵢ · logit(xᵢ)
/// ```
///
/// PyTorch clamps each logarithm at −100, so a confident wrong prediction
/// (`x = 0` with `y = 1`) costs 100 rather than `∞`, and floors the gradient's
/// denominator at 1e−12. Prefer [`BinaryCrossEntropyWithLogits`], which is exact
/// for every logit. `weight` broadcasts to the input's shape.
///
/// # Errors
/// [`LossError::Shape`] for mismatched shapes or a weight that does not
/// broadcast; [`LossError::Domain`] for an input or target outside `[0, 1]` (NaN
/// included), as PyTorch ("all elements of input should be between 0 and 1").
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::BinaryCrossEntropy;
/// let loss = BinaryCrossEntropy::new().forward(array![0.8f64, 0.0].view(), array![1.0, 1.0].view()).unwrap();
/// assert!((loss[[]] - (-(0.8f64.ln()) + 100.0) / 2.0).abs() < 1e-13);
/// assert!(BinaryCrossEntropy::new().forward(array![1.5f64].view(), array![1.0].view()).is_err());
/// ```
///
/// # References
/// <https://pytorch.org/docs/stable/generated/torch.nn.functional.binary_cross_entropy.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BinaryCrossEntropy {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// Per-element weights, broadcast to the input's shape (default none).
    pub weight: Option<ArrayD<f64>>,
}

impl Default for BinaryCrossEntropy {
    fn default() -> Self {
        BinaryCrossEntropy { reduction: Reduction::Mean, weight: None }
    }
}

fn check_unit_interval<T: Float, D: Dimension>(loss: &'static str, tensor: &'static str, v: &ArrayView<'_, T, D>) -> Result<()> {
    // A contiguous tensor is scanned in blocks without an early exit (the
    // test vectorises); the position is looked for only when one fails.
    if let Some(s) = v.as_slice_memory_order() {
        let inside = |b: &[T]| b.iter().fold(true, |ok, x| ok & (x.to_wide() >= 0.0) & (x.to_wide() <= 1.0));
        if s.chunks(4096).all(inside) {
            return Ok(());
        }
    }
    match v.iter().position(|x| !(0.0..=1.0).contains(&x.to_wide())) {
        None => Ok(()),
        Some(i) => Err(LossError::Domain {
            loss,
            tensor,
            value: v.iter().nth(i).expect("found").to_wide(),
            position: unravel(i, v.shape()),
            expected: "a probability in [0, 1]",
        }),
    }
}

/// PyTorch's floor of `x (1 − x)` in the BCE gradient: `1e-12` as a float32.
const BCE_EPSILON: f64 = 1e-12f32 as f64;

fn widen_weight<T: Float, D: Dimension>(w: ArrayView<'_, T, D>) -> ArrayD<f64> {
    w.map(|v| v.to_wide()).into_dyn()
}

impl BinaryCrossEntropy {
    const NAME: &'static str = "binary_cross_entropy";

    /// PyTorch's defaults: `Mean`, no weight.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the per-element weights (broadcast to the input's shape).
    #[must_use]
    pub fn weight<T: Float, D: Dimension>(mut self, weight: ArrayView<'_, T, D>) -> Self {
        self.weight = Some(widen_weight(weight));
        self
    }

    /// PyTorch's `(y − 1)·max(log1p(−x), −100) − y·max(log x, −100)`, with the
    /// logarithms in arithmetic that vectorises ([`vmath`]: within 2 ulp of libm's).
    #[inline(always)]
    fn value(x: f64, y: f64) -> f64 {
        (y - 1.0) * vmath::ln_1p(-x).max(-100.0) - y * vmath::ln(x).max(-100.0)
    }

    #[inline(always)]
    fn derivatives(x: f64, y: f64) -> (f64, f64) {
        // PyTorch's floor is `const float EPSILON = 1e-12`: the float32 value, in every dtype.
        let dx = (x - y) / ((1.0 - x) * x).max(BCE_EPSILON);
        let dy = -vmath::ln(x / (1.0 - x));
        (dx, dy)
    }

    fn eval<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        same_shape(Self::NAME, "input", input.shape(), "target", target.shape())?;
        check_unit_interval(Self::NAME, "input", &input)?;
        check_unit_interval(Self::NAME, "target", &target)?;
        let w = self.weight.as_ref().map(|w| w.view());
        let w = broadcast_weight(Self::NAME, "weight", w.as_ref(), input.shape())?;
        let (x, y) = (("input", &input), ("target", &target));
        match w.as_deref() {
            // Two loops, so that the one without weights has no index to bound-check.
            None => eval_pointwise_op(Self::NAME, Pairing::Same, x, y, self.reduction, up, true, BceOp, |_, x, y| Self::value(x, y), |_, x, y| {
                Self::derivatives(x, y)
            }),
            Some(w) => eval_pointwise(
                Self::NAME,
                Pairing::Same,
                x,
                y,
                self.reduction,
                up,
                true,
                move |i, x, y| Self::value(x, y) * w[i],
                move |i, x, y| {
                    let (dx, dy) = Self::derivatives(x, y);
                    (dx * w[i], dy * w[i])
                },
            ),
        }
    }

    loss_methods!(torch: eval, (input: float, target: float), "`input` w.r.t. `input`, `target` w.r.t. `target`");
}

/// The element-wise sweep's op of [`BinaryCrossEntropy`] without weights: the
/// general path's formulas in `f64` (the same bits), and for `f32` inputs on
/// AVX-512 16 `f32` lanes computing as PyTorch's `float32` kernel does,
/// `(y − 1)·max(log1p(−x), −100) − y·max(ln x, −100)` and
/// `(x − y) / max((1 − x) x, 1e-12)`, with the crate's `f32` `ln` and `log1p`
/// (within 2.5 ulp). The target's gradient `−logit(x) = −ln(x / (1 − x))` is
/// formed without its cancellation near `x = ½`: `−2 atanh(2x − 1)` on
/// `[⅓, ⅔]` (`2x − 1` exact; `log1p`'s own series), `ln(1 − x) − ln x` of
/// the value's logarithms outside (at least `ln 2` apart). Inputs are in
/// `[0, 1]` (checked before the sweep). In `f64` lanes it ran only 12 % faster than the
/// portable loop (three `f64` logarithms and two divisions per element).
#[derive(Clone, Copy)]
struct BceOp;

impl ElemOp for BceOp {
    #[inline(always)]
    fn eval(self, x: f64, y: f64) -> (f64, f64, f64) {
        let (dx, dy) = BinaryCrossEntropy::derivatives(x, y);
        (BinaryCrossEntropy::value(x, y), dx, dy)
    }

    const LANES512: SweepLanes = SweepLanes::F32;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_ps(self, x: __m512, y: __m512) -> (__m512, __m512, __m512) {
        use crate::machinery::kernels::elementwise::x86::{ln_ps, log1p_ps, two_atanh_ps};
        let (zero, one) = (_mm512_setzero_ps(), _mm512_set1_ps(1.0));
        let floor = _mm512_set1_ps(-100.0);
        let ln_x = ln_ps(x);
        let ln_1mx = log1p_ps(_mm512_sub_ps(zero, x));
        let (a, b) = (_mm512_max_ps(ln_1mx, floor), _mm512_max_ps(ln_x, floor));
        // (y − 1)·a − y·b: both terms ≥ 0.
        let value = _mm512_fmsub_ps(_mm512_sub_ps(y, one), a, _mm512_mul_ps(y, b));
        let den = _mm512_max_ps(_mm512_mul_ps(_mm512_sub_ps(one, x), x), _mm512_set1_ps(1e-12));
        let dx = _mm512_div_ps(_mm512_sub_ps(x, y), den);
        // logit(x): 2 atanh(2x − 1) on [⅓, ⅔] (2x − 1 exact), ln x − ln(1 − x) outside (no cancellation: |logit| ≥ ln 2).
        let mid = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_set1_ps(1.0 / 3.0)) & _mm512_cmp_ps_mask::<_CMP_LE_OQ>(x, _mm512_set1_ps(2.0 / 3.0));
        let near = two_atanh_ps(_mm512_maskz_mov_ps(mid, _mm512_sub_ps(_mm512_add_ps(x, x), one)));
        let logit = _mm512_mask_mov_ps(_mm512_sub_ps(ln_x, ln_1mx), mid, near);
        (value, dx, _mm512_sub_ps(zero, logit))
    }
}

/// Binary cross entropy on logits, `torch.nn.functional.binary_cross_entropy_with_logits`:
/// the sigmoid and the log-likelihood fused, exact for every logit.
///
/// ```text
/// ℓᵢ = wᵢ [ (1 − yᵢ) xᵢ − (1 + (pᵢ − 1) yᵢ) · log σ(xᵢ) ]
///    = wᵢ [ max(xᵢ, 0) − xᵢ yᵢ + log1p(e^(−|xᵢ|)) ]             (pᵢ = 1)
/// ∂ℓᵢ/∂xᵢ = wᵢ [ (pᵢ yᵢ + 1 − yᵢ) σ(xᵢ) − pᵢ yᵢ ]                (σ(xᵢ) − yᵢ when pᵢ = 1)
/// ∂ℓᵢ/∂yᵢ = wᵢ [ log σ(−xᵢ) − pᵢ log σ(xᵢ) ]                    (−xᵢ when there is no pos_weight)
/// ```
///
/// `weight` and `pos_weight` (`p`, the weight of positive examples; usually one per
/// class, shape `(C,)`) broadcast to the input's shape.
///
/// Precision: without weights, on contiguous `f32` tensors and a CPU with
/// AVX-512, the fused kernel computes each element in `f32` (its own exp and
/// log1p, as PyTorch computes in the input's dtype): values within 4 ulp of
/// `f32` of the `f64` computation the other paths round once, gradients within
/// 4 ulp of `max(σ(x), y, 1)`; the sum is accumulated in `f64`, and is the same
/// whatever the thread count.
///
/// # Errors
/// [`LossError::Shape`] for mismatched shapes or weights that do not broadcast.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::BinaryCrossEntropyWithLogits;
/// let loss = BinaryCrossEntropyWithLogits::new().forward(array![1e4f64, -1e4].view(), array![0.0, 0.0].view()).unwrap();
/// assert_eq!(loss[[]], 1e4 / 2.0); // no overflow: log(1 + e^1e4) = 1e4
/// ```
///
/// # References
/// <https://pytorch.org/docs/stable/generated/torch.nn.functional.binary_cross_entropy_with_logits.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BinaryCrossEntropyWithLogits {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// Per-element weights, broadcast to the input's shape (default none).
    pub weight: Option<ArrayD<f64>>,
    /// Weights of the positive examples, broadcast to the input's shape (default none).
    pub pos_weight: Option<ArrayD<f64>>,
}

impl Default for BinaryCrossEntropyWithLogits {
    fn default() -> Self {
        BinaryCrossEntropyWithLogits { reduction: Reduction::Mean, weight: None, pos_weight: None }
    }
}

impl BinaryCrossEntropyWithLogits {
    const NAME: &'static str = "binary_cross_entropy_with_logits";

    /// PyTorch's defaults: `Mean`, no weights.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction
    );
    /// Sets the per-element weights.
    #[must_use]
    pub fn weight<T: Float, D: Dimension>(mut self, weight: ArrayView<'_, T, D>) -> Self {
        self.weight = Some(widen_weight(weight));
        self
    }
    /// Sets the positive-example weights.
    #[must_use]
    pub fn pos_weight<T: Float, D: Dimension>(mut self, pos_weight: ArrayView<'_, T, D>) -> Self {
        self.pos_weight = Some(widen_weight(pos_weight));
        self
    }

    #[allow(clippy::type_complexity)]
    fn prepare<T: Float, D: Dimension>(
        &self,
        input: &ArrayView<'_, T, D>,
        target: &ArrayView<'_, T, D>,
    ) -> Result<(Pointwise, Option<Vec<f64>>, Option<Vec<f64>>)> {
        let p = Pointwise::new(Self::NAME, input, target)?;
        let w = self.weight.as_ref().map(|w| w.view());
        let w = broadcast_weight(Self::NAME, "weight", w.as_ref(), &p.shape)?;
        let pw = self.pos_weight.as_ref().map(|w| w.view());
        let pw = broadcast_weight(Self::NAME, "pos_weight", pw.as_ref(), &p.shape)?;
        Ok((p, w, pw))
    }

    /// The loss.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension>(&self, input: ArrayView<'_, T, D>, target: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
        if let Some(f) = self.fused(&input, &target)? {
            return Ok(f.forward(BceLogits, self.reduction));
        }
        let (p, w, pw) = self.prepare(&input, &target)?;
        Ok(p.forward(self.reduction, |i, x, y| {
            let mut ls = log_sigmoid_f64(x);
            if let Some(pw) = &pw {
                ls *= (pw[i] - 1.0) * y + 1.0;
            }
            let l = (1.0 - y) * x - ls;
            w.as_ref().map_or(l, |w| l * w[i])
        }))
    }

    /// The gradients with respect to `input` and `target` of `Σ grad_output · loss`.
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
        if let Some(f) = self.fused(&input, &target)? {
            if let Some(g) = f.backward(BceLogits, Self::NAME, self.reduction, &grad_output)? {
                return Ok(g);
            }
        }
        let (p, w, pw) = self.prepare(&input, &target)?;
        p.backward(Self::NAME, self.reduction, &grad_output, true, |i, x, y| {
            let (dx, dy) = match &pw {
                Some(pw) => {
                    let t = pw[i] * y;
                    ((t + 1.0 - y) * sigmoid_f64(x) - t, log_sigmoid_f64(-x) - log_sigmoid_f64(x) * pw[i])
                }
                None => (sigmoid_f64(x) - y, -x),
            };
            w.as_ref().map_or((dx, dy), |w| (dx * w[i], dy * w[i]))
        })
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
        if let Some(f) = self.fused(&input, &target)? {
            return Ok(f.forward_backward(BceLogits, self.reduction));
        }
        let value = self.forward(input.view(), target.view())?;
        let ones = ArrayD::from_elem(value.shape(), T::one());
        Ok((value, self.backward(input, target, ones.view())?))
    }

    /// The loss, with its gradient with respect to `input` written into `grad`:
    /// without weights and for contiguous tensors, one vectorised,
    /// multi-threaded sweep that reads each input once and writes each gradient
    /// once, allocating no buffer of the input's size (only the result, and its
    /// shape). Otherwise the general path runs and the gradient is copied in.
    /// Every element of `grad` is written.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad` does not have the input's shape.
    ///
    /// # Examples
    /// ```
    /// use ndarray::{array, Array1};
    /// use losslab::BinaryCrossEntropyWithLogits;
    /// let mut grad = Array1::<f64>::zeros(2);
    /// let bce = BinaryCrossEntropyWithLogits::new();
    /// let loss = bce.forward_backward_into(array![0.0f64, 0.0].view(), array![1.0, 0.0].view(), grad.view_mut()).unwrap();
    /// assert!((loss[[]] - 2f64.ln()).abs() < 1e-15);
    /// assert_eq!(grad, array![-0.25, 0.25]); // (σ(0) − y) / 2
    /// ```
    pub fn forward_backward_into<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        mut grad: ArrayViewMut<'_, T, D>,
    ) -> Result<ArrayD<T>> {
        same_shape(Self::NAME, "input", input.shape(), "grad", grad.shape())?;
        if let Some(f) = self.fused(&input, &target)? {
            if let Some(g) = grad.as_slice_mut() {
                return Ok(f.forward_backward_into(BceLogits, self.reduction, g));
            }
        }
        let (value, g) = self.forward_backward(input, target)?;
        grad.assign(&g.input.into_dimensionality::<D>().expect("the input's dimensionality"));
        Ok(value)
    }

    /// The fused path: no weights, contiguous inputs.
    fn fused<'a, T: Float, D: Dimension>(
        &self,
        input: &'a ArrayView<'_, T, D>,
        target: &'a ArrayView<'_, T, D>,
    ) -> Result<Option<Fused<'a, T>>> {
        if self.weight.is_some() || self.pos_weight.is_some() {
            return Ok(None);
        }
        Fused::new(Self::NAME, input, target)
    }
}

/// TensorFlow's `tf.nn.softmax_cross_entropy_with_logits` (dense labels: one
/// probability per class, one-hot or soft).
///
/// ```text
/// ℓ = −Σ_c labels_c · log_softmax(logits)_c          along `axis`
/// ∂ℓ/∂logits = softmax(logits) − labels               (TensorFlow's gradient, used even
///                                                      when the labels do not sum to 1)
/// ∂ℓ/∂labels = −log_softmax(logits)
/// ```
///
/// Takes raw logits, not softmax output: given probabilities it would apply a
/// second softmax and silently compute the wrong loss. The result has the
/// logits' shape without `axis`; with the default `Reduction::None` it is
/// TensorFlow's own output, other reductions reduce it.
///
/// Shapes as TensorFlow's kernel takes them: labels of the logits' shape, or,
/// with the class axis last, labels and logits whose (rows, classes) forms
/// broadcast with the logits' rows kept: labels of one row (`(C,)`, `(1, C)`),
/// a class axis of size 1 in either. The loss is that of the broadcast
/// tensors, each gradient summed back to its tensor's shape (TensorFlow 2.21
/// computes the same value but raises in its gradient w.r.t. broadcast labels,
/// and w.r.t. logits of one class).
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast so; [`LossError::Option`]
/// for an axis the logits do not have.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::SoftmaxCrossEntropyWithLogits;
/// let labels = array![[0.1f64, 0.9], [1.0, 0.0]];
/// let logits = array![[0.0f64, 0.0], [1000.0, 0.0]];
/// let loss = SoftmaxCrossEntropyWithLogits::new().forward(labels.view(), logits.view()).unwrap();
/// assert!((loss[[0]] - 2f64.ln()).abs() < 1e-15);
/// assert_eq!(loss[[1]], 0.0);
/// ```
///
/// # References
/// <https://www.tensorflow.org/api_docs/python/tf/nn/softmax_cross_entropy_with_logits>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SoftmaxCrossEntropyWithLogits {
    /// The class axis (default −1, the last).
    pub axis: isize,
    /// The reduction (default `None`: TensorFlow's own output).
    pub reduction: Reduction,
}

impl Default for SoftmaxCrossEntropyWithLogits {
    fn default() -> Self {
        SoftmaxCrossEntropyWithLogits { axis: -1, reduction: Reduction::None }
    }
}

impl SoftmaxCrossEntropyWithLogits {
    const NAME: &'static str = "softmax_cross_entropy_with_logits";

    /// TensorFlow's defaults: `axis = −1`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the class axis.
        axis: isize,
        /// Sets the reduction.
        reduction: Reduction
    );

    fn prepare<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        labels: &ArrayView<'_, T, D1>,
        logits: &ArrayView<'_, T, D2>,
    ) -> Result<(ClassLanes, Vec<f64>, Reducer, Option<Broadcast>)> {
        if logits.ndim() == 0 {
            return Err(shape_err(Self::NAME, "logits", "at least 1 dimension (the classes)", logits.shape()));
        }
        let axis = resolve_axis(Self::NAME, "axis", self.axis, logits.ndim())?;
        let mut shape = logits.shape().to_vec();
        shape.remove(axis);
        let reducer = Reducer::counting(self.reduction, &shape, logits.shape());
        if logits.shape() == labels.shape() || axis + 1 != logits.ndim() || labels.ndim() == 0 {
            same_shape(Self::NAME, "logits", logits.shape(), "labels", labels.shape())?;
            return Ok((ClassLanes::new(logits, axis), widen(labels), reducer, None));
        }
        // TensorFlow's kernel broadcasts the (rows, classes) forms of the two:
        // labels of one row, and either's class axis of size 1, broadcast; the
        // result keeps the logits' rows.
        let (lx, ll) = (logits.shape(), labels.shape());
        let rows = |s: &[usize]| s[..s.len() - 1].iter().product::<usize>();
        let (x2, l2) = ([rows(lx), lx[lx.len() - 1]], [rows(ll), ll[ll.len() - 1]]);
        let bc = match Broadcast::numpy(Self::NAME, &[("logits", &x2), ("labels", &l2)]) {
            Ok(b) if b.shape[0] == x2[0] => b,
            _ => {
                return Err(shape_err(
                    Self::NAME,
                    "labels",
                    format!(
                        "{lx:?} (the shape of `logits`), or a shape whose (rows, classes) form broadcasts to the logits' [{r}, {c}] as TensorFlow's kernel broadcasts it (1 row or {r}; 1 class or {c}; or logits of 1 class)",
                        r = x2[0],
                        c = x2[1]
                    ),
                    ll,
                ))
            }
        };
        let x = bc.expand_flat(0, &widen(logits));
        let t = bc.expand_flat(1, &widen(labels));
        Ok((ClassLanes { outer: bc.shape[0], classes: bc.shape[1], inner: 1, x }, t, reducer, Some(bc)))
    }

    /// The gradients, in the broadcast (rows, classes) form where there is one, in each tensor's shape.
    fn shaped<T: Float>(bc: Option<&Broadcast>, (gx, gt): (Vec<f64>, Vec<f64>), logits: &[usize], labels: &[usize]) -> Gradients<T> {
        match bc {
            None => Gradients { input: narrow(logits, gx), target: Some(narrow(labels, gt)) },
            Some(b) => Gradients { input: narrow(logits, b.reduce_wide(0, gx)), target: Some(narrow(labels, b.reduce_wide(1, gt))) },
        }
    }

    fn losses(lanes: &ClassLanes, t: &[f64]) -> Vec<f64> {
        let c = lanes.classes;
        let (mut lane, mut lp) = (vec![0.0; c], vec![0.0; c]);
        (0..lanes.samples())
            .map(|s| {
                lanes.log_softmax(s, &mut lane, &mut lp);
                -crate::machinery::reduction::sum_f64((0..c).map(|k| t[lanes.at(s, k)] * lp[k]))
            })
            .collect()
    }

    fn grads(lanes: &ClassLanes, t: &[f64], scales: &Scales) -> (Vec<f64>, Vec<f64>) {
        let c = lanes.classes;
        let (mut gx, mut gt) = (vec![0.0; t.len()], vec![0.0; t.len()]);
        let (mut lane, mut lp) = (vec![0.0; c], vec![0.0; c]);
        for s in 0..lanes.samples() {
            lanes.log_softmax(s, &mut lane, &mut lp);
            let up = scales.at(s);
            for (k, &l) in lp.iter().enumerate() {
                let i = lanes.at(s, k);
                gx[i] = up * (l.exp() - t[i]);
                gt[i] = up * -l;
            }
        }
        (gx, gt)
    }

    /// The machinery's row sweep for labels and logits of one shape, both
    /// contiguous, classes on the last axis: per row the cross-entropy
    /// kernel's block operations (the maximum; the exponentials stored in the
    /// logits' gradient row and summed in `f64`), then the loss,
    /// `∂/∂labels = −log p` and `∂/∂logits = p − labels` in one pass from
    /// cache, in parallel in the tensors' own type; the general path's
    /// formulas. `None` for every other case, and for inputs with a NaN or
    /// infinite logit maximum (the general path's formulas handle them).
    fn fused<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        labels: &ArrayView<'_, T, D1>,
        logits: &ArrayView<'_, T, D2>,
        up: &Upstream<'_, T>,
    ) -> Result<Option<Eval<T, Gradients<T>>>> {
        let shape = logits.shape();
        let nd = shape.len() as isize;
        if labels.shape() != shape || shape.is_empty() || (self.axis != -1 && self.axis != nd - 1) {
            return Ok(None);
        }
        let (Some(xs), Some(ts)) = (logits.as_slice(), labels.as_slice()) else { return Ok(None) };
        let (rows, c, out) = crate::machinery::lanes::last_axis(Self::NAME, "logits", shape)?;
        if rows * c == 0 {
            return Ok(None);
        }
        let reducer = Reducer::counting(self.reduction, &out, shape);
        let special = std::sync::atomic::AtomicBool::new(false);
        let (value, grads) = eval_rows(Self::NAME, &reducer, shape, (rows, c), up, true, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
            let (x, t) = (&xs[r * c..(r + 1) * c], &ts[r * c..(r + 1) * c]);
            let mut g = g;
            let dst = g.as_mut().map_or(std::ptr::null_mut(), |g| g.gx.as_mut_ptr());
            // SAFETY: the gradient row holds c elements, as the row does.
            let Some((m, s)) = (unsafe { softmax_row(x, dst, &special) }) else { return 0.0 };
            let ls = s.ln();
            let lp = |xk: f64| (xk - m) - ls;
            let Some(g) = g else { return -lane_sum_zip(x, t, |xk, tk| tk * lp(xk)) };
            let (v, _) = lane_sum2_zip_store(x, t, g.go, |xk, tk| (tk * lp(xk), 0.0, g.up * -lp(xk)));
            // p_k − t_k, p_k = e_k / S (e_k kept in the gradient row).
            let f = 1.0 / s;
            for (gk, &tk) in g.gx.iter_mut().zip(t) {
                *gk = T::from_wide(g.up * (gk.to_wide() * f - tk.to_wide()));
            }
            -v
        })?;
        if special.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        Ok(Some((value, grads)))
    }

    /// The loss, in TensorFlow's argument order (`labels`, `logits`).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        labels: ArrayView<'_, T, D1>,
        logits: ArrayView<'_, T, D2>,
    ) -> Result<ArrayD<T>> {
        if let Some((value, _)) = self.fused(&labels, &logits, &Upstream::Skip)? {
            return Ok(value);
        }
        let (lanes, t, reducer, _) = self.prepare(&labels, &logits)?;
        Ok(reducer.output(Self::losses(&lanes, &t)))
    }

    /// The gradients of `Σ grad_output · loss`: `input` with respect to the logits,
    /// `target` with respect to the labels.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        labels: ArrayView<'_, T, D1>,
        logits: ArrayView<'_, T, D2>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        if let Some((_, Some(g))) = self.fused(&labels, &logits, &Upstream::Given(grad_output.view()))? {
            return Ok(g);
        }
        let (lanes, t, reducer, bc) = self.prepare(&labels, &logits)?;
        let g = Self::grads(&lanes, &t, &reducer.scales(Self::NAME, &grad_output)?);
        Ok(Self::shaped(bc.as_ref(), g, logits.shape(), labels.shape()))
    }

    /// The loss and its gradients (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        labels: ArrayView<'_, T, D1>,
        logits: ArrayView<'_, T, D2>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        if let Some((value, Some(g))) = self.fused(&labels, &logits, &Upstream::Ones)? {
            return Ok((value, g));
        }
        let (lanes, t, reducer, bc) = self.prepare(&labels, &logits)?;
        let value = reducer.output(Self::losses(&lanes, &t));
        let ones = ones_like_output::<T>(&reducer);
        let g = Self::grads(&lanes, &t, &reducer.scales(Self::NAME, &ones.view())?);
        Ok((value, Self::shaped(bc.as_ref(), g, logits.shape(), labels.shape())))
    }
}

/// TensorFlow's `tf.nn.sparse_softmax_cross_entropy_with_logits` (one integer
/// class index per example, classes on the last axis of the logits).
///
/// ```text
/// ℓ = logsumexp(logits) − logits[label]
/// ∂ℓ/∂logits = softmax(logits) − onehot(label)
/// ```
///
/// Equal to [`SoftmaxCrossEntropyWithLogits`] on one-hot labels; cannot express
/// soft or smoothed labels. Labels have the logits' shape without the last axis.
///
/// # Errors
/// [`LossError::Shape`] for mismatched shapes; [`LossError::ClassIndex`] for a
/// label outside `[0, C)` (TensorFlow raises `InvalidArgumentError` on the CPU).
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::{SoftmaxCrossEntropyWithLogits, SparseSoftmaxCrossEntropyWithLogits};
/// let logits = array![[2.0f64, -1.0, 0.5]];
/// let sparse = SparseSoftmaxCrossEntropyWithLogits::new().forward(array![2i64].view(), logits.view()).unwrap();
/// let dense = SoftmaxCrossEntropyWithLogits::new().forward(array![[0.0, 0.0, 1.0]].view(), logits.view()).unwrap();
/// assert!((sparse[[0]] - dense[[0]]).abs() < 1e-15);
/// ```
///
/// # References
/// <https://www.tensorflow.org/api_docs/python/tf/nn/sparse_softmax_cross_entropy_with_logits>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SparseSoftmaxCrossEntropyWithLogits {
    /// The reduction (default `None`: TensorFlow's own output).
    pub reduction: Reduction,
}

impl Default for SparseSoftmaxCrossEntropyWithLogits {
    fn default() -> Self {
        SparseSoftmaxCrossEntropyWithLogits { reduction: Reduction::None }
    }
}

impl SparseSoftmaxCrossEntropyWithLogits {
    const NAME: &'static str = "sparse_softmax_cross_entropy_with_logits";

    /// TensorFlow's defaults: no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction
    );

    fn prepare<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        labels: &ArrayView<'_, L, D1>,
        logits: &ArrayView<'_, T, D2>,
    ) -> Result<IndexedCe> {
        let spec = IndexedSpec { loss: Self::NAME, reduction: self.reduction, weight: &None, ignore_index: None };
        IndexedCe::new(&spec, logits, labels, false)
    }

    fn losses(ce: &IndexedCe) -> Vec<f64> {
        let c = ce.lanes.classes;
        let (mut lane, mut lp) = (vec![0.0; c], vec![0.0; c]);
        (0..ce.lanes.samples())
            .map(|s| {
                let y = ce.labels[s].expect("no ignore_index");
                ce.lanes.log_softmax(s, &mut lane, &mut lp);
                -lp[y]
            })
            .collect()
    }

    fn grad(ce: &IndexedCe, scales: &Scales) -> Vec<f64> {
        let c = ce.lanes.classes;
        let mut g = vec![0.0; ce.lanes.x.len()];
        let (mut lane, mut lp) = (vec![0.0; c], vec![0.0; c]);
        for s in 0..ce.lanes.samples() {
            let y = ce.labels[s].expect("no ignore_index");
            ce.lanes.log_softmax(s, &mut lane, &mut lp);
            let up = scales.at(s);
            for (k, l) in lp.iter().enumerate() {
                g[ce.lanes.at(s, k)] = up * (l.exp() - if k == y { 1.0 } else { 0.0 });
            }
        }
        g
    }

    /// The machinery's row sweep for contiguous logits and contiguous valid
    /// labels of their shape without the last axis: per row the cross-entropy
    /// kernel's block operations (the maximum; the exponentials stored in the
    /// gradient row and summed in `f64`), then the loss `log S + m − x[y]`
    /// and the gradient `p − onehot` from cache, in parallel in the logits'
    /// own type; the general path's formulas. `None` for every other case, and
    /// for inputs with a NaN or infinite logit maximum.
    fn fused<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        labels: &ArrayView<'_, L, D1>,
        logits: &ArrayView<'_, T, D2>,
        up: &Upstream<'_, T>,
    ) -> Result<Option<Eval<T, Gradients<T>>>> {
        let shape = logits.shape();
        if shape.is_empty() || labels.shape() != &shape[..shape.len() - 1] {
            return Ok(None);
        }
        let (Some(xs), Some(ls)) = (logits.as_slice(), labels.as_slice()) else { return Ok(None) };
        let (rows, c, out) = crate::machinery::lanes::last_axis(Self::NAME, "logits", shape)?;
        if rows * c == 0 || ls.iter().any(|&l| l.index() < 0 || l.index() as u64 >= c as u64) {
            return Ok(None);
        }
        let reducer = Reducer::counting(self.reduction, &out, shape);
        let special = std::sync::atomic::AtomicBool::new(false);
        let (value, grads) = eval_rows(Self::NAME, &reducer, shape, (rows, c), up, false, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
            let (x, y) = (&xs[r * c..(r + 1) * c], ls[r].index() as usize);
            let mut g = g;
            let dst = g.as_mut().map_or(std::ptr::null_mut(), |g| g.gx.as_mut_ptr());
            // SAFETY: the gradient row holds c elements, as the row does.
            let Some((m, s)) = (unsafe { softmax_row(x, dst, &special) }) else { return 0.0 };
            let ls = s.ln();
            let lp = (x[y].to_wide() - m) - ls;
            if let Some(g) = g {
                // p_k − onehot_k, p_k = e_k / S (e_k kept in the gradient row).
                let f = 1.0 / s;
                for (k, gk) in g.gx.iter_mut().enumerate() {
                    *gk = T::from_wide(g.up * (gk.to_wide() * f - if k == y { 1.0 } else { 0.0 }));
                }
            }
            -lp
        })?;
        if special.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        Ok(Some((value, grads)))
    }

    /// The loss, in TensorFlow's argument order (`labels`, `logits`).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        labels: ArrayView<'_, L, D1>,
        logits: ArrayView<'_, T, D2>,
    ) -> Result<ArrayD<T>> {
        if let Some((value, _)) = self.fused(&labels, &logits, &Upstream::Skip)? {
            return Ok(value);
        }
        let ce = self.prepare(&labels, &logits)?;
        Ok(ce.reducer.output(Self::losses(&ce)))
    }

    /// The gradient of `Σ grad_output · loss` with respect to the logits (`target`: `None`).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        labels: ArrayView<'_, L, D1>,
        logits: ArrayView<'_, T, D2>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        if let Some((_, Some(g))) = self.fused(&labels, &logits, &Upstream::Given(grad_output.view()))? {
            return Ok(g);
        }
        let ce = self.prepare(&labels, &logits)?;
        let g = Self::grad(&ce, &ce.reducer.scales(Self::NAME, &grad_output)?);
        Ok(Gradients { input: narrow(logits.shape(), g), target: None })
    }

    /// The loss and its gradient (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        labels: ArrayView<'_, L, D1>,
        logits: ArrayView<'_, T, D2>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        if let Some((value, Some(g))) = self.fused(&labels, &logits, &Upstream::Ones)? {
            return Ok((value, g));
        }
        let ce = self.prepare(&labels, &logits)?;
        let value = ce.reducer.output(Self::losses(&ce));
        let ones = ones_like_output::<T>(&ce.reducer);
        let g = Self::grad(&ce, &ce.reducer.scales(Self::NAME, &ones.view())?);
        Ok((value, Gradients { input: narrow(logits.shape(), g), target: None }))
    }
}

free_fn! {
    /// [`CrossEntropyLoss`] with class indices and `reduction`:
    /// `torch.nn.functional.cross_entropy(input, target, reduction=...)`.
    ///
    /// ```text
    /// ℓₛ = −log softmax(xₛ)[yₛ]        Mean = Σₛ ℓₛ / N
    /// ```
    pub fn cross_entropy(input: float, target: labels; reduction: Reduction) = CrossEntropyLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::cross_entropy(array![[0.0f64, 0.0]].view(), array![1u8].view(), losslab::Reduction::Mean).unwrap();
        /// assert!((v[[]] - 2f64.ln()).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`CrossEntropyLoss`]; <https://pytorch.org/docs/stable/generated/torch.nn.functional.cross_entropy.html>
    }

    /// [`NllLoss`] with `reduction`: `torch.nn.functional.nll_loss(input, target, reduction=...)`.
    ///
    /// ```text
    /// ℓₛ = −xₛ[yₛ]        Mean = Σₛ ℓₛ / N
    /// ```
    pub fn nll_loss(input: float, target: labels; reduction: Reduction) = NllLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::nll_loss(array![[-0.25f64, -2.0]].view(), array![0i64].view(), losslab::Reduction::Sum).unwrap();
        /// assert_eq!(v[[]], 0.25);
        /// ```
        ///
        /// # References
        /// [`NllLoss`]; <https://pytorch.org/docs/stable/generated/torch.nn.functional.nll_loss.html>
    }

    /// [`BinaryCrossEntropy`] with `reduction`: `torch.nn.functional.binary_cross_entropy`.
    ///
    /// ```text
    /// ℓᵢ = −[yᵢ max(log xᵢ, −100) + (1 − yᵢ) max(log(1 − xᵢ), −100)]
    /// ```
    pub fn binary_cross_entropy(input: float, target: float; reduction: Reduction) = BinaryCrossEntropy {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::binary_cross_entropy(array![0.5f64].view(), array![1.0].view(), losslab::Reduction::Mean).unwrap();
        /// assert!((v[[]] - 2f64.ln()).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`BinaryCrossEntropy`]; <https://pytorch.org/docs/stable/generated/torch.nn.functional.binary_cross_entropy.html>
    }

    /// [`BinaryCrossEntropyWithLogits`] with `reduction`:
    /// `torch.nn.functional.binary_cross_entropy_with_logits`.
    ///
    /// ```text
    /// ℓᵢ = max(xᵢ, 0) − xᵢ yᵢ + log1p(e^(−|xᵢ|))
    /// ```
    pub fn binary_cross_entropy_with_logits(input: float, target: float; reduction: Reduction) = BinaryCrossEntropyWithLogits {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::binary_cross_entropy_with_logits(array![0.0f64].view(), array![1.0].view(), losslab::Reduction::Mean).unwrap();
        /// assert!((v[[]] - 2f64.ln()).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`BinaryCrossEntropyWithLogits`]; <https://pytorch.org/docs/stable/generated/torch.nn.functional.binary_cross_entropy_with_logits.html>
    }

    /// [`SoftmaxCrossEntropyWithLogits`] with TensorFlow's defaults: one loss per example.
    ///
    /// ```text
    /// ℓ = −Σ_c labels_c · log_softmax(logits)_c        (last axis)
    /// ```
    pub fn softmax_cross_entropy_with_logits(labels: float, logits: float_any) = SoftmaxCrossEntropyWithLogits {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::softmax_cross_entropy_with_logits(array![[0.5f64, 0.5]].view(), array![[3.0f64, 3.0]].view()).unwrap();
        /// assert!((v[[0]] - 2f64.ln()).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`SoftmaxCrossEntropyWithLogits`]; <https://www.tensorflow.org/api_docs/python/tf/nn/softmax_cross_entropy_with_logits>
    }

    /// [`SparseSoftmaxCrossEntropyWithLogits`] with TensorFlow's defaults: one loss per example.
    ///
    /// ```text
    /// ℓ = logsumexp(logits) − logits[label]        (last axis)
    /// ```
    pub fn sparse_softmax_cross_entropy_with_logits(labels: labels, logits: float) = SparseSoftmaxCrossEntropyWithLogits {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::sparse_softmax_cross_entropy_with_logits(array![0i32].view(), array![[3.0f64, 3.0]].view()).unwrap();
        /// assert!((v[[0]] - 2f64.ln()).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`SparseSoftmaxCrossEntropyWithLogits`]; <https://www.tensorflow.org/api_docs/python/tf/nn/sparse_softmax_cross_entropy_with_logits>
    }
}
