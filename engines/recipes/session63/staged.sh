#!/usr/bin/env bash
# Session 63: what the first hand-over of `process --adapt` on a live input gives, a tenth of the steps into the
# adaptation, against the whole adaptation. naf (what a small CPU adapts live), each clip adapted on its second half
# as the live child does it (`adapt --steps 100`, then `adapt --steps 1000`, which continues the same run), and both
# engines scored on the first half by the held-out protocol (engines/naf-hd/NOTES.md, sessions 29-61); then
#   python engines/recipes/session55/paired.py $W/rep-naf100:s100 $W/rep-naf1000:s1000
# W: the folder with first/ and second/ halves (engines/recipes/halves.py; default ~/work/s61).
set -euo pipefail
W="${W:-$HOME/work/s61}"; OUT="${OUT:-$HOME/work/s63}"
export STREAMDEBLUR_CACHE="$OUT/cache-staged"
for NAME in SadTalker-WDA_KatieHill_000 SadTalker-WDA_EdMarkey0_000 SadTalker-RD_Radio2_000 SadTalker-RD_Radio34_000; do
  for STEPS in 100 1000; do
    ENG="$OUT/eng-naf$STEPS/$NAME"; REP="$OUT/rep-naf$STEPS/$NAME"
    mkdir -p "$(dirname "$ENG")"
    [[ -d "$ENG" ]] || streamdeblur adapt "$W/second/$NAME.mp4" -o "$ENG" --model naf --steps "$STEPS" -q
    [[ -f "$REP/report.json" ]] || streamdeblur eval --video "$W/first/$NAME.mp4" \
      --blur motion:0.1,motion:2,motion:4,motion:8 --exposure shutter --max-frames 100 \
      --model "s$STEPS=$ENG" --no-baselines -o "$REP" -q
    echo "== $NAME $STEPS $(date +%T)"; grep "^| s$STEPS" "$REP/report.md" | head -8
  done
done
