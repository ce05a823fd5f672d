"""A NAFNet-style U-Net (Chen et al., "Simple Baselines for Image Restoration", ECCV 2022), sized for CPUs.

    intro conv3x3 (3K -> w) at S px                      K = frames (1: one image; 3 or 5: a stack of
    encoder   level i: NAFBlock(w * 2^i) x enc[i],        consecutive aligned crops of one track, the
              then a 2x2 stride-2 conv to 2x channels    restored one in the middle: early fusion)
    middle    NAFBlock(w * 2^L) x mid at S / 2^L px (most blocks: cheap at the lowest resolution)
    decoder   1x1 conv to 2x channels + PixelShuffle(2), + the encoder's level-i features,
              NAFBlock x dec[i]
    ending conv3x3 (w -> 3), zero-initialised; output = centre frame + ending(...): training starts from
              "return the centre frame" and learns only what the blur changed

tlc (inference, 0 by default: global): Chu et al.'s test-time local converter ("Improving Image Restoration by
Revisiting Global Information Aggregation", ECCV 2022). A net trained on patches pools its channel attention over a
patch; run on a larger crop it pools over more than it ever saw. With tlc = BASE, each block pools over the BASE /
2^level window that holds the pixel (shifted to stay inside the map) where its map is larger than that, and over
the whole map elsewhere: a BASE no smaller than the training patch leaves training unchanged. An engine's card sets
it ("tlc"); it is a mean of the same values, so the weights are the same.

dropout (training only, 0 by default): channel dropout of the features entering the ending conv, as Kong et
al.'s "Reflash Dropout in Image Super-Resolution" (CVPR 2022) for restoration nets that overfit their training
content; no parameters, so the weights and the exported graph are the same with or without it.

delta (temporal nets): the intro conv is given each neighbour minus the centre frame instead of the
neighbour. The same function class; but in a warm start from a single-frame net, whose centre weights
already fit, the neighbour weights' gradient is the centre weights' (noise about zero) plus a small
difference term, so Adam's per-weight scaling moves them by a fraction of the learning rate. Given the
differences, their gradient is that term alone.

NAFBlock: x + beta * conv1x1(SCA(SimpleGate(dwconv3x3(conv1x1(LN(x)))))), then
          y + gamma * conv1x1(SimpleGate(conv1x1(LN(y)))), with beta = gamma = 0 at initialisation
          (skip-init); SimpleGate(x) = x1 * x2 over
          the channel halves; SCA = simplified channel attention x * conv1x1(avgpool(x)).
LayerNorm2d normalises over channels per pixel (batch-size independent; exports to ONNX as
elementwise ops). The input side must be divisible by 2^len(enc).

folded (inference): the same function in fewer passes over the feature maps, which is what costs on a CPU (in
onnxruntime the elementwise ops and the layout changes around them took more time than the convolutions): each
LayerNorm's scale and shift are folded into the 1x1 conv after it, beta and gamma into the conv before them, each
SimpleGate's halves come from two convs instead of slicing one, and each 1x1 conv + PixelShuffle up is the one
stride-2 transposed conv it equals. Equal to the trained net up to float rounding (a few 1e-7).
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of each pixel of an N x C x H x W tensor."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return normalise(x, self.eps) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def normalise(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Each pixel's channels to mean 0 and variance 1 (LayerNorm2d without its scale and shift)."""
    d = x - x.mean(1, keepdim=True)
    return d * torch.rsqrt((d * d).mean(1, keepdim=True) + eps)


class SimpleGate(nn.Module):
    """x1 * x2 of the two channel halves."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


def _box_mean(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Means of the n - k + 1 windows of k that fit along dim, from a running sum (cost independent of k)."""
    c = torch.cumsum(x, dim)
    n = x.shape[dim]
    first = c.narrow(dim, k - 1, 1)
    rest = c.narrow(dim, k, n - k) - c.narrow(dim, 0, n - k)
    return torch.cat([first, rest], dim) / k


def window_means(x: torch.Tensor, k: int) -> torch.Tensor:
    """Means of x over every k x k window that fits inside the map (stride 1; k no larger than the map): running
    sums along each axis, so the cost does not grow with k."""
    return _box_mean(_box_mean(x, min(k, x.shape[2]), 2), min(k, x.shape[3]), 3)


def spread(m: torch.Tensor, k: int, h: int, w: int) -> torch.Tensor:
    """window_means' map back to h x w: each pixel gets the window that holds it, shifted to stay inside the map
    (the edge windows repeated)."""
    kh, kw = min(k, h), min(k, w)
    return F.pad(m, (kw // 2, kw - 1 - kw // 2, kh // 2, kh - 1 - kh // 2), mode="replicate")


def local_mean(x: torch.Tensor, k: int, then: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Per-pixel mean of x over the k x k window that holds the pixel, shifted to stay inside the map (TLC's
    clamped window); the global mean where the map is no larger than k. then: a per-pixel map (a 1x1 conv) applied
    to the means before they are spread to the pixels: the same result as after, on far fewer values."""
    then = then or (lambda m: m)
    h, w = x.shape[-2:]
    if k >= h and k >= w:
        return then(x.mean((2, 3), keepdim=True))
    return spread(then(window_means(x, k)), k, h, w)


class NAFBlock(nn.Module):
    """The NAFNet block: a gated depthwise-conv mixer and a gated feed-forward, both skip-initialised."""

    def __init__(self, c: int, expand: int = 2, ffn_expand: int = 2) -> None:
        super().__init__()
        dw = c * expand
        self.norm1 = LayerNorm2d(c)
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.sg = SimpleGate()
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, 1))
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.conv4 = nn.Conv2d(c, c * ffn_expand, 1)
        self.conv5 = nn.Conv2d(c * ffn_expand // 2, c, 1)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.window = 0  # the channel attention's pooling window (0: the whole map); NAFNet.set_tlc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.sg(self.conv2(self.conv1(self.norm1(x))))
        # TLC: the attention of each window that holds a pixel, computed once per window (set_tlc)
        attention = local_mean(y, self.window, self.sca[1]) if self.window else self.sca(y)
        y = self.conv3(y * attention)
        x = x + self.beta * y
        y = self.conv5(self.sg(self.conv4(self.norm2(x))))
        return x + self.gamma * y


def _conv(weight: torch.Tensor, bias: torch.Tensor, groups: int = 1) -> nn.Conv2d:
    """A stride-1 conv holding these weights, padded to keep the size (k // 2)."""
    k = weight.shape[2]
    conv = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], k, padding=k // 2, groups=groups)
    conv.weight.data.copy_(weight)
    conv.bias.data.copy_(bias)
    return conv


def _folded_pointwise(conv: nn.Conv2d, norm: LayerNorm2d) -> tuple[nn.Conv2d, nn.Conv2d]:
    """The 1x1 conv after a LayerNorm with the norm's scale and shift folded in, as two convs: the halves of its
    output that a SimpleGate multiplies."""
    w = conv.weight[:, :, 0, 0]
    weight, bias = (w * norm.weight[None]).view(*conv.weight.shape), conv.bias + w @ norm.bias
    half = len(weight) // 2
    return _conv(weight[:half], bias[:half]), _conv(weight[half:], bias[half:])


def _scaled(conv: nn.Conv2d, scale: nn.Parameter) -> nn.Conv2d:
    """The conv with its output channels multiplied by scale (1 x C x 1 x 1)."""
    s = scale.view(-1)
    return _conv(conv.weight * s.view(-1, 1, 1, 1), conv.bias * s)


class FoldedNAFBlock(nn.Module):
    """A trained NAFBlock's function in fewer passes over the feature maps (see `folded` in the module docstring)."""

    def __init__(self, block: NAFBlock) -> None:
        super().__init__()
        with torch.no_grad():
            self.conv1a, self.conv1b = _folded_pointwise(block.conv1, block.norm1)
            half = block.conv2.out_channels // 2
            w, b = block.conv2.weight, block.conv2.bias
            self.conv2a, self.conv2b = _conv(w[:half], b[:half], groups=half), _conv(w[half:], b[half:], groups=half)
            self.sca = copy.deepcopy(block.sca)
            self.conv3 = _scaled(block.conv3, block.beta)
            self.conv4a, self.conv4b = _folded_pointwise(block.conv4, block.norm2)
            self.conv5 = _scaled(block.conv5, block.gamma)
        self.eps1, self.eps2, self.window = block.norm1.eps, block.norm2.eps, block.window

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = normalise(x, self.eps1)
        y = self.conv2a(self.conv1a(n)) * self.conv2b(self.conv1b(n))
        attention = local_mean(y, self.window, self.sca[1]) if self.window else self.sca(y)
        x = x + self.conv3(y * attention)
        n = normalise(x, self.eps2)
        return x + self.conv5(self.conv4a(n) * self.conv4b(n))


def _up_transposed(up: nn.Sequential) -> nn.ConvTranspose2d:
    """1x1 conv (C -> 4C', no bias) + PixelShuffle(2) as the 2x2 stride-2 transposed conv (C -> C') it equals:
    output channel 4o + 2i + j of the conv is channel o's pixel (i, j) of each 2 x 2 block."""
    conv = up[0]
    c_out = conv.out_channels // 4
    transposed = nn.ConvTranspose2d(conv.in_channels, c_out, 2, stride=2, bias=False)
    transposed.weight.data.copy_(conv.weight[:, :, 0, 0].view(c_out, 2, 2, conv.in_channels).permute(3, 0, 1, 2))
    return transposed


def _blocks(c: int, n: int) -> nn.Sequential:
    return nn.Sequential(*[NAFBlock(c) for _ in range(n)])


def _plain(c: int, f: int) -> torch.Tensor:
    """widened's map for a feature map of c channels: new channel j holds old channel j // f."""
    return torch.arange(c * f) // f


def _gated(c: int, f: int) -> torch.Tensor:
    """The map for c channels that a SimpleGate halves: each half duplicated within itself, so that the wider
    gate multiplies the same pairs."""
    j = torch.arange(c * f)
    half = c * f // 2
    return (j // half) * (c // 2) + (j % half) // f


def _shuffled(c: int, f: int) -> torch.Tensor:
    """The map for the 4C' output channels of a conv before PixelShuffle(2): channel 4o + k of the wider conv is
    sub-pixel k of old channel o // f, so the shuffled map follows _plain."""
    j = torch.arange(c * f)
    return 4 * ((j // 4) // f) + j % 4


def widened(state: dict[str, torch.Tensor], factor: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """A NAFNet state_dict for `factor` times the width that computes the same function (Net2WiderNet, Chen et
    al. 2016, for this block): every feature channel is repeated `factor` times (LayerNorm's mean and variance
    over the channels of a pixel stay the same, each SimpleGate multiplies the same pairs); a conv reading
    repeated channels splits each input's weight among its copies with random shares that sum to one, so the
    output is unchanged while the copies get different gradients and can drift apart in training. Returned in
    float32."""
    gen = torch.Generator().manual_seed(seed)
    f = factor

    def shares(c: int) -> torch.Tensor:
        s = 1.0 + 0.5 * (torch.rand(c * f, generator=gen) - 0.5)  # 0.75-1.25, then normalised per original
        return s / s.view(c, f).sum(1).repeat_interleave(f)

    def rows(key: str, n: int) -> torch.Tensor | None:
        """Which old channel each of the wider tensor's output channels (dim 0) holds; None: the 3 RGB outputs."""
        if key.startswith("ending."):
            return None
        if key.startswith("ups."):
            return _shuffled(n, f)
        if key.split(".")[-2] in ("conv1", "conv2", "conv4"):  # the channels a SimpleGate halves
            return _gated(n, f)
        return _plain(n, f)

    wide = {}
    for key, v in state.items():
        w = v.float()
        if key.endswith((".beta", ".gamma")):  # (1, C, 1, 1) residual scales: their channels are on dim 1
            wide[key] = w[:, _plain(v.shape[1], f)]
            continue
        r = rows(key, v.shape[0])
        if r is not None:
            w = w[r]
        # a conv reading feature channels (not intro's RGB frames, not a depthwise conv's one input per group)
        if v.dim() == 4 and not key.startswith("intro.") and key.split(".")[-2] != "conv2":
            w = w[:, _plain(v.shape[1], f)] * shares(v.shape[1]).view(1, -1, 1, 1)
        wide[key] = w  # float32: an fp16 release's weights split by the shares would round
    return wide


class NAFNet(nn.Module):
    """NAFNet-style U-Net with a residual output on the centre frame; see the module docstring."""

    def __init__(self, width: int = 16, enc: tuple[int, ...] = (1, 1, 1), mid: int = 6,
                 dec: tuple[int, ...] = (1, 1, 1), frames: int = 1, delta: bool = False) -> None:
        super().__init__()
        if len(enc) != len(dec):
            raise ValueError("enc and dec need one entry per level")
        if frames < 1 or frames % 2 == 0:
            raise ValueError(f"frames must be odd and positive, got {frames}")
        self.frames, self.delta = frames, delta and frames > 1
        self.dropout = 0.0  # set by training (TrainConfig.dropout); see the module docstring
        self.tlc = 0  # set_tlc
        self.down_factor = 2 ** len(enc)
        self.intro = nn.Conv2d(3 * frames, width, 3, padding=1)
        self.encoders, self.downs, self.ups, self.decoders = (nn.ModuleList() for _ in range(4))
        c = width
        for n in enc:
            self.encoders.append(_blocks(c, n))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.middle = _blocks(c, mid)
        for n in dec:
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(_blocks(c, n))
        self.ending = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(self.ending.weight)  # with skip-init, training starts from "return the centre frame"
        nn.init.zeros_(self.ending.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.frames // 2
        centre = x[:, 3 * k:3 * k + 3]
        if self.delta:  # the neighbours enter as their difference from the centre frame
            x = torch.cat([centre if j == k else x[:, 3 * j:3 * j + 3] - centre for j in range(self.frames)], dim=1)
        h = self.intro(x)
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            h = encoder(h)
            skips.append(h)
            h = down(h)
        h = self.middle(h)
        for decoder, up, skip in zip(self.decoders, self.ups, reversed(skips)):
            h = decoder(up(h) + skip)
        if self.training and self.dropout > 0:
            h = F.dropout2d(h, self.dropout)
        return centre + self.ending(h)

    def folded(self) -> "NAFNet":
        """A copy computing the same function faster, for inference only (see the module docstring)."""
        net = copy.deepcopy(self).eval()
        with torch.no_grad():
            for stage in (*net.encoders, net.middle, *net.decoders):
                for i, block in enumerate(stage):
                    stage[i] = FoldedNAFBlock(block)
            for i, up in enumerate(net.ups):
                net.ups[i] = _up_transposed(up)
        return net

    def set_tlc(self, base: int) -> None:
        """Pool each block's channel attention over a base / 2^level window (0: over the whole map, as trained)."""
        if base < 0:
            raise ValueError(f"tlc must be 0 or a window in pixels, got {base}")
        self.tlc = int(base)
        levels = [(b, i) for i, e in enumerate(self.encoders) for b in e]
        levels += [(b, len(self.encoders)) for b in self.middle]
        levels += [(b, len(self.decoders) - 1 - i) for i, d in enumerate(self.decoders) for b in d]
        for block, level in levels:
            block.window = max(1, self.tlc >> level) if self.tlc else 0

    @property
    def hash_tag(self) -> str:
        """What state_hash adds to the weights: the TLC window (none when off, so caches keyed before stay valid)."""
        return f"tlc={self.tlc}" if self.tlc else ""

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """The deblurred centre image (unclamped)."""
        return self.forward(x)
