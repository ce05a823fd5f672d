#!/usr/bin/env bash
# Session 54: another TLC window for the engines adapt_tlc.sh adapted (naf-hd, ~/work/s54/eng/CLIP): each folder copied
# with "tlc": BASE, scored through the same `eval --video` on the same first half (seed 0: the same faces as
# adapt_tlc.sh's reports), in $W/rep-BASE/CLIP; compare per face with adapt_base_summary.py.
# Usage: adapt_tlc_base.sh BASE
set -euo pipefail
BASE="$1"; H="$HOME/work/s54"; W="${W:-$H}"
for ENG in "$W"/eng/*; do
  [[ "$ENG" == *-global || "$ENG" == *-tlc || "$ENG" == *-tlc[0-9]* ]] && continue
  STEM="$(basename "$ENG")"
  rm -rf "$ENG-tlc$BASE"; cp -r "$ENG" "$ENG-tlc$BASE"
  python -c "
import json, sys
p, base = sys.argv[1:]
c = json.load(open(p)); c['tlc'] = int(base); json.dump(c, open(p, 'w'), indent=1)" "$ENG-tlc$BASE/card.json" "$BASE"
  [[ -f "$W/rep-$BASE/$STEM/report.json" ]] || streamdeblur eval --video "$H/one-$STEM/$STEM.mp4" \
    --blur motion:0.1,motion:2,motion:4,motion:8 --exposure shutter --max-frames 100 \
    --model "tlc$BASE=$ENG-tlc$BASE" --no-baselines -o "$W/rep-$BASE/$STEM" -q
done
