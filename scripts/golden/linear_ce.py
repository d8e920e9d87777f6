#!/usr/bin/env python3
"""Golden cases for the LM head's fused linear cross entropy (issue 16).

Writes crates/losslab-registry/tests/golden/linear_ce.json (format: scripts/golden/README.md):

  torch:linear_cross_entropy with PyTorch's own options (linear_bias, weight, ignore_index,
      label_smoothing, every reduction, 2-d and 3-d input): the truth is
      torch.nn.functional.linear_cross_entropy itself in float64 (its reference path,
      options=None), gradients of input, linear_weight and linear_bias by autograd; each
      case is also run through the chunked path (options=LinearCrossEntropyOptions()) where
      that path takes it, and the two must agree to 1e-12.
  torch:linear_cross_entropy with losslab's LM options (lse_square_scale, softcap,
      logit_scale, and the per-token outputs lse / entropy / predicted): PyTorch has none of
      them, so the truth is the same computation written with PyTorch tensors in float64:
          z    = c * tanh(s * (input @ W.T + b) / c)          (softcap c; scale s)
          loss = cross_entropy(z, target, weight, ignore_index, label_smoothing, reduction)
               + z_loss,  z_loss = lse_square_scale * logsumexp(z)**2 over the counted tokens,
                 averaged over their number under 'mean' (Liger-Kernel's z-loss, unweighted)
      with gradients by autograd, the z-loss reported as the output `z_loss`.

    ~/refenv/bin/python scripts/golden/linear_ce.py

Deterministic: one seeded numpy Generator; every float input rounded to float32 so that
each case runs in float32 and float64.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from common import T, dtypes_for, first_line, make_case, versions, write  # noqa: E402

torch.set_num_threads(1)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "linear_ce.json")
GENERATOR = "scripts/golden/linear_ce.py"
LOSS = "torch:linear_cross_entropy"

rng = np.random.default_rng(20261203)
CASES = []


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def targets(shape, v, ignore=None, ignore_every=0):
    t = rng.integers(0, v, size=shape).astype(np.int64)
    if ignore is not None and ignore_every:
        flat = t.reshape(-1)
        flat[::ignore_every] = ignore
    return t


def reference(x, w, t, b, cw, reduction, ignore_index, ls, zs=0.0, cap=None, scale=1.0, grad_output=None):
    """(value, grads, outputs) in float64; grads of input, linear_weight, linear_bias
    (of Σ grad_output · value, ones by default)."""
    X = torch.tensor(x, requires_grad=True)
    W = torch.tensor(w, requires_grad=True)
    B = None if b is None else torch.tensor(b, requires_grad=True)
    Y = torch.tensor(t)
    CW = None if cw is None else torch.tensor(cw)
    plain = zs == 0.0 and cap is None and scale == 1.0
    if plain:
        value = F.linear_cross_entropy(X, W, Y, linear_bias=B, weight=CW, reduction=reduction,
                                       ignore_index=ignore_index, label_smoothing=ls)
        if ls == 0.0:  # the chunked path takes no label smoothing
            from torch.nn import LinearCrossEntropyOptions
            with torch.no_grad():
                chunked = F.linear_cross_entropy(X, W, Y, linear_bias=B, weight=CW, reduction=reduction,
                                                 ignore_index=ignore_index, label_smoothing=ls,
                                                 options=LinearCrossEntropyOptions())
            assert torch.allclose(chunked, value, rtol=1e-12, atol=1e-12, equal_nan=True), (chunked, value)
        z = F.linear(X, W, B)
        zl = torch.zeros(()) if reduction != "none" else torch.zeros(Y.shape, dtype=torch.float64)
    else:
        z = F.linear(X, W, B) * scale
        if cap is not None:
            z = cap * torch.tanh(z / cap)
        ce = F.cross_entropy(z.reshape(-1, z.shape[-1]), Y.reshape(-1), weight=CW, reduction=reduction,
                             ignore_index=ignore_index, label_smoothing=ls)
        if reduction == "none":
            ce = ce.reshape(Y.shape)
        mask = (Y != ignore_index).to(torch.float64)
        per = zs * torch.logsumexp(z, -1) ** 2 * mask
        zl = per.sum() / mask.sum() if reduction == "mean" else per.sum() if reduction == "sum" else per
        value = ce + zl
    wrt = [X, W] + ([B] if B is not None else [])
    g = torch.ones_like(value) if grad_output is None else torch.tensor(grad_output)
    gs = torch.autograd.grad(value, wrt, grad_outputs=g)
    grads = {"input": gs[0].numpy(), "linear_weight": gs[1].numpy()}
    if B is not None:
        grads["linear_bias"] = gs[2].numpy()
    zd = z.detach()
    lse = torch.logsumexp(zd, -1)
    p = torch.softmax(zd, -1)
    outputs = {
        "z_loss": zl.detach().numpy(),
        "lse": lse.numpy(),
        "entropy": (lse - (p * zd).sum(-1)).numpy(),
        "predicted": torch.argmax(zd, -1).numpy(),
    }
    return value.detach().numpy(), grads, outputs


def case(cid, x, w, t, b=None, cw=None, reduction="mean", ignore_index=-100, ls=0.0, zs=0.0, cap=None, scale=1.0,
         per_token=False, grad_output=None):
    tensors = {"input": x, "linear_weight": w, "target": t}
    if b is not None:
        tensors["linear_bias"] = b
    if cw is not None:
        tensors["weight"] = cw
    options = {"ignore_index": ignore_index, "label_smoothing": ls}
    lm = zs != 0.0 or cap is not None or scale != 1.0 or per_token
    if lm:
        options.update({"lse_square_scale": zs, "softcap": cap, "logit_scale": scale})
    if per_token:
        options.update({"return_lse": True, "return_entropy": True, "return_predicted": True})
    # (B, T, D) hidden states: PyTorch's linear_cross_entropy takes (N, D) only (it
    # refuses 3-d input), so the truth is the flattened (B·T, D) problem, reshaped back.
    lead = t.shape
    xf, tf_ = x.reshape(-1, x.shape[-1]), t.reshape(-1)
    gf = None if grad_output is None or grad_output.ndim == 0 else grad_output.reshape(-1)
    try:
        value, grads, outputs = reference(xf, w, tf_, b, cw, reduction, ignore_index, ls, zs, cap, scale,
                                          grad_output if gf is None else gf)
    except Exception as e:  # the reference refused: losslab must refuse too
        CASES.append(make_case(f"{LOSS}/{cid}", LOSS, tensors, options, reduction, ["float64"], None, None, {}, first_line(e)))
        return
    grads["input"] = grads["input"].reshape(x.shape)
    if reduction == "none":
        value = value.reshape(lead)
        outputs["z_loss"] = outputs["z_loss"].reshape(lead)
    for k in ("lse", "entropy", "predicted"):
        outputs[k] = outputs[k].reshape(lead)
    keep = {"z_loss": outputs["z_loss"]}
    if per_token:
        keep.update({k: outputs[k] for k in ("lse", "entropy", "predicted")})
    c = make_case(f"{LOSS}/{cid}", LOSS, tensors, options, reduction, dtypes_for(tensors, grad_output), grad_output,
                  value, grads, None)
    c["outputs"] = {k: T(v) for k, v in keep.items()}
    CASES.append(c)


def gen():
    N, D, V = 6, 5, 9
    # PyTorch's options, each alone and together.
    for red in ("mean", "sum", "none"):
        x, w = randn(N, D), randn(V, D, scale=0.5)
        case(f"plain/{red}", x, w, targets((N,), V), reduction=red)
        case(f"bias/{red}", x, w, targets((N,), V), b=randn(V), reduction=red)
        case(f"weight/{red}", x, w, targets((N,), V), cw=f32(rng.uniform(0.2, 2.0, V)), reduction=red)
        case(f"ignore/{red}", x, w, targets((N,), V, -100, 3), reduction=red)
        case(f"ignore_index=2/{red}", x, w, targets((N,), V), ignore_index=2, reduction=red)
        case(f"smoothing/{red}", x, w, targets((N,), V, -100, 4), ls=0.1, reduction=red)
        case(f"weight+smoothing+bias/{red}", x, w, targets((N,), V, -100, 4), b=randn(V), cw=f32(rng.uniform(0.2, 2.0, V)),
             ls=0.2, reduction=red)
        x3 = randn(2, 3, D)
        case(f"3d/{red}", x3, w, targets((2, 3), V, -100, 4), b=randn(V), ls=0.05, reduction=red)
    # Upstream gradients: per token under 'none', a number under 'mean'.
    x, w = randn(N, D), randn(V, D, scale=0.5)
    case("upstream/none", x, w, targets((N,), V, -100, 3), b=randn(V), reduction="none", grad_output=randn(N))
    case("upstream/mean", x, w, targets((N,), V), cw=f32(rng.uniform(0.2, 2.0, V)), ls=0.1, reduction="mean",
         grad_output=np.array(-0.5))
    # Every token ignored: mean is NaN, sum 0.
    case("all-ignored/mean", x, w, np.full((N,), -100, dtype=np.int64), reduction="mean")
    case("all-ignored/sum", x, w, np.full((N,), -100, dtype=np.int64), reduction="sum")
    # Large logits: the softmax is taken stably.
    case("large-logits", randn(N, D, scale=30.0), randn(V, D, scale=3.0), targets((N,), V), b=randn(V), reduction="mean")
    # A wider vocabulary (several vectorised blocks per row).
    case("vocab-300", randn(4, 16), randn(300, 16, scale=0.3), targets((4,), 300, -100, 3), b=randn(300), ls=0.1,
         reduction="mean")
    # losslab's LM options (truth written with PyTorch tensors).
    for red in ("mean", "sum", "none"):
        x, w = randn(N, D), randn(V, D, scale=0.5)
        case(f"z-loss/{red}", x, w, targets((N,), V, -100, 3), b=randn(V), zs=1e-2, reduction=red)
        case(f"z-loss+weight+smoothing/{red}", x, w, targets((N,), V, -100, 3), cw=f32(rng.uniform(0.2, 2.0, V)), ls=0.1,
             zs=1e-1, reduction=red)
        case(f"softcap/{red}", randn(N, D, scale=4.0), w, targets((N,), V), b=randn(V), cap=2.0, reduction=red)
        case(f"scale/{red}", x, w, targets((N,), V), scale=0.5, reduction=red)
        case(f"softcap+scale+z-loss+weight+smoothing/{red}", randn(N, D, scale=3.0), w, targets((N,), V, -100, 4),
             b=randn(V), cw=f32(rng.uniform(0.2, 2.0, V)), ls=0.1, zs=1e-2, cap=3.0, scale=1.5, reduction=red)
        case(f"per-token/{red}", x, w, targets((N,), V, -100, 4), b=randn(V), zs=1e-3, per_token=True, reduction=red)
    case("per-token+softcap/3d", randn(2, 3, D, scale=3.0), randn(V, D), targets((2, 3), V), cap=5.0, per_token=True,
         reduction="none", grad_output=randn(2, 3))
    # What PyTorch refuses.
    x, w = randn(N, D), randn(V, D)
    case("error/target-out-of-range", x, w, np.array([0, 1, 2, 3, 4, V], dtype=np.int64))
    case("error/negative-target", x, w, np.array([0, 1, 2, 3, 4, -1], dtype=np.int64))
    case("error/weight-shape", x, w, targets((N,), V), cw=f32(np.ones(V + 1)))
    case("error/feature-size", x, randn(V, D + 1), targets((N,), V))
    case("error/target-shape", x, w, targets((N + 1,), V))
    case("error/smoothing>1", x, w, targets((N,), V), ls=1.5)


if __name__ == "__main__":
    gen()
    write(OUT, GENERATOR, versions(torch=torch.__version__), CASES, count_errors=True)
