"""Run LiteMedSAM's TinyViT on inputs of any size that is a multiple of 4, not only 256 x 256.

TinyViT is convolutions plus window attention whose position biases depend on the window, not the image,
so its weights fit any input size. The vendored code stores the size in each stage
(``input_resolution``, used to fold token sequences back into maps) and hard-codes the 64 x 64 output
grid; this module sets those sizes and folds the output with the real grid.

Why: a tall sagittal crop of the lumbar spine (about 689 x 288 px) squeezed into the square 256 px input
uses 107 of 256 columns, so 58 % of the encoder's work is spent on padding. An input of the same pixel
count shaped like the crop (for example 380 x 160) sees the anatomy at 1.5 x the resolution for the same
cost (see ``predictor.resized_shape`` with ``fit="area"``).

The size is state on the encoder: run one model from one thread at a time (the predictor's worker
thread does), as with any module in training mode.

Sizes: input (B, 3, H, W) with H, W multiples of 4; stage 0 runs at (H, W), stage 1 at (H/2, W/2),
stages 2 and 3 at (H/4, W/4); the embedding is (B, 256, H/4, W/4) (64 x 64 for 256 x 256).
"""

from __future__ import annotations

import torch
from torch import nn

PATCH = 4  # input pixels per embedding cell


def stage_sizes(input_hw: tuple[int, int]) -> list[tuple[int, int]]:
    """(rows, cols) each of the four stages works at for an (H, W) input."""
    h, w = input_hw
    if h % PATCH or w % PATCH or h <= 0 or w <= 0:
        raise ValueError(f"TinyViT input sides must be positive multiples of {PATCH}, got {h} x {w}")
    return [(h, w), (h // 2, w // 2), (h // 4, w // 4), (h // 4, w // 4)]


def set_input_size(encoder: nn.Module, input_hw: tuple[int, int]) -> None:
    """Make every stage of ``encoder`` (a LiteMedSAM TinyViT) expect an (H, W) input."""
    for layer, size in zip(encoder.layers, stage_sizes(input_hw), strict=True):
        layer.input_resolution = size
        for block in layer.blocks:
            if hasattr(block, "input_resolution"):
                block.input_resolution = size
        if layer.downsample is not None:
            layer.downsample.input_resolution = size


def embedding_grid(encoder: nn.Module) -> tuple[int, int]:
    """(rows, cols) of the embedding for the size last set with :func:`set_input_size`."""
    return tuple(encoder.layers[-1].input_resolution)


def tokens_to_embedding(encoder: nn.Module, tokens_blc: torch.Tensor) -> torch.Tensor:
    """Last-stage tokens (B, h*w, C) -> (B, 256, h, w) embedding through the encoder's neck."""
    return encoder.neck(tokens_to_map(tokens_blc, embedding_grid(encoder)))


def encode(encoder: nn.Module, images_b3hw: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 256, H/4, W/4): the TinyViT forward pass at the input's own size."""
    return encode_with_taps(encoder, images_b3hw)[0]


def run_stage0(layer: nn.Module, stem_bchw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage 0 (a convolutional layer) on the (B, 64, H, W) patch embedding -> its full-resolution
    features before downsampling, (B, 64, H, W), and its output tokens, (B, H/2 * W/2, 128)."""
    x = stem_bchw
    for block in layer.blocks:
        x = block(x)
    return x, layer.downsample(x)


def tokens_to_map(tokens_blc: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """(B, h*w, C) row-major tokens -> (B, C, h, w)."""
    b, n, c = tokens_blc.shape
    if n != hw[0] * hw[1]:
        raise ValueError(f"{n} tokens do not fold into {hw[0]} x {hw[1]}")
    return tokens_blc.view(b, hw[0], hw[1], c).permute(0, 3, 1, 2)


def encode_with_taps(
    encoder: nn.Module, images_b3hw: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, 3, H, W) -> embedding (B, 256, H/4, W/4), stage 0's full-resolution features (B, 64, H, W) and
    stage 0's output as a map (B, 128, H/2, W/2): the inputs of :class:`~.detail.DetailBranch`."""
    set_input_size(encoder, tuple(images_b3hw.shape[-2:]))
    full_res, x = run_stage0(encoder.layers[0], encoder.patch_embed(images_b3hw))
    stage0 = tokens_to_map(x, stage_sizes(tuple(images_b3hw.shape[-2:]))[1])
    for layer in encoder.layers[1:]:
        x = layer(x)
    return tokens_to_embedding(encoder, x), full_res, stage0
