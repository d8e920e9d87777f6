//! Block operations of the fused kernels, per instruction set: the maximum of
//! a block, its exponentials (stored, summed in `f64`), and the affine update
//! of a block. AVX-512 and AVX2 + FMA versions for `f32`, chosen once at run
//! time; portable versions for `f32` and `f64`.
//!
//! All of them take raw pointers so that the source and the destination may be
//! the same buffer (the in-place mode).

/// The operations on one block of `len` elements at `src`/`dst`.
#[derive(Clone, Copy)]
pub(crate) struct BlockOps<T> {
    /// The instruction set, for reports (`"avx512"`, `"avx2+fma"`, `"scalar"`).
    pub(crate) name: &'static str,
    /// The maximum of the block ignoring NaN (`−∞` for an empty block), and
    /// whether the block holds a NaN.
    pub(crate) max: unsafe fn(src: *const T, len: usize) -> (T, bool),
    /// `dst[i] = exp(src[i] − m)` (not stored when `dst` is null); returns
    /// `(Σ exp(src[i] − m), Σ (src[i] − m))`, both accumulated in `f64` (the second
    /// only when `want_xsum`, else 0). Inputs are finite or `−∞`, `m` finite
    /// and `≥` every input; `exp(−∞) = 0` exactly.
    pub(crate) exp_sum: unsafe fn(src: *const T, dst: *mut T, len: usize, m: T, want_xsum: bool) -> (f64, f64),
    /// `dst[i] = dst[i] · f + c`.
    pub(crate) affine: unsafe fn(dst: *mut T, len: usize, f: T, c: T),
}

// ---------------------------------------------------------------- portable

unsafe fn max_scalar<T: crate::machinery::float::Float>(src: *const T, len: usize) -> (T, bool) {
    max_scalar_with(src, len, |v| v)
}

/// The portable maximum of `len` elements at `src`, each read through `load`
/// (the identity, or a half type's widening): `−∞` for none, and whether one
/// is NaN.
#[inline(always)]
pub(crate) unsafe fn max_scalar_with<X: Copy, T: crate::machinery::float::Float>(src: *const X, len: usize, load: impl Fn(X) -> T) -> (T, bool) {
    let s = std::slice::from_raw_parts(src, len);
    let mut m = T::neg_infinity();
    let mut nan = false;
    for &x in s {
        let v = load(x);
        nan |= v.is_nan();
        if v > m {
            m = v;
        }
    }
    (m, nan)
}

unsafe fn exp_sum_f32_scalar(src: *const f32, dst: *mut f32, len: usize, m: f32, want_xsum: bool) -> (f64, f64) {
    exp_sum_f32_scalar_with(src, len, |x| x, dst, m, want_xsum)
}

/// The portable `exp_sum` of `f32` values, each read through `load` (the
/// identity, or a half type's widening).
#[inline(always)]
pub(crate) unsafe fn exp_sum_f32_scalar_with<X: Copy>(
    src: *const X,
    len: usize,
    load: impl Fn(X) -> f32,
    dst: *mut f32,
    m: f32,
    want_xsum: bool,
) -> (f64, f64) {
    let (mut s, mut xs) = (0.0f64, 0.0f64);
    for i in 0..len {
        let x = load(*src.add(i));
        // exp in f64, rounded once: correctly rounded in all but rare cases.
        let e = (f64::from(x) - f64::from(m)).exp() as f32;
        if !dst.is_null() {
            *dst.add(i) = e;
        }
        s += f64::from(e);
        if want_xsum {
            xs += f64::from(x) - f64::from(m);
        }
    }
    (s, xs)
}

unsafe fn exp_sum_f64_scalar(src: *const f64, dst: *mut f64, len: usize, m: f64, want_xsum: bool) -> (f64, f64) {
    let (mut s, mut xs) = (0.0f64, 0.0f64);
    for i in 0..len {
        let x = *src.add(i);
        let e = (x - m).exp();
        if !dst.is_null() {
            *dst.add(i) = e;
        }
        s += e;
        if want_xsum {
            xs += x - m;
        }
    }
    (s, xs)
}

unsafe fn affine_scalar<T: crate::machinery::float::Float>(dst: *mut T, len: usize, f: T, c: T) {
    let d = std::slice::from_raw_parts_mut(dst, len);
    for v in d {
        *v = *v * f + c;
    }
}

/// The portable `f32` operations (exp through `f64::exp`).
pub(crate) const F32_SCALAR: BlockOps<f32> =
    BlockOps { name: "scalar", max: max_scalar::<f32>, exp_sum: exp_sum_f32_scalar, affine: affine_scalar::<f32> };

/// The `f64` operations (`f64::exp`, accurate to < 1 ulp).
pub(crate) const F64_SCALAR: BlockOps<f64> =
    BlockOps { name: "scalar", max: max_scalar::<f64>, exp_sum: exp_sum_f64_scalar, affine: affine_scalar::<f64> };

/// The `f32` operations for this CPU, detected once.
pub(crate) fn f32_ops() -> &'static BlockOps<f32> {
    static OPS: std::sync::OnceLock<BlockOps<f32>> = std::sync::OnceLock::new();
    OPS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::env::var_os("LOSSLAB_NO_SIMD").is_none() {
                if is_x86_feature_detected!("avx512f") && std::env::var_os("LOSSLAB_NO_AVX512").is_none() {
                    return x86::AVX512;
                }
                if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                    return x86::AVX2;
                }
            }
        }
        F32_SCALAR
    })
}

/// The `f32` operations of every instruction set this CPU has (for tests).
#[cfg(test)]
pub(crate) fn all_f32_ops() -> Vec<BlockOps<f32>> {
    let mut v = vec![F32_SCALAR];
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            v.push(x86::AVX2);
        }
        if is_x86_feature_detected!("avx512f") {
            v.push(x86::AVX512);
        }
    }
    v
}

/// One row of the single-block path of [`super::softmax_ce`]: what the
/// kernel needs to write the row's gradient (inputs) and the row's
/// statistics (outputs).
#[derive(Clone, Copy, Default)]
pub(crate) struct RowIo {
    /// Input: the target's class (any class when `skip`).
    pub(crate) y: usize,
    /// Input: an ignored row (its gradient is zeros).
    pub(crate) skip: bool,
    /// Input: `Σg`, the sum of the upstream gradient over the row's classes:
    /// `grad = e · f + cc` with `f = −Σg / s` rounded to the element type.
    pub(crate) total: f64,
    /// Input: the constant of the gradient (`−b`), rounded to the element type.
    pub(crate) cc: f64,
    /// Input: the target's element is `fix + ((s − e_y) / s) · Σg`.
    pub(crate) fix: f64,
    /// Output: the row's maximum.
    pub(crate) m: f64,
    /// Output: `Σ exp(x − m)`, in `f64`.
    pub(crate) s: f64,
    /// Output: `Σ (x − m)` in `f64` (where asked).
    pub(crate) xs: f64,
    /// Output: a NaN in the row, or a maximum that is not finite; nothing was
    /// written for such a row.
    pub(crate) special: bool,
}

/// The rows a single-block kernel takes at most per call.
pub(crate) const ROW_GROUP: usize = 16;

/// The longest row the register kernel [`short_rows_f32`] takes.
pub(crate) const SHORT_ROW_MAX: usize = 64;

/// For `rows ≤ ROW_GROUP` consecutive rows of `c` elements at `src`: each row's
/// statistics into `io`, and, when `dst` is not null, its gradient written
/// at `dst` (`src` and `dst` may be the same buffer) in the one pass.
pub(crate) type ShortRowsFn<T> = unsafe fn(src: *const T, dst: *mut T, c: usize, rows: usize, want_xsum: bool, io: &mut [RowIo; ROW_GROUP]);

/// The register kernel for rows of at most [`SHORT_ROW_MAX`] `f32` (the whole
/// row held in up to four AVX-512 registers), where the `f32` operations of
/// this process are the AVX-512 ones ([`f32_ops`]); `None` otherwise.
pub(crate) fn short_rows_f32() -> Option<ShortRowsFn<f32>> {
    #[cfg(target_arch = "x86_64")]
    {
        if f32_ops().name == "avx512" {
            return Some(x86::short_rows_avx512);
        }
    }
    None
}

/// `exp` of 16 or 8 `f32` lanes, for tests of its accuracy.
#[cfg(all(test, target_arch = "x86_64"))]
pub(crate) use x86::{exp_avx2_slice, exp_avx512_slice};

/// The vectorised `exp` of the block operations (16 or 8 lanes), their
/// 64- or 32-element step and its sums, for the half-precision kernels
/// (`softmax_ce_half`).
#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{exp_lanes256, exp_lanes512, exp_step256, exp_step512, Sums256, Sums512, PREFETCH};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::BlockOps;
    use std::arch::x86_64::*;

    // exp(x) = 2ⁿ · exp(r), n = round(x / ln 2), r = x − n ln 2 in two FMA steps
    // (Cody–Waite; ln2_hi has 9 significant bits so n · ln2_hi is exact), exp(r)
    // on |r| ≤ ln 2 / 2 by a degree-6 polynomial in Horner's form whose
    // coefficients (Q0..Q4, then 1 and 1) are the minimax fit of the relative
    // error (Remez; 0.026 ulp before rounding): worst error 0.87 ulp over
    // [−104, 0]. Inputs are clamped to ≥ −110, below which exp underflows to 0;
    // NaN propagates.
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    #[allow(clippy::excessive_precision)] // the exact value, 355/512
    const LN2_HI: f32 = 0.693_359_375;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const Q0: f32 = 0.499_999_94;
    const Q1: f32 = 0.166_665_21;
    const Q2: f32 = 0.041_668_39;
    const Q3: f32 = 0.008_368_71;
    const Q4: f32 = 0.001_381_461_3;
    /// The coefficients after `Q4`, highest degree first.
    const HORNER: [f32; 6] = [Q3, Q2, Q1, Q0, 1.0, 1.0];
    const X_MIN: f32 = -110.0;
    /// How far ahead, in elements, the exponential passes prefetch (into L1):
    /// the next block of a long row, or the rows after the next of a short
    /// one, so that its reading from memory overlaps the exponentials (the
    /// hardware prefetchers run ahead only of demand, and this pass demands
    /// nothing new from memory), and the maximum pass over it reads from cache.
    pub(crate) const PREFETCH: usize = 2048;

    pub(crate) const AVX512: BlockOps<f32> = BlockOps { name: "avx512", max: max_avx512, exp_sum: exp_sum_avx512, affine: affine_avx512 };
    pub(crate) const AVX2: BlockOps<f32> = BlockOps { name: "avx2+fma", max: max_avx2, exp_sum: exp_sum_avx2, affine: affine_avx2 };

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn exp512(x: __m512) -> __m512 {
        // max(X_MIN, x) returns x where x is NaN: NaN propagates.
        let x = _mm512_max_ps(_mm512_set1_ps(X_MIN), x);
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)));
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
        let mut y = _mm512_set1_ps(Q4);
        for c in HORNER {
            y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(c));
        }
        // y · 2ⁿ, gradual underflow included.
        _mm512_scalef_ps(y, n)
    }

    // The half kernels' exp: exp(x) = 2ᵗ with t = x · log₂e rounded once, 2ᵗ =
    // 2ⁿ · 2ᶠ, n = round(t), f = t − n exact, 2ᶠ on |f| ≤ 1/2 by a degree-5
    // polynomial whose constant is 1 (so exp(0) = 1 exactly) and whose other
    // coefficients are the minimax fit of the relative error (linear program on
    // 4001 points: 6.8 × 10⁻⁸). The rounding of t, and log₂e's to f32, add
    // |x| · (2⁻²⁴ + 1.4 × 10⁻⁸) of relative error: at most 7.7 × 10⁻⁶ (65 ulp
    // of f32) at x = −104, 1.3 × 10⁻⁶ over [−17, 0], where every result a
    // gradient of f16 can hold lies; far below a half type's 2⁻⁹ (bf16) or
    // 2⁻¹² (f16), and a sum of them, whose terms near the maximum weigh most,
    // stays within 10⁻⁶ of the truth. Three multiply-adds fewer than
    // [`exp512`]: the half kernels, which read half the bytes, are bound by
    // them. Inputs are clamped to t ≥ −151, below which the
    // result rounds to 0; NaN propagates.
    #[allow(clippy::excessive_precision)] // the fitted f32 values, as printed
    const P2: [f32; 5] = [0.001_320_298_2, 0.009_674_952, 0.055_510_473, 0.240_221_66, 0.693_146_6];
    const T_MIN: f32 = -151.0;

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn exp512_half(x: __m512) -> __m512 {
        let t = _mm512_max_ps(_mm512_set1_ps(T_MIN), _mm512_mul_ps(x, _mm512_set1_ps(LOG2E)));
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(t);
        let f = _mm512_sub_ps(t, n);
        let mut y = _mm512_set1_ps(P2[0]);
        for c in &P2[1..] {
            y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(*c));
        }
        _mm512_scalef_ps(_mm512_fmadd_ps(y, f, _mm512_set1_ps(1.0)), n)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp256_half(x: __m256) -> __m256 {
        let t = _mm256_max_ps(_mm256_set1_ps(T_MIN), _mm256_mul_ps(x, _mm256_set1_ps(LOG2E)));
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(t);
        let f = _mm256_sub_ps(t, n);
        let mut y = _mm256_set1_ps(P2[0]);
        for c in &P2[1..] {
            y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(*c));
        }
        scale256(_mm256_fmadd_ps(y, f, _mm256_set1_ps(1.0)), n)
    }

    /// `y · 2ⁿ` for integral `n ≥ −159`, in two factors 2^(n/2) · 2^(n − n/2),
    /// each a normal number, so that results in the subnormal range are not
    /// flushed.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn scale256(y: __m256, n: __m256) -> __m256 {
        let ni = _mm256_cvtps_epi32(n);
        let n1 = _mm256_srai_epi32::<1>(ni);
        let n2 = _mm256_sub_epi32(ni, n1);
        let bias = _mm256_set1_epi32(127);
        let s1 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n1, bias)));
        let s2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n2, bias)));
        _mm256_mul_ps(_mm256_mul_ps(y, s1), s2)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp256(x: __m256) -> __m256 {
        let x = _mm256_max_ps(_mm256_set1_ps(X_MIN), x);
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)));
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
        let mut y = _mm256_set1_ps(Q4);
        for c in HORNER {
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(c));
        }
        // n ≥ −159 (x ≥ −110).
        scale256(y, n)
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn max_avx512(src: *const f32, len: usize) -> (f32, bool) {
        let ninf = _mm512_set1_ps(f32::NEG_INFINITY);
        let (mut m0, mut m1, mut m2, mut m3) = (ninf, ninf, ninf, ninf);
        let mut nan: __mmask16 = 0;
        let mut i = 0;
        while i + 64 <= len {
            let a = _mm512_loadu_ps(src.add(i));
            let b = _mm512_loadu_ps(src.add(i + 16));
            let c = _mm512_loadu_ps(src.add(i + 32));
            let d = _mm512_loadu_ps(src.add(i + 48));
            nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, b) | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(c, d);
            m0 = _mm512_max_ps(m0, a);
            m1 = _mm512_max_ps(m1, b);
            m2 = _mm512_max_ps(m2, c);
            m3 = _mm512_max_ps(m3, d);
            i += 64;
        }
        while i + 16 <= len {
            let a = _mm512_loadu_ps(src.add(i));
            nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a);
            m0 = _mm512_max_ps(m0, a);
            i += 16;
        }
        if i < len {
            let k: __mmask16 = (1u32 << (len - i)).wrapping_sub(1) as __mmask16;
            let a = _mm512_mask_loadu_ps(ninf, k, src.add(i));
            nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a);
            m0 = _mm512_max_ps(m0, a);
        }
        let m = _mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3));
        (_mm512_reduce_max_ps(m), nan != 0)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn widen_add512(acc0: &mut __m512d, acc1: &mut __m512d, v: __m512) {
        let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        let hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v))));
        *acc0 = _mm512_add_pd(*acc0, lo);
        *acc1 = _mm512_add_pd(*acc1, hi);
    }


    /// Writes the sums of an exponential pass at one vector width (16 lanes with
    /// AVX-512, 8 with AVX2): the same steps, the width's intrinsics; the last
    /// block reduces the `f64` accumulators `(s, x)` to `(Σ e, Σ (x − m))`.
    macro_rules! sums {
        ($(#[$doc:meta])* $name:ident, $feature:literal, $ps:ty, $pd:ty, $zero_ps:ident, $zero_pd:ident, $add_ps:ident, $widen:ident, |$s:ident, $x:ident, $w:ident| $total:block) => {
            $(#[$doc])*
            pub(crate) struct $name {
                chain: $ps,
                steps: u32,
                s: ($pd, $pd),
                x: ($pd, $pd),
            }

            impl $name {
                #[inline]
                #[target_feature(enable = $feature)]
                pub(crate) unsafe fn new() -> Self {
                    let z = $zero_pd();
                    $name { chain: $zero_ps(), steps: 0, s: (z, z), x: (z, z) }
                }

                /// A step's exponentials, already summed in `f32`.
                #[inline]
                #[target_feature(enable = $feature)]
                pub(crate) unsafe fn step(&mut self, e: $ps) {
                    self.chain = $add_ps(self.chain, e);
                    self.steps += 1;
                    if self.steps == CHAIN {
                        $widen(&mut self.s.0, &mut self.s.1, self.chain);
                        self.chain = $zero_ps();
                        self.steps = 0;
                    }
                }

                /// Exponentials widened at once.
                #[inline]
                #[target_feature(enable = $feature)]
                pub(crate) unsafe fn exps(&mut self, e: $ps) {
                    $widen(&mut self.s.0, &mut self.s.1, e);
                }

                /// `x − m`, widened at once.
                #[inline]
                #[target_feature(enable = $feature)]
                pub(crate) unsafe fn xs(&mut self, d: $ps) {
                    $widen(&mut self.x.0, &mut self.x.1, d);
                }

                /// `(Σ e, Σ (x − m))`, the second 0 unless `want_xsum`.
                #[inline]
                #[target_feature(enable = $feature)]
                pub(crate) unsafe fn total(mut self, want_xsum: bool) -> (f64, f64) {
                    $widen(&mut self.s.0, &mut self.s.1, self.chain);
                    let ($s, $x, $w) = (self.s, self.x, want_xsum);
                    $total
                }
            }
        };
    }

    /// How many steps' `f32` sums an exponential pass chains in `f32` before it
    /// widens them into its `f64` accumulators: each exponential then goes
    /// through at most 2 + `CHAIN` roundings of `f32` (a relative error of at
    /// most 6 · 2⁻²⁴ for these positive terms) and the widening, two
    /// conversions and two `f64` additions, is paid once per `CHAIN` steps.
    const CHAIN: u32 = 4;

    sums!(
        /// The sums of an exponential pass (`Σ e`, and `Σ (x − m)` where wanted),
        /// in `f64`: a step's exponentials enter in `f32` ([`Sums512::step`]),
        /// chained [`CHAIN`] steps long before they are widened; single vectors
        /// (the tails) and `x − m` are widened at once.
        Sums512, "avx512f", __m512, __m512d, _mm512_setzero_ps, _mm512_setzero_pd, _mm512_add_ps, widen_add512,
        |s, x, want_xsum| {
            let s = _mm512_reduce_add_pd(_mm512_add_pd(s.0, s.1));
            (s, if want_xsum { _mm512_reduce_add_pd(_mm512_add_pd(x.0, x.1)) } else { 0.0 })
        }
    );

    /// One step of the exponential passes on four vectors already loaded as
    /// `f32` (the `f32` kernel's, and the half kernels' once widened):
    /// `e = exp(x − m)` ([`exp_lanes512`]), stored at `dst` (16 apart) when
    /// `store`, summed in `f32` by a tree of depth 2 into `sums`; `x − m` too
    /// when `want_xsum`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn exp_step512<const HALF: bool>(x: [__m512; 4], mv: __m512, dst: *mut f32, store: bool, want_xsum: bool, sums: &mut Sums512) {
        let (da, db, dc, dd) = (_mm512_sub_ps(x[0], mv), _mm512_sub_ps(x[1], mv), _mm512_sub_ps(x[2], mv), _mm512_sub_ps(x[3], mv));
        let (ea, eb, ec, ed) = (exp_lanes512::<HALF>(da), exp_lanes512::<HALF>(db), exp_lanes512::<HALF>(dc), exp_lanes512::<HALF>(dd));
        if store {
            _mm512_storeu_ps(dst, ea);
            _mm512_storeu_ps(dst.add(16), eb);
            _mm512_storeu_ps(dst.add(32), ec);
            _mm512_storeu_ps(dst.add(48), ed);
        }
        sums.step(_mm512_add_ps(_mm512_add_ps(ea, eb), _mm512_add_ps(ec, ed)));
        if want_xsum {
            for v in [da, db, dc, dd] {
                sums.xs(v);
            }
        }
    }

    /// [`exp_step512`] on four 8-lane vectors (AVX2 + FMA), stored 8 apart.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn exp_step256<const HALF: bool>(x: [__m256; 4], mv: __m256, dst: *mut f32, store: bool, want_xsum: bool, sums: &mut Sums256) {
        let (da, db, dc, dd) = (_mm256_sub_ps(x[0], mv), _mm256_sub_ps(x[1], mv), _mm256_sub_ps(x[2], mv), _mm256_sub_ps(x[3], mv));
        let (ea, eb, ec, ed) = (exp_lanes256::<HALF>(da), exp_lanes256::<HALF>(db), exp_lanes256::<HALF>(dc), exp_lanes256::<HALF>(dd));
        if store {
            _mm256_storeu_ps(dst, ea);
            _mm256_storeu_ps(dst.add(8), eb);
            _mm256_storeu_ps(dst.add(16), ec);
            _mm256_storeu_ps(dst.add(24), ed);
        }
        sums.step(_mm256_add_ps(_mm256_add_ps(ea, eb), _mm256_add_ps(ec, ed)));
        if want_xsum {
            for v in [da, db, dc, dd] {
                sums.xs(v);
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn exp_sum_avx512(src: *const f32, dst: *mut f32, len: usize, m: f32, want_xsum: bool) -> (f64, f64) {
        let mv = _mm512_set1_ps(m);
        let mut sums = Sums512::new();
        let store = !dst.is_null();
        let mut i = 0;
        // 64 elements a step (`exp_step512`), their sums chained in `Sums512`.
        while i + 64 <= len {
            let pf = src.wrapping_add(i + PREFETCH) as *const i8;
            _mm_prefetch::<_MM_HINT_T0>(pf);
            _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(64));
            _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(128));
            _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(192));
            let a = _mm512_loadu_ps(src.add(i));
            let b = _mm512_loadu_ps(src.add(i + 16));
            let c = _mm512_loadu_ps(src.add(i + 32));
            let d = _mm512_loadu_ps(src.add(i + 48));
            exp_step512::<false>([a, b, c, d], mv, dst.wrapping_add(i), store, want_xsum, &mut sums);
            i += 64;
        }
        while i < len {
            let k: __mmask16 = if len - i >= 16 { 0xffff } else { ((1u32 << (len - i)) - 1) as __mmask16 };
            let a = _mm512_maskz_loadu_ps(k, src.add(i));
            let da = _mm512_maskz_sub_ps(k, a, mv);
            let ea = _mm512_maskz_mov_ps(k, exp512(da));
            if store {
                _mm512_mask_storeu_ps(dst.add(i), k, ea);
            }
            sums.exps(ea);
            if want_xsum {
                sums.xs(da);
            }
            i += 16;
        }
        sums.total(want_xsum)
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn affine_avx512(dst: *mut f32, len: usize, f: f32, c: f32) {
        let (fv, cv) = (_mm512_set1_ps(f), _mm512_set1_ps(c));
        let mut i = 0;
        while i + 32 <= len {
            let a = _mm512_loadu_ps(dst.add(i));
            let b = _mm512_loadu_ps(dst.add(i + 16));
            _mm512_storeu_ps(dst.add(i), _mm512_fmadd_ps(a, fv, cv));
            _mm512_storeu_ps(dst.add(i + 16), _mm512_fmadd_ps(b, fv, cv));
            i += 32;
        }
        while i < len {
            let k: __mmask16 = if len - i >= 16 { 0xffff } else { ((1u32 << (len - i)) - 1) as __mmask16 };
            let a = _mm512_maskz_loadu_ps(k, dst.add(i));
            _mm512_mask_storeu_ps(dst.add(i), k, _mm512_fmadd_ps(a, fv, cv));
            i += 16;
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn max_avx2(src: *const f32, len: usize) -> (f32, bool) {
        let ninf = _mm256_set1_ps(f32::NEG_INFINITY);
        let (mut m0, mut m1, mut m2, mut m3) = (ninf, ninf, ninf, ninf);
        let mut nan = _mm256_setzero_ps();
        let mut i = 0;
        while i + 32 <= len {
            let a = _mm256_loadu_ps(src.add(i));
            let b = _mm256_loadu_ps(src.add(i + 8));
            let c = _mm256_loadu_ps(src.add(i + 16));
            let d = _mm256_loadu_ps(src.add(i + 24));
            nan = _mm256_or_ps(nan, _mm256_or_ps(_mm256_cmp_ps::<_CMP_UNORD_Q>(a, b), _mm256_cmp_ps::<_CMP_UNORD_Q>(c, d)));
            m0 = _mm256_max_ps(m0, a);
            m1 = _mm256_max_ps(m1, b);
            m2 = _mm256_max_ps(m2, c);
            m3 = _mm256_max_ps(m3, d);
            i += 32;
        }
        while i + 8 <= len {
            let a = _mm256_loadu_ps(src.add(i));
            nan = _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(a, a));
            m0 = _mm256_max_ps(m0, a);
            i += 8;
        }
        let m = _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3));
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), m);
        let mut best = f32::NEG_INFINITY;
        for v in lanes {
            best = best.max(v);
        }
        let mut any_nan = _mm256_movemask_ps(nan) != 0;
        while i < len {
            let v = *src.add(i);
            any_nan |= v.is_nan();
            if v > best {
                best = v;
            }
            i += 1;
        }
        (best, any_nan)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn widen_add256(acc0: &mut __m256d, acc1: &mut __m256d, v: __m256) {
        *acc0 = _mm256_add_pd(*acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        *acc1 = _mm256_add_pd(*acc1, _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)));
    }

    sums!(
        /// [`Sums512`] in 8-lane vectors (AVX2).
        Sums256, "avx2,fma", __m256, __m256d, _mm256_setzero_ps, _mm256_setzero_pd, _mm256_add_ps, widen_add256,
        |s, x, want_xsum| {
            let s = _mm256_add_pd(s.0, s.1);
            let x = _mm256_add_pd(x.0, x.1);
            let (mut a, mut b) = ([0f64; 4], [0f64; 4]);
            _mm256_storeu_pd(a.as_mut_ptr(), s);
            _mm256_storeu_pd(b.as_mut_ptr(), x);
            ((a[0] + a[1]) + (a[2] + a[3]), if want_xsum { (b[0] + b[1]) + (b[2] + b[3]) } else { 0.0 })
        }
    );

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tail_mask256(n: usize) -> __m256i {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx)
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp_sum_avx2(src: *const f32, dst: *mut f32, len: usize, m: f32, want_xsum: bool) -> (f64, f64) {
        let mv = _mm256_set1_ps(m);
        let mut sums = Sums256::new();
        let store = !dst.is_null();
        let mut i = 0;
        // 32 elements a step (`exp_step256`), their sums chained in `Sums256`.
        while i + 32 <= len {
            let pf = src.wrapping_add(i + PREFETCH) as *const i8;
            _mm_prefetch::<_MM_HINT_T0>(pf);
            _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(64));
            let a = _mm256_loadu_ps(src.add(i));
            let b = _mm256_loadu_ps(src.add(i + 8));
            let c = _mm256_loadu_ps(src.add(i + 16));
            let d = _mm256_loadu_ps(src.add(i + 24));
            exp_step256::<false>([a, b, c, d], mv, dst.wrapping_add(i), store, want_xsum, &mut sums);
            i += 32;
        }
        while i < len {
            let k = tail_mask256(len - i);
            let a = _mm256_maskload_ps(src.add(i), k);
            let da = _mm256_and_ps(_mm256_sub_ps(a, mv), _mm256_castsi256_ps(k));
            let ea = _mm256_and_ps(exp256(da), _mm256_castsi256_ps(k));
            if store {
                _mm256_maskstore_ps(dst.add(i), k, ea);
            }
            sums.exps(ea);
            if want_xsum {
                sums.xs(da);
            }
            i += 8;
        }
        sums.total(want_xsum)
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn affine_avx2(dst: *mut f32, len: usize, f: f32, c: f32) {
        let (fv, cv) = (_mm256_set1_ps(f), _mm256_set1_ps(c));
        let mut i = 0;
        while i + 16 <= len {
            let a = _mm256_loadu_ps(dst.add(i));
            let b = _mm256_loadu_ps(dst.add(i + 8));
            _mm256_storeu_ps(dst.add(i), _mm256_fmadd_ps(a, fv, cv));
            _mm256_storeu_ps(dst.add(i + 8), _mm256_fmadd_ps(b, fv, cv));
            i += 16;
        }
        while i < len {
            let v = *dst.add(i);
            *dst.add(i) = v.mul_add(f, c);
            i += 1;
        }
    }

    /// The sums of the 8 lanes of `v[at]`, …, `v[at + 7]`, as the 8 lanes of
    /// one vector (a fixed tree: lane pairs, then pairs of pairs, then halves).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn hsum_rows8(v: &[__m512d; super::ROW_GROUP], at: usize) -> __m512d {
        let pair = |a: __m512d, b: __m512d| _mm512_add_pd(_mm512_unpacklo_pd(a, b), _mm512_unpackhi_pd(a, b));
        let ab = pair(v[at], v[at + 1]);
        let cd = pair(v[at + 2], v[at + 3]);
        let ef = pair(v[at + 4], v[at + 5]);
        let gh = pair(v[at + 6], v[at + 7]);
        let p = _mm512_add_pd(_mm512_shuffle_f64x2::<0x88>(ab, cd), _mm512_shuffle_f64x2::<0xDD>(ab, cd));
        let q = _mm512_add_pd(_mm512_shuffle_f64x2::<0x88>(ef, gh), _mm512_shuffle_f64x2::<0xDD>(ef, gh));
        _mm512_add_pd(_mm512_shuffle_f64x2::<0x88>(p, q), _mm512_shuffle_f64x2::<0xDD>(p, q))
    }

    /// [`super::ShortRowsFn`] for rows of at most 64 `f32`: one to four
    /// masked registers per row.
    pub(crate) unsafe fn short_rows_avx512(
        src: *const f32,
        dst: *mut f32,
        c: usize,
        rows: usize,
        want_xsum: bool,
        io: &mut [super::RowIo; super::ROW_GROUP],
    ) {
        match c.div_ceil(16) {
            0 | 1 => short_rows_n::<1>(src, dst, c, rows, want_xsum, io),
            2 => short_rows_n::<2>(src, dst, c, rows, want_xsum, io),
            3 => short_rows_n::<3>(src, dst, c, rows, want_xsum, io),
            _ => short_rows_n::<4>(src, dst, c, rows, want_xsum, io),
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn short_rows_n<const N: usize>(
        src: *const f32,
        dst: *mut f32,
        c: usize,
        rows: usize,
        want_xsum: bool,
        io: &mut [super::RowIo; super::ROW_GROUP],
    ) {
        debug_assert!(c <= 16 * N && rows <= super::ROW_GROUP);
        let ninf = _mm512_set1_ps(f32::NEG_INFINITY);
        let mut k = [0 as __mmask16; N];
        for (j, kj) in k.iter_mut().enumerate() {
            let rem = c.saturating_sub(16 * j);
            *kj = if rem >= 16 { 0xffff } else { ((1u32 << rem) - 1) as __mmask16 };
        }
        let grad = !dst.is_null();
        // Every row of the group is loaded before any gradient is stored: in
        // place, a row's (masked) load would otherwise overlap the previous
        // row's masked store, which cannot be forwarded, and wait for it.
        let mut rows_x = [[ninf; N]; super::ROW_GROUP];
        for (r, xr) in rows_x.iter_mut().enumerate().take(rows) {
            let p = src.add(r * c);
            for j in 0..N {
                xr[j] = _mm512_mask_loadu_ps(ninf, k[j], p.add(16 * j));
            }
        }
        // Then in phases over the group, so that the rows' dependency chains
        // (maximum, exponentials, sum, division) overlap: the statistics and
        // the exponentials (kept in `rows_x`), the gradient's factors of every
        // row at once, the stores.
        const G: usize = super::ROW_GROUP;
        let (mut sv, mut tv, mut eyv, mut fixv) = ([1.0f64; G], [0.0f64; G], [0.0f64; G], [0.0f64; G]);
        let (mut acc_s, mut acc_x) = ([_mm512_setzero_pd(); G], [_mm512_setzero_pd(); G]);
        for (r, o) in io.iter_mut().enumerate().take(rows) {
            let x = &mut rows_x[r];
            let mut nan: __mmask16 = 0;
            let mut mx = ninf;
            for &xj in x.iter() {
                nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(xj, xj);
                mx = _mm512_max_ps(mx, xj);
            }
            let m = _mm512_reduce_max_ps(mx);
            o.m = f64::from(m);
            if nan != 0 || !m.is_finite() {
                o.special = true;
                continue;
            }
            o.special = false;
            let mv = _mm512_set1_ps(m);
            let z = _mm512_setzero_pd();
            let (mut s0, mut s1, mut x0, mut x1) = (z, z, z, z);
            for j in 0..N {
                let d = _mm512_maskz_sub_ps(k[j], x[j], mv);
                x[j] = _mm512_maskz_mov_ps(k[j], exp512(d));
                widen_add512(&mut s0, &mut s1, x[j]);
                if want_xsum {
                    widen_add512(&mut x0, &mut x1, d);
                }
            }
            // Each row's 8 partial sums, reduced below for 8 rows at a time.
            acc_s[r] = _mm512_add_pd(s0, s1);
            if want_xsum {
                acc_x[r] = _mm512_add_pd(x0, x1);
            }
            if grad {
                let (jy, ly) = (o.y / 16, (o.y % 16) as i32);
                let e_y = _mm512_cvtss_f32(_mm512_permutexvar_ps(_mm512_set1_epi32(ly), x[jy.min(N - 1)]));
                (tv[r], eyv[r], fixv[r]) = (o.total, f64::from(e_y), o.fix);
            }
        }
        let mut xsv = [0.0f64; G];
        for h in 0..2 {
            _mm512_storeu_pd(sv.as_mut_ptr().add(8 * h), hsum_rows8(&acc_s, 8 * h));
            if want_xsum {
                _mm512_storeu_pd(xsv.as_mut_ptr().add(8 * h), hsum_rows8(&acc_x, 8 * h));
            }
        }
        for (r, o) in io.iter_mut().enumerate().take(rows) {
            if !o.special {
                (o.s, o.xs) = (sv[r], xsv[r]);
            }
        }
        if !grad {
            return;
        }
        let (mut fv, mut yv) = ([0f32; G], [0f32; G]);
        for r in 0..G {
            fv[r] = (-tv[r] / sv[r]) as f32;
            // The target's element without cancellation: 1 − p_y = (s − e_y) / s.
            yv[r] = (fixv[r] + ((sv[r] - eyv[r]) / sv[r]) * tv[r]) as f32;
        }
        for (r, o) in io.iter().enumerate().take(rows) {
            if o.special {
                continue;
            }
            let q = dst.add(r * c);
            if o.skip {
                for (j, &kj) in k.iter().enumerate() {
                    _mm512_mask_storeu_ps(q.add(16 * j), kj, _mm512_setzero_ps());
                }
                continue;
            }
            let (f, cv) = (_mm512_set1_ps(fv[r]), _mm512_set1_ps(o.cc as f32));
            for j in 0..N {
                _mm512_mask_storeu_ps(q.add(16 * j), k[j], _mm512_fmadd_ps(rows_x[r][j], f, cv));
            }
            *q.add(o.y) = yv[r];
        }
    }

    /// `exp` of 16 lanes, as the AVX-512 block operations take it (inputs ≤ 0
    /// or −∞): within 1 ulp of `f32`, or, with `HALF`, the half kernels' cheaper
    /// one ([`exp512_half`]).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn exp_lanes512<const HALF: bool>(x: __m512) -> __m512 {
        if HALF {
            exp512_half(x)
        } else {
            exp512(x)
        }
    }

    /// `exp` of 8 lanes, as the AVX2 block operations take it (inputs ≤ 0 or
    /// −∞); `HALF` as [`exp_lanes512`].
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn exp_lanes256<const HALF: bool>(x: __m256) -> __m256 {
        if HALF {
            exp256_half(x)
        } else {
            exp256(x)
        }
    }

    /// `exp` of each element, through the AVX-512 kernel (tests only; `HALF`:
    /// the half kernels' exp).
    #[cfg(test)]
    pub(crate) fn exp_avx512_slice<const HALF: bool>(x: &mut [f32]) {
        assert!(is_x86_feature_detected!("avx512f"));
        for c in x.chunks_mut(16) {
            let mut buf = [0f32; 16];
            buf[..c.len()].copy_from_slice(c);
            unsafe {
                let v = exp_lanes512::<HALF>(_mm512_loadu_ps(buf.as_ptr()));
                _mm512_storeu_ps(buf.as_mut_ptr(), v);
            }
            let n = c.len();
            c.copy_from_slice(&buf[..n]);
        }
    }

    /// `exp` of each element, through the AVX2 kernel (tests only; `HALF` as
    /// [`exp_avx512_slice`]).
    #[cfg(test)]
    pub(crate) fn exp_avx2_slice<const HALF: bool>(x: &mut [f32]) {
        assert!(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"));
        for c in x.chunks_mut(8) {
            let mut buf = [0f32; 8];
            buf[..c.len()].copy_from_slice(c);
            unsafe {
                let v = exp_lanes256::<HALF>(_mm256_loadu_ps(buf.as_ptr()));
                _mm256_storeu_ps(buf.as_mut_ptr(), v);
            }
            let n = c.len();
            c.copy_from_slice(&buf[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ulps between `got` and the f64 truth, measured in units of the f32 ulp at the truth.
    fn ulps(got: f32, truth: f64) -> f64 {
        if truth == 0.0 {
            return if got == 0.0 { 0.0 } else { f64::INFINITY };
        }
        let t = truth as f32;
        let ulp = if t.abs() < f32::MIN_POSITIVE {
            f64::from(f32::from_bits(1))
        } else {
            f64::from(f32::from_bits(t.abs().to_bits() + 1) - t.abs())
        };
        (f64::from(got) - truth).abs() / ulp
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_exp_is_within_2_ulp_on_its_whole_domain() {
        // Every f32 in [−104, 0] at a stride, plus −∞ and the clamp.
        let mut xs: Vec<f32> = (0..2_000_000).map(|i| -104.0 * (i as f32) / 2_000_000.0).collect();
        xs.extend([0.0, -0.0, -1e-30, -87.3, -87.4, -103.97, -104.0, -110.0, -1e30, f32::NEG_INFINITY]);
        type ExpFn = fn(&mut [f32]);
        let mut kernels: Vec<(&str, ExpFn)> = vec![];
        if is_x86_feature_detected!("avx512f") {
            kernels.push(("avx512", exp_avx512_slice::<false>));
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            kernels.push(("avx2", exp_avx2_slice::<false>));
        }
        for (name, f) in kernels {
            let mut y = xs.clone();
            f(&mut y);
            let mut worst = 0.0f64;
            for (&x, &e) in xs.iter().zip(&y) {
                let truth = f64::from(x).exp();
                let u = ulps(e, truth);
                assert!(u <= 2.0, "{name}: exp({x}) = {e}, truth {truth}: {u} ulp");
                worst = worst.max(u);
            }
            assert_eq!(y[y.len() - 1], 0.0, "{name}: exp(−∞) = 0 exactly");
            eprintln!("{name}: worst error {worst:.3} ulp");
        }
    }

    /// The half kernels' exp: relative error within 2.5 · 10⁻⁷ + |x| · (2⁻²⁴ +
    /// 1.4 · 10⁻⁸) (the rounding of x · log₂e; subnormal results within 2⁻¹⁵⁰
    /// more), exactly 1 at 0 (a row's maximum counts exactly 1 in its sum), 0
    /// at −∞ and below the clamp, NaN kept.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn half_exp_is_within_its_bound_on_its_whole_domain() {
        let mut xs: Vec<f32> = (0..2_000_000).map(|i| -104.0 * (i as f32) / 2_000_000.0).collect();
        xs.extend([-1e-30, -1e-7, -87.3, -103.97, -104.0, -1e30, f32::NEG_INFINITY, f32::NAN, 0.0, -0.0]);
        type ExpFn = fn(&mut [f32]);
        let mut kernels: Vec<(&str, ExpFn)> = vec![];
        if is_x86_feature_detected!("avx512f") {
            kernels.push(("avx512", exp_avx512_slice::<true>));
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            kernels.push(("avx2", exp_avx2_slice::<true>));
        }
        for (name, f) in kernels {
            let mut y = xs.clone();
            f(&mut y);
            let mut worst = 0.0f64;
            for (&x, &e) in xs.iter().zip(&y).filter(|(x, _)| x.is_finite() && **x >= -104.0) {
                let truth = f64::from(x).exp();
                // Below 2⁻¹²⁶ the result is subnormal: its rounding, 2⁻¹⁵⁰ at most, is absolute.
                let rel = ((f64::from(e) - truth).abs() - 2f64.powi(-150)).max(0.0) / truth;
                let bound = 2.5e-7 + f64::from(x).abs() * (2f64.powi(-24) + 1.4e-8);
                assert!(rel <= bound, "{name}: exp({x}) = {e}, truth {truth}: relative error {rel:e} > {bound:e}");
                worst = worst.max(rel / bound);
            }
            let n = y.len();
            assert_eq!(y[n - 5..n - 3], [0.0, 0.0], "{name}: exp(−10³⁰) = exp(−∞) = 0");
            assert!(y[n - 3].is_nan(), "{name}: exp(NaN) is NaN");
            assert_eq!(y[n - 2..], [1.0, 1.0], "{name}: exp(±0) = 1 exactly");
            eprintln!("{name}: worst error {worst:.3} of the bound");
        }
    }

    #[test]
    fn block_ops_agree_with_f64_on_every_length() {
        for ops in all_f32_ops() {
            for len in [0usize, 1, 7, 8, 15, 16, 17, 31, 33, 64, 65, 100, 1000] {
                let x: Vec<f32> = (0..len).map(|i| ((i * 37 % 23) as f32) * 0.7 - 8.0).collect();
                let (m, nan) = unsafe { (ops.max)(x.as_ptr(), len) };
                let want = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                assert_eq!((m, nan), (want, false), "{} max len {len}", ops.name);
                let mut e = vec![0f32; len];
                let (s, xs) = unsafe { (ops.exp_sum)(x.as_ptr(), e.as_mut_ptr(), len, m, true) };
                let ws: f64 = x.iter().map(|&v| (f64::from(v) - f64::from(m)).exp()).sum();
                let wx: f64 = x.iter().map(|&v| f64::from(v) - f64::from(m)).sum();
                assert!((s - ws).abs() <= 1e-6 * ws.max(1e-300), "{} sum len {len}: {s} vs {ws}", ops.name);
                // x − m is rounded to f32 before it is summed in f64.
                assert!((xs - wx).abs() <= 1e-6 * wx.abs().max(1.0), "{} xsum len {len}: {xs} vs {wx}", ops.name);
                for (i, (&ei, &xi)) in e.iter().zip(&x).enumerate() {
                    // The SIMD kernels round x − m to f32 first; the portable one does not.
                    let (exact, rounded) = ((f64::from(xi) - f64::from(m)).exp(), f64::from(xi - m).exp());
                    assert!(ulps(ei, exact).min(ulps(ei, rounded)) <= 1.0, "{} exp len {len} at {i}", ops.name);
                }
                unsafe { (ops.affine)(e.as_mut_ptr(), len, 2.0, -1.0) };
                for (i, &xi) in x.iter().enumerate() {
                    let want = 2.0 * (f64::from(xi) - f64::from(m)).exp() - 1.0;
                    assert!((f64::from(e[i]) - want).abs() <= 1e-6, "{} affine len {len}", ops.name);
                }
            }
            let mut x = [1.0f32; 40];
            x[37] = f32::NAN;
            assert!(unsafe { (ops.max)(x.as_ptr(), 40) }.1, "{}: NaN seen", ops.name);
            x[37] = 1.0;
            x[3] = f32::NEG_INFINITY;
            let mut e = vec![9f32; 40];
            unsafe { (ops.exp_sum)(x.as_ptr(), e.as_mut_ptr(), 40, 1.0, false) };
            assert_eq!(e[3], 0.0, "{}: exp(−∞) is exactly 0", ops.name);
            assert_eq!(e[4], 1.0, "{}: exp(0) is exactly 1", ops.name);
        }
    }
}
