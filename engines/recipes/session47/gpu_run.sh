#!/usr/bin/env bash
# The lent GPU's one run (session 47): the papers' two models trained side by side for BUDGET seconds of wall clock
# on the motion pairs packed by pack_gpu_data.py (carried as .gpu/), everything brought back under $OUT.
#   first:             engines/recipes/session47/gpu_prepare.sh  (data into .gpu/, the engines' weights aside)
#   run (device tool): bash engines/recipes/session47/gpu_run.sh 470     carry: [".gpu"], timeout_s 560
#   dry run here:      DEVICE=cpu OUT=/tmp/gpu-out bash engines/recipes/session47/gpu_run.sh 120
# Runs (each gpu_papers.py train: a step-time probe, then the steps that fit, the cosine ending there):
#   multiscale-gpu     Shen et al.'s network at the paper's width (64 channels, 6 ResBlocks; 1.8M), 128 px, its
#                      multi-scale L1 on image and gradient structure (no adversarial term: it hurt multiscale-fast)
#   hg-cgan-res-gpu    Chrysos et al.'s HG (frozen: the one gpu_prepare.sh packs, session 50's motion-trained HG
#                      when its run is on the preparing machine) then the residual G_bl at half width, 256 px,
#                      the paper's pixel terms (100 L1 + 100 gradient L1), as train.sh hg-cgan-res
#   hg-cgan-half-gpu   the paper's model as published at half width (G_bl rebuilds every pixel), the paper's whole
#                      loss and optimiser (adversarial + 100 L1 + 100 gradient + 8 projection + 100 G_s), fresh G and D
# Session 47's run of it outran the device call (every weight lost): the probe's step time was measured before all
# three runs trained side by side. Now each run is stopped with SIGTERM at the deadline (the trainer checkpoints and
# returns), a run that still hangs is killed 30 s later and exported from its last checkpoint, and the call's
# timeout_s should leave a minute beyond BUDGET for the transfers.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUDGET=${1:-470}
DEADLINE=$(( $(date +%s) + BUDGET ))
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" STREAMDEBLUR_CACHE=/tmp/sdcache
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
rm -rf /tmp/runs  # a machine still warm from an earlier call keeps its runs, and a run never resumes by accident
PY=python3; [[ -x .venv/bin/python ]] && PY=.venv/bin/python
DEVICE=${DEVICE:-cuda}
nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
$PY "$HERE/gpu_papers.py" unpack .gpu/data /tmp/gpu-pairs 256,128 || exit 1
C=(--set data=/tmp/gpu-pairs --set cache=true --set sharp_frac=0.2 --set motion_power=0.5 --set workers=4
   --set val_batches=4 --set seen_batches=0 --set plot_every=100000000 --set log_every=10 --set device="$DEVICE")
STOP="timeout -s TERM -k 30 $(( DEADLINE - $(date +%s) ))"
NEW=(--set optimizer=adamw --set betas=0.9,0.99 --set lr_schedule=cosine --set warmup=100 --set lr=5e-4)
HG=(--set crop_size=256 --set batch_size="${HG_BATCH:-16}" --set hg_weights=.gpu/hg-half.safetensors)
$STOP $PY "$HERE/gpu_papers.py" train multiscale-gpu multiscale $DEADLINE "$OUT" "${C[@]}" "${NEW[@]}" --set d_lr=5e-4 \
  --set crop_size=128 --set batch_size="${MS_BATCH:-32}" --set w_adv=0 > "$OUT/multiscale-gpu.log" 2>&1 &
$STOP $PY "$HERE/gpu_papers.py" train hg-cgan-res-gpu hg-cgan-res $DEADLINE "$OUT" "${C[@]}" "${NEW[@]}" "${HG[@]}" \
  --set w_recon=0 --set w_adv=0 --set w_proj=0 > "$OUT/hg-cgan-res-gpu.log" 2>&1 &
$STOP $PY "$HERE/gpu_papers.py" train hg-cgan-half-gpu hg-cgan-half $DEADLINE "$OUT" "${C[@]}" "${HG[@]}" \
  --set optimizer=adam --set betas=0.5,0.999 --set lr=2e-4 --set d_lr=2e-4 > "$OUT/hg-cgan-half-gpu.log" 2>&1 &
while sleep 30; do
  jobs -r | grep -q . || break
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
  for f in /tmp/runs/*/log.csv; do echo "$f: $(tail -n1 "$f" | cut -d, -f1-3)"; done
done
wait
for run in /tmp/runs/*; do  # a run killed before its own export
  name=$(basename "$run")
  ls "$OUT/$name"-ema-*.safetensors >/dev/null 2>&1 || $PY "$HERE/gpu_papers.py" export "$run" "$OUT" "$name"
done
mv "$OUT"/*.log "$OUT/meta/" 2>/dev/null
tar -C "$OUT" -cf "$OUT/meta.tar" meta && rm -rf "$OUT/meta"
ls -la "$OUT"
