"""Helpers shared by the golden-case generators (scripts/golden/*.py): tensor
encoding (`T`, `enc_float`), float32 exactness, case building (`make_case`,
`dtypes_for`), the reference's error message (`first_line`), the upstream
gradient policy (`GradOutputPolicy`) and the file itself (`versions`, `write`).

Only numpy here: a generator imports its references itself, in its own order.
"""

import json
import math
import os
import platform

import numpy as np


def is_f32_exact(a):
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        b = a.astype(np.float32).astype(np.float64)
    return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def enc_float(x):
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x  # json writes float.__repr__, which round-trips


def T(a, bools="bool"):
    """Encode a numpy array (float64 / int64 / bool) as a TENSOR; `bools="int64"`
    writes booleans as 0/1 integers."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = a.astype(np.float64)
        return {"dtype": "float64", "shape": list(a.shape), "data": [enc_float(x) for x in a.reshape(-1)]}
    if a.dtype.kind in "iu" or (a.dtype.kind == "b" and bools == "int64"):
        return {"dtype": "int64", "shape": list(a.shape), "data": [int(x) for x in a.reshape(-1)]}
    if a.dtype.kind == "b":
        return {"dtype": "bool", "shape": list(a.shape), "data": [bool(x) for x in a.reshape(-1)]}
    raise TypeError(a.dtype)


def first_line(e):
    msg = str(e).strip()
    # TensorFlow prefixes eager errors with "{{function_node ...}} "
    if msg.startswith("{{function_node"):
        end = msg.find("}}")
        if end >= 0:
            msg = msg[end + 2:].strip()
    msg = msg.splitlines()[0].strip() if msg else type(e).__name__
    if msg.endswith(" name:"):  # TensorFlow's eager errors end with an empty " name: "
        msg = msg[: -len(" name:")].rstrip()
    return msg


def dtypes_for(tensors, grad_output):
    floats = [v for v in tensors.values() if np.asarray(v).dtype.kind == "f"]
    if grad_output is not None:
        floats.append(grad_output)
    return ["float32", "float64"] if all(is_f32_exact(v) for v in floats) else ["float64"]


def make_case(cid, loss, tensors, options, reduction, dtypes, grad_output, expected, grads, error, enc=T):
    return {
        "id": cid,
        "loss": loss,
        "tensors": {k: enc(v) for k, v in tensors.items()},
        "options": options,
        "reduction": reduction,
        "dtypes": dtypes,
        "grad_output": None if grad_output is None else enc(grad_output),
        "expected": None if expected is None else enc(expected),
        "grads": {k: enc(v) for k, v in grads.items()},
        "error": error,
    }


class GradOutputPolicy:
    """Random upstream gradient (from `randn`) for every other unreduced case; a
    0-d upstream gradient (0.5 or -2.0, alternately) for every `scalar_every`-th
    scalar case; ones (null) otherwise. An array given as the mode is used as it is."""

    def __init__(self, randn, scalar_every):
        self.randn = randn
        self.every = scalar_every
        self.n_tensor = 0
        self.n_scalar = 0

    def pick(self, shape, mode="auto"):
        if mode is None:
            return None
        if isinstance(mode, np.ndarray):
            return mode
        if mode == "random":
            return self.randn(*shape)
        if len(shape) > 0:
            self.n_tensor += 1
            return self.randn(*shape) if self.n_tensor % 2 == 0 else None
        self.n_scalar += 1
        if self.n_scalar % self.every == 0:
            return np.array(0.5 if (self.n_scalar // self.every) % 2 else -2.0)
        return None


def versions(**references):
    """The versions a file records: Python's, numpy's and the references' given."""
    return {"python": platform.python_version(), "numpy": np.__version__, **references}


def write(path, generator, versions, cases, count_errors=False):
    """Writes a golden file: one case a line, in the order generated (ids unique)."""
    ids = [c["id"] for c in cases]
    dup = {i for i in ids if ids.count(i) > 1}
    assert not dup, f"duplicate ids: {sorted(dup)}"
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n")
        f.write(f'  "generator": {json.dumps(generator)},\n')
        f.write(f'  "versions": {json.dumps(versions, sort_keys=True)},\n')
        f.write('  "cases": [\n')
        for i, c in enumerate(cases):
            line = json.dumps(c, allow_nan=False, separators=(",", ":"))
            f.write("    " + line + (",\n" if i + 1 < len(cases) else "\n"))
        f.write("  ]\n}\n")
    errs = f" ({sum(c['error'] is not None for c in cases)} errors)" if count_errors else ""
    print(f"wrote {path}: {len(cases)} cases{errs}, {os.path.getsize(path)} bytes")


def case_tensors(tensors):
    """A case's tensors as numpy arrays: integers and booleans as int64, the rest float64."""
    return {k: (np.asarray(v, dtype=np.int64) if np.asarray(v).dtype.kind in "iub" else np.asarray(v, dtype=np.float64))
            for k, v in tensors.items()}
