"""Model names and the shipped adapter's location, importable without torch (Slicer reads them before
its Python dependencies are installed)."""

from __future__ import annotations

from pathlib import Path

from .backbones import BACKBONES

_ADAPTERS = Path(__file__).resolve().parents[1] / "resources" / "adapters"
SPINAL_ADAPTER = _ADAPTERS / "spinal.safetensors"
VERTEBRA_ADAPTER = _ADAPTERS / "vertebra.safetensors"
#: Named models that are LiteMedSAM plus an adapter shipped in this package.
SHIPPED_ADAPTERS: dict[str, Path] = {"spinal": SPINAL_ADAPTER, "vertebra": VERTEBRA_ADAPTER}
#: The backbone each shipped adapter was trained on.
SHIPPED_BACKBONES: dict[str, str] = {"spinal": "litemedsam", "vertebra": "litemedsam"}
MODEL_NAMES: tuple[str, ...] = ("spinal", "vertebra", *BACKBONES)
DEFAULT_MODEL = "spinal" if SPINAL_ADAPTER.is_file() else "litemedsam"
#: The default of the 3D vertebra mode: trained on single vertebrae (per-vertebra targets, empty ends).
DEFAULT_VERTEBRA_MODEL = "vertebra" if VERTEBRA_ADAPTER.is_file() else DEFAULT_MODEL


def backbone_of(name: str) -> str:
    """The backbone of model ``name``: a shipped adapter's, else the name itself."""
    return SHIPPED_BACKBONES.get(name, name)
