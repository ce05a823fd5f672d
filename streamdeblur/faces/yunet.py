"""YuNet through PyPI yuface (libfacedetection with the weights compiled in: no model file)."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import cv2
import numpy as np

from streamdeblur.errors import MissingDependencyError, UserError
from streamdeblur.faces.detection import Detection


def _import_yuface() -> Any:
    """Import yuface with its private OpenMP runtime set to wait passively (unless the user chose).

    Its libgomp spins by default: on a busy machine (decode and encode threads beside it) that made
    detection 3-5x slower in wall time. libgomp reads the variable once, when it loads. Once torch
    is imported, yuface's OpenMP calls bind to torch's (global) libgomp instead and this has no
    effect: set OMP_WAIT_POLICY=PASSIVE before importing torch for the same gain.
    """
    if "yuface" in sys.modules:
        return sys.modules["yuface"]
    chosen = "OMP_WAIT_POLICY" in os.environ
    if not chosen:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import yuface
    finally:
        if not chosen:
            del os.environ["OMP_WAIT_POLICY"]
    return yuface


class YuNetDetector:
    """YuNet on a copy of the frame downscaled to max_side, results mapped back to frame pixels.

    yuface warns above 960 px and slows down fast with size; on the 1080p crowd clip max_side 640
    found 7.2 faces/frame in 24 ms (960: 8.2 in 46 ms; 1920: 7.8 in 323 ms), smallest face ~30 px.
    Its landmarks already come in the insightface order (left eye as seen in the image first).
    """

    name = "yunet"

    def __init__(self, score_threshold: float = 0.5, max_side: int = 640) -> None:
        try:
            yuface = _import_yuface()
        except ImportError as exc:  # pragma: no cover - yuface is a core dependency
            raise MissingDependencyError("the yunet detector needs the yuface package: pip install yuface") from exc
        if int(max_side) < 64:
            raise UserError(f"yunet max_side must be at least 64, got {max_side}")
        self._detect = yuface.detect
        self.score_threshold = float(score_threshold)
        self.max_side = int(max_side)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in one HxWx3 uint8 BGR image, best score first."""
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = image
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            sx, sy = size[0] / w, size[1] / h
        else:
            sx = sy = 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            confs, boxes, marks = self._detect(np.ascontiguousarray(small), self.score_threshold)
        factor = np.array([sx, sy], np.float32)
        found = []
        for conf, (x, y, bw, bh), lm in zip(confs, boxes.astype(np.float32), marks.astype(np.float32)):
            corners = np.array([[x, y], [x + bw, y + bh]], np.float32) / factor
            points = (lm.reshape(5, 2) + 0.5) / factor - 0.5  # pixel centres
            score = min(max(float(conf) / 100.0, 0.0), 1.0)
            found.append(Detection(box=corners.reshape(4), score=score, landmarks=points.astype(np.float32)))
        found.sort(key=lambda d: -d.score)
        return found
