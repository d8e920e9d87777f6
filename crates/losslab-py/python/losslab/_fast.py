"""The fused softmax cross entropy of ``torch:cross_entropy`` (class indices) on
the caller's own arrays: float32/float64 logits read without a copy, bfloat16
and float16 logits (``ml_dtypes``/NumPy arrays) computed as they are, the
gradient written by the kernel in the same sweep into an array allocated here.

Whatever this path does not take (probability targets, an upstream gradient,
option values of another type, mixed dtypes) goes to the registry, which
checks and reports it.
"""

from __future__ import annotations

import numpy as np

from . import _native

_INT = (np.dtype(np.int64), np.dtype(np.int32))
_FLOAT = (np.dtype(np.float32), np.dtype(np.float64))


def half_kind(dtype):
    """'bfloat16' or 'float16' for a 16-bit float dtype, else None."""
    if dtype == np.float16:
        return "float16"
    if dtype.name == "bfloat16":
        return "bfloat16"
    return None


def try_cross_entropy(qname, call, want_grads, grad_output):
    """``(value, grads)`` by the fused kernel, or None when it does not apply."""
    if qname != "torch:cross_entropy" or grad_output is not None:
        return None
    x, t, w = call.tensors.get("input"), call.tensors.get("target"), call.tensors.get("weight")
    if not isinstance(x, np.ndarray) or not isinstance(t, np.ndarray) or t.dtype not in _INT:
        return None
    if set(call.options) - {"ignore_index", "label_smoothing"}:
        return None
    ignore_index = call.options.get("ignore_index", -100)
    smoothing = call.options.get("label_smoothing", 0.0)
    if type(ignore_index) is not int or type(smoothing) not in (int, float):
        return None
    reduction = "mean" if call.reduction is None else call.reduction
    if reduction not in ("none", "mean", "sum", "batchmean"):
        return None
    half = half_kind(x.dtype)
    if half is None and x.dtype not in _FLOAT:
        return None
    if w is not None and not (isinstance(w, np.ndarray) and (w.dtype == x.dtype or (half and w.dtype in _FLOAT))):
        return None
    if half:
        words = np.ascontiguousarray(x).view(np.uint16)
        grad = np.empty(x.shape, np.uint16) if want_grads else None
        value = _native.cross_entropy_fused(words, t, w, ignore_index, float(smoothing), reduction, grad, half)
        return value, ({"input": grad.view(x.dtype)} if want_grads else {})
    grad = np.empty(x.shape, x.dtype) if want_grads else None
    value = _native.cross_entropy_fused(x, t, w, ignore_index, float(smoothing), reduction, grad, None)
    return value, ({"input": grad} if want_grads else {})
