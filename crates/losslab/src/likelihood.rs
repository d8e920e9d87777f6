//! Likelihood losses: the negative log-likelihoods of count and real-valued
//! targets (PyTorch's Poisson and Gaussian NLL, TensorFlow's `log_poisson_loss`,
//! Keras's `poisson`) and of binary targets on logits (TensorFlow's
//! `sigmoid_cross_entropy_with_logits` and `weighted_cross_entropy_with_logits`),
//! plus TensorFlow's `l2_loss`.
//!
//! Each follows its reference to the detail, including where the reference's
//! own autograd differs from the textbook derivative (TensorFlow's weighted cross
//! entropy at a logit of exactly 0, Gaussian NLL's variance clamped under
//! `no_grad`, the NaN target gradients of the Stirling term at a zero target):
//! the docs of each loss say where.

use crate::machinery::broadcast::{broadcast_shapes, Broadcast};
use crate::machinery::error::{same_shape, shape_err, LossError, Result};
use crate::machinery::float::{narrow, widen, Float};
use crate::machinery::kernels::elementwise::{logistic, ElemOp, Lanes as SweepLanes, Logistic};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use crate::machinery::kernels::par::SyncPtr;
use crate::machinery::vmath::{exp, ln};
use crate::machinery::lanes::{eval_lanes_then, eval_mean_rows_op, eval_pointwise, eval_pointwise_op, eval_rows, eval_triple, inlined, last_axis, sum_lane, Eval, Pairing, RowGrads, Upstream};
use crate::machinery::methods::{free_fn, loss_methods, setters};
use crate::machinery::pointwise::{broadcast_weight, Pointwise};
use crate::machinery::reduction::{Gradients, Reducer, Reduction};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension, IxDyn};
use std::f64::consts::PI;

/// The Stirling approximation of `log(y!)` that PyTorch and TensorFlow add with
/// `full`: `y log y − y + ½ log(2π y)`, and its derivative `log y + 1/(2y)`.
/// The logarithms in arithmetic that vectorises (`vmath`).
#[inline(always)]
fn stirling(y: f64) -> (f64, f64) {
    (y * ln(y) - y + 0.5 * ln(2.0 * PI * y), ln(y) + 0.5 / y)
}

// ---------------------------------------------------------------------------------------
// Poisson

/// Poisson negative log-likelihood, `torch.nn.functional.poisson_nll_loss`.
///
/// ```text
/// log_input = true:   ℓᵢ = exp(xᵢ) − yᵢ xᵢ               ∂ℓ/∂x = exp(x) − y       ∂ℓ/∂y = −x
/// log_input = false:  ℓᵢ = xᵢ − yᵢ log(xᵢ + eps)          ∂ℓ/∂x = 1 − y/(x + eps)  ∂ℓ/∂y = −log(x + eps)
/// full = true:        ℓᵢ += yᵢ log yᵢ − yᵢ + ½ log(2π yᵢ)   for yᵢ > 1 only (0 where yᵢ ≤ 1)
/// ```
///
/// `input` is the log of the rate (`log_input`, the default) or the rate itself;
/// `target` holds counts. Both tensors are differentiated. PyTorch's own
/// semantics, followed here: the Stirling term is masked (`masked_fill`) where
/// `y ≤ 1`, so the forward value is finite for `y = 0` and for negative `y`, but
/// the masked branch's gradient is `0 · log 0 = NaN`: with `full`, the gradient
/// with respect to a target `y ≤ 0` is NaN (and `0` for `0 < y ≤ 1`). With
/// `log_input = false`, `y log(x + eps)` is a plain product, so `x + eps = 0`
/// with `y = 0` gives NaN, as in PyTorch.
///
/// `input` and `target` broadcast together, as PyTorch broadcasts them (the
/// result has the broadcast shape; each gradient is summed back to its tensor's
/// shape).
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::PoissonNllLoss;
/// let (x, y) = (array![0.0f64, 1.0], array![2.0f64, 0.0]);
/// let (loss, g) = PoissonNllLoss::new().forward_backward(x.view(), y.view()).unwrap();
/// assert!((loss[[]] - (1.0 + 1f64.exp()) / 2.0).abs() < 1e-15);
/// assert_eq!(g.input[[0]], (1.0 - 2.0) / 2.0); // (exp(x) − y) / N
/// ```
///
/// # References
/// <https://pytorch.org/docs/stable/generated/torch.nn.PoissonNLLLoss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PoissonNllLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// Whether `input` is the log-rate (default `true`) or the rate.
    pub log_input: bool,
    /// Whether to add the Stirling approximation of `log(y!)` (default `false`).
    pub full: bool,
    /// Added to the rate before its log when `log_input = false` (default 1e-8).
    pub eps: f64,
}

impl Default for PoissonNllLoss {
    fn default() -> Self {
        PoissonNllLoss { reduction: Reduction::Mean, log_input: true, full: false, eps: 1e-8 }
    }
}

impl PoissonNllLoss {
    const NAME: &'static str = "poisson_nll_loss";

    /// PyTorch's defaults: `Mean`, `log_input = true`, `full = false`, `eps = 1e-8`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets `log_input`.
        log_input: bool,
        /// Sets `full`.
        full: bool,
        /// Sets `eps`.
        eps: f64
    );

    fn eval<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        let f = inlined(#[inline(always)] |_, x: f64, y: f64| {
            let l = if self.log_input { exp(x) - y * x } else { x - y * ln(x + self.eps) };
            // masked_fill(target <= 1, 0): NaN targets are not masked.
            if self.full && (y > 1.0 || y.is_nan()) {
                l + stirling(y).0
            } else {
                l
            }
        });
        let df = inlined(#[inline(always)] |_, x: f64, y: f64| {
            let (dx, mut dy) =
                if self.log_input { (exp(x) - y, -x) } else { (1.0 - y / (x + self.eps), -ln(x + self.eps)) };
            if self.full {
                dy += if y > 1.0 || y.is_nan() {
                    stirling(y).1
                } else if y > 0.0 {
                    0.0
                } else {
                    f64::NAN // 0 · log(y) with y ≤ 0 in the masked branch's backward
                };
            }
            (dx, dy)
        });
        if self.log_input && !self.full {
            // PyTorch's default: the op with an f32 form of its own.
            return eval_pointwise_op(Self::NAME, Pairing::Broadcast, ("input", &input), ("target", &target), self.reduction, up, true, PoissonLogInput, f, df);
        }
        eval_pointwise(Self::NAME, Pairing::Broadcast, ("input", &input), ("target", &target), self.reduction, up, true, f, df)
    }

    loss_methods!(torch: eval, (input: float, target: float), "`input` w.r.t. `input`, `target` w.r.t. `target`");
}

/// [`PoissonNllLoss`] with `log_input` and without `full` (PyTorch's
/// defaults) as an element-wise op (`x` the input, `y` the target): `(eˣ −
/// y x, eˣ − y, −x)`; the portable loop in `f64` ([`exp`] in arithmetic that
/// vectorises), `f32` inputs on AVX-512 in 16 `f32` lanes as PyTorch's
/// `float32` kernel computes it (the exp within 1 ulp).
#[derive(Clone, Copy)]
struct PoissonLogInput;

impl ElemOp for PoissonLogInput {
    #[inline(always)]
    fn eval(self, x: f64, y: f64) -> (f64, f64, f64) {
        let e = exp(x);
        (e - y * x, e - y, -x)
    }

    const LANES512: SweepLanes = SweepLanes::F32;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_ps(self, x: __m512, y: __m512) -> (__m512, __m512, __m512) {
        let e = crate::machinery::kernels::elementwise::x86::exp_any_ps(x);
        (_mm512_sub_ps(e, _mm512_mul_ps(y, x)), _mm512_sub_ps(e, y), _mm512_sub_ps(_mm512_setzero_ps(), x))
    }
}

/// TensorFlow's `tf.nn.log_poisson_loss(targets, log_input, compute_full_loss)`.
///
/// ```text
/// ℓᵢ = exp(cᵢ) − cᵢ zᵢ                      c = log_input, z = targets
///    + (z log z − z + ½ log(2π z))          with compute_full_loss, where NOT 0 ≤ z ≤ 1
/// ∂ℓ/∂c = exp(c) − z        ∂ℓ/∂z = −c (+ log z + 1/(2z) where the Stirling term applies)
/// ```
///
/// TensorFlow's semantics, which differ from PyTorch's `full`: the Stirling term
/// is dropped only for `0 ≤ z ≤ 1`, so a negative target gives NaN; its gradient
/// with respect to a target of exactly 0 is NaN (`0 · log 0` in the masked
/// branch), as TensorFlow's autograd gives. The default `Reduction::None` is
/// TensorFlow's own output.
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::LogPoissonLoss;
/// let loss = LogPoissonLoss::new().forward(array![2.0f64].view(), array![0.0f64].view()).unwrap();
/// assert_eq!(loss[[0]], 1.0);
/// ```
///
/// # References
/// <https://www.tensorflow.org/api_docs/python/tf/nn/log_poisson_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LogPoissonLoss {
    /// The reduction (default `None`: TensorFlow's own output).
    pub reduction: Reduction,
    /// Whether to add the Stirling approximation (default `false`).
    pub compute_full_loss: bool,
}

impl Default for LogPoissonLoss {
    fn default() -> Self {
        LogPoissonLoss { reduction: Reduction::None, compute_full_loss: false }
    }
}

impl LogPoissonLoss {
    const NAME: &'static str = "log_poisson_loss";

    /// TensorFlow's defaults: `compute_full_loss = false`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets `compute_full_loss`.
    #[must_use]
    pub fn compute_full_loss(mut self, full: bool) -> Self {
        self.compute_full_loss = full;
        self
    }

    fn eval<T: Float, D: Dimension>(
        &self,
        targets: ArrayView<'_, T, D>,
        log_input: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        let masked = |z: f64| (0.0..=1.0).contains(&z);
        let f = inlined(#[inline(always)] |_, c: f64, z: f64| {
            let l = exp(c) - c * z;
            if self.compute_full_loss && !masked(z) {
                l + stirling(z).0
            } else {
                l
            }
        });
        let df = inlined(#[inline(always)] |_, c: f64, z: f64| {
            let mut dz = -c;
            if self.compute_full_loss {
                dz += if !masked(z) {
                    stirling(z).1
                } else if z > 0.0 {
                    0.0
                } else {
                    f64::NAN
                };
            }
            (exp(c) - z, dz)
        });
        eval_pointwise(Self::NAME, Pairing::Same, ("log_input", &log_input), ("targets", &targets), self.reduction, up, true, f, df)
    }

    loss_methods!(torch: eval, (targets: float, log_input: float), "`input` w.r.t. `log_input`, `target` w.r.t. `targets`");
}

/// Keras's `keras.losses.poisson(y_true, y_pred)`: the Poisson loss on rates,
/// averaged over the last axis.
///
/// ```text
/// ℓ = mean over the last axis of ( ŷ − y log(ŷ + ε) ),   ε = 1e-7 (keras.config.epsilon())
/// ∂ℓ/∂ŷ = (1 − y/(ŷ + ε)) / C        ∂ℓ/∂y = −log(ŷ + ε) / C
/// ```
///
/// The result has the inputs' shape without the last axis (a scalar for 1-d
/// inputs); the default `Reduction::None` is Keras's own output. Keras 3.15
/// computes the mean over the last axis in float32 even for float64 inputs;
/// losslab computes it in f64.
///
/// Shapes: `y_true` and `y_pred` broadcast together as Keras broadcasts them
/// (NumPy's rule: `(N, 1)` or `(1, C)` against `(N, C)`, either way, any ranks;
/// `(N,)` against `(N, C)` does not broadcast); one result per lane of the
/// broadcast shape, each gradient summed back to its tensor's shape.
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::likelihood::KerasPoisson;
/// let loss = KerasPoisson::new().forward(array![[1.0f64, 0.0]].view(), array![[1.0f64, 2.0]].view()).unwrap();
/// assert!((loss[[0]] - (1.0 - (1.0f64 + 1e-7).ln() + 2.0) / 2.0).abs() < 1e-15);
/// ```
///
/// # References
/// <https://keras.io/api/losses/probabilistic_losses/#poisson-function>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasPoisson {
    /// The reduction (default `None`: Keras's per-sample output).
    pub reduction: Reduction,
}

impl Default for KerasPoisson {
    fn default() -> Self {
        KerasPoisson { reduction: Reduction::None }
    }
}

/// Keras's fuzz factor, `keras.config.epsilon()`.
pub(crate) const KERAS_EPSILON: f64 = 1e-7;

/// Keras's Poisson term as an element-wise op (`x` the prediction `p`, `y`
/// the label `t`): `(p − t ln(p + ε), 1 − t / (p + ε), −ln(p + ε))`; the
/// portable loop in `f64` (the row sweep's branch-free ln), `f32` inputs on
/// AVX-512 in 16 `f32` lanes, each term where it does not cancel (so within
/// a few ulp of the `f64` truth of the `f32` operands, where Keras's own
/// `float32` program loses digits near `p = 1` and `p = t`): `ln(p + ε)` as
/// `log1p((p − 1) + ε)` for `p ∈ [½, 2]` (`p − 1` exact) and by
/// [`ln_ps`](crate::machinery::kernels::elementwise::x86::ln_ps) elsewhere,
/// `1 − t / (p + ε)` as `((p + ε) − t) / (p + ε)`.
#[derive(Clone, Copy)]
struct KerasPoissonOp;

impl ElemOp for KerasPoissonOp {
    #[inline(always)]
    fn eval(self, p: f64, t: f64) -> (f64, f64, f64) {
        let q = p + KERAS_EPSILON;
        let l = crate::machinery::kernels::rows::ln(q);
        (p - t * l, 1.0 - t / q, -l)
    }

    const LANES512: SweepLanes = SweepLanes::F32;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_ps(self, p: __m512, t: __m512) -> (__m512, __m512, __m512) {
        use crate::machinery::kernels::elementwise::x86::{ln_ps, log1p_unit_ps};
        let (e, one) = (_mm512_set1_ps(KERAS_EPSILON as f32), _mm512_set1_ps(1.0));
        let q = _mm512_add_ps(p, e);
        let near = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(p, _mm512_set1_ps(0.5)) & _mm512_cmp_ps_mask::<_CMP_LE_OQ>(p, _mm512_set1_ps(2.0));
        let l1 = log1p_unit_ps(_mm512_maskz_mov_ps(near, _mm512_add_ps(_mm512_sub_ps(p, one), e)));
        let l = _mm512_mask_mov_ps(ln_ps(q), near, l1);
        (_mm512_sub_ps(p, _mm512_mul_ps(t, l)), _mm512_div_ps(_mm512_sub_ps(q, t), q), _mm512_sub_ps(_mm512_setzero_ps(), l))
    }
}

impl KerasPoisson {
    const NAME: &'static str = "poisson";

    /// Keras's defaults: no reduction.
    pub fn new() -> Self {
        Self::default()
    }

    fn eval<T: Float, D: Dimension>(
        &self,
        y_true: ArrayView<'_, T, D>,
        y_pred: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        let eps = KERAS_EPSILON;
        // The row sweep for one shape, contiguous (one pass); the general path
        // for broadcast or strided tensors.
        let fused = eval_mean_rows_op(Self::NAME, ("y_pred", &y_pred), &y_true, self.reduction, up, KerasPoissonOp)?;
        if let Some(done) = fused {
            return Ok(done);
        }
        let bc = Broadcast::numpy(Self::NAME, &[("y_pred", y_pred.shape()), ("y_true", y_true.shape())])?;
        let pw = Pointwise::from_broadcast(bc, &y_pred, &y_true);
        let lanes = last_axis(Self::NAME, "y_pred", &pw.shape)?;
        let c = lanes.1;
        let (p, t) = (&pw.x, &pw.y);
        let per = |k: usize| p[k] - t[k] * (p[k] + eps).ln();
        eval_lanes_then(Self::NAME, &pw.shape, lanes, self.reduction, up, |s, _| {
            sum_lane(s, c, per) / c as f64
        }, |s, sc, gp, gt| {
            for k in s * c..(s + 1) * c {
                gp[k] = sc * (1.0 - t[k] / (p[k] + eps)) / c as f64;
                gt[k] = sc * -(p[k] + eps).ln() / c as f64;
            }
        }, |gp, gt| pw.gradients(gp, gt))
    }

    loss_methods!(torch: eval, (y_true: float, y_pred: float), "`input` w.r.t. `y_pred`, `target` w.r.t. `y_true`");
}

// ---------------------------------------------------------------------------------------
// Gaussian

/// The gradients of [`GaussianNllLoss`]: one per float tensor, each in its tensor's shape.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GaussianNllGradients<T> {
    /// With respect to `input` (the predicted mean).
    pub input: ArrayD<T>,
    /// With respect to `target`.
    pub target: ArrayD<T>,
    /// With respect to `var`, in `var`'s own shape (summed over the elements it
    /// was broadcast to).
    pub var: ArrayD<T>,
}

/// Gaussian negative log-likelihood, `torch.nn.functional.gaussian_nll_loss`:
/// the loss of a network that predicts a mean (`input`) and a variance (`var`).
///
/// ```text
/// v = max(var, eps)                                         (clamped under no_grad)
/// ℓᵢ = ½ (log vᵢ + (xᵢ − yᵢ)² / vᵢ)  (+ ½ log 2π with full)
/// ∂ℓ/∂x = (x − y)/v     ∂ℓ/∂y = −(x − y)/v     ∂ℓ/∂var = ½ (1/v − (x − y)²/v²)
/// ```
///
/// `var` takes every shape PyTorch accepts: `input`'s shape (heteroscedastic);
/// `input`'s shape without its last axis, or with a last axis of size 1 (one
/// variance per sample, homoscedastic); more generally `input`'s number of axes
/// with exactly one axis of size 1 where `input`'s differs. A broadcast
/// variance's gradient is summed over the elements it covers. One variance for
/// every element, PyTorch's `var` as a Python float, is the `*_scalar_var`
/// methods' (`forward_scalar_var`, `backward_scalar_var`,
/// `forward_backward_scalar_var`): `var` is then an `f64`, checked for sign and
/// rounded to the inputs' type as PyTorch's `var * ones_like(input)` does, no
/// array is made of it, and its gradient is a 0-d array (PyTorch has none).
///
/// PyTorch clamps the variance at `eps` in place under `torch.no_grad()`, so its
/// autograd sees no clamp: the gradient with respect to `var` is the derivative
/// at the clamped value, passed through even where `var < eps` (where the true
/// derivative is 0). losslab matches this. `input` and `target` broadcast
/// together as PyTorch broadcasts them (the result has the broadcast shape, each
/// gradient is summed back to its tensor's shape; `var`'s shape rules are
/// against `input`'s, as PyTorch's); `Mean` divides by the result's number of
/// elements.
///
/// `input`, `target` and `var` of one shape, contiguous, take the machinery's
/// fused three-operand sweep (value and the three gradients in one parallel
/// pass, in the tensors' own type, each element computed in `f64` by the same
/// formula as the general path, the log within 1 ulp of libm's); a reduced
/// loss with one variance per row (`var` of `input`'s shape without its last
/// axis, or with a last axis of 1) takes the row sweep. Other shapes, strided
/// tensors and a float `var` are widened to `f64` and computed by the same
/// element formula. Results are bit-identical whatever the thread count.
///
/// # Errors
/// [`LossError::Domain`] if `var` has a negative entry, or is a negative
/// scalar (PyTorch: "var has negative entry/entries"; NaN is not negative and
/// gives NaN, as in PyTorch), checked first, as PyTorch does; [`LossError::Shape`] for a
/// `var` of a shape PyTorch rejects ("var is of incorrect size") or a `target`
/// whose shape does not broadcast with `input`'s.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::GaussianNllLoss;
/// let (x, y) = (array![[1.0f64, 2.0]], array![[0.0f64, 0.0]]);
/// let var = array![4.0f64]; // one variance per sample: input's shape without the last axis
/// let (loss, g) = GaussianNllLoss::new().forward_backward(x.view(), y.view(), var.view()).unwrap();
/// let want = 0.5 * (4f64.ln() + 1.0 / 4.0) / 2.0 + 0.5 * (4f64.ln() + 4.0 / 4.0) / 2.0;
/// assert!((loss[[]] - want).abs() < 1e-15);
/// assert_eq!(g.var.shape(), &[1]);
/// ```
///
/// # References
/// D. A. Nix and A. S. Weigend, "Estimating the mean and variance of the target
/// probability distribution", ICNN 1994, <https://doi.org/10.1109/ICNN.1994.374138>;
/// <https://pytorch.org/docs/stable/generated/torch.nn.GaussianNLLLoss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GaussianNllLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// Whether to add the constant `½ log 2π` (default `false`).
    pub full: bool,
    /// The variance's lower clamp (default 1e-6).
    pub eps: f64,
}

impl Default for GaussianNllLoss {
    fn default() -> Self {
        GaussianNllLoss { reduction: Reduction::Mean, full: false, eps: 1e-6 }
    }
}

impl GaussianNllLoss {
    const NAME: &'static str = "gaussian_nll_loss";

    /// PyTorch's defaults: `Mean`, `full = false`, `eps = 1e-6`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets `full`.
        full: bool,
        /// Sets `eps`.
        eps: f64
    );

    /// For each element of the result (`input` and `target` broadcast), the flat
    /// index into `var` that PyTorch's broadcasting pairs it with; PyTorch's
    /// rules for `var`'s shape are against `input`'s.
    fn var_index(input: &[usize], target: &[usize], var: &[usize]) -> Result<Vec<usize>> {
        let bad = || {
            shape_err(Self::NAME, "var", format!("{input:?} (the shape of `input`), {:?}, a shape with a last axis of size 1, or one axis of size 1 where `input`'s differs (PyTorch: var is of incorrect size)", &input[..input.len().saturating_sub(1)]), var)
        };
        let effective: Vec<usize> = if var == input {
            var.to_vec()
        } else if !input.is_empty() && &input[..input.len() - 1] == var {
            let mut v = var.to_vec();
            v.push(1);
            v
        } else if input.len() == var.len() && input.iter().zip(var).filter(|(a, b)| a != b).map(|(_, b)| b).sum::<usize>() == 1 {
            var.to_vec()
        } else {
            return Err(bad());
        };
        if broadcast_shapes(&effective, input).as_deref() != Some(input) {
            return Err(bad());
        }
        Ok(Broadcast::new(
            Self::NAME,
            &[("input", input), ("target", target), ("var", &effective)],
        )?
        .index(2))
    }

    /// The error for a negative variance, PyTorch's check (NaN passes, as `nan < 0`
    /// is false in PyTorch too).
    fn negative_var(value: f64, position: Vec<usize>) -> LossError {
        LossError::Domain {
            loss: Self::NAME,
            tensor: "var",
            value,
            position,
            expected: "a variance >= 0 (PyTorch: var has negative entry/entries)",
        }
    }

    /// The constant term: `½ log 2π` with `full`, else 0.
    fn constant(&self) -> f64 {
        if self.full { 0.5 * (2.0 * PI).ln() } else { 0.0 }
    }

    /// One element, the fused and the general path's: the loss at `(x, y)`
    /// with the variance `var` clamped at `eps` (PyTorch's clamp under
    /// `no_grad`; NaN stays NaN) and `c` added, and its gradients with respect
    /// to `x`, `y` and `var` scaled by the upstream gradient `s`, in PyTorch's
    /// order. The log in arithmetic that vectorises ([`ln`]: within 1 ulp of libm's).
    #[inline(always)]
    fn element(x: f64, y: f64, var: f64, (eps, c): (f64, f64), s: f64) -> (f64, [f64; 3]) {
        let v = if var < eps { eps } else { var };
        let d = x - y;
        let gx = s * d / v;
        (0.5 * (ln(v) + d * d / v) + c, [gx, -gx, 0.5 * s * (1.0 / v - d * d / (v * v))])
    }

    /// The first negative entry of `var` (PyTorch's check; NaN passes), as
    /// [`negative_var`](Self::negative_var)'s error: a vectorised test over a
    /// contiguous `var` first, the position only when it fails.
    fn check_var<T: Float, D: Dimension>(var: &ArrayView<'_, T, D>) -> Result<()> {
        if let Some(v) = var.as_slice_memory_order() {
            if !v.iter().fold(false, |neg, x| neg | (x.to_wide() < 0.0)) {
                return Ok(());
            }
        }
        match var.iter().position(|v| v.to_wide() < 0.0) {
            None => Ok(()),
            Some(i) => {
                let pos = crate::machinery::error::unravel(i, var.shape());
                Err(Self::negative_var(var.iter().nth(i).map_or(f64::NAN, |v| v.to_wide()), pos))
            }
        }
    }

    /// The fused paths of `eval`, `None` where they do not apply: the
    /// three-operand sweep ([`eval_triple`]) for `input`, `target` and `var` of
    /// one shape, contiguous; the row sweep ([`eval_rows`]) for a reduced loss
    /// of `input` and `target` of one shape `(…, C)` and one contiguous variance
    /// per row (`var` of `input`'s shape without its last axis, or with a last
    /// axis of 1).
    fn eval_fused<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        input: &ArrayView<'_, T, D1>,
        target: &ArrayView<'_, T, D1>,
        var: &ArrayView<'_, T, D2>,
        up: &Upstream<'_, T>,
    ) -> Result<Option<Eval<T, GaussianNllGradients<T>>>> {
        let shape = input.shape();
        let (Some(x), Some(y), Some(v)) = (input.as_slice(), target.as_slice(), var.as_slice()) else { return Ok(None) };
        if target.shape() != shape {
            return Ok(None);
        }
        let k = (self.eps, self.constant());
        let grads = |[gx, gy, gv]: [Option<ArrayD<T>>; 3]| GaussianNllGradients {
            input: gx.expect("the gradients of the three"),
            target: gy.expect("the gradients of the three"),
            var: gv.expect("the gradients of the three"),
        };
        if var.shape() == shape {
            let done = eval_triple(Self::NAME, shape, (x, y, v), self.reduction, up, [true; 3], #[inline(always)] |x: T, y: T, v: T, s| {
                Self::element(x.to_wide(), y.to_wide(), v.to_wide(), k, s)
            })?;
            return Ok(done.map(|(value, g)| (value, g.map(grads))));
        }
        let Some((&c, rows_shape)) = shape.split_last() else { return Ok(None) };
        let per_row = var.shape() == rows_shape || (var.shape().split_last() == Some((&1, rows_shape)));
        if !per_row || self.reduction == Reduction::None || c == 0 {
            return Ok(None);
        }
        use crate::machinery::kernels::rows::{lane_sum2_zip_store, lane_sum_zip, zip_store};
        let rows = v.len();
        let reducer = Reducer::counting(self.reduction, shape, shape);
        let mut gvar = vec![T::zero(); if matches!(up, Upstream::Skip) { 0 } else { rows }];
        let gvp = SyncPtr(gvar.as_mut_ptr());
        let (value, g) = eval_rows(Self::NAME, &reducer, shape, (rows, c), up, true, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
            let (xr, yr, vr) = (&x[r * c..(r + 1) * c], &y[r * c..(r + 1) * c], v[r].to_wide());
            let Some(g) = g else { return lane_sum_zip(xr, yr, #[inline(always)] |x, y| Self::element(x, y, vr, k, 0.0).0) };
            let s = g.up;
            let (l, dv) = lane_sum2_zip_store(xr, yr, g.gx, #[inline(always)] |x, y| {
                let (l, [gx, _, gv]) = Self::element(x, y, vr, k, s);
                (l, gv, gx)
            });
            zip_store(xr, yr, g.go, #[inline(always)] |x, y| Self::element(x, y, vr, k, s).1[1]);
            // SAFETY: row r's variance gradient is this row's alone, and gvar holds `rows` elements.
            unsafe { *gvp.add(r) = T::from_wide(dv) };
            l
        })?;
        let var_shape = var.shape().to_vec();
        Ok(Some((value, g.map(|g| GaussianNllGradients {
            input: g.input,
            target: g.target.expect("the target's gradient"),
            var: ArrayD::from_shape_vec(IxDyn(&var_shape), gvar).expect("one gradient per row"),
        }))))
    }

    fn eval<T: Float, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, T, D1>,
        var: ArrayView<'_, T, D2>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, GaussianNllGradients<T>>> {
        Self::check_var(&var)?;
        if let Some(done) = self.eval_fused(&input, &target, &var, up)? {
            return Ok(done);
        }
        let p = Pointwise::broadcast(Self::NAME, ("input", &input), ("target", &target))?;
        let vi = Self::var_index(input.shape(), target.shape(), var.shape())?;
        self.eval_general(&p, &widen(&var), |i| vi[i], var.shape(), up)
    }

    /// `eval` with one variance for every element: no variance array, no index.
    /// PyTorch checks the Python float's sign, then rounds it to `input`'s dtype
    /// (`var * ones_like(input)`); so does this.
    fn eval_scalar<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        var: f64,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, GaussianNllGradients<T>>> {
        if var < 0.0 {
            return Err(Self::negative_var(var, Vec::new()));
        }
        let p = Pointwise::broadcast(Self::NAME, ("input", &input), ("target", &target))?;
        self.eval_general(&p, &[T::from_wide(var).to_wide()], |_| 0, &[], up)
    }

    /// The general path: the loss and gradients from the (widened, unclamped)
    /// variances `v` of shape `var_shape`, element `i` of `input` taking the
    /// variance `v[vi(i)]`, each by [`element`](Self::element).
    fn eval_general<T: Float>(
        &self,
        p: &Pointwise,
        v: &[f64],
        vi: impl Fn(usize) -> usize,
        var_shape: &[usize],
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, GaussianNllGradients<T>>> {
        let k = (self.eps, self.constant());
        let reducer = p.reducer(self.reduction);
        let scales = up.scales(Self::NAME, &reducer)?;
        let value = p.forward(self.reduction, |i, x, y| Self::element(x, y, v[vi(i)], k, 0.0).0);
        let grads = scales.map(|s| {
            let n = p.x.len();
            let (mut gx, mut gy, mut dvar) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
            for i in 0..n {
                let [a, b, dv] = Self::element(p.x[i], p.y[i], v[vi(i)], k, s.at(i)).1;
                gx.push(a);
                gy.push(b);
                dvar.push(dv);
            }
            let gv = if v.len() == 1 {
                // One variance (a scalar, or a tensor of one element): its
                // derivative is the compensated sum over every element, in order.
                vec![crate::machinery::reduction::sum_f64(dvar)]
            } else {
                let mut parts: Vec<Vec<f64>> = vec![Vec::new(); v.len()];
                for (i, dv) in dvar.into_iter().enumerate() {
                    parts[vi(i)].push(dv);
                }
                parts.into_iter().map(crate::machinery::reduction::sum_f64).collect()
            };
            GaussianNllGradients {
                input: p.grad_x(gx),
                target: p.grad_y(gy),
                var: narrow(var_shape, gv),
            }
        });
        Ok((value, grads))
    }

    loss_methods!(torch: eval -> GaussianNllGradients<T>, (input: float, target: float, var: float_any), "with respect to `input`, `target` and `var`");

    /// The loss with one variance `var` for every element: PyTorch's
    /// `gaussian_nll_loss(input, target, var)` with `var` a Python float.
    ///
    /// `var` is an `f64`, as PyTorch's Python float: its sign is checked as
    /// given, then it is rounded to `T`, as `var * ones_like(input)` rounds it
    /// to `input`'s dtype. The result is what [`forward`](Self::forward)
    /// computes with a `var` tensor of `input`'s shape filled with that rounded
    /// value (bit for bit), without that tensor.
    ///
    /// # Errors
    /// [`LossError::Domain`] if `var < 0` (NaN is accepted and gives NaN, as in
    /// PyTorch); [`LossError::Shape`] if `target`'s shape is not `input`'s.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::GaussianNllLoss;
    /// let (x, y) = (array![[1.0f32, 2.0], [0.0, -1.0]], array![[0.0f32, 0.0], [0.0, 0.0]]);
    /// // torch.nn.functional.gaussian_nll_loss(x, y, 2.0)
    /// let loss = GaussianNllLoss::new().forward_scalar_var(x.view(), y.view(), 2.0).unwrap();
    /// let want = 0.5 * 2f64.ln() + 0.5 * (1.0 + 4.0 + 0.0 + 1.0) / 2.0 / 4.0;
    /// assert!((f64::from(loss[[]]) - want).abs() < 1e-6);
    /// // A negative variance is PyTorch's error.
    /// let err = GaussianNllLoss::new().forward_scalar_var(x.view(), y.view(), -1.0).unwrap_err();
    /// assert!(err.to_string().contains("var has negative entry/entries"), "{err}");
    /// ```
    pub fn forward_scalar_var<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        var: f64,
    ) -> Result<ArrayD<T>> {
        Ok(self.eval_scalar(input, target, var, &Upstream::Skip)?.0)
    }

    /// The gradients of `Σ grad_output · loss` with one variance `var` for every
    /// element (see [`forward_scalar_var`](Self::forward_scalar_var)).
    ///
    /// `input` and `target` are those of PyTorch's autograd. PyTorch has no
    /// gradient for a Python float; `var` here is the derivative with respect
    /// to the scalar, a 0-d array: the sum of the per-element derivatives
    /// `½ (1/v − (x − y)²/v²)` (passed through the clamp at `eps`, as for a
    /// tensor), what a one-element `var` tensor broadcast to every element
    /// would receive.
    ///
    /// # Errors
    /// As [`forward_scalar_var`](Self::forward_scalar_var); also
    /// [`LossError::Shape`] if `grad_output` does not have the result's shape.
    pub fn backward_scalar_var<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        var: f64,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<GaussianNllGradients<T>> {
        Ok(self.eval_scalar(input, target, var, &Upstream::Given(grad_output))?.1.expect("gradients requested"))
    }

    /// The loss and its gradients (of the result's sum when unreduced) with one
    /// variance `var` for every element; the gradient `var` is a 0-d array (see
    /// [`backward_scalar_var`](Self::backward_scalar_var)).
    ///
    /// # Errors
    /// As [`forward_scalar_var`](Self::forward_scalar_var).
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::{GaussianNllLoss, Reduction};
    /// let (x, y) = (array![1.0f64, 3.0], array![0.0f64, 0.0]);
    /// let loss = GaussianNllLoss::new().reduction(Reduction::Sum);
    /// let (value, g) = loss.forward_backward_scalar_var(x.view(), y.view(), 0.5).unwrap();
    /// assert!((value[[]] - (0.5f64.ln() + 10.0)).abs() < 1e-14);
    /// assert_eq!(g.input, array![2.0, 6.0].into_dyn()); // (x − y)/var
    /// assert_eq!(g.var.shape(), &[] as &[usize]);   // 0-d: Σ ½(1/v − (x − y)²/v²)
    /// assert!((g.var[[]] - (2.0 - 20.0)).abs() < 1e-13);
    /// ```
    pub fn forward_backward_scalar_var<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        var: f64,
    ) -> Result<(ArrayD<T>, GaussianNllGradients<T>)> {
        let (v, g) = self.eval_scalar(input, target, var, &Upstream::Ones)?;
        Ok((v, g.expect("gradients requested")))
    }
}

// ---------------------------------------------------------------------------------------
// TensorFlow: binary cross entropy on logits, l2_loss

/// TensorFlow's `tf.nn.sigmoid_cross_entropy_with_logits(labels, logits)`.
///
/// ```text
/// ℓ = max(x, 0) − x z + log(1 + exp(−|x|))          x = logits, z = labels
/// ∂ℓ/∂x = σ(x) − z        ∂ℓ/∂z = −x
/// ```
///
/// Exact for every logit (no overflow at ±1e4). The default `Reduction::None`
/// is TensorFlow's own output (the inputs' shape).
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::SigmoidCrossEntropyWithLogits;
/// let loss = SigmoidCrossEntropyWithLogits::new().forward(array![1.0f64, 0.0].view(), array![0.0f64, 1e4].view()).unwrap();
/// assert!((loss[[0]] - 2f64.ln()).abs() < 1e-15);
/// assert_eq!(loss[[1]], 1e4);
/// ```
///
/// # References
/// <https://www.tensorflow.org/api_docs/python/tf/nn/sigmoid_cross_entropy_with_logits>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SigmoidCrossEntropyWithLogits {
    /// The reduction (default `None`: TensorFlow's own output).
    pub reduction: Reduction,
}

impl Default for SigmoidCrossEntropyWithLogits {
    fn default() -> Self {
        SigmoidCrossEntropyWithLogits { reduction: Reduction::None }
    }
}

impl SigmoidCrossEntropyWithLogits {
    const NAME: &'static str = "sigmoid_cross_entropy_with_logits";

    /// TensorFlow's defaults: no reduction.
    pub fn new() -> Self {
        Self::default()
    }

    fn eval<T: Float, D: Dimension>(
        &self,
        labels: ArrayView<'_, T, D>,
        logits: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        eval_pointwise(
            Self::NAME,
            Pairing::Same,
            ("logits", &logits),
            ("labels", &labels),
            self.reduction,
            up,
            true,
            |_, x, z| x.max(0.0) - x * z + logistic(x).tail,
            |_, x, z| (logistic(x).sigmoid - z, -x),
        )
    }

    loss_methods!(torch: eval, (labels: float, logits: float), "`input` w.r.t. `logits`, `target` w.r.t. `labels`");
}

/// TensorFlow's `tf.nn.weighted_cross_entropy_with_logits(labels, logits, pos_weight)`:
/// binary cross entropy on logits with the positive term weighted.
///
/// ```text
/// ℓ = (1 − z) x + (1 + (q − 1) z) · (log(1 + exp(−|x|)) + max(−x, 0))      q = pos_weight
///   = −q z log σ(x) − (1 − z) log(1 − σ(x))
/// ∂ℓ/∂x = (1 − z) − (1 + (q − 1) z) σ(−x)     for x ≠ 0;   (1 − z) at x = 0 exactly
/// ∂ℓ/∂z = −x + (q − 1) softplus(−x)
/// ```
///
/// The gradient at a logit of exactly 0 is TensorFlow's autograd, not the
/// derivative: TensorFlow differentiates `|x|` and `relu(−x)` as 0 at 0, which
/// drops the `−(1 + (q − 1) z)/2` term. losslab follows TensorFlow. `pos_weight`
/// is a number ([`new`](Self::new), TensorFlow's usual form: used as it is, in
/// `f64`, with no array made of it) or a tensor that broadcasts to the logits'
/// shape ([`pos_weight`](Self::pos_weight): one weight per class, say).
/// losslab returns no gradient for `pos_weight`. The default `Reduction::None` is TensorFlow's own output.
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ or `pos_weight` does not broadcast.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::WeightedCrossEntropyWithLogits;
/// let loss = WeightedCrossEntropyWithLogits::new(3.0).forward(array![1.0f64].view(), array![0.0f64].view()).unwrap();
/// assert!((loss[[0]] - 3.0 * 2f64.ln()).abs() < 1e-15);
/// ```
///
/// # References
/// <https://www.tensorflow.org/api_docs/python/tf/nn/weighted_cross_entropy_with_logits>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WeightedCrossEntropyWithLogits {
    /// The reduction (default `None`: TensorFlow's own output).
    pub reduction: Reduction,
    /// The weight of the positive examples, broadcast to the logits' shape.
    pub pos_weight: ArrayD<f64>,
}

impl Default for WeightedCrossEntropyWithLogits {
    fn default() -> Self {
        Self::new(1.0)
    }
}

impl WeightedCrossEntropyWithLogits {
    const NAME: &'static str = "weighted_cross_entropy_with_logits";

    /// The loss with a scalar `pos_weight` (1 gives [`SigmoidCrossEntropyWithLogits`]), no reduction.
    pub fn new(pos_weight: f64) -> Self {
        WeightedCrossEntropyWithLogits { reduction: Reduction::None, pos_weight: ArrayD::from_elem(IxDyn(&[]), pos_weight) }
    }
    /// Sets `pos_weight` to a tensor that broadcasts to the logits' shape.
    #[must_use]
    pub fn pos_weight<T: Float, D: Dimension>(mut self, pos_weight: ArrayView<'_, T, D>) -> Self {
        self.pos_weight = pos_weight.map(|v| v.to_wide()).into_dyn();
        self
    }

    fn eval<T: Float, D: Dimension>(
        &self,
        labels: ArrayView<'_, T, D>,
        logits: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        same_shape(Self::NAME, "logits", logits.shape(), "labels", labels.shape())?;
        // A scalar pos_weight (TensorFlow's usual Python number): no array is made of it.
        let full = match self.pos_weight.ndim() {
            0 => None,
            _ => broadcast_weight(Self::NAME, "pos_weight", Some(&self.pos_weight.view()), logits.shape())?,
        };
        let scalar = self.pos_weight.iter().next().copied().unwrap_or(1.0);
        let full = full.as_deref();
        let q = move |i: usize| full.map_or(scalar, |f| f[i]);
        eval_pointwise(
            Self::NAME,
            Pairing::Same,
            ("logits", &logits),
            ("labels", &labels),
            self.reduction,
            up,
            true,
            |i, x, z| (1.0 - z) * x + (1.0 + (q(i) - 1.0) * z) * (logistic(x).tail + (-x).max(0.0)),
            |i, x, z| {
                let lw = 1.0 + (q(i) - 1.0) * z;
                let Logistic { softplus_neg: sp, sigmoid_neg: sig, .. } = logistic(x);
                // TensorFlow's autograd: d|x|/dx = sign(x) = 0 and d relu(−x)/dx = 0 at x = 0.
                let dx = if x == 0.0 { 1.0 - z } else { (1.0 - z) - lw * sig };
                (dx, -x + (q(i) - 1.0) * sp)
            },
        )
    }

    loss_methods!(torch: eval, (labels: float, logits: float), "`input` w.r.t. `logits`, `target` w.r.t. `labels`");
}

/// TensorFlow's `tf.nn.l2_loss(t)`: half the sum of squares.
///
/// ```text
/// ℓ = Σᵢ tᵢ² / 2        ∂ℓ/∂tᵢ = tᵢ
/// ```
///
/// The per-element terms `tᵢ²/2` are reduced by `reduction`, whose default is
/// `Sum`: TensorFlow's own (scalar) output. `None` gives the terms, `Mean` their
/// mean. `Gradients::target` is `None`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::L2Loss;
/// let (loss, g) = L2Loss::new().forward_backward(array![[1.0f32, 2.0], [3.0, 4.0]].view()).unwrap();
/// assert_eq!(loss[[]], 15.0);
/// assert_eq!(g.input, array![[1.0f32, 2.0], [3.0, 4.0]].into_dyn());
/// ```
///
/// # References
/// <https://www.tensorflow.org/api_docs/python/tf/nn/l2_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct L2Loss {
    /// The reduction (default `Sum`: TensorFlow's own output).
    pub reduction: Reduction,
}

impl Default for L2Loss {
    fn default() -> Self {
        L2Loss { reduction: Reduction::Sum }
    }
}

impl L2Loss {
    const NAME: &'static str = "l2_loss";

    /// TensorFlow's semantics: the sum of `t²/2`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction
    );

    fn eval<T: Float, D: Dimension>(&self, t: ArrayView<'_, T, D>, up: &Upstream<'_, T>) -> Result<Eval<T, Gradients<T>>> {
        eval_pointwise(Self::NAME, Pairing::Same, ("t", &t), ("t", &t), self.reduction, up, false, |_, x, _| x * x / 2.0, |_, x, _| (x, 0.0))
    }

    /// The loss (infallible apart from `grad_output`'s shape in `backward`).
    ///
    /// # Errors
    /// None in practice; the `Result` keeps the signature of every loss.
    pub fn forward<T: Float, D: Dimension>(&self, t: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
        Ok(self.eval(t, &Upstream::Skip)?.0)
    }

    /// The gradient of `Σ grad_output · loss` with respect to `t` (in `input`).
    ///
    /// # Errors
    /// [`LossError::Shape`] if `grad_output` does not have the result's shape.
    pub fn backward<T: Float, D: Dimension>(&self, t: ArrayView<'_, T, D>, grad_output: ArrayViewD<'_, T>) -> Result<Gradients<T>> {
        Ok(self.eval(t, &Upstream::Given(grad_output))?.1.expect("gradients requested"))
    }

    /// The loss and its gradient.
    ///
    /// # Errors
    /// None in practice.
    pub fn forward_backward<T: Float, D: Dimension>(&self, t: ArrayView<'_, T, D>) -> Result<(ArrayD<T>, Gradients<T>)> {
        let (v, g) = self.eval(t, &Upstream::Ones)?;
        Ok((v, g.expect("gradients requested")))
    }
}

// ---------------------------------------------------------------------------------------
// free functions

free_fn! {
    /// [`PoissonNllLoss`] with PyTorch's defaults and `reduction`:
    /// `torch.nn.functional.poisson_nll_loss(input, target, reduction=...)`.
    pub fn poisson_nll_loss(input: float, target: float; reduction: Reduction) = PoissonNllLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::poisson_nll_loss(array![0.0f64].view(), array![3.0].view(), losslab::Reduction::Sum).unwrap();
        /// assert_eq!(v[[]], 1.0);
        /// ```
        ///
        /// # References
        /// [`PoissonNllLoss`]: its formula, the reference's semantics and the paper.
    }

    /// [`GaussianNllLoss`] with PyTorch's defaults and `reduction`:
    /// `torch.nn.functional.gaussian_nll_loss(input, target, var, reduction=...)`.
    pub fn gaussian_nll_loss(input: float, target: float, var: float_any; reduction: Reduction) = GaussianNllLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::gaussian_nll_loss(array![1.0f64].view(), array![0.0].view(), array![1.0].view(), losslab::Reduction::Mean).unwrap();
        /// assert_eq!(v[[]], 0.5);
        /// ```
        ///
        /// # References
        /// [`GaussianNllLoss`]: its formula, the reference's semantics and the paper.
    }

    /// [`SigmoidCrossEntropyWithLogits`]: `tf.nn.sigmoid_cross_entropy_with_logits(labels, logits)`.
    pub fn sigmoid_cross_entropy_with_logits(labels: float, logits: float) = SigmoidCrossEntropyWithLogits {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::sigmoid_cross_entropy_with_logits(array![0.0f64].view(), array![0.0].view()).unwrap();
        /// assert!((v[[0]] - 2f64.ln()).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`SigmoidCrossEntropyWithLogits`]: its formula, the reference's semantics and the paper.
    }
}

/// [`WeightedCrossEntropyWithLogits`] with a scalar `pos_weight`:
/// `tf.nn.weighted_cross_entropy_with_logits(labels, logits, pos_weight)`.
///
/// # Errors
/// See [`WeightedCrossEntropyWithLogits`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let v = losslab::weighted_cross_entropy_with_logits(array![1.0f64].view(), array![0.0].view(), 2.0).unwrap();
/// assert!((v[[0]] - 2.0 * 2f64.ln()).abs() < 1e-15);
/// ```
///
/// # References
/// [`WeightedCrossEntropyWithLogits`]: its formula, the reference's semantics and the paper.
pub fn weighted_cross_entropy_with_logits<T: Float, D: Dimension>(
    labels: ArrayView<'_, T, D>,
    logits: ArrayView<'_, T, D>,
    pos_weight: f64,
) -> Result<ArrayD<T>> {
    WeightedCrossEntropyWithLogits::new(pos_weight).forward(labels, logits)
}

free_fn! {
    /// [`LogPoissonLoss`]: `tf.nn.log_poisson_loss(targets, log_input, compute_full_loss)`.
    pub fn log_poisson_loss(targets: float, log_input: float; compute_full_loss: bool) = LogPoissonLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::log_poisson_loss(array![1.0f64].view(), array![0.0].view(), false).unwrap();
        /// assert_eq!(v[[0]], 1.0);
        /// ```
        ///
        /// # References
        /// [`LogPoissonLoss`]: its formula, the reference's semantics and the paper.
    }
}

/// [`L2Loss`]: `tf.nn.l2_loss(t)`, a 0-d array.
///
/// # Examples
/// ```
/// use ndarray::array;
/// assert_eq!(losslab::l2_loss(array![3.0f64, 4.0].view())[[]], 12.5);
/// ```
///
/// # References
/// [`L2Loss`]: its formula, the reference's semantics and the paper.
pub fn l2_loss<T: Float, D: Dimension>(t: ArrayView<'_, T, D>) -> ArrayD<T> {
    L2Loss::new().forward(t).expect("l2_loss has no failure mode")
}

free_fn! {
    /// [`KerasPoisson`]: `keras.losses.poisson(y_true, y_pred)`, one value per sample.
    pub fn keras_poisson(y_true: float, y_pred: float) = KerasPoisson {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::likelihood::keras_poisson(array![[0.0f64, 0.0]].view(), array![[1.0, 3.0]].view()).unwrap();
        /// assert_eq!(v[[0]], 2.0);
        /// ```
        ///
        /// # References
        /// [`KerasPoisson`]: its formula, the reference's semantics and the paper.
    }
}
