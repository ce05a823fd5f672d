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
from streamdeblur.io.media import Frame, VideoSource, redact
from streamdeblur.io.sink import VideoSink
from streamdeblur.io.source import open_source

RECORD_PRESET = "ultrafast"


class Recorder:
    """Frames of an open source written losslessly to `target` until `duration` seconds of its media time (None:
    until closed). write(frame) returns whether it still records; close() finalises the file, abort() removes it
    (the file is complete or absent)."""

    def __init__(self, source: VideoSource, target: str | Path, duration: float | None) -> None:
        self.duration = duration
        self.sink = VideoSink(str(target), source.width, source.height, source.time_base, fps=source.fps,
                              like=source.video_format, lossless=True, preset=RECORD_PRESET)
        self.step = 1.0 / float(source.fps) if source.fps else 0.0  # a frame's duration, where the input says
        self.frames, self.first, self.last = 0, None, None
        self.open = True

    @property
    def seconds(self) -> float:
        """Media time recorded so far (the last frame's duration included)."""
        if self.first is not None and self.last is not None:
            return self.last - self.first + self.step
        return self.frames * self.step

    def write(self, frame: Frame) -> bool:
        """Record the frame unless the duration is reached (then close); whether the recording goes on."""
        if not self.open:
            return False
        t = frame.time
        if self.duration is not None and t is not None and self.first is not None and t - self.first >= self.duration:
            self.close()
            return False
        self.sink.write(frame.image, frame.pts)
        self.frames += 1
        if t is not None:
            self.first = t if self.first is None else self.first
            self.last = t
        return True

    def close(self) -> None:
        if self.open:
            self.open = False
            if self.frames == 0:
                self.sink.abort()
            else:
                self.sink.close()

    def abort(self) -> None:
        if self.open:
            self.open = False
            self.sink.abort()


def record(uri: str, target: str | Path, duration: float | None,
           progress: Callable[[float], None] | None = None, **source_options: Any) -> tuple[int, float]:
    """Decode `uri` for `duration` seconds of its media time (to its end when None) and encode it losslessly to
    `target`, written complete or not at all (Ctrl-C and read errors leave no file). Returns (frames, seconds of
    media time recorded). UserError when the input cannot be opened; progress(seconds) after each frame."""
    source = open_source(str(uri), **source_options)
    try:
        recorder = Recorder(source, target, duration)
        try:
            for frame in source:
                if not recorder.write(frame):
                    break
                if progress is not None:
                    progress(recorder.seconds - recorder.step)
        except BaseException:
            recorder.abort()
            raise
        recorder.close()
    finally:
        source.close()
    if recorder.frames == 0:
        raise UserError(f"no video frame came from {redact(str(uri))}")
    return recorder.frames, recorder.seconds
