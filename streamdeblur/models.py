"""Model registry: name -> builder, input size, weights in engines/<name>/, card.

Every registered model is wrapped so that forward() takes and returns N x 3 x S x S RGB float
tensors in [0, 1]; the backends know nothing else about the networks.

Training side: `build_parts(name)` returns the raw modules a trainer needs, keyed by role:
    "hg"  the hourglass (step 1; residual output, unclamped)
    "g"   the generator: nets.Generator (forward_bl / forward_s; shared decoder) or nets.Multiscale
    "d"   the discriminator (nets.Discriminator; for the cGAN models conditional on the blurry
          input: d(image, condition=blurry), d.features(...) -> (logits, penultimate features))
and `inference_module(name, parts)` assembles the [0, 1] inference module from those same module
objects (parameters shared, nothing copied), so that `save_weights(inference_module(name, parts),
spec.weights_path, metadata)` releases a trained model, and loading released weights into an
inference module built from parts fills the parts (e.g. a trained `hg` into the hg-cgan trainer:
`load_weights(inference_module("hg", {"hg": parts["hg"]}), get_spec("hg").weights_path)`).

Weights on disk: engines/<name>/model.safetensors holds the inference module's state dict in fp16
(integer buffers as they are), loaded and upcast to fp32; card.json beside it describes them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from streamdeblur.errors import MissingWeightsError, UserError
from streamdeblur.nets import HG, Discriminator, Generator, ImageModel, Multiscale, NAFNet, TwoStep, UNet
from streamdeblur.paths import engines_dir

log = logging.getLogger(__name__)

Parts = dict[str, nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it, its input (size, frames), the stages that train it, its files."""

    name: str
    arch: str
    build: Callable[[], torch.nn.Module]
    input_size: int
    description: str
    build_parts: Callable[[], Parts] | None = None
    assemble: Callable[[Parts], torch.nn.Module] | None = None
    stages: tuple[str, ...] = ("single",)  # training stages (train/stages.py) that can train it; the first is its own
    frames: int = 1  # consecutive aligned crops of one track it takes (K; the restored one in the middle)
    align: str = "landmarks"  # "flow": its engine warps the other crops onto the middle one; "centre": Restorer
    # re-cuts them in the middle one's alignment (faces/flow.py)
    needs_weights: bool = True  # False: nothing to train or load (the pass-through model)
    weights_of: str | None = None  # until it has weights of its own, it runs this model's (naf-t3m-hd: naf-t3m's)

    @property
    def exportable(self) -> bool:
        """Whether there is a network to run (every model but the pass-through 'identity')."""
        return self.arch != "identity"

    @property
    def adaptable(self) -> bool:
        """Whether `adapt` can fine-tune it to one person (train/adapt.py trains with the 'restore' stage)."""
        return "restore" in self.stages

    @property
    def weights_owner(self) -> str:
        """The model whose released weights this one runs: itself, or weights_of until it has its own."""
        if self.weights_of and not (engine_folder(self.name) / "model.safetensors").is_file():
            return self.weights_of
        return self.name

    @property
    def weights_path(self) -> Path:
        return engine_folder(self.weights_owner) / "model.safetensors"

    @property
    def card_path(self) -> Path:
        return engine_folder(self.name) / "card.json"


def engine_folder(name: str) -> Path:
    """engines/<name>/: where a released engine's weights, card and notes live."""
    return engines_dir() / name


def _spec(
    name: str, arch: str, input_size: int, description: str,
    parts: Callable[[], Parts], assemble: Callable[[Parts], nn.Module], stages: tuple[str, ...] = ("single",),
    frames: int = 1, align: str = "landmarks", weights_of: str | None = None,
) -> ModelSpec:
    return ModelSpec(
        name=name, arch=arch, build=lambda: assemble(parts()), input_size=input_size,
        description=description, build_parts=parts, assemble=assemble, stages=stages, frames=frames, align=align,
        weights_of=weights_of,
    )


def _hg_model(size: int) -> Callable[[Parts], nn.Module]:
    return lambda p: ImageModel(p["hg"], size)


def _two_step(p: Parts, size: int = 256) -> nn.Module:
    return ImageModel(TwoStep(p["hg"], p["g"].bl_pathway()), size)


def _g_only(size: int) -> Callable[[Parts], nn.Module]:
    return lambda p: ImageModel(p["g"].bl_pathway() if isinstance(p["g"], Generator) else p["g"], size)


FAST_HG = dict(width=0.25, stacks=2, depth=4)
MULTISCALE_FAST = dict(width=0.25, n_res=3)
HALF_WIDTH = 0.5  # hg-half / hg-cgan-half: every channel count halved (a quarter of the parameters)
NAF = dict(width=16, enc=(1, 1, 1), mid=6, dec=(1, 1, 1))  # naf / naf-t3: 6 of 12 blocks at 16 px
NAF_DEEP = dict(NAF, mid=12)  # naf-deep: 12 of 18 blocks at 16 px (+80 % parameters, about +10 % time)
NAF_WIDE = dict(NAF, width=32)  # naf-wide: every channel count doubled (4x parameters and about 4x the convs)
ONE_NET = ("single", "hg", "restore")

class PassThrough(nn.Module):
    """The 'identity' model: returns its input (for measuring the pipeline and as eval's 'blurred' row)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


_SPECS: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        ModelSpec("identity", "identity", PassThrough, 128, "pass-through: returns its input bit for bit (no network)",
                  stages=(), needs_weights=False),
        _spec("fast", "hg", 128,
              "reduced-width hourglass (width 0.25, 2 stacks, depth 4), residual output, 128 px: the previous CPU/live default",
              lambda: {"hg": HG(**FAST_HG)}, _hg_model(128), ONE_NET),
        _spec("fast-unet", "unet", 128,
              "compact residual U-Net (widths 16-32-64-64, full-resolution first level), 128 px: the CPU/live engine",
              lambda: {"g": UNet()}, _g_only(128), ("single", "restore")),
        _spec("naf", "nafnet", 128,
              "NAFNet-style U-Net (width 16, blocks 1-1-1 / 6 at 16 px / 1-1-1), 128 px: the modern CPU recipe",
              lambda: {"g": NAFNet(**NAF)}, _g_only(128), ("restore", "single")),
        _spec("naf-hd", "nafnet", 256,
              "naf fine-tuned at 256 px on 256-px motion exposures: for large faces (over about 200 px), 4x naf's cost",
              lambda: {"g": NAFNet(**NAF)}, _g_only(256), ("restore", "single")),
        _spec("naf-shake", "nafnet", 128,
              "naf fine-tuned with half its draws camera-shake kernels, 128 px: for footage shaken blurry as a whole "
              "(handheld); as good as naf on a face's own motion, naf better on frame averages (PrAvg/VLA)",
              lambda: {"g": NAFNet(**NAF)}, _g_only(128), ("restore", "single")),
        _spec("naf-deep", "nafnet", 128,
              "naf with 12 blocks at 16 px instead of 6 (grown from naf: the added blocks start as the identity), 128 px",
              lambda: {"g": NAFNet(**NAF_DEEP)}, _g_only(128), ("restore", "single")),
        _spec("naf-wide", "nafnet", 128,
              "naf at twice the width (32, NAFNet's own; grown from a naf engine so that it starts as it), 128 px: "
              "4x the parameters",
              lambda: {"g": NAFNet(**NAF_WIDE)}, _g_only(128), ("restore", "single")),
        _spec("naf-t3", "nafnet", 128,
              "naf with 3 consecutive aligned crops of the track stacked at its input (early fusion), 128 px",
              lambda: {"g": NAFNet(**NAF, frames=3)}, _g_only(128), ("restore", "single"), frames=3),
        _spec("naf-t3f", "nafnet", 128,
              "naf-t3 whose neighbouring crops are warped onto the middle one by optical flow (DIS) first and enter "
              "as their difference from it, 128 px",
              lambda: {"g": NAFNet(**NAF, frames=3, delta=True)}, _g_only(128), ("restore", "single"), frames=3,
              align="flow"),
        _spec("naf-t3m", "nafnet", 128,
              "naf-t3 whose neighbouring crops are re-cut in the middle crop's alignment (the face's motion between "
              "them left in, no flow) and enter as their difference from it, 128 px",
              lambda: {"g": NAFNet(**NAF, frames=3, delta=True)}, _g_only(128), ("restore", "single"), frames=3,
              align="centre"),
        _spec("naf-t3m-hd", "nafnet", 256,
              "naf-t3m fine-tuned at 256 px (naf-t3m's weights until it has its own): the base `adapt --model "
              "naf-t3m-hd` fine-tunes for one person's large faces; unadapted it leaves unseen faces as they are",
              lambda: {"g": NAFNet(**NAF, frames=3, delta=True)}, _g_only(256), ("restore", "single"), frames=3,
              align="centre", weights_of="naf-t3m"),
        _spec("naf-t5f", "nafnet", 128,
              "naf-t3f with 5 consecutive crops (two neighbours each side, all warped onto the middle one), 128 px",
              lambda: {"g": NAFNet(**NAF, frames=5, delta=True)}, _g_only(128), ("restore", "single"), frames=5,
              align="flow"),
        _spec("hg", "hg", 256, "Chrysos et al. step 1: the stacked hourglass (2 stacks, depth 4) at 256 px",
              lambda: {"hg": HG()}, _hg_model(256), ("hg", "single", "restore")),
        _spec("hg-cgan", "hg+cgan", 256,
              "Chrysos et al. full model: HG then the two-pathway cGAN's G_bl on [blurry, HG(blurry)], 256 px",
              lambda: {"hg": HG(), "g": Generator(bl_channels=6), "d": Discriminator(cond_channels=3)}, _two_step,
              ("cgan",)),
        _spec("hg-half", "hg", 256,
              "Chrysos et al. step 1 at half channel width: the HG that hg-cgan-half is trained on",
              lambda: {"hg": HG(width=HALF_WIDTH)}, _hg_model(256), ("hg", "single", "restore")),
        _spec("hg-cgan-half", "hg+cgan", 256,
              "Chrysos et al. full model (HG, then the two-pathway cGAN's G_bl) at half channel width, 256 px: "
              "the layer layout of hg-cgan with a quarter of its parameters, trainable on CPU",
              lambda: {"hg": HG(width=HALF_WIDTH), "g": Generator(width=HALF_WIDTH, bl_channels=6),
                       "d": Discriminator(cond_channels=3, width=HALF_WIDTH)}, _two_step, ("cgan",)),
        _spec("hg-cgan-res", "hg+cgan", 256,
              "hg-cgan-half whose G_bl adds its output to the blurry input (residual, starting as the identity) "
              "instead of rebuilding every pixel: the paper's layers at half width, trainable on CPU, 256 px",
              lambda: {"hg": HG(width=HALF_WIDTH), "g": Generator(width=HALF_WIDTH, bl_channels=6, residual=True),
                       "d": Discriminator(cond_channels=3, width=HALF_WIDTH)}, _two_step, ("cgan",)),
        _spec("hg-cgan-fast", "hg+cgan", 128,
              "Chrysos et al. full model at 128 px and quarter width: the `fast` hourglass (step 1), then G_bl of a "
              "two-pathway cGAN with every channel count quartered, trainable on a CPU",
              lambda: {"hg": HG(**FAST_HG), "g": Generator(width=0.25, bl_channels=6),
                       "d": Discriminator(cond_channels=3, width=0.25)}, lambda p: _two_step(p, 128), ("cgan",)),
        _spec("cgan", "cgan", 256, "ablation: the two-pathway cGAN without HG (G_bl on the blurry image alone), 256 px",
              lambda: {"g": Generator(bl_channels=3), "d": Discriminator(cond_channels=3)}, _g_only(256), ("cgan",)),
        _spec("multiscale", "multiscale", 128,
              "Shen et al.: two-scale multi-task network (image + gradient structure), 64 channels, 128 px",
              lambda: {"g": Multiscale(), "d": Discriminator()}, _g_only(128), ("multiscale",)),
        _spec("multiscale-fast", "multiscale", 128, "Shen et al.'s network at width 0.25 with 3 ResBlocks, 128 px",
              lambda: {"g": Multiscale(**MULTISCALE_FAST), "d": Discriminator(width=0.5)}, _g_only(128),
              ("multiscale",)),
    ]
}


def list_models() -> list[str]:
    """Registered model names."""
    return list(_SPECS)


def get_spec(name: str) -> ModelSpec:
    """Spec for a registered name; UserError listing the known names otherwise."""
    try:
        return _SPECS[name]
    except KeyError:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(_SPECS)}") from None


def build_parts(name: str) -> Parts:
    """The raw, randomly initialised training modules of a model ({'hg', 'g', 'd'} as it has them)."""
    spec = get_spec(name)
    assert spec.build_parts is not None
    return spec.build_parts()


def inference_module(name: str, parts: Parts) -> nn.Module:
    """The [0, 1] inference module built around the given parts (same parameter tensors)."""
    spec = get_spec(name)
    assert spec.assemble is not None
    return spec.assemble(parts)


def has_weights(name: str) -> bool:
    """Whether released weights exist for a registered model (always, for a model that needs none)."""
    spec = get_spec(name)
    return not spec.needs_weights or spec.weights_path.is_file()


def read_card(name: str) -> dict:
    """The model's card.json as a dict ({} when there is none)."""
    path = get_spec(name).card_path
    return json.loads(path.read_text()) if path.is_file() else {}


def engine_in_folder(model: str, weights: Path | None) -> tuple[str, Path | None]:
    """(model, weights file) for --weights given as an engine folder (what `release -o` and `adapt -o` write):
    its model.safetensors, run as the model its card.json names (a naf-hd engine is naf's network at 256 px:
    run at naf's 128 it would be quietly wrong). A weights file is returned as it is."""
    if weights is None or not Path(weights).is_dir():
        return model, weights
    folder = Path(weights)
    if not (folder / "model.safetensors").is_file():
        raise UserError(f"--weights {folder} is a folder without model.safetensors: give an engine folder or a "
                        ".safetensors file")
    named = str(folder_card(folder).get("model") or model)
    if named != model:
        logging.getLogger("streamdeblur").info("--weights %s holds a %s engine (its card): running it as %s",
                                               folder, named, named)
    return named, folder / "model.safetensors"


def folder_card(folder: Path) -> dict:
    """An engine folder's card.json ({} when it has none); UserError when it is not a JSON object."""
    path = Path(folder) / "card.json"
    if not path.is_file():
        return {}
    try:
        card = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise UserError(f"{path} is not a readable JSON card ({exc}): write it again with `release` or `adapt`")
    if not isinstance(card, dict):
        raise UserError(f"{path} is not a JSON object: write it again with `release` or `adapt`")
    return card


def missing_weights_message(name: str, path: Path) -> str:
    """One line: which file is missing and how to get it."""
    return (
        f"model {name!r} has no trained weights: expected {path}; train and release them with "
        f"`streamdeblur train --model {name} ...`, or pass --weights PATH"
    )


def load_model(name: str, weights: Path | None = None, allow_random: bool = False) -> torch.nn.Module:
    """Build the model in eval mode with its weights (fp16 safetensors are upcast).

    Raises MissingWeightsError (saying how to get them) when no weights exist, unless allow_random
    (then the random initialisation is seeded, so the same model comes out every time).
    """
    spec = get_spec(name)
    if not spec.needs_weights:
        return spec.build().eval()
    path = Path(weights) if weights is not None else spec.weights_path
    if weights is not None and not path.is_file():
        raise UserError(f"weights file not found: {path}")
    if path.is_file():
        module = spec.build()
        load_weights(module, path)
        card = read_card(name) if weights is None else folder_card(path.parent)
        if card.get("tlc"):
            set_tlc(module, card["tlc"])
    elif allow_random:
        log.warning("model %s: no weights at %s; using random weights (for plumbing only)", name, path)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            module = spec.build()
    else:
        raise MissingWeightsError(missing_weights_message(name, path))
    return module.eval()


def inference_form(module: nn.Module) -> nn.Module:
    """What the engines run: the module with each NAFNet in it folded (NAFNet.folded: the same function, 1.3x faster
    in onnxruntime on a CPU), else the module itself; training keeps the module as built."""
    from streamdeblur.nets import NAFNet

    if not any(isinstance(m, NAFNet) for m in module.modules()):
        return module
    if isinstance(module, NAFNet):
        return module.folded()
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, NAFNet):
                setattr(parent, name, child.folded())
    return module.eval()


def set_tlc(module: nn.Module, base: Any) -> None:
    """Run every NAFNet in module with the test-time local converter of window `base` (nets/nafnet.py; an
    engine card's "tlc"); UserError for a value that is not a positive whole number of pixels."""
    from streamdeblur.nets import NAFNet

    if isinstance(base, bool) or not isinstance(base, int) or base < 1:
        raise UserError(f"an engine card's tlc must be a window in pixels (a positive whole number), got {base!r}")
    nets = [m for m in module.modules() if isinstance(m, NAFNet)]
    if not nets:
        raise UserError("an engine card's tlc is for NAFNet engines")
    for net in nets:
        net.set_tlc(base)


def save_weights(module: nn.Module, path: Path | str, metadata: dict | None = None) -> Path:
    """Write a module's state dict as fp16 safetensors (atomic: temp file + rename).

    Metadata values that are not strings are stored as JSON.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        key: value.detach().to(torch.float16, copy=True) if value.is_floating_point() else value.detach().clone()
        for key, value in module.state_dict().items()
    }
    meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file({k: t.contiguous() for k, t in tensors.items()}, str(tmp), metadata=meta)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_weights(module: nn.Module, path: Path | str, strict: bool = True) -> dict[str, str]:
    """Load safetensors weights into a module (upcast to its dtype); returns the file's metadata.

    UserError when the file is unreadable or its tensors do not fit the module.
    """
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as exc:  # safetensors raises several types for a bad file
        hint = {".onnx": " (an ONNX export: --weights takes the .safetensors or the engine folder it was exported "
                         "from, and --backend onnxruntime exports that itself)",
                ".pt": " (a training checkpoint: `streamdeblur release RUN NAME -o DIR` writes its engine folder for "
                       "--weights)"}.get(path.suffix.lower(), "")
        raise UserError(f"cannot read weights {path}: {exc}{hint}") from None
    own = module.state_dict()
    for key, value in tensors.items():
        if key in own and value.is_floating_point():
            tensors[key] = value.to(own[key].dtype)
    missing = [k for k in own if k not in tensors]
    unexpected = [k for k in tensors if k not in own]
    wrong = [k for k in tensors if k in own and tensors[k].shape != own[k].shape]
    if wrong or (strict and (missing or unexpected)):
        detail = "; ".join(
            f"{label} {len(keys)} (e.g. {keys[0]})"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        )
        raise UserError(f"weights {path} do not fit this model: {detail}")
    module.load_state_dict(tensors, strict=strict)
    return dict(meta)


def state_hash(module: nn.Module) -> str:
    """Short sha256 of a module's state dict (names, shapes, dtypes and values): a cache key."""
    digest = hashlib.sha256()
    for key, value in module.state_dict().items():
        tensor = value.detach().cpu().contiguous()
        digest.update(f"{key}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    for sub in module.modules():  # how a network runs its weights, where it can differ (NAFNet's TLC window)
        digest.update(getattr(sub, "hash_tag", "").encode())
    return digest.hexdigest()[:16]
