"""Session 70: a live input's frame latency through a real pipe, with the detector beside the frames or on them.

`process -` in this process, its stdin a pipe that a thread fills with CLIP's packets at the clip's frame rate
(io/clips.playing_on_stdin, as `bench --live`; a copy of the package from 85d32e9 on). Prints the summary's
latency_ms (decoded -> handed to the encoder) and, with --verbose, each frame's. Session 69's live_latency.py paced
the frames in `process`'s frame hook instead, on the main thread: a restored frame could not leave while the hook
slept, so its figures carry up to one frame interval more. The first seconds drain the frames that queued in the
pipe while the pipeline started (2-3 s here): --settle leaves them out of a second set of figures.

    python engines/recipes/session70/pipe_latency.py CLIP [--eager 0|1] [--beside 0|1] [--model naf] [--rounds 2]
        [--seconds S] [--settle 5]

Against a copy of older code: PYTHONPATH=COPY, run from another directory.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import streamdeblur
import streamdeblur.pipeline as pipeline
from streamdeblur.eval.video import read_frames, write_video
from streamdeblur.io.clips import playing_on_stdin
from streamdeblur.pipeline import ProcessOptions, process


def run(clip: str, options: ProcessOptions, out: Path) -> tuple[dict, list[float]]:
    values: list[float] = []
    add = pipeline.Latency.add
    pipeline.Latency.add = lambda self, seconds: (values.append(1000 * seconds), add(self, seconds))[1]
    try:
        with playing_on_stdin(clip):
            return process("-", str(out), options), values
    finally:
        pipeline.Latency.add = add


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip")
    parser.add_argument("--eager", type=int, choices=(0, 1))
    parser.add_argument("--beside", type=int, choices=(0, 1))
    parser.add_argument("--model", default="naf")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--seconds", type=float, help="the clip played back and forth to this length")
    parser.add_argument("--settle", type=float, default=5.0, help="figures also without the first seconds: the "
                        "frames that queued in the pipe while the pipeline started (models built, stream probed)")
    args = parser.parse_args()
    extra = {} if args.eager is None else {"eager": bool(args.eager)}
    extra.update({} if args.beside is None else {"detect_beside": bool(args.beside)})
    print(f"code: {Path(streamdeblur.__file__).parent}; {extra or 'live defaults'}")
    with tempfile.TemporaryDirectory() as tmp:
        # H.264 first, as session 62's pipe: some codecs keep their headers only in the MP4 (MPEG-4 Part 2)
        frames, fps = read_frames(Path(args.clip), None)
        loop = frames + frames[-2:0:-1]  # back and forth to --seconds, as session 62's pipe: no jump at the seams
        count = int(args.seconds * fps) if args.seconds else len(frames)
        clip = str(write_video(Path(tmp) / "clip.mp4", [loop[i % len(loop)] for i in range(count)], fps))
        for _ in range(args.rounds):
            summary, ms = run(clip, ProcessOptions(model=args.model, **extra), Path(tmp) / "out.ts")
            ms = np.array(ms)
            settled = ms[int(args.settle * fps):]
            print(f"latency ms: median {np.median(ms):.0f}, p90 {np.percentile(ms, 90):.0f}, largest {ms.max():.0f}; "
                  f"after the first {args.settle:g} s: median {np.median(settled):.0f}, p90 "
                  f"{np.percentile(settled, 90):.0f}, p99 {np.percentile(settled, 99):.0f}, largest {settled.max():.0f}; "
                  f"{summary['frames']} frames, {summary['gated']} of {summary['faces']} faces gated", flush=True)
            if args.verbose:
                print("  by frame:", " ".join(f"{x:.0f}" for x in ms))


if __name__ == "__main__":
    main()
