#!/usr/bin/env bash
# Session 53 (issue 11, generalisation): channel dropout before the last conv while training (Kong et al., "Reflash
# Dropout in Image Super-Resolution", CVPR 2022: restoration nets that overfit their training content generalise
# better with it). naf-hd learns its 73 training clips' people by heart (engines/naf-hd/NOTES.md, sessions 26-50).
# One arm from naf-hd v1 with session 48's control recipe (seed 48, 2k steps, the PSNR loss), so it compares with
# wm-control on the same 277 held-out faces; only `--set dropout=P` differs.
# Usage: dropout.sh P        (STEPS, default 2000; THREADS, default 2; the run is do-P, or do-P-STEPS)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
P="$CACHE/pairs"; STEPS="${STEPS:-2000}"; DROP="${1:?usage: dropout.sh P}"
NAME="do-$DROP"; [[ "$STEPS" == 2000 ]] || NAME="$NAME-$STEPS"
RESUME=(); [[ -f "$CACHE/runs/$NAME/last.pt" ]] && RESUME=(--resume)
streamdeblur train --data "$P/motion-256c-5t" --name "$NAME" --model naf-hd --crop-size 256 --set patch=96 \
  --set cache=true --set dropout="$DROP" --set val_data="$P/motion-256c-5t" \
  --set init_weights="$REPO/engines/naf-hd/model.safetensors" --steps "$STEPS" --set lr_horizon="$STEPS" \
  --set sharp_frac=0.2 --set warmup=0 --lr 2.5e-4 --threads "${THREADS:-2}" --set loss=psnr --set w_fft=0 \
  --set seed=48 --set val_every=500 --set val_batches=18 --set seen_batches=8 --set ckpt_every=250 -q "${RESUME[@]}"
