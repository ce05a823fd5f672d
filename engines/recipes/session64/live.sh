#!/usr/bin/env bash
# Session 64: `process - --adapt` fed KatieHill's 480-s pipe at 25 fps (session 62's stream), as session 63 measured
# it, now that the hand-overs' engines come from the one adapt run (adapt --snapshot): once with session 63's 1,000
# steps (hand-overs at 100, 500, 1,000) and once with naf's own default (2,000: at 200, 1,000, 2,000). Each run in
# $OUT/live-ARM with a fresh cache; the events (seconds, frame) in its events.json and log. Session 63's code on the
# same stream (the baseline of BENCHMARKS.md, session 64), in the same hour: `git checkout 612cb88 -- streamdeblur`,
# `python engines/recipes/session62/live_process.py CLIP 480 $OUT/live-old1000 --adapt-steps 1000`, then
# `git checkout HEAD -- streamdeblur`.
set -euo pipefail
OUT="${OUT:-$HOME/work/s64}"; HERE="$(cd "$(dirname "$0")" && pwd)"
CLIP="$(cd "$HERE/../../../../shared/data/train" && pwd)/SadTalker/examples/ref_video/WDA_KatieHill_000.mp4"
STREAM="${STREAM:-$HOME/work/s62/liveproc-naf480/stream.ts}"  # made by live_process.py where missing
for ARM in 1000 default; do
  DIR="$OUT/live-$ARM"; mkdir -p "$DIR"
  [[ -e "$DIR/stream.ts" || ! -f "$STREAM" ]] || ln -s "$STREAM" "$DIR/stream.ts"
  [[ -f "$DIR/summary.json" ]] && continue
  if [[ "$ARM" == default ]]; then EXTRA=(); else EXTRA=(--adapt-steps "$ARM"); fi
  python "$HERE/../session62/live_process.py" "$CLIP" 480 "$DIR" "${EXTRA[@]}" > "$OUT/live-$ARM.log" 2>&1
done
