//! `losslab bench`: times a loss's forward pass, forward + backward into a
//! separate gradient buffer, and forward + backward in place, beside the
//! machine's limits measured in the same process (memory read and
//! read-modify-write bandwidth, exp throughput).
//!
//! An element-wise loss (`mse_loss`, …, `sigmoid_focal_loss`) is timed on a
//! vector: forward (the mean), and forward + backward with the input's gradient written into a
//! buffer (`forward_backward_into`: two reads and one write per element). Its
//! roofline is `min(rmw_bandwidth / (3 · size), exp_per_s)` elements per second
//! (the exp bound only for BCE with logits and the focal loss), its forward's `read / (2 · size)`.
//!
//! Every figure is the median of `--reps` timed runs after `--warmup` runs.
//! Throughput is in elements (of the logits, or of the input) per second.
//! The roofline of a fused loss that reads each element once, writes its
//! gradient once and takes one exp of it is `min(rmw_bandwidth / (2 · size),
//! exp_per_s)` elements per second; `roofline_fraction` is the in-place
//! forward + backward's share of it (of the separate-buffer mode's for a loss
//! without an in-place mode).

use anyhow::{bail, Context, Result};
use losslab::{BinaryCrossEntropyWithLogits, CrossEntropyLoss, Float, HuberLoss, L1Loss, MseLoss, Reduction, SigmoidFocalLoss, SmoothL1Loss};
use ndarray::{Array1, Array2};
use rayon::prelude::*;
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

/// The flags of `losslab bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// The loss: `cross_entropy` (class-index targets), or an element-wise loss
    /// (`mse_loss`, `l1_loss`, `smooth_l1_loss`, `huber_loss`, `binary_cross_entropy_with_logits`,
    /// `sigmoid_focal_loss` with torchvision's α = 0.25, γ = 2, mean-reduced here).
    pub loss: String,
    /// The input's shape, `ROWSxCLASSES` for cross entropy (`8192x32000`), or
    /// the number of elements for an element-wise loss (`100000000`, `1e8`).
    #[arg(long, default_value = "8192x32000")]
    pub shape: String,
    /// The element type: f32 or f64; for cross_entropy also bf16 or f16 (the
    /// half-precision kernels: half logits and gradient, computed in f32).
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// The number of threads (default: rayon's, one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON object instead of text.
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

/// What `bench --json` prints.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// The loss's qualified name.
    pub loss: String,
    /// The input's shape.
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
    /// Bytes the fused forward + backward moves per second (in place where it
    /// can), GB/s: `2 · size` per element for cross entropy, `3 · size` for an
    /// element-wise loss (input and target read, gradient written).
    pub fwd_bwd_gbps: f64,
}

/// Runs `losslab bench`.
///
/// # Errors
/// For an unknown loss, a bad shape or dtype, or a failed write.
pub fn run(args: &BenchArgs, out: &mut dyn Write) -> Result<ExitCode> {
    if args.reps == 0 {
        bail!("--reps must be at least 1");
    }
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("cannot start the thread pool")?;
    let report = pool.install(|| match args.dtype.as_str() {
        "f32" | "float32" => measure::<f32>(args),
        "f64" | "float64" => measure::<f64>(args),
        "bf16" | "bfloat16" => measure_half::<losslab::half::bf16>(args, "bf16"),
        "f16" | "float16" => measure_half::<losslab::half::f16>(args, "f16"),
        d => bail!("unsupported --dtype `{d}`: expected f32, f64, bf16 or f16"),
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
    writeln!(out, "{} on {:?} {} ({} elements), {} thread(s), {} kernels, median of {}", r.loss, r.shape, r.dtype, r.elements, r.threads, r.isa, r.reps)?;
    writeln!(out, "  forward                    {:>10.3} ms  {} elements/s  ({:.0}% of the read bandwidth)", r.fwd_s * 1e3, g(r.fwd_elems_per_s), 100.0 * r.fwd_read_fraction)?;
    writeln!(out, "  forward + backward         {:>10.3} ms  {} elements/s", r.fwd_bwd_s * 1e3, g(r.fwd_bwd_elems_per_s))?;
    if let (Some(s), Some(e)) = (r.fwd_bwd_inplace_s, r.fwd_bwd_inplace_elems_per_s) {
        writeln!(out, "  forward + backward in place{:>10.3} ms  {} elements/s", s * 1e3, g(e))?;
    }
    writeln!(out, "limits measured now:")?;
    writeln!(out, "  memory read                {:>8.1} GB/s", r.mem_read_gbps)?;
    writeln!(out, "  memory read-modify-write   {:>8.1} GB/s", r.mem_rmw_gbps)?;
    writeln!(out, "  exp (f32, vectorised)      {} /s", g(r.exp_per_s))?;
    writeln!(out, "  roofline                   {} elements/s; reached {:.0}% ({:.1} GB/s moved)", g(r.roofline_elems_per_s), 100.0 * r.roofline_fraction, r.fwd_bwd_gbps)
}

/// Parses `8192x32000`, `1e8` or `100000000`.
fn parse_shape(s: &str) -> Result<Vec<usize>> {
    s.split(['x', 'X', '×'])
        .map(|d| {
            let d = d.trim();
            d.parse::<usize>()
                .ok()
                .or_else(|| d.parse::<f64>().ok().filter(|v| *v >= 0.0 && v.fract() == 0.0 && *v < 1e15).map(|v| v as usize))
                .with_context(|| format!("bad --shape `{s}`: `{d}` is not a size (expected ROWSxCLASSES, or a number of elements)"))
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
fn time(warmup: usize, reps: usize, mut f: impl FnMut()) -> f64 {
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
    let shape = parse_shape(&args.shape)?;
    let (w, r) = (args.warmup, args.reps);
    let name = args.loss.rsplit(':').next().unwrap_or(&args.loss);
    let (loss, fwd_s, fwd_bwd_s, inplace_s, elements) = match name {
        "cross_entropy" => {
            let [n, c] = shape[..] else { bail!("cross_entropy takes --shape ROWSxCLASSES, got `{}`", args.shape) };
            // The logits and the gradient.
            let elements = elements_that_fit(&args.shape, &shape, 2, std::mem::size_of::<T>(), &args.dtype)?;
            let mut x = Array2::<T>::zeros((n, c));
            fill(x.as_slice_mut().expect("standard layout"), 1);
            let y = ce_labels(n, c);
            let mut g = Array2::<T>::zeros((n, c));
            let ce = CrossEntropyLoss::new();
            let fwd = time(w, r, || {
                std::hint::black_box(ce.forward(x.view(), y.view()).expect("valid"));
            });
            let fb = time(w, r, || {
                std::hint::black_box(ce.forward_backward_into(x.view(), y.view(), g.view_mut()).expect("valid"));
            });
            let ip = time(w, r, || {
                std::hint::black_box(ce.forward_backward_inplace(x.view_mut(), y.view()).expect("valid"));
            });
            ("torch:cross_entropy".to_string(), fwd, fb, Some(ip), elements)
        }
        "mse_loss" | "l1_loss" | "smooth_l1_loss" | "huber_loss" | "binary_cross_entropy_with_logits" | "sigmoid_focal_loss" => {
            let [n] = shape[..] else { bail!("{name} takes --shape ELEMENTS (a vector), got `{}`", args.shape) };
            // The input, the target and the gradient.
            let elements = elements_that_fit(&args.shape, &shape, 3, std::mem::size_of::<T>(), &args.dtype)?;
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
            let (fwd, fb) = match name {
                "mse_loss" => timed!(MseLoss::new()),
                "l1_loss" => timed!(L1Loss::new()),
                "smooth_l1_loss" => timed!(SmoothL1Loss::new()),
                "huber_loss" => timed!(HuberLoss::new()),
                "sigmoid_focal_loss" => timed!(SigmoidFocalLoss::new().reduction(Reduction::Mean)),
                _ => timed!(BinaryCrossEntropyWithLogits::new()),
            };
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
    Ok(report(args, Timings { loss, shape, dtype, elements, fwd_s, fwd_bwd_s, inplace_s, fb_bytes, fwd_bytes, exp_bound }))
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

/// Measures the machine's limits in this process (once the loss's buffers are
/// freed) and sets the timings beside them.
fn report(args: &BenchArgs, t: Timings<'_>) -> BenchReport {
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
    BenchReport {
        loss: t.loss,
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
        fwd_bwd_gbps: e * t.fb_bytes / best_fb / 1e9,
    }
}

/// `measure` for cross entropy on half-precision logits (`--dtype bf16|f16`):
/// the logits and the gradient in the half type (2 bytes an element, which the
/// roofline counts), computed in f32.
fn measure_half<H: losslab::HalfFloat>(args: &BenchArgs, dtype: &str) -> Result<BenchReport> {
    let shape = parse_shape(&args.shape)?;
    let (w, r) = (args.warmup, args.reps);
    let name = args.loss.rsplit(':').next().unwrap_or(&args.loss);
    if name != "cross_entropy" {
        bail!("--dtype {dtype} is supported for cross_entropy only, not `{name}`");
    }
    let [n, c] = shape[..] else { bail!("cross_entropy takes --shape ROWSxCLASSES, got `{}`", args.shape) };
    let elements = elements_that_fit(&args.shape, &shape, 2, 2, dtype)?;
    let mut x = Array2::<H>::from_elem((n, c), H::default());
    fill_with(x.as_slice_mut().expect("standard layout"), 1, H::from_f64);
    let y = ce_labels(n, c);
    let mut g = Array2::<H>::from_elem((n, c), H::default());
    let ce = CrossEntropyLoss::new();
    let fwd_s = time(w, r, || {
        std::hint::black_box(ce.forward_half(x.view(), y.view()).expect("valid"));
    });
    let fwd_bwd_s = time(w, r, || {
        std::hint::black_box(ce.forward_backward_half_into(x.view(), y.view(), g.view_mut()).expect("valid"));
    });
    let inplace_s = time(w, r, || {
        std::hint::black_box(ce.forward_backward_half_inplace(x.view_mut(), y.view()).expect("valid"));
    });
    drop((x, g));
    let size = 2.0;
    let loss = "torch:cross_entropy".to_string();
    Ok(report(args, Timings { loss, shape, dtype, elements, fwd_s, fwd_bwd_s, inplace_s: Some(inplace_s), fb_bytes: 2.0 * size, fwd_bytes: size, exp_bound: true }))
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

    #[test]
    fn elementwise_losses_bench() {
        for loss in ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy_with_logits", "sigmoid_focal_loss"] {
            let args = BenchArgs {
                loss: loss.into(),
                shape: "1000".into(),
                dtype: "f32".into(),
                threads: Some(2),
                json: true,
                reps: 1,
                warmup: 0,
                mem_mib: 1,
            };
            let mut out = Vec::new();
            run(&args, &mut out).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let src = if loss == "sigmoid_focal_loss" { "torchvision" } else { "torch" };
            assert_eq!(v["loss"], format!("{src}:{loss}"));
            assert_eq!(v["shape"], serde_json::json!([1000]));
            assert!(v["fwd_bwd_inplace_elems_per_s"].is_null());
            assert!(v["fwd_bwd_elems_per_s"].as_f64().unwrap() > 0.0);
        }
        for dtype in ["bf16", "f16"] {
            let args = BenchArgs {
                loss: "cross_entropy".into(),
                shape: "3x100".into(),
                dtype: dtype.into(),
                threads: Some(2),
                json: true,
                reps: 1,
                warmup: 0,
                mem_mib: 1,
            };
            let mut out = Vec::new();
            run(&args, &mut out).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(v["dtype"], dtype);
            assert_eq!(v["shape"], serde_json::json!([3, 100]));
            assert!(v["fwd_bwd_inplace_elems_per_s"].as_f64().unwrap() > 0.0);
            let args = BenchArgs { loss: "mse_loss".into(), shape: "10".into(), ..args };
            assert!(run(&args, &mut Vec::new()).unwrap_err().to_string().contains("cross_entropy only"));
        }
        let args = BenchArgs { loss: "mse_loss".into(), shape: "10x10".into(), dtype: "f32".into(), threads: None, json: true, reps: 1, warmup: 0, mem_mib: 1 };
        assert!(run(&args, &mut Vec::new()).unwrap_err().to_string().contains("ELEMENTS"));
    }
}
