"""The pipeline's reader and writer threads and the bounded queues between them and the main thread."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Iterator

from streamdeblur.io.source import Frame, VideoSource

END = object()  # the last item of a queue


class Reader(threading.Thread):
    """Iterates the source into a bounded queue; forwards an exception as its last item."""

    def __init__(self, source: VideoSource, out: queue.Queue, stop: threading.Event, times: Any):
        super().__init__(name="streamdeblur-reader", daemon=True)
        self.source, self.out, self.stop, self.times = source, out, stop, times

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        try:
            frames = iter(self.source)
            while not self.stop.is_set():
                t0 = time.perf_counter()
                frame = next(frames, None)
                t1 = time.perf_counter()
                self.times.decode += t1 - t0
                if frame is not None:
                    frame.read_at = t1
                if frame is None or not self._put(frame):
                    break
        except BaseException as exc:  # noqa: BLE001 - forwarded to the main thread
            self._put(exc)
        finally:
            self._put(END)


class Writer(threading.Thread):
    """Takes (image, pts, audio) items from a bounded queue into the sink."""

    def __init__(self, sink: Any, inbox: queue.Queue, times: Any):
        super().__init__(name="streamdeblur-writer", daemon=True)
        self.sink, self.inbox, self.times = sink, inbox, times
        self.error: BaseException | None = None

    def run(self) -> None:
        while True:
            item = self.inbox.get()
            if item is END:
                return
            if self.error is not None:
                continue  # drain so the producer never blocks
            try:
                t0 = time.perf_counter()
                self.sink.write(*item)
                self.times.encode += time.perf_counter() - t0
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                self.error = exc


IDLE_POLL = 0.005  # seconds


def queue_items(inbox: queue.Queue, stopped: Callable[[], bool] = lambda: False,
                idle: Callable[[], None] | None = None) -> Iterator[Frame]:
    """Frames from the reader's queue until it ends or stopped() says so (checked while waiting too, so a stalled
    camera or stream still stops); re-raises the reader's exception. idle() is called every IDLE_POLL seconds
    while the queue is empty (a live input: the frames restored meanwhile leave without waiting for the next)."""
    while not stopped():
        try:
            item = inbox.get(timeout=0.1 if idle is None else IDLE_POLL)
        except queue.Empty:
            if idle is not None:
                idle()
            continue
        if item is END:
            return
        if isinstance(item, BaseException):
            raise item
        yield item
