//! Margin losses: PyTorch's margin ranking, hinge embedding, soft margin,
//! multi-label soft margin, multi-label margin and multi-class margin losses;
//! Keras's `hinge`, `squared_hinge` and `categorical_hinge`; optax's
//! `multiclass_hinge_loss`, `perceptron_loss` and `multiclass_perceptron_loss`.
//!
//! At a kink (a margin met exactly, or a tie for the largest score) each loss
//! takes its reference's gradient: PyTorch's kernels count a margin term only
//! when it is strictly positive (gradient 0 at the tie); JAX, and so Keras on its
//! JAX backend and optax, gives `maximum(z, 0)` half the gradient at `z = 0` and
//! splits the gradient of a `max` equally among tied maxima.

use crate::machinery::broadcast::Broadcast;
use crate::machinery::error::{same_shape, shape_err, unravel, LossError, Result};
use crate::machinery::float::{widen, ClassIndex, Float};
use crate::machinery::kernels::elementwise::{logistic, BceLogits, ElemOp, Lanes as SweepLanes};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use crate::machinery::kernels::rows::{lane_sum, lane_sum2_store, lane_sum_zip};
use crate::machinery::lanes::{eval_lanes, eval_lanes_then, eval_mean_rows_op, eval_pointwise, eval_pointwise_op, eval_rows, eval_triple, inlined, last_axis, sum_lane, Eval, Lanes, Pairing, RowGrads, Upstream};
use crate::math::{log_sigmoid_f64, sigmoid_f64};
use crate::machinery::pointwise::Pointwise;
use crate::machinery::reduction::{sum_f64, Gradients, Reducer, Reduction};
use ndarray::{ArrayD, ArrayView, ArrayView1, ArrayViewD, Dimension};
use crate::machinery::methods::{free_fn, loss_methods, setters};

/// The gradient factor JAX gives `maximum(z, 0)`: 1 above, ½ at the tie, 0 below.
#[inline(always)]
fn jax_relu_grad(z: f64) -> f64 {
    if z > 0.0 {
        1.0
    } else if z == 0.0 {
        0.5
    } else {
        0.0
    }
}

/// `max(z, 0)` with NaN propagated (as `clamp_min` and `jnp.maximum` do).
#[inline(always)]
fn relu(z: f64) -> f64 {
    if z.is_nan() { z } else { z.max(0.0) }
}

/// The maximum of a lane and how many entries attain it (JAX splits a `max`'s
/// gradient equally among them).
fn max_and_ties(v: &[f64]) -> (f64, usize) {
    let m = crate::math::max_nan(v.iter().copied());
    (m, v.iter().filter(|&&x| x == m).count().max(1))
}


/// PyTorch's layout of the per-row margin losses, 0-d included: a 0-d input is
/// one sample of one class, `(C,)` one sample, `(N, C)` N samples (`C ≥ 1`).
/// Returns `(N, C)`.
fn torch_rows_0d(loss: &'static str, shape: &[usize]) -> Result<(usize, usize)> {
    match *shape {
        [] => Ok((1, 1)),
        [c] if c > 0 => Ok((1, c)),
        [n, c] if c > 0 => Ok((n, c)),
        _ => Err(shape_err(
            loss,
            "input",
            "(), (C,) or (N, C) with C >= 1 (a scalar, or a non-empty vector or matrix)",
            shape,
        )),
    }
}

// ---------------------------------------------------------------------------------------
// PyTorch

/// The gradients of [`MarginRankingLoss`], one per float tensor.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MarginRankingGradients<T> {
    /// With respect to `input1`.
    pub input1: ArrayD<T>,
    /// With respect to `input2`.
    pub input2: ArrayD<T>,
    /// With respect to `target`.
    pub target: ArrayD<T>,
}

/// Margin ranking loss, `torch.nn.functional.margin_ranking_loss`: `input1`
/// should rank above `input2` where `target = 1`, below where `target = −1`.
///
/// ```text
/// ℓᵢ = max(0, −yᵢ (x1ᵢ − x2ᵢ) + margin)
/// where the term is > 0:  ∂ℓ/∂x1 = −y   ∂ℓ/∂x2 = y   ∂ℓ/∂y = −(x1 − x2);   0 elsewhere
/// ```
///
/// A pair exactly at the margin (`−y (x1 − x2) + margin = 0`) has gradient 0,
/// as PyTorch's. The three tensors have one rank and broadcast together, as
/// PyTorch's (the result has the broadcast shape; each gradient is summed back
/// to its tensor's shape).
///
/// The gradients are PyTorch's autograd's through `clamp_min(−y·(x1 − x2) + margin, 0)`:
/// with `g` the upstream gradient where the term is `> 0` and 0 elsewhere (a NaN
/// term included), `∂/∂x1 = g·(−y)`, `∂/∂x2 = −(g·(−y))`, `∂/∂y = −(g·(x1 − x2))`;
/// so a NaN term gives 0 for `input1`/`input2` (NaN where `y` is ±∞ or NaN: `0·∞`),
/// and `target`'s gradient is NaN where 0 meets `x1 − x2 = ±∞` or NaN.
///
/// Three tensors of one shape, contiguous, take the machinery's fused
/// three-operand sweep (value and the three gradients in one parallel pass in
/// their own type, bit-identical whatever the thread count); broadcast or
/// strided ones are widened to `f64`; each element by the same formula.
///
/// # Errors
/// [`LossError::Shape`] if the tensors differ in rank (PyTorch: "All input
/// tensors should have same dimension") or do not broadcast.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::MarginRankingLoss;
/// let (a, b, y) = (array![1.0f64, 0.0], array![0.0f64, 0.5], array![1.0f64, 1.0]);
/// let (loss, g) = MarginRankingLoss::new().margin(1.0).forward_backward(a.view(), b.view(), y.view()).unwrap();
/// assert_eq!(loss[[]], (0.0 + 1.5) / 2.0);
/// assert_eq!(g.input1, array![-0.0, -0.5].into_dyn()); // the first pair sits exactly at the margin
/// ```
///
/// # References
/// <https://pytorch.org/docs/stable/generated/torch.nn.MarginRankingLoss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MarginRankingLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// The margin (default 0).
    pub margin: f64,
}

impl Default for MarginRankingLoss {
    fn default() -> Self {
        MarginRankingLoss { reduction: Reduction::Mean, margin: 0.0 }
    }
}

impl MarginRankingLoss {
    const NAME: &'static str = "margin_ranking_loss";

    /// PyTorch's defaults: `Mean`, `margin = 0`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the margin.
        margin: f64
    );

    fn eval<T: Float, D: Dimension>(
        &self,
        input1: ArrayView<'_, T, D>,
        input2: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, MarginRankingGradients<T>>> {
        for (name, t) in [("input2", input2.shape()), ("target", target.shape())] {
            if t.len() != input1.ndim() {
                return Err(shape_err(
                    Self::NAME,
                    name,
                    format!("{} dimensions, as `input1` {:?} (PyTorch: All input tensors should have same dimension)", input1.ndim(), input1.shape()),
                    t,
                ));
            }
        }
        let margin = self.margin;
        // One element: the loss and its gradients scaled by the upstream
        // gradient `s`, in PyTorch's autograd's order through
        // clamp_min(−y·(x1 − x2) + margin, 0): it passes `s` where the term is
        // > 0 and 0 elsewhere (NaN too); the products follow.
        let elem = inlined(#[inline(always)] move |a: f64, b: f64, y: f64, s: f64| {
            let z = -y * (a - b) + margin;
            let g = if z > 0.0 { s } else { 0.0 };
            (relu(z), [g * -y, -(g * -y), -(g * (a - b))])
        });
        let grads = |[g1, g2, gy]: [Option<ArrayD<T>>; 3]| MarginRankingGradients {
            input1: g1.expect("the gradients of the three"),
            input2: g2.expect("the gradients of the three"),
            target: gy.expect("the gradients of the three"),
        };
        if input2.shape() == input1.shape() && target.shape() == input1.shape() {
            if let (Some(a), Some(b), Some(y)) = (input1.as_slice(), input2.as_slice(), target.as_slice()) {
                let fused = eval_triple(Self::NAME, input1.shape(), (a, b, y), self.reduction, up, [true; 3], #[inline(always)] |a: T, b: T, y: T, s| {
                    elem(a.to_wide(), b.to_wide(), y.to_wide(), s)
                })?;
                if let Some((value, g)) = fused {
                    return Ok((value, g.map(grads)));
                }
            }
        }
        let bc = Broadcast::new(
            Self::NAME,
            &[
                ("input1", input1.shape()),
                ("input2", input2.shape()),
                ("target", target.shape()),
            ],
        )?;
        let shape = bc.shape.clone();
        let (a, b, y) = (
            bc.expand(0, &input1),
            bc.expand(1, &input2),
            bc.expand(2, &target),
        );
        let reducer = Reducer::counting(self.reduction, &shape, &shape);
        let scales = up.scales(Self::NAME, &reducer)?;
        let value = reducer.output((0..a.len()).map(|i| elem(a[i], b[i], y[i], 0.0).0).collect());
        let grads = scales.map(|s| {
            let n = a.len();
            let (mut g1, mut g2, mut gy) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            for i in 0..n {
                [g1[i], g2[i], gy[i]] = elem(a[i], b[i], y[i], s.at(i)).1;
            }
            MarginRankingGradients {
                input1: bc.reduce(0, g1),
                input2: bc.reduce(1, g2),
                target: bc.reduce(2, gy),
            }
        });
        Ok((value, grads))
    }

    loss_methods!(torch: eval -> MarginRankingGradients<T>, (input1: float, input2: float, target: float), "with respect to `input1`, `input2` and `target`");
}

/// Hinge embedding loss, `torch.nn.functional.hinge_embedding_loss`: `input` is
/// a distance, small for similar pairs (`target = 1`), at least `margin` for
/// dissimilar ones (`target = −1`).
///
/// ```text
/// ℓᵢ = [yᵢ ≠ 1] · max(0, margin − xᵢ) + [yᵢ ≠ −1] · xᵢ
/// ∂ℓ/∂x = −[yᵢ ≠ 1][margin − xᵢ > 0] + [yᵢ ≠ −1]
/// ```
///
/// PyTorch's own semantics for a target that is neither 1 nor −1: both terms
/// apply. A dissimilar pair exactly at the margin has gradient 0. The target is
/// not differentiated (`Gradients::target` is `None`).
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast (they broadcast together as
/// PyTorch's: the result has the broadcast shape).
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::{HingeEmbeddingLoss, Reduction};
/// let loss = HingeEmbeddingLoss::new().reduction(Reduction::None)
///     .forward(array![0.3f64, 0.25, 2.0].view(), array![1.0f64, -1.0, -1.0].view()).unwrap();
/// assert_eq!(loss, array![0.3, 0.75, 0.0].into_dyn());
/// ```
///
/// # References
/// <https://pytorch.org/docs/stable/generated/torch.nn.HingeEmbeddingLoss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HingeEmbeddingLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// The margin (default 1.0).
    pub margin: f64,
}

impl Default for HingeEmbeddingLoss {
    fn default() -> Self {
        HingeEmbeddingLoss { reduction: Reduction::Mean, margin: 1.0 }
    }
}

impl HingeEmbeddingLoss {
    const NAME: &'static str = "hinge_embedding_loss";

    /// PyTorch's defaults: `Mean`, `margin = 1`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the margin.
        margin: f64
    );

    fn eval<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        let m = self.margin;
        eval_pointwise(
            Self::NAME,
            Pairing::Broadcast,
            ("input", &input),
            ("target", &target),
            self.reduction,
            up,
            false,
            |_, x, y| {
                let neg = if y != 1.0 { relu(m - x) } else { 0.0 };
                let pos = if y != -1.0 { x } else { 0.0 };
                neg + pos
            },
            |_, x, y| {
                // PyTorch's autograd through where(y != 1, clamp_min(m − x, 0), 0):
                // the clamp passes the gradient where m − x > 0 only (not at NaN).
                let neg = if y != 1.0 && m - x > 0.0 { -1.0 } else { 0.0 };
                let pos = if y != -1.0 { 1.0 } else { 0.0 };
                (neg + pos, 0.0)
            },
        )
    }

    loss_methods!(torch: eval, (input: float, target: float), "`input` w.r.t. `input` (`target`: `None`)");
}

/// Soft margin loss, `torch.nn.functional.soft_margin_loss`: two-class logistic
/// loss with targets ±1.
///
/// ```text
/// ℓᵢ = log(1 + exp(−yᵢ xᵢ)) = softplus(−yᵢ xᵢ)        ∂ℓ/∂x = −y σ(−y x)
/// ```
///
/// PyTorch evaluates `log1p(exp(−y x))` as written, which overflows to `inf`
/// (and a NaN gradient) once `−y x > 709` in float64 (`88` in float32); losslab
/// evaluates the softplus stably and stays exact there (`ℓ = −y x`, gradient
/// `−y`) for finite inputs; where `input` or `target` is NaN or ±∞ the gradient
/// is PyTorch's kernel's, `−y·z/(1 + z)` with `z = exp(−y x)` (NaN where `z = ∞`).
/// The target is not differentiated (`Gradients::target` is `None`). `target`
/// broadcasts to `input`'s shape, which the result keeps (PyTorch computes in
/// place in a tensor of `input`'s shape, so an `input` that would have to grow
/// is an error there too).
///
/// # Errors
/// [`LossError::Shape`] if `target` does not broadcast to `input`'s shape.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::SoftMarginLoss;
/// let loss = SoftMarginLoss::new().forward(array![0.0f64, -1e4].view(), array![1.0f64, 1.0].view()).unwrap();
/// assert!((loss[[]] - (2f64.ln() + 1e4) / 2.0).abs() < 1e-12); // PyTorch: inf
/// ```
///
/// # References
/// <https://pytorch.org/docs/stable/generated/torch.nn.SoftMarginLoss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SoftMarginLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
}

impl Default for SoftMarginLoss {
    fn default() -> Self {
        SoftMarginLoss { reduction: Reduction::Mean }
    }
}

/// PyTorch's soft margin loss as an element-wise op (`x` the input, `y` the
/// target): `(softplus(−y x), −y σ(−y x), 0)`; for a non-finite input or
/// target, the gradient as PyTorch's kernel writes it, `−y·z / (1 + z)` with
/// `z = exp(−y x)` (∞, 0 or NaN there: NaN where `z = ∞` or `y·z = ∞·0`).
/// The portable loop computes in `f64` (no libm call); `f32` inputs on
/// AVX-512 in 16 `f32` lanes, `softplus(t) = max(t, 0) + log1p(exp(−|t|))`,
/// `σ(t) = 1/(1 + e)` or `e/(1 + e)` with BCE with logits' exp, log1p and
/// reciprocal.
#[derive(Clone, Copy)]
struct SoftMargin;

impl ElemOp for SoftMargin {
    #[inline(always)]
    fn eval(self, x: f64, y: f64) -> (f64, f64, f64) {
        let lg = logistic(-y * x);
        let dx = if x.is_finite() && y.is_finite() {
            -y * lg.sigmoid
        } else {
            // −y x is ±∞ or NaN here, so z is ∞, 0 or NaN (no libm call: the
            // loop stays vectorisable).
            let t = -y * x;
            let z = if t > 0.0 { f64::INFINITY } else if t < 0.0 { 0.0 } else { f64::NAN };
            -(y * z) / (1.0 + z)
        };
        (lg.softplus, dx, 0.0)
    }

    const LANES512: SweepLanes = SweepLanes::F32;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_ps(self, x: __m512, y: __m512) -> (__m512, __m512, __m512) {
        use crate::machinery::kernels::elementwise::x86::{exp_ps, log1p_unit_ps, recip_ps};
        let (zero, one) = (_mm512_setzero_ps(), _mm512_set1_ps(1.0));
        let neg_y = _mm512_sub_ps(zero, y);
        let t = _mm512_mul_ps(neg_y, x);
        let e = exp_ps(_mm512_sub_ps(zero, _mm512_abs_ps(t)));
        // max(0, t) returns t where t is NaN.
        let value = _mm512_add_ps(_mm512_max_ps(zero, t), log1p_unit_ps(e));
        let r = recip_ps(_mm512_add_ps(one, e));
        let nonneg = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(t, zero);
        let sig = _mm512_mask_blend_ps(nonneg, _mm512_mul_ps(e, r), r);
        let dx = _mm512_mul_ps(neg_y, sig);
        // A non-finite x or y (x · 0 is NaN exactly there): PyTorch's form.
        let odd = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(_mm512_mul_ps(_mm512_mul_ps(x, y), zero), zero);
        let dx = if odd != 0 {
            let gt = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(t, zero);
            let lt = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(t, zero);
            let z = _mm512_mask_mov_ps(_mm512_mask_mov_ps(_mm512_set1_ps(f32::NAN), gt, _mm512_set1_ps(f32::INFINITY)), lt, zero);
            let special = _mm512_div_ps(_mm512_mul_ps(neg_y, z), _mm512_add_ps(one, z));
            _mm512_mask_mov_ps(dx, odd, special)
        } else {
            dx
        };
        (value, dx, zero)
    }
}

impl SoftMarginLoss {
    const NAME: &'static str = "soft_margin_loss";

    /// PyTorch's defaults: `Mean`.
    pub fn new() -> Self {
        Self::default()
    }

    fn eval<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        let op = SoftMargin;
        eval_pointwise_op(
            Self::NAME,
            Pairing::ToFirst,
            ("input", &input),
            ("target", &target),
            self.reduction,
            up,
            false,
            op,
            #[inline(always)] move |_, x, y| op.eval(x, y).0,
            #[inline(always)] move |_, x, y| (op.eval(x, y).1, 0.0),
        )
    }

    loss_methods!(torch: eval, (input: float, target: float), "`input` w.r.t. `input` (`target`: `None`)");
}

/// Multi-label soft margin loss, `torch.nn.functional.multilabel_soft_margin_loss`:
/// one binary logistic loss per class, averaged over the classes (the last axis).
///
/// ```text
/// ℓₛ = (1/C) Σ_c w_c · −( y_c log σ(x_c) + (1 − y_c) log σ(−x_c) )
/// ∂ℓₛ/∂x_c = w_c (σ(x_c) − y_c) / C        ∂ℓₛ/∂y_c = −w_c x_c / C
/// ```
///
/// `input` is `(…, C)`; `target` and `weight` (usually `(C,)`) broadcast with
/// it as PyTorch broadcasts them (all three together). As PyTorch, the
/// element-wise losses, in the broadcast shape, are summed over axis
/// `input.ndim − 1` of that shape and divided by `C`, the input's last size:
/// with a target or weight of no more axes than the input, the result has one
/// value per sample (the broadcast shape without its last axis). `Mean`
/// averages over the results. Gradients are summed back to each tensor's
/// shape; [`backward_with_weight`](Self::backward_with_weight) also gives the
/// weight's (PyTorch's autograd differentiates it).
///
/// # Errors
/// [`LossError::Shape`] for an input without axes, or tensors that do not
/// broadcast.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::MultilabelSoftMarginLoss;
/// let loss = MultilabelSoftMarginLoss::new().forward(array![[0.0f64, 0.0]].view(), array![[1.0f64, 0.0]].view()).unwrap();
/// assert!((loss[[]] - 2f64.ln()).abs() < 1e-15);
/// ```
///
/// # References
/// <https://pytorch.org/docs/stable/generated/torch.nn.MultiLabelSoftMarginLoss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MultilabelSoftMarginLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// Weights, broadcast with the input and target (default none).
    pub weight: Option<ArrayD<f64>>,
}

impl Default for MultilabelSoftMarginLoss {
    fn default() -> Self {
        MultilabelSoftMarginLoss { reduction: Reduction::Mean, weight: None }
    }
}

impl MultilabelSoftMarginLoss {
    const NAME: &'static str = "multilabel_soft_margin_loss";

    /// PyTorch's defaults: `Mean`, no weight.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the weights (broadcast with the input and target).
    #[must_use]
    pub fn weight<T: Float, D: Dimension>(mut self, weight: ArrayView<'_, T, D>) -> Self {
        self.weight = Some(weight.map(|v| v.to_wide()).into_dyn());
        self
    }

    fn eval<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        let (value, grads) = self.run(input, target, up)?;
        Ok((value, grads.map(|(g, _)| g)))
    }

    /// The value and, for an upstream gradient, the gradients with respect to
    /// `input`, `target` and the weight (where one is set), as PyTorch's autograd
    /// gives them through `loss * weight`, `.sum(class_dim) / C`.
    #[allow(clippy::type_complexity)]
    fn run<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, (Gradients<T>, Option<ArrayD<T>>)>> {
        // PyTorch: the element-wise loss (input, target and weight broadcast
        // together), summed over axis `input.dim() − 1` of the broadcast result and
        // divided by C, the input's last size.
        if self.weight.is_none() {
            // The fused row sweep: per row, the element-wise loop of BCE with
            // logits (the same element-wise loss) over its C elements, loss
            // and gradients in one pass, its sum divided by C.
            if let Some(done) = eval_mean_rows_op(Self::NAME, ("input", &input), &target, self.reduction, up, BceLogits)? {
                return Ok((done.0, done.1.map(|g| (g, None))));
            }
        }
        let (_, c, _) = last_axis(Self::NAME, "input", input.shape())?;
        let w = self.weight.as_ref();
        let mut operands = vec![("input", input.shape()), ("target", target.shape())];
        if let Some(w) = w {
            operands.push(("weight", w.shape()));
        }
        let bc = Broadcast::new(Self::NAME, &operands)?;
        let lanes = Lanes::new(Self::NAME, "input", &bc.shape, input.ndim() as isize - 1)?;
        let (x, y) = (bc.expand(0, &input), bc.expand(1, &target));
        let w = w.map(|w| bc.expand(2, &w.view()));
        let wk = |k: usize| w.as_ref().map_or(1.0, |w| w[k]);
        let cf = c as f64;
        // The unweighted element-wise loss.
        let l = |k: usize| -(y[k] * log_sigmoid_f64(x[k]) + (1.0 - y[k]) * log_sigmoid_f64(-x[k]));
        let reducer = Reducer::counting(self.reduction, &lanes.out_shape, &bc.shape);
        let scales = up.scales(Self::NAME, &reducer)?;
        let value = reducer.output(
            (0..lanes.count())
                .map(|s| sum_f64((0..lanes.len).map(|j| lanes.at(s, j)).map(|k| l(k) * wk(k))) / cf)
                .collect(),
        );
        let grads = scales.map(|sc| {
            let n = bc.len();
            let (mut gx, mut gy) = (vec![0.0; n], vec![0.0; n]);
            let mut gw = vec![0.0; if w.is_some() { n } else { 0 }];
            for s in 0..lanes.count() {
                let up = sc.at(s);
                for j in 0..lanes.len {
                    let k = lanes.at(s, j);
                    let g = up * wk(k) / cf;
                    gx[k] = g * (sigmoid_f64(x[k]) - y[k]);
                    gy[k] = g * (log_sigmoid_f64(-x[k]) - log_sigmoid_f64(x[k]));
                    if w.is_some() {
                        gw[k] = up / cf * l(k);
                    }
                }
            }
            let gw = w.is_some().then(|| bc.reduce(2, gw));
            (Gradients { input: bc.reduce(0, gx), target: Some(bc.reduce(1, gy)) }, gw)
        });
        Ok((value, grads))
    }

    /// The gradients of `Σ grad_output · loss` with respect to `input` and
    /// `target` ([`backward`](Self::backward)'s) and with respect to the weight,
    /// in its own shape (`None` where no weight is set): PyTorch's autograd
    /// differentiates the weight, `∂ℓₛ/∂w_c = ℓₛ,c / C` with `ℓₛ,c` the unweighted
    /// binary loss, summed over the elements that read each weight.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    #[allow(clippy::type_complexity)]
    pub fn backward_with_weight<T: Float, D: Dimension>(
        &self,
        input: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<(Gradients<T>, Option<ArrayD<T>>)> {
        Ok(self.run(input, target, &Upstream::Given(grad_output))?.1.expect("gradients requested"))
    }

    loss_methods!(torch: eval, (input: float, target: float), "`input` w.r.t. `input`, `target` w.r.t. `target`");
}

/// Multi-label margin loss, `torch.nn.functional.multilabel_margin_loss`: every
/// target class should score at least 1 above every non-target class.
///
/// ```text
/// ℓₛ = Σ_{j ∈ targets} Σ_{i ∉ targets} max(0, 1 − (x[yⱼ] − x[i])) / C
/// ```
///
/// `input` is `()` (one class: the loss is 0, with gradient 0, as PyTorch's),
/// `(C,)` or `(N, C)`; `target` holds class indices of the same shape (for a
/// 0-d or `(C,)` input, any C entries in a 0-d or 1-d target, as PyTorch): each sample's targets are its entries up to the first −1 (the rest is
/// ignored, but must still lie in `[−1, C)`). A target class listed twice counts
/// twice. A term exactly at the margin has gradient 0, as in PyTorch's kernel.
/// The result has one value per sample. `Mean` divides by `N`.
///
/// # Errors
/// [`LossError::Shape`] for an input that is not a non-empty vector or matrix,
/// or a target of another shape; [`LossError::Domain`] for a target entry
/// outside `[−1, C)` (PyTorch: "argument #2 'target' is out of range").
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::MultilabelMarginLoss;
/// let x = array![[0.1f64, 0.2, 0.4, 0.8]];
/// let loss = MultilabelMarginLoss::new().forward(x.view(), array![[3i64, 0, -1, 1]].view()).unwrap();
/// assert!((loss[[]] - 0.85).abs() < 1e-15);
/// ```
///
/// # References
/// <https://pytorch.org/docs/stable/generated/torch.nn.MultiLabelMarginLoss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MultilabelMarginLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
}

impl Default for MultilabelMarginLoss {
    fn default() -> Self {
        MultilabelMarginLoss { reduction: Reduction::Mean }
    }
}

impl MultilabelMarginLoss {
    const NAME: &'static str = "multilabel_margin_loss";

    /// PyTorch's defaults: `Mean`.
    pub fn new() -> Self {
        Self::default()
    }

    fn eval<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, L, D2>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        let (n, c) = torch_rows_0d(Self::NAME, input.shape())?;
        // PyTorch: a 0-d or (C,) input takes a target of C entries, 0-d or 1-d;
        // an (N, C) input a target of its shape. One result per row, 0-d for one sample.
        let out = if input.ndim() == 2 { vec![n] } else { vec![] };
        if let Some(done) = self.fused(&input, &target, (n, c), &out, up)? {
            return Ok(done);
        }
        if input.ndim() == 2 || target.ndim() > 1 || target.len() != c {
            same_shape(Self::NAME, "input", input.shape(), "target", target.shape())?;
        }
        let t: Vec<i64> = target.iter().map(|l| l.index()).collect();
        if let Some(i) = t.iter().position(|&l| l < -1 || l >= c as i64) {
            return Err(LossError::Domain {
                loss: Self::NAME,
                tensor: "target",
                value: t[i] as f64,
                position: unravel(i, target.shape()),
                expected: "a class index in [0, C) or -1 (which ends the sample's targets)",
            });
        }
        let x = widen(&input);
        // Per sample: the target classes (with repeats) and which classes are targets.
        let rows: Vec<(Vec<usize>, Vec<bool>)> = (0..n)
            .map(|s| {
                let ts: Vec<usize> = t[s * c..(s + 1) * c].iter().take_while(|&&l| l >= 0).map(|&l| l as usize).collect();
                let mut is = vec![false; c];
                ts.iter().for_each(|&j| is[j] = true);
                (ts, is)
            })
            .collect();
        let cf = c as f64;
        eval_lanes(
            Self::NAME,
            input.shape(),
            n,
            c,
            &out,
            self.reduction,
            up,
            false,
            |s, _| {
                let (ts, is) = &rows[s];
                let xs = &x[s * c..(s + 1) * c];
                crate::machinery::reduction::sum_f64(ts.iter().flat_map(|&j| {
                    (0..c).filter(|&i| !is[i]).map(move |i| relu(1.0 - (xs[j] - xs[i])))
                })) / cf
            },
            |s, sc, gx, _| {
                let (ts, is) = &rows[s];
                let base = s * c;
                for &j in ts {
                    for i in (0..c).filter(|&i| !is[i]) {
                        if 1.0 - (x[base + j] - x[base + i]) > 0.0 {
                            gx[base + j] -= sc / cf;
                            gx[base + i] += sc / cf;
                        }
                    }
                }
            },
        )
    }

    /// The machinery's row sweep for a contiguous input and a contiguous,
    /// valid target of the shape PyTorch takes, at most [`Self::FUSED_MAX_C`]
    /// classes: per row the targets' set in a bitset on the stack, the loss
    /// (the general path's pairs in its order, compensated) and the gradient as
    /// signed counts of the active pairs kept in the row's own gradient (exact
    /// integers in `f32` for these sizes), scaled once; rows in parallel in the
    /// input's own type. `None` for every other case, which the general path
    /// takes (and whose errors it reports).
    fn fused<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: &ArrayView<'_, T, D1>,
        target: &ArrayView<'_, L, D2>,
        (n, c): (usize, usize),
        out: &[usize],
        up: &Upstream<'_, T>,
    ) -> Result<Option<Eval<T, Gradients<T>>>> {
        let shaped = if input.ndim() == 2 { target.shape() == input.shape() } else { target.ndim() <= 1 && target.len() == c };
        if !shaped || c > Self::FUSED_MAX_C || n * c == 0 {
            return Ok(None);
        }
        let (Some(xs), Some(ts)) = (input.as_slice(), target.as_slice()) else { return Ok(None) };
        if ts.iter().any(|&l| l.index() < -1 || l.index() >= c as i64) {
            return Ok(None);
        }
        let reducer = Reducer::counting(self.reduction, out, input.shape());
        let cf = c as f64;
        Ok(Some(eval_rows(Self::NAME, &reducer, input.shape(), (n, c), up, false, |r: usize, g: Option<RowGrads<'_, T>>| {
            let (x, t) = (&xs[r * c..(r + 1) * c], &ts[r * c..(r + 1) * c]);
            let mut is = [0u64; Self::FUSED_MAX_C / 64];
            let mut nt = 0;
            for &l in t {
                let l = l.index();
                if l < 0 {
                    break;
                }
                is[l as usize / 64] |= 1 << (l as usize % 64);
                nt += 1;
            }
            let target = |i: usize| (is[i / 64] >> (i % 64)) & 1 != 0;
            let mut sum = crate::machinery::reduction::Neumaier::default();
            let mut g = g;
            for &j in &t[..nt] {
                let j = j.index() as usize;
                let xj = x[j].to_wide();
                let mut count = 0.0f64;
                for (i, xi) in x.iter().enumerate() {
                    if target(i) {
                        continue;
                    }
                    let m = 1.0 - (xj - xi.to_wide());
                    sum.add(relu(m));
                    if let Some(g) = g.as_mut() {
                        if m > 0.0 {
                            g.gx[i] = T::from_wide(g.gx[i].to_wide() + 1.0);
                            count += 1.0;
                        }
                    }
                }
                if let Some(g) = g.as_mut() {
                    g.gx[j] = T::from_wide(g.gx[j].to_wide() - count);
                }
            }
            if let Some(g) = g {
                let f = g.up / cf;
                for v in g.gx.iter_mut() {
                    *v = T::from_wide(v.to_wide() * f);
                }
            }
            sum.total() / cf
        })?))
    }

    /// The most classes of [`Self::fused`] (its bitset's; counts of at most
    /// `C²` pairs stay exact in `f32`).
    const FUSED_MAX_C: usize = 4096;

    loss_methods!(torch: eval, (input: float, target: labels), "`input` w.r.t. `input` (`target`: `None`)");
}

/// Multi-class margin loss, `torch.nn.functional.multi_margin_loss`: the
/// multi-class SVM loss of Weston and Watkins.
///
/// ```text
/// ℓₛ = Σ_{i ≠ y} w[y] · max(0, margin − x[y] + x[i])^p / C          p ∈ {1, 2}
/// ```
///
/// `input` is `()` (one sample of one class, as PyTorch: its loss is 0, with
/// gradient 0), `(C,)` or `(N, C)`; `target` holds N class indices, `()` or
/// `(N,)` (`(1,)` for one sample: the unreduced result then has shape `(1,)`,
/// as PyTorch's, and `()` for a 0-d target); `weight`
/// (optional) one weight per class, applied outside the power (as PyTorch's
/// kernel does, whatever its docs' formula says). A term exactly at the margin
/// has gradient 0. `Mean` divides by `N`, not by the weights.
///
/// # Errors
/// [`LossError::Shape`] for an input that is not a non-empty vector or matrix, a
/// target or weight of the wrong shape; [`LossError::ClassIndex`] for a target
/// outside `[0, C)`; [`LossError::Option`] for `p` other than 1 or 2.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::MultiMarginLoss;
/// let x = array![[0.1f64, 0.2, 0.4, 0.8]];
/// let loss = MultiMarginLoss::new().forward(x.view(), array![3usize].view()).unwrap();
/// assert!((loss[[]] - (0.3 + 0.4 + 0.6) / 4.0).abs() < 1e-15);
/// ```
///
/// # References
/// J. Weston and C. Watkins, "Support Vector Machines for Multi-Class Pattern
/// Recognition", ESANN 1999; <https://pytorch.org/docs/stable/generated/torch.nn.MultiMarginLoss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MultiMarginLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// The power, 1 or 2 (default 1).
    pub p: i64,
    /// The margin (default 1.0).
    pub margin: f64,
    /// One weight per class (default none).
    pub weight: Option<Vec<f64>>,
}

impl Default for MultiMarginLoss {
    fn default() -> Self {
        MultiMarginLoss { reduction: Reduction::Mean, p: 1, margin: 1.0, weight: None }
    }
}

/// One row of [`MultiMarginLoss`] (`P2`: `p = 2`): its loss
/// `w Σ_{i≠y} max(0, m − x[y] + x[i])^p / C` and, with `g`, its gradient
/// (`d_i = up · w / C` or `2 z · up · w / C` where `z > 0`, `−Σ d_i` at `y`)
/// in one pass; the general path's formulas, the sums in lanes.
#[inline(always)]
fn multi_margin_row<T: Float, const P2: bool>(xr: &[T], y: usize, m: f64, w: f64, cf: f64, g: Option<RowGrads<'_, T>>) -> f64 {
    let base = m - xr[y].to_wide();
    let term = |z: f64| {
        let t = if z > 0.0 { if P2 { z * z } else { z } } else { 0.0 };
        // relu(z) below the margin: 0, or NaN.
        if z.is_nan() { z } else { t }
    };
    let (lo, hi) = (&xr[..y], &xr[y + 1..]);
    match g {
        None => {
            let f = |x: f64| term(base + x);
            (lane_sum(lo, f) + lane_sum(hi, f)) * w / cf
        }
        Some(g) => {
            let gs = g.up * w / cf;
            let f = |x: f64| {
                let z = base + x;
                let d = if z > 0.0 { if P2 { 2.0 * z * gs } else { gs } } else { 0.0 };
                (term(z), d, d)
            };
            let (glo, rest) = g.gx.split_at_mut(y);
            let (gy, ghi) = rest.split_first_mut().expect("the target's element");
            let (l0, d0) = lane_sum2_store(lo, glo, f);
            let (l1, d1) = lane_sum2_store(hi, ghi, f);
            *gy = T::from_wide(0.0 - (d0 + d1));
            (l0 + l1) * w / cf
        }
    }
}

impl MultiMarginLoss {
    const NAME: &'static str = "multi_margin_loss";

    /// PyTorch's defaults: `Mean`, `p = 1`, `margin = 1`, no weight.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets `p` (1 or 2).
        p: i64,
        /// Sets the margin.
        margin: f64
    );
    /// Sets the class weights.
    #[must_use]
    pub fn weight<T: Float>(mut self, weight: ArrayView1<'_, T>) -> Self {
        self.weight = Some(weight.iter().map(|v| v.to_wide()).collect());
        self
    }

    fn eval<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        target: ArrayView<'_, L, D2>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        if self.p != 1 && self.p != 2 {
            return Err(LossError::Option {
                loss: Self::NAME,
                option: "p",
                value: self.p.to_string(),
                expected: "1 or 2 (PyTorch: only p == 1 and p == 2 supported)".into(),
            });
        }
        let (n, c) = torch_rows_0d(Self::NAME, input.shape())?;
        // PyTorch: a target of N class indices, 0-d or 1-d; the unreduced result
        // has the target's rank ((N,), or 0-d for a 0-d target).
        if target.ndim() > 1 || target.len() != n {
            let rows = if input.ndim() == 2 {
                format!("[{n}]")
            } else {
                "[] or [1]".to_string()
            };
            return Err(shape_err(
                Self::NAME,
                "target",
                format!("{rows} (one class index per row of `input`)"),
                target.shape(),
            ));
        }
        let out = if target.ndim() == 1 { vec![n] } else { vec![] };
        if let Some(w) = &self.weight {
            if w.len() != c {
                return Err(shape_err(Self::NAME, "weight", format!("[{c}] (one weight per class)"), &[w.len()]));
            }
        }
        for (i, l) in target.iter().enumerate() {
            let l = l.index();
            if l < 0 || l >= c as i64 {
                return Err(LossError::ClassIndex {
                    loss: Self::NAME,
                    tensor: "target",
                    index: l,
                    position: unravel(i, target.shape()),
                    classes: c,
                    ignore_index: None,
                });
            }
        }
        let (m, p2, cf) = (self.margin, self.p == 2, c as f64);
        if let (Some(xs), Some(labels)) = (input.as_slice(), target.as_slice()) {
            // The fused row sweep: each row's loss and gradient in one pass.
            let reducer = Reducer::counting(self.reduction, &out, input.shape());
            return eval_rows(Self::NAME, &reducer, input.shape(), (n, c), up, false, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
                let y = labels[r].index() as usize;
                let (xr, w) = (&xs[r * c..(r + 1) * c], self.weight.as_ref().map_or(1.0, |w| w[y]));
                if p2 {
                    multi_margin_row::<T, true>(xr, y, m, w, cf, g)
                } else {
                    multi_margin_row::<T, false>(xr, y, m, w, cf, g)
                }
            });
        }
        let ys: Vec<usize> = target.iter().map(|l| l.index() as usize).collect();
        let wy = |s: usize| self.weight.as_ref().map_or(1.0, |w| w[ys[s]]);
        let x = widen(&input);
        eval_lanes(
            Self::NAME,
            input.shape(),
            n,
            c,
            &out,
            self.reduction,
            up,
            false,
            |s, _| {
                let (b, y) = (s * c, ys[s]);
                let terms = (0..c).filter(|&i| i != y).map(|i| {
                    let z = m - x[b + y] + x[b + i];
                    if z > 0.0 {
                        if p2 { z * z } else { z }
                    } else {
                        relu(z) // 0, or NaN
                    }
                });
                crate::machinery::reduction::sum_f64(terms) * wy(s) / cf
            },
            |s, sc, gx, _| {
                let (b, y) = (s * c, ys[s]);
                let g = sc * wy(s) / cf;
                for i in (0..c).filter(|&i| i != y) {
                    let z = m - x[b + y] + x[b + i];
                    if z > 0.0 {
                        let d = if p2 { 2.0 * z * g } else { g };
                        gx[b + i] += d;
                        gx[b + y] -= d;
                    }
                }
            },
        )
    }

    loss_methods!(torch: eval, (input: float, target: labels), "`input` w.r.t. `input` (`target`: `None`)");
}

// ---------------------------------------------------------------------------------------
// Keras

/// Keras's hinge labels: `{0, 1}` labels become `{−1, 1}` when EVERY label of the
/// tensor is 0 or 1 (`convert_binary_labels_to_hinge`); returns the converted
/// labels and `d(converted)/d(label)` (2 or 1).
fn keras_hinge_labels(t: &[f64]) -> (Vec<f64>, f64) {
    if t.iter().all(|&v| v == 0.0 || v == 1.0) {
        (t.iter().map(|&v| 2.0 * v - 1.0).collect(), 2.0)
    } else {
        (t.to_vec(), 1.0)
    }
}

/// Keras's hinge and squared hinge on one element, `(ℓ, ∂ℓ/∂ŷ, ∂ℓ/∂y)` of
/// `(ŷ, y)`: `z = 1 − t ŷ` with the label `t = sc · y + sh` (Keras's map of
/// {0, 1} labels, `2y − 1`, or `y` itself), `ℓ = max(z, 0)` (squared when
/// `squared`), JAX's relu gradient (½ at 0). `f32` on AVX-512 in 16 `f32`
/// lanes: `t` exactly (the map is exact in `f32`), `z` by one fused
/// multiply-add (one rounding, where the `f64` path rounds `z` to `f64` and
/// the result once more).
#[derive(Clone, Copy)]
struct KerasHingeOp {
    sc: f64,
    sh: f64,
    squared: bool,
}

impl ElemOp for KerasHingeOp {
    #[inline(always)]
    fn eval(self, p: f64, y: f64) -> (f64, f64, f64) {
        let t = y * self.sc + self.sh;
        let z = 1.0 - t * p;
        let h = relu(z);
        let a = jax_relu_grad(z);
        let dz = if self.squared { a * (2.0 * h) } else { a };
        (if self.squared { h * h } else { h }, -(dz * t), -(dz * p) * self.sc)
    }

    const LANES512: SweepLanes = SweepLanes::F32;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_ps(self, p: __m512, y: __m512) -> (__m512, __m512, __m512) {
        let (zero, one) = (_mm512_setzero_ps(), _mm512_set1_ps(1.0));
        let sc = _mm512_set1_ps(self.sc as f32);
        let t = _mm512_fmadd_ps(y, sc, _mm512_set1_ps(self.sh as f32));
        let z = _mm512_fnmadd_ps(t, p, one);
        // max(0, z) returns z where z is NaN (as relu).
        let h = _mm512_max_ps(zero, z);
        let gt = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(z, zero);
        let at = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(z, zero);
        let a = _mm512_mask_blend_ps(gt, _mm512_maskz_mov_ps(at, _mm512_set1_ps(0.5)), one);
        let (l, dz) = if self.squared { (_mm512_mul_ps(h, h), _mm512_mul_ps(a, _mm512_add_ps(h, h))) } else { (h, a) };
        let dp = _mm512_sub_ps(zero, _mm512_mul_ps(dz, t));
        let dy = _mm512_mul_ps(_mm512_sub_ps(zero, _mm512_mul_ps(dz, p)), sc);
        (l, dp, dy)
    }
}

macro_rules! keras_hinge_loss {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $squared:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub struct $ty {
            /// The reduction (default `None`: Keras's per-sample output).
            pub reduction: Reduction,
        }

        impl Default for $ty {
            fn default() -> Self {
                $ty { reduction: Reduction::None }
            }
        }

        impl $ty {
            const NAME: &'static str = $name;

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
                let squared: bool = $squared;
                // The row sweep for one shape, contiguous; the general path for
                // broadcast or strided tensors. Keras's label map (every label 0
                // or 1: 2y − 1) decided on the whole tensor first.
                if y_true.shape() == y_pred.shape() {
                    if let Some(ts) = y_true.as_slice() {
                        let (sc, sh) = if ts.iter().all(|&v| v == T::zero() || v == T::one()) { (2.0, -1.0) } else { (1.0, 0.0) };
                        let op = KerasHingeOp { sc, sh, squared };
                        let fused = eval_mean_rows_op(Self::NAME, ("y_pred", &y_pred), &y_true, self.reduction, up, op)?;
                        if let Some(done) = fused {
                            return Ok(done);
                        }
                    }
                }
                let bc = Broadcast::numpy(Self::NAME, &[("y_pred", y_pred.shape()), ("y_true", y_true.shape())])?;
                let pw = Pointwise::from_broadcast(bc, &y_pred, &y_true);
                let lanes = last_axis(Self::NAME, "y_pred", &pw.shape)?;
                let c = lanes.1;
                let p = &pw.x;
                // Keras maps {0, 1} labels by their own values: broadcast, the same set.
                let (t, dt) = keras_hinge_labels(&pw.y);
                let cf = c as f64;
                let h = |k: usize| relu(1.0 - t[k] * p[k]);
                eval_lanes_then(
                    Self::NAME,
                    &pw.shape,
                    lanes,
                    self.reduction,
                    up,
                    |s, _| sum_lane(s, c, |k| if squared { h(k) * h(k) } else { h(k) }) / cf,
                    |s, sc, gp, gt| {
                        for k in s * c..(s + 1) * c {
                            let z = 1.0 - t[k] * p[k];
                            let mut a = sc * jax_relu_grad(z) / cf;
                            if squared {
                                a *= 2.0 * h(k);
                            }
                            gp[k] = -(a * t[k]);
                            gt[k] = -(a * p[k]) * dt;
                        }
                    },
                    |gp, gt| pw.gradients(gp, gt),
                )
            }

            loss_methods!(torch: eval, (y_true: float, y_pred: float), "`input` w.r.t. `y_pred`, `target` w.r.t. `y_true`");
        }
    };
}

keras_hinge_loss!(
    /// Keras's `keras.losses.hinge(y_true, y_pred)`: the binary SVM loss,
    /// averaged over the last axis.
    ///
    /// ```text
    /// ℓ = mean over the last axis of max(1 − y·ŷ, 0)
    /// ```
    ///
    /// Keras's semantics: when every label of `y_true` is 0 or 1, the labels are
    /// first mapped to −1/1 (`2y − 1`, so the gradient with respect to `y_true`
    /// is doubled); otherwise they are used as given. The gradients are those of
    /// Keras on its JAX backend, which gives a term exactly at the margin half
    /// the gradient. The result has the inputs' shape without the last axis; the
    /// default `Reduction::None` is Keras's own output. Keras 3.15 computes the
    /// mean in float32 even for float64 inputs; losslab computes it in f64.
    ///
    /// Shapes: `y_true` and `y_pred` broadcast together as Keras broadcasts
    /// them (NumPy's rule: `(N, 1)` or `(1, C)` against `(N, C)`, either way,
    /// any ranks); one result per lane of the broadcast shape, each gradient
    /// summed back to its tensor's shape.
    ///
    /// # Errors
    /// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::margin::KerasHinge;
    /// // {0, 1} labels become {−1, 1}: losses max(1 + 0.5, 0) and max(1 − 2, 0).
    /// let loss = KerasHinge::new().forward(array![[0.0f64, 1.0]].view(), array![[0.5f64, 2.0]].view()).unwrap();
    /// assert_eq!(loss[[0]], 0.75);
    /// ```
    ///
    /// # References
    /// C. Cortes and V. Vapnik, "Support-vector networks", Machine Learning 20, 1995,
    /// <https://doi.org/10.1007/BF00994018>; <https://keras.io/api/losses/hinge_losses/>
    KerasHinge,
    "hinge",
    false
);

keras_hinge_loss!(
    /// Keras's `keras.losses.squared_hinge(y_true, y_pred)`: the squared binary
    /// SVM loss, averaged over the last axis.
    ///
    /// ```text
    /// ℓ = mean over the last axis of max(1 − y·ŷ, 0)²
    /// ```
    ///
    /// Labels are converted as in [`KerasHinge`] (`{0, 1}` → `{−1, 1}` when every
    /// label is 0 or 1). Smooth at the margin. The default `Reduction::None` is
    /// Keras's own output; Keras 3.15 computes the mean in float32 even for
    /// float64 inputs, losslab in f64.
    ///
    /// Shapes: `y_true` and `y_pred` broadcast together as Keras broadcasts
    /// them (NumPy's rule: `(N, 1)` or `(1, C)` against `(N, C)`, either way,
    /// any ranks); one result per lane of the broadcast shape, each gradient
    /// summed back to its tensor's shape.
    ///
    /// # Errors
    /// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::margin::KerasSquaredHinge;
    /// let loss = KerasSquaredHinge::new().forward(array![[-1.0f64, 1.0]].view(), array![[1.0f64, 0.5]].view()).unwrap();
    /// assert_eq!(loss[[0]], (4.0 + 0.25) / 2.0);
    /// ```
    ///
    /// # References
    /// <https://keras.io/api/losses/hinge_losses/>
    KerasSquaredHinge,
    "squared_hinge",
    true
);

/// Keras's `keras.losses.categorical_hinge(y_true, y_pred)`: the Crammer–Singer
/// multi-class hinge on one-hot (or ±1) labels, over the last axis.
///
/// ```text
/// pos = Σ_k y_k ŷ_k        neg = max_k (1 − y_k) ŷ_k        ℓ = max(neg − pos + 1, 0)
/// ```
///
/// The gradients are Keras's on its JAX backend: a loss exactly 0 at the margin
/// gets half the gradient, and the gradient of `neg` is split equally among the
/// entries that tie for the maximum (for one-hot labels the target's own slot,
/// `0 · ŷ`, is one of the candidates). Both tensors are differentiated. The
/// result has the inputs' shape without the last axis; the default
/// `Reduction::None` is Keras's own output.
///
/// Shapes: `y_true` and `y_pred` broadcast together as Keras broadcasts them
/// (NumPy's rule: `(N, 1)` or `(1, C)` against `(N, C)`, either way, any
/// ranks); one result per lane of the broadcast shape, each gradient summed
/// back to its tensor's shape.
///
/// # Errors
/// [`LossError::Shape`] if the shapes do not broadcast or are 0-d.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::margin::KerasCategoricalHinge;
/// let loss = KerasCategoricalHinge::new().forward(array![[0.0f64, 1.0, 0.0]].view(), array![[0.5f64, 1.0, 0.25]].view()).unwrap();
/// assert_eq!(loss[[0]], 0.5 - 1.0 + 1.0);
/// ```
///
/// # References
/// K. Crammer and Y. Singer, "On the Algorithmic Implementation of Multiclass
/// Kernel-based Vector Machines", JMLR 2, 2001; <https://keras.io/api/losses/hinge_losses/>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasCategoricalHinge {
    /// The reduction (default `None`: Keras's per-sample output).
    pub reduction: Reduction,
}

impl Default for KerasCategoricalHinge {
    fn default() -> Self {
        KerasCategoricalHinge { reduction: Reduction::None }
    }
}

/// One row of [`KerasCategoricalHinge`]: `relu(max_k (1 − t_k) p_k − Σ t p + 1)`
/// and, with `g`, its gradients (`∂/∂p` into `gx`, `∂/∂t` into `go`), by the
/// general path's formulas (the maximum's gradient split among its ties, JAX's
/// `relu` gradient of ½ at 0); the positive sum in lanes.
#[inline(always)]
fn categorical_hinge_row<T: Float>(t: &[T], p: &[T], g: Option<RowGrads<'_, T>>) -> f64 {
    let c = p.len();
    let pos = lane_sum_zip(t, p, |t, p| t * p);
    let neg_at = |k: usize| (1.0 - t[k].to_wide()) * p[k].to_wide();
    // The maximum (NaN if any is) and how many attain it (at least 1).
    let (mut neg, mut ties, mut nan) = (f64::NEG_INFINITY, 0usize, false);
    for k in 0..c {
        let v = neg_at(k);
        nan |= v.is_nan();
        if v > neg {
            (neg, ties) = (v, 1);
        } else if v == neg {
            ties += 1;
        }
    }
    let (neg, ties) = if nan { (f64::NAN, 1) } else { (neg, ties.max(1)) };
    let z = neg - pos + 1.0;
    if let Some(g) = g {
        let a = g.up * jax_relu_grad(z);
        let share = a / ties as f64;
        for k in 0..c {
            let (tk, pk) = (t[k].to_wide(), p[k].to_wide());
            let dneg = if neg_at(k) == neg { share } else { 0.0 };
            g.gx[k] = T::from_wide(dneg * (1.0 - tk) - a * tk);
            g.go[k] = T::from_wide(-(dneg * pk) - a * pk);
        }
    }
    relu(z)
}

impl KerasCategoricalHinge {
    const NAME: &'static str = "categorical_hinge";

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
        if y_true.shape() == y_pred.shape() {
            if let (Some(ts), Some(ps), Some((rows, c, out))) = (y_true.as_slice(), y_pred.as_slice(), y_pred.shape().split_last().map(|(&c, o)| (o.iter().product::<usize>(), c, o))) {
                if rows * c > 0 {
                    // The fused row sweep: each row's loss and gradients in one pass.
                    let reducer = Reducer::counting(self.reduction, out, y_pred.shape());
                    return eval_rows(Self::NAME, &reducer, y_pred.shape(), (rows, c), up, true, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| categorical_hinge_row(&ts[r * c..(r + 1) * c], &ps[r * c..(r + 1) * c], g));
                }
            }
        }
        let bc = Broadcast::numpy(Self::NAME, &[("y_pred", y_pred.shape()), ("y_true", y_true.shape())])?;
        let pw = Pointwise::from_broadcast(bc, &y_pred, &y_true);
        let lanes = last_axis(Self::NAME, "y_pred", &pw.shape)?;
        let c = lanes.1;
        let (p, t) = (&pw.x, &pw.y);
        let negs: Vec<f64> = (0..p.len()).map(|k| (1.0 - t[k]) * p[k]).collect();
        let z = |s: usize| {
            let pos = sum_lane(s, c, |k| t[k] * p[k]);
            let (neg, ties) = max_and_ties(&negs[s * c..(s + 1) * c]);
            (neg - pos + 1.0, neg, ties)
        };
        eval_lanes_then(
            Self::NAME,
            &pw.shape,
            lanes,
            self.reduction,
            up,
            |s, _| relu(z(s).0),
            |s, sc, gp, gt| {
                let (zs, neg, ties) = z(s);
                let a = sc * jax_relu_grad(zs);
                for k in s * c..(s + 1) * c {
                    let dneg = if negs[k] == neg { a / ties as f64 } else { 0.0 };
                    gp[k] = dneg * (1.0 - t[k]) - a * t[k];
                    gt[k] = -(dneg * p[k]) - a * p[k];
                }
            },
            |gp, gt| pw.gradients(gp, gt),
        )
    }

    loss_methods!(torch: eval, (y_true: float, y_pred: float), "`input` w.r.t. `y_pred`, `target` w.r.t. `y_true`");
}

// ---------------------------------------------------------------------------------------
// optax

/// Integer labels for optax's losses: shape `scores.shape[:-1]`, each in `[0, C)`.
fn optax_labels<L: ClassIndex, D: Dimension>(
    loss: &'static str,
    labels: &ArrayView<'_, L, D>,
    out: &[usize],
    c: usize,
) -> Result<()> {
    if labels.shape() != out {
        return Err(shape_err(loss, "labels", format!("{out:?} (the shape of `scores` without its last axis)"), labels.shape()));
    }
    for (i, l) in labels.iter().enumerate() {
        let l = l.index();
        if l < 0 || l >= c as i64 {
            return Err(LossError::ClassIndex { loss, tensor: "labels", index: l, position: unravel(i, labels.shape()), classes: c, ignore_index: None });
        }
    }
    Ok(())
}

/// One row of optax's multi-class hinge (`OFFSET` 1) or perceptron (`OFFSET`
/// 0) loss on the row sweep: `v_k = (s_k + OFFSET) − OFFSET·[k = y]` (the
/// general path's bits), its NaN-propagating maximum `m` in vectorised lanes,
/// the loss `m − s_y`; for the gradient, the ties `v_k = m` counted (at least
/// 1) and the row written in one loop, `up/ties` on each tie, `− up` at `y`.
#[inline(always)]
fn optax_multiclass_row<T: Float, const HINGE: bool>(x: &[T], y: usize, g: Option<RowGrads<'_, T>>) -> f64 {
    use crate::machinery::kernels::rows::{lane_max_at, lane_sum_at};
    let off = if HINGE { 1.0 } else { 0.0 };
    let v = inlined(#[inline(always)] |k: usize, xk: f64| (xk + off) - if k == y { off } else { 0.0 });
    let m = lane_max_at(x, v);
    let loss = m - x[y].to_wide();
    if let Some(g) = g {
        let ties = lane_sum_at(x, #[inline(always)] |k, xk| if v(k, xk) == m { 1.0 } else { 0.0 }).max(1.0);
        let (share, up) = (g.up / ties, g.up);
        for (k, (gk, xk)) in g.gx.iter_mut().zip(x).enumerate() {
            let tie = if v(k, xk.to_wide()) == m { share } else { 0.0 };
            *gk = T::from_wide(tie - if k == y { up } else { 0.0 });
        }
    }
    loss
}

macro_rules! optax_multiclass {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $offset:expr, $hinge:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub struct $ty {
            /// The reduction (default `None`: optax's per-example output).
            pub reduction: Reduction,
        }

        impl Default for $ty {
            fn default() -> Self {
                $ty { reduction: Reduction::None }
            }
        }

        impl $ty {
            const NAME: &'static str = $name;

            /// optax's semantics: one loss per example, no reduction.
            pub fn new() -> Self {
                Self::default()
            }

            fn eval<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
                &self,
                scores: ArrayView<'_, T, D1>,
                labels: ArrayView<'_, L, D2>,
                up: &Upstream<'_, T>,
            ) -> Result<Eval<T, Gradients<T>>> {
                let (samples, c, out) = last_axis(Self::NAME, "scores", scores.shape())?;
                if c == 0 {
                    return Err(shape_err(Self::NAME, "scores", "a last axis of at least 1 class", scores.shape()));
                }
                optax_labels(Self::NAME, &labels, &out, c)?;
                if let (Some(xs), Some(ls)) = (scores.as_slice(), labels.as_slice()) {
                    // The row sweep: each row's maximum, loss and gradient in one parallel pass.
                    let reducer = Reducer::counting(self.reduction, &out, scores.shape());
                    return eval_rows(Self::NAME, &reducer, scores.shape(), (samples, c), up, false, #[inline(always)] |r: usize, g: Option<RowGrads<'_, T>>| {
                        optax_multiclass_row::<T, $hinge>(&xs[r * c..(r + 1) * c], ls[r].index() as usize, g)
                    });
                }
                let ys: Vec<usize> = labels.iter().map(|l| l.index() as usize).collect();
                let x = widen(&scores);
                let offset: f64 = $offset;
                // v_k = s_k + offset − offset·[k = y]  (hinge: offset 1; perceptron: 0)
                let v: Vec<f64> = (0..x.len()).map(|k| x[k] + offset - if k % c == ys[k / c] { offset } else { 0.0 }).collect();
                eval_lanes(
                    Self::NAME,
                    scores.shape(),
                    samples,
                    c,
                    &out,
                    self.reduction,
                    up,
                    false,
                    |s, _| max_and_ties(&v[s * c..(s + 1) * c]).0 - x[s * c + ys[s]],
                    |s, sc, gx, _| {
                        let (m, ties) = max_and_ties(&v[s * c..(s + 1) * c]);
                        for k in s * c..(s + 1) * c {
                            if v[k] == m {
                                gx[k] += sc / ties as f64;
                            }
                        }
                        gx[s * c + ys[s]] -= sc;
                    },
                )
            }

            loss_methods!(torch: eval, (scores: float, labels: labels), "`input` w.r.t. `scores` (`target`: `None`)");
        }
    };
}

optax_multiclass!(
    /// optax's `optax.losses.multiclass_hinge_loss(scores, labels)`: the
    /// Crammer–Singer multi-class hinge with integer labels.
    ///
    /// ```text
    /// ℓ = max_k (s_k + 1 − [k = y]) − s_y
    /// ```
    ///
    /// `scores` is `(…, C)`, `labels` its shape without the last axis. The
    /// gradient (optax's, through `jnp.max`) is split equally among tied maxima.
    /// optax silently treats a label outside `[0, C)` as "no class" (a zero
    /// one-hot row); losslab reports it. The default `Reduction::None` is optax's
    /// own output.
    ///
    /// # Errors
    /// [`LossError::Shape`] for scores without classes or labels of the wrong
    /// shape; [`LossError::ClassIndex`] for a label outside `[0, C)`.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::MulticlassHingeLoss;
    /// let loss = MulticlassHingeLoss::new().forward(array![[1.0f64, 2.0, 0.0]].view(), array![0i32].view()).unwrap();
    /// assert_eq!(loss[[0]], 3.0 - 1.0);
    /// ```
    ///
    /// # References
    /// K. Crammer and Y. Singer, "On the Algorithmic Implementation of Multiclass
    /// Kernel-based Vector Machines", JMLR 2, 2001;
    /// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.multiclass_hinge_loss>
    MulticlassHingeLoss,
    "multiclass_hinge_loss",
    1.0,
    true
);

optax_multiclass!(
    /// optax's `optax.losses.multiclass_perceptron_loss(scores, labels)`.
    ///
    /// ```text
    /// ℓ = max_k s_k − s_y
    /// ```
    ///
    /// Zero when the label's score is (one of) the largest. The gradient is
    /// split equally among tied maxima, as `jnp.max`'s. A label outside `[0, C)`
    /// is an error (optax silently uses a zero one-hot row). The default
    /// `Reduction::None` is optax's own output.
    ///
    /// # Errors
    /// [`LossError::Shape`] for scores without classes or labels of the wrong
    /// shape; [`LossError::ClassIndex`] for a label outside `[0, C)`.
    ///
    /// # Examples
    /// ```
    /// use ndarray::array;
    /// use losslab::MulticlassPerceptronLoss;
    /// let loss = MulticlassPerceptronLoss::new().forward(array![[1.0f64, 2.0, 0.0]].view(), array![0i32].view()).unwrap();
    /// assert_eq!(loss[[0]], 1.0);
    /// ```
    ///
    /// # References
    /// M. Collins, "Discriminative training methods for Hidden Markov Models:
    /// Theory and experiments with perceptron algorithms", EMNLP 2002;
    /// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.multiclass_perceptron_loss>
    MulticlassPerceptronLoss,
    "multiclass_perceptron_loss",
    0.0,
    false
);

/// optax's perceptron loss at one element, `relu(−x t)` and its derivatives
/// (JAX's `relu` gradient: ½ at 0): on `f32` inputs with AVX-512, 8 `f64`
/// lanes by the same operations (the product of two widened `f32` is exact, so
/// every path gives the same bits); the portable loop vectorised this short
/// body across groups with gathers.
#[derive(Clone, Copy)]
struct PerceptronOp;

impl ElemOp for PerceptronOp {
    #[inline(always)]
    fn eval(self, x: f64, t: f64) -> (f64, f64, f64) {
        let z = -x * t;
        let a = jax_relu_grad(z);
        (relu(z), -(t * a), -(x * a))
    }

    const LANES512: SweepLanes = SweepLanes::F64;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn eval_pd(self, x: __m512d, t: __m512d) -> (__m512d, __m512d, __m512d) {
        let (zero, one) = (_mm512_setzero_pd(), _mm512_set1_pd(1.0));
        use crate::machinery::kernels::elementwise::x86::neg_pd as neg;
        let z = _mm512_mul_pd(neg(x), t);
        // max(0, z) returns z where z is NaN (as relu).
        let l = _mm512_max_pd(zero, z);
        let gt = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(z, zero);
        let at = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(z, zero);
        let a = _mm512_mask_blend_pd(gt, _mm512_maskz_mov_pd(at, _mm512_set1_pd(0.5)), one);
        (l, neg(_mm512_mul_pd(t, a)), neg(_mm512_mul_pd(x, a)))
    }
}

/// optax's `optax.losses.perceptron_loss(predictor_outputs, targets)`: the
/// binary perceptron loss with targets ±1.
///
/// ```text
/// ℓᵢ = max(0, −xᵢ tᵢ)          ∂ℓ/∂x = −t · a,  ∂ℓ/∂t = −x · a,   a = 1, ½ at −x t = 0, 0 below
/// ```
///
/// Element-wise; both tensors are differentiated, with JAX's half gradient at
/// the kink (a score of exactly 0 is a tie). The default `Reduction::None` is
/// optax's own output.
///
/// # Errors
/// [`LossError::Shape`] if the shapes differ (optax: `check_shapes_equal`).
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::PerceptronLoss;
/// let loss = PerceptronLoss::new().forward(array![0.5f64, -2.0].view(), array![1.0f64, 1.0].view()).unwrap();
/// assert_eq!(loss, array![0.0, 2.0].into_dyn());
/// ```
///
/// # References
/// F. Rosenblatt, "The perceptron: a probabilistic model for information storage
/// and organization in the brain", Psychological Review 65(6), 1958;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.perceptron_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PerceptronLoss {
    /// The reduction (default `None`: optax's own output).
    pub reduction: Reduction,
}

impl Default for PerceptronLoss {
    fn default() -> Self {
        PerceptronLoss { reduction: Reduction::None }
    }
}

impl PerceptronLoss {
    const NAME: &'static str = "perceptron_loss";

    /// optax's semantics: no reduction.
    pub fn new() -> Self {
        Self::default()
    }

    fn eval<T: Float, D: Dimension>(
        &self,
        predictor_outputs: ArrayView<'_, T, D>,
        targets: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        eval_pointwise_op(
            Self::NAME,
            Pairing::Same,
            ("predictor_outputs", &predictor_outputs),
            ("targets", &targets),
            self.reduction,
            up,
            true,
            PerceptronOp,
            |_, x, t| PerceptronOp.eval(x, t).0,
            |_, x, t| {
                let (_, dx, dt) = PerceptronOp.eval(x, t);
                (dx, dt)
            },
        )
    }

    loss_methods!(torch: eval, (predictor_outputs: float, targets: float), "`input` w.r.t. `predictor_outputs`, `target` w.r.t. `targets`");
}

// ---------------------------------------------------------------------------------------
// free functions

free_fn! {
    /// [`MarginRankingLoss`] with `margin` and `reduction`: `torch.nn.functional.margin_ranking_loss`.
    pub fn margin_ranking_loss(input1: float, input2: float, target: float; margin: f64, reduction: Reduction) = MarginRankingLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::margin_ranking_loss(array![0.0f64].view(), array![1.0].view(), array![1.0].view(), 0.5, losslab::Reduction::Mean).unwrap();
        /// assert_eq!(v[[]], 1.5);
        /// ```
        ///
        /// # References
        /// [`MarginRankingLoss`]: its formula, the reference's semantics and the paper.
    }

    /// [`SoftMarginLoss`] with `reduction`: `torch.nn.functional.soft_margin_loss`.
    pub fn soft_margin_loss(input: float, target: float; reduction: Reduction) = SoftMarginLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::soft_margin_loss(array![0.0f64].view(), array![-1.0].view(), losslab::Reduction::Sum).unwrap();
        /// assert!((v[[]] - 2f64.ln()).abs() < 1e-15);
        /// ```
        ///
        /// # References
        /// [`SoftMarginLoss`]: its formula, the reference's semantics and the paper.
    }

    /// [`MultiMarginLoss`] with PyTorch's defaults and `reduction`: `torch.nn.functional.multi_margin_loss`.
    pub fn multi_margin_loss(input: float, target: labels; reduction: Reduction) = MultiMarginLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::multi_margin_loss(array![[0.0f64, 0.0]].view(), array![0i64].view(), losslab::Reduction::Mean).unwrap();
        /// assert_eq!(v[[]], 0.5);
        /// ```
        ///
        /// # References
        /// [`MultiMarginLoss`]: its formula, the reference's semantics and the paper.
    }

    /// [`KerasHinge`]: `keras.losses.hinge(y_true, y_pred)`, one value per sample.
    pub fn keras_hinge(y_true: float, y_pred: float) = KerasHinge {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::margin::keras_hinge(array![[1.0f64, -1.0]].view(), array![[0.0, 0.0]].view()).unwrap();
        /// assert_eq!(v[[0]], 1.0);
        /// ```
        ///
        /// # References
        /// [`KerasHinge`]: its formula, the reference's semantics and the paper.
    }

    /// [`MulticlassHingeLoss`]: `optax.losses.multiclass_hinge_loss(scores, labels)`.
    pub fn multiclass_hinge_loss(scores: float, labels: labels) = MulticlassHingeLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let v = losslab::multiclass_hinge_loss(array![[3.0f64, 0.0]].view(), array![0u8].view()).unwrap();
        /// assert_eq!(v[[0]], 0.0);
        /// ```
        ///
        /// # References
        /// [`MulticlassHingeLoss`]: its formula, the reference's semantics and the paper.
    }

    /// [`HingeEmbeddingLoss`] with `margin` and `reduction`: `torch.nn.functional.hinge_embedding_loss`.
    pub fn hinge_embedding_loss(input: float, target: float; margin: f64, reduction: Reduction) = HingeEmbeddingLoss;

    /// [`MultilabelSoftMarginLoss`] without weights, with `reduction`: `torch.nn.functional.multilabel_soft_margin_loss`.
    pub fn multilabel_soft_margin_loss(input: float, target: float; reduction: Reduction) = MultilabelSoftMarginLoss;

    /// [`MultilabelMarginLoss`] with `reduction`: `torch.nn.functional.multilabel_margin_loss`.
    pub fn multilabel_margin_loss(input: float, target: labels; reduction: Reduction) = MultilabelMarginLoss;

    /// [`KerasSquaredHinge`]: `keras.losses.squared_hinge(y_true, y_pred)`, one value per sample.
    pub fn keras_squared_hinge(y_true: float, y_pred: float) = KerasSquaredHinge;

    /// [`KerasCategoricalHinge`]: `keras.losses.categorical_hinge(y_true, y_pred)`, one value per sample.
    pub fn keras_categorical_hinge(y_true: float, y_pred: float) = KerasCategoricalHinge;

    /// [`PerceptronLoss`]: `optax.losses.perceptron_loss(predictor_outputs, targets)`, one value per example.
    pub fn perceptron_loss(predictor_outputs: float, targets: float) = PerceptronLoss;

    /// [`MulticlassPerceptronLoss`]: `optax.losses.multiclass_perceptron_loss(scores, labels)`, one value per example.
    pub fn multiclass_perceptron_loss(scores: float, labels: labels) = MulticlassPerceptronLoss;
}
