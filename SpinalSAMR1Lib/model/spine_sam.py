"""SpineSAM: one SAM-style model (encoder + optional LoRA, optional CBAM, prompt encoder, mask decoder).

Every backbone in the registry is wrapped in this class so that the predictor, training and the Slicer
module see one interface:

- ``encode(images_b3ss)``: (B, 3, S, S) normalised images -> (B, 256, 64, 64) embeddings, CBAM applied.
- ``decode(...)``: embeddings + prompts in the S x S input frame -> (B, C, 256, 256) mask logits and
  (B, C) predicted IoU, C = 3 with ``multimask`` else 1.
- With a detail branch (backbones with ``detail_taps``, :mod:`.detail`), ``encode_parts`` also returns
  the image's (B, 16, H, W) detail map, which ``decode`` then takes as an argument.

What differs between backbones is asked of their spec (:attr:`SpineSAM.spec`, :mod:`.backbones`).
LiteMedSAM also takes inputs of other shapes (``input_fit="area"``, sides multiples of 4): an (H, W)
input gives a (256, H/4, W/4) embedding and (H, W) mask logits, in the frame of an H x W input whose
prompts are normalised as if it were the top-left of a square of side max(H, W) (SAM's padded frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import UserError
from . import tinyvit_size
from .backbones import BackboneSpec, backbone_spec, backbones_with
from .cbam import CBAM
from .detail import DetailBranch, decode_with_detail
from .lora import LoraSettings

_IMAGENET_MEAN = (123.675, 116.28, 103.53)
_IMAGENET_STD = (58.395, 57.12, 57.375)
NORMALIZATIONS = ("unit", "imagenet")
INPUT_FITS = ("square", "area")
ADDED_MODULES = ("cbam.", "detail.")  # SpineSAM's own modules: never in base weights, whole in adapters


def is_added_parameter(name: str) -> bool:
    """True for parameters an adapter adds to a base model (LoRA, CBAM, detail branch)."""
    return "lora_" in name or name.startswith(ADDED_MODULES)


@dataclass
class ModelInfo:
    """What a built model is: backbone, weights it came from, input size, normalisation and adapter."""

    name: str
    backbone: str
    image_size: int
    normalization: str
    checkpoint: str | None = None
    base_digest: str | None = None  # checkpoints.weights_digest of the base weights, when loaded from a file
    adapter: str | None = None
    lora: LoraSettings | None = None
    cbam: bool = False
    detail: bool = False
    crop_margin: float | None = None
    max_stretch: float = 1.0  # see predictor.resized_shape
    input_fit: str = "square"  # "square" (SAM's padded square) or "area" (see predictor.resized_shape)
    input_area: float = 1.0  # area fit: pixel budget in units of image_size ** 2
    max_upscale: float | None = None  # area fit: cap on input pixels per crop pixel (predictor.resized_shape)
    extra: dict = field(default_factory=dict)


class SpineSAM(nn.Module):
    """SAM-family segmenter with optional LoRA (inside ``image_encoder``) and CBAM on the embedding."""

    def __init__(
        self,
        image_encoder: nn.Module,
        prompt_encoder: nn.Module,
        mask_decoder: nn.Module,
        info: ModelInfo,
    ) -> None:
        super().__init__()
        if info.input_fit not in INPUT_FITS:
            raise ValueError(f"input_fit must be one of {INPUT_FITS}, got {info.input_fit!r}")
        if info.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {info.normalization!r}")
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.cbam: CBAM | None = None
        self.detail: DetailBranch | None = None
        self.info = info
        self.register_buffer("pixel_mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def image_size(self) -> int:
        return self.info.image_size

    @property
    def spec(self) -> BackboneSpec:
        """What this model's backbone is and can do."""
        return backbone_spec(self.info.backbone)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def set_input_fit(self, fit: str, area: float = 1.0, max_upscale: float | None = None) -> None:
        """Use SAM's padded square input ("square") or one shaped like the crop ("area", LiteMedSAM only:
        TinyViT takes any input size: ``spec.any_input_size``) with a budget of ``area`` x the square's pixels and at most
        ``max_upscale`` input pixels per crop pixel; see :func:`SpinalSAMR1Lib.predictor.resized_shape`."""
        if fit not in INPUT_FITS:
            raise UserError(f"unknown input fit {fit!r}; choose one of {', '.join(INPUT_FITS)}")
        if fit != "square" and not self.spec.any_input_size:
            capable = " or ".join(backbones_with("any_input_size"))
            raise UserError(f"input fit {fit!r} needs the {capable} backbone, not {self.info.backbone}")
        if fit != "area" and area != 1.0:
            raise UserError("an input area other than 1 applies to the area fit only")
        if not 0.25 <= area <= 4.0:
            raise UserError(f"the input area must be between 0.25 and 4, got {area:g}")
        if max_upscale is not None and (fit != "area" or not 0.5 <= max_upscale <= 8.0):
            raise UserError(f"a maximum upscale (0.5..8) applies to the area fit only, got {max_upscale:g}")
        self.info.input_fit, self.info.input_area = fit, float(area)
        self.info.max_upscale = None if max_upscale is None else float(max_upscale)

    def add_cbam(self, reduction: int = 16, kernel_size: int = 7) -> CBAM:
        """Attach a (gate = 0, hence neutral) CBAM block on the embedding and return it."""
        self.cbam = CBAM(256, reduction, kernel_size).to(self.device)
        self.info.cbam = True
        return self.cbam

    def add_detail(self) -> DetailBranch:
        """Attach a (residual = 0, hence neutral) high-resolution detail branch (``spec.detail_taps``:
        LiteMedSAM only); an existing one is returned as it is."""
        if not self.spec.detail_taps:
            capable = " or ".join(backbones_with("detail_taps"))
            raise UserError(f"the detail branch needs the {capable} backbone, not {self.info.backbone}")
        if self.detail is None:
            self.detail = DetailBranch().to(self.device)
            self.info.detail = True
        return self.detail

    def normalize(self, images_b3hw: torch.Tensor) -> torch.Tensor:
        """Grey levels 0..255 -> the backbone's input range: [0, 1] ("unit") or ImageNet mean/std."""
        if self.info.normalization == "imagenet":
            return (images_b3hw - self.pixel_mean) / self.pixel_std
        return images_b3hw / 255.0

    def encode(self, images_b3ss: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) normalised images -> (B, 256, 64, 64) image embeddings (CBAM applied).

        LiteMedSAM accepts (B, 3, H, W) with H, W multiples of 4 -> (B, 256, H/4, W/4). A model with a
        detail branch needs :meth:`encode_parts` instead."""
        if self.detail is not None:
            raise RuntimeError("this model has a detail branch: use encode_parts()")
        return self.encode_parts(images_b3ss)[0]

    def encode_parts(self, images_b3ss: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Like :meth:`encode`, plus the (B, 16, H, W) detail map of a model with a detail branch (else
        None); pass both to :meth:`decode`."""
        detail = None
        if not self.spec.any_input_size:
            embeddings = self.image_encoder(images_b3ss)
        elif self.detail is None:
            embeddings = tinyvit_size.encode(self.image_encoder, images_b3ss)
        else:
            embeddings, stem, stage0 = tinyvit_size.encode_with_taps(self.image_encoder, images_b3ss)
            detail = self.detail.features(stem, stage0)
        if self.cbam is not None:
            embeddings = self.cbam(embeddings)
        return embeddings, detail

    def decode(
        self,
        embeddings_bchw: torch.Tensor,
        points_bn2: torch.Tensor | None = None,
        labels_bn: torch.Tensor | None = None,
        boxes_b4: torch.Tensor | None = None,
        mask_input_b1hw: torch.Tensor | None = None,
        multimask: bool = False,
        detail_bchw: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts in the S x S input frame -> (B, C, 256, 256) logits and (B, C) IoU predictions.

        ``detail_bchw``: the detail map from :meth:`encode_parts`, required with a detail branch."""
        if self.detail is not None and detail_bchw is None:
            raise RuntimeError("this model has a detail branch: pass the detail map from encode_parts()")
        detail = detail_bchw if self.detail is not None else None
        return self._decode(
            embeddings_bchw, points_bn2, labels_bn, boxes_b4, mask_input_b1hw, multimask, detail
        )

    def _decode(self, embeddings_bchw, points_bn2, labels_bn, boxes_b4, mask_input_b1hw, multimask, detail):
        batch = embeddings_bchw.shape[0]
        if batch > 1 and not self.spec.batched_decode:
            # segment-anything's decoder repeats one embedding per prompt; decode sample by sample (a
            # detail map is one per sample or one for all).
            outs = [
                self._decode(
                    embeddings_bchw[b : b + 1],
                    None if points_bn2 is None else points_bn2[b : b + 1],
                    None if labels_bn is None else labels_bn[b : b + 1],
                    None if boxes_b4 is None else boxes_b4[b : b + 1],
                    None if mask_input_b1hw is None else mask_input_b1hw[b : b + 1],
                    multimask,
                    detail if detail is None or detail.shape[0] == 1 else detail[b : b + 1],
                )
                for b in range(batch)
            ]
            return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])
        grid = tuple(embeddings_bchw.shape[-2:])
        if grid != tuple(self.prompt_encoder.image_embedding_size):
            return self._decode_on_grid(
                embeddings_bchw, points_bn2, labels_bn, boxes_b4, mask_input_b1hw, multimask, detail
            )
        points = None if points_bn2 is None else (points_bn2, labels_bn)
        sparse, dense = self.prompt_encoder(points=points, boxes=boxes_b4, masks=mask_input_b1hw)
        return self._mask_decoder(
            embeddings_bchw, self.prompt_encoder.get_dense_pe(), sparse, dense, multimask, detail
        )

    def _mask_decoder(self, embeddings_bchw, image_pe, sparse, dense, multimask, detail):
        """The mask decoder, refined by the detail branch when ``detail`` (its map) is given."""
        if detail is None:
            return self.mask_decoder(
                image_embeddings=embeddings_bchw,
                image_pe=image_pe,
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask,
            )
        return decode_with_detail(
            self.mask_decoder, self.detail, detail, embeddings_bchw, image_pe, sparse, dense, multimask
        )

    def _decode_on_grid(
        self, embeddings_bchw, points_bn2, labels_bn, boxes_b4, mask_input_b1hw, multimask, detail=None
    ):
        """Decode an (h, w) embedding other than the prompt encoder's own grid (non-square inputs).

        The input frame is the top-left of a square of side max(h, w) cells, exactly what SAM's
        resize-and-pad would give: prompts are rescaled to that square's normalisation and the dense
        positional encoding is the square's, cropped to (h, w).
        """
        pe_enc = self.prompt_encoder
        h, w = embeddings_bchw.shape[-2:]
        side = max(h, w)
        frame_px = side * self.image_size / pe_enc.image_embedding_size[0]
        ratio = self.image_size / frame_px

        def rescale(coords: torch.Tensor | None) -> torch.Tensor | None:
            # the prompt encoder maps pixel p to (p + 0.5) / S; we need (p + 0.5) / frame_px
            return None if coords is None else (coords + 0.5) * ratio - 0.5

        points = None if points_bn2 is None else (rescale(points_bn2), labels_bn)
        sparse, dense = pe_enc(points=points, boxes=rescale(boxes_b4), masks=mask_input_b1hw)
        if mask_input_b1hw is None:
            dense = pe_enc.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(sparse.shape[0], -1, h, w)
        image_pe = pe_enc.pe_layer((side, side))[None, :, :h, :w]
        return self._mask_decoder(embeddings_bchw, image_pe, sparse, dense, multimask, detail)
