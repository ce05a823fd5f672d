"""`bench`, `export`, `models`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from streamdeblur import DEFAULT_MODEL
from streamdeblur.bench import DETECT_EVERY
from streamdeblur.cli import _fail, _setup_logging, app


@app.command()
def bench(
    resolution: list[str] = typer.Option(["480p", "720p", "1080p"], help="480p | 720p | 1080p (repeatable)."),
    faces: list[str] = typer.Option(["one", "many"], help="one | many (repeatable)."),
    model: str = typer.Option(DEFAULT_MODEL, help="Model to time (random weights if none are released: speed only)."),
    batch_size: int = typer.Option(8),
    threads: int = typer.Option(2, help="CPU threads for OpenCV and torch outside the engine (the engine gets `process`'s: all cores but one)."),
    frames: int = typer.Option(60, help="Frames per generated clip."),
    detect_every: int = typer.Option(DETECT_EVERY, help="Run the detector every N frames (as `process --detect-every`)."),
    detect_size: Optional[int] = typer.Option(None, help="The detector's frame size (as `process --detect-size`; "
                                              "default: process's)."),
    only: Optional[list[str]] = typer.Option(None, help="Run only the cases whose label contains this text."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write every figure as JSON here."),
    live: bool = typer.Option(False, "--live", help="Feed each clip as a live input (a pipe at the clip's frame "
                              "rate, as a camera): also each frame's latency from decoding to the encoder."),
    train: bool = typer.Option(False, "--train", help="Time training steps instead: samples/s of --model at --crop."),
    crop: list[int] = typer.Option([64], help="--train: crop (patch) side in pixels (repeatable)."),
    precision: list[str] = typer.Option(["fp32"], help="--train: fp32 | bf16 (repeatable; bf16 needs native CPU support)."),
    data: Optional[Path] = typer.Option(None, help="--train: a pairs directory, to time the data path too."),
    cache: bool = typer.Option(True, "--cache/--png", help="--train with --data: the decoded uint8 cache, or PNG shards."),
    steps: int = typer.Option(20, help="--train: timed steps (after 3 warm-up steps)."),
    compile: bool = typer.Option(False, "--compile", help="--train: time the torch.compile'd network (train's "
                                 "--set compile=true); its warm-up steps include the compile."),
    gate: Optional[float] = typer.Option(None, help="Time gating instead: process a half-still, half-moving clip "
                                         "(--clip) with and without this gate level."),
    clip: Optional[Path] = typer.Option(None, help="--gate: the talking-head clip (its still half is itself)."),
) -> None:
    """Time each pipeline stage on generated clips; print end-to-end fps and peak memory (or, with --train,
    training samples/s)."""
    import json

    from streamdeblur.bench import RESOLUTIONS, check_options, format_table, run_bench
    from streamdeblur.cli import check_writable_file

    if json_out is not None:
        check_writable_file(json_out, "--json")  # now, not after the whole benchmark
    check_options(model, batch_size, threads, None if train else frames, None if train or gate is not None else only,
                  detect_every, detect_size)
    if live and (train or gate is not None):
        _fail("--live times the pipeline's stages (not with --train or --gate)")
    if gate is not None:
        from streamdeblur.bench_gate import format_gate_rows, run_gate_bench

        if clip is None:
            _fail("--gate needs --clip CLIP (a talking-head clip)")
        _setup_logging(True)
        rows = run_gate_bench(clip, model, gate, frames, threads, batch_size)
        typer.echo(format_gate_rows(rows))
        if json_out is not None:
            json_out.write_text(json.dumps(rows, indent=2) + "\n")
        return
    if train:
        from streamdeblur.train.bench import bench_training, format_rows

        _setup_logging(True)
        rows = [bench_training(model, c, batch_size, p, steps, threads, str(data) if data else None, cache,
                               compile=compile) for c in crop for p in precision]
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
    rows = run_bench(resolution, faces, model, batch_size, threads, frames, only, detect_every, detect_size, live)
    typer.echo(format_table(rows))
    if json_out is not None:
        json_out.write_text(json.dumps(rows, indent=2) + "\n")


# --- export ---


@app.command()
def export(
    model: str = typer.Argument(DEFAULT_MODEL, help="Model name from the registry."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the .onnx file."),
    weights: Optional[Path] = typer.Option(None, help="Weights file or engine folder (what `adapt -o` and "
                                           "`release -o` write) instead of the released ones."),
) -> None:
    """Export a model to ONNX (dynamic batch; checked against PyTorch before it is written)."""
    from streamdeblur.backends import export_onnx
    from streamdeblur.backends.onnx_backend import check_output_file
    from streamdeblur.models import engine_in_folder

    _setup_logging(False)  # engine_in_folder says when a folder's card overrides the model given
    if not output.is_dir():  # export_onnx says what to give for a folder
        check_output_file(output)  # before the model loads and exports
    model, weights = engine_in_folder(model, weights)  # an engine folder: its weights, as the model its card names
    path = export_onnx(model, output, weights=weights)
    typer.echo(f"wrote {path}", err=True)


@app.command()
def models() -> None:
    """List the registered models, their input size and whether trained weights are here."""
    from streamdeblur.models import get_spec, has_weights, list_models

    for name in list_models():
        spec = get_spec(name)
        state = "weights: yes" if has_weights(name) else "weights: none (train and release first)"
        if has_weights(name) and spec.weights_owner != name:
            state = f"weights: {spec.weights_owner}'s"
        default = " [default]" if name == DEFAULT_MODEL else ""
        typer.echo(f"{name:16s} {spec.input_size:4d}px  {state:40s} {spec.description}{default}")
