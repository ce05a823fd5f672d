"""`process` (one input, or many into a folder) and `demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from streamdeblur import DEFAULT_MODEL
from streamdeblur.cli import _fail, _setup_logging, app, check_writable_file, dataclass_option
from streamdeblur.errors import Terminated
from streamdeblur.paths import check_folder
from streamdeblur.train.adapt import AdaptOptions


def _run_process(input: str, output: str, options, summary_json: Optional[Path], quiet: bool, engine=None,
                 adapting=None) -> dict:
    """Run the pipeline with a progress bar on stderr; print the JSON summary to stderr. engine: one already built
    (else the options' own); adapting: process --adapt on a live input (train/live.LiveAdapt)."""
    import json
    import time

    from rich.console import Console

    from streamdeblur.pipeline import process

    from streamdeblur.progress import Bar

    console = Console(stderr=True)
    started = time.perf_counter()

    def on_frame(done: int, total: Optional[int]) -> None:
        seconds = time.perf_counter() - started
        bar.update(done, total, fps=f"{done / seconds:.1f}" if seconds > 0 else "-")

    with Bar("deblur", "{task.fields[fps]} fps", not quiet, console) as bar:
        summary = process(input, output, options, engine=engine, progress=on_frame, adapting=adapting)
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
    from streamdeblur.pipeline import ProcessOptions

    return dataclass_option(ProcessOptions, name, *flags)


@app.command()
def process(
    ctx: typer.Context,
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
    threads: int = _popt("threads"),
    detector: str = _popt("detector"),
    detector_model: Optional[str] = _popt("detector_model"),
    detect_every: int = _popt("detect_every"),
    detect_size: int = _popt("detect_size"),
    max_faces: Optional[int] = _popt("max_faces"),
    min_face_size: int = _popt("min_face_size"),
    crf: int = _popt("crf"),
    lossless: bool = _popt("lossless"),
    preset: Optional[str] = _popt("preset"),
    codec: str = _popt("codec"),
    format: Optional[str] = _popt("format", "--format"),
    side_by_side: bool = _popt("side_by_side"),
    faces_only: Optional[Path] = _popt("faces_only"),
    duration: Optional[float] = _popt("duration"),
    decoder: str = _popt("decoder"),
    gate: Optional[float] = _popt("gate", "--gate"),
    no_gate: bool = typer.Option(False, "--no-gate", help="Run the engine on every face and keep all its output "
                                 "(no gating, and none of the card's settle range)."),
    report: Optional[Path] = _popt("report", "--report"),
    listen: bool = typer.Option(False, "--listen", help="RTSP/RTMP: wait (up to 20 s) for a publisher to push to INPUT."),
    preview: bool = typer.Option(False, "--preview", help="Show the output in a window (needs a display)."),
    adapt: bool = typer.Option(False, "--adapt", help="First fine-tune the engine on this video's own sharp faces "
                               "(`streamdeblur adapt INPUT`: minutes; kept in the cache, so a re-run starts at once), "
                               "then restore its person with it (the --model given, else adapt's default). A camera, "
                               "a stream or a pipe is adapted to while it runs (--adapt-seconds; naf unless --model on "
                               "a CPU of fewer than 8 cores without a GPU), or restored at once by the engine adapted "
                               "to its person before."),
    adapt_steps: Optional[int] = dataclass_option(AdaptOptions, "steps", "--adapt-steps"),
    adapt_seconds: Optional[float] = typer.Option(None, "--adapt-seconds", help=(
        "--adapt on a camera, a stream or a pipe: seconds of it recorded, then adapted to in the background while "
        "the released engine restores; its person's faces go to the adapted engine once it is ready (default 20).")),
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
    from streamdeblur.models import engine_in_folder

    live = None  # process --adapt on a camera, a stream or a pipe: adapted while it runs (train/live.py)
    if adapt_seconds is not None and not adapt:
        _fail("--adapt-seconds goes with --adapt (the seconds of a camera, a stream or a pipe it records)")
    if adapt_steps is not None and not adapt:
        _fail("--adapt-steps goes with --adapt (the fine-tuning steps; `streamdeblur adapt --steps` adapts alone)")
    given = {name for name in ("crf", "gate", "model")  # the options given, not left at their defaults
             if (src := ctx.get_parameter_source(name)) and src.name != "DEFAULT"}
    if lossless and "crf" in given:
        _fail("--lossless and --crf exclude each other (a lossless encode has no CRF); give one")
    if no_gate and "gate" in given:
        _fail("--gate and --no-gate exclude each other; give one")
    if adapt:
        weights, live = _adapted_engine(inputs, output, weights, model if "model" in given else None, adapt_steps,
                                        adapt_seconds, threads, quiet)
        if live is not None:
            model = live.options.model  # its released engine restores until the adapted one is ready
    model = engine_in_folder(model, weights)[0]  # a folder stays a folder: the engine factory reads its card
    options = ProcessOptions(
        model=model, weights=weights, backend=backend, device=device, fp16=fp16, batch_size=batch_size,
        threads=threads, detector=detector, detector_model=detector_model, detect_every=detect_every, detect_size=detect_size,
        max_faces=max_faces, min_face_size=min_face_size, crf=crf, lossless=lossless, preset=preset, codec=codec, format=format,
        side_by_side=side_by_side, faces_only=faces_only, duration=duration, decoder=decoder,
        gate=0.0 if no_gate else gate, report=report, source_options={"listen": True} if listen else {},
    )
    if len(inputs) > 1 or Path(inputs[0]).is_dir() or (output is not None and Path(output).is_dir()):
        _run_batch(inputs, output, options, summary_json, quiet, shard_index, num_shards)
        return
    if shard_index != 0 or num_shards != 1:
        _fail("--shard-index and --num-shards split a batch of files among jobs; give several inputs or a folder")
    input = inputs[0]
    if output is None:
        if input == "-" or "://" in input or input.startswith(("/dev/", "webcam:")):
            _fail("give an output with -o (a file, or '-' for stdout)")
        output = str(Path(input).with_name(Path(input).stem + "_deblurred.mp4"))
    summary = _run_process(input, output, options, summary_json, quiet or output == "-", adapting=live)
    if summary.get("interrupted"):
        raise typer.Exit(Terminated.exit_code if summary.get("interrupted_by") == "SIGTERM" else 130)
    if summary.get("error"):  # the input stopped early (a stream lost, a camera gone): the output keeps what came
        raise typer.Exit(1)


def _adapted_engine(inputs: list[str], output: Optional[str], weights: Optional[Path], model: Optional[str],
                    steps: Optional[int], seconds: Optional[float], threads: int, quiet: bool):
    """process --adapt: (the engine folder adapted to the one input file (train/adapt.adapted_to), None), or for a
    camera, a stream or a pipe (None, the LiveAdapt that adapts while it runs); from `model` (None: adapt's
    default). The output is checked first, not after the minutes of adapting."""
    from streamdeblur.io.media import is_live_input
    from streamdeblur.pipeline import refuse_overwriting_input
    from streamdeblur.train.adapt import adaptable_spec, adapted_to, check_options

    if weights is not None:
        _fail("give --adapt or --weights, not both")
    chosen = {"model": model} if model else {}
    if len(inputs) == 1 and is_live_input(inputs[0]):
        from streamdeblur.train.live import LiveAdapt, live_model

        picked = model or live_model()
        chosen = {"model": picked} if picked else {}
        options = AdaptOptions(steps=steps, duration=seconds, quiet=True, **chosen)
        check_options(options, "--adapt-steps", "--adapt-seconds")
        adaptable_spec(options.model)
        return None, LiveAdapt(inputs[0], options)
    if seconds is not None:
        _fail("--adapt-seconds is for a camera, a stream or a pipe (a file is adapted to whole before it is restored)")
    if len(inputs) != 1 or not Path(inputs[0]).is_file():
        _fail("--adapt takes one video file, a camera, a stream or a pipe (the engine is adapted to it, then "
              "restores it)")
    if output is not None and output != "-" and not output.startswith("/dev/"):
        check_writable_file(Path(output), "-o")
        refuse_overwriting_input(inputs[0], output)
    return adapted_to(inputs[0], AdaptOptions(steps=steps, threads=threads, quiet=quiet, **chosen)), None


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
    from streamdeblur.progress import Bar

    console = Console(stderr=True)
    with Bar("deblur", "frames, file {task.fields[file]}", not quiet, console) as bar:
        rows = run_batch(inputs, outdir, options, shard_index, num_shards,
                         progress=lambda name, done, total, n, files: bar.update(done, total, file=f"{n + 1}/{files} "
                                                                                 f"{name}"))
    if not quiet:
        console.print(format_table(rows), highlight=False, markup=False)
    if summary_json is not None:
        summary_json.write_text(json.dumps(rows, indent=2) + "\n")
    if any(r["status"] == "failed" for r in rows):
        raise typer.Exit(1)


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
    engine = build_engine(options)  # fails now, with the no-weights message, before any file is written
    if output.is_dir():
        _fail(f"-o {output} is a folder; give a file name, e.g. {output / 'demo_deblurred.mp4'}")
    check_folder(output.parent, f"-o {output}:")  # missing folders are made; a file in the way is not
    clip = output.with_name(output.stem + "_input.mp4")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        make_face_clip(clip, n=72)
    except OSError as exc:
        _fail(f"cannot write the demo clip {clip}: {exc.strerror or exc}")
    # the engine built above (so no --adapt hint: the demo's clip is one photo moved, not a person's video)
    summary = _run_process(str(clip), str(output), options, None, quiet, engine)
    typer.echo(f"wrote {output} (left: blurred input {clip.name}, right: deblurred; "
               f"{summary['faces']} faces in {summary['frames']} frames)", err=True)
