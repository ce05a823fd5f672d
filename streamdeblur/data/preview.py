"""Contact sheet of pairs, so a person can look at them: blurry | sharp, with L and scores below."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from streamdeblur.data.shards import decode_png, find_shards, index_shard, read_member


def _caption(meta: dict) -> str:
    text = f"L={meta.get('length')} {meta.get('method')} {meta.get('stop_reason')}"
    if meta.get("kernel_size"):
        text = f"k={meta['kernel_size']} kernel"
    if meta.get("method") == "motion":
        text = f"x{meta['speed']:.1f} sh{meta['shutter']:.2f} {meta['blur_px']:.0f}px crf{meta['crf']:.0f}"
    return f"{text} m={meta.get('motion', 0):.1f}"


def contact_sheet(shards: Sequence[str | Path], count: int = 16, seed: int = 0, tile: int = 128,
                  columns: int = 4) -> np.ndarray:
    """A BGR image of up to `count` pairs drawn (seeded) from the shards: blurry | sharp per tile."""
    records = [r for s in shards for r in index_shard(s, with_meta=True)]
    if not records:
        raise ValueError("no pairs in the given shards")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(records), size=min(count, len(records)), replace=False))
    bar = 18
    tiles = []
    for i in chosen:
        rec = records[i]
        with open(rec.shard, "rb") as f:
            blurry = decode_png(read_member(f, *rec.members["blur.png"]))
            sharp = decode_png(read_member(f, *rec.members["sharp.png"]))
        pair = np.hstack([cv2.resize(blurry, (tile, tile), interpolation=cv2.INTER_AREA),
                          cv2.resize(sharp, (tile, tile), interpolation=cv2.INTER_AREA)])
        caption = np.full((bar, 2 * tile, 3), 32, np.uint8)
        cv2.putText(caption, _caption(rec.meta), (4, bar - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                    cv2.LINE_AA)
        tiles.append(np.vstack([pair, caption]))
    blank = np.zeros_like(tiles[0])
    rows = []
    for start in range(0, len(tiles), columns):
        row = tiles[start:start + columns]
        row += [blank] * (columns - len(row)) if len(tiles) > columns else []
        rows.append(np.hstack(row))
    return np.vstack(rows)


def write_contact_sheet(source: str | Path | Sequence[str | Path], path: str | Path, count: int = 16,
                        seed: int = 0) -> Path:
    """Write contact_sheet.png from a pairs directory or a list of shards; returns its path."""
    shards = find_shards(source) if isinstance(source, (str, Path)) else list(source)
    path = Path(path)
    if not cv2.imwrite(str(path), contact_sheet(shards, count=count, seed=seed)):
        raise OSError(f"could not write {path}")
    return path
