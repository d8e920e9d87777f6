"""The NumPy API: faces, signatures, docstrings, dtypes and layouts, errors, the GIL."""

import inspect
import threading
import time

import numpy as np
import pytest

import losslab
from losslab import _native

try:
    import ml_dtypes
except ImportError:  # pragma: no cover - CI installs it
    ml_dtypes = None

FACES = ("torch", "torchvision", "torchaudio", "tf", "keras", "optax", "scipy", "trl", "open_clip", "pml", "diffusers", "own")


def logits(n=4, c=5, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal((n, c)).astype(dtype)


def labels(n=4, c=5, seed=1):
    return np.random.default_rng(seed).integers(0, c, n)


def test_every_loss_of_the_registry_is_in_its_face_and_documented():
    cat = losslab.catalog()
    assert len(cat) >= 80
    for spec in cat:
        face = "own" if spec["framework"] == "losslab" else spec["framework"]
        fn = getattr(getattr(losslab, face), spec["name"])
        assert spec["summary"] in fn.__doc__
        assert "Args:" in fn.__doc__ and "Returns:" in fn.__doc__
        sig = inspect.signature(fn)
        for t in spec["tensors"]:
            assert t["name"] in sig.parameters, (spec["qualified"], t["name"])
        for o in spec["options"]:
            assert o["key"] in sig.parameters, (spec["qualified"], o["key"])
        assert "reduction" in sig.parameters
        if spec["root"]:
            assert getattr(losslab, spec["name"]) is fn


def test_the_references_signatures():
    sig = lambda f: str(inspect.signature(f))  # noqa: E731
    assert sig(losslab.torch.cross_entropy) == (
        "(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction='mean', label_smoothing=0.0)"
    )
    assert sig(losslab.keras.hinge) == "(y_true, y_pred, *, reduction=None)"
    assert sig(losslab.tf.softmax_cross_entropy_with_logits).startswith("(labels, logits, axis=-1, name=None")
    assert sig(losslab.optax.poly_loss_cross_entropy).startswith("(logits, labels, *, epsilon=2.0, axis=-1")
    assert sig(losslab.torch.huber_loss).startswith("(input, target, reduction='mean', delta=1.0")
    assert losslab.cross_entropy is losslab.torch.cross_entropy
    assert losslab.hinge is losslab.keras.hinge
    assert losslab.entropy is losslab.scipy.entropy
    assert losslab.own.cross_entropy is not losslab.cross_entropy


def test_positional_arguments_in_the_references_order():
    x, t = logits(), labels()
    w = np.linspace(0.5, 1.5, 5)
    a = losslab.torch.cross_entropy(x, t, w, None, 2, None, "sum", 0.1)
    b = losslab.torch.cross_entropy(x, t, weight=w, ignore_index=2, reduction="sum", label_smoothing=0.1)
    assert a == b
    # torch's legacy flags map to the reduction as PyTorch maps them.
    assert losslab.torch.mse_loss(x, x + 1, size_average=False) == losslab.torch.mse_loss(x, x + 1, reduction="sum")
    assert losslab.torch.mse_loss(x, x + 1, reduce=False).shape == x.shape
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    p = np.array([[0.6, 0.4], [0.3, 0.7]])
    np.testing.assert_allclose(losslab.keras.hinge(y, p), [1.1, 1.2])
    probs = np.full((4, 5), 0.2)
    assert losslab.tf.softmax_cross_entropy_with_logits(labels=probs, logits=x).shape == (4,)
    assert losslab.tf.softmax_cross_entropy_with_logits(labels=probs, logits=x, reduction="mean").shape == ()


def test_scalars_are_0d_arrays_of_the_inputs_dtype():
    for dtype in (np.float32, np.float64):
        v = losslab.cross_entropy(logits(dtype=dtype), labels())
        assert isinstance(v, np.ndarray) and v.shape == () and v.dtype == dtype
        assert isinstance(float(v), float)


def test_value_and_grad_forms():
    x, t = logits(), np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    x1 = x[0]
    v, g = losslab.value_and_grad(losslab.mse_loss, x1, t)
    assert set(g) == {"input", "target"}
    np.testing.assert_allclose(g["input"], 2 * (x1 - t) / 5)
    v2, gi = losslab.value_and_grad(losslab.mse_loss, x1, t, wrt="input")
    assert v2 == v and np.array_equal(gi, g["input"])
    _, (gt, gi2) = losslab.value_and_grad(losslab.mse_loss, x1, t, wrt=("target", "input"))
    assert np.array_equal(gt, g["target"]) and np.array_equal(gi2, gi)
    up = np.arange(5.0)
    _, g = losslab.value_and_grad(losslab.mse_loss, x1, t, reduction="none", grad_output=up, wrt="input")
    np.testing.assert_allclose(g, 2 * (x1 - t) * up)
    with pytest.raises(ValueError, match="no gradient with respect to `target`"):
        losslab.value_and_grad(losslab.cross_entropy, logits(), labels(), wrt="target")
    with pytest.raises(TypeError, match="not a losslab loss function"):
        losslab.value_and_grad(np.sum, x)


def test_the_fused_path_and_the_registry_agree():
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-6)):
        x, t = logits(64, 33, dtype), labels(64, 33)
        w = np.linspace(0.5, 2.0, 33).astype(dtype)
        t[3] = 7
        for red in ("mean", "sum", "none"):
            kw = dict(weight=w, ignore_index=7, reduction=red, label_smoothing=0.05)
            v, g = losslab.value_and_grad(losslab.cross_entropy, x, t, wrt="input", **kw)
            opts = dict(ignore_index=7, label_smoothing=0.05)
            rv, rg = losslab.evaluate("torch:cross_entropy", {"input": x, "target": t, "weight": w}, opts, red, None, True)
            assert v.dtype == rv.dtype == g.dtype == dtype
            np.testing.assert_allclose(v, rv, rtol=tol, atol=tol)
            np.testing.assert_allclose(g, rg["input"], rtol=tol, atol=tol)


def test_non_contiguous_arrays_are_copied_and_int32_labels_read():
    x = logits(6, 10)
    xt = np.asfortranarray(x)
    xs = np.ascontiguousarray(np.repeat(x, 2, axis=1))[:, ::2]
    t = labels(6, 10)
    want = losslab.cross_entropy(x, t)
    for a in (xt, xs, x[::-1][::-1]):
        assert losslab.cross_entropy(a, t) == want
        assert losslab.torch.nll_loss(a, t) == losslab.torch.nll_loss(x, t)
    assert losslab.cross_entropy(x, t.astype(np.int32)) == want
    assert losslab.torch.nll_loss(x, t.astype(np.int32)) == losslab.torch.nll_loss(x, t)
    # Python lists are arrays too.
    assert losslab.mse_loss([1.0, 2.0], [0.0, 0.0]) == 2.5


_IN_PLACE = """
import resource, sys
import numpy as np
import losslab

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

n = 1 << 23
for dtype in (np.float32, np.float64):
    # Made without temporaries, so that the peak so far is the resident set now.
    x = np.ones(n, dtype)
    y = np.full(n, 0.5, dtype)
    losslab.mse_loss(x[:8], y[:8])  # imports, thread pool
    size = x.nbytes / 2**20
    before = peak_mb()
    v = losslab.mse_loss(x, y)
    value_growth = peak_mb() - before
    before = peak_mb()
    v, g = losslab.value_and_grad(losslab.mse_loss, x, y, wrt="input")
    grad_growth = peak_mb() - before
    print(np.dtype(dtype).name, size, value_growth, grad_growth, float(v), float(g[0]))
    del x, y, g
"""


def test_contiguous_float_arrays_are_read_in_place():
    # A subprocess, for a resident set of its own: the inputs are 32 MB (float32) and
    # 64 MB (float64) each; a copy of either would raise the peak by that much. The value
    # alone allocates only the 0-d result; with gradients, the registry computes the two
    # that mse_loss differentiates (input and target, each the inputs' size), and no more.
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _IN_PLACE], capture_output=True, text=True, check=True).stdout
    for line in out.strip().splitlines():
        dtype, size, value_growth, grad_growth, v, g = line.split()
        size, value_growth, grad_growth = float(size), float(value_growth), float(grad_growth)
        assert float(v) == 0.25 and float(g) == 2 * 0.5 / (1 << 23), line
        assert value_growth < 4, f"{dtype}: the value grew the peak by {value_growth:.1f} MB ({size:.0f} MB inputs)"
        assert grad_growth < 2 * size + 4, f"{dtype}: the gradients grew the peak by {grad_growth:.1f} MB, each is {size:.0f} MB"


@pytest.mark.skipif(ml_dtypes is None, reason="ml_dtypes not installed")
@pytest.mark.parametrize("half", ["bfloat16", "float16"])
def test_half_logits_for_cross_entropy(half):
    dtype = np.dtype(getattr(ml_dtypes, "bfloat16")) if half == "bfloat16" else np.dtype(np.float16)
    x = logits(32, 50, np.float32).astype(dtype)
    t = labels(32, 50)
    v, g = losslab.value_and_grad(losslab.cross_entropy, x, t, wrt="input")
    assert v.dtype == np.float32 and g.dtype == dtype
    v64, g64 = losslab.value_and_grad(losslab.cross_entropy, x.astype(np.float64), t, wrt="input")
    assert abs(float(v) - float(v64)) <= 1e-5 * abs(float(v64))
    ulp = 2.0**-7 if half == "bfloat16" else 2.0**-10
    assert np.all(np.abs(g.astype(np.float64) - g64) <= ulp * np.abs(g64) + 1e-7)
    # Elsewhere half inputs are computed in float32.
    assert losslab.mse_loss(x[0], x[1]).dtype == np.float32


def test_errors_are_value_and_type_errors_with_the_registrys_message():
    x, t = logits(), labels()
    with pytest.raises(ValueError, match=r"class index|target"):
        losslab.cross_entropy(x, np.array([0, 1, 2, 9]))
    with pytest.raises(ValueError, match="shape"):
        losslab.mse_loss(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="label_smoothing"):
        losslab.cross_entropy(x, t, label_smoothing=2.0)
    with pytest.raises(ValueError, match="reduction"):
        losslab.cross_entropy(x, t, reduction="avg")
    with pytest.raises(TypeError, match="dtype"):
        losslab.cross_entropy(x, t.astype(np.float32))
    with pytest.raises(TypeError, match=r"`target` has dtype float32, expected float64"):
        losslab.l1_loss(x, x.astype(np.float32))
    with pytest.raises(TypeError, match="bool"):
        losslab.mse_loss(x, x > 0)
    with pytest.raises(TypeError, match="object"):
        losslab.mse_loss(x, np.array([object()] * 5))
    with pytest.raises(TypeError):
        losslab.mse_loss(x)  # a missing argument, as Python reports it
    with pytest.raises(TypeError):
        losslab.mse_loss(x, x, beta=1.0)  # no such parameter
    with pytest.raises(ValueError, match="not supported by losslab"):
        losslab.torch.mse_loss(x, x, weight=np.ones(5))
    with pytest.raises(ValueError, match="unknown loss"):
        losslab.evaluate("mse", {"input": x})
    with pytest.raises(ValueError, match="expected a number > 0"):
        losslab.torch.huber_loss(x, x, delta=0)
    # An empty or odd input is an error or a value, never a crash.
    for bad in (np.zeros((0, 5)), np.zeros((2, 0)), np.full((2, 3), np.nan)):
        try:
            losslab.cross_entropy(bad, np.zeros(bad.shape[0], np.int64))
        except (ValueError, TypeError):
            pass


def test_the_gil_is_released_while_a_loss_computes():
    # One thread computes a loss that takes a while (O(N·C²) multilabel margin); the main
    # thread notes the times at which it runs Python. With the GIL held during the call the
    # main thread could not run in the middle of it at all; released, it runs throughout.
    rng = np.random.default_rng(0)
    n, c = 1200, 1000
    x = rng.standard_normal((n, c))
    t = np.tile(np.arange(c), (n, 1)).astype(np.int64)
    t[:, c // 2] = -1
    span = {}
    started = threading.Event()

    def work():
        started.set()
        span["start"] = time.perf_counter()
        losslab.torch.multilabel_margin_loss(x, t)
        span["end"] = time.perf_counter()

    th = threading.Thread(target=work)
    stamps = []
    th.start()
    started.wait()
    while th.is_alive():
        stamps.append(time.perf_counter())
        time.sleep(0.001)
    th.join()
    s, e = span["start"], span["end"]
    assert e - s > 0.05, "the loss was too quick to tell"
    lo, hi = s + 0.25 * (e - s), e - 0.25 * (e - s)
    middle = [u for u in stamps if lo < u < hi]
    # The main thread ran in the middle half of the call: (hi - lo) / 1 ms chances; ask for
    # a tenth of them, far from the zero a held GIL allows.
    assert len(middle) >= max(5, 0.1 * (hi - lo) / 0.001), (len(middle), e - s)


def test_a_panic_would_be_a_runtime_error_not_an_abort():
    # No input is known to panic; the binding's last resort is exercised through the
    # extension's error path for every kind of bad call above. Here: the native entry
    # points refuse what the Python layer never passes, with exceptions.
    with pytest.raises(TypeError):
        _native.cross_entropy_fused(np.zeros((2, 3), np.int8), np.zeros(2, np.int64), None, -100, 0.0, "mean")
    with pytest.raises(ValueError):
        _native.cross_entropy_fused(np.zeros((2, 3), np.uint16), np.zeros(2, np.int64), None, -100, 0.0, "mean", None, "float8")
    with pytest.raises(TypeError):
        _native.cross_entropy_fused(np.zeros((2, 3), np.float32), np.zeros(2, np.int64), None, -100, 0.0, "mean", np.zeros((2, 3)))


def test_linear_cross_entropy_the_lm_head():
    """The LM head's fused loss through the NumPy face and `evaluate`'s other outputs."""
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((6, 4)), rng.standard_normal((9, 4)) * 0.5, rng.standard_normal(9)
    t = np.array([0, 3, 8, -100, 2, 5])
    logits = x @ w.T + b
    lse = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
    counted = t != -100
    want = (lse - logits[np.arange(6), np.where(counted, t, 0)])[counted].mean()
    got = losslab.torch.linear_cross_entropy(x, w, t, linear_bias=b)
    assert got.shape == () and abs(got - want) < 1e-12
    assert losslab.linear_cross_entropy is losslab.torch.linear_cross_entropy
    value, grads, outputs = losslab.evaluate(
        "linear_cross_entropy", {"input": x, "linear_weight": w, "target": t, "linear_bias": b},
        {"lse_square_scale": 0.1, "return_lse": True, "return_predicted": True}, "none", None, True, True)
    np.testing.assert_allclose(outputs["lse"], lse, rtol=1e-13)
    np.testing.assert_array_equal(outputs["predicted"], logits.argmax(1))
    np.testing.assert_allclose(outputs["z_loss"], np.where(counted, 0.1 * lse ** 2, 0.0), rtol=1e-13)
    assert set(grads) == {"input", "linear_weight", "linear_bias"}
    assert grads["linear_weight"].shape == (9, 4)
