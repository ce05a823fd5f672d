"""Step 2 of Chrysos et al.: the two-pathway conditional GAN generator and its discriminator.

Generator (width 1.0, 256 px input; every 4x4 layer has stride 2 and padding 1):

    encoder (one per pathway: `enc_bl` on 6 channels = blurry + HG output, `enc_s` on 3 = sharp)
      e1 conv4x4   in ->   64   128 px   + residual unit
      e2 conv4x4   64 ->  128    64 px                     (U-Net skip to the decoder, 64 px)
      e3 conv4x4  128 ->  256    32 px   + residual unit
      e4 conv4x4  256 ->  512    16 px
      e5 conv4x4  512 ->  512     8 px   + residual unit
      e6 conv4x4  512 ->  512     4 px
      e7 conv4x4  512 ->  512     2 px
      e8 conv1x1  512 ->  256     2 px   (the code)
    decoder (shared by both pathways: the same parameter tensors)
      d1 tconv1x1  256 -> 1024    2 px   + residual unit
      d2 tconv4x4 1024 ->  512    4 px
      d3 tconv4x4  512 ->  512    8 px   + residual unit
      d4 tconv4x4  512 ->  512   16 px
      d5 tconv4x4  512 ->  256   32 px
      d6 tconv4x4  256 ->  128   64 px
      d7 tconv4x4  128+128 -> 64   128 px  (input concatenated with e2: U-Net skip 1)
      d8 tconv4x4   64+64 ->   3   256 px  (input concatenated with e1: U-Net skip 2), linear output

Each layer but the last is followed by BatchNorm + ReLU (LeakyReLU 0.2 in the encoder, as in
pix2pix). A "residual unit" is the bottleneck Residual of nets/common.py (identity shortcut, shape
kept). The output is the image itself, not a residual on the input (the paper's design): the decoder
is shared with the sharp auto-encoder G_s, for which a residual would be trivial. It is unclamped (the
inference wrapper clamps to [0, 1]).

`residual=True` (not the paper's; the registered `hg-cgan-res` model): each pathway adds the decoder's output to
its own image input (G_bl to the blurry image, its first 3 channels), and the decoder's last layer
starts at zero, so the generator starts as the identity. Without it, every output pixel is rebuilt
from the 128-px features of e1, which cannot give back the input's fine detail short of very long
training (CPU runs of both reduced widths stalled 5 dB below their blurred input). G_s then only asks
the decoder to leave a sharp face's code unchanged; recipes train it with w_recon=0.

Sizes: seven stride-2 layers, so the input side must be a multiple of 128. At 128 px the same
layers run with a 1x1 code (as pix2pix's 256 px U-Net does); note that BatchNorm on a 1x1 code
needs a training batch of at least 2.

Discriminator: a 5-layer PatchGAN (conv4x4 64/2, 128/2, 256/2, 512/1, 1/1; BN after layers 2-4;
LeakyReLU 0.2), 256 px -> 30x30 logits. `features()` returns (logits, penultimate features: the
512-channel map of layer 4, after its activation) for the projection loss. With cond_channels > 0
it is conditional: D(image, condition) concatenates the condition (e.g. the blurry input).
"""

from __future__ import annotations

import torch
from torch import nn

from streamdeblur.nets.common import Residual, scaled

ENCODER_CHANNELS = (64, 128, 256, 512, 512, 512, 512, 256)
DECODER_CHANNELS = (1024, 512, 512, 512, 256, 128, 64, 3)
ENCODER_RESIDUAL_AFTER = (1, 3, 5)
DECODER_RESIDUAL_AFTER = (1, 3)


def _norm_act(channels: int, leaky: bool) -> list[nn.Module]:
    act: nn.Module = nn.LeakyReLU(0.2, inplace=True) if leaky else nn.ReLU(inplace=True)
    return [nn.BatchNorm2d(channels), act]


class Encoder(nn.Module):
    """Eight layers, residual units after layers 1, 3, 5; returns (code, e1, e2)."""

    def __init__(self, in_channels: int, width: float = 1.0) -> None:
        super().__init__()
        chans = [scaled(c, width) for c in ENCODER_CHANNELS]
        layers = []
        prev = in_channels
        for i, c in enumerate(chans, start=1):
            conv = nn.Conv2d(prev, c, 1) if i == 8 else nn.Conv2d(prev, c, 4, stride=2, padding=1, bias=False)
            block: list[nn.Module] = [conv, *_norm_act(c, leaky=True)]
            if i in ENCODER_RESIDUAL_AFTER:
                block.append(Residual(c))
            layers.append(nn.Sequential(*block))
            prev = c
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        skips = []
        for layer in self.layers:
            x = layer(x)
            skips.append(x)
        return x, skips[0], skips[1]


class Decoder(nn.Module):
    """Eight transposed convolutions, residual units after layers 1, 3; U-Net skips into 7 and 8."""

    def __init__(self, width: float = 1.0, out_channels: int = 3) -> None:
        super().__init__()
        enc = [scaled(c, width) for c in ENCODER_CHANNELS]
        chans = [scaled(c, width) for c in DECODER_CHANNELS[:-1]] + [out_channels]
        skip_in = {7: enc[1], 8: enc[0]}
        layers = []
        prev = enc[-1]
        for i, c in enumerate(chans, start=1):
            cin = prev + skip_in.get(i, 0)
            if i == 1:
                conv = nn.ConvTranspose2d(cin, c, 1, bias=False)
            else:
                conv = nn.ConvTranspose2d(cin, c, 4, stride=2, padding=1, bias=(i == 8))
            block: list[nn.Module] = [conv]
            if i < 8:
                block += _norm_act(c, leaky=False)
            if i in DECODER_RESIDUAL_AFTER:
                block.append(Residual(c))
            layers.append(nn.Sequential(*block))
            prev = c
        self.layers = nn.ModuleList(layers)

    def forward(self, code: torch.Tensor, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        x = code
        for i, layer in enumerate(self.layers, start=1):
            if i == 7:
                x = torch.cat([x, e2], dim=1)
            elif i == 8:
                x = torch.cat([x, e1], dim=1)
            x = layer(x)
        return x


class Pathway(nn.Module):
    """One generator pathway: an encoder and the (shared) decoder; with residual, the decoder's output
    is added to the pathway's image input (its first 3 channels)."""

    def __init__(self, encoder: Encoder, decoder: Decoder, residual: bool = False) -> None:
        super().__init__()
        self.enc = encoder
        self.dec = decoder
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dec(*self.enc(x))
        return x[:, :3] + out if self.residual else out

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """The deblurred image (unclamped)."""
        return self.forward(x)


class Generator(nn.Module):
    """Two pathways sharing one decoder: forward_bl (blurry [+ HG output]) and forward_s (sharp)."""

    def __init__(self, width: float = 1.0, bl_channels: int = 6, s_channels: int = 3,
                 residual: bool = False) -> None:
        super().__init__()
        self.enc_bl = Encoder(bl_channels, width)
        self.enc_s = Encoder(s_channels, width)
        self.dec = Decoder(width)
        self.bl_channels = bl_channels
        self.residual = residual
        self.min_size = 128
        if residual:
            last = self.dec.layers[-1][0]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward_bl(self, x: torch.Tensor) -> torch.Tensor:
        """G_bl: N x bl_channels x S x S -> N x 3 x S x S image."""
        return self.bl_pathway()(x)

    def forward_s(self, y: torch.Tensor) -> torch.Tensor:
        """G_s: the sharp image auto-encoded through the shared decoder (training only)."""
        return Pathway(self.enc_s, self.dec, self.residual)(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_bl(x)

    def bl_pathway(self) -> Pathway:
        """The inference pathway (enc_bl + dec) as a module holding the same parameters."""
        return Pathway(self.enc_bl, self.dec, self.residual)


class Discriminator(nn.Module):
    """Five-layer PatchGAN; features() also returns the penultimate feature map."""

    def __init__(self, in_channels: int = 3, cond_channels: int = 0, width: float = 1.0) -> None:
        super().__init__()
        c = [scaled(n, width) for n in (64, 128, 256, 512)]
        self.cond_channels = cond_channels
        self.body = nn.Sequential(
            nn.Sequential(nn.Conv2d(in_channels + cond_channels, c[0], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)),
            nn.Sequential(nn.Conv2d(c[0], c[1], 4, 2, 1, bias=False), nn.BatchNorm2d(c[1]), nn.LeakyReLU(0.2, inplace=True)),
            nn.Sequential(nn.Conv2d(c[1], c[2], 4, 2, 1, bias=False), nn.BatchNorm2d(c[2]), nn.LeakyReLU(0.2, inplace=True)),
            nn.Sequential(nn.Conv2d(c[2], c[3], 4, 1, 1, bias=False), nn.BatchNorm2d(c[3]), nn.LeakyReLU(0.2, inplace=True)),
        )
        self.out = nn.Conv2d(c[3], 1, 4, 1, 1)

    def _input(self, image: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        if self.cond_channels:
            if condition is None or condition.shape[1] != self.cond_channels:
                raise ValueError(f"this discriminator needs a {self.cond_channels}-channel condition")
            return torch.cat([condition, image], dim=1)
        return image

    def features(
        self, image: torch.Tensor, condition: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(patch logits N x 1 x h x w, penultimate features N x 512 x h' x w')."""
        feat = self.body(self._input(image, condition))
        return self.out(feat), feat

    def forward(self, image: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.features(image, condition)[0]
