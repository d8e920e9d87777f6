#!/usr/bin/env python3
"""Golden cases for losslab's per-token losses over (B, T, V) logits, from the real references.

    ~/refenv/bin/python scripts/golden/tokens.py

Writes crates/losslab-registry/tests/golden/tokens.json in the format of
scripts/golden/README.md:

- losslab:sequence_log_probs: TRL's `selective_log_softmax` (trl/trainer/utils.py,
  its torch path: no triton on CPU) with the ignore mask as DPO's
  `concatenated_forward` applies it (`labels[~mask] = 0` before the gather, the
  log-probabilities of ignored tokens set to 0 after it); cross-checked against
  `torch.gather(logits.log_softmax(-1), -1, labels.unsqueeze(-1))`. Reductions:
  `none` (the default: per token), `sum` (over tokens), `mean` (the sum over the
  number of counted tokens), `batchmean` (the sum over the first axis).
- trl:generalized_jsd_loss: the real `GKDTrainer.generalized_jsd_loss`
  (trl/experimental/gkd/gkd_trainer.py, TRL 1.16.0), every β case (0, 1, in
  between), temperatures, labels or none, every reduction.
- losslab:distillation_kl: a float64 torch program of Hinton's loss:
  `F.kl_div(log_softmax(student/τ)[mask], log_softmax(teacher/τ)[mask],
  log_target=True, reduction=r) * τ²` (forward; the arguments swapped for
  reverse), `none` the per-token sum over V scattered into (B, T) with 0 at
  ignored tokens.

Gradients by torch autograd w.r.t. every float tensor (both logits for the
two-distribution losses). Inputs are float32-exact so that every case also runs
in float32 (against these float64 values, at float32 tolerance).
Deterministic: one seeded numpy Generator, consumed in a fixed order.
"""

import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import make_case, dtypes_for, first_line, versions, write  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import trl  # noqa: E402
from trl.trainer.utils import selective_log_softmax  # noqa: E402
from trl.experimental.gkd.gkd_trainer import GKDTrainer  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "tokens.json")
GENERATOR = "scripts/golden/tokens.py"
rng = np.random.default_rng(20261217)
CASES = []


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def labels_for(shape, v, ignore=-100, frac=0.3):
    y = rng.integers(0, v, size=shape)
    m = rng.random(shape) < frac
    y[m] = ignore
    return y.astype(np.int64)


# ---- references


def seq_ref(t, options, reduction):
    logits, labels = t["logits"], t["labels"]
    ignore = options.get("ignore_index", -100)
    mask = labels != ignore
    idx = labels.clone()
    idx[~mask] = 0
    lp = selective_log_softmax(logits, idx)
    # cross-check: the naive log_softmax -> gather
    naive = torch.gather(logits.log_softmax(-1), -1, idx.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(lp, naive, rtol=1e-13, atol=1e-13)
    lp = lp.masked_fill(~mask, 0.0)
    if reduction in (None, "none"):
        return lp
    if reduction == "sum":
        return lp.sum()
    if reduction == "mean":
        return lp.sum() / mask.sum()
    if reduction == "batchmean":
        return lp.sum() / lp.shape[0]
    raise ValueError(reduction)


def gjsd_ref(t, options, reduction):
    return GKDTrainer.generalized_jsd_loss(
        t["student_logits"],
        t["teacher_logits"],
        labels=t.get("labels"),
        beta=options.get("beta", 0.5),
        temperature=options.get("temperature", 1.0),
        reduction=reduction or "batchmean",
    )


def kl_ref(t, options, reduction):
    tau = options.get("temperature", 1.0)
    ignore = options.get("ignore_index", -100)
    reverse = options.get("direction", "forward") == "reverse"
    s = F.log_softmax(t["student_logits"] / tau, dim=-1)
    q = F.log_softmax(t["teacher_logits"] / tau, dim=-1)
    v = s.shape[-1]
    lead = s.shape[:-1]
    if "labels" in t:
        mask = t["labels"] != ignore
    else:
        mask = torch.ones(lead, dtype=torch.bool)
    sm, qm = s[mask], q[mask]
    inp, tgt = (qm, sm) if reverse else (sm, qm)
    reduction = reduction or "batchmean"
    if reduction == "none":
        per = F.kl_div(inp, tgt, reduction="none", log_target=True).sum(-1) * tau**2
        out = torch.zeros(lead, dtype=s.dtype)
        out = out.masked_scatter(mask, per)
        return out
    assert sm.shape[-1] == v
    return F.kl_div(inp, tgt, reduction=reduction, log_target=True) * tau**2


FNS = {"losslab:sequence_log_probs": seq_ref, "trl:generalized_jsd_loss": gjsd_ref, "losslab:distillation_kl": kl_ref}


def case(cid, loss, tensors, options=None, reduction=None, go=None, record_grads=True):
    options = options or {}
    t = {}
    for k, v in tensors.items():
        a = np.asarray(v)
        if a.dtype.kind == "f":
            t[k] = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        else:
            t[k] = torch.tensor(a, dtype=torch.int64)
    try:
        out = FNS[loss](t, options, reduction)
    except Exception as e:  # the reference raised
        CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    if isinstance(go, str) and go == "random":
        go = randn(*tuple(out.shape))
    gt = torch.ones_like(out) if go is None else torch.tensor(go, dtype=torch.float64)
    names = [k for k in t if t[k].dtype == torch.float64]
    grads = torch.autograd.grad(out, [t[k] for k in names], gt, allow_unused=True)
    gd = {k: (g if g is not None else torch.zeros_like(t[k])).detach().numpy() for k, g in zip(names, grads)}
    if not record_grads:
        # identical student and teacher: the gradients are 0 mathematically and torch's
        # autograd gives its rounding (~1e-17): not recorded (the value, 0, is)
        gd = {}
    CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, go), go, out.detach().numpy(), gd, None))


def main():
    L = "losslab:sequence_log_probs"
    x, y = randn(2, 5, 7, scale=2.0), labels_for((2, 5), 7)
    case("seq/default", L, {"logits": x, "labels": y})
    case("seq/none/go", L, {"logits": x, "labels": y}, {}, "none", "random")
    for r in ["sum", "mean", "batchmean"]:
        case(f"seq/{r}", L, {"logits": x, "labels": y}, {}, r)
    case("seq/mean/go", L, {"logits": x, "labels": y}, {}, "mean", np.array(-2.0))
    y1 = labels_for((2, 5), 7, ignore=-1)
    case("seq/ignore-1", L, {"logits": x, "labels": y1}, {"ignore_index": -1}, "none", "random")
    case("seq/ignore-class", L, {"logits": x, "labels": np.where(y < 0, 3, y)}, {"ignore_index": 3}, "sum")
    case("seq/2d", L, {"logits": randn(6, 11), "labels": labels_for((6,), 11)}, {}, "none", "random")
    case("seq/saturated", L, {"logits": randn(3, 4, 9, scale=40.0), "labels": labels_for((3, 4), 9, frac=0.0)}, {}, "sum")
    case("seq/all-ignored", L, {"logits": randn(2, 3, 5), "labels": np.full((2, 3), -100)}, {}, "none")
    case("seq/long-rows", L, {"logits": randn(2, 3, 300), "labels": labels_for((2, 3), 300)}, {}, "batchmean")
    case("seq/v1", L, {"logits": randn(2, 4, 1), "labels": np.zeros((2, 4), dtype=np.int64)}, {}, "none")
    case("seq/error/label-range", L, {"logits": randn(2, 3, 4), "labels": np.array([[0, 1, 4], [2, 3, 0]])})

    G = "trl:generalized_jsd_loss"
    s, t, y = randn(2, 4, 6, scale=1.5), randn(2, 4, 6, scale=1.5), labels_for((2, 4), 6)
    case("gjsd/default", G, {"student_logits": s, "teacher_logits": t, "labels": y})
    case("gjsd/no-labels", G, {"student_logits": s, "teacher_logits": t})
    for beta in [0.0, 1.0, 0.1, 0.9]:
        case(f"gjsd/beta{beta}", G, {"student_logits": s, "teacher_logits": t, "labels": y}, {"beta": beta})
        case(f"gjsd/beta{beta}/T2", G, {"student_logits": s, "teacher_logits": t, "labels": y}, {"beta": beta, "temperature": 2.0})
        case(f"gjsd/beta{beta}/none", G, {"student_logits": s, "teacher_logits": t, "labels": y}, {"beta": beta}, "none", "random")
    case("gjsd/T0.5", G, {"student_logits": s, "teacher_logits": t, "labels": y}, {"temperature": 0.5})
    for r in ["sum", "mean", "batchmean", "none"]:
        case(f"gjsd/{r}", G, {"student_logits": s, "teacher_logits": t, "labels": y}, {}, r)
        case(f"gjsd/{r}/no-labels", G, {"student_logits": s, "teacher_logits": t}, {"beta": 0.3}, r, "random" if r == "none" else None)
    case("gjsd/sum/go", G, {"student_logits": s, "teacher_logits": t, "labels": y}, {"beta": 0.7, "temperature": 1.5}, "sum", np.array(0.5))
    case("gjsd/all-masked", G, {"student_logits": s, "teacher_logits": t, "labels": np.full((2, 4), -100)}, {}, "batchmean")
    case("gjsd/long-rows", G, {"student_logits": randn(2, 3, 257, scale=3.0), "teacher_logits": randn(2, 3, 257, scale=3.0), "labels": labels_for((2, 3), 257)}, {"beta": 0.25})
    case("gjsd/2d", G, {"student_logits": randn(5, 8), "teacher_logits": randn(5, 8)}, {"beta": 0.6}, "batchmean")
    case("gjsd/error/shapes", G, {"student_logits": randn(2, 3, 5), "teacher_logits": randn(2, 3, 4)})

    K = "losslab:distillation_kl"
    s, t, y = randn(3, 4, 7, scale=1.5), randn(3, 4, 7, scale=1.5), labels_for((3, 4), 7)
    case("kl/default", K, {"student_logits": s, "teacher_logits": t, "labels": y})
    case("kl/no-labels", K, {"student_logits": s, "teacher_logits": t})
    for d in ["forward", "reverse"]:
        for tau in [1.0, 2.0, 0.5]:
            for r in ["batchmean", "sum", "mean", "none"]:
                case(f"kl/{d}/T{tau}/{r}", K, {"student_logits": s, "teacher_logits": t, "labels": y}, {"direction": d, "temperature": tau}, r,
                     "random" if r == "none" else None)
    case("kl/ignore-1", K, {"student_logits": s, "teacher_logits": t, "labels": labels_for((3, 4), 7, ignore=-1)}, {"ignore_index": -1, "temperature": 3.0}, "none")
    case("kl/go", K, {"student_logits": s, "teacher_logits": t, "labels": y}, {"direction": "reverse", "temperature": 4.0}, "batchmean", np.array(-2.0))
    case("kl/long-rows", K, {"student_logits": randn(2, 2, 301, scale=4.0), "teacher_logits": randn(2, 2, 301, scale=4.0)}, {"temperature": 2.0}, "sum")
    case("kl/same", K, {"student_logits": s, "teacher_logits": s.copy()}, {"temperature": 2.0}, record_grads=False)
    case("kl/error/shapes", K, {"student_logits": randn(2, 3, 5), "teacher_logits": randn(2, 4, 5)})

    write(OUT, GENERATOR, versions(torch=torch.__version__, trl=trl.__version__), CASES, count_errors=True)


if __name__ == "__main__":
    main()
