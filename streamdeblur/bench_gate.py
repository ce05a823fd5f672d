"""`streamdeblur bench --gate LEVEL`: what gating saves on a talking-head clip that is half still, half moving.

The clip: the first half is the clip's own frames (a face that barely moves: sharp), the second half
flow-interpolated exposures of the same clip sped up (data/exposure.py, shutter exposures: no shared
source frame), so the face both moves and is blurred. After an untimed warm-up run, it runs through `process`
twice in the same run (default encoding), with and without the gate, and reports end-to-end fps, the share of
faces gated, and face PSNR against the sharp frames (the largest face's box). Figures are printed, never asserted.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from streamdeblur.eval import metrics


def half_still_clip(clip: Path, frames: int = 60, speed: float = 6.0, shutter: float = 0.5) -> tuple[list, list, Any]:
    """(blurred frames, sharp frames, fps): half the clip as it is, half sped-up exposures of what follows."""
    from streamdeblur.data.exposure import ExposureSynth
    from streamdeblur.eval.video import read_frames

    half = frames // 2
    need = half + int(np.ceil((frames - half) * speed)) + 2
    source, fps = read_frames(clip, need)
    if len(source) < need:
        from streamdeblur.errors import UserError

        raise UserError(f"{clip} has {len(source)} frames; the gating bench needs {need} (--frames {frames})")
    blurred, sharp = list(source[:half]), list(source[:half])
    synth = ExposureSynth(source)
    for j in range(frames - half):
        centre = half + 1 + j * speed
        c = int(round(centre))
        synth.forget_before(int(centre - speed * shutter / 2) - 1)
        blurred.append(synth.exposure(c, speed * shutter, subframes=8))
        sharp.append(source[c])
    return blurred, sharp, fps


def run_gate_bench(clip: Path, model: str, gate: float, frames: int = 60, threads: int = 2,
                   batch_size: int = 8) -> list[dict[str, Any]]:
    """Rows for no gating and for the gate: fps, faces, share gated, face PSNR, engine seconds."""
    import cv2
    import torch

    from streamdeblur.backends import create_engine
    from streamdeblur.eval.video import read_frames, write_video
    from streamdeblur.faces.detection import largest_face
    from streamdeblur.faces.detect import create_detector
    from streamdeblur.models import has_weights
    from streamdeblur.pipeline import ProcessOptions, engine_threads, process

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    blurred, sharp, fps = half_still_clip(clip, frames)
    detector = create_detector("yunet")
    boxes = [largest_face(detector.detect(f), 32) for f in sharp]
    engine = create_engine(model, device="cpu", allow_random=not has_weights(model), batch_size=batch_size,
                           threads=engine_threads())  # as `process`
    rows = []
    with tempfile.TemporaryDirectory(prefix="streamdeblur-gate-") as tmp:
        src = write_video(Path(tmp) / "half_still.mp4", blurred, fps)
        # an untimed run first: the engine's first batches (allocation, kernel choice) would otherwise count
        # against whichever setting ran first
        warm = process(str(src), str(Path(tmp) / "warm.mp4"), ProcessOptions(model=model, gate=0.0,
                                                                             batch_size=batch_size), engine=engine)
        if warm.get("interrupted"):  # Ctrl-C: the pipeline stopped early; so does the bench (exit 130)
            raise KeyboardInterrupt
        for label, level in (("no gate", 0.0), (f"gate {gate:g}", gate)):
            out = Path(tmp) / f"out_{level}.mp4"
            summary = process(str(src), str(out), ProcessOptions(model=model, gate=level, batch_size=batch_size),
                              engine=engine)
            if summary.get("interrupted"):
                raise KeyboardInterrupt
            got, _ = read_frames(out, None)
            psnrs = []
            for image, ref, face in zip(got, sharp, boxes):
                if face is not None:
                    x1, y1, x2, y2 = np.clip(face.box.astype(int), 0, [ref.shape[1], ref.shape[0]] * 2)
                    psnrs.append(metrics.psnr(image[y1:y2, x1:x2], ref[y1:y2, x1:x2]))
            rows.append({"setting": label, "fps": summary["fps"], "faces": summary["faces"], "gated": summary["gated"],
                         "gated_share": round(summary["gated"] / max(summary["faces"], 1), 3),
                         "face_psnr": round(float(np.mean([p for p in psnrs if np.isfinite(p)])), 3),
                         "engine_s": summary["stage_seconds"].get("engine", 0.0), "lag": summary["lag_frames"]})
    return rows


def format_gate_rows(rows: list[dict[str, Any]]) -> str:
    lines = ["| setting | fps | faces | gated | face PSNR dB | engine s |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['setting']} | {r['fps']:.1f} | {r['faces']} | {r['gated_share']:.0%} | {r['face_psnr']:.2f} | "
              f"{r['engine_s']:.2f} |" for r in rows]
    if len(rows) == 2 and rows[0]["fps"]:
        lines.append(f"\nspeed-up {rows[1]['fps'] / rows[0]['fps']:.2f}x, face PSNR "
                     f"{rows[1]['face_psnr'] - rows[0]['face_psnr']:+.3f} dB")
    return "\n".join(lines)
