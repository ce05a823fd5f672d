"""make-pairs: videos -> sharded blurry/sharp face pairs (WebDataset tars), resumable and parallel.

Layout of PAIRS_DIR (with --num-shards n > 1 every file name below gets a `-partNNN` suffix,
so the parts of a job array can share one directory):
    recipe.json               the options that decide pair content (a re-run must match them)
    train/pairs-000000.tar    <key>.blur.png, <key>.sharp.png, <key>.json per pair (--shard-size
                              pairs, or fewer when a shard has been open 10 minutes)
    val/pairs-000000.tar      (only with --val-fraction / --val-list; split by source video)
    progress.jsonl            journal: one line per completed shard (its videos and pairs) and per
                              video that gave no pair; what a re-run skips
    manifest.jsonl            one line per pair (key, split, shard, video, method, L, motion, ...)
    summary.json              pairs per video, L histogram, stop and skip reasons, time
    contact_sheet.png         with --preview: blurry | sharp | L of a sample

Resuming: shards are written under a temporary name and renamed when complete; a shard only
closes between videos, and the journal line is written after the rename. A re-run deletes
temporary files and shards the journal does not know, forgets journalled shards that are gone (a
damaged one deleted), then does the videos not yet journalled.
Pair content depends only on (seed, video name, frame), so a resumed run makes the same keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from streamdeblur.data.shards import TarWriter, atomic_write_text
from streamdeblur.data.video_pairs import PairOptions, VideoStats, video_pairs
from streamdeblur.errors import UserError

log = logging.getLogger("streamdeblur")

SPLITS = ("train", "val")
MANIFEST_FIELDS = ("key", "video", "video_id", "method", "center", "frames", "length", "stop_reason", "motion",
                   "flow_px", "sharpness", "reverse")


@dataclass(frozen=True)
class VideoItem:
    """One input video: its path, a stable display name and a key-safe id derived from the name."""

    path: str
    name: str
    video_id: str


@dataclass(frozen=True)
class MakePairsConfig:
    """Options of a make-pairs run (PairOptions decide the pairs; the rest how the run goes)."""

    pairs: PairOptions = field(default_factory=PairOptions)
    workers: int = 1
    shard_size: int = 1000  # pairs per shard (a shard closes at the first video boundary past it)
    shard_seconds: float = 600.0  # ...or once it has been open this long (bounds the work a kill loses)
    val_fraction: float = 0.0
    val_list: str | None = None  # file with one video name, stem or path a line
    shard_index: int = 0
    num_shards: int = 1
    preview: bool = False
    preview_count: int = 16
    progress: bool = True

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise UserError(f"--workers must be at least 1, got {self.workers}")
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise UserError(f"--shard-index must be in [0, --num-shards), got {self.shard_index} of {self.num_shards}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise UserError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if self.shard_size < 1:
            raise UserError(f"--shard-size must be at least 1, got {self.shard_size}")

    @property
    def suffix(self) -> str:
        """File-name suffix of this part of a job array ('' for a single part)."""
        return "" if self.num_shards == 1 else f"-part{self.shard_index:03d}"


# --- inputs and splits -------------------------------------------------------------------------


def _video_id(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name).stem).strip("_")[:40] or "video"
    return f"{stem}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def list_videos(inputs: Sequence[str | Path]) -> list[VideoItem]:
    """Video files named or found (recursively, by extension) under the inputs, sorted by name."""
    from streamdeblur.io.files import find_videos

    found: dict[str, tuple[str, str]] = {}  # resolved path -> (path, name)
    for v in find_videos(inputs):
        name = f"{v.root.resolve().name}/{v.relative}" if v.in_directory else v.path.name
        found.setdefault(str(v.path.resolve()), (str(v.path), name))
    items, seen = [], Counter()
    for path, name in sorted(found.values(), key=lambda v: (v[1], v[0])):
        seen[name] += 1
        unique = name if seen[name] == 1 else f"{name}~{seen[name]}"
        items.append(VideoItem(path, unique, _video_id(unique)))
    return items


def read_val_list(path: str | Path) -> set[str]:
    """Names in a validation list file (one a line; blank lines and # comments ignored)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--val-list file not found: {path}")
    try:
        text = p.read_text()
    except UnicodeDecodeError:
        raise UserError(f"--val-list {path} is not a text file (one video name a line)") from None
    return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}


def assign_splits(items: Sequence[VideoItem], val_fraction: float = 0.0, val_names: Iterable[str] = (),
                  seed: int = 0) -> dict[str, str]:
    """video_id -> 'train' | 'val', by source video: listed videos (by name, file name, stem or path)
    plus round(val_fraction * n) others chosen by a seeded hash of their names."""
    names = set(val_names)
    split = {}
    for it in items:
        keys = {it.name, Path(it.name).name, Path(it.name).stem, it.path, str(Path(it.path).resolve())}
        split[it.video_id] = "val" if keys & names else "train"
    if val_fraction > 0 and len(items) >= 2:
        want = min(len(items) - 1, max(1, round(val_fraction * len(items))))
        have = sum(s == "val" for s in split.values())
        rest = sorted((hashlib.sha1(f"{seed}:{it.name}".encode()).hexdigest(), it.video_id)
                      for it in items if split[it.video_id] == "train")
        for _, vid in rest[: max(0, want - have)]:
            split[vid] = "val"
    return split


# --- journal -----------------------------------------------------------------------------------


class Journal:
    """Append-only JSON lines, each written whole and synced; a torn last line is ignored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = []
        if path.exists():
            lines = path.read_text(errors="replace").splitlines()
            for number, line in enumerate(lines, 1):
                try:
                    self.records.append(json.loads(line))
                except json.JSONDecodeError:
                    if number < len(lines):  # not a torn last line: one damaged record, the others kept
                        log.warning("%s: line %d is damaged; skipped (what it recorded is made again)", path, number)
            self._rewrite()  # drop a torn tail

    def _rewrite(self) -> None:
        atomic_write_text(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records))

    def append(self, record: dict[str, Any]) -> None:
        """Add one record durably."""
        with open(self.path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.records.append(record)

    def forget_missing(self, out: Path) -> list[str]:
        """Drop the records of completed shards whose file is gone (a damaged one the user deleted): their videos
        are made again. Returns the shards forgotten."""
        gone = [r["shard"] for r in self.records if r.get("type") == "shard" and not (out / r["shard"]).is_file()]
        if gone:
            self.records = [r for r in self.records if not (r.get("type") == "shard" and r["shard"] in gone)]
            self._rewrite()
        return gone

    def videos(self) -> dict[str, dict[str, Any]]:
        """video_id -> its record (name, split, stats, shard) for every journalled video."""
        return {vid: v for r in self.records for vid, v in r.get("videos", {}).items()}

    def shards(self) -> list[str]:
        """Relative paths of the completed shards."""
        return [r["shard"] for r in self.records if r.get("type") == "shard"]

    def entries(self) -> list[dict[str, Any]]:
        """Manifest entries of every pair in completed shards."""
        return [e for r in self.records if r.get("type") == "shard" for e in r["entries"]]


# --- worker ------------------------------------------------------------------------------------


def _init_worker() -> None:
    """One thread per pool worker (the pool is the parallelism); Ctrl-C is the parent's to handle."""
    import signal

    os.environ["OMP_NUM_THREADS"] = "1"  # yuface's OpenMP, read when the detector first loads
    import cv2

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent terminates the pool
    cv2.setNumThreads(1)


def _run_video(task: tuple[VideoItem, str, PairOptions, str]) -> dict[str, Any]:
    """Make one video's pairs into a temporary tar; returns its entries and stats (never raises)."""
    item, split, options, work_dir = task
    stats = VideoStats()
    entries: list[dict[str, Any]] = []
    writer = TarWriter(Path(work_dir) / f"{item.video_id}.tar")
    try:
        for pair in video_pairs(item.path, item.video_id, options, stats, source_name=item.name):
            pair.meta["split"] = split
            writer.add_pair(pair.key, pair.blurry, pair.sharp, pair.meta, pair.frames, pair.targets)
            entries.append({k: pair.meta.get(k) for k in MANIFEST_FIELDS} | {"split": split})
    except Exception as exc:  # noqa: BLE001 - one bad video must not stop the run
        writer.abort()
        stats.error = f"failed: {type(exc).__name__}: {exc}"
        stats.pairs = 0
        return {"item": item, "split": split, "tar": None, "entries": [], "stats": stats.to_json()}
    if entries:
        tar = str(writer.close())
    else:
        writer.abort()
        tar = None
    return {"item": item, "split": split, "tar": tar, "entries": entries, "stats": stats.to_json()}


def _video_record(result: dict[str, Any], shard: str | None) -> dict[str, Any]:
    item: VideoItem = result["item"]
    return {"name": item.name, "path": item.path, "split": result["split"], "shard": shard, **result["stats"]}


class _ShardSink:
    """Collects finished videos of one split into shards; journals each shard once renamed."""

    def __init__(self, out: Path, split: str, suffix: str, next_index: int, shard_size: int, journal: Journal,
                 shard_seconds: float = 600.0) -> None:
        self.out, self.split, self.suffix = out, split, suffix
        self.index, self.shard_size, self.journal = next_index, shard_size, journal
        self.shard_seconds, self.opened = shard_seconds, 0.0
        self.writer: TarWriter | None = None
        self.videos: dict[str, dict[str, Any]] = {}
        self.entries: list[dict[str, Any]] = []

    def _name(self) -> str:
        return f"{self.split}/pairs{self.suffix}-{self.index:06d}.tar"

    def add(self, result: dict[str, Any]) -> None:
        """Append one video's pairs (from its temporary tar) to the open shard."""
        if self.writer is None:
            self.writer = TarWriter(self.out / self._name())
            self.opened = time.monotonic()
        self.writer.add_members_of(Path(result["tar"]))
        Path(result["tar"]).unlink()
        name = self._name()
        self.entries += [e | {"shard": name} for e in result["entries"]]
        self.videos[result["item"].video_id] = _video_record(result, name)
        if len(self.entries) >= self.shard_size or time.monotonic() - self.opened > self.shard_seconds:
            self.flush()

    def flush(self) -> None:
        """Close the open shard (rename into place), then journal it."""
        if self.writer is None:
            return
        self.writer.close()
        self.journal.append({"type": "shard", "shard": self._name(), "split": self.split,
                             "videos": self.videos, "entries": self.entries})
        self.writer, self.videos, self.entries = None, {}, []
        self.index += 1

    def abort(self) -> None:
        """Drop the open shard (its videos are redone by the next run)."""
        if self.writer is not None:
            self.writer.abort()
            self.writer = None


# --- the run -----------------------------------------------------------------------------------


def _recipe(config: MakePairsConfig, val_names: set[str]) -> dict[str, Any]:
    pairs = json.loads(json.dumps(asdict(config.pairs)))
    if config.pairs.detect_size == PairOptions.detect_size:
        del pairs["detect_size"]  # added later: recipes written before it existed (at its default) still match
    if config.pairs.method != "motion":
        del pairs["motion"]  # options of another method do not decide these pairs (and older recipes lack them)
    else:  # the defaults of options added later: recipes written before they existed still match
        for name, default in (("crf_share", 1.0), ("targets", False)):
            if getattr(config.pairs.motion, name) == default:
                del pairs["motion"][name]
    return {"pairs": pairs, "val_fraction": config.val_fraction, "val_list": sorted(val_names),
            "num_shards": config.num_shards}


def _check_recipe(out: Path, recipe: dict[str, Any]) -> None:
    path = out / "recipe.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old != recipe:
            diff = [k for k in sorted(set(old["pairs"]) | set(recipe["pairs"]))
                    if old["pairs"].get(k) != recipe["pairs"].get(k)]
            diff += [k for k in ("val_fraction", "val_list", "num_shards") if old.get(k) != recipe.get(k)]
            raise UserError(f"{out} holds pairs made with other options ({', '.join(diff)}); "
                            "use a new output directory or delete it")
    else:
        theirs = [q for q in (out / "manifest.jsonl", out / "summary.json") if q.exists()]
        theirs += [q for split in SPLITS for q in sorted((out / split).glob("pairs*.tar"))]
        if theirs:  # pairs that no make-pairs run recorded here: _clean would delete their shards
            raise UserError(f"{out} already holds pairs files that no make-pairs run recorded there ({theirs[0]}; no "
                            "recipe.json): give a new output directory")
        atomic_write_text(path, json.dumps(recipe, indent=1, sort_keys=True) + "\n")


def _clean(out: Path, suffix: str, journal: Journal) -> int:
    """Delete this part's temporary files and the shards the journal does not know; returns the count."""
    known = set(journal.shards())
    removed = 0
    for split in SPLITS:
        for p in (out / split).glob(f"pairs{suffix}-*.tar*"):
            rel = f"{split}/{p.name}"
            if p.name.endswith(".tmp") or rel not in known and re.fullmatch(rf"pairs{suffix}-\d+\.tar", p.name):
                p.unlink()
                removed += 1
    shutil.rmtree(out / f".work{suffix}", ignore_errors=True)
    return removed


def _next_index(journal: Journal, split: str) -> int:
    numbers = [int(re.search(r"-(\d+)\.tar$", s).group(1)) for s in journal.shards() if s.startswith(f"{split}/")]
    return max(numbers, default=-1) + 1


def _imap(tasks: list[Any], workers: int) -> Iterator[dict[str, Any]]:
    """Results in task order, from this process or a spawn-started pool."""
    if workers == 1 or len(tasks) <= 1:
        for task in tasks:
            yield _run_video(task)
        return
    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(min(workers, len(tasks)), initializer=_init_worker)
    try:
        yield from pool.imap(_run_video, tasks, chunksize=1)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def make_pairs(inputs: Sequence[str | Path], out_dir: str | Path, config: MakePairsConfig = MakePairsConfig()
               ) -> dict[str, Any]:
    """Make pairs from videos into out_dir; returns the summary. UserError when nothing was produced."""
    started = time.perf_counter()
    items = list_videos(inputs)
    val_names = read_val_list(config.val_list) if config.val_list else set()
    splits = assign_splits(items, config.val_fraction, val_names, config.pairs.seed)
    mine = items[config.shard_index :: config.num_shards]
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"output {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    _check_recipe(out, _recipe(config, val_names))
    suffix = config.suffix
    journal = Journal(out / f"progress{suffix}.jsonl")
    gone = journal.forget_missing(out)
    if gone:
        log.warning("%d finished shard(s) are missing (%s): their videos are made again", len(gone), ", ".join(gone))
    _clean(out, suffix, journal)
    done = journal.videos()
    todo = [it for it in mine if it.video_id not in done]
    work = out / f".work{suffix}"
    work.mkdir(exist_ok=True)
    tasks = [(it, splits[it.video_id], config.pairs, str(work)) for it in todo]
    sinks = {s: _ShardSink(out, s, suffix, _next_index(journal, s), config.shard_size, journal, config.shard_seconds)
             for s in SPLITS}
    new_pairs = 0
    try:
        from streamdeblur.progress import Bar

        with Bar("make-pairs", "videos, {task.fields[pairs]} new pairs, {task.fields[video]}", config.progress) as bar:
            done_before = len(mine) - len(todo)
            bar.update(done_before, len(mine), pairs=0, video="")
            for n, result in enumerate(_imap(tasks, config.workers)):
                if result["entries"]:
                    sinks[result["split"]].add(result)
                else:
                    journal.append({"type": "videos", "videos": {result["item"].video_id: _video_record(result, None)}})
                new_pairs += len(result["entries"])
                bar.update(done_before + n + 1, len(mine), pairs=new_pairs, video=result["item"].name)
        for sink in sinks.values():
            sink.flush()
    except BaseException:
        for sink in sinks.values():
            sink.abort()
        raise
    shutil.rmtree(work, ignore_errors=True)
    summary = build_summary(journal, mine, time.perf_counter() - started, new_pairs, config)
    atomic_write_text(out / f"summary{suffix}.json", json.dumps(summary, indent=1, sort_keys=True) + "\n")
    atomic_write_text(out / f"manifest{suffix}.jsonl",
                      "".join(json.dumps(e, sort_keys=True) + "\n" for e in journal.entries()))
    if config.preview and summary["totals"]["pairs"]:
        from streamdeblur.data.preview import write_contact_sheet

        write_contact_sheet([out / s for s in journal.shards()], out / f"contact_sheet{suffix}.png",
                            count=config.preview_count, seed=config.pairs.seed)
    if summary["totals"]["pairs"] == 0:
        reasons = summary["totals"]["video_errors"] or summary["totals"]["skip_reasons"]
        text = ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items())) or "no videos"
        raise UserError(f"no pairs produced from {len(mine)} video(s) ({text}); see {out / f'summary{suffix}.json'}")
    return summary


def build_summary(journal: Journal, items: Sequence[VideoItem], wall: float, new_pairs: int,
                  config: MakePairsConfig) -> dict[str, Any]:
    """Pairs per video and split, L histogram, stop/skip reasons and timing, from the journal."""
    records = journal.videos()
    videos, lengths, stops, skips, errors, by_split = {}, Counter(), Counter(), Counter(), Counter(), Counter()
    seconds = 0.0
    for it in items:
        rec = records.get(it.video_id)
        if rec is None:
            continue
        videos[it.name] = rec | {"video_id": it.video_id}
        lengths.update({int(k): v for k, v in rec["lengths"].items()})
        stops.update(rec["stop_reasons"])
        skips.update(rec["skipped"])
        by_split[rec["split"]] += rec["pairs"]
        seconds += rec["seconds"]
        if rec["error"]:
            errors[rec["error"].split(":")[0]] += 1
    pairs = sum(by_split.values())
    return {
        "videos": videos,
        "totals": {
            "videos": len(items), "videos_done": len(videos), "videos_with_pairs": sum(v["pairs"] > 0 for v in videos.values()),
            "pairs": pairs, "pairs_by_split": dict(by_split), "length_histogram": {str(k): lengths[k] for k in sorted(lengths)},
            "stop_reasons": dict(stops), "skip_reasons": dict(skips), "video_errors": dict(errors),
            "video_seconds": round(seconds, 2), "pairs_per_video_second": round(pairs / seconds, 3) if seconds else None,
            "this_run": {"new_pairs": new_pairs, "wall_seconds": round(wall, 2), "workers": config.workers},
        },
        "shard": {"index": config.shard_index, "of": config.num_shards},
        "options": json.loads(json.dumps(asdict(replace(config, progress=False)))),
    }


def _range(name: str, text: str) -> tuple[float, float]:
    """'a,b' (or one value 'a') -> (a, b) floats; UserError naming the option otherwise."""
    try:
        values = [float(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise UserError(f"--{name} takes min,max (e.g. --{name} 1,12), got {text!r}")
    return values[0], values[1]


def run_make_pairs(
    inputs: Sequence[str | Path], output: str | Path, *, method: str = "vla", length: str = "7", min_length: int = 5,
    max_length: int = 21, size: int = 256, margin: float = 0.4, stride: int = 4, reverse: bool = False,
    plain_average: bool = False, min_face: float = 64.0, min_sharpness: float = 20.0, min_motion: float = 0.0,
    overlap: float = 0.4, similarity: float = 0.6, noise: float = 2.0, speed: str = "1,12", shutter: str = "0.25,1",
    subframes: str = "2,16", crf: str = "18,32", crf_share: float = 1.0, shake: float = 0.0, frames: int = 1, targets: bool = False,
    seed: int = 0, max_frames: int | None = None, detect_size: int = 640,
    workers: int = 1, shard_size: int = 1000, val_fraction: float = 0.0, val_list: str | None = None,
    shard_index: int = 0, num_shards: int = 1, preview: bool = False, progress: bool = True,
) -> dict[str, Any]:
    """make-pairs from command-line values: validates them (UserError) and runs make_pairs."""
    from streamdeblur.data.blur import VLAConfig
    from streamdeblur.data.exposure import MotionConfig
    from streamdeblur.data.video_pairs import METHODS

    if method not in METHODS:
        raise UserError(f"unknown --method {method!r}; choose one of {', '.join(METHODS)}")
    if size not in (128, 256) and not 16 <= size <= 1024:
        raise UserError(f"--size must be between 16 and 1024 (128 or 256 for the models), got {size}")
    try:
        lengths = tuple(int(x) for x in str(length).split(",") if x.strip())
    except ValueError:
        raise UserError(f"--length takes odd window lengths separated by commas (e.g. 7 or 7,9,11), got {length!r}")
    if max_frames is not None and max_frames < 1:
        raise UserError(f"--max-frames must be at least 1, got {max_frames}")
    ranges = {name: _range(name, text) for name, text in
              (("speed", speed), ("shutter", shutter), ("subframes", subframes), ("crf", crf))}
    try:
        motion = MotionConfig(speed=ranges["speed"], shutter=ranges["shutter"], crf=ranges["crf"],
                              crf_share=crf_share, subframes=(int(ranges["subframes"][0]), int(ranges["subframes"][1])), shake=shake,
                              frames=frames, targets=targets)
        vla = VLAConfig(min_length=min_length, max_length=max_length, overlap=overlap, similarity=similarity,
                        linear=not plain_average)
        options = PairOptions(method=method, lengths=lengths, vla=vla, size=size, margin=margin, stride=stride,
                              reverse=reverse, linear=not plain_average, min_face=min_face, min_sharpness=min_sharpness,
                              min_motion=min_motion, noise=noise, motion=motion, seed=seed, max_frames=max_frames,
                              detect_size=detect_size)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    config = MakePairsConfig(pairs=options, workers=workers, shard_size=shard_size, val_fraction=val_fraction,
                             val_list=val_list, shard_index=shard_index, num_shards=num_shards, preview=preview,
                             progress=progress)
    return make_pairs(inputs, output, config)
