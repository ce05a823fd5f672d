"""`make-pairs`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from streamdeblur.cli import app


@app.command("make-pairs")
def make_pairs_command(
    videos: list[Path] = typer.Argument(..., help="Video files and/or directories (searched recursively)."),
    output: Path = typer.Option(..., "-o", "--output", help="Pairs directory (created; re-run to resume)."),
    method: str = typer.Option("vla", help="vla (variable length averaging) | pravg (fixed length) | kernel | "
                               "motion (flow-interpolated exposures of the real motion)."),
    length: str = typer.Option("7", help="PrAvg window length(s), odd, comma-separated (e.g. 7,9,11,15,21)."),
    min_length: int = typer.Option(5, help="VLA: shortest window kept."),
    max_length: int = typer.Option(21, help="VLA: longest window."),
    size: int = typer.Option(256, help="Pair size in pixels, 16-1024 (the engines train on 256 or 128)."),
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
    crf_share: float = typer.Option(1.0, help="motion: share of pairs re-encoded at all (the rest keep the source's quality)."),
    shake: float = typer.Option(0.0, help="motion: probability of a camera-shake kernel on top."),
    frames: int = typer.Option(1, help="motion: K consecutive exposures per pair (odd; K > 1: multi-frame groups)."),
    targets: bool = typer.Option(False, "--targets", help="motion, --frames 3 or more: also each exposure's sharp frame "
                                 "(for training with the flicker loss, train --set w_flicker=...)."),
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
        speed=speed, shutter=shutter, subframes=subframes, crf=crf, crf_share=crf_share, shake=shake, frames=frames, targets=targets, seed=seed, max_frames=max_frames, workers=workers, shard_size=shard_size, val_fraction=val_fraction,
        val_list=str(val_list) if val_list else None, shard_index=shard_index, num_shards=num_shards,
        preview=preview, progress=not quiet,
    )
    t = summary["totals"]
    typer.echo(f"{t['pairs']} pairs {t['pairs_by_split']} from {t['videos_with_pairs']}/{t['videos']} videos "
               f"in {output} ({t['this_run']['new_pairs']} new, {t['this_run']['wall_seconds']} s)", err=True)
