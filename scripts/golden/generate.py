#!/usr/bin/env python3
"""Generate losslab's golden test cases from the real references.

Runs PyTorch, TensorFlow and SciPy in float64 and writes
crates/losslab-registry/tests/golden/{torch,tf,scipy,losslab}.json in the format that
scripts/golden/README.md defines.  Deterministic: every random input comes from one
seeded numpy Generator, consumed in a fixed order, and the references run
single-threaded, so a re-run rewrites byte-identical files.

    ~/refenv/bin/python scripts/golden/generate.py [--check-f32]

--check-f32 also runs torch and TensorFlow in float32 on every float32 case and
prints how far the reference's own float32 result lies from its float64 truth
(informational; nothing is written differently).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU only: TF's out-of-range label error is CPU behaviour

import math
import sys
import warnings

import numpy as np
import scipy
import scipy.spatial.distance
import scipy.special
import scipy.stats
import torch
import torch.nn.functional as F
import tensorflow as tf

from common import GradOutputPolicy, T, dtypes_for, enc_float, first_line, is_f32_exact, make_case, versions, write as write_file  # noqa: F401  (the other generators import these from here)

warnings.filterwarnings("ignore")
torch.set_num_threads(1)
torch.set_num_interop_threads(1)
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
# NOT tf.config.experimental.enable_op_determinism(): with it, tf.nn.(sparse_)softmax_cross_entropy_with_logits
# switch to a composite log_softmax implementation whose gradients and errors differ from the fused kernels
# (the fused kernel's logits-gradient is softmax - labels even for rows that do not sum to 1).  Single-threaded
# CPU kernels are deterministic anyway.

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden")
GENERATOR = "scripts/golden/generate.py"
SEED = 20240517
CHECK_F32 = "--check-f32" in sys.argv

rng = np.random.default_rng(SEED)
F32_REPORT = []  # (id, elementwise-relative and normwise deviation of the reference's own float32 run)

# --------------------------------------------------------------------------------------
# tensors and JSON


def f32(a):
    """float64 array holding exactly-float32 values."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def randn(*shape, scale=1.0, loc=0.0):
    return f32(rng.standard_normal(shape) * scale + loc)


def uniform(*shape, low=0.0, high=1.0):
    return f32(rng.uniform(low, high, shape))


def ints(*shape, low, high):
    return rng.integers(low, high, size=shape, dtype=np.int64)


def softmax_np(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_np(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def probs(*shape, axis=-1, scale=1.0):
    """Random probabilities (float32-exact, sums 1 up to float32 rounding)."""
    return f32(softmax_np(rng.standard_normal(shape) * scale, axis))


def dyadic_probs(*shape, denom=256):
    """Distributions along the last axis that are float32-exact AND sum exactly to 1:
    random counts / 2^k."""
    shape = tuple(shape)
    flat = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    c = shape[-1]
    rows = []
    for _ in range(flat):
        cuts = np.sort(rng.integers(0, denom + 1, size=c - 1))
        counts = np.diff(np.concatenate([[0], cuts, [denom]]))
        rows.append(counts / denom)
    return np.array(rows, dtype=np.float64).reshape(shape)


GO = GradOutputPolicy(randn, 4)  # a 0-d upstream gradient for every fourth scalar case


def norm_dev(got, want):
    """max |got - want| / max |want| over the finite entries (NaN/inf must match exactly)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf")
    fin = np.isfinite(want)
    if not np.array_equal(np.isnan(got), np.isnan(want)) or not np.array_equal(got[np.isinf(want)], want[np.isinf(want)]):
        return float("inf")
    if not fin.any():
        return 0.0
    scale = max(float(np.abs(want[fin]).max()), 1e-300)
    return float(np.abs(got[fin] - want[fin]).max()) / scale


def rel_dev(got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf")
    both_nan = np.isnan(got) & np.isnan(want)
    same = (got == want) | both_nan
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.maximum(np.abs(want), 1e-30)
        d = np.where(same, 0.0, np.abs(got - want) / scale)
    d = np.where(np.isnan(d), np.inf, d)
    return float(d.max()) if d.size else 0.0


# --------------------------------------------------------------------------------------
# torch

TORCH_FNS = {
    "cross_entropy": lambda t, o, r: F.cross_entropy(
        t["input"], t["target"], weight=t.get("weight"), ignore_index=o.get("ignore_index", -100),
        reduction=r, label_smoothing=o.get("label_smoothing", 0.0)),
    "nll_loss": lambda t, o, r: F.nll_loss(
        t["input"], t["target"], weight=t.get("weight"), ignore_index=o.get("ignore_index", -100), reduction=r),
    "binary_cross_entropy": lambda t, o, r: F.binary_cross_entropy(
        t["input"], t["target"], weight=t.get("weight"), reduction=r),
    "binary_cross_entropy_with_logits": lambda t, o, r: F.binary_cross_entropy_with_logits(
        t["input"], t["target"], weight=t.get("weight"), reduction=r, pos_weight=t.get("pos_weight")),
    "mse_loss": lambda t, o, r: F.mse_loss(t["input"], t["target"], reduction=r),
    "l1_loss": lambda t, o, r: F.l1_loss(t["input"], t["target"], reduction=r),
    "smooth_l1_loss": lambda t, o, r: F.smooth_l1_loss(t["input"], t["target"], reduction=r, beta=o.get("beta", 1.0)),
    "huber_loss": lambda t, o, r: F.huber_loss(t["input"], t["target"], reduction=r, delta=o.get("delta", 1.0)),
    "kl_div": lambda t, o, r: F.kl_div(t["input"], t["target"], reduction=r, log_target=o.get("log_target", False)),
}
TORCH_DIFF = ("input", "target")  # never weight / pos_weight
TORCH_NO_TARGET_GRAD = set()

TORCH_CASES = []


def to_torch(tensors, fdtype, requires=()):
    out = {}
    for k, v in tensors.items():
        v = np.asarray(v)
        if v.dtype.kind == "f":
            t = torch.tensor(v, dtype=fdtype)
            if k in requires:
                t.requires_grad_(True)
        else:
            t = torch.tensor(v, dtype=torch.int64)
        out[k] = t
    return out


def torch_grads(fn, tensors, options, reduction, go, fdtype, names):
    tt = to_torch(tensors, fdtype, requires=names)
    res = fn(tt, options, reduction)
    gos = torch.ones_like(res) if go is None else torch.tensor(go, dtype=fdtype)
    gs = torch.autograd.grad(res, [tt[n] for n in names], grad_outputs=gos, allow_unused=True)
    return res.detach().numpy().astype(np.float64), {
        n: (np.zeros(tensors[n].shape) if g is None else g.detach().numpy().astype(np.float64))
        for n, g in zip(names, gs)}


def torch_case(cid, loss, tensors, options=None, reduction="mean", go="auto"):
    options = {} if options is None else options
    fn = TORCH_FNS[loss]
    qual = "torch:" + loss
    cid = qual + "/" + cid
    try:
        with torch.no_grad():
            res = fn(to_torch(tensors, torch.float64), options, reduction)
    except Exception as e:  # the reference rejects the input
        TORCH_CASES.append(make_case(cid, qual, tensors, options, reduction, dtypes_for(tensors, None),
                                     None, None, {}, first_line(e)))
        return
    gout = GO.pick(tuple(res.shape), go)
    names = [n for n in TORCH_DIFF if n in tensors and np.asarray(tensors[n]).dtype.kind == "f"]
    try:
        expected, grads = torch_grads(fn, tensors, options, reduction, gout, torch.float64, names)
    except RuntimeError as e:
        if "target" not in names:
            raise
        TORCH_NO_TARGET_GRAD.add((loss, first_line(e)))
        names = [n for n in names if n != "target"]
        expected, grads = torch_grads(fn, tensors, options, reduction, gout, torch.float64, names)
    dts = dtypes_for(tensors, gout)
    if CHECK_F32 and "float32" in dts:
        r32, g32 = torch_grads(fn, tensors, options, reduction, gout, torch.float32, names)
        F32_REPORT.append((cid, max([rel_dev(r32, expected)] + [rel_dev(g32[n], grads[n]) for n in names]),
                           max([norm_dev(r32, expected)] + [norm_dev(g32[n], grads[n]) for n in names])))
    TORCH_CASES.append(make_case(cid, qual, tensors, options, reduction, dts, gout, expected, grads, None))


def gen_torch():
    ce = "cross_entropy"
    # ---- cross_entropy, class indices
    x = randn(4, 5)
    y = np.array([1, 0, 4, 1], dtype=np.int64)
    w = uniform(5, low=0.2, high=2.0)
    for r in ("mean", "sum", "none"):
        torch_case(f"indices/plain/{r}", ce, {"input": x, "target": y}, {"ignore_index": -100, "label_smoothing": 0.0}, r)
    torch_case("indices/defaults", ce, {"input": randn(3, 4), "target": ints(3, low=0, high=4)}, {}, "mean")
    for r in ("mean", "sum", "none"):
        torch_case(f"indices/weight/{r}", ce, {"input": x, "target": y, "weight": w}, {"ignore_index": -100, "label_smoothing": 0.0}, r)
    for r in ("mean", "sum", "none"):
        torch_case(f"indices/ignore_index=1/{r}", ce, {"input": x, "target": y}, {"ignore_index": 1, "label_smoothing": 0.0}, r)
    for ls in (0.1, 0.3):
        for r in (("mean", "sum", "none") if ls == 0.1 else ("mean",)):
            torch_case(f"indices/smoothing={ls}/{r}", ce, {"input": x, "target": y}, {"ignore_index": -100, "label_smoothing": ls}, r)
    for r in ("mean", "sum"):
        torch_case(f"indices/weight+smoothing=0.1/{r}", ce, {"input": x, "target": y, "weight": w}, {"ignore_index": -100, "label_smoothing": 0.1}, r)
    torch_case("indices/ignore_index=1+smoothing=0.1/mean", ce, {"input": x, "target": y}, {"ignore_index": 1, "label_smoothing": 0.1}, "mean")
    torch_case("indices/weight+ignore_index=1/mean", ce, {"input": x, "target": y, "weight": w}, {"ignore_index": 1, "label_smoothing": 0.0}, "mean")
    for ls, rs in ((0.1, ("mean", "sum", "none")), (0.3, ("mean", "sum"))):
        for r in rs:
            torch_case(f"indices/weight+ignore_index=1+smoothing={ls}/{r}", ce,
                       {"input": x, "target": y, "weight": w}, {"ignore_index": 1, "label_smoothing": ls}, r)
    # a bigger batch where ignored targets and weights interact
    x2 = randn(10, 6)
    y2 = np.array([0, 2, 2, 5, 3, 2, 1, 4, 2, 0], dtype=np.int64)
    w2 = uniform(6, low=0.1, high=3.0)
    torch_case("indices/weight+ignore_index=2+smoothing=0.2/10x6/mean", ce,
               {"input": x2, "target": y2, "weight": w2}, {"ignore_index": 2, "label_smoothing": 0.2}, "mean")
    torch_case("indices/weight+ignore_index=2+smoothing=0.2/10x6/none", ce,
               {"input": x2, "target": y2, "weight": w2}, {"ignore_index": 2, "label_smoothing": 0.2}, "none", go="random")
    # N, C, d1 and N, C, d1, d2
    x3 = randn(2, 4, 3)
    y3 = np.array([[0, 3, 1], [1, 2, 1]], dtype=np.int64)
    w3 = uniform(4, low=0.2, high=2.0)
    torch_case("indices/NCd1/mean", ce, {"input": x3, "target": y3}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    torch_case("indices/NCd1/weight+ignore_index=1+smoothing=0.1/mean", ce,
               {"input": x3, "target": y3, "weight": w3}, {"ignore_index": 1, "label_smoothing": 0.1}, "mean")
    torch_case("indices/NCd1/weight+ignore_index=1+smoothing=0.1/none", ce,
               {"input": x3, "target": y3, "weight": w3}, {"ignore_index": 1, "label_smoothing": 0.1}, "none", go="random")
    x4 = randn(2, 3, 2, 3)
    y4 = ints(2, 2, 3, low=0, high=3)
    torch_case("indices/NCd1d2/smoothing=0.1/mean", ce, {"input": x4, "target": y4}, {"ignore_index": -100, "label_smoothing": 0.1}, "mean")
    torch_case("indices/NCd1d2/weight/none", ce, {"input": x4, "target": y4, "weight": uniform(3, low=0.5, high=1.5)},
               {"ignore_index": -100, "label_smoothing": 0.0}, "none")
    # 1-D input, 0-d target
    x1 = randn(5)
    y0 = np.array(3, dtype=np.int64)
    torch_case("indices/1d-input-0d-target/mean", ce, {"input": x1, "target": y0}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    torch_case("indices/1d-input-0d-target/none", ce, {"input": x1, "target": y0}, {"ignore_index": -100, "label_smoothing": 0.0}, "none", go=np.array(0.5))
    torch_case("indices/1d-input-0d-target/weight+smoothing=0.1/mean", ce,
               {"input": x1, "target": y0, "weight": uniform(5, low=0.2, high=2.0)}, {"ignore_index": -100, "label_smoothing": 0.1}, "mean")
    torch_case("indices/1d-input-0d-target/ignored/mean", ce, {"input": x1, "target": y0}, {"ignore_index": 3, "label_smoothing": 0.0}, "mean")

    # ---- cross_entropy, probability targets
    xp = randn(4, 5)
    soft = probs(4, 5)
    onehot = np.eye(5)[[2, 0, 4, 1]]
    unnorm = uniform(4, 5, low=0.0, high=1.5)
    wp = uniform(5, low=0.2, high=2.0)
    for r in ("mean", "sum", "none"):
        torch_case(f"probs/soft/{r}", ce, {"input": xp, "target": soft}, {"ignore_index": -100, "label_smoothing": 0.0}, r)
    torch_case("probs/one-hot/mean", ce, {"input": xp, "target": onehot}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    torch_case("probs/unnormalised-rows/mean", ce, {"input": xp, "target": unnorm}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    torch_case("probs/unnormalised-rows/none", ce, {"input": xp, "target": unnorm}, {"ignore_index": -100, "label_smoothing": 0.0}, "none", go="random")
    for r in ("mean", "sum"):
        torch_case(f"probs/soft/weight/{r}", ce, {"input": xp, "target": soft, "weight": wp}, {"ignore_index": -100, "label_smoothing": 0.0}, r)
    torch_case("probs/soft/smoothing=0.2/mean", ce, {"input": xp, "target": soft}, {"ignore_index": -100, "label_smoothing": 0.2}, "mean")
    torch_case("probs/one-hot/weight+smoothing=0.1/mean", ce, {"input": xp, "target": onehot, "weight": wp}, {"ignore_index": -100, "label_smoothing": 0.1}, "mean")
    torch_case("probs/unnormalised-rows/weight+smoothing=0.3/none", ce, {"input": xp, "target": unnorm, "weight": wp},
               {"ignore_index": -100, "label_smoothing": 0.3}, "none")
    torch_case("probs/NCd1/weight+smoothing=0.1/mean", ce, {"input": x3, "target": probs(2, 4, 3, axis=1), "weight": w3},
               {"ignore_index": -100, "label_smoothing": 0.1}, "mean")
    torch_case("probs/1d/mean", ce, {"input": x1, "target": probs(5)}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")

    # ---- cross_entropy, edge values
    xe = np.array([[1e4, -1e4, 0.5, 3.0], [-1e4, 1e4, 1e4, -2.0], [0.0, 0.0, -1e4, 1e4]])
    ye = np.array([0, 2, 2], dtype=np.int64)
    torch_case("edge/logits+-1e4/mean", ce, {"input": xe, "target": ye}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    torch_case("edge/logits+-1e4/smoothing=0.1/none", ce, {"input": xe, "target": ye}, {"ignore_index": -100, "label_smoothing": 0.1}, "none")
    xi = np.array([[-np.inf, 1.0, 0.5, -np.inf], [2.0, -np.inf, 0.0, 1.0]])
    torch_case("edge/-inf-non-target/none", ce, {"input": xi, "target": np.array([1, 3], dtype=np.int64)}, {"ignore_index": -100, "label_smoothing": 0.0}, "none")
    torch_case("edge/-inf-non-target/mean", ce, {"input": xi, "target": np.array([2, 0], dtype=np.int64)}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    torch_case("edge/-inf-non-target/smoothing=0.1/mean", ce, {"input": xi, "target": np.array([2, 0], dtype=np.int64)},
               {"ignore_index": -100, "label_smoothing": 0.1}, "mean")
    torch_case("edge/-inf-is-target/none", ce, {"input": xi, "target": np.array([0, 2], dtype=np.int64)}, {"ignore_index": -100, "label_smoothing": 0.0}, "none")
    torch_case("edge/-inf-is-target/mean", ce, {"input": xi, "target": np.array([0, 2], dtype=np.int64)}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    torch_case("edge/probs/-inf-logit-with-zero-prob/none", ce, {"input": xi, "target": np.array([[0.0, 0.5, 0.5, 0.0], [0.25, 0.0, 0.5, 0.25]])},
               {"ignore_index": -100, "label_smoothing": 0.0}, "none")
    xa = randn(3, 4)
    ya = np.array([2, 2, 2], dtype=np.int64)
    for r in ("mean", "sum", "none"):
        torch_case(f"edge/all-ignored/{r}", ce, {"input": xa, "target": ya}, {"ignore_index": 2, "label_smoothing": 0.0}, r)
    torch_case("edge/all-ignored/weight+smoothing=0.1/mean", ce, {"input": xa, "target": ya, "weight": uniform(4, low=0.5, high=1.5)},
               {"ignore_index": 2, "label_smoothing": 0.1}, "mean")
    for r in ("mean", "sum", "none"):
        torch_case(f"edge/empty-batch/{r}", ce, {"input": np.zeros((0, 4)), "target": np.zeros((0,), dtype=np.int64)},
                   {"ignore_index": -100, "label_smoothing": 0.0}, r)
    torch_case("edge/empty-batch/probs/mean", ce, {"input": np.zeros((0, 4)), "target": np.zeros((0, 4))}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    wz = np.array([1.0, 0.0, 2.0, 0.0, 0.5])
    torch_case("edge/zero-class-weights/mean", ce, {"input": x, "target": y, "weight": wz}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    torch_case("edge/zero-class-weights/smoothing=0.1/mean", ce, {"input": x, "target": y, "weight": wz}, {"ignore_index": -100, "label_smoothing": 0.1}, "mean")
    torch_case("edge/all-targets-weight-zero/mean", ce, {"input": x, "target": np.array([1, 3, 1, 3], dtype=np.int64), "weight": wz},
               {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    torch_case("large/8x1000/smoothing=0.1/mean", ce, {"input": randn(8, 1000, scale=3.0), "target": ints(8, low=0, high=1000)},
               {"ignore_index": -100, "label_smoothing": 0.1}, "mean")
    yl = ints(64, low=0, high=100)
    yl[::7] = 5
    torch_case("large/64x100/weight+ignore_index=5+smoothing=0.1/mean", ce,
               {"input": randn(64, 100, scale=2.0), "target": yl, "weight": uniform(100, low=0.1, high=2.0)},
               {"ignore_index": 5, "label_smoothing": 0.1}, "mean")
    torch_case("larger/16x50/probs/none", ce, {"input": randn(16, 50, scale=2.0), "target": probs(16, 50, scale=2.0)},
               {"ignore_index": -100, "label_smoothing": 0.0}, "none", go="random")
    torch_case("float64-only/huge-logits/mean", ce, {"input": np.array([[1e300, -1e300, 0.1], [0.1, 0.2, 0.3]]), "target": np.array([1, 2], dtype=np.int64)},
               {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    # ---- cross_entropy, errors
    torch_case("error/target-out-of-range", ce, {"input": x, "target": np.array([1, 0, 5, 1], dtype=np.int64)}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    torch_case("error/target-negative", ce, {"input": x, "target": np.array([1, -1, 4, 1], dtype=np.int64)}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    torch_case("error/probs-with-ignore_index", ce, {"input": xp, "target": soft}, {"ignore_index": 3, "label_smoothing": 0.0}, "mean")
    torch_case("error/batch-size-mismatch", ce, {"input": x, "target": np.array([1, 0, 4], dtype=np.int64)}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    torch_case("error/probs-shape-mismatch", ce, {"input": xp, "target": probs(4, 6)}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")
    torch_case("error/weight-wrong-length", ce, {"input": x, "target": y, "weight": uniform(4, low=0.5, high=1.5)}, {"ignore_index": -100, "label_smoothing": 0.0}, "mean")

    # ---- nll_loss
    nl = "nll_loss"
    lp = f32(log_softmax_np(rng.standard_normal((5, 4)) * 1.5))
    yn = np.array([0, 3, 1, 3, 2], dtype=np.int64)
    wn = uniform(4, low=0.2, high=2.0)
    for r in ("mean", "sum", "none"):
        torch_case(f"log-softmax/{r}", nl, {"input": lp, "target": yn}, {"ignore_index": -100}, r)
    torch_case("defaults", nl, {"input": lp, "target": yn}, {}, "mean")
    for r in ("mean", "sum", "none"):
        torch_case(f"log-softmax/weight+ignore_index=3/{r}", nl, {"input": lp, "target": yn, "weight": wn}, {"ignore_index": 3}, r)
    arb = uniform(3, 6, low=-5.0, high=0.0)
    torch_case("arbitrary-negative/weight/mean", nl, {"input": arb, "target": np.array([5, 0, 2], dtype=np.int64), "weight": uniform(6, low=0.2, high=2.0)},
               {"ignore_index": -100}, "mean")
    lp3 = f32(log_softmax_np(rng.standard_normal((2, 3, 4)), axis=1))
    y3n = np.array([[0, 2, 1, 1], [2, 2, 0, 1]], dtype=np.int64)
    torch_case("NCd1/weight+ignore_index=1/mean", nl, {"input": lp3, "target": y3n, "weight": uniform(3, low=0.5, high=1.5)}, {"ignore_index": 1}, "mean")
    torch_case("NCd1/none", nl, {"input": lp3, "target": y3n}, {"ignore_index": -100}, "none")
    torch_case("NCd1d2/sum", nl, {"input": f32(log_softmax_np(rng.standard_normal((2, 3, 2, 2)), axis=1)), "target": ints(2, 2, 2, low=0, high=3)},
               {"ignore_index": -100}, "sum")
    torch_case("1d-input-0d-target/mean", nl, {"input": f32(log_softmax_np(rng.standard_normal(4))), "target": np.array(2, dtype=np.int64)}, {"ignore_index": -100}, "mean")
    torch_case("1d-input-0d-target/weight/none", nl, {"input": f32(log_softmax_np(rng.standard_normal(4))), "target": np.array(1, dtype=np.int64),
                                                      "weight": uniform(4, low=0.5, high=1.5)}, {"ignore_index": -100}, "none")
    for r in ("mean", "sum"):
        torch_case(f"all-ignored/{r}", nl, {"input": lp[:3], "target": np.array([3, 3, 3], dtype=np.int64)}, {"ignore_index": 3}, r)
    for r in ("mean", "sum", "none"):
        torch_case(f"empty-batch/{r}", nl, {"input": np.zeros((0, 4)), "target": np.zeros((0,), dtype=np.int64)}, {"ignore_index": -100}, r)
    torch_case("-inf-target-logprob/mean", nl, {"input": np.array([[-np.inf, -0.5, -1.0], [-2.0, -0.25, -np.inf]]), "target": np.array([0, 1], dtype=np.int64)},
               {"ignore_index": -100}, "mean")
    torch_case("error/target-out-of-range", nl, {"input": lp, "target": np.array([0, 3, 4, 3, 2], dtype=np.int64)}, {"ignore_index": -100}, "mean")
    torch_case("error/batch-size-mismatch", nl, {"input": lp, "target": yn[:4]}, {"ignore_index": -100}, "mean")

    # ---- binary_cross_entropy
    bce = "binary_cross_entropy"
    pb = uniform(3, 4, low=0.02, high=0.98)
    pb[0, 0], pb[0, 1], pb[1, 2], pb[2, 3] = 0.0, 1.0, 0.0, 1.0
    hard = f32(rng.integers(0, 2, (3, 4)))
    hard[0, 0], hard[0, 1], hard[1, 2], hard[2, 3] = 1.0, 0.0, 0.0, 1.0  # exact 0/1 input at both agreeing and disagreeing targets
    softb = uniform(3, 4)
    softb[0, 0], softb[0, 1] = 0.25, 0.75
    for r in ("mean", "sum", "none"):
        torch_case(f"hard-target/with-exact-0-and-1/{r}", bce, {"input": pb, "target": hard}, {}, r)
    torch_case("soft-target/with-exact-0-and-1/none", bce, {"input": pb, "target": softb}, {}, "none")
    torch_case("soft-target/mean", bce, {"input": uniform(2, 3, 2, low=0.01, high=0.99), "target": uniform(2, 3, 2)}, {}, "mean")
    torch_case("weight-same-shape/sum", bce, {"input": pb, "target": softb, "weight": uniform(3, 4, low=0.0, high=2.0)}, {}, "sum")
    torch_case("weight-per-column/mean", bce, {"input": pb, "target": hard, "weight": uniform(4, low=0.2, high=2.0)}, {}, "mean")
    torch_case("weight-per-column/none", bce, {"input": pb, "target": softb, "weight": uniform(4, low=0.2, high=2.0)}, {}, "none")
    torch_case("0d/mean", bce, {"input": np.array(0.25), "target": np.array(1.0)}, {}, "mean")
    torch_case("empty/mean", bce, {"input": np.zeros((0,)), "target": np.zeros((0,))}, {}, "mean")
    torch_case("larger/16x25/soft-target/mean", bce, {"input": uniform(16, 25, low=0.001, high=0.999), "target": uniform(16, 25)}, {}, "mean")
    torch_case("error/input-above-1", bce, {"input": np.array([0.5, 1.5, 0.25]), "target": np.array([0.0, 1.0, 1.0])}, {}, "mean")
    torch_case("error/input-below-0", bce, {"input": np.array([0.5, -0.1, 0.25]), "target": np.array([0.0, 1.0, 1.0])}, {}, "mean")
    torch_case("error/shape-mismatch", bce, {"input": np.array([0.5, 0.25]), "target": np.array([0.0, 1.0, 1.0])}, {}, "mean")

    # ---- binary_cross_entropy_with_logits
    bl = "binary_cross_entropy_with_logits"
    zl = randn(3, 4, scale=3.0)
    zl[0, :] = [1e4, -1e4, 100.0, -100.0]
    tl = uniform(3, 4)
    tl[0, :] = [0.0, 1.0, 0.0, 1.0]
    tl[1, :2] = [1.0, 0.0]
    pw = uniform(4, low=0.5, high=3.0)
    for r in ("mean", "sum", "none"):
        torch_case(f"extremes/{r}", bl, {"input": zl, "target": tl}, {}, r)
    torch_case("extremes/pos_weight/mean", bl, {"input": zl, "target": tl, "pos_weight": pw}, {}, "mean")
    torch_case("extremes/pos_weight/none", bl, {"input": zl, "target": tl, "pos_weight": pw}, {}, "none")
    torch_case("weight+pos_weight/sum", bl, {"input": zl, "target": tl, "weight": uniform(3, 4, low=0.0, high=2.0), "pos_weight": pw}, {}, "sum")
    torch_case("weight-per-column+pos_weight/none", bl, {"input": zl, "target": tl, "weight": uniform(4, low=0.2, high=2.0), "pos_weight": pw}, {}, "none")
    torch_case("weight-per-column/mean", bl, {"input": zl, "target": tl, "weight": uniform(4, low=0.2, high=2.0)}, {}, "mean")
    torch_case("3d/pos_weight-last-axis/mean", bl, {"input": randn(2, 3, 4, scale=2.0), "target": f32(rng.integers(0, 2, (2, 3, 4))), "pos_weight": uniform(4, low=0.5, high=2.0)}, {}, "mean")
    torch_case("0d/sum", bl, {"input": np.array(-0.75), "target": np.array(0.25)}, {}, "sum")
    torch_case("empty/mean", bl, {"input": np.zeros((0, 3)), "target": np.zeros((0, 3))}, {}, "mean")
    torch_case("large/32x100/pos_weight/mean", bl, {"input": randn(32, 100, scale=4.0), "target": uniform(32, 100), "pos_weight": uniform(100, low=0.5, high=2.0)}, {}, "mean")
    torch_case("error/shape-mismatch", bl, {"input": np.array([0.5, 0.25]), "target": np.array([0.0, 1.0, 1.0])}, {}, "mean")

    # ---- regression losses
    shapes = [(), (5,), (3, 4), (2, 3, 4)]
    reds = ["mean", "sum", "none", "mean"]
    for loss in ("mse_loss", "l1_loss"):
        for s, r in zip(shapes, reds):
            name = "x".join(map(str, s)) if s else "0d"
            torch_case(f"{name}/{r}", loss, {"input": randn(*s, scale=2.0), "target": randn(*s)}, {}, r)
        torch_case("with-zero-residuals/none", loss, {"input": np.array([1.5, -2.0, 0.25, 3.0]), "target": np.array([1.5, -1.0, 0.25, -3.0])}, {}, "none")
        for r in ("mean", "sum"):
            torch_case(f"empty/{r}", loss, {"input": np.zeros((0,)), "target": np.zeros((0,))}, {}, r)
        torch_case("error/shape-mismatch", loss, {"input": np.array([0.5, 0.25]), "target": np.array([0.0, 1.0, 1.0])}, {}, "mean")
    torch_case("float64-only/overflow/sum", "mse_loss", {"input": np.array([1e200, 1.0, 0.1]), "target": np.array([-1e200, 0.5, 0.2])}, {}, "sum")

    def at_threshold(th):
        base = np.array([0.5, -1.25, 2.0, 0.75, -0.5, 1.0, 3.0])
        resid = np.array([th, -th, 0.0, th / 2, -3 * th - 0.25, 2.5, -0.125])
        return base + resid, base

    for loss, opt in (("smooth_l1_loss", "beta"), ("huber_loss", "delta")):
        for s, r in zip(shapes, reds):
            name = "x".join(map(str, s)) if s else "0d"
            torch_case(f"{name}/{opt}=1/{r}", loss, {"input": randn(*s, scale=2.0), "target": randn(*s)}, {opt: 1.0}, r)
        torch_case("defaults", loss, {"input": randn(6, scale=2.0), "target": randn(6)}, {}, "mean")
        ths = (0.0, 0.5, 1.0, 2.0) if loss == "smooth_l1_loss" else (0.5, 1.0, 2.0)
        for th in ths:
            i, t = at_threshold(th)
            torch_case(f"residuals-at-+-{opt}-and-0/{opt}={th}/none", loss, {"input": i, "target": t}, {opt: th}, "none")
        i, t = at_threshold(0.5)
        torch_case(f"residuals-at-+-{opt}-and-0/{opt}=0.5/mean", loss, {"input": i, "target": t}, {opt: 0.5}, "mean")
        torch_case(f"larger/16x20/{opt}=0.5/mean", loss, {"input": randn(16, 20), "target": randn(16, 20)}, {opt: 0.5}, "mean")
        torch_case("empty/mean", loss, {"input": np.zeros((0, 2)), "target": np.zeros((0, 2))}, {opt: 1.0}, "mean")
    torch_case("error/negative-beta", "smooth_l1_loss", {"input": np.array([0.5, 0.25]), "target": np.array([0.0, 1.0])}, {"beta": -1.0}, "mean")
    torch_case("error/zero-delta", "huber_loss", {"input": np.array([0.5, 0.25]), "target": np.array([0.0, 1.0])}, {"delta": 0.0}, "mean")
    torch_case("error/negative-delta", "huber_loss", {"input": np.array([0.5, 0.25]), "target": np.array([0.0, 1.0])}, {"delta": -0.5}, "mean")

    # ---- kl_div
    kl = "kl_div"
    li = f32(log_softmax_np(rng.standard_normal((3, 5))))
    tp = probs(3, 5)
    tp[0, 1] = 0.0
    tp[2, 3] = 0.0
    for r in ("none", "mean", "sum", "batchmean"):
        torch_case(f"prob-target-with-zeros/{r}", kl, {"input": li, "target": tp}, {"log_target": False}, r)
    torch_case("defaults", kl, {"input": li, "target": probs(3, 5)}, {}, "mean")
    lt = f32(log_softmax_np(rng.standard_normal((3, 5))))
    for r in ("none", "mean", "sum", "batchmean"):
        torch_case(f"log-target/{r}", kl, {"input": li, "target": lt}, {"log_target": True}, r)
    torch_case("log-target-with-neg-inf/none", kl, {"input": li[:2], "target": np.array([[-np.inf, -0.5, -1.0, -2.0, -3.0], [-1.0, -np.inf, -0.25, -0.75, -4.0]])},
               {"log_target": True}, "none")
    torch_case("3d/batchmean", kl, {"input": f32(log_softmax_np(rng.standard_normal((2, 3, 4)))), "target": probs(2, 3, 4)}, {"log_target": False}, "batchmean")
    torch_case("0d/batchmean", kl, {"input": np.array(-1.5), "target": np.array(0.25)}, {"log_target": False}, "batchmean")
    torch_case("larger/16x50/batchmean", kl, {"input": f32(log_softmax_np(rng.standard_normal((16, 50)))), "target": probs(16, 50)}, {"log_target": False}, "batchmean")
    torch_case("empty/batchmean", kl, {"input": np.zeros((0, 3)), "target": np.zeros((0, 3))}, {"log_target": False}, "batchmean")
    torch_case("error/shape-mismatch", kl, {"input": np.array([-0.5, -1.0]), "target": np.array([0.25, 0.25, 0.5])}, {"log_target": False}, "mean")


# --------------------------------------------------------------------------------------
# TensorFlow

TF_CASES = []


def tf_run(loss, tensors, options, go, fdtype):
    tt = {}
    for k, v in tensors.items():
        v = np.asarray(v)
        tt[k] = tf.constant(v, dtype=fdtype if v.dtype.kind == "f" else tf.int64)
    watch = ["labels", "logits"] if loss == "softmax_cross_entropy_with_logits" else ["logits"]
    with tf.GradientTape() as tape:
        for n in watch:
            tape.watch(tt[n])
        if loss == "softmax_cross_entropy_with_logits":
            res = tf.nn.softmax_cross_entropy_with_logits(labels=tt["labels"], logits=tt["logits"], axis=options.get("axis", -1))
        else:
            res = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tt["labels"], logits=tt["logits"])
    return res, tape, tt, watch


def tf_case(cid, loss, tensors, options=None, go="auto"):
    options = {} if options is None else options
    qual = "tf:" + loss
    cid = qual + "/" + cid
    try:
        res, tape, tt, watch = tf_run(loss, tensors, options, go, tf.float64)
    except Exception as e:
        TF_CASES.append(make_case(cid, qual, tensors, options, None, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    gout = GO.pick(tuple(res.shape), go)

    def grads_of(res, tape, tt, watch, fdtype):
        og = None if gout is None else tf.constant(gout, dtype=fdtype)
        gs = tape.gradient(res, [tt[n] for n in watch], output_gradients=og)
        return {n: np.asarray(g.numpy(), dtype=np.float64) for n, g in zip(watch, gs)}

    grads = grads_of(res, tape, tt, watch, tf.float64)
    expected = np.asarray(res.numpy(), dtype=np.float64)
    dts = dtypes_for(tensors, gout)
    if CHECK_F32 and "float32" in dts:
        r32, tape32, tt32, _ = tf_run(loss, tensors, options, go, tf.float32)
        g32 = grads_of(r32, tape32, tt32, watch, tf.float32)
        F32_REPORT.append((cid, max([rel_dev(r32.numpy(), expected)] + [rel_dev(g32[n], grads[n]) for n in watch]),
                           max([norm_dev(r32.numpy(), expected)] + [norm_dev(g32[n], grads[n]) for n in watch])))
    TF_CASES.append(make_case(cid, qual, tensors, options, None, dts, gout, expected, grads, None))


def gen_tf():
    sx = "softmax_cross_entropy_with_logits"
    ss = "sparse_softmax_cross_entropy_with_logits"
    z = randn(4, 5, scale=2.0)
    onehot = np.eye(5)[[3, 0, 1, 4]]
    soft = probs(4, 5)
    smoothed = f32(np.float32(onehot) * np.float32(0.9) + np.float32(0.1 / 5))
    unnorm = uniform(4, 5, low=0.0, high=1.0)
    unnorm[0] = [0.5, 0.5, 0.5, 0.0, 0.25]  # sums to 1.75
    unnorm[1] = [0.125, 0.0, 0.125, 0.0, 0.25]  # sums to 0.5
    tf_case("one-hot", sx, {"labels": onehot, "logits": z}, {"axis": -1})
    tf_case("defaults", sx, {"labels": soft, "logits": randn(4, 5)}, {})
    tf_case("soft", sx, {"labels": soft, "logits": z}, {"axis": -1})
    tf_case("smoothed-0.1", sx, {"labels": smoothed, "logits": z}, {"axis": -1})
    tf_case("unnormalised-rows", sx, {"labels": unnorm, "logits": z}, {"axis": -1})
    tf_case("unnormalised-rows/grad_output", sx, {"labels": unnorm, "logits": z}, {"axis": -1}, go="random")
    tf_case("axis=0", sx, {"labels": probs(5, 3, axis=0), "logits": randn(5, 3)}, {"axis": 0})
    tf_case("axis=0/one-hot", sx, {"labels": np.eye(4)[:, [2, 0, 3]], "logits": randn(4, 3)}, {"axis": 0}, go="random")
    tf_case("3d/axis=-1", sx, {"labels": probs(2, 3, 4), "logits": randn(2, 3, 4)}, {"axis": -1})
    tf_case("3d/axis=1", sx, {"labels": probs(2, 3, 4, axis=1), "logits": randn(2, 3, 4)}, {"axis": 1})
    tf_case("3d/axis=2/unnormalised", sx, {"labels": uniform(2, 3, 4), "logits": randn(2, 3, 4)}, {"axis": 2}, go="random")
    tf_case("1d", sx, {"labels": probs(6), "logits": randn(6)}, {"axis": -1})
    ze = np.array([[1e4, -1e4, 0.5, 3.0], [-1e4, 1e4, 1e4, -2.0], [0.0, 0.0, -1e4, 1e4]])
    tf_case("logits+-1e4/one-hot", sx, {"labels": np.eye(4)[[0, 2, 2]], "logits": ze}, {"axis": -1})
    tf_case("logits+-1e4/soft", sx, {"labels": probs(3, 4), "logits": ze}, {"axis": -1})
    tf_case("-inf-logit-with-zero-label", sx, {"labels": np.array([[0.0, 0.5, 0.5, 0.0], [0.25, 0.0, 0.5, 0.25]]),
                                                 "logits": np.array([[-np.inf, 1.0, 0.5, -np.inf], [2.0, -np.inf, 0.0, 1.0]])}, {"axis": -1})
    tf_case("large/32x100/soft", sx, {"labels": probs(32, 100, scale=2.0), "logits": randn(32, 100, scale=2.0)}, {"axis": -1})
    tf_case("error/shape-mismatch", sx, {"labels": probs(3, 4), "logits": randn(3, 5)}, {"axis": -1})

    tf_case("2d", ss, {"labels": np.array([3, 0, 1, 4], dtype=np.int64), "logits": z}, {})
    tf_case("2d/grad_output", ss, {"labels": np.array([2, 2, 0, 1], dtype=np.int64), "logits": z}, {}, go="random")
    tf_case("3d", ss, {"labels": ints(2, 3, low=0, high=4), "logits": randn(2, 3, 4)}, {})
    tf_case("3d/grad_output", ss, {"labels": ints(2, 3, low=0, high=4), "logits": randn(2, 3, 4)}, {}, go="random")
    tf_case("1d-logits-0d-label", ss, {"labels": np.array(2, dtype=np.int64), "logits": randn(5)}, {})
    tf_case("logits+-1e4", ss, {"labels": np.array([0, 2, 2], dtype=np.int64), "logits": ze}, {})
    tf_case("logits+-1e4/target-not-max", ss, {"labels": np.array([1, 0, 2], dtype=np.int64), "logits": ze}, {})
    tf_case("-inf-non-target", ss, {"labels": np.array([1, 3], dtype=np.int64),
                                    "logits": np.array([[-np.inf, 1.0, 0.5, -np.inf], [2.0, -np.inf, 0.0, 1.0]])}, {})
    tf_case("-inf-is-target", ss, {"labels": np.array([0, 1], dtype=np.int64),
                                   "logits": np.array([[-np.inf, 1.0, 0.5, -np.inf], [2.0, -np.inf, 0.0, 1.0]])}, {})
    tf_case("large/64x100", ss, {"labels": ints(64, low=0, high=100), "logits": randn(64, 100, scale=2.0)}, {})
    tf_case("error/label-out-of-range", ss, {"labels": np.array([3, 0, 5, 4], dtype=np.int64), "logits": z}, {})
    tf_case("error/label-negative", ss, {"labels": np.array([3, -1, 1, 4], dtype=np.int64), "logits": z}, {})
    tf_case("error/labels-shape-mismatch", ss, {"labels": np.array([3, 0, 1], dtype=np.int64), "logits": z}, {})


# --------------------------------------------------------------------------------------
# SciPy

SCIPY_CASES = []


def scipy_case(cid, tensors, options):
    qual = "scipy:entropy"
    cid = qual + "/" + cid
    kw = {"base": options.get("base"), "axis": options.get("axis", 0)}
    try:
        with np.errstate(all="ignore"):
            res = scipy.stats.entropy(tensors["pk"], tensors.get("qk"), **kw)
    except Exception as e:
        SCIPY_CASES.append(make_case(cid, qual, tensors, options, None, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    SCIPY_CASES.append(make_case(cid, qual, tensors, options, None, dtypes_for(tensors, None), None,
                                 np.asarray(res, dtype=np.float64), {}, None))


def gen_scipy():
    p = probs(6)
    q = probs(6)
    un = uniform(6, low=0.0, high=3.0)
    scipy_case("1d/normalised", {"pk": p}, {"base": None, "axis": 0})
    scipy_case("1d/defaults", {"pk": uniform(5, low=0.0, high=2.0)}, {})
    scipy_case("1d/unnormalised", {"pk": un}, {"base": None, "axis": 0})
    scipy_case("1d/zeros-in-pk/base=2", {"pk": np.array([0.5, 0.0, 0.25, 0.0, 1.25])}, {"base": 2, "axis": 0})
    scipy_case("1d/base=10", {"pk": un}, {"base": 10, "axis": 0})
    scipy_case("1d/qk/kl", {"pk": p, "qk": q}, {"base": None, "axis": 0})
    scipy_case("1d/qk/unnormalised/base=2", {"pk": un, "qk": uniform(6, low=0.1, high=2.0)}, {"base": 2, "axis": 0})
    scipy_case("1d/qk-zero-where-pk-positive/inf", {"pk": np.array([0.25, 0.5, 0.25]), "qk": np.array([0.5, 0.5, 0.0])}, {"base": None, "axis": 0})
    scipy_case("1d/qk-and-pk-zero-together", {"pk": np.array([0.25, 0.0, 0.75]), "qk": np.array([0.5, 0.0, 0.5])}, {"base": None, "axis": 0})
    scipy_case("1d/all-zero-pk/nan", {"pk": np.zeros(4)}, {"base": None, "axis": 0})
    scipy_case("2d/axis=0", {"pk": uniform(4, 3, low=0.0, high=2.0)}, {"base": None, "axis": 0})
    scipy_case("2d/axis=1", {"pk": uniform(3, 5, low=0.0, high=2.0)}, {"base": None, "axis": 1})
    scipy_case("2d/axis=-1/base=2/zeros", {"pk": np.array([[0.0, 1.0, 3.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 2.0, 0.0]])}, {"base": 2, "axis": -1})
    scipy_case("2d/qk/axis=1/base=2", {"pk": probs(3, 4), "qk": probs(3, 4)}, {"base": 2, "axis": 1})
    scipy_case("2d/qk/axis=0/base=10/unnormalised", {"pk": uniform(4, 3, low=0.0, high=2.0), "qk": uniform(4, 3, low=0.05, high=2.0)}, {"base": 10, "axis": 0})
    scipy_case("float64-only/1d/qk", {"pk": np.array([0.1, 0.2, 0.7]), "qk": np.array([0.3, 0.3, 0.4])}, {"base": None, "axis": 0})
    scipy_case("error/shape-mismatch", {"pk": np.array([0.5, 0.5, 0.0]), "qk": np.array([0.25, 0.75])}, {"base": None, "axis": 0})


# --------------------------------------------------------------------------------------
# losslab's own information-theory functions, computed with SciPy

LL_CASES = []


def ll_case(cid, loss, tensors, options, fn):
    qual = "losslab:" + loss
    with np.errstate(all="ignore"):
        res = np.asarray(fn(), dtype=np.float64)
    LL_CASES.append(make_case(qual + "/" + cid, qual, tensors, options, None, dtypes_for(tensors, None), None, res, {}, None))


def logb(base):
    return 1.0 if base is None else math.log(base)


def gen_losslab():
    from scipy.special import entr, rel_entr, xlogy

    # self_information
    p = np.array([0.0, 0.125, 0.5, 0.75, 1.0, 0.3125])
    for base in (None, 2):
        ll_case(f"numpy:-log(p)/base={base}", "self_information", {"p": p}, {"base": base}, lambda: -np.log(p) / logb(base))
    p2 = uniform(3, 4, low=0.0, high=1.0)
    ll_case("numpy:-log(p)/2d/base=2", "self_information", {"p": p2}, {"base": 2}, lambda: -np.log(p2) / logb(2))

    # entropy (no normalisation)
    pe = probs(6)
    pe2 = probs(3, 5)
    pz = np.array([[0.5, 0.0, 0.5, 0.0], [0.0, 1.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    ll_case("scipy.special.entr/1d", "entropy", {"p": pe}, {"axis": -1, "base": None}, lambda: entr(pe).sum(-1))
    ll_case("scipy.special.entr/1d/base=2", "entropy", {"p": pe}, {"axis": -1, "base": 2}, lambda: entr(pe).sum(-1) / logb(2))
    ll_case("scipy.special.entr/2d/axis=-1", "entropy", {"p": pe2}, {"axis": -1, "base": None}, lambda: entr(pe2).sum(-1))
    ll_case("scipy.special.entr/2d/axis=0/base=2", "entropy", {"p": pe2}, {"axis": 0, "base": 2}, lambda: entr(pe2).sum(0) / logb(2))
    ll_case("scipy.special.entr/zeros/base=2", "entropy", {"p": pz}, {"axis": -1, "base": 2}, lambda: entr(pz).sum(-1) / logb(2))

    # binary entropy
    pb = np.array([0.0, 0.5, 1.0, 0.25, 0.125, 0.875])
    for base in (None, 2):
        ll_case(f"scipy.special.entr/binary/base={base}", "binary_entropy", {"p": pb}, {"base": base},
                lambda: (entr(pb) + entr(1 - pb)) / logb(base))
    pb2 = uniform(2, 3)
    ll_case("scipy.special.entr/binary/2d/base=2", "binary_entropy", {"p": pb2}, {"base": 2}, lambda: (entr(pb2) + entr(1 - pb2)) / logb(2))

    # cross entropy
    pa, qa = np.array([1.0, 0.0, 0.0]), np.array([0.7, 0.2, 0.1])
    for base in (None, 2):
        ll_case(f"scipy.special.xlogy/article-example/base={base}", "cross_entropy", {"p": pa, "q": qa}, {"axis": -1, "base": base},
                lambda: -xlogy(pa, qa).sum(-1) / logb(base))
    qa32 = np.array([0.75, 0.125, 0.125])
    ll_case("scipy.special.xlogy/article-example-f32", "cross_entropy", {"p": pa, "q": qa32}, {"axis": -1, "base": None}, lambda: -xlogy(pa, qa32).sum(-1))
    pc, qc = probs(3, 5), probs(3, 5)
    ll_case("scipy.special.xlogy/2d/axis=-1", "cross_entropy", {"p": pc, "q": qc}, {"axis": -1, "base": None}, lambda: -xlogy(pc, qc).sum(-1))
    ll_case("scipy.special.xlogy/2d/axis=0/base=2", "cross_entropy", {"p": pc, "q": qc}, {"axis": 0, "base": 2}, lambda: -xlogy(pc, qc).sum(0) / logb(2))
    pz2, qz2 = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]), np.array([[0.5, 0.0, 0.5], [0.0, 0.25, 0.75]])
    ll_case("scipy.special.xlogy/zeros/q-zero-where-p-positive-is-inf", "cross_entropy", {"p": pz2, "q": qz2}, {"axis": -1, "base": None},
            lambda: -xlogy(pz2, qz2).sum(-1))

    # KL divergence
    for base in (None, 2):
        ll_case(f"scipy.special.rel_entr/article-example/base={base}", "kl_divergence", {"p": pa, "q": qa}, {"axis": -1, "base": base},
                lambda: rel_entr(pa, qa).sum(-1) / logb(base))
    ll_case("scipy.special.rel_entr/article-example-reversed", "kl_divergence", {"p": qa, "q": pa}, {"axis": -1, "base": None},
            lambda: rel_entr(qa, pa).sum(-1))
    ll_case("scipy.special.rel_entr/2d/axis=-1", "kl_divergence", {"p": pc, "q": qc}, {"axis": -1, "base": None}, lambda: rel_entr(pc, qc).sum(-1))
    ll_case("scipy.special.rel_entr/2d/axis=0/base=2", "kl_divergence", {"p": pc, "q": qc}, {"axis": 0, "base": 2}, lambda: rel_entr(pc, qc).sum(0) / logb(2))
    ll_case("scipy.special.rel_entr/zeros", "kl_divergence", {"p": pz2, "q": qz2}, {"axis": -1, "base": None}, lambda: rel_entr(pz2, qz2).sum(-1))
    pz3, qz3 = np.array([0.0, 0.25, 0.75]), np.array([0.5, 0.25, 0.25])
    ll_case("scipy.special.rel_entr/zero-p-only", "kl_divergence", {"p": pz3, "q": qz3}, {"axis": -1, "base": 2}, lambda: rel_entr(pz3, qz3).sum(-1) / logb(2))

    # Jensen-Shannon divergence = jensenshannon distance squared; inputs sum exactly to 1
    jsd = scipy.spatial.distance.jensenshannon
    pj, qj = dyadic_probs(6), dyadic_probs(6)
    ll_case("scipy.spatial.distance.jensenshannon^2/1d", "js_divergence", {"p": pj, "q": qj}, {"axis": -1, "base": None}, lambda: jsd(pj, qj) ** 2)
    ll_case("scipy.spatial.distance.jensenshannon^2/1d/base=2", "js_divergence", {"p": pj, "q": qj}, {"axis": -1, "base": 2}, lambda: jsd(pj, qj, base=2) ** 2)
    pj2, qj2 = dyadic_probs(3, 5), dyadic_probs(3, 5)
    ll_case("scipy.spatial.distance.jensenshannon^2/2d/axis=-1", "js_divergence", {"p": pj2, "q": qj2}, {"axis": -1, "base": None},
            lambda: jsd(pj2, qj2, axis=-1) ** 2)
    pj3, qj3 = dyadic_probs(4, 3).T.copy(), dyadic_probs(4, 3).T.copy()  # columns sum to 1
    ll_case("scipy.spatial.distance.jensenshannon^2/2d/axis=0/base=2", "js_divergence", {"p": pj3, "q": qj3}, {"axis": 0, "base": 2},
            lambda: jsd(pj3, qj3, base=2, axis=0) ** 2)
    pd, qd = np.array([0.5, 0.5, 0.0, 0.0]), np.array([0.0, 0.0, 0.25, 0.75])
    for base in (None, 2):
        ll_case(f"scipy.spatial.distance.jensenshannon^2/disjoint-supports/base={base}", "js_divergence", {"p": pd, "q": qd},
                {"axis": -1, "base": base}, lambda: jsd(pd, qd, base=base) ** 2)
    ll_case("scipy.spatial.distance.jensenshannon^2/identical", "js_divergence", {"p": pj, "q": pj}, {"axis": -1, "base": None}, lambda: jsd(pj, pj) ** 2)


# --------------------------------------------------------------------------------------


def write(name, cases, versions):
    write_file(os.path.join(OUT_DIR, name), GENERATOR, versions, cases)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    # Fixed generation order: every file's inputs depend on the shared rng stream.
    gen_torch()
    gen_tf()
    gen_scipy()
    gen_losslab()
    write("torch.json", TORCH_CASES, versions(torch=torch.__version__))
    write("tf.json", TF_CASES, versions(tensorflow=tf.__version__))
    write("scipy.json", SCIPY_CASES, versions(scipy=scipy.__version__))
    write("losslab.json", LL_CASES, versions(scipy=scipy.__version__))
    for loss, msg in sorted(TORCH_NO_TARGET_GRAD):
        print(f"note: torch gives no target gradient for {loss}: {msg}")
    if CHECK_F32:
        bad = [r for r in F32_REPORT if r[1] > 1e-5 or r[2] > 1e-6]
        print(f"float32 self-check: {len(F32_REPORT)} cases; where the reference's own float32 run deviates from "
              f"its float64 truth by > 1e-5 elementwise-relative or > 1e-6 relative to the tensor's max |value|:")
        print("  elementwise  normwise  id")
        for cid, d, n in bad:
            print(f"  {d:10.3g}  {n:8.3g}  {cid}")


if __name__ == "__main__":
    main()
