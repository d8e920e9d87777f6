"""losslab's face of losslab's own losses (information theory, focal, quantile, Jaccard, Lovász): every such loss of the registry under its reference name,
arguments and defaults, on NumPy arrays (functions generated from the registry's catalog)."""

from ._faces import FACES as _FACES

globals().update(_FACES["own"])
__all__ = sorted(_FACES["own"])
del _FACES
