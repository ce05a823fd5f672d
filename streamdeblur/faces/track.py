"""Tracking: detections -> tracks with stable ids, IoU matching + constant-velocity prediction,
short gaps bridged, boxes and landmarks smoothed so crops do not jitter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamdeblur.faces.detect import Detection


@dataclass(frozen=True)
class Track:
    """A tracked face at one frame: smoothed box (x1,y1,x2,y2) and landmarks (5,2), float32."""

    track_id: int
    box: np.ndarray
    landmarks: np.ndarray
    score: float
    detected: bool  # a detection matched this frame (False: predicted through a gap or between detections)
    age: int  # frames since the track started


class Tracker:
    """Feed update() once per frame, with the frame's detections or None on frames not detected."""

    def __init__(self, iou_threshold: float = 0.3, max_gap: int = 10, smoothing: float = 0.6,
                 min_hits: int = 1) -> None:
        raise NotImplementedError

    def update(self, detections: list[Detection] | None) -> list[Track]:
        """Advance one frame. detections=None means 'not run on this frame': tracks are predicted."""
        raise NotImplementedError
