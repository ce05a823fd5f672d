"""Gain of bare naf-t3m networks over the blurred centre exposure on a folder of 3-frame motion groups: the
released v0 and each candidate engine folder (`release RUN naf-t3m -o FOLDER`), neighbours re-cut as `process`
re-cuts them; overall and on the faces under 26 dB (engines/naf-t3m/NOTES.md, session 34).

    python engines/recipes/fast_gain.py PAIRS_DIR LIMIT [FOLDER ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from streamdeblur.backends import create_engine
from streamdeblur.eval.metrics import psnr
from streamdeblur.eval.run import load_pairs


def main(folder: Path, limit: int, candidates: list[str]) -> None:
    samples = [s for s in load_pairs(folder) if s.stack(3, True) is not None][:limit]
    before = np.array([psnr(s.blurred, s.sharp) for s in samples])
    stacks = np.stack([s.stack(3, True) for s in samples])
    heavy = before < 26
    print(f"{folder}: {len(samples)} groups, blurred {before.mean():.2f} dB")
    for weights in [None, *candidates]:
        engine = create_engine("naf-t3m", device="cpu", settle=None, **({"weights": weights} if weights else {}))
        gain = np.array([psnr(o, s.sharp) for o, s in zip(engine(stacks), samples)]) - before
        print(f"{weights or 'naf-t3m v0'}: {gain.mean():+.3f} (under 26 dB: {gain[heavy].mean():+.3f}, "
              f"n={heavy.sum()})", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
