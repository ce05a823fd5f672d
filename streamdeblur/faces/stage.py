"""The face stage of `process`: detection every N frames, tracking in between, aligned crops.

When every face of a detection frame is gated (estimated sharp from its freshly detected motion: the engine
passes it by), the next detection comes after 2N frames instead of N: gated crops are not restored, so only
new faces and the onset of motion wait longer (a new track's first frame is gated anyway). The pipeline
reports each frame's gating through note_gating(); only detection frames count, since between detections
a track's predicted motion decays and would keep a moving face gated (and the detector slow).

With beside=True (a live input, restored for the least delay) the detector runs on a thread of its own, on a copy
of the frame: the frame it was due on goes on at once with its tracks as predicted, and the detections correct the
tracks (Tracker.late) on the first frame after they are ready, at the latest N frames after the frame it ran on (that
frame waits for it). The frame the detector ran on is no longer held up by it (about 40 ms of yunet on this 2-core
machine, which also held up the frames behind it); the price is that the tracks take its detections a frame or two
later, and which frame depends on timing (so files keep beside=False and stay reproducible). The first detection
runs on its frame, as there is nothing to track before it.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
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

    def __init__(self, detector: FaceDetector, options: Any, crop_size: int, beside: bool = False):
        self.detector = detector
        self.options = options
        self.crop_size = crop_size
        self.tracker = Tracker()
        self.track_ids: set[int] = set()
        self._relaxed = False  # every face of the last detection frame was gated: detect every 2N frames
        self._since_detection: int | None = None  # frames since the detector last ran (or was sent a frame)
        self._fresh = False  # the frame just returned took a detection (it sets the pace, note_gating)
        self._beside = ThreadPoolExecutor(1, thread_name_prefix="detect") if beside else None
        self._pending: tuple[int, Future] | None = None  # (tracker frame, its detections) running beside

    def _detect(self, image: np.ndarray) -> tuple[list, float]:
        t0 = time.perf_counter()
        return self.detector.detect(image), time.perf_counter() - t0

    def __call__(self, frame: Frame, times: Any) -> list[tuple[Track, np.ndarray, np.ndarray]]:
        t0 = time.perf_counter()
        self._fresh = False
        # a detection N frames behind is waited for: the tracks, predicted ever further from their last detection,
        # would drift off their faces (the frames come faster than the detector: a file, a slow machine)
        if self._pending is not None and (self._pending[1].done() or
                                          self.tracker.frame + 1 - self._pending[0] >= self.options.detect_every):
            at, future = self._pending
            self._pending = None
            found, seconds = future.result()  # the detector's exception is raised here, in the main thread
            self.tracker.late(found, at)
            times.detect += seconds
            self._fresh = True
        detections = None
        every = self.options.detect_every * (2 if self._relaxed else 1)
        due = self._since_detection is None or self._since_detection + 1 >= every
        if due and self._beside is not None and self._since_detection is not None:
            if self._pending is None:  # (one at a time: a detector slower than N frames is sent the next frame)
                self._pending = (self.tracker.frame + 1, self._beside.submit(self._detect, frame.image.copy()))
                self._since_detection = 0
            else:
                self._since_detection += 1
        elif due:
            detections = self.detector.detect(frame.image)
            self._since_detection = 0
            self._fresh = True
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
        if self._fresh:
            self._relaxed = faces > 0 and gated == faces

    def close(self) -> None:
        """Stop the detector beside the frames (waits for a detection under way)."""
        if self._beside is not None:
            self._beside.shutdown(wait=True, cancel_futures=True)
