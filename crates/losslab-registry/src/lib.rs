//! Every loss of [`losslab`] by its reference framework's own name: the
//! catalog of losses with their tensor arguments, options, defaults and the
//! tensors they differentiate, and [`evaluate`], the dynamic call that checks a
//! request against a loss's [`LossSpec`] and computes its value and gradients.
//! No I/O: the front ends (the `losslab` command line, a Python package,
//! framework adapters) read and write the tensors, and share this one catalog.
//!
//! A loss is named `framework:name` (`torch:cross_entropy`,
//! `tf:softmax_cross_entropy_with_logits`, `scipy:entropy`); an unqualified
//! name means the first framework in [`Framework::ALL`]'s order that has it
//! (`cross_entropy` is `torch:cross_entropy`, `entropy` is `scipy:entropy`).
//!
//! Tensors, options and their defaults are the reference's own. All float
//! tensors of one evaluation share one dtype (`float32` or `float64`), and the
//! computation runs in it. Integer tensors are accepted where the reference
//! accepts them: class indices ([`TensorKind::Int`]), and floats that the
//! reference promotes from integers ([`TensorKind::Promoted`]: PyTorch's
//! `mse_loss` target, Keras's `y_true`, ...), converted to the evaluation's
//! dtype and never differentiated.
//!
//! A request's tensors are [`TensorArg`]s: owned [`Tensor`]s moved in, or
//! views of the caller's own arrays, which every loss reads in place (the
//! Python package lends NumPy's buffers this way, the benchmark its inputs):
//! an evaluation allocates its result and gradients, not copies of its inputs.
//!
//! Every failure is an [`Error`] with the message a person can act on and an
//! [`ErrorKind`] a front end maps to its own error types.
//!
//! # Examples
//! ```
//! use losslab_registry::{evaluate, EvalRequest, OptionValue, Tensor};
//! use ndarray::arr1;
//!
//! let mut request = EvalRequest::default();
//! request.tensors.insert("input".into(), Tensor::F64(arr1(&[0.0, 3.0]).into_dyn()).into());
//! request.tensors.insert("target".into(), Tensor::F64(arr1(&[0.0, 0.0]).into_dyn()).into());
//! request.options.insert("beta".into(), OptionValue::Float(1.0));
//! request.want_grads = true;
//! let e = evaluate("smooth_l1_loss", request).unwrap();
//! assert_eq!(e.loss, "torch:smooth_l1_loss");
//! assert_eq!(e.value, Tensor::F64(ndarray::arr0(1.25).into_dyn()));
//! assert_eq!(e.grads["input"], Tensor::F64(arr1(&[0.0, 0.5]).into_dyn()));
//!
//! // PyTorch promotes an integer target to the input's dtype: so does the registry
//! // (and it has no gradient).
//! let mut request = EvalRequest { want_grads: true, ..EvalRequest::default() };
//! request.tensors.insert("input".into(), Tensor::F32(arr1(&[0.5f32, 3.0]).into_dyn()).into());
//! request.tensors.insert("target".into(), Tensor::I64(arr1(&[0, 2]).into_dyn()).into());
//! let e = evaluate("mse_loss", request).unwrap();
//! assert_eq!(e.value, Tensor::F32(ndarray::arr0(0.625f32).into_dyn()));
//! assert_eq!(e.grads.keys().collect::<Vec<_>>(), ["input"]);
//!
//! // Errors carry a kind.
//! let err = losslab_registry::resolve("mse").unwrap_err();
//! assert_eq!(err.kind(), losslab_registry::ErrorKind::UnknownLoss);
//! assert_eq!(err.to_string(), "unknown loss `mse`: did you mean torch:mse_loss? (`losslab list` shows every loss)");
//! ```
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

mod call;
mod error;
mod tensor;
mod classification;
mod detseg;
mod ctc;
mod embedding;
mod information;
mod likelihood_margin;
mod kerasoptax;
mod options;
mod regression;
mod contrastive;
mod generative;
mod preference;
mod metric;
mod tokens;
mod vocabulary;
mod policy;
pub mod samples;
pub mod paths;

pub use error::{Error, ErrorKind, Result};
pub use options::{Name, OptionType, OptionValue};
pub use tensor::{Dtype, FloatElement, Tensor, TensorArg};

use error::{error, fail};
use call::{Call, Output};
use losslab::Reduction;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A reference framework whose names the registry speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Framework {
    /// PyTorch (`torch.nn.functional`).
    Torch,
    /// torchvision (`torchvision.ops`).
    Torchvision,
    /// torchaudio (`torchaudio.functional`).
    Torchaudio,
    /// TensorFlow (`tf.nn`).
    Tf,
    /// Keras (`keras.losses`).
    Keras,
    /// optax (`optax.losses`).
    Optax,
    /// SciPy (`scipy.stats`, `scipy.special`).
    Scipy,
    /// Hugging Face TRL (`trl.trainer`): preference optimisation, policy
    /// gradients and distillation, as its trainers compute their losses.
    Trl,
    /// OpenCLIP (`open_clip.loss`): contrastive image-text pretraining.
    OpenClip,
    /// pytorch-metric-learning (`pytorch_metric_learning.losses`): deep metric
    /// learning, the losses as its loss objects compute them.
    Pml,
    /// Hugging Face diffusers (`diffusers.training_utils`): diffusion training's noise-level weightings.
    Diffusers,
    /// losslab's own functions (information theory).
    Losslab,
}

impl Framework {
    /// Every framework, in the order an unqualified loss name is looked up.
    pub const ALL: [Framework; 12] = [
        Framework::Torch,
        Framework::Torchvision,
        Framework::Torchaudio,
        Framework::Tf,
        Framework::Keras,
        Framework::Optax,
        Framework::Scipy,
        Framework::Trl,
        Framework::OpenClip,
        Framework::Pml,
        Framework::Diffusers,
        Framework::Losslab,
    ];

    /// The prefix of qualified names: `"torch"`, `"tf"`, ...
    pub fn name(self) -> &'static str {
        match self {
            Framework::Torch => "torch",
            Framework::Torchvision => "torchvision",
            Framework::Torchaudio => "torchaudio",
            Framework::Tf => "tf",
            Framework::Keras => "keras",
            Framework::Optax => "optax",
            Framework::Scipy => "scipy",
            Framework::Trl => "trl",
            Framework::OpenClip => "open_clip",
            Framework::Pml => "pml",
            Framework::Diffusers => "diffusers",
            Framework::Losslab => "losslab",
        }
    }

    /// The framework called `name`.
    pub fn from_name(name: &str) -> Option<Framework> {
        Framework::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What element type a tensor must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorKind {
    /// `float32` or `float64` (the evaluation's dtype); an integer tensor is
    /// refused, as the reference refuses it.
    Float,
    /// Float, or integers that the reference promotes to the evaluation's
    /// float dtype (PyTorch's type promotion of an integer target, Keras's cast of
    /// `y_true` to `y_pred`'s dtype, `jnp`'s promotion): an integer tensor is
    /// converted (exactly up to 2⁵³; `float32` rounds to nearest) and has no
    /// gradient, as integer tensors have none in the references.
    Promoted,
    /// Integer (class indices).
    Int,
    /// Either: the loss behaves differently for each (class indices or probabilities).
    Either,
}

impl TensorKind {
    /// `"float"`, `"float (int promoted)"`, `"int"` or `"int or float"`.
    pub fn name(self) -> &'static str {
        match self {
            TensorKind::Float => "float",
            TensorKind::Promoted => "float (int promoted)",
            TensorKind::Int => "int",
            TensorKind::Either => "int or float",
        }
    }
}

/// A tensor argument of a loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorSpec {
    /// The argument's name in the reference (`input`, `target`, `logits`, ...).
    pub name: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// Its element type.
    pub kind: TensorKind,
    /// One line on what it holds and its shape.
    pub doc: &'static str,
}

/// An option (hyper-parameter) of a loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// The argument's name in the reference (`ignore_index`, `beta`, ...).
    pub key: &'static str,
    /// Its type.
    pub ty: OptionType,
    /// The default, written as the reference shows it (`-100`, `1.0`, `None`, `False`).
    pub default: &'static str,
    /// One line on what it does.
    pub doc: &'static str,
}

impl OptionSpec {
    /// The default as a value.
    pub fn default_value(&self) -> OptionValue {
        // Checked by a unit test for every option of the catalog.
        self.default.parse::<OptionValue>().ok().and_then(|v| self.ty.coerce(v).ok()).unwrap_or(OptionValue::None)
    }
}

/// The computation of a loss, once per float type.
#[derive(Clone, Copy)]
struct Eval {
    f32: fn(&Call<'_, f32>) -> Result<Output<f32>>,
    f64: fn(&Call<'_, f64>) -> Result<Output<f64>>,
}

/// `Eval` of a function generic over the element type.
macro_rules! eval {
    ($f:path) => {
        $crate::Eval { f32: $f, f64: $f }
    };
}
use eval;

/// A loss of the catalog: its names, arguments, defaults and computation.
#[derive(Clone, Copy)]
pub struct LossSpec {
    /// The framework whose name, arguments and defaults it follows.
    pub framework: Framework,
    /// The name within the framework (`cross_entropy`).
    pub name: &'static str,
    /// One line on what it computes.
    pub summary: &'static str,
    /// Its tensor arguments, in the reference's order.
    pub tensors: &'static [TensorSpec],
    /// Its options, in the reference's order.
    pub options: &'static [OptionSpec],
    /// The reduction applied when none is asked for: `Some(Mean)` for PyTorch's
    /// losses; `None` for functions without a reduction argument (TensorFlow,
    /// SciPy, losslab's information functions), which return their own output.
    pub default_reduction: Option<Reduction>,
    /// The tensors the reference differentiates (when given, and float).
    pub grads: &'static [&'static str],
    eval: Eval,
}

impl fmt::Debug for LossSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LossSpec")
            .field("framework", &self.framework)
            .field("name", &self.name)
            .field("tensors", &self.tensors)
            .field("options", &self.options)
            .field("default_reduction", &self.default_reduction)
            .field("grads", &self.grads)
            .finish_non_exhaustive()
    }
}

impl LossSpec {
    /// `framework:name`.
    pub fn qualified_name(&self) -> String {
        format!("{}:{}", self.framework, self.name)
    }

    /// The tensor argument called `name`.
    pub fn tensor(&self, name: &str) -> Option<&'static TensorSpec> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The option called `key`.
    pub fn option(&self, key: &str) -> Option<&'static OptionSpec> {
        self.options.iter().find(|o| o.key == key)
    }

    /// Evaluates this loss (see [`evaluate`]).
    ///
    /// # Errors
    /// As [`evaluate`].
    pub fn evaluate(&'static self, request: EvalRequest<'_>) -> Result<Evaluation> {
        evaluate_spec(self, request)
    }

    /// Checks that this loss has a tensor argument called `name`.
    ///
    /// # Errors
    /// If it has not; the message lists the tensors it has.
    pub fn check_tensor_name(&self, name: &str) -> Result<()> {
        if self.tensor(name).is_none() {
            fail!(UnknownTensor, "{} has no tensor `{name}`; its tensors are {}", self.qualified_name(), self.tensor_list());
        }
        Ok(())
    }

    fn tensor_list(&self) -> String {
        self.tensors
            .iter()
            .map(|t| if t.required { t.name.to_string() } else { format!("{} (optional)", t.name) })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn option_list(&self) -> String {
        if self.options.is_empty() {
            return "it has no options".to_string();
        }
        let list = self.options.iter().map(|o| format!("{} ({}, default {})", o.key, o.ty, o.default)).collect::<Vec<_>>().join(", ");
        format!("its options are {list}")
    }
}

/// Every loss of the catalog, grouped by framework in [`Framework::ALL`]'s order.
pub fn catalog() -> &'static [LossSpec] {
    static CATALOG: std::sync::OnceLock<Vec<LossSpec>> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut all: Vec<LossSpec> =
            [
                regression::LOSSES,
                classification::LOSSES,
                information::LOSSES,
                likelihood_margin::LOSSES,
                kerasoptax::LOSSES,
                detseg::LOSSES,
                ctc::LOSSES,
                embedding::LOSSES,
                contrastive::LOSSES,
                generative::LOSSES,
                preference::LOSSES,
                metric::LOSSES,
                tokens::LOSSES,
                vocabulary::LOSSES,
                policy::LOSSES,
            ]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        // Stable: within a framework, the order the modules list them in.
        all.sort_by_key(|s| s.framework);
        all
    })
}

/// The loss called `name`: `framework:name` exactly, or an unqualified name's
/// first framework in [`Framework::ALL`]'s order.
///
/// # Errors
/// For an unknown framework or loss; the message suggests close names.
///
/// # Examples
/// ```
/// use losslab_registry::resolve;
/// assert_eq!(resolve("cross_entropy").unwrap().qualified_name(), "torch:cross_entropy");
/// assert_eq!(resolve("losslab:cross_entropy").unwrap().qualified_name(), "losslab:cross_entropy");
/// let err = resolve("mse").unwrap_err().to_string();
/// assert!(err.contains("did you mean torch:mse_loss?"), "{err}");
/// ```
pub fn resolve(name: &str) -> Result<&'static LossSpec> {
    let found = match name.split_once(':') {
        Some((fw, short)) => {
            let Some(framework) = Framework::from_name(fw) else {
                let names: Vec<_> = Framework::ALL.iter().map(|f| f.name()).collect();
                fail!(UnknownLoss, "unknown framework `{fw}` in loss name `{name}`: expected one of {}", names.join(", "));
            };
            catalog().iter().find(|s| s.framework == framework && s.name == short)
        }
        None => catalog().iter().find(|s| s.name == name),
    };
    found.ok_or_else(|| {
        let hint = suggestions(name);
        if hint.is_empty() {
            error!(UnknownLoss, "unknown loss `{name}` (`losslab list` shows every loss)")
        } else {
            error!(UnknownLoss, "unknown loss `{name}`: did you mean {}? (`losslab list` shows every loss)", hint.join(" or "))
        }
    })
}

/// Qualified names close to `name` (edit distance or substring), closest first.
fn suggestions(name: &str) -> Vec<String> {
    let query = name.rsplit(':').next().unwrap_or(name).to_ascii_lowercase();
    let mut scored: Vec<(usize, bool, String)> = catalog()
        .iter()
        .filter_map(|s| {
            let d = levenshtein(&query, s.name);
            let close = d <= (query.len() / 3).max(1);
            let contains = query.len() >= 3 && (s.name.contains(query.as_str()) || query.contains(s.name));
            (close || contains).then(|| (d, !contains, s.qualified_name()))
        })
        .collect();
    scored.sort();
    // Names containing the query, and the closest by edit distance (within one
    // more edit than the best): `msee_loss` suggests mse_loss, not dice_loss.
    let best = scored.iter().map(|s| s.0).min().unwrap_or(0);
    scored.into_iter().filter(|(d, far, _)| !far || *d <= best + 1).take(4).map(|(_, _, n)| n).collect()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// What to evaluate: tensors by argument name, options, and what to return.
///
/// The tensors are [`TensorArg`]s: owned [`Tensor`]s moved in (`tensor.into()`)
/// or views of arrays the caller keeps (`array.view().into()`, or
/// [`Tensor::view`]), which are read in place: a front end holding the caller's
/// buffers (NumPy arrays, candle storage) hands them over without a copy.
#[derive(Debug, Clone, Default)]
pub struct EvalRequest<'a> {
    /// The tensor arguments by name (`input`, `target`, ...).
    pub tensors: BTreeMap<String, TensorArg<'a>>,
    /// Options by name; the ones not given take the reference's defaults.
    pub options: BTreeMap<String, OptionValue>,
    /// The reduction; `None` means the loss's [`default_reduction`](LossSpec::default_reduction).
    pub reduction: Option<Reduction>,
    /// The gradient flowing into the result (the result's shape, the
    /// evaluation's dtype); `None` means ones.
    pub grad_output: Option<TensorArg<'a>>,
    /// Whether to compute gradients.
    pub want_grads: bool,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The loss evaluated.
    pub spec: &'static LossSpec,
    /// Its qualified name (`torch:cross_entropy`).
    pub loss: String,
    /// The reduction applied; `None` when the loss returned its own output
    /// (a function without a reduction argument, none asked for).
    pub reduction: Option<Reduction>,
    /// The dtype of the computation, the result and the gradients.
    pub dtype: Dtype,
    /// The result.
    pub value: Tensor,
    /// `∂(Σ grad_output · result)/∂tensor` for each differentiable float tensor
    /// given (with `grad_output` = ones by default: the gradient of a scalar
    /// result, or of the sum of a tensor result), by tensor name; empty unless
    /// gradients were asked for.
    pub grads: BTreeMap<String, Tensor>,
    /// The loss's other outputs, by name, where it has them (empty for most):
    /// `torch:linear_cross_entropy`'s `z_loss` (always) and, when asked for by
    /// its options, `lse`, `entropy` and `predicted` (one per token);
    /// `losslab:vae_elbo`'s per-sample `reconstruction_loss` and `kl` (unreduced);
    /// `diffusers:min_snr_loss`'s per-timestep `snr` and `weights` (compute_snr's float32 values);
    /// `torch:adaptive_log_softmax_with_loss`'s per-sample `output` (the module's `.output`:
    /// each target's log-probability).
    /// `trl:dpo_loss`'s and `trl:cpo_loss`'s per-pair `chosen_rewards` and `rejected_rewards`
    /// (TRL's logged rewards, detached: `β·(π − ref)` for DPO, `β·π` or AlphaPO's `β·R(π)` for CPO);
    /// `trl:odds_ratio_loss`'s per-pair `chosen_rewards`, `rejected_rewards` (`β·π`), `log_odds_ratio`
    /// (`log σ(log_odds)`) and `log_odds_chosen` (`log_odds`), whose means TRL returns;
    /// `trl:kto_loss`'s `chosen_rewards` (`(B_c,)`) and `rejected_rewards` (`(B_r,)`), `β·(π − ref)`
    /// detached, and `kl` (0-d: the clamped, detached KL estimate; 0 for apo_zero_unpaired);
    /// `trl:grpo_loss`'s statistics as `GRPOTrainer` logs them (0-d, TRL's names with `/`
    /// written `_`): `clip_ratio_low_mean`, `clip_ratio_high_mean`, `clip_ratio_region_mean`,
    /// `clip_ratio_low_min`, `clip_ratio_high_max` (the clipped loss types: grpo, bnpo,
    /// dr_grpo, dapo, luspo; float32 values, as TRL computes them), `cispo_clip_ratio`
    /// (cispo), `vespo_phi_seq_mean` (vespo) and `kl` (the mean KL term, when `beta ≠ 0`).
    pub outputs: BTreeMap<String, Tensor>,
}

/// Evaluates the loss called `loss` (see [`resolve`]) on `request`.
///
/// # Errors
/// An unknown loss, tensor or option; a missing required tensor; an option
/// value of the wrong type; an integer tensor where a float one is required or
/// the reverse; float tensors of different dtypes; a `grad_output` of another
/// shape than the result's; and every error of the loss itself
/// ([`losslab::LossError`], passed through with its message).
pub fn evaluate(loss: &str, request: EvalRequest<'_>) -> Result<Evaluation> {
    evaluate_spec(resolve(loss)?, request)
}

fn evaluate_spec(spec: &'static LossSpec, request: EvalRequest<'_>) -> Result<Evaluation> {
    let qname = spec.qualified_name();
    let EvalRequest { tensors, options, reduction, grad_output, want_grads } = request;

    // Tensors: known names, required ones present, element kinds, one float dtype.
    for name in tensors.keys() {
        spec.check_tensor_name(name)?;
    }
    for t in spec.tensors.iter().filter(|t| t.required) {
        if !tensors.contains_key(t.name) {
            fail!(MissingTensor, "{qname} needs tensor `{}` ({}); its tensors are {}", t.name, t.doc, spec.tensor_list());
        }
    }
    let mut dtype: Option<(Dtype, &str)> = None;
    for ts in spec.tensors {
        let Some(t) = tensors.get(ts.name) else { continue };
        let d = t.dtype();
        match (ts.kind, d.is_float()) {
            (TensorKind::Float, false) => {
                fail!(Dtype, "{qname}: `{}` has dtype {d}, expected float32 or float64", ts.name)
            }
            (TensorKind::Int, true) => {
                fail!(Dtype, "{qname}: `{}` has dtype {d}, expected integer class indices (int32 or int64)", ts.name)
            }
            _ => {}
        }
        if d.is_float() {
            match dtype {
                None => dtype = Some((d, ts.name)),
                Some((d0, n0)) if d0 != d => fail!(
                    Dtype,
                    "{qname}: `{}` has dtype {d}, expected {d0} (the dtype of `{n0}`: all float tensors must be float32, or all float64)",
                    ts.name
                ),
                Some(_) => {}
            }
        }
    }
    let Some((dtype, _)) = dtype else {
        fail!(Dtype, "{qname}: expected at least one float tensor, found none; its tensors are {}", spec.tensor_list());
    };
    if let Some(g) = &grad_output {
        if g.dtype() != dtype {
            fail!(Dtype, "{qname}: `grad_output` has dtype {}, expected {dtype} (the dtype of the tensors)", g.dtype());
        }
    }

    // Options: known keys, values of the declared type, defaults for the rest.
    for key in options.keys() {
        if spec.option(key).is_none() {
            fail!(UnknownOption, "{qname} has no option `{key}`; {}", spec.option_list());
        }
    }
    let mut resolved = BTreeMap::new();
    for o in spec.options {
        let v = match options.get(o.key) {
            Some(&v) => o.ty.coerce(v).map_err(|e| error!(Option, "{qname}: option `{}` = {v} is invalid: {e}", o.key))?,
            None => o.default_value(),
        };
        resolved.insert(o.key, v);
    }

    let reduction = reduction.or(spec.default_reduction);
    let (value, grads, outputs) = match dtype {
        Dtype::Float32 => run::<f32>(spec, tensors, resolved, reduction, grad_output, want_grads, spec.eval.f32)?,
        Dtype::Float64 => run::<f64>(spec, tensors, resolved, reduction, grad_output, want_grads, spec.eval.f64)?,
        Dtype::Int64 => unreachable!("the dtype of float tensors"),
    };
    Ok(Evaluation { spec, loss: qname, reduction, dtype, value, grads, outputs })
}

#[allow(clippy::too_many_arguments)]
fn run<T: FloatElement>(
    spec: &'static LossSpec,
    tensors: BTreeMap<String, TensorArg<'_>>,
    options: BTreeMap<&'static str, OptionValue>,
    reduction: Option<Reduction>,
    grad_output: Option<TensorArg<'_>>,
    want_grads: bool,
    f: fn(&Call<'_, T>) -> Result<Output<T>>,
) -> Result<(Tensor, BTreeMap<String, Tensor>, BTreeMap<String, Tensor>)> {
    let mut floats = BTreeMap::new();
    let mut ints = BTreeMap::new();
    let mut promoted = BTreeSet::new();
    for (name, t) in tensors {
        let ts = spec.tensor(&name).expect("checked");
        match t {
            #[allow(clippy::cast_precision_loss)]
            TensorArg::I64(a) if ts.kind == TensorKind::Promoted => {
                floats.insert(ts.name, a.mapv(|v| T::from_wide(v as f64)).into());
                promoted.insert(ts.name);
            }
            TensorArg::I64(a) => {
                ints.insert(ts.name, a);
            }
            t => {
                floats.insert(ts.name, T::from_arg(t).expect("dtype checked"));
            }
        }
    }
    let grad_output = grad_output.map(|g| T::from_arg(g).expect("dtype checked"));
    let call = Call { spec, floats, ints, options, reduction, grad_output, want_grads };
    let out = f(&call)?;
    let grads = out
        .grads
        .into_iter()
        .filter(|(name, _)| spec.grads.contains(name) && call.floats.contains_key(name) && !promoted.contains(name))
        .map(|(name, g)| (name.to_string(), T::into_tensor(g)))
        .collect();
    let outputs = out.aux.into_iter().map(|(name, t)| (name.to_string(), t)).collect();
    Ok((T::into_tensor(out.value), grads, outputs))
}

/// A required float tensor.
const fn float(name: &'static str, doc: &'static str) -> TensorSpec {
    TensorSpec { name, required: true, kind: TensorKind::Float, doc }
}

/// A required float tensor the reference also takes as integers (promoted).
const fn promoted(name: &'static str, doc: &'static str) -> TensorSpec {
    TensorSpec { name, required: true, kind: TensorKind::Promoted, doc }
}

/// An optional float tensor the reference also takes as integers (promoted).
const fn opt_promoted(name: &'static str, doc: &'static str) -> TensorSpec {
    TensorSpec { name, required: false, kind: TensorKind::Promoted, doc }
}

/// An optional float tensor.
const fn opt_float(name: &'static str, doc: &'static str) -> TensorSpec {
    TensorSpec { name, required: false, kind: TensorKind::Float, doc }
}

/// A required tensor of class indices.
const fn int(name: &'static str, doc: &'static str) -> TensorSpec {
    TensorSpec { name, required: true, kind: TensorKind::Int, doc }
}

/// An option.
const fn opt(key: &'static str, ty: OptionType, default: &'static str, doc: &'static str) -> OptionSpec {
    OptionSpec { key, ty, default, doc }
}
