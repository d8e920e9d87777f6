//! `losslab bench linear_cross_entropy`: the LM head's fused linear + cross
//! entropy timed in FLOP/s beside the f32 FMA peak measured in the same
//! process, and the memory one call takes beyond its inputs.
//!
//! `--shape NxDxV` (tokens × hidden size × vocabulary; default 2048x512x32000).
//! The forward pass is `2·N·D·V` floating-point operations (the logits'
//! product), the forward + backward `6·N·D·V` (the logits' product and the two
//! products of their gradient); the row pass's exponentials are not counted.
//! The peak is measured by a vectorised FMA loop (AVX-512, else AVX2 + FMA)
//! with independent accumulators on every thread of the pool, best of three.

use super::bench::{check_fits, join_dims, one_arena, parse_shape, proc_status_bytes, time, BenchArgs, MemProbe};
use anyhow::{bail, Context, Result};
use losslab::{Float, LinearCrossEntropyLoss};
use ndarray::{Array1, Array2};
use serde::Serialize;
use std::io::Write;
use std::time::Instant;

/// The default shape: 2048 tokens, hidden size 512, a 32000-token vocabulary.
pub const DEFAULT_SHAPE: [usize; 3] = [2048, 512, 32000];

/// What `losslab bench linear_cross_entropy --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct LmBenchReport {
    /// `torch:linear_cross_entropy`.
    pub loss: &'static str,
    /// Tokens.
    pub n: usize,
    /// Hidden size.
    pub d: usize,
    /// Vocabulary.
    pub v: usize,
    /// `f32` or `f64`.
    pub dtype: &'static str,
    /// Threads of the pool.
    pub threads: usize,
    /// The instruction set of the FMA peak loop (`avx512`, `avx2+fma`, `scalar`).
    pub isa: &'static str,
    /// Timed runs per measurement (the median is reported).
    pub reps: usize,
    /// The tile of logits, bytes.
    pub tile_bytes: usize,
    /// Median seconds of the forward pass (no gradients).
    pub fwd_s: f64,
    /// Median seconds of the forward + backward (the three gradients).
    pub fwd_bwd_s: f64,
    /// `2·N·D·V / fwd_s`.
    pub fwd_gflops: f64,
    /// `6·N·D·V / fwd_bwd_s`.
    pub fwd_bwd_gflops: f64,
    /// The f32 FMA peak measured now, GFLOP/s (2 per FMA lane).
    pub fma_peak_gflops: f64,
    /// `fwd_bwd_gflops / fma_peak_gflops`.
    pub fwd_bwd_fraction_of_peak: f64,
    /// `fwd_gflops / fma_peak_gflops`.
    pub fwd_fraction_of_peak: f64,
    /// `bf16` only: the peak of AVX512_BF16's dot products (`vdpbf16ps`, 64
    /// FLOP each: 16 lanes of two multiply-adds) measured now, GFLOP/s; null
    /// for `f32`/`f64` or on a CPU without them.
    pub bf16_peak_gflops: Option<f64>,
    /// `bf16` only: whether the products ran on AVX512_BF16's dot products
    /// (else the inputs were widened to `f32`).
    pub bf16_dot_products: Option<bool>,
    /// Bytes of `input`, `linear_weight` and `target`.
    pub input_bytes: u64,
    /// Bytes of the gradients of `input` and `linear_weight`.
    pub grad_bytes: u64,
    /// The most the resident set grew over a forward + backward call (its
    /// gradients included), bytes; null where not measurable.
    pub call_peak_extra_bytes: Option<u64>,
    /// `call_peak_extra_bytes − grad_bytes`: the working memory beyond the gradients.
    pub working_bytes: Option<u64>,
    /// The process's peak resident set (`VmHWM`), bytes.
    pub process_peak_rss_bytes: Option<u64>,
    /// `process_peak_rss_bytes − input_bytes − grad_bytes`: all the process held
    /// beyond its inputs and one call's gradients (the program, the timed calls'
    /// working memory), bytes. Issue 16's bound: 128 MB.
    pub process_peak_beyond_inputs_and_grads_bytes: Option<u64>,
}

/// Runs the LM-head benchmark for `args` (the loss resolved to `torch:linear_cross_entropy`).
///
/// # Errors
/// A bad shape or dtype, or inputs that do not fit the memory available.
pub fn run(args: &BenchArgs, out: &mut dyn Write) -> Result<()> {
    if args.fused || !args.grad.is_empty() || args.save_inputs.is_some() || args.scale.is_some() {
        bail!("linear_cross_entropy: --fused, --grad, --save-inputs and --scale do not apply (its benchmark times the fused LM head itself; set the sizes with --shape NxDxV)");
    }
    let dims = match &args.shape {
        Some(s) => parse_shape(s)?,
        None => DEFAULT_SHAPE.to_vec(),
    };
    let [n, d, v] = dims[..] else {
        bail!("bad --shape `{}`: linear_cross_entropy takes N×D×V (tokens, hidden size, vocabulary: 3 sizes joined by x, default {})", args.shape.as_deref().unwrap_or(""), join_dims(&DEFAULT_SHAPE));
    };
    if n == 0 || d == 0 || v < 2 {
        bail!("bad --shape `{}`: expected at least 1 token, a hidden size of at least 1 and at least 2 classes", join_dims(&dims));
    }
    one_arena();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.unwrap_or(0)).build().context("cannot start the thread pool")?;
    let report = pool.install(|| match args.dtype.as_str() {
        "f32" | "float32" => measure::<f32>(args, n, d, v, "f32"),
        "f64" | "float64" => measure::<f64>(args, n, d, v, "f64"),
        "bf16" | "bfloat16" => measure_bf16(args, n, d, v),
        other => bail!("unsupported --dtype `{other}` for linear_cross_entropy: expected f32, f64 or bf16"),
    })?;
    if args.json {
        serde_json::to_writer(&mut *out, &report).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        write_text(&report, out)?;
    }
    out.flush()?;
    Ok(())
}

fn write_text(r: &LmBenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
    writeln!(out, "{} (fused LM head: a tile of {} of logits at a time)", r.loss, mb(r.tile_bytes as u64))?;
    writeln!(out, "  N×D×V = {}x{}x{}, {}, {} thread(s), median of {}", r.n, r.d, r.v, r.dtype, r.threads, r.reps)?;
    writeln!(out, "  forward              {:>10.3} ms  {:>7.1} GFLOP/s  ({:.0}% of the FMA peak)", r.fwd_s * 1e3, r.fwd_gflops, 100.0 * r.fwd_fraction_of_peak)?;
    writeln!(out, "  forward + backward   {:>10.3} ms  {:>7.1} GFLOP/s  ({:.0}% of the FMA peak)", r.fwd_bwd_s * 1e3, r.fwd_bwd_gflops, 100.0 * r.fwd_bwd_fraction_of_peak)?;
    match (r.call_peak_extra_bytes, r.working_bytes) {
        (Some(p), Some(w)) => writeln!(out, "  memory of a call     {:>10}  beyond the inputs ({}): gradients {} + working {}", mb(p), mb(r.input_bytes), mb(r.grad_bytes), mb(w))?,
        _ => writeln!(out, "  memory of a call     (not measurable here: no /proc/self/status)")?,
    }
    if let (Some(p), Some(b)) = (r.process_peak_rss_bytes, r.process_peak_beyond_inputs_and_grads_bytes) {
        writeln!(out, "  process peak RSS     {:>10}  (inputs + gradients + {})", mb(p), mb(b))?;
    }
    writeln!(out, "limits measured now:")?;
    writeln!(out, "  f32 FMA peak ({})  {:>7.1} GFLOP/s", r.isa, r.fma_peak_gflops)?;
    if let Some(p) = r.bf16_peak_gflops {
        writeln!(out, "  bf16 dot-product peak (avx512bf16)  {p:>7.1} GFLOP/s  (forward + backward at {:.0}% of it)", 100.0 * r.fwd_bwd_gflops / p)?;
    }
    if r.bf16_dot_products == Some(false) {
        writeln!(out, "  (no AVX512_BF16 here, or an odd hidden size: the bf16 inputs were widened to f32)")?;
    }
    Ok(())
}

/// Deterministic values uniform in `[-scale, scale)` (xorshift).
fn fill<T: Float>(len: usize, seed: u64, scale: f64) -> Vec<T> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            T::from_wide(((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale)
        })
        .collect()
}

fn measure<T: Float>(args: &BenchArgs, n: usize, d: usize, v: usize, dtype: &'static str) -> Result<LmBenchReport> {
    let (input_bytes, grad_bytes) = sizes(n, d, v, std::mem::size_of::<T>());
    check_fits(&format!("linear_cross_entropy on {n}x{d}x{v}"), u128::from(input_bytes) + u128::from(grad_bytes) + (256 << 20))?;
    let x = Array2::from_shape_vec((n, d), fill::<T>(n * d, args.seed + 1, 1.0)).expect("n × d");
    let w = Array2::from_shape_vec((v, d), fill::<T>(v * d, args.seed + 2, 1.0 / (d as f64).sqrt())).expect("v × d");
    let t = targets(n, v);
    let lce = LinearCrossEntropyLoss::new();
    Ok(timed(
        args,
        (n, d, v, dtype),
        (input_bytes, grad_bytes),
        &lce,
        || {
            std::hint::black_box(lce.forward(x.view(), w.view(), None, t.view()).expect("valid inputs"));
        },
        || {
            std::hint::black_box(lce.forward_backward(x.view(), w.view(), None, t.view(), None).expect("valid inputs"));
        },
    ))
}

/// `bf16` inputs (the values of the `f32` benchmark, rounded).
fn measure_bf16(args: &BenchArgs, n: usize, d: usize, v: usize) -> Result<LmBenchReport> {
    use losslab::half::bf16;
    let (input_bytes, grad_bytes) = sizes(n, d, v, 2);
    // The f32 buffer of the weight's gradient beyond the inputs and gradients.
    check_fits(&format!("linear_cross_entropy on {n}x{d}x{v} (bf16)"), u128::from(input_bytes) + u128::from(grad_bytes) + (v * d * 4) as u128 + (256 << 20))?;
    let x = Array2::from_shape_vec((n, d), fill::<f32>(n * d, args.seed + 1, 1.0)).expect("n × d").mapv(bf16::from_f32);
    let w = Array2::from_shape_vec((v, d), fill::<f32>(v * d, args.seed + 2, 1.0 / (d as f64).sqrt())).expect("v × d").mapv(bf16::from_f32);
    let t = targets(n, v);
    let lce = LinearCrossEntropyLoss::new();
    let mut r = timed(
        args,
        (n, d, v, "bf16"),
        (input_bytes, grad_bytes),
        &lce,
        || {
            std::hint::black_box(lce.forward_half(x.view(), w.view(), None, t.view()).expect("valid inputs"));
        },
        || {
            std::hint::black_box(lce.forward_backward_half(x.view(), w.view(), None, t.view(), None).expect("valid inputs"));
        },
    );
    r.bf16_peak_gflops = bf16_peak_gflops();
    r.bf16_dot_products = Some(LinearCrossEntropyLoss::bf16_dot_products(d));
    Ok(r)
}

/// Bytes of the inputs (`input`, `linear_weight`, `target`) and of the gradients.
fn sizes(n: usize, d: usize, v: usize, size: usize) -> (u64, u64) {
    let size = size as u128;
    (((n * d + v * d) as u128 * size + n as u128 * 8) as u64, ((n * d + v * d) as u128 * size) as u64)
}

/// Class indices spread over the vocabulary.
fn targets(n: usize, v: usize) -> Array1<i64> {
    Array1::from_shape_fn(n, |i| ((i as u64).wrapping_mul(2_654_435_761) % v as u64) as i64)
}

/// Times `fwd` and `fwd_bwd`, measures one `fwd_bwd` call's memory and the
/// FMA peak, and reports.
fn timed(
    args: &BenchArgs,
    (n, d, v, dtype): (usize, usize, usize, &'static str),
    (input_bytes, grad_bytes): (u64, u64),
    lce: &LinearCrossEntropyLoss,
    fwd: impl Fn(),
    fwd_bwd: impl Fn(),
) -> LmBenchReport {
    let fwd_s = time(args.warmup, args.reps, &fwd);
    let fwd_bwd_s = time(args.warmup, args.reps, &fwd_bwd);
    let mut mem = MemProbe::new();
    let before = mem.before();
    fwd_bwd();
    mem.after(before);
    let process_peak_rss_bytes = proc_status_bytes("VmHWM");
    let (isa, peak) = fma_peak_gflops();
    let flops = (n * d * v) as f64;
    let (fwd_gflops, fwd_bwd_gflops) = (2.0 * flops / fwd_s / 1e9, 6.0 * flops / fwd_bwd_s / 1e9);
    LmBenchReport {
        loss: "torch:linear_cross_entropy",
        n,
        d,
        v,
        dtype,
        threads: rayon::current_num_threads(),
        isa,
        reps: args.reps,
        tile_bytes: lce.tile_bytes,
        fwd_s,
        fwd_bwd_s,
        fwd_gflops,
        fwd_bwd_gflops,
        fma_peak_gflops: peak,
        fwd_bwd_fraction_of_peak: fwd_bwd_gflops / peak,
        fwd_fraction_of_peak: fwd_gflops / peak,
        bf16_peak_gflops: None,
        bf16_dot_products: None,
        input_bytes,
        grad_bytes,
        call_peak_extra_bytes: mem.extra,
        working_bytes: mem.extra.map(|e| e.saturating_sub(grad_bytes)),
        process_peak_rss_bytes,
        process_peak_beyond_inputs_and_grads_bytes: process_peak_rss_bytes.map(|p| p.saturating_sub(input_bytes + grad_bytes)),
    }
}

/// The peak of AVX512_BF16's dot products on the pool's threads, GFLOP/s
/// (best of three, as [`fma_peak_gflops`]); `None` without them.
pub fn bf16_peak_gflops() -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if !(is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16")) {
            return None;
        }
        // 64 FLOP per instruction: 16 lanes of two multiply-adds.
        // SAFETY: the CPU has AVX512F and AVX512_BF16 (checked above).
        Some(best_of_three(64, |iters| unsafe { x86::dot_bf16(iters) }))
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// The f32 FMA peak of the pool's threads, GFLOP/s (best of three runs of a
/// loop of independent fused multiply-adds on every thread at once), and the
/// instruction set it ran.
pub fn fma_peak_gflops() -> (&'static str, f64) {
    let (isa, lanes, kernel): (&'static str, usize, fn(usize) -> f32) = fma_kernel();
    (isa, best_of_three(lanes * 2, kernel))
}

/// GFLOP/s of `kernel` (`ITERS × ACCUMULATORS` instructions of `flops` each
/// per call) run on every thread of the pool at once, best of three.
fn best_of_three(flops: usize, kernel: impl Fn(usize) -> f32 + Sync) -> f64 {
    const ITERS: usize = 20_000_000;
    let threads = rayon::current_num_threads();
    let mut best = 0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let sums: Vec<f32> = rayon::broadcast(|_| kernel(ITERS));
        let s = start.elapsed().as_secs_f64();
        std::hint::black_box(sums);
        best = best.max((threads * ITERS * ACCUMULATORS * flops) as f64 / s / 1e9);
    }
    best
}

/// Independent accumulators per thread: more than the FMA latency × throughput.
const ACCUMULATORS: usize = 12;

fn fma_kernel() -> (&'static str, usize, fn(usize) -> f32) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            return ("avx512", 16, |iters| unsafe { x86::fma_avx512(iters) });
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return ("avx2+fma", 8, |iters| unsafe { x86::fma_avx2(iters) });
        }
    }
    ("scalar", 1, fma_scalar)
}

fn fma_scalar(iters: usize) -> f32 {
    let mut acc = [0f32; ACCUMULATORS];
    let (a, b) = (std::hint::black_box(0.999_999f32), std::hint::black_box(1e-7f32));
    for _ in 0..iters {
        for x in &mut acc {
            *x = x.mul_add(a, b);
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::ACCUMULATORS;
    use std::arch::x86_64::*;

    /// `ITERS × ACCUMULATORS` FMAs of 16 lanes.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fma_avx512(iters: usize) -> f32 {
        let (a, b) = (_mm512_set1_ps(std::hint::black_box(0.999_999)), _mm512_set1_ps(std::hint::black_box(1e-7)));
        let mut acc = [_mm512_setzero_ps(); ACCUMULATORS];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        let mut s = _mm512_setzero_ps();
        for x in acc {
            s = _mm512_add_ps(s, x);
        }
        _mm512_reduce_add_ps(s)
    }

    /// `ITERS × ACCUMULATORS` `vdpbf16ps` of 16 lanes (two products each).
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn dot_bf16(iters: usize) -> f32 {
        let a: __m512bh = std::mem::transmute(_mm512_set1_epi32(std::hint::black_box(0x3f80_3f80)));
        let b: __m512bh = std::mem::transmute(_mm512_set1_epi32(std::hint::black_box(0x3380_3380)));
        let mut acc = [_mm512_setzero_ps(); ACCUMULATORS];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm512_dpbf16_ps(*x, a, b);
            }
        }
        let mut s = _mm512_setzero_ps();
        for x in acc {
            s = _mm512_add_ps(s, x);
        }
        _mm512_reduce_add_ps(s)
    }

    /// `ITERS × ACCUMULATORS` FMAs of 8 lanes.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn fma_avx2(iters: usize) -> f32 {
        let (a, b) = (_mm256_set1_ps(std::hint::black_box(0.999_999)), _mm256_set1_ps(std::hint::black_box(1e-7)));
        let mut acc = [_mm256_setzero_ps(); ACCUMULATORS];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut s = _mm256_setzero_ps();
        for x in acc {
            s = _mm256_add_ps(s, x);
        }
        let mut out = [0f32; 8];
        _mm256_storeu_ps(out.as_mut_ptr(), s);
        out.iter().sum()
    }
}
