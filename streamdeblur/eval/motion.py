"""A pair's face motion between the exposures of its multi-frame group, in crop pixels, from the recorded
frame->crop alignments: what `process` measures from its tracks as a face's blur estimate (restore.blur_estimate),
for `eval`'s gating (run.engine_method) and its study of blur estimates (gating.py)."""

from __future__ import annotations

from typing import Any

import numpy as np


def matrix_motion(m0: list, m1: list, size: int) -> float:
    """How far the crop centre moved, in crop pixels, between two frame->crop alignments (and scale change)."""
    a, b = np.asarray(m0, np.float64), np.asarray(m1, np.float64)
    centre = np.array([size / 2, size / 2])
    inv = lambda m: np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]  # noqa: E731 - crop -> frame
    pa = inv(a)[:, :2] @ centre + inv(a)[:, 2]
    pb = inv(b)[:, :2] @ centre + inv(b)[:, 2]
    scale = float(np.sqrt(abs(np.linalg.det(a[:, :2]))))
    grow = abs(float(np.sqrt(abs(np.linalg.det(b[:, :2])))) / scale - 1.0) * size / 2
    return float(np.hypot(*(pb - pa)) * scale + grow)


def track_motion(sample: Any) -> float | None:
    """What `process` would measure as this face's blur estimate: its track's motion from the previous exposure
    of its multi-frame group to this one (the centre), in crop pixels; None for a pair without a group."""
    mats = sample.meta.get("group_matrices") or []
    k = len(mats) // 2
    if k < 1:
        return None
    return matrix_motion(mats[k - 1], mats[k], sample.blurred.shape[0])
