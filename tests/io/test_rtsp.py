"""RTSP on loopback: a PyAV publisher process pushes to open_source(..., listen=True)."""

from __future__ import annotations

import logging
import os
import subprocess

import av
import pytest

from streamdeblur.io.clips import publisher_command
from streamdeblur.io.sink import VideoSink
from streamdeblur.io.source import open_source
from tests.conftest import REPO
from tests.io.conftest import free_port, probe

ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def _has_rtsp() -> bool:
    try:
        av.ContainerFormat("rtsp", "w")
        av.ContainerFormat("rtsp", "r")
    except ValueError:
        return False
    return True


pytestmark = [
    pytest.mark.skipif(not _has_rtsp(), reason="this FFmpeg build has no rtsp muxer/demuxer"),
    pytest.mark.timeout(60),
]


def start_publisher(clip, url, max_frames=None, stall=0.0):
    return subprocess.Popen(publisher_command(clip, url, max_frames, stall), env=ENV, stderr=subprocess.PIPE)


def stop(proc):
    try:
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_frames_arrive_from_a_publisher(tiny_clip):
    url = f"rtsp://127.0.0.1:{free_port()}/live"
    publisher = start_publisher(tiny_clip, url)
    try:
        src = open_source(url, listen=True, listen_timeout=15, timeout=5)
        assert src.is_live and src.frame_count is None
        assert (src.width, src.height) == (160, 120)
        frames = list(src)
        src.close()
    finally:
        stop(publisher)
    assert len(frames) == 24
    pts = [f.pts for f in frames]
    assert pts == sorted(set(pts))  # increasing, none missing (the first RTP frame has none: it is filled)
    assert frames[-1].time - frames[0].time == pytest.approx(23 / 24, abs=0.05)


@pytest.fixture(scope="module")
def clip_48(tmp_path_factory):
    """2 s at 24 fps, 160x120 with a tone: enough frames for the listener's probe to end before a stall."""
    from streamdeblur.synthetic import make_face_clip

    return make_face_clip(tmp_path_factory.mktemp("rtsp") / "c48.mp4", n=48, width=160, height=120)


def test_a_stalled_stream_reconnects(clip_48, tmp_path, caplog):
    """The first publisher sends 40 frames and stalls; the source times out, logs, listens again,
    and a second publisher's frames continue the same iteration with increasing timestamps;
    video and audio of both connections are written to one playable file."""
    url = f"rtsp://127.0.0.1:{free_port()}/live"
    first = start_publisher(clip_48, url, max_frames=40, stall=3)
    second = None
    frames = []
    out = tmp_path / "recorded.mkv"
    try:
        with caplog.at_level(logging.INFO, logger="streamdeblur"):
            src = open_source(url, listen=True, listen_timeout=15, timeout=1, reconnect=1)
            assert len(src.audio_streams) == 1
            with VideoSink(str(out), src.width, src.height, src.time_base, src.fps, src.audio_streams) as sink:
                for frame in src:
                    frames.append(frame)
                    sink.write(frame.image, frame.pts, frame.audio)
                    if second is None and len(frames) >= 30:
                        second = start_publisher(clip_48, url)
                sink.write_audio(src.trailing_audio)
            src.close()
    finally:
        for proc in (first, second):
            if proc is not None:
                stop(proc)
    # the publisher's muxer may keep its last packet queued through the stall: allow one missing
    assert 40 + 48 - 1 <= len(frames) <= 40 + 48
    pts = [f.pts for f in frames]
    assert pts == sorted(set(pts))
    assert any("reconnecting (1/1)" in r.getMessage() for r in caplog.records)
    got = probe(out)
    assert len(got.pts) == len(frames)
    assert got.audio_packets > 94  # more than one connection's worth (2 s of 1024-sample AAC frames)
    assert got.audio_span == pytest.approx((pts[-1] - pts[0]) * src.time_base, abs=0.3)


def test_a_stream_that_does_not_come_back_is_an_error_with_the_output_kept(clip_48, tmp_path):
    """The publisher sends 40 frames and stalls past the source's timeout; no one publishes again, so the one
    reconnect finds nobody: the frames that came are written, and the summary's error (exit 1 on the command
    line; it read as a whole run, exit 0) says the stream was lost."""
    from streamdeblur.pipeline import ProcessOptions, process

    url = f"rtsp://127.0.0.1:{free_port()}/live"
    publisher = start_publisher(clip_48, url, max_frames=40, stall=8)
    out = tmp_path / "lost.mp4"
    try:
        summary = process(url, str(out), ProcessOptions(model="identity", source_options=dict(
            listen=True, listen_timeout=3, timeout=1, reconnect=1)))
    finally:
        stop(publisher)
    assert summary["error"] is not None and "stream" in summary["error"] and not summary["interrupted"], summary
    assert 30 <= len(probe(out).pts) == summary["frames"] <= 40
