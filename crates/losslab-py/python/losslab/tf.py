"""losslab's face of TensorFlow's tf.nn: every such loss of the registry under its reference name,
arguments and defaults, on NumPy arrays (functions generated from the registry's catalog)."""

from ._faces import FACES as _FACES

globals().update(_FACES["tf"])
__all__ = sorted(_FACES["tf"])
del _FACES
