//! Which computation path each loss of the catalog takes when the registry
//! evaluates it on the inputs of its [`samples`](crate::samples) recipe (contiguous, one shape,
//! no optional weights): one table, held against the catalog by a unit test so
//! that a new loss cannot fall back to a slow path unnoticed (issue 13).
//!
//! Softmax cross entropy (class indices), the six element-wise losses of the
//! fused kernels (`crates/losslab/src/machinery/kernels`) and the element-wise
//! losses on the machinery's sweeps (`eval_pointwise`, `eval_triple`), the per-row losses on
//! the machinery's row sweep (`eval_rows`), the CTC losses on its chain
//! kernel and the overlap losses (Dice, Tversky, Jaccard) on its overlap sweep
//! (`kernels::overlap`) leave the general path; the general path widens every element to `f64` and
//! runs single-threaded scalar loops, the gradient in a pass of its own. When
//! a loss moves to a faster path, its row here changes with it.
//!
//! # Examples
//! ```
//! use losslab_registry::{paths, resolve};
//! assert_eq!(paths::path(resolve("mse_loss").unwrap()).unwrap().kind, paths::PathKind::FusedElementwise);
//! assert_eq!(paths::path(resolve("nll_loss").unwrap()).unwrap().kind, paths::PathKind::FusedPerRow);
//! assert_eq!(paths::path(resolve("ctc_loss").unwrap()).unwrap().kind, paths::PathKind::VectorisedPairSequence);
//! assert_eq!(paths::path(resolve("optax:ntxent").unwrap()).unwrap().kind, paths::PathKind::VectorisedPairSequence);
//! assert!(matches!(paths::path(resolve("losslab:lovasz_softmax").unwrap()).unwrap().kind, paths::PathKind::General));
//! ```

use crate::LossSpec;

/// The kind of path a loss takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathKind {
    /// One fused, vectorised, multi-threaded sweep over aligned elements that
    /// computes the value and the gradient together.
    FusedElementwise,
    /// One fused sweep per row (the softmax cross-entropy kernel's primitives).
    FusedPerRow,
    /// Vectorised along the inner axis of pairs or sequences, parallel over the batch.
    VectorisedPairSequence,
    /// The general path; [`LossPath::note`] says why.
    General,
}

impl PathKind {
    /// `"fused element-wise"`, `"fused per-row"`, `"vectorised pair/sequence"`, `"general"`.
    pub fn name(self) -> &'static str {
        match self {
            PathKind::FusedElementwise => "fused element-wise",
            PathKind::FusedPerRow => "fused per-row",
            PathKind::VectorisedPairSequence => "vectorised pair/sequence",
            PathKind::General => "general",
        }
    }
}

/// The path of one loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossPath {
    /// The loss's qualified name.
    pub loss: &'static str,
    /// Its path.
    pub kind: PathKind,
    /// For a fused path, when it applies; for the general path, why the loss is on it.
    pub note: &'static str,
}

/// The path of `spec`'s loss (`None` only for a loss missing from the table,
/// which a unit test refuses).
pub fn path(spec: &LossSpec) -> Option<&'static LossPath> {
    let q = spec.qualified_name();
    PATHS.iter().find(|p| p.loss == q)
}

/// The whole table, in the catalog's order.
pub fn paths() -> &'static [LossPath] {
    PATHS
}

const FUSED_EW: &str = "same-shape contiguous operands (broadcast operands take the general path); without an upstream gradient the value and both gradients in one sweep (the registry's forward_backward), with one the forward then the backward (two sweeps)";
const POINTWISE: &str = "widened to f64 (machinery Pointwise), single-threaded scalar loop; the gradient in a separate pass";
const MEAN_ROWS_F64: &str = "the machinery's per-row sweep for a per-sample mean (eval_mean_rows_op) when y_true and y_pred have one shape and are contiguous: per row the element-wise sweep's loop over its C elements, the value and both gradients in one pass, summed and divided by C, rows in parallel in the tensors' own type; float32 on AVX-512 in 8 f64 lanes by the scalar formulas' operations (compares, selects, products, quotients; no fused multiply-add: the same bits per element), float64 or other CPUs by the portable loop compiled for AVX2 / the baseline; broadcast or strided operands take the general path (widened to f64)";
const MEAN_ROWS_OP: &str = "the machinery's per-row sweep for a per-sample mean (eval_mean_rows_op) when y_true and y_pred have one shape and are contiguous: per row the element-wise sweep's loop over its C elements, the value and both gradients in one pass (gradients written into unzeroed, pre-faulted buffers), summed and divided by C, rows in parallel in the tensors' own type; float32 on AVX-512 in 16 f32 lanes (ln, log1p by getexp/getmant and a fitted series, within 2.5 ulp; each term computed where it does not cancel, so within a few ulp of the f64 truth of the f32 operands), float64 or other CPUs in f64 by the general path's formulas (the portable loop compiled for AVX2 / the baseline); broadcast or strided operands take the general path (widened to f64)";
const HINGE_ROWS_OP: &str = "the machinery's per-row sweep for a per-sample mean (eval_mean_rows_op) when y_true and y_pred have one shape and are contiguous: Keras's label map ({0, 1} to {-1, 1} when every label is 0 or 1) decided by one pass over y_true, then per row the element-wise sweep's loop over its C elements, the value and both gradients in one pass, summed and divided by C, rows in parallel in the tensors' own type; float32 on AVX-512 in 16 f32 lanes (z = 1 - t y_pred by one fused multiply-add), float64 or other CPUs in f64 by the general path's formulas; broadcast or strided operands take the general path (widened to f64)";
const MEAN_ROWS_OP_AXIS: &str = "the machinery's per-row sweep for a per-sample mean (eval_mean_rows_op) when y_true and y_pred have one shape and are contiguous and axis is the last: per row the element-wise sweep's loop over its C elements, the value and both gradients in one pass (gradients written into unzeroed, pre-faulted buffers), summed and divided by C, rows in parallel in the tensors' own type; float32 on AVX-512 with from_logits false (and gamma 2 for the focal loss, Keras's default) in 16 f32 lanes (ln, log1p by getexp/getmant and a fitted series, within 2.5 ulp; each term computed where it does not cancel, so within a few ulp of the f64 truth of the f32 operands), the other options, float64 or other CPUs in f64 by the general path's formulas (the portable loop compiled for AVX2 / the baseline); broadcast or strided operands or another axis take the general path (widened to f64)";
const PAIR_ROWS_OP: &str = "the machinery's per-row sweep for a per-sample sum (pair_rows_op) when the two tensors have one shape and are contiguous: per row the element-wise sweep's loop over its C elements, the value and both gradients in one pass (gradients written into unzeroed, pre-faulted buffers), rows in parallel in the tensors' own type; float32 on AVX-512 in 16 f32 lanes (ln by getexp/getmant and a fitted series within 2.5 ulp, exp within 1 ulp), float64 or other CPUs in f64 by the general path's formulas (the portable loop compiled for AVX2 / the baseline); broadcast or strided operands take the general path (widened to f64)";
const MULTICLASS_ROWS: &str = "the machinery's per-row sweep when scores and labels are contiguous (labels checked first): per row the maximum of s_k + offset - offset [k = y] (NaN-propagating, vectorised lanes), the loss, and for the gradient the ties counted and the row written in one loop, in parallel in the scores' own type; strided scores or labels take the general path (widened to f64)";
const INFO: &str = "lanes along the axis widened to f64, single-threaded scalar loops; the gradient in a separate pass";
const TRIPLET_ROWS: &str = "with the default distance options (PyTorch: p = 2 without swap, its pairwise distance; optax: norm_degree = 2 along the last axis) and tensors of one shape: the machinery's row sweep, in parallel over parts of rows fixed by their number (the same bits on any thread count), each distance a sum of squares in vectorised lanes over the rows read in place, the gradients written in the tensors' own type; broadcast tensors, other options (p, swap, the cosine distance) or another axis take the general path (parallel over fixed groups of lanes, each widened to f64 and computed by scalar loops)";
const CTC: &str = "the machinery's chain kernel (kernels::chain) on a contiguous, finite input: one task per sequence, in parallel over the batch (the same bits on any thread count), each frame's row read in place in the input's own type (the log-softmax fused where the reference takes logits: TensorFlow, optax, Keras), first the scaled recursion (probabilities, each frame rescaled by an exact power of two, a multiply-add per state where the log recursion takes two exp and a ln; cells below 2^-960 of their frame flushed and the mass they held bounded in the backward pass, the sequence standing down to the log recursion where it passes 2^-55 of the likelihood or the lattice leaves the scaled range: TensorFlow's log 1e-307 weights, log-probabilities above 0 or below -700), else the alpha recursion over the 2S + 1 states (2S + 2 for PyTorch's and TensorFlow's start state) in f64 vectorised along the states (each three-term log-sum-exp by the crate's polynomial exp and ln, AVX-512 / AVX2 chosen at run time), then beta and the gradient rows from alpha and beta written in the same call (optax's and Keras's recursion as the same chain with its epsilon weights; TensorFlow's value by one more alpha pass from its own initial weights); scratch O(T (2S + 1)) per thread, kept between sequences and calls up to 4 MiB per buffer; strided inputs, a NaN or infinite input (a PyTorch log-probability above 700), optax's non-finite log_epsilon or a non-finite logit in a padded frame take the general path (widened to f64, single-threaded scalar loops), as do optax's and Keras's batches with a sequence whose loss is below 1e-4 or above 1e4 (rounding-level or log_epsilon-sized numbers, where only optax's own order of operations reproduces its bits)";
const BOXES: &str = "the fused per-box sweep (detection.rs, on the element-wise sweeps' partition: kernels::elementwise::run_parts) when boxes1 and boxes2 have one shape (..., 4) and are contiguous: each pair read in place in its own type (f32 or f64), its IoU terms, loss and the gradients of both boxes computed together in f64 by the general path's formula (torchvision's operations and eps placements; max/min ties, the overlap mask and CIoU's arctan, a polynomial within 2 ulp of libm's, in branch-free arithmetic written to vectorise), the gradients written straight into their results, in parallel over fixed chunks of boxes with the sum in f64 in a fixed order (the same bits on any thread count); forward + backward in one evaluation (the registry's forward_backward without an upstream gradient). A broadcast boxes2, strided boxes, no boxes and a strided unreduced upstream gradient take the general path (widened to f64, single-threaded scalar loops, the gradient in a separate pass)";
const OVERLAP: &str = "the machinery's overlap sweep (kernels::overlap) when the two tensors have one shape, are contiguous and the summed axes are one run of the shape with at most 4096 elements per index after it: per group (one index of the axes kept) the loss's sums of the tensors' element terms in vectorised f64 lanes, over pieces of about 32K elements fixed by the shape (a long row cut into stretches, short rows gathered; the stretches' sums added in order: the same bits on any thread count), in parallel on the row sweep's loop; then the gradients of both tensors from the group sums (a·t + b) in a second parallel pass over the same pieces, read in place and written in the tensors' own type; forward + backward in one evaluation. Broadcast (Keras) or strided tensors and summed axes that are not one run take the general path (widened to f64, single-threaded scalar loops, the gradient in a separate pass)";
const OVERLAP_OPTAX: &str = "the machinery's overlap sweep (kernels::overlap) when predictions and targets are contiguous (after optax's trailing-axis expansion), the summed axes one run of the shape with at most 4096 elements per index after it, and axis, class weights and options valid: the activation per block (sigmoid for one channel, a softmax over the class axis per pixel with a vectorised exp; without apply_softmax the rows' sums checked as optax checks them) and [Σ p·t, Σ p, Σ t] per (group, class) in vectorised f64 lanes, over pieces of about 32K elements fixed by the shape (the stretches' sums added in order: the same bits on any thread count), in parallel on the row sweep's loop; then both gradients from the sums (p recomputed in f64, the activation's backward per pixel) in a second parallel pass, written in the tensors' own type; forward + backward in one evaluation. Strided tensors, and every error (rows that do not sum to 1, a bad axis or weights), take the general path (widened to f64, single-threaded scalar loops, the gradient in a separate pass)";

const SWEEP: &str = "the machinery's element-wise sweep (eval_pointwise) on same-shape contiguous operands: value and gradients in one parallel pass over the tensors' own type, each element by the loss's scalar f64 formula (vectorised where it has no libm call); broadcast or strided operands are widened to f64";

/// A loss on the machinery's element-wise sweep, `note` saying when.
const fn sweep_when(loss: &'static str, note: &'static str) -> LossPath {
    LossPath { loss, kind: PathKind::FusedElementwise, note }
}

/// A loss on the machinery's element-wise sweep.
const fn sweep(loss: &'static str) -> LossPath {
    LossPath { loss, kind: PathKind::FusedElementwise, note: SWEEP }
}

/// A loss on the machinery's per-row sweep (`eval_rows`, kernels::rows).
const fn rows(loss: &'static str, note: &'static str) -> LossPath {
    LossPath { loss, kind: PathKind::FusedPerRow, note }
}

const fn fused_ew(loss: &'static str) -> LossPath {
    LossPath { loss, kind: PathKind::FusedElementwise, note: FUSED_EW }
}

/// A triplet loss on the row sweep where its options allow ([`TRIPLET_ROWS`]).
const fn pairs(loss: &'static str) -> LossPath {
    LossPath { loss, kind: PathKind::VectorisedPairSequence, note: TRIPLET_ROWS }
}
/// A CTC loss on the machinery's chain kernel ([`CTC`]).
const fn chains(loss: &'static str) -> LossPath {
    LossPath { loss, kind: PathKind::VectorisedPairSequence, note: CTC }
}
const fn general(loss: &'static str, note: &'static str) -> LossPath {
    LossPath { loss, kind: PathKind::General, note }
}

static PATHS: &[LossPath] = &[
    // PyTorch
    fused_ew("torch:mse_loss"),
    fused_ew("torch:l1_loss"),
    fused_ew("torch:smooth_l1_loss"),
    fused_ew("torch:huber_loss"),
    LossPath {
        loss: "torch:cross_entropy",
        kind: PathKind::FusedPerRow,
        note: "class-index targets on (N, C) or (C,) logits in standard layout; probability targets and (N, C, d1, ...) logits take the general path",
    },
    LossPath {
        loss: "torch:linear_cross_entropy",
        kind: PathKind::FusedPerRow,
        note: "tiles of tokens (a bounded tile of logits, never all of them): gemm's matrix products, and per token one row pass on the fused cross entropy's block operations computing the loss and the logits' gradient together; the gradients' products follow in the same call",
    },
    rows("torch:nll_loss", "the machinery's per-row sweep on (N, C) or (C,) input in standard layout with contiguous, valid class-index targets (weights and ignore_index included): each row's loss and gradient in one parallel pass in the input's own type; (N, C, d1, ...) or strided input takes the general path"),
    sweep_when("torch:binary_cross_entropy", "the machinery's element-wise sweep (eval_pointwise_op) on same-shape contiguous operands in [0, 1] (a range check's pass over both first): value and both gradients in one parallel pass over the tensors' own type; float32 on AVX-512 in 16 f32 lanes computing as PyTorch's float32 kernel (ln and log1p within 2.5 ulp, the target's gradient -logit(x) as -2 atanh(2x - 1) on [1/3, 2/3], so that it does not cancel near 1/2), float64 or other CPUs each element by the general path's f64 formula (the same bits); a weight, broadcast or strided operands take the general path (widened to f64)"),
    LossPath {
        loss: "torch:binary_cross_entropy_with_logits",
        kind: PathKind::FusedElementwise,
        note: "without weight or pos_weight, same-shape contiguous operands; without an upstream gradient the value and both gradients in one sweep (the registry's forward_backward), with one the forward then the backward (two sweeps)",
    },
    sweep_when("torch:kl_div", "the machinery's element-wise sweep (eval_pointwise) when input and target have one shape and are contiguous: value and both gradients in one parallel pass in the tensors' own type; broadcast or strided operands take the general path (widened to f64)"),
    sweep_when("torch:poisson_nll_loss", "the machinery's element-wise sweep on same-shape contiguous operands: value and gradients in one parallel pass over the tensors' own type; with log_input and without full (PyTorch's defaults) the op eval_pointwise_op runs, float32 on AVX-512 in 16 f32 lanes (exp within 1 ulp, as PyTorch's float32 kernel computes exp(x) - y x), float64 or other CPUs in f64 with an exp that vectorises; the other options each element by the scalar f64 formula (eval_pointwise); broadcast or strided operands are widened to f64"),
    sweep_when("torch:gaussian_nll_loss", "the machinery's three-operand sweep (eval_triple, kernels::triple) when input, target and var have one shape and are contiguous: value and the three gradients in one parallel pass in the tensors' own type (the registry's forward_backward without an upstream gradient), each element in f64 by the general path's formula (the clamp by a select, ln in arithmetic that vectorises, four divisions), the sum in f64 in a fixed order; a reduced loss with one variance per row (var of input's shape without its last axis, or with a last axis of 1), input and target of one shape and contiguous, takes the row sweep (eval_rows: per row the loss and the variance's gradient summed in vectorised lanes, both other gradients written in the same pass); var as a float (the option var), other broadcasts, an unreduced loss with a per-row variance and strided tensors take the general path (widened to f64, the same element formula)"),
    sweep_when("torch:margin_ranking_loss", "the machinery's three-operand sweep (eval_triple, kernels::triple) when input1, input2 and target have one shape and are contiguous: value and the three gradients in one parallel pass in the tensors' own type (the registry's forward_backward without an upstream gradient), each element in f64 by PyTorch's autograd's products (selects, no libm: vectorised), the sum in f64 in a fixed order; broadcast or strided tensors take the general path (widened to f64, the same element formula)"),
    sweep("torch:hinge_embedding_loss"),
    sweep_when("torch:soft_margin_loss", "the machinery's element-wise sweep (eval_pointwise_op) on same-shape contiguous operands: value and gradient in one parallel pass over the tensors' own type; float32 on AVX-512 in 16 f32 lanes (softplus(-y x) as max(t, 0) + log1p(exp(-|t|)) and the sigmoid by a reciprocal, within a few ulp; non-finite operands by PyTorch's kernel formula), float64 or other CPUs in f64 by the scalar formula without libm calls; a target broadcast to the input or strided operands are widened to f64"),
    rows("torch:multilabel_soft_margin_loss", "the machinery's per-row sweep without weight, input and target of one shape, contiguous: per row, the element-wise loop of BCE with logits (AVX-512 f32 lanes where the CPU has them) for the loss and both gradients in one pass, summed and divided by C; a weight, broadcast or strided operands take the general path"),
    rows("torch:multilabel_margin_loss", "the machinery's per-row sweep on contiguous (N, C), (C,) or () input of at most 4096 classes with a contiguous, valid target: per row the targets' set in a bitset on the stack, the loss and the gradient (signed counts of the active pairs in the row's gradient, scaled once) in one parallel pass in the input's own type; strided input, more classes take the general path"),
    rows("torch:multi_margin_loss", "the machinery's per-row sweep on (N, C), (C,) or () input in standard layout (weights, p = 1 or 2 included): each row's loss and gradient in one parallel pass in the input's own type, the row sums in vectorised lanes; strided input takes the general path"),
    chains("torch:ctc_loss"),
    general("torchaudio:rnnt_loss", "the inputs widened to f64; the β recursion over each sequence's (T, U + 1) lattice (α only for the gradient), parallel over the batch, scalar loops"),
    rows("torch:cosine_embedding_loss", "the machinery's per-row sweep (eval_rows) when input1 and input2 are (N, D) of one shape, both contiguous, and the target is a contiguous (N,): per row the sums x1·x2, x1², x2² in vectorised lanes over the rows read in place, then both gradients (PyTorch's autograd formulas) in one loop each, rows in parallel in the tensors' own type, the reduction's sum in a fixed order; broadcast vectors, a 0-d target or strided tensors take the general path (parallel over the pairs, scalar f64 loops)"),
    pairs("torch:triplet_margin_loss"),
    pairs("torch:triplet_margin_with_distance_loss"),
    // torchvision
    LossPath {
        loss: "torchvision:sigmoid_focal_loss",
        kind: PathKind::FusedElementwise,
        note: "same-shape contiguous operands; without an upstream gradient the value and both gradients in one sweep (the registry's forward_backward), with one the forward then the backward (two sweeps)",
    },
    sweep_when("torchvision:generalized_box_iou_loss", BOXES),
    sweep_when("torchvision:distance_box_iou_loss", BOXES),
    sweep_when("torchvision:complete_box_iou_loss", BOXES),
    // TensorFlow
    rows("tf:softmax_cross_entropy_with_logits", "the machinery's per-row sweep when labels and logits have one shape and are contiguous, classes on the last axis: per row the cross-entropy kernel's block operations (maximum, exponentials stored in the logits' gradient row and summed in f64), then the loss and both gradients in one pass from cache, in parallel in the tensors' own type; broadcast or strided operands, another axis, and inputs with a NaN or infinite logit maximum take the general path"),
    rows("tf:sparse_softmax_cross_entropy_with_logits", "the machinery's per-row sweep on contiguous logits with contiguous, valid labels: per row the cross-entropy kernel's block operations (maximum, exponentials stored in the gradient row and summed in f64), then the loss and the gradient from cache, in parallel in the logits' own type; strided operands and inputs with a NaN or infinite logit maximum take the general path"),
    sweep("tf:sigmoid_cross_entropy_with_logits"),
    sweep("tf:weighted_cross_entropy_with_logits"),
    sweep("tf:log_poisson_loss"),
    sweep("tf:l2_loss"),
    chains("tf:ctc_loss"),
    // Keras
    rows("keras:poisson", MEAN_ROWS_OP),
    rows("keras:hinge", HINGE_ROWS_OP),
    rows("keras:squared_hinge", HINGE_ROWS_OP),
    rows("keras:categorical_hinge", "the machinery's per-row sweep when y_true and y_pred have one shape and are contiguous: each row's positive sum, maximum (with its ties) and both gradients in one parallel pass in the tensors' own type; broadcast or strided operands take the general path"),
    rows("keras:binary_crossentropy", MEAN_ROWS_OP_AXIS),
    rows("keras:categorical_crossentropy", "the machinery's per-row sweep for probabilities (from_logits = false) when y_true and y_pred have one shape and are contiguous, classes on the last axis: per row the sum, then loss, y_true gradient and the renormalisation's cross term in one pass (a vectorised ln), the y_pred gradient from cache, in parallel in the tensors' own type; logits, broadcast or strided operands, another axis take the general path"),
    rows("keras:sparse_categorical_crossentropy", "the machinery's per-row sweep for probabilities (from_logits = false), y_pred contiguous with classes on the last axis, contiguous valid labels (ignore_class included): per row the sum, then the label's term and the gradient (the renormalisation's cross term on every class) from it, in parallel in y_pred's own type; logits, strided operands take the general path"),
    rows("keras:binary_focal_crossentropy", MEAN_ROWS_OP_AXIS),
    rows("keras:categorical_focal_crossentropy", "the machinery's per-row sweep for probabilities (from_logits = false) when y_true and y_pred have one shape and are contiguous, classes on the last axis: per row the sum, then loss, y_true gradient and the renormalisation's cross term in one pass (a vectorised ln; (1 - q)^gamma by products for gamma = 2), then the y_pred gradient, in parallel in the tensors' own type; logits, broadcast or strided operands, another axis take the general path"),
    rows("keras:categorical_generalized_cross_entropy", "the machinery's per-row sweep when y_pred is contiguous and the labels have its shape without the last axis: per row the one-hot product's sum (the others' x * 0 tested in vectorised lanes), then per batch of 64 rows their p^q (float32 on AVX-512: exp(q ln p) in f64 lanes for p in (0, 1], within 2e-9 relative; otherwise libm's pow), then per row the loss and the gradient row (written into an unzeroed, pre-faulted buffer), in parallel in y_pred's own type; strided y_pred takes the general path (widened to f64)"),
    rows("keras:kl_divergence", PAIR_ROWS_OP),
    rows("keras:log_cosh", "the machinery's per-row sweep for a per-sample mean (eval_mean_rows_op) when y_true and y_pred have one shape and are contiguous: per row the element-wise sweep's loop of log_cosh over its C elements, the value and both gradients in one pass, summed and divided by C, rows in parallel in the tensors' own type; float32 on AVX-512 in 16 f32 lanes (exp, log1p series, square root and reciprocal without division, within 8 ulp of the f64 truth), float64 or other CPUs in f64 by the same formulas (the portable loop compiled for AVX2 / the baseline); broadcast or strided operands take the general path (widened to f64)"),
    rows("keras:mean_squared_logarithmic_error", MEAN_ROWS_OP),
    rows("keras:mean_absolute_percentage_error", MEAN_ROWS_F64),
    rows("keras:huber", MEAN_ROWS_F64),
    rows("keras:dice", OVERLAP),
    rows("keras:tversky", OVERLAP),
    chains("keras:ctc"),
    rows("keras:cosine_similarity", "the machinery's per-row sweep (eval_pair_rows_up) when y_true and y_pred have one shape of two or more axes, are contiguous and axis is the last: per row the sums of p², t² and p·t in vectorised lanes, then each tensor's gradient (Keras's normalize backward written out) in one loop, rows in parallel in the tensors' own type; broadcast or strided operands, another axis and 1-D vectors take the general path (widened to f64)"),
    LossPath {
        loss: "keras:circle",
        kind: PathKind::VectorisedPairSequence,
        note: "the (N, M) dot products by one matrix product in the embeddings' own type (the gemm crate, multi-threaded; an f32 product within 1e-3 of a kink of max(·, 0) recomputed in f64), each query's two log-sum-exps and its gradient row from its row of products in parallel blocks of 8 rows, in f64 lanes (f32 embeddings on AVX-512: explicit 8-lane f64 code, the two sets as masks, the same formulas operation for operation, an exp within 3e-13, the softmax weights by each set's reciprocal; otherwise loops compiled for AVX-512 / AVX2 / the baseline, chosen at run time, by selects, each set's maximum and exponential sum in 16 lanes combined by a fixed tree, exp without a libm call; a row whose logits hold a NaN or +inf, or with an empty set under a non-finite upstream factor, takes the scalar f64 row with libm's exp), the row overwritten by ∂L/∂S, then ∂L/∂Q = W R and ∂L/∂R = Wᵀ Q by two more products (the self form, references = queries: (W + Wᵀ) Q by one, W made symmetric in place by pairs of 8 x 8 blocks); strided embeddings are copied to standard layout. Memory O(N M) for the products",
    },
    // optax
    rows("optax:multiclass_hinge_loss", MULTICLASS_ROWS),
    sweep_when("optax:perceptron_loss", "the machinery's element-wise sweep (eval_pointwise_op) on same-shape contiguous operands: value and both gradients in one parallel pass in the tensors' own type, the sum in f64 in a fixed order; float32 on AVX-512 in 8 f64 lanes by the scalar formula's operations (relu(−x t), JAX's ½ at the kink: the same bits), float64 or other CPUs by the portable loop compiled for AVX2 / the baseline; broadcast or strided operands take the general path (widened to f64)"),
    rows("optax:multiclass_perceptron_loss", MULTICLASS_ROWS),
    rows("optax:poly_loss_cross_entropy", "the machinery's per-row sweep when logits and labels have one shape and are contiguous, axis the last: per row the cross-entropy kernel's block maximum and exponential sum, then in one pass p = exp(x - m) / S (a vectorised exp), the loss's sums, the labels' gradient and p kept in the logits' gradient row, then the logits' gradient from it, in parallel in the tensors' own type; broadcast or strided operands, another axis, and inputs with a NaN or infinite logit maximum take the general path (widened to f64)"),
    sweep_when("optax:sparsemax_loss", "the machinery's three-operand sweep (eval_triple, with no third operand) when logits and labels have one shape and are contiguous: value and the logits' gradient in one parallel pass (the registry's forward_backward without an upstream gradient), the logits read and the results written in their own type, the labels read in theirs (integer or float, in place), sparse_plus by selects (vectorised), the sum in f64 in a fixed order; broadcast or strided operands take the general path (widened to f64, the same element formula)"),
    rows("optax:multiclass_sparsemax_loss", "the machinery's per-row sweep when scores (N, C) and labels (N) are contiguous (labels checked first): per row one pass for the maximum, then only the elements within 1 + δ of it (the support lies above max − 1; δ bounds the rounding of optax's test) sorted in a per-thread scratch, the threshold by projection_simplex's own arithmetic (the same bits as sorting the whole row), then the probabilities, the gradient row (written once) and the loss's compensated sums over the support in one loop, rows in parallel in the scores' own type; strided scores or labels take the general path (a sort of the whole row in f64)"),
    rows("optax:generalized_kl_divergence", PAIR_ROWS_OP),
    rows("optax:kl_divergence", PAIR_ROWS_OP),
    rows("optax:kl_divergence_with_log_targets", PAIR_ROWS_OP),
    rows("optax:safe_softmax_cross_entropy", "the machinery's per-row sweep when logits and labels have one shape and are contiguous: per row the cross-entropy kernel's block operations (maximum, exponentials stored in the logits' gradient row and summed in f64), then the loss and both gradients in one pass from cache, in parallel in the tensors' own type; broadcast or strided operands, and inputs with a NaN or infinite logit maximum, take the general path"),
    sweep_when("optax:smooth_labels", "the machinery's element-wise sweep (eval_pointwise_op; float32 on AVX-512 in 8 f64 lanes by the scalar formula's multiply and add, the same bits) on contiguous labels: without an upstream gradient (the registry's forward_backward), the smoothed labels and their gradient (the constant 1 - alpha, times the reduction's factor) in one parallel pass in the labels' own type, each output allocated once and written once; the forward alone is the same pass without the gradient; with an upstream gradient, the gradient is one more sweep, (1 - alpha) times a contiguous upstream gradient of the labels' shape (a fill for a reduced result); strided labels or upstream gradients take the general path (widened to f64)"),
    sweep_when("optax:huber_loss", "the machinery's element-wise sweep (eval_pointwise_op) when predictions and targets have one shape and are contiguous: value and both gradients in one parallel pass in the tensors' own type, the sum in f64 in a fixed order; float32 on AVX-512 in 8 f64 lanes by the scalar formula's compares, selects, multiplies and adds (no fused multiply-add: the same bits), float64 or other CPUs by the portable loop compiled for AVX2 / the baseline; strided operands are widened to f64 by the same formulas, broadcast ones (NumPy's rule) take the general path"),
    sweep_when("optax:log_cosh", "the machinery's element-wise sweep (eval_pointwise_op) when predictions and targets have one shape and are contiguous: value and both gradients in one parallel pass in the tensors' own type, the sum in f64 in a fixed order; float32 on AVX-512 in 16 f32 lanes (per element one exp, one log1p series, a square root and a reciprocal without division, within 8 ulp of the f64 truth), float64 or other CPUs in f64 lanes by Keras log_cosh's formulas (the portable loop, compiled for AVX2 / the baseline and chosen at run time); strided operands are widened to f64 by the same formulas, broadcast ones (NumPy's rule) take the general path"),
    chains("optax:ctc_loss"),
    rows("optax:dice_loss", OVERLAP_OPTAX),
    rows("optax:binary_dice_loss", OVERLAP_OPTAX),
    rows("optax:multiclass_generalized_dice_loss", OVERLAP_OPTAX),
    LossPath {
        loss: "optax:ntxent",
        kind: PathKind::VectorisedPairSequence,
        note: "the N × N similarities never stored: the rows normalised in f64 (U, N × F; strided embeddings copied to standard layout first), then blocks of 64 rows fixed by N (the same bits on any thread count) in parallel, each block's similarities S = U Uᵀ / τ (64 × N, f64) by one single-threaded gemm call; a first pass keeps per row its maximum over j ≠ i (NaN-propagating), its negatives' exponential sum (Neumaier), its positives' loss terms and Σ 1/d, and the loss is the rows' sums added in order over |P| (the forward stops there); the gradient's pass recomputes each block's similarities, overwrites them with C = (∂ℓ/∂S + ∂ℓ/∂Sᵀ) / τ from the two rows' statistics, multiplies by U (one more gemm call) and writes the block's rows through the norm in the embeddings' own type. Scratch: U, O(N) row statistics and one 64 × N block of f64 per task; no other path",
    },
    pairs("optax:triplet_margin_loss"),
    rows("optax:ranking_softmax_loss", "the machinery's per-row sweep (the safe softmax cross entropy's, every term counted) without where or weights, logits and labels of one shape, contiguous: per row the cross-entropy kernel's block operations (maximum, exponentials stored in the logits' gradient row and summed in f64), then the loss and both gradients in one pass from cache, in parallel in the tensors' own type; where, weights, broadcast or strided operands, inputs with a NaN or infinite logit maximum and a Mean that comes out NaN (optax's _safe_reduce) take the general path"),
    // SciPy
    general("scipy:entropy", INFO),
    // losslab
    general("losslab:self_information", POINTWISE),
    general("losslab:entropy", INFO),
    general("losslab:binary_entropy", POINTWISE),
    general("losslab:cross_entropy", INFO),
    general("losslab:kl_divergence", INFO),
    general("losslab:js_divergence", INFO),
    rows("losslab:softmax_focal_loss", "the machinery's per-row sweep on (N, C) or (C,) logits in standard layout with contiguous, valid class-index targets (alpha and ignore_index included): per row the cross-entropy kernel's block operations (maximum, exponentials stored in the gradient row and summed in f64, affine update), loss and gradient in one parallel pass in the input's own type; (N, C, d1, ...) or strided input, and inputs with a NaN or infinite logit, take the general path"),
    general("losslab:quantile_loss", POINTWISE),
    rows("losslab:jaccard_loss", OVERLAP),
    general("losslab:lovasz_softmax", "a sort of the errors per class (the Lovász extension) in f64, single-threaded"),
    general("open_clip:clip_loss", CONTRASTIVE),
    general("open_clip:siglip_loss", CONTRASTIVE),
    general("losslab:gan_generator_loss", GENERATIVE),
    general("losslab:gan_discriminator_loss", GENERATIVE),
    general("losslab:gradient_penalty", GENERATIVE),
    general("losslab:vae_kl", GENERATIVE),
    general("losslab:vae_elbo", GENERATIVE),
    general("diffusers:min_snr_loss", GENERATIVE),
    general("trl:dpo_loss", PREFERENCE),
    general("trl:cpo_loss", PREFERENCE),
    general("trl:odds_ratio_loss", PREFERENCE),
    general("trl:kto_loss", PREFERENCE),
    general("pml:arc_face", METRIC_FACE),
    general("pml:cos_face", METRIC_FACE),
    general("pml:sphere_face", METRIC_FACE),
    general("pml:sup_con", METRIC_PAIRS),
    general("pml:multi_similarity", METRIC_PAIRS),
    general("pml:circle", METRIC_PAIRS),
    general("pml:lifted_structure", METRIC_LIFTED),
    general("pml:generalized_lifted_structure", METRIC_LIFTED),
    general("pml:n_pairs", METRIC_NPAIRS),
    rows("losslab:sequence_log_probs", SEQ_LOGPROBS),
    rows("trl:generalized_jsd_loss", TOKENS),
    rows("losslab:distillation_kl", TOKENS),
    general("torch:adaptive_log_softmax_with_loss", "widened to f64; the head's logits and each tail's two products (for the rows whose target falls in it) by gemm (multi-threaded), per-row log-sum-exps by scalar loops, the gradients by five more gemm products per cluster: O(N·(H + hsz)·D + rows·osz·hsz) in gemm, never the full (N, n_classes) logits"),
    general("tf:sampled_softmax_loss", SAMPLED),
    general("tf:nce_loss", SAMPLED),
    general("trl:grpo_loss", POLICY),
    general("losslab:ppo_clip_loss", POLICY),
];

const CONTRASTIVE: &str = "the (N, N) logits by one matrix product in f64 (the gemm crate, multi-threaded), the row (and column) log-sum-exps or sigmoids in parallel over rows (blocks of columns) by scalar f64 loops, the gradient written over the logits and two more gemm products (G·Y, Gᵀ·X): not a fused kernel, but O(N² D) in gemm and O(N²) memory";
const PREFERENCE: &str = "widened to f64, single-threaded scalar loops per pair (aot/aot_unpaired: two sorts of the batch; kto: per completion, after one compensated sum over the KL batch); the value, the rewards and the gradient in separate passes";
const METRIC_FACE: &str = "widened to f64: the (N, C) cosines of the normalised rows and columns by blocks of 16 rows in parallel (rayon above 32 768 multiply-adds; 64-column tiles, each dot product a sequential loop: the same bits on any thread count), the per-row log-sum-exp by single-threaded scalar loops, the gradient by two more O(N C D) products in the same parallel row blocks and the normalisations' backward";
const METRIC_PAIRS: &str = "widened to f64: the (N, N) cosines by blocks of 16 anchors in parallel (rayon above 32 768 multiply-adds; 64-column tiles, each dot product a sequential loop: the same bits on any thread count), each anchor's masked log-sum-exps over its positives and negatives by single-threaded scalar loops (O(N) per row, with the labels compared per pair), the gradient as an (N, N) matrix and two more O(N² D) products by the same parallel row blocks";
const METRIC_LIFTED: &str = "widened to f64: the (N, N) Euclidean distances from the differences by blocks of 16 anchors in parallel (rayon above 32 768 multiply-adds; 64-column tiles, each distance a sequential loop: the same bits on any thread count), each anchor's masked log-sum-exps in parallel row blocks; lifted_structure combines its two anchors' negative log-sum-exps per positive pair (O(N²), never pml's (P, N²) matrix); the gradient as an (N, N) matrix through cdist's backward by two more O(N² D) products in the same parallel row blocks";
const METRIC_NPAIRS: &str = "widened to f64: one pair per label (K ≤ N/2), the (K, K) dot products by blocks of 16 anchors in parallel (rayon above 32 768 multiply-adds; each dot product a sequential loop), per-anchor log-sum-exps by scalar loops, the gradient by two O(K² D) products in the same parallel row blocks and a scatter to the pairs' rows";
const SEQ_LOGPROBS: &str = "the fused softmax cross entropy's kernel (torch:cross_entropy's, on any (..., V) logits; strided ones copied to standard layout first), negated: per token one read of the logits per L1-sized block, f32 exponentials in AVX-512 / AVX2 lanes kept in the gradient buffer and turned into it in place, parallel over rows (the same bits on any thread count); the log-softmax tensor is never formed";
const TOKENS: &str = "the distillation family's fused row sweep on any (..., V) logits (strided ones copied to standard layout first): per token, the rows' maxima (the fused cross entropy's vectorised block maximum), then for f32 logits where the CPU has AVX-512 (no per-element output or upstream gradient) 16 f32 lanes with FMA: each row's exponentials (the fused kernels' exp) stored in its gradient rows and summed in f64, the value and the sums the gradient needs from them in one pass (a division and a log1p per element for the mixture, none for the KLs), the gradients over them in one more; otherwise (f64, AVX2 or no SIMD, a row holding NaN or an infinite maximum, JSD's unreduced output or element-wise upstream gradient) each divergence's loops in vectorised f64 lanes (the crate's polynomial exp and ln), the value and sums in one pass and the gradients in one more; parallel over fixed parts of rows (the same bits on any thread count); the log-softmax tensor is never formed";
const SAMPLED: &str = "widened to f64; the (B, S) sampled logits by one gemm product, the true logits by row-wise dots, per-example log-sum-exps (or sigmoids) by scalar loops, the gradients by two more gemm products and a scatter into a dense (num_classes, dim) weight gradient";
const POLICY: &str = "one task per completion (rayon above 32 768 elements), each token widened to f64 and its loss and partial derivatives computed in one pass (the completion's ratio first at the sequence level), compensated sums per completion combined in order; value and gradients in that one pass";
const GENERATIVE: &str = "widened to f64, single-threaded scalar loops per element or sample; the gradient in a separate pass";
