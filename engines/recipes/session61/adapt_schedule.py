"""Session 61: `streamdeblur adapt` with its learning rate annealed (a cosine to zero over the run) instead of
constant, everything else adapt's (pairs, recipe, steps, settle range, TLC, card).

    python adapt_schedule.py REFERENCE OUTPUT STEPS SCHEDULE [LR]

SCHEDULE: constant (today's adapt) or cosine. Run it with STREAMDEBLUR_CACHE set to a scratch cache per arm: the
run's folder is keyed by the references, the model and the recipe, not the schedule, so arms must not share runs
(adapt_schedule.sh links each arm's pairs to the first arm's, so every arm trains on the same pairs).
"""

from __future__ import annotations

import sys

from streamdeblur.train import adapt as adapt_module
from streamdeblur.train import stages


def main() -> None:
    reference, output, steps, schedule = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    lr = float(sys.argv[5]) if len(sys.argv) > 5 else None
    build = stages.build_config  # adapt() imports it from stages when it runs

    def with_schedule(**kwargs):
        kwargs["lr_schedule"] = schedule
        if lr is not None:
            kwargs["lr"] = lr
        return build(**kwargs)

    stages.build_config = with_schedule
    adapt_module.adapt([reference], output, adapt_module.AdaptOptions(steps=steps, quiet=True))


if __name__ == "__main__":
    main()
