"""Inference compositions: the two-step HG + G_bl model, and the [0, 1] image wrapper that every
registered model presents to the backends and to ONNX export."""

from __future__ import annotations

import torch
from torch import nn


class TwoStep(nn.Module):
    """Chrysos et al.'s inference model: forward(x) = g_bl(cat(x, hg(x)))."""

    def __init__(self, hg: nn.Module, g_bl: nn.Module) -> None:
        super().__init__()
        self.hg = hg
        self.g = g_bl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g(torch.cat([x, self.hg(x)], dim=1))

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """The deblurred image (unclamped)."""
        return self.forward(x)


class ImageModel(nn.Module):
    """N x 3 x S x S RGB in [0, 1] -> the network's restored image, clamped to [0, 1].

    The wrapped network's restore(x) -> N x 3 x S x S (unclamped) is used, or its forward when it
    has no restore method.
    """

    def __init__(self, net: nn.Module, input_size: int) -> None:
        super().__init__()
        self.net = net
        self.input_size = input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        restore = getattr(self.net, "restore", self.net)
        return restore(x).clamp(0.0, 1.0)
