#!/usr/bin/env bash
# Session 75 (issue 11): one engine with naf's PrAvg/VLA rows and naf-shake's +3 dB on shake? The session-74 probe
# added PrAvg pairs to naf-shake v1, which had already lost them (12k steps without): +0.02 to +0.05 dB back. This
# arm keeps them from the start: the released naf (v5; its PrAvg/VLA +0.19 to +0.23) fine-tuned as naf-shake v1
# was (12,000 steps, PSNR loss, lr 5e-4 cosine to zero, 128-px motion exposures) with a fifth of the draws PrAvg
# 7-15 frame averages (pravg-256, pairs.sh): mix motion 0.35, kernel 0.45, pravg 0.2.
# Result (engines/naf-shake/NOTES.md, not released): shake +3.04, PrAvg-7/11 +0.14/+0.15, VLA +0.11, motion +0.48 dB:
# half of naf's frame-average rows lost instead of all of them, still behind naf on four rows and v1 on shake.
# Rerunning resumes. Then:
#   streamdeblur release RUN naf-all --settle 1.0,3.0 -o DIR
#   streamdeblur eval --pairs val128 --model all=DIR --model naf-shake --model naf --limit 200 --no-baselines ...
#   STEPS (default 12000), THREADS (default 2), NAME (default naf-all)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
P="${CACHE:-$HOME/.cache/streamdeblur}/pairs"
MOTION="$P/motion-128,$P/motion-128c" VAL="$P/kernel-256,$P/motion-128c" SETS="$P/pravg-256" \
  MIX=motion=0.35,kernel=0.45,pravg=0.2 SEED=75 \
  STEPS="${STEPS:-12000}" NAME="${NAME:-naf-all}" exec bash "$HERE/../session73/naf_shake.sh"
