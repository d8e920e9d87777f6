//! The language-model head's loss: a linear layer and the softmax cross entropy
//! over its outputs, fused so that the logits never exist whole.
//!
//! Per tile of `rows` tokens (chosen so that `rows × V` logits fit
//! [`LinearCrossEntropyLoss::tile_bytes`]):
//!
//! ```text
//! Z    = X_b · Wᵀ                         one matrix product (m = rows, n = V, k = D)
//! row pass, per token: bias, scale, soft-cap; max, Σ exp (f64), log-sum-exp,
//!      the loss terms; then, in place, G = ∂L/∂Z (softmax − smoothed one-hot,
//!      the z-loss's term, the soft-cap's chain factor)
//! dX_b = G · W                            (m = rows, n = D, k = V)
//! dW  += Gᵀ · X_b                         (m = V, n = D, k = rows)
//! db  += Σ_rows G                          (f64)
//! ```
//!
//! so the loss and every gradient come from one product over the logits and
//! two over their gradient, as Liger-Kernel's fused linear cross entropy orders
//! them (a tile of tokens at a time), with no second product over the logits.
//! The matrix products of `f32` and `f64` inputs are the `gemm` crate's
//! (AVX-512 or AVX2 micro-kernels chosen at run time, on rayon's pool); those
//! of `bf16` inputs are losslab's own, on AVX512_BF16's dot products
//! ([`crate::machinery::kernels::gemm_bf16`]: no crate offers `bf16` products
//! with `f32` accumulation). The row pass runs the fused cross entropy's
//! vectorised block operations on the `f32` (or `f64`) tile. Tiles follow one another in order and
//! every sum has a fixed order, so the results are the same bits whatever the
//! number of threads.

use super::class_weights;
use crate::collective::{Collective, Local, ReduceBuf};
use crate::machinery::error::{check_option, shape_err, LossError, Result};
use crate::machinery::float::{ClassIndex, Float};
use crate::machinery::float::HalfFloat;
use crate::machinery::kernels::gemm_bf16;
use crate::machinery::kernels::matmul::{matmul_nt, matmul_split, Split};
use crate::machinery::kernels::ops_for;
use crate::machinery::kernels::par::{self, SyncPtr};
use crate::machinery::kernels::softmax_ce_half::half_ops_for;
use half::bf16;
use crate::machinery::methods::setters;
use crate::machinery::reduction::{sum_f64, Reduction};
use ndarray::{Array1, Array2, ArrayD, ArrayView, ArrayView1, ArrayView2, ArrayViewD, Dimension, IxDyn};

/// The default working memory for the logits of one tile: 64 MiB.
pub const DEFAULT_TILE_BYTES: usize = 64 << 20;

/// The fused linear + softmax cross entropy of a language model's head:
/// `cross_entropy(softcap(scale · (input · linear_weightᵀ + linear_bias)), target)`
/// plus an optional z-loss, computed a tile of tokens at a time so that the
/// `(tokens, V)` logits are never held (PyTorch's
/// `torch.nn.functional.linear_cross_entropy`, Liger-Kernel's fused linear
/// cross entropy, Cut Cross-Entropy).
///
/// ```text
/// zₙ = c · tanh(s · (W xₙ + b) / c)      (the soft-cap c only when set; s the logit scale, default 1)
/// ℓₙ = (1 − ε) w[yₙ] (lse(zₙ) − zₙ[yₙ]) + ε/V Σ_c w_c (lse(zₙ) − zₙ[c])     (PyTorch's cross entropy)
/// ζₙ = λ · lse(zₙ)²                     (the z-loss, `lse_square_scale` λ; not weighted)
/// Mean = Σ ℓₙ / Σ w[yₙ] + Σ ζₙ / (tokens counted)      Sum = Σ (ℓₙ + ζₙ)      None: ℓₙ + ζₙ per token
/// BatchMean = Sum / (the length of `input`'s first axis)
/// ```
///
/// over the tokens whose target is not `ignore_index` (an ignored token counts
/// for nothing and gets no gradient). With the z-loss, soft-cap and scale at
/// their defaults (0, none, 1) this is exactly PyTorch's `linear_cross_entropy`
/// (class-index targets): `input` `(N, D)` or `(B, T, D)` (any leading axes,
/// `target` of their shape), `linear_weight` `(V, D)`, `linear_bias` `(V,)`,
/// `weight` one per class. The z-loss follows Liger-Kernel (and PaLM): added to
/// the loss, averaged over the counted tokens under `Mean` whatever the class
/// weights, and reported apart ([`LinearCrossEntropyOutput::z_loss`]).
///
/// Gradients with respect to `input`, `linear_weight` and `linear_bias` come
/// from the same pass as the loss
/// ([`forward_backward`](LinearCrossEntropyLoss::forward_backward)).
/// Optional per-token outputs: the log-sum-exp of the final logits, the entropy
/// of their softmax, and the predicted token (the first index of the largest logit).
///
/// Memory: beyond the inputs, the gradients and `O(tokens)` per-token numbers,
/// one tile of `tile_bytes` (default 64 MiB) and one row of `V` per thread
/// (`bf16` inputs: also an `f32` accumulator of `linear_weight`'s gradient,
/// see [`forward_backward_half`](LinearCrossEntropyLoss::forward_backward_half)).
///
/// `bf16` and `f16` inputs: [`forward_half`](LinearCrossEntropyLoss::forward_half)
/// and [`forward_backward_half`](LinearCrossEntropyLoss::forward_backward_half)
/// (on AVX512_BF16's dot products where the CPU has them).
///
/// A token whose logits hold a NaN or an infinity gets a NaN loss (and NaN
/// gradients) rather than PyTorch's mix of NaN and infinities.
///
/// # Errors
/// [`LossError::Shape`] for tensors whose shapes do not fit (`input` without a
/// feature axis, `linear_weight` not `(V, D)`, `linear_bias` or `weight` not
/// `(V,)`, `target` not `input`'s shape without its last axis, `grad_output`
/// not the result's shape); [`LossError::ClassIndex`] for a target outside
/// `[0, V)` that is not `ignore_index`; [`LossError::Option`] for
/// `label_smoothing` outside `[0, 1]`, a negative or non-finite
/// `lse_square_scale`, a `softcap` that is not a positive finite number, a
/// non-finite `logit_scale` or a zero `tile_bytes`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::LinearCrossEntropyLoss;
/// let x = array![[1.0f64, 2.0], [0.5, -1.0]];          // 2 tokens, hidden size 2
/// let w = array![[0.1f64, 0.2], [0.3, -0.1], [0.0, 0.5]]; // vocabulary of 3
/// let t = array![2i64, 0];
/// let lce = LinearCrossEntropyLoss::new();
/// let (out, g) = lce.forward_backward(x.view(), w.view(), None, t.view(), None).unwrap();
///
/// // The same as the cross entropy of the logits, which the fused loss never holds:
/// let logits = x.dot(&w.t());
/// let ce = losslab::CrossEntropyLoss::new().forward(logits.view(), t.view()).unwrap();
/// assert!((out.loss[[]] - ce[[]]).abs() < 1e-15);
/// assert_eq!(g.input.shape(), &[2, 2]);
/// assert_eq!(g.linear_weight.shape(), &[3, 2]);
///
/// // A z-loss, reported apart and included in the loss.
/// let z = LinearCrossEntropyLoss::new().lse_square_scale(1e-4).forward(x.view(), w.view(), None, t.view()).unwrap();
/// assert!((z.loss[[]] - (ce[[]] + z.z_loss[[]])).abs() < 1e-15);
/// ```
///
/// # References
/// E. Wijmans et al., "Cut Your Losses in Large-Vocabulary Language Models"
/// (ICLR 2025), <https://arxiv.org/abs/2411.09009>; P.-L. Hsu et al.,
/// "Liger Kernel: Efficient Triton Kernels for LLM Training",
/// <https://arxiv.org/abs/2410.10989>; A. Chowdhery et al., "PaLM" (the z-loss),
/// JMLR 2023; Gemma Team, "Gemma 2" (logit soft-capping), 2024;
/// <https://pytorch.org/docs/stable/generated/torch.nn.functional.linear_cross_entropy.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LinearCrossEntropyLoss {
    /// The reduction: `Mean` (default), `Sum`, `None`, or `BatchMean` (the sum
    /// over the length of `input`'s first axis).
    pub reduction: Reduction,
    /// One weight per class (default none: all 1).
    pub weight: Option<Vec<f64>>,
    /// The class index whose tokens are ignored (default −100).
    pub ignore_index: i64,
    /// Label smoothing `ε` in `[0, 1]` (default 0).
    pub label_smoothing: f64,
    /// The z-loss scale `λ ≥ 0` (default 0: none).
    pub lse_square_scale: f64,
    /// The logit soft-cap `c > 0` (default none).
    pub softcap: Option<f64>,
    /// The logit scale `s` (default 1; a temperature `T` is `s = 1/T`).
    pub logit_scale: f64,
    /// Whether to return each token's log-sum-exp.
    pub return_lse: bool,
    /// Whether to return each token's softmax entropy.
    pub return_entropy: bool,
    /// Whether to return each token's predicted class.
    pub return_predicted: bool,
    /// The most bytes one tile of logits takes (default [`DEFAULT_TILE_BYTES`]).
    pub tile_bytes: usize,
}

impl Default for LinearCrossEntropyLoss {
    fn default() -> Self {
        LinearCrossEntropyLoss {
            reduction: Reduction::Mean,
            weight: None,
            ignore_index: -100,
            label_smoothing: 0.0,
            lse_square_scale: 0.0,
            softcap: None,
            logit_scale: 1.0,
            return_lse: false,
            return_entropy: false,
            return_predicted: false,
            tile_bytes: DEFAULT_TILE_BYTES,
        }
    }
}

/// The outputs of [`LinearCrossEntropyLoss`]: the loss (z-loss included), the
/// z-loss alone, and the per-token outputs asked for (shape: `target`'s).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LinearCrossEntropyOutput<T> {
    /// The loss: a scalar under `Mean`, `Sum` and `BatchMean`, one per token under `None`.
    pub loss: ArrayD<T>,
    /// The z-loss part of `loss` (zeros when `lse_square_scale` is 0), reduced as `loss` is.
    pub z_loss: ArrayD<T>,
    /// Each token's log-sum-exp of the final logits (when asked for).
    pub lse: Option<ArrayD<T>>,
    /// Each token's entropy of the softmax of the final logits, in nats (when asked for).
    pub entropy: Option<ArrayD<T>>,
    /// Each token's predicted class: the first index of the largest final logit (when asked for).
    pub predicted: Option<ArrayD<i64>>,
}

/// The gradients of [`LinearCrossEntropyLoss`]'s loss.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LinearCrossEntropyGradients<T> {
    /// With respect to `input` (its shape).
    pub input: ArrayD<T>,
    /// With respect to `linear_weight`, `(V, D)`.
    pub linear_weight: Array2<T>,
    /// With respect to `linear_bias` (when one was given), `(V,)`.
    pub linear_bias: Option<Array1<T>>,
}

impl LinearCrossEntropyLoss {
    const NAME: &'static str = "linear_cross_entropy";

    /// PyTorch's defaults: `Mean`, no weight, `ignore_index = −100`, no
    /// smoothing, no z-loss, no soft-cap, scale 1.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction
    );
    /// Sets the class weights (one per class).
    #[must_use]
    pub fn weight<T: Float>(mut self, weight: ArrayView1<'_, T>) -> Self {
        self.weight = Some(class_weights(weight));
        self
    }
    setters!(
        /// Sets the ignored class index.
        ignore_index: i64,
        /// Sets the label smoothing `ε`.
        label_smoothing: f64,
        /// Sets the z-loss scale `λ`.
        lse_square_scale: f64,
        /// Sets the logit soft-cap (`None`: no cap).
        softcap: Option<f64>,
        /// Sets the logit scale `s` (the inverse of a temperature).
        logit_scale: f64,
        /// Asks for each token's log-sum-exp.
        return_lse: bool,
        /// Asks for each token's softmax entropy.
        return_entropy: bool,
        /// Asks for each token's predicted class.
        return_predicted: bool,
        /// Sets the most bytes one tile of logits takes.
        tile_bytes: usize
    );

    fn validate(&self) -> Result<()> {
        let e = self.label_smoothing;
        check_option(Self::NAME, "label_smoothing", e, (0.0..=1.0).contains(&e), "a number in [0, 1]")?;
        let l = self.lse_square_scale;
        check_option(Self::NAME, "lse_square_scale", l, l.is_finite() && l >= 0.0, "a finite number ≥ 0")?;
        if let Some(c) = self.softcap {
            check_option(Self::NAME, "softcap", c, c.is_finite() && c > 0.0, "a finite number > 0")?;
        }
        let s = self.logit_scale;
        check_option(Self::NAME, "logit_scale", s, s.is_finite(), "a finite number")?;
        check_option(Self::NAME, "tile_bytes", self.tile_bytes as f64, self.tile_bytes > 0, "at least 1 byte")?;
        Ok(())
    }

    /// The loss and the per-token outputs asked for, without gradients.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        linear_weight: ArrayView2<'_, T>,
        linear_bias: Option<ArrayView1<'_, T>>,
        target: ArrayView<'_, L, D2>,
    ) -> Result<LinearCrossEntropyOutput<T>> {
        Ok(self.run(&Local, None, input.into_dyn(), linear_weight, linear_bias, target.into_dyn(), None, false)?.0)
    }

    /// The loss, the per-token outputs asked for, and the gradients of
    /// `Σ grad_output · loss` (`grad_output`: the result's shape; `None`: ones)
    /// with respect to `input`, `linear_weight` and `linear_bias`, in one pass.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, T, D1>,
        linear_weight: ArrayView2<'_, T>,
        linear_bias: Option<ArrayView1<'_, T>>,
        target: ArrayView<'_, L, D2>,
        grad_output: Option<ArrayViewD<'_, T>>,
    ) -> Result<(LinearCrossEntropyOutput<T>, LinearCrossEntropyGradients<T>)> {
        let (out, g) = self.run(&Local, None, input.into_dyn(), linear_weight, linear_bias, target.into_dyn(), grad_output, true)?;
        Ok((out, g.expect("gradients were asked for")))
    }

    /// The loss of `bf16` or `f16` inputs (`input`, `linear_weight`,
    /// `linear_bias`) as `f32`, and the per-token outputs asked for.
    /// See [`forward_backward_half`](Self::forward_backward_half).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_half<H: HalfFloat, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, H, D1>,
        linear_weight: ArrayView2<'_, H>,
        linear_bias: Option<ArrayView1<'_, H>>,
        target: ArrayView<'_, L, D2>,
    ) -> Result<LinearCrossEntropyOutput<f32>> {
        Ok(self.run_half(input.into_dyn(), linear_weight, linear_bias, target.into_dyn(), None, false)?.0)
    }

    /// The loss of `bf16` or `f16` inputs as `f32`, and the gradients of
    /// `Σ grad_output · loss` in the inputs' type, in one pass.
    ///
    /// `bf16` on a CPU with AVX512_BF16 (and AVX-512 not turned off), with an
    /// even hidden size: the three products run on its dot-product instruction
    /// (`vdpbf16ps`: pairs of `bf16` products added to `f32` accumulators). The
    /// logits are accumulated and kept in `f32` (a tile at a time, as for
    /// `f32` inputs), so the loss and the per-token outputs are those of the
    /// `f32` path on the same values, to `f32` rounding. Their gradient is
    /// rounded to `bf16` before the two products of the backward pass (as a
    /// `bf16` autograd holds it: PyTorch's bf16 `linear_cross_entropy`
    /// computes its gradient products from bf16 logit gradients too); the
    /// gradient of `input` is accumulated in `f32` and rounded once, that of
    /// `linear_weight` accumulated in an `f32` buffer of `V × D` over all the
    /// tiles and rounded once at the end (memory: that buffer, twice the
    /// gradient's own size; the tile of `tile_bytes` holds the `f32` logits,
    /// 4 bytes per logit, their `bf16` gradient written in place over each
    /// row), and that of
    /// `linear_bias` summed in `f64` from the `f32` logit gradient. The
    /// gradients are within a few `bf16` ulps of the `f64` truth on the same
    /// values.
    ///
    /// Otherwise (`f16`, an odd hidden size, a CPU without AVX512_BF16), the
    /// inputs are widened to `f32` (exactly: memory for a copy of `input` and
    /// `linear_weight` in `f32`) and take the `f32` path; the gradients are
    /// rounded once to the inputs' type. `grad_output` (the result's shape;
    /// `None`: ones) is `f32`.
    ///
    /// # Errors
    /// See the type's docs.
    ///
    /// # Examples
    /// ```
    /// use losslab::{half::bf16, LinearCrossEntropyLoss};
    /// use ndarray::array;
    /// let x = array![[1.0f32, 2.0], [0.5, -1.0]];
    /// let w = array![[0.1f32, 0.2], [0.3, -0.1], [0.0, 0.5]];
    /// let t = array![2i64, 0];
    /// let (xh, wh) = (x.mapv(bf16::from_f32), w.mapv(bf16::from_f32));
    /// let lce = LinearCrossEntropyLoss::new();
    /// let (out, g) = lce.forward_backward_half(xh.view(), wh.view(), None, t.view(), None).unwrap();
    /// // The f32 loss of the same (bf16) values.
    /// let f = lce.forward(xh.mapv(|v| v.to_f32()).view(), wh.mapv(|v| v.to_f32()).view(), None, t.view()).unwrap();
    /// assert!((out.loss[[]] - f.loss[[]]).abs() < 1e-6);
    /// assert_eq!(g.linear_weight.shape(), &[3, 2]);
    /// ```
    pub fn forward_backward_half<H: HalfFloat, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        input: ArrayView<'_, H, D1>,
        linear_weight: ArrayView2<'_, H>,
        linear_bias: Option<ArrayView1<'_, H>>,
        target: ArrayView<'_, L, D2>,
        grad_output: Option<ArrayViewD<'_, f32>>,
    ) -> Result<(LinearCrossEntropyOutput<f32>, LinearCrossEntropyGradients<H>)> {
        let (out, g) = self.run_half(input.into_dyn(), linear_weight, linear_bias, target.into_dyn(), grad_output, true)?;
        Ok((out, g.expect("gradients were asked for")))
    }

    /// Whether `bf16` inputs of hidden size `d` run on AVX512_BF16's dot
    /// products here (else they are widened to `f32`): for reports.
    pub fn bf16_dot_products(d: usize) -> bool {
        d.is_multiple_of(2) && gemm_bf16::available()
    }

    fn run_half<H: HalfFloat, L: ClassIndex>(
        &self,
        input: ArrayViewD<'_, H>,
        w: ArrayView2<'_, H>,
        b: Option<ArrayView1<'_, H>>,
        target: ArrayViewD<'_, L>,
        grad_output: Option<ArrayViewD<'_, f32>>,
        want_grad: bool,
    ) -> Result<(LinearCrossEntropyOutput<f32>, Option<LinearCrossEntropyGradients<H>>)> {
        let ishape = input.shape().to_vec();
        let d = ishape.last().copied().unwrap_or(0);
        let fast = std::any::TypeId::of::<H>() == std::any::TypeId::of::<bf16>() && Self::bf16_dot_products(d);
        if !fast {
            // Widened to f32 (exact), the f32 path; the gradients rounded once.
            let wide = |a: ArrayViewD<'_, H>| a.mapv(|v| v.to_f32());
            let (x, w2) = (wide(input), w.mapv(|v| v.to_f32()));
            let b2 = b.map(|b| b.mapv(|v| v.to_f32()));
            let (out, g) = self.run(&Local, None, x.view(), w2.view(), b2.as_ref().map(|b| b.view()), target, grad_output, want_grad)?;
            let grads = g.map(|g| LinearCrossEntropyGradients {
                input: g.input.mapv(H::from_f32),
                linear_weight: g.linear_weight.mapv(H::from_f32),
                linear_bias: g.linear_bias.map(|b| b.mapv(H::from_f32)),
            });
            return Ok((out, grads));
        }
        let prepared = self.prepare(&ishape, w.shape(), b.map(|b| b.len()), None, &target, &grad_output);
        let v_max = handshake(&Local, false, want_grad, &prepared)?;
        let q = prepared?;
        // SAFETY (the casts): H is bf16 here.
        let x = input.as_standard_layout();
        let w = w.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let ws = w.as_slice().expect("standard layout");
        let (xs, ws) = unsafe { (std::slice::from_raw_parts(xs.as_ptr().cast::<bf16>(), xs.len()), std::slice::from_raw_parts(ws.as_ptr().cast::<bf16>(), ws.len())) };
        let bw = b.map(|b| b.iter().map(|v| v.to_f32()).collect::<Vec<f32>>());
        let (n, v) = (q.n, q.v);
        let mut head = Bf16Head::new(n, d, v, xs, ws, want_grad);
        let (out, gb) = self.execute(&Local, q, &ishape, bw.as_deref(), want_grad, v_max, std::mem::size_of::<f32>(), &mut head)?;
        let cast = |g: Vec<bf16>| -> Vec<H> {
            let mut g = std::mem::ManuallyDrop::new(g);
            // SAFETY: H is bf16: the same layout, the vector handed over whole.
            unsafe { Vec::from_raw_parts(g.as_mut_ptr().cast::<H>(), g.len(), g.capacity()) }
        };
        let grads = gb.map(|gb| {
            let ops = half_ops_for::<bf16>();
            let mut gw = vec![bf16::ZERO; v * d];
            // SAFETY: both hold v × d elements.
            unsafe { (ops.narrow_affine)(head.gw.as_ptr(), gw.as_mut_ptr(), v * d, 1.0, 0.0) };
            LinearCrossEntropyGradients {
                input: ArrayD::from_shape_vec(IxDyn(&ishape), cast(std::mem::take(&mut head.gx))).expect("input's shape"),
                linear_weight: Array2::from_shape_vec((v, d), cast(gw)).expect("(V, D)"),
                linear_bias: bw.as_ref().map(|_| Array1::from_vec(gb.into_iter().map(H::from_f64).collect())),
            }
        });
        Ok((out, grads))
    }

    /// The sharded form (Megatron's vocabulary-parallel cross entropy): this
    /// process holds the classes `[vocab_start, vocab_start + V_s)` of a
    /// vocabulary of `vocab_size` (its rows of `linear_weight`, `(V_s, D)`, and
    /// of `linear_bias`), and every process the same `input`, `target` and
    /// options (class weights: the whole `(vocab_size,)` vector). Each computes
    /// per-token partials over its classes (maximum, sum of exponentials, the
    /// target's logit, the smoothing and entropy sums), the partials are
    /// gathered (6 numbers per token and process, never the logits) and merged
    /// in rank order, and each process then computes its classes' gradients;
    /// the gradient of `input` is summed over the processes
    /// ([`Collective::all_reduce_sum`]). Every rank returns the whole loss and
    /// per-token outputs, the whole `input` gradient, and its own slice's
    /// `linear_weight` and `linear_bias` gradients.
    ///
    /// The shards must tile `[0, vocab_size)` without overlap; every rank checks
    /// that, and that the others agree on the number of tokens, the hidden size
    /// and the targets, in a first exchange, so that a mismatched rank (or one
    /// whose own inputs are invalid) ends every rank's call with an error
    /// rather than a hang.
    ///
    /// # Errors
    /// See the type's docs, and [`LossError::Collective`] for shards that do
    /// not fit together, a rank that failed its own checks, or a failed exchange.
    ///
    /// # Examples
    /// ```
    /// use losslab::collective::{Local, ThreadGroup};
    /// use losslab::LinearCrossEntropyLoss;
    /// use ndarray::{array, s};
    /// let x = array![[1.0f64, 2.0], [0.5, -1.0]];
    /// let w = array![[0.1f64, 0.2], [0.3, -0.1], [0.0, 0.5], [0.2, 0.2]];
    /// let t = array![2i64, 0];
    /// let lce = LinearCrossEntropyLoss::new();
    /// let whole = lce.forward(x.view(), w.view(), None, t.view()).unwrap();
    /// // Two "processes" (threads here), two classes each.
    /// let group = ThreadGroup::new(2);
    /// let losses: Vec<f64> = std::thread::scope(|sc| {
    ///     let hs: Vec<_> = group.iter().map(|m| {
    ///         let (lce, x, w, t) = (&lce, &x, &w, &t);
    ///         sc.spawn(move || {
    ///             let r = losslab::collective::Collective::rank(m);
    ///             let shard = w.slice(s![2 * r..2 * r + 2, ..]);
    ///             lce.forward_backward_sharded(m, x.view(), shard, None, 2 * r, 4, t.view(), None).unwrap().0.loss[[]]
    ///         })
    ///     }).collect();
    ///     hs.into_iter().map(|h| h.join().unwrap()).collect()
    /// });
    /// assert!(losses.iter().all(|l| (l - whole.loss[[]]).abs() < 1e-15));
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn forward_backward_sharded<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        comm: &dyn Collective,
        input: ArrayView<'_, T, D1>,
        linear_weight: ArrayView2<'_, T>,
        linear_bias: Option<ArrayView1<'_, T>>,
        vocab_start: usize,
        vocab_size: usize,
        target: ArrayView<'_, L, D2>,
        grad_output: Option<ArrayViewD<'_, T>>,
    ) -> Result<(LinearCrossEntropyOutput<T>, LinearCrossEntropyGradients<T>)> {
        let (out, g) =
            self.run(comm, Some((vocab_start, vocab_size)), input.into_dyn(), linear_weight, linear_bias, target.into_dyn(), grad_output, true)?;
        Ok((out, g.expect("gradients were asked for")))
    }

    /// [`forward_backward_sharded`](Self::forward_backward_sharded) without gradients.
    ///
    /// # Errors
    /// As [`forward_backward_sharded`](Self::forward_backward_sharded).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_sharded<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        comm: &dyn Collective,
        input: ArrayView<'_, T, D1>,
        linear_weight: ArrayView2<'_, T>,
        linear_bias: Option<ArrayView1<'_, T>>,
        vocab_start: usize,
        vocab_size: usize,
        target: ArrayView<'_, L, D2>,
    ) -> Result<LinearCrossEntropyOutput<T>> {
        Ok(self.run(comm, Some((vocab_start, vocab_size)), input.into_dyn(), linear_weight, linear_bias, target.into_dyn(), None, false)?.0)
    }

    /// The checks of one process's inputs: its job's numbers, or the error.
    #[allow(clippy::too_many_arguments)]
    fn prepare<G: Float, L: ClassIndex>(
        &self,
        ishape: &[usize],
        wshape: &[usize],
        blen: Option<usize>,
        shard: Option<(usize, usize)>,
        target: &ArrayViewD<'_, L>,
        grad_output: &Option<ArrayViewD<'_, G>>,
    ) -> Result<Prepared> {
        self.validate()?;
        let name = Self::NAME;
        let Some((&d, lead)) = ishape.split_last() else {
            return Err(shape_err(name, "input", "at least 1 axis: (N, D), (B, T, D) or (D,)", ishape));
        };
        let v = wshape[0];
        let (v0, vt) = shard.unwrap_or((0, v));
        if wshape[1] != d || v == 0 {
            return Err(shape_err(name, "linear_weight", format!("[V, {d}] with V ≥ 1 (one row of `input`'s feature size per class)"), wshape));
        }
        if v0.checked_add(v).is_none_or(|end| end > vt) {
            return Err(LossError::Collective {
                loss: name,
                message: format!("this rank's classes [{v0}, {}) do not fit the vocabulary of {vt}", v0.saturating_add(v)),
            });
        }
        if let Some(b) = blen {
            if b != v {
                return Err(shape_err(name, "linear_bias", format!("[{v}] (one per class: `linear_weight`'s rows)"), &[b]));
            }
        }
        if let Some(cw) = &self.weight {
            if cw.len() != vt {
                return Err(shape_err(name, "weight", format!("[{vt}] (one weight per class of the vocabulary)"), &[cw.len()]));
            }
        }
        if target.shape() != lead {
            return Err(shape_err(name, "target", format!("{lead:?} (`input`'s shape without its last axis)"), target.shape()));
        }
        let n: usize = lead.iter().product();
        let mut targets = Vec::with_capacity(n);
        for (i, t) in target.iter().enumerate() {
            let y = t.index();
            if y == self.ignore_index {
                targets.push(IGNORED);
            } else if (0..vt as i64).contains(&y) {
                targets.push(y as usize);
            } else {
                return Err(LossError::ClassIndex {
                    loss: name,
                    tensor: "target",
                    index: y,
                    position: crate::machinery::error::unravel(i, lead),
                    classes: vt,
                    ignore_index: Some(self.ignore_index),
                });
            }
        }
        let out_shape: Vec<usize> = if self.reduction == Reduction::None { lead.to_vec() } else { vec![] };
        let up = match grad_output {
            Some(g) if g.shape() != out_shape.as_slice() => {
                return Err(shape_err(name, "grad_output", format!("{out_shape:?} (the shape of the result)"), g.shape()));
            }
            Some(g) if self.reduction == Reduction::None => Up::Each(g.iter().map(|v| v.to_wide()).collect()),
            Some(g) => Up::Scalar(g.iter().next().map(|v| v.to_wide()).unwrap_or(1.0)),
            None => Up::Scalar(1.0),
        };
        Ok(Prepared { n, d, v, v0, vt, targets, up })
    }

    #[allow(clippy::too_many_arguments)]
    fn run<T: Float, L: ClassIndex>(
        &self,
        comm: &dyn Collective,
        shard: Option<(usize, usize)>,
        input: ArrayViewD<'_, T>,
        w: ArrayView2<'_, T>,
        b: Option<ArrayView1<'_, T>>,
        target: ArrayViewD<'_, L>,
        grad_output: Option<ArrayViewD<'_, T>>,
        want_grad: bool,
    ) -> Result<(LinearCrossEntropyOutput<T>, Option<LinearCrossEntropyGradients<T>>)> {
        let ishape = input.shape().to_vec();
        let prepared = self.prepare(&ishape, w.shape(), b.map(|b| b.len()), shard, &target, &grad_output);
        let v_max = handshake(comm, shard.is_some(), want_grad, &prepared)?;
        let q = prepared?;
        let x = input.as_standard_layout();
        let w = w.as_standard_layout();
        let b = b.map(|b| b.as_standard_layout().iter().copied().collect::<Vec<T>>());
        let (n, d, v) = (q.n, q.d, q.v);
        let mut head = GemmHead::new(n, d, v, x.as_slice().expect("standard layout"), w.as_slice().expect("standard layout"), want_grad);
        let (out, gb) = self.execute(comm, q, &ishape, b.as_deref(), want_grad, v_max, std::mem::size_of::<T>(), &mut head)?;
        let grads = gb.map(|gb| LinearCrossEntropyGradients {
            input: ArrayD::from_shape_vec(IxDyn(&ishape), head.gx).expect("input's shape"),
            linear_weight: Array2::from_shape_vec((v, d), head.gw).expect("(V, D)"),
            linear_bias: b.as_ref().map(|_| Array1::from_vec(gb.into_iter().map(T::from_wide).collect())),
        });
        Ok((out, grads))
    }

    /// The loss of one validated job whose tiles of logits are `T`, the
    /// products done by `head`; the bias gradient (`f64`) when `want_grad`.
    #[allow(clippy::too_many_arguments)]
    fn execute<T: Float>(
        &self,
        comm: &dyn Collective,
        prepared: Prepared,
        ishape: &[usize],
        b: Option<&[T]>,
        want_grad: bool,
        v_max: usize,
        bytes_per_logit: usize,
        head: &mut dyn Products<T>,
    ) -> Result<(LinearCrossEntropyOutput<T>, Option<Vec<f64>>)> {
        let Prepared { n, d: _, v, v0, vt, targets, up } = prepared;
        let lead = &ishape[..ishape.len() - 1];
        // The denominators of `Mean`: the weights of the counted targets (the
        // cross entropy, as PyTorch) and their number (the z-loss, as Liger-Kernel).
        let counted = targets.iter().filter(|&&y| y != IGNORED).count();
        let (den_ce, den_z) = match self.reduction {
            Reduction::Mean => {
                let wsum = match &self.weight {
                    Some(cw) => sum_f64(targets.iter().filter(|&&y| y != IGNORED).map(|&y| cw[y])),
                    None => counted as f64,
                };
                (wsum, counted as f64)
            }
            // The sum over the length of the first axis (N, or B for (B, T, D) input).
            Reduction::BatchMean => {
                let batch = lead.first().copied().unwrap_or(1) as f64;
                (batch, batch)
            }
            _ => (1.0, 1.0),
        };
        let job = Job {
            n,
            v,
            v0,
            vt,
            b,
            targets: &targets,
            cw: self.weight.as_deref(),
            cw_sum: self.weight.as_ref().map(|cw| sum_f64(cw.iter().copied())).unwrap_or(vt as f64),
            eps: self.label_smoothing,
            zs: self.lse_square_scale,
            cap: self.softcap,
            scale: self.logit_scale,
            den_ce,
            den_z,
            up,
            want_grad,
            want_lse: self.return_lse,
            want_entropy: self.return_entropy,
            want_pred: self.return_predicted,
            tile_rows: tile_rows(self.tile_bytes, v_max, bytes_per_logit, n),
        };
        let r = job.run(comm, head).map_err(|message| LossError::Collective { loss: Self::NAME, message })?;
        let shape = IxDyn(lead);
        let per_token = |a: Vec<f64>| ArrayD::from_shape_vec(shape.clone(), a.into_iter().map(T::from_wide).collect()).expect("one per token");
        let (loss, z_loss) = match self.reduction {
            Reduction::None => {
                let total: Vec<f64> = r.ce.iter().zip(&r.z).map(|(c, z)| c + z).collect();
                (per_token(total), per_token(r.z))
            }
            _ => {
                let (ce, z) = (sum_f64(r.ce.iter().copied()), sum_f64(r.z.iter().copied()));
                let (ce, z) = (ce / den_ce, if self.lse_square_scale == 0.0 { 0.0 } else { z / den_z });
                (ArrayD::from_elem(IxDyn(&[]), T::from_wide(ce + z)), ArrayD::from_elem(IxDyn(&[]), T::from_wide(z)))
            }
        };
        let out = LinearCrossEntropyOutput {
            loss,
            z_loss,
            lse: r.lse.map(per_token),
            entropy: r.entropy.map(per_token),
            predicted: r.predicted.map(|p| ArrayD::from_shape_vec(shape.clone(), p).expect("one per token")),
        };
        Ok((out, r.grad_bias))
    }
}

/// One process's checked inputs.
struct Prepared {
    n: usize,
    d: usize,
    v: usize,
    v0: usize,
    vt: usize,
    targets: Vec<usize>,
    up: Up,
}

/// The numbers each rank sends in the first exchange.
const HANDSHAKE: usize = 8;

/// The first exchange of the sharded form: each rank's status and problem
/// (tokens, hidden size, its classes, the vocabulary, a checksum of the
/// targets, whether it asks for gradients), checked by every rank alike. The largest shard (whose size sets
/// the tiles, the same on every rank), or the error every rank returns.
fn handshake(comm: &dyn Collective, sharded: bool, want_grad: bool, prepared: &Result<Prepared>) -> Result<usize> {
    let name = LinearCrossEntropyLoss::NAME;
    let p = comm.size();
    let mine = match prepared {
        Ok(q) => {
            let sum = q.targets.iter().enumerate().fold(0u64, |h, (i, &y)| h.wrapping_mul(1_000_003).wrapping_add((y as u64) ^ (i as u64)));
            [0.0, q.n as f64, q.d as f64, q.v as f64, q.v0 as f64, q.vt as f64, (sum % (1 << 52)) as f64, f64::from(u8::from(want_grad))]
        }
        Err(_) => [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    };
    if !sharded && p == 1 {
        return Ok(prepared.as_ref().map(|q| q.v).unwrap_or(1));
    }
    let mut all = vec![0.0; p * HANDSHAKE];
    comm.all_gather(&mine, &mut all).map_err(|message| LossError::Collective { loss: name, message })?;
    let ranks: Vec<&[f64]> = all.chunks(HANDSHAKE).collect();
    let err = |message: String| Err(LossError::Collective { loss: name, message });
    let failed: Vec<usize> = (0..p).filter(|&r| ranks[r][0] != 0.0).collect();
    if let Err(e) = prepared {
        return Err(e.clone());
    }
    if !failed.is_empty() {
        return err(format!("rank(s) {failed:?} of {p} refused their inputs (each reports why); no rank computed"));
    }
    let me = comm.rank();
    for (r, q) in ranks.iter().enumerate() {
        for (k, what) in [(1, "tokens"), (2, "hidden size"), (5, "vocabulary size"), (6, "targets (checksum)"), (7, "gradients asked for (1: yes)")] {
            if q[k] != ranks[0][k] {
                return err(format!(
                    "rank {r} has {what} {}, rank 0 has {} (every rank must hold the same input, target and vocabulary size, and make the same call)",
                    q[k], ranks[0][k]
                ));
            }
        }
    }
    let mut shards: Vec<(usize, usize, usize)> = ranks.iter().enumerate().map(|(r, q)| (q[4] as usize, q[4] as usize + q[3] as usize, r)).collect();
    shards.sort_unstable();
    let vt = ranks[0][5] as usize;
    let mut end = 0;
    for &(start, stop, r) in &shards {
        if start != end {
            return err(format!(
                "the shards do not tile the vocabulary [0, {vt}): rank {r} holds [{start}, {stop}) where [{end}, ...) was expected (this is rank {me})"
            ));
        }
        end = stop;
    }
    if end != vt {
        return err(format!("the shards cover [0, {end}) of a vocabulary of {vt}"));
    }
    Ok(shards.iter().map(|&(a, b, _)| b - a).max().unwrap_or(1))
}

/// The features per block of the input's gradient `dX = G · W` (one
/// single-threaded `gemm` call each, [`matmul_split`]).
const GRAD_INPUT_COLS: usize = 256;

/// The classes per block of the weight's gradient `dW += Gᵀ · X` (one
/// single-threaded `gemm` call each, [`matmul_split`]).
const GRAD_WEIGHT_ROWS: usize = 256;

/// A target that is `ignore_index`.
const IGNORED: usize = usize::MAX;

/// The tokens per tile: as many as fit `tile_bytes` of logits, a multiple of 8
/// where that is at least 8, at least 1, at most `n`. A function of the
/// problem alone (never of the thread count).
fn tile_rows(tile_bytes: usize, v: usize, size: usize, n: usize) -> usize {
    let rows = (tile_bytes / (v.max(1) * size)).max(1);
    let rows = if rows >= 8 { rows / 8 * 8 } else { rows };
    rows.min(n.max(1))
}

/// The upstream gradient: one number, or one per token (`None` reduction).
enum Up {
    Scalar(f64),
    Each(Vec<f64>),
}

impl Up {
    fn at(&self, i: usize) -> f64 {
        match self {
            Up::Scalar(g) => *g,
            Up::Each(g) => g[i],
        }
    }
}

/// One evaluation, validated: this process's classes `[v0, v0 + v)` of `vt`.
struct Job<'a, T> {
    n: usize,
    v: usize,
    v0: usize,
    vt: usize,
    b: Option<&'a [T]>,
    targets: &'a [usize],
    /// The whole vocabulary's class weights.
    cw: Option<&'a [f64]>,
    cw_sum: f64,
    eps: f64,
    zs: f64,
    cap: Option<f64>,
    scale: f64,
    den_ce: f64,
    den_z: f64,
    up: Up,
    want_grad: bool,
    want_lse: bool,
    want_entropy: bool,
    want_pred: bool,
    tile_rows: usize,
}

/// Per-token results (`ce`: the weighted, unnormalised cross entropy; `z`: the
/// z-loss) and the gradient of `linear_bias` (in `f64`; empty without a bias)
/// when gradients were asked for (the others are the [`Products`]' own).
struct Results {
    ce: Vec<f64>,
    z: Vec<f64>,
    lse: Option<Vec<f64>>,
    entropy: Option<Vec<f64>>,
    predicted: Option<Vec<i64>>,
    grad_bias: Option<Vec<f64>>,
}

/// The matrix products of a tile of `m` tokens from token `lo`, over a tile of
/// logits of type `T` (rows of `V`): the logits, then from their gradient the
/// gradients of `input` (rows `[lo, lo + m)`, summed over the processes) and
/// of `linear_weight` (accumulated over the tiles), held by the implementor.
trait Products<T>: Sync {
    /// `z (m × V) = X[lo..lo + m] · Wᵀ`.
    fn logits(&mut self, lo: usize, m: usize, z: &mut [T]);
    /// Whether [`Products::finish_row`] does anything.
    fn finishes_rows(&self) -> bool {
        false
    }
    /// Called by the row pass on each row of the logits' gradient as soon as
    /// it is final (in parallel, while the row is still in cache), where
    /// nothing but [`Products::backward`] reads the tile afterwards: the
    /// implementor may rewrite the row for its products (then `backward` is
    /// told `finished`).
    fn finish_row(&self, _row: &mut [T]) {}
    /// From `g = ∂L/∂z (m × V)`: `dX[lo..lo + m] = g · W` (then summed over
    /// `comm`'s processes) and `dW (+)= gᵀ · X[lo..lo + m]` (`first`: the
    /// first tile; `finished`: every row went through [`Products::finish_row`]).
    /// `g` is spent: the implementor may overwrite it.
    fn backward(&mut self, lo: usize, m: usize, g: &mut [T], finished: bool, first: bool, comm: &dyn Collective) -> std::result::Result<(), String>;
}

/// The products of `f32` and `f64` inputs: the `gemm` crate's, on the inputs
/// where they lie; the gradients of `input` and `linear_weight` in `T`.
struct GemmHead<'a, T> {
    d: usize,
    v: usize,
    x: &'a [T],
    w: &'a [T],
    gx: Vec<T>,
    gw: Vec<T>,
}

impl<'a, T: Float> GemmHead<'a, T> {
    fn new(n: usize, d: usize, v: usize, x: &'a [T], w: &'a [T], want_grad: bool) -> Self {
        let (gx, gw) = if want_grad { (vec![T::zero(); n * d], vec![T::zero(); v * d]) } else { (vec![], vec![]) };
        GemmHead { d, v, x, w, gx, gw }
    }
}

impl<T: Float> Products<T> for GemmHead<'_, T> {
    fn logits(&mut self, lo: usize, m: usize, z: &mut [T]) {
        let (d, v) = (self.d, self.v);
        // SAFETY: the slices hold m × d, v × d and m × v elements in row-major order.
        unsafe { matmul_nt(m, v, d, z.as_mut_ptr(), v, self.x[lo * d..].as_ptr(), d, self.w.as_ptr(), d) };
    }

    fn backward(&mut self, lo: usize, m: usize, g: &mut [T], _finished: bool, first: bool, comm: &dyn Collective) -> std::result::Result<(), String> {
        let (d, v) = (self.d, self.v);
        // SAFETY: as above; gx rows [lo, lo + m) and gw are ours alone.
        unsafe {
            // dX_b = G · W (this process's classes; summed over the processes
            // below), by blocks of the features: each block's sum runs over every class.
            matmul_split(Split::Cols(GRAD_INPUT_COLS), m, d, v, self.gx[lo * d..].as_mut_ptr(), 1, d as isize, false, g.as_ptr(), 1, v as isize, self.w.as_ptr(), 1, d as isize);
            // dW += Gᵀ · X_b, by blocks of the vocabulary: each block packs its
            // own slice of the tile's gradient (each element's sum over the rows is unchanged).
            matmul_split(Split::Rows(GRAD_WEIGHT_ROWS), v, d, m, self.gw.as_mut_ptr(), 1, d as isize, !first, g.as_ptr(), v as isize, 1, self.x[lo * d..].as_ptr(), 1, d as isize);
        }
        if comm.size() > 1 {
            comm.all_reduce_sum(reduce_buf(&mut self.gx[lo * d..(lo + m) * d]))?;
        }
        Ok(())
    }
}

/// The partials of one token over one process's classes: the maximum of its
/// final logits (NaN when one is NaN or the maximum is infinite), `Σ exp(z − max)`,
/// the target's logit (0 where the target is elsewhere), `Σ w_c z_c` (`Σ z_c`
/// without class weights; with label smoothing only), `Σ exp(z − max) z`
/// (for the entropy only), and the class of the maximum.
const K: usize = 6;

/// A token's partials merged over the processes.
#[derive(Clone, Copy, Default)]
struct Merged {
    nan: bool,
    lse: f64,
    zy: f64,
    sz: f64,
    /// `Σ p z` (the entropy's term).
    pz: f64,
    pred: i64,
}

/// Merges row `r`'s partials of the `p` ranks (`all`: rank-major, `m` rows of
/// [`K`] each), in rank order.
fn merge(all: &[f64], p: usize, m: usize, r: usize) -> Merged {
    let at = |rank: usize| &all[(rank * m + r) * K..(rank * m + r + 1) * K];
    if let Some(bad) = (0..p).find(|&q| at(q)[0].is_nan()) {
        return Merged { nan: true, lse: f64::NAN, pred: at(bad)[5] as i64, ..Merged::default() };
    }
    let top = (0..p).map(|q| at(q)[0]).fold(f64::NEG_INFINITY, f64::max);
    let (mut s, mut zy, mut sz, mut ez) = (0.0, 0.0, 0.0, 0.0);
    let mut pred = i64::MAX;
    for q in 0..p {
        let a = at(q);
        let f = (a[0] - top).exp();
        s += a[1] * f;
        zy += a[2];
        sz += a[3];
        ez += a[4] * f;
        if a[0] == top {
            pred = pred.min(a[5] as i64);
        }
    }
    Merged { nan: false, lse: top + s.ln(), zy, sz, pz: ez / s, pred }
}

impl<T: Float> Job<'_, T> {
    fn run(&self, comm: &dyn Collective, head: &mut dyn Products<T>) -> std::result::Result<Results, String> {
        let (n, v) = (self.n, self.v);
        let p = comm.size();
        let rows = self.tile_rows;
        let mut ce = vec![0.0; n];
        let mut z = vec![0.0; n];
        let mut lse = self.want_lse.then(|| vec![0.0; n]);
        let mut entropy = self.want_entropy.then(|| vec![0.0; n]);
        let mut pred = self.want_pred.then(|| vec![0i64; n]);
        let mut gb = if self.want_grad && self.b.is_some() { vec![0.0f64; v] } else { vec![] };
        let mut tile = vec![T::zero(); rows.min(n) * v];
        let threads = par::threads().max(1);
        let keep_z = self.cap.is_some() || self.want_entropy;
        let mut scratch = if keep_z { vec![T::zero(); threads.min(rows.max(1)) * v] } else { vec![] };
        let mut part = vec![0.0; rows * K];
        let mut all = vec![0.0; p * rows * K];
        let mut merged = vec![Merged::default(); rows];
        let mut first_w = true;
        let mut lo = 0;
        while lo < n {
            let m = rows.min(n - lo);
            let z_tile = &mut tile[..m * v];
            head.logits(lo, m, z_tile);
            let part_p = SyncPtr(part.as_mut_ptr());
            self.rows_pass(m, z_tile, &mut scratch, threads, |r, row, scr| {
                let k = self.partial(lo + r, row, scr);
                // SAFETY: each row writes its own K partials.
                unsafe { std::ptr::copy_nonoverlapping(k.as_ptr(), part_p.add(r * K), K) };
            });
            comm.all_gather(&part[..m * K], &mut all[..p * m * K])?;
            for r in 0..m {
                let mg = merge(&all[..p * m * K], p, m, r);
                merged[r] = mg;
                let (c, zl) = self.token(lo + r, &mg);
                ce[lo + r] = c;
                z[lo + r] = zl;
                if let Some(l) = &mut lse {
                    l[lo + r] = mg.lse;
                }
                if let Some(e) = &mut entropy {
                    e[lo + r] = if mg.nan { f64::NAN } else { mg.lse - mg.pz };
                }
                if let Some(q) = &mut pred {
                    q[lo + r] = mg.pred;
                }
            }
            if self.want_grad {
                let (part, merged) = (&part, &merged);
                // The rows handed to the products as they are done, unless the
                // bias's gradient still reads them.
                let finish = gb.is_empty() && head.finishes_rows();
                let h: &dyn Products<T> = &*head;
                self.rows_pass(m, z_tile, &mut scratch, threads, |r, row, scr| {
                    let k: &[f64; K] = part[r * K..(r + 1) * K].try_into().expect("K partials");
                    self.gradient(lo + r, row, scr, k, &merged[r]);
                    if finish {
                        h.finish_row(row);
                    }
                });
                // The bias's gradient first: the products may overwrite the tile.
                if !gb.is_empty() {
                    column_sums(z_tile, m, v, &mut gb);
                }
                head.backward(lo, m, z_tile, finish, first_w, comm)?;
                first_w = false;
            }
            lo += m;
        }
        Ok(Results { ce, z, lse, entropy, predicted: pred, grad_bias: self.want_grad.then_some(gb) })
    }

    /// Runs `f(r, row r of the tile, this part's scratch row)` over the `m`
    /// rows of a tile, in parallel (each part of the rows with its own scratch row).
    fn rows_pass(&self, m: usize, tile: &mut [T], scratch: &mut [T], threads: usize, f: impl Fn(usize, &mut [T], Option<&mut [T]>) + Sync) {
        let v = self.v;
        let parts = threads.min(m).max(1);
        let tile_p = SyncPtr(tile.as_mut_ptr());
        let scratch_p = SyncPtr(scratch.as_mut_ptr());
        let keep_z = !scratch.is_empty();
        par::for_each(parts, m * v, |q| {
            let (r0, r1) = (q * m / parts, (q + 1) * m / parts);
            for r in r0..r1 {
                // SAFETY: part q owns rows [r0, r1) of the tile and scratch row q.
                let row = unsafe { std::slice::from_raw_parts_mut(tile_p.add(r * v), v) };
                let scr = if keep_z { Some(unsafe { std::slice::from_raw_parts_mut(scratch_p.add(q * v), v) }) } else { None };
                f(r, row, scr);
            }
        });
    }

    /// Phase 1 for token `i`: its logits `z` (the product `x Wᵀ` over this
    /// process's classes) made final (bias, scale, soft-cap), and its
    /// [`K`] partials. Without a soft-cap or the entropy, `z` is left holding
    /// `exp(z − max)`; with them, `z` is kept and the scratch row used.
    fn partial(&self, i: usize, z: &mut [T], scratch: Option<&mut [T]>) -> [f64; K] {
        let v = self.v;
        let s = self.scale;
        if self.b.is_some() || s != 1.0 || self.cap.is_some() {
            let (st, b) = (T::from_wide(s), self.b);
            match (b, self.cap) {
                (Some(b), None) => z.iter_mut().zip(b).for_each(|(z, &b)| *z = (*z + b) * st),
                (None, None) => z.iter_mut().for_each(|z| *z = *z * st),
                (b, Some(c)) => {
                    let (ct, inv) = (T::from_wide(c), T::from_wide(1.0 / c));
                    for (k, z) in z.iter_mut().enumerate() {
                        let u = (*z + b.map_or(T::zero(), |b| b[k])) * st;
                        *z = ct * (u * inv).tanh();
                    }
                }
            }
        }
        let ops = ops_for::<T>();
        // SAFETY: z holds v elements.
        let (m, nan) = unsafe { (ops.max)(z.as_ptr(), v) };
        let mw = m.to_wide();
        if nan || !mw.is_finite() {
            let at = if nan { z.iter().position(|x| x.is_nan()).unwrap_or(0) } else { first_max(z, m) };
            return [f64::NAN, 0.0, 0.0, 0.0, 0.0, (self.v0 + at) as f64];
        }
        let at = if self.want_pred { first_max(z, m) } else { 0 };
        let y = self.targets[i];
        let local = (y != IGNORED && (self.v0..self.v0 + v).contains(&y)).then(|| y - self.v0);
        let zy = local.map_or(0.0, |k| z[k].to_wide());
        let smoothing = self.eps > 0.0 && y != IGNORED;
        let wz = match self.cw {
            Some(cw) if smoothing => sum_f64(z.iter().zip(&cw[self.v0..self.v0 + v]).map(|(z, w)| z.to_wide() * w)),
            _ => 0.0,
        };
        let want_xsum = smoothing && self.cw.is_none();
        let e_ptr = match &scratch {
            Some(s) => s.as_ptr().cast_mut(),
            None => z.as_mut_ptr(),
        };
        // SAFETY: z and e hold v elements; m is finite and ≥ every element.
        let (sum, xs) = unsafe { (ops.exp_sum)(z.as_ptr(), e_ptr, v, m, want_xsum) };
        let sz = if want_xsum { xs + v as f64 * mw } else { wz };
        let ez = match &scratch {
            Some(e) if self.want_entropy => sum_f64(e.iter().zip(z.iter()).map(|(e, z)| e.to_wide() * z.to_wide())),
            _ => 0.0,
        };
        [mw, sum, zy, sz, ez, (self.v0 + at) as f64]
    }

    /// Token `i`'s cross entropy (weighted, unnormalised) and z-loss from its merged partials.
    fn token(&self, i: usize, mg: &Merged) -> (f64, f64) {
        let y = self.targets[i];
        if y == IGNORED {
            return (0.0, 0.0);
        }
        if mg.nan {
            return (f64::NAN, if self.zs == 0.0 { 0.0 } else { f64::NAN });
        }
        let (eps, lse) = (self.eps, mg.lse);
        let wy = self.cw.map_or(1.0, |cw| cw[y]);
        // ε/V Σ_c w_c (lse − z_c), with Σ w_c = cw_sum (V without weights)
        let smooth = if eps > 0.0 { eps / self.vt as f64 * (self.cw_sum * lse - mg.sz) } else { 0.0 };
        ((1.0 - eps) * wy * (lse - mg.zy) + smooth, self.zs * lse * lse)
    }

    /// Phase 2 for token `i`: `∂L/∂(x Wᵀ + b)` over this process's classes, in
    /// place over `z` (the exponentials of phase 1, or the final logits when
    /// kept), from its partials `k` and the merged `mg`.
    fn gradient(&self, i: usize, z: &mut [T], scratch: Option<&mut [T]>, k: &[f64; K], mg: &Merged) {
        let v = self.v;
        let y = self.targets[i];
        if y == IGNORED {
            z.iter_mut().for_each(|g| *g = T::zero());
            return;
        }
        if mg.nan {
            z.iter_mut().for_each(|g| *g = T::nan());
            return;
        }
        let (eps, s, lse) = (self.eps, self.scale, mg.lse);
        let cw = self.cw;
        let wy = cw.map_or(1.0, |cw| cw[y]);
        let vf = self.vt as f64;
        // ∂L/∂z_k = A p_k − up ε w_k / (V den) − up (1 − ε) w_y / den δ_ky,  p_k = e_k exp(max − lse)
        let up = self.up.at(i);
        let a = up * (((1.0 - eps) * wy + eps * self.cw_sum / vf) / self.den_ce + 2.0 * self.zs * lse / self.den_z);
        let f = a * (k[0] - lse).exp();
        let c_unweighted = if cw.is_none() { -up * eps / (vf * self.den_ce) } else { 0.0 };
        let ty = up * (1.0 - eps) * wy / self.den_ce;
        let local = (self.v0..self.v0 + v).contains(&y).then(|| y - self.v0);
        let cw_local = cw.map(|cw| &cw[self.v0..self.v0 + v]);
        let ops = ops_for::<T>();
        // The exponentials, recomputed into the scratch row where phase 1 kept the logits.
        let e: Option<&[T]> = scratch.map(|e| {
            // SAFETY: z and e hold v elements; k[0] is the finite maximum of z.
            unsafe { (ops.exp_sum)(z.as_ptr(), e.as_mut_ptr(), v, T::from_wide(k[0]), false) };
            &*e
        });
        match (self.cap, e) {
            (Some(c), Some(e)) => {
                // chain: dz/du = s (1 − (z/c)²), z the capped logit (still in z)
                let (ft, ct, st, inv) = (T::from_wide(f), T::from_wide(c_unweighted), T::from_wide(s), T::from_wide(1.0 / c));
                let wk = cw_local.map(|cw| (cw, -up * eps / (vf * self.den_ce)));
                let zy = local.map(|k| z[k].to_wide());
                for j in 0..v {
                    let mut g = e[j] * ft + ct;
                    if let Some((cw, cf)) = wk {
                        g = g + T::from_wide(cf * cw[j]);
                    }
                    let q = z[j] * inv;
                    z[j] = g * st * (T::one() - q * q);
                }
                if let (Some(k), Some(zy)) = (local, zy) {
                    let q = zy / c;
                    z[k] = z[k] - T::from_wide(ty * s * (1.0 - q * q));
                }
            }
            (_, e) => {
                let (ft, ct) = (T::from_wide(f * s), T::from_wide(c_unweighted * s));
                if let Some(e) = e {
                    z.iter_mut().zip(e.iter()).for_each(|(g, &e)| *g = e * ft + ct);
                } else {
                    // SAFETY: z holds v elements (the exponentials, in place).
                    unsafe { (ops.affine)(z.as_mut_ptr(), v, ft, ct) };
                }
                if let Some(cw) = cw_local {
                    if eps > 0.0 {
                        let cf = -up * eps * s / (vf * self.den_ce);
                        z.iter_mut().zip(cw).for_each(|(g, w)| *g = *g + T::from_wide(cf * w));
                    }
                }
                if let Some(k) = local {
                    z[k] = z[k] - T::from_wide(ty * s);
                }
            }
        }
    }
}

/// The products of `bf16` inputs on AVX512_BF16's dot products
/// ([`gemm_bf16`]), accumulated in `f32`: the logits' tile in `f32`; its
/// gradient rounded to `bf16` (as a `bf16` autograd holds it) for the two
/// products of the backward pass, in place (row `r`'s `bf16` values at the
/// start of its own `f32` row: a row stride of `2V` `bf16`); the gradient of `input` rounded to `bf16`
/// once per token, that of `linear_weight` accumulated over the tiles in an
/// `f32` buffer and rounded once at the end.
struct Bf16Head<'a> {
    d: usize,
    v: usize,
    x: &'a [bf16],
    w: &'a [bf16],
    /// The gradient of `input`, `(N, D)`.
    gx: Vec<bf16>,
    /// The gradient of `linear_weight`, accumulated: `(V, D)` in `f32`.
    gw: Vec<f32>,
    /// One tile's gradient of `input` in `f32`, `(m, D)`.
    dx: Vec<f32>,
}

impl<'a> Bf16Head<'a> {
    fn new(n: usize, d: usize, v: usize, x: &'a [bf16], w: &'a [bf16], want_grad: bool) -> Self {
        let (gx, gw) = if want_grad { (vec![bf16::ZERO; n * d], vec![0.0; v * d]) } else { (vec![], vec![]) };
        Bf16Head { d, v, x, w, gx, gw, dx: vec![] }
    }
}

impl Products<f32> for Bf16Head<'_> {
    fn logits(&mut self, lo: usize, m: usize, z: &mut [f32]) {
        let d = self.d;
        // SAFETY: Bf16Head is only built where gemm_bf16::available() and D is even; the slices hold what the shapes say.
        unsafe { gemm_bf16::logits(m, self.v, d, &self.x[lo * d..(lo + m) * d], self.w, z) };
    }

    fn finishes_rows(&self) -> bool {
        true
    }

    fn finish_row(&self, row: &mut [f32]) {
        narrow_in_place(row);
    }

    fn backward(&mut self, lo: usize, m: usize, g: &mut [f32], finished: bool, first: bool, comm: &dyn Collective) -> std::result::Result<(), String> {
        let (d, v) = (self.d, self.v);
        self.dx.resize(m * d, 0.0);
        if !finished {
            let gp = SyncPtr(g.as_mut_ptr());
            par::for_each(m, m * v, |r| {
                // SAFETY: row r of g (v elements) is this task's alone.
                narrow_in_place(unsafe { std::slice::from_raw_parts_mut(gp.add(r * v), v) });
            });
        }
        // The tile as bf16 rows of stride 2v (the f32 tile is not used again here).
        // SAFETY: g holds m × v f32, that is m × 2v bf16.
        let g16 = unsafe { std::slice::from_raw_parts(g.as_ptr().cast::<bf16>(), m * 2 * v) };
        let x = &self.x[lo * d..(lo + m) * d];
        // SAFETY: as in `logits`; row r's pad (odd V) is zero.
        unsafe {
            gemm_bf16::grad_input(m, v, 2 * v, d, g16, self.w, &mut self.dx);
            gemm_bf16::grad_weight(m, v, 2 * v, d, g16, x, &mut self.gw, !first);
        }
        if comm.size() > 1 {
            comm.all_reduce_sum(ReduceBuf::F32(&mut self.dx[..m * d]))?;
        }
        let ops = half_ops_for::<bf16>();
        // SAFETY: dx and gx's rows [lo, lo + m) hold m × d elements.
        unsafe { (ops.narrow_affine)(self.dx.as_ptr(), self.gx[lo * d..].as_mut_ptr(), m * d, 1.0, 0.0) };
        Ok(())
    }
}

/// Rounds a row of `f32` to `bf16` in place: its `v` values (and, for an odd
/// `v`, a zero pad) in the row's first `2v + 2 ≤ 4v` bytes (the rest of the
/// row is left as it was). The narrowing reads each block of values before
/// it writes it, front to back, so a value is written only over values
/// already read.
fn narrow_in_place(row: &mut [f32]) {
    let v = row.len();
    let p = row.as_mut_ptr();
    let out = p.cast::<bf16>();
    // SAFETY: the row holds v f32 = 2v bf16 ≥ v + v % 2 of them; the overlap as above.
    unsafe {
        (half_ops_for::<bf16>().narrow_affine)(p, out, v, 1.0, 0.0);
        if v % 2 == 1 {
            *out.add(v) = bf16::ZERO;
        }
    }
}

/// A gradient slice as the collective reduces it.
fn reduce_buf<T: Float>(b: &mut [T]) -> ReduceBuf<'_> {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        // SAFETY: T is f32.
        ReduceBuf::F32(unsafe { std::slice::from_raw_parts_mut(b.as_mut_ptr().cast::<f32>(), b.len()) })
    } else {
        // SAFETY: Float is sealed to f32 and f64, so T is f64.
        ReduceBuf::F64(unsafe { std::slice::from_raw_parts_mut(b.as_mut_ptr().cast::<f64>(), b.len()) })
    }
}

/// The first index of `m` (the row's maximum) in `z`.
fn first_max<T: Float>(z: &[T], m: T) -> usize {
    z.iter().position(|&x| x == m).unwrap_or(0)
}

/// `acc[k] += Σ_r tile[r, k]` over the `m` rows of a `(m, v)` tile, in `f64`,
/// rows in order; columns in parallel.
fn column_sums<T: Float>(tile: &[T], m: usize, v: usize, acc: &mut [f64]) {
    const CHUNK: usize = 4096;
    let parts = v.div_ceil(CHUNK);
    let acc_p = SyncPtr(acc.as_mut_ptr());
    par::for_each(parts, m * v, |p| {
        let (k0, k1) = (p * CHUNK, ((p + 1) * CHUNK).min(v));
        // SAFETY: part p owns columns [k0, k1) of acc.
        let a = unsafe { std::slice::from_raw_parts_mut(acc_p.add(k0), k1 - k0) };
        for r in 0..m {
            let row = &tile[r * v + k0..r * v + k1];
            a.iter_mut().zip(row).for_each(|(a, g)| *a += g.to_wide());
        }
    });
}

/// [`LinearCrossEntropyLoss`] with `reduction`:
/// `torch.nn.functional.linear_cross_entropy(input, linear_weight, target, linear_bias=..., reduction=...)`.
///
/// ```text
/// ℓₙ = −log softmax(W xₙ + b)[yₙ]        Mean = Σₙ ℓₙ / N
/// ```
///
/// # Errors
/// See [`LinearCrossEntropyLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let x = array![[1.0f64, 0.0]];
/// let w = array![[0.0f64, 0.0], [0.0, 0.0]];
/// let v = losslab::linear_cross_entropy(x.view(), w.view(), None, array![1i64].view(), losslab::Reduction::Mean).unwrap();
/// assert!((v[[]] - 2f64.ln()).abs() < 1e-15);
/// ```
///
/// # References
/// [`LinearCrossEntropyLoss`]; <https://pytorch.org/docs/stable/generated/torch.nn.functional.linear_cross_entropy.html>
pub fn linear_cross_entropy<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
    input: ArrayView<'_, T, D1>,
    linear_weight: ArrayView2<'_, T>,
    linear_bias: Option<ArrayView1<'_, T>>,
    target: ArrayView<'_, L, D2>,
    reduction: Reduction,
) -> Result<ArrayD<T>> {
    Ok(LinearCrossEntropyLoss::new().reduction(reduction).forward(input, linear_weight, linear_bias, target)?.loss)
}
