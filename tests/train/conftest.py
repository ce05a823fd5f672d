"""Tiny networks and pair sets for fast training tests (32-128 px, widths of a few channels)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F


class PairSet(torch.utils.data.Dataset):
    """A fixed in-memory set of (blurry, sharp) 3 x S x S pairs: sharp is smooth noise, blurry a box blur of it."""

    def __init__(self, n: int = 8, size: int = 32, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        sharp = F.interpolate(torch.rand(n, 3, size // 4, size // 4, generator=gen), size=size, mode="bilinear")
        sharp = (sharp + 0.15 * torch.rand(n, 3, size, size, generator=gen)).clamp(0, 1)
        kernel = torch.ones(3, 1, 1, 5) / 5.0
        self.sharp = sharp
        self.blurry = F.conv2d(F.pad(sharp, (2, 2, 0, 0), mode="replicate"), kernel, groups=3)

    def __len__(self) -> int:
        return len(self.sharp)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.blurry[i], self.sharp[i]


def tiny_hg() -> torch.nn.Module:
    from streamdeblur.nets.hourglass import HG

    return HG(width=0.125, stacks=1, depth=2)


def tiny_cgan_parts(variant: str = "full") -> dict[str, torch.nn.Module]:
    from streamdeblur.nets.cgan import Discriminator, Generator

    parts = {"g": Generator(width=0.125, bl_channels=3 if variant == "no-hg" else 6),
             "d": Discriminator(cond_channels=3, width=0.125)}
    if variant != "no-hg":
        parts["hg"] = tiny_hg()
    return parts


@pytest.fixture
def pairs32() -> PairSet:
    return PairSet(8, 32)


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
