#!/usr/bin/env bash
# Session 50 (issue 11, item 5): Chrysos et al.'s two-step model on motion pairs, aiming at a working row (it did not
# deblur: both steps ended as the identity; engines/hg-cgan-half/NOTES.md, session 50).
# hg-cgan-res (session 28) starts as the identity but learnt to sharpen every face alike, as its frozen HG
# did: that HG (hg-cgan-half's) was trained on shake kernels only and takes 2.6 dB off motion-256c-5t's held-out
# faces. Step 1 here fine-tunes it on the motion pairs with 20 % sharp inputs (the paper's L1, Adam 2e-4,
# cosine); step 2 trains the residual G_bl on [blurry, HG(blurry)] with the paper's pixel terms (100 L1 +
# 100 gradient L1; no adversarial, projection or G_s terms), the new HG frozen, whole 256-px crops.
# Usage: hgcgan.sh hg | cgan     (HG_STEPS default 1500; G_STEPS default 3000, G_LR default 2.5e-4, G_NAME default
#   hgm-cgan-res; THREADS default 2). Runs: $CACHE/runs/HG_NAME (default hgm-half) and G_NAME; rerunning resumes a
#   run whose last.pt is there.
# LOSS=psnr (session 51): both steps train with the PSNR loss of the restore stage (naf-hd's) in place of the
#   paper's L1 terms (the HG's L1; G_bl's 100 L1 + 100 gradient L1), with HG_NAME=hgm-half-psnr and
#   G_NAME=hgm-cgan-psnr (engines/hg-cgan-half/NOTES.md, session 51).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
P="$CACHE/pairs/motion-256c-5t"; RUNS="$CACHE/runs"; HG="${HG_NAME:-hgm-half}"
case "${LOSS:-l1}" in
  l1) HG_LOSS=(); G_LOSS=(--set w_l1=100 --set w_grad=100) ;;
  psnr) HG_LOSS=(--set loss=psnr); G_LOSS=(--set loss=psnr --set w_l1=1 --set w_grad=0) ;;
  *) echo "LOSS is l1 or psnr" >&2; exit 2 ;;
esac
resume() { [[ -f "$RUNS/$1/last.pt" ]] && echo --resume || true; }
COMMON=(--data "$P" --set val_data="$P" --crop-size 256 --set cache=true --set sharp_frac=0.2 --set seed=50
        --set lr_schedule=cosine --set warmup=0 --threads "${THREADS:-2}" --set ckpt_every=100 -q)
case "${1:-}" in
  hg)
    S="${HG_STEPS:-1500}"
    streamdeblur train --name "$HG" --model hg-half --stage hg --set patch=128 --batch-size 8 \
      --set init_weights="$REPO/engines/hg-cgan-half/model.safetensors" --lr 2e-4 --steps "$S" \
      --set lr_horizon="$S" --set val_every=500 --set val_batches=18 "${HG_LOSS[@]}" "${COMMON[@]}" $(resume "$HG")
    ;;
  cgan)
    S="${G_STEPS:-3000}"; G="${G_NAME:-hgm-cgan-res}"
    streamdeblur train --name "$G" --model hg-cgan-res --stage cgan --batch-size 4 \
      --hg-weights "$RUNS/$HG/last.pt" --set w_recon=0 --set w_adv=0 --set w_proj=0 "${G_LOSS[@]}" \
      --set optimizer=adamw --set betas=0.9,0.99 --lr "${G_LR:-2.5e-4}" --steps "$S" --set lr_horizon="$S" \
      --set val_every=500 --set val_batches=36 "${COMMON[@]}" $(resume "$G")
    ;;
  *) echo "usage: hgcgan.sh hg | cgan" >&2; exit 2 ;;
esac
