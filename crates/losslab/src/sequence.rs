//! Sequence losses: connectionist temporal classification (CTC), with the
//! semantics of PyTorch ([`CtcLoss`], `torch.nn.functional.ctc_loss`),
//! TensorFlow ([`TfCtcLoss`], `tf.nn.ctc_loss` with dense labels), optax
//! ([`OptaxCtcLoss`], `optax.ctc_loss`) and Keras ([`KerasCtc`],
//! `keras.losses.ctc`, optax's recursion with paddings derived from the labels).
//!
//! CTC scores a label sequence `y = (y₁, …, y_S)` against `T` frames of
//! per-class probabilities by summing over every alignment: a path of `T`
//! symbols (classes or the blank) that collapses to `y` once repeats are merged
//! and blanks removed. The sum runs over the extended sequence
//! `y' = (∅, y₁, ∅, y₂, …, ∅, y_S, ∅)` of `2S + 1` states with the
//! forward–backward (α–β) recursion, in log space:
//!
//! ```text
//! α₀(s)  = log p₀(y'ₛ)                               for s ∈ {0, 1}
//! αₜ(s)  = logsumexp(αₜ₋₁(s), αₜ₋₁(s−1), αₜ₋₁(s−2)) + log pₜ(y'ₛ)
//!          (the s−2 term only when y'ₛ is a label different from y'ₛ₋₂)
//! log p(y | x) = logsumexp(α_{T−1}(2S), α_{T−1}(2S−1))
//! ```
//!
//! A contiguous input with finite values runs on the machinery's chain kernel:
//! the sequences in parallel (each its own task: the same bits whatever the
//! thread count), each frame's row read in place in the input's type, the
//! recursion in `f64` vectorised along the states, the log-softmax fused where
//! the reference takes logits, and the gradient rows from α and β in the same
//! call. Strided inputs and inputs with a NaN or an infinity take the general
//! path (widened to `f64`, scalar loops), whose NaN and infinity semantics are
//! the references'. Memory is `O(T × (2S + 1))` numbers per sequence being
//! computed (the emissions and the α lattice; β is kept one row at a time),
//! with no cap on `T` or `S`. An alignment
//! that cannot exist (a target longer than the input allows: `S` frames plus
//! one per adjacent repeat, which needs a blank between) has probability 0.
//! Each framework treats it its own way, documented on each loss.
//!
//! # References
//! A. Graves, S. Fernández, F. Gomez, J. Schmidhuber, "Connectionist Temporal
//! Classification: Labelling Unsegmented Sequence Data with Recurrent Neural
//! Networks", ICML 2006, <https://www.cs.toronto.edu/~graves/icml_2006.pdf>

use crate::machinery::methods::setters;
use crate::machinery::error::{shape_err, LossError, Result};
use crate::machinery::float::{widen, ClassIndex, Float};
use crate::math::log_softmax_lane;
use crate::machinery::reduction::{per_item, Gradients, PerItem, Reducer, Reduction, Scales};
use crate::machinery::kernels::chain::{self, Form, RowScale};
use crate::machinery::kernels::par::{self, SyncPtr};
use crate::machinery::lanes::Upstream;
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension, IxDyn};

const NEG_INF: f64 = f64::NEG_INFINITY;

/// `log(eᵃ + eᵇ)`, exact for `−∞` operands; NaN propagates.
#[inline]
fn lae(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    let m = a.max(b);
    if m.is_infinite() {
        return m;
    }
    m + (-(a - b).abs()).exp().ln_1p()
}

/// `log(eᵃ + eᵇ + eᶜ)`, exact for `−∞` operands; NaN propagates.
#[inline]
fn lse3(a: f64, b: f64, c: f64) -> f64 {
    if a.is_nan() || b.is_nan() || c.is_nan() {
        return f64::NAN;
    }
    let m = a.max(b).max(c);
    if m.is_infinite() {
        return m;
    }
    m + ((a - m).exp() + (b - m).exp() + (c - m).exp()).ln()
}

/// The log-sum-exp of a slice (`−∞` for an empty one); NaN propagates.
fn lse(xs: &[f64]) -> f64 {
    crate::math::logsumexp_f64(xs)
}

/// What a state of the chain emits at each frame.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Emit {
    /// The log-probability of this class.
    Class(usize),
    /// Log-probability 0 (TensorFlow's emission for a padded label outside `[0, C)`).
    Certain,
    /// Log-probability −∞ (the start state, occupied only before the first frame).
    Never,
}

/// A CTC lattice: a chain of states in which each frame moves a path to the
/// same state, the next one, or (where `skip[s]`) from `s − 2` to `s`; plus
/// log-weights of the state the path ends in after the last frame.
///
/// Every chain here begins with a start state that emits nothing and is
/// occupied before the first frame, so that "where a path may begin" is the
/// same transition rule as the rest.
struct Chain {
    emit: Vec<Emit>,
    skip: Vec<bool>,
    fin: Vec<f64>,
}

impl Chain {
    fn len(&self) -> usize {
        self.emit.len()
    }

    #[inline]
    fn e(&self, s: usize, row: &[f64]) -> f64 {
        match self.emit[s] {
            Emit::Class(c) => row[c],
            Emit::Certain => 0.0,
            Emit::Never => NEG_INF,
        }
    }

    /// One frame of the forward recursion: `next(s) = logsumexp of the
    /// predecessors of s in prev + the emission of s`.
    fn step(&self, prev: &[f64], row: &[f64], next: &mut [f64]) {
        for s in 0..self.len() {
            let a1 = prev[s];
            let a2 = if s >= 1 { prev[s - 1] } else { NEG_INF };
            let a3 = if s >= 2 && self.skip[s] { prev[s - 2] } else { NEG_INF };
            next[s] = lse3(a1, a2, a3) + self.e(s, row);
        }
    }

    /// `log Σ_paths Π p · final weight`, the path starting from the pre-frame
    /// log-weights `init`, over the first `frames` rows of `lp` (`C` columns).
    fn loglik(&self, init: &[f64], lp: &[f64], c: usize, frames: usize) -> f64 {
        let m = self.len();
        let mut cur = init.to_vec();
        let mut next = vec![0.0; m];
        for t in 0..frames {
            self.step(&cur, &lp[t * c..(t + 1) * c], &mut next);
            std::mem::swap(&mut cur, &mut next);
        }
        self.total(&cur)
    }

    /// `logsumexp_s(last(s) + fin(s))`.
    fn total(&self, last: &[f64]) -> f64 {
        let v: Vec<f64> = last.iter().zip(&self.fin).map(|(a, f)| a + f).collect();
        lse(&v)
    }

    /// The α lattice (`frames × len`, α including the frame's emission).
    fn alphas(&self, init: &[f64], lp: &[f64], c: usize, frames: usize) -> Vec<f64> {
        let m = self.len();
        let mut alpha = vec![0.0; frames * m];
        let mut prev = init.to_vec();
        for t in 0..frames {
            let (_, rest) = alpha.split_at_mut(t * m);
            self.step(&prev, &lp[t * c..(t + 1) * c], &mut rest[..m]);
            prev.copy_from_slice(&rest[..m]);
        }
        alpha
    }

    /// The backward recursion from the last frame to the first: calls
    /// `visit(t, β_t)` where `β_t(s)` is the log-weight of every continuation
    /// after frame `t` from state `s` (frame `t`'s own emission excluded), final
    /// weights included.
    fn backward(&self, lp: &[f64], c: usize, frames: usize, mut visit: impl FnMut(usize, &[f64])) {
        let m = self.len();
        if frames == 0 {
            return;
        }
        let mut beta = self.fin.clone();
        let mut prev = vec![0.0; m];
        let mut ext = vec![0.0; m];
        visit(frames - 1, &beta);
        for t in (0..frames - 1).rev() {
            let row = &lp[(t + 1) * c..(t + 2) * c];
            for s in 0..m {
                ext[s] = beta[s] + self.e(s, row);
            }
            for s in 0..m {
                let b1 = ext[s];
                let b2 = if s + 1 < m { ext[s + 1] } else { NEG_INF };
                let b3 = if s + 2 < m && self.skip[s + 2] { ext[s + 2] } else { NEG_INF };
                prev[s] = lse3(b1, b2, b3);
            }
            std::mem::swap(&mut beta, &mut prev);
            visit(t, &beta);
        }
    }
}

impl Chain {
    /// This chain as the fast path's lattice over rows of `c` columns: each
    /// state emits the column `column(k)` of its class `k`, its posterior is
    /// credited to the column `credit` gives (`c`: none), and the sequence
    /// reads the rows at `frames`.
    fn lattice(&self, c: usize, column: impl Fn(usize) -> usize, init: Vec<f64>, init_value: Option<Vec<f64>>, credit: Vec<usize>, frames: Vec<usize>) -> chain::Lattice {
        let class = self
            .emit
            .iter()
            .map(|e| match *e {
                Emit::Class(k) => column(k),
                Emit::Certain => chain::Lattice::certain(c),
                Emit::Never => chain::Lattice::never(c),
            })
            .collect();
        let skip = self.skip.iter().map(|&s| if s { 0.0 } else { NEG_INF }).collect();
        chain::Lattice { class, credit, next: vec![0.0; self.len()], skip, init, init_value, fin: self.fin.clone(), frames }
    }
}

/// A face's result: the value (`None` where only the gradient was asked
/// for) and the gradient (`None` for a forward pass).
type Out<T> = (Option<ArrayD<T>>, Option<Gradients<T>>);

/// The per-sequence rules of a face on the fast path: each sequence's value
/// for the reducer given its log-likelihood, and what its gradient rows are.
struct Rules<'a> {
    value: &'a dyn Fn(usize, f64) -> f64,
    rows: &'a (dyn Fn(usize, f64, &Scales) -> RowScale + Sync),
    /// Whether the fast path's log-likelihood stands (else the batch takes the general path).
    keep: &'a dyn Fn(f64) -> bool,
}

/// The fast path ([`chain::run`]) on a contiguous input `x` of shape `shape`
/// (rows of `c` columns) with the lattices `seqs`; `None` where a sequence
/// reads an input the path does not take (the caller then runs its general
/// path). The gradient is allocated in `T` and only the sequences' frame rows
/// are written.
#[allow(clippy::too_many_arguments)]
fn fast<T: Float>(loss: &'static str, x: &[T], shape: &[usize], c: usize, form: Form, seqs: &[chain::Lattice], reducer: &Reducer, rules: Rules<'_>, up: &Upstream<'_, T>) -> Result<Option<Out<T>>> {
    let values = |ll: Vec<f64>| reducer.output(ll.iter().enumerate().map(|(b, &l)| (rules.value)(b, l)).collect());
    let kept = |ll: &Vec<f64>| ll.iter().all(|&l| (rules.keep)(l));
    let Some(scales) = up.scales(loss, reducer)? else {
        return Ok(chain::run(x, c, form, seqs, None).ok().filter(kept).map(|ll| (Some(values(ll)), None)));
    };
    let mut g = vec![T::zero(); x.len()];
    let at = |b: usize, ll: f64| (rules.rows)(b, ll, &scales);
    let Some(ll) = chain::run(x, c, form, seqs, Some((&mut g, &at))).ok().filter(kept) else { return Ok(None) };
    let input = ArrayD::from_shape_vec(IxDyn(shape), g).expect("the gradient has the input's length");
    Ok(Some((Some(values(ll)), Some(Gradients { input, target: None }))))
}

/// The general path's result for a prepared batch (widened to `f64`, scalar loops).
fn general<T: Float>(loss: &'static str, job: &impl PerItem, shape: &[usize], up: Upstream<'_, T>) -> Result<Out<T>> {
    Ok(match up {
        Upstream::Skip => (Some(per_item::forward(job)), None),
        Upstream::Ones => {
            let (v, g) = per_item::forward_backward(loss, job, shape)?;
            (Some(v), Some(g))
        }
        Upstream::Given(g) => (None, Some(per_item::backward(loss, job, shape, &g)?)),
    })
}

/// The value of a face's [`Out`] for a forward pass.
fn value_of<T>(out: Out<T>) -> ArrayD<T> {
    out.0.expect("a forward pass gives the value")
}

/// The gradient of a face's [`Out`] for a backward pass.
fn grad_of<T>(out: Out<T>) -> Gradients<T> {
    out.1.expect("a backward pass gives the gradient")
}

/// Both parts of a face's [`Out`] for a forward and backward pass.
fn both_of<T>(out: Out<T>) -> (ArrayD<T>, Gradients<T>) {
    (out.0.expect("a forward pass gives the value"), out.1.expect("a backward pass gives the gradient"))
}

/// The standard CTC chain `(start, ∅, y₁, ∅, y₂, …, y_S, ∅)` of PyTorch: the
/// path ends in the last label or the last blank; `log 0 = −∞` everywhere.
fn torch_chain(labels: &[usize], blank: usize) -> (Chain, Vec<f64>) {
    let s_len = labels.len();
    let m = 2 * s_len + 2;
    let mut emit = Vec::with_capacity(m);
    let mut skip = Vec::with_capacity(m);
    emit.push(Emit::Never);
    skip.push(false);
    for (i, &y) in labels.iter().enumerate() {
        emit.push(Emit::Class(blank));
        skip.push(false);
        emit.push(Emit::Class(y));
        // From the start state (i = 0) or the previous label unless it repeats.
        skip.push(i == 0 || labels[i - 1] != y);
    }
    emit.push(Emit::Class(blank));
    skip.push(false);
    let mut fin = vec![NEG_INF; m];
    fin[m - 1] = 0.0;
    if s_len > 0 {
        fin[m - 2] = 0.0;
    } else {
        fin[0] = 0.0; // no frames, no labels: the empty path
    }
    let mut init = vec![NEG_INF; m];
    init[0] = 0.0;
    (Chain { emit, skip, fin }, init)
}

/// Reads a tensor of lengths: one per sequence, each in `[0, max]`.
fn read_lengths<I: ClassIndex, D: Dimension>(
    loss: &'static str,
    name: &'static str,
    lengths: &ArrayView<'_, I, D>,
    n: usize,
    expected_shape: &str,
    max: usize,
    max_text: &'static str,
) -> Result<Vec<usize>> {
    if lengths.len() != n {
        return Err(shape_err(loss, name, expected_shape.to_string(), lengths.shape()));
    }
    lengths
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let v = v.index();
            if v < 0 || v as u64 > max as u64 {
                Err(LossError::Domain {
                    loss,
                    tensor: name,
                    value: v as f64,
                    position: crate::machinery::error::unravel(i, lengths.shape()),
                    expected: if v < 0 { "a length ≥ 0" } else { max_text },
                })
            } else {
                Ok(v as usize)
            }
        })
        .collect()
}

/// A label inside a sequence's length: in `[0, classes)` and not the blank.
fn check_label(
    loss: &'static str,
    tensor: &'static str,
    label: i64,
    position: Vec<usize>,
    classes: usize,
    blank: usize,
) -> Result<usize> {
    if label < 0 || label as u64 >= classes as u64 {
        return Err(LossError::ClassIndex { loss, tensor, index: label, position, classes, ignore_index: None });
    }
    if label as usize == blank {
        return Err(LossError::Domain {
            loss,
            tensor,
            value: label as f64,
            position,
            expected: "a label other than the blank (the blank is implied between labels, never a target)",
        });
    }
    Ok(label as usize)
}

/// A reducer over one loss per sequence: `shape` is `[N]` or `[]`.
fn seq_reducer(reduction: Reduction, shape: Vec<usize>, n: usize) -> Reducer {
    Reducer { reduction, shape, mean_denominator: n as f64, batch: n as f64 }
}

// ---------------------------------------------------------------------------------------------
// PyTorch

/// Connectionist temporal classification loss, `torch.nn.functional.ctc_loss`:
/// the negative log-likelihood of each target sequence under every alignment
/// to the input frames, with PyTorch's semantics.
///
/// ```text
/// ℓₙ = −log Σ_{π ∈ B⁻¹(yₙ)} Π_{t < Tₙ} exp(log_probs[t, n, πₜ])      B: merge repeats, drop blanks
/// Mean = (1/N) Σₙ ℓₙ / max(Sₙ, 1)       (PyTorch divides by the target lengths, then averages)
/// Sum  = Σₙ ℓₙ                          None = (ℓₙ)   BatchMean = Σₙ ℓₙ / N
/// PyTorch's gradient, for t < Tₙ (0 for later frames):
///   grad[t, n, c] = gₙ · (exp(log_probs[t, n, c]) − Σ_{s: y'ₛ = c} αₜ(s) βₜ(s) / (pₙ · pₜ(c)))
///   αₜ(s), βₜ(s): the forward and backward probabilities of state s at frame t, both
///   including frame t's emission pₜ(y'ₛ) (Graves et al.); pₙ = p(yₙ | x); gₙ = the upstream
///   gradient of ℓₙ (under Mean: g / (N · max(Sₙ, 1)))
/// ```
///
/// Shapes: `log_probs` `(T, N, C)`, or `(T, C)` for one unbatched sequence
/// (its result is 0-d); `targets` padded `(N, S)` (entries past a sequence's
/// length are ignored) or concatenated 1-D with exactly `Σ target_lengths`
/// entries (an unbatched input's 1-D target is the concatenation of its one
/// sequence, so it must have exactly `target_lengths` entries, as in PyTorch);
/// `input_lengths` and `target_lengths` hold one length per sequence in any
/// shape with `N` elements (0-d or `(1,)` when unbatched).
///
/// The gradient is PyTorch's, which is **not** the plain derivative of the
/// loss with respect to `log_probs`: it is the gradient *as if `log_probs` were
/// the output of `log_softmax`* (the derivative through the log-softmax,
/// `exp(log_probs) − posterior`). For normalised log-probabilities the two
/// describe the same training signal; for unnormalised inputs PyTorch's
/// `exp(log_probs)` term is returned as is, and this is what is returned here.
/// Frames at or past a sequence's input length get gradient 0.
///
/// Impossible alignments (a target longer than its input allows, counting
/// a blank frame between each pair of equal adjacent labels) give `ℓₙ = +∞`
/// and, as in PyTorch, a NaN gradient on the sequence's frames; with
/// `zero_infinity` the loss is 0 and the gradient 0. An input length of 0
/// gives `ℓ = 0` for an empty target (exactly `−0.0`, as PyTorch) and `+∞`
/// otherwise. A `−∞` log-probability gives a NaN gradient entry, as in PyTorch.
///
/// # Errors
/// [`LossError::Shape`] for `log_probs` without 2 or 3 axes or with an empty
/// axis, lengths without one entry per sequence, `targets` not 1-D or 2-D, a
/// padded `targets` whose first axis is not `N`, a concatenated `targets`
/// whose length is not `Σ target_lengths`; [`LossError::Domain`] for a
/// negative length, an input length above `T`, a target length above the
/// padded `S`, or a label equal to `blank` (PyTorch's docs forbid it: "the
/// target index cannot be blank"; PyTorch itself does not check);
/// [`LossError::ClassIndex`] for a label outside `[0, C)` (PyTorch does not
/// check these either and reads out of bounds); [`LossError::Option`] for
/// `blank` outside `[0, C)`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::{CtcLoss, Reduction};
/// // Two frames, one label: paths "1 1", "∅ 1", "1 ∅".
/// let p = [[0.5f64, 0.5], [0.25, 0.75]];
/// let lp = array![[p[0][0].ln(), p[0][1].ln()], [p[1][0].ln(), p[1][1].ln()]];
/// let ctc = CtcLoss::new().reduction(Reduction::None);
/// let loss = ctc.forward(lp.view(), array![1i64].view(), array![2i64].view(), array![1i64].view()).unwrap();
/// let prob = p[0][1] * p[1][1] + p[0][0] * p[1][1] + p[0][1] * p[1][0];
/// assert!((loss[[]] - -prob.ln()).abs() < 1e-15);
/// ```
///
/// # References
/// A. Graves, S. Fernández, F. Gomez, J. Schmidhuber, "Connectionist Temporal
/// Classification: Labelling Unsegmented Sequence Data with Recurrent Neural
/// Networks", ICML 2006, <https://www.cs.toronto.edu/~graves/icml_2006.pdf>;
/// <https://pytorch.org/docs/stable/generated/torch.nn.functional.ctc_loss.html>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CtcLoss {
    /// The reduction (default `Mean`: each loss divided by its target length, then the batch mean).
    pub reduction: Reduction,
    /// The blank's class index (default 0).
    pub blank: i64,
    /// Replace infinite losses (impossible alignments) and their gradients by 0 (default false).
    pub zero_infinity: bool,
}

impl Default for CtcLoss {
    fn default() -> Self {
        CtcLoss { reduction: Reduction::Mean, blank: 0, zero_infinity: false }
    }
}

/// A validated PyTorch CTC batch.
struct TorchBatch {
    /// `(T, N, C)` log-probabilities, row-major.
    lp: Vec<f64>,
    n: usize,
    c: usize,
    blank: usize,
    /// Input length and labels of each sequence.
    seqs: Vec<(usize, Vec<usize>)>,
    reducer: Reducer,
}

/// A prepared [`CtcLoss`] batch and each sequence's `−log p(yₙ | x)`.
struct TorchJob<'a> {
    loss: &'a CtcLoss,
    batch: TorchBatch,
    nll: Vec<f64>,
}

impl PerItem for TorchJob<'_> {
    fn reducer(&self) -> &Reducer {
        &self.batch.reducer
    }
    fn values(&self) -> Vec<f64> {
        self.loss.values(&self.batch, &self.nll)
    }
    fn grad(&self, scales: &Scales) -> Vec<f64> {
        self.loss.grad(&self.batch, &self.nll, scales)
    }
}

impl TorchBatch {
    /// The log-probabilities of sequence `b`'s first `frames` frames, `(frames, C)`.
    fn rows(&self, b: usize, frames: usize) -> Vec<f64> {
        let (n, c) = (self.n, self.c);
        let mut out = Vec::with_capacity(frames * c);
        for t in 0..frames {
            let at = (t * n + b) * c;
            out.extend_from_slice(&self.lp[at..at + c]);
        }
        out
    }
}

impl CtcLoss {
    const NAME: &'static str = "ctc_loss";

    /// PyTorch's defaults: `Mean`, `blank = 0`, `zero_infinity = false`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction,
        /// Sets the blank's class index.
        blank: i64,
        /// Sets `zero_infinity`.
        zero_infinity: bool
    );

    /// Checks the inputs: the batch, its log-probabilities not yet read.
    fn check<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        log_probs: &ArrayView<'_, T, D1>,
        targets: &ArrayView<'_, L, D2>,
        input_lengths: &ArrayView<'_, I, D3>,
        target_lengths: &ArrayView<'_, I, D4>,
    ) -> Result<TorchBatch> {
        let loss = Self::NAME;
        let shape = log_probs.shape();
        let batched = match shape.len() {
            3 => true,
            2 => false,
            _ => return Err(shape_err(loss, "log_probs", "(T, N, C) or (T, C)", shape)),
        };
        if shape.contains(&0) {
            return Err(shape_err(loss, "log_probs", "a non-empty tensor (T, N, C ≥ 1)", shape));
        }
        let (t_max, n, c) = if batched { (shape[0], shape[1], shape[2]) } else { (shape[0], 1, shape[1]) };
        if self.blank < 0 || self.blank as u64 >= c as u64 {
            return Err(LossError::Option {
                loss,
                option: "blank",
                value: self.blank.to_string(),
                expected: format!("a class index in [0, {c}) (C = the size of `log_probs`'s class axis)"),
            });
        }
        let blank = self.blank as usize;
        let len_shape = if batched {
            format!("[{n}] (one length per sequence: N = {n})")
        } else {
            "[] or [1] (one length: `log_probs` is unbatched)".to_string()
        };
        let ils = read_lengths(
            loss,
            "input_lengths",
            input_lengths,
            n,
            &len_shape,
            t_max,
            "a length at most T, the size of `log_probs`'s time axis",
        )?;
        let ts = targets.shape().to_vec();
        let padded = match ts.len() {
            1 => false,
            2 => true,
            _ => return Err(shape_err(loss, "targets", "(N, S) padded or 1-D concatenated", &ts)),
        };
        let max_s = if padded { ts[1] } else { usize::MAX };
        let tls = read_lengths(
            loss,
            "target_lengths",
            target_lengths,
            n,
            &len_shape,
            max_s,
            "a length at most S, the size of the padded `targets`'s second axis",
        )?;
        let flat: Vec<i64> = targets.iter().map(|l| l.index()).collect();
        let mut seqs = Vec::with_capacity(n);
        if padded {
            if ts[0] != n {
                return Err(shape_err(loss, "targets", format!("[{n}, S] (N = {n} padded sequences)"), &ts));
            }
            for (b, (&il, &tl)) in ils.iter().zip(&tls).enumerate() {
                let labels = (0..tl)
                    .map(|i| check_label(loss, "targets", flat[b * ts[1] + i], vec![b, i], c, blank))
                    .collect::<Result<Vec<_>>>()?;
                seqs.push((il, labels));
            }
        } else {
            let total: usize = tls.iter().sum();
            if ts[0] != total {
                return Err(shape_err(loss, "targets", format!("[{total}] (Σ target_lengths, concatenated)"), &ts));
            }
            let mut at = 0;
            for (&il, &tl) in ils.iter().zip(&tls) {
                let labels = (at..at + tl)
                    .map(|i| check_label(loss, "targets", flat[i], vec![i], c, blank))
                    .collect::<Result<Vec<_>>>()?;
                at += tl;
                seqs.push((il, labels));
            }
        }
        let out_shape = if batched { vec![n] } else { vec![] };
        Ok(TorchBatch { lp: Vec::new(), n, c, blank, seqs, reducer: seq_reducer(self.reduction, out_shape, n) })
    }

    /// The loss and, as `up` asks, its gradient: the fast path
    /// ([`chain::run`]) on contiguous, finite log-probabilities, the general
    /// path (widened to `f64`, scalar loops) otherwise.
    fn eval<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        log_probs: &ArrayView<'_, T, D1>,
        targets: &ArrayView<'_, L, D2>,
        input_lengths: &ArrayView<'_, I, D3>,
        target_lengths: &ArrayView<'_, I, D4>,
        up: Upstream<'_, T>,
    ) -> Result<Out<T>> {
        let mut batch = self.check(log_probs, targets, input_lengths, target_lengths)?;
        if let Some(x) = log_probs.as_slice() {
            let (n, c) = (batch.n, batch.c);
            let seqs: Vec<chain::Lattice> = batch
                .seqs
                .iter()
                .enumerate()
                .map(|(b, (il, labels))| {
                    let (chain, init) = torch_chain(labels, batch.blank);
                    let credit = chain.emit.iter().map(|e| if let Emit::Class(k) = *e { k } else { c }).collect();
                    chain.lattice(c, |k| k, init, None, credit, (0..*il).map(|t| (t * n + b) * c).collect())
                })
                .collect();
            let value = |b: usize, ll: f64| self.value(-ll, batch.seqs[b].1.len());
            let rows = |b: usize, ll: f64, scales: &Scales| match self.scale(-ll, batch.seqs[b].1.len(), scales.at(b)) {
                None => RowScale::Zero,
                Some(_) if ll == NEG_INF => RowScale::Nan,
                Some(g) => RowScale::By(g),
            };
            let form = Form { logits: false, per_frame: false, through_softmax: false };
            if let Some(out) = fast(Self::NAME, x, log_probs.shape(), c, form, &seqs, &batch.reducer, Rules { value: &value, rows: &rows, keep: &|_| true }, &up)? {
                return Ok(out);
            }
        }
        batch.lp = widen(log_probs);
        let nll = (0..batch.n).map(|b| Self::nll(&batch, b)).collect();
        general(Self::NAME, &TorchJob { loss: self, batch, nll }, log_probs.shape(), up)
    }

    /// A sequence's value for the reducer from its `−log p` and its target
    /// length: 0 where infinite under `zero_infinity`, divided by the length under `Mean`.
    fn value(&self, nll: f64, len: usize) -> f64 {
        let l = if self.zero_infinity && nll == f64::INFINITY { 0.0 } else { nll };
        if self.reduction == Reduction::Mean {
            l / len.max(1) as f64
        } else {
            l
        }
    }

    /// A sequence's gradient factor from its `−log p`, its target length and
    /// its upstream scale: `None` where `zero_infinity` zeroes it.
    fn scale(&self, nll: f64, len: usize, up: f64) -> Option<f64> {
        if self.zero_infinity && nll == f64::INFINITY {
            None
        } else if self.reduction == Reduction::Mean {
            Some(up / len.max(1) as f64)
        } else {
            Some(up)
        }
    }

    /// `−log p(yₙ | x)` of each sequence, `+∞` for impossible alignments.
    fn nll(batch: &TorchBatch, b: usize) -> f64 {
        let (il, labels) = &batch.seqs[b];
        let (chain, init) = torch_chain(labels, batch.blank);
        -chain.loglik(&init, &batch.rows(b, *il), batch.c, *il)
    }

    /// The per-sequence values the reducer combines (divided by the target
    /// length under `Mean`, zeroed where infinite under `zero_infinity`).
    fn values(&self, batch: &TorchBatch, nll: &[f64]) -> Vec<f64> {
        nll.iter().zip(&batch.seqs).map(|(&l, (_, labels))| self.value(l, labels.len())).collect()
    }

    fn grad(&self, batch: &TorchBatch, nll: &[f64], scales: &Scales) -> Vec<f64> {
        let (n, c) = (batch.n, batch.c);
        let mut grad = vec![0.0; batch.lp.len()];
        for (b, (il, labels)) in batch.seqs.iter().enumerate() {
            let nll_b = nll[b];
            let Some(gr) = self.scale(nll_b, labels.len(), scales.at(b)) else { continue };
            let rows = batch.rows(b, *il);
            let (chain, init) = torch_chain(labels, batch.blank);
            let m = chain.len();
            let alpha = chain.alphas(&init, &rows, c, *il);
            let mut lcab = vec![NEG_INF; c];
            chain.backward(&rows, c, *il, |t, beta| {
                let row = &rows[t * c..(t + 1) * c];
                lcab.fill(NEG_INF);
                // PyTorch collects α·β with β including the frame's emission,
                // so each state's product holds pₜ(c) twice; the formula below
                // divides one out (and so is NaN where log pₜ(c) = −∞, as in PyTorch).
                for s in 0..m {
                    if let Emit::Class(k) = chain.emit[s] {
                        lcab[k] = lae(lcab[k], alpha[t * m + s] + beta[s] + row[k]);
                    }
                }
                let at = t * n * c + b * c;
                for k in 0..c {
                    let lp = row[k];
                    grad[at + k] = (lp.exp() - (lcab[k] + nll_b - lp).exp()) * gr;
                }
            });
        }
        grad
    }

    /// The loss, reduced as `self.reduction` says.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        log_probs: ArrayView<'_, T, D1>,
        targets: ArrayView<'_, L, D2>,
        input_lengths: ArrayView<'_, I, D3>,
        target_lengths: ArrayView<'_, I, D4>,
    ) -> Result<ArrayD<T>> {
        Ok(value_of(self.eval(&log_probs, &targets, &input_lengths, &target_lengths, Upstream::Skip)?))
    }

    /// The gradient with respect to `log_probs` of `Σ grad_output · loss`
    /// (PyTorch's, see the type's docs; `target`: `None`).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        log_probs: ArrayView<'_, T, D1>,
        targets: ArrayView<'_, L, D2>,
        input_lengths: ArrayView<'_, I, D3>,
        target_lengths: ArrayView<'_, I, D4>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        Ok(grad_of(self.eval(&log_probs, &targets, &input_lengths, &target_lengths, Upstream::Given(grad_output))?))
    }

    /// The loss and its gradient (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<
        T: Float,
        L: ClassIndex,
        I: ClassIndex,
        D1: Dimension,
        D2: Dimension,
        D3: Dimension,
        D4: Dimension,
    >(
        &self,
        log_probs: ArrayView<'_, T, D1>,
        targets: ArrayView<'_, L, D2>,
        input_lengths: ArrayView<'_, I, D3>,
        target_lengths: ArrayView<'_, I, D4>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        Ok(both_of(self.eval(&log_probs, &targets, &input_lengths, &target_lengths, Upstream::Ones)?))
    }
}

/// [`CtcLoss`] with `reduction` and the other options at PyTorch's defaults:
/// `torch.nn.functional.ctc_loss(log_probs, targets, input_lengths, target_lengths, reduction=...)`.
///
/// # Errors
/// See [`CtcLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::Reduction;
/// // An empty target: every frame must be blank.
/// let lp = array![[[0.5f64.ln(), 0.5f64.ln()]], [[0.25f64.ln(), 0.75f64.ln()]]]; // (T=2, N=1, C=2)
/// let targets = ndarray::Array2::<i64>::zeros((1, 0));
/// let v = losslab::ctc_loss(lp.view(), targets.view(), array![2i64].view(), array![0i64].view(), Reduction::Sum).unwrap();
/// assert!((v[[]] - -(0.5f64 * 0.25).ln()).abs() < 1e-15);
/// ```
///
/// # References
/// [`CtcLoss`]: its formula, the reference's semantics and the paper.
pub fn ctc_loss<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
    log_probs: ArrayView<'_, T, D1>,
    targets: ArrayView<'_, L, D2>,
    input_lengths: ArrayView<'_, I, D3>,
    target_lengths: ArrayView<'_, I, D4>,
    reduction: Reduction,
) -> Result<ArrayD<T>> {
    CtcLoss::new().reduction(reduction).forward(log_probs, targets, input_lengths, target_lengths)
}

// ---------------------------------------------------------------------------------------------
// TensorFlow

/// TensorFlow's stand-in for `log 0` in its dense CTC: `float32(ln(1e-307))`.
const TF_LOG_0: f64 = -706.893_615_722_656_2;

/// Connectionist temporal classification loss on logits, `tf.nn.ctc_loss`
/// with dense (padded) labels: TensorFlow's `ctc_loss_dense`, which applies
/// `log_softmax` to the logits itself and returns one loss per sequence.
///
/// ```text
/// log p = log_softmax(logits)             over the classes
/// ℓₙ    = −log Σ_paths Π_{t < logit_length[n]} pₜ · w(final state)     one value per sequence, shape (N,)
/// ∂ℓₙ/∂logits[t, n, c] = softmax(logits)[t, n, c] − posteriorₜ(c)    for t < logit_length[n], else 0
/// ```
///
/// Shapes: `labels` `(N, S)` padded (entries past `label_length` are padding),
/// `logits` `(T, N, C)` (or `(N, T, C)` with `logits_time_major = false`),
/// `label_length` and `logit_length` one length per sequence (`N` elements).
/// The result is `(N,)` under the default reduction `None`; `Mean` is the
/// plain batch mean (TensorFlow has no reduction argument).
///
/// TensorFlow's own semantics, followed here: the lattice has a state for every
/// padded label position (`2(S + 1)` states, including a start state), and
/// instead of `log 0 = −∞` it gives the states a path may not end in a final
/// log-weight of `float32(ln 1e-307) ≈ −706.89` (and the same initial weight,
/// before the first frame, to every state but the start, which enters the
/// gradient only). For any alignment whose probability is above about
/// `e^−680` the difference is below rounding; an impossible alignment gets a
/// large *finite* loss (about 706.9 plus the score of the best partial path),
/// never `+∞`, and its gradient is finite. With `blank_index ≠ 0` the
/// blank's logits are moved to class 0 and labels below it shifted up by one,
/// as TensorFlow does. TensorFlow's dense CTC runs only in float32; this
/// computes its algorithm in f64.
///
/// # Errors
/// [`LossError::Shape`] for `logits` without 3 axes or with no classes,
/// `labels` not `(N, S)`, lengths without one entry per sequence;
/// [`LossError::Domain`] for a negative length, a `logit_length` above the
/// number of frames, a `label_length` above `S`, or a label equal to the
/// blank; [`LossError::ClassIndex`] for a label outside `[0, C)` (TensorFlow
/// checks none of these and computes with a one-hot row of zeros);
/// [`LossError::Option`] for `blank_index` outside `[−C, C)`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::sequence::TfCtcLoss;
/// // One frame, one label 1 of 2 classes: the only path is "1".
/// let logits = array![[[0.0f64, 1.0]]]; // (T=1, N=1, C=2)
/// let loss = TfCtcLoss::new()
///     .forward(array![[1i64]].view(), logits.view(), array![1i64].view(), array![1i64].view())
///     .unwrap();
/// let p1 = 1f64.exp() / (1.0 + 1f64.exp());
/// assert!((loss[[0]] - -p1.ln()).abs() < 1e-15);
/// ```
///
/// # References
/// A. Graves et al., "Connectionist Temporal Classification", ICML 2006,
/// <https://www.cs.toronto.edu/~graves/icml_2006.pdf>; K. C. Sim et al.,
/// "Improving the efficiency of forward-backward algorithm using batched
/// computation in TensorFlow", ASRU 2017;
/// <https://www.tensorflow.org/api_docs/python/tf/nn/ctc_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TfCtcLoss {
    /// The reduction (default `None`: TensorFlow's own `(N,)` output).
    pub reduction: Reduction,
    /// `logits` is `(T, N, C)` if true (default), `(N, T, C)` if false.
    pub logits_time_major: bool,
    /// The blank's class index (default 0); negative values count from `C`.
    pub blank_index: i64,
}

impl Default for TfCtcLoss {
    fn default() -> Self {
        TfCtcLoss { reduction: Reduction::None, logits_time_major: true, blank_index: 0 }
    }
}

/// A validated TensorFlow CTC batch: the logits with the blank moved to class 0.
struct TfBatch {
    /// Log-softmax of the rotated logits, `(N, T, C)` row-major.
    lp: Vec<f64>,
    t: usize,
    n: usize,
    c: usize,
    time_major: bool,
    blank: usize,
    /// Per sequence: logit length, label length, the shifted padded labels.
    seqs: Vec<(usize, usize, Vec<i64>)>,
    reducer: Reducer,
}

impl PerItem for TfBatch {
    fn reducer(&self) -> &Reducer {
        &self.reducer
    }
    fn values(&self) -> Vec<f64> {
        TfCtcLoss::losses(self)
    }
    fn grad(&self, scales: &Scales) -> Vec<f64> {
        TfCtcLoss::grad(self, scales)
    }
}

impl TfBatch {
    /// TensorFlow's lattice for sequence `b`: `(l₀, k₀, l₁, k₁, …, l_S, k_S)`
    /// with `l₀` the start, `lⱼ` the j-th (padded) label, `kⱼ` a blank.
    /// Returns the chain, the loss's and the gradient's pre-frame weights, and
    /// the class each state's posterior is credited to.
    fn chain(&self, b: usize) -> (Chain, Vec<f64>, Vec<f64>, Vec<Option<usize>>) {
        let (_, label_len, labels) = &self.seqs[b];
        let s_len = labels.len();
        let m = 2 * s_len + 2;
        let c = self.c;
        let mut emit = Vec::with_capacity(m);
        let mut skip = Vec::with_capacity(m);
        let mut credit = Vec::with_capacity(m);
        for j in 0..=s_len {
            if j == 0 {
                emit.push(Emit::Never);
                skip.push(false);
                credit.push(None);
            } else {
                let v = labels[j - 1];
                emit.push(if v >= 0 && (v as u64) < c as u64 { Emit::Class(v as usize) } else { Emit::Certain });
                // l₀ → l₁ always; lⱼ₋₁ → lⱼ unless the labels repeat.
                skip.push(j == 1 || labels[j - 2] != v);
                credit.push(if v >= 1 && (v as u64) < c as u64 { Some(v as usize) } else { None });
            }
            emit.push(Emit::Class(0));
            skip.push(false);
            credit.push(Some(0));
        }
        let mut fin = vec![TF_LOG_0; m];
        fin[2 * label_len] = 0.0;
        fin[2 * label_len + 1] = 0.0;
        let mut init_loss = vec![NEG_INF; m];
        init_loss[0] = 0.0;
        let mut init_grad = vec![TF_LOG_0; m];
        init_grad[0] = 0.0;
        (Chain { emit, skip, fin }, init_loss, init_grad, credit)
    }

    fn rows(&self, b: usize, frames: usize) -> &[f64] {
        let at = b * self.t * self.c;
        &self.lp[at..at + frames * self.c]
    }

    /// The caller's class of the rotated class `k` (the blank moved to 0).
    fn orig(&self, k: usize) -> usize {
        if k == 0 {
            self.blank
        } else if k <= self.blank {
            k - 1
        } else {
            k
        }
    }

    /// Flat index of the row of frame `t` of sequence `b` in the caller's layout.
    fn row_at(&self, t: usize, b: usize) -> usize {
        if self.time_major {
            (t * self.n + b) * self.c
        } else {
            (b * self.t + t) * self.c
        }
    }

    /// Flat index of `logits[t, b, class]` in the caller's layout (unrotated class).
    fn at(&self, t: usize, b: usize, k: usize) -> usize {
        self.row_at(t, b) + self.orig(k)
    }

    /// Sequence `b`'s lattice for the fast path, in the caller's class order.
    fn lattice(&self, b: usize) -> chain::Lattice {
        let (chain, init_loss, init_grad, credit) = self.chain(b);
        let credit = credit.iter().map(|k| k.map_or(self.c, |k| self.orig(k))).collect();
        let frames = (0..self.seqs[b].0).map(|t| self.row_at(t, b)).collect();
        chain.lattice(self.c, |k| self.orig(k), init_grad, Some(init_loss), credit, frames)
    }

    /// The log-softmax of the rotated logits, `(N, T, C)`, for the general path.
    fn log_probs(&mut self, x: &[f64]) {
        let (t, n, c, blank) = (self.t, self.n, self.c, self.blank);
        let mut lp = vec![0.0; n * t * c];
        let (mut lane, mut out) = (vec![0.0; c], vec![0.0; c]);
        for b in 0..n {
            for ti in 0..t {
                let base = self.row_at(ti, b);
                lane[0] = x[base + blank];
                let mut k = 1;
                for (j, &v) in x[base..base + c].iter().enumerate() {
                    if j != blank {
                        lane[k] = v;
                        k += 1;
                    }
                }
                log_softmax_lane(&lane, &mut out);
                lp[(b * t + ti) * c..(b * t + ti + 1) * c].copy_from_slice(&out);
            }
        }
        self.lp = lp;
    }
}

impl TfCtcLoss {
    const NAME: &'static str = "ctc_loss";

    /// TensorFlow's defaults: time-major logits, `blank_index = 0`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction,
        /// Sets `logits_time_major`.
        logits_time_major: bool,
        /// Sets `blank_index`.
        blank_index: i64
    );

    /// Checks the inputs: the batch, its logits not yet read.
    fn check<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        labels: &ArrayView<'_, L, D1>,
        logits: &ArrayView<'_, T, D2>,
        label_length: &ArrayView<'_, I, D3>,
        logit_length: &ArrayView<'_, I, D4>,
    ) -> Result<TfBatch> {
        let loss = Self::NAME;
        let shape = logits.shape();
        if shape.len() != 3 || shape[2] == 0 {
            let want = if self.logits_time_major { "(T, N, C) with C ≥ 1" } else { "(N, T, C) with C ≥ 1" };
            return Err(shape_err(loss, "logits", want, shape));
        }
        let (t, n, c) = if self.logits_time_major { (shape[0], shape[1], shape[2]) } else { (shape[1], shape[0], shape[2]) };
        let ci = c as i64;
        if self.blank_index < -ci || self.blank_index >= ci {
            return Err(LossError::Option {
                loss,
                option: "blank_index",
                value: self.blank_index.to_string(),
                expected: format!("a class index in [-{c}, {c}) (C = the size of `logits`'s class axis)"),
            });
        }
        let blank = if self.blank_index < 0 { self.blank_index + ci } else { self.blank_index } as usize;
        let ls = labels.shape();
        if ls.len() != 2 || ls[0] != n {
            return Err(shape_err(loss, "labels", format!("[{n}, S] (N = {n} padded label sequences)"), ls));
        }
        let s = ls[1];
        let len_shape = format!("[{n}] (one length per sequence: N = {n})");
        let lls = read_lengths(loss, "label_length", label_length, n, &len_shape, s, "a length at most S, the size of `labels`'s second axis")?;
        let gls = read_lengths(loss, "logit_length", logit_length, n, &len_shape, t, "a length at most T, the number of frames in `logits`")?;
        let flat: Vec<i64> = labels.iter().map(|l| l.index()).collect();
        let mut seqs = Vec::with_capacity(n);
        for b in 0..n {
            let row = &flat[b * s..(b + 1) * s];
            for (i, &l) in row.iter().take(lls[b]).enumerate() {
                check_label(loss, "labels", l, vec![b, i], c, blank)?;
            }
            // TensorFlow moves the blank to class 0: labels below it shift up by one.
            let shifted = row.iter().map(|&l| if l < blank as i64 { l + 1 } else { l }).collect();
            seqs.push((gls[b], lls[b], shifted));
        }
        Ok(TfBatch {
            lp: Vec::new(),
            t,
            n,
            c,
            time_major: self.logits_time_major,
            blank,
            seqs,
            reducer: seq_reducer(self.reduction, vec![n], n),
        })
    }

    /// The loss and, as `up` asks, its gradient: the fast path
    /// ([`chain::run`], the log-softmax fused) on contiguous, finite logits,
    /// the general path (widened to `f64`, scalar loops) otherwise.
    fn eval<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        labels: &ArrayView<'_, L, D1>,
        logits: &ArrayView<'_, T, D2>,
        label_length: &ArrayView<'_, I, D3>,
        logit_length: &ArrayView<'_, I, D4>,
        up: Upstream<'_, T>,
    ) -> Result<Out<T>> {
        let mut batch = self.check(labels, logits, label_length, logit_length)?;
        if let Some(x) = logits.as_slice() {
            let seqs: Vec<chain::Lattice> = (0..batch.n).map(|b| batch.lattice(b)).collect();
            let rules = Rules { value: &|_, ll| -ll, rows: &|b, _, scales| RowScale::By(scales.at(b)), keep: &|_| true };
            let form = Form { logits: true, per_frame: true, through_softmax: false };
            if let Some(out) = fast(Self::NAME, x, logits.shape(), batch.c, form, &seqs, &batch.reducer, rules, &up)? {
                return Ok(out);
            }
        }
        batch.log_probs(&widen(logits));
        general(Self::NAME, &batch, logits.shape(), up)
    }

    fn losses(batch: &TfBatch) -> Vec<f64> {
        (0..batch.n)
            .map(|b| {
                let frames = batch.seqs[b].0;
                let (chain, init_loss, _, _) = batch.chain(b);
                -chain.loglik(&init_loss, batch.rows(b, frames), batch.c, frames)
            })
            .collect()
    }

    fn grad(batch: &TfBatch, scales: &Scales) -> Vec<f64> {
        let c = batch.c;
        let mut grad = vec![0.0; batch.lp.len()];
        for b in 0..batch.n {
            let frames = batch.seqs[b].0;
            let gr = scales.at(b);
            let (chain, _, init_grad, credit) = batch.chain(b);
            let m = chain.len();
            let rows = batch.rows(b, frames);
            let alpha = chain.alphas(&init_grad, rows, c, frames);
            let mut v = vec![0.0; m];
            let mut olabel = vec![NEG_INF; c];
            chain.backward(rows, c, frames, |t, beta| {
                for s in 0..m {
                    v[s] = alpha[t * m + s] + beta[s];
                }
                // TensorFlow normalises the state posterior frame by frame.
                let z = lse(&v);
                olabel.fill(NEG_INF);
                for s in 0..m {
                    if let Some(k) = credit[s] {
                        olabel[k] = lae(olabel[k], v[s] - z);
                    }
                }
                for k in 0..c {
                    grad[batch.at(t, b, k)] = gr * (rows[t * c + k].exp() - olabel[k].exp());
                }
            });
        }
        grad
    }

    /// The loss, in TensorFlow's argument order (`labels`, `logits`, `label_length`, `logit_length`).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        labels: ArrayView<'_, L, D1>,
        logits: ArrayView<'_, T, D2>,
        label_length: ArrayView<'_, I, D3>,
        logit_length: ArrayView<'_, I, D4>,
    ) -> Result<ArrayD<T>> {
        Ok(value_of(self.eval(&labels, &logits, &label_length, &logit_length, Upstream::Skip)?))
    }

    /// The gradient of `Σ grad_output · loss` with respect to `logits` (`target`: `None`).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        labels: ArrayView<'_, L, D1>,
        logits: ArrayView<'_, T, D2>,
        label_length: ArrayView<'_, I, D3>,
        logit_length: ArrayView<'_, I, D4>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        Ok(grad_of(self.eval(&labels, &logits, &label_length, &logit_length, Upstream::Given(grad_output))?))
    }

    /// The loss and its gradient (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<
        T: Float,
        L: ClassIndex,
        I: ClassIndex,
        D1: Dimension,
        D2: Dimension,
        D3: Dimension,
        D4: Dimension,
    >(
        &self,
        labels: ArrayView<'_, L, D1>,
        logits: ArrayView<'_, T, D2>,
        label_length: ArrayView<'_, I, D3>,
        logit_length: ArrayView<'_, I, D4>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        Ok(both_of(self.eval(&labels, &logits, &label_length, &logit_length, Upstream::Ones)?))
    }
}

/// [`TfCtcLoss`] with TensorFlow's defaults: `tf.nn.ctc_loss(labels, logits,
/// label_length, logit_length)`, one loss per sequence.
///
/// # Errors
/// See [`TfCtcLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// // Equal logits over 2 classes, 2 frames, label "1": 3 paths of probability 1/4.
/// let logits = array![[[0.0f32, 0.0]], [[0.0, 0.0]]];
/// let v = losslab::sequence::tf_ctc_loss(array![[1i64]].view(), logits.view(), array![1i64].view(), array![2i64].view()).unwrap();
/// assert!((v[[0]] - -(0.75f32).ln()).abs() < 1e-6);
/// ```
///
/// # References
/// [`TfCtcLoss`]: its formula, the reference's semantics and the paper.
pub fn tf_ctc_loss<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
    labels: ArrayView<'_, L, D1>,
    logits: ArrayView<'_, T, D2>,
    label_length: ArrayView<'_, I, D3>,
    logit_length: ArrayView<'_, I, D4>,
) -> Result<ArrayD<T>> {
    TfCtcLoss::new().forward(labels, logits, label_length, logit_length)
}

// ---------------------------------------------------------------------------------------------
// optax

/// Connectionist temporal classification loss on logits with padding masks,
/// `optax.ctc_loss`: one loss per sequence, with optax's own recursion.
///
/// ```text
/// log p = log_softmax(logits)                          over the K classes
/// φₜ(n) = log α of "n labels emitted, now in a blank (or about to emit label n+1)"    n = 0…N
/// eₜ(n) = log α of "emitting label n"                                                n = 0…N−1
/// φ₋₁ = (0, ε, …, ε),  e₋₁ = (ε, …, ε)                 ε = log_epsilon (default −1e5), optax's log 0
/// ℓ_b = −logaddexp(φ_{T−1}(L_b), e_{T−1}(L_b − 1))      L_b = N − Σ label_paddings[b]
/// ∂ℓ/∂logits: the exact derivative of that recursion (what `jax.grad` of optax returns)
/// ```
///
/// Shapes: `logits` `(B, T, K)`, `logit_paddings` `(B, T)`, `labels` `(B, N)`,
/// `label_paddings` `(B, N)`; result `(B,)` under the default reduction `None`.
/// A padding entry is 1 where the frame or label is padding, else 0; a
/// padded frame carries the state over unchanged (`pad · prev + (1 − pad) · next`).
///
/// optax's semantics, followed here: `log 0` is the finite `log_epsilon`,
/// which is *added* to forbidden transitions (a repeat without a blank between
/// costs `ε`) rather than excluding them, so that an impossible alignment
/// gets a large finite loss (about `−ε` times the number of forbidden moves)
/// with a finite gradient; for possible alignments the difference is below
/// rounding. Following JAX's type promotion, `ε` enters the repeat terms
/// rounded to float32 (optax computes `log_epsilon * repeat` with a float32
/// `repeat`) and the initial states in full precision. A label equal to
/// `blank_id` is allowed (it emits the blank's probability), as in optax.
///
/// # Errors
/// [`LossError::Shape`] for tensors of the wrong rank or shapes that do not
/// match, or no frames (`T = 0`); [`LossError::Domain`] for a padding entry
/// other than 0 or 1, or `label_paddings` that are not right-padded (zeros
/// then ones, as optax requires); [`LossError::ClassIndex`] for an unpadded
/// label outside `[0, K)` (optax computes with a one-hot row of zeros, a
/// log-probability of 0); [`LossError::Option`] for `blank_id` outside `[0, K)`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::sequence::OptaxCtcLoss;
/// // Equal logits over 2 classes, 2 frames, label "1": 3 paths of probability 1/4.
/// let logits = array![[[0.0f64, 0.0], [0.0, 0.0]]];
/// let loss = OptaxCtcLoss::new()
///     .forward(logits.view(), array![[0.0, 0.0]].view(), array![[1i64]].view(), array![[0.0]].view())
///     .unwrap();
/// assert!((loss[[0]] - -(0.75f64).ln()).abs() < 1e-15);
/// ```
///
/// # References
/// A. Graves et al., "Connectionist Temporal Classification", ICML 2006,
/// <https://www.cs.toronto.edu/~graves/icml_2006.pdf>;
/// <https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.ctc_loss>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OptaxCtcLoss {
    /// The reduction (default `None`: optax's own `(B,)` output).
    pub reduction: Reduction,
    /// The blank's class index (default 0).
    pub blank_id: i64,
    /// The stand-in for `log 0` (default −1e5).
    pub log_epsilon: f64,
}

impl Default for OptaxCtcLoss {
    fn default() -> Self {
        OptaxCtcLoss { reduction: Reduction::None, blank_id: 0, log_epsilon: -1e5 }
    }
}

/// The least loss of an optax sequence on the fast path (a smaller one is at
/// the rounding level of optax's own order of operations).
const OPTAX_FAST_MIN: f64 = 1e-4;
/// The largest loss of an optax sequence on the fast path (a larger one holds
/// numbers of the size of `log_epsilon`'s multiples, whose rounding optax's
/// order decides).
const OPTAX_FAST_MAX: f64 = 1e4;

/// A validated optax CTC batch.
struct OptaxBatch {
    /// Log-softmax of the logits, `(B, T, K)`.
    lp: Vec<f64>,
    b: usize,
    t: usize,
    k: usize,
    n: usize,
    pads: Vec<f64>,
    /// Labels as emission classes (`None`: outside `[0, K)`, a log-probability of 0).
    labels: Vec<Option<usize>>,
    /// `repeat[b, n] = 1` where `labels[b, n] == labels[b, n + 1]`.
    repeat: Vec<f64>,
    label_lens: Vec<usize>,
    blank: usize,
    reducer: Reducer,
}

/// One optax time step's intermediates (recomputed in the backward pass).
struct OptaxStep {
    /// `φ'`: φ after the emit → φ epsilon transition.
    phi1: Vec<f64>,
    /// The new emit scores before padding.
    ne: Vec<f64>,
    /// `φ' + log p(blank)`.
    q: Vec<f64>,
    /// `e + log p(blank) + ε·(1 − repeat)`.
    cc: Vec<f64>,
    /// The new φ before padding.
    np: Vec<f64>,
}

/// A prepared [`OptaxCtcLoss`] batch (also [`KerasCtc`]'s) with the loss's options.
struct OptaxJob {
    loss: OptaxCtcLoss,
    batch: OptaxBatch,
}

impl PerItem for OptaxJob {
    fn reducer(&self) -> &Reducer {
        &self.batch.reducer
    }
    fn values(&self) -> Vec<f64> {
        self.loss.losses(&self.batch)
    }
    fn grad(&self, scales: &Scales) -> Vec<f64> {
        self.loss.grad(&self.batch, scales)
    }
}

impl OptaxBatch {
    /// Whether every logit of the padded frames is finite: optax carries the
    /// state over a padded frame as `1 · prev + 0 · next`, so a NaN or an
    /// infinity there reaches the result, which the general path computes.
    fn padded_rows_finite<T: Float>(&self, x: &[T]) -> bool {
        self.pads
            .iter()
            .enumerate()
            .filter(|&(_, &p)| p != 0.0)
            .all(|(i, _)| x[i * self.k..(i + 1) * self.k].iter().all(|v| v.to_wide().is_finite()))
    }

    /// Sequence `b`'s lattice for the fast path: optax's recursion over
    /// `(φ₀, e₀, φ₁, …, e_{L−1}, φ_L)` as a chain. Per frame, `φ(i)` stays
    /// (the blank), `e(i)` is entered from `φ(i)` or stays, or comes from
    /// `e(i − 1)` with weight `ε·repeat` (optax's epsilon transition through
    /// `φ'`), and `φ(i + 1)` is entered from `e(i)` with weight
    /// `logaddexp(0, ε)` (optax's two routes, `ε·repeat` and `ε·(1 − repeat)`);
    /// every state starts at `ε` but `φ₀` (0), the path ends in `φ_L` or
    /// `e_{L−1}`, and the states past `L` (which never lead back) are left out.
    fn lattice(&self, b: usize, eps: f64, eps32: f64) -> chain::Lattice {
        let len = self.label_lens[b];
        let m = 2 * len + 1;
        let (k, blank) = (self.k, self.blank);
        let mut class = vec![blank; m];
        let mut next = vec![0.0; m];
        let mut skip = vec![NEG_INF; m];
        let to_phi = lae(0.0, eps32);
        for i in 0..len {
            class[2 * i + 1] = self.labels[b * self.n + i].unwrap_or(chain::Lattice::certain(k));
            if i > 0 {
                skip[2 * i + 1] = eps32 * self.repeat[b * self.n + i - 1];
            }
            next[2 * i + 2] = to_phi;
        }
        let credit = class.iter().map(|&c| c.min(k)).collect();
        let mut init = vec![eps; m];
        init[0] = 0.0;
        let mut fin = vec![NEG_INF; m];
        fin[m - 1] = 0.0;
        if len > 0 {
            fin[m - 2] = 0.0;
        }
        let frames = (0..self.t).filter(|&t| self.pads[b * self.t + t] == 0.0).map(|t| (b * self.t + t) * k).collect();
        chain::Lattice { class, credit, next, skip, init, init_value: None, fin, frames }
    }

    fn x(&self, b: usize, t: usize, n: usize) -> f64 {
        match self.labels[b * self.n + n] {
            Some(k) => self.lp[(b * self.t + t) * self.k + k],
            None => 0.0,
        }
    }

    fn step(&self, b: usize, t: usize, phi: &[f64], emit: &[f64], eps32: f64) -> OptaxStep {
        let n = self.n;
        let rep = &self.repeat[b * n..(b + 1) * n];
        let p = self.lp[(b * self.t + t) * self.k + self.blank];
        let mut phi1 = phi.to_vec();
        for i in 0..n {
            phi1[i + 1] = lae(phi[i + 1], emit[i] + eps32 * rep[i]);
        }
        let ne: Vec<f64> = (0..n)
            .map(|i| {
                let x = self.x(b, t, i);
                lae(phi1[i] + x, emit[i] + x)
            })
            .collect();
        let q: Vec<f64> = phi1.iter().map(|v| v + p).collect();
        let cc: Vec<f64> = (0..n).map(|i| emit[i] + p + eps32 * (1.0 - rep[i])).collect();
        let mut np = q.clone();
        for i in 0..n {
            np[i + 1] = lae(q[i + 1], cc[i]);
        }
        OptaxStep { phi1, ne, q, cc, np }
    }
}

impl OptaxCtcLoss {
    const NAME: &'static str = "ctc_loss";

    /// optax's defaults: `blank_id = 0`, `log_epsilon = −1e5`, no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction,
        /// Sets `blank_id`.
        blank_id: i64,
        /// Sets `log_epsilon`.
        log_epsilon: f64
    );

    /// Checks the inputs: the batch, its logits not yet read.
    fn check<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        logits: &ArrayView<'_, T, D1>,
        logit_paddings: &ArrayView<'_, T, D2>,
        labels: &ArrayView<'_, L, D3>,
        label_paddings: &ArrayView<'_, T, D4>,
    ) -> Result<OptaxJob> {
        let loss = Self::NAME;
        let shape = logits.shape();
        if shape.len() != 3 || shape[1] == 0 || shape[2] == 0 {
            return Err(shape_err(loss, "logits", "(B, T, K) with T ≥ 1 and K ≥ 1", shape));
        }
        let (bsz, t, k) = (shape[0], shape[1], shape[2]);
        if logit_paddings.shape() != [bsz, t] {
            return Err(shape_err(loss, "logit_paddings", format!("[{bsz}, {t}] (the shape of `logits` without its class axis)"), logit_paddings.shape()));
        }
        let ls = labels.shape();
        if ls.len() != 2 || ls[0] != bsz {
            return Err(shape_err(loss, "labels", format!("[{bsz}, N] (B = {bsz} padded label sequences)"), ls));
        }
        let n = ls[1];
        if label_paddings.shape() != ls {
            return Err(shape_err(loss, "label_paddings", format!("{ls:?} (the shape of `labels`)"), label_paddings.shape()));
        }
        if self.blank_id < 0 || self.blank_id as u64 >= k as u64 {
            return Err(LossError::Option {
                loss,
                option: "blank_id",
                value: self.blank_id.to_string(),
                expected: format!("a class index in [0, {k}) (K = the size of `logits`'s class axis)"),
            });
        }
        let check_pads = |name: &'static str, v: &[f64], shape: &[usize]| -> Result<()> {
            match v.iter().position(|&p| p != 0.0 && p != 1.0) {
                Some(i) => Err(LossError::Domain {
                    loss,
                    tensor: name,
                    value: v[i],
                    position: crate::machinery::error::unravel(i, shape),
                    expected: "0 (data) or 1 (padding)",
                }),
                None => Ok(()),
            }
        };
        let pads = widen(logit_paddings);
        check_pads("logit_paddings", &pads, logit_paddings.shape())?;
        let lpads = widen(label_paddings);
        check_pads("label_paddings", &lpads, label_paddings.shape())?;
        let raw: Vec<i64> = labels.iter().map(|l| l.index()).collect();
        let mut label_lens = Vec::with_capacity(bsz);
        for b in 0..bsz {
            let row = &lpads[b * n..(b + 1) * n];
            let len = row.iter().filter(|&&p| p == 0.0).count();
            if let Some(i) = row.iter().take(len).position(|&p| p == 1.0) {
                return Err(LossError::Domain {
                    loss,
                    tensor: "label_paddings",
                    value: 1.0,
                    position: vec![b, i],
                    expected: "right padding: zeros, then ones (optax requires it)",
                });
            }
            for (i, &l) in raw[b * n..b * n + len].iter().enumerate() {
                if l < 0 || l as u64 >= k as u64 {
                    return Err(LossError::ClassIndex { loss, tensor: "labels", index: l, position: vec![b, i], classes: k, ignore_index: None });
                }
            }
            label_lens.push(len);
        }
        let labels: Vec<Option<usize>> =
            raw.iter().map(|&l| if l >= 0 && (l as u64) < k as u64 { Some(l as usize) } else { None }).collect();
        let mut repeat = vec![0.0; bsz * n];
        for b in 0..bsz {
            for i in 0..n.saturating_sub(1) {
                if raw[b * n + i] == raw[b * n + i + 1] {
                    repeat[b * n + i] = 1.0;
                }
            }
        }
        let batch = OptaxBatch {
            lp: Vec::new(),
            b: bsz,
            t,
            k,
            n,
            pads,
            labels,
            repeat,
            label_lens,
            blank: self.blank_id as usize,
            reducer: seq_reducer(self.reduction, vec![bsz], bsz),
        };
        Ok(OptaxJob { loss: self.clone(), batch })
    }

    /// The loss and, as `up` asks, its gradient (`loss` names it in errors
    /// about `grad_output`): the fast path ([`chain::run`], the log-softmax
    /// fused) on contiguous, finite logits with a finite `log_epsilon`, the
    /// general path (widened to `f64`, scalar loops) otherwise.
    fn eval<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        loss: &'static str,
        logits: &ArrayView<'_, T, D1>,
        logit_paddings: &ArrayView<'_, T, D2>,
        labels: &ArrayView<'_, L, D3>,
        label_paddings: &ArrayView<'_, T, D4>,
        up: Upstream<'_, T>,
    ) -> Result<Out<T>> {
        let mut job = self.check(logits, logit_paddings, labels, label_paddings)?;
        if let Some(x) = logits.as_slice().filter(|x| self.log_epsilon.is_finite() && self.eps32().is_finite() && job.batch.padded_rows_finite(x)) {
            let seqs: Vec<chain::Lattice> = (0..job.batch.b).map(|b| job.batch.lattice(b, self.log_epsilon, self.eps32())).collect();
            // The chain sums optax's transitions in another order than optax's
            // nested logaddexps: the same to rounding, but where the loss is
            // itself at rounding level (a saturated alignment) or its lattice
            // holds numbers of ε's size (only ε's paths align) that rounding is
            // all there is to compare, so those batches take the general path,
            // which follows optax's order.
            let keep = |ll: f64| ll < -OPTAX_FAST_MIN && ll > -OPTAX_FAST_MAX;
            let rules = Rules { value: &|_, ll| -ll, rows: &|b, _, scales| RowScale::By(scales.at(b)), keep: &keep };
            let form = Form { logits: true, per_frame: false, through_softmax: true };
            if let Some(out) = fast(loss, x, logits.shape(), job.batch.k, form, &seqs, &job.batch.reducer, rules, &up)? {
                return Ok(out);
            }
        }
        let x = widen(logits);
        let mut lp = vec![0.0; x.len()];
        for (lane, out) in x.chunks(job.batch.k).zip(lp.chunks_mut(job.batch.k)) {
            log_softmax_lane(lane, out);
        }
        job.batch.lp = lp;
        general(loss, &job, logits.shape(), up)
    }

    /// `log_epsilon` as optax's float32 `repeat` mask multiplies it.
    fn eps32(&self) -> f64 {
        self.log_epsilon as f32 as f64
    }

    /// The states `(φ, e)` before each frame and after the last: `(T + 1) × (2N + 1)`.
    fn states(&self, batch: &OptaxBatch, b: usize) -> Vec<(Vec<f64>, Vec<f64>)> {
        let n = batch.n;
        let eps = self.log_epsilon;
        let eps32 = self.eps32();
        let mut phi = vec![eps; n + 1];
        phi[0] = 0.0;
        let mut emit = vec![eps; n];
        let mut out = Vec::with_capacity(batch.t + 1);
        for t in 0..batch.t {
            let st = batch.step(b, t, &phi, &emit, eps32);
            let pad = batch.pads[b * batch.t + t];
            let new_emit: Vec<f64> = emit.iter().zip(&st.ne).map(|(e, ne)| pad * e + (1.0 - pad) * ne).collect();
            let new_phi: Vec<f64> = phi.iter().zip(&st.np).map(|(p, np)| pad * p + (1.0 - pad) * np).collect();
            out.push((std::mem::replace(&mut phi, new_phi), std::mem::replace(&mut emit, new_emit)));
        }
        out.push((phi, emit));
        out
    }

    /// `−φ_last(L)` with `φ_last = φ_T` after the final emit → φ transition.
    fn loss_of(last: &(Vec<f64>, Vec<f64>), len: usize) -> f64 {
        let (phi, emit) = last;
        if len == 0 {
            -phi[0]
        } else {
            -lae(phi[len], emit[len - 1])
        }
    }

    fn losses(&self, batch: &OptaxBatch) -> Vec<f64> {
        (0..batch.b).map(|b| Self::loss_of(self.states(batch, b).last().expect("T + 1 states"), batch.label_lens[b])).collect()
    }

    /// Reverse-mode differentiation of the recursion, frame by frame.
    fn grad(&self, batch: &OptaxBatch, scales: &Scales) -> Vec<f64> {
        let (t_max, k, n) = (batch.t, batch.k, batch.n);
        let eps32 = self.eps32();
        let mut grad = vec![0.0; batch.lp.len()];
        let mut g_lp = vec![0.0; k];
        for b in 0..batch.b {
            let g = scales.at(b);
            let states = self.states(batch, b);
            let len = batch.label_lens[b];
            // Adjoints of the final (φ, e).
            let mut g_phi = vec![0.0; n + 1];
            let mut g_emit = vec![0.0; n];
            {
                let (phi, emit) = &states[t_max];
                if len == 0 {
                    g_phi[0] = -g;
                } else {
                    let r = lae(phi[len], emit[len - 1]);
                    g_phi[len] = -g * (phi[len] - r).exp();
                    g_emit[len - 1] = -g * (emit[len - 1] - r).exp();
                }
            }
            let rep = &batch.repeat[b * n..(b + 1) * n];
            for t in (0..t_max).rev() {
                let (phi, emit) = &states[t];
                let st = batch.step(b, t, phi, emit, eps32);
                let pad = batch.pads[b * t_max + t];
                let g_ne: Vec<f64> = g_emit.iter().map(|v| (1.0 - pad) * v).collect();
                let g_np: Vec<f64> = g_phi.iter().map(|v| (1.0 - pad) * v).collect();
                let mut gp = g_phi.iter().map(|v| pad * v).collect::<Vec<f64>>();
                let mut ge = g_emit.iter().map(|v| pad * v).collect::<Vec<f64>>();
                let mut g_p = 0.0; // log p(blank)
                let mut g_x = vec![0.0; n]; // label emissions
                // np = (q₀, logaddexp(q[i+1], cc[i]))
                let mut g_q = g_np.clone();
                for i in 0..n {
                    let r = st.np[i + 1];
                    g_q[i + 1] = g_np[i + 1] * (st.q[i + 1] - r).exp();
                    let g_cc = g_np[i + 1] * (st.cc[i] - r).exp();
                    ge[i] += g_cc;
                    g_p += g_cc;
                }
                // q = φ' + p
                let mut g_phi1 = g_q.clone();
                g_p += g_q.iter().sum::<f64>();
                // ne = logaddexp(φ'[i] + x, e[i] + x)
                for i in 0..n {
                    let x = batch.x(b, t, i);
                    let r = st.ne[i];
                    let w1 = g_ne[i] * (st.phi1[i] + x - r).exp();
                    let w2 = g_ne[i] * (emit[i] + x - r).exp();
                    g_phi1[i] += w1;
                    ge[i] += w2;
                    g_x[i] += w1 + w2;
                }
                // φ' = (φ₀, logaddexp(φ[i+1], e[i] + ε·repeat[i]))
                gp[0] += g_phi1[0];
                for i in 0..n {
                    let r = st.phi1[i + 1];
                    gp[i + 1] += g_phi1[i + 1] * (phi[i + 1] - r).exp();
                    ge[i] += g_phi1[i + 1] * (emit[i] + eps32 * rep[i] - r).exp();
                }
                // Into the log-probabilities, then through log_softmax.
                g_lp.fill(0.0);
                g_lp[batch.blank] += g_p;
                for (label, gx) in batch.labels[b * n..(b + 1) * n].iter().zip(&g_x) {
                    if let Some(cls) = *label {
                        g_lp[cls] += gx;
                    }
                }
                let at = (b * t_max + t) * k;
                let total: f64 = g_lp.iter().sum();
                for c in 0..k {
                    grad[at + c] = g_lp[c] - batch.lp[at + c].exp() * total;
                }
                g_phi = gp;
                g_emit = ge;
            }
        }
        grad
    }

    /// The loss, in optax's argument order (`logits`, `logit_paddings`, `labels`, `label_paddings`).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        logits: ArrayView<'_, T, D1>,
        logit_paddings: ArrayView<'_, T, D2>,
        labels: ArrayView<'_, L, D3>,
        label_paddings: ArrayView<'_, T, D4>,
    ) -> Result<ArrayD<T>> {
        Ok(value_of(self.eval(Self::NAME, &logits, &logit_paddings, &labels, &label_paddings, Upstream::Skip)?))
    }

    /// The gradient of `Σ grad_output · loss` with respect to `logits` (`target`: `None`).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        logits: ArrayView<'_, T, D1>,
        logit_paddings: ArrayView<'_, T, D2>,
        labels: ArrayView<'_, L, D3>,
        label_paddings: ArrayView<'_, T, D4>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        Ok(grad_of(self.eval(Self::NAME, &logits, &logit_paddings, &labels, &label_paddings, Upstream::Given(grad_output))?))
    }

    /// The loss and its gradient (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        logits: ArrayView<'_, T, D1>,
        logit_paddings: ArrayView<'_, T, D2>,
        labels: ArrayView<'_, L, D3>,
        label_paddings: ArrayView<'_, T, D4>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        Ok(both_of(self.eval(Self::NAME, &logits, &logit_paddings, &labels, &label_paddings, Upstream::Ones)?))
    }
}

/// [`OptaxCtcLoss`] with optax's defaults: `optax.ctc_loss(logits,
/// logit_paddings, labels, label_paddings)`, one loss per sequence.
///
/// # Errors
/// See [`OptaxCtcLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// // The second frame is padding: one frame, label "1", probability 1/2.
/// let logits = array![[[0.0f64, 0.0], [5.0, -5.0]]];
/// let v = losslab::sequence::optax_ctc_loss(logits.view(), array![[0.0, 1.0]].view(), array![[1i64]].view(), array![[0.0]].view()).unwrap();
/// assert!((v[[0]] - 2f64.ln()).abs() < 1e-12);
/// ```
///
/// # References
/// [`OptaxCtcLoss`]: its formula, the reference's semantics and the paper.
pub fn optax_ctc_loss<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
    logits: ArrayView<'_, T, D1>,
    logit_paddings: ArrayView<'_, T, D2>,
    labels: ArrayView<'_, L, D3>,
    label_paddings: ArrayView<'_, T, D4>,
) -> Result<ArrayD<T>> {
    OptaxCtcLoss::new().forward(logits, logit_paddings, labels, label_paddings)
}

// ---------------------------------------------------------------------------------------------
// Keras

/// Keras 3's `keras.losses.ctc(y_true, y_pred)`: CTC on logits with the blank
/// (Keras's "mask index") at 0, every frame used and each label sequence's
/// length the number of its nonzero entries; one loss per sequence.
///
/// ```text
/// Lᵦ = #{n : y_true[b, n] ≠ 0}                           (the label length)
/// ℓᵦ = optax.ctc_loss(y_pred, logit_paddings = 0, y_true, label_paddings[b, n] = (n ≥ Lᵦ),
///                     blank_id = 0, log_epsilon = −1e5)[b]
/// ```
///
/// Keras's JAX backend (`keras.ops.ctc_loss`) is optax's recursion
/// ([`OptaxCtcLoss`], whose lattice this runs: the same value and the exact
/// derivative `jax.grad` gives) with those paddings. Shapes: `y_true`
/// `(B, S)` integer labels, `y_pred` `(B, T, C)` logits (not normalised: the
/// log-softmax is taken over the last axis); the result is `(B,)`, the
/// negative log-likelihood of each sequence, not divided by its length (the
/// default reduction `None` is Keras's functional output; the class
/// `keras.losses.CTC` averages it over the batch, [`Reduction::Mean`]).
///
/// Keras's semantics, followed here, some of them surprising:
/// - The label length counts the nonzero labels *anywhere* in the row, and the
///   sequence is the row's first `Lᵦ` entries: a 0 before the last nonzero
///   label is not skipped. `[1, 0, 2]` has length 2 and is scored as the
///   sequence `(1, 0)`: the blank's class emitted as a label (allowed, as in
///   optax), and the 2 dropped. Keras's docs ask for 0 to be used only as
///   padding.
/// - Every sequence uses all `T` frames (there is no input-length argument).
/// - `log 0` is optax's finite `−1e5`: an alignment that cannot exist (more
///   labels than frames allow) has a large finite loss and a finite gradient.
/// - Keras's JAX backend computes in `float32` whatever the logits' dtype (its
///   promotion of float64 with float32 gives float32); losslab computes in the
///   logits' type, so an `f64` result is the float64 truth.
/// - A label outside `[0, C)` within the length is an error here (Keras counts
///   a negative label as a label and gives it a log-probability of 0, one-hot
///   of an out-of-range index being zeros).
///
/// # Errors
/// [`LossError::Shape`] if `y_true` is not 2-D, `y_pred` not 3-D with `T ≥ 1`
/// frames and `C ≥ 1` classes, or their batch sizes differ (Keras: "Targets
/// `y_true` are expected to be a tensor of shape `(batch_size, max_length)`",
/// "Logits `y_pred` are expected to be a tensor of shape `(batch_size,
/// max_length, num_classes)`"); [`LossError::ClassIndex`] for a label within
/// the length outside `[0, C)`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::sequence::KerasCtc;
/// // Equal logits over 2 classes, 2 frames, label "1" (then padding): 3 paths of probability 1/4.
/// let y_pred = array![[[0.0f64, 0.0], [0.0, 0.0]]];
/// let loss = KerasCtc::new().forward(array![[1i64, 0]].view(), y_pred.view()).unwrap();
/// assert!((loss[[0]] - -(0.75f64).ln()).abs() < 1e-12);
/// ```
///
/// # References
/// A. Graves et al., "Connectionist Temporal Classification", ICML 2006,
/// <https://www.cs.toronto.edu/~graves/icml_2006.pdf>;
/// <https://keras.io/api/losses/>
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KerasCtc {
    /// The reduction (default `None`: Keras's `(B,)` output).
    pub reduction: Reduction,
}

impl Default for KerasCtc {
    fn default() -> Self {
        KerasCtc { reduction: Reduction::None }
    }
}

impl KerasCtc {
    const NAME: &'static str = "ctc";

    /// Keras's semantics, no reduction.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the reduction.
    #[must_use]
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// The optax loss Keras's backend computes.
    fn inner(&self) -> OptaxCtcLoss {
        OptaxCtcLoss { reduction: self.reduction, blank_id: 0, log_epsilon: -1e5 }
    }

    /// Checks the inputs with Keras's names, derives optax's paddings and
    /// evaluates optax's loss as `up` asks.
    fn eval<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        y_true: &ArrayView<'_, L, D1>,
        y_pred: &ArrayView<'_, T, D2>,
        up: Upstream<'_, T>,
    ) -> Result<Out<T>> {
        let loss = Self::NAME;
        let ls = y_true.shape();
        if ls.len() != 2 {
            return Err(shape_err(loss, "y_true", "(batch_size, max_length) (2-D integer labels)", ls));
        }
        let ps = y_pred.shape();
        if ps.len() != 3 || ps[1] == 0 || ps[2] == 0 {
            return Err(shape_err(loss, "y_pred", "(batch_size, max_length, num_classes) with max_length ≥ 1 and num_classes ≥ 1", ps));
        }
        let (b, t, c) = (ps[0], ps[1], ps[2]);
        if ls[0] != b {
            return Err(shape_err(loss, "y_true", format!("[{b}, S] (one label sequence per batch entry of `y_pred`)"), ls));
        }
        let s = ls[1];
        let raw: Vec<i64> = y_true.iter().map(|l| l.index()).collect();
        let mut pads = Vec::with_capacity(b * s);
        for row in 0..b {
            let labels = &raw[row * s..(row + 1) * s];
            let len = labels.iter().filter(|&&l| l != 0).count();
            for (n, &l) in labels.iter().enumerate().take(len) {
                if l < 0 || l as u64 >= c as u64 {
                    return Err(LossError::ClassIndex { loss, tensor: "y_true", index: l, position: vec![row, n], classes: c, ignore_index: None });
                }
            }
            pads.extend((0..s).map(|n| if n < len { T::zero() } else { T::one() }));
        }
        let label_paddings = ArrayD::from_shape_vec(ndarray::IxDyn(&[b, s]), pads).expect("B × S paddings");
        let logit_paddings = ArrayD::<T>::zeros(ndarray::IxDyn(&[b, t]));
        self.inner().eval(loss, y_pred, &logit_paddings.view(), y_true, &label_paddings.view(), up)
    }

    /// The loss, in Keras's argument order (`y_true`, `y_pred`).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(&self, y_true: ArrayView<'_, L, D1>, y_pred: ArrayView<'_, T, D2>) -> Result<ArrayD<T>> {
        Ok(value_of(self.eval(&y_true, &y_pred, Upstream::Skip)?))
    }

    /// The gradient of `Σ grad_output · loss` with respect to `y_pred` (`target`: `None`).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        y_true: ArrayView<'_, L, D1>,
        y_pred: ArrayView<'_, T, D2>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        Ok(grad_of(self.eval(&y_true, &y_pred, Upstream::Given(grad_output))?))
    }

    /// The loss and its gradient (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(
        &self,
        y_true: ArrayView<'_, L, D1>,
        y_pred: ArrayView<'_, T, D2>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        Ok(both_of(self.eval(&y_true, &y_pred, Upstream::Ones)?))
    }
}

/// [`KerasCtc`]: `keras.losses.ctc(y_true, y_pred)`, one loss per sequence.
///
/// # Errors
/// See [`KerasCtc`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// // One frame, label "1" certain: loss 0 up to exp(−40).
/// let y_pred = array![[[-20.0f64, 20.0]]];
/// let v = losslab::sequence::keras_ctc(array![[1i64]].view(), y_pred.view()).unwrap();
/// assert!(v[[0]].abs() < 1e-15);
/// ```
///
/// # References
/// [`KerasCtc`]: its formula, the reference's semantics and the paper.
pub fn keras_ctc<T: Float, L: ClassIndex, D1: Dimension, D2: Dimension>(y_true: ArrayView<'_, L, D1>, y_pred: ArrayView<'_, T, D2>) -> Result<ArrayD<T>> {
    KerasCtc::new().forward(y_true, y_pred)
}

// ---------------------------------------------------------------------------------------------
// The RNN transducer (torchaudio)

/// The RNN transducer loss, `torchaudio.functional.rnnt_loss`: the negative
/// log-likelihood of each target sequence under every alignment of the
/// transducer lattice, with torchaudio's semantics, options and gradient.
///
/// The joint network gives, for every frame `t < Tₙ` and every count of
/// labels emitted so far `u ≤ Uₙ`, logits over `C` classes (one of them the
/// blank). A path through the `(Tₙ, Uₙ + 1)` lattice starts at `(0, 0)`; from
/// `(t, u)` it emits the blank and moves to the next frame `(t + 1, u)`, or
/// emits the next label `yᵤ` and stays on the frame `(t, u + 1)`; it ends by
/// emitting the blank from `(Tₙ − 1, Uₙ)`. In log space, with
/// `lp(t, u, k) = logits[n, t, u, k] − logsumexp_k logits[n, t, u, k]`
/// (`fused_log_softmax = true`; with `false` the logits are taken as
/// log-probabilities as they are):
///
/// ```text
/// α(0, 0) = 0
/// α(t, u) = logsumexp(α(t − 1, u) + lp(t − 1, u, ∅), α(t, u − 1) + lp(t, u − 1, y_{u−1}))
/// ℓₙ = −(α(Tₙ − 1, Uₙ) + lp(Tₙ − 1, Uₙ, ∅)) = −β(0, 0)
/// Mean = (1/N) Σₙ ℓₙ     Sum = Σₙ ℓₙ     None = (ℓₙ)     BatchMean = Mean
/// ```
///
/// The gradient is torchaudio's: the derivative of each `ℓₙ` with respect to
/// `logits[n, t, u, k]` (for `t < Tₙ`, `u ≤ Uₙ`; 0 elsewhere),
/// `exp(α(t, u) + β(t, u) − ℓ… )·p(k) − posterior of the transition on k`
/// through the fused log-softmax (or minus the transition's posterior when
/// `fused_log_softmax = false`), then, where `clamp > 0`, clamped element by
/// element to `[−clamp, clamp]` **before** it is multiplied by the upstream
/// gradient (torchaudio computes and clamps it in the forward pass and scales
/// it in the backward); so with a clamp it is not the exact derivative of the
/// result, as in torchaudio.
///
/// Shapes and checks, as torchaudio's: `logits` `(N, T, U + 1, C)`;
/// `targets` `(N, U)` (entries past a sequence's length ignored);
/// `logit_lengths` and `target_lengths` `(N,)`, with
/// `max(logit_lengths) = T` and `max(target_lengths) = U` exactly; `blank`
/// negative counts from the end (the default −1 is the last class). losslab
/// also refuses what torchaudio leaves undefined: a `logit_lengths` of 0 and
/// labels outside `[0, C)`. torchaudio computes in float32 (it takes
/// float32 and float16 only); losslab computes in float64 and also takes
/// float64. The lattice has no size cap: `α` and `β` take `Tₙ (Uₙ + 1)`
/// numbers for one sequence at a time.
///
/// # Errors
/// [`LossError::Shape`] for shapes and lengths that do not fit;
/// [`LossError::Domain`] for a length out of range; [`LossError::ClassIndex`]
/// for a label outside `[0, C)`; [`LossError::Option`] for a `blank` outside
/// `[−C, C)` or a NaN `clamp`.
///
/// # Examples
/// ```
/// use ndarray::{array, Array4};
/// use losslab::{Reduction, RnntLoss};
/// // One frame, no label: the only path emits the blank once.
/// let logits = Array4::from_shape_vec((1, 1, 1, 2), vec![0.0f64, 1.0]).unwrap(); // blank = -1: class 1
/// let targets = ndarray::Array2::<i64>::zeros((1, 0));
/// let l = RnntLoss::new().reduction(Reduction::Sum)
///     .forward(logits.view(), targets.view(), array![1i64].view(), array![0i64].view()).unwrap();
/// let p_blank = 1f64.exp() / (1.0 + 1f64.exp());
/// assert!((l[[]] + p_blank.ln()).abs() < 1e-15);
/// ```
///
/// # References
/// A. Graves, "Sequence Transduction with Recurrent Neural Networks", ICML 2012
/// workshop, <https://arxiv.org/abs/1211.3711>; torchaudio's
/// `torchaudio.functional.rnnt_loss` and its CPU kernel
/// (`src/libtorchaudio/rnnt/cpu/cpu_kernels.h`);
/// the fused log-softmax gradient: J. Li et al., "Improving RNN Transducer
/// Modeling for End-to-End Speech Recognition", ASRU 2019, section 3.2.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RnntLoss {
    /// The reduction (default `Mean`: the batch mean).
    pub reduction: Reduction,
    /// The blank's class index, negative from the end (default −1: the last class).
    pub blank: i64,
    /// Clamp each gradient element to `[−clamp, clamp]` when `> 0` (default −1: no clamp).
    pub clamp: f64,
    /// Apply the log-softmax to the logits inside the loss (default true); false: the logits are log-probabilities.
    pub fused_log_softmax: bool,
}

impl Default for RnntLoss {
    fn default() -> Self {
        RnntLoss { reduction: Reduction::Mean, blank: -1, clamp: -1.0, fused_log_softmax: true }
    }
}

/// A validated transducer batch.
struct RnntBatch {
    /// `(N, T, U + 1, C)` logits, row-major, widened.
    logits: Vec<f64>,
    t_max: usize,
    u1: usize,
    c: usize,
    blank: usize,
    /// Frames and labels of each sequence.
    seqs: Vec<(usize, Vec<usize>)>,
    reducer: Reducer,
}

/// One sequence's lattice: the log-probabilities of its transitions, its `β`
/// (the loss is `−β(0, 0)`), and the log-normaliser of each node (0 without the
/// fused softmax). `α` is only needed by the gradient, which computes it.
struct Lattice {
    t: usize,
    u1: usize,
    skip: Vec<f64>,
    emit: Vec<f64>,
    denom: Vec<f64>,
    beta: Vec<f64>,
}

impl Lattice {
    /// The forward variables: `α(t, u)`, the log-probability of reaching node `(t, u)`.
    fn alpha(&self) -> Vec<f64> {
        let (t_len, u1) = (self.t, self.u1);
        let at = |t: usize, u: usize| t * u1 + u;
        let mut alpha = vec![NEG_INF; t_len * u1];
        alpha[0] = 0.0;
        for t in 0..t_len {
            for u in 0..u1 {
                if t == 0 && u == 0 {
                    continue;
                }
                let from_t = if t > 0 { alpha[at(t - 1, u)] + self.skip[at(t - 1, u)] } else { NEG_INF };
                let from_u = if u > 0 { alpha[at(t, u - 1)] + self.emit[at(t, u - 1)] } else { NEG_INF };
                alpha[at(t, u)] = lae(from_t, from_u);
            }
        }
        alpha
    }
}

struct RnntJob<'a> {
    loss: &'a RnntLoss,
    batch: RnntBatch,
    lattices: Vec<Lattice>,
}

impl PerItem for RnntJob<'_> {
    fn reducer(&self) -> &Reducer {
        &self.batch.reducer
    }
    fn values(&self) -> Vec<f64> {
        self.lattices.iter().map(|l| -l.beta[0]).collect()
    }
    fn grad(&self, scales: &Scales) -> Vec<f64> {
        self.loss.grad(&self.batch, &self.lattices, scales)
    }
}

impl RnntLoss {
    const NAME: &'static str = "rnnt_loss";

    /// torchaudio's defaults: `Mean`, `blank = −1`, `clamp = −1` (none), `fused_log_softmax = true`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction,
        /// Sets the blank's class index (negative from the end).
        blank: i64,
        /// Sets the gradient clamp (`≤ 0`: none).
        clamp: f64,
        /// Sets whether the log-softmax is applied inside the loss.
        fused_log_softmax: bool
    );

    fn prepare<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        logits: &ArrayView<'_, T, D1>,
        targets: &ArrayView<'_, L, D2>,
        logit_lengths: &ArrayView<'_, I, D3>,
        target_lengths: &ArrayView<'_, I, D4>,
    ) -> Result<RnntJob<'_>> {
        let loss = Self::NAME;
        let shape = logits.shape();
        if shape.len() != 4 || shape.contains(&0) {
            return Err(shape_err(loss, "logits", "(N, T, U + 1, C), every axis ≥ 1", shape));
        }
        let (n, t_max, u1, c) = (shape[0], shape[1], shape[2], shape[3]);
        let blank = if self.blank < 0 { self.blank + c as i64 } else { self.blank };
        if blank < 0 || blank as u64 >= c as u64 {
            return Err(LossError::Option {
                loss,
                option: "blank",
                value: self.blank.to_string(),
                expected: format!("a class index in [-{c}, {c}) (C = {c}, the size of `logits`'s class axis; negative counts from the end)"),
            });
        }
        if self.clamp.is_nan() {
            return Err(LossError::Option { loss, option: "clamp", value: "nan".into(), expected: "a number (≤ 0: no clamp)".into() });
        }
        let ts = targets.shape();
        if ts.len() != 2 || ts[0] != n || ts[1] + 1 != u1 {
            return Err(shape_err(loss, "targets", format!("[{n}, {}] (N, U: one label slot per lattice row but the first)", u1 - 1), ts));
        }
        for (name, lengths) in [("logit_lengths", logit_lengths.shape()), ("target_lengths", target_lengths.shape())] {
            if lengths.len() != 1 || lengths[0] != n {
                return Err(shape_err(loss, name, format!("[{n}] (one length per sequence)"), lengths));
            }
        }
        let tls = read_lengths(loss, "logit_lengths", logit_lengths, n, "", t_max, "a length at most T, the size of `logits`'s time axis")?;
        let uls = read_lengths(loss, "target_lengths", target_lengths, n, "", u1 - 1, "a length at most U, the size of `targets`'s second axis")?;
        if let Some(i) = tls.iter().position(|&t| t == 0) {
            return Err(LossError::Domain { loss, tensor: "logit_lengths", value: 0.0, position: vec![i], expected: "a length ≥ 1 (a sequence needs a frame to emit its final blank)" });
        }
        if tls.iter().max() != Some(&t_max) {
            return Err(shape_err(loss, "logits", format!("a time axis of max(logit_lengths) = {} frames (torchaudio's \"input length mismatch\")", tls.iter().max().unwrap_or(&0)), shape));
        }
        if uls.iter().max() != Some(&(u1 - 1)) {
            return Err(shape_err(loss, "logits", format!("a target axis of max(target_lengths) + 1 = {} (torchaudio's \"output length mismatch\")", uls.iter().max().unwrap_or(&0) + 1), shape));
        }
        let flat: Vec<i64> = targets.iter().map(|l| l.index()).collect();
        let mut seqs = Vec::with_capacity(n);
        for (b, (&t, &u)) in tls.iter().zip(&uls).enumerate() {
            let labels = (0..u)
                .map(|i| {
                    let l = flat[b * (u1 - 1) + i];
                    if l < 0 || l as u64 >= c as u64 {
                        Err(LossError::ClassIndex { loss, tensor: "targets", index: l, position: vec![b, i], classes: c, ignore_index: None })
                    } else {
                        Ok(l as usize)
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            seqs.push((t, labels));
        }
        let batch = RnntBatch { logits: widen(logits), t_max, u1, c, blank: blank as usize, seqs, reducer: seq_reducer(self.reduction, vec![n], n) };
        // Each sequence's lattice on its own (parallel over the batch).
        let slots: Vec<std::sync::OnceLock<Lattice>> = (0..n).map(|_| std::sync::OnceLock::new()).collect();
        par::for_each(n, batch.logits.len(), |b| {
            let _ = slots[b].set(self.lattice(&batch, b));
        });
        let lattices = slots.into_iter().map(|s| s.into_inner().expect("every lattice is computed")).collect();
        Ok(RnntJob { loss: self, batch, lattices })
    }

    /// The logits of node `(t, u)` of sequence `b`.
    fn node<'b>(batch: &'b RnntBatch, b: usize, t: usize, u: usize) -> &'b [f64] {
        let at = ((b * batch.t_max + t) * batch.u1 + u) * batch.c;
        &batch.logits[at..at + batch.c]
    }

    fn lattice(&self, batch: &RnntBatch, b: usize) -> Lattice {
        let (t_len, labels) = &batch.seqs[b];
        let (t_len, u1) = (*t_len, labels.len() + 1);
        let at = |t: usize, u: usize| t * u1 + u;
        let mut skip = vec![NEG_INF; t_len * u1];
        let mut emit = vec![NEG_INF; t_len * u1];
        let mut denom = vec![0.0; t_len * u1];
        for t in 0..t_len {
            for u in 0..u1 {
                let row = Self::node(batch, b, t, u);
                let d = if self.fused_log_softmax { lse(row) } else { 0.0 };
                denom[at(t, u)] = d;
                skip[at(t, u)] = row[batch.blank] - d;
                if u + 1 < u1 {
                    emit[at(t, u)] = row[labels[u]] - d;
                }
            }
        }
        let mut beta = vec![NEG_INF; t_len * u1];
        for t in (0..t_len).rev() {
            for u in (0..u1).rev() {
                beta[at(t, u)] = if t + 1 == t_len && u + 1 == u1 {
                    skip[at(t, u)]
                } else {
                    let to_t = if t + 1 < t_len { beta[at(t + 1, u)] + skip[at(t, u)] } else { NEG_INF };
                    let to_u = if u + 1 < u1 { beta[at(t, u + 1)] + emit[at(t, u)] } else { NEG_INF };
                    lae(to_t, to_u)
                };
            }
        }
        Lattice { t: t_len, u1, skip, emit, denom, beta }
    }

    fn grad(&self, batch: &RnntBatch, lattices: &[Lattice], scales: &Scales) -> Vec<f64> {
        let c = batch.c;
        let mut grad = vec![0.0; batch.logits.len()];
        // Each sequence writes its own block of the gradient: parallel over the
        // batch, and the same numbers whatever the thread count.
        let block = batch.t_max * batch.u1 * c;
        let out_ptr = SyncPtr(grad.as_mut_ptr());
        par::for_each(lattices.len(), grad.len(), |b| {
            let lat = &lattices[b];
            // SAFETY: sequence b's block [b·block, (b + 1)·block) lies within `grad`
            // (which holds n · block elements) and no other task touches it.
            let out = unsafe { std::slice::from_raw_parts_mut(out_ptr.add(b * block), block) };
            let gr = scales.at(b);
            let labels = &batch.seqs[b].1;
            let cost = -lat.beta[0];
            let alpha = lat.alpha();
            let at = |t: usize, u: usize| t * lat.u1 + u;
            for t in 0..lat.t {
                for u in 0..lat.u1 {
                    let node = at(t, u);
                    let row = Self::node(batch, b, t, u);
                    let out_at = (t * batch.u1 + u) * c;
                    // The posteriors of leaving this node by the blank and by the next label.
                    let last = t + 1 == lat.t && u + 1 == lat.u1;
                    let next_t = if last { 0.0 } else if t + 1 < lat.t { lat.beta[at(t + 1, u)] } else { NEG_INF };
                    let post_skip = (alpha[node] + lat.skip[node] + next_t + cost).exp();
                    let post_emit = if u + 1 < lat.u1 { (alpha[node] + lat.emit[node] + lat.beta[at(t, u + 1)] + cost).exp() } else { 0.0 };
                    let occupancy = if self.fused_log_softmax { (alpha[node] + lat.beta[node] + cost).exp() } else { 0.0 };
                    for (k, g) in out[out_at..out_at + c].iter_mut().enumerate() {
                        let mut v = if self.fused_log_softmax { (row[k] - lat.denom[node]).exp() * occupancy } else { 0.0 };
                        if k == batch.blank {
                            v -= post_skip;
                        }
                        if u + 1 < lat.u1 && k == labels[u] {
                            v -= post_emit;
                        }
                        if self.clamp > 0.0 {
                            v = v.clamp(-self.clamp, self.clamp);
                        }
                        *g = v * gr;
                    }
                }
            }
        });
        grad
    }

    /// The loss, reduced as `self.reduction` says.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        logits: ArrayView<'_, T, D1>,
        targets: ArrayView<'_, L, D2>,
        logit_lengths: ArrayView<'_, I, D3>,
        target_lengths: ArrayView<'_, I, D4>,
    ) -> Result<ArrayD<T>> {
        Ok(per_item::forward(&self.prepare(&logits, &targets, &logit_lengths, &target_lengths)?))
    }

    /// The gradient with respect to `logits` of `Σ grad_output · loss`
    /// (torchaudio's, clamped as the type's docs say; `target`: `None`).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        logits: ArrayView<'_, T, D1>,
        targets: ArrayView<'_, L, D2>,
        logit_lengths: ArrayView<'_, I, D3>,
        target_lengths: ArrayView<'_, I, D4>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        let job = self.prepare(&logits, &targets, &logit_lengths, &target_lengths)?;
        per_item::backward(Self::NAME, &job, logits.shape(), &grad_output)
    }

    /// The loss and its gradient (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
        &self,
        logits: ArrayView<'_, T, D1>,
        targets: ArrayView<'_, L, D2>,
        logit_lengths: ArrayView<'_, I, D3>,
        target_lengths: ArrayView<'_, I, D4>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        let job = self.prepare(&logits, &targets, &logit_lengths, &target_lengths)?;
        per_item::forward_backward(Self::NAME, &job, logits.shape())
    }
}

/// [`RnntLoss`] with `reduction` and the other options at torchaudio's defaults:
/// `torchaudio.functional.rnnt_loss(logits, targets, logit_lengths, target_lengths, reduction=...)`.
///
/// # Errors
/// See [`RnntLoss`].
///
/// # References
/// [`RnntLoss`]: its formula, the reference's semantics and the paper.
pub fn rnnt_loss<T: Float, L: ClassIndex, I: ClassIndex, D1: Dimension, D2: Dimension, D3: Dimension, D4: Dimension>(
    logits: ArrayView<'_, T, D1>,
    targets: ArrayView<'_, L, D2>,
    logit_lengths: ArrayView<'_, I, D3>,
    target_lengths: ArrayView<'_, I, D4>,
    reduction: Reduction,
) -> Result<ArrayD<T>> {
    RnntLoss::new().reduction(reduction).forward(logits, targets, logit_lengths, target_lengths)
}
