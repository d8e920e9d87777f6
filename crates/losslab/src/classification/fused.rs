//! The fused fast path of [`CrossEntropyLoss`]: contiguous `(N, C)` or `(C,)`
//! logits, through [`crate::machinery::kernels::softmax_ce`].

use super::{check_weight, CrossEntropyLoss};
use crate::machinery::error::{same_shape, shape_err, unravel, LossError, Result};
use crate::machinery::float::{ClassIndex, Float};
use crate::machinery::kernels::ops_for;
use crate::machinery::kernels::par::SyncPtr;
use crate::machinery::kernels::softmax_ce::{Job, RowOps, Targets, Up};
use crate::machinery::reduction::{Gradients, Reducer, Reduction, Scales};
use ndarray::{ArrayD, ArrayView, ArrayViewD, ArrayViewMut, CowArray, Dimension, IxDyn};
use std::borrow::Cow;

// bf16 / f16 logits; a child module, so that it shares the plans.
#[path = "fused_half.rs"]
mod fused_half;

/// A validated problem the fused kernel can take.
pub(super) struct Plan<'t, T: Clone, L: Clone> {
    rows: usize,
    classes: usize,
    targets: PlanTargets<'t, T, L>,
    /// Denominator of `Mean`.
    den: f64,
    /// Denominator of `BatchMean`.
    batch: f64,
    /// `[N]` for `(N, C)` input, `[]` for `(C,)`.
    sample_ndim: usize,
}

enum PlanTargets<'t, T: Clone, L: Clone> {
    Index(Cow<'t, [L]>),
    Probs(Cow<'t, [T]>),
}

/// The logits' element type `E` as the fused path sees it: the type the loss
/// is computed and returned in, the kernel that runs a plan, and the way to
/// and from the general path for the layouts the kernel does not take.
/// [`Wide`] is `f32` and `f64` (computed in their own type), `fused_half::Half`
/// `bf16` and `f16` (computed in `f32`): the public methods of both are the
/// same generic bodies, so that validation, planning and the fallback are
/// written once.
pub(super) trait Storage<E> {
    /// The type the loss is computed and returned in.
    type Out: Float;
    /// Runs the kernel for `plan` (the options from `ce`), each sample's loss
    /// into `losses` when it is not null: the total, in `f64`.
    fn run<L: ClassIndex>(
        ce: &CrossEntropyLoss,
        plan: &Plan<'_, Self::Out, L>,
        src: *const E,
        dst: *mut E,
        losses: SyncPtr<Self::Out>,
        up: Up<'_>,
    ) -> f64;
    /// The logits as the general path takes them (borrowed where they are
    /// already [`Out`](Self::Out); widened exactly otherwise).
    fn widen<'a, D: Dimension>(a: ArrayView<'a, E, D>) -> CowArray<'a, Self::Out, IxDyn>;
    /// A gradient element of the general path as `E` (rounded to nearest even).
    fn narrow(v: Self::Out) -> E;
    /// Writes a gradient of the general path (the shape of `grad`) into `grad`.
    fn store<D: Dimension>(g: &ArrayD<Self::Out>, grad: &mut ArrayViewMut<'_, E, D>) {
        let g = g.view().into_shape_with_order(grad.raw_dim()).expect("the input's shape");
        grad.zip_mut_with(&g, |d, &s| *d = Self::narrow(s));
    }
}

/// `f32` and `f64` logits, through [`crate::machinery::kernels::softmax_ce`].
pub(super) struct Wide;

impl<T: Float> Storage<T> for Wide {
    type Out = T;
    fn run<L: ClassIndex>(ce: &CrossEntropyLoss, plan: &Plan<'_, T, L>, src: *const T, dst: *mut T, losses: SyncPtr<T>, up: Up<'_>) -> f64 {
        plan.job(ops_for::<T>(), ce, src, dst, losses, up).run()
    }
    fn widen<'a, D: Dimension>(a: ArrayView<'a, T, D>) -> CowArray<'a, T, IxDyn> {
        CowArray::from(a.into_dyn())
    }
    #[inline(always)]
    fn narrow(v: T) -> T {
        v
    }
}

impl<T: Clone, L: Clone> Plan<'_, T, L> {
    /// The targets as the kernels take them.
    fn targets(&self, ignore_index: i64) -> Targets<'_, T, L> {
        match &self.targets {
            PlanTargets::Index(l) => Targets::Index { labels: l, ignore_index: Some(ignore_index) },
            PlanTargets::Probs(t) => Targets::Probs { t },
        }
    }

    /// The kernel's job for this plan with the options of `ce`, through the
    /// block operations `ops` (of `f32`/`f64` or of `bf16`/`f16` logits).
    fn job<'a, O: RowOps<P = T>>(&'a self, ops: &'a O, ce: &'a CrossEntropyLoss, src: *const O::X, dst: *mut O::X, losses: SyncPtr<O::Loss>, up: Up<'a>) -> Job<'a, O, L> {
        Job {
            ops,
            src,
            dst: SyncPtr(dst),
            losses,
            rows: self.rows,
            classes: self.classes,
            weight: ce.weight.as_deref(),
            eps: ce.label_smoothing,
            targets: self.targets(ce.ignore_index),
            up,
        }
    }
}

/// The upstream gradient of a forward pass (no gradient is written).
pub(super) const NO_GRAD: Up<'static> = Up::Uniform(0.0);

/// Whether the fused kernel takes this input (1-D or 2-D, standard layout, not empty).
pub(super) fn applies<T, D: Dimension>(input: &ArrayView<'_, T, D>) -> bool {
    fused_shape(input.shape(), input.is_standard_layout()).is_some()
}

/// `(rows, classes)` when the fused kernel applies to an input of this shape
/// and layout: 1-D or 2-D, standard layout, at least one row and one class.
fn fused_shape(shape: &[usize], standard: bool) -> Option<(usize, usize)> {
    if !standard {
        return None;
    }
    match *shape {
        [c] if c > 0 => Some((1, c)),
        [n, c] if n > 0 && c > 0 => Some((n, c)),
        _ => None,
    }
}

fn contiguous<'a, E: Clone, D: Dimension>(a: &ArrayView<'a, E, D>) -> Cow<'a, [E]> {
    match a.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().cloned().collect()),
    }
}

impl CrossEntropyLoss {
    /// The plan for class-index targets, or `None` where the fused kernel does
    /// not apply. Validates exactly as the general path does, so that errors
    /// are the same, and before anything is written.
    pub(super) fn index_plan<'t, T: Float, L: ClassIndex, D2: Dimension>(
        &self,
        shape: &[usize],
        standard: bool,
        target: &ArrayView<'t, L, D2>,
    ) -> Result<Option<Plan<'t, T, L>>> {
        let Some((rows, classes)) = fused_shape(shape, standard) else {
            return Ok(None);
        };
        self.validate()?;
        let sample_shape: &[usize] = if shape.len() == 2 { &shape[..1] } else { &[] };
        super::check_one_sample_smoothing(shape, target.shape(), self.label_smoothing)?;
        if target.shape() != sample_shape && !super::one_sample_target(shape, target.shape()) {
            return Err(shape_err(
                Self::NAME,
                "target",
                format!("{sample_shape:?} (the shape of `input` without its class axis)"),
                target.shape(),
            ));
        }
        check_weight(Self::NAME, &self.weight, classes)?;
        let labels = contiguous(target);
        let ignore = self.ignore_index;
        let mut den = crate::machinery::reduction::Neumaier::default();
        // Unweighted, the denominator is the count of the samples that count
        // (exact, as the compensated sum of ones is).
        let mut count = 0usize;
        let weight = self.weight.as_deref();
        for (i, &l) in labels.iter().enumerate() {
            let l = l.index();
            if l == ignore {
                continue;
            }
            if l < 0 || l as u64 >= classes as u64 {
                return Err(LossError::ClassIndex {
                    loss: Self::NAME,
                    tensor: "target",
                    index: l,
                    position: unravel(i, target.shape()),
                    classes,
                    ignore_index: Some(ignore),
                });
            }
            // Σ w[y] over the samples that count, compensated, in sample order.
            let Some(w) = weight else {
                count += 1;
                continue;
            };
            den.add(w[l as usize]);
        }
        let den = if weight.is_none() { count as f64 } else { den.total() };
        let batch = if shape.len() > 1 { rows as f64 } else { 1.0 };
        Ok(Some(Plan { rows, classes, targets: PlanTargets::Index(labels), den, batch, sample_ndim: shape.len() - 1 }))
    }

    /// The plan for class-probability targets, or `None` where the fused kernel does not apply.
    pub(super) fn probs_plan<'t, T: Float, D2: Dimension>(
        &self,
        shape: &[usize],
        standard: bool,
        target: &ArrayView<'t, T, D2>,
    ) -> Result<Option<Plan<'t, T, i64>>> {
        let Some((rows, classes)) = fused_shape(shape, standard) else {
            return Ok(None);
        };
        self.validate()?;
        if self.ignore_index >= 0 {
            // The general path has the message.
            return Ok(None);
        }
        same_shape(Self::NAME, "input", shape, "target", target.shape())?;
        check_weight(Self::NAME, &self.weight, classes)?;
        let batch = if shape.len() > 1 { rows as f64 } else { 1.0 };
        Ok(Some(Plan {
            rows,
            classes,
            targets: PlanTargets::Probs(contiguous(target)),
            den: rows as f64,
            batch,
            sample_ndim: shape.len() - 1,
        }))
    }

    /// The upstream gradient of each sample for a reduced result whose gradient is 1.
    fn mean_up<T: Clone, L: Clone>(&self, plan: &Plan<'_, T, L>) -> Up<'static> {
        Up::Uniform(match self.reduction {
            Reduction::None | Reduction::Sum => 1.0,
            Reduction::Mean => 1.0 / plan.den,
            Reduction::BatchMean => 1.0 / plan.batch,
        })
    }

    /// Runs the kernel of `S` on logits of type `E`: the result (as the
    /// reduction says), the gradient into `dst` when it is not null. `src` and
    /// `dst` may be the same buffer.
    pub(super) fn run_plan<S: Storage<E>, E, L: ClassIndex>(
        &self,
        plan: &Plan<'_, S::Out, L>,
        src: *const E,
        dst: *mut E,
        up: Up<'_>,
    ) -> ArrayD<S::Out> {
        let mut out = (self.reduction == Reduction::None).then(|| {
            let shape: &[usize] = if plan.sample_ndim == 1 { &[plan.rows] } else { &[] };
            ArrayD::<S::Out>::zeros(IxDyn(shape))
        });
        let losses = out.as_mut().map_or(SyncPtr::null(), |o| SyncPtr(o.as_mut_ptr()));
        let total = S::run(self, plan, src, dst, losses, up);
        out.unwrap_or_else(|| {
            let v = match self.reduction {
                Reduction::Sum => total,
                Reduction::Mean => total / plan.den,
                Reduction::BatchMean => total / plan.batch,
                Reduction::None => unreachable!(),
            };
            ArrayD::from_elem(IxDyn(&[]), S::Out::from_wide(v))
        })
    }

    /// The per-sample upstream gradients for `grad_output` (checked as the general path checks it).
    fn scales_for<T: Float, L: Clone>(&self, plan: &Plan<'_, T, L>, grad_output: &ArrayViewD<'_, T>) -> Result<Scales> {
        let shape = if plan.sample_ndim == 1 { vec![plan.rows] } else { vec![] };
        let reducer = Reducer { reduction: self.reduction, shape, mean_denominator: plan.den, batch: plan.batch };
        reducer.scales(Self::NAME, grad_output)
    }

    /// The body of `forward` and `forward_half` on the fused path: the loss of
    /// class-index targets, or `None` where the fused kernel does not apply.
    pub(super) fn fused_forward<S: Storage<E>, E, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: &ArrayView<'_, E, D1>,
        target: &ArrayView<'_, L, D2>,
    ) -> Result<Option<ArrayD<S::Out>>> {
        let plan = self.index_plan::<S::Out, L, D2>(input.shape(), input.is_standard_layout(), target)?;
        Ok(plan.map(|plan| self.run_plan::<S, E, L>(&plan, input.as_ptr(), std::ptr::null_mut(), NO_GRAD)))
    }

    /// The body of every `…_into` method that returns the loss: `grad` checked
    /// against the input, then the fused kernel where `plan` (given the input's
    /// shape and whether both buffers are contiguous) makes a plan; otherwise
    /// `general` (the loss and its gradient by the general path, on the input
    /// as `S::Out`) and its gradient stored into `grad`.
    fn fused_into<'t, S: Storage<E>, E, L: ClassIndex, D1: Dimension>(
        &self,
        input: ArrayView<'_, E, D1>,
        mut grad: ArrayViewMut<'_, E, D1>,
        plan: impl FnOnce(&[usize], bool) -> Result<Option<Plan<'t, S::Out, L>>>,
        general: impl FnOnce(ArrayViewD<'_, S::Out>) -> Result<(ArrayD<S::Out>, Gradients<S::Out>)>,
    ) -> Result<ArrayD<S::Out>> {
        same_shape(Self::NAME, "input", input.shape(), "grad", grad.shape())?;
        let standard = input.is_standard_layout() && grad.is_standard_layout();
        match plan(input.shape(), standard)? {
            Some(plan) => Ok(self.run_plan::<S, E, L>(&plan, input.as_ptr(), grad.as_mut_ptr(), self.mean_up(&plan))),
            None => {
                let (value, g) = general(S::widen(input).view())?;
                S::store(&g.input, &mut grad);
                Ok(value)
            }
        }
    }

    /// The body of every `…_inplace` method: as [`fused_into`](Self::fused_into)
    /// with the gradient written over the logits (validated before anything is
    /// written).
    fn fused_inplace<'t, S: Storage<E>, E, L: ClassIndex, D1: Dimension>(
        &self,
        mut logits: ArrayViewMut<'_, E, D1>,
        plan: impl FnOnce(&[usize], bool) -> Result<Option<Plan<'t, S::Out, L>>>,
        general: impl FnOnce(ArrayViewD<'_, S::Out>) -> Result<(ArrayD<S::Out>, Gradients<S::Out>)>,
    ) -> Result<ArrayD<S::Out>> {
        match plan(logits.shape(), logits.is_standard_layout())? {
            Some(plan) => {
                let p = logits.as_mut_ptr();
                Ok(self.run_plan::<S, E, L>(&plan, p, p, self.mean_up(&plan)))
            }
            None => {
                let (value, g) = general(S::widen(logits.view()).view())?;
                S::store(&g.input, &mut logits);
                Ok(value)
            }
        }
    }

    /// The body of `backward_into` and `backward_half_into`.
    fn fused_backward_into<S: Storage<E>, E, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, E, D1>,
        target: ArrayView<'_, L, D2>,
        grad_output: ArrayViewD<'_, S::Out>,
        mut grad: ArrayViewMut<'_, E, D1>,
    ) -> Result<()> {
        same_shape(Self::NAME, "input", input.shape(), "grad", grad.shape())?;
        let standard = input.is_standard_layout() && grad.is_standard_layout();
        match self.index_plan::<S::Out, L, D2>(input.shape(), standard, &target)? {
            Some(plan) => {
                let scales = self.scales_for(&plan, &grad_output)?;
                let up = match &scales {
                    Scales::Uniform(g) => Up::Uniform(*g),
                    Scales::PerSample(v) => Up::PerRow(v),
                };
                self.run_plan::<S, E, L>(&plan, input.as_ptr(), grad.as_mut_ptr(), up);
                Ok(())
            }
            None => {
                let g = self.backward(S::widen(input).view(), target, grad_output)?;
                S::store(&g.input, &mut grad);
                Ok(())
            }
        }
    }

    /// The loss and its gradient for class-index targets, the gradient written
    /// into `grad` (the input's shape): the same numbers as
    /// [`forward_backward`](Self::forward_backward) without allocating the gradient.
    ///
    /// For a contiguous `(N, C)` or `(C,)` input and gradient this is one fused,
    /// vectorised, multi-threaded sweep per row (see the type's docs); other
    /// layouts take the general path and copy the gradient in. Every element of
    /// `grad` is written (an ignored sample's row with zeros): what it held
    /// before does not matter, so a buffer can be reused from call to call.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad` does not have the input's shape.
    ///
    /// # Examples
    /// ```
    /// use ndarray::{array, Array2};
    /// use losslab::CrossEntropyLoss;
    /// let logits = array![[2.0f32, 0.5, -1.0], [0.1, 0.2, 3.0]];
    /// let mut grad = Array2::<f32>::zeros((2, 3));
    /// let ce = CrossEntropyLoss::new();
    /// let loss = ce.forward_backward_into(logits.view(), array![0i64, 2].view(), grad.view_mut()).unwrap();
    /// let (want, g) = ce.forward_backward(logits.view(), array![0i64, 2].view()).unwrap();
    /// assert!((loss[[]] - want[[]]).abs() < 1e-6);
    /// assert!(grad.iter().zip(g.input.iter()).all(|(a, b)| (a - b).abs() < 1e-6));
    /// ```
    pub fn forward_backward_into<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, L, D2>,
        grad: ArrayViewMut<'_, T, D1>,
    ) -> Result<ArrayD<T>> {
        self.fused_into::<Wide, T, L, D1>(input, grad, |s, std| self.index_plan(s, std, &target), |x| self.forward_backward(x, target.view()))
    }

    /// The loss and its gradient for class-index targets, the gradient written
    /// over the logits: for a contiguous `(N, C)` or `(C,)` tensor, one fused
    /// sweep that reads each logit once and writes its gradient once, without
    /// allocating anything but the result (a 0-d array, or one loss per sample
    /// for `Reduction::None`).
    ///
    /// The logits are validated with the targets before anything is written: on
    /// an error they are unchanged. Other layouts take the general path and
    /// copy the gradient in.
    ///
    /// # Errors
    /// See the type's docs.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::CrossEntropyLoss;
    /// let mut x = array![[0.0f32, 0.0], [1.0, 1.0]];
    /// let loss = CrossEntropyLoss::new().forward_backward_inplace(x.view_mut(), array![1u8, 0].view()).unwrap();
    /// assert!((loss[[]] - 2f32.ln()).abs() < 1e-7);
    /// // softmax − one-hot, over 2 samples (the mean): ±0.25
    /// assert_eq!(x, array![[0.25, -0.25], [-0.25, 0.25]]);
    /// ```
    pub fn forward_backward_inplace<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        logits: ArrayViewMut<'_, T, D1>,
        target: ArrayView<'_, L, D2>,
    ) -> Result<ArrayD<T>> {
        self.fused_inplace::<Wide, T, L, D1>(logits, |s, std| self.index_plan(s, std, &target), |x| self.forward_backward(x, target.view()))
    }

    /// The gradient of `Σ grad_output · loss` for class-index targets, written
    /// into `grad` (the input's shape): [`backward`](Self::backward) without
    /// allocating the gradient.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape or `grad` the input's.
    ///
    /// # Examples
    /// ```
    /// use ndarray::{array, Array2};
    /// use losslab::{CrossEntropyLoss, Reduction};
    /// let ce = CrossEntropyLoss::new().reduction(Reduction::None);
    /// let mut grad = Array2::<f64>::zeros((2, 2));
    /// ce.backward_into(array![[0.0, 0.0], [0.0, 0.0]].view(), array![0i64, 1].view(), array![2.0, 0.0].into_dyn().view(), grad.view_mut())
    ///     .unwrap();
    /// assert_eq!(grad, array![[-1.0, 1.0], [0.0, 0.0]]);
    /// ```
    pub fn backward_into<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, L, D2>,
        grad_output: ArrayViewD<'_, T>,
        grad: ArrayViewMut<'_, T, D1>,
    ) -> Result<()> {
        self.fused_backward_into::<Wide, T, L, D1, D2>(input, target, grad_output, grad)
    }

    /// The loss and its gradient with respect to the logits for
    /// class-probability targets, the gradient written into `grad` (the
    /// gradient with respect to the target is not computed: see
    /// [`forward_backward_probs`](Self::forward_backward_probs) for it).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad` does not have the input's shape.
    ///
    /// # Examples
    /// ```
    /// use ndarray::{array, Array2};
    /// use losslab::CrossEntropyLoss;
    /// let mut grad = Array2::<f64>::zeros((1, 2));
    /// let loss = CrossEntropyLoss::new()
    ///     .forward_backward_probs_into(array![[0.0, 0.0]].view(), array![[0.25, 0.75]].view(), grad.view_mut())
    ///     .unwrap();
    /// assert!((loss[[]] - 2f64.ln()).abs() < 1e-15);
    /// assert_eq!(grad, array![[0.25, -0.25]]); // softmax − target
    /// ```
    pub fn forward_backward_probs_into<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, T, D2>,
        grad: ArrayViewMut<'_, T, D1>,
    ) -> Result<ArrayD<T>> {
        self.fused_into::<Wide, T, i64, D1>(input, grad, |s, std| self.probs_plan(s, std, &target), |x| self.forward_backward_probs(x, target.view()))
    }

    /// [`forward_backward_probs_into`](Self::forward_backward_probs_into) with
    /// the gradient written over the logits (no allocation but the result for a
    /// contiguous input, apart from a copy of a non-contiguous target).
    ///
    /// # Errors
    /// See the type's docs.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::CrossEntropyLoss;
    /// let mut x = array![[0.0f32, 0.0]];
    /// CrossEntropyLoss::new().forward_backward_probs_inplace(x.view_mut(), array![[1.0f32, 0.0]].view()).unwrap();
    /// assert_eq!(x, array![[-0.5, 0.5]]);
    /// ```
    pub fn forward_backward_probs_inplace<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        logits: ArrayViewMut<'_, T, D1>,
        target: ArrayView<'_, T, D2>,
    ) -> Result<ArrayD<T>> {
        self.fused_inplace::<Wide, T, i64, D1>(logits, |s, std| self.probs_plan(s, std, &target), |x| self.forward_backward_probs(x, target.view()))
    }
}
