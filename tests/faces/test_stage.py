"""The face stage's detection cadence: every N frames, every 2N after a detection frame whose faces were all gated."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

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
