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
//! The matrix products are the `gemm` crate's (AVX-512 or AVX2 micro-kernels
//! chosen at run time, on rayon's pool); the row pass runs the fused cross
//! entropy's vectorised block operations. Tiles follow one another in order and
//! every sum has a fixed order, so the results are the same bits whatever the
//! number of threads.

use super::class_weights;
use crate::machinery::error::{check_option, shape_err, LossError, Result};
use crate::machinery::float::{ClassIndex, Float};
use crate::machinery::kernels::ops_for;
use crate::machinery::kernels::par::{self, SyncPtr};
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
/// one tile of `tile_bytes` (default 64 MiB) and one row of `V` per thread.
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
/// non-finite `logit_scale`, a zero `tile_bytes`, or the reduction `BatchMean`.
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
    /// The reduction: `Mean` (default), `Sum` or `None`.
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
    /// The loss: a scalar under `Mean` and `Sum`, one per token under `None`.
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
        /// Sets the reduction (`None`, `Mean` or `Sum`).
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
        if self.reduction == Reduction::BatchMean {
            return Err(LossError::Option {
                loss: Self::NAME,
                option: "reduction",
                value: "batchmean".into(),
                expected: "none, mean or sum".into(),
            });
        }
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
        Ok(self.run(input.into_dyn(), linear_weight, linear_bias, target.into_dyn(), None, false)?.0)
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
        let (out, g) = self.run(input.into_dyn(), linear_weight, linear_bias, target.into_dyn(), grad_output, true)?;
        Ok((out, g.expect("gradients were asked for")))
    }

    fn run<T: Float, L: ClassIndex>(
        &self,
        input: ArrayViewD<'_, T>,
        w: ArrayView2<'_, T>,
        b: Option<ArrayView1<'_, T>>,
        target: ArrayViewD<'_, L>,
        grad_output: Option<ArrayViewD<'_, T>>,
        want_grad: bool,
    ) -> Result<(LinearCrossEntropyOutput<T>, Option<LinearCrossEntropyGradients<T>>)> {
        self.validate()?;
        let name = Self::NAME;
        let ishape = input.shape().to_vec();
        let Some((&d, lead)) = ishape.split_last() else {
            return Err(shape_err(name, "input", "at least 1 axis: (N, D), (B, T, D) or (D,)", &ishape));
        };
        let v = w.nrows();
        if w.ncols() != d || v == 0 {
            return Err(shape_err(name, "linear_weight", format!("[V, {d}] with V ≥ 1 (one row of `input`'s feature size per class)"), w.shape()));
        }
        if let Some(b) = &b {
            if b.len() != v {
                return Err(shape_err(name, "linear_bias", format!("[{v}] (one per class: `linear_weight`'s rows)"), b.shape()));
            }
        }
        if let Some(cw) = &self.weight {
            if cw.len() != v {
                return Err(shape_err(name, "weight", format!("[{v}] (one weight per class: `linear_weight`'s rows)"), &[cw.len()]));
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
            } else if (0..v as i64).contains(&y) {
                targets.push(y as usize);
            } else {
                return Err(LossError::ClassIndex {
                    loss: name,
                    tensor: "target",
                    index: y,
                    position: crate::machinery::error::unravel(i, lead),
                    classes: v,
                    ignore_index: Some(self.ignore_index),
                });
            }
        }
        let out_shape: Vec<usize> = if self.reduction == Reduction::None { lead.to_vec() } else { vec![] };
        let up = match &grad_output {
            Some(g) if g.shape() != out_shape.as_slice() => {
                return Err(shape_err(name, "grad_output", format!("{out_shape:?} (the shape of the result)"), g.shape()));
            }
            Some(g) if self.reduction == Reduction::None => Up::Each(g.iter().map(|v| v.to_wide()).collect()),
            Some(g) => Up::Scalar(g.iter().next().map(|v| v.to_wide()).unwrap_or(1.0)),
            None => Up::Scalar(1.0),
        };
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
            _ => (1.0, 1.0),
        };
        let x = input.as_standard_layout();
        let w = w.as_standard_layout();
        let b = b.map(|b| b.as_standard_layout().iter().copied().collect::<Vec<T>>());
        let job = Job {
            n,
            d,
            v,
            x: x.as_slice().expect("standard layout"),
            w: w.as_slice().expect("standard layout"),
            b: b.as_deref(),
            targets: &targets,
            cw: self.weight.as_deref(),
            cw_sum: self.weight.as_ref().map(|cw| sum_f64(cw.iter().copied())).unwrap_or(v as f64),
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
            tile_rows: tile_rows(self.tile_bytes, v, std::mem::size_of::<T>(), n),
        };
        let r = job.run();
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
        let grads = r.grads.map(|(gx, gw, gb)| LinearCrossEntropyGradients {
            input: ArrayD::from_shape_vec(IxDyn(&ishape), gx).expect("input's shape"),
            linear_weight: Array2::from_shape_vec((v, d), gw).expect("(V, D)"),
            linear_bias: b.as_ref().map(|_| Array1::from_vec(gb.into_iter().map(T::from_wide).collect())),
        });
        Ok((out, grads))
    }
}

/// The classes per product of the weight's gradient (see [`Job::run`]).
const VOCAB_SLICE: usize = 4096;

/// A target that is `ignore_index`.
const IGNORED: usize = usize::MAX;

/// The tokens per tile: as many as fit `tile_bytes` of logits, a multiple of 8
/// where that is at least 8, at least 1, at most `n`. A function of the
/// problem alone (never of the thread count).
fn tile_rows(tile_bytes: usize, v: usize, size: usize, n: usize) -> usize {
    let rows = (tile_bytes / (v * size)).max(1);
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

/// One evaluation, validated.
struct Job<'a, T> {
    n: usize,
    d: usize,
    v: usize,
    x: &'a [T],
    w: &'a [T],
    b: Option<&'a [T]>,
    targets: &'a [usize],
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
/// z-loss) and the gradients (`input`, `linear_weight`, `linear_bias` in `f64`).
struct Results<T> {
    ce: Vec<f64>,
    z: Vec<f64>,
    lse: Option<Vec<f64>>,
    entropy: Option<Vec<f64>>,
    predicted: Option<Vec<i64>>,
    grads: Option<(Vec<T>, Vec<T>, Vec<f64>)>,
}

/// One token's numbers from the row pass.
#[derive(Clone, Copy, Default)]
struct RowOut {
    ce: f64,
    z: f64,
    lse: f64,
    entropy: f64,
    pred: i64,
}

impl<T: Float> Job<'_, T> {
    fn run(&self) -> Results<T> {
        let (n, d, v) = (self.n, self.d, self.v);
        let rows = self.tile_rows;
        let mut ce = vec![0.0; n];
        let mut z = vec![0.0; n];
        let mut lse = self.want_lse.then(|| vec![0.0; n]);
        let mut entropy = self.want_entropy.then(|| vec![0.0; n]);
        let mut pred = self.want_pred.then(|| vec![0i64; n]);
        let mut gx = if self.want_grad { vec![T::zero(); n * d] } else { vec![] };
        let mut gw = if self.want_grad { vec![T::zero(); v * d] } else { vec![] };
        let mut gb = if self.want_grad && self.b.is_some() { vec![0.0f64; v] } else { vec![] };
        let mut tile = vec![T::zero(); rows.min(n) * v];
        let threads = par::threads().max(1);
        let keep_z = self.cap.is_some() || self.want_entropy;
        let mut scratch = if keep_z { vec![T::zero(); threads.min(rows.max(1)) * v] } else { vec![] };
        let mut outs = vec![RowOut::default(); rows];
        let mut first_w = true;
        let mut lo = 0;
        while lo < n {
            let m = rows.min(n - lo);
            let z_tile = &mut tile[..m * v];
            // Z = X_b · Wᵀ (scaled by s when there is no bias and no cap to apply first: folded below).
            // SAFETY: the slices hold m × d, v × d and m × v elements in row-major order.
            unsafe {
                matmul(m, v, d, z_tile.as_mut_ptr(), 1, v as isize, false, self.x[lo * d..].as_ptr(), 1, d as isize, self.w.as_ptr(), d as isize, 1);
            }
            self.rows_pass(lo, m, z_tile, &mut scratch, &mut outs[..m], threads);
            for (r, o) in outs[..m].iter().enumerate() {
                ce[lo + r] = o.ce;
                z[lo + r] = o.z;
                if let Some(l) = &mut lse {
                    l[lo + r] = o.lse;
                }
                if let Some(e) = &mut entropy {
                    e[lo + r] = o.entropy;
                }
                if let Some(p) = &mut pred {
                    p[lo + r] = o.pred;
                }
            }
            if self.want_grad {
                // SAFETY: as above; gx rows [lo, lo + m) and gw are ours alone.
                unsafe {
                    // dX_b = G · W
                    matmul(m, d, v, gx[lo * d..].as_mut_ptr(), 1, d as isize, false, z_tile.as_ptr(), 1, v as isize, self.w.as_ptr(), 1, d as isize);
                    // dW += Gᵀ · X_b, by slices of the vocabulary: gemm packs its whole
                    // right operand (here the tile's gradient, transposed), so a slice
                    // bounds that copy (each element's sum over the rows is unchanged).
                    for j0 in (0..v).step_by(VOCAB_SLICE) {
                        let j1 = (j0 + VOCAB_SLICE).min(v);
                        matmul(j1 - j0, d, m, gw[j0 * d..].as_mut_ptr(), 1, d as isize, !first_w, z_tile[j0..].as_ptr(), v as isize, 1, self.x[lo * d..].as_ptr(), 1, d as isize);
                    }
                }
                first_w = false;
                if !gb.is_empty() {
                    column_sums(z_tile, m, v, &mut gb);
                }
            }
            lo += m;
        }
        Results { ce, z, lse, entropy, predicted: pred, grads: self.want_grad.then_some((gx, gw, gb)) }
    }

    /// The row pass over one tile of `m` tokens from token `lo`: each row's
    /// numbers into `outs`, and, when gradients are wanted, `∂L/∂(X Wᵀ + b)`
    /// over the row's logits, in place.
    fn rows_pass(&self, lo: usize, m: usize, tile: &mut [T], scratch: &mut [T], outs: &mut [RowOut], threads: usize) {
        let v = self.v;
        let parts = threads.min(m);
        let tile_p = SyncPtr(tile.as_mut_ptr());
        let scratch_p = SyncPtr(scratch.as_mut_ptr());
        let outs_p = SyncPtr(outs.as_mut_ptr());
        let keep_z = !scratch.is_empty();
        par::for_each(parts, m * v, |p| {
            let (r0, r1) = (p * m / parts, (p + 1) * m / parts);
            for r in r0..r1 {
                // SAFETY: part p owns rows [r0, r1) of the tile and of outs, and scratch row p.
                let row = unsafe { std::slice::from_raw_parts_mut(tile_p.add(r * v), v) };
                let scr = if keep_z { Some(unsafe { std::slice::from_raw_parts_mut(scratch_p.add(p * v), v) }) } else { None };
                let o = self.row(lo + r, row, scr);
                unsafe { *outs_p.add(r) = o };
            }
        });
    }

    /// One token: its logits `z` (the product `x Wᵀ`) in, its numbers out, and
    /// `z` overwritten with the gradient when gradients are wanted.
    fn row(&self, i: usize, z: &mut [T], scratch: Option<&mut [T]>) -> RowOut {
        let v = self.v;
        let y = self.targets[i];
        let counted = y != IGNORED;
        let s = self.scale;
        // Bias, scale, soft-cap: the final logits.
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
        let mut out = RowOut::default();
        let mw = m.to_wide();
        if nan || !mw.is_finite() {
            out.lse = f64::NAN;
            out.entropy = f64::NAN;
            out.pred = if nan { z.iter().position(|x| x.is_nan()).unwrap_or(0) } else { first_max(z, m) } as i64;
            if counted {
                out.ce = f64::NAN;
                out.z = if self.zs == 0.0 { 0.0 } else { f64::NAN };
            }
            if self.want_grad {
                let fill = if counted { T::nan() } else { T::zero() };
                z.iter_mut().for_each(|g| *g = fill);
            }
            return out;
        }
        if self.want_pred {
            out.pred = first_max(z, m) as i64;
        }
        let zy = if counted { z[y].to_wide() } else { 0.0 };
        let (eps, cw) = (self.eps, self.cw);
        // Σ w_c z_c for smoothing with class weights (without them: from exp_sum's Σ (z − m)).
        let wz = match cw {
            Some(cw) if counted && eps > 0.0 => sum_f64(z.iter().zip(cw).map(|(z, w)| z.to_wide() * w)),
            _ => 0.0,
        };
        let want_xsum = counted && eps > 0.0 && cw.is_none();
        let e_ptr = match &scratch {
            Some(s) => s.as_ptr() as *mut T,
            None => z.as_mut_ptr(),
        };
        // SAFETY: z and e hold v elements; m is finite and ≥ every element.
        let (sum, xs) = unsafe { (ops.exp_sum)(z.as_ptr(), e_ptr, v, m, want_xsum) };
        let lse = mw + sum.ln();
        out.lse = lse;
        if self.want_entropy {
            // H = lse − Σ p z  (z kept: the scratch holds the exponentials)
            let e = scratch.as_ref().expect("entropy keeps the logits");
            let pz = sum_f64(e.iter().zip(z.iter()).map(|(e, z)| e.to_wide() * z.to_wide())) / sum;
            out.entropy = lse - pz;
        }
        if !counted {
            if self.want_grad {
                z.iter_mut().for_each(|g| *g = T::zero());
            }
            return out;
        }
        let wy = cw.map_or(1.0, |cw| cw[y]);
        let vf = v as f64;
        let smooth = if eps > 0.0 {
            match cw {
                Some(_) => eps / vf * (self.cw_sum * lse - wz),
                // Σ (lse − z_c) = V lse − Σ (z − m) − V m
                None => eps / vf * (vf * (lse - mw) - xs),
            }
        } else {
            0.0
        };
        out.ce = (1.0 - eps) * wy * (lse - zy) + smooth;
        out.z = self.zs * lse * lse;
        if !self.want_grad {
            return out;
        }
        // ∂L/∂z_k = A p_k − up ε w_k / (V den) − up (1 − ε) w_y / den δ_ky
        let up = self.up.at(i);
        let a = up * (((1.0 - eps) * wy + eps * self.cw_sum / vf) / self.den_ce + 2.0 * self.zs * lse / self.den_z);
        let c_unweighted = if cw.is_none() { -up * eps / (vf * self.den_ce) } else { 0.0 };
        let ty = up * (1.0 - eps) * wy / self.den_ce;
        let f = a / sum;
        match (self.cap, &scratch) {
            (Some(c), Some(e)) => {
                // chain: dz/du = s (1 − (z/c)²), z the capped logit (still in z)
                let (ft, ct, st, inv) = (T::from_wide(f), T::from_wide(c_unweighted), T::from_wide(s), T::from_wide(1.0 / c));
                let wk = cw.map(|cw| (cw, -up * eps / (vf * self.den_ce)));
                for k in 0..v {
                    let mut g = e[k] * ft + ct;
                    if let Some((cw, cf)) = wk {
                        g = g + T::from_wide(cf * cw[k]);
                    }
                    let q = z[k] * inv;
                    z[k] = g * st * (T::one() - q * q);
                }
                let q = zy / c;
                let fix = ty * s * (1.0 - q * q);
                z[y] = z[y] - T::from_wide(fix);
            }
            _ => {
                let (ft, ct) = (T::from_wide(f * s), T::from_wide(c_unweighted * s));
                if let Some(e) = &scratch {
                    // entropy kept the logits: the exponentials are in the scratch row
                    z.iter_mut().zip(e.iter()).for_each(|(g, &e)| *g = e * ft + ct);
                } else {
                    // SAFETY: z holds v elements (the exponentials, in place).
                    unsafe { (ops.affine)(z.as_mut_ptr(), v, ft, ct) };
                }
                if let Some(cw) = cw {
                    if eps > 0.0 {
                        let cf = -up * eps * s / (vf * self.den_ce);
                        z.iter_mut().zip(cw).for_each(|(g, w)| *g = *g + T::from_wide(cf * w));
                    }
                }
                z[y] = z[y] - T::from_wide(ty * s);
            }
        }
        out
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

/// `dst (m × n) = [dst +] lhs (m × k) · rhs (k × n)` through the `gemm` crate,
/// each operand given by its column and row strides, on rayon's current pool.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul<T: Float>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_cs: isize,
    dst_rs: isize,
    accumulate: bool,
    lhs: *const T,
    lhs_cs: isize,
    lhs_rs: isize,
    rhs: *const T,
    rhs_cs: isize,
    rhs_rs: isize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                for c in 0..n {
                    *dst.offset(r as isize * dst_rs + c as isize * dst_cs) = T::zero();
                }
            }
        }
        return;
    }
    #[cfg(feature = "rayon")]
    let parallelism = if par::threads() > 1 { gemm::Parallelism::Rayon(par::threads()) } else { gemm::Parallelism::None };
    #[cfg(not(feature = "rayon"))]
    let parallelism = gemm::Parallelism::None;
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_cs,
        dst_rs,
        accumulate,
        lhs,
        lhs_cs,
        lhs_rs,
        rhs,
        rhs_cs,
        rhs_rs,
        T::one(),
        T::one(),
        false,
        false,
        false,
        parallelism,
    );
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
