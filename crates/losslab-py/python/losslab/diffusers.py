"""losslab's face of diffusers' noise-level weightings of diffusion losses: every such loss of the registry under its reference name,
arguments and defaults, on NumPy arrays (functions generated from the registry's catalog)."""

from ._faces import FACES as _FACES

globals().update(_FACES["diffusers"])
__all__ = sorted(_FACES["diffusers"])
del _FACES
