#!/usr/bin/env python3
"""Golden cases for the detection & segmentation family (and losslab's own
softmax focal, quantile, Jaccard and Lovász-softmax losses).

    /root/refenv/bin/python scripts/golden/detseg.py

writes crates/losslab-registry/tests/golden/detseg.json in the format of
scripts/golden/README.md:

- torchvision:*  torchvision.ops, run in float64 with torch autograd for the gradients
                 (w.r.t. inputs/targets, boxes1/boxes2).
- keras:*        keras.losses.dice / tversky (Keras 3, JAX backend, x64); gradients by
                 jax.vjp w.r.t. y_pred and y_true.
- optax:*        optax.losses.dice_loss / binary_dice_loss / multiclass_generalized_dice_loss
                 (jax x64); gradients by jax.vjp w.r.t. predictions and targets.
                 dice_loss's own `reduction` argument (across classes) is the case's
                 `reduction` ("mean", "sum", "none"; null = optax's default "mean").
                 `axis` is None or one int (the CLI's options are scalars).
- Keras `axis`:  None or one int (the CLI's options are scalars; tuples are tested in Rust).
- losslab:*      no framework has them: the truth is an independent float64 torch
                 implementation of the paper's formula written below, the gradients torch
                 autograd of that formula (Lovász-softmax: the reference implementation of
                 Berman et al.'s repository, lovasz_losses.py, generalised to (N, C, d...),
                 with a stable sort; `classes` is an optional int tensor, the bool option
                 `present` chooses between 'present' (default) and 'all').

Deterministic: one seeded numpy Generator, single-threaded CPU references.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import math
import warnings

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import keras
import numpy as np
import optax
import torch
import torch.nn.functional as F
import torchvision
import torchvision.ops as tvops

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate import T, dtypes_for, f32, first_line, is_f32_exact, make_case  # noqa: E402
from common import GradOutputPolicy, versions, write  # noqa: E402

warnings.filterwarnings("ignore")
keras.config.set_floatx("float64")
torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "detseg.json")
GENERATOR = "scripts/golden/detseg.py"
rng = np.random.default_rng(20261124)
CASES = []


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def uniform(*shape, low=0.0, high=1.0):
    return f32(rng.uniform(low, high, shape))


GO = GradOutputPolicy(randn, 4)  # a 0-d upstream gradient for every fourth scalar case


def f64(a):
    return np.asarray(a, dtype=np.float64)


# ------------------------------------------------------------------------------------
# runners: fn(dict of framework tensors) -> result; diff = names of the tensors to differentiate


def run_torch(fn, tensors, diff, go):
    tt = {}
    for k, v in tensors.items():
        v = np.asarray(v)
        if v.dtype.kind == "f":
            tt[k] = torch.tensor(v, dtype=torch.float64, requires_grad=k in diff)
        else:
            tt[k] = torch.tensor(v, dtype=torch.int64)
    res = fn(tt)
    if not diff:
        return res.detach().numpy(), {}
    gout = torch.ones_like(res) if go is None else torch.tensor(go, dtype=torch.float64)
    gs = torch.autograd.grad(res, [tt[n] for n in diff], grad_outputs=gout, allow_unused=True)
    return res.detach().numpy(), {n: (np.zeros(np.shape(tensors[n])) if g is None else g.numpy()) for n, g in zip(diff, gs)}


def run_jax(fn, tensors, diff, go):
    names = list(diff)
    consts = {k: (jnp.asarray(np.asarray(v, dtype=np.float64)) if np.asarray(v).dtype.kind == "f" else jnp.asarray(v))
              for k, v in tensors.items() if k not in names}

    def f(*args):
        return fn({**consts, **dict(zip(names, args))})

    primals = [jnp.asarray(np.asarray(tensors[n], dtype=np.float64)) for n in names]
    res, vjp = jax.vjp(f, *primals)
    gout = jnp.ones_like(res) if go is None else jnp.asarray(go, dtype=jnp.float64)
    gs = vjp(gout)
    return np.asarray(res), {n: np.asarray(g) for n, g in zip(names, gs)}


def case(loss, cid, tensors, options, reduction, fn, diff, runner, go="auto"):
    """Run the reference; record its value and gradients, or its error."""
    cid = f"{loss}/{cid}"
    try:
        res0, _ = runner(fn, tensors, [], None) if runner is run_torch else (np.asarray(fn({
            k: (jnp.asarray(np.asarray(v, dtype=np.float64)) if np.asarray(v).dtype.kind == "f" else jnp.asarray(v))
            for k, v in tensors.items()})), {})
    except Exception as e:  # the reference rejects the input
        CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    gout = GO.pick(tuple(np.shape(res0)), go)
    diff = [n for n in diff if n in tensors]
    res, grads = runner(fn, tensors, diff, gout)
    CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, gout), gout, f64(res),
                           {k: f64(v) for k, v in grads.items()}, None))


# ------------------------------------------------------------------------------------
# torchvision


def red(r):
    return "none" if r is None else r


def gen_torchvision():
    L = "torchvision:sigmoid_focal_loss"

    def focal(o, r):
        return lambda t: tvops.sigmoid_focal_loss(t["inputs"], t["targets"], alpha=o.get("alpha", 0.25),
                                                  gamma=o.get("gamma", 2), reduction=red(r))

    x = randn(3, 5, scale=2.0)
    y = (uniform(3, 5) > 0.6).astype(np.float64)
    for r in ("none", "mean", "sum"):
        o = {"alpha": 0.25, "gamma": 2.0}
        case(L, f"binary/{r}", {"inputs": x, "targets": y}, o, r, focal(o, r), ["inputs", "targets"], run_torch)
    case(L, "defaults", {"inputs": randn(4), "targets": (uniform(4) > 0.5).astype(np.float64)}, {}, None,
         focal({}, None), ["inputs", "targets"], run_torch)
    soft = uniform(2, 3, 4)
    xs = randn(2, 3, 4, scale=3.0)
    for a, g in ((0.25, 2.0), (-1.0, 2.0), (0.75, 0.5), (0.5, 1.0), (-1.0, 0.0), (0.25, 0.0), (1.0, 3.0), (0.0, 1.5)):
        o = {"alpha": a, "gamma": g}
        case(L, f"soft-targets/alpha={a}/gamma={g}/none", {"inputs": xs, "targets": soft}, o, "none", focal(o, "none"),
             ["inputs", "targets"], run_torch)
    o = {"alpha": 0.25, "gamma": 2.0}
    case(L, "soft-targets/mean", {"inputs": xs, "targets": soft}, o, "mean", focal(o, "mean"), ["inputs", "targets"], run_torch)
    # saturated sigmoids: σ(±40) rounds to 0/1 in float64, σ(±800) overflows exp
    xe = np.array([40.0, -40.0, 40.0, -40.0, 800.0, -800.0, 800.0, -800.0, 0.0, 17.0, -17.0, 36.75])
    ye = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.5, 1.0, 0.0, 1.0])
    for g in (2.0, 1.0, 0.0):
        o = {"alpha": 0.25, "gamma": g}
        case(L, f"edge/saturated/gamma={g}/none", {"inputs": xe, "targets": ye}, o, "none", focal(o, "none"),
             ["inputs", "targets"], run_torch, go=None)
    o = {"alpha": 0.25, "gamma": 2.0}
    for r in ("mean", "sum", "none"):
        case(L, f"edge/empty/{r}", {"inputs": np.zeros((0, 3)), "targets": np.zeros((0, 3))}, o, r, focal(o, r),
             ["inputs", "targets"], run_torch)
    case(L, "edge/0d/none", {"inputs": np.array(0.75), "targets": np.array(1.0)}, o, "none", focal(o, "none"),
         ["inputs", "targets"], run_torch, go=np.array(-2.0))
    for a in (1.5, -0.5):
        o = {"alpha": a, "gamma": 2.0}
        case(L, f"error/alpha={a}", {"inputs": x, "targets": y}, o, "none", focal(o, "none"), ["inputs", "targets"], run_torch)

    # ---- box losses
    fns = {
        "generalized_box_iou_loss": tvops.generalized_box_iou_loss,
        "distance_box_iou_loss": tvops.distance_box_iou_loss,
        "complete_box_iou_loss": tvops.complete_box_iou_loss,
    }

    def boxes(*lead, lo=0.0, hi=10.0, wmin=0.5, wmax=5.0):
        xy = uniform(*lead, 2, low=lo, high=hi)
        wh = uniform(*lead, 2, low=wmin, high=wmax)
        return np.concatenate([xy, xy + wh], axis=-1)

    b1 = f32(boxes(6))
    b2 = f32(boxes(6))
    # (x1 + w may round in float32: f32() makes the array exactly representable again)
    nested_a = np.array([[0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 2.0, 3.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0],
                         [0.0, 0.0, 2.0, 2.0], [3.0, 1.0, 5.0, 2.0]])
    nested_b = np.array([[1.0, 1.0, 2.0, 3.0], [0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 3.0, 3.0], [2.0, 0.0, 4.0, 2.0],
                         [0.0, 1.0, 2.0, 3.0], [3.0, 1.5, 5.5, 2.0]])
    zero_a = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 2.0],
                       [0.0, 0.0, 2.0, 2.0], [0.5, 0.5, 0.5, 0.5]])
    zero_b = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0],
                       [1.0, 1.0, 3.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    for name, fn in fns.items():
        L = "torchvision:" + name

        def bf(o, r, fn=fn):
            return lambda t: fn(t["boxes1"], t["boxes2"], reduction=red(r), eps=o.get("eps", 1e-7))

        for r in ("none", "mean", "sum"):
            o = {"eps": 1e-7}
            case(L, f"random/{r}", {"boxes1": b1, "boxes2": b2}, o, r, bf(o, r), ["boxes1", "boxes2"], run_torch)
        case(L, "defaults", {"boxes1": boxes(3), "boxes2": boxes(3)}, {}, None, bf({}, None), ["boxes1", "boxes2"], run_torch)
        case(L, "single-box/none", {"boxes1": boxes(), "boxes2": boxes()}, {"eps": 1e-7}, "none", bf({}, "none"),
             ["boxes1", "boxes2"], run_torch, go=np.array(0.5))
        o = {"eps": 1e-7}
        case(L, "batch-dims/2x3/none", {"boxes1": boxes(2, 3), "boxes2": boxes(2, 3)}, o, "none", bf(o, "none"),
             ["boxes1", "boxes2"], run_torch, go="random")
        far = boxes(4, lo=20.0, hi=30.0)
        case(L, "disjoint/none", {"boxes1": boxes(4, hi=5.0), "boxes2": far}, o, "none", bf(o, "none"), ["boxes1", "boxes2"],
             run_torch, go="random")
        same = boxes(4)
        case(L, "identical/none", {"boxes1": same, "boxes2": same.copy()}, o, "none", bf(o, "none"), ["boxes1", "boxes2"], run_torch)
        case(L, "identical/sum", {"boxes1": same, "boxes2": same.copy()}, o, "sum", bf(o, "sum"), ["boxes1", "boxes2"], run_torch)
        case(L, "nested-touching-shared-edges/none", {"boxes1": nested_a, "boxes2": nested_b}, o, "none", bf(o, "none"),
             ["boxes1", "boxes2"], run_torch, go="random")
        for eps in (1e-7, 0.0):
            o = {"eps": eps}
            case(L, f"zero-area/eps={eps}/none", {"boxes1": zero_a, "boxes2": zero_b}, o, "none", bf(o, "none"),
                 ["boxes1", "boxes2"], run_torch, go=None)
        for eps in (0.0, 0.5):
            o = {"eps": eps}
            case(L, f"random/eps={eps}/mean", {"boxes1": b1, "boxes2": b2}, o, "mean", bf(o, "mean"), ["boxes1", "boxes2"], run_torch)
        o = {"eps": 1e-7}
        for r in ("mean", "sum", "none"):
            case(L, f"edge/empty/{r}", {"boxes1": np.zeros((0, 4)), "boxes2": np.zeros((0, 4))}, o, r, bf(o, r),
                 ["boxes1", "boxes2"], run_torch)
        case(L, "error/not-4-coordinates", {"boxes1": np.ones((2, 3)), "boxes2": np.ones((2, 3))}, o, "none", bf(o, "none"),
             ["boxes1", "boxes2"], run_torch)
        case(L, "error/shape-mismatch", {"boxes1": boxes(2), "boxes2": boxes(3)}, o, "none", bf(o, "none"),
             ["boxes1", "boxes2"], run_torch)


# ------------------------------------------------------------------------------------
# Keras


def gen_keras():
    for name in ("dice", "tversky"):
        L = "keras:" + name

        def kf(o, name=name):
            ax = o.get("axis")
            if name == "dice":
                return lambda t: keras.losses.dice(t["y_true"], t["y_pred"], axis=ax)
            return lambda t: keras.losses.tversky(t["y_true"], t["y_pred"], alpha=o.get("alpha", 0.5),
                                                  beta=o.get("beta", 0.5), axis=ax)

        base = {} if name == "dice" else {"alpha": 0.5, "beta": 0.5}
        yt = (uniform(2, 4, 4, 1) > 0.5).astype(np.float64)
        yp = uniform(2, 4, 4, 1)
        for ax in (None, 1, -1, 0, 2, -4):
            o = {**base, "axis": ax}
            case(L, f"axis={ax}", {"y_true": yt, "y_pred": yp}, o, None, kf(o), ["y_pred", "y_true"], run_jax)
        case(L, "defaults", {"y_true": (uniform(3, 5) > 0.5).astype(np.float64), "y_pred": uniform(3, 5)}, {}, None, kf({}),
             ["y_pred", "y_true"], run_jax)
        # Keras's own docstring example ((2, 2, 2, 1) flattened to (2, 4): axis=(1, 2, 3) is axis=1)
        ex_t = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
        ex_p = np.array([[0.0, 1.0, 0.0, 1.0], [0.4, 0.0, 0.0, 0.9]])
        for ax in (None, 1):
            o = {**base, "axis": ax}
            case(L, f"docstring-example/axis={ax}", {"y_true": ex_t, "y_pred": ex_p}, o, None, kf(o), ["y_pred", "y_true"], run_jax)
        st, sp = uniform(3, 6), uniform(3, 6)
        o = {**base, "axis": 1}
        case(L, "soft-targets/axis=1", {"y_true": st, "y_pred": sp}, o, None, kf(o), ["y_pred", "y_true"], run_jax, go="random")
        perfect = (uniform(2, 5) > 0.4).astype(np.float64)
        perfect[0, 0] = 1.0
        o = {**base, "axis": None}
        case(L, "perfect-prediction", {"y_true": perfect, "y_pred": perfect.copy()}, o, None, kf(o), ["y_pred", "y_true"], run_jax)
        zeros = np.zeros((2, 3))
        case(L, "all-zero", {"y_true": zeros, "y_pred": zeros.copy()}, o, None, kf(o), ["y_pred", "y_true"], run_jax)
        case(L, "1d", {"y_true": np.array([1.0, 0.0, 1.0]), "y_pred": uniform(3)}, o, None, kf(o), ["y_pred", "y_true"], run_jax)
        if name == "tversky":
            for a, b in ((0.7, 0.3), (0.3, 0.7), (1.0, 0.0), (0.0, 2.0)):
                o = {"alpha": a, "beta": b, "axis": 1}
                case(L, f"alpha={a}/beta={b}/axis=1", {"y_true": yt.reshape(2, 16), "y_pred": yp.reshape(2, 16)}, o, None, kf(o), ["y_pred", "y_true"],
                     run_jax, go="random")


# ------------------------------------------------------------------------------------
# optax


def one_hot(labels, k):
    return np.eye(k)[labels]


def dyadic_rows(*shape, denom=256):
    """float32-exact rows along the last axis that sum to exactly 1."""
    c = shape[-1]
    flat = int(np.prod(shape[:-1]))
    rows = []
    for _ in range(flat):
        cuts = np.sort(rng.integers(0, denom + 1, size=c - 1))
        rows.append(np.diff(np.concatenate([[0], cuts, [denom]])) / denom)
    return np.array(rows).reshape(shape)


def gen_optax():
    L = "optax:dice_loss"

    def df(o, r="mean"):
        def f(t):
            kw = dict(smooth=o.get("smooth", 1.0), alpha=o.get("alpha", 0.5), beta=o.get("beta", 0.5),
                      apply_softmax=o.get("apply_softmax", True), reduction="mean" if r is None else r,
                      ignore_background=o.get("ignore_background", False))
            if o.get("axis") is not None:
                kw["axis"] = o["axis"]
            if "class_weights" in t:
                kw["class_weights"] = t["class_weights"]
            return optax.losses.dice_loss(t["predictions"], t["targets"], **kw)
        return f

    full = {"smooth": 1.0, "alpha": 0.5, "beta": 0.5, "apply_softmax": True, "ignore_background": False, "axis": None}
    x = randn(2, 3, 4, 3, scale=1.5)
    t = one_hot(rng.integers(0, 3, size=(2, 3, 4)), 3)
    D = ["predictions", "targets"]
    for cr in ("mean", "sum", "none"):
        o = dict(full)
        case(L, f"multiclass/reduction={cr}", {"predictions": x, "targets": t}, o, cr, df(o, cr), D, run_jax)
    case(L, "defaults", {"predictions": randn(2, 5, 4), "targets": one_hot(rng.integers(0, 4, size=(2, 5)), 4)}, {}, None,
         df({}, None), D, run_jax)
    for a, b in ((0.3, 0.7), (0.8, 0.2)):
        o = {**full, "alpha": a, "beta": b}
        case(L, f"tversky/alpha={a}/beta={b}", {"predictions": x, "targets": t}, o, None, df(o), D, run_jax, go="random")
    for s in (0.0, 1e-5, 2.5):
        o = {**full, "smooth": s}
        case(L, f"smooth={s}", {"predictions": x, "targets": t}, o, None, df(o), D, run_jax)
    w = uniform(3, low=0.2, high=2.0)
    for cr in ("mean", "none"):
        o = dict(full)
        case(L, f"class_weights/reduction={cr}", {"predictions": x, "targets": t, "class_weights": w}, o, cr, df(o, cr), D,
             run_jax, go="random")
    for cr in ("mean", "sum", "none"):
        o = {**full, "ignore_background": True}
        case(L, f"ignore_background/reduction={cr}", {"predictions": x, "targets": t}, o, cr, df(o, cr), D, run_jax)
    o = {**full, "ignore_background": True}
    case(L, "ignore_background+class_weights", {"predictions": x, "targets": t, "class_weights": w}, o, None, df(o), D, run_jax)
    for ax in (1, 2, -2, 0):
        o = {**full, "axis": ax}
        case(L, f"axis={ax}", {"predictions": x, "targets": t}, o, None, df(o), D, run_jax, go="random")
    o = {**full, "axis": 1}
    case(L, "axis=1/reduction=none", {"predictions": x, "targets": t}, o, "none", df(o, "none"), D, run_jax, go="random")
    # probabilities
    pr = dyadic_rows(2, 3, 4, 3)
    for cr in ("mean", "none"):
        o = {**full, "apply_softmax": False}
        case(L, f"probabilities/reduction={cr}", {"predictions": pr, "targets": t}, o, cr, df(o, cr), D, run_jax)
    o = {**full, "apply_softmax": False}
    case(L, "error/probabilities-not-summing-to-1", {"predictions": uniform(2, 3, 4, 3), "targets": t}, o, None, df(o), D, run_jax)
    # binary: one channel (sigmoid), and [...] predictions against [..., 1] targets
    xb = randn(2, 4, 5, 1, scale=2.0)
    tb = (uniform(2, 4, 5, 1) > 0.5).astype(np.float64)
    o = dict(full)
    case(L, "binary/one-channel", {"predictions": xb, "targets": tb}, o, None, df(o), D, run_jax, go="random")
    case(L, "binary/predictions-without-channel", {"predictions": xb[..., 0], "targets": tb}, o, None, df(o), D, run_jax)
    case(L, "binary/targets-without-channel", {"predictions": xb, "targets": tb[..., 0]}, o, None, df(o), D, run_jax)
    o = {**full, "ignore_background": True}
    case(L, "binary/ignore_background-keeps-the-only-class", {"predictions": xb, "targets": tb}, o, None, df(o), D, run_jax)
    # soft targets, 2-D input (no spatial axes), saturated logits
    o = dict(full)
    case(L, "2d-no-spatial-axes", {"predictions": randn(5, 3), "targets": dyadic_rows(5, 3)}, o, None, df(o), D, run_jax)
    xs = np.array([[[40.0, -40.0], [-800.0, 800.0]], [[0.0, 0.0], [3.0, -3.0]]])
    case(L, "saturated-logits", {"predictions": xs, "targets": one_hot(np.array([[0, 1], [1, 0]]), 2)}, o, None, df(o), D, run_jax)
    perfect = one_hot(rng.integers(0, 3, size=(2, 6)), 3)
    o = {**full, "apply_softmax": False, "smooth": 0.0}
    case(L, "perfect-prediction/smooth=0", {"predictions": perfect, "targets": perfect.copy()}, o, None, df(o), D, run_jax)
    o = dict(full)
    case(L, "error/shape-mismatch", {"predictions": randn(2, 3, 3), "targets": one_hot(rng.integers(0, 4, size=(2, 3)), 4)}, o,
         None, df(o), D, run_jax)

    # ---- binary_dice_loss
    L = "optax:binary_dice_loss"

    def bf(o):
        return lambda t: optax.losses.binary_dice_loss(t["predictions"], t["targets"], smooth=o.get("smooth", 1.0),
                                                       apply_sigmoid=o.get("apply_sigmoid", True))

    full = {"smooth": 1.0, "apply_sigmoid": True}
    xb = randn(3, 4, 5, scale=2.0)
    tb = (uniform(3, 4, 5) > 0.5).astype(np.float64)
    case(L, "BHW", {"predictions": xb, "targets": tb}, full, None, bf(full), D, run_jax)
    case(L, "BHW1", {"predictions": xb[..., None], "targets": tb[..., None]}, full, None, bf(full), D, run_jax, go="random")
    case(L, "defaults", {"predictions": randn(2, 6), "targets": (uniform(2, 6) > 0.5).astype(np.float64)}, {}, None, bf({}), D, run_jax)
    case(L, "1d-per-element", {"predictions": randn(5), "targets": (uniform(5) > 0.5).astype(np.float64)}, full, None, bf(full), D,
         run_jax, go="random")
    case(L, "BHW-against-BHW1", {"predictions": xb, "targets": tb[..., None]}, full, None, bf(full), D, run_jax)
    for s in (0.0, 3.0):
        o = {**full, "smooth": s}
        case(L, f"smooth={s}", {"predictions": xb, "targets": tb}, o, None, bf(o), D, run_jax)
    o = {**full, "apply_sigmoid": False}
    case(L, "apply_sigmoid=false/all-ones", {"predictions": np.ones((2, 3)), "targets": (uniform(2, 3) > 0.5).astype(np.float64)},
         o, None, bf(o), D, run_jax)
    case(L, "error/apply_sigmoid=false/probabilities", {"predictions": uniform(2, 3), "targets": (uniform(2, 3) > 0.5).astype(np.float64)},
         o, None, bf(o), D, run_jax)

    # ---- multiclass_generalized_dice_loss
    L = "optax:multiclass_generalized_dice_loss"

    def gf(o):
        return lambda t: optax.losses.multiclass_generalized_dice_loss(
            t["predictions"], t["targets"], smooth=o.get("smooth", 1.0), apply_softmax=o.get("apply_softmax", True),
            ignore_background=o.get("ignore_background", False))

    full = {"smooth": 1.0, "apply_softmax": True, "ignore_background": False}
    xg = randn(2, 4, 4, 4, scale=1.5)
    lab = rng.integers(0, 4, size=(2, 4, 4))
    lab[0, 0, 0] = 3
    tg = one_hot(lab, 4)
    case(L, "BHWC", {"predictions": xg, "targets": tg}, full, None, gf(full), D, run_jax)
    case(L, "defaults", {"predictions": randn(3, 5, 3), "targets": one_hot(rng.integers(0, 3, size=(3, 5)), 3)}, {}, None, gf({}), D,
         run_jax, go=np.array(-2.0))
    o = {**full, "ignore_background": True}
    case(L, "ignore_background", {"predictions": xg, "targets": tg}, o, None, gf(o), D, run_jax)
    o = {**full, "smooth": 0.25}
    case(L, "smooth=0.25", {"predictions": xg, "targets": tg}, o, None, gf(o), D, run_jax)
    o = {**full, "apply_softmax": False}
    case(L, "probabilities/soft-targets", {"predictions": dyadic_rows(2, 5, 3), "targets": dyadic_rows(2, 5, 3)}, o, None, gf(o), D,
         run_jax)
    lab2 = rng.integers(0, 2, size=(2, 6))  # class 2 absent: weight 1e7
    case(L, "absent-class", {"predictions": randn(2, 6, 3), "targets": one_hot(lab2, 3)}, full, None, gf(full), D, run_jax)
    case(L, "binary-one-channel", {"predictions": randn(2, 6, 1), "targets": (uniform(2, 6, 1) > 0.5).astype(np.float64)}, full, None,
         gf(full), D, run_jax)
    case(L, "error/shape-mismatch", {"predictions": randn(2, 6, 3), "targets": one_hot(rng.integers(0, 3, size=(2, 6)), 3)[..., :2]},
         full, None, gf(full), D, run_jax)


# ------------------------------------------------------------------------------------
# losslab's own: independent torch float64 implementations of the papers' formulas


def t_reduce(v, r):
    if r == "none":
        return v
    if r == "sum":
        return v.sum()
    if r == "batchmean":
        return v.sum() / (v.shape[0] if v.dim() > 0 else 1)
    return v.mean()


def ref_softmax_focal(t, o, r):
    x, y = t["input"], t["target"]
    gamma = o.get("gamma", 2.0)
    ignore = o.get("ignore_index", -100)
    cdim = 1 if x.dim() > 1 else 0
    lsm = F.log_softmax(x, dim=cdim)
    valid = y != ignore
    ysafe = torch.where(valid, y, torch.zeros_like(y))
    lp = lsm.gather(cdim, ysafe.unsqueeze(cdim)).squeeze(cdim)
    q = -torch.expm1(lp)
    a = t["alpha"][ysafe] if "alpha" in t else torch.ones_like(lp)
    loss = torch.where(valid, -a * q ** gamma * lp, torch.zeros_like(lp))
    if r == "mean":
        return loss.sum() / valid.sum()
    return t_reduce(loss, r)


def ref_quantile(t, o, r):
    q = o.get("quantile", 0.5)
    d = t["target"] - t["input"]
    return t_reduce(torch.where(d >= 0, q * d, (q - 1) * d), r)


def ref_jaccard(t, o, r):
    p, g = t["input"], t["target"]
    s = o.get("smooth", 1.0)
    ax = o.get("axis")
    dims = tuple(range(1, p.dim())) if ax is None else (ax,)
    i = (p * g).sum(dim=dims) if dims else p * g
    u = (p + g - p * g).sum(dim=dims) if dims else p + g - p * g
    return t_reduce(1 - (i + s) / (u + s), r)


def lovasz_grad(gt_sorted):
    """Berman et al., lovasz_losses.py: gradient of the Lovász extension w.r.t. sorted errors
    (the repository's `.float()` casts are `.double()` here: the truth is float64)."""
    p = len(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.double().cumsum(0)
    union = gts + (1 - gt_sorted).double().cumsum(0)
    jaccard = 1.0 - intersection / union
    if p > 1:
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
    return jaccard


def lovasz_softmax_flat(probas, labels, classes="present"):
    if probas.numel() == 0:
        return probas.sum() * 0.0
    C = probas.size(1)
    losses = []
    class_to_sum = list(range(C)) if classes in ["all", "present"] else classes
    for c in class_to_sum:
        fg = (labels == c).double()
        if classes == "present" and fg.sum() == 0:
            continue
        class_pred = probas[:, c]
        errors = (fg - class_pred).abs()
        errors_sorted, perm = torch.sort(errors, dim=0, descending=True, stable=True)
        fg_sorted = fg[perm]
        losses.append(torch.dot(errors_sorted, lovasz_grad(fg_sorted)))
    if not losses:
        return probas.sum() * 0.0
    return sum(losses[1:], losses[0]) / len(losses)


def flatten_probas(probas, labels, ignore=None):
    C = probas.size(1)
    probas = probas.movedim(1, -1).reshape(-1, C)
    labels = labels.reshape(-1)
    if ignore is None:
        return probas, labels
    valid = labels != ignore
    return probas[valid], labels[valid]


def ref_lovasz(t, o, r):
    probas, labels = t["probas"], t["labels"]
    classes = [int(c) for c in t["classes"]] if "classes" in t else ("present" if o.get("present", True) else "all")
    ignore = o.get("ignore")
    if o.get("per_image", False):
        ls = [lovasz_softmax_flat(*flatten_probas(p.unsqueeze(0), l.unsqueeze(0), ignore), classes=classes)
              for p, l in zip(probas, labels)]
        v = sum(ls[1:], ls[0]) / len(ls)
    else:
        v = lovasz_softmax_flat(*flatten_probas(probas, labels, ignore), classes=classes)
    return t_reduce(v, r)


def gen_losslab():
    L = "losslab:softmax_focal_loss"
    D = ["input"]

    def ff(o, r):
        return lambda t: ref_softmax_focal(t, o, r)

    x = randn(5, 4, scale=2.0)
    y = rng.integers(0, 4, size=5)
    for r in ("mean", "sum", "none", "batchmean"):
        o = {"gamma": 2.0, "ignore_index": -100}
        case(L, f"NC/{r}", {"input": x, "target": y}, o, r, ff(o, r), D, run_torch)
    case(L, "defaults", {"input": randn(3, 5), "target": rng.integers(0, 5, size=3)}, {}, None, ff({}, "mean"), D, run_torch)
    for g in (0.0, 0.5, 1.0, 3.5):
        o = {"gamma": g, "ignore_index": -100}
        case(L, f"gamma={g}/mean", {"input": x, "target": y}, o, "mean", ff(o, "mean"), D, run_torch)
    a = uniform(4, low=0.1, high=1.0)
    o = {"gamma": 2.0, "ignore_index": -100}
    case(L, "alpha/none", {"input": x, "target": y, "alpha": a}, o, "none", ff(o, "none"), D, run_torch)
    case(L, "alpha/mean", {"input": x, "target": y, "alpha": a}, o, "mean", ff(o, "mean"), D, run_torch)
    yi = y.copy()
    yi[1] = 2
    yi[3] = 2
    o = {"gamma": 1.5, "ignore_index": 2}
    case(L, "ignore_index=2/mean", {"input": x, "target": yi}, o, "mean", ff(o, "mean"), D, run_torch)
    case(L, "ignore_index=2/none", {"input": x, "target": yi}, o, "none", ff(o, "none"), D, run_torch)
    x3 = randn(2, 3, 4, 2)
    y3 = rng.integers(0, 3, size=(2, 4, 2))
    o = {"gamma": 2.0, "ignore_index": -100}
    case(L, "NCd1d2/mean", {"input": x3, "target": y3}, o, "mean", ff(o, "mean"), D, run_torch)
    case(L, "NCd1d2/none", {"input": x3, "target": y3}, o, "none", ff(o, "none"), D, run_torch, go="random")
    case(L, "1d-input/0d-target", {"input": randn(6), "target": np.array(4)}, o, "mean", ff(o, "mean"), D, run_torch)
    xe = np.array([[30.0, -30.0, 0.0], [-1e4, 1e4, 0.0], [5.0, 5.0, 5.0]])
    case(L, "edge/large-logits/none", {"input": xe, "target": np.array([0, 0, 2])}, o, "none", ff(o, "none"), D, run_torch, go=None)

    L = "losslab:quantile_loss"
    D = ["input", "target"]

    def qf(o, r):
        return lambda t: ref_quantile(t, o, r)

    xi, yq = randn(4, 5), randn(4, 5)
    for q in (0.1, 0.5, 0.9):
        for r in (("mean", "sum", "none", "batchmean") if q == 0.9 else ("mean",)):
            o = {"quantile": q}
            case(L, f"q={q}/{r}", {"input": xi, "target": yq}, o, r, qf(o, r), D, run_torch)
    case(L, "defaults", {"input": randn(7), "target": randn(7)}, {}, None, qf({}, "mean"), D, run_torch)
    for q in (0.0, 1.0):
        o = {"quantile": q}
        case(L, f"error/quantile={q}", {"input": xi, "target": yq}, o, "mean", lambda t: (_ for _ in ()).throw(
            ValueError("quantile must be in (0, 1)")), D, run_torch)

    L = "losslab:jaccard_loss"

    def jf(o, r):
        return lambda t: ref_jaccard(t, o, r)

    p = uniform(3, 2, 4, 4)
    g = (uniform(3, 2, 4, 4) > 0.5).astype(np.float64)
    for r in ("mean", "sum", "none", "batchmean"):
        o = {"smooth": 1.0, "axis": None}
        case(L, f"NCHW/{r}", {"input": p, "target": g}, o, r, jf(o, r), D, run_torch)
    case(L, "defaults", {"input": uniform(2, 6), "target": (uniform(2, 6) > 0.5).astype(np.float64)}, {}, None, jf({}, "mean"), D,
         run_torch)
    for s in (0.0, 1e-3):
        o = {"smooth": s, "axis": None}
        case(L, f"smooth={s}/none", {"input": p, "target": g}, o, "none", jf(o, "none"), D, run_torch, go="random")
    for ax in (2, 0, -1):
        o = {"smooth": 1.0, "axis": ax}
        case(L, f"axis={ax}/none", {"input": p, "target": g}, o, "none", jf(o, "none"), D, run_torch, go="random")
    o = {"smooth": 1.0, "axis": None}
    case(L, "soft-targets/mean", {"input": p, "target": uniform(3, 2, 4, 4)}, o, "mean", jf(o, "mean"), D, run_torch)
    case(L, "perfect-prediction/none", {"input": g, "target": g.copy()}, o, "none", jf(o, "none"), D, run_torch)
    case(L, "empty-target-and-prediction/none", {"input": np.zeros((2, 5)), "target": np.zeros((2, 5))}, o, "none", jf(o, "none"), D,
         run_torch)

    L = "losslab:lovasz_softmax"
    D = ["probas"]

    def lf(o, r):
        return lambda t: ref_lovasz(t, o, r)

    def probs_nc(*shape):
        xx = rng.standard_normal(shape) * 2.0
        e = np.exp(xx - xx.max(axis=1, keepdims=True))
        return f32(e / e.sum(axis=1, keepdims=True))

    pr = probs_nc(2, 4, 3, 5)
    lb = rng.integers(0, 3, size=(2, 3, 5))  # class 3 absent
    lb[1, 0, :] = 1
    full = {"present": True, "per_image": False, "ignore": None}
    for present in (True, False):
        o = {**full, "present": present}
        case(L, f"present={present}", {"probas": pr, "labels": lb}, o, "mean", lf(o, "mean"), D, run_torch)
    for cl in ([0, 3], [2]):
        o = dict(full)
        case(L, f"classes={cl}", {"probas": pr, "labels": lb, "classes": np.array(cl)}, o, "mean", lf(o, "mean"), D, run_torch)
    case(L, "defaults", {"probas": probs_nc(1, 3, 4, 4), "labels": rng.integers(0, 3, size=(1, 4, 4))}, {}, None, lf({}, "mean"), D,
         run_torch)
    o = {**full, "per_image": True}
    case(L, "per_image", {"probas": pr, "labels": lb}, o, "mean", lf(o, "mean"), D, run_torch, go=np.array(0.5))
    lbi = lb.copy()
    lbi[0, 1, :3] = 255
    lbi[1, 2, 1] = 255
    for pi in (False, True):
        o = {**full, "ignore": 255, "per_image": pi}
        case(L, f"ignore=255/per_image={pi}", {"probas": pr, "labels": lbi}, o, "mean", lf(o, "mean"), D, run_torch)
    o = dict(full)
    for r in ("sum", "none"):
        case(L, f"reduction={r}", {"probas": pr, "labels": lb}, o, r, lf(o, r), D, run_torch, go=np.array(-2.0))
    case(L, "NCd1", {"probas": probs_nc(3, 3, 7), "labels": rng.integers(0, 3, size=(3, 7))}, o, "mean", lf(o, "mean"), D, run_torch)
    case(L, "NC-no-spatial", {"probas": probs_nc(8, 4), "labels": rng.integers(0, 4, size=8)}, o, "mean", lf(o, "mean"), D, run_torch)
    case(L, "error/label-out-of-range", {"probas": probs_nc(1, 2, 3), "labels": np.array([[0, 2, 1]])}, o, "mean",
         lambda t: (_ for _ in ()).throw(IndexError("label 2 out of range for 2 classes")), D, run_torch)


def main():
    gen_torchvision()
    gen_keras()
    gen_optax()
    gen_losslab()
    write(OUT, GENERATOR, versions(torch=torch.__version__, torchvision=torchvision.__version__, keras=keras.__version__, jax=jax.__version__, optax=optax.__version__), CASES)


if __name__ == "__main__":
    main()
