//! The half-precision fast path of [`CrossEntropyLoss`]: `bf16` or `f16`
//! logits, computed in `f32`, through [`crate::kernels::softmax_ce_half`].

use super::{CrossEntropyLoss, Plan, PlanTargets};
use crate::error::{same_shape, Result};
use crate::float::{ClassIndex, HalfFloat};
use crate::kernels::par::SyncPtr;
use crate::kernels::softmax_ce::{Targets, Up};
use crate::kernels::softmax_ce_half::{half_ops_for, HalfJob};
use crate::reduction::{Reduction, Scales};
use ndarray::{ArrayD, ArrayView, ArrayViewD, ArrayViewMut, Dimension, IxDyn};

/// The input widened to `f32` (exact), for the layouts the kernel does not take.
fn widen<H: HalfFloat, D: Dimension>(a: &ArrayView<'_, H, D>) -> ArrayD<f32> {
    a.map(|v| v.to_f32()).into_dyn()
}

/// Writes an `f32` gradient into a half one, rounding each element to nearest even.
fn narrow_into<H: HalfFloat, D: Dimension>(g: &ArrayD<f32>, grad: &mut ArrayViewMut<'_, H, D>) {
    let g = g.view().into_shape_with_order(grad.raw_dim()).expect("the input's shape");
    grad.zip_mut_with(&g, |d, &s| *d = H::from_f32(s));
}

impl CrossEntropyLoss {
    /// Runs the half kernel: the result (as the reduction says), the gradient
    /// into `dst` when it is not null. `src` and `dst` may be the same buffer.
    fn run_half_plan<H: HalfFloat, L: ClassIndex>(&self, plan: &Plan<'_, f32, L>, src: *const H, dst: *mut H, up: Up<'_>) -> ArrayD<f32> {
        let mut out = (self.reduction == Reduction::None).then(|| {
            let shape: &[usize] = if plan.sample_ndim == 1 { &[plan.rows] } else { &[] };
            ArrayD::<f32>::zeros(IxDyn(shape))
        });
        let losses = out.as_mut().map_or(SyncPtr::null(), |o| SyncPtr(o.as_mut_ptr()));
        let PlanTargets::Index(labels) = &plan.targets else { unreachable!("an index plan") };
        let job = HalfJob {
            ops: half_ops_for::<H>(),
            src,
            dst: SyncPtr(dst),
            losses,
            rows: plan.rows,
            classes: plan.classes,
            weight: self.weight.as_deref(),
            eps: self.label_smoothing,
            targets: Targets::Index { labels, ignore_index: Some(self.ignore_index) },
            up,
        };
        let total = job.run();
        out.unwrap_or_else(|| {
            let v = match self.reduction {
                Reduction::Sum => total,
                Reduction::Mean => total / plan.den,
                Reduction::BatchMean => total / plan.batch,
                Reduction::None => unreachable!(),
            };
            ArrayD::from_elem(IxDyn(&[]), v as f32)
        })
    }

    /// The loss of `bf16` or `f16` logits with class-index targets, as `f32`.
    ///
    /// The logits are widened to `f32` (exactly), the exponentials computed in
    /// `f32` and summed in `f64`: the result is within about 1e-6 relative of
    /// the `f64` loss of the same (half) logits. For a contiguous `(N, C)` or
    /// `(C,)` input this is the fused kernel of [`forward`](Self::forward),
    /// reading 2 bytes per logit; other layouts are widened to `f32` and take
    /// the `f32` path. Every option (`weight`, `ignore_index`,
    /// `label_smoothing`, every [`Reduction`]) applies as for `f32`.
    ///
    /// The fused kernel keeps a row's exponentials (rows of up to 32768
    /// classes; longer rows recompute them) in a 128 KiB buffer on the stack of
    /// the thread that runs it: rayon's workers and Rust's spawned threads have
    /// 2 MiB by default; a pool built with much smaller stacks may overflow.
    ///
    /// # Errors
    /// As [`forward`](Self::forward).
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::{half::bf16, CrossEntropyLoss};
    /// let x = array![[2.0f32, 0.5, -1.0], [0.1, 0.2, 3.0]].mapv(bf16::from_f32);
    /// let loss = CrossEntropyLoss::new().forward_half(x.view(), array![0i64, 2].view()).unwrap();
    /// // The f64 loss of the same bf16 values.
    /// let want = CrossEntropyLoss::new().forward(x.mapv(|v| f64::from(v.to_f32())).view(), array![0i64, 2].view()).unwrap();
    /// assert!((f64::from(loss[[]]) - want[[]]).abs() < 1e-6);
    /// ```
    pub fn forward_half<H: HalfFloat, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, H, D1>,
        target: ArrayView<'_, L, D2>,
    ) -> Result<ArrayD<f32>> {
        match self.index_plan::<f32, L, D2>(input.shape(), input.is_standard_layout(), &target)? {
            Some(plan) => Ok(self.run_half_plan(&plan, input.as_ptr(), std::ptr::null_mut(), super::NO_GRAD)),
            None => self.forward(widen(&input).view(), target),
        }
    }

    /// The loss of `bf16` or `f16` logits and its gradient, the gradient
    /// written into `grad` (the input's shape, the half type): for a contiguous
    /// `(N, C)` or `(C,)` input and gradient, one fused sweep per row that reads
    /// each logit once and writes each gradient element once (2 bytes each).
    ///
    /// Computed in `f32` with `f64` sums (as [`forward_half`](Self::forward_half));
    /// each gradient element is rounded once to the half type, to nearest even,
    /// so it is within about 1 ulp of the half type of the `f64` gradient of the
    /// same logits. Other layouts take the `f32` path on the widened input.
    ///
    /// # Errors
    /// As [`forward_backward_into`](Self::forward_backward_into).
    ///
    /// # Examples
    /// ```
    /// use ndarray::{array, Array2};
    /// use losslab::{half::f16, CrossEntropyLoss};
    /// let x = array![[0.0f32, 0.0], [1.0, 1.0]].mapv(f16::from_f32);
    /// let mut grad = Array2::from_elem((2, 2), f16::ZERO);
    /// let loss = CrossEntropyLoss::new().forward_backward_half_into(x.view(), array![1u8, 0].view(), grad.view_mut()).unwrap();
    /// assert!((loss[[]] - 2f32.ln()).abs() < 1e-7);
    /// // softmax − one-hot, over 2 samples (the mean): ±0.25, exact in f16
    /// assert_eq!(grad.mapv(f16::to_f32), array![[0.25, -0.25], [-0.25, 0.25]]);
    /// ```
    pub fn forward_backward_half_into<H: HalfFloat, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, H, D1>,
        target: ArrayView<'_, L, D2>,
        mut grad: ArrayViewMut<'_, H, D1>,
    ) -> Result<ArrayD<f32>> {
        same_shape(Self::NAME, "input", input.shape(), "grad", grad.shape())?;
        let standard = input.is_standard_layout() && grad.is_standard_layout();
        match self.index_plan::<f32, L, D2>(input.shape(), standard, &target)? {
            Some(plan) => {
                let up = Up::Uniform(self.uniform_up(&plan, 1.0));
                Ok(self.run_half_plan(&plan, input.as_ptr(), grad.as_mut_ptr(), up))
            }
            None => {
                let (value, g) = self.forward_backward(widen(&input).view(), target)?;
                narrow_into(&g.input, &mut grad);
                Ok(value)
            }
        }
    }

    /// [`forward_backward_half_into`](Self::forward_backward_half_into) with the
    /// gradient written over the logits: for a contiguous `(N, C)` or `(C,)`
    /// tensor, no allocation but the result. The logits are validated with the
    /// targets before anything is written: on an error they are unchanged.
    ///
    /// # Errors
    /// As [`forward_backward_inplace`](Self::forward_backward_inplace).
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::{half::bf16, CrossEntropyLoss};
    /// let mut x = array![[0.0f32, 0.0], [1.0, 1.0]].mapv(bf16::from_f32);
    /// let loss = CrossEntropyLoss::new().forward_backward_half_inplace(x.view_mut(), array![1u8, 0].view()).unwrap();
    /// assert!((loss[[]] - 2f32.ln()).abs() < 1e-7);
    /// assert_eq!(x.mapv(bf16::to_f32), array![[0.25, -0.25], [-0.25, 0.25]]);
    /// ```
    pub fn forward_backward_half_inplace<H: HalfFloat, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        mut logits: ArrayViewMut<'_, H, D1>,
        target: ArrayView<'_, L, D2>,
    ) -> Result<ArrayD<f32>> {
        let standard = logits.is_standard_layout();
        match self.index_plan::<f32, L, D2>(logits.shape(), standard, &target)? {
            Some(plan) => {
                let up = Up::Uniform(self.uniform_up(&plan, 1.0));
                let p = logits.as_mut_ptr();
                Ok(self.run_half_plan(&plan, p, p, up))
            }
            None => {
                let (value, g) = self.forward_backward(widen(&logits.view()).view(), target)?;
                narrow_into(&g.input, &mut logits);
                Ok(value)
            }
        }
    }

    /// The gradient of `Σ grad_output · loss` with respect to `bf16` or `f16`
    /// logits, for class-index targets, written into `grad` (the input's
    /// shape): [`backward_into`](Self::backward_into) for half logits, with an
    /// `f32` `grad_output` (the result's shape).
    ///
    /// # Errors
    /// As [`backward_into`](Self::backward_into).
    ///
    /// # Examples
    /// ```
    /// use ndarray::{array, Array2};
    /// use losslab::{half::bf16, CrossEntropyLoss, Reduction};
    /// let ce = CrossEntropyLoss::new().reduction(Reduction::None);
    /// let x = Array2::from_elem((2, 2), bf16::ZERO);
    /// let mut grad = Array2::from_elem((2, 2), bf16::ZERO);
    /// ce.backward_half_into(x.view(), array![0i64, 1].view(), array![2.0f32, 0.0].into_dyn().view(), grad.view_mut()).unwrap();
    /// assert_eq!(grad.mapv(bf16::to_f32), array![[-1.0, 1.0], [0.0, 0.0]]);
    /// ```
    pub fn backward_half_into<H: HalfFloat, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, H, D1>,
        target: ArrayView<'_, L, D2>,
        grad_output: ArrayViewD<'_, f32>,
        mut grad: ArrayViewMut<'_, H, D1>,
    ) -> Result<()> {
        same_shape(Self::NAME, "input", input.shape(), "grad", grad.shape())?;
        let standard = input.is_standard_layout() && grad.is_standard_layout();
        match self.index_plan::<f32, L, D2>(input.shape(), standard, &target)? {
            Some(plan) => {
                let scales = self.scales_for(&plan, &grad_output)?;
                let up = match &scales {
                    Scales::Uniform(g) => Up::Uniform(*g),
                    Scales::PerSample(v) => Up::PerRow(v),
                };
                self.run_half_plan(&plan, input.as_ptr(), grad.as_mut_ptr(), up);
                Ok(())
            }
            None => {
                let g = self.backward(widen(&input).view(), target, grad_output)?;
                narrow_into(&g.input, &mut grad);
                Ok(())
            }
        }
    }
}
