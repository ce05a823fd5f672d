"""decord as the decoder of files (`--decoder decord`): frames from decord; timing, rotation, the video format
and every audio/subtitle/data packet from PyAV (decord reads none); what decord cannot open goes to PyAV."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from streamdeblur.errors import MissingDependencyError, UserError
from streamdeblur.io.media import Frame, camera_device, error_text, is_network, is_stdin, redact, rotate_image
from streamdeblur.io.pyav_source import PyAVSource


class DecordCannotRead(UserError):
    """decord cannot open a file that PyAV can (e.g. a truncated mp4): open_source falls back to PyAV."""


class DecordSource:
    """A file VideoSource decoded by decord; timing, rotation and audio packets come from PyAV.

    decord itself reads no audio: the audio packets are demuxed with PyAV from the same file and
    attached to the frames by time, so audio remux works as with the pyav decoder.
    """

    def __init__(self, uri: str, **options: Any) -> None:
        try:
            import decord
        except ImportError:
            raise MissingDependencyError(
                "decoder 'decord' needs the decord package: pip install 'streamdeblur[decord]'"
            ) from None
        if is_stdin(uri) or is_network(uri) or camera_device(uri):
            raise UserError(f"decoder 'decord' reads files only; use decoder 'pyav' for {redact(uri)}")
        probe = PyAVSource(uri, **options)  # validates the file and gives timing, rotation and audio
        self.uri = uri
        self.is_live = False
        self.skipped = 0
        self.trailing_audio: list[Any] = []
        self.width, self.height = probe.width, probe.height
        self.rotation = probe.rotation
        self.fps, self.time_base, self.duration = probe.fps, probe.time_base, probe.duration
        self._start = probe.video.start_time or 0
        self.audio_streams = probe.audio_streams
        self.side_streams = probe.side_streams
        self.video_format = probe.video_format
        self._probe = probe
        try:
            self._reader = decord.VideoReader(uri, ctx=decord.cpu(0))
        except Exception as exc:  # noqa: BLE001 - decord raises its own DECORDError
            probe.close()
            raise DecordCannotRead(f"decord cannot read {uri}: {error_text(exc).splitlines()[0][:200]}") from None
        self.frame_count: int | None = len(self._reader)
        self._closed = False

    def _audio_packets(self) -> Iterator[Any]:
        """Audio (and subtitle/data) packets of the file in demux order, read with PyAV (decord reads none)."""
        if not self.side_streams:
            return
        import av

        # open until close(): the packets' data lives with their container, and the writer thread muxes
        # them after the reader has moved on
        self._side_container = container = av.open(self.uri)
        streams = [container.streams[s.index] for s in self.side_streams]
        try:
            for packet in container.demux(*streams):
                if packet.size and packet.dts is not None:
                    yield packet
        except av.FFmpegError:  # a truncated file: keep what was read
            return

    def __iter__(self) -> Iterator[Frame]:
        """Frames in order; audio packets up to each frame's time are attached to it."""
        times = self._reader.get_frame_timestamp(range(len(self._reader)))[:, 0] if len(self._reader) else []
        audio_iter = self._audio_packets()
        pending = next(audio_iter, None)
        n = len(self._reader)
        audio: list[Any] = []  # packets not yet handed to a frame (a skipped frame hands them to the next)
        for i in range(n):
            limit = float(times[i + 1]) + float(self._start * self.time_base) if i + 1 < n else float("inf")
            while pending is not None and (pending.pts is None or float(pending.pts * pending.time_base) < limit):
                audio.append(pending)
                pending = next(audio_iter, None)
            try:
                image = self._reader.next().asnumpy()[:, :, ::-1]
            except Exception:  # noqa: BLE001 - a corrupt frame
                self.skipped += 1
                continue
            if self.rotation and image.shape[:2] != (self.height, self.width):
                image = rotate_image(image, self.rotation)  # eva-decord rotates by itself; older decord not
            pts = int(round(float(times[i]) / self.time_base)) + self._start
            yield Frame(np.ascontiguousarray(image), i, pts, self.time_base, audio)
            audio = []
        rest = [pending] if pending is not None else []
        self.trailing_audio = audio + rest + list(audio_iter)  # after the last frame: nothing is dropped

    def close(self) -> None:
        """Release the reader and the audio demuxer. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._reader = None
        self._probe.close()
        if getattr(self, "_side_container", None) is not None:
            self._side_container.close()

    def __enter__(self) -> "DecordSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
