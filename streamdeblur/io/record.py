"""Recording a live input (a camera, a stream, stdin) to a video file, for the commands that must read their input
more than once: `adapt` reads a reference three times (whose face it is, how sharp its faces are, its pairs).

Recorded losslessly (x264 qp 0, preset ultrafast: on this 2-core CPU 68 fps at 1280x720, 77 Mbit/s, frames
back within the BGR <-> YUV conversion, 53 dB; CRF 10 took frames down to 45.5 dB, below the sharp faces adapt
learns from), so the only loss is the camera's or the stream's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from streamdeblur.errors import UserError
from streamdeblur.io.media import frames_within, redact
from streamdeblur.io.sink import VideoSink
from streamdeblur.io.source import open_source

RECORD_PRESET = "ultrafast"


def record(uri: str, target: str | Path, duration: float | None,
           progress: Callable[[float], None] | None = None, **source_options: Any) -> tuple[int, float]:
    """Decode `uri` for `duration` seconds of its media time (to its end when None) and encode it losslessly to
    `target`, written complete or not at all (Ctrl-C and read errors leave no file). Returns (frames, seconds of
    media time recorded). UserError when the input cannot be opened or gives no frame; progress(seconds) after
    each frame."""
    source = open_source(str(uri), **source_options)
    try:
        sink = VideoSink(str(target), source.width, source.height, source.time_base, fps=source.fps,
                         like=source.video_format, lossless=True, preset=RECORD_PRESET)
        step = 1.0 / float(source.fps) if source.fps else 0.0  # a frame's duration, where the input says
        frames, first, last = 0, None, None
        try:
            for frame in frames_within(source, duration):
                sink.write(frame.image, frame.pts)
                frames += 1
                if frame.time is not None:
                    first = frame.time if first is None else first
                    last = frame.time
                if progress is not None:
                    progress(last - first if first is not None and last is not None else frames * step)
            if frames == 0:
                raise UserError(f"no video frame came from {redact(str(uri))}")
        except BaseException:
            sink.abort()
            raise
        sink.close()
    finally:
        source.close()
    seconds = last - first + step if first is not None and last is not None else frames * step
    return frames, seconds
