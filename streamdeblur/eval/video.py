"""`streamdeblur eval --video`: end to end through the real pipeline. For each clip and blur type
the whole frames are blurred (fixed-length or variable-length averaging around each frame, or a
camera-shake kernel per frame; data/blur.py), written as a video, run through `process`, and the
face regions of the output are compared with the sharp middle frames (faces found on the sharp
frames). Adds temporal stability (landmark motion vs the sharp video, flow-warped flicker) and
end-to-end fps to the pairs-mode metrics."""

from __future__ import annotations

import math
import tempfile
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from streamdeblur.data import blur
from streamdeblur.errors import UserError
from streamdeblur.paths import check_folder
from streamdeblur.eval import baselines, metrics
from streamdeblur.eval.report import VIDEO_COLUMNS, write_report
from streamdeblur.eval.run import (BLURRED, SHARP, EvalOptions, PairSample, group_order, build_engine, build_report,
                                   method_labels, model_weights, progress_bars)
from streamdeblur.eval.scoring import FaceRef, Scorer
from streamdeblur.faces.detection import largest_face

UNSHARP = "unsharp (ffmpeg default)"


EXPOSURES = ("sliding", "shutter")


@dataclass(frozen=True)
class BlurSpec:
    """One blur type of the video mode: 'pravg:L', 'vla', 'kernel[:SIZE]' (kernel size in frame pixels), or
    'motion:SPEED[:SHUTTER]' (flow-interpolated exposures of the clip sped up SPEED times, the shutter open
    SHUTTER of each frame interval, default 0.5; data/exposure.py, as make-pairs --method motion)."""

    kind: str
    size: int = 0  # window length (pravg) or kernel size (kernel)
    speed: float = 0.0  # motion
    shutter: float = 0.5  # motion

    @property
    def name(self) -> str:
        if self.kind == "motion":
            return f"motion:{self.speed:g}" + (f":{self.shutter:g}" if self.shutter != 0.5 else "")
        return f"{self.kind}:{self.size}" if self.kind == "pravg" else self.kind

    @property
    def radius(self) -> int:
        """Frames needed on each side of a centre frame."""
        if self.kind == "motion":
            return int(np.ceil(self.speed * self.shutter / 2))
        return {"pravg": self.size // 2, "vla": blur.VLAConfig().max_length // 2}.get(self.kind, 0)

    @property
    def step(self) -> int:
        """Source frames between consecutive blurred frames with --exposure shutter (no source frame shared)."""
        if self.kind == "motion":
            return max(1, int(round(self.speed)))
        return {"pravg": self.size, "vla": blur.VLAConfig().max_length}.get(self.kind, 1)


def parse_blurs(text: str) -> list[BlurSpec]:
    """'pravg:7,pravg:11,vla,kernel,motion:4,motion:8' -> specs; UserError on anything else."""
    specs = []
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        kind, _, arg = part.partition(":")
        try:
            if kind == "pravg":
                length = int(arg or 7)
                if length < 3 or length % 2 == 0:
                    raise ValueError
                specs.append(BlurSpec("pravg", length))
            elif kind == "vla" and not arg:
                specs.append(BlurSpec("vla"))
            elif kind == "kernel":
                size = int(arg or 15)
                if size < 3:
                    raise ValueError
                specs.append(BlurSpec("kernel", size))
            elif kind == "motion":
                speed, _, shutter = (arg or "8").partition(":")
                spec = BlurSpec("motion", speed=float(speed), shutter=float(shutter or 0.5))
                if not (0 < spec.speed <= 64 and 0 < spec.shutter <= 1):
                    raise ValueError
                specs.append(spec)
            else:
                raise ValueError
        except ValueError:
            raise UserError(f"bad --blur entry {part!r}: use pravg:L (odd L >= 3), vla, kernel[:SIZE] or "
                            "motion:SPEED[:SHUTTER]") from None
    if not specs:
        raise UserError("--blur is empty: use e.g. pravg:7,pravg:11,vla,kernel,motion:4,motion:8")
    return specs


def find_clips(path: str | Path) -> list[Path]:
    """A clip, or the video files under a directory (recursively, sorted); UserError when there are none."""
    from streamdeblur.io.files import find_videos

    return [v.path for v in find_videos([path])]


def read_frames(path: Path, max_frames: int | None) -> tuple[list[np.ndarray], Fraction]:
    """The first max_frames frames of a clip and its frame rate."""
    from streamdeblur.io.source import open_source

    source = open_source(str(path))
    try:
        fps = source.fps or Fraction(25)
        frames = []
        for frame in source:
            frames.append(frame.image)
            if max_frames is not None and len(frames) >= max_frames:
                break
    finally:
        source.close()
    if not frames:
        raise UserError(f"{path}: no decodable frames")
    return frames, Fraction(fps).limit_denominator(1001)


def write_video(path: Path, frames: list[np.ndarray], fps: Fraction, lossless: bool = True) -> Path:
    """Encode frames with VideoSink (lossless x264 by default, so the codec adds almost nothing)."""
    from streamdeblur.io.sink import VideoSink

    h, w = frames[0].shape[:2]
    time_base = Fraction(1, 1) / fps
    with VideoSink(str(path), w, h, time_base, fps=fps, lossless=lossless) as sink:
        for i, image in enumerate(frames):
            sink.write(image, i)
    return path


def blur_video(frames: list[np.ndarray], faces: list[Any], spec: BlurSpec, seed: int, clip_id: str,
               exposure: str = "sliding") -> tuple[list[int], list[np.ndarray], list[float]]:
    """(centre indices, blurred whole frames, window lengths) for one blur type.

    exposure 'sliding': a blurred frame around every source frame (consecutive blurred frames share source
    frames, as a window slides); 'shutter': blurred frames spec.step source frames apart, which share no
    source frame (a temporal engine cannot recover a frame from its neighbours' overlapping windows)."""
    if exposure not in EXPOSURES:
        raise UserError(f"unknown --exposure {exposure!r}; choose {' or '.join(EXPOSURES)}")
    n, r = len(frames), spec.radius
    stride = spec.step if exposure == "shutter" else 1
    if spec.kind == "kernel":
        centres = list(range(0, n, stride))
        out = []
        for c in centres:
            rng = np.random.default_rng([seed, zlib.crc32(clip_id.encode()), c])
            out.append(blur.apply_kernel(frames[c], blur.motion_kernel(spec.size, rng)))
        return centres, out, [1.0] * len(centres)
    centres = list(range(r, n - r, stride))
    if len(centres) < 2:
        raise UserError(f"{clip_id}: {n} frames are too few for blur {spec.name} with --exposure {exposure} "
                        f"(raise --max-frames)")
    if spec.kind == "motion":
        from streamdeblur.data.exposure import ExposureSynth

        synth = ExposureSynth(frames)
        length = spec.speed * spec.shutter
        out = []
        for c in centres:
            synth.forget_before(int(np.floor(c - length / 2)))
            out.append(synth.exposure(c, length, subframes=8))
        return centres, out, [length] * len(centres)
    lengths: list[float] = []
    for c in centres:
        if spec.kind == "pravg":
            lengths.append(spec.size)
            continue
        lengths.append(_vla_length(frames, faces, c, r))
    out = [blur.average_frames(frames[c - int(L) // 2:c + int(L) // 2 + 1]) for c, L in zip(centres, lengths)]
    return centres, out, lengths


def _vla_length(frames: list[np.ndarray], faces: list[Any], c: int, r: int, size: int = 64) -> int:
    """VLA window length around frame c, grown on the face crops of a common geometry (1 if no face)."""
    from streamdeblur.faces.crops import box_matrix, extract_crop

    if faces[c] is None:
        return 1
    m = box_matrix(faces[c].box, size)
    offsets = range(c - r, c + r + 1)
    crops = [extract_crop(frames[k], m, size) if faces[k] is not None else None for k in offsets]
    boxes = [faces[k].box if faces[k] is not None else None for k in offsets]
    return blur.grow_vla(crops, boxes, r).length


@dataclass
class ClipRun:
    """One clip under one blur type: every method's frames (aligned with the sharp centre frames)."""

    group: str
    centres: list[int]
    frames: dict[str, list[np.ndarray]]
    fps: dict[str, float]
    gating: dict[str, tuple[float | None, int, int]] = field(default_factory=dict)  # gate level, gated, faces


def _to_frame(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    inverse = cv2.invertAffineTransform(matrix)
    return np.asarray(points, np.float64) @ inverse[:, :2].T + inverse[:, 2]


# faces under this share of their clip's 90th-percentile face sharpness (video_pairs.sharp_floor) are blurred in the
# source itself. Lower than adapt's 0.7, which picks training targets and loses little by being strict: here every
# face left out is a face not scored. On four held-out clips' first 100 frames 0.6 leaves out 19, 13, 5 and 0: the
# 19 are the three stretches where one clip's head turns (1000-1270 against 1700-2400 elsewhere), on which an engine
# adapted to that face lost 10 dB each while visibly sharpening them; 0.7 also took 60 faces of a clip whose
# sharpness swings with its encoder's frame types, 0.5 missed five of the 19 (engines/naf-hd/NOTES.md, session 37)
SHARP_TRUTH = 0.6


def soft_truths(frames: list[np.ndarray], faces: list[Any], share: float = SHARP_TRUTH) -> set[int]:
    """The frames whose face is blurred in the clip itself (under video_pairs.sharp_floor(share) of the clip's
    faces): no truth to score a deblurrer against, as restoring their real blur counts as error. share 0: none."""
    from streamdeblur.data.video_pairs import PairOptions, face_sharpness, sharp_floor

    if share <= 0:
        return set()
    sharpness = {i: face_sharpness(frames[i], f.box, f.landmarks, PairOptions.margin)
                 for i, f in enumerate(faces) if f is not None}
    floor = sharp_floor(list(sharpness.values()), share)
    return {i for i, value in sharpness.items() if value < floor}


def evaluate_video(video: str | Path, blurs: str | list[BlurSpec], options: EvalOptions, max_frames: int | None = 60,
                   crop_size: int = 160, min_face: float = 48.0, exposure: str = "sliding",
                   sharp_truth: float | None = None) -> dict[str, Any]:
    """Evaluate models and baselines end to end on blurred versions of clips; writes the report. Faces blurred in
    the source itself are not scored (soft_truths; sharp_truth: the share, default SHARP_TRUTH)."""
    from streamdeblur.faces.crops import alignment_matrix, extract_crop
    from streamdeblur.pipeline import ProcessOptions, process

    check_folder(options.output, "-o")
    specs = parse_blurs(blurs) if isinstance(blurs, str) else list(blurs)
    clips = find_clips(video)
    models = model_weights(options)
    scorer = Scorer.create(options.landmarker, options.embedder, options.detector)
    engines = {label: build_engine(name, w, options) for (name, w), label in zip(models, method_labels(models))}
    method_names = [BLURRED, *engines, *([UNSHARP] if options.baselines else []), SHARP]
    samples: list[PairSample] = []
    refs: list[FaceRef] = []
    rows: dict[str, list[tuple[int, dict]]] = {m: [] for m in method_names}
    outputs: dict[str, dict[int, np.ndarray]] = {m: {} for m in method_names}
    temporal: dict[tuple[str, str], dict[str, list[float]]] = {}
    gating: dict[str, list] = {}
    share = SHARP_TRUTH if sharp_truth is None else sharp_truth
    left_out = [0, 0]  # faces not scored as their source is blurred, faces found
    with tempfile.TemporaryDirectory(prefix="streamdeblur-eval-") as tmp, progress_bars(options.quiet) as task:
        work = Path(tmp)
        for clip in clips:
            frames, fps = read_frames(clip, max_frames)
            advance = task(f"faces in {clip.name}", len(frames))
            faces = []
            for image in frames:
                faces.append(largest_face(scorer.detector.detect(image), min_face))
                advance(1)
            if not any(f is not None for f in faces):
                raise UserError(f"no faces of at least {min_face:.0f} px found in {clip}: choose a clip with a face")
            soft = soft_truths(frames, faces, share)
            left_out[0] += len(soft)
            left_out[1] += sum(f is not None for f in faces)
            for spec in specs:
                run = _run_clip(clip, frames, faces, fps, spec, engines, options, work, process, ProcessOptions, task,
                                exposure)
                advance = task(f"scoring {clip.stem} {spec.name}", len(run.centres))
                sequences: dict[str, list[np.ndarray | None]] = {m: [] for m in method_names}
                diagonals: list[float] = []
                for j, c in enumerate(run.centres):
                    face = None if c in soft else faces[c]
                    if face is None:
                        for m in method_names:
                            sequences[m].append(None)
                        diagonals.append(1.0)
                        advance(1)
                        continue
                    matrix = alignment_matrix(face.landmarks, crop_size)
                    sharp_crop = extract_crop(frames[c], matrix, crop_size)
                    points5 = _to_crop(face.landmarks, matrix)
                    ref = scorer.reference(sharp_crop, points5=points5)
                    i = len(samples)
                    blurred_crop = extract_crop(run.frames[BLURRED][j], matrix, crop_size)
                    samples.append(PairSample(f"{clip.stem}:{c}", spec.name, clip.stem, blurred_crop, sharp_crop,
                                              {"clip": str(clip), "frame": c}))
                    refs.append(ref)
                    diagonals.append(metrics.box_diagonal(metrics.landmark_box(_to_frame(ref.landmarks, matrix)))
                                     if ref.landmarks is not None else 1.0)
                    for m in method_names:
                        crop = sharp_crop if m == SHARP else extract_crop(run.frames[m][j], matrix, crop_size)
                        row = scorer.score(crop, sharp_crop, ref)
                        rows[m].append((i, row))
                        outputs[m][i] = crop
                        sequences[m].append(_to_frame(row["landmarks"], matrix) if "landmarks" in row else None)
                    advance(1)
                _temporal(run, frames, faces, sequences, diagonals, temporal)
                for name, (level, gated, seen) in run.gating.items():
                    g = gating.setdefault(name, [level, 0, 0])
                    g[1] += gated
                    g[2] += seen
    groups = sorted({s.group for s in samples}, key=group_order)
    extra = _temporal_rows(temporal, method_names, groups)
    settings = {"source": [str(c) for c in clips], "models": {n: getattr(e, "name", "?") for n, e in engines.items()},
                "embedder": getattr(scorer.embedder, "name", None),
                "landmarker": getattr(scorer.landmarker, "name", None), "detector": options.detector,
                "seed": options.seed, "blur": [s.name for s in specs], "max_frames": max_frames, "exposure": exposure,
                "crop_size": crop_size, "min_face": min_face, "sharp_truth": share,
                "soft_truths_left_out": left_out[0],
                "gating": {name: {"gate": g[0], "gated": g[1], "faces": g[2]} for name, g in gating.items()}}
    notes = list(scorer.notes) + [
        f"exposure {exposure}: " + ("consecutive blurred frames share no source frame (shutter)" if exposure ==
                                    "shutter" else "a blurred frame around every source frame (sliding windows)"),
        "video mode: whole frames are blurred and encoded losslessly (x264 qp 0, yuv420p), run through "
        "`process`, and face crops of every method are cut with the sharp frame's alignment; 'blurred' is the "
        "blurred video after `process` with the pass-through engine (the same encode/decode steps as the models)",
        f"sharp truth: {left_out[0]} of {left_out[1]} source faces were not scored, being blurred in the source "
        f"itself (face sharpness under {share:g} of its clip's 90th percentile; --sharp-truth 0 scores them all)",
        "gating in `process` (each engine card's level): " + "; ".join(
            f"{name}: " + (f"gate {level:g}, {gated / max(seen, 1):.0%} of {seen} faces left unchanged"
                           if level is not None else "no gate") for name, (level, gated, seen) in gating.items()),
        "temporal NME: mean over consecutive frames of |landmark motion(output) - motion(sharp)| / box diagonal; "
        "flicker: mean |Y(t+1) - warp(Y(t))| in the face box, warped with the SHARP video's DIS flow (the oracle "
        "row is the floor set by flow error); flicker not in the sharp video: the same of the change minus the sharp "
        "video's change (0 for the oracle: sharpening that follows the truth raises the first, not this)",
    ]
    report = build_report("video", samples, method_names, rows, {}, refs, outputs, options, settings, notes, extra)
    paths = write_report(report, options.output)
    return {"report": {k: str(v) for k, v in paths.items()}, "rows": report.rows, "notes": report.notes}


def _to_crop(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return (np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def _run_clip(clip: Path, frames: list[np.ndarray], faces: list[Any], fps: Fraction, spec: BlurSpec,
              engines: dict[str, Any], options: EvalOptions, work: Path, process: Callable, process_options: Any,
              task: Callable, exposure: str = "sliding") -> ClipRun:
    """Blur the clip, write it, run every engine through `process`, decode the results."""
    centres, blurred, _ = blur_video(frames, faces, spec, options.seed, clip.stem, exposure)
    stem = f"{clip.stem}_{spec.name.replace(':', '')}"
    blurred_path = write_video(work / f"{stem}_blurred.mp4", blurred, fps)
    result_frames: dict[str, list[np.ndarray]] = {}
    fps_by_method: dict[str, float] = {}
    gating: dict[str, tuple[float | None, int, int]] = {}
    # 'blurred' goes through `process` with the pass-through engine, so it crosses the same encode and
    # decode steps as every model (each BGR -> yuv420p -> BGR round trip shifts colours a little)
    from streamdeblur.backends import create_engine

    for name, engine in [(BLURRED, create_engine("identity")), *engines.items()]:
        advance = task(f"process {stem} with {name}", len(blurred))
        out_path = work / f"{stem}_out_{name.split()[0].replace('/', '_')}.mp4"
        popts = process_options(model="identity" if name == BLURRED else engine.model, detector=options.detector,
                                lossless=True, batch_size=options.batch_size, gate=None if options.gate else 0.0)
        summary = process(str(blurred_path), str(out_path), popts, engine=engine,
                          progress=lambda done, total: advance(1))
        if summary.get("interrupted"):  # Ctrl-C: the pipeline stopped early and closed its output; so does eval
            raise KeyboardInterrupt
        if name != BLURRED:
            fps_by_method[name] = float(summary.get("fps", math.nan))
            gating[name] = (summary.get("gate"), int(summary.get("gated", 0)), int(summary.get("faces", 0)))
        result_frames[name] = read_frames(out_path, None)[0]
        if len(result_frames[name]) != len(blurred):
            raise UserError(f"process returned {len(result_frames[name])} frames for {len(blurred)}")
    if options.baselines:  # filtered like ffmpeg would, then encoded once, as a user would get it
        sharpened = [baselines.unsharp_mask(f) for f in read_frames(blurred_path, None)[0]]
        result_frames[UNSHARP] = read_frames(write_video(work / f"{stem}_unsharp.mp4", sharpened, fps), None)[0]
    return ClipRun(spec.name, centres, result_frames, fps_by_method, gating)


def _temporal(run: ClipRun, frames: list[np.ndarray], faces: list[Any], sequences: dict[str, list],
              diagonals: list[float], out: dict[tuple[str, str], dict[str, list[float]]]) -> None:
    """Temporal landmark error and flow-warped flicker of every method on one clip run."""
    sharp_seq = sequences[SHARP]
    flows: dict[int, np.ndarray] = {}
    for j in range(len(run.centres) - 1):
        a, b = run.centres[j], run.centres[j + 1]
        if faces[a] is not None and faces[b] is not None and blur.box_iou(faces[a].box, faces[b].box) > 0.3:
            flows[j] = metrics.dis_flow(frames[a], frames[b])
    entries = {method: out.setdefault((method, run.group), {key: [] for key, _, _ in VIDEO_COLUMNS})
               for method in sequences}
    for method, seq in sequences.items():
        steps = [metrics.temporal_landmark_error(seq[j:j + 2], sharp_seq[j:j + 2], diagonals[j:j + 2])
                 for j in flows]  # only steps between frames showing the same face
        finite = [v for v in steps if math.isfinite(v)]
        if finite:
            entries[method]["temporal_nme"].append(float(np.mean(finite)))
    for j, flow in flows.items():  # each method's change warped once, the sharp video's once per step
        a, b = run.centres[j], run.centres[j + 1]
        truth = metrics.warped_change(frames[a], frames[b], flow)
        x1, y1, x2, y2 = faces[b].box.astype(int)
        mask = np.zeros(truth.shape, bool)
        mask[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = True
        for method, entry in entries.items():
            change = truth if method == SHARP else metrics.warped_change(run.frames[method][j],
                                                                         run.frames[method][j + 1], flow)
            entry["warp_diff"].append(metrics.masked_mean(np.abs(change), mask))
            entry["warp_diff_err"].append(metrics.masked_mean(np.abs(change - truth), mask))
    for method, entry in entries.items():
        if method in run.fps:
            entry["fps"].append(run.fps[method])


def _temporal_rows(temporal: dict, methods: list[str], groups: list[str]) -> dict[tuple[str, str], dict]:
    """Mean temporal numbers per (method, blur type), and over all blur types."""
    def mean(values: list[float]) -> float:
        finite = [v for v in values if math.isfinite(v)]
        return float(np.mean(finite)) if finite else math.nan

    rows = {}
    for method in methods:
        pooled: dict[str, list[float]] = {key: [] for key, _, _ in VIDEO_COLUMNS}
        for group in groups:
            entry = temporal.get((method, group))
            if entry is None:
                continue
            rows[(method, group)] = {k: mean(v) for k, v in entry.items()}
            for k, v in entry.items():
                pooled[k] += v
        rows[(method, "all")] = {k: mean(v) for k, v in pooled.items()}
    return rows
