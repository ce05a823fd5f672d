"""Session 57: `adapt` trained on more blur draws of the same reference frames (issue 11).

adapt makes one motion exposure per sharp centre frame of the reference (55-110 pairs on the held-out clips' second
halves), and its 500 steps of batch 8 go over them 40-70 times. This adds DRAWS-1 more exposures of the same frames
(make-pairs' seed 1, 2, ...: other speeds, directions, shutters, codecs and noise; everything else adapt's), so the
same steps see more kinds of blur of the same face.

    STREAMDEBLUR_CACHE=SCRATCH python more_draws.py REFERENCE DRAWS

lays SCRATCH/adapt/<key>/pairs/train/ as the real cache's seed-0 shard (a link, nothing re-drawn) beside the new
draws' shards, with the real cache's min_sharpness.json; then session55/adapt_patch.py REFERENCE OUT STEPS 96 with
the same STREAMDEBLUR_CACHE trains a fresh run on all of them (`DRAWS=D session55/adapt_steps.sh 500` does both,
then scores the engine).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from streamdeblur.data.pairs import run_make_pairs
from streamdeblur.models import get_spec
from streamdeblur.train import adapt as A


def main() -> None:
    reference, draws = Path(sys.argv[1]), int(sys.argv[2])
    scratch = Path(os.environ["STREAMDEBLUR_CACHE"])
    options = A.AdaptOptions()
    key = A.work_dir([reference], options).name  # the scratch cache keys it the same way
    real = Path(os.environ.get("REAL_CACHE", Path.home() / ".cache/streamdeblur")) / "adapt" / key
    if not (real / "pairs/train").is_dir():
        sys.exit(f"no seed-0 pairs of {reference} in {real}: run `streamdeblur adapt` on it first")
    work = scratch / "adapt" / key
    train = work / "pairs" / "train"
    train.mkdir(parents=True, exist_ok=True)
    saved = (real / "min_sharpness.json").read_text()
    (work / "min_sharpness.json").write_text(saved)
    for shard in sorted((real / "pairs/train").glob("*.tar")):
        link = train / shard.name
        if not link.exists():
            link.symlink_to(shard)
    for name in ("recipe.json", "summary.json", "manifest.jsonl", "progress.jsonl"):  # adapt's make-pairs: all done
        (work / "pairs" / name).write_text((real / "pairs" / name).read_text())
    min_sharpness = float(json.loads(saved))
    spec, stride = get_spec(options.model), A.centre_stride([reference], None)  # one read of the clip's length
    for seed in range(1, draws):
        out = scratch / f"draw-{key}-{seed}"
        summary = run_make_pairs([reference], out, method="motion", speed=A.SPEED, shutter=A.SHUTTER,
                                 crf_share=A.CRF_SHARE, noise=A.NOISE, size=spec.input_size,
                                 stride=stride, frames=spec.frames,
                                 min_sharpness=min_sharpness, seed=seed, progress=False)
        for shard in sorted((out / "train").glob("*.tar")):
            link = train / f"seed{seed}-{shard.name}"
            if not link.exists():
                link.symlink_to(shard)
        print(f"{reference.name}: seed {seed}: {summary['totals']['pairs']} pairs", flush=True)


if __name__ == "__main__":
    main()
