#!/usr/bin/env bash
# Regenerate every pair set the released engines were trained and measured on (resumable: re-run
# after a kill and each make-pairs continues where it stopped). Run state lives outside the repo.
#   SHARED: the folder holding data/train (default ../shared next to the repo)
#   CACHE:  where pairs go (default ~/.cache/streamdeblur)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SHARED="${SHARED:-$(cd "$HERE/../../../shared" && pwd)}"
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
TRAIN="$SHARED/data/train"
P="$CACHE/pairs"
mkdir -p "$P"
# Held out by source folder, never trained on: 10 clips.
VAL=("$TRAIN/SadTalker" "$TRAIN/TPSMM" "$TRAIN/X-Portrait" "$TRAIN/DaGAN" "$TRAIN/PGTFormer")
find "${VAL[@]}" -type f \( -name '*.mp4' -o -name '*.mov' \) | sort > "$P/val_list.txt"
COMMON=(--size 256 --stride 3 --workers 2 --val-list "$P/val_list.txt" -q)
# Evaluation pairs: 128 px, held-out clips only, one folder per blur type (eval reads them together).
V="$P/val128"
VCOMMON=(--size 128 --stride 3 --seed 7 --workers 2 -q)
streamdeblur make-pairs "${VAL[@]}" -o "$V/pravg7" --method pravg --length 7 "${VCOMMON[@]}"
streamdeblur make-pairs "${VAL[@]}" -o "$V/pravg11" --method pravg --length 11 "${VCOMMON[@]}"
streamdeblur make-pairs "${VAL[@]}" -o "$V/vla" --method vla "${VCOMMON[@]}"
streamdeblur make-pairs "${VAL[@]}" -o "$V/kernel" --method kernel "${VCOMMON[@]}"
# flow-interpolated exposures, speed 4-12 (the quality bar's range), 3-frame groups (temporal engines);
# made with --subframes 8,32 before the default became 2,16 (both keep sub-frame steps under 1 px)
streamdeblur make-pairs "${VAL[@]}" -o "$V/motion" --method motion --speed 4,12 --frames 3 --subframes 8,32 "${VCOMMON[@]}"
# mild, mostly clean exposures (speed 1-4, re-encoded in three of ten, noise up to 1 grey level): faces that are
# almost sharp as they come from a good camera, where an engine must not take anything away (the still bar);
# beside val128, not in it: eval groups pairs by method, and these would mix into the motion row
streamdeblur make-pairs "${VAL[@]}" -o "$P/mild128" --method motion --speed 1,4 --frames 3 --crf-share 0.3 --noise 1 "${VCOMMON[@]}"
# the motion exposures of val128/motion (speed 4-12) left clean: no re-encode, no noise. val128/motion's loss is
# mostly the codec's (its faces that barely moved still sit near 30 dB); this one measures deblurring alone
streamdeblur make-pairs "${VAL[@]}" -o "$P/clean128" --method motion --speed 4,12 --frames 3 --subframes 8,32 \
  --crf 0,0 --noise 0 "${VCOMMON[@]}"
# 5-frame groups of the same exposures (naf-t5f; engines taking fewer frames use the middle ones): its own folder,
# as the groups differ from val128/motion's draw
streamdeblur make-pairs "${VAL[@]}" -o "$P/val128-5/motion" --method motion --speed 4,12 --frames 5 --subframes 8,32 \
  "${VCOMMON[@]}"
# fast128: clean motion groups of the clips played 24-48x faster, their faces 2-21 crop px apart between exposures
# (median 7), beyond the training groups' (median 2): how a temporal engine copes with fast motion (naf-t3m NOTES)
streamdeblur make-pairs "${VAL[@]}" -o "$P/fast128" --method motion --speed 24,48 --frames 3 --crf 0,0 --noise 0 \
  --size 128 --stride 3 --seed 7 --workers 2 -q
# clean128-5 / mild128-5: clean128 and mild128 as 5-frame groups
streamdeblur make-pairs "${VAL[@]}" -o "$P/clean128-5" --method motion --speed 4,12 --frames 5 --subframes 8,32 \
  --crf 0,0 --noise 0 "${VCOMMON[@]}"
streamdeblur make-pairs "${VAL[@]}" -o "$P/mild128-5" --method motion --speed 1,4 --frames 5 --crf-share 0.3 --noise 1 \
  "${VCOMMON[@]}"
# Training sets. motion-128: the engines' main data (speed 1-12, shutter 0.25-1, x264 CRF 18-32, noise,
# a shake kernel on top of one in five), 3-frame groups whose centre frame also trains single-frame engines.
streamdeblur make-pairs "$TRAIN" -o "$P/motion-128" --method motion --frames 3 --shake 0.2 --size 128 --stride 3 \
  --val-list "$P/val_list.txt" --workers 2 -q --preview
# motion-128c: the same exposures with seven in ten left as clean as the source (no re-encode, noise up to 1):
# engines trained on motion-128 alone learnt to "clean" every input and took detail off clean, mild faces
streamdeblur make-pairs "$TRAIN" -o "$P/motion-128c" --method motion --frames 3 --shake 0.2 --size 128 --stride 4 \
  --crf-share 0.3 --noise 1 --val-list "$P/val_list.txt" --workers 2 -q --preview
# motion-128f: motion-128c's recipe at 12-48x speed (faces several crop px apart between exposures, as in fast128
# but from the training clips), half the groups (stride 6): fast motion for naf-t3m-f (train.sh)
streamdeblur make-pairs "$TRAIN" -o "$P/motion-128f" --method motion --frames 3 --speed 12,48 --size 128 --stride 6 \
  --crf-share 0.3 --noise 1 --val-list "$P/val_list.txt" --workers 2 -q
# motion-128-5 / motion-128c-5: the two sets above as 5-frame groups (naf-t5f)
streamdeblur make-pairs "$TRAIN" -o "$P/motion-128-5" --method motion --frames 5 --shake 0.2 --size 128 --stride 3 \
  --val-list "$P/val_list.txt" --workers 2 -q
streamdeblur make-pairs "$TRAIN" -o "$P/motion-128c-5" --method motion --frames 5 --shake 0.2 --size 128 --stride 4 \
  --crf-share 0.3 --noise 1 --val-list "$P/val_list.txt" --workers 2 -q
streamdeblur make-pairs "$TRAIN" -o "$P/kernel-256" --method kernel "${COMMON[@]}" --preview
streamdeblur make-pairs "$TRAIN" -o "$P/pravg-256" --method pravg --length 7,9,11,15 "${COMMON[@]}"
streamdeblur make-pairs "$TRAIN" -o "$P/vla-256" --method vla "${COMMON[@]}" --preview
streamdeblur make-pairs "$TRAIN" -o "$P/motion-256" --method motion --shake 0.2 --size 256 --stride 6 \
  --val-list "$P/val_list.txt" --workers 2 -q --preview
# motion-256c: 256-px exposures, seven in ten left clean (naf-hd: an engine at the scale of large faces)
streamdeblur make-pairs "$TRAIN" -o "$P/motion-256c" --method motion --shake 0.2 --size 256 --stride 6 \
  --crf-share 0.3 --noise 1 --val-list "$P/val_list.txt" --workers 2 -q
# motion-256d: motion-256c's recipe with three times the frames (stride 2) and other draws (seed 11): naf-hd's
# continuations from v1 lost validation gain on motion-256c's 3.2k pairs (engines/naf-hd/NOTES.md, session 26)
streamdeblur make-pairs "$TRAIN" -o "$P/motion-256d" --method motion --shake 0.2 --size 256 --stride 2 --seed 11 \
  --crf-share 0.3 --noise 1 --val-list "$P/val_list.txt" --workers 2 -q
# motion-256c-3: motion-256c's recipe as 3-frame groups (naf-t3m-hd: the temporal engine trained at the scale of
# large faces, train.sh naf-t3m-hd)
streamdeblur make-pairs "$TRAIN" -o "$P/motion-256c-3" --method motion --frames 3 --shake 0.2 --size 256 --stride 6 \
  --crf-share 0.3 --noise 1 --val-list "$P/val_list.txt" --workers 2 -q
# motion-256c-5t: motion-256c-3's recipe as 5-frame groups with each exposure's sharp frame kept (--targets): a
# 3-frame engine trained with the flicker loss restores the group's centre and the next exposure, which needs two
# frames more (train.sh naf-t3m-hd-fl; engines/naf-t3m-hd/NOTES.md, session 44)
streamdeblur make-pairs "$TRAIN" -o "$P/motion-256c-5t" --method motion --frames 5 --targets --shake 0.2 --size 256 \
  --stride 6 --crf-share 0.3 --noise 1 --val-list "$P/val_list.txt" --workers 2 -q
echo "pairs done"
