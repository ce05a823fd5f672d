#!/usr/bin/env bash
# Session 63: `process - --adapt` the second time a person comes (BENCHMARKS.md, "the person known from the first
# faces"). ENGINE: a folder adapted to KatieHill before (session 62's 480-s run left one in its cache); OUT: a new
# folder. Run once on main before the Looker (git stash) and once after, into two folders.
set -euo pipefail
ENGINE=${1:?engine folder adapted to KatieHill}
OUT=${2:?output folder}
mkdir -p "$OUT/cache/adapt/recordings"
cp -r "$ENGINE" "$OUT/cache/adapt/recordings/"
python engines/recipes/session62/live_process.py \
  ../shared/data/train/SadTalker/examples/ref_video/WDA_KatieHill_000.mp4 60 "$OUT" --model naf
# The staged hand-over (BENCHMARKS.md, "handed over twice"): a fresh folder, no engine copied in, 480 s of stream:
#   python engines/recipes/session62/live_process.py CLIP 480 OUT2
