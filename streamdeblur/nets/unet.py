"""A compact residual U-Net for CPU deblurring (not from the papers): full-resolution first level.

    in conv3x3 (3 -> w0) at S px
    encoder   level i: ResBlock(w_i) x enc[i], then a 2x2 stride-2 conv to w_{i+1}     (S, S/2, S/4)
    middle    ResBlock(w3) x mid at S/8 px
    decoder   level i: 2x2 stride-2 transposed conv to w_i, + the encoder's level-i features,
              ResBlock(w_i) x dec[i]
    out conv3x3 (w0 -> 3), initialised to zero: output = input + out(...), so training starts from
    "return the input" and only learns what the blur changed.

ResBlock: x + conv3x3(ReLU(conv3x3(x))), no normalisation (batch-size independent, fuses cleanly in
ONNX). The input side must be divisible by 8.
"""

from __future__ import annotations

import torch
from torch import nn


class ResBlock(nn.Module):
    """x + conv3x3(ReLU(conv3x3(x)))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


def _blocks(channels: int, count: int) -> nn.Sequential:
    return nn.Sequential(*[ResBlock(channels) for _ in range(count)])


class UNet(nn.Module):
    """Four-level residual U-Net with a residual (input + correction) output; see the module docstring."""

    def __init__(self, widths: tuple[int, int, int, int] = (16, 32, 64, 64), enc: tuple[int, int, int] = (1, 1, 2),
                 mid: int = 2, dec: tuple[int, int, int] = (1, 1, 1), in_channels: int = 3) -> None:
        super().__init__()
        w = widths
        self.down_factor = 8
        self.inp = nn.Conv2d(in_channels, w[0], 3, padding=1)
        self.enc = nn.ModuleList(_blocks(w[i], enc[i]) for i in range(3))
        self.down = nn.ModuleList(nn.Conv2d(w[i], w[i + 1], 2, stride=2) for i in range(3))
        self.mid = _blocks(w[3], mid)
        self.up = nn.ModuleList(nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in range(3))
        self.dec = nn.ModuleList(_blocks(w[i], dec[i]) for i in range(3))
        self.out = nn.Conv2d(w[0], 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        skips = []
        for enc, down in zip(self.enc, self.down):
            h = enc(h)
            skips.append(h)
            h = down(h)
        h = self.mid(h)
        for i in reversed(range(3)):
            h = self.dec[i](self.up[i](h) + skips[i])
        return x[:, :3] + self.out(h)

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """The deblurred image (unclamped)."""
        return self.forward(x)
