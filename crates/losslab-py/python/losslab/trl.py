"""losslab's face of Hugging Face TRL's losses (preference optimisation, policy gradients, distillation): every such loss of the registry under its reference name,
arguments and defaults, on NumPy arrays (functions generated from the registry's catalog)."""

from ._faces import FACES as _FACES

globals().update(_FACES["trl"])
__all__ = sorted(_FACES["trl"])
del _FACES
