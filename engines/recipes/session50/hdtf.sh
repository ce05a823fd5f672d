#!/usr/bin/env bash
# Session 50 (issue 11, data): would footage like the HDTF speakers' lift the gain on other HDTF speakers?
# hdtf_split.py cuts motion-256c-5t's held-out HDTF pairs by speaker (three to train, three to score); the arm is
# session 48's control recipe (naf-hd v1, 2k steps, seed 48) with HDTF_SHARE (default 0.2) of its draws from the
# three training speakers, validated on the other three. Compare with v1 and the control on those three:
#   streamdeblur eval --pairs PAIRS/hdtf-split/val --model naf-hd --model naf-hd=CONTROL --model naf-hd=ARM ...
# An arm that has seen half the HDTF clips is an experiment, never a release.
# Usage: hdtf.sh pairs | train        (STEPS, default 2000; THREADS, default 2; the run is hs-SHARE)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
P="$CACHE/pairs"; STEPS="${STEPS:-2000}"; SHARE="${HDTF_SHARE:-0.2}"
case "${1:-}" in
  pairs) python "$HERE/hdtf_split.py" "$P/motion-256c-5t/val" "$P/hdtf-split" ;;
  train)
    NAME="hs-$SHARE"; [[ "$STEPS" == 2000 ]] || NAME="$NAME-$STEPS"
    RESUME=(); [[ -f "$CACHE/runs/$NAME/last.pt" ]] && RESUME=(--resume)
    streamdeblur train --data "$P/motion-256c-5t,$P/hdtf-split" --name "$NAME" --model naf-hd \
      --crop-size 256 --set patch=96 --set cache=true --set mix="motion=$(awk "BEGIN{print 1-$SHARE}"),hdtf=$SHARE" \
      --set val_data="$P/hdtf-split" --set init_weights="$REPO/engines/naf-hd/model.safetensors" \
      --steps "$STEPS" --set lr_horizon="$STEPS" --set sharp_frac=0.2 --set warmup=0 --lr 2.5e-4 \
      --threads "${THREADS:-2}" --set loss=psnr --set w_fft=0 --set seed=48 --set val_every=500 \
      --set val_batches=6 --set seen_batches=8 --set ckpt_every=250 -q "${RESUME[@]}"
    ;;
  *) echo "usage: hdtf.sh pairs | train" >&2; exit 2 ;;
esac
