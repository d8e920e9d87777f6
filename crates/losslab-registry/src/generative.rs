//! Generative models' losses: the GAN losses, the gradient penalty, the VAE's KL
//! and negative ELBO (`losslab:`), and diffusers' min-SNR-γ weighted MSE
//! (`diffusers:min_snr_loss`).

use super::call::{Call, Output};
use super::{eval, float, int, opt, Framework, LossSpec, OptionType};
use crate::tensor::FloatElement;
use crate::Result;
use losslab::diffusers::{MinSnrLoss, PredictionType};
use losslab::own::{GanDiscriminatorLoss, GanGeneratorLoss, GanKind, GradientPenalty, Likelihood, PenaltyKind, VaeElbo, VaeKl};
use losslab::Reduction;

const GAN_KINDS: &[&str] = &["non_saturating", "minimax", "hinge", "least_squares", "wasserstein"];
const GAN_KIND: super::OptionSpec = opt(
    "kind",
    OptionType::Choice(GAN_KINDS),
    "non_saturating",
    "the objective: non_saturating, minimax (log-sigmoid forms), hinge, least_squares (targets 0/1, the paper's ½), wasserstein",
);

pub(super) const LOSSES: &[LossSpec] = &[
    LossSpec {
        framework: Framework::Losslab,
        name: "gan_generator_loss",
        summary: "The GAN generator's loss from the discriminator's logits on generated samples (non-saturating −log σ(f), minimax, hinge, least squares, Wasserstein)",
        tensors: &[float("fake_logits", "the discriminator's logits (critic's scores) on generated samples, any shape")],
        options: &[GAN_KIND],
        default_reduction: Some(Reduction::Mean),
        grads: &["fake_logits"],
        eval: eval!(gan_generator),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "gan_discriminator_loss",
        summary: "The GAN discriminator's (critic's) loss from its logits on real and generated samples (BCE, hinge, least squares, Wasserstein)",
        tensors: &[
            float("real_logits", "the discriminator's logits on real samples, any shape"),
            float("fake_logits", "its logits on generated samples, real_logits' shape"),
        ],
        options: &[GAN_KIND],
        default_reduction: Some(Reduction::Mean),
        grads: &["real_logits", "fake_logits"],
        eval: eval!(gan_discriminator),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "gradient_penalty",
        summary: "The critic's gradient penalty per sample: WGAN-GP's (‖∇‖₂ − target)² or R1's ‖∇‖₂², from the input gradients",
        tensors: &[float("gradients", "the critic's gradients with respect to its inputs, shape (N, ...): one sample per row")],
        options: &[
            opt("kind", OptionType::Choice(&["wgan_gp", "r1"]), "wgan_gp", "wgan_gp: (‖∇‖₂ − target)²; r1: ‖∇‖₂² (target unused)"),
            opt("target", OptionType::Float, "1.0", "the norm WGAN-GP pulls each gradient to"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["gradients"],
        eval: eval!(gradient_penalty),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "vae_kl",
        summary: "The VAE's KL(N(mu, exp(logvar)) ‖ N(0, I)) = −½ Σ (1 + logvar − mu² − exp(logvar)), summed over each sample's latent dimensions",
        tensors: &[
            float("mu", "the encoder's means, shape (N, ...): every axis after the first is latent"),
            float("logvar", "the encoder's log-variances, mu's shape"),
        ],
        options: &[],
        default_reduction: Some(Reduction::Mean),
        grads: &["mu", "logvar"],
        eval: eval!(vae_kl),
    },
    LossSpec {
        framework: Framework::Losslab,
        name: "vae_elbo",
        summary: "The (β-)VAE's negative ELBO per sample: the reconstruction's NLL (Gaussian of fixed variance, or Bernoulli of logits) summed over the sample, plus kl_weight · KL",
        tensors: &[
            float("reconstruction", "the decoder's output, shape (N, ...): the Gaussian's mean, or the Bernoulli's logits"),
            float("target", "the data, reconstruction's shape (in [0, 1] for bernoulli)"),
            float("mu", "the encoder's means, shape (N, ...)"),
            float("logvar", "the encoder's log-variances, mu's shape"),
        ],
        options: &[
            opt("likelihood", OptionType::Choice(&["gaussian", "bernoulli"]), "gaussian", "gaussian: gaussian_nll_loss with a fixed variance; bernoulli: binary_cross_entropy_with_logits"),
            opt("variance", OptionType::Float, "1.0", "the Gaussian's fixed variance (clamped at 1e-6, as gaussian_nll_loss)"),
            opt("full", OptionType::Bool, "False", "adds ½ log 2π per element to the Gaussian term, as gaussian_nll_loss's full"),
            opt("kl_weight", OptionType::Float, "1.0", "β, the weight of the KL term"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["reconstruction", "target", "mu", "logvar"],
        eval: eval!(vae_elbo),
    },
    LossSpec {
        framework: Framework::Diffusers,
        name: "min_snr_loss",
        summary: "Min-SNR-γ weighted MSE of diffusion training (train_text_to_image.py --snr_gamma): per-sample MSE times min(snr, γ)/snr (ε), /(snr + 1) (v) or min(snr, γ) (x₀), snr from compute_snr",
        tensors: &[
            float("model_pred", "the model's prediction, shape (N, ...)"),
            float("target", "the training target (noise, velocity or sample), model_pred's shape"),
            int("timesteps", "each sample's timestep, shape (N,), an index into alphas_cumprod"),
            float("alphas_cumprod", "the noise scheduler's cumulative alphas ᾱ, shape (T,)"),
        ],
        options: &[
            opt("snr_gamma", OptionType::Float, "5.0", "γ, the cap of the SNR weight (rounded to float32, as the script's)"),
            opt("prediction_type", OptionType::Choice(&["epsilon", "v_prediction", "sample"]), "epsilon", "what the model predicts (the scheduler's prediction_type)"),
        ],
        default_reduction: Some(Reduction::Mean),
        grads: &["model_pred", "target"],
        eval: eval!(min_snr),
    },
];

fn reduction<T>(c: &Call<'_, T>) -> Reduction {
    c.reduction.unwrap_or(Reduction::Mean)
}

fn gan_generator<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = GanGeneratorLoss::new().reduction(reduction(c)).kind(c.name("kind").parse::<GanKind>()?);
    let f = c.float("fake_logits");
    c.finish_once(("fake_logits", None), || loss.forward(f.view()), || loss.forward_backward(f.view()), |g| loss.backward(f.view(), g))
}

fn gan_discriminator<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = GanDiscriminatorLoss::new().reduction(reduction(c)).kind(c.name("kind").parse::<GanKind>()?);
    let (r, f) = (c.float("real_logits"), c.float("fake_logits"));
    let value = loss.forward(r.view(), f.view())?;
    if !c.want_grads {
        return Ok(Output { value, grads: vec![], aux: vec![] });
    }
    let g = loss.backward(r.view(), f.view(), c.grad_output_for(&value)?.view())?;
    Ok(Output { value, grads: vec![("real_logits", g.real_logits), ("fake_logits", g.fake_logits)], aux: vec![] })
}

fn gradient_penalty<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = GradientPenalty::new().reduction(reduction(c)).kind(c.name("kind").parse::<PenaltyKind>()?).target(c.f64("target"));
    let g = c.float("gradients");
    c.finish(loss.forward(g.view())?, ("gradients", None), |go| loss.backward(g.view(), go))
}

fn vae_kl<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = VaeKl::new().reduction(reduction(c));
    let (mu, lv) = (c.float("mu"), c.float("logvar"));
    let value = loss.forward(mu.view(), lv.view())?;
    if !c.want_grads {
        return Ok(Output { value, grads: vec![], aux: vec![] });
    }
    let g = loss.backward(mu.view(), lv.view(), c.grad_output_for(&value)?.view())?;
    Ok(Output { value, grads: vec![("mu", g.mu), ("logvar", g.logvar)], aux: vec![] })
}

fn vae_elbo<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = VaeElbo::new()
        .reduction(reduction(c))
        .likelihood(c.name("likelihood").parse::<Likelihood>()?)
        .variance(c.f64("variance"))
        .full(c.bool("full"))
        .kl_weight(c.f64("kl_weight"));
    let (xh, x, mu, lv) = (c.float("reconstruction"), c.float("target"), c.float("mu"), c.float("logvar"));
    let value = loss.forward(xh.view(), x.view(), mu.view(), lv.view())?;
    let (rec, kl) = loss.terms(xh.view(), x.view(), mu.view(), lv.view())?;
    let aux = vec![("reconstruction_loss", T::into_tensor(rec)), ("kl", T::into_tensor(kl))];
    if !c.want_grads {
        return Ok(Output { value, grads: vec![], aux });
    }
    let g = loss.backward(xh.view(), x.view(), mu.view(), lv.view(), c.grad_output_for(&value)?.view())?;
    Ok(Output { value, grads: vec![("reconstruction", g.reconstruction), ("target", g.target), ("mu", g.mu), ("logvar", g.logvar)], aux })
}

fn min_snr<T: FloatElement>(c: &Call<'_, T>) -> Result<Output<T>> {
    let loss = MinSnrLoss::new()
        .reduction(reduction(c))
        .snr_gamma(c.f64("snr_gamma"))
        .prediction_type(c.name("prediction_type").parse::<PredictionType>()?);
    let (p, y, t, a) = (c.float("model_pred"), c.float("target"), c.int("timesteps"), c.float("alphas_cumprod"));
    let value = loss.forward(p.view(), y.view(), t.view(), a.view())?;
    let (snr, w) = loss.weights(p.view(), y.view(), t.view(), a.view())?;
    let vec_t = |v: Vec<f32>| T::into_tensor(ndarray::Array1::from_iter(v.into_iter().map(|x| T::from_wide(f64::from(x)))).into_dyn());
    let aux = vec![("snr", vec_t(snr)), ("weights", vec_t(w))];
    if !c.want_grads {
        return Ok(Output { value, grads: vec![], aux });
    }
    let g = loss.backward(p.view(), y.view(), t.view(), a.view(), c.grad_output_for(&value)?.view())?;
    let mut grads = vec![("model_pred", g.input)];
    grads.extend(g.target.map(|t| ("target", t)));
    Ok(Output { value, grads, aux })
}
