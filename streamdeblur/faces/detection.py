"""What a face detector returns and the interface every detector backend implements (no backend code
here: faces/detect.py builds backends, faces/yunet.py and faces/scrfd.py implement them)."""

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
