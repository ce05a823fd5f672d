"""Session 58: reblurring at one blur, against the adapted engines it started from, per face and per clip.

    python m2_summary.py ~/work/s55/rep-1000:1000 ~/work/s58/rep-m2:reblur motion:2

Faces are matched by key (session 54's adapt_base_summary.matched: the same blurred face in both reports); flicker
(not in the sharp video) is face-weighted over the clips.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "session54"))
from adapt_base_summary import matched  # noqa: E402


def flicker(folder: Path, method: str, group: str) -> tuple[float, int]:
    rows = [x for x in json.loads((folder / "report.json").read_text())["summary"]
            if x["method"] == method and x["group"] == group]
    return rows[0]["warp_diff_err"], rows[0]["n"]


def main() -> None:
    (dir_a, _, m_a), (dir_b, _, m_b) = (str(Path(a).expanduser()).rpartition(":") for a in sys.argv[1:3])
    dir_a, dir_b, group = Path(dir_a), Path(dir_b), sys.argv[3]
    clips = sorted(p.name for p in dir_b.iterdir() if (p / "report.json").is_file() and (dir_a / p.name).is_dir())
    diffs, gains, flick = [], [], {m_a: [], m_b: [], "blurred": []}
    for c in clips:
        faces = matched(dir_a / c, dir_b / c, group)
        clip = np.array([(a[m_a] - a["blurred"], b[m_b] - b["blurred"]) for a, b in faces])
        gains += clip.tolist()
        diffs += (clip[:, 1] - clip[:, 0]).tolist()
        for folder, m in ((dir_a, m_a), (dir_b, m_b), (dir_a, "blurred")):
            flick[m].append(flicker(folder / c, m, group))
        print(f"  {c} ({len(faces)} faces): {m_a} {clip[:, 0].mean():+.3f} {m_b} {clip[:, 1].mean():+.3f} "
              f"difference {(clip[:, 1] - clip[:, 0]).mean():+.3f}")
    d = np.array(diffs)
    g = np.array(gains)
    print(f"{group}, {len(clips)} clips, {len(d)} faces: gain {m_a} {g[:, 0].mean():+.3f} | {m_b} {g[:, 1].mean():+.3f}"
          f" | {m_b} - {m_a} {d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f}")
    for m, xs in flick.items():
        print(f"flicker not in the sharp video, {m}: {sum(v * n for v, n in xs) / sum(n for _, n in xs):.2f}")


if __name__ == "__main__":
    main()
