#!/usr/bin/env bash
# Session 74 (issue 11), a probe, not released: can one engine hold naf's PrAvg/VLA rows and +3 dB on shake?
# naf-shake v1 (engines/naf-shake) trained 6,000 steps more with PrAvg pairs in the mix (motion 0.4, kernel 0.4,
# pravg 0.2; pravg-256 from pairs.sh), lr 3e-4 cosine to zero, PSNR loss. Result (engines/naf-shake/NOTES.md):
# PrAvg/VLA +0.02 to +0.05 dB over v1, far from naf's +0.19 to +0.23. Rerunning resumes. Then:
#   streamdeblur release RUN naf-shake --settle 1.0,3.0 -o DIR; streamdeblur eval --pairs val128 --model pa=DIR ...
#   STEPS (default 6000), THREADS (default 2), NAME (default naf-shake-pa)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
P="$CACHE/pairs"; S="${STEPS:-6000}"; N="${NAME:-naf-shake-pa}"
RESUME=(); [[ -f "$CACHE/runs/$N/last.pt" ]] && RESUME=(--resume)
streamdeblur train --data "$P/motion-128,$P/motion-128c,$P/kernel-256,$P/pravg-256" --name "$N" --model naf \
  --crop-size 128 --set val_data="$P/kernel-256,$P/motion-128c" \
  --set init_weights="$REPO/engines/naf-shake/model.safetensors" --set mix=motion=0.4,kernel=0.4,pravg=0.2 \
  --steps "$S" --set lr_horizon="$S" --set sharp_frac=0.2 --set warmup=0 --lr 3e-4 --threads "${THREADS:-2}" \
  --set loss=psnr --set w_fft=0 --set cache=true --set seed=74 --set val_every=1000 --set val_batches=25 \
  --set ckpt_every=250 -q "${RESUME[@]}"
