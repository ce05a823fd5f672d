"""dlib and the model files of PyPI `face-recognition-models` (the `eval` extra), found without importing
that package (its own import needs pkg_resources, which recent setuptools no longer ship). Used by the face
embedder (faces/identity.py: whose face is this, for `adapt` and `process`) and eval's landmarks."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from streamdeblur.errors import MissingDependencyError

EVAL_EXTRA_HINT = "pip install 'streamdeblur[eval]'"


def import_dlib():  # noqa: ANN201 - returns the dlib module
    """Import dlib lazily; MissingDependencyError naming the eval extra when absent."""
    try:
        import dlib
    except ImportError as exc:
        raise MissingDependencyError(f"dlib is not installed ({EVAL_EXTRA_HINT})") from exc
    return dlib


def face_models_file(name: str) -> Path:
    """Path of a model file shipped by face-recognition-models, found without importing the package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(f"face-recognition-models is not installed ({EVAL_EXTRA_HINT})")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.is_file():
        raise MissingDependencyError(f"{path} is missing; reinstall face-recognition-models ({EVAL_EXTRA_HINT})")
    return path


def dlib_box_from_points(points5: np.ndarray, scale: float = 2.2, shift: float = 0.4) -> np.ndarray:
    """A square box shaped like dlib's HOG detector boxes, from 5 points (eyes, nose, mouth corners).

    Side = scale x eye-to-mouth distance, centred shift of the way from the eyes to the mouth
    (fitted on the two annotated photos: the 68-point predictor is sensitive to box convention,
    and detector boxes such as YuNet's are taller than dlib's).
    """
    p = np.asarray(points5, dtype=np.float64)
    eyes, mouth = (p[0] + p[1]) / 2, (p[3] + p[4]) / 2
    half = scale * float(np.linalg.norm(mouth - eyes)) / 2
    cx, cy = eyes + (mouth - eyes) * shift
    return np.array([cx - half, cy - half, cx + half, cy + half], dtype=np.float32)
