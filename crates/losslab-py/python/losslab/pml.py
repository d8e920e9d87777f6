"""losslab's face of pytorch-metric-learning's metric-learning losses: every such loss of the registry under its reference name,
arguments and defaults, on NumPy arrays (functions generated from the registry's catalog)."""

from ._faces import FACES as _FACES

globals().update(_FACES["pml"])
__all__ = sorted(_FACES["pml"])
del _FACES
