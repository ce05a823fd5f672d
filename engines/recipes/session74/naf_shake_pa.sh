#!/usr/bin/env bash
# Session 74 (issue 11), a probe, not released: can one engine hold naf's PrAvg/VLA rows and +3 dB on shake?
# naf-shake v1 (engines/naf-shake) trained 6,000 steps more with PrAvg pairs in the mix (motion 0.4, kernel 0.4,
# pravg 0.2; pravg-256 from pairs.sh), lr 3e-4 cosine to zero, PSNR loss: session73/naf_shake.sh with those set.
# Result (engines/naf-shake/NOTES.md): PrAvg/VLA +0.02 to +0.05 dB over v1, far from naf's +0.19 to +0.23.
# Rerunning resumes. Then:
#   streamdeblur release RUN naf-shake --settle 1.0,3.0 -o DIR; streamdeblur eval --pairs val128 --model pa=DIR ...
#   STEPS (default 6000), THREADS (default 2), NAME (default naf-shake-pa)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
P="${CACHE:-$HOME/.cache/streamdeblur}/pairs"
MOTION="$P/motion-128,$P/motion-128c" VAL="$P/kernel-256,$P/motion-128c" SETS="$P/pravg-256" \
  MIX=motion=0.4,kernel=0.4,pravg=0.2 INIT="$REPO/engines/naf-shake/model.safetensors" LR=3e-4 SEED=74 \
  STEPS="${STEPS:-6000}" NAME="${NAME:-naf-shake-pa}" exec bash "$HERE/../session73/naf_shake.sh"
