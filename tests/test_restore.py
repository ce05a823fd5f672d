"""The deblur stage: the per-track buffer of a temporal engine (order, lag, padding by repetition), gating
(bit-exact bypass), and the per-track blur report; then through `process` end to end."""

from __future__ import annotations

import json
import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from streamdeblur.io.source import Frame
from streamdeblur.models import get_spec, has_weights
from streamdeblur.restore import Face, Held, Restorer, blur_estimate
from tests.helpers import decode_frames, run_cli, video_info, wait_until_writing


class Recorder:
    """A K-frame engine that returns the centre crop + 1 and remembers which frames each input stacked."""

    name, input_size, model = "recorder", 8, "recorder"

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.calls: list[list[int]] = []

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        assert crops.shape[1:] == (8, 8, 3 * self.frames) and crops.dtype == np.uint8
        self.calls += [[int(c[0, 0, 3 * k]) for k in range(self.frames)] for c in crops]  # crop value = frame index
        k = self.frames // 2
        return np.clip(crops[..., 3 * k:3 * k + 3].astype(int) + 1, 0, 255).astype(np.uint8)


def held(index: int, tracks: dict[int, float]) -> Held:
    """A 16x16 frame with one face per track; the crop holds its frame index; x is the track's position."""
    image = np.full((16, 16, 3), index, np.uint8)
    faces = [Face(tid, np.array([[1.0, 0, 0], [0, 1.0, 0]]), np.full((8, 8, 3), index, np.uint8),
                  np.array([x, 0.0, x + 8, 8.0])) for tid, x in tracks.items()]
    return Held(Frame(image, index, index, Fraction(1, 25)), None, faces)


def run(restorer: Restorer, frames: list[Held]) -> list[int]:
    out = []
    for h in frames:
        out += [d.frame.index for d in restorer.push(h)]
    return out + [d.frame.index for d in restorer.finish()]


def test_a_temporal_engine_sees_each_tracks_neighbours_with_repetition_at_the_ends():
    engine = Recorder(3)
    restorer = Restorer(engine, batch_size=1, max_latency=1)
    frames = [held(i, {1: 0.0}) for i in range(5)]
    frames[3].faces = []  # a gap in the track at frame 3
    order = run(restorer, frames)
    assert order == [0, 1, 2, 3, 4] and restorer.lag == 1  # in order, all of them
    # a missing neighbour is the track's crop nearest to it on the way to the restored frame (repetition)
    assert sorted(engine.calls) == [[0, 0, 1], [0, 1, 2], [1, 2, 2], [4, 4, 4]]


def test_an_engine_whose_model_aligns_centre_gets_the_neighbours_recut_in_the_restored_faces_alignment():
    """A face moving 2 px right per frame, each 24-px crop cut in its own alignment (so all alike: a ramp of 10 grey
    levels per column). An engine that aligns "centre" (naf-t3m) sees the face before it 2 px to the left of where
    the restored one is, the face after 2 px to the right; any other temporal engine sees the crops as cut."""

    class Stacks(Recorder):
        align = "centre"

        def __call__(self, crops: np.ndarray) -> np.ndarray:
            self.stacks = [*getattr(self, "stacks", []), *crops.astype(int)]
            return crops[..., 3:6]

    ramp = np.repeat(np.repeat((10 * np.arange(24, dtype=np.uint8) + 10)[None, :, None], 24, 0), 3, 2)

    def moving(index: int) -> Held:
        h = held(index, {1: 2.0 * index})
        h.faces[0].crop, h.faces[0].matrix = ramp.copy(), np.array([[1.0, 0, -2.0 * index], [0, 1.0, 0]])
        return h

    for align, shift in (("centre", 20), ("landmarks", 0)):
        engine = Stacks(3)
        engine.align = align
        run(Restorer(engine, batch_size=1, max_latency=1), [moving(i) for i in range(4)])
        inner = np.s_[:, 2:-2]
        for stack in engine.stacks[1:3]:  # frames 1 and 2 have both neighbours
            assert np.array_equal(stack[..., 3:6], ramp)
            assert np.all(stack[..., 0:3][inner] - ramp[inner] == shift), align
            assert np.all(stack[..., 6:9][inner] - ramp[inner] == -shift), align


def test_frames_leave_in_order_once_their_next_frames_arrived():
    engine = Recorder(3)
    restorer = Restorer(engine, batch_size=1, max_latency=0)
    released = [[d.frame.index for d in restorer.push(held(i, {1: 0.0}))] for i in range(4)]
    assert released == [[], [0], [1], [2]]  # lag of K // 2 = 1 frame
    assert [d.frame.index for d in restorer.finish()] == [3]


def test_single_frame_engines_have_no_lag_and_batch_across_tracks():
    engine = Recorder(1)
    restorer = Restorer(engine, batch_size=4, max_latency=8)
    assert run(restorer, [held(i, {1: 0.0, 2: 8.0}) for i in range(3)]) == [0, 1, 2]
    assert restorer.lag == 0 and sorted(engine.calls) == [[0], [0], [1], [1], [2], [2]]


class Adds(Recorder):
    """A single-frame engine that adds its own constant (so a restored crop says which engine made it)."""

    def __init__(self, value: int) -> None:
        super().__init__(1)
        self.value = value

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        self.calls.append([int(c[0, 0, 0]) for c in crops])
        return crops + np.uint8(self.value)


@pytest.mark.parametrize("in_flight", [0, 1])
def test_an_engine_adapted_to_one_person_gets_only_that_persons_tracks(in_flight):
    """A PersonalEngine's routes: the tracks its matcher accepts go to the adapted engine, the others to the base
    engine; every batch holds one route's faces and each face is pasted with its own engine's output."""
    from streamdeblur.backends import PersonalEngine

    adapted, base = Adds(10), Adds(100)
    asked: list[tuple[int, int]] = []

    def matcher(track_id, image, box, landmarks):
        asked.append((track_id, int(image[0, 0, 0])))
        return track_id == 1

    engine = PersonalEngine(adapted, base, matcher)
    restorer = Restorer(engine, batch_size=4, max_latency=8, in_flight=in_flight)
    frames = [held(i, {1: 0.0, 2: 8.0}) for i in range(3)]
    assert run(restorer, frames) == [0, 1, 2]
    assert sorted(sum(adapted.calls, [])) == [0, 1, 2] and sorted(sum(base.calls, [])) == [0, 1, 2]
    for h in frames:
        one, two = sorted(h.faces, key=lambda f: f.track_id)
        assert int(one.restored[0, 0, 0]) == h.frame.index + 10 and int(two.restored[0, 0, 0]) == h.frame.index + 100
    assert sorted(asked) == [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]  # each face, on its own frame
    assert restorer.logs[1].summary()["person"] is True and restorer.logs[2].summary()["person"] is False


@pytest.mark.parametrize("in_flight", [0, 1])
def test_a_swap_hands_the_faces_pushed_after_it_to_the_new_engine_and_loses_none(in_flight):
    """`process --adapt` on a live input: the released engine restores until the adapted one is ready, then the
    restorer swaps. Faces pushed before the swap (even those still waiting for a batch) keep the engine they were
    routed for; after it, the adapted engine's person goes to it and the other track to its base, with their own
    gate levels; every frame leaves once, in order."""
    from streamdeblur.backends import PersonalEngine

    released, adapted, base = Adds(50), Adds(10), Adds(100)
    restorer = Restorer(released, batch_size=4, max_latency=8, gate=2.0, in_flight=in_flight)
    frames = [held(i, {1: 0.0, 2: 4.0 * i}) for i in range(6)]  # track 1 still, track 2 moving
    out = [d.frame.index for h in frames[:3] for d in restorer.push(h)]
    assert not released.calls or len(sum(released.calls, [])) < 3  # some faces still wait for a batch
    restorer.swap(PersonalEngine(adapted, base, lambda track_id, image, box, landmarks: track_id == 1), (None, 2.0))
    out += [d.frame.index for h in frames[3:] for d in restorer.push(h)] + [d.frame.index for d in restorer.finish()]
    assert out == [0, 1, 2, 3, 4, 5]
    assert sorted(sum(released.calls, [])) == [1, 2]  # before the swap: track 1 gated (still), track 2 after frame 0
    assert sorted(sum(adapted.calls, [])) == [3, 4, 5] and sorted(sum(base.calls, [])) == [3, 4, 5]
    for h in frames[3:]:
        one, two = sorted(h.faces, key=lambda f: f.track_id)
        assert int(one.restored[0, 0, 0]) == h.frame.index + 10 and int(two.restored[0, 0, 0]) == h.frame.index + 100
    with pytest.raises(ValueError, match="other crops"):
        restorer.swap(Recorder(3))


def test_each_route_has_its_own_gate_so_an_adapted_engine_restores_its_persons_still_faces():
    """gate=(None, 2.0), as pipeline.gate_levels gives an adapted engine: its person's faces (track 1) go to it
    however still they are; the other person's still faces are gated for the base engine, their moving ones not."""
    from streamdeblur.backends import PersonalEngine

    adapted, base = Adds(10), Adds(100)
    engine = PersonalEngine(adapted, base, lambda track_id, image, box, landmarks: track_id == 1)
    restorer = Restorer(engine, batch_size=1, max_latency=1, gate=(None, 2.0))
    frames = [held(i, {1: 0.0, 2: x}) for i, x in enumerate([8.0, 8.0, 14.0])]  # both still, then track 2 moves
    assert run(restorer, frames) == [0, 1, 2]
    assert restorer.logs[1].gated == [False, False, False] and restorer.logs[2].gated == [True, True, False]
    assert sorted(sum(adapted.calls, [])) == [0, 1, 2] and sum(base.calls, []) == [2]


def test_gated_faces_bypass_the_engine_bit_for_bit_but_feed_temporal_neighbours():
    engine = Recorder(3)
    restorer = Restorer(engine, batch_size=1, max_latency=1, gate=2.0)
    positions = [0.0, 0.0, 5.0, 10.0, 10.0]  # still, still, moving, moving, still
    frames = [held(i, {1: x}) for i, x in enumerate(positions)]
    originals = [h.frame.image.copy() for h in frames]
    done = {}
    for h in frames:
        done.update({d.frame.index: d for d in restorer.push(h)})
    done.update({d.frame.index: d for d in restorer.finish()})
    log = restorer.logs[1]
    assert log.gated == [True, True, False, False, True]
    for i in (0, 1, 4):
        assert np.array_equal(done[i].frame.image, originals[i])  # untouched
    for i in (2, 3):
        assert not np.array_equal(done[i].frame.image, originals[i])
    assert sorted(engine.calls) == [[1, 2, 3], [2, 3, 4]]  # gated frames 1 and 4 are still neighbours
    summary = log.summary()
    assert summary["frames"] == 5 and summary["gated_share"] == 0.6


class Blocking(Recorder):
    """A single-frame engine that holds each batch until the test lets it go (or 10 s pass)."""

    def __init__(self) -> None:
        super().__init__(1)
        self.go = threading.Event()
        self.threads: set[str] = set()

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        self.threads.add(threading.current_thread().name)
        assert self.go.wait(10), "the caller waited for the engine instead of going on"
        return super().__call__(crops)


def test_with_a_batch_in_flight_the_engine_runs_beside_the_caller_and_frames_still_leave_in_order():
    engine = Blocking()
    restorer = Restorer(engine, batch_size=1, max_latency=1, gate=2.0, in_flight=1)
    positions = [0.0, 5.0, 5.0, 10.0, 15.0, 15.0]  # frames 0, 2 and 5 still (gated)
    out = [d.frame.index for d in restorer.push(held(0, {1: positions[0]}))]
    out += [d.frame.index for d in restorer.push(held(1, {1: positions[1]}))]  # sent: the engine holds it
    out += [d.frame.index for d in restorer.push(held(2, {1: positions[2]}))]  # returns while it is held
    assert out == [0] and engine.calls == []  # frame 2 waits behind frame 1 although it needs no engine
    engine.go.set()
    out += [d.frame.index for i in range(3, 6) for d in restorer.push(held(i, {1: positions[i]}))]
    out += [d.frame.index for d in restorer.finish()]
    assert out == [0, 1, 2, 3, 4, 5] and sorted(engine.calls) == [[1], [3], [4]]
    assert engine.threads and threading.current_thread().name not in engine.threads
    assert restorer.worker is None  # finish stopped the worker


def test_batches_still_queued_for_the_worker_at_a_swap_run_on_the_engine_they_were_sent_to():
    """The worker is busy with frame 0's batch when frame 1's is queued behind it and the restorer swaps: frame 1's
    face is still restored by the released engine (+1), frame 2's by the new one (+10). (The worker once looked the
    engine up when it ran a batch, so a queued batch went to the engine swapped in.)"""
    released, adapted = Blocking(), Adds(10)
    restorer = Restorer(released, batch_size=1, max_latency=1, in_flight=2)
    frames = [held(i, {1: 4.0 * i}) for i in range(3)]
    out = [d.frame.index for h in frames[:2] for d in restorer.push(h)]  # both batches out, the first held
    restorer.swap(adapted)
    released.go.set()
    out += [d.frame.index for d in restorer.push(frames[2])] + [d.frame.index for d in restorer.finish()]
    assert out == [0, 1, 2] and released.calls == [[0], [1]] and adapted.calls == [[2]]
    assert [int(h.faces[0].restored[0, 0, 0]) for h in frames] == [1, 2, 12]


class Held1(Adds):
    """Adds 1, holding each batch until the test lets it go (or 10 s pass)."""

    def __init__(self) -> None:
        super().__init__(1)
        self.go = threading.Event()

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        assert self.go.wait(10), "the caller waited for the engine instead of going on"
        return super().__call__(crops)


@pytest.mark.parametrize("eager", [True, False])
def test_eager_sends_each_frame_while_the_engine_is_idle_and_the_frames_that_came_while_it_was_busy_together(eager):
    """A live input: each frame's face goes to the engine at once while it keeps up (the frame waits for no other);
    the frames that come while it is busy go as one batch when it is free. Without eager a batch waits for
    batch_size crops or max_latency frames (here 4: frames 0-3 together)."""
    engine = Held1()
    restorer = Restorer(engine, batch_size=8, max_latency=4, in_flight=1, eager=eager)
    frames = [held(i, {1: 4.0 * i}) for i in range(6)]
    out = [d.frame.index for d in restorer.push(frames[0])]
    out += [d.frame.index for d in restorer.push(frames[1])]  # (eager: the engine holds frame 0's batch)
    out += [d.frame.index for d in restorer.push(frames[2])]
    assert out == []
    engine.go.set()
    for h in frames[3:]:
        for _, future in restorer.batches if eager else ():
            future.result()  # the batches back: the engine is idle again
        out += [d.frame.index for d in restorer.push(h)]
    out += [d.frame.index for d in restorer.finish()]
    assert out == [0, 1, 2, 3, 4, 5]
    assert engine.calls == ([[0], [1, 2, 3], [4], [5]] if eager else [[0, 1, 2, 3], [4, 5]]), engine.calls


def test_finish_waits_for_every_batch_still_in_flight():
    class Slow(Recorder):
        def __call__(self, crops: np.ndarray) -> np.ndarray:
            time.sleep(0.05)
            return super().__call__(crops)

    for frames in (1, 3):
        restorer = Restorer(Slow(frames), batch_size=2, max_latency=2, in_flight=1)
        assert run(restorer, [held(i, {1: 0.0}) for i in range(9)]) == list(range(9))


def test_an_engine_failure_in_the_worker_reaches_the_caller():
    class Broken(Recorder):
        def __call__(self, crops: np.ndarray) -> np.ndarray:
            raise RuntimeError("engine broke")

    restorer = Restorer(Broken(1), batch_size=1, max_latency=1, in_flight=1)
    with pytest.raises(RuntimeError, match="engine broke"):
        for i in range(4):
            restorer.push(held(i, {1: 0.0}))
        restorer.finish()
    restorer.close()


def test_blur_estimate_is_the_tracks_motion_in_crop_pixels():
    box = np.array([100.0, 100.0, 200.0, 200.0])  # a 100 px face in a 128 px crop with 0.4 margin
    assert blur_estimate(None, box, 128) == 0.0
    moved = box + np.array([14.0, 0, 14.0, 0])
    assert blur_estimate(box, moved, 128) == pytest.approx(14 * 128 / 140)


def test_process_with_a_temporal_engine_keeps_every_frame_and_reports_tracks(face_clip, tmp_path):
    """Through the CLI with the pass-through model at K frames is not registered; a gate and a report instead."""
    out, report = tmp_path / "o.mp4", tmp_path / "report"
    summary_path = tmp_path / "s.json"
    proc = run_cli("process", str(face_clip), "-o", str(out), "--model", "identity", "--gate", "0.5",
                   "--report", str(report), "--summary-json", str(summary_path), "-q")
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads(summary_path.read_text())
    assert video_info(out)["frames"] == video_info(face_clip)["frames"] == summary["frames"]
    assert summary["gate"] == 0.5 and summary["gates"] == [0.5] and summary["per_track"]
    track = next(iter(summary["per_track"].values()))
    assert {"frames", "blur_p10_p50_p90", "gated_share", "face_px_p50"} <= set(track)
    assert 32 < track["face_px_p50"] < max(decode_frames(face_clip, limit=1)[0].shape)
    assert (report / "blur_per_track.png").stat().st_size > 0
    assert decode_frames(out, limit=1)[0].shape == decode_frames(face_clip, limit=1)[0].shape


@pytest.mark.parametrize("model", ["naf-t3f", "naf-t3m", "naf-t5f"])
def test_process_with_a_realigning_temporal_engine_keeps_every_frame_and_changes_the_faces(model, face_clip, tmp_path):
    """naf-t3f / naf-t5f end to end: the engine warps each face's neighbours by flow in the engine thread; naf-t3m:
    Restorer re-cuts them in the centre crop's alignment. Every frame leaves, K // 2 frames late (1, 1 and 2), and
    the blurred faces are changed (bare network: --no-gate)."""
    if not has_weights(model):
        pytest.skip(f"no released {model} weights in engines/")
    out, summary_path = tmp_path / "o.mp4", tmp_path / "s.json"
    proc = run_cli("process", str(face_clip), "-o", str(out), "--model", model, "--no-gate",
                   "--summary-json", str(summary_path), "-q")
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads(summary_path.read_text())
    assert summary["lag_frames"] == get_spec(model).frames // 2 and summary["faces"] > 0
    assert video_info(out)["frames"] == video_info(face_clip)["frames"] == summary["frames"]
    plain = tmp_path / "identity.mp4"  # the same pipeline and encoder with the pass-through engine
    assert run_cli("process", str(face_clip), "-o", str(plain), "--model", "identity", "-q").returncode == 0
    before, after = decode_frames(plain), decode_frames(out)
    changed = [np.abs(a.astype(np.int16) - b.astype(np.int16)).max() > 8 for a, b in zip(after, before)]
    assert np.mean(changed) > 0.5


def test_process_detects_half_as_often_while_every_face_is_gated(face_clip, tmp_path, monkeypatch):
    """With every face gated, `process` runs the detector every 2N frames and still tracks the face on every
    frame; with --no-gate, every N."""
    import streamdeblur.pipeline as pipeline_module
    from streamdeblur.backends import IdentityEngine
    from streamdeblur.pipeline import ProcessOptions, process

    build = pipeline_module.build_detector
    calls = []

    def counting(options):
        detector = build(options)
        real = detector.detect
        detector.detect = lambda image: calls.append(1) or real(image)
        return detector

    monkeypatch.setattr(pipeline_module, "build_detector", counting)
    counts, faces = {}, {}
    for gate in (0.0, 1000.0):
        calls.clear()
        summary = process(str(face_clip), str(tmp_path / f"o{gate}.mp4"), ProcessOptions(gate=gate, detect_every=3),
                          engine=IdentityEngine(128))
        counts[gate], faces[gate] = len(calls), summary["faces"]
        assert summary["frames"] == 48
    assert counts[0.0] == 16 and counts[1000.0] == 8
    assert faces[0.0] == faces[1000.0] == 48


def test_gating_bench_runs_with_and_without_the_gate(tmp_path):
    from streamdeblur.bench_gate import format_gate_rows, half_still_clip, run_gate_bench
    from streamdeblur.synthetic import synthesize_frames, write_clip

    clip = write_clip(tmp_path / "talk.mp4", synthesize_frames(40, 320, 240, blur=False, shake=0.0), fps=25)
    blurred, sharp, _ = half_still_clip(clip, frames=10, speed=3.0)
    assert len(blurred) == len(sharp) == 10 and np.array_equal(blurred[0], sharp[0])
    assert not np.array_equal(blurred[-1], sharp[-1])  # the moving half is blurred
    rows = run_gate_bench(clip, "identity", 1000.0, frames=10, threads=1)
    assert [r["setting"] for r in rows] == ["no gate", "gate 1000"]
    assert rows[0]["gated_share"] == 0.0 and rows[1]["gated_share"] == 1.0
    assert min(rows[0]["faces"], rows[1]["faces"]) >= 10  # the face on every frame (gated: detected less often)
    assert "speed-up" in format_gate_rows(rows)


@pytest.mark.skipif(not has_weights("naf-t3"), reason="no released naf-t3 weights in engines/")
def test_ctrl_c_with_a_temporal_engine_still_writes_every_frame_it_read(tmp_path):
    """SIGINT while naf-t3 holds frames in its per-track buffer (lag K//2): the held frames are restored
    (their missing neighbours repeated) and written, so the file has every frame that was decoded."""
    import signal
    import subprocess
    import sys

    from streamdeblur.synthetic import synthesize_frames, write_clip

    clip = write_clip(tmp_path / "long.mp4", synthesize_frames(24, 320, 240, blur=True) * 25, fps=24)  # 600 frames
    out, summary_path = tmp_path / "out.mp4", tmp_path / "s.json"
    proc = subprocess.Popen([sys.executable, "-m", "streamdeblur", "process", str(clip), "-o", str(out),
                             "--model", "naf-t3", "--no-gate", "--summary-json", str(summary_path), "-q"],
                            stderr=subprocess.PIPE)
    wait_until_writing(out, proc)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err.decode()
    summary = json.loads(summary_path.read_text())
    assert summary["lag_frames"] == 1
    info = video_info(out)
    # one face a frame: the faces counted as frames were read equal the frames written (none held back)
    assert 0 < info["frames"] < 600 and info["frames"] == summary["frames"] == summary["faces"]
    assert len(decode_frames(out)) == info["frames"]


@pytest.mark.skipif(not has_weights("naf-hd"), reason="no released naf-hd weights in engines/")
def test_large_faces_get_a_hint_towards_the_256_px_engine():
    """naf restoring faces mostly over 200 px points to naf-hd (measured better there); small faces, other
    models and no faces get no hint."""
    from streamdeblur.pipeline import large_face_hint
    from streamdeblur.restore import TrackLog

    big, small = TrackLog(size=[420.0] * 5), TrackLog(size=[90.0] * 4)
    assert big.summary()["face_px_p50"] == 420.0 and TrackLog().summary()["face_px_p50"] == 0.0
    hint = large_face_hint("naf", {0: big, 1: small})
    assert hint is not None and "--model naf-hd" in hint and "420 px across" in hint and "256 px" in hint
    assert large_face_hint("naf", {0: small, 1: big, 2: small}) is None
    assert large_face_hint("fast-unet", {0: big}) is None and large_face_hint("naf-hd", {0: big}) is None
    assert large_face_hint("naf", {}) is None


def test_a_released_engine_on_a_file_points_to_adapt(tmp_path):
    """After a released engine restored enough faces of a video file, a camera, a stream or a pipe, process points
    to --adapt (one line; a live input's says it adapts while it runs); an adapted engine (routes), a model adapt
    does not fine-tune, a missing file, too few faces and the identity engine get no hint."""
    from types import SimpleNamespace

    from streamdeblur.backends import IdentityEngine
    from streamdeblur.pipeline import ADAPT_HINT_FACES, adapt_hint
    from streamdeblur.restore import TrackLog

    clip = tmp_path / "talk.mp4"
    clip.write_bytes(b"\0")

    def released(**kw):
        return SimpleNamespace(name="onnxruntime-cpu", input_size=128, frames=1, **kw)

    enough = {0: TrackLog(frames=list(range(ADAPT_HINT_FACES)))}
    hint = adapt_hint(str(clip), released(), enough)
    assert hint is not None and "--adapt" in hint and "\n" not in hint
    assert adapt_hint(str(clip), released(model="naf"), enough) is not None
    # the cGAN stage: `process --adapt --model hg-cgan-half` is refused
    assert adapt_hint(str(clip), released(model="hg-cgan-half"), enough) is None
    assert adapt_hint(str(clip), released(model="naf", routes=(released(), released())), enough) is None
    for stream in ("-", "rtsp://camera/stream", "webcam:0"):
        live = adapt_hint(stream, released(model="naf"), enough)
        assert live is not None and "while it runs" in live and "\n" not in live
    assert "while it runs" not in hint
    assert adapt_hint(str(tmp_path / "missing.mp4"), released(model="naf"), enough) is None
    few = {0: TrackLog(frames=list(range(ADAPT_HINT_FACES // 2))), 1: TrackLog(frames=[1, 2])}
    assert adapt_hint(str(clip), released(model="naf"), few) is None
    assert adapt_hint(str(clip), IdentityEngine(128, 1), enough) is None
