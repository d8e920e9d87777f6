//! losslab inside [candle](https://github.com/huggingface/candle): every loss
//! of [`losslab_registry`]'s catalog as a candle operation that takes part in
//! candle's autograd, so that `loss.backward()` gives the gradients of every
//! input candle tracks.
//!
//! - [`loss`] evaluates any loss by the registry's name (`"keras:hinge"`,
//!   `"torch:kl_div"`, `"tf:sigmoid_cross_entropy_with_logits"`, ...) on named
//!   tensors, with the reference's options ([`LossOptions`]).
//! - Typed functions for the common losses, with candle-style signatures:
//!   [`cross_entropy`] (with `weight`, `ignore_index`, label smoothing and every
//!   reduction, which `candle_nn::loss::cross_entropy` lacks), [`nll`], [`mse`],
//!   [`l1`], [`smooth_l1`], [`huber`], [`binary_cross_entropy_with_logits`]
//!   (stable for large logits), [`kl_div`].
//!
//! Each is a candle `CustomOp1/2/3` applied with `apply_op1/2/3` (with its
//! backward). The tensors the loss differentiates are the operation's
//! arguments; the backward returns the reference's gradients, scaled by the
//! upstream gradient (any upstream gradient: `(loss * w).sum()` of an unreduced
//! loss included). A loss with more than three differentiated tensors packs them
//! into one argument with `Tensor::cat`, whose own backward splits the gradient.
//!
//! **Cross entropy with class indices** runs the library's fused kernel: the
//! forward computes the value and the gradient in one sweep over the logits
//! (`f32`, `f64`, `bf16`, `f16`), and the backward hands that gradient to
//! candle, multiplied by the upstream gradient (nothing at all when it is 1), without a
//! second pass. Every other loss goes through the registry: a reduced loss
//! computes its gradients in the forward as well and the backward scales them;
//! an unreduced one computes them in the backward, for the upstream gradient.
//!
//! **Tensors**: CPU tensors of `f32` or `f64` (one float dtype per call, as the
//! registry requires); `bf16` and `f16` logits for the fused cross entropy,
//! and on every other loss widened to `f32` (the value is then `f32`, and the
//! gradients are narrowed back to the input's dtype); integer class indices
//! as `u8`, `u32`, `i16`, `i32` or `i64`. Any layout: a strided tensor is made
//! contiguous (candle's `contiguous`, which the gradient flows through; the fused
//! [`mse`] reads any layout in place). A
//! tensor on a CUDA or Metal device gets an error naming the device.
//!
//! **Errors** are candle [`Error`](candle_core::Error)s whose message is
//! losslab's own (naming the loss, the tensor or option, what was expected
//! and what was found); a bad input never panics.
//!
//! The losses, their checks and their gradients are the registry's and the
//! library's: this crate only moves tensors between candle and them.
//!
//! # Examples
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use losslab_candle::{cross_entropy, loss, CrossEntropyOptions, LossOptions, Reduction};
//!
//! # fn main() -> candle_core::Result<()> {
//! let dev = Device::Cpu;
//! let logits = Var::new(&[[2.0f32, 0.5, -1.0], [0.1, 0.2, 3.0]], &dev)?;
//! let labels = Tensor::new(&[0u32, 2], &dev)?;
//!
//! // torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
//! let options = CrossEntropyOptions { label_smoothing: 0.1, ..Default::default() };
//! let ce = cross_entropy(logits.as_tensor(), &labels, &options)?;
//! let grads = ce.backward()?;
//! let g = grads.get(&logits).expect("the logits' gradient");
//! assert_eq!(g.dims(), &[2, 3]);
//!
//! // Any loss of the registry by name: Keras's hinge, one value per sample,
//! // then any upstream gradient.
//! let y_true = Tensor::new(&[[0.0f64, 1.0], [1.0, 0.0]], &dev)?;
//! let y_pred = Var::new(&[[0.6f64, 0.4], [0.3, 0.7]], &dev)?;
//! let h = loss("keras:hinge", &[("y_true", &y_true), ("y_pred", y_pred.as_tensor())], &LossOptions::new())?;
//! assert_eq!(h.dims(), &[2]);
//! let weights = Tensor::new(&[1.0f64, 2.0], &dev)?;
//! let grads = (h * weights)?.sum_all()?.backward()?;
//! assert!(grads.get(&y_pred).is_some());
//!
//! // Options by the reference's names, and the reduction.
//! let options = LossOptions::new().set("delta", 0.5).reduction(Reduction::Sum);
//! let x = Var::new(&[0.0f32, 3.0], &dev)?;
//! let y = Tensor::new(&[0.0f32, 0.0], &dev)?;
//! let v = loss("torch:huber_loss", &[("input", x.as_tensor()), ("target", &y)], &options)?;
//! assert_eq!(v.to_scalar::<f32>()?, 1.375);
//!
//! // Errors carry losslab's message.
//! let err = loss("torch:mse", &[("input", x.as_tensor())], &LossOptions::new()).unwrap_err();
//! assert!(err.to_string().contains("did you mean torch:mse_loss?"), "{err}");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

mod convert;
mod cross_entropy;
mod mse;
mod registry_op;

use crate::convert::{check_cpu, check_dtype, guarded, msg, registry_error, to_tensor, Result};
use crate::cross_entropy::{logits_dtype_error, CrossEntropyOp, CE};
use crate::mse::{MseOp, MSE};
use crate::registry_op::{reduces, Args, RegistryOp};
use candle_core::{DType, Tensor};
use losslab::{CrossEntropyLoss, MseLoss};
use losslab_registry::{resolve, EvalRequest, Name};
use std::collections::BTreeMap;
use std::sync::Mutex;

pub use losslab::Reduction;
pub use losslab_registry::OptionValue;

/// The options of a loss called through [`loss`]: option values by the
/// reference's names (those not set take the reference's defaults), and the
/// reduction (`None`: the loss's default, as the registry's
/// [`default_reduction`](losslab_registry::LossSpec::default_reduction)).
///
/// # Examples
/// ```
/// use losslab_candle::{LossOptions, OptionValue, Reduction};
/// let o = LossOptions::new().set("beta", 0.5).set("log_target", true).set("distance", "cosine").reduction(Reduction::None);
/// assert_eq!(o.get("beta"), Some(&OptionValue::Float(0.5)));
/// assert_eq!(o.get_reduction(), Some(Reduction::None));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LossOptions {
    options: BTreeMap<String, OptionValue>,
    reduction: Option<Reduction>,
    /// Values that are no option value (a string that is no name): reported by the call.
    invalid: Vec<(String, String)>,
}

impl LossOptions {
    /// No options set, the loss's default reduction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets option `key` (a number, a bool, a name as `&str`, `None` as
    /// `Option::<f64>::None`, or an [`OptionValue`]). The registry checks the
    /// key and the value's type when the loss is called.
    #[must_use]
    pub fn set(mut self, key: &str, value: impl IntoOptionValue) -> Self {
        match value.into_option_value() {
            Ok(v) => {
                self.options.insert(key.to_string(), v);
            }
            Err(text) => self.invalid.push((key.to_string(), text)),
        }
        self
    }

    /// Sets the reduction.
    #[must_use]
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = Some(reduction);
        self
    }

    /// The value set for `key`.
    pub fn get(&self, key: &str) -> Option<&OptionValue> {
        self.options.get(key)
    }

    /// The reduction set (`None`: the loss's default).
    pub fn get_reduction(&self) -> Option<Reduction> {
        self.reduction
    }
}

/// A value [`LossOptions::set`] takes: numbers, bools, names, `None`.
pub trait IntoOptionValue {
    /// The option value, or the text that is none.
    ///
    /// # Errors
    /// A string that is not a name (letters, digits and `_`, not starting with a digit).
    fn into_option_value(self) -> std::result::Result<OptionValue, String>;
}

impl IntoOptionValue for OptionValue {
    fn into_option_value(self) -> std::result::Result<OptionValue, String> {
        Ok(self)
    }
}

macro_rules! option_value {
    ($($t:ty => $v:ident as $as:ty),*) => {$(
        impl IntoOptionValue for $t {
            fn into_option_value(self) -> std::result::Result<OptionValue, String> {
                Ok(OptionValue::$v(<$as>::from(self)))
            }
        }
    )*};
}
option_value!(f64 => Float as f64, f32 => Float as f64, i64 => Int as i64, i32 => Int as i64, bool => Bool as bool);

impl IntoOptionValue for &str {
    fn into_option_value(self) -> std::result::Result<OptionValue, String> {
        Name::new(self).map(OptionValue::Name).ok_or_else(|| self.to_string())
    }
}

impl IntoOptionValue for Option<f64> {
    fn into_option_value(self) -> std::result::Result<OptionValue, String> {
        Ok(self.map_or(OptionValue::None, OptionValue::Float))
    }
}

/// Evaluates the registry's loss `name` (`framework:name`, or an unqualified
/// name as [`losslab_registry::resolve`] resolves it) on candle tensors by
/// argument name, as a candle operation with its backward.
///
/// The tensors the loss differentiates (its
/// [`grads`](losslab_registry::LossSpec::grads)) get their gradients from
/// `backward()` when candle tracks them; the others (class indices, weights the
/// reference does not differentiate) are read as they are.
/// `torch:cross_entropy` with class indices runs [`cross_entropy`]'s fused
/// kernel (16-bit logits included).
///
/// # Errors
/// Every error of the registry, with its message: an unknown loss, tensor or
/// option, a missing tensor, a dtype or shape that does not fit, a class index
/// out of range, a value outside the domain. Also: a tensor on a CUDA or
/// Metal device, a dtype the registry has no type for (8-bit floats), a tensor
/// name given twice.
///
/// # Examples
/// ```
/// use candle_core::{Device, Tensor, Var};
/// use losslab_candle::{loss, LossOptions, Reduction};
/// # fn main() -> candle_core::Result<()> {
/// let dev = Device::Cpu;
/// let input = Var::new(&[[-1.2f64, -0.4, -2.3], [-0.1, -2.9, -3.0]], &dev)?; // log-probabilities
/// let target = Tensor::new(&[[0.2f64, 0.7, 0.1], [0.9, 0.05, 0.05]], &dev)?;
/// let options = LossOptions::new().reduction(Reduction::BatchMean);
/// let kl = loss("torch:kl_div", &[("input", input.as_tensor()), ("target", &target)], &options)?;
/// let g = kl.backward()?;
/// // ∂/∂input of Σ t (log t − input) / N = −t / N
/// let want = (target.neg()? / 2.0)?;
/// let diff = (g.get(&input).unwrap() - want)?.abs()?.max_all()?.to_scalar::<f64>()?;
/// assert!(diff < 1e-15);
/// # Ok(())
/// # }
/// ```
pub fn loss(name: &str, tensors: &[(&str, &Tensor)], options: &LossOptions) -> Result<Tensor> {
    loss_with(name, tensors, options, 3)
}

/// [`loss`], packing the differentiated tensors into one argument when there
/// are more than `max_direct` of them (3 but in tests).
fn loss_with(name: &str, tensors: &[(&str, &Tensor)], options: &LossOptions, max_direct: usize) -> Result<Tensor> {
    let spec = resolve(name).map_err(registry_error)?;
    let qname = spec.qualified_name();
    if let Some((key, text)) = options.invalid.first() {
        return Err(msg(format!("{qname}: option `{key}` = {text:?} is invalid: expected a name (letters, digits, _)")));
    }
    if qname == CE {
        if let Some(fused) = fused_by_name(tensors, options) {
            return cross_entropy(fused.0, fused.1, &fused.2);
        }
    }
    let mut args: Vec<(String, Tensor)> = Vec::new();
    let mut fixed: Vec<(String, Tensor)> = Vec::new();
    for (i, &(n, t)) in tensors.iter().enumerate() {
        if tensors[..i].iter().any(|&(m, _)| m == n) {
            return Err(msg(format!("{qname}: tensor `{n}` is given twice")));
        }
        check_cpu(&qname, n, t)?;
        check_dtype(&qname, n, t.dtype())?;
        if spec.grads.contains(&n) && t.dtype().is_float() {
            args.push((n.to_string(), t.contiguous()?));
        } else {
            fixed.push((n.to_string(), t.clone()));
        }
    }
    let reduction = options.reduction;
    if args.is_empty() {
        // Nothing to differentiate: the registry's value, untracked.
        let mut request = EvalRequest { options: options.options.clone(), reduction, ..EvalRequest::default() };
        let held: Vec<_> = fixed.iter().map(|(n, t)| (n, t.storage_and_layout())).collect();
        for (n, (s, l)) in &held {
            request.tensors.insert((*n).clone(), convert::request_tensor(&qname, n, convert::cpu(&qname, n, s)?, l)?);
        }
        return to_tensor(guarded(&qname, || spec.evaluate(request))?.value);
    }
    let tracked = args.iter().any(|(_, t)| t.track_op());
    let op = RegistryOp {
        spec,
        qname,
        args: Args::Direct(Vec::new()),
        fixed,
        options: options.options.clone(),
        reduction,
        grads_in_forward: tracked && reduces(reduction.or(spec.default_reduction)),
        saved: Mutex::new(None),
    };
    registry_op::apply(op, &args, max_direct)
}

/// `torch:cross_entropy` called by name with class indices and options the
/// fused kernel takes: its arguments for [`cross_entropy`]; `None` otherwise
/// (probabilities, or anything the registry should report).
fn fused_by_name<'a>(tensors: &[(&str, &'a Tensor)], options: &LossOptions) -> Option<(&'a Tensor, &'a Tensor, CrossEntropyOptions)> {
    let mut o = CrossEntropyOptions { reduction: options.reduction.unwrap_or(Reduction::Mean), ..Default::default() };
    for (key, value) in &options.options {
        match (key.as_str(), *value) {
            ("ignore_index", OptionValue::Int(i)) => o.ignore_index = i,
            ("label_smoothing", OptionValue::Float(x)) => o.label_smoothing = x,
            #[allow(clippy::cast_precision_loss)]
            ("label_smoothing", OptionValue::Int(i)) => o.label_smoothing = i as f64,
            _ => return None,
        }
    }
    let (mut input, mut target) = (None, None);
    for &(n, t) in tensors {
        match n {
            "input" if input.is_none() => input = Some(t),
            "target" if target.is_none() && !t.dtype().is_float() => target = Some(t),
            "weight" if o.weight.is_none() && t.dtype().is_float() => o.weight = Some(t.clone()),
            _ => return None,
        }
    }
    Some((input?, target?, o))
}

/// The options of [`cross_entropy`]: PyTorch's `torch.nn.functional.cross_entropy`
/// arguments, with its defaults (`Default`).
#[derive(Debug, Clone)]
pub struct CrossEntropyOptions {
    /// One weight per class, shape `(C,)` (default none: all 1). Not
    /// differentiated with class indices (as PyTorch); differentiated with
    /// class probabilities.
    pub weight: Option<Tensor>,
    /// The class index whose samples are ignored (default −100).
    pub ignore_index: i64,
    /// The reduction (default [`Reduction::Mean`]).
    pub reduction: Reduction,
    /// Label smoothing `ε` in `[0, 1]` (default 0).
    pub label_smoothing: f64,
}

impl Default for CrossEntropyOptions {
    fn default() -> Self {
        CrossEntropyOptions { weight: None, ignore_index: -100, reduction: Reduction::Mean, label_smoothing: 0.0 }
    }
}

/// Softmax cross entropy, PyTorch's `cross_entropy`: `logits` of shape `(N, C)`,
/// `(N, C, d1, ...)` or `(C,)`; `targets` class indices (`u8`, `u32`, `i16`,
/// `i32`, `i64`; shape `(N,)`, `(N, d1, ...)` or `()`) or class
/// probabilities (a float tensor of the logits' shape).
///
/// With class indices this is the library's fused kernel: value and gradient
/// in one sweep, `f32`, `f64`, `bf16` and `f16` logits (the value is `f32`
/// for 16-bit logits, the gradient in the logits' dtype). With probabilities
/// it is the registry's `torch:cross_entropy` (gradients of the logits, the
/// targets and the weight). A drop-in for `candle_nn::loss::cross_entropy(&logits, &targets)`
/// with `&CrossEntropyOptions::default()`.
///
/// # Errors
/// losslab's: a class index out of range that is not `ignore_index`, shapes
/// that do not fit, `label_smoothing` outside `[0, 1]`, a weight of the wrong
/// length; a tensor not on the CPU; logits that are not float.
///
/// # Examples
/// ```
/// use candle_core::{Device, Tensor, Var};
/// use losslab_candle::{cross_entropy, CrossEntropyOptions, Reduction};
/// # fn main() -> candle_core::Result<()> {
/// let dev = Device::Cpu;
/// let logits = Var::new(&[[0.0f32, 0.0], [1.0, 1.0]], &dev)?;
/// let labels = Tensor::new(&[1i64, 0], &dev)?;
/// let ce = cross_entropy(logits.as_tensor(), &labels, &CrossEntropyOptions::default())?;
/// assert!((ce.to_scalar::<f32>()? - 2f32.ln()).abs() < 1e-7);
/// // softmax − one-hot, over 2 samples (the mean): ±0.25
/// let g = ce.backward()?.get(&logits).unwrap().to_vec2::<f32>()?;
/// assert_eq!(g, [[0.25, -0.25], [-0.25, 0.25]]);
///
/// // Ignored samples, one loss per sample.
/// let options = CrossEntropyOptions { ignore_index: 0, reduction: Reduction::None, ..Default::default() };
/// let per_sample = cross_entropy(logits.as_tensor(), &labels, &options)?;
/// assert_eq!(per_sample.to_vec1::<f32>()?[1], 0.0);
/// # Ok(())
/// # }
/// ```
pub fn cross_entropy(logits: &Tensor, targets: &Tensor, options: &CrossEntropyOptions) -> Result<Tensor> {
    check_cpu(CE, "input", logits)?;
    check_cpu(CE, "target", targets)?;
    if let Some(w) = &options.weight {
        check_cpu(CE, "weight", w)?;
    }
    if targets.dtype().is_float() {
        // Class probabilities: the registry's general path.
        let o = LossOptions::new()
            .set("ignore_index", options.ignore_index)
            .set("label_smoothing", options.label_smoothing)
            .reduction(options.reduction);
        let mut tensors = vec![("input", logits), ("target", targets)];
        if let Some(w) = &options.weight {
            tensors.push(("weight", w));
        }
        return loss(CE, &tensors, &o);
    }
    if !matches!(logits.dtype(), DType::F32 | DType::F64 | DType::BF16 | DType::F16) {
        return Err(logits_dtype_error(logits.dtype()));
    }
    let mut ce = CrossEntropyLoss::new()
        .reduction(options.reduction)
        .ignore_index(options.ignore_index)
        .label_smoothing(options.label_smoothing);
    if let Some(w) = &options.weight {
        check_dtype(CE, "weight", w.dtype())?;
        if w.rank() != 1 {
            return Err(msg(format!("{CE}: `weight` has shape {:?}, expected 1-D (one weight per class)", w.dims())));
        }
        let w = w.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        ce = ce.weight(ndarray::ArrayView1::from(&w[..]));
    }
    let op = CrossEntropyOp { loss: ce, want_grad: logits.track_op(), grad: Mutex::new(None) };
    logits.contiguous()?.apply_op2(&targets.contiguous()?, op)
}

/// The options of [`nll`]: PyTorch's `nll_loss` arguments, with its defaults.
#[derive(Debug, Clone)]
pub struct NllOptions {
    /// One weight per class, shape `(C,)` (default none: all 1).
    pub weight: Option<Tensor>,
    /// The class index whose samples are ignored (default −100).
    pub ignore_index: i64,
    /// The reduction (default [`Reduction::Mean`]).
    pub reduction: Reduction,
}

impl Default for NllOptions {
    fn default() -> Self {
        NllOptions { weight: None, ignore_index: -100, reduction: Reduction::Mean }
    }
}

/// Negative log-likelihood, PyTorch's `nll_loss`: `log_probs` of shape
/// `(N, C)`, `(N, C, d1, ...)` or `(C,)`, `targets` integer class indices. A
/// drop-in for `candle_nn::loss::nll` with `&NllOptions::default()`.
///
/// # Errors
/// As [`loss`] for `torch:nll_loss`.
pub fn nll(log_probs: &Tensor, targets: &Tensor, options: &NllOptions) -> Result<Tensor> {
    let o = LossOptions::new().set("ignore_index", options.ignore_index).reduction(options.reduction);
    let mut tensors = vec![("input", log_probs), ("target", targets)];
    if let Some(w) = &options.weight {
        tensors.push(("weight", w));
    }
    loss("torch:nll_loss", &tensors, &o)
}

/// Mean squared error, PyTorch's `mse_loss` (`input` and `target` broadcast
/// together; both differentiated). `Reduction::Mean` is `candle_nn::loss::mse`.
///
/// Two CPU tensors of one shape and one dtype (`f32` or `f64`), reduced by
/// `Mean` or `Sum`, run the library's fused kernel: one sweep writes the value
/// and the input's gradient (the target's is its negative, made only when
/// candle tracks the target). Anything else is the registry's `torch:mse_loss`.
///
/// # Errors
/// As [`loss`] for `torch:mse_loss`.
pub fn mse(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    let fused = matches!(reduction, Reduction::Mean | Reduction::Sum)
        && input.device().is_cpu()
        && target.device().is_cpu()
        && input.dtype() == target.dtype()
        && matches!(input.dtype(), DType::F32 | DType::F64)
        && input.dims() == target.dims();
    if fused {
        let op = MseOp { loss: MseLoss::new().reduction(reduction), want_grad: input.track_op() || target.track_op(), grad: Mutex::new(None) };
        // As they are: the kernel reads any layout (one sweep for contiguous tensors).
        return input.apply_op2(target, op);
    }
    loss(MSE, &[("input", input), ("target", target)], &LossOptions::new().reduction(reduction))
}

/// Mean absolute error, PyTorch's `l1_loss`.
///
/// # Errors
/// As [`loss`] for `torch:l1_loss`.
pub fn l1(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    loss("torch:l1_loss", &[("input", input), ("target", target)], &LossOptions::new().reduction(reduction))
}

/// PyTorch's `smooth_l1_loss`: quadratic below `beta` (divided by `beta`),
/// linear above (`beta = 0` is L1).
///
/// # Errors
/// As [`loss`] for `torch:smooth_l1_loss` (a negative `beta`, ...).
pub fn smooth_l1(input: &Tensor, target: &Tensor, beta: f64, reduction: Reduction) -> Result<Tensor> {
    let o = LossOptions::new().set("beta", beta).reduction(reduction);
    loss("torch:smooth_l1_loss", &[("input", input), ("target", target)], &o)
}

/// PyTorch's `huber_loss`: `½ d²` below `delta`, `delta (|d| − ½ delta)`
/// above. `Reduction::Mean` is `candle_nn::loss::huber`.
///
/// # Errors
/// As [`loss`] for `torch:huber_loss` (`delta ≤ 0`, ...).
pub fn huber(input: &Tensor, target: &Tensor, delta: f64, reduction: Reduction) -> Result<Tensor> {
    let o = LossOptions::new().set("delta", delta).reduction(reduction);
    loss("torch:huber_loss", &[("input", input), ("target", target)], &o)
}

/// The options of [`binary_cross_entropy_with_logits`]: PyTorch's arguments.
#[derive(Debug, Clone, Default)]
pub struct BceWithLogitsOptions {
    /// A weight per element, broadcast to the input's shape (default none).
    pub weight: Option<Tensor>,
    /// A weight of the positive term, broadcast to the input's shape
    /// (typically one per class, `(C,)`; default none).
    pub pos_weight: Option<Tensor>,
    /// The reduction (default [`Reduction::Mean`], PyTorch's).
    pub reduction: Reduction,
}

/// PyTorch's `binary_cross_entropy_with_logits`, computed stably (finite for
/// logits of any size, where `candle_nn::loss::binary_cross_entropy_with_logit`,
/// which it replaces with `&BceWithLogitsOptions::default()`, takes the log of
/// a sigmoid that rounds to 0 or 1).
///
/// # Errors
/// As [`loss`] for `torch:binary_cross_entropy_with_logits`.
pub fn binary_cross_entropy_with_logits(input: &Tensor, target: &Tensor, options: &BceWithLogitsOptions) -> Result<Tensor> {
    let mut tensors = vec![("input", input), ("target", target)];
    if let Some(w) = &options.weight {
        tensors.push(("weight", w));
    }
    if let Some(w) = &options.pos_weight {
        tensors.push(("pos_weight", w));
    }
    loss("torch:binary_cross_entropy_with_logits", &tensors, &LossOptions::new().reduction(options.reduction))
}

/// PyTorch's `kl_div`: `input` log-probabilities, `target` probabilities (or
/// log-probabilities with `log_target`); `Reduction::BatchMean` is the
/// mathematical KL divergence of a batch (PyTorch's default is `Mean`).
///
/// # Errors
/// As [`loss`] for `torch:kl_div`.
pub fn kl_div(input: &Tensor, target: &Tensor, log_target: bool, reduction: Reduction) -> Result<Tensor> {
    let o = LossOptions::new().set("log_target", log_target).reduction(reduction);
    loss("torch:kl_div", &[("input", input), ("target", target)], &o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, DeviceLocation, Var};

    #[test]
    fn a_gpu_tensor_gets_an_error_naming_its_device() {
        let e = convert::device_error(CE, "input", DeviceLocation::Cuda { gpu_id: 1 }).unwrap().to_string();
        assert!(e.starts_with("torch:cross_entropy: `input` is on the CUDA device 1; losslab computes on the CPU only"), "{e}");
        let e = convert::device_error("keras:hinge", "y_pred", DeviceLocation::Metal { gpu_id: 0 }).unwrap().to_string();
        assert!(e.contains("`y_pred` is on the Metal device 0"), "{e}");
        assert!(convert::device_error(CE, "input", DeviceLocation::Cpu).is_none());
    }

    /// More than `max_direct` differentiated tensors are packed into one
    /// argument: the same values and gradients as three direct arguments.
    #[test]
    fn packed_arguments_give_the_same_gradients() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::new(&[0.3f64, -1.2, 2.0, 0.7], &dev)?;
        let y = Var::new(&[0.1f64, -1.0, 1.5, 0.0], &dev)?;
        let v = Var::new(&[[0.5f64, 1.5], [0.8, 2.0]], &dev)?.reshape(4)?;
        let v = Var::from_tensor(&v)?;
        let w = Tensor::new(&[1.0f64, -2.0, 0.5, 3.0], &dev)?;
        let tensors = [("input", x.as_tensor()), ("target", y.as_tensor()), ("var", v.as_tensor())];
        for reduction in [Reduction::Mean, Reduction::None] {
            let o = LossOptions::new().reduction(reduction);
            let mut results = Vec::new();
            for max_direct in [3, 2, 0] {
                let l = loss_with("torch:gaussian_nll_loss", &tensors, &o, max_direct)?;
                let l = if reduction == Reduction::None { (l * &w)?.sum_all()? } else { l };
                let g = l.backward()?;
                let flat = |t: &Var| g.get(t).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
                results.push((l.to_scalar::<f64>()?, flat(&x), flat(&y), flat(&v)));
            }
            assert_eq!(results[0], results[1]);
            assert_eq!(results[0], results[2]);
        }
        Ok(())
    }
}
