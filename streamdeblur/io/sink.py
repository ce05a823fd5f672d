"""Video output: VideoSink encodes BGR frames with PyAV (libx264 by default, CRF 18, yuv420p),
keeps each frame's timestamp (VFR safe) and remuxes the input's audio packets unchanged.
Writes a file or a pipe ('-' = stdout, with an explicit container format such as mpegts/matroska).

Odd sizes: yuv420p cannot hold an odd width or height, so such frames are encoded in yuv444p
(libx264 High 4:4:4), which keeps the exact size; a few players cannot play 4:4:4 H.264.
"""

from __future__ import annotations

import logging
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from av.video.reformatter import Interpolation

from streamdeblur.errors import UserError

log = logging.getLogger("streamdeblur")

STDOUT_FORMAT = "mpegts"  # container for '-' when no format is given
CRF_CODECS = ("libx264", "libx265", "libx264rgb")
DEFAULT_PRESET = "veryfast"
# BGR -> YUV with accurate rounding and area chroma averaging: the inverse of the source's
# accurate YUV -> BGR, so re-encoding decoded frames adds no colour drift
SWS_ACCURATE = Interpolation.AREA | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INP


def is_stdout(target: str) -> bool:
    """True for the targets that mean standard output: '-', 'pipe:' and 'pipe:1'."""
    return target in ("-", "pipe:", "pipe:1")


def pixel_format(codec: str, width: int, height: int) -> str:
    """The encoder pixel format: yuv420p, or yuv444p for odd sizes with codecs that support it."""
    if width % 2 == 0 and height % 2 == 0:
        return "yuv420p"
    if codec in CRF_CODECS:
        return "yuv444p"
    raise UserError(
        f"codec {codec} needs an even frame size, got {width}x{height}; use codec libx264 or libx265 for odd sizes"
    )


def codec_options(codec: str, crf: int = 18, lossless: bool = False, preset: str | None = None) -> dict[str, str]:
    """Encoder options for a quality setting: CRF (or qp 0 when lossless) and a preset for x264/x265."""
    if codec in ("libx264", "libx264rgb"):
        opts = {"preset": preset or DEFAULT_PRESET}
        opts.update({"qp": "0"} if lossless else {"crf": str(crf)})
        return opts
    if codec == "libx265":
        opts = {"preset": preset or DEFAULT_PRESET, "x265-params": "log-level=error"}
        if lossless:
            opts["x265-params"] += ":lossless=1"
        else:
            opts["crf"] = str(crf)
        return opts
    if codec in ("mpeg4", "mpeg2video", "mpeg1video", "mjpeg"):
        # a fixed quantiser, 1 (best) to 31, from CRF 0..51 (qmin = qmax: PyAV frames carry no
        # per-frame quality, so the ffmpeg CLI's -q:v / global_quality route does not apply)
        q = 1 if lossless else max(1, min(31, round(1 + crf * 30 / 51)))
        return {"qmin": str(q), "qmax": str(q)}
    return {}


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
        preset: str | None = None,
        pix_fmt: str | None = None,
    ) -> None:
        import av

        self.target = str(target)
        self.width, self.height = int(width), int(height)
        self.time_base = Fraction(time_base)
        self.fps = Fraction(fps) if fps else None
        self.frames = 0
        self._closed = False
        self._last_pts: int | None = None
        self._av_error = av.FFmpegError
        if not 0 <= crf <= 51:
            raise UserError(f"crf must be between 0 and 51, got {crf}")
        pix = pix_fmt or pixel_format(codec, self.width, self.height)
        self._stdout = is_stdout(self.target)
        if self._stdout:
            if sys.stdout.isatty():
                raise UserError("refusing to write video to a terminal: redirect stdout to a file or a pipe")
            format = format or STDOUT_FORMAT
        else:
            self._check_path(self.target)
        try:
            file: Any = sys.stdout.buffer if self._stdout else self.target
            self.container = av.open(file, "w", format=format)
        except (av.FFmpegError, OSError) as exc:
            raise UserError(f"cannot write {self.target}: {getattr(exc, 'strerror', None) or exc}") from None
        except ValueError as exc:
            raise UserError(f"cannot write {self.target}: {exc} (choose a known extension or format)") from None
        try:
            self.video = self.container.add_stream(codec, rate=self.fps or Fraction(25))
        except (av.FFmpegError, ValueError, KeyError) as exc:
            self.container.close()
            raise UserError(f"unknown or unavailable codec {codec!r} ({exc})") from None
        self.video.width, self.video.height, self.video.pix_fmt = self.width, self.height, pix
        self.video.time_base = self.time_base
        self.video.codec_context.time_base = self.time_base
        self.video.options = {**codec_options(codec, crf, lossless, preset), **(options or {})}
        self._audio: dict[int, Any] = {}
        self._audio_dts: dict[int, Fraction] = {}  # last muxed dts per input audio stream, seconds
        for template in audio_streams:
            try:
                self._audio[template.index] = self.container.add_stream_from_template(template)
            except (av.FFmpegError, ValueError) as exc:
                log.warning("audio stream %d not copied (%s)", template.index, exc)

    @staticmethod
    def _check_path(target: str) -> None:
        """Raise UserError when the output file cannot be created."""
        path = Path(target)
        parent = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            raise UserError(f"output is a directory, give a file name: {target}")
        if not parent.is_dir():
            raise UserError(f"output folder does not exist: {parent}")
        existed = path.exists()
        try:
            with open(path, "ab"):
                pass
        except OSError as exc:
            raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
        if not existed:
            path.unlink()

    def _next_pts(self, pts: int | None) -> int:
        """The pts to encode: as given, synthesised from fps when None, forced to increase."""
        if pts is None:
            if self._last_pts is None:
                pts = 0
            else:
                step = int(round(1 / (self.fps * self.time_base))) if self.fps else 1
                pts = self._last_pts + max(step, 1)
        elif self._last_pts is not None and pts <= self._last_pts:
            log.debug("non-increasing pts %s after %s; bumped", pts, self._last_pts)
            pts = self._last_pts + 1
        self._last_pts = pts
        return pts

    def write(self, image: np.ndarray, pts: int | None, audio: Sequence[Any] = ()) -> None:
        """Encode one BGR frame at pts (in time_base units), then mux the audio packets given."""
        import av

        if self._closed:
            raise RuntimeError("VideoSink is closed")
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, sink expects {self.width}x{self.height}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame = frame.reformat(format=self.video.pix_fmt, interpolation=SWS_ACCURATE)
        frame.pts = self._next_pts(pts)
        frame.time_base = self.time_base
        self._mux(self.video.encode(frame))
        self.frames += 1
        self.write_audio(audio)

    def write_audio(self, packets: Sequence[Any]) -> None:
        """Remux input audio packets unchanged into their matching output streams.

        Packets keep their input time_base; PyAV's mux rescales them to the output stream's.
        """
        for packet in packets:
            key = packet.stream.index
            stream = self._audio.get(key)
            if stream is None or not packet.size or packet.dts is None:
                continue
            dts = packet.dts * packet.time_base if packet.time_base else None
            if dts is not None:
                if key in self._audio_dts and dts <= self._audio_dts[key]:
                    log.debug("audio packet with non-increasing dts %s dropped", dts)
                    continue
                self._audio_dts[key] = dts
            packet.stream = stream
            self._mux([packet])

    def _mux(self, packets: Sequence[Any]) -> None:
        try:
            self.container.mux(packets)
        except BrokenPipeError:
            raise
        except self._av_error as exc:
            raise UserError(f"cannot write {self.target}: {exc}") from None

    def close(self) -> None:
        """Flush the encoder and write the trailer. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.frames:
                self.container.mux(self.video.encode(None))
        finally:
            try:
                self.container.close()
            finally:
                if self._stdout:
                    try:
                        sys.stdout.buffer.flush()
                    except (BrokenPipeError, ValueError):
                        pass

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
