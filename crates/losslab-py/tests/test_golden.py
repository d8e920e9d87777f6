"""Every golden case committed in crates/losslab-registry/tests/golden/*.json (the
references' own values and gradients, format in scripts/golden/README.md), replayed
through the Python package's framework faces: the function of the case's framework and
name, called with the tensors and options as keyword arguments, in each dtype the case
lists; values and gradients (``losslab.value_and_grad``) compared with the float64 truth
as the Rust golden suite compares them; expected errors raised as ValueError/TypeError.

No reference framework is needed.
"""

import glob
import json
import math
import os

import numpy as np
import pytest

import losslab
from losslab import _faces

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "losslab-registry", "tests", "golden")
FILES = sorted(glob.glob(os.path.join(GOLDEN, "*.json")))
TOL = {"float32": (1e-5, 1e-6, np.finfo(np.float32).tiny), "float64": (1e-10, 1e-12, np.finfo(np.float64).tiny)}


def _float(v):
    return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[v] if isinstance(v, str) else float(v)


def _tensor(t, dtype):
    shape = tuple(t["shape"])
    if t["dtype"].startswith(("int", "uint")):
        it = np.int32 if t["dtype"] == "int32" else np.int64
        return np.array(t["data"], dtype=it).reshape(shape)
    return np.array([_float(v) for v in t["data"]], dtype=np.float64).reshape(shape).astype(dtype)


def _option(v):
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return _float(v)
    return v


def _cases():
    out = []
    for path in FILES:
        name = os.path.basename(path)
        with open(path) as f:
            doc = json.load(f)
        for case in doc["cases"]:
            for dtype in case["dtypes"]:
                out.append(pytest.param(name, case, dtype, id=f"{name}:{case['id']}[{dtype}]"))
    return out


CASES = _cases()


def _function(qname):
    framework, name = qname.split(":")
    return getattr(getattr(losslab, _faces.FACE[framework]), name)


def _compare(what, got, want, dtype):
    rel, abs_, tiny = TOL[dtype]
    want_shape = tuple(want["shape"])
    got = np.asarray(got)
    assert got.shape == want_shape, f"{what}: shape {got.shape}, expected {want_shape}"
    w = np.array([_float(v) for v in want["data"]], dtype=np.float64).reshape(want_shape)
    g = got.astype(np.float64)
    finite = np.isfinite(w)
    scale = max(tiny, float(np.abs(w[finite]).max()) if finite.any() else 0.0)
    with np.errstate(invalid="ignore"):
        ok = _ok(g, w, rel, abs_, scale)
    bad = np.flatnonzero(~ok.reshape(-1))
    assert bad.size == 0, f"{what}: {bad.size} of {w.size} mismatch, first at {bad[0]}: got {g.reshape(-1)[bad[0]]!r}, expected {w.reshape(-1)[bad[0]]!r}"


def _ok(g, w, rel, abs_, scale):
    return np.where(
        np.isnan(w),
        np.isnan(g),
        np.where(np.isinf(w), g == w, np.isfinite(g) & (np.abs(g - w) <= rel * np.abs(w) + abs_ * scale)),
    )


def test_the_files_are_there():
    assert len(FILES) >= 12, FILES
    assert len(CASES) > 1000


def test_every_loss_of_the_catalog_has_a_case():
    covered = {c.values[1]["loss"] for c in CASES if c.values[1]["error"] is None}
    missing = [s["qualified"] for s in losslab.catalog() if s["qualified"] not in covered]
    assert not missing


@pytest.mark.parametrize("file,case,dtype", CASES)
def test_golden(file, case, dtype):
    fn = _function(case["loss"])
    kwargs = {name: _tensor(t, dtype) for name, t in case["tensors"].items()}
    for key, v in case["options"].items():
        kwargs[key] = _option(v)
    if case["reduction"] is not None:
        kwargs["reduction"] = case["reduction"]
    grads_want = case.get("grads") or {}
    grad_output = None if case["grad_output"] is None else _tensor(case["grad_output"], dtype)
    if case["error"] is not None:
        expected = TypeError if file == "promotion.json" else (ValueError, TypeError)
        with pytest.raises(expected) as info:
            if grads_want:
                losslab.value_and_grad(fn, grad_output=grad_output, **kwargs)
            else:
                fn(**kwargs)
        assert case["loss"].split(":")[1] in str(info.value) or "`" in str(info.value), str(info.value)
        return
    if grads_want:
        value, grads = losslab.value_and_grad(fn, grad_output=grad_output, **kwargs)
    else:
        value, grads = fn(**kwargs), {}
    assert isinstance(value, np.ndarray)
    assert value.dtype == np.dtype(dtype), f"computed in {value.dtype}, expected {dtype}"
    _compare("value", value, case["expected"], dtype)
    for name, want in grads_want.items():
        assert name in grads, f"no gradient for `{name}` (got {sorted(grads)})"
        assert grads[name].dtype == np.dtype(dtype)
        _compare(f"grad {name}", grads[name], want, dtype)
    ints = [n for n, a in kwargs.items() if isinstance(a, np.ndarray) and a.dtype.kind in "iu"]
    assert not set(ints) & set(grads), "a gradient for an integer tensor"
