//! Matrix products of `bf16` operands with `f32` accumulation on AVX512_BF16's
//! dot-product instruction, for the LM head's three products
//! ([`crate::classification::linear`]).
//!
//! `vdpbf16ps acc, a, b` adds to each of 16 `f32` lanes the two products of a
//! pair of `bf16` values (`acc[i] += a[2i]·b[2i] + a[2i+1]·b[2i+1]`; the
//! products are exact in `f32`, the sums rounded to nearest even, subnormal
//! inputs and results flushed to zero). Each kernel holds a block of the
//! result in registers and walks the contraction axis in pairs: one operand is
//! a pair broadcast to every lane (a 32-bit word, read where it lies or from a
//! small packed copy), the other 16 pairs along the lanes, packed so that the
//! two values of each pair are adjacent:
//!
//! | product | result | lanes along | broadcast | packed along the lanes |
//! |---|---|---|---|---|
//! | [`logits`]: `Z = X · Wᵀ` | `(m, v)`, 8 tokens × 32 classes | classes | `X`'s rows, in place | `W`'s rows, 32 at a time, by 16 × 16 transposes of words |
//! | [`grad_input`]: `dX = G · W` | `(m, d)`, 8 tokens × 32 features | features | `G`'s rows, in place | `W`'s rows interleaved two by two |
//! | [`grad_weight`]: `dW (+)= Gᵀ · X` | `(v, d)`, 8 classes × 32 features | features | `G`'s columns interleaved two rows at a time | `X`'s rows interleaved two by two |
//!
//! The three share one micro-kernel (8 rows broadcast × 32 lanes, 16
//! accumulators: 8 broadcasts and 2 loads per 16 dot products) and one
//! blocking: the packed operand is laid out panel by panel (each call of the
//! micro-kernel reads a contiguous block, which stays in L1 or L2 while the
//! other operand's rows stream past: [`KC`] `bf16` deep, 16 KB, for the
//! logits and `dX`; the tile's tokens deep for `dW`, whose blocks of classes
//! go `GW_GROUP` at a time over each block of features), and a
//! result that the contraction's blocks continue is loaded back into the
//! accumulators (the same sums, in the same order, as in one pass).
//!
//! Every element of a result is the sum of its pairs in one order fixed by
//! the shapes alone (the contraction axis in order, in blocks of fixed size),
//! so the results are the same bits whatever the number of threads and
//! however the work is split among them.

#[cfg(target_arch = "x86_64")]
use super::par::{self, SyncPtr};
use half::bf16;

/// Whether this CPU runs these kernels: AVX-512 (F, BW, VL) with AVX512_BF16,
/// and the AVX-512 kernels not turned off (`LOSSLAB_NO_AVX512`, `LOSSLAB_NO_SIMD`).
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static A: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *A.get_or_init(|| {
            super::simd::f32_ops().name == "avx512"
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512bf16")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The depth of a block of the contraction axis, in `bf16` values: the
/// classes of `G` a block of [`grad_input`] covers (its packed copy of `W`:
/// half as many pairs × the part's features), the features of a block of
/// [`logits`] (128 pairs × 32 classes of packed `W`, 16 KB).
const KC: usize = 256;

/// `z (m × v, row stride v) = x (m × d) · wᵀ (w: v × d)`, all row-major; `d` even.
///
/// # Safety
/// [`available`]; the slices hold what the shapes say; `d` is even.
pub(crate) unsafe fn logits(m: usize, v: usize, d: usize, x: &[bf16], w: &[bf16], z: &mut [f32]) {
    debug_assert!(available() && d.is_multiple_of(2) && x.len() >= m * d && w.len() >= v * d && z.len() >= m * v);
    #[cfg(target_arch = "x86_64")]
    x86::logits(m, v, d, x, w, z);
}

/// `dx (m × d) = g (m × v, row stride gs) · w (v × d)`: `gs` even, at least
/// `v` rounded up to even, and where `v` is odd the pad `g[r·gs + v]` zero
/// (the row stride may be longer than the row: the LM head narrows each row
/// of its `f32` tile to `bf16` in place, `gs = 2v`).
///
/// # Safety
/// As [`logits`]; `gs` even, `gs ≥ v + v % 2`, the pads zero.
pub(crate) unsafe fn grad_input(m: usize, v: usize, gs: usize, d: usize, g: &[bf16], w: &[bf16], dx: &mut [f32]) {
    debug_assert!(available() && gs.is_multiple_of(2) && gs >= v + v % 2 && g.len() >= (m.max(1) - 1) * gs + v + v % 2 && w.len() >= v * d && dx.len() >= m * d);
    #[cfg(target_arch = "x86_64")]
    x86::grad_input(m, v, gs, d, g, w, dx);
}

/// `dw (v × d) = [dw +] gᵀ · x` (`g`: `m × v`, row stride `gs` ≥ `v`; `x`: `m × d`).
///
/// # Safety
/// As [`grad_input`].
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn grad_weight(m: usize, v: usize, gs: usize, d: usize, g: &[bf16], x: &[bf16], dw: &mut [f32], accumulate: bool) {
    debug_assert!(available() && gs >= v && g.len() >= (m.max(1) - 1) * gs + v && x.len() >= m * d && dw.len() >= v * d);
    #[cfg(target_arch = "x86_64")]
    x86::grad_weight(m, v, gs, d, g, x, dw, accumulate);
}


/// `dst[c · ds + r] = src[r · ss + c]` for `r < rows`, `c < cols`: a
/// transpose of an `f32` block, 16 × 16 at a time in registers (the packing
/// of `W` for the `f32` logits' product, [`super::matmul::matmul_nt`]).
///
/// # Safety
/// The AVX-512 `f32` kernels run here (`simd::f32_ops().name == "avx512"`);
/// `src` and `dst` address the two blocks through their row strides and do
/// not overlap.
pub(crate) unsafe fn transpose_f32(rows: usize, cols: usize, src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
    #[cfg(target_arch = "x86_64")]
    x86::transpose_f32(rows, cols, src, ss, dst, ds);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (rows, cols, src, ss, dst, ds);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{par, SyncPtr, KC};
    use half::bf16;
    use std::arch::x86_64::*;

    /// A pair broadcast to the 16 lanes (read unaligned: the logits read
    /// `X`'s pairs where they lie, which a view may start at any `bf16`).
    #[inline(always)]
    unsafe fn bcast(p: *const u32) -> __m512bh {
        std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(std::ptr::read_unaligned(p) as i32))
    }

    /// 16 pairs.
    #[inline(always)]
    unsafe fn pairs(p: *const u32) -> __m512bh {
        std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(p.cast()))
    }

    /// The parts a parallel product is split into: enough for the pool, at
    /// most `units` (the split never changes a result's bits).
    fn parts(units: usize) -> usize {
        (par::threads() * 4).min(units).max(1)
    }

    /// `acc[r][n] += Σ_p a_r[p · step] · b[p · bs + 16 n ..]` over `k` pairs:
    /// 8 rows of the broadcast operand (each from its own pointer, `step`
    /// words apart along the pairs) against 32 lanes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    unsafe fn micro_8x32(k: usize, a: &[*const u32; 8], step: usize, b: *const u32, bs: usize, acc: &mut [[__m512; 2]; 8]) {
        let mut c = *acc;
        let [a0, a1, a2, a3, a4, a5, a6, a7] = *a;
        for p in 0..k {
            let b0 = pairs(b.add(p * bs));
            let b1 = pairs(b.add(p * bs + 16));
            let o = p * step;
            for (r, ar) in [a0, a1, a2, a3, a4, a5, a6, a7].into_iter().enumerate() {
                let av = bcast(ar.add(o));
                c[r][0] = _mm512_dpbf16_ps(c[r][0], av, b0);
                c[r][1] = _mm512_dpbf16_ps(c[r][1], av, b1);
            }
        }
        *acc = c;
    }

    /// Transposes a 16 × 16 block of `f32` held in 16 registers.
    #[target_feature(enable = "avx512f")]
    unsafe fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        let mut u = [_mm512_setzero_ps(); 16];
        let pd = |x: __m512| _mm512_castps_pd(x);
        let ps = |x: __m512d| _mm512_castpd_ps(x);
        for i in 0..4 {
            u[4 * i] = ps(_mm512_unpacklo_pd(pd(t[4 * i]), pd(t[4 * i + 2])));
            u[4 * i + 1] = ps(_mm512_unpackhi_pd(pd(t[4 * i]), pd(t[4 * i + 2])));
            u[4 * i + 2] = ps(_mm512_unpacklo_pd(pd(t[4 * i + 1]), pd(t[4 * i + 3])));
            u[4 * i + 3] = ps(_mm512_unpackhi_pd(pd(t[4 * i + 1]), pd(t[4 * i + 3])));
        }
        // u[4i + c], 128-bit group g: rows 4i..4i + 4 of column 4g + c.
        let mut out = [_mm512_setzero_ps(); 16];
        for c in 0..4 {
            let lo01 = _mm512_shuffle_f32x4::<0b10_00_10_00>(u[c], u[4 + c]);
            let hi01 = _mm512_shuffle_f32x4::<0b11_01_11_01>(u[c], u[4 + c]);
            let lo23 = _mm512_shuffle_f32x4::<0b10_00_10_00>(u[8 + c], u[12 + c]);
            let hi23 = _mm512_shuffle_f32x4::<0b11_01_11_01>(u[8 + c], u[12 + c]);
            out[c] = _mm512_shuffle_f32x4::<0b10_00_10_00>(lo01, lo23);
            out[8 + c] = _mm512_shuffle_f32x4::<0b11_01_11_01>(lo01, lo23);
            out[4 + c] = _mm512_shuffle_f32x4::<0b10_00_10_00>(hi01, hi23);
            out[12 + c] = _mm512_shuffle_f32x4::<0b11_01_11_01>(hi01, hi23);
        }
        out
    }

    /// See [`super::transpose_f32`]: 16 × 16 blocks, the edges masked.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transpose_f32(rows: usize, cols: usize, src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
        for r0 in (0..rows).step_by(16) {
            let nr = (rows - r0).min(16);
            for c0 in (0..cols).step_by(16) {
                let nc = (cols - c0).min(16);
                let mask = mask16(nc);
                let mut r = [_mm512_setzero_ps(); 16];
                for (i, r) in r.iter_mut().enumerate().take(nr) {
                    *r = _mm512_maskz_loadu_ps(mask, src.add((r0 + i) * ss + c0));
                }
                let t = transpose16(r);
                let out = mask16(nr);
                for (c, t) in t.iter().enumerate().take(nc) {
                    _mm512_mask_storeu_ps(dst.add((c0 + c) * ds + r0), out, *t);
                }
            }
        }
    }

    /// The lanes below `n` (of 16).
    #[inline(always)]
    fn mask16(n: usize) -> __mmask16 {
        if n >= 16 {
            0xffff
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    }

    /// The lanes below `n` (of 32 `bf16`).
    #[inline(always)]
    fn mask32(n: usize) -> __mmask32 {
        if n >= 32 {
            u32::MAX
        } else {
            (1u32 << n) - 1
        }
    }

    /// Two rows' 32 `bf16` from column `c` (`n` ≤ 32 of them; the rest and a
    /// missing second row read as zero) interleaved into 32 pairs: the pairs of
    /// columns `c..c + 16` and `c + 16..c + 32`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn interleave(r0: *const bf16, r1: Option<*const bf16>, n: usize) -> (__m512i, __m512i) {
        let k = mask32(n);
        let a = _mm512_maskz_loadu_epi16(k, r0.cast());
        let b = match r1 {
            Some(r1) => _mm512_maskz_loadu_epi16(k, r1.cast()),
            None => _mm512_setzero_si512(),
        };
        let mut lo = [0i16; 32];
        let mut hi = [0i16; 32];
        for i in 0..16 {
            lo[2 * i] = i as i16;
            lo[2 * i + 1] = 32 + i as i16;
            hi[2 * i] = 16 + i as i16;
            hi[2 * i + 1] = 48 + i as i16;
        }
        let lo = _mm512_loadu_si512(lo.as_ptr().cast());
        let hi = _mm512_loadu_si512(hi.as_ptr().cast());
        (_mm512_permutex2var_epi16(a, lo, b), _mm512_permutex2var_epi16(a, hi, b))
    }

    /// Rows `r0..r0 + 16` of a row-major `bf16` matrix of `rows` rows and `d`
    /// (even) columns (rows from `rows` on read as zero), packed by pairs of
    /// columns: for each pair `p`, the 16 rows' pairs (32-bit words) at
    /// `out[p · stride + off ..][..16]`, by 16 × 16 transposes of the words.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn pack16(a: &[bf16], rows: usize, d: usize, r0: usize, out: &mut [u32], stride: usize, off: usize) {
        let k = d / 2;
        let base = a.as_ptr().cast::<u32>();
        for p0 in (0..k).step_by(16) {
            let n = (k - p0).min(16);
            let mask = mask16(n);
            let mut r = [_mm512_setzero_ps(); 16];
            for (i, r) in r.iter_mut().enumerate() {
                if r0 + i < rows {
                    *r = _mm512_maskz_loadu_ps(mask, base.add((r0 + i) * k + p0).cast());
                }
            }
            let t = transpose16(r);
            for (p, t) in t.iter().enumerate().take(n) {
                _mm512_storeu_ps(out.as_mut_ptr().add((p0 + p) * stride + off).cast(), *t);
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub(super) unsafe fn logits(m: usize, v: usize, d: usize, x: &[bf16], w: &[bf16], z: &mut [f32]) {
        if m == 0 || v == 0 {
            return;
        }
        let blocks = v.div_ceil(32);
        let nparts = parts(blocks);
        let zp = SyncPtr(z.as_mut_ptr());
        // SAFETY: part q writes the columns of its blocks of classes only.
        par::for_each(nparts, m * v * (d / 2).max(1), |q| unsafe { logits_part(m, v, d, x, w, zp, q * blocks / nparts, (q + 1) * blocks / nparts) });
    }

    /// The classes of blocks `b0..b1` (32 each) of [`logits`]: each block's
    /// rows of `W` packed `[pair][32]` (the classes along the lanes), then by
    /// [`KC`] features at a time (16 KB of the packed rows, which stay in L1)
    /// every 8 tokens' pairs broadcast from `X` where it lies; the 8 × 32
    /// results are rows of `z` as they stand (accumulated there over the
    /// blocks of features, which continues each sum in the same order).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn logits_part(m: usize, v: usize, d: usize, x: &[bf16], w: &[bf16], zp: SyncPtr<f32>, b0: usize, b1: usize) {
        let k = d / 2;
        let x32 = x.as_ptr().cast::<u32>();
        let mut wp = vec![0u32; k.max(1) * 32];
        for vb in b0..b1 {
            let j0 = vb * 32;
            let n = v - j0;
            let (m0, m1) = (mask16(n), mask16(n.saturating_sub(16)));
            // Classes j0..j0 + 16 on lanes 0..16, j0 + 16..j0 + 32 on 16..32 (missing classes zero).
            pack16(w, v, d, j0, &mut wp, 32, 0);
            pack16(w, v, d, j0 + 16, &mut wp, 32, 16);
            for kb in (0..k.max(1)).step_by(KC / 2) {
                let kc = (KC / 2).min(k.saturating_sub(kb));
                let panel = wp.as_ptr().add(kb * 32);
                for t0 in (0..m).step_by(8) {
                    let mut a = [x32; 8];
                    for (r, a) in a.iter_mut().enumerate() {
                        *a = x32.add((t0 + r).min(m - 1) * k + kb);
                    }
                    let mut acc = [[_mm512_setzero_ps(); 2]; 8];
                    if kb > 0 {
                        for (r, acc) in acc.iter_mut().enumerate().take(m - t0) {
                            let o = zp.add((t0 + r) * v + j0);
                            acc[0] = _mm512_maskz_loadu_ps(m0, o);
                            acc[1] = _mm512_maskz_loadu_ps(m1, o.add(16));
                        }
                    }
                    micro_8x32(kc, &a, 1, panel, 32, &mut acc);
                    for (r, acc) in acc.iter().enumerate().take(m - t0) {
                        // SAFETY: row t0 + r, columns j0..j0 + 32 (fewer at the end) of z, owned by this part.
                        let o = zp.add((t0 + r) * v + j0);
                        _mm512_mask_storeu_ps(o, m0, acc[0]);
                        _mm512_mask_storeu_ps(o.add(16), m1, acc[1]);
                    }
                }
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub(super) unsafe fn grad_input(m: usize, v: usize, gs: usize, d: usize, g: &[bf16], w: &[bf16], dx: &mut [f32]) {
        if m == 0 || d == 0 {
            return;
        }
        let panels = d.div_ceil(32);
        let nparts = par::threads().min(panels).max(1);
        let dxp = SyncPtr(dx.as_mut_ptr());
        if v == 0 {
            dx[..m * d].iter_mut().for_each(|x| *x = 0.0);
            return;
        }
        // SAFETY: part q writes its columns of dx only.
        par::for_each(nparts, m * v * d, |q| unsafe { grad_input_part(m, v, gs, d, g, w, dxp, q * panels / nparts, (q + 1) * panels / nparts) });
    }

    /// The features of panels `p0..p1` (32 each) of [`grad_input`]: by blocks
    /// of [`KC`] classes, `W`'s block packed panel by panel (`[panel][pair][32]`,
    /// each panel contiguous: 16 KB that stay in L1 while every block of 8
    /// tokens runs over them).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn grad_input_part(m: usize, v: usize, gs: usize, d: usize, g: &[bf16], w: &[bf16], dxp: SyncPtr<f32>, p0: usize, p1: usize) {
        let g32 = g.as_ptr().cast::<u32>();
        // The pairs of classes (the last one padded), and the words per row of g.
        let (half, gw) = (v.div_ceil(2), gs / 2);
        let (c0, c1) = (p0 * 32, (p1 * 32).min(d));
        let mut wq = vec![0u32; (KC / 2) * (p1 - p0) * 32];
        let mut first = true;
        for kb in (0..half).step_by(KC / 2) {
            let kc = (KC / 2).min(half - kb);
            // W's rows 2(kb + p) and 2(kb + p) + 1, interleaved: [panel][p][32].
            for p in 0..kc {
                let r0 = 2 * (kb + p);
                let (row0, row1) = if r0 < v {
                    (w.as_ptr().add(r0 * d), (r0 + 1 < v).then(|| w.as_ptr().add((r0 + 1) * d)))
                } else {
                    (std::ptr::null(), None)
                };
                for c in (c0..c1).step_by(32) {
                    let (lo, hi) = if row0.is_null() {
                        (_mm512_setzero_si512(), _mm512_setzero_si512())
                    } else {
                        interleave(row0.add(c), row1.map(|r| r.add(c)), c1 - c)
                    };
                    let o = wq.as_mut_ptr().add(((c - c0) / 32 * kc + p) * 32);
                    _mm512_storeu_si512(o.cast(), lo);
                    _mm512_storeu_si512(o.add(16).cast(), hi);
                }
            }
            for c in (c0..c1).step_by(32) {
                let n = c1 - c;
                let (m0, m1) = (mask16(n), mask16(n.saturating_sub(16)));
                let panel = wq.as_ptr().add((c - c0) / 32 * kc * 32);
                for t0 in (0..m).step_by(8) {
                    let mut a = [g32; 8];
                    for (r, a) in a.iter_mut().enumerate() {
                        *a = g32.add((t0 + r).min(m - 1) * gw + kb);
                    }
                    let mut acc = [[_mm512_setzero_ps(); 2]; 8];
                    if !first {
                        for (r, acc) in acc.iter_mut().enumerate().take(m - t0) {
                            let o = dxp.add((t0 + r) * d + c);
                            acc[0] = _mm512_maskz_loadu_ps(m0, o);
                            acc[1] = _mm512_maskz_loadu_ps(m1, o.add(16));
                        }
                    }
                    micro_8x32(kc, &a, 1, panel, 32, &mut acc);
                    for (r, acc) in acc.iter().enumerate().take(m - t0) {
                        // SAFETY: rows t0.., columns c.. of dx, owned by this part.
                        let o = dxp.add((t0 + r) * d + c);
                        _mm512_mask_storeu_ps(o, m0, acc[0]);
                        _mm512_mask_storeu_ps(o.add(16), m1, acc[1]);
                    }
                }
            }
            first = false;
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn grad_weight(m: usize, v: usize, gs: usize, d: usize, g: &[bf16], x: &[bf16], dw: &mut [f32], accumulate: bool) {
        if v == 0 || d == 0 {
            return;
        }
        let panels = d.div_ceil(32);
        let half = m.div_ceil(2);
        // X's rows interleaved two by two, panel by panel: [panel][t2][32]
        // (a panel contiguous: the operand of one micro-kernel call).
        let mut xp = vec![0u32; panels * half * 32];
        for t2 in 0..half {
            let r0 = x.as_ptr().add(2 * t2 * d);
            let r1 = (2 * t2 + 1 < m).then(|| x.as_ptr().add((2 * t2 + 1) * d));
            for c in (0..d).step_by(32) {
                let (lo, hi) = interleave(r0.add(c), r1.map(|r| r.add(c)), d - c);
                let o = xp.as_mut_ptr().add((c / 32 * half + t2) * 32);
                _mm512_storeu_si512(o.cast(), lo);
                _mm512_storeu_si512(o.add(16).cast(), hi);
            }
        }
        let blocks = v.div_ceil(8);
        let nparts = parts(blocks);
        let dwp = SyncPtr(dw.as_mut_ptr());
        let xp = &xp;
        // SAFETY: part q writes the rows of its blocks of classes only.
        par::for_each(nparts, m * v * d, |q| unsafe {
            grad_weight_part(m, v, gs, d, g, xp, dwp, accumulate, q * blocks / nparts, (q + 1) * blocks / nparts)
        });
    }

    /// The blocks of 8 classes [`grad_weight`] packs together: each panel of
    /// `X` is read once per group (from L2) and then from L1 for the others.
    const GW_GROUP: usize = 4;

    /// The classes of blocks `b0..b1` (8 each) of [`grad_weight`] (`x` packed
    /// in `xp`), [`GW_GROUP`] blocks at a time.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn grad_weight_part(m: usize, v: usize, gs: usize, d: usize, g: &[bf16], xp: &[u32], dwp: SyncPtr<f32>, accumulate: bool, b0: usize, b1: usize) {
        let half = m.div_ceil(2);
        let mut gp = vec![0u32; GW_GROUP * half * 8];
        for gb0 in (b0..b1).step_by(GW_GROUP) {
            let gb1 = (gb0 + GW_GROUP).min(b1);
            // G's columns j0..j0 + 8 of each block, rows 2 t2 and 2 t2 + 1 interleaved: [block][t2][8].
            for vb in gb0..gb1 {
                let j0 = vb * 8;
                let rows = (v - j0).min(8);
                let k = _mm_set1_epi16(0);
                let cols = ((1u32 << rows) - 1) as __mmask8;
                let base = gp.as_mut_ptr().add((vb - gb0) * half * 8);
                for t2 in 0..half {
                    let a = _mm_maskz_loadu_epi16(cols, g.as_ptr().add(2 * t2 * gs + j0).cast());
                    let b = if 2 * t2 + 1 < m { _mm_maskz_loadu_epi16(cols, g.as_ptr().add((2 * t2 + 1) * gs + j0).cast()) } else { k };
                    let o = base.add(t2 * 8);
                    _mm_storeu_si128(o.cast(), _mm_unpacklo_epi16(a, b));
                    _mm_storeu_si128(o.add(4).cast(), _mm_unpackhi_epi16(a, b));
                }
            }
            for c in (0..d).step_by(32) {
                let n = d - c;
                let (m0, m1) = (mask16(n), mask16(n.saturating_sub(16)));
                let panel = xp.as_ptr().add(c / 32 * half * 32);
                for vb in gb0..gb1 {
                    let j0 = vb * 8;
                    let rows = (v - j0).min(8);
                    let base = gp.as_ptr().add((vb - gb0) * half * 8);
                    let mut a = [base; 8];
                    for (r, a) in a.iter_mut().enumerate() {
                        *a = base.add(r);
                    }
                    let mut acc = [[_mm512_setzero_ps(); 2]; 8];
                    if accumulate {
                        for (r, acc) in acc.iter_mut().enumerate().take(rows) {
                            let o = dwp.add((j0 + r) * d + c);
                            acc[0] = _mm512_maskz_loadu_ps(m0, o);
                            acc[1] = _mm512_maskz_loadu_ps(m1, o.add(16));
                        }
                    }
                    if c + 32 < d {
                        // The next panel's rows of dw, from memory while this one runs.
                        for r in 0..rows {
                            let o = dwp.add((j0 + r) * d + c + 32);
                            _mm_prefetch::<_MM_HINT_T0>(o.cast());
                            _mm_prefetch::<_MM_HINT_T0>(o.wrapping_add(16).cast());
                        }
                    }
                    micro_8x32(half, &a, 8, panel, 32, &mut acc);
                    for (r, acc) in acc.iter().enumerate().take(rows) {
                        // SAFETY: rows j0.. of dw, owned by this part.
                        let o = dwp.add((j0 + r) * d + c);
                        _mm512_mask_storeu_ps(o, m0, acc[0]);
                        _mm512_mask_storeu_ps(o.add(16), m1, acc[1]);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64) -> Vec<bf16> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                bf16::from_f64(((s >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0)
            })
            .collect()
    }

    /// Each result against `f64` sums of the same `bf16` products, on shapes
    /// with every remainder (tokens, classes and features not multiples of the blocks).
    #[test]
    fn products_match_f64() {
        if !available() {
            eprintln!("no AVX512_BF16 here: skipped");
            return;
        }
        for &(m, v, d) in &[(1, 1, 2), (37, 53, 34), (16, 16, 32), (33, 300, 70), (9, 700, 2)] {
            let x = data(m * d, 1);
            let w = data(v * d, 2);
            // Rows of g twice as long as v, as the LM head lays them out
            // (narrowed in place in its f32 tile): the pad zero, the rest NaN
            // (never read).
            let (vp, gs) = (v + v % 2, 2 * v.max(1));
            let mut g = data(m * gs, 3);
            for r in 0..m {
                for c in v..gs {
                    g[r * gs + c] = if c < vp { bf16::ZERO } else { bf16::NAN };
                }
            }
            let f = |a: bf16| f64::from(a.to_f32());
            let close = |got: f32, want: f64, scale: f64| (f64::from(got) - want).abs() <= 1e-5 * scale;
            let mut z = vec![f32::NAN; m * v];
            unsafe { logits(m, v, d, &x, &w, &mut z) };
            for t in 0..m {
                for j in 0..v {
                    let want: f64 = (0..d).map(|k| f(x[t * d + k]) * f(w[j * d + k])).sum();
                    let scale: f64 = (0..d).map(|k| (f(x[t * d + k]) * f(w[j * d + k])).abs()).sum();
                    assert!(close(z[t * v + j], want, scale), "logits ({m}, {v}, {d}) [{t}, {j}]: {} vs {want}", z[t * v + j]);
                }
            }
            let mut dx = vec![f32::NAN; m * d];
            unsafe { grad_input(m, v, gs, d, &g, &w, &mut dx) };
            for t in 0..m {
                for k in 0..d {
                    let want: f64 = (0..v).map(|j| f(g[t * gs + j]) * f(w[j * d + k])).sum();
                    let scale: f64 = (0..v).map(|j| (f(g[t * gs + j]) * f(w[j * d + k])).abs()).sum();
                    assert!(close(dx[t * d + k], want, scale), "grad_input ({m}, {v}, {d}) [{t}, {k}]");
                }
            }
            for accumulate in [false, true] {
                let mut dw = vec![if accumulate { 1.0f32 } else { f32::NAN }; v * d];
                unsafe { grad_weight(m, v, gs, d, &g, &x, &mut dw, accumulate) };
                for j in 0..v {
                    for k in 0..d {
                        let want: f64 = (0..m).map(|t| f(g[t * gs + j]) * f(x[t * d + k])).sum::<f64>() + if accumulate { 1.0 } else { 0.0 };
                        let scale: f64 = (0..m).map(|t| (f(g[t * gs + j]) * f(x[t * d + k])).abs()).sum::<f64>() + 1.0;
                        assert!(close(dw[j * d + k], want, scale), "grad_weight ({m}, {v}, {d}) [{j}, {k}]");
                    }
                }
            }
        }
    }
}
