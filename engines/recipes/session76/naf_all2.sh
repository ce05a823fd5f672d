#!/usr/bin/env bash
# Session 76 (issue 11): naf-all (session75/naf_all.sh, 12k steps, validation gain 1.87) trained 12,000 steps more
# on the same mix (motion 0.35 / kernel 0.45 / pravg 0.2), a warm restart: lr 2.5e-4 (half of naf-all's), 200 steps
# of warm-up, cosine to zero (seed 75, as naf-all's: naf_all.sh sets it). Starts from naf-all's run
# (~/.cache/streamdeblur/runs/naf-all/last.pt: run session75/naf_all.sh first on a fresh machine). Rerunning
# resumes. Result: engines/naf-shake/NOTES.md, session 76.
#   streamdeblur release naf-all2 naf-shake --settle 1.0,3.0 -o DIR
#   streamdeblur eval --pairs val128 --model all2=DIR --model naf-shake --model naf --limit 200 --no-baselines ...
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
INIT="${INIT:-$CACHE/runs/naf-all/last.pt}" LR=2.5e-4 WARMUP=200 NAME="${NAME:-naf-all2}" \
  exec bash "$HERE/../session75/naf_all.sh"
