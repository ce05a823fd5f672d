"""Session 56 (issue 11): a starting point made for adapting (Reptile, Nichol et al. 2018), not for restoring.

`adapt` fine-tunes naf-hd on one person's motion pairs, and that is the lever that pays on held-out people (+0.77 dB
at motion:4+8 on the ten held-out clips, where naf-hd alone gains a tenth of that): the gap is the people. naf-hd's
weights were trained to restore everyone at once; Reptile trains them to be a good start for a short fine-tuning on
one person (as MZSR did for zero-shot super-resolution). Each outer step draws one training clip (a person), runs
K steps of adapt's own recipe on its pairs from the current weights (AdamW 2.5e-4, betas 0.9/0.9, PSNR loss,
batch 8 of 96-px patches, a fifth of the inputs left sharp, bf16 autocast), and moves the weights a share eps of
the way to the result (eps falling linearly from --eps to --eps-end). Only motion-256c-5t's train split is used:
the ten held-out clips stay unseen. Resumable (the weights and the step in --out, every --save steps).

    python engines/recipes/session56/reptile.py PAIRS/motion-256c-5t --outer 500 [--inner 20] [--out DIR]

The result is scored by adapting it on the held-out clips exactly as `adapt` does, from these weights:
    INIT=DIR/model.safetensors ARM=reptile W=~/work/s56 bash engines/recipes/session55/adapt_steps.sh 500
(engines/naf-hd/NOTES.md, session 56: no better than adapting the released naf-hd, at 100 steps or 500).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from streamdeblur.data.shards import decode_png, find_shards, index_shard, read_member
from streamdeblur.models import NAF
from streamdeblur.nets import NAFNet
from streamdeblur.train.losses import psnr_loss

REPO = Path(__file__).resolve().parents[3]


def clips(root: Path, min_pairs: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each training clip's pairs: (blurred, sharp) uint8 RGB stacks N x H x W x 3."""
    by_clip: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for shard in find_shards(root, "train"):
        with open(shard, "rb") as f:
            for r in index_shard(shard, with_meta=False):
                pair = tuple(decode_png(read_member(f, *r.members[e]))[:, :, ::-1] for e in ("blur.png", "sharp.png"))
                by_clip[r.key.rsplit("_motion_", 1)[0]].append(pair)
    return [(np.stack([p[0] for p in v]), np.stack([p[1] for p in v]))
            for _, v in sorted(by_clip.items()) if len(v) >= min_pairs]


def batch(clip: tuple[np.ndarray, np.ndarray], rng: np.random.Generator, size: int, patch: int,
          sharp_frac: float) -> tuple[torch.Tensor, torch.Tensor]:
    blur, sharp = clip
    idx = rng.integers(0, len(blur), size)
    h, w = blur.shape[1:3]
    xs, ys = [], []
    for i in idx:
        y0, x0 = rng.integers(0, h - patch + 1), rng.integers(0, w - patch + 1)
        b, s = blur[i, y0:y0 + patch, x0:x0 + patch], sharp[i, y0:y0 + patch, x0:x0 + patch]
        if rng.uniform() < 0.5:
            b, s = b[:, ::-1], s[:, ::-1]
        if rng.uniform() < sharp_frac:
            b = s
        xs.append(b)
        ys.append(s)
    to = lambda a: torch.from_numpy(np.ascontiguousarray(np.stack(a).transpose(0, 3, 1, 2))).float() / 255.0  # noqa: E731
    return to(xs), to(ys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--outer", type=int, default=500)
    ap.add_argument("--inner", type=int, default=20)
    ap.add_argument("--eps", type=float, default=0.5)
    ap.add_argument("--eps-end", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=2.5e-4)
    ap.add_argument("--min-pairs", type=int, default=8)
    ap.add_argument("--save", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weights", default=str(REPO / "engines/naf-hd/model.safetensors"))
    ap.add_argument("--out", type=Path, default=Path.home() / ".cache/streamdeblur/runs/reptile-naf-hd")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    state_file, weights_file = args.out / "state.json", args.out / "model.safetensors"
    start = json.loads(state_file.read_text())["outer"] if state_file.is_file() else 0
    source = weights_file if start else Path(args.weights)
    raw = load_file(str(source))
    theta = {k.removeprefix("net."): v.float() for k, v in raw.items()}
    prefix = "net." if next(iter(raw)).startswith("net.") else ""
    data = clips(args.pairs, args.min_pairs)
    print(f"{len(data)} clips, {sum(len(c[0]) for c in data)} pairs; from outer step {start} ({source})", flush=True)
    net = NAFNet(**NAF)
    net.train()
    for outer in range(start, args.outer):
        rng = np.random.default_rng(outer)
        clip = data[rng.integers(0, len(data))]
        net.load_state_dict(theta)
        opt = torch.optim.AdamW(net.parameters(), lr=args.lr, betas=(0.9, 0.9), weight_decay=0.0)
        t0, losses = time.perf_counter(), []
        for _ in range(args.inner):
            x, y = batch(clip, rng, 8, 96, 0.2)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = net(x)
            loss = psnr_loss(out.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        eps = args.eps + (args.eps_end - args.eps) * outer / max(1, args.outer - 1)
        with torch.no_grad():
            adapted = net.state_dict()
            for k in theta:
                theta[k] += eps * (adapted[k].float() - theta[k])
        print(f"outer {outer + 1}/{args.outer} clip {len(clip[0])} pairs  loss {losses[0]:.2f} -> "
              f"{np.mean(losses[-5:]):.2f}  eps {eps:.3f}  {time.perf_counter() - t0:.1f} s", flush=True)
        if (outer + 1) % args.save == 0 or outer + 1 == args.outer:
            tmp = weights_file.with_suffix(".tmp")
            save_file({prefix + k: v.contiguous() for k, v in theta.items()}, str(tmp))  # float32: resumes exactly
            tmp.replace(weights_file)
            state_file.write_text(json.dumps({"outer": outer + 1}))


if __name__ == "__main__":
    main()
