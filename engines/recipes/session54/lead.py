"""Session 54 (issue 13): the adapted temporal engine's lead over adapted naf-hd, each with or without TLC, on the clips both
adapt_tlc.sh runs scored (the same halves and faces), per face at each blur and at motion:4+8.

    python lead.py ~/work/s54/rep ~/work/s54-naf-t3m-hd/rep [ARMS]
    ARMS: naf-hd's arm:naf-t3m-hd's, each tlc or global (default tlc:global, what adapt writes since session 54)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def faces(path: Path, arm: str, group: str) -> dict:
    pf = json.load(open(path / "report.json"))["per_face"]
    return {tuple(k) if isinstance(k, list) else k: (b, v) for k, b, v in
            zip(pf["blurred"][group]["key"], pf["blurred"][group]["psnr_rgb"], pf[arm][group]["psnr_rgb"])
            if b is not None and v is not None}


def main() -> None:
    single, temporal = Path(sys.argv[1]), Path(sys.argv[2])
    arm_s, arm_t = (sys.argv[3] if len(sys.argv) > 3 else "tlc:global").split(":")
    clips = sorted(p.name for p in temporal.iterdir() if (p / "report.json").is_file() and (single / p.name).is_dir())
    print(f"{len(clips)} clips, naf-hd {arm_s}, naf-t3m-hd {arm_t}")
    for groups in (["motion:2"], ["motion:4"], ["motion:8"], ["motion:4", "motion:8"], ["motion:0.1"]):
        rows = []
        for c in clips:
            for g in groups:
                s, t = faces(single / c, arm_s, g), faces(temporal / c, arm_t, g)
                rows += [(s[k][0], s[k][1], t[k][1]) for k in s.keys() & t.keys()]
        b, s, t = np.array(rows, dtype=float).T
        d = t - s
        print(f"{'+'.join(groups)} ({len(b)} faces): naf-hd {np.mean(s - b):+.3f} | naf-t3m-hd {np.mean(t - b):+.3f} | "
              f"lead {d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f}")
    for c in clips:
        rows = []
        for g in ("motion:4", "motion:8"):
            s, t = faces(single / c, arm_s, g), faces(temporal / c, arm_t, g)
            rows += [(s[k][0], s[k][1], t[k][1]) for k in s.keys() & t.keys()]
        b, s, t = np.array(rows, dtype=float).T
        print(f"  {c} motion:4+8: naf-hd {np.mean(s - b):+.2f}, naf-t3m-hd {np.mean(t - b):+.2f}")


if __name__ == "__main__":
    main()
