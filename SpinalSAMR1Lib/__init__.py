"""SpinalSAM-R1: prompt-driven spine segmentation of CT with SAM-family models (LoRA + CBAM).

Importing this package is cheap and does not import torch, so Slicer can load the module before its
dependencies are installed. The public API is loaded on first use:

- ``segment_slice(array, ijk_to_ras, prompts, view="axial", ...)`` -> SliceResult
- ``segment_vertebra(array, ijk_to_ras, prompts, ...)`` -> one vertebra in 3D, uint8 (k, j, i)
- ``segment_volume(array, ijk_to_ras, prompts, view="axial", ...)`` -> uint8 label map (k, j, i)
- ``segment_levels(array, ijk_to_ras, anchor_ras, "L3", ("L1", ..., "L5"))`` -> LevelsResult: every level
  from one named click, VerSe-numbered; ``segment_levels_auto(array, ijk_to_ras)`` without a click
- ``Prompts``, ``Roi``, ``read_volume``, ``write_labelmap``, ``load_model``, ``Predictor``
"""

from __future__ import annotations

from ._lazy import lazy_attributes

__version__ = "0.1.0"

_LAZY = {
    "Prompts": ".volume",
    "SliceResult": ".volume",
    "segment_slice": ".volume",
    "segment_volume": ".volume",
    "segment_vertebra": ".vertebra",
    "segment_levels": ".levels",
    "segment_levels_auto": ".auto_levels",
    "LevelsResult": ".levels",
    "level_range": ".levels",
    "Roi": ".geometry",
    "Volume": ".io",
    "read_volume": ".io",
    "write_labelmap": ".io",
    "load_model": ".model",
    "Predictor": ".predictor",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_attributes(__name__, _LAZY, globals())
