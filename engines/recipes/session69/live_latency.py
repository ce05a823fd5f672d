"""Session 69: the latency of `process` on a live input, and what a live hand-over costs the frames around it.

`process` on CLIP with a stand-in for `--adapt`'s LiveAdapt (the hook that sees each frame as it is read) that lets
frame i in i / FPS seconds after the first, as a camera would, so the pipeline has the headroom it has on a live
input; with --handover AT it also hands over an engine folder at frame AT (a copy of naf's released one, its ONNX
put in the cache by another process, as adapt's prepare_onnx does in the adaptation's). Prints each run's frame
latency (from being let in to leaving the main loop for the encoder; the encoder's own delay comes on top):
median, 90th percentile and largest over all frames, and with a hand-over the largest from AT on.

Found in session 70: the hook sleeps on the main thread, where a restored frame cannot leave meanwhile, so each
figure carries up to one frame interval more than a camera's frames see. It compares code paths; for the delay
itself use session70/pipe_latency.py (a real pipe) or `streamdeblur bench --live`.

    python engines/recipes/session69/live_latency.py CLIP [--eager 0|1] [--beside 0|1] [--handover AT] [--fps 25]
        [--rounds 2]

Against a copy of older code: PYTHONPATH=COPY, run from another directory (a script puts its own first).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import streamdeblur
from streamdeblur.models import get_spec
from streamdeblur.pipeline import ProcessOptions, process


class Paced:
    def __init__(self, fps: float, folder: Path | None = None, at: int = -1) -> None:
        self.fps, self.folder, self.at = fps, folder, at
        self.arrived: list[float] = []

    def start(self, source) -> None:
        pass

    def see(self, frame):
        if not self.arrived:
            self.first = time.perf_counter()
        time.sleep(max(0.0, self.first + frame.index / self.fps - time.perf_counter()))
        self.arrived.append(time.perf_counter())
        return self.folder if frame.index == self.at else None

    def close(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip")
    parser.add_argument("--eager", type=int, choices=(0, 1))
    parser.add_argument("--beside", type=int, choices=(0, 1), help="the detector beside the frames (session 70)")
    parser.add_argument("--handover", type=int)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="naf")
    parser.add_argument("--verbose", action="store_true", help="each frame's latency too")
    args = parser.parse_args()
    print(f"code: {Path(streamdeblur.__file__).parent}; eager {args.eager}; beside {args.beside}; "
          f"hand-over {args.handover}")
    extra = {} if args.eager is None else {"eager": bool(args.eager)}
    extra.update({} if args.beside is None else {"detect_beside": bool(args.beside)})
    with tempfile.TemporaryDirectory() as tmp:
        folder = None
        if args.handover is not None:
            folder = Path(tmp) / "engine"
            shutil.copytree(get_spec(args.model).weights_path.parent, folder)
            subprocess.run([sys.executable, "-c", "import sys; from streamdeblur.pipeline import ProcessOptions, "
                            "build_engine; build_engine(ProcessOptions(model=sys.argv[1], weights=sys.argv[2]))",
                            args.model, str(folder)], check=True)
        for _ in range(args.rounds):  # (later rounds: the same process, which has built the folder's engine before)
            times: list[float] = []
            paced = Paced(args.fps, folder, args.handover if args.handover is not None else -1)
            started = time.perf_counter()
            summary = process(args.clip, str(Path(tmp) / "out.mp4"), ProcessOptions(model=args.model, **extra),
                              adapting=paced, progress=lambda done, total: times.append(time.perf_counter()))
            wall = time.perf_counter() - started
            ms = 1000 * (np.array(times) - np.array(paced.arrived[:len(times)]))
            line = (f"latency ms: median {np.median(ms):.0f}, p90 {np.percentile(ms, 90):.0f}, largest {ms.max():.0f}; "
                    f"{summary['frames']} frames in {wall:.1f} s ({summary['frames'] / wall:.1f} fps), "
                    f"{summary['gated']} of {summary['faces']} faces gated")
            if args.handover is not None:
                swapped = summary["handovers"][0]["frame"] if summary["handovers"] else None
                line += f"; swapped at {swapped}, largest from {args.handover} on {ms[args.handover:].max():.0f}"
            print(line, flush=True)
            if args.verbose:
                print("  by frame:", " ".join(f"{x:.0f}" for x in ms))


if __name__ == "__main__":
    main()
