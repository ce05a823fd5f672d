"""`eval`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from streamdeblur.cli import _setup_logging, app
from streamdeblur.errors import UserError


@app.command("eval")
def eval_(
    pairs: Optional[Path] = typer.Option(None, "--pairs", help="Pairs directory (from make-pairs) to evaluate on."),
    video: Optional[Path] = typer.Option(None, "--video", help="Clip or directory of clips: blur, process, compare."),
    interpolation: Optional[Path] = typer.Option(None, "--interpolation", help="Clip or directory of clips: check the "
                                                 "motion pairs' frame interpolator against real dropped frames."),
    codec: Optional[Path] = typer.Option(None, "--codec", help="A clip: the output encoder's cost on its faces per CRF "
                                         "(--crf), with the bitrate."),
    crf: str = typer.Option("12,14,16,18,20", help="--codec: the CRFs to measure."),
    gating: bool = typer.Option(False, "--gating", help="With --pairs (multi-frame motion groups) and --model: which "
                                "cheap blur estimate predicts the engine's gain (for --gate)."),
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
    gate: bool = typer.Option(True, "--gate/--no-gate", help="Each engine's own gating, as `process` uses it: "
                              "its card's (released, or an engine folder's) settle range (small corrections faded "
                              "out) and track-motion gate "
                              "(video mode; pairs mode: faces of multi-frame groups, from their alignments). "
                              "--no-gate: the bare network on every face."),
    limit: Optional[int] = typer.Option(None, min=1, help="Pairs mode: at most this many faces per blur type."),
    max_frames: int = typer.Option(60, min=3, help="Video mode: frames read from each clip."),
    sharp_truth: Optional[float] = typer.Option(None, min=0.0, max=1.0, help="Video mode: faces blurred in the source "
                                                "itself are not scored (no truth to deblur towards): those under this "
                                                "share of their clip's 90th-percentile face sharpness (default 0.6; "
                                                "0 scores every face)."),
    examples: int = typer.Option(6, min=0, help="Faces in the example grid."),
    seed: int = typer.Option(0),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Measure deblurring like the papers: PSNR/SSIM, landmarks, identity, temporal stability; tables and plots."""
    from streamdeblur.eval.run import EvalOptions, evaluate_pairs
    from streamdeblur.eval.video import evaluate_video

    if sum(x is not None for x in (pairs, video, interpolation, codec)) != 1:
        raise UserError("give exactly one of --pairs PAIRS_DIR, --video CLIP_OR_DIR, --interpolation CLIP_OR_DIR "
                        "or --codec CLIP")
    _setup_logging(quiet)  # each evaluation checks -o first (paths.check_folder), before any of its work
    if codec is not None:
        from streamdeblur.eval.codec import codec_cost

        try:
            crfs = [int(x) for x in crf.split(",") if x.strip()]
        except ValueError:
            raise UserError(f"--crf takes CRFs separated by commas, got {crf!r}") from None
        rows = codec_cost(codec, crfs, output, max_frames=max_frames)["rows"]
        typer.echo("  ".join(f"{r['setting']}: {r['face_psnr']:.2f} dB {r['kbps']:.0f} kbps" for r in rows), err=True)
        return
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
                          device=device, fp16=fp16, allow_random=allow_random, batch_size=batch_size, gate=gate, limit=limit,
                          examples=examples, seed=seed, quiet=quiet)
    if pairs is not None and gating:
        from streamdeblur.eval.gating import run_gating

        result = run_gating(pairs, options)
        typer.echo(f"wrote {output / 'gating.md'}", err=True)
        return
    if pairs is not None:
        result = evaluate_pairs(pairs, options)
    else:
        result = evaluate_video(video, blur, options, max_frames=max_frames, exposure=exposure, sharp_truth=sharp_truth)
    typer.echo(f"wrote {result['report']['md']}", err=True)
