"""streamdeblur: remove motion blur from faces in video streams."""

import os

# OpenMP threads that busy-wait (the default) starve the other stages on a small CPU: the YuNet
# detector ran 3-5x slower beside torch. Must be set before torch or yuface load OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

# The engine `process`, `demo`, `bench` and `export` use unless told otherwise (see `streamdeblur models`).
DEFAULT_MODEL = "fast-unet"
