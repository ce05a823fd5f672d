"""Command line: parses options and calls one library function per subcommand. No logic here.

Each subcommand has its own section; user mistakes surface as UserError -> one line, exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from streamdeblur import DEFAULT_MODEL
from streamdeblur.errors import StdoutClosed, UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Remove motion blur from faces in video: process, make-pairs, train, eval, bench, export, demo.",
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"streamdeblur: error: {message}", err=True)
    raise typer.Exit(code)


def check_writable_file(path: Path, option: str) -> None:
    """UserError now (before any work) when a side file cannot be written later."""
    import os

    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"{option} {path} is a directory; give a file name")
    if not parent.is_dir():
        raise UserError(f"{option}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"{option}: cannot write {path} (permission denied)")


def _model_names() -> list[str]:
    """Registered model names, for help texts (the registry is the one list)."""
    from streamdeblur.models import list_models

    return list_models()


def _stage_names() -> list[str]:
    from streamdeblur.train.stages import STAGES

    return list(STAGES)


# --- process ---


def _setup_logging(quiet: bool) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="streamdeblur: %(message)s", force=True)


class _ProgressBar:
    """A rich progress bar on stderr, started at the first frame (so errors print alone), only on a tty."""

    def __init__(self, console, enabled: bool) -> None:
        self.console, self.enabled = console, enabled and console.is_terminal
        self.bar = None
        self.started = 0.0

    def __call__(self, done: int, total: Optional[int]) -> None:
        import time

        if not self.enabled:
            return
        now = time.perf_counter()
        if self.bar is None:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self.bar = Progress(TextColumn("[bold]deblur"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[fps]} fps"), TimeElapsedColumn(), TextColumn("ETA"),
                                TimeRemainingColumn(), console=self.console)
            self.task = self.bar.add_task("deblur", total=total, fps="-")
            self.bar.start()
            self.started = now
        fps = f"{done / (now - self.started):.1f}" if now > self.started else "-"
        self.bar.update(self.task, completed=done, total=total, fps=fps)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _run_process(input: str, output: str, options, summary_json: Optional[Path], quiet: bool) -> dict:
    """Run the pipeline with a progress bar on stderr; print the JSON summary to stderr."""
    import json

    from rich.console import Console

    from streamdeblur.pipeline import process

    console = Console(stderr=True)
    bar = _ProgressBar(console, not quiet)
    try:
        summary = process(input, output, options, progress=bar)
    finally:
        bar.close()
    text = json.dumps(summary, indent=2)
    if summary_json is not None:
        summary_json.write_text(text + "\n")
    if not quiet:
        console.print_json(text)
    if summary.get("error"):
        console.print(f"streamdeblur: input stopped early: {summary['error']}")
    return summary


def _popt(name: str, *flags: str) -> Any:
    """A typer option whose default and help come from pipeline.ProcessOptions (declared there once)."""
    from dataclasses import MISSING, fields

    from streamdeblur.pipeline import ProcessOptions

    f = next(f for f in fields(ProcessOptions) if f.name == name)
    default = f.default if f.default is not MISSING else None
    if isinstance(default, bool) and not flags:
        flags = (f"--{name.replace('_', '-')}",)
    return typer.Option(default, *flags, help=f.metadata.get("help", ""))


@app.command()
def process(
    inputs: list[str] = typer.Argument(..., metavar="INPUT...", help="File, '-' (stdin), rtsp://|rtmp://|http(s):// "
                                       "URL, /dev/videoN or webcam:N; or several files and folders (batch, -o OUTDIR)."),
    output: str = typer.Option(None, "-o", "--output", help="Output file, '-' for stdout, a V4L2 loopback device "
                               "(/dev/videoN), or a folder for several inputs (default: INPUT_deblurred.mp4)."),
    model: str = _popt("model"),
    weights: Optional[Path] = _popt("weights"),
    backend: str = _popt("backend"),
    device: str = _popt("device"),
    fp16: bool = _popt("fp16"),
    batch_size: int = _popt("batch_size"),
    detector: str = _popt("detector"),
    detector_model: Optional[str] = _popt("detector_model"),
    detect_every: int = _popt("detect_every"),
    max_faces: Optional[int] = _popt("max_faces"),
    min_face_size: int = _popt("min_face_size"),
    crf: int = _popt("crf"),
    lossless: bool = _popt("lossless"),
    codec: str = _popt("codec"),
    format: Optional[str] = _popt("format", "--format"),
    side_by_side: bool = _popt("side_by_side"),
    faces_only: Optional[Path] = _popt("faces_only"),
    duration: Optional[float] = _popt("duration"),
    decoder: str = _popt("decoder"),
    gate: Optional[float] = _popt("gate", "--gate"),
    no_gate: bool = typer.Option(False, "--no-gate", help="Run the engine on every face (no gating)."),
    report: Optional[Path] = _popt("report", "--report"),
    listen: bool = typer.Option(False, "--listen", help="RTSP: wait for a publisher to push to INPUT."),
    preview: bool = typer.Option(False, "--preview", help="Show the output in a window (needs a display)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar or summary on stderr."),
    summary_json: Optional[Path] = typer.Option(None, help="Write the JSON summary to this file."),
    shard_index: int = typer.Option(0, help="Batch: this job's part of the sorted file list (job arrays)."),
    num_shards: int = typer.Option(1, help="Batch: parts the file list is split into (job arrays)."),
) -> None:
    """Deblur the faces in a video, a pipe, a stream or a camera, or in many files (INPUT... -o OUTDIR)."""
    from streamdeblur.pipeline import ProcessOptions

    _setup_logging(quiet)
    if summary_json is not None:
        check_writable_file(summary_json, "--summary-json")
    if preview:
        typer.echo("streamdeblur: --preview needs a display and OpenCV's GUI build; not available in this "
                   "headless build, continuing without it", err=True)
    options = ProcessOptions(
        model=model, weights=weights, backend=backend, device=device, fp16=fp16, batch_size=batch_size,
        detector=detector, detector_model=detector_model, detect_every=detect_every, max_faces=max_faces,
        min_face_size=min_face_size, crf=crf, lossless=lossless, codec=codec, format=format,
        side_by_side=side_by_side, faces_only=faces_only, duration=duration, decoder=decoder,
        gate=0.0 if no_gate else gate, report=report, source_options={"listen": True} if listen else {},
    )
    if len(inputs) > 1 or Path(inputs[0]).is_dir() or (output is not None and Path(output).is_dir()):
        _run_batch(inputs, output, options, summary_json, quiet, shard_index, num_shards)
        return
    input = inputs[0]
    if output is None:
        if input == "-" or "://" in input or input.startswith(("/dev/", "webcam:")):
            _fail("give an output with -o (a file, or '-' for stdout)")
        output = str(Path(input).with_name(Path(input).stem + "_deblurred.mp4"))
    summary = _run_process(input, output, options, summary_json, quiet or output == "-")
    if summary.get("interrupted"):
        raise typer.Exit(130)


def _run_batch(inputs: list[str], output: Optional[str], options, summary_json: Optional[Path], quiet: bool,
               shard_index: int, num_shards: int) -> None:
    """Many inputs into one folder: one progress bar over files and frames, a closing table, a manifest."""
    import json

    from rich.console import Console

    from streamdeblur.batch import format_table, run_batch

    if output is None or output == "-":
        _fail("several inputs need an output folder: -o OUTDIR")
    for given in inputs:
        if given == "-" or "://" in given or given.startswith(("/dev/", "webcam:")):
            _fail(f"batch mode takes files and folders, not {given}")
    outdir = Path(output)
    if outdir.exists() and not outdir.is_dir():
        _fail(f"several inputs need an output folder, and {outdir} is a file")
    console = Console(stderr=True)
    bar = _BatchBar(console, not quiet)
    try:
        rows = run_batch(inputs, outdir, options, shard_index, num_shards, progress=bar)
    finally:
        bar.close()
    if not quiet:
        console.print(format_table(rows), highlight=False, markup=False)
    if summary_json is not None:
        summary_json.write_text(json.dumps(rows, indent=2) + "\n")
    if any(r["status"] == "failed" for r in rows):
        raise typer.Exit(1)


class _BatchBar:
    """One rich progress bar over the frames of all files of a batch, with the current file and an ETA."""

    def __init__(self, console, enabled: bool) -> None:
        self.console, self.enabled = console, enabled and console.is_terminal
        self.bar = None

    def __call__(self, name: str, done: int, total: Optional[int], files_done: int, files: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("[bold]deblur"), BarColumn(), TextColumn("{task.completed}/{task.total} "
                                "frames, file {task.fields[file]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                TimeRemainingColumn(), console=self.console)
            self.task = self.bar.add_task("batch", total=total, file="")
            self.bar.start()
        self.bar.update(self.task, completed=done, total=total, file=f"{files_done + 1}/{files} {name}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


# --- demo ---


@app.command()
def demo(
    output: Path = typer.Option(Path("demo_deblurred.mp4"), "-o", "--output", help="Where to write the result."),
    model: str = typer.Option(DEFAULT_MODEL, help="Model name from the registry."),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Make a motion-blurred face clip from the shipped portrait and deblur it (before|after side by side)."""
    from streamdeblur.pipeline import ProcessOptions, build_engine
    from streamdeblur.synthetic import make_face_clip

    _setup_logging(quiet)
    options = ProcessOptions(model=model, side_by_side=True)
    build_engine(options)  # fails now, with the no-weights message, before any file is written
    clip = output.with_name(output.stem + "_input.mp4")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        make_face_clip(clip, n=72)
    except OSError as exc:
        _fail(f"cannot write the demo clip {clip}: {exc.strerror or exc}")
    summary = _run_process(str(clip), str(output), options, None, quiet)
    typer.echo(f"wrote {output} (left: blurred input {clip.name}, right: deblurred; "
               f"{summary['faces']} faces in {summary['frames']} frames)", err=True)


# --- make-pairs ---


@app.command("make-pairs")
def make_pairs_command(
    videos: list[Path] = typer.Argument(..., help="Video files and/or directories (searched recursively)."),
    output: Path = typer.Option(..., "-o", "--output", help="Pairs directory (created; re-run to resume)."),
    method: str = typer.Option("vla", help="vla (variable length averaging) | pravg (fixed length) | kernel | "
                               "motion (flow-interpolated exposures of the real motion)."),
    length: str = typer.Option("7", help="PrAvg window length(s), odd, comma-separated (e.g. 7,9,11,15,21)."),
    min_length: int = typer.Option(5, help="VLA: shortest window kept."),
    max_length: int = typer.Option(21, help="VLA: longest window."),
    size: int = typer.Option(256, help="Pair size in pixels (256 or 128)."),
    margin: float = typer.Option(0.4, help="Crop margin around the face (as `process`)."),
    stride: int = typer.Option(4, help="Frames between centre frames."),
    reverse: bool = typer.Option(False, "--reverse", help="Also parse each clip backwards (centres counted from its end)."),
    plain_average: bool = typer.Option(False, "--plain-average", help="Average encoded values, not linear light."),
    min_face: float = typer.Option(64.0, help="Skip faces whose box side is below this (frame pixels)."),
    min_sharpness: float = typer.Option(20.0, help="Skip windows whose sharp frame is blurry (variance of Laplacian, 128 px)."),
    min_motion: float = typer.Option(0.0, help="Skip pairs whose mean |blurry - sharp| is below this (grey levels)."),
    overlap: float = typer.Option(0.4, help="VLA: minimum IoU of the first and last face boxes."),
    similarity: float = typer.Option(0.6, help="VLA: minimum SSIM of the running average vs the middle frame."),
    noise: float = typer.Option(2.0, help="Gaussian noise on blurry images, sigma up to this (grey levels)."),
    speed: str = typer.Option("1,12", help="motion: speed-up range min,max (the clip played this many times faster)."),
    shutter: str = typer.Option("0.25,1", help="motion: shutter range min,max (fraction of the frame interval open)."),
    subframes: str = typer.Option("2,16", help="motion: samples per source frame interval, min,max (<= 1 px steps)."),
    crf: str = typer.Option("18,32", help="motion: x264 CRF range of the re-encode of the blurred crops (0,0: none)."),
    shake: float = typer.Option(0.0, help="motion: probability of a camera-shake kernel on top."),
    frames: int = typer.Option(1, help="motion: K consecutive exposures per pair (odd; K > 1: multi-frame groups)."),
    seed: int = typer.Option(0, help="Seed: the same seed and inputs give the same pairs."),
    max_frames: Optional[int] = typer.Option(None, help="Read at most this many frames per video."),
    workers: int = typer.Option(1, help="Processes, one video each at a time."),
    shard_size: int = typer.Option(1000, help="Pairs per shard (shards close between videos)."),
    val_fraction: float = typer.Option(0.0, help="Fraction of videos put in the val split."),
    val_list: Optional[Path] = typer.Option(None, help="File of video names (one a line) for the val split."),
    shard_index: int = typer.Option(0, help="This job's part of the video list (job arrays)."),
    num_shards: int = typer.Option(1, help="Parts the video list is split into (job arrays)."),
    preview: bool = typer.Option(False, "--preview", help="Also write contact_sheet.png (blurry | sharp | L)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar."),
) -> None:
    """Make blurry/sharp face pairs from real videos (VLA, fixed-length averaging, shake kernels or motion exposures)."""
    from streamdeblur.data.pairs import run_make_pairs

    summary = run_make_pairs(
        videos, output, method=method, length=length, min_length=min_length, max_length=max_length, size=size,
        margin=margin, stride=stride, reverse=reverse, plain_average=plain_average, min_face=min_face,
        min_sharpness=min_sharpness, min_motion=min_motion, overlap=overlap, similarity=similarity, noise=noise,
        speed=speed, shutter=shutter, subframes=subframes, crf=crf, shake=shake, frames=frames, seed=seed, max_frames=max_frames, workers=workers, shard_size=shard_size, val_fraction=val_fraction,
        val_list=str(val_list) if val_list else None, shard_index=shard_index, num_shards=num_shards,
        preview=preview, progress=not quiet,
    )
    t = summary["totals"]
    typer.echo(f"{t['pairs']} pairs {t['pairs_by_split']} from {t['videos_with_pairs']}/{t['videos']} videos "
               f"in {output} ({t['this_run']['new_pairs']} new, {t['this_run']['wall_seconds']} s)", err=True)

# --- train ---


@app.command()
def train(
    data: Optional[Path] = typer.Option(None, "--data", help="Pairs directory from make-pairs (train/ and val/ splits)."),
    config: Optional[Path] = typer.Option(None, "--config", help="JSON config file (e.g. a run's config.json)."),
    set_: list[str] = typer.Option([], "--set", help="Override any config field: key=value (repeatable)."),
    name: Optional[str] = typer.Option(None, help="Run name; the run lives in <cache>/runs/<name> unless --run-dir."),
    model: Optional[str] = typer.Option(None, help=f"Model from the registry: {' | '.join(_model_names())} "
                                        f"(default {DEFAULT_MODEL})."),
    stage: Optional[str] = typer.Option(None, help=f"Training stage: {' | '.join(_stage_names())} (default: the "
                                        "model's own; see train/stages.py)."),
    variant: Optional[str] = typer.Option(None, help="cgan ablation: full | no-hg | single-pathway."),
    steps: Optional[int] = typer.Option(None, help="Train until this many steps in total."),
    batch_size: Optional[int] = typer.Option(None, help="Batch per process."),
    crop_size: Optional[int] = typer.Option(None, help="Training crop side in pixels."),
    lr: Optional[float] = typer.Option(None, help="Adam learning rate."),
    hg_weights: Optional[Path] = typer.Option(None, help="Stage 2: trained HG (checkpoint or .safetensors)."),
    vgg19: Optional[Path] = typer.Option(None, help="VGG19 state dict for the perceptual loss (optional)."),
    identity_model: Optional[Path] = typer.Option(None, help="Face-embedding .onnx/.pt (or folder) for an identity loss."),
    val_data: Optional[Path] = typer.Option(None, help="Pairs directory for validation (default: --data's val split)."),
    run_dir: Optional[Path] = typer.Option(None, help="Where checkpoints, logs and plots go."),
    threads: Optional[int] = typer.Option(None, help="CPU threads for torch (0: torch's default)."),
    device: Optional[str] = typer.Option(None, help="auto | cpu | cuda | cuda:N."),
    seed: Optional[int] = typer.Option(None),
    resume: bool = typer.Option(False, "--resume", help="Continue the run from its last checkpoint, exactly."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar or log lines."),
) -> None:
    """Train a deblurring network on pairs (torchrun-compatible); checkpoints, CSV log and loss.png in the run dir."""
    from streamdeblur.train.config import build_config
    from streamdeblur.train.trainer import default_run_dir
    from streamdeblur.train.trainer import train as run_training

    if resume and config is None:
        found = (run_dir or default_run_dir(name or "run")) / "config.json"
        config = found if found.is_file() else None
    as_str = lambda p: str(p) if p is not None else None  # noqa: E731
    cfg = build_config(config, list(set_), data=as_str(data), name=name, model=model, stage=stage, variant=variant,
                       steps=steps, batch_size=batch_size, crop_size=crop_size, lr=lr, hg_weights=as_str(hg_weights),
                       vgg19=as_str(vgg19), identity_model=as_str(identity_model), val_data=as_str(val_data),
                       run_dir=as_str(run_dir), threads=threads, device=device, seed=seed, quiet=quiet or None)
    _setup_logging(quiet)
    result = run_training(cfg, resume=resume)
    if not quiet:
        typer.echo(f"step {result.step}: checkpoint {result.checkpoint}; log {result.run_dir / 'log.csv'}", err=True)
    if result.interrupted:
        raise typer.Exit(130)


@app.command()
def release(
    run: Path = typer.Argument(..., help="Run directory or checkpoint (.pt) to release."),
    name: str = typer.Argument(..., help="Engine name: written to engines/<name>/."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Folder instead of engines/<name>."),
    metrics: Optional[Path] = typer.Option(None, "--metrics", help="`eval` report (folder or report.json) measured on these weights: copied into the card."),
) -> None:
    """Write a trained run's EMA weights (fp16 safetensors) and its card (with eval metrics) as an engine."""
    from streamdeblur.train.release import release as release_engine

    folder = release_engine(run, name, out_dir=output, metrics=metrics)
    typer.echo(f"wrote {folder}", err=True)


# --- eval ---


@app.command("eval")
def eval_(
    pairs: Optional[Path] = typer.Option(None, "--pairs", help="Pairs directory (from make-pairs) to evaluate on."),
    video: Optional[Path] = typer.Option(None, "--video", help="Clip or directory of clips: blur, process, compare."),
    interpolation: Optional[Path] = typer.Option(None, "--interpolation", help="Clip or directory of clips: check the "
                                                 "motion pairs' frame interpolator against real dropped frames."),
    output: Path = typer.Option(..., "-o", "--output", help="Report directory (report.md, report.json, PNGs)."),
    model: list[str] = typer.Option([], "--model", help="Model name, NAME=WEIGHTS, or 'identity' (repeatable)."),
    weights: list[Path] = typer.Option([], "--weights", help="Weights file, one per --model in order."),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="Blurred, unsharp mask, deconvolution, oracle."),
    blur: str = typer.Option("pravg:7,pravg:11,vla,kernel", help="Video mode: blur types, comma separated: pravg:L, "
                             "vla, kernel[:SIZE], motion:SPEED[:SHUTTER]."),
    exposure: str = typer.Option("sliding", help="Video mode: sliding (a blurred frame around every frame) | shutter "
                                 "(successive blurred frames share no source frame: fair to temporal engines)."),
    embedder: str = typer.Option("dlib", help="Identity embedder: 'dlib', an .onnx path, or 'none'."),
    landmarker: str = typer.Option("dlib", help="68-point landmarker: 'dlib' or 'none'."),
    detector: str = typer.Option("yunet", help="Face detector for the sharp reference faces (and process)."),
    backend: str = typer.Option("auto"),
    device: str = typer.Option("auto"),
    fp16: bool = typer.Option(False, "--fp16"),
    allow_random: bool = typer.Option(False, "--allow-random", help="Run models without weights (plumbing only)."),
    batch_size: int = typer.Option(16, min=1),
    limit: Optional[int] = typer.Option(None, min=1, help="Pairs mode: at most this many faces per blur type."),
    max_frames: int = typer.Option(60, min=3, help="Video mode: frames read from each clip."),
    examples: int = typer.Option(6, min=0, help="Faces in the example grid."),
    seed: int = typer.Option(0),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Measure deblurring like the papers: PSNR/SSIM, landmarks, identity, temporal stability; tables and plots."""
    from streamdeblur.eval.run import EvalOptions, evaluate_pairs
    from streamdeblur.eval.video import evaluate_video

    if sum(x is not None for x in (pairs, video, interpolation)) != 1:
        raise UserError("give exactly one of --pairs PAIRS_DIR, --video CLIP_OR_DIR or --interpolation CLIP_OR_DIR")
    _setup_logging(quiet)
    if interpolation is not None:
        from streamdeblur.eval.interpolation import check_clips
        from streamdeblur.eval.video import find_clips

        overall = check_clips(find_clips(interpolation), output, max_frames=max_frames)["overall"]
        typer.echo(f"interpolated {overall['psnr_interp']:.2f} dB / SSIM {overall['ssim_interp']:.4f}, plain average "
                   f"{overall['psnr_avg']:.2f} dB / {overall['ssim_avg']:.4f} over {overall['triples']} dropped frames; "
                   f"wrote {output / 'interpolation.md'}", err=True)
        return
    options = EvalOptions(output=output, models=list(model), weights=list(weights), baselines=baselines,
                          landmarker=None if landmarker == "none" else landmarker,
                          embedder=None if embedder == "none" else embedder, detector=detector, backend=backend,
                          device=device, fp16=fp16, allow_random=allow_random, batch_size=batch_size, limit=limit,
                          examples=examples, seed=seed, quiet=quiet)
    if pairs is not None:
        result = evaluate_pairs(pairs, options)
    else:
        result = evaluate_video(video, blur, options, max_frames=max_frames, exposure=exposure)
    typer.echo(f"wrote {result['report']['md']}", err=True)


# --- bench ---


@app.command()
def bench(
    resolution: list[str] = typer.Option(["480p", "720p", "1080p"], help="480p | 720p | 1080p (repeatable)."),
    faces: list[str] = typer.Option(["one", "many"], help="one | many (repeatable)."),
    model: str = typer.Option(DEFAULT_MODEL, help="Model to time (random weights if none are released: speed only)."),
    batch_size: int = typer.Option(8),
    threads: int = typer.Option(2, help="CPU threads for torch/onnxruntime/OpenCV."),
    frames: int = typer.Option(60, help="Frames per generated clip."),
    detect_every: int = typer.Option(2, help="Run the detector every N frames (as `process --detect-every`)."),
    only: Optional[list[str]] = typer.Option(None, help="Run only the cases whose label contains this text."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write every figure as JSON here."),
    train: bool = typer.Option(False, "--train", help="Time training steps instead: samples/s of --model at --crop."),
    crop: list[int] = typer.Option([64], help="--train: crop (patch) side in pixels (repeatable)."),
    precision: list[str] = typer.Option(["fp32"], help="--train: fp32 | bf16 (repeatable; bf16 needs native CPU support)."),
    data: Optional[Path] = typer.Option(None, help="--train: a pairs directory, to time the data path too."),
    cache: bool = typer.Option(True, "--cache/--png", help="--train with --data: the decoded uint8 cache, or PNG shards."),
    steps: int = typer.Option(20, help="--train: timed steps (after 3 warm-up steps)."),
) -> None:
    """Time each pipeline stage on generated clips; print end-to-end fps and peak memory (or, with --train,
    training samples/s)."""
    import json

    from streamdeblur.bench import RESOLUTIONS, format_table, run_bench

    if train:
        from streamdeblur.train.bench import bench_training, format_rows

        _setup_logging(True)
        rows = [bench_training(model, c, batch_size, p, steps, threads, str(data) if data else None, cache)
                for c in crop for p in precision]
        typer.echo(format_rows(rows))
        if json_out is not None:
            json_out.write_text(json.dumps(rows, indent=2) + "\n")
        return

    for r in resolution:
        if r not in RESOLUTIONS:
            _fail(f"unknown resolution {r!r}; choose from {', '.join(RESOLUTIONS)}")
    for f in faces:
        if f not in ("one", "many"):
            _fail(f"unknown --faces {f!r}; choose one or many")
    rows = run_bench(resolution, faces, model, batch_size, threads, frames, only, detect_every)
    typer.echo(format_table(rows))
    if json_out is not None:
        json_out.write_text(json.dumps(rows, indent=2) + "\n")


# --- export ---


@app.command()
def export(
    model: str = typer.Argument(DEFAULT_MODEL, help="Model name from the registry."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the .onnx file."),
    weights: Optional[Path] = typer.Option(None, help="Weights file instead of the released ones."),
) -> None:
    """Export a model to ONNX (dynamic batch; checked against PyTorch before it is written)."""
    from streamdeblur.backends import export_onnx

    path = export_onnx(model, output, weights=weights)
    typer.echo(f"wrote {path}", err=True)


@app.command()
def models() -> None:
    """List the registered models, their input size and whether trained weights are here."""
    from streamdeblur.models import get_spec, has_weights, list_models

    for name in list_models():
        spec = get_spec(name)
        state = "weights: yes" if has_weights(name) else "weights: none (train and release first)"
        default = " [default]" if name == DEFAULT_MODEL else ""
        typer.echo(f"{name:16s} {spec.input_size:4d}px  {state:40s} {spec.description}{default}")



def main() -> None:
    """Entry point: run the app, turning UserError into one line on stderr and exit code 2."""
    try:
        app()
    except StdoutClosed:
        import os

        # the reader of our stdout is gone: stop quietly (exit 141, as a Unix tool killed by SIGPIPE reports),
        # and point stdout at /dev/null so the interpreter's final flush does not complain
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(StdoutClosed.exit_code)
    except UserError as exc:
        typer.echo(f"streamdeblur: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("streamdeblur: interrupted", err=True)
        sys.exit(130)
