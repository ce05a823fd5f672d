"""The whole pipeline through the library API: timing, audio, faces, paste-back, early stop."""

from __future__ import annotations

import numpy as np
import pytest

from streamdeblur.backends import IdentityEngine
from streamdeblur.pipeline import ProcessOptions, process
from streamdeblur.synthetic import write_clip
from tests.helpers import decode_frames, video_info


class Brighten:
    """A stand-in engine that visibly changes crops (+40): shows where paste-back acts."""

    name = "brighten"
    input_size = 128

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        return np.clip(crops.astype(np.int16) + 40, 0, 255).astype(np.uint8)


def test_identity_engine_keeps_frames_timing_and_audio(face_clip, tmp_path):
    out = tmp_path / "out.mp4"
    summary = process(str(face_clip), str(out), ProcessOptions(), engine=IdentityEngine(128))
    src, dst = video_info(face_clip), video_info(out)
    assert dst["frames"] == src["frames"] == summary["frames"] == 48
    assert dst["seconds"] == pytest.approx(src["seconds"], abs=1e-3)
    assert src["audio_seconds"] is not None
    assert dst["audio_seconds"] == pytest.approx(src["audio_seconds"], abs=0.03)
    assert summary["faces"] >= 45 and summary["tracks"] == 1
    # differs from the input by codec noise only (CRF 18)
    a, b = (np.stack(decode_frames(p)).astype(np.int16) for p in (face_clip, out))
    assert np.abs(a - b).mean() < 2.5
    # identity engine + residual paste-back leaves every frame exactly as decoded: losslessly
    # encoded, the output equals a decode+encode-only run bit for bit (x264's lossy decisions
    # vary with thread timing under load, so only the lossless comparison can be exact)
    same, bare = tmp_path / "same.mkv", tmp_path / "bare.mkv"
    process(str(face_clip), str(same), ProcessOptions(lossless=True), engine=IdentityEngine(128))
    process(str(face_clip), str(bare), ProcessOptions(detector="none", lossless=True))
    assert np.array_equal(np.stack(decode_frames(same)), np.stack(decode_frames(bare)))


def test_engine_output_is_pasted_on_the_faces_only(face_clip, tmp_path):
    out = tmp_path / "bright.mp4"
    summary = process(str(face_clip), str(out), ProcessOptions(batch_size=3), engine=Brighten())
    assert summary["faces"] >= 45
    a, b = np.stack(decode_frames(face_clip)).astype(np.int16), np.stack(decode_frames(out)).astype(np.int16)
    change = np.abs(b - a).mean(axis=(0, 3))  # per pixel, over frames and channels
    h, w = change.shape
    assert change[h // 2 - 60 : h // 2 + 20, w // 2 - 40 : w // 2 + 40].mean() > 15  # the face region
    assert change[:, :20].mean() < 2 and change[:, -20:].mean() < 2  # far from the face: untouched


def test_no_faces_output_equals_input(tmp_path):
    rng = np.random.default_rng(0)
    frames = [np.full((120, 160, 3), 40 + 4 * i, np.uint8) + rng.integers(0, 3, (120, 160, 3), dtype=np.uint8)
              for i in range(12)]
    clip = write_clip(tmp_path / "noface.mp4", frames, fps=12)
    out = tmp_path / "out.mp4"
    summary = process(str(clip), str(out), ProcessOptions(), engine=Brighten())
    assert summary["faces"] == 0 and summary["frames"] == 12
    assert np.abs(np.stack(decode_frames(clip)).astype(int) - np.stack(decode_frames(out))).mean() < 2.5


def test_decode_encode_only_and_side_by_side(face_clip, tmp_path):
    out = tmp_path / "sbs.mp4"
    summary = process(str(face_clip), str(out), ProcessOptions(side_by_side=True), engine=Brighten())
    frames = decode_frames(out, limit=2)
    assert frames[0].shape == (360, 960, 3)
    left, right = frames[0][:, :480].astype(int), frames[0][:, 480:].astype(int)
    assert np.abs(right - left).mean() > 1  # right half is the processed one
    bare = process(str(face_clip), str(tmp_path / "bare.mp4"), ProcessOptions(detector="none"))
    assert bare["frames"] == summary["frames"] == 48 and bare["faces"] == 0


def test_faces_only_writes_crops_per_track(face_clip, tmp_path):
    folder = tmp_path / "faces"
    process(str(face_clip), str(tmp_path / "o.mp4"), ProcessOptions(faces_only=folder), engine=IdentityEngine(128))
    tracks = sorted(folder.iterdir())
    assert len(tracks) == 1
    assert len(list(tracks[0].glob("*.png"))) >= 45


def test_detect_every_and_max_faces(face_clip, tmp_path):
    s = process(str(face_clip), str(tmp_path / "o.mp4"), ProcessOptions(detect_every=4), engine=IdentityEngine(128))
    assert s["faces"] >= 45 and s["tracks"] == 1
    s0 = process(str(face_clip), str(tmp_path / "o0.mp4"), ProcessOptions(max_faces=0), engine=IdentityEngine(128))
    assert s0["faces"] == 0


def test_real_single_face_clip_one_track(shared, tmp_path):
    clip = shared("data/tests/single_face_640x360.mp4")
    out = tmp_path / "out.mp4"
    s = process(str(clip), str(out), ProcessOptions(), engine=IdentityEngine(128))
    assert s["frames"] == video_info(out)["frames"] == 72
    assert s["tracks"] == 1 and s["faces"] >= 0.95 * 72


def test_real_hevc_120fps_clip_with_audio(shared, tmp_path):
    clip = shared("data/tests/noface_then_face_120fps_hevc.mov")
    out = tmp_path / "out.mp4"
    s = process(str(clip), str(out), ProcessOptions(detect_every=2), engine=IdentityEngine(128))
    src, dst = video_info(clip), video_info(out)
    assert dst["frames"] == src["frames"] == s["frames"]
    assert dst["seconds"] == pytest.approx(src["seconds"], abs=2e-3)
    assert dst["audio_seconds"] == pytest.approx(src["audio_seconds"], abs=0.05)
    assert s["faces"] > 0


def test_duration_stops_after_that_much_media_time(face_clip, tmp_path):
    out = tmp_path / "one_second.mp4"
    s = process(str(face_clip), str(out), ProcessOptions(duration=1.0), engine=IdentityEngine(128))
    assert s["frames"] == video_info(out)["frames"] == 24  # 24 fps clip


def test_preset_and_detect_size_reach_the_encoder_and_the_detector(face_clip, tmp_path):
    from streamdeblur.pipeline import build_detector

    assert build_detector(ProcessOptions(detect_size=320)).max_side == 320
    sizes = {}
    for preset in ("ultrafast", "veryfast"):
        out = tmp_path / f"{preset}.mp4"
        summary = process(str(face_clip), str(out), ProcessOptions(preset=preset, detect_size=320), engine=IdentityEngine())
        assert summary["frames"] == video_info(face_clip)["frames"] and summary["faces"] > 0
        head = out.read_bytes()
        assert (b"cabac=0" in head) == (preset == "ultrafast")  # x264 writes its settings into the stream
        sizes[preset] = len(head)
    assert sizes["ultrafast"] > sizes["veryfast"]


class Handing:
    """Stands in for process --adapt's LiveAdapt: hands over `folder` at frame `at`, and sets `seen` once frame `then`
    has been seen."""

    def __init__(self, folder, at: int, then: int) -> None:
        import threading

        self.folder, self.at, self.then, self.seen = folder, at, then, threading.Event()

    def start(self, source) -> None:
        pass

    def see(self, frame):
        if frame.index == self.then:
            self.seen.set()
        return self.folder if frame.index == self.at else None

    def close(self) -> None:
        pass


def handed_folder(tmp_path, steps: int):
    """A folder as a live adaptation hands over: weights (never read here) and a card."""
    import json

    folder = tmp_path / "engine"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "card.json").write_text(json.dumps({"model": "naf", "adapted": {"steps": steps}}))
    return folder


def test_an_engine_handed_over_is_built_beside_the_frames_and_restores_from_the_first_frame_after(
        face_clip, tmp_path, monkeypatch, caplog):
    """process --adapt on a live input: the engine handed over at frame 10 is built on a thread of its own (building
    one took the main thread about 0.5 s: a stall of a dozen live frames); its build here lasts until frame 20 has
    been seen, the frames meanwhile go on through the engine before, and it restores from the next frame on."""
    import threading

    from streamdeblur import pipeline

    handing = Handing(handed_folder(tmp_path, steps=7), at=10, then=20)
    builders = []

    def build(options):
        builders.append((threading.current_thread(), options.weights))
        assert handing.seen.wait(60), "the build held up the frames"
        return Brighten()

    monkeypatch.setattr(pipeline, "build_engine", build)
    out = tmp_path / "out.mkv"
    with caplog.at_level("INFO", logger="streamdeblur"):
        summary = process(str(face_clip), str(out), ProcessOptions(lossless=True), engine=IdentityEngine(128),
                          adapting=handing)
    [(thread, weights)] = builders
    assert thread is not threading.main_thread() and weights == tmp_path / "engine"
    [handover] = summary["handovers"]
    assert handover["steps"] == 7 and 20 < handover["frame"] == summary["adapted_from_frame"] < 40
    assert f"from frame {handover['frame']} on, the adapted engine (7 steps)" in caplog.text
    a, b = np.stack(decode_frames(face_clip)).astype(np.int16), np.stack(decode_frames(out)).astype(np.int16)
    h, w = a.shape[1:3]
    change = np.abs(b - a)[:, h // 2 - 60: h // 2 + 20, w // 2 - 40: w // 2 + 40].mean(axis=(1, 2, 3))
    assert change[:handover["frame"]].max() < 2 and change[handover["frame"]:].min() > 15


def test_an_engine_handed_over_that_cannot_run_leaves_the_engine_before_restoring(
        face_clip, tmp_path, monkeypatch, caplog):
    from streamdeblur import pipeline
    from streamdeblur.errors import UserError

    def build(options):
        raise UserError("made for another machine")

    monkeypatch.setattr(pipeline, "build_engine", build)
    out = tmp_path / "out.mkv"
    with caplog.at_level("INFO", logger="streamdeblur"):
        summary = process(str(face_clip), str(out), ProcessOptions(lossless=True), engine=Brighten(),
                          adapting=Handing(handed_folder(tmp_path, steps=7), at=10, then=20))
    assert summary["frames"] == 48 and summary["handovers"] == [] and summary["adapted_from_frame"] is None
    assert (f"the adapted engine in {tmp_path / 'engine'} cannot run here (made for another machine); the released "
            "engine restores the rest") in caplog.text


def test_latency_percentiles_come_from_a_histogram_of_whole_milliseconds():
    from streamdeblur.pipeline import Latency

    latency = Latency(top_ms=1000)
    assert latency.summary() is None
    for ms in range(100, 0, -1):
        latency.add(ms / 1000 + 0.0004)
    latency.add(5.0)  # past the histogram's top: counted in its last bin, and the largest
    assert latency.summary() == {"p50": 51.0, "p90": 91.0, "p99": 100.0, "max": 5000.0}


def test_eager_batching_restores_the_same_frames(face_clip, tmp_path):
    """What a live input gets (each frame's faces to the engine while it is idle, those restored meanwhile leaving
    while the next frame is awaited) restores a file exactly as batches of batch_size do (with the detector on its
    frames: a live input's, beside them, takes its detections when they are ready, which depends on timing)."""
    outputs = []
    for eager in (False, True):
        out = tmp_path / f"eager-{eager}.mkv"
        options = ProcessOptions(lossless=True, eager=eager, detect_beside=False)
        summary = process(str(face_clip), str(out), options, engine=Brighten())
        assert summary["frames"] == 48
        outputs.append(np.stack(decode_frames(out)))
    assert np.array_equal(*outputs)


def test_a_live_input_detects_beside_the_frames_and_a_file_on_them(face_clip, tmp_path, monkeypatch):
    """The least delay (a live input's default, forced here on a file): the detector runs on a thread of its own,
    after the first frame's, and every frame still comes out with its face restored; a file detects on the main
    thread (its output reproducible)."""
    import threading

    from streamdeblur import pipeline

    built = pipeline.build_detector
    threads: list[str] = []

    class Recording:
        def __init__(self, detector) -> None:
            self.detector = detector

        def detect(self, image: np.ndarray):
            threads.append(threading.current_thread().name)
            return self.detector.detect(image)

    monkeypatch.setattr(pipeline, "build_detector", lambda options: Recording(built(options)))
    sharp = np.stack(decode_frames(face_clip)).astype(np.int16)
    for beside in (True, None):
        threads.clear()
        out = tmp_path / f"beside-{beside}.mkv"
        summary = process(str(face_clip), str(out), ProcessOptions(lossless=True, detect_beside=beside, gate=0.0),
                          engine=Brighten())
        assert summary["frames"] == 48 and summary["faces"] == 48 and summary["tracks"] == 1
        brighter = np.stack(decode_frames(out)).astype(np.int16) - sharp
        assert (brighter.reshape(48, -1).max(axis=1) >= 30).all()  # a face restored (+40) on every frame
        main = threading.main_thread().name
        if beside:
            assert threads[0] == main and len(threads) >= 10 and all(t != main for t in threads[1:])
        else:
            assert threads == [main] * 16


def test_a_live_input_is_opened_once_the_models_are_built_and_a_file_before(face_clip, tmp_path, monkeypatch):
    """A live input's frames queue from the moment it is opened: it is opened after the detector and the engine are
    built (about 1 s here, during which a pipe's frames came out 300-600 ms late for seconds after), a file before
    them (a missing or unreadable file is found before a model is loaded)."""
    from streamdeblur import pipeline
    from streamdeblur.errors import UserError
    from streamdeblur.io import source

    calls: list[str] = []

    def build(options):
        calls.append("engine")
        return Brighten()

    def opened(uri, **kwargs):
        calls.append("source")
        raise UserError("stop here")

    monkeypatch.setattr(pipeline, "build_engine", build)
    monkeypatch.setattr(source, "open_source", opened)
    for uri, order in (("-", ["engine", "source"]), (str(face_clip), ["source"])):
        calls.clear()
        with pytest.raises(UserError, match="stop here"):
            process(uri, str(tmp_path / "out.mkv"), ProcessOptions())
        assert calls == order


def test_the_last_frames_leave_before_a_live_adaptation_is_stopped(face_clip, tmp_path):
    """Stopping a live adaptation at the input's end takes seconds (its trainer checkpoints first): the frames still
    held are restored and handed to the encoder before it (the last ones waited about 2 s on a 300-s pipe)."""
    emitted: list[int] = []

    class Stopping(Handing):
        def close(self) -> None:
            self.emitted = len(emitted)

    stopping = Stopping(None, at=-1, then=-1)
    summary = process(str(face_clip), str(tmp_path / "out.mp4"), ProcessOptions(), engine=Brighten(),
                      adapting=stopping, progress=lambda done, total: emitted.append(done))
    assert summary["frames"] == 48 and stopping.emitted == 48
