"""Session 47: adapt's recipe varied where the extra flicker of adapted engines could come from (issue 13).

Session 46 found that adapted engines' error flickers more than their input's from adapt's first 50 steps, and not
through the pipeline or the settle range. Two guesses that cost no base training:

- clean: adapt's inputs carry noise (up to 1 grey level) and a third are re-encoded (x264 CRF 18-32), while
  `eval --video`'s blurred frames are clean: a network taught to denoise and sharpen together may invent detail
  that changes from frame to frame.  NOISE = 0, CRF_SHARE = 0.
- whole: adapt trains on 96-px patches of the 256-px crops, while the engine runs on whole crops; NAFNet's channel
  attention pools over the whole input (the train/test mismatch of Chu et al.'s TLC paper), so its statistics at run
  time are not those it was adapted on.  Whole 256-px crops, batch 2 (about the pixels of batch 8 at 96 px x 1.8).
- dropout (session 53): channel dropout (0.5) before the last conv while adapting (Kong et al. 2022): a network
  that cannot lean on any one channel of its last features may learn the person's detail less frame-specifically.

    python adapt_variant.py VARIANT REFERENCE OUT --steps N      (then `eval --video`, adapt_variant.sh)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import streamdeblur.train.adapt as adapt_mod
import streamdeblur.train.stages as stages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variant", choices=["clean", "whole", "clean-whole", "dropout"])
    ap.add_argument("reference", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--model", default="naf-t3m-hd")
    args = ap.parse_args()
    if "clean" in args.variant:
        adapt_mod.NOISE, adapt_mod.CRF_SHARE = 0.0, 0.0
    if args.variant == "dropout":
        adapt_mod.RECIPE = dict(adapt_mod.RECIPE, dropout=0.5)  # also a key of adapt's cache (work_dir)
    if "whole" in args.variant:
        # a recipe change also changes adapt's cache key (work_dir), so these runs never meet the default's
        adapt_mod.RECIPE = dict(adapt_mod.RECIPE, batch_size=2)
        build = stages.build_config

        def whole_crops(*a, **kw):
            kw["patch"] = 0
            return build(*a, **kw)

        stages.build_config = whole_crops
    adapt_mod.adapt([args.reference], args.out, adapt_mod.AdaptOptions(model=args.model, steps=args.steps,
                                                                       quiet=True))


if __name__ == "__main__":
    main()
