"""Session 46: does naf-t3m-hd get steadier (and sharper) when it sees its own previous output?

An experiment on pairs, outside the package (not run by CI), to decide whether a recurrent engine is worth
building into `process` (issue 13's flicker bar). The network is naf-t3m-hd's (NAFNet, 3 frames, delta, 256 px),
warm-started from the released v1 weights. Its input slot for the previous frame gets, in the recurrent variant,
the network's own output for the previous frame re-cut into this frame's alignment (the same affine that
faces.flow.recut_stack applies to a neighbour crop), instead of the blurred previous crop.

Data: pairs.sh's motion-256c-5t, groups of 5 consecutive exposures with their sharp frames and crop matrices,
decoded once into a uint8 memmap under ~/.cache/streamdeblur/session46. Training (full 256-px crops, no
augmentation): o2 = f(b1, b2, b3), then o3 = f(P, b3, b4) with P = recut(o2) (recurrent) or b2 (the control,
the plain engine); PSNR loss on o2 and o3; the previous output is detached (feedback, not backpropagated).

Validation on the val groups, a 3-step chain per group: o1 = f(b0, b1, b2), o2 = f(P1, b2, b3), o3 = f(P2, b3, b4).
Reported: PSNR gain over the blurred frame on frames 2 and 3, and the flicker not in the sharp frames at 2 -> 3:
mean |(o3 - recut(o2)) - (s3 - recut(s2))| in grey levels over the crop's inner part (the blurred input's the same
way), the pairs' version of `eval --video`'s column.

Usage: recurrent.py train NAME --recurrent 1|0 --steps N     (resumes from its last.pt)
       recurrent.py val [NAME|v1] --recurrent 1|0
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from streamdeblur.data.shards import decode_png, index_shard, read_member
from streamdeblur.faces.flow import RECUT_MAX_SHIFT, recut_stack
from streamdeblur.models import load_model

ROOT = Path.home() / ".cache/streamdeblur/session46"
PAIRS = Path.home() / ".cache/streamdeblur/pairs/motion-256c-5t"
REPO = Path(__file__).resolve().parents[3]
S = 256


def cache(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 10, S, S, 3) uint8 BGR (5 exposures, then their 5 sharp frames) and (N, 5, 2, 3) crop matrices."""
    path, mats = ROOT / f"{split}.u8.npy", ROOT / f"{split}.mat.npy"
    if not path.is_file():
        ROOT.mkdir(parents=True, exist_ok=True)
        recs = [r for s in sorted(glob.glob(str(PAIRS / split / "*.tar"))) for r in index_shard(s)]
        recs = [r for r in recs if "targets.png" in r.members and int(r.meta.get("group", 1)) == 5
                and r.meta.get("group_matrices") and int(r.meta.get("size", 0)) == S]
        tmp = path.with_name(path.name + ".tmp.npy")
        data = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(recs), 10, S, S, 3))
        m = np.zeros((len(recs), 5, 2, 3), np.float32)
        for i, r in enumerate(recs):
            with open(r.shard, "rb") as f:
                strip = decode_png(read_member(f, *r.members["frames.png"]))
                targets = decode_png(read_member(f, *r.members["targets.png"]))
            for k in range(5):
                data[i, k] = strip[:, k * S:(k + 1) * S]
                data[i, 5 + k] = targets[:, k * S:(k + 1) * S]
            m[i] = np.asarray(r.meta["group_matrices"], np.float32)
        data.flush()
        del data
        np.save(mats, m)
        Path(tmp).rename(path)
    return np.load(path, mmap_mode="r"), np.load(mats)


def tensor(images: np.ndarray) -> torch.Tensor:
    """(..., H, W, 3) uint8 BGR -> (..., 3, H, W) float RGB in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images[..., ::-1]))
    return x.movedim(-1, -3).float().div_(255.0)


def recut_matrix(own: np.ndarray, middle: np.ndarray) -> np.ndarray | None:
    """3x3: crop `own`'s pixels -> crop `middle`'s (None where recut_stack would leave the neighbour as it is)."""
    a = np.vstack([middle.astype(np.float64), [0, 0, 1]]) @ np.linalg.inv(np.vstack([own.astype(np.float64), [0, 0, 1]]))
    c = np.array([S / 2, S / 2, 1.0])
    return None if np.hypot(*((a @ c)[:2] - c[:2])) > RECUT_MAX_SHIFT * S else a


def warp(images: torch.Tensor, matrices: list[np.ndarray | None]) -> torch.Tensor:
    """Each (3, S, S) image moved by its 3x3 pixel matrix (as cv2.warpAffine, border replicated)."""
    n = np.array([[2 / (S - 1), 0, -1], [0, 2 / (S - 1), -1], [0, 0, 1]])
    thetas = []
    for a in matrices:
        inv = np.eye(3) if a is None else np.linalg.inv(a)
        thetas.append((n @ inv @ np.linalg.inv(n))[:2])
    theta = torch.tensor(np.stack(thetas), dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=True)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=True)


def window(group: np.ndarray, mats: np.ndarray, t: int) -> np.ndarray:
    """Exposures t-1, t, t+1 re-cut in exposure t's alignment, (S, S, 9) uint8 BGR (as the cache's 'centre')."""
    stack = np.concatenate([group[t - 1], group[t], group[t + 1]], axis=2)
    return recut_stack(stack, [mats[t - 1], mats[t], mats[t + 1]])


def batch(data: np.ndarray, mats: np.ndarray, idx: np.ndarray, ts: list[int]) -> dict:
    groups = [np.asarray(data[i]) for i in idx]
    out = {"x": {t: torch.stack([tensor(window(g, mats[i], t)).reshape(9, S, S) for g, i in zip(groups, idx)])
                 for t in ts},
           "s": {t: torch.stack([tensor(g[5 + t]) for g in groups]) for t in ts},
           "m": {t: [recut_matrix(mats[i][t - 1], mats[i][t]) for i in idx] for t in ts}}
    return out


def step_input(x: torch.Tensor, prev: torch.Tensor | None) -> torch.Tensor:
    return x if prev is None else torch.cat([prev, x[:, 3:]], dim=1)


def network(name: str) -> torch.nn.Module:
    net = load_model("naf-t3m-hd", REPO / "engines/naf-t3m-hd/model.safetensors").net
    if name != "v1":
        net.load_state_dict(torch.load(ROOT / name / "last.pt", weights_only=True)["net"])
    return net


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return -10 * torch.log10(((a.clamp(0, 1) - b) ** 2).flatten(1).mean(1).clamp_min(1e-10))


def train(name: str, recurrent: bool, steps: int, bs: int, lr: float) -> None:
    data, mats = cache("train")
    run = ROOT / name
    run.mkdir(parents=True, exist_ok=True)
    net = network("v1").train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, betas=(0.9, 0.9), weight_decay=0.0)
    start = 0
    if (run / "last.pt").is_file():
        ck = torch.load(run / "last.pt", weights_only=False)
        net.load_state_dict(ck["net"]); opt.load_state_dict(ck["opt"]); start = ck["step"]
    log = (run / "log.csv").open("a")
    t0 = time.perf_counter()
    for step in range(start, steps):
        for g in opt.param_groups:
            g["lr"] = 1e-6 + 0.5 * (lr - 1e-6) * (1 + math.cos(math.pi * step / steps))
        idx = np.random.default_rng([7, step]).integers(0, len(data), bs)
        b = batch(data, mats, idx, [2, 3])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            o2 = net(b["x"][2]).float()
        prev = warp(o2.detach().clamp(0, 1), b["m"][3]) if recurrent else None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            o3 = net(step_input(b["x"][3], prev)).float()
        loss = -(psnr(o2, b["s"][2]).mean() + psnr(o3, b["s"][3]).mean()) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        log.write(f"{step + 1},{loss.item():.4f},{time.perf_counter() - t0:.1f}\n")
        if (step + 1) % 50 == 0 or step + 1 == steps:
            log.flush()
            torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "step": step + 1}, run / "last.tmp")
            (run / "last.tmp").replace(run / "last.pt")
            print(f"{name} step {step + 1} loss {loss.item():.3f} {(time.perf_counter() - t0) / (step + 1 - start):.2f} s/step",
                  flush=True)


@torch.no_grad()
def val(name: str, recurrent: bool, bs: int = 8) -> dict:
    data, mats = cache("val")
    net = network(name).eval()
    inner = slice(24, S - 24)
    rows = {"gain2": [], "gain3": [], "flicker": [], "flicker_in": []}
    for lo in range(0, len(data), bs):
        idx = np.arange(lo, min(lo + bs, len(data)))
        b = batch(data, mats, idx, [1, 2, 3])
        o, prev = {}, None
        for t in (1, 2, 3):
            if prev is not None:
                prev = warp(prev, b["m"][t])
            o[t] = net(step_input(b["x"][t], prev if recurrent else None)).clamp(0, 1)
            prev = o[t]
        blur = {t: b["x"][t][:, 3:6] for t in (2, 3)}
        for t in (2, 3):
            rows[f"gain{t}"] += (psnr(o[t], b["s"][t]) - psnr(blur[t], b["s"][t])).tolist()
        sharp_change = b["s"][3] - warp(b["s"][2], b["m"][3])
        for key, a2, a3 in (("flicker", o[2], o[3]), ("flicker_in", blur[2], blur[3])):
            err = ((a3 - warp(a2, b["m"][3])) - sharp_change)[..., inner, inner].abs().flatten(1).mean(1) * 255
            rows[key] += err.tolist()
    out = {k: round(float(np.mean(v)), 4) for k, v in rows.items()}
    out.update(name=name, recurrent=recurrent, groups=len(data))
    print(json.dumps(out), flush=True)
    with (ROOT / "val.jsonl").open("a") as f:
        f.write(json.dumps(out) + "\n")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["train", "val", "cache"])
    ap.add_argument("name", nargs="?", default="v1")
    ap.add_argument("--recurrent", type=int, default=1)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2.5e-4)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.what == "cache":
        print({s: cache(s)[0].shape for s in ("train", "val")})
    elif a.what == "train":
        train(a.name, bool(a.recurrent), a.steps, a.batch, a.lr)
    else:
        val(a.name, bool(a.recurrent))
