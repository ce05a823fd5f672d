"""Command line: parses options and calls one library function per subcommand. No logic here.

Each subcommand has its own section; user mistakes surface as UserError -> one line, exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from streamdeblur.errors import UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Remove motion blur from faces in video: process, make-pairs, train, eval, bench, export, demo.",
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"streamdeblur: error: {message}", err=True)
    raise typer.Exit(code)


# --- process ---


def _setup_logging(quiet: bool) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="streamdeblur: %(message)s", force=True)


def _run_process(input: str, output: str, options, summary_json: Optional[Path], quiet: bool) -> dict:
    """Run the pipeline with a progress bar on stderr; print the JSON summary to stderr."""
    import json

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from streamdeblur.pipeline import process

    console = Console(stderr=True)
    columns = [TextColumn("[bold]deblur"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[fps]} fps"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=console, disable=quiet, transient=False) as bar:
        task = bar.add_task("deblur", total=None, fps="-")
        started = [0.0]

        def tick(done: int, total: Optional[int]) -> None:
            import time

            now = time.perf_counter()
            if not started[0]:
                started[0] = now
            fps = f"{done / (now - started[0]):.1f}" if now > started[0] else "-"
            bar.update(task, completed=done, total=total, fps=fps)

        summary = process(input, output, options, progress=tick)
    text = json.dumps(summary, indent=2)
    if summary_json is not None:
        summary_json.write_text(text + "\n")
    if not quiet:
        console.print_json(text)
    if summary.get("error"):
        console.print(f"streamdeblur: input stopped early: {summary['error']}")
    return summary


@app.command()
def process(
    input: str = typer.Argument(..., help="File, '-' (stdin), rtsp://|rtmp://|http(s):// URL, /dev/videoN or webcam:N."),
    output: str = typer.Option(None, "-o", "--output", help="Output file, or '-' for stdout (default: INPUT_deblurred.mp4)."),
    model: str = typer.Option("fast", help="Model name from the registry (see `streamdeblur models`)."),
    weights: Optional[Path] = typer.Option(None, help="Weights file (.safetensors) instead of the released ones."),
    backend: str = typer.Option("auto", help="auto | torch | onnxruntime | tensorrt."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N."),
    fp16: bool = typer.Option(False, "--fp16", help="Half precision (GPU)."),
    batch_size: int = typer.Option(8, help="Face crops per engine call (across faces and frames)."),
    detector: str = typer.Option("yunet", help="yunet (embedded) | scrfd (insightface pack) | none."),
    detector_model: Optional[str] = typer.Option(None, help="Detector .onnx file (scrfd)."),
    detect_every: int = typer.Option(1, help="Run the detector every N frames; track in between."),
    max_faces: Optional[int] = typer.Option(None, help="Process at most this many faces per frame (largest first)."),
    min_face_size: int = typer.Option(24, help="Ignore faces smaller than this (pixels)."),
    crf: int = typer.Option(18, help="x264/x265 quality: lower is better (0-51)."),
    lossless: bool = typer.Option(False, "--lossless", help="Lossless video encoding."),
    codec: str = typer.Option("libx264", help="Video encoder: libx264 | libx265 | mpeg4 | ..."),
    format: Optional[str] = typer.Option(None, "--format", help="Output container (needed for '-o -': mpegts, matroska)."),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Write before|after side by side."),
    faces_only: Optional[Path] = typer.Option(None, help="Also write each track's deblurred crops as PNGs here."),
    duration: Optional[float] = typer.Option(None, help="Stop after this many seconds of input (cameras, streams)."),
    decoder: str = typer.Option("pyav", help="pyav | decord (files only)."),
    listen: bool = typer.Option(False, "--listen", help="RTSP: wait for a publisher to push to INPUT."),
    preview: bool = typer.Option(False, "--preview", help="Show the output in a window (needs a display)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar or summary on stderr."),
    summary_json: Optional[Path] = typer.Option(None, help="Write the JSON summary to this file."),
) -> None:
    """Deblur the faces in a video, a pipe, a stream or a camera."""
    from streamdeblur.pipeline import ProcessOptions

    _setup_logging(quiet)
    if output is None:
        if input == "-" or "://" in input or input.startswith(("/dev/", "webcam:")):
            _fail("give an output with -o (a file, or '-' for stdout)")
        output = str(Path(input).with_name(Path(input).stem + "_deblurred.mp4"))
    if preview:
        typer.echo("streamdeblur: --preview needs a display and OpenCV's GUI build; not available in this "
                   "headless build, continuing without it", err=True)
    options = ProcessOptions(
        model=model, weights=weights, backend=backend, device=device, fp16=fp16, batch_size=batch_size,
        detector=detector, detector_model=detector_model, detect_every=detect_every, max_faces=max_faces,
        min_face_size=min_face_size, crf=crf, lossless=lossless, codec=codec, format=format,
        side_by_side=side_by_side, faces_only=faces_only, quiet=quiet, duration=duration, decoder=decoder,
        source_options={"listen": True} if listen else {},
    )
    summary = _run_process(input, output, options, summary_json, quiet or output == "-")
    if summary.get("interrupted"):
        raise typer.Exit(130)


# --- demo ---


@app.command()
def demo(
    output: Path = typer.Option(Path("demo_deblurred.mp4"), "-o", "--output", help="Where to write the result."),
    model: str = typer.Option("fast", help="Model name from the registry."),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Make a motion-blurred face clip from the shipped portrait and deblur it (before|after side by side)."""
    from streamdeblur.pipeline import ProcessOptions, build_engine
    from streamdeblur.synthetic import make_face_clip

    _setup_logging(quiet)
    options = ProcessOptions(model=model, side_by_side=True, quiet=quiet)
    build_engine(options)  # fails now, with the no-weights message, before any file is written
    clip = output.with_name(output.stem + "_input.mp4")
    make_face_clip(clip, n=72)
    summary = _run_process(str(clip), str(output), options, None, quiet)
    typer.echo(f"wrote {output} (left: blurred input {clip.name}, right: deblurred; "
               f"{summary['faces']} faces in {summary['frames']} frames)", err=True)


# --- make-pairs ---

# --- train ---

# --- eval ---

# --- bench ---

# --- export ---


def main() -> None:
    """Entry point: run the app, turning UserError into one line on stderr and exit code 2."""
    try:
        app()
    except UserError as exc:
        typer.echo(f"streamdeblur: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("streamdeblur: interrupted", err=True)
        sys.exit(130)
