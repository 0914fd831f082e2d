"""Models: one registry of SAM-family backbones, LoRA + CBAM adapters, verification and device status.

Names (``MODEL_NAMES``, ``DEFAULT_MODEL``) come from :mod:`.names` and need no torch; everything else is
imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_attributes
from .names import BACKBONES, DEFAULT_MODEL, MODEL_NAMES, SPINAL_ADAPTER

_LAZY = {
    "apply_adapter": ".adapter",
    "read_adapter": ".adapter",
    "save_adapter": ".adapter",
    "device_status": ".diagnostics",
    "verify": ".diagnostics",
    "LoraSettings": ".lora",
    "inject_lora": ".lora",
    "build_backbone": ".registry",
    "load_model": ".registry",
    "resolve_device": ".registry",
    "ModelInfo": ".spine_sam",
    "SpineSAM": ".spine_sam",
}

__all__ = ["BACKBONES", "DEFAULT_MODEL", "MODEL_NAMES", "SPINAL_ADAPTER", *sorted(_LAZY)]


__getattr__ = lazy_attributes(__name__, _LAZY, globals())
