"""Would telling the engine the blur help, and can `process` know it? (issue 13; engines/naf/NOTES.md, session 31)

Three measurements, each from released naf, none of which changes a shipped engine:

  python engines/recipes/motion_hint.py synthetic [--steps 1500]
      Sharp faces of motion-256c (128 px) blurred on the fly by random linear kernels (length 0-8 px, any angle,
      linear light, noise up to 2 grey levels, one in five left sharp). Two arms with the same batches: 'blind'
      (naf as it is, three zero input planes) and 'hint', given the kernel as three constant planes
      (L cos 2t, L sin 2t, L) / 8 (a line kernel has no sign, hence the doubled angle). Its extra input weights
      start at zero, so both arms start as naf exactly.
  python engines/recipes/motion_hint.py real [--steps 1500] [--arms blind,hint,hint-est]
      The realistic motion-256c pairs (flow-interpolated exposures, codec, noise, shake). Each pair's blur is
      summarised by the line kernel that best maps its sharp face onto its blurred one (a grid of 25 lengths x
      16 angles, grey, linear light, the central half of the crop). 'hint-est' trains and is scored with that
      hint degraded to what `process` can measure (below).
  python engines/recipes/motion_hint.py estimate
      On the val clips blurred as `eval --video --exposure shutter --blur motion:4,motion:8` does, how well does
      the motion between consecutive blurred frames (the face box, the landmarks, or the median DIS flow of the
      face region from the previous frame; or from both neighbours, which costs a frame of lag) predict each
      face's fitted kernel?

  python engines/recipes/motion_hint.py groups [--steps 1500]
      The hint as `process` could measure it, with no sharp frame involved: on the 3-exposure groups of
      motion-128c, the median DIS flow of the face region from the centre exposure to each neighbour (both cut
      in the centre's alignment), half their difference, as crop pixels per frame. Arms 'blind' and 'hint'
      (the flow given as the planes above); scored per band of the fitted kernel length.
  python engines/recipes/motion_hint.py neighbours [--steps 1500] [--arms centre,warped+flow,warped]
      The same groups, a temporal engine's inputs at equal training: the two neighbouring exposures as differences
      from the centre crop, re-cut in the centre's alignment ('centre': the motion left in), or also warped onto it
      by DIS flow as naf-t3f's are ('warped'), or warped and given the two flow fields as planes ('warped+flow').
      A blind arm of as many steps on the same batches (at 1500 steps, groups' own blind arm).

Pairs come from pairs.sh (motion-256c; motion-128c for groups), val clips from $CACHE/reports/valclips (the held-out clips of eval).
Runs write to $CACHE/motion-hint/; a finished arm's weights are reused by the next call.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from streamdeblur.data.blur import linear_to_srgb, srgb_to_linear
from streamdeblur.data.shards import iter_pairs
from streamdeblur.faces.flow import recut_stack
from streamdeblur.models import NAF
from streamdeblur.nets.nafnet import NAFNet

CACHE = Path(os.environ.get("CACHE", Path.home() / ".cache/streamdeblur"))
PAIRS = CACHE / "pairs/motion-256c"
OUT = CACHE / "motion-hint"
REPO = Path(__file__).resolve().parents[2]
S = 128  # naf's crop
ANGLES = np.linspace(0, math.pi, 16, endpoint=False)
LENGTHS = np.concatenate([[0.0], np.arange(0.5, 12.01, 0.5)])


def line_kernel(length: float, angle: float) -> np.ndarray:
    """A linear motion kernel: `length` px along `angle`, bilinearly rasterised, summing to 1."""
    r = int(math.ceil(length / 2)) + 1
    k = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
    if length < 1e-3:
        k[r, r] = 1
        return k
    for s in np.linspace(-length / 2, length / 2, 64):
        x, y = r + s * math.cos(angle), r + s * math.sin(angle)
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - x0, y - y0
        k[y0, x0] += (1 - fx) * (1 - fy)
        k[y0, x0 + 1] += fx * (1 - fy)
        k[y0 + 1, x0] += (1 - fx) * fy
        k[y0 + 1, x0 + 1] += fx * fy
    return k / k.sum()


FITTED_BANDS = [(0, 0.25), (0.25, 1), (1, 2), (2, 4), (4, 13), (0, 13)]  # fitted kernel length (px) bands of a table
KERNELS = {(i, j): line_kernel(L, t) for i, L in enumerate(LENGTHS) for j, t in enumerate(ANGLES)}


def blur(image: np.ndarray, length: float, angle: float, noise: float, rng: np.random.Generator) -> np.ndarray:
    out = linear_to_srgb(cv2.filter2D(srgb_to_linear(image), -1, line_kernel(length, angle),
                                      borderType=cv2.BORDER_REFLECT)).astype(np.float32)
    return np.clip(np.round(out + rng.normal(0, noise, out.shape)), 0, 255).astype(np.uint8)


def fit_kernel(blurry: np.ndarray, sharp: np.ndarray) -> tuple[float, float]:
    """(length, angle) of the line kernel that best explains blurry from sharp (grey, linear light, central half)."""
    b = srgb_to_linear(cv2.cvtColor(blurry, cv2.COLOR_BGR2GRAY))
    s = srgb_to_linear(cv2.cvtColor(sharp, cv2.COLOR_BGR2GRAY))
    c = slice(S // 4, 3 * S // 4)
    best = (math.inf, 0.0, 0.0)
    for (i, j), k in KERNELS.items():
        if i == 0 and j > 0:
            continue
        e = float(np.mean((cv2.filter2D(s, -1, k, borderType=cv2.BORDER_REFLECT)[c, c] - b[c, c]) ** 2))
        if e < best[0]:
            best = (e, float(LENGTHS[i]), float(ANGLES[j]))
    return best[1], best[2]


def estimated(length: float, angle: float, rng: np.random.Generator) -> tuple[float, float]:
    """The hint degraded to what `estimate` measured for the flow between consecutive blurred frames: the direction
    within 30 degrees for about 62 % of blurred faces (random for 38 %, else 15 degrees of noise), the length with
    a log-normal factor of sigma 0.5 (Spearman about 0.66)."""
    angle = rng.uniform(0, math.pi) if rng.random() < 0.38 else angle + rng.normal(0, math.radians(15))
    return length * float(np.exp(rng.normal(0, 0.5))), angle


def hint_planes(length: float, angle: float, h: int, w: int) -> np.ndarray:
    v = np.array([length * math.cos(2 * angle), length * math.sin(2 * angle), length], np.float32) / 8
    return np.broadcast_to(v[:, None, None], (3, h, w))


def naf_with_hint(extra: int = 3) -> NAFNet:
    """Released naf with `extra` more input planes whose weights start at zero (so it starts as naf)."""
    from safetensors.torch import load_file

    net = NAFNet(**NAF)
    net.load_state_dict({k[4:]: v.float() for k, v in load_file(REPO / "engines/naf/model.safetensors").items()})
    old, new = net.intro, torch.nn.Conv2d(3 + extra, net.intro.out_channels, 3, padding=1)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, :3] = old.weight
        new.bias.copy_(old.bias)
    net.intro = new
    return net


def tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).float()


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return -10 * torch.log10(((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10))


def planes_for(mode: str, length: float, angle: float, rng: np.random.Generator, size: int) -> np.ndarray:
    if mode == "zero":
        return np.zeros((3, size, size), np.float32)
    if mode == "est":
        length, angle = estimated(length, angle, rng)
    return hint_planes(length, angle, size, size)


def train_arm(arm: str, draw, steps: int, path: Path, extra: int = 3) -> NAFNet:
    """draw(rng, mode) -> (x, y) batches; AdamW 5e-4 cosine, PSNR loss, bf16 autocast, as train.sh's naf runs."""
    net = naf_with_hint(extra)
    if path.is_file():
        net.load_state_dict(torch.load(path))
        return net.eval()
    rng = np.random.default_rng(7)
    mode = {"blind": "zero", "hint": "true", "hint-est": "est"}.get(arm, arm)
    opt = torch.optim.AdamW(net.parameters(), lr=5e-4, betas=(0.9, 0.9), weight_decay=0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    t0 = time.time()
    net.train()
    for step in range(steps):
        x, y = draw(rng, mode)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(x)
        loss = -psnr(out.float(), y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0:
            print(f"{arm} step {step} loss {float(loss.detach()):.3f} {time.time() - t0:.0f} s", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return net.eval()


def score(nets: dict[str, tuple[NAFNet, str | Callable[[int], np.ndarray]]],
          faces: list[tuple[np.ndarray, np.ndarray, float, float]], bands: list[tuple[float, float]], out: Path) -> None:
    """Gain over the blurred input per band of kernel length, every net in its hint mode (a planes_for mode, or a
    function of the face's index giving its planes); a table and a JSON."""
    rng = np.random.default_rng(123)
    rows = []
    with torch.no_grad():
        for i, (blurry, sharp, length, angle) in enumerate(faces):
            x, y = tensor(blurry.transpose(2, 0, 1)[None] / 255.0), tensor(sharp.transpose(2, 0, 1)[None] / 255.0)
            row = {"L": length, "input": float(psnr(x, y))}
            for name, (net, mode) in nets.items():
                planes = tensor((mode(i) if callable(mode) else planes_for(mode, length, angle, rng, S))[None])
                restored = net(torch.cat([x, planes], 1)).clamp(0, 1)
                row[name] = float(psnr((restored * 255).round() / 255, y))
            rows.append(row)
    out.write_text(json.dumps(rows))
    print("kernel length | faces | blurred dB | " + " | ".join(nets))
    for lo, hi in bands:
        sel = [r for r in rows if lo <= r["L"] < hi]
        if sel:
            print(f"{lo}-{hi} px | {len(sel)} | {np.mean([r['input'] for r in sel]):.2f} | " +
                  " | ".join(f"{np.mean([r[n] - r['input'] for r in sel]):+.3f}" for n in nets))


def pairs(split: str) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for shard in sorted((PAIRS / split).glob("*.tar")):
        for _key, blurry, sharp, _meta in iter_pairs(shard):
            out.append(tuple(cv2.resize(im, (S, S), interpolation=cv2.INTER_AREA) for im in (blurry, sharp)))
    return out


def synthetic(steps: int) -> None:
    train = np.stack([s for _, s in pairs("train")])
    val = np.stack([s for _, s in pairs("val")])

    def kernel(rng):
        return 0.0 if rng.random() < 0.2 else rng.uniform(0.5, 8.0), rng.uniform(0, math.pi), rng.uniform(0, 2.0)

    def draw(rng, mode, patch=96, batch=8):
        xs, ys = [], []
        for _ in range(batch):
            i = rng.integers(len(train))
            y0, x0 = rng.integers(0, S - patch + 1, 2)
            sharp = train[i, y0:y0 + patch, x0:x0 + patch]
            sharp = np.ascontiguousarray(sharp[:, ::-1] if rng.random() < 0.5 else sharp)
            length, angle, noise = kernel(rng)
            xs.append(np.concatenate([blur(sharp, length, angle, noise, rng).transpose(2, 0, 1) / 255.0,
                                      planes_for(mode, length, angle, rng, patch)]))
            ys.append(sharp.transpose(2, 0, 1) / 255.0)
        return tensor(np.stack(xs)), tensor(np.stack(ys))

    rng = np.random.default_rng(123)
    faces = []
    for sharp in val:
        length, angle, noise = kernel(rng)
        faces.append((blur(sharp, length, angle, noise, rng), sharp, length, angle))
    hint = train_arm("hint", draw, steps, OUT / f"synthetic-hint-{steps}.pt")
    nets = {"naf": (naf_with_hint().eval(), "zero"),
            "blind": (train_arm("blind", draw, steps, OUT / f"synthetic-blind-{steps}.pt"), "zero"),
            "hint": (hint, "true"), "hint, est. hint": (hint, "est")}
    score(nets, faces, [(0, 0.01), (0.01, 2), (2, 4), (4, 6), (6, 9), (0, 9)], OUT / f"synthetic-{steps}.json")


def real(steps: int, arms: list[str]) -> None:
    cache = OUT / "real-pairs.npz"
    if cache.is_file():
        z = np.load(cache)
        data = {split: (z[f"{split}_x"], z[f"{split}_y"], z[f"{split}_k"]) for split in ("train", "val")}
    else:
        data = {}
        for split in ("train", "val"):
            p = pairs(split)
            data[split] = (np.stack([b for b, _ in p]), np.stack([s for _, s in p]),
                           np.array([fit_kernel(b, s) for b, s in p], np.float32))
        OUT.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **{f"{split}_{k}": v for split, d in data.items() for k, v in zip("xyk", d)})
    bx, by, bk = data["train"]

    def draw(rng, mode, patch=96, batch=8):
        xs, ys = [], []
        for _ in range(batch):
            i = rng.integers(len(bx))
            y0, x0 = rng.integers(0, S - patch + 1, 2)
            b, s = bx[i, y0:y0 + patch, x0:x0 + patch], by[i, y0:y0 + patch, x0:x0 + patch]
            length, angle = float(bk[i, 0]), float(bk[i, 1])
            if rng.random() < 0.5:
                b, s, angle = b[:, ::-1], s[:, ::-1], math.pi - angle
            xs.append(np.concatenate([np.ascontiguousarray(b).transpose(2, 0, 1) / 255.0,
                                      planes_for(mode, length, angle, rng, patch)]))
            ys.append(np.ascontiguousarray(s).transpose(2, 0, 1) / 255.0)
        return tensor(np.stack(xs)), tensor(np.stack(ys))

    nets: dict[str, tuple[NAFNet, str]] = {"naf": (naf_with_hint().eval(), "zero")}
    for arm in arms:
        net = train_arm(arm, draw, steps, OUT / f"real-{arm}-{steps}.pt")
        if arm == "blind":
            nets[arm] = (net, "zero")
        else:
            nets[f"{arm}, true hint"] = (net, "true")
            nets[f"{arm}, est. hint"] = (net, "est")
            nets[f"{arm}, no hint"] = (net, "zero")
    vx, vy, vk = data["val"]
    faces = [(vx[i], vy[i], float(vk[i, 0]), float(vk[i, 1])) for i in range(len(vx))]
    score(nets, faces, FITTED_BANDS, OUT / f"real-{steps}.json")


def in_centre_alignment(group: np.ndarray, matrices: list) -> list[np.ndarray]:
    """A K-exposure group (K x S crops side by side, each in its own alignment) with every crop re-cut in the
    centre exposure's alignment, as naf-t3m's training cache and `process` do (faces.flow.recut_stack)."""
    crops = [group[:, i * S:(i + 1) * S] for i in range(len(matrices))]
    return [np.ascontiguousarray(c) for c in np.split(recut_stack(np.concatenate(crops, axis=2), matrices),
                                                      len(matrices), axis=2)]


def centre_motion(group: np.ndarray, matrices: list, dis: cv2.DISOpticalFlow) -> np.ndarray:
    """The face's motion per frame at the centre exposure of a 3-exposure group: the median DIS flow of the central
    region from the centre to each neighbour, both in the centre's alignment, half their difference (crop px)."""
    before, centre, after = (cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for c in in_centre_alignment(group, matrices))
    region = (slice(S // 4, 3 * S // 4),) * 2
    flows = [np.median(dis.calc(centre, n, None)[region].reshape(-1, 2), axis=0) for n in (before, after)]
    return (flows[1] - flows[0]) / 2


def three_exposure_groups(split: str):
    """(centre exposure, sharp target, meta, group strip) of motion-128c's 3-exposure groups of 128-px faces."""
    for shard in sorted((CACHE / "pairs/motion-128c" / split).glob("*.tar")):
        for _key, blurry, sharp, meta, group in iter_pairs(shard, frames=True):
            if group is not None and len(meta.get("group_matrices") or []) == 3 and blurry.shape[0] == S:
                yield blurry, sharp, meta, group


def groups_data() -> dict[str, tuple[np.ndarray, ...]]:
    """Per split of motion-128c's 3-exposure groups: centre exposures, sharp targets, fitted kernels, flow motion."""
    cache = OUT / "groups.npz"
    if cache.is_file():
        z = np.load(cache)
        data = {split: (z[f"{split}_x"], z[f"{split}_y"], z[f"{split}_k"], z[f"{split}_m"]) for split in ("train", "val")}
    else:
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        data = {}
        for split in ("train", "val"):
            xs, ys, ks, ms = [], [], [], []
            for blurry, sharp, meta, group in three_exposure_groups(split):
                xs.append(blurry)
                ys.append(sharp)
                ks.append(fit_kernel(blurry, sharp))
                ms.append(centre_motion(group, meta["group_matrices"], dis))
            data[split] = (np.stack(xs), np.stack(ys), np.array(ks, np.float32), np.array(ms, np.float32))
            print(split, len(xs), "groups", flush=True)
        OUT.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **{f"{split}_{k}": v for split, d in data.items() for k, v in zip("xykm", d)})
    return data


def groups(steps: int) -> None:
    data = groups_data()
    bx, by, _bk, bm = data["train"]

    def motion_planes(m: np.ndarray, patch: int) -> np.ndarray:
        return hint_planes(float(np.hypot(m[0], m[1])), float(np.arctan2(m[1], m[0])), patch, patch)

    def draw(rng, mode, patch=96, batch=8):
        xs, ys = [], []
        for _ in range(batch):
            i = rng.integers(len(bx))
            y0, x0 = rng.integers(0, S - patch + 1, 2)
            b, s, m = bx[i, y0:y0 + patch, x0:x0 + patch], by[i, y0:y0 + patch, x0:x0 + patch], bm[i].copy()
            if rng.random() < 0.5:
                b, s, m = b[:, ::-1], s[:, ::-1], m * np.array([-1, 1], np.float32)
            planes = motion_planes(m, patch) if mode == "true" else np.zeros((3, patch, patch), np.float32)
            xs.append(np.concatenate([np.ascontiguousarray(b).transpose(2, 0, 1) / 255.0, planes]))
            ys.append(np.ascontiguousarray(s).transpose(2, 0, 1) / 255.0)
        return tensor(np.stack(xs)), tensor(np.stack(ys))

    vx, vy, vk, vm = data["val"]
    length, angle = np.hypot(vm[:, 0], vm[:, 1]), np.arctan2(vm[:, 1], vm[:, 0])
    within = np.cos(2 * (angle - vk[:, 1]))[vk[:, 0] >= 1.5] > 0.5
    print(f"val: flow motion against the fitted kernel: Spearman {spearman(vk[:, 0], length):.2f}, direction within "
          f"30 deg for {within.mean():.0%} of {within.size} faces with a kernel of 1.5 px or more", flush=True)
    blind = train_arm("blind", draw, steps, OUT / f"groups-blind-{steps}.pt")
    hint = train_arm("hint", draw, steps, OUT / f"groups-hint-{steps}.pt")
    nets = {"naf": (naf_with_hint().eval(), "zero"), "blind": (blind, "zero"),
            "hint (measured flow)": (hint, lambda i: motion_planes(vm[i], S))}
    faces = [(vx[i], vy[i], float(vk[i, 0]), float(vk[i, 1])) for i in range(len(vx))]
    score(nets, faces, FITTED_BANDS, OUT / f"groups-{steps}.json")


def neighbours(steps: int, arms: list[str]) -> None:
    """Temporal inputs at equal training on the motion-128c groups (their centre exposures, sharp targets and
    fitted kernels are groups()'s): naf given its two neighbouring exposures as differences from the centre crop,
    either re-cut in the centre's alignment (the face's motion between exposures left in: 'centre') or also warped
    onto the centre by DIS flow as naf-t3f is ('warped'), or warped and given the two flows as planes too
    ('warped+flow', flow / 8 crop px)."""
    z = {f"{split}_{k}": v for split, d in groups_data().items() for k, v in zip("xykm", d)}
    cache = OUT / "neighbours.npz"
    if not cache.is_file():
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        grid = np.stack(np.meshgrid(np.arange(S, dtype=np.float32), np.arange(S, dtype=np.float32)), -1)
        data = {}
        for split in ("train", "val"):
            cut, warped, flows = [], [], []
            for _blurry, _sharp, meta, group in three_exposure_groups(split):
                before, centre, after = in_centre_alignment(group, meta["group_matrices"])
                grey = cv2.cvtColor(centre, cv2.COLOR_BGR2GRAY)
                f = [dis.calc(grey, cv2.cvtColor(n, cv2.COLOR_BGR2GRAY), None) for n in (before, after)]
                cut.append(np.stack([before, after]))
                warped.append(np.stack([cv2.remap(n, *(grid + fl).transpose(2, 0, 1), cv2.INTER_LINEAR,
                                                  borderMode=cv2.BORDER_REPLICATE) for n, fl in zip((before, after), f)]))
                flows.append(np.stack(f).astype(np.float16))
            data[split] = np.stack(cut), np.stack(warped), np.stack(flows)
            assert len(cut) == len(z[f"{split}_x"]), "groups.npz holds other groups: delete both caches"
            print(split, len(cut), "groups", flush=True)
        np.savez(cache, **{f"{split}_{k}": v for split, d in data.items() for k, v in zip(("cut", "warped", "flow"), d)})
    n = dict(np.load(cache))
    c = slice(S // 4, 3 * S // 4)
    m = np.array([(np.median(f[1, c, c].reshape(-1, 2).astype(np.float32), 0)
                   - np.median(f[0, c, c].reshape(-1, 2).astype(np.float32), 0)) / 2 for f in n["val_flow"]])
    print(f"val: the cached flows give groups()'s motion within {np.abs(m - z['val_m']).max():.2f} px", flush=True)
    bx, by = z["train_x"], z["train_y"]

    def planes(mode: str, x: np.ndarray, cut: np.ndarray, warped: np.ndarray, flow: np.ndarray) -> np.ndarray:
        """x: S' x S' x 3 uint8 centre; cut, warped: 2 x S' x S' x 3; flow: 2 x S' x S' x 2 -> C x S' x S' floats."""
        if mode == "zero":
            return np.zeros((3, *x.shape[:2]), np.float32)
        nb = cut if mode == "centre" else warped
        out = [((nb.astype(np.float32) - x.astype(np.float32)) / 255.0).transpose(0, 3, 1, 2).reshape(6, *x.shape[:2])]
        if mode == "warped+flow":
            out.append(flow.astype(np.float32).transpose(0, 3, 1, 2).reshape(4, *x.shape[:2]) / 8)
        return np.concatenate(out)

    def draw(rng, mode, patch=96, batch=8):
        xs, ys = [], []
        for _ in range(batch):
            i = rng.integers(len(bx))
            y0, x0 = rng.integers(0, S - patch + 1, 2)
            win = (slice(y0, y0 + patch), slice(x0, x0 + patch))
            b, s = bx[i][win], by[i][win]
            cut, warped, flow = (n[f"train_{k}"][i][:, win[0], win[1]] for k in ("cut", "warped", "flow"))
            if rng.random() < 0.5:
                b, s, cut, warped = b[:, ::-1], s[:, ::-1], cut[:, :, ::-1], warped[:, :, ::-1]
                flow = flow[:, :, ::-1] * np.array([-1, 1], np.float16)
            if rng.random() < 0.5:  # a blur has no direction in time: the neighbours may come in either order
                cut, warped, flow = cut[::-1], warped[::-1], flow[::-1]
            xs.append(np.concatenate([np.ascontiguousarray(b).transpose(2, 0, 1) / 255.0, planes(mode, b, cut, warped, flow)]))
            ys.append(np.ascontiguousarray(s).transpose(2, 0, 1) / 255.0)
        return tensor(np.stack(xs)), tensor(np.stack(ys))

    extra = {"centre": 6, "warped": 6, "warped+flow": 10}
    nets: dict[str, tuple[NAFNet, str | Callable[[int], np.ndarray]]] = {
        "naf": (naf_with_hint().eval(), "zero"),
        "blind": (train_arm("blind", draw, steps, OUT / f"groups-blind-{steps}.pt"), "zero")}
    vx = z["val_x"]
    for arm in arms:
        net = train_arm(arm, draw, steps, OUT / f"neighbours-{arm}-{steps}.pt", extra[arm])
        nets[arm] = (net, lambda i, arm=arm: planes(arm, vx[i], n["val_cut"][i], n["val_warped"][i], n["val_flow"][i]))
    faces = [(vx[i], z["val_y"][i], float(z["val_k"][i, 0]), float(z["val_k"][i, 1])) for i in range(len(vx))]
    score(nets, faces, FITTED_BANDS, OUT / f"neighbours-{steps}.json")


def estimate() -> None:
    from streamdeblur.eval.video import blur_video, find_clips, parse_blurs, read_frames
    from streamdeblur.faces.crops import alignment_matrix, extract_crop
    from streamdeblur.faces.detect import create_detector
    from streamdeblur.faces.detection import largest_face

    detector = create_detector()
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    rows = []
    for clip in find_clips(CACHE / "reports/valclips"):
        frames, _fps = read_frames(clip, 100)
        faces = [largest_face(detector.detect(f), 48) for f in frames]
        for spec in parse_blurs("motion:4,motion:8"):
            centres, blurred, _ = blur_video(frames, faces, spec, 0, clip.stem, "shutter")
            seen = [largest_face(detector.detect(b), 48) for b in blurred]  # what process detects
            for j in range(1, len(centres) - 1):
                face, now, before = faces[centres[j]], seen[j], seen[j - 1]
                if face is None or now is None or before is None:
                    continue
                m = alignment_matrix(face.landmarks, S)
                length, angle = fit_kernel(extract_crop(blurred[j], m, S), extract_crop(frames[centres[j]], m, S))
                scale = S / (max(now.box[2] - now.box[0], now.box[3] - now.box[1]) * 1.4)
                mb = alignment_matrix(now.landmarks, S)
                cur, prev, after = (cv2.cvtColor(extract_crop(im, mb, S), cv2.COLOR_BGR2GRAY)
                                    for im in (blurred[j], blurred[j - 1], blurred[j + 1]))
                centre = (slice(S // 4, 3 * S // 4),) * 2
                back = np.median(dis.calc(cur, prev, None)[centre].reshape(-1, 2), axis=0)
                ahead = np.median(dis.calc(cur, after, None)[centre].reshape(-1, 2), axis=0)
                rows.append({"clip": clip.stem, "blur": spec.name, "L": length, "angle": angle,
                             "box": (((now.box[:2] + now.box[2:]) - (before.box[:2] + before.box[2:])) / 2 * scale).tolist(),
                             "landmarks": ((np.mean(now.landmarks, 0) - np.mean(before.landmarks, 0)) * scale).tolist(),
                             "flow": back.tolist(), "flow, both sides": ((ahead - back) / 2).tolist()})
        print(clip.stem, len(rows), "faces so far", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "estimate.json").write_text(json.dumps(rows))
    summarise_estimates(rows)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (ties broken by order: the fitted lengths are on a 0.5-px grid, so it reads a little low)."""
    return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])


def summarise_estimates(rows: list[dict]) -> None:
    length = np.array([r["L"] for r in rows])
    angle = np.array([r["angle"] for r in rows])
    print(f"{len(rows)} faces; fitted kernel length quartiles {np.percentile(length, [25, 50, 75])} px")
    print("estimate | Spearman with length | median length / motion (L >= 1.5) | direction within 30 deg (L >= 1.5, >= 3)")
    for key in ("box", "landmarks", "flow", "flow, both sides"):
        d = np.array([r[key] for r in rows])
        mag, ang = np.hypot(d[:, 0], d[:, 1]), np.arctan2(d[:, 1], d[:, 0])
        within = [float(np.mean(np.cos(2 * (ang[length >= lo] - angle[length >= lo])) > 0.5)) for lo in (1.5, 3)]
        print(f"{key} | {spearman(length, mag):.2f} | "
              f"{np.median(length[length >= 1.5] / np.maximum(mag[length >= 1.5], 1e-3)):.2f} | "
              f"{within[0]:.0%}, {within[1]:.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("synthetic", "real", "groups", "neighbours", "estimate"))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--arms", default="blind,hint,hint-est")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.what == "synthetic":
        synthetic(args.steps)
    elif args.what == "real":
        real(args.steps, args.arms.split(","))
    elif args.what == "groups":
        groups(args.steps)
    elif args.what == "neighbours":
        neighbours(args.steps, args.arms.split(","))
    else:
        estimate()


if __name__ == "__main__":
    main()
