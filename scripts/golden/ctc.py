#!/usr/bin/env python3
"""Golden cases for the CTC losses from the real references.

Writes crates/losslab-registry/tests/golden/ctc.json (format: scripts/golden/README.md) with
  torch:ctc_loss   torch.nn.functional.ctc_loss, float64, gradient w.r.t. log_probs by autograd
  tf:ctc_loss      tf.nn.ctc_loss with dense labels, gradient w.r.t. logits by GradientTape
  optax:ctc_loss   optax.ctc_loss under jax_enable_x64, gradient w.r.t. logits by jax.vjp

    /root/refenv/bin/python scripts/golden/ctc.py [--check-f32]

TensorFlow's dense CTC (ctc_ops.ctc_loss_dense) only runs in float32: it builds its
constants (one_hot, ones, eye, sequence_mask, the float32 log_0 = log(1e-307)) without a
dtype.  For a float64 truth we run TensorFlow's own code with those constructors returning
float64 (`tf_float64()` below swaps in thin wrappers for ctc_ops' array_ops / math_ops /
linalg_ops module handles; every value they produce is unchanged, float32-rounded log_0
included, only the dtype is wider), and assert that the result agrees with TensorFlow's real
float32 run within float32 precision.  Deterministic: one seeded numpy Generator, consumed
in a fixed order; everything single-threaded on the CPU.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import contextlib  # noqa: E402

import numpy as np  # noqa: E402

from generate import T, dtypes_for, f32, first_line, is_f32_exact, log_softmax_np, make_case  # noqa: E402,F401
from common import GradOutputPolicy, versions, write  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.ops import ctc_ops  # noqa: E402
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "ctc.json")
GENERATOR = "scripts/golden/ctc.py"
CHECK_F32 = "--check-f32" in sys.argv

rng = np.random.default_rng(20261124)
CASES = []


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def log_probs(*shape, scale=1.0):
    """float32-exact log-probabilities: log_softmax in float64, rounded to float32."""
    return f32(log_softmax_np(rng.standard_normal(shape) * scale, axis=-1))


def labels_(shape, classes, blank=0):
    """Random labels in [0, classes) other than blank."""
    choices = np.array([c for c in range(classes) if c != blank])
    return choices[rng.integers(0, len(choices), size=shape)].astype(np.int64)


def i64(x):
    return np.asarray(x, dtype=np.int64)


GO = GradOutputPolicy(randn, 3)  # a 0-d upstream gradient for every third scalar case
F32_DEV = []


def add(cid, loss, tensors, options, reduction, run, diff, go="auto"):
    """run(tensors, options, dtype, grad_output) -> (result, {name: grad}); raising = error case."""
    cid = f"{loss}/{cid}"
    try:
        res, _ = run(tensors, options, "float64", None)
    except AssertionError:
        raise
    except Exception as e:  # the reference raised: an error case
        CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    res = np.asarray(res, dtype=np.float64)
    gout = GO.pick(res.shape, go)
    _, grads = run(tensors, options, "float64", gout)
    dts = dtypes_for(tensors, gout)
    if CHECK_F32 and "float32" in dts and loss != "tf:ctc_loss":
        r32, g32 = run(tensors, options, "float32", gout)
        F32_DEV.append((cid, rel(r32, res), max(rel(g32[k], grads[k]) for k in diff)))
    CASES.append(make_case(cid, loss, tensors, options, reduction, dts, gout, res, {k: grads[k] for k in diff}, None))


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    fin = np.isfinite(b)
    if not fin.any():
        return 0.0
    return float(np.max(np.abs(a[fin] - b[fin])) / max(np.max(np.abs(b[fin])), 1e-300))


# --------------------------------------------------------------------------------------
# PyTorch


def torch_run(tensors, options, dtype, gout):
    dt = torch.float64 if dtype == "float64" else torch.float32
    lp = torch.tensor(tensors["log_probs"], dtype=dt, requires_grad=True)
    res = F.ctc_loss(lp, torch.tensor(tensors["targets"]), torch.tensor(tensors["input_lengths"]),
                     torch.tensor(tensors["target_lengths"]), reduction=options["reduction"],
                     blank=options.get("blank", 0), zero_infinity=options.get("zero_infinity", False))
    g = torch.ones_like(res) if gout is None else torch.tensor(gout, dtype=dt)
    (grad,) = torch.autograd.grad(res, lp, g)
    return res.detach().double().numpy(), {"log_probs": grad.double().numpy()}


def tc(cid, tensors, blank=0, zero_infinity=False, reduction="mean", go="auto", defaults=False):
    options = {} if defaults else {"blank": blank, "zero_infinity": zero_infinity}
    run = lambda t, o, d, g: torch_run(t, {**o, "reduction": reduction}, d, g)  # noqa: E731
    add(cid, "torch:ctc_loss", tensors, options, reduction, run, ["log_probs"], go)


def padded(lengths, width, classes, blank=0, fill=0):
    out = np.full((len(lengths), width), fill, dtype=np.int64)
    for b, n in enumerate(lengths):
        out[b, :n] = labels_((n,), classes, blank)
    return out


def gen_torch():
    # Padded targets, all reductions, zero_infinity both ways.
    lp = log_probs(8, 3, 5)
    tl = i64([4, 2, 3])
    tg = padded(tl, 4, 5)
    il = i64([8, 6, 7])
    tc("padded/defaults", {"log_probs": lp, "targets": tg, "input_lengths": il, "target_lengths": tl}, defaults=True)
    for red in ("none", "mean", "sum"):
        for zi in (False, True):
            tc(f"padded/{red}/zero_infinity={zi}", {"log_probs": lp, "targets": tg, "input_lengths": il, "target_lengths": tl},
               zero_infinity=zi, reduction=red)
    # The same sequences concatenated.
    cat = np.concatenate([tg[b, :tl[b]] for b in range(3)])
    for red in ("none", "mean", "sum"):
        tc(f"concatenated/{red}", {"log_probs": lp, "targets": cat, "input_lengths": il, "target_lengths": tl}, reduction=red)
    # Padding past the target lengths is never read: -1 and out-of-range fillers.
    tg2 = tg.copy()
    tg2[1, 2:] = -1
    tg2[2, 3:] = 99
    tc("padded/garbage-padding", {"log_probs": lp, "targets": tg2, "input_lengths": il, "target_lengths": tl}, reduction="none")
    # Impossible alignments: +inf (NaN gradient) or 0 with zero_infinity.
    lpi = log_probs(5, 3, 4)
    tgi = i64([[1, 2, 3, 1], [2, 2, 3, 0], [1, 3, 0, 0]])
    tli = i64([4, 3, 2])
    ili = i64([3, 3, 5])  # 4 labels in 3 frames; "2 2 3" needs 4 frames
    for red in ("none", "mean", "sum"):
        for zi in (False, True):
            tc(f"impossible/{red}/zero_infinity={zi}", {"log_probs": lpi, "targets": tgi, "input_lengths": ili, "target_lengths": tli},
               zero_infinity=zi, reduction=red)
    # Exactly the minimum number of frames: one path only.
    lpm = log_probs(6, 2, 4)
    tc("minimum-frames/no-repeats", {"log_probs": lpm, "targets": i64([[1, 2, 3, 1, 2, 3], [3, 1, 2, 0, 0, 0]]),
                                      "input_lengths": i64([6, 3]), "target_lengths": i64([6, 3])}, reduction="none")
    tc("minimum-frames/repeats", {"log_probs": lpm, "targets": i64([[1, 1, 2, 2], [3, 3, 3, 0]]),
                                   "input_lengths": i64([6, 5]), "target_lengths": i64([4, 3])}, reduction="none")
    tc("repeats/mean", {"log_probs": log_probs(9, 2, 3), "targets": i64([[1, 1, 1, 2], [2, 2, 1, 1]]),
                        "input_lengths": i64([9, 8]), "target_lengths": i64([4, 4])}, reduction="mean")
    # Empty targets: every frame blank; input length 0.
    lpe = log_probs(5, 3, 4)
    tc("empty-targets/none", {"log_probs": lpe, "targets": i64([[0, 0], [2, 0], [0, 0]]),
                              "input_lengths": i64([5, 4, 3]), "target_lengths": i64([0, 1, 0])}, reduction="none")
    tc("empty-targets/mean", {"log_probs": lpe, "targets": i64([[0, 0], [2, 0], [0, 0]]),
                              "input_lengths": i64([5, 4, 3]), "target_lengths": i64([0, 1, 0])}, reduction="mean")
    tc("empty-targets/concatenated-empty", {"log_probs": lpe, "targets": np.zeros((0,), dtype=np.int64),
                                            "input_lengths": i64([5, 4, 3]), "target_lengths": i64([0, 0, 0])}, reduction="sum")
    tc("input-length-0", {"log_probs": lpe, "targets": i64([[0, 0], [2, 0], [1, 3]]),
                          "input_lengths": i64([0, 0, 5]), "target_lengths": i64([0, 1, 2])}, reduction="none")
    tc("input-length-0/zero_infinity", {"log_probs": lpe, "targets": i64([[0, 0], [2, 0], [1, 3]]),
                                        "input_lengths": i64([0, 0, 5]), "target_lengths": i64([0, 1, 2])},
       zero_infinity=True, reduction="mean")
    # Unbatched (T, C): 0-d result.
    lpu = log_probs(7, 5)
    tc("unbatched/none", {"log_probs": lpu, "targets": i64([1, 4, 4]), "input_lengths": i64(7), "target_lengths": i64(3)}, reduction="none")
    tc("unbatched/mean", {"log_probs": lpu, "targets": i64([1, 4, 4]), "input_lengths": i64(7), "target_lengths": i64(3)}, reduction="mean")
    tc("unbatched/2d-targets", {"log_probs": lpu, "targets": i64([[3, 2, 0, 0]]), "input_lengths": i64([6]),
                                "target_lengths": i64([2])}, reduction="sum")
    # Other blanks.
    lpb = log_probs(7, 2, 5)
    tc("blank=2", {"log_probs": lpb, "targets": padded([3, 2], 3, 5, blank=2), "input_lengths": i64([7, 5]),
                   "target_lengths": i64([3, 2])}, blank=2, reduction="none")
    tc("blank=C-1", {"log_probs": lpb, "targets": padded([3, 3], 3, 5, blank=4), "input_lengths": i64([7, 7]),
                     "target_lengths": i64([3, 3])}, blank=4, reduction="mean")
    # Unnormalised log_probs: PyTorch's gradient is exp(log_probs) - posterior (as if after log_softmax).
    tc("unnormalised-log_probs", {"log_probs": randn(6, 2, 4), "targets": i64([[1, 2, 1], [3, 3, 0]]),
                                  "input_lengths": i64([6, 5]), "target_lengths": i64([3, 2])}, reduction="sum")
    # A -inf log-probability: NaN gradient entries in PyTorch.
    lpn = log_probs(4, 1, 3)
    lpn[1, 0, 2] = -np.inf
    tc("-inf-log_prob", {"log_probs": lpn, "targets": i64([[1]]), "input_lengths": i64([4]), "target_lengths": i64([1])}, reduction="none")
    # Peaked distributions (large losses) and a float64-only input.
    tc("peaked", {"log_probs": log_probs(10, 2, 6, scale=6.0), "targets": padded([5, 4], 5, 6),
                  "input_lengths": i64([10, 9]), "target_lengths": i64([5, 4])}, reduction="none", go="random")
    lp64 = log_softmax_np(rng.standard_normal((6, 2, 4)) * 1.7)
    tc("float64-only", {"log_probs": lp64, "targets": i64([[1, 2, 3], [2, 1, 0]]), "input_lengths": i64([6, 4]),
                        "target_lengths": i64([3, 2])}, reduction="mean")
    # Long: T=120, S=40.
    tc("long/T=120/S=40", {"log_probs": log_probs(120, 2, 6, scale=2.0), "targets": padded([40, 25], 40, 6),
                           "input_lengths": i64([120, 100]), "target_lengths": i64([40, 25])}, reduction="mean")
    # Errors PyTorch raises.
    base = {"log_probs": lp, "targets": tg, "input_lengths": il, "target_lengths": tl}
    tc("error/input_length>T", {**base, "input_lengths": i64([9, 6, 7])}, reduction="none")
    tc("error/negative-input_length", {**base, "input_lengths": i64([8, -1, 7])}, reduction="none")
    tc("error/negative-target_length", {**base, "target_lengths": i64([4, -2, 3])}, reduction="none")
    tc("error/target_length>S", {**base, "target_lengths": i64([5, 2, 3])}, reduction="none")
    tc("error/blank>=C", base, blank=5, reduction="none")
    tc("error/blank<0", base, blank=-1, reduction="none")
    tc("error/input_lengths-size", {**base, "input_lengths": i64([8, 6])}, reduction="none")
    tc("error/target_lengths-size", {**base, "target_lengths": i64([4, 2, 3, 1])}, reduction="none")
    tc("error/targets-batch", {**base, "targets": tg[:2]}, reduction="none")
    tc("error/targets-3d", {**base, "targets": tg.reshape(3, 2, 2)}, reduction="none")
    tc("error/concatenated-length", {**base, "targets": cat[:-1]}, reduction="none")
    tc("error/log_probs-4d", {**base, "log_probs": lp.reshape(8, 3, 5, 1)}, reduction="none")
    tc("error/log_probs-1d", {"log_probs": lp[:, 0, 0], "targets": i64([1]), "input_lengths": i64(8),
                              "target_lengths": i64(1)}, reduction="none")


# --------------------------------------------------------------------------------------
# TensorFlow


class _F64:
    """A module handle whose listed constructors return float64 where they would return
    float32 (python-float arguments become float64 constants); values are unchanged."""

    def __init__(self, mod, names):
        self._mod, self._names = mod, names

    def __getattr__(self, name):
        f = getattr(self._mod, name)
        if name not in self._names:
            return f

        def wrapped(*a, **k):
            a = [tf.constant(x, tf.float64) if isinstance(x, float) else x for x in a]
            k = {n: (tf.constant(v, tf.float64) if isinstance(v, float) else v) for n, v in k.items()}
            r = f(*a, **k)
            return tf.cast(r, tf.float64) if getattr(r, "dtype", None) == tf.float32 else r

        return wrapped


@contextlib.contextmanager
def tf_float64():
    saved = {k: getattr(ctc_ops, k) for k in ("array_ops", "math_ops", "linalg_ops")}
    ctc_ops.array_ops = _F64(saved["array_ops"], {"one_hot", "ones", "zeros", "sequence_mask"})
    ctc_ops.math_ops = _F64(saved["math_ops"], {"cast", "log"})
    ctc_ops.linalg_ops = _F64(saved["linalg_ops"], {"eye"})
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(ctc_ops, k, v)


def tf_once(tensors, options, dt, gout):
    x = tf.constant(tensors["logits"], dtype=dt)
    with tf.GradientTape() as tape:
        tape.watch(x)
        res = tf.nn.ctc_loss(labels=tf.constant(tensors["labels"]), logits=x,
                             label_length=tf.constant(tensors["label_length"]),
                             logit_length=tf.constant(tensors["logit_length"]),
                             logits_time_major=options.get("logits_time_major", True),
                             blank_index=options.get("blank_index", 0))
    og = None if gout is None else tf.constant(gout, dtype=dt)
    g = tape.gradient(res, x, output_gradients=og)
    return res.numpy().astype(np.float64), {"logits": g.numpy().astype(np.float64)}


def tf_run(tensors, options, dtype, gout):
    with tf_float64():
        r64, g64 = tf_once(tensors, options, tf.float64, gout)
    # TensorFlow's own float32 run must agree within float32 precision.
    r32, g32 = tf_once(tensors, options, tf.float32, gout)
    assert rel(r32, r64) < 1e-5 and rel(g32["logits"], g64["logits"]) < 1e-4, (rel(r32, r64), rel(g32["logits"], g64["logits"]))
    if CHECK_F32:
        F32_DEV.append(("tf", rel(r32, r64), rel(g32["logits"], g64["logits"])))
    return r64, g64


def tfc(cid, tensors, time_major=True, blank_index=0, go="auto", defaults=False):
    options = {} if defaults else {"logits_time_major": time_major, "blank_index": blank_index}
    add(cid, "tf:ctc_loss", tensors, options, None, tf_run, ["logits"], go)


def gen_tf():
    x = randn(8, 3, 5, scale=1.5)
    lab = padded([4, 2, 3], 4, 5)
    ll, gl = i64([4, 2, 3]), i64([8, 6, 7])
    tfc("defaults", {"labels": lab, "logits": x, "label_length": ll, "logit_length": gl}, defaults=True)
    tfc("time-major/grad_output", {"labels": lab, "logits": x, "label_length": ll, "logit_length": gl}, go="random")
    tfc("batch-major", {"labels": lab, "logits": np.ascontiguousarray(x.transpose(1, 0, 2)), "label_length": ll,
                        "logit_length": gl}, time_major=False)
    tfc("blank_index=2", {"labels": padded([3, 2, 4], 4, 5, blank=2), "logits": randn(8, 3, 5), "label_length": i64([3, 2, 4]),
                          "logit_length": i64([8, 8, 7])}, blank_index=2)
    tfc("blank_index=-1", {"labels": padded([3, 2, 4], 4, 5, blank=4), "logits": randn(8, 3, 5), "label_length": i64([3, 2, 4]),
                           "logit_length": i64([8, 5, 8])}, blank_index=-1, go="random")
    tfc("repeats/minimum-frames", {"labels": i64([[1, 1, 2, 2], [3, 3, 3, 0]]), "logits": randn(6, 2, 4),
                                   "label_length": i64([4, 3]), "logit_length": i64([6, 5])})
    tfc("no-repeats/T=S", {"labels": i64([[1, 2, 3, 1], [2, 3, 0, 0]]), "logits": randn(4, 2, 4),
                           "label_length": i64([4, 2]), "logit_length": i64([4, 2])})
    tfc("empty-labels", {"labels": i64([[0, 0], [3, 0]]), "logits": randn(5, 2, 4), "label_length": i64([0, 1]),
                         "logit_length": i64([5, 3])})
    tfc("logit_length-0", {"labels": i64([[0, 0], [3, 1]]), "logits": randn(4, 2, 4), "label_length": i64([0, 2]),
                           "logit_length": i64([0, 0])})
    tfc("impossible", {"labels": i64([[1, 2, 3, 1], [2, 2, 3, 0]]), "logits": randn(5, 2, 4), "label_length": i64([4, 3]),
                       "logit_length": i64([3, 3])}, go="random")
    tfc("nonzero-padding", {"labels": i64([[1, 2, 3, 3], [2, 1, 1, 2]]), "logits": randn(6, 2, 4), "label_length": i64([2, 1]),
                            "logit_length": i64([6, 6])})
    tfc("peaked", {"labels": padded([5, 4], 5, 6), "logits": randn(10, 2, 6, scale=5.0), "label_length": i64([5, 4]),
                   "logit_length": i64([10, 9])})
    tfc("long/T=100/S=30", {"labels": padded([30, 18], 30, 6), "logits": randn(100, 2, 6, scale=2.0),
                            "label_length": i64([30, 18]), "logit_length": i64([100, 80])})
    # Padding labels outside [0, C) (TensorFlow: a one-hot row of zeros, log-probability 0) only
    # show where every path is contaminated: impossible alignments.
    tfc("padding-out-of-range/impossible", {"labels": i64([[1, 2, 99, -1], [3, 7, 7, 2]]), "logits": randn(3, 2, 4),
                                             "label_length": i64([2, 1]), "logit_length": i64([1, 0])})
    tfc("error/logits-2d", {"labels": lab, "logits": x[:, 0], "label_length": ll, "logit_length": gl})


# --------------------------------------------------------------------------------------
# optax


def optax_run(tensors, options, dtype, gout):
    dt = jnp.float64 if dtype == "float64" else jnp.float32
    logits = jnp.asarray(tensors["logits"], dtype=dt)

    def f(lg):
        return optax.ctc_loss(lg, jnp.asarray(tensors["logit_paddings"], dtype=dt), jnp.asarray(tensors["labels"]),
                              jnp.asarray(tensors["label_paddings"], dtype=dt), blank_id=options.get("blank_id", 0),
                              log_epsilon=options.get("log_epsilon", -1e5))

    res, vjp = jax.vjp(f, logits)
    g = jnp.ones_like(res) if gout is None else jnp.asarray(gout, dtype=res.dtype)
    (grad,) = vjp(g)
    return np.asarray(res, dtype=np.float64), {"logits": np.asarray(grad, dtype=np.float64)}


def oc(cid, tensors, blank_id=0, log_epsilon=-1e5, go="auto", defaults=False):
    options = {} if defaults else {"blank_id": blank_id, "log_epsilon": log_epsilon}
    add(cid, "optax:ctc_loss", tensors, options, None, optax_run, ["logits"], go)


def pads(lengths, width):
    return np.array([[0.0] * n + [1.0] * (width - n) for n in lengths])


def gen_optax():
    lg = randn(3, 8, 5, scale=1.5)
    lab = padded([4, 2, 3], 4, 5)
    lp_, fp_ = pads([4, 2, 3], 4), pads([8, 6, 7], 8)
    oc("defaults", {"logits": lg, "logit_paddings": fp_, "labels": lab, "label_paddings": lp_}, defaults=True)
    oc("grad_output", {"logits": lg, "logit_paddings": fp_, "labels": lab, "label_paddings": lp_}, go="random")
    oc("blank_id=3", {"logits": randn(2, 7, 5), "logit_paddings": pads([7, 6], 7), "labels": padded([3, 2], 3, 5, blank=3),
                      "label_paddings": pads([3, 2], 3)}, blank_id=3)
    oc("label-equals-blank", {"logits": randn(2, 6, 4), "logit_paddings": pads([6, 6], 6), "labels": i64([[1, 0, 2], [0, 0, 3]]),
                              "label_paddings": pads([3, 3], 3)})
    oc("repeats/minimum-frames", {"logits": randn(2, 6, 4), "logit_paddings": pads([6, 5], 6), "labels": i64([[1, 1, 2, 2], [3, 3, 3, 0]]),
                                  "label_paddings": pads([4, 3], 4)})
    oc("no-repeats/T=S", {"logits": randn(2, 4, 4), "logit_paddings": pads([4, 2], 4), "labels": i64([[1, 2, 3, 1], [2, 3, 0, 0]]),
                          "label_paddings": pads([4, 2], 4)})
    oc("empty-labels", {"logits": randn(2, 5, 4), "logit_paddings": pads([5, 3], 5), "labels": i64([[0, 0], [3, 0]]),
                        "label_paddings": pads([0, 1], 2)})
    oc("no-label-axis", {"logits": randn(2, 4, 3), "logit_paddings": pads([4, 2], 4), "labels": np.zeros((2, 0), dtype=np.int64),
                         "label_paddings": np.zeros((2, 0))})
    mid = np.zeros((2, 7))
    mid[0, [2, 3]] = 1.0
    mid[1, [0, 6]] = 1.0
    oc("padded-frames-in-the-middle", {"logits": randn(2, 7, 4), "logit_paddings": mid, "labels": i64([[1, 2, 2], [3, 1, 0]]),
                                       "label_paddings": pads([3, 2], 3)})
    oc("impossible", {"logits": randn(2, 5, 4), "logit_paddings": pads([3, 3], 5), "labels": i64([[1, 2, 3, 1], [2, 2, 3, 0]]),
                      "label_paddings": pads([4, 3], 4)}, go="random")
    oc("impossible/log_epsilon=-50", {"logits": randn(2, 5, 4), "logit_paddings": pads([3, 3], 5), "labels": i64([[1, 2, 3, 1], [2, 2, 3, 0]]),
                                      "label_paddings": pads([4, 3], 4)}, log_epsilon=-50.0)
    oc("log_epsilon=-30", {"logits": randn(2, 6, 4), "logit_paddings": pads([6, 4], 6), "labels": i64([[1, 1, 2], [2, 3, 0]]),
                           "label_paddings": pads([3, 2], 3)}, log_epsilon=-30.0)
    oc("peaked", {"logits": randn(2, 10, 6, scale=5.0), "logit_paddings": pads([10, 9], 10), "labels": padded([5, 4], 5, 6),
                  "label_paddings": pads([5, 4], 5)})
    oc("long/T=100/N=30", {"logits": randn(2, 100, 6, scale=2.0), "logit_paddings": pads([100, 80], 100),
                           "labels": padded([30, 18], 30, 6), "label_paddings": pads([30, 18], 30)})
    oc("padding-out-of-range/impossible", {"logits": randn(2, 3, 4), "logit_paddings": pads([1, 2], 3),
                                            "labels": i64([[1, 2, 99, -1], [3, 3, 7, 7]]), "label_paddings": pads([2, 2], 4)})
    oc("error/logit_paddings-shape", {"logits": lg, "logit_paddings": fp_[:, :7], "labels": lab, "label_paddings": lp_})
    oc("error/label_paddings-shape", {"logits": lg, "logit_paddings": fp_, "labels": lab, "label_paddings": lp_[:, :3]})
    oc("error/labels-batch", {"logits": lg, "logit_paddings": fp_, "labels": lab[:2], "label_paddings": lp_[:2]})
    oc("error/logits-2d", {"logits": lg[0], "logit_paddings": fp_[0], "labels": lab[0], "label_paddings": lp_[0]})


def main():
    torch.set_num_threads(1)
    gen_torch()
    gen_tf()
    gen_optax()
    write(OUT, GENERATOR, versions(torch=torch.__version__, tensorflow=tf.__version__, jax=jax.__version__, optax=optax.__version__), CASES)
    if CHECK_F32:
        print("float32 deviation of the reference's own float32 run from its float64 truth (value, gradient):")
        for cid, a, b in F32_DEV:
            if a > 1e-6 or b > 1e-5:
                print(f"  {a:9.2g} {b:9.2g}  {cid}")


if __name__ == "__main__":
    main()
