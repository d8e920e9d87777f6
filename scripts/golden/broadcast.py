#!/usr/bin/env python3
"""Golden cases of broadcasting in TensorFlow, Keras and optax, from the real references.

Runs Keras 3 (JAX backend, floatx float64, with kerasoptax.py's float64 mean), optax
(jax_enable_x64) and TensorFlow in float64 and writes
crates/losslab-registry/tests/golden/broadcast.json in the format of
scripts/golden/README.md.  Keras and optax cases reuse kerasoptax.py's `case` (value from
the reference, gradients from jax.vjp w.r.t. every float tensor the older files
differentiate); TensorFlow's from tf.nn in float64.

    KERAS_BACKEND=jax ~/refenv/bin/python scripts/golden/broadcast.py

What the cases pin (issue 12: "the same care for TensorFlow, Keras and optax where they
broadcast or promote"):
- Keras: the losses that broadcast y_true and y_pred as NumPy does (a (N, 1) or (1, C)
  y_true against an (N, C) y_pred, the prediction broadcast too, tensors of different
  ranks), each gradient summed back to its tensor's shape; Keras's
  squeeze_or_expand_to_same_rank where the regression losses apply it (y_true (N,)
  against y_pred (N, 1)); Dice's sums over each tensor's own elements; an integer y_true
  that is both promoted and broadcast; the refusals ((N,) against (N, C); the binary and
  categorical cross entropies, which require one shape);
- optax: the element-wise losses (result in the broadcast shape: huber_loss, log_cosh,
  sparsemax_loss) and the per-row ones (one result per row of the broadcast shape), the
  triplet loss with any of its three tensors broadcast, ranking_softmax_loss; the
  refusals (perceptron_loss, the dice losses);
- TensorFlow: softmax_cross_entropy_with_logits broadcasts its (rows, classes) forms
  (labels of one row, either class axis of size 1); TF 2.21 differentiates the result
  w.r.t. full-shaped logits (softmax − the broadcast labels, summed back), but its gradient
  w.r.t. broadcast labels, or w.r.t. logits whose class axis broadcasts, raises (a reshape
  of the broadcast gradient): those gradients are not recorded (a logits-(N, 1) case is
  value only); labels with more rows than the logits, and the element-wise tf.nn losses,
  are refused.

Where losslab refuses what a reference accepts, no case is recorded (README.md, "Broadcasting
in TensorFlow, Keras and optax"): a class axis of size 1 that broadcasts in a tensor the
reference first renormalises or softmaxes over its own axis (Keras's
categorical_focal_crossentropy y_pred, optax's poly_loss_cross_entropy,
safe_softmax_cross_entropy and ranking_softmax_loss logits).

Deterministic: kerasoptax.py's seeded generator, consumed in a fixed order.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import kerasoptax as ko  # noqa: E402  (Keras in float64, its mean patched; the case builder)
from kerasoptax import KL, OL, case, randn, unif, probs  # noqa: E402
from common import T, first_line, is_f32_exact, versions, write  # noqa: E402

import jax  # noqa: E402
import keras  # noqa: E402
import optax  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "broadcast.json")
GENERATOR = "scripts/golden/broadcast.py"
CASES = ko.CASES
rng = ko.rng

N, C = 4, 3


def ints(*shape, low, high):
    return rng.integers(low, high, shape).astype(np.int64)


def signs(*shape):
    return rng.choice([-1.0, 1.0], size=shape)


def sh(s):
    return "x".join(map(str, s)) if s else "0d"


# --------------------------------------------------------------------------------------
# Keras


KERAS = {
    # name: (y_true draw, y_pred draw, options)
    "categorical_focal_crossentropy": (lambda *s: unif(*s, lo=0.05, hi=0.95), lambda *s: unif(*s, lo=0.05, hi=1.0), {}),
    "kl_divergence": (lambda *s: unif(*s, lo=0.05, hi=0.95), lambda *s: unif(*s, lo=0.05, hi=0.95), {}),
    "log_cosh": (randn, randn, {}),
    "mean_squared_logarithmic_error": (lambda *s: unif(*s, hi=4.0), lambda *s: unif(*s, hi=4.0), {}),
    "mean_absolute_percentage_error": (lambda *s: unif(*s, lo=0.5, hi=3.0), randn, {}),
    "poisson": (lambda *s: unif(*s, hi=3.0), lambda *s: unif(*s, lo=0.2, hi=3.0), {}),
    "hinge": (signs, randn, {}),
    "squared_hinge": (signs, randn, {}),
    "categorical_hinge": (lambda *s: unif(*s), randn, {}),
    "cosine_similarity": (randn, randn, {"axis": -1}),
    "dice": (lambda *s: unif(*s), lambda *s: unif(*s), {}),
    "tversky": (lambda *s: unif(*s), lambda *s: unif(*s), {"alpha": 0.7, "beta": 0.3}),
    "huber": (randn, lambda *s: randn(*s, scale=2.0), {"delta": 1.0}),
}

# y_true shape, y_pred shape: both directions, and the two broadcast into each other
KERAS_SHAPES = [((N, 1), (N, C)), ((1, C), (N, C)), ((N, C), (1, C)), ((N, C), (N, 1)), ((N, 1), (1, C)), ((C,), (N, C)),
                ((2, N, C), (N, C))]
# losslab refuses a class axis of size 1 that broadcasts in a tensor Keras renormalises first
OWN_LANE = {"categorical_focal_crossentropy": "y_pred"}


def differentiated(name, shapes):
    """y_pred and y_true; for cosine_similarity not a tensor whose own (last) axis has size 1:
    normalising one element has gradient 0, which JAX gives as rounding noise (~1e-16)."""
    return [n for n in ["y_pred", "y_true"] if not (name == "cosine_similarity" and shapes[n][-1:] == (1,))]


def keras_fn(name, options):
    f = getattr(KL, name)
    return lambda y_true, y_pred: f(y_true, y_pred, **options)


def gen_keras():
    for name, (dt, dp, options) in KERAS.items():
        L = f"keras:{name}"
        for st, sp in KERAS_SHAPES:
            if OWN_LANE.get(name) == "y_pred" and sp[-1] == 1:
                continue
            case(f"{L}/y_true{sh(st)}/y_pred{sh(sp)}", L, keras_fn(name, options), {"y_true": dt(*st), "y_pred": dp(*sp)}, options,
                 differentiated(name, {"y_pred": sp, "y_true": st}))
        case(f"{L}/error/y_true{sh((N,))}", L, keras_fn(name, options), {"y_true": dt(N), "y_pred": dp(N, C)}, options, [])

    # Keras's squeeze_or_expand_to_same_rank: y_true (N,) against y_pred (N, 1) gives (N,)
    # (a trailing axis added, not the (N, N) of NumPy), (N, C, 1) against (N, C) is squeezed.
    for name in ["log_cosh", "mean_squared_logarithmic_error", "mean_absolute_percentage_error", "huber", "cosine_similarity"]:
        dt, dp, options = KERAS[name]
        L = f"keras:{name}"
        case(f"{L}/rank/y_true{sh((N,))}/y_pred{sh((N, 1))}", L, keras_fn(name, options), {"y_true": dt(N), "y_pred": dp(N, 1)}, options,
             differentiated(name, {"y_pred": (N, 1), "y_true": (N, 1)}))
        case(f"{L}/rank/y_true{sh((N, C, 1))}/y_pred{sh((N, C))}", L, keras_fn(name, options),
             {"y_true": dt(N, C, 1), "y_pred": dp(N, C)}, options, ["y_pred", "y_true"])

    # Dice and Tversky with an axis: sums per sample over the broadcast (Dice: each tensor's own).
    for name in ["dice", "tversky"]:
        dt, dp, options = KERAS[name]
        L = f"keras:{name}"
        o = dict(options, axis=1)
        case(f"{L}/axis=1/y_true{sh((1, C))}", L, keras_fn(name, o), {"y_true": dt(1, C), "y_pred": dp(N, C)}, o, ["y_pred", "y_true"])
        case(f"{L}/axis=1/y_true{sh((N, 1))}", L, keras_fn(name, o), {"y_true": dt(N, 1), "y_pred": dp(N, C)}, o, ["y_pred", "y_true"])

    # the focal loss's label smoothing counts y_true's own classes (1 for a (N, 1) y_true)
    L = "keras:categorical_focal_crossentropy"
    o = {"label_smoothing": 0.2, "from_logits": True, "alpha": 0.3, "gamma": 1.5}
    case(f"{L}/smoothing+logits/y_true{sh((N, 1))}", L, keras_fn("categorical_focal_crossentropy", o),
         {"y_true": unif(N, 1), "y_pred": randn(N, C)}, o, ["y_pred", "y_true"])
    case(f"{L}/smoothing+logits/y_pred{sh((1, C))}", L, keras_fn("categorical_focal_crossentropy", o),
         {"y_true": unif(N, C), "y_pred": randn(1, C)}, o, ["y_pred", "y_true"])

    # integer y_true, promoted (Keras casts it) and broadcast
    case("keras:poisson/int-y_true/y_true4x1", "keras:poisson", keras_fn("poisson", {}),
         {"y_true": ints(N, 1, low=0, high=4), "y_pred": unif(N, C, lo=0.2, hi=3.0)}, {}, ["y_pred"])
    case("keras:hinge/int-y_true/y_true1x3", "keras:hinge", keras_fn("hinge", {}),
         {"y_true": ints(1, C, low=0, high=2), "y_pred": randn(N, C)}, {}, ["y_pred"])
    case("keras:log_cosh/int-y_true/y_true4", "keras:log_cosh", keras_fn("log_cosh", {}),
         {"y_true": ints(N, low=-2, high=3), "y_pred": randn(N, 1)}, {}, ["y_pred"])

    # refused: one shape required
    for name in ["binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy"]:
        L = f"keras:{name}"
        for st in [(N, 1), (1, C)]:
            case(f"{L}/error/y_true{sh(st)}", L, keras_fn(name, {}), {"y_true": unif(*st), "y_pred": unif(N, C, lo=0.05, hi=0.95)}, {}, [])


# --------------------------------------------------------------------------------------
# optax


def gen_optax():
    pairs = [((N, C), (N, 1)), ((N, C), (1, C)), ((1, C), (N, C)), ((N, 1), (N, C)), ((N, 1), (1, C)), ((C,), (N, C)), ((N, C), (2, N, C))]
    elementwise = {
        "huber_loss": ("predictions", "targets", lambda predictions, targets: OL.huber_loss(predictions, targets, delta=1.0), {"delta": 1.0},
                       lambda *s: randn(*s, scale=2.0), randn),
        "log_cosh": ("predictions", "targets", lambda predictions, targets: OL.log_cosh(predictions, targets), {}, randn, randn),
        "kl_divergence": ("log_predictions", "targets", lambda log_predictions, targets: OL.kl_divergence(log_predictions, targets), {},
                          lambda *s: np.log(unif(*s, lo=0.05)), lambda *s: unif(*s)),
        "kl_divergence_with_log_targets": ("log_predictions", "log_targets",
                                           lambda log_predictions, log_targets: OL.kl_divergence_with_log_targets(log_predictions, log_targets),
                                           {}, lambda *s: np.log(unif(*s, lo=0.05)), lambda *s: np.log(unif(*s, lo=0.05))),
        "generalized_kl_divergence": ("log_predictions", "targets",
                                      lambda log_predictions, targets: OL.generalized_kl_divergence(log_predictions, targets), {},
                                      lambda *s: np.log(unif(*s, lo=0.05)), lambda *s: unif(*s, hi=2.0)),
        "poly_loss_cross_entropy": ("logits", "labels", lambda logits, labels: OL.poly_loss_cross_entropy(logits, labels, epsilon=2.0),
                                    {"epsilon": 2.0, "axis": -1}, randn, lambda *s: unif(*s)),
        "safe_softmax_cross_entropy": ("logits", "labels", lambda logits, labels: OL.safe_softmax_cross_entropy(logits, labels), {}, randn,
                                       lambda *s: unif(*s)),
    }
    own_lane = {"poly_loss_cross_entropy", "safe_softmax_cross_entropy"}  # the logits' class axis may not broadcast
    for name, (a, b, f, options, da, db) in elementwise.items():
        L = f"optax:{name}"
        for sa, sb in pairs:
            if name in own_lane and sa[-1] == 1 and sb[-1] != 1:
                continue
            case(f"{L}/{a}{sh(sa)}/{b}{sh(sb)}", L, f, {a: da(*sa), b: db(*sb)}, options, [a, b])
        case(f"{L}/error/{b}{sh((N,))}", L, f, {a: da(N, C), b: db(N)}, options, [])

    L = "optax:triplet_margin_loss"
    f = lambda anchors, positives, negatives: OL.triplet_margin_loss(anchors, positives, negatives)  # noqa: E731
    names = ["anchors", "positives", "negatives"]
    for k, name in enumerate(names):
        for s in [(1, C), (N, 1), (C,)]:
            shapes = [(N, C)] * 3
            shapes[k] = s
            case(f"{L}/{name}{sh(s)}", L, f, {n: randn(*x) for n, x in zip(names, shapes)}, {}, names)
    case(f"{L}/error/negatives{sh((N,))}", L, f, {"anchors": randn(N, C), "positives": randn(N, C), "negatives": randn(N)}, {}, [])

    L = "optax:sparsemax_loss"
    f = lambda logits, labels: OL.sparsemax_loss(logits, labels)  # noqa: E731
    for sx, sl in [((N, C), (N, 1)), ((N, C), (1, C)), ((1, C), (N, C)), ((N, 1), (1, C))]:
        case(f"{L}/logits{sh(sx)}/labels{sh(sl)}", L, f, {"logits": randn(*sx, scale=1.5), "labels": ints(*sl, low=0, high=2)}, {},
             ["logits"])
    case(f"{L}/error/labels{sh((N,))}", L, f, {"logits": randn(N, C), "labels": ints(N, low=0, high=2)}, {}, [])

    L = "optax:ranking_softmax_loss"  # reduce_fn: optax's default mean
    f = lambda logits, labels: OL.ranking_softmax_loss(logits, labels)  # noqa: E731
    for sx, sl in [((N, C), (N, 1)), ((N, C), (1, C)), ((1, C), (N, C)), ((C,), (N, C))]:
        case(f"{L}/logits{sh(sx)}/labels{sh(sl)}", L, f, {"logits": randn(*sx), "labels": unif(*sl, hi=3.0)}, {}, ["logits", "labels"])
    case(f"{L}/error/labels{sh((N,))}", L, f, {"logits": randn(N, C), "labels": unif(N)}, {}, [])

    # refused
    case("optax:perceptron_loss/error/targets4x1", "optax:perceptron_loss",
         lambda predictor_outputs, targets: OL.perceptron_loss(predictor_outputs, targets),
         {"predictor_outputs": randn(N, C), "targets": signs(N, 1)}, {}, [])
    case("optax:binary_dice_loss/error/targets1x3", "optax:binary_dice_loss",
         lambda predictions, targets: OL.binary_dice_loss(predictions, targets), {"predictions": randn(N, C), "targets": unif(1, C)}, {}, [])


# --------------------------------------------------------------------------------------
# TensorFlow


def tf_case(cid, loss, fn, tensors, options, diff=(), go=None):
    """TF 2.21 differentiates a broadcast softmax cross entropy w.r.t. full-shaped logits
    only (its gradient w.r.t. broadcast labels, or w.r.t. logits whose class axis
    broadcasts, raises): `diff` names what is recorded."""
    tensors = {k: np.asarray(v, dtype=np.float64) for k, v in tensors.items()}
    grads = {}
    try:
        tt = {k: (tf.Variable(v) if k in diff else tf.constant(v)) for k, v in tensors.items()}
        with tf.GradientTape() as tape:
            res = fn(**tt)
        out = res.numpy().astype(np.float64)
        if diff:
            g = tape.gradient(res, [tt[d] for d in diff], output_gradients=None if go is None else tf.constant(go))
            grads = {d: x.numpy().astype(np.float64) for d, x in zip(diff, g)}
        error = None
    except Exception as e:  # the reference raised
        out, error, go = None, first_line(e), None
    floats = list(tensors.values()) + ([go] if go is not None else [])
    dtypes = ["float32", "float64"] if error is None and all(is_f32_exact(v) for v in floats) else ["float64"]
    CASES.append({"id": cid, "loss": loss, "tensors": {k: T(v) for k, v in tensors.items()}, "options": options, "reduction": None,
                  "dtypes": dtypes, "grad_output": None if go is None else T(go), "expected": None if out is None else T(out),
                  "grads": {k: T(v) for k, v in grads.items()}, "error": error})


def gen_tf():
    L = "tf:softmax_cross_entropy_with_logits"
    sce = lambda labels, logits: tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)  # noqa: E731
    for k, (sl, sx) in enumerate([((N, 1), (N, C)), ((1, C), (N, C)), ((C,), (N, C)), ((1, 1), (N, C)), ((1, C), (2, N, C)),
                                  ((N, C), (N, 1)), ((2, N, C), (2, N, 1))]):
        full = sx[-1] != 1
        go = randn(*sx[:-1]) if full and k % 2 else None
        tf_case(f"{L}/labels{sh(sl)}/logits{sh(sx)}", L, sce, {"labels": unif(*sl), "logits": randn(*sx)}, {"axis": -1},
                ["logits"] if full else [], go)
    # TF 2.21's gradient w.r.t. broadcast labels raises: checked here, so that a later TF
    # that differentiates them is noticed (and their gradients recorded)
    with tf.GradientTape() as tape:
        x, lab = tf.Variable(randn(N, C)), tf.Variable(unif(1, C))
        y = sce(lab, x)
    try:
        tape.gradient(y, [x, lab])
        raise SystemExit("TensorFlow now differentiates broadcast labels of softmax_cross_entropy_with_logits: record that gradient")
    except tf.errors.InvalidArgumentError:
        pass
    for sl, sx in [((N, C), (1, C)), ((N,), (N, C)), ((2, N, C), (N, C))]:
        tf_case(f"{L}/error/labels{sh(sl)}/logits{sh(sx)}", L, sce, {"labels": unif(*sl), "logits": randn(*sx)}, {"axis": -1})

    lg = randn(N, C)
    for s in [(N, 1), (1, C)]:
        tf_case(f"tf:sigmoid_cross_entropy_with_logits/error/labels{sh(s)}", "tf:sigmoid_cross_entropy_with_logits",
                lambda labels, logits: tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), {"labels": unif(*s), "logits": lg}, {})
        tf_case(f"tf:weighted_cross_entropy_with_logits/error/labels{sh(s)}", "tf:weighted_cross_entropy_with_logits",
                lambda labels, logits: tf.nn.weighted_cross_entropy_with_logits(labels, logits, 2.0), {"labels": unif(*s), "logits": lg},
                {"pos_weight": 2.0})
        tf_case(f"tf:log_poisson_loss/error/targets{sh(s)}", "tf:log_poisson_loss",
                lambda targets, log_input: tf.nn.log_poisson_loss(targets, log_input), {"targets": unif(*s, hi=3.0), "log_input": lg},
                {"compute_full_loss": False})


def main():
    ko.CASES.clear()
    gen_keras()
    gen_optax()
    gen_tf()
    write(OUT, GENERATOR, versions(jax=jax.__version__, keras=keras.__version__, keras_backend=keras.backend.backend(), optax=optax.__version__,
                                   tensorflow=tf.__version__), CASES, count_errors=True)
    for c in CASES:
        print(("REFUSED  " if c["error"] else "accepted ") + c["id"] + (f"  ({c['error'][:90]})" if c["error"] else ""))


if __name__ == "__main__":
    main()
