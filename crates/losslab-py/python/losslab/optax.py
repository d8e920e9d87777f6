"""losslab's face of optax's optax.losses: every such loss of the registry under its reference name,
arguments and defaults, on NumPy arrays (functions generated from the registry's catalog)."""

from ._faces import FACES as _FACES

globals().update(_FACES["optax"])
__all__ = sorted(_FACES["optax"])
del _FACES
