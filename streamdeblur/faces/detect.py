"""Face detection: a FaceDetector protocol returning boxes, scores and 5 landmarks.

Backends: 'yunet' (embedded default: PyPI yuface has the weights compiled in, works offline) and
'scrfd' (insightface model packs, run with onnxruntime).
Landmark order (as insightface): left eye, right eye, nose tip, left mouth corner, right mouth
corner, where left/right are as seen in the image (left eye has the smaller x on a frontal face).
"""

from __future__ import annotations

from typing import Any

from streamdeblur.errors import UserError
from streamdeblur.faces.detection import Detection, FaceDetector

__all__ = ["DETECTORS", "SIZE_OPTION", "Detection", "FaceDetector", "create_detector"]

DETECTORS = ("yunet", "scrfd")
# each detector's option for the longest side it sees a frame at (frames are downscaled to it)
SIZE_OPTION = {"yunet": "max_side", "scrfd": "input_size"}


def create_detector(
    name: str = "yunet", model_path: str | None = None, score_threshold: float = 0.5, **opts: Any
) -> FaceDetector:
    """Build a detector by name. Raises UserError for an unknown name or a missing model file.

    Options: yunet: max_side (frames are downscaled to it before detection, default 640).
    scrfd: pack ('buffalo_l', 'buffalo_m', 'buffalo_s', 'scrfd_500m', 'scrfd_2.5g', ...), root (the
    insightface home, default ~/.insightface), input_size (max side of the network input, default
    640), nms_threshold (default 0.4), providers (onnxruntime execution providers).
    """
    if not 0.0 <= score_threshold <= 1.0:
        raise UserError(f"detector score threshold must be in [0, 1], got {score_threshold}")
    if name == "yunet":
        if model_path is not None:
            raise UserError("the yunet detector has its weights built in: drop --detector-model")
        from streamdeblur.faces.yunet import YuNetDetector

        return YuNetDetector(score_threshold=score_threshold, **_check_opts(name, opts, {"max_side"}))
    if name == "scrfd":
        from streamdeblur.faces.scrfd import ScrfdDetector

        allowed = {"pack", "root", "input_size", "nms_threshold", "providers"}
        return ScrfdDetector(model_path=model_path, score_threshold=score_threshold,
                             **_check_opts(name, opts, allowed))
    raise UserError(f"unknown detector {name!r}: choose one of {', '.join(DETECTORS)}")


def _check_opts(name: str, opts: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    """The options a backend accepts; UserError naming the ones it does not."""
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise UserError(f"detector {name!r} has no option(s) {', '.join(unknown)} "
                        f"(it accepts: {', '.join(sorted(allowed))})")
    return opts
