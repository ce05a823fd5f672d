"""The face stage of `process`: detection every N frames, tracking in between, aligned crops.

When every face of a detection frame is gated (estimated sharp from its freshly detected motion: the engine
passes it by), the next detection comes after 2N frames instead of N: gated crops are not restored, so only
new faces and the onset of motion wait longer (a new track's first frame is gated anyway). The pipeline
reports each frame's gating through note_gating(); only detection frames count, since between detections
a track's predicted motion decays and would keep a moving face gated (and the detector slow).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from streamdeblur.faces.crops import extract_crop, face_matrix
from streamdeblur.faces.detection import FaceDetector
from streamdeblur.faces.track import Track, Tracker
from streamdeblur.io.source import Frame


def select_tracks(tracks: list[Track], min_face_size: int, max_faces: int | None) -> list[Track]:
    """Tracks big enough to process, largest first, at most max_faces of them."""
    def size(t: Track) -> float:
        return float(min(t.box[2] - t.box[0], t.box[3] - t.box[1]))

    chosen = sorted((t for t in tracks if size(t) >= min_face_size), key=size, reverse=True)
    return chosen if max_faces is None else chosen[:max_faces]


class FaceStage:
    """Detection every N frames + tracking + crop extraction for one stream of frames."""

    def __init__(self, detector: FaceDetector, options: Any, crop_size: int):
        self.detector = detector
        self.options = options
        self.crop_size = crop_size
        self.tracker = Tracker()
        self.track_ids: set[int] = set()
        self._relaxed = False  # every face of the last detection frame was gated: detect every 2N frames
        self._since_detection: int | None = None  # frames since the detector last ran

    def __call__(self, frame: Frame, times: Any) -> list[tuple[Track, np.ndarray, np.ndarray]]:
        t0 = time.perf_counter()
        detections = None
        every = self.options.detect_every * (2 if self._relaxed else 1)
        if self._since_detection is None or self._since_detection + 1 >= every:
            detections = self.detector.detect(frame.image)
            self._since_detection = 0
        else:
            self._since_detection += 1
        tracks = select_tracks(self.tracker.update(detections), self.options.min_face_size, self.options.max_faces)
        t1 = time.perf_counter()
        faces = []
        for track in tracks:
            # the crop geometry make-pairs trains on: landmark-aligned, box-based if landmarks look wrong
            matrix = face_matrix(track.box, track.landmarks, self.crop_size)
            faces.append((track, matrix, extract_crop(frame.image, matrix, self.crop_size)))
            self.track_ids.add(track.track_id)
        times.detect += t1 - t0
        times.crop += time.perf_counter() - t1
        return faces

    def note_gating(self, faces: int, gated: int) -> None:
        """How many of the frame just returned's faces bypassed the engine (a detection frame sets the pace)."""
        if self._since_detection == 0:
            self._relaxed = faces > 0 and gated == faces
