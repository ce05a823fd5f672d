"""Session 73: a weight average of two engines of one network (WiSE-FT: a fine-tuning blended with its starting
point) as an engine folder, to score before any release: OUT/model.safetensors = (1 - W) x A + W x B, with A's
card (its gate and settle range).

    python engines/recipes/session73/blend.py ENGINE_A ENGINE_B W OUT
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

from streamdeblur.train.release import average_weights


def main() -> None:
    a, b, w, out = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4])
    sa, sb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    if sa.keys() != sb.keys() or any(sa[k].shape != sb[k].shape for k in sa):
        sys.exit("the two engines are not the same network")
    mixed = average_weights(sa, [(sb, w)])  # as `release --soup` averages runs
    out.mkdir(parents=True, exist_ok=True)
    save_file(mixed, str(out / "model.safetensors"))
    shutil.copy2(a / "card.json", out / "card.json")
    print(f"wrote {out}: {1 - w:g} x {a} + {w:g} x {b}")


if __name__ == "__main__":
    main()
