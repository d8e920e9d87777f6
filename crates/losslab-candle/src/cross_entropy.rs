//! The fused softmax cross entropy (class-index targets) as a candle
//! operation: the forward runs the library's fused kernel, which writes the
//! gradient in the same sweep as the value; the backward hands that gradient
//! to candle, scaled by the upstream gradient (no second pass over the logits).

use crate::convert::{guarded, is_half, msg, scalar, scale, storage_to_tensor, to_storage, view, Result};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Storage, Tensor};
use losslab::half::vec::HalfBitsVecExt;
use losslab::{ClassIndex, CrossEntropyLoss};
use losslab_registry::Tensor as RTensor;
use ndarray::{ArrayViewD, ArrayViewMutD, IxDyn};
use std::sync::Mutex;

pub(crate) const CE: &str = "torch:cross_entropy";

pub(crate) struct CrossEntropyOp {
    pub(crate) loss: CrossEntropyLoss,
    /// Whether the logits are tracked: then the forward writes the gradient.
    pub(crate) want_grad: bool,
    /// The gradient the forward wrote (for an upstream gradient of ones).
    pub(crate) grad: Mutex<Option<CpuStorage>>,
}

/// The value (as a registry tensor: `f32` for 16-bit logits) and, when asked
/// for, the gradient in the logits' dtype.
type Fused = (RTensor, Option<CpuStorage>);

fn logits_view<'a, T>(d: &'a [T], l: &Layout) -> Result<ArrayViewD<'a, T>> {
    view(CE, "input", d, l)
}

impl CrossEntropyOp {
    fn run_with<L: ClassIndex>(&self, logits: &CpuStorage, l1: &Layout, target: ArrayViewD<'_, L>, want_grad: bool) -> Result<Fused> {
        let loss = &self.loss;
        let n = l1.shape().elem_count();
        let dims = IxDyn(l1.dims());
        macro_rules! full {
            ($d:expr, $zero:expr, $variant:ident, $rt:ident) => {{
                let x = logits_view($d, l1)?;
                if want_grad {
                    let mut g = vec![$zero; n];
                    let gv = ArrayViewMutD::from_shape(dims.clone(), &mut g[..]).map_err(|e| msg(format!("{CE}: {e}")))?;
                    let v = guarded(CE, || Ok(loss.forward_backward_into(x, target, gv)?))?;
                    (RTensor::$rt(v), Some(CpuStorage::$variant(g)))
                } else {
                    (RTensor::$rt(guarded(CE, || Ok(loss.forward(x, target)?))?), None)
                }
            }};
        }
        macro_rules! half {
            ($d:expr, $variant:ident) => {{
                let x = logits_view($d, l1)?;
                if want_grad {
                    // Zeroed by the allocator (no pass over the buffer), as `vec![0f32; n]` is.
                    let mut g = vec![0u16; n].reinterpret_into();
                    let gv = ArrayViewMutD::from_shape(dims.clone(), &mut g[..]).map_err(|e| msg(format!("{CE}: {e}")))?;
                    let v = guarded(CE, || Ok(loss.forward_backward_half_into(x, target, gv)?))?;
                    (RTensor::F32(v), Some(CpuStorage::$variant(g)))
                } else {
                    (RTensor::F32(guarded(CE, || Ok(loss.forward_half(x, target)?))?), None)
                }
            }};
        }
        Ok(match logits {
            CpuStorage::F32(d) => full!(d, 0f32, F32, F32),
            CpuStorage::F64(d) => full!(d, 0f64, F64, F64),
            CpuStorage::BF16(d) => half!(d, BF16),
            CpuStorage::F16(d) => half!(d, F16),
            other => return Err(logits_dtype_error(other.dtype())),
        })
    }

    /// The fused kernel on the logits and the class indices.
    fn run(&self, logits: &CpuStorage, l1: &Layout, target: &CpuStorage, l2: &Layout, want_grad: bool) -> Result<Fused> {
        match target {
            CpuStorage::I64(d) => self.run_with(logits, l1, view(CE, "target", d, l2)?, want_grad),
            CpuStorage::U32(d) => self.run_with(logits, l1, view(CE, "target", d, l2)?, want_grad),
            CpuStorage::U8(d) => self.run_with(logits, l1, view(CE, "target", d, l2)?, want_grad),
            CpuStorage::I32(d) => self.run_with(logits, l1, view(CE, "target", d, l2)?, want_grad),
            CpuStorage::I16(d) => self.run_with(logits, l1, view(CE, "target", d, l2)?, want_grad),
            other => Err(msg(format!(
                "{CE}: `target` has dtype {}, expected integer class indices (u8, u32, i16, i32, i64) or float probabilities",
                other.dtype().as_str()
            ))),
        }
    }
}

pub(crate) fn logits_dtype_error(d: DType) -> candle_core::Error {
    msg(format!("{CE}: `input` has dtype {}, expected float32, float64, bfloat16 or float16 logits", d.as_str()))
}

impl CustomOp2 for CrossEntropyOp {
    fn name(&self) -> &'static str {
        "losslab-cross-entropy"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (value, grad) = self.run(s1, l1, s2, l2, self.want_grad)?;
        if grad.is_some() {
            *self.grad.lock().unwrap_or_else(|p| p.into_inner()) = grad;
        }
        Ok(to_storage(value))
    }

    fn bwd(&self, logits: &Tensor, target: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let stored = self.grad.lock().unwrap_or_else(|p| p.into_inner()).take();
        let g = match stored {
            Some(g) => g,
            None => {
                // A second backward of the same graph (or a forward that did
                // not track the logits): the fused sweep again.
                let (s1, l1) = logits.storage_and_layout();
                let (s2, l2) = target.storage_and_layout();
                match (&*s1, &*s2) {
                    (Storage::Cpu(a), Storage::Cpu(b)) => self.run(a, l1, b, l2, true)?.1.expect("asked for the gradient"),
                    _ => return Err(msg(format!("{CE}: the tensors are not on the CPU"))),
                }
            }
        };
        let g = storage_to_tensor(g, logits.shape())?;
        let g = if grad_res.rank() == 0 {
            // A reduced loss (or a (C,) input's one sample): one scalar.
            scale(g, scalar(grad_res)?)?
        } else {
            // Reduction "none": one upstream value per sample, on the class axis 1.
            let dt = g.dtype();
            let work = if is_half(dt) { DType::F32 } else { dt };
            let up = grad_res.to_dtype(work)?.unsqueeze(1)?;
            g.to_dtype(work)?.broadcast_mul(&up)?.to_dtype(dt)?
        };
        Ok((Some(g), None))
    }
}
