#!/usr/bin/env bash
# Session 46: gain against flicker along adapt's steps. naf-t3m-hd v1 adapted on a held-out clip's second half
# for each of STEPS... (adapt's cached 500-step run continues to more; fewer train a run of their own), then
# `eval --video` on the first half (the NOTES' protocol; session 44's flicker_error.sh writes the halves).
# Usage: adapt_sweep.sh CLIP STEPS...
set -euo pipefail
CLIP="$(realpath "$1")"; shift
NAME="$(basename "$CLIP")"; STEM="${NAME%.*}"; W="$HOME/work/sweep"
mkdir -p "$W/rep"
[[ -f "$HOME/work/first/$NAME" && -f "$HOME/work/second/$NAME" ]] || { echo "run session44/flicker_error.sh $CLIP first"; exit 2; }
for N in "$@"; do
  streamdeblur adapt "$HOME/work/second/$NAME" -o "$W/eng-$STEM-$N" --model naf-t3m-hd --steps "$N" -q
  mkdir -p "$W/one-$STEM-$N"; ln -sf "$HOME/work/first/$NAME" "$W/one-$STEM-$N/$NAME"
  streamdeblur eval --video "$W/one-$STEM-$N/$NAME" --blur motion:2,motion:4,motion:8 --exposure shutter \
    --max-frames 100 --model "naf-t3m-hd=$W/eng-$STEM-$N" -o "$W/rep/$STEM-$N" -q
  echo "== $STEM adapt steps $N"; grep "^| blurred\|^| naf" "$W/rep/$STEM-$N/report.md"
done
