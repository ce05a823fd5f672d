#!/usr/bin/env bash
# Session 73 (issue 11, shake bar): naf v5 gains +2.42 dB on val128's shake kernels (bar +3). Its fine-tuning
# with 15 % shake kernels (naf-pm) reached +2.62 and the motion-only one +1.72: the kernel share, not the people,
# moved that row. This arm fine-tunes the released naf with half of its draws shake kernels (kernel-256, pairs.sh)
# and half motion exposures (motion-256c-5t), both resized to naf's 128 px, PSNR loss, cosine to zero, validated on
# kernel-256's held-out clips. Rerunning resumes. Then: streamdeblur release RUN naf-shake --settle 1.0,3.0 -o DIR;
# eval --pairs val128 --model naf-shake=DIR --model naf --limit 200.
#   STEPS (default 12000), THREADS (default 2), KSHARE (kernel share, default 0.5), NAME (default naf-shake),
#   MOTION (the motion pair sets, comma-separated; default motion-256c-5t, v0's), VAL (validation sets; default
#   kernel-256). v1 (session 74): MOTION=$P/motion-128,$P/motion-128c VAL=$P/kernel-256,$P/motion-128c, naf-pm's
#   128-px exposures, made at the crop size the engine runs at (pairs.sh)
#   For further arms: SETS (more pair sets after kernel-256), MIX (the mix; default motion=1-KSHARE,kernel=KSHARE),
#   INIT (starting weights; default the released naf), LR (default 5e-4), SEED (default 73), WARMUP (steps,
#   default 0), MODEL (default naf; naf-wide grows from naf's weights). session74/naf_shake_pa.sh and
#   session75/*.sh are such arms
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
P="$CACHE/pairs"; S="${STEPS:-12000}"; K="${KSHARE:-0.5}"; N="${NAME:-naf-shake}"
M="${MOTION:-$P/motion-256c-5t}"; V="${VAL:-$P/kernel-256}"
MIX="${MIX:-motion=$(python3 -c "print(round(1 - $K, 4))"),kernel=$K}"
RESUME=(); [[ -f "$CACHE/runs/$N/last.pt" ]] && RESUME=(--resume)
streamdeblur train --data "$M,$P/kernel-256${SETS:+,$SETS}" --name "$N" --model "${MODEL:-naf}" --crop-size 128 \
  --set val_data="$V" --set init_weights="${INIT:-$REPO/engines/naf/model.safetensors}" \
  --set mix="$MIX" --steps "$S" --set lr_horizon="$S" \
  --set sharp_frac=0.2 --set warmup="${WARMUP:-0}" --lr "${LR:-5e-4}" --threads "${THREADS:-2}" --set loss=psnr --set w_fft=0 \
  --set cache=true --set seed="${SEED:-73}" --set val_every=1000 --set val_batches=25 --set ckpt_every=250 -q \
  "${RESUME[@]}"
