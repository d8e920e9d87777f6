//! `losslab bench`: times a loss's forward pass and forward + backward, beside
//! the machine's limits measured in the same process (memory read and
//! read-modify-write bandwidth, exp throughput), and the memory the call takes.
//!
//! Every loss `losslab list` shows is timed through the registry, as `losslab
//! eval` runs it: valid random inputs from the loss's recipe
//! ([`losslab_registry::samples`]) of a default shape of a few million elements
//! (`--shape` sets the recipe's sizes, `--scale` scales the batch), the forward
//! pass (no gradients), and the forward + backward that allocates every gradient
//! the registry computes per call, as a reference's autograd does. The inputs
//! are copied for each call outside the timed region (the registry takes its
//! tensors by value). `--save-inputs DIR` writes the tensors as `.npy` files so
//! that a peer runs on the same data (`scripts/bench/catalog.py`).
//!
//! With `--fused` (or `--dtype bf16|f16`) the fused kernels are timed directly,
//! as before: softmax cross entropy (`cross_entropy`, class indices) forward,
//! forward + backward into a buffer and in place, and the element-wise losses
//! (`mse_loss`, …, `sigmoid_focal_loss`) forward and `forward_backward_into`
//! on a vector (two reads and one write per element). Their roofline is
//! `min(rmw_bandwidth / (2 · size), exp_per_s)` elements per second for cross
//! entropy, `rmw_bandwidth / (3 · size)` (and the exp bound only for BCE with
//! logits and the focal loss) for an element-wise loss.
//!
//! `linear_cross_entropy` (the LM head) has its own benchmark ([`super::bench_lm`]):
//! `--shape NxDxV`, FLOP/s beside the f32 FMA peak measured in the same process.
//!
//! Every figure is the median of `--reps` timed runs after `--warmup` runs.
//! The timed calls run as a training loop does (the allocator reusing its free
//! memory). Peak memory is taken on one more call of each kind: the allocator's
//! free memory given back (`malloc_trim`, one arena), the resident set's
//! high-water mark (`VmHWM`) reset through `/proc/self/clear_refs`, its growth
//! over the resident set just before the call added to the inputs' bytes.

use crate::npy;
use anyhow::{bail, Context, Result};
use losslab_registry::{paths, samples, Dtype, EvalRequest, LossSpec, Tensor};
use losslab::{BinaryCrossEntropyWithLogits, CrossEntropyLoss, Float, HuberLoss, L1Loss, MseLoss, Reduction, SigmoidFocalLoss, SmoothL1Loss};
use ndarray::{Array1, Array2};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// The flags of `losslab bench`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  losslab bench nll_loss                          # the default shape, f32, text
  losslab bench keras:hinge --shape 4096x64 --json
  losslab bench ctc_loss --scale 0.25 --save-inputs /tmp/ctc   # inputs as .npy for a peer
  losslab bench gaussian_nll_loss --grad input --grad var --json
  losslab bench cross_entropy --fused --shape 8192x32000 --dtype bf16   # the fused kernel itself
  losslab bench linear_cross_entropy --shape 4096x1024x32000 --json     # the LM head: GFLOP/s beside the FMA peak")]
pub struct BenchArgs {
    /// The loss: any name `losslab list` shows, qualified (`keras:hinge`) or not
    /// (the first framework's, as `eval` resolves it). With `--fused`:
    /// `cross_entropy` (class indices) or an element-wise loss (`mse_loss`,
    /// `l1_loss`, `smooth_l1_loss`, `huber_loss`, `binary_cross_entropy_with_logits`,
    /// `sigmoid_focal_loss` with torchvision's α = 0.25, γ = 2, mean-reduced).
    pub loss: String,
    /// The sizes of the loss's input recipe joined by `x` (`N`, `NxC`, `TxNxCxS` for
    /// CTC: the text output and `--json`'s `dims_names` say which); default: a few
    /// million elements (CTC 200x32x50x40, multi_margin_loss 4096x1000, pairs 1048576x16).
    /// With `--fused`: `ROWSxCLASSES` for cross entropy (default 8192x32000), the
    /// number of elements for an element-wise loss (`1e8`).
    #[arg(long)]
    pub shape: Option<String>,
    /// Multiplies the default shape's batch size (`0.25`: a quarter of the rows).
    #[arg(long, conflicts_with = "shape")]
    pub scale: Option<f64>,
    /// The element type: f32 or f64; with `--fused` cross_entropy also bf16 or f16
    /// (the half-precision kernels: half logits and gradient, computed in f32).
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// A tensor whose gradient is counted (repeat for several); default: every
    /// float tensor the registry differentiates (the files `eval --grad-dir` writes).
    /// The registry computes all of them; this chooses those reported and whose
    /// bytes count as gradients (what the peer differentiates).
    #[arg(long = "grad", value_name = "NAME")]
    pub grad: Vec<String>,
    /// Write the generated tensors to DIR as NAME.npy (created if missing).
    #[arg(long, value_name = "DIR")]
    pub save_inputs: Option<PathBuf>,
    /// The seed of the generated inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Time the fused kernels directly (cross entropy and the six element-wise losses).
    #[arg(long)]
    pub fused: bool,
    /// The number of threads (default: rayon's, one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON object instead of text: the tensors (names, shapes, dtypes, which
    /// are differentiated), `fwd_s` and `fwd_bwd_s`, elements/s, peak memory, and the
    /// bandwidth and exp throughput measured in this process.
    #[arg(long)]
    pub json: bool,
    /// Timed runs per measurement (the median is reported).
    #[arg(long, default_value_t = 7)]
    pub reps: usize,
    /// Untimed runs before them.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// The size of the buffer of the bandwidth tests, in MiB (far larger than the caches).
    #[arg(long, default_value_t = 1024)]
    pub mem_mib: usize,
}

impl BenchArgs {
    /// The flags for `loss` with every default (as clap gives them).
    pub fn new(loss: &str) -> BenchArgs {
        BenchArgs {
            loss: loss.to_string(),
            shape: None,
            scale: None,
            dtype: "f32".into(),
            grad: vec![],
            save_inputs: None,
            seed: 0,
            fused: false,
            threads: None,
            json: false,
            reps: 7,
            warmup: 2,
            mem_mib: 1024,
        }
    }
}

/// One tensor of a bench run.
#[derive(Debug, Clone, Serialize)]
pub struct TensorInfo {
    /// Its argument name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// `float32`, `float64`, `int64`, `bfloat16`, `float16`.
    pub dtype: String,
    /// Whether its gradient is counted.
    pub differentiated: bool,
}

/// What `bench --json` prints.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// The loss's qualified name.
    pub loss: String,
    /// `registry` (as `eval` runs it) or `fused` (the kernel itself, `--fused`).
    pub mode: &'static str,
    /// The path the loss takes ([`losslab_registry::paths`]): `fused element-wise`, `general`, ...
    pub path: &'static str,
    /// When the fused path applies, or why the loss is on the general path.
    pub path_note: &'static str,
    /// The recipe's sizes (`--shape`) and their names (`N×C`).
    pub dims: Vec<usize>,
    /// The names of `dims`, joined by `×`.
    pub dims_names: &'static str,
    /// The seed of the inputs.
    pub seed: u64,
    /// The options set beyond the loss's defaults.
    pub options: BTreeMap<String, String>,
    /// Every tensor given to the loss.
    pub tensors: Vec<TensorInfo>,
    /// The tensors whose gradients are counted.
    pub differentiated: Vec<String>,
    /// The gradients the call computed (the registry computes every one it differentiates).
    pub computed_grads: Vec<String>,
    /// Bytes of every input tensor.
    pub input_bytes: u64,
    /// Bytes of the counted gradients.
    pub grad_bytes: u64,
    /// The most the resident set grew during one timed call over what it was
    /// just before it (its inputs already resident); `null` where `/proc` cannot tell.
    pub call_peak_extra_bytes: Option<u64>,
    /// `input_bytes + call_peak_extra_bytes`: the call's peak memory.
    pub peak_bytes: Option<u64>,
    /// `peak_bytes / (input_bytes + grad_bytes)`.
    pub peak_over_inputs_and_grads: Option<f64>,
    /// The process's peak resident set (`VmHWM`) during the timed runs, bytes.
    pub process_peak_rss_bytes: Option<u64>,
    /// The shape of the largest float input (the one `elements` counts).
    pub shape: Vec<usize>,
    /// The element type (`f32`, `f64`, `bf16`, `f16`).
    pub dtype: String,
    /// Threads used.
    pub threads: usize,
    /// The instruction set of the f32 kernels.
    pub isa: &'static str,
    /// Timed runs per figure.
    pub reps: usize,
    /// Elements of the input.
    pub elements: usize,
    /// Median seconds of the forward pass.
    pub fwd_s: f64,
    /// Median seconds of forward + backward into a separate gradient buffer.
    pub fwd_bwd_s: f64,
    /// Median seconds of forward + backward in place; `null` without an in-place mode.
    pub fwd_bwd_inplace_s: Option<f64>,
    /// Input elements per second, forward.
    pub fwd_elems_per_s: f64,
    /// Input elements per second, forward + backward into a buffer.
    pub fwd_bwd_elems_per_s: f64,
    /// Input elements per second, forward + backward in place.
    pub fwd_bwd_inplace_elems_per_s: Option<f64>,
    /// Memory read bandwidth, GB/s (10⁹ bytes).
    pub mem_read_gbps: f64,
    /// In-place read-modify-write bandwidth, GB/s, bytes read plus bytes written.
    pub mem_rmw_gbps: f64,
    /// Vectorised f32 exp throughput on all threads, per second (from cache).
    pub exp_per_s: f64,
    /// `min(mem_rmw_gbps · 10⁹ / (2 · element size), exp_per_s)`: elements per
    /// second (`3 · element size`, and no exp bound but for BCE with logits, for
    /// an element-wise loss).
    pub roofline_elems_per_s: f64,
    /// The fused forward + backward (in place where it can) over the roofline.
    pub roofline_fraction: f64,
    /// The forward pass over the read bandwidth in elements.
    pub fwd_read_fraction: f64,
    /// Bytes the forward + backward moves per second (in place where it can),
    /// GB/s. Registry mode: every input read once and every counted gradient
    /// written once. Fused: `2 · size` per element for cross entropy, `3 · size`
    /// for an element-wise loss (input and target read, gradient written).
    pub fwd_bwd_gbps: f64,
    /// `fwd_bwd_gbps / mem_rmw_gbps`: the share of the bandwidth the forward + backward reaches.
    pub bandwidth_fraction: f64,
}

/// Runs `losslab bench`.
///
/// # Errors
/// For an unknown loss, a bad shape, dtype or `--grad`, or a failed write.
pub fn run(args: &BenchArgs, out: &mut dyn Write) -> Result<ExitCode> {
    if args.reps == 0 {
        bail!("--reps must be at least 1");
    }
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    if let Some(s) = args.scale {
        if !(s.is_finite() && s > 0.0) {
            bail!("--scale must be a number > 0, got {s}");
        }
    }
    // The LM head has its own benchmark: FLOP/s beside the FMA peak (bench_lm).
    if losslab_registry::resolve(&args.loss).is_ok_and(|s| s.qualified_name() == "torch:linear_cross_entropy") {
        super::bench_lm::run(args, out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let half = matches!(args.dtype.as_str(), "bf16" | "bfloat16" | "f16" | "float16");
    let fused = args.fused || half;
    if fused && (!args.grad.is_empty() || args.save_inputs.is_some() || args.scale.is_some()) {
        bail!("--grad, --save-inputs and --scale time the loss through the registry: they do not go with --fused or --dtype bf16/f16");
    }
    if !fused {
        one_arena();
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("cannot start the thread pool")?;
    let report = pool.install(|| {
        if !fused {
            return match args.dtype.as_str() {
                "f32" | "float32" => measure_registry(args, Dtype::Float32),
                "f64" | "float64" => measure_registry(args, Dtype::Float64),
                d => bail!("unsupported --dtype `{d}`: expected f32, f64, bf16 or f16 (bf16 and f16: the fused cross_entropy kernel only)"),
            };
        }
        match args.dtype.as_str() {
            "f32" | "float32" => measure::<f32>(args),
            "f64" | "float64" => measure::<f64>(args),
            "bf16" | "bfloat16" => measure_half::<losslab::half::bf16>(args, "bf16"),
            "f16" | "float16" => measure_half::<losslab::half::f16>(args, "f16"),
            d => bail!("unsupported --dtype `{d}`: expected f32, f64, bf16 or f16"),
        }
    })?;
    if args.json {
        serde_json::to_writer(&mut *out, &report).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        write_text(&report, out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_text(r: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    let g = |v: f64| format!("{:.3} × 10⁹", v / 1e9);
    let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
    writeln!(out, "{} ({} path: {}), {} mode", r.loss, r.path, r.path_note, r.mode)?;
    writeln!(out, "  {} = {}, {}, {} thread(s), {} kernels, median of {}", r.dims_names, join_dims(&r.dims), r.dtype, r.threads, r.isa, r.reps)?;
    for t in &r.tensors {
        let d = if t.differentiated { "  (differentiated)" } else { "" };
        writeln!(out, "  tensor {:<18} {:<16} {}{d}", t.name, format!("{:?}", t.shape), t.dtype)?;
    }
    for (k, v) in &r.options {
        writeln!(out, "  option {k} = {v}")?;
    }
    writeln!(out, "  forward                    {:>10.3} ms  {} elements/s  ({:.0}% of the read bandwidth)", r.fwd_s * 1e3, g(r.fwd_elems_per_s), 100.0 * r.fwd_read_fraction)?;
    writeln!(out, "  forward + backward         {:>10.3} ms  {} elements/s  ({:.1} GB/s moved, {:.0}% of the bandwidth)", r.fwd_bwd_s * 1e3, g(r.fwd_bwd_elems_per_s), r.fwd_bwd_gbps, 100.0 * r.bandwidth_fraction)?;
    if let (Some(s), Some(e)) = (r.fwd_bwd_inplace_s, r.fwd_bwd_inplace_elems_per_s) {
        writeln!(out, "  forward + backward in place{:>10.3} ms  {} elements/s", s * 1e3, g(e))?;
    }
    match (r.peak_bytes, r.peak_over_inputs_and_grads) {
        (Some(p), Some(f)) => writeln!(out, "  peak memory                {:>10}  ({:.2}× inputs {} + gradients {})", mb(p), f, mb(r.input_bytes), mb(r.grad_bytes))?,
        _ => writeln!(out, "  peak memory                (not measurable here: no /proc/self/status)")?,
    }
    writeln!(out, "limits measured now:")?;
    writeln!(out, "  memory read                {:>8.1} GB/s", r.mem_read_gbps)?;
    writeln!(out, "  memory read-modify-write   {:>8.1} GB/s", r.mem_rmw_gbps)?;
    writeln!(out, "  exp (f32, vectorised)      {} /s", g(r.exp_per_s))?;
    writeln!(out, "  roofline                   {} elements/s; reached {:.0}%", g(r.roofline_elems_per_s), 100.0 * r.roofline_fraction)
}

pub(crate) fn join_dims(d: &[usize]) -> String {
    d.iter().map(ToString::to_string).collect::<Vec<_>>().join("x")
}

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`).
pub(crate) fn proc_status_bytes(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = s.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

/// The memory a call takes beyond what is resident before it: the high-water
/// mark is reset (`/proc/self/clear_refs`), then read after the call.
pub(crate) struct MemProbe {
    /// Whether the high-water mark could be reset (otherwise it is the process's since its start).
    resets: bool,
    /// The most any call grew the resident set.
    pub(crate) extra: Option<u64>,
}

impl MemProbe {
    pub(crate) fn new() -> MemProbe {
        MemProbe { resets: true, extra: Some(0) }
    }

    /// The resident set before a call, the high-water mark reset to it. Free
    /// memory the allocator keeps is given back first, so that the call's own
    /// allocations show as growth rather than reuse.
    pub(crate) fn before(&mut self) -> Option<u64> {
        trim_heap();
        if self.resets {
            self.resets = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        }
        proc_status_bytes("VmRSS")
    }

    pub(crate) fn after(&mut self, before: Option<u64>) {
        let grown = match (before, proc_status_bytes("VmHWM")) {
            (Some(b), Some(h)) if self.resets => Some(h.saturating_sub(b)),
            _ => None,
        };
        self.extra = match (self.extra, grown) {
            (Some(e), Some(g)) => Some(e.max(g)),
            _ => None,
        };
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" {
    fn malloc_trim(pad: usize) -> std::ffi::c_int;
    fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
}

/// Gives the C allocator's free memory back to the system (glibc's `malloc_trim`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn trim_heap() {
    // SAFETY: glibc's malloc_trim only releases free memory; any pad is valid.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn trim_heap() {}

/// One malloc arena for every thread (glibc's `M_ARENA_MAX` = 1), set before
/// the thread pool starts: `malloc_trim` cannot give back the free top of a
/// thread's own arena, which would hide a call's allocations from the
/// high-water mark (the same as `MALLOC_ARENA_MAX=1`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn one_arena() {
    const M_ARENA_MAX: std::ffi::c_int = -8;
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        mallopt(M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn one_arena() {}

/// Whether `bytes` fit in the memory available, as an error naming them if not.
pub(crate) fn check_fits(what: &str, bytes: u128) -> Result<()> {
    if let Some(avail) = available_bytes() {
        if bytes > avail as u128 {
            let gib = |b: u128| b as f64 / f64::from(1u32 << 30);
            bail!("{what} needs about {:.1} GiB, more than the {:.1} GiB this machine has available", gib(bytes), gib(avail as u128));
        }
    }
    Ok(())
}

fn tensor_bytes(t: &Tensor) -> u64 {
    let size = match t.dtype() {
        Dtype::Float32 => 4,
        Dtype::Float64 | Dtype::Int64 => 8,
    };
    t.len() as u64 * size
}

/// The registry's timing of any loss: its recipe's inputs, `eval`'s call.
fn measure_registry(args: &BenchArgs, dtype: Dtype) -> Result<BenchReport> {
    let spec: &'static LossSpec = losslab_registry::resolve(&args.loss)?;
    let q = spec.qualified_name();
    let recipe = samples::recipe(spec).with_context(|| format!("{q} has no input recipe (losslab_registry::samples)"))?;
    let dims = match &args.shape {
        Some(s) => parse_shape(s)?,
        None => recipe.scaled_dims(args.scale.unwrap_or(1.0)),
    };
    if dims.len() != recipe.default.len() {
        bail!("bad --shape `{}`: {q} takes {} ({} size(s) joined by x, default {})", args.shape.as_deref().unwrap_or(""), recipe.dims, recipe.default.len(), join_dims(recipe.default));
    }
    // Generation holds an f64 copy of the largest tensor; inputs (lent to each call) and gradients: a bound.
    let elements: u128 = dims.iter().map(|&d| d as u128).product();
    let elements = if recipe.dims.starts_with("T×N×C×S") { elements / dims[3].max(1) as u128 } else { elements };
    check_fits(&format!("{q} on {} = {}", recipe.dims, join_dims(&dims)), elements * 8 * 8)?;
    let tensors = samples::sample_inputs(spec, &dims, dtype, args.seed).map_err(|e| anyhow::anyhow!("bad --shape: {e}"))?;
    let options = samples::sample_options(spec);

    // The gradients counted: --grad, checked, or every float tensor the registry differentiates.
    let floats: Vec<&str> = tensors.iter().filter(|(_, t)| t.dtype().is_float()).map(|(n, _)| *n).collect();
    let differentiable: Vec<&str> = spec.grads.iter().copied().filter(|g| floats.contains(g)).collect();
    let differentiated: Vec<String> = if args.grad.is_empty() {
        differentiable.iter().map(ToString::to_string).collect()
    } else {
        let mut chosen = Vec::new();
        for g in &args.grad {
            spec.check_tensor_name(g)?;
            if !differentiable.contains(&g.as_str()) {
                bail!("--grad {g}: {q} does not differentiate `{g}` (it differentiates {})", differentiable.join(", "));
            }
            if !chosen.contains(g) {
                chosen.push(g.clone());
            }
        }
        chosen
    };

    if let Some(dir) = &args.save_inputs {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create --save-inputs directory `{}`", dir.display()))?;
        for (name, t) in &tensors {
            npy::write(&dir.join(format!("{name}.npy")), t)?;
        }
    }

    let infos: Vec<TensorInfo> = tensors
        .iter()
        .map(|(n, t)| TensorInfo { name: n.to_string(), shape: t.shape().to_vec(), dtype: t.dtype().name().to_string(), differentiated: differentiated.iter().any(|d| d == n) })
        .collect();
    let input_bytes: u64 = tensors.iter().map(|(_, t)| tensor_bytes(t)).sum();
    let grad_bytes: u64 = tensors.iter().filter(|(n, _)| differentiated.iter().any(|d| d == n)).map(|(_, t)| tensor_bytes(t)).sum();
    let (main_shape, main_len) =
        tensors.iter().filter(|(_, t)| t.dtype().is_float()).map(|(_, t)| (t.shape().to_vec(), t.len())).max_by_key(|(_, l)| *l).expect("a float tensor");
    let inputs: BTreeMap<String, Tensor> = tensors.into_iter().map(|(n, t)| (n.to_string(), t)).collect();

    // The inputs are lent (views), as the Python and candle front ends lend their
    // callers' buffers: every call reads them in place.
    let request = |want_grads: bool| EvalRequest {
        tensors: inputs.iter().map(|(n, t)| (n.clone(), t.view())).collect(),
        options: options.clone(),
        want_grads,
        ..EvalRequest::default()
    };
    // One call to check the inputs and learn the gradients computed.
    let first = spec.evaluate(request(true)).with_context(|| format!("{q} refused its generated inputs"))?;
    let computed_grads: Vec<String> = first.grads.keys().cloned().collect();
    drop(first);

    // The timed calls run as a training loop does, the allocator reusing its free
    // memory; the memory is measured on one more call of each kind, the free memory
    // given back first so that the call's allocations show.
    let timed = |want_grads: bool| -> Result<f64> {
        let mut t = Vec::with_capacity(args.reps);
        for i in 0..args.warmup + args.reps {
            let req = request(want_grads);
            let start = Instant::now();
            let e = spec.evaluate(req)?;
            let s = start.elapsed().as_secs_f64();
            drop(std::hint::black_box(e));
            if i >= args.warmup {
                t.push(s);
            }
        }
        t.sort_by(f64::total_cmp);
        Ok(t[t.len() / 2])
    };
    let fwd_s = timed(false)?;
    let fwd_bwd_s = timed(true)?;
    let mut mem = MemProbe::new();
    for want_grads in [false, true] {
        let req = request(want_grads);
        let before = mem.before();
        let e = spec.evaluate(req)?;
        mem.after(before);
        drop(e);
    }
    let process_peak = proc_status_bytes("VmHWM");
    drop(inputs);

    let extra = mem.extra;
    let path = paths::path(spec);
    let moved = (input_bytes + grad_bytes) as f64;
    let e = main_len as f64;
    let fwd_read_bytes = input_bytes as f64 / e;
    let info = Extra {
        mode: "registry",
        path: path.map_or("unknown", |p| p.kind.name()),
        path_note: path.map_or("missing from losslab_registry::paths", |p| p.note),
        dims,
        dims_names: recipe.dims,
        seed: args.seed,
        options: options.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
        tensors: infos,
        differentiated,
        computed_grads,
        input_bytes,
        grad_bytes,
        call_extra: extra,
        process_peak,
    };
    let dtype = if dtype == Dtype::Float32 { "f32" } else { "f64" };
    Ok(report(
        args,
        Timings { loss: q, shape: main_shape, dtype, elements: main_len, fwd_s, fwd_bwd_s, inplace_s: None, fb_bytes: moved / e, fwd_bytes: fwd_read_bytes, exp_bound: false },
        info,
    ))
}

/// Parses `8192x32000`, `1e8` or `100000000`.
pub(crate) fn parse_shape(s: &str) -> Result<Vec<usize>> {
    s.split(['x', 'X', '×'])
        .map(|d| {
            let d = d.trim();
            d.parse::<usize>()
                .ok()
                .or_else(|| d.parse::<f64>().ok().filter(|v| *v >= 0.0 && v.fract() == 0.0 && *v < 1e15).map(|v| v as usize))
                .with_context(|| format!("bad --shape `{s}`: `{d}` is not a size (expected sizes joined by x, such as 8192x32000, or a number of elements such as 1e8)"))
        })
        .collect()
}

/// The number of elements of `dims` (`--shape`), once it is known that
/// `buffers` buffers of that many `size`-byte elements can be allocated: the
/// count and the bytes do not overflow, and they fit in the memory this machine
/// has available (`MemAvailable` of `/proc/meminfo`, where it can be read).
fn elements_that_fit(shape: &str, dims: &[usize], buffers: usize, size: usize, dtype: &str) -> Result<usize> {
    let too_large = || format!("--shape `{shape}` is too large: its element count overflows");
    let elements = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).with_context(too_large)?;
    if elements == 0 {
        bail!("--shape `{shape}` has no elements");
    }
    let bytes = elements.checked_mul(buffers * size).filter(|&b| b <= isize::MAX as usize).with_context(too_large)?;
    if let Some(avail) = available_bytes() {
        if bytes > avail {
            let gib = |b: usize| b as f64 / f64::from(1u32 << 30);
            bail!(
                "--shape `{shape}` needs {:.1} GiB ({buffers} buffers of {elements} {dtype} elements), more than the {:.1} GiB this machine has available",
                gib(bytes),
                gib(avail)
            );
        }
    }
    Ok(elements)
}

/// `MemAvailable` of `/proc/meminfo`, in bytes (`None` where it cannot be read).
fn available_bytes() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: usize = info.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// The median of `reps` timed runs after `warmup` runs of `f`, in seconds.
pub(crate) fn time(warmup: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// The class labels of `n` rows of `c` classes for the cross-entropy runs:
/// spread over the classes by a multiplicative hash of the row.
fn ce_labels(n: usize, c: usize) -> Array1<i64> {
    Array1::from_shape_fn(n, |i| ((i as u64).wrapping_mul(2_654_435_761) % c as u64) as i64)
}

/// Fills a buffer with pseudo-random values in `[-4, 4)`, in parallel.
fn fill<T: Float>(v: &mut [T], seed: u64) {
    fill_with(v, seed, T::from_wide);
}

/// [`fill`] for any element type, given its conversion from `f64`.
fn fill_with<T: Send>(v: &mut [T], seed: u64, from_f64: impl Fn(f64) -> T + Sync) {
    v.par_chunks_mut(1 << 16).enumerate().for_each(|(i, c)| {
        let mut s = seed ^ ((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for x in c {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *x = from_f64((s >> 11) as f64 / (1u64 << 53) as f64 * 8.0 - 4.0);
        }
    });
}

/// The chunk the bandwidth tests hand each task (fixed, independent of the thread count).
const CHUNK: usize = 1 << 16;

/// Read bandwidth: a vectorisable sum over `buf` (16 independent lanes).
fn read_gbps(buf: &[f32], warmup: usize, reps: usize) -> f64 {
    let s = time(warmup, reps, || {
        let total: f32 = buf
            .par_chunks(CHUNK)
            .map(|c| {
                let mut acc = [0f32; 16];
                let mut it = c.chunks_exact(16);
                for v in &mut it {
                    for (a, x) in acc.iter_mut().zip(v) {
                        *a += x;
                    }
                }
                acc.iter().sum::<f32>() + it.remainder().iter().sum::<f32>()
            })
            .sum();
        std::hint::black_box(total);
    });
    std::mem::size_of_val(buf) as f64 / s / 1e9
}

/// Read-modify-write bandwidth: `x = x · a + b` in place (bytes read + written).
fn rmw_gbps(buf: &mut [f32], warmup: usize, reps: usize) -> f64 {
    let s = time(warmup, reps, || {
        buf.par_chunks_mut(CHUNK).for_each(|c| {
            for x in c {
                *x = *x * 0.5 + 0.25;
            }
        });
    });
    2.0 * std::mem::size_of_val(buf) as f64 / s / 1e9
}

/// Exp throughput of the fused kernels' vectorised exp, on every thread, from cache.
fn exp_per_s(warmup: usize, reps: usize) -> f64 {
    let threads = rayon::current_num_threads();
    let block: Vec<f32> = (0..4096).map(|i| -((i % 97) as f32) * 0.25).collect();
    let per_task = 256;
    let s = time(warmup, reps, || {
        let total: f64 = (0..threads * 4).into_par_iter().map(|_| (0..per_task / 4).map(|_| losslab::sum_exp(&block, 0.0)).sum::<f64>()).sum();
        std::hint::black_box(total);
    });
    (threads * per_task / 4 * 4 * block.len()) as f64 / s
}

fn measure<T: Float>(args: &BenchArgs) -> Result<BenchReport> {
    let name = args.loss.rsplit(':').next().unwrap_or(&args.loss);
    let shape_arg = args.shape.clone().unwrap_or_else(|| if name == "cross_entropy" { "8192x32000".into() } else { "4194304".into() });
    let shape = parse_shape(&shape_arg)?;
    let (w, r) = (args.warmup, args.reps);
    let mut mem = MemProbe::new();
    let (loss, fwd_s, fwd_bwd_s, inplace_s, elements) = match name {
        "cross_entropy" => {
            let [n, c] = shape[..] else { bail!("cross_entropy takes --shape ROWSxCLASSES, got `{}`", shape_arg) };
            // The logits and the gradient.
            let elements = elements_that_fit(&shape_arg, &shape, 2, std::mem::size_of::<T>(), &args.dtype)?;
            let mut x = Array2::<T>::zeros((n, c));
            fill(x.as_slice_mut().expect("standard layout"), 1);
            let y = ce_labels(n, c);
            let mut g = Array2::<T>::zeros((n, c));
            let ce = CrossEntropyLoss::new();
            let before = mem.before();
            let fwd = time(w, r, || {
                std::hint::black_box(ce.forward(x.view(), y.view()).expect("valid"));
            });
            let fb = time(w, r, || {
                std::hint::black_box(ce.forward_backward_into(x.view(), y.view(), g.view_mut()).expect("valid"));
            });
            let ip = time(w, r, || {
                std::hint::black_box(ce.forward_backward_inplace(x.view_mut(), y.view()).expect("valid"));
            });
            mem.after(before);
            ("torch:cross_entropy".to_string(), fwd, fb, Some(ip), elements)
        }
        "mse_loss" | "l1_loss" | "smooth_l1_loss" | "huber_loss" | "binary_cross_entropy_with_logits" | "sigmoid_focal_loss" => {
            let [n] = shape[..] else { bail!("{name} takes --shape ELEMENTS (a vector), got `{}`", shape_arg) };
            // The input, the target and the gradient.
            let elements = elements_that_fit(&shape_arg, &shape, 3, std::mem::size_of::<T>(), &args.dtype)?;
            let mut x = Array1::<T>::zeros(n);
            fill(x.as_slice_mut().expect("contiguous"), 1);
            let mut y = Array1::<T>::zeros(n);
            fill(y.as_slice_mut().expect("contiguous"), 3);
            let mut g = Array1::<T>::zeros(n);
            macro_rules! timed {
                ($l:expr) => {{
                    let l = $l;
                    let fwd = time(w, r, || {
                        std::hint::black_box(l.forward(x.view(), y.view()).expect("valid"));
                    });
                    let fb = time(w, r, || {
                        std::hint::black_box(l.forward_backward_into(x.view(), y.view(), g.view_mut()).expect("valid"));
                    });
                    (fwd, fb)
                }};
            }
            let before = mem.before();
            let (fwd, fb) = match name {
                "mse_loss" => timed!(MseLoss::new()),
                "l1_loss" => timed!(L1Loss::new()),
                "smooth_l1_loss" => timed!(SmoothL1Loss::new()),
                "huber_loss" => timed!(HuberLoss::new()),
                "sigmoid_focal_loss" => timed!(SigmoidFocalLoss::new().reduction(Reduction::Mean)),
                _ => timed!(BinaryCrossEntropyWithLogits::new()),
            };
            mem.after(before);
            let src = if name == "sigmoid_focal_loss" { "torchvision" } else { "torch" };
            (format!("{src}:{name}"), fwd, fb, None, elements)
        }
        other => bail!(
            "`losslab bench` does not know the loss `{other}`: expected cross_entropy, mse_loss, l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy_with_logits or sigmoid_focal_loss"
        ),
    };
    let elementwise = name != "cross_entropy";
    let size = std::mem::size_of::<T>() as f64;
    // Bytes per element of the fused forward + backward, and of the forward.
    let (fb_bytes, fwd_bytes) = if elementwise { (3.0 * size, 2.0 * size) } else { (2.0 * size, size) };
    let exp_bound = !elementwise || matches!(name, "binary_cross_entropy_with_logits" | "sigmoid_focal_loss");
    let dtype = if size == 4.0 { "f32" } else { "f64" };
    let info = Extra::fused(&loss, &shape, dtype, elementwise, size as u64, mem);
    Ok(report(args, Timings { loss, shape, dtype, elements, fwd_s, fwd_bwd_s, inplace_s, fb_bytes, fwd_bytes, exp_bound }, info))
}

/// What one loss's timing run found, and what its roofline counts.
struct Timings<'a> {
    loss: String,
    shape: Vec<usize>,
    dtype: &'a str,
    elements: usize,
    fwd_s: f64,
    fwd_bwd_s: f64,
    inplace_s: Option<f64>,
    /// Bytes moved per element by the fused forward + backward, and by the forward.
    fb_bytes: f64,
    fwd_bytes: f64,
    /// Whether the loss takes an exp per element (its roofline is then bound by exp/s too).
    exp_bound: bool,
}

/// What a report says beyond the timings: the run's inputs and memory.
struct Extra {
    mode: &'static str,
    path: &'static str,
    path_note: &'static str,
    dims: Vec<usize>,
    dims_names: &'static str,
    seed: u64,
    options: BTreeMap<String, String>,
    tensors: Vec<TensorInfo>,
    differentiated: Vec<String>,
    computed_grads: Vec<String>,
    input_bytes: u64,
    grad_bytes: u64,
    /// The most a call grew the resident set.
    call_extra: Option<u64>,
    process_peak: Option<u64>,
}

impl Extra {
    /// A fused-mode run: the logits (or input and target) and one gradient, the
    /// gradient buffer allocated before the timed calls.
    fn fused(loss: &str, shape: &[usize], dtype: &str, elementwise: bool, size: u64, mem: MemProbe) -> Extra {
        let n: usize = shape.iter().product();
        let dt = match dtype {
            "f32" => "float32",
            "f64" => "float64",
            "bf16" => "bfloat16",
            _ => "float16",
        };
        let t = |name: &str, shape: Vec<usize>, dtype: &str, d: bool| TensorInfo { name: name.into(), shape, dtype: dtype.into(), differentiated: d };
        let (tensors, input_bytes) = if elementwise {
            (vec![t("input", shape.to_vec(), dt, true), t("target", shape.to_vec(), dt, false)], 2 * n as u64 * size)
        } else {
            (vec![t("input", shape.to_vec(), dt, true), t("target", shape[..1].to_vec(), "int64", false)], n as u64 * size + 8 * shape[0] as u64)
        };
        let spec = losslab_registry::resolve(loss).ok();
        let path = spec.and_then(paths::path);
        Extra {
            mode: "fused",
            path: path.map_or("unknown", |p| p.kind.name()),
            path_note: path.map_or("", |p| p.note),
            dims: shape.to_vec(),
            dims_names: if elementwise { "N" } else { "N×C" },
            seed: 1,
            options: BTreeMap::new(),
            tensors,
            differentiated: vec!["input".into()],
            computed_grads: vec!["input".into()],
            input_bytes,
            grad_bytes: n as u64 * size,
            call_extra: mem.extra,
            process_peak: proc_status_bytes("VmHWM"),
        }
    }
}

/// Measures the machine's limits in this process (once the loss's buffers are
/// freed) and sets the timings beside them.
fn report(args: &BenchArgs, t: Timings<'_>, x: Extra) -> BenchReport {
    let (w, r) = (args.warmup, args.reps);
    let words = (args.mem_mib.max(1) << 20) / 4;
    let mut buf = vec![0f32; words];
    fill(&mut buf, 2);
    let mem_read_gbps = read_gbps(&buf, w.max(1), r);
    let mem_rmw_gbps = rmw_gbps(&mut buf, w.max(1), r);
    drop(buf);
    let exp_per_s = exp_per_s(w.max(1), r);
    let exp_bound = if t.exp_bound { exp_per_s } else { f64::INFINITY };
    let roofline = (mem_rmw_gbps * 1e9 / t.fb_bytes).min(exp_bound);
    let e = t.elements as f64;
    let best_fb = t.inplace_s.unwrap_or(t.fwd_bwd_s);
    let peak = x.call_extra.map(|e| x.input_bytes + e);
    let fwd_bwd_gbps = e * t.fb_bytes / best_fb / 1e9;
    BenchReport {
        loss: t.loss,
        mode: x.mode,
        path: x.path,
        path_note: x.path_note,
        dims: x.dims,
        dims_names: x.dims_names,
        seed: x.seed,
        options: x.options,
        tensors: x.tensors,
        differentiated: x.differentiated,
        computed_grads: x.computed_grads,
        input_bytes: x.input_bytes,
        grad_bytes: x.grad_bytes,
        call_peak_extra_bytes: x.call_extra,
        peak_bytes: peak,
        peak_over_inputs_and_grads: peak.map(|p| p as f64 / (x.input_bytes + x.grad_bytes) as f64),
        process_peak_rss_bytes: x.process_peak,
        shape: t.shape,
        dtype: t.dtype.to_string(),
        threads: rayon::current_num_threads(),
        isa: losslab::kernel_isa(),
        reps: r,
        elements: t.elements,
        fwd_s: t.fwd_s,
        fwd_bwd_s: t.fwd_bwd_s,
        fwd_bwd_inplace_s: t.inplace_s,
        fwd_elems_per_s: e / t.fwd_s,
        fwd_bwd_elems_per_s: e / t.fwd_bwd_s,
        fwd_bwd_inplace_elems_per_s: t.inplace_s.map(|s| e / s),
        mem_read_gbps,
        mem_rmw_gbps,
        exp_per_s,
        roofline_elems_per_s: roofline,
        roofline_fraction: e / best_fb / roofline,
        fwd_read_fraction: e / t.fwd_s / (mem_read_gbps * 1e9 / t.fwd_bytes),
        fwd_bwd_gbps,
        bandwidth_fraction: fwd_bwd_gbps / mem_rmw_gbps,
    }
}

/// `measure` for cross entropy on half-precision logits (`--dtype bf16|f16`):
/// the logits and the gradient in the half type (2 bytes an element, which the
/// roofline counts), computed in f32.
fn measure_half<H: losslab::HalfFloat>(args: &BenchArgs, dtype: &str) -> Result<BenchReport> {
    let shape_arg = args.shape.clone().unwrap_or_else(|| "8192x32000".into());
    let shape = parse_shape(&shape_arg)?;
    let (w, r) = (args.warmup, args.reps);
    let name = args.loss.rsplit(':').next().unwrap_or(&args.loss);
    if name != "cross_entropy" {
        bail!("--dtype {dtype} is supported for cross_entropy only, not `{name}`");
    }
    let [n, c] = shape[..] else { bail!("cross_entropy takes --shape ROWSxCLASSES, got `{}`", shape_arg) };
    let elements = elements_that_fit(&shape_arg, &shape, 2, 2, dtype)?;
    let mut x = Array2::<H>::from_elem((n, c), H::default());
    fill_with(x.as_slice_mut().expect("standard layout"), 1, H::from_f64);
    let y = ce_labels(n, c);
    let mut g = Array2::<H>::from_elem((n, c), H::default());
    let ce = CrossEntropyLoss::new();
    let mut mem = MemProbe::new();
    let before = mem.before();
    let fwd_s = time(w, r, || {
        std::hint::black_box(ce.forward_half(x.view(), y.view()).expect("valid"));
    });
    let fwd_bwd_s = time(w, r, || {
        std::hint::black_box(ce.forward_backward_half_into(x.view(), y.view(), g.view_mut()).expect("valid"));
    });
    let inplace_s = time(w, r, || {
        std::hint::black_box(ce.forward_backward_half_inplace(x.view_mut(), y.view()).expect("valid"));
    });
    mem.after(before);
    drop((x, g));
    let size = 2.0;
    let loss = "torch:cross_entropy".to_string();
    let info = Extra::fused(&loss, &shape, dtype, false, 2, mem);
    Ok(report(args, Timings { loss, shape, dtype, elements, fwd_s, fwd_bwd_s, inplace_s: Some(inplace_s), fb_bytes: 2.0 * size, fwd_bytes: size, exp_bound: true }, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse() {
        assert_eq!(parse_shape("8192x32000").unwrap(), vec![8192, 32000]);
        assert_eq!(parse_shape("1e8").unwrap(), vec![100_000_000]);
        assert!(parse_shape("8192xabc").unwrap_err().to_string().contains("`abc` is not a size"));
    }

    #[test]
    fn shapes_that_cannot_be_allocated_are_errors() {
        let e = |dims: &[usize], buffers| elements_that_fit("S", dims, buffers, 4, "f32").unwrap_err().to_string();
        assert_eq!(e(&[usize::MAX, 2], 2), "--shape `S` is too large: its element count overflows");
        assert_eq!(e(&[1 << 40, 1 << 22], 2), "--shape `S` is too large: its element count overflows");
        assert_eq!(e(&[0, 7], 2), "--shape `S` has no elements");
        assert_eq!(elements_that_fit("S", &[8, 3], 2, 4, "f32").unwrap(), 24);
        if let Some(avail) = available_bytes() {
            let n = avail / 8 + 1;
            let msg = e(&[n], 2);
            assert!(msg.starts_with("--shape `S` needs ") && msg.contains(&format!("(2 buffers of {n} f32 elements), more than the ")), "{msg}");
        }
    }

    fn small(loss: &str) -> BenchArgs {
        BenchArgs { threads: Some(2), json: true, reps: 1, warmup: 0, mem_mib: 1, ..BenchArgs::new(loss) }
    }

    fn json(args: &BenchArgs) -> serde_json::Value {
        let mut out = Vec::new();
        run(args, &mut out).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn elementwise_losses_bench() {
        for loss in ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy_with_logits", "sigmoid_focal_loss"] {
            let v = json(&BenchArgs { shape: Some("1000".into()), fused: true, ..small(loss) });
            let src = if loss == "sigmoid_focal_loss" { "torchvision" } else { "torch" };
            assert_eq!(v["loss"], format!("{src}:{loss}"));
            assert_eq!(v["mode"], "fused");
            assert_eq!(v["shape"], serde_json::json!([1000]));
            assert!(v["fwd_bwd_inplace_elems_per_s"].is_null());
            assert!(v["fwd_bwd_elems_per_s"].as_f64().unwrap() > 0.0);
        }
        for dtype in ["bf16", "f16"] {
            // bf16/f16 take the fused kernel without --fused.
            let args = BenchArgs { shape: Some("3x100".into()), dtype: dtype.into(), ..small("cross_entropy") };
            let v = json(&args);
            assert_eq!(v["dtype"], dtype);
            assert_eq!(v["shape"], serde_json::json!([3, 100]));
            assert!(v["fwd_bwd_inplace_elems_per_s"].as_f64().unwrap() > 0.0);
            let args = BenchArgs { loss: "mse_loss".into(), shape: Some("10".into()), ..args };
            assert!(run(&args, &mut Vec::new()).unwrap_err().to_string().contains("cross_entropy only"));
        }
        let args = BenchArgs { shape: Some("10x10".into()), fused: true, ..small("mse_loss") };
        assert!(run(&args, &mut Vec::new()).unwrap_err().to_string().contains("ELEMENTS"));
    }

    #[test]
    fn any_loss_benches_through_the_registry() {
        let v = json(&BenchArgs { shape: Some("6x5".into()), ..small("keras:hinge") });
        assert_eq!(v["loss"], "keras:hinge");
        assert_eq!(v["mode"], "registry");
        assert_eq!(v["path"], "fused per-row");
        assert_eq!(v["dims"], serde_json::json!([6, 5]));
        assert_eq!(v["dims_names"], "N×C");
        assert_eq!(v["differentiated"], serde_json::json!(["y_pred", "y_true"]));
        assert_eq!(v["tensors"][0], serde_json::json!({"name": "y_true", "shape": [6, 5], "dtype": "float32", "differentiated": true}));
        assert_eq!(v["input_bytes"], 240);
        assert_eq!(v["grad_bytes"], 240);
        assert!(v["fwd_s"].as_f64().unwrap() > 0.0 && v["fwd_bwd_s"].as_f64().unwrap() > 0.0);
        assert!(v["mem_rmw_gbps"].as_f64().unwrap() > 0.0);
        // Integer tensors are given, never differentiated; --grad chooses among the float ones.
        let v = json(&BenchArgs { scale: Some(1e-4), grad: vec!["var".into()], dtype: "f64".into(), ..small("gaussian_nll_loss") });
        assert_eq!(v["differentiated"], serde_json::json!(["var"]));
        assert_eq!(v["computed_grads"], serde_json::json!(["input", "target", "var"]));
        assert_eq!(v["dtype"], "f64");
        let v = json(&BenchArgs { shape: Some("9x2x4x3".into()), ..small("ctc_loss") });
        assert_eq!(v["loss"], "torch:ctc_loss");
        assert_eq!(v["differentiated"], serde_json::json!(["log_probs"]));
        assert_eq!(v["tensors"][1]["dtype"], "int64");
        // The same inputs as .npy files.
        let dir = tempfile::tempdir().unwrap();
        json(&BenchArgs { shape: Some("4x3".into()), save_inputs: Some(dir.path().join("in")), ..small("nll_loss") });
        let t = crate::npy::read(&dir.path().join("in/target.npy")).unwrap();
        assert_eq!(t.dtype(), Dtype::Int64);
        assert_eq!(t.shape(), [4]);
        assert!(t.to_f64_vec().iter().all(|&c| (0.0..3.0).contains(&c)));
        assert_eq!(crate::npy::read(&dir.path().join("in/input.npy")).unwrap().shape(), [4, 3]);
    }

    #[test]
    fn bad_requests_are_errors() {
        let e = |args: BenchArgs| format!("{:#}", run(&args, &mut Vec::new()).unwrap_err());
        assert!(e(small("mse")).contains("unknown loss `mse`: did you mean torch:mse_loss?"));
        assert_eq!(e(BenchArgs { shape: Some("4x".into()), ..small("nll_loss") }), "bad --shape `4x`: `` is not a size (expected sizes joined by x, such as 8192x32000, or a number of elements such as 1e8)");
        assert_eq!(e(BenchArgs { shape: Some("4".into()), ..small("nll_loss") }), "bad --shape `4`: torch:nll_loss takes N×C (2 size(s) joined by x, default 16384x256)");
        assert_eq!(e(BenchArgs { shape: Some("4x1".into()), ..small("nll_loss") }), "bad --shape: torch:nll_loss: size C = 1 is too small (at least 2; the shape is N×C)");
        assert_eq!(e(BenchArgs { grad: vec!["target".into()], ..small("nll_loss") }), "--grad target: torch:nll_loss does not differentiate `target` (it differentiates input)");
        assert_eq!(e(BenchArgs { grad: vec!["nope".into()], ..small("nll_loss") }), "torch:nll_loss has no tensor `nope`; its tensors are input, target, weight (optional)");
        assert!(e(BenchArgs { scale: Some(0.0), ..small("nll_loss") }).contains("--scale must be a number > 0"));
        assert!(e(BenchArgs { dtype: "bf16".into(), ..small("nll_loss") }).contains("cross_entropy only"));
        assert!(e(BenchArgs { fused: true, grad: vec!["input".into()], ..small("mse_loss") }).contains("do not go with --fused"));
        assert!(e(BenchArgs { dtype: "i8".into(), ..small("mse_loss") }).contains("unsupported --dtype `i8`"));
    }
}
