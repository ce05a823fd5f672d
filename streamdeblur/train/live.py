"""`process --adapt` on a live input (a camera, a stream, a pipe), which can be read only once.

The first seconds are recorded (io/record.py) while the released engine restores them; once recorded,
`streamdeblur adapt RECORDING` fine-tunes the engine in a process of its own (its own session: a Ctrl-C meant for
`process` does not reach it), and from the frame it is ready on the pipeline hands that person's faces to the
adapted engine (restore.Restorer.swap), the others staying with the released one. Where the input ends first,
the adaptation is stopped (SIGTERM: its run checkpoints in the cache) and the command to finish it is logged.
The second time a person is adapted to this way, the engine of the first time is used instead of adapting again
(earlier_engine: the same model and released weights, and the recording's person by the card's face embedding).

The recording, the adapt log and the engine folder sit side by side in <cache>/adapt/recordings.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

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
        """What the child runs: `child` (this module) on the recording, which finds an engine adapted before to the
        same person or becomes `streamdeblur adapt RECORDING`. Unless told, it trains on half the cores: the
        pipeline keeps running beside it, and adapt's busy-waiting threads on every core would take the cores
        from the pipeline's."""
        threads = self.options.threads or max(1, (os.cpu_count() or 2) // 2)
        return [sys.executable, "-c", "import sys; from streamdeblur.train.live import child; sys.exit(child())",
                *adapt_command(self.recording, self.engine, replace(self.options, threads=threads))]

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
            from streamdeblur.models import folder_card

            made_from = folder_card(self.engine).get("adapted", {}).get("references", [])
            if made_from == [str(self.recording)]:
                log.info("the engine adapted to %s is ready (%s: `--weights %s` uses it at once next time)",
                         self.recording.name, self.engine, self.engine)
            else:
                log.info("this is the person an engine was adapted to before (from %s): it restores them at once "
                         "(copied to %s)", ", ".join(Path(r).name for r in made_from), self.engine)
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
        ended = self.child is not None and not self.done and self.child.poll() == 0
        if ended and (self.engine / "card.json").is_file():
            log.info("the engine adapted to %s was ready as the input ended (%s: `--weights %s` uses it at once "
                     "next time)", self.recording.name, self.engine, self.engine)
        if self.child is not None and self.child.poll() is None:
            os.killpg(self.child.pid, signal.SIGTERM)  # its trainer checkpoints, then exits
            try:
                self.child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.child.pid, signal.SIGKILL)
                self.child.wait()
            log.info("the input ended before the engine was adapted: `streamdeblur adapt %s -o %s` finishes it "
                     "(from its checkpoint in the cache)", self.recording, self.engine)


def adapt_command(recording: Path, engine: Path, options: AdaptOptions) -> list[str]:
    """The arguments of `streamdeblur adapt` that adapt to the recording into the engine folder."""
    return ["adapt", str(recording), "-o", str(engine), "--model", options.model, "--steps", str(options.steps),
            "--threads", str(options.threads), "-q", *([] if options.compile else ["--no-compile"])]


def earlier_engine(recording: Path, options: AdaptOptions) -> Path | None:
    """An engine adapted before beside another recording of the same folder that can stand for adapting to this
    one: the same model from the same released weights, at least as many steps, and the recording's person (its
    faces' embedding, as adapt stores it, within the engine's own matching rule: faces/person.py). The newest such,
    else None (also without a face embedder)."""
    from streamdeblur.faces.person import THRESHOLD, close_enough
    from streamdeblur.train.adapt import base_key, person_of

    base = base_key(options.model)
    candidates = []
    for card_file in recording.parent.glob("*-engine/card.json"):
        try:
            adapted = json.loads(card_file.read_text()).get("adapted", {})
        except (OSError, ValueError):
            continue
        if (adapted.get("model") == options.model and adapted.get("base") == base
                and int(adapted.get("steps", 0)) >= options.steps and adapted.get("identity")):
            candidates.append((card_file.stat().st_mtime, card_file.parent, adapted["identity"]))
    if not candidates:
        return None
    mine = person_of([recording], None)
    if mine is None:
        return None
    vector = np.asarray(mine["vectors"][0], np.float64)
    for _, folder, identity in sorted(candidates, key=lambda c: c[0], reverse=True):
        if identity.get("embedder") == mine["embedder"] and close_enough(
                np.asarray(identity["vectors"], np.float64), vector, float(identity.get("threshold", THRESHOLD))):
            return folder
    return None


def child() -> int:
    """The child of LiveAdapt (`python -c ... RECORDING ARGS`, the arguments of adapt_command): copies an engine
    adapted before to the recording's person into the engine folder (earlier_engine), else replaces itself with
    `streamdeblur adapt` on the recording (the same process: its log and its SIGTERM)."""
    from streamdeblur.cli import _setup_logging

    args = sys.argv[1:]
    recording, engine = Path(args[1]), Path(args[args.index("-o") + 1])
    options = AdaptOptions(model=args[args.index("--model") + 1], steps=int(args[args.index("--steps") + 1]))
    _setup_logging(False)
    try:
        earlier = earlier_engine(recording, options)
    except Exception as exc:  # noqa: BLE001 - looking is an extra: adapting is always possible
        log.warning("could not look for an engine adapted before (%s); adapting", exc)
        earlier = None
    if earlier is not None:
        partial = engine.with_name(f".{engine.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(earlier, partial)
        os.replace(partial, engine)
        log.info("%s: the person of %s, adapted to before", engine, earlier)
        return 0
    os.execv(sys.executable, [sys.executable, "-m", "streamdeblur", *args])
    return 1  # not reached


def last_line(path: Path) -> str:
    """The last non-empty line of a text file ('' when there is none)."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""
