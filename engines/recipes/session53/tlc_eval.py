"""Session 53: `streamdeblur ...` (any command) with every NAFNet it builds run with TLC of a base window (before
engine cards carried `tlc`), on the torch backend: the same engine scored by eval's own code.

    TLC_BASE=192 python engines/recipes/session53/tlc_eval.py eval --pairs ... --backend torch ...
"""

from __future__ import annotations

import os
import sys

from streamdeblur.cli import main  # noqa: E402
from streamdeblur.nets import NAFNet  # noqa: E402

BASE = int(os.environ.get("TLC_BASE", "0"))
_init = NAFNet.__init__


def _tlc_init(self: NAFNet, *args, **kwargs) -> None:
    _init(self, *args, **kwargs)
    self.set_tlc(BASE)


NAFNet.__init__ = _tlc_init

if __name__ == "__main__":
    sys.argv[0] = "streamdeblur"
    main()
