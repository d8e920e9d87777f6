"""losslab's face of SciPy's scipy.stats: every such loss of the registry under its reference name,
arguments and defaults, on NumPy arrays (functions generated from the registry's catalog)."""

from ._faces import FACES as _FACES

globals().update(_FACES["scipy"])
__all__ = sorted(_FACES["scipy"])
del _FACES
