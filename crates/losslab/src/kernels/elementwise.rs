//! Element-wise losses (MSE, L1, Smooth L1, Huber, BCE with logits): the loss,
//! its sum and its gradients in one sweep over contiguous inputs.
//!
//! Each element is computed in `f64` by the loss's own formula (the general
//! path's, for the regression losses; a vectorisable exp and log1p for BCE with
//! logits), so that the loop vectorises: it is compiled three times, for
//! AVX-512, AVX2 + FMA and the baseline, and chosen once at run time. LLVM does
//! not contract or reorder floating-point operations, so the three give the
//! same bits.
//!
//! The sum is bit-identical whatever the thread count: the input is cut into
//! chunks of [`CHUNK`] elements, each summed in [`LANES`] lanes combined in a
//! fixed order; the chunks are grouped into at most [`MAX_PARTS`] parts, fixed
//! by the length alone, whose sums are compensated (Neumaier) in order.

use super::par::{self, SyncPtr};
use crate::float::Float;

/// Elements per chunk: one sum of [`LANES`] lanes.
pub(crate) const CHUNK: usize = 1 << 13;
/// Elements computed together, each with its own accumulator (two AVX-512
/// registers of `f64`, for two independent dependency chains).
pub(crate) const LANES: usize = 16;
/// The most parallel tasks a call is cut into.
pub(crate) const MAX_PARTS: usize = 256;

/// One element-wise loss: `(ℓ, ∂ℓ/∂x, ∂ℓ/∂y)` at `(x, y)`, in `f64`.
pub(crate) trait ElemOp: Copy + Send + Sync {
    fn eval(self, x: f64, y: f64) -> (f64, f64, f64);
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
            (l[k], dx[k], dy[k]) = op.eval(x[k], y[k]);
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
        let (l, dx, dy) = op.eval((*j.x.add(i)).to_wide(), (*j.y.add(i)).to_wide());
        store(i, l, dx, dy, scale(i));
        if M & mode::SUM != 0 {
            tail += l;
        }
    }
    // A fixed tree over the lanes.
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for k in 0..w {
            acc[k] += acc[k + w];
        }
    }
    acc[0] + tail
}

/// The chunks `[c0, c1)`: their sums, compensated in order.
#[inline(always)]
unsafe fn chunks<T: Float, O: ElemOp, const M: u8>(op: O, j: &Job<T>, c0: usize, c1: usize) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for k in c0..c1 {
        let v = chunk::<T, O, M>(op, j, k * CHUNK, ((k + 1) * CHUNK).min(j.len));
        let t = s + v;
        c += if s.abs() >= v.abs() { (s - t) + v } else { (v - t) + s };
        s = t;
    }
    let r = s + c;
    if r.is_finite() {
        r
    } else {
        s
    }
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

type ChunksFn<T, O> = unsafe fn(O, &Job<T>, usize, usize) -> f64;

/// The instruction set of the element-wise loops: 2 (AVX-512), 1 (AVX2 + FMA)
/// or 0, detected once (`LOSSLAB_NO_AVX512`, `LOSSLAB_NO_SIMD` as the other kernels).
fn level() -> u8 {
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

/// Runs the sweep of mode `M`; the sum of the losses (0 without `SUM`).
///
/// # Safety
/// `x`, `y` hold `len` elements; every buffer the mode uses holds `len`
/// elements and the written ones overlap nothing else.
unsafe fn run_mode<T: Float, O: ElemOp, const M: u8>(op: O, j: &Job<T>) -> f64 {
    if j.len == 0 {
        return 0.0;
    }
    let f = pick::<T, O, M>();
    let nchunks = j.len.div_ceil(CHUNK);
    let per_part = nchunks.div_ceil(MAX_PARTS);
    let parts = nchunks.div_ceil(per_part);
    let mut partial = [0.0f64; MAX_PARTS];
    let pp = SyncPtr(partial.as_mut_ptr());
    par::for_each(parts, |p| {
        // SAFETY: part p's chunks and slot are its own.
        unsafe { *pp.add(p) = f(op, j, p * per_part, ((p + 1) * per_part).min(nchunks)) };
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
    match m {
        FWD => run_mode::<T, O, FWD>(op, j),
        FWD_NONE => run_mode::<T, O, FWD_NONE>(op, j),
        BWD => run_mode::<T, O, BWD>(op, j),
        BWD_NONE => run_mode::<T, O, BWD_NONE>(op, j),
        FB => run_mode::<T, O, FB>(op, j),
        FB_NONE => run_mode::<T, O, FB_NONE>(op, j),
        INTO => run_mode::<T, O, INTO>(op, j),
        INTO_NONE => run_mode::<T, O, INTO_NONE>(op, j),
        _ => unreachable!("unsupported element-wise mode {m}"),
    }
}

// ------------------------------------------------------ exp and log1p in f64

/// `exp(z)` for `z ≤ 0` (NaN propagates), in plain arithmetic that vectorises:
/// Cody–Waite reduction `z = n ln 2 + r`, `|r| ≤ ln 2 / 2`, the Taylor series of
/// `exp(r)` to degree 13 (truncation below 10⁻¹⁷), `2ⁿ` built from its bits in
/// two factors so that subnormal results are not flushed. About 1 ulp.
#[inline(always)]
pub(crate) fn exp_nonpos(z: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    // fdlibm's split of ln 2: LN2_HI has 32 trailing zero bits, so n · LN2_HI is exact.
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    // Adding 1.5 · 2⁵² rounds to an integer, which the low bits then hold.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let z = if z < -750.0 { -750.0 } else { z };
    let t = z * LOG2E + MAGIC;
    let n = t - MAGIC;
    let ni = (t.to_bits() as i64).wrapping_sub(MAGIC.to_bits() as i64);
    let r = (z - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 6_227_020_800.0; // 1/13!
    for c in [1.0 / 479_001_600.0, 1.0 / 39_916_800.0, 1.0 / 3_628_800.0, 1.0 / 362_880.0, 1.0 / 40_320.0, 1.0 / 5_040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = p * r + c;
    }
    // 2ⁿ for n ≥ −1022 directly; below, 2^(n + 600) · 2^(−600).
    let low = ni < -1000;
    let k = if low { ni + 600 } else { ni };
    let s = f64::from_bits((k.wrapping_add(1023) as u64) << 52);
    let extra = if low { f64::from_bits(((1023 - 600) as u64) << 52) } else { 1.0 };
    p * s * extra
}

/// `log(1 + e)` for `0 ≤ e ≤ 1`: `2 atanh(s)`, `s = e / (2 + e) ≤ 1/3`, by its
/// series to `s³³` (truncation below 10⁻¹⁷ of the result). About 1 ulp.
#[inline(always)]
pub(crate) fn log1p_unit(e: f64) -> f64 {
    let s = e / (2.0 + e);
    let s2 = s * s;
    let mut p = 1.0 / 33.0;
    for k in (0..16).rev() {
        p = p * s2 + 1.0 / (2 * k + 1) as f64;
    }
    2.0 * s * p
}

// ------------------------------------------------------------------ the ops

/// Binary cross entropy on logits without weights, as
/// [`BinaryCrossEntropyWithLogits`](crate::BinaryCrossEntropyWithLogits):
/// `ℓ = (1 − y) x − log σ(x)`, `∂ℓ/∂x = σ(x) − y`, `∂ℓ/∂y = −x`.
#[derive(Clone, Copy)]
pub(crate) struct BceLogits;

impl ElemOp for BceLogits {
    #[inline(always)]
    fn eval(self, x: f64, y: f64) -> (f64, f64, f64) {
        // e = exp(−|x|) ≤ 1 never overflows; −log σ(x) = softplus(−x) =
        // max(−x, 0) + log1p(e), and σ(x) from e on either side.
        let ax = if x < 0.0 { -x } else { x };
        let e = exp_nonpos(-ax);
        let l1p = log1p_unit(e);
        let softplus_neg = if x < 0.0 { -x + l1p } else { l1p };
        let sig = if x >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
        ((1.0 - y) * x + softplus_neg, sig - y, -x)
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
