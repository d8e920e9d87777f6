//! Numerically stable primitives: log-sum-exp, (log-)softmax, sigmoid,
//! log-sigmoid, softplus and `xlogy`.
//!
//! Each comes as a scalar function on `f64` (the accumulation type) and as an
//! array function on views of `f32` or `f64`, computed in `f64` and rounded once.

use crate::machinery::error::{shape_err, Result};
use crate::machinery::float::{narrow, widen, Float};
use crate::machinery::lanes::lanes;
use ndarray::{ArrayD, ArrayView, Axis, Dimension};

/// `softplus(x) = log(1 + eˣ)`, computed as `max(x, 0) + log1p(e^(−|x|))`,
/// which neither overflows for large `x` nor loses digits for very negative `x`.
///
/// ```text
/// softplus(x) = log(1 + exp(x))
/// ```
///
/// # Examples
/// ```
/// assert_eq!(losslab::math::softplus_f64(1000.0), 1000.0);
/// assert!((losslab::math::softplus_f64(0.0) - 2f64.ln()).abs() < 1e-16);
/// assert!(losslab::math::softplus_f64(-1000.0) == 0.0);
/// ```
///
/// # References
/// C. Dugas et al., "Incorporating Second-Order Functional Knowledge for Better Option Pricing", NIPS 2000; <https://pytorch.org/docs/stable/generated/torch.nn.functional.softplus.html>
#[inline]
pub fn softplus_f64(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `log σ(x) = −softplus(−x)`: stable for both tails.
///
/// ```text
/// log σ(x) = −log(1 + e^(−x)) = −softplus(−x)
/// ```
///
/// # Examples
/// ```
/// assert_eq!(losslab::math::log_sigmoid_f64(-1000.0), -1000.0);
/// assert_eq!(losslab::math::log_sigmoid_f64(1000.0), 0.0);
/// ```
///
/// # References
/// <https://pytorch.org/docs/stable/generated/torch.nn.functional.logsigmoid.html>
#[inline]
pub fn log_sigmoid_f64(x: f64) -> f64 {
    -softplus_f64(-x)
}

/// The logistic sigmoid `σ(x) = 1 / (1 + e^(−x))`, evaluated without overflow
/// (`eˣ / (1 + eˣ)` for negative `x`).
///
/// ```text
/// σ(x) = 1 / (1 + e^(−x)) = eˣ / (1 + eˣ)
/// ```
///
/// # Examples
/// ```
/// assert_eq!(losslab::math::sigmoid_f64(0.0), 0.5);
/// assert_eq!(losslab::math::sigmoid_f64(-800.0), 0.0);
/// assert_eq!(losslab::math::sigmoid_f64(800.0), 1.0);
/// ```
///
/// # References
/// <https://docs.scipy.org/doc/scipy/reference/generated/scipy.special.expit.html>
#[inline]
pub fn sigmoid_f64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `x · log(y)`, with `0 · log(y) = 0` for every `y` that is not NaN (so
/// `0 · log 0 = 0`), as `torch.xlogy` and `scipy.special.xlogy` define it.
///
/// ```text
/// xlogy(x, y) = x · log y,   0 if x = 0 and y is not NaN
/// ```
///
/// # Examples
/// ```
/// use losslab::math::xlogy_f64;
/// assert_eq!(xlogy_f64(0.0, 0.0), 0.0);
/// assert_eq!(xlogy_f64(2.0, 0.0), f64::NEG_INFINITY);
/// assert!(xlogy_f64(0.0, f64::NAN).is_nan());
/// ```
///
/// # References
/// <https://docs.scipy.org/doc/scipy/reference/generated/scipy.special.xlogy.html>; <https://pytorch.org/docs/stable/generated/torch.xlogy.html>
#[inline]
pub fn xlogy_f64(x: f64, y: f64) -> f64 {
    if x == 0.0 && !y.is_nan() {
        0.0
    } else {
        x * y.ln()
    }
}

/// `log Σᵢ exp(xᵢ)` of a slice, with the maximum subtracted first.
///
/// ```text
/// logsumexp(x) = m + log Σᵢ exp(xᵢ − m),   m = maxᵢ xᵢ
/// ```
///
/// An empty slice gives `−∞`; a slice whose maximum is `±∞` gives that maximum
/// (`+∞`, or `−∞` when every element is `−∞`); NaN propagates.
///
/// # Examples
/// ```
/// let v = losslab::math::logsumexp_f64(&[1000.0, 1000.0]);
/// assert!((v - (1000.0 + 2f64.ln())).abs() < 1e-12);
/// assert_eq!(losslab::math::logsumexp_f64(&[f64::NEG_INFINITY, 0.0]), 0.0);
/// ```
///
/// # References
/// <https://docs.scipy.org/doc/scipy/reference/generated/scipy.special.logsumexp.html>
pub fn logsumexp_f64(xs: &[f64]) -> f64 {
    let m = max_nan(xs.iter().copied());
    if m.is_nan() || m.is_infinite() {
        return m;
    }
    m + xs.iter().map(|&x| (x - m).exp()).sum::<f64>().ln()
}

/// The maximum, NaN if any element is NaN, `−∞` for no elements.
#[inline]
pub(crate) fn max_nan(xs: impl Iterator<Item = f64>) -> f64 {
    let mut m = f64::NEG_INFINITY;
    for x in xs {
        if x.is_nan() {
            return x;
        }
        if x > m {
            m = x;
        }
    }
    m
}

/// `sign(x)` with `sign(±0) = 0` and NaN for NaN (PyTorch's `sgn`). Written as
/// selects, not branches, so that the fused element-wise loops vectorise.
#[inline(always)]
pub(crate) fn sgn(x: f64) -> f64 {
    let pos = if x > 0.0 { 1.0 } else { 0.0 };
    let neg = if x < 0.0 { 1.0 } else { 0.0 };
    #[allow(clippy::eq_op)]
    let not_nan = x == x;
    if not_nan {
        pos - neg
    } else {
        x
    }
}

/// The backward pass of log-softmax, as autograd computes it:
/// `∂/∂xⱼ = gⱼ − pⱼ Σₖ gₖ` with `p = exp(log p)`, each result handed to `write(j, value)`.
pub(crate) fn log_softmax_backward(lp: &[f64], g: &[f64], mut write: impl FnMut(usize, f64)) {
    let total = crate::machinery::reduction::sum_f64(g.iter().copied());
    for (k, (&l, &gk)) in lp.iter().zip(g).enumerate() {
        write(k, gk - l.exp() * total);
    }
}

/// Applies `f(lane_in, lane_out)` to every lane along `axis` of row-major data.
pub(crate) fn for_each_lane(
    data: &[f64],
    out: &mut [f64],
    shape: &[usize],
    axis: usize,
    mut f: impl FnMut(&[f64], &mut [f64]),
) {
    let (outer, len, inner) = lanes(shape, axis);
    let mut lane = vec![0.0; len];
    let mut res = vec![0.0; len];
    for o in 0..outer {
        for i in 0..inner {
            let base = o * len * inner + i;
            for c in 0..len {
                lane[c] = data[base + c * inner];
            }
            f(&lane, &mut res);
            for c in 0..len {
                out[base + c * inner] = res[c];
            }
        }
    }
}

/// The log-softmax of one lane, written into `out`: `xᵢ − logsumexp(x)`.
pub(crate) fn log_softmax_lane(x: &[f64], out: &mut [f64]) {
    let m = max_nan(x.iter().copied());
    let s: f64 = x.iter().map(|&v| (v - m).exp()).sum();
    let ls = s.ln();
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (v - m) - ls;
    }
}

/// The softmax of one lane, written into `out`.
pub(crate) fn softmax_lane(x: &[f64], out: &mut [f64]) {
    let m = max_nan(x.iter().copied());
    let mut s = 0.0;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (v - m).exp();
        s += *o;
    }
    for o in out.iter_mut() {
        *o /= s;
    }
}

fn along_axis<T: Float, D: Dimension>(
    name: &'static str,
    x: &ArrayView<'_, T, D>,
    axis: Axis,
    f: impl FnMut(&[f64], &mut [f64]),
) -> Result<ArrayD<T>> {
    let shape = x.shape().to_vec();
    if axis.index() >= shape.len() {
        return Err(shape_err(name, "x", format!("at least {} dimension(s) (axis = {})", axis.index() + 1, axis.index()), &shape));
    }
    let data = widen(x);
    let mut out = vec![0.0; data.len()];
    for_each_lane(&data, &mut out, &shape, axis.index(), f);
    Ok(narrow(&shape, out))
}

/// The softmax along `axis`: `exp(xᵢ − m) / Σⱼ exp(xⱼ − m)` with `m = maxⱼ xⱼ`.
///
/// ```text
/// softmax(x)ᵢ = exp(xᵢ) / Σⱼ exp(xⱼ)
/// ```
///
/// # Errors
/// [`LossError::Shape`](crate::LossError::Shape) if `axis` is not an axis of `x`.
///
/// # Examples
/// ```
/// use ndarray::{array, Axis};
/// let p = losslab::softmax(&array![[0.0f64, 0.0], [1000.0, 1000.0]].view(), Axis(1)).unwrap();
/// assert_eq!(p, array![[0.5, 0.5], [0.5, 0.5]].into_dyn());
/// ```
///
/// # References
/// J. S. Bridle, "Probabilistic interpretation of feedforward classification network outputs", 1990.
pub fn softmax<T: Float, D: Dimension>(x: &ArrayView<'_, T, D>, axis: Axis) -> Result<ArrayD<T>> {
    along_axis("softmax", x, axis, softmax_lane)
}

/// The log-softmax along `axis`: `xᵢ − m − log Σⱼ exp(xⱼ − m)`, exact where
/// `log(softmax(x))` would underflow to `−∞`.
///
/// ```text
/// log_softmax(x)ᵢ = xᵢ − m − log Σⱼ exp(xⱼ − m),   m = maxⱼ xⱼ
/// ```
///
/// # Errors
/// [`LossError::Shape`](crate::LossError::Shape) if `axis` is not an axis of `x`.
///
/// # Examples
/// ```
/// use ndarray::{array, Axis};
/// let lp = losslab::log_softmax(&array![0.0f64, -1000.0].view(), Axis(0)).unwrap();
/// assert_eq!(lp[1], -1000.0); // log(softmax) would give -inf
/// ```
///
/// # References
/// <https://pytorch.org/docs/stable/generated/torch.nn.functional.log_softmax.html>
pub fn log_softmax<T: Float, D: Dimension>(x: &ArrayView<'_, T, D>, axis: Axis) -> Result<ArrayD<T>> {
    along_axis("log_softmax", x, axis, log_softmax_lane)
}

/// `log Σᵢ exp(xᵢ)` along `axis` (the axis is removed), with the maximum
/// subtracted first.
///
/// ```text
/// logsumexp(x) = m + log Σᵢ exp(xᵢ − m),   m = maxᵢ xᵢ
/// ```
///
/// # Errors
/// [`LossError::Shape`](crate::LossError::Shape) if `axis` is not an axis of `x`.
///
/// # Examples
/// ```
/// use ndarray::{array, Axis};
/// let v = losslab::logsumexp(&array![[1000.0f64, 1000.0]].view(), Axis(1)).unwrap();
/// assert!((v[0] - (1000.0 + 2f64.ln())).abs() < 1e-12);
/// ```
///
/// # References
/// <https://docs.scipy.org/doc/scipy/reference/generated/scipy.special.logsumexp.html>
pub fn logsumexp<T: Float, D: Dimension>(x: &ArrayView<'_, T, D>, axis: Axis) -> Result<ArrayD<T>> {
    let shape = x.shape().to_vec();
    if axis.index() >= shape.len() {
        return Err(shape_err("logsumexp", "x", format!("at least {} dimension(s) (axis = {})", axis.index() + 1, axis.index()), &shape));
    }
    let data = widen(x);
    let (outer, len, inner) = lanes(&shape, axis.index());
    let mut out = Vec::with_capacity(outer * inner);
    let mut lane = vec![0.0; len];
    for o in 0..outer {
        for i in 0..inner {
            for (c, l) in lane.iter_mut().enumerate() {
                *l = data[o * len * inner + c * inner + i];
            }
            out.push(logsumexp_f64(&lane));
        }
    }
    let mut oshape = shape;
    oshape.remove(axis.index());
    Ok(narrow(&oshape, out))
}

macro_rules! elementwise {
    ($(#[$doc:meta])* $name:ident, $f:expr) => {
        $(#[$doc])*
        pub fn $name<T: Float, D: Dimension>(x: &ArrayView<'_, T, D>) -> ArrayD<T> {
            let f: fn(f64) -> f64 = $f;
            x.map(|&v| T::from_wide(f(v.to_wide()))).into_dyn()
        }
    };
}

elementwise!(
    /// The logistic sigmoid `σ(x) = 1 / (1 + e^(−x))`, element-wise, without overflow.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// assert_eq!(losslab::sigmoid(&array![0.0f32, -1e4].view()), array![0.5f32, 0.0].into_dyn());
    /// ```
    ///
    /// # References
    /// <https://pytorch.org/docs/stable/generated/torch.sigmoid.html>
    sigmoid,
    sigmoid_f64
);
elementwise!(
    /// `log σ(x) = −softplus(−x)`, element-wise: finite where `log(sigmoid(x))` gives `−∞`.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// assert_eq!(losslab::log_sigmoid(&array![-1e4f64].view()), array![-1e4].into_dyn());
    /// ```
    ///
    /// # References
    /// <https://pytorch.org/docs/stable/generated/torch.nn.functional.logsigmoid.html>
    log_sigmoid,
    log_sigmoid_f64
);
elementwise!(
    /// `softplus(x) = log(1 + eˣ) = max(x, 0) + log1p(e^(−|x|))`, element-wise.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// assert_eq!(losslab::softplus(&array![1e4f64, -1e4].view()), array![1e4, 0.0].into_dyn());
    /// ```
    ///
    /// # References
    /// <https://pytorch.org/docs/stable/generated/torch.nn.functional.softplus.html>
    softplus,
    softplus_f64
);

/// `x · log(y)` element-wise, with `0 · log(y) = 0` unless `y` is NaN.
///
/// ```text
/// xlogy(x, y)ᵢ = xᵢ · log yᵢ,   0 where xᵢ = 0 and yᵢ is not NaN
/// ```
///
/// # Errors
/// [`LossError::Shape`](crate::LossError::Shape) if the shapes differ.
///
/// # Examples
/// ```
/// use ndarray::array;
/// let r = losslab::xlogy(&array![0.0f64, 1.0].view(), &array![0.0f64, 1.0].view()).unwrap();
/// assert_eq!(r, array![0.0, 0.0].into_dyn());
/// ```
///
/// # References
/// <https://docs.scipy.org/doc/scipy/reference/generated/scipy.special.xlogy.html>
pub fn xlogy<T: Float, D: Dimension>(x: &ArrayView<'_, T, D>, y: &ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
    crate::machinery::error::same_shape("xlogy", "x", x.shape(), "y", y.shape())?;
    let out: Vec<f64> = x.iter().zip(y.iter()).map(|(a, b)| xlogy_f64(a.to_wide(), b.to_wide())).collect();
    Ok(narrow(x.shape(), out))
}

/// `log cosh x`, accurate for every `x`: `log1p(2 sinh²(x/2))` for `|x| < 1`
/// (no cancellation near 0, where it is `x²/2`), `|x| + softplus(−2|x|) − log 2`
/// beyond (no overflow for large `|x|`).
#[inline]
pub(crate) fn log_cosh_f64(x: f64) -> f64 {
    let a = x.abs();
    if a < 1.0 {
        let s = (0.5 * x).sinh();
        (2.0 * s * s).ln_1p()
    } else {
        a + softplus_f64(-2.0 * a) - std::f64::consts::LN_2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Axis};

    #[test]
    fn softmax_rows_sum_to_one_and_log_softmax_is_its_log() {
        let x = array![[1.0f64, 2.0, 3.0], [-700.0, 0.0, 700.0], [5.0, 5.0, 5.0]];
        let p = softmax(&x.view(), Axis(1)).unwrap();
        let lp = log_softmax(&x.view(), Axis(1)).unwrap();
        for r in 0..3 {
            let s: f64 = (0..3).map(|c| p[[r, c]]).sum();
            assert!((s - 1.0).abs() < 1e-15);
        }
        // Closed form for the first row: p = e^x / (e + e² + e³).
        let z = 1f64.exp() + 2f64.exp() + 3f64.exp();
        assert!((p[[0, 2]] - 3f64.exp() / z).abs() < 4e-16); // a few ulps
        assert!((lp[[0, 0]] - (1.0 - z.ln())).abs() < 1e-15);
        // log_softmax stays finite where softmax underflows to 0.
        assert_eq!(p[[1, 0]], 0.0);
        assert_eq!(lp[[1, 0]], -1400.0);
        assert!(p.index_axis(Axis(0), 2).iter().all(|&v| v == 1.0 / 3.0));
    }

    #[test]
    fn logsumexp_limits() {
        assert_eq!(logsumexp_f64(&[]), f64::NEG_INFINITY);
        assert_eq!(logsumexp_f64(&[f64::NEG_INFINITY, f64::NEG_INFINITY]), f64::NEG_INFINITY);
        assert_eq!(logsumexp_f64(&[f64::INFINITY, 0.0]), f64::INFINITY);
        assert!(logsumexp_f64(&[f64::NAN, 0.0]).is_nan());
        assert!((logsumexp_f64(&[-1e4, -1e4]) - (-1e4 + 2f64.ln())).abs() < 1e-12);
        let v = logsumexp(&array![[0.0f32, 0.0], [1e4, 1e4]].view(), Axis(1)).unwrap();
        assert_eq!(v, array![2f32.ln(), 1e4 + 2f32.ln()].into_dyn());
    }

    #[test]
    fn sigmoid_family_is_stable_in_both_tails() {
        for x in [-745.0, -50.0, -1.0, 0.0, 1.0, 50.0, 745.0] {
            let s = sigmoid_f64(x);
            // σ(x) + σ(−x) = 1 and log σ(x) − log σ(−x) = x, without overflow.
            assert!((s + sigmoid_f64(-x) - 1.0).abs() < 1e-15, "{x}");
            assert!((log_sigmoid_f64(x) - log_sigmoid_f64(-x) - x).abs() <= 1e-12 * x.abs().max(1.0), "{x}");
            // softplus(x) − softplus(−x) = x
            assert!((softplus_f64(x) - softplus_f64(-x) - x).abs() <= 1e-12 * x.abs().max(1.0), "{x}");
        }
        assert_eq!(log_sigmoid_f64(-1e300), -1e300);
        assert!(softplus_f64(-40.0) > 0.0); // log1p keeps the tiny tail: e^-40
        assert!((softplus_f64(-40.0) - (-40f64).exp()).abs() < 1e-30);
    }

    #[test]
    fn bad_axis_is_an_error() {
        let e = softmax(&array![1.0f64, 2.0].view(), Axis(1)).unwrap_err();
        assert_eq!(e.to_string(), "softmax: `x` has shape [2], expected at least 2 dimension(s) (axis = 1)");
        assert!(crate::machinery::lanes::resolve_axis("l", "axis", -3, 2).is_err());
        assert_eq!(crate::machinery::lanes::resolve_axis("l", "axis", -1, 2).unwrap(), 1);
    }
}
