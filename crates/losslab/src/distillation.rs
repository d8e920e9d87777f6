//! Per-token losses over language-model logits `(B, T, V)`: the log-probability
//! of each label ([`SequenceLogProbs`], the `log_softmax → gather` of DPO and
//! GRPO), TRL's generalized Jensen-Shannon divergence of on-policy
//! distillation ([`GeneralizedJsdLoss`]) and Hinton's temperature-scaled KL
//! ([`DistillationKl`]).
//!
//! All three are fused per row (one token's `V` logits); **the log-softmax
//! tensor is never formed**:
//!
//! - [`SequenceLogProbs`] is `−` the fused softmax cross entropy per row (the
//!   kernel of `torch:cross_entropy`, `machinery::kernels::softmax_ce`: the
//!   logits read once per block held in the L1 cache, `f32` exponentials in
//!   AVX-512 / AVX2 lanes, the gradient written in the same sweep);
//! - the two-distribution losses take each row's maximum and log-sum-exp (of
//!   the student's and the teacher's logits), then the loss and, where asked,
//!   the sums its gradient needs in one more sweep and the gradient in a last
//!   one. For `f32` logits on a CPU with AVX-512 these run in 16 `f32` lanes
//!   with FMA (`lanes_f32`): each row's exponentials stored in its gradient
//!   rows, the value, the sums and then the gradients computed from them
//!   without another exponential. Otherwise each divergence's loops are
//!   compiled on their own (a type per kind, no branch inside them) over
//!   8-element chunks of `f64` lanes with the crate's polynomial `exp` and
//!   `ln`, in builds for AVX-512, AVX2 + FMA and the baseline chosen at run
//!   time. Sums are accumulated in `f64` either way.
//!
//! Rows run in parallel (rayon) in parts fixed by the number of rows and
//! combined in a fixed order: the results are bit-identical whatever the thread
//! count. Memory: the result and the gradients, nothing of size `B·T·V` more.
//!
//! The logits may have any rank `≥ 2` (`(..., V)`, the classes last); labels
//! have the logits' shape without its last axis.

use crate::machinery::error::{check_option, shape_err, LossError, Result};
use crate::machinery::float::{ClassIndex, Float};
use crate::machinery::kernels::elementwise::exp_nonpos;
use crate::machinery::kernels::ops_for;
use crate::machinery::kernels::par::SyncPtr;
use crate::machinery::kernels::softmax_ce;
use crate::machinery::kernels::rows::{self, ln, LANES};
use crate::machinery::reduction::{Reducer, Reduction};
use ndarray::{ArrayD, ArrayView, ArrayViewD, CowArray, Dimension, IxDyn};

// ---------------------------------------------------------------------------------------
// shared machinery

/// The logits as one contiguous `(rows, V)` buffer.
struct Logits<'a, T> {
    data: CowArray<'a, T, IxDyn>,
    shape: Vec<usize>,
    rows: usize,
    v: usize,
}

impl<'a, T: Float> Logits<'a, T> {
    fn new<D: Dimension>(loss: &'static str, name: &'static str, x: ArrayView<'a, T, D>) -> Result<Self> {
        if x.ndim() < 2 {
            return Err(shape_err(loss, name, "(..., V) with at least 2 axes (the vocabulary last)", x.shape()));
        }
        let shape = x.shape().to_vec();
        let v = shape[shape.len() - 1];
        let rows = shape[..shape.len() - 1].iter().product();
        let x = x.into_dyn();
        let data = if x.is_standard_layout() { CowArray::from(x) } else { CowArray::from(x.as_standard_layout().into_owned()) };
        Ok(Logits { data, shape, rows, v })
    }

    fn slice(&self) -> &[T] {
        self.data.as_slice().expect("standard layout")
    }
}

/// Checks that `other` has the shape of `first`.
fn check_pair<T>(loss: &'static str, first: &Logits<'_, T>, name: &'static str, other: &Logits<'_, T>) -> Result<()> {
    if first.shape != other.shape {
        return Err(shape_err(loss, name, format!("{:?} (the shape of `student_logits`)", first.shape), &other.shape));
    }
    Ok(())
}

/// The labels: checked against the logits' leading shape, each row's label
/// (`None` where ignored).
fn labels<L: ClassIndex, E: Dimension>(
    loss: &'static str,
    logits: &[usize],
    labels: &ArrayView<'_, L, E>,
    ignore_index: i64,
    check_range: bool,
) -> Result<Vec<Option<usize>>> {
    let lead = &logits[..logits.len() - 1];
    if labels.shape() != lead {
        return Err(shape_err(loss, "labels", format!("{lead:?} (the logits' shape without the vocabulary axis)"), labels.shape()));
    }
    let v = logits[logits.len() - 1];
    let mut out = Vec::with_capacity(labels.len());
    for (i, l) in labels.iter().enumerate() {
        let y = l.index();
        if y == ignore_index {
            out.push(None);
        } else if !check_range || (0..v as i64).contains(&y) {
            out.push(Some(if check_range { y as usize } else { 0 }));
        } else {
            return Err(LossError::ClassIndex {
                loss,
                tensor: "labels",
                index: y,
                position: crate::machinery::error::unravel(i, lead),
                classes: v,
                ignore_index: Some(ignore_index),
            });
        }
    }
    Ok(out)
}

fn check_temperature(loss: &'static str, t: f64) -> Result<()> {
    check_option(loss, "temperature", t, t.is_finite() && t > 0.0, "a finite number > 0")
}

/// `(M, log Σ exp(a·(x − M)))` of a row, `M` its maximum; `a = 1/τ > 0`.
/// A row holding NaN gives NaN; one whose maximum is infinite gives `(M, 0)`
/// (the caller's `a·(x − M)` is then NaN or −∞, as torch's log-softmax).
#[inline(always)]
fn row_lse<T: Float>(x: &[T], a: f64, f32_exp: bool) -> (f64, f64) {
    // SAFETY: reads the row's elements.
    let (m, nan) = unsafe { (ops_for::<T>().max)(x.as_ptr(), x.len()) };
    let m = m.to_wide();
    if nan {
        return (f64::NAN, f64::NAN);
    }
    if !m.is_finite() {
        return (m, 0.0);
    }
    let s = if f32_exp && a == 1.0 && std::mem::size_of::<T>() == 4 {
        // f32 at τ = 1, where the caller allows it: the fused cross entropy's
        // vectorised f32 exponential (within 2 ulp), summed in f64. Its error
        // shifts every log-probability of the row alike by some δ ≈ 10⁻⁷,
        // which moves the generalized JSD (and its gradient) by δ times itself
        // (∂/∂δ of the mixture divergence is (1 − β)·KL(p ‖ M)), not by δ (as
        // it would a KL: Σ q (t − s − δ) = KL − δ).
        // SAFETY: reads the row; the elements are ≤ m (finite) or −∞.
        unsafe { (ops_for::<T>().exp_sum)(x.as_ptr(), std::ptr::null_mut(), x.len(), T::from_wide(m), false).0 }
    } else {
        rows::lane_sum(x, #[inline(always)] |v| exp_nonpos(a * (v - m)))
    };
    (m, ln(s))
}

/// Three lane sums at once over two rows of one length: `Σ f(a_k, b_k)` for
/// each of the three values of `f`, in [`LANES`] accumulators (`k mod LANES`,
/// the last `len mod LANES` into a tail) combined by a fixed tree, as
/// [`rows::lane_sum_zip`]: vectorises, the same bits everywhere.
#[inline(always)]
fn lanes3_zip<T: Float>(a: &[T], b: &[T], f: impl Fn(f64, f64) -> (f64, f64, f64)) -> (f64, f64, f64) {
    let b = &b[..a.len()];
    let (mut sa, mut sb, mut sc) = ([0.0f64; LANES], [0.0f64; LANES], [0.0f64; LANES]);
    let ((ab, ar), (bb, br)) = (a.as_chunks::<LANES>(), b.as_chunks::<LANES>());
    for (ca, cb) in ab.iter().zip(bb) {
        for i in 0..LANES {
            let (u, v, w) = f(ca[i].to_wide(), cb[i].to_wide());
            sa[i] += u;
            sb[i] += v;
            sc[i] += w;
        }
    }
    let (mut ta, mut tb, mut tc) = (0.0, 0.0, 0.0);
    for (u, v) in ar.iter().zip(br) {
        let (u, v, w) = f(u.to_wide(), v.to_wide());
        ta += u;
        tb += v;
        tc += w;
    }
    (tree(sa) + ta, tree(sb) + tb, tree(sc) + tc)
}

/// [`lanes3_zip`] with a third operand of `f64` (a per-element upstream gradient).
#[inline(always)]
fn lanes3_zip3<T: Float>(a: &[T], b: &[T], g: &[f64], f: impl Fn(f64, f64, f64) -> (f64, f64, f64)) -> (f64, f64, f64) {
    let (b, g) = (&b[..a.len()], &g[..a.len()]);
    let (mut sa, mut sb, mut sc) = ([0.0f64; LANES], [0.0f64; LANES], [0.0f64; LANES]);
    let ((ab, ar), (bb, br), (gb, gr)) = (a.as_chunks::<LANES>(), b.as_chunks::<LANES>(), g.as_chunks::<LANES>());
    for ((ca, cb), cg) in ab.iter().zip(bb).zip(gb) {
        for i in 0..LANES {
            let (u, v, w) = f(ca[i].to_wide(), cb[i].to_wide(), cg[i]);
            sa[i] += u;
            sb[i] += v;
            sc[i] += w;
        }
    }
    let (mut ta, mut tb, mut tc) = (0.0, 0.0, 0.0);
    for ((u, v), g) in ar.iter().zip(br).zip(gr) {
        let (u, v, w) = f(u.to_wide(), v.to_wide(), *g);
        ta += u;
        tb += v;
        tc += w;
    }
    (tree(sa) + ta, tree(sb) + tb, tree(sc) + tc)
}

#[inline(always)]
fn tree(mut acc: [f64; LANES]) -> f64 {
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for i in 0..w {
            acc[i] += acc[i + w];
        }
    }
    acc[0]
}

/// The upstream gradient of a row's elements.
#[derive(Clone, Copy)]
enum Up<'a> {
    /// The same for every element of every row.
    Uniform(f64),
    /// One per row (`rows`).
    PerRow(&'a [f64]),
    /// One per element of each counted row (`counted rows × V`, the unreduced result's layout).
    PerElem(&'a [f64]),
}

// ---------------------------------------------------------------------------------------
// losslab:sequence_log_probs

/// The gradients of [`SequenceLogProbs`]: with respect to `logits`.
pub type SequenceLogProbsGradients<T> = ArrayD<T>;

/// The log-probability of each label under the softmax of its row of logits,
/// per token, without forming the log-softmax tensor:
///
/// ```text
/// logp[b, t] = x[b, t, y] − log Σᵥ exp x[b, t, v]        y = labels[b, t]
///            = 0                                          where labels[b, t] = ignore_index
/// ∂ Σ g·logp / ∂x[b, t, v] = g[b, t] · (1[v = y] − softmax(x[b, t])ᵥ)
/// ```
///
/// What TRL's `selective_log_softmax` (`trl/trainer/utils.py`, 1.16.0) and
/// DPO's `concatenated_forward` compute: `torch.gather(logits.log_softmax(-1),
/// -1, labels.unsqueeze(-1))`, with the ignored labels replaced by 0 before
/// the gather and their log-probabilities set to 0 after it. One sweep per row
/// computes its maximum and log-sum-exp and reads the label's logit; the
/// gradient is written in one more (`forward_backward`).
///
/// Reductions: `None` (the default) gives the per-token `(B, T)` values (the
/// logits' shape without `V`); `Sum` their total over the counted tokens,
/// `Mean` that total divided by the number of counted tokens (NaN if there is
/// none), `BatchMean` the total divided by the first axis (`B`): the mean
/// per-sequence log-likelihood. A per-sequence sum (DPO's `logps`) is the
/// unreduced result summed over `T`.
///
/// # Errors
/// [`LossError::Shape`] for logits with fewer than 2 axes, labels of another
/// shape than the logits' without `V`, or a `grad_output` not of the result's
/// shape; [`LossError::ClassIndex`] for a label outside `[0, V)` that is not
/// `ignore_index`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::own::SequenceLogProbs;
/// let logits = array![[[0.0f64, 0.0], [1.0, 1.0]]]; // (1, 2, 2)
/// let labels = array![[1i64, -100]];
/// let lp = SequenceLogProbs::new().forward(logits.view(), labels.view()).unwrap();
/// assert_eq!(lp, array![[-(2f64.ln()), 0.0]].into_dyn());
/// ```
///
/// # References
/// R. Rafailov et al., "Direct Preference Optimization", NeurIPS 2023; TRL
/// `trl.trainer.utils.selective_log_softmax`
/// (<https://github.com/huggingface/trl/blob/main/trl/trainer/utils.py>), 1.16.0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SequenceLogProbs {
    /// The label of tokens that do not count (default −100).
    pub ignore_index: i64,
    /// The reduction of the per-token values (default `None`).
    pub reduction: Reduction,
}

impl Default for SequenceLogProbs {
    fn default() -> Self {
        SequenceLogProbs { ignore_index: -100, reduction: Reduction::None }
    }
}

impl SequenceLogProbs {
    const NAME: &'static str = "sequence_log_probs";

    /// Per token (`None`), `ignore_index` −100.
    pub fn new() -> Self {
        Self::default()
    }

    crate::machinery::methods::setters!(
        /// Sets the label of tokens that do not count.
        ignore_index: i64,
        /// Sets the reduction.
        reduction: Reduction
    );

    fn prepare<'a, T: Float, D: Dimension, L: ClassIndex, E: Dimension>(
        &self,
        logits: ArrayView<'a, T, D>,
        labels: ArrayView<'_, L, E>,
    ) -> Result<(Logits<'a, T>, Vec<Option<usize>>, Reducer)> {
        let x = Logits::new(Self::NAME, "logits", logits)?;
        let y = self::labels(Self::NAME, &x.shape, &labels, self.ignore_index, true)?;
        let lead = &x.shape[..x.shape.len() - 1];
        let mut r = Reducer::counting(self.reduction, lead, lead);
        r.mean_denominator = y.iter().filter(|l| l.is_some()).count() as f64;
        Ok((x, y, r))
    }

    /// The fused sweep: per-token values into `per_token` (if not null), the
    /// gradient into `grad` (if not null) scaled by `up`; the total.
    ///
    /// `logp = −CE`: this is the fused softmax cross entropy's job
    /// ([`softmax_ce::Job`], the kernel of `torch:cross_entropy`: one read of
    /// the logits per block kept in the L1 cache, the exponentials stored in
    /// the gradient and turned into it in place) with the upstream gradient
    /// negated, and its per-row losses negated after it.
    fn sweep<T: Float>(x: &Logits<'_, T>, y: &[Option<usize>], per_token: SyncPtr<T>, grad: SyncPtr<T>, up: Up<'_>) -> f64 {
        // The ignored rows as −1 (any value outside [0, V) that the job then skips).
        let labels: Vec<i64> = y.iter().map(|l| l.map_or(-1, |l| l as i64)).collect();
        let negated: Vec<f64>;
        let up = match up {
            Up::Uniform(g) => softmax_ce::Up::Uniform(-g),
            Up::PerRow(g) => {
                negated = g.iter().map(|g| -g).collect();
                softmax_ce::Up::PerRow(&negated)
            }
            Up::PerElem(_) => unreachable!("sequence_log_probs has one upstream gradient per token"),
        };
        let job = softmax_ce::Job {
            ops: ops_for::<T>(),
            src: x.slice().as_ptr(),
            dst: grad,
            losses: per_token,
            rows: x.rows,
            classes: x.v,
            weight: None,
            eps: 0.0,
            targets: softmax_ce::Targets::Index { labels: &labels, ignore_index: Some(-1) },
            up,
        };
        let total = job.run();
        if !per_token.is_null() {
            // SAFETY: `per_token` holds one value per row, written by the job.
            let out = unsafe { std::slice::from_raw_parts_mut(per_token.0, x.rows) };
            // 0 − ℓ: the ignored tokens stay +0.
            out.iter_mut().for_each(|v| *v = T::zero() - *v);
        }
        -total
    }

    /// The log-probabilities, reduced as `self.reduction` says.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension, L: ClassIndex, E: Dimension>(&self, logits: ArrayView<'_, T, D>, labels: ArrayView<'_, L, E>) -> Result<ArrayD<T>> {
        let (x, y, r) = self.prepare(logits, labels)?;
        if r.reduction == Reduction::None {
            let mut out = ArrayD::from_elem(IxDyn(&r.shape), T::zero());
            Self::sweep(&x, &y, SyncPtr(out.as_mut_ptr()), SyncPtr::null(), Up::Uniform(0.0));
            return Ok(out);
        }
        let total = Self::sweep(&x, &y, SyncPtr::null(), SyncPtr::null(), Up::Uniform(0.0));
        Ok(r.output_total(total))
    }

    /// The gradient of `Σ grad_output · result` with respect to `logits`.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, D: Dimension, L: ClassIndex, E: Dimension>(
        &self,
        logits: ArrayView<'_, T, D>,
        labels: ArrayView<'_, L, E>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<ArrayD<T>> {
        let (x, y, r) = self.prepare(logits, labels)?;
        let scales = r.scales(Self::NAME, &grad_output)?;
        let mut grad = ArrayD::<T>::uninit(IxDyn(&x.shape));
        let gp = SyncPtr(grad.as_mut_ptr().cast::<T>());
        match &scales {
            crate::machinery::reduction::Scales::Uniform(g) => Self::sweep(&x, &y, SyncPtr::null(), gp, Up::Uniform(*g)),
            crate::machinery::reduction::Scales::PerSample(g) => Self::sweep(&x, &y, SyncPtr::null(), gp, Up::PerRow(g)),
        };
        // SAFETY: the sweep writes every element of every row (the ignored rows' as 0).
        Ok(unsafe { grad.assume_init() })
    }

    /// The result and its gradient (of the result's sum when unreduced), in one sweep per row.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D: Dimension, L: ClassIndex, E: Dimension>(
        &self,
        logits: ArrayView<'_, T, D>,
        labels: ArrayView<'_, L, E>,
    ) -> Result<(ArrayD<T>, ArrayD<T>)> {
        let (x, y, r) = self.prepare(logits, labels)?;
        let mut grad = ArrayD::<T>::uninit(IxDyn(&x.shape));
        let gp = SyncPtr(grad.as_mut_ptr().cast::<T>());
        let g = match r.reduction {
            Reduction::None | Reduction::Sum => 1.0,
            Reduction::Mean => 1.0 / r.mean_denominator,
            Reduction::BatchMean => 1.0 / r.batch,
        };
        if r.reduction == Reduction::None {
            let mut out = ArrayD::from_elem(IxDyn(&r.shape), T::zero());
            Self::sweep(&x, &y, SyncPtr(out.as_mut_ptr()), gp, Up::Uniform(g));
            // SAFETY: the sweep writes every element of every row (the ignored rows' as 0).
            return Ok((out, unsafe { grad.assume_init() }));
        }
        let total = Self::sweep(&x, &y, SyncPtr::null(), gp, Up::Uniform(g));
        // SAFETY: as above.
        Ok((r.output_total(total), unsafe { grad.assume_init() }))
    }
}

/// [`SequenceLogProbs`]'s result (per token, `ignore_index` −100):
/// `selective_log_softmax(logits, labels)` with the ignored tokens 0.
///
/// # Errors
/// See [`SequenceLogProbs`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let lp = losslab::own::sequence_log_probs(array![[[0.0f64, 0.0]]].view(), array![[0i64]].view()).unwrap();
/// assert!((lp[[0, 0]] + 2f64.ln()).abs() < 1e-15);
/// ```
pub fn sequence_log_probs<T: Float, D: Dimension, L: ClassIndex, E: Dimension>(logits: ArrayView<'_, T, D>, labels: ArrayView<'_, L, E>) -> Result<ArrayD<T>> {
    SequenceLogProbs::new().forward(logits, labels)
}

// ---------------------------------------------------------------------------------------
// the two-distribution kernel: generalized JSD and KL

/// Which divergence of student `p = softmax(x/τ)` and teacher `q = softmax(y/τ)`
/// each element carries (`s = log p`, `t = log q`).
#[derive(Clone, Copy, Debug)]
enum Div {
    /// `q (t − s)`: `F.kl_div(s, t, log_target=True)`, KL(teacher ‖ student).
    Forward,
    /// `p (s − t)`: `F.kl_div(t, s, log_target=True)`, KL(student ‖ teacher).
    Reverse,
    /// `β q (t − m) + (1 − β) p (s − m)`, `m = log((1 − β) p + β q)` (TRL's mixture, `0 < β < 1`).
    Mix { beta: f64 },
}

/// One element's divergence as a type, so that each kind's row loops are
/// compiled on their own (no branch on the kind inside them: they vectorise).
trait Elem: Copy + Sync {
    /// `(loss, ∂/∂s, ∂/∂t, p, q)` at `s = log p`, `t = log q`: the element's
    /// loss, its derivatives with respect to the two log-probabilities, and the
    /// two probabilities.
    fn eval(self, s: f64, t: f64) -> (f64, f64, f64, f64, f64);
    /// Whether a row's log-sum-exp may take the `f32` exponential (see [`row_lse`]).
    const F32_LSE: bool = false;
    /// The kind of the `f32` lanes' kernel (`lanes_f32::FORWARD`, …).
    const KIND: u8;
    /// `β` for the `f32` lanes' constants (the mixture's; unused by the KLs).
    fn beta(self) -> f64 {
        0.0
    }
}

/// [`Div::Forward`].
#[derive(Clone, Copy)]
struct ForwardKl;
/// [`Div::Reverse`].
#[derive(Clone, Copy)]
struct ReverseKl;
/// [`Div::Mix`].
#[derive(Clone, Copy)]
struct Mixture {
    beta: f64,
}

impl Elem for ForwardKl {
    const KIND: u8 = 0;

    #[inline(always)]
    fn eval(self, s: f64, t: f64) -> (f64, f64, f64, f64, f64) {
        let (p, q) = (exp_nonpos(s), exp_nonpos(t));
        let d = t - s;
        (q * d, -q, q * (d + 1.0), p, q)
    }
}

impl Elem for ReverseKl {
    const KIND: u8 = 1;

    #[inline(always)]
    fn eval(self, s: f64, t: f64) -> (f64, f64, f64, f64, f64) {
        let (p, q) = (exp_nonpos(s), exp_nonpos(t));
        let d = s - t;
        (p * d, p * (d + 1.0), -p, p, q)
    }
}

impl Elem for Mixture {
    const F32_LSE: bool = true;
    const KIND: u8 = 2;

    fn beta(self) -> f64 {
        self.beta
    }

    /// TRL takes `m` as `torch.logsumexp(stack([s + log1p(−β), t + log β]), 0)`;
    /// here `m = ln((1 − β) p + β q)` from the `p`, `q` already at hand (one
    /// `ln` in place of an `exp` and a `log1p`), the same value within an ulp.
    /// Where both `p` and `q` underflow to 0 (`s, t < −745`) the mixture is 0
    /// and so is the element (its exact terms are below 10⁻³⁰⁰); NaN propagates.
    #[inline(always)]
    fn eval(self, s: f64, t: f64) -> (f64, f64, f64, f64, f64) {
        let (p, q) = (exp_nonpos(s), exp_nonpos(t));
        let (wp, wq) = ((1.0 - self.beta) * p, self.beta * q);
        let mix = wp + wq;
        let m = ln(mix);
        let (ds, dt) = if mix == 0.0 { (0.0, 0.0) } else { (wp * (s - m), wq * (t - m)) };
        (dt + ds, ds, dt, p, q)
    }
}

/// The two-distribution sweep over the counted rows (`out_row[r]`: the row's
/// index among the counted ones, `None` for rows that do not count).
/// `scale` multiplies every element's loss (`τ²` for Hinton's KL). Writes each
/// element's loss at `elems` (counted rows × V, if not null), each row's at
/// `per_row` (every row, if not null), the gradients at `gx`, `gy` (if not null)
/// with upstream `up`. Returns the total.
#[allow(clippy::too_many_arguments)]
fn pair_sweep<T: Float>(
    x: &Logits<'_, T>,
    y: &Logits<'_, T>,
    out_row: &[Option<usize>],
    div: Div,
    temperature: f64,
    scale: f64,
    elems: SyncPtr<T>,
    per_row: SyncPtr<T>,
    grads: Option<(SyncPtr<T>, SyncPtr<T>)>,
    up: Up<'_>,
) -> f64 {
    match div {
        Div::Forward => pair_sweep_with(ForwardKl, x, y, out_row, temperature, scale, elems, per_row, grads, up),
        Div::Reverse => pair_sweep_with(ReverseKl, x, y, out_row, temperature, scale, elems, per_row, grads, up),
        Div::Mix { beta } => pair_sweep_with(Mixture { beta }, x, y, out_row, temperature, scale, elems, per_row, grads, up),
    }
}

/// A row's log-probabilities: `s = a (x − mx) − lx`, `t = a (y − my) − ly`.
#[derive(Clone, Copy)]
struct RowLogProbs {
    a: f64,
    mx: f64,
    lx: f64,
    my: f64,
    ly: f64,
}

impl RowLogProbs {
    #[inline(always)]
    fn at(self, x: f64, y: f64) -> (f64, f64) {
        (self.a * (x - self.mx) - self.lx, self.a * (y - self.my) - self.ly)
    }
}

/// [`pair_sweep`] for one divergence. Every loop over a row's elements runs
/// over [`LANES`]-element chunks of the two rows (no indexing, no branch on the
/// kind): `f64` lanes that the AVX-512 / AVX2 builds of [`rows::run`] vectorise.
#[allow(clippy::too_many_arguments)]
fn pair_sweep_with<T: Float, E: Elem>(
    op: E,
    x: &Logits<'_, T>,
    y: &Logits<'_, T>,
    out_row: &[Option<usize>],
    temperature: f64,
    scale: f64,
    elems: SyncPtr<T>,
    per_row: SyncPtr<T>,
    grads: Option<(SyncPtr<T>, SyncPtr<T>)>,
    up: Up<'_>,
) -> f64 {
    let (v, xs, ys) = (x.v, x.slice(), y.slice());
    let a = 1.0 / temperature;
    let work = x.rows * v * if grads.is_some() { 8 } else { 4 };
    let fast = F32Lanes::<E>::new(a, op, elems.is_null() && !matches!(up, Up::PerElem(_)));
    // SAFETY: each row writes its own elements, loss and gradient rows.
    unsafe {
        rows::run(x.rows, work, per_row, #[inline(always)] |r: usize| {
            let Some(k) = out_row[r] else {
                // not counted: zero gradients
                if let Some((gx, gy)) = grads {
                    std::ptr::write_bytes(gx.add(r * v), 0, v);
                    std::ptr::write_bytes(gy.add(r * v), 0, v);
                }
                return 0.0;
            };
            let (xr, yr) = (&xs[r * v..(r + 1) * v], &ys[r * v..(r + 1) * v]);
            if let Some(total) = fast.row(xr, yr, r, grads, &up, scale * a) {
                return scale * total;
            }
            let (mx, lx) = row_lse(xr, a, E::F32_LSE);
            let (my, ly) = row_lse(yr, a, E::F32_LSE);
            let lp = RowLogProbs { a, mx, lx, my, ly };
            let total = if !elems.is_null() {
                let oe = std::slice::from_raw_parts_mut(elems.add(k * v), v);
                rows::lane_sum2_zip_store(xr, yr, oe, #[inline(always)] |xv, yv| {
                    let (s, t) = lp.at(xv, yv);
                    let l = op.eval(s, t).0;
                    (l, 0.0, scale * l)
                })
                .0
            } else if let Some((gx, gy)) = grads {
                let (ox, oy) = (std::slice::from_raw_parts_mut(gx.add(r * v), v), std::slice::from_raw_parts_mut(gy.add(r * v), v));
                if let Up::PerElem(g) = up {
                    // per-element upstream: Σ g·∂/∂s, Σ g·∂/∂t, then the gradients
                    let ge = &g[k * v..(k + 1) * v];
                    let (loss, sa, ta) = lanes3_zip3(xr, yr, ge, #[inline(always)] |xv, yv, g| {
                        let (s, t) = lp.at(xv, yv);
                        let (l, ds, dt, _, _) = op.eval(s, t);
                        (l, g * ds, g * dt)
                    });
                    let c = scale * a;
                    for (((o, w), (xv, yv)), g) in ox.iter_mut().zip(oy.iter_mut()).zip(xr.iter().zip(yr)).zip(ge) {
                        let (s, t) = lp.at(xv.to_wide(), yv.to_wide());
                        let (_, ds, dt, p, q) = op.eval(s, t);
                        *o = T::from_wide(c * (g * ds - p * sa));
                        *w = T::from_wide(c * (g * dt - q * ta));
                    }
                    loss
                } else {
                    let g_row = match up {
                        Up::Uniform(g) => g,
                        Up::PerRow(g) => g[r],
                        Up::PerElem(_) => unreachable!(),
                    };
                    let (loss, sa, ta) = lanes3_zip(xr, yr, #[inline(always)] |xv, yv| {
                        let (s, t) = lp.at(xv, yv);
                        let (l, ds, dt, _, _) = op.eval(s, t);
                        (l, ds, dt)
                    });
                    let c = scale * a * g_row;
                    for ((o, w), (xv, yv)) in ox.iter_mut().zip(oy.iter_mut()).zip(xr.iter().zip(yr)) {
                        let (s, t) = lp.at(xv.to_wide(), yv.to_wide());
                        let (_, ds, dt, p, q) = op.eval(s, t);
                        *o = T::from_wide(c * (ds - p * sa));
                        *w = T::from_wide(c * (dt - q * ta));
                    }
                    loss
                }
            } else {
                rows::lane_sum_zip(xr, yr, #[inline(always)] |xv, yv| {
                    let (s, t) = lp.at(xv, yv);
                    op.eval(s, t).0
                })
            };
            scale * total
        })
    }
}

/// Where [`pair_sweep_with`] takes the `f32` lanes ([`lanes_f32`]): `f32`
/// logits, the AVX-512 level of the crate's kernels (`elementwise::level`),
/// no per-element output or upstream gradient.
struct F32Lanes<E> {
    #[cfg(target_arch = "x86_64")]
    consts: Option<lanes_f32::Consts>,
    kind: std::marker::PhantomData<E>,
}

thread_local! {
    /// The `f32` lanes' rows of exponentials when no gradient is asked (two rows of `V`).
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl<E: Elem> F32Lanes<E> {
    #[allow(unused_variables)]
    fn new(a: f64, op: E, eligible: bool) -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let on = eligible && crate::machinery::kernels::elementwise::level() == 2;
            F32Lanes { consts: on.then(|| lanes_f32::Consts::new(a, op.beta())), kind: std::marker::PhantomData }
        }
        #[cfg(not(target_arch = "x86_64"))]
        F32Lanes { kind: std::marker::PhantomData }
    }

    /// Row `r` (`xr`, `yr`) on the `f32` lanes, its gradient rows written where
    /// `grads` (`c · g` its factor, `g` from `up`): its total, or `None` where
    /// the `f64` lanes take it (another type, level or job, or a special row).
    ///
    /// # Safety
    /// As the row closure of [`pair_sweep_with`]: the gradient rows of `r` are its own.
    #[inline(always)]
    #[allow(unused_variables)]
    unsafe fn row<T: Float>(&self, xr: &[T], yr: &[T], r: usize, grads: Option<(SyncPtr<T>, SyncPtr<T>)>, up: &Up<'_>, c: f64) -> Option<f64> {
        #[cfg(target_arch = "x86_64")]
        {
            let k = self.consts.as_ref()?;
            if std::any::TypeId::of::<T>() != std::any::TypeId::of::<f32>() {
                return None;
            }
            let v = xr.len();
            // SAFETY (casts): T is f32.
            let (x, y) = (std::slice::from_raw_parts(xr.as_ptr().cast::<f32>(), v), std::slice::from_raw_parts(yr.as_ptr().cast::<f32>(), v));
            let run = |bx: *mut f32, by: *mut f32, g: Option<f64>| match E::KIND {
                lanes_f32::FORWARD => lanes_f32::row::<{ lanes_f32::FORWARD }>(k, x, y, bx, by, g),
                lanes_f32::REVERSE => lanes_f32::row::<{ lanes_f32::REVERSE }>(k, x, y, bx, by, g),
                _ => lanes_f32::row::<{ lanes_f32::MIX }>(k, x, y, bx, by, g),
            };
            if let Some((gx, gy)) = grads {
                let g = match *up {
                    Up::Uniform(g) => g,
                    Up::PerRow(g) => g[r],
                    Up::PerElem(_) => return None,
                };
                return run(gx.add(r * v).cast::<f32>(), gy.add(r * v).cast::<f32>(), Some(c * g));
            }
            SCRATCH.with(|s| {
                let mut s = s.borrow_mut();
                if s.len() < 2 * v {
                    s.resize(2 * v, 0.0);
                }
                let (bx, by) = s.split_at_mut(v);
                run(bx.as_mut_ptr(), by.as_mut_ptr(), None)
            })
        }
        #[cfg(not(target_arch = "x86_64"))]
        None
    }
}

/// [`pair_sweep`] with both gradients, allocated here (and the per-row losses at
/// `per_row`, if not null): the total and the gradients.
#[allow(clippy::too_many_arguments)]
fn pair_grads<T: Float>(
    x: &Logits<'_, T>,
    y: &Logits<'_, T>,
    rows: &[Option<usize>],
    div: Div,
    temperature: f64,
    scale: f64,
    per_row: SyncPtr<T>,
    up: Up<'_>,
) -> (f64, DistillationGradients<T>) {
    let mut gx = ArrayD::<T>::uninit(IxDyn(&x.shape));
    let mut gy = ArrayD::<T>::uninit(IxDyn(&x.shape));
    let ptrs = (SyncPtr(gx.as_mut_ptr().cast::<T>()), SyncPtr(gy.as_mut_ptr().cast::<T>()));
    let total = pair_sweep(x, y, rows, div, temperature, scale, SyncPtr::null(), per_row, Some(ptrs), up);
    // SAFETY: the sweep writes every element of both gradients (the rows that
    // do not count as zeros).
    let (gx, gy) = unsafe { (gx.assume_init(), gy.assume_init()) };
    (total, DistillationGradients { student_logits: gx, teacher_logits: gy })
}

/// The counted rows of a pair loss: each row's index among them, and their number.
fn counted(rows: usize, mask: Option<&[Option<usize>]>) -> (Vec<Option<usize>>, usize) {
    let mut n = 0;
    let out = (0..rows)
        .map(|r| {
            if mask.is_none_or(|m| m[r].is_some()) {
                n += 1;
                Some(n - 1)
            } else {
                None
            }
        })
        .collect();
    (out, n)
}

// ---------------------------------------------------------------------------------------
// trl:generalized_jsd_loss

/// The gradients of [`GeneralizedJsdLoss`] and [`DistillationKl`]: with respect
/// to both logit tensors (their shape).
#[derive(Debug, Clone, PartialEq)]
pub struct DistillationGradients<T> {
    /// Gradient with respect to `student_logits`.
    pub student_logits: ArrayD<T>,
    /// Gradient with respect to `teacher_logits`.
    pub teacher_logits: ArrayD<T>,
}

/// TRL's generalized Jensen-Shannon divergence of on-policy distillation (GKD),
/// `GKDTrainer.generalized_jsd_loss` exactly as TRL 1.16.0 writes it
/// (`trl/experimental/gkd/gkd_trainer.py`):
///
/// ```text
/// s = log_softmax(student_logits / τ),  t = log_softmax(teacher_logits / τ)     per token
/// β = 0:      jsd = F.kl_div(s, t, log_target=True) = q (t − s)          KL(teacher ‖ student)
/// β = 1:      jsd = F.kl_div(t, s, log_target=True) = p (s − t)          KL(student ‖ teacher)
/// otherwise:  m = logsumexp([s + log(1 − β), t + log β])               the mixture's log-probabilities
///             jsd = β q (t − m) + (1 − β) p (s − m)
/// ```
///
/// element by element over the `V` entries of each token (`p = eᔆ`, `q = eᵗ`),
/// then masked: with `labels`, only the tokens whose label is not −100 count
/// (`jsd[labels != -100]`, TRL's hard-coded −100). Reductions as TRL's:
///
/// - `BatchMean` (the default): the total over counted tokens and `V`, divided by
///   the number of counted tokens (at least 1) with `labels`, **but by the first
///   axis (`B`) without them** (TRL's `jsd.size(0)` of the `(B, T, V)` tensor:
///   not the number of tokens);
/// - `Sum`: the total; `Mean`: the total divided by the number of *elements*
///   (counted tokens × `V`; NaN when none counts);
/// - `None`: the element-wise divergences, shape `(counted tokens, V)` with
///   `labels` (the masked selection) and the logits' shape without.
///
/// Both logit tensors are differentiated, as TRL's formula does under autograd
/// (TRL's trainer passes a detached teacher; the teacher's gradient is what
/// autograd gives if it were not). `num_items_in_batch` is not modelled
/// (it divides the sum: use `Sum`).
///
/// # Errors
/// [`LossError::Shape`] for logits with fewer than 2 axes or of different
/// shapes, labels not of the logits' shape without `V`, or a `grad_output` not
/// of the result's shape; [`LossError::Option`] for `β` outside `[0, 1]` or a
/// temperature that is not finite and positive.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::trl::GeneralizedJsdLoss;
/// let x = array![[[1.0f64, 2.0, 3.0]]];
/// // identical distributions: no divergence
/// let l = GeneralizedJsdLoss::new().forward(x.view(), x.view(), None::<ndarray::ArrayView2<'_, i64>>).unwrap();
/// assert!(l[[]].abs() < 1e-15);
/// ```
///
/// # References
/// R. Agarwal et al., "On-Policy Distillation of Language Models: Learning from
/// Self-Generated Mistakes" (GKD), ICLR 2024, Eq. (1); TRL
/// `trl.experimental.gkd.GKDTrainer.generalized_jsd_loss`, 1.16.0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GeneralizedJsdLoss {
    /// The interpolation `β ∈ [0, 1]` (default 0.5).
    pub beta: f64,
    /// The softmax temperature (default 1).
    pub temperature: f64,
    /// The reduction (default `BatchMean`).
    pub reduction: Reduction,
}

impl Default for GeneralizedJsdLoss {
    fn default() -> Self {
        GeneralizedJsdLoss { beta: 0.5, temperature: 1.0, reduction: Reduction::BatchMean }
    }
}

impl GeneralizedJsdLoss {
    const NAME: &'static str = "generalized_jsd_loss";

    /// TRL's defaults: `beta` 0.5, `temperature` 1, `batchmean`.
    pub fn new() -> Self {
        Self::default()
    }

    crate::machinery::methods::setters!(
        /// Sets `β`.
        beta: f64,
        /// Sets the temperature.
        temperature: f64,
        /// Sets the reduction.
        reduction: Reduction
    );

    #[allow(clippy::type_complexity)]
    fn prepare<'a, T: Float, D: Dimension, L: ClassIndex, E: Dimension>(
        &self,
        student: ArrayView<'a, T, D>,
        teacher: ArrayView<'a, T, D>,
        labels: Option<ArrayView<'_, L, E>>,
    ) -> Result<(Logits<'a, T>, Logits<'a, T>, Vec<Option<usize>>, usize, Div, Vec<usize>, f64)> {
        check_option(Self::NAME, "beta", self.beta, (0.0..=1.0).contains(&self.beta), "a number in [0, 1]")?;
        check_temperature(Self::NAME, self.temperature)?;
        let x = Logits::new(Self::NAME, "student_logits", student)?;
        let y = Logits::new(Self::NAME, "teacher_logits", teacher)?;
        check_pair(Self::NAME, &x, "teacher_logits", &y)?;
        let mask = labels.as_ref().map(|l| self::labels(Self::NAME, &x.shape, l, -100, false)).transpose()?;
        let (rows, n) = counted(x.rows, mask.as_deref());
        let b = self.beta;
        let div = if b == 0.0 {
            Div::Forward
        } else if b == 1.0 {
            Div::Reverse
        } else {
            Div::Mix { beta: b }
        };
        let none_shape = if mask.is_some() { vec![n, x.v] } else { x.shape.clone() };
        let denom = match self.reduction {
            Reduction::None | Reduction::Sum => 1.0,
            Reduction::Mean => (n * x.v) as f64,
            Reduction::BatchMean => {
                if mask.is_some() {
                    n.max(1) as f64
                } else {
                    x.shape[0].max(1) as f64
                }
            }
        };
        Ok((x, y, rows, n, div, none_shape, denom))
    }

    /// The divergence, reduced as `self.reduction` says.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension, L: ClassIndex, E: Dimension>(
        &self,
        student_logits: ArrayView<'_, T, D>,
        teacher_logits: ArrayView<'_, T, D>,
        labels: Option<ArrayView<'_, L, E>>,
    ) -> Result<ArrayD<T>> {
        let (x, y, rows, _, div, none_shape, denom) = self.prepare(student_logits, teacher_logits, labels)?;
        if self.reduction == Reduction::None {
            let mut out = ArrayD::from_elem(IxDyn(&none_shape), T::zero());
            pair_sweep(&x, &y, &rows, div, self.temperature, 1.0, SyncPtr(out.as_mut_ptr()), SyncPtr::null(), None, Up::Uniform(0.0));
            return Ok(out);
        }
        let total = pair_sweep(&x, &y, &rows, div, self.temperature, 1.0, SyncPtr::null(), SyncPtr::null(), None, Up::Uniform(0.0));
        Ok(ArrayD::from_elem(IxDyn(&[]), T::from_wide(total / denom)))
    }

    fn grads<T: Float>(&self, x: &Logits<'_, T>, y: &Logits<'_, T>, rows: &[Option<usize>], div: Div, up: Up<'_>) -> (f64, DistillationGradients<T>) {
        pair_grads(x, y, rows, div, self.temperature, 1.0, SyncPtr::null(), up)
    }

    /// The gradients of `Σ grad_output · result` with respect to both logit tensors.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, D: Dimension, L: ClassIndex, E: Dimension>(
        &self,
        student_logits: ArrayView<'_, T, D>,
        teacher_logits: ArrayView<'_, T, D>,
        labels: Option<ArrayView<'_, L, E>>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<DistillationGradients<T>> {
        let (x, y, rows, _, div, none_shape, denom) = self.prepare(student_logits, teacher_logits, labels)?;
        let g = check_grad_output(Self::NAME, self.reduction, &none_shape, &grad_output)?;
        Ok(match g {
            Err(u) => self.grads(&x, &y, &rows, div, Up::Uniform(u / denom)).1,
            Ok(ge) => self.grads(&x, &y, &rows, div, Up::PerElem(&ge)).1,
        })
    }

    /// The divergence and its gradients (of the result's sum when unreduced), in one fused sweep per row.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D: Dimension, L: ClassIndex, E: Dimension>(
        &self,
        student_logits: ArrayView<'_, T, D>,
        teacher_logits: ArrayView<'_, T, D>,
        labels: Option<ArrayView<'_, L, E>>,
    ) -> Result<(ArrayD<T>, DistillationGradients<T>)> {
        if self.reduction == Reduction::None {
            let value = self.forward(student_logits.view(), teacher_logits.view(), labels.as_ref().map(|l| l.view()))?;
            let ones = ArrayD::from_elem(value.raw_dim(), T::one());
            let g = self.backward(student_logits, teacher_logits, labels, ones.view())?;
            return Ok((value, g));
        }
        let (x, y, rows, _, div, _, denom) = self.prepare(student_logits, teacher_logits, labels)?;
        let (total, g) = self.grads(&x, &y, &rows, div, Up::Uniform(1.0 / denom));
        Ok((ArrayD::from_elem(IxDyn(&[]), T::from_wide(total / denom)), g))
    }
}

/// A `grad_output` checked against the result: `Err(g)` for a reduced
/// result's one element, `Ok(values)` for an unreduced result's.
#[allow(clippy::type_complexity)]
fn check_grad_output<T: Float>(loss: &'static str, reduction: Reduction, shape: &[usize], grad_output: &ArrayViewD<'_, T>) -> Result<std::result::Result<Vec<f64>, f64>> {
    if reduction == Reduction::None {
        if grad_output.shape() != shape {
            return Err(shape_err(loss, "grad_output", format!("{shape:?} (the shape of the unreduced result)"), grad_output.shape()));
        }
        return Ok(Ok(grad_output.iter().map(|v| v.to_wide()).collect()));
    }
    if grad_output.len() != 1 {
        return Err(shape_err(loss, "grad_output", format!("[] (the result is a scalar under reduction `{reduction}`)"), grad_output.shape()));
    }
    Ok(Err(grad_output.iter().next().expect("one element").to_wide()))
}

/// [`GeneralizedJsdLoss`] with TRL's defaults (`beta` 0.5, `temperature` 1, `batchmean`).
///
/// # Errors
/// See [`GeneralizedJsdLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let (s, t) = (array![[[0.0f64, 1.0]]], array![[[1.0f64, 0.0]]]);
/// let l = losslab::trl::generalized_jsd_loss(s.view(), t.view(), Some(array![[3i64]].view())).unwrap();
/// assert!(l[[]] > 0.0);
/// ```
pub fn generalized_jsd_loss<T: Float, D: Dimension, L: ClassIndex, E: Dimension>(
    student_logits: ArrayView<'_, T, D>,
    teacher_logits: ArrayView<'_, T, D>,
    labels: Option<ArrayView<'_, L, E>>,
) -> Result<ArrayD<T>> {
    GeneralizedJsdLoss::new().forward(student_logits, teacher_logits, labels)
}

// ---------------------------------------------------------------------------------------
// losslab:distillation_kl

/// The direction of [`DistillationKl`]'s divergence.
///
/// # Examples
/// ```
/// use losslab::own::KlDirection;
/// assert_eq!("reverse".parse::<KlDirection>().unwrap(), KlDirection::Reverse);
/// assert!("sideways".parse::<KlDirection>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KlDirection {
    /// KL(teacher ‖ student), Hinton's (the default): mass-covering.
    #[default]
    Forward,
    /// KL(student ‖ teacher): mode-seeking (MiniLLM's).
    Reverse,
}

impl KlDirection {
    /// Every direction.
    pub const ALL: &'static [KlDirection] = &[KlDirection::Forward, KlDirection::Reverse];

    /// The direction's name, as the registry spells it (`"forward"`, `"reverse"`).
    pub fn name(self) -> &'static str {
        match self {
            KlDirection::Forward => "forward",
            KlDirection::Reverse => "reverse",
        }
    }
}

impl std::fmt::Display for KlDirection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for KlDirection {
    type Err = LossError;
    fn from_str(s: &str) -> Result<Self> {
        KlDirection::ALL.iter().copied().find(|k| k.name() == s).ok_or_else(|| LossError::Option {
            loss: "distillation_kl",
            option: "direction",
            value: s.to_string(),
            expected: "one of forward, reverse".to_string(),
        })
    }
}

/// Hinton's knowledge-distillation loss per token: the KL divergence between
/// the temperature-softened teacher and student distributions, times `τ²`:
///
/// ```text
/// p = softmax(student / τ),  q = softmax(teacher / τ)                 per token
/// forward:  ℓ = τ² Σᵥ q (log q − log p) = τ² KL(q ‖ p)                (the default)
/// reverse:  ℓ = τ² Σᵥ p (log p − log q) = τ² KL(p ‖ q)
/// ```
///
/// the `τ²` keeping the gradients' scale independent of `τ` (Hinton et al.).
/// Tokens whose label is `ignore_index` do not count (and their value is 0);
/// without labels every token counts. Reductions are those of
/// `F.kl_div(log_p, log_q, log_target=True)` on the `(N, V)` rows of the `N`
/// counted tokens, times `τ²`: `BatchMean` (the default) the total divided by
/// `N` (the mean per token), `Sum` the total, `Mean` the total divided by
/// `N · V` (`F.kl_div`'s element mean; NaN when no token counts); `None` the
/// per-token values, shape the logits' without `V` (`F.kl_div(...,
/// reduction="none").sum(-1)`, 0 where ignored). `BatchMean` with no counted
/// token is 0/0: NaN.
///
/// Both logit tensors are differentiated (the student's gradient of the
/// forward direction is `τ · g · (p − q)`); a teacher held fixed ignores its
/// gradient.
///
/// # Errors
/// [`LossError::Shape`] for logits with fewer than 2 axes or of different
/// shapes, labels not of the logits' shape without `V`, or a `grad_output` not
/// of the result's shape; [`LossError::Option`] for a temperature that is not
/// finite and positive.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::own::DistillationKl;
/// let s = array![[[0.0f64, 0.0]]];
/// let t = array![[[0.0f64, 2f64.ln()]]]; // q = (1/3, 2/3)
/// let l = DistillationKl::new().forward(s.view(), t.view(), None::<ndarray::ArrayView2<'_, i64>>).unwrap();
/// let want = (1.0 / 3.0) * (2.0f64 / 3.0).ln() + (2.0 / 3.0) * (4.0f64 / 3.0).ln();
/// assert!((l[[]] - want).abs() < 1e-15);
/// ```
///
/// # References
/// G. Hinton, O. Vinyals, J. Dean, "Distilling the Knowledge in a Neural
/// Network", 2015; reverse KL: Y. Gu et al., "MiniLLM", ICLR 2024.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DistillationKl {
    /// The softmax temperature `τ` (default 1).
    pub temperature: f64,
    /// The direction (default `Forward`, KL(teacher ‖ student)).
    pub direction: KlDirection,
    /// The label of tokens that do not count (default −100).
    pub ignore_index: i64,
    /// The reduction (default `BatchMean`, the mean per counted token).
    pub reduction: Reduction,
}

impl Default for DistillationKl {
    fn default() -> Self {
        DistillationKl { temperature: 1.0, direction: KlDirection::Forward, ignore_index: -100, reduction: Reduction::BatchMean }
    }
}

impl DistillationKl {
    const NAME: &'static str = "distillation_kl";

    /// Temperature 1, forward, `ignore_index` −100, the mean per counted token.
    pub fn new() -> Self {
        Self::default()
    }

    crate::machinery::methods::setters!(
        /// Sets the temperature.
        temperature: f64,
        /// Sets the direction.
        direction: KlDirection,
        /// Sets the label of tokens that do not count.
        ignore_index: i64,
        /// Sets the reduction.
        reduction: Reduction
    );

    #[allow(clippy::type_complexity)]
    fn prepare<'a, T: Float, D: Dimension, L: ClassIndex, E: Dimension>(
        &self,
        student: ArrayView<'a, T, D>,
        teacher: ArrayView<'a, T, D>,
        labels: Option<ArrayView<'_, L, E>>,
    ) -> Result<(Logits<'a, T>, Logits<'a, T>, Vec<Option<usize>>, Div, Vec<usize>, f64)> {
        check_temperature(Self::NAME, self.temperature)?;
        let x = Logits::new(Self::NAME, "student_logits", student)?;
        let y = Logits::new(Self::NAME, "teacher_logits", teacher)?;
        check_pair(Self::NAME, &x, "teacher_logits", &y)?;
        let mask = labels.as_ref().map(|l| self::labels(Self::NAME, &x.shape, l, self.ignore_index, false)).transpose()?;
        let (rows, n) = counted(x.rows, mask.as_deref());
        let div = match self.direction {
            KlDirection::Forward => Div::Forward,
            KlDirection::Reverse => Div::Reverse,
        };
        let denom = match self.reduction {
            Reduction::None | Reduction::Sum => 1.0,
            Reduction::Mean => (n * x.v) as f64,
            Reduction::BatchMean => n as f64,
        };
        let lead = x.shape[..x.shape.len() - 1].to_vec();
        Ok((x, y, rows, div, lead, denom))
    }

    fn scale(&self) -> f64 {
        self.temperature * self.temperature
    }

    /// The divergence, reduced as `self.reduction` says.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension, L: ClassIndex, E: Dimension>(
        &self,
        student_logits: ArrayView<'_, T, D>,
        teacher_logits: ArrayView<'_, T, D>,
        labels: Option<ArrayView<'_, L, E>>,
    ) -> Result<ArrayD<T>> {
        let (x, y, rows, div, lead, denom) = self.prepare(student_logits, teacher_logits, labels)?;
        if self.reduction == Reduction::None {
            let mut out = ArrayD::from_elem(IxDyn(&lead), T::zero());
            pair_sweep(&x, &y, &rows, div, self.temperature, self.scale(), SyncPtr::null(), SyncPtr(out.as_mut_ptr()), None, Up::Uniform(0.0));
            return Ok(out);
        }
        let total = pair_sweep(&x, &y, &rows, div, self.temperature, self.scale(), SyncPtr::null(), SyncPtr::null(), None, Up::Uniform(0.0));
        Ok(ArrayD::from_elem(IxDyn(&[]), T::from_wide(total / denom)))
    }

    fn run<T: Float>(&self, x: &Logits<'_, T>, y: &Logits<'_, T>, rows: &[Option<usize>], div: Div, per_row: SyncPtr<T>, up: Up<'_>) -> (f64, DistillationGradients<T>) {
        pair_grads(x, y, rows, div, self.temperature, self.scale(), per_row, up)
    }

    /// The gradients of `Σ grad_output · result` with respect to both logit tensors.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, D: Dimension, L: ClassIndex, E: Dimension>(
        &self,
        student_logits: ArrayView<'_, T, D>,
        teacher_logits: ArrayView<'_, T, D>,
        labels: Option<ArrayView<'_, L, E>>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<DistillationGradients<T>> {
        let (x, y, rows, div, lead, denom) = self.prepare(student_logits, teacher_logits, labels)?;
        let g = check_grad_output(Self::NAME, self.reduction, &lead, &grad_output)?;
        Ok(match g {
            Err(u) => self.run(&x, &y, &rows, div, SyncPtr::null(), Up::Uniform(u / denom)).1,
            Ok(gr) => self.run(&x, &y, &rows, div, SyncPtr::null(), Up::PerRow(&gr)).1,
        })
    }

    /// The divergence and its gradients (of the result's sum when unreduced), in one fused sweep per row.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D: Dimension, L: ClassIndex, E: Dimension>(
        &self,
        student_logits: ArrayView<'_, T, D>,
        teacher_logits: ArrayView<'_, T, D>,
        labels: Option<ArrayView<'_, L, E>>,
    ) -> Result<(ArrayD<T>, DistillationGradients<T>)> {
        let (x, y, rows, div, lead, denom) = self.prepare(student_logits, teacher_logits, labels)?;
        if self.reduction == Reduction::None {
            let mut out = ArrayD::from_elem(IxDyn(&lead), T::zero());
            let (_, g) = self.run(&x, &y, &rows, div, SyncPtr(out.as_mut_ptr()), Up::Uniform(1.0));
            return Ok((out, g));
        }
        let (total, g) = self.run(&x, &y, &rows, div, SyncPtr::null(), Up::Uniform(1.0 / denom));
        Ok((ArrayD::from_elem(IxDyn(&[]), T::from_wide(total / denom)), g))
    }
}

/// [`DistillationKl`] with its defaults (temperature 1, forward, the mean per token).
///
/// # Errors
/// See [`DistillationKl`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let (s, t) = (array![[[0.0f64, 1.0]]], array![[[1.0f64, 0.0]]]);
/// let l = losslab::own::distillation_kl(s.view(), t.view(), Some(array![[1i64]].view())).unwrap();
/// assert!(l[[]] > 0.0);
/// ```
pub fn distillation_kl<T: Float, D: Dimension, L: ClassIndex, E: Dimension>(
    student_logits: ArrayView<'_, T, D>,
    teacher_logits: ArrayView<'_, T, D>,
    labels: Option<ArrayView<'_, L, E>>,
) -> Result<ArrayD<T>> {
    DistillationKl::new().forward(student_logits, teacher_logits, labels)
}

// ---------------------------------------------------------------------------------------
// the two-distribution kernel on f32 lanes (AVX-512)

/// The two-distribution sweep of one row of `f32` logits in 16 `f32` lanes
/// (AVX-512 with FMA), where [`pair_sweep_with`] takes it: `f32` logits, the
/// AVX-512 level of the crate's kernels, no per-element output or upstream
/// gradient. Per row:
///
/// 1. the two maxima (the block maximum of the fused kernels); a row with a
///    NaN or an infinite maximum goes to the `f64` lanes instead;
/// 2. `x̃ = exp(a (x − mx))`, `ỹ = exp(a (y − my))` (the fused kernels'
///    exponential, within 1 ulp) stored in the two gradient rows (or a
///    per-thread scratch row when no gradient is asked), their sums `Sx`,
///    `Sy` in `f64`;
/// 3. per element, from `p = x̃ / Sx`, `q = ỹ / Sy` and `D = t − s = a (y − x)
///    − C` (`C = a (my − mx) + ln Sy − ln Sx` in `f64`, applied in two `f32`
///    parts): the element's loss and its derivatives `∂/∂s`, `∂/∂t`, their
///    row sums in `f64` (four vectors summed in `f32`, then widened);
/// 4. where a gradient is asked, the same elements again from the stored
///    `x̃`, `ỹ` (no exponential), overwritten by `c (∂/∂s − p Σ ∂/∂s)` and
///    `c (∂/∂t − q Σ ∂/∂t)`.
///
/// The mixture `M = (1 − β) p + β q` is never subtracted from: with `e` the
/// smaller of `(1 − β) p` and `β q` over the larger (a division, 0 where both
/// underflow), the heavier side's `log(· / M)` is `−ln w − log1p(e)` (`w` its
/// weight) and the other side's differs from it by `D`, so that `s − m` and
/// `t − m` carry absolute errors of a few `f32` ulp of 1 whatever `p` and `q`
/// are (TRL's own `logsumexp` form in `f32` loses `ulp(|s|)`): two
/// exponentials (step 2), one division and one `log1p` per element and sweep.
///
/// What `f32` costs against the `f64` lanes: the normalisers `ln Sx`, `ln Sy`
/// are sums of `f32` exponentials, each within 1 ulp, so each is off by a
/// weighted mean of those errors, and every token's value by as much (times
/// `τ²` where the loss is scaled by it): a few `10⁻⁹` in practice, `2.4 · 10⁻⁷`
/// at worst, however small the divergence (TRL's own `f32` log-softmax loses
/// `ulp(|s|)` per element); the gradients, differences of probabilities, are
/// within about an ulp of the row's largest probability. The test
/// `distillation::f32_lanes_agree_with_f64_truth` holds them to these bounds.
#[cfg(target_arch = "x86_64")]
mod lanes_f32 {
    use crate::machinery::kernels::elementwise::x86::{exp_ps, log1p_unit_ps};
    use crate::machinery::kernels::rows::ln;
    use crate::machinery::kernels::simd;
    use std::arch::x86_64::*;

    /// [`super::ForwardKl`]'s kind.
    pub(super) const FORWARD: u8 = 0;
    /// [`super::ReverseKl`]'s kind.
    pub(super) const REVERSE: u8 = 1;
    /// [`super::Mixture`]'s kind.
    pub(super) const MIX: u8 = 2;

    /// A call's constants.
    #[derive(Clone, Copy)]
    pub(super) struct Consts {
        /// `a = 1/τ`, rounded to `f32` (every step uses this value).
        pub(super) a: f32,
        /// The mixture's weights of `p` and `q`: `(1 − β, β)`.
        pub(super) w: (f32, f32),
        /// `(−ln(1 − β), −ln β)`: the heavier side's `log(· / M)` before its `log1p`.
        pub(super) c: (f32, f32),
    }

    impl Consts {
        /// The constants of the mixture `β` (any `β` for the two KLs) at `a = 1/τ`.
        pub(super) fn new(a: f64, beta: f64) -> Self {
            let c = |w: f64| if w > 0.0 { -w.ln() as f32 } else { 0.0 };
            Consts { a: a as f32, w: ((1.0 - beta) as f32, beta as f32), c: (c(1.0 - beta), c(beta)) }
        }
    }

    /// A row's constants, broadcast.
    #[derive(Clone, Copy)]
    struct Row {
        a: __m512,
        wp: __m512,
        wq: __m512,
        cs: __m512,
        ct: __m512,
        /// `1/Sx`, `1/Sy`.
        ip: __m512,
        iq: __m512,
        /// `C`'s two parts.
        ch: __m512,
        cl: __m512,
    }

    /// `(p, q, ℓ, ∂ℓ/∂s, ∂ℓ/∂t)` of 16 elements: the stored exponentials
    /// `ex`, `ey`, the logits `x`, `y`.
    #[inline(always)]
    unsafe fn elem<const K: u8>(r: &Row, ex: __m512, ey: __m512, x: __m512, y: __m512) -> [__m512; 5] {
        let (p, q) = (_mm512_mul_ps(ex, r.ip), _mm512_mul_ps(ey, r.iq));
        // D = t − s = a (y − x) − C
        let d = _mm512_sub_ps(_mm512_fmsub_ps(r.a, _mm512_sub_ps(y, x), r.ch), r.cl);
        match K {
            FORWARD => {
                // q (t − s); ∂/∂s = −q, ∂/∂t = q (D + 1)
                let l = _mm512_mul_ps(q, d);
                [p, q, l, _mm512_sub_ps(_mm512_setzero_ps(), q), _mm512_add_ps(l, q)]
            }
            REVERSE => {
                // p (s − t); ∂/∂s = p (1 − D), ∂/∂t = −p
                let l = _mm512_fnmadd_ps(p, d, _mm512_setzero_ps());
                [p, q, l, _mm512_add_ps(l, p), _mm512_sub_ps(_mm512_setzero_ps(), p)]
            }
            _ => {
                let (wp, wq) = (_mm512_mul_ps(r.wp, p), _mm512_mul_ps(r.wq, q));
                // the student's side the heavier
                let hi = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(wp, wq);
                let (big, small) = (_mm512_max_ps(wp, wq), _mm512_min_ps(wp, wq));
                let nz = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(big, _mm512_setzero_ps());
                let e = _mm512_maskz_div_ps(nz, small, big);
                // the heavier side's log(· / M); the other's differs by D
                let h = _mm512_sub_ps(_mm512_mask_blend_ps(hi, r.ct, r.cs), log1p_unit_ps(e));
                let sm = _mm512_mask_blend_ps(hi, _mm512_sub_ps(h, d), h);
                let tm = _mm512_mask_blend_ps(hi, h, _mm512_add_ps(h, d));
                let (ds, dt) = (_mm512_mul_ps(wp, sm), _mm512_mul_ps(wq, tm));
                [p, q, _mm512_add_ps(ds, dt), ds, dt]
            }
        }
    }

    /// Adds the 16 lanes of `v` to `acc` in `f64`.
    #[inline(always)]
    unsafe fn widen(acc: &mut (__m512d, __m512d), v: __m512) {
        acc.0 = _mm512_add_pd(acc.0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        acc.1 = _mm512_add_pd(acc.1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)))));
    }

    /// The mask of the `n < 16` first lanes (all where `n ≥ 16`).
    #[inline(always)]
    fn mask(n: usize) -> __mmask16 {
        if n >= 16 { 0xffff } else { ((1u32 << n) - 1) as __mmask16 }
    }

    /// `dst[i] = exp(a (src[i] − m))` over `len` elements; their sum in `f64`.
    #[inline(always)]
    unsafe fn exp_store(src: *const f32, dst: *mut f32, len: usize, m: f32, a: f32) -> f64 {
        let (mv, av) = (_mm512_set1_ps(m), _mm512_set1_ps(a));
        let mut acc = (_mm512_setzero_pd(), _mm512_setzero_pd());
        let mut i = 0;
        while i + 64 <= len {
            let mut e = [_mm512_setzero_ps(); 4];
            for (j, ej) in e.iter_mut().enumerate() {
                *ej = exp_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(src.add(i + 16 * j)), mv), av));
                _mm512_storeu_ps(dst.add(i + 16 * j), *ej);
            }
            widen(&mut acc, _mm512_add_ps(_mm512_add_ps(e[0], e[1]), _mm512_add_ps(e[2], e[3])));
            i += 64;
        }
        while i < len {
            let k = mask(len - i);
            let e = _mm512_maskz_mov_ps(k, exp_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, src.add(i)), mv), av)));
            _mm512_mask_storeu_ps(dst.add(i), k, e);
            widen(&mut acc, e);
            i += 16;
        }
        _mm512_reduce_add_pd(_mm512_add_pd(acc.0, acc.1))
    }

    /// Step 3: `(Σ ℓ, Σ ∂ℓ/∂s, Σ ∂ℓ/∂t)` of a row.
    #[inline(always)]
    unsafe fn sums<const K: u8>(r: &Row, x: *const f32, y: *const f32, ex: *const f32, ey: *const f32, len: usize) -> [f64; 3] {
        let z = (_mm512_setzero_pd(), _mm512_setzero_pd());
        let mut acc = [z; 3];
        let mut i = 0;
        while i + 64 <= len {
            let mut t = [_mm512_setzero_ps(); 3];
            for j in 0..4 {
                let o = i + 16 * j;
                let v = elem::<K>(r, _mm512_loadu_ps(ex.add(o)), _mm512_loadu_ps(ey.add(o)), _mm512_loadu_ps(x.add(o)), _mm512_loadu_ps(y.add(o)));
                for (tk, vk) in t.iter_mut().zip(&v[2..]) {
                    *tk = _mm512_add_ps(*tk, *vk);
                }
            }
            for (a, tk) in acc.iter_mut().zip(t) {
                widen(a, tk);
            }
            i += 64;
        }
        while i < len {
            let k = mask(len - i);
            let ld = |p: *const f32| _mm512_maskz_loadu_ps(k, p.add(i));
            let v = elem::<K>(r, ld(ex), ld(ey), ld(x), ld(y));
            for (a, vk) in acc.iter_mut().zip(&v[2..]) {
                widen(a, _mm512_maskz_mov_ps(k, *vk));
            }
            i += 16;
        }
        acc.map(|a| _mm512_reduce_add_pd(_mm512_add_pd(a.0, a.1)))
    }

    /// Step 4: `gx = c ∂ℓ/∂s − kx p`, `gy = c ∂ℓ/∂t − ky q` over the stored
    /// exponentials (`gx`, `gy` on entry).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn grads<const K: u8>(r: &Row, x: *const f32, y: *const f32, gx: *mut f32, gy: *mut f32, len: usize, c: f32, kx: f32, ky: f32) {
        let (cv, kxv, kyv) = (_mm512_set1_ps(c), _mm512_set1_ps(kx), _mm512_set1_ps(ky));
        let mut i = 0;
        while i < len {
            let k = mask(len - i);
            let ld = |p: *const f32| _mm512_maskz_loadu_ps(k, p.add(i));
            let [p, q, _, ds, dt] = elem::<K>(r, ld(gx), ld(gy), ld(x), ld(y));
            _mm512_mask_storeu_ps(gx.add(i), k, _mm512_fmsub_ps(cv, ds, _mm512_mul_ps(kxv, p)));
            _mm512_mask_storeu_ps(gy.add(i), k, _mm512_fmsub_ps(cv, dt, _mm512_mul_ps(kyv, q)));
            i += 16;
        }
    }

    /// One row (steps 1 to 4): its total loss, or `None` for a row the `f64`
    /// lanes take (a NaN, or an infinite maximum). `bx`, `by`: the gradient
    /// rows, or scratch of the row's length; the gradient is written there
    /// when `grad` holds its factor `c` (`scale · a · g`).
    ///
    /// # Safety
    /// AVX-512F/DQ and FMA are present; `bx`, `by` hold `x.len()` elements
    /// that nothing else touches; `y` is as long as `x`.
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    pub(super) unsafe fn row<const K: u8>(k: &Consts, x: &[f32], y: &[f32], bx: *mut f32, by: *mut f32, grad: Option<f64>) -> Option<f64> {
        let n = x.len();
        let ops = simd::f32_ops();
        let ((mx, nx), (my, ny)) = ((ops.max)(x.as_ptr(), n), (ops.max)(y.as_ptr(), n));
        if nx || ny || !mx.is_finite() || !my.is_finite() {
            return None;
        }
        let (sx, sy) = (exp_store(x.as_ptr(), bx, n, mx, k.a), exp_store(y.as_ptr(), by, n, my, k.a));
        let c = f64::from(k.a) * (f64::from(my) - f64::from(mx)) + (ln(sy) - ln(sx));
        let ch = c as f32;
        let b = _mm512_set1_ps;
        let r = Row {
            a: b(k.a),
            wp: b(k.w.0),
            wq: b(k.w.1),
            cs: b(k.c.0),
            ct: b(k.c.1),
            ip: b((1.0 / sx) as f32),
            iq: b((1.0 / sy) as f32),
            ch: b(ch),
            cl: b((c - f64::from(ch)) as f32),
        };
        let [l, ss, st] = sums::<K>(&r, x.as_ptr(), y.as_ptr(), bx, by, n);
        if let Some(g) = grad {
            grads::<K>(&r, x.as_ptr(), y.as_ptr(), bx, by, n, g as f32, (g * ss) as f32, (g * st) as f32);
        }
        Some(l)
    }
}
