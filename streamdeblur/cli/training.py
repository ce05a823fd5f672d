"""`train`, `release` and `adapt`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from streamdeblur import DEFAULT_MODEL
from streamdeblur.cli import _setup_logging, app
from streamdeblur.cli import _model_names, _stage_names, dataclass_option
from streamdeblur.errors import Terminated, UserError
from streamdeblur.train.adapt import AdaptOptions


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
    from streamdeblur.train.stages import build_config
    from streamdeblur.train.trainer import default_run_dir
    from streamdeblur.train.trainer import train as run_training

    if resume and config is None:
        found = (run_dir or default_run_dir(name or "run")) / "config.json"
        config = found if found.is_file() else None
        if config is not None and model is not None:  # before the config's stage is checked against the model
            from streamdeblur.train.config import TrainConfig
            from streamdeblur.train.trainer import different_model

            trained = TrainConfig.load(config).model
            if trained != model:
                raise UserError(different_model(config.parent, trained, model))
    as_str = lambda p: str(p) if p is not None else None  # noqa: E731
    cfg = build_config(config, list(set_), data=as_str(data), name=name, model=model, stage=stage, variant=variant,
                       steps=steps, batch_size=batch_size, crop_size=crop_size, lr=lr, hg_weights=as_str(hg_weights),
                       vgg19=as_str(vgg19), identity_model=as_str(identity_model), val_data=as_str(val_data),
                       run_dir=as_str(run_dir), threads=threads, device=device, seed=seed, quiet=quiet or None)
    _setup_logging(quiet)
    result = run_training(cfg, resume=resume)
    if result.interrupted:  # said even with -q: a stop that no message explains looks like a crash
        typer.echo(f"streamdeblur: interrupted at step {result.step} (checkpoint {result.checkpoint}); run the same "
                   f"command{'' if resume else ' with --resume'} to continue", err=True)
        raise typer.Exit(130)
    if not quiet:
        typer.echo(f"step {result.step}: checkpoint {result.checkpoint}; log {result.run_dir / 'log.csv'}", err=True)


@app.command()
def release(
    run: Path = typer.Argument(..., help="Run directory or checkpoint (.pt) to release, or the name `train --name` "
                               "gave the run (<cache>/runs/NAME)."),
    name: str = typer.Argument(..., help="Engine name: written to engines/<name>/."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Folder instead of engines/<name>."),
    metrics: Optional[Path] = typer.Option(None, "--metrics", help="`eval` report (folder or report.json) measured on these weights: copied into the card."),
    gate: Optional[float] = typer.Option(None, "--gate", help="The engine's default gate level for `process` (kept "
                                         "from the previous card when not given)."),
    settle: Optional[str] = typer.Option(None, "--settle", help="LOW,HIGH grey levels: a face whose mean correction "
                                         "is under LOW is left as it came, faded in up to HIGH (kept from the "
                                         "previous card when not given)."),
    soup: Optional[list[str]] = typer.Option(None, "--soup", help="OTHER_RUN:WEIGHT (repeatable): average that run's "
                                             "EMA weights in at WEIGHT, the first run's at what is left (a model "
                                             "soup of fine-tunings of one starting point)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing engine folder (its NOTES.md and other "
                               "files are kept)."),
) -> None:
    """Write a trained run's EMA weights (fp16 safetensors) and its card (with eval metrics) as an engine."""
    from streamdeblur.train.release import release as release_engine

    levels = None
    if settle is not None:
        try:
            low, high = (float(x) for x in settle.split(","))
        except ValueError:
            raise UserError(f"--settle takes LOW,HIGH (grey levels), got {settle!r}") from None
        levels = (low, high)
    blends = []
    for item in soup or []:
        path, _, weight = item.rpartition(":")
        try:
            blends.append((Path(path), float(weight)))
        except ValueError:
            raise UserError(f"--soup takes OTHER_RUN:WEIGHT, got {item!r}") from None
        if not path:
            raise UserError(f"--soup takes OTHER_RUN:WEIGHT, got {item!r}")
    folder = release_engine(run, name, out_dir=output, metrics=metrics, gate=gate, settle=levels, soup=blends,
                            force=force)
    typer.echo(f"wrote {folder}", err=True)


@app.command()
def adapt(
    references: list[str] = typer.Argument(..., help="Sharp video of the faces to restore (a few seconds or "
                                           "more of one person per file; several files: several people; a folder: "
                                           "the videos under it), or a "
                                           "camera (webcam:0, /dev/video0), a stream URL or '-' (stdin) to record "
                                           "first (--duration)."),
    output: Path = typer.Option(..., "-o", "--output", help="New folder for the adapted engine."),
    model: str = dataclass_option(AdaptOptions, "model"),
    steps: Optional[int] = dataclass_option(AdaptOptions, "steps"),
    snapshot: Optional[list[int]] = dataclass_option(AdaptOptions, "snapshots", "--snapshot",
                                                      metavar="STEPS"),
    max_frames: Optional[int] = dataclass_option(AdaptOptions, "max_frames"),
    threads: int = dataclass_option(AdaptOptions, "threads"),
    compile: bool = dataclass_option(AdaptOptions, "compile", "--compile/--no-compile"),
    duration: Optional[float] = dataclass_option(AdaptOptions, "duration", "--duration"),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bars."),
) -> None:
    """Fine-tune an engine on sharp video of the same face (minutes on a CPU); `process --weights` runs it on
    that person's tracks (told by a face embedding stored in its card) and the released engine on the others."""
    from streamdeblur.train.adapt import adapt as adapt_engine

    _setup_logging(quiet)
    try:
        folder = adapt_engine(references, output, AdaptOptions(model=model, steps=steps, max_frames=max_frames,
                                                                snapshots=tuple(snapshot or ()),
                                                                threads=threads, compile=compile, duration=duration,
                                                                quiet=quiet))
    except KeyboardInterrupt as exc:
        if isinstance(exc, Terminated):
            raise  # SIGTERM: the top level says so (exit 143)
        folder = None
    if folder is None:  # Ctrl-C; its pairs and checkpoints are kept in the cache: the same command picks them up
        # (exit raised outside the except block, so the top level does not say 'interrupted' a second time)
        typer.echo("streamdeblur: interrupted; run the same command again to continue", err=True)
        raise typer.Exit(130)
    typer.echo(f"wrote {folder}; run it with: streamdeblur process INPUT --weights {folder}", err=True)
