"""YuNet through PyPI yuface (libfacedetection with the weights compiled in: no model file)."""

from __future__ import annotations

import ctypes
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


# libfacedetection's C entry point, facedetect_cnn(result_buffer, bgr, width, height, step) (C++ name mangling),
# in the library yuface ships beside its extension; its result buffer is 0x9000 bytes: an int count, then 16 shorts
# a face (confidence 0-100, x, y, w, h, five landmark points, one unused).
_CNN_SYMBOL = "_Z14facedetect_cnnPhS_iii"
_BUFFER_BYTES = 0x9000


def _gil_free_detect(yuface: Any) -> Any | None:
    """libfacedetection called through ctypes, which lets go of Python's GIL while the network runs; None when
    the library or its symbol is not where yuface 2023.5 keeps it (then yuface's own call is used).

    yuface's extension holds the GIL for the whole detection (measured: another Python thread ran at 12 % of its
    speed meanwhile; through ctypes, 82 %). In `process` that stalled the decoder, the encoder and the engine
    thread for the ~50 ms each detection takes at 480 px on this CPU. The results are the same numbers.
    """
    try:
        lib = ctypes.CDLL(os.path.join(os.path.dirname(yuface.__file__), "libfacedetection.so"))
        fn = getattr(lib, _CNN_SYMBOL)
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.POINTER(ctypes.c_int)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]

    def detect(image: np.ndarray) -> np.ndarray:
        """(N, 15) int16 rows: confidence, x, y, w, h, ten landmark coordinates, as yuface's own detect."""
        buffer = np.zeros(_BUFFER_BYTES // 4, np.int32)  # per call: detectors may run in several threads
        image = np.ascontiguousarray(image)
        found = fn(buffer.ctypes.data, image.ctypes.data, image.shape[1], image.shape[0], image.strides[0])
        count = int(found[0]) if found else 0
        rows = buffer[1:1 + count * 8].view(np.int16).reshape(count, 16)
        if count and ctypes.addressof(found.contents) != buffer.ctypes.data:
            raise RuntimeError("libfacedetection returned results outside the buffer it was given")
        return rows[:, :15].copy()

    return detect


def _yuface_detect(yuface: Any) -> Any:
    """yuface's own call (holds the GIL) in the same (N, 15) form."""
    def detect(image: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            confs, boxes, marks = yuface.detect(image, 0.0)
        return np.column_stack([confs, boxes, marks]).astype(np.int16).reshape(-1, 15)

    return detect


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
        self._raw = _gil_free_detect(yuface) or _yuface_detect(yuface)
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
        rows = self._raw(np.ascontiguousarray(small))
        rows = rows[rows[:, 0] > self.score_threshold * 100]
        confs, boxes, marks = rows[:, 0], rows[:, 1:5], rows[:, 5:15]
        factor = np.array([sx, sy], np.float32)
        found = []
        for conf, (x, y, bw, bh), lm in zip(confs, boxes.astype(np.float32), marks.astype(np.float32)):
            corners = np.array([[x, y], [x + bw, y + bh]], np.float32) / factor
            points = (lm.reshape(5, 2) + 0.5) / factor - 0.5  # pixel centres
            score = min(max(float(conf) / 100.0, 0.0), 1.0)
            found.append(Detection(box=corners.reshape(4), score=score, landmarks=points.astype(np.float32)))
        found.sort(key=lambda d: -d.score)
        return found
