"""Training loops: one network (stage 1 / `fast`), the two-pathway cGAN (stage 2), Shen's multiscale net.

One Trainer drives every stage: Adam, bf16 autocast on CUDA only, an EMA of the generator weights,
atomic checkpoints (models, optimisers, EMA, step, every rank's RNG state) resumed exactly, a CSV log
and a loss-curve PNG, a progress bar with ETA, periodic validation (PSNR/SSIM of the EMA model and of
the blurry input), SIGINT/SIGTERM -> checkpoint then stop, and DistributedDataParallel under torchrun
(gloo on CPU, nccl on CUDA; each rank reads its own slice of the pairs). `release()` turns a
checkpoint into engines/<name>/ (fp16 EMA weights of the inference module + card skeleton).
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from streamdeblur.errors import UserError
from streamdeblur.paths import cache_dir, engines_dir
from streamdeblur.train import losses
from streamdeblur.train.config import TrainConfig
from streamdeblur.train.logs import CsvLog, image_metrics, plot_curves, progress_bar

CHECKPOINT = "last.pt"
CHECKPOINT_FORMAT = 1


# --- distributed ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1 (nccl on CUDA, gloo otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local)


def _pick_device(name: str, info_local: int = 0) -> str:
    if name and name != "auto":
        return name
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', info_local))}"
    return "cpu"


# --- RNG and data -------------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG this process draws from."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what rng_state() captured."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class StepSampler(torch.utils.data.Sampler[list[tuple[int, int]]]):
    """Batches of (epoch, index) as a pure function of (seed, step, rank): epoch e is a seeded
    permutation split round-robin over ranks; iteration starts at any step, so a resumed run reads
    (and augments: the epoch travels with each index) exactly what the straight run would have."""

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world: int = 1, start_step: int = 0,
                 weights: Sequence[float] | None = None) -> None:
        self.size, self.batch, self.seed = size, batch_size, seed
        self.rank, self.world, self.start = rank, world, start_step
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        if self.weights is not None and (len(self.weights) != size or not bool((self.weights > 0).all())):
            raise ValueError("weights must be positive, one per pair")
        self.per_rank = size // world
        self.per_epoch = self.per_rank // batch_size
        if self.per_epoch == 0:
            raise UserError(f"too few training pairs ({size}) for batch size {batch_size} on {world} process(es)")

    def batch_at(self, step: int) -> list[tuple[int, int]]:
        """(epoch, index) of each pair this rank reads at a global step."""
        epoch, pos = divmod(step, self.per_epoch)
        gen = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        count = self.per_rank * self.world
        if self.weights is None:
            order = torch.randperm(self.size, generator=gen)[:count]
        else:  # an "epoch" of `size` draws with replacement, each pair as likely as its weight
            order = torch.multinomial(self.weights, count, replacement=True, generator=gen)
        mine = order[self.rank :: self.world]
        return [(epoch, int(i)) for i in mine[pos * self.batch : (pos + 1) * self.batch]]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start
        while True:
            yield self.batch_at(step)
            step += 1

    def __len__(self) -> int:  # endless; a large number for DataLoader's sake
        return 2**62


class _EpochIndexed(torch.utils.data.Dataset):
    """dataset[(epoch, i)] -> dataset.set_epoch(epoch) (when it has one); dataset[i]."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


def _collate(items: Sequence[Any]) -> tuple[Tensor, Tensor]:
    blurry = torch.stack([torch.as_tensor(item[0]) for item in items]).float()
    sharp = torch.stack([torch.as_tensor(item[1]) for item in items]).float()
    return blurry, sharp


def motion_weights(dataset: Any, power: float, floor: float = 0.5) -> list[float]:
    """Per-pair sampling weights max(motion, floor) ** power (motion: mean |blurry - sharp| in grey levels).

    Real clips are mostly near-still, so uniform sampling teaches "return the input"; power 1 makes
    the motion of what is drawn match that of blurry faces, while still windows keep being drawn."""
    if not hasattr(dataset, "meta"):
        raise UserError("motion_power needs a dataset with per-pair metadata (a PairDataset)")
    return [max(float(dataset.meta(i).get("motion", 0.0)), floor) ** power for i in range(len(dataset))]


def batch_stream(dataset: Any, cfg: TrainConfig, info: DistInfo, start_step: int) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless (blurry, sharp) batches for this rank from a map-style dataset, starting exactly at start_step."""
    if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
        raise TypeError("the trainer needs a map-style dataset (len and indexing)")
    sampler = StepSampler(len(dataset), cfg.batch_size, cfg.seed, info.rank, info.world, start_step,
                          weights=motion_weights(dataset, cfg.motion_power) if cfg.motion_power else None)
    loader = torch.utils.data.DataLoader(_EpochIndexed(dataset), batch_sampler=sampler, num_workers=cfg.workers,
                                         collate_fn=_collate, persistent_workers=cfg.workers > 0)
    return iter(loader)


def open_dataset(cfg: TrainConfig, split: str) -> Any:
    """The pair dataset of cfg.data (or cfg.val_data) for split "train" (augmented) or "val" (not).

    The trainer's StepSampler splits the training pairs over ranks, so every rank opens all of them.
    """
    from streamdeblur.data.dataset import PairDataset

    root = cfg.val_data if split == "val" and cfg.val_data else cfg.data
    if not root:
        raise UserError("no training data: give --data PAIRS_DIR (made by `streamdeblur make-pairs`)")
    if not Path(root).exists():
        raise UserError(f"pairs directory not found: {root}")
    max_motion = cfg.max_motion
    where = (lambda meta: float(meta.get("motion", 0.0)) <= max_motion) if max_motion > 0 else None
    train = split == "train"
    try:
        return PairDataset(root, split=split, size=cfg.crop_size, crop_scale=tuple(cfg.crop_scale) if train else None,
                           flip=cfg.flip and train, jitter=cfg.jitter if train else 0.0, methods=cfg.methods or None,
                           min_motion=cfg.min_motion or None, where=where, seed=cfg.seed)
    except FileNotFoundError as exc:
        raise UserError(f"{exc} (make pairs with `streamdeblur make-pairs`)") from None


# --- models --------------------------------------------------------------------------------------


class EMA:
    """Exponential moving average of a module's parameters (buffers copied), with a short warm-up."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        import copy

        self.decay = decay
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Move the average towards module's current weights."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ema_p = [p for p in self.module.parameters()]
        new_p = [p.detach() for p in module.parameters()]
        torch._foreach_lerp_(ema_p, new_p, 1.0 - d)
        for e, b in zip(self.module.buffers(), module.buffers()):
            e.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])


class _GanForward(nn.Module):
    """One DDP forward for both generator pathways: (G_bl(x), G_s(y) or None)."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return self.generator.forward_bl(x), (self.generator.forward_s(y) if y is not None else None)


def build_parts(cfg: TrainConfig) -> dict[str, nn.Module]:
    """The networks of cfg.model, from the model registry (models.build_parts: {'hg', 'g', 'd'})."""
    from streamdeblur import models

    return dict(models.build_parts(cfg.model))


def _load_into(module: nn.Module, path: str, key: str) -> None:
    """Load weights into module from a training checkpoint (its EMA / named part) or a safetensors file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"weights not found: {p}")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(p))
        # released engines wrap the net (ImageModel.net[.hg]); accept those prefixes too
        own = module.state_dict()
        for prefix in ("net.hg.", "net.", ""):
            sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if set(own) <= set(sub) and all(sub[k].shape == v.shape for k, v in own.items()):
                module.load_state_dict({k: sub[k].to(v.dtype) for k, v in own.items()})
                return
        raise UserError(f"{p} does not hold weights for this network")
    try:
        ckpt = torch.load(str(p), map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is the user's to fix
        raise UserError(f"cannot read {p} as a training checkpoint or .safetensors ({exc.__class__.__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{p} is not a streamdeblur training checkpoint")
    stage = ckpt["config"]["stage"]
    if stage in ("single", "hg") and set(ckpt["models"]) == {key}:
        module.load_state_dict(ckpt["ema"]["module"])  # stage 1: its EMA weights
    elif key == "g" and "g" in ckpt["models"]:
        module.load_state_dict(ckpt["ema"]["module"])  # the EMA is always of the trained generator
    elif key in ckpt["models"]:
        module.load_state_dict(ckpt["models"][key])
    else:
        raise UserError(f"{p} holds no '{key}' network")


# --- the trainer ---------------------------------------------------------------------------------


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path
    step: int
    interrupted: bool
    last_losses: dict[str, float] = field(default_factory=dict)
    last_val: dict[str, float] = field(default_factory=dict)
    seconds_per_step: float = 0.0


def default_run_dir(name: str) -> Path:
    """cache_dir()/runs/<name> (outside the repository)."""
    return cache_dir() / "runs" / name


class Trainer:
    """Holds networks, optimisers, EMA and run state for one TrainConfig; fit() runs the loop."""

    def __init__(self, cfg: TrainConfig, parts: dict[str, nn.Module] | None = None, train_data: Any = None,
                 val_data: Any = None, device: str = "auto", loading: bool = False) -> None:
        """loading: the caller fills every network from a checkpoint next (no untrained-HG warning)."""
        self.cfg = cfg.validate()
        self._loading = loading
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.device = _pick_device(device)
        self.info = init_distributed(self.device)
        self.run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir(cfg.name)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        seed_everything(cfg.seed + self.info.rank)
        self.parts = {k: v.to(self.device) for k, v in (parts if parts is not None else build_parts(cfg)).items()}
        self._train_data, self._val_data = train_data, val_data
        self.step = 0
        self.wall = 0.0
        self._stop = False
        self._setup_stage()
        self.perceptual = losses.load_vgg19(cfg.vgg19).to(self.device) if cfg.vgg19 else None
        self.identity = losses.load_identity(cfg.identity_model).to(self.device) if cfg.identity_model else None
        self.amp = cfg.amp and self.device.startswith("cuda")

    # ---- setup
    def _ddp(self, module: nn.Module) -> nn.Module:
        if self.info.world <= 1:
            return module
        ids = [self.info.local_rank] if self.device.startswith("cuda") else None
        return DistributedDataParallel(module, device_ids=ids)

    def _adam(self, params: Any, lr: float) -> torch.optim.Adam:
        return torch.optim.Adam([p for p in params if p.requires_grad], lr=lr, betas=tuple(self.cfg.betas),
                                weight_decay=self.cfg.weight_decay)

    def _setup_stage(self) -> None:
        cfg, parts = self.cfg, self.parts
        self.hg: nn.Module | None = None
        self.disc: nn.Module | None = None
        if cfg.stage in ("single", "hg"):
            key = "hg" if "hg" in parts else "g"
            self.gen = parts[key]
            self.parts = {key: self.gen}
            self.gen_ddp = self._ddp(self.gen)
        elif cfg.stage == "multiscale":
            self.gen, self.disc = parts["g"], parts.get("d") if cfg.w_adv else None
            self.parts = {"g": self.gen, **({"d": self.disc} if self.disc is not None else {})}
            self.gen_ddp = self._ddp(self.gen)
        else:
            if not hasattr(parts.get("g"), "forward_bl"):
                raise UserError(f"model {cfg.model} has no two-pathway generator; use --model hg-cgan or cgan")
            self.gen, self.disc = parts["g"], parts.get("d")
            self.parts = {"g": self.gen, "d": self.disc} if self.disc is not None else {"g": self.gen}
            if cfg.variant != "no-hg":
                self.hg = parts.get("hg")
                if self.hg is None:
                    raise UserError(f"model {cfg.model} has no HG network; use variant no-hg or model hg-cgan")
                self.parts["hg"] = self.hg
                if cfg.hg_weights:
                    _load_into(self.hg, cfg.hg_weights, "hg")
                elif not cfg.init_weights and not self._loading:
                    print(f"[{cfg.name}] warning: no --set hg_weights=...: the HG of stage 2 is untrained",
                          file=sys.stderr)
                self.hg.eval()
                for p in self.hg.parameters():
                    p.requires_grad_(False)
                if self.info.world > 1:  # frozen, not DDP-wrapped: make sure every rank has rank 0's
                    for t in self.hg.state_dict().values():
                        dist.broadcast(t, 0)
            need = 3 if cfg.variant == "no-hg" else 6
            have = getattr(self.gen, "bl_channels", need)
            if have != need:
                raise UserError(f"model {cfg.model} takes {have} input channels; variant {cfg.variant} needs {need}")
            if cfg.variant == "single-pathway" and hasattr(self.gen, "enc_s"):
                for p in self.gen.enc_s.parameters():
                    p.requires_grad_(False)
            self.gen_ddp = self._ddp(_GanForward(self.gen))
        if cfg.init_weights:
            _load_into(self.gen, cfg.init_weights, "hg" if cfg.stage in ("single", "hg") and "hg" in self.parts else "g")
        if cfg.stage == "cgan" and self.disc is None:
            raise UserError(f"model {cfg.model} has no discriminator for stage {cfg.stage}")
        self.opt_g = self._adam(self.gen.parameters(), cfg.lr)
        self.disc_ddp = self._ddp(self.disc) if self.disc is not None else None
        self.opt_d = self._adam(self.disc.parameters(), cfg.d_lr) if self.disc is not None else None
        self.ema = EMA(self.gen, cfg.ema_decay)

    # ---- inference modules
    def inference_net(self, ema: bool = True) -> nn.Module:
        """The network whose restore(x) is the deblurred image (EMA weights by default)."""
        gen = self.ema.module if ema else self.gen
        if self.cfg.stage != "cgan":
            return gen
        from streamdeblur.nets.composite import TwoStep

        pathway = gen.bl_pathway() if hasattr(gen, "bl_pathway") else gen
        return TwoStep(self.hg, pathway) if self.hg is not None else pathway

    def inference_module(self) -> nn.Module:
        """The EMA inference model as the registry presents it (ImageModel wrapper: [0, 1] in and out)."""
        from streamdeblur.nets.composite import ImageModel

        return ImageModel(self.inference_net(), self.cfg.crop_size).eval()

    # ---- one step
    def _autocast(self) -> Any:
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext()

    def _extra_terms(self, out: Tensor, sharp: Tensor, parts: dict[str, Tensor]) -> Tensor:
        total = out.new_zeros(())
        if self.perceptual is not None and self.cfg.w_perceptual:
            parts["loss_perceptual"] = self.perceptual(out.float(), sharp)
            total = total + self.cfg.w_perceptual * parts["loss_perceptual"]
        if self.identity is not None and self.cfg.w_identity:
            parts["loss_identity"] = self.identity(out.float(), sharp)
            total = total + self.cfg.w_identity * parts["loss_identity"]
        return total

    def _pixel_weight(self, blurry: Tensor, sharp: Tensor) -> Tensor | None:
        return losses.changed_pixel_weight(blurry, sharp, self.cfg.changed_weight) if self.cfg.changed_weight else None

    def train_step(self, blurry: Tensor, sharp: Tensor) -> dict[str, float]:
        """One optimisation step on a batch; returns the loss terms as floats."""
        blurry, sharp = blurry.to(self.device, non_blocking=True), sharp.to(self.device, non_blocking=True)
        self.gen.train()
        if self.disc is not None:
            self.disc.train()
        stage = self.cfg.stage
        if stage in ("single", "hg"):
            terms = self._step_single(blurry, sharp)
        elif stage == "cgan":
            terms = self._step_cgan(blurry, sharp)
        else:
            terms = self._step_multiscale(blurry, sharp)
        self.ema.update(self.gen)
        self.step += 1
        return {k: float(v) for k, v in terms.items()}

    def _generator_update(self, total: Tensor, terms: dict[str, Tensor]) -> dict[str, Tensor]:
        """One optimiser step of the generator on `total`; returns the detached loss terms."""
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self.opt_g.step()
        terms["loss"] = total
        return {k: v.detach() for k, v in terms.items()}

    def _step_single(self, blurry: Tensor, sharp: Tensor) -> dict[str, Tensor]:
        cfg = self.cfg
        with self._autocast():
            out = self.gen_ddp(blurry).float()
        t: dict[str, Tensor] = {"loss_l1": losses.l1(out, sharp, self._pixel_weight(blurry, sharp))}
        total = cfg.w_l1 * t["loss_l1"]
        if cfg.w_grad:
            t["loss_grad"] = losses.gradient_l1(out, sharp)
            total = total + cfg.w_grad * t["loss_grad"]
        total = total + self._extra_terms(out, sharp, t)
        return self._generator_update(total, t)

    def _disc_step(self, real: Tensor, fake: Tensor, condition: Tensor | None) -> Tensor:
        assert self.disc is not None and self.disc_ddp is not None and self.opt_d is not None
        for p in self.disc.parameters():
            p.requires_grad_(True)
        cond = torch.cat([condition, condition]) if condition is not None else None
        with self._autocast():
            logits = self.disc_ddp(torch.cat([real, fake.detach()]), cond).float()
        real_logits, fake_logits = logits.chunk(2)
        loss = losses.discriminator_adversarial(real_logits, fake_logits, self.cfg.gan_loss)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        for p in self.disc.parameters():
            p.requires_grad_(False)
        return loss.detach()

    def _condition(self, blurry: Tensor) -> Tensor | None:
        return blurry if getattr(self.disc, "cond_channels", 0) else None

    def _step_cgan(self, blurry: Tensor, sharp: Tensor) -> dict[str, Tensor]:
        cfg = self.cfg
        if self.hg is not None:
            with torch.no_grad(), self._autocast():
                x = torch.cat([blurry, self.hg(blurry).float()], dim=1)
        else:
            x = blurry
        two = cfg.variant == "full" and cfg.w_recon > 0
        with self._autocast():
            out, recon = self.gen_ddp(x, sharp if two else None)
        out = out.float()
        cond = self._condition(blurry)
        t: dict[str, Tensor] = {"loss_d": self._disc_step(sharp, out, cond)}
        assert self.disc is not None
        with self._autocast():
            fake_logits, fake_feat = self.disc.features(out, cond)
            with torch.no_grad():
                _, real_feat = self.disc.features(sharp, cond)
        t["loss_adv"] = losses.generator_adversarial(fake_logits.float(), cfg.gan_loss)
        t["loss_l1"] = losses.l1(out, sharp, self._pixel_weight(blurry, sharp))
        t["loss_grad"] = losses.gradient_l1(out, sharp)
        t["loss_proj"] = losses.projection_loss(fake_feat.float(), real_feat.float())
        total = (cfg.w_adv * t["loss_adv"] + cfg.w_l1 * t["loss_l1"] + cfg.w_grad * t["loss_grad"]
                 + cfg.w_proj * t["loss_proj"])
        if recon is not None:
            t["loss_recon"] = losses.reconstruction_l1(recon.float(), sharp)
            total = total + cfg.w_recon * t["loss_recon"]
        total = total + self._extra_terms(out, sharp, t)
        return self._generator_update(total, t)

    def _step_multiscale(self, blurry: Tensor, sharp: Tensor) -> dict[str, Tensor]:
        from streamdeblur.nets.multiscale import structure_target

        cfg = self.cfg
        with self._autocast():
            res = self.gen_ddp(blurry)
        images = [i.float() for i in res["images"]]
        structs = [s.float() for s in res["structures"]]
        out = images[-1]
        t: dict[str, Tensor] = {}
        use_adv = self.disc is not None and cfg.w_adv > 0
        cond = self._condition(blurry)
        if use_adv:
            t["loss_d"] = self._disc_step(sharp, out, cond)
        t["loss_ms"] = losses.multiscale_l1(images, structs, sharp, cfg.w_structure, structure_target)
        total = cfg.w_l1 * t["loss_ms"]
        if use_adv:
            assert self.disc is not None
            with self._autocast():
                fake_logits = self.disc(out, cond)
            t["loss_adv"] = losses.generator_adversarial(fake_logits.float(), cfg.gan_loss)
            total = total + cfg.w_adv * t["loss_adv"]
        total = total + self._extra_terms(out, sharp, t)
        return self._generator_update(total, t)

    # ---- validation
    @torch.no_grad()
    def validate(self, batches: Sequence[tuple[Tensor, Tensor]] | None = None) -> dict[str, float]:
        """Mean PSNR/SSIM of the EMA model and of the blurry input on up to cfg.val_batches batches."""
        if batches is None:
            data = self._val_data
            if data is None:
                return {}
            # an evenly spaced sample of the whole val split (every video, every method), not its first shard
            count = min(len(data), self.cfg.val_batches * self.cfg.batch_size)
            picks = np.linspace(0, len(data) - 1, count).round().astype(int).tolist()
            loader = torch.utils.data.DataLoader(torch.utils.data.Subset(data, picks), batch_size=self.cfg.batch_size,
                                                 collate_fn=_collate)
            batches = list(loader)
        net = self.inference_net().eval()
        scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "psnr_blurry": [], "ssim_blurry": []}
        for blurry, sharp in batches:
            blurry = blurry.to(self.device)
            with self._autocast():
                out = net.restore(blurry).float().clamp(0, 1)
            p, s = image_metrics(out, sharp)
            pb, sb = image_metrics(blurry, sharp)
            scores["psnr"] += p
            scores["ssim"] += s
            scores["psnr_blurry"] += pb
            scores["ssim_blurry"] += sb
        if not scores["psnr"]:
            return {}
        return {k: float(np.mean(v)) for k, v in scores.items()}

    # ---- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (this rank's RNG under rng[rank])."""
        rngs: list[Any] = [rng_state()]
        if self.info.world > 1:
            self.sync_buffers()
            rngs = [None] * self.info.world
            dist.all_gather_object(rngs, rng_state())
        models = {k: m.state_dict() for k, m in self.parts.items()}
        return {
            "format": CHECKPOINT_FORMAT,
            "config": asdict(self.cfg),
            "step": self.step,
            "wall_time": self.wall,
            "models": models,
            "ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict() if self.opt_d is not None else None,
            "rng": rngs,
            "world": self.info.world,
            "hardware": hardware(self.device),
            "torch": torch.__version__,
        }

    def sync_buffers(self) -> None:
        """Give every rank rank 0's buffers (BatchNorm statistics), which DDP only broadcasts at forward."""
        if self.info.world <= 1:
            return
        for module in [*self.parts.values(), self.ema.module]:
            for buf in module.buffers():
                dist.broadcast(buf, 0)

    def save_checkpoint(self, path: Path | None = None) -> Path:
        """Write the checkpoint atomically (tmp + os.replace) and config.json beside it; rank 0 writes."""
        path = path or self.run_dir / CHECKPOINT
        state = self.state_dict()  # collective under DDP: every rank calls it
        if self.info.main:
            tmp = path.with_name(path.name + ".tmp")
            torch.save(state, tmp)
            os.replace(tmp, path)
            self.cfg.save(path.with_name("config.json"))
        if self.info.world > 1:
            dist.barrier()
        return path

    def load_checkpoint(self, path: Path) -> None:
        """Restore models, optimisers, EMA, step, wall time and this rank's RNG."""
        try:
            state = torch.load(str(path), map_location=self.device, weights_only=False)
        except FileNotFoundError:
            raise UserError(f"no checkpoint to resume at {path}") from None
        if state.get("format") != CHECKPOINT_FORMAT:
            raise UserError(f"{path} is not a streamdeblur training checkpoint")
        for k, m in self.parts.items():
            m.load_state_dict(state["models"][k])
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        if self.opt_d is not None and state["opt_d"] is not None:
            self.opt_d.load_state_dict(state["opt_d"])
        self.step = int(state["step"])
        self.wall = float(state["wall_time"])
        rngs = state["rng"]
        if len(rngs) == self.info.world:
            set_rng_state(rngs[self.info.rank])
        else:  # resumed on another number of processes: reseed deterministically instead
            seed_everything(self.cfg.seed + self.info.rank + self.step)

    # ---- the loop
    def _signals(self) -> Any:
        @contextmanager
        def handler() -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return

            def on_signal(signum: int, frame: Any) -> None:
                self._stop = True

            old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, h in old.items():
                    signal.signal(s, h)

        return handler()

    def _should_stop(self) -> bool:
        flag = torch.tensor([1.0 if self._stop else 0.0])
        if self.info.world > 1:
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def fit(self, resume: bool = False, progress: bool | None = None) -> TrainResult:
        """Train to cfg.steps (from the run dir's checkpoint when resume), logging, validating, checkpointing."""
        cfg = self.cfg
        ckpt = self.run_dir / CHECKPOINT
        if resume:
            self.load_checkpoint(ckpt)
        elif ckpt.exists() and self.info.main:
            raise UserError(f"run {self.run_dir} already has a checkpoint: use --resume, or another --name/--run-dir")
        if self.info.main:
            cfg.save(self.run_dir / "config.json")
        train_data = self._train_data if self._train_data is not None else open_dataset(cfg, "train")
        if self._val_data is None and self.info.main and self._train_data is None:
            try:
                self._val_data = open_dataset(cfg, "val")
            except UserError:
                print(f"[{cfg.name}] no val split in {cfg.val_data or cfg.data}: no validation", file=sys.stderr)
        batches = batch_stream(train_data, cfg, self.info, self.step)
        log = CsvLog(self.run_dir / "log.csv", self.step if resume else None)
        val_log = CsvLog(self.run_dir / "val.csv", self.step if resume else None)
        show = self.info.main and not cfg.quiet and (progress if progress is not None else sys.stderr.isatty())
        chatty = self.info.main and not cfg.quiet and not show
        terms: dict[str, float] = {}
        val: dict[str, float] = {}
        interrupted = False
        start_step, t0 = self.step, time.perf_counter()
        bar = progress_bar(show)
        with self._signals(), bar:
            task = bar.add_task(cfg.name, total=cfg.steps, completed=self.step) if show else None
            while self.step < cfg.steps:
                blurry, sharp = next(batches)
                ts = time.perf_counter()
                terms = self.train_step(blurry, sharp)
                dt = time.perf_counter() - ts
                self.wall += dt
                if not all(math.isfinite(v) for v in terms.values()):
                    self.save_checkpoint(self.run_dir / "diverged.pt")
                    raise RuntimeError(f"training diverged at step {self.step}: {terms}")
                if self.info.main and (self.step % cfg.log_every == 0 or self.step == cfg.steps):
                    log.write({"step": self.step, "wall_s": round(self.wall, 3), "step_s": dt, **terms})
                    if chatty:
                        print(f"[{cfg.name}] step {self.step}/{cfg.steps} loss {terms['loss']:.4g} "
                              f"({dt:.2f} s/step)", file=sys.stderr, flush=True)
                if task is not None:
                    bar.update(task, completed=self.step, description=f"{cfg.name} loss {terms['loss']:.4g}")
                if self.info.main and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                    val = self.validate()
                    if val:
                        val_log.write({"step": self.step, **val})
                if self.info.main and (self.step % cfg.plot_every == 0 or self.step == cfg.steps):
                    plot_curves(log.path, val_log.path, self.run_dir / "loss.png")
                if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps:
                    self.save_checkpoint()
                if self._should_stop():
                    interrupted = True
                    self.save_checkpoint()
                    break
        self.sync_buffers()
        done = self.step - start_step
        return TrainResult(self.run_dir, ckpt, self.step, interrupted, terms, val,
                           (time.perf_counter() - t0) / done if done else 0.0)


def hardware(device: str) -> str:
    """A one-line description of where training ran."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(torch.device(device))} (CUDA)"
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} thread(s)"


# --- public entry points -------------------------------------------------------------------------


def train(cfg: TrainConfig, resume: bool = False, progress: bool | None = None) -> TrainResult:
    """Run a training job described by cfg (the library function behind `streamdeblur train`)."""
    run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir(cfg.name)
    if resume and not (run_dir / CHECKPOINT).exists():
        raise UserError(f"nothing to resume: no {CHECKPOINT} in {run_dir}")
    if not resume and (run_dir / CHECKPOINT).exists():
        raise UserError(f"run {run_dir} already has a checkpoint: use --resume, or another --name/--run-dir")
    for label, root in (("--data", cfg.data), ("--val-data", cfg.val_data)):
        if root and not Path(root).is_dir():
            raise UserError(f"{label} directory not found: {root}")
    if not cfg.data:
        raise UserError("no training data: give --data PAIRS_DIR (made by `streamdeblur make-pairs`)")
    trainer = Trainer(cfg, device=cfg.device)
    try:
        return trainer.fit(resume=resume, progress=progress)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def card_metrics(report_json: str | Path) -> dict[str, Any]:
    """The part of an `eval` report.json that goes into an engine card: command, conventions, summary rows."""
    path = Path(report_json)
    if path.is_dir():
        path = path / "report.json"
    try:
        report = json.loads(path.read_text())
        rows = report["summary"]
    except FileNotFoundError:
        raise UserError(f"eval report not found: {path} (make it with `streamdeblur eval ... -o DIR`)") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserError(f"{path} is not a report.json written by `streamdeblur eval`") from None
    settings = report.get("settings", {})
    return {"command": report.get("command"), "conventions": report.get("conventions"),
            "source": settings.get("source"), "faces": settings.get("faces"), "rows": rows}


def release(checkpoint: str | Path, name: str, out_dir: str | Path | None = None,
            parts: dict[str, nn.Module] | None = None, metrics: str | Path | None = None) -> Path:
    """Write <engines>/<name>/model.safetensors (fp16 EMA inference weights) + card.json + README.md; returns the folder.

    README.md is generated from the card, followed by the folder's NOTES.md when there is one.
    metrics: an `eval` report (its folder or report.json) measured on these weights, copied into the card.
    """
    measured = card_metrics(metrics) if metrics is not None else {}
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        checkpoint = checkpoint / CHECKPOINT
    if not checkpoint.is_file():
        raise UserError(f"checkpoint not found: {checkpoint}")
    state = torch.load(str(checkpoint), map_location="cpu", weights_only=False)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{checkpoint} is not a streamdeblur training checkpoint")
    cfg = TrainConfig.from_dict(state["config"])
    cfg = cfg.override(run_dir=str(checkpoint.parent), vgg19="", identity_model="", hg_weights="", init_weights="")
    os.environ.setdefault("WORLD_SIZE", "1")
    trainer = Trainer(cfg, parts=parts, device="cpu", loading=True)
    for k, m in trainer.parts.items():
        m.load_state_dict(state["models"][k])
    trainer.ema.load_state_dict(state["ema"])
    module = trainer.inference_module()
    folder = Path(out_dir) if out_dir else engines_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    _save_fp16(module, folder / "model.safetensors")
    n_params = sum(p.numel() for p in module.parameters())
    card = {
        "name": name,
        "model": cfg.model,
        "stage": cfg.stage,
        "variant": cfg.variant if cfg.stage == "cgan" else None,
        "input_size": cfg.crop_size,
        "parameters": n_params,
        "weights": "model.safetensors (fp16, EMA of the generator)",
        "training": {
            "data": cfg.data,
            "val_data": cfg.val_data,
            "steps": state["step"],
            "wall_time_s": round(state["wall_time"], 1),
            "hardware": state.get("hardware"),
            "processes": state.get("world", 1),
            "perceptual_loss": bool(cfg.vgg19),
            "identity_loss": bool(cfg.identity_model),
            "config": state["config"],
        },
        "metrics": measured,
    }
    (folder / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    notes = folder / "NOTES.md"  # hand-written prose kept across releases: status, caveats, what is next
    (folder / "README.md").write_text(_card_markdown(card) + ("\n" + notes.read_text() if notes.is_file() else ""))
    return folder


def _save_fp16(module: nn.Module, path: Path) -> None:
    try:
        from streamdeblur.models import save_weights
    except ImportError:
        save_weights = None
    if save_weights is not None:
        save_weights(module, path)
        return
    from safetensors.torch import save_file

    state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in module.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, path)


def _card_markdown(card: dict[str, Any]) -> str:
    tr = card["training"]
    lines = [
        f"# {card['name']}",
        "",
        f"Model `{card['model']}` (stage {card['stage']}{', variant ' + card['variant'] if card['variant'] else ''}), "
        f"{card['parameters']:,} parameters, {card['input_size']} px faces.",
        "",
        "## Training",
        "",
        f"- data: `{tr['data']}` (validation: `{tr['val_data'] or 'held-out split of the same pairs'}`)",
        f"- steps: {tr['steps']}, wall time {tr['wall_time_s']} s on {tr['hardware']} x {tr['processes']} process(es)",
        f"- perceptual (VGG19) loss: {'yes' if tr['perceptual_loss'] else 'no (no VGG19 weights given)'}; "
        f"identity loss: {'yes' if tr['identity_loss'] else 'no'}",
        "",
        "## Metrics",
        "",
    ]
    metrics = card.get("metrics") or {}
    if not metrics.get("rows"):
        return "\n".join(lines + ["Not measured yet: run `streamdeblur eval` and release again with --metrics.", ""])
    from streamdeblur.eval.report import COLUMNS, blur_tables

    lines += [f"Command: `{metrics['command']}`", ""]
    groups = list(dict.fromkeys(r["group"] for r in metrics["rows"]))
    lines += blur_tables(metrics["rows"], groups, COLUMNS, heading="###")
    if metrics.get("conventions"):
        lines += [f"Conventions: {metrics['conventions']}", ""]
    return "\n".join(lines)
