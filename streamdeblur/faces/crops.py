"""Crop geometry shared by process, make-pairs and eval: a square, margin-padded face crop aligned
by the 5 landmarks (similarity transform) to NxN, its inverse, and feathered paste-back.

Framing: the 5-point template is the FFHQ alignment's (as used by face restoration tools),
re-centred on a unit "face square" that spans hairline to chin. margin is the extra fraction of
that face square in the crop: crop side = face side * (1 + margin). margin=0.4 gives the FFHQ
framing (eyes-to-mouth about a quarter of the crop; hair line and chin inside with room to spare).

Paste-back adds the residual (restored - crop) warped back into the frame under a feathered
mask, so an engine that returns its input leaves the frame exactly unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np


@dataclass(frozen=True)
class Crop:
    """An aligned face crop: image (size, size, 3) uint8 BGR, matrix (2, 3) frame->crop affine."""

    image: np.ndarray
    matrix: np.ndarray
    track_id: int = -1


# FFHQ 5-point template at 512 px (left eye, right eye, nose, left mouth, right mouth as seen).
_FFHQ_512 = np.array([[192.98138, 239.94708], [318.90277, 240.19366], [256.63416, 314.01935],
                      [201.26117, 371.41043], [313.08905, 371.15118]])
# In FFHQ crops the face square (hairline to chin) is about 0.7 of the side, centred at (0.5, 0.55).
TEMPLATE = ((_FFHQ_512 / 512.0 - np.array([0.5, 0.55])) / 0.7 + 0.5).astype(np.float64)
"""The 5 landmarks in a unit face square ([0, 1]^2 spans hairline to chin, ear to ear)."""


def template_points(size: int, margin: float = 0.4) -> np.ndarray:
    """Where alignment puts the 5 landmarks in a size x size crop, (5, 2) float64."""
    return (TEMPLATE - 0.5) * (size / (1.0 + margin)) + size / 2.0


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2x3 similarity (rotation, uniform scale, translation) mapping src to dst (Umeyama)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var_s = (s**2).sum() / len(src)
    scale = (sig * np.diag(sign)).sum() / max(var_s, 1e-12)
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def alignment_matrix(landmarks: np.ndarray, size: int, margin: float = 0.4) -> np.ndarray:
    """2x3 similarity transform mapping frame coordinates to an aligned size x size crop."""
    return similarity_transform(np.asarray(landmarks, np.float64).reshape(5, 2), template_points(size, margin))


def box_matrix(box: np.ndarray, size: int, margin: float = 0.4) -> np.ndarray:
    """2x3 frame->crop transform of an upright square crop around a detector box (no landmarks).

    The detector box (about hairline to chin) is taken as the face square, its longer side.
    """
    x1, y1, x2, y2 = np.asarray(box, np.float64).reshape(4)
    side = max(x2 - x1, y2 - y1, 1.0) * (1.0 + margin)
    scale = size / side
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    return np.array([[scale, 0.0, size / 2.0 - scale * cx], [0.0, scale, size / 2.0 - scale * cy]])


def landmarks_plausible(landmarks: np.ndarray, box: np.ndarray) -> bool:
    """Whether 5 landmarks look like an upright-ish face inside its box (else use box_matrix)."""
    pts = np.asarray(landmarks, np.float64).reshape(5, 2)
    x1, y1, x2, y2 = np.asarray(box, np.float64).reshape(4)
    side = max(x2 - x1, y2 - y1, 1.0)
    eyes, mouth = pts[:2].mean(0), pts[3:].mean(0)
    eye_vec = pts[1] - pts[0]
    down = mouth - eyes
    inside = np.all((pts >= [x1 - 0.25 * side, y1 - 0.25 * side]) & (pts <= [x2 + 0.25 * side, y2 + 0.25 * side]))
    # the mouth lies on the clockwise side of the eye line (image y points down) and far enough
    return bool(inside and eye_vec[0] * down[1] - eye_vec[1] * down[0] > 0 and 0.1 * side < np.hypot(*down) < 0.8 * side
                and np.hypot(*eye_vec) > 0.1 * side)


def face_matrix(box: np.ndarray, landmarks: np.ndarray | None, size: int, margin: float = 0.4) -> np.ndarray:
    """Landmark alignment when the landmarks are plausible, else the box-based crop."""
    if landmarks is not None and landmarks_plausible(landmarks, box):
        return alignment_matrix(landmarks, size, margin)
    return box_matrix(box, size, margin)


def extract_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp the frame into the crop (bilinear, border replicated)."""
    return cv2.warpAffine(image, np.asarray(matrix, np.float64), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def crop_box(matrix: np.ndarray, size: int) -> tuple[float, float, float, float]:
    """The crop's footprint in the frame: bounding rectangle (x1, y1, x2, y2) of its four corners."""
    inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
    pts = corners @ inverse.T
    x1, y1 = pts.min(0)
    x2, y2 = pts.max(0)
    return float(x1), float(y1), float(x2), float(y2)


FEATHER = 0.05  # the mask's zero band, as a fraction of the crop side (its ramp spans about twice that)


@lru_cache(maxsize=32)
def feather_mask(size: int, border: int | None = None) -> np.ndarray:
    """size x size float32 weights: 1 in the middle, a smooth ramp to 0 at the crop border (read-only).

    A square eroded by `border` pixels (default: a twentieth of the side), then Gaussian-blurred with
    sigma a third of that, so it is 0 at the border and the ramp spans about a tenth of the side. The
    crop's outer ring is hair, ears and chin, which the engine restores too: with a tenth (the ramp a
    fifth of the side) a perfect engine could gain 2.9 dB on the val clips' shake-blurred faces through
    paste-back, with a twentieth 4.9, and naf's gain through `process` went from +0.47 to +0.73 dB
    (session 19).
    """
    border = max(2, round(size * FEATHER)) if border is None else max(2, int(border))
    mask = np.zeros((size, size), np.float32)
    mask[border:size - border, border:size - border] = 1.0
    sigma = border / 3.0
    mask = cv2.GaussianBlur(mask, (2 * border + 1, 2 * border + 1), sigma, borderType=cv2.BORDER_CONSTANT)
    mask[mask < 5e-3] = 0.0  # exactly 0 at the crop border (a residual there never shows)
    mask.setflags(write=False)
    return mask


def feather_border(size: int, matrix: np.ndarray) -> int:
    """The mask's zero band in crop pixels for a crop of the frame by matrix: a twentieth of the side, wider
    when the crop enlarges a small face, so that the ramp never gets steeper in frame pixels than at 1:1."""
    scale = math.sqrt(abs(float(np.linalg.det(np.asarray(matrix, np.float64)[:, :2]))))  # crop px per frame px
    return max(2, round(size * FEATHER * max(1.0, scale)))


def paste_back(frame: np.ndarray, crop_image: np.ndarray, restored: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Add the residual (restored - crop_image), warped back and feathered, to the frame (in place, returned).

    Only the crop's footprint in the frame is touched; restored == crop_image leaves it unchanged.
    """
    size = crop_image.shape[0]
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = crop_box(matrix, size)
    x1, y1 = max(int(np.floor(x1)), 0), max(int(np.floor(y1)), 0)
    x2, y2 = min(int(np.ceil(x2)) + 1, w), min(int(np.ceil(y2)) + 1, h)
    if x2 <= x1 or y2 <= y1:
        return frame
    residual = restored.astype(np.float32) - crop_image.astype(np.float32)
    # frame->crop matrix for the region whose origin is (x1, y1) in the frame
    m = np.asarray(matrix, np.float64).copy()
    m[:, 2] += m[:, :2] @ np.array([x1, y1], np.float64)
    region = (x2 - x1, y2 - y1)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    back = cv2.warpAffine(residual, m, region, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    weight = cv2.warpAffine(feather_mask(size, feather_border(size, matrix)), m, region, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if back.ndim == 2:
        back = back[:, :, None]
    roi = frame[y1:y2, x1:x2]
    out = roi.astype(np.float32) + back * weight[:, :, None]
    roi[...] = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return frame
