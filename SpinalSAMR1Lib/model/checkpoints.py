"""Reading checkpoint files and recognising which backbone a state dict belongs to."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from ..errors import UserError
from .backbones import BACKBONE_SPECS


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a state dict on the CPU from .pth/.pt (plain, {"model": ...} or {"state_dict": ...}) or .safetensors.

    Tensors only (``weights_only=True``): a checkpoint cannot run code when loaded. A DataParallel
    ``module.`` prefix is removed.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"checkpoint not found: {p}")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(p))
        else:
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise UserError(
            f"cannot read checkpoint {p}: truncated, corrupt or not a PyTorch/safetensors file "
            f"({type(exc).__name__})"
        ) from exc
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{p} does not contain a state dict of tensors")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def detect_backbone(state: dict[str, torch.Tensor]) -> str:
    """Name the backbone of a SAM-family state dict ("litemedsam", "vit_b", "vit_l" or "vit_h") from the
    specs' ``state_marker`` key prefixes, else from a ViT's ``pos_embed`` width and number of blocks."""
    for spec in BACKBONE_SPECS.values():
        if spec.state_marker and any(k.startswith(spec.state_marker) for k in state):
            return spec.name
    pos = state.get("image_encoder.pos_embed")
    by_width = {spec.vit_width: spec for spec in BACKBONE_SPECS.values() if spec.vit_width}
    if pos is not None and pos.shape[-1] in by_width:
        spec = by_width[int(pos.shape[-1])]
        depth = len({k.split(".")[2] for k in state if k.startswith("image_encoder.blocks.")})
        if depth == spec.vit_depth:
            return spec.name
        raise UserError(
            f"ViT checkpoint of width {pos.shape[-1]} has {depth} blocks; expected {spec.vit_depth}"
        )
    raise UserError("not a SAM, MedSAM or LiteMedSAM state dict (no known image encoder keys)")


def weights_digest(state: dict[str, torch.Tensor], samples_per_tensor: int = 4096) -> str:
    """A short fingerprint of base weights: every key, shape and dtype, and about ``samples_per_tensor``
    values of each tensor on a regular stride (milliseconds even for ViT-H). Two trainings of the same
    architecture differ in almost every weight, so the sample tells them apart; it is stored in adapters
    to refuse one trained on other base weights."""
    h = hashlib.blake2b(digest_size=12)
    for key in sorted(state):
        t = state[key].detach().reshape(-1)
        step = max(1, t.numel() // samples_per_tensor)
        h.update(f"{key}|{tuple(state[key].shape)}|{t.dtype}".encode())
        h.update(t[::step].to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()
