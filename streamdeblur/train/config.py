"""Typed training configuration: defaults from the papers, JSON round trip, `key=value` overrides."""

from __future__ import annotations

import json
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from streamdeblur.errors import UserError

STAGES = ("single", "hg", "cgan", "multiscale")
VARIANTS = ("full", "no-hg", "single-pathway")
GAN_LOSSES = ("bce", "lsgan")


@dataclass
class TrainConfig:
    """Everything a training run needs; saved as config.json beside each checkpoint.

    stage: "single" (one network, L1 + gradient L1: for `fast` and `hg`), "hg" (the paper's step 1:
    L1 only), "cgan" (step 2: two-pathway cGAN on [blurry, HG(blurry)]), "multiscale" (Shen et al.).
    variant (cgan only): "full" (HG + two pathways), "no-hg" (cGAN on the blurry image alone),
    "single-pathway" (HG + G_bl only, no G_s auto-encoder).
    motion_power: draw training pairs with probability proportional to max(motion, 0.5) ** motion_power
    (0: uniform); min_motion / max_motion drop pairs outright.
    """

    name: str = "run"
    model: str = "fast"
    stage: str = "single"
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
    seed: int = 0
    threads: int = 0
    workers: int = 0
    crop_scale: tuple[float, float] = (0.85, 1.0)
    flip: bool = True
    jitter: float = 0.0
    min_motion: float = 0.0
    max_motion: float = 0.0
    motion_power: float = 0.0
    methods: list[str] = field(default_factory=list)
    log_every: int = 10
    val_every: int = 500
    val_batches: int = 8
    ckpt_every: int = 500
    plot_every: int = 100
    quiet: bool = False
    device: str = "auto"

    def validate(self) -> "TrainConfig":
        """Raise UserError on values that cannot work; return self."""
        if self.stage not in STAGES:
            raise UserError(f"unknown stage {self.stage!r}; use one of {', '.join(STAGES)}")
        if self.variant not in VARIANTS:
            raise UserError(f"unknown variant {self.variant!r}; use one of {', '.join(VARIANTS)}")
        if self.gan_loss not in GAN_LOSSES:
            raise UserError(f"unknown gan_loss {self.gan_loss!r}; use one of {', '.join(GAN_LOSSES)}")
        for key in ("steps", "batch_size", "crop_size", "log_every", "val_every", "ckpt_every", "plot_every"):
            if getattr(self, key) <= 0:
                raise UserError(f"{key} must be positive (got {getattr(self, key)})")
        if self.motion_power < 0:
            raise UserError(f"motion_power must be >= 0 (got {self.motion_power})")
        if not 0.0 <= self.ema_decay < 1.0:
            raise UserError(f"ema_decay must be in [0, 1) (got {self.ema_decay})")
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
        except json.JSONDecodeError as exc:
            raise UserError(f"config file {path} is not valid JSON: {exc}") from None
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


def stage_defaults(stage: str) -> dict[str, Any]:
    """Per-stage defaults that differ from the dataclass (applied by the CLI before user overrides)."""
    if stage in ("single", "hg"):
        return {"lr": 2e-4, "betas": (0.9, 0.999), "w_l1": 1.0, "w_grad": 0.0 if stage == "hg" else 1.0}
    if stage == "multiscale":
        return {"lr": 1e-4, "betas": (0.9, 0.999), "w_adv": 0.01, "w_l1": 1.0, "w_perceptual": 0.1}
    return {}


def build_config(config_path: str | Path | None = None, assignments: list[str] | None = None, **flags: Any) -> TrainConfig:
    """Defaults < per-stage defaults < JSON file < `key=value` assignments < flags (None flags ignored)."""
    if config_path:
        base = TrainConfig.load(config_path)
    else:
        probe = TrainConfig().override(assignments, **flags)
        base = TrainConfig().override(**stage_defaults(probe.stage))
    return base.override(assignments, **flags).validate()
