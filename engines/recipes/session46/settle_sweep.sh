#!/usr/bin/env bash
# Session 46: other settle ranges for an adapted engine (copies of its folder with the card's "settle" changed),
# through `eval --video` on the clip's first half: motion:0.1 (sharp), motion:2, motion:4.
# Usage: settle_sweep.sh ENGINE_FOLDER CLIP_FIRST_HALF TAG LOW,HIGH...
set -euo pipefail
ENG="$(realpath "$1")"; CLIP="$(realpath "$2")"; TAG="$3"; shift 3; W="$HOME/work/settle-$TAG"
NAME="$(basename "$CLIP")"; MODELS=()
mkdir -p "$W/one"; ln -sf "$CLIP" "$W/one/$NAME"
for R in "$@"; do
  D="$W/s${R/,/-}"; mkdir -p "$D"; cp "$ENG"/* "$D/"
  python -c "import json,sys; p=sys.argv[1]; c=json.load(open(p)); c['settle']=[float(v) for v in sys.argv[2].split(',')]; json.dump(c, open(p, 'w'))" \
    "$D/card.json" "$R"
  MODELS+=(--model "s${R/,/-}=$D")
done
streamdeblur eval --video "$W/one/$NAME" --blur motion:0.1,motion:2,motion:4 --exposure shutter --max-frames 100 \
  "${MODELS[@]}" --no-baselines -o "$W/rep-sweep" -q
grep "^## Blur\|^| blurred\|^| s" "$W/rep-sweep/report.md"
