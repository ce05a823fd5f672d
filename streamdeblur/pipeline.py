"""The streaming pipeline: the one place that knows the order of the stages.

    reader thread: source -> Frame ──queue──> main thread: detect/track -> crops ──batches──> engine
    thread (while the main thread goes on with the next frames) ──> main thread: paste back, in order
    ──queue──> writer thread: sink

With `process --adapt` on a live input, the engines its adaptation hands over are built on a thread of their own
(Handover) and swapped in on the main thread between frames.

Queues are bounded, so memory stays flat however long the input is. Ctrl-C, SIGTERM or a broken
input stream end the run early: every frame read so far is processed and written, and the
output is finalised so it plays.
"""

from __future__ import annotations

import logging
import math
import queue
import signal
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from streamdeblur.backends import Engine
from streamdeblur import DEFAULT_MODEL
from streamdeblur.errors import OutputError, StdoutClosed, Terminated, UserError
from streamdeblur.paths import check_folder
from streamdeblur.faces.detection import FaceDetector
from streamdeblur.faces.stage import FaceStage
from streamdeblur.io.media import frames_within, is_live_input
from streamdeblur.io.sink import DEFAULT_PRESET, LIVE_PRESET, PRESETS
from streamdeblur.io.threads import END, Reader, Writer, queue_items
from streamdeblur.restore import Face, Held, Restorer, plot_track_blur

log = logging.getLogger("streamdeblur")

DETECTORS = ("yunet", "scrfd", "none")


def _opt(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field carrying its CLI help: the options are declared here once (cli.py reads them)."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class ProcessOptions:
    """Everything `streamdeblur process` can be told: defaults and help here, the CLI builds it from them."""

    model: str = _opt(DEFAULT_MODEL, "Model name from the registry (see `streamdeblur models`).")
    weights: Path | None = _opt(None, "Weights file (.safetensors) instead of the released ones, or an engine folder "
                                      "(`adapt -o`, `release -o`: run as the model its card names; an adapted one "
                                      "restores its person's tracks, the released engine the others).")
    backend: str = _opt("auto", "auto | torch | onnxruntime | tensorrt.")
    device: str = _opt("auto", "auto | cpu | cuda | cuda:N.")
    fp16: bool = _opt(False, "Half precision (GPU).")
    batch_size: int = _opt(8, "Face crops per engine call (across faces and frames); TensorRT's largest batch.")
    threads: int = _opt(0, "CPU threads of the engine (0: all cores but one: the engine runs in its own thread "
                           "beside decoding, detection and encoding, which a second engine thread would slow).")
    detector: str = _opt("yunet", "yunet (embedded) | scrfd (insightface pack) | none.")
    detector_model: str | None = _opt(None, "Detector .onnx file (scrfd).")
    detect_every: int = _opt(3, "Run the detector every N frames (2N after one where every face was gated); track in "
                                "between (constant-velocity prediction).")
    detect_size: int = _opt(480, "The detector sees each frame downscaled to this longest side (pixels): smaller "
                                 "is faster and misses more of the smallest faces (640: 79 faces of a 1080p crowd "
                                 "where 480 finds 73, 1.7x slower).")
    max_faces: int | None = _opt(None, "Process at most this many faces per frame (largest first).")
    min_face_size: int = _opt(24, "Ignore faces smaller than this (pixels).")
    crf: int = _opt(12, "Quality: lower is better (0-51; x264/x265, VP9 and SVT-AV1 CRF, MPEG-4/2 and MJPEG "
                    "quantiser). The default 12 keeps the x264 re-encode's cost on a 30 dB face under 0.2 dB "
                    "(eval --codec; about 2x the bitrate of CRF 18).")
    lossless: bool = _opt(False, "Lossless video encoding (x264, x265, VP9; ffv1 always is).")
    preset: str | None = _opt(None, f"x264/x265 speed preset (ultrafast ... veryslow): faster presets encode "
                                    f"quicker and make bigger files at the same --crf. Default {DEFAULT_PRESET}; a "
                                    f"camera, a stream or a pipe {LIVE_PRESET}, twice as fast, to keep up with it.")
    codec: str = _opt("libx264", "Video encoder: libx264 | libx265 | mpeg4 | mpeg2video | mjpeg | libx264rgb | "
                                  "libvpx-vp9 | ...")
    format: str | None = _opt(None, "Output container (needed for '-o -': mpegts, matroska; v4l2 for a camera).")
    side_by_side: bool = _opt(False, "Write before|after side by side.")
    faces_only: Path | None = _opt(None, "Also write each track's deblurred crops as PNGs here.")
    duration: float | None = _opt(None, "Stop after this many seconds of input (cameras, streams).")
    decoder: str = _opt("pyav", "pyav | decord (files only; what decord cannot read goes to PyAV).")
    gate: float | None = _opt(None, "Faces whose blur estimate (track motion, crop pixels per frame) is below this "
                              "bypass the engine unchanged; default: the engine card's level (--no-gate: none).")
    report: Path | None = _opt(None, "Write a plot of each track's blur estimate over time here (a folder).")
    max_latency: int = 4  # frames held back at most while a batch of crops fills up (not a CLI option)
    in_flight: int = 1  # batches the engine works on (in its own thread) while the next frames are detected
    eager: bool | None = None  # faces to the engine whenever it is idle (restore.py; None: for live inputs)
    detect_beside: bool | None = None  # the detector on a thread beside the frames (faces/stage.py; None: for live
    # inputs: a file's detections stay on their frames, so its output is reproducible)
    source_options: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Validate option values that need no I/O (UserError on nonsense)."""
        if self.batch_size < 1:
            raise UserError("--batch-size must be at least 1")
        if self.threads < 0:
            raise UserError("--threads must be 0 (all cores but one) or more")
        if self.detect_every < 1:
            raise UserError("--detect-every must be at least 1")
        if self.detect_size < 64:
            raise UserError("--detect-size must be at least 64 pixels")
        if self.preset is not None and self.preset not in PRESETS:
            raise UserError(f"unknown --preset {self.preset!r}; choose one of: {', '.join(PRESETS)}")
        if self.max_faces is not None and self.max_faces < 0:
            raise UserError("--max-faces must be 0 or more")
        if not 0 <= self.crf <= 51:
            raise UserError("--crf must be between 0 and 51")
        if self.detector not in DETECTORS:
            raise UserError(f"unknown detector {self.detector!r}; choose one of: {', '.join(DETECTORS)}")
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration > 0):
            raise UserError(f"--duration must be a positive number of seconds, got {self.duration}")
        if self.gate is not None and not (math.isfinite(self.gate) and self.gate >= 0):
            raise UserError(f"--gate must be a level of 0 or more (crop pixels a frame), got {self.gate}")
        if self.min_face_size < 0:
            raise UserError("--min-face-size must be 0 or more")
        for option, folder in (("--report", self.report), ("--faces-only", self.faces_only)):
            if folder is not None:
                check_folder(folder, option)
        check_video_codec(self.codec)


def check_video_codec(codec: str) -> None:
    """UserError unless codec names a video encoder this FFmpeg has (e.g. not the audio encoder 'aac')."""
    import av

    try:
        found = av.codec.Codec(codec, "w")
    except (av.FFmpegError, ValueError, KeyError):
        raise UserError(f"unknown or unavailable video encoder {codec!r}; e.g. libx264, libx265, mpeg4") from None
    if found.type != "video":
        raise UserError(f"--codec {codec} is an {found.type} encoder; give a video encoder such as libx264 or libx265")


@dataclass
class StageTimes:
    """Seconds spent in each stage (thread time where a stage has its own thread)."""

    decode: float = 0.0
    detect: float = 0.0
    crop: float = 0.0
    engine: float = 0.0
    paste: float = 0.0
    encode: float = 0.0
    identify: float = 0.0  # an engine adapted to one person: telling its person's tracks from the others



class _FacesWriter:
    """--faces-only: the deblurred crops of each track as PNG images, one folder per track."""

    def __init__(self, root: Path):
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create --faces-only folder {root}: {exc.strerror}") from None

    def write(self, held: Held) -> None:
        for face in held.faces:
            folder = self.root / f"track_{face.track_id:04d}"
            folder.mkdir(exist_ok=True)
            cv2.imwrite(str(folder / f"{held.frame.index:07d}.png"), face.restored)


@dataclass
class Summary:
    input: str
    output: str
    engine: str
    frames: int = 0
    faces: int = 0
    tracks: int = 0
    skipped: int = 0
    interrupted: bool = False
    interrupted_by: str | None = None  # "SIGINT" (Ctrl-C) or "SIGTERM": the exit status follows it (130 / 143)
    error: str | None = None
    seconds: float = 0.0
    fps: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_fps: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    lag_frames: int = 0  # the output lags the input by this many frames (temporal engines: K // 2)
    gate: float | None = None  # the gate level used (None: no gating); an adapted engine's: its person's
    gates: list[float | None] = field(default_factory=list)  # each route's (gate_levels): adapted, then released
    gated: int = 0  # faces that bypassed the engine (estimated sharp)
    warnings: list[str] = field(default_factory=list)  # a damaged input: frames missing, packets skipped
    per_track: dict[str, dict[str, Any]] = field(default_factory=dict)  # frames, blur estimates, share gated
    adapted_from_frame: int | None = None  # process --adapt on a live input: the frame its adapted engine took over
    handovers: list[dict[str, Any]] = field(default_factory=list)  # each hand-over: its frame, the engine's steps
    encoder: str = ""  # the output's encoder and its settings (io/sink.VideoSink.settings)
    latency_ms: dict[str, float] | None = None  # a live input: its frames' delay through the pipeline (Latency)


class Latency:
    """How long frames took from being decoded to being handed to the encoder (a live input's delay, but for the
    encoder's own: x264 superfast holds about 4 frames), as a histogram of whole milliseconds: flat memory however
    long the input runs."""

    def __init__(self, top_ms: int = 60_000) -> None:
        self.counts = np.zeros(top_ms + 1, np.int64)
        self.largest = 0.0

    def add(self, seconds: float) -> None:
        ms = max(0.0, 1000 * seconds)
        self.counts[min(int(ms), len(self.counts) - 1)] += 1
        self.largest = max(self.largest, ms)

    def summary(self) -> dict[str, float] | None:
        """{"p50", "p90", "p99", "max"} in ms (None before any frame)."""
        total = int(self.counts.sum())
        if not total:
            return None
        cumulative = np.cumsum(self.counts)
        at = {f"p{q}": float(np.searchsorted(cumulative, q / 100 * total)) for q in (50, 90, 99)}
        return {**at, "max": round(self.largest, 1)}


def _input_warnings(summary: Summary, announced: int | None, duration: float | None,
                    fps: float | None = None) -> list[str]:
    """What the user should know about a damaged input: frames its header announces that never came (a truncated
    file), and packets that could not be read (skipped). With --duration, the frames it asks for (when the frame
    rate says how many) are those expected."""
    whole = not summary.interrupted and summary.error is None and (duration is None or bool(fps))
    expected = announced if duration is None or announced is None or not fps else min(announced, int(duration * fps))
    short = whole and expected is not None and summary.frames < expected - max(2, expected // 20)
    of = f" of the {announced} frames its header announces" if announced else ""
    if summary.skipped:
        return [f"{summary.skipped} damaged packet(s) of the input could not be read and were skipped: the output has "
                f"{summary.frames}{of if short else ' frames'}"]
    if short:
        return [f"the input ended after {summary.frames}{of} (a truncated or damaged file?); the output has the "
                f"{summary.frames} frames that were read"]
    return []


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class _Stop:
    """Ctrl-C (SIGINT) and SIGTERM while the pipeline runs (main thread only) ask it to stop after the frame
    in hand: the main loop checks `requested` between frames, so no frame that was read is dropped halfway
    through its stages. A second signal stops at once (KeyboardInterrupt)."""

    previous: dict = field(default_factory=dict)
    requested: bool = False
    signal_name: str = "SIGINT"  # the first signal's

    def __enter__(self) -> "_Stop":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._request)
        return self

    def _request(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested, self.signal_name = True, signal.Signals(signum).name

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def engine_threads(threads: int = 0) -> int:
    """The engine's CPU threads: `threads`, or for 0 all the cores this process may use but one (at least one)."""
    import os

    if threads > 0:
        return threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    return max(1, cores - 1)


def build_engine(options: ProcessOptions) -> Engine:
    """The deblur engine the options ask for, from the one engine factory (UserError when it cannot run here)."""
    from streamdeblur.backends import create_engine

    return create_engine(options.model, backend=options.backend, device=options.device, fp16=options.fp16,
                         weights=options.weights, batch_size=options.batch_size, threads=engine_threads(options.threads),
                         settle=None if options.gate == 0 else "card")  # --no-gate: the bare network


# engine -> (the same network trained at a larger crop, the face side in frame pixels from which it restores more):
# measured through `process` on the val clips' 280-390 px faces (engines/naf-hd/NOTES.md)
LARGE_FACE_ENGINES = {"naf": ("naf-hd", 200)}


def large_face_hint(model: str, logs: dict[int, Any]) -> str | None:
    """A one-line suggestion when most faces restored were large enough for the model's larger sibling, else None."""
    from streamdeblur.models import get_spec, has_weights

    if model not in LARGE_FACE_ENGINES:
        return None
    larger, side = LARGE_FACE_ENGINES[model]
    sizes = [s for track in logs.values() for s in track.size]
    if not sizes or float(np.median(sizes)) < side or not has_weights(larger):
        return None
    big, small = get_spec(larger).input_size, get_spec(model).input_size
    return (f"most faces were large ({np.median(sizes):.0f} px across): `--model {larger}` restores them at {big} px, "
            f"a little better on faces over {side} px for about {(big / small) ** 2:.0f}x the engine time")


# faces restored before `process` points to --adapt: a few seconds of one person is too little to adapt to
ADAPT_HINT_FACES = 50


def adapt_hint(input: str, engine: Engine, logs: dict[int, Any]) -> str | None:
    """A one-line pointer to `--adapt` after a released engine restored a video file's, a camera's, a stream's or a
    pipe's faces, else None (an adapted engine, a model adapt does not fine-tune, or fewer than ADAPT_HINT_FACES
    faces): adapting to the video's own person gains far more than any released engine does (README, "An engine
    for one person")."""
    import os

    from streamdeblur.models import get_spec

    live = is_live_input(input)
    if getattr(engine, "routes", None) or getattr(engine, "name", "") == "identity" or not (
            live or os.path.isfile(input)):
        return None
    model = getattr(engine, "model", None)
    if model and not get_spec(model).adaptable:  # adapt would refuse it (`process --adapt --model M`)
        return None
    if sum(len(track.frames) for track in logs.values()) < ADAPT_HINT_FACES:
        return None
    gain = ("+0.83 dB on the blurred faces of ten held-out clips, where the released engines gain 0.1 dB or less")
    if live:
        return ("for a camera, a stream or a pipe of one person, `--adapt` records its first 20 s and fine-tunes the "
                f"engine on their sharp faces while it runs, then restores that person with it as it improves ({gain}; "
                "on 2 CPU cores, adapting naf beside the output without slowing it, the first engine in about 2 "
                "minutes, the whole in about 20; the next time at once; README: \"An engine for one person\")")
    return ("for a video of one person with sharp moments, `--adapt` first fine-tunes the engine on those faces "
            f"(about 4 minutes on 2 CPU cores, then cached): {gain}; a video blurred throughout gains little "
            "(README: \"An engine for one person\")")


def gate_levels(options: ProcessOptions, engine: Engine) -> tuple[float | None, ...]:
    """The gate level of each of the engine's routes (its own; an adapted engine's: its person's, then the released
    engine's for the other faces): --gate for all, else each one's card's ("gate": the released engine's, or its
    folder's), else none; 0 is none."""
    routes = getattr(engine, "routes", None) or (engine,)
    levels = [options.gate if options.gate is not None else getattr(route, "gate", None) for route in routes]
    return tuple(float(level) if level else None for level in levels)


class Handover:
    """The engines a live adaptation hands over (train/live.LiveAdapt.see's folders), built on a thread of their own
    while the restorer goes on with the engine it has: building one (its weights loaded and folded, its ONNX Runtime
    session opened) stopped the main thread for 0.14 s on this 2-core machine when idle, 0.4-0.5 s beside the
    adaptation: up to a dozen frames of a live input. offer(folder) as a folder comes; swap(...) on each frame puts
    the next engine built meanwhile to work, in the order handed over; close() waits for a build under way (the
    folders it reads may be removed after) and drops those not started."""

    def __init__(self, options: ProcessOptions) -> None:
        self.options = options
        self.builder = ThreadPoolExecutor(1, thread_name_prefix="handover")
        self.building: deque[tuple[Path, Future]] = deque()  # (folder, its engine to come), in the order handed over

    def offer(self, folder: Path) -> None:
        self.building.append((folder, self.builder.submit(self._build, folder)))

    def _build(self, folder: Path) -> Engine:
        from dataclasses import replace

        from streamdeblur.models import engine_in_folder

        return build_engine(replace(self.options, model=engine_in_folder(self.options.model, folder)[0],
                                    weights=folder))

    def swap(self, restorer: Restorer, summary: "Summary", index: int) -> Engine | None:
        """The next engine built, restoring from frame `index` on (None when none is built yet, or logged when it
        cannot run here: the engine before goes on)."""
        from streamdeblur.models import folder_card

        if not self.building or not self.building[0][1].done():
            return None
        folder, future = self.building.popleft()
        try:
            engine = future.result()  # its build's exception is raised here, in the main thread
            restorer.swap(engine, gate_levels(self.options, engine))
        except (UserError, ValueError) as exc:
            log.warning("the adapted engine in %s cannot run here (%s); the %s restores the rest", folder, exc,
                        "engine handed over before" if summary.handovers else "released engine")
            return None
        steps = (folder_card(folder).get("adapted") or {}).get("steps")
        summary.adapted_from_frame = index if summary.adapted_from_frame is None else summary.adapted_from_frame
        summary.handovers.append({"frame": index, "steps": steps})
        log.info("from frame %d on, the adapted engine%s restores its person's faces", index,
                 f" ({steps} steps)" if steps else "")
        return engine

    def close(self) -> None:
        self.builder.shutdown(wait=True, cancel_futures=True)
        self.building.clear()


def refuse_overwriting_input(input: str, output: str) -> None:
    """UserError when the output is the input file itself (after links), which writing would destroy."""
    import os

    if "://" in input or input in ("-", "pipe:") or output in ("-", "pipe:", "pipe:1"):
        return
    try:
        same = os.path.exists(output) and os.path.samefile(input, output)
    except OSError:
        same = False
    if same or os.path.realpath(input) == os.path.realpath(output):
        raise UserError(f"the output {output} is the input file: choose another output name (the input would be lost)")


def build_detector(options: ProcessOptions) -> FaceDetector:
    from streamdeblur.faces.detect import SIZE_OPTION, create_detector

    return create_detector(options.detector, model_path=options.detector_model,
                           **{SIZE_OPTION[options.detector]: options.detect_size})


def process(
    input: str,
    output: str,
    options: ProcessOptions | None = None,
    engine: Engine | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    adapting: Any = None,
) -> dict:
    """Deblur the faces of one input into one output; returns a JSON-able summary.

    `engine` overrides options.model/backend (tests, eval). `progress(frames_done, total)` is
    called after each written frame when given (the CLI draws a rich progress bar with it).
    `adapting` (train/live.LiveAdapt: `process --adapt` on a live input) sees each frame as it is read
    and hands over an adapted engine's folder (at most twice: a first, then the whole adaptation), from which the
    engine is swapped for it.
    """
    from streamdeblur.io.sink import VideoSink, check_target
    from streamdeblur.io.source import open_source

    options = options or ProcessOptions()
    options.check()
    released = engine is None and options.weights is None  # the engine is a released one (for adapt_hint)
    live = is_live_input(input)  # a camera, a stream or a pipe: encoded for real time, restored for the least delay
    refuse_overwriting_input(input, output)
    check_target(output)
    started = time.perf_counter()
    # Everything that can fail on the user's options fails before the output is created. A file is opened first (a
    # missing or unreadable input is found before the model is loaded); a live input after the models are built,
    # so that its frames do not queue meanwhile (they would all leave late in the first seconds).
    source = None if live else open_source(input, decoder=options.decoder, **options.source_options)
    try:
        detector = build_detector(options) if options.detector != "none" else None
        if detector is not None and engine is None:
            engine = build_engine(options)
        if source is None:
            source = open_source(input, decoder=options.decoder, **options.source_options)
    except BaseException:
        if source is not None:
            source.close()
        raise
    times = StageTimes()
    summary = Summary(input=input, output=output, engine=engine.name if engine is not None and detector else "none")
    faces_writer = _FacesWriter(options.faces_only) if options.faces_only else None
    try:
        width = source.width * (2 if options.side_by_side else 1)
        sink = VideoSink(output, width, source.height, source.time_base, fps=source.fps,
                         audio_streams=source.side_streams, like=source.video_format, codec=options.codec,
                         crf=options.crf, preset=options.preset, live=live,
                         lossless=options.lossless, format=options.format)
    except BaseException:
        source.close()
        raise
    summary.encoder = sink.settings
    stop = threading.Event()
    inbox: queue.Queue = queue.Queue(maxsize=max(8, 2 * options.batch_size))
    outbox: queue.Queue = queue.Queue(maxsize=max(8, 2 * options.batch_size))
    reader = Reader(source, inbox, stop, times)
    writer = Writer(sink, outbox, times)
    eager = live if options.eager is None else options.eager  # least latency for a live input
    beside = live if options.detect_beside is None else options.detect_beside  # (likewise)
    faces = FaceStage(detector, options, engine.input_size, beside) if detector is not None and engine else None
    gates = gate_levels(options, engine) if faces else (None,)
    restorer = Restorer(engine, options.batch_size, options.max_latency, gates, times, options.in_flight,
                        eager) if faces else None

    unsent: deque[Held] = deque()  # finished frames not yet handed to the writer (kept through a Ctrl-C)
    latency = Latency() if live else None  # (a file's frames wait in the queue only for the pipeline)

    def emit(done: list[Held]) -> None:
        unsent.extend(done)
        while unsent:
            held = unsent[0]
            image = held.frame.image
            if held.original is not None:
                image = np.hstack([held.original, image])
            outbox.put((image, held.frame.pts, held.frame.audio))  # a Ctrl-C while the queue is full: kept
            unsent.popleft()
            if latency is not None:
                latency.add(time.perf_counter() - held.frame.read_at)
            if faces_writer is not None:
                faces_writer.write(held)
            summary.frames += 1
            if progress is not None:
                progress(summary.frames, source.frame_count)

    handover = Handover(options) if adapting is not None and restorer is not None else None
    if adapting is not None:
        adapting.start(source)
    reader.start()
    writer.start()
    stopper = _Stop()
    try:
        with stopper:
            # eager (a live input): while waiting for the next frame, those restored meanwhile leave
            idle = (lambda: emit(restorer.poll())) if restorer is not None and restorer.eager else None
            for frame in frames_within(queue_items(inbox, lambda: stopper.requested, idle), options.duration):
                if adapting is not None:  # before anything is pasted into the frame
                    folder = adapting.see(frame)
                    if handover is not None:
                        if folder is not None:
                            handover.offer(folder)
                        swapped = handover.swap(restorer, summary, frame.index)
                        if swapped is not None:
                            engine, gates = swapped, restorer.gates
                original = frame.image.copy() if options.side_by_side else None
                found = faces(frame, times) if faces is not None else []
                summary.faces += len(found)
                held = Held(frame, original, [Face(t.track_id, m, crop, t.box, t.landmarks) for t, m, crop in found])
                emit(restorer.push(held) if restorer is not None else [held])
                if faces is not None:  # the detector slows down while every face in view is gated
                    faces.note_gating(len(held.faces), sum(f.gated for f in held.faces))
                if writer.error is not None:
                    break
            if stopper.requested:
                raise KeyboardInterrupt
    except KeyboardInterrupt as exc:
        summary.interrupted = True
        terminated = isinstance(exc, Terminated) or stopper.signal_name == "SIGTERM"
        summary.interrupted_by = "SIGTERM" if terminated else "SIGINT"
        log.warning("interrupted: finishing the frames in flight and closing the output")
    except UserError as exc:
        summary.error = str(exc)
        log.error("input stopped: %s; the output keeps the frames processed so far", exc)
    finally:
        stop.set()
        try:
            if faces is not None:
                faces.close()
            if handover is not None:
                handover.close()
            if restorer is not None:
                emit(restorer.finish())  # the last frames leave before a live adaptation is stopped (seconds)
        finally:
            try:
                if adapting is not None:
                    adapting.close()
            finally:
                outbox.put(END)
            writer.join()
            try:
                trailing = getattr(source, "trailing_audio", [])
                if writer.error is None:
                    if trailing:
                        sink.write_audio(trailing)
                    sink.close()
            except BaseException as exc:  # noqa: BLE001 - a fault while finishing is reported like one while writing
                writer.error = writer.error or exc
            finally:
                if writer.error is not None:
                    sink.abort()
                reader.join(timeout=5)
                source.close()
    if writer.error is not None:
        err = writer.error
        if isinstance(err, (UserError, StdoutClosed)):
            raise err
        raise OutputError(f"writing {output} failed: {err}") from err
    summary.skipped = getattr(source, "skipped", 0)
    if getattr(source, "lost", None) and summary.error is None and not summary.interrupted:
        summary.error = source.lost  # the output is kept, and the exit status says the input did not end by itself
    summary.warnings = _input_warnings(summary, getattr(source, "frames_announced", None), options.duration,
                                       float(source.fps) if getattr(source, "fps", None) else None)
    for warning in summary.warnings:
        log.warning(warning)
    summary.tracks = len(faces.track_ids) if faces is not None else 0
    if restorer is not None:
        summary.lag_frames = restorer.lag
        summary.gated = sum(sum(log.gated) for log in restorer.logs.values())
        summary.per_track = {str(t): log.summary() for t, log in sorted(restorer.logs.items())}
        people = {t: log.person for t, log in restorer.logs.items() if log.person is not None}
        if people:
            others = ("were left as they came (no released engine)" if engine.base.name == "identity" else
                      f"went to the released {engine.model}")
            log.info("the engine adapted to its references' person restored %d of %d tracks (%s); the others %s",
                     sum(people.values()), len(people),
                     ", ".join(f"track {t}" for t, p in sorted(people.items()) if p) or "none", others)
        # a live adaptation's model was chosen to adapt beside the pipeline (train/live.live_model): no larger one
        hints = (large_face_hint(getattr(engine, "model", ""), restorer.logs) if adapting is None else None,
                 adapt_hint(input, engine, restorer.logs) if released else None)
        for hint in filter(None, hints):
            log.info(hint)
        if options.report is not None:
            try:
                options.report.mkdir(parents=True, exist_ok=True)
                plot_track_blur(restorer.logs, gates, options.report / "blur_per_track.png")
            except OSError as exc:  # the video is complete; only its plot is missing
                raise OutputError(f"wrote {output}, but not the --report plot in {options.report}: "
                                  f"{exc.strerror or exc}") from None
        summary.gate, summary.gates = gates[0], list(gates)
    summary.seconds = time.perf_counter() - started
    summary.fps = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
    summary.stage_seconds = {k: round(v, 4) for k, v in asdict(times).items()}
    summary.stage_fps = {k: round(summary.frames / v, 2) for k, v in asdict(times).items() if v > 0}
    summary.peak_rss_mb = round(_peak_rss_mb(), 1)
    summary.latency_ms = latency.summary() if latency is not None else None
    result = asdict(summary)
    result["seconds"] = round(summary.seconds, 3)
    result["fps"] = round(summary.fps, 2)
    return result
