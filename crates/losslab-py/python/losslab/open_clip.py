"""losslab's face of OpenCLIP's contrastive losses: every such loss of the registry under its reference name,
arguments and defaults, on NumPy arrays (functions generated from the registry's catalog)."""

from ._faces import FACES as _FACES

globals().update(_FACES["open_clip"])
__all__ = sorted(_FACES["open_clip"])
del _FACES
