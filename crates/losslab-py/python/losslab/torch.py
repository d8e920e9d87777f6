"""losslab's face of PyTorch's torch.nn.functional: every such loss of the registry under its reference name,
arguments and defaults, on NumPy arrays (functions generated from the registry's catalog)."""

from ._faces import FACES as _FACES

globals().update(_FACES["torch"])
__all__ = sorted(_FACES["torch"])
del _FACES
