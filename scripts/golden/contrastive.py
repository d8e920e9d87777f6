#!/usr/bin/env python3
"""Golden cases for losslab's contrastive image-text losses, from the real references.

    ~/refenv/bin/python scripts/golden/contrastive.py

Writes crates/losslab-registry/tests/golden/contrastive.json in the format of
scripts/golden/README.md:

- open_clip:clip_loss: `open_clip.loss.ClipLoss()` (world_size 1) called on float64
  tensors; gradients by autograd w.r.t. both feature tensors, `logit_scale` and
  `logit_bias`.
- open_clip:siglip_loss: `open_clip.loss.SigLipLoss()` likewise.

Conventions beyond the README:
- `logit_scale` is the already-exponentiated scale (OpenCLIP's models pass
  `self.logit_scale.exp()`), a 0-d or (1,) tensor, differentiated as given.
- The features are passed as drawn, not normalised (OpenCLIP's losses do not
  normalise; its models do). A few cases pass unit-norm rows, as the models do.
- `reduction` null is OpenCLIP's result (losslab's `Mean`). The `none` and `sum`
  cases are losslab's per-pair values, built from the reference's own pieces:
  `ClipLoss.get_logits` and `F.cross_entropy(..., reduction='none')` (the mean of the
  two directions per pair), `SigLipLoss.get_logits` / `get_ground_truth` and
  `-F.logsigmoid(labels * logits).sum(1)` (per image); their means are the class's result.
- `open_clip:clip_loss`'s gradient w.r.t. `logit_bias` is 0 mathematically; torch
  returns its rounding noise (~1e-16), so it is not recorded.
Deterministic: one seeded numpy Generator, consumed in a fixed order.
"""

import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import T, make_case, dtypes_for, first_line, versions, write  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import open_clip  # noqa: E402
from open_clip.loss import ClipLoss, SigLipLoss  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "contrastive.json")
GENERATOR = "scripts/golden/contrastive.py"
rng = np.random.default_rng(20261204)
CASES = []


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def unit_rows(n, d):
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clip_fn(t, reduction):
    loss = ClipLoss()
    bias = t.get("logit_bias")
    if reduction is None:
        return loss(t["image_features"], t["text_features"], t["logit_scale"], bias)
    li, lt = loss.get_logits(t["image_features"], t["text_features"], t["logit_scale"], logit_bias=bias)
    labels = loss.get_ground_truth(li.device, li.shape[0])
    per = (F.cross_entropy(li, labels, reduction="none") + F.cross_entropy(lt, labels, reduction="none")) / 2
    return per if reduction == "none" else per.sum()


def siglip_fn(t, reduction):
    loss = SigLipLoss()
    bias = t.get("logit_bias")
    if reduction is None:
        return loss(t["image_features"], t["text_features"], t["logit_scale"], bias)
    x = t["image_features"]
    logits = loss.get_logits(x, t["text_features"], t["logit_scale"], bias)
    labels = loss.get_ground_truth(x.device, x.dtype, x.shape[0])
    per = -F.logsigmoid(labels * logits).sum(1)
    return per if reduction == "none" else per.sum()


FNS = {"open_clip:clip_loss": clip_fn, "open_clip:siglip_loss": siglip_fn}


def case(cid, loss, tensors, reduction=None, go=None):
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in tensors.items()}
    try:
        out = FNS[loss](t, reduction)
    except Exception as e:  # the reference raised
        CASES.append(make_case(cid, loss, tensors, {}, reduction, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    if go == "random":
        go = randn(*tuple(out.shape))
    gt = torch.ones_like(out) if go is None else torch.tensor(go, dtype=torch.float64)
    names = list(t)
    grads = torch.autograd.grad(out, [t[k] for k in names], gt)
    # ClipLoss's bias gradient is 0 (each softmax is shift-invariant); torch's autograd
    # gives its rounding (~1e-16): not recorded (losslab returns an exact 0).
    gd = {k: g.detach().numpy() for k, g in zip(names, grads) if not (loss == "open_clip:clip_loss" and k == "logit_bias")}
    CASES.append(make_case(cid, loss, tensors, {}, reduction, dtypes_for(tensors, go), go, out.detach().numpy(), gd, None))


def main():
    for loss, short in [("open_clip:clip_loss", "clip"), ("open_clip:siglip_loss", "siglip")]:
        sig = short == "siglip"
        s0, b0 = (np.array(10.0), np.array(-10.0)) if sig else (np.array(1 / 0.07), None)
        # the models' own form: unit-norm features, the initial scale (and bias)
        x, y = unit_rows(8, 5), unit_rows(8, 5)
        t = {"image_features": x, "text_features": y, "logit_scale": s0}
        if b0 is not None:
            t["logit_bias"] = b0
        case(f"{short}/unit-init", loss, t)
        # raw f32-exact features (not normalised), scale 2.5, with and without a bias
        x, y = randn(5, 3), randn(5, 3)
        case(f"{short}/raw", loss, {"image_features": x, "text_features": y, "logit_scale": np.array(2.5)})
        case(f"{short}/raw-bias", loss, {"image_features": x, "text_features": y, "logit_scale": np.array(2.5), "logit_bias": np.array(-0.75)})
        case(f"{short}/raw-bias/none", loss, {"image_features": x, "text_features": y, "logit_scale": np.array(2.5), "logit_bias": np.array(-0.75)}, "none", "random")
        case(f"{short}/raw/sum", loss, {"image_features": x, "text_features": y, "logit_scale": np.array(2.5)}, "sum")
        case(f"{short}/raw/go", loss, {"image_features": x, "text_features": y, "logit_scale": np.array(2.5)}, None, np.array(-2.0))
        # a (1,) scale and bias (OpenCLIP's nonscalar_logit_scale)
        case(f"{short}/scale-1d", loss, {"image_features": x, "text_features": y, "logit_scale": np.array([1.5]), "logit_bias": np.array([0.5])})
        # a large scale: saturated softmax / sigmoids
        x, y = unit_rows(16, 8), unit_rows(16, 8)
        case(f"{short}/scale100", loss, {"image_features": x, "text_features": y, "logit_scale": np.array(100.0), "logit_bias": np.array(-3.0)})
        # identical features (the positives dominate), one pair
        x = randn(6, 4)
        case(f"{short}/same", loss, {"image_features": x, "text_features": x.copy(), "logit_scale": np.array(4.0)})
        case(f"{short}/one-pair", loss, {"image_features": randn(1, 3), "text_features": randn(1, 3), "logit_scale": np.array(2.0), "logit_bias": np.array(0.25)})
        # a larger batch
        case(f"{short}/n64", loss, {"image_features": randn(64, 16, scale=0.3), "text_features": randn(64, 16, scale=0.3), "logit_scale": np.array(8.0)})
        # errors: batches or widths that differ
        case(f"{short}/error/batch", loss, {"image_features": randn(3, 2), "text_features": randn(4, 2), "logit_scale": np.array(1.0)})
        case(f"{short}/error/width", loss, {"image_features": randn(3, 2), "text_features": randn(3, 4), "logit_scale": np.array(1.0)})
    write(OUT, GENERATOR, versions(torch=torch.__version__, open_clip=open_clip.__version__), CASES, count_errors=True)


if __name__ == "__main__":
    main()
