#!/usr/bin/env bash
# Session 58: reblur.py at motion:2 (100 steps, Adam 3e-5) on every held-out clip of ~/work/s54/one-* that has no
# report yet, each then scored by eval --video at motion:2 (reports in ~/work/s58/rep-m2; m2_summary.py compares).
HERE="$(cd "$(dirname "$0")" && pwd)"
cd /tmp
for ONE in ~/work/s54/one-*; do
  K="${ONE#$HOME/work/s54/one-}"
  [[ -f ~/work/s58/rep-m2/$K/report.json ]] && continue
  KEY=$(python -c "
import sys
from pathlib import Path
from streamdeblur.train.adapt import AdaptOptions, work_dir
print(work_dir([Path(sys.argv[1])], AdaptOptions()).name)" ~/work/s54/second/$K.mp4)
  C=$(ls $ONE/*.mp4)
  [[ -d ~/work/s58/eng-screen-$K-2-w1 ]] ||
    python "$HERE/reblur.py" "$C" ~/work/s55/eng-1000/$K ~/work/s58/eng-screen-$K-2-w1 \
      --pairs ~/.cache/streamdeblur/adapt/$KEY/pairs --speed 2 --steps 100 --lr 3e-5 2>&1 | grep "crops\|rror"
  streamdeblur eval --video "$C" --blur motion:2 --exposure shutter --max-frames 100 \
    --model reblur=$HOME/work/s58/eng-screen-$K-2-w1 --no-baselines -o ~/work/s58/rep-m2/$K -q
  echo "== $K"; grep "^| \(reblur\|blurred\)" ~/work/s58/rep-m2/$K/report.md | head -2
done
