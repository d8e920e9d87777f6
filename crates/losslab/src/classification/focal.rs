//! The multi-class (softmax) focal loss of Lin et al. (2017), on logits with
//! class indices.

use crate::machinery::methods::{free_fn, setters};
use crate::machinery::error::{check_option, shape_err, unravel, LossError, Result};
use crate::machinery::float::{narrow, widen, ClassIndex, Float};
use crate::machinery::reduction::{ones_like_output, Gradients, Reducer, Reduction, Scales};
use crate::machinery::kernels::ops_for;
use crate::machinery::lanes::{eval_rows, Eval, RowGrads, Upstream};
use crate::math::*;
use std::sync::atomic::{AtomicBool, Ordering};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension};



/// Softmax focal loss for multi-class classification, losslab's own
/// (`losslab:softmax_focal_loss`): the focal loss of Lin et al. with a softmax
/// in place of the sigmoid.
///
/// ```text
/// log pₛ = log_softmax(xₛ)[yₛ]          over the C classes, in log space
/// ℓₛ = −α[yₛ] · (1 − pₛ)^γ · log pₛ     (1 − pₛ = −expm1(log pₛ): no cancellation near pₛ = 1)
/// ∂ℓₛ/∂log pₛ = −α[yₛ] ((1 − pₛ)^γ − γ pₛ log pₛ (1 − pₛ)^(γ−1))
/// ∂ℓₛ/∂xₛ,ⱼ = ∂ℓₛ/∂log pₛ · ([j = yₛ] − pₛ,ⱼ)
/// Mean = Σₛ ℓₛ / (number of samples not ignored)
/// ```
///
/// `input`: logits `(N, C)`, `(N, C, d1, …, dk)` or `(C,)` (PyTorch's layout);
/// `target`: class indices `(N, d1, …, dk)` (or `()`). `alpha` is an optional
/// weight per class (the focal paper's `α_t`), `gamma ≥ 0` the focusing
/// exponent (default 2). With `gamma = 0` and no `alpha` it is exactly
/// [`CrossEntropyLoss`](crate::CrossEntropyLoss). Samples labelled
/// `ignore_index` (default −100) count for nothing. `Mean` divides by the
/// number of samples that count (not by the α's, which are focal factors, not
/// class weights). At `pₛ = 1` the term `log pₛ (1 − pₛ)^(γ−1)` is taken at its
/// limit 0 (for every `γ > 0`).
///
/// # Errors
/// [`LossError::Shape`] for an input without a class axis, a target or `alpha`
/// of the wrong shape; [`LossError::ClassIndex`] for a label outside `[0, C)`
/// that is not `ignore_index`; [`LossError::Option`] for `gamma < 0` or NaN.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::SoftmaxFocalLoss;
/// let x = array![[2.0f64, 0.0, -1.0]];
/// let l = SoftmaxFocalLoss::new().forward(x.view(), array![0i64].view()).unwrap();
/// let p = 2f64.exp() / (2f64.exp() + 1.0 + (-1f64).exp());
/// assert!((l[[]] - -(1.0 - p).powi(2) * p.ln()).abs() < 1e-15);
/// ```
///
/// # References
/// T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollár, "Focal Loss for Dense
/// Object Detection", ICCV 2017, <https://arxiv.org/abs/1708.02002> (the
/// multi-class form is their equation (5) with a softmax).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SoftmaxFocalLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// The focusing exponent `γ ≥ 0` (default 2).
    pub gamma: f64,
    /// One weight per class (default none: all 1).
    pub alpha: Option<Vec<f64>>,
    /// The label whose samples are ignored (default −100).
    pub ignore_index: i64,
}

impl Default for SoftmaxFocalLoss {
    fn default() -> Self {
        SoftmaxFocalLoss { reduction: Reduction::Mean, gamma: 2.0, alpha: None, ignore_index: -100 }
    }
}

struct FocalPrepared {
    classes: usize,
    inner: usize,
    x: Vec<f64>,
    labels: Vec<Option<usize>>,
    reducer: Reducer,
}

impl FocalPrepared {
    #[inline]
    fn at(&self, s: usize, c: usize) -> usize {
        (s / self.inner) * self.classes * self.inner + c * self.inner + s % self.inner
    }
    fn lane(&self, s: usize, out: &mut [f64]) {
        let mut lane = vec![0.0; self.classes];
        for (c, l) in lane.iter_mut().enumerate() {
            *l = self.x[self.at(s, c)];
        }
        log_softmax_lane(&lane, out);
    }
}

impl SoftmaxFocalLoss {
    const NAME: &'static str = "softmax_focal_loss";

    /// losslab's defaults: `gamma = 2`, no `alpha`, `ignore_index = −100`, `Mean`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction,
        /// Sets `gamma`.
        gamma: f64
    );
    /// Sets the per-class `alpha`.
    #[must_use]
    pub fn alpha<T: Float>(mut self, alpha: ndarray::ArrayView1<'_, T>) -> Self {
        self.alpha = Some(alpha.iter().map(|v| v.to_wide()).collect());
        self
    }
    setters!(
        /// Sets the ignored label.
        ignore_index: i64
    );

    fn prepare<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: &ArrayView<'_, T, D1>,
        target: &ArrayView<'_, L, D2>,
    ) -> Result<FocalPrepared> {
        check_option(Self::NAME, "gamma", self.gamma, self.gamma >= 0.0, "a number >= 0")?;
        let shape = input.shape();
        let (axis, sample_shape) = match shape.len() {
            0 => return Err(shape_err(Self::NAME, "input", "(C,), (N, C) or (N, C, d1, ..., dk)", shape)),
            1 => (0, vec![]),
            _ => {
                let mut s = shape.to_vec();
                s.remove(1);
                (1, s)
            }
        };
        if target.shape() != sample_shape.as_slice() {
            return Err(shape_err(
                Self::NAME,
                "target",
                format!("{sample_shape:?} (the shape of `input` without its class axis)"),
                target.shape(),
            ));
        }
        let (_, classes, inner) = crate::machinery::lanes::lanes(shape, axis);
        if let Some(a) = &self.alpha {
            if a.len() != classes {
                return Err(shape_err(Self::NAME, "alpha", format!("[{classes}] (one weight per class)"), &[a.len()]));
            }
        }
        let mut labels = Vec::with_capacity(target.len());
        for (i, &l) in target.iter().enumerate() {
            let l = l.index();
            if l == self.ignore_index {
                labels.push(None);
            } else if l < 0 || l as u64 >= classes as u64 {
                return Err(LossError::ClassIndex {
                    loss: Self::NAME,
                    tensor: "target",
                    index: l,
                    position: unravel(i, target.shape()),
                    classes,
                    ignore_index: Some(self.ignore_index),
                });
            } else {
                labels.push(Some(l as usize));
            }
        }
        let counted = labels.iter().filter(|l| l.is_some()).count();
        let reducer = Reducer {
            reduction: self.reduction,
            shape: sample_shape,
            mean_denominator: counted as f64,
            batch: if shape.len() > 1 { shape[0] as f64 } else { 1.0 },
        };
        Ok(FocalPrepared { classes, inner, x: widen(input), labels, reducer })
    }

    /// The fused row sweep ([`eval_rows`]) on a contiguous `(N, C)` or `(C,)`
    /// input with valid, contiguous targets of its sample shape: per row, the
    /// cross-entropy kernel's block operations (maximum; exponentials stored in
    /// the gradient row and summed in `f64`; the affine update `e · f`), the
    /// loss and gradient in one pass; `None` for every other case (the general
    /// path then validates and reports errors), and for inputs with a NaN or
    /// infinite logit (the general path's formulas handle them).
    fn fused<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: &ArrayView<'_, T, D1>,
        target: &ArrayView<'_, L, D2>,
        up: &Upstream<'_, T>,
    ) -> Result<Option<Eval<T, Gradients<T>>>> {
        let shape = input.shape();
        let Some((rows, c, sample_shape)) = super::class_rows(shape) else { return Ok(None) };
        if !(self.gamma >= 0.0) || target.shape() != sample_shape || self.alpha.as_ref().is_some_and(|a| a.len() != c) {
            return Ok(None);
        }
        let (Some(x), Some(labels)) = (input.as_slice(), target.as_slice()) else { return Ok(None) };
        let ignore = self.ignore_index;
        let mut counted = 0usize;
        for &l in labels {
            let l = l.index();
            if l == ignore {
                continue;
            }
            if l < 0 || l as u64 >= c as u64 {
                return Ok(None);
            }
            counted += 1;
        }
        let reducer = Reducer {
            reduction: self.reduction,
            shape: sample_shape.to_vec(),
            mean_denominator: counted as f64,
            batch: if shape.len() > 1 { rows as f64 } else { 1.0 },
        };
        let ops = ops_for::<T>();
        let special = AtomicBool::new(false);
        let gamma = self.gamma;
        let out = eval_rows(Self::NAME, &reducer, shape, (rows, c), up, false, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
            let l = labels[r].index();
            if l == ignore {
                return 0.0;
            }
            let (y, xr) = (l as usize, &x[r * c..(r + 1) * c]);
            // SAFETY: the row holds c elements; so does its gradient row.
            let (m, nan) = unsafe { (ops.max)(xr.as_ptr(), c) };
            if nan || !m.is_finite() {
                special.store(true, Ordering::Relaxed);
                return 0.0;
            }
            let mut g = g;
            let dst = g.as_mut().map_or(std::ptr::null_mut(), |g| g.gx.as_mut_ptr());
            let (sum, _) = unsafe { (ops.exp_sum)(xr.as_ptr(), dst, c, m, false) };
            let lp = (xr[y].to_wide() - m.to_wide()) - sum.ln();
            let a = self.alpha_of(y);
            let q = -lp.exp_m1();
            if let Some(g) = g {
                let p = lp.exp();
                // As `grad`: log p · (1 − p)^(γ − 1), 0 at p = 1.
                let t = if lp == 0.0 { 0.0 } else { lp * q.powf(gamma - 1.0) };
                let d_lp = -a * (q.powf(gamma) - gamma * p * t);
                let cs = g.up * d_lp;
                // grad_j = cs · ([j = y] − e_j / S); the target's element in f64.
                unsafe { (ops.affine)(g.gx.as_mut_ptr(), c, T::from_wide(-cs / sum), T::zero()) };
                g.gx[y] = T::from_wide(cs * (1.0 - p));
            }
            -a * q.powf(gamma) * lp
        })?;
        Ok((!special.load(Ordering::Relaxed)).then_some(out))
    }

    fn alpha_of(&self, y: usize) -> f64 {
        self.alpha.as_ref().map_or(1.0, |a| a[y])
    }

    /// `(1 − p)^γ` from `log p`, in log space.
    fn modulator(&self, lp: f64) -> f64 {
        let q = -lp.exp_m1();
        q.powf(self.gamma)
    }

    fn losses(&self, f: &FocalPrepared) -> Vec<f64> {
        let mut lp = vec![0.0; f.classes];
        (0..f.labels.len())
            .map(|s| match f.labels[s] {
                None => 0.0,
                Some(y) => {
                    f.lane(s, &mut lp);
                    -self.alpha_of(y) * self.modulator(lp[y]) * lp[y]
                }
            })
            .collect()
    }

    fn grad(&self, f: &FocalPrepared, scales: &Scales) -> Vec<f64> {
        let mut g = vec![0.0; f.x.len()];
        let mut lp = vec![0.0; f.classes];
        for s in 0..f.labels.len() {
            let Some(y) = f.labels[s] else { continue };
            f.lane(s, &mut lp);
            let l = lp[y];
            let p = l.exp();
            let q = -l.exp_m1();
            // log p · (1 − p)^(γ − 1), 0 at p = 1 (its limit for γ > 0)
            let t = if l == 0.0 { 0.0 } else { l * q.powf(self.gamma - 1.0) };
            let d_lp = -self.alpha_of(y) * (q.powf(self.gamma) - self.gamma * p * t);
            let c = scales.at(s) * d_lp;
            for (j, &lj) in lp.iter().enumerate() {
                let onehot = if j == y { 1.0 } else { 0.0 };
                g[f.at(s, j)] = c * (onehot - lj.exp());
            }
        }
        g
    }

    /// The loss, reduced.
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
        let f = self.prepare(&input, &target)?;
        Ok(f.reducer.output(self.losses(&f)))
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
        let f = self.prepare(&input, &target)?;
        let scales = f.reducer.scales(Self::NAME, &grad_output)?;
        Ok(Gradients { input: narrow(input.shape(), self.grad(&f, &scales)), target: None })
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
        let f = self.prepare(&input, &target)?;
        let value = f.reducer.output(self.losses(&f));
        let one: ArrayD<T> = ones_like_output(&f.reducer);
        let scales = f.reducer.scales(Self::NAME, &one.view())?;
        Ok((value, Gradients { input: narrow(input.shape(), self.grad(&f, &scales)), target: None }))
    }
}

free_fn! {
    /// [`SoftmaxFocalLoss`] with `gamma` and `reduction`.
    pub fn softmax_focal_loss(input: float, target: labels; gamma: f64, reduction: Reduction) = SoftmaxFocalLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// use losslab::{CrossEntropyLoss, Reduction};
        /// let x = array![[1.0f64, 2.0, 0.5], [0.0, -1.0, 3.0]];
        /// let y = array![1i64, 0];
        /// // γ = 0 is cross entropy
        /// let focal = losslab::softmax_focal_loss(x.view(), y.view(), 0.0, Reduction::Mean).unwrap();
        /// let ce = CrossEntropyLoss::new().forward(x.view(), y.view()).unwrap();
        /// assert!((focal[[]] - ce[[]]).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`SoftmaxFocalLoss`]: its formula, the reference's semantics and the paper.
    }
}
