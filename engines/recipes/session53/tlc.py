"""Session 53 (issue 11): does NAFNet's train/test mismatch in its channel attention cost naf-hd gain?

naf-hd was fine-tuned on 96-px patches and runs on whole 256-px crops. Its simplified channel attention (SCA) pools
each feature map over the whole input: at run time over 256 px, in training over 96. Chu et al. ("Improving Image
Restoration by Revisiting Global Information Aggregation", ECCV 2022: TLC, the test-time local converter) replace
that global mean at inference by the mean over a local window of about the training size (clamped inside the
image), with no retraining, and report gains for NAFNet and Restormer. This scores v1 as released (global) against
TLC windows of several base sizes (the window at level i is base / 2^i), bare, on all held-out pairs of
motion-256c-5t, paired per face and by the blurred face's PSNR (as session48/paired_gain.py).

    python engines/recipes/session53/tlc.py PAIRS/motion-256c-5t [--bases 96,144,192] [--weights W]
    python engines/recipes/session53/tlc.py PAIRS/motion-256c-5t --size 128 --bases 64,96 --weights engines/naf/model.safetensors
        (naf, trained on 64-px patches of 128-px crops: the pairs resized to 128 px by area)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from streamdeblur.data.dataset import to_tensor
from streamdeblur.data.shards import decode_png, find_shards, index_shard, read_member
from streamdeblur.models import NAF
from streamdeblur.nets import NAFNet

REPO = Path(__file__).resolve().parents[3]


def pairs(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    records = sorted(index_shard(path, with_meta=False), key=lambda r: r.key)
    with open(path, "rb") as f:
        crops = [[to_tensor(decode_png(read_member(f, *r.members[ext]))) for r in records]
                 for ext in ("blur.png", "sharp.png")]
    return torch.stack(crops[0]), torch.stack(crops[1])


def psnr(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    mse = ((a.clamp(0, 1) - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1 / mse)).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--bases", default="96,144,192")
    ap.add_argument("--weights", default=str(REPO / "engines/naf-hd/model.safetensors"))
    ap.add_argument("--size", type=int, default=256, help="crop side the network runs at (pairs resized by area)")
    args = ap.parse_args()
    net = NAFNet(**NAF).eval()
    net.load_state_dict({k.removeprefix("net."): v.float() for k, v in load_file(args.weights).items()})
    data = [pairs(p) for p in find_shards(args.pairs, "val")]
    blur, sharp = torch.cat([d[0] for d in data]), torch.cat([d[1] for d in data])
    if blur.shape[-1] != args.size:
        blur, sharp = (F.interpolate(t, size=(args.size, args.size), mode="area") for t in (blur, sharp))
    base_psnr = psnr(blur, sharp)
    scores = {}
    for base in [0] + [int(b) for b in args.bases.split(",")]:
        net.set_tlc(base)  # 0: global (as trained); the package's TLC (nets/nafnet.py)
        with torch.no_grad():
            out = torch.cat([net(blur[i:i + 8]) for i in range(0, len(blur), 8)])
        scores["global" if not base else f"tlc {base}"] = psnr(out, sharp)
    ref = scores["global"]
    for lo, hi in [(0, 34), (34, 45), (45, np.inf), (0, np.inf)]:
        m = (base_psnr >= lo) & (base_psnr < hi)
        row = [f"blurred {lo}-{hi} dB, {m.sum()} faces"]
        for name, s in scores.items():
            d = s[m] - ref[m]
            row.append(f"{name} {np.mean(s[m] - base_psnr[m]):+.3f}"
                       + ("" if name == "global" else f" ({d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(m.sum()):.3f})"))
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
