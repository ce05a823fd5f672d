"""Faithful streams: the output keeps the input's sample aspect ratio, bit depth, chroma layout and colour
tags; decord keeps every audio packet and hands what it cannot read to PyAV; an MP4 that cannot be
streamed says so when piped."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streamdeblur.synthetic import make_face_clip
from tests.helpers import run_cli, video_info


def write_tagged(path: Path, pix: str, sar: Fraction | None = None, width: int = 320, height: int = 240,
                 frames: int = 10, options: dict | None = None) -> Path:
    """A clip in a given pixel format, sample aspect ratio, BT.709 colour tags."""
    with av.open(str(path), "w", options=options or {}) as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = width, height, pix
        ctx = v.codec_context
        if sar:
            ctx.sample_aspect_ratio = sar
        ctx.color_primaries, ctx.color_trc, ctx.colorspace = 1, 1, 1
        for i in range(frames):
            image = np.full((height, width, 3), (20 + 10 * i) % 256, np.uint8)
            for p in v.encode(av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format=pix)):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
    return path


def stream_format(path: Path) -> tuple:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        ctx = s.codec_context
        return ctx.pix_fmt, s.sample_aspect_ratio, ctx.color_primaries, ctx.color_trc, ctx.colorspace


@pytest.mark.parametrize("name, pix, sar", [
    ("anamorphic.mp4", "yuv420p", Fraction(32, 27)),  # 720x480 shown at 16:9
    ("ten_bit_422.mkv", "yuv422p10le", None),
    ("four_four_four.mp4", "yuv444p", Fraction(4, 3)),
])
def test_output_keeps_the_inputs_format_and_tags(tmp_path, name, pix, sar):
    src = write_tagged(tmp_path / name, pix, sar, width=720 if sar == Fraction(32, 27) else 320,
                       height=480 if sar == Fraction(32, 27) else 240)
    out = tmp_path / f"out_{name}"
    proc = run_cli("process", str(src), "-o", str(out), "--model", "identity", "-q")
    assert proc.returncode == 0, proc.stderr.decode()
    assert stream_format(out) == stream_format(src) == (pix, sar, 1, 1, 1)


def test_decord_keeps_all_the_audio(tmp_path):
    pytest.importorskip("decord")
    clip = make_face_clip(tmp_path / "tone.mp4", n=48, width=160, height=120)
    outs = {}
    for decoder in ("pyav", "decord"):
        outs[decoder] = tmp_path / f"{decoder}.mp4"
        proc = run_cli("process", str(clip), "-o", str(outs[decoder]), "--model", "identity", "-q",
                       "--decoder", decoder)
        assert proc.returncode == 0, proc.stderr.decode()
    src, via_decord = video_info(clip), video_info(outs["decord"])
    assert via_decord["frames"] == src["frames"] == 48
    assert via_decord["audio_seconds"] == pytest.approx(src["audio_seconds"], abs=0.03)


def test_decord_hands_a_file_it_cannot_open_to_pyav(tmp_path):
    pytest.importorskip("decord")
    whole = write_tagged(tmp_path / "whole.mp4", "yuv420p", frames=60, options={"movflags": "faststart"})
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    frames = {}
    for decoder in ("pyav", "decord"):
        out = tmp_path / f"{decoder}.mp4"
        proc = run_cli("process", str(cut), "-o", str(out), "--model", "identity", "-q", "--decoder", decoder)
        assert proc.returncode == 0, proc.stderr.decode()
        frames[decoder] = video_info(out)["frames"]
    # What is left of the cut file depends on the encoder's packet sizes; decord must give up no more of it
    # than PyAV reads on its own.
    assert frames["decord"] == frames["pyav"] >= 10, frames


def test_decord_hands_the_rest_of_a_file_damaged_in_the_middle_to_pyav(tmp_path):
    """decord fails every frame after a damaged one: the frames from there come from PyAV, so the output has as
    many frames as PyAV alone reads and its video runs as long as its audio (it lost 38 of 50 frames before)."""
    pytest.importorskip("decord")
    clip = make_face_clip(tmp_path / "whole.mp4", n=50, width=160, height=120)
    data = bytearray(clip.read_bytes())
    middle, hole = len(data) // 2, len(data) // 12
    data[middle:middle + hole] = bytes(hole)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    info = {}
    for decoder in ("pyav", "decord"):
        out = tmp_path / f"{decoder}.mp4"
        proc = run_cli("process", str(damaged), "-o", str(out), "--model", "identity", "--decoder", decoder)
        assert proc.returncode == 0 and "damaged" in proc.stderr.decode(), proc.stderr.decode()
        info[decoder] = video_info(out)
    assert info["decord"]["frames"] == info["pyav"]["frames"] >= 40, info
    assert info["decord"]["audio_seconds"] == pytest.approx(info["pyav"]["audio_seconds"], abs=0.03)


def test_an_mp4_with_its_index_at_the_end_explains_itself_when_piped(tmp_path):
    clip = make_face_clip(tmp_path / "moov_at_end.mp4", n=48)  # bigger than FFmpeg's probe buffer
    proc = run_cli("process", "-", "-o", str(tmp_path / "o.mp4"), "--model", "identity", input=clip.read_bytes())
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "index is at the end" in lines[0] and "MPEG-TS" in lines[0], err
