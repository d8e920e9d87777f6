//! Element-wise losses (MSE, L1, Smooth L1, Huber, BCE with logits, sigmoid
//! focal): the loss, its sum and its gradients in one sweep over contiguous
//! inputs.
//!
//! Two loops:
//!
//! - `f32` inputs on a CPU with AVX-512 take an explicit AVX-512 loop, 16
//!   elements a step, for the ops that provide it ([`ElemOp::LANES512`]): the
//!   regression losses compute each element in `f64` lanes by the same
//!   operations as the general path (so the values and gradients are
//!   bit-identical to it); BCE with logits computes in `f32` lanes with its
//!   own exp and log1p (within 1 and 2.5 ulp) and reciprocals (estimate and
//!   one Newton step, no division), and only its sum is in `f64`. The sigmoid
//!   focal loss (integer exponents) computes in `f64` lanes, its formula in
//!   the general path's order, with an exp and a log1p cut to the 10⁻¹⁰ an
//!   `f32` result needs: its gradients are sums of terms that cancel, so an
//!   `f32` chain would lose digits the golden suite's tolerance needs. On
//!   inputs of at least [`NT_MIN`] elements
//!   the outputs are written with non-temporal (streaming) stores, so that the
//!   gradient buffer is not read before it is written (12 bytes of memory
//!   traffic per element, not 16).
//! - Everything else (`f64` inputs, the other instruction sets, the ops without
//!   an AVX-512 form) computes each element in `f64` by the loss's own formula
//!   in a portable loop that LLVM vectorises, compiled three times, for AVX-512,
//!   AVX2 + FMA and the baseline, and chosen once at run time. LLVM does not
//!   contract or reorder floating-point operations, so the three give the same
//!   bits.
//!
//! The sum is bit-identical whatever the thread count: the input is cut into
//! chunks of [`CHUNK`] elements, each summed in [`LANES`] lanes combined in a
//! fixed order; the chunks are grouped into at most [`MAX_PARTS`] parts, fixed
//! by the length alone, whose sums are compensated (Neumaier) in order.

use super::par::{self, SyncPtr};
use crate::machinery::float::Float;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Elements per chunk: one sum of [`LANES`] lanes.
pub(crate) const CHUNK: usize = 1 << 13;
/// Elements computed together, each with its own accumulator (two AVX-512
/// registers of `f64`, for two independent dependency chains).
pub(crate) const LANES: usize = 16;
/// The most parallel tasks a call is cut into.
pub(crate) const MAX_PARTS: usize = 256;
/// From this many elements on, the AVX-512 loop writes its outputs with
/// non-temporal stores (the buffers are then far larger than the caches, and a
/// caller does not read them back at once). Fixed by the length alone; the
/// values are the same either way.
pub(crate) const NT_MIN: usize = 1 << 21;

/// How the AVX-512 loop computes an op on `f32` inputs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lanes {
    /// No AVX-512 form: the portable loop.
    Generic,
    /// [`ElemOp::eval_pd`], 8 `f64` lanes (twice per step).
    F64,
    /// [`ElemOp::eval_ps`], 16 `f32` lanes.
    F32,
}

/// One element-wise loss: `(ℓ, ∂ℓ/∂x, ∂ℓ/∂y)` at `(x, y)`, in `f64`.
pub(crate) trait ElemOp: Copy + Send + Sync {
    fn eval(self, x: f64, y: f64) -> (f64, f64, f64);
    /// `eval` at element `i` (for an op with per-element weights); `eval` by default.
    #[inline(always)]
    fn eval_at(self, _i: usize, x: f64, y: f64) -> (f64, f64, f64) {
        self.eval(x, y)
    }
    /// Which AVX-512 form the op has for `f32` inputs.
    const LANES512: Lanes = Lanes::Generic;
    /// `eval` on 8 `f64` lanes (AVX-512; only called where `LANES512` is `F64`,
    /// from a function compiled for AVX-512).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_pd(self, _x: __m512d, _y: __m512d) -> (__m512d, __m512d, __m512d) {
        unreachable!("no f64 AVX-512 form")
    }
    /// `(ℓ, ∂ℓ/∂x, ∂ℓ/∂y)` on 16 `f32` lanes (AVX-512; only called where
    /// `LANES512` is `F32`, from a function compiled for AVX-512).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_ps(self, _x: __m512, _y: __m512) -> (__m512, __m512, __m512) {
        unreachable!("no f32 AVX-512 form")
    }
}

/// What a sweep computes (a bit set; a const parameter, so that each mode is a
/// loop of its own).
pub(crate) mod mode {
    /// The sum of the losses.
    pub(crate) const SUM: u8 = 1;
    /// Each loss, stored (`Reduction::None`).
    pub(crate) const STORE: u8 = 2;
    /// The gradient with respect to the input.
    pub(crate) const GX: u8 = 4;
    /// The gradient with respect to the target.
    pub(crate) const GY: u8 = 8;
    /// The upstream gradient is per element (else one scale for all).
    pub(crate) const PER: u8 = 16;
}

/// The buffers of one sweep. Null pointers are buffers the mode does not use.
pub(crate) struct Job<T> {
    pub(crate) x: *const T,
    pub(crate) y: *const T,
    pub(crate) len: usize,
    /// Per-element losses (`STORE`).
    pub(crate) losses: SyncPtr<T>,
    /// `∂/∂x` (`GX`) and `∂/∂y` (`GY`), scaled by the upstream gradient.
    pub(crate) gx: SyncPtr<T>,
    pub(crate) gy: SyncPtr<T>,
    /// The upstream gradient per element (`PER`).
    pub(crate) up: *const T,
    /// The upstream gradient of every element (without `PER`).
    pub(crate) scale: f64,
}
// SAFETY: the raw pointers are read (x, y, up) or written in disjoint ranges.
unsafe impl<T> Send for Job<T> {}
unsafe impl<T> Sync for Job<T> {}

impl<T: Float> Job<T> {
    /// A job over `x` and `y` (same length) with no output yet.
    pub(crate) fn new(x: &[T], y: &[T]) -> Self {
        debug_assert_eq!(x.len(), y.len());
        Job { x: x.as_ptr(), y: y.as_ptr(), len: x.len(), losses: SyncPtr::null(), gx: SyncPtr::null(), gy: SyncPtr::null(), up: std::ptr::null(), scale: 1.0 }
    }
}

/// One chunk `[lo, hi)`: its sum (in [`LANES`] lanes, combined in a fixed order).
///
/// Each group of [`LANES`] elements is loaded, then computed, then stored, so
/// that the compiler need not prove the outputs distinct from the inputs to
/// vectorise (in place, they may not be).
#[inline(always)]
unsafe fn chunk<T: Float, O: ElemOp, const M: u8>(op: O, j: &Job<T>, lo: usize, hi: usize) -> f64 {
    let store = |i: usize, l: f64, dx: f64, dy: f64, s: f64| {
        if M & mode::STORE != 0 {
            *j.losses.0.add(i) = T::from_wide(l);
        }
        if M & mode::GX != 0 {
            *j.gx.0.add(i) = T::from_wide(s * dx);
        }
        if M & mode::GY != 0 {
            *j.gy.0.add(i) = T::from_wide(s * dy);
        }
    };
    let scale = |i: usize| if M & mode::PER != 0 { (*j.up.add(i)).to_wide() } else { j.scale };
    let mut acc = [0.0f64; LANES];
    let mut i = lo;
    while i + LANES <= hi {
        let (mut x, mut y, mut s) = ([0.0f64; LANES], [0.0f64; LANES], [0.0f64; LANES]);
        for k in 0..LANES {
            x[k] = (*j.x.add(i + k)).to_wide();
            y[k] = (*j.y.add(i + k)).to_wide();
            s[k] = scale(i + k);
        }
        let (mut l, mut dx, mut dy) = ([0.0f64; LANES], [0.0f64; LANES], [0.0f64; LANES]);
        for k in 0..LANES {
            (l[k], dx[k], dy[k]) = op.eval_at(i + k, x[k], y[k]);
        }
        for k in 0..LANES {
            store(i + k, l[k], dx[k], dy[k], s[k]);
            if M & mode::SUM != 0 {
                acc[k] += l[k];
            }
        }
        i += LANES;
    }
    let mut tail = 0.0f64;
    for i in i..hi {
        let (l, dx, dy) = op.eval_at(i, (*j.x.add(i)).to_wide(), (*j.y.add(i)).to_wide());
        store(i, l, dx, dy, scale(i));
        if M & mode::SUM != 0 {
            tail += l;
        }
    }
    lane_tree(acc) + tail
}

/// The sum of a chunk's [`LANES`] accumulators by the row sums' fixed tree,
/// [`rows::tree`](super::rows::tree) at this width (the same order on every
/// instruction set and thread count; the lanes through `black_box` first, so
/// that the accumulating loop vectorises at the full width).
#[inline(always)]
pub(crate) fn lane_tree(acc: [f64; LANES]) -> f64 {
    super::rows::tree(acc)
}

/// `Σ chunk(k)` over `k ∈ [c0, c1)`, compensated in order (as
/// [`sum_f64`](crate::machinery::reduction::sum_f64) sums), inlined into its
/// caller: the chunks' loop is then compiled for the caller's instruction set
/// (inside `sum_f64`, a function of its own, it was compiled for the baseline,
/// SSE2, whatever the caller's target features).
#[inline(always)]
pub(crate) fn sum_chunks(c0: usize, c1: usize, mut chunk: impl FnMut(usize) -> f64) -> f64 {
    let mut sum = crate::machinery::reduction::Neumaier::default();
    for k in c0..c1 {
        sum.add(chunk(k));
    }
    sum.total()
}

/// The chunks `[c0, c1)`: their sums, compensated in order.
#[inline(always)]
unsafe fn chunks<T: Float, O: ElemOp, const M: u8>(op: O, j: &Job<T>, c0: usize, c1: usize) -> f64 {
    sum_chunks(c0, c1, #[inline(always)] |k| chunk::<T, O, M>(op, j, k * CHUNK, ((k + 1) * CHUNK).min(j.len)))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn chunks_avx512<T: Float, O: ElemOp, const M: u8>(op: O, j: &Job<T>, c0: usize, c1: usize) -> f64 {
    chunks::<T, O, M>(op, j, c0, c1)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chunks_avx2<T: Float, O: ElemOp, const M: u8>(op: O, j: &Job<T>, c0: usize, c1: usize) -> f64 {
    chunks::<T, O, M>(op, j, c0, c1)
}

unsafe fn chunks_base<T: Float, O: ElemOp, const M: u8>(op: O, j: &Job<T>, c0: usize, c1: usize) -> f64 {
    chunks::<T, O, M>(op, j, c0, c1)
}

/// The loop over chunks `[c0, c1)` of a job (one mode, one instruction set).
pub(crate) type ChunksFn<T, O> = unsafe fn(O, &Job<T>, usize, usize) -> f64;

/// `out[k] = p[k]^q` for `q > 0`. With `coarse` (the result is an `f32`'s)
/// and AVX-512, the lanes whose `p` is in `(0, 1]` are
/// [`x86::pow_unit_batch`]'s `exp(q ln p)` in `f64` lanes (below 2·10⁻⁹
/// relative for any `p` an `f32` holds, far below its ulp); every other lane, and every lane
/// without them, is libm's `pow` (within an `f64` ulp).
pub(crate) fn pow_batch(p: &[f64], q: f64, out: &mut [f64], coarse: bool) {
    assert_eq!(p.len(), out.len());
    #[cfg(target_arch = "x86_64")]
    if coarse && level() == 2 {
        // SAFETY: AVX-512 is present; the slices have one length.
        unsafe { x86::pow_unit_batch(p, q, out) };
        return;
    }
    let _ = coarse;
    for (o, &v) in out.iter_mut().zip(p) {
        *o = v.powf(q);
    }
}

/// The instruction set of the element-wise loops: 2 (AVX-512), 1 (AVX2 + FMA)
/// or 0, detected once (`LOSSLAB_NO_AVX512`, `LOSSLAB_NO_SIMD` as the other kernels).
pub(crate) fn level() -> u8 {
    static LEVEL: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::env::var_os("LOSSLAB_NO_SIMD").is_none() {
                if is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512dq")
                    && std::env::var_os("LOSSLAB_NO_AVX512").is_none()
                {
                    return 2;
                }
                if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                    return 1;
                }
            }
        }
        0
    })
}

fn pick<T: Float, O: ElemOp, const M: u8>() -> ChunksFn<T, O> {
    match level() {
        #[cfg(target_arch = "x86_64")]
        2 => chunks_avx512::<T, O, M>,
        #[cfg(target_arch = "x86_64")]
        1 => chunks_avx2::<T, O, M>,
        _ => chunks_base::<T, O, M>,
    }
}

/// The loop of mode `M` for this CPU: the AVX-512 `f32` loop where the op has
/// one, else [`pick`]'s.
fn pick_mode<T: Float, O: ElemOp, const M: u8>() -> ChunksFn<T, O> {
    let f = pick::<T, O, M>();
    #[cfg(target_arch = "x86_64")]
    let f = if O::LANES512 != Lanes::Generic && level() == 2 && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        let g: ChunksFn<f32, O> = x86::chunks_f32::<O, M>;
        // SAFETY: T is f32, so the two function types are the same.
        unsafe { std::mem::transmute::<ChunksFn<f32, O>, ChunksFn<T, O>>(g) }
    } else {
        f
    };
    f
}

/// The loop [`run`] runs for mode `m` (`SUM`, `SUM | GX` or `SUM | GX | GY`),
/// for a caller that runs it on the calling thread over jobs of its own (the
/// rows of a per-row loss, [`super::rows`]): `f(op, &job, 0, job.len.div_ceil(CHUNK))`
/// is the job's sum, as [`run`] computes it for a job of at most one part.
pub(crate) fn serial_loop<T: Float, O: ElemOp>(m: u8) -> ChunksFn<T, O> {
    use mode::*;
    const FWD: u8 = SUM;
    const INTO: u8 = SUM | GX;
    const FB: u8 = SUM | GX | GY;
    match m {
        FWD => pick_mode::<T, O, FWD>(),
        INTO => pick_mode::<T, O, INTO>(),
        FB => pick_mode::<T, O, FB>(),
        _ => unreachable!("unsupported serial element-wise mode {m}"),
    }
}

/// Runs the sweep of mode `M`; the sum of the losses (0 without `SUM`).
///
/// # Safety
/// `x`, `y` hold `len` elements; every buffer the mode uses holds `len`
/// elements and the written ones overlap nothing else.
unsafe fn run_mode<T: Float, O: ElemOp, const M: u8>(op: O, j: &Job<T>) -> f64 {
    if j.len == 0 {
        return 0.0;
    }
    let f = pick_mode::<T, O, M>();
    // SAFETY: each part's chunks are its own (as `run_mode`'s caller promises).
    run_parts(j.len, |c0, c1| unsafe { f(op, j, c0, c1) })
}

/// The chunks of a sweep over `len` elements cut into at most [`MAX_PARTS`]
/// parts fixed by `len` (not by the thread count), `part(c0, c1)` run on each
/// in parallel, and the parts' sums added in order: the same bits on any
/// thread count.
pub(crate) fn run_parts(len: usize, part: impl Fn(usize, usize) -> f64 + Sync + Send) -> f64 {
    let nchunks = len.div_ceil(CHUNK);
    let per_part = nchunks.div_ceil(MAX_PARTS);
    let parts = nchunks.div_ceil(per_part);
    let mut partial = [0.0f64; MAX_PARTS];
    let pp = SyncPtr(partial.as_mut_ptr());
    par::for_each(parts, len, |p| {
        // SAFETY: part p's slot is its own.
        unsafe { *pp.add(p) = part(p * per_part, ((p + 1) * per_part).min(nchunks)) };
    });
    par::neumaier(&partial[..parts])
}

/// Runs the sweep `mode` says (one of the combinations the losses use).
///
/// # Safety
/// As [`run_mode`].
pub(crate) unsafe fn run<T: Float, O: ElemOp>(op: O, m: u8, j: &Job<T>) -> f64 {
    use mode::*;
    const FWD: u8 = SUM;
    const FWD_NONE: u8 = STORE;
    const BWD: u8 = GX | GY;
    const BWD_NONE: u8 = GX | GY | PER;
    const FB: u8 = SUM | GX | GY;
    const FB_NONE: u8 = STORE | GX | GY;
    const INTO: u8 = SUM | GX;
    const INTO_NONE: u8 = STORE | GX;
    // An unreduced result with the caller's upstream gradient (the shared `eval` of a loss).
    const FB_NONE_UP: u8 = STORE | GX | GY | PER;
    const INTO_NONE_UP: u8 = STORE | GX | PER;
    match m {
        FWD => run_mode::<T, O, FWD>(op, j),
        FWD_NONE => run_mode::<T, O, FWD_NONE>(op, j),
        BWD => run_mode::<T, O, BWD>(op, j),
        BWD_NONE => run_mode::<T, O, BWD_NONE>(op, j),
        FB => run_mode::<T, O, FB>(op, j),
        FB_NONE => run_mode::<T, O, FB_NONE>(op, j),
        INTO => run_mode::<T, O, INTO>(op, j),
        INTO_NONE => run_mode::<T, O, INTO_NONE>(op, j),
        FB_NONE_UP => run_mode::<T, O, FB_NONE_UP>(op, j),
        INTO_NONE_UP => run_mode::<T, O, INTO_NONE_UP>(op, j),
        _ => unreachable!("unsupported element-wise mode {m}"),
    }
}

/// An element-wise loss given by its value `f(i, x, y)` and derivatives
/// `df(i, x, y) = (∂/∂x, ∂/∂y)` (the general element-wise losses' formulas, run
/// by the portable loop; LLVM vectorises what it can of them).
#[derive(Clone, Copy)]
pub(crate) struct FnOp<F, G>(pub(crate) F, pub(crate) G);

impl<F, G> ElemOp for FnOp<F, G>
where
    F: Fn(usize, f64, f64) -> f64 + Copy + Send + Sync,
    G: Fn(usize, f64, f64) -> (f64, f64) + Copy + Send + Sync,
{
    #[inline(always)]
    fn eval(self, x: f64, y: f64) -> (f64, f64, f64) {
        self.eval_at(0, x, y)
    }
    #[inline(always)]
    fn eval_at(self, i: usize, x: f64, y: f64) -> (f64, f64, f64) {
        let (dx, dy) = (self.1)(i, x, y);
        ((self.0)(i, x, y), dx, dy)
    }
}

// ------------------------------------------------------ exp and log1p in f64

/// `exp(z)` for `z ≤ 0` (NaN propagates), in plain arithmetic that vectorises:
/// Cody–Waite reduction `z = n ln 2 + r`, `|r| ≤ ln 2 / 2`, the Taylor series of
/// `exp(r)` to degree 13 (truncation below 10⁻¹⁷; [`exp_series`](crate::machinery::vmath::exp_series),
/// by Estrin's scheme), `2ⁿ` built from its bits in two factors so that
/// subnormal results are not flushed. About 1 ulp.
#[inline(always)]
pub(crate) fn exp_nonpos(z: f64) -> f64 {
    let z = if z < -750.0 { -750.0 } else { z };
    let (r, ni) = crate::machinery::vmath::exp_reduce(z);
    let p = crate::machinery::vmath::exp_series(r);
    // 2ⁿ for n ≥ −1022 directly; below, 2^(n + 600) · 2^(−600).
    let low = ni < -1000;
    let k = if low { ni + 600 } else { ni };
    let s = f64::from_bits((k.wrapping_add(1023) as u64) << 52);
    let extra = if low { f64::from_bits(((1023 - 600) as u64) << 52) } else { 1.0 };
    p * s * extra
}

/// The logistic function's parts at `x`, all from one `e = exp(−|x|)` and one
/// `log1p(e)`, in arithmetic that vectorises ([`exp_nonpos`], [`log1p_unit`]:
/// within 2 ulp of libm's), by the formulas of `math::softplus_f64` and
/// `math::sigmoid_f64`; NaN propagates to every part. An inlined caller pays
/// only for the parts it reads.
#[derive(Clone, Copy)]
pub(crate) struct Logistic {
    /// `log(1 + e^(−|x|))`, the tail every softplus shares.
    pub(crate) tail: f64,
    /// `softplus(x) = max(x, 0) + tail`.
    pub(crate) softplus: f64,
    /// `softplus(−x) = −log σ(x)`.
    pub(crate) softplus_neg: f64,
    /// `σ(x)`: `1 / (1 + e)` for `x ≥ 0`, `e / (1 + e)` below.
    pub(crate) sigmoid: f64,
    /// `σ(−x)`, by the same two formulas.
    pub(crate) sigmoid_neg: f64,
}

/// [`Logistic`] at `x`.
#[inline(always)]
pub(crate) fn logistic(x: f64) -> Logistic {
    let ax = if x < 0.0 { -x } else { x };
    let e = exp_nonpos(-ax);
    let tail = log1p_unit(e);
    let (small, large) = (1.0 / (1.0 + e), e / (1.0 + e));
    Logistic {
        tail,
        softplus: if x > 0.0 { x + tail } else { tail },
        softplus_neg: if x < 0.0 { -x + tail } else { tail },
        sigmoid: if x >= 0.0 { small } else { large },
        sigmoid_neg: if x <= 0.0 { small } else { large },
    }
}

/// `log(1 + e)` for `0 ≤ e ≤ 1`: `2 atanh(s)`, `s = e / (2 + e) ≤ 1/3`, by its
/// series to `s³³` (truncation below 10⁻¹⁷ of the result), `1 + u·t` in
/// `u = s²` with `t` by Estrin's scheme (a dependent chain 6 deep instead of
/// Horner's 16: the vectorised loops are latency-bound on it). About 1 ulp.
#[inline(always)]
pub(crate) fn log1p_unit(e: f64) -> f64 {
    let s = e / (2.0 + e);
    let u = s * s;
    // c_k = 1 / (2k + 1), k = 1 … 16.
    let pair = |k: usize| 1.0 / (2 * k + 1) as f64 + u / (2 * k + 3) as f64;
    let (u2, u4) = (u * u, (u * u) * (u * u));
    let t = ((pair(1) + u2 * pair(3)) + u4 * (pair(5) + u2 * pair(7)))
        + (u4 * u4) * ((pair(9) + u2 * pair(11)) + u4 * (pair(13) + u2 * pair(15)));
    2.0 * s * (1.0 + u * t)
}

// ------------------------------------------------------------------ the ops

/// Binary cross entropy on logits without weights, as
/// `losslab::BinaryCrossEntropyWithLogits`:
/// `ℓ = (1 − y) x − log σ(x)`, `∂ℓ/∂x = σ(x) − y`, `∂ℓ/∂y = −x`.
#[derive(Clone, Copy)]
pub(crate) struct BceLogits;

impl ElemOp for BceLogits {
    #[inline(always)]
    fn eval(self, x: f64, y: f64) -> (f64, f64, f64) {
        // −log σ(x) = softplus(−x), from e = exp(−|x|) ≤ 1 (never overflows).
        let lg = logistic(x);
        ((1.0 - y) * x + lg.softplus_neg, lg.sigmoid - y, -x)
    }

    const LANES512: Lanes = Lanes::F32;

    /// In `f32` lanes: `e = exp(−|x|)`, `ℓ = x (1 − y) + log1p(e)` for `x ≥ 0`
    /// and `−x y + log1p(e)` below (the same value, summed without
    /// cancellation); at `x = −∞`, `x (1 − y) − x` as the general path and
    /// PyTorch (`(1 − y)·x − log σ(x)`): ∞ for `y > 1` (`y = ∞` included),
    /// NaN otherwise. `σ(x) = 1 / (1 + e)` or `e / (1 + e)`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_ps(self, x: __m512, y: __m512) -> (__m512, __m512, __m512) {
        let one = _mm512_set1_ps(1.0);
        let ax = _mm512_abs_ps(x);
        let neg_x = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32(i32::MIN)));
        let e = x86::exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), ax));
        let l1p = x86::log1p_unit_ps(e);
        let nonneg = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_setzero_ps());
        let lin_pos = _mm512_mul_ps(x, _mm512_sub_ps(one, y));
        let lin = _mm512_mask_blend_ps(nonneg, _mm512_mul_ps(neg_x, y), lin_pos);
        let l = _mm512_add_ps(lin, l1p);
        // x = −∞: (1 − y)·x + softplus(−x) = x (1 − y) − x (a masked subtraction
        // in place of a blend: the loop's work is unchanged).
        let l = _mm512_mask_sub_ps(l, _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(x, _mm512_set1_ps(f32::NEG_INFINITY)), lin_pos, x);
        let r = x86::recip_ps(_mm512_add_ps(one, e));
        let sig = _mm512_mask_blend_ps(nonneg, _mm512_mul_ps(e, r), r);
        // NaN x: exp gave NaN, so σ is NaN on either side.
        (l, _mm512_sub_ps(sig, y), neg_x)
    }
}


/// The sigmoid focal loss, as `losslab::SigmoidFocalLoss`
/// (torchvision's formula, the chain rule in the order torch's autograd
/// applies it), with the exp and log1p above. `G` is the focusing exponent
/// where it is a small integer (0 to 4, a product: the loop vectorises), or
/// [`FOCAL_ANY_GAMMA`] for any other (`powf`, per element).
#[derive(Clone, Copy)]
pub(crate) struct SigmoidFocal<const G: u8> {
    pub(crate) alpha: f64,
    pub(crate) gamma: f64,
}

/// `G` of [`SigmoidFocal`] for a non-integer (or large) exponent.
pub(crate) const FOCAL_ANY_GAMMA: u8 = u8::MAX;

impl<const G: u8> SigmoidFocal<G> {
    /// `base^k` for `k = γ` (`less = 0`) or `γ − 1` (`less = 1`, `γ ≥ 1`).
    #[inline(always)]
    fn pow(self, base: f64, less: u8) -> f64 {
        if G == FOCAL_ANY_GAMMA {
            return base.powf(self.gamma - f64::from(less));
        }
        let mut r = 1.0;
        for _ in 0..G.saturating_sub(less) {
            r *= base;
        }
        r
    }
}

impl<const G: u8> ElemOp for SigmoidFocal<G> {
    #[inline(always)]
    fn eval(self, x: f64, y: f64) -> (f64, f64, f64) {
        // −log σ(x) = softplus(−x); σ(x) from e on either side.
        let lg = logistic(x);
        let p = lg.sigmoid;
        let ce = (1.0 - y) * x + lg.softplus_neg;
        let p_t = p * y + (1.0 - p) * (1.0 - y);
        let base = 1.0 - p_t;
        let m = self.pow(base, 0);
        let loss = ce * m;
        let a = self.alpha;
        let weighted = a >= 0.0;
        let (g, gy_alpha) = if weighted { (a * y + (1.0 - a) * (1.0 - y), ce * m * (a - (1.0 - a))) } else { (1.0, 0.0) };
        let value = if weighted { g * loss } else { loss };
        let g_ce = g * m;
        let g_m = g * ce;
        // torch's pow backward: 0 for exponent 0, else γ · base^(γ − 1)
        let g_base = if G == 0 || self.gamma == 0.0 { 0.0 } else { g_m * (self.gamma * self.pow(base, 1)) };
        let g_pt = -g_base;
        let g_p = g_pt * y - g_pt * (1.0 - y);
        let gy = gy_alpha + (g_pt * p - g_pt * (1.0 - p));
        let gx = g_ce * (p - y) + g_p * (1.0 - p) * p;
        (value, gx, gy + -x * g_ce)
    }

    /// For a small integer exponent: `eval`'s formula on 8 `f64` lanes, in
    /// the same order, with an exp and a log1p cut to the precision an `f32`
    /// result needs ([`x86::exp_nonpos_pd`], [`x86::log1p_unit_pd`]: below
    /// 10⁻¹⁰ relative, where `eval`'s are within 2 ulp of `f64`), by FMAs.
    const LANES512: Lanes = if G == FOCAL_ANY_GAMMA { Lanes::Generic } else { Lanes::F64 };

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_pd(self, x: __m512d, y: __m512d) -> (__m512d, __m512d, __m512d) {
        let (zero, one) = (_mm512_setzero_pd(), _mm512_set1_pd(1.0));
        let neg_x = x86::neg_pd(x);
        let below = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, zero);
        let ax = _mm512_mask_blend_pd(below, x, neg_x);
        let e = x86::exp_nonpos_pd(_mm512_sub_pd(zero, ax));
        let l1p = x86::log1p_unit_pd(e);
        let softplus_neg = _mm512_mask_blend_pd(below, l1p, _mm512_add_pd(neg_x, l1p));
        // σ(x): 1 / (1 + e) for x ≥ 0, e / (1 + e) below (and for NaN, as `eval`).
        let nonneg = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(x, zero);
        let p = _mm512_div_pd(_mm512_mask_blend_pd(nonneg, e, one), _mm512_add_pd(one, e));
        let (one_y, one_p) = (_mm512_sub_pd(one, y), _mm512_sub_pd(one, p));
        let ce = _mm512_add_pd(_mm512_mul_pd(one_y, x), softplus_neg);
        let p_t = _mm512_add_pd(_mm512_mul_pd(p, y), _mm512_mul_pd(one_p, one_y));
        let base = _mm512_sub_pd(one, p_t);
        let pow = |less: u8| {
            let mut r = one;
            for _ in 0..G.saturating_sub(less) {
                r = _mm512_mul_pd(r, base);
            }
            r
        };
        let m = pow(0);
        let loss = _mm512_mul_pd(ce, m);
        let a = self.alpha;
        let (g, gy_alpha, value) = if a >= 0.0 {
            let av = _mm512_set1_pd(a);
            let g = _mm512_add_pd(_mm512_mul_pd(av, y), _mm512_mul_pd(_mm512_set1_pd(1.0 - a), one_y));
            (g, _mm512_mul_pd(_mm512_mul_pd(ce, m), _mm512_set1_pd(a - (1.0 - a))), _mm512_mul_pd(g, loss))
        } else {
            (one, zero, loss)
        };
        let g_ce = _mm512_mul_pd(g, m);
        let g_m = _mm512_mul_pd(g, ce);
        let g_base = if G == 0 || self.gamma == 0.0 { zero } else { _mm512_mul_pd(g_m, _mm512_mul_pd(_mm512_set1_pd(self.gamma), pow(1))) };
        let g_pt = _mm512_sub_pd(zero, g_base);
        let g_p = _mm512_sub_pd(_mm512_mul_pd(g_pt, y), _mm512_mul_pd(g_pt, one_y));
        let gy = _mm512_add_pd(gy_alpha, _mm512_sub_pd(_mm512_mul_pd(g_pt, p), _mm512_mul_pd(g_pt, one_p)));
        let gx = _mm512_add_pd(_mm512_mul_pd(g_ce, _mm512_sub_pd(p, y)), _mm512_mul_pd(_mm512_mul_pd(g_p, one_p), p));
        (value, gx, _mm512_add_pd(gy, _mm512_mul_pd(neg_x, g_ce)))
    }
}

// -------------------------------------------------- the AVX-512 loop for f32

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::{mode, ElemOp, Job, Lanes, CHUNK, NT_MIN};
    use std::arch::x86_64::*;

    /// `−v`, exactly (the sign bit flipped; `−0` for `0`).
    #[inline(always)]
    pub(crate) unsafe fn neg_pd(v: __m512d) -> __m512d {
        _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(v), _mm512_set1_epi64(i64::MIN)))
    }

    /// The low and high 8 lanes of `v`, widened to `f64` (exact).
    #[inline(always)]
    unsafe fn widen(v: __m512) -> (__m512d, __m512d) {
        let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        let hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v))));
        (lo, hi)
    }

    /// Two vectors of 8 `f64` rounded (to nearest) into 16 `f32` lanes.
    #[inline(always)]
    unsafe fn narrow(lo: __m512d, hi: __m512d) -> __m512 {
        _mm512_insertf32x8::<1>(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi))
    }

    /// How an output buffer is written: 0 ordinary stores, 1 streaming in
    /// 16-byte pieces, 2 streaming 64 bytes at once (by its alignment; every
    /// group of 16 elements of a chunk has the buffer's alignment).
    #[inline(always)]
    fn store_kind(p: *mut f32, nt: bool) -> u8 {
        let a = p as usize;
        if !nt || p.is_null() {
            0
        } else if a.is_multiple_of(64) {
            2
        } else if a.is_multiple_of(16) {
            1
        } else {
            0
        }
    }

    #[inline(always)]
    unsafe fn put<const FULL: bool>(p: *mut f32, v: __m512, k: __mmask16, kind: u8) {
        if !FULL {
            _mm512_mask_storeu_ps(p, k, v);
        } else if kind == 2 {
            _mm512_stream_ps(p, v);
        } else if kind == 1 {
            _mm_stream_ps(p, _mm512_extractf32x4_ps::<0>(v));
            _mm_stream_ps(p.add(4), _mm512_extractf32x4_ps::<1>(v));
            _mm_stream_ps(p.add(8), _mm512_extractf32x4_ps::<2>(v));
            _mm_stream_ps(p.add(12), _mm512_extractf32x4_ps::<3>(v));
        } else {
            _mm512_storeu_ps(p, v);
        }
    }

    #[inline(always)]
    unsafe fn load<const FULL: bool>(p: *const f32, k: __mmask16) -> __m512 {
        if FULL {
            _mm512_loadu_ps(p)
        } else {
            _mm512_maskz_loadu_ps(k, p)
        }
    }

    /// One group of 16 elements at `i` (`FULL`), or the last `< 16` (mask `k`).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn group<O: ElemOp, const M: u8, const FULL: bool>(
        op: O,
        j: &Job<f32>,
        i: usize,
        k: __mmask16,
        kinds: (u8, u8, u8),
        acc: &mut (__m512d, __m512d),
    ) {
        let x = load::<FULL>(j.x.add(i), k);
        let y = load::<FULL>(j.y.add(i), k);
        // (ℓ in f64 lanes, ∂ℓ/∂x and ∂ℓ/∂y in f64 lanes, unscaled)
        let (l0, l1, dx0, dx1, dy0, dy1) = match O::LANES512 {
            Lanes::F64 => {
                let (x0, x1) = widen(x);
                let (y0, y1) = widen(y);
                let (l0, dx0, dy0) = op.eval_pd(x0, y0);
                let (l1, dx1, dy1) = op.eval_pd(x1, y1);
                (l0, l1, dx0, dx1, dy0, dy1)
            }
            _ => {
                // f32 lanes: the gradients are scaled in f32 too.
                let (l, dx, dy) = op.eval_ps(x, y);
                let s = if M & mode::PER != 0 { load::<FULL>(j.up.add(i), k) } else { _mm512_set1_ps(j.scale as f32) };
                let (l0, l1) = widen(l);
                return finish::<M, FULL>(j, i, k, kinds, acc, l0, l1, _mm512_mul_ps(s, dx), _mm512_mul_ps(s, dy));
            }
        };
        let (s0, s1) = if M & mode::PER != 0 {
            widen(load::<FULL>(j.up.add(i), k))
        } else {
            let s = _mm512_set1_pd(j.scale);
            (s, s)
        };
        let gx = if M & mode::GX != 0 { narrow(_mm512_mul_pd(s0, dx0), _mm512_mul_pd(s1, dx1)) } else { _mm512_setzero_ps() };
        let gy = if M & mode::GY != 0 { narrow(_mm512_mul_pd(s0, dy0), _mm512_mul_pd(s1, dy1)) } else { _mm512_setzero_ps() };
        finish::<M, FULL>(j, i, k, kinds, acc, l0, l1, gx, gy);
    }

    /// The sum and the stores of one group: the losses `l0`, `l1` (`f64`), the
    /// scaled gradients `gx`, `gy`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn finish<const M: u8, const FULL: bool>(
        j: &Job<f32>,
        i: usize,
        k: __mmask16,
        kinds: (u8, u8, u8),
        acc: &mut (__m512d, __m512d),
        l0: __m512d,
        l1: __m512d,
        gx: __m512,
        gy: __m512,
    ) {
        if M & mode::SUM != 0 {
            // Lanes past the end hold zeros' losses: masked out.
            let (k0, k1) = ((k & 0xff) as __mmask8, (k >> 8) as __mmask8);
            acc.0 = _mm512_add_pd(acc.0, if FULL { l0 } else { _mm512_maskz_mov_pd(k0, l0) });
            acc.1 = _mm512_add_pd(acc.1, if FULL { l1 } else { _mm512_maskz_mov_pd(k1, l1) });
        }
        if M & mode::STORE != 0 {
            put::<FULL>(j.losses.0.add(i), narrow(l0, l1), k, kinds.0);
        }
        if M & mode::GX != 0 {
            put::<FULL>(j.gx.0.add(i), gx, k, kinds.1);
        }
        if M & mode::GY != 0 {
            put::<FULL>(j.gy.0.add(i), gy, k, kinds.2);
        }
    }

    /// One chunk `[lo, hi)`: its sum, lane `k` holding the elements `lo + k
    /// (mod 16)`, the 16 lanes combined by a fixed tree.
    #[inline(always)]
    unsafe fn chunk<O: ElemOp, const M: u8>(op: O, j: &Job<f32>, lo: usize, hi: usize, kinds: (u8, u8, u8)) -> f64 {
        let z = _mm512_setzero_pd();
        let mut acc = (z, z);
        let mut i = lo;
        while i + 16 <= hi {
            group::<O, M, true>(op, j, i, 0xffff, kinds, &mut acc);
            i += 16;
        }
        if i < hi {
            let k = ((1u32 << (hi - i)) - 1) as __mmask16;
            group::<O, M, false>(op, j, i, k, kinds, &mut acc);
        }
        let mut a = [0.0f64; 8];
        _mm512_storeu_pd(a.as_mut_ptr(), _mm512_add_pd(acc.0, acc.1));
        ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
    }

    /// The chunks `[c0, c1)`: their sums, compensated in order (as the portable loop).
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    pub(crate) unsafe fn chunks_f32<O: ElemOp, const M: u8>(op: O, j: &Job<f32>, c0: usize, c1: usize) -> f64 {
        let nt = j.len >= NT_MIN;
        let kinds = (store_kind(j.losses.0, nt), store_kind(j.gx.0, nt), store_kind(j.gy.0, nt));
        let total = crate::machinery::reduction::sum_f64((c0..c1).map(|k| chunk::<O, M>(op, j, k * CHUNK, ((k + 1) * CHUNK).min(j.len), kinds)));
        if kinds != (0, 0, 0) {
            // The streaming stores are weakly ordered: make them visible before
            // the task reports done.
            _mm_sfence();
        }
        total
    }

    /// The rows `lo..hi` of a per-row reduction of an op over `(rows, c)`
    /// `f32` operands at `x` and `y`: each row's sum over its `c` elements by
    /// the loop [`chunks_f32`] runs on the row alone (the same chunks, lanes
    /// and tree: the same bits), divided by `cf` (1, or `c` for a mean),
    /// stored at `losses[r]` (unless null) and summed compensated in row
    /// order, as [`rows::run`](super::super::rows::run)'s parts do; with
    /// `grads` (`∂/∂x`, `∂/∂y`, each row's upstream gradient) both gradients
    /// of each row in the same pass, scaled by its upstream gradient over
    /// `cf`. One loop over the rows, the chunk's inlined: no call per row, and
    /// consecutive rows overlap in the core.
    ///
    /// # Safety
    /// `x` and `y` hold rows `lo..hi` of `c` elements; `losses` is null or
    /// holds those rows' slots; each gradient holds those rows' `c` elements;
    /// what is written is this call's alone.
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn rows_f32<O: ElemOp>(
        op: O,
        (x, y, c): (*const f32, *const f32, usize),
        cf: f64,
        losses: *mut f32,
        grads: Option<(*mut f32, *mut f32, &crate::machinery::reduction::Scales)>,
        lo: usize,
        hi: usize,
    ) -> f64 {
        // One loop per mode (the mode a constant in each).
        if grads.is_some() {
            rows_mode::<O, { mode::SUM | mode::GX | mode::GY }>(op, (x, y, c), cf, losses, grads, lo..hi)
        } else {
            rows_mode::<O, { mode::SUM }>(op, (x, y, c), cf, losses, None, lo..hi)
        }
    }

    /// [`rows_f32`] in mode `M`.
    #[inline(always)]
    unsafe fn rows_mode<O: ElemOp, const M: u8>(
        op: O,
        (x, y, c): (*const f32, *const f32, usize),
        cf: f64,
        losses: *mut f32,
        grads: Option<(*mut f32, *mut f32, &crate::machinery::reduction::Scales)>,
        rows: std::ops::Range<usize>,
    ) -> f64 {
        use crate::machinery::kernels::par::SyncPtr;
        let nt = c >= NT_MIN;
        let mut fenced = false;
        let mut sum = crate::machinery::reduction::Neumaier::default();
        for r in rows {
            let mut j = Job { x: x.add(r * c), y: y.add(r * c), len: c, losses: SyncPtr::null(), gx: SyncPtr::null(), gy: SyncPtr::null(), up: std::ptr::null(), scale: 1.0 };
            if let Some((gx, gy, sc)) = grads {
                j.scale = sc.at(r) / cf;
                (j.gx, j.gy) = (SyncPtr(gx.add(r * c)), SyncPtr(gy.add(r * c)));
            }
            let kinds = (0, store_kind(j.gx.0, nt), store_kind(j.gy.0, nt));
            fenced |= kinds != (0, 0, 0);
            // The chunks' sums compensated in order, as `sum_f64` (a loop
            // here: through `sum_f64`'s closure the chunk would lose this
            // function's instruction set).
            let mut chunks = crate::machinery::reduction::Neumaier::default();
            let mut k = 0;
            while k * CHUNK < c {
                chunks.add(chunk::<O, M>(op, &j, k * CHUNK, ((k + 1) * CHUNK).min(c), kinds));
                k += 1;
            }
            let l = chunks.total() / cf;
            if !losses.is_null() {
                *losses.add(r) = l as f32;
            }
            sum.add(l);
        }
        if fenced {
            // The streaming stores (rows of `NT_MIN` elements or more) are
            // weakly ordered: visible before the part reports done.
            _mm_sfence();
        }
        sum.total()
    }

    /// `exp(z)` for `z ≤ 0` on 8 `f64` lanes, to the precision an `f32` result
    /// needs: Cody–Waite reduction to `|r| ≤ ln 2 / 2`, Taylor to degree 10
    /// (truncation below 3·10⁻¹³ relative) by FMAs, `scalef` for `2ⁿ` (gradual
    /// underflow, and 0 below). NaN propagates; −∞ gives 0.
    #[inline(always)]
    #[allow(clippy::excessive_precision)] // fdlibm's published digits
    pub(crate) unsafe fn exp_nonpos_pd(z: __m512d) -> __m512d {
        // max(−750, z) returns z where z is NaN.
        let z = _mm512_max_pd(_mm512_set1_pd(-750.0), z);
        let n = _mm512_roundscale_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_pd(z, _mm512_set1_pd(std::f64::consts::LOG2_E)));
        let r = _mm512_fnmadd_pd(n, _mm512_set1_pd(6.931_471_803_691_238_164_90e-1), z);
        let r = _mm512_fnmadd_pd(n, _mm512_set1_pd(1.908_214_929_270_587_700_02e-10), r);
        let mut p = _mm512_set1_pd(1.0 / 3_628_800.0);
        for c in [1.0 / 362_880.0, 1.0 / 40_320.0, 1.0 / 5_040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
            p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(c));
        }
        _mm512_scalef_pd(p, n)
    }

    /// `log(1 + e)` for `0 ≤ e ≤ 1` on 8 `f64` lanes, to the precision an `f32`
    /// result needs: `2 atanh(s)`, `s = e / (2 + e) ≤ 1/3`, its series to `s¹⁹`
    /// (truncation below 2·10⁻¹¹ relative) by FMAs. NaN propagates.
    #[inline(always)]
    pub(crate) unsafe fn log1p_unit_pd(e: __m512d) -> __m512d {
        let s = _mm512_div_pd(e, _mm512_add_pd(_mm512_set1_pd(2.0), e));
        let z = _mm512_mul_pd(s, s);
        let mut p = _mm512_set1_pd(1.0 / 19.0);
        for k in (0..9).rev() {
            p = _mm512_fmadd_pd(p, z, _mm512_set1_pd(1.0 / (2 * k + 1) as f64));
        }
        _mm512_mul_pd(_mm512_add_pd(s, s), p)
    }

    /// `ln x` for `0 < x < ∞` on 8 `f64` lanes, to the precision an `f32`
    /// result needs: `x = m · 2ᵏ` with `m ∈ [¾, 1.5)` (`getmant`, `getexp`),
    /// `ln x = k ln 2 + log1p(m − 1)` ([`log1p_unit_pd`], whose series in
    /// `s = e / (2 + e)` holds on `m − 1 ∈ [−¼, ½)` as on `[0, 1]`, `|s| ≤ ⅕`).
    #[inline(always)]
    pub(crate) unsafe fn ln_pos_pd(x: __m512d) -> __m512d {
        let one = _mm512_set1_pd(1.0);
        let m = _mm512_getmant_pd::<_MM_MANT_NORM_P75_1P5, _MM_MANT_SIGN_ZERO>(x);
        let e = _mm512_getexp_pd(x);
        // m < 1: the mantissa was halved to enter [¾, 1.5), so k is one more.
        let k = _mm512_mask_add_pd(e, _mm512_cmp_pd_mask::<_CMP_LT_OQ>(m, one), e, one);
        _mm512_fmadd_pd(k, _mm512_set1_pd(std::f64::consts::LN_2), log1p_unit_pd(_mm512_sub_pd(m, one)))
    }

    /// [`super::pow_batch`] on AVX-512: `exp(q ln p)` ([`ln_pos_pd`],
    /// [`exp_nonpos_pd`]) on the lanes with `0 < p ≤ 1` (where `q ln p ≤ 0`
    /// for `q > 0`), libm's `pow` on the others (0, above 1, negative, NaN).
    /// The relative error is below `2·10⁻¹¹ |q ln p| + 3·10⁻¹³`: under
    /// 2·10⁻⁹ for any `p` an `f32` holds, far below its ulp (6·10⁻⁸).
    #[target_feature(enable = "avx512f,avx512dq")]
    pub(crate) unsafe fn pow_unit_batch(p: &[f64], q: f64, out: &mut [f64]) {
        let (one, zero, vq) = (_mm512_set1_pd(1.0), _mm512_setzero_pd(), _mm512_set1_pd(q));
        for (pc, oc) in p.chunks(8).zip(out.chunks_mut(8)) {
            let k: __mmask8 = if pc.len() == 8 { 0xff } else { ((1u32 << pc.len()) - 1) as __mmask8 };
            let v = _mm512_maskz_loadu_pd(k, pc.as_ptr());
            let ok = _mm512_mask_cmp_pd_mask::<_CMP_GT_OQ>(k, v, zero) & _mm512_mask_cmp_pd_mask::<_CMP_LE_OQ>(k, v, one);
            // The other lanes' operand is 1 (their result is replaced below).
            let r = exp_nonpos_pd(_mm512_mul_pd(vq, ln_pos_pd(_mm512_mask_mov_pd(one, ok, v))));
            _mm512_mask_storeu_pd(oc.as_mut_ptr(), k, r);
            if ok != k {
                for (i, (o, &x)) in oc.iter_mut().zip(pc).enumerate() {
                    if ok & (1 << i) == 0 {
                        *o = x.powf(q);
                    }
                }
            }
        }
    }

    /// `exp(z)` for `z ≤ 0` on 16 `f32` lanes: the fused softmax kernel's
    /// ([`crate::machinery::kernels::simd`]; about 1 ulp, gradual underflow included).
    /// NaN propagates; −∞ gives 0.
    #[inline(always)]
    pub(crate) unsafe fn exp_ps(x: __m512) -> __m512 {
        crate::machinery::kernels::simd::exp_lanes512::<false>(x)
    }

    /// `1 / a` for `1 ≤ a ≤ 3`: the 14-bit estimate and one Newton step
    /// (relative error below 2⁻²⁶ before the last rounding; no division).
    #[inline(always)]
    pub(crate) unsafe fn recip_ps(a: __m512) -> __m512 {
        let y0 = _mm512_rcp14_ps(a);
        let err = _mm512_fnmadd_ps(a, y0, _mm512_set1_ps(1.0));
        _mm512_fmadd_ps(y0, err, y0)
    }

    /// `exp(x)` on 16 `f32` lanes for every `x` ([`exp_ps`] with `x` capped at
    /// 100, past which `2ⁿ` overflows to `∞`): within 1 ulp; NaN propagates,
    /// `−∞` gives 0 and `∞` gives `∞`.
    #[inline(always)]
    pub(crate) unsafe fn exp_any_ps(x: __m512) -> __m512 {
        // min(100, x) returns x where x is NaN.
        exp_ps(_mm512_min_ps(_mm512_set1_ps(100.0), x))
    }

    /// `ln x` on 16 `f32` lanes: `x = m · 2ᵏ` with `m ∈ [¾, 1.5)` (`getmant`,
    /// `getexp`: subnormals included), `ln x = k ln 2 + log1p(m − 1)` (`m − 1`
    /// exact; [`log1p_unit_ps`], whose fit in `s²` covers `m − 1 ∈ [−¼, ½)`
    /// as it covers `[0, 1]`), `ln 2` in two parts (`k · LN2_HI` exact).
    /// Within 2.5 ulp of the `f64` truth (2.23 at worst, tested); `ln 0 = −∞`, `ln ∞ = ∞`,
    /// NaN for negative inputs and NaN.
    #[inline(always)]
    pub(crate) unsafe fn ln_ps(x: __m512) -> __m512 {
        let (k, u) = ln_split_ps(x);
        ln_join_ps(x, k, log1p_unit_ps(u))
    }

    /// [`ln_ps`]'s reduction: `x = m · 2ᵏ`, `m ∈ [¾, 1.5)`; `(k, m − 1)`.
    #[inline(always)]
    unsafe fn ln_split_ps(x: __m512) -> (__m512, __m512) {
        let one = _mm512_set1_ps(1.0);
        let m = _mm512_getmant_ps::<_MM_MANT_NORM_P75_1P5, _MM_MANT_SIGN_ZERO>(x);
        let e = _mm512_getexp_ps(x);
        // m < 1: the mantissa was halved to enter [¾, 1.5), so k is one more.
        let k = _mm512_mask_add_ps(e, _mm512_cmp_ps_mask::<_CMP_LT_OQ>(m, one), e, one);
        (k, _mm512_sub_ps(m, one))
    }

    /// [`ln_ps`]'s end: `k ln 2 + l` (`l = log1p(m − 1)`), and the special
    /// values of `x`.
    #[inline(always)]
    unsafe fn ln_join_ps(x: __m512, k: __m512, l: __m512) -> __m512 {
        // ln 2 = LN2_HI + LN2_LO, LN2_HI with 9 significant bits (k · LN2_HI exact).
        const LN2_HI: f32 = 355.0 / 512.0; // 0.693359375, exact
        const LN2_LO: f32 = -2.121_944_4e-4;
        let v = _mm512_fmadd_ps(k, _mm512_set1_ps(LN2_HI), _mm512_fmadd_ps(k, _mm512_set1_ps(LN2_LO), l));
        let v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(x, _mm512_setzero_ps()), _mm512_set1_ps(f32::NEG_INFINITY));
        let v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(x, _mm512_set1_ps(f32::INFINITY)), x);
        // Negative inputs and NaN: NaN.
        _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask::<_CMP_NGE_UQ>(x, _mm512_setzero_ps()), _mm512_set1_ps(f32::NAN))
    }

    /// `log(1 + x)` on 16 `f32` lanes for every `x ≥ −1`: [`log1p_unit_ps`]
    /// on `[−½, 1]` (`s = x / (2 + x)` then has `|s| ≤ ⅓`, where its fit in
    /// `s²` holds), else [`ln_ps`]`(1 + x)` (where `1 + x` is exact, or `≥ 2`
    /// and rounded by at most ½ ulp of itself). One evaluation of the fit
    /// serves both: its operand is `x` on the near lanes, `m − 1` of `1 + x`
    /// on the others (the same bits as the two forms computed apart). Within
    /// 2.5 ulp of the `f64` truth (tested); `−1` gives `−∞`, below it NaN;
    /// `∞` gives `∞`, NaN propagates.
    #[inline(always)]
    pub(crate) unsafe fn log1p_ps(x: __m512) -> __m512 {
        let near = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_set1_ps(-0.5)) & _mm512_cmp_ps_mask::<_CMP_LE_OQ>(x, _mm512_set1_ps(1.0));
        let w = _mm512_add_ps(_mm512_set1_ps(1.0), x);
        let (k, u) = ln_split_ps(w);
        let l = log1p_unit_ps(_mm512_mask_mov_ps(u, near, x));
        _mm512_mask_mov_ps(ln_join_ps(w, k, l), near, l)
    }

    // log(1 + e) for 0 ≤ e ≤ 1 on 16 f32 lanes: 2 atanh(s) = 2s (1 + s² P(s²)),
    // s = e / (2 + e) ≤ 1/3, P of degree 3 fitted (minimax of the relative
    // error, by linear programming) in place of atanh's series to s¹⁵: 7·10⁻⁹
    // relative before rounding (the roundings of `2 + e` and `s` dominate:
    // 2.38 ulp at worst, as with the series).
    #[inline(always)]
    pub(crate) unsafe fn log1p_unit_ps(e: __m512) -> __m512 {
        two_atanh_ps(_mm512_mul_ps(e, recip_ps(_mm512_add_ps(_mm512_set1_ps(2.0), e))))
    }

    /// `2 atanh(s) = ln((1 + s) / (1 − s))` for `|s| ≤ ⅓` on 16 `f32` lanes:
    /// [`log1p_unit_ps`]'s fit after its quotient (so `logit(x) = 2 atanh(2x − 1)`
    /// with `2x − 1` exact, for `x ∈ [⅓, ⅔]`).
    #[inline(always)]
    pub(crate) unsafe fn two_atanh_ps(s: __m512) -> __m512 {
        let s2 = _mm512_mul_ps(s, s);
        let mut p = _mm512_set1_ps(0.141_051_07);
        for c in [0.139_821_38, 0.200_118_65, 0.333_331_85] {
            p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(c));
        }
        // 2s + 2s·s²·p
        let t = _mm512_add_ps(s, s);
        _mm512_fmadd_ps(_mm512_mul_ps(t, s2), p, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_nonpos_is_within_2_ulp_of_libm() {
        let mut z = 0.0f64;
        while z > -760.0 {
            let (got, want) = (exp_nonpos(z), z.exp());
            let ulp = (want * f64::EPSILON).max(f64::from_bits(1));
            assert!((got - want).abs() <= 2.0 * ulp, "exp({z}) = {got}, libm {want}");
            z -= 0.0137;
        }
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert_eq!(exp_nonpos(f64::NEG_INFINITY), 0.0);
        assert!(exp_nonpos(f64::NAN).is_nan());
    }

    /// `f` on the lanes of `c` (at most 16 values; the rest zeros).
    #[cfg(target_arch = "x86_64")]
    fn on_lanes(f: unsafe fn(__m512) -> __m512, c: &[f32]) -> [f32; 16] {
        assert!(is_x86_feature_detected!("avx512f"));
        let mut buf = [0f32; 16];
        buf[..c.len()].copy_from_slice(c);
        // SAFETY: AVX-512 is present (asserted above); f is an AVX-512 lane function.
        unsafe { _mm512_storeu_ps(buf.as_mut_ptr(), f(_mm512_loadu_ps(buf.as_ptr()))) };
        buf
    }

    /// `f` on every value of `xs`, each within `bound` ulp of `f32` of
    /// `truth(x)` (an ulp of the truth rounded to `f32`, the smallest
    /// subnormal at 0); the worst error seen.
    #[cfg(target_arch = "x86_64")]
    fn within_ulps(name: &str, f: unsafe fn(__m512) -> __m512, xs: &[f32], truth: fn(f64) -> f64, bound: f64) -> f64 {
        let mut worst = 0.0f64;
        for c in xs.chunks(16) {
            for (&x, &got) in c.iter().zip(&on_lanes(f, c)) {
                let want = truth(f64::from(x));
                let t = (want as f32).abs();
                let ulp = if t == 0.0 { f64::from(f32::from_bits(1)) } else { f64::from(f32::from_bits(t.to_bits() + 1) - t) };
                let u = (f64::from(got) - want).abs() / ulp;
                assert!(u <= bound, "{name}({x:e}) = {got:e}, truth {want:e}: {u} ulp");
                worst = worst.max(u);
            }
        }
        eprintln!("{name}: worst error {worst:.3} ulp");
        worst
    }

    /// The `f32` lanes' `log1p` (BCE with logits' AVX-512 loop), on every
    /// 64th `f32` of `[0, 1]`: within 2.5 ulp of the `f64` truth (2.38 at
    /// worst, from rounding `2 + e` and `s`: atanh's series to `s¹⁵` gave the same).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn log1p_unit_ps_is_within_2_5_ulp() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut e: Vec<f32> = (0..=1.0f32.to_bits()).step_by(64).map(f32::from_bits).collect();
        e.push(1.0);
        within_ulps("log1p_unit_ps", x86::log1p_unit_ps, &e, f64::ln_1p, 2.5);
    }

    /// The `f32` lanes' `ln` on every 997th positive `f32` (subnormals to the
    /// largest) and its special values: within 2.5 ulp of the `f64` truth.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn ln_ps_is_within_2_5_ulp() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut x: Vec<f32> = (1..f32::INFINITY.to_bits()).step_by(997).map(f32::from_bits).collect();
        x.extend([1.0, 0.75, 1.5, 2.0, 0.5, f32::MIN_POSITIVE, f32::from_bits(1), f32::MAX, 1.0 - f32::EPSILON / 2.0, 1.0 + f32::EPSILON]);
        within_ulps("ln_ps", x86::ln_ps, &x, f64::ln, 2.5);
        let sp = on_lanes(x86::ln_ps, &[0.0, -0.0, f32::INFINITY, -1.0, f32::NEG_INFINITY, f32::NAN, -f32::MIN_POSITIVE]);
        assert_eq!(&sp[..3], &[f32::NEG_INFINITY, f32::NEG_INFINITY, f32::INFINITY]);
        assert!(sp[3..7].iter().all(|v| v.is_nan()), "{sp:?}");
    }

    /// [`x86::log1p_ps`] on every 331st `f32` of `[−1, ∞)` and its special values.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn log1p_ps_is_within_2_5_ulp() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut x: Vec<f32> = (0..f32::INFINITY.to_bits()).step_by(331).map(f32::from_bits).collect();
        x.extend((0..=1.0f32.to_bits()).step_by(331).map(|b| -f32::from_bits(b)));
        x.extend([-0.5, 1.0, -0.5000001, -0.2500001, 1.0000001, -1.0 + f32::EPSILON, 3e-8, -3e-8]);
        within_ulps("log1p_ps", x86::log1p_ps, &x, f64::ln_1p, 2.5);
        let sp = on_lanes(x86::log1p_ps, &[-1.0, f32::INFINITY, -1.5, f32::NAN]);
        assert_eq!(&sp[..2], &[f32::NEG_INFINITY, f32::INFINITY]);
        assert!(sp[2].is_nan() && sp[3].is_nan());
    }

    /// [`x86::exp_any_ps`] over the whole `f32` range, past overflow and underflow.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn exp_any_ps_is_within_1_5_ulp() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut x: Vec<f32> = (-110_000..=110_000).map(|i| i as f32 / 1000.0).collect();
        x.extend([f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30, 88.72, 88.73, f32::NAN]);
        for c in x.chunks(16) {
            for (&x, &got) in c.iter().zip(&on_lanes(x86::exp_any_ps, c)) {
                let truth = f64::from(x).exp();
                if x.is_nan() {
                    assert!(got.is_nan());
                    continue;
                }
                let t = truth as f32;
                if t.is_infinite() || t == 0.0 {
                    assert!(got == t || (t == 0.0 && got <= f32::from_bits(2)), "exp({x:e}) = {got:e}, truth {truth:e}");
                    continue;
                }
                let ulp = f64::from(f32::from_bits(t.to_bits() + 1) - t).max(f64::from(f32::from_bits(1)));
                assert!((f64::from(got) - truth).abs() <= 1.5 * ulp, "exp({x:e}) = {got:e}, truth {truth:e}");
            }
        }
    }

    #[test]
    fn logistic_agrees_with_the_primitives() {
        use crate::math::{sigmoid_f64, softplus_f64};
        let close = |got: f64, want: f64| (got - want).abs() <= 4.0 * want.abs() * f64::EPSILON;
        for i in -40_000..=40_000 {
            let x = i as f64 / 1000.0;
            let lg = logistic(x);
            assert!(close(lg.softplus, softplus_f64(x)), "softplus({x}) = {}", lg.softplus);
            assert!(close(lg.softplus_neg, softplus_f64(-x)), "softplus(−{x}) = {}", lg.softplus_neg);
            assert!(close(lg.sigmoid, sigmoid_f64(x)), "σ({x}) = {}", lg.sigmoid);
            assert!(close(lg.sigmoid_neg, sigmoid_f64(-x)), "σ(−{x}) = {}", lg.sigmoid_neg);
            assert!(close(lg.tail, (-x.abs()).exp().ln_1p()), "log1p(exp(−|{x}|))");
        }
        for (x, sp, sp_neg, sig) in [(f64::INFINITY, f64::INFINITY, 0.0, 1.0), (f64::NEG_INFINITY, 0.0, f64::INFINITY, 0.0), (1e300, 1e300, 0.0, 1.0), (-1e300, 0.0, 1e300, 0.0)] {
            let lg = logistic(x);
            assert_eq!((lg.softplus, lg.softplus_neg, lg.sigmoid, lg.sigmoid_neg), (sp, sp_neg, sig, 1.0 - sig), "{x}");
        }
        let lg = logistic(f64::NAN);
        assert!([lg.tail, lg.softplus, lg.softplus_neg, lg.sigmoid, lg.sigmoid_neg].iter().all(|v| v.is_nan()));
    }

    #[test]
    fn log1p_unit_is_within_2_ulp_of_libm() {
        for i in 0..=10_000 {
            let e = i as f64 / 10_000.0;
            for e in [e, e * 1e-9, e * 1e-300] {
                let (got, want) = (log1p_unit(e), e.ln_1p());
                assert!((got - want).abs() <= 2.0 * want * f64::EPSILON, "log1p({e}) = {got}, libm {want}");
            }
        }
    }
}
