"""Face detection: a FaceDetector protocol returning boxes, scores and 5 landmarks.

Backends: 'yunet' (embedded default: PyPI yuface has the weights compiled in, works offline) and
'scrfd' (insightface model packs, run with onnxruntime).
Landmark order (as insightface): left eye, right eye, nose tip, left mouth corner, right mouth
corner, where left/right are as seen in the image (left eye has the smaller x on a frontal face).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Detection:
    """One face: box (x1, y1, x2, y2) float32 in pixels, score in [0, 1], landmarks (5, 2) float32."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in one HxWx3 uint8 BGR image, best score first."""
        ...


def create_detector(
    name: str = "yunet", model_path: str | None = None, score_threshold: float = 0.5
) -> FaceDetector:
    """Build a detector by name. Raises UserError for an unknown name or a missing model file."""
    raise NotImplementedError
