"""`process --adapt` on a live input (a camera, a stream, a pipe), which can be read only once.

The first seconds are recorded (io/record.py) while the released engine restores them; once recorded,
`streamdeblur adapt RECORDING` fine-tunes the engine in a process of its own (its own session: a Ctrl-C meant for
`process` does not reach it; at a lower priority: the pipeline keeps up with its input first; start_child), and
from the frame it is ready on the pipeline hands that person's faces to the adapted engine (restore.Restorer.swap),
the others staying with the released one. It is handed over as it improves:
the engine as it is a fortieth, a quarter and half of the steps into the adaptation (handover_steps: adapt
--snapshot, written by the same run as it trains on), then the whole. Where the input ends first, the adaptation is
stopped (SIGTERM: its run checkpoints in the cache), the furthest hand-over's engine is kept, and the command to
finish it is logged.
The second time a person comes, the engine of the first time restores them instead of adapting again: the same
model from the same released weights, and their person by the card's face embedding (adapted_before, of_person).
While the first seconds are recorded, a Looker compares the input's first faces with those engines, and the one that
matches takes over within a second or two (the recording is dropped); where it has not decided by the end of the
recording, the child compares the whole recording again (earlier_engine) before it adapts. Where the first time's
input ended before its adaptation, the Looker also knows its person by the hand-over's engine that was kept: that
engine takes over, and the adaptation goes on from its checkpoint, on the first time's recording, to the whole.

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

from streamdeblur.train.adapt import AdaptOptions, RECORD_SECONDS, recording_path, snapshot_folder

log = logging.getLogger("streamdeblur")

# The engine is handed over a fortieth, a quarter and half of the steps into the adaptation, before the whole: naf's
# 4,000 steps hand over at 100, 1,000 and 2,000. On the ten held-out clips naf gained +0.27, +0.32 and +0.36 dB at
# motion:4+8 after 1,000, 2,000 and 4,000 steps, and on four of them 100 steps gave +0.13 and 250 +0.17 where 1,000
# gave +0.30, sharp faces and flicker as the input's (engines/naf/NOTES.md, sessions 63-66; naf-hd's 100 gave +0.59
# where 500 gave +0.74, its notes, session 56). Live on a 2-core CPU the engine of 200 steps (a twentieth until
# session 66) took over 78 s after the recording, those of 1,000, 2,000 and 4,000 about 100, 235 and 500 s after it
# (BENCHMARKS.md, session 65); in session 66's run step 100 came 15.5 s of training before step 200. (Since
# session 68 the adaptation runs at a lower priority than the pipeline, at about half that pace here: CHILD_NICE.)
HANDOVER_SHARES = (40, 4, 2)


def handover_steps(steps: int) -> list[int]:
    """The steps at which the engine is handed over before the whole adaptation's `steps` (a HANDOVER_SHARES-th of
    them each; none below 1), in order."""
    return sorted({steps // share for share in HANDOVER_SHARES if 1 <= steps // share < steps})

# Without a GPU and with fewer cores than this, `process --adapt` on a live input adapts naf rather than adapt's default
# naf-hd unless --model says: on 2 cores naf-hd's pipeline alone ran at 5.7 fps and left the adaptation almost none
# of the CPU (step 37 of 1,000 in 9 minutes), where naf ran at 16.5 fps and was adapted in 5 (BENCHMARKS.md, session
# 62). Only 2 cores were measured; 8 is where naf-hd's pipeline (4x naf's engine time) would reach about naf's here.
HD_CORES = 8

# The child adapts this much nicer than the pipeline: the pipeline keeps up with its input, and the adaptation takes
# the CPU it leaves. Sharing the CPU evenly on 2 cores, a 25-fps pipe was restored at 16 fps while adapting (2.7
# minutes behind after 5; a camera drops the frames instead); at 10 at 24.9 fps, adapting 3.7 steps a second instead
# of 7.4; at 5 the pipeline fell behind once the adapted engine took every face (BENCHMARKS.md, session 68).
CHILD_NICE = 10


def live_model(cores: int | None = None, gpu: bool | None = None) -> str | None:
    """The model `process --adapt` adapts on a live input when --model is not given: "naf" on a CPU of fewer than
    HD_CORES cores without a CUDA GPU (logged), else None (adapt's default)."""
    if gpu is None:
        import torch

        gpu = torch.cuda.is_available()
    cores = (os.cpu_count() or 1) if cores is None else cores
    if gpu or cores >= HD_CORES:
        return None
    log.info("adapting naf, not naf-hd, while the input runs: on %d CPU cores naf-hd alone would not keep up with "
             "it, let alone its adaptation (--model naf-hd to insist)", cores)
    return "naf"


class LiveAdapt:
    """start(source) once the input is open; see(frame) for each frame read, which returns an adapted engine's folder
    on the first frame after it is made (the engines of the hand-overs' steps as they come, then the whole
    adaptation's; or the one of the person adapted to before), else None; close() when the input ends. nice: how much
    nicer than the pipeline the adaptation runs (CHILD_NICE; 0: as the pipeline, for tests whose other tests keep
    the CPU busy)."""

    def __init__(self, input: str, options: AdaptOptions, nice: int = CHILD_NICE) -> None:
        self.input, self.options, self.nice = input, options, nice
        self.seconds = options.duration if options.duration is not None else RECORD_SECONDS
        self.recording = recording_path(input)
        self.engine = engine_folder(self.recording)
        self.log_path = self.recording.with_suffix(".log")
        self.recorder: Any = None
        self.child: subprocess.Popen | None = None
        self.looker: Looker | None = None
        # the engines of the adaptation's first steps (snapshot folders: their names do not end in -engine, so
        # adapted_before never takes one for a finished adaptation)
        self.stages = [(n, snapshot_folder(self.engine, n)) for n in handover_steps(options.steps)]
        self.handed = 0  # the steps of the last engine handed over
        self.done = False

    def start(self, source: Any) -> None:
        from streamdeblur.io.record import Recorder

        try:
            self.recorder = Recorder(source, self.recording, self.seconds)
        except Exception as exc:  # noqa: BLE001 - an unwritable cache, say: the input is still restored, unadapted
            self.done = True
            log.warning("cannot record the input to adapt to (%s); the released engine restores it", exc)
            return
        log.info("recording the first %g s of the input to adapt %s to (the released engine restores them "
                 "meanwhile)", self.seconds, self.options.model)
        candidates = adapted_before(self.recording.parent, self.options, unfinished=True)
        if candidates:
            self.looker = Looker(candidates)
            log.info("comparing the first faces with the %d %s engine(s) adapted before: one of their person "
                     "restores them at once", len(candidates), self.options.model)

    def command(self) -> list[str]:
        """What the child runs: `child` (this module) on the recording, which finds an engine adapted before to the
        same person or becomes `streamdeblur adapt RECORDING`, writing the hand-overs' engines."""
        return [sys.executable, "-c", "import sys; from streamdeblur.train.live import child; sys.exit(child())",
                *adapt_command(self.recording, self.engine, self._child_options(tuple(n for n, _ in self.stages)))]

    def _child_options(self, snapshots: tuple[int, ...]) -> AdaptOptions:
        """The options of the child's `adapt`. Unless told, it trains on half the cores: the pipeline keeps running
        beside it, and adapt's busy-waiting threads on every core would take the cores from the pipeline's."""
        threads = self.options.threads or max(1, (os.cpu_count() or 2) // 2)
        return replace(self.options, threads=threads, snapshots=snapshots)

    def see(self, frame: Any) -> Path | None:
        if self.done:
            return None
        if self.looker is not None and self.looker.found is not None:  # (stopped, None, once the child starts)
            return self._known()
        if self.recorder is not None and self.recorder.open:
            try:
                if self.recorder.write(frame):
                    if self.looker is not None:
                        self.looker.offer(frame.image)
                    return None
                self._stop_looking()  # the child compares the whole recording
                log.info("recorded %.1f s (%d frames) to %s; adapting %s to it in the background (minutes; log: %s)",
                         self.recorder.seconds, self.recorder.frames, self.recording, self.options.model,
                         self.log_path)
                self.child = start_child(self.command(), self.log_path, append=False, nice=self.nice)
            except Exception as exc:  # noqa: BLE001 - a full disk, say: the input is still restored, unadapted
                self.recorder.abort()
                self._stop_looking()
                self.done = True
                log.warning("cannot adapt to the input (%s); the released engine restores it", exc)
                return None
        if self.child is None:
            return None
        # the whole engine is handed over once its folder is there (adapt and child() put it in place whole, by a
        # rename), not once the child has exited: its exit takes a second or more after it, while the input goes on
        whole = made(self.engine)
        if not whole and self.child.poll() is None:
            ready = [(n, folder) for n, folder in self.stages if n > self.handed and made(folder)]
            if not ready:
                return None
            self.handed, folder = ready[-1]  # the furthest (an earlier one not yet handed over is passed by)
            log.info("the engine adapted %d of the %d steps is ready: it restores its person's faces while the "
                     "adaptation goes on", self.handed, self.options.steps)
            return folder
        self.done = True
        if whole:
            from streamdeblur.models import folder_card

            made_from = folder_card(self.engine).get("adapted", {}).get("references", [])
            if made_from == [str(self.recording)]:
                log.info("the engine adapted to %s is ready (%s: `--weights %s` uses it at once next time)",
                         self.recording.name, self.engine, self.engine)
            else:
                log.info("this is the person an engine was adapted to before (from %s): it restores them at once "
                         "(copied to %s)", ", ".join(Path(r).name for r in made_from), self.engine)
            return self.engine
        log.warning("adapting to %s failed (%s); the %s restores the rest", self.recording.name,
                    last_line(self.log_path) or f"exit {self.child.returncode}",
                    f"engine adapted {self.handed} steps" if self.handed else "released engine")
        return None

    def _known(self) -> Path:
        """The Looker found the person of an engine adapted before: that engine, and no recording or adapting; where
        it is the furthest hand-over of an adaptation that an input's end stopped, that adaptation is finished on its
        own recording (from its checkpoint in the cache) and handed over when done."""
        engine = self.looker.found
        self._stop_looking()
        self.done = True
        if self.recorder is not None:
            self.recorder.abort()  # removed: nothing is adapted to it
        recording = unfinished_recording(engine)
        if recording is not None:
            from streamdeblur.models import folder_card

            steps = int(folder_card(engine).get("adapted", {}).get("steps", 0))
            if steps < self.options.steps:  # (an engine of at least the steps asked for is enough as it is)
                self._finish(recording, engine, steps)
        return engine

    def _finish(self, recording: Path, handed: Path, steps: int) -> None:
        """Go on with the adaptation to `recording` (stopped before) whose engine `handed` (of `steps`) has just been
        handed over: `streamdeblur adapt` continues its run to the whole, which see() hands over as any whole."""
        self.recording, self.log_path = recording, recording.with_suffix(".log")
        self.engine = engine_folder(recording)
        self.handed = steps
        self.stages = [(self.handed, handed)]  # removed by close() once the whole is there
        log.info("this is the person an engine was adapted to before, %d of its %d steps (the input ended first): it "
                 "restores them at once, and the adaptation to %s goes on (minutes; log: %s)", self.handed,
                 self.options.steps, recording.name, self.log_path)
        try:
            self.child = start_child([sys.executable, "-m", "streamdeblur", *adapt_command(
                recording, self.engine, self._child_options(snapshots=()))], self.log_path, append=True, nice=self.nice)
        except Exception as exc:  # noqa: BLE001 - the engine handed over still restores them
            log.warning("cannot go on adapting to %s (%s); the engine adapted %d steps restores them", recording.name,
                        exc, self.handed)
            return
        self.done = False

    def _stop_looking(self) -> None:
        if self.looker is not None:
            self.looker.stop()
            self.looker = None

    def close(self) -> None:
        """The input ended (or was stopped): a recording in progress is kept as far as it got; an adaptation still
        running is stopped, and the command that finishes it is logged."""
        self._stop_looking()
        if self.recorder is not None and self.recorder.open:
            self.recorder.close()
            if self.recorder.frames:
                log.info("the input ended after %.1f s of the %g to record: `streamdeblur adapt %s -o DIR %s` adapts "
                         "to what was recorded", self.recorder.seconds, self.seconds, self.recording, self._how())
        whole = self.child is not None and made(self.engine)
        if whole and not self.done:
            log.info("the engine adapted to %s was ready as the input ended (%s: `--weights %s` uses it at once "
                     "next time)", self.recording.name, self.engine, self.engine)
        if whole and self.child.poll() is None:
            try:  # the engine is made: the child is only exiting
                self.child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        running = self.child is not None and self.child.poll() is None
        if running:
            os.killpg(self.child.pid, signal.SIGTERM)  # its trainer checkpoints, then exits
            try:
                self.child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.child.pid, signal.SIGKILL)
                self.child.wait()
        # once the child has ended (no snapshot is being written): the whole adaptation stands for the hand-overs'
        # engines, else the furthest of them does
        kept = [(n, folder) for n, folder in self.stages if made(folder)]
        whole = self.child is not None and made(self.engine)  # (made as it was stopped, too)
        for _, folder in kept if whole else kept[:-1]:
            shutil.rmtree(folder, ignore_errors=True)
        if running and not whole:
            log.info("the input ended before the engine was adapted: `streamdeblur adapt %s -o %s %s` finishes it "
                     "(from its checkpoint in the cache)%s", self.recording, self.engine, self._how(),
                     f"; the engine as it was after {kept[-1][0]} steps is in {kept[-1][1]} (the next time this person "
                     f"comes it restores them at once, and the adaptation goes on)" if kept else "")

    def _how(self) -> str:
        """The options of the `adapt` command that finishes this adaptation: its model and steps (adapt's default
        model is naf-hd, and a run continues only with its own model)."""
        return f"--model {self.options.model} --steps {self.options.steps}"


def start_child(command: list[str], log_path: Path, append: bool, nice: int = CHILD_NICE) -> subprocess.Popen:
    """The adaptation's process, in a session of its own (a Ctrl-C meant for `process` does not reach it), its output
    to `log_path`, `nice` nicer than this process (every thread of its process group, and those it starts after:
    they inherit it)."""
    with open(log_path, "ab" if append else "wb") as out:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    if nice <= 0:
        return child
    try:
        if hasattr(os, "setpriority"):
            os.setpriority(os.PRIO_PGRP, child.pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice))
        # Linux's autogroups: a session of its own is a scheduling group of its own, which shares the CPU evenly with
        # the pipeline's whatever its threads' niceness, unless the group itself is nicer
        group = Path(f"/proc/{child.pid}/autogroup")
        if group.is_file():
            group.write_text(f"{nice}\n")
    except OSError as exc:  # it still adapts, sharing the CPU evenly
        log.debug("could not lower the adaptation's priority: %s", exc)
    return child


def adapt_command(recording: Path, engine: Path, options: AdaptOptions) -> list[str]:
    """The arguments of `streamdeblur adapt` that adapt to the recording into the engine folder."""
    return ["adapt", str(recording), "-o", str(engine), "--model", options.model, "--steps", str(options.steps),
            *[arg for n in options.snapshots for arg in ("--snapshot", str(n))],
            "--threads", str(options.threads), "-q", *([] if options.compile else ["--no-compile"])]


def adapted_before(folder: Path, options: AdaptOptions, unfinished: bool = False) -> list[tuple[Path, dict[str, Any]]]:
    """The engines adapted before beside the recordings in `folder` that can stand for adapting with these options:
    the same model from the same released weights, at least as many steps, and a face embedding in the card to tell
    whose engine it is. (engine folder, the card's identity), newest first. With `unfinished`, after them the
    engines of adaptations that an input's end stopped (the furthest hand-over's folder, kept by LiveAdapt.close, of
    fewer steps, whose recording is still there to finish them on; unfinished_recording)."""
    from streamdeblur.train.adapt import base_key

    base = base_key(options.model)
    found = []
    for card_file in [*folder.glob("*-engine/card.json"), *(folder.glob("*-engine-*/card.json") if unfinished else [])]:
        try:
            adapted = json.loads(card_file.read_text()).get("adapted", {})
            mtime = card_file.stat().st_mtime
        except (OSError, ValueError):
            continue
        whole = card_file.parent.name.endswith("-engine")
        if not (adapted.get("model") == options.model and adapted.get("base") == base and adapted.get("identity")):
            continue
        if int(adapted.get("steps", 0)) >= options.steps if whole else unfinished_recording(card_file.parent):
            found.append((whole, mtime, card_file.parent, adapted["identity"]))
    return [(engine, identity) for _, _, engine, identity in sorted(found, key=lambda c: c[:2], reverse=True)]


def made(engine: Path) -> bool:
    """Whether an engine folder (an adaptation's, or a hand-over's) is there whole: both of its writers
    (adapt.write_engine, child()) put it in place by one rename of a finished folder, its card among its files, so
    its card stands for all of it, from the moment it is there (before the writer's process has exited)."""
    return (engine / "card.json").is_file()


def engine_folder(recording: Path) -> Path:
    """Where the engine adapted to a live input's recording is kept: beside it, RECORDING-engine."""
    return recording.with_name(recording.stem + "-engine")


def unfinished_recording(engine: Path) -> Path | None:
    """The recording whose adaptation `engine` is a hand-over of (RECORDING-engine-STEPS, kept when the input ended
    first), where that recording is still there and the whole adaptation (RECORDING-engine) is not; else None."""
    stem, _, steps = engine.name.rpartition("-engine-")
    recording = engine.with_name(f"{stem}.mp4")
    if not steps.isdigit() or not recording.is_file() or made(engine_folder(recording)):
        return None
    return recording


def of_person(candidates: list[tuple[Path, dict[str, Any]]], embedder: str, vector: np.ndarray) -> Path | None:
    """The first of the candidates (adapted_before) whose person a unit face embedding is, by that engine's own
    matching rule (faces/person.py: cosine to one of its references at least its threshold), else None."""
    from streamdeblur.faces.person import THRESHOLD, close_enough

    for engine, identity in candidates:
        if identity.get("embedder") == embedder and close_enough(
                np.asarray(identity["vectors"], np.float64), vector, float(identity.get("threshold", THRESHOLD))):
            return engine
    return None


def earlier_engine(recording: Path, options: AdaptOptions) -> Path | None:
    """An engine adapted before beside another recording of the same folder that can stand for adapting to this
    one (adapted_before) and is the recording's person (its faces' embedding, as adapt stores it). The newest such,
    else None (also without a face embedder)."""
    from streamdeblur.train.adapt import person_of

    candidates = adapted_before(recording.parent, options)
    if not candidates:
        return None
    mine = person_of([recording], None)
    if mine is None:
        return None
    return of_person(candidates, mine["embedder"], np.asarray(mine["vectors"][0], np.float64))


class Looker:
    """Whether the input's first faces are the person of an engine adapted before, so that it restores them from
    the first seconds instead of after a recording and its adaptation. In a thread of its own, so the pipeline never
    waits for it: offer(image) hands it a frame when it is idle (a copy). It embeds the largest face of each frame it
    takes (YuNet, at least 40 px, and dlib's descriptor: as `adapt` embeds its references, faces/person.py) and decides
    on the mean of the first FACES, as a track is decided: `found` is then the matching engine's folder or stays None,
    and `finished` is set. About 0.14 s a face here (2 CPU cores, 512x512 frames)."""

    def __init__(self, candidates: list[tuple[Path, dict[str, Any]]]) -> None:
        import queue
        import threading

        self.candidates = candidates
        self.found: Path | None = None
        self.faces = 0  # embedded so far
        self.finished = threading.Event()
        self.inbox: queue.Queue = queue.Queue(maxsize=1)
        self.thread = threading.Thread(target=self._run, name="adapted-before", daemon=True)
        self.thread.start()

    def offer(self, image: np.ndarray) -> None:
        """Look at this frame too, unless still busy with the one before (or finished)."""
        import queue

        if not self.finished.is_set() and self.inbox.empty():
            try:
                self.inbox.put_nowait(image.copy())
            except queue.Full:
                pass

    def stop(self) -> None:
        """Stop looking (the thread ends after the face it is embedding, if any)."""
        import queue

        self.finished.set()
        try:
            self.inbox.put_nowait(None)
        except queue.Full:
            pass

    def _run(self) -> None:
        try:
            self.found = self._look()
        except Exception as exc:  # noqa: BLE001 - looking is an extra: recording and adapting go on
            log.warning("could not compare the first faces with the engines adapted before (%s); adapting as usual",
                        exc)
        finally:
            self.finished.set()

    def _look(self) -> Path | None:
        from streamdeblur.faces.detect import create_detector
        from streamdeblur.faces.detection import largest_face
        from streamdeblur.faces.identity import unit
        from streamdeblur.faces.person import FACES, create_embedder

        embedder, detector = create_embedder(), create_detector("yunet")
        seen: list[np.ndarray] = []
        while not self.finished.is_set():
            image = self.inbox.get()
            if image is None:
                return None
            face = largest_face(detector.detect(image), 40)
            if face is None:
                continue
            seen.append(unit(embedder(image, face.box, face.landmarks)))
            self.faces = len(seen)
            if len(seen) >= FACES:
                found = of_person(self.candidates, embedder.name, unit(np.mean(seen, axis=0)))
                if found is not None:
                    log.info("the first faces are the person of %s, adapted to before: it restores them at once "
                             "(nothing is recorded or adapted)", found)
                else:
                    log.info("the first faces are not the person of an engine adapted before: adapting as usual")
                return found
        return None


def child() -> int:
    """The child of LiveAdapt (`python -c ... ARGS`, the arguments of adapt_command): copies an engine adapted before
    to the recording's person into the engine folder (earlier_engine); else replaces itself with the `streamdeblur
    adapt` of ARGS (the same process: its log and its SIGTERM), which writes the hand-overs' engines as it goes."""
    from streamdeblur.progress import setup_logging

    args = sys.argv[1:]
    recording, engine = Path(args[1]), Path(args[args.index("-o") + 1])
    options = AdaptOptions(model=args[args.index("--model") + 1], steps=int(args[args.index("--steps") + 1]))
    setup_logging(False)
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
