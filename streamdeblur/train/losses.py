"""Training losses of both papers, one function each (tensors are N x C x H x W, images in [0, 1]).

Adversarial losses: "bce" is the non-saturating GAN loss with logits (the default), "lsgan" the
least-squares one (real -> 1, fake -> 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from streamdeblur.errors import MissingDependencyError, UserError

GAN_LOSSES = ("bce", "lsgan")


def l1(output: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean absolute error; with weight (broadcastable to the inputs) a weighted mean sum(w|o-t|)/sum(w)."""
    diff = (output - target).abs()
    if weight is None:
        return diff.mean()
    weight = weight.expand_as(diff)
    return (diff * weight).sum() / weight.sum().clamp_min(1e-12)


def charbonnier(output: Tensor, target: Tensor, eps: float = 1e-3, weight: Tensor | None = None) -> Tensor:
    """Mean sqrt((o - t)^2 + eps^2): L1 that is smooth at zero (the loss of MPRNet, NAFNet-style recipes)."""
    d = output - target
    err = torch.sqrt(d * d + eps * eps)
    if weight is None:
        return err.mean()
    weight = weight.expand_as(err)
    return (err * weight).sum() / weight.sum().clamp_min(1e-12)


def psnr_loss(output: Tensor, target: Tensor, eps: float = 1e-5, weight: Tensor | None = None) -> Tensor:
    """Mean over samples of 10 log10(MSE + eps): minus each sample's PSNR, the loss of NAFNet. Every sample counts
    in decibels, so a face that is already almost sharp weighs as much as a blurry one (the mean PSNR gain that
    eval reports); eps caps that at 50 dB, so inputs left sharp (sharp_frac) do not swamp the batch."""
    d = (output - target) ** 2
    if weight is None:
        mse = d.flatten(1).mean(dim=1)
    else:
        weight = weight.expand_as(d)
        mse = (d * weight).flatten(1).sum(dim=1) / weight.flatten(1).sum(dim=1).clamp_min(1e-12)
    return 10.0 * torch.log10(mse + eps).mean()


def temporal_change(images: Tensor) -> Tensor:
    """Row 2i+1 minus row 2i: the change from each exposure to the next in a batch of consecutive pairs of rows
    (CachedPairs with neighbour). A flicker loss compares the output's with the sharp frames' (Lai et al., "Learning
    blind video temporal consistency": there with flow-warped frames; here the two crops are each aligned by their own
    landmarks, as the engine sees them, so what is left of the face's motion is in the sharp frames' change too)."""
    if images.shape[0] % 2:
        raise ValueError(f"a batch of consecutive pairs has an even number of rows, got {images.shape[0]}")
    return images[1::2] - images[0::2]


def fft_l1(output: Tensor, target: Tensor) -> Tensor:
    """L1 between the 2-D real FFTs (real and imaginary parts) of output and target, per pixel (MIMO-UNet)."""
    fo = torch.fft.rfft2(output.float(), norm="ortho")
    ft = torch.fft.rfft2(target.float(), norm="ortho")
    return (torch.view_as_real(fo) - torch.view_as_real(ft)).abs().mean()


def changed_pixel_weight(blurry: Tensor, sharp: Tensor, strength: float) -> Tensor:
    """Per-pixel weight 1 + strength * d / mean(d), d = |blurry - sharp| averaged over channels (N x 1 x H x W).

    Pixels that the blur changed weigh more, so still regions (where "return the input" is already
    right) do not dominate the L1 loss; strength 0 gives plain L1.
    """
    d = (blurry - sharp).abs().mean(dim=1, keepdim=True)
    mean = d.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return 1.0 + strength * d / mean


def image_gradients(x: Tensor) -> tuple[Tensor, Tensor]:
    """Forward finite differences along x (width) and y (height): shapes (..., H, W-1) and (..., H-1, W)."""
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def gradient_l1(output: Tensor, target: Tensor) -> Tensor:
    """L1 between the finite-difference gradients of output and target: mean|dx| term + mean|dy| term."""
    ox, oy = image_gradients(output)
    tx, ty = image_gradients(target)
    return (ox - tx).abs().mean() + (oy - ty).abs().mean()


def structure(x: Tensor, eps: float = 1e-6) -> Tensor:
    """Gradient-magnitude "structure" map, same size as x: sqrt(dx^2 + dy^2 + eps) with zero-padded edges."""
    dx, dy = image_gradients(x)
    dx = F.pad(dx, (0, 1, 0, 0))
    dy = F.pad(dy, (0, 0, 0, 1))
    return torch.sqrt(dx * dx + dy * dy + eps)


def projection_loss(fake_features: Tensor, real_features: Tensor) -> Tensor:
    """L1 between the discriminator's penultimate features of the output and of the target (target detached)."""
    return (fake_features - real_features.detach()).abs().mean()


def reconstruction_l1(reconstruction: Tensor, sharp: Tensor) -> Tensor:
    """L1 of the sharp auto-encoder pathway G_s(y) against y."""
    return l1(reconstruction, sharp)


def generator_adversarial(fake_logits: Tensor, kind: str = "bce") -> Tensor:
    """Generator's adversarial loss on the discriminator's logits for generated images."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if kind == "lsgan":
        return ((fake_logits - 1.0) ** 2).mean()
    raise UserError(f"unknown GAN loss {kind!r}; use one of {', '.join(GAN_LOSSES)}")


def discriminator_adversarial(real_logits: Tensor, fake_logits: Tensor, kind: str = "bce") -> Tensor:
    """Discriminator's loss: real -> 1, fake -> 0, averaged over the two halves."""
    if kind == "bce":
        real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    elif kind == "lsgan":
        real = ((real_logits - 1.0) ** 2).mean()
        fake = (fake_logits**2).mean()
    else:
        raise UserError(f"unknown GAN loss {kind!r}; use one of {', '.join(GAN_LOSSES)}")
    return 0.5 * (real + fake)


def multiscale_l1(images: Sequence[Tensor], structures: Sequence[Tensor], target: Tensor,
                  structure_weight: float = 1.0, structure_fn: Callable[[Tensor], Tensor] = structure) -> Tensor:
    """Shen's multi-task loss: at every scale, L1 on the image + structure_weight * L1 on its structure.

    The target is area-resized to each output's size; the structure target is structure_fn(target)
    at that scale (the gradient magnitude by default; the multiscale net predicts its own layout,
    nets.multiscale.structure_target, which the trainer passes here).
    """
    total = target.new_zeros(())
    for image, struct in zip(images, structures, strict=True):
        t = target if image.shape[-2:] == target.shape[-2:] else F.interpolate(target, size=image.shape[-2:], mode="area")
        total = total + l1(image, t)
        if structure_weight:
            total = total + structure_weight * l1(struct, structure_fn(t))
    return total


# --- VGG19 perceptual loss -------------------------------------------------------------------

# torchvision's vgg19().features layout: numbers are conv widths, "M" max-pools.
_VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
# indices (in that Sequential) of the ReLU after conv1_2, conv2_2, conv3_2, conv4_2, conv5_2
VGG19_LAYERS = {"conv1_2": 3, "conv2_2": 8, "conv3_2": 13, "conv4_2": 22, "conv5_2": 31}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_features() -> nn.Sequential:
    """VGG19's convolutional trunk with torchvision's module indices (state-dict keys "N.weight")."""
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG19_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=False)]
            channels = int(item)
    return nn.Sequential(*layers)


class VGGPerceptual(nn.Module):
    """L1 between VGG19 features (after the ReLUs of conv1_2..conv5_2) of output and target, averaged over layers."""

    def __init__(self, features: nn.Sequential, layers: Sequence[str] = tuple(VGG19_LAYERS)) -> None:
        super().__init__()
        self.taps = sorted(VGG19_LAYERS[name] for name in layers)
        self.features = features[: self.taps[-1] + 1].eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def extract(self, x: Tensor) -> list[Tensor]:
        """Features at the tapped layers of an RGB [0, 1] batch."""
        x = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            real = self.extract(target)
        fake = self.extract(output)
        return sum((f - r).abs().mean() for f, r in zip(fake, real)) / len(fake)


def load_vgg19(path: str | Path) -> VGGPerceptual:
    """VGG19 perceptual loss from a state dict (torchvision's vgg19 .pth or .safetensors; "features." prefix optional)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"VGG19 weights not found: {path} (give a torchvision vgg19 state dict, or leave the option out)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file is the user's to replace
        raise UserError(f"--vgg19 {path} cannot be read as a VGG19 state dict ({exc.__class__.__name__}): give "
                        "torchvision's vgg19 weights (.pth or .safetensors), or leave the option out") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"--vgg19 {path} is not a VGG19 state dict (no tensors by name in it)")
    features = vgg19_features()
    own = {str(k).removeprefix("features."): v for k, v in state.items() if not str(k).startswith("classifier.")}
    try:
        missing, _ = features.load_state_dict(own, strict=False)
    except RuntimeError:  # tensors of other shapes under VGG19's names
        raise UserError(f"--vgg19 {path} is not a VGG19 state dict (its tensors have other shapes)") from None
    if missing:
        raise UserError(f"--vgg19 {path} is not a VGG19 state dict (missing {missing[0]} and {len(missing) - 1} more)")
    return VGGPerceptual(features)


# --- identity loss ---------------------------------------------------------------------------


class IdentityLoss(nn.Module):
    """1 - cosine similarity between face embeddings of output and target (embedder frozen).

    Inputs are RGB [0, 1] crops; they are resized to the embedder's input size and normalised as
    (255 x - 127.5) / 128 (MobileFaceNet / insightface convention).
    """

    def __init__(self, embedder: nn.Module, size: int = 112) -> None:
        super().__init__()
        self.embedder = embedder.eval()
        for p in self.embedder.parameters():
            p.requires_grad_(False)
        self.size = size

    def embed(self, x: Tensor) -> Tensor:
        """Flattened embeddings of an RGB [0, 1] batch."""
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.embedder((x * 255.0 - 127.5) / 128.0).flatten(1)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            real = self.embed(target)
        fake = self.embed(output)
        return (1.0 - F.cosine_similarity(fake, real, dim=1)).mean()


def load_identity(path: str | Path) -> IdentityLoss:
    """Identity loss from an ONNX face-embedding model (a file, or a folder holding one) or a TorchScript .pt."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.onnx")) + sorted(path.glob("*.pt"))
        if not found:
            raise UserError(f"no .onnx or .pt face-embedding model in {path}")
        path = found[0]
    if not path.is_file():
        raise UserError(f"identity model not found: {path}")
    if path.suffix == ".onnx":
        from streamdeblur.train.onnx_module import load_onnx_module

        module, size = load_onnx_module(path)
        return IdentityLoss(module, size=size)
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any load failure is the user's file
        raise MissingDependencyError(f"cannot load {path} as TorchScript ({exc.__class__.__name__}); give an .onnx or a torch.jit-saved .pt") from exc
    return IdentityLoss(module)
