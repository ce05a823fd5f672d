#!/usr/bin/env bash
# Session 65: `process - --adapt` fed KatieHill's clip as a 600-s pipe at 25 fps (session 62's live_process.py; the
# 480 s of session 64 end before naf's 4,000 steps), with this code's defaults: naf adapted 4,000 steps, hand-overs
# at 200, 1,000 and 2,000, adapt's passes detecting the recording's faces at the size made for them. A fresh cache in
# $OUT/live-default; the events (seconds, frame) in its events.json and the log; BENCHMARKS.md, session 65.
set -euo pipefail
OUT="${OUT:-$HOME/work/s65}"; HERE="$(cd "$(dirname "$0")" && pwd)"
CLIP="$(cd "$HERE/../../../../shared/data/train" && pwd)/SadTalker/examples/ref_video/WDA_KatieHill_000.mp4"
DIR="$OUT/live-default"; mkdir -p "$DIR"
[[ -f "$DIR/summary.json" ]] || python "$HERE/../session62/live_process.py" "$CLIP" 600 "$DIR" > "$OUT/live-default.log" 2>&1
