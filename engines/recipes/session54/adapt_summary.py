"""Session 54: the ten-clip table of adapt_tlc.sh. Per blur, over all clips' faces: each row's gain over the blurred
input (face PSNR, RGB), TLC minus global per face (mean ± its standard error), and the flicker (the warped
difference, grey levels) with, after the slash, the part of it not in the sharp video, from each report's summary,
face-weighted; then motion:4+8 per clip.

    python adapt_summary.py REPORT_DIR...   (adapt_tlc.sh's $W/rep/*)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROWS = ("global", "tlc")


def main() -> None:
    reports = {Path(p).name: json.load(open(Path(p) / "report.json")) for p in sys.argv[1:]}
    groups = [g for g in next(iter(reports.values()))["per_face"]["blurred"] if g != "all"]
    psnr = {(c, g, m): np.array(r["per_face"][m][g]["psnr_rgb"], dtype=float)
            for c, r in reports.items() for g in groups for m in ("blurred",) + ROWS}
    flick = {}
    for c, r in reports.items():
        for s in r["summary"]:
            flick.setdefault((s["group"], s["method"]), []).append((s["n"], s["warp_diff"], s["warp_diff_err"]))
    print(f"{len(reports)} clips")
    for g in groups + ["motion:4+8"]:
        gs = ["motion:4", "motion:8"] if g == "motion:4+8" else [g]
        get = lambda m: np.concatenate([psnr[c, x, m] for c in reports for x in gs])  # noqa: E731
        b = get("blurred")
        row = [f"{g} ({len(b)} faces)"] + [f"{m} {np.mean(get(m) - b):+.3f}" for m in ROWS]
        d = get("tlc") - get("global")
        row.append(f"tlc - global {d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f}")
        if g != "motion:4+8":
            for m in ("blurred",) + ROWS:
                n, w, e = np.array(flick[g, m]).T
                row.append(f"flicker {m} {np.sum(n * w) / n.sum():.2f} / {np.sum(n * e) / n.sum():.2f}")
        print(" | ".join(row))
    print("motion:4+8 per clip (global / tlc):")
    for c in reports:
        b = np.concatenate([psnr[c, x, "blurred"] for x in ("motion:4", "motion:8")])
        gains = [np.mean(np.concatenate([psnr[c, x, m] for x in ("motion:4", "motion:8")]) - b) for m in ROWS]
        sharp = [np.mean(psnr[c, groups[0], m] - psnr[c, groups[0], "blurred"]) for m in ROWS]
        print(f"  {c}: {gains[0]:+.2f} / {gains[1]:+.2f}   {groups[0]}: {sharp[0]:+.3f} / {sharp[1]:+.3f}")


if __name__ == "__main__":
    main()
