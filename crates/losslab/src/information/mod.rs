//! Information theory (the article's question 1): self-information, entropy,
//! binary entropy, cross entropy, the Kullback–Leibler and Jensen–Shannon
//! divergences, and the two reference functions built on them,
//! [`KlDivLoss`] (`torch.nn.functional.kl_div`) and [`ScipyEntropy`]
//! (`scipy.stats.entropy`).
//!
//! ```text
//! I(x)     = −log p(x)                           self-information
//! H(p)     = −Σᵢ pᵢ log pᵢ                       entropy
//! H(p, q)  = −Σᵢ pᵢ log qᵢ                       cross entropy
//! KL(p‖q)  =  Σᵢ pᵢ log(pᵢ / qᵢ)                 relative entropy (KL divergence)
//! H(p, q)  =  H(p) + KL(p‖q)                     so, with p fixed, minimising H(p, q) minimises KL
//! JS(p, q) = ½ KL(p‖m) + ½ KL(q‖m),  m = ½ (p + q)
//! ```
//!
//! The article's example: the ground truth `p = (1, 0, 0)` against the
//! prediction `q = (0.7, 0.2, 0.1)`:
//!
//! ```
//! use ndarray::array;
//! use losslab::information::cross_entropy;
//! use losslab::information::{entropy, kl_divergence};
//! let p = array![1.0f64, 0.0, 0.0];
//! let q = array![0.7f64, 0.2, 0.1];
//! let h = entropy(p.view(), 0, None).unwrap();
//! let kl = kl_divergence(p.view(), q.view(), 0, None).unwrap();
//! let ce = cross_entropy(p.view(), q.view(), 0, None).unwrap();
//! assert_eq!(h[[]], 0.0); // a certain outcome carries no information
//! assert!((kl[[]] - -(0.7f64.ln())).abs() < 1e-15); // 0.35667494393873245 nats
//! assert!((ce[[]] - -(0.7f64.ln())).abs() < 1e-15); // H(p, q) = H(p) + KL = 0 + KL
//! ```
//!
//! ## Conventions
//! - **Zeros**, as the article states them: `0·log 0 = 0`, `0·log(0/q) = 0`,
//!   `p·log(p/0) = +∞` (`p > 0`). Entropy and cross entropy use
//!   [`xlogy`](crate::xlogy) (`0·log y = 0`); the divergences use SciPy's
//!   `rel_entr` (`x log(x/y)` for `x, y > 0`; `0` for `x = 0, y ≥ 0`; `+∞`
//!   otherwise). NaN propagates.
//! - **Base**: `None` gives nats (natural logarithm); `Some(b)` divides by `ln b`
//!   (`Some(2.0)` gives bits). A base must be finite, `> 0` and `≠ 1`.
//! - **Axis**: the sums run along `axis` (negative counts from the end, as in
//!   NumPy), which the result loses. No function here normalises its inputs
//!   except [`ScipyEntropy`], which does what SciPy does.
//! - **Shapes**: losslab's own two-distribution functions require equal shapes
//!   (no broadcasting); the Keras and optax KL divergences broadcast as their
//!   references do (NumPy's rule, see each type).
//! - **Gradients** are the exact partial derivatives of the formulas above,
//!   scaled by `grad_output` (the gradient of some scalar with respect to the
//!   result). Where a partial derivative is infinite at the boundary of the
//!   domain, the result is its one-sided limit (`+∞` or `−∞`); where it does not
//!   exist (negative probabilities, NaN), NaN. Each function lists its cases.
//!   Two-distribution gradients are [`Gradients`] with `input` = `∂/∂q` (the
//!   prediction) and `target` = `Some(∂/∂p)`.

use crate::machinery::methods::{free_fn, setters};
use crate::machinery::error::{check_option, same_shape, shape_err, Result};
use crate::machinery::float::{narrow, widen, Float};
use crate::machinery::lanes::{eval_pointwise, lanes, resolve_axis, Eval, Pairing, Upstream};
use crate::math::xlogy_f64;
use crate::machinery::pointwise::Pointwise;
use crate::machinery::reduction::{sum_f64, Gradients, Reducer, Reduction};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension};
use std::f64::consts::LN_2;

mod kl;
pub use kl::*;

// ---------------------------------------------------------------------------
// Shared machinery
// ---------------------------------------------------------------------------

/// `ln b` for a valid base, `None` for nats.
fn log_base(loss: &'static str, base: Option<f64>) -> Result<Option<f64>> {
    match base {
        None => Ok(None),
        Some(b) => {
            check_option(loss, "base", b, b.is_finite() && b > 0.0 && b != 1.0, "a finite number > 0 other than 1")?;
            Ok(Some(b.ln()))
        }
    }
}

/// A value in nats converted to the base whose logarithm is `ln_base`.
#[inline]
fn in_base(v: f64, ln_base: Option<f64>) -> f64 {
    match ln_base {
        None => v,
        Some(l) => v / l,
    }
}

/// The lanes along one axis of a row-major tensor, and the shape of a result
/// that reduces them (the axis removed).
struct Lanes {
    /// Shape of the input.
    shape: Vec<usize>,
    /// Shape of the result: the input's without the axis.
    out_shape: Vec<usize>,
    /// Number of elements per lane (the axis' length).
    len: usize,
    /// Stride of the axis in row-major order.
    inner: usize,
    /// Number of lanes (elements of the result).
    count: usize,
}

impl Lanes {
    fn new(loss: &'static str, shape: &[usize], axis: isize) -> Result<Self> {
        let a = resolve_axis(loss, "axis", axis, shape.len())?;
        let (outer, len, inner) = lanes(shape, a);
        let mut out_shape = shape.to_vec();
        out_shape.remove(a);
        Ok(Lanes { shape: shape.to_vec(), out_shape, len, inner, count: outer * inner })
    }

    /// The flat row-major position of element `c` of lane `k` (lanes are
    /// numbered in the row-major order of the result).
    #[inline]
    fn at(&self, k: usize, c: usize) -> usize {
        // `count > 0` implies `inner > 0`.
        let (o, i) = (k / self.inner, k % self.inner);
        (o * self.len + c) * self.inner + i
    }

    /// `Σ_c f(position of c)` for every lane, compensated.
    fn sums(&self, f: impl Fn(usize) -> f64) -> Vec<f64> {
        (0..self.count).map(|k| sum_f64((0..self.len).map(|c| f(self.at(k, c))))).collect()
    }
}

/// The upstream gradient of an unreduced result, checked against its shape.
fn upstream<T: Float>(loss: &'static str, grad_output: &ArrayViewD<'_, T>, shape: &[usize]) -> Result<Vec<f64>> {
    if grad_output.shape() != shape {
        return Err(shape_err(
            loss,
            "grad_output",
            format!("{shape:?} (the shape of the result)"),
            grad_output.shape(),
        ));
    }
    Ok(widen(grad_output))
}

/// `ln(x / y)` for `x ≥ 0`, `y > 0`.
#[inline]
fn ln_ratio(x: f64, y: f64) -> f64 {
    let r = x / y;
    // One rounded quotient keeps ln(x/y) accurate when x ≈ y, where ln x − ln y
    // would cancel; the difference of logarithms takes over only where the
    // quotient overflows, underflows or is subnormal (SciPy's log(x/y) gives
    // ±inf or loses digits there).
    if r.is_normal() {
        r.ln()
    } else {
        x.ln() - y.ln()
    }
}

/// SciPy's `rel_entr(x, y)`: `x ln(x/y)` for `x, y > 0`; `0` for `x = 0, y ≥ 0`;
/// `+∞` otherwise; NaN if either is NaN.
#[inline]
fn rel_entr(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x > 0.0 && y > 0.0 {
        x * ln_ratio(x, y)
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// `(∂/∂x, ∂/∂y)` of `rel_entr(x, y)`, with one-sided limits at the boundary.
#[inline]
fn rel_entr_grad(x: f64, y: f64) -> (f64, f64) {
    if x.is_nan() || y.is_nan() {
        (f64::NAN, f64::NAN)
    } else if x > 0.0 && y > 0.0 {
        (ln_ratio(x, y) + 1.0, -(x / y))
    } else if x == 0.0 && y > 0.0 {
        // h ln(h/y) has slope ln(h/y) + 1 → −∞; rel_entr(0, ·) ≡ 0.
        (f64::NEG_INFINITY, 0.0)
    } else if x == 0.0 && y == 0.0 {
        // rel_entr(h, 0) = +∞ for h > 0; rel_entr(0, ·) ≡ 0.
        (f64::INFINITY, 0.0)
    } else if x > 0.0 && y == 0.0 {
        // The limits as y → 0⁺.
        (f64::INFINITY, f64::NEG_INFINITY)
    } else {
        (f64::NAN, f64::NAN)
    }
}

/// SciPy's `entr(x)`: `−x ln x` for `x > 0`, `0` at `0`, `−∞` for `x < 0`.
#[inline]
fn entr(x: f64) -> f64 {
    if x > 0.0 {
        -(x * x.ln())
    } else if x == 0.0 {
        0.0
    } else if x < 0.0 {
        f64::NEG_INFINITY
    } else {
        x
    }
}

/// `−p ln p` with `0 ln 0 = 0` (NaN for `p < 0`).
#[inline]
fn neg_xlogx(p: f64) -> f64 {
    -xlogy_f64(p, p)
}

/// `(∂/∂p, ∂/∂q)` of `−xlogy(p, q) = −p ln q`.
#[inline]
fn neg_xlogy_grad(p: f64, q: f64) -> (f64, f64) {
    if p.is_nan() || q.is_nan() {
        return (f64::NAN, f64::NAN);
    }
    // −xlogy(0, q) ≡ 0 in q: its partial derivative along q is 0 even at q = 0.
    let dq = if p == 0.0 { 0.0 } else { -(p / q) };
    (-q.ln(), dq)
}

/// `½ (p + q)` without overflow.
#[inline]
fn midpoint(p: f64, q: f64) -> f64 {
    let s = p + q;
    if s.is_finite() {
        0.5 * s
    } else {
        0.5 * p + 0.5 * q
    }
}

/// One element of the Jensen–Shannon divergence: `½ rel_entr(p, m) + ½ rel_entr(q, m)`.
#[inline]
fn js_term(p: f64, q: f64) -> f64 {
    let m = midpoint(p, q);
    0.5 * rel_entr(p, m) + 0.5 * rel_entr(q, m)
}

/// `(∂/∂p, ∂/∂q)` of [`js_term`]: `(½ ln(p/m), ½ ln(q/m))`.
#[inline]
fn js_grad(p: f64, q: f64) -> (f64, f64) {
    if p.is_nan() || q.is_nan() || p < 0.0 || q < 0.0 {
        (f64::NAN, f64::NAN)
    } else if p == 0.0 && q == 0.0 {
        // js_term(h, 0) = ½ h ln 2 and js_term(0, h) = ½ h ln 2.
        (0.5 * LN_2, 0.5 * LN_2)
    } else {
        let m = midpoint(p, q);
        (0.5 * ln_ratio(p, m), 0.5 * ln_ratio(q, m))
    }
}

/// A sum along `axis` of `f(pᵢ, qᵢ)`, in the base given.
fn pair_forward<T: Float, D: Dimension>(
    loss: &'static str,
    p: &ArrayView<'_, T, D>,
    q: &ArrayView<'_, T, D>,
    axis: isize,
    base: Option<f64>,
    f: impl Fn(f64, f64) -> f64,
) -> Result<ArrayD<T>> {
    let lnb = log_base(loss, base)?;
    same_shape(loss, "p", p.shape(), "q", q.shape())?;
    let lanes = Lanes::new(loss, p.shape(), axis)?;
    let (pw, qw) = (widen(p), widen(q));
    let out = lanes.sums(|i| f(pw[i], qw[i])).into_iter().map(|v| in_base(v, lnb)).collect();
    Ok(narrow(&lanes.out_shape, out))
}

/// The gradients of `Σ grad_output · Σ_axis f(p, q)`, from the local partials `df`.
fn pair_backward<T: Float, D: Dimension>(
    loss: &'static str,
    p: &ArrayView<'_, T, D>,
    q: &ArrayView<'_, T, D>,
    axis: isize,
    base: Option<f64>,
    grad_output: &ArrayViewD<'_, T>,
    df: impl Fn(f64, f64) -> (f64, f64),
) -> Result<Gradients<T>> {
    let lnb = log_base(loss, base)?;
    same_shape(loss, "p", p.shape(), "q", q.shape())?;
    let lanes = Lanes::new(loss, p.shape(), axis)?;
    let g = upstream(loss, grad_output, &lanes.out_shape)?;
    let (pw, qw) = (widen(p), widen(q));
    let mut gp = vec![0.0; pw.len()];
    let mut gq = vec![0.0; pw.len()];
    for (k, &s) in g.iter().enumerate() {
        for c in 0..lanes.len {
            let i = lanes.at(k, c);
            let (dp, dq) = df(pw[i], qw[i]);
            gp[i] = in_base(s * dp, lnb);
            gq[i] = in_base(s * dq, lnb);
        }
    }
    Ok(Gradients { input: narrow(&lanes.shape, gq), target: Some(narrow(&lanes.shape, gp)) })
}

// ---------------------------------------------------------------------------
// Self-information, entropy, binary entropy
// ---------------------------------------------------------------------------

/// Self-information (surprisal) of each probability: the rarer an event, the
/// more information its occurrence carries.
///
/// ```text
/// I(p) = −log p = −ln p / ln b        (b = base; nats when None)
/// ```
///
/// Element-wise; the result has `p`'s shape. `I(1) = 0`, `I(0) = +∞`; a
/// negative `p` gives NaN.
///
/// # Errors
/// [`LossError::Option`](crate::LossError::Option) for a base that is not a
/// finite number `> 0` other than 1.
///
/// # Examples
/// ```
/// use ndarray::array;
/// let bits = losslab::self_information(array![0.5f64, 0.25, 1.0, 0.0].view(), Some(2.0)).unwrap();
/// assert_eq!(bits, array![1.0, 2.0, 0.0, f64::INFINITY].into_dyn());
/// let nats = losslab::self_information(array![0.5f64].view(), None).unwrap();
/// assert_eq!(nats[0], 2f64.ln()); // 0.6931471805599453
/// ```
///
/// # References
/// C. E. Shannon, "A Mathematical Theory of Communication", Bell System
/// Technical Journal 27, 1948, <https://doi.org/10.1002/j.1538-7305.1948.tb01338.x>
pub fn self_information<T: Float, D: Dimension>(p: ArrayView<'_, T, D>, base: Option<f64>) -> Result<ArrayD<T>> {
    let lnb = log_base("self_information", base)?;
    // 0 − ln 1 is +0, where −(ln 1) would be −0.
    Ok(p.map(|&v| T::from_wide(in_base(0.0 - v.to_wide().ln(), lnb))).into_dyn())
}

/// Shannon entropy along `axis`: the expected self-information, the
/// uncertainty of a distribution.
///
/// ```text
/// H(p) = −Σᵢ pᵢ log pᵢ        0·log 0 = 0
/// ```
///
/// `p`'s shape without `axis`. `p` is not normalised (see [`ScipyEntropy`] for
/// SciPy's normalising entropy): entropy of a uniform distribution over `n`
/// outcomes is `log n`; of a one-hot, 0. A negative entry gives NaN.
///
/// # Errors
/// [`LossError::Option`](crate::LossError::Option) for an `axis` outside
/// `[−ndim, ndim)` (so always for a 0-d `p`) or a bad `base`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// let p = array![[0.25f64, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]];
/// let h = losslab::information::entropy(p.view(), -1, Some(2.0)).unwrap();
/// assert_eq!(h, array![2.0, 0.0].into_dyn()); // 2 bits, 0 bits
/// ```
///
/// # References
/// C. E. Shannon, "A Mathematical Theory of Communication", Bell System
/// Technical Journal 27, 1948, <https://doi.org/10.1002/j.1538-7305.1948.tb01338.x>
pub fn entropy<T: Float, D: Dimension>(p: ArrayView<'_, T, D>, axis: isize, base: Option<f64>) -> Result<ArrayD<T>> {
    const LOSS: &str = "entropy";
    let lnb = log_base(LOSS, base)?;
    let lanes = Lanes::new(LOSS, p.shape(), axis)?;
    let pw = widen(&p);
    let out = lanes.sums(|i| neg_xlogx(pw[i])).into_iter().map(|v| in_base(v, lnb)).collect();
    Ok(narrow(&lanes.out_shape, out))
}

/// The gradient of `Σ grad_output · entropy(p, axis, base)` with respect to `p`.
///
/// ```text
/// ∂H/∂pᵢ = −(ln pᵢ + 1) / ln b
/// ```
///
/// `+∞` at `pᵢ = 0` (the one-sided limit: `−h ln h` rises infinitely steeply
/// from 0), NaN for `pᵢ < 0`. `grad_output` has the result's shape (`p`'s
/// without `axis`); the gradient has `p`'s.
///
/// # Errors
/// As [`entropy`], and [`LossError::Shape`](crate::LossError::Shape) if
/// `grad_output` does not have the result's shape.
///
/// # Examples
/// ```
/// use ndarray::{array, ArrayD, IxDyn};
/// let p = array![0.5f64, 0.5];
/// let g = losslab::information::entropy_backward(p.view(), 0, None, ArrayD::ones(IxDyn(&[])).view()).unwrap();
/// assert_eq!(g, array![2f64.ln() - 1.0, 2f64.ln() - 1.0].into_dyn()); // −0.3068528194400547
/// ```
///
/// # References
/// C. E. Shannon, "A Mathematical Theory of Communication", 1948,
/// <https://doi.org/10.1002/j.1538-7305.1948.tb01338.x>
pub fn entropy_backward<T: Float, D: Dimension>(
    p: ArrayView<'_, T, D>,
    axis: isize,
    base: Option<f64>,
    grad_output: ArrayViewD<'_, T>,
) -> Result<ArrayD<T>> {
    const LOSS: &str = "entropy";
    let lnb = log_base(LOSS, base)?;
    let lanes = Lanes::new(LOSS, p.shape(), axis)?;
    let g = upstream(LOSS, &grad_output, &lanes.out_shape)?;
    let pw = widen(&p);
    let mut gp = vec![0.0; pw.len()];
    for (k, &s) in g.iter().enumerate() {
        for c in 0..lanes.len {
            let i = lanes.at(k, c);
            gp[i] = in_base(s * -(pw[i].ln() + 1.0), lnb);
        }
    }
    Ok(narrow(&lanes.shape, gp))
}

/// The entropy of a 0-1 (Bernoulli) event with probability `p`, element-wise.
///
/// ```text
/// H(p) = −[p log p + (1 − p) log(1 − p)]        0·log 0 = 0
/// ```
///
/// `p`'s shape. 0 at `p ∈ {0, 1}` (the outcome is certain), maximal at
/// `p = ½`: `ln 2` nats, 1 bit. NaN outside `[0, 1]`. Computed with
/// `ln(1 − p) = ln_1p(−p)`, which keeps full precision for tiny `p`.
///
/// # Errors
/// [`LossError::Option`](crate::LossError::Option) for a bad `base`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// let h = losslab::binary_entropy(array![0.5f64, 0.0, 1.0].view(), Some(2.0)).unwrap();
/// assert_eq!(h, array![1.0, 0.0, 0.0].into_dyn());
/// let h = losslab::binary_entropy(array![0.1f64].view(), None).unwrap();
/// assert!((h[0] - 0.3250829733914482).abs() < 1e-16);
/// ```
///
/// # References
/// C. E. Shannon, "A Mathematical Theory of Communication", Bell System
/// Technical Journal 27, 1948, <https://doi.org/10.1002/j.1538-7305.1948.tb01338.x>
pub fn binary_entropy<T: Float, D: Dimension>(p: ArrayView<'_, T, D>, base: Option<f64>) -> Result<ArrayD<T>> {
    let lnb = log_base("binary_entropy", base)?;
    Ok(p.map(|&v| {
        let p = v.to_wide();
        let q = 1.0 - p;
        // (1 − p) ln(1 − p) through ln_1p(−p): 1 − p rounds away the digits of a tiny p.
        let tail = if q == 0.0 { 0.0 } else { q * (-p).ln_1p() };
        T::from_wide(in_base(-(xlogy_f64(p, p) + tail), lnb))
    })
    .into_dyn())
}

// ---------------------------------------------------------------------------
// Cross entropy, KL, JS
// ---------------------------------------------------------------------------

/// Cross entropy of the prediction `q` relative to the true distribution `p`,
/// along `axis`: the expected self-information of `q`'s code under `p`.
///
/// ```text
/// H(p, q) = −Σᵢ pᵢ log qᵢ = H(p) + KL(p‖q)        0·log q = 0 (also for q = 0)
/// ```
///
/// Not re-exported at the crate root, where `cross_entropy` is the
/// classification loss on logits. `p`'s shape without `axis`. A `qᵢ = 0` under
/// `pᵢ > 0` gives `+∞`; a negative `qᵢ` under `pᵢ ≠ 0` gives NaN.
///
/// # Errors
/// [`LossError::Shape`](crate::LossError::Shape) if `q`'s shape is not `p`'s;
/// [`LossError::Option`](crate::LossError::Option) for a bad `axis` or `base`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::information::cross_entropy;
/// let (p, q) = (array![1.0f64, 0.0, 0.0], array![0.7f64, 0.2, 0.1]);
/// let h = cross_entropy(p.view(), q.view(), 0, None).unwrap();
/// assert_eq!(h[[]], -(0.7f64.ln())); // 0.35667494393873245: the article's example
/// ```
///
/// # References
/// C. E. Shannon, "A Mathematical Theory of Communication", 1948,
/// <https://doi.org/10.1002/j.1538-7305.1948.tb01338.x>;
/// S. Kullback and R. A. Leibler, "On Information and Sufficiency", Annals of
/// Mathematical Statistics 22(1), 1951, <https://doi.org/10.1214/aoms/1177729694>
pub fn cross_entropy<T: Float, D: Dimension>(
    p: ArrayView<'_, T, D>,
    q: ArrayView<'_, T, D>,
    axis: isize,
    base: Option<f64>,
) -> Result<ArrayD<T>> {
    pair_forward("information::cross_entropy", &p, &q, axis, base, |p, q| -xlogy_f64(p, q))
}

/// The gradients of `Σ grad_output · cross_entropy(p, q, axis, base)`:
/// `input` = `∂/∂q`, `target` = `Some(∂/∂p)`.
///
/// ```text
/// ∂H/∂qᵢ = −pᵢ / (qᵢ ln b)        0 where pᵢ = 0 (H does not depend on qᵢ there)
/// ∂H/∂pᵢ = −ln qᵢ / ln b          +∞ at qᵢ = 0
/// ```
///
/// At `pᵢ > 0, qᵢ = 0`, `∂H/∂qᵢ = −∞`; negative `qᵢ` give NaN.
///
/// # Errors
/// As [`cross_entropy`], and [`LossError::Shape`](crate::LossError::Shape) if
/// `grad_output` does not have the result's shape.
///
/// # Examples
/// ```
/// use ndarray::{array, ArrayD, IxDyn};
/// use losslab::information::cross_entropy_backward;
/// let (p, q) = (array![1.0f64, 0.0], array![0.5f64, 0.5]);
/// let g = cross_entropy_backward(p.view(), q.view(), 0, None, ArrayD::ones(IxDyn(&[])).view()).unwrap();
/// assert_eq!(g.input, array![-2.0, 0.0].into_dyn());
/// assert_eq!(g.target.unwrap(), array![2f64.ln(), 2f64.ln()].into_dyn()); // 0.6931471805599453
/// ```
///
/// # References
/// S. Kullback and R. A. Leibler, "On Information and Sufficiency", 1951,
/// <https://doi.org/10.1214/aoms/1177729694>
pub fn cross_entropy_backward<T: Float, D: Dimension>(
    p: ArrayView<'_, T, D>,
    q: ArrayView<'_, T, D>,
    axis: isize,
    base: Option<f64>,
    grad_output: ArrayViewD<'_, T>,
) -> Result<Gradients<T>> {
    pair_backward("information::cross_entropy", &p, &q, axis, base, &grad_output, neg_xlogy_grad)
}

/// Kullback–Leibler divergence (relative entropy) of `q` from `p`, along
/// `axis`: the extra information needed to code samples of `p` with a code
/// built for `q`.
///
/// ```text
/// KL(p‖q) = Σᵢ rel_entr(pᵢ, qᵢ) / ln b
///
/// rel_entr(x, y) = x ln(x/y)   x > 0, y > 0
///                = 0           x = 0, y ≥ 0       (0·log(0/0) = 0, 0·log(0/q) = 0)
///                = +∞          otherwise           (p·log(p/0) = ∞, negative entries)
/// ```
///
/// `p`'s shape without `axis`. `KL ≥ 0` for distributions, 0 exactly when
/// `q = p`; not symmetric. No normalisation.
///
/// # Errors
/// [`LossError::Shape`](crate::LossError::Shape) if `q`'s shape is not `p`'s;
/// [`LossError::Option`](crate::LossError::Option) for a bad `axis` or `base`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// let (p, q) = (array![1.0f64, 0.0, 0.0], array![0.7f64, 0.2, 0.1]);
/// let kl = losslab::information::kl_divergence(p.view(), q.view(), 0, None).unwrap();
/// assert!((kl[[]] - 0.35667494393873245).abs() < 1e-15); // −ln 0.7, the article's example
/// let inf = losslab::information::kl_divergence(q.view(), p.view(), 0, None).unwrap();
/// assert_eq!(inf[[]], f64::INFINITY); // q puts mass where p has none
/// ```
///
/// # References
/// S. Kullback and R. A. Leibler, "On Information and Sufficiency", Annals of
/// Mathematical Statistics 22(1), 1951, <https://doi.org/10.1214/aoms/1177729694>;
/// <https://docs.scipy.org/doc/scipy/reference/generated/scipy.special.rel_entr.html>
pub fn kl_divergence<T: Float, D: Dimension>(
    p: ArrayView<'_, T, D>,
    q: ArrayView<'_, T, D>,
    axis: isize,
    base: Option<f64>,
) -> Result<ArrayD<T>> {
    pair_forward("kl_divergence", &p, &q, axis, base, rel_entr)
}

/// The gradients of `Σ grad_output · kl_divergence(p, q, axis, base)`:
/// `input` = `∂/∂q`, `target` = `Some(∂/∂p)`.
///
/// ```text
/// ∂KL/∂qᵢ = −pᵢ / (qᵢ ln b)
/// ∂KL/∂pᵢ = (ln(pᵢ/qᵢ) + 1) / ln b
/// ```
///
/// At the boundary (before dividing by `ln b`):
///
/// ```text
/// pᵢ = 0, qᵢ > 0     ∂/∂p = −∞    ∂/∂q = 0      (one-sided limit; KL does not depend on qᵢ)
/// pᵢ = 0, qᵢ = 0     ∂/∂p = +∞    ∂/∂q = 0      (rel_entr(h, 0) = ∞ for h > 0)
/// pᵢ > 0, qᵢ = 0     ∂/∂p = +∞    ∂/∂q = −∞     (limits as qᵢ → 0⁺; KL is +∞ there)
/// negative or NaN    NaN          NaN
/// ```
///
/// # Errors
/// As [`kl_divergence`], and [`LossError::Shape`](crate::LossError::Shape) if
/// `grad_output` does not have the result's shape.
///
/// # Examples
/// ```
/// use ndarray::{array, ArrayD, IxDyn};
/// let (p, q) = (array![0.5f64, 0.5], array![0.25f64, 0.75]);
/// let g = losslab::information::kl_divergence_backward(p.view(), q.view(), 0, None, ArrayD::ones(IxDyn(&[])).view()).unwrap();
/// assert_eq!(g.input, array![-2.0, -0.5 / 0.75].into_dyn());
/// let dp = g.target.unwrap();
/// assert!((dp[0] - (2f64.ln() + 1.0)).abs() < 1e-15); // 1.6931471805599454
/// ```
///
/// # References
/// S. Kullback and R. A. Leibler, "On Information and Sufficiency", 1951,
/// <https://doi.org/10.1214/aoms/1177729694>
pub fn kl_divergence_backward<T: Float, D: Dimension>(
    p: ArrayView<'_, T, D>,
    q: ArrayView<'_, T, D>,
    axis: isize,
    base: Option<f64>,
    grad_output: ArrayViewD<'_, T>,
) -> Result<Gradients<T>> {
    pair_backward("kl_divergence", &p, &q, axis, base, &grad_output, rel_entr_grad)
}

/// Jensen–Shannon divergence of `p` and `q` along `axis`: the mean KL
/// divergence of each from their mixture. Symmetric, finite, and at most
/// `ln 2` nats (1 bit) for distributions.
///
/// ```text
/// JS(p, q) = ½ KL(p‖m) + ½ KL(q‖m),   m = ½ (p + q)
/// ```
///
/// `p`'s shape without `axis`, with [`kl_divergence`]'s zero conventions (a
/// negative entry gives `+∞`). No normalisation.
///
/// # Errors
/// [`LossError::Shape`](crate::LossError::Shape) if `q`'s shape is not `p`'s;
/// [`LossError::Option`](crate::LossError::Option) for a bad `axis` or `base`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// let (p, q) = (array![1.0f64, 0.0], array![0.0f64, 1.0]);
/// let js = losslab::js_divergence(p.view(), q.view(), 0, Some(2.0)).unwrap();
/// assert_eq!(js[[]], 1.0); // disjoint supports: the maximum, 1 bit
/// ```
///
/// # References
/// J. Lin, "Divergence measures based on the Shannon entropy", IEEE
/// Transactions on Information Theory 37(1), 1991, <https://doi.org/10.1109/18.61115>
pub fn js_divergence<T: Float, D: Dimension>(
    p: ArrayView<'_, T, D>,
    q: ArrayView<'_, T, D>,
    axis: isize,
    base: Option<f64>,
) -> Result<ArrayD<T>> {
    pair_forward("js_divergence", &p, &q, axis, base, js_term)
}

/// The gradients of `Σ grad_output · js_divergence(p, q, axis, base)`:
/// `input` = `∂/∂q`, `target` = `Some(∂/∂p)`.
///
/// ```text
/// ∂JS/∂pᵢ = ½ ln(pᵢ / mᵢ) / ln b        ∂JS/∂qᵢ = ½ ln(qᵢ / mᵢ) / ln b        mᵢ = ½ (pᵢ + qᵢ)
/// ```
///
/// (the `+1` terms of the two KL derivatives cancel against the mixture's).
/// At `pᵢ = 0 < qᵢ`, `∂/∂p = −∞` (one-sided limit) and `∂/∂q = ½ ln 2`; at
/// `pᵢ = qᵢ = 0` both are `½ ln 2` (the term is `½ h ln 2` along either axis);
/// negative or NaN entries give NaN.
///
/// # Errors
/// As [`js_divergence`], and [`LossError::Shape`](crate::LossError::Shape) if
/// `grad_output` does not have the result's shape.
///
/// # Examples
/// ```
/// use ndarray::{array, ArrayD, IxDyn};
/// let (p, q) = (array![0.75f64, 0.25], array![0.25f64, 0.75]);
/// let g = losslab::information::js_divergence_backward(p.view(), q.view(), 0, None, ArrayD::ones(IxDyn(&[])).view()).unwrap();
/// let dp = g.target.unwrap();
/// assert!((dp[0] - 0.5 * 1.5f64.ln()).abs() < 1e-16); // 0.2027325540540822
/// assert!((g.input[0] - 0.5 * 0.5f64.ln()).abs() < 1e-16);
/// ```
///
/// # References
/// J. Lin, "Divergence measures based on the Shannon entropy", 1991,
/// <https://doi.org/10.1109/18.61115>
pub fn js_divergence_backward<T: Float, D: Dimension>(
    p: ArrayView<'_, T, D>,
    q: ArrayView<'_, T, D>,
    axis: isize,
    base: Option<f64>,
    grad_output: ArrayViewD<'_, T>,
) -> Result<Gradients<T>> {
    pair_backward("js_divergence", &p, &q, axis, base, &grad_output, js_grad)
}

// ---------------------------------------------------------------------------
// torch.nn.functional.kl_div
// ---------------------------------------------------------------------------

const KL_DIV: &str = "kl_div";

/// PyTorch's KL divergence loss, `torch.nn.functional.kl_div(input, target,
/// reduction='mean', log_target=False)`: `input` holds log-probabilities
/// `ln q`, `target` probabilities `p` (or log-probabilities `ln p` with
/// `log_target`).
///
/// ```text
/// ℓᵢ = xlogy(tᵢ, tᵢ) − tᵢ·xᵢ        = pᵢ (ln pᵢ − ln qᵢ)       log_target = false
/// ℓᵢ = exp(tᵢ) · (tᵢ − xᵢ)                                      log_target = true
///
/// ∂ℓᵢ/∂xᵢ = −tᵢ                      (−exp(tᵢ) with log_target)
/// ∂ℓᵢ/∂tᵢ = ln tᵢ + 1 − xᵢ           (exp(tᵢ)(tᵢ − xᵢ + 1) with log_target)
/// ```
///
/// Reductions: `None` (the shape of `input`), `Sum`, `Mean` (divides by the
/// number of elements), `BatchMean` (divides by `input.shape[0]`; 1 for a 0-d
/// input). **The default, `Mean`, is not the KL divergence**: it divides by the
/// number of classes as well as the batch size, as PyTorch warns; use
/// [`Reduction::BatchMean`] for the mean KL per sample (PyTorch plans to make
/// `'mean'` behave so).
///
/// The gradients are those of PyTorch's autograd, which differentiates
/// `xlogy(target, target)` as `grad·xlogy(t, t)`'s two operands separately: the
/// second contributes `grad·t / t`, which is **NaN at `target == 0`**, so with
/// `log_target = false` the target gradient is NaN wherever a target is 0
/// (whatever the upstream gradient), though the loss is finite there; the
/// input gradient is finite. With `log_target = true`, a target of `−∞`
/// (probability 0) gives `exp(−∞)·(−∞ − x) = 0·(−∞)`: a NaN loss and NaN
/// gradients for that element, as in PyTorch. `input` and `target` broadcast
/// together as PyTorch broadcasts them: the result has the broadcast shape, each
/// gradient is summed back to its tensor's shape, and `BatchMean` divides by
/// `input`'s first axis (PyTorch's `input.size(0)`).
///
/// # Errors
/// [`LossError::Shape`](crate::LossError::Shape) if `target`'s shape does not
/// broadcast with `input`'s, or `grad_output`'s is not the result's.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::{KlDivLoss, Reduction};
/// let p = array![[0.5f64, 0.5]];
/// let log_q = array![[0.9f64.ln(), 0.1f64.ln()]];
/// let (kl, g) = KlDivLoss::new()
///     .reduction(Reduction::BatchMean)
///     .forward_backward(log_q.view(), p.view())
///     .unwrap();
/// assert!((kl[[]] - (5.0f64 / 3.0).ln()).abs() < 1e-15); // KL(p‖q) = 0.5108256237659907
/// assert_eq!(g.input, array![[-0.5, -0.5]].into_dyn());
/// ```
///
/// # References
/// S. Kullback and R. A. Leibler, "On Information and Sufficiency", Annals of
/// Mathematical Statistics 22(1), 1951, <https://doi.org/10.1214/aoms/1177729694>;
/// <https://pytorch.org/docs/stable/generated/torch.nn.functional.kl_div.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KlDivLoss {
    /// The reduction (default `Mean`, PyTorch's; `BatchMean` gives the true KL).
    pub reduction: Reduction,
    /// Whether `target` holds log-probabilities (default `false`).
    pub log_target: bool,
}

impl Default for KlDivLoss {
    fn default() -> Self {
        KlDivLoss { reduction: Reduction::Mean, log_target: false }
    }
}

impl KlDivLoss {
    /// PyTorch's defaults: `reduction = Mean`, `log_target = false`.
    pub fn new() -> Self {
        Self::default()
    }

    setters!(
        /// Sets the reduction.
        reduction: Reduction,
        /// Sets whether `target` holds log-probabilities.
        log_target: bool
    );

    #[inline]
    fn value(&self, x: f64, t: f64) -> f64 {
        if self.log_target {
            t.exp() * (t - x)
        } else {
            xlogy_f64(t, t) - t * x
        }
    }

    /// `(∂/∂x, ∂/∂t)` scaled by the upstream factor `s`, in the order PyTorch's
    /// autograd computes them.
    #[inline]
    fn grads(&self, s: f64, x: f64, t: f64) -> (f64, f64) {
        if self.log_target {
            // exp(t) · (t − x): mul, then sub and exp.
            let e = t.exp();
            let se = s * e;
            (-se, (s * (t - x)) * e + se)
        } else {
            // xlogy(t, t) − t·x. derivatives.yaml: ∂xlogy(a, b)/∂a = xlogy(grad, b),
            // masked to 0 where a == 0 and b <= 0; ∂xlogy(a, b)/∂b = grad·a/b,
            // which is 0/0 = NaN at t == 0. The product's: −grad·x and −grad·t.
            let d_self = if t == 0.0 { 0.0 } else { xlogy_f64(s, t) };
            let d_other = s * t / t;
            (-s * t, d_self + d_other + -s * x)
        }
    }

    /// The machinery's element-wise sweep ([`eval_pointwise`]) for operands of
    /// one shape, both contiguous: value and gradients in one parallel pass in
    /// the tensors' own type (the derivatives of [`grads`](Self::grads) at an
    /// upstream factor of 1, then scaled); `None` for broadcast or strided
    /// operands, which the general path takes.
    // `t / t` on purpose: PyTorch's target gradient, NaN at a zero target (see the type's docs).
    #[allow(clippy::eq_op)]
    fn fused<T: Float, D: Dimension>(
        &self,
        input: &ArrayView<'_, T, D>,
        target: &ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Option<Eval<T, Gradients<T>>>> {
        if input.shape() != target.shape() || input.as_slice().is_none() || target.as_slice().is_none() {
            return Ok(None);
        }
        let (io, r) = (("input", input), ("target", target));
        if self.log_target {
            return eval_pointwise(
                KL_DIV,
                Pairing::Broadcast,
                io,
                r,
                self.reduction,
                up,
                true,
                #[inline(always)]
                |_, x: f64, t: f64| t.exp() * (t - x),
                #[inline(always)]
                |_, x: f64, t: f64| {
                    let e = t.exp();
                    (-e, (t - x) * e + e)
                },
            )
            .map(Some);
        }
        // The general path's formulas (libm's ln, which measured faster here
        // than the vectorisable one, whose loop LLVM does not vectorise).
        eval_pointwise(
            KL_DIV,
            Pairing::Broadcast,
            io,
            r,
            self.reduction,
            up,
            true,
            #[inline(always)]
            |_, x: f64, t: f64| xlogy_f64(t, t) - t * x,
            #[inline(always)]
            |_, x: f64, t: f64| {
                let d_self = if t == 0.0 { 0.0 } else { t.ln() };
                (-t, d_self + t / t + -x)
            },
        )
        .map(Some)
    }

    fn backward_of<T: Float>(&self, pw: &Pointwise, grad_output: &ArrayViewD<'_, T>) -> Result<Gradients<T>> {
        let scales = pw.reducer(self.reduction).scales(KL_DIV, grad_output)?;
        let n = pw.x.len();
        let mut gx = Vec::with_capacity(n);
        let mut gt = Vec::with_capacity(n);
        for i in 0..n {
            let (dx, dt) = self.grads(scales.at(i), pw.x[i], pw.y[i]);
            gx.push(dx);
            gt.push(dt);
        }
        Ok(Gradients {
            input: pw.grad_x(gx),
            target: Some(pw.grad_y(gt)),
        })
    }

    /// The loss, reduced as `self.reduction` says.
    ///
    /// # Errors
    /// [`LossError::Shape`](crate::LossError::Shape) if `target`'s shape does not broadcast with `input`'s.
    pub fn forward<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
    ) -> Result<ArrayD<T>> {
        if let Some((value, _)) = self.fused(&input, &target, &Upstream::Skip)? {
            return Ok(value);
        }
        let pw = Pointwise::broadcast(KL_DIV, ("input", &input), ("target", &target))?;
        Ok(pw.forward(self.reduction, |_, x, t| self.value(x, t)))
    }

    /// The gradients with respect to `input` and `target` (`Some`) of
    /// `Σ grad_output · loss`, as PyTorch's autograd computes them (NaN target
    /// gradient at `target == 0` without `log_target`). `grad_output` has the
    /// result's shape: a scalar unless the reduction is `None`.
    ///
    /// # Errors
    /// As [`forward`](Self::forward), and [`LossError::Shape`](crate::LossError::Shape)
    /// if `grad_output` does not have the result's shape.
    pub fn backward<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        if let Some((_, Some(g))) = self.fused(&input, &target, &Upstream::Given(grad_output.view()))? {
            return Ok(g);
        }
        let pw = Pointwise::broadcast(KL_DIV, ("input", &input), ("target", &target))?;
        self.backward_of(&pw, &grad_output)
    }

    /// The loss and its gradients (of the result's sum when unreduced).
    ///
    /// # Errors
    /// As [`forward`](Self::forward).
    pub fn forward_backward<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        if let Some((value, Some(g))) = self.fused(&input, &target, &Upstream::Ones)? {
            return Ok((value, g));
        }
        let pw = Pointwise::broadcast(KL_DIV, ("input", &input), ("target", &target))?;
        let value = pw.forward(self.reduction, |_, x, t| self.value(x, t));
        let g = pw.unit_grad::<T>(self.reduction);
        let grads = self.backward_of(&pw, &g.view())?;
        Ok((value, grads))
    }
}

free_fn! {
    /// [`KlDivLoss`] with `reduction` and `log_target`:
    /// `torch.nn.functional.kl_div(input, target, reduction=..., log_target=...)`.
    ///
    /// ```text
    /// ℓᵢ = tᵢ (ln tᵢ − xᵢ)     (exp(tᵢ)(tᵢ − xᵢ) with log_target)
    /// ```
    pub fn kl_div(input: float, target: float; reduction: Reduction, log_target: bool) = KlDivLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// use losslab::Reduction;
        /// let log_q = array![[0.25f64.ln(), 0.75f64.ln()]];
        /// let log_p = array![[0.5f64.ln(), 0.5f64.ln()]];
        /// let v = losslab::kl_div(log_q.view(), log_p.view(), Reduction::Sum, true).unwrap();
        /// assert!((v[[]] - 0.5 * (4.0f64 / 3.0).ln()).abs() < 1e-15); // 0.14384103622589045
        /// ```
        ///
        /// # References
        /// <https://pytorch.org/docs/stable/generated/torch.nn.functional.kl_div.html>
    }
}

// ---------------------------------------------------------------------------
// scipy.stats.entropy
// ---------------------------------------------------------------------------

const SCIPY: &str = "scipy.stats.entropy";

/// SciPy's entropy, `scipy.stats.entropy(pk, qk=None, base=None, axis=0)`:
/// normalises `pk` (and `qk`) along `axis`, then gives the Shannon entropy of
/// `pk`, or with `qk` the KL divergence `KL(pk‖qk)`.
///
/// ```text
/// p̂ = pk / Σ pk,   q̂ = qk / Σ qk              (along axis)
/// S = Σ entr(p̂) / ln b                         without qk
/// S = Σ rel_entr(p̂, q̂) / ln b                  with qk
///
/// entr(x) = −x ln x (x > 0),  0 (x = 0),  −∞ (x < 0)
/// ```
///
/// The result is SciPy's — `pk`'s shape without `axis` — under the default
/// `Reduction::None`; another reduction reduces that result over its elements
/// (`BatchMean` by its first axis). `pk` and `qk` must have the same shape
/// (SciPy broadcasts them; here a mismatch is an error). Unlike SciPy, which
/// divides by `ln 1 = 0`, `base = 1` is an error.
///
/// **Gradients** ([`backward`](Self::backward)) include the normalisation, so
/// they sum to 0 against the input (S does not change when `pk` is scaled):
///
/// ```text
/// without qk:  input  = ∂S/∂pkⱼ = −(ln p̂ⱼ + H) / (Σpk · ln b)          target = None
/// with qk:     input  = ∂S/∂qkⱼ = (1 − p̂ⱼ/q̂ⱼ) / (Σqk · ln b)
///              target = ∂S/∂pkⱼ = (ln(p̂ⱼ/q̂ⱼ) − KL) / (Σpk · ln b)      (Some)
/// ```
///
/// `input` is the gradient with respect to `qk` when `qk` is given, else with
/// respect to `pk`. At zeros the local derivatives take
/// [`kl_divergence_backward`]'s limits (`+∞` at `p̂ⱼ = 0` without `qk`; `−∞`
/// for `pkⱼ = 0 < qkⱼ`); where `S` itself is infinite or NaN (a `qk` zero under
/// `pk` mass, negative entries, a lane summing to 0) the gradient is infinite
/// or NaN and carries no information.
///
/// # Errors
/// [`LossError::Shape`](crate::LossError::Shape) if `qk`'s shape is not `pk`'s,
/// or `grad_output`'s not the result's; [`LossError::Option`](crate::LossError::Option)
/// for a bad `axis` or `base`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::information::ScipyEntropy;
/// // scipy.stats.entropy([9/10, 1/10], base=2) = 0.4689955935892812
/// let s = ScipyEntropy::new().base(2.0).forward(array![9.0f64, 1.0].view(), None).unwrap();
/// assert!((s[[]] - 0.4689955935892812).abs() < 1e-15);
/// // scipy.stats.entropy([1/2, 1/2], qk=[9/10, 1/10]) = ln(5/3) = 0.5108256237659907
/// let kl = ScipyEntropy::new().forward(array![1.0f64, 1.0].view(), Some(array![0.9f64, 0.1].view())).unwrap();
/// assert!((kl[[]] - (5.0f64 / 3.0).ln()).abs() < 1e-15);
/// ```
///
/// # References
/// C. E. Shannon, "A Mathematical Theory of Communication", 1948,
/// <https://doi.org/10.1002/j.1538-7305.1948.tb01338.x>; S. Kullback and
/// R. A. Leibler, "On Information and Sufficiency", 1951,
/// <https://doi.org/10.1214/aoms/1177729694>;
/// <https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.entropy.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ScipyEntropy {
    /// The logarithm's base (default `None`: nats).
    pub base: Option<f64>,
    /// The axis the sums run along (default 0, SciPy's; negative counts from the end).
    pub axis: isize,
    /// How SciPy's result is reduced (default `None`: SciPy's own output).
    pub reduction: Reduction,
}

impl Default for ScipyEntropy {
    fn default() -> Self {
        ScipyEntropy { base: None, axis: 0, reduction: Reduction::None }
    }
}

/// The normalised lanes of `ScipyEntropy`'s inputs.
struct Normalised {
    lanes: Lanes,
    ln_base: Option<f64>,
    /// `pk / Σpk` and the sums `Σpk`, one per lane.
    p: Vec<f64>,
    zp: Vec<f64>,
    /// The same for `qk`, if given.
    q: Option<(Vec<f64>, Vec<f64>)>,
}

impl Normalised {
    /// Values in nats converted to the base asked for.
    fn in_base(&self, nats: Vec<f64>) -> Vec<f64> {
        nats.into_iter().map(|v| in_base(v, self.ln_base)).collect()
    }

    /// S of each lane, in nats.
    fn values(&self) -> Vec<f64> {
        match &self.q {
            None => self.lanes.sums(|i| entr(self.p[i])),
            Some((q, _)) => self.lanes.sums(|i| rel_entr(self.p[i], q[i])),
        }
    }
}

/// Divides each lane by its sum; returns the result and the sums.
fn normalise(lanes: &Lanes, mut x: Vec<f64>) -> (Vec<f64>, Vec<f64>) {
    let z = lanes.sums(|i| x[i]);
    for (k, &zk) in z.iter().enumerate() {
        for c in 0..lanes.len {
            x[lanes.at(k, c)] /= zk;
        }
    }
    (x, z)
}

impl ScipyEntropy {
    /// SciPy's defaults: `base = None`, `axis = 0`, and `reduction = None`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the base (`2.0`, or `None` for nats).
    #[must_use]
    pub fn base(mut self, base: impl Into<Option<f64>>) -> Self {
        self.base = base.into();
        self
    }

    setters!(
        /// Sets the axis.
        axis: isize,
        /// Sets the reduction of SciPy's result.
        reduction: Reduction
    );

    fn prepare<T: Float, D: Dimension>(
        &self,
        pk: &ArrayView<'_, T, D>,
        qk: Option<&ArrayView<'_, T, D>>,
    ) -> Result<Normalised> {
        let ln_base = log_base(SCIPY, self.base)?;
        if let Some(qk) = qk {
            same_shape(SCIPY, "pk", pk.shape(), "qk", qk.shape())?;
        }
        let lanes = Lanes::new(SCIPY, pk.shape(), self.axis)?;
        let (p, zp) = normalise(&lanes, widen(pk));
        let q = qk.map(|qk| normalise(&lanes, widen(qk)));
        Ok(Normalised { lanes, ln_base, p, zp, q })
    }

    fn reducer(&self, n: &Normalised) -> Reducer {
        Reducer::counting(self.reduction, &n.lanes.out_shape, &n.lanes.out_shape)
    }

    fn backward_of<T: Float>(
        &self,
        n: &Normalised,
        values: &[f64],
        grad_output: &ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        let scales = self.reducer(n).scales(SCIPY, grad_output)?;
        let lanes = &n.lanes;
        let mut gp = vec![0.0; n.p.len()];
        match &n.q {
            None => {
                for (k, &h) in values.iter().enumerate() {
                    let s = scales.at(k) / n.zp[k];
                    for c in 0..lanes.len {
                        let i = lanes.at(k, c);
                        // Σᵢ p̂ᵢ (ln p̂ᵢ + 1) = 1 − H: the normalisation's share.
                        gp[i] = in_base(s * -(n.p[i].ln() + h), n.ln_base);
                    }
                }
                Ok(Gradients { input: narrow(&lanes.shape, gp), target: None })
            }
            Some((q, zq)) => {
                let mut gq = vec![0.0; n.p.len()];
                for (k, &kl) in values.iter().enumerate() {
                    let g = scales.at(k);
                    // Σ over i with q̂ᵢ > 0 of p̂ᵢ: 1 unless q̂ has zeros under p̂'s mass.
                    let stranded =
                        sum_f64((0..lanes.len).map(|c| lanes.at(k, c)).filter(|&i| q[i] == 0.0).map(|i| n.p[i]));
                    let covered = 1.0 - stranded;
                    for c in 0..lanes.len {
                        let i = lanes.at(k, c);
                        let (dp, dq) = rel_entr_grad(n.p[i], q[i]);
                        // Chain rule through the normalisations; the terms of zero
                        // mass drop out (∂p̂ᵢ/∂pkⱼ = −p̂ᵢ/Σpk = 0 there).
                        gp[i] = in_base(g * ((dp - 1.0) - kl) / n.zp[k], n.ln_base);
                        gq[i] = in_base(g * (dq + covered) / zq[k], n.ln_base);
                    }
                }
                Ok(Gradients { input: narrow(&lanes.shape, gq), target: Some(narrow(&lanes.shape, gp)) })
            }
        }
    }

    /// SciPy's entropy (or KL divergence with `qk`), reduced as `self.reduction` says.
    ///
    /// # Errors
    /// [`LossError::Shape`](crate::LossError::Shape) if `qk`'s shape is not `pk`'s;
    /// [`LossError::Option`](crate::LossError::Option) for a bad `axis` or `base`.
    pub fn forward<T: Float, D: Dimension>(
        &self,
        pk: ArrayView<'_, T, D>,
        qk: Option<ArrayView<'_, T, D>>,
    ) -> Result<ArrayD<T>> {
        let n = self.prepare(&pk, qk.as_ref())?;
        Ok(self.reducer(&n).output(n.in_base(n.values())))
    }

    /// The gradients of `Σ grad_output · forward(pk, qk)`: `input` = `∂/∂qk`
    /// and `target` = `Some(∂/∂pk)` when `qk` is given; `input` = `∂/∂pk` and
    /// `target` = `None` without it. The normalisations are differentiated too.
    ///
    /// # Errors
    /// As [`forward`](Self::forward), and [`LossError::Shape`](crate::LossError::Shape)
    /// if `grad_output` does not have the result's shape.
    pub fn backward<T: Float, D: Dimension>(
        &self,
        pk: ArrayView<'_, T, D>,
        qk: Option<ArrayView<'_, T, D>>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        let n = self.prepare(&pk, qk.as_ref())?;
        let values = n.values();
        self.backward_of(&n, &values, &grad_output)
    }

    /// The value and its gradients (of the result's sum when unreduced).
    ///
    /// # Errors
    /// As [`forward`](Self::forward).
    pub fn forward_backward<T: Float, D: Dimension>(
        &self,
        pk: ArrayView<'_, T, D>,
        qk: Option<ArrayView<'_, T, D>>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        let n = self.prepare(&pk, qk.as_ref())?;
        let values = n.values();
        let r = self.reducer(&n);
        let g = crate::machinery::reduction::ones_like_output::<T>(&r);
        let grads = self.backward_of(&n, &values, &g.view())?;
        Ok((r.output(n.in_base(values)), grads))
    }
}

/// [`ScipyEntropy`] with SciPy's defaults (natural logarithm, `axis = 0`):
/// `scipy.stats.entropy(pk, qk=None)`; with `qk`, the relative entropy.
///
/// # Errors
/// See [`ScipyEntropy`].
pub fn scipy_entropy<T: Float, D: Dimension>(pk: ArrayView<'_, T, D>, qk: Option<ArrayView<'_, T, D>>) -> Result<ArrayD<T>> {
    ScipyEntropy::default().forward(pk, qk)
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rel_entr_follows_scipy() {
        assert_eq!(rel_entr(0.0, 0.0), 0.0);
        assert_eq!(rel_entr(0.0, 0.5), 0.0);
        assert_eq!(rel_entr(0.5, 0.0), f64::INFINITY);
        assert_eq!(rel_entr(-0.5, 0.5), f64::INFINITY);
        assert_eq!(rel_entr(0.0, -0.5), f64::INFINITY);
        assert!(rel_entr(f64::NAN, 0.0).is_nan());
        assert_eq!(rel_entr(0.5, 0.25), 0.5 * 2f64.ln());
    }

    #[test]
    fn ln_ratio_survives_overflowing_quotients() {
        let v = ln_ratio(1e300, 1e-300);
        assert!((v - 600.0 * 10f64.ln()).abs() < 1e-12);
        assert_eq!(ln_ratio(0.0, 1.0), f64::NEG_INFINITY);
    }

    #[test]
    fn entr_follows_scipy() {
        assert_eq!(entr(0.0), 0.0);
        assert_eq!(entr(-1.0), f64::NEG_INFINITY);
        assert_eq!(entr(1.0), 0.0);
        assert!(entr(f64::NAN).is_nan());
    }

    #[test]
    fn lanes_index_the_axis() {
        // shape [2, 3, 4], axis 1: lane k = (o, i), element c at (o, c, i).
        let l = Lanes::new("t", &[2, 3, 4], 1).unwrap();
        assert_eq!(l.count, 8);
        assert_eq!(l.out_shape, vec![2, 4]);
        assert_eq!(l.at(5, 2), 12 + 2 * 4 + 1);
    }
}
