#!/usr/bin/env bash
# Session 72 (issue 11, item 5): hg-cgan-res v0's second run. session71/hgcgan_motion.sh's G_bl (7,000 steps, its
# cosine ended) warm-started into a second cosine of 4,000 steps at 1.5e-4 with other draws (seed 51); everything
# else as that recipe. Needs its run (runs/hgm-cgan-res-m1) and hgcgan.sh hg's (runs/hgm-half). Rerunning resumes.
# Then: streamdeblur release RUNS/hgm-cgan-res-m2 hg-cgan-res --settle 0.3,0.6 (engines/hg-cgan-res/NOTES.md).
# A further cosine from it: G_NAME=hgm-cgan-res-m3 G_FROM=hgm-cgan-res-m2 G_SEED=52 G_LR=1e-4 hgcgan_warm.sh
# On a machine without those runs, from the released engine (its HG and G_bl; pairs.sh makes motion-256c-5t):
#   G_NAME=hgm-cgan-res-m3 G_INIT=engines/hg-cgan-res/model.safetensors G_HG=engines/hg-cgan-res/model.safetensors \
#   G_SEED=52 G_LR=1e-4 hgcgan_warm.sh
set -euo pipefail
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
P="$CACHE/pairs/motion-256c-5t"; RUNS="$CACHE/runs"; G="${G_NAME:-hgm-cgan-res-m2}"; S="${G_STEPS:-4000}"
resume() { [[ -f "$RUNS/$1/last.pt" ]] && echo --resume || true; }
streamdeblur train --name "$G" --model hg-cgan-res --stage cgan --batch-size 4 \
  --hg-weights "${G_HG:-$RUNS/hgm-half/last.pt}" --set init_weights="${G_INIT:-$RUNS/${G_FROM:-hgm-cgan-res-m1}/last.pt}" \
  --set w_recon=0 --set w_adv=0 --set w_proj=0 --set w_l1=100 --set w_grad=100 \
  --set optimizer=adamw --set betas=0.9,0.99 --lr "${G_LR:-1.5e-4}" --steps "$S" --set lr_horizon="$S" \
  --set val_every=500 --set val_batches=36 --set motion_power=1 \
  --data "$P" --set val_data="$P" --crop-size 256 --set cache=true --set sharp_frac=0.2 --set seed="${G_SEED:-51}" \
  --set lr_schedule=cosine --set warmup=0 --threads "${THREADS:-2}" --set ckpt_every=100 -q $(resume "$G")
