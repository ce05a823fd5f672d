"""Session 64: `streamdeblur adapt --model naf` at another constant learning rate, everything else adapt's (pairs,
recipe, steps, settle range, card); --snapshot steps written from the same run.

    python adapt_lr.py REFERENCE OUTPUT STEPS LR [SNAPSHOT...]

Run it with STREAMDEBLUR_CACHE set to a scratch cache per arm: the run's folder is keyed by the references, the model
and the recipe, which this leaves as adapt's (naf_lr.sh links each arm's pairs to session 63's, the same pairs).
"""

from __future__ import annotations

import sys

from streamdeblur.train import adapt as adapt_module
from streamdeblur.train import stages


def main() -> None:
    reference, output, steps, lr = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    snapshots = tuple(int(n) for n in sys.argv[5:])
    build = stages.build_config  # adapt() imports it from stages when it runs
    stages.build_config = lambda **kwargs: build(**{**kwargs, "lr": lr})
    adapt_module.adapt([reference], output, adapt_module.AdaptOptions(model="naf", steps=steps, snapshots=snapshots,
                                                                      quiet=True))


if __name__ == "__main__":
    main()
