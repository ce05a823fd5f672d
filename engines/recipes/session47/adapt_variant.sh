#!/usr/bin/env bash
# Session 47: adapt_variant.py's variants of adapt's recipe, each judged as session 46's adapt_sweep.sh judges the
# default (naf-t3m-hd v1 adapted on the clip's second half, `eval --video` on its first half, --exposure shutter).
# Usage: adapt_variant.sh CLIP STEPS VARIANT...      (session44/flicker_error.sh CLIP writes the halves first)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CLIP="$(realpath "$1")"; STEPS="$2"; shift 2
NAME="$(basename "$CLIP")"; STEM="${NAME%.*}"; W="$HOME/work/variant"
mkdir -p "$W/rep"
[[ -f "$HOME/work/first/$NAME" && -f "$HOME/work/second/$NAME" ]] || { echo "run session44/flicker_error.sh $CLIP first"; exit 2; }
for V in "$@"; do
  ENG="$W/eng-$STEM-$V-$STEPS"
  [[ -d "$ENG" ]] || python "$HERE/adapt_variant.py" "$V" "$HOME/work/second/$NAME" "$ENG" --steps "$STEPS"
  mkdir -p "$W/one-$STEM-$V-$STEPS"; ln -sf "$HOME/work/first/$NAME" "$W/one-$STEM-$V-$STEPS/$NAME"
  streamdeblur eval --video "$W/one-$STEM-$V-$STEPS/$NAME" --blur motion:2,motion:4,motion:8 --exposure shutter \
    --max-frames 100 --model "naf-t3m-hd=$ENG" -o "$W/rep/$STEM-$V-$STEPS" -q
  echo "== $STEM $V $STEPS steps"; grep "^| blurred\|^| naf" "$W/rep/$STEM-$V-$STEPS/report.md"
done
