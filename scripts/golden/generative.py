#!/usr/bin/env python3
"""Golden cases for losslab's generative-model losses.

    ~/refenv/bin/python scripts/golden/generative.py

Writes crates/losslab-registry/tests/golden/generative.json in the format of
scripts/golden/README.md:

- diffusers:min_snr_loss: the REAL `diffusers.training_utils.compute_snr`, called
  with a stand-in scheduler (`types.SimpleNamespace(alphas_cumprod=...)`), and the
  min-SNR lines of diffusers' `examples/text_to_image/train_text_to_image.py`
  (`--snr_gamma`; copied below, `loss_min_snr`, from huggingface/diffusers main,
  the file's lines 1028-1039: the examples are not installed with the package).
  One difference, on purpose: the script casts `model_pred` and `target` to float32
  (`.float()`, for half-precision models); the golden truth keeps float64. The SNR
  stays what `compute_snr` makes it: float32.
- losslab:gan_generator_loss, losslab:gan_discriminator_loss,
  losslab:gradient_penalty, losslab:vae_kl, losslab:vae_elbo: NO reference library
  ships these; the references are float64 PyTorch programs of the papers' formulas
  (below), built on PyTorch's own functions where one exists
  (`F.binary_cross_entropy_with_logits` for the log-sigmoid GAN terms,
  `torch.linalg.vector_norm` for the penalty, `F.gaussian_nll_loss` and
  `F.binary_cross_entropy_with_logits` for the ELBO's reconstruction).

Conventions beyond the README:
- Every loss has a `reduction` (default `mean`); `null` cases rely on it, `none` /
  `sum` cases are the per-sample (per-element for the GAN losses) values and their sum.
- Options are the registry's: `kind`, `target`, `likelihood`, `variance`, `full`,
  `kl_weight`, `snr_gamma`, `prediction_type`.
Deterministic: one seeded numpy Generator, consumed in a fixed order.
"""

import os
import sys
import types
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import T, make_case, dtypes_for, first_line, versions, write  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import diffusers  # noqa: E402
from diffusers.training_utils import compute_snr  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "generative.json")
GENERATOR = "scripts/golden/generative.py"
rng = np.random.default_rng(20261205)
CASES = []


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def uniform(shape, lo, hi):
    return f32(rng.uniform(lo, hi, shape))


def reduce(per, reduction):
    if reduction is None or reduction == "mean":
        return per.mean()
    if reduction == "sum":
        return per.sum()
    return per


# ---- GAN (Goodfellow et al. 2014; Mao et al. 2017; Arjovsky et al. 2017; Lim & Ye 2017)

def gan_generator(t, o):
    f = t["fake_logits"]
    k = o.get("kind", "non_saturating")
    if k == "non_saturating":  # -log D(G(z))
        return F.binary_cross_entropy_with_logits(f, torch.ones_like(f), reduction="none")
    if k == "minimax":  # log(1 - D(G(z)))
        return -F.binary_cross_entropy_with_logits(f, torch.zeros_like(f), reduction="none")
    if k in ("hinge", "wasserstein"):
        return -f
    if k == "least_squares":
        return 0.5 * (f - 1) ** 2
    raise ValueError(k)


def gan_discriminator(t, o):
    r, f = t["real_logits"], t["fake_logits"]
    k = o.get("kind", "non_saturating")
    if r.shape != f.shape:
        raise ValueError(f"real_logits {tuple(r.shape)} and fake_logits {tuple(f.shape)} differ")
    if k in ("non_saturating", "minimax"):
        return (F.binary_cross_entropy_with_logits(r, torch.ones_like(r), reduction="none")
                + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f), reduction="none"))
    if k == "hinge":
        return F.relu(1 - r) + F.relu(1 + f)
    if k == "least_squares":
        return 0.5 * (r - 1) ** 2 + 0.5 * f ** 2
    if k == "wasserstein":
        return f - r
    raise ValueError(k)


# ---- gradient penalty (Gulrajani et al. 2017; Mescheder et al. 2018)

def gradient_penalty(t, o):
    g = t["gradients"]
    flat = g.reshape(g.shape[0], -1)
    if o.get("kind", "wgan_gp") == "r1":
        return flat.pow(2).sum(1)
    return (torch.linalg.vector_norm(flat, ord=2, dim=1) - o.get("target", 1.0)) ** 2


# ---- VAE (Kingma & Welling 2014, appendix B; Higgins et al. 2017)

def kl_rows(mu, logvar):
    if mu.shape != logvar.shape:
        raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} differ")
    n = mu.shape[0]
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).reshape(n, -1).sum(1)


def vae_kl(t, o):
    return kl_rows(t["mu"], t["logvar"])


def vae_elbo(t, o):
    xh, x = t["reconstruction"], t["target"]
    n = xh.shape[0]
    if o.get("likelihood", "gaussian") == "gaussian":
        var = torch.full_like(xh, o.get("variance", 1.0)).detach()
        rec = F.gaussian_nll_loss(xh, x, var, full=o.get("full", False), reduction="none")
    else:
        rec = F.binary_cross_entropy_with_logits(xh, x, reduction="none")
    kl = kl_rows(t["mu"], t["logvar"])
    if kl.shape[0] != n:
        raise ValueError("batch sizes differ")
    return rec.reshape(n, -1).sum(1) + o.get("kl_weight", 1.0) * kl


# ---- diffusers' min-SNR-γ (Hang et al. 2023)

def loss_min_snr(noise_scheduler, model_pred, target, timesteps, snr_gamma, prediction_type, reduction):
    """examples/text_to_image/train_text_to_image.py, `args.snr_gamma is not None`
    (model_pred.float() / target.float() left out: the float64 truth)."""
    snr = compute_snr(noise_scheduler, timesteps)
    mse_loss_weights = torch.stack([snr, snr_gamma * torch.ones_like(timesteps)], dim=1).min(dim=1)[0]
    if prediction_type == "epsilon":
        mse_loss_weights = mse_loss_weights / snr
    elif prediction_type == "v_prediction":
        mse_loss_weights = mse_loss_weights / (snr + 1)

    loss = F.mse_loss(model_pred, target, reduction="none")
    loss = loss.mean(dim=list(range(1, len(loss.shape)))) * mse_loss_weights
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    loss = loss.mean()
    return loss


def min_snr(t, o, reduction):
    sched = types.SimpleNamespace(alphas_cumprod=t["alphas_cumprod"].detach())
    if t["model_pred"].shape != t["target"].shape:
        raise ValueError("model_pred and target differ in shape")
    return loss_min_snr(sched, t["model_pred"], t["target"], t["timesteps"], o.get("snr_gamma", 5.0),
                        o.get("prediction_type", "epsilon"), reduction)


FNS = {
    "losslab:gan_generator_loss": (gan_generator, ["fake_logits"]),
    "losslab:gan_discriminator_loss": (gan_discriminator, ["real_logits", "fake_logits"]),
    "losslab:gradient_penalty": (gradient_penalty, ["gradients"]),
    "losslab:vae_kl": (vae_kl, ["mu", "logvar"]),
    "losslab:vae_elbo": (vae_elbo, ["reconstruction", "target", "mu", "logvar"]),
    "diffusers:min_snr_loss": (None, ["model_pred", "target"]),
}


def case(cid, loss, tensors, options=None, reduction=None, go=None):
    options = options or {}
    fn, diff = FNS[loss]
    t = {k: torch.tensor(v, dtype=torch.float64 if np.asarray(v).dtype.kind == "f" else torch.int64) for k, v in tensors.items()}
    for k in diff:
        t[k].requires_grad_(True)
    try:
        out = min_snr(t, options, reduction) if fn is None else reduce(fn(t, options), reduction)
    except Exception as e:  # the reference raised
        CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    if isinstance(go, str) and go == "random":
        go = randn(*tuple(out.shape))
    gt = torch.ones_like(out) if go is None else torch.tensor(go, dtype=torch.float64)
    grads = torch.autograd.grad(out, [t[k] for k in diff], gt)
    gd = {k: g.detach().numpy() for k, g in zip(diff, grads)}
    c = make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, go), go, out.detach().numpy(), gd, None)
    if fn is None:
        # the outputs `snr` and `weights`: compute_snr's float32 SNR and the script's weights
        snr = compute_snr(types.SimpleNamespace(alphas_cumprod=t["alphas_cumprod"].detach()), t["timesteps"])
        w = torch.stack([snr, options.get("snr_gamma", 5.0) * torch.ones_like(t["timesteps"])], dim=1).min(dim=1)[0]
        pt = options.get("prediction_type", "epsilon")
        w = w / snr if pt == "epsilon" else (w / (snr + 1) if pt == "v_prediction" else w)
        c["outputs"] = {"snr": T(snr.numpy()), "weights": T(w.numpy())}
    CASES.append(c)


def main():
    # GAN
    r, f = randn(4, 3, scale=2.0), randn(4, 3, scale=2.0)
    r[0, 0], f[0, 0] = 1.0, -1.0  # the hinge's kinks: no gradient (relu)
    for kind in ["non_saturating", "minimax", "hinge", "least_squares", "wasserstein"]:
        case(f"gan_generator/{kind}", "losslab:gan_generator_loss", {"fake_logits": f}, {"kind": kind})
        case(f"gan_generator/{kind}/none", "losslab:gan_generator_loss", {"fake_logits": f}, {"kind": kind}, "none", "random")
        case(f"gan_discriminator/{kind}", "losslab:gan_discriminator_loss", {"real_logits": r, "fake_logits": f}, {"kind": kind})
        case(f"gan_discriminator/{kind}/sum", "losslab:gan_discriminator_loss", {"real_logits": r, "fake_logits": f}, {"kind": kind}, "sum")
        case(f"gan_discriminator/{kind}/none", "losslab:gan_discriminator_loss", {"real_logits": r, "fake_logits": f}, {"kind": kind}, "none", "random")
    big = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
    case("gan_generator/defaults/extreme", "losslab:gan_generator_loss", {"fake_logits": big})
    case("gan_generator/minimax/extreme", "losslab:gan_generator_loss", {"fake_logits": big}, {"kind": "minimax"}, "none")
    case("gan_discriminator/defaults/extreme", "losslab:gan_discriminator_loss", {"real_logits": big, "fake_logits": big[::-1].copy()})
    case("gan_discriminator/error/shapes", "losslab:gan_discriminator_loss", {"real_logits": randn(3), "fake_logits": randn(4)})

    # gradient penalty: (N, C, H, W) gradients, one sample all zeros
    g = randn(4, 2, 3, 3, scale=0.4)
    g[2] = 0.0
    case("gradient_penalty/defaults", "losslab:gradient_penalty", {"gradients": g})
    case("gradient_penalty/none", "losslab:gradient_penalty", {"gradients": g}, {"kind": "wgan_gp", "target": 1.0}, "none", "random")
    case("gradient_penalty/target0.5", "losslab:gradient_penalty", {"gradients": g}, {"target": 0.5}, "sum")
    case("gradient_penalty/r1", "losslab:gradient_penalty", {"gradients": g}, {"kind": "r1"})
    case("gradient_penalty/r1/none", "losslab:gradient_penalty", {"gradients": g}, {"kind": "r1"}, "none", "random")
    case("gradient_penalty/1d", "losslab:gradient_penalty", {"gradients": randn(5)}, {}, "none")

    # VAE
    mu, lv = randn(4, 6), randn(4, 6, scale=0.5)
    case("vae_kl/defaults", "losslab:vae_kl", {"mu": mu, "logvar": lv})
    case("vae_kl/none", "losslab:vae_kl", {"mu": mu, "logvar": lv}, {}, "none", "random")
    case("vae_kl/sum/3d", "losslab:vae_kl", {"mu": randn(2, 3, 4), "logvar": randn(2, 3, 4, scale=0.5)}, {}, "sum")
    case("vae_kl/large-logvar", "losslab:vae_kl", {"mu": np.array([[0.0, 1e-3]]), "logvar": np.array([[-30.0, 20.0]])})
    case("vae_kl/error/shapes", "losslab:vae_kl", {"mu": randn(2, 3), "logvar": randn(2, 4)})
    xh, x = randn(4, 2, 5), uniform((4, 2, 5), 0.0, 1.0)
    case("vae_elbo/defaults", "losslab:vae_elbo", {"reconstruction": xh, "target": x, "mu": mu, "logvar": lv})
    case("vae_elbo/gaussian/none", "losslab:vae_elbo", {"reconstruction": xh, "target": x, "mu": mu, "logvar": lv},
         {"likelihood": "gaussian", "variance": 0.25, "full": True, "kl_weight": 0.5}, "none", "random")
    case("vae_elbo/gaussian/tiny-variance", "losslab:vae_elbo", {"reconstruction": xh, "target": x, "mu": mu, "logvar": lv},
         {"variance": 1e-8}, "sum")
    case("vae_elbo/bernoulli", "losslab:vae_elbo", {"reconstruction": xh, "target": x, "mu": mu, "logvar": lv},
         {"likelihood": "bernoulli", "kl_weight": 4.0})
    case("vae_elbo/bernoulli/none", "losslab:vae_elbo", {"reconstruction": xh, "target": (x > 0.5).astype(np.float64), "mu": mu, "logvar": lv},
         {"likelihood": "bernoulli"}, "none", "random")
    case("vae_elbo/error/batch", "losslab:vae_elbo", {"reconstruction": xh, "target": x, "mu": randn(3, 6), "logvar": randn(3, 6)})

    # diffusers' min-SNR-γ: the scaled-linear schedule of Stable Diffusion (1000 steps)
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas = torch.cumprod(1.0 - betas, dim=0).numpy()
    ts = np.array([0, 10, 150, 500, 999, 620], dtype=np.int64)
    p, y = randn(6, 4, 3, 3), randn(6, 4, 3, 3)
    for pt in ["epsilon", "v_prediction", "sample"]:
        case(f"min_snr/{pt}", "diffusers:min_snr_loss", {"model_pred": p, "target": y, "timesteps": ts, "alphas_cumprod": alphas},
             {"snr_gamma": 5.0, "prediction_type": pt})
        case(f"min_snr/{pt}/none", "diffusers:min_snr_loss", {"model_pred": p, "target": y, "timesteps": ts, "alphas_cumprod": alphas},
             {"prediction_type": pt}, "none", "random")
    case("min_snr/defaults", "diffusers:min_snr_loss", {"model_pred": p, "target": y, "timesteps": ts, "alphas_cumprod": alphas})
    case("min_snr/gamma1.3/sum", "diffusers:min_snr_loss", {"model_pred": p, "target": y, "timesteps": ts, "alphas_cumprod": alphas},
         {"snr_gamma": 1.3}, "sum")
    # an f32-exact schedule (float32 runs too), negative timesteps, one shared timestep, a 1-D prediction
    a32 = f32(np.sort(rng.uniform(0.02, 0.995, 50))[::-1].copy())
    ts2 = np.array([3, -1, 49, 0], dtype=np.int64)
    p2, y2 = randn(4, 8), randn(4, 8)
    case("min_snr/f32/negative-timestep", "diffusers:min_snr_loss", {"model_pred": p2, "target": y2, "timesteps": ts2, "alphas_cumprod": a32},
         {"prediction_type": "v_prediction"})
    case("min_snr/f32/one-timestep", "diffusers:min_snr_loss", {"model_pred": p2, "target": y2, "timesteps": np.array([20], dtype=np.int64), "alphas_cumprod": a32},
         {}, "none", "random")
    # A 1-D prediction: `loss.mean(dim=[])` is the mean over every element. Its 0-d
    # float64 result times the float32 weights is float32 in torch's promotion (a
    # 0-d tensor yields to a dimensioned one): losslab stays in f64, so this case
    # takes weights of exactly 1 (ε-prediction, every snr below γ) and dyadic
    # values, where both agree to the bit.
    case("min_snr/1d", "diffusers:min_snr_loss", {"model_pred": np.array([0.5, -0.25, 1.0, 0.0]), "target": np.array([0.0, 0.0, 0.5, 0.25]),
         "timesteps": np.array([40, 45, 49, 47], dtype=np.int64), "alphas_cumprod": a32}, {"prediction_type": "epsilon", "snr_gamma": 5.0})
    case("min_snr/error/timestep", "diffusers:min_snr_loss", {"model_pred": p2, "target": y2, "timesteps": np.array([3, 50, 1, 2], dtype=np.int64), "alphas_cumprod": a32})
    case("min_snr/error/shapes", "diffusers:min_snr_loss", {"model_pred": p2, "target": randn(4, 7), "timesteps": ts2, "alphas_cumprod": a32})
    write(OUT, GENERATOR, versions(torch=torch.__version__, diffusers=diffusers.__version__), CASES, count_errors=True)


if __name__ == "__main__":
    main()
