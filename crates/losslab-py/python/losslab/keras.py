"""losslab's face of Keras's keras.losses: every such loss of the registry under its reference name,
arguments and defaults, on NumPy arrays (functions generated from the registry's catalog)."""

from ._faces import FACES as _FACES

globals().update(_FACES["keras"])
__all__ = sorted(_FACES["keras"])
del _FACES
