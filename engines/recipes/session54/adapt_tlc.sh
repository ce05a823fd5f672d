#!/usr/bin/env bash
# Session 54: does an adapted engine take the test-time local converter (TLC) as the released naf-hd does?
# Each held-out clip is split in halves (losslessly: recipes/halves.py), the engine is adapted on the
# second (`streamdeblur adapt --model $MODEL`, today's recipe), and scored on the first with global pooling (a copy
# whose card has no "tlc") and with TLC (a copy with "tlc": 192, naf-hd's), through `eval --video`: motion:0.1
# (sharp), motion:2, 4 and 8.
# Usage: [MODEL=naf-t3m-hd] adapt_tlc.sh CLIP...   (halves in ~/work/s54; engines and reports in $W, default
# ~/work/s54 for naf-hd, ~/work/s54-MODEL otherwise); then adapt_summary.py $W/rep/*
set -euo pipefail
MODEL="${MODEL:-naf-hd}"; H="$HOME/work/s54"
if [[ "$MODEL" == naf-hd ]]; then W="${W:-$H}"; else W="${W:-$H-$MODEL}"; fi
mkdir -p "$H/first" "$H/second" "$W/eng" "$W/rep"
for C in "$@"; do
  CLIP="$(realpath "$C")"; NAME="$(basename "$C")"; STEM="${NAME%.*}"
  python "$(dirname "$0")/../halves.py" "$CLIP" "$H" "$NAME"
  ENG="$W/eng/$STEM"
  [[ -d "$ENG" ]] || streamdeblur adapt "$H/second/$NAME" -o "$ENG" --model "$MODEL" -q
  for ARM in global tlc; do  # the adapted folder copied twice, its card's tlc taken out / set to 192
    rm -rf "$ENG-$ARM"; cp -r "$ENG" "$ENG-$ARM"
    python -c "
import json, sys
p, arm = sys.argv[1:]
c = json.load(open(p))
c.pop('tlc', None)
c.update({'tlc': 192} if arm == 'tlc' else {})
json.dump(c, open(p, 'w'), indent=1)" "$ENG-$ARM/card.json" "$ARM"
  done
  mkdir -p "$H/one-$STEM"; ln -sf "$H/first/$NAME" "$H/one-$STEM/$NAME"
  [[ -f "$W/rep/$STEM/report.json" ]] || streamdeblur eval --video "$H/one-$STEM/$NAME" \
    --blur motion:0.1,motion:2,motion:4,motion:8 --exposure shutter --max-frames 100 \
    --model "global=$ENG-global" --model "tlc=$ENG-tlc" --no-baselines -o "$W/rep/$STEM" -q
  echo "== $STEM"; grep "^## Blur\|^| blurred\|^| global\|^| tlc" "$W/rep/$STEM/report.md" | head -30
done
