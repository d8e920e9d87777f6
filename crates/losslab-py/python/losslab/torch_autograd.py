"""Every loss of losslab as a PyTorch autograd function on CPU tensors.

The same names, arguments and defaults as the NumPy faces (``losslab.torch``, ...), on
``torch.Tensor``\\ s: ``loss.backward()`` gives the reference's gradients (the registry's:
for every float tensor the reference differentiates, targets and ``weight`` included where
PyTorch differentiates them), with any upstream gradient (``reduction="none"``).

    import losslab.torch_autograd as L
    loss = L.cross_entropy(logits, labels)        # in place of F.cross_entropy
    loss.backward()

* ``L.cross_entropy`` (``L.torch.cross_entropy``) with class-index targets runs the fused
  kernel (:class:`CrossEntropyFunction`): the forward computes the gradient in the same
  sweep into a buffer it keeps for the backward, which hands it on (scaled in place by the
  upstream gradient when that is not 1): no second pass, no copy beyond the gradient itself.
  float32, float64, bfloat16 and float16 logits; int64 or int32 targets.
* Every other loss (and cross entropy with probability targets) is :class:`LossFunction`: a
  reduced loss computes its gradients in the forward and scales them in the backward; an
  unreduced one evaluates its gradients in the backward with the upstream gradient.
* The faces: ``L.torch``, ``L.torchvision``, ``L.torchaudio``, ``L.tf``, ``L.keras``, ``L.optax``,
  ``L.scipy``, ``L.trl``, ``L.open_clip``, ``L.pml``, ``L.diffusers``, ``L.own``; the top level holds the unqualified names (PyTorch first).

Tensors must be on the CPU (a CUDA tensor raises ``ValueError`` naming its device).
Functions are differentiable once (``once_differentiable``): enough for training and for
``torch.autograd.gradcheck``, not for double backward. This module imports only
``torch`` itself (not ``torch._dynamo`` / ``torch.compile``'s machinery).
"""

from __future__ import annotations

import sys
import types

import numpy as np
import torch as _torch
from torch.autograd.function import once_differentiable

from . import _faces, _native

__all__ = ["LossFunction", "CrossEntropyFunction", "release_buffers", "torch", "torchvision", "torchaudio", "tf", "keras", "optax", "scipy", "trl", "open_clip", "pml", "diffusers", "own"]

_HALF = {_torch.bfloat16: "bfloat16", _torch.float16: "float16"}


def _check_device(fn_name, name, t):
    if t.device.type != "cpu":
        raise ValueError(
            f"{fn_name}: `{name}` is on {t.device}, expected a CPU tensor (losslab computes on the CPU: move it with .cpu())"
        )


def _numpy(t):
    """A CPU tensor as a NumPy array the registry reads (bfloat16 widened to float32)."""
    t = t.detach()
    if t.dtype == _torch.bfloat16:
        t = t.float()
    if t.is_conj() or t.is_neg():
        t = t.resolve_conj().resolve_neg()
    return t.numpy()


def _float_dtype(tensors):
    for t in tensors:
        if isinstance(t, _torch.Tensor) and t.is_floating_point():
            return t.dtype
    return None


class LossFunction(_torch.autograd.Function):
    """A loss of the registry as an autograd function:
    ``LossFunction.apply(qualified_name, names, options, reduction, reduced, *tensors)``.

    ``reduced``: whether the result is a scalar (then the gradients are computed in the
    forward, with the value, and scaled by the upstream gradient in the backward);
    otherwise the backward evaluates them with the upstream gradient."""

    @staticmethod
    def forward(ctx, qname, names, options, reduction, reduced, *tensors):
        arrays = {n: _numpy(t) for n, t in zip(names, tensors)}
        want = reduced and any(ctx.needs_input_grad[5:])
        value, grads = _native.evaluate(qname, arrays, options, reduction, None, want)
        ctx.qname, ctx.names, ctx.options, ctx.reduction = qname, names, options, reduction
        ctx.grads = grads if want else None
        ctx.dtypes = [t.dtype for t in tensors]
        ctx.save_for_backward(*tensors)  # kept, not copied: for an unreduced loss or a second backward
        out_dtype = _float_dtype(tensors) or _torch.float64
        return _torch.from_numpy(value).to(out_dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        needs = ctx.needs_input_grad[5:]
        if ctx.grads is not None:
            scale = None if g.item() == 1.0 else g
            grads = {}
            for n, a in ctx.grads.items():
                t = _torch.from_numpy(a)
                grads[n] = t if scale is None else t * scale.to(t.dtype)
        else:
            tensors = ctx.saved_tensors
            arrays = {n: _numpy(t) for n, t in zip(ctx.names, tensors)}
            compute = next((a.dtype for a in arrays.values() if a.dtype.kind == "f"), np.float64)
            if compute == np.float16:
                compute = np.float32
            # The upstream gradient in the evaluation's dtype: no copy when it is already.
            go = g.detach().to(_torch.float32 if compute == np.float32 else _torch.float64).numpy()
            _, grads = _native.evaluate(ctx.qname, arrays, ctx.options, ctx.reduction, go, True)
            grads = {n: _torch.from_numpy(a) for n, a in grads.items()}
        ctx.grads = None
        out = [None] * 5
        for i, n in enumerate(ctx.names):
            gr = grads.get(n) if needs[i] else None
            out.append(None if gr is None else gr.to(ctx.dtypes[i]))
        return tuple(out)


class _GradientBuffers:
    """The fused cross entropy's gradient buffers, reused from one step to the next.

    A new buffer of hundreds of megabytes costs the kernel's own time again in page faults
    (the operating system zeroes every page on first touch). So the buffers are NumPy arrays
    kept here, each handed to autograd as a tensor that shares its memory
    (``torch.from_numpy``): autograd takes that tensor as the input's ``.grad`` without a
    copy, and once every tensor on the buffer is gone (``optimizer.zero_grad()``, the
    default ``set_to_none=True``) the array's only owner is this pool and the next step
    writes into it again. A buffer still referenced (``.grad`` kept, accumulated into, or
    viewed) is never reused. At most ``per_shape`` buffers per shape and dtype, and
    ``shapes`` shapes, are kept; ``losslab.torch_autograd.release_buffers()`` frees them."""

    def __init__(self, per_shape=2, shapes=4):
        self.per_shape, self.shapes = per_shape, shapes
        self.pool = {}

    def take(self, shape, dtype):
        key = (tuple(shape), dtype)
        arrays = self.pool.pop(key, [])
        self.pool[key] = arrays  # most recently used last
        found = None
        for j in range(len(arrays)):
            # Owners: the list, and getrefcount's argument: nobody else.
            if sys.getrefcount(arrays[j]) == 2:
                found = arrays[j]
                break
        if found is None:
            np_dtype = np.int16 if dtype in _HALF else _NUMPY[dtype]
            found = np.empty(shape, np_dtype)
            if len(arrays) >= self.per_shape:
                arrays.pop(0)
            arrays.append(found)
            while len(self.pool) > self.shapes:
                self.pool.pop(next(iter(self.pool)))
        t = _torch.from_numpy(found)
        return t.view(dtype) if dtype in _HALF else t

    def clear(self):
        self.pool.clear()


_NUMPY = {_torch.float32: np.float32, _torch.float64: np.float64}
_BUFFERS = _GradientBuffers()


def release_buffers():
    """Frees the gradient buffers the fused cross entropy keeps for reuse."""
    _BUFFERS.clear()


class CrossEntropyFunction(_torch.autograd.Function):
    """PyTorch's ``cross_entropy`` with class-index targets by losslab's fused kernel:
    ``CrossEntropyFunction.apply(input, target, weight, ignore_index, label_smoothing, reduction)``.

    The forward computes the loss and its gradient (for an upstream gradient of ones) in one
    sweep, the gradient into a new buffer of the input's shape and dtype that it keeps; the
    backward hands that buffer on, scaled in place by the upstream gradient unless it is 1
    (per sample for ``reduction="none"``): handed over, not copied. A second backward on the
    same forward (``retain_graph=True``, ``gradcheck``) computes the gradient again."""

    @staticmethod
    def forward(ctx, input, target, weight, ignore_index, label_smoothing, reduction):
        args = (weight, ignore_index, label_smoothing, reduction)
        grad = None
        if ctx.needs_input_grad[0]:
            grad = _buffer_for(input)
        value = _fused(input, target, args, grad)
        ctx.grad, ctx.args, ctx.ndim = grad, args, input.dim()
        ctx.save_for_backward(input, target)  # kept, not copied: for a second backward only
        return value

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        grad, ctx.grad = ctx.grad, None
        if grad is None:
            # A second backward on one forward (retain_graph, gradcheck): the first took the
            # buffer; compute the gradient again.
            input, target = ctx.saved_tensors
            grad = _torch.empty_like(input.detach(), memory_format=_torch.contiguous_format)
            _fused(input, target, ctx.args, grad)
        if ctx.args[3] == "none" and ctx.ndim >= 2:
            grad.mul_(g.unsqueeze(1).to(grad.dtype))
        elif g.item() != 1.0:
            grad.mul_(g.to(grad.dtype))
        return grad, None, None, None, None, None


def _buffer_for(input):
    """A gradient buffer for ``input``: from the pool for a C-contiguous input (autograd's
    layout contract: the gradient's strides are the input's), else a new one of its layout."""
    if input.is_contiguous():
        return _BUFFERS.take(input.shape, input.dtype)
    return _torch.empty_like(input.detach())


def _fused(input, target, args, grad):
    """One sweep of the fused kernel: the value (a tensor of the input's dtype), the
    gradient for an upstream gradient of ones written into ``grad`` when given."""
    weight, ignore_index, label_smoothing, reduction = args
    half = _HALF.get(input.dtype)
    x = input.detach()
    if half:
        x = x.contiguous()
        xa = x.view(_torch.int16).numpy().view(np.uint16)
    else:
        xa = x.numpy()
    ta = target.detach().numpy()
    wa = None if weight is None else _numpy(weight)
    ga = None
    if grad is not None:
        ga = grad.view(_torch.int16).numpy().view(np.uint16) if half else grad.numpy()
    value = _torch.from_numpy(_native.cross_entropy_fused(xa, ta, wa, ignore_index, label_smoothing, reduction, ga, half))
    return value.to(input.dtype) if half else value


_INT = (_torch.int64, _torch.int32)
_FUSED_FLOAT = (_torch.float32, _torch.float64, _torch.bfloat16, _torch.float16)


def _fused_ce(call):
    """The fused path's arguments, or None when it does not apply."""
    x, t, w = call.tensors.get("input"), call.tensors.get("target"), call.tensors.get("weight")
    if not (isinstance(x, _torch.Tensor) and isinstance(t, _torch.Tensor)) or t.dtype not in _INT or x.dtype not in _FUSED_FLOAT:
        return None
    if w is not None and (not isinstance(w, _torch.Tensor) or w.requires_grad or not w.is_floating_point()):
        return None
    if set(call.options) - {"ignore_index", "label_smoothing"}:
        return None
    ii, ls = call.options.get("ignore_index", -100), call.options.get("label_smoothing", 0.0)
    if type(ii) is not int or type(ls) not in (int, float):
        return None
    reduction = "mean" if call.reduction is None else call.reduction
    if reduction not in ("none", "mean", "sum", "batchmean"):
        return None
    return x, t, w, ii, float(ls), reduction


# Losses whose `weight` PyTorch differentiates only with probability targets.
_CLASS_INDEX_WEIGHTED = frozenset({"torch:cross_entropy", "torch:nll_loss"})


def _make(face_fn):
    spec = face_fn.__losslab_spec__
    params = _faces._params(spec)
    sig = face_fn.__signature__
    qname = spec["qualified"]
    face = _faces.FACE[spec["framework"]]
    fn_name = f"losslab.torch_autograd.{face}.{spec['name']}"
    default_reduction = spec["default_reduction"]

    def fn(*args, **kwargs):
        call = _faces._bind(fn_name, spec, params, sig, args, kwargs)
        for n, v in list(call.tensors.items()):
            if isinstance(v, _torch.Tensor):
                _check_device(fn_name, n, v)
            else:
                call.tensors[n] = _torch.as_tensor(np.asarray(v))
        w, t = call.tensors.get("weight"), call.tensors.get("target")
        if qname in _CLASS_INDEX_WEIGHTED and w is not None and w.requires_grad and t is not None and not t.is_floating_point():
            raise RuntimeError(
                f"{fn_name}: `weight` requires grad, but with class-index targets the loss is not differentiable "
                "with respect to it (PyTorch: \"The function 'nll_loss_forward' is not differentiable with respect "
                "to argument 'weight'\"); detach it"
            )
        if qname == "torch:cross_entropy":
            fused = _fused_ce(call)
            if fused is not None:
                return CrossEntropyFunction.apply(*fused)
        reduction = call.reduction if call.reduction is not None else default_reduction
        reduced = reduction is not None and reduction != "none"
        names = tuple(call.tensors)
        return LossFunction.apply(qname, names, call.options, call.reduction, reduced, *call.tensors.values())

    fn.__name__ = spec["name"]
    fn.__qualname__ = spec["name"]
    fn.__module__ = "losslab.torch_autograd"
    fn.__signature__ = sig
    fn.__doc__ = (face_fn.__doc__ or "").replace(
        "Returns:\n    numpy.ndarray", "Returns:\n    torch.Tensor (differentiable)"
    ).replace("``losslab.value_and_grad``", "``loss.backward()``") + (
        "\n\nOn CPU torch tensors (a CUDA tensor raises ValueError naming its device); the result is a "
        "torch.Tensor whose backward gives the reference's gradients."
    )
    fn.__losslab_spec__ = spec
    return fn


def _build():
    faces = {}
    root = {}
    for face, fns in _faces.FACES.items():
        ns = {name: _make(f) for name, f in fns.items()}
        faces[face] = types.SimpleNamespace(**ns)
        for name, f in fns.items():
            if f.__losslab_spec__["root"]:
                root[name] = ns[name]
    return faces, root


_FACES, _ROOT = _build()
globals().update(_ROOT)
torch = _FACES["torch"]  # the face (the module is _torch)
torchvision = _FACES["torchvision"]
torchaudio = _FACES["torchaudio"]
tf = _FACES["tf"]
keras = _FACES["keras"]
optax = _FACES["optax"]
scipy = _FACES["scipy"]
trl = _FACES["trl"]
open_clip = _FACES["open_clip"]
pml = _FACES["pml"]
diffusers = _FACES["diffusers"]
own = _FACES["own"]
__all__ += sorted(_ROOT)
