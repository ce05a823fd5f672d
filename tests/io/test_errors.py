"""Bad input gives a one-line UserError, fast, never a traceback from deep inside PyAV."""

from __future__ import annotations

import time

import pytest

from streamdeblur.errors import MissingDependencyError, UserError
from streamdeblur.io.clips import write_audio_only
from streamdeblur.io.source import open_source
from tests.io.conftest import free_port


def user_error(uri: str, **options) -> str:
    with pytest.raises(UserError) as info:
        open_source(uri, **options)
    message = str(info.value)
    assert "\n" not in message and message
    return message


def test_missing_file(tmp_path):
    assert "not found" in user_error(str(tmp_path / "nope.mp4"))


def test_directory(tmp_path):
    assert "directory" in user_error(str(tmp_path))


def test_text_file_is_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are not the frames you are looking for\n" * 50)
    assert "not a readable video" in user_error(str(path))


def test_txt_file_is_not_a_video(tmp_path):
    path = tmp_path / "notes.txt"  # FFmpeg's tty demuxer would render it as a video of text
    path.write_text("hello " * 100)
    assert "not a video file" in user_error(str(path))


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = write_audio_only(tmp_path / "tone.m4a")
    message = user_error(str(path))
    assert "no video stream" in message and "audio" in message


def test_mp4_cut_before_its_index(shared, tmp_path):
    clip = shared("data/tests/single_face_640x360.mp4")  # moov atom at the end
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    assert "not a readable video" in user_error(str(cut))


@pytest.mark.parametrize("scheme", ["rtsp", "rtmp", "http"])
def test_unreachable_url_fails_fast(scheme):
    start = time.monotonic()
    message = user_error(f"{scheme}://127.0.0.1:{free_port()}/live", timeout=2)
    assert "cannot open stream" in message
    assert time.monotonic() - start < 5


def test_url_credentials_are_not_shown():
    message = user_error(f"rtsp://user:secret@127.0.0.1:{free_port()}/live", timeout=2)
    assert "secret" not in message


@pytest.mark.parametrize("uri", ["webcam:9", "/dev/video9"])
def test_missing_camera(uri):
    message = user_error(uri)
    assert "camera /dev/video9" in message


def test_unknown_decoder(tiny_clip):
    assert "unknown decoder" in user_error(str(tiny_clip), decoder="opencv")


def test_decord_rejects_streams():
    pytest.importorskip("decord")
    assert "files only" in user_error("rtsp://127.0.0.1:1/x", decoder="decord")


def test_decord_missing_names_the_extra(tiny_clip, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_decord(name, *args, **kwargs):
        if name == "decord":
            raise ImportError("No module named 'decord'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_decord)
    with pytest.raises(MissingDependencyError, match=r"pip install 'streamdeblur\[decord\]'"):
        open_source(str(tiny_clip), decoder="decord")


def test_no_decodable_frame(tiny_clip, tmp_path):
    """A container whose video packets are all noise: opens, but no frame decodes."""
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    path = tmp_path / "noise.mkv"
    with av.open(str(tiny_clip)) as inp, av.open(str(path), "w") as out:
        video = inp.streams.video[0]
        stream = out.add_stream_from_template(video)
        for packet in inp.demux(video):
            if packet.size:
                noise = av.Packet(rng.integers(0, 256, packet.size, dtype=np.uint8).tobytes())
                noise.pts, noise.dts, noise.time_base, noise.stream = packet.pts, packet.dts, packet.time_base, stream
                out.mux(noise)
    assert "no decodable video frame" in user_error(str(path))
