#!/usr/bin/env bash
# Session 50 (issue 11, data): train at the source's pixel density. naf-hd is for faces larger than about 200 px,
# whose crops are shrunk from the frame (89 % of motion-256c-5t's held-out pairs have a crop scale under 1), but
# 46 % of its training pairs are enlarged from smaller faces (crop scale up to 1.8): their sharp targets are
# interpolated and hold no detail at the crop's scale. `--set native=true` cuts those pairs' patches from a
# region crop-scale times larger, resized down. One arm from naf-hd v1 with session 48's control recipe (seed
# 48, same batches: native draws nothing), so it compares with wm-control on the same 277 held-out faces.
# Usage: native.sh        (STEPS, default 2000; THREADS, default 2; the run is nat, or nat-STEPS)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
P="$CACHE/pairs"; STEPS="${STEPS:-2000}"
NAME=nat; [[ "$STEPS" == 2000 ]] || NAME="$NAME-$STEPS"
RESUME=(); [[ -f "$CACHE/runs/$NAME/last.pt" ]] && RESUME=(--resume)
streamdeblur train --data "$P/motion-256c-5t" --name "$NAME" --model naf-hd --crop-size 256 --set patch=96 \
  --set cache=true --set native=true --set val_data="$P/motion-256c-5t" \
  --set init_weights="$REPO/engines/naf-hd/model.safetensors" --steps "$STEPS" --set lr_horizon="$STEPS" \
  --set sharp_frac=0.2 --set warmup=0 --lr 2.5e-4 --threads "${THREADS:-2}" --set loss=psnr --set w_fft=0 \
  --set seed=48 --set val_every=500 --set val_batches=18 --set seen_batches=8 --set ckpt_every=250 -q "${RESUME[@]}"
