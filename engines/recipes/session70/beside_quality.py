"""Session 70: does the detector beside the frames (a live input's, faces/stage.py beside=True) cost face quality?

Runs `streamdeblur eval --video` in this process with `process` forced to eager (the live input's least-delay mode:
faces to the engine whenever it is idle, the detector on its own thread, its detections taken a frame or more
late) or not (a file's: the detector on its frame). The clips go unpaced, as fast as they decode, which leaves the
detector further behind than a camera's 25 fps would: a harder case than live.

    python engines/recipes/session70/beside_quality.py --eager 0|1 -- EVAL ARGS...
"""

from __future__ import annotations

import argparse
import functools
import sys

import streamdeblur.pipeline as pipeline
from streamdeblur.cli import app

parser = argparse.ArgumentParser()
parser.add_argument("--eager", type=int, choices=(0, 1), required=True)
args, rest = parser.parse_known_args()
pipeline.ProcessOptions = functools.partial(pipeline.ProcessOptions, eager=bool(args.eager),
                                             detect_beside=bool(args.eager))
sys.argv = ["streamdeblur", "eval", *[a for a in rest if a != "--"]]
app()
