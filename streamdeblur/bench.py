"""`streamdeblur bench`: per-stage time, end-to-end fps and peak memory of the real pipeline on
generated clips (one face / many faces at 480p, 720p, 1080p).

Each configuration runs in its own subprocess so that peak RSS is the configuration's own.
Figures are printed, not asserted: machines are shared and noisy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamdeblur import DEFAULT_MODEL
from streamdeblur.paths import cache_dir
from streamdeblur.synthetic import portrait, synthesize_frames, write_clip

DETECT_EVERY = 3  # as `process` (pipeline.ProcessOptions.detect_every); a test keeps them equal
RESOLUTIONS = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}


@dataclass(frozen=True)
class BenchCase:
    """One row: what runs (stages) on which clip."""

    label: str  # decode+encode | +detect/track | +model/onnxruntime | +model/torch
    detector: str
    backend: str | None  # None: no model (identity engine when faces are on)


def cases(model: str) -> list[BenchCase]:
    return [
        BenchCase("decode+encode", "none", None),
        BenchCase("+detect/track", "yunet", None),
        BenchCase(f"+{model}/onnxruntime", "yunet", "onnxruntime"),
        BenchCase(f"+{model}/torch", "yunet", "torch"),
    ]


def _crowd_frames(n: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """A grid of moving portraits: many faces per frame."""
    rng = np.random.default_rng(seed)
    src = portrait()
    cols, rows = 4, 2
    cell_w, cell_h = width // cols, height // rows
    face = cv2.resize(src, (min(cell_w, cell_h),) * 2, interpolation=cv2.INTER_AREA)
    frames = []
    offsets = rng.uniform(0, 2 * np.pi, size=(rows * cols, 2))
    for i in range(n):
        frame = np.full((height, width, 3), 90, np.uint8)
        for k in range(rows * cols):
            r, c = divmod(k, cols)
            dx = int(6 * np.sin(0.2 * i + offsets[k, 0]))
            dy = int(4 * np.sin(0.15 * i + offsets[k, 1]))
            x0 = c * cell_w + (cell_w - face.shape[1]) // 2 + dx
            y0 = r * cell_h + (cell_h - face.shape[0]) // 2 + dy
            x0, y0 = max(0, min(width - face.shape[1], x0)), max(0, min(height - face.shape[0], y0))
            frame[y0 : y0 + face.shape[0], x0 : x0 + face.shape[1]] = face
        frames.append(frame)
    return frames


def bench_clip(resolution: str, faces: str, n: int = 60) -> Path:
    """Generated benchmark clip (cached): faces is 'one' or 'many'."""
    width, height = RESOLUTIONS[resolution]
    path = cache_dir() / "bench" / f"{resolution}-{faces}-{n}.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        frames = (synthesize_frames(n, width, height, blur=True) if faces == "one"
                  else _crowd_frames(n, width, height))
        tmp = path.with_suffix(".tmp.mp4")
        write_clip(tmp, frames, fps=30, audio_hz=440.0)
        tmp.replace(path)
    return path


def run_case(clip: Path, case: BenchCase, model: str, batch_size: int, threads: int,
             detect_every: int = DETECT_EVERY, detect_size: int | None = None, live: bool = False) -> dict:
    """Run one configuration in a fresh process; returns the pipeline summary. live: the clip comes as a live input
    (a pipe fed at the clip's frame rate), so the summary has the frames' latency."""
    spec = {"clip": str(clip), "detector": case.detector, "backend": case.backend, "model": model,
            "batch_size": batch_size, "threads": threads, "detect_every": detect_every,
            "detect_size": detect_size, "live": live}
    proc = subprocess.run([sys.executable, "-m", "streamdeblur.bench", json.dumps(spec)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"failed": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child(spec: dict) -> dict:
    import tempfile

    import torch

    from streamdeblur.backends import create_engine
    from streamdeblur.models import has_weights
    from streamdeblur.pipeline import ProcessOptions, engine_threads, process

    torch.set_num_threads(spec["threads"])
    cv2.setNumThreads(spec["threads"])
    engine = None
    random_weights = False
    if spec["detector"] != "none":
        if spec["backend"] is None:
            engine = create_engine("identity")
        else:
            random_weights = not has_weights(spec["model"])
            engine = create_engine(spec["model"], backend=spec["backend"], device="cpu", allow_random=random_weights,
                                   batch_size=spec["batch_size"], threads=engine_threads())  # as `process`
    options = ProcessOptions(detector=spec["detector"], batch_size=spec["batch_size"],
                             detect_every=spec["detect_every"])
    if spec.get("detect_size"):
        options.detect_size = spec["detect_size"]
    with tempfile.TemporaryDirectory() as tmp:
        if spec.get("live"):
            summary = _live(spec["clip"], Path(tmp) / "out.ts", options, engine)
        else:
            summary = process(spec["clip"], str(Path(tmp) / "out.mp4"), options, engine=engine)
    if summary.get("interrupted"):  # Ctrl-C reaches the whole process group: the parent stops too
        raise KeyboardInterrupt
    summary["random_weights"] = random_weights
    return summary


def _live(clip: str, out: Path, options, engine) -> dict:
    """`process -` on the clip played into this process's stdin at its frame rate, as a camera's frames come: the
    live input's pipeline (eager batching, the detector beside the frames, the live encoder) and its latency."""
    from streamdeblur.io.clips import playing_on_stdin
    from streamdeblur.pipeline import process

    with playing_on_stdin(clip):
        return process("-", str(out), options, engine=engine)


def check_options(model: str, batch_size: int, threads: int, frames: int | None = None, only: list[str] | None = None,
                  detect_every: int = DETECT_EVERY, detect_size: int | None = None) -> None:
    """UserError now, before any clip is made or timed, for options every case would fail on (each case runs in a
    subprocess, which would report them as failed rows): the messages `process` gives for the same options."""
    from streamdeblur.errors import UserError
    from streamdeblur.models import get_spec
    from streamdeblur.pipeline import ProcessOptions

    get_spec(model)  # unknown model: the list of known ones
    if frames is not None and frames < 1:
        raise UserError(f"--frames must be at least 1, got {frames}")
    if threads < 1:
        raise UserError(f"--threads must be at least 1, got {threads}")
    options = ProcessOptions(model=model, batch_size=batch_size, detect_every=detect_every)
    if detect_size:
        options.detect_size = detect_size
    options.check()
    labels = [case.label for case in cases(model)]
    for text in only or []:
        if not any(text in label for label in labels):
            raise UserError(f"--only {text!r} names no stage; the stages are: {', '.join(labels)} (any part of a "
                            "name selects it)")


def run_bench(
    resolutions: list[str], faces: list[str], model: str = DEFAULT_MODEL, batch_size: int = 8, threads: int = 2,
    frames: int = 60, only: list[str] | None = None, detect_every: int = DETECT_EVERY, detect_size: int | None = None,
    live: bool = False,
) -> list[dict]:
    """Every case on every clip; a list of rows (dicts) for printing or JSON."""
    check_options(model, batch_size, threads, frames, only, detect_every, detect_size)
    rows = []
    for res in resolutions:
        for f in faces:
            clip = bench_clip(res, f, frames)
            for case in cases(model):
                if only and not any(o in case.label for o in only):
                    continue
                s = run_case(clip, case, model, batch_size, threads, detect_every, detect_size, live)
                rows.append({"resolution": res, "clip": f"{f} face" if f == "one" else f"{f} faces", "case": case.label, **s})
    return rows


def format_table(rows: list[dict]) -> str:
    """A markdown table of the rows (used for the console and BENCHMARKS.md)."""
    live = any(r.get("latency_ms") for r in rows)  # (bench --live: a live input's frame latency, a column more)
    head = "| clip | stages | fps | decode | detect | crop | engine | paste | encode | faces | peak RSS MB |"
    head += " latency p50 / p90 / largest, ms |" if live else ""
    lines = [head, "|" + "---|" * (12 if live else 11)]
    for r in rows:
        if "failed" in r:
            lines.append(f"| {r['resolution']} {r['clip']} | {r['case']} | failed: {r['failed']} |" +
                         " |" * (9 if live else 8))
            continue
        ms = r.get("latency_ms") or {}
        latency = f" {ms['p50']:.0f} / {ms['p90']:.0f} / {ms['max']:.0f} |" if ms else (" - |" if live else "")
        st = r["stage_fps"]
        cell = lambda k: f"{st[k]:.0f}" if k in st else "-"  # noqa: E731
        note = " (random weights)" if r.get("random_weights") else ""
        lines.append(
            f"| {r['resolution']} {r['clip']} | {r['case']}{note} | {r['fps']:.1f} | {cell('decode')} | "
            f"{cell('detect')} | {cell('crop')} | {cell('engine')} | {cell('paste')} | {cell('encode')} | "
            f"{r['faces']} | "
            f"{r['peak_rss_mb']:.0f} |{latency}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    summary = _child(json.loads(sys.argv[1]))
    print(json.dumps(summary))
