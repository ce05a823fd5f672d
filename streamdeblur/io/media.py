"""The vocabulary every video source shares: the Frame they yield, the VideoSource interface, and small
helpers about inputs (what a URI names, rotation, messages that hide credentials)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterator, Protocol

import numpy as np
from av.video.reformatter import Interpolation

from streamdeblur.io.formats import VideoFormat

log = logging.getLogger("streamdeblur")

NETWORK_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "rtmps://", "http://", "https://", "udp://", "tcp://", "srt://")
DECODERS = ("pyav", "decord")
TEXT_CODECS = ("ansi", "bintext", "xbin", "idf")  # FFmpeg renders text files as "video": not a video for us
# swscale's default YUV->BGR path is fast but off by 1-2 levels; accurate rounding with full
# chroma interpolation makes decode -> VideoSink round trips colour-exact (about +6 ms at 1080p)
SWS_ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
MAX_CONSECUTIVE_ERRORS = 200  # a corrupt file stops decoding after this many errors in a row


@dataclass
class Frame:
    """One decoded video frame: HxWx3 uint8 BGR image, its decode index and presentation time."""

    image: np.ndarray
    index: int
    pts: int | None
    time_base: Fraction
    audio: list[Any] = field(default_factory=list)  # av.Packet objects demuxed before this frame
    read_at: float = 0.0  # time.perf_counter() when the pipeline's reader had it decoded (its latency)

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
    audio_streams: list[Any]  # av audio streams of the input; [] if none
    side_streams: list[Any]  # audio, subtitle and data streams (templates for the sink), packets in Frame.audio
    video_format: VideoFormat
    is_live: bool
    skipped: int  # packets/frames that could not be decoded (corrupt input), counted as decoding goes
    rotation: int  # degrees counter-clockwise applied to the decoded images (display matrix)
    trailing_audio: list[Any]  # audio packets left over after iteration, for VideoSink.write_audio

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


# --- rotation -------------------------------------------------------------------------------


def rotate_image(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate an image counter-clockwise by `degrees` (a VideoFrame.rotation value), in steps of 90."""
    k = int(round(degrees / 90.0)) % 4
    return image if k == 0 else np.ascontiguousarray(np.rot90(image, k))


def rotated_size(width: int, height: int, degrees: float) -> tuple[int, int]:
    """(width, height) of a frame after rotate_image with the same degrees."""
    return (height, width) if int(round(degrees / 90.0)) % 2 else (width, height)


# --- URI handling ---------------------------------------------------------------------------


def is_stdin(uri: str) -> bool:
    """True for the URIs that mean standard input: '-', 'pipe:' and 'pipe:0'."""
    return uri in ("-", "pipe:", "pipe:0")


def is_network(uri: str) -> bool:
    """True for a network stream URL (rtsp, rtmp, http(s), udp, tcp, srt)."""
    return uri.lower().startswith(NETWORK_SCHEMES)


def camera_device(uri: str) -> str | None:
    """The V4L2 device for '/dev/videoN' or 'webcam:N' (else None)."""
    match = re.fullmatch(r"webcam:(\d+)", uri)
    if match:
        return f"/dev/video{match.group(1)}"
    if re.fullmatch(r"/dev/video\d+", uri):
        return uri
    return None


def is_live_input(uri: str) -> bool:
    """True for the inputs that can be read only once, as they come: stdin, network streams and cameras."""
    return is_stdin(uri) or is_network(uri) or camera_device(uri) is not None


def frames_within(frames: Iterator[Frame], duration: float | None) -> Iterator[Frame]:
    """The frames of the first `duration` seconds of media time (all of them when None)."""
    start = None
    for frame in frames:
        t = frame.time
        if duration is not None and t is not None:
            start = t if start is None else start
            if t - start >= duration:
                return
        yield frame


def redact(uri: str) -> str:
    """The URI without user:password."""
    return re.sub(r"://[^/@]*@", "://***@", uri)


def error_text(exc: BaseException) -> str:
    """A short one-line reason from an av/OS error."""
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())
