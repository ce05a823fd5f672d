#!/usr/bin/env bash
# The training runs behind the released engines, in order (each resumable: the same command with
# --resume continues it exactly). Pairs come from pairs.sh; runs live in $CACHE/runs/<name>.
# Usage: train.sh mix | unet-a | unet-b | hg-half | hg-cgan-half | naf | naf-t3 | naf-c | naf-d | naf-e | naf-deep | naf-t3c | naf-t3d | naf-t3f | naf-t3m | naf-t3m-z | naf-t3m2 | naf-t3m-f | naf-t3m-c | naf-t3m-l | naf-t3f2 | naf-t5f | naf-t5f2 | naf-p | naf-t3p | naf-pm | naf-v5 | naf-hd | naf-hd2 | naf-hd3 | naf-hd4 | naf-hd5 | naf-hd6 | naf-t3m-hd | naf-t3m-hd-sm | naf-t3m-hd-fl | naf-t3m-hd-fl0 | naf-clips-25 | naf-clips-50 | naf-clips-100 | naf-scratch | naf-t3-scratch | naf-t3f-scratch | multiscale-fast | multiscale-fast-b | hg-cgan-fast | hg-cgan-res-a | hg-cgan-res
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${CACHE:-$HOME/.cache/streamdeblur}"
P="$CACHE/pairs"
RUNS="$CACHE/runs"
RESUME=()
[[ "${RESUME_RUN:-0}" == 1 ]] && RESUME=(--resume)

# A pair set made of other sets' shards (symlinks): train/ and val/ of each.
mix() {  # mix NAME SET...
  local out="$P/$1"; shift
  for split in train val; do
    mkdir -p "$out/$split"
    for set in "$@"; do
      for shard in "$P/$set/$split"/*.tar; do
        [[ -e "$shard" ]] && ln -sf "$shard" "$out/$split/$set-$(basename "$shard")"
      done
    done
  done
}

# naf fine-tuned from released weights with the clean motion exposures in the mix (runs naf-c, naf-d).
naf_clean() {  # naf_clean NAME STEPS THREADS INIT_WEIGHTS [LR [MIX [MODEL]]]
  streamdeblur train --data "$P/motion-128,$P/motion-128c,$P/kernel-256,$P/pravg-256" --name "$1" --model "${7:-naf}" \
    --set val_data="$P/motion-128,$P/kernel-256,$P/pravg-256" --set init_weights="$4" \
    --set mix="${6:-motion=0.75,kernel=0.1,pravg=0.15}" --set motion_power=0.5 --steps "$2" --set lr_horizon="$2" \
    --set sharp_frac=0.2 --set warmup=0 --lr "${5:-5e-4}" --threads "$3" \
    --set val_every=1000 --set val_batches=25 --set ckpt_every=250 -q "${RESUME[@]}"
}

# naf-t3 on the motion groups of both motion sets, 20 % sharp inputs, cosine to zero (runs naf-t3c, naf-t3d).
# SETS: the pair sets' suffix ("" the 3-frame groups, "-5" the 5-frame ones of pairs.sh).
# Arguments after SETS go to streamdeblur train as they are (e.g. --set loss=psnr). DATA, when set, replaces the
# training sets (validation stays on motion-128, so the curves compare).
naf_t3_clean() {  # naf_t3_clean NAME STEPS THREADS INIT_WEIGHTS LR [MODEL [SETS [TRAIN_ARGS...]]]
  streamdeblur train --data "${DATA:-$P/motion-128${7:-},$P/motion-128c${7:-}}" --name "$1" --model "${6:-naf-t3}" \
    --set val_data="$P/motion-128${7:-}" --set init_weights="$4" \
    --steps "$2" --set lr_horizon="$2" --set sharp_frac=0.2 \
    --set warmup=0 --lr "$5" --threads "$3" \
    --set val_every=1000 --set val_batches=25 --set ckpt_every=250 -q "${@:8}" "${RESUME[@]}"
}

# naf fine-tuned with the PSNR loss and 15 % shake kernels beside motion exposures (runs naf-pm, naf-hd).
naf_psnr() {  # naf_psnr NAME STEPS INIT_WEIGHTS MOTION_SET VAL_BATCHES [TRAIN_ARGS...]
  streamdeblur train --data "$4,$P/kernel-256" --name "$1" --model naf \
    --set val_data="${4%%,*}" --set init_weights="$3" \
    --set mix=motion=0.85,kernel=0.15 --steps "$2" --set lr_horizon="$2" \
    --set sharp_frac=0.2 --set warmup=0 --lr 5e-4 --threads "${THREADS:-2}" --set loss=psnr --set w_fft=0 \
    --set val_every=1000 --set val_batches="$5" --set ckpt_every=250 -q "${@:6}" "${RESUME[@]}"
}

case "${1:-}" in
  mix)
    mix avg-256 pravg-256 vla-256          # stage 2 of the paper: VLA + PrAvg
    mix all-256 pravg-256 vla-256 kernel-256
    ;;
  unet-a)
    # fast-unet, from scratch: L1 weighted towards changed pixels, pairs drawn in proportion to their motion.
    # Stopped at step 658: it over-sharpened faces that were already sharp (-6 dB on pairs with motion < 2).
    streamdeblur train --data "$P/all-256" --name unet-a --model fast-unet --stage single --crop-size 128 \
      --batch-size 8 --threads 1 --steps "${UNET_A_STEPS:-658}" --lr 3e-4 --set changed_weight=1 --set motion_power=1 \
      --set val_every=500 --set val_batches=20 --set ckpt_every=100 -q "${RESUME[@]}"
    ;;
  unet-b)
    # ...then plain L1 + gradient L1 with pairs drawn in proportion to sqrt(motion): still faces are left alone.
    streamdeblur train --data "$P/all-256" --name unet-b --model fast-unet --stage single --crop-size 128 \
      --batch-size 8 --threads 1 --steps "${UNET_B_STEPS:-30000}" --lr 3e-4 --set init_weights="$RUNS/unet-a/last.pt" \
      --set changed_weight=0 --set motion_power=0.5 --set val_every=500 --set val_batches=20 --set ckpt_every=100 \
      -q "${RESUME[@]}"
    ;;
  hg-half)
    # stage 1: HG on shake-kernel pairs, L1 only (the paper), 128-px random crops of the 256-px faces
    streamdeblur train --data "$P/kernel-256" --name hg-half --model hg-half --stage hg --crop-size 128 \
      --batch-size 8 --threads 1 --steps "${HG_STEPS:-2000}" --set crop_scale=0.4,0.6 \
      --set val_every=500 --set val_batches=10 --set ckpt_every=50 -q "${RESUME[@]}"
    ;;
  hg-cgan-half)
    # stage 2: the two-pathway cGAN on VLA + PrAvg at 256 px, the HG frozen
    streamdeblur train --data "$P/avg-256" --name hg-cgan-half --model hg-cgan-half --stage cgan --crop-size 256 \
      --batch-size 4 --threads 1 --steps "${CGAN_STEPS:-1000}" --hg-weights "$RUNS/hg-half/last.pt" \
      --set motion_power=0.5 --set val_every=250 --set val_batches=10 --set ckpt_every=25 -q "${RESUME[@]}"
    ;;
  naf)
    # engine v2: the NAFNet-style net with the restore stage's recipe (AdamW 1e-3, betas 0.9/0.9, cosine,
    # Charbonnier + 0.1 FFT L1, EMA), 64-px patches of 128-px faces from the decoded cache; mostly the
    # flow-interpolated motion exposures, with shake kernels and PrAvg (the 256-px sets are cached at 128 px).
    # Released v2: steps 0-12.4k ran with the cosine set for 80k steps (NAF_HORIZON=80000); the run was then
    # resumed with the horizon at 22k so that the rate anneals to zero within the session's CPU time, and with
    # 15 % of inputs replaced by their sharp target (sharp_frac, from 12.5k; NAF_SHARP=0 before): at 12k it
    # took 1.2 dB off mildly blurred clean faces through `process`, having only seen compressed, noisy inputs.
    # Released at step 18750 (the rate at 6 % of its peak; RESUME_RUN=1 finishes the anneal to 22k). To go on
    # from the release on a fresh machine, start a new run with --set init_weights=engines/naf/model.safetensors.
    streamdeblur train --data "$P/motion-128,$P/kernel-256,$P/pravg-256" --name naf --model naf \
      --set mix=motion=0.7,kernel=0.15,pravg=0.15 --set motion_power=0.5 --steps "${NAF_STEPS:-22000}" \
      --set lr_horizon="${NAF_HORIZON:-22000}" --set sharp_frac="${NAF_SHARP:-0.15}" \
      --threads "${THREADS:-2}" --set val_every=1000 --set val_batches=25 --set ckpt_every=250 -q "${RESUME[@]}"
    ;;
  naf-t3)
    # the temporal engine: naf with 3 consecutive exposures stacked (early fusion), on the motion groups,
    # warm-started from naf at step 6250 (its first conv's centre-frame slice; the other frames start at zero).
    # Released: steps 0-5.36k with the cosine set for 40k steps (NAF_T3_HORIZON=40000, NAF_T3_SHARP=0), then
    # resumed with the horizon at 9k and 15 % of inputs replaced by the sharp target (a still face), as naf.
    streamdeblur train --data "$P/motion-128" --name naf-t3 --model naf-t3 --set init_weights="$RUNS/naf/last.pt" \
      --steps "${NAF_T3_STEPS:-9000}" --set lr_horizon="${NAF_T3_HORIZON:-9000}" --set sharp_frac="${NAF_T3_SHARP:-0.15}" \
      --set warmup=0 --lr 5e-4 --threads "${THREADS:-2}" \
      --set val_every=1000 --set val_batches=25 --set ckpt_every=250 -q "${RESUME[@]}"
    ;;
  naf-c)
    # naf v3: naf v2 (the release) fine-tuned with clean inputs in the mix: motion-128c leaves seven in ten
    # exposures un-encoded, 20 % of inputs are their own sharp target; validated on the same split as naf.
    # engines/naf now holds v3 itself: to rebuild v3, start from v2 as it did:
    #   git show 8615a4c:engines/naf/model.safetensors > /tmp/naf-v2.safetensors; NAF_C_INIT=/tmp/naf-v2.safetensors
    naf_clean naf-c "${NAF_C_STEPS:-6000}" "${THREADS:-1}" "${NAF_C_INIT:-$REPO/engines/naf/model.safetensors}"
    ;;
  naf-d)
    # naf v4 (released): naf v3 trained on, the same data as naf-c: steps 0-6.2k with a 30k-step cosine on both threads
    # (NAF_D_STEPS=30000), then resumed on one thread with the horizon at 12k so that it anneals to zero
    # within the session (RESUME_RUN=1 NAF_D_STEPS=12000 THREADS=1). engines/naf now holds v4: to rebuild it,
    # start from v3: git show a10e76e:engines/naf/model.safetensors > /tmp/naf-v3.safetensors;
    # NAF_D_INIT=/tmp/naf-v3.safetensors
    naf_clean naf-d "${NAF_D_STEPS:-12000}" "${THREADS:-1}" "${NAF_D_INIT:-$REPO/engines/naf/model.safetensors}"
    ;;
  naf-e)
    # naf v4 trained on (session 19), with the shake kernels' share raised from 10 to 25 %: on the clean motion
    # exposures the net's correction is tiny (their loss is eyes and mouth caught mid-movement, which one frame
    # cannot undo) and on the compressed ones its gain is codec clean-up, while on shake kernels it deblurs
    # (+2.4 dB); lr 3e-4 cosine to zero, both threads. Steps 0-3k ran with the cosine set for 14k steps
    # (NAF_E_STEPS=14000), then it was resumed with it ending at 10k to anneal within the session.
    # Not released: val128 shake kernels +2.39 -> +2.70 dB, but PrAvg/VLA/motion and still faces lost 0.03-0.12
    # (engines/naf/NOTES.md).
    naf_clean naf-e "${NAF_E_STEPS:-10000}" "${THREADS:-2}" "${NAF_E_INIT:-$REPO/engines/naf/model.safetensors}" 3e-4 \
      motion=0.6,kernel=0.25,pravg=0.15
    ;;
  naf-deep)
    # naf grown (session 20): naf v4 with 6 more blocks at 16 px (12 of 18; +80 % parameters, about +10 % time),
    # the added blocks skip-initialised so that the grown net starts as v4 exactly (stages.grow_blocks); the data
    # and mix of naf-d, lr 5e-4 cosine to zero, both threads. naf-e showed the 0.9M-parameter net trading one blur
    # type for the others when its mix changed: the question is whether capacity lifts them all.
    # Not released: val gain 0.984 -> 1.024 dB, but on val128 only the shake kernels moved (+2.39 -> +2.48 dB);
    # PrAvg, VLA, motion within 0.01 dB of v4, clean128 and still faces 0.01-0.02 lower (engines/naf/NOTES.md).
    naf_clean naf-deep "${NAF_DEEP_STEPS:-9000}" "${THREADS:-2}" "${NAF_DEEP_INIT:-$REPO/engines/naf/model.safetensors}" \
      5e-4 motion=0.75,kernel=0.1,pravg=0.15 naf-deep
    ;;
  naf-t3c)
    # naf-t3 v1: the released naf-t3 fine-tuned the same way on the motion groups of both motion sets.
    naf_t3_clean naf-t3c "${NAF_T3C_STEPS:-6000}" "${THREADS:-1}" "$REPO/engines/naf-t3/model.safetensors" 3e-4
    ;;
  naf-t3d)
    # naf-t3 v2 (released): the temporal engine again, warm-started from the naf v4 release (the first conv's
    # centre-frame slice; the other frames start at zero), on the motion groups of both motion sets, 6k steps
    # with the cosine to zero (steps 0-1.25k ran with it set for 12k). engines/naf-t3 now holds v2 itself; v2
    # was warm-started from naf v4: git show 2b5a482:engines/naf/model.safetensors > /tmp/naf-v4.safetensors;
    # NAF_T3D_INIT=/tmp/naf-v4.safetensors
    naf_t3_clean naf-t3d "${NAF_T3D_STEPS:-6000}" "${THREADS:-2}" \
      "${NAF_T3D_INIT:-$REPO/engines/naf/model.safetensors}" 5e-4
    ;;
  naf-t3f)
    # naf-t3f: naf-t3d's recipe for the flow-aligned temporal engine (its groups' neighbours warped onto the centre
    # crop by DIS flow when the cache is built, as its engine warps them), warm-started from the naf v4 release.
    naf_t3_clean naf-t3f "${NAF_T3F_STEPS:-6000}" "${THREADS:-2}" \
      "${NAF_T3F_INIT:-$REPO/engines/naf/model.safetensors}" 5e-4 naf-t3f
    ;;
  naf-t3m)
    # naf-t3m: naf-t3f's recipe for the temporal engine whose neighbours are re-cut in the centre's alignment (the
    # motion left in, no flow; engines/naf/NOTES.md, session 32: +0.06-0.07 dB over blind at equal training where
    # flow-warped neighbours gave nothing). Released as naf-t3m v0 (engines/naf-t3m/NOTES.md).
    naf_t3_clean naf-t3m "${NAF_T3M_STEPS:-6000}" "${THREADS:-2}" \
      "${NAF_T3M_INIT:-$REPO/engines/naf/model.safetensors}" 5e-4 naf-t3m
    ;;
  naf-t3m-z)
    # naf-t3m with one change: the cache's zoom, a stack's patch cut from a region 0.5-1x its side and upscaled,
    # so the face's motion between frames and its blur grow together (up to 2x), as for a smaller face upscaled to
    # 128 px. naf-t3m v0 gains less than naf-t3f where neighbours lie tens of crop px apart (engines/naf-t3m/NOTES.md):
    # its training groups' median is 2 px, 99th percentile 12. Dropped at 1k steps: validation gain 0.418 against
    # naf-t3m's 0.568 (every patch resampled).
    naf_t3_clean naf-t3m-z "${NAF_T3M_STEPS:-6000}" "${THREADS:-2}" \
      "${NAF_T3M_INIT:-$REPO/engines/naf/model.safetensors}" 5e-4 naf-t3m "" --set zoom=0.5,1.0
    ;;
  naf-t3m2)
    # naf-t3m with naf-t5f2's one change: the loss is minus each sample's PSNR (no FFT term), which took less
    # detail off almost-sharp faces there, so the card's settle range can fade out less of the gain on blurry ones.
    # Level with naf-t3m v0 at its settle range, not released (engines/naf-t3m/NOTES.md).
    naf_t3_clean naf-t3m2 "${NAF_T3M_STEPS:-6000}" "${THREADS:-2}" \
      "${NAF_T3M_INIT:-$REPO/engines/naf/model.safetensors}" 5e-4 naf-t3m "" --set loss=psnr --set w_fft=0
    ;;
  naf-t3m-f)
    # naf-t3m v0 continued 4k steps (lr 3e-4, cosine to zero) with motion-128f, the training clips at 12-48x
    # speed (pairs.sh), beside motion-128 and motion-128c: every engine gained little on fast128 (+0.14 dB, faces
    # a median 7 crop px apart between exposures), whose blur lies beyond the 1-12x they were trained on.
    # Dropped (session 34): validation gain 0.535 / 0.526 / 0.527 / 0.530 at 1k-4k (v0 0.577), and no more gain
    # than v0 on fast motion of held-out clips (motion-128f/val +0.201 against +0.216; fast128 level).
    DATA="$P/motion-128,$P/motion-128c,$P/motion-128f" naf_t3_clean naf-t3m-f "${NAF_T3M_STEPS:-4000}" \
      "${THREADS:-2}" "${NAF_T3M_INIT:-$REPO/engines/naf-t3m/model.safetensors}" 3e-4 naf-t3m
    ;;
  naf-t3m-c)
    # naf-t3m-f's control: naf-t3m v0 continued the same 4k steps at the same lr on its own two sets, no fast
    # exposures, so that the two runs' difference is the data alone. 0.564 / 0.529 / 0.548 / 0.550 at 1k-4k.
    naf_t3_clean naf-t3m-c "${NAF_T3M_STEPS:-4000}" "${THREADS:-2}" \
      "${NAF_T3M_INIT:-$REPO/engines/naf-t3m/model.safetensors}" 3e-4 naf-t3m
    ;;
  naf-t3m-l)
    # naf-t3m-c at a third of its lr (1e-4): is the continuations' drop the lr restart or the training clips
    # learnt by heart (their own gain rose as held-out fell)? The latter: 0.563 / 0.555 / 0.557 / 0.558 at 1k-4k
    # against v0's 0.577 (engines/naf-t3m/NOTES.md, session 34).
    naf_t3_clean naf-t3m-l "${NAF_T3M_STEPS:-4000}" "${THREADS:-2}" \
      "${NAF_T3M_INIT:-$REPO/engines/naf-t3m/model.safetensors}" 1e-4 naf-t3m
    ;;
  naf-t3f2)
    # naf-t3f continued from its v0 release: 4k steps more, lr 3e-4 cosine to zero, one thread.
    naf_t3_clean naf-t3f2 "${NAF_T3F2_STEPS:-4000}" "${THREADS:-1}" \
      "${NAF_T3F2_INIT:-$REPO/engines/naf-t3f/model.safetensors}" 3e-4 naf-t3f
    ;;
  naf-t5f)
    # naf-t5f: two flow-aligned neighbours each side, on the 5-frame groups (pairs.sh), warm-started from the
    # naf-t3f release (its first conv's weights on the middle three frames, zeros on the outer two: it starts as
    # naf-t3f exactly); naf-t3f's recipe otherwise.
    naf_t3_clean naf-t5f "${NAF_T5F_STEPS:-8000}" "${THREADS:-2}" \
      "${NAF_T5F_INIT:-$REPO/engines/naf-t3f/model.safetensors}" 5e-4 naf-t5f -5
    ;;
  naf-t5f2)
    # naf-t5f's run with the PSNR loss (minus each sample's PSNR, NAFNet's) and no FFT term: naf-t5f gained more
    # than naf-t3f on blurry faces but took up to 2 dB off faces that were almost sharp (clean128-5, mild128-5),
    # which the Charbonnier loss weighs little; in decibels every face weighs the same.
    naf_t3_clean naf-t5f2 "${NAF_T5F_STEPS:-9000}" "${THREADS:-2}" \
      "${NAF_T5F_INIT:-$REPO/engines/naf-t3f/model.safetensors}" 5e-4 naf-t5f -5 --set loss=psnr --set w_fft=0
    ;;
  naf-p | naf-t3p)
    # the PSNR loss (naf-t5f2's) for the single-frame default and for naf-t3f, each warm-started from its own
    # release, on the same groups and val split (naf sees each group's centre exposure). To rebuild naf v5, start
    # from v4: git show 38c08c1:engines/naf/model.safetensors > /tmp/naf-v4.safetensors; NAF_P_INIT=that file.
    if [[ "$1" == naf-p ]]; then model=naf init="$REPO/engines/naf/model.safetensors"
    else model=naf-t3f init="$REPO/engines/naf-t3f/model.safetensors"; fi
    naf_t3_clean "$1" "${NAF_P_STEPS:-9000}" "${THREADS:-2}" "${NAF_P_INIT:-$init}" 5e-4 "$model" -5 \
      --set loss=psnr --set w_fft=0
    ;;
  naf-pm)
    # naf-p with shake kernels in the mix (15 %): naf-p gained on every blur type but shake kernels, which the
    # motion groups hold only one in five of (+1.72 dB against v4's +2.39 on val128/kernel). Validated on naf-p's
    # split. NAF_PM_INIT: the naf v4 release (engines/naf until v5; git show 38c08c1:engines/naf/model.safetensors)
    naf_psnr naf-pm "${NAF_PM_STEPS:-9000}" "${NAF_PM_INIT:-$REPO/engines/naf/model.safetensors}" \
      "$P/motion-128-5,$P/motion-128c-5" 25
    ;;
  naf-v5)
    # naf v5 = the soup (weight average) of naf-pm x 0.65 and naf-p x 0.35 (run both first, from v4), with the
    # settle range chosen for it (engines/naf/NOTES.md); METRICS: an eval report of the result for its card
    streamdeblur release "$RUNS/naf-pm" naf --soup "$RUNS/naf-p:0.35" --gate 1.0 --settle 1.0,3.0 --force \
      ${METRICS:+--metrics "$METRICS"}
    ;;
  naf-hd)
    # naf-hd v1, naf at 256 px for large faces: through `process`, faces of 280-390 px seen at 128 px keep only
    # 1-2 px of their blur. naf v5 fine-tuned on 96-px patches of 256-px motion exposures (pairs.sh motion-256c)
    # and shake kernels, PSNR loss: 5k steps, then resumed with the cosine restarted for 12k (v0) and again for 20k
    # (v1; RESUME_RUN=1 NAF_HD_STEPS=12000, then 20000), released with the settle range measured through `process`
    naf_psnr naf-hd "${NAF_HD_STEPS:-5000}" "${NAF_HD_INIT:-$REPO/engines/naf/model.safetensors}" \
      "$P/motion-256c" 10 --crop-size 256 --set patch=96
    streamdeblur release "$RUNS/naf-hd" naf-hd --settle 0.6,1.5 --force ${METRICS:+--metrics "$METRICS"}
    ;;
  naf-hd2)
    # naf-hd v0 (step 12k) fine-tuned with more sharp inputs (35 % against 20 %) at half the learning rate: does the engine
    # leave near-sharp large faces alone better, so that a narrower settle range keeps more of its gain? (No: its
    # NOTES.md.) It ran from v0: NAF_HD2_INIT=<git show 9cb7a90:engines/naf-hd/model.safetensors saved to a file>
    naf_psnr naf-hd2 "${NAF_HD2_STEPS:-4000}" "${NAF_HD2_INIT:-$REPO/engines/naf-hd/model.safetensors}" \
      "$P/motion-256c" 10 --crop-size 256 --set patch=96 --set sharp_frac=0.35 --lr 2.5e-4
    ;;
  naf-hd3)
    # naf-hd v1 trained on from its release (session 26, a fresh machine with no run state): the same data and
    # loss, lr 2.5e-4 cosine to zero over 8k steps (58 min, 2 threads). Not released: the restarted rate threw
    # v1's validation gain away (0.238 -> 0.17 at 1k) and the anneal did not win it back (0.200 at 8k).
    naf_psnr naf-hd3 "${NAF_HD3_STEPS:-8000}" "${NAF_HD3_INIT:-$REPO/engines/naf-hd/model.safetensors}" \
      "$P/motion-256c" 10 --crop-size 256 --set patch=96 --lr 2.5e-4
    ;;
  naf-hd4)
    # ...and the same at a fifth of the rate (5e-5, a cosine over 4k steps): does a gentle continuation keep v1's
    # gain and add to it? No: 0.194 at 500 steps, 0.201 at 2k, where it was stopped. v1 memorises its training
    # clips (engines/naf-hd/NOTES.md): more distinct faces, not more steps, is what is missing.
    naf_psnr naf-hd4 "${NAF_HD4_STEPS:-4000}" "${NAF_HD4_INIT:-$REPO/engines/naf-hd/model.safetensors}" \
      "$P/motion-256c" 10 --crop-size 256 --set patch=96 --lr 5e-5 --set val_every=500
    ;;
  naf-hd5)
    # naf-hd v1 on three times the exposures (motion-256c + pairs.sh motion-256d: 12.9k train pairs from the same
    # 73 clips), validated on motion-256c as v1 was, with seen_gain_db watching the memorising (session 26's
    # finding); lr 2.5e-4 cosine over 20k steps. Started at the end of session 26: RESUME_RUN=1 continues it.
    naf_psnr naf-hd5 "${NAF_HD5_STEPS:-20000}" "${NAF_HD5_INIT:-$REPO/engines/naf-hd/model.safetensors}" \
      "$P/motion-256c,$P/motion-256d" 10 --crop-size 256 --set patch=96 --lr 2.5e-4
    ;;
  naf-hd6)
    # naf-hd5 with the patches augmented against the memorising (session 27): quarter turns, colour jitter 0.2,
    # zoom 0.75-1.5 (faces and blur at other scales); the same pairs, schedule and validation, compared at equal steps.
    naf_psnr naf-hd6 "${NAF_HD6_STEPS:-20000}" "${NAF_HD6_INIT:-$REPO/engines/naf-hd/model.safetensors}" \
      "$P/motion-256c,$P/motion-256d" 10 --crop-size 256 --set patch=96 --lr 2.5e-4 \
      --set rotate=true --set jitter=0.2 --set zoom=0.75,1.5
    ;;
  naf-t3m-hd | naf-t3m-hd-sm)
    # naf-t3m-hd: the temporal engine at the scale of large faces. naf-t3m's weights (trained at 128 px) fine-tuned
    # on 96-px patches of motion-256c-3's 256-px 3-frame groups (pairs.sh), as naf-hd was from naf on motion-256c:
    # PSNR loss, 20 % sharp inputs, lr 5e-4 cosine over NAF_T3M_HD_STEPS (engines/naf-t3m-hd/NOTES.md). Run
    # naf-t3m-hd-sm (the released weights, session 41): half of the sharp inputs a sharp frame of a moving face
    # (sharp_moving=0.5: the centre frame sharp, its neighbours blurred), so adapted engines leave sharp faces alone
    SM=(); [[ "$1" == naf-t3m-hd-sm ]] && SM=(--set sharp_moving=0.5)
    streamdeblur train --data "$P/motion-256c-3" --name "$1" --model naf-t3m-hd --crop-size 256 --set patch=96 \
      --set cache=true --set val_data="$P/motion-256c-3" \
      --set init_weights="${NAF_T3M_HD_INIT:-$REPO/engines/naf-t3m/model.safetensors}" \
      --steps "${NAF_T3M_HD_STEPS:-6000}" --set lr_horizon="${NAF_T3M_HD_STEPS:-6000}" --set sharp_frac=0.2 \
      --set warmup=0 --lr 5e-4 --threads "${THREADS:-2}" --set loss=psnr --set w_fft=0 \
      --set val_every=500 --set val_batches=10 --set ckpt_every=250 -q "${SM[@]}" "${RESUME[@]}"
    ;;
  naf-clips-25 | naf-clips-50 | naf-clips-100)
    # Data scaling (session 27): naf from scratch on 25 / 50 / 100 % of the 73 training clips (whole clips, a
    # smaller share's among a larger one's), with the same steps, pairs and validation: held-out gain and the
    # gap to the training clips' gain against the number of distinct faces. NAF_CLIPS_STEPS sets the length: 3k
    # steps (session 27, naf-clips-100 only, 12 min) are far too few from scratch: validation gain -0.24 / -0.23 /
    # -0.24 / -0.24 / -0.23 / -0.21 dB at 0.5k-3k (the training clips' +0.01 to +0.09), so the default is 20k.
    # naf-clips-100 at 20k (session 28): -0.03 dB held out, +0.61 on its training clips; per band of input PSNR
    # (under 26 to 45 dB and over) +1.15 / +0.99 / +0.49 / +0.29 / +0.41 / +0.14 on training clips against
    # +0.28 / +0.16 / +0.11 / +0.08 / -0.27 / -0.93 held out (at 3.25k steps the two were equal): the gap is learnt.
    # naf-clips-50 at 20k (sessions 29-30): -0.08 dB held out (100 %: -0.03), +0.50 on its training clips, +0.23
    # on the clips of the same sources that its half left out (`unseen_gain_db`). At 2k / 8k / 14k / 20k steps held
    # out -0.24 / -0.15 / -0.11 / -0.08 against 100 %'s -0.24 / -0.12 / -0.04 / -0.03: twice the clips is worth about
    # 0.05 dB held out; new clips of the training sources gain 0.3 dB more than the held-out sources: the sources'
    # diversity matters more than the count of clips. But naf-clips-25 (session 30, stopped at 6k+) leads both at
    # equal steps so far: -0.19 / -0.09 held out at 4k / 6k (100 %: -0.22 / -0.17), so which clips are in a share
    # matters as much as how many; finish it (RESUME_RUN=1) before reading a trend. naf-clips-25 continued (sessions
    # 33-34, stopped at 16.4k): held out -0.25 / -0.19 / -0.09 / -0.06 / -0.05 / -0.04 / -0.04 / -0.15 at 2k-16k every
    # 2k, while its training clips' gain rose from +0.40 to +0.51 past 14k: a quarter of the faces memorised sooner,
    # and no share of these ~100 people reached a positive held-out gain from scratch.
    streamdeblur train --data "$P/motion-256c,$P/motion-256d" --name "$1" --model naf \
      --set val_data="$P/motion-256c" --set clip_share="$(awk "BEGIN{print ${1#naf-clips-}/100}")" \
      --crop-size 128 --set patch=64 --steps "${NAF_CLIPS_STEPS:-20000}" --set lr_horizon="${NAF_CLIPS_STEPS:-20000}" \
      --set sharp_frac=0.2 --set warmup=0 --lr 1e-3 --threads "${THREADS:-2}" --set loss=psnr --set w_fft=0 \
      --set val_every=500 --set val_batches=10 --set ckpt_every=250 -q "${RESUME[@]}"
    ;;
  naf-scratch | naf-t3-scratch | naf-t3f-scratch)
    # issue 13's question, on equal terms: does the 3-frame net learn more than the single-frame one when neither
    # starts from the other? Both from random weights, the same motion groups (naf sees their centre exposure),
    # the same val split, lr 1e-3 with warm-up, one thread each (run both at once); compare val.csv at equal steps.
    # naf-t3f-scratch: the same for the flow-aligned temporal net.
    model=naf; [[ "$1" == naf-t3-scratch ]] && model=naf-t3; [[ "$1" == naf-t3f-scratch ]] && model=naf-t3f
    streamdeblur train --data "$P/motion-128,$P/motion-128c" --name "$1" --model "$model" \
      --set val_data="$P/motion-128" --steps "${SCRATCH_STEPS:-20000}" --set lr_horizon="${SCRATCH_STEPS:-20000}" \
      --set sharp_frac=0.2 --lr 1e-3 --threads "${THREADS:-1}" \
      --set val_every=500 --set val_batches=25 --set ckpt_every=250 -q "${RESUME[@]}"
    ;;
  multiscale-fast)
    # Shen et al.'s two-scale multi-task net at its native 128 px, width 0.25 and 3 ResBlocks (86k parameters:
    # the 64-channel original costs ~28 GMAC a face, too slow to train on 2 CPU cores); the paper's losses
    # (multi-scale L1 on image and gradient structure, adversarial 0.01; no VGG19 weights here, so no perceptual
    # term), on the same data and 64-px patches of the decoded cache as naf, Adam 5e-4
    streamdeblur train --data "$P/motion-128,$P/kernel-256,$P/pravg-256" --name multiscale-fast \
      --model multiscale-fast --set mix=motion=0.7,kernel=0.15,pravg=0.15 --set motion_power=0.5 --set cache=true \
      --set patch=64 --crop-size 128 --batch-size 16 --lr 5e-4 --set d_lr=5e-4 --steps "${MS_STEPS:-20000}" \
      --threads "${THREADS:-1}" --set val_every=1000 --set val_batches=25 --set ckpt_every=250 -q "${RESUME[@]}"
    ;;
  multiscale-fast-b)
    # multiscale-fast went on without the adversarial term (w_adv 0.01 made it worse: val gain -0.04 dB at 1k
    # steps, -0.13 at 2k): its multi-scale L1 only, warm-started from that run at step 2.4k, the clean motion
    # exposures and 20 % sharp inputs in the mix as naf v3, cosine decay to zero; validated as naf.
    # (Steps 0-1.25k ran with the cosine set for 6000 steps, then it was resumed with MS_B_STEPS=4000.)
    streamdeblur train --data "$P/motion-128,$P/motion-128c,$P/kernel-256,$P/pravg-256" --name multiscale-fast-b \
      --model multiscale-fast --set val_data="$P/motion-128,$P/kernel-256,$P/pravg-256" \
      --set init_weights="${MS_B_INIT:-$RUNS/multiscale-fast/last.pt}" --set w_adv=0 \
      --set mix=motion=0.75,kernel=0.1,pravg=0.15 --set motion_power=0.5 --set sharp_frac=0.2 --set cache=true \
      --set patch=64 --crop-size 128 --batch-size 16 --lr 5e-4 --set lr_schedule=cosine \
      --steps "${MS_B_STEPS:-4000}" --set lr_horizon="${MS_B_STEPS:-4000}" \
      --threads "${THREADS:-1}" --set val_every=1000 --set val_batches=25 --set ckpt_every=250 -q "${RESUME[@]}"
    ;;
  hg-cgan-fast)
    # Chrysos et al.'s two-step model at 128 px and quarter width (3.6M parameters; 256 px and full width take
    # 10-14 s a step here): step 1 is the released `fast` hourglass (engines/fast), frozen; step 2 the two-pathway
    # cGAN with the paper's loss on the same data as naf (whole 128-px faces: seven stride-2 layers)
    # (with the clean motion exposures and 20 % sharp inputs of naf v3, validated as naf). Stopped at step
    # 900 of a first try: -5.06 dB at step 500 (20.74 against the blurred input's 25.80), as hg-cgan-half.
    # Its first layer has stride 2 and the decoder's last layer rebuilds every pixel from 64-px features:
    # with no full-resolution path it cannot give back the input's fine detail (training L1 0.05).
    streamdeblur train --data "$P/motion-128,$P/motion-128c,$P/kernel-256,$P/pravg-256" --name hg-cgan-fast \
      --model hg-cgan-fast --set val_data="$P/motion-128,$P/kernel-256,$P/pravg-256" \
      --hg-weights "$REPO/engines/fast/model.safetensors" --set mix=motion=0.75,kernel=0.1,pravg=0.15 \
      --set sharp_frac=0.2 --set motion_power=0.5 --set cache=true --crop-size 128 --batch-size 8 \
      --steps "${CGAN_FAST_STEPS:-20000}" \
      --threads "${THREADS:-1}" --set val_every=500 --set val_batches=25 --set ckpt_every=100 -q "${RESUME[@]}"
    ;;
  hg-cgan-res-a | hg-cgan-res)
    # Chrysos et al.'s two-step model at half width with a residual G_bl (session 28): hg-cgan-half's layers,
    # but G_bl adds its output to the blurry input and starts as the identity (hg-cgan-half and hg-cgan-fast,
    # which rebuild every pixel, stalled 5 dB below their input). Step 1 is hg-cgan-half's released HG,
    # frozen; step 2 the paper's pixel terms (100 L1 + 100 gradient L1) on naf-hd's data: 256-px motion
    # exposures and shake kernels, 20 % sharp inputs, validated on held-out motion-256c as naf-hd. Without the
    # G_s term (trivial with a residual output: w_recon=0) and without the adversarial and projection terms:
    # with them (the paper's whole loss) a first run lost 1.27 / 1.22 dB to its input at 0.5k / 1k steps held
    # out (0.36 on its training clips; SSIM level), from texture the pixels do not hold.
    # (Those two figures are 40-pair validation samples; a 40-pair sample is dominated by its few near-sharp faces.)
    # hg-cgan-res-a: the paper's Adam 2e-4 (0.5, 0.999), stopped at step 1340: still the identity to 0.01 dB
    # below 45 dB of input PSNR (eval --pairs, 250 held-out faces). hg-cgan-res continues from it with the
    # naf recipe's faster optimiser: AdamW 5e-4 (0.9, 0.99), cosine to zero over CGAN_RES_STEPS. Session 28
    # stopped it at step 2.4k: validation gain -0.20 / -1.41 dB at 1k / 2k (160 pairs; training clips -0.15 /
    # -1.86). Per band of input PSNR (250 held-out faces, bare) +0.10 / +0.01 / -0.11 / -0.48 / -1.59 / -7.49 dB
    # from under 26 to 45 dB and over: it sharpens every face alike, as its HG input does (hg-half alone:
    # +0.26 / -0.20 / -0.80 / -2.14 / -4.90 / -13.55). Not released; a GPU run is what it needs.
    local_args=(--set optimizer=adam --set lr_schedule=constant --lr 2e-4 --steps "${CGAN_RES_A_STEPS:-1340}"
                --set val_every=500 --set val_batches=10)
    [[ "$1" == hg-cgan-res ]] && local_args=(--set init_weights="$RUNS/hg-cgan-res-a/last.pt" --set optimizer=adamw
      --set betas=0.9,0.99 --lr 5e-4 --set lr_schedule=cosine --set warmup=100 --steps "${CGAN_RES_STEPS:-6000}"
      --set val_every=1000 --set val_batches=40)
    streamdeblur train --data "$P/motion-256c,$P/kernel-256" --name "$1" --model hg-cgan-res --stage cgan \
      --set val_data="$P/motion-256c" --set mix=motion=0.85,kernel=0.15 --set cache=true --crop-size 256 \
      --batch-size 4 --hg-weights "$REPO/engines/hg-cgan-half/model.safetensors" --set w_recon=0 \
      --set w_adv=0 --set w_proj=0 --set sharp_frac=0.2 --threads "${THREADS:-2}" --set ckpt_every=100 \
      "${local_args[@]}" -q "${RESUME[@]}"
    ;;
  naf-t3m-hd-fl | naf-t3m-hd-fl0)
    # The flicker loss in a base run (session 44's plan; adapt's version traded gain for a little steadiness,
    # engines/naf-t3m-hd/NOTES.md): naf-t3m-hd v1's weights continued on pairs.sh's motion-256c-5t (5-frame groups
    # with their sharp frames; the engine reads the middle three, the flicker term also the next exposure) with
    # naf-t3m-hd-sm's recipe and w_flicker NAF_T3M_HD_FL_W (default 1). naf-t3m-hd-fl0 is its control: the same
    # steps and pairs without the term. Compare them adapted, through `eval --video` (the NOTES' protocol).
    FL=(--set w_flicker="${NAF_T3M_HD_FL_W:-1}"); [[ "$1" == naf-t3m-hd-fl0 ]] && FL=()
    streamdeblur train --data "$P/motion-256c-5t" --name "$1" --model naf-t3m-hd --crop-size 256 --set patch=96 \
      --set cache=true --set val_data="$P/motion-256c-5t" \
      --set init_weights="${NAF_T3M_HD_INIT:-$REPO/engines/naf-t3m-hd/model.safetensors}" \
      --steps "${NAF_T3M_HD_FL_STEPS:-3000}" --set lr_horizon="${NAF_T3M_HD_FL_STEPS:-3000}" --set sharp_frac=0.2 \
      --set sharp_moving=0.5 --set warmup=0 --lr 2.5e-4 --threads "${THREADS:-2}" --set loss=psnr --set w_fft=0 \
      --set val_every=500 --set val_batches=10 --set ckpt_every=250 -q "${FL[@]}" "${RESUME[@]}"
    ;;
  *) echo "usage: $0 mix | unet-a | unet-b | hg-half | hg-cgan-half | naf | naf-t3 | naf-c | naf-d | naf-e | naf-deep | naf-t3c | naf-t3d | naf-t3f | naf-t3m | naf-t3m-z | naf-t3m2 | naf-t3m-f | naf-t3m-c | naf-t3m-l | naf-t3f2 | naf-t5f | naf-t5f2 | naf-p | naf-t3p | naf-pm | naf-v5 | naf-hd | naf-hd2 | naf-hd3 | naf-hd4 | naf-hd5 | naf-hd6 | naf-t3m-hd | naf-t3m-hd-sm | naf-t3m-hd-fl | naf-t3m-hd-fl0 | naf-clips-25 | naf-clips-50 | naf-clips-100 | naf-scratch | naf-t3-scratch | naf-t3f-scratch | multiscale-fast | multiscale-fast-b | hg-cgan-fast | hg-cgan-res-a | hg-cgan-res" >&2
     exit 2 ;;
esac
