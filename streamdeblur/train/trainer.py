"""The training loop: one Trainer drives every stage (train/stages.py).

The Trainer owns what all stages share: device and torchrun/DDP set-up (gloo on CPU, nccl on
CUDA; each rank reads its own slice of the pairs), the learning-rate schedule (warm-up, cosine),
bf16 autocast where the hardware computes it natively, an EMA of the generator weights, atomic
checkpoints (models, optimisers, EMA, step, every rank's RNG state) resumed exactly, a CSV log and
a loss-curve PNG, a progress bar with ETA, periodic validation (PSNR/SSIM of the EMA model and of
the blurry input; the state at the best validation gain so far is kept as best.pt, since later
steps can lose what earlier ones had), and SIGINT/SIGTERM -> checkpoint then stop.
"""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import threading
import time
from contextlib import closing, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from streamdeblur.errors import UserError, short_reason
from streamdeblur.paths import cache_dir
from streamdeblur.train.config import TrainConfig
from streamdeblur.train.distributed import (amp_dtype, hardware, init_distributed, pick_device, rng_state,
                                            seed_everything, set_rng_state)
from streamdeblur.train.ema import EMA
from streamdeblur.progress import Bar
from streamdeblur.train.logs import CsvLog, image_metrics, plot_curves
from streamdeblur.train.sampling import batch_stream, check_data, collate, open_dataset
from streamdeblur.train.stages import (BEST_CHECKPOINT, CHECKPOINT, CHECKPOINT_FORMAT, STAGES, Stage, centre,
                                      check_input_size)

log = logging.getLogger(__name__)


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


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """The learning rate at `step` as a fraction of the base: linear warm-up, then constant or cosine decay
    to lr_min / lr at lr_horizon (default: steps)."""
    if cfg.warmup > 0 and step < cfg.warmup:
        return (step + 1) / cfg.warmup
    if cfg.lr_schedule != "cosine":
        return 1.0
    horizon = cfg.lr_horizon or cfg.steps
    t = min(1.0, max(0.0, (step - cfg.warmup) / max(1, horizon - cfg.warmup)))
    floor = cfg.lr_min / cfg.lr if cfg.lr > 0 else 0.0
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


class Trainer:
    """Holds the stage (networks, optimisers), EMA and run state for one TrainConfig; fit() runs the loop."""

    def __init__(self, cfg: TrainConfig, parts: dict[str, nn.Module] | None = None, train_data: Any = None,
                 val_data: Any = None, device: str = "auto", loading: bool = False) -> None:
        """loading: the caller fills every network from a checkpoint next (no untrained-HG warning)."""
        from streamdeblur import models

        self.cfg = cfg.validate()
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.device = pick_device(device)
        self.info = init_distributed(self.device)
        self.run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir(cfg.name)
        make_run_dir(self.run_dir)
        seed_everything(cfg.seed + self.info.rank)
        parts = parts if parts is not None else dict(models.build_parts(cfg.model))
        frames = max((int(getattr(m, "frames", 1)) for m in parts.values()), default=1)
        check_input_size(cfg, parts, frames)
        parts = {k: v.to(self.device) for k, v in parts.items()}
        self._train_data, self._val_data = train_data, val_data
        self._seen_data: Any = None
        self._unseen_data: Any = None
        self.step = 0
        self.wall = 0.0
        self._stop = False
        self.stage: Stage = STAGES[cfg.stage](cfg, parts, self.info, self.device, loading)
        self.ema = EMA(self.stage.gen, cfg.ema_decay)
        self.amp = amp_dtype(self.device, cfg.amp)
        self.frames = int(getattr(self.stage.gen, "frames", 1))

    # ---- the stage's networks, as attributes of the trainer
    @property
    def parts(self) -> dict[str, nn.Module]:
        """The checkpointed networks by role ('hg', 'g', 'd')."""
        return self.stage.parts

    @property
    def gen(self) -> nn.Module:
        return self.stage.gen

    @property
    def hg(self) -> nn.Module | None:
        return self.stage.hg

    @property
    def disc(self) -> nn.Module | None:
        return self.stage.disc

    def inference_net(self, ema: bool = True) -> nn.Module:
        """The network whose restore(x) is the deblurred image (EMA weights by default)."""
        return self.stage.inference_net(self.ema.module if ema else self.stage.gen)

    def inference_module(self) -> nn.Module:
        """The EMA inference model as the registry presents it (ImageModel wrapper: [0, 1] in and out)."""
        from streamdeblur.nets.composite import ImageModel

        return ImageModel(self.inference_net(), self.cfg.crop_size).eval()

    # ---- one step
    def _autocast(self) -> Any:
        if self.amp is None:
            return nullcontext()
        return torch.autocast("cuda" if self.device.startswith("cuda") else "cpu", dtype=self.amp)

    def train_step(self, blurry: Tensor, sharp: Tensor) -> dict[str, float]:
        """One optimisation step on a batch; returns the loss terms as floats."""
        blurry, sharp = blurry.to(self.device, non_blocking=True), sharp.to(self.device, non_blocking=True)
        factor = lr_factor(self.cfg, self.step)
        for opt, base in self.stage.optimizers():
            for group in opt.param_groups:
                group["lr"] = base * factor
        self.stage.train_mode()
        terms = self.stage.step(blurry, sharp, self._autocast)
        self.ema.update(self.stage.gen)
        self.step += 1
        out = {k: float(v) for k, v in terms.items()}
        out["lr"] = self.cfg.lr * factor
        return out

    # ---- validation
    @torch.no_grad()
    def validate(self, batches: Sequence[tuple[Tensor, Tensor]] | None = None) -> dict[str, float]:
        """Mean PSNR/SSIM of the EMA model and of the blurry input (its centre frame) on up to cfg.val_batches batches;
        without batches given, also the gain on cfg.seen_batches batches of training pairs (seen_gain_db) and, with
        cfg.clip_share < 1, of the training clips left out (unseen_gain_db)."""
        if batches is not None:
            return self._scores(batches)
        out = self._scores(self._sample(self._val_data, self.cfg.val_batches))
        for key, data in (("seen_gain_db", self._seen_data), ("unseen_gain_db", self._unseen_data)):
            scores = self._scores(self._sample(data, self.cfg.seen_batches)) if out else {}
            if scores:
                out[key] = scores["gain_db"]
        return out

    def _sample(self, data: Any, n_batches: int) -> list[tuple[Tensor, Tensor]]:
        """An evenly spaced sample of a dataset's pairs (every video, every method in it), not its first ones."""
        if data is None or n_batches <= 0:
            return []
        count = min(len(data), n_batches * self.cfg.batch_size)
        picks = np.linspace(0, len(data) - 1, count).round().astype(int).tolist()
        return list(torch.utils.data.DataLoader(torch.utils.data.Subset(data, picks), batch_size=self.cfg.batch_size,
                                                collate_fn=collate))

    def _scores(self, batches: Sequence[tuple[Tensor, Tensor]]) -> dict[str, float]:
        net = self.inference_net().eval()
        scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "psnr_blurry": [], "ssim_blurry": []}
        for blurry, sharp in batches:
            blurry = blurry.to(self.device)
            with self._autocast():
                out = net.restore(blurry).float().clamp(0, 1)
            p, s = image_metrics(out, sharp)
            pb, sb = image_metrics(centre(blurry), sharp)
            scores["psnr"] += p
            scores["ssim"] += s
            scores["psnr_blurry"] += pb
            scores["ssim_blurry"] += sb
        if not scores["psnr"]:
            return {}
        out = {k: float(np.mean(v)) for k, v in scores.items()}
        out["gain_db"] = out["psnr"] - out["psnr_blurry"]
        return out

    # ---- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (this rank's RNG under rng[rank])."""
        rngs: list[Any] = [rng_state()]
        if self.info.world > 1:
            self.sync_buffers()
            rngs = [None] * self.info.world
            dist.all_gather_object(rngs, rng_state())
        return {
            "format": CHECKPOINT_FORMAT,
            "config": asdict(self.cfg),
            "step": self.step,
            "wall_time": self.wall,
            "models": {k: m.state_dict() for k, m in self.parts.items()},
            "ema": self.ema.state_dict(),
            "opt_g": self.stage.opt_g.state_dict(),
            "opt_d": self.stage.opt_d.state_dict() if self.stage.opt_d is not None else None,
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
        state = read_checkpoint(path, self.device)
        trained = state.get("config", {}).get("model")
        if trained and trained != self.cfg.model:
            raise UserError(different_model(path.parent, trained, self.cfg.model))
        try:
            for k, m in self.parts.items():
                m.load_state_dict(state["models"][k])
            self.ema.load_state_dict(state["ema"])
            self.stage.opt_g.load_state_dict(state["opt_g"])
            if self.stage.opt_d is not None and state["opt_d"] is not None:
                self.stage.opt_d.load_state_dict(state["opt_d"])
        except (KeyError, RuntimeError, ValueError) as exc:  # same model name, other networks or optimiser
            what = f"no '{exc.args[0]}'" if isinstance(exc, KeyError) else str(exc).splitlines()[0][:160]
            raise UserError(f"{path} does not fit this run's {self.cfg.model} (stage {self.cfg.stage}) networks "
                            f"({what}): resume with the options it was trained with (its config.json), or "
                            "start a new --run-dir") from None
        self.step = int(state["step"])
        self.wall = float(state["wall_time"])
        rngs = state["rng"]
        if len(rngs) == self.info.world:
            set_rng_state(rngs[self.info.rank])
        else:  # resumed on another number of processes: reseed deterministically instead
            seed_everything(self.cfg.seed + self.info.rank + self.step)

    # ---- the loop
    @contextmanager
    def _signals(self) -> Iterator[None]:
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

    def _should_stop(self) -> bool:
        flag = torch.tensor([1.0 if self._stop else 0.0])
        if self.info.world > 1:
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _open_data(self, resume: bool) -> Any:
        train_data = self._train_data if self._train_data is not None else open_dataset(self.cfg, "train", self.frames)
        if self._val_data is None and self.info.main and self._train_data is None and self.cfg.val_batches > 0:
            try:
                self._val_data = open_dataset(self.cfg, "val", self.frames)
            except UserError:
                log.warning("[%s] no val split in %s: no validation", self.cfg.name, self.cfg.val_data or self.cfg.data)
            if self._val_data is not None and self.cfg.seen_batches > 0:
                try:
                    self._seen_data = open_dataset(self.cfg, "seen", self.frames)
                except UserError:
                    log.warning("[%s] no train split beside the val pairs: no seen_gain_db", self.cfg.name)
            if self._seen_data is not None and self.cfg.clip_share < 1.0:
                try:
                    self._unseen_data = open_dataset(self.cfg, "unseen", self.frames)
                except UserError:
                    log.warning("[%s] every clip of the first train shard is in clip_share: no unseen_gain_db",
                                self.cfg.name)
        return train_data

    def fit(self, resume: bool = False, progress: bool | None = None,
            snapshot: Callable[[int, Path], None] | None = None, snapshot_steps: Sequence[int] = ()) -> TrainResult:
        """Train to cfg.steps (from the run dir's checkpoint when resume), logging, validating, checkpointing.
        At each of snapshot_steps the checkpoint is saved and snapshot(step, checkpoint) called (rank 0) before
        training goes on: `adapt` releases the engine as it is there (train/adapt.py)."""
        import sys

        cfg = self.cfg
        ckpt = self.run_dir / CHECKPOINT
        if resume:
            self.load_checkpoint(ckpt)
        elif ckpt.exists() and self.info.main:
            raise UserError(f"run {self.run_dir} already has a checkpoint: use --resume, or another --name/--run-dir")
        if self.info.main:
            cfg.save(self.run_dir / "config.json")
            if not resume and cfg.init_weights:
                from streamdeblur.train.history import record_ancestry

                record_ancestry(self.run_dir, cfg.init_weights)
        batches = batch_stream(self._open_data(resume), cfg, self.info, self.step)
        logger = CsvLog(self.run_dir / "log.csv", self.step if resume else None)
        val_log = CsvLog(self.run_dir / "val.csv", self.step if resume else None)
        # best.pt is the best trained state: the starting weights' row (step 0) does not count
        val: dict[str, float] = {}
        best = max((float(r["gain_db"]) for r in val_log.rows() if r.get("gain_db") and int(float(r["step"])) > 0),
                   default=-math.inf)
        if self.info.main and not resume and cfg.init_weights and self.step == 0:
            start = self.validate()  # a warm start's curve begins where its weights stand on this run's val pairs
            if start:
                val_log.write({"step": 0, **start, "wall_s": 0.0})
        show = self.info.main and not cfg.quiet and (progress if progress is not None else sys.stderr.isatty())
        chatty = self.info.main and not cfg.quiet and not show
        terms: dict[str, float] = {}
        interrupted = False
        start_step, t0 = self.step, time.perf_counter()
        with closing(batches), self._signals(), Bar(cfg.name, "loss {task.fields[loss]}", show) as bar:
            while self.step < cfg.steps:
                try:
                    blurry, sharp = next(batches)
                except UserError as exc:  # from a data worker, torch adds its traceback to the message
                    raise type(exc)(worker_message(str(exc))) from None
                ts = time.perf_counter()
                terms = self.train_step(blurry, sharp)
                dt = time.perf_counter() - ts
                self.wall += dt
                if not all(math.isfinite(v) for v in terms.values()):
                    self.save_checkpoint(self.run_dir / "diverged.pt")
                    raise RuntimeError(f"training diverged at step {self.step}: {terms}")
                if self.info.main and (self.step % cfg.log_every == 0 or self.step == cfg.steps):
                    logger.write({"step": self.step, "wall_s": round(self.wall, 3), "step_s": dt, **terms})
                    if chatty:
                        log.info("[%s] step %d/%d loss %.4g (%.2f s/step)", cfg.name, self.step, cfg.steps,
                                 terms["loss"], dt)
                bar.update(self.step, cfg.steps, loss=f"{terms['loss']:.4g}")
                if self.step % cfg.val_every == 0 or self.step == cfg.steps:
                    improved = [False]
                    if self.info.main:
                        val = self.validate()
                        if val:
                            val_log.write({"step": self.step, **val, "wall_s": round(self.wall, 1)})
                            improved[0] = val.get("gain_db", -math.inf) > best
                            best = max(best, val.get("gain_db", -math.inf))
                    if self.info.world > 1:
                        dist.broadcast_object_list(improved, 0)
                    if improved[0]:
                        self.save_checkpoint(self.run_dir / BEST_CHECKPOINT)
                if self.info.main and (self.step % cfg.plot_every == 0 or self.step == cfg.steps):
                    plot_curves(logger.path, val_log.path, self.run_dir / "loss.png")
                if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps or self.step in snapshot_steps:
                    self.save_checkpoint()
                if snapshot is not None and self.step in snapshot_steps and self.info.main:
                    snapshot(self.step, ckpt)
                if self._should_stop():
                    interrupted = True
                    self.save_checkpoint()
                    break
        self.sync_buffers()
        done = self.step - start_step
        return TrainResult(self.run_dir, ckpt, self.step, interrupted, terms, val,
                           (time.perf_counter() - t0) / done if done else 0.0)


def check_run_dir(run_dir: Path) -> None:
    """UserError when the run folder's path is a file."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--run-dir {run_dir} is a file, not a folder: give a folder for the run's checkpoints "
                        "and logs (a new one, or a run's to --resume it)")


def make_run_dir(run_dir: Path) -> None:
    """Create the run folder; UserError when the path is a file or cannot be made."""
    check_run_dir(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the run folder {run_dir} (--run-dir): {exc.strerror or exc}") from None


def read_checkpoint(path: Path, device: str = "cpu") -> dict[str, Any]:
    """A training checkpoint's state; UserError when it is missing, damaged or not a checkpoint."""
    try:
        state = torch.load(str(path), map_location=device, weights_only=False)
    except FileNotFoundError:
        raise UserError(f"no checkpoint to resume at {path}") from None
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: the user's to replace
        best = path.with_name(BEST_CHECKPOINT)
        raise UserError(f"checkpoint {path} is damaged or not a training checkpoint ({short_reason(exc)}): "
                        + (f"copy {best.name} beside it (the run at its best validation, an earlier step) over it "
                           "and resume again, or " if best != path and best.is_file() else "")
                        + "delete it to train the run from the start, or give a new --run-dir") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path} is not a streamdeblur training checkpoint")
    return state


def worker_message(text: str) -> str:
    """A UserError's own line out of the message a DataLoader worker's exception comes back with ("Caught UserError
    in DataLoader worker process 0. Original Traceback ... module.UserError: the line")."""
    if "Traceback" not in text:
        return text
    last = [line for line in text.splitlines() if line.strip()][-1]
    return re.sub(r"^[\w.]*(Error|Shard): ", "", last.strip())


def different_model(run_dir: Path, trained: str, given: str) -> str:
    return (f"run {run_dir} was trained with model {trained}, not {given}: resume it with --model {trained} "
            "(or start a new --run-dir)")


def check_pair_size(cfg: TrainConfig, roots: list[Path]) -> None:
    """UserError when --crop-size is larger than the pairs: they would be enlarged (detail-free, and slow)."""
    from streamdeblur.data.shards import find_shards, pair_side

    for root in roots:
        shards = find_shards(root, "train")
        side = pair_side(shards[0]) if shards else None
        if side is not None and cfg.crop_size > side:
            raise UserError(f"--crop-size {cfg.crop_size} is larger than the {side}-px pairs in {root}: give "
                            f"--crop-size {side} or less (pairs are resized to the crop size), or make larger pairs "
                            "with `streamdeblur make-pairs --size`")


def train(cfg: TrainConfig, resume: bool = False, progress: bool | None = None,
          snapshot: Callable[[int, Path], None] | None = None, snapshot_steps: Sequence[int] = ()) -> TrainResult:
    """Run a training job described by cfg (the library function behind `streamdeblur train`); snapshot,
    snapshot_steps: as Trainer.fit's."""
    run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir(cfg.name)
    check_run_dir(run_dir)  # before 'nothing to resume' could be said of a file
    if resume and not (run_dir / CHECKPOINT).exists():
        raise UserError(f"nothing to resume: no {CHECKPOINT} in {run_dir}")
    if not resume and (run_dir / CHECKPOINT).exists():
        raise UserError(f"run {run_dir} already has a checkpoint: use --resume, or another --name/--run-dir")
    roots = check_data("--data", cfg.data)
    check_data("--val-data", cfg.val_data)
    if not cfg.data:
        raise UserError("no training data: give --data PAIRS_DIR (made by `streamdeblur make-pairs`)")
    check_pair_size(cfg, roots)
    created = not run_dir.exists()
    try:
        trainer = Trainer(cfg, device=cfg.device)
    except UserError:  # an option the networks refuse: no empty run folder left behind
        if created and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()
        raise
    try:
        return trainer.fit(resume=resume, progress=progress, snapshot=snapshot, snapshot_steps=snapshot_steps)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
