"""Session 71: the residual G_bl's held-out gain by the blurred face's PSNR, and under settle ranges (a face whose mean
|correction| is under LOW grey levels left as it came, faded in up to HIGH: backends.settle_crops, as every released
engine's card sets). Val pairs of a pair set, whole crops; the faces split in two halves by key (even / odd
position) so that a range picked on one half is measured on the other.

    python engines/recipes/session71/settle_check.py ENGINE_DIR PAIRS [MODEL]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from streamdeblur.backends import create_engine, settle_crops
from streamdeblur.data.shards import find_shards, iter_pairs

RANGES = [None, (0.05, 0.1), (0.1, 0.2), (0.2, 0.4), (0.3, 0.6), (0.5, 1.0), (1.0, 2.0)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))


def main() -> None:
    folder, pairs = Path(sys.argv[1]), Path(sys.argv[2])
    engine = create_engine(sys.argv[3] if len(sys.argv) > 3 else "hg-cgan-res", settle=None, weights=folder,
                           backend="torch")
    faces = []  # (blurred dB, {range: output dB})
    for shard in find_shards(pairs, "val"):
        for _, blurry, sharp, _ in iter_pairs(shard):
            out = engine(blurry[None])
            row = {r: psnr((out if r is None else settle_crops(blurry[None], out, *r))[0], sharp) for r in RANGES}
            faces.append((psnr(blurry, sharp), row))
    base = np.array([f[0] for f in faces])
    print(f"{len(faces)} faces, blurred {base.mean():.3f} dB")
    for r in RANGES:
        gain = np.array([f[1][r] for f in faces]) - base
        by = [f"{lo}-{hi}: {gain[(base >= lo) & (base < hi)].mean():+.3f} ({((base >= lo) & (base < hi)).sum()})"
              for lo, hi in [(0, 30), (30, 34), (34, 40), (40, 99)]]
        print(f"settle {r}: all {gain.mean():+.4f}, even {gain[0::2].mean():+.4f}, odd {gain[1::2].mean():+.4f}; "
              f"by blurred dB {'; '.join(by)}")


if __name__ == "__main__":
    main()
