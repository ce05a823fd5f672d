"""Video output: VideoSink encodes BGR frames with PyAV (libx264 by default, CRF 18, yuv420p),
keeps each frame's timestamp (VFR safe) and remuxes the input's audio packets unchanged.
Writes a file or a pipe ('-' = stdout, with an explicit container format such as mpegts/matroska).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

import numpy as np


class VideoSink:
    """Encode frames to a file or stdout. Use as a context manager; close() always finalises the file."""

    def __init__(
        self,
        target: str,
        width: int,
        height: int,
        time_base: Fraction,
        fps: Fraction | None = None,
        audio_streams: Sequence[Any] = (),
        codec: str = "libx264",
        crf: int = 18,
        lossless: bool = False,
        format: str | None = None,
        options: dict[str, str] | None = None,
    ) -> None:
        raise NotImplementedError

    def write(self, image: np.ndarray, pts: int | None, audio: Sequence[Any] = ()) -> None:
        """Encode one BGR frame at pts (in time_base units), then mux the audio packets given."""
        raise NotImplementedError

    def close(self) -> None:
        """Flush the encoder and write the trailer. Safe to call twice."""
        raise NotImplementedError

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
