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


def largest_face(detections: list[Detection], min_size: float) -> Detection | None:
    """The largest detection at least min_size on its longer side, or None."""
    big = [d for d in detections if max(d.box[2] - d.box[0], d.box[3] - d.box[1]) >= min_size]
    return max(big, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1])) if big else None
