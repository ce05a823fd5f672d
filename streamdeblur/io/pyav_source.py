"""The PyAV source: files, pipes, network streams (with reconnects) and cameras."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator


from streamdeblur.errors import UserError
from streamdeblur.io.formats import VideoFormat, video_format_of

from streamdeblur.io.media import (MAX_CONSECUTIVE_ERRORS, SWS_ACCURATE, TEXT_CODECS, Frame,
                                   camera_device, error_text, is_network, is_stdin, redact, rotate_image, rotated_size)

log = logging.getLogger("streamdeblur")


def _open_args(uri: str, options: dict[str, Any]) -> tuple[Any, dict[str, Any], bool]:
    """(what to pass to av.open, its keyword arguments, is_live) for a URI and user options."""
    av_options: dict[str, str] = {str(k): str(v) for k, v in (options.get("options") or {}).items()}
    kwargs: dict[str, Any] = {}
    if options.get("format"):
        kwargs["format"] = options["format"]
    timeout = float(options.get("timeout", 10.0))
    if is_stdin(uri):
        return "pipe:0", {**kwargs, "options": av_options}, False
    device = camera_device(uri)
    if device is not None:
        kwargs.setdefault("format", "v4l2")
        return device, {**kwargs, "options": av_options, "timeout": (timeout, timeout)}, True
    if is_network(uri):
        scheme = uri.split("://", 1)[0].lower()
        open_timeout = timeout
        if scheme.startswith("rtsp"):
            av_options.setdefault("rtsp_transport", str(options.get("rtsp_transport", "tcp")))
            if options.get("listen"):
                listen_timeout = float(options.get("listen_timeout", 20.0))
                kwargs.setdefault("format", "rtsp")
                av_options.setdefault("listen_timeout", str(int(listen_timeout)))
                av_options.pop("rtsp_transport", None)  # the listener takes what the publisher sends
                open_timeout = listen_timeout + timeout
            else:
                av_options.setdefault("timeout", str(int(timeout * 1e6)))  # socket timeout, microseconds
        elif scheme.startswith("rtmp"):
            if options.get("listen"):
                av_options.setdefault("listen", "1")
                open_timeout = float(options.get("listen_timeout", 20.0)) + timeout
            else:
                av_options.setdefault("rw_timeout", str(int(timeout * 1e6)))
        elif scheme.startswith("http"):
            av_options.setdefault("rw_timeout", str(int(timeout * 1e6)))
        return uri, {**kwargs, "options": av_options, "timeout": (open_timeout, timeout)}, True
    return uri, {**kwargs, "options": av_options}, False


def _check_file(uri: str) -> None:
    """Raise UserError when a file input is missing or not a regular readable file."""
    path = Path(uri)
    if not path.exists():
        raise UserError(f"input not found: {uri}")
    if path.is_dir():
        raise UserError(f"input is a directory, not a video file: {uri}")
    if not os.access(path, os.R_OK):
        raise UserError(f"input is not readable (permission denied): {uri}")


def _open_container(uri: str, options: dict[str, Any]) -> tuple[Any, bool]:
    """av.open the URI with the right format and options; UserError with a one-line reason if it fails."""
    import av

    target, kwargs, live = _open_args(uri, options)
    if not live and not is_stdin(uri):
        _check_file(uri)
    if is_stdin(uri) and sys.stdin is not None and sys.stdin.isatty():
        raise UserError("'-' reads a video from stdin, and stdin is a terminal: pipe one in (e.g. "
                        "`cat in.ts | streamdeblur process - -o out.mp4`) or give the file's path")
    started = time.monotonic()
    try:
        # a stream, a camera or a pipe may keep FFmpeg's open waiting for data that never comes: opened where
        # Ctrl-C and SIGTERM still stop the wait
        waits = live or is_stdin(uri)
        container = _open_interruptible(target, kwargs) if waits else av.open(target, "r", **kwargs)
    except (av.FFmpegError, OSError) as exc:
        device = camera_device(uri)
        if device is not None:
            raise UserError(f"cannot open camera {device} ({error_text(exc)}); is a V4L2 camera connected?") from None
        if live:
            waited = time.monotonic() - started
            if options.get("listen"):
                raise UserError(f"no publisher pushed to {redact(uri)} within {waited:.0f} s ({error_text(exc)})") from None
            slow = f"; no answer within {waited:.0f} s" if waited >= 0.9 * float(options.get("timeout", 10.0)) else ""
            raise UserError(f"cannot open stream {redact(uri)}: {error_text(exc)}{slow}") from None
        if is_stdin(uri):
            raise UserError(
                f"cannot read a video from stdin ({error_text(exc)}); pipe a streamable container "
                "(MPEG-TS or Matroska; an MP4 only with its index at the front)"
            ) from None
        raise UserError(f"not a readable video file: {uri} ({error_text(exc)})") from None
    except ValueError as exc:  # e.g. an unknown format name
        raise UserError(f"cannot open {redact(uri)}: {exc}") from None
    return container, live


def _open_interruptible(target: Any, kwargs: dict[str, Any]) -> Any:
    """av.open in a helper thread, so that Ctrl-C (or SIGTERM) stops a wait for a stream at once: FFmpeg does not
    return to Python until its own timeout (tens of seconds for a listener or a server that never answers). An
    abandoned open finishes in its thread, which then closes what it opened."""
    import av

    result: dict[str, Any] = {}
    abandoned = threading.Event()

    def work() -> None:
        try:
            container = av.open(target, "r", **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            result["error"] = exc
            return
        if abandoned.is_set():
            container.close()
        else:
            result["container"] = container

    thread = threading.Thread(target=work, name="open-stream", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
    except BaseException:
        abandoned.set()
        raise
    if "error" in result:
        raise result["error"]
    return result["container"]


# --- PyAV source ----------------------------------------------------------------------------


class PyAVSource:
    """A VideoSource decoded by PyAV (files, pipes, network streams, cameras)."""

    def __init__(self, uri: str, **options: Any) -> None:
        import av

        self.uri = uri
        self.options = options
        self.reconnect = int(options.get("reconnect", 3))
        self.skipped = 0
        self.lost: str | None = None  # a live stream that dropped and did not come back: why
        self._retired: list[Any] = []  # containers of dropped connections, closed with this source
        self.trailing_audio: list[Any] = []
        self._closed = False
        self._av_error = av.FFmpegError
        self.container, self.is_live = _open_container(uri, options)
        self._setup_streams()
        self.time_base: Fraction = self.video.time_base or Fraction(1, 90000)
        rate = self.video.average_rate or self.video.guessed_rate
        self.fps: Fraction | None = Fraction(rate) if rate else None
        self.duration: float | None = self._duration()
        self.frame_count: int | None = self._frame_count()
        # the frames the file's header promises: its stored count, and its duration times its rate where both are
        # known (the lower: some muxers store odd counts); far fewer read means a truncated or damaged file
        stored = int(self.video.frames) if not self.is_live and self.video.frames else None
        timed = int(round(self.duration * float(self.fps))) if stored and self.duration and self.fps else None
        self.frames_announced: int | None = min(stored, timed) if stored and timed else stored
        self._pts_offset = 0  # added to pts after a reconnect
        self._generation = 0  # connection number: 0, then +1 per reconnect
        self._offsets: dict[int, Fraction] = {}  # seconds added to each reconnected connection's timestamps
        self._last_pts: int | None = None
        self._packets = self._demux()
        self._first = self._peek_first()
        if self._first is None and not self.is_live:
            fmt = getattr(self.container.format, "name", "") or ""
            self.close()
            if is_stdin(uri) and ("mp4" in fmt or "mov" in fmt):
                raise UserError("this MP4/MOV cannot be read from a pipe: its index is at the end of the file. Give "
                                "the file's path instead, or pipe a streamable container (MPEG-TS, Matroska, or MP4 "
                                "written with -movflags +faststart)")
            raise UserError(f"no decodable video frame in {redact(uri)} (truncated or corrupt?)")
        self.rotation = self._first[0].rotation if self._first else 0
        width = self._first[0].width if self._first else self.video.width
        height = self._first[0].height if self._first else self.video.height
        self.width, self.height = rotated_size(width, height, self.rotation)

    def _setup_streams(self) -> None:
        """Pick the first video stream and all audio streams (by type, not index)."""
        if not self.container.streams.video:
            kinds = sorted({s.type for s in self.container.streams}) or ["no streams"]
            self.container.close()
            raise UserError(f"no video stream in {redact(self.uri)} (it has: {', '.join(kinds)})")
        self.video = self.container.streams.video[0]
        if self.video.codec_context.name in TEXT_CODECS:
            self.container.close()
            raise UserError(f"not a video file: {redact(self.uri)} (it looks like text)")
        self.video.thread_type = "AUTO"
        self._side_setup()

    def _side_setup(self) -> None:
        """Audio, subtitle and data streams: their packets travel with the frames to the sink."""
        streams = self.container.streams
        self.audio_streams: list[Any] = list(streams.audio)
        self.side_streams: list[Any] = self.audio_streams + list(streams.subtitles) + list(streams.data)

    @property
    def video_format(self) -> VideoFormat:
        """The input video's pixel format, sample aspect ratio and colour tags (for a faithful output)."""
        return video_format_of(self.video, self.rotation)

    def _duration(self) -> float | None:
        if self.is_live:
            return None
        if self.video.duration:
            return float(self.video.duration * self.video.time_base)
        if self.container.duration:
            return self.container.duration / 1_000_000
        return None

    def _frame_count(self) -> int | None:
        """Frames stored in the container, else an estimate from duration and fps; None if live."""
        if self.is_live:
            return None
        if self.video.frames:
            return int(self.video.frames)
        if self.duration and self.fps:
            return int(round(self.duration * float(self.fps)))
        return None

    def _demux(self) -> Iterator[Any]:
        """Packets of the video and audio streams; errors are skipped (files) or reconnected (live)."""
        errors = 0
        attempts = 0
        while True:
            try:
                for packet in self.container.demux(self.video, *self.side_streams):
                    errors = 0
                    yield packet
                return
            except self._av_error as exc:
                if self._closed:
                    return
                if self.is_live:
                    if attempts >= self.reconnect:
                        self.lost = (f"stream {redact(self.uri)} dropped ({self._reason(exc)}) and did not come back "
                                     f"after {attempts} reconnect(s)")
                        log.error("%s; the output ends there", self.lost)
                        return
                    attempts += 1
                    yield None  # flush the frames still inside the decoder of the dropped stream
                    log.warning("stream %s dropped (%s); reconnecting (%d/%d)",
                                redact(self.uri), self._reason(exc), attempts, self.reconnect)
                    if not self._reopen():
                        return
                    continue
                self.skipped += 1
                errors += 1
                if errors >= MAX_CONSECUTIVE_ERRORS:
                    if self._last_pts is not None:  # before the first frame the caller says why in one line
                        log.warning("%s: stopped after %d read errors in a row", self.uri, errors)
                    return

    def _reason(self, exc: BaseException) -> str:
        """Why a live read failed, in words (a read timeout surfaces as FFmpeg's 'exit' error)."""
        import av

        if isinstance(exc, av.ExitError):
            return f"no data for {float(self.options.get('timeout', 10.0)):g} s"
        return error_text(exc)

    def _reopen(self) -> bool:
        """Reopen a live input after a drop; shift later timestamps so they keep increasing. The dropped connection's
        container stays open until close(): audio packets read from it may still be on their way to the writer, and
        a packet of a closed container cannot be muxed ('Container is not open')."""
        self._retired.append(self.container)
        try:
            self.container, _ = _open_container(self.uri, self.options)
            self.video = self.container.streams.video[0]
            self.video.thread_type = "AUTO"
            self._side_setup()
        except (UserError, IndexError) as exc:
            self.lost = f"stream {redact(self.uri)} dropped and could not be reopened ({exc})"
            log.error("%s; the output ends there", self.lost)
            return False
        self._pts_offset = None  # type: ignore[assignment] - set from the first frame after the reconnect
        self._generation += 1
        log.info("stream %s: reconnected", redact(self.uri))
        return True

    def _decoded(self) -> Iterator[tuple[Any, int, list[Any]]]:
        """(av.VideoFrame, its pts, audio packets demuxed since the previous frame) in output order."""
        audio: list[Any] = []
        for packet in self._packets:
            if packet is None:
                packet = self._flush_packet()
            elif packet.stream.type != "video":  # audio, subtitles, data: remuxed as they are
                if packet.size and packet.dts is not None:
                    audio.append((packet, self._generation))
                continue
            try:
                frames = packet.decode()
            except self._av_error:
                self.skipped += 1
                continue
            for vf in frames:  # timestamps are resolved in decode order, before a later reconnect
                pts = self._pts(vf)
                yield vf, pts, self._shifted(audio)
                audio = []
        self._tail_audio = self._shifted(audio)

    def _shifted(self, audio: list[tuple[Any, int]]) -> list[Any]:
        """Audio packets with the timestamp shift of the connection they came from (after reconnects)."""
        packets = []
        for packet, generation in audio:
            offset = self._offsets.get(generation)
            if offset and packet.time_base:
                delta = int(round(offset / packet.time_base))
                packet.dts += delta
                if packet.pts is not None:
                    packet.pts += delta
            packets.append(packet)
        return packets

    def _flush_packet(self) -> Any:
        """An empty packet of the current video stream: decoding it drains the decoder."""
        import av

        packet = av.Packet()
        packet.stream = self.video
        return packet

    def _peek_first(self) -> tuple[Any, int, list[Any]] | None:
        """Decode the first frame now (its rotation gives the output size; a bad input fails early)."""
        self._tail_audio: list[Any] = []
        self._frames = self._decoded()
        try:
            return next(self._frames)
        except StopIteration:
            return None

    def _pts(self, vf: Any) -> int:
        """The frame's pts in the source time_base, kept increasing across reconnects; filled when missing."""
        pts = vf.pts
        if pts is None:  # e.g. the first frames of an RTSP stream: continue from the previous one
            pts = self._last_pts + self._step() if self._last_pts is not None else 0
            self._last_pts = pts
            return pts
        if vf.time_base and vf.time_base != self.time_base:
            pts = int(round(pts * vf.time_base / self.time_base))
        if self._pts_offset is None:  # first frame after a reconnect: continue one frame later
            self._pts_offset = (self._last_pts + self._step() - pts) if self._last_pts is not None else 0
            self._offsets[self._generation] = Fraction(self._pts_offset) * self.time_base
        pts += self._pts_offset
        self._last_pts = pts
        return pts

    def _step(self) -> int:
        """One frame duration in time_base units (1 when the rate is unknown)."""
        return max(int(round(1 / (self.fps * self.time_base))), 1) if self.fps else 1

    def __iter__(self) -> Iterator[Frame]:
        """Frames in presentation order; each carries the audio demuxed up to the next frame."""
        if self._first is None:
            self.trailing_audio = list(self._tail_audio)
            return
        held, held_pts, audio = self._first[0], self._first[1], list(self._first[2])
        self._first = None
        index = 0
        for vf, pts, more in self._frames:
            yield self._frame(held, index, held_pts, audio)
            index += 1
            held, held_pts, audio = vf, pts, list(more)
        yield self._frame(held, index, held_pts, audio + self._tail_audio)
        self._tail_audio = []

    def _frame(self, vf: Any, index: int, pts: int, audio: list[Any]) -> Frame:
        image = vf.to_ndarray(format="bgr24", interpolation=SWS_ACCURATE)
        rotation = vf.rotation
        if rotation:
            image = rotate_image(image, rotation)
        return Frame(image=image, index=index, pts=pts, time_base=self.time_base, audio=audio)

    def close(self) -> None:
        """Release the input. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for container in [*self._retired, self.container]:
            try:
                container.close()
            except Exception:  # noqa: BLE001 - closing a broken stream must not raise
                pass

    def __enter__(self) -> "PyAVSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
