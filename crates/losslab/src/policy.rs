//! Policy-gradient objectives of RL fine-tuning of language models: TRL's GRPO
//! loss (`trl:grpo_loss`, every `loss_type` of `GRPOTrainer`) and PPO's clipped
//! surrogate (`losslab:ppo_clip_loss`), on per-token log-probabilities of
//! sampled completions.
//!
//! The inputs are what the trainers compute from the models, not the models'
//! logits: `per_token_logps` `(B, T)`, the log-probability under the policy
//! being trained of each completion token (`B` completions of `T` tokens,
//! right-padded), the same under the policy that sampled them
//! (`old_per_token_logps`) and under a frozen reference model
//! (`ref_per_token_logps`, for the KL penalty), one advantage per completion
//! `(B,)` (or per token, `(B, T)`), and the completion mask `(B, T)` (1 for a
//! token of the completion, 0 for padding). The gradient with respect to
//! `per_token_logps` is what flows back into the model.
//!
//! Both losses are one scalar. They are computed in `f64` whatever `T`,
//! one task per completion (rayon, when the call is large enough), the
//! per-completion sums combined in a fixed order: the same bits whatever the
//! thread count.

use crate::machinery::error::{check_option, shape_err, LossError, Result};
use crate::machinery::float::Float;
use crate::machinery::kernels::par::{self, SyncPtr};
use crate::machinery::reduction::sum_f64;
use crate::math::sigmoid_f64;
use ndarray::{ArrayD, ArrayView, ArrayViewD, CowArray, Dimension, IxDyn};

use crate::machinery::methods::choice;

choice! {
    /// The objective and normalisation of [`GrpoLoss`], TRL's `GRPOConfig.loss_type`
    /// (`c₁` the importance ratio, `A` the advantage, `m` the mask, `ℓ` the
    /// per-token loss, `Lᵢ = max(Σₜ mᵢₜ, 1)` a completion's length):
    ///
    /// ```text
    /// loss_type  per-token ℓ                              the loss
    /// grpo       −min(c₁A, clip(c₁, 1−ε_low, 1+ε_high) A)  (1/B) Σᵢ Σₜ ℓ m / Lᵢ
    /// bnpo       as grpo                                   Σ ℓ m / max(Σ m, 1)
    /// dr_grpo    as grpo                                   Σ ℓ m / (B · max_completion_length)
    /// dapo       as grpo                                   Σ ℓ m / max(num_items_in_batch, 1)
    /// luspo      as grpo                                   (1/B) Σᵢ Σₜ ℓ m
    /// cispo      −sg(min(c₁, ε_high)) · A · logp           as dapo
    /// sapo       −σ(τ (c₁ − 1)) · 4/τ · A                  as grpo
    /// vespo      −sg(φ(w)) · A · logp                      as dapo
    /// ```
    ///
    /// (`sg`: no gradient, TRL's `.detach()` / `torch.no_grad()`; `τ` the SAPO
    /// temperature of the advantage's sign; `φ` VESPO's gamma weight of the
    /// completion's clamped summed log-ratio `w`.)
    ///
    /// # Examples
    /// ```
    /// use losslab::trl::GrpoLossType;
    /// assert_eq!("dr_grpo".parse::<GrpoLossType>().unwrap(), GrpoLossType::DrGrpo);
    /// assert_eq!(GrpoLossType::default().name(), "dapo");
    /// ```
    GrpoLossType, "grpo_loss", "loss_type", {
        /// GRPO's (Shao et al. 2024) per-completion length normalisation.
        Grpo = "grpo",
        /// The token mean of the local batch.
        Bnpo = "bnpo",
        /// Dr. GRPO (Liu et al. 2025): a constant normaliser, `B · max_completion_length`.
        DrGrpo = "dr_grpo",
        /// DAPO (Yu et al. 2025): the token count of the whole generation batch; TRL's default.
        #[default]
        Dapo = "dapo",
        /// CISPO (MiniMax-M1): the clipped, detached ratio weighting the log-probability.
        Cispo = "cispo",
        /// SAPO: a soft, temperature-controlled gate instead of the clip.
        Sapo = "sapo",
        /// LUSPO: each completion's sum (GSPO scaled by length).
        Luspo = "luspo",
        /// VESPO: a detached gamma weight of the sequence ratio.
        Vespo = "vespo",
    }, default Dapo
}

choice! {
    /// Where [`GrpoLoss`] takes the importance ratio, TRL's
    /// `GRPOConfig.importance_sampling_level`: per token, `c₁ = exp(logp − old)`, or
    /// per completion (GSPO), `c₁ = exp(Σₜ (logp − old) m / max(Σₜ m, 1))`.
    ///
    /// # Examples
    /// ```
    /// use losslab::trl::ImportanceSamplingLevel;
    /// assert_eq!("sequence".parse::<ImportanceSamplingLevel>().unwrap(), ImportanceSamplingLevel::Sequence);
    /// ```
    ImportanceSamplingLevel, "grpo_loss", "importance_sampling_level", {
        /// One ratio per token (the default).
        #[default]
        Token = "token",
        /// One ratio per completion: the exponential of its mean log-ratio.
        Sequence = "sequence",
    }, default Token
}

choice! {
    /// How [`PpoClipLoss`] averages the per-token losses: over every unmasked
    /// token of the batch, `Σ ℓ m / max(Σ m, 1)`, or per sequence first,
    /// `(1/B) Σᵢ Σₜ ℓ m / max(Σₜ m, 1)`.
    ///
    /// # Examples
    /// ```
    /// use losslab::own::PpoLevel;
    /// assert_eq!("sequence".parse::<PpoLevel>().unwrap(), PpoLevel::Sequence);
    /// ```
    PpoLevel, "ppo_clip_loss", "level", {
        /// The masked mean over every token of the batch (the default).
        #[default]
        Token = "token",
        /// The mean over sequences of each sequence's masked token mean.
        Sequence = "sequence",
    }, default Token
}

/// The gradients of [`GrpoLoss`] and [`PpoClipLoss`], each of its input's
/// shape: `old` and `reference` only where those tensors were given.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyGradients<T> {
    /// With respect to the current log-probabilities (`per_token_logps`, `log_probs`).
    pub logps: ArrayD<T>,
    /// With respect to the sampling policy's log-probabilities, where given.
    pub old_logps: Option<ArrayD<T>>,
    /// With respect to the advantages.
    pub advantages: ArrayD<T>,
    /// With respect to the reference model's log-probabilities, where given and
    /// `beta ≠ 0` (with `beta = 0` TRL does not read them: autograd gives none).
    pub ref_logps: Option<ArrayD<T>>,
}

/// The statistics TRL's `GRPOTrainer` logs with its loss, by TRL's name with
/// `/` written `_`: `clip_ratio_low_mean`, `clip_ratio_high_mean`,
/// `clip_ratio_region_mean`, `clip_ratio_low_min`, `clip_ratio_high_max` (the
/// clipped loss types; `float32` values, as TRL computes them), `cispo_clip_ratio`
/// (cispo, `float32`), `vespo_phi_seq_mean` (vespo) and `kl` (the mean per-token
/// KL term, as weighted into the loss, when `beta ≠ 0`).
pub type GrpoMetrics = Vec<(&'static str, f64)>;

/// The loss's inputs, checked and in standard layout.
struct Batch<'a, T> {
    b: usize,
    t: usize,
    lp: CowArray<'a, T, IxDyn>,
    old: Option<CowArray<'a, T, IxDyn>>,
    adv: CowArray<'a, T, IxDyn>,
    adv_per_token: bool,
    mask: Option<CowArray<'a, T, IxDyn>>,
    refl: Option<CowArray<'a, T, IxDyn>>,
    adv_shape: Vec<usize>,
}

/// A view as a standard-layout (row-major, contiguous) array: itself when it is one.
fn standard<T: Clone, D: Dimension>(a: ArrayView<'_, T, D>) -> CowArray<'_, T, IxDyn> {
    let a = a.into_dyn();
    if a.is_standard_layout() {
        CowArray::from(a)
    } else {
        CowArray::from(a.as_standard_layout().into_owned())
    }
}

fn slice<'s, T>(a: &'s CowArray<'_, T, IxDyn>) -> &'s [T] {
    a.as_slice().expect("standard layout")
}

impl<'a, T: Float> Batch<'a, T> {
    #[allow(clippy::too_many_arguments)]
    fn new<D: Dimension, D2: Dimension>(
        loss: &'static str,
        names: [&'static str; 5],
        lp: ArrayView<'a, T, D>,
        old: Option<ArrayView<'a, T, D>>,
        adv: ArrayView<'a, T, D2>,
        mask: Option<ArrayView<'a, T, D>>,
        refl: Option<ArrayView<'a, T, D>>,
    ) -> Result<Self> {
        let [n_lp, n_old, n_adv, n_mask, n_ref] = names;
        if lp.ndim() != 2 {
            return Err(shape_err(loss, n_lp, "(B, T) (2-D: one row of token log-probabilities per completion)", lp.shape()));
        }
        let shape = lp.shape().to_vec();
        let (b, t) = (shape[0], shape[1]);
        let same = |name: &'static str, a: &Option<ArrayView<'a, T, D>>| -> Result<()> {
            match a {
                Some(a) if a.shape() != shape.as_slice() => Err(shape_err(loss, name, format!("{shape:?} (the shape of `{n_lp}`)"), a.shape())),
                _ => Ok(()),
            }
        };
        same(n_old, &old)?;
        same(n_mask, &mask)?;
        same(n_ref, &refl)?;
        let adv_shape = adv.shape().to_vec();
        let adv_per_token = match adv_shape.as_slice() {
            [n] if *n == b => false,
            [n, 1] if *n == b => false,
            [n, m] if *n == b && *m == t => true,
            _ => {
                return Err(shape_err(loss, n_adv, format!("[{b}] or [{b}, 1] (one per completion) or [{b}, {t}] (one per token of `{n_lp}`)"), &adv_shape));
            }
        };
        let adv = standard(adv);
        Ok(Batch {
            b,
            t,
            lp: standard(lp),
            old: old.map(standard),
            adv,
            adv_per_token,
            mask: mask.map(standard),
            refl: refl.map(standard),
            adv_shape,
        })
    }
}

/// The computation both losses share: the options that decide the per-token
/// loss and the normaliser.
#[derive(Debug, Clone, Copy)]
struct Engine {
    loss: &'static str,
    loss_type: GrpoLossType,
    level: ImportanceSamplingLevel,
    beta: f64,
    eps_low: f64,
    eps_high: f64,
    delta: Option<f64>,
    max_completion_length: usize,
    num_items_in_batch: Option<f64>,
    bias_correction: bool,
    sapo_pos: f64,
    sapo_neg: f64,
    vespo: [f64; 4],
}

/// One token's loss and its partial derivatives.
#[derive(Clone, Copy, Default)]
struct Token {
    loss: f64,
    /// ∂ℓ/∂c₁ (c₁ the importance ratio).
    d_c1: f64,
    /// ∂ℓ/∂logp, other than through c₁.
    d_lp: f64,
    /// ∂ℓ/∂A.
    d_adv: f64,
    /// ∂ℓ/∂ref.
    d_ref: f64,
}

/// What one completion contributes.
#[derive(Clone, Copy, Default)]
struct Seq {
    /// Σₜ ℓ m.
    sum: f64,
    /// Σₜ m.
    len: f64,
}

impl Engine {
    fn clipped(self) -> bool {
        matches!(self.loss_type, GrpoLossType::Grpo | GrpoLossType::Bnpo | GrpoLossType::DrGrpo | GrpoLossType::Dapo | GrpoLossType::Luspo)
    }

    /// VESPO's gamma weight φ(w) of a completion's summed log-ratio, for an advantage `a`
    /// (TRL's `get_gamma_weights`, without vLLM's importance-sampling ratio).
    fn vespo_phi(self, seq_log_ratio: f64, a: f64) -> f64 {
        let lower = 1e-8f64.ln();
        // torch.clamp propagates NaN
        let log_w = if seq_log_ratio.is_nan() { seq_log_ratio } else { seq_log_ratio.clamp(lower, 20.0) };
        let w = log_w.exp();
        let [k_pos, l_pos, k_neg, l_neg] = self.vespo;
        let (k, l) = if a >= 0.0 { (k_pos, l_pos) } else { (k_neg, l_neg) };
        // torch.where(cond, k_pos, k_neg) of two Python floats is a float32 tensor:
        // k and λ (and λ's floor 1e-4) are rounded to float32.
        let (k, l) = (f64::from(k as f32), l as f32);
        let l = f64::from(if l.is_nan() { l } else { l.max(1e-4f32) });
        let phi = (l + k * log_w - l * w).exp();
        if phi.is_finite() {
            phi
        } else {
            0.0
        }
    }

    /// The per-token loss at ratio `c1`, advantage `a`, log-probability `lp`,
    /// reference log-probability `rf` (when `beta ≠ 0`), VESPO weight `phi`.
    #[inline]
    fn token(self, c1: f64, a: f64, lp: f64, rf: f64, phi: f64) -> Token {
        let mut k = Token::default();
        match self.loss_type {
            GrpoLossType::Cispo => {
                let cl = if c1.is_nan() { c1 } else { c1.min(self.eps_high) };
                k.loss = -cl * a * lp;
                k.d_lp = -cl * a;
                k.d_adv = -cl * lp;
            }
            GrpoLossType::Sapo => {
                // torch.where(A > 0, τ_pos, τ_neg) of two Python floats: a float32 tensor
                let tau = f64::from((if a > 0.0 { self.sapo_pos } else { self.sapo_neg }) as f32);
                let s = sigmoid_f64(tau * (c1 - 1.0));
                let soft = s * 4.0 / tau;
                k.loss = -soft * a;
                k.d_c1 = -a * 4.0 * s * (1.0 - s);
                k.d_adv = -soft;
            }
            GrpoLossType::Vespo => {
                k.loss = -phi * a * lp;
                k.d_lp = -phi * a;
                k.d_adv = -phi * lp;
            }
            _ => {
                let (lo, hi) = (1.0 - self.eps_low, 1.0 + self.eps_high);
                let c2 = if c1.is_nan() { c1 } else { c1.max(lo).min(hi) };
                let in_clip = if lo <= c1 && c1 <= hi { 1.0 } else { 0.0 };
                let (c1d, in_delta) = match self.delta {
                    Some(d) if c1 > d => (d, 0.0),
                    _ => (c1, 1.0),
                };
                let (p1, p2) = (c1d * a, c2 * a);
                // torch.minimum: the smaller operand's gradient, half to each on a tie
                let (w1, w2) = if p1 < p2 {
                    (1.0, 0.0)
                } else if p1 > p2 {
                    (0.0, 1.0)
                } else {
                    (0.5, 0.5)
                };
                k.loss = -(if p1.is_nan() || p2.is_nan() { f64::NAN } else { p1.min(p2) });
                k.d_c1 = -(w1 * a * in_delta + w2 * a * in_clip);
                k.d_adv = -(w1 * c1d + w2 * c2);
            }
        }
        if self.beta != 0.0 {
            // k3: exp(ref − logp) − (ref − logp) − 1
            let d = rf - lp;
            let e = d.exp();
            let kl = e - d - 1.0;
            let (scale, kl_c1) = if self.bias_correction { (c1, kl) } else { (1.0, 0.0) };
            k.loss += self.beta * kl * scale;
            k.d_c1 += self.beta * kl_c1;
            k.d_lp += self.beta * (1.0 - e) * scale;
            k.d_ref = self.beta * (e - 1.0) * scale;
        }
        k
    }

    /// The factor of completion `i`'s `Σₜ ℓ m` in the loss.
    fn scale(self, b: usize, len_i: f64, total_len: f64) -> f64 {
        let bf = b as f64;
        match self.loss_type {
            GrpoLossType::Grpo | GrpoLossType::Sapo => 1.0 / (len_i.max(1.0) * bf),
            GrpoLossType::Bnpo => 1.0 / total_len.max(1.0),
            GrpoLossType::DrGrpo => 1.0 / (bf * self.max_completion_length as f64),
            GrpoLossType::Dapo | GrpoLossType::Cispo | GrpoLossType::Vespo => 1.0 / self.num_items_in_batch.unwrap_or(total_len).max(1.0),
            GrpoLossType::Luspo => 1.0 / bf,
        }
    }

    /// The loss from the completions' sums, in TRL's order of operations.
    fn combine(self, seqs: &[Seq]) -> f64 {
        let bf = seqs.len() as f64;
        let total_len = sum_f64(seqs.iter().map(|s| s.len));
        let total = || sum_f64(seqs.iter().map(|s| s.sum));
        match self.loss_type {
            GrpoLossType::Grpo | GrpoLossType::Sapo => sum_f64(seqs.iter().map(|s| s.sum / s.len.max(1.0))) / bf,
            GrpoLossType::Bnpo => total() / total_len.max(1.0),
            GrpoLossType::DrGrpo => total() / (bf * self.max_completion_length as f64),
            GrpoLossType::Dapo | GrpoLossType::Cispo | GrpoLossType::Vespo => total() / self.num_items_in_batch.unwrap_or(total_len).max(1.0),
            GrpoLossType::Luspo => total() / bf,
        }
    }

    /// The loss, and with `upstream` (∂/∂loss) the gradients.
    fn run<T: Float>(self, x: &Batch<'_, T>, upstream: Option<f64>) -> (f64, Option<PolicyGradients<T>>) {
        let (b, t) = (x.b, x.t);
        let lp = slice(&x.lp);
        let old = x.old.as_ref().map(slice);
        let adv = slice(&x.adv);
        let mask = x.mask.as_ref().map(slice);
        let refl = x.refl.as_ref().map(slice);
        let m = |j: usize| mask.map_or(1.0, |m| m[j].to_wide());
        // The completions' lengths first: bnpo's and dapo's normalisers need their total.
        let lens: Vec<f64> = (0..b).map(|i| sum_f64((i * t..(i + 1) * t).map(m))).collect();
        let total_len = sum_f64(lens.iter().copied());
        let mut seqs = vec![Seq::default(); b];
        let want = upstream.is_some();
        let go = upstream.unwrap_or(0.0);
        let alloc = |on: bool| if on { vec![T::zero(); b * t] } else { Vec::new() };
        let mut g_lp = alloc(want);
        let mut g_old = alloc(want && old.is_some());
        let mut g_ref = alloc(want && refl.is_some() && self.beta != 0.0);
        let mut g_adv = if want { vec![T::zero(); adv.len()] } else { Vec::new() };
        let (sp, lpp, op, rp, ap) = (
            SyncPtr(seqs.as_mut_ptr()),
            SyncPtr(if want { g_lp.as_mut_ptr() } else { std::ptr::null_mut() }),
            SyncPtr(if g_old.is_empty() { std::ptr::null_mut() } else { g_old.as_mut_ptr() }),
            SyncPtr(if g_ref.is_empty() { std::ptr::null_mut() } else { g_ref.as_mut_ptr() }),
            SyncPtr(if want { g_adv.as_mut_ptr() } else { std::ptr::null_mut() }),
        );
        let seq_level = self.level == ImportanceSamplingLevel::Sequence;
        par::for_each(b, b * t.max(1), |i| {
            let row = i * t..(i + 1) * t;
            let lr = |j: usize| old.map_or(0.0, |o| lp[j].to_wide() - o[j].to_wide());
            let len = lens[i];
            let lc = len.max(1.0);
            let seq_w = if seq_level { sum_f64(row.clone().map(|j| lr(j) * m(j))) / lc } else { 0.0 };
            let seq_c1 = seq_w.exp();
            let vespo_lr = if self.loss_type == GrpoLossType::Vespo {
                sum_f64(row.clone().map(|j| {
                    let r = lr(j);
                    (if r.is_nan() { r } else { r.clamp(-20.0, 20.0) }) * m(j)
                }))
            } else {
                0.0
            };
            let a_of = |j: usize| if x.adv_per_token { adv[j].to_wide() } else { adv[i].to_wide() };
            let rf = |j: usize| refl.map_or(0.0, |r| r[j].to_wide());
            let scale = go * self.scale(b, len, total_len);
            let mut sum = crate::machinery::reduction::Neumaier::default();
            let mut g_seq_w = crate::machinery::reduction::Neumaier::default();
            let mut g_adv_seq = crate::machinery::reduction::Neumaier::default();
            for j in row.clone() {
                let a = a_of(j);
                let c1 = if seq_level { seq_c1 } else { lr(j).exp() };
                let phi = if self.loss_type == GrpoLossType::Vespo { self.vespo_phi(vespo_lr, a) } else { 0.0 };
                let mj = m(j);
                let k = self.token(c1, a, lp[j].to_wide(), rf(j), phi);
                sum.add(k.loss * mj);
                if want {
                    let g = scale * mj;
                    // ∂ℓ/∂w = ∂ℓ/∂c₁ · c₁, w the log-ratio (token) or the completion's mean log-ratio
                    let gw = g * k.d_c1 * c1;
                    let mut glp = g * k.d_lp;
                    if seq_level {
                        g_seq_w.add(gw);
                    } else {
                        glp += gw;
                        if !op.is_null() {
                            // SAFETY: row i is this task's alone.
                            unsafe { *op.add(j) = T::from_wide(-gw) };
                        }
                    }
                    // SAFETY: row i is this task's alone (the per-token buffers); the
                    // sequence-level ones are written once below.
                    unsafe { *lpp.add(j) = T::from_wide(glp) };
                    if !rp.is_null() {
                        unsafe { *rp.add(j) = T::from_wide(g * k.d_ref) };
                    }
                    if x.adv_per_token {
                        unsafe { *ap.add(j) = T::from_wide(g * k.d_adv) };
                    } else {
                        g_adv_seq.add(g * k.d_adv);
                    }
                }
            }
            if want {
                if seq_level {
                    let gs = g_seq_w.total() / lc;
                    for j in row {
                        let gj = gs * m(j);
                        // SAFETY: row i is this task's alone.
                        unsafe {
                            let p = lpp.add(j);
                            *p = T::from_wide((*p).to_wide() + gj);
                        }
                        if !op.is_null() {
                            unsafe { *op.add(j) = T::from_wide(-gj) };
                        }
                    }
                }
                if !x.adv_per_token {
                    // SAFETY: element i is this task's alone.
                    unsafe { *ap.add(i) = T::from_wide(g_adv_seq.total()) };
                }
            }
            // SAFETY: element i is this task's alone.
            unsafe { *sp.add(i) = Seq { sum: sum.total(), len } };
        });
        let value = self.combine(&seqs);
        let grads = want.then(|| {
            let arr = |v: Vec<T>, shape: &[usize]| ArrayD::from_shape_vec(IxDyn(shape), v).expect("shape and length agree");
            let shape = [b, t];
            PolicyGradients {
                logps: arr(g_lp, &shape),
                old_logps: x.old.as_ref().map(|_| arr(g_old, &shape)),
                advantages: arr(g_adv, &x.adv_shape),
                ref_logps: if g_ref.is_empty() { None } else { Some(arr(g_ref, &shape)) },
            }
        });
        (value, grads)
    }

    /// TRL's logged statistics (see [`GrpoMetrics`]).
    fn metrics<T: Float>(self, x: &Batch<'_, T>) -> GrpoMetrics {
        let (b, t) = (x.b, x.t);
        let lp = slice(&x.lp);
        let old = x.old.as_ref().map(slice);
        let adv = slice(&x.adv);
        let mask = x.mask.as_ref().map(slice);
        let refl = x.refl.as_ref().map(slice);
        let m = |j: usize| mask.map_or(1.0, |m| m[j].to_wide());
        let lr = |j: usize| old.map_or(0.0, |o| lp[j].to_wide() - o[j].to_wide());
        let seq_level = self.level == ImportanceSamplingLevel::Sequence;
        let lens: Vec<f64> = (0..b).map(|i| sum_f64((i * t..(i + 1) * t).map(m))).collect();
        let total_len = sum_f64(lens.iter().copied());
        let c1_seq: Vec<f64> = (0..b).map(|i| (sum_f64((i * t..(i + 1) * t).map(|j| lr(j) * m(j))) / lens[i].max(1.0)).exp()).collect();
        let c1 = |i: usize, j: usize| if seq_level { c1_seq[i] } else { lr(j).exp() };
        let a_of = |i: usize, j: usize| if x.adv_per_token { adv[j].to_wide() } else { adv[i].to_wide() };
        // A statistic of shape (B, 1) when the ratio is per completion and so is the advantage.
        let per_seq = seq_level && !x.adv_per_token;
        // global_masked_mean of a 0/1 statistic, in float32 as TRL's `.float()` computes it.
        let frac = |f: &dyn Fn(usize, usize) -> bool| -> f64 {
            let (s, n) = if per_seq {
                ((0..b).filter(|&i| f(i, i * t)).count() as f64, b as f64)
            } else {
                (sum_f64((0..b * t).map(|j| if f(j / t.max(1), j) { m(j) } else { 0.0 })), total_len)
            };
            f64::from(s as f32 / (n as f32).max(1.0))
        };
        // masked_seq_mean of a 0/1 statistic per completion (float32; NaN for an empty one)
        let seq_frac = |f: &dyn Fn(usize, usize) -> bool, i: usize| -> f32 {
            if per_seq {
                if f(i, i * t) {
                    1.0
                } else {
                    0.0
                }
            } else {
                let s = sum_f64((i * t..(i + 1) * t).map(|j| if f(i, j) { m(j) } else { 0.0 }));
                s as f32 / lens[i] as f32
            }
        };
        let mut out: GrpoMetrics = Vec::new();
        if self.beta != 0.0 {
            let kl = |i: usize, j: usize| {
                let d = refl.map_or(0.0, |r| r[j].to_wide()) - lp[j].to_wide();
                let k = d.exp() - d - 1.0;
                if self.bias_correction {
                    k * c1(i, j)
                } else {
                    k
                }
            };
            out.push(("kl", sum_f64((0..b * t).map(|j| kl(j / t, j) * m(j))) / total_len.max(1.0)));
        }
        if self.clipped() {
            let c1d = |i: usize, j: usize| {
                let c = c1(i, j);
                match self.delta {
                    Some(d) if c > d => d,
                    _ => c,
                }
            };
            let (lo, hi) = (1.0 - self.eps_low, 1.0 + self.eps_high);
            let low = |i: usize, j: usize| c1d(i, j) < lo && a_of(i, j) < 0.0;
            let high = |i: usize, j: usize| c1d(i, j) > hi && a_of(i, j) > 0.0;
            let region = |i: usize, j: usize| low(i, j) || high(i, j);
            out.push(("clip_ratio_low_mean", frac(&low)));
            out.push(("clip_ratio_high_mean", frac(&high)));
            out.push(("clip_ratio_region_mean", frac(&region)));
            let lows: Vec<f32> = (0..b).map(|i| seq_frac(&low, i)).filter(|v| !v.is_nan()).collect();
            let highs: Vec<f32> = (0..b).map(|i| seq_frac(&high, i)).filter(|v| !v.is_nan()).collect();
            out.push(("clip_ratio_low_min", lows.iter().copied().reduce(f32::min).map_or(f64::NAN, f64::from)));
            out.push(("clip_ratio_high_max", highs.iter().copied().reduce(f32::max).map_or(f64::NAN, f64::from)));
        } else if self.loss_type == GrpoLossType::Cispo {
            let clipped = |i: usize, j: usize| c1(i, j) > self.eps_high && a_of(i, j) > 0.0;
            out.push(("cispo_clip_ratio", frac(&clipped)));
        } else if self.loss_type == GrpoLossType::Vespo {
            let seq_lr: Vec<f64> = (0..b)
                .map(|i| {
                    sum_f64((i * t..(i + 1) * t).map(|j| {
                        let r = lr(j);
                        (if r.is_nan() { r } else { r.clamp(-20.0, 20.0) }) * m(j)
                    }))
                })
                .collect();
            let v = if x.adv_per_token {
                sum_f64((0..b * t).map(|j| self.vespo_phi(seq_lr[j / t], adv[j].to_wide()) * m(j))) / total_len.max(1.0)
            } else {
                sum_f64((0..b).map(|i| self.vespo_phi(seq_lr[i], adv[i].to_wide()))) / (b as f64).max(1.0)
            };
            out.push(("vespo_phi_seq_mean", v));
        }
        out
    }
}

/// The scalar result's upstream gradient, checked to be 0-d.
fn upstream<T: Float>(loss: &'static str, grad_output: &ArrayViewD<'_, T>) -> Result<f64> {
    if grad_output.ndim() != 0 {
        return Err(shape_err(loss, "grad_output", "[] (the shape of the result: the loss is a scalar)", grad_output.shape()));
    }
    Ok(grad_output.iter().next().expect("0-d").to_wide())
}

fn scalar<T: Float>(v: f64) -> ArrayD<T> {
    ArrayD::from_elem(IxDyn(&[]), T::from_wide(v))
}

// ---------------------------------------------------------------------------------------
// trl:grpo_loss

/// TRL's GRPO loss, exactly as `GRPOTrainer._compute_loss` computes it from
/// per-token log-probabilities (trl 1.16.0), for every `loss_type`.
///
/// With `r = logp − old` (`old` the sampling policy's log-probabilities; when
/// not given, TRL's `per_token_logps.detach()`: the ratio is 1, the gradient
/// still flows), the importance ratio is `c₁ = exp(r)` per token, or
/// `exp(Σₜ r m / max(Σₜ m, 1))` per completion
/// ([`ImportanceSamplingLevel::Sequence`], GSPO). For the clipped loss types
///
/// ```text
/// c₂ = clamp(c₁, 1 − ε_low, 1 + ε_high)
/// c₁ ← min(c₁, δ)                                   (when delta is given: two-sided clipping)
/// ℓ  = −min(c₁ A, c₂ A) + β · KL
/// KL = exp(ref − logp) − (ref − logp) − 1           (the k3 estimator; × c₁ when use_bias_correction_kl)
/// ```
///
/// and the loss is `Σ ℓ m` normalised as [`GrpoLossType`] says (`cispo`, `sapo`
/// and `vespo` change `ℓ` too: see there). TRL's detaches are followed: `old`
/// and `ref` are differentiated as the formula reads them (a given `old`
/// receives `−∂/∂r`; the CISPO ratio and the VESPO weight are detached, so
/// `old` receives nothing there), and `torch.minimum`'s tie (inside the clip
/// range, or `A = 0`) gives half its gradient to each side, as autograd does.
///
/// The mask is a weight, not differentiated (TRL's `completion_mask` is an
/// integer tensor). The result is TRL's in a single process with one
/// gradient-accumulation step and `steps_per_generation = 1` (training and
/// evaluation then agree); `num_items_in_batch` (the DAPO, CISPO and VESPO
/// normaliser) defaults to the mask's sum, as TRL computes it for one batch.
/// Not covered: the vLLM importance-sampling correction, the entropy mask
/// (`top_entropy_quantile`), the off-policy sequence mask, the entropy bonus and
/// the router's auxiliary loss (each off by default in TRL).
///
/// Surprises in the reference: SAPO's temperatures and VESPO's `k` and `λ` are
/// rounded to `float32` (TRL picks them with `torch.where` of two Python floats,
/// which makes a `float32` tensor), whatever the log-probabilities' dtype (the
/// default SAPO `τ_neg = 1.05` is used as 1.0499999523…); `use_bias_correction_kl` is on by default (the KL
/// term is multiplied by the ratio, and so has a gradient through `old`); with
/// `delta`, the clip statistics compare the δ-clamped ratio; `dr_grpo` divides
/// by `B · max_completion_length` whatever the completions' lengths; a
/// completion with no unmasked token contributes 0 (its length is clamped to 1).
///
/// # Errors
/// [`LossError::Shape`] if `per_token_logps` is not 2-D `(B, T)`,
/// `old_per_token_logps`, `completion_mask` or `ref_per_token_logps` has another
/// shape, or `advantages` is not `(B,)`, `(B, 1)` or `(B, T)`;
/// [`LossError::Unsupported`] if `beta ≠ 0` and no `ref_per_token_logps` is
/// given (TRL reads it then); [`LossError::Option`] for a non-finite option, a
/// `max_completion_length` of 0 or a zero SAPO temperature.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::trl::{GrpoLoss, GrpoLossType};
/// let logp = array![[-1.0f64, -2.0], [-0.5, -0.5]];
/// let adv = array![1.0f64, -1.0];
/// let mask = array![[1.0f64, 1.0], [1.0, 0.0]];
/// // on-policy (no old log-probabilities): every ratio is 1, ℓ = −A per token
/// let loss = GrpoLoss::new().loss_type(GrpoLossType::Grpo).forward(logp.view(), None, adv.view(), mask.view(), None).unwrap();
/// assert_eq!(loss[[]], 0.0); // ((−1 − 1)/2 + 1/1) / 2
/// let (_, g) = GrpoLoss::new().forward_backward(logp.view(), None, adv.view(), mask.view(), None).unwrap();
/// assert_eq!(g.logps, array![[-1.0f64 / 3.0, -1.0 / 3.0], [1.0 / 3.0, 0.0]].into_dyn()); // dapo: Σ m = 3
/// ```
///
/// # References
/// Z. Shao et al., "DeepSeekMath: Pushing the Limits of Mathematical Reasoning
/// in Open Language Models" (GRPO), 2024; Q. Yu et al., "DAPO", 2025; Z. Liu et al.,
/// "Understanding R1-Zero-Like Training: A Critical Perspective" (Dr. GRPO), 2025;
/// C. Zheng et al., "Group Sequence Policy Optimization", 2025; TRL
/// `trl/trainer/grpo_trainer.py`, `GRPOTrainer._compute_loss`
/// (<https://github.com/huggingface/trl>), 1.16.0.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GrpoLoss {
    /// The objective and normaliser (default `Dapo`, TRL's default).
    pub loss_type: GrpoLossType,
    /// The KL coefficient β (default 0: no reference model).
    pub beta: f64,
    /// ε_low, TRL's `epsilon` (default 0.2).
    pub epsilon: f64,
    /// ε_high (default `None`: `epsilon`); CISPO's cap on the ratio.
    pub epsilon_high: Option<f64>,
    /// δ, the upper bound of two-sided clipping (default `None`: off).
    pub delta: Option<f64>,
    /// Per-token or per-completion ratios (default `Token`).
    pub importance_sampling_level: ImportanceSamplingLevel,
    /// Dr. GRPO's constant (default 512, `GRPOConfig`'s).
    pub max_completion_length: usize,
    /// The DAPO/CISPO/VESPO normaliser (default `None`: the mask's sum).
    pub num_items_in_batch: Option<f64>,
    /// Multiply the KL term by the ratio (default `true`, TRL's).
    pub use_bias_correction_kl: bool,
    /// SAPO's temperature for positive advantages (default 1.0).
    pub sapo_temperature_pos: f64,
    /// SAPO's temperature for the others (default 1.05).
    pub sapo_temperature_neg: f64,
    /// VESPO's k for non-negative advantages (default 2.0).
    pub vespo_k_pos: f64,
    /// VESPO's λ for non-negative advantages (default 3.0).
    pub vespo_lambda_pos: f64,
    /// VESPO's k for negative advantages (default 3.0).
    pub vespo_k_neg: f64,
    /// VESPO's λ for negative advantages (default 2.0).
    pub vespo_lambda_neg: f64,
}

impl Default for GrpoLoss {
    fn default() -> Self {
        GrpoLoss {
            loss_type: GrpoLossType::Dapo,
            beta: 0.0,
            epsilon: 0.2,
            epsilon_high: None,
            delta: None,
            importance_sampling_level: ImportanceSamplingLevel::Token,
            max_completion_length: 512,
            num_items_in_batch: None,
            use_bias_correction_kl: true,
            sapo_temperature_pos: 1.0,
            sapo_temperature_neg: 1.05,
            vespo_k_pos: 2.0,
            vespo_lambda_pos: 3.0,
            vespo_k_neg: 3.0,
            vespo_lambda_neg: 2.0,
        }
    }
}

const GRPO: &str = "grpo_loss";
const GRPO_NAMES: [&str; 5] = ["per_token_logps", "old_per_token_logps", "advantages", "completion_mask", "ref_per_token_logps"];

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, $name: $ty) -> Self {
            self.$name = $name;
            self
        }
    };
}

impl GrpoLoss {
    /// TRL's defaults (`GRPOConfig`: dapo, β = 0, ε = 0.2, token-level ratios).
    pub fn new() -> Self {
        Self::default()
    }

    setter!(/// Sets the loss type.
        loss_type: GrpoLossType);
    setter!(/// Sets β, the KL coefficient.
        beta: f64);
    setter!(/// Sets ε_low (TRL's `epsilon`).
        epsilon: f64);
    setter!(/// Sets ε_high (`None`: `epsilon`).
        epsilon_high: Option<f64>);
    setter!(/// Sets δ (`None`: no two-sided clipping).
        delta: Option<f64>);
    setter!(/// Sets the importance-sampling level.
        importance_sampling_level: ImportanceSamplingLevel);
    setter!(/// Sets Dr. GRPO's `max_completion_length`.
        max_completion_length: usize);
    setter!(/// Sets the DAPO/CISPO/VESPO token count (`None`: the mask's sum).
        num_items_in_batch: Option<f64>);
    setter!(/// Sets whether the KL term is multiplied by the ratio.
        use_bias_correction_kl: bool);
    setter!(/// Sets SAPO's temperature for positive advantages.
        sapo_temperature_pos: f64);
    setter!(/// Sets SAPO's temperature for the other advantages.
        sapo_temperature_neg: f64);
    setter!(/// Sets VESPO's k for non-negative advantages.
        vespo_k_pos: f64);
    setter!(/// Sets VESPO's λ for non-negative advantages.
        vespo_lambda_pos: f64);
    setter!(/// Sets VESPO's k for negative advantages.
        vespo_k_neg: f64);
    setter!(/// Sets VESPO's λ for negative advantages.
        vespo_lambda_neg: f64);

    fn engine(&self) -> Result<Engine> {
        let finite = |o: &'static str, v: f64| check_option(GRPO, o, v, v.is_finite(), "a finite number");
        finite("beta", self.beta)?;
        finite("epsilon", self.epsilon)?;
        if let Some(e) = self.epsilon_high {
            finite("epsilon_high", e)?;
        }
        if let Some(d) = self.delta {
            finite("delta", d)?;
        }
        if let Some(n) = self.num_items_in_batch {
            finite("num_items_in_batch", n)?;
        }
        check_option(GRPO, "max_completion_length", self.max_completion_length as f64, self.max_completion_length > 0, "a length ≥ 1")?;
        for (o, v) in [("sapo_temperature_pos", self.sapo_temperature_pos), ("sapo_temperature_neg", self.sapo_temperature_neg)] {
            check_option(GRPO, o, v, v.is_finite() && v != 0.0, "a finite, non-zero number")?;
        }
        for (o, v) in [("vespo_k_pos", self.vespo_k_pos), ("vespo_lambda_pos", self.vespo_lambda_pos), ("vespo_k_neg", self.vespo_k_neg), ("vespo_lambda_neg", self.vespo_lambda_neg)] {
            finite(o, v)?;
        }
        Ok(Engine {
            loss: GRPO,
            loss_type: self.loss_type,
            level: self.importance_sampling_level,
            beta: self.beta,
            eps_low: self.epsilon,
            eps_high: self.epsilon_high.unwrap_or(self.epsilon),
            delta: self.delta,
            max_completion_length: self.max_completion_length,
            num_items_in_batch: self.num_items_in_batch,
            bias_correction: self.use_bias_correction_kl,
            sapo_pos: self.sapo_temperature_pos,
            sapo_neg: self.sapo_temperature_neg,
            vespo: [self.vespo_k_pos, self.vespo_lambda_pos, self.vespo_k_neg, self.vespo_lambda_neg],
        })
    }

    #[allow(clippy::type_complexity)]
    fn prepare<'a, T: Float, D: Dimension, D2: Dimension>(
        &self,
        per_token_logps: ArrayView<'a, T, D>,
        old_per_token_logps: Option<ArrayView<'a, T, D>>,
        advantages: ArrayView<'a, T, D2>,
        completion_mask: ArrayView<'a, T, D>,
        ref_per_token_logps: Option<ArrayView<'a, T, D>>,
    ) -> Result<(Engine, Batch<'a, T>)> {
        let e = self.engine()?;
        let x = Batch::new(GRPO, GRPO_NAMES, per_token_logps, old_per_token_logps, advantages, Some(completion_mask), ref_per_token_logps)?;
        if e.beta != 0.0 && x.refl.is_none() {
            return Err(LossError::Unsupported {
                loss: GRPO,
                message: format!("beta = {} needs `ref_per_token_logps` (the reference model's log-probabilities: TRL reads them whenever beta ≠ 0)", self.beta),
            });
        }
        Ok((e, x))
    }

    /// The loss, a 0-d array.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension, D2: Dimension>(
        &self,
        per_token_logps: ArrayView<'_, T, D>,
        old_per_token_logps: Option<ArrayView<'_, T, D>>,
        advantages: ArrayView<'_, T, D2>,
        completion_mask: ArrayView<'_, T, D>,
        ref_per_token_logps: Option<ArrayView<'_, T, D>>,
    ) -> Result<ArrayD<T>> {
        let (e, x) = self.prepare(per_token_logps, old_per_token_logps, advantages, completion_mask, ref_per_token_logps)?;
        Ok(scalar(e.run(&x, None).0))
    }

    /// The gradients of `grad_output · loss` (`grad_output` 0-d) with respect to
    /// `per_token_logps`, `old_per_token_logps` and `ref_per_token_logps` (where
    /// given; `ref_per_token_logps` only when `beta ≠ 0`) and `advantages`.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` is not 0-d.
    pub fn backward<T: Float, D: Dimension, D2: Dimension>(
        &self,
        per_token_logps: ArrayView<'_, T, D>,
        old_per_token_logps: Option<ArrayView<'_, T, D>>,
        advantages: ArrayView<'_, T, D2>,
        completion_mask: ArrayView<'_, T, D>,
        ref_per_token_logps: Option<ArrayView<'_, T, D>>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<PolicyGradients<T>> {
        let (e, x) = self.prepare(per_token_logps, old_per_token_logps, advantages, completion_mask, ref_per_token_logps)?;
        let go = upstream(e.loss, &grad_output)?;
        Ok(e.run(&x, Some(go)).1.expect("gradients requested"))
    }

    /// The loss and its gradients, in one pass.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D: Dimension, D2: Dimension>(
        &self,
        per_token_logps: ArrayView<'_, T, D>,
        old_per_token_logps: Option<ArrayView<'_, T, D>>,
        advantages: ArrayView<'_, T, D2>,
        completion_mask: ArrayView<'_, T, D>,
        ref_per_token_logps: Option<ArrayView<'_, T, D>>,
    ) -> Result<(ArrayD<T>, PolicyGradients<T>)> {
        let (e, x) = self.prepare(per_token_logps, old_per_token_logps, advantages, completion_mask, ref_per_token_logps)?;
        let (v, g) = e.run(&x, Some(1.0));
        Ok((scalar(v), g.expect("gradients requested")))
    }

    /// The statistics TRL logs with the loss ([`GrpoMetrics`]).
    ///
    /// # Errors
    /// As [`forward`](Self::forward).
    pub fn metrics<T: Float, D: Dimension, D2: Dimension>(
        &self,
        per_token_logps: ArrayView<'_, T, D>,
        old_per_token_logps: Option<ArrayView<'_, T, D>>,
        advantages: ArrayView<'_, T, D2>,
        completion_mask: ArrayView<'_, T, D>,
        ref_per_token_logps: Option<ArrayView<'_, T, D>>,
    ) -> Result<GrpoMetrics> {
        let (e, x) = self.prepare(per_token_logps, old_per_token_logps, advantages, completion_mask, ref_per_token_logps)?;
        Ok(e.metrics(&x))
    }
}

/// [`GrpoLoss`] with TRL's defaults (`dapo`, β = 0, ε = 0.2).
///
/// # Errors
/// See [`GrpoLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let logp = array![[-1.0f64, -2.0]];
/// let l = losslab::trl::grpo_loss(logp.view(), None, array![2.0f64].view(), array![[1.0f64, 1.0]].view(), None).unwrap();
/// assert_eq!(l[[]], -2.0);
/// ```
pub fn grpo_loss<T: Float, D: Dimension, D2: Dimension>(
    per_token_logps: ArrayView<'_, T, D>,
    old_per_token_logps: Option<ArrayView<'_, T, D>>,
    advantages: ArrayView<'_, T, D2>,
    completion_mask: ArrayView<'_, T, D>,
    ref_per_token_logps: Option<ArrayView<'_, T, D>>,
) -> Result<ArrayD<T>> {
    GrpoLoss::new().forward(per_token_logps, old_per_token_logps, advantages, completion_mask, ref_per_token_logps)
}

// ---------------------------------------------------------------------------------------
// losslab:ppo_clip_loss

/// PPO's clipped surrogate objective (Schulman et al. 2017) per token, as a
/// loss to minimise, averaged over the unmasked tokens:
///
/// ```text
/// r = exp(logp − old_logp)
/// ℓ = −min(r A, clamp(r, 1 − ε_low, 1 + ε_high) A) = max(−A r, −A clamp(r, 1 − ε_low, 1 + ε_high))
/// loss = Σ ℓ m / max(Σ m, 1)                        (level token, the default)
///      = (1/B) Σᵢ Σₜ ℓ m / max(Σₜ m, 1)             (level sequence)
/// ```
///
/// `A` is one advantage per sequence `(B,)` (or `(B, 1)`), broadcast over its
/// tokens, or one per token `(B, T)` (GAE's). `mask` (default all ones) is a
/// weight, not differentiated. The gradients are autograd's of the formula:
/// `log_probs`, `old_log_probs` (the ratio's `−∂/∂r`) and `advantages`; inside
/// the clip range the two operands of the min are equal and autograd's tie gives
/// half the gradient to each (the sum is the unclipped gradient).
///
/// In: the clipped policy term with asymmetric ε (DAPO's clip-higher). Out: the
/// value-function loss (PPO's `c₁ (V − R)²`, clipped or not) and the entropy bonus
/// (`− c₂ H`): they take other tensors (values, returns, logits) and are
/// separate terms a caller adds; the KL penalty to a reference policy is
/// [`GrpoLoss`]'s `beta`. This is the per-token form TRL's former `PPOTrainer`
/// computed (`max(pg_losses, pg_losses2)` with a masked mean); trl 1.16.0 no
/// longer ships a PPO trainer, so the golden cases are a float64 PyTorch
/// program of the formula above.
///
/// # Errors
/// [`LossError::Shape`] if `log_probs` is not 2-D `(B, T)`, `old_log_probs` or
/// `mask` has another shape, or `advantages` is not `(B,)`, `(B, 1)` or `(B, T)`;
/// [`LossError::Option`] for a non-finite `clip_epsilon` or `clip_epsilon_high`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::own::PpoClipLoss;
/// let logp = array![[0.5f64.ln(), 0.5f64.ln()]];
/// let old = array![[0.25f64.ln(), 0.5f64.ln()]];
/// // r = (2, 1): the first token's gain is clipped at 1.2
/// let l = PpoClipLoss::new().forward(logp.view(), old.view(), array![1.0f64].view(), None).unwrap();
/// assert!((l[[]] - -(1.2 + 1.0) / 2.0).abs() < 1e-15);
/// ```
///
/// # References
/// J. Schulman, F. Wolski, P. Dhariwal, A. Radford, O. Klimov, "Proximal Policy
/// Optimization Algorithms", arXiv:1707.06347, 2017 (eq. 7); Q. Yu et al., "DAPO"
/// (clip-higher), 2025.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PpoClipLoss {
    /// ε_low (default 0.2, the paper's).
    pub clip_epsilon: f64,
    /// ε_high (default `None`: `clip_epsilon`).
    pub clip_epsilon_high: Option<f64>,
    /// Token or sequence mean (default `Token`).
    pub level: PpoLevel,
}

impl Default for PpoClipLoss {
    fn default() -> Self {
        PpoClipLoss { clip_epsilon: 0.2, clip_epsilon_high: None, level: PpoLevel::Token }
    }
}

const PPO: &str = "ppo_clip_loss";
const PPO_NAMES: [&str; 5] = ["log_probs", "old_log_probs", "advantages", "mask", "ref_log_probs"];

impl PpoClipLoss {
    /// ε = 0.2, the token mean.
    pub fn new() -> Self {
        Self::default()
    }

    setter!(/// Sets ε_low.
        clip_epsilon: f64);
    setter!(/// Sets ε_high (`None`: `clip_epsilon`).
        clip_epsilon_high: Option<f64>);
    setter!(/// Sets the token or sequence mean.
        level: PpoLevel);

    fn engine(&self) -> Result<Engine> {
        check_option(PPO, "clip_epsilon", self.clip_epsilon, self.clip_epsilon.is_finite(), "a finite number")?;
        if let Some(e) = self.clip_epsilon_high {
            check_option(PPO, "clip_epsilon_high", e, e.is_finite(), "a finite number")?;
        }
        // The token mean is GRPO's bnpo normaliser, the sequence mean its grpo one.
        let loss_type = match self.level {
            PpoLevel::Token => GrpoLossType::Bnpo,
            PpoLevel::Sequence => GrpoLossType::Grpo,
        };
        Ok(Engine {
            loss: PPO,
            loss_type,
            level: ImportanceSamplingLevel::Token,
            beta: 0.0,
            eps_low: self.clip_epsilon,
            eps_high: self.clip_epsilon_high.unwrap_or(self.clip_epsilon),
            delta: None,
            max_completion_length: 1,
            num_items_in_batch: None,
            bias_correction: false,
            sapo_pos: 1.0,
            sapo_neg: 1.0,
            vespo: [0.0; 4],
        })
    }

    /// The loss, a 0-d array.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension, D2: Dimension>(
        &self,
        log_probs: ArrayView<'_, T, D>,
        old_log_probs: ArrayView<'_, T, D>,
        advantages: ArrayView<'_, T, D2>,
        mask: Option<ArrayView<'_, T, D>>,
    ) -> Result<ArrayD<T>> {
        let e = self.engine()?;
        let x = Batch::new(PPO, PPO_NAMES, log_probs, Some(old_log_probs), advantages, mask, None)?;
        Ok(scalar(e.run(&x, None).0))
    }

    /// The gradients of `grad_output · loss` (`grad_output` 0-d) with respect to
    /// `log_probs`, `old_log_probs` and `advantages`.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` is not 0-d.
    pub fn backward<T: Float, D: Dimension, D2: Dimension>(
        &self,
        log_probs: ArrayView<'_, T, D>,
        old_log_probs: ArrayView<'_, T, D>,
        advantages: ArrayView<'_, T, D2>,
        mask: Option<ArrayView<'_, T, D>>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<PolicyGradients<T>> {
        let e = self.engine()?;
        let x = Batch::new(PPO, PPO_NAMES, log_probs, Some(old_log_probs), advantages, mask, None)?;
        let go = upstream(PPO, &grad_output)?;
        Ok(e.run(&x, Some(go)).1.expect("gradients requested"))
    }

    /// The loss and its gradients, in one pass.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D: Dimension, D2: Dimension>(
        &self,
        log_probs: ArrayView<'_, T, D>,
        old_log_probs: ArrayView<'_, T, D>,
        advantages: ArrayView<'_, T, D2>,
        mask: Option<ArrayView<'_, T, D>>,
    ) -> Result<(ArrayD<T>, PolicyGradients<T>)> {
        let e = self.engine()?;
        let x = Batch::new(PPO, PPO_NAMES, log_probs, Some(old_log_probs), advantages, mask, None)?;
        let (v, g) = e.run(&x, Some(1.0));
        Ok((scalar(v), g.expect("gradients requested")))
    }
}

/// [`PpoClipLoss`] with ε = 0.2, the token mean over `mask`.
///
/// # Errors
/// See [`PpoClipLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let lp = array![[-1.0f64, -2.0]];
/// let l = losslab::own::ppo_clip_loss(lp.view(), lp.view(), array![3.0f64].view(), None).unwrap();
/// assert_eq!(l[[]], -3.0);
/// ```
pub fn ppo_clip_loss<T: Float, D: Dimension, D2: Dimension>(
    log_probs: ArrayView<'_, T, D>,
    old_log_probs: ArrayView<'_, T, D>,
    advantages: ArrayView<'_, T, D2>,
    mask: Option<ArrayView<'_, T, D>>,
) -> Result<ArrayD<T>> {
    PpoClipLoss::new().forward(log_probs, old_log_probs, advantages, mask)
}
