"""The papers' models trained on a lent GPU for a fixed wall-clock budget (issue 11, item 5: "a GPU, whenever one is
available, goes first to these"), and brought back slim enough for the device tool (8 files of 16 MiB at most).

On the GPU machine (see gpu_run.sh beside this file):

    gpu_papers.py unpack .gpu/data /tmp/pairs 256,128     WebP pairs (pack_gpu_data.py) -> PNG shards, decoded caches
    gpu_papers.py train NAME MODEL DEADLINE OUT --set k=v  train until the wall clock reaches DEADLINE (unix s):
                                                           a 40-step probe measures the step time, the run is then
                                                           given the steps that fit, its cosine set to end there;
                                                           then export
    gpu_papers.py export RUN_DIR OUT NAME                  what comes back, from the run's last checkpoint
Here:

    gpu_papers.py rebuild BACK NAME RUN_DIR                the brought-back EMA weights and logs -> a run dir whose
                                                           last.pt `streamdeblur release` reads

What comes back per run: the generator's EMA weights in fp16 (split into <= 15 MB files), the run's config, step, wall
time and hardware, and its log.csv / val.csv (the card's curve). Optimiser and discriminator states stay there:
these runs are measured and released, not continued.
"""

from __future__ import annotations

import argparse
import json
import os
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

PART_BYTES = 15_000_000


def _png(data: bytes) -> bytes:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert ok
    return buf.tobytes()


def unpack(src: Path, dst: Path, sizes: list[int]) -> None:
    from streamdeblur.data.cache import build_cache
    from streamdeblur.data.shards import TarWriter, find_shards
    from streamdeblur.paths import cache_dir

    for split in ("train", "val"):
        with tarfile.open(src / f"{split}.tar") as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
        keys = sorted({name.split(".")[0] for name in members})
        with ProcessPoolExecutor() as pool:
            blur = list(pool.map(_png, [members[f"{k}.blur.webp"] for k in keys], chunksize=32))
            sharp = list(pool.map(_png, [members[f"{k}.sharp.webp"] for k in keys], chunksize=32))
        writer = TarWriter(dst / split / "pairs-000000.tar")
        for k, b, s in zip(keys, blur, sharp):
            writer.add(f"{k}.blur.png", b)
            writer.add(f"{k}.sharp.png", s)
            writer.add(f"{k}.json", members[f"{k}.json"])
        writer.close()
        print(split, len(keys), "pairs", flush=True)
        for size in sizes:  # before the runs start side by side: one build per size, not one per run
            t = time.time()
            build_cache(find_shards(dst, split), cache_dir() / "pair-cache", size)
            print(f"cache {split} {size}px {time.time() - t:.0f} s", flush=True)


def _config(name: str, model: str, run: Path, steps: int, sets: list[str]):
    from streamdeblur.train.stages import build_config

    return build_config(assignments=sets, name=name, model=model, run_dir=str(run), steps=steps, quiet=True)


def train(name: str, model: str, deadline: float, out: Path, sets: list[str], work: Path) -> None:
    import csv

    import torch

    from streamdeblur.train.trainer import train as fit

    torch.backends.cudnn.benchmark = True
    run = work / name
    probe = int(os.environ.get("GPU_PROBE", 40))
    cfg = _config(name, model, run, probe, sets + ["lr_horizon=1000000", "val_every=1000000"])
    t0 = time.time()
    if fit(cfg, resume=False).interrupted:  # the deadline came during the probe
        export(run, out, name)
        return
    rows = list(csv.DictReader(open(run / "log.csv")))
    step_s = float(np.median([float(r["step_s"]) for r in rows[len(rows) // 2:]]))
    # the probe's step time is measured while the other runs are still starting: session 47's GPU run most likely
    # took longer a step once all three trained side by side, and ran more than 70 s past its deadline. gpu_run.sh also
    # stops each run with SIGTERM at the deadline (the trainer checkpoints and returns), so this only aims the
    # cosine's end at where the run will stop.
    left = deadline - time.time() - 45  # the last checkpoint and validation, and the export
    steps = max(probe + 10, int(0.75 * left / step_s))
    print(f"[{name}] probe {time.time() - t0:.0f} s, {step_s * 1000:.1f} ms a step: {steps} steps", flush=True)
    every = max(100, steps // 5)
    cfg = _config(name, model, run, steps, sets + [f"lr_horizon={steps}", f"val_every={every}", f"ckpt_every={every}"])
    result = fit(cfg, resume=True)
    print(f"[{name}] {'stopped at the deadline' if result.interrupted else 'done'}: step {result.step}, "
          f"{time.time() - t0:.0f} s", flush=True)
    export(run, out, name)


def export(run: Path, out: Path, name: str) -> None:
    """<out>/<name>-ema-K.safetensors (fp16, <= PART_BYTES each; the device tool brings back 8 files at most) and
    <out>/meta/<name>/: run.json, log.csv, val.csv, config.json (gpu_run.sh tars meta/ into one file)."""
    import torch
    from safetensors.torch import save_file

    from streamdeblur.train.stages import CHECKPOINT

    state = torch.load(run / CHECKPOINT, map_location="cpu", weights_only=False)
    ema = {k: v.half() if v.is_floating_point() else v for k, v in state["ema"]["module"].items()}
    parts: list[dict] = [{}]
    size = 0  # bytes in parts[-1]
    for k, v in ema.items():
        nbytes = v.numel() * v.element_size()
        if parts[-1] and size + nbytes > PART_BYTES:
            parts.append({})
            size = 0
        parts[-1][k] = v.contiguous()
        size += nbytes
    meta_dir = out / "meta" / name
    meta_dir.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(parts):
        save_file(p, str(out / f"{name}-ema-{i}.safetensors"))
    meta = {k: state[k] for k in ("format", "step", "wall_time", "hardware", "world", "config") if k in state}
    meta["ema_updates"] = state["ema"]["updates"]
    (meta_dir / "run.json").write_text(json.dumps(meta, indent=1, default=str))
    for f in ("log.csv", "val.csv", "config.json"):
        if (run / f).is_file():
            (meta_dir / f).write_bytes((run / f).read_bytes())


def _meta_file(src: Path, name: str, file: str) -> bytes | None:
    """meta/NAME/FILE of what came back: from meta/ where it was unpacked, else straight from meta.tar (the device
    tool's files are read-only where they land)."""
    path = src / "meta" / name / file
    if path.is_file():
        return path.read_bytes()
    if not (src / "meta.tar").is_file():
        return None
    with tarfile.open(src / "meta.tar") as tar:
        try:
            member = tar.extractfile(f"meta/{name}/{file}")
        except KeyError:
            return None
        return member.read() if member else None


def rebuild(src: Path, name: str, run: Path) -> None:
    """A run dir with a last.pt that release() reads: EMA weights as brought back; the networks' raw weights set to
    the EMA's (release uses the EMA); a cGAN's frozen HG from its --hg-weights file; the discriminator as built."""
    import torch
    from safetensors.torch import load_file

    from streamdeblur.models import get_spec
    from streamdeblur.train.stages import CHECKPOINT, load_into

    data = _meta_file(src, name, "run.json")
    if data is None:
        raise SystemExit(f"no meta/{name}/run.json in {src} (nor in its meta.tar)")
    meta = json.loads(data)
    ema: dict = {}
    for f in sorted(src.glob(f"{name}-ema-*.safetensors")):
        ema.update(load_file(str(f)))
    if not ema:
        raise SystemExit(f"no {name}-ema-*.safetensors in {src}")
    parts = get_spec(meta["config"]["model"]).build_parts()
    own = parts["g"].state_dict()
    ema = {k: v.to(own[k].dtype) for k, v in ema.items()}
    models = {}
    for k, m in parts.items():
        if k == "g":
            models[k] = ema
        elif k == "hg":
            load_into(m, meta["config"]["hg_weights"], "hg")
            models[k] = m.state_dict()
        else:
            models[k] = m.state_dict()
    run.mkdir(parents=True, exist_ok=True)
    for f in ("log.csv", "val.csv", "config.json"):
        data = _meta_file(src, name, f)
        if data is not None:
            (run / f).write_bytes(data)
    state = {k: meta[k] for k in ("format", "step", "wall_time", "hardware", "world", "config") if k in meta}
    state.update(models=models, ema={"module": ema, "updates": meta["ema_updates"]})
    torch.save(state, run / CHECKPOINT)
    print(run / CHECKPOINT, "step", meta["step"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("unpack")
    u.add_argument("src", type=Path)
    u.add_argument("dst", type=Path)
    u.add_argument("sizes")
    t = sub.add_parser("train")
    t.add_argument("name")
    t.add_argument("model")
    t.add_argument("deadline", type=float)
    t.add_argument("out", type=Path)
    t.add_argument("--work", type=Path, default=Path("/tmp/runs"))
    t.add_argument("--set", action="append", default=[])
    e = sub.add_parser("export")
    e.add_argument("run", type=Path)
    e.add_argument("out", type=Path)
    e.add_argument("name")
    r = sub.add_parser("rebuild")
    r.add_argument("src", type=Path, help="the folder holding what came back (meta.tar, or meta/ unpacked from it)")
    r.add_argument("name")
    r.add_argument("run", type=Path)
    args = ap.parse_args()
    if args.cmd == "unpack":
        unpack(args.src, args.dst, [int(s) for s in args.sizes.split(",")])
    elif args.cmd == "train":
        train(args.name, args.model, args.deadline, args.out, args.set, args.work)
    elif args.cmd == "export":
        export(args.run, args.out, args.name)
    else:
        rebuild(args.src, args.name, args.run)


if __name__ == "__main__":
    main()
