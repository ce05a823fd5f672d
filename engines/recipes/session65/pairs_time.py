"""Session 65: adapt's passes over a reference with the detector at make-pairs' 640 px and at the size adapt now
chooses for its faces (train/adapt.detect_size): the sharpness pass (its threshold) and the motion pairs as adapt
makes them for naf, timed, with their pair counts. Run alone on an idle machine:

    python engines/recipes/session65/pairs_time.py RECORDING [WORK]

(session 65: the 20-s recording of session 64's live run, ~/work/s64/live-default/cache/adapt/recordings/*.mp4).
The quality side: `OUT=~/work/s65 engines/recipes/session63/naf_steps.sh 2000` with this code against session 63's
~/work/s63 runs (pairs at 640), `python engines/recipes/session55/paired.py ~/work/s63/rep-naf2000:s2000
~/work/s65/rep-naf2000:s2000`.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from streamdeblur.data.pairs import run_make_pairs
from streamdeblur.train import adapt


def main() -> None:
    recording = Path(sys.argv[1])
    work = Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/pairs_time")
    started = time.time()
    chosen = adapt.detect_size([recording], None)
    print(f"detect_size {chosen} px ({time.time() - started:.1f} s)")
    for size in (640, chosen):
        started = time.time()
        threshold = adapt.sharp_threshold([recording], None, size)
        sharpness_s = time.time() - started
        out = work / f"pairs{size}"
        shutil.rmtree(out, ignore_errors=True)
        started = time.time()
        summary = run_make_pairs([recording], out, method="motion", speed=adapt.SPEED, shutter=adapt.SHUTTER,
                                 crf_share=adapt.CRF_SHARE, noise=adapt.NOISE, size=128,
                                 stride=adapt.centre_stride([recording], None), min_sharpness=threshold,
                                 detect_size=size, progress=False)
        print(f"{size} px: sharpness pass {sharpness_s:.1f} s (threshold {threshold:.0f}), "
              f"{summary['totals']['pairs']} pairs in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
