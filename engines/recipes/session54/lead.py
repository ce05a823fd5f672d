"""Session 54 (issue 13): the adapted temporal engine's lead over adapted naf-hd, each with or without TLC, on the clips both
adapt_tlc.sh runs scored (the same halves and faces), per face at each blur and at motion:4+8.

    python lead.py ~/work/s54/rep ~/work/s54-naf-t3m-hd/rep [ARMS]
    ARMS: naf-hd's arm:naf-t3m-hd's, each tlc or global (default tlc:global, what adapt writes since session 54)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from adapt_base_summary import per_face  # beside this file


def gains(single: Path, temporal: Path, arms: tuple[str, str], clips: list[str], groups: list[str]) -> np.ndarray:
    """(blurred, naf-hd, naf-t3m-hd) PSNR of every face both reports scored, over clips and groups."""
    rows = []
    for c in clips:
        for g in groups:
            s, t = per_face(single / c, g), per_face(temporal / c, g)
            rows += [(s[k]["blurred"], s[k][arms[0]], t[k][arms[1]]) for k in s.keys() & t.keys()
                     if arms[0] in s[k] and arms[1] in t[k]]
    return np.array(rows, dtype=float).T


def main() -> None:
    single, temporal = Path(sys.argv[1]), Path(sys.argv[2])
    arms = tuple((sys.argv[3] if len(sys.argv) > 3 else "tlc:global").split(":"))
    clips = sorted(p.name for p in temporal.iterdir() if (p / "report.json").is_file() and (single / p.name).is_dir())
    print(f"{len(clips)} clips, naf-hd {arms[0]}, naf-t3m-hd {arms[1]}")
    for groups in (["motion:2"], ["motion:4"], ["motion:8"], ["motion:4", "motion:8"], ["motion:0.1"]):
        b, s, t = gains(single, temporal, arms, clips, groups)
        d = t - s
        print(f"{'+'.join(groups)} ({len(b)} faces): naf-hd {np.mean(s - b):+.3f} | naf-t3m-hd {np.mean(t - b):+.3f} | "
              f"lead {d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f}")
    for c in clips:
        b, s, t = gains(single, temporal, arms, [c], ["motion:4", "motion:8"])
        print(f"  {c} motion:4+8: naf-hd {np.mean(s - b):+.2f}, naf-t3m-hd {np.mean(t - b):+.2f}")


if __name__ == "__main__":
    main()
