"""open_source: decoding, timestamps, audio attachment, rotation, corrupt input, decord."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from streamdeblur.io.clips import pattern_frame, remux, write_pattern_clip
from streamdeblur.io.source import camera_device, is_network, is_stdin, open_source, rotate_image, rotated_size
from tests.io.conftest import probe


def read_all(uri, **kwargs):
    """(frames, source) after iterating a source to the end."""
    src = open_source(str(uri), **kwargs)
    try:
        frames = list(src)
    finally:
        src.close()
    return frames, src


def test_generated_clip_frames_timing_and_audio(face_clip):
    ref = probe(face_clip)
    frames, src = read_all(face_clip)
    assert (src.width, src.height) == (480, 360)
    assert src.fps == 24 and src.frame_count == 48 and not src.is_live
    assert src.duration == pytest.approx(2.0, abs=0.05)
    assert len(frames) == 48
    assert [f.index for f in frames] == list(range(48))
    assert [f.pts for f in frames] == ref.pts
    assert frames[10].time == pytest.approx(10 / 24, abs=1e-3)
    assert all(f.image.shape == (360, 480, 3) and f.image.dtype == np.uint8 for f in frames)
    # every audio packet is handed on exactly once, in demux order, none left behind
    audio = [p for f in frames for p in f.audio] + src.trailing_audio
    assert len(audio) == ref.audio_packets > 0
    assert [p.pts for p in audio] == sorted(p.pts for p in audio)
    assert len(src.audio_streams) == 1


def test_images_are_bgr(tmp_path):
    path = write_pattern_clip(tmp_path / "p.mp4", pts=[0, 40, 80])
    frames, _ = read_all(path)
    expected = pattern_frame(0, 96, 64).astype(int)
    assert np.abs(frames[0].image.astype(int) - expected).mean() < 6
    # the bottom-left corner is red-ish (channel 2 grows downwards), not blue
    pixel = frames[0].image[50, 2].astype(int)
    assert pixel[2] > pixel[0] + 100


def test_vfr_timestamps_are_kept(tmp_path):
    pts = [0, 40, 80, 200, 240, 250, 400, 1000, 1040, 1300]
    path = write_pattern_clip(tmp_path / "vfr.mkv", pts=pts, time_base=Fraction(1, 1000))
    frames, src = read_all(path)
    assert src.time_base == Fraction(1, 1000)
    assert [f.pts for f in frames] == pts


@pytest.mark.parametrize("degrees,decoder", [(90, "pyav"), (-90, "pyav"), (180, "pyav"), (90, "decord")])
def test_rotation_metadata_is_applied(tmp_path, degrees, decoder):
    if decoder == "decord":
        pytest.importorskip("decord")
    path = write_pattern_clip(tmp_path / "rot.mp4", pts=[0, 1, 2], time_base=Fraction(1, 25), rotation=degrees)
    frames, src = read_all(path, decoder=decoder)
    assert src.rotation % 360 == degrees % 360
    assert (src.width, src.height) == rotated_size(96, 64, degrees)
    expected = rotate_image(pattern_frame(0, 96, 64), degrees).astype(int)
    assert frames[0].image.shape == expected.shape
    assert np.abs(frames[0].image.astype(int) - expected).mean() < 6


def test_rotate_image_helper():
    image = np.zeros((2, 3, 1), np.uint8)
    image[0, 0] = 1  # top-left
    assert rotate_image(image, 90)[2, 0, 0] == 1  # counter-clockwise: top-left goes to bottom-left
    assert rotate_image(image, -90)[0, 1, 0] == 1  # clockwise: top-left goes to top-right
    assert rotate_image(image, 180)[1, 2, 0] == 1
    assert rotate_image(image, 0) is image
    assert rotated_size(3, 2, 90) == (2, 3) and rotated_size(3, 2, 180) == (3, 2)


def test_uri_kinds():
    assert is_stdin("-") and is_stdin("pipe:") and not is_stdin("a.mp4")
    assert is_network("rtsp://h/x") and is_network("HTTPS://h/x") and not is_network("/tmp/x.mp4")
    assert camera_device("webcam:2") == "/dev/video2" and camera_device("/dev/video0") == "/dev/video0"
    assert camera_device("video.mp4") is None


def corrupt(src, dst, keep=0.6, flips=64):
    """Truncate a file to `keep` of its bytes and flip bytes in the middle of what is left."""
    data = bytearray(src.read_bytes())
    data = data[: int(len(data) * keep)]
    mid = len(data) // 2
    for i in range(flips):
        data[mid + 37 * i] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


def test_corrupt_truncated_stream_decodes_what_it_can(face_clip, tmp_path):
    ts = remux(face_clip, tmp_path / "face.ts")
    bad = corrupt(ts, tmp_path / "bad.ts")
    frames, src = read_all(bad)
    assert 0.4 * 48 <= len(frames) < 48
    assert [f.index for f in frames] == list(range(len(frames)))


def test_corrupt_real_mp4_decodes_what_it_can(shared, tmp_path):
    clip = shared("data/tests/pexels_woman_640x360.mp4")  # moov atom at the front: still indexable
    total = len(probe(clip).pts)
    frames, src = read_all(corrupt(clip, tmp_path / "bad.mp4"))
    assert 0.5 * total <= len(frames) < total


def test_hevc_120fps_clip_with_audio(shared):
    clip = shared("data/tests/noface_then_face_120fps_hevc.mov")
    ref = probe(clip)
    frames, src = read_all(clip)
    assert (src.width, src.height) == (960, 540)
    assert [f.pts for f in frames] == ref.pts
    audio = [p for f in frames for p in f.audio] + src.trailing_audio
    assert len(audio) == ref.audio_packets > 0


def test_decord_matches_pyav(face_clip):
    pytest.importorskip("decord")
    py, _ = read_all(face_clip)
    de, src = read_all(face_clip, decoder="decord")
    assert len(de) == len(py) == src.frame_count
    assert [f.pts for f in de] == [f.pts for f in py]
    assert np.abs(de[5].image.astype(int) - py[5].image.astype(int)).mean() < 3
    assert sum(len(f.audio) for f in de) + len(src.trailing_audio) == sum(len(f.audio) for f in py)


def test_decord_matches_pyav_on_real_clip(shared):
    pytest.importorskip("decord")
    clip = shared("data/tests/single_face_640x360.mp4")
    py, _ = read_all(clip)
    de, _ = read_all(clip, decoder="decord")
    assert len(de) == len(py) == 72
    assert [f.pts for f in de] == [f.pts for f in py]
