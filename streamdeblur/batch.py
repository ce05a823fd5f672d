"""`streamdeblur process` over many files: INPUTS... (files and directories, searched recursively) -o OUTDIR.

Outputs mirror the inputs' relative paths under OUTDIR (as .mp4, or the extension of --format's
usual file). The engine is loaded once for all files. OUTDIR/manifest.jsonl gets one line per file
and run (input, output, frames, faces, tracks, fps, status, error); a re-run skips the files whose
last line says "ok" and whose output exists (matched by their resolved paths: however they are spelt). An output
is renamed into place when complete, or when Ctrl-C/SIGTERM ends it (playable, with the frames so far: its
line says "interrupted", and a re-run does it again). The output folder's own outputs and partial files are never
inputs. A failing file is reported and the batch goes on; the exit
status is non-zero when any file failed. --shard-index/--num-shards split the sorted list for job
arrays (each part writes its own manifest-partNNN.jsonl).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from streamdeblur.errors import OutputError, StdoutClosed, Terminated, UserError
from streamdeblur.io.files import find_videos, is_video_name
from streamdeblur.paths import check_folder

log = logging.getLogger("streamdeblur")

EXTENSIONS = {"mp4": ".mp4", "mov": ".mov", "matroska": ".mkv", "mpegts": ".ts", "webm": ".webm", "avi": ".avi"}


@dataclass(frozen=True)
class Job:
    """One file of a batch: where it is read from and written to."""

    input: Path
    output: Path
    relative: str


def plan_jobs(inputs: Sequence[str | Path], outdir: Path, format: str | None = None, shard_index: int = 0,
              num_shards: int = 1) -> list[Job]:
    """The files of this part of the batch and their outputs under outdir (relative paths mirrored)."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise UserError(f"--shard-index must be in [0, --num-shards), got {shard_index} of {num_shards}")
    suffix = EXTENSIONS.get(format or "mp4", f".{format}")
    jobs, taken = [], set()
    made = recorded_outputs(outdir)  # this batch's own outputs of earlier runs are never its inputs
    for video in find_videos(inputs, leave_out=outdir):
        if video.in_directory and video.path.resolve() in made:
            continue
        relative = video.relative if video.in_directory else video.path.name
        if video.in_directory and len(inputs) > 1:  # several inputs: keep them apart under their own names
            relative = f"{video.root.resolve().name}/{relative}"
        output = (outdir / relative).with_suffix(suffix)
        if output in taken:  # a.mov and a.mp4 side by side
            output = output.with_name(f"{output.stem}_{Path(relative).suffix.lstrip('.')}{suffix}")
        stem, n = output.stem, 2
        while output in taken:  # a/x.mp4 and b/x.mp4 given as files: both named x_mp4 above
            output, n = output.with_name(f"{stem}_{n}{suffix}"), n + 1
        taken.add(output)
        jobs.append(Job(video.path, output, relative))
    inputs_at = {job.input.resolve(): job.input for job in jobs}
    for job in jobs:  # no output may replace a file of the batch, its own input or another's
        if (overwritten := inputs_at.get(job.output.resolve())) is not None:
            whose = "the input itself" if overwritten == job.input else f"the input {overwritten}"
            raise UserError(f"the output of {job.input} would replace {whose}: choose another -o folder")
    return jobs[shard_index::num_shards]


def manifest_path(outdir: Path, shard_index: int, num_shards: int) -> Path:
    return outdir / ("manifest.jsonl" if num_shards == 1 else f"manifest-part{shard_index:03d}.jsonl")


def recorded_outputs(outdir: Path) -> set[Path]:
    """Every output (resolved) that the manifests in outdir record, whatever its status."""
    rows = [row for manifest in sorted(Path(outdir).glob("manifest*.jsonl")) for row in _rows(manifest, quiet=True)]
    return {Path(_key(row)[1]) for row in rows if row.get("output")}


def done_outputs(manifest: Path) -> set[tuple[str, str]]:
    """(input, output) of the files whose last manifest line says ok: an output name that another input has since
    taken (a/x.mp4 added beside b/x.mp4) is not a done file. A torn last line is ignored; any other line that is not
    a JSON object in UTF-8 (a damaged manifest) is skipped with a warning: the files it would have recorded are
    redone."""
    status = {_key(row): str(row.get("status", "")) for row in _rows(manifest)}
    return {pair for pair, st in status.items() if st == "ok"}


def _key(row: dict[str, Any]) -> tuple[str, str]:
    """A row's (input, output), resolved: the same files however a later run spells their paths (rows written
    before they recorded input_path and output_path: resolved from the folder the run is in)."""
    return tuple(row.get(f"{key}_path") or str(Path(row.get(key, "")).resolve()) for key in ("input", "output"))


_PATH_KEYS = ("input", "output", "input_path", "output_path")  # a manifest row's paths: strings when present


def _rows(manifest: Path, quiet: bool = False) -> list[dict[str, Any]]:
    """The manifest's rows: JSON objects whose input and output are strings (others skipped, with a warning
    unless quiet; a torn last line silently)."""
    if not manifest.is_file():
        return []
    try:
        lines = manifest.read_bytes().splitlines()
    except OSError as exc:
        raise OutputError(f"cannot read the batch manifest {manifest}: {exc.strerror or exc}") from None
    rows = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            if number < len(lines) and not quiet:  # the last line may be torn by an interrupted run
                log.warning("%s: line %d is not a JSON line; skipped (its file, if any, is done again)",
                            manifest, number)
            continue
        if not isinstance(row, dict) or not all(isinstance(row.get(key, ""), str) for key in _PATH_KEYS):
            if not quiet:
                log.warning("%s: line %d is not a manifest row (a JSON object); skipped (its file, if any, is done "
                            "again)", manifest, number)
            continue
        rows.append(row)
    return rows


def prepare_outdir(outdir: Path, manifest: Path) -> None:
    """Make the output folder and check its manifest can be written, before any file is processed: UserError for
    a path that cannot be a folder (exit 2), OutputError where the filesystem refuses to write (exit 1)."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise UserError(f"several inputs need an output folder, and {outdir} is a file")
    if not outdir.exists() and is_video_name(outdir):
        raise UserError(f"several inputs need an output folder; {outdir} looks like a video file name "
                        f"(give a folder, e.g. -o {outdir.with_suffix('')})")
    check_folder(outdir, "-o")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {outdir}: {exc.strerror or exc}") from None
    if manifest.is_dir():
        raise UserError(f"the batch manifest {manifest} is a folder: move it away (it must be a file)")
    try:
        with manifest.open("a"):  # created empty if absent: writes will succeed later
            pass
    except OSError as exc:
        raise OutputError(f"cannot write the batch manifest {manifest}: {exc.strerror or exc}") from None


def _append(manifest: Path, row: dict[str, Any]) -> None:
    try:
        with manifest.open("a") as fh:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
            fh.flush()
    except OSError as exc:
        raise OutputError(f"cannot write the batch manifest {manifest}: {exc.strerror or exc}") from None


def frame_total(jobs: Sequence[Job]) -> int | None:
    """Frames of all the files (from their containers), for one progress bar; None when unknown."""
    import av

    total = 0
    for job in jobs:
        try:
            with av.open(str(job.input)) as c:
                stream = c.streams.video[0]
                frames = stream.frames or (int(float(stream.duration * stream.time_base) * float(stream.average_rate))
                                           if stream.duration and stream.average_rate else 0)
        except Exception:  # noqa: BLE001 - a broken file counts nothing; it fails later with its reason
            frames = 0
        total += frames
    return total or None


def run_batch(inputs: Sequence[str | Path], outdir: Path, options: Any, shard_index: int = 0, num_shards: int = 1,
              progress: Callable[[str, int, int | None, int, int], None] | None = None) -> list[dict[str, Any]]:
    """Process every file of this part; returns one row per file (skipped ones included).

    progress(file, frames_done_in_batch, frames_total, files_done, files_total) is called as frames are written.
    """
    from streamdeblur.pipeline import build_engine, process

    options.check()
    jobs = plan_jobs(inputs, outdir, options.format, shard_index, num_shards)  # no video: an error, and no folder
    manifest = manifest_path(outdir, shard_index, num_shards)
    prepare_outdir(outdir, manifest)
    done = done_outputs(manifest)
    engine = build_engine(options) if options.detector != "none" else None
    rows: list[dict[str, Any]] = []
    todo = [j for j in jobs if not ((str(j.input.resolve()), str(j.output.resolve())) in done and j.output.exists())]
    total = frame_total(todo)
    frames_before = 0
    for j in jobs:
        if j not in todo:
            rows.append({"input": str(j.input), "output": str(j.output), "status": "skipped (done before)"})
    for n, job in enumerate(todo):
        started = time.perf_counter()
        row: dict[str, Any] = {"input": str(job.input), "output": str(job.output),  # as given, and resolved:
                               "input_path": str(job.input.resolve()), "output_path": str(job.output.resolve())}

        def on_frame(done_frames: int, _total: int | None, name: str = job.relative, n: int = n) -> None:
            if progress is not None:
                progress(name, frames_before + done_frames, total, n, len(todo))

        try:
            try:
                job.output.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(f"cannot create the folder {job.output.parent}: {exc.strerror or exc}") from None
            summary = process(str(job.input), str(job.output), replace(options), engine=engine, progress=on_frame)
            status = "interrupted" if summary.get("interrupted") else ("ok" if not summary.get("error") else
                                                                         "ok (input ended early)")
            row.update(frames=summary["frames"], faces=summary["faces"], tracks=summary["tracks"], fps=summary["fps"],
                       status="ok" if status.startswith("ok") else status, error=summary.get("error"))
        except (StdoutClosed, KeyboardInterrupt):
            raise
        except UserError as exc:
            row.update(status="failed", error=str(exc))
            log.error("%s: %s", job.input, exc)
        except Exception as exc:  # noqa: BLE001 - one broken file must not stop the batch
            row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            log.error("%s: %s: %s", job.input, type(exc).__name__, exc)
        row["seconds"] = round(time.perf_counter() - started, 2)
        frames_before += int(row.get("frames") or 0)
        _append(manifest, row)
        rows.append(row)
        if row["status"] == "interrupted":
            raise Terminated if summary.get("interrupted_by") == "SIGTERM" else KeyboardInterrupt
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The closing table: one line per file."""
    lines = [f"{'status':<22} {'frames':>7} {'faces':>6} {'fps':>6}  input -> output"]
    for r in rows:
        fps = f"{r['fps']:.1f}" if isinstance(r.get("fps"), (int, float)) else "-"
        lines.append(f"{r['status']:<22} {r.get('frames', '-')!s:>7} {r.get('faces', '-')!s:>6} {fps:>6}  "
                     f"{r['input']} -> {r['output']}" + (f"  ({r['error']})" if r.get("error") and
                                                          r["status"] == "failed" else ""))
    failed = sum(r["status"] == "failed" for r in rows)
    lines.append(f"{len(rows)} file(s): {sum(r['status'] == 'ok' for r in rows)} done, "
                 f"{sum(r['status'].startswith('skipped') for r in rows)} skipped, {failed} failed")
    return "\n".join(lines)
