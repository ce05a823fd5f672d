"""What a training run reads: the pair datasets (shards or a decoded cache), per-pair sampling weights
(motion, mix of blur methods) and an endless, resumable stream of batches."""

from __future__ import annotations

import hashlib
import signal
from collections import Counter
from pathlib import Path
from typing import Any, Generator, Iterator, Sequence

import torch
from torch import Tensor

from streamdeblur.errors import UserError
from streamdeblur.train.config import TrainConfig
from streamdeblur.train.distributed import DistInfo


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


def collate(items: Sequence[Any]) -> tuple[Tensor, Tensor]:
    """(blurry, sharp) float batches from dataset items; items of two samples (a pair and its next exposure,
    CachedPairs with neighbour) become two consecutive rows."""
    join = torch.cat if torch.as_tensor(items[0][1]).dim() == 4 else torch.stack
    blurry = join([torch.as_tensor(item[0]) for item in items]).float()
    sharp = join([torch.as_tensor(item[1]) for item in items]).float()
    return blurry, sharp


def motion_weights(dataset: Any, power: float, floor: float = 0.5) -> list[float]:
    """Per-pair sampling weights max(motion, floor) ** power (motion: mean |blurry - sharp| in grey levels).

    Real clips are mostly near-still, so uniform sampling teaches "return the input"; power 1 makes
    the motion of what is drawn match that of blurry faces, while still windows keep being drawn."""
    if not hasattr(dataset, "meta"):
        raise UserError("motion_power needs a dataset with per-pair metadata (a PairDataset)")
    return [max(float(dataset.meta(i).get("motion", 0.0)), floor) ** power for i in range(len(dataset))]


def parse_mix(text: str) -> dict[str, float]:
    """'motion=0.6,kernel=0.2' -> {'motion': 0.6, 'kernel': 0.2}; UserError on a malformed entry."""
    mix = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        try:
            mix[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or mix.get(name.strip(), -1) < 0:
            raise UserError(f"mix takes method=weight entries separated by commas (e.g. motion=0.7,kernel=0.3), "
                            f"got {part!r}")
    return mix


def sampling_weights(dataset: Any, cfg: TrainConfig) -> list[float] | None:
    """Per-pair weights from cfg.motion_power and cfg.mix (each method drawn in its share of the mix,
    its pairs weighted by motion within it); None for uniform sampling."""
    mix = parse_mix(cfg.mix) if cfg.mix else {}
    if not cfg.motion_power and not mix:
        return None
    base = motion_weights(dataset, cfg.motion_power) if cfg.motion_power else [1.0] * len(dataset)
    if not mix:
        return base
    methods = [dataset.meta(i).get("method") for i in range(len(dataset))]
    totals: Counter = Counter()
    for m, w in zip(methods, base):
        totals[m] += w
    missing = sorted(set(mix) - set(totals))
    if missing:
        raise UserError(f"mix names method(s) with no training pairs: {', '.join(missing)} "
                        f"(the data holds {', '.join(sorted(map(str, totals)))})")
    unlisted = sorted(map(str, set(totals) - set(mix)))
    if unlisted:
        raise UserError(f"mix gives no weight to method(s) {', '.join(unlisted)} present in the data: "
                        "list them (or filter with methods=...)")
    return [max(mix[m] * w / totals[m], 1e-12) for m, w in zip(methods, base)]


def _leave_signals_to_the_trainer(worker_id: int) -> None:
    """Data workers ignore SIGINT and SIGTERM: a Ctrl-C, or a `timeout` or `kill` of the whole process group, reaches
    them too, and a worker killed mid-batch would end the run with a traceback instead of the trainer's checkpoint.
    The trainer stops at the end of its step and closes its batch stream, which ends the workers (_batches)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def batch_stream(dataset: Any, cfg: TrainConfig, info: DistInfo, start_step: int) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless (blurry, sharp) batches for this rank from a map-style dataset, starting exactly at start_step."""
    if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
        raise TypeError("the trainer needs a map-style dataset (len and indexing)")
    sampler = StepSampler(len(dataset), cfg.batch_size, cfg.seed, info.rank, info.world, start_step,
                          weights=sampling_weights(dataset, cfg))
    loader = torch.utils.data.DataLoader(_EpochIndexed(dataset), batch_sampler=sampler, num_workers=cfg.workers,
                                         collate_fn=collate, persistent_workers=cfg.workers > 0,
                                         worker_init_fn=_leave_signals_to_the_trainer if cfg.workers > 0 else None)
    return _batches(loader, cfg, info.rank, start_step)


def _batches(loader: Any, cfg: TrainConfig, rank: int, start_step: int) -> Generator[tuple[Tensor, Tensor], None, None]:
    """The loader's batches (with sharp inputs mixed in). Its workers start with the first batch, and closing the
    stream (the trainer does, however it stops) sends them their end and joins them, so none is left for the
    interpreter's exit to terminate (they ignore SIGTERM)."""
    it = iter(loader)
    try:
        if cfg.sharp_frac <= 0:
            yield from it
        else:
            yield from with_sharp_inputs(it, cfg.sharp_frac, cfg.seed * 1000003 + rank, start_step, cfg.sharp_moving)
    finally:
        shutdown = getattr(it, "_shutdown_workers", None)  # what the loader's iterator runs when collected
        if shutdown is not None:
            shutdown()


def with_sharp_inputs(batches: Iterator[tuple[Tensor, Tensor]], frac: float, seed: int,
                      start_step: int, moving: float = 0.0) -> Iterator[tuple[Tensor, Tensor]]:
    """Replace each input by its own sharp target with probability frac, so the network learns to leave sharp
    faces alone. A multi-frame input gets it in every frame (a still face), or with probability `moving` in its
    centre frame only, its blurred neighbours kept (a sharp frame of a moving face: a face filmed at a short
    shutter moves between frames, and a temporal engine that only ever saw still sharp faces corrects it). A pure
    function of (seed, step): a resumed run draws the same replacements."""
    step = start_step
    for blurry, sharp in batches:
        gen = torch.Generator().manual_seed(seed + step)
        pick = torch.rand(len(blurry), generator=gen) < frac
        centre_only = torch.rand(len(blurry), generator=gen) < moving
        if bool(pick.any()):
            blurry = blurry.clone()
            reps = blurry.shape[1] // sharp.shape[1]
            moving_face = pick & centre_only if reps > 1 else torch.zeros_like(pick)
            still = pick & ~moving_face
            blurry[still] = sharp[still].repeat(1, reps, 1, 1)
            c, k = sharp.shape[1], reps // 2
            blurry[moving_face, c * k:c * (k + 1)] = sharp[moving_face]
        yield blurry, sharp
        step += 1


def check_data(label: str, text: str) -> list[Path]:
    """The pair folders of --data / --val-data (comma-separated); UserError for one missing or a file."""
    roots = [Path(p.strip()) for p in text.split(",") if p.strip()]
    for root in roots:
        if root.is_file():
            raise UserError(f"{label} {root} is a file, not a pairs folder: give the folder `streamdeblur "
                            "make-pairs` wrote (with train/ and val/ inside)")
        if not root.is_dir():
            raise UserError(f"{label} directory not found: {root}")
    return roots


def data_roots(cfg: TrainConfig, split: str) -> list[Path]:
    """The pair directories of a split (cfg.data, or cfg.val_data for val): comma-separated, each a folder."""
    label, text = ("--val-data", cfg.val_data) if split == "val" and cfg.val_data else ("--data", cfg.data)
    roots = check_data(label, text)
    if not roots:
        raise UserError("no training data: give --data PAIRS_DIR (made by `streamdeblur make-pairs`)")
    return roots


def in_clip_share(video_id: str, share: float) -> bool:
    """Whether a clip is among the first `share` of all clips in the order of a hash of its id (stable across
    runs and pair sets; the clips of a smaller share are among those of a larger one)."""
    digest = hashlib.sha1(str(video_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64 < share


def open_dataset(cfg: TrainConfig, split: str, frames: int = 1) -> Any:
    """The pair dataset of cfg.data (or cfg.val_data) for split "train" (augmented) or "val" (not); "seen": the
    first train shard of each validation set, not augmented (pairs like val's that the net trains on); "unseen":
    that shard's pairs of the clips that cfg.clip_share leaves out (held out, but from the training sources).

    With cfg.cache (or a multi-frame model, frames > 1) the pairs are decoded once into a uint8
    cache under <cache>/pair-cache (a flow-aligned model's groups warped as its engine warps them)
    and read from there (patches of cfg.patch px when training);
    else PNGs are decoded from the shards for every sample. The StepSampler splits the training
    pairs over ranks, so every rank opens all of them.
    """
    from streamdeblur.data.dataset import PairFilter, PairDataset
    from streamdeblur.data.shards import find_shards

    first_shard = split in ("seen", "unseen")  # the first train shard beside each validation set
    roots = data_roots(cfg, "val" if first_shard else split)
    train = split == "train"
    shards: list[Path] = []
    for root in roots:
        found = find_shards(root, "train" if first_shard else split)
        shards += found[:1] if first_shard else found
    if not shards:
        raise UserError(f"no shards (*.tar) for split {split} under {', '.join(map(str, roots))} "
                        "(make pairs with `streamdeblur make-pairs`)")
    max_motion = cfg.max_motion
    share = cfg.clip_share if split != "val" else 1.0  # "seen" pairs: of the clips the net trains on
    inside = split != "unseen"  # "unseen": of the clips it does not

    def within(meta: dict[str, Any]) -> bool:
        return ((max_motion <= 0 or float(meta.get("motion", 0.0)) <= max_motion)
                and (share >= 1.0 or in_clip_share(meta.get("video_id", ""), share) == inside))

    where = within if max_motion > 0 or share < 1.0 else None
    keep = PairFilter(cfg.methods or None, cfg.min_motion or None, where)
    if cfg.cache or frames > 1 or cfg.w_flicker > 0:
        from streamdeblur.data.cache import CachedPairs, build_cache
        from streamdeblur.paths import cache_dir

        from streamdeblur.models import get_spec

        align = get_spec(cfg.model).align if frames > 1 else "landmarks"  # the groups as the engine will see them
        neighbour = train and cfg.w_flicker > 0  # the flicker loss trains on two consecutive exposures
        cache = build_cache(shards, cache_dir() / "pair-cache", cfg.crop_size, frames, align=align, neighbour=neighbour)
        if neighbour and not cache[1]:
            raise UserError(f"w_flicker needs motion groups of at least {frames + 2} exposures with their sharp frames "
                            f"(make-pairs --method motion --frames {frames + 2} --targets); "
                            f"{', '.join(map(str, roots))} holds none")
        data = CachedPairs([cache], patch=cfg.patch if train else None, augment=train, seed=cfg.seed, flip=cfg.flip,
                           rotate=cfg.rotate, jitter=cfg.jitter, zoom=cfg.zoom, neighbour=neighbour,
                           native=cfg.native)
        if cfg.methods or cfg.min_motion or where is not None:
            data = data.subset([i for i in range(len(data)) if keep(data.meta(i))])
        if len(data) == 0:
            raise UserError(f"no {split} pairs left after the filters in {', '.join(map(str, roots))}")
        return data
    try:
        return PairDataset(shards, size=cfg.crop_size, crop_scale=tuple(cfg.crop_scale) if train else None,
                           flip=cfg.flip and train, jitter=cfg.jitter if train else 0.0, rotate=cfg.rotate and train, methods=cfg.methods or None,
                           min_motion=cfg.min_motion or None, where=where, seed=cfg.seed)
    except FileNotFoundError as exc:
        raise UserError(f"{exc} (make pairs with `streamdeblur make-pairs`)") from None
