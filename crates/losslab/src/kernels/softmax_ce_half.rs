//! Fused softmax cross entropy over `bf16` or `f16` logits, computed in `f32`
//! and accumulated in `f64`, the gradient rounded to the half type.
//!
//! The same blockwise two-pass scheme as [`super::softmax_ce`] (block
//! boundaries from `C` alone, rows grouped by their number alone, partial sums
//! combined in a fixed order: bit-identical whatever the thread count), with the
//! exponentials kept in an `f32` scratch row on the stack instead of in the
//! destination:
//!
//! ```text
//! pass 1, per block b:  e_k = f32(x_k) (widened, vectorised),  m_b = max e,
//!                       e_k = exp(e_k − m_b) in place,  s_b = Σ e_k (f64)
//! combine, in order:    M = max m_b,  S = Σ_b s_b · exp(m_b − M)
//! pass 2, per block b:  grad_k = half(e_k · f_b + c)  (round to nearest even)
//!                       and the target's element recomputed in f64
//! ```
//!
//! so that the half logits are read once (2 bytes) and the half gradient
//! written once (2 bytes). Rows longer than [`SCRATCH`] classes recompute the
//! exponentials of each block in pass 2 instead of keeping them.

use super::par::{self, SyncPtr};
use super::simd::{self, BlockOps};
use super::softmax_ce::{block_len, Targets, Up, MAX_BLOCKS, MAX_PARTS};
use crate::float::{ClassIndex, HalfFloat};
use std::any::TypeId;
use std::mem::MaybeUninit;

/// The longest row whose exponentials stay in the scratch row (128 KiB of `f32`
/// on the stack of the task that runs it).
pub(crate) const SCRATCH: usize = 32_768;
/// The chunk a block is processed in when its row is longer than [`SCRATCH`].
const CHUNK: usize = 2048;

/// The conversions between a half type and `f32`, per instruction set.
pub(crate) struct HalfOps<H> {
    /// The instruction set, for reports.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) name: &'static str,
    /// `dst[i] = f32(src[i])`; returns the maximum ignoring NaN (`−∞` for an
    /// empty block) and whether the block holds a NaN.
    pub(crate) widen_max: unsafe fn(src: *const H, dst: *mut f32, len: usize) -> (f32, bool),
    /// `dst[i] = H(src[i] · f + c)`, rounded to nearest even.
    pub(crate) narrow_affine: unsafe fn(src: *const f32, dst: *mut H, len: usize, f: f32, c: f32),
    /// The `f32` block operations (the exponentials).
    pub(crate) f32: &'static BlockOps<f32>,
}

unsafe fn widen_max_scalar<H: HalfFloat>(src: *const H, dst: *mut f32, len: usize) -> (f32, bool) {
    let mut m = f32::NEG_INFINITY;
    let mut nan = false;
    for i in 0..len {
        let v = (*src.add(i)).to_f32();
        *dst.add(i) = v;
        nan |= v.is_nan();
        if v > m {
            m = v;
        }
    }
    (m, nan)
}

unsafe fn narrow_affine_scalar<H: HalfFloat>(src: *const f32, dst: *mut H, len: usize, f: f32, c: f32) {
    for i in 0..len {
        *dst.add(i) = H::from_f32(*src.add(i) * f + c);
    }
}

fn scalar_ops<H: HalfFloat>(f32: &'static BlockOps<f32>) -> HalfOps<H> {
    HalfOps { name: "scalar", widen_max: widen_max_scalar::<H>, narrow_affine: narrow_affine_scalar::<H>, f32 }
}

/// The operations for `bf16` on this CPU, detected once (following
/// [`simd::f32_ops`], so that `LOSSLAB_NO_AVX512` and `LOSSLAB_NO_SIMD` apply).
fn bf16_ops() -> &'static HalfOps<half::bf16> {
    static OPS: std::sync::OnceLock<HalfOps<half::bf16>> = std::sync::OnceLock::new();
    OPS.get_or_init(|| {
        let f = simd::f32_ops();
        #[cfg(target_arch = "x86_64")]
        {
            match f.name {
                "avx512" => return HalfOps { name: "avx512", widen_max: x86::widen_max_bf16_512, narrow_affine: x86::narrow_affine_bf16_512, f32: f },
                "avx2+fma" if is_x86_feature_detected!("f16c") => {
                    return HalfOps { name: "avx2+fma+f16c", widen_max: x86::widen_max_bf16_256, narrow_affine: x86::narrow_affine_bf16_256, f32: f }
                }
                _ => {}
            }
        }
        scalar_ops(f)
    })
}

/// The operations for `f16` on this CPU, detected once.
fn f16_ops() -> &'static HalfOps<half::f16> {
    static OPS: std::sync::OnceLock<HalfOps<half::f16>> = std::sync::OnceLock::new();
    OPS.get_or_init(|| {
        let f = simd::f32_ops();
        #[cfg(target_arch = "x86_64")]
        {
            match f.name {
                "avx512" => return HalfOps { name: "avx512", widen_max: x86::widen_max_f16_512, narrow_affine: x86::narrow_affine_f16_512, f32: f },
                "avx2+fma" if is_x86_feature_detected!("f16c") => {
                    return HalfOps { name: "avx2+fma+f16c", widen_max: x86::widen_max_f16_256, narrow_affine: x86::narrow_affine_f16_256, f32: f }
                }
                _ => {}
            }
        }
        scalar_ops(f)
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

/// One fused evaluation over half logits.
pub(crate) struct HalfJob<'a, H, L> {
    pub(crate) ops: &'a HalfOps<H>,
    /// The logits (`rows × classes`); in place, the same buffer as `dst`.
    pub(crate) src: *const H,
    /// Where the gradient goes (`rows × classes`); null for the loss alone.
    pub(crate) dst: SyncPtr<H>,
    /// Where each row's loss goes (`rows`); null when only the total is wanted.
    pub(crate) losses: SyncPtr<f32>,
    pub(crate) rows: usize,
    pub(crate) classes: usize,
    pub(crate) weight: Option<&'a [f64]>,
    pub(crate) eps: f64,
    /// Index targets only (the `T` of [`Targets`] is unused).
    pub(crate) targets: Targets<'a, f32, L>,
    pub(crate) up: Up<'a>,
}

// SAFETY: as `softmax_ce::Job`: `src` is read, `dst` and `losses` written in
// disjoint ranges by the parallel tasks.
unsafe impl<H: Sync, L: Sync> Sync for HalfJob<'_, H, L> {}

/// Per-block statistics of pass 1.
#[derive(Clone, Copy, Default)]
struct Stat {
    m: f64,
    mref: f64,
    s: f64,
    /// `Σ w (x − mref)` (smoothing only).
    xs: f64,
    /// `Σ w` over the block (smoothing only).
    ws: f64,
    special: bool,
}

struct RowStat {
    m: f64,
    log_s: f64,
    s: f64,
    wx: f64,
    wt: f64,
    special: bool,
}

impl<H: HalfFloat, L: ClassIndex> HalfJob<'_, H, L> {
    /// Runs the job; the sum of the rows' losses (compensated, in a fixed order).
    pub(crate) fn run(&self) -> f64 {
        if self.rows == 0 {
            return 0.0;
        }
        let blen = block_len(self.classes);
        let nblocks = self.classes.div_ceil(blen);
        let parts = self.rows.min(MAX_PARTS);
        let per_part = self.rows.div_ceil(parts);
        let parts = self.rows.div_ceil(per_part);
        let mut partial = [0.0f64; MAX_PARTS];
        let partial_ptr = SyncPtr(partial.as_mut_ptr());
        let split_rows = self.rows >= 2 * par::threads() || nblocks < 2;
        let keep = self.classes <= SCRATCH;
        let part = |p: usize, split_blocks: bool| {
            let mut stats = [Stat::default(); MAX_BLOCKS];
            let mut scratch = MaybeUninit::<[f32; SCRATCH]>::uninit();
            let scratch = SyncPtr(if keep { scratch.as_mut_ptr().cast::<f32>() } else { std::ptr::null_mut() });
            let (mut s, mut c) = (0.0f64, 0.0f64);
            for r in p * per_part..((p + 1) * per_part).min(self.rows) {
                // SAFETY: row r is this task's alone.
                let v = unsafe { self.row(r, blen, nblocks, &mut stats[..nblocks.max(1)], scratch, split_blocks) };
                let t = s + v;
                c += if s.abs() >= v.abs() { (s - t) + v } else { (v - t) + s };
                s = t;
            }
            let total = s + c;
            // SAFETY: slot p is this task's alone.
            unsafe { *partial_ptr.add(p) = if total.is_finite() { total } else { s } };
        };
        if split_rows {
            par::for_each(parts, |p| part(p, false));
        } else {
            (0..parts).for_each(|p| part(p, true));
        }
        par::neumaier(&partial[..parts])
    }

    /// # Safety
    /// Row `r` of `dst` and `losses` is not touched by any other task; `scratch`
    /// is null or holds `classes` elements that are this row's alone.
    unsafe fn row(&self, r: usize, blen: usize, nblocks: usize, stats: &mut [Stat], scratch: SyncPtr<f32>, split: bool) -> f64 {
        let c = self.classes;
        let dst = self.dst.add(r * c);
        let loss = match self.targets {
            Targets::Index { labels, ignore_index } => {
                let l = labels[r].index();
                if Some(l) == ignore_index {
                    if !dst.is_null() {
                        std::slice::from_raw_parts_mut(dst, c).fill(H::from_f32(0.0));
                    }
                    0.0
                } else {
                    self.index_row(r, l as usize, blen, nblocks, stats, scratch, split)
                }
            }
            Targets::Probs { .. } => unreachable!("the half kernel takes class-index targets"),
        };
        if !self.losses.is_null() {
            *self.losses.add(r) = loss as f32;
        }
        loss
    }

    /// The exponentials `exp(f32(x_k) − mref)` of `[lo, hi)` of the row at `src`,
    /// chunk by chunk, each chunk handed to `f(offset, exps, len)`; returns
    /// `(Σ e, Σ (x − mref))` (the second when `want_xsum`). Without a scratch row.
    unsafe fn exps_chunked(&self, src: *const H, lo: usize, hi: usize, mref: f32, want_xsum: bool, f: &mut dyn FnMut(usize, *mut f32, usize)) -> (f64, f64) {
        let mut buf = MaybeUninit::<[f32; CHUNK]>::uninit();
        let buf = buf.as_mut_ptr().cast::<f32>();
        let (mut s, mut xs) = (0.0, 0.0);
        let mut i = lo;
        while i < hi {
            let n = CHUNK.min(hi - i);
            (self.ops.widen_max)(src.add(i), buf, n);
            let (a, b) = (self.ops.f32.exp_sum)(buf, buf, n, mref, want_xsum);
            s += a;
            xs += b;
            f(i, buf, n);
            i += n;
        }
        (s, xs)
    }

    /// Pass 1 over every block of a row, then the combination.
    #[allow(clippy::too_many_arguments)]
    unsafe fn pass1(
        &self,
        src: *const H,
        nblocks: usize,
        blen: usize,
        stats: &mut [Stat],
        scratch: SyncPtr<f32>,
        split: bool,
        weighted_xsum: bool,
        want_xsum: bool,
    ) -> RowStat {
        let c = self.classes;
        let ops = self.ops;
        let sp = SyncPtr(stats.as_mut_ptr());
        let src_p = SyncPtr(src as *mut H);
        let w = self.weight;
        let block = |b: usize| {
            let (lo, hi) = (b * blen, ((b + 1) * blen).min(c));
            let len = hi - lo;
            let s = src_p.add(lo) as *const H;
            let (m, nan) = if scratch.is_null() {
                let mut buf = MaybeUninit::<[f32; CHUNK]>::uninit();
                let buf = buf.as_mut_ptr().cast::<f32>();
                let (mut m, mut nan) = (f32::NEG_INFINITY, false);
                let mut i = 0;
                while i < len {
                    let n = CHUNK.min(len - i);
                    let (mi, ni) = (ops.widen_max)(s.add(i), buf, n);
                    m = m.max(mi);
                    nan |= ni;
                    i += n;
                }
                (m, nan)
            } else {
                (ops.widen_max)(s, scratch.add(lo), len)
            };
            let m = f64::from(m);
            let st = if nan || m == f64::INFINITY {
                Stat { m, special: true, ..Stat::default() }
            } else {
                let mref = if m == f64::NEG_INFINITY { 0.0 } else { m };
                let (mut xs, mut ws) = (0.0, len as f64);
                if weighted_xsum {
                    let w = w.expect("weights");
                    ws = 0.0;
                    for k in lo..hi {
                        xs += w[k] * (f64::from((*src_p.add(k)).to_f32()) - mref);
                        ws += w[k];
                    }
                }
                let (sum, sx) = if scratch.is_null() {
                    self.exps_chunked(src_p.add(0), lo, hi, mref as f32, want_xsum, &mut |_, _, _| {})
                } else {
                    let e = scratch.add(lo);
                    (ops.f32.exp_sum)(e, e, len, mref as f32, want_xsum)
                };
                if want_xsum {
                    xs = sx;
                }
                Stat { m, mref, s: sum, xs, ws, special: false }
            };
            *sp.add(b) = st;
        };
        if split {
            par::for_each(nblocks, block);
        } else {
            (0..nblocks).for_each(block);
        }
        let stats = &stats[..nblocks];
        let mut m = f64::NEG_INFINITY;
        let mut special = false;
        for st in stats {
            special |= st.special;
            m = m.max(st.m);
        }
        if special || !m.is_finite() {
            return RowStat { m, log_s: f64::NAN, s: f64::NAN, wx: f64::NAN, wt: f64::NAN, special: true };
        }
        let (mut s, mut wx, mut wt) = (0.0f64, 0.0f64, 0.0f64);
        for st in stats {
            if st.m != f64::NEG_INFINITY {
                s += st.s * if st.m == m { 1.0 } else { (st.m - m).exp() };
            }
            wx += st.xs + st.ws * (st.mref - m);
            wt += st.ws;
        }
        RowStat { m, log_s: s.ln(), s, wx, wt, special: false }
    }

    #[allow(clippy::too_many_arguments)]
    unsafe fn index_row(&self, r: usize, y: usize, blen: usize, nblocks: usize, stats: &mut [Stat], scratch: SyncPtr<f32>, split: bool) -> f64 {
        let c = self.classes;
        let eps = self.eps;
        let src = self.src.add(r * c);
        let dst = self.dst.add(r * c);
        let xy = f64::from((*src.add(y)).to_f32());
        let w = self.weight;
        let smoothing = eps > 0.0;
        let rs = self.pass1(src, nblocks, blen, stats, scratch, split, smoothing && w.is_some(), smoothing && w.is_none());
        if rs.special {
            if !dst.is_null() {
                std::slice::from_raw_parts_mut(dst, c).fill(H::from_f32(f32::NAN));
            }
            return f64::NAN;
        }
        let wy = w.map_or(1.0, |w| w[y]);
        let up = match self.up {
            Up::Uniform(g) => g,
            Up::PerRow(v) => v[r],
        };
        // As `softmax_ce::Job::index_row` (and the general path) compute them.
        let lp_y = (xy - rs.m) - rs.log_s;
        let nll = -(lp_y * wy);
        let loss = if smoothing {
            let smooth = -(rs.wx - rs.wt * rs.log_s);
            (1.0 - eps) * nll + smooth * (eps / c as f64)
        } else {
            nll
        };
        if !dst.is_null() {
            let g_y_main = -(wy * ((1.0 - eps) * up));
            let b = up * (eps / c as f64);
            let wsum = if smoothing { rs.wt } else { 0.0 };
            let total = g_y_main - b * wsum;
            let neg_total = -total;
            let ops = self.ops;
            let dp = SyncPtr(dst);
            let src_p = SyncPtr(src as *mut H);
            let per_elem = smoothing && w.is_some();
            let stats = &stats[..nblocks];
            let block = |bi: usize| {
                let (lo, hi) = (bi * blen, ((bi + 1) * blen).min(c));
                let st = stats[bi];
                let f = if st.m == f64::NEG_INFINITY { 0.0 } else { neg_total * (st.m - rs.m).exp() / rs.s };
                let mut write = |off: usize, e: *mut f32, n: usize| {
                    if per_elem {
                        let w = w.expect("weights");
                        for k in 0..n {
                            *dp.add(off + k) = H::from_f64(-b * w[off + k] + f64::from(*e.add(k)) * f);
                        }
                    } else {
                        (ops.narrow_affine)(e, dp.add(off), n, f as f32, -b as f32);
                    }
                };
                if scratch.is_null() {
                    self.exps_chunked(src_p.add(0), lo, hi, st.mref as f32, false, &mut write);
                } else {
                    write(lo, scratch.add(lo), hi - lo);
                }
            };
            if split {
                par::for_each(nblocks, block);
            } else {
                (0..nblocks).for_each(block);
            }
            // The target's element in f64: g_y − p_y · Σg, without cancellation.
            let g_y = g_y_main - b * wy;
            *dst.add(y) = H::from_f64(g_y - lp_y.exp() * total);
        }
        loss
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The conversions, generic over `BF` (`true`: bf16, `false`: f16) so that
    //! each instantiation inlines its own conversion.
    use half::{bf16, f16};
    use std::arch::x86_64::*;

    const BF16_NEG_INF: u16 = 0xFF80;
    const F16_NEG_INF: u16 = 0xFC00;
    const RNE: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

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
            _mm512_cvtps_ph::<RNE>(v)
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn widen_max_512<const BF: bool>(src: *const u16, dst: *mut f32, len: usize) -> (f32, bool) {
        let ninf = _mm512_set1_ps(f32::NEG_INFINITY);
        let (mut m0, mut m1) = (ninf, ninf);
        let mut nan: __mmask16 = 0;
        let mut i = 0;
        while i + 32 <= len {
            let a = widen16::<BF>(_mm256_loadu_si256(src.add(i).cast()));
            let b = widen16::<BF>(_mm256_loadu_si256(src.add(i + 16).cast()));
            _mm512_storeu_ps(dst.add(i), a);
            _mm512_storeu_ps(dst.add(i + 16), b);
            nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, b);
            m0 = _mm512_max_ps(m0, a);
            m1 = _mm512_max_ps(m1, b);
            i += 32;
        }
        while i < len {
            let n = (len - i).min(16);
            let mut buf = [if BF { BF16_NEG_INF } else { F16_NEG_INF }; 16];
            std::ptr::copy_nonoverlapping(src.add(i), buf.as_mut_ptr(), n);
            let a = widen16::<BF>(_mm256_loadu_si256(buf.as_ptr().cast()));
            let k: __mmask16 = ((1u32 << n) - 1) as __mmask16;
            _mm512_mask_storeu_ps(dst.add(i), k, a);
            nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a);
            m0 = _mm512_max_ps(m0, a);
            i += n;
        }
        (_mm512_reduce_max_ps(_mm512_max_ps(m0, m1)), nan != 0)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
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
            let k: __mmask16 = ((1u32 << n) - 1) as __mmask16;
            let a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, src.add(i)), fv, cv);
            let mut buf = [0u16; 16];
            _mm256_storeu_si256(buf.as_mut_ptr().cast(), narrow16::<BF>(a));
            std::ptr::copy_nonoverlapping(buf.as_ptr(), dst.add(i), n);
            i += n;
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn widen_max_bf16_512(src: *const bf16, dst: *mut f32, len: usize) -> (f32, bool) {
        widen_max_512::<true>(src.cast(), dst, len)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn narrow_affine_bf16_512(src: *const f32, dst: *mut bf16, len: usize, f: f32, c: f32) {
        narrow_affine_512::<true>(src, dst.cast(), len, f, c)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn widen_max_f16_512(src: *const f16, dst: *mut f32, len: usize) -> (f32, bool) {
        widen_max_512::<false>(src.cast(), dst, len)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn narrow_affine_f16_512(src: *const f32, dst: *mut f16, len: usize, f: f32, c: f32) {
        narrow_affine_512::<false>(src, dst.cast(), len, f, c)
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
    unsafe fn widen_max_256<const BF: bool>(src: *const u16, dst: *mut f32, len: usize) -> (f32, bool) {
        let ninf = _mm256_set1_ps(f32::NEG_INFINITY);
        let (mut m0, mut m1) = (ninf, ninf);
        let mut nan = _mm256_setzero_ps();
        let mut i = 0;
        while i + 16 <= len {
            let a = widen8::<BF>(_mm_loadu_si128(src.add(i).cast()));
            let b = widen8::<BF>(_mm_loadu_si128(src.add(i + 8).cast()));
            _mm256_storeu_ps(dst.add(i), a);
            _mm256_storeu_ps(dst.add(i + 8), b);
            nan = _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(a, b));
            m0 = _mm256_max_ps(m0, a);
            m1 = _mm256_max_ps(m1, b);
            i += 16;
        }
        while i < len {
            let n = (len - i).min(8);
            let mut buf = [if BF { BF16_NEG_INF } else { F16_NEG_INF }; 8];
            std::ptr::copy_nonoverlapping(src.add(i), buf.as_mut_ptr(), n);
            let a = widen8::<BF>(_mm_loadu_si128(buf.as_ptr().cast()));
            let mut out = [0f32; 8];
            _mm256_storeu_ps(out.as_mut_ptr(), a);
            std::ptr::copy_nonoverlapping(out.as_ptr(), dst.add(i), n);
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

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn widen_max_bf16_256(src: *const bf16, dst: *mut f32, len: usize) -> (f32, bool) {
        widen_max_256::<true>(src.cast(), dst, len)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn narrow_affine_bf16_256(src: *const f32, dst: *mut bf16, len: usize, f: f32, c: f32) {
        narrow_affine_256::<true>(src, dst.cast(), len, f, c)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn widen_max_f16_256(src: *const f16, dst: *mut f32, len: usize) -> (f32, bool) {
        widen_max_256::<false>(src.cast(), dst, len)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn narrow_affine_f16_256(src: *const f32, dst: *mut f16, len: usize, f: f32, c: f32) {
        narrow_affine_256::<false>(src, dst.cast(), len, f, c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::{bf16, f16};

    fn every_bf16() -> Vec<bf16> {
        (0..=u16::MAX).map(bf16::from_bits).collect()
    }

    /// Widening is exact and narrowing rounds to nearest even, NaN kept, on
    /// every instruction set, against `half`'s own conversions.
    #[test]
    fn conversions_agree_with_half_on_every_isa() {
        let mut bf: Vec<HalfOps<bf16>> = vec![scalar_ops(&simd::F32_SCALAR)];
        let mut hf: Vec<HalfOps<f16>> = vec![scalar_ops(&simd::F32_SCALAR)];
        #[cfg(target_arch = "x86_64")]
        {
            let f = &simd::F32_SCALAR;
            if is_x86_feature_detected!("avx512f") {
                bf.push(HalfOps { name: "avx512", widen_max: x86::widen_max_bf16_512, narrow_affine: x86::narrow_affine_bf16_512, f32: f });
                hf.push(HalfOps { name: "avx512", widen_max: x86::widen_max_f16_512, narrow_affine: x86::narrow_affine_f16_512, f32: f });
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c") {
                bf.push(HalfOps { name: "avx2", widen_max: x86::widen_max_bf16_256, narrow_affine: x86::narrow_affine_bf16_256, f32: f });
                hf.push(HalfOps { name: "avx2", widen_max: x86::widen_max_f16_256, narrow_affine: x86::narrow_affine_f16_256, f32: f });
            }
        }
        // f32 values around every rounding boundary: each half value, ±1 f32
        // ulp, and the midpoints to the next half value.
        let mut xs: Vec<f32> = vec![];
        for h in every_bf16() {
            let v = h.to_f32();
            let b = v.to_bits();
            xs.extend([v, f32::from_bits(b.wrapping_add(1)), f32::from_bits(b.wrapping_sub(1)), f32::from_bits(b ^ 0x8000), f32::from_bits(b | 0x7FFF)]);
        }
        for h in (0..=u16::MAX).map(f16::from_bits) {
            let v = h.to_f32();
            let b = v.to_bits();
            xs.extend([v, f32::from_bits(b.wrapping_add(1)), f32::from_bits(b.wrapping_sub(1)), f32::from_bits(b ^ 0x1000), f32::from_bits(b.wrapping_add(0x1000))]);
        }
        for ops in &bf {
            let mut out = vec![bf16::ZERO; xs.len()];
            unsafe { (ops.narrow_affine)(xs.as_ptr(), out.as_mut_ptr(), xs.len(), 1.0, -0.0) };
            for (x, o) in xs.iter().zip(&out) {
                let want = bf16::from_f32(*x);
                assert!(o.to_bits() == want.to_bits() || (o.is_nan() && want.is_nan()), "{}: bf16({x:e}) = {o:?}, want {want:?}", ops.name);
            }
            let all = every_bf16();
            for len in [all.len(), 1, 7, 15, 16, 17, 31, 33] {
                let mut w = vec![0f32; len];
                let (m, nan) = unsafe { (ops.widen_max)(all.as_ptr(), w.as_mut_ptr(), len) };
                assert!(all[..len].iter().zip(&w).all(|(a, b)| a.to_f32().to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())), "{}: widen len {len}", ops.name);
                let want = all[..len].iter().map(|v| v.to_f32()).fold(f32::NEG_INFINITY, f32::max);
                assert_eq!(nan, all[..len].iter().any(|v| v.is_nan()), "{}: NaN seen, len {len}", ops.name);
                if !nan {
                    assert_eq!(m, want, "{}: max len {len}", ops.name);
                }
            }
        }
        for ops in &hf {
            let mut out = vec![f16::ZERO; xs.len()];
            unsafe { (ops.narrow_affine)(xs.as_ptr(), out.as_mut_ptr(), xs.len(), 1.0, -0.0) };
            for (x, o) in xs.iter().zip(&out) {
                let want = f16::from_f32(*x);
                assert!(o.to_bits() == want.to_bits() || (o.is_nan() && want.is_nan()), "{}: f16({x:e}) = {o:?}, want {want:?}", ops.name);
            }
            let all: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
            for len in [all.len(), 1, 7, 15, 16, 17, 31, 33] {
                let mut w = vec![0f32; len];
                let (m, nan) = unsafe { (ops.widen_max)(all.as_ptr(), w.as_mut_ptr(), len) };
                assert!(all[..len].iter().zip(&w).all(|(a, b)| a.to_f32().to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())), "{}: widen len {len}", ops.name);
                let want = all[..len].iter().map(|v| v.to_f32()).fold(f32::NEG_INFINITY, f32::max);
                assert_eq!(nan, all[..len].iter().any(|v| v.is_nan()), "{}: NaN seen, len {len}", ops.name);
                if !nan {
                    assert_eq!(m, want, "{}: max len {len}", ops.name);
                }
            }
        }
    }
}
