"""Session 50 (issue 11, data): does footage like the HDTF speakers' lift the gain on other HDTF speakers?

motion-256c-5t's validation split holds all six HDTF clips (SadTalker's WDA_* / RD_*; naf-hd NOTES, session 50).
This writes two sets from those held-out pairs, by clip: `train/` with three speakers' pairs, their method renamed
"hdtf" (so `mix` can give them a share of the draws), and `val/` with the other three speakers' pairs, unchanged.
A run on motion-256c-5t + train/ is then scored on val/ against v1 and session 48's control. The bar's own
validation is not touched; an arm trained this way has seen half of its HDTF clips and is never released.

    python engines/recipes/session50/hdtf_split.py PAIRS/motion-256c-5t/val PAIRS/hdtf-split
"""

from __future__ import annotations

import argparse
import json
import tarfile
from pathlib import Path

from streamdeblur.data.shards import TarWriter

TRAIN = ("WDA_AlexandriaOcasioCortez_000", "WDA_KatieHill_000", "RD_Radio2_000")
VAL = ("RD_Radio34_000", "WDA_BobMenendez_000", "WDA_EdMarkey0_000")


def split(src: Path, out: Path) -> dict[str, int]:
    counts = {"train": 0, "val": 0}
    writers = {part: TarWriter(out / part / "pairs-000000.tar") for part in counts}
    for shard in sorted(src.glob("*.tar")):
        with tarfile.open(shard) as tf:
            for m in tf:
                clip = m.name.split("-", 1)[0]
                part = "train" if clip in TRAIN else "val" if clip in VAL else None
                if part is None:
                    continue
                data = tf.extractfile(m).read()
                if m.name.endswith(".json"):
                    counts[part] += 1
                    if part == "train":
                        data = json.dumps({**json.loads(data), "method": "hdtf"}).encode()
                writers[part].add(m.name, data)
    for w in writers.values():
        w.close()
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="motion-256c-5t/val")
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    print(split(args.src, args.out))


if __name__ == "__main__":
    main()
