"""Typed training configuration: defaults from the papers, JSON round trip, `key=value` overrides."""

from __future__ import annotations

import json
import math
import os
import shutil
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from streamdeblur import DEFAULT_MODEL
from streamdeblur.errors import UserError

VARIANTS = ("full", "no-hg", "single-pathway")
GAN_LOSSES = ("bce", "lsgan")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine")
PIXEL_LOSSES = ("l1", "charbonnier", "psnr")


def can_compile(device: str) -> bool:
    """Whether torch.compile can build kernels for this device: CUDA's come with torch (triton), a CPU's need a C++
    compiler ($CXX, g++, c++ or clang++)."""
    if device.startswith("cuda"):
        return True
    return any(shutil.which(name) for name in (os.environ.get("CXX", ""), "g++", "c++", "clang++") if name)


@dataclass
class TrainConfig:
    """Everything a training run needs; saved as config.json beside each checkpoint.

    model: a registry name (models.py); stage: a training stage (train/stages.py: single, hg,
    restore, cgan, multiscale), "" for the model's own (its registry entry names the stages that
    can train it; another is an error).
    variant (cgan only): "full" (HG + two pathways), "no-hg" (cGAN on the blurry image alone),
    "single-pathway" (HG + G_bl only, no G_s auto-encoder).
    motion_power: draw training pairs with probability proportional to max(motion, 0.5) ** motion_power
    (0: uniform); min_motion / max_motion drop pairs outright.
    """

    name: str = "run"
    model: str = DEFAULT_MODEL
    stage: str = ""
    variant: str = "full"
    data: str = ""
    val_data: str = ""
    run_dir: str = ""
    hg_weights: str = ""
    init_weights: str = ""
    steps: int = 10000
    batch_size: int = 16
    crop_size: int = 128
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    d_lr: float = 2e-4
    weight_decay: float = 0.0
    gan_loss: str = "bce"
    w_adv: float = 1.0
    w_l1: float = 100.0
    w_grad: float = 100.0
    w_proj: float = 8.0
    w_recon: float = 100.0
    w_structure: float = 1.0
    w_perceptual: float = 1.0
    w_identity: float = 1.0
    changed_weight: float = 0.0
    vgg19: str = ""
    identity_model: str = ""
    ema_decay: float = 0.999
    amp: bool = True
    compile: bool = False  # torch.compile the trained networks (inductor; on a CPU it needs a C++ compiler): naf-hd's
    # bf16 step on 8 x 96 px took 0.27 s eager and 0.13 s compiled on 2 cores, after a compile of about a minute the
    # first time (BENCHMARKS.md, session 57); weights, optimiser, EMA and checkpoints are the plain network's
    seed: int = 0
    threads: int = 0
    workers: int = 0
    crop_scale: tuple[float, float] = (0.85, 1.0)
    flip: bool = True
    jitter: float = 0.0  # colour jitter: brightness, contrast and saturation each in 1 +- jitter
    rotate: bool = False  # quarter turns: with flip, the eight symmetries of the square
    zoom: tuple[float, float] = (1.0, 1.0)  # with cache and patch: patches cut from regions patch x [lo, hi], resized
    dropout: float = 0.0  # NAFNet models: channel dropout before the last conv while training (Kong et al. 2022)
    native: bool = False  # with cache and patch: pairs enlarged from smaller faces are cut at their source's density
    min_motion: float = 0.0
    max_motion: float = 0.0
    motion_power: float = 0.0
    methods: list[str] = field(default_factory=list)
    mix: str = ""  # method=weight,... : each blur method drawn in that share (e.g. motion=0.6,kernel=0.2,pravg=0.2)
    clip_share: float = 1.0  # train on this share of the training clips (whole clips, picked by a hash of their
    # id, a smaller share's clips among a larger one's): curves of gain against the number of distinct faces
    sharp_frac: float = 0.0  # share of training inputs replaced by their own sharp target: "leave sharp faces alone"
    sharp_moving: float = 0.0  # multi-frame inputs: of those replaced, this share get the sharp target in the centre
    # frame only and keep their blurred neighbours (a sharp frame of a moving face); the others every frame (a still one)
    # (in adapt, 0.5 spared sharp faces but lost more gain than a wider settle range; in the base run of naf-t3m-hd
    # v1 it spared them at no loss once adapted: engines/naf-t3m-hd/NOTES.md)
    cache: bool = False  # decode the pairs once into a uint8 cache (<cache>/pair-cache) and read patches from it
    patch: int = 0  # with cache: random patch side cut from the crop_size pair (0: the whole crop)
    optimizer: str = "adam"  # adam | adamw
    lr_schedule: str = "constant"  # constant | cosine (to lr_min at lr_horizon, default steps)
    warmup: int = 0  # linear learning-rate warm-up steps
    lr_min: float = 0.0
    lr_horizon: int = 0  # the cosine's end step (0: steps); set it to keep the schedule when extending steps
    loss: str = "l1"  # pixel loss: l1 | charbonnier | psnr (minus each sample's PSNR)
    w_fft: float = 0.0  # weight of the L1 of the FFT of output and target
    w_flicker: float = 0.0  # weight of the flicker loss: the pixel loss (`loss`) between two consecutive exposures'
    # change in the output and in their sharp frames (pairs made with make-pairs --targets; each step then restores
    # two per pair)
    grad_clip: float = 0.0  # clip the generator's gradient norm (0: off)
    log_every: int = 10
    val_every: int = 500
    val_batches: int = 8  # 0: no validation
    seen_batches: int = 4  # each validation also scores this many batches of training pairs (seen_gain_db): a gap
    # between their gain and val's says the net learns its training clips by heart (0: off); with clip_share < 1
    # as many batches of the training clips left out (unseen_gain_db): held out, but of the training sources
    ckpt_every: int = 500
    plot_every: int = 100
    quiet: bool = False
    device: str = "auto"

    def validate(self) -> "TrainConfig":
        """Raise UserError on values that cannot work (a stage that cannot train the model among them: the
        model's registry entry names its stages); fills an empty stage with the model's own; returns self."""
        from streamdeblur.models import get_spec, list_models

        spec = get_spec(self.model)
        if not spec.stages:
            raise UserError(f"model {self.model} has no network to train")
        if not self.stage:
            self.stage = spec.stages[0]
        known = sorted({s for name in list_models() for s in get_spec(name).stages})
        if self.stage not in known:
            raise UserError(f"unknown stage {self.stage!r}; use one of {', '.join(known)}")
        if self.stage not in spec.stages:
            raise UserError(f"model {self.model} is trained with stage {' or '.join(spec.stages)}, not {self.stage!r}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"unknown optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        if self.lr_schedule not in SCHEDULES:
            raise UserError(f"unknown lr_schedule {self.lr_schedule!r}; use one of {', '.join(SCHEDULES)}")
        if self.loss not in PIXEL_LOSSES:
            raise UserError(f"unknown loss {self.loss!r}; use one of {', '.join(PIXEL_LOSSES)}")
        if self.patch < 0 or self.patch > self.crop_size:
            raise UserError(f"patch must be between 0 and crop_size ({self.crop_size}), got {self.patch}: give "
                            f"--set patch=N (N <= {self.crop_size}), or --set patch=0 to train on whole crops")
        if self.variant not in VARIANTS:
            raise UserError(f"unknown variant {self.variant!r}; use one of {', '.join(VARIANTS)}")
        if self.gan_loss not in GAN_LOSSES:
            raise UserError(f"unknown gan_loss {self.gan_loss!r}; use one of {', '.join(GAN_LOSSES)}")
        for key in ("steps", "batch_size", "crop_size", "log_every", "val_every", "ckpt_every", "plot_every"):
            if getattr(self, key) <= 0:
                raise UserError(f"{_named(key)} must be positive (got {getattr(self, key)})")
        for key in ("warmup", "lr_horizon", "val_batches", "seen_batches", "workers"):
            if getattr(self, key) < 0:
                raise UserError(f"{_named(key)} must be 0 or more (got {getattr(self, key)})")
        if self.threads < 0:
            raise UserError(f"--threads must be 0 (torch's default) or more (got {self.threads})")
        for key in ("lr", "d_lr"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise UserError(f"{_named(key)} must be a positive number, e.g. 2e-4 (got {value})")
        numbers = [f.name for f in fields(self) if f.type in ("float", float) and f.name not in ("lr", "d_lr")]
        for key in numbers:
            value = getattr(self, key)
            if not math.isfinite(value):
                raise UserError(f"{_named(key)} must be a finite number (got {value})")
            if value < 0 and (key.startswith("w_") or key in NON_NEGATIVE):
                raise UserError(f"{_named(key)} must be 0 or more (got {value})")
        if not all(math.isfinite(b) and 0.0 <= b < 1.0 for b in self.betas):
            raise UserError(f"betas must be two numbers in [0, 1) (got {self.betas[0]},{self.betas[1]})")
        lo, hi = self.crop_scale
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi <= 1):
            raise UserError(f"crop_scale must be two shares lo <= hi in (0, 1] (got {lo},{hi})")
        lo, hi = self.zoom
        if not (0 < lo <= hi and math.isfinite(hi)):
            raise UserError(f"zoom must be two positive factors lo <= hi (got {lo},{hi})")
        cached_patches = (self.cache or spec.frames > 1) and self.patch  # temporal nets always train on the cache
        if (lo, hi) != (1.0, 1.0) and not cached_patches:
            raise UserError("zoom works on cached patches: set cache=true and patch (crop_scale zooms uncached crops)")
        if self.native and not cached_patches:
            raise UserError("native works on cached patches: set cache=true and patch")
        if not 0.0 < self.clip_share <= 1.0:
            raise UserError(f"clip_share must be in (0, 1] (got {self.clip_share})")
        if not 0.0 <= self.jitter < 1.0:
            raise UserError(f"jitter must be in [0, 1) (got {self.jitter})")
        if self.motion_power < 0:
            raise UserError(f"motion_power must be >= 0 (got {self.motion_power})")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"dropout must be in [0, 1) (got {self.dropout})")
        if not 0.0 <= self.sharp_frac < 1.0:
            raise UserError(f"sharp_frac must be in [0, 1) (got {self.sharp_frac})")
        if not 0.0 <= self.sharp_moving <= 1.0:
            raise UserError(f"sharp_moving must be in [0, 1] (got {self.sharp_moving})")
        if not 0.0 <= self.ema_decay < 1.0:
            raise UserError(f"ema_decay must be in [0, 1) (got {self.ema_decay})")
        if self.w_flicker < 0:
            raise UserError(f"w_flicker must be >= 0 (got {self.w_flicker})")
        if self.compile and not can_compile(self.device):
            raise UserError("compile=true needs a C++ compiler on a CPU (torch.compile's inductor builds its kernels "
                            "with it): install g++ (e.g. apt-get install g++), or train with compile=false")
        return self

    def to_json(self) -> str:
        """Pretty JSON of every field."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def save(self, path: str | Path) -> Path:
        """Write the JSON to path."""
        path = Path(path)
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a dict (unknown keys are a UserError), coercing values to the field types."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"unknown config key(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        hints = typing.get_type_hints(cls)
        return cls(**{k: _coerce(k, v, hints[k]) for k, v in data.items()})

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        """Read a JSON config file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"config file not found: {path}") from None
        except IsADirectoryError:
            raise UserError(f"config file {path} is a folder: give a JSON file (a run's config.json)") from None
        except ValueError as exc:  # not JSON, or not text at all (UnicodeDecodeError)
            raise UserError(f"config file {path} is not valid JSON: {str(exc).splitlines()[0][:120]}") from None
        if not isinstance(data, dict):
            raise UserError(f"config file {path} must hold a JSON object")
        return cls.from_dict(data)

    def override(self, assignments: list[str] | None = None, **values: Any) -> "TrainConfig":
        """A copy with `key=value` strings (values parsed as JSON when they parse, else as text) and keyword values applied."""
        data = asdict(self)
        for item in assignments or []:
            key, sep, raw = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or not key:
                raise UserError(f"--set expects key=value (got {item!r})")
            try:
                data[key] = json.loads(raw)
            except json.JSONDecodeError:
                data[key] = raw
        data.update({k: v for k, v in values.items() if v is not None})
        return type(self).from_dict(data)


# float fields that make no sense below 0 (the loss weights w_* are checked by their prefix)
NON_NEGATIVE = ("weight_decay", "changed_weight", "lr_min", "min_motion", "max_motion", "grad_clip")
# the command-line options of `train` that set a field directly (the others are set with --set key=value)
OPTIONS = {"steps": "--steps", "batch_size": "--batch-size", "crop_size": "--crop-size", "lr": "--lr",
           "threads": "--threads"}


def _named(key: str) -> str:
    """A field as the user gave it: 'lr (--lr)', 'warmup'."""
    return f"{key} ({OPTIONS[key]})" if key in OPTIONS else key


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Value converted to the field's type; UserError when it cannot be."""
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if isinstance(value, str):
                low = value.lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if hint in (int, float, str):
            if hint is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return hint(value)
        if origin is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            args = typing.get_args(hint)
            if len(items) != len(args):
                raise ValueError(value)
            return tuple(t(v) for t, v in zip(args, items))
        if origin is list:
            items = [v for v in value.split(",") if v] if isinstance(value, str) else list(value)
            (arg,) = typing.get_args(hint)
            return [arg(v) for v in items]
    except (TypeError, ValueError):
        raise UserError(f"bad value for {key}: {value!r} (expected {getattr(hint, '__name__', hint)})") from None
    return value

