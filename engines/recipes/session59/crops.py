"""Session 59 (issues 11 and 13): dump what `process` would see of eval --video's blurred faces, for gate studies.

For each clip (first 100 frames) and each motion speed, blurred as `eval --video --blur motion:S --exposure shutter`
does (deterministic): every blurred frame's largest face cut at the model's input size with its own alignment, the
sharp truth cut the same way, the engine's bare output (no settle range, no gate; the card's TLC), and the DIS flow
magnitude from the face to its two neighbouring blurred frames, both cut with the face's alignment (mean, 90th and
99th percentile of the larger of the two, inside the central 3/4 of the crop). One .npz per clip and speed.

    crops.py MODEL SIZE OUT_DIR SPEEDS CLIP...      e.g. crops.py naf-hd 256 crops 0.1,2,4,8 first/*.mp4
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from streamdeblur.backends import create_engine
from streamdeblur.eval.video import BlurSpec, blur_video, read_frames
from streamdeblur.faces.crops import extract_crop, face_matrix
from streamdeblur.faces.detect import create_detector
from streamdeblur.faces.detection import largest_face


def flow_stats(dis, centre: np.ndarray, neighbours: list[np.ndarray], border: int) -> list[float]:
    """Mean, p90 and p99 of the larger flow magnitude from the centre crop to its neighbours (NaN: none)."""
    grey = cv2.cvtColor(centre, cv2.COLOR_BGR2GRAY)
    mags = [np.linalg.norm(dis.calc(grey, cv2.cvtColor(n, cv2.COLOR_BGR2GRAY), None)[border:-border, border:-border],
                           axis=2) for n in neighbours]
    if not mags:
        return [np.nan] * 3
    m = np.maximum.reduce(mags)
    return [float(m.mean()), float(np.percentile(m, 90)), float(np.percentile(m, 99))]


def main() -> None:
    model, size, out_dir = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    speeds = [float(s) for s in sys.argv[4].split(",")]
    torch.set_num_threads(2)
    engine = create_engine(model, settle=None, backend="torch")
    detector = create_detector("yunet")
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    out_dir.mkdir(parents=True, exist_ok=True)
    for clip in map(Path, sys.argv[5:]):
        frames, _ = read_frames(clip, 100)
        for speed in speeds:
            dst = out_dir / f"{clip.stem}-m{speed:g}.npz"
            if dst.exists():
                continue
            t0 = time.time()
            spec = BlurSpec("motion", speed=speed, shutter=0.5)
            centres, blurred, _ = blur_video(frames, [None] * len(frames), spec, 0, clip.stem, exposure="shutter")
            ys, xs, flows = [], [], []
            for j, frame in enumerate(blurred):
                face = largest_face(detector.detect(frame), 48.0)
                if face is None:
                    continue
                m = face_matrix(face.box, face.landmarks, size)
                ys.append(extract_crop(frame, m, size))
                xs.append(extract_crop(frames[centres[j]], m, size))
                near = [extract_crop(blurred[k], m, size) for k in (j - 1, j + 1) if 0 <= k < len(blurred)]
                flows.append(flow_stats(dis, ys[-1], near, size // 8))
            ys, xs = np.stack(ys), np.stack(xs)
            outs = np.concatenate([engine(ys[i:i + 8]) for i in range(0, len(ys), 8)])
            tmp = dst.with_suffix(".part.npz")
            np.savez_compressed(tmp, y=ys, x=xs, o=outs, flow=np.array(flows))
            tmp.rename(dst)
            print(dst.name, len(ys), f"{time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
