#!/usr/bin/env bash
# Session 46: the released naf-t3m-hd v1 network with no settle range and no gate (a private copy of its card),
# through `eval --video` on the first halves that session 44's flicker_error.sh writes (the NOTES' protocol).
# Usage: bare_eval.sh CLIP...
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; REPO="$(cd "$HERE/../../.." && pwd)"
W="$HOME/work/judge-bare"; export STREAMDEBLUR_ENGINES="$W/engines"; E="$STREAMDEBLUR_ENGINES/naf-t3m-hd"
mkdir -p "$E"
ln -sf "$REPO/engines/naf-t3m-hd/model.safetensors" "$E/model.safetensors"
python -c "import json,sys; c=json.load(open(sys.argv[1])); c.pop('settle', None); c['gate']=None; json.dump(c, open(sys.argv[2], 'w'))" \
  "$REPO/engines/naf-t3m-hd/card.json" "$E/card.json"
for CLIP in "$@"; do
  NAME="$(basename "$CLIP")"; STEM="${NAME%.*}"
  mkdir -p "$W/one-$STEM"; ln -sf "$HOME/work/first/$NAME" "$W/one-$STEM/$NAME"
  streamdeblur eval --video "$W/one-$STEM/$NAME" --blur motion:2,motion:4,motion:8 --exposure shutter \
    --max-frames 100 --model naf-t3m-hd -o "$W/rep/$STEM" -q
  grep "^| blurred\|^| naf" "$W/rep/$STEM/report.md"
done
