//! losslab's losses inside [burn](https://burn.dev)'s autograd: every loss of
//! the [registry](losslab_registry) as an operation on burn tensors of the
//! `NdArray` backend under `Autodiff`, with its own backward pass.
//!
//! burn 0.22 tensors carry their backend in their [`Device`] rather than in
//! their type: a `Tensor<D>` created on [`device()`] (`Device::ndarray().autodiff()`)
//! is what burn 0.21 and earlier wrote `Tensor<Autodiff<NdArray>, D>`. Each loss
//! here takes such tensors (float `Tensor<D>`, class indices `Tensor<D, Int>`),
//! computes its value and gradients with losslab's kernels, and records one node
//! in burn's graph through burn-autodiff's [`Backward`] trait: `loss.backward()`
//! then gives every tracked input its gradient (`x.grad(&grads)`).
//!
//! * [`cross_entropy`] runs the library's fused softmax cross entropy
//!   ([`losslab::CrossEntropyLoss::forward_backward_into`]) on burn's own
//!   buffers: the forward computes the gradient in the same sweep and keeps it as
//!   the node's state; the backward only scales it by the upstream gradient (a
//!   number for a reduced loss, one per sample for `Reduction::None`).
//! * [`mse`], [`l1`], [`huber`], [`binary_cross_entropy_with_logits`], [`nll`]
//!   and [`kl_div`] are typed entries for PyTorch's losses of those names;
//!   [`loss`] addresses every loss of the catalog by name
//!   (`"keras:hinge"`, `"torch:multi_margin_loss"`, ...), with its options.
//!   A reduced (scalar) result keeps the gradients computed in the forward and
//!   scales them in the backward; an unreduced result of a loss other than the
//!   cross entropy is differentiated in the backward, with the upstream gradient
//!   as the registry's `grad_output` (its input tensors are kept, not copied).
//! * Every check is the registry's or the library's: a bad input is an
//!   [`Error`] naming the loss, the tensor, what was expected and what was
//!   found, never a panic.
//!
//! Scalar results are burn's rank-1 tensors of shape `[1]` (as burn's own
//! losses return); other results keep their shape, and the rank `R` of the
//! returned `Tensor<R>` is the caller's (a result of another rank is an error).
//! Float tensors are `f32` or `f64` (all of one evaluation alike); class indices
//! any integer type.
//!
//! # Backends
//!
//! The kernels read burn's `NdArray` buffers in place. A tensor of another
//! backend (Flex, CubeCL, LibTorch, ...) is refused with an error naming its
//! device, as burn refuses operations across devices rather than moving
//! tensors implicitly: move it with `tensor.to_device(&losslab_burn::device())`
//! first. An autodiff device with gradient checkpointing
//! (`device.gradient_checkpointing()`) works as well: the losses are
//! compute-bound nodes, never recomputed.
//!
//! burn 0.22 marks the `NdArray` backend deprecated in favour of burn-flex; it
//! is the backend this adapter targets (the one whose buffers are `ndarray`
//! arrays, losslab's own type), and [`device()`] constructs it without the
//! deprecation warning reaching the caller.
//!
//! # Examples
//! ```
//! use burn::tensor::{Int, Tensor};
//! use losslab_burn::{cross_entropy, CrossEntropyOptions};
//!
//! let device = losslab_burn::device();
//! let logits = Tensor::<2>::from_floats([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], &device).require_grad();
//! let targets = Tensor::<1, Int>::from_ints([0, 2], &device);
//! let loss: Tensor<1> = cross_entropy(logits.clone(), targets, &CrossEntropyOptions::default()).unwrap();
//! let grads = loss.backward();
//! let g = logits.grad(&grads).unwrap(); // softmax − one-hot, over 2 samples
//! assert_eq!(g.dims(), [2, 3]);
//!
//! // Any loss of the catalog, by name, with its options.
//! let y_true = Tensor::<2>::from_floats([[1.0, -1.0]], &device);
//! let y_pred = Tensor::<2>::from_floats([[0.3, 0.2]], &device).require_grad();
//! let options = losslab_burn::Options::new();
//! let hinge: Tensor<1> =
//!     losslab_burn::loss("keras:hinge", &[("y_true", y_true), ("y_pred", y_pred.clone())], &options).unwrap();
//! let value = hinge.clone().into_data().try_to_vec::<f32>().unwrap();
//! assert!((value[0] - 0.95).abs() < 1e-6); // mean(max(0, 1 − 0.3), max(0, 1 + 0.2))
//! let g = y_pred.grad(&hinge.backward()).unwrap();
//! assert_eq!(g.into_data().try_to_vec::<f32>().unwrap(), [-0.5, 0.5]);
//!
//! // Errors carry losslab's message.
//! let x = Tensor::<1>::from_floats([1.0, 2.0], &device);
//! let y = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
//! let err = losslab_burn::mse::<1, 1>(x, y, losslab_burn::Reduction::Mean).unwrap_err();
//! assert!(err.to_string().starts_with("mse_loss: `target` has shape [3]"), "{err}");
//! ```
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]
// The NdArray backend is deprecated in burn 0.22 (in favour of burn-flex): it is
// the backend this crate targets, on purpose.
#![allow(deprecated)]

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{BalancedCheckpointing, CheckpointStrategy, NoCheckpointing};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ndarray::NdArrayTensor;
use burn::backend::{Autodiff, BackendTensor, BackendTypes, DispatchKindConversion, DispatchTensor, NdArray, TensorMetadata};
use burn::tensor::{DType, Device, Int, Tensor};
use losslab_registry::{EvalRequest, LossSpec, TensorArg};
use ndarray::{ArcArray, ArrayD, ArrayViewD, Axis, IxDyn};
use std::collections::BTreeMap;
use std::sync::Arc;

mod pool;

pub use losslab::Reduction;
pub use losslab_registry::{Error, ErrorKind, OptionValue};

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The backend whose tensors the losses take: burn's `NdArray` under `Autodiff`
/// (also `Autodiff<NdArray, BalancedCheckpointing>`). In burn 0.22 a tensor's backend is its
/// [`Device`]'s: create tensors on [`device()`].
pub type Backend = Autodiff<NdArray>;

type AdPrimitive = <Backend as BackendTypes>::FloatTensorPrimitive;

/// The device of the losses' tensors: burn's `NdArray` CPU device with
/// autodiff enabled (`Device::ndarray().autodiff()`, without the deprecation
/// warning of `Device::ndarray()` at the call site).
pub fn device() -> Device {
    Device::ndarray().autodiff()
}

/// Drops the gradient buffers the fused losses ([`cross_entropy`], [`mse`])
/// keep for reuse, and returns how many there were.
///
/// Those two losses, reduced (`Mean` or `Sum`), write their gradient into a
/// buffer they hand to burn, and
/// keep a handle on the last two such buffers of each float type (each of at
/// least 1 MiB): once burn has dropped its own handles (the gradients gone
/// after the optimiser's step), the next call rewrites that memory instead of
/// faulting in a new buffer from the operating system, which on large inputs
/// cost more than the loss itself. A buffer is reused only while no tensor of
/// burn's refers to it, so the gradients are the same either way; what the
/// pool costs is that memory, held between calls. Call this when the loss's
/// inputs will not come again at those shapes (after training, or before a
/// phase that needs the memory).
///
/// ```
/// use burn::tensor::{Int, Tensor};
/// use losslab_burn::{cross_entropy, CrossEntropyOptions};
///
/// let device = losslab_burn::device();
/// let logits = Tensor::<2>::zeros([1024, 512], &device).require_grad(); // 2 MiB of f32
/// let targets = Tensor::<1, Int>::zeros([1024], &device);
/// for _ in 0..3 {
///     let loss: Tensor<1> = cross_entropy(logits.clone(), targets.clone(), &CrossEntropyOptions::default()).unwrap();
///     let grads = loss.backward();
///     assert_eq!(logits.grad(&grads).unwrap().dims(), [1024, 512]);
/// } // the gradients dropped: the next call writes into the same buffer
/// assert_eq!(losslab_burn::release_buffers(), 1);
/// ```
pub fn release_buffers() -> usize {
    pool::release()
}

// ---------------------------------------------------------------------------
// Arguments and options
// ---------------------------------------------------------------------------

/// A tensor argument of a loss: a float (`Tensor<D>`) or integer
/// (`Tensor<D, Int>`) burn tensor of any rank, by `.into()`.
///
/// A `Tensor` is reference counted: converting a clone shares its buffer.
#[derive(Clone, Debug)]
pub struct LossArg {
    tensor: DispatchTensor,
}

impl<const D: usize> From<Tensor<D>> for LossArg {
    fn from(t: Tensor<D>) -> Self {
        LossArg { tensor: t.into_dispatch() }
    }
}

impl<const D: usize> From<Tensor<D, Int>> for LossArg {
    fn from(t: Tensor<D, Int>) -> Self {
        LossArg { tensor: t.into_dispatch() }
    }
}

/// The options of a loss called by name ([`loss`]): option values by the
/// reference's argument names, and the reduction.
///
/// # Examples
/// ```
/// use losslab_burn::{Options, Reduction};
/// let options = Options::new().set("margin", 0.5).set("p", 2).reduction(Reduction::Sum);
/// assert_eq!(options.reduction, Some(Reduction::Sum));
/// assert_eq!(options.options.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// Option values by name; the ones not given take the reference's defaults.
    pub options: BTreeMap<String, OptionValue>,
    /// The reduction; `None` means the loss's default
    /// ([`LossSpec::default_reduction`](losslab_registry::LossSpec::default_reduction)).
    pub reduction: Option<Reduction>,
}

impl Options {
    /// No options: every default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the option `key` (a number, a `bool`, an [`OptionValue`]; a name as
    /// `OptionValue::Name`).
    #[must_use]
    pub fn set(mut self, key: &str, value: impl IntoOptionValue) -> Self {
        self.options.insert(key.to_string(), value.into_option_value());
        self
    }

    /// Sets the reduction.
    #[must_use]
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = Some(reduction);
        self
    }
}

/// A value [`Options::set`] takes: numbers, `bool`s and [`OptionValue`]s.
pub trait IntoOptionValue {
    /// The value as an [`OptionValue`].
    fn into_option_value(self) -> OptionValue;
}

impl IntoOptionValue for OptionValue {
    fn into_option_value(self) -> OptionValue {
        self
    }
}

impl IntoOptionValue for bool {
    fn into_option_value(self) -> OptionValue {
        OptionValue::Bool(self)
    }
}

macro_rules! option_numbers {
    ($($t:ty => $v:ident as $w:ty),*) => {$(
        impl IntoOptionValue for $t {
            fn into_option_value(self) -> OptionValue {
                OptionValue::$v(<$w>::from(self))
            }
        }
    )*};
}
option_numbers!(f64 => Float as f64, f32 => Float as f64, i64 => Int as i64, i32 => Int as i64, u32 => Int as i64);

// ---------------------------------------------------------------------------
// Typed entries
// ---------------------------------------------------------------------------

/// The options of [`cross_entropy`] (PyTorch's `cross_entropy` arguments).
#[derive(Clone, Debug)]
pub struct CrossEntropyOptions {
    /// One weight per class (not differentiated); `None`: all 1.
    pub weight: Option<Tensor<1>>,
    /// The class index whose samples are ignored (default −100).
    pub ignore_index: i64,
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// Label smoothing `ε` in `[0, 1]` (default 0).
    pub label_smoothing: f64,
}

impl Default for CrossEntropyOptions {
    fn default() -> Self {
        CrossEntropyOptions { weight: None, ignore_index: -100, reduction: Reduction::Mean, label_smoothing: 0.0 }
    }
}

/// Softmax cross entropy of `logits` (`(N, C)`, `(N, C, d1, ...)` or `(C,)`)
/// against class indices `targets` (`(N,)`, `(N, d1, ...)` or `()`):
/// `torch.nn.functional.cross_entropy`, on losslab's fused kernel.
///
/// The forward computes the value and the gradient in one sweep over the
/// logits and keeps the gradient; the backward scales it by the upstream
/// gradient (nothing is recomputed). For class-probability targets, call
/// [`loss`]`("cross_entropy", ...)` with a float target.
///
/// # Errors
/// The library's: logits without a class axis, targets of the wrong shape, a
/// class index outside `[0, C)` that is not `ignore_index`, a weight of the
/// wrong length, `label_smoothing` outside `[0, 1]`; a tensor of another
/// backend; a result of another rank than `R`.
///
/// # Examples
/// ```
/// use burn::tensor::{Int, Tensor};
/// use losslab_burn::{cross_entropy, CrossEntropyOptions, Reduction};
/// let device = losslab_burn::device();
/// let logits = Tensor::<2>::from_floats([[0.0, 0.0], [1.0, 1.0]], &device).require_grad();
/// let targets = Tensor::<1, Int>::from_ints([1, 0], &device);
/// let options = CrossEntropyOptions { reduction: Reduction::None, ..CrossEntropyOptions::default() };
/// let per_sample: Tensor<1> = cross_entropy(logits.clone(), targets, &options).unwrap();
/// assert_eq!(per_sample.dims(), [2]);
/// let weights = Tensor::<1>::from_floats([1.0, 3.0], &device);
/// let grads = (per_sample * weights).sum().backward(); // upstream 1 and 3
/// let g = logits.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
/// assert_eq!(g, [0.5, -0.5, -1.5, 1.5]);
/// ```
pub fn cross_entropy<const D: usize, const DT: usize, const R: usize>(
    logits: Tensor<D>,
    targets: Tensor<DT, Int>,
    options: &CrossEntropyOptions,
) -> Result<Tensor<R>> {
    const NAME: &str = "torch:cross_entropy";
    let x = Input::float(NAME, "input", logits.into())?;
    let t = Input::int(NAME, "target", targets.into())?;
    let mut ce = losslab::CrossEntropyLoss::new()
        .reduction(options.reduction)
        .ignore_index(options.ignore_index)
        .label_smoothing(options.label_smoothing);
    if let Some(w) = &options.weight {
        let w = Input::float(NAME, "weight", w.clone().into())?;
        ce = match &w.values {
            NdArrayTensor::F32(a) => ce.weight(a.view().into_dimensionality().map_err(|_| rank_error(NAME, "weight"))?),
            NdArrayTensor::F64(a) => ce.weight(a.view().into_dimensionality().map_err(|_| rank_error(NAME, "weight"))?),
            _ => unreachable!("float checked"),
        };
    }
    let compute = |tracked: bool| -> Result<(NdArrayTensor, State)> {
        macro_rules! go {
            ($x:expr, $t:expr, $e:ty) => {{
                if tracked {
                    // A per-sample result's backward scales the gradient in
                    // place: a buffer the pool also held would be copied there,
                    // so only a reduced loss's buffer is kept.
                    let pooled = options.reduction != Reduction::None;
                    let mut grad = if pooled { pool::take::<$e>($x.shape()) } else { ArcArray::from_elem(IxDyn($x.shape()), 0.0) };
                    let value = ce.forward_backward_into($x.view(), $t, grad.view_mut())?;
                    if pooled {
                        pool::keep(&grad);
                    }
                    let per_sample = value.ndim() > 0;
                    (NdArrayTensor::from(value.into_shared()), State::Scale { grads: vec![Some(NdArrayTensor::from(grad))], per_sample })
                } else {
                    (NdArrayTensor::from(ce.forward($x.view(), $t)?.into_shared()), State::None)
                }
            }};
        }
        let labels = Labels::of(&t.values);
        Ok(match (&x.values, labels.view()) {
            (NdArrayTensor::F32(a), LabelView::I64(l)) => go!(a, l, f32),
            (NdArrayTensor::F32(a), LabelView::I32(l)) => go!(a, l, f32),
            (NdArrayTensor::F64(a), LabelView::I64(l)) => go!(a, l, f64),
            (NdArrayTensor::F64(a), LabelView::I32(l)) => go!(a, l, f64),
            _ => unreachable!("float checked"),
        })
    };
    finish(NAME, std::slice::from_ref(&x), compute)
}

/// Mean squared error `(input − target)²`: `torch.nn.functional.mse_loss`.
///
/// # Errors
/// The registry's and the library's (shapes that do not broadcast, ...); a
/// tensor of another backend; a result of another rank than `R`.
///
/// Two tensors of one shape and one float dtype, reduced by `Mean` or `Sum`,
/// run the library's fused kernel ([`losslab::MseLoss::forward_backward_into`]):
/// one sweep over burn's buffers writes the value and the input's gradient, kept
/// as the node's state (the target's gradient is its negative, made in the
/// backward only when the target is tracked). Anything else is the registry's
/// `torch:mse_loss`.
pub fn mse<const D: usize, const R: usize>(input: Tensor<D>, target: Tensor<D>, reduction: Reduction) -> Result<Tensor<R>> {
    let fused = matches!(reduction, Reduction::Mean | Reduction::Sum)
        && input.dims() == target.dims()
        && input.dtype() == target.dtype()
        && matches!(input.dtype(), DType::F32 | DType::F64);
    if fused {
        return mse_fused(input, target, reduction);
    }
    named("torch:mse_loss", vec![("input", input.into()), ("target", target.into())], &Options::new().reduction(reduction))
}

/// [`mse`] on the fused kernel (same shapes, same float dtype, a reduction).
fn mse_fused<const D: usize, const R: usize>(input: Tensor<D>, target: Tensor<D>, reduction: Reduction) -> Result<Tensor<R>> {
    const NAME: &str = "torch:mse_loss";
    let loss = losslab::MseLoss::new().reduction(reduction);
    let inputs = [Input::float(NAME, "input", input.into())?, Input::float(NAME, "target", target.into())?];
    // Which parents of the node (the inputs with an autodiff tensor, in order) take the negated gradient.
    let negate: Vec<bool> = inputs.iter().filter(|i| i.node.is_some()).map(|i| i.name == "target").collect();
    let compute = |tracked: bool| -> Result<(NdArrayTensor, State)> {
        macro_rules! go {
            ($x:expr, $t:expr, $e:ty) => {{
                if tracked {
                    let mut grad = pool::take::<$e>($x.shape());
                    let value = loss.forward_backward_into($x.view(), $t.view(), grad.view_mut())?;
                    pool::keep(&grad);
                    (NdArrayTensor::from(value.into_shared()), State::Pair { grad: NdArrayTensor::from(grad), negate: negate.clone() })
                } else {
                    (NdArrayTensor::from(loss.forward($x.view(), $t.view())?.into_shared()), State::None)
                }
            }};
        }
        Ok(match (&inputs[0].values, &inputs[1].values) {
            (NdArrayTensor::F32(x), NdArrayTensor::F32(t)) => go!(x, t, f32),
            (NdArrayTensor::F64(x), NdArrayTensor::F64(t)) => go!(x, t, f64),
            (x, t) => {
                return Err(Error::new(
                    ErrorKind::Dtype,
                    format!("{NAME}: `input` has dtype {:?} and `target` {:?}, expected one float dtype", x.dtype(), t.dtype()),
                ))
            }
        })
    };
    finish(NAME, &inputs, compute)
}

/// Mean absolute error `|input − target|`: `torch.nn.functional.l1_loss`.
///
/// # Errors
/// As [`mse`].
pub fn l1<const D: usize, const R: usize>(input: Tensor<D>, target: Tensor<D>, reduction: Reduction) -> Result<Tensor<R>> {
    named("torch:l1_loss", vec![("input", input.into()), ("target", target.into())], &Options::new().reduction(reduction))
}

/// Huber loss: quadratic within `delta` of the target, linear with slope
/// `delta` beyond: `torch.nn.functional.huber_loss`.
///
/// # Errors
/// As [`mse`]; also a `delta` that is not `> 0`.
pub fn huber<const D: usize, const R: usize>(input: Tensor<D>, target: Tensor<D>, delta: f64, reduction: Reduction) -> Result<Tensor<R>> {
    named(
        "torch:huber_loss",
        vec![("input", input.into()), ("target", target.into())],
        &Options::new().set("delta", delta).reduction(reduction),
    )
}

/// The options of [`binary_cross_entropy_with_logits`].
#[derive(Clone, Debug, Default)]
pub struct BceWithLogitsOptions {
    /// A weight per element, broadcast to the input's shape (a float tensor of any rank).
    pub weight: Option<LossArg>,
    /// A weight of the positive term, broadcast to the input's shape
    /// (typically one per class).
    pub pos_weight: Option<LossArg>,
    /// The reduction (`None` here means PyTorch's default, `Mean`).
    pub reduction: Option<Reduction>,
}

/// Binary cross entropy of logits, stable for any logit:
/// `torch.nn.functional.binary_cross_entropy_with_logits`.
///
/// # Errors
/// As [`mse`]; also weights that do not broadcast.
pub fn binary_cross_entropy_with_logits<const D: usize, const R: usize>(
    input: Tensor<D>,
    target: Tensor<D>,
    options: &BceWithLogitsOptions,
) -> Result<Tensor<R>> {
    let mut args = vec![("input", input.into()), ("target", target.into())];
    if let Some(w) = &options.weight {
        args.push(("weight", w.clone()));
    }
    if let Some(w) = &options.pos_weight {
        args.push(("pos_weight", w.clone()));
    }
    named("torch:binary_cross_entropy_with_logits", args, &Options { options: BTreeMap::new(), reduction: options.reduction })
}

/// The options of [`nll`].
#[derive(Clone, Debug)]
pub struct NllOptions {
    /// One weight per class; `None`: all 1.
    pub weight: Option<Tensor<1>>,
    /// The class index whose samples are ignored (default −100).
    pub ignore_index: i64,
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
}

impl Default for NllOptions {
    fn default() -> Self {
        NllOptions { weight: None, ignore_index: -100, reduction: Reduction::Mean }
    }
}

/// Negative log likelihood of log-probabilities `input` (`(N, C)`, ...) at
/// class indices `target`: `torch.nn.functional.nll_loss`.
///
/// # Errors
/// As [`cross_entropy`].
pub fn nll<const D: usize, const DT: usize, const R: usize>(input: Tensor<D>, target: Tensor<DT, Int>, options: &NllOptions) -> Result<Tensor<R>> {
    let mut args = vec![("input", input.into()), ("target", target.into())];
    if let Some(w) = &options.weight {
        args.push(("weight", w.clone().into()));
    }
    named("torch:nll_loss", args, &Options::new().set("ignore_index", options.ignore_index).reduction(options.reduction))
}

/// KL divergence of log-probabilities `input` against `target`
/// (probabilities, or log-probabilities with `log_target`):
/// `torch.nn.functional.kl_div`. Use `Reduction::BatchMean` for the
/// mathematical KL divergence of a batch.
///
/// # Errors
/// As [`mse`].
pub fn kl_div<const D: usize, const R: usize>(input: Tensor<D>, target: Tensor<D>, log_target: bool, reduction: Reduction) -> Result<Tensor<R>> {
    named(
        "torch:kl_div",
        vec![("input", input.into()), ("target", target.into())],
        &Options::new().set("log_target", log_target).reduction(reduction),
    )
}

// ---------------------------------------------------------------------------
// The name-addressed entry
// ---------------------------------------------------------------------------

/// The loss called `name` (`framework:name`, or an unqualified name: see
/// [`losslab_registry::resolve`]) on the tensors `tensors` (by the
/// reference's argument names), with `options`.
///
/// Gradients flow to every tracked float tensor the reference differentiates
/// ([`LossSpec::grads`](losslab_registry::LossSpec::grads)).
///
/// # Errors
/// Every error of [`losslab_registry::evaluate`] (an unknown loss, tensor or
/// option, a missing tensor, a dtype, shape or value the loss refuses), with its
/// message; a tensor of another backend; a result of another rank than `R`.
///
/// # Examples
/// ```
/// use burn::tensor::{Int, Tensor};
/// use losslab_burn::{loss, LossArg, Options};
/// let device = losslab_burn::device();
/// let x = Tensor::<2>::from_floats([[0.1, 0.9, -0.3]], &device).require_grad();
/// let y = Tensor::<1, Int>::from_ints([1], &device);
/// let args: [(&str, LossArg); 2] = [("input", x.clone().into()), ("target", y.into())];
/// let l: Tensor<1> = loss("torch:multi_margin_loss", &args, &Options::new().set("margin", 0.5)).unwrap();
/// let g = x.grad(&l.backward()).unwrap();
/// assert_eq!(g.dims(), [1, 3]);
///
/// let err = loss::<1, LossArg>("torch:mse", &args, &Options::new()).unwrap_err();
/// assert!(err.to_string().contains("did you mean torch:mse_loss?"), "{err}");
/// ```
pub fn loss<const R: usize, A: Clone + Into<LossArg>>(name: &str, tensors: &[(&str, A)], options: &Options) -> Result<Tensor<R>> {
    named(name, tensors.iter().map(|(n, t)| (*n, t.clone().into())).collect(), options)
}

fn named<const R: usize>(name: &str, tensors: Vec<(&str, LossArg)>, options: &Options) -> Result<Tensor<R>> {
    let spec = losslab_registry::resolve(name)?;
    let qname = spec.qualified_name();
    let mut inputs = Vec::with_capacity(tensors.len());
    for (n, t) in tensors {
        spec.check_tensor_name(n)?;
        let mut input = Input::any(&qname, n, t)?;
        if !spec.grads.contains(&n) {
            // A constant of the loss (class indices, weights the reference does not
            // differentiate): not a parent of its node.
            input.node = None;
        }
        inputs.push(input);
    }
    // A reduced result is a number: its gradients, computed with the value, are
    // scaled in the backward. Another result is differentiated in the backward,
    // with the upstream gradient.
    let reduced = matches!(options.reduction.or(spec.default_reduction), Some(r) if r != Reduction::None);
    let parents: Vec<String> = inputs.iter().filter(|i| i.node.is_some()).map(|i| i.name.clone()).collect();
    let compute = |tracked: bool| -> Result<(NdArrayTensor, State)> {
        let want_grads = tracked && reduced;
        let e = spec.evaluate(request(pairs(&inputs), options, None, want_grads))?;
        let value = from_registry(e.value);
        let state = if !tracked {
            State::None
        } else if want_grads {
            let mut grads = e.grads;
            let grads = inputs
                .iter()
                .filter(|i| i.node.is_some())
                .map(|i| Some(grads.remove(&i.name).map_or_else(|| zeros_like(&i.values), from_registry)))
                .collect();
            State::Scale { grads, per_sample: false }
        } else {
            State::Recompute(Arc::new(Recompute {
                spec,
                tensors: inputs.iter().map(|i| (i.name.clone(), i.values.clone())).collect(),
                options: options.clone(),
                parents: parents.clone(),
                value_shape: value.shape().to_vec(),
            }))
        };
        Ok((value, state))
    };
    finish(&qname, &inputs, compute)
}

/// The registry's request for `inputs`: their buffers lent in place (integer
/// types other than `i64` converted). The one place where burn's buffers become
/// registry tensors.
fn request<'a>(
    inputs: impl IntoIterator<Item = (&'a str, &'a NdArrayTensor)>,
    options: &Options,
    grad_output: Option<TensorArg<'a>>,
    want_grads: bool,
) -> EvalRequest<'a> {
    let tensors = inputs.into_iter().map(|(name, values)| (name.to_string(), tensor_arg(values))).collect();
    EvalRequest { tensors, options: options.options.clone(), reduction: options.reduction, grad_output, want_grads }
}

fn tensor_arg(t: &NdArrayTensor) -> TensorArg<'_> {
    match t {
        NdArrayTensor::F32(a) => a.view().into(),
        NdArrayTensor::F64(a) => a.view().into(),
        NdArrayTensor::I64(a) => a.view().into(),
        NdArrayTensor::I32(a) => a.view().mapv(i64::from).into(),
        NdArrayTensor::I16(a) => a.view().mapv(i64::from).into(),
        NdArrayTensor::I8(a) => a.view().mapv(i64::from).into(),
        NdArrayTensor::U32(a) => a.view().mapv(i64::from).into(),
        NdArrayTensor::U16(a) => a.view().mapv(i64::from).into(),
        NdArrayTensor::U8(a) => a.view().mapv(i64::from).into(),
        #[allow(clippy::cast_possible_wrap)]
        NdArrayTensor::U64(a) => a.view().mapv(|v| v as i64).into(),
        NdArrayTensor::Bool(a) => a.view().mapv(i64::from).into(),
    }
}

fn pairs(inputs: &[Input]) -> impl Iterator<Item = (&str, &NdArrayTensor)> {
    inputs.iter().map(|i| (i.name.as_str(), &i.values))
}

/// Zeros of `t`'s shape and float type: the gradient of a parent the loss
/// does not depend on (burn's backward expects one for every tracked parent).
fn zeros_like(t: &NdArrayTensor) -> NdArrayTensor {
    match t {
        NdArrayTensor::F64(a) => NdArrayTensor::from(ArrayD::<f64>::zeros(IxDyn(a.shape())).into_shared()),
        t => NdArrayTensor::from(ArrayD::<f32>::zeros(IxDyn(&t.shape().to_vec())).into_shared()),
    }
}

fn from_registry(t: losslab_registry::Tensor) -> NdArrayTensor {
    match t {
        losslab_registry::Tensor::F32(a) => NdArrayTensor::from(a.into_shared()),
        losslab_registry::Tensor::F64(a) => NdArrayTensor::from(a.into_shared()),
        losslab_registry::Tensor::I64(a) => NdArrayTensor::from(a.into_shared()),
    }
}

// ---------------------------------------------------------------------------
// burn's side: inputs, the graph node and its backward
// ---------------------------------------------------------------------------

/// An input's buffer, and its autodiff tensor when it is a parent of the
/// loss's node (a float tensor the loss differentiates, on the autodiff device).
struct Input {
    name: String,
    values: NdArrayTensor,
    node: Option<AdPrimitive>,
    /// The autodiff device's checkpointing, when the tensor was on one (then so is the result).
    autodiff: Option<Checkpointing>,
}

impl Input {
    /// A tensor of the NdArray backend, with or without autodiff.
    fn any(loss: &str, name: &str, arg: LossArg) -> Result<Input> {
        let d = arg.tensor;
        let device = format!("{:?}", d.device());
        let quantized = || Error::new(ErrorKind::Dtype, format!("{loss}: `{name}` is a quantized tensor, expected float or integer"));
        macro_rules! autodiff {
            ($c:ty, $k:expr) => {
                if let Ok(t) = <DispatchTensor as DispatchKindConversion<Autodiff<NdArray, $c>>>::try_into_backend(d.clone()) {
                    return Ok(match t {
                        BackendTensor::Float(t) => Input { name: name.to_string(), values: t.primitive().clone(), node: Some(t), autodiff: Some($k) },
                        BackendTensor::Int(t) | BackendTensor::Bool(t) => Input { name: name.to_string(), values: t, node: None, autodiff: Some($k) },
                        _ => return Err(quantized()),
                    });
                }
            };
        }
        autodiff!(NoCheckpointing, Checkpointing::None);
        autodiff!(BalancedCheckpointing, Checkpointing::Balanced);
        match <DispatchTensor as DispatchKindConversion<NdArray>>::try_into_backend(d) {
            Ok(BackendTensor::Float(t) | BackendTensor::Int(t) | BackendTensor::Bool(t)) => Ok(Input { name: name.to_string(), values: t, node: None, autodiff: None }),
            Ok(_) => Err(quantized()),
            Err(_) => Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{loss}: `{name}` is on device {device}, expected burn's NdArray CPU backend (losslab_burn::device()): \
                     move it with `.to_device(&losslab_burn::device())`"
                ),
            )),
        }
    }

    fn float(loss: &str, name: &str, arg: LossArg) -> Result<Input> {
        let i = Input::any(loss, name, arg)?;
        match i.values {
            NdArrayTensor::F32(_) | NdArrayTensor::F64(_) => Ok(i),
            ref v => Err(Error::new(ErrorKind::Dtype, format!("{loss}: `{name}` has dtype {:?}, expected float32 or float64", v.dtype()))),
        }
    }

    fn int(loss: &str, name: &str, arg: LossArg) -> Result<Input> {
        let i = Input::any(loss, name, arg)?;
        match i.values {
            NdArrayTensor::F32(_) | NdArrayTensor::F64(_) | NdArrayTensor::Bool(_) => Err(Error::new(
                ErrorKind::Dtype,
                format!("{loss}: `{name}` has dtype {:?}, expected integer class indices", i.values.dtype()),
            )),
            _ => Ok(i),
        }
    }
}

/// Class indices, in place when `i64` or `i32`, else converted to `i64`.
enum Labels<'a> {
    Borrowed(&'a NdArrayTensor),
    Owned(ArrayD<i64>),
}

enum LabelView<'a> {
    I64(ArrayViewD<'a, i64>),
    I32(ArrayViewD<'a, i32>),
}

impl<'a> Labels<'a> {
    fn of(t: &'a NdArrayTensor) -> Labels<'a> {
        match t {
            NdArrayTensor::I64(_) | NdArrayTensor::I32(_) => Labels::Borrowed(t),
            t => match tensor_arg(t) {
                TensorArg::I64(a) => Labels::Owned(a.into_owned()),
                _ => unreachable!("integers"),
            },
        }
    }

    fn view(&self) -> LabelView<'_> {
        match self {
            Labels::Borrowed(NdArrayTensor::I64(a)) => LabelView::I64(a.view()),
            Labels::Borrowed(NdArrayTensor::I32(a)) => LabelView::I32(a.view()),
            Labels::Borrowed(_) => unreachable!("i64 or i32"),
            Labels::Owned(a) => LabelView::I64(a.view()),
        }
    }
}

fn rank_error(loss: &str, name: &str) -> Error {
    Error::new(ErrorKind::Shape, format!("{loss}: `{name}` must be 1-D (one weight per class)"))
}

/// The state of a loss's node: what its backward needs.
#[derive(Clone, Debug)]
enum State {
    /// Untracked: no backward.
    None,
    /// The gradients of each parent for an upstream gradient of ones, computed
    /// in the forward: scaled by the upstream number (`per_sample`: by the
    /// upstream gradient of each sample, along the class axis 1).
    Scale { grads: Vec<Option<NdArrayTensor>>, per_sample: bool },
    /// The inputs, for the registry's gradient with the upstream gradient.
    Recompute(Arc<Recompute>),
    /// One gradient for an upstream gradient of ones (a reduced loss of two
    /// tensors of one shape), negated for the parents marked in `negate` (made
    /// only for a parent burn tracks).
    Pair { grad: NdArrayTensor, negate: Vec<bool> },
}

#[derive(Debug)]
struct Recompute {
    spec: &'static LossSpec,
    tensors: Vec<(String, NdArrayTensor)>,
    options: Options,
    parents: Vec<String>,
    value_shape: Vec<usize>,
}

#[derive(Debug)]
struct LossBackward;

impl<const N: usize> Backward<NdArray, N> for LossBackward {
    type State = State;

    fn backward(self, ops: Ops<State, N>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let upstream = grads.consume::<NdArray>(&ops.node);
        let computed = match ops.state {
            State::None => return,
            State::Pair { grad, negate } => {
                let mut grad = Some(grad);
                let wanted = ops.parents.iter().zip(&negate).filter(|(p, _)| p.is_some()).count();
                let mut made = 0;
                for (parent, &neg) in ops.parents.iter().zip(&negate) {
                    let Some(node) = parent else { continue };
                    made += 1;
                    // The last one takes the buffer itself (scaled in place when the upstream is not 1).
                    let g = if made == wanted { grad.take().expect("the gradient") } else { grad.clone().expect("the gradient") };
                    grads.register::<NdArray>(node.id, scale(g, &upstream, false, neg));
                }
                return;
            }
            State::Scale { grads, per_sample } => grads.into_iter().map(|g| g.map(|g| scale(g, &upstream, per_sample, false))).collect(),
            State::Recompute(r) => r.grads(upstream),
        };
        for (parent, grad) in ops.parents.iter().zip(computed) {
            if let (Some(node), Some(grad)) = (parent, grad) {
                grads.register::<NdArray>(node.id, grad);
            }
        }
    }
}

/// `grad` times the upstream gradient: a number (negated when `negate`; no
/// pass when the factor is 1), or one per sample broadcast along the class
/// axis (axis 1).
fn scale(grad: NdArrayTensor, upstream: &NdArrayTensor, per_sample: bool, negate: bool) -> NdArrayTensor {
    macro_rules! go {
        ($g:expr, $u:expr) => {{
            let u = $u.view();
            if per_sample {
                let mut g = $g.into_owned();
                let u = u.insert_axis(Axis(1));
                g *= &u;
                if negate {
                    g.mapv_inplace(|v| -v);
                }
                NdArrayTensor::from(g)
            } else {
                let s = *u.iter().next().expect("a scalar result's upstream gradient has one element");
                let s = if negate { -s } else { s };
                if s == 1.0 {
                    NdArrayTensor::from($g.into_shared())
                } else {
                    NdArrayTensor::from($g.into_shared().mapv(|v| v * s).into_shared())
                }
            }
        }};
    }
    match (grad, upstream) {
        (NdArrayTensor::F32(g), NdArrayTensor::F32(u)) => go!(g, u),
        (NdArrayTensor::F64(g), NdArrayTensor::F64(u)) => go!(g, u),
        (g, u) => panic!("losslab-burn: a gradient of dtype {:?} and an upstream gradient of dtype {:?}", g.dtype(), u.dtype()),
    }
}

impl Recompute {
    fn grads(&self, upstream: NdArrayTensor) -> Vec<Option<NdArrayTensor>> {
        let shape = IxDyn(&self.value_shape);
        let upstream = match &upstream {
            NdArrayTensor::F32(u) => TensorArg::from(u.view().to_shape(shape).expect("the result's shape").to_owned()),
            NdArrayTensor::F64(u) => TensorArg::from(u.view().to_shape(shape).expect("the result's shape").to_owned()),
            u => panic!("losslab-burn: an upstream gradient of dtype {:?}", u.dtype()),
        };
        let inputs = self.tensors.iter().map(|(n, t)| (n.as_str(), t));
        let e = self
            .spec
            .evaluate(request(inputs, &self.options, Some(upstream), true))
            .unwrap_or_else(|e| panic!("losslab-burn: the backward of {} failed after its forward succeeded: {e}", self.spec.qualified_name()));
        let mut grads = e.grads;
        self.parents
            .iter()
            .map(|p| {
                let input = &self.tensors.iter().find(|(n, _)| n == p).expect("a parent is an input").1;
                Some(grads.remove(p).map_or_else(|| zeros_like(input), from_registry))
            })
            .collect()
    }
}

/// The gradient checkpointing of an autodiff device (`device.gradient_checkpointing()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Checkpointing {
    None,
    Balanced,
}

/// Computes the loss (`compute(tracked)`) and wraps its value as a burn
/// tensor of rank `R`, recorded in the graph when an input is tracked.
fn finish<const R: usize>(loss: &str, inputs: &[Input], compute: impl FnOnce(bool) -> Result<(NdArrayTensor, State)>) -> Result<Tensor<R>> {
    let mut strategy = None;
    for i in inputs {
        match (strategy, i.autodiff) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("{loss}: `{}` is on an autodiff device with another gradient checkpointing than the other tensors'", i.name),
                ))
            }
            (None, b) => strategy = b,
            _ => {}
        }
    }
    let Some(strategy) = strategy else {
        let (value, _) = compute(false)?;
        return Ok(Tensor::from_primitive::<NdArray>(to_rank(loss, value, R)?));
    };
    match strategy {
        Checkpointing::None => record::<R, NoCheckpointing>(loss, inputs, compute),
        Checkpointing::Balanced => record::<R, BalancedCheckpointing>(loss, inputs, compute),
    }
}

/// The value as an autodiff tensor of checkpointing `C`: one node whose
/// parents are the inputs' tracked tensors.
fn record<const R: usize, C: CheckpointStrategy>(
    loss: &str,
    inputs: &[Input],
    compute: impl FnOnce(bool) -> Result<(NdArrayTensor, State)>,
) -> Result<Tensor<R>>
where
    DispatchTensor: DispatchKindConversion<Autodiff<NdArray, C>>,
{
    let guards: Vec<_> = inputs.iter().filter_map(|i| i.node.as_ref().map(|n| n.node())).collect();
    let rank = |value: NdArrayTensor| -> Result<NdArrayTensor> { to_rank(loss, value, R) };
    macro_rules! record {
        ($($n:literal)*) => {
            match guards.len() {
                0 => {
                    // Autodiff tensors, none of them a parent (constants of the loss).
                    let (value, _) = compute(false)?;
                    AdPrimitive::new(rank(value)?)
                }
                $($n => {
                    let guards: [_; $n] = guards.try_into().expect("length matched");
                    match Backward::<NdArray, $n>::prepare::<C>(LossBackward, guards).compute_bound().stateful() {
                        OpsKind::Tracked(prep) => {
                            let (value, state) = compute(true)?;
                            prep.finish(state, rank(value)?)
                        }
                        OpsKind::UnTracked(prep) => {
                            let (value, _) = compute(false)?;
                            prep.finish(rank(value)?)
                        }
                    }
                })*
                n => return Err(Error::new(ErrorKind::Unsupported, format!("{loss}: {n} float tensors with autodiff, expected at most 8"))),
            }
        };
    }
    let out: AdPrimitive = record!(1 2 3 4 5 6 7 8);
    Ok(Tensor::from_primitive::<Autodiff<NdArray, C>>(out))
}

/// `value` as a tensor of rank `rank`: a 0-d result becomes `[1]` (burn's scalars).
fn to_rank(loss: &str, value: NdArrayTensor, rank: usize) -> Result<NdArrayTensor> {
    let shape = value.shape().to_vec();
    if shape.len() == rank {
        return Ok(value);
    }
    if shape.is_empty() && rank == 1 {
        return Ok(match value {
            NdArrayTensor::F32(a) => NdArrayTensor::from(a.into_shared().into_shape_with_order(IxDyn(&[1])).expect("one element")),
            NdArrayTensor::F64(a) => NdArrayTensor::from(a.into_shared().into_shape_with_order(IxDyn(&[1])).expect("one element")),
            v => v,
        });
    }
    Err(Error::new(
        ErrorKind::Shape,
        format!(
            "{loss}: the result has shape {shape:?} (rank {}), expected a rank-{rank} tensor (Tensor<{rank}>; a number is Tensor<1> of shape [1])",
            shape.len()
        ),
    ))
}
