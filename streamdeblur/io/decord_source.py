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
        self._options = options
        self.is_live = False
        self.skipped = 0
        self.trailing_audio: list[Any] = []
        self.width, self.height = probe.width, probe.height
        self.rotation = probe.rotation
        self.fps, self.time_base, self.duration = probe.fps, probe.time_base, probe.duration
        self._start = probe.video.start_time or 0
        self._start_s = float(self._start * self.time_base)  # decord's frame times count from it
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
        audio_iter = self._audio_packets()
        pending = next(audio_iter, None)
        audio: list[Any] = []  # packets not yet handed to a frame
        images = self._images()
        current = next(images, None)
        yielded = 0
        while current is not None:
            following = next(images, None)
            limit = following[1] + self._start_s if following is not None else float("inf")
            while pending is not None and (pending.pts is None or float(pending.pts * pending.time_base) < limit):
                audio.append(pending)
                pending = next(audio_iter, None)
            index, time, image = current
            yield Frame(np.ascontiguousarray(image), index, int(round(time / self.time_base)) + self._start,
                        self.time_base, audio)
            audio, current, yielded = [], following, yielded + 1
        self.skipped = max(0, len(self._reader) - yielded) if self._reader is not None else self.skipped
        rest = [pending] if pending is not None else []
        self.trailing_audio = audio + rest + list(audio_iter)  # after the last frame: nothing is dropped

    def _images(self) -> Iterator[tuple[int, float, np.ndarray]]:
        """(index, seconds from the stream's start, BGR image) of each frame decord decodes. decord fails every
        frame after a damaged one, so from there PyAV decodes the rest (skipping what it cannot decode)."""
        n = len(self._reader)
        times = self._reader.get_frame_timestamp(range(n))[:, 0] if n else []
        for i in range(n):
            try:
                image = self._reader.next().asnumpy()[:, :, ::-1]
            except Exception:  # noqa: BLE001 - a damaged frame: the rest from PyAV
                yield from self._images_from_pyav(times, float(times[i]))
                return
            if self.rotation and image.shape[:2] != (self.height, self.width):
                image = rotate_image(image, self.rotation)  # eva-decord rotates by itself; older decord not
            yield i, float(times[i]), image

    def _images_from_pyav(self, times: Any, since: float) -> Iterator[tuple[int, float, np.ndarray]]:
        with PyAVSource(self.uri, **self._options) as source:
            for frame in source:  # its audio is left: the audio packets come from _audio_packets
                time = (frame.time if frame.time is not None else since) - self._start_s
                if time >= since - 1e-6:
                    index = min(int(np.searchsorted(times, time - 1e-6)), len(times) - 1)
                    yield index, time, frame.image

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
