//! Preference optimisation: the losses TRL's trainers compute from the
//! per-sequence log-probabilities of a chosen and a rejected completion —
//! DPO and its variants (`trl:dpo_loss`), CPO/SimPO/AlphaPO (`trl:cpo_loss`),
//! ORPO's odds-ratio term (`trl:odds_ratio_loss`) and KTO on unpaired
//! batches (`trl:kto_loss`), with TRL 1.16.0's semantics.
//!
//! Every loss here takes one log-probability per sequence (shape `(B,)`: the
//! model's log-probabilities of the completion's tokens, summed, or averaged
//! where TRL averages them), gives one value per pair (KTO: per completion of an
//! unpaired batch), and reduces them by its `reduction` (default `Mean`: the
//! mean TRL takes; KTO's is its `nanmean`). Everything is computed in
//! f64 and rounded once to the inputs' precision.
//!
//! Where the reference lives in TRL 1.16.0:
//! - `DPOTrainer._compute_loss` (`trl/trainer/dpo_trainer.py`): TRL 1.16 has no
//!   `dpo_loss` method any more; the loss is written inline there, after the
//!   forward passes;
//! - `CPOTrainer.cpo_loss` (`trl/experimental/cpo/cpo_trainer.py`: CPO moved to
//!   `trl.experimental`);
//! - `ORPOTrainer.odds_ratio_loss` (`trl/experimental/orpo/orpo_trainer.py`);
//! - `KTOTrainer._compute_loss` (`trl/trainer/kto_trainer.py`): like DPO's, inline
//!   (TRL 1.16 has no `kto_loss` method any more).

use crate::machinery::error::{check_option, same_shape, shape_err, LossError, Result};
use crate::machinery::float::{narrow, widen, Float};
use crate::machinery::reduction::{ones_like_output, Reducer, Reduction, Scales};
use crate::math::{log_sigmoid_f64, sigmoid_f64, softplus_f64};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension};

use crate::machinery::methods::choice;

/// The gradients of a preference loss with respect to the log-probabilities
/// (`ref_*`: `None` for the reference-free losses, CPO and ORPO).
#[derive(Debug, Clone, PartialEq)]
pub struct PreferenceGradients<T> {
    /// Gradient with respect to `chosen_logps`.
    pub chosen_logps: ArrayD<T>,
    /// Gradient with respect to `rejected_logps`.
    pub rejected_logps: ArrayD<T>,
    /// Gradient with respect to `ref_chosen_logps` (DPO only).
    pub ref_chosen_logps: Option<ArrayD<T>>,
    /// Gradient with respect to `ref_rejected_logps` (DPO only).
    pub ref_rejected_logps: Option<ArrayD<T>>,
}

/// One loss per pair and its partial derivatives with respect to each input
/// (in the order chosen, rejected, ref chosen, ref rejected).
/// `index[k][m]`: the element of input `m` that pair `k`'s partial `partials[k][m]`
/// is with respect to (the identity but for `aot`'s sorted pairs).
struct Terms {
    values: Vec<f64>,
    partials: Vec<[f64; 4]>,
    index: Option<Vec<[usize; 4]>>,
}

impl Terms {
    fn new(n: usize) -> Self {
        Terms { values: vec![0.0; n], partials: vec![[0.0; 4]; n], index: None }
    }

    /// The gradient of input `m` (of `len` elements) from the items `items`:
    /// each one's upstream scale times its partial, added at its index.
    fn scatter(&self, m: usize, items: std::ops::Range<usize>, len: usize, s: &Scales) -> Vec<f64> {
        let mut g = vec![0.0; len];
        for k in items {
            let j = self.index.as_ref().map_or(k, |ix| ix[k][m]);
            g[j] += s.at(k) * self.partials[k][m];
        }
        g
    }

    fn grads<T: Float>(&self, shape: &[usize], s: &Scales, with_ref: bool) -> PreferenceGradients<T> {
        let n = self.partials.len();
        let col = |m: usize| narrow::<T>(shape, self.scatter(m, 0..n, n, s));
        PreferenceGradients {
            chosen_logps: col(0),
            rejected_logps: col(1),
            ref_chosen_logps: with_ref.then(|| col(2)),
            ref_rejected_logps: with_ref.then(|| col(3)),
        }
    }
}

/// Checks a finite option.
fn finite(loss: &'static str, option: &'static str, v: f64) -> Result<()> {
    check_option(loss, option, v, v.is_finite(), "a finite number")
}

/// The `(B,)` log-probabilities: 1-D, one shape; their length.
fn batch(loss: &'static str, tensors: &[(&'static str, &[usize])]) -> Result<usize> {
    let (first, shape) = tensors[0];
    if shape.len() != 1 {
        return Err(shape_err(loss, first, "(B,): one log-probability per sequence", shape));
    }
    for (name, s) in &tensors[1..] {
        same_shape(loss, first, shape, name, s)?;
    }
    Ok(shape[0])
}

/// The derivative of σ as PyTorch's `sigmoid` backward computes it: `y·(1 − y)`,
/// `y = σ(x)` (0 once `y` rounds to 1).
fn dsigmoid(x: f64) -> f64 {
    let y = sigmoid_f64(x);
    y * (1.0 - y)
}

/// PyTorch's `relu` with its derivative (0 at the kink, NaN passed through).
fn relu(x: f64) -> (f64, f64) {
    if x.is_nan() {
        (x, x)
    } else if x > 0.0 {
        (x, 1.0)
    } else {
        (0.0, 0.0)
    }
}

/// The permutation that sorts `v` ascending (NaN last, as `torch.sort`), stable.
fn argsort(v: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| match (v[a].is_nan(), v[b].is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => v[a].partial_cmp(&v[b]).expect("not NaN"),
    });
    idx
}

/// `(1 − ls)·softplus(−βδ) + ls·softplus(βδ)` (TRL's label-smoothed sigmoid) and its derivative in `δ`.
fn smoothed_sigmoid(beta: f64, ls: f64, d: f64) -> (f64, f64) {
    let z = beta * d;
    ((1.0 - ls) * softplus_f64(-z) + ls * softplus_f64(z), beta * (-(1.0 - ls) * sigmoid_f64(-z) + ls * sigmoid_f64(z)))
}

/// Writes `forward`, `backward`, `forward_backward` and the `reduction` setter of
/// a loss of `(chosen_logps, rejected_logps)` from its `terms(c, r)`.
macro_rules! pair_methods {
    () => {
        /// Sets the reduction of the per-pair losses (default `Mean`: TRL's).
        #[must_use]
        pub fn reduction(mut self, reduction: Reduction) -> Self {
            self.reduction = reduction;
            self
        }

        /// The loss, reduced as `self.reduction` says.
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward<T: Float, D: Dimension>(&self, chosen_logps: ArrayView<'_, T, D>, rejected_logps: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
            let (t, r) = self.run(&chosen_logps, &rejected_logps)?;
            Ok(r.output(t.values))
        }

        /// The gradients of `Σ grad_output · loss` (`grad_output` has the result's
        /// shape) with respect to `chosen_logps` and `rejected_logps` (`ref_*`: `None`).
        ///
        /// # Errors
        /// See the type's docs; also [`LossError::Shape`] if `grad_output` does
        /// not have the result's shape.
        pub fn backward<T: Float, D: Dimension>(
            &self,
            chosen_logps: ArrayView<'_, T, D>,
            rejected_logps: ArrayView<'_, T, D>,
            grad_output: ArrayViewD<'_, T>,
        ) -> Result<PreferenceGradients<T>> {
            let (t, r) = self.run(&chosen_logps, &rejected_logps)?;
            let s = r.scales(Self::NAME, &grad_output)?;
            Ok(t.grads(chosen_logps.shape(), &s, false))
        }

        /// The loss and its gradients (of the result's sum when unreduced).
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward_backward<T: Float, D: Dimension>(
            &self,
            chosen_logps: ArrayView<'_, T, D>,
            rejected_logps: ArrayView<'_, T, D>,
        ) -> Result<(ArrayD<T>, PreferenceGradients<T>)> {
            let (t, r) = self.run(&chosen_logps, &rejected_logps)?;
            let s = r.scales(Self::NAME, &ones_like_output::<T>(&r).view())?;
            let g = t.grads(chosen_logps.shape(), &s, false);
            Ok((r.output(t.values), g))
        }
    };
}

// ---------------------------------------------------------------------------------------
// trl:dpo_loss

choice! {
    /// The objective of [`DpoLoss`], TRL 1.16.0's `DPOConfig.loss_type`
    /// (every one but `sft`, which is the chosen completions' token-level NLL,
    /// not a function of the per-sequence log-probabilities). Notation: `β` the
    /// `beta`, `ε` the `label_smoothing`, `l_c = π_c − ref_c`, `l_r = π_r − ref_r`
    /// the log-ratios, `s_c = f'(l_c)`, `s_r` their scores under the
    /// [`FDivergence`] (`l` itself by default), `Δ = s_c − s_r`:
    ///
    /// ```text
    /// sigmoid        −log σ(βΔ)                                        (DPO)
    /// hinge          relu(1 − βΔ)                                      (SLiC)
    /// ipo            (s_c/n_c − s_r/n_r − 1/(2β))²                      (IPO; n: completion lengths, clamped to ≥ 1)
    /// exo_pair       σ(βΔ)(log σ(βΔ) − log(1−ε)) + σ(−βΔ)(log σ(−βΔ) − log ε)   (EXO; ε = 0 gives +inf)
    /// nca_pair       −log σ(βl_c) − ½ log σ(−βl_c) − ½ log σ(−βl_r)
    /// robust         ((1−ε)(−log σ(βΔ)) − ε(−log σ(−βΔ))) / (1 − 2ε)    (rDPO)
    /// bco_pair       −log σ(βl_c) − log σ(−βl_r)                        (no running mean δ in TRL 1.16)
    /// sppo_hard      (l_c − 1/(2β))² + (l_r + 1/(2β))²
    /// aot            (1−ε)(−log σ(βδ)) + ε(−log σ(−βδ)),  δ = sort(π_c − π_r) − sort(ref_c − ref_r)
    /// aot_unpaired   the same with δ = sort(l_c) − sort(l_r)
    /// apo_zero       1 − σ(βl_c) + σ(βl_r)
    /// apo_down       σ(βl_c) + 1 − σ(β(l_c − l_r))
    /// discopop       (1 − m)(−log σ(βΔ)) + m·exp(−βΔ),  m = σ(βΔ/τ)
    /// sigmoid_norm   −log σ(β(s_c/n_c − s_r/n_r))
    /// ```
    ///
    /// # Examples
    /// ```
    /// use losslab::trl::DpoLossType;
    /// assert_eq!("apo_zero".parse::<DpoLossType>().unwrap(), DpoLossType::ApoZero);
    /// assert!("sft".parse::<DpoLossType>().is_err());
    /// ```
    DpoLossType, "dpo_loss", "loss_type", {
        /// DPO's logistic loss (Rafailov et al. 2023), the default.
        #[default]
        Sigmoid = "sigmoid",
        /// The hinge loss of SLiC (Zhao et al. 2023).
        Hinge = "hinge",
        /// IPO (Azar et al. 2023), per-token averaged scores as TRL computes them.
        Ipo = "ipo",
        /// EXO's pairwise form (Ji et al. 2024), Eq. 16.
        ExoPair = "exo_pair",
        /// NCA's pairwise form (Chen et al. 2024).
        NcaPair = "nca_pair",
        /// Robust DPO (Chowdhury et al. 2024).
        Robust = "robust",
        /// BCO's pairwise form (Jung et al. 2024), without the reward shift.
        BcoPair = "bco_pair",
        /// SPPO with hard probabilities (Wu et al. 2024).
        SppoHard = "sppo_hard",
        /// AOT, paired (Melnyk et al. 2024).
        Aot = "aot",
        /// AOT, unpaired.
        AotUnpaired = "aot_unpaired",
        /// APO-zero (D'Oosterlinck et al. 2024), Eq. 7.
        ApoZero = "apo_zero",
        /// APO-down, Eq. 8.
        ApoDown = "apo_down",
        /// DiscoPOP (Chris Lu et al. 2024), Eq. 5.
        Discopop = "discopop",
        /// The sigmoid loss on per-token averaged scores.
        SigmoidNorm = "sigmoid_norm",
    }
}

choice! {
    /// The f-divergence of f-DPO (Wang et al. 2023), `DPOConfig.f_divergence_type`:
    /// the score `f'(u)` of a log-ratio `l = log u`.
    ///
    /// ```text
    /// reverse_kl         l                        (standard DPO, the default)
    /// forward_kl         1 − exp(−l)
    /// js_divergence      log 2 + log σ(l)
    /// alpha_divergence   (exp(min((α−1)l, 80)) − 1)/(α − 1)   (l when |α − 1| < 1e−6)
    /// ```
    ///
    /// TRL accepts a non-default one only with `sigmoid`, `sigmoid_norm`,
    /// `hinge`, `ipo`, `exo_pair`, `robust` and `discopop`. TRL's
    /// `alpha_divergence` clamps in float32 (its clamp table has no float64
    /// entry: with float64 log-probabilities it raises a `KeyError`); losslab
    /// computes it in f64 with the same clamp at 80, for both precisions.
    ///
    /// # Examples
    /// ```
    /// use losslab::trl::FDivergence;
    /// assert_eq!("js_divergence".parse::<FDivergence>().unwrap(), FDivergence::JsDivergence);
    /// ```
    FDivergence, "dpo_loss", "f_divergence_type", {
        /// `l`, the default.
        #[default]
        ReverseKl = "reverse_kl",
        /// `1 − exp(−l)`.
        ForwardKl = "forward_kl",
        /// `log 2 + log σ(l)`.
        JsDivergence = "js_divergence",
        /// `(u^(α−1) − 1)/(α − 1)`.
        AlphaDivergence = "alpha_divergence",
    }
}

/// DPO and its variants, as TRL 1.16.0's `DPOTrainer._compute_loss` computes
/// them from the per-sequence log-probabilities of the policy (`chosen_logps`,
/// `rejected_logps`) and of the reference model (`ref_chosen_logps`,
/// `ref_rejected_logps`), all of shape `(B,)`: one value per pair, for each
/// [`DpoLossType`] (default `sigmoid`: `−log σ(β((π_c − ref_c) − (π_r − ref_r)))`),
/// under an [`FDivergence`].
///
/// `chosen_lengths`, `rejected_lengths` (optional, `(B,)`) are the number of
/// completion tokens of each sequence (TRL's `completion_mask.sum(dim=1)`),
/// clamped to at least 1: `ipo` and `sigmoid_norm` divide the scores by them.
/// Without them, 1 (no normalisation). Other loss types ignore them.
///
/// Every log-probability is differentiated as the formula is written: the
/// gradients with respect to the reference's log-probabilities are those
/// PyTorch's autograd gives when they require grad (TRL computes them under
/// `no_grad`, or takes them precomputed, so they are normally constants).
/// `exo_pair`'s `log(1 − ε)` and `log ε` are float32 values, as in TRL (which
/// makes ε a float32 tensor), whatever the inputs' precision.
/// At `hinge`'s kink and beyond `alpha_divergence`'s clamp the gradient is 0
/// (PyTorch's `relu` and `clamp`). `aot` and `aot_unpaired` sort across the
/// batch: each sorted position's gradient goes to the element sorted there
/// (ties: the first in batch order; `torch.sort` does not promise which).
///
/// Outside this function, in TRL: the log-probabilities themselves (sums over
/// the completion, or `ld_alpha`'s LD-DPO weighting), a list of loss types with
/// `loss_weights` (TRL sums `weight · mean` over the list: combine several
/// `DpoLoss` results yourself), `use_weighting` (WPO's weights, computed from
/// the per-token probabilities), the MoE router's auxiliary loss.
/// [`rewards`](DpoLoss::rewards) gives TRL's logged rewards `β·(π − ref)`.
///
/// # Errors
/// [`LossError::Shape`] if `chosen_logps` is not 1-D or another tensor (lengths
/// included) has another shape; [`LossError::Option`] for a non-finite
/// `beta`, `label_smoothing`, `discopop_tau` or `f_alpha_divergence_coef`, or a
/// non-default `f_divergence_type` with a loss type TRL refuses it for.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::trl::{DpoLoss, DpoLossType};
/// let (c, r) = (array![-10.0f64, -12.0], array![-11.0f64, -11.0]);
/// let (rc, rr) = (array![-10.5f64, -12.0], array![-10.5f64, -11.5]);
/// let loss = DpoLoss::new().forward(c.view(), r.view(), rc.view(), rr.view(), None).unwrap();
/// // Δ = (0.5 − (−0.5)), (0 − 0.5): −log σ(0.1) and −log σ(−0.05), averaged
/// let want = ((1.0f64 + (-0.1f64).exp()).ln() + (1.0f64 + 0.05f64.exp()).ln()) / 2.0;
/// assert!((loss[[]] - want).abs() < 1e-15);
/// let hinge = DpoLoss::new().loss_type(DpoLossType::Hinge).beta(1.0);
/// let l = hinge.forward(c.view(), r.view(), rc.view(), rr.view(), None).unwrap();
/// assert!((l[[]] - (0.0 + 1.5) / 2.0).abs() < 1e-15);
/// ```
///
/// # References
/// R. Rafailov et al., "Direct Preference Optimization: Your Language Model is
/// Secretly a Reward Model", NeurIPS 2023; M. G. Azar et al., "A General
/// Theoretical Paradigm to Understand Learning from Human Preferences" (IPO),
/// AISTATS 2024; Y. Zhao et al., "SLiC-HF", 2023; H. Ji et al., "Towards
/// Efficient Exact Optimization of Language Model Alignment" (EXO), ICML 2024;
/// H. Chen et al., "Noise Contrastive Alignment of Language Models with
/// Explicit Rewards" (NCA), 2024; S. R. Chowdhury et al., "Provably Robust DPO",
/// ICML 2024; S. Y. Jung et al., "Binary Classifier Optimization" (BCO), 2024;
/// Y. Wu et al., "Self-Play Preference Optimization" (SPPO), 2024; I. Melnyk et
/// al., "Distributional Preference Alignment of LLMs via Optimal Transport"
/// (AOT), 2024; K. D'Oosterlinck et al., "Anchored Preference Optimization"
/// (APO), 2024; C. Lu et al., "Discovering Preference Optimization Algorithms
/// with and for Large Language Models" (DiscoPOP), 2024; C. Wang et al.,
/// "Beyond Reverse KL: Generalizing Direct Preference Optimization with Diverse
/// Divergence Constraints" (f-DPO), ICLR 2024. TRL 1.16.0,
/// `trl/trainer/dpo_trainer.py`, `DPOTrainer._compute_loss`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DpoLoss {
    /// The reduction of the per-pair losses (default `Mean`: TRL's).
    pub reduction: Reduction,
    /// The objective (default `sigmoid`).
    pub loss_type: DpoLossType,
    /// β, the temperature (default 0.1).
    pub beta: f64,
    /// ε of `exo_pair`, `robust` and `aot`/`aot_unpaired` (default 0).
    pub label_smoothing: f64,
    /// τ of `discopop` (default 0.05).
    pub discopop_tau: f64,
    /// The f-divergence (default `reverse_kl`).
    pub f_divergence_type: FDivergence,
    /// α of `alpha_divergence` (default 0.5).
    pub f_alpha_divergence_coef: f64,
}

impl Default for DpoLoss {
    fn default() -> Self {
        DpoLoss {
            reduction: Reduction::Mean,
            loss_type: DpoLossType::Sigmoid,
            beta: 0.1,
            label_smoothing: 0.0,
            discopop_tau: 0.05,
            f_divergence_type: FDivergence::ReverseKl,
            f_alpha_divergence_coef: 0.5,
        }
    }
}

impl DpoLoss {
    const NAME: &'static str = "dpo_loss";

    /// TRL's `DPOConfig` defaults: `Mean`, `sigmoid`, β = 0.1, ε = 0, τ = 0.05, `reverse_kl`, α = 0.5.
    pub fn new() -> Self {
        Self::default()
    }
    crate::machinery::methods::setters!(
        /// Sets the objective.
        loss_type: DpoLossType,
        /// Sets β.
        beta: f64,
        /// Sets the label smoothing ε.
        label_smoothing: f64,
        /// Sets DiscoPOP's τ.
        discopop_tau: f64,
        /// Sets the f-divergence.
        f_divergence_type: FDivergence,
        /// Sets α of `alpha_divergence`.
        f_alpha_divergence_coef: f64,
        /// Sets the reduction of the per-pair losses (default `Mean`: TRL's).
        reduction: Reduction
    );

    fn check(&self) -> Result<()> {
        finite(Self::NAME, "beta", self.beta)?;
        finite(Self::NAME, "label_smoothing", self.label_smoothing)?;
        finite(Self::NAME, "discopop_tau", self.discopop_tau)?;
        finite(Self::NAME, "f_alpha_divergence_coef", self.f_alpha_divergence_coef)?;
        use DpoLossType as L;
        let ok = matches!(self.loss_type, L::Sigmoid | L::SigmoidNorm | L::Hinge | L::Ipo | L::ExoPair | L::Robust | L::Discopop);
        if self.f_divergence_type != FDivergence::ReverseKl && !ok {
            return Err(LossError::Option {
                loss: Self::NAME,
                option: "f_divergence_type",
                value: self.f_divergence_type.name().to_string(),
                expected: format!(
                    "reverse_kl with loss_type {} (TRL supports another f-divergence only for sigmoid, sigmoid_norm, hinge, ipo, exo_pair, robust, discopop)",
                    self.loss_type
                ),
            });
        }
        Ok(())
    }

    /// The score `f'(l)` of a log-ratio and its derivative.
    fn score(&self, l: f64) -> (f64, f64) {
        match self.f_divergence_type {
            FDivergence::ReverseKl => (l, 1.0),
            FDivergence::ForwardKl => {
                let e = (-l).exp();
                (1.0 - e, e)
            }
            FDivergence::JsDivergence => (std::f64::consts::LN_2 + log_sigmoid_f64(l), sigmoid_f64(-l)),
            FDivergence::AlphaDivergence => {
                let a = self.f_alpha_divergence_coef;
                if (a - 1.0).abs() < 1e-6 {
                    return (l, 1.0);
                }
                let coef = 1.0 / (a - 1.0);
                let t = (a - 1.0) * l;
                let tc = if t.is_nan() { t } else { t.min(80.0) };
                let e = tc.exp();
                ((e - 1.0) * coef, if t <= 80.0 || t.is_nan() { e * (a - 1.0) * coef } else { 0.0 })
            }
        }
    }

    fn run<T: Float, D: Dimension>(
        &self,
        c: &ArrayView<'_, T, D>,
        r: &ArrayView<'_, T, D>,
        rc: &ArrayView<'_, T, D>,
        rr: &ArrayView<'_, T, D>,
        lengths: Option<(&ArrayView<'_, T, D>, &ArrayView<'_, T, D>)>,
    ) -> Result<(Terms, Reducer)> {
        self.check()?;
        let mut shapes = vec![("chosen_logps", c.shape()), ("rejected_logps", r.shape()), ("ref_chosen_logps", rc.shape()), ("ref_rejected_logps", rr.shape())];
        if let Some((nc, nr)) = &lengths {
            shapes.push(("chosen_lengths", nc.shape()));
            shapes.push(("rejected_lengths", nr.shape()));
        }
        let n = batch(Self::NAME, &shapes)?;
        let (c, r, rc, rr) = (widen(c), widen(r), widen(rc), widen(rr));
        let (nc, nr) = match lengths {
            Some((a, b)) => (widen(a).into_iter().map(|v| v.max(1.0)).collect(), widen(b).into_iter().map(|v| v.max(1.0)).collect()),
            None => (vec![1.0; n], vec![1.0; n]),
        };
        let (b, ls) = (self.beta, self.label_smoothing);
        let mut t = Terms::new(n);
        use DpoLossType as L;
        match self.loss_type {
            L::Aot | L::AotUnpaired => {
                // δ_k = sort(x)_k − sort(y)_k; x, y: π_c − π_r and ref_c − ref_r (aot) or l_c and l_r (aot_unpaired)
                let (x, y): (Vec<f64>, Vec<f64>) = if self.loss_type == L::Aot {
                    ((0..n).map(|i| c[i] - r[i]).collect(), (0..n).map(|i| rc[i] - rr[i]).collect())
                } else {
                    ((0..n).map(|i| c[i] - rc[i]).collect(), (0..n).map(|i| r[i] - rr[i]).collect())
                };
                let (px, py) = (argsort(&x), argsort(&y));
                let mut index = Vec::with_capacity(n);
                for k in 0..n {
                    let (v, g) = smoothed_sigmoid(b, ls, x[px[k]] - y[py[k]]);
                    t.values[k] = v;
                    t.partials[k] = [g, -g, -g, g];
                    // aot: π_c, π_r at px, ref_c, ref_r at py; aot_unpaired: π_c, ref_c at px, π_r, ref_r at py
                    index.push(if self.loss_type == L::Aot { [px[k], px[k], py[k], py[k]] } else { [px[k], py[k], px[k], py[k]] });
                }
                // The per-pair output (`Reduction::None`) is in sorted order, as TRL's.
                t.index = Some(index);
                return Ok((t, Reducer::counting(self.reduction, &[n], &[n])));
            }
            _ => {}
        }
        for i in 0..n {
            let (lc, lr) = (c[i] - rc[i], r[i] - rr[i]);
            let ((sc, dsc), (sr, dsr)) = (self.score(lc), self.score(lr));
            let d = sc - sr;
            // (value, ∂/∂s_c, ∂/∂s_r) for the score-based losses, or (value, ∂/∂l_c, ∂/∂l_r) with `raw`.
            let (v, gc, gr, raw) = match self.loss_type {
                L::Sigmoid => {
                    let g = -b * sigmoid_f64(-b * d);
                    (softplus_f64(-b * d), g, -g, false)
                }
                L::Hinge => {
                    let (v, dv) = relu(1.0 - b * d);
                    (v, -b * dv, b * dv, false)
                }
                L::Ipo => {
                    let e = sc / nc[i] - sr / nr[i] - 1.0 / (2.0 * b);
                    (e * e, 2.0 * e / nc[i], -2.0 * e / nr[i], false)
                }
                L::ExoPair => {
                    let z = b * d;
                    // TRL makes ε a float32 tensor (`torch.tensor(label_smoothing)`): log(1 − ε)
                    // and log ε are float32 values whatever the log-probabilities' precision.
                    // (PyTorch's float32 log and log1p are correctly rounded here; libm's log1pf is not always.)
                    let e32 = f64::from(ls as f32);
                    let (lp, ll) = (f64::from((-e32).ln_1p() as f32), f64::from(e32.ln() as f32));
                    let v = sigmoid_f64(z) * (log_sigmoid_f64(z) - lp) + sigmoid_f64(-z) * (log_sigmoid_f64(-z) - ll);
                    let g = b * dsigmoid(z) * ((log_sigmoid_f64(z) - lp) - (log_sigmoid_f64(-z) - ll));
                    (v, g, -g, false)
                }
                L::NcaPair => {
                    let (zc, zr) = (b * lc, b * lr);
                    let v = softplus_f64(-zc) + 0.5 * softplus_f64(zc) + 0.5 * softplus_f64(zr);
                    (v, b * (-sigmoid_f64(-zc) + 0.5 * sigmoid_f64(zc)), 0.5 * b * sigmoid_f64(zr), true)
                }
                L::Robust => {
                    let z = b * d;
                    let den = 1.0 - 2.0 * ls;
                    let v = ((1.0 - ls) * softplus_f64(-z) - ls * softplus_f64(z)) / den;
                    let g = b * (-(1.0 - ls) * sigmoid_f64(-z) - ls * sigmoid_f64(z)) / den;
                    (v, g, -g, false)
                }
                L::BcoPair => {
                    let (zc, zr) = (b * lc, b * lr);
                    (softplus_f64(-zc) + softplus_f64(zr), -b * sigmoid_f64(-zc), b * sigmoid_f64(zr), true)
                }
                L::SppoHard => {
                    let (ec, er) = (lc - 0.5 / b, lr + 0.5 / b);
                    (ec * ec + er * er, 2.0 * ec, 2.0 * er, true)
                }
                L::ApoZero => {
                    let (zc, zr) = (b * lc, b * lr);
                    (1.0 - sigmoid_f64(zc) + sigmoid_f64(zr), -b * dsigmoid(zc), b * dsigmoid(zr), true)
                }
                L::ApoDown => {
                    let (zc, zd) = (b * lc, b * (lc - lr));
                    (sigmoid_f64(zc) + (1.0 - sigmoid_f64(zd)), b * dsigmoid(zc) - b * dsigmoid(zd), b * dsigmoid(zd), true)
                }
                L::Discopop => {
                    let z = b * d;
                    let tau = self.discopop_tau;
                    let m = sigmoid_f64(z / tau);
                    let dm = dsigmoid(z / tau) / tau;
                    let (lg, ex) = (softplus_f64(-z), (-z).exp());
                    let v = lg * (1.0 - m) + ex * m;
                    let g = b * (-sigmoid_f64(-z) * (1.0 - m) - lg * dm - ex * m + ex * dm);
                    (v, g, -g, false)
                }
                L::SigmoidNorm => {
                    let z = b * (sc / nc[i] - sr / nr[i]);
                    let g = -b * sigmoid_f64(-z);
                    (softplus_f64(-z), g / nc[i], -g / nr[i], false)
                }
                L::Aot | L::AotUnpaired => unreachable!("handled above"),
            };
            let (glc, glr) = if raw { (gc, gr) } else { (gc * dsc, gr * dsr) };
            t.values[i] = v;
            t.partials[i] = [glc, glr, -glc, -glr];
        }
        Ok((t, Reducer::counting(self.reduction, &[n], &[n])))
    }

    /// The loss, reduced as `self.reduction` says. `lengths`: the completion
    /// lengths `(chosen_lengths, rejected_lengths)` of `ipo` and `sigmoid_norm`.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension>(
        &self,
        chosen_logps: ArrayView<'_, T, D>,
        rejected_logps: ArrayView<'_, T, D>,
        ref_chosen_logps: ArrayView<'_, T, D>,
        ref_rejected_logps: ArrayView<'_, T, D>,
        lengths: Option<(ArrayView<'_, T, D>, ArrayView<'_, T, D>)>,
    ) -> Result<ArrayD<T>> {
        let (t, r) = self.run(&chosen_logps, &rejected_logps, &ref_chosen_logps, &ref_rejected_logps, lengths.as_ref().map(|(a, b)| (a, b)))?;
        Ok(r.output(t.values))
    }

    /// The gradients of `Σ grad_output · loss` (`grad_output` has the result's
    /// shape) with respect to the four log-probabilities (not the lengths).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does
    /// not have the result's shape.
    pub fn backward<T: Float, D: Dimension>(
        &self,
        chosen_logps: ArrayView<'_, T, D>,
        rejected_logps: ArrayView<'_, T, D>,
        ref_chosen_logps: ArrayView<'_, T, D>,
        ref_rejected_logps: ArrayView<'_, T, D>,
        lengths: Option<(ArrayView<'_, T, D>, ArrayView<'_, T, D>)>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<PreferenceGradients<T>> {
        let (t, r) = self.run(&chosen_logps, &rejected_logps, &ref_chosen_logps, &ref_rejected_logps, lengths.as_ref().map(|(a, b)| (a, b)))?;
        let s = r.scales(Self::NAME, &grad_output)?;
        Ok(t.grads(chosen_logps.shape(), &s, true))
    }

    /// The loss and its gradients (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D: Dimension>(
        &self,
        chosen_logps: ArrayView<'_, T, D>,
        rejected_logps: ArrayView<'_, T, D>,
        ref_chosen_logps: ArrayView<'_, T, D>,
        ref_rejected_logps: ArrayView<'_, T, D>,
        lengths: Option<(ArrayView<'_, T, D>, ArrayView<'_, T, D>)>,
    ) -> Result<(ArrayD<T>, PreferenceGradients<T>)> {
        let (t, r) = self.run(&chosen_logps, &rejected_logps, &ref_chosen_logps, &ref_rejected_logps, lengths.as_ref().map(|(a, b)| (a, b)))?;
        let s = r.scales(Self::NAME, &ones_like_output::<T>(&r).view())?;
        let g = t.grads(chosen_logps.shape(), &s, true);
        Ok((r.output(t.values), g))
    }

    /// TRL's logged rewards `(β·(π_c − ref_c), β·(π_r − ref_r))`, detached:
    /// whatever the loss type and f-divergence, the log-ratios times β.
    ///
    /// # Errors
    /// As [`forward`](DpoLoss::forward) for the shapes and `beta`.
    pub fn rewards<T: Float, D: Dimension>(
        &self,
        chosen_logps: ArrayView<'_, T, D>,
        rejected_logps: ArrayView<'_, T, D>,
        ref_chosen_logps: ArrayView<'_, T, D>,
        ref_rejected_logps: ArrayView<'_, T, D>,
    ) -> Result<(ArrayD<T>, ArrayD<T>)> {
        finite(Self::NAME, "beta", self.beta)?;
        let shape = chosen_logps.shape().to_vec();
        batch(
            Self::NAME,
            &[("chosen_logps", &shape), ("rejected_logps", rejected_logps.shape()), ("ref_chosen_logps", ref_chosen_logps.shape()), ("ref_rejected_logps", ref_rejected_logps.shape())],
        )?;
        let f = |p: &ArrayView<'_, T, D>, q: &ArrayView<'_, T, D>| narrow::<T>(&shape, widen(p).iter().zip(widen(q)).map(|(a, b)| self.beta * (a - b)).collect());
        Ok((f(&chosen_logps, &ref_chosen_logps), f(&rejected_logps, &ref_rejected_logps)))
    }
}

// ---------------------------------------------------------------------------------------
// trl:cpo_loss

choice! {
    /// The objective of [`CpoLoss`], TRL 1.16.0's `CPOConfig.loss_type`
    /// (`alphapo` is TRL's alias, `CPOConfig.__post_init__`, for `simpo` with
    /// `cpo_alpha = 0`: set `alpha` yourself). `z` = the reward margin below.
    ///
    /// ```text
    /// sigmoid   (1−ε)(−log σ(βz)) + ε(−log σ(−βz))            (CPO, Eq. 3)
    /// hinge     relu(1 − βz)
    /// ipo       (z − 1/(2β))²
    /// simpo     the sigmoid form with z − γ/β                 (SimPO)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use losslab::trl::CpoLossType;
    /// assert_eq!("simpo".parse::<CpoLossType>().unwrap(), CpoLossType::Simpo);
    /// ```
    CpoLossType, "cpo_loss", "loss_type", {
        /// CPO's label-smoothed logistic loss, the default.
        #[default]
        Sigmoid = "sigmoid",
        /// The hinge loss.
        Hinge = "hinge",
        /// IPO's squared loss.
        Ipo = "ipo",
        /// SimPO's margin-shifted logistic loss.
        Simpo = "simpo",
    }
}

/// CPO, SimPO and AlphaPO's preference term, TRL 1.16.0's
/// `CPOTrainer.cpo_loss` (`trl/experimental/cpo/cpo_trainer.py`: CPO lives in
/// `trl.experimental` since TRL 1.0), from the policy's log-probabilities of
/// the chosen and rejected completions, shape `(B,)`, with no reference model:
///
/// ```text
/// z = π_c − π_r                                    alpha = 0 (default)
/// z = R(π_c) − R(π_r),  R(p) = (1 − exp(p)^(−α))/α    alpha ≠ 0 (AlphaPO)
/// ```
///
/// and the [`CpoLossType`] of `z` (default `sigmoid`). TRL passes per-token
/// **averaged** log-probabilities for `ipo` and `simpo`
/// (`average_log_prob=self.loss_type in ["ipo", "simpo"]` in its forward) and
/// summed ones otherwise: give them that way. Outside this function: CPO's
/// behaviour-cloning NLL term on the chosen completions (`cpo_alpha · nll_loss`,
/// default `cpo_alpha = 1`, which TRL adds to `losses.mean()`) and the MoE aux loss.
/// [`rewards`](CpoLoss::rewards) gives TRL's logged rewards (`β·π`, or `β·R(π)`).
/// `label_smoothing` applies to `sigmoid` and `simpo` only; `simpo_gamma` to `simpo` only.
///
/// # Errors
/// [`LossError::Shape`] if `chosen_logps` is not 1-D or `rejected_logps` has
/// another shape; [`LossError::Option`] for a non-finite `beta`,
/// `label_smoothing`, `simpo_gamma` or `alpha`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::trl::{CpoLoss, CpoLossType};
/// let (c, r) = (array![-1.0f64], array![-3.0f64]);
/// let l = CpoLoss::new().loss_type(CpoLossType::Simpo).beta(2.0).forward(c.view(), r.view()).unwrap();
/// // z − γ/β = 2 − 0.25; −log σ(2 · 1.75)
/// assert!((l[[]] - (-3.5f64).exp().ln_1p()).abs() < 1e-15);
/// ```
///
/// # References
/// H. Xu et al., "Contrastive Preference Optimization: Pushing the Boundaries of
/// LLM Performance in Machine Translation" (CPO), ICML 2024; Y. Meng, M. Xia,
/// D. Chen, "SimPO: Simple Preference Optimization with a Reference-Free
/// Reward", NeurIPS 2024; A. Gupta et al., "AlphaPO: Reward Shape Matters for
/// LLM Alignment", ICML 2025. TRL 1.16.0, `trl/experimental/cpo/cpo_trainer.py`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CpoLoss {
    /// The reduction of the per-pair losses (default `Mean`: TRL's).
    pub reduction: Reduction,
    /// The objective (default `sigmoid`).
    pub loss_type: CpoLossType,
    /// β (default 0.1).
    pub beta: f64,
    /// ε of `sigmoid` and `simpo` (default 0).
    pub label_smoothing: f64,
    /// SimPO's target margin γ (default 0.5).
    pub simpo_gamma: f64,
    /// AlphaPO's α (default 0: the log-probabilities themselves).
    pub alpha: f64,
}

impl Default for CpoLoss {
    fn default() -> Self {
        CpoLoss { reduction: Reduction::Mean, loss_type: CpoLossType::Sigmoid, beta: 0.1, label_smoothing: 0.0, simpo_gamma: 0.5, alpha: 0.0 }
    }
}

impl CpoLoss {
    const NAME: &'static str = "cpo_loss";

    /// TRL's `CPOConfig` defaults: `Mean`, `sigmoid`, β = 0.1, ε = 0, γ = 0.5, α = 0.
    pub fn new() -> Self {
        Self::default()
    }
    crate::machinery::methods::setters!(
        /// Sets the objective.
        loss_type: CpoLossType,
        /// Sets β.
        beta: f64,
        /// Sets the label smoothing ε.
        label_smoothing: f64,
        /// Sets SimPO's γ.
        simpo_gamma: f64,
        /// Sets AlphaPO's α.
        alpha: f64
    );

    /// The reward of a log-probability (`p`, or AlphaPO's `R(p)`) and its derivative.
    fn reward(&self, p: f64) -> (f64, f64) {
        if self.alpha == 0.0 {
            return (p, 1.0);
        }
        let q = p.exp().powf(-self.alpha);
        ((1.0 - q) / self.alpha, q)
    }

    fn run<T: Float, D: Dimension>(&self, c: &ArrayView<'_, T, D>, r: &ArrayView<'_, T, D>) -> Result<(Terms, Reducer)> {
        for (o, v) in [("beta", self.beta), ("label_smoothing", self.label_smoothing), ("simpo_gamma", self.simpo_gamma), ("alpha", self.alpha)] {
            finite(Self::NAME, o, v)?;
        }
        let n = batch(Self::NAME, &[("chosen_logps", c.shape()), ("rejected_logps", r.shape())])?;
        let (c, r) = (widen(c), widen(r));
        let (b, ls) = (self.beta, self.label_smoothing);
        let mut t = Terms::new(n);
        for i in 0..n {
            let ((rc, drc), (rr, drr)) = (self.reward(c[i]), self.reward(r[i]));
            let z = rc - rr;
            let (v, g) = match self.loss_type {
                CpoLossType::Sigmoid => smoothed_sigmoid(b, ls, z),
                CpoLossType::Simpo => smoothed_sigmoid(b, ls, z - self.simpo_gamma / b),
                CpoLossType::Hinge => {
                    let (v, d) = relu(1.0 - b * z);
                    (v, -b * d)
                }
                CpoLossType::Ipo => {
                    let e = z - 1.0 / (2.0 * b);
                    (e * e, 2.0 * e)
                }
            };
            t.values[i] = v;
            t.partials[i] = [g * drc, -g * drr, 0.0, 0.0];
        }
        Ok((t, Reducer::counting(self.reduction, &[n], &[n])))
    }

    pair_methods!();

    /// TRL's logged rewards `(β·R(π_c), β·R(π_r))` (`R(p) = p` when `alpha = 0`), detached.
    ///
    /// # Errors
    /// As [`forward`](CpoLoss::forward).
    pub fn rewards<T: Float, D: Dimension>(&self, chosen_logps: ArrayView<'_, T, D>, rejected_logps: ArrayView<'_, T, D>) -> Result<(ArrayD<T>, ArrayD<T>)> {
        self.run(&chosen_logps, &rejected_logps)?;
        let shape = chosen_logps.shape().to_vec();
        let f = |p: &ArrayView<'_, T, D>| narrow::<T>(&shape, widen(p).into_iter().map(|v| self.beta * self.reward(v).0).collect());
        Ok((f(&chosen_logps), f(&rejected_logps)))
    }
}

// ---------------------------------------------------------------------------------------
// trl:odds_ratio_loss

/// `log(1 − exp(x))` as TRL's ORPO computes it (`log1p(−exp(x))` below −ln 2,
/// `log(−expm1(x))` above) and its derivative `−exp(x)/(1 − exp(x)) = exp(x)/expm1(x)`.
fn log1mexp(x: f64) -> (f64, f64) {
    let v = if x < -std::f64::consts::LN_2 { (-x.exp()).ln_1p() } else { (-x.exp_m1()).ln() };
    (v, x.exp() / x.exp_m1())
}

/// ORPO's odds-ratio term, TRL 1.16.0's `ORPOTrainer.odds_ratio_loss`
/// (`trl/experimental/orpo/orpo_trainer.py`: ORPO lives in `trl.experimental`),
/// from the policy's **averaged** per-token log-probabilities of the chosen
/// and rejected completions (ORPO's forward averages them), shape `(B,)`:
///
/// ```text
/// log_odds = (π_c − π_r) − (log(1 − exp(π_c)) − log(1 − exp(π_r)))
/// ℓ = β · log σ(log_odds)
/// ```
///
/// The sign is TRL's: the function returns `β·log σ(·)` (≤ 0), and ORPO's
/// trainer **subtracts** its mean from the chosen completions' NLL
/// (`loss = nll − losses.mean()`, the NLL being outside this function).
/// `log(1 − exp(x))` is computed as TRL's `log1mexp` (two branches at −ln 2);
/// a log-probability ≥ 0 gives NaN. TRL casts the log-probabilities to float32
/// (`.float()`) first; losslab computes in f64 for both precisions (the golden
/// float64 cases bypass that cast).
/// [`terms`](OddsRatioLoss::terms) gives TRL's other outputs, per pair: the
/// rewards `β·π_c`, `β·π_r`, `log σ(log_odds)` and `log_odds` (TRL returns the
/// means of the last two, logged as `log_odds_ratio` and `log_odds_chosen`).
///
/// # Errors
/// [`LossError::Shape`] if `chosen_logps` is not 1-D or `rejected_logps` has
/// another shape; [`LossError::Option`] for a non-finite `beta`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::trl::OddsRatioLoss;
/// let (c, r) = (array![0.5f64.ln()], array![0.2f64.ln()]);
/// let l = OddsRatioLoss::new().beta(1.0).forward(c.view(), r.view()).unwrap();
/// // odds 1 and 0.25: log σ(ln 4) = ln 0.8
/// assert!((l[[]] - 0.8f64.ln()).abs() < 1e-15);
/// ```
///
/// # References
/// J. Hong, N. Lee, J. Thorne, "ORPO: Monolithic Preference Optimization
/// without Reference Model", EMNLP 2024. TRL 1.16.0,
/// `trl/experimental/orpo/orpo_trainer.py`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OddsRatioLoss {
    /// The reduction of the per-pair values (default `Mean`).
    pub reduction: Reduction,
    /// β, the weight of the odds-ratio term (default 0.1, `ORPOConfig.beta`).
    pub beta: f64,
}

impl Default for OddsRatioLoss {
    fn default() -> Self {
        OddsRatioLoss { reduction: Reduction::Mean, beta: 0.1 }
    }
}

/// [`OddsRatioLoss::terms`]: TRL's other outputs, one per pair.
pub type OddsRatioTerms<T> = (ArrayD<T>, ArrayD<T>, ArrayD<T>, ArrayD<T>);

impl OddsRatioLoss {
    const NAME: &'static str = "odds_ratio_loss";

    /// `Mean`, β = 0.1 (`ORPOConfig`).
    pub fn new() -> Self {
        Self::default()
    }
    crate::machinery::methods::setters!(
        /// Sets β.
        beta: f64
    );

    fn log_odds(c: f64, r: f64) -> (f64, f64, f64) {
        let ((lc, dlc), (lr, dlr)) = (log1mexp(c), log1mexp(r));
        ((c - r) - (lc - lr), 1.0 - dlc, -1.0 + dlr)
    }

    fn run<T: Float, D: Dimension>(&self, c: &ArrayView<'_, T, D>, r: &ArrayView<'_, T, D>) -> Result<(Terms, Reducer)> {
        finite(Self::NAME, "beta", self.beta)?;
        let n = batch(Self::NAME, &[("chosen_logps", c.shape()), ("rejected_logps", r.shape())])?;
        let (c, r) = (widen(c), widen(r));
        let mut t = Terms::new(n);
        for i in 0..n {
            let (lo, dc, dr) = Self::log_odds(c[i], r[i]);
            let g = self.beta * sigmoid_f64(-lo);
            t.values[i] = self.beta * log_sigmoid_f64(lo);
            t.partials[i] = [g * dc, g * dr, 0.0, 0.0];
        }
        Ok((t, Reducer::counting(self.reduction, &[n], &[n])))
    }

    pair_methods!();

    /// TRL's other outputs, per pair: `(β·π_c, β·π_r, log σ(log_odds), log_odds)`.
    ///
    /// # Errors
    /// As [`forward`](OddsRatioLoss::forward).
    pub fn terms<T: Float, D: Dimension>(&self, chosen_logps: ArrayView<'_, T, D>, rejected_logps: ArrayView<'_, T, D>) -> Result<OddsRatioTerms<T>> {
        self.run(&chosen_logps, &rejected_logps)?;
        let shape = chosen_logps.shape().to_vec();
        let (c, r) = (widen(&chosen_logps), widen(&rejected_logps));
        let lo: Vec<f64> = c.iter().zip(&r).map(|(&c, &r)| Self::log_odds(c, r).0).collect();
        let v = |x: Vec<f64>| narrow::<T>(&shape, x);
        Ok((
            v(c.iter().map(|x| self.beta * x).collect()),
            v(r.iter().map(|x| self.beta * x).collect()),
            v(lo.iter().map(|&x| log_sigmoid_f64(x)).collect()),
            v(lo),
        ))
    }
}

// ---------------------------------------------------------------------------------------
// trl:kto_loss

choice! {
    /// The objective of [`KtoLoss`], TRL 1.16.0's `KTOConfig.loss_type` (its two
    /// choices). Notation: `β` the `beta`, `l_c = π_c − ref_c`, `l_r = π_r − ref_r`
    /// the log-ratios, `z` the batch's KL estimate ([`KtoLoss`]), `w_d`, `w_u`
    /// the desirable and undesirable weights:
    ///
    /// ```text
    ///                      chosen (desirable)          rejected (undesirable)
    /// kto                  w_d·(1 − σ(β(l_c − z)))     w_u·(1 − σ(β(z − l_r)))     (KTO, Eq. 7)
    /// apo_zero_unpaired    w_d·(1 − σ(βl_c))           w_u·σ(βl_r)                 (APO-zero, unpaired; no KL term)
    /// ```
    ///
    /// # Examples
    /// ```
    /// use losslab::trl::KtoLossType;
    /// assert_eq!("apo_zero_unpaired".parse::<KtoLossType>().unwrap(), KtoLossType::ApoZeroUnpaired);
    /// assert!("sigmoid".parse::<KtoLossType>().is_err());
    /// ```
    KtoLossType, "kto_loss", "loss_type", {
        /// KTO's loss (Ethayarajh et al. 2024), the default.
        #[default]
        Kto = "kto",
        /// The unpaired form of APO-zero (D'Oosterlinck et al. 2024): KTO's shape without the KL term.
        ApoZeroUnpaired = "apo_zero_unpaired",
    }
}

/// The gradients of [`KtoLoss`] with respect to its log-probabilities, each of
/// its input's shape. The KL log-probabilities' are zeros: TRL computes the
/// policy's under `no_grad` and detaches the KL estimate (`None` when they
/// were not given).
#[derive(Debug, Clone, PartialEq)]
pub struct KtoGradients<T> {
    /// Gradient with respect to `policy_chosen_logps`.
    pub policy_chosen_logps: ArrayD<T>,
    /// Gradient with respect to `policy_rejected_logps`.
    pub policy_rejected_logps: ArrayD<T>,
    /// Gradient with respect to `reference_chosen_logps` (autograd's, for the formula as written).
    pub reference_chosen_logps: ArrayD<T>,
    /// Gradient with respect to `reference_rejected_logps`.
    pub reference_rejected_logps: ArrayD<T>,
    /// Gradient with respect to `policy_KL_logps`: zeros (detached).
    pub policy_kl_logps: Option<ArrayD<T>>,
    /// Gradient with respect to `reference_KL_logps`: zeros (detached).
    pub reference_kl_logps: Option<ArrayD<T>>,
}

/// [`KtoLoss::terms`]: TRL's other outputs, `(chosen_rewards, rejected_rewards, kl)`.
pub type KtoTerms<T> = (ArrayD<T>, ArrayD<T>, ArrayD<T>);

/// KTO and unpaired APO-zero, as TRL 1.16.0's `KTOTrainer._compute_loss`
/// (`trl/trainer/kto_trainer.py`; TRL 1.16 has no `kto_loss` method any more:
/// the loss is inline there, after the forward passes) computes them from the
/// per-sequence log-probabilities of an **unpaired** batch: the policy's and the
/// reference model's of the desirable (chosen) completions, shape `(B_c,)`, and
/// of the undesirable (rejected) ones, shape `(B_r,)`, with `B_c` and `B_r`
/// independent (either may be 0), and for `kto` of the mismatched KL
/// completions, shape `(B_k,)`:
///
/// ```text
/// z = max(mean(policy_KL_logps − reference_KL_logps), 0)     detached (kto only; apo_zero_unpaired: 0)
/// losses = [w_d·ℓ_c(l_c), …, w_u·ℓ_r(l_r), …]                 the chosen first, then the rejected
/// ```
///
/// with `ℓ_c`, `ℓ_r` of the [`KtoLossType`] (default `kto`). Under
/// `Reduction::None` the result is that `(B_c + B_r,)` vector; `Mean` (the
/// default) is TRL's `losses.nanmean()`: NaN losses (from NaN inputs) are left
/// out of the mean and their inputs get the gradient `0 · ∂ℓ` (NaN), as
/// PyTorch's; `Sum` is the matching `nansum` and `BatchMean` the `nansum`
/// over `B_c + B_r`. An empty batch has mean NaN.
///
/// The KL estimate `z` is TRL's: the mean over the KL batch (NaN for an empty
/// one, which makes every `kto` loss NaN), clamped at 0 (NaN stays NaN) and
/// detached, so the KL log-probabilities get zero gradients (TRL computes the
/// policy's under `no_grad` too). This is **one process's** value: with
/// several processes TRL averages the processes' means
/// (`accelerator.gather_for_metrics(kl).mean()`) before clamping; pass the
/// whole KL batch of equal per-process parts for the same value. The
/// reference log-probabilities are differentiated as the formula is written
/// (TRL computes them under `no_grad` or takes them precomputed, so they are
/// normally constants). `apo_zero_unpaired` ignores the KL log-probabilities
/// (TRL does not compute them; its `kl` is 0), though their shapes are checked
/// when given. [`terms`](KtoLoss::terms) gives TRL's other outputs: the rewards
/// `β·l_c`, `β·l_r` (detached) and `z`. Outside this function, in TRL: the
/// MoE router's auxiliary loss.
///
/// # Errors
/// [`LossError::Shape`] if a log-probability tensor is not 1-D or a reference
/// one has another shape than its policy one; [`LossError::Option`] for a
/// non-finite `beta`, `desirable_weight` or `undesirable_weight`;
/// [`LossError::Unsupported`] for `kto` without the KL log-probabilities.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::trl::KtoLoss;
/// use losslab::Reduction;
/// // two desirable completions, one undesirable; KL batch of three
/// let (pc, rc) = (array![-10.0f64, -12.0], array![-11.0f64, -12.0]);
/// let (pr, rr) = (array![-9.0f64], array![-10.0f64]);
/// let (pk, rk) = (array![-5.0f64, -6.0, -7.0], array![-5.5f64, -6.5, -7.0]);
/// let l = KtoLoss::new().beta(1.0).reduction(Reduction::None);
/// let v = l.forward(pc.view(), pr.view(), rc.view(), rr.view(), Some((pk.view(), rk.view()))).unwrap();
/// let s = |x: f64| 1.0 / (1.0 + (-x).exp());
/// // z = mean(0.5, 0.5, 0) = 1/3; l_c = 1, 0; l_r = 1
/// let z = 1.0 / 3.0;
/// assert!((v[0] - (1.0 - s(1.0 - z))).abs() < 1e-15);
/// assert!((v[1] - (1.0 - s(-z))).abs() < 1e-15);
/// assert!((v[2] - (1.0 - s(z - 1.0))).abs() < 1e-15);
/// ```
///
/// # References
/// K. Ethayarajh, W. Xu, N. Muennighoff, D. Jurafsky, D. Kiela, "KTO: Model
/// Alignment as Prospect Theoretic Optimization", ICML 2024; K. D'Oosterlinck
/// et al., "Anchored Preference Optimization and Contrastive Revisions:
/// Addressing Underspecification in Alignment" (APO), 2024. TRL 1.16.0,
/// `trl/trainer/kto_trainer.py`, `KTOTrainer._compute_loss`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KtoLoss {
    /// The reduction of the losses (default `Mean`: TRL's `nanmean`).
    pub reduction: Reduction,
    /// The objective (default `kto`).
    pub loss_type: KtoLossType,
    /// β (default 0.1).
    pub beta: f64,
    /// The weight of the desirable (chosen) losses (default 1).
    pub desirable_weight: f64,
    /// The weight of the undesirable (rejected) losses (default 1).
    pub undesirable_weight: f64,
}

impl Default for KtoLoss {
    fn default() -> Self {
        KtoLoss { reduction: Reduction::Mean, loss_type: KtoLossType::Kto, beta: 0.1, desirable_weight: 1.0, undesirable_weight: 1.0 }
    }
}

/// One evaluation of [`KtoLoss`]: the losses (chosen, then rejected), their
/// reducer (its mean over the non-NaN ones), the KL estimate, `B_c`.
struct KtoRun {
    t: Terms,
    r: Reducer,
    kl: f64,
    nc: usize,
}

impl KtoRun {
    /// The result: the losses, or their NaN-skipping reduction.
    fn output<T: Float>(&self) -> ArrayD<T> {
        if self.r.reduction == Reduction::None {
            return self.r.output(self.t.values.clone());
        }
        self.r.output(self.t.values.iter().map(|&v| if v.is_nan() { 0.0 } else { v }).collect())
    }

    /// Each loss's upstream scale: `grad_output`'s, 0 for a NaN loss under a reduction (`nansum`'s backward).
    fn scales<T: Float>(&self, loss: &'static str, grad_output: &ArrayViewD<'_, T>) -> Result<Scales> {
        let s = self.r.scales(loss, grad_output)?;
        if self.r.reduction == Reduction::None {
            return Ok(s);
        }
        Ok(Scales::PerSample(self.t.values.iter().enumerate().map(|(k, v)| if v.is_nan() { 0.0 } else { s.at(k) }).collect()))
    }

    fn grads<T: Float>(&self, shapes: [&[usize]; 4], kl: Option<(&[usize], &[usize])>, s: &Scales) -> KtoGradients<T> {
        let (nc, n) = (self.nc, self.t.values.len());
        let col = |m: usize, items: std::ops::Range<usize>| narrow::<T>(shapes[m], self.t.scatter(m, items.clone(), items.len(), s));
        let zeros = |shape: &[usize]| ArrayD::from_elem(ndarray::IxDyn(shape), T::zero());
        KtoGradients {
            policy_chosen_logps: col(0, 0..nc),
            policy_rejected_logps: col(1, nc..n),
            reference_chosen_logps: col(2, 0..nc),
            reference_rejected_logps: col(3, nc..n),
            policy_kl_logps: kl.map(|(p, _)| zeros(p)),
            reference_kl_logps: kl.map(|(_, r)| zeros(r)),
        }
    }
}

impl KtoLoss {
    const NAME: &'static str = "kto_loss";

    /// TRL's `KTOConfig` defaults: `Mean` (`nanmean`), `kto`, β = 0.1, both weights 1.
    pub fn new() -> Self {
        Self::default()
    }
    crate::machinery::methods::setters!(
        /// Sets the objective.
        loss_type: KtoLossType,
        /// Sets β.
        beta: f64,
        /// Sets the weight of the desirable losses.
        desirable_weight: f64,
        /// Sets the weight of the undesirable losses.
        undesirable_weight: f64,
        /// Sets the reduction of the losses (default `Mean`: TRL's `nanmean`).
        reduction: Reduction
    );

    /// TRL's KL estimate: the clamped mean of the KL log-ratios (0 for `apo_zero_unpaired`).
    fn kl<T: Float, D: Dimension>(&self, kl: Option<(&ArrayView<'_, T, D>, &ArrayView<'_, T, D>)>) -> Result<f64> {
        let shapes = kl.map(|(p, r)| batch(Self::NAME, &[("policy_KL_logps", p.shape()), ("reference_KL_logps", r.shape())]));
        if self.loss_type == KtoLossType::ApoZeroUnpaired {
            shapes.transpose()?;
            return Ok(0.0);
        }
        let Some((p, r)) = kl else {
            return Err(LossError::Unsupported {
                loss: Self::NAME,
                message: "loss_type kto needs `policy_KL_logps` and `reference_KL_logps` (the KL completions' log-probabilities: TRL estimates the KL term from them)".into(),
            });
        };
        let n = shapes.expect("given")?;
        let m = crate::machinery::reduction::sum_f64(widen(p).iter().zip(widen(r)).map(|(a, b)| a - b)) / n as f64;
        Ok(if m.is_nan() { m } else { m.max(0.0) })
    }

    fn run<T: Float, D: Dimension>(
        &self,
        pc: &ArrayView<'_, T, D>,
        pr: &ArrayView<'_, T, D>,
        rc: &ArrayView<'_, T, D>,
        rr: &ArrayView<'_, T, D>,
        kl: Option<(&ArrayView<'_, T, D>, &ArrayView<'_, T, D>)>,
    ) -> Result<KtoRun> {
        for (o, v) in [("beta", self.beta), ("desirable_weight", self.desirable_weight), ("undesirable_weight", self.undesirable_weight)] {
            finite(Self::NAME, o, v)?;
        }
        let nc = batch(Self::NAME, &[("policy_chosen_logps", pc.shape()), ("reference_chosen_logps", rc.shape())])?;
        let nr = batch(Self::NAME, &[("policy_rejected_logps", pr.shape()), ("reference_rejected_logps", rr.shape())])?;
        let z = self.kl(kl)?;
        let (pc, pr, rc, rr) = (widen(pc), widen(pr), widen(rc), widen(rr));
        let (b, wd, wu) = (self.beta, self.desirable_weight, self.undesirable_weight);
        let apo = self.loss_type == KtoLossType::ApoZeroUnpaired;
        let n = nc + nr;
        let mut t = Terms::new(n);
        let mut index = Vec::with_capacity(n);
        for i in 0..nc {
            // w_d·(1 − σ(x)), x = β(l_c − z) (β·l_c for apo_zero_unpaired)
            let l = pc[i] - rc[i];
            let x = if apo { b * l } else { b * (l - z) };
            let g = -wd * b * dsigmoid(x);
            t.values[i] = wd * (1.0 - sigmoid_f64(x));
            t.partials[i] = [g, 0.0, -g, 0.0];
            index.push([i, 0, i, 0]);
        }
        for i in 0..nr {
            let l = pr[i] - rr[i];
            // kto: w_u·(1 − σ(β(z − l_r))); apo_zero_unpaired: w_u·σ(β·l_r); g = ∂/∂l_r
            let (v, g) = if apo {
                (wu * sigmoid_f64(b * l), wu * b * dsigmoid(b * l))
            } else {
                let x = b * (z - l);
                (wu * (1.0 - sigmoid_f64(x)), wu * b * dsigmoid(x))
            };
            t.values[nc + i] = v;
            t.partials[nc + i] = [0.0, g, 0.0, -g];
            index.push([0, i, 0, i]);
        }
        t.index = Some(index);
        let mut r = Reducer::counting(self.reduction, &[n], &[n]);
        r.mean_denominator = t.values.iter().filter(|v| !v.is_nan()).count() as f64;
        Ok(KtoRun { t, r, kl: z, nc })
    }

    /// The losses, reduced as `self.reduction` says. `kl`: `(policy_KL_logps,
    /// reference_KL_logps)`, needed by `kto`.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension>(
        &self,
        policy_chosen_logps: ArrayView<'_, T, D>,
        policy_rejected_logps: ArrayView<'_, T, D>,
        reference_chosen_logps: ArrayView<'_, T, D>,
        reference_rejected_logps: ArrayView<'_, T, D>,
        kl: Option<(ArrayView<'_, T, D>, ArrayView<'_, T, D>)>,
    ) -> Result<ArrayD<T>> {
        let k = self.run(&policy_chosen_logps, &policy_rejected_logps, &reference_chosen_logps, &reference_rejected_logps, kl.as_ref().map(|(a, b)| (a, b)))?;
        Ok(k.output())
    }

    /// The gradients of `Σ grad_output · loss` (`grad_output` has the result's
    /// shape) with respect to the six log-probabilities (the KL ones: zeros).
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does
    /// not have the result's shape.
    pub fn backward<T: Float, D: Dimension>(
        &self,
        policy_chosen_logps: ArrayView<'_, T, D>,
        policy_rejected_logps: ArrayView<'_, T, D>,
        reference_chosen_logps: ArrayView<'_, T, D>,
        reference_rejected_logps: ArrayView<'_, T, D>,
        kl: Option<(ArrayView<'_, T, D>, ArrayView<'_, T, D>)>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<KtoGradients<T>> {
        let k = self.run(&policy_chosen_logps, &policy_rejected_logps, &reference_chosen_logps, &reference_rejected_logps, kl.as_ref().map(|(a, b)| (a, b)))?;
        let s = k.scales(Self::NAME, &grad_output)?;
        let shapes = [policy_chosen_logps.shape(), policy_rejected_logps.shape(), reference_chosen_logps.shape(), reference_rejected_logps.shape()];
        Ok(k.grads(shapes, kl.as_ref().map(|(a, b)| (a.shape(), b.shape())), &s))
    }

    /// The loss and its gradients (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D: Dimension>(
        &self,
        policy_chosen_logps: ArrayView<'_, T, D>,
        policy_rejected_logps: ArrayView<'_, T, D>,
        reference_chosen_logps: ArrayView<'_, T, D>,
        reference_rejected_logps: ArrayView<'_, T, D>,
        kl: Option<(ArrayView<'_, T, D>, ArrayView<'_, T, D>)>,
    ) -> Result<(ArrayD<T>, KtoGradients<T>)> {
        let k = self.run(&policy_chosen_logps, &policy_rejected_logps, &reference_chosen_logps, &reference_rejected_logps, kl.as_ref().map(|(a, b)| (a, b)))?;
        let s = k.scales(Self::NAME, &ones_like_output::<T>(&k.r).view())?;
        let shapes = [policy_chosen_logps.shape(), policy_rejected_logps.shape(), reference_chosen_logps.shape(), reference_rejected_logps.shape()];
        let g = k.grads(shapes, kl.as_ref().map(|(a, b)| (a.shape(), b.shape())), &s);
        Ok((k.output(), g))
    }

    /// TRL's other outputs: the rewards `β·(π_c − ref_c)` (`(B_c,)`) and
    /// `β·(π_r − ref_r)` (`(B_r,)`), detached, and the KL estimate `z` (0-d;
    /// 0 for `apo_zero_unpaired`, where TRL's is `torch.zeros(1)`).
    ///
    /// # Errors
    /// As [`forward`](KtoLoss::forward).
    pub fn terms<T: Float, D: Dimension>(
        &self,
        policy_chosen_logps: ArrayView<'_, T, D>,
        policy_rejected_logps: ArrayView<'_, T, D>,
        reference_chosen_logps: ArrayView<'_, T, D>,
        reference_rejected_logps: ArrayView<'_, T, D>,
        kl: Option<(ArrayView<'_, T, D>, ArrayView<'_, T, D>)>,
    ) -> Result<KtoTerms<T>> {
        let k = self.run(&policy_chosen_logps, &policy_rejected_logps, &reference_chosen_logps, &reference_rejected_logps, kl.as_ref().map(|(a, b)| (a, b)))?;
        let f = |p: &ArrayView<'_, T, D>, q: &ArrayView<'_, T, D>| narrow::<T>(p.shape(), widen(p).iter().zip(widen(q)).map(|(a, b)| self.beta * (a - b)).collect());
        Ok((f(&policy_chosen_logps, &reference_chosen_logps), f(&policy_rejected_logps, &reference_rejected_logps), narrow::<T>(&[], vec![k.kl])))
    }
}

/// [`DpoLoss`] with its defaults and a loss type: `DPOTrainer`'s loss of the four
/// per-sequence log-probabilities (no lengths: `ipo` and `sigmoid_norm` unnormalised).
///
/// # Errors
/// See [`DpoLoss`].
pub fn dpo_loss<T: Float, D: Dimension>(
    chosen_logps: ArrayView<'_, T, D>,
    rejected_logps: ArrayView<'_, T, D>,
    ref_chosen_logps: ArrayView<'_, T, D>,
    ref_rejected_logps: ArrayView<'_, T, D>,
    loss_type: DpoLossType,
) -> Result<ArrayD<T>> {
    DpoLoss::new().loss_type(loss_type).forward(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, None)
}

/// [`CpoLoss`] with its defaults and a loss type.
///
/// # Errors
/// See [`CpoLoss`].
pub fn cpo_loss<T: Float, D: Dimension>(chosen_logps: ArrayView<'_, T, D>, rejected_logps: ArrayView<'_, T, D>, loss_type: CpoLossType) -> Result<ArrayD<T>> {
    CpoLoss::new().loss_type(loss_type).forward(chosen_logps, rejected_logps)
}

/// [`OddsRatioLoss`] with its defaults (β = 0.1).
///
/// # Errors
/// See [`OddsRatioLoss`].
pub fn odds_ratio_loss<T: Float, D: Dimension>(chosen_logps: ArrayView<'_, T, D>, rejected_logps: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
    OddsRatioLoss::new().forward(chosen_logps, rejected_logps)
}

/// [`KtoLoss`] with its defaults and a loss type: `KTOTrainer`'s losses of an
/// unpaired batch, their `nanmean`. `kl`: `(policy_KL_logps, reference_KL_logps)`
/// (needed by `kto`).
///
/// # Errors
/// See [`KtoLoss`].
pub fn kto_loss<T: Float, D: Dimension>(
    policy_chosen_logps: ArrayView<'_, T, D>,
    policy_rejected_logps: ArrayView<'_, T, D>,
    reference_chosen_logps: ArrayView<'_, T, D>,
    reference_rejected_logps: ArrayView<'_, T, D>,
    kl: Option<(ArrayView<'_, T, D>, ArrayView<'_, T, D>)>,
    loss_type: KtoLossType,
) -> Result<ArrayD<T>> {
    KtoLoss::new().loss_type(loss_type).forward(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, kl)
}
