#!/usr/bin/env bash
# Session 46: what adapt's settle range (0.3, 0.9) buys on sharp faces and costs on blurred ones. An adapted engine
# folder, and a copy of it without the settle range, through `eval --video` on the clip's first half with
# motion:0.1 (sharp: 0.05 px of motion in an exposure) beside motion:2 and motion:4.
# Usage: settle_sharp.sh ENGINE_FOLDER CLIP_FIRST_HALF TAG
set -euo pipefail
ENG="$(realpath "$1")"; CLIP="$(realpath "$2")"; TAG="$3"; W="$HOME/work/settle-$TAG"
NAME="$(basename "$CLIP")"
mkdir -p "$W/one"; ln -sf "$CLIP" "$W/one/$NAME"
if [[ ! -d "$W/nosettle" ]]; then
  mkdir -p "$W/nosettle"; cp "$ENG"/* "$W/nosettle/"
  python -c "import json,sys; p=sys.argv[1]; c=json.load(open(p)); c.pop('settle', None); json.dump(c, open(p, 'w'))" \
    "$W/nosettle/card.json"
fi
streamdeblur eval --video "$W/one/$NAME" --blur motion:0.1,motion:2,motion:4 --exposure shutter --max-frames 100 \
  --model "settle=$ENG" --model "nosettle=$W/nosettle" --no-baselines -o "$W/rep" -q
grep "^## \|^| blurred\|^| settle\|^| nosettle" "$W/rep/report.md"
