#!/usr/bin/env bash
# Session 71 (issue 11, item 5): session 50's residual G_bl (hgcgan.sh cgan: the paper's pixel terms, 100 L1 + 100
# gradient L1, on [blurry, HG(blurry)] with session 50's motion-trained HG frozen) with one change: training pairs
# drawn in proportion to their motion (--set motion_power=1; session 50 drew them uniformly, and most of
# motion-256c-5t's faces barely move, so returning the input met most of the loss and G_bl ended as the identity).
# Needs hgcgan.sh hg's run (runs/hgm-half). Rerunning resumes. G_STEPS default 7000.
set -euo pipefail
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
P="$CACHE/pairs/motion-256c-5t"; RUNS="$CACHE/runs"; G=hgm-cgan-res-m1; S="${G_STEPS:-7000}"
resume() { [[ -f "$RUNS/$1/last.pt" ]] && echo --resume || true; }
streamdeblur train --name "$G" --model hg-cgan-res --stage cgan --batch-size 4 \
  --hg-weights "$RUNS/hgm-half/last.pt" --set w_recon=0 --set w_adv=0 --set w_proj=0 --set w_l1=100 --set w_grad=100 \
  --set optimizer=adamw --set betas=0.9,0.99 --lr 2.5e-4 --steps "$S" --set lr_horizon="$S" \
  --set val_every=500 --set val_batches=36 --set motion_power=1 \
  --data "$P" --set val_data="$P" --crop-size 256 --set cache=true --set sharp_frac=0.2 --set seed=50 \
  --set lr_schedule=cosine --set warmup=0 --threads "${THREADS:-2}" --set ckpt_every=100 -q $(resume "$G")
