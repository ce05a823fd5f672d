"""streamdeblur: remove motion blur from faces in video streams."""

import os
import sys


def _omp_wait_policy(argv: list[str]) -> str:
    """PASSIVE for the video pipeline: OpenMP threads that busy-wait starve the other stages on a small CPU
    (the YuNet detector ran 3-5x slower beside torch). ACTIVE for training (`train`, `adapt`, `bench --train`):
    a training step is many small parallel regions, and sleeping threads halved its throughput (measured
    22 -> 42 samples/s for naf on 2 threads; 0.45 -> 0.25 s a step for `adapt` at 256 px)."""
    args = argv[1:]
    training = bool(args) and (args[0] in ("train", "adapt") or (args[0] == "bench" and "--train" in args))
    return "ACTIVE" if training else "PASSIVE"


# Must be set before torch or yuface load OpenMP; an OMP_WAIT_POLICY already in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", _omp_wait_policy(sys.argv))

__version__ = "0.1.0"

# The engine `process`, `demo`, `bench` and `export` use unless told otherwise (see `streamdeblur models`).
DEFAULT_MODEL = "naf"
