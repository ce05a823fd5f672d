"""Session 58 (issues 11 and 13): test-time training on the blurred video itself, by reblurring (Chen et al.,
"Reblur2Deblur: Deblurring Videos via Self-Supervised Learning", ICCP 2018).

An adapted engine has learnt the person from sharp reference frames. The blurred frames it will restore carry what
no reference does: their own blur, and their neighbours say how the face moved. A camera with its shutter open a
share s of each frame interval records, at frame j, the average in linear light of the sharp face moving along the
motion to frames j-1 and j+1 for a fraction s/2 of the way each side. So with the network's output x_j and the
flows F- and F+ from x_j to its neighbours (in x_j's crop: each neighbour frame cut with frame j's own alignment),

    reblur(x_j) = linear-light mean over a in [-s/2, s/2] of x_j warped by |a| F(sign a)

should give back the blurred crop y_j. Fine-tuning on |reblur(f(y_j)) - y_j| (Charbonnier, inside the face) with the
reference pairs' loss beside it (the reblur loss alone is met by many images) should teach the engine this video's
blur. Measured in engines/naf-hd/NOTES.md, session 58: level with the adapted engine at motion:2 through `process`
(+0.04 dB on ten held-out clips, from -0.27 to +0.58 by clip); at motion:8 the operator's straight-line motion is
wrong (four source frames of talking inside one exposure, the neighbours eight away) and the loss costs 0.4-0.8 dB.
Not used by the package.

Usage (the first half of a held-out clip, an engine adapted on its second half, the adapt cache's pairs of that
second half; writes an engine folder):

    reblur.py FIRST_HALF ENGINE_IN ENGINE_OUT --pairs PAIRS --speed 8 [--steps 150] [--w-reblur 1] [--check]

--check only measures the operator: PSNR(reblur(x), y) for x the sharp truth (its flows from the sharp
neighbours, and from the engine's outputs) against PSNR(x, y), with no training (the truth is read for that alone).
The blurred frames are eval --video's (`--blur motion:SPEED --exposure shutter --max-frames 100`: deterministic), so
the engine is then scored by that same command on the very frames it was fine-tuned on (no truth seen).
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from streamdeblur.backends.torch_backend import TorchEngine
from streamdeblur.data.dataset import PairDataset, to_tensor
from streamdeblur.data.exposure import bidirectional_flow
from streamdeblur.eval.video import BlurSpec, blur_video, read_frames
from streamdeblur.faces.crops import extract_crop, face_matrix
from streamdeblur.faces.detect import create_detector
from streamdeblur.faces.detection import largest_face
from streamdeblur.models import folder_card, load_model, save_weights
from streamdeblur.train.losses import charbonnier, psnr_loss

SIZE = 256


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0, 1)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055).clamp_min(1e-6) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0, 1)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(1e-8) ** (1 / 2.4) - 0.055)


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """out(p) = x(p + flow(p)); x N3HW, flow N2HW in pixels (x, y)."""
    n, _, h, w = x.shape
    gy, gx = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    px = (gx + flow[:, 0]) / (w - 1) * 2 - 1
    py = (gy + flow[:, 1]) / (h - 1) * 2 - 1
    return F.grid_sample(x, torch.stack([px, py], -1), mode="bilinear", padding_mode="border", align_corners=True)


def reblur(x: torch.Tensor, f_prev: torch.Tensor, f_next: torch.Tensor, shutter: float,
           samples: int = 8) -> torch.Tensor:
    """The exposure of x moving along the flows to its neighbours for shutter/2 of the way each side."""
    lin = srgb_to_linear(x)
    acc = torch.zeros_like(lin)
    for k in range(samples):
        a = -shutter / 2 + (k + 0.5) * shutter / samples
        flow = (f_next if a > 0 else f_prev) * abs(a)
        acc = acc + warp(lin, -flow)
    return linear_to_srgb(acc / samples)


def psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    mse = (((a - b) ** 2) * mask).sum() / (mask.sum() * a.shape[0] * a.shape[1])
    return float(10 * torch.log10(1 / mse.clamp_min(1e-12)))


def flow_t(a: np.ndarray, b: np.ndarray) -> torch.Tensor:
    """DIS flow a -> b (uint8 BGR crops) as 2HW."""
    return torch.from_numpy(bidirectional_flow(a, b)[0]).permute(2, 0, 1).float()


def neighbour_flows(centre: np.ndarray, prev: np.ndarray | None, nxt: np.ndarray | None) -> tuple[torch.Tensor, ...]:
    """(flow to the previous crop, flow to the next), each 2HW; at a track's end the missing one is the other's
    opposite (a straight line through the one neighbour there is)."""
    fp = flow_t(centre, prev) if prev is not None else None
    fn = flow_t(centre, nxt) if nxt is not None else None
    return (-fn if fp is None else fp), (-fp if fn is None else fn)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clip", type=Path)
    ap.add_argument("engine_in", type=Path)
    ap.add_argument("engine_out", type=Path)
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--speed", type=float, default=8.0)
    ap.add_argument("--shutter", type=float, default=0.5)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--ema", type=float, default=0.95)
    ap.add_argument("--linear-tol", type=float, default=0.0,
                    help="px: weigh the reblur loss by exp(-(|F- + F+| / tol)^2), the motion's straightness (0: off)")
    ap.add_argument("--warmup", type=int, default=0, help="steps of linear warm-up of the rate")
    ap.add_argument("--loss", choices=["charbonnier", "psnr"], default="charbonnier",
                    help="psnr: adapt's loss (and its 20 %% sharp reference inputs) for both terms")
    ap.add_argument("--w-reblur", type=float, default=1.0)
    ap.add_argument("--w-ref", type=float, default=1.0, help="weight of the reference pairs' loss")
    ap.add_argument("--batch", type=int, default=2, help="blurred crops a step (whole crops)")
    ap.add_argument("--ref-batch", type=int, default=8, help="reference patches (96 px) a step")
    ap.add_argument("--max-frames", type=int, default=100)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--diag", action="store_true", help="print the crops' PSNR to the truth before and after")
    args = ap.parse_args()
    if args.engine_out.exists() and not args.check:
        sys.exit(f"{args.engine_out} exists: choose a new folder")
    torch.manual_seed(0)
    torch.set_num_threads(2)
    t0 = time.time()

    frames, _ = read_frames(args.clip, args.max_frames)
    spec = BlurSpec("motion", speed=args.speed, shutter=args.shutter)
    centres, blurred, _ = blur_video(frames, [None] * len(frames), spec, 0, args.clip.stem, exposure="shutter")
    detector = create_detector("yunet")
    faces = [largest_face(detector.detect(b), 48.0) for b in blurred]
    items = []  # (y, previous and next blurred frames cut with frame j's matrix, j, that matrix)
    for j, face in enumerate(faces):
        if face is None:
            continue
        m = face_matrix(face.box, face.landmarks, SIZE)
        nb = [extract_crop(blurred[k], m, SIZE) if 0 <= k < len(blurred) else None for k in (j - 1, j + 1)]
        items.append((extract_crop(blurred[j], m, SIZE), nb[0], nb[1], j, m))
    if not items:
        sys.exit(f"no faces in the blurred {args.clip}")

    card = folder_card(args.engine_in)
    net = load_model(card.get("model", "naf-hd"), args.engine_in / "model.safetensors")
    # flows from the starting engine's outputs (Reblur2Deblur computes them on deblurred frames)
    engine = TorchEngine(net, SIZE, torch.device("cpu"), channels_last=False)  # the parameters stay as they are

    def restored(crop: np.ndarray | None) -> np.ndarray | None:
        return None if crop is None else engine(crop[None])[0]

    outs = [[restored(c) for c in it[:3]] for it in items]  # (centre, previous, next), None where there is none
    flows = [neighbour_flows(*o) for o in outs]
    ys = torch.stack([to_tensor(it[0]) for it in items])
    fps = torch.stack([f[0] for f in flows])
    fns = torch.stack([f[1] for f in flows])
    border = 16
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., border:-border, border:-border] = 1
    # the operator moves each pixel along a straight line through its neighbours' positions: where the flows to the
    # previous and the next frame do not cancel (F- + F+ far from 0) the motion bends, and the loss is left out
    weights = mask.expand(len(items), 1, SIZE, SIZE)
    if args.linear_tol > 0:
        bend = (fps + fns).norm(dim=1, keepdim=True)
        weights = weights * torch.exp(-(bend / args.linear_tol) ** 2)
        print(f"straight-line weight: mean {float(weights.mean() / mask.mean()):.2f} of the face", flush=True)
    mags = (fps.norm(dim=1).mean().item(), fns.norm(dim=1).mean().item())
    print(f"{len(items)} blurred crops, mean flow to neighbours {mags[0]:.1f} / {mags[1]:.1f} px "
          f"({time.time() - t0:.0f} s)", flush=True)

    def truth(j: int, m: np.ndarray) -> np.ndarray:
        """The sharp truth at blurred frame j, cut with matrix m (for measuring only)."""
        return extract_crop(frames[centres[j]], m, SIZE)

    def outputs(module: torch.nn.Module) -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([module(ys[i:i + 4]).clamp(0, 1) for i in range(0, len(ys), 4)])

    if args.check:
        # the truth of each crop and its flows to its neighbours' truths, all cut with the crop's own alignment
        sharp = [[truth(it[3] + d, it[4]) if 0 <= it[3] + d < len(centres) else None for d in (0, -1, 1)]
                 for it in items]
        x = torch.stack([to_tensor(t[0]) for t in sharp])
        tfp, tfn = (torch.stack(f) for f in zip(*(neighbour_flows(*t) for t in sharp)))
        with torch.inference_mode():
            out = torch.stack([to_tensor(o[0]) for o in outs])
            print(f"PSNR(truth, blurred) {psnr(x, ys, mask):.2f}; "
                  f"PSNR(engine output, blurred) {psnr(out, ys, mask):.2f}")
            for sh in (0.25, 0.5, 0.75, 1.0):
                print(f"operator shutter {sh}: PSNR(reblur(truth; truth flows), blurred) "
                      f"{psnr(reblur(x, tfp, tfn, sh), ys, mask):.2f}")
            print(f"PSNR(reblur(truth; output flows), blurred) {psnr(reblur(x, fps, fns, args.shutter), ys, mask):.2f}")
            print(f"PSNR(reblur(output; output flows), blurred) "
                  f"{psnr(reblur(out, fps, fns, args.shutter), ys, mask):.2f}")
            print(f"PSNR(engine output, truth) {psnr(out, x, mask):.2f}; PSNR(blurred, truth) {psnr(ys, x, mask):.2f}")
        return
    diag = torch.stack([to_tensor(truth(it[3], it[4])) for it in items]) if args.diag else None
    if diag is not None:
        print(f"diag: PSNR(output, truth) before {psnr(outputs(net), diag, mask):.3f} "
              f"(blurred {psnr(ys, diag, mask):.3f})")

    refs = PairDataset(args.pairs, split="train", crop_scale=(96 / SIZE, 96 / SIZE), flip=True, seed=58)
    rng = np.random.default_rng(58)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, betas=(0.9, 0.9))
    # adapt's short EMA (0.95), from the adapted weights at once (train/ema.py's EMA warms up from the first step)
    ema = copy.deepcopy(net).eval()
    term = psnr_loss if args.loss == "psnr" else charbonnier
    for step in range(1, args.steps + 1):
        for group in opt.param_groups:  # a fresh Adam's first steps are lr-sized on every weight: warm up
            group["lr"] = args.lr * min(1.0, step / max(args.warmup, 1))
        pick = rng.choice(len(items), size=min(args.batch, len(items)), replace=False)
        out = net(ys[pick])
        again = reblur(out, fps[pick], fns[pick], args.shutter)
        loss_rb = term(again, ys[pick], weight=weights[pick])
        idx = rng.choice(len(refs), size=args.ref_batch, replace=False)
        rb, rs = (torch.stack(t) for t in zip(*(refs[int(i)] for i in idx)))
        keep = torch.from_numpy(rng.uniform(size=len(rb)) < 0.2).view(-1, 1, 1, 1)  # adapt's 20 % sharp inputs
        rb = torch.where(keep, rs, rb) if args.loss == "psnr" else rb
        loss_ref = term(net(rb), rs)
        loss = args.w_reblur * loss_rb + args.w_ref * loss_ref
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for e, v in zip(ema.state_dict().values(), net.state_dict().values()):
                if v.dtype.is_floating_point:
                    e.mul_(args.ema).add_(v, alpha=1 - args.ema)
                else:
                    e.copy_(v)
        if step % 25 == 0 or step == 1:
            if diag is not None and step % 50 == 0:
                print(f"diag: step {step} PSNR(EMA output, truth) {psnr(outputs(ema), diag, mask):.3f}", flush=True)
            print(f"step {step}: reblur {loss_rb.item():.3f} ref {loss_ref.item():.3f} ({time.time() - t0:.0f} s)",
                  flush=True)
    if diag is not None:
        print(f"diag: PSNR(output, truth) after {psnr(outputs(ema), diag, mask):.3f}")
    tmp = args.engine_out.with_name(args.engine_out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(args.engine_in, tmp)
    save_weights(ema, tmp / "model.safetensors")
    card["reblur"] = {"clip": str(args.clip), "speed": args.speed, "shutter": args.shutter, "steps": args.steps,
                      "lr": args.lr, "w_reblur": args.w_reblur, "crops": len(items)}
    (tmp / "card.json").write_text(json.dumps(card, indent=1))
    tmp.rename(args.engine_out)
    print(f"wrote {args.engine_out} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
