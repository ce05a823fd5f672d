#!/usr/bin/env bash
# Session 63: how much of naf's adaptation a first hand-over after 250 or 500 steps carries, and what 2,000 add
# (SHARE_STEPS=2000, which continues the 1,000-step run); staged.sh gave 100 and 1,000. The same four clips, pairs and
# protocol as staged.sh (its cache: for fewer steps than its run has, adapt trains a run of its own, run-KEY-STEPS,
# from the start); then
#   python engines/recipes/session55/paired.py ~/work/s63/rep-naf250:s250 ~/work/s63/rep-naf1000:s1000
set -euo pipefail
W="${W:-$HOME/work/s61}"; OUT="${OUT:-$HOME/work/s63}"
export STREAMDEBLUR_CACHE="$OUT/cache-staged"
for STEPS in ${SHARE_STEPS:-250 500}; do
  for NAME in SadTalker-WDA_KatieHill_000 SadTalker-WDA_EdMarkey0_000 SadTalker-RD_Radio2_000 SadTalker-RD_Radio34_000; do
    ENG="$OUT/eng-naf$STEPS/$NAME"; REP="$OUT/rep-naf$STEPS/$NAME"
    mkdir -p "$(dirname "$ENG")"
    [[ -d "$ENG" ]] || streamdeblur adapt "$W/second/$NAME.mp4" -o "$ENG" --model naf --steps "$STEPS" -q
    [[ -f "$REP/report.json" ]] || streamdeblur eval --video "$W/first/$NAME.mp4" \
      --blur motion:0.1,motion:2,motion:4,motion:8 --exposure shutter --max-frames 100 \
      --model "s$STEPS=$ENG" --no-baselines -o "$REP" -q
    echo "== $NAME $STEPS $(date +%T)"
  done
done
