#!/usr/bin/env bash
# Session 49 (issue 11, data): identity-free edges beside the faces. leaves-256 is leaves.py's motion-blurred
# dead-leaves pairs (colours from the training clips' faces); the arm trains naf-hd v1 on motion-256c-5t with
# LEAVES_SHARE (default 0.3) of the draws from leaves-256, with session 48's seed, steps and schedule, so it
# compares with session48/wide_margin.sh's control and wide arms (runs wm-control, wm-wide) on the same 277
# held-out faces of motion-256c-5t. WIDE=1 adds session 48's wide-256 to the face draws (both are method
# "motion", drawn uniformly within the 1 - LEAVES_SHARE of the face draws).
# Usage: leaves.sh pairs | train        (STEPS, default 2000; THREADS, default 2; COUNT, default 3000; the run
#   is lv-SHARE, with -wide when WIDE=1 and -STEPS when STEPS is not 2000)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
P="$CACHE/pairs"; STEPS="${STEPS:-2000}"; SHARE="${LEAVES_SHARE:-0.3}"
case "${1:-}" in
  pairs)
    python "$HERE/leaves.py" "$P/leaves-256" --count "${COUNT:-3000}" --workers "${THREADS:-2}" --palette "$P/motion-256c-5t"
    ;;
  train)
    NAME="lv-$SHARE"; DATA="$P/motion-256c-5t,$P/leaves-256"
    [[ "${WIDE:-0}" == 1 ]] && NAME="$NAME-wide" && DATA="$DATA,$P/wide-256"
    [[ "$STEPS" == 2000 ]] || NAME="$NAME-$STEPS"
    RESUME=(); [[ -f "$CACHE/runs/$NAME/last.pt" ]] && RESUME=(--resume)
    streamdeblur train --data "$DATA" --name "$NAME" --model naf-hd --crop-size 256 \
      --set patch=96 --set cache=true --set mix="motion=$(awk "BEGIN{print 1-$SHARE}"),leaves=$SHARE" \
      --set val_data="$P/motion-256c-5t" --set init_weights="$REPO/engines/naf-hd/model.safetensors" \
      --steps "$STEPS" --set lr_horizon="$STEPS" --set sharp_frac=0.2 --set warmup=0 --lr 2.5e-4 \
      --threads "${THREADS:-2}" --set loss=psnr --set w_fft=0 --set seed=48 --set val_every=500 \
      --set val_batches=18 --set seen_batches=8 --set ckpt_every=250 -q "${RESUME[@]}"
    ;;
  *) echo "usage: leaves.sh pairs | train"; exit 2 ;;
esac
