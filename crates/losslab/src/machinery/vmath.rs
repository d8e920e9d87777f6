//! Scalar `f64` math in arithmetic that vectorises: no libm call, no branch
//! that a select cannot replace. A loss's element formula written with these
//! (in place of `f64::ln`, `f64::ln_1p`, `f64::exp`) is inlined into the
//! element-wise and per-row sweeps' AVX-512 / AVX2 builds and runs 8 or 4
//! lanes at a time; written with libm's, every element is a call (about
//! 20 ns per element for two logarithms, where the sweep moves an element
//! in under 1 ns).
//!
//! Each function is within 2 ulp of libm's on its whole domain (tested
//! below), handles `±∞`, `0`, subnormals and NaN as libm does, and is the
//! one place its algorithm lives. The kernels' own pieces are built on the
//! same cores: [`ln`] (the row sweep's, re-exported here), and
//! `kernels::elementwise`'s `exp_nonpos` and `log1p_unit` (the logistic
//! losses' `e^(−|x|)` and `log(1 + e)`).

pub(crate) use super::kernels::rows::ln;

/// `eˣ` for every `x`: Cody–Waite reduction `x = n ln 2 + r`, `|r| ≤ ln 2 / 2`,
/// the Taylor series of `eʳ` to degree 13 ([`exp_series`]), and `2ⁿ` in two
/// factors so that neither overflows nor flushes (results from the smallest
/// subnormal to the largest finite number). `∞` above `ln(f64::MAX)`, 0 below
/// −745.2, NaN for NaN. Within 1 ulp of libm's.
#[inline(always)]
#[allow(clippy::excessive_precision)] // fdlibm's published digits
pub(crate) fn exp(x: f64) -> f64 {
    // ln(f64::MAX): above it eˣ overflows.
    const OVERFLOW: f64 = 7.097_827_128_933_839_730_96e2;
    // The clamp keeps n within [−1083, 1025] (NaN passes through both tests).
    let z = if x < -750.0 { -750.0 } else if x > 710.0 { 710.0 } else { x };
    let (r, ni) = exp_reduce(z);
    let p = exp_series(r);
    // 2ⁿ = 2^h · 2^(n − h), h = ⌊n / 2⌋: both factors normal for every n here;
    // only the last product rounds (a subnormal result).
    let h = ni >> 1;
    let s1 = f64::from_bits((h.wrapping_add(1023) as u64) << 52);
    let s2 = f64::from_bits(((ni - h).wrapping_add(1023) as u64) << 52);
    let v = p * s1 * s2;
    if x > OVERFLOW { f64::INFINITY } else { v }
}

/// Cody–Waite reduction of `z` (`|z| ≤ 750`, or NaN): `z = n ln 2 + r` with
/// `|r| ≤ ln 2 / 2`, returned as `(r, n)`; the one reduction of [`exp`] and of
/// `kernels::elementwise::exp_nonpos`.
#[inline(always)]
#[allow(clippy::excessive_precision)] // fdlibm's published digits
pub(crate) fn exp_reduce(z: f64) -> (f64, i64) {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    // fdlibm's split of ln 2: LN2_HI has 32 trailing zero bits, so n · LN2_HI is exact.
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    // Adding 1.5 · 2⁵² rounds to an integer, which the low bits then hold.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let t = z * LOG2E + MAGIC;
    let n = t - MAGIC;
    let ni = (t.to_bits() as i64).wrapping_sub(MAGIC.to_bits() as i64);
    ((z - n * LN2_HI) - n * LN2_LO, ni)
}

/// `eʳ` for `|r| ≤ ln 2 / 2` (the reduced argument of [`exp`] and of
/// `kernels::elementwise::exp_nonpos`): the Taylor series to degree 13
/// (truncation below 10⁻¹⁷) as `1 + (r + r²·t)`, `t = Σ_{k≥2} r^(k−2)/k!` by
/// Estrin's scheme (pairs, then pairs of pairs): the dependent chain is 5
/// products and sums deep instead of Horner's 13 (the vectorised loops are
/// latency-bound on it), and the last sum adds a small, accurate part to 1.
#[inline(always)]
pub(crate) fn exp_series(r: f64) -> f64 {
    const C: [f64; 14] = [
        1.0, 1.0, 0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5_040.0, 1.0 / 40_320.0, 1.0 / 362_880.0,
        1.0 / 3_628_800.0, 1.0 / 39_916_800.0, 1.0 / 479_001_600.0, 1.0 / 6_227_020_800.0,
    ];
    let (r2, pair) = (r * r, |k: usize| C[k] + C[k + 1] * r);
    let r4 = r2 * r2;
    let t = (pair(2) + r2 * pair(4)) + r4 * ((pair(6) + r2 * pair(8)) + r4 * (pair(10) + r2 * pair(12)));
    1.0 + (r + r2 * t)
}

/// `log(1 + x)` for every `x`: [`ln`]`(u)` of `u = 1 + x` corrected by the
/// rounding of the sum, `+ (x − (u − 1)) / u` (Goldberg's form), so that a
/// tiny `x` gives `x` and `x` near −1 keeps its digits. `−∞` at −1, NaN below,
/// `∞` at `∞`. Within 2 ulp of libm's.
#[inline(always)]
pub(crate) fn ln_1p(x: f64) -> f64 {
    let u = 1.0 + x;
    let v = ln(u) + (x - (u - 1.0)) / u;
    if x == f64::INFINITY || u == 0.0 { ln(u) } else { v }
}

#[cfg(test)]
mod tests {
    use super::{exp, ln_1p};

    /// The distance in ulp between two finite doubles of one sign (or both 0).
    fn ulps(a: f64, b: f64) -> u64 {
        if a == b {
            return 0;
        }
        assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{a} vs {b}");
        (a.abs().to_bits() as i64 - b.abs().to_bits() as i64).unsigned_abs()
    }

    /// A deterministic spread of doubles over `[lo, hi]`.
    fn spread(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
        (0..=n).map(move |i| lo + (hi - lo) * (i as f64 / n as f64))
    }

    #[test]
    fn exp_is_within_1_ulp_of_libm_over_its_range() {
        let mut worst = 0;
        for x in spread(-745.0, 709.78, 400_000).chain(spread(-1.0, 1.0, 100_000)).chain(spread(-1e-10, 1e-10, 1000)) {
            let (got, want) = (exp(x), x.exp());
            if want == 0.0 || want < f64::MIN_POSITIVE * 4.0 {
                // Subnormal results: absolute error below the spacing of subnormals.
                assert!((got - want).abs() <= 2.0 * 4.9e-324, "exp({x}) = {got}, libm {want}");
                continue;
            }
            worst = worst.max(ulps(got, want));
        }
        assert!(worst <= 1, "worst {worst} ulp");
    }

    #[test]
    fn exp_handles_the_ends() {
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(709.79), f64::INFINITY);
        assert_eq!(exp(1e308), f64::INFINITY);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(-746.0), 0.0);
        assert_eq!(exp(-1e308), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert!(exp(f64::NAN).is_nan());
        assert!(exp(709.78).is_finite());
        assert!(exp(-745.0) > 0.0);
    }

    #[test]
    fn ln_1p_is_within_2_ulp_of_libm_over_its_range() {
        let mut worst = 0;
        let near_minus_one = (1..2000).map(|i| -1.0 + i as f64 * 1e-12);
        let tiny = (1..2000).flat_map(|i| [i as f64 * 1e-300, -(i as f64) * 1e-18, i as f64 * 3e-9]);
        for x in spread(-0.999_999, 1e6, 400_000).chain(spread(-0.5, 0.5, 100_000)).chain(near_minus_one).chain(tiny) {
            worst = worst.max(ulps(ln_1p(x), x.ln_1p()));
        }
        assert!(worst <= 2, "worst {worst} ulp");
    }

    #[test]
    fn ln_1p_handles_the_ends() {
        assert_eq!(ln_1p(-1.0), f64::NEG_INFINITY);
        assert!(ln_1p(-1.5).is_nan());
        assert!(ln_1p(f64::NEG_INFINITY).is_nan());
        assert_eq!(ln_1p(f64::INFINITY), f64::INFINITY);
        assert!(ln_1p(f64::NAN).is_nan());
        assert_eq!(ln_1p(0.0), 0.0);
        assert_eq!(ln_1p(1e-300), 1e-300);
        assert_eq!(ln_1p(f64::MAX), f64::MAX.ln_1p());
    }
}
