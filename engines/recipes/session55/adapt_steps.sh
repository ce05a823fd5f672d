#!/usr/bin/env bash
# Session 55: what does adapting longer buy over the default 500 steps, with the adapted engine's TLC 144, and what
# does a larger training patch buy (TLC has made the engine's windows independent of the crop size)?
# The ten engines of session54/adapt_tlc.sh were adapted 500 steps on each held-out clip's second half (96-px
# patches). Here, on the same pairs:
#   adapt_steps.sh N        `adapt --steps N` continues those 500-step runs in the cache (the rate is constant and the
#                           data order resumes, so this is the recipe of a fresh N-step run)
#   adapt_steps.sh N PATCH  a fresh N-step run on PATCH-px patches (a scratch cache whose adapt/<key>/pairs link to
#                           the first run's, so nothing is re-drawn), through adapt_patch.py
# Session 56: INIT=WEIGHTS starts a fresh N-step run (96-px patches unless PATCH) from WEIGHTS instead of the
# released naf-hd (Reptile's, session56/reptile.py), in the same kind of scratch cache; ARM (default N, N-pPATCH)
# names it, W (default ~/work/s55) is where engines and reports go, ONLY=REGEX keeps the clips whose name matches.
# Session 57: DRAWS=D trains the fresh run on D blur draws of each reference frame instead of one (session57/
# more_draws.py lays the scratch cache: the seed-0 pairs linked, seeds 1..D-1 made anew).
# Each engine is scored by the same `eval --video` on the same first half (seed 0: the faces of session 54's reports).
# Engines in $W/eng-ARM/CLIP, reports in $W/rep-ARM/CLIP; then
#   python engines/recipes/session55/paired.py ~/work/s54/rep-144:tlc144 $W/rep-ARM:ARM
set -euo pipefail
N="$1"; PATCH="${2:-}"; H="$HOME/work/s54"; W="${W:-$HOME/work/s55}"; CACHE="${STREAMDEBLUR_CACHE:-$HOME/.cache/streamdeblur}"
INIT="${INIT:+$(realpath "$INIT")}"; ARM="${ARM:-$N${PATCH:+-p$PATCH}${DRAWS:+-d$DRAWS}}"; SCRATCH="$W/cache-$ARM"
mkdir -p "$W/eng-$ARM" "$W/rep-$ARM"
for ONE in "$H"/one-*; do
  STEM="${ONE#"$H"/one-}"; NAME="$(basename "$(ls "$ONE"/*.mp4)")"; ENG="$W/eng-$ARM/$STEM"
  [[ -z "${ONLY:-}" || "$STEM" =~ $ONLY ]] || continue
  if [[ ! -d "$ENG" && -z "$PATCH$INIT${DRAWS:-}" ]]; then
    streamdeblur adapt "$H/second/$NAME" -o "$ENG" --steps "$N" -q
  elif [[ ! -d "$ENG" ]]; then
    KEY="$(python -c "
import sys
from pathlib import Path
from streamdeblur.train.adapt import AdaptOptions, work_dir
print(work_dir([Path(sys.argv[1])], AdaptOptions()).name)" "$H/second/$NAME")"
    [[ -d "$CACHE/adapt/$KEY/pairs" ]] || { echo "no pairs of $STEM in $CACHE/adapt/$KEY" >&2; exit 1; }
    mkdir -p "$SCRATCH/adapt/$KEY"
    if [[ -n "${DRAWS:-}" ]]; then
      REAL_CACHE="$CACHE" STREAMDEBLUR_CACHE="$SCRATCH" python "$(dirname "$0")/../session57/more_draws.py" \
        "$H/second/$NAME" "$DRAWS"
    else
      ln -sfn "$CACHE/adapt/$KEY/pairs" "$SCRATCH/adapt/$KEY/pairs"
      cp "$CACHE/adapt/$KEY/min_sharpness.json" "$SCRATCH/adapt/$KEY/"
    fi
    STREAMDEBLUR_CACHE="$SCRATCH" python "$(dirname "$0")/adapt_patch.py" "$H/second/$NAME" "$ENG" "$N" "${PATCH:-96}" \
      ${INIT:+"$INIT"}
  fi
  [[ -f "$W/rep-$ARM/$STEM/report.json" ]] || streamdeblur eval --video "$ONE/$NAME" \
    --blur motion:0.1,motion:2,motion:4,motion:8 --exposure shutter --max-frames 100 \
    --model "$ARM=$ENG" --no-baselines -o "$W/rep-$ARM/$STEM" -q
  echo "== $STEM"; grep "^| $ARM" "$W/rep-$ARM/$STEM/report.md" | head -8
done
