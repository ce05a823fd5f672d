"""Evaluation metrics: pure functions on numpy arrays, no I/O.

Conventions (stated in every report):
- Images are HxWx3 uint8 BGR (OpenCV order). PSNR and SSIM use data range 255.
- "rgb": all three colour channels, values in [0, 255] (channel order does not change the number).
- "y": BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B, full range [0, 255], kept as float (no rounding).
- SSIM: Wang et al. 2004, 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, the local maps
  cropped to the 'valid' region (5 px border dropped), mean over the map (and over channels for rgb).
- Landmark error (NME): mean point-to-point distance normalised by the diagonal of the sharp
  (reference) face's box; CED, AUC up to 0.08 (normalised to [0, 1]) and failure rate (> 0.08).
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from streamdeblur.faces.identity import unit

DATA_RANGE = 255.0
NME_LIMIT = 0.08
_Y_WEIGHTS_BGR = np.array([0.114, 0.587, 0.299])


def to_y(image: np.ndarray) -> np.ndarray:
    """BT.601 full-range luma of an HxWx3 BGR image, float64 in [0, 255]; 2-D input is returned as float."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        return image
    return image @ _Y_WEIGHTS_BGR


def _in_space(image: np.ndarray, space: str) -> np.ndarray:
    if space == "rgb":
        return np.asarray(image, dtype=np.float64)
    if space == "y":
        return to_y(image)
    raise ValueError(f"unknown colour space {space!r} (use 'rgb' or 'y')")


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if np.shape(a) != np.shape(b):
        raise ValueError(f"images differ in shape: {np.shape(a)} vs {np.shape(b)}")


def mse(a: np.ndarray, b: np.ndarray, space: str = "rgb") -> float:
    """Mean squared error between two images in the given colour space."""
    _check_pair(a, b)
    diff = _in_space(a, space) - _in_space(b, space)
    return float(np.mean(diff * diff))


def psnr(a: np.ndarray, b: np.ndarray, space: str = "rgb", data_range: float = DATA_RANGE) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical images)."""
    err = mse(a, b, space)
    if err == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range * data_range / err))


def _ssim_channel(x: np.ndarray, y: np.ndarray, data_range: float, sigma: float, win: int) -> float:
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (win, win), sigma, borderType=cv2.BORDER_REFLECT)

    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x * mu_x
    syy = blur(y * y) - mu_y * mu_y
    sxy = blur(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    smap = num / den
    pad = (win - 1) // 2
    if smap.shape[0] > 2 * pad and smap.shape[1] > 2 * pad:
        smap = smap[pad:-pad, pad:-pad]
    return float(smap.mean())


def ssim(
    a: np.ndarray, b: np.ndarray, space: str = "y", data_range: float = DATA_RANGE,
    sigma: float = 1.5, window: int = 11,
) -> float:
    """Structural similarity (Wang et al. 2004, Gaussian window); 1.0 for identical images."""
    _check_pair(a, b)
    x, y = _in_space(a, space), _in_space(b, space)
    if x.ndim == 2:
        return _ssim_channel(x, y, data_range, sigma, window)
    return float(np.mean([_ssim_channel(np.ascontiguousarray(x[..., c]), np.ascontiguousarray(y[..., c]),
                                        data_range, sigma, window) for c in range(x.shape[2])]))


def box_diagonal(box: Sequence[float]) -> float:
    """Diagonal length of an (x1, y1, x2, y2) box."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return float(np.hypot(x2 - x1, y2 - y1))


def landmark_box(points: np.ndarray) -> np.ndarray:
    """Tight (x1, y1, x2, y2) box around a set of (N, 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def nme(pred: np.ndarray, ref: np.ndarray, box: Sequence[float] | None = None) -> float:
    """Mean point-to-point landmark distance over the diagonal of box (default: the reference points' box)."""
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if pred.shape != ref.shape or pred.ndim != 2 or pred.shape[1] != 2:
        raise ValueError(f"landmarks must be two (N, 2) arrays of the same shape, got {pred.shape} and {ref.shape}")
    diag = box_diagonal(landmark_box(ref) if box is None else box)
    if diag <= 0:
        raise ValueError("the normalising box has zero size")
    return float(np.linalg.norm(pred - ref, axis=1).mean() / diag)


def ced(errors: Sequence[float], thresholds: Sequence[float] | np.ndarray) -> np.ndarray:
    """Cumulative error distribution: fraction of errors <= each threshold."""
    errors = np.asarray(errors, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if errors.size == 0:
        return np.zeros_like(thresholds)
    return (errors[None, :] <= thresholds[:, None]).mean(axis=1)


def auc(errors: Sequence[float], limit: float = NME_LIMIT) -> float:
    """Area under the CED curve from 0 to limit, divided by limit (1.0 = every error is 0).

    Computed exactly: the integral of the step CED equals mean(max(0, 1 - e / limit)).
    """
    errors = np.asarray(errors, dtype=np.float64)
    if errors.size == 0:
        return float("nan")
    return float(np.mean(np.clip(1.0 - errors / limit, 0.0, 1.0)))


def failure_rate(errors: Sequence[float], threshold: float = NME_LIMIT) -> float:
    """Fraction of errors above threshold."""
    errors = np.asarray(errors, dtype=np.float64)
    if errors.size == 0:
        return float("nan")
    return float(np.mean(errors > threshold))


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Cosine similarity of two vectors (float) or row by row of two (N, D) arrays."""
    sim = np.sum(unit(a) * unit(b), axis=-1)
    return float(sim) if np.ndim(sim) == 0 else sim


def rank1(
    queries: np.ndarray, query_labels: Sequence[object], gallery: np.ndarray, gallery_labels: Sequence[object]
) -> float:
    """Rank-1 identification rate: share of queries whose most similar gallery entry has their label."""
    queries, gallery = unit(queries), unit(gallery)
    if len(queries) == 0 or len(gallery) == 0:
        return float("nan")
    best = np.argmax(queries @ gallery.T, axis=1)
    hits = [gallery_labels[j] == label for j, label in zip(best, query_labels)]
    return float(np.mean(hits))


def landmark_motion(landmarks: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
    """Frame-to-frame displacement (N, 2) of a landmark sequence; None where either frame is missing."""
    out: list[np.ndarray | None] = []
    for prev, cur in zip(landmarks[:-1], landmarks[1:]):
        out.append(None if prev is None or cur is None else np.asarray(cur, float) - np.asarray(prev, float))
    return out


def temporal_landmark_error(
    output: Sequence[np.ndarray | None], sharp: Sequence[np.ndarray | None], diagonals: Sequence[float]
) -> float:
    """Mean over consecutive frames of |motion(output) - motion(sharp)| per point, over the sharp box diagonal.

    0 when the output's landmarks move exactly as the sharp video's do; jitter (flicker of
    landmark positions) raises it. diagonals[t] normalises the step from t to t+1. NaN if no step.
    """
    if not (len(output) == len(sharp) == len(diagonals)):
        raise ValueError("output, sharp and diagonals must have the same length")
    values = []
    for t, (mo, ms) in enumerate(zip(landmark_motion(output), landmark_motion(sharp))):
        if mo is None or ms is None:
            continue
        values.append(np.linalg.norm(mo - ms, axis=1).mean() / diagonals[t])
    return float(np.mean(values)) if values else float("nan")


def dis_flow(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Dense optical flow (OpenCV DIS, medium preset) from cur to prev: HxWx2, cur(x) ~ prev(x + flow)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    g_prev = cv2.cvtColor(prev, cv2.COLOR_BGR2GRAY) if prev.ndim == 3 else prev
    g_cur = cv2.cvtColor(cur, cv2.COLOR_BGR2GRAY) if cur.ndim == 3 else cur
    return dis.calc(g_cur, g_prev, None)


def warp_back(prev: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Warp prev onto cur's grid with a flow from dis_flow(prev, cur)."""
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(prev, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def warped_change(prev: np.ndarray, cur: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Signed luma change Y(cur) - Y(warp(prev)) (HxW float64, [0, 255] units), prev warped onto cur by a flow from
    dis_flow(prev, cur): what the flow does not explain."""
    _check_pair(prev, cur)
    return to_y(cur) - to_y(warp_back(prev, flow))


def masked_mean(values: np.ndarray, mask: np.ndarray | None) -> float:
    """Mean over a boolean HxW mask (all of it without one); NaN for an empty mask."""
    if mask is None:
        return float(values.mean())
    return float(values[mask].mean()) if mask.any() else float("nan")


def warped_difference(
    prev: np.ndarray, cur: np.ndarray, flow: np.ndarray | None = None, mask: np.ndarray | None = None
) -> float:
    """Mean absolute luma difference between cur and prev warped onto it (flicker), in [0, 255] units.

    flow: from dis_flow (by default computed on prev/cur themselves; pass the sharp video's flow to
    measure every method against the same motion). mask: boolean HxW region to average over.
    """
    _check_pair(prev, cur)
    if flow is None:
        flow = dis_flow(prev, cur)
    return masked_mean(np.abs(warped_change(prev, cur, flow)), mask)


def excess_flicker(prev: np.ndarray, cur: np.ndarray, prev_ref: np.ndarray, cur_ref: np.ndarray, flow: np.ndarray,
                   mask: np.ndarray | None = None) -> float:
    """Mean absolute luma of the frame-to-frame change (cur - warp(prev)) that the reference video does not have
    (cur_ref - warp(prev_ref)), both warped with the same flow: the flicker of the *error* against the sharp video,
    in [0, 255] units. 0 for the sharp video itself, whatever the flow's own error; sharpening that follows the truth
    raises warped_difference (detail moves, and the flow misplaces it) but not this."""
    return masked_mean(np.abs(warped_change(prev, cur, flow) - warped_change(prev_ref, cur_ref, flow)), mask)


def rank1_leave_one_out(outputs: np.ndarray, references: np.ndarray, labels: Sequence[object]) -> float:
    """Rank-1 identification of each output face against a gallery of per-identity mean references.

    outputs[i] is the embedding of a processed face, references[i] that of its sharp face, labels[i]
    its identity. The gallery holds one entry per identity, the mean of its references, except that
    the query's own identity leaves out references[i] (if it has other faces), so a face is never
    matched against its own sharp frame. NaN with fewer than two identities.
    """
    outputs, references = unit(outputs), unit(references)
    names = sorted(set(labels), key=str)
    if len(names) < 2 or len(outputs) == 0:
        return float("nan")
    index = {name: k for k, name in enumerate(names)}
    ids = np.array([index[label] for label in labels])
    sums = np.zeros((len(names), references.shape[1]))
    np.add.at(sums, ids, references)
    counts = np.bincount(ids, minlength=len(names)).astype(np.float64)
    hits = []
    for i, own in enumerate(ids):
        gallery = sums / counts[:, None]
        if counts[own] > 1:
            gallery[own] = (sums[own] - references[i]) / (counts[own] - 1)
        hits.append(int(np.argmax(unit(gallery) @ outputs[i])) == own)
    return float(np.mean(hits))
