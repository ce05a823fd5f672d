#!/usr/bin/env bash
# Session 75 (issue 11): is width what keeps one engine from holding camera shake and frame averages together?
# naf-wide (width 32, NAFNet's own; 3.47M parameters) grown from the released naf v5 so that it starts as it
# (nets/nafnet.widened: every channel repeated, each conv's input split among the copies), then trained as
# naf_all.sh trains naf: mix motion 0.35, kernel 0.45, pravg 0.2, PSNR loss, lr 5e-4 cosine to zero, but 8,000
# steps (0.46 s a step here against naf's 0.23) and a warm-up of 300 (a fresh AdamW moves each of 3.5M
# weights by about the lr in its first steps: validation gain 1.46 -> 1.21 dB after 3 steps without one). Rerunning
# resumes. Result (engines/naf-shake/NOTES.md, not released): shake +3.01, motion +0.38, PrAvg-7/11 +0.11/+0.14,
# VLA +0.09 dB, behind naf-all on every row at 2.3x its inference cost. Then:
#   streamdeblur release RUN naf-wide --settle 1.0,3.0 -o DIR
#   STEPS (default 8000), THREADS (default 2), NAME (default naf-wide)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
P="${CACHE:-$HOME/.cache/streamdeblur}/pairs"
MOTION="$P/motion-128,$P/motion-128c" VAL="$P/kernel-256,$P/motion-128c" SETS="$P/pravg-256" \
  MIX=motion=0.35,kernel=0.45,pravg=0.2 SEED=75 MODEL=naf-wide WARMUP=300 \
  STEPS="${STEPS:-8000}" NAME="${NAME:-naf-wide}" exec bash "$HERE/../session73/naf_shake.sh"
