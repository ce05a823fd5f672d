"""Session 49 (issue 11, data): motion-blurred dead-leaves images as training pairs beside the face pairs.

naf-hd's held-out gain is capped by the ~100 people of the 73 training clips (engines/naf-hd/NOTES.md): more
exposures, augmentation and the faces' surroundings (session 48) all raised the seen gain far more than the
held-out one. Dead-leaves images (occluding disks and ellipses with power-law sizes: the scale-invariant edge
statistics of natural images) are an unlimited, identity-free source of edges to deblur; Achddou et al. (2021,
"Synthetic images as a regularity prior for image restoration neural networks") trained denoisers and deblurrers
on them alone and came close to natural-image training. Here they are a regulariser beside the faces: the colours
are drawn from the training clips' sharp faces (skin, hair, backgrounds), the blur is an exposure of the image
moving along a random path (a line or a camera-shake curve, with a little rotation and zoom) averaged in linear
light, then noise and, for three pairs in ten, the x264 round trip of motion-256c's pairs.

    python leaves.py OUT --count 2400 [--size 256] [--seed 49] [--workers 2] [--palette PAIRS_DIR]

OUT/train/pairs-leaves-NNNNNN.tar, in the shard layout of `make-pairs` (method "leaves"), 200 pairs a shard,
each written under .tmp and renamed when complete, so a rerun skips the shards it finished.
"""

from __future__ import annotations

import argparse
import math
import sys
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

from streamdeblur.data import blur, exposure
from streamdeblur.data.shards import TarWriter, find_shards, iter_pairs

PER_SHARD = 200
PAD = 24  # border kept around the crop so that the moving image never shows its edge


def palette(pairs_dir: Path, faces: int = 300, per_face: int = 64, seed: int = 0) -> np.ndarray:
    """N x 3 uint8 BGR colours sampled from the sharp faces of a pair set's training split."""
    rng = np.random.default_rng(seed)
    colours = []
    for shard in find_shards(pairs_dir, "train"):
        for _, _, sharp, _ in iter_pairs(shard):
            ys, xs = rng.integers(0, sharp.shape[0], per_face), rng.integers(0, sharp.shape[1], per_face)
            colours.append(sharp[ys, xs])
            if len(colours) >= faces:
                return np.concatenate(colours)
    if not colours:
        raise SystemExit(f"no training pairs under {pairs_dir}")
    return np.concatenate(colours)


def leaves_canvas(rng: np.random.Generator, side: int, colours: np.ndarray) -> np.ndarray:
    """A dead-leaves image (side x side, uint8 BGR) drawn at twice the size then halved, so edges are
    antialiased: 150-1200 shapes in random order, radii with density ~ r^-3 between 1.5 and side/3 px, a third
    of them ellipses."""
    big = 2 * side
    canvas = np.empty((big, big, 3), np.uint8)
    canvas[:] = colours[rng.integers(len(colours))]
    rmin, rmax = 3.0, big / 3.0
    u = rng.uniform(size=int(rng.integers(150, 1201)))
    radii = 1.0 / np.sqrt(u / rmin ** 2 + (1 - u) / rmax ** 2)  # inverse CDF of r^-3 on [rmin, rmax]
    for r in radii:
        centre = (int(rng.integers(0, big)), int(rng.integers(0, big)))
        colour = tuple(int(c) for c in colours[rng.integers(len(colours))])
        if rng.uniform() < 1 / 3:
            axes = (max(1, int(r)), max(1, int(r * rng.uniform(0.2, 1.0))))
            cv2.ellipse(canvas, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
        else:
            cv2.circle(canvas, centre, max(1, int(r)), colour, -1, cv2.LINE_AA)
    soft = rng.uniform(0.0, 2.0)  # most images' edges softened (faces have few step edges)
    if soft > 0.3:
        canvas = cv2.GaussianBlur(canvas, (0, 0), soft)
    grain = rng.uniform(0.0, 4.0)  # on most images a fine texture, as skin and hair have
    if grain > 0.5:
        noise = cv2.GaussianBlur(rng.normal(0.0, grain * 2, (big, big)).astype(np.float32), (0, 0), 1.0)
        canvas = np.clip(canvas + noise[..., None] + 0.5, 0, 255).astype(np.uint8)
    return cv2.resize(canvas, (side, side), interpolation=cv2.INTER_AREA)


def path(rng: np.random.Generator, length: float, points: int) -> np.ndarray:
    """points x 2 positions (px) along a line or a camera-shake curve of the given path length, centred on 0
    at its middle sample (so the sharp target is the middle of the exposure)."""
    if rng.uniform() < 0.5:
        angle = rng.uniform(0, 2 * np.pi)
        p = np.linspace(-0.5, 0.5, points)[:, None] * np.array([math.cos(angle), math.sin(angle)])
    else:
        p = blur.shake_trajectory(rng, steps=256, exposure=rng.uniform(0.5, 1.0))
        p = p[np.linspace(0, len(p) - 1, points).round().astype(int)]
    seg = np.linalg.norm(np.diff(p, axis=0), axis=1).sum()
    p = p * (length / seg) if seg > 0 else p * 0
    return p - p[points // 2]


def pair(index: int, seed: int, size: int, colours: np.ndarray) -> tuple[str, np.ndarray, np.ndarray, dict]:
    rng = np.random.default_rng([seed, index])
    side = size + 2 * PAD
    canvas = blur.srgb_to_linear(leaves_canvas(rng, side, colours))
    # path length in crop px: a quarter near-sharp, the rest log-uniform to 14 px (motion-256c-5t's blur_px:
    # median 2.2, 75 % under 5.1, 90 % under 10.3)
    length = rng.uniform(0.0, 1.0) if rng.uniform() < 0.25 else math.exp(rng.uniform(0.0, math.log(14.0)))
    points = max(3, 2 * int(math.ceil(length)) + 1)  # odd: the middle sample is the sharp target
    p = path(rng, length, points)
    spin, zoom = rng.normal(0.0, 1.0) * (rng.uniform() < 0.5), rng.normal(0.0, 0.01) * (rng.uniform() < 0.5)
    c = side / 2.0 - 0.5
    frames = []
    for k, (dx, dy) in enumerate(p):
        t = k / (points - 1) - 0.5
        m = cv2.getRotationMatrix2D((c, c), spin * t, 1.0 + zoom * t)
        m[:, 2] += (dx, dy)
        frames.append(cv2.warpAffine(canvas, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    inner = (slice(PAD, PAD + size), slice(PAD, PAD + size))
    sharp = blur.linear_to_srgb(frames[points // 2][inner])
    blurred = blur.linear_to_srgb(np.mean(frames, axis=0)[inner])
    sigma = float(rng.uniform(0.0, 1.0))
    blurred = np.clip(blurred + rng.normal(0.0, sigma, blurred.shape) + 0.5, 0, 255).astype(np.uint8)
    crf = float(rng.uniform(18.0, 32.0)) if rng.uniform() < 0.3 else 0.0
    if crf > 0:
        blurred = exposure.encode_roundtrip([blurred], crf)[0]
    key = f"leaves{index:06d}"
    meta = {"key": key, "method": "leaves", "video_id": f"leaves-{index // PER_SHARD:04d}", "split": "train",
            "size": size, "blur_px": round(length, 3), "speed": round(length, 3), "spin_deg": round(spin, 3),
            "zoom": round(zoom, 4), "noise": round(sigma, 3), "crf": round(crf, 2),
            "motion": round(blur.mean_abs_diff(blurred, sharp), 3)}
    return key, blurred, sharp, meta


def write_shard(job: tuple[Path, int, int, int, np.ndarray]) -> str:
    out, shard, seed, size, colours = job
    cv2.setNumThreads(1)
    writer = TarWriter(out)
    try:
        for i in range(shard * PER_SHARD, (shard + 1) * PER_SHARD):
            key, blurred, sharp, meta = pair(i, seed, size, colours)
            writer.add_pair(key, blurred, sharp, meta)
    except BaseException:
        writer.abort()
        raise
    return str(writer.close())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=2400)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=49)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--palette", type=Path, default=Path.home() / ".cache/streamdeblur/pairs/motion-256c-5t")
    a = ap.parse_args()
    colours = palette(a.palette, seed=a.seed)
    jobs = [(a.out / "train" / f"pairs-leaves-{s:06d}.tar", s, a.seed, a.size, colours)
            for s in range(-(-a.count // PER_SHARD))]
    todo = [j for j in jobs if not j[0].exists()]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} shards already there; {len(todo)} to write", file=sys.stderr)
    with Pool(a.workers) as pool:
        for done in pool.imap_unordered(write_shard, todo):
            print(done, file=sys.stderr)


if __name__ == "__main__":
    main()
