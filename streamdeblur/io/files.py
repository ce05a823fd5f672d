"""Finding video files: the one list of video extensions, and directories searched recursively."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from streamdeblur.errors import UserError

VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".flv",
              ".wmv", ".y4m", ".3gp")


def is_video_name(path: Path) -> bool:
    """Whether a file name has a video extension."""
    return path.suffix.lower() in VIDEO_EXTS


@dataclass(frozen=True)
class FoundVideo:
    """A video file and where it was found: the input it came from and its path relative to that input."""

    path: Path
    root: Path  # the directory given, or the file's own folder when the file was named
    relative: str  # posix path under root
    in_directory: bool  # found by searching a directory given as input


def partial_name(path: Path, pid: str) -> str:
    """The file name an output is written under until it is complete (io/sink.py), for a target and its writer's
    pid (`*` in a glob)."""
    return f".{path.stem}.partial-{pid}{path.suffix}"


def is_partial(path: Path) -> bool:
    """Whether a file is an output still being written, or left by a killed writer (partial_name)."""
    return bool(re.fullmatch(r"\..+\.partial-\d+(\.[^.]*)?", path.name))


def find_videos(inputs: Sequence[str | Path], leave_out: Path | None = None) -> list[FoundVideo]:
    """Each video named or found recursively (by extension) under the directories given; files named
    directly are taken whatever their extension. Sorted per input, one entry per file. A directory's search
    leaves out partial outputs (is_partial) and whatever is under `leave_out` when that is a folder inside it (a
    batch's output folder: its outputs are not inputs the next time). UserError for a missing input, or when
    there is no video at all."""
    if not inputs:
        raise UserError("give at least one video file or directory")
    found: list[FoundVideo] = []
    seen: set[Path] = set()
    if any(not str(given).strip() for given in inputs):
        raise UserError("an input is an empty path ('')")  # Path('') would be the current folder
    for given in map(Path, inputs):
        if given.is_dir():
            # a folder inside this one is left out; this one itself is searched (the batch knows its outputs)
            skip = leave_out.resolve() if leave_out is not None and leave_out.resolve() != given.resolve() else None
            files = sorted(q for q in given.rglob("*") if q.is_file() and is_video_name(q) and not is_partial(q)
                           and not (skip is not None and q.resolve().is_relative_to(skip)))
            items = [FoundVideo(f, given, f.relative_to(given).as_posix(), True) for f in files]
        elif given.is_file():
            items = [FoundVideo(given, given.parent, given.name, False)]
        else:
            raise UserError(f"no such video file or directory: {given}")
        for item in items:
            key = item.path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(item)
    if not found:
        raise UserError(f"no video files ({', '.join(VIDEO_EXTS)}) under: {', '.join(map(str, inputs))}")
    return found
