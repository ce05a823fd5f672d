"""Recording a live input for the commands that read it more than once (io/record.py; `adapt webcam:0`): any input
is recorded the same way, so a file stands in for the camera here (the suite's machines have none)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from streamdeblur.io import record as record_module
from streamdeblur.io.media import is_live_input
from streamdeblur.io.record import record
from streamdeblur.io.sink import partial_files
from streamdeblur.io.source import open_source
from tests.io.conftest import probe


def first_frames(path, count: int) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24").astype(int) for _, f in zip(range(count), c.decode(video=0))]


def test_a_recording_is_the_first_seconds_of_the_input_kept_losslessly(face_clip, tmp_path):
    source = open_source(str(face_clip))
    fps, total = float(source.fps), source.frame_count
    source.close()
    seen: list[float] = []
    out = tmp_path / "rec.mp4"
    frames, seconds = record(str(face_clip), out, 1.0, progress=seen.append)
    assert frames == round(fps) < total and seconds == pytest.approx(1.0)
    assert len(probe(out).pts) == frames and probe(out).pts == probe(face_clip).pts[:frames]
    assert seen == sorted(seen) and len(seen) == frames and seen[-1] == pytest.approx(1.0 - 1.0 / fps)
    # lossless (x264 qp 0): what differs is the BGR <-> YUV conversion's rounding, a fraction of a grey level
    for a, b in zip(first_frames(face_clip, frames), first_frames(out, frames)):
        assert np.abs(a - b).mean() < 0.6
    whole = tmp_path / "whole.mp4"
    assert record(str(face_clip), whole, None)[0] == total


def test_an_interrupted_recording_leaves_no_file(face_clip, tmp_path, monkeypatch):
    written = []

    def write(self, image, pts, audio=()):
        written.append(pts)
        if len(written) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(record_module.VideoSink, "write", write)
    out = tmp_path / "rec.mp4"
    with pytest.raises(KeyboardInterrupt):
        record(str(face_clip), out, None)
    assert not out.exists() and partial_files(out) == []


@pytest.mark.parametrize("uri, live", [("-", True), ("pipe:", True), ("webcam:0", True), ("/dev/video2", True),
                                       ("rtsp://cam.local/1", True), ("https://host/live.m3u8", True),
                                       ("clip.mp4", False), ("/dev/null", False), ("webcam.mp4", False)])
def test_which_inputs_are_live(uri, live):
    assert is_live_input(uri) is live
