"""Keras 3 (JAX backend, floatx float64) and optax in float64, for the golden
generators that take their truth from JAX (kerasoptax.py, names.py).

Importing this module sets the environment up before Keras loads: KERAS_BACKEND=jax,
jax_enable_x64, floatx float64, and two patches where Keras 3.15 would not give a
float64 truth (everything else is the references' own code):
- `ops.mean` computes in keras's `dtypes.result_type(x.dtype, "float32")`, which is
  float32 even for float64 inputs: its mean-over-the-last-axis losses
  (binary_crossentropy, binary_focal_crossentropy, log_cosh, huber,
  mean_squared_logarithmic_error, mean_absolute_percentage_error) would be only
  float32-accurate. The backend's mean is replaced by jnp.mean (the same mathematics,
  in float64).
- The JAX `ctc_loss` casts the logits to `result_type(dtype, "float32")`, float32 for
  float64: `keras_ctc_f64` calls `keras.losses.ctc` with a result_type that keeps
  float64.

`run` evaluates a reference function and its vector-Jacobian product.
"""

import os

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)
import keras  # noqa: E402
import keras.src.backend as _kbackend  # noqa: E402
import keras.src.backend.jax.numpy as _kjnp  # noqa: E402
import optax  # noqa: E402

keras.config.set_floatx("float64")

_keras_mean = _kjnp.mean


def _mean_f64(x, axis=None, keepdims=False):
    x = _kjnp.convert_to_tensor(x)
    return jnp.mean(x, axis=axis, keepdims=keepdims) if x.dtype == jnp.float64 else _keras_mean(x, axis, keepdims)


_kjnp.mean = _mean_f64
assert float(keras.ops.mean(jnp.asarray([0.1, 0.2, 0.4]))) == float(jnp.mean(jnp.asarray([0.1, 0.2, 0.4])))

_keras_result_type = _kbackend.result_type


def _result_type_f64(*dtypes):
    r = _keras_result_type(*dtypes)
    return "float64" if any(str(d) == "float64" for d in dtypes) else r


def keras_ctc_f64(y_true, y_pred):
    """keras.losses.ctc, computed in float64 for float64 logits."""
    _kbackend.result_type = _result_type_f64
    try:
        return keras.losses.ctc(y_true, y_pred)
    finally:
        _kbackend.result_type = _keras_result_type


def reference_versions():
    """The versions of the JAX references, for common.versions."""
    return {"jax": jax.__version__, "keras": keras.__version__, "keras_backend": keras.backend.backend(),
            "optax": optax.__version__}


def reduce(out, reduction):
    """What `losslab eval --reduction` computes over a function's output."""
    if reduction is None or reduction == "none":
        return out
    if reduction == "sum":
        return jnp.sum(out)
    if reduction == "mean":
        return jnp.mean(out)
    if reduction == "batchmean":
        return jnp.sum(out) / out.shape[0]
    raise ValueError(reduction)


class ReferenceError_(Exception):
    """The reference raised on the forward call (the case records its message)."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


def run(fn, tensors, diff, pick_go, reduction=None):
    """fn(**tensors) (reduced) in float64, and d(Σ go · result)/d(tensor) for each name in
    `diff` by jax.vjp; `pick_go(out)` chooses the upstream gradient (None = ones).
    Returns (out, go, grads); raises ReferenceError_ where the forward call raised."""
    jt = {k: jnp.asarray(v) for k, v in tensors.items()}

    def rfn(**kw):
        return reduce(fn(**kw), reduction)

    try:
        out = np.asarray(rfn(**jt), dtype=np.float64)
    except Exception as e:  # the reference raised
        raise ReferenceError_(e) from e
    go = pick_go(out)
    grads = {}
    if diff:
        def f(*xs):
            kw = dict(jt)
            kw.update(dict(zip(diff, xs)))
            return rfn(**kw)

        _, vjp = jax.vjp(f, *[jt[d] for d in diff])
        g = vjp(jnp.ones(out.shape, dtype=jnp.float64) if go is None else jnp.asarray(go))
        grads = {d: np.asarray(x, dtype=np.float64) for d, x in zip(diff, g)}
    return out, go, grads
