#!/usr/bin/env bash
# Session 66: `process - --adapt` fed KatieHill's clip as a 300-s pipe at 25 fps (session 62's live_process.py), with
# this code's defaults: naf adapted 4,000 steps, handed over at 100 (a fortieth; 200 until now), 1,000 and 2,000
# steps. 300 s reach the first two hand-overs; session 65's 600-s run (engines/recipes/session65/live.sh) is the
# baseline for them. A fresh cache in $OUT/live-default; the events (seconds, frame) in its events.json and the log;
# BENCHMARKS.md, session 66.
set -euo pipefail
OUT="${OUT:-$HOME/work/s66}"; HERE="$(cd "$(dirname "$0")" && pwd)"
CLIP="$(cd "$HERE/../../../../shared/data/train" && pwd)/SadTalker/examples/ref_video/WDA_KatieHill_000.mp4"
DIR="$OUT/live-default"; mkdir -p "$DIR"
[[ -f "$DIR/summary.json" ]] || python "$HERE/../session62/live_process.py" "$CLIP" 300 "$DIR" > "$OUT/live-default.log" 2>&1
