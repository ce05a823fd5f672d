"""Sessions 55-56: `streamdeblur adapt` with another training patch than its 96 px (adapt_steps.sh N PATCH), or
started from other weights than the released engine's (adapt_steps.sh with INIT=WEIGHTS; session 56: Reptile's).

    python adapt_patch.py REFERENCE OUTPUT STEPS PATCH [INIT_WEIGHTS]

Everything else is adapt's (pairs, recipe, settle range, card; TLC's window 1.5x the patch). Run it with
STREAMDEBLUR_CACHE set to a scratch cache: the run's folder is keyed by the released weights, so the real cache's
runs must not be continued.
"""

from __future__ import annotations

import json
import sys

from streamdeblur.train import adapt as adapt_module
from streamdeblur.train import stages


def main() -> None:
    reference, output, steps, patch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    init = sys.argv[5] if len(sys.argv) > 5 else None
    build = stages.build_config  # adapt() imports it from stages when it runs

    def with_patch(**kwargs):
        kwargs["patch"] = patch
        if init:
            kwargs["init_weights"] = init
        return build(**kwargs)

    stages.build_config = with_patch
    folder = adapt_module.adapt([reference], output, adapt_module.AdaptOptions(steps=steps, quiet=True))
    card_path = folder / "card.json"
    card = json.loads(card_path.read_text())
    if "tlc" in card:  # TLC's rule, as adapt's 144 for 96-px patches: windows 1.5x the training patch
        card["tlc"] = int(1.5 * patch)
        card_path.write_text(json.dumps(card, indent=1))


if __name__ == "__main__":
    main()
