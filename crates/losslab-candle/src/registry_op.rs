//! Any loss of the registry as a candle custom operation: the tensors it
//! differentiates are the operation's arguments (one to three, or packed into
//! one when there are more), the others travel with the operation; the
//! forward and the backward call the registry's `evaluate`.

use crate::convert::{cpu, guarded, is_half, msg, request_tensor, scalar, scale, to_storage, to_tensor, Result};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor};
use losslab::Reduction;
use losslab_registry::{EvalRequest, Evaluation, LossSpec, OptionValue, Tensor as RTensor, TensorArg};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// How the differentiated tensors reach the operation.
pub(crate) enum Args {
    /// One to three arguments, by name, in order.
    Direct(Vec<String>),
    /// More than three: flattened and concatenated into one 1-D argument
    /// (candle's `cat` routes each part's gradient back), by name and shape.
    Packed(Vec<(String, Vec<usize>)>),
}

/// One evaluation of a registry loss, as a candle operation.
pub(crate) struct RegistryOp {
    pub(crate) spec: &'static LossSpec,
    pub(crate) qname: String,
    pub(crate) args: Args,
    /// The tensors that are not arguments (integer ones, those the loss does
    /// not differentiate), converted when the operation runs.
    pub(crate) fixed: Vec<(String, Tensor)>,
    pub(crate) options: BTreeMap<String, OptionValue>,
    pub(crate) reduction: Option<Reduction>,
    /// Whether the forward computes the gradients too (a reduced result and a
    /// tracked argument): the backward then scales them by the upstream scalar.
    pub(crate) grads_in_forward: bool,
    /// The gradients the forward computed (for an upstream gradient of 1).
    pub(crate) saved: Mutex<Option<BTreeMap<String, RTensor>>>,
}

/// A tensor of a request as the operation sees it: CPU storage and layout,
/// read where it is.
type Src<'s> = (&'s CpuStorage, &'s Layout);

impl RegistryOp {
    /// The registry's evaluation of the arguments (`args`, in the operation's
    /// order) and the fixed tensors. Every request tensor is made here, from
    /// storages held for the whole evaluation: the request can lend them.
    fn evaluate(&self, args: &[Src<'_>], grad_output: Option<Src<'_>>, want_grads: bool) -> Result<Evaluation> {
        let q = &self.qname;
        let held: Vec<_> = self.fixed.iter().map(|(n, t)| (n, t.storage_and_layout())).collect();
        let mut request = EvalRequest { options: self.options.clone(), reduction: self.reduction, want_grads, ..EvalRequest::default() };
        for (name, (storage, layout)) in &held {
            request.tensors.insert((*name).clone(), request_tensor(q, name, cpu(q, name, storage)?, layout)?);
        }
        match &self.args {
            Args::Direct(names) => {
                for (n, &(s, l)) in names.iter().zip(args) {
                    request.tensors.insert(n.clone(), request_tensor(q, n, s, l)?);
                }
            }
            Args::Packed(parts) => {
                let (s, l) = args[0];
                request.tensors.extend(split(q, request_tensor(q, "(packed arguments)", s, l)?, parts)?);
            }
        }
        if let Some((s, l)) = grad_output {
            request.grad_output = Some(request_tensor(q, "grad_output", s, l)?);
        }
        guarded(q, || self.spec.evaluate(request))
    }

    fn forward(&self, args: &[Src<'_>]) -> Result<(CpuStorage, Shape)> {
        let e = self.evaluate(args, None, self.grads_in_forward)?;
        if self.grads_in_forward {
            *self.saved.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.grads);
        }
        Ok(to_storage(e.value))
    }

    /// The gradients of the arguments (in their order; `None` where the loss
    /// has none), for the upstream gradient `grad_res` of the result `res`.
    fn backward(&self, args: &[&Tensor], res: &Tensor, grad_res: &Tensor) -> Result<Vec<Option<Tensor>>> {
        // A one-element result: the forward's gradients scaled by the upstream scalar.
        let saved = if res.elem_count() == 1 { self.saved.lock().unwrap_or_else(|p| p.into_inner()).take() } else { None };
        let (mut grads, s) = match saved {
            Some(g) => (g, scalar(grad_res)?),
            None => {
                // Otherwise (an unreduced result, or a second backward) the
                // registry's backward for this upstream gradient.
                let q = &self.qname;
                let held: Vec<_> = args.iter().map(|t| t.storage_and_layout()).collect();
                let held_up = grad_res.storage_and_layout();
                let srcs = held.iter().map(|(g, l)| Ok((cpu(q, "(argument)", g)?, *l))).collect::<Result<Vec<_>>>()?;
                let up = (cpu(q, "grad_output", &held_up.0)?, held_up.1);
                (self.evaluate(&srcs, Some(up), true)?.grads, 1.0)
            }
        };
        let mut grad = |name: &str, dtype: DType| -> Result<Option<Tensor>> {
            let Some(g) = grads.remove(name) else { return Ok(None) };
            let g = scale(to_tensor(g)?, s)?;
            Ok(Some(if g.dtype() == dtype { g } else { g.to_dtype(dtype)? }))
        };
        match &self.args {
            // candle adds every gradient a backward returns into its store (a
            // zeros tensor first): none for an argument it does not track.
            Args::Direct(names) => names.iter().zip(args).map(|(n, t)| if t.track_op() { grad(n, t.dtype()) } else { Ok(None) }).collect(),
            Args::Packed(parts) => {
                let dtype = args[0].dtype();
                let mut flat = Vec::with_capacity(parts.len());
                for (n, shape) in parts {
                    let g = match grad(n, dtype)? {
                        Some(g) => g.flatten_all()?,
                        None => Tensor::zeros(shape.iter().product::<usize>(), dtype, args[0].device())?,
                    };
                    flat.push(g);
                }
                Ok(vec![Some(Tensor::cat(&flat, 0)?)])
            }
        }
    }
}

/// A packed 1-D argument split into its parts.
fn split<'b>(loss: &str, all: TensorArg<'_>, parts: &[(String, Vec<usize>)]) -> Result<Vec<(String, TensorArg<'b>)>> {
    let all = all.into_owned();
    fn cut<T: Clone>(v: &ndarray::ArrayD<T>, start: usize, shape: &[usize]) -> ndarray::ArrayD<T> {
        let n: usize = shape.iter().product();
        let flat: Vec<T> = v.iter().skip(start).take(n).cloned().collect();
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), flat).expect("the part's size")
    }
    let mut out = Vec::with_capacity(parts.len());
    let mut start = 0;
    for (name, shape) in parts {
        let t = match &all {
            RTensor::F32(a) => RTensor::F32(cut(a, start, shape)),
            RTensor::F64(a) => RTensor::F64(cut(a, start, shape)),
            RTensor::I64(_) => return Err(msg(format!("{loss}: packed arguments must be float"))),
        };
        start += shape.iter().product::<usize>();
        out.push((name.clone(), t.into()));
    }
    Ok(out)
}

/// The operation's name in candle's graph.
const NAME: &str = "losslab";

impl CustomOp1 for RegistryOp {
    fn name(&self) -> &'static str {
        NAME
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        self.forward(&[(s, l)])
    }
    fn bwd(&self, arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(self.backward(&[arg], res, grad_res)?.pop().flatten())
    }
}

impl CustomOp2 for RegistryOp {
    fn name(&self) -> &'static str {
        NAME
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        self.forward(&[(s1, l1), (s2, l2)])
    }
    fn bwd(&self, a1: &Tensor, a2: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let mut g = self.backward(&[a1, a2], res, grad_res)?.into_iter();
        Ok((g.next().flatten(), g.next().flatten()))
    }
}

impl CustomOp3 for RegistryOp {
    fn name(&self) -> &'static str {
        NAME
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.forward(&[(s1, l1), (s2, l2), (s3, l3)])
    }
    fn bwd(
        &self,
        a1: &Tensor,
        a2: &Tensor,
        a3: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let mut g = self.backward(&[a1, a2, a3], res, grad_res)?.into_iter();
        Ok((g.next().flatten(), g.next().flatten(), g.next().flatten()))
    }
}

/// Whether the result is reduced to one value (then the forward computes the
/// gradients too).
pub(crate) fn reduces(reduction: Option<Reduction>) -> bool {
    matches!(reduction, Some(Reduction::Mean | Reduction::Sum | Reduction::BatchMean))
}

/// Runs `op` on its arguments through candle's `apply_op1/2/3` (with
/// backward), packing more than `max_direct` arguments into one.
pub(crate) fn apply(mut op: RegistryOp, args: &[(String, Tensor)], max_direct: usize) -> Result<Tensor> {
    if args.len() <= max_direct.min(3) {
        op.args = Args::Direct(args.iter().map(|(n, _)| n.clone()).collect());
        return match args {
            [(_, a)] => a.apply_op1(op),
            [(_, a), (_, b)] => a.apply_op2(b, op),
            [(_, a), (_, b), (_, c)] => a.apply_op3(b, c, op),
            _ => Err(msg(format!("{}: no tensor to differentiate (a bug in losslab-candle)", op.qname))),
        };
    }
    // Packed: one dtype (16-bit floats are computed in f32 anyway).
    let widen = |t: &Tensor| if is_half(t.dtype()) { t.to_dtype(DType::F32) } else { Ok(t.clone()) };
    let parts: Vec<Tensor> = args.iter().map(|(_, t)| widen(t)).collect::<Result<_>>()?;
    let dtype = parts[0].dtype();
    if let Some((n, t)) = args.iter().zip(&parts).find(|(_, p)| p.dtype() != dtype).map(|((n, t), _)| (n, t)) {
        return Err(msg(format!(
            "{}: `{n}` has dtype {}, expected {} (the dtype of `{}`: all float tensors must be float32, or all float64)",
            op.qname,
            t.dtype().as_str(),
            dtype.as_str(),
            args[0].0
        )));
    }
    op.args = Args::Packed(args.iter().map(|(n, t)| (n.clone(), t.dims().to_vec())).collect());
    let flat: Vec<Tensor> = parts.iter().map(Tensor::flatten_all).collect::<Result<_>>()?;
    Tensor::cat(&flat, 0)?.apply_op1(op)
}
