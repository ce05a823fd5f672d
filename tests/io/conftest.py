"""Fixtures for video input/output tests: tiny generated clips and an independent PyAV reader."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import pytest

from streamdeblur.io.clips import remux
from streamdeblur.synthetic import make_face_clip


@dataclass
class Probe:
    """What plain PyAV sees in a file: video pts and size, audio packets."""

    pts: list[int]
    time_base: Fraction
    width: int
    height: int
    pix_fmt: str
    audio_packets: int
    audio_span: float | None  # seconds from the first audio packet's pts to the end of the last
    audio_start: float | None  # seconds: the first audio packet's pts


def probe(path: str | Path) -> Probe:
    """Decode a file with PyAV alone (not the code under test)."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        pts = sorted(p.pts for p in c.demux(v) if p.size and p.pts is not None)
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        first = next(c.decode(v))
        tb, w, h, fmt = v.time_base, first.width, first.height, first.format.name
    with av.open(str(path)) as c:
        span, start, count = None, None, 0
        if c.streams.audio:
            packets = [p for p in c.demux(c.streams.audio[0]) if p.size and p.pts is not None]
            count = len(packets)
            if packets:
                first, last = packets[0], packets[-1]
                span = float((last.pts + last.duration - first.pts) * last.time_base)
                start = float(first.pts * first.time_base)
    return Probe(pts, tb, w, h, fmt, count, span, start)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    """1 s, 24 fps, 160x120 face clip with an AAC tone."""
    return make_face_clip(tmp_path_factory.mktemp("io") / "tiny.mp4", n=24, width=160, height=120)


@pytest.fixture(scope="session")
def tiny_ts(tiny_clip, tmp_path_factory) -> Path:
    """The tiny clip remuxed to MPEG-TS (a streamable container for pipes)."""
    return remux(tiny_clip, tmp_path_factory.mktemp("io") / "tiny.ts")
