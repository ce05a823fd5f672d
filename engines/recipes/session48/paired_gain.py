"""Session 48: per-face gains of an `eval --pairs` report's engines, by the blurred face's PSNR, and each engine's
per-face difference to the first one (mean ± its standard error over faces).

    python paired_gain.py REPORT_DIR/report.json
"""

from __future__ import annotations

import json
import sys

import numpy as np


def main() -> None:
    faces = json.load(open(sys.argv[1]))["per_face"]
    blurred = np.array([np.nan if v is None else v for v in faces["blurred"]["motion"]["psnr_rgb"]])
    names = [k for k in faces if k not in ("blurred", "sharp (oracle)")]
    psnr = {n: np.array(faces[n]["motion"]["psnr_rgb"], dtype=float) for n in names}
    for lo, hi in [(0, 34), (34, 45), (45, np.inf), (0, np.inf)]:
        m = (blurred >= lo) & (blurred < hi)
        row = [f"blurred {lo}-{hi} dB, {m.sum()} faces"]
        row += [f"{n} {np.mean(psnr[n][m] - blurred[m]):+.3f}" for n in names]
        for n in names[1:]:
            d = psnr[n][m] - psnr[names[0]][m]
            row.append(f"{n} - {names[0]} {d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(m.sum()):.3f}")
        print(" | ".join(row))


if __name__ == "__main__":
    main()
