#!/usr/bin/env bash
# Session 44's flicker table (engines/naf-t3m-hd/NOTES.md): a held-out clip split in halves, an engine adapted on
# the second half, `eval --video` on the first with the unsharp and oracle rows and the error's flicker.
# Usage: flicker_error.sh CLIP MODEL [WORK]   e.g. flicker_error.sh ../shared/data/train/SadTalker/test/examples/source_image/RD_Radio34_000.mp4 naf-t3m-hd
set -euo pipefail
CLIP="$(realpath "$1")"; MODEL="$2"; WORK="${3:-$HOME/work}"
NAME="$(basename "$CLIP")"; STEM="${NAME%.*}"
mkdir -p "$WORK/first" "$WORK/second" "$WORK/one1-$STEM" "$WORK/eng" "$WORK/rep"
python "$(dirname "$0")/../halves.py" "$CLIP" "$WORK"
ln -sf "$WORK/first/$NAME" "$WORK/one1-$STEM/$NAME"
ENG="$WORK/eng/$MODEL-$STEM"
[[ -d "$ENG" ]] || streamdeblur adapt "$WORK/second/$NAME" -o "$ENG" --model "$MODEL" -q
streamdeblur eval --video "$WORK/one1-$STEM/$NAME" --blur motion:2,motion:4,motion:8 --exposure shutter \
  --max-frames 100 --model "$MODEL=$ENG" -o "$WORK/rep/$MODEL-$STEM" -q
grep "^|" "$WORK/rep/$MODEL-$STEM/report.md" | head -24
