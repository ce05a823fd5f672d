"""Shen et al.'s two-scale, multi-task face deblurring network (128 px faces).

One network, run at two scales with the same weights (coarse = input 2x2-average-pooled, then fine):

    input   6 channels: coarse scale = cat(blurry_down, blurry_down);
                        fine scale   = cat(blurry, upsample(coarse image result))
    trunk   conv11x11 (6 -> 64) + ReLU, conv5x5 (64) + ReLU, `n_res` ResBlocks
            (conv5x5 - ReLU - conv5x5, identity shortcut), shared by both tasks
    image branch      ResBlock -> conv5x5 (64 -> 3): a residual added to the blurry input
    structure branch  ResBlock -> conv5x5 (64 -> 6): the sharp image's gradient structure,
                      i.e. structure_target(sharp) = (d/dx, d/dy) of each RGB channel

forward() returns {"images": [coarse, fine], "structures": [coarse, fine]} (coarse first; coarse
tensors are half the side) for the training losses; restore() returns only the fine image and
skips the structure branch. `width` scales the 64 channels. The input side must be even.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from streamdeblur.nets.common import scaled


def structure_target(image: torch.Tensor) -> torch.Tensor:
    """Gradient structure of an N x 3 x H x W image: N x 6 x H x W (d/dx of RGB, then d/dy; zero-padded)."""
    dx = F.pad(image[..., :, 1:] - image[..., :, :-1], (0, 1, 0, 0))
    dy = F.pad(image[..., 1:, :] - image[..., :-1, :], (0, 0, 0, 1))
    return torch.cat([dx, dy], dim=1)


class ResBlock(nn.Module):
    """conv5x5 - ReLU - conv5x5 with an identity shortcut (no normalisation, as in deblurring nets)."""

    def __init__(self, channels: int, kernel: int = 5) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, kernel, padding=kernel // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, kernel, padding=kernel // 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Multiscale(nn.Module):
    """Two scales, shared weights, shared trunk with image and structure branches."""

    def __init__(self, width: float = 1.0, n_res: int = 6, kernel: int = 5) -> None:
        super().__init__()
        c = scaled(64, width)
        self.trunk = nn.Sequential(
            nn.Conv2d(6, c, 11, padding=5),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, kernel, padding=kernel // 2),
            nn.ReLU(inplace=True),
            *[ResBlock(c, kernel) for _ in range(n_res)],
        )
        self.image_branch = nn.Sequential(ResBlock(c, kernel), nn.Conv2d(c, 3, kernel, padding=kernel // 2))
        self.structure_branch = nn.Sequential(ResBlock(c, kernel), nn.Conv2d(c, 6, kernel, padding=kernel // 2))

    def _scale(self, blurry: torch.Tensor, guide: torch.Tensor, structure: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        feat = self.trunk(torch.cat([blurry, guide], dim=1))
        image = blurry + self.image_branch(feat)
        return image, (self.structure_branch(feat) if structure else None)

    def _coarse(self, x: torch.Tensor, structure: bool) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        small = F.avg_pool2d(x, 2)
        image, struct = self._scale(small, small, structure)
        return image, struct, F.interpolate(image, scale_factor=2.0, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        coarse, coarse_struct, guide = self._coarse(x, structure=True)
        fine, fine_struct = self._scale(x, guide, structure=True)
        return {"images": [coarse, fine], "structures": [coarse_struct, fine_struct]}

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """The fine-scale deblurred image only (unclamped); no structure branch."""
        _, _, guide = self._coarse(x, structure=False)
        return self._scale(x, guide, structure=False)[0]
