"""High-resolution detail for the mask decoder: early TinyViT features added to its upscaled mask features.

Why: SAM's decoder upsamples the (256, H/4, W/4) embedding with two 2 x 2 transposed convolutions of
stride 2, so every 4 x 4 block of mask logits is a function of one embedding cell. Where a structure's
outline runs through the block (a vertebra's cortical rim, an endplate), the boundary can only be as
sharp as one 256-vector can describe it. HQ-SAM's remedy, transposed to LiteMedSAM: features from the
encoder's first stages, which still have the input's resolution, are compressed and fused with the
upscaled mask features before the mask tokens read them.

Shapes (input H x W, multiples of 4):
- ``stem``: stage 0's full-resolution features (its blocks, before downsampling), (B, 64, H, W);
  ``stage0``: stage 0's output, (B, 128, H/2, W/2) (see ``tinyvit_size.encode_with_taps``).
- ``features(stem, stage0)`` -> (B, 16, H, W) detail map, computed once per image with the embedding.
- ``refine(upscaled, detail)``: (B, 32, H, W) upscaled mask features -> the same shape, with a residual
  whose last convolution starts at zero, so a new branch leaves a trained model's output unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STEM_CHANNELS = 64  # LiteMedSAM TinyViT stage 0 at full resolution
STAGE0_CHANNELS = 128  # LiteMedSAM TinyViT layers.0 output (after its downsampling)
MASK_CHANNELS = 32  # SAM decoder: channels of the upscaled mask features


class DetailBranch(nn.Module):
    """Early-feature detail map and its fusion into the decoder's upscaled mask features (~21 k weights)."""

    def __init__(self, detail_channels: int = 16, hidden: int = 24) -> None:
        super().__init__()
        self.from_stem = nn.Conv2d(STEM_CHANNELS, detail_channels, 1)
        self.from_stage0 = nn.Conv2d(STAGE0_CHANNELS, detail_channels, 1)
        self.fuse = nn.Sequential(
            nn.Conv2d(MASK_CHANNELS + detail_channels, hidden, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(hidden, MASK_CHANNELS, 3, padding=1),
        )
        nn.init.zeros_(self.fuse[-1].weight)
        nn.init.zeros_(self.fuse[-1].bias)

    def features(self, stem_bchw: torch.Tensor, stage0_bchw: torch.Tensor) -> torch.Tensor:
        """(B, 64, H, W) stem and (B, 128, H/2, W/2) stage-0 maps -> (B, 16, H, W) detail map."""
        coarse = F.interpolate(
            self.from_stage0(stage0_bchw), size=stem_bchw.shape[-2:], mode="bilinear", align_corners=False
        )
        return F.gelu(self.from_stem(stem_bchw) + coarse)

    def refine(self, upscaled_bchw: torch.Tensor, detail_bchw: torch.Tensor) -> torch.Tensor:
        """(B, 32, H, W) upscaled mask features + (1 or B, 16, H, W) detail -> (B, 32, H, W)."""
        if detail_bchw.shape[-2:] != upscaled_bchw.shape[-2:]:
            raise ValueError(
                f"detail map {tuple(detail_bchw.shape[-2:])} does not match the mask grid "
                f"{tuple(upscaled_bchw.shape[-2:])}"
            )
        detail = detail_bchw.expand(upscaled_bchw.shape[0], -1, -1, -1).to(upscaled_bchw.dtype)
        return upscaled_bchw + self.fuse(torch.cat([upscaled_bchw, detail], dim=1))
