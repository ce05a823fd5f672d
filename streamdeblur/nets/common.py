"""Building blocks shared by the networks: channel scaling and the bottleneck residual unit."""

from __future__ import annotations

import torch
from torch import nn


def scaled(channels: int, width: float, minimum: int = 8) -> int:
    """Channel count `channels * width`, rounded to a multiple of 4 and at least `minimum`."""
    return max(minimum, int(round(channels * width / 4.0)) * 4)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (weights and biases; buffers such as BN running stats excluded)."""
    return sum(p.numel() for p in module.parameters())


class Residual(nn.Module):
    """Newell et al.'s pre-activation bottleneck residual unit (BN-ReLU-conv1x1, 3x3, 1x1).

    in -> out channels with a 1x1 projection on the shortcut when they differ; spatial size kept.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None) -> None:
        super().__init__()
        out_channels = out_channels or in_channels
        mid = max(4, out_channels // 2)
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, 1),
        )
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


def conv_bn_relu(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Conv (same padding for stride 1) + BatchNorm + ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )
