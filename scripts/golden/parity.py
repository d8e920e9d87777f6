#!/usr/bin/env python3
"""Golden cases of PyTorch parity on shapes and gradients, from the real references.

Runs PyTorch and torchvision in float64 and writes parity.json into the golden
directory (crates/losslab-registry/tests/golden/) in the format of scripts/golden/README.md.
Deterministic (own seeded numpy Generator, single-threaded torch): a re-run rewrites a
byte-identical file.

    ~/refenv/bin/python scripts/golden/parity.py

What the cases pin (issue 12: what PyTorch accepts, losslab accepts with the same
numbers; what PyTorch differentiates, losslab differentiates):
- broadcasting: every operand of an element-wise loss in each position, broadcast as
  torch broadcasts it (a (1,)/() target against a (5,) input, (5,1) against (1,3), an
  input that broadcasts to the target, operands of different ranks), the result in the
  broadcast shape and each gradient summed back to its operand's shape; where torch
  refuses (bce/bce_with_logits/sigmoid_focal_loss targets must have the input's
  shape; soft_margin_loss and the weights of bce/bce_with_logits broadcast only *to*
  the input's shape; margin_ranking_loss and triplet losses need operands of one rank;
  shapes that do not broadcast) an error case;
- gaussian_nll_loss's var rules together with a broadcast target;
- the 0-d and (1,) forms of the per-row losses (multi_margin_loss and
  multilabel_margin_loss with a 0-d input: 0 with gradient 0);
- the gradients torch's autograd gives for float tensors the older files leave out:
  `weight` of cross_entropy with probability targets and of
  multilabel_soft_margin_loss (torch refuses the weight gradient of
  binary_cross_entropy, bce_with_logits (weight and pos_weight), nll_loss,
  multi_margin_loss and cross_entropy with class indices: "not differentiable");
- gradients at non-finite inputs as autograd gives them (margin_ranking_loss: 0 for
  input1/input2 where an element is NaN, NaN for target where 0 meets ±inf; the
  element-wise losses with NaN/±inf in every position).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("KERAS_BACKEND", "jax")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import itertools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402
import torchvision.ops as tvops  # noqa: E402

from generate import f32, make_case, dtypes_for, first_line  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "parity.json")
GENERATOR = "scripts/golden/parity.py"
rng = np.random.default_rng(20261212)
CASES = []


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def uniform(*shape, low=0.0, high=1.0):
    return f32(rng.uniform(low, high, shape))


def signs(*shape):
    return rng.choice([-1.0, 1.0], size=shape)


class Go:
    """Random upstream gradient for every other unreduced case; 0.5 / -2.0 for every
    third scalar case; ones (null) otherwise."""

    n_tensor = 0
    n_scalar = 0

    @classmethod
    def pick(cls, shape, mode):
        if mode is None:
            return None
        if len(shape) > 0:
            cls.n_tensor += 1
            return randn(*shape) if cls.n_tensor % 2 == 0 else None
        cls.n_scalar += 1
        if cls.n_scalar % 3 == 0:
            return np.array(0.5 if (cls.n_scalar // 3) % 2 else -2.0)
        return None


def torch_run(fn, tensors, options, reduction, diff, go_mode):
    tt = {}
    for k, v in tensors.items():
        v = np.asarray(v)
        if v.dtype.kind == "f":
            tt[k] = torch.tensor(v, dtype=torch.float64, requires_grad=k in diff)
        else:
            tt[k] = torch.tensor(v, dtype=torch.int64)
    res = fn(tt, options, reduction)
    go = Go.pick(tuple(res.shape), go_mode)
    gos = torch.ones_like(res) if go is None else torch.tensor(go, dtype=torch.float64)
    gs = torch.autograd.grad(res, [tt[n] for n in diff], grad_outputs=gos, allow_unused=True) if diff else []
    grads = {n: (np.zeros(np.asarray(tensors[n]).shape) if g is None else g.numpy()) for n, g in zip(diff, gs)}
    return res.detach().numpy(), grads, go


def case(spec, cid, tensors, options, reduction, go="auto"):
    loss, fn, diff = spec
    diff = [d for d in diff if d in tensors and np.asarray(tensors[d]).dtype.kind == "f"]
    cid = f"{loss}/{cid}"
    try:
        res, grads, gout = torch_run(fn, tensors, options, reduction, diff, go)
    except Exception as e:  # the reference raised
        CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, gout), gout,
                           np.asarray(res, dtype=np.float64), {k: np.asarray(v, dtype=np.float64) for k, v in grads.items()}, None))


def T_(name, fn, diff, ns="torch"):
    return f"{ns}:{name}", fn, diff


MSE = T_("mse_loss", lambda t, o, r: F.mse_loss(t["input"], t["target"], reduction=r), ("input", "target"))
L1 = T_("l1_loss", lambda t, o, r: F.l1_loss(t["input"], t["target"], reduction=r), ("input", "target"))
SL1 = T_("smooth_l1_loss", lambda t, o, r: F.smooth_l1_loss(t["input"], t["target"], beta=o.get("beta", 1.0), reduction=r), ("input", "target"))
HUB = T_("huber_loss", lambda t, o, r: F.huber_loss(t["input"], t["target"], delta=o.get("delta", 1.0), reduction=r), ("input", "target"))
KL = T_("kl_div", lambda t, o, r: F.kl_div(t["input"], t["target"], log_target=o.get("log_target", False), reduction=r), ("input", "target"))
POIS = T_("poisson_nll_loss", lambda t, o, r: F.poisson_nll_loss(
    t["input"], t["target"], log_input=o.get("log_input", True), full=o.get("full", False), eps=o.get("eps", 1e-8), reduction=r), ("input", "target"))
GAUSS = T_("gaussian_nll_loss", lambda t, o, r: F.gaussian_nll_loss(
    t["input"], t["target"], t["var"], full=o.get("full", False), eps=o.get("eps", 1e-6), reduction=r), ("input", "target", "var"))
GAUSS_F = T_("gaussian_nll_loss", lambda t, o, r: F.gaussian_nll_loss(
    t["input"], t["target"], float(o["var"]), full=o.get("full", False), eps=o.get("eps", 1e-6), reduction=r), ("input", "target"))
MRL = T_("margin_ranking_loss", lambda t, o, r: F.margin_ranking_loss(
    t["input1"], t["input2"], t["target"], margin=o.get("margin", 0.0), reduction=r), ("input1", "input2", "target"))
HEL = T_("hinge_embedding_loss", lambda t, o, r: F.hinge_embedding_loss(t["input"], t["target"], margin=o.get("margin", 1.0), reduction=r), ("input",))
SML = T_("soft_margin_loss", lambda t, o, r: F.soft_margin_loss(t["input"], t["target"], reduction=r), ("input",))
BCE = T_("binary_cross_entropy", lambda t, o, r: F.binary_cross_entropy(t["input"], t["target"], weight=t.get("weight"), reduction=r), ("input", "target"))
BCEL = T_("binary_cross_entropy_with_logits", lambda t, o, r: F.binary_cross_entropy_with_logits(
    t["input"], t["target"], weight=t.get("weight"), pos_weight=t.get("pos_weight"), reduction=r), ("input", "target"))
MLSML = T_("multilabel_soft_margin_loss", lambda t, o, r: F.multilabel_soft_margin_loss(
    t["input"], t["target"], weight=t.get("weight"), reduction=r), ("input", "target", "weight"))
MLML = T_("multilabel_margin_loss", lambda t, o, r: F.multilabel_margin_loss(t["input"], t["target"], reduction=r), ("input",))
MML = T_("multi_margin_loss", lambda t, o, r: F.multi_margin_loss(
    t["input"], t["target"], p=o.get("p", 1), margin=o.get("margin", 1.0), weight=t.get("weight"), reduction=r), ("input",))
CE = T_("cross_entropy", lambda t, o, r: F.cross_entropy(
    t["input"], t["target"], weight=t.get("weight"), ignore_index=o.get("ignore_index", -100),
    label_smoothing=o.get("label_smoothing", 0.0), reduction=r), ("input", "target", "weight"))
# with class indices torch refuses weight's gradient ("not differentiable"): input only
CE_IDX = (CE[0], CE[1], ("input",))
NLL = T_("nll_loss", lambda t, o, r: F.nll_loss(t["input"], t["target"], weight=t.get("weight"), ignore_index=o.get("ignore_index", -100), reduction=r), ("input",))
COS = T_("cosine_embedding_loss", lambda t, o, r: F.cosine_embedding_loss(
    t["input1"], t["input2"], t["target"], margin=o.get("margin", 0.0), reduction=r), ("input1", "input2"))
TRIP = T_("triplet_margin_loss", lambda t, o, r: F.triplet_margin_loss(
    t["anchor"], t["positive"], t["negative"], margin=o.get("margin", 1.0), p=o.get("p", 2.0), eps=o.get("eps", 1e-6),
    swap=o.get("swap", False), reduction=r), ("anchor", "positive", "negative"))
FOCAL = T_("sigmoid_focal_loss", lambda t, o, r: tvops.sigmoid_focal_loss(
    t["inputs"], t["targets"], alpha=o.get("alpha", 0.25), gamma=o.get("gamma", 2), reduction=r), ("inputs", "targets"), ns="torchvision")


def sn(s):
    return "x".join(map(str, s)) if s else "0d"


REDS = ("none", "mean", "sum")

# Pairs of shapes (a, b): b broadcasts to a, a to b, both to a third; then pairs that do not broadcast.
BCAST2 = [((5,), (1,)), ((5,), ()), ((), (5,)), ((5, 2), (1, 2)), ((1, 2), (5, 2)), ((5, 1), (1, 3)), ((2, 1, 3), (4, 1))]
NOBCAST2 = [((5,), (3,)), ((5, 2), (2, 5))]


def gen_broadcast():
    # ---- the element-wise losses of two float tensors, each position
    simple = [
        (MSE, {}, randn, randn),
        (L1, {}, randn, randn),
        (SL1, {"beta": 0.5}, randn, randn),
        (HUB, {"delta": 0.75}, randn, randn),
        (KL, {"log_target": False}, randn, lambda *s: uniform(*s, low=0.05, high=1.0)),
        (KL, {"log_target": True}, randn, randn),
        (POIS, {"log_input": True, "full": True, "eps": 1e-8}, randn, lambda *s: f32(rng.poisson(2.0, s).astype(np.float64))),
        (POIS, {"log_input": False, "full": False, "eps": 1e-8}, lambda *s: uniform(*s, low=0.1, high=3.0), lambda *s: f32(rng.poisson(2.0, s).astype(np.float64))),
        (HEL, {"margin": 1.0}, lambda *s: uniform(*s, low=0.0, high=2.0), signs),
    ]
    for k, (spec, opts, gx, gy) in enumerate(simple):
        tag = "/".join(f"{a}={b}" for a, b in opts.items())
        tag = f"{tag}/" if tag else ""
        for i, (a, b) in enumerate(BCAST2):
            r = REDS[(i + k) % 3]
            case(spec, f"broadcast/{tag}input-{sn(a)}/target-{sn(b)}/{r}", {"input": gx(*a), "target": gy(*b)}, opts, r)
        for a, b in NOBCAST2:
            case(spec, f"broadcast/{tag}error/input-{sn(a)}/target-{sn(b)}", {"input": gx(*a), "target": gy(*b)}, opts, "mean")

    # ---- soft_margin_loss: the target broadcasts to the input, never the input to the target
    for i, (a, b) in enumerate([((5,), (1,)), ((5,), ()), ((5, 2), (1, 2)), ((2, 3, 2), (3, 1))]):
        case(SML, f"broadcast/input-{sn(a)}/target-{sn(b)}/{REDS[i % 3]}", {"input": randn(*a), "target": signs(*b)}, {}, REDS[i % 3])
    for a, b in [((), (5,)), ((1, 2), (5, 2)), ((5, 1), (1, 3)), ((5,), (3,))]:
        case(SML, f"broadcast/error/input-{sn(a)}/target-{sn(b)}", {"input": randn(*a), "target": signs(*b)}, {}, "mean")

    # ---- margin_ranking_loss: operands of one rank broadcast together
    for i, (a, b, c) in enumerate([((5, 2), (5, 1), (1, 2)), ((5,), (1,), (1,)), ((1, 3), (4, 1), (4, 3)), ((2, 1, 3), (1, 4, 1), (2, 4, 3))]):
        for m in (0.0, 0.5):
            r = REDS[(i + int(m * 2)) % 3]
            case(MRL, f"broadcast/{sn(a)}-{sn(b)}-{sn(c)}/margin={m}/{r}", {"input1": randn(*a), "input2": randn(*b), "target": signs(*c)}, {"margin": m}, r)
    for a, b, c in [((5,), (1,), ()), ((), (5,), (1,)), ((5,), (5,), (3,)), ((5, 2), (2,), (5, 2))]:
        case(MRL, f"broadcast/error/{sn(a)}-{sn(b)}-{sn(c)}", {"input1": randn(*a), "input2": randn(*b), "target": signs(*c)}, {"margin": 0.0}, "mean")

    # ---- hinge_embedding_loss: the brief's (5,5) with (1,5)
    case(HEL, "broadcast/input-5x5/target-1x5/mean", {"input": uniform(5, 5, low=0.0, high=2.0), "target": signs(1, 5)}, {"margin": 1.0}, "mean")
    case(HEL, "broadcast/input-5x5/target-1x5/none", {"input": uniform(5, 5, low=0.0, high=2.0), "target": signs(1, 5)}, {"margin": 0.5}, "none")

    # ---- gaussian_nll_loss: a broadcast input/target, with each var rule
    gv = [((5,), (1,), (5,)), ((5,), (), (5,)), ((5,), (1,), (1,)), ((5,), (1,), ()), ((4, 3), (1, 3), (4,)), ((4, 3), (1, 3), (4, 1)),
          ((4, 3), (4, 1), (4, 3)), ((4, 3), (4, 1), (4,)), ((4, 3), (4, 1), (1, 3)), ((1, 3), (4, 3), (1, 3)), ((2, 4, 3), (4, 3), (2, 4, 1)),
          ((5,), (5,), (1,)), ((5,), (5,), ())]
    for i, (a, b, v) in enumerate(gv):
        r = REDS[i % 3]
        full = i % 2 == 1
        case(GAUSS, f"broadcast/input-{sn(a)}/target-{sn(b)}/var-{sn(v)}/full={full}/{r}",
             {"input": randn(*a), "target": randn(*b), "var": uniform(*v, low=0.2, high=2.0)}, {"full": full, "eps": 1e-6}, r)
    for a, b, v in [((1, 3), (4, 3), (4, 3)), ((4, 3), (4, 3), (3,)), ((4, 3), (4, 3), (1, 1)), ((2, 4, 3), (2, 4, 3), (4, 3)), ((5,), (3,), (5,))]:
        case(GAUSS, f"broadcast/error/input-{sn(a)}/target-{sn(b)}/var-{sn(v)}",
             {"input": randn(*a), "target": randn(*b), "var": uniform(*v, low=0.2, high=2.0)}, {"full": False, "eps": 1e-6}, "mean")
    for i, (a, b) in enumerate([((5,), (1,)), ((), (5,)), ((5, 1), (1, 3))]):
        case(GAUSS_F, f"broadcast/float-var/input-{sn(a)}/target-{sn(b)}/{REDS[i]}", {"input": randn(*a), "target": randn(*b)},
             {"var": 0.5, "full": False, "eps": 1e-6}, REDS[i])

    # ---- bce / bce_with_logits / sigmoid_focal_loss: the target must have the input's shape
    for a, b in [((5,), (1,)), ((5,), ()), ((1, 2), (5, 2))]:
        case(BCE, f"broadcast/error/input-{sn(a)}/target-{sn(b)}", {"input": uniform(*a, low=0.05, high=0.95), "target": uniform(*b)}, {}, "mean")
        case(BCEL, f"broadcast/error/input-{sn(a)}/target-{sn(b)}", {"input": randn(*a), "target": uniform(*b)}, {}, "mean")
        case(FOCAL, f"broadcast/error/inputs-{sn(a)}/targets-{sn(b)}", {"inputs": randn(*a), "targets": uniform(*b)}, {"alpha": 0.25, "gamma": 2.0}, "mean")
    # ... their weights broadcast to the input's shape (and only to it)
    x, y = uniform(5, 3, low=0.05, high=0.95), uniform(5, 3)
    xl = randn(5, 3, scale=2.0)
    for i, w in enumerate([(3,), (5, 1), (), (1, 3)]):
        r = REDS[i % 3]
        case(BCE, f"broadcast/weight-{sn(w)}/{r}", {"input": x, "target": y, "weight": uniform(*w, low=0.2, high=2.0)}, {}, r)
        case(BCEL, f"broadcast/weight-{sn(w)}/{r}", {"input": xl, "target": y, "weight": uniform(*w, low=0.2, high=2.0)}, {}, r)
        case(BCEL, f"broadcast/pos_weight-{sn(w)}/{r}", {"input": xl, "target": y, "pos_weight": uniform(*w, low=0.2, high=3.0)}, {}, r)
    case(BCEL, "broadcast/weight-5x1+pos_weight-3/mean", {"input": xl, "target": y, "weight": uniform(5, 1, low=0.2, high=2.0), "pos_weight": uniform(3, low=0.5, high=3.0)}, {}, "mean")
    for w in [(2, 5, 3), (4,)]:
        case(BCE, f"broadcast/error/weight-{sn(w)}", {"input": x, "target": y, "weight": uniform(*w, low=0.2, high=2.0)}, {}, "mean")
        case(BCEL, f"broadcast/error/weight-{sn(w)}", {"input": xl, "target": y, "weight": uniform(*w, low=0.2, high=2.0)}, {}, "mean")
        case(BCEL, f"broadcast/error/pos_weight-{sn(w)}", {"input": xl, "target": y, "pos_weight": uniform(*w, low=0.2, high=2.0)}, {}, "mean")

    # ---- multilabel_soft_margin_loss: input, target and weight broadcast together; the
    # class axis is the input's last, and C its length
    for i, (a, b, w) in enumerate([((5, 3), (1, 3), None), ((1, 3), (5, 3), None), ((5, 3), (5, 3), (5, 1)), ((5, 3), (5, 3), ()),
                                   ((5, 3), (3,), (1, 3)), ((4,), (1,), None), ((2, 3, 4), (3, 1), (4,))]):
        t = {"input": randn(*a, scale=2.0), "target": f32(rng.integers(0, 2, b).astype(np.float64))}
        if w is not None:
            t["weight"] = uniform(*w, low=0.2, high=2.0)
        r = REDS[i % 3]
        case(MLSML, f"broadcast/input-{sn(a)}/target-{sn(b)}/weight-{sn(w) if w is not None else 'none'}/{r}", t, {}, r)
    case(MLSML, "broadcast/error/input-5x3/target-5x4", {"input": randn(5, 3), "target": uniform(5, 4)}, {}, "mean")
    case(MLSML, "broadcast/error/weight-4", {"input": randn(5, 3), "target": uniform(5, 3), "weight": uniform(4)}, {}, "mean")

    # ---- cosine_embedding_loss / triplet_margin_loss: vectors of one rank broadcast
    case(COS, "broadcast/input2-1x3/none", {"input1": randn(4, 3), "input2": randn(1, 3), "target": signs(4)}, {"margin": 0.0}, "none")
    case(COS, "broadcast/input1-1x3/target-1/mean", {"input1": randn(1, 3), "input2": randn(4, 3), "target": signs(1)}, {"margin": 0.25}, "mean")
    case(COS, "broadcast/error/target-0d-with-2d", {"input1": randn(4, 3), "input2": randn(4, 3), "target": np.array(1.0)}, {"margin": 0.0}, "mean")
    case(TRIP, "broadcast/positive-1x3/none", {"anchor": randn(4, 3), "positive": randn(1, 3), "negative": randn(4, 3)},
         {"margin": 1.0, "p": 2.0, "eps": 1e-6, "swap": False}, "none")
    case(TRIP, "broadcast/anchor-1x3/swap/mean", {"anchor": randn(1, 3), "positive": randn(4, 3), "negative": randn(4, 3)},
         {"margin": 1.0, "p": 2.0, "eps": 1e-6, "swap": True}, "mean")
    case(TRIP, "broadcast/error/positive-3", {"anchor": randn(4, 3), "positive": randn(3), "negative": randn(4, 3)},
         {"margin": 1.0, "p": 2.0, "eps": 1e-6, "swap": False}, "mean")


def gen_zero_d():
    x0 = np.array(0.25)
    for r in REDS:
        case(MML, f"0d/input-0d/target-0d/{r}", {"input": x0, "target": np.array(0, dtype=np.int64)}, {"p": 1, "margin": 1.0}, r)
        case(MML, f"0d/input-0d/target-1/{r}", {"input": x0, "target": np.array([0], dtype=np.int64)}, {"p": 2, "margin": 1.0}, r)
        case(MML, f"0d/input-4/target-1/{r}", {"input": randn(4), "target": np.array([2], dtype=np.int64)}, {"p": 1, "margin": 1.0}, r)
        case(MML, f"0d/input-1/target-0d/{r}", {"input": randn(1), "target": np.array(0, dtype=np.int64)}, {"p": 1, "margin": 1.0}, r)
        case(MLML, f"0d/input-0d/target-0d/{r}", {"input": x0, "target": np.array(0, dtype=np.int64)}, {}, r)
        case(MLML, f"0d/input-0d/target-0d-terminator/{r}", {"input": x0, "target": np.array(-1, dtype=np.int64)}, {}, r)
        case(MLML, f"0d/input-0d/target-1/{r}", {"input": x0, "target": np.array([0], dtype=np.int64)}, {}, r)
        case(MLML, f"0d/input-1/target-0d/{r}", {"input": randn(1), "target": np.array(0, dtype=np.int64)}, {}, r)
    case(MML, "0d/input-0d/weight-1/mean", {"input": x0, "target": np.array(0, dtype=np.int64), "weight": np.array([2.0])}, {"p": 1, "margin": 1.0}, "mean")
    case(MML, "0d/error/input-0d/target-out-of-range", {"input": x0, "target": np.array(1, dtype=np.int64)}, {"p": 1, "margin": 1.0}, "mean")
    case(MML, "0d/error/input-4/target-2", {"input": randn(4), "target": np.array([2, 1], dtype=np.int64)}, {"p": 1, "margin": 1.0}, "mean")
    case(MML, "0d/error/weight-0d", {"input": x0, "target": np.array(0, dtype=np.int64), "weight": np.array(2.0)}, {"p": 1, "margin": 1.0}, "mean")
    case(MLML, "0d/error/input-4/target-1", {"input": randn(4), "target": np.array([2], dtype=np.int64)}, {}, "mean")
    case(NLL, "0d/error/input-0d", {"input": x0, "target": np.array(0, dtype=np.int64)}, {}, "mean")
    case(CE_IDX, "0d/error/input-0d", {"input": x0, "target": np.array(0, dtype=np.int64)}, {}, "mean")
    case(CE, "0d/error/input-0d-probs", {"input": x0, "target": np.array(1.0)}, {}, "mean")
    case(MLSML, "0d/error/input-0d", {"input": x0, "target": np.array(1.0)}, {}, "mean")
    case(COS, "0d/error/input-0d", {"input1": x0, "input2": np.array(0.5), "target": np.array(1.0)}, {"margin": 0.0}, "mean")
    case(COS, "0d/error/input-4/target-1", {"input1": randn(4), "input2": randn(4), "target": signs(1)}, {"margin": 0.0}, "mean")
    case(TRIP, "0d/anchor-0d/none", {"anchor": np.array(0.5), "positive": np.array(-0.25), "negative": np.array(1.5)},
         {"margin": 1.0, "p": 2.0, "eps": 1e-6, "swap": False}, "none")


def gen_weight_grads():
    # cross_entropy with probability targets: torch differentiates weight
    x, p = randn(4, 3), uniform(4, 3)
    p = f32(p / p.sum(axis=1, keepdims=True))
    w = uniform(3, low=0.2, high=2.0)
    for r in REDS:
        case(CE, f"weight-grad/probs/{r}", {"input": x, "target": p, "weight": w}, {"ignore_index": -100, "label_smoothing": 0.0}, r)
    case(CE, "weight-grad/probs/smoothing=0.2/mean", {"input": x, "target": p, "weight": w}, {"ignore_index": -100, "label_smoothing": 0.2}, "mean")
    case(CE, "weight-grad/probs/3d/sum", {"input": randn(2, 3, 4), "target": uniform(2, 3, 4), "weight": w}, {"ignore_index": -100, "label_smoothing": 0.1}, "sum")
    case(CE, "weight-grad/probs/1d/none", {"input": randn(3), "target": uniform(3), "weight": w}, {"ignore_index": -100, "label_smoothing": 0.0}, "none")
    # ... and not with class indices (torch: "not differentiable"): the value only
    case(CE_IDX, "weight-grad/indices/mean", {"input": x, "target": np.array([0, 2, 1, 2], dtype=np.int64), "weight": w}, {"ignore_index": -100, "label_smoothing": 0.1}, "mean")
    # multilabel_soft_margin_loss: torch differentiates weight
    xm, ym = randn(4, 5, scale=2.0), uniform(4, 5)
    for r in REDS:
        case(MLSML, f"weight-grad/weight-5/{r}", {"input": xm, "target": ym, "weight": uniform(5, low=0.2, high=2.0)}, {}, r)
    case(MLSML, "weight-grad/weight-4x5/mean", {"input": xm, "target": ym, "weight": uniform(4, 5, low=0.0, high=2.0)}, {}, "mean")


NF = [np.nan, np.inf, -np.inf, 0.0, 1.5, -0.5]


def grid(*vals):
    """Every combination of the value lists, one tensor per list, flattened."""
    cols = list(zip(*itertools.product(*vals)))
    return [np.array(c, dtype=np.float64) for c in cols]


def gen_nonfinite():
    # margin_ranking_loss: every combination of NaN/±inf/finite in input1, input2, target
    a, b, t = grid(NF, NF, [np.nan, np.inf, -np.inf, 0.0, 1.0, -1.0])
    for m in (0.0, 0.5):
        for r in ("none", "sum"):
            case(MRL, f"nonfinite/every-combination/margin={m}/{r}", {"input1": a, "input2": b, "target": t}, {"margin": m}, r, go=None)
    # the element-wise losses of an input and a target
    for spec, opts, xs, ys in [
        (MSE, {}, NF, NF),
        (L1, {}, NF, NF),
        (SL1, {"beta": 1.0}, NF, NF),
        (SL1, {"beta": 0.0}, NF, NF),
        (HUB, {"delta": 1.0}, NF, NF),
        (KL, {"log_target": False}, NF, NF + [0.25]),
        (KL, {"log_target": True}, NF, NF),
        (POIS, {"log_input": True, "full": False, "eps": 1e-8}, NF, NF),
        (POIS, {"log_input": False, "full": False, "eps": 1e-8}, NF, NF),
        (HEL, {"margin": 1.0}, NF, [np.nan, np.inf, -np.inf, 1.0, -1.0, 0.5]),
        (SML, {}, NF, [np.nan, np.inf, -np.inf, 1.0, -1.0, 0.0]),
        (BCEL, {}, NF, [np.nan, np.inf, -np.inf, 0.0, 1.0, 0.25]),
        (FOCAL, {"alpha": 0.25, "gamma": 2.0}, NF, [np.nan, np.inf, -np.inf, 0.0, 1.0, 0.25]),
    ]:
        x, y = grid(xs, ys)
        names = ("inputs", "targets") if spec is FOCAL else ("input", "target")
        tag = "/".join(f"{k}={v}" for k, v in opts.items())
        tag = f"{tag}/" if tag else ""
        case(spec, f"nonfinite/{tag}every-combination/none", {names[0]: x, names[1]: y}, opts, "none", go=None)
    # bce: the input must lie in [0, 1] (torch refuses NaN there too)
    x, y = grid([0.0, 0.25, 1.0], [np.nan, np.inf, -np.inf, 0.0, 1.0, 0.25])
    case(BCE, "nonfinite/every-combination/none", {"input": x, "target": y}, {}, "none", go=None)
    case(BCE, "nonfinite/error/nan-input", {"input": np.array([0.5, np.nan]), "target": np.array([1.0, 0.0])}, {}, "none")
    # gaussian_nll_loss: input, target and var
    x, y, v = grid([np.nan, np.inf, -np.inf, 0.5], [np.nan, np.inf, -np.inf, 0.5], [np.nan, np.inf, 0.0, 2.0])
    case(GAUSS, "nonfinite/every-combination/none", {"input": x, "target": y, "var": v}, {"full": False, "eps": 1e-6}, "none", go=None)


# ---- appended after the first cases (their random draws come first, so that the
# earlier cases stay byte-identical)

# nll_loss / cross_entropy with a (C,) input and a (1,) target: torch gives the 0-d
# target's value (a 0-d result) but its backward raises "size mismatch": value only
NLL_VALUE = (NLL[0], NLL[1], ())
CE_VALUE = (CE[0], CE[1], ())
TRIPD = T_("triplet_margin_with_distance_loss", lambda t, o, r: F.triplet_margin_with_distance_loss(
    t["anchor"], t["positive"], t["negative"],
    distance_function={"pairwise": None, "cosine": lambda x, y: 1.0 - F.cosine_similarity(x, y, dim=-1)}[o.get("distance_function", "pairwise")],
    margin=o.get("margin", 1.0), swap=o.get("swap", False), reduction=r), ("anchor", "positive", "negative"))
BOX = {n: T_(n, (lambda f: lambda t, o, r: f(t["boxes1"], t["boxes2"], reduction=r, eps=o.get("eps", 1e-7)))(getattr(tvops, n)),
             ("boxes1", "boxes2"), ns="torchvision")
       for n in ("generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss")}


def gen_parity2():
    # ---- multilabel_soft_margin_loss: torch sums over axis input.ndim − 1 of the broadcast
    # result, even where a target or weight of more axes moves that axis
    for i, (a, b, w) in enumerate([((3,), (2, 3), (1, 3)), ((5, 3), (5, 3), (2, 5, 3)), ((4, 1), (4, 3), (3,))]):
        t = {"input": randn(*a, scale=2.0), "target": f32(rng.integers(0, 2, b).astype(np.float64)), "weight": uniform(*w, low=0.2, high=2.0)}
        r = REDS[i % 3]
        case(MLSML, f"broadcast/class-axis/input-{sn(a)}/target-{sn(b)}/weight-{sn(w)}/{r}", t, {}, r)

    # ---- nll_loss / cross_entropy: a (C,) input with a (1,) target (value only)
    x, w = randn(3), uniform(3, low=0.2, high=2.0)
    lp = f32(x - np.log(np.exp(x.astype(np.float64)).sum()))
    for r in REDS:
        case(NLL_VALUE, f"target-1/input-3/{r}", {"input": lp, "target": np.array([1], dtype=np.int64)}, {"ignore_index": -100}, r)
        case(NLL_VALUE, f"target-1/input-3/weight/{r}", {"input": lp, "target": np.array([2], dtype=np.int64), "weight": w}, {"ignore_index": -100}, r)
        case(CE_VALUE, f"target-1/input-3/{r}", {"input": x, "target": np.array([0], dtype=np.int64)}, {"ignore_index": -100, "label_smoothing": 0.0}, r)
        case(CE_VALUE, f"target-1/input-3/weight/{r}", {"input": x, "target": np.array([2], dtype=np.int64), "weight": w},
             {"ignore_index": -100, "label_smoothing": 0.0}, r)
    case(NLL_VALUE, "target-1/input-3/ignored/mean", {"input": lp, "target": np.array([1], dtype=np.int64)}, {"ignore_index": 1}, "mean")
    case(CE_VALUE, "target-1/input-3/ignored/sum", {"input": x, "target": np.array([-100], dtype=np.int64)}, {"ignore_index": -100, "label_smoothing": 0.0}, "sum")
    case(CE_VALUE, "target-1/error/smoothing", {"input": x, "target": np.array([1], dtype=np.int64)}, {"ignore_index": -100, "label_smoothing": 0.2}, "mean")
    case(NLL_VALUE, "target-1/error/input-3/target-2", {"input": lp, "target": np.array([1, 2], dtype=np.int64)}, {"ignore_index": -100}, "mean")

    # ---- cosine_embedding_loss: the vector axis broadcasts too (each squared norm is its
    # input's own), and the target with the pairs
    case(COS, "broadcast/input2-4x1/none", {"input1": randn(4, 3), "input2": randn(4, 1), "target": signs(4)}, {"margin": 0.0}, "none")
    case(COS, "broadcast/input1-1x1/input2-1x3/target-4/sum", {"input1": randn(1, 1), "input2": randn(1, 3), "target": signs(4)}, {"margin": -0.5}, "sum")
    case(COS, "broadcast/inputs-4x3/target-1/none", {"input1": randn(4, 3), "input2": randn(4, 3), "target": np.array([-1.0])}, {"margin": -0.25}, "none")
    case(COS, "broadcast/error/target-3-with-4", {"input1": randn(4, 3), "input2": randn(1, 3), "target": signs(3)}, {"margin": 0.0}, "mean")
    case(COS, "broadcast/error/input2-2x3", {"input1": randn(4, 3), "input2": randn(2, 3), "target": signs(4)}, {"margin": 0.0}, "mean")

    # ---- triplet losses: one rank, broadcast (the vector axis too)
    opts = {"margin": 1.0, "p": 1.0, "eps": 1e-6, "swap": False}
    case(TRIP, "broadcast/negative-1x3/p=1/sum", {"anchor": randn(4, 3), "positive": randn(4, 3), "negative": randn(1, 3)}, opts, "sum")
    case(TRIP, "broadcast/positive-4x1/none", {"anchor": randn(4, 3), "positive": randn(4, 1), "negative": randn(4, 3)},
         {"margin": 2.0, "p": 2.0, "eps": 1e-6, "swap": False}, "none")
    case(TRIP, "broadcast/2x1x3-1x4x3-2x4x1/swap/mean", {"anchor": randn(2, 1, 3), "positive": randn(1, 4, 3), "negative": randn(2, 4, 1)},
         {"margin": 1.0, "p": 2.0, "eps": 1e-6, "swap": True}, "mean")
    for dist in ("pairwise", "cosine"):
        o = {"distance_function": dist, "margin": 1.0, "swap": False}
        case(TRIPD, f"broadcast/{dist}/positive-1x3/none", {"anchor": randn(4, 3), "positive": randn(1, 3), "negative": randn(4, 3)}, o, "none")
        case(TRIPD, f"broadcast/{dist}/anchor-1x3/swap/mean", {"anchor": randn(1, 3), "positive": randn(4, 3), "negative": randn(4, 3)},
             dict(o, swap=True), "mean")
    case(TRIPD, "broadcast/error/negative-3", {"anchor": randn(4, 3), "positive": randn(4, 3), "negative": randn(3)},
         {"distance_function": "pairwise", "margin": 1.0, "swap": False}, "mean")

    # ---- torchvision's box losses: boxes2 broadcasts into boxes1 (not the other way)
    def boxes(*lead):
        xy = uniform(*lead, 2, low=0.0, high=10.0)
        return f32(np.concatenate([xy, xy + uniform(*lead, 2, low=0.5, high=5.0)], axis=-1))
    for i, (n, spec) in enumerate(BOX.items()):
        for j, (a, b) in enumerate([((5, 4), (1, 4)), ((2, 3, 4), (3, 4)), ((3, 4), (4,))]):
            r = REDS[(i + j) % 3]
            case(spec, f"broadcast/boxes1-{sn(a)}/boxes2-{sn(b)}/{r}", {"boxes1": boxes(*a[:-1]), "boxes2": boxes(*b[:-1])}, {"eps": 1e-7}, r)
        case(spec, "broadcast/error/boxes1-1x4/boxes2-5x4", {"boxes1": boxes(1), "boxes2": boxes(5)}, {"eps": 1e-7}, "none")


def main():
    gen_broadcast()
    gen_zero_d()
    gen_weight_grads()
    gen_nonfinite()
    gen_parity2()
    ids = [c["id"] for c in CASES]
    dup = {i for i in ids if ids.count(i) > 1}
    assert not dup, sorted(dup)
    versions = {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__}
    with open(OUT, "w", encoding="utf-8") as f:
        f.write("{\n")
        f.write(f'  "generator": {json.dumps(GENERATOR)},\n')
        f.write(f'  "versions": {json.dumps(versions, sort_keys=True)},\n')
        f.write('  "cases": [\n')
        for i, c in enumerate(CASES):
            f.write("    " + json.dumps(c, allow_nan=False, separators=(",", ":")) + (",\n" if i + 1 < len(CASES) else "\n"))
        f.write("  ]\n}\n")
    errs = sum(c["error"] is not None for c in CASES)
    print(f"wrote {OUT}: {len(CASES)} cases ({errs} errors), {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
