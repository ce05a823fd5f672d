"""Nothing lost, ever: `process` under faults, through a real subprocess as a user meets them.

The input survives `-o` the same file; a SIGKILL mid-run leaves no file (or the previous one) under
the output's name; a full disk and a closed stdout give one line (or nothing) and no traceback;
mistakes in options fail before any work; audio a container cannot hold is transcoded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from streamdeblur.synthetic import synthesize_frames, write_clip
from tests.helpers import one_line, run_cli, video_info, wait_until_writing


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("faults") / "in.mp4", synthesize_frames(24, 320, 240, blur=False),
                      audio_hz=440.0)


def test_the_input_survives_being_named_as_the_output(clip, tmp_path):
    mine = tmp_path / "a.mp4"
    mine.write_bytes(clip.read_bytes())
    (tmp_path / "link.mp4").symlink_to(mine)
    for target in (mine, tmp_path / "link.mp4", tmp_path / "." / "a.mp4"):
        line = one_line(run_cli("process", str(mine), "-o", str(target), "--model", "identity", "-q"), 2)
        assert "is the input" in line
    assert mine.read_bytes() == clip.read_bytes()


def test_sigkill_leaves_the_previous_file_or_none_under_the_output_name(tmp_path):
    long_clip = write_clip(tmp_path / "long.mp4", synthesize_frames(400, 640, 360, blur=False))
    for previous in (None, b"the previous output"):
        out = tmp_path / "out.mp4"
        out.unlink(missing_ok=True)
        if previous is not None:
            out.write_bytes(previous)
        proc = subprocess.Popen([sys.executable, "-m", "streamdeblur", "process", str(long_clip), "-o", str(out),
                                 "--model", "identity", "-q"], stderr=subprocess.PIPE)
        wait_until_writing(out, proc, timeout=60, settle=0)  # killed while the output is being written
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        if previous is None:
            assert not out.exists()
        else:
            assert out.read_bytes() == previous
    # the next run to the same output removes the leftovers of killed runs and puts a complete file in place
    proc = run_cli("process", str(long_clip), "-o", str(out), "--model", "identity", "-q", "--detector", "none")
    assert proc.returncode == 0, proc.stderr.decode()
    assert video_info(out)["frames"] == 400
    assert not list(tmp_path.glob(".out.partial-*"))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_one_line_naming_the_file(clip):
    line = one_line(run_cli("process", str(clip), "-o", "/dev/full", "--format", "mp4", "--model", "identity"), 1)
    assert "disk full" in line and "/dev/full" in line and "frames" in line


def test_a_closed_stdout_ends_quietly(clip):
    cmd = [sys.executable, "-m", "streamdeblur", "process", str(clip), "-o", "-", "--format", "mpegts",
           "--model", "identity", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(2000)  # like `| head -c 2000`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 141, err
    assert "Traceback" not in err and "Error" not in err


@pytest.mark.parametrize("args, words", [
    (["--codec", "aac"], "audio encoder"),
    (["--codec", "nosuchcodec"], "unknown or unavailable video encoder"),
    (["--summary-json", "/nonexistent-folder/run.json"], "does not exist"),
    (["--preset", "quick"], "unknown --preset"),
    (["--detect-size", "10"], "at least 64"),
])
def test_option_mistakes_fail_before_any_work(clip, tmp_path, args, words):
    start = time.perf_counter()
    line = one_line(run_cli("process", str(clip), "-o", str(tmp_path / "o.mp4"), *args), 2)
    assert words in line
    assert not (tmp_path / "o.mp4").exists() and not list(tmp_path.glob(".o.partial*"))
    assert time.perf_counter() - start < 60


def test_pcm_audio_is_transcoded_for_mp4_and_said(tmp_path):
    src = tmp_path / "pcm.avi"
    with av.open(str(src), "w") as out:
        v = out.add_stream("mpeg4", rate=25)
        v.width, v.height, v.pix_fmt = 320, 240, "yuv420p"
        a = out.add_stream("pcm_s16le", rate=16000, layout="mono")
        t = np.arange(640) / 16000
        for i in range(25):
            for p in v.encode(av.VideoFrame.from_ndarray(np.full((240, 320, 3), 8 * i, np.uint8), format="bgr24")):
                out.mux(p)
            samples = (3000 * np.sin(2 * np.pi * 440 * (t + i * 0.04))).astype(np.int16)[None]
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 640
            for p in a.encode(frame):
                out.mux(p)
        for s in (v, a):
            for p in s.encode(None):
                out.mux(p)
    proc = run_cli("process", str(src), "-o", str(tmp_path / "o.mp4"), "--model", "identity")
    assert proc.returncode == 0, proc.stderr.decode()
    assert "transcoded to aac" in proc.stderr.decode()
    with av.open(str(tmp_path / "o.mp4")) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
        samples = sum(f.samples for f in c.decode(audio=0))
    assert abs(samples - 16000) < 2048  # one second of sound (plus the encoder's priming)
    assert video_info(tmp_path / "o.mp4")["frames"] == 25


def test_a_virtual_camera_output_explains_how_to_create_one(clip):
    """V4L2 loopback output (FFmpeg's v4l2 muxer) is real but needs the v4l2loopback kernel module, which these
    machines lack: only its error path is tested here."""
    device = "/dev/video63"
    if os.path.exists(device):
        pytest.skip(f"{device} exists here")
    line = one_line(run_cli("process", str(clip), "-o", device, "--model", "identity"), 2)
    assert "v4l2loopback" in line and device in line
