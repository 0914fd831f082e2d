"""Model names and the shipped adapter's location, importable without torch (Slicer reads them before
its Python dependencies are installed)."""

from __future__ import annotations

from pathlib import Path

BACKBONES: tuple[str, ...] = ("litemedsam", "vit_b", "vit_l", "vit_h")
SPINAL_ADAPTER = Path(__file__).resolve().parents[1] / "resources" / "adapters" / "spinal.safetensors"
MODEL_NAMES: tuple[str, ...] = ("spinal", *BACKBONES)
DEFAULT_MODEL = "spinal" if SPINAL_ADAPTER.is_file() else "litemedsam"
