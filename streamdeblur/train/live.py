"""`process --adapt` on a live input (a camera, a stream, a pipe), which can be read only once.

The first seconds are recorded (io/record.py) while the released engine restores them; once recorded,
`streamdeblur adapt RECORDING` fine-tunes the engine in a process of its own (its own session: a Ctrl-C meant for
`process` does not reach it), and from the frame it is ready on the pipeline hands that person's faces to the
adapted engine (restore.Restorer.swap), the others staying with the released one. Where the input ends first,
the adaptation is stopped (SIGTERM: its run checkpoints in the cache) and the command to finish it is logged.

The recording, the adapt log and the engine folder sit side by side in <cache>/adapt/recordings.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from streamdeblur.train.adapt import AdaptOptions, RECORD_SECONDS, recording_path

log = logging.getLogger("streamdeblur")


class LiveAdapt:
    """start(source) once the input is open; see(frame) for each frame read, which returns the adapted engine's
    folder once (on the first frame after it is made), else None; close() when the input ends."""

    def __init__(self, input: str, options: AdaptOptions) -> None:
        self.input, self.options = input, options
        self.seconds = options.duration if options.duration is not None else RECORD_SECONDS
        self.recording = recording_path(input)
        self.engine = self.recording.with_name(self.recording.stem + "-engine")
        self.log_path = self.recording.with_suffix(".log")
        self.recorder: Any = None
        self.child: subprocess.Popen | None = None
        self.done = False

    def start(self, source: Any) -> None:
        from streamdeblur.io.record import Recorder

        self.recorder = Recorder(source, self.recording, self.seconds)
        log.info("recording the first %g s of the input to adapt %s to (the released engine restores them "
                 "meanwhile)", self.seconds, self.options.model)

    def command(self) -> list[str]:
        """The `streamdeblur adapt` the child runs on the recording."""
        o = self.options
        return [sys.executable, "-m", "streamdeblur", "adapt", str(self.recording), "-o", str(self.engine),
                "--model", o.model, "--steps", str(o.steps), "--threads", str(o.threads), "-q",
                *([] if o.compile else ["--no-compile"])]

    def see(self, frame: Any) -> Path | None:
        if self.done:
            return None
        if self.recorder is not None and self.recorder.open:
            try:
                if self.recorder.write(frame):
                    return None
                log.info("recorded %.1f s (%d frames) to %s; adapting %s to it in the background (minutes; log: %s)",
                         self.recorder.seconds, self.recorder.frames, self.recording, self.options.model,
                         self.log_path)
                with open(self.log_path, "wb") as out:
                    self.child = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                                  start_new_session=True)
            except Exception as exc:  # noqa: BLE001 - a full disk, say: the input is still restored, unadapted
                self.recorder.abort()
                self.done = True
                log.warning("cannot adapt to the input (%s); the released engine restores it", exc)
                return None
        if self.child is None or self.child.poll() is None:
            return None
        self.done = True
        if self.child.returncode == 0 and (self.engine / "card.json").is_file():
            log.info("the engine adapted to %s is ready (%s: `--weights %s` uses it at once next time)",
                     self.recording.name, self.engine, self.engine)
            return self.engine
        log.warning("adapting to %s failed (%s); the released engine restores the rest", self.recording.name,
                    last_line(self.log_path) or f"exit {self.child.returncode}")
        return None

    def close(self) -> None:
        """The input ended (or was stopped): a recording in progress is kept as far as it got; an adaptation still
        running is stopped, and the command that finishes it is logged."""
        if self.recorder is not None and self.recorder.open:
            self.recorder.close()
            if self.recorder.frames:
                log.info("the input ended after %.1f s of the %g to record: `streamdeblur adapt %s -o DIR` adapts to "
                         "what was recorded", self.recorder.seconds, self.seconds, self.recording)
        if self.child is not None and self.child.poll() is None:
            os.killpg(self.child.pid, signal.SIGTERM)  # its trainer checkpoints, then exits
            try:
                self.child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.child.pid, signal.SIGKILL)
                self.child.wait()
            log.info("the input ended before the engine was adapted: `streamdeblur adapt %s -o %s` finishes it "
                     "(from its checkpoint in the cache)", self.recording, self.engine)


def last_line(path: Path) -> str:
    """The last non-empty line of a text file ('' when there is none)."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""
