//! Shared machinery of the element-wise losses: shape checks or broadcasting
//! ([`Pointwise::broadcast`], through [`crate::machinery::broadcast`]), optional
//! broadcast weights, reduction, and the backward pass from local derivatives
//! (each gradient summed back to its operand's shape).

use crate::machinery::error::{same_shape, shape_err, Result};
use crate::machinery::float::{narrow, widen, Float};
use crate::machinery::kernels::elementwise::{self, mode, ElemOp, Job};
use crate::machinery::fresh::Fresh;
use crate::machinery::kernels::par::SyncPtr;
use crate::machinery::broadcast::Broadcast;
use crate::machinery::reduction::{ones_like_output, Gradients, Reducer, Reduction};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension, IxDyn};

/// The widened, shape-checked inputs of an element-wise loss: `x` and `y` in
/// the result's shape `shape` (broadcast, where the operands were).
pub(crate) struct Pointwise {
    pub(crate) shape: Vec<usize>,
    pub(crate) x: Vec<f64>,
    pub(crate) y: Vec<f64>,
    /// The broadcast, where an operand's shape is not the result's.
    bc: Option<Broadcast>,
}

impl Pointwise {
    pub(crate) fn new<T: Float, D: Dimension>(
        loss: &'static str,
        input: &ArrayView<'_, T, D>,
        target: &ArrayView<'_, T, D>,
    ) -> Result<Self> {
        Self::named(loss, ("input", input), ("target", target))
    }

    pub(crate) fn named<T: Float, D: Dimension>(
        loss: &'static str,
        (xn, input): (&'static str, &ArrayView<'_, T, D>),
        (yn, target): (&'static str, &ArrayView<'_, T, D>),
    ) -> Result<Self> {
        same_shape(loss, xn, input.shape(), yn, target.shape())?;
        Ok(Pointwise {
            shape: input.shape().to_vec(),
            x: widen(input),
            y: widen(target),
            bc: None,
        })
    }

    /// The operands broadcast together as PyTorch broadcasts them (the result
    /// has the broadcast shape).
    ///
    /// # Errors
    /// [`LossError::Shape`](crate::machinery::error::LossError::Shape) naming both tensors and shapes where they do not broadcast.
    pub(crate) fn broadcast<T: Float, D1: Dimension, D2: Dimension>(
        loss: &'static str,
        (xn, input): (&'static str, &ArrayView<'_, T, D1>),
        (yn, target): (&'static str, &ArrayView<'_, T, D2>),
    ) -> Result<Self> {
        let b = Broadcast::new(loss, &[(xn, input.shape()), (yn, target.shape())])?;
        Ok(Self::from_broadcast(b, input, target))
    }

    /// The second operand broadcast to the first's shape, which the result
    /// keeps (PyTorch's in-place element-wise operations).
    ///
    /// # Errors
    /// [`LossError::Shape`](crate::machinery::error::LossError::Shape) where the second does not broadcast to the first's shape.
    pub(crate) fn broadcast_to_first<T: Float, D1: Dimension, D2: Dimension>(
        loss: &'static str,
        (xn, input): (&'static str, &ArrayView<'_, T, D1>),
        (yn, target): (&'static str, &ArrayView<'_, T, D2>),
    ) -> Result<Self> {
        let b = Broadcast::to_first(loss, &[(xn, input.shape()), (yn, target.shape())])?;
        Ok(Self::from_broadcast(b, input, target))
    }

    /// The operands as `b` (their broadcast, in this order: NumPy's rule for
    /// Keras, optax and TensorFlow, [`Broadcast::numpy`]) reads them.
    pub(crate) fn from_broadcast<T: Float, D1: Dimension, D2: Dimension>(
        b: Broadcast,
        input: &ArrayView<'_, T, D1>,
        target: &ArrayView<'_, T, D2>,
    ) -> Self {
        if b.is_trivial() {
            return Pointwise {
                shape: b.shape,
                x: widen(input),
                y: widen(target),
                bc: None,
            };
        }
        Pointwise {
            shape: b.shape.clone(),
            x: b.expand(0, input),
            y: b.expand(1, target),
            bc: Some(b),
        }
    }

    /// A gradient with respect to the first operand, given in the result's
    /// shape, summed back to the operand's shape.
    pub(crate) fn grad_x<T: Float>(&self, g: Vec<f64>) -> ArrayD<T> {
        match &self.bc {
            None => narrow(&self.shape, g),
            Some(b) => b.reduce(0, g),
        }
    }

    /// As [`grad_x`](Self::grad_x), for the second operand.
    pub(crate) fn grad_y<T: Float>(&self, g: Vec<f64>) -> ArrayD<T> {
        match &self.bc {
            None => narrow(&self.shape, g),
            Some(b) => b.reduce(1, g),
        }
    }

    /// The reducer: `Mean` over the result's elements, `BatchMean` by the
    /// first operand's first axis (PyTorch's `kl_div`: `input.size(0)`).
    pub(crate) fn reducer(&self, reduction: Reduction) -> Reducer {
        let batch_of = self
            .bc
            .as_ref()
            .map_or(self.shape.as_slice(), |b| b.shape_of(0));
        Reducer::counting(reduction, &self.shape, batch_of)
    }

    /// Forward: `ℓᵢ = f(i, xᵢ, yᵢ)`, reduced.
    pub(crate) fn forward<T: Float>(&self, reduction: Reduction, f: impl Fn(usize, f64, f64) -> f64) -> ArrayD<T> {
        let losses = (0..self.x.len()).map(|i| f(i, self.x[i], self.y[i])).collect();
        self.reducer(reduction).output(losses)
    }

    /// Backward: `df(i, xᵢ, yᵢ) = (∂ℓᵢ/∂xᵢ, ∂ℓᵢ/∂yᵢ)`, scaled by the upstream gradient.
    pub(crate) fn backward<T: Float>(
        &self,
        loss: &'static str,
        reduction: Reduction,
        grad_output: &ArrayViewD<'_, T>,
        target_grad: bool,
        df: impl Fn(usize, f64, f64) -> (f64, f64),
    ) -> Result<Gradients<T>> {
        let scales = self.reducer(reduction).scales(loss, grad_output)?;
        let n = self.x.len();
        let mut gx = Vec::with_capacity(n);
        let mut gy = Vec::with_capacity(if target_grad { n } else { 0 });
        for i in 0..n {
            let (dx, dy) = df(i, self.x[i], self.y[i]);
            let s = scales.at(i);
            gx.push(s * dx);
            if target_grad {
                gy.push(s * dy);
            }
        }
        Ok(Gradients {
            input: self.grad_x(gx),
            target: target_grad.then(|| self.grad_y(gy)),
        })
    }

    /// Both gradients, given in the result's shape, each summed back to its operand's shape.
    pub(crate) fn gradients<T: Float>(&self, gx: Vec<f64>, gy: Vec<f64>) -> Gradients<T> {
        Gradients { input: self.grad_x(gx), target: Some(self.grad_y(gy)) }
    }

    /// The default upstream gradient: ones in the result's shape.
    pub(crate) fn unit_grad<T: Float>(&self, reduction: Reduction) -> ArrayD<T> {
        ones_like_output(&self.reducer(reduction))
    }
}

/// Broadcasts an optional weight tensor to `shape` (NumPy rules), widened.
pub(crate) fn broadcast_weight<T: Float>(
    loss: &'static str,
    tensor: &'static str,
    w: Option<&ArrayViewD<'_, T>>,
    shape: &[usize],
) -> Result<Option<Vec<f64>>> {
    let Some(w) = w else { return Ok(None) };
    match w.broadcast(IxDyn(shape)) {
        Some(b) => Ok(Some(widen(&b))),
        None => Err(shape_err(loss, tensor, format!("a shape that broadcasts to {shape:?} (the shape of `input`)"), w.shape())),
    }
}

/// The fused path of an element-wise loss without weights: contiguous inputs,
/// one vectorised, multi-threaded sweep ([`crate::machinery::kernels::elementwise`]) that
/// computes each element by the same formula as the general path and sums in a
/// fixed order (bit-identical whatever the thread count).
pub(crate) struct Fused<'a, T> {
    x: &'a [T],
    y: &'a [T],
    shape: Vec<usize>,
}

impl<'a, T: Float> Fused<'a, T> {
    /// Checks the shapes; `None` where either input is not contiguous in
    /// standard order (the general path then runs).
    pub(crate) fn new<D: Dimension>(
        loss: &'static str,
        input: &'a ArrayView<'_, T, D>,
        target: &'a ArrayView<'_, T, D>,
    ) -> Result<Option<Self>> {
        same_shape(loss, "input", input.shape(), "target", target.shape())?;
        Ok(match (input.as_slice(), target.as_slice()) {
            (Some(x), Some(y)) => Some(Fused { x, y, shape: input.shape().to_vec() }),
            _ => None,
        })
    }

    /// As [`new`](Self::new) for a loss that broadcasts: `None` (the general,
    /// broadcasting path then runs) where the shapes differ, as well as where
    /// either input is not contiguous.
    pub(crate) fn same_shape_only<D: Dimension>(
        input: &'a ArrayView<'_, T, D>,
        target: &'a ArrayView<'_, T, D>,
    ) -> Option<Self> {
        if input.shape() != target.shape() {
            return None;
        }
        match (input.as_slice(), target.as_slice()) {
            (Some(x), Some(y)) => Some(Fused {
                x,
                y,
                shape: input.shape().to_vec(),
            }),
            _ => None,
        }
    }

    fn reducer(&self, reduction: Reduction) -> Reducer {
        Reducer::counting(reduction, &self.shape, &self.shape)
    }

    /// The reduced result of a sum of losses.
    fn reduced(&self, reduction: Reduction, total: f64) -> ArrayD<T> {
        let r = self.reducer(reduction);
        let v = match reduction {
            Reduction::None => unreachable!("reduced() of an unreduced loss"),
            Reduction::Sum => total,
            Reduction::Mean => total / r.mean_denominator,
            Reduction::BatchMean => total / r.batch,
        };
        ArrayD::from_elem(IxDyn(&[]), T::from_wide(v))
    }

    fn job(&self) -> Job<T> {
        Job::new(self.x, self.y)
    }

    fn array(&self, v: Vec<T>) -> ArrayD<T> {
        ArrayD::from_shape_vec(IxDyn(&self.shape), v).expect("shape and length agree")
    }

    /// The loss.
    pub(crate) fn forward<O: ElemOp>(&self, op: O, reduction: Reduction) -> ArrayD<T> {
        let mut j = self.job();
        if reduction == Reduction::None {
            let mut l = Fresh::new(self.x.len());
            j.losses = l.ptr();
            // SAFETY: `l` holds len elements; the sweep writes each.
            unsafe { elementwise::run(op, mode::STORE, &j) };
            return self.array(unsafe { l.written() });
        }
        // SAFETY: reads x and y only.
        let total = unsafe { elementwise::run(op, mode::SUM, &j) };
        self.reduced(reduction, total)
    }

    /// The gradients of `Σ grad_output · loss`; `None` where `grad_output` is
    /// per element and not contiguous (the general path then runs).
    pub(crate) fn backward<O: ElemOp>(
        &self,
        op: O,
        loss: &'static str,
        reduction: Reduction,
        grad_output: &ArrayViewD<'_, T>,
    ) -> Result<Option<Gradients<T>>> {
        let mut j = self.job();
        let m = if reduction == Reduction::None {
            same_shape(loss, "input", &self.shape, "grad_output", grad_output.shape())?;
            let Some(up) = grad_output.as_slice() else { return Ok(None) };
            j.up = up.as_ptr();
            mode::GX | mode::GY | mode::PER
        } else {
            j.scale = self.reducer(reduction).scales(loss, grad_output)?.at(0);
            mode::GX | mode::GY
        };
        let (mut gx, mut gy) = (Fresh::new(self.x.len()), Fresh::new(self.x.len()));
        (j.gx, j.gy) = (gx.ptr(), gy.ptr());
        // SAFETY: gx, gy and grad_output hold len elements; the sweep writes
        // each of gx and gy.
        unsafe {
            elementwise::run(op, m, &j);
            Ok(Some(Gradients { input: self.array(gx.written()), target: Some(self.array(gy.written())) }))
        }
    }

    /// The upstream scale of the default upstream gradient (ones).
    fn unit_scale(&self, reduction: Reduction) -> f64 {
        let r = self.reducer(reduction);
        let ones = ones_like_output::<T>(&r);
        r.scales("", &ones.view()).map_or(1.0, |s| s.at(0))
    }

    /// The loss and both gradients, in one sweep.
    pub(crate) fn forward_backward<O: ElemOp>(&self, op: O, reduction: Reduction) -> (ArrayD<T>, Gradients<T>) {
        let n = self.x.len();
        let mut j = self.job();
        let (mut gx, mut gy) = (Fresh::new(n), Fresh::new(n));
        (j.gx, j.gy) = (gx.ptr(), gy.ptr());
        let value = if reduction == Reduction::None {
            let mut l = Fresh::new(n);
            j.losses = l.ptr();
            // SAFETY: every buffer holds n elements; the sweep writes each.
            unsafe {
                elementwise::run(op, mode::STORE | mode::GX | mode::GY, &j);
                self.array(l.written())
            }
        } else {
            j.scale = self.unit_scale(reduction);
            // SAFETY: every buffer holds n elements.
            let total = unsafe { elementwise::run(op, mode::SUM | mode::GX | mode::GY, &j) };
            self.reduced(reduction, total)
        };
        // SAFETY: the sweep (either mode) wrote every element of gx and gy.
        unsafe { (value, Gradients { input: self.array(gx.written()), target: Some(self.array(gy.written())) }) }
    }

    /// The loss, and the gradient with respect to the input written into `grad`
    /// (contiguous, the input's length), in one sweep.
    pub(crate) fn forward_backward_into<O: ElemOp>(&self, op: O, reduction: Reduction, grad: &mut [T]) -> ArrayD<T> {
        assert_eq!(grad.len(), self.x.len(), "the gradient has the input's length");
        let mut j = self.job();
        j.gx = SyncPtr(grad.as_mut_ptr());
        if reduction == Reduction::None {
            let mut l = Fresh::new(self.x.len());
            j.losses = l.ptr();
            // SAFETY: every buffer holds len elements; grad is borrowed
            // mutably; the sweep writes each element of l.
            unsafe {
                elementwise::run(op, mode::STORE | mode::GX, &j);
                self.array(l.written())
            }
        } else {
            j.scale = self.unit_scale(reduction);
            // SAFETY: as above.
            let total = unsafe { elementwise::run(op, mode::SUM | mode::GX, &j) };
            self.reduced(reduction, total)
        }
    }
}
