"""Session 59: which per-face rule of when to trust the bare engine gets closest to an oracle? (crops.py's dumps)

Each face's output is either the bare engine's or the released settle range's (the face's own mean correction
below LOW: the input, bit-exact; above HIGH: the bare output; linear between). Rules that choose the bare output:
- flow: the 90th percentile of the face's flow to its neighbours above F crop px (motion, from the time axis);
- rel: the crop's Laplacian variance below R times the largest in the ±5 faces around it on the track (a face
  blurrier than its own recent best; divides out the person's texture);
- both; and two oracles that read the truth: the input's own PSNR below T (a perfect blur-level estimate), and per
  face the better of the bare and settled outputs.
PSNR inside the central 7/8 of the crop, capped at 60 dB (the sharp set's faces are their own truth). Mean gain over
the blurred input per speed, and for motion:4 and 8 together.

    gates.py DUMP_DIR [LOW HIGH]      (the engine card's settle range: naf-hd 0.6 1.5, naf 1.0 3.0)
"""

from __future__ import annotations

import glob
import sys

import cv2
import numpy as np

from streamdeblur.backends import settle_crops
from streamdeblur.eval.gating import spearman

CAP, WINDOW = 60.0, 5


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    bd = a.shape[1] // 16
    d = a[:, bd:-bd, bd:-bd].astype(np.float64) - b[:, bd:-bd, bd:-bd]
    return np.minimum(10 * np.log10(255 ** 2 / np.maximum((d ** 2).reshape(len(a), -1).mean(1), 1e-10)), CAP)


def relative_sharpness(y: np.ndarray) -> np.ndarray:
    bd = y.shape[1] // 8
    lv = np.array([cv2.Laplacian(cv2.cvtColor(c, cv2.COLOR_BGR2GRAY)[bd:-bd, bd:-bd].astype(np.float32),
                                 cv2.CV_32F, ksize=3).var() for c in y])
    return lv / np.array([lv[max(0, i - WINDOW):i + WINDOW + 1].max() for i in range(len(lv))])


def main() -> None:
    d = sys.argv[1]
    low, high = (float(sys.argv[2]), float(sys.argv[3])) if len(sys.argv) > 3 else (0.6, 1.5)
    cols = {k: [] for k in ("speed", "pin", "bare", "settle", "flow", "rel")}
    for f in sorted(glob.glob(f"{d}/*-m*.npz")):
        z = np.load(f)
        y, x, o = z["y"], z["x"], z["o"]
        cols["speed"].append(np.full(len(y), float(f.rsplit("-m", 1)[1][:-4])))
        cols["pin"].append(psnr(y, x))
        cols["bare"].append(psnr(o, x))
        cols["settle"].append(psnr(settle_crops(y, o, low, high), x))
        cols["flow"].append(np.nan_to_num(z["flow"][:, 1]))
        cols["rel"].append(relative_sharpness(y))
    c = {k: np.concatenate(v) for k, v in cols.items()}
    speeds = sorted(set(c["speed"]))
    blurred = c["speed"] > 1
    gain = c["bare"] - c["pin"]
    print(f"Spearman over the blurred faces ({blurred.sum()}): with the input's PSNR: flow p90 "
          f"{spearman(c['pin'][blurred], c['flow'][blurred]):+.2f}, rel {spearman(c['pin'][blurred], c['rel'][blurred]):+.2f}; "
          f"with the bare gain: flow {spearman(gain[blurred], c['flow'][blurred]):+.2f}, "
          f"rel {spearman(gain[blurred], c['rel'][blurred]):+.2f}")
    print("rule".ljust(22) + "".join(f"m{s:g}".rjust(8) for s in speeds) + "    m4+8   bare on (share by speed)")

    def row(name: str, on: np.ndarray) -> None:
        out = np.where(on, c["bare"], c["settle"]) - c["pin"]
        both = (c["speed"] == 4) | (c["speed"] == 8)
        print(name.ljust(22) + "".join(f"{out[c['speed'] == s].mean():+8.3f}" for s in speeds)
              + f"  {out[both].mean():+.3f}   " + " ".join(f"{on[c['speed'] == s].mean():.2f}" for s in speeds))

    row("settle (released)", np.zeros(len(gain), bool))
    row("bare", np.ones(len(gain), bool))
    for flow in (3, 6):
        row(f"flow > {flow}", c["flow"] > flow)
    for rel in (0.6, 0.7, 0.8):
        row(f"rel < {rel}", c["rel"] < rel)
        row(f"rel < {rel} & flow > 6", (c["rel"] < rel) & (c["flow"] > 6))
    for t in (38, 40):
        row(f"oracle: input < {t} dB", c["pin"] < t)
    row("oracle: per face", c["bare"] > c["settle"])
    print(f"faces: " + " ".join(f"m{s:g} {(c['speed'] == s).sum()}" for s in speeds))


if __name__ == "__main__":
    main()
