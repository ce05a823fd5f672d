"""Tracking: detections -> tracks with stable ids, IoU matching + constant-velocity prediction,
short gaps bridged, boxes and landmarks smoothed so crops do not jitter.

Matching is greedy by IoU (best pair first, above iou_threshold): faces rarely overlap, so the
optimal assignment (Hungarian) would pick the same pairs, and scipy is not a dependency. Tracks
and detections left over are then matched greedily by centre distance (below max_shift face
sizes, similar size): a shaking camera with detection every few frames moves a face further
than IoU can follow.
Smoothing is a One-Euro filter (Casiez et al. 2012), as face tools use against landmark jitter:
an exponential filter whose cut-off rises with the speed, so a still face is smoothed hard (no
jitter) while a moving one follows with little lag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from streamdeblur.faces.detection import Detection


@dataclass(frozen=True)
class Track:
    """A tracked face at one frame: smoothed box (x1,y1,x2,y2) and landmarks (5,2), float32."""

    track_id: int
    box: np.ndarray
    landmarks: np.ndarray
    score: float
    detected: bool  # a detection matched this frame (False: predicted through a gap or between detections)
    age: int  # frames since the track started


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4), xyxy."""
    a = a[:, None, :]
    b = b[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def greedy_match(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """(row, col) pairs taken best IoU first, each row and column once, IoU >= threshold."""
    pairs = []
    if iou.size == 0:
        return pairs
    order = np.argsort(-iou, axis=None)
    used_r, used_c = set(), set()
    for flat in order:
        r, c = divmod(int(flat), iou.shape[1])
        if iou[r, c] < threshold:
            break
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        pairs.append((r, c))
    return pairs


def shift_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Centre distance of boxes a (N, 4) to boxes b (M, 4) in units of a's size; inf if sizes differ > 1.5x."""
    ca = (a[:, :2] + a[:, 2:]) / 2
    cb = (b[:, :2] + b[:, 2:]) / 2
    sa = np.sqrt(np.prod(np.maximum(a[:, 2:] - a[:, :2], 1e-6), axis=1))
    sb = np.sqrt(np.prod(np.maximum(b[:, 2:] - b[:, :2], 1e-6), axis=1))
    dist = np.linalg.norm(ca[:, None] - cb[None], axis=2) / sa[:, None]
    ratio = sb[None, :] / sa[:, None]
    return np.where((ratio > 1 / 1.5) & (ratio < 1.5), dist, np.inf)


class OneEuroFilter:
    """One-Euro filter over a vector of (x, y) pairs, one sample per frame; speed in face sizes per frame."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 0.05) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self.value: np.ndarray | None = None
        self.velocity = np.zeros(2)

    @staticmethod
    def _alpha(cutoff: float) -> float:
        """Smoothing factor of an exponential filter with this cut-off (cycles per frame)."""
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau)

    def __call__(self, x: np.ndarray, scale: float) -> np.ndarray:
        """Filter one sample; scale (the face size in pixels) normalises the speed."""
        if self.value is None:
            self.value = x.astype(np.float64)
            return self.value
        step = (x - self.value).reshape(-1, 2).mean(0) / max(scale, 1.0)  # per-point noise averages out
        a_d = self._alpha(self.d_cutoff)
        self.velocity = a_d * step + (1 - a_d) * self.velocity  # signed, as in One-Euro: noise cancels
        speed = float(np.hypot(*self.velocity))
        a = self._alpha(self.min_cutoff + self.beta * speed)
        self.value = a * x + (1 - a) * self.value
        return self.value


class _TrackState:
    """One track's raw motion model (last detection + velocity) and its output filter."""

    def __init__(self, track_id: int, det: Detection, frame: int, min_cutoff: float, beta: float) -> None:
        self.track_id = track_id
        self.box = det.box.astype(np.float64)  # at the last detection
        self.landmarks = det.landmarks.astype(np.float64)
        self.velocity = np.zeros(4)  # box coordinates per frame
        self.score = float(det.score)
        self.last_frame = frame
        self.first_frame = frame
        self.hits = 1
        self.filter = OneEuroFilter(min_cutoff, beta) if min_cutoff > 0 else None

    def predict(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Box and landmarks extrapolated to frame at constant velocity (landmarks follow the box)."""
        box = self.box + self.velocity * (frame - self.last_frame)
        return box, _move_points(self.landmarks, self.box, box)

    def correct(self, det: Detection, frame: int) -> None:
        """Take a matched detection: update the velocity estimate and the last position."""
        box = det.box.astype(np.float64)
        gap = max(frame - self.last_frame, 1)
        measured = (box - self.box) / gap
        self.velocity = measured if self.hits == 1 else 0.5 * measured + 0.5 * self.velocity
        self.box = box
        self.landmarks = det.landmarks.astype(np.float64)
        self.score = float(det.score)
        self.last_frame = frame
        self.hits += 1

    def output(self, box: np.ndarray, landmarks: np.ndarray, frame: int, detected: bool) -> Track:
        """The smoothed Track for this frame."""
        if self.filter is not None:
            size = math.sqrt(max((box[2] - box[0]) * (box[3] - box[1]), 1.0))
            values = self.filter(np.concatenate([box, landmarks.reshape(-1)]), size)
            box, landmarks = values[:4], values[4:].reshape(5, 2)
        return Track(self.track_id, box.astype(np.float32), landmarks.astype(np.float32), self.score,
                     detected, frame - self.first_frame)


def _move_points(points: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Points carried from box old to box new (translation and per-axis scale of the boxes)."""
    old_size = np.maximum(old[2:] - old[:2], 1e-6)
    scale = (new[2:] - new[:2]) / old_size
    return (points - old[:2]) * scale + new[:2]


class Tracker:
    """Feed update() once per frame, with the frame's detections or None on frames not detected.

    A track unmatched on a detection frame is predicted (keeps its id) until more than max_gap
    frames have passed since its last detection, then ended; frames without detection (None)
    never end a track. smoothing in [0, 1): 0 passes the motion model through unfiltered; higher
    values smooth a still face harder (the One-Euro minimum cut-off is set so a still face's
    exponential weight on the newest sample is 1 - smoothing). beta: how fast the cut-off rises
    with speed. max_shift: the centre-distance gate of the second matching pass, in face sizes
    (0 turns it off). min_hits: detections needed before a track is reported (a tentative track that
    misses a detection frame is dropped).
    """

    def __init__(self, iou_threshold: float = 0.3, max_gap: int = 10, smoothing: float = 0.6,
                 min_hits: int = 1, beta: float = 10.0, max_shift: float = 0.75) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.iou_threshold = iou_threshold
        self.max_shift = max_shift
        self.max_gap = max_gap
        self.min_hits = max(1, min_hits)
        self.beta = beta
        alpha = 1.0 - smoothing
        # a = 1 / (1 + 1 / (2 pi fc))  <=>  fc = a / (2 pi (1 - a))
        self.min_cutoff = 0.0 if smoothing == 0 else alpha / (2 * math.pi * (1 - alpha))
        self.frame = -1
        self._next_id = 0
        self._tracks: list[_TrackState] = []

    def reset(self) -> None:
        """End every track (e.g. at a scene cut); ids keep increasing."""
        self._tracks = []

    def update(self, detections: list[Detection] | None) -> list[Track]:
        """Advance one frame. detections=None means 'not run on this frame': tracks are predicted."""
        self.frame += 1
        if detections is not None:
            self._observe(detections, self.frame)
        return self._output()

    def late(self, detections: list[Detection], frame: int) -> None:
        """Take detections made on an earlier frame (`frame`: the value of self.frame when that frame was updated),
        as a detector running beside the frames delivers them: matched against the tracks as predicted at that
        frame, which each track's motion then carries to the frames since. Call before update() of the next
        frame; tracks a late detection starts are reported from there on, their age counted from `frame`."""
        if not 0 <= frame <= self.frame:
            raise ValueError(f"a late detection's frame must be one already updated (0..{self.frame}), got {frame}")
        self._observe(detections, frame)

    def _observe(self, detections: list[Detection], frame: int) -> None:
        """Match one frame's detections to the tracks predicted at that frame, correct, end and start tracks."""
        predicted = [t.predict(frame)[0] for t in self._tracks]
        matched: dict[int, int] = {}  # track index -> detection index
        if self._tracks and detections:
            boxes = np.stack(predicted)
            det_boxes = np.stack([d.box for d in detections]).astype(np.float64)
            matched = dict(greedy_match(iou_matrix(boxes, det_boxes), self.iou_threshold))
            rows = [i for i in range(len(boxes)) if i not in matched]
            cols = [j for j in range(len(det_boxes)) if j not in matched.values()]
            if rows and cols and self.max_shift > 0:
                closeness = -shift_matrix(boxes[rows], det_boxes[cols])
                for r, c in greedy_match(closeness, -self.max_shift):
                    matched[rows[r]] = cols[c]
        kept = []
        for i, state in enumerate(self._tracks):
            if i in matched:
                state.correct(detections[matched[i]], frame)
            elif state.hits < self.min_hits or frame - state.last_frame > self.max_gap:
                continue  # ended
            kept.append(state)
        used = set(matched.values())
        for j, det in enumerate(detections):
            if j not in used:
                kept.append(_TrackState(self._next_id, det, frame, self.min_cutoff, self.beta))
                self._next_id += 1
        self._tracks = kept

    def _output(self) -> list[Track]:
        """Every reported track at the current frame: detected ones where detected, predicted otherwise."""
        frame = self.frame
        predicted = [t.predict(frame) for t in self._tracks]
        out = []
        for state, (box, landmarks) in zip(self._tracks, predicted):
            detected = state.last_frame == frame
            if detected:
                box, landmarks = state.box, state.landmarks
            track = state.output(box, landmarks, frame, detected)
            if state.hits >= self.min_hits:
                out.append(track)
        return out
