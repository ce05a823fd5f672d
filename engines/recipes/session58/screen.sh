#!/usr/bin/env bash
# Session 58: reblur.py on three held-out clips (session 54's halves in ~/work/s54, their engines adapted 1,000 steps
# in ~/work/s55/eng-1000) at motion:4 and motion:8, with (W=1) and without (W=0) the reblur term; prints the crops'
# PSNR to the truth (--diag). Engines go to ~/work/s58.   WS="0 1" bash screen.sh > screen.log
# SPEEDS="2" for motion:2 only. Then through `process`, e.g. for motion:2:
#   streamdeblur eval --video ~/work/s54/one-$K/$K.mp4 --blur motion:2 --exposure shutter --max-frames 100 \
#     --model reblur=~/work/s58/eng-screen-$K-2-w1 --model control=~/work/s58/eng-screen-$K-2-w0 --no-baselines \
#     -o ~/work/s58/rep-m2/$K -q
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd /tmp
for K in SadTalker-RD_Radio2_000 DaGAN-driving SadTalker-WDA_KatieHill_000; do
  KEY=$(python -c "
import sys
from pathlib import Path
from streamdeblur.train.adapt import AdaptOptions, work_dir
print(work_dir([Path(sys.argv[1])], AdaptOptions()).name)" ~/work/s54/second/$K.mp4)
  C=$(ls ~/work/s54/one-$K/*.mp4)
  for S in ${SPEEDS:-4 8}; do
    for W in ${WS:-1}; do
      echo "== $K speed $S w $W"
      python "$HERE/reblur.py" "$C" ~/work/s55/eng-1000/$K ~/work/s58/eng-screen-$K-$S-w$W \
        --pairs ~/.cache/streamdeblur/adapt/$KEY/pairs --speed $S --steps 100 --lr 3e-5 --w-reblur $W --diag 2>&1 |
        grep "diag\|crops\|rror"
    done
  done
done
