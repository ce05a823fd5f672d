#!/usr/bin/env bash
# Regenerate every pair set the released engines were trained and measured on (resumable: re-run
# after a kill and each make-pairs continues where it stopped). Run state lives outside the repo.
#   SHARED: the folder holding data/train (default ../shared next to the repo)
#   CACHE:  where pairs go (default ~/.cache/streamdeblur)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SHARED="${SHARED:-$(cd "$HERE/../../../shared" && pwd)}"
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
TRAIN="$SHARED/data/train"
P="$CACHE/pairs"
mkdir -p "$P"
# Held out by source folder, never trained on: 10 clips.
VAL=("$TRAIN/SadTalker" "$TRAIN/TPSMM" "$TRAIN/X-Portrait" "$TRAIN/DaGAN" "$TRAIN/PGTFormer")
find "${VAL[@]}" -type f \( -name '*.mp4' -o -name '*.mov' \) | sort > "$P/val_list.txt"
COMMON=(--size 256 --stride 3 --workers 2 --val-list "$P/val_list.txt" -q)
streamdeblur make-pairs "$TRAIN" -o "$P/pravg-256" --method pravg --length 7,9,11,15 "${COMMON[@]}"
# Evaluation pairs: 128 px, held-out clips only, one folder per blur type (eval reads them together).
V="$P/val128"
VCOMMON=(--size 128 --stride 3 --seed 7 --workers 2 -q)
streamdeblur make-pairs "${VAL[@]}" -o "$V/pravg7" --method pravg --length 7 "${VCOMMON[@]}"
streamdeblur make-pairs "${VAL[@]}" -o "$V/pravg11" --method pravg --length 11 "${VCOMMON[@]}"
streamdeblur make-pairs "${VAL[@]}" -o "$V/vla" --method vla "${VCOMMON[@]}"
streamdeblur make-pairs "${VAL[@]}" -o "$V/kernel" --method kernel "${VCOMMON[@]}"
streamdeblur make-pairs "$TRAIN" -o "$P/kernel-256" --method kernel "${COMMON[@]}" --preview
streamdeblur make-pairs "$TRAIN" -o "$P/vla-256" --method vla "${COMMON[@]}" --preview
echo "pairs done"
