#!/usr/bin/env bash
# Session 73: a naf candidate (an engine folder) against the released naf, on the same faces.
#   pairs: val128 (200 faces per blur type, the card's gate and settle), bare PSNR/SSIM (no embedder/landmarker)
#   video: the ten held-out clips through `process` (--exposure shutter, motion:4 and motion:8, 100 frames each)
# Usage: check_naf.sh pairs|video CANDIDATE_DIR OUT_DIR
set -euo pipefail
SHARED="${SHARED:-$(cd "$(dirname "$0")/../../../../shared" && pwd)}"
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
T="$SHARED/data/train"; CAND="$2"; OUT="$3"; mkdir -p "$OUT"
case "$1" in
  pairs)
    streamdeblur eval --pairs "$CACHE/pairs/val128" -o "$OUT/val128" --model naf --model "cand=$CAND" --limit 200 \
      --no-baselines --embedder none --landmarker none -q ;;
  video)
    for clip in SadTalker/examples/ref_video/WDA_KatieHill_000.mp4 SadTalker/examples/ref_video/WDA_AlexandriaOcasioCortez_000.mp4 \
        SadTalker/test/examples/source_image/RD_Radio2_000.mp4 SadTalker/test/examples/source_image/RD_Radio34_000.mp4 \
        SadTalker/test/examples/source_image/WDA_BobMenendez_000.mp4 SadTalker/test/examples/source_image/WDA_EdMarkey0_000.mp4 \
        DaGAN/assets/driving.mp4 TPSMM/assets/driving.mp4 PGTFormer/assets/inputdemovideo.mp4 X-Portrait/assets/driving_video.mp4; do
      name="$(echo "$clip" | tr / _)"; name="${name%.mp4}"
      [[ -f "$OUT/video/$name/report.json" ]] || streamdeblur eval --video "$T/$clip" --blur motion:4,motion:8 \
        --exposure shutter --max-frames 100 --model naf --model "cand=$CAND" --no-baselines --embedder none \
        --landmarker none -o "$OUT/video/$name" -q
    done ;;
  *) echo "usage: check_naf.sh pairs|video CANDIDATE_DIR OUT_DIR"; exit 2 ;;
esac
