#!/usr/bin/env bash
# Session 63: naf adapted to each held-out clip's person for STEPS... steps, as `process --adapt`'s live child does it
# (a larger count continues the same run, as the child's second `adapt` does; a smaller one than the run has trains
# a run of its own from the start, run-KEY-STEPS), each engine scored on the clip's first half by the held-out
# protocol (engines/naf-hd/NOTES.md, sessions 29-61). Engines in $OUT/eng-nafSTEPS/NAME, reports in
# $OUT/rep-nafSTEPS/NAME; then e.g.
#   python engines/recipes/session55/paired.py ~/work/s63/rep-naf100:s100 ~/work/s63/rep-naf1000:s1000
# The tables of engines/naf/NOTES.md, session 63:
#   naf_steps.sh 100 1000; naf_steps.sh 250 500; naf_steps.sh 2000      (the four clips, the default)
#   CLIPS=other naf_steps.sh 1000 2000                                  (the other six of the ten)
# W: the folder of the halves (first/, second/; made by engines/recipes/halves.py where missing).
set -euo pipefail
W="${W:-$HOME/work/s61}"; OUT="${OUT:-$HOME/work/s63}"
HERE="$(cd "$(dirname "$0")" && pwd)"; TRAIN="$(cd "$HERE/../../../../shared/data/train" && pwd)"
export STREAMDEBLUR_CACHE="$OUT/cache-staged"
FOUR=(SadTalker/examples/ref_video/WDA_KatieHill_000.mp4 SadTalker/test/examples/source_image/WDA_EdMarkey0_000.mp4
      SadTalker/test/examples/source_image/RD_Radio2_000.mp4 SadTalker/test/examples/source_image/RD_Radio34_000.mp4)
OTHER=(SadTalker/examples/ref_video/WDA_AlexandriaOcasioCortez_000.mp4
       SadTalker/test/examples/source_image/WDA_BobMenendez_000.mp4 DaGAN/assets/driving.mp4
       TPSMM/assets/driving.mp4 PGTFormer/assets/inputdemovideo.mp4 X-Portrait/assets/driving_video.mp4)
if [[ "${CLIPS:-four}" == other ]]; then CHOSEN=("${OTHER[@]}"); else CHOSEN=("${FOUR[@]}"); fi
for REL in "${CHOSEN[@]}"; do
  NAME="$(echo "$REL" | cut -d/ -f1)-$(basename "$REL" .mp4)"
  python "$HERE/../halves.py" "$TRAIN/$REL" "$W" "$NAME.mp4"
  for STEPS in "$@"; do
    ENG="$OUT/eng-naf$STEPS/$NAME"; REP="$OUT/rep-naf$STEPS/$NAME"
    mkdir -p "$(dirname "$ENG")"
    [[ -d "$ENG" ]] || streamdeblur adapt "$W/second/$NAME.mp4" -o "$ENG" --model naf --steps "$STEPS" -q
    [[ -f "$REP/report.json" ]] || streamdeblur eval --video "$W/first/$NAME.mp4" \
      --blur motion:0.1,motion:2,motion:4,motion:8 --exposure shutter --max-frames 100 \
      --model "s$STEPS=$ENG" --no-baselines -o "$REP" -q
    echo "== $NAME $STEPS $(date +%T)"
  done
done
