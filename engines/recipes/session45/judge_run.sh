#!/usr/bin/env bash
# Session 45: judge a naf-t3m-hd training run (naf-t3m-hd-fl, its control naf-t3m-hd-fl0) the way
# engines/naf-t3m-hd/NOTES.md judges engines: released as naf-t3m-hd into a private engines folder (v1's gate and
# settle), then session 44's flicker_error.sh on each held-out clip (adapt on the clip's second half, `eval --video`
# on its first), plus the bare network on the same first half (no adapt).
# Usage: judge_run.sh RUN_DIR|v1 TAG CLIP...    e.g. judge_run.sh ~/.cache/streamdeblur/runs/naf-t3m-hd-fl fl CLIP
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; REPO="$(cd "$HERE/../../.." && pwd)"
RUN="$1"; TAG="$2"; shift 2
WORK="$HOME/work/judge-$TAG"; export STREAMDEBLUR_ENGINES="$WORK/engines"
mkdir -p "$WORK" "$STREAMDEBLUR_ENGINES"
# The halves are the same files for every run (flicker_error.sh writes them once, losslessly).
for d in first second; do mkdir -p "$HOME/work/$d"; [[ -e "$WORK/$d" ]] || ln -s "$HOME/work/$d" "$WORK/$d"; done
if [[ "$RUN" == v1 ]]; then  # the released engine itself, the baseline row
  ln -sfn "$REPO/engines/naf-t3m-hd" "$STREAMDEBLUR_ENGINES/naf-t3m-hd"
elif [[ ! -f "$STREAMDEBLUR_ENGINES/naf-t3m-hd/model.safetensors" ]]; then
  streamdeblur release "$RUN" naf-t3m-hd -o "$STREAMDEBLUR_ENGINES/naf-t3m-hd" --gate 1.0 --settle 1,3 --force
fi
for CLIP in "$@"; do
  STEM="$(basename "${CLIP%.*}")"; NAME="$(basename "$CLIP")"
  echo "== $TAG $STEM adapted"
  bash "$REPO/engines/recipes/session44/flicker_error.sh" "$CLIP" naf-t3m-hd "$WORK"
  echo "== $TAG $STEM bare"
  [[ -f "$WORK/rep/bare-$STEM/report.md" ]] || streamdeblur eval --video "$WORK/one1-$STEM/$NAME" \
    --blur motion:2,motion:4,motion:8 --exposure shutter --max-frames 100 --model naf-t3m-hd \
    -o "$WORK/rep/bare-$STEM" -q
  grep "^|" "$WORK/rep/bare-$STEM/report.md" | head -24
done
