"""The face stage's detection cadence: every N frames, every 2N after a detection frame whose faces were all gated."""

from __future__ import annotations

import threading
from fractions import Fraction

import numpy as np
import pytest

from streamdeblur.faces.detection import Detection
from streamdeblur.faces.stage import FaceStage
from streamdeblur.io.media import Frame
from streamdeblur.pipeline import ProcessOptions, StageTimes


class CountingDetector:
    """One fixed face; records the frames it ran on."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.index = 0

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.calls.append(self.index)
        marks = np.array([[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]], np.float32)
        return [Detection(box=np.array([20, 20, 100, 120], np.float32), score=0.9, landmarks=marks)]


def _run(gated_on: set[int], frames: int = 30, every: int = 3) -> list[int]:
    """Detection frames when the pipeline reports the face gated on the frames in gated_on."""
    detector = CountingDetector()
    stage = FaceStage(detector, ProcessOptions(detect_every=every), 64)
    image = np.zeros((160, 160, 3), np.uint8)
    for i in range(frames):
        detector.index = i
        found = stage(Frame(image, i, i, Fraction(1, 25)), StageTimes())
        assert len(found) == 1  # tracked on every frame, detected or not
        stage.note_gating(len(found), len(found) if i in gated_on else 0)
    return detector.calls


def test_detector_runs_every_n_frames_while_faces_are_restored():
    assert _run(set()) == list(range(0, 30, 3))


def test_detector_runs_every_2n_frames_after_a_detection_frame_with_every_face_gated():
    assert _run(set(range(30))) == list(range(0, 30, 6))
    # gated from frame 12 on: the detection at 12 sets the slower pace
    assert _run(set(range(12, 30))) == [0, 3, 6, 9, 12, 18, 24]
    # only detection frames count: a face gated between detections does not slow the detector
    assert _run({1, 2, 4, 5, 7, 8}) == list(range(0, 30, 3))
    # a detection frame with the face restored again brings the pace back to N
    assert _run(set(range(0, 12))) == [0, 6, 12, 15, 18, 21, 24, 27]


class HeldDetector:
    """A detector that waits for `release` before it answers (a slow one), with the face where `x` says; records
    the frames it was given."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.release.set()
        self.seen: list[np.ndarray] = []
        self.x = 20.0
        self.fail = False

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.seen.append(image)
        assert self.release.wait(10)
        if self.fail:
            raise RuntimeError("detector broke")
        x = self.x
        marks = np.array([[x + 20, 50], [x + 60, 50], [x + 40, 70], [x + 25, 90], [x + 55, 90]], np.float32)
        return [Detection(box=np.array([x, 20, x + 80, 120], np.float32), score=0.9, landmarks=marks)]


def _frame(i: int) -> Frame:
    return Frame(np.full((160, 240, 3), i, np.uint8), i, i, Fraction(1, 25))


def _wait_done(stage: FaceStage) -> None:
    """Until the detection running beside (if any) is finished (without taking its result)."""
    from concurrent.futures import wait

    if stage._pending is not None:
        assert wait([stage._pending[1]], timeout=10).done


def test_beside_the_frames_a_detection_frame_is_not_held_up_and_the_tracks_take_it_when_ready():
    detector = HeldDetector()
    stage = FaceStage(detector, ProcessOptions(detect_every=3), 64, beside=True)
    try:
        ((track, _, _),) = stage(_frame(0), StageTimes())  # the first detection runs on its frame
        assert len(detector.seen) == 1 and track.box[0] == 20
        stage(_frame(1), StageTimes()), stage(_frame(2), StageTimes())
        detector.release.clear()  # frame 3's detection will take as long as the test wants
        detector.x = 60.0  # the face moved
        frame = _frame(3)
        ((track, _, _),) = stage(frame, StageTimes())  # returns while its detection is still running
        assert abs(track.box[0] - 20) < 1  # predicted: the detection is not in yet
        frame.image[:] = 255  # pasted into after: the detector has a copy of the frame as it was read
        for i in (4, 5):
            ((track, _, _),) = stage(_frame(i), StageTimes())
            assert abs(track.box[0] - 20) < 1
        assert len(detector.seen) == 2 and int(detector.seen[1].max()) == 3
        # frame 6: the detection N frames behind is waited for, taken, and frame 6 sent to the detector
        release = threading.Timer(0.2, detector.release.set)
        release.start()
        ((track, _, _),) = stage(_frame(6), StageTimes())
        assert detector.release.is_set() and track.box[0] > 40 and track.track_id == 0 and not track.detected
        _wait_done(stage)
        assert len(detector.seen) == 3 and int(detector.seen[2].max()) == 6
        stage(_frame(7), StageTimes())  # a detection back in time is taken on the next frame
        assert stage._pending is None and len(detector.seen) == 3
    finally:
        stage.close()


def test_beside_the_frames_the_detector_keeps_its_pace_and_its_failure_reaches_the_caller():
    detector = HeldDetector()
    stage = FaceStage(detector, ProcessOptions(detect_every=3), 64, beside=True)
    try:
        for i in range(13):
            stage(_frame(i), StageTimes())
            _wait_done(stage)
        assert [int(image.max()) for image in detector.seen] == [0, 3, 6, 9, 12]
        detector.fail = True
        stage(_frame(13), StageTimes()), stage(_frame(14), StageTimes())
        stage(_frame(15), StageTimes())
        _wait_done(stage)
        with pytest.raises(RuntimeError, match="detector broke"):
            stage(_frame(16), StageTimes())  # the next frame raises the failure of frame 15's detection
    finally:
        stage.close()
