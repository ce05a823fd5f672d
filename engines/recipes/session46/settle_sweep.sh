#!/usr/bin/env bash
# Session 46: what adapt's settle range buys on sharp faces and costs on blurred ones. An adapted engine folder as
# it is (row "adapted") and copies of it with the card's "settle" changed (LOW,HIGH, or "none" to take it out), through
# `eval --video` on the clip's first half: motion:0.1 (sharp: 0.05 px of motion in an exposure), motion:2, motion:4.
# Usage: settle_sweep.sh ENGINE_FOLDER CLIP_FIRST_HALF TAG RANGE...   e.g. ... radio34 none 0.3,0.6 0.2,0.45
set -euo pipefail
ENG="$(realpath "$1")"; CLIP="$(realpath "$2")"; TAG="$3"; shift 3; W="$HOME/work/settle-$TAG"
NAME="$(basename "$CLIP")"; MODELS=(--model "adapted=$ENG")
mkdir -p "$W/one"; ln -sf "$CLIP" "$W/one/$NAME"
for R in "$@"; do
  D="$W/s${R/,/-}"; mkdir -p "$D"; cp "$ENG"/* "$D/"
  python -c "
import json, sys
p, r = sys.argv[1:]
c = json.load(open(p))
if r == 'none':
    c.pop('settle', None)
else:
    c['settle'] = [float(v) for v in r.split(',')]
json.dump(c, open(p, 'w'))" "$D/card.json" "$R"
  MODELS+=(--model "s${R/,/-}=$D")
done
streamdeblur eval --video "$W/one/$NAME" --blur motion:0.1,motion:2,motion:4 --exposure shutter --max-frames 100 \
  "${MODELS[@]}" --no-baselines -o "$W/rep" -q
grep "^## Blur\|^| blurred\|^| adapted\|^| s" "$W/rep/report.md"
