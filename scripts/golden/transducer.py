#!/usr/bin/env python3
"""Golden cases for the RNN transducer loss, torchaudio:rnnt_loss.

Writes crates/losslab-registry/tests/golden/transducer.json (format: scripts/golden/README.md).

torchaudio does not install beside the pinned PyTorch (2.15: no torchaudio wheel matches it,
the newest is 2.11), and its kernel computes in float32 only. The truth here is therefore a
float64 reference written in this script from torchaudio's own definition, in PyTorch:

* the checks and their messages are those of torchaudio's `rnnt_loss` wrapper
  (`torchaudio/functional/functional.py`: `blank < 0` counts from the end, reductions
  none/mean/sum) and of its CPU entry point (`src/libtorchaudio/rnnt/cpu/compute.cpp`:
  4-D logits, 2-D targets, 1-D lengths, batch sizes, `blank` in [0, C),
  `logits.size(1) == max(logit_lengths)` "input length mismatch",
  `logits.size(2) == max(target_lengths) + 1` "output length mismatch",
  `targets.size(1) + 1 == logits.size(2)` "target length mismatch");
* the value is the transducer's alpha recursion in log space with torch.logaddexp
  (`ComputeAlphaOneSequence` in `src/libtorchaudio/rnnt/cpu/cpu_kernels.h`), on
  `log_softmax(logits)` (fused_log_softmax=True) or on the logits as they are (False);
* the gradient is the kernel's (`ComputeGradientsOneSequence`): the derivative of each
  sequence's cost with respect to its logits (here by autograd through the recursion,
  which is that derivative exactly in both modes), clamped element-wise to [-clamp, clamp]
  when clamp > 0, zero past each sequence's lengths, then scaled by the upstream gradient of
  that sequence's cost (torchaudio's autograd multiplies the saved gradients by
  grad_output; `mean` divides by N).

    /root/refenv/bin/python scripts/golden/transducer.py

Deterministic: one seeded numpy Generator, consumed in a fixed order.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import T, dtypes_for, first_line, is_f32_exact, make_case, versions, write  # noqa: E402,F401

torch.set_num_threads(1)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "transducer.json")
GENERATOR = "scripts/golden/transducer.py"
LOSS = "torchaudio:rnnt_loss"

rng = np.random.default_rng(20261204)
CASES = []


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def rnnt_reference(logits, targets, logit_lengths, target_lengths, blank=-1, clamp=-1.0, reduction="mean",
                   fused_log_softmax=True, grad_output=None):
    """(value, grad of sum(grad_output * value) w.r.t. logits), float64, torchaudio's semantics."""
    if reduction not in ["none", "mean", "sum"]:
        raise ValueError("reduction should be one of 'none', 'mean', or 'sum'")
    if logits.ndim == 4 and blank < 0:
        blank = logits.shape[-1] + blank
    if logits.ndim != 4:
        raise RuntimeError("logits must be 4-D (batch, time, target, class)")
    if targets.ndim != 2:
        raise RuntimeError("targets must be 2-D (batch, max target length)")
    if logit_lengths.ndim != 1:
        raise RuntimeError("logit_lengths must be 1-D")
    if target_lengths.ndim != 1:
        raise RuntimeError("target_lengths must be 1-D")
    n, t_max, u1, c = logits.shape
    if logit_lengths.shape[0] != n:
        raise RuntimeError("batch dimension mismatch between logits and logit_lengths")
    if target_lengths.shape[0] != n:
        raise RuntimeError("batch dimension mismatch between logits and target_lengths")
    if targets.shape[0] != n:
        raise RuntimeError("batch dimension mismatch between logits and targets")
    if not (0 <= blank < c):
        raise RuntimeError("blank must be within [0, logits.shape[-1])")
    if t_max != logit_lengths.max():
        raise RuntimeError("input length mismatch")
    if u1 != target_lengths.max() + 1:
        raise RuntimeError("output length mismatch")
    if targets.shape[1] + 1 != u1:
        raise RuntimeError("target length mismatch")
    costs = []
    grads = np.zeros_like(logits)
    for b in range(n):
        tb, ub = int(logit_lengths[b]), int(target_lengths[b])
        x = torch.tensor(logits[b, :tb, :ub + 1, :], dtype=torch.float64, requires_grad=True)
        lp = torch.log_softmax(x, dim=-1) if fused_log_softmax else x
        alpha = [[None] * (ub + 1) for _ in range(tb)]
        for t in range(tb):
            for u in range(ub + 1):
                if t == 0 and u == 0:
                    alpha[t][u] = torch.zeros((), dtype=torch.float64)
                    continue
                terms = []
                if t > 0:
                    terms.append(alpha[t - 1][u] + lp[t - 1, u, blank])
                if u > 0:
                    terms.append(alpha[t][u - 1] + lp[t, u - 1, int(targets[b, u - 1])])
                alpha[t][u] = terms[0] if len(terms) == 1 else torch.logaddexp(terms[0], terms[1])
        cost = -(alpha[tb - 1][ub] + lp[tb - 1, ub, blank])
        (g,) = torch.autograd.grad(cost, x)
        if clamp > 0:
            g = g.clamp(-clamp, clamp)
        grads[b, :tb, :ub + 1, :] = g.numpy()
        costs.append(cost.item())
    costs = np.array(costs)
    if reduction == "none":
        value = costs
        scale = np.ones(n) if grad_output is None else np.asarray(grad_output)
    else:
        value = np.array(costs.mean() if reduction == "mean" else costs.sum())
        go = 1.0 if grad_output is None else float(grad_output)
        scale = np.full(n, go / n if reduction == "mean" else go)
    return value, grads * scale[:, None, None, None]


def add(cid, tensors, options, reduction, grad_output=None):
    cid = f"{LOSS}/{cid}"
    opts = dict(options)
    try:
        res, grads = rnnt_reference(tensors["logits"], tensors["targets"], tensors["logit_lengths"],
                                    tensors["target_lengths"], reduction=reduction, grad_output=grad_output, **opts)
    except (RuntimeError, ValueError) as e:
        CASES.append(make_case(cid, LOSS, tensors, options, reduction, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    dts = dtypes_for(tensors, grad_output)
    CASES.append(make_case(cid, LOSS, tensors, options, reduction, dts, grad_output, np.asarray(res, dtype=np.float64),
                           {"logits": grads}, None))


def batch(lengths_t, lengths_u, c, blank_index, scale=1.0, exact=True):
    """Random logits (N, max T, max U + 1, C) and labels other than the blank."""
    n = len(lengths_t)
    t_max, u_max = max(lengths_t), max(lengths_u)
    logits = rng.standard_normal((n, t_max, u_max + 1, c)) * scale
    if exact:
        logits = f32(logits)
    choices = np.array([k for k in range(c) if k != blank_index])
    targets = choices[rng.integers(0, len(choices), size=(n, u_max))].astype(np.int64)
    for b, u in enumerate(lengths_u):
        targets[b, u:] = 0
    return {
        "logits": logits,
        "targets": targets,
        "logit_lengths": np.array(lengths_t, dtype=np.int64),
        "target_lengths": np.array(lengths_u, dtype=np.int64),
    }


def main():
    # Defaults (blank = -1: the last class), every reduction, variable lengths.
    for red in ["mean", "sum", "none"]:
        tensors = batch([4, 3, 2], [2, 3, 1], 5, 4)
        go = f32(rng.standard_normal(3)) if red == "none" else None
        add(f"defaults/{red}", tensors, {}, red, go)
    add("defaults/upstream", batch([3, 3], [2, 2], 4, 3), {}, "mean", np.array(-2.5))
    # The blank first and in the middle.
    add("blank0", batch([4, 4], [2, 3], 4, 0), {"blank": 0}, "mean")
    add("blank2", batch([3, 4], [3, 1], 5, 2), {"blank": 2}, "sum")
    add("blank-2", batch([3, 2], [1, 2], 4, 2), {"blank": -2}, "none", f32(rng.standard_normal(2)))
    # The gradient clamp (some elements beyond it, others not).
    add("clamp0.05", batch([4, 3], [2, 2], 4, 3, scale=2.0), {"clamp": 0.05}, "mean")
    add("clamp0.2/none", batch([3, 3], [1, 2], 3, 2, scale=2.0), {"clamp": 0.2}, "none", f32(rng.standard_normal(2)))
    add("clamp-0", batch([2], [1], 3, 2), {"clamp": 0.0}, "mean")
    # Without the fused log-softmax: log-probabilities given, and raw logits taken as they are.
    lp = batch([4, 3], [2, 3], 4, 3)
    lp["logits"] = f32(torch.log_softmax(torch.tensor(lp["logits"]), -1).numpy())
    add("unfused/log-probs", lp, {"fused_log_softmax": False}, "mean")
    add("unfused/raw", batch([3, 3], [2, 1], 4, 3, scale=0.5), {"fused_log_softmax": False}, "sum")
    add("unfused/clamp", batch([3, 2], [2, 2], 4, 3), {"fused_log_softmax": False, "clamp": 0.1}, "none", f32(rng.standard_normal(2)))
    # No labels at all: every path emits T blanks.
    add("empty-targets", batch([3, 2], [0, 0], 3, 2), {}, "none")
    # One frame, several labels.
    add("one-frame", batch([1, 1], [3, 2], 4, 3), {}, "mean")
    # Large logits: log-space stability.
    add("large-logits", batch([4, 3], [3, 2], 5, 4, scale=40.0), {}, "mean")
    # A longer lattice (no cap): float64 only.
    add("long", batch([40, 33], [15, 12], 6, 5, exact=False), {}, "sum")
    # Blank used as a label (torchaudio does not forbid it).
    t = batch([3], [2], 3, 2)
    t["targets"][0, 1] = 2
    add("blank-as-label", t, {}, "mean")

    # The reference's errors.
    good = batch([3, 2], [2, 1], 4, 3)

    def with_(**kw):
        d = {k: v.copy() for k, v in good.items()}
        d.update(kw)
        return d

    add("error/logits-3d", with_(logits=good["logits"][0]), {}, "mean")
    add("error/targets-1d", with_(targets=good["targets"][:, 0]), {}, "mean")
    add("error/lengths-2d", with_(logit_lengths=good["logit_lengths"][:, None]), {}, "mean")
    add("error/batch-logit-lengths", with_(logit_lengths=np.array([3, 2, 2], dtype=np.int64)), {}, "mean")
    add("error/batch-targets", with_(targets=good["targets"][:1]), {}, "mean")
    add("error/blank", good, {"blank": 4}, "mean")
    add("error/blank-negative", good, {"blank": -5}, "mean")
    add("error/input-length", with_(logit_lengths=np.array([2, 2], dtype=np.int64)), {}, "mean")
    add("error/output-length", with_(target_lengths=np.array([1, 1], dtype=np.int64)), {}, "mean")
    add("error/target-length", with_(targets=np.zeros((2, 1), dtype=np.int64), target_lengths=np.array([2, 1], dtype=np.int64)), {}, "mean")

    write(OUT, GENERATOR, versions(torch=torch.__version__, torchaudio="none (float64 reference in this script)"), CASES,
          count_errors=True)


if __name__ == "__main__":
    main()
