#!/usr/bin/env bash
# Session 61: adapt's constant learning rate against a cosine to zero, on the held-out clips' halves (the protocol of
# engines/naf-hd/NOTES.md, sessions 29-57: adapt on the second half of each clip, score the first half).
#   adapt_schedule.sh ARM SCHEDULE [LR]    e.g. `const constant`, `cos cosine`, `cos5 cosine 5e-4`
# Halves are made in $W/first, $W/second (engines/recipes/halves.py); the first arm run makes each clip's pairs in
# its own cache $W/cache-ARM, later arms link to them (the same pairs, the same data order). Engines in
# $W/eng-ARM/STEM, `eval --video` reports in $W/rep-ARM/STEM (seed 0: the same faces in every arm); then
#   python engines/recipes/session55/paired.py $W/rep-const:const $W/rep-cos:cos
# STEPS (default 1000, adapt's default), ONLY=REGEX keeps the clips whose name matches.
set -euo pipefail
ARM="$1"; SCHEDULE="$2"; LR="${3:-}"; W="${W:-$HOME/work/s61}"; STEPS="${STEPS:-1000}"
HERE="$(cd "$(dirname "$0")" && pwd)"; TRAIN="$(cd "$HERE/../../../../shared/data/train" && pwd)"
# the clips with the most faces first, so that a run stopped early has most of them
CLIPS=(SadTalker/examples/ref_video/WDA_KatieHill_000.mp4 SadTalker/test/examples/source_image/WDA_EdMarkey0_000.mp4
       SadTalker/test/examples/source_image/RD_Radio2_000.mp4 SadTalker/test/examples/source_image/RD_Radio34_000.mp4
       SadTalker/examples/ref_video/WDA_AlexandriaOcasioCortez_000.mp4
       SadTalker/test/examples/source_image/WDA_BobMenendez_000.mp4 DaGAN/assets/driving.mp4 TPSMM/assets/driving.mp4
       PGTFormer/assets/inputdemovideo.mp4 X-Portrait/assets/driving_video.mp4)
mkdir -p "$W/eng-$ARM" "$W/rep-$ARM"
for REL in "${CLIPS[@]}"; do
  STEM="$(echo "$REL" | cut -d/ -f1)-$(basename "$REL" .mp4)"; NAME="$STEM.mp4"
  [[ -z "${ONLY:-}" || "$STEM" =~ $ONLY ]] || continue
  python "$HERE/../halves.py" "$TRAIN/$REL" "$W" "$NAME"
  ENG="$W/eng-$ARM/$STEM"; CACHE="$W/cache-$ARM"
  if [[ ! -d "$ENG" ]]; then
    KEY="$(python -c "
import sys
from pathlib import Path
from streamdeblur.train.adapt import AdaptOptions, work_dir
print(work_dir([Path(sys.argv[1])], AdaptOptions()).name)" "$W/second/$NAME")"
    FIRST="$(ls -d "$W"/cache-*/adapt/"$KEY"/pairs 2>/dev/null | grep -v "cache-$ARM/" | head -1 || true)"
    if [[ -n "$FIRST" && ! -e "$CACHE/adapt/$KEY/pairs" ]]; then  # another arm's pairs of this clip
      mkdir -p "$CACHE/adapt/$KEY"
      ln -sfn "$(realpath "$FIRST")" "$CACHE/adapt/$KEY/pairs"
      cp "$(dirname "$FIRST")/min_sharpness.json" "$CACHE/adapt/$KEY/"
    fi
    STREAMDEBLUR_CACHE="$CACHE" python "$HERE/adapt_schedule.py" "$W/second/$NAME" "$ENG" "$STEPS" "$SCHEDULE" $LR
  fi
  [[ -f "$W/rep-$ARM/$STEM/report.json" ]] || streamdeblur eval --video "$W/first/$NAME" \
    --blur motion:0.1,motion:2,motion:4,motion:8 --exposure shutter --max-frames 100 \
    --model "$ARM=$ENG" --no-baselines -o "$W/rep-$ARM/$STEM" -q
  echo "== $STEM $(date +%T)"; grep "^| $ARM" "$W/rep-$ARM/$STEM/report.md" | head -8
done
