"""Session 55: two arms of `eval --video` reports, per face (matched by face key: the same eval seed on the same
clips), gain over the blurred input and the difference B - A with its standard error, at each blur, motion:4+8, and
the sharp faces per clip; flicker (face-weighted over clips, as session54/adapt_summary.py) and median fps.

    python paired.py ~/work/s54/rep-144:tlc144 ~/work/s55/rep-1000:steps1000
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "session54"))
from adapt_base_summary import matched  # noqa: E402


def arm(spec: str) -> tuple[Path, str]:
    folder, _, method = spec.rpartition(":")
    return Path(folder).expanduser(), method


def main() -> None:
    (dir_a, m_a), (dir_b, m_b) = arm(sys.argv[1]), arm(sys.argv[2])
    clips = sorted(p.name for p in dir_b.iterdir() if (p / "report.json").is_file() and (dir_a / p.name).is_dir())
    print(f"{len(clips)} clips: {m_b} ({dir_b}) against {m_a} ({dir_a})")
    for groups in (["motion:0.1"], ["motion:2"], ["motion:4"], ["motion:8"], ["motion:4", "motion:8"]):
        rows = []
        for c in clips:
            for g in groups:
                rows += [(a["blurred"], a[m_a], b[m_b]) for a, b in matched(dir_a / c, dir_b / c, g)]
        blurred, ra, rb = np.array(rows).T
        d = rb - ra
        print(f"{'+'.join(groups)} ({len(rows)} faces): {m_a} {np.mean(ra - blurred):+.3f} | {m_b} "
              f"{np.mean(rb - blurred):+.3f} | {m_b} - {m_a} {d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f}")
    for d, m in ((dir_a, m_a), (dir_b, m_b)):
        rows = {}
        for c in clips:
            for x in json.loads((d / c / "report.json").read_text())["summary"]:
                if x["method"] in (m, "blurred"):
                    rows.setdefault((x["group"], x["method"]), []).append(x)
        cells = []
        for g in ("motion:2", "motion:4", "motion:8"):
            for who in ("blurred", m):
                xs = rows[g, who]
                n = sum(x["n"] for x in xs)
                cells.append(f"{who} {sum(x['n'] * x['warp_diff'] for x in xs) / n:.2f} "
                             f"({sum(x['n'] * x['warp_diff_err'] for x in xs) / n:.2f})")
        fps = np.median([x["fps"] for g in ("motion:2", "motion:4", "motion:8") for x in rows[g, m]])
        print(f"{m}: flicker (not in the sharp video) at motion:2 / 4 / 8: {' | '.join(cells)}; fps {fps:.1f}")
    print(f"per clip, gain {m_a} / {m_b}: sharp | motion:4 | motion:8")
    for c in clips:
        cells = []
        for g in ("motion:0.1", "motion:4", "motion:8"):
            faces = matched(dir_a / c, dir_b / c, g)
            cells.append(f"{np.mean([a[m_a] - a['blurred'] for a, _ in faces]):+.3f} / "
                         f"{np.mean([b[m_b] - b['blurred'] for _, b in faces]):+.3f}")
        print(f"  {c}: {' | '.join(cells)}")


if __name__ == "__main__":
    main()
