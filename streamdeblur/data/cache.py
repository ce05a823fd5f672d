"""A decoded uint8 cache of pair shards for fast training: decode every PNG once, then read patches.

Decoding two PNGs per sample costs more than a small network's training step on a CPU. The cache
holds each pair resized to one side S (INTER_AREA, as `process` resizes a face to the engine's
input) in a numpy memmap of shape (N, F + 1, S, S, 3), uint8 BGR: F blurred frames (1, or the K
of a multi-frame group, centre in the middle) then the sharp target; metadata in a JSON beside it.

The cache file's name holds a hash of the shard list (paths, sizes, mtimes), S and F, so a changed
pair set is re-cached and never misread. It is built under a temporary name and renamed when
complete (an interrupted build leaves nothing to misread).

`CachedPairs` is a map-style dataset over one or more caches: random patches (patch x patch),
optionally cut from a zoomed region, with flips, quarter turns and colour jitter (the same on every
image of a pair), as (blurry, sharp) float tensors; blurry has 3F channels for multi-frame caches.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch

from streamdeblur.data.dataset import jitter_colour, rotate_quarter
from streamdeblur.data.shards import damaged, atomic_write_text, decode_png, index_shard, read_member
from streamdeblur.faces.flow import ALIGNS, RECUT_MAX_SHIFT, align_stack, recut_stack


def _pair_meta(meta: dict[str, Any], size: int) -> dict[str, Any]:
    """What the cache keeps of a pair's metadata, with its scale: cache pixels per source pixel (the pair's crop
    matrix scale, crop px per frame px, times the cache's resize of the crop; None when the pair has no matrix)."""
    kept = {k: meta.get(k) for k in ("key", "method", "motion", "video_id", "blur_px", "speed")}
    m, side = meta.get("crop_matrix"), meta.get("size")
    kept["scale"] = None if m is None or not side else round(float(np.hypot(m[0][0], m[1][0])) * size / side, 4)
    return kept


def _fingerprint(shards: Sequence[Path], size: int, frames: int, align: str = "landmarks",
                 neighbour: bool = False) -> str:
    tag = {"landmarks": "", "centre": f":centre:{RECUT_MAX_SHIFT}"}.get(align, f":{align}")  # the re-cut's limit
    tag += ":neighbour" if neighbour else ""
    digest = hashlib.sha1(f"{size}:{frames}{tag}".encode())
    for s in shards:
        st = Path(s).stat()
        digest.update(f"{Path(s).resolve()}:{st.st_size}:{int(st.st_mtime)}".encode())
    return digest.hexdigest()[:12]


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[0] == size and image.shape[1] == size:
        return image
    interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def _window(strip: np.ndarray, side: int, middle: int, frames: int, meta: dict[str, Any], align: str,
            size: int) -> list[np.ndarray]:
    """The `frames` crops of a group's strip (crops of side `side` side by side) around crop `middle`, aligned
    as `align` says and resized to `size`."""
    first = middle - frames // 2
    window = [strip[:, (first + k) * side:(first + k + 1) * side] for k in range(frames)]
    if align == "centre" and frames > 1:  # at the pairs' own size, where their matrices hold
        window = np.split(recut_stack(np.concatenate(window, axis=2), meta["group_matrices"][first:first + frames]),
                          frames, axis=2)
    window = [_resize(image, size) for image in window]
    if align == "flow" and frames > 1:
        window = np.split(align_stack(np.concatenate(window, axis=2)), frames, axis=2)
    return window


def _png(f: Any, rec: Any, ext: str) -> np.ndarray:
    """One image member of a pair, decoded; DamagedShard (a UserError naming the shard) when it does not decode."""
    try:
        return decode_png(read_member(f, *rec.members[ext]))
    except ValueError:
        raise damaged(rec.shard, f"pair {rec.key}'s {ext} does not decode") from None


def _records(shards: Sequence[Path], frames: int, align: str, neighbour: bool) -> list:
    """The shards' pairs that a cache of these frames, align and neighbour holds, in its order."""
    records = [r for s in shards for r in index_shard(s)]
    if frames > 1 or neighbour:
        records = [r for r in records if "frames.png" in r.members
                   and int(r.meta.get("group", 1)) >= frames + (2 if neighbour else 0)
                   and (align != "centre" or frames == 1 or r.meta.get("group_matrices"))
                   and (not neighbour or "targets.png" in r.members)]
    return records


def build_cache(shards: Sequence[Path], cache_dir: Path, size: int, frames: int = 1,
                progress: Callable[[int, int], None] | None = None,
                align: str = "landmarks", neighbour: bool = False) -> tuple[Path, list[dict[str, Any]]]:
    """Decode the pairs of the shards into <cache_dir>/pairs-<hash>.u8 (+ .json); returns (path, metas).

    frames > 1 needs multi-frame groups (<key>.frames.png); pairs without one are skipped. align "flow"
    warps each group's other crops onto its middle one (faces.flow.align_stack), as a flow-aligned engine
    does at run time; align "centre" re-cuts them in the middle one's alignment (faces.flow.recut_stack, from
    the group's recorded matrices; groups without them are skipped), as Restorer does for such an engine. An
    existing complete cache of the same shards, size, frames and align is reused.

    neighbour: each pair also holds the next exposure's window and sharp frame, (N, 2 (F + 1), S, S, 3), for the
    flicker loss; only groups with their sharp frames (<key>.targets.png, make-pairs --targets) of at least F + 2
    exposures are kept.
    """
    if align not in ALIGNS:
        raise ValueError(f"align must be one of {ALIGNS}, got {align!r}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    tag = _fingerprint(shards, size, frames, align, neighbour)
    path = cache_dir / f"pairs-{tag}.u8"
    meta_path = path.with_suffix(".json")
    if path.is_file() and meta_path.is_file():
        stored = json.loads(meta_path.read_text())
        if any("scale" not in m for m in stored["metas"]):  # a cache from before the scale: its metadata again
            stored["metas"] = [_pair_meta(r.meta, size) for r in _records(shards, frames, align, neighbour)]
            atomic_write_text(meta_path, json.dumps(stored))
        return path, stored["metas"]
    records = _records(shards, frames, align, neighbour)
    per_pair = (frames + 1) * (2 if neighbour else 1)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(records), per_pair, size, size, 3))
    metas = []
    handles: dict[str, Any] = {}
    try:
        for i, rec in enumerate(records):
            f = handles.setdefault(rec.shard, open(rec.shard, "rb"))
            sharp = _png(f, rec, "sharp.png")
            s = sharp.shape[0]
            if frames == 1 and not neighbour:
                images = [_resize(_png(f, rec, "blur.png"), size), _resize(sharp, size)]
            else:
                strip = _png(f, rec, "frames.png")
                middle = strip.shape[1] // s // 2
                images = _window(strip, s, middle, frames, rec.meta, align, size) + [_resize(sharp, size)]
                if neighbour:
                    targets = _png(f, rec, "targets.png")
                    images += _window(strip, s, middle + 1, frames, rec.meta, align, size)
                    images.append(_resize(targets[:, (middle + 1) * s:(middle + 2) * s], size))
            for k, image in enumerate(images):
                data[i, k] = image
            metas.append(_pair_meta(rec.meta, size))
            if progress is not None and (i % 200 == 0 or i == len(records) - 1):
                progress(i + 1, len(records))
        data.flush()
        del data
        os.replace(tmp, path)
        atomic_write_text(meta_path, json.dumps({"size": size, "frames": frames, "align": align, "neighbour": neighbour,
                                                 "count": len(metas), "shards": [str(s) for s in shards],
                                                 "metas": metas}))
    finally:
        for f in handles.values():
            f.close()
        Path(tmp).unlink(missing_ok=True)
    return path, metas


class CachedPairs(torch.utils.data.Dataset):
    """Pairs from uint8 caches; when augment: random patch x patch crops (None: whole images), flips
    (flip), quarter turns (rotate) and colour jitter (jitter: brightness, contrast, saturation in 1 +- jitter).

    zoom (lo, hi), with a patch: the patch is cut from a region of side patch x z (z log-uniform in
    [lo, hi], at most the crop) resized to the patch, so faces and their blur are seen at other scales:
    z > 1 shrinks them, z < 1 enlarges them. Draws happen only for the augmentations turned on, so a run
    without them reproduces its earlier samples.

    native, with a patch: a pair whose crop was enlarged from a smaller face (its meta's scale, cache pixels per
    source pixel, above 1) has its patch cut from a region that many times larger and resized down, so no patch
    holds more pixels than its source did (interpolated, detail-free targets teach an engine that sharp is soft).

    neighbour (caches built with neighbour=True): an item is two samples, the pair and the next exposure's, cut
    and augmented alike: blurry (2, 3F, H, W) and sharp (2, 3, H, W); `collate` makes them consecutive rows.
    """

    def __init__(self, caches: Sequence[tuple[Path, list[dict[str, Any]]]], patch: int | None = None,
                 augment: bool = True, seed: int = 0, flip: bool = True, rotate: bool = False,
                 jitter: float = 0.0, zoom: tuple[float, float] = (1.0, 1.0), neighbour: bool = False,
                 native: bool = False) -> None:
        self.arrays = [np.load(path, mmap_mode="r") for path, _ in caches]
        self.metas = [m for _, metas in caches for m in metas]
        self.index = [(a, i) for a, arr in enumerate(self.arrays) for i in range(arr.shape[0])]
        if not self.index:
            raise FileNotFoundError("no pairs in the cache")
        shapes = {arr.shape[1:] for arr in self.arrays}
        if len(shapes) != 1:
            raise ValueError(f"caches of different shapes cannot be mixed: {sorted(shapes)}")
        self.neighbour = neighbour
        self.frames = self.arrays[0].shape[1] // (2 if neighbour else 1) - 1
        self.size = self.arrays[0].shape[2]
        self.patch = patch if patch and patch < self.size else None
        self.augment, self.seed, self.epoch = augment, seed, 0
        self.flip, self.rotate, self.jitter = flip, rotate, jitter
        self.zoom = tuple(zoom) if self.patch and tuple(zoom) != (1.0, 1.0) else None
        self.native = native and self.patch is not None

    def __len__(self) -> int:
        return len(self.index)

    def subset(self, keep: Sequence[int]) -> "CachedPairs":
        """A view holding only the pairs at the given indices (same caches, same augmentation)."""
        view = object.__new__(CachedPairs)
        view.__dict__.update(self.__dict__)
        view.index = [self.index[i] for i in keep]
        view.metas = [self.metas[i] for i in keep]
        return view

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draw."""
        self.epoch = epoch

    def meta(self, index: int) -> dict[str, Any]:
        """The pair's metadata (key, method, motion, ...)."""
        return self.metas[index]

    def stack(self, index: int) -> np.ndarray:
        """(F + 1, S, S, 3) uint8 BGR: the blurred frames then the sharp target (twice over with neighbour)."""
        a, i = self.index[index]
        return self.arrays[a][i]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stack(index)
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            if self.patch:
                side, factor = self.patch, 1.0
                if self.zoom:
                    lo, hi = np.log(self.zoom)
                    factor = float(np.exp(rng.uniform(lo, hi)))
                if self.native:
                    factor *= max(1.0, self.metas[index].get("scale") or 1.0)
                if factor != 1.0:
                    side = min(self.size, max(8, int(round(self.patch * factor))))
                y0, x0 = rng.integers(0, self.size - side + 1, size=2)
                x = x[:, y0:y0 + side, x0:x0 + side]
                if side != self.patch:
                    interp = cv2.INTER_AREA if side > self.patch else cv2.INTER_LINEAR
                    x = np.stack([cv2.resize(np.ascontiguousarray(im), (self.patch, self.patch), interpolation=interp)
                                  for im in x])
            if self.flip and rng.uniform() < 0.5:
                x = x[:, :, ::-1]
            if self.jitter > 0:
                x = jitter_colour(x, rng, self.jitter, reference=x[-1])
            if self.rotate:
                x = rotate_quarter(x, rng)
        # BGR -> RGB, frames stacked on channels: (3F, H, W) and (3, H, W) in [0, 1]
        t = torch.from_numpy(np.ascontiguousarray(x[..., ::-1].transpose(0, 3, 1, 2))).float().div_(255.0)
        if self.neighbour:
            t = t.reshape(2, self.frames + 1, *t.shape[1:])
            return t[:, :-1].reshape(2, -1, t.shape[3], t.shape[4]), t[:, -1]
        blurry = t[:-1].reshape(-1, t.shape[2], t.shape[3])
        return blurry, t[-1]
