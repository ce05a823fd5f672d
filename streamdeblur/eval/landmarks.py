"""68-point facial landmarks for evaluation, behind a small interface.

The default is dlib's shape predictor shipped by PyPI `face-recognition-models` (run with
`dlib-bin`); the model file is found by path (the package's own import needs pkg_resources,
which recent setuptools no longer ship, so it is never imported).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np

from streamdeblur.errors import UserError
from streamdeblur.faces.dlib_models import (EVAL_EXTRA_HINT, dlib_box_from_points,  # noqa: F401 - re-exported
                                              face_models_file, import_dlib)


class Landmarker(Protocol):
    name: str
    n_points: int

    def __call__(self, image: np.ndarray, box: Sequence[float]) -> np.ndarray:
        """(n_points, 2) float32 landmarks of the face in box (x1, y1, x2, y2) of a BGR image."""
        ...


class DlibLandmarker:
    """dlib's 68-point shape predictor (iBUG 300-W layout) run inside a given face box."""

    name = "dlib-68"
    n_points = 68

    def __init__(self, model_path: str | Path | None = None) -> None:
        self._dlib = import_dlib()
        path = Path(model_path) if model_path else face_models_file("shape_predictor_68_face_landmarks.dat")
        if not path.is_file():
            raise UserError(f"landmark model not found: {path}")
        self._predictor = self._dlib.shape_predictor(str(path))

    def __call__(self, image: np.ndarray, box: Sequence[float]) -> np.ndarray:
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        shape = self._predictor(rgb, self._dlib.rectangle(x1, y1, x2, y2))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


def create_landmarker(name: str = "dlib", model_path: str | Path | None = None) -> Landmarker:
    """Build a landmarker by name ('dlib'); MissingDependencyError when its package or model is absent."""
    if name == "dlib":
        return DlibLandmarker(model_path)
    raise UserError(f"unknown landmarker {name!r} (known: dlib)")


def dlib_face_boxes(image: np.ndarray, upsample: int = 1) -> list[np.ndarray]:
    """Faces found by dlib's HOG detector (the boxes its shape predictor was trained on), largest first."""
    dlib = import_dlib()
    detector = dlib.get_frontal_face_detector()
    rects = detector(np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)), upsample)
    boxes = [np.array([r.left(), r.top(), r.right(), r.bottom()], np.float32) for r in rects]
    return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """The 5 alignment points (left eye, right eye, nose tip, left and right mouth corner) from 68 points."""
    p = np.asarray(landmarks68, dtype=np.float32)
    return np.stack([p[36:42].mean(axis=0), p[42:48].mean(axis=0), p[30], p[48], p[54]]).astype(np.float32)


def read_pts(path: str | Path) -> np.ndarray:
    """Read an iBUG .pts landmark file into an (N, 2) float32 array."""
    lines = Path(path).read_text().splitlines()
    try:
        start = lines.index("{") + 1
        end = lines.index("}")
    except ValueError as exc:
        raise UserError(f"{path}: not an iBUG .pts file (no braces)") from exc
    return np.array([[float(v) for v in line.split()] for line in lines[start:end]], dtype=np.float32)
