"""Step 1 of Chrysos et al.: a stacked hourglass network (Newell et al. 2016) with pixel output.

Layout at the paper's size (256 px input, width 1.0, down=2):

    stem    conv7x7/2 (64) -> Residual(64->128) [lateral, 128 px] -> maxpool/2 -> Residual(128)
            -> Residual(128->256)                                              features at 64 px
    stacks  `stacks` hourglasses of `depth` levels (64 -> 32 -> 16 -> 8 -> 4 px), each level
            a Residual on the lateral skip plus pool -> Residual -> (inner) -> Residual -> upsample;
            after each: Residual + 1x1 conv-BN-ReLU, merged into the next stack's input
    head    upsample to 128 px + 1x1-projected stem lateral -> Residual(256->64) -> upsample to
            256 px -> concat the input -> conv3x3 (64) -> ReLU -> conv3x3 (3)

The head predicts a residual: output = input[:, :3] + head(...) (not clamped; the inference
wrapper clamps to [0, 1]). `width` scales every channel count, `depth` the number of hourglass
levels, `stacks` the number of hourglasses and `down` (1 or 2) the stem's downsampling, for fast
variants. The input side must be divisible by 2 ** (down + depth).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from streamdeblur.nets.common import Residual, conv_bn_relu, scaled


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


class Hourglass(nn.Module):
    """One recursive hourglass: Residual lateral skip + (pool, Residual, inner, Residual, upsample)."""

    def __init__(self, depth: int, channels: int) -> None:
        super().__init__()
        self.skip = Residual(channels)
        self.down = Residual(channels)
        self.inner: nn.Module = Hourglass(depth - 1, channels) if depth > 1 else Residual(channels)
        self.up = Residual(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.down(F.max_pool2d(x, 2))
        low = self.up(self.inner(low))
        return self.skip(x) + _up(low)


class HG(nn.Module):
    """Stacked hourglass with a pixel (residual) output; see the module docstring for the layout."""

    def __init__(
        self,
        width: float = 1.0,
        stacks: int = 2,
        depth: int = 4,
        down: int = 2,
        in_channels: int = 3,
        out_channels: int = 3,
    ) -> None:
        super().__init__()
        if down not in (1, 2):
            raise ValueError("down must be 1 or 2")
        c1, c2, f = scaled(64, width), scaled(128, width), scaled(256, width)
        self.down_factor = 2 ** (down + depth)
        self.out_channels = out_channels
        self.stem = conv_bn_relu(in_channels, c1, 7, stride=2)
        self.lateral = Residual(c1, c2)
        self.pool = nn.MaxPool2d(2) if down == 2 else nn.Identity()
        self.pre = nn.Sequential(Residual(c2), Residual(c2, f)) if down == 2 else Residual(c2, f)
        self.extra_up = down == 2
        self.hourglasses = nn.ModuleList(Hourglass(depth, f) for _ in range(stacks))
        self.posts = nn.ModuleList(nn.Sequential(Residual(f), conv_bn_relu(f, f, 1)) for _ in range(stacks))
        self.merges = nn.ModuleList(nn.Conv2d(f, f, 1) for _ in range(stacks - 1))
        self.lateral_proj = nn.Conv2d(c2, f, 1)
        self.head_res = Residual(f, c1)
        self.head = nn.Sequential(
            nn.Conv2d(c1 + in_channels, c1, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c1, out_channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lateral = self.lateral(self.stem(x))
        feat = self.pre(self.pool(lateral))
        for i, (hourglass, post) in enumerate(zip(self.hourglasses, self.posts)):
            out = post(hourglass(feat))
            if i < len(self.merges):
                feat = feat + self.merges[i](out)
        if self.extra_up:
            out = _up(out)
        out = self.head_res(out + self.lateral_proj(lateral))
        residual = self.head(torch.cat([_up(out), x], dim=1))
        return x[:, : self.out_channels] + residual

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """The deblurred image (unclamped)."""
        return self.forward(x)
