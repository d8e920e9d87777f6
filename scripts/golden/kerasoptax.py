#!/usr/bin/env python3
"""Golden cases for the Keras and optax losses (family "kerasoptax").

Runs Keras 3 (JAX backend, floatx float64) and optax 0.2.8 in float64 (jax_enable_x64) and
writes crates/losslab-registry/tests/golden/kerasoptax.json in the format of
scripts/golden/README.md.  Values come from the reference functions; gradients
from jax.vjp on them (w.r.t. the prediction and, where it is float, the target).
Deterministic: one seeded numpy Generator, consumed in a fixed order.

    ~/refenv/bin/python scripts/golden/kerasoptax.py
"""

import os
import warnings

import numpy as np

import jaxref  # noqa: E402  (sets Keras and JAX up in float64 before either loads; see its docstring)
from jaxref import jax, jnp, keras, optax  # noqa: E402, F401

from common import T as encode, case_tensors, dtypes_for, first_line, make_case, versions, write  # noqa: E402

warnings.filterwarnings("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "kerasoptax.json")
GENERATOR = "scripts/golden/kerasoptax.py"
rng = np.random.default_rng(31415926)
KL = keras.losses
OL = optax.losses
CASES = []


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def unif(*shape, lo=0.0, hi=1.0):
    return f32(rng.uniform(lo, hi, shape))


def probs(*shape):
    x = rng.standard_normal(shape)
    e = np.exp(x - x.max(-1, keepdims=True))
    return f32(e / e.sum(-1, keepdims=True))


def onehot(labels, c):
    return np.eye(c)[labels]


def T(a):
    return encode(a, bools="int64")


N_GO = [0]


def pick_go(out, grad_output):
    if isinstance(grad_output, np.ndarray):
        return grad_output
    if grad_output == "auto":
        N_GO[0] += 1
        if out.ndim > 0 and N_GO[0] % 2 == 0:
            return randn(*out.shape)
    return None


def case(cid, loss, fn, tensors, options, diff, grad_output="auto", error_expected=False):
    """fn(**tensors) -> result (jax); diff: names of float tensors to differentiate."""
    tensors = case_tensors(tensors)
    try:
        out, go, grads = jaxref.run(fn, tensors, diff, lambda out: pick_go(out, grad_output))
    except jaxref.ReferenceError_ as e:
        CASES.append(make_case(cid, loss, tensors, options, None, ["float64"], None, None, {}, first_line(e.error), enc=T))
        return
    assert not error_expected, cid
    CASES.append(make_case(cid, loss, tensors, options, None, dtypes_for(tensors, go), go, out, grads, None, enc=T))


def gen_keras():
    # binary_crossentropy
    for shape in [(4, 3), (2, 3, 5), (6,)]:
        yt = f32(rng.integers(0, 2, shape))
        for fl in (False, True):
            yp = randn(*shape, scale=3.0) if fl else unif(*shape, lo=0.01, hi=0.99)
            for ls in (0.0, 0.2):
                case(f"keras:binary_crossentropy/{shape}/from_logits={fl}/ls={ls}", "keras:binary_crossentropy",
                     lambda y_true, y_pred, fl=fl, ls=ls: KL.binary_crossentropy(y_true, y_pred, from_logits=fl, label_smoothing=ls),
                     {"y_true": yt, "y_pred": yp}, {"from_logits": fl, "label_smoothing": ls, "axis": -1}, ["y_pred", "y_true"])
    yt, yp = f32(rng.uniform(0, 1, (3, 4))), unif(3, 4, lo=0.05, hi=0.95)
    case("keras:binary_crossentropy/soft-labels/axis=0", "keras:binary_crossentropy",
         lambda y_true, y_pred: KL.binary_crossentropy(y_true, y_pred, axis=0), {"y_true": yt, "y_pred": yp}, {"axis": 0}, ["y_pred", "y_true"])
    case("keras:binary_crossentropy/defaults", "keras:binary_crossentropy", lambda y_true, y_pred: KL.binary_crossentropy(y_true, y_pred),
         {"y_true": yt, "y_pred": yp}, {}, ["y_pred", "y_true"])
    # clipping edge: exact 0, 1, beyond, and the clip bounds
    yt = np.array([[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]])
    yp = np.array([[0.0, 1.0, 1.0, 0.0, 1e-7, 1.5]])
    case("keras:binary_crossentropy/clip-edges", "keras:binary_crossentropy", lambda y_true, y_pred: KL.binary_crossentropy(y_true, y_pred),
         {"y_true": yt, "y_pred": yp}, {}, ["y_pred", "y_true"])
    yp = np.array([[800.0, -800.0, 30.0, -30.0, 0.0, 2.0]])
    case("keras:binary_crossentropy/saturated-logits", "keras:binary_crossentropy",
         lambda y_true, y_pred: KL.binary_crossentropy(y_true, y_pred, from_logits=True),
         {"y_true": yt, "y_pred": yp}, {"from_logits": True}, ["y_pred", "y_true"])
    case("keras:binary_crossentropy/shape-mismatch", "keras:binary_crossentropy", lambda y_true, y_pred: KL.binary_crossentropy(y_true, y_pred),
         {"y_true": np.zeros((2, 3)), "y_pred": np.full((3, 2), 0.5)}, {}, [])

    # categorical_crossentropy
    for shape in [(4, 3), (2, 3, 5)]:
        lab = rng.integers(0, shape[-1], shape[:-1])
        yt = onehot(lab, shape[-1])
        for fl in (False, True):
            yp = randn(*shape, scale=2.0) if fl else unif(*shape, lo=0.05, hi=1.0)  # unnormalised: Keras renormalises
            for ls in (0.0, 0.1):
                case(f"keras:categorical_crossentropy/{shape}/from_logits={fl}/ls={ls}", "keras:categorical_crossentropy",
                     lambda y_true, y_pred, fl=fl, ls=ls: KL.categorical_crossentropy(y_true, y_pred, from_logits=fl, label_smoothing=ls),
                     {"y_true": yt, "y_pred": yp}, {"from_logits": fl, "label_smoothing": ls, "axis": -1}, ["y_pred", "y_true"])
    yt, yp = probs(3, 4, 2).transpose(0, 2, 1).copy(), unif(3, 4, 2, lo=0.05, hi=1.0)
    yt = f32(yt)
    case("keras:categorical_crossentropy/axis=1/soft/ls=0.3", "keras:categorical_crossentropy",
         lambda y_true, y_pred: KL.categorical_crossentropy(y_true, y_pred, axis=1, label_smoothing=0.3),
         {"y_true": yt, "y_pred": yp}, {"axis": 1, "label_smoothing": 0.3}, ["y_pred", "y_true"])
    yt = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    yp = np.array([[0.0, 1.0, 0.0], [0.0, 0.5, 0.5]])
    case("keras:categorical_crossentropy/clip-edges", "keras:categorical_crossentropy",
         lambda y_true, y_pred: KL.categorical_crossentropy(y_true, y_pred), {"y_true": yt, "y_pred": yp}, {}, ["y_pred", "y_true"])
    yp = np.array([[1000.0, 0.0, -1000.0], [0.0, -np.inf, 1.0]])
    case("keras:categorical_crossentropy/extreme-logits", "keras:categorical_crossentropy",
         lambda y_true, y_pred: KL.categorical_crossentropy(y_true, y_pred, from_logits=True),
         {"y_true": yt, "y_pred": yp}, {"from_logits": True}, ["y_pred", "y_true"])

    # sparse_categorical_crossentropy
    for shape in [(5, 4), (2, 3, 4)]:
        lab = rng.integers(0, shape[-1], shape[:-1])
        for fl in (False, True):
            yp = randn(*shape, scale=2.0) if fl else unif(*shape, lo=0.05, hi=1.0)
            case(f"keras:sparse_categorical_crossentropy/{shape}/from_logits={fl}", "keras:sparse_categorical_crossentropy",
                 lambda y_true, y_pred, fl=fl: KL.sparse_categorical_crossentropy(y_true, y_pred, from_logits=fl),
                 {"y_true": lab, "y_pred": yp}, {"from_logits": fl, "ignore_class": None, "axis": -1}, ["y_pred"])
    lab = np.array([0, 3, 1, 3, 2])
    yp = unif(5, 4, lo=0.05, hi=1.0)
    for fl in (False, True):
        case(f"keras:sparse_categorical_crossentropy/ignore_class=3/from_logits={fl}", "keras:sparse_categorical_crossentropy",
             lambda y_true, y_pred, fl=fl: KL.sparse_categorical_crossentropy(y_true, y_pred, from_logits=fl, ignore_class=3),
             {"y_true": lab, "y_pred": yp}, {"from_logits": fl, "ignore_class": 3}, ["y_pred"])
    lab2 = np.array([[1], [2], [0]])
    yp2 = unif(3, 3, lo=0.05, hi=1.0)
    case("keras:sparse_categorical_crossentropy/labels-(N,1)", "keras:sparse_categorical_crossentropy",
         lambda y_true, y_pred: KL.sparse_categorical_crossentropy(y_true, y_pred), {"y_true": lab2, "y_pred": yp2}, {}, ["y_pred"])
    case("keras:sparse_categorical_crossentropy/neg-inf-logit", "keras:sparse_categorical_crossentropy",
         lambda y_true, y_pred: KL.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True),
         {"y_true": np.array([0, 1]), "y_pred": np.array([[0.0, -np.inf, 1.0], [2.0, 0.5, -1.0]])}, {"from_logits": True}, ["y_pred"])
    case("keras:sparse_categorical_crossentropy/shape-mismatch", "keras:sparse_categorical_crossentropy",
         lambda y_true, y_pred: KL.sparse_categorical_crossentropy(y_true, y_pred),
         {"y_true": np.array([0, 1, 2]), "y_pred": np.full((2, 3), 1 / 3)}, {}, [])

    # binary_focal_crossentropy
    for shape in [(4, 3), (2, 2, 5)]:
        yt = f32(rng.integers(0, 2, shape))
        for fl in (False, True):
            yp = randn(*shape, scale=2.0) if fl else unif(*shape, lo=0.02, hi=0.98)
            for bal, a, g, ls in [(False, 0.25, 2.0, 0.0), (True, 0.25, 2.0, 0.0), (True, 0.6, 1.5, 0.1), (False, 0.25, 0.0, 0.0)]:
                case(f"keras:binary_focal_crossentropy/{shape}/from_logits={fl}/bal={bal}/alpha={a}/gamma={g}/ls={ls}",
                     "keras:binary_focal_crossentropy",
                     lambda y_true, y_pred, fl=fl, bal=bal, a=a, g=g, ls=ls: KL.binary_focal_crossentropy(
                         y_true, y_pred, apply_class_balancing=bal, alpha=a, gamma=g, from_logits=fl, label_smoothing=ls),
                     {"y_true": yt, "y_pred": yp},
                     {"apply_class_balancing": bal, "alpha": a, "gamma": g, "from_logits": fl, "label_smoothing": ls, "axis": -1},
                     ["y_pred", "y_true"])
    yt = f32(rng.uniform(0, 1, (3, 4)))
    yp = unif(3, 4, lo=0.05, hi=0.95)
    case("keras:binary_focal_crossentropy/soft/axis=0", "keras:binary_focal_crossentropy",
         lambda y_true, y_pred: KL.binary_focal_crossentropy(y_true, y_pred, axis=0), {"y_true": yt, "y_pred": yp}, {"axis": 0}, ["y_pred", "y_true"])
    case("keras:binary_focal_crossentropy/defaults", "keras:binary_focal_crossentropy",
         lambda y_true, y_pred: KL.binary_focal_crossentropy(y_true, y_pred), {"y_true": yt, "y_pred": yp}, {}, ["y_pred", "y_true"])
    yt = np.array([[1.0, 0.0, 1.0, 0.0]])
    yp = np.array([[40.0, -40.0, -40.0, 0.0]])
    case("keras:binary_focal_crossentropy/saturated-logits", "keras:binary_focal_crossentropy",
         lambda y_true, y_pred: KL.binary_focal_crossentropy(y_true, y_pred, from_logits=True),
         {"y_true": yt, "y_pred": yp}, {"from_logits": True}, ["y_pred", "y_true"])

    # categorical_focal_crossentropy
    for shape in [(4, 3), (2, 3, 4)]:
        yt = onehot(rng.integers(0, shape[-1], shape[:-1]), shape[-1])
        for fl in (False, True):
            yp = randn(*shape, scale=2.0) if fl else unif(*shape, lo=0.05, hi=1.0)
            for a, g, ls in [(0.25, 2.0, 0.0), (0.5, 0.5, 0.1), (1.0, 0.0, 0.0)]:
                case(f"keras:categorical_focal_crossentropy/{shape}/from_logits={fl}/alpha={a}/gamma={g}/ls={ls}",
                     "keras:categorical_focal_crossentropy",
                     lambda y_true, y_pred, fl=fl, a=a, g=g, ls=ls: KL.categorical_focal_crossentropy(
                         y_true, y_pred, alpha=a, gamma=g, from_logits=fl, label_smoothing=ls),
                     {"y_true": yt, "y_pred": yp}, {"alpha": a, "gamma": g, "from_logits": fl, "label_smoothing": ls, "axis": -1},
                     ["y_pred", "y_true"])
    yt, yp = f32(probs(2, 4, 3).transpose(0, 2, 1)), unif(2, 3, 4, lo=0.05, hi=1.0)
    case("keras:categorical_focal_crossentropy/axis=1", "keras:categorical_focal_crossentropy",
         lambda y_true, y_pred: KL.categorical_focal_crossentropy(y_true, y_pred, axis=1), {"y_true": yt, "y_pred": yp}, {"axis": 1},
         ["y_pred", "y_true"])

    # categorical_generalized_cross_entropy
    for q in (0.5, 0.2, 0.9):
        lab = rng.integers(0, 4, (5,))
        yp = probs(5, 4)
        case(f"keras:categorical_generalized_cross_entropy/q={q}", "keras:categorical_generalized_cross_entropy",
             lambda y_true, y_pred, q=q: KL.categorical_generalized_cross_entropy(y_true, y_pred, q=q),
             {"y_true": lab, "y_pred": yp}, {"q": q}, ["y_pred"])
    lab, yp = rng.integers(0, 3, (2, 3)), probs(2, 3, 3)
    case("keras:categorical_generalized_cross_entropy/3d", "keras:categorical_generalized_cross_entropy",
         lambda y_true, y_pred: KL.categorical_generalized_cross_entropy(y_true, y_pred, q=0.5), {"y_true": lab, "y_pred": yp}, {}, ["y_pred"])

    # kl_divergence
    for shape in [(4, 5), (2, 3, 4)]:
        yt, yp = probs(*shape), probs(*shape)
        case(f"keras:kl_divergence/{shape}", "keras:kl_divergence", lambda y_true, y_pred: KL.kl_divergence(y_true, y_pred),
             {"y_true": yt, "y_pred": yp}, {}, ["y_pred", "y_true"])
    yt = np.array([[0.0, 0.25, 0.75, 1.0], [1.5, -0.5, 0.5, 1e-7]])
    yp = np.array([[0.5, 0.25, 0.0, 1.0], [0.3, 0.3, 2.0, 0.5]])
    case("keras:kl_divergence/clip-edges", "keras:kl_divergence", lambda y_true, y_pred: KL.kl_divergence(y_true, y_pred),
         {"y_true": yt, "y_pred": yp}, {}, ["y_pred", "y_true"])

    # log_cosh, msle, mape
    for shape in [(4, 5), (2, 3, 4), (7,)]:
        yt, yp = randn(*shape, scale=2.0), randn(*shape, scale=2.0)
        case(f"keras:log_cosh/{shape}", "keras:log_cosh", lambda y_true, y_pred: KL.log_cosh(y_true, y_pred), {"y_true": yt, "y_pred": yp}, {},
             ["y_pred", "y_true"])
    yt = np.array([[0.0, 0.0, 0.0, 0.0]])
    yp = np.array([[30.0, -30.0, 400.0, 0.5]])
    case("keras:log_cosh/far", "keras:log_cosh", lambda y_true, y_pred: KL.log_cosh(y_true, y_pred), {"y_true": yt, "y_pred": yp}, {},
         ["y_pred", "y_true"])
    for shape in [(4, 5), (2, 3, 4)]:
        yt, yp = unif(*shape, lo=0.0, hi=5.0), unif(*shape, lo=0.0, hi=5.0)
        case(f"keras:mean_squared_logarithmic_error/{shape}", "keras:mean_squared_logarithmic_error",
             lambda y_true, y_pred: KL.mean_squared_logarithmic_error(y_true, y_pred), {"y_true": yt, "y_pred": yp}, {}, ["y_pred", "y_true"])
    yt = np.array([[0.0, -1.0, 2.0, 3.0]])
    yp = np.array([[1.0, 2.0, -3.0, 0.0]])
    case("keras:mean_squared_logarithmic_error/nonpositive", "keras:mean_squared_logarithmic_error",
         lambda y_true, y_pred: KL.mean_squared_logarithmic_error(y_true, y_pred), {"y_true": yt, "y_pred": yp}, {}, ["y_pred", "y_true"])
    for shape in [(4, 5), (2, 3, 4)]:
        yt, yp = randn(*shape, scale=3.0), randn(*shape, scale=3.0)
        case(f"keras:mean_absolute_percentage_error/{shape}", "keras:mean_absolute_percentage_error",
             lambda y_true, y_pred: KL.mean_absolute_percentage_error(y_true, y_pred), {"y_true": yt, "y_pred": yp}, {}, ["y_pred", "y_true"])
    yt = np.array([[0.0, 1.0, -2.0], [4.0, 0.0, 5e-8]])
    yp = np.array([[0.5, 1.5, -1.0], [4.0, -0.25, 1.0]])
    case("keras:mean_absolute_percentage_error/zero-target", "keras:mean_absolute_percentage_error",
         lambda y_true, y_pred: KL.mean_absolute_percentage_error(y_true, y_pred), {"y_true": yt, "y_pred": yp}, {}, ["y_pred", "y_true"])


def gen_optax():
    for shape in [(4, 5), (2, 3, 4)]:
        x = randn(*shape, scale=2.0)
        lab = onehot(rng.integers(0, shape[-1], shape[:-1]), shape[-1])
        for eps in (2.0, -1.0, 0.0):
            case(f"optax:poly_loss_cross_entropy/{shape}/epsilon={eps}", "optax:poly_loss_cross_entropy",
                 lambda logits, labels, eps=eps: OL.poly_loss_cross_entropy(logits, labels, epsilon=eps),
                 {"logits": x, "labels": lab}, {"epsilon": eps, "axis": -1}, ["logits", "labels"])
    x, lab = randn(3, 4, 2), f32(probs(3, 2, 4).transpose(0, 2, 1))
    case("optax:poly_loss_cross_entropy/soft/axis=1", "optax:poly_loss_cross_entropy",
         lambda logits, labels: OL.poly_loss_cross_entropy(logits, labels, axis=1), {"logits": x, "labels": lab}, {"axis": 1}, ["logits", "labels"])

    for shape in [(6,), (3, 4)]:
        x = randn(*shape, scale=1.5)
        lab = rng.integers(0, 2, shape)
        case(f"optax:sparsemax_loss/{shape}", "optax:sparsemax_loss", lambda logits, labels: OL.sparsemax_loss(logits, labels),
             {"logits": x, "labels": lab}, {}, ["logits"])
    x = np.array([0.3, 2.0, -1.0, 1.0, -3.0, 0.5])
    lab = np.array([1, 2, 0, 0, 1, 0])
    case("optax:sparsemax_loss/kinks-and-label-2", "optax:sparsemax_loss", lambda logits, labels: OL.sparsemax_loss(logits, labels),
         {"logits": x, "labels": lab}, {}, ["logits"])

    for (n, c, sc) in [(5, 4, 1.0), (4, 6, 0.3), (3, 3, 5.0)]:
        s = randn(n, c, scale=sc)
        lab = rng.integers(0, c, (n,))
        case(f"optax:multiclass_sparsemax_loss/({n},{c})/scale={sc}", "optax:multiclass_sparsemax_loss",
             lambda scores, labels: OL.multiclass_sparsemax_loss(scores, labels), {"scores": s, "labels": lab}, {}, ["scores"])
    s = np.array([[3.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    case("optax:multiclass_sparsemax_loss/exact", "optax:multiclass_sparsemax_loss",
         lambda scores, labels: OL.multiclass_sparsemax_loss(scores, labels), {"scores": s, "labels": np.array([0, 0, 2, 0])}, {}, ["scores"])

    for shape in [(4, 5), (2, 3, 4)]:
        lp = f32(np.log(probs(*shape)))
        t = probs(*shape)
        case(f"optax:kl_divergence/{shape}", "optax:kl_divergence", lambda log_predictions, targets: OL.kl_divergence(log_predictions, targets),
             {"log_predictions": lp, "targets": t}, {}, ["log_predictions", "targets"])
        case(f"optax:generalized_kl_divergence/{shape}", "optax:generalized_kl_divergence",
             lambda log_predictions, targets: OL.generalized_kl_divergence(log_predictions, targets),
             {"log_predictions": randn(*shape), "targets": unif(*shape, lo=0.1, hi=3.0)}, {}, ["log_predictions", "targets"])
        case(f"optax:kl_divergence_with_log_targets/{shape}", "optax:kl_divergence_with_log_targets",
             lambda log_predictions, log_targets: OL.kl_divergence_with_log_targets(log_predictions, log_targets),
             {"log_predictions": lp, "log_targets": f32(np.log(probs(*shape)))}, {}, ["log_predictions", "log_targets"])
    lp = np.array([[np.log(0.5), np.log(0.25), np.log(0.25)], [-np.inf, 0.0, -1.0]])
    t = np.array([[0.0, 0.5, 0.5], [0.0, 1.0, 0.0]])
    case("optax:kl_divergence/zero-targets", "optax:kl_divergence", lambda log_predictions, targets: OL.kl_divergence(log_predictions, targets),
         {"log_predictions": lp, "targets": t}, {}, ["log_predictions", "targets"])
    case("optax:generalized_kl_divergence/zero-targets", "optax:generalized_kl_divergence",
         lambda log_predictions, targets: OL.generalized_kl_divergence(log_predictions, targets),
         {"log_predictions": lp[:1], "targets": t[:1]}, {}, ["log_predictions", "targets"])

    for shape in [(4, 5), (2, 3, 4)]:
        x, lab = randn(*shape, scale=2.0), probs(*shape)
        case(f"optax:safe_softmax_cross_entropy/{shape}", "optax:safe_softmax_cross_entropy",
             lambda logits, labels: OL.safe_softmax_cross_entropy(logits, labels), {"logits": x, "labels": lab}, {}, ["logits", "labels"])
    x = np.array([[1.0, -np.inf, 0.0], [-np.inf, -np.inf, 3.0]])
    lab = np.array([[0.5, 0.0, 0.5], [0.0, 0.0, 1.0]])
    case("optax:safe_softmax_cross_entropy/neg-inf-logits", "optax:safe_softmax_cross_entropy",
         lambda logits, labels: OL.safe_softmax_cross_entropy(logits, labels), {"logits": x, "labels": lab}, {}, ["logits", "labels"])

    for shape, a in [((4, 5), 0.1), ((2, 3, 4), 0.25), ((3,), 1.0)]:
        lab = onehot(rng.integers(0, shape[-1], shape[:-1]), shape[-1]) if len(shape) > 1 else np.array([0.0, 1.0, 0.0])
        case(f"optax:smooth_labels/{shape}/alpha={a}", "optax:smooth_labels", lambda labels, a=a: OL.smooth_labels(labels, a),
             {"labels": lab}, {"alpha": a}, ["labels"])

    for shape in [(4, 5), (2, 3, 4), (6,)]:
        p, t = randn(*shape, scale=2.0), randn(*shape, scale=2.0)
        for d in (1.0, 0.5, 2.5):
            case(f"optax:huber_loss/{shape}/delta={d}", "optax:huber_loss",
                 lambda predictions, targets, d=d: OL.huber_loss(predictions, targets, delta=d),
                 {"predictions": p, "targets": t}, {"delta": d}, ["predictions", "targets"])
        case(f"optax:log_cosh/{shape}", "optax:log_cosh", lambda predictions, targets: OL.log_cosh(predictions, targets),
             {"predictions": p, "targets": t}, {}, ["predictions", "targets"])
    p = np.array([1.0, -1.0, 0.0, 3.0, -40.0, 400.0])
    case("optax:huber_loss/kinks/no-targets", "optax:huber_loss", lambda predictions: OL.huber_loss(predictions, delta=1.0),
         {"predictions": p}, {"delta": 1.0}, ["predictions"])
    case("optax:log_cosh/no-targets", "optax:log_cosh", lambda predictions: OL.log_cosh(predictions), {"predictions": p}, {}, ["predictions"])


def main():
    gen_keras()
    gen_optax()
    write(OUT, GENERATOR, versions(**jaxref.reference_versions()), CASES)


if __name__ == "__main__":
    main()
