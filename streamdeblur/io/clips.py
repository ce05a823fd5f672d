"""Small generated clips, an RTSP publisher and a paced player (a live input made of a file), for tests, examples
and the bench of video input/output.

Each writer uses PyAV directly (not VideoSink), so tests of the sink compare against an
independent encoder.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import av
import numpy as np


def pattern_frame(index: int, width: int, height: int) -> np.ndarray:
    """A BGR test frame whose content identifies its index and orientation (bright top-left block)."""
    image = np.full((height, width, 3), 40, np.uint8)
    image[:, :, 1] = np.linspace(0, 200, width, dtype=np.uint8)[None, :]  # green grows to the right
    image[:, :, 2] = np.linspace(0, 200, height, dtype=np.uint8)[:, None]  # red grows downwards
    bw, bh = max(width // 4, 1), max(height // 4, 1)
    image[:bh, :bw] = 255  # a white block marks the top-left corner
    x = (index * 7) % max(width - 8, 1)
    image[height - 8 :, x : x + 8, 0] = 255  # a blue marker moves with the index
    return image


def write_pattern_clip(
    path: str | Path,
    pts: Sequence[int],
    time_base: Fraction = Fraction(1, 1000),
    width: int = 96,
    height: int = 64,
    rotation: int = 0,
    fps: Fraction = Fraction(25),
    codec: str = "libx264",
) -> Path:
    """Write pattern frames at the given pts (any spacing: VFR) with optional rotation metadata."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        if codec == "libx264":
            stream.options = {"crf": "16", "preset": "ultrafast"}
        if rotation:
            stream.set_display_rotation(rotation)
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(pattern_frame(i, width, height), format="bgr24")
            frame.pts, frame.time_base = p, time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def write_audio_only(path: str | Path, seconds: float = 0.5, rate: int = 48000) -> Path:
    """Write an AAC tone with no video stream (for the 'no video stream' error)."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "mono"
        total = int(rate * seconds)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(total) / rate)).astype(np.float32)
        for start in range(0, total, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def remux(src: str | Path, dst: str | Path, format: str | None = None) -> Path:
    """Copy all video and audio packets of src into a new container (e.g. .ts or .mkv), unchanged."""
    dst = Path(dst)
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=format) as out:
        _copy_packets(inp, out)
    return dst


def _copy_packets(inp: av.container.InputContainer, out: av.container.OutputContainer, paced: bool = False) -> None:
    """inp's video and audio packets into out, unchanged; paced: each when its time comes (its pts from the first
    packet's, against the clock)."""
    streams = [s for s in inp.streams if s.type in ("video", "audio")]
    mapping = {s.index: out.add_stream_from_template(s) for s in streams}
    start, first = time.monotonic(), None
    for packet in inp.demux(*streams):
        if not packet.size or packet.dts is None:
            continue
        if paced and packet.pts is not None:
            due = float(packet.pts * packet.time_base)
            first = due if first is None else first
            time.sleep(max(0.0, due - first - (time.monotonic() - start)))
        packet.stream = mapping[packet.stream.index]
        out.mux(packet)


def play_into(src: str | Path, out: BinaryIO, format: str = "mpegts") -> None:
    """Play src's video and audio packets into a writable binary file (a pipe) as a camera would send them: each
    packet when its time comes (its pts from the first packet's, against the clock), remuxed unchanged and flushed
    packet by packet (H.264 as `bench` writes it; a codec whose headers only the source container holds, such as
    MPEG-4 Part 2 in MP4, does not survive the remux). Leaves `out` open."""
    with av.open(str(src)) as inp, av.open(out, "w", format=format, options={"flush_packets": "1"}) as dst:
        _copy_packets(inp, dst, paced=True)


@contextmanager
def playing_on_stdin(src: str | Path) -> Iterator[None]:
    """While the block runs, this process's stdin (fd 0) is a pipe that a thread fills with play_into(src): `process
    -` in the block reads src as a live input at its frame rate. fd 0 is restored after (the pipe's read end closes,
    so a player still writing stops on a broken pipe)."""
    read, write = os.pipe()
    saved = os.dup(0)
    os.dup2(read, 0)
    os.close(read)

    def feed() -> None:
        with os.fdopen(write, "wb") as pipe:
            try:
                play_into(src, pipe)
            except OSError:  # the reader stopped reading (its own failure is reported by it)
                pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        yield
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        feeder.join(timeout=5)


def publish_rtsp(
    src: str | Path,
    url: str,
    max_frames: int | None = None,
    stall: float = 0.0,
    connect_timeout: float = 15.0,
    realtime: bool = False,
) -> None:
    """Push the video and audio packets of src to an RTSP listener at url (retrying until it listens).

    After max_frames video packets it stops sending; with stall > 0 it keeps the connection open that
    long without sending (a stalled stream), then closes. realtime paces packets by their pts.
    """
    deadline = time.monotonic() + connect_timeout
    with av.open(str(src)) as inp:
        video = inp.streams.video[0]
        audio = list(inp.streams.audio)
        while True:  # the muxer connects when it writes the header
            out = av.open(url, "w", format="rtsp", options={"rtsp_transport": "tcp"})
            mapping = {s.index: out.add_stream_from_template(s) for s in [video, *audio]}
            try:
                out.start_encoding()
                break
            except (av.FFmpegError, OSError):
                _close_quietly(out)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        try:
            start = time.monotonic()
            sent = 0
            for packet in inp.demux(video, *audio):
                if not packet.size or packet.dts is None:
                    continue
                if realtime and packet.pts is not None:
                    delay = float(packet.pts * packet.time_base) - (time.monotonic() - start)
                    if delay > 0:
                        time.sleep(delay)
                is_video = packet.stream.type == "video"
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
                sent += is_video
                if max_frames is not None and sent >= max_frames:
                    break
            if stall:
                time.sleep(stall)
        finally:
            _close_quietly(out)


def _close_quietly(container: object) -> None:
    try:
        container.close()  # type: ignore[attr-defined]
    except (av.FFmpegError, OSError):
        pass


def publisher_command(src: str | Path, url: str, max_frames: int | None = None, stall: float = 0.0) -> list[str]:
    """The argv of a separate process running publish_rtsp (a publisher thread in the listener's
    own process hangs both, so the publisher gets a process of its own)."""
    code = (
        "import sys; from streamdeblur.io.clips import publish_rtsp; "
        "publish_rtsp(sys.argv[1], sys.argv[2], max_frames=int(sys.argv[3]) or None, stall=float(sys.argv[4]))"
    )
    return [sys.executable, "-c", code, str(src), url, str(max_frames or 0), str(stall)]
