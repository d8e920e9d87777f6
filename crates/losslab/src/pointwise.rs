//! Shared machinery of the element-wise losses: shape checks, optional
//! broadcast weights, reduction, and the backward pass from local derivatives.

use crate::error::{same_shape, shape_err, Result};
use crate::float::{narrow, widen, Float};
use crate::reduction::{ones_like_output, Gradients, Reducer, Reduction};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension, IxDyn};

/// The widened, shape-checked inputs of an element-wise loss.
pub(crate) struct Pointwise {
    pub(crate) shape: Vec<usize>,
    pub(crate) x: Vec<f64>,
    pub(crate) y: Vec<f64>,
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
        Ok(Pointwise { shape: input.shape().to_vec(), x: widen(input), y: widen(target) })
    }

    pub(crate) fn reducer(&self, reduction: Reduction) -> Reducer {
        Reducer::counting(reduction, &self.shape, &self.shape)
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
            input: narrow(&self.shape, gx),
            target: target_grad.then(|| narrow(&self.shape, gy)),
        })
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
