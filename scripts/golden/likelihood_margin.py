#!/usr/bin/env python3
"""Golden cases of the likelihood & margin family, from the real references.

Runs PyTorch, TensorFlow, Keras 3 (JAX backend) and optax in float64 and writes
crates/losslab-registry/tests/golden/likelihood_margin.json in the format of
scripts/golden/README.md.  Deterministic (own seeded numpy Generator, single-threaded
references): a re-run rewrites a byte-identical file.

    KERAS_BACKEND=jax ~/refenv/bin/python scripts/golden/likelihood_margin.py

Notes on the references (also in the Rust docs):
- Keras 3.15's `ops.mean` computes float64 inputs in float32
  (`dtypes.result_type(float64, "float32")` is float32), so the unpatched
  `keras.losses.hinge` etc. are only float32-accurate even on float64 data.  The
  float64 truth here is the same Keras function with `ops.mean` evaluated in
  float64 (jnp.mean); the script checks that the unpatched Keras output agrees with
  it to float32 accuracy (rel 1e-6) and stops if not.
- Gradients of Keras and optax losses come from jax.vjp (x64): JAX gives
  `maximum(z, 0)` half the gradient at z = 0 and splits a max's gradient among ties.
- torch's multilabel_margin_loss / multi_margin_loss on an empty batch return
  uninitialised memory (for 'mean' and 'sum' alike); no such case is recorded.
- torch's soft_margin_loss overflows to inf for -y*x > 709 in float64; the saturated
  cases stay below that.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import warnings  # noqa: E402

import numpy as np  # noqa: E402
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import optax  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from generate import f32, make_case, dtypes_for, first_line, is_f32_exact  # noqa: E402,F401
from common import GradOutputPolicy, versions, write  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "likelihood_margin.json")
GENERATOR = "scripts/golden/likelihood_margin.py"
rng = np.random.default_rng(20261124)
CASES = []


def randn(*shape, scale=1.0, loc=0.0):
    return f32(rng.standard_normal(shape) * scale + loc)


def uniform(*shape, low=0.0, high=1.0):
    return f32(rng.uniform(low, high, shape))


def signs(*shape):
    return rng.choice([-1.0, 1.0], size=shape)


def ints(*shape, low, high):
    return rng.integers(low, high, size=shape, dtype=np.int64)


def counts(*shape, lam=2.0):
    return rng.poisson(lam, size=shape).astype(np.float64)


Go = GradOutputPolicy(randn, 3)  # a 0-d upstream gradient for every third scalar case


def add(cid, loss, tensors, options, reduction, run, diff, go="auto"):
    """run(tensors, options, reduction, diff, go_fn) -> (result, grads) in float64."""
    cid = f"{loss}/{cid}"
    chosen = {}

    def go_fn(shape):
        chosen["go"] = Go.pick(tuple(shape), go)
        return chosen["go"]

    try:
        res, grads = run(tensors, options, reduction, diff, go_fn)
    except Exception as e:  # the reference raised
        CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    gout = chosen.get("go")
    CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, gout), gout,
                           np.asarray(res, dtype=np.float64), {k: np.asarray(v, dtype=np.float64) for k, v in grads.items()}, None))


# --------------------------------------------------------------------------------------
# runners


def torch_runner(fn):
    def run(tensors, options, reduction, diff, go_fn):
        tt = {}
        for k, v in tensors.items():
            v = np.asarray(v)
            if v.dtype.kind == "f":
                tt[k] = torch.tensor(v, dtype=torch.float64, requires_grad=k in diff)
            else:
                tt[k] = torch.tensor(v, dtype=torch.int64)
        res = fn(tt, options, reduction)
        go = go_fn(res.shape)
        gos = torch.ones_like(res) if go is None else torch.tensor(go, dtype=torch.float64)
        gs = torch.autograd.grad(res, [tt[n] for n in diff], grad_outputs=gos, allow_unused=True)
        return res.detach().numpy(), {n: (np.zeros(tensors[n].shape) if g is None else g.numpy()) for n, g in zip(diff, gs)}

    return run


def tf_runner(fn):
    def run(tensors, options, reduction, diff, go_fn):
        tt = {k: tf.constant(np.asarray(v), dtype=tf.float64 if np.asarray(v).dtype.kind == "f" else tf.int64) for k, v in tensors.items()}
        with tf.GradientTape() as tape:
            for n in diff:
                tape.watch(tt[n])
            res = fn(tt, options)
        go = go_fn(tuple(res.shape))
        og = None if go is None else tf.constant(go, dtype=tf.float64)
        gs = tape.gradient(res, [tt[n] for n in diff], output_gradients=og)
        return res.numpy(), {n: g.numpy() for n, g in zip(diff, gs)}

    return run


def jax_runner(fn):
    """fn(dict of jnp arrays, options) -> jnp array; gradients by jax.vjp over `diff`."""

    def run(tensors, options, reduction, diff, go_fn):
        fixed = {k: jnp.asarray(np.asarray(v)) for k, v in tensors.items() if k not in diff}

        def f(*xs):
            return fn({**fixed, **dict(zip(diff, xs))}, options)

        res, vjp = jax.vjp(f, *[jnp.asarray(np.asarray(tensors[n], dtype=np.float64)) for n in diff])
        go = go_fn(res.shape)
        gs = vjp(jnp.ones_like(res) if go is None else jnp.asarray(go))
        return np.asarray(res), {n: np.asarray(g) for n, g in zip(diff, gs)}

    return run


# Keras: the float64 truth with ops.mean evaluated in float64 (see the module docstring).
import keras.src.backend as kbackend  # noqa: E402

_keras_mean = kbackend.numpy.mean


def _mean_f64(x, axis=None, keepdims=False):
    return jnp.mean(x, axis=axis, keepdims=keepdims)


def keras_runner(fn):
    inner = jax_runner(fn)

    def run(tensors, options, reduction, diff, go_fn):
        raw = np.asarray(fn({k: jnp.asarray(np.asarray(v)) for k, v in tensors.items()}, options))
        kbackend.numpy.mean = _mean_f64
        try:
            res, grads = inner(tensors, options, reduction, diff, go_fn)
        finally:
            kbackend.numpy.mean = _keras_mean
        fin = np.isfinite(res)
        assert np.array_equal(np.isnan(raw), np.isnan(res)), (raw, res)
        if fin.any():
            dev = np.max(np.abs(raw[fin] - res[fin]) / np.maximum(np.abs(res[fin]), 1e-30))
            assert dev < 1e-6 or np.max(np.abs(raw[fin] - res[fin])) < 1e-7, (dev, raw, res)
        return res, grads

    return run


# --------------------------------------------------------------------------------------
# torch


def T_(name, fn, diff):
    return f"torch:{name}", torch_runner(fn), diff


POISSON = T_("poisson_nll_loss", lambda t, o, r: F.poisson_nll_loss(
    t["input"], t["target"], log_input=o.get("log_input", True), full=o.get("full", False), eps=o.get("eps", 1e-8), reduction=r),
    ("input", "target"))
GAUSS = T_("gaussian_nll_loss", lambda t, o, r: F.gaussian_nll_loss(
    t["input"], t["target"], t["var"], full=o.get("full", False), eps=o.get("eps", 1e-6), reduction=r), ("input", "target", "var"))
# var as a Python float (an option, not a tensor): torch has no gradient for it.
GAUSS_F = T_("gaussian_nll_loss", lambda t, o, r: F.gaussian_nll_loss(
    t["input"], t["target"], float(o["var"]), full=o.get("full", False), eps=o.get("eps", 1e-6), reduction=r), ("input", "target"))
MRL = T_("margin_ranking_loss", lambda t, o, r: F.margin_ranking_loss(
    t["input1"], t["input2"], t["target"], margin=o.get("margin", 0.0), reduction=r), ("input1", "input2", "target"))
HEL = T_("hinge_embedding_loss", lambda t, o, r: F.hinge_embedding_loss(
    t["input"], t["target"], margin=o.get("margin", 1.0), reduction=r), ("input",))
SML = T_("soft_margin_loss", lambda t, o, r: F.soft_margin_loss(t["input"], t["target"], reduction=r), ("input",))
MLSML = T_("multilabel_soft_margin_loss", lambda t, o, r: F.multilabel_soft_margin_loss(
    t["input"], t["target"], weight=t.get("weight"), reduction=r), ("input", "target"))
MLML = T_("multilabel_margin_loss", lambda t, o, r: F.multilabel_margin_loss(t["input"], t["target"], reduction=r), ("input",))
MML = T_("multi_margin_loss", lambda t, o, r: F.multi_margin_loss(
    t["input"], t["target"], p=o.get("p", 1), margin=o.get("margin", 1.0), weight=t.get("weight"), reduction=r), ("input",))


def case(spec, cid, tensors, options, reduction, go="auto"):
    loss, run, diff = spec
    add(cid, loss, tensors, options, reduction, run, [d for d in diff if d in tensors], go)


def shape_name(s):
    return "x".join(map(str, s)) if s else "0d"


def gen_torch():
    # ---- poisson_nll_loss
    for s, r in (((), "mean"), ((5,), "sum"), ((3, 4), "none"), ((2, 3, 4), "mean")):
        x, y = randn(*s, scale=0.8), counts(*s, lam=2.0)
        case(POISSON, f"log_input/{shape_name(s)}/{r}", {"input": x, "target": y}, {"log_input": True, "full": False, "eps": 1e-8}, r)
        case(POISSON, f"log_input+full/{shape_name(s)}/{r}", {"input": x, "target": y}, {"log_input": True, "full": True, "eps": 1e-8}, r)
        xr = uniform(*s, low=0.1, high=4.0)
        case(POISSON, f"rate/{shape_name(s)}/{r}", {"input": xr, "target": y}, {"log_input": False, "full": False, "eps": 1e-8}, r)
        case(POISSON, f"rate+full/{shape_name(s)}/{r}", {"input": xr, "target": y}, {"log_input": False, "full": True, "eps": 1e-8}, r)
    case(POISSON, "defaults", {"input": randn(6), "target": counts(6)}, {}, "mean")
    ty = np.array([0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 7.0, 0.0])
    tx = np.array([-1.0, 2.0, 0.25, 0.0, -0.5, 1.0, 2.0, 30.0])
    for full in (False, True):
        for r in ("none", "mean"):
            case(POISSON, f"edge/zero-and-small-targets/full={full}/{r}", {"input": tx, "target": ty}, {"log_input": True, "full": full, "eps": 1e-8}, r)
    xr0 = np.array([0.0, 0.0, 0.5, 1e-3, 2.0, 0.0])
    yr0 = np.array([0.0, 3.0, 0.0, 1.0, 2.0, 1.0])
    case(POISSON, "edge/rate-0/none", {"input": xr0, "target": yr0}, {"log_input": False, "full": False, "eps": 1e-8}, "none")
    case(POISSON, "edge/rate-0/eps=0.25/full/none", {"input": xr0, "target": yr0}, {"log_input": False, "full": True, "eps": 0.25}, "none")
    case(POISSON, "edge/negative-target/full/none", {"input": np.array([0.5, 0.5]), "target": np.array([-1.0, 3.0])}, {"log_input": True, "full": True, "eps": 1e-8}, "none")
    case(POISSON, "larger/16x20/full/mean", {"input": randn(16, 20), "target": counts(16, 20, lam=3.0)}, {"log_input": True, "full": True, "eps": 1e-8}, "mean")
    case(POISSON, "empty/sum", {"input": np.zeros((0, 3)), "target": np.zeros((0, 3))}, {"log_input": True, "full": False, "eps": 1e-8}, "sum")
    case(POISSON, "error/shape-mismatch", {"input": np.array([0.5, 0.25]), "target": np.array([0.0, 1.0, 1.0])}, {}, "mean")

    # ---- gaussian_nll_loss
    x, y = randn(4, 3), randn(4, 3)
    for vname, v in (("same-shape", uniform(4, 3, low=0.2, high=2.0)), ("per-sample-(N,)", uniform(4, low=0.2, high=2.0)),
                     ("per-sample-(N,1)", uniform(4, 1, low=0.2, high=2.0)), ("per-column-(1,C)", uniform(1, 3, low=0.2, high=2.0))):
        for full, r in ((False, "mean"), (True, "sum"), (False, "none")):
            case(GAUSS, f"var={vname}/full={full}/{r}", {"input": x, "target": y, "var": v}, {"full": full, "eps": 1e-6}, r)
    x3, y3 = randn(2, 3, 4), randn(2, 3, 4)
    case(GAUSS, "3d/var-(N,1,D)/mean", {"input": x3, "target": y3, "var": uniform(2, 1, 4, low=0.2, high=2.0)}, {"full": True, "eps": 1e-6}, "mean")
    case(GAUSS, "3d/var-(N,d)/none", {"input": x3, "target": y3, "var": uniform(2, 3, low=0.2, high=2.0)}, {"full": False, "eps": 1e-6}, "none")
    case(GAUSS, "3d/var-(N,d,1)/sum", {"input": x3, "target": y3, "var": uniform(2, 3, 1, low=0.2, high=2.0)}, {"full": False, "eps": 1e-6}, "sum")
    case(GAUSS, "1d/var-0d/mean", {"input": randn(5), "target": randn(5), "var": np.array(0.75)}, {"full": False, "eps": 1e-6}, "mean")
    case(GAUSS, "defaults", {"input": randn(3, 2), "target": randn(3, 2), "var": uniform(3, 2, low=0.5, high=1.5)}, {}, "mean")
    ve = np.array([[0.0, 1e-8, 1e-6], [2e-6, 0.5, 0.0]])
    xe = np.array([[0.5, 1.0, -0.25], [0.0, 2.0, 0.0]])
    ye = np.array([[0.0, 0.0, 0.25], [0.0, 1.0, 0.0]])
    for r in ("none", "mean"):
        case(GAUSS, f"edge/var-at-and-below-eps/{r}", {"input": xe, "target": ye, "var": ve}, {"full": False, "eps": 1e-6}, r)
    case(GAUSS, "edge/var-below-eps=0.1/full/none", {"input": xe, "target": ye, "var": ve}, {"full": True, "eps": 0.1}, "none")
    case(GAUSS, "edge/per-sample-var-below-eps/sum", {"input": xe, "target": ye, "var": np.array([0.0, 0.25])}, {"full": False, "eps": 1e-3}, "sum")
    case(GAUSS, "larger/16x8/var-(N,1)/mean", {"input": randn(16, 8), "target": randn(16, 8), "var": uniform(16, 1, low=0.1, high=3.0)}, {"full": True, "eps": 1e-6}, "mean")
    case(GAUSS, "error/negative-var", {"input": x, "target": y, "var": np.array([[1.0, -0.5, 1.0]] * 4)}, {"full": False, "eps": 1e-6}, "mean")
    case(GAUSS, "error/negative-var-wrong-size", {"input": x, "target": y, "var": np.array([1.0, -0.5])}, {"full": False, "eps": 1e-6}, "mean")
    case(GAUSS, "error/var-(C,)", {"input": x, "target": y, "var": uniform(3, low=0.5, high=1.0)}, {"full": False, "eps": 1e-6}, "mean")
    case(GAUSS, "error/var-(N,C,1)", {"input": x, "target": y, "var": uniform(4, 3, 1, low=0.5, high=1.0)}, {"full": False, "eps": 1e-6}, "mean")
    case(GAUSS, "error/var-(1,1)", {"input": x, "target": y, "var": uniform(1, 1, low=0.5, high=1.0)}, {"full": False, "eps": 1e-6}, "mean")

    # ---- margin_ranking_loss
    for s, r, m in (((6,), "mean", 0.0), ((6,), "sum", 0.5), ((3, 4), "none", 1.0), ((), "mean", 0.25), ((2, 3, 2), "mean", 0.5)):
        case(MRL, f"{shape_name(s)}/margin={m}/{r}", {"input1": randn(*s), "input2": randn(*s), "target": signs(*s)}, {"margin": m}, r)
    case(MRL, "defaults", {"input1": randn(5), "input2": randn(5), "target": signs(5)}, {}, "mean")
    a = np.array([1.0, 2.0, 0.0, 0.5, -1.0, 3.0])
    b = np.array([1.0, 1.0, 0.5, 1.5, -1.5, 1.0])
    t = np.array([1.0, -1.0, 1.0, 1.0, -1.0, 1.0])
    for m in (0.0, 0.5, 1.0):
        case(MRL, f"edge/pairs-at-the-margin/margin={m}/none", {"input1": a, "input2": b, "target": t}, {"margin": m}, "none")
    case(MRL, "edge/non-unit-targets/none", {"input1": a, "input2": b, "target": np.array([0.5, -2.0, 0.0, 1.0, 3.0, -0.25])}, {"margin": 0.5}, "none")
    case(MRL, "larger/64/margin=0.1/mean", {"input1": randn(64), "input2": randn(64), "target": signs(64)}, {"margin": 0.1}, "mean")
    case(MRL, "error/shape-mismatch", {"input1": randn(3), "input2": randn(3), "target": signs(3, 1)}, {"margin": 0.0}, "mean")

    # ---- hinge_embedding_loss
    for s, r, m in (((6,), "mean", 1.0), ((3, 4), "none", 0.5), ((), "sum", 2.0), ((2, 3, 2), "mean", 1.0)):
        case(HEL, f"{shape_name(s)}/margin={m}/{r}", {"input": uniform(*s, low=0.0, high=2.5), "target": signs(*s)}, {"margin": m}, r)
    case(HEL, "defaults", {"input": uniform(5, low=0.0, high=2.0), "target": signs(5)}, {}, "mean")
    xh = np.array([0.5, 1.0, 2.0, 0.25, 0.3, -0.5, 1.0, 0.0])
    th = np.array([1.0, -1.0, -1.0, -1.0, 0.5, -1.0, 0.0, 2.0])
    for m in (1.0, 0.25):
        case(HEL, f"edge/at-margin+non-unit-targets/margin={m}/none", {"input": xh, "target": th}, {"margin": m}, "none")
    case(HEL, "error/shape-mismatch", {"input": randn(3), "target": signs(4)}, {"margin": 1.0}, "mean")

    # ---- soft_margin_loss
    for s, r in (((6,), "mean"), ((3, 4), "none"), ((), "sum"), ((2, 3, 2), "mean")):
        case(SML, f"{shape_name(s)}/{r}", {"input": randn(*s, scale=2.0), "target": signs(*s)}, {}, r)
    xs = np.array([30.0, -30.0, 700.0, -700.0, 0.0, 1e-3])
    ts = np.array([1.0, 1.0, -1.0, -1.0, 1.0, -1.0])
    for r in ("none", "mean"):
        case(SML, f"edge/saturated-margins/{r}", {"input": xs, "target": ts}, {}, r)
    case(SML, "edge/non-unit-targets/none", {"input": randn(5), "target": np.array([0.5, 0.0, 2.0, -3.0, 1.0])}, {}, "none")
    case(SML, "error/shape-mismatch", {"input": randn(3), "target": signs(4)}, {}, "mean")

    # ---- multilabel_soft_margin_loss
    xm, ym = randn(4, 5, scale=2.0), f32(rng.integers(0, 2, (4, 5)))
    wm = uniform(5, low=0.2, high=2.0)
    for r in ("mean", "sum", "none"):
        case(MLSML, f"4x5/{r}", {"input": xm, "target": ym}, {}, r)
        case(MLSML, f"4x5/weight-(C,)/{r}", {"input": xm, "target": ym, "weight": wm}, {}, r)
    case(MLSML, "4x5/weight-(N,C)/soft-targets/mean", {"input": xm, "target": uniform(4, 5), "weight": uniform(4, 5, low=0.0, high=2.0)}, {}, "mean")
    case(MLSML, "1d/none", {"input": randn(6), "target": f32(rng.integers(0, 2, 6))}, {}, "none")
    case(MLSML, "3d/mean", {"input": randn(2, 3, 4), "target": f32(rng.integers(0, 2, (2, 3, 4)))}, {}, "mean")
    case(MLSML, "3d/none", {"input": randn(2, 3, 4), "target": uniform(2, 3, 4)}, {}, "none", go="random")
    xsat = np.array([[1e4, -1e4, 100.0, -100.0], [0.0, 40.0, -40.0, 1.0]])
    ysat = np.array([[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.5]])
    case(MLSML, "edge/saturated/none", {"input": xsat, "target": ysat}, {}, "none")
    case(MLSML, "defaults", {"input": randn(3, 4), "target": f32(rng.integers(0, 2, (3, 4)))}, {}, "mean")
    case(MLSML, "error/shape-mismatch", {"input": randn(3, 4), "target": uniform(3, 5)}, {}, "mean")

    # ---- multilabel_margin_loss
    xl = np.array([[0.1, 0.2, 0.4, 0.8], [0.1, 1.1, 0.1, 0.3], [0.5, -0.5, 0.25, 0.0], [1.0, 2.0, 3.0, 4.0]])
    yl = np.array([[3, 0, -1, 1], [1, -1, 2, 2], [0, 0, 2, -1], [-1, 1, 2, 3]], dtype=np.int64)
    for r in ("mean", "sum", "none"):
        case(MLML, f"terminators+ties+duplicates/{r}", {"input": xl, "target": yl}, {}, r)
    case(MLML, "all-classes-targets/none", {"input": xl[:2], "target": np.array([[0, 1, 2, 3], [3, 2, 1, 0]], dtype=np.int64)}, {}, "none")
    case(MLML, "1d/none", {"input": np.array([0.1, 0.2, 0.4, 0.8]), "target": np.array([1, -1, 0, 0], dtype=np.int64)}, {}, "none")
    xr = randn(6, 7)
    yr = np.full((6, 7), -1, dtype=np.int64)
    for i in range(6):
        k = int(rng.integers(1, 5))
        yr[i, :k] = rng.permutation(7)[:k]
    case(MLML, "random/6x7/mean", {"input": xr, "target": yr}, {}, "mean")
    case(MLML, "random/6x7/none", {"input": xr, "target": yr}, {}, "none", go="random")
    case(MLML, "defaults", {"input": xl, "target": yl}, {}, "mean")
    case(MLML, "error/target-out-of-range", {"input": xl[:1], "target": np.array([[4, 0, -1, 1]], dtype=np.int64)}, {}, "mean")
    case(MLML, "error/target-below-minus-one", {"input": xl[:1], "target": np.array([[0, -2, -1, 1]], dtype=np.int64)}, {}, "mean")
    case(MLML, "error/out-of-range-after-terminator", {"input": xl[:1], "target": np.array([[0, -1, 7, 1]], dtype=np.int64)}, {}, "mean")
    case(MLML, "error/3d-input", {"input": np.zeros((2, 3, 4)), "target": np.zeros((2, 3, 4), dtype=np.int64)}, {}, "mean")
    case(MLML, "error/shape-mismatch", {"input": xl, "target": yl[:, :3]}, {}, "mean")

    # ---- multi_margin_loss
    xq = np.array([[0.1, 0.2, 0.4, 0.8], [0.1, 1.1, 0.1, 0.3], [0.5, 0.5, 0.5, 0.5], [2.0, 0.0, 1.0, 1.5]])
    yq = np.array([3, 1, 2, 0], dtype=np.int64)
    wq = np.array([1.0, 2.0, 0.5, 4.0])
    for p in (1, 2):
        for r in ("mean", "sum", "none"):
            case(MML, f"ties/p={p}/{r}", {"input": xq, "target": yq}, {"p": p, "margin": 1.0}, r)
        case(MML, f"ties/p={p}/weight/mean", {"input": xq, "target": yq, "weight": wq}, {"p": p, "margin": 1.0}, "mean")
        case(MML, f"ties/p={p}/weight+margin=0.5/none", {"input": xq, "target": yq, "weight": wq}, {"p": p, "margin": 0.5}, "none")
    xr = randn(8, 5)
    yr = ints(8, low=0, high=5)
    case(MML, "random/8x5/p=2/margin=2/weight/sum", {"input": xr, "target": yr, "weight": uniform(5, low=0.2, high=2.0)}, {"p": 2, "margin": 2.0}, "sum")
    case(MML, "random/8x5/none", {"input": xr, "target": yr}, {"p": 1, "margin": 1.0}, "none", go="random")
    case(MML, "1d-input-0d-target/none", {"input": np.array([0.1, 0.5, 0.2]), "target": np.array(1, dtype=np.int64)}, {"p": 1, "margin": 1.0}, "none")
    case(MML, "1d-input-0d-target/p=2/mean", {"input": randn(5), "target": np.array(3, dtype=np.int64)}, {"p": 2, "margin": 1.0}, "mean")
    case(MML, "defaults", {"input": xr, "target": yr}, {}, "mean")
    case(MML, "error/target-out-of-range", {"input": xq, "target": np.array([3, 4, 0, 0], dtype=np.int64)}, {"p": 1, "margin": 1.0}, "mean")
    case(MML, "error/target-negative", {"input": xq, "target": np.array([3, -1, 0, 0], dtype=np.int64)}, {"p": 1, "margin": 1.0}, "mean")
    case(MML, "error/p=3", {"input": xq, "target": yq}, {"p": 3, "margin": 1.0}, "mean")
    case(MML, "error/weight-wrong-length", {"input": xq, "target": yq, "weight": np.array([1.0, 2.0])}, {"p": 1, "margin": 1.0}, "mean")
    case(MML, "error/3d-input", {"input": np.zeros((2, 3, 4)), "target": np.zeros((2,), dtype=np.int64)}, {"p": 1, "margin": 1.0}, "mean")


# --------------------------------------------------------------------------------------
# TensorFlow

TF_SIG = ("tf:sigmoid_cross_entropy_with_logits", tf_runner(lambda t, o: tf.nn.sigmoid_cross_entropy_with_logits(labels=t["labels"], logits=t["logits"])), ("labels", "logits"))
TF_WCE = ("tf:weighted_cross_entropy_with_logits", tf_runner(lambda t, o: tf.nn.weighted_cross_entropy_with_logits(
    labels=t["labels"], logits=t["logits"], pos_weight=t["pos_weight"])), ("labels", "logits"))
TF_LP = ("tf:log_poisson_loss", tf_runner(lambda t, o: tf.nn.log_poisson_loss(
    t["targets"], t["log_input"], compute_full_loss=o.get("compute_full_loss", False))), ("targets", "log_input"))
TF_L2 = ("tf:l2_loss", tf_runner(lambda t, o: tf.nn.l2_loss(t["t"])), ("t",))


def gen_tf():
    for s in ((), (6,), (3, 4), (2, 3, 4)):
        case(TF_SIG, f"{shape_name(s)}", {"labels": uniform(*s), "logits": randn(*s, scale=3.0)}, {}, None)
    zl = np.array([[1e4, -1e4, 100.0, -100.0, 0.0], [0.0, 1e4, -1e4, 0.5, -0.5]])
    tl = np.array([[0.0, 1.0, 0.0, 1.0, 1.0], [0.5, 1.0, 0.0, 0.0, 1.0]])
    case(TF_SIG, "edge/saturated+zero-logits", {"labels": tl, "logits": zl}, {}, None)
    case(TF_SIG, "edge/saturated+zero-logits/grad_output", {"labels": tl, "logits": zl}, {}, None, go="random")
    case(TF_SIG, "error/shape-mismatch", {"labels": uniform(3), "logits": randn(4)}, {}, None)

    for s, pw in (((6,), np.array(2.5)), ((3, 4), uniform(4, low=0.25, high=4.0)), ((2, 3, 4), np.array(0.5)), ((), np.array(3.0))):
        case(TF_WCE, f"{shape_name(s)}/pos_weight-{shape_name(pw.shape)}", {"labels": uniform(*s), "logits": randn(*s, scale=3.0), "pos_weight": pw}, {}, None)
    case(TF_WCE, "edge/saturated+zero-logits/pos_weight=3", {"labels": tl, "logits": zl, "pos_weight": np.array(3.0)}, {}, None)
    case(TF_WCE, "edge/saturated+zero-logits/pos_weight-(C,)", {"labels": tl, "logits": zl, "pos_weight": np.array([0.5, 1.0, 2.0, 4.0, 0.0])}, {}, None, go="random")
    case(TF_WCE, "edge/pos_weight=1-is-sigmoid-ce", {"labels": tl, "logits": zl, "pos_weight": np.array(1.0)}, {}, None)
    case(TF_WCE, "error/shape-mismatch", {"labels": uniform(3), "logits": randn(4), "pos_weight": np.array(2.0)}, {}, None)

    for s in ((), (6,), (3, 4), (2, 3, 4)):
        c, li = counts(*s, lam=2.0), randn(*s)
        case(TF_LP, f"{shape_name(s)}", {"targets": c, "log_input": li}, {"compute_full_loss": False}, None)
        case(TF_LP, f"{shape_name(s)}/full", {"targets": c, "log_input": li}, {"compute_full_loss": True}, None)
    case(TF_LP, "defaults", {"targets": counts(5), "log_input": randn(5)}, {}, None)
    te = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 10.0, -1.0, 0.0])
    le = np.array([0.5, 0.5, 0.0, -0.5, 1.0, 2.0, 0.5, 20.0])
    for full in (False, True):
        case(TF_LP, f"edge/zero-small-negative-targets/full={full}", {"targets": te, "log_input": le}, {"compute_full_loss": full}, None)
    case(TF_LP, "error/shape-mismatch", {"targets": counts(3), "log_input": randn(4)}, {"compute_full_loss": False}, None)

    for s in ((), (6,), (3, 4), (2, 3, 4)):
        case(TF_L2, f"{shape_name(s)}", {"t": randn(*s, scale=2.0)}, {}, None)
    case(TF_L2, "empty", {"t": np.zeros((0, 3))}, {}, None)


# --------------------------------------------------------------------------------------
# Keras (JAX backend) and optax

from keras import losses as kl  # noqa: E402

K_HINGE = ("keras:hinge", keras_runner(lambda t, o: kl.hinge(t["y_true"], t["y_pred"])), ("y_true", "y_pred"))
K_SQH = ("keras:squared_hinge", keras_runner(lambda t, o: kl.squared_hinge(t["y_true"], t["y_pred"])), ("y_true", "y_pred"))
K_CH = ("keras:categorical_hinge", keras_runner(lambda t, o: kl.categorical_hinge(t["y_true"], t["y_pred"])), ("y_true", "y_pred"))
K_POI = ("keras:poisson", keras_runner(lambda t, o: kl.poisson(t["y_true"], t["y_pred"])), ("y_true", "y_pred"))
O_MCH = ("optax:multiclass_hinge_loss", jax_runner(lambda t, o: optax.losses.multiclass_hinge_loss(t["scores"], t["labels"])), ("scores",))
O_PER = ("optax:perceptron_loss", jax_runner(lambda t, o: optax.losses.perceptron_loss(t["predictor_outputs"], t["targets"])), ("predictor_outputs", "targets"))
O_MCP = ("optax:multiclass_perceptron_loss", jax_runner(lambda t, o: optax.losses.multiclass_perceptron_loss(t["scores"], t["labels"])), ("scores",))


def gen_keras_optax():
    for spec in (K_HINGE, K_SQH):
        for s in ((6,), (3, 4), (2, 3, 4)):
            case(spec, f"{shape_name(s)}/labels-0-1", {"y_true": f32(rng.integers(0, 2, s)), "y_pred": randn(*s, scale=1.5)}, {}, None)
            case(spec, f"{shape_name(s)}/labels-+-1", {"y_true": signs(*s), "y_pred": randn(*s, scale=1.5)}, {}, None)
        case(spec, "non-binary-labels", {"y_true": np.array([[-1.0, 1.0, 0.5], [0.0, 1.0, 2.0]]), "y_pred": randn(2, 3)}, {}, None)
        case(spec, "edge/at-the-margin/labels-+-1", {"y_true": np.array([[-1.0, 1.0, 1.0, -1.0]]), "y_pred": np.array([[-1.0, 1.0, 0.5, 3.0]])}, {}, None)
        case(spec, "edge/at-the-margin/labels-0-1", {"y_true": np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]), "y_pred": np.array([[-1.0, 1.0, 2.0], [0.25, -1.0, 0.0]])}, {}, None, go="random")
        case(spec, "edge/mixed-0-1-and-minus-1-not-converted", {"y_true": np.array([[0.0, 1.0, -1.0]]), "y_pred": np.array([[0.5, 0.25, -2.0]])}, {}, None)
    for s in ((5,), (4, 5), (2, 3, 4)):
        oh = np.eye(s[-1])[rng.integers(0, s[-1], s[:-1])] if len(s) > 1 else np.eye(s[-1])[2]
        case(K_CH, f"{shape_name(s)}/one-hot", {"y_true": oh, "y_pred": randn(*s, scale=1.5)}, {}, None)
    ych = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    pch = np.array([[-1.0, -0.5, -1.0, -2.0],   # neg ties at the target's own slot (0)
                    [0.25, 0.5, 0.25, -0.2],    # neg ties between two classes
                    [1.0, 0.0, 0.0, 0.0],       # loss exactly 0 at the margin
                    [0.5, 0.5, 0.5, 0.5],       # all equal
                    [3.0, 0.0, -1.0, 1.0]])     # violated
    case(K_CH, "edge/ties+margin", {"y_true": ych, "y_pred": pch}, {}, None)
    case(K_CH, "edge/ties+margin/grad_output", {"y_true": ych, "y_pred": pch}, {}, None, go="random")
    case(K_CH, "soft-labels", {"y_true": uniform(3, 4), "y_pred": randn(3, 4)}, {}, None)
    for s in ((6,), (3, 4), (2, 3, 4)):
        case(K_POI, f"{shape_name(s)}", {"y_true": counts(*s), "y_pred": uniform(*s, low=0.05, high=4.0)}, {}, None)
    case(K_POI, "edge/zero-predictions", {"y_true": np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0]]), "y_pred": np.array([[0.0, 0.0, 1.0], [1e-3, 0.0, 2.0]])}, {}, None)

    for s in ((5,), (4, 5), (2, 3, 4)):
        lab = np.array(int(rng.integers(0, s[-1])), dtype=np.int64) if len(s) == 1 else ints(*s[:-1], low=0, high=s[-1])
        case(O_MCH, f"{shape_name(s)}", {"scores": randn(*s), "labels": lab}, {}, None)
        case(O_MCP, f"{shape_name(s)}", {"scores": randn(*s), "labels": lab}, {}, None)
    st = np.array([[1.0, 2.0, 0.0], [0.5, 0.5, 0.5], [2.0, 1.0, 1.0], [0.0, 1.0, 0.0], [3.0, 0.0, 2.0]])
    lt = np.array([0, 2, 0, 1, 0], dtype=np.int64)
    for spec in (O_MCH, O_MCP):
        case(spec, "edge/ties", {"scores": st, "labels": lt}, {}, None)
        case(spec, "edge/ties/grad_output", {"scores": st, "labels": lt}, {}, None, go="random")
    for s in ((), (6,), (3, 4)):
        case(O_PER, f"{shape_name(s)}", {"predictor_outputs": randn(*s), "targets": signs(*s)}, {}, None)
    case(O_PER, "edge/zero-scores", {"predictor_outputs": np.array([0.0, 0.0, 1.0, -1.0, 2.0]), "targets": np.array([1.0, -1.0, 1.0, 1.0, -1.0])}, {}, None)
    case(O_PER, "error/shape-mismatch", {"predictor_outputs": randn(3), "targets": signs(4)}, {}, None)


def gen_torch_float_var():
    """gaussian_nll_loss with `var` a Python float (the `var` option of `losslab eval`).

    Generated after every other case, so that its draws from `rng` leave the earlier
    cases byte-identical."""
    for s in ((), (5,), (4, 3), (2, 3, 4)):
        x, y = randn(*s), randn(*s)
        for var, full, r in ((0.5, False, "mean"), (1.75, True, "sum"), (0.3, False, "none"), (2.0, True, "none")):
            case(GAUSS_F, f"float-var={var}/{shape_name(s)}/full={full}/{r}", {"input": x, "target": y}, {"var": var, "full": full, "eps": 1e-6}, r)
    x, y = randn(4, 3), randn(4, 3)
    case(GAUSS_F, "float-var/defaults", {"input": x, "target": y}, {"var": 0.75}, "mean")
    for var in (1e-8, 1e-6, 0.0, -0.0):
        for r in ("none", "mean"):
            case(GAUSS_F, f"float-var/edge/var={var}-eps=1e-06/{r}", {"input": x, "target": y}, {"var": var, "full": False, "eps": 1e-6}, r)
    case(GAUSS_F, "float-var/edge/var=0.0-eps=0.1/full/none", {"input": x, "target": y}, {"var": 0.0, "full": True, "eps": 0.1}, "none")
    case(GAUSS_F, "float-var/edge/var=0.0-eps=0.1/sum", {"input": x, "target": y}, {"var": 0.0, "full": False, "eps": 0.1}, "sum")
    case(GAUSS_F, "float-var/edge/var=nan/none", {"input": x, "target": y}, {"var": "nan", "full": False, "eps": 1e-6}, "none")
    case(GAUSS_F, "float-var/edge/var=inf/mean", {"input": x, "target": y}, {"var": "inf", "full": False, "eps": 1e-6}, "mean")
    case(GAUSS_F, "float-var/edge/empty/sum", {"input": np.zeros((0, 3)), "target": np.zeros((0, 3))}, {"var": 0.5, "full": False, "eps": 1e-6}, "sum")
    case(GAUSS_F, "float-var/error/negative", {"input": x, "target": y}, {"var": -0.5, "full": False, "eps": 1e-6}, "mean")
    case(GAUSS_F, "float-var/error/negative-0d", {"input": np.array(1.0), "target": np.array(0.5)}, {"var": -1e-300, "full": False, "eps": 1e-6}, "sum")
    case(GAUSS_F, "float-var/error/-inf", {"input": x, "target": y}, {"var": "-inf", "full": False, "eps": 1e-6}, "mean")


def main():
    gen_torch()
    gen_tf()
    gen_keras_optax()
    gen_torch_float_var()
    write(OUT, GENERATOR, versions(torch=torch.__version__, tensorflow=tf.__version__, keras=keras.__version__, jax=jax.__version__, optax=optax.__version__), CASES, count_errors=True)


if __name__ == "__main__":
    main()
