"""Pipes: a real subprocess reads a video from its stdin, another writes one to its stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import av
import pytest

from streamdeblur.io.clips import remux
from streamdeblur.io.source import open_source
from tests.conftest import REPO
from tests.io.conftest import probe

ENV = {**os.environ, "PYTHONPATH": str(REPO)}

READER = """
import json, sys
from streamdeblur.io.source import open_source
src = open_source('-', **json.loads(sys.argv[1]))
frames = list(src)
print(json.dumps({"size": [src.width, src.height], "audio_streams": len(src.audio_streams),
                  "audio": sum(len(f.audio) for f in frames) + len(src.trailing_audio),
                  "pts": [f.pts for f in frames], "live": src.is_live}))
"""

WRITER = """
import sys
from streamdeblur.io.source import open_source
from streamdeblur.io.sink import VideoSink
src = open_source(sys.argv[1])
fmt = sys.argv[2] or None
sink = VideoSink('-', src.width, src.height, src.time_base, src.fps, src.audio_streams, format=fmt, preset='ultrafast')
with sink:
    for f in src:
        sink.write(f.image, f.pts, f.audio)
"""


def read_from_stdin(data: bytes, **options) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", READER, json.dumps(options)], input=data, capture_output=True, env=ENV, timeout=60
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return json.loads(proc.stdout)


def test_read_mpegts_from_stdin(tiny_ts):
    got = read_from_stdin(tiny_ts.read_bytes())
    src = open_source(str(tiny_ts))
    expected = [f.pts for f in src]
    src.close()
    assert got["size"] == [160, 120] and not got["live"]
    assert got["pts"] == expected and len(expected) == 24
    assert got["audio_streams"] == 1 and got["audio"] == probe(tiny_ts).audio_packets


def test_read_matroska_from_stdin_with_format(tiny_clip, tmp_path):
    mkv = remux(tiny_clip, tmp_path / "tiny.mkv")
    got = read_from_stdin(mkv.read_bytes(), format="matroska")
    assert len(got["pts"]) == 24 and got["audio"] == probe(mkv).audio_packets


def test_garbage_on_stdin_is_a_user_error():
    proc = subprocess.run(
        [sys.executable, "-c", READER, "{}"], input=b"not a video\n" * 100, capture_output=True, env=ENV, timeout=60
    )
    assert proc.returncode != 0
    assert b"UserError" in proc.stderr and b"stdin" in proc.stderr


@pytest.mark.parametrize("fmt,name", [("", "mpegts"), ("matroska", "matroska,webm")])
def test_write_to_stdout(tiny_clip, tmp_path, fmt, name):
    proc = subprocess.run([sys.executable, "-c", WRITER, str(tiny_clip), fmt], capture_output=True, env=ENV, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = tmp_path / "piped.bin"
    out.write_bytes(proc.stdout)
    with av.open(str(out)) as c:
        assert c.format.name == name
        assert [s.type for s in c.streams] == ["video", "audio"]
    got, ref = probe(out), probe(tiny_clip)
    assert len(got.pts) == 24
    # frame times relative to the audio are kept (the container may shift both)
    rel_got = [float(p * got.time_base) - got.audio_start for p in got.pts]
    rel_ref = [float(p * ref.time_base) - ref.audio_start for p in ref.pts]
    assert rel_got == pytest.approx(rel_ref, abs=1e-3)
    assert got.audio_packets == ref.audio_packets
