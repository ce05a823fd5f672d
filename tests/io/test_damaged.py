"""A damaged input is said to be damaged (never a silent short output); a killed run's partial file is cleaned up."""

from __future__ import annotations

import os
import subprocess
import time

import av
import numpy as np

from streamdeblur.io.sink import _alive, partial_path
from streamdeblur.pipeline import ProcessOptions, process


def _faststart_clip(path, n: int = 60) -> bytes:
    """An MP4 with its index at the front (so a cut copy still opens) and its frame count in the header."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.options = {"g": "6"}
        rng = np.random.default_rng(0)
        for i in range(n):
            image = (rng.random((64, 96, 3)) * 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path.read_bytes()


def test_a_truncated_file_is_reported_and_a_whole_one_is_not(tmp_path, caplog):
    whole = tmp_path / "whole.mp4"
    data = _faststart_clip(whole)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 5])
    options = ProcessOptions(model="identity", detector="none")

    summary = process(str(whole), str(tmp_path / "o1.mp4"), options)
    assert summary["frames"] == 60 and summary["warnings"] == []

    caplog.set_level("WARNING", logger="streamdeblur")
    summary = process(str(cut), str(tmp_path / "o2.mp4"), options)
    assert 0 < summary["frames"] < 45
    assert len(summary["warnings"]) == 1
    assert f"ended after {summary['frames']} of the 60 frames" in summary["warnings"][0]
    assert summary["warnings"][0] in caplog.text  # said on stderr, not only in the JSON


def test_a_run_stopped_early_on_purpose_is_not_called_damaged(tmp_path):
    whole = tmp_path / "whole.mp4"
    _faststart_clip(whole)
    summary = process(str(whole), str(tmp_path / "o.mp4"), ProcessOptions(model="identity", detector="none",
                                                                           duration=1.0))
    assert summary["frames"] < 60 and summary["warnings"] == []


def test_a_truncated_file_is_reported_when_duration_asks_for_more_than_it_has(tmp_path):
    """--duration 2 of a 60-frame 24-fps file cut to 24 frames' worth: 48 frames asked for, fewer came (it was not
    said before: any --duration silenced the check); --duration 0.5 asks for 12, which came."""
    whole = tmp_path / "whole.mp4"
    data = _faststart_clip(whole)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 5])
    for duration, warned in ((2.0, True), (0.5, False)):
        summary = process(str(cut), str(tmp_path / f"o{duration}.mp4"),
                          ProcessOptions(model="identity", detector="none", duration=duration))
        assert bool(summary["warnings"]) == warned, summary
        assert not warned or f"ended after {summary['frames']} of the 60 frames" in summary["warnings"][0]


def test_a_killed_writers_partial_file_is_removed_even_before_its_parent_reaps_it(tmp_path):
    child = subprocess.Popen(["sleep", "0"])  # never waited for: a zombie once it exits
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{child.pid}/stat") as f:
            if f.read().rpartition(")")[2].split()[0] == "Z":
                break
        time.sleep(0.05)
    assert not _alive(child.pid)
    assert _alive(os.getpid())
    target = tmp_path / "out.mp4"
    stale = tmp_path / f".out.partial-{child.pid}.mp4"
    stale.write_bytes(b"half a video")
    assert partial_path(str(target)) == str(tmp_path / f".out.partial-{os.getpid()}.mp4")
    assert not stale.exists()
    child.wait()
