"""How far may naf-t3m's neighbours be re-cut? Gain of the bare released engines over the blurred centre exposure
on a folder of 3-frame motion groups, naf-t3m given its neighbours re-cut with several limits
(faces.flow.recut_stack's max_shift; engines/naf-t3m/NOTES.md).

    python engines/recipes/recut_limit.py PAIRS_DIR [LIMIT]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from streamdeblur.backends import create_engine
from streamdeblur.data.shards import find_shards, iter_pairs
from streamdeblur.eval.metrics import psnr
from streamdeblur.eval.run import PairSample
from streamdeblur.faces.flow import recut_stack


def main(folder: Path, limit: int) -> None:
    samples = [PairSample(key, "motion", "clip", b, s, meta, strip) for shard in find_shards(folder)
               for key, b, s, meta, strip in iter_pairs(shard, frames=True)]
    samples = [s for s in samples if s.stack(3, True) is not None][:limit]
    engines = {n: create_engine(n, device="cpu", settle=None) for n in ("naf", "naf-t3m", "naf-t3f")}
    before = np.array([psnr(s.blurred, s.sharp) for s in samples])

    def gain(outputs: np.ndarray) -> float:
        return float(np.mean([psnr(o, s.sharp) for o, s in zip(outputs, samples)] - before))

    def recut(s: PairSample, max_shift: float | None) -> np.ndarray:
        first = s.group_frames.shape[1] // s.blurred.shape[1] // 2 - 1
        return recut_stack(s.stack(3), s.meta["group_matrices"][first:first + 3], max_shift)

    print(f"{folder}: {len(samples)} groups, blurred {before.mean():.2f} dB")
    print(f"naf {gain(engines['naf'](np.stack([s.blurred for s in samples]))):+.3f}")
    print(f"naf-t3f {gain(engines['naf-t3f'](np.stack([s.stack(3) for s in samples]))):+.3f}")
    print(f"naf-t3m, neighbours as cut {gain(engines['naf-t3m'](np.stack([s.stack(3) for s in samples]))):+.3f}")
    for max_shift in (None, 0.25, 0.125, 0.0625):
        print(f"naf-t3m, re-cut up to {max_shift} of the side "
              f"{gain(engines['naf-t3m'](np.stack([recut(s, max_shift) for s in samples]))):+.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 10**9)
