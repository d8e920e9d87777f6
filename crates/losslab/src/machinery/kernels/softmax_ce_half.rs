//! Fused softmax cross entropy over `bf16` or `f16` logits, computed in `f32`
//! and accumulated in `f64`, the gradient rounded to the half type.
//!
//! This module holds the block operations ([`HalfOps`], per instruction set)
//! and their [`RowOps`] implementation; the blockwise two-pass driver is
//! [`super::softmax_ce`]'s [`Job`](super::softmax_ce::Job), the same as for
//! `f32`/`f64` (block boundaries from `C` alone, rows grouped by their number
//! alone, partial sums combined in a fixed order: bit-identical whatever the
//! thread count), with the exponentials kept in an `f32` scratch row on the
//! stack instead of in the destination:
//!
//! ```text
//! pass 1, per block b:  m_b = max x (widened to f32, vectorised),
//!                       e_k = exp(f32(x_k) − m_b) into the scratch row,  s_b = Σ e_k (f64)
//! combine, in order:    M = max m_b,  S = Σ_b s_b · exp(m_b − M)
//! pass 2, per block b:  grad_k = half(e_k · f_b + c)  (round to nearest even)
//!                       and the target's element recomputed in f64
//! ```
//!
//! so that the half logits are read once (2 bytes) and the half gradient
//! written once (2 bytes). Rows longer than [`SCRATCH`] classes recompute the
//! exponentials of each block in pass 2 instead of keeping them. The
//! exponential is the cheaper one of [`simd::exp_lanes512`] (`2ᵗ`, relative
//! error below 2.5 · 10⁻⁷ + |x − m| · 7.4 · 10⁻⁸: only a half type's precision
//! is owed to the gradient, and the sums, whose terms near the maximum weigh
//! most, keep the values within `f32` tolerance). Rows of at most 64 classes
//! take the `f32` single-block path on rows widened to `f32` instead
//! ([`HalfOps`]'s `fast_path`).
//!
//! Conversions: bf16 → f32 is a 16-bit shift; f16 → f32 is `vcvtph2ps` (AVX-512
//! or F16C). f32 → bf16 rounds to nearest even in integer arithmetic, or with
//! AVX512_BF16's `vcvtne2ps2bf16` where the CPU has it (which flushes results
//! below 2⁻¹²⁶ in magnitude to ±0); f32 → f16 is `vcvtps2ph`, to nearest even.

use super::par::{self, SyncPtr};
use super::simd::{self, ROW_GROUP};
use super::softmax_ce::{block_len, Job, RowOps, Targets, Up, MAX_PARTS};
use crate::machinery::float::{ClassIndex, HalfFloat};
use crate::machinery::reduction::sum_f64;
use std::any::TypeId;
use std::mem::MaybeUninit;

/// The longest row whose exponentials stay in the scratch row (128 KiB of `f32`
/// on the stack of the task that runs it).
pub(crate) const SCRATCH: usize = 32_768;
/// The chunk a block is processed in when its row is longer than [`SCRATCH`].
const CHUNK: usize = 2048;
/// The `f32` buffer (64 KiB on the stack) the short rows are widened into.
const WIDE: usize = 16_384;

/// `N` floats on a cache line boundary (the scratch rows: full-width vector
/// loads and stores that never straddle two lines).
#[repr(C, align(64))]
pub(crate) struct Aligned<const N: usize>([f32; N]);

/// The operations on one block of half values, per instruction set.
pub(crate) struct HalfOps<H> {
    /// The instruction set, for reports.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) name: &'static str,
    /// The maximum of the block (as `f32`) ignoring NaN (`−∞` for an empty
    /// block), and whether the block holds a NaN.
    pub(crate) max: unsafe fn(src: *const H, len: usize) -> (f32, bool),
    /// `dst[i] = exp(f32(src[i]) − m)` (not stored when `dst` is null); returns
    /// `(Σ exp(f32(src[i]) − m), Σ (f32(src[i]) − m))` in `f64` (the second only
    /// when `want_xsum`). Inputs finite or `−∞`, `m` finite and `≥` every input.
    pub(crate) exp_sum: unsafe fn(src: *const H, dst: *mut f32, len: usize, m: f32, want_xsum: bool) -> (f64, f64),
    /// `dst[i] = H(src[i] · f + c)`, rounded to nearest even.
    pub(crate) narrow_affine: unsafe fn(src: *const f32, dst: *mut H, len: usize, f: f32, c: f32),
    /// `dst[i] = f32(src[i])` (exact).
    pub(crate) widen: unsafe fn(src: *const H, dst: *mut f32, len: usize),
}

unsafe fn max_scalar<H: HalfFloat>(src: *const H, len: usize) -> (f32, bool) {
    simd::max_scalar_with(src, len, H::to_f32)
}

/// The portable `f32` block operation's, on the widened values.
unsafe fn exp_sum_scalar<H: HalfFloat>(src: *const H, dst: *mut f32, len: usize, m: f32, want_xsum: bool) -> (f64, f64) {
    simd::exp_sum_f32_scalar_with(src, len, H::to_f32, dst, m, want_xsum)
}

unsafe fn narrow_affine_scalar<H: HalfFloat>(src: *const f32, dst: *mut H, len: usize, f: f32, c: f32) {
    for i in 0..len {
        *dst.add(i) = H::from_f32(*src.add(i) * f + c);
    }
}

unsafe fn widen_scalar<H: HalfFloat>(src: *const H, dst: *mut f32, len: usize) {
    for i in 0..len {
        *dst.add(i) = (*src.add(i)).to_f32();
    }
}

fn scalar_ops<H: HalfFloat>() -> HalfOps<H> {
    HalfOps { name: "scalar", max: max_scalar::<H>, exp_sum: exp_sum_scalar::<H>, narrow_affine: narrow_affine_scalar::<H>, widen: widen_scalar::<H> }
}

/// The operations for `bf16` on this CPU, detected once (following
/// [`simd::f32_ops`], so that `LOSSLAB_NO_AVX512` and `LOSSLAB_NO_SIMD` apply).
fn bf16_ops() -> &'static HalfOps<half::bf16> {
    static OPS: std::sync::OnceLock<HalfOps<half::bf16>> = std::sync::OnceLock::new();
    OPS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            match simd::f32_ops().name {
                "avx512" if x86::has_avx512bw() && is_x86_feature_detected!("avx512bf16") => return x86::bf16_avx512(true),
                "avx512" if x86::has_avx512bw() => return x86::bf16_avx512(false),
                "avx512" | "avx2+fma" if is_x86_feature_detected!("f16c") => return x86::bf16_avx2(),
                _ => {}
            }
        }
        scalar_ops()
    })
}

/// The operations for `f16` on this CPU, detected once.
fn f16_ops() -> &'static HalfOps<half::f16> {
    static OPS: std::sync::OnceLock<HalfOps<half::f16>> = std::sync::OnceLock::new();
    OPS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            match simd::f32_ops().name {
                "avx512" if x86::has_avx512bw() => return x86::f16_avx512(),
                "avx512" | "avx2+fma" if is_x86_feature_detected!("f16c") => return x86::f16_avx2(),
                _ => {}
            }
        }
        scalar_ops()
    })
}

/// The operations for the half type `H`.
pub(crate) fn half_ops_for<H: HalfFloat>() -> &'static HalfOps<H> {
    if TypeId::of::<H>() == TypeId::of::<half::bf16>() {
        // SAFETY: H is bf16.
        unsafe { &*(bf16_ops() as *const HalfOps<half::bf16>).cast::<HalfOps<H>>() }
    } else {
        // SAFETY: HalfFloat is sealed to bf16 and f16, so H is f16.
        unsafe { &*(f16_ops() as *const HalfOps<half::f16>).cast::<HalfOps<H>>() }
    }
}

/// `bf16` and `f16` logits: computed in `f32`, the exponentials kept in an
/// `f32` scratch row of [`SCRATCH`] elements on the stack of each task (rows
/// longer than that recompute them in pass 2), the gradient narrowed from it.
impl<H: HalfFloat> RowOps for HalfOps<H> {
    type X = H;
    type E = f32;
    type Scratch = Aligned<SCRATCH>;
    type Loss = f32;
    type P = f32;
    #[inline(always)]
    fn wide(x: H) -> f64 {
        f64::from(x.to_f32())
    }
    #[inline(always)]
    fn narrow(v: f64) -> H {
        H::from_f64(v)
    }
    #[inline(always)]
    fn loss(v: f64) -> f32 {
        v as f32
    }
    #[inline(always)]
    fn e_wide(e: f32) -> f64 {
        f64::from(e)
    }
    #[inline(always)]
    unsafe fn max(&self, src: *const H, len: usize) -> (f64, bool) {
        let (m, nan) = (self.max)(src, len);
        (f64::from(m), nan)
    }
    #[inline(always)]
    unsafe fn exp_sum(&self, src: *const H, e: *mut f32, len: usize, mref: f64, want_xsum: bool) -> (f64, f64) {
        (self.exp_sum)(src, e, len, mref as f32, want_xsum)
    }
    #[inline(always)]
    unsafe fn affine(&self, e: *const f32, dst: *mut H, len: usize, f: f64, c: f64) {
        (self.narrow_affine)(e, dst, len, f as f32, c as f32);
    }
    #[inline(always)]
    fn exps_at(_dst: *mut H, scratch: *mut f32) -> *mut f32 {
        scratch
    }
    #[inline(always)]
    fn scratch_row(s: &mut MaybeUninit<Aligned<SCRATCH>>, classes: usize, grad: bool) -> *mut f32 {
        // The exponentials are kept for pass 2 when the row fits the scratch row.
        if grad && classes <= SCRATCH {
            s.as_mut_ptr().cast::<f32>()
        } else {
            std::ptr::null_mut()
        }
    }
    /// Rows of at most [`simd::SHORT_ROW_MAX`] classes (index targets, not
    /// smoothing with weights): the `f32` single-block path (its rows grouped,
    /// held in registers where AVX-512 is, its logarithms vectorised across
    /// rows) on the rows widened to `f32`, [`WIDE`] elements at a time in a
    /// buffer on the stack, the gradient narrowed from it. The blockwise
    /// driver would pay its per-row costs (the combination, the calls per
    /// block) for every short row: 3 × slower on 10 classes.
    fn fast_path<L: ClassIndex>(job: &Job<'_, Self, L>, parts: usize, per_part: usize, _blen: usize) -> Option<f64> {
        let Targets::Index { labels, ignore_index } = job.targets else { return None };
        let f32_ops = simd::f32_ops();
        let wide_job = |src: *const f32, dst: *mut f32, lo: usize, hi: usize| Job {
            ops: f32_ops,
            src,
            dst: SyncPtr(dst),
            losses: SyncPtr(job.losses.add(lo)),
            rows: hi - lo,
            classes: job.classes,
            weight: job.weight,
            eps: job.eps,
            targets: Targets::Index { labels: &labels[lo..hi], ignore_index },
            up: match job.up {
                Up::PerRow(u) => Up::PerRow(&u[lo..hi]),
                u => u,
            },
        };
        let c = job.classes;
        // Longer rows are faster through the blockwise driver, whose cost per
        // row is small beside theirs, than widened here.
        if c == 0 || c > simd::SHORT_ROW_MAX || !wide_job(std::ptr::null(), std::ptr::null_mut(), 0, 0).single_block() {
            return None;
        }
        let grad = !job.dst.0.is_null();
        // The rows a chunk: WIDE elements at most, in whole groups of the f32
        // path's rows (c ≤ 64: 256 rows at least).
        let chunk = WIDE / c / ROW_GROUP * ROW_GROUP;
        let kernels = wide_job(std::ptr::null(), std::ptr::null_mut(), 0, 0).row_kernels();
        let mut partial = [0.0f64; MAX_PARTS];
        let partial_ptr = SyncPtr(partial.as_mut_ptr());
        par::for_each(parts, job.rows * c, |p| {
            let mut buf = MaybeUninit::<Aligned<WIDE>>::uninit();
            let buf = buf.as_mut_ptr().cast::<f32>();
            let (lo, hi) = (p * per_part, ((p + 1) * per_part).min(job.rows));
            let total = sum_f64((lo..hi).step_by(chunk).map(|r| {
                let n = chunk.min(hi - r);
                // SAFETY: rows r..r + n are this task's alone; n · c ≤ WIDE.
                unsafe {
                    (job.ops.widen)(job.src.add(r * c), buf, n * c);
                    let w = wide_job(buf, if grad { buf } else { std::ptr::null_mut() }, r, r + n);
                    let v = w.single_block_rows(0, n, block_len(c), &kernels);
                    if grad {
                        // fma(g, 1, −0) = g: the f32 gradient rounded to H.
                        (job.ops.narrow_affine)(buf, job.dst.add(r * c), n * c, 1.0, -0.0);
                    }
                    v
                }
            }));
            // SAFETY: slot p is this task's alone.
            unsafe { *partial_ptr.add(p) = total };
        });
        Some(par::neumaier(&partial[..parts]))
    }

    unsafe fn recompute(&self, src: *const H, lo: usize, hi: usize, mref: f64, f: &mut dyn FnMut(usize, *const f32, usize)) {
        let mut buf = MaybeUninit::<Aligned<CHUNK>>::uninit();
        let buf = buf.as_mut_ptr().cast::<f32>();
        let mut i = lo;
        while i < hi {
            let n = CHUNK.min(hi - i);
            (self.exp_sum)(src.add(i), buf, n, mref as f32, false);
            f(i, buf, n);
            i += n;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The operations, generic over `BF` (`true`: bf16, `false`: f16) so that
    //! each instantiation inlines its own conversion.
    use super::super::simd::{exp_lanes256, exp_lanes512, exp_step256, exp_step512, Sums256, Sums512};
    use super::HalfOps;
    use half::{bf16, f16};
    use std::arch::x86_64::*;

    const BF16_NEG_INF: u16 = 0xFF80;
    const F16_NEG_INF: u16 = 0xFC00;

    /// Whether the AVX-512 operations can run: they take 16-bit lanes
    /// (AVX512BW) and masked 256-bit loads and stores of them (AVX512VL), which
    /// every AVX-512 CPU but the Xeon Phi has; without them the AVX2 operations
    /// serve.
    pub(super) fn has_avx512bw() -> bool {
        is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vl")
    }

    pub(super) fn bf16_avx512(native_bf16: bool) -> HalfOps<bf16> {
        HalfOps {
            name: if native_bf16 { "avx512+bf16" } else { "avx512" },
            max: |s, n| unsafe { max_512bw::<true>(s.cast(), n) },
            exp_sum: |s, d, n, m, w| unsafe { exp_sum_512::<true>(s.cast(), d, n, m, w) },
            narrow_affine: if native_bf16 { narrow_affine_bf16_512bf16 } else { |s, d, n, f, c| unsafe { narrow_affine_512::<true>(s, d.cast(), n, f, c) } },
            widen: |s, d, n| unsafe { widen_512::<true>(s.cast(), d, n) },
        }
    }

    pub(super) fn f16_avx512() -> HalfOps<f16> {
        HalfOps {
            name: "avx512",
            max: |s, n| unsafe { max_512bw::<false>(s.cast(), n) },
            exp_sum: |s, d, n, m, w| unsafe { exp_sum_512::<false>(s.cast(), d, n, m, w) },
            narrow_affine: |s, d, n, f, c| unsafe { narrow_affine_512::<false>(s, d.cast(), n, f, c) },
            widen: |s, d, n| unsafe { widen_512::<false>(s.cast(), d, n) },
        }
    }

    pub(super) fn bf16_avx2() -> HalfOps<bf16> {
        HalfOps {
            name: "avx2+fma+f16c",
            max: |s, n| unsafe { max_256::<true>(s.cast(), n) },
            exp_sum: |s, d, n, m, w| unsafe { exp_sum_256::<true>(s.cast(), d, n, m, w) },
            narrow_affine: |s, d, n, f, c| unsafe { narrow_affine_256::<true>(s, d.cast(), n, f, c) },
            widen: |s, d, n| unsafe { widen_256::<true>(s.cast(), d, n) },
        }
    }

    pub(super) fn f16_avx2() -> HalfOps<f16> {
        HalfOps {
            name: "avx2+fma+f16c",
            max: |s, n| unsafe { max_256::<false>(s.cast(), n) },
            exp_sum: |s, d, n, m, w| unsafe { exp_sum_256::<false>(s.cast(), d, n, m, w) },
            narrow_affine: |s, d, n, f, c| unsafe { narrow_affine_256::<false>(s, d.cast(), n, f, c) },
            widen: |s, d, n| unsafe { widen_256::<false>(s.cast(), d, n) },
        }
    }

    // ------------------------------------------------------------ AVX-512

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn widen16<const BF: bool>(v: __m256i) -> __m512 {
        if BF {
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(v)))
        } else {
            _mm512_cvtph_ps(v)
        }
    }

    /// The first `n` (≤ 16) of 16 lanes.
    #[inline(always)]
    fn mask16(n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }

    /// `n` (≤ 16) half values from `src`, the lanes past `n` filled with −∞.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn load16_partial<const BF: bool>(src: *const u16, n: usize) -> __m512 {
        let pad = _mm256_set1_epi16((if BF { BF16_NEG_INF } else { F16_NEG_INF }) as i16);
        widen16::<BF>(_mm256_mask_loadu_epi16(pad, mask16(n), src.cast()))
    }

    /// Round to nearest even; NaN stays NaN (bf16: quiet, with its sign and
    /// upper payload, as `half` does).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn narrow16<const BF: bool>(v: __m512) -> __m256i {
        if BF {
            let bits = _mm512_castps_si512(v);
            let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(1));
            let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))));
            let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
            let quiet = _mm512_or_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(0x40));
            _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, nan, quiet))
        } else {
            _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v)
        }
    }

    /// The maximum on the 16-bit patterns, 32 lanes at a time: a half
    /// value's pattern `v` maps to the signed integer `v ^ ((v >> 15) & 0x7FFF)`,
    /// which orders as the values do (NaN aside); NaN is a magnitude above ∞'s.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn max_512bw<const BF: bool>(src: *const u16, len: usize) -> (f32, bool) {
        let (inf, pad) = if BF { (0x7F80u16, BF16_NEG_INF) } else { (0x7C00u16, F16_NEG_INF) };
        let mag = _mm512_set1_epi16(0x7FFF);
        let key = |v: __m512i| _mm512_xor_si512(v, _mm512_and_si512(_mm512_srai_epi16::<15>(v), mag));
        // The key of −∞: the maximum of an empty block.
        let ninf_key = (pad ^ (((pad as i16) >> 15) as u16 & 0x7FFF)) as i16;
        let lowest = _mm512_set1_epi16(ninf_key);
        let (mut k0, mut k1) = (lowest, lowest);
        let (mut a0, mut a1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        let mut i = 0;
        while i + 64 <= len {
            let a = _mm512_loadu_si512(src.add(i).cast());
            let b = _mm512_loadu_si512(src.add(i + 32).cast());
            a0 = _mm512_max_epu16(a0, _mm512_and_si512(a, mag));
            a1 = _mm512_max_epu16(a1, _mm512_and_si512(b, mag));
            k0 = _mm512_max_epi16(k0, key(a));
            k1 = _mm512_max_epi16(k1, key(b));
            i += 64;
        }
        // The rest, 32 lanes at a time, those past the end padded with −∞.
        while i < len {
            let n = (len - i).min(32);
            let a = _mm512_mask_loadu_epi16(_mm512_set1_epi16(pad as i16), (u64::MAX >> (64 - n)) as __mmask32, src.add(i).cast());
            a0 = _mm512_max_epu16(a0, _mm512_and_si512(a, mag));
            k0 = _mm512_max_epi16(k0, key(a));
            i += n;
        }
        let (mut k, mut abs) = ([0i16; 32], [0u16; 32]);
        _mm512_storeu_si512(k.as_mut_ptr().cast(), _mm512_max_epi16(k0, k1));
        _mm512_storeu_si512(abs.as_mut_ptr().cast(), _mm512_max_epu16(a0, a1));
        let best = k.iter().copied().fold(ninf_key, i16::max);
        let top = abs.iter().copied().fold(0, u16::max);
        let bits = best as u16 ^ (((best >> 15) as u16) & 0x7FFF);
        let m = _mm512_cvtss_f32(widen16::<BF>(_mm256_set1_epi16(bits as i16)));
        (m, top > inf)
    }

    /// As `simd`'s `exp_sum_avx512`, the half values widened on the way in.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn exp_sum_512<const BF: bool>(src: *const u16, dst: *mut f32, len: usize, m: f32, want_xsum: bool) -> (f64, f64) {
        let mv = _mm512_set1_ps(m);
        let mut sums = Sums512::new();
        let store = !dst.is_null();
        let mut i = 0;
        // 64 elements a step: their exponentials summed in f32 by a tree of
        // depth 2, then widened into f64 accumulators.
        while i + 64 <= len {
            // As the f32 pass: the data `PREFETCH` elements on (two lines a step).
            let pf = src.wrapping_add(i + super::super::simd::PREFETCH) as *const i8;
            _mm_prefetch::<_MM_HINT_T0>(pf);
            _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(64));
            let a = widen16::<BF>(_mm256_loadu_si256(src.add(i).cast()));
            let b = widen16::<BF>(_mm256_loadu_si256(src.add(i + 16).cast()));
            let c = widen16::<BF>(_mm256_loadu_si256(src.add(i + 32).cast()));
            let d = widen16::<BF>(_mm256_loadu_si256(src.add(i + 48).cast()));
            exp_step512::<true>([a, b, c, d], mv, dst.wrapping_add(i), store, want_xsum, &mut sums);
            i += 64;
        }
        while i < len {
            let n = (len - i).min(16);
            let k = mask16(n);
            let a = load16_partial::<BF>(src.add(i), n);
            let da = _mm512_maskz_sub_ps(k, a, mv);
            let ea = _mm512_maskz_mov_ps(k, exp_lanes512::<true>(da));
            if store {
                _mm512_mask_storeu_ps(dst.add(i), k, ea);
            }
            sums.exps(ea);
            if want_xsum {
                sums.xs(da);
            }
            i += n;
        }
        sums.total(want_xsum)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn narrow_affine_512<const BF: bool>(src: *const f32, dst: *mut u16, len: usize, f: f32, c: f32) {
        let (fv, cv) = (_mm512_set1_ps(f), _mm512_set1_ps(c));
        let mut i = 0;
        while i + 32 <= len {
            let a = _mm512_fmadd_ps(_mm512_loadu_ps(src.add(i)), fv, cv);
            let b = _mm512_fmadd_ps(_mm512_loadu_ps(src.add(i + 16)), fv, cv);
            _mm256_storeu_si256(dst.add(i).cast(), narrow16::<BF>(a));
            _mm256_storeu_si256(dst.add(i + 16).cast(), narrow16::<BF>(b));
            i += 32;
        }
        while i < len {
            let n = (len - i).min(16);
            let k = mask16(n);
            let a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, src.add(i)), fv, cv);
            _mm256_mask_storeu_epi16(dst.add(i).cast(), k, narrow16::<BF>(a));
            i += n;
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn widen_512<const BF: bool>(src: *const u16, dst: *mut f32, len: usize) {
        let mut i = 0;
        while i + 16 <= len {
            _mm512_storeu_ps(dst.add(i), widen16::<BF>(_mm256_loadu_si256(src.add(i).cast())));
            i += 16;
        }
        if i < len {
            let n = len - i;
            _mm512_mask_storeu_ps(dst.add(i), mask16(n), load16_partial::<BF>(src.add(i), n));
        }
    }

    /// `narrow_affine` with AVX512_BF16's conversion (`vcvtne2ps2bf16`: round
    /// to nearest even, NaN kept; it always flushes subnormals, so results
    /// below 2⁻¹²⁶ in magnitude become ±0).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    unsafe fn narrow_affine_bf16_512bf16(src: *const f32, dst: *mut bf16, len: usize, f: f32, c: f32) {
        let dst = dst.cast::<u16>();
        let (fv, cv) = (_mm512_set1_ps(f), _mm512_set1_ps(c));
        let mut i = 0;
        while i + 64 <= len {
            let a = _mm512_fmadd_ps(_mm512_loadu_ps(src.add(i)), fv, cv);
            let b = _mm512_fmadd_ps(_mm512_loadu_ps(src.add(i + 16)), fv, cv);
            let c2 = _mm512_fmadd_ps(_mm512_loadu_ps(src.add(i + 32)), fv, cv);
            let d = _mm512_fmadd_ps(_mm512_loadu_ps(src.add(i + 48)), fv, cv);
            // The low 16 lanes come from the second operand.
            _mm512_storeu_si512(dst.add(i).cast(), std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(b, a)));
            _mm512_storeu_si512(dst.add(i + 32).cast(), std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(d, c2)));
            i += 64;
        }
        while i < len {
            let n = (len - i).min(16);
            let k = mask16(n);
            let a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, src.add(i)), fv, cv);
            let h = std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(a));
            _mm256_mask_storeu_epi16(dst.add(i).cast(), k, h);
            i += n;
        }
    }

    // ------------------------------------------------------------ AVX2 + F16C

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn widen8<const BF: bool>(v: __m128i) -> __m256 {
        if BF {
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(v)))
        } else {
            _mm256_cvtph_ps(v)
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load8_partial<const BF: bool>(src: *const u16, n: usize) -> __m256 {
        let mut buf = [if BF { BF16_NEG_INF } else { F16_NEG_INF }; 8];
        std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), n);
        widen8::<BF>(_mm_loadu_si128(buf.as_ptr().cast()))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn narrow8<const BF: bool>(v: __m256) -> __m128i {
        if BF {
            let bits = _mm256_castps_si256(v);
            let lsb = _mm256_and_si256(_mm256_srli_epi32::<16>(bits), _mm256_set1_epi32(1));
            let rounded = _mm256_srli_epi32::<16>(_mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF))));
            let nan = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_UNORD_Q>(v, v));
            let quiet = _mm256_or_si256(_mm256_srli_epi32::<16>(bits), _mm256_set1_epi32(0x40));
            let r = _mm256_blendv_epi8(rounded, quiet, nan);
            // Every lane is ≤ 0xFFFF: the unsigned saturation does nothing.
            _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256::<1>(r))
        } else {
            _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v)
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn max_256<const BF: bool>(src: *const u16, len: usize) -> (f32, bool) {
        let ninf = _mm256_set1_ps(f32::NEG_INFINITY);
        let (mut m0, mut m1) = (ninf, ninf);
        let mut nan = _mm256_setzero_ps();
        let mut i = 0;
        while i + 16 <= len {
            let a = widen8::<BF>(_mm_loadu_si128(src.add(i).cast()));
            let b = widen8::<BF>(_mm_loadu_si128(src.add(i + 8).cast()));
            nan = _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(a, b));
            m0 = _mm256_max_ps(m0, a);
            m1 = _mm256_max_ps(m1, b);
            i += 16;
        }
        while i < len {
            let n = (len - i).min(8);
            let a = load8_partial::<BF>(src.add(i), n);
            nan = _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(a, a));
            m0 = _mm256_max_ps(m0, a);
            i += n;
        }
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_max_ps(m0, m1));
        let mut best = f32::NEG_INFINITY;
        for v in lanes {
            best = best.max(v);
        }
        (best, _mm256_movemask_ps(nan) != 0)
    }

    /// As `simd`'s `exp_sum_avx2`, the half values widened on the way in.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn exp_sum_256<const BF: bool>(src: *const u16, dst: *mut f32, len: usize, m: f32, want_xsum: bool) -> (f64, f64) {
        let mv = _mm256_set1_ps(m);
        let mut sums = Sums256::new();
        let store = !dst.is_null();
        let mut i = 0;
        while i + 32 <= len {
            _mm_prefetch::<_MM_HINT_T0>(src.wrapping_add(i + super::super::simd::PREFETCH) as *const i8);
            let a = widen8::<BF>(_mm_loadu_si128(src.add(i).cast()));
            let b = widen8::<BF>(_mm_loadu_si128(src.add(i + 8).cast()));
            let c = widen8::<BF>(_mm_loadu_si128(src.add(i + 16).cast()));
            let d = widen8::<BF>(_mm_loadu_si128(src.add(i + 24).cast()));
            exp_step256::<true>([a, b, c, d], mv, dst.wrapping_add(i), store, want_xsum, &mut sums);
            i += 32;
        }
        while i < len {
            let n = (len - i).min(8);
            let a = load8_partial::<BF>(src.add(i), n);
            // The padding is −∞: exp gives 0 there, and x − m is masked off.
            let keep = _mm256_cmp_ps::<_CMP_GT_OQ>(_mm256_set1_ps(n as f32), _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0));
            let da = _mm256_and_ps(_mm256_sub_ps(a, mv), keep);
            let ea = _mm256_and_ps(exp_lanes256::<true>(da), keep);
            if store {
                let mut out = [0f32; 8];
                _mm256_storeu_ps(out.as_mut_ptr(), ea);
                std::ptr::copy_nonoverlapping(out.as_ptr(), dst.add(i), n);
            }
            sums.exps(ea);
            if want_xsum {
                sums.xs(da);
            }
            i += n;
        }
        sums.total(want_xsum)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn narrow_affine_256<const BF: bool>(src: *const f32, dst: *mut u16, len: usize, f: f32, c: f32) {
        let (fv, cv) = (_mm256_set1_ps(f), _mm256_set1_ps(c));
        let mut i = 0;
        while i + 16 <= len {
            let a = _mm256_fmadd_ps(_mm256_loadu_ps(src.add(i)), fv, cv);
            let b = _mm256_fmadd_ps(_mm256_loadu_ps(src.add(i + 8)), fv, cv);
            _mm_storeu_si128(dst.add(i).cast(), narrow8::<BF>(a));
            _mm_storeu_si128(dst.add(i + 8).cast(), narrow8::<BF>(b));
            i += 16;
        }
        while i < len {
            let n = (len - i).min(8);
            let mut inb = [0f32; 8];
            std::ptr::copy_nonoverlapping(src.add(i), inb.as_mut_ptr(), n);
            let a = _mm256_fmadd_ps(_mm256_loadu_ps(inb.as_ptr()), fv, cv);
            let mut buf = [0u16; 8];
            _mm_storeu_si128(buf.as_mut_ptr().cast(), narrow8::<BF>(a));
            std::ptr::copy_nonoverlapping(buf.as_ptr(), dst.add(i), n);
            i += n;
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn widen_256<const BF: bool>(src: *const u16, dst: *mut f32, len: usize) {
        let mut i = 0;
        while i + 8 <= len {
            _mm256_storeu_ps(dst.add(i), widen8::<BF>(_mm_loadu_si128(src.add(i).cast())));
            i += 8;
        }
        if i < len {
            let n = len - i;
            let mut out = [0f32; 8];
            _mm256_storeu_ps(out.as_mut_ptr(), load8_partial::<BF>(src.add(i), n));
            std::ptr::copy_nonoverlapping(out.as_ptr(), dst.add(i), n);
        }
    }

    /// Every operation set this CPU can run, for tests.
    #[cfg(test)]
    pub(super) fn all() -> (Vec<HalfOps<bf16>>, Vec<HalfOps<f16>>) {
        let (mut b, mut f) = (vec![], vec![]);
        if is_x86_feature_detected!("avx512f") {
            b.push(bf16_avx512(false));
            f.push(f16_avx512());
            if is_x86_feature_detected!("avx512bf16") {
                b.push(bf16_avx512(true));
            }
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c") {
            b.push(bf16_avx2());
            f.push(f16_avx2());
        }
        (b, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::{bf16, f16};

    fn all_ops() -> (Vec<HalfOps<bf16>>, Vec<HalfOps<f16>>) {
        #[allow(unused_mut)]
        let (mut b, mut f) = (vec![scalar_ops::<bf16>()], vec![scalar_ops::<f16>()]);
        #[cfg(target_arch = "x86_64")]
        {
            let (xb, xf) = x86::all();
            b.extend(xb);
            f.extend(xf);
        }
        (b, f)
    }

    /// f32 values around every rounding boundary of bf16: each bf16 value, ±1
    /// f32 ulp, and ±1 f32 ulp around the midpoints to its neighbours (`step`
    /// is half a bf16 ulp in f32 ulps).
    fn boundary_values(step: u32) -> Vec<f32> {
        let mut xs = vec![];
        for b in (0..=u16::MAX).map(|h| u32::from(h) << 16) {
            for d in [0u32, 1, step - 1, step, step + 1] {
                xs.push(f32::from_bits(b.wrapping_add(d)));
                xs.push(f32::from_bits(b.wrapping_sub(d)));
            }
        }
        xs
    }

    fn check<H: HalfFloat + std::fmt::Debug>(ops: &HalfOps<H>, xs: &[f32], every: &[H]) {
        // Widening: exact, on every length's tail, nothing written past it.
        for len in [every.len(), 0, 1, 7, 8, 9, 15, 16, 17, 33] {
            let mut out = vec![12345.0f32; len + 1];
            unsafe { (ops.widen)(every.as_ptr(), out.as_mut_ptr(), len) };
            for (v, o) in every[..len].iter().zip(&out) {
                assert!(o.to_bits() == v.to_f32().to_bits() || (o.is_nan() && v.to_f32().is_nan()), "{} {}: widen({v:?}) = {o}", ops.name, H::NAME);
            }
            assert_eq!(out[len], 12345.0, "{} {}: widen wrote past {len}", ops.name, H::NAME);
        }
        // Narrowing: round to nearest even, NaN kept, on every length's tail.
        for len in [xs.len(), 1, 7, 15, 17, 33, 63, 65, 100] {
            let mut out = vec![H::default(); len];
            unsafe { (ops.narrow_affine)(xs.as_ptr(), out.as_mut_ptr(), len, 1.0, -0.0) };
            for (x, o) in xs[..len].iter().zip(&out) {
                let mut want = H::from_f32(*x);
                if ops.name == "avx512+bf16" && x.abs() < f32::MIN_POSITIVE {
                    // vcvtne2ps2bf16 flushes subnormals.
                    want = H::from_f32(0f32.copysign(*x));
                }
                let (o32, w32) = (o.to_f32(), want.to_f32());
                assert!(o32.to_bits() == w32.to_bits() || (o32.is_nan() && w32.is_nan()), "{} {}: ({x:e}) = {o:?}, want {want:?}", ops.name, H::NAME);
            }
        }
        // The maximum, and NaN seen.
        for len in [every.len(), 0, 1, 7, 15, 16, 17, 31, 33, 100] {
            let (m, nan) = unsafe { (ops.max)(every.as_ptr(), len) };
            assert_eq!(nan, every[..len].iter().any(|v| v.to_f32().is_nan()), "{} {}: NaN seen, len {len}", ops.name, H::NAME);
            if !nan {
                let want = every[..len].iter().map(|v| v.to_f32()).fold(f32::NEG_INFINITY, f32::max);
                assert_eq!(m, want, "{} {}: max len {len}", ops.name, H::NAME);
            }
        }
        // The exponentials and their sums, against f64, on every length's tail,
        // −∞ included.
        let finite: Vec<H> = every.iter().copied().filter(|v| v.to_f32().is_finite() && v.to_f32().abs() < 60.0).chain([H::from_f32(f32::NEG_INFINITY)]).collect();
        for len in [finite.len(), 0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 100] {
            let x = &finite[finite.len() - len..];
            let want = x.iter().map(|v| v.to_f32()).fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(unsafe { (ops.max)(x.as_ptr(), len) }, (want, false), "{} {}: max of the last {len} finite values", ops.name, H::NAME);
            let neg: Vec<H> = x.iter().map(|v| H::from_f32(-v.to_f32().abs())).collect();
            let want = neg.iter().map(|v| v.to_f32()).fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(unsafe { (ops.max)(neg.as_ptr(), len) }, (want, false), "{} {}: max of {len} negative values", ops.name, H::NAME);
            let m = want.max(0.0).max(x.iter().map(|v| v.to_f32()).fold(f32::NEG_INFINITY, f32::max));
            let mut e = vec![0f32; len];
            let (s, xs) = unsafe { (ops.exp_sum)(x.as_ptr(), e.as_mut_ptr(), len, m, true) };
            // The sum's error bound: its terms' and the summation's.
            let (mut ws, mut wx, mut wb) = (0f64, 0f64, 0f64);
            for (i, v) in x.iter().enumerate() {
                let d = f64::from(v.to_f32()) - f64::from(m);
                let t = d.exp();
                ws += t;
                if d.is_finite() {
                    wx += d;
                }
                // The SIMD kernels round x − m to f32 first; the portable one does not.
                let tr = f64::from(v.to_f32() - m).exp();
                let err = (f64::from(e[i]) - t).abs().min((f64::from(e[i]) - tr).abs());
                // The SIMD kernels' exp rounds t = (x − m) · log₂e once, with log₂e
                // rounded to f32 (1.4 · 10⁻⁸ off): |x − m| · (2⁻²⁴ + 1.4 · 10⁻⁸) of
                // relative error on top of the polynomial's and the roundings'.
                let rel = if ops.name == "scalar" || d.is_infinite() { 2.5e-7 } else { 2.5e-7 + d.abs() * (2f64.powi(-24) + 1.4e-8) };
                assert!(err <= rel * t + 1e-44, "{} {}: exp({d}) = {}, want {t}", ops.name, H::NAME, e[i]);
                wb += rel * t;
            }
            assert!((s - ws).abs() <= 1e-6 * ws.max(1e-300) + wb, "{} {} sum len {len}: {s} vs {ws}", ops.name, H::NAME);
            if x.iter().all(|v| v.to_f32().is_finite()) {
                assert!((xs - wx).abs() <= 1e-6 * wx.abs().max(1.0), "{} {} xsum len {len}: {xs} vs {wx}", ops.name, H::NAME);
            }
            let (s2, _) = unsafe { (ops.exp_sum)(x.as_ptr(), std::ptr::null_mut(), len, m, false) };
            assert_eq!(s2.to_bits(), s.to_bits(), "{} {}: the sum without storing", ops.name, H::NAME);
        }
    }

    /// Widening is exact, narrowing rounds to nearest even with NaN kept, the
    /// maximum and the exponentials are right, on every instruction set.
    #[test]
    fn block_operations_agree_with_half_and_f64_on_every_isa() {
        let (bf, hf) = all_ops();
        let every_bf: Vec<bf16> = (0..=u16::MAX).map(bf16::from_bits).collect();
        let every_hf: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
        let mut xs_bf = boundary_values(0x8000);
        xs_bf.extend(every_hf.iter().map(|v| v.to_f32()));
        // f16: every f16 value and its neighbours at 2⁻¹¹ relative.
        let mut xs_hf: Vec<f32> = vec![];
        for v in &every_hf {
            let b = v.to_f32().to_bits();
            for d in [0u32, 1, 0xFFF, 0x1000, 0x1001] {
                xs_hf.push(f32::from_bits(b.wrapping_add(d)));
                xs_hf.push(f32::from_bits(b.wrapping_sub(d)));
            }
        }
        for ops in &bf {
            check(ops, &xs_bf, &every_bf);
        }
        for ops in &hf {
            check(ops, &xs_hf, &every_hf);
        }
    }
}
