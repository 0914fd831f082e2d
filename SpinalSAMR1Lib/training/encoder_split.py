"""Split an image encoder into a frozen prefix and a trainable suffix.

The frozen prefix's output for a given input never changes during training, so it is computed once per
augmented input and cached; only the suffix (the stages that carry LoRA) runs forward and backward every
step. On a 2-core CPU this is what makes fine-tuning in well under two hours possible.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def tinyvit_stages(encoder: nn.Module) -> list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
    """TinyViT (LiteMedSAM) as named stages: patch_embed, layers.0..3, neck (tokens -> (B, 256, 64, 64))."""
    stages: list[tuple[str, Callable]] = [("patch_embed", encoder.patch_embed)]
    stages += [(f"layers.{i}", layer) for i, layer in enumerate(encoder.layers)]

    def neck(tokens: torch.Tensor) -> torch.Tensor:
        b, _, c = tokens.shape
        return encoder.neck(tokens.view(b, 64, 64, c).permute(0, 3, 1, 2))

    stages.append(("neck", neck))
    return stages


class EncoderSplit:
    """``prefix(x)`` (no grad, cacheable) then ``suffix(h)``; ``prefix`` covers every stage before the first
    one with a trainable parameter. Backbones other than TinyViT are not split (empty prefix)."""

    def __init__(self, encoder: nn.Module, backbone: str) -> None:
        self.encoder = encoder
        if backbone != "litemedsam":
            self.prefix_stages, self.suffix_stages = [], [("encoder", encoder)]
            return
        stages = tinyvit_stages(encoder)
        names = [name for name, _ in stages]
        first = len(stages) - 1  # the neck
        for i, name in enumerate(names[:-1]):
            module = encoder.patch_embed if name == "patch_embed" else encoder.layers[int(name.split(".")[1])]
            if any(p.requires_grad for p in module.parameters()):
                first = i
                break
        if first == len(stages) - 1 and any(p.requires_grad for p in encoder.neck.parameters()):
            first = len(stages) - 1
        elif first == len(stages) - 1:
            first = len(stages)  # nothing trainable: the whole encoder is the prefix
        self.prefix_stages, self.suffix_stages = stages[:first], stages[first:]

    @torch.no_grad()
    def prefix(self, x: torch.Tensor) -> torch.Tensor:
        for _, stage in self.prefix_stages:
            x = stage(x)
        return x

    def suffix(self, h: torch.Tensor) -> torch.Tensor:
        for _, stage in self.suffix_stages:
            h = stage(h)
        return h

    def describe(self) -> str:
        return f"cached: {[n for n, _ in self.prefix_stages] or 'nothing'}; trained: {[n for n, _ in self.suffix_stages] or 'nothing'}"
