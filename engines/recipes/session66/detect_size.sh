#!/usr/bin/env bash
# Session 66: does `process` lose anything when its detector sees smaller frames? Session 63's adapted naf engines
# (4,000 steps, ~/work/s63/eng-naf4000, one per held-out clip) scored on each clip's first half by the held-out
# protocol (as engines/recipes/session63/naf_steps.sh), with process's --detect-size at SIZE instead of its 480.
# eval --video has no --detect-size of its own, so this runs a copy of the package (this checkout's, at HEAD) whose
# ProcessOptions default is SIZE. Reports in $OUT/rep-detectSIZE/NAME; then e.g.
#   python engines/recipes/session55/paired.py ~/work/s63/rep-naf4000:s4000 ~/work/s66/rep-detect288:s4000
# The table of engines/naf/NOTES.md, session 66: detect_size.sh 288; detect_size.sh 640 (the eight clips whose frames
# are over 288 px; DaGAN's and PGTFormer's 256-px frames are detected whole at any of these sizes).
set -euo pipefail
SIZE="$1"; W="${W:-$HOME/work/s61}"; OUT="${OUT:-$HOME/work/s66}"; ENGINES="${ENGINES:-$HOME/work/s63/eng-naf4000}"
HERE="$(cd "$(dirname "$0")" && pwd)"; REPO="$(cd "$HERE/../../.." && pwd)"
export STREAMDEBLUR_CACHE="${STREAMDEBLUR_CACHE:-$HOME/work/s63/cache-staged}"
COPY="$(mktemp -d)"; trap 'rm -rf "$COPY"' EXIT
git -C "$REPO" archive HEAD streamdeblur engines/naf | tar -x -C "$COPY"
sed -i "s/detect_size: int = _opt(480,/detect_size: int = _opt($SIZE,/" "$COPY/streamdeblur/pipeline.py"
grep -q "_opt($SIZE," "$COPY/streamdeblur/pipeline.py"
RUN=(python -c "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]
sys.path.insert(0, '$COPY'); from streamdeblur.cli import main; sys.argv[0] = 'streamdeblur'; sys.exit(main())")
for NAME in SadTalker-WDA_KatieHill_000 SadTalker-WDA_EdMarkey0_000 SadTalker-RD_Radio2_000 SadTalker-RD_Radio34_000 \
            SadTalker-WDA_AlexandriaOcasioCortez_000 SadTalker-WDA_BobMenendez_000 TPSMM-driving X-Portrait-driving_video; do
  REP="$OUT/rep-detect$SIZE/$NAME"
  [[ -f "$REP/report.json" ]] || "${RUN[@]}" eval --video "$W/first/$NAME.mp4" \
    --blur motion:0.1,motion:2,motion:4,motion:8 --exposure shutter --max-frames 100 \
    --model "s4000=$ENGINES/$NAME" --no-baselines -o "$REP" -q
  echo "== $NAME $(date +%T)"
done
