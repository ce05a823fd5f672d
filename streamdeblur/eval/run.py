"""`streamdeblur eval --pairs`: every method on every blurred crop of a pairs directory, scored
against its sharp crop, grouped by blur type (pravg:L, vla, kernel), written as a report."""

from __future__ import annotations

import math
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from streamdeblur.errors import UserError
from streamdeblur.paths import check_folder
from streamdeblur.eval import baselines
from streamdeblur.eval.motion import track_motion
from streamdeblur.eval.report import EvalReport, write_report
from streamdeblur.eval.scoring import PER_FACE_KEYS, FaceRef, Scorer, summarise
from streamdeblur.faces.flow import recut_stack, recuts

BLURRED, SHARP = "blurred", "sharp (oracle)"
STILL = "still (motion < 1)"


def is_still(sample: "PairSample") -> bool:
    """A pair whose blurred face differs from the sharp one by less than 1 grey level on average."""
    return float(sample.meta.get("motion", float("inf"))) < 1.0


@dataclass
class PairSample:
    """One evaluated pair: the blurred and sharp crops with their metadata."""

    key: str
    group: str  # blur type: 'pravg:7', 'vla', 'kernel', ...
    identity: str  # the source clip (a clip = an identity for rank-1)
    blurred: np.ndarray
    sharp: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    group_frames: np.ndarray | None = None  # K consecutive blurred crops side by side (multi-frame groups)

    def stack(self, frames: int, recut: bool = False) -> np.ndarray | None:
        """The `frames` consecutive blurred crops around this one, stacked on the channel axis (None if absent);
        recut: the others re-cut in this crop's alignment from the group's matrices, as Restorer does for an engine
        that aligns "centre" (None without them)."""
        if frames == 1:
            return self.blurred
        if self.group_frames is None:
            return None
        size = self.blurred.shape[1]
        have = self.group_frames.shape[1] // size
        matrices = self.meta.get("group_matrices") or []
        if have < frames or (recut and len(matrices) != have):
            return None
        first = have // 2 - frames // 2
        stack = np.concatenate([self.group_frames[:, (first + k) * size:(first + k + 1) * size]
                                for k in range(frames)], axis=2)
        return recut_stack(stack, matrices[first:first + frames]) if recut else stack


@dataclass
class Method:
    """A way to restore a batch of blurred crops; returns None for a crop it does not apply to."""

    name: str
    run: Callable[[list[PairSample]], list[np.ndarray | None]]
    batch_size: int = 16


@dataclass
class EvalOptions:
    """What both eval modes share."""

    output: Path
    models: list[str] = field(default_factory=list)
    weights: list[Path] = field(default_factory=list)
    baselines: bool = True
    landmarker: str | None = "dlib"
    embedder: str | None = "dlib"
    detector: str = "yunet"
    backend: str = "auto"
    device: str = "auto"
    fp16: bool = False
    allow_random: bool = False
    batch_size: int = 16
    gate: bool = True  # released engines' own gating (card: settle, and the track-motion gate: every frame in video
    # mode, faces of multi-frame groups in pairs mode)
    limit: int | None = None  # faces per blur type at most
    examples: int = 6
    seed: int = 0
    quiet: bool = False
    command: str = field(default_factory=lambda: shlex.join(["streamdeblur", *sys.argv[1:]]))


# --- reading pairs ---------------------------------------------------------------------------


def blur_group(meta: dict[str, Any]) -> str:
    """Blur type of a pair from its json: 'pravg:L' for fixed-length averaging, else the method name."""
    method = str(meta.get("method", "unknown")).lower()
    if method in ("pravg", "avg", "average", "fixed"):
        length = meta.get("length", meta.get("L"))
        return f"pravg:{int(length)}" if length is not None else "pravg"
    return method


def pair_identity(meta: dict[str, Any], shard: Path) -> str:
    """The source clip of a pair (its identity for rank-1), else the shard's folder."""
    for key in ("clip", "video", "source", "identity"):
        if meta.get(key):
            return Path(str(meta[key])).stem
    return shard.parent.name


def pair_kernel(meta: dict[str, Any]) -> np.ndarray | None:
    """The true blur kernel of a 'kernel' pair in crop pixels, when its json stores it (or its seed)."""
    if meta.get("kernel") is not None:
        kernel = np.asarray(meta["kernel"], np.float32)
        return kernel / kernel.sum() if kernel.ndim == 2 and kernel.sum() > 0 else None
    if meta.get("kernel_seed") is not None and meta.get("kernel_size") is not None:
        from streamdeblur.data.blur import motion_kernel

        return motion_kernel(int(meta["kernel_size"]), np.random.default_rng(int(meta["kernel_seed"])))
    if all(meta.get(k) is not None for k in ("kernel_size", "video_id", "center")):
        return _regenerate_kernel(meta)
    return None


def _regenerate_kernel(meta: dict[str, Any]) -> np.ndarray | None:
    """Redraw a make-pairs kernel from its random stream (data/video_pairs.py: the generator is seeded
    with (seed, crc32(video_id), centre, reverse), draws the size, then the kernel). Accepted only
    when the size drawn equals the stored kernel_size; the seed is meta['seed'] (default 0)."""
    import zlib

    from streamdeblur.data.blur import motion_kernel

    size, pair_size = int(meta["kernel_size"]), int(meta.get("size", 256))
    lo, hi = (max(3, round(k * pair_size / 256)) for k in meta.get("kernel_sizes", (13, 27)))
    rng = np.random.default_rng([int(meta.get("seed", 0)), zlib.crc32(str(meta["video_id"]).encode()),
                                 int(meta["center"]), int(bool(meta.get("reverse", False)))])
    if int(rng.integers(lo, hi + 1)) != size:
        return None
    return motion_kernel(size, rng)


def group_order(group: str) -> tuple[int, float, str]:
    """Sort key of blur types in reports: pravg by length, then vla, kernel, motion by speed, others."""
    kind = group.split(":")[0]
    rank = {"pravg": 0, "vla": 1, "kernel": 2, "motion": 3}.get(kind, 4)
    try:
        length = float(group.split(":")[1])
    except (IndexError, ValueError):
        length = 0.0
    return rank, length, group


def check_pairs_path(pairs_dir: str | Path) -> None:
    """UserError unless pairs_dir is a directory or a tar file (one shard)."""
    import tarfile

    root = Path(pairs_dir)
    if not root.exists():
        raise UserError(f"pairs directory not found: {root}")
    if root.is_file() and not tarfile.is_tarfile(root):
        raise UserError(f"--pairs {root} is a file, not a pairs directory (or one of its .tar shards): give the "
                        "folder `streamdeblur make-pairs` wrote")


def load_pairs(pairs_dir: str | Path, limit: int | None = None, progress: Any = None) -> list[PairSample]:
    """Pairs of every shard under pairs_dir (at most limit per blur type); UserError when there are none."""
    import tarfile

    from streamdeblur.data.shards import find_shards, iter_pairs

    root = Path(pairs_dir)
    check_pairs_path(root)
    shards = find_shards(root)
    if not shards:
        raise UserError(f"no pair shards (*.tar) under {root}: make them with `streamdeblur make-pairs`")
    samples: list[PairSample] = []
    counts: dict[str, int] = {}
    for shard in shards:
        try:
            for key, blurred, sharp, meta, strip in iter_pairs(shard, frames=True):
                group = blur_group(meta)
                if limit is not None and counts.get(group, 0) >= limit:
                    continue
                counts[group] = counts.get(group, 0) + 1
                samples.append(PairSample(key, group, pair_identity(meta, shard), blurred, sharp, meta, strip))
                if progress is not None:
                    progress()
        except (OSError, ValueError, KeyError, tarfile.TarError) as exc:
            raise UserError(f"cannot read pair shard {shard}: {exc}") from exc
    if not samples:
        raise UserError(f"the shards under {root} hold no complete pairs (<key>.blur.png, .sharp.png, .json)")
    return samples


# --- methods ---------------------------------------------------------------------------------


def _resize_all(images: Sequence[np.ndarray], size: int) -> np.ndarray:
    out = []
    for image in images:
        if image.shape[0] != size or image.shape[1] != size:
            interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_CUBIC
            image = cv2.resize(image, (size, size), interpolation=interp)
        out.append(image)
    return np.stack(out)


def engine_method(name: str, engine: Any, batch_size: int, gate: float | None = None,
                  gated: list[int] | None = None) -> Method:
    """A deblur engine as a method. Crops of another size are resized to its input size and, as
    `process` pastes back, only the engine's residual (output minus its input) is resized back and
    added to the original crop, so the resize round trip itself costs nothing. A temporal engine
    (K frames) is given the K consecutive crops of a multi-frame group; pairs without one get None.
    gate: as `process` gates, a face of a multi-frame group whose track moved less than this (crop pixels,
    from the previous exposure) is returned as it came, bit for bit; gated[0] counts them, gated[1] the
    faces that could be gated (those with a group)."""
    frames = int(getattr(engine, "frames", 1))
    recut = recuts(engine)

    def run(batch: list[PairSample]) -> list[np.ndarray | None]:
        groups: dict[tuple[int, int], list[int]] = {}
        stacks = [s.stack(frames, recut) for s in batch]
        out: list[np.ndarray | None] = [None] * len(batch)
        for i, s in enumerate(batch):
            motion = track_motion(s) if gate is not None else None
            if motion is not None and gated is not None:
                gated[1] += 1
            if motion is not None and motion < gate:
                out[i] = s.blurred
                if gated is not None:
                    gated[0] += 1
            elif stacks[i] is not None:
                groups.setdefault(s.blurred.shape[:2], []).append(i)
        for (h, w), idx in groups.items():
            inputs = _resize_all([stacks[i] for i in idx], engine.input_size)
            restored = engine(inputs)
            k = frames // 2
            for i, image, given in zip(idx, restored, inputs[..., 3 * k:3 * k + 3]):
                if image.shape[:2] != (h, w):
                    residual = image.astype(np.float32) - given.astype(np.float32)
                    residual = cv2.resize(residual, (w, h), interpolation=cv2.INTER_CUBIC)
                    image = np.clip(batch[i].blurred.astype(np.float32) + residual + 0.5, 0, 255).astype(np.uint8)
                out[i] = image
        return out

    return Method(name, run, batch_size)


def build_engine(model: str, weights: Path | None, options: EvalOptions) -> Any:
    """The engine of one --model, from the one engine factory ('identity' returns its input)."""
    from streamdeblur.backends import create_engine

    return create_engine(model, backend=options.backend, device=options.device, fp16=options.fp16,
                         weights=weights, allow_random=options.allow_random, batch_size=options.batch_size,
                         settle="card" if options.gate else None)


def card_gate(engine: Any, options: EvalOptions) -> float | None:
    """The track-motion gate level `process` uses for this engine: its card's (the released engine's or its
    folder's, as the settle range; none for a bare weights file), unless --no-gate."""
    level = getattr(engine, "gate", None) if options.gate else None
    return float(level) if level else None


def settle_of(engine: Any) -> list[float] | None:
    """The engine's settle range (LOW, HIGH) in grey levels, or None."""
    from streamdeblur.backends import SettledEngine

    return [engine.low, engine.high] if isinstance(engine, SettledEngine) else None


def model_weights(options: EvalOptions) -> list[tuple[str, Path | None]]:
    """(model, weights) per --model; 'NAME=PATH' or --weights (one per model, in order) give weights."""
    models: list[tuple[str, Path | None]] = []
    for name in options.models:
        path = None
        if "=" in name:
            name, raw = name.split("=", 1)
            path = Path(raw)
        models.append((name, path))
    if options.weights:
        if len(options.weights) != len(models):
            raise UserError("give one --weights per --model (or write --model NAME=WEIGHTS)")
        models = [(name, w) for (name, _), w in zip(models, options.weights)]
    from streamdeblur.models import engine_in_folder

    for name, path in models:
        if path is not None and not path.exists():
            raise UserError(f"weights for {name!r} not found: {path} (give a .safetensors file or an engine folder)")
        engine_in_folder(name, path)  # a folder must hold an engine (UserError otherwise)
    return models


def method_labels(models: list[tuple[str, Path | None]]) -> list[str]:
    """A row label per --model: its name, or where one name is given more than once (two sets of weights of
    one model) NAME@FOLDER of the weights, or of the engine folder (NAME@released for the shipped ones), numbered
    if still alike."""
    names = [name for name, _ in models]

    def folder(path: Path | None) -> str:
        return "released" if path is None else path.name if path.is_dir() else path.parent.name

    labels = [name if names.count(name) == 1 else f"{name}@{folder(path)}" for name, path in models]
    return [label if labels.count(label) == 1 else f"{label}#{labels[:i].count(label) + 1}"
            for i, label in enumerate(labels)]


def baseline_methods(kernel_groups: bool) -> list[Method]:
    """Unsharp mask always; Wiener and Richardson-Lucy when some pairs carry their true kernel."""

    def unsharp(batch: list[PairSample]) -> list[np.ndarray | None]:
        return [baselines.unsharp_mask(s.blurred) for s in batch]

    def deconvolve(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable:
        def run(batch: list[PairSample]) -> list[np.ndarray | None]:
            out = []
            for s in batch:
                kernel = pair_kernel(s.meta) if s.group.startswith("kernel") else None
                out.append(fn(s.blurred, kernel) if kernel is not None else None)
            return out

        return run

    methods = [Method("unsharp (ffmpeg default)", unsharp)]
    if kernel_groups:
        methods += [Method("wiener (true kernel)", deconvolve(baselines.wiener_deconvolve)),
                    Method("richardson-lucy (true kernel)", deconvolve(baselines.richardson_lucy))]
    return methods


# --- progress ----------------------------------------------------------------------------------


def progress_bars(quiet: bool):  # noqa: ANN201 - see streamdeblur.progress.task_bars
    """task(description, total) -> advance(n) bars unless quiet (streamdeblur.progress.task_bars)."""
    from streamdeblur.progress import task_bars

    return task_bars(not quiet)


# --- the pairs mode ----------------------------------------------------------------------------


def _template(size: int) -> np.ndarray:
    from streamdeblur.faces.crops import template_points

    return template_points(size).astype(np.float32)


def score_methods(samples: list[PairSample], methods: list[Method], scorer: Scorer, refs: list[FaceRef],
                  task: Callable) -> tuple[dict, dict, dict]:
    """Run and score every method on every sample: (per-face rows, crops/s, example outputs)."""
    rows: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    speed: dict[str, float] = {}
    outputs_kept: dict[str, dict[int, np.ndarray]] = {}
    for method in methods:
        advance = task(f"{method.name}", len(samples))
        rows[method.name] = []
        outputs_kept[method.name] = {}
        seconds, count = 0.0, 0
        for start in range(0, len(samples), method.batch_size):
            batch = samples[start:start + method.batch_size]
            t0 = time.perf_counter()
            outputs = method.run(batch)
            seconds += time.perf_counter() - t0
            for offset, (sample, output) in enumerate(zip(batch, outputs)):
                i = start + offset
                if output is None:
                    continue
                count += 1
                rows[method.name].append((i, scorer.score(output, sample.sharp, refs[i])))
                outputs_kept[method.name][i] = output
            advance(len(batch))
        speed[method.name] = count / seconds if seconds > 0 and count else math.nan
    return rows, speed, outputs_kept


def pick_examples(samples: list[PairSample], count: int, seed: int) -> list[int]:
    """Indices of up to count samples spread over the blur types (seeded)."""
    rng = np.random.default_rng(seed)
    by_group: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        by_group.setdefault(s.group, []).append(i)
    picks: list[int] = []
    pools = {g: list(rng.permutation(v)) for g, v in sorted(by_group.items(), key=lambda kv: group_order(kv[0]))}
    while len(picks) < count and any(pools.values()):
        for pool in pools.values():
            if pool and len(picks) < count:
                picks.append(int(pool.pop(0)))
    return picks


def build_report(mode: str, samples: list[PairSample], methods: list[str], rows: dict, speed: dict,
                 refs: list[FaceRef], outputs: dict, options: EvalOptions, settings: dict[str, Any],
                 notes: list[str], extra_rows: dict[tuple[str, str], dict] | None = None) -> EvalReport:
    """Summaries per (method, blur type) and over all, per-face values, example grid."""
    groups = sorted({s.group for s in samples}, key=group_order)
    all_groups = groups + (["all"] if len(groups) > 1 else [])
    if any(is_still(s) for s in samples):
        all_groups.append(STILL)  # faces that were already sharp, pooled over blur types: an engine must spare them

    def member(i: int, group: str) -> bool:
        return group == "all" or (is_still(samples[i]) if group == STILL else samples[i].group == group)

    table, per_face = [], {}
    for method in methods:
        per_face[method] = {}
        for group in all_groups:
            chosen = [(i, r) for i, r in rows.get(method, []) if member(i, group)]
            if not chosen:
                continue
            if group == "all":
                summary = summarise([r for _, r in chosen], [samples[i].identity for i, _ in chosen],
                                    [refs[i].embedding for i, _ in chosen])
                parts = [row for row in table if row["method"] == method and row["group"] != "all"]
                ranks = [(p["rank1"], p["n"]) for p in parts if math.isfinite(p["rank1"])]
                summary["rank1"] = (sum(r * n for r, n in ranks) / sum(n for _, n in ranks)) if ranks else math.nan
            else:
                summary = summarise([r for _, r in chosen], [samples[i].identity for i, _ in chosen],
                                    [refs[i].embedding for i, _ in chosen])
            summary.update(method=method, group=group, crops_per_s=speed.get(method, math.nan))
            if extra_rows and (method, group) in extra_rows:
                summary.update(extra_rows[(method, group)])
            table.append(summary)
            per_face[method][group] = {k: [r[k] for _, r in chosen] for k in PER_FACE_KEYS}
            per_face[method][group]["key"] = [samples[i].key for i, _ in chosen]
    examples = []
    for i in pick_examples(samples, options.examples, options.seed):
        images = {m: outputs[m][i] for m in methods if i in outputs.get(m, {})}
        examples.append({"group": samples[i].group, "label": f"{samples[i].group}\n{samples[i].identity}"[:40],
                         "images": images})
    n_detected = sum(r.detected for r in refs)
    settings = {**settings, "faces": len(samples), "faces_with_detected_geometry": n_detected}
    if n_detected < len(refs):
        notes = notes + [f"{len(refs) - n_detected} of {len(refs)} sharp faces were not found by the detector; "
                         "their landmarks and embeddings use the crop's alignment template instead"]
    return EvalReport(mode=mode, command=options.command, settings=settings, methods=methods, groups=all_groups,
                      rows=table, samples=per_face, examples=examples, notes=notes,
                      gain_by_input=gain_rows(samples, methods, rows))


def gain_rows(samples: list[PairSample], methods: list[str], rows: dict) -> list[dict[str, Any]]:
    """eval/breakdown.py's table: each restoring method's per-face PSNR gain, by the blurred face's PSNR."""
    from streamdeblur.eval import breakdown

    def per_face(method: str) -> list[float]:
        values = [math.nan] * len(samples)
        for i, r in rows.get(method, []):
            values[i] = float(r.get("psnr_rgb", math.nan))
        return values

    restored = {m: per_face(m) for m in methods if m not in (BLURRED, SHARP)}
    if BLURRED not in rows or not restored:
        return []
    return breakdown.gain_by_input(per_face(BLURRED), restored, [breakdown.condition(s.meta) for s in samples])


def evaluate_pairs(pairs_dir: str | Path, options: EvalOptions) -> dict[str, Any]:
    """Evaluate models and baselines on a pairs directory; writes the report, returns its paths and rows."""
    check_folder(options.output, "-o")
    models = model_weights(options)
    if not models and not options.baselines:
        raise UserError("nothing to evaluate: give --model NAME (or 'identity') or keep --baselines")
    check_pairs_path(pairs_dir)  # before the models load
    scorer = Scorer.create(options.landmarker, options.embedder, options.detector)
    with progress_bars(options.quiet) as task:
        samples = load_pairs(pairs_dir, options.limit, task("reading pairs", None))
        crop_size = samples[0].sharp.shape[0]
        methods: list[Method] = [Method(BLURRED, lambda batch: [s.blurred for s in batch])]
        engines, gating = {}, {}
        for (name, weights), label in zip(models, method_labels(models)):
            engine = build_engine(name, weights, options)
            gate = card_gate(engine, options)
            engines[label] = {"engine": getattr(engine, "name", "?"), "input_size": engine.input_size,
                              "weights": str(weights) if weights else None, "settle": settle_of(engine), "gate": gate}
            gating[label] = [0, 0]
            methods.append(engine_method(label, engine, options.batch_size, gate, gating[label]))
        notes = list(scorer.notes)
        kernel_pairs = [s for s in samples if s.group.startswith("kernel")]
        if options.baselines:
            with_kernel = [s for s in kernel_pairs if pair_kernel(s.meta) is not None]
            methods += baseline_methods(bool(with_kernel))
            if kernel_pairs and not with_kernel:
                notes.append("Wiener / Richardson-Lucy skipped: the kernel pairs' json stores no kernel")
        methods.append(Method(SHARP, lambda batch: [s.sharp for s in batch]))
        advance = task("sharp faces (reference)", len(samples))
        refs = []
        for s in samples:
            refs.append(scorer.reference(s.sharp, fallback_points5=_template(s.sharp.shape[0])))
            advance(1)
        rows, speed, outputs = score_methods(samples, methods, scorer, refs, task)
    speed[BLURRED] = speed[SHARP] = math.nan
    for label, (left, could) in gating.items():
        if engines[label]["gate"] is not None:
            engines[label]["gated"] = left
            notes.append(f"{label}: {left} of {could} faces of multi-frame groups gated as `process` gates them (track "
                         f"motion under {engines[label]['gate']:g} crop px) and left as they came; --no-gate: none")
    settings = {"source": str(pairs_dir), "models": engines, "embedder": getattr(scorer.embedder, "name", None),
                "landmarker": getattr(scorer.landmarker, "name", None), "detector": options.detector,
                "seed": options.seed, "limit_per_blur_type": options.limit, "crop_size": crop_size}
    report = build_report("pairs", samples, [m.name for m in methods], rows, speed, refs, outputs, options,
                          settings, notes)
    paths = write_report(report, options.output)
    return {"report": {k: str(v) for k, v in paths.items()}, "rows": report.rows, "notes": report.notes}
