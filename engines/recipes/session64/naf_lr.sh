#!/usr/bin/env bash
# Session 64: naf adapted at a higher constant learning rate than adapt's 2.5e-4, on the four held-out clips of
# session 63 (engines/naf/NOTES.md), each on its second half and scored on its first (the protocol of sessions
# 29-63). One run of STEPS steps per clip writes the engine at each SNAPSHOT too (adapt --snapshot).
#   naf_lr.sh ARM LR STEPS [SNAPSHOT...]     e.g. `naf_lr.sh lr5 5e-4 2000 1000`
# Pairs: linked to session 63's cache ($S63/cache-staged), so every arm trains on the same pairs as its 2.5e-4 runs.
# Engines in $OUT/eng-ARM-N/STEM, reports in $OUT/rep-ARM-N/STEM; then e.g.
#   python engines/recipes/session55/paired.py ~/work/s63/rep-naf1000:s1000 ~/work/s64/rep-lr5-1000:lr5
set -euo pipefail
ARM="$1"; LR="$2"; STEPS="$3"; shift 3
W="${W:-$HOME/work/s61}"; S63="${S63:-$HOME/work/s63}"; OUT="${OUT:-$HOME/work/s64}"
HERE="$(cd "$(dirname "$0")" && pwd)"; TRAIN="$(cd "$HERE/../../../../shared/data/train" && pwd)"
CLIPS=(SadTalker/examples/ref_video/WDA_KatieHill_000.mp4 SadTalker/test/examples/source_image/WDA_EdMarkey0_000.mp4
       SadTalker/test/examples/source_image/RD_Radio2_000.mp4 SadTalker/test/examples/source_image/RD_Radio34_000.mp4)
CACHE="$OUT/cache-$ARM"
for REL in "${CLIPS[@]}"; do
  STEM="$(echo "$REL" | cut -d/ -f1)-$(basename "$REL" .mp4)"; NAME="$STEM.mp4"
  python "$HERE/../halves.py" "$TRAIN/$REL" "$W" "$NAME"
  ENG="$OUT/eng-$ARM-$STEPS/$STEM"
  if [[ ! -d "$ENG" ]]; then
    KEY="$(python -c "
import sys
from pathlib import Path
from streamdeblur.train.adapt import AdaptOptions, work_dir
print(work_dir([Path(sys.argv[1])], AdaptOptions(model='naf')).name)" "$W/second/$NAME")"
    if [[ ! -e "$CACHE/adapt/$KEY/pairs" ]]; then
      mkdir -p "$CACHE/adapt/$KEY"
      ln -sfn "$S63/cache-staged/adapt/$KEY/pairs" "$CACHE/adapt/$KEY/pairs"
      cp "$S63/cache-staged/adapt/$KEY/min_sharpness.json" "$CACHE/adapt/$KEY/"
    fi
    mkdir -p "$(dirname "$ENG")"
    for N in "$@"; do mkdir -p "$OUT/eng-$ARM-$N"; rm -rf "$OUT/eng-$ARM-$N/$STEM"; done
    STREAMDEBLUR_CACHE="$CACHE" python "$HERE/adapt_lr.py" "$W/second/$NAME" "$ENG" "$STEPS" "$LR" "$@"
    for N in "$@"; do mv "$ENG-$N" "$OUT/eng-$ARM-$N/$STEM"; done
  fi
  for N in "$@" "$STEPS"; do
    REP="$OUT/rep-$ARM-$N/$STEM"
    [[ -f "$REP/report.json" ]] || streamdeblur eval --video "$W/first/$NAME" \
      --blur motion:0.1,motion:2,motion:4,motion:8 --exposure shutter --max-frames 100 \
      --model "$ARM=$OUT/eng-$ARM-$N/$STEM" --no-baselines -o "$REP" -q
  done
  echo "== $STEM $(date +%T)"
done
