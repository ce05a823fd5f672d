"""Aligning a track's neighbouring crops onto the restored one by optical flow (temporal engines).

Each crop of a track is aligned by its own frame's landmarks, which leaves the face's non-rigid motion
(eyes, mouth, a turn of the head) between neighbours: averaging three consecutive landmark-aligned
exposures of the held-out motion groups loses 4.1 dB against the sharp centre frame. A dense flow from
the middle crop to each neighbour (OpenCV's DIS, MEDIUM preset, on the grey crops) and a backward warp
bring that loss down to 0.8 dB (on 281 of the 562 groups), so a network given the warped neighbours can take
detail from them where one given the landmark-aligned ones mostly ignores them.

The same functions align the groups of the training cache and the crops a temporal engine is given,
so the network always sees neighbours warped the way it was trained on.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

ALIGNS = ("landmarks", "flow", "centre")
"""How a temporal engine's neighbours are aligned: each by its own landmarks only ("landmarks"), also warped onto
the middle crop by optical flow ("flow"), or re-cut in the middle crop's alignment ("centre", recut_stack): the
face's motion between the exposures stays in, which is what tells a network the blur (engines/naf/NOTES.md,
session 32), at the cost of an affine warp instead of a flow."""


def recuts(engine: object) -> bool:
    """Whether an engine's neighbouring crops are to be re-cut in the middle one's alignment (recut_stack): a
    temporal engine (frames > 1) whose align is "centre"."""
    return int(getattr(engine, "frames", 1)) > 1 and getattr(engine, "align", "landmarks") == "centre"


_local = threading.local()


def _dis() -> cv2.DISOpticalFlow:
    """One DIS flow object per thread (OpenCV's are not safe to share between threads)."""
    dis = getattr(_local, "dis", None)
    if dis is None:
        dis = _local.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis


def warp_onto(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """image (H x W x 3 uint8 BGR) warped so that it lines up with reference (same shape)."""
    g_ref = cv2.cvtColor(reference, cv2.COLOR_BGR2GRAY)
    g_img = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    flow = _dis().calc(g_ref, g_img, None)  # for each reference pixel, where it is in image
    h, w = g_ref.shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def align_stack(stack: np.ndarray) -> np.ndarray:
    """H x W x 3K uint8 (K crops on the channel axis, the restored one in the middle): every other crop warped
    onto the middle one; the middle crop is returned as it came."""
    frames = stack.shape[2] // 3
    if frames == 1:
        return stack
    k = frames // 2
    middle = np.ascontiguousarray(stack[..., 3 * k:3 * k + 3])
    out = stack.copy()
    for j in range(frames):
        if j != k:
            neighbour = stack[..., 3 * j:3 * j + 3]
            if not np.array_equal(neighbour, middle):  # a padded track end repeats the middle crop: nothing to do
                out[..., 3 * j:3 * j + 3] = warp_onto(np.ascontiguousarray(neighbour), middle)
    return out


RECUT_MAX_SHIFT = 0.125
"""recut_stack leaves a neighbour in its own alignment when re-cutting would move its centre further than this
share of the crop side (16 px at 128): the motion-128 training groups' neighbours lie a median 2 crop px from the
middle face and 12 at the 99th percentile, and a network that never saw a face move further between frames is
misled by it (naf-t3m on the hamilton test clip's groups, neighbours 7-78 px away: +0.37 dB all re-cut, +0.48
with this limit; unchanged on motion-128/val; engines/naf-t3m/NOTES.md)."""


def recut_stack(stack: np.ndarray, matrices: list[np.ndarray], max_shift: float | None = RECUT_MAX_SHIFT) -> np.ndarray:
    """H x W x 3K uint8 crops and their K frame->crop matrices (2 x 3, at this crop size): every other crop warped
    into the middle crop's alignment (its crop -> its frame -> the middle crop), as if the middle face's matrix had
    cut it from its frame (border replicated); the middle crop is returned as it came, and so is a neighbour whose
    centre the re-cut would move more than max_shift x the crop side (None: no limit)."""
    frames = stack.shape[2] // 3
    k = frames // 2
    h, w = stack.shape[:2]
    middle = np.vstack([np.asarray(matrices[k], np.float64), [0, 0, 1]])
    centre = np.array([w / 2.0, h / 2.0, 1.0])
    out = stack.copy()
    for j in range(frames):
        own = np.vstack([np.asarray(matrices[j], np.float64), [0, 0, 1]])
        if j == k or np.array_equal(own, middle):  # a padded track end repeats the middle crop
            continue
        recut = middle @ np.linalg.inv(own)
        if max_shift is not None and np.hypot(*((recut @ centre)[:2] - centre[:2])) > max_shift * w:
            continue
        out[..., 3 * j:3 * j + 3] = cv2.warpAffine(np.ascontiguousarray(stack[..., 3 * j:3 * j + 3]), recut[:2],
                                                   (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out
