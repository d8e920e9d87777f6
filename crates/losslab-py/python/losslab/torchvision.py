"""losslab's face of torchvision's torchvision.ops: every such loss of the registry under its reference name,
arguments and defaults, on NumPy arrays (functions generated from the registry's catalog)."""

from ._faces import FACES as _FACES

globals().update(_FACES["torchvision"])
__all__ = sorted(_FACES["torchvision"])
del _FACES
