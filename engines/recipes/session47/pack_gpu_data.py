"""Pack a pair set small enough to travel to a lent GPU machine (the device tool carries 64 MiB in all).

Each pair's blurred and sharp crops are re-encoded as WebP (blur at quality 80, sharp at 93:
about 15 KB a pair at 256 px where the PNGs take 170 KB; motion-256c-5t's 3,176 training pairs take 47 MB) into <out>/train.tar and <out>/val.tar with
the pair's JSON; `gpu_papers.py unpack` turns them back into a PNG pair set there. Multi-frame members are left out:
the single-frame papers' models read the centre exposure alone.

    python engines/recipes/session47/pack_gpu_data.py ~/.cache/streamdeblur/pairs/motion-256c-5t .gpu/data --val 64
"""

from __future__ import annotations

import argparse
import io
import tarfile
from pathlib import Path

import cv2

from streamdeblur.data.shards import decode_png, find_shards, index_shard, read_member

QUALITY = {"blur": 80, "sharp": 93}


def pack(src: Path, out: Path, split: str, limit: int | None) -> int:
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    with tarfile.open(out / f"{split}.tar", "w") as tar:
        for shard in find_shards(src, split):
            records = index_shard(shard)
            if limit is not None:  # an even spread over the split's clips
                records = records[:: max(1, len(records) // limit)][:limit - n]
            with open(shard, "rb") as f:
                for rec in records:
                    members = {}
                    for part in ("blur", "sharp"):
                        image = decode_png(read_member(f, *rec.members[f"{part}.png"]))
                        ok, buf = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, QUALITY[part]])
                        assert ok
                        members[f"{rec.key}.{part}.webp"] = buf.tobytes()
                    members[f"{rec.key}.json"] = read_member(f, *rec.members["json"])
                    for name, data in members.items():
                        info = tarfile.TarInfo(name)
                        info.size = len(data)
                        tar.addfile(info, io.BytesIO(data))
                    n += 1
            if limit is not None and n >= limit:
                break
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--val", type=int, default=64, help="val pairs to take (evenly spread)")
    args = ap.parse_args()
    print("train", pack(args.pairs, args.out, "train", None), "val", pack(args.pairs, args.out, "val", args.val))


if __name__ == "__main__":
    main()
