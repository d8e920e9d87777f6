"""losslab: the loss functions of deep learning under the reference frameworks' own names.

Every loss of losslab's registry (``losslab list``), on NumPy arrays:

* ``losslab.torch``, ``losslab.torchvision``, ``losslab.torchaudio``, ``losslab.tf``, ``losslab.keras``,
  ``losslab.optax``, ``losslab.scipy``, ``losslab.trl``, ``losslab.open_clip``,
  ``losslab.pml``, ``losslab.diffusers``: the frameworks' names, positional and keyword
  arguments and defaults (``losslab.torch.cross_entropy(input, target, weight=None,
  ignore_index=-100, reduction="mean", label_smoothing=0.0)``); ``losslab.own``: losslab's own.
* The package's top level: the unqualified names as ``losslab eval`` resolves them (the
  first of torch, torchvision, torchaudio, tf, keras, optax, scipy, trl, open_clip, pml, diffusers, losslab that has the name):
  ``losslab.cross_entropy`` is PyTorch's, ``losslab.hinge`` Keras's, ``losslab.entropy`` SciPy's.
* ``losslab.value_and_grad(fn, *args, wrt=None, grad_output=None, **kwargs)``: the value
  and the registry's gradients.
* ``losslab.torch_autograd``: every loss as a ``torch.autograd.Function`` on CPU tensors
  (imported on demand: ``import losslab.torch_autograd``).

Values are NumPy arrays: a reduced loss is a 0-d array (``float(v)`` gives the Python
float), an unreduced one has the reference's shape. Inputs are float32 or float64
(float16 and bfloat16 are computed in float32, except the fused cross entropy, which takes
them as they are), with int32 or int64 class indices. Bad input raises ``ValueError``
(shapes, class indices, values, options) or ``TypeError`` (dtypes, argument names).
"""

from . import _native
from ._faces import CATALOG as _CATALOG, FRAMEWORKS, ROOT as _ROOT, value_and_grad

globals().update(_ROOT)

from . import diffusers, keras, open_clip, optax, own, pml, scipy, tf, torch, torchaudio, torchvision, trl  # noqa: E402  (the faces)


def catalog():
    """The registry's catalog: one dict per loss (framework, name, qualified, summary,
    tensors, options with defaults, default_reduction, grads, root)."""
    import copy

    return copy.deepcopy(list(_CATALOG))


def evaluate(loss, tensors, options=None, reduction=None, grad_output=None, want_grads=False, with_outputs=False):
    """The registry's dynamic call, as ``losslab eval``: ``loss`` by its name
    (``"torch:cross_entropy"``, or unqualified), ``tensors`` by argument name, ``options`` by
    key. Returns ``(value, grads)``: the value and, with ``want_grads``, the gradients of
    ``Σ grad_output · value`` by tensor name; with ``with_outputs``, ``(value, grads,
    outputs)``, ``outputs`` the loss's other outputs by name (``linear_cross_entropy``'s
    ``z_loss``, and ``lse``, ``entropy``, ``predicted`` when its options ask for them)."""
    from ._faces import _array

    arrays = {k: _array(v) for k, v in tensors.items() if v is not None}
    go = None if grad_output is None else _array(grad_output)
    return _native.evaluate(loss, arrays, dict(options or {}), reduction, go, want_grads, with_outputs)


__all__ = sorted(_ROOT) + ["catalog", "evaluate", "value_and_grad", "FRAMEWORKS",
                           "torch", "torchvision", "torchaudio", "tf", "keras", "optax", "scipy", "trl", "open_clip", "pml", "diffusers", "own"]
del _ROOT
