#!/usr/bin/env python3
"""Golden cases for the names and forms of issue 12 (family "names").

keras:huber, keras:circle, keras:ctc (Keras 3, JAX backend, floatx float64), TensorFlow's
weighted_cross_entropy_with_logits with pos_weight as a number (the option `pos_weight`) beside
the tensor form, and optax's sparsemax_loss with float labels.  Writes
crates/losslab-registry/tests/golden/names.json in the format of scripts/golden/README.md.
Values come from the reference functions in float64 (jax_enable_x64; TF float64); gradients
from jax.vjp (Keras, optax) and tf.GradientTape (TensorFlow) on them.  Deterministic: one
seeded numpy Generator, consumed in a fixed order.

Where a reference needs help to give a float64 truth (Keras's float32 ops.mean under
keras.losses.huber, and the JAX ctc_loss's cast of float64 logits to float32), jaxref.py
patches it, as its docstring says (keras_ctc_f64 checked against the unpatched float32
result, and against optax.ctc_loss with the paddings Keras derives).

Reductions: the functions have no reduction argument; a case with "reduction" set records
jnp.sum / jnp.mean / sum over the first axis of the function's output (what `losslab eval
--reduction` computes), never a Keras class's masked reduction.

    KERAS_BACKEND=jax ~/refenv/bin/python scripts/golden/names.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings

import numpy as np

import jaxref  # noqa: E402  (sets Keras and JAX up in float64 before either loads)
from jaxref import jax, jnp, keras, keras_ctc_f64, optax  # noqa: E402, F401
import tensorflow as tf  # noqa: E402

from common import T as encode, case_tensors, dtypes_for, first_line, make_case, versions, write  # noqa: E402

tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.threading.set_intra_op_parallelism_threads(1)

warnings.filterwarnings("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "names.json")
GENERATOR = "scripts/golden/names.py"
rng = np.random.default_rng(20260512)
KL = keras.losses
OL = optax.losses
CASES = []


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def unif(*shape, lo=0.0, hi=1.0):
    return f32(rng.uniform(lo, hi, shape))


def unit_rows(n, d):
    x = rng.standard_normal((n, d))
    return f32(x / np.linalg.norm(x, axis=1, keepdims=True))


def T(a):
    return encode(a, bools="int64")


N_GO = [0]


def record(cid, loss, tensors, options, reduction, out, grads, go):
    CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, go), go, out, grads, None, enc=T))


def record_error(cid, loss, tensors, options, e):
    CASES.append(make_case(cid, loss, tensors, options, None, ["float64"], None, None, {}, first_line(e), enc=T))


def pick_go(out, grad_output):
    if isinstance(grad_output, np.ndarray):
        return grad_output
    if grad_output == "auto":
        N_GO[0] += 1
        if out.ndim > 0 and N_GO[0] % 2 == 0:
            return randn(*out.shape)
        if out.ndim == 0 and N_GO[0] % 4 == 1:
            return np.array(0.5 if N_GO[0] % 8 == 1 else -2.0)
    return None


def case(cid, loss, fn, tensors, options, diff, reduction=None, grad_output="auto", error_expected=False):
    """JAX references (Keras, optax): fn(**tensors) -> result; diff: float tensors to differentiate."""
    tensors = case_tensors(tensors)
    try:
        out, go, grads = jaxref.run(fn, tensors, diff, lambda out: pick_go(out, grad_output), reduction)
    except jaxref.ReferenceError_ as e:
        record_error(cid, loss, tensors, options, e.error)
        return
    assert not error_expected, cid
    record(cid, loss, tensors, options, reduction, out, grads, go)


def tf_reduce(out, reduction):
    if reduction is None or reduction == "none":
        return out
    if reduction == "sum":
        return tf.reduce_sum(out)
    if reduction == "mean":
        return tf.reduce_mean(out)
    if reduction == "batchmean":
        return tf.reduce_sum(out) / tf.cast(tf.shape(out)[0], out.dtype)
    raise ValueError(reduction)


def tf_case(cid, loss, fn, tensors, options, diff, reduction=None, grad_output="auto", error_expected=False):
    """TensorFlow references: fn(**tensors as tf constants) -> result; gradients by GradientTape."""
    tensors = case_tensors(tensors)
    tt = {k: tf.constant(v) for k, v in tensors.items()}
    try:
        with tf.GradientTape() as tape:
            for n in diff:
                tape.watch(tt[n])
            res = tf_reduce(fn(**tt), reduction)
        out = res.numpy().astype(np.float64)
    except Exception as e:
        record_error(cid, loss, tensors, options, e)
        return
    assert not error_expected, cid
    go = pick_go(out, grad_output)
    grads = {}
    if diff:
        g = tape.gradient(res, [tt[n] for n in diff], output_gradients=None if go is None else tf.constant(go))
        grads = {n: (np.zeros_like(tensors[n]) if x is None else x.numpy().astype(np.float64)) for n, x in zip(diff, g)}
    record(cid, loss, tensors, options, reduction, out, grads, go)


# ---------------------------------------------------------------------------------------------
# keras:huber

def gen_huber():
    L = "keras:huber"
    for shape in [(4, 3), (2, 3, 5), (6,), (1, 1)]:
        yt = randn(*shape)
        yp = randn(*shape, scale=2.0)
        for delta in (1.0, 0.5, 2.5):
            case(f"{L}/{shape}/delta={delta}", L, lambda y_true, y_pred, d=delta: KL.huber(y_true, y_pred, delta=d),
                 {"y_true": yt, "y_pred": yp}, {"delta": delta}, ["y_pred", "y_true"])
    yt, yp = randn(3, 4), randn(3, 4, scale=3.0)
    case(f"{L}/defaults", L, lambda y_true, y_pred: KL.huber(y_true, y_pred), {"y_true": yt, "y_pred": yp}, {}, ["y_pred", "y_true"])
    for red in ("sum", "mean", "batchmean"):
        case(f"{L}/reduction={red}", L, lambda y_true, y_pred: KL.huber(y_true, y_pred, delta=0.75),
             {"y_true": yt, "y_pred": yp}, {"delta": 0.75}, ["y_pred", "y_true"], reduction=red)
    # Keras's docs example; the kink |e| = delta exactly, e = 0, large errors, delta = 0.
    case(f"{L}/docs-example", L, lambda y_true, y_pred: KL.huber(y_true, y_pred),
         {"y_true": np.array([[0, 1], [0, 0]]), "y_pred": np.array([[0.6, 0.4], [0.4, 0.6]])}, {}, ["y_pred"])
    yt = np.array([[0.0, 0.0, 1.0, -1.0, 0.0, 5.0]])
    yp = np.array([[1.0, -1.0, 0.0, 0.0, 0.0, -1e6]])
    case(f"{L}/kink-and-zero", L, lambda y_true, y_pred: KL.huber(y_true, y_pred), {"y_true": yt, "y_pred": yp}, {}, ["y_pred", "y_true"])
    case(f"{L}/delta=0", L, lambda y_true, y_pred: KL.huber(y_true, y_pred, delta=0.0), {"y_true": yt, "y_pred": yp}, {"delta": 0.0},
         ["y_pred", "y_true"])
    yp = np.array([[0.5, np.nan, np.inf, -np.inf, 0.25, 2.0]])
    case(f"{L}/non-finite", L, lambda y_true, y_pred: KL.huber(y_true, y_pred), {"y_true": yt, "y_pred": yp}, {}, ["y_pred", "y_true"])
    case(f"{L}/shape-mismatch", L, lambda y_true, y_pred: KL.huber(y_true, y_pred),
         {"y_true": np.zeros((2, 3)), "y_pred": np.zeros((3, 2))}, {}, [], error_expected=True)


# ---------------------------------------------------------------------------------------------
# keras:circle

def circle_fn(remove_diagonal=True, gamma=80, margin=0.4, refs=False, ref_labels=False):
    def f(y_true, y_pred, **kw):
        return KL.circle(y_true, y_pred, ref_labels=kw.get("ref_labels"), ref_embeddings=kw.get("ref_embeddings"),
                         remove_diagonal=remove_diagonal, gamma=gamma, margin=margin)
    return f


def gen_circle():
    L = "keras:circle"
    for n, d, classes in [(4, 3, 2), (6, 4, 3), (8, 5, 3), (5, 2, 5)]:
        e = unit_rows(n, d)
        lab = rng.integers(0, classes, n)
        for rd in (True, False):
            for gamma, margin in [(80, 0.4), (16.0, 0.25), (4.0, -0.1)]:
                case(f"{L}/({n},{d})/classes={classes}/remove_diagonal={rd}/gamma={gamma}/margin={margin}", L,
                     circle_fn(rd, gamma, margin), {"y_true": lab, "y_pred": e},
                     {"remove_diagonal": rd, "gamma": gamma, "margin": margin}, ["y_pred"])
    e, lab = unit_rows(6, 3), rng.integers(0, 2, 6)
    case(f"{L}/defaults", L, circle_fn(), {"y_true": lab, "y_pred": e}, {}, ["y_pred"])
    case(f"{L}/labels-(N,1)", L, circle_fn(), {"y_true": lab[:, None], "y_pred": e}, {}, ["y_pred"])
    for red in ("sum", "mean", "batchmean"):
        case(f"{L}/reduction={red}", L, circle_fn(gamma=8.0), {"y_true": lab, "y_pred": e}, {"gamma": 8.0}, ["y_pred"], reduction=red)
    # References: both, ref_embeddings alone (ref_labels = y_true), ref_labels alone (ref_embeddings = y_pred).
    ref, rl = unit_rows(7, 3), rng.integers(0, 3, 7)
    for rd in (True, False):
        case(f"{L}/refs/remove_diagonal={rd}", L, circle_fn(rd, 16.0), {"y_true": lab, "y_pred": e, "ref_labels": rl, "ref_embeddings": ref},
             {"remove_diagonal": rd, "gamma": 16.0}, ["y_pred", "ref_embeddings"])
    ref6 = unit_rows(6, 3)
    case(f"{L}/ref_embeddings-only", L, circle_fn(gamma=16.0), {"y_true": lab, "y_pred": e, "ref_embeddings": ref6},
         {"gamma": 16.0}, ["y_pred", "ref_embeddings"])
    case(f"{L}/ref_labels-only", L, circle_fn(gamma=16.0), {"y_true": lab, "y_pred": e, "ref_labels": rng.integers(0, 2, 6)},
         {"gamma": 16.0}, ["y_pred"])
    # Exact ties: one-hot embeddings (distance exactly 0 and 1), a query without positives (loss 0),
    # labels beyond int32 (Keras casts them to int32: 2**32 + 1 equals 1).
    oh = np.eye(3)[[0, 1, 0, 2]]
    for rd in (True, False):
        case(f"{L}/one-hot/remove_diagonal={rd}", L, circle_fn(rd, 8.0), {"y_true": np.array([0, 1, 0, 1]), "y_pred": oh},
             {"remove_diagonal": rd, "gamma": 8.0}, ["y_pred"])
    case(f"{L}/no-positives", L, circle_fn(gamma=8.0), {"y_true": np.array([0, 1, 2, 3]), "y_pred": unit_rows(4, 3)}, {"gamma": 8.0}, ["y_pred"])
    case(f"{L}/int32-wrap", L, circle_fn(gamma=8.0), {"y_true": np.array([1, 2**32 + 1, 2, 3]), "y_pred": unit_rows(4, 3)},
         {"gamma": 8.0}, ["y_pred"])
    # Unnormalised embeddings: dot products above 1 (distance clamped at 0) and below −1.
    case(f"{L}/unnormalised", L, circle_fn(gamma=4.0), {"y_true": np.array([0, 0, 1, 1, 0]), "y_pred": randn(5, 3, scale=1.5)},
         {"gamma": 4.0}, ["y_pred"])
    case(f"{L}/one-query", L, circle_fn(), {"y_true": np.array([2]), "y_pred": unit_rows(1, 4)}, {}, ["y_pred"])
    # Refused by Keras: references of another width, labels of another length than their embeddings.
    case(f"{L}/ref-width-mismatch", L, circle_fn(), {"y_true": lab, "y_pred": e, "ref_embeddings": unit_rows(6, 4)}, {}, [],
         error_expected=True)
    case(f"{L}/ref-count-mismatch", L, circle_fn(), {"y_true": lab, "y_pred": e, "ref_labels": rng.integers(0, 2, 5),
                                                     "ref_embeddings": unit_rows(6, 3)}, {}, [])


# ---------------------------------------------------------------------------------------------
# keras:ctc

def gen_ctc():
    L = "keras:ctc"
    for b, t, c, s in [(1, 5, 3, 2), (3, 6, 4, 3), (2, 8, 5, 4), (2, 4, 3, 3)]:
        y = rng.integers(1, c, (b, s))
        # right padding with 0: some rows shorter
        for i in range(b):
            cut = int(rng.integers(0, s))  # trailing zeros: the row's padding
            if cut:
                y[i, s - cut:] = 0
        logits = randn(b, t, c, scale=2.0)
        case(f"{L}/B={b}/T={t}/C={c}/S={s}", L, keras_ctc_f64, {"y_true": y, "y_pred": logits}, {}, ["y_pred"])
    y, logits = np.array([[1, 1, 2, 0], [2, 2, 2, 2]]), randn(2, 7, 3)
    case(f"{L}/repeats", L, keras_ctc_f64, {"y_true": y, "y_pred": logits}, {}, ["y_pred"])
    for red in ("sum", "mean", "batchmean"):
        case(f"{L}/reduction={red}", L, keras_ctc_f64, {"y_true": y, "y_pred": logits}, {}, ["y_pred"], reduction=red)
    # A 0 before the last nonzero label: the length is the count of nonzero labels, the sequence the first ones.
    case(f"{L}/zero-inside", L, keras_ctc_f64, {"y_true": np.array([[1, 0, 2], [0, 0, 3]]), "y_pred": randn(2, 5, 4)}, {}, ["y_pred"])
    case(f"{L}/all-padding", L, keras_ctc_f64, {"y_true": np.array([[0, 0], [1, 0]]), "y_pred": randn(2, 3, 2)}, {}, ["y_pred"])
    # More labels than frames allow: optax's finite log 0 (a large finite loss).
    case(f"{L}/impossible", L, keras_ctc_f64, {"y_true": np.array([[1, 2, 1, 2], [1, 1, 0, 0]]), "y_pred": randn(2, 2, 3)}, {}, ["y_pred"])
    case(f"{L}/T=1", L, keras_ctc_f64, {"y_true": np.array([[2]]), "y_pred": randn(1, 1, 3)}, {}, ["y_pred"])
    case(f"{L}/saturated", L, keras_ctc_f64, {"y_true": np.array([[1, 2]]), "y_pred": np.array([[[-50.0, 50.0, 0.0], [50.0, -50.0, 0.0],
                                                                                            [0.0, -50.0, 50.0]]])}, {}, ["y_pred"])
    case(f"{L}/y_true-1d", L, keras_ctc_f64, {"y_true": np.array([1, 2]), "y_pred": randn(2, 3, 3)}, {}, [], error_expected=True)
    case(f"{L}/y_pred-2d", L, keras_ctc_f64, {"y_true": np.array([[1, 2]]), "y_pred": randn(3, 3)}, {}, [], error_expected=True)
    case(f"{L}/batch-mismatch", L, keras_ctc_f64, {"y_true": np.array([[1, 2], [1, 0]]), "y_pred": randn(3, 4, 3)}, {}, [])
    # Check: the patched float64 Keras agrees with its float32 self and with optax.
    y, logits = np.array([[1, 2, 0], [3, 0, 0]]), randn(2, 5, 4)
    ours = np.asarray(keras_ctc_f64(jnp.asarray(y), jnp.asarray(logits)))
    assert np.allclose(ours, np.asarray(KL.ctc(jnp.asarray(y), jnp.asarray(logits))), rtol=1e-5)
    pads = (np.arange(3)[None, :] >= (y != 0).sum(1)[:, None]).astype(np.float64)
    assert np.allclose(ours, np.asarray(optax.ctc_loss(jnp.asarray(logits), jnp.zeros((2, 5)), jnp.asarray(y), jnp.asarray(pads))), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# tf:weighted_cross_entropy_with_logits, pos_weight a number

def gen_weighted():
    L = "tf:weighted_cross_entropy_with_logits"
    wce = tf.nn.weighted_cross_entropy_with_logits
    for shape in [(4, 3), (2, 3, 5), (7,), ()]:
        labels = unif(*shape)
        logits = randn(*shape, scale=3.0)
        for q in (1.5, 0.5, 3.0, 1.0, 0.0):
            tf_case(f"{L}/number/{shape}/pos_weight={q}", L, lambda labels, logits, q=q: wce(labels=labels, logits=logits, pos_weight=q),
                    {"labels": labels, "logits": logits}, {"pos_weight": q}, ["labels", "logits"])
    labels, logits = f32(rng.integers(0, 2, (3, 4))), randn(3, 4, scale=2.0)
    for red in ("sum", "mean", "batchmean"):
        tf_case(f"{L}/number/reduction={red}", L, lambda labels, logits: wce(labels=labels, logits=logits, pos_weight=2.0),
                {"labels": labels, "logits": logits}, {"pos_weight": 2.0}, ["labels", "logits"], reduction=red)
    # Zero and saturated logits (TF's autograd at 0), an integer-valued number, a number not exact in float32.
    zl = np.array([[1e4, -1e4, 100.0, -100.0, 0.0], [0.0, 1e4, -1e4, 0.5, -0.5]])
    tl = np.array([[0.0, 1.0, 0.0, 1.0, 1.0], [0.5, 1.0, 0.0, 0.0, 1.0]])
    tf_case(f"{L}/number/edge", L, lambda labels, logits: wce(labels=labels, logits=logits, pos_weight=4),
            {"labels": tl, "logits": zl}, {"pos_weight": 4}, ["labels", "logits"])
    tf_case(f"{L}/number/pos_weight=0.7", L, lambda labels, logits: wce(labels=labels, logits=logits, pos_weight=0.7),
            {"labels": tl, "logits": zl}, {"pos_weight": 0.7}, ["labels", "logits"])
    # The tensor form still: 0-d, per class.
    for pw in (np.array(2.5), unif(4, lo=0.2, hi=3.0)):
        tf_case(f"{L}/tensor/{pw.shape}", L, lambda labels, logits, pos_weight: wce(labels=labels, logits=logits, pos_weight=pos_weight),
                {"labels": labels, "logits": logits, "pos_weight": pw}, {}, ["labels", "logits"])
    tf_case(f"{L}/number/shape-mismatch", L, lambda labels, logits: wce(labels=labels, logits=logits, pos_weight=2.0),
            {"labels": np.zeros((2, 3)), "logits": np.zeros((3, 2))}, {"pos_weight": 2.0}, [], error_expected=True)


# ---------------------------------------------------------------------------------------------
# optax:sparsemax_loss, float labels

def gen_sparsemax():
    L = "optax:sparsemax_loss"
    fn = lambda logits, labels: OL.sparsemax_loss(logits, labels)  # noqa: E731
    for shape in [(5,), (3, 4), (2, 2, 3)]:
        logits = randn(*shape, scale=1.5)
        labels = f32(rng.integers(0, 2, shape))
        case(f"{L}/float-labels/{shape}", L, fn, {"logits": logits, "labels": labels}, {}, ["logits"])
    logits, labels = randn(4, 3, scale=1.5), f32(rng.integers(0, 2, (4, 3)))
    for red in ("sum", "mean", "batchmean"):
        case(f"{L}/float-labels/reduction={red}", L, fn, {"logits": logits, "labels": labels}, {}, ["logits"], reduction=red)
    # Labels outside {0, 1}: optax reads any nonzero label (NaN included) as 1; -0.0 is 0.  Kinks at ±1.
    logits = np.array([0.3, -0.5, 2.0, 0.1, 0.2, 0.7, 1.0, -1.0, 1.0, -1.0])
    labels = np.array([0.5, -3.0, 2.0, np.nan, 1.0, -0.0, 0.0, 0.0, 1.0, 1.0])
    case(f"{L}/float-labels/not-0-or-1", L, fn, {"logits": logits, "labels": labels}, {}, ["logits"])
    case(f"{L}/float-labels/shape-mismatch", L, fn, {"logits": np.zeros((2, 3)), "labels": np.zeros((3, 2))}, {}, [], error_expected=True)


def main():
    gen_huber()
    gen_circle()
    gen_ctc()
    gen_weighted()
    gen_sparsemax()
    write(OUT, GENERATOR, versions(**jaxref.reference_versions(), tensorflow=tf.__version__), CASES, count_errors=True)

if __name__ == "__main__":
    main()
