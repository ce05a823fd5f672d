#!/usr/bin/env bash
# adapt from a "live" reference (KatieHill's second half piped as MPEG-TS to `adapt -`), scored as session 61's arms
# W: session 61's halves ($W/first, $W/second: engines/recipes/halves.py) and its const arm's reports ($W/rep-const,
# engines/recipes/session61/adapt_schedule.sh const constant); S: where this run writes
set -euo pipefail
cd "$(dirname "$0")/../../.." && source .venv/bin/activate; mkdir -p "${S:-$HOME/work/s62}"
W="${W:-$HOME/work/s61}"; S="${S:-$HOME/work/s62}"; NAME=SadTalker-WDA_KatieHill_000
python -c "from streamdeblur.io.clips import remux; remux('$W/second/$NAME.mp4', '$S/$NAME.ts', format='mpegts')"
export STREAMDEBLUR_CACHE=$S/cache-live
[[ -d $S/eng-live/$NAME ]] || { mkdir -p $S/eng-live; /usr/bin/time -v streamdeblur adapt - -o $S/eng-live/$NAME < $S/$NAME.ts; }
streamdeblur eval --video $W/first/$NAME.mp4 --blur motion:0.1,motion:2,motion:4,motion:8 --exposure shutter \
  --max-frames 100 --model live=$S/eng-live/$NAME --no-baselines -o $S/rep-live/$NAME -q
python engines/recipes/session55/paired.py $W/rep-const:const $S/rep-live:live
