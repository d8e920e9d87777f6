//! The half-precision fast path of [`CrossEntropyLoss`]: `bf16` or `f16`
//! logits, computed in `f32`, through [`crate::machinery::kernels::softmax_ce_half`].
//! Validation, planning and the fallback are the `f32` path's (see
//! [`Storage`]).

use super::{CrossEntropyLoss, Plan, Storage};
use crate::machinery::error::Result;
use crate::machinery::float::{ClassIndex, HalfFloat};
use crate::machinery::kernels::par::SyncPtr;
use crate::machinery::kernels::softmax_ce::Up;
use crate::machinery::kernels::softmax_ce_half::half_ops_for;
#[cfg(doc)]
use crate::machinery::reduction::Reduction;
use ndarray::{ArrayD, ArrayView, ArrayViewD, ArrayViewMut, CowArray, Dimension, IxDyn};

/// `bf16` and `f16` logits, computed in `f32`, through
/// [`crate::machinery::kernels::softmax_ce_half`] (class-index targets only).
struct Half;

impl<H: HalfFloat> Storage<H> for Half {
    type Out = f32;
    fn run<L: ClassIndex>(ce: &CrossEntropyLoss, plan: &Plan<'_, f32, L>, src: *const H, dst: *mut H, losses: SyncPtr<f32>, up: Up<'_>) -> f64 {
        plan.job(half_ops_for::<H>(), ce, src, dst, losses, up).run()
    }
    /// The input widened to `f32` (exact), for the layouts the kernel does not take.
    fn widen<'a, D: Dimension>(a: ArrayView<'a, H, D>) -> CowArray<'a, f32, IxDyn> {
        CowArray::from(a.map(|v| v.to_f32()).into_dyn())
    }
    #[inline(always)]
    fn narrow(v: f32) -> H {
        H::from_f32(v)
    }
}

impl CrossEntropyLoss {
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
        match self.fused_forward::<Half, H, L, D1, D2>(&input, &target)? {
            Some(value) => Ok(value),
            None => self.forward(Half::widen(input).view(), target),
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
        grad: ArrayViewMut<'_, H, D1>,
    ) -> Result<ArrayD<f32>> {
        self.fused_into::<Half, H, L, D1>(input, grad, |s, std| self.index_plan(s, std, &target), |x| self.forward_backward(x, target.view()))
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
        logits: ArrayViewMut<'_, H, D1>,
        target: ArrayView<'_, L, D2>,
    ) -> Result<ArrayD<f32>> {
        self.fused_inplace::<Half, H, L, D1>(logits, |s, std| self.index_plan(s, std, &target), |x| self.forward_backward(x, target.view()))
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
        grad: ArrayViewMut<'_, H, D1>,
    ) -> Result<()> {
        self.fused_backward_into::<Half, H, L, D1, D2>(input, target, grad_output, grad)
    }
}
