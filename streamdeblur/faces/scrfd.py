"""SCRFD face detector (insightface model packs) run with onnxruntime, with no insightface import.

Pre-processing: resize keeping the aspect ratio so the longer side is input_size, pad right/bottom
to a multiple of 32, (x - 127.5) / 128 on RGB. Post-processing: anchor centres on strides 8/16/32
with 2 anchors each, distance -> box and keypoints, score threshold, NMS.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from streamdeblur.errors import MissingDependencyError, UserError
from streamdeblur.faces.detection import Detection

STRIDES = (8, 16, 32)
NUM_ANCHORS = 2
# The detector file inside each known insightface pack.
PACK_FILES = {
    "buffalo_l": "det_10g.onnx",
    "buffalo_m": "det_2.5g.onnx",
    "buffalo_s": "det_500m.onnx",
    "buffalo_sc": "det_500m.onnx",
    "scrfd_10g": "det_10g.onnx",
    "scrfd_2.5g": "det_2.5g.onnx",
    "scrfd_500m": "det_500m.onnx",
}


def insightface_root() -> Path:
    """The insightface home: $INSIGHTFACE_HOME, else ~/.insightface."""
    return Path(os.environ.get("INSIGHTFACE_HOME") or Path.home() / ".insightface")


def resolve_model(model_path: str | os.PathLike | None = None, pack: str = "buffalo_l",
                  root: str | os.PathLike | None = None) -> Path:
    """The SCRFD .onnx to load: model_path (a file, or a folder holding det_*.onnx), else the pack's."""
    if model_path is not None:
        path = Path(model_path).expanduser()
        if path.is_dir():
            found = sorted(path.glob("det_*.onnx"))
            if not found:
                raise MissingDependencyError(
                    f"no det_*.onnx in {path}: pass the SCRFD .onnx file with --detector-model PATH")
            return found[0]
        if not path.is_file():
            raise MissingDependencyError(
                f"SCRFD model file not found: {path} (pass an existing .onnx with --detector-model PATH)")
        return path
    folder = Path(root).expanduser() if root is not None else insightface_root()
    folder = folder / "models" / pack
    expected = PACK_FILES.get(pack)
    if expected and (folder / expected).is_file():
        return folder / expected
    found = sorted(folder.glob("det_*.onnx")) if folder.is_dir() else []
    if found:
        return found[0]
    need = folder / (expected or "det_*.onnx")
    raise MissingDependencyError(
        f"the scrfd detector needs {need} (the detector of insightface pack {pack!r}); "
        f"put that file there, or pass --detector-model PATH, or use --detector yunet"
    )


def distance2bbox(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Anchor centres (N, 2) and distances (N, 4: left, top, right, bottom) -> boxes (N, 4) xyxy."""
    return np.concatenate([points - distance[:, :2], points + distance[:, 2:]], axis=1)


def distance2kps(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Anchor centres (N, 2) and offsets (N, 10) -> keypoints (N, 5, 2)."""
    return points[:, None, :] + distance.reshape(-1, 5, 2)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression at IoU threshold, best score first."""
    order = np.argsort(-scores)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= threshold]
    return np.asarray(keep, dtype=np.int64)


class ScrfdDetector:
    """SCRFD (.onnx from an insightface pack) on onnxruntime; any input size (multiple of 32)."""

    name = "scrfd"

    def __init__(self, model_path: str | os.PathLike | None = None, score_threshold: float = 0.5,
                 pack: str = "buffalo_l", root: str | os.PathLike | None = None, input_size: int = 640,
                 nms_threshold: float = 0.4, providers: Sequence[str] | None = None) -> None:
        import onnxruntime as ort

        self.model_path = resolve_model(model_path, pack, root)
        if int(input_size) < 32:
            raise UserError(f"scrfd input_size must be at least 32, got {input_size}")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # the packs declare fixed output shapes; silence the mismatch notes
        try:
            self.session = ort.InferenceSession(str(self.model_path), options,
                                                providers=list(providers or ["CPUExecutionProvider"]))
        except Exception as exc:  # onnxruntime raises its own types for bad files
            raise UserError(f"cannot load SCRFD model {self.model_path}: {str(exc).splitlines()[0]}") from exc
        outputs = self.session.get_outputs()
        if len(outputs) != 3 * len(STRIDES):
            raise UserError(f"{self.model_path} is not an SCRFD detector with keypoints "
                            f"(expected 9 outputs, found {len(outputs)})")
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in outputs]
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.input_size = int(input_size)
        self._centres: dict[tuple[int, int, int], np.ndarray] = {}

    def _anchor_centres(self, height: int, width: int, stride: int) -> np.ndarray:
        """Anchor centres (H*W*2, 2) of one stride, cached per input shape."""
        key = (height, width, stride)
        if key not in self._centres:
            ys, xs = np.mgrid[:height, :width]
            centres = (np.stack([xs, ys], axis=-1).astype(np.float32) * stride).reshape(-1, 2)
            self._centres[key] = np.repeat(centres, NUM_ANCHORS, axis=0)
        return self._centres[key]

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in one HxWx3 uint8 BGR image, best score first."""
        h, w = image.shape[:2]
        scale = self.input_size / max(h, w)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        iw, ih = -(-nw // 32) * 32, -(-nh // 32) * 32
        padded = np.zeros((ih, iw, 3), np.uint8)
        padded[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        blob = cv2.dnn.blobFromImage(padded, 1.0 / 128.0, (iw, ih), (127.5, 127.5, 127.5), swapRB=True)
        outs = self.session.run(self.output_names, {self.input_name: blob})
        if outs[0].ndim == 3:  # models exported with a batch axis
            outs = [o[0] for o in outs]
        n = len(STRIDES)
        all_scores, all_boxes, all_kps = [], [], []
        for i, stride in enumerate(STRIDES):
            scores = outs[i].reshape(-1)
            keep = np.nonzero(scores >= self.score_threshold)[0]
            if keep.size == 0:
                continue
            centres = self._anchor_centres(ih // stride, iw // stride, stride)[keep]
            all_scores.append(scores[keep])
            all_boxes.append(distance2bbox(centres, outs[i + n][keep] * stride))
            all_kps.append(distance2kps(centres, outs[i + 2 * n][keep] * stride))
        if not all_scores:
            return []
        scores = np.concatenate(all_scores)
        boxes = np.concatenate(all_boxes)
        kps = np.concatenate(all_kps)
        sx, sy = nw / w, nh / h
        boxes = boxes / np.array([sx, sy, sx, sy], np.float32)
        kps = kps / np.array([sx, sy], np.float32)
        return [Detection(box=boxes[i].astype(np.float32), score=float(scores[i]), landmarks=kps[i].astype(np.float32))
                for i in nms(boxes, scores, self.nms_threshold)]
