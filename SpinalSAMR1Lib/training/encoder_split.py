"""Split an image encoder into a frozen prefix and a trainable suffix.

The frozen prefix's output for a given input never changes during training, so it is computed once per
augmented input and cached; only the suffix (the stages that carry LoRA) runs forward and backward every
step. On a 2-core CPU this is what makes fine-tuning in well under two hours possible.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import UserError
from ..model import tinyvit_size
from ..model.backbones import backbone_spec


class EncoderSplit:
    """``prefix(x)`` (no grad, cacheable) then ``suffix(h)``; ``prefix`` covers every stage before the first
    one with a trainable parameter. Encoders that are not staged (``BackboneSpec.staged_encoder``, TinyViT
    only) are not split (empty prefix).

    Every stage is ``stage(x, input_hw)`` (:func:`~SpinalSAMR1Lib.model.tinyvit_size.stages`): the size of
    the input a cached tensor came from travels with it, nothing is stored on the encoder."""

    def __init__(self, encoder: nn.Module, backbone: str) -> None:
        spec = backbone_spec(backbone)
        self.encoder = encoder
        self.sized = spec.any_input_size  # the encoder takes any input size (multiples of 4)
        self.image_size = spec.image_size
        if not spec.staged_encoder:
            self.prefix_stages, self.suffix_stages = [], [("encoder", lambda x, _hw: encoder(x))]
            return
        stages = tinyvit_size.stages(encoder)
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
        """(B, 3, H, W) input -> the cached prefix output."""
        input_hw = tuple(x.shape[-2:])
        for _, stage in self.prefix_stages:
            x = stage(x, input_hw)
        return x

    @torch.no_grad()
    def prefix_with_taps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Like :meth:`prefix`, plus stage 0's (B, 64, H, W) and (B, 128, H/2, W/2) maps, the detail
        branch's inputs (see ``tinyvit_size.encode_with_taps``); stage 0 must be in the frozen prefix."""
        names = [n for n, _ in self.prefix_stages]
        if not self.sized or "layers.0" not in names:
            raise UserError("the detail branch needs a LiteMedSAM encoder whose stage 0 stays frozen")
        input_hw = tuple(x.shape[-2:])
        stem = stage0 = None
        for name, stage in self.prefix_stages:
            if name == "layers.0":
                stem, x = tinyvit_size.run_stage0(self.encoder.layers[0], x)
                stage0 = tinyvit_size.tokens_to_map(x, tinyvit_size.stage_sizes(input_hw)[1])
            else:
                x = stage(x, input_hw)
        return x, stem, stage0

    def suffix(self, h: torch.Tensor, input_hw: tuple[int, int] | None = None) -> torch.Tensor:
        """Prefix output -> embeddings; ``input_hw`` is the (H, W) of the input ``h`` was computed from
        (default: the backbone's square ``image_size``)."""
        hw = (self.image_size, self.image_size) if input_hw is None else tuple(input_hw)
        for _, stage in self.suffix_stages:
            h = stage(h, hw)
        return h

    def describe(self) -> str:
        return f"cached: {[n for n, _ in self.prefix_stages] or 'nothing'}; trained: {[n for n, _ in self.suffix_stages] or 'nothing'}"
