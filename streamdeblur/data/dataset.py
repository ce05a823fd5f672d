"""torch Datasets over make-pairs shards: (blurry, sharp) as 3 x S x S RGB float tensors in [0, 1].

PairDataset is map-style: it indexes the shards once (member offsets and each pair's json), reads
members by offset, and works with DataLoader workers (each process opens its own file handles)
and with DistributedSampler, or shards itself with rank/world_size. PairStream is an
IterableDataset that streams whole shards (sequential reads, a shuffle buffer), split across
ranks and DataLoader workers. Both apply the same augmentation to blurry and sharp: random crop
(scale range) and resize to `size`, horizontal flip, colour jitter, quarter turns.

Both pickle cleanly, so DataLoader(..., multiprocessing_context="spawn") works too: use it when the
process that starts the workers has itself decoded video or run face detection (make-pairs in
the same process), where forked workers were seen to hang inside torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from streamdeblur.data.shards import damaged, PairRecord, decode_png, find_shards, index_shard, iter_pairs, read_member

Filter = Callable[[dict[str, Any]], bool]


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 BGR -> 3xHxW float32 RGB in [0, 1]."""
    chw = np.ascontiguousarray(image[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32)
    chw *= 1.0 / 255.0
    return torch.from_numpy(chw)


def jitter_colour(images: np.ndarray, rng: np.random.Generator, jitter: float, reference: np.ndarray) -> np.ndarray:
    """The same random brightness, contrast and saturation (each in 1 +- jitter) on every image of a
    (..., H, W, 3) uint8 BGR stack; contrast pivots on the reference image's mean grey."""
    brightness, contrast, saturation = rng.uniform(1 - jitter, 1 + jitter, size=3)
    mean = float(cv2.cvtColor(np.ascontiguousarray(reference), cv2.COLOR_BGR2GRAY).mean()) / 255.0
    x = images.astype(np.float32) * (brightness / 255.0)
    x = (x - mean * brightness) * contrast + mean * brightness
    grey = x @ np.array([0.114, 0.587, 0.299], np.float32)
    x = (x - grey[..., None]) * saturation + grey[..., None]
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def rotate_quarter(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random multiple of 90 degrees on the (H, W) axes of a (..., H, W, 3) stack: with a flip, the
    eight symmetries of the square, the usual augmentation of deblurring training (blur has no side)."""
    return np.rot90(images, int(rng.integers(0, 4)), axes=(-3, -2))


def augment_pair(
    blurry: np.ndarray, sharp: np.ndarray, rng: np.random.Generator, size: int | None = None,
    crop_scale: tuple[float, float] | None = None, flip: bool = False, jitter: float = 0.0, rotate: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The same random crop/resize, flip, quarter turn and colour jitter on both images (uint8 BGR in and out)."""
    side = sharp.shape[0]
    if crop_scale is not None:
        lo, hi = crop_scale
        c = int(round(side * rng.uniform(lo, hi)))
        c = min(max(c, 8), side)
        y, x = int(rng.integers(0, side - c + 1)), int(rng.integers(0, side - c + 1))
        blurry, sharp = blurry[y:y + c, x:x + c], sharp[y:y + c, x:x + c]
    if size is not None and blurry.shape[0] != size:
        interp = cv2.INTER_AREA if blurry.shape[0] > size else cv2.INTER_LINEAR
        blurry = cv2.resize(blurry, (size, size), interpolation=interp)
        sharp = cv2.resize(sharp, (size, size), interpolation=interp)
    if flip and rng.uniform() < 0.5:
        blurry, sharp = blurry[:, ::-1], sharp[:, ::-1]
    if jitter > 0:
        blurry, sharp = jitter_colour(np.stack([blurry, sharp]), rng, jitter, reference=sharp)
    if rotate:
        blurry, sharp = rotate_quarter(np.stack([blurry, sharp]), rng)
    return np.ascontiguousarray(blurry), np.ascontiguousarray(sharp)


class PairFilter:
    """A picklable predicate on pair metadata: method in methods, motion >= min_motion, and where(meta)."""

    def __init__(self, methods: Sequence[str] | None = None, min_motion: float | None = None,
                 where: Filter | None = None) -> None:
        self.methods = None if methods is None else set(methods)
        self.min_motion, self.where = min_motion, where

    def __call__(self, meta: dict[str, Any]) -> bool:
        if self.methods is not None and meta.get("method") not in self.methods:
            return False
        if self.min_motion is not None and float(meta.get("motion", 0.0)) < self.min_motion:
            return False
        return self.where is None or bool(self.where(meta))


def _shards(source: str | Path | Sequence[str | Path], split: str | None) -> list[Path]:
    if isinstance(source, (str, Path)):
        shards = find_shards(source, split)
    else:
        shards = [Path(s) for s in source]
    if not shards:
        raise FileNotFoundError(f"no shards (*.tar) under {source}{f' split {split}' if split else ''}")
    return shards


class PairDataset(Dataset):
    """Map-style dataset of pairs. source: a pairs directory (split picks train/ or val/) or shard paths.

    rank/world_size keep every world_size-th pair (after dropping the remainder, so every rank has
    the same length); leave them at 0/1 when a DistributedSampler does the splitting.
    """

    def __init__(
        self, source: str | Path | Sequence[str | Path], split: str | None = None, size: int | None = None,
        crop_scale: tuple[float, float] | None = None, flip: bool = False, jitter: float = 0.0, rotate: bool = False,
        methods: Sequence[str] | None = None, min_motion: float | None = None, where: Filter | None = None,
        rank: int = 0, world_size: int = 1, seed: int = 0, return_meta: bool = False,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size), got {rank} of {world_size}")
        keep = PairFilter(methods, min_motion, where)
        records = [r for s in _shards(source, split) for r in index_shard(s) if keep(r.meta)]
        usable = len(records) - len(records) % world_size
        self.records: list[PairRecord] = records[:usable][rank::world_size]
        self.size, self.crop_scale, self.flip, self.jitter, self.rotate = size, crop_scale, flip, jitter, rotate
        self.seed, self.epoch, self.return_meta = seed, 0, return_meta
        self._files: dict[str, Any] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draw (call once per epoch, as with DistributedSampler)."""
        self.epoch = epoch

    def meta(self, index: int) -> dict[str, Any]:
        """The json metadata of one pair."""
        return self.records[index].meta

    def _file(self, path: str) -> Any:
        if self._pid != os.getpid():  # a forked DataLoader worker: do not share the parent's handles
            self._files, self._pid = {}, os.getpid()
        if path not in self._files:
            self._files[path] = open(path, "rb")
        return self._files[path]

    def images(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The stored (blurry, sharp) uint8 BGR images of one pair, unaugmented."""
        rec = self.records[index]
        f = self._file(rec.shard)
        try:
            return (decode_png(read_member(f, *rec.members["blur.png"])),
                    decode_png(read_member(f, *rec.members["sharp.png"])))
        except ValueError:
            raise damaged(rec.shard, f"pair {rec.key} holds an image that does not decode") from None

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...] | tuple[torch.Tensor, torch.Tensor, dict]:
        blurry, sharp = self.images(index)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        blurry, sharp = augment_pair(blurry, sharp, rng, self.size, self.crop_scale, self.flip, self.jitter, self.rotate)
        if self.return_meta:
            return to_tensor(blurry), to_tensor(sharp), self.records[index].meta
        return to_tensor(blurry), to_tensor(sharp)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_files"] = {}
        return state

    def __del__(self) -> None:
        for f in getattr(self, "_files", {}).values():
            f.close()


class PairStream(IterableDataset):
    """Iterable dataset streaming whole shards: split by rank, then by DataLoader worker (by shard when
    there are enough shards, else by pair), with an optional shuffle buffer."""

    def __init__(
        self, source: str | Path | Sequence[str | Path], split: str | None = None, size: int | None = None,
        crop_scale: tuple[float, float] | None = None, flip: bool = False, jitter: float = 0.0, rotate: bool = False,
        methods: Sequence[str] | None = None, min_motion: float | None = None, where: Filter | None = None,
        rank: int = 0, world_size: int = 1, seed: int = 0, shuffle_buffer: int = 0,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size), got {rank} of {world_size}")
        self.shards = _shards(source, split)
        self.keep = PairFilter(methods, min_motion, where)
        self.size, self.crop_scale, self.flip, self.jitter, self.rotate = size, crop_scale, flip, jitter, rotate
        self.rank, self.world_size, self.seed, self.shuffle_buffer = rank, world_size, seed, shuffle_buffer
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Change the shuffle and augmentation draw."""
        self.epoch = epoch

    def _items(self, part: int, parts: int) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        shards = [self.shards[i] for i in rng.permutation(len(self.shards))]
        by_shard = len(shards) >= parts
        count = 0
        for i, shard in enumerate(shards):
            if by_shard and i % parts != part:
                continue
            for key, blurry, sharp, meta in iter_pairs(shard):
                if not self.keep(meta):
                    continue
                count += 1
                if by_shard or (count - 1) % parts == part:
                    yield key, blurry, sharp

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        workers, wid = (info.num_workers, info.id) if info is not None else (1, 0)
        part, parts = self.rank * workers + wid, self.world_size * workers
        rng = np.random.default_rng([self.seed, self.epoch, part])
        buffer: list[tuple[str, np.ndarray, np.ndarray]] = []
        for item in self._items(part, parts):
            if self.shuffle_buffer > 1:
                buffer.append(item)
                if len(buffer) < self.shuffle_buffer:
                    continue
                item = buffer.pop(int(rng.integers(len(buffer))))
            yield self._tensors(item, rng)
        rng.shuffle(buffer)
        for item in buffer:
            yield self._tensors(item, rng)

    def _tensors(self, item: tuple[str, np.ndarray, np.ndarray], rng: np.random.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        _, blurry, sharp = item
        blurry, sharp = augment_pair(blurry, sharp, rng, self.size, self.crop_scale, self.flip, self.jitter, self.rotate)
        return to_tensor(blurry), to_tensor(sharp)
