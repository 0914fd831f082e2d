"""CBAM (Woo et al., 2018): channel attention, then spatial attention, on the image embedding.

Applied to the (B, 256, 64, 64) embedding between the image encoder and the mask decoder. The block
is wrapped as ``x + gate * (cbam(x) - x)`` with ``gate`` starting at 0, so an untrained block leaves
the base model's behaviour unchanged and fine-tuning starts from the zero-shot model.
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelAttention(nn.Module):
    """Per-channel weights from average- and max-pooled descriptors through a shared MLP."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1)
        )

    def forward(self, x_bchw: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x_bchw.mean(dim=(2, 3), keepdim=True))
        mx = self.mlp(x_bchw.amax(dim=(2, 3), keepdim=True))
        return x_bchw * torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    """Per-position weights from channel-wise mean and max maps through one k x k convolution."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x_bchw: torch.Tensor) -> torch.Tensor:
        maps = torch.cat([x_bchw.mean(dim=1, keepdim=True), x_bchw.amax(dim=1, keepdim=True)], dim=1)
        return x_bchw * torch.sigmoid(self.conv(maps))


class CBAM(nn.Module):
    """Gated residual CBAM: ``x + gate * (spatial(channel(x)) - x)``; shape-preserving (B, C, H, W)."""

    def __init__(self, channels: int = 256, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel_size)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, x_bchw: torch.Tensor) -> torch.Tensor:
        attended = self.spatial(self.channel(x_bchw))
        return x_bchw + self.gate * (attended - x_bchw)
