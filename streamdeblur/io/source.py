"""Video input: open_source(uri) -> VideoSource yielding Frames (BGR uint8) with their timing.

URIs: a file path; '-' or 'pipe:' for stdin; rtsp://, rtmp://, http(s):// streams; /dev/videoN or
webcam:N for a V4L2 camera. PyAV is the default decoder; decord is an option for files.
Audio packets are demuxed alongside and handed on, attached to the next Frame, so the sink can
remux them unchanged and in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterator, Protocol

import numpy as np


@dataclass
class Frame:
    """One decoded video frame: HxWx3 uint8 BGR image, its decode index and presentation time."""

    image: np.ndarray
    index: int
    pts: int | None
    time_base: Fraction
    audio: list[Any] = field(default_factory=list)  # av.Packet objects demuxed before this frame

    @property
    def time(self) -> float | None:
        """Presentation time in seconds (None when the stream has no timestamps)."""
        return None if self.pts is None else float(self.pts * self.time_base)


class VideoSource(Protocol):
    """An open video input. Iterating yields Frames in presentation order; close() releases it."""

    uri: str
    width: int  # after rotation metadata is applied
    height: int
    fps: Fraction | None  # average rate, if known
    time_base: Fraction
    frame_count: int | None  # None for live streams or unknown lengths
    duration: float | None  # seconds, if known
    audio_streams: list[Any]  # av audio streams of the input (templates for the sink); [] if none
    is_live: bool
    skipped: int  # packets/frames that could not be decoded (corrupt input), counted as decoding goes

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def open_source(uri: str, decoder: str = "pyav", **options: Any) -> VideoSource:
    """Open a file, pipe, stream or camera. Raises UserError with a one-line reason when it cannot."""
    raise NotImplementedError
