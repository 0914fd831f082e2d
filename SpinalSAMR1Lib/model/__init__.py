"""Models: one registry of SAM-family backbones, LoRA + CBAM adapters, verification and device status."""

from .adapter import apply_adapter, read_adapter, save_adapter
from .diagnostics import device_status, verify
from .lora import LoraSettings, inject_lora
from .registry import (
    BACKBONES,
    DEFAULT_MODEL,
    MODEL_NAMES,
    SPINAL_ADAPTER,
    build_backbone,
    load_model,
    resolve_device,
)
from .spine_sam import ModelInfo, SpineSAM

__all__ = [
    "BACKBONES",
    "DEFAULT_MODEL",
    "MODEL_NAMES",
    "SPINAL_ADAPTER",
    "LoraSettings",
    "ModelInfo",
    "SpineSAM",
    "apply_adapter",
    "build_backbone",
    "device_status",
    "inject_lora",
    "load_model",
    "read_adapter",
    "resolve_device",
    "save_adapter",
    "verify",
]
