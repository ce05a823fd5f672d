"""Fixtures for the face stages: decoded frames of real clips (PyAV directly) and generated clips."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from streamdeblur.faces.detect import Detection, create_detector


def decode_frames(path: Path, step: int = 1, limit: int | None = None) -> list[np.ndarray]:
    """BGR frames of a video file: every step-th frame, at most limit of them."""
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if limit is not None and len(frames) >= limit:
                break
            if i % step == 0:
                frames.append(frame.to_ndarray(format="bgr24"))
    return frames


def best(detections: list[Detection]) -> Detection | None:
    """The highest-scoring detection, or None."""
    return max(detections, key=lambda d: d.score) if detections else None


@pytest.fixture(scope="session")
def yunet():
    """The default detector."""
    return create_detector("yunet")


@pytest.fixture(scope="session")
def single_face_frames() -> list[np.ndarray]:
    """Every 2nd frame of the real single-face clip (36 frames, 640x360), or skip."""
    from tests.conftest import shared_path

    return decode_frames(shared_path("data/tests/single_face_640x360.mp4"), step=2)


@pytest.fixture(scope="session")
def synthetic_frames() -> list[np.ndarray]:
    """A generated motion-blurred face clip (24 frames, 480x360), no ../shared needed."""
    from streamdeblur.synthetic import synthesize_frames

    return synthesize_frames(24, 480, 360, blur=True, seed=1)


@pytest.fixture(scope="session")
def scrfd_500m():
    """SCRFD 500m from ../shared, or skip."""
    from tests.conftest import shared_path

    return create_detector("scrfd", model_path=str(shared_path("models/insightface/scrfd_500m/det_500m.onnx")))


@pytest.fixture(scope="session")
def single_face_detections(yunet, single_face_frames) -> list[list[Detection]]:
    """yunet's detections on each of single_face_frames (computed once)."""
    return [yunet.detect(f) for f in single_face_frames]


@pytest.fixture(scope="session")
def synthetic_detections(yunet, synthetic_frames) -> list[list[Detection]]:
    """yunet's detections on each of synthetic_frames (computed once)."""
    return [yunet.detect(f) for f in synthetic_frames]


@pytest.fixture(scope="session")
def crowd_frames() -> list[np.ndarray]:
    """The first 10 frames of the 1080p crowd clip, or skip."""
    from tests.conftest import shared_path

    return decode_frames(shared_path("data/tests/crowd_1080p.mp4"), limit=10)
