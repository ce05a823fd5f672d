#!/usr/bin/env bash
# Session 63: naf adapted 1,000 against 2,000 steps on the other six held-out clips (staged.sh and share.sh did four),
# so that the two can be compared on all ten: each clip adapted on its second half (1,000 steps, then continued to
# 2,000) and scored on its first half; then
#   python engines/recipes/session55/paired.py ~/work/s63/rep-naf1000:s1000 ~/work/s63/rep-naf2000:s2000
set -euo pipefail
W="${W:-$HOME/work/s61}"; OUT="${OUT:-$HOME/work/s63}"
HERE="$(cd "$(dirname "$0")" && pwd)"; TRAIN="$(cd "$HERE/../../../../shared/data/train" && pwd)"
export STREAMDEBLUR_CACHE="$OUT/cache-staged"
for REL in SadTalker/examples/ref_video/WDA_AlexandriaOcasioCortez_000.mp4 \
           SadTalker/test/examples/source_image/WDA_BobMenendez_000.mp4 DaGAN/assets/driving.mp4 \
           TPSMM/assets/driving.mp4 PGTFormer/assets/inputdemovideo.mp4 X-Portrait/assets/driving_video.mp4; do
  NAME="$(echo "$REL" | cut -d/ -f1)-$(basename "$REL" .mp4)"
  python "$HERE/../halves.py" "$TRAIN/$REL" "$W" "$NAME.mp4"
  for STEPS in 1000 2000; do
    ENG="$OUT/eng-naf$STEPS/$NAME"; REP="$OUT/rep-naf$STEPS/$NAME"
    mkdir -p "$(dirname "$ENG")"
    [[ -d "$ENG" ]] || streamdeblur adapt "$W/second/$NAME.mp4" -o "$ENG" --model naf --steps "$STEPS" -q
    [[ -f "$REP/report.json" ]] || streamdeblur eval --video "$W/first/$NAME.mp4" \
      --blur motion:0.1,motion:2,motion:4,motion:8 --exposure shutter --max-frames 100 \
      --model "s$STEPS=$ENG" --no-baselines -o "$REP" -q
    echo "== $NAME $STEPS $(date +%T)"
  done
done
