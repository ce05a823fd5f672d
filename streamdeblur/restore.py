"""The deblur stage of `process`: face crops in, restored frames out, in order.

- Batching: crops of several faces and frames go through the engine together (--batch-size).
- Temporal engines (frames K > 1) see the K consecutive aligned crops of one track around the face
  being restored, each aligned by its own frame's landmarks, stacked on the channel axis. A frame
  leaves once the frames K//2 after it have arrived, so the output lags the input by K//2 frames;
  at a track's start, end or gap a missing neighbour is the track's crop nearest to it on the way to
  the restored frame (repetition). Single-frame engines (K = 1) add no lag. An engine whose model aligns
  "centre" (ModelSpec.align) gets the neighbours re-cut in the restored face's alignment (faces.flow.recut_stack).
- Gating: each face gets a blur estimate (its track's motion in crop pixels per frame, see
  blur_estimate); a face estimated sharp (below the gate level) bypasses the engine and its frame
  is left bit for bit unchanged, saving compute and sparing sharp faces. A temporal engine still
  sees gated crops as neighbours.
- Overlap (in_flight > 0): the engine runs in a worker thread on one batch while the caller's thread
  detects, tracks and crops the next frames (the engines release the GIL), and a batch's frames leave
  once it is back, in order; in_flight = 0 runs the engine in the caller's thread.
- Eager (for a live input): the ready faces go to the engine whenever it has nothing in flight, so a frame waits
  for no other frames while the engine keeps up (the least latency), and batches grow only as it falls behind.
  Otherwise a batch waits to hold batch_size crops or max_latency frames (the most throughput, for files).
- Paste-back adds the engine's residual (restored - crop) under a feathered mask.
- Routing: an engine with `routes` and a `matcher` (backends.PersonalEngine: an engine adapted to one person)
  restores the tracks whose faces the matcher says are its person with routes[0], the others with routes[1]
  (faces/person.py); each batch is split by route, and each route has its own gate level (an adapted engine
  has none: it gains on its person's blurred faces of still tracks too, and its settle range spares the sharp).

The per-track log (frame, blur estimate, gated) feeds the JSON summary and the --report plots.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from streamdeblur.backends import Engine
from streamdeblur.faces.crops import paste_back
from streamdeblur.faces.flow import recut_stack, recuts
from streamdeblur.io.source import Frame


@dataclass
class Face:
    """One face of one frame on its way through the stage."""

    track_id: int
    matrix: np.ndarray
    crop: np.ndarray
    box: np.ndarray
    landmarks: np.ndarray | None = None  # 5 points in frame pixels (None: box only)
    blur: float = 0.0
    route: int = 0  # which of the engine's routes restores it (0: the engine itself)
    gated: bool = False
    restored: np.ndarray | None = None
    sent: bool = False  # in a batch given to the engine
    pasted: bool = False  # its restored crop is in the frame


@dataclass
class Held:
    """A frame waiting for its faces to be restored."""

    frame: Frame
    original: np.ndarray | None
    faces: list[Face]
    done: bool = False


def face_side(box: np.ndarray) -> float:
    """A face box's longer side (frame pixels)."""
    return float(max(box[2] - box[0], box[3] - box[1]))


def blur_estimate(prev_box: np.ndarray | None, box: np.ndarray, crop_size: int, margin: float = 0.4) -> float:
    """A face's motion blur estimate: how far its (smoothed) track moved since the previous frame, in pixels of
    the engine's crop (centre shift plus size change). Motion blur is motion during the exposure, and the
    track's motion costs nothing to measure; 0 at a track's first frame."""
    if prev_box is None:
        return 0.0
    side = max(face_side(box), 1.0) * (1.0 + margin)
    scale = crop_size / side
    centre = np.hypot((box[0] + box[2] - prev_box[0] - prev_box[2]) / 2, (box[1] + box[3] - prev_box[1] - prev_box[3]) / 2)
    grow = abs((box[2] - box[0]) - (prev_box[2] - prev_box[0])) / 2
    return float((centre + grow) * scale)


@dataclass
class TrackLog:
    """What happened to one track: per frame its blur estimate and whether it was gated."""

    frames: list[int] = field(default_factory=list)
    blur: list[float] = field(default_factory=list)
    gated: list[bool] = field(default_factory=list)
    size: list[float] = field(default_factory=list)  # the face box's longer side, frame pixels
    person: bool | None = None  # routed engines: the matcher's last word on this track (None: no routing)

    def summary(self) -> dict[str, Any]:
        b = np.asarray(self.blur, np.float64)
        pct = np.percentile(b, [10, 50, 90]).round(3).tolist() if len(b) else [0.0, 0.0, 0.0]
        out = {"frames": len(self.frames), "first_frame": self.frames[0] if self.frames else None,
               "blur_p10_p50_p90": pct, "blur_max": round(float(b.max()), 3) if len(b) else 0.0,
               "gated_share": round(float(np.mean(self.gated)), 4) if self.gated else 0.0,
               "face_px_p50": round(float(np.median(self.size)), 1) if self.size else 0.0}
        if self.person is not None:
            out["person"] = self.person  # restored by the engine adapted to its person (else by the base engine)
        return out


class Restorer:
    """Runs faces through the engine in batches and pastes them back; see the module docstring."""

    def __init__(self, engine: Engine, batch_size: int = 8, max_latency: int = 4,
                 gate: float | None | Sequence[float | None] = None, times: Any = None, in_flight: int = 0,
                 eager: bool = False) -> None:
        self._use(engine, gate)
        self.frames = int(getattr(engine, "frames", 1))
        self.lag = self.frames // 2
        self.batch_size, self.max_latency, self.eager = batch_size, max_latency, eager
        self.times = times
        self.in_flight = max(0, int(in_flight))  # batches the engine may still be working on when push returns
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="engine") if self.in_flight else None
        self.batches: deque[tuple[list[Face], Future]] = deque()  # sent to the worker, oldest first
        self.held: deque[Held] = deque()
        # track -> frame index -> (crop, its frame->crop matrix)
        self.history: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
        self.last_box: dict[int, tuple[int, np.ndarray]] = {}  # track -> (frame index, box)
        self.logs: dict[int, TrackLog] = defaultdict(TrackLog)
        self.latest = -1

    def push(self, held: Held) -> list[Held]:
        """Add the next frame (its faces cropped); returns the frames that are finished, in order."""
        index = held.frame.index
        self.latest = index
        for face in held.faces:
            last = self.last_box.get(face.track_id)
            face.blur = blur_estimate(last[1] if last is not None and last[0] == index - 1 else None, face.box,
                                      face.crop.shape[0])
            self.last_box[face.track_id] = (index, face.box)
            self.history[face.track_id][index] = (face.crop, face.matrix)
            log = self.logs[face.track_id]
            if self.matcher is not None:
                t0 = time.perf_counter()
                log.person = self.matcher(face.track_id, held.frame.image, face.box, face.landmarks)
                face.route = 0 if log.person else 1
                if self.times is not None:
                    self.times.identify += time.perf_counter() - t0
            level = self.gates[face.route]
            face.gated = level is not None and face.blur < level
            log.frames.append(index)
            log.blur.append(round(face.blur, 4))
            log.gated.append(face.gated)
            log.size.append(face_side(face.box))
        self.held.append(held)
        self._dispatch()
        return self._collect(wait=len(self.batches) > self.in_flight)

    def poll(self) -> list[Held]:
        """While the caller waits for the next frame: the frames whose batches are back (pasted), in order; eager,
        the faces still waiting go to the engine if it has become idle."""
        if self.eager:
            self._dispatch()
        return self._collect(wait=False)

    def _dispatch(self) -> None:
        """Send the faces of the frames ready (those with their K//2 later neighbours in) as one batch once it is
        full, once a frame has waited max_latency frames, or (eager) once the engine is idle."""
        ready = [h for h in self.held if h.frame.index <= self.latest - self.lag]
        waiting = sum(1 for h in ready for f in h.faces if not f.gated and not f.sent)
        unsent = sum(1 for h in self.held if any(not f.gated and not f.sent for f in h.faces))
        idle = self.eager and waiting and all(future.done() for _, future in self.batches)
        if idle or waiting >= self.batch_size or unsent >= self.max_latency + self.lag:
            self._send(ready)
        for h in ready:  # a frame whose faces are all gated or sent (or that has none) waits only for its batch
            h.done = h.done or all(f.gated or f.sent for f in h.faces)

    def finish(self) -> list[Held]:
        """The input ended (or was interrupted): every frame held, restored, in order."""
        try:
            self._send(list(self.held))
            return self._collect(wait=True, keep=0)
        finally:
            self.close()

    def swap(self, engine: Engine, gate: float | None | Sequence[float | None] = None) -> None:
        """Restore the faces pushed from now on with `engine` (its routes, matcher and gate levels): `process
        --adapt` on a live input hands over to the engine adapted meanwhile. It must take the same crops (size and
        frame count). The faces already pushed go to the engine they were routed for first: a temporal engine's
        last frames before the swap see their later neighbours repeated, as at a track's end."""
        if int(getattr(engine, "frames", 1)) != self.frames or engine.input_size != self.engine.input_size:
            raise ValueError(f"cannot swap {self.engine.name} for {engine.name}: they take other crops")
        self._send(list(self.held))
        self._use(engine, gate)

    def _use(self, engine: Engine, gate: float | None | Sequence[float | None]) -> None:
        """Restore with `engine`: its routes and matcher (backends.PersonalEngine), one gate level per route
        (pipeline.gate_levels; a single level gates every route), and its neighbours re-cut where it aligns so."""
        self.engine = engine
        self.routes = tuple(getattr(engine, "routes", None) or (engine,))
        self.matcher = getattr(engine, "matcher", None)
        self.gates = tuple(gate) if isinstance(gate, (tuple, list)) else (gate,) * len(self.routes)
        self.recut = recuts(engine)

    def close(self) -> None:
        """Stop the engine's worker thread (waits for the batch it is running)."""
        if self.worker is not None:
            self.worker.shutdown(wait=True)
            self.worker = None

    def _stack(self, track_id: int, index: int) -> np.ndarray:
        """The K crops of a track around a frame, nearest crop of the track where one is missing."""
        crops = self.history[track_id]
        out = []
        for q in range(index - self.lag, index + self.lag + 1):
            step = 1 if q < index else -1
            while q not in crops:
                q += step
            out.append(crops[q])
        if self.frames == 1:
            return out[0][0]
        stack = np.concatenate([crop for crop, _ in out], axis=2)
        return recut_stack(stack, [matrix for _, matrix in out]) if self.recut else stack

    @staticmethod
    def _run(engine: Engine, inputs: np.ndarray) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        out = engine(inputs)
        return out, time.perf_counter() - t0

    def _send(self, ready: list[Held]) -> None:
        """The ready frames' faces that still need the engine go to it as one batch (one per route). Nothing is
        marked sent before its batch is queued (or, without a worker, run), so an interrupted call loses no face."""
        todo = [(h, f) for h in ready for f in h.faces if not f.gated and not f.sent]
        for route in sorted({f.route for _, f in todo}):
            mine = [(h, f) for h, f in todo if f.route == route]
            inputs = np.stack([self._stack(f.track_id, h.frame.index) for h, f in mine])
            future: Future = Future()
            engine = self.routes[route]  # now: a swap before the worker runs the batch leaves it to this engine
            if self.worker is not None:
                future = self.worker.submit(self._run, engine, inputs)
            else:
                future.set_result(self._run(engine, inputs))
            self.batches.append(([f for _, f in mine], future))
            for _, f in mine:
                f.sent = True
        for h in ready:
            h.done = True  # every face it has is now gated or sent

    def _collect(self, wait: bool, keep: int | None = None) -> list[Held]:
        """Take in the batches the engine has finished (waiting for them when `wait`, until no more than `keep`,
        default in_flight, are out); paste back and return the frames at the front whose faces are all back."""
        keep = self.in_flight if keep is None else keep
        while self.batches and (self.batches[0][1].done() or wait):
            faces, future = self.batches[0]
            restored, seconds = future.result()  # an engine's exception is raised here, in the caller's thread
            for face, out in zip(faces, restored):
                face.restored = out
            self.batches.popleft()
            if self.times is not None:
                self.times.engine += seconds
            wait = wait and len(self.batches) > keep
        t1 = time.perf_counter()
        out = []
        while self.held and self.held[0].done and all(f.gated or f.restored is not None for f in self.held[0].faces):
            h = self.held[0]
            for face in h.faces:
                if face.gated:
                    face.restored = face.crop  # bypassed: the frame stays bit for bit as it was
                elif not face.pasted:
                    paste_back(h.frame.image, face.crop, face.restored, face.matrix)
                    face.pasted = True
            out.append(self.held.popleft())
        if self.times is not None:
            self.times.paste += time.perf_counter() - t1
        oldest = self.held[0].frame.index if self.held else self.latest + 1
        for crops in self.history.values():  # keep what the frames still held may need as neighbours
            for q in [q for q in crops if q < oldest - self.lag]:
                del crops[q]
        return out


def plot_track_blur(logs: dict[int, TrackLog], gates: Sequence[float | None], path: Path) -> Path:
    """Each track's blur estimate over time (frames), each route's gate level as a line (one route: the engine's;
    an adapted engine's two: its person's tracks, then the others, which the released engine restores): the per-face
    blur report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3), dpi=110)
    for track_id, log in sorted(logs.items()):
        ax.plot(log.frames, log.blur, lw=1, label=f"track {track_id}")
        gated = [(f, b) for f, b, g in zip(log.frames, log.blur, log.gated) if g]
        if gated:
            ax.scatter(*zip(*gated), s=4, color="grey")
    names = ("its person's tracks", "the other tracks") if len(gates) == 2 else ("",) * len(gates)
    for gate, name, style in zip(gates, names, ("--", ":")):
        if gate:
            ax.axhline(gate, color="red", lw=0.8, ls=style,
                       label=f"gate {gate:g}" + (f", {name}" if name else "") + " (grey dots: bypassed)")
    ax.set_xlabel("frame")
    ax.set_ylabel("blur estimate (crop px/frame)")
    ax.legend(fontsize=7, ncol=3)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
