#!/usr/bin/env bash
# Session 48 (issue 11, data): does content from outside the face, cut from the same training clips, lift the
# held-out gain? naf-hd's held-out gain is capped by its 73 training clips (engines/naf-hd/NOTES.md: more
# exposures of the same faces and stronger augmentation raised the seen gain, not the held-out one). wide-256 is
# motion-256c's recipe with a margin of 1.0 instead of 0.4 (crops 3x the face box: hair, shoulders, hands,
# background moving with the real flow), single exposures, stride 8. Two arms from naf-hd v1 on the same seed,
# steps and schedule: control on motion-256c-5t alone, wide on motion-256c-5t + wide-256 (drawn uniformly from the
# union); both validated on all 277 faces of motion-256c-5t's held-out clips, with the seen gain logged.
# Usage: wide_margin.sh pairs | control | wide        (STEPS, default 2000; THREADS, default 2; the run is
#   wm-ARM, or wm-ARM-STEPS when STEPS is not 2000)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
SHARED="${SHARED:-$(cd "$REPO/../shared" && pwd)}"
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
P="$CACHE/pairs"; STEPS="${STEPS:-2000}"
case "${1:-}" in
  pairs)
    # the training clips only (every file not in pairs.sh's val_list.txt)
    find "$SHARED/data/train" -type f | sort | grep -v -x -F -f "$P/val_list.txt" > "$P/wide-256.clips"
    mapfile -t CLIPS < "$P/wide-256.clips"
    streamdeblur make-pairs "${CLIPS[@]}" -o "$P/wide-256" --method motion --shake 0.2 --size 256 --stride 8 \
      --margin 1.0 --crf-share 0.3 --noise 1 --workers 2 -q
    ;;
  control | wide)
    DATA="$P/motion-256c-5t"; [[ "$1" == wide ]] && DATA="$DATA,$P/wide-256"
    NAME="wm-$1"; [[ "$STEPS" == 2000 ]] || NAME="$NAME-$STEPS"
    RESUME=(); [[ -f "$CACHE/runs/$NAME/last.pt" ]] && RESUME=(--resume)
    streamdeblur train --data "$DATA" --name "$NAME" --model naf-hd --crop-size 256 --set patch=96 --set cache=true \
      --set val_data="$P/motion-256c-5t" --set init_weights="$REPO/engines/naf-hd/model.safetensors" \
      --steps "$STEPS" --set lr_horizon="$STEPS" --set sharp_frac=0.2 --set warmup=0 --lr 2.5e-4 \
      --threads "${THREADS:-2}" --set loss=psnr --set w_fft=0 --set seed=48 --set val_every=500 \
      --set val_batches=18 --set seen_batches=8 --set ckpt_every=250 -q "${RESUME[@]}"
    ;;
  *) echo "usage: wide_margin.sh pairs | control | wide"; exit 2 ;;
esac
