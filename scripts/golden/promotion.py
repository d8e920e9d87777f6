#!/usr/bin/env python3
"""Golden cases of integer-to-float promotion, from the real references.

Runs PyTorch, torchvision, TensorFlow, Keras 3 (JAX backend) and optax with integer
tensors where a float one is expected, and writes
crates/losslab-registry/tests/golden/promotion.json in the format of
scripts/golden/README.md:

- accepted: the reference promotes the integer tensor to the float dtype of the
  others (PyTorch's type promotion; Keras casts y_true to y_pred's dtype; jnp
  promotes); the case records the float64 truth (the other tensors in float64, the
  integer one as int64) and the gradients of the float tensors (an integer tensor
  has none);
- refused: the reference raises (PyTorch's kl_div, binary_cross_entropy(_with_logits)
  targets, class weights; tf.nn's element-wise losses; optax's chex-checked losses);
  the case has `"error"` set, and the registry must refuse it too (with
  ErrorKind::Dtype: the golden test checks the kind for this file).

    KERAS_BACKEND=jax ~/refenv/bin/python scripts/golden/promotion.py

Deterministic (own seeded numpy Generator, single-threaded references): a re-run
rewrites a byte-identical file.  The registry declares what each reference accepts
per tensor (TensorKind::Promoted); scripts/golden/README.md has the table.

Where a reference accepts an integer *prediction* but computes in another type than
the float tensors' (Keras casts y_true to an integer y_pred's dtype; optax's dice
losses compute an integer prediction in float64 under x64), losslab refuses it and no
case is recorded.  torchvision is imported before TensorFlow (the other order aborts
on a clash of their LLVM command-line options).
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import torch  # noqa: E402  (before TensorFlow: see the docstring)
import torchvision  # noqa: E402
import torchvision.ops as tvops  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import warnings  # noqa: E402

import numpy as np  # noqa: E402
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import optax  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from generate import f32, make_case, dtypes_for, first_line  # noqa: E402
from common import versions, write  # noqa: E402
from likelihood_margin import torch_runner, tf_runner, jax_runner, keras_runner  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "promotion.json")
GENERATOR = "scripts/golden/promotion.py"
rng = np.random.default_rng(20261203)
CASES = []


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def uniform(*shape, low=0.0, high=1.0):
    return f32(rng.uniform(low, high, shape))


def ints(*shape, low, high):
    return rng.integers(low, high, size=shape, dtype=np.int64)


def int_signs(*shape):
    return rng.choice(np.array([-1, 1], dtype=np.int64), size=shape)


def one_hot(n, c):
    return np.eye(c, dtype=np.int64)[rng.integers(0, c, size=n)]


def close(a, b, what):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape and np.array_equal(np.isnan(a), np.isnan(b)), (what, a, b)
    fin = np.isfinite(b)
    scale = max(np.max(np.abs(b[fin]), initial=0.0), 1e-30)
    assert np.array_equal(a[~fin], b[~fin]) and np.all(np.abs(a[fin] - b[fin]) <= 2e-6 * scale), (what, a, b)


def add(cid, loss, tensors, options, reduction, run, diff, go=None, indices=()):
    """One case; `diff` lists the float tensors the reference differentiates (the
    integer ones are dropped from it). `go`: None (ones) or "random". `indices`:
    integer tensors that are class indices, not promoted.

    An accepted case runs the reference twice: with the integer tensors (that it
    accepts them, and what it computes), then with them converted to float64, exactly
    (the promotion to a float64 computation); the second is the truth recorded, the
    first must agree with it to float32 accuracy. They differ where the reference
    computes an integer tensor's own functions in its default float32: torch's
    poisson_nll_loss (exp of an integer input, the Stirling term of an integer
    target), torchvision's _upcast_non_float of integer boxes."""
    cid = f"{loss}/{cid}"
    diff = [n for n in diff if n in tensors and np.asarray(tensors[n]).dtype.kind == "f"]
    chosen = {}

    def go_fn(shape):
        if "go" not in chosen:
            chosen["go"] = randn(*shape) if go == "random" else None
        return chosen["go"]

    try:
        res_int, grads_int = run(tensors, options, reduction, diff, go_fn)
    except Exception as e:  # the reference raised
        CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    as_float = {k: (np.asarray(v, dtype=np.float64) if np.asarray(v).dtype.kind in "iu" and k not in indices else v)
                for k, v in tensors.items()}
    res, grads = run(as_float, options, reduction, diff, go_fn)
    close(res_int, res, cid)
    for k in grads:
        close(grads_int[k], grads[k], f"{cid} grad {k}")
    gout = chosen.get("go")
    res = np.asarray(res, dtype=np.float64)
    CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, gout), gout, res,
                           {k: np.asarray(v, dtype=np.float64) for k, v in grads.items()}, None))


def torch_fn(f):
    return torch_runner(lambda t, o, r: f(t, o, r))


def torch_value(f):
    """The value alone (no autograd): for a reference whose forward accepts the input
    but whose backward raises (see HUBER below)."""

    def run(tensors, options, reduction, diff, go_fn):
        tt = {k: torch.tensor(np.asarray(v), dtype=torch.float64 if np.asarray(v).dtype.kind == "f" else torch.int64)
              for k, v in tensors.items()}
        with torch.no_grad():
            return f(tt, options, reduction).numpy(), {}

    return run


def jax_value(f):
    def run(tensors, options, reduction, diff, go_fn):
        return np.asarray(f({k: jnp.asarray(np.asarray(v)) for k, v in tensors.items()})), {}

    return run


# --------------------------------------------------------------------------------------
# PyTorch and torchvision


def gen_torch():
    x, yi = randn(3, 4), ints(3, 4, low=-3, high=4)
    xi, y = ints(3, 4, low=-3, high=4), randn(3, 4)
    pair = lambda f: torch_fn(lambda t, o, r: f(t["input"], t["target"], reduction=r, **o))  # noqa: E731

    for name, f, opts in [("mse_loss", F.mse_loss, {}), ("l1_loss", F.l1_loss, {}), ("smooth_l1_loss", F.smooth_l1_loss, {"beta": 0.5}),
                          ("huber_loss", F.huber_loss, {"delta": 1.5})]:
        L = f"torch:{name}"
        if name == "huber_loss":
            # HUBER: torch 2.15's huber_loss forward promotes an integer target, but its
            # backward raises ("Found dtype Long but expected Double"), unlike
            # smooth_l1_loss's: the value alone is recorded; losslab also gives the
            # gradient of the float input.
            run = torch_value(lambda t, o, r: F.huber_loss(t["input"], t["target"], reduction=r, **o))
            add("int-target/mean", L, {"input": x, "target": yi}, opts, "mean", run, [])
            add("int-target/none", L, {"input": x, "target": yi}, opts, "none", run, [])
            add("error/int-input", L, {"input": xi, "target": y}, opts, "sum", pair(f), ["input", "target"])
            continue
        add("int-target/mean", L, {"input": x, "target": yi}, opts, "mean", pair(f), ["input", "target"])
        add("int-target/none", L, {"input": x, "target": yi}, opts, "none", pair(f), ["input", "target"], go="random")
        add("int-input/sum", L, {"input": xi, "target": y}, opts, "sum", pair(f), ["input", "target"])

    L = "torch:poisson_nll_loss"
    pn = torch_fn(lambda t, o, r: F.poisson_nll_loss(t["input"], t["target"], reduction=r, **o))
    counts = ints(3, 4, low=0, high=5)
    add("int-target/log_input/full/mean", L, {"input": randn(3, 4, scale=0.5), "target": counts},
        {"log_input": True, "full": True, "eps": 1e-8}, "mean", pn, ["input", "target"])
    add("int-target/rate/none", L, {"input": uniform(3, 4, low=0.1, high=3.0), "target": counts},
        {"log_input": False, "full": False, "eps": 1e-8}, "none", pn, ["input", "target"], go="random")
    add("int-input/log_input/sum", L, {"input": ints(3, 4, low=-1, high=2), "target": uniform(3, 4, high=4.0)},
        {"log_input": True, "full": False, "eps": 1e-8}, "sum", pn, ["input", "target"])

    L = "torch:gaussian_nll_loss"
    gn = torch_fn(lambda t, o, r: F.gaussian_nll_loss(t["input"], t["target"], t["var"], reduction=r, **o))
    var = uniform(3, 4, low=0.5, high=2.0)
    add("int-target/mean", L, {"input": x, "target": yi, "var": var}, {"full": True, "eps": 1e-6}, "mean", gn, ["input", "target", "var"])
    add("int-input/none", L, {"input": xi, "target": y, "var": var}, {"full": False, "eps": 1e-6}, "none", gn,
        ["input", "target", "var"], go="random")
    add("error/int-var", L, {"input": x, "target": y, "var": ints(3, 4, low=1, high=3)}, {"full": False, "eps": 1e-6}, "mean", gn,
        ["input", "target", "var"])

    L = "torch:margin_ranking_loss"
    mr = torch_fn(lambda t, o, r: F.margin_ranking_loss(t["input1"], t["input2"], t["target"], reduction=r, **o))
    add("int-target/mean", L, {"input1": randn(6), "input2": randn(6), "target": int_signs(6)}, {"margin": 0.5}, "mean", mr,
        ["input1", "input2", "target"])
    add("int-input1/none", L, {"input1": ints(6, low=-2, high=3), "input2": randn(6), "target": f32(int_signs(6))}, {"margin": 0.0}, "none",
        mr, ["input1", "input2", "target"], go="random")

    L = "torch:hinge_embedding_loss"
    he = torch_fn(lambda t, o, r: F.hinge_embedding_loss(t["input"], t["target"], reduction=r, **o))
    add("int-target/mean", L, {"input": uniform(3, 4, high=2.0), "target": int_signs(3, 4)}, {"margin": 1.0}, "mean", he, ["input"])
    add("int-target/none", L, {"input": uniform(3, 4, high=2.0), "target": int_signs(3, 4)}, {"margin": 1.5}, "none", he, ["input"],
        go="random")
    add("error/int-input", L, {"input": ints(3, 4, low=0, high=3), "target": f32(int_signs(3, 4))}, {"margin": 1.0}, "mean", he, ["input"])

    L = "torch:soft_margin_loss"
    sm = torch_fn(lambda t, o, r: F.soft_margin_loss(t["input"], t["target"], reduction=r))
    add("int-target/sum", L, {"input": randn(3, 4), "target": int_signs(3, 4)}, {}, "sum", sm, ["input"])
    add("int-target/none", L, {"input": randn(3, 4), "target": int_signs(3, 4)}, {}, "none", sm, ["input"], go="random")
    add("error/int-input", L, {"input": ints(3, 4, low=-2, high=3), "target": f32(int_signs(3, 4))}, {}, "mean", sm, ["input"])

    L = "torch:multilabel_soft_margin_loss"
    ms = torch_fn(lambda t, o, r: F.multilabel_soft_margin_loss(t["input"], t["target"], weight=t.get("weight"), reduction=r))
    add("int-target/mean", L, {"input": randn(3, 4), "target": ints(3, 4, low=0, high=2)}, {}, "mean", ms, ["input", "target"])
    add("int-target+int-weight/none", L, {"input": randn(3, 4), "target": ints(3, 4, low=0, high=2), "weight": ints(4, low=1, high=4)}, {},
        "none", ms, ["input", "target"], go="random")
    add("error/int-input", L, {"input": ints(3, 4, low=-2, high=3), "target": f32(ints(3, 4, low=0, high=2))}, {}, "mean", ms, ["input"])

    L = "torch:cosine_embedding_loss"
    ce = torch_fn(lambda t, o, r: F.cosine_embedding_loss(t["input1"], t["input2"], t["target"], reduction=r, **o))
    add("int-target/mean", L, {"input1": randn(4, 3), "input2": randn(4, 3), "target": int_signs(4)}, {"margin": 0.2}, "mean", ce,
        ["input1", "input2"])
    add("int-input2/none", L, {"input1": randn(4, 3), "input2": ints(4, 3, low=-2, high=3), "target": int_signs(4)}, {"margin": 0.0},
        "none", ce, ["input1", "input2"], go="random")

    L = "torch:triplet_margin_loss"
    tm = torch_fn(lambda t, o, r: F.triplet_margin_loss(t["anchor"], t["positive"], t["negative"], reduction=r, **o))
    add("int-negative/mean", L, {"anchor": randn(4, 3), "positive": randn(4, 3), "negative": ints(4, 3, low=-2, high=3)},
        {"margin": 1.0, "p": 2.0, "eps": 1e-6, "swap": False}, "mean", tm, ["anchor", "positive", "negative"])
    L = "torch:triplet_margin_with_distance_loss"
    tw = torch_fn(lambda t, o, r: F.triplet_margin_with_distance_loss(t["anchor"], t["positive"], t["negative"], reduction=r,
                                                                      margin=o["margin"], swap=o["swap"]))
    add("int-positive/none", L, {"anchor": randn(4, 3), "positive": ints(4, 3, low=-2, high=3), "negative": randn(4, 3)},
        {"distance_function": "pairwise", "margin": 1.0, "swap": False}, "none", tw, ["anchor", "positive", "negative"], go="random")

    L = "torch:binary_cross_entropy"
    bce = torch_fn(lambda t, o, r: F.binary_cross_entropy(t["input"], t["target"], weight=t.get("weight"), reduction=r))
    p = uniform(3, 4, low=0.05, high=0.95)
    add("int-weight/mean", L, {"input": p, "target": uniform(3, 4), "weight": ints(3, 4, low=0, high=3)}, {}, "mean", bce, ["input", "target"])
    add("error/int-target", L, {"input": p, "target": ints(3, 4, low=0, high=2)}, {}, "mean", bce, ["input", "target"])

    L = "torch:binary_cross_entropy_with_logits"
    bcel = torch_fn(lambda t, o, r: F.binary_cross_entropy_with_logits(t["input"], t["target"], weight=t.get("weight"),
                                                                       pos_weight=t.get("pos_weight"), reduction=r))
    add("int-weight+int-pos_weight/none", L, {"input": randn(3, 4), "target": uniform(3, 4), "weight": ints(3, 4, low=0, high=3),
                                              "pos_weight": ints(4, low=1, high=4)}, {}, "none", bcel, ["input", "target"], go="random")
    add("error/int-target", L, {"input": randn(3, 4), "target": ints(3, 4, low=0, high=2)}, {}, "mean", bcel, ["input", "target"])

    L = "torch:kl_div"
    kl = torch_fn(lambda t, o, r: F.kl_div(t["input"], t["target"], reduction=r, **o))
    add("error/int-target", L, {"input": f32(np.log(uniform(3, 4, low=0.1))), "target": ints(3, 4, low=0, high=2)},
        {"log_target": False}, "mean", kl, ["input", "target"])

    L = "torch:cross_entropy"
    cx = torch_fn(lambda t, o, r: F.cross_entropy(t["input"], t["target"], weight=t.get("weight"), reduction=r, **o))
    add("error/int-weight", L, {"input": randn(3, 4), "target": ints(3, low=0, high=4), "weight": ints(4, low=1, high=3)},
        {"ignore_index": -100, "label_smoothing": 0.0}, "mean", cx, ["input"])
    L = "torch:nll_loss"
    nl = torch_fn(lambda t, o, r: F.nll_loss(t["input"], t["target"], weight=t.get("weight"), reduction=r, **o))
    add("error/int-weight", L, {"input": randn(3, 4), "target": ints(3, low=0, high=4), "weight": ints(4, low=1, high=3)},
        {"ignore_index": -100}, "mean", nl, ["input"])
    L = "torch:multi_margin_loss"
    mm = torch_fn(lambda t, o, r: F.multi_margin_loss(t["input"], t["target"], weight=t.get("weight"), reduction=r, **o))
    add("error/int-weight", L, {"input": randn(3, 4), "target": ints(3, low=0, high=4), "weight": ints(4, low=1, high=3)},
        {"p": 1, "margin": 1.0}, "mean", mm, ["input"])

    def boxes(n, integer):
        xy = ints(n, 2, low=0, high=5) if integer else uniform(n, 2, high=4.0)
        wh = ints(n, 2, low=1, high=4) if integer else uniform(n, 2, low=0.5, high=3.0)
        b = np.concatenate([xy, xy + wh], axis=1)
        return b if integer else f32(b)

    # torchvision upcasts an integer box to float32 (_upcast_non_float) and promotes it
    # with the other box: accepted beside float32 boxes, and beside float64 ones as
    # boxes2; as boxes1 beside float64 boxes2 (and for distance_box_iou_loss either
    # way) an index_put then meets float32 and float64 and raises. losslab accepts
    # integer boxes in every position and dtype; only the accepted ones are recorded.
    for name, r, which in [("generalized_box_iou_loss", "mean", "boxes2"), ("generalized_box_iou_loss", "none", "boxes2"),
                           ("complete_box_iou_loss", "sum", "boxes2")]:
        L = f"torchvision:{name}"
        f = getattr(tvops, name)
        run = torch_fn(lambda t, o, r, f=f: f(t["boxes1"], t["boxes2"], reduction=r, **o))
        t = {"boxes1": boxes(4, which == "boxes1"), "boxes2": boxes(4, which == "boxes2")}
        add(f"int-{which}/{r}", L, t, {"eps": 1e-7}, r, run, ["boxes1", "boxes2"], go="random" if r == "none" else None)
    L = "torchvision:sigmoid_focal_loss"
    sf = torch_fn(lambda t, o, r: tvops.sigmoid_focal_loss(t["inputs"], t["targets"], reduction=r, **o))
    add("error/int-targets", L, {"inputs": randn(3, 4), "targets": ints(3, 4, low=0, high=2)}, {"alpha": 0.25, "gamma": 2.0}, "mean", sf,
        ["inputs", "targets"])


# --------------------------------------------------------------------------------------
# TensorFlow


def gen_tf():
    L = "tf:softmax_cross_entropy_with_logits"
    run = tf_runner(lambda t, o: tf.nn.softmax_cross_entropy_with_logits(labels=t["labels"], logits=t["logits"], axis=o.get("axis", -1)))
    add("int-labels", L, {"labels": one_hot(4, 3), "logits": randn(4, 3)}, {"axis": -1}, None, run, ["logits", "labels"], go="random")
    add("int-labels/counts", L, {"labels": ints(4, 3, low=0, high=3), "logits": randn(4, 3)}, {"axis": -1}, None, run, ["logits", "labels"])

    lab, lg = ints(3, 4, low=0, high=2), randn(3, 4)
    run = tf_runner(lambda t, o: tf.nn.sigmoid_cross_entropy_with_logits(labels=t["labels"], logits=t["logits"]))
    add("error/int-labels", "tf:sigmoid_cross_entropy_with_logits", {"labels": lab, "logits": lg}, {}, None, run, ["logits", "labels"])
    run = tf_runner(lambda t, o: tf.nn.weighted_cross_entropy_with_logits(t["labels"], t["logits"], t["pos_weight"]))
    add("error/int-labels", "tf:weighted_cross_entropy_with_logits", {"labels": lab, "logits": lg, "pos_weight": f32(np.array(2.0))}, {},
        None, run, ["logits", "labels"])
    add("error/int-pos_weight", "tf:weighted_cross_entropy_with_logits", {"labels": f32(lab), "logits": lg, "pos_weight": np.array(2)}, {},
        None, run, ["logits", "labels"])
    run = tf_runner(lambda t, o: tf.nn.log_poisson_loss(t["targets"], t["log_input"], compute_full_loss=o["compute_full_loss"]))
    add("error/int-targets", "tf:log_poisson_loss", {"targets": ints(3, 4, low=0, high=4), "log_input": lg}, {"compute_full_loss": False},
        None, run, ["log_input", "targets"])
    run = tf_runner(lambda t, o: tf.nn.l2_loss(t["t"]))
    add("error/int-t", "tf:l2_loss", {"t": ints(3, 4, low=-3, high=4)}, {}, None, run, ["t"])


# --------------------------------------------------------------------------------------
# Keras (y_true cast to y_pred's dtype) and optax (jnp promotion, or chex's refusal)


def gen_keras_optax():
    probs = lambda *s: uniform(*s, low=0.05, high=0.95)  # noqa: E731
    keras_cases = [
        ("poisson", ints(3, 4, low=0, high=4), uniform(3, 4, low=0.2, high=3.0)),
        ("hinge", int_signs(3, 4), randn(3, 4)),
        ("hinge", ints(3, 4, low=0, high=2), randn(3, 4)),  # {0, 1} labels become {-1, 1}
        ("squared_hinge", int_signs(3, 4), randn(3, 4)),
        ("categorical_hinge", one_hot(3, 4), randn(3, 4)),
        ("binary_crossentropy", ints(3, 4, low=0, high=2), probs(3, 4)),
        ("categorical_crossentropy", one_hot(3, 4), probs(3, 4)),
        ("binary_focal_crossentropy", ints(3, 4, low=0, high=2), probs(3, 4)),
        ("categorical_focal_crossentropy", one_hot(3, 4), probs(3, 4)),
        ("kl_divergence", one_hot(3, 4), probs(3, 4)),
        ("log_cosh", ints(3, 4, low=-2, high=3), randn(3, 4)),
        ("mean_squared_logarithmic_error", ints(3, 4, low=0, high=5), uniform(3, 4, high=4.0)),
        ("mean_absolute_percentage_error", ints(3, 4, low=1, high=5), randn(3, 4)),
        ("dice", ints(3, 4, low=0, high=2), probs(3, 4)),
        ("tversky", ints(3, 4, low=0, high=2), probs(3, 4)),
        ("cosine_similarity", ints(3, 4, low=-2, high=3), randn(3, 4)),
    ]
    seen = set()
    for name, yt, yp in keras_cases:
        f = getattr(keras.losses, name)
        run = keras_runner(lambda t, o, f=f: f(t["y_true"], t["y_pred"]))
        cid = "int-y_true" if name not in seen else "int-y_true/01"
        seen.add(name)
        add(cid, f"keras:{name}", {"y_true": yt, "y_pred": yp}, {}, None, run, ["y_pred", "y_true"], go="random")

    def opt(name, f, tensors, diff, options=None, reduction=None, go="random", indices=()):
        run = jax_runner(lambda t, o: f(t))
        L, cid = name.split("|")
        add(cid, L, tensors, options or {}, reduction, run, diff, go=go, indices=indices)

    ol = optax.losses
    x, s = randn(3, 4), int_signs(3, 4)
    opt("optax:perceptron_loss|int-targets", lambda t: ol.perceptron_loss(t["predictor_outputs"], t["targets"]),
        {"predictor_outputs": x, "targets": s}, ["predictor_outputs", "targets"])
    opt("optax:perceptron_loss|int-predictor_outputs", lambda t: ol.perceptron_loss(t["predictor_outputs"], t["targets"]),
        {"predictor_outputs": ints(3, 4, low=-2, high=3), "targets": f32(s)}, ["predictor_outputs", "targets"])
    # optax 0.2.8's safe_softmax_cross_entropy promotes integer labels, but its
    # gradient w.r.t. the logits then raises (a float0 cotangent of the labels meets a
    # multiply): the value alone is recorded.
    add("int-labels", "optax:safe_softmax_cross_entropy", {"logits": x, "labels": one_hot(3, 4)}, {}, None,
        jax_value(lambda t: ol.safe_softmax_cross_entropy(t["logits"], t["labels"])), [])
    opt("optax:huber_loss|int-targets", lambda t: ol.huber_loss(t["predictions"], t["targets"], delta=1.0),
        {"predictions": x, "targets": ints(3, 4, low=-2, high=3)}, ["predictions", "targets"], {"delta": 1.0})
    opt("optax:log_cosh|int-targets", lambda t: ol.log_cosh(t["predictions"], t["targets"]),
        {"predictions": x, "targets": ints(3, 4, low=-2, high=3)}, ["predictions", "targets"])
    seg = randn(2, 3, 4)
    seg_t = np.eye(4, dtype=np.int64)[rng.integers(0, 4, size=(2, 3))]
    opt("optax:dice_loss|int-targets+int-class_weights",
        lambda t: ol.dice_loss(t["predictions"], t["targets"], class_weights=t["class_weights"]),
        {"predictions": seg, "targets": seg_t, "class_weights": ints(4, low=1, high=3)}, ["predictions", "targets"])
    opt("optax:binary_dice_loss|int-targets", lambda t: ol.binary_dice_loss(t["predictions"], t["targets"]),
        {"predictions": randn(3, 4), "targets": ints(3, 4, low=0, high=2)}, ["predictions", "targets"])
    opt("optax:multiclass_generalized_dice_loss|int-targets", lambda t: ol.multiclass_generalized_dice_loss(t["predictions"], t["targets"]),
        {"predictions": seg, "targets": seg_t}, ["predictions", "targets"])
    opt("optax:ranking_softmax_loss|int-labels+int-weights",
        lambda t: ol.ranking_softmax_loss(t["logits"], t["labels"], weights=t["weights"]),
        {"logits": x, "labels": ints(3, 4, low=0, high=3), "weights": ints(3, 4, low=1, high=3)}, ["logits", "labels"], reduction="mean",
        go=None)
    lg = randn(2, 5, 4)
    opt("optax:ctc_loss|int-paddings", lambda t: optax.ctc_loss(t["logits"], t["logit_paddings"], t["labels"], t["label_paddings"]),
        {"logits": lg, "logit_paddings": np.array([[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]], dtype=np.int64), "labels": ints(2, 3, low=1, high=4),
         "label_paddings": np.array([[0, 0, 0], [0, 0, 1]], dtype=np.int64)}, ["logits"], {"blank_id": 0, "log_epsilon": -100000.0},
        indices=("labels",))

    # refused by optax (chex: "Expected the input to have a dtype that is a subdtype of floating")
    p = f32(np.log(uniform(3, 4, low=0.1)))
    opt("optax:poly_loss_cross_entropy|error/int-labels", lambda t: ol.poly_loss_cross_entropy(t["logits"], t["labels"]),
        {"logits": x, "labels": one_hot(3, 4)}, ["logits", "labels"], {"epsilon": 2.0, "axis": -1})
    opt("optax:kl_divergence|error/int-targets", lambda t: ol.kl_divergence(t["log_predictions"], t["targets"]),
        {"log_predictions": p, "targets": one_hot(3, 4)}, ["log_predictions", "targets"])
    opt("optax:generalized_kl_divergence|error/int-targets", lambda t: ol.generalized_kl_divergence(t["log_predictions"], t["targets"]),
        {"log_predictions": p, "targets": ints(3, 4, low=0, high=3)}, ["log_predictions", "targets"])
    opt("optax:kl_divergence_with_log_targets|error/int-log_targets",
        lambda t: ol.kl_divergence_with_log_targets(t["log_predictions"], t["log_targets"]),
        {"log_predictions": p, "log_targets": ints(3, 4, low=-3, high=0)}, ["log_predictions", "log_targets"])
    opt("optax:smooth_labels|error/int-labels", lambda t: optax.smooth_labels(t["labels"], 0.1), {"labels": one_hot(3, 4)}, ["labels"],
        {"alpha": 0.1})
    opt("optax:triplet_margin_loss|error/int-negatives", lambda t: ol.triplet_margin_loss(t["anchors"], t["positives"], t["negatives"]),
        {"anchors": randn(4, 3), "positives": randn(4, 3), "negatives": ints(4, 3, low=-2, high=3)}, ["anchors", "positives", "negatives"])
    opt("optax:huber_loss|error/int-predictions", lambda t: ol.huber_loss(t["predictions"], t["targets"]),
        {"predictions": ints(3, 4, low=-2, high=3), "targets": x}, ["predictions", "targets"])
    opt("optax:log_cosh|error/int-predictions", lambda t: ol.log_cosh(t["predictions"], t["targets"]),
        {"predictions": ints(3, 4, low=-2, high=3), "targets": x}, ["predictions", "targets"])
    opt("optax:binary_dice_loss|error/int-predictions", lambda t: ol.binary_dice_loss(t["predictions"], t["targets"]),
        {"predictions": ints(3, 4, low=-2, high=3), "targets": f32(ints(3, 4, low=0, high=2))}, ["predictions", "targets"])


def main():
    gen_torch()
    gen_tf()
    gen_keras_optax()
    write(OUT, GENERATOR, versions(torch=torch.__version__, torchvision=torchvision.__version__, tensorflow=tf.__version__, keras=keras.__version__, jax=jax.__version__, optax=optax.__version__), CASES, count_errors=True)
    for c in CASES:
        print(("REFUSED  " if c["error"] else "accepted ") + c["id"] + (f"  ({c['error'][:80]})" if c["error"] else ""))


if __name__ == "__main__":
    main()
