"""`streamdeblur adapt`: a released engine fine-tuned on sharp video of the very faces it will restore.

The released engines gain little on faces they never saw: on the clips they trained on they gain several
times what they gain on held-out ones of the same blur (the `seen_gain_db` curves). Adapting closes part of
that gap for one person: motion pairs are made from a sharp reference clip of the same face (make-pairs
--method motion, flow-interpolated exposures), and the engine is fine-tuned on them from its released weights
for a few hundred steps, then written as an engine folder that `process --weights` runs. A temporal engine
(naf-t3m) gets the reference's K-frame groups, its neighbours aligned as its release trained them. Only the
reference's sharp faces become pairs (video_pairs.sharp_floor): a video whose still stretches are sharp and whose moving
ones are not can be its own reference.

Resumable (pairs and checkpoints live under <cache>/adapt/<key>, keyed by the references, the model and the
recipe; the run inside it by the released weights it starts from); the output folder is written complete or not
at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import statistics
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Sequence

from streamdeblur.errors import UserError

# the recipe (measured in engines/naf-hd/NOTES.md, session 29, "adapting to one face"): the motion pairs of
# naf-hd's data (speeds 2-10, shutters 0.25-1, three in ten re-encoded, noise up to 1), a fifth of the inputs
# left sharp, the PSNR loss at a constant rate, and a short EMA
SPEED, SHUTTER, CRF_SHARE, NOISE = "2,10", "0.25,1", 0.3, 1.0
RECIPE = {"stage": "restore", "lr": 2.5e-4, "lr_schedule": "constant", "warmup": 0, "loss": "psnr", "w_fft": 0.0,
          "ema_decay": 0.95, "sharp_frac": 0.2, "batch_size": 8, "cache": True, "seen_batches": 0}
MIN_PAIRS = 16
# seconds of a camera or a stream recorded as the reference when --duration does not say: the held-out clips'
# references were 4-8 s of one person (+0.8 dB); 20 s leaves room for the moving and blurred moments adapt skips
RECORD_SECONDS = 20.0
# at most about this many centre frames become pairs (the references' frames, every `stride`-th): a four-second
# reference gives 100, enough for +0.8 dB; a whole film given to `process --adapt` would otherwise take hours
MAX_CENTRES = 400
# the settle range an adapted engine is written with, where it is not its base engine's (measured through `process`
# on four held-out clips, engines/naf-hd/NOTES.md, session 35): naf-hd's own 0.6-1.5 took a third of the adapted
# engine's gain at motion:4+8 (+0.89 -> +0.63 dB), 0.3-0.9 keeps most of it (+0.75) and sharp faces as they are;
# naf-t3m-hd, restoring the same 256-px crops, takes naf-hd's (engines/naf-t3m-hd/NOTES.md)
SETTLE = {"naf-hd": (0.3, 0.9), "naf-t3m-hd": (0.3, 0.9)}
# the test-time local converter an adapted engine runs with (nets/nafnet.py: its channel attention pools over
# windows of this many px at full resolution, not the whole crop): adapted on 96-px patches, run on 256-px crops,
# as naf-hd itself. Through `process` on the ten held-out clips, adapted naf-hd gained +0.770 dB at motion:4+8
# with 144-px windows, +0.745 with the released naf-hd's 192 and +0.669 without, sharp faces and flicker unchanged
# (engines/naf-hd/NOTES.md, session 54). Adapted naf-t3m-hd gained +0.04 dB with it but took 0.08 dB more off
# sharp faces (0.33 on one clip): it keeps global pooling (engines/naf-t3m-hd/NOTES.md, session 54); naf (128 px)
# too, as its released card
TLC = {"naf-hd": 144}
# only the reference's sharp faces are made into pairs (video_pairs.sharp_floor: SHARP_SHARE of the 90th percentile
# of its faces' sharpness, as make-pairs' --min-sharpness measures it). Two clips whose first half was motion-blurred
# (speed 4) before their sharp second half, adapted whole, gained +0.06 and +0.04 dB at motion:4+8, and +0.55 and
# +0.84 with this (their sharp halves alone: +0.61, +0.81): blurred faces taught the engine to keep blur
# (engines/naf-hd/NOTES.md, session 36)

# the side (px) a reference's faces are brought to for the detector in adapt's passes over it (detect_size); the frame's
# longest side at least MIN_DETECT_SIZE and at most make-pairs' own (PairOptions.detect_size). make-pairs detects a face
# in every frame, at 640 px by default: on a live input's 20-s recording (a 512x512 talking head, faces about 340 px)
# the sharpness pass and the pairs took 56 s here, and 27 s with the detector at 192 px (2.8 s of it choosing the size),
# the pairs the same (221 against 215); on four held-out clips naf adapted on such pairs gained -0.004 +- 0.008 dB a
# face against 640's at motion:4+8 (engines/naf/NOTES.md, session 65)
DETECT_FACE = 128
MIN_DETECT_SIZE = 160

# adapt's steps where --steps does not say: DEFAULT_STEPS, or the model's in STEPS. naf-hd: 1,000 since session 57,
# +0.834 dB at motion:4+8 on the ten held-out clips against 500's +0.770 (sharp faces and flicker the same;
# engines/naf-hd/NOTES.md, session 55), in the time 500 took before adapt was compiled; 2,000 added +0.04.
# naf: 4,000 since session 65: on the ten clips +0.268 dB at motion:4+8 after 1,000 steps, +0.317 after 2,000
# (+0.049 +- 0.008 a face; session 64), +0.356 after 4,000 (+0.039 +- 0.010 a face over 2,000; nine clips ahead or
# even at motion:8, flicker the same; engines/naf/NOTES.md, sessions 64-65). Live, the engines at 100, 1,000 and
# 2,000 steps are handed over on the way (train/live.py), so the doublings cost a live input nothing before them
DEFAULT_STEPS = 1000
STEPS = {"naf": 4000}
log = logging.getLogger("streamdeblur")


@dataclass
class AdaptOptions:
    model: str = field(default="naf-hd", metadata={"help": (
        "Released engine to start from (naf-hd for faces of 180 px and more, where it gains twice what naf does; "
        "naf adapts in half the time and runs 4x faster, for small faces; naf-t3m-hd, the temporal engine at 256 px, "
        "trains on 3-frame groups of the reference and gains as much as naf-hd (+0.78 against +0.77 dB on ten "
        "clips: more on mild blur, less on strong) for about a tenth more adapting time, more flicker and a "
        "one-frame lag; naf-t3m is it at 128 px).")})
    # None: the model's (STEPS, else DEFAULT_STEPS), set on construction
    steps: int | None = field(default=None, metadata={"help": (
        f"Fine-tuning steps, batch 8 (default {DEFAULT_STEPS:,}, naf {STEPS['naf']:,}; a re-run with more continues; "
        "half of naf-hd's take half the time for 0.06 dB less).")})
    max_frames: int | None = field(default=None, metadata={"help": "Read at most this many frames of each reference."})
    threads: int = field(default=0, metadata={"help": "CPU threads (0: all)."})
    compile: bool = field(default=True, metadata={"help": (
        "torch.compile the network being fine-tuned: twice the steps per second (naf-hd on 2 cores: 0.26 -> 0.12 s "
        "a step, 500 steps in 67 s instead of 132) after a compile of about 80 s the first time a model is adapted "
        "on a machine and a few seconds after that (torch's cache). Without a C++ compiler it trains uncompiled.")})
    snapshots: tuple[int, ...] = field(default=(), metadata={"help": (
        "Also write the engine as it is at this step (fewer than --steps; repeat for several) into OUTPUT-STEPS, "
        "while it trains on: an adaptation's curve from one run (a live `process --adapt` hands them over as they "
        "come).")})
    duration: float | None = field(default=None, metadata={"help": (
        "Seconds to record of a reference that is a camera (webcam:0, /dev/video0) or a stream URL (default "
        f"{int(RECORD_SECONDS)}) or stdin ('-': to its end), before adapting to the recording.")})
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.steps is None:
            self.steps = STEPS.get(self.model, DEFAULT_STEPS)


def check_options(options: AdaptOptions, steps_option: str = "--steps", duration_option: str = "--duration") -> None:
    """UserError (before any work) for options that cannot work; steps_option, duration_option: the flags the
    caller's command gives them with (`adapt --steps`, `process --adapt-steps`)."""
    if options.steps < 1:
        raise UserError(f"{steps_option} must be at least 1 (adapt's fine-tuning steps), got {options.steps}")
    if options.max_frames is not None and options.max_frames < 1:
        raise UserError(f"--max-frames must be at least 1 (leave it out to read whole references), "
                        f"got {options.max_frames}")
    bad = [n for n in options.snapshots if not 1 <= n < options.steps]
    if bad:
        raise UserError(f"--snapshot must be between 1 and {steps_option} - 1 ({options.steps - 1}): the engine at "
                        f"{options.steps} steps is the output itself; got {bad[0]}")
    if options.threads < 0:
        raise UserError(f"--threads must be at least 1 (or 0: all CPU threads), got {options.threads}")
    if options.duration is not None and not (math.isfinite(options.duration) and options.duration > 0):
        raise UserError(f"{duration_option} must be positive (seconds to record of a camera or stream), "
                        f"got {options.duration}")


def adaptable_spec(model: str):
    """The model's spec, or UserError when adapt cannot fine-tune it (unknown, not a restoration engine, or
    without released weights)."""
    from streamdeblur.models import get_spec, has_weights

    spec = get_spec(model)  # UserError for an unknown name
    if not spec.adaptable:
        raise UserError(f"adapt fine-tunes restoration engines (naf, naf-hd, naf-t3m, naf-t3m-hd, fast-unet); "
                        f"{model!r} is not one")
    if not has_weights(model):
        raise UserError(f"model {model!r} has no released weights to adapt (expected {spec.weights_path})")
    return spec


def work_dir(references: Sequence[Path], options: AdaptOptions) -> Path:
    """<cache>/adapt/<key>: the pairs and the run of these references, model and recipe (a re-run resumes)."""
    from streamdeblur.data.video_pairs import SHARP_SHARE
    from streamdeblur.paths import cache_dir

    ident = [(str(p.resolve()), p.stat().st_size, int(p.stat().st_mtime)) for p in references]
    key = json.dumps([ident, options.model, options.max_frames, SPEED, SHUTTER, CRF_SHARE, NOISE, RECIPE, SHARP_SHARE,
                      MAX_CENTRES, DETECT_FACE])
    return cache_dir() / "adapt" / hashlib.sha1(key.encode()).hexdigest()[:16]


def base_key(model: str) -> str:
    """Which released weights an adaptation starts from: a hash of the model's weights file. The pairs depend only on
    the references (work_dir); the run and `process --adapt`'s engine are kept per base (run-<key>, engine-<key>), so
    new released weights are adapted again instead of an engine adapted from the old ones being found."""
    from streamdeblur.models import get_spec

    path = get_spec(model).weights_path  # UserError for an unknown name
    return hashlib.sha1(path.read_bytes()).hexdigest()[:12] if path.is_file() else "none"  # adapt refuses "none"


def run_dir(work: Path, model: str, steps: int) -> Path:
    """The run that gives `steps` steps: <work>/run-<base_key>, which a re-run with more steps continues; when that
    run has already gone past `steps`, its own <work>/run-<base_key>-<steps> (trained from the start, so an engine
    asked for fewer steps never is the longer run's, and the longer run is kept)."""
    from streamdeblur.train.stages import CHECKPOINT
    from streamdeblur.train.trainer import read_checkpoint

    run = work / f"run-{base_key(model)}"
    if (run / CHECKPOINT).is_file():
        done = int(read_checkpoint(run / CHECKPOINT)["step"])
        if done > steps:
            return run.with_name(f"{run.name}-{steps}")
    return run


def centre_stride(references: Sequence[Path], max_frames: int | None) -> int:
    """Every how many frames a pair is made, so that the references give about MAX_CENTRES (1 when their length is
    unknown)."""
    from streamdeblur.io.source import open_source

    total = 0
    for clip in references:
        source = open_source(str(clip))
        try:
            count = source.frame_count
        finally:
            source.close()
        if not count:
            return 1
        total += min(count, max_frames or count)
    return max(1, -(-total // MAX_CENTRES))


def card_settings(model: str) -> dict:
    """What adapt writes into an adapted engine's card besides its weights and its `adapted` record: no gate, the
    settle range (SETTLE's, else the base engine's) and the TLC window (TLC's, where it has one). No gate and the
    settle range: the track-motion gate kept the adapted engine off its person's blurred faces on still tracks, and
    without a settle range it took detail off their sharp ones (naf-t3m and naf-hd NOTES, session 35)."""
    from streamdeblur.models import read_card

    settle = SETTLE.get(model, read_card(model).get("settle"))
    return {"gate": None, "settle": None if settle is None else [float(v) for v in settle],
            **({"tlc": TLC[model]} if model in TLC else {})}


def adapted_to(video: str | Path, options: AdaptOptions = AdaptOptions()) -> Path:
    """`process --adapt`: the engine adapted to this video's own sharp faces, made on the first call (adapt) and
    found in the cache (<work_dir>/engine-<base_key>-<steps>-<settings>) on the next ones. <settings> is a hash of
    what adapt writes into the card besides the weights (card_settings), so an engine cached with other settings
    (before adapt wrote a TLC window, or with another settle range) is not handed out: it is exported again from
    the cached run, without training again."""
    check_options(options, "--adapt-steps")
    clip = Path(video)
    if not clip.is_file():
        raise UserError(f"--adapt needs a video file to adapt to, not {video}")
    settings = hashlib.sha1(json.dumps(card_settings(options.model), sort_keys=True).encode()).hexdigest()[:8]
    engine = work_dir([clip], options) / f"engine-{base_key(options.model)}-{options.steps}-{settings}"
    engine.parent.mkdir(parents=True, exist_ok=True)
    if (engine / "card.json").is_file():
        log.info("using the engine adapted to %s before (%s)", clip.name, engine)
        return engine
    log.info("adapting %s to the faces of %s (a few minutes; kept in %s)", options.model, clip.name, engine)
    return adapt([clip], engine, options)


def adapt(references: Sequence[str | Path], output: str | Path, options: AdaptOptions = AdaptOptions()) -> Path:
    """Fine-tune options.model on motion pairs of the reference clips; writes the engine folder `output`."""
    from streamdeblur.data.pairs import run_make_pairs
    from streamdeblur.data.shards import atomic_write_text
    from streamdeblur.io.files import find_videos
    from streamdeblur.io.media import is_live_input
    from streamdeblur.train.apart import spinning
    from streamdeblur.train.config import can_compile
    from streamdeblur.train.stages import CHECKPOINT, build_config
    from streamdeblur.train.trainer import read_checkpoint, train

    check_options(options)
    spec = adaptable_spec(options.model)
    out = Path(output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists: give a new folder to -o (an adapted engine is never written over another)")
    if not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
        raise UserError(f"cannot write {out}: its folder {out.parent} does not exist or is not writable")
    for r in references:
        if not is_live_input(str(r)) and not Path(r).exists():
            raise UserError(f"reference clip not found: {r}")
    # a folder stands for the videos under it (as for make-pairs and eval)
    references = [v for r in references for v in ([str(f.path) for f in find_videos([r])] if Path(r).is_dir() else [r])]
    refs = recorded(references, options)  # live references (cameras, streams, stdin) recorded first
    identity = person_of(refs, options.max_frames)  # before the minutes of training: a clip without a face fails now
    size = detect_size(refs, options.max_frames)
    work = work_dir(refs, options)
    run = run_dir(work, options.model, options.steps)
    taken = [n for n in options.snapshots if snapshot_folder(out, n).exists()]
    done = int(read_checkpoint(run / CHECKPOINT)["step"]) if taken and (run / CHECKPOINT).is_file() else 0
    for n in taken:
        if n > done:  # it would be written (a resumed run does not write the steps it has passed)
            raise UserError(f"{snapshot_folder(out, n)} exists (--snapshot {n}): give a new folder to -o, or remove it")
    started = time.time()
    saved = work / "min_sharpness.json"  # measured once per work dir: a resumed run skips that pass over the clips
    if saved.is_file():
        min_sharpness = float(json.loads(saved.read_text()))
    else:
        min_sharpness = sharp_threshold(refs, options.max_frames, size)
        saved.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(saved, json.dumps(min_sharpness))
    # the flicker loss (a recipe with w_flicker; off: engines/naf-hd/NOTES.md, session 41): groups of two more
    # exposures, with their sharp frames
    flicker = bool(RECIPE.get("w_flicker"))
    summary = run_make_pairs(refs, work / "pairs", method="motion", speed=SPEED, shutter=SHUTTER, crf_share=CRF_SHARE,
                             noise=NOISE, size=spec.input_size, stride=centre_stride(refs, options.max_frames),
                             max_frames=options.max_frames, frames=spec.frames + (2 if flicker else 0),
                             targets=flicker, min_sharpness=min_sharpness, detect_size=size,
                             progress=not options.quiet)
    pairs = int(summary["totals"]["pairs"])
    if pairs < MIN_PAIRS:
        raise UserError(f"only {pairs} usable frames in {', '.join(map(str, refs))} (a sharp face of at least 64 px "
                        f"is needed in each): adapt needs at least {MIN_PAIRS}, a few seconds of sharp video")
    cfg = build_config(data=str(work / "pairs"), model=options.model, crop_size=spec.input_size,
                       patch=96 if spec.input_size >= 256 else 64, steps=options.steps,
                       threads=options.threads or os.cpu_count() or 1, init_weights=str(spec.weights_path),
                       run_dir=str(run), name=f"adapt-{options.model}", val_batches=0, ckpt_every=100,
                       quiet=options.quiet, compile=options.compile and can_compile("cpu"), **RECIPE)
    if options.compile and not cfg.compile:
        log.info("adapt: no C++ compiler found (g++): training uncompiled, about half as fast (install g++ to compile)")
    made = Made(options.model, refs, pairs, round(min_sharpness, 1), identity, started)
    # in a process of its own when this one's OpenMP threads sleep between parallel regions (`process --adapt`, whose
    # pipeline wants them to, and calls from Python): they made its steps up to 1.7x slower (train/apart.py)
    result = spinning(train, cfg, resume=(run / CHECKPOINT).is_file(),
                      snapshot=partial(write_snapshot, out, made), snapshot_steps=sorted(set(options.snapshots)))
    if result.interrupted:
        raise KeyboardInterrupt
    return write_engine(result.checkpoint, result.step, out, made)


@dataclass
class Made:
    """What an adapted engine's notes and card say it was made from (adapt)."""
    model: str
    references: list[Path]
    pairs: int
    min_sharpness: float
    identity: dict | None
    started: float  # time.time() as adapt began (the snapshots are written by the training process)


def snapshot_folder(output: Path, steps: int) -> Path:
    """Where adapt --snapshot writes the engine at `steps` steps: beside the output, OUTPUT-STEPS."""
    return output.with_name(f"{output.name}-{steps}")


def write_snapshot(output: Path, made: Made, step: int, checkpoint: Path) -> None:
    """The engine at `step` steps into snapshot_folder (during training: called by the trainer)."""
    folder = write_engine(checkpoint, step, snapshot_folder(output, step), made)
    log.info("adapt: the engine at step %d is in %s", step, folder)


def write_engine(checkpoint: Path, step: int, out: Path, made: Made) -> Path:
    """The adapted engine of a training checkpoint into the folder `out` (empty or absent), complete or not at all."""
    from streamdeblur.train.release import release

    refs, identity = made.references, made.identity
    partial_dir = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial_dir, ignore_errors=True)
    partial_dir.mkdir()
    (partial_dir / "NOTES.md").write_text(  # before release, which renders the README from the card and this
        f"## Adapted\n\nThe released `{made.model}` engine fine-tuned {step} steps on {made.pairs} motion pairs "
        f"made from {', '.join(r.name for r in refs)} (`streamdeblur adapt`, {time.time() - made.started:.0f} s "
        f"here). It is meant for the faces of those clips only"
        + (": `process` gives it the tracks whose faces match theirs (a face embedding of each clip is in the card) "
           f"and restores the others with the released `{made.model}`" if identity else
           " (no face embedder was installed when it was made, so `process` gives it every face)")
        + f". Run it with\n\n    streamdeblur process INPUT --weights {out}\n")
    adapted = {"model": made.model, "base": base_key(made.model), "references": [str(r) for r in refs],
               "pairs": made.pairs, "steps": step, "min_sharpness": made.min_sharpness,
               **({"identity": identity} if identity else {})}
    settings = card_settings(made.model)
    release(checkpoint, f"{made.model}-adapted", out_dir=partial_dir, gate=settings.pop("gate"),
            settle=settings.pop("settle"), extra={"adapted": adapted, **settings})
    prepare_onnx(made.model, partial_dir / "model.safetensors")
    if out.exists():
        out.rmdir()  # empty (checked by adapt)
    os.replace(partial_dir, out)
    return out


def prepare_onnx(model: str, weights: Path) -> None:
    """Where `process` runs an engine with onnxruntime (its auto backend here): its ONNX export into the cache now
    (about a second), keyed by the weights as `process` will load them, so that a live input's hand-over does not
    stop the pipeline to export it (the adaptation runs at a lower priority than the pipeline: train/live.py). Best
    effort: `process` exports it itself where this did not."""
    from streamdeblur.backends import auto_backend, onnx_model_path

    if auto_backend() != "onnxruntime":
        return
    try:
        onnx_model_path(model, weights)
    except Exception as exc:  # noqa: BLE001 - the engine is complete without it
        log.debug("no ONNX export of %s ahead of process: %s", weights, exc)


def shown_name(uri: str) -> str:
    """How a live input is named in messages and file names: 'stdin', else its URI without credentials."""
    from streamdeblur.io.media import is_stdin, redact

    return "stdin" if is_stdin(uri) else redact(uri)


def recording_path(uri: str) -> Path:
    """A new file in <cache>/adapt/recordings for a recording of the live input `uri` (named after it and the
    time), its folder made."""
    from streamdeblur.paths import cache_dir

    folder = cache_dir() / "adapt" / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9]+", "-", shown_name(uri)).strip("-")[:48]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return next(t for t in (folder / f"{name}-{stamp}{f'-{n}' if n else ''}.mp4" for n in range(1000))
                if not t.exists())


def recorded(references: Sequence[str | Path], options: AdaptOptions) -> list[Path]:
    """The references as video files: a live one (a camera, a stream URL, stdin) recorded first into
    <cache>/adapt/recordings (RECORD_SECONDS of it, options.duration if given; stdin to its end), where a later
    `adapt RECORDING` finds it again (and its pairs and run in the cache); files as they are."""
    from streamdeblur.io.media import is_live_input, is_stdin
    from streamdeblur.io.record import record
    from streamdeblur.progress import Bar

    if sum(is_stdin(str(r)) for r in references) > 1:
        raise UserError("stdin ('-') can be read once: give it as one reference only")
    files = []
    for ref in references:
        if not is_live_input(str(ref)):
            files.append(Path(ref))
            continue
        uri = str(ref)
        shown = shown_name(uri)
        seconds = options.duration if options.duration is not None else None if is_stdin(uri) else RECORD_SECONDS
        target = recording_path(uri)
        log.info("recording %s of %s to adapt to", f"{seconds:g} s" if seconds else "all", shown)
        with Bar("recording", "{task.fields[text]}", enabled=not options.quiet) as bar:
            frames, got = record(uri, target, seconds, lambda t: bar.update(int(t), int(seconds) if seconds else None,
                                                                           text=f"{t:.1f} s"))
        log.info("recorded %.1f s (%d frames, %.0f MB) of %s to %s; `streamdeblur adapt %s` adapts to it again "
                 "without recording (delete it when done)", got, frames, target.stat().st_size / 1e6, shown,
                 target, target)
        files.append(target)
    return files


def reference_sharpness(clip: Path, max_frames: int | None, detector, count: int = 200) -> list[float]:
    """The sharpness make-pairs judges the largest face by (video_pairs.face_sharpness, at its default margin) in
    about `count` frames spread over the clip."""
    from contextlib import closing

    from streamdeblur.data.video_pairs import PairOptions, face_sharpness
    from streamdeblur.faces.detection import largest_face
    from streamdeblur.faces.person import sample_frames

    found = []
    with closing(sample_frames(clip, count, max_frames)) as frames:
        for _, image in frames:
            face = largest_face(detector.detect(image), 64)
            if face is not None:
                found.append(face_sharpness(image, face.box, face.landmarks, PairOptions.margin))
    return found


def detect_size(references: Sequence[Path], max_frames: int | None, count: int = 8) -> int:
    """The longest side the detector sees the references' frames at in adapt's passes over them (the sharpness pass
    and make-pairs, which detect a face in every frame): their largest faces' median side made about DETECT_FACE px
    (the clip whose faces are the smallest in its frame decides), a multiple of 32 from MIN_DETECT_SIZE to make-pairs'
    own size (PairOptions.detect_size), which it is where no face of 64 px is found in `count` frames of each."""
    from contextlib import closing

    from streamdeblur.data.video_pairs import PairOptions
    from streamdeblur.faces.detect import create_detector
    from streamdeblur.faces.detection import largest_face
    from streamdeblur.faces.person import sample_frames

    detector = create_detector("yunet", max_side=PairOptions.detect_size)
    wanted = []
    for clip in references:
        ratios = []
        with closing(sample_frames(clip, count, max_frames)) as frames:
            for _, image in frames:
                face = largest_face(detector.detect(image), 64)
                if face is not None:
                    ratios.append(max(image.shape[:2]) / float(max(face.box[2:] - face.box[:2])))
        if ratios:
            wanted.append(statistics.median(ratios) * DETECT_FACE)
    if len(wanted) < len(references):
        return PairOptions.detect_size
    return int(min(PairOptions.detect_size, max(MIN_DETECT_SIZE, 32 * math.ceil(max(wanted) / 32))))


def sharp_threshold(references: Sequence[Path], max_frames: int | None, size: int | None = None) -> float:
    """The --min-sharpness of adapt's pairs for these references (threshold_of their faces' sharpness, found by the
    detector at `size`, as make-pairs will find them; default make-pairs' own)."""
    from streamdeblur.data.video_pairs import PairOptions
    from streamdeblur.faces.detect import create_detector

    detector = create_detector("yunet", max_side=size or PairOptions.detect_size)
    return threshold_of([reference_sharpness(r, max_frames, detector) for r in references])


def threshold_of(sharpness: Sequence[Sequence[float]]) -> float:
    """The sharp_floor of each reference's face sharpness, the lowest over the references (each face's detail
    being its own), and never below make-pairs' default --min-sharpness."""
    from streamdeblur.data.video_pairs import PairOptions, sharp_floor

    floor = PairOptions.min_sharpness
    return max(floor, min((sharp_floor(v) for v in sharpness if len(v)), default=floor))


def person_of(references: Sequence[Path], max_frames: int | None) -> dict | None:
    """The references' face embeddings for the card (faces/person.py), or None with a warning when no embedder
    is installed: the engine then restores every face it is given."""
    from streamdeblur.errors import MissingDependencyError
    from streamdeblur.faces.detect import create_detector
    from streamdeblur.faces.person import create_embedder, reference_identity

    try:
        embedder = create_embedder()
    except MissingDependencyError as exc:
        log.warning("%s: the adapted engine will restore every face it is given, not only its references' person "
                    "(install that and adapt again to restrict it)", exc)
        return None
    return reference_identity(references, embedder, create_detector("yunet"), max_frames)
