"""Finding video files: the one list of video extensions, and directories searched recursively."""

from __future__ import annotations

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


def find_videos(inputs: Sequence[str | Path]) -> list[FoundVideo]:
    """Each video named or found recursively (by extension) under the directories given; files named
    directly are taken whatever their extension. Sorted per input, one entry per file. UserError for a
    missing input, or when there is no video at all."""
    if not inputs:
        raise UserError("give at least one video file or directory")
    found: list[FoundVideo] = []
    seen: set[Path] = set()
    if any(not str(given).strip() for given in inputs):
        raise UserError("an input is an empty path ('')")  # Path('') would be the current folder
    for given in map(Path, inputs):
        if given.is_dir():
            files = sorted(q for q in given.rglob("*") if q.is_file() and is_video_name(q))
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
