"""losslab's face of torchaudio's losses (the RNN transducer): every such loss of the registry under
its reference name, arguments and defaults, on NumPy arrays (functions generated from the registry's catalog)."""

from ._faces import FACES as _FACES

globals().update(_FACES["torchaudio"])
__all__ = sorted(_FACES["torchaudio"])
del _FACES
