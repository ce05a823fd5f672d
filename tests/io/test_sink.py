"""VideoSink: round trips keep frame count, timestamps and audio; odd sizes; options; bad targets."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streamdeblur.errors import UserError
from streamdeblur.io.clips import pattern_frame, write_pattern_clip
from streamdeblur.io.sink import VideoSink, codec_options, pixel_format
from streamdeblur.io.source import open_source
from tests.io.conftest import probe


def round_trip(src_path: Path, dst: Path, **sink_options) -> int:
    """source -> sink with the input's timing and audio; returns the frames written."""
    src = open_source(str(src_path))
    with VideoSink(str(dst), src.width, src.height, src.time_base, src.fps, src.audio_streams, **sink_options) as sink:
        for frame in src:
            sink.write(frame.image, frame.pts, frame.audio)
        sink.write_audio(src.trailing_audio)
    src.close()
    return sink.frames


def assert_same_timing_and_audio(a: Path, b: Path, audio_frame: float) -> None:
    """Same frame count, frame times relative to the audio (A/V sync), audio packets and duration.

    Times are taken relative to the first audio packet: a container may shift both streams
    (matroska and mpegts make AAC's negative priming pts non-negative)."""
    pa, pb = probe(a), probe(b)
    assert len(pb.pts) == len(pa.pts)
    ta = [float(p * pa.time_base) - pa.audio_start for p in pa.pts]
    tb = [float(p * pb.time_base) - pb.audio_start for p in pb.pts]
    assert tb == pytest.approx(ta, abs=1e-3)
    assert pb.audio_packets == pa.audio_packets > 0
    assert pb.audio_span == pytest.approx(pa.audio_span, abs=audio_frame)


def test_round_trip_generated_clip(face_clip, tmp_path):
    out = tmp_path / "out.mp4"
    assert round_trip(face_clip, out) == 48
    a, b = probe(face_clip), probe(out)
    assert b.time_base == a.time_base and b.pts == a.pts  # same container kind: identical pts
    assert (b.width, b.height, b.pix_fmt) == (480, 360, "yuv420p")
    assert_same_timing_and_audio(face_clip, out, audio_frame=1024 / 48000)
    # the re-encoded pictures match the input (CRF 18)
    with av.open(str(face_clip)) as ca, av.open(str(out)) as cb:
        fa = next(ca.decode(video=0)).to_ndarray(format="bgr24").astype(int)
        fb = next(cb.decode(video=0)).to_ndarray(format="bgr24").astype(int)
    assert np.abs(fa - fb).mean() < 3


def test_round_trip_real_clip(shared, tmp_path):
    clip = shared("data/tests/single_face_640x360.mp4")
    out = tmp_path / "out.mp4"
    assert round_trip(clip, out, preset="ultrafast") == 72
    a, b = probe(clip), probe(out)
    assert b.pts == a.pts and b.time_base == a.time_base
    assert_same_timing_and_audio(clip, out, audio_frame=1152 / 44100)  # mp3 frames


def test_round_trip_to_matroska_keeps_times(face_clip, tmp_path):
    out = tmp_path / "out.mkv"
    round_trip(face_clip, out, preset="ultrafast")
    assert_same_timing_and_audio(face_clip, out, audio_frame=1024 / 48000)


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_vfr_round_trip(tmp_path, suffix):
    pts = [0, 40, 80, 200, 240, 250, 400, 1000, 1040, 1300]
    clip = write_pattern_clip(tmp_path / "vfr.mkv", pts=pts, time_base=Fraction(1, 1000))
    out = tmp_path / f"out{suffix}"
    round_trip(clip, out)
    got = probe(out)
    assert [round(float(p * got.time_base) * 1000) for p in got.pts] == pts


def test_missing_pts_are_synthesised_from_fps(tmp_path):
    out = tmp_path / "synth.mkv"
    with VideoSink(str(out), 64, 48, Fraction(1, 1000), fps=Fraction(20)) as sink:
        for i in range(5):
            sink.write(pattern_frame(i, 64, 48), None)
    assert probe(out).pts == [0, 50, 100, 150, 200]


def test_non_increasing_pts_are_bumped(tmp_path):
    out = tmp_path / "bump.mkv"
    with VideoSink(str(out), 64, 48, Fraction(1, 1000), fps=Fraction(20)) as sink:
        for p in [0, 50, 50, 40, 100]:
            sink.write(pattern_frame(0, 64, 48), p)
    got = probe(out).pts
    assert len(got) == 5 and got == sorted(set(got))


def test_odd_size_keeps_exact_size(tmp_path):
    out = tmp_path / "odd.mp4"
    images = [pattern_frame(i, 97, 61) for i in range(4)]
    with VideoSink(str(out), 97, 61, Fraction(1, 25), fps=Fraction(25)) as sink:
        for i, image in enumerate(images):
            sink.write(image, i)
    got = probe(out)
    assert (got.width, got.height, got.pix_fmt) == (97, 61, "yuv444p") and len(got.pts) == 4
    with av.open(str(out)) as c:
        decoded = next(c.decode(video=0)).to_ndarray(format="bgr24").astype(int)
    assert np.abs(decoded - images[0].astype(int)).mean() < 4


def test_pixel_format_choice():
    assert pixel_format("libx264", 640, 360) == "yuv420p"
    assert pixel_format("libx264", 641, 360) == "yuv444p"
    with pytest.raises(UserError, match="even"):
        pixel_format("mpeg4", 641, 361)


def test_codec_options():
    assert codec_options("libx264") == {"preset": "veryfast", "crf": "18"}
    assert codec_options("libx264", lossless=True, preset="slow") == {"preset": "slow", "qp": "0"}
    # an input read as it comes, without a preset: LIVE_PRESET (superfast)
    assert codec_options("libx264", crf=12, live=True) == {"preset": "superfast", "crf": "12"}
    assert codec_options("libx264", crf=12, preset="veryfast", live=True) == {"preset": "veryfast", "crf": "12"}
    assert codec_options("libx265", live=True)["preset"] == "superfast"
    assert codec_options("mpeg4", crf=51, live=True) == {"qmin": "31", "qmax": "31"}
    assert codec_options("libx265", crf=23)["crf"] == "23"
    assert "lossless=1" in codec_options("libx265", lossless=True)["x265-params"]
    assert codec_options("mpeg4", crf=0) == {"qmin": "1", "qmax": "1"}
    assert codec_options("mpeg4", crf=51) == {"qmin": "31", "qmax": "31"}


def encode_error(tmp_path: Path, name: str, **options) -> float:
    """Mean abs error of a 3-frame encode of a textured picture."""
    rng = np.random.default_rng(0)
    image = np.clip(pattern_frame(0, 64, 48).astype(int) + rng.integers(-30, 30, (48, 64, 3)), 0, 255).astype(np.uint8)
    out = tmp_path / name
    with VideoSink(str(out), 64, 48, Fraction(1, 25), fps=Fraction(25), **options) as sink:
        for i in range(3):
            sink.write(image, i)
    with av.open(str(out)) as c:
        decoded = next(c.decode(video=0)).to_ndarray(format="bgr24").astype(int)
    return float(np.abs(decoded - image.astype(int)).mean())


def test_quality_options_change_the_output(tmp_path):
    lossless = encode_error(tmp_path, "lossless.mp4", lossless=True, pix_fmt="yuv444p")
    default = encode_error(tmp_path, "crf18.mp4")
    coarse = encode_error(tmp_path, "crf45.mp4", crf=45)
    assert lossless < 1.0 < coarse  # yuv444p qp 0: only RGB<->YUV rounding
    assert lossless < default < coarse


def test_mpeg4_quality_follows_crf(tmp_path):
    fine = encode_error(tmp_path, "fine.avi", codec="mpeg4", crf=0)
    coarse = encode_error(tmp_path, "coarse.avi", codec="mpeg4", crf=51)
    assert fine < coarse


@pytest.mark.skipif(not {"libvpx-vp9", "libsvtav1"} <= av.codecs_available, reason="PyAV built without VP9 or SVT-AV1")
def test_vp9_and_av1_quality_follow_crf_and_lossless(tmp_path, caplog):
    """--crf and --lossless reach VP9 (constant quality) and SVT-AV1 (CRF), which took neither before; an encoder
    without a quality mapping says so, and one that is lossless by nature is left alone."""
    vp9 = {crf: encode_error(tmp_path, f"v{crf}.webm", codec="libvpx-vp9", crf=crf) for crf in (0, 51)}
    assert encode_error(tmp_path, "v.webm", codec="libvpx-vp9", lossless=True, pix_fmt="yuv444p") < 1.0 < vp9[51]
    assert vp9[0] < vp9[51]
    assert encode_error(tmp_path, "a1.mkv", codec="libsvtav1", crf=1) < encode_error(tmp_path, "a51.mkv",
                                                                                      codec="libsvtav1", crf=51)
    before = set(tmp_path.iterdir())
    with pytest.raises(UserError, match="no lossless mode"):
        VideoSink(str(tmp_path / "l.mkv"), 64, 48, Fraction(1, 25), codec="libsvtav1", lossless=True)
    assert set(tmp_path.iterdir()) == before  # nothing left behind
    caplog.clear()
    codec_options("ffv1")
    assert not caplog.records
    codec_options("prores_ks", crf=30)
    assert "takes no --crf or --lossless" in caplog.text


def test_avi_stores_the_frame_rate_not_the_inputs_time_base(tmp_path):
    """AVI counts a frame per tick of its time base: an input's 1/12800 made a 25-fps clip's header say 12800 fps
    over as many ticks (players stepped through empty ones). Written in 1/fps, it says 25."""
    out = tmp_path / "c.avi"
    with VideoSink(str(out), 64, 48, Fraction(1, 12800), fps=Fraction(25)) as sink:
        for i in range(10):
            sink.write(pattern_frame(i, 64, 48), i * 512)
    with av.open(str(out)) as c:
        video = c.streams.video[0]
        assert video.average_rate == 25 and video.time_base == Fraction(1, 25)
        assert len(list(c.decode(video=0))) == 10


@pytest.mark.parametrize("codec,suffix", [("mpeg4", ".avi"), ("libx265", ".mp4")])
def test_other_codecs(tmp_path, codec, suffix):
    out = tmp_path / f"c{suffix}"
    with VideoSink(str(out), 64, 48, Fraction(1, 25), fps=Fraction(25), codec=codec) as sink:
        for i in range(3):
            sink.write(pattern_frame(i, 64, 48), i)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == {"mpeg4": "mpeg4", "libx265": "hevc"}[codec]
        assert len(list(c.decode(video=0))) == 3


@pytest.mark.parametrize("codec,pix_fmt", [("mpeg4", "yuv420p"), ("mpeg2video", "yuv420p"), ("mjpeg", "yuvj420p"),
                                           ("libx264rgb", "gbrp")])
def test_codecs_with_their_own_time_base_or_pixels_take_an_mpegts_input(tiny_ts, tmp_path, codec, pix_fmt):
    """MPEG-TS (and RTSP) count time in 1/90000, which MPEG-4 part 2 refuses and MPEG-2 cannot store; MJPEG and
    x264's RGB encoder refuse yuv420p: each is opened with what it takes, the frame times and audio kept."""
    out = tmp_path / f"{codec}.mkv"
    assert round_trip(tiny_ts, out, codec=codec) == 24
    assert_same_timing_and_audio(tiny_ts, out, audio_frame=1024 / 48000)
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 24 and frames[0].format.name == pix_fmt


@pytest.mark.parametrize("name,codec,message", [
    ("m1.mkv", "mpeg1video", r"mpeg1video video in matroska\): MPEG-1/2 does not support 12/1 fps"),  # a list of rates
    ("x.ogv", "libx264", r"libx264 video in ogv\): Unsupported codec"),  # Ogg holds Theora, not H.264
])
def test_settings_the_encoder_or_container_refuse_fail_at_once_with_the_reason(tmp_path, name, codec, message):
    with pytest.raises(UserError, match=message):
        VideoSink(str(tmp_path / name), 64, 48, Fraction(1, 12), fps=Fraction(12), codec=codec)
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_a_sink_closed_before_any_frame_leaves_no_file(tmp_path):
    VideoSink(str(tmp_path / "none.mp4"), 64, 48, Fraction(1, 25), fps=Fraction(25)).close()
    assert list(tmp_path.iterdir()) == []


def test_close_is_idempotent_and_finalises(tmp_path):
    out = tmp_path / "c.mp4"
    sink = VideoSink(str(out), 64, 48, Fraction(1, 25), fps=Fraction(25))
    for i in range(3):
        sink.write(pattern_frame(i, 64, 48), i)
    sink.close()
    sink.close()
    assert len(probe(out).pts) == 3
    with pytest.raises(RuntimeError):
        sink.write(pattern_frame(0, 64, 48), 3)


def test_wrong_frame_size_is_rejected(tmp_path):
    with VideoSink(str(tmp_path / "w.mp4"), 64, 48, Fraction(1, 25)) as sink:
        with pytest.raises(ValueError, match="64x48"):
            sink.write(pattern_frame(0, 32, 48), 0)


@pytest.mark.parametrize(
    "target,message",
    [("missing_dir/out.mp4", "folder does not exist"), (".", "directory"), ("out.nosuchformat", "cannot write")],
)
def test_bad_targets(tmp_path, monkeypatch, target, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=message):
        VideoSink(target, 64, 48, Fraction(1, 25))
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing left behind


def test_bad_codec_and_crf(tmp_path):
    with pytest.raises(UserError, match="codec"):
        VideoSink(str(tmp_path / "a.mp4"), 64, 48, Fraction(1, 25), codec="no-such-codec")
    with pytest.raises(UserError, match="crf"):
        VideoSink(str(tmp_path / "b.mp4"), 64, 48, Fraction(1, 25), crf=99)


def test_mpegts_input_to_mp4_keeps_audio(tiny_ts, tmp_path):
    out = tmp_path / "from_ts.mp4"
    assert round_trip(tiny_ts, out, preset="ultrafast") == 24
    assert_same_timing_and_audio(tiny_ts, out, audio_frame=1024 / 48000)


def test_interrupted_write_leaves_a_playable_file(tmp_path):
    out = tmp_path / "interrupted.mp4"
    with pytest.raises(KeyboardInterrupt):
        with VideoSink(str(out), 64, 48, Fraction(1, 25), fps=Fraction(25)) as sink:
            for i in range(50):
                if i == 7:
                    raise KeyboardInterrupt
                sink.write(pattern_frame(i, 64, 48), i)
    got = probe(out)
    assert [float(p * got.time_base) for p in got.pts] == pytest.approx([i / 25 for i in range(7)])


def test_stdout_terminal_is_refused(monkeypatch):
    class Terminal:
        buffer = None

        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdout", Terminal())
    with pytest.raises(UserError, match="terminal"):
        VideoSink("-", 64, 48, Fraction(1, 25))


def test_lossless_round_trip_has_no_colour_drift(tiny_clip, tmp_path):
    """source -> lossless sink -> source returns the same pictures (accurate YUV<->BGR both ways)."""
    out = tmp_path / "lossless.mp4"
    round_trip(tiny_clip, out, lossless=True, preset="ultrafast")
    src_a, src_b = open_source(str(tiny_clip)), open_source(str(out))
    a = np.stack([f.image for f in src_a]).astype(int)
    b = np.stack([f.image for f in src_b]).astype(int)
    src_a.close(), src_b.close()
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 0.5  # swscale's default conversions drift by about 2 levels
