"""`streamdeblur eval --interpolation`: is the flow interpolator of the `motion` pairs right on real frames?

None of the clips here is truly high frame rate, so the interpolator is checked where the truth
exists: every other frame of a real clip is dropped, rebuilt at t = 0.5 from its two neighbours
(data/exposure.py, the same code that integrates exposures), and compared on the face with the
real dropped frame, beside the plain average of the two neighbours (what frame averaging gives).
Face crops are 128 px (the engines' size) with the padding make-pairs uses, aligned on the
dropped frame's face.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from streamdeblur.data import blur, exposure
from streamdeblur.errors import OutputError, UserError
from streamdeblur.eval import metrics

log = logging.getLogger("streamdeblur")

SIZE = 128
PAD = 16


def check_clip(frames: list[np.ndarray], detector: Any, min_face: float = 64.0) -> dict[str, Any]:
    """PSNR/SSIM of interpolated and averaged midpoints vs the real dropped frames of one clip."""
    from streamdeblur.faces.detection import largest_face
    from streamdeblur.faces.crops import extract_crop, face_matrix

    rows = []
    inner = (slice(PAD, PAD + SIZE),) * 2
    for i in range(0, len(frames) - 2, 2):
        face = largest_face(detector.detect(frames[i + 1]), min_face)
        if face is None:
            continue
        matrix = face_matrix(face.box, face.landmarks, SIZE)
        matrix[:, 2] += PAD
        a, truth, b = (extract_crop(frames[j], matrix, SIZE + 2 * PAD) for j in (i, i + 1, i + 2))
        synth = exposure.ExposureSynth([a, b])
        interpolated = blur.linear_to_srgb(synth.sample(0.5))[inner]
        average = blur.average_frames([a, b])[inner]
        truth = truth[inner]
        rows.append({"frame": i + 1, "motion": round(blur.mean_abs_diff(a[inner], b[inner]), 3),
                     "psnr_interp": metrics.psnr(interpolated, truth), "psnr_avg": metrics.psnr(average, truth),
                     "ssim_interp": metrics.ssim(interpolated, truth), "ssim_avg": metrics.ssim(average, truth)})
    return {"triples": len(rows), "rows": rows, **_means(rows)}


def _means(rows: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("psnr_interp", "psnr_avg", "ssim_interp", "ssim_avg")
    finite = lambda k: [r[k] for r in rows if np.isfinite(r[k])]  # noqa: E731 - identical frames give inf PSNR
    return {k: round(float(np.mean(finite(k))), 4) if finite(k) else float("nan") for k in keys}


def check_clips(clips: list[Path], out_dir: Path, max_frames: int | None = 120) -> dict[str, Any]:
    """Run check_clip on each clip; write interpolation.json and interpolation.md to out_dir."""
    from streamdeblur.paths import check_folder
    from streamdeblur.eval.video import read_frames
    from streamdeblur.faces.detect import create_detector

    check_folder(out_dir, "-o")
    detector = create_detector("yunet")
    per_clip = {}
    for clip in clips:
        frames, _ = read_frames(clip, max_frames)
        if len(frames) < 3:  # a dropped frame needs a neighbour on each side
            message = f"{clip}: {len(frames)} frame(s) are too few for the interpolation check (it needs at least 3)"
            if len(clips) == 1:
                raise UserError(message)
            log.warning("%s; skipped", message)
            continue
        per_clip[clip.name] = check_clip(frames, detector)
    rows = [r for c in per_clip.values() for r in c["rows"]]
    if not per_clip:
        raise UserError("too few frames: no clip has the 3 frames the interpolation check needs")
    if not rows:
        raise UserError(f"too few frames with a face: no face of at least 64 px on the dropped frames of "
                        f"{', '.join(per_clip)} (raise --max-frames, or choose a clip with a face)")
    report = {"clips": {k: {kk: vv for kk, vv in v.items() if kk != "rows"} for k, v in per_clip.items()},
              "overall": {"triples": len(rows), **_means(rows)}, "size": SIZE,
              "method": "drop every other frame; rebuild it at t=0.5 from its neighbours (bidirectional DIS flow, "
                        "occlusion-aware blend) vs their plain average; 128-px face crops of the dropped frame"}
    lines = ["# Interpolation check", "", report["method"], "",
             "| clip | triples | PSNR interpolated | PSNR average | SSIM interpolated | SSIM average |",
             "|---|---|---|---|---|---|"]
    for name, c in [*report["clips"].items(), ("all", report["overall"])]:
        lines.append(f"| {name} | {c['triples']} | {c['psnr_interp']:.2f} | {c['psnr_avg']:.2f} | "
                     f"{c['ssim_interp']:.4f} | {c['ssim_avg']:.4f} |")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "interpolation.json").write_text(json.dumps(report, indent=1) + "\n")
        (out_dir / "interpolation.md").write_text("\n".join(lines) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write the report in {out_dir}: {exc.strerror or exc}") from None
    return report
