#!/usr/bin/env bash
# Session 67: the output of a live input encoded with x264's superfast preset. Session 66's live pipe (KatieHill as a
# 300-s MPEG-TS stream piped at 25 fps into `process - --adapt`, fresh cache each), with `--preset veryfast` (the
# encoder as it was) and with the new default for a camera, a stream or a pipe (superfast), back to back; run it
# twice (A B B A) to see the machine's drift. Events and summaries in $OUT/live-{veryfast,superfast}*; BENCHMARKS.md,
# "Output for real time". The encoder settings alone: engines/recipes/session67/encode_speed.py.
set -euo pipefail
OUT="${OUT:-$HOME/work/s67}"; HERE="$(cd "$(dirname "$0")" && pwd)"
CLIP="$(cd "$HERE/../../../../shared/data/train" && pwd)/SadTalker/examples/ref_video/WDA_KatieHill_000.mp4"
for arm in veryfast superfast; do
  mkdir -p "$OUT/live-$arm"
  extra=(); [[ $arm == veryfast ]] && extra=(--preset veryfast)
  python "$HERE/../session62/live_process.py" "$CLIP" 300 "$OUT/live-$arm" "${extra[@]}" > "$OUT/live-$arm.log" 2>&1
  tail -n 2 "$OUT/live-$arm.log"
done
