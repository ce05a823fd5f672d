"""Session 54: adapt_tlc_base.sh's window against adapt_tlc.sh's arms (global pooling, TLC 192), per face (matched by
face key: the same eval seed on the same first halves), each blur and motion:4+8, and the sharp faces per clip.

    python adapt_base_summary.py ~/work/s54/rep ~/work/s54/rep-144
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def per_face(report: Path, group: str) -> dict[str, dict[str, float]]:
    pf = json.load(open(report / "report.json"))["per_face"]
    out: dict[str, dict[str, float]] = {}
    for method, groups in pf.items():
        for key, value in zip(groups[group]["key"], groups[group]["psnr_rgb"]):
            if value is not None:
                out.setdefault(key, {})[method] = value
    return out


def matched(dir_a: Path, dir_b: Path, group: str) -> list[tuple[dict[str, float], dict[str, float]]]:
    """The faces both reports (DIR/report.json) scored in `group`, each as (a's methods, b's methods), in key order;
    SystemExit where the blurred face differs (then the reports are not of the same faces)."""
    a, b = per_face(dir_a, group), per_face(dir_b, group)
    for k in a.keys() & b.keys():
        if abs(a[k]["blurred"] - b[k]["blurred"]) > 1e-6:
            raise SystemExit(f"{dir_b} {k}: not the same blurred face in both reports")
    return [(a[k], b[k]) for k in sorted(a.keys() & b.keys())]


def main() -> None:
    arms_dir, base_dir = Path(sys.argv[1]), Path(sys.argv[2])
    clips = sorted(p.name for p in base_dir.iterdir() if (p / "report.json").is_file())
    new = None
    print(f"{len(clips)} clips")
    for groups in (["motion:0.1"], ["motion:2"], ["motion:4"], ["motion:8"], ["motion:4", "motion:8"]):
        rows = []
        for c in clips:
            for g in groups:
                faces = matched(arms_dir / c, base_dir / c, g)
                new = new or next(m for m in faces[0][1] if m not in ("blurred", "sharp (oracle)"))
                rows += [(a["blurred"], a["global"], a["tlc"], b[new]) for a, b in faces]
        blurred, glob, tlc, other = np.array(rows).T
        d = other - tlc
        print(f"{'+'.join(groups)} ({len(rows)} faces): global {np.mean(glob - blurred):+.3f} | tlc 192 "
              f"{np.mean(tlc - blurred):+.3f} | {new} {np.mean(other - blurred):+.3f} | {new} - tlc 192 "
              f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f}")
    for c in clips:
        a, b = per_face(arms_dir / c, "motion:0.1"), per_face(base_dir / c, "motion:0.1")
        keys = sorted(a.keys() & b.keys())
        print(f"  {c} sharp: tlc 192 {np.mean([a[k]['tlc'] - a[k]['blurred'] for k in keys]):+.3f}, "
              f"{new} {np.mean([b[k][new] - b[k]['blurred'] for k in keys]):+.3f}")


if __name__ == "__main__":
    main()
