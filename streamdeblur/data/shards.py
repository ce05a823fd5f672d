"""Shards in WebDataset layout: plain tar files whose members are `<key>.<ext>` (key has no dot),
here `<key>.blur.png`, `<key>.sharp.png`, `<key>.json`, the three members of a pair together.

Writers write to `<name>.tmp` and rename when the file is complete, so a killed run never leaves
a half-written shard under its final name. Readers index a shard once (member offsets) and then
read members by offset, which is cheap and works from any process.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from streamdeblur.errors import UserError, short_reason

PAIR_EXTS = ("blur.png", "sharp.png", "json")
_MTIME = 0  # fixed member times: the same pairs give the same bytes


def encode_png(image: np.ndarray, compression: int = 3) -> bytes:
    """Lossless PNG bytes of a uint8 BGR image."""
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:  # pragma: no cover - OpenCV failure
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    """uint8 BGR image from PNG bytes."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable image")
    return image


def split_member_name(name: str) -> tuple[str, str]:
    """'dir/key.blur.png' -> ('dir/key', 'blur.png') (WebDataset: the key ends at the first dot of the basename)."""
    head, _, base = name.rpartition("/")
    key, _, ext = base.partition(".")
    return (f"{head}/{key}" if head else key), ext


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file through a temporary name and rename it into place."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class TarWriter:
    """A tar written under `<path>.tmp`, renamed to `path` by close(); abort() deletes it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.tmp, "wb")
        self._tar = tarfile.open(fileobj=self._file, mode="w", format=tarfile.USTAR_FORMAT)
        self.count = 0  # members written

    def add(self, name: str, data: bytes) -> None:
        """Add one member."""
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = _MTIME
        info.mode = 0o644
        self._tar.addfile(info, io.BytesIO(data))
        self.count += 1

    def add_pair(self, key: str, blurry: np.ndarray, sharp: np.ndarray, meta: dict[str, Any],
                 frames: np.ndarray | None = None, targets: np.ndarray | None = None) -> None:
        """Add one pair: <key>.blur.png, <key>.sharp.png, <key>.json (+ <key>.frames.png: a multi-frame
        group's K blurred crops side by side; + <key>.targets.png: their K sharp frames likewise)."""
        if "." in key or "/" in key:
            raise ValueError(f"pair keys may not hold '.' or '/': {key!r}")
        self.add(f"{key}.blur.png", encode_png(blurry))
        self.add(f"{key}.sharp.png", encode_png(sharp))
        if frames is not None:
            self.add(f"{key}.frames.png", encode_png(frames))
        if targets is not None:
            self.add(f"{key}.targets.png", encode_png(targets))
        self.add(f"{key}.json", json.dumps(meta, sort_keys=True).encode())

    def add_members_of(self, path: Path) -> int:
        """Copy every member of another (complete) tar; returns how many."""
        n = 0
        with tarfile.open(path, "r") as src:
            for member in src:
                if member.isfile():
                    self._tar.addfile(member, src.extractfile(member))
                    self.count += 1
                    n += 1
        return n

    def close(self) -> Path:
        """Finish the tar, flush it to disk and rename it to its final name."""
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the unfinished tar."""
        try:
            self._tar.close()
            self._file.close()
        finally:
            self.tmp.unlink(missing_ok=True)


@dataclass
class PairRecord:
    """Where one pair lives: shard path and (offset, size) of each member, plus its metadata."""

    shard: str
    key: str
    members: dict[str, tuple[int, int]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


class DamagedShard(UserError):
    """A pairs shard that cannot be read (truncated by a copy, or not a tar file): one line naming it (damaged())."""


def damaged(path: str | Path, why: str = "") -> DamagedShard:
    """The DamagedShard of a shard, saying what to do."""
    return DamagedShard(f"pairs shard {path} is damaged ({why or 'truncated or not a tar file'}): delete it and run "
                        "the same `streamdeblur make-pairs` command again (it remakes the missing shard's videos), "
                        "copy it again from where it came from, or move it out of the pairs folder to use the others")


# what a damaged shard raises while it is read: tarfile's errors ("unexpected end of data"), a short member, a
# member that is no PNG or no JSON
_DAMAGE = (tarfile.TarError, EOFError, ValueError, cv2.error, UnicodeDecodeError)


def index_shard(path: str | Path, with_meta: bool = True) -> list[PairRecord]:
    """Complete pairs of one shard in file order (members located by offset; json parsed if asked).
    DamagedShard (a UserError) when the shard cannot be read to its end."""
    records: dict[str, PairRecord] = {}
    try:
        with open(path, "rb") as f, tarfile.open(fileobj=f, mode="r") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, ext = split_member_name(member.name)
                rec = records.setdefault(key, PairRecord(str(path), key))
                rec.members[ext] = (member.offset_data, member.size)
            # tarfile ends quietly where a file cut between members ends; a whole tar ends with zero blocks
            if f.seek(0, os.SEEK_END) < tar.offset + tarfile.BLOCKSIZE:
                raise damaged(path, "it ends without the end-of-archive blocks: truncated")
            if with_meta:
                for rec in records.values():
                    if "json" in rec.members:
                        rec.meta = json.loads(read_member(f, *rec.members["json"]))
    except DamagedShard:
        raise
    except _DAMAGE as exc:
        raise damaged(path, short_reason(exc)) from None
    return [r for r in records.values() if all(e in r.members for e in PAIR_EXTS)]


def read_member(f: Any, offset: int, size: int) -> bytes:
    """Bytes of one tar member from an open binary file (DamagedShard when the file ends before them)."""
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise damaged(getattr(f, "name", "?"), "a member ends past the end of the file")
    return data


def pair_side(path: str | Path) -> int | None:
    """The side in pixels of the first pair's sharp image in a shard (read from its PNG header, nothing decoded);
    None when the shard holds no pair."""
    try:
        with tarfile.open(path, "r|") as tar:
            for member in tar:
                if member.isfile() and split_member_name(member.name)[1] == "sharp.png":
                    head = tar.extractfile(member).read(24)
                    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
                        raise damaged(path, f"{member.name} is not a PNG image")
                    return int.from_bytes(head[20:24], "big")  # IHDR: width, then height
    except DamagedShard:
        raise
    except _DAMAGE as exc:
        raise damaged(path, short_reason(exc)) from None
    return None


def iter_pairs(path: str | Path, frames: bool = False) -> Iterator[tuple]:
    """(key, blurry, sharp, meta) for each complete pair of a shard, streaming it once; with frames=True,
    (key, blurry, sharp, meta, group) where group is the K blurred crops side by side (multi-frame groups'
    <key>.frames.png) or None."""
    current: dict[str, bytes] = {}
    current_key = None
    try:
        with tarfile.open(path, "r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, ext = split_member_name(member.name)
                if key != current_key:
                    if current_key is not None and all(e in current for e in PAIR_EXTS):
                        pair = _decode(current_key, current, frames)
                        yield pair
                    current, current_key = {}, key
                current[ext] = tar.extractfile(member).read()
            if current_key is not None and all(e in current for e in PAIR_EXTS):
                pair = _decode(current_key, current, frames)
                yield pair
    except DamagedShard:
        raise
    except _DAMAGE as exc:
        raise damaged(path, short_reason(exc)) from None


def _decode(key: str, members: dict[str, bytes], frames: bool = False) -> tuple:
    pair = (key, decode_png(members["blur.png"]), decode_png(members["sharp.png"]), json.loads(members["json"]))
    if not frames:
        return pair
    return (*pair, decode_png(members["frames.png"]) if "frames.png" in members else None)


def find_shards(root: str | Path, split: str | None = None) -> list[Path]:
    """Complete shard files (*.tar) under a pairs directory, or one split's, sorted; a .tar path is itself."""
    root = Path(root)
    if root.is_file():
        return [root]
    base = root / split if split else root
    return sorted(p for p in base.rglob("*.tar") if p.is_file())
