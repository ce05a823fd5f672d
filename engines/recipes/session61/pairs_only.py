"""Session 61: how long adapt's motion pairs of one clip take (BENCHMARKS.md, "What a first `process --adapt` does
before it trains"): run_make_pairs with adapt's settings, stride 1, into a scratch folder that is made anew.

    python pairs_only.py CLIP [MAX_FRAMES]

Only the sharp faces become pairs, as in adapt: the threshold is adapt's for the whole clip (sharp_threshold, measured
before the clock starts; KatieHill's is 2628.67).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from streamdeblur.data.pairs import run_make_pairs
from streamdeblur.train import adapt


def main() -> None:
    clip = sys.argv[1]
    max_frames = int(sys.argv[2]) if len(sys.argv) > 2 else None
    min_sharpness = adapt.sharp_threshold([Path(clip)], None)
    out = Path(tempfile.mkdtemp(prefix="pairs-only-"))
    try:
        started = time.perf_counter()
        summary = run_make_pairs([clip], out, method="motion", speed=adapt.SPEED, shutter=adapt.SHUTTER,
                                 crf_share=adapt.CRF_SHARE, noise=adapt.NOISE, size=256, stride=1, frames=1,
                                 min_sharpness=min_sharpness, max_frames=max_frames, progress=False)
        print(f"{summary['totals']['pairs']} pairs in {time.perf_counter() - started:.1f} s")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
