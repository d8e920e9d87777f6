//! The mean squared error of two tensors of one shape (`f32` or `f64`, reduced
//! by `Mean` or `Sum`) as a candle operation on the library's fused kernel:
//! the forward reads each input once and writes the input's gradient in the
//! same sweep ([`MseLoss::forward_backward_into`]); the backward hands that
//! gradient to candle (the target's is its negative, made only when the
//! target is tracked), scaled by the upstream gradient. Other cases (other
//! dtypes, broadcasting, `Reduction::None`) take the registry's path.

use crate::convert::{guarded, msg, scalar, scale, storage_to_tensor, to_storage, view, Result};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Storage, Tensor};
use losslab::MseLoss;
use losslab_registry::Tensor as RTensor;
use ndarray::{ArrayViewMutD, IxDyn};
use std::sync::Mutex;

pub(crate) const MSE: &str = "torch:mse_loss";

pub(crate) struct MseOp {
    pub(crate) loss: MseLoss,
    /// Whether an argument is tracked: then the forward writes the gradient.
    pub(crate) want_grad: bool,
    /// The input's gradient the forward wrote (for an upstream gradient of 1).
    pub(crate) grad: Mutex<Option<CpuStorage>>,
}

impl MseOp {
    fn run(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, want_grad: bool) -> Result<(RTensor, Option<CpuStorage>)> {
        let loss = &self.loss;
        let n = l1.shape().elem_count();
        macro_rules! go {
            ($a:expr, $b:expr, $zero:expr, $variant:ident) => {{
                let x = view(MSE, "input", $a, l1)?;
                let t = view(MSE, "target", $b, l2)?;
                if want_grad {
                    // Zeroed by the allocator (no pass over the buffer); the kernel writes every element.
                    let mut g = vec![$zero; n];
                    let gv = ArrayViewMutD::from_shape(IxDyn(l1.dims()), &mut g[..]).map_err(|e| msg(format!("{MSE}: {e}")))?;
                    let v = guarded(MSE, || Ok(loss.forward_backward_into(x, t, gv)?))?;
                    (RTensor::$variant(v), Some(CpuStorage::$variant(g)))
                } else {
                    (RTensor::$variant(guarded(MSE, || Ok(loss.forward(x, t)?))?), None)
                }
            }};
        }
        Ok(match (s1, s2) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => go!(a, b, 0f32, F32),
            (CpuStorage::F64(a), CpuStorage::F64(b)) => go!(a, b, 0f64, F64),
            (a, b) => {
                return Err(msg(format!(
                    "{MSE}: `input` has dtype {} and `target` {}, expected both float32 or both float64",
                    a.dtype().as_str(),
                    b.dtype().as_str()
                )))
            }
        })
    }
}

impl CustomOp2 for MseOp {
    fn name(&self) -> &'static str {
        "losslab-mse"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (value, grad) = self.run(s1, l1, s2, l2, self.want_grad)?;
        if grad.is_some() {
            *self.grad.lock().unwrap_or_else(|p| p.into_inner()) = grad;
        }
        Ok(to_storage(value))
    }

    fn bwd(&self, input: &Tensor, target: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        // candle adds every gradient a backward returns into its store (a
        // zeros tensor first): none for an argument it does not track.
        let (want_input, want_target) = (input.track_op(), target.track_op());
        let stored = self.grad.lock().unwrap_or_else(|p| p.into_inner()).take();
        if !want_input && !want_target {
            return Ok((None, None));
        }
        let g = match stored {
            Some(g) => g,
            None => {
                // A second backward of the same graph: the fused sweep again.
                let (s1, l1) = input.storage_and_layout();
                let (s2, l2) = target.storage_and_layout();
                match (&*s1, &*s2) {
                    (Storage::Cpu(a), Storage::Cpu(b)) => self.run(a, l1, b, l2, true)?.1.expect("asked for the gradient"),
                    _ => return Err(msg(format!("{MSE}: the tensors are not on the CPU"))),
                }
            }
        };
        let g = scale(storage_to_tensor(g, input.shape())?, scalar(grad_res)?)?;
        let gt = if want_target { Some(g.neg()?) } else { None };
        Ok((want_input.then_some(g), gt))
    }
}
