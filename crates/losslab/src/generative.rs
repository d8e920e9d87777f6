//! Generative models' losses: the GAN losses (generator and discriminator, five
//! kinds), the gradient penalty of WGAN-GP and R1, the VAE's KL term and
//! negative ELBO, and diffusion's min-SNR-γ weighted MSE.
//!
//! The GAN, penalty and VAE losses have no single reference library: their
//! golden cases are float64 PyTorch programs written from the papers
//! (`scripts/golden/generative.py`), under losslab's own names (`losslab:`).
//! The min-SNR loss is diffusers' (`diffusers:min_snr_loss`): its training
//! script's loss around `diffusers.training_utils.compute_snr`, whose
//! float32 SNR it reproduces to the bit.
//!
//! Each loss is one value per sample (the first axis) or per element, reduced
//! by its `reduction` (default `Mean`: the mean the papers and scripts take).

use crate::machinery::error::{check_option, same_shape, shape_err, LossError, Result};
use crate::machinery::float::{narrow, widen, ClassIndex, Float};
use crate::machinery::lanes::{Eval, Upstream};
use crate::machinery::methods::{free_fn, loss_methods, setters};
use crate::machinery::reduction::{sum_f64, Gradients, Reducer, Reduction};
use crate::math::{sigmoid_f64, softplus_f64};
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension};

use crate::machinery::methods::choice;

/// The reduced result and, when asked for, the per-element upstream scales of
/// an element-wise or per-sample loss: `values` are the unreduced losses.
fn reducer(reduction: Reduction, out_shape: &[usize]) -> Reducer {
    Reducer::counting(reduction, out_shape, out_shape)
}

// ---------------------------------------------------------------------------------------
// GAN losses

choice! {
    /// The GAN objective of [`GanGeneratorLoss`] and [`GanDiscriminatorLoss`]
    /// (`r`, `f`: the discriminator's logits on real and generated samples):
    ///
    /// ```text
    /// kind             discriminator ℓ(r, f)              generator ℓ(f)
    /// non_saturating   −log σ(r) − log(1 − σ(f))          −log σ(f)
    /// minimax          −log σ(r) − log(1 − σ(f))          log(1 − σ(f))
    /// hinge            max(0, 1 − r) + max(0, 1 + f)      −f
    /// least_squares    ½ (r − 1)² + ½ f²                  ½ (f − 1)²
    /// wasserstein      f − r                              −f
    /// ```
    ///
    /// # Examples
    /// ```
    /// use losslab::own::GanKind;
    /// assert_eq!("hinge".parse::<GanKind>().unwrap(), GanKind::Hinge);
    /// assert_eq!(GanKind::default().name(), "non_saturating");
    /// ```
    GanKind, "gan_loss", "kind", {
        /// Goodfellow et al. (2014)'s practical generator loss (`−log D(G(z))`), the default.
        #[default]
        NonSaturating = "non_saturating",
        /// The original minimax game: the generator minimises `log(1 − D(G(z)))`.
        Minimax = "minimax",
        /// The hinge loss (Lim & Ye 2017; SAGAN, BigGAN).
        Hinge = "hinge",
        /// Least squares GAN (Mao et al. 2017) with targets `a = 0`, `b = c = 1` and the paper's ½.
        LeastSquares = "least_squares",
        /// Wasserstein GAN (Arjovsky et al. 2017): the critic's scores, unbounded.
        Wasserstein = "wasserstein",
    }, default NonSaturating
}

/// The gradients of [`GanDiscriminatorLoss`]: with respect to the logits on real and generated samples.
#[derive(Debug, Clone, PartialEq)]
pub struct GanDiscriminatorGradients<T> {
    /// Gradient with respect to `real_logits`.
    pub real_logits: ArrayD<T>,
    /// Gradient with respect to `fake_logits`.
    pub fake_logits: ArrayD<T>,
}

/// The GAN generator's loss from the discriminator's logits on generated
/// samples, one value per element, for each [`GanKind`] (default
/// `non_saturating`: `−log σ(f) = softplus(−f)`).
///
/// The log-sigmoid forms are evaluated stably (softplus), so a logit of ±1000
/// gives a finite loss and gradient, as PyTorch's
/// `binary_cross_entropy_with_logits` (which the golden cases call) does. No
/// reference library ships these losses: the golden cases are float64 PyTorch
/// programs of the table in [`GanKind`].
///
/// # Errors
/// None beyond the reduction's upstream gradient: every shape is accepted.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::own::{GanGeneratorLoss, GanKind};
/// let f = array![0.0f64, 2.0];
/// let l = GanGeneratorLoss::new().forward(f.view()).unwrap();
/// assert!((l[[]] - (2f64.ln() + (-2.0f64).exp().ln_1p()) / 2.0).abs() < 1e-15);
/// let l = GanGeneratorLoss::new().kind(GanKind::Hinge).forward(f.view()).unwrap();
/// assert_eq!(l[[]], -1.0);
/// ```
///
/// # References
/// I. Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014; X. Mao et
/// al., "Least Squares Generative Adversarial Networks", ICCV 2017; M. Arjovsky,
/// S. Chintala, L. Bottou, "Wasserstein GAN", ICML 2017; J. H. Lim, J. C. Ye,
/// "Geometric GAN", 2017.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GanGeneratorLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// The objective (default `non_saturating`).
    pub kind: GanKind,
}

impl Default for GanGeneratorLoss {
    fn default() -> Self {
        GanGeneratorLoss { reduction: Reduction::Mean, kind: GanKind::NonSaturating }
    }
}

impl GanGeneratorLoss {
    const NAME: &'static str = "gan_generator_loss";

    /// `Mean`, `non_saturating`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the objective.
        kind: GanKind
    );

    /// The loss of one logit and its derivative.
    fn term(&self, f: f64) -> (f64, f64) {
        match self.kind {
            GanKind::NonSaturating => (softplus_f64(-f), -sigmoid_f64(-f)),
            GanKind::Minimax => (-softplus_f64(f), -sigmoid_f64(f)),
            GanKind::Hinge | GanKind::Wasserstein => (-f, -1.0),
            GanKind::LeastSquares => (0.5 * (f - 1.0) * (f - 1.0), f - 1.0),
        }
    }

    fn eval<T: Float, D: Dimension>(&self, fake_logits: ArrayView<'_, T, D>, up: &Upstream<'_, T>) -> Result<Eval<T, Gradients<T>>> {
        let shape = fake_logits.shape();
        let r = reducer(self.reduction, shape);
        let f = widen(&fake_logits);
        let value = r.output(f.iter().map(|&f| self.term(f).0).collect());
        let grads = up.scales(Self::NAME, &r)?.map(|s| Gradients {
            input: narrow(shape, f.iter().enumerate().map(|(i, &f)| s.at(i) * self.term(f).1).collect()),
            target: None,
        });
        Ok((value, grads))
    }

    loss_methods!(torch: eval, (fake_logits: float), "`input` w.r.t. `fake_logits` (`target`: `None`)");
}

/// The GAN discriminator's (critic's) loss from its logits on real and
/// generated samples, one value per element pair, for each [`GanKind`]
/// (default `non_saturating`, whose discriminator loss is the minimax one:
/// `−log σ(r) − log(1 − σ(f)) = softplus(−r) + softplus(f)`).
///
/// `real_logits` and `fake_logits` have one shape (one real and one generated
/// sample per element); `Mean` is then `mean(real term) + mean(fake term)`, the
/// usual form. The hinge's kinks (`r = 1`, `f = −1`) pass no gradient
/// (PyTorch's `relu`). No reference library ships these losses: the golden cases are float64
/// PyTorch programs of the table in [`GanKind`].
///
/// # Errors
/// [`LossError::Shape`] if the two tensors' shapes differ.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::own::{GanDiscriminatorLoss, GanKind};
/// let (r, f) = (array![2.0f64, 0.5], array![-1.5f64, 0.0]);
/// let l = GanDiscriminatorLoss::new().kind(GanKind::Wasserstein).forward(r.view(), f.view()).unwrap();
/// assert_eq!(l[[]], ((-1.5 - 2.0) + (0.0 - 0.5)) / 2.0);
/// ```
///
/// # References
/// As [`GanGeneratorLoss`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GanDiscriminatorLoss {
    /// The reduction (default `Mean`).
    pub reduction: Reduction,
    /// The objective (default `non_saturating`).
    pub kind: GanKind,
}

impl Default for GanDiscriminatorLoss {
    fn default() -> Self {
        GanDiscriminatorLoss { reduction: Reduction::Mean, kind: GanKind::NonSaturating }
    }
}

impl GanDiscriminatorLoss {
    const NAME: &'static str = "gan_discriminator_loss";

    /// `Mean`, `non_saturating`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the objective.
        kind: GanKind
    );

    /// The loss of one pair and its derivatives `(ℓ, ∂ℓ/∂r, ∂ℓ/∂f)`.
    fn term(&self, r: f64, f: f64) -> (f64, f64, f64) {
        match self.kind {
            GanKind::NonSaturating | GanKind::Minimax => (softplus_f64(-r) + softplus_f64(f), -sigmoid_f64(-r), sigmoid_f64(f)),
            GanKind::Hinge => {
                let (a, b) = (1.0 - r, 1.0 + f);
                let relu = |x: f64| if x.is_nan() { x } else { x.max(0.0) };
                (relu(a) + relu(b), if a > 0.0 { -1.0 } else { 0.0 }, if b > 0.0 { 1.0 } else { 0.0 })
            }
            GanKind::LeastSquares => (0.5 * (r - 1.0) * (r - 1.0) + 0.5 * f * f, r - 1.0, f),
            GanKind::Wasserstein => (f - r, -1.0, 1.0),
        }
    }

    fn eval<T: Float, D: Dimension>(
        &self,
        real_logits: ArrayView<'_, T, D>,
        fake_logits: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, GanDiscriminatorGradients<T>>> {
        same_shape(Self::NAME, "real_logits", real_logits.shape(), "fake_logits", fake_logits.shape())?;
        let shape = real_logits.shape();
        let red = reducer(self.reduction, shape);
        let (r, f) = (widen(&real_logits), widen(&fake_logits));
        let value = red.output(r.iter().zip(&f).map(|(&r, &f)| self.term(r, f).0).collect());
        let grads = up.scales(Self::NAME, &red)?.map(|s| {
            let t: Vec<(f64, f64, f64)> = r.iter().zip(&f).map(|(&r, &f)| self.term(r, f)).collect();
            GanDiscriminatorGradients {
                real_logits: narrow(shape, t.iter().enumerate().map(|(i, t)| s.at(i) * t.1).collect()),
                fake_logits: narrow(shape, t.iter().enumerate().map(|(i, t)| s.at(i) * t.2).collect()),
            }
        });
        Ok((value, grads))
    }

    loss_methods!(torch: eval -> GanDiscriminatorGradients<T>, (real_logits: float, fake_logits: float), "with respect to `real_logits` and `fake_logits`");
}

// ---------------------------------------------------------------------------------------
// Gradient penalty

choice! {
    /// The penalty of [`GradientPenalty`] on each sample's gradient norm `‖∇ᵢ‖₂`.
    ///
    /// # Examples
    /// ```
    /// use losslab::own::PenaltyKind;
    /// assert_eq!("r1".parse::<PenaltyKind>().unwrap(), PenaltyKind::R1);
    /// ```
    PenaltyKind, "gradient_penalty", "kind", {
        /// WGAN-GP (Gulrajani et al. 2017): `(‖∇ᵢ‖₂ − target)²`, the default.
        #[default]
        WganGp = "wgan_gp",
        /// R1 (Mescheder et al. 2018): `‖∇ᵢ‖₂²` (without the paper's `γ/2`; `target` unused).
        R1 = "r1",
    }, default WganGp
}

/// The gradient penalty of a critic, from the gradients of its output with
/// respect to its input (`torch.autograd.grad(D(x̂).sum(), x̂, create_graph=True)`,
/// given here as a tensor `(N, ...)`): one value per sample,
///
/// ```text
/// wgan_gp:  ℓᵢ = (‖∇ᵢ‖₂ − target)²      ‖∇ᵢ‖₂ = √(Σ over the sample's elements ∇²)
/// r1:       ℓᵢ = ‖∇ᵢ‖₂²
/// ```
///
/// Multiply by the penalty's weight (WGAN-GP's λ = 10, R1's γ/2) yourself.
/// Where a sample's gradient is all zeros, `wgan_gp`'s derivative is 0 (PyTorch's
/// `norm` backward at 0, which the golden cases' `torch.linalg.vector_norm` gives).
/// No reference library ships it: the golden cases are float64 PyTorch programs.
///
/// # Errors
/// [`LossError::Shape`] for a 0-d `gradients` (it needs a batch axis);
/// [`LossError::Option`] for a non-finite `target`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::own::GradientPenalty;
/// let g = array![[3.0f64, 4.0], [0.0, 1.0]];
/// let l = GradientPenalty::new().forward(g.view()).unwrap();
/// assert_eq!(l[[]], ((5.0 - 1.0f64).powi(2) + 0.0) / 2.0);
/// ```
///
/// # References
/// I. Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017;
/// L. Mescheder, A. Geiger, S. Nowozin, "Which Training Methods for GANs do
/// actually Converge?", ICML 2018.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GradientPenalty {
    /// The reduction of the per-sample penalties (default `Mean`).
    pub reduction: Reduction,
    /// The penalty (default `wgan_gp`).
    pub kind: PenaltyKind,
    /// The target norm of `wgan_gp` (default 1).
    pub target: f64,
}

impl Default for GradientPenalty {
    fn default() -> Self {
        GradientPenalty { reduction: Reduction::Mean, kind: PenaltyKind::WganGp, target: 1.0 }
    }
}

impl GradientPenalty {
    const NAME: &'static str = "gradient_penalty";

    /// `Mean`, `wgan_gp`, `target = 1`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the penalty.
        kind: PenaltyKind,
        /// Sets the target norm of `wgan_gp`.
        target: f64
    );

    fn eval<T: Float, D: Dimension>(&self, gradients: ArrayView<'_, T, D>, up: &Upstream<'_, T>) -> Result<Eval<T, Gradients<T>>> {
        check_option(Self::NAME, "target", self.target, self.target.is_finite(), "a finite number")?;
        let shape = gradients.shape();
        if shape.is_empty() {
            return Err(shape_err(Self::NAME, "gradients", "(N, ...) (a batch axis first)", shape));
        }
        let n = shape[0];
        let k = if n == 0 { 0 } else { gradients.len() / n };
        let g = widen(&gradients);
        let sq: Vec<f64> = (0..n).map(|i| sum_f64(g[i * k..(i + 1) * k].iter().map(|v| v * v))).collect();
        let r = reducer(self.reduction, &[n]);
        let value = r.output(
            sq.iter()
                .map(|&s| match self.kind {
                    PenaltyKind::WganGp => (s.sqrt() - self.target).powi(2),
                    PenaltyKind::R1 => s,
                })
                .collect(),
        );
        let grads = up.scales(Self::NAME, &r)?.map(|sc| {
            let mut out = vec![0.0; g.len()];
            for i in 0..n {
                let c = match self.kind {
                    // 2 (‖g‖ − t) g / ‖g‖, 0 where ‖g‖ = 0
                    PenaltyKind::WganGp => {
                        let norm = sq[i].sqrt();
                        if norm == 0.0 {
                            0.0
                        } else {
                            2.0 * (norm - self.target) / norm
                        }
                    }
                    PenaltyKind::R1 => 2.0,
                } * sc.at(i);
                for (o, v) in out[i * k..(i + 1) * k].iter_mut().zip(&g[i * k..(i + 1) * k]) {
                    *o = c * v;
                }
            }
            Gradients { input: narrow(shape, out), target: None }
        });
        Ok((value, grads))
    }

    loss_methods!(torch: eval, (gradients: float), "`input` w.r.t. `gradients` (`target`: `None`)");
}

// ---------------------------------------------------------------------------------------
// VAE

/// The gradients of [`VaeKl`]: with respect to `mu` and `logvar`.
#[derive(Debug, Clone, PartialEq)]
pub struct VaeKlGradients<T> {
    /// Gradient with respect to `mu`.
    pub mu: ArrayD<T>,
    /// Gradient with respect to `logvar`.
    pub logvar: ArrayD<T>,
}

/// Checks `mu` and `logvar`: one shape `(N, ...)`, at least 1-D; returns `(N, latent size per sample)`.
fn latent_shape(loss: &'static str, mu: &[usize], logvar: &[usize]) -> Result<(usize, usize)> {
    if mu.is_empty() {
        return Err(shape_err(loss, "mu", "(N, ...) (a batch axis first)", mu));
    }
    same_shape(loss, "mu", mu, "logvar", logvar)?;
    let n = mu[0];
    Ok((n, if n == 0 { 0 } else { mu.iter().product::<usize>() / n }))
}

/// The per-sample KL term and its derivatives' pieces: `KL = −½ Σ (1 + lv − μ² − e^lv)`.
fn kl_rows(n: usize, k: usize, mu: &[f64], lv: &[f64]) -> Vec<f64> {
    (0..n).map(|i| -0.5 * sum_f64((i * k..(i + 1) * k).map(|j| 1.0 + lv[j] - mu[j] * mu[j] - lv[j].exp()))).collect()
}

/// The VAE's KL divergence from the encoder's Gaussian to the standard normal
/// prior, summed over the latent dimensions of each sample:
///
/// ```text
/// KL(N(μ, e^lv) ‖ N(0, I)) = −½ Σₖ (1 + lvₖ − μₖ² − e^lvₖ)          per sample (first axis)
/// ∂/∂μ = μ        ∂/∂lv = ½ (e^lv − 1)
/// ```
///
/// `mu` and `logvar` have one shape `(N, ...)`: every axis after the first is a
/// latent dimension (a 1-D `(N,)` is one latent dimension per sample). `Mean`
/// (the default) is the mean over samples; PyTorch's VAE example sums over the
/// batch too (`Sum`). No reference library ships it: the golden cases are the
/// formula in float64 PyTorch (Kingma & Welling's appendix B).
///
/// # Errors
/// [`LossError::Shape`] for a 0-d `mu` or a `logvar` of another shape.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::own::VaeKl;
/// let (mu, lv) = (array![[0.0f64, 1.0]], array![[0.0f64, 0.0]]);
/// let kl = VaeKl::new().forward(mu.view(), lv.view()).unwrap();
/// assert_eq!(kl[[]], 0.5);
/// ```
///
/// # References
/// D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014, appendix B;
/// <https://github.com/pytorch/examples/blob/main/vae/main.py>.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VaeKl {
    /// The reduction of the per-sample divergences (default `Mean`).
    pub reduction: Reduction,
}

impl Default for VaeKl {
    fn default() -> Self {
        VaeKl { reduction: Reduction::Mean }
    }
}

impl VaeKl {
    const NAME: &'static str = "vae_kl";

    /// `Mean` over samples.
    pub fn new() -> Self {
        Self::default()
    }

    fn eval<T: Float, D: Dimension>(&self, mu: ArrayView<'_, T, D>, logvar: ArrayView<'_, T, D>, up: &Upstream<'_, T>) -> Result<Eval<T, VaeKlGradients<T>>> {
        let (n, k) = latent_shape(Self::NAME, mu.shape(), logvar.shape())?;
        let (m, lv) = (widen(&mu), widen(&logvar));
        let r = reducer(self.reduction, &[n]);
        let value = r.output(kl_rows(n, k, &m, &lv));
        let grads = up.scales(Self::NAME, &r)?.map(|s| {
            let at = |j: usize| s.at(if k == 0 { 0 } else { j / k });
            VaeKlGradients {
                mu: narrow(mu.shape(), m.iter().enumerate().map(|(j, &v)| at(j) * v).collect()),
                logvar: narrow(mu.shape(), lv.iter().enumerate().map(|(j, &v)| at(j) * 0.5 * v.exp_m1()).collect()),
            }
        });
        Ok((value, grads))
    }

    loss_methods!(torch: eval -> VaeKlGradients<T>, (mu: float, logvar: float), "with respect to `mu` and `logvar`");
}

choice! {
    /// The decoder's likelihood in [`VaeElbo`].
    ///
    /// # Examples
    /// ```
    /// use losslab::own::Likelihood;
    /// assert_eq!("bernoulli".parse::<Likelihood>().unwrap(), Likelihood::Bernoulli);
    /// ```
    Likelihood, "vae_elbo", "likelihood", {
        /// A Gaussian of fixed variance around the reconstruction (the default):
        /// `torch.nn.functional.gaussian_nll_loss(reconstruction, target, variance)` per element.
        #[default]
        Gaussian = "gaussian",
        /// A Bernoulli of logits `reconstruction`:
        /// `torch.nn.functional.binary_cross_entropy_with_logits(reconstruction, target)` per element.
        Bernoulli = "bernoulli",
    }, default Gaussian
}

/// The gradients of [`VaeElbo`]: with respect to its four tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct VaeElboGradients<T> {
    /// Gradient with respect to `reconstruction`.
    pub reconstruction: ArrayD<T>,
    /// Gradient with respect to `target`.
    pub target: ArrayD<T>,
    /// Gradient with respect to `mu`.
    pub mu: ArrayD<T>,
    /// Gradient with respect to `logvar`.
    pub logvar: ArrayD<T>,
}

/// The VAE's (β-VAE's) negative evidence lower bound per sample: the
/// reconstruction's negative log-likelihood summed over the sample's elements,
/// plus `kl_weight` times [`VaeKl`]:
///
/// ```text
/// gaussian:   rec = Σ ½ (log v + (x̂ − x)² / v) [+ ½ log 2π if full]     v = max(variance, 1e-6)
/// bernoulli:  rec = Σ max(x̂, 0) − x̂ x + log(1 + e^−|x̂|)                  x̂: logits
/// ℓᵢ = recᵢ + β · KLᵢ
/// ```
///
/// The Gaussian term is PyTorch's `gaussian_nll_loss` with a fixed variance
/// (its `eps = 1e-6` clamp and `full` flag included): with `variance = 1` it is
/// ½ the squared error, the "MSE" reconstruction loss. The Bernoulli term is
/// `binary_cross_entropy_with_logits` (`target` in `[0, 1]`). Both are
/// differentiated with respect to `target` too, as PyTorch's autograd does.
/// `reconstruction` and `target` have one shape `(N, ...)`; `mu` and `logvar`
/// another, with the same `N`. No reference library ships the ELBO: the
/// golden cases compose PyTorch's functions in float64.
///
/// # Errors
/// [`LossError::Shape`] for 0-d tensors, mismatched shapes or batch sizes;
/// [`LossError::Option`] for a `variance` that is not positive or a non-finite `kl_weight`.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::own::VaeElbo;
/// let (x_hat, x) = (array![[0.5f64, 1.0]], array![[0.0f64, 1.0]]);
/// let (mu, lv) = (array![[0.0f64]], array![[0.0f64]]);
/// let l = VaeElbo::new().forward(x_hat.view(), x.view(), mu.view(), lv.view()).unwrap();
/// assert_eq!(l[[]], 0.125); // ½ · 0.5², no KL
/// ```
///
/// # References
/// D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014; I.
/// Higgins et al., "β-VAE", ICLR 2017.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VaeElbo {
    /// The reduction of the per-sample losses (default `Mean`).
    pub reduction: Reduction,
    /// The decoder's likelihood (default `gaussian`).
    pub likelihood: Likelihood,
    /// The Gaussian's fixed variance (default 1).
    pub variance: f64,
    /// Whether the Gaussian term includes `½ log 2π` (default `false`, as `gaussian_nll_loss`).
    pub full: bool,
    /// β, the weight of the KL term (default 1).
    pub kl_weight: f64,
}

impl Default for VaeElbo {
    fn default() -> Self {
        VaeElbo { reduction: Reduction::Mean, likelihood: Likelihood::Gaussian, variance: 1.0, full: false, kl_weight: 1.0 }
    }
}

/// The clamp of `torch.nn.functional.gaussian_nll_loss`'s variance (its `eps`).
const GAUSSIAN_NLL_EPS: f64 = 1e-6;

impl VaeElbo {
    const NAME: &'static str = "vae_elbo";

    /// `Mean`, `gaussian` of variance 1, `kl_weight = 1`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction,
        /// Sets the likelihood.
        likelihood: Likelihood,
        /// Sets the Gaussian's variance.
        variance: f64,
        /// Sets whether the Gaussian term includes `½ log 2π`.
        full: bool,
        /// Sets β.
        kl_weight: f64
    );

    fn check<T: Float, D: Dimension>(&self, rec: &ArrayView<'_, T, D>, x: &ArrayView<'_, T, D>, mu: &ArrayView<'_, T, D>, lv: &ArrayView<'_, T, D>) -> Result<(usize, usize, usize)> {
        check_option(Self::NAME, "variance", self.variance, self.variance > 0.0 && self.variance.is_finite(), "a finite number > 0")?;
        check_option(Self::NAME, "kl_weight", self.kl_weight, self.kl_weight.is_finite(), "a finite number")?;
        if rec.ndim() == 0 {
            return Err(shape_err(Self::NAME, "reconstruction", "(N, ...) (a batch axis first)", rec.shape()));
        }
        same_shape(Self::NAME, "reconstruction", rec.shape(), "target", x.shape())?;
        let (n, k) = latent_shape(Self::NAME, mu.shape(), lv.shape())?;
        if mu.shape()[0] != rec.shape()[0] {
            return Err(shape_err(Self::NAME, "mu", format!("a first axis of {} (the batch of `reconstruction`)", rec.shape()[0]), mu.shape()));
        }
        let e = if n == 0 { 0 } else { rec.len() / n };
        Ok((n, e, k))
    }

    /// The reconstruction term of one element and its derivatives w.r.t. `x̂` and `x`.
    fn rec(&self, xh: f64, x: f64) -> (f64, f64, f64) {
        match self.likelihood {
            Likelihood::Gaussian => {
                let v = self.variance.max(GAUSSIAN_NLL_EPS);
                let d = xh - x;
                let c = if self.full { 0.5 * (2.0 * std::f64::consts::PI).ln() } else { 0.0 };
                (0.5 * (v.ln() + d * d / v) + c, d / v, -d / v)
            }
            Likelihood::Bernoulli => (xh.max(0.0) - xh * x + (-xh.abs()).exp().ln_1p(), sigmoid_f64(xh) - x, -xh),
        }
    }

    /// The per-sample terms `(reconstruction, kl)`, unreduced (`(N,)` each).
    ///
    /// # Errors
    /// As [`forward`](Self::forward).
    pub fn terms<T: Float, D: Dimension>(
        &self,
        reconstruction: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        mu: ArrayView<'_, T, D>,
        logvar: ArrayView<'_, T, D>,
    ) -> Result<(ArrayD<T>, ArrayD<T>)> {
        let (n, e, k) = self.check(&reconstruction, &target, &mu, &logvar)?;
        let (xh, x, m, lv) = (widen(&reconstruction), widen(&target), widen(&mu), widen(&logvar));
        let rec: Vec<f64> = (0..n).map(|i| sum_f64((i * e..(i + 1) * e).map(|j| self.rec(xh[j], x[j]).0))).collect();
        Ok((narrow(&[n], rec), narrow(&[n], kl_rows(n, k, &m, &lv))))
    }

    fn eval<T: Float, D: Dimension>(
        &self,
        reconstruction: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        mu: ArrayView<'_, T, D>,
        logvar: ArrayView<'_, T, D>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, VaeElboGradients<T>>> {
        let (n, e, k) = self.check(&reconstruction, &target, &mu, &logvar)?;
        let (xh, x, m, lv) = (widen(&reconstruction), widen(&target), widen(&mu), widen(&logvar));
        let kl = kl_rows(n, k, &m, &lv);
        let beta = self.kl_weight;
        let r = reducer(self.reduction, &[n]);
        let value = r.output((0..n).map(|i| sum_f64((i * e..(i + 1) * e).map(|j| self.rec(xh[j], x[j]).0)) + beta * kl[i]).collect());
        let grads = up.scales(Self::NAME, &r)?.map(|s| {
            let t: Vec<(f64, f64, f64)> = xh.iter().zip(&x).map(|(&a, &b)| self.rec(a, b)).collect();
            let row = |j: usize, per: usize| s.at(if per == 0 { 0 } else { j / per });
            VaeElboGradients {
                reconstruction: narrow(reconstruction.shape(), t.iter().enumerate().map(|(j, t)| row(j, e) * t.1).collect()),
                target: narrow(reconstruction.shape(), t.iter().enumerate().map(|(j, t)| row(j, e) * t.2).collect()),
                mu: narrow(mu.shape(), m.iter().enumerate().map(|(j, &v)| row(j, k) * beta * v).collect()),
                logvar: narrow(mu.shape(), lv.iter().enumerate().map(|(j, &v)| row(j, k) * beta * 0.5 * v.exp_m1()).collect()),
            }
        });
        Ok((value, grads))
    }

    /// The loss, reduced as `self.reduction` says.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension>(
        &self,
        reconstruction: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        mu: ArrayView<'_, T, D>,
        logvar: ArrayView<'_, T, D>,
    ) -> Result<ArrayD<T>> {
        Ok(self.eval(reconstruction, target, mu, logvar, &Upstream::Skip)?.0)
    }

    /// The gradients of `Σ grad_output · loss` (`grad_output` has the result's shape)
    /// with respect to the four tensors.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, D: Dimension>(
        &self,
        reconstruction: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        mu: ArrayView<'_, T, D>,
        logvar: ArrayView<'_, T, D>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<VaeElboGradients<T>> {
        Ok(self.eval(reconstruction, target, mu, logvar, &Upstream::Given(grad_output))?.1.expect("gradients requested"))
    }

    /// The loss and its gradients (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D: Dimension>(
        &self,
        reconstruction: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        mu: ArrayView<'_, T, D>,
        logvar: ArrayView<'_, T, D>,
    ) -> Result<(ArrayD<T>, VaeElboGradients<T>)> {
        let (v, g) = self.eval(reconstruction, target, mu, logvar, &Upstream::Ones)?;
        Ok((v, g.expect("gradients requested")))
    }
}

// ---------------------------------------------------------------------------------------
// diffusers:min_snr_loss

choice! {
    /// What the diffusion model predicts, which sets [`MinSnrLoss`]'s weight
    /// (diffusers' `noise_scheduler.config.prediction_type`).
    ///
    /// # Examples
    /// ```
    /// use losslab::diffusers::PredictionType;
    /// assert_eq!("v_prediction".parse::<PredictionType>().unwrap(), PredictionType::VPrediction);
    /// ```
    PredictionType, "min_snr_loss", "prediction_type", {
        /// The noise ε (the default): weight `min(snr, γ) / snr`.
        #[default]
        Epsilon = "epsilon",
        /// The velocity v: weight `min(snr, γ) / (snr + 1)`.
        VPrediction = "v_prediction",
        /// The clean sample x₀: weight `min(snr, γ)`.
        Sample = "sample",
    }, default Epsilon
}

/// The min-SNR-γ weighted MSE of diffusion training, as diffusers' example
/// `train_text_to_image.py` computes it with `--snr_gamma`:
///
/// ```text
/// snr_t = (√ᾱ_t / √(1 − ᾱ_t))²                 diffusers.training_utils.compute_snr, in float32
/// w_i   = min(snr, γ) / snr          epsilon
///         min(snr, γ) / (snr + 1)    v_prediction
///         min(snr, γ)                sample
/// ℓᵢ    = w_i · mean over sample i's elements of (model_pred − target)²
/// loss  = (1/N) Σᵢ ℓᵢ
/// ```
///
/// `timesteps` (integers, `(N,)`) index `alphas_cumprod` (the scheduler's `ᾱ`,
/// `(T,)`); negative timesteps count from the end, as PyTorch's indexing does.
/// Followed from the reference, and surprising:
/// - `compute_snr` rounds `√ᾱ` and `√(1 − ᾱ)` to **float32** (`.float()`) and
///   computes the SNR and (in the script, against `snr_gamma · ones_like`) the
///   weights in float32, whatever the model's dtype: losslab computes the
///   weights in float32 arithmetic too (the square roots in the tensors' own
///   type), so its weights are the reference's to the bit; the rest is `f64`.
/// - For a 1-D `model_pred` `(N,)`, the script's `loss.mean(dim=[])` is
///   PyTorch's mean over **every** element: each sample's MSE is then the mean
///   over the whole batch.
/// - `snr_gamma` multiplies integer ones: γ is rounded to float32 too.
/// - The script casts `model_pred` and `target` to float32 (`.float()`) for a
///   half-precision model; losslab keeps the tensors' own type (the golden
///   float64 cases keep float64).
///
/// The weights are not differentiated (`alphas_cumprod` is the scheduler's
/// buffer); `model_pred` and `target` are. `Reduction::None` gives `ℓᵢ`;
/// `Mean` (the default) is the script's loss.
///
/// # Errors
/// [`LossError::Shape`] if `model_pred` is 0-d, `target` has another shape,
/// `timesteps` is not `(N,)` or `(1,)`, or `alphas_cumprod` is not 1-D;
/// [`LossError::Domain`] for a timestep outside `[−T, T)`;
/// [`LossError::Option`] for a `snr_gamma` that is NaN.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::diffusers::MinSnrLoss;
/// let pred = array![[1.0f64, 0.0], [0.0, 0.0]];
/// let target = array![[0.0f64, 0.0], [0.0, 0.0]];
/// let alphas = array![0.96f64, 0.5];
/// let t = array![0i64, 1];
/// let l = MinSnrLoss::new().forward(pred.view(), target.view(), t.view(), alphas.view()).unwrap();
/// // snr(0) = 24 > γ = 5: weight 5/24 (in float32); sample 0's MSE is ½
/// assert!((l[[]] - (5.0 / 24.0) * 0.5 / 2.0).abs() < 1e-7);
/// ```
///
/// # References
/// T. Hang et al., "Efficient Diffusion Training via Min-SNR Weighting
/// Strategy", ICCV 2023; diffusers `training_utils.compute_snr` (0.42.1) and
/// `examples/text_to_image/train_text_to_image.py`
/// (<https://github.com/huggingface/diffusers/blob/main/examples/text_to_image/train_text_to_image.py>).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MinSnrLoss {
    /// The reduction of the per-sample losses (default `Mean`).
    pub reduction: Reduction,
    /// γ (default 5, the paper's and the script's recommendation).
    pub snr_gamma: f64,
    /// What the model predicts (default `epsilon`).
    pub prediction_type: PredictionType,
}

impl Default for MinSnrLoss {
    fn default() -> Self {
        MinSnrLoss { reduction: Reduction::Mean, snr_gamma: 5.0, prediction_type: PredictionType::Epsilon }
    }
}

/// The per-sample prepared loss of [`MinSnrLoss`].
struct MinSnrJob {
    n: usize,
    /// Elements per sample (every element of the batch for a 1-D prediction).
    per: usize,
    one_d: bool,
    diff: Vec<f64>,
    mse: Vec<f64>,
    snr: Vec<f32>,
    weight: Vec<f32>,
}

impl MinSnrLoss {
    const NAME: &'static str = "min_snr_loss";

    /// `Mean`, `snr_gamma = 5`, `epsilon`.
    pub fn new() -> Self {
        Self::default()
    }
    setters!(
        /// Sets the reduction.
        reduction: Reduction,
        /// Sets γ.
        snr_gamma: f64,
        /// Sets the prediction type.
        prediction_type: PredictionType
    );

    fn prepare<T: Float, D: Dimension, L: ClassIndex, D2: Dimension, D3: Dimension>(
        &self,
        model_pred: &ArrayView<'_, T, D>,
        target: &ArrayView<'_, T, D>,
        timesteps: &ArrayView<'_, L, D2>,
        alphas_cumprod: &ArrayView<'_, T, D3>,
    ) -> Result<MinSnrJob> {
        let name = Self::NAME;
        check_option(name, "snr_gamma", self.snr_gamma, !self.snr_gamma.is_nan(), "a number")?;
        let shape = model_pred.shape();
        if shape.is_empty() {
            return Err(shape_err(name, "model_pred", "(N, ...) (a batch axis first)", shape));
        }
        same_shape(name, "model_pred", shape, "target", target.shape())?;
        let n = shape[0];
        if timesteps.ndim() != 1 || (timesteps.len() != n && timesteps.len() != 1) {
            return Err(shape_err(name, "timesteps", format!("[{n}] or [1] (one timestep per sample of `model_pred`)"), timesteps.shape()));
        }
        if alphas_cumprod.ndim() != 1 {
            return Err(shape_err(name, "alphas_cumprod", "(T,) (the scheduler's cumulative alphas, 1-D)", alphas_cumprod.shape()));
        }
        let alphas: Vec<T> = alphas_cumprod.iter().copied().collect();
        let t_max = alphas.len() as i64;
        // compute_snr: the square roots in the schedule's dtype, then `.float()`; the
        // rest in float32 (the script's `snr_gamma * torch.ones_like(timesteps)` too).
        let gamma = self.snr_gamma as f32;
        let mut snr = Vec::with_capacity(timesteps.len());
        let mut weight = Vec::with_capacity(timesteps.len());
        for (pos, t) in timesteps.iter().enumerate() {
            let t = t.index();
            if t < -t_max || t >= t_max {
                return Err(LossError::Domain {
                    loss: name,
                    tensor: "timesteps",
                    value: t as f64,
                    position: vec![pos],
                    expected: "a timestep in [−T, T), T the length of `alphas_cumprod`",
                });
            }
            let a = alphas[if t < 0 { (t + t_max) as usize } else { t as usize }].to_wide();
            let sqrt_a = T::from_wide(a.sqrt()).to_wide() as f32;
            let sqrt_1ma = T::from_wide(T::from_wide(1.0 - a).to_wide().sqrt()).to_wide() as f32;
            let ratio = sqrt_a / sqrt_1ma;
            let s = ratio * ratio;
            // torch.stack([snr, gamma]).min(dim=1): NaN propagates.
            let m = if s.is_nan() { s } else { s.min(gamma) };
            let w = match self.prediction_type {
                PredictionType::Epsilon => m / s,
                PredictionType::VPrediction => m / (s + 1.0),
                PredictionType::Sample => m,
            };
            snr.push(s);
            weight.push(w);
        }
        let (p, y) = (widen(model_pred), widen(target));
        let diff: Vec<f64> = p.iter().zip(&y).map(|(a, b)| a - b).collect();
        let one_d = shape.len() == 1;
        let per = if one_d { diff.len() } else if n == 0 { 0 } else { diff.len() / n };
        let mse: Vec<f64> = if one_d {
            let all = sum_f64(diff.iter().map(|d| d * d)) / diff.len() as f64;
            vec![all; n]
        } else {
            (0..n).map(|i| sum_f64(diff[i * per..(i + 1) * per].iter().map(|d| d * d)) / per as f64).collect()
        };
        Ok(MinSnrJob { n, per, one_d, diff, mse, snr, weight })
    }

    fn eval<T: Float, D: Dimension, L: ClassIndex, D2: Dimension, D3: Dimension>(
        &self,
        model_pred: &ArrayView<'_, T, D>,
        target: &ArrayView<'_, T, D>,
        timesteps: &ArrayView<'_, L, D2>,
        alphas_cumprod: &ArrayView<'_, T, D3>,
        up: &Upstream<'_, T>,
    ) -> Result<Eval<T, Gradients<T>>> {
        let job = self.prepare(model_pred, target, timesteps, alphas_cumprod)?;
        let w = |i: usize| f64::from(job.weight[if job.weight.len() == 1 { 0 } else { i }]);
        let r = reducer(self.reduction, &[job.n]);
        let value = r.output((0..job.n).map(|i| job.mse[i] * w(i)).collect());
        let grads = up.scales(Self::NAME, &r)?.map(|s| {
            let g: Vec<f64> = if job.one_d {
                // every sample's loss reads every element
                let c = sum_f64((0..job.n).map(|i| s.at(i) * w(i))) * 2.0 / job.per as f64;
                job.diff.iter().map(|d| c * d).collect()
            } else {
                job.diff.iter().enumerate().map(|(j, d)| {
                    let i = j / job.per;
                    s.at(i) * w(i) * 2.0 * d / job.per as f64
                }).collect()
            };
            let shape = model_pred.shape();
            Gradients { target: Some(narrow(shape, g.iter().map(|v| -v).collect())), input: narrow(shape, g) }
        });
        Ok((value, grads))
    }

    /// Each timestep's SNR and weight, as `compute_snr` and the script compute
    /// them (float32, one per timestep).
    ///
    /// # Errors
    /// As [`forward`](Self::forward).
    pub fn weights<T: Float, D: Dimension, L: ClassIndex, D2: Dimension, D3: Dimension>(
        &self,
        model_pred: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        timesteps: ArrayView<'_, L, D2>,
        alphas_cumprod: ArrayView<'_, T, D3>,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let job = self.prepare(&model_pred, &target, &timesteps, &alphas_cumprod)?;
        Ok((job.snr, job.weight))
    }

    /// The loss, reduced as `self.reduction` says.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward<T: Float, D: Dimension, L: ClassIndex, D2: Dimension, D3: Dimension>(
        &self,
        model_pred: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        timesteps: ArrayView<'_, L, D2>,
        alphas_cumprod: ArrayView<'_, T, D3>,
    ) -> Result<ArrayD<T>> {
        Ok(self.eval(&model_pred, &target, &timesteps, &alphas_cumprod, &Upstream::Skip)?.0)
    }

    /// The gradients of `Σ grad_output · loss` (`grad_output` has the result's
    /// shape): `input` w.r.t. `model_pred`, `target` w.r.t. `target`.
    ///
    /// # Errors
    /// See the type's docs; also [`LossError::Shape`] if `grad_output` does not
    /// have the result's shape.
    pub fn backward<T: Float, D: Dimension, L: ClassIndex, D2: Dimension, D3: Dimension>(
        &self,
        model_pred: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        timesteps: ArrayView<'_, L, D2>,
        alphas_cumprod: ArrayView<'_, T, D3>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<Gradients<T>> {
        Ok(self.eval(&model_pred, &target, &timesteps, &alphas_cumprod, &Upstream::Given(grad_output))?.1.expect("gradients requested"))
    }

    /// The loss and its gradients (of the result's sum when unreduced).
    ///
    /// # Errors
    /// See the type's docs.
    pub fn forward_backward<T: Float, D: Dimension, L: ClassIndex, D2: Dimension, D3: Dimension>(
        &self,
        model_pred: ArrayView<'_, T, D>,
        target: ArrayView<'_, T, D>,
        timesteps: ArrayView<'_, L, D2>,
        alphas_cumprod: ArrayView<'_, T, D3>,
    ) -> Result<(ArrayD<T>, Gradients<T>)> {
        let (v, g) = self.eval(&model_pred, &target, &timesteps, &alphas_cumprod, &Upstream::Ones)?;
        Ok((v, g.expect("gradients requested")))
    }
}

free_fn! {
    /// [`GanGeneratorLoss`] with `kind`, reduced by its mean.
    pub fn gan_generator_loss(fake_logits: float; kind: GanKind) = GanGeneratorLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let l = losslab::own::gan_generator_loss(array![0.0f64].view(), losslab::own::GanKind::Wasserstein).unwrap();
        /// assert_eq!(l[[]], 0.0);
        /// ```
    }
    /// [`GanDiscriminatorLoss`] with `kind`, reduced by its mean.
    pub fn gan_discriminator_loss(real_logits: float, fake_logits: float; kind: GanKind) = GanDiscriminatorLoss {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let l = losslab::own::gan_discriminator_loss(array![1.0f64].view(), array![-1.0].view(), losslab::own::GanKind::Hinge).unwrap();
        /// assert_eq!(l[[]], 0.0);
        /// ```
    }
    /// [`GradientPenalty`] (WGAN-GP, target norm 1), the mean over samples.
    pub fn gradient_penalty(gradients: float) = GradientPenalty {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let l = losslab::own::gradient_penalty(array![[0.6f64, 0.8]].view()).unwrap();
        /// assert!(l[[]].abs() < 1e-15);
        /// ```
    }
    /// [`VaeKl`], the mean over samples.
    pub fn vae_kl(mu: float, logvar: float) = VaeKl {
        /// # Examples
        /// ```
        /// use ndarray::array;
        /// let l = losslab::own::vae_kl(array![[0.0f64]].view(), array![[0.0f64]].view()).unwrap();
        /// assert_eq!(l[[]], 0.0);
        /// ```
    }
}

/// [`VaeElbo`] with its defaults (Gaussian of variance 1, β = 1), the mean over samples.
///
/// # Errors
/// See [`VaeElbo`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// let z = array![[0.0f64]];
/// let l = losslab::own::vae_elbo(z.view(), z.view(), z.view(), z.view()).unwrap();
/// assert_eq!(l[[]], 0.0);
/// ```
pub fn vae_elbo<T: Float, D: Dimension>(reconstruction: ArrayView<'_, T, D>, target: ArrayView<'_, T, D>, mu: ArrayView<'_, T, D>, logvar: ArrayView<'_, T, D>) -> Result<ArrayD<T>> {
    VaeElbo::new().forward(reconstruction, target, mu, logvar)
}

/// [`MinSnrLoss`] with `snr_gamma` and `prediction_type`, the script's mean.
///
/// # Errors
/// See [`MinSnrLoss`].
///
/// # Examples
/// ```
/// use ndarray::array;
/// use losslab::diffusers::{min_snr_loss, PredictionType};
/// let p = array![[0.5f64, 0.5]];
/// let l = min_snr_loss(p.view(), p.view(), array![0i64].view(), array![0.5f64].view(), 5.0, PredictionType::Epsilon).unwrap();
/// assert_eq!(l[[]], 0.0);
/// ```
pub fn min_snr_loss<T: Float, D: Dimension, L: ClassIndex, D2: Dimension, D3: Dimension>(
    model_pred: ArrayView<'_, T, D>,
    target: ArrayView<'_, T, D>,
    timesteps: ArrayView<'_, L, D2>,
    alphas_cumprod: ArrayView<'_, T, D3>,
    snr_gamma: f64,
    prediction_type: PredictionType,
) -> Result<ArrayD<T>> {
    MinSnrLoss::new().snr_gamma(snr_gamma).prediction_type(prediction_type).forward(model_pred, target, timesteps, alphas_cumprod)
}
