"""Session 48: how much of each pair's crop lies inside its source frame (the rest is the crop's edge padding).

A pair's crop_matrix maps frame pixels to crop pixels; the share of a 32 x 32 grid of crop points whose source point
falls inside the frame (its size from the data folder's MANIFEST.tsv) is the pair's in-frame share.

    python inframe.py PAIRS_DIR [PAIRS_DIR ...]      (SHARED: the folder holding data/, default ../shared)
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tarfile
from pathlib import Path

import numpy as np

# the 32 x 32 sample points, as x, y in a crop of side 1 (scaled by each pair's size), homogeneous
UNIT_GRID = np.vstack([(np.mgrid[0:32, 0:32].reshape(2, -1)[::-1] + 0.5) / 32, np.ones(32 * 32)])


def frame_sizes(shared: Path) -> dict[str, tuple[int, int]]:
    """Frame size by the manifest's path ("train/...") and by file name where that name is unique (make-pairs
    names a video by its path under the folder it was given, or by its file name when given the file)."""
    with open(shared / "data" / "MANIFEST.tsv", newline="") as f:
        rows = [row for row in csv.DictReader(f, delimiter="\t") if row["width"]]
    sizes = {row["file"]: (int(row["width"]), int(row["height"])) for row in rows}
    names = [row["file"].rsplit("/", 1)[-1] for row in rows]
    sizes.update({name: size for name, size in zip(names, sizes.values()) if names.count(name) == 1})
    return sizes


def in_frame_shares(folder: Path, sizes: dict[str, tuple[int, int]]) -> np.ndarray:
    shares = []
    for shard in sorted(folder.glob("train/*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar:
                if not member.name.endswith(".json"):
                    continue
                meta = json.load(tar.extractfile(member))
                inverse = np.linalg.inv(np.vstack([meta["crop_matrix"], [0, 0, 1]]))
                x, y, _ = inverse @ (UNIT_GRID * [[meta["size"]], [meta["size"]], [1]])
                w, h = sizes[meta["video"]]
                shares.append(np.mean((x >= 0) & (x < w) & (y >= 0) & (y < h)))
    return np.array(shares)


def main() -> None:
    repo = Path(__file__).resolve().parents[3]
    sizes = frame_sizes(Path(os.environ.get("SHARED", repo.parent / "shared")))
    for arg in sys.argv[1:]:
        s = in_frame_shares(Path(arg), sizes)
        print(f"{Path(arg).name}: {len(s)} pairs, in frame {s.mean():.2f} on average, "
              f"{(s >= 0.9).mean():.0%} of crops at least 90 % in frame, {(s < 0.6).mean():.0%} under 60 %")


if __name__ == "__main__":
    main()
