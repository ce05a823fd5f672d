"""Session 71: is the residual G_bl's held-out loss a colour offset? An engine folder (release -o) run on the val pairs
of a pair set, whole 256-px crops: PSNR of the blurred input, of the output, and of the output with the mean of its
correction (output - blurred, per image and channel) taken out; and the mean correction itself.

    python engines/recipes/session71/offset_check.py ENGINE_DIR PAIRS [MODEL]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from streamdeblur.backends import create_engine
from streamdeblur.data.shards import find_shards, iter_pairs


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))


def main() -> None:
    folder, pairs = Path(sys.argv[1]), Path(sys.argv[2])
    model = sys.argv[3] if len(sys.argv) > 3 else "hg-cgan-res"
    engine = create_engine(model, settle=None, weights=folder, backend="torch")
    rows = []
    for shard in find_shards(pairs, "val"):
        for _, blurry, sharp, _ in iter_pairs(shard):
            out = engine(blurry[None])[0]
            correction = out.astype(np.float64) - blurry
            centred = np.clip(out - correction.mean(axis=(0, 1)), 0, 255)
            rows.append((psnr(blurry, sharp), psnr(out, sharp), psnr(centred, sharp), *correction.mean(axis=(0, 1)),
                         float(np.abs(correction).mean())))
    r = np.array(rows)
    print(f"{len(r)} faces: blurred {r[:, 0].mean():.3f} dB, output {r[:, 1].mean():.3f} (gain {np.mean(r[:, 1] - r[:, 0]):+.3f}), "
          f"offset removed {r[:, 2].mean():.3f} (gain {np.mean(r[:, 2] - r[:, 0]):+.3f})")
    print(f"mean correction B/G/R {r[:, 3].mean():+.3f} {r[:, 4].mean():+.3f} {r[:, 5].mean():+.3f} grey levels "
          f"(|per image| {np.abs(r[:, 3:6]).mean():.3f}); mean |correction| {r[:, 6].mean():.3f}")


if __name__ == "__main__":
    main()
