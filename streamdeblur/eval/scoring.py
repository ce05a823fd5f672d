"""Face scoring shared by both eval modes: the sharp face's reference geometry (box, 5 points,
oracle landmarks and embedding) and the per-face metrics of any method's output against it.

Every face is a pair of aligned crops of the same geometry (the method's output and the sharp
face); landmarks and embeddings of the output are taken inside the sharp face's box/alignment, so
a method is never helped or hurt by a different detection.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamdeblur.errors import MissingDependencyError, UserError
from streamdeblur.eval import metrics
from streamdeblur.eval.landmarks import EVAL_EXTRA_HINT, Landmarker, create_landmarker, dlib_box_from_points

log = logging.getLogger("streamdeblur")


@dataclass
class FaceRef:
    """The sharp face of one sample: where it is and what the oracle measures on it."""

    points5: np.ndarray  # (5, 2) in crop pixels
    box: np.ndarray  # dlib-style square box for the landmarker and embedder
    detected: bool  # False: points5 are the alignment template (no detection on the sharp crop)
    landmarks: np.ndarray | None = None  # (68, 2) oracle landmarks on the sharp face
    embedding: np.ndarray | None = None


@dataclass
class Scorer:
    """Measures outputs against sharp faces with the optional landmarker and embedder."""

    landmarker: Landmarker | None = None
    embedder: Any = None
    detector: Any = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, landmarker: str | None = "dlib", embedder: str | None = "dlib",
               detector: str = "yunet") -> "Scorer":
        """Build what is available; a missing optional package skips its metric with a note."""
        from streamdeblur.faces.identity import create_embedder
        from streamdeblur.faces.detect import create_detector

        scorer = cls(detector=create_detector(detector))
        if landmarker:
            try:
                scorer.landmarker = create_landmarker(landmarker)
            except MissingDependencyError as exc:
                scorer.skip(f"landmark metrics (NME, AUC, failure rate, temporal NME) skipped: {exc}")
        else:
            scorer.notes.append("landmark metrics not asked for (--landmarker none)")
        if embedder:
            try:
                scorer.embedder = create_embedder(embedder)
            except MissingDependencyError as exc:
                scorer.skip(f"identity metrics (cosine, rank-1) skipped: {exc}; or pass --embedder PATH.onnx")
            except UserError:
                raise
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types (InvalidProtobuf, Fail...)
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise UserError(f"--embedder {embedder}: cannot load it as an ONNX face-embedding model "
                                f"({reason})") from None
        else:
            scorer.notes.append("identity metrics not asked for (--embedder none)")
        return scorer

    def skip(self, note: str) -> None:
        """Record (and log) a metric that cannot be computed here."""
        if EVAL_EXTRA_HINT not in note and "pip install" not in note:
            note = f"{note} ({EVAL_EXTRA_HINT})"
        self.notes.append(note)
        log.warning(note)

    def reference(self, sharp: np.ndarray, fallback_points5: np.ndarray | None = None,
                  points5: np.ndarray | None = None) -> FaceRef:
        """Geometry and oracle measures of a sharp face crop.

        points5 given: used as is. Otherwise the detector runs on the crop (the face nearest the
        centre), falling back to fallback_points5 (the crop's alignment template).
        """
        detected = points5 is not None
        if points5 is None and self.detector is not None:
            found = self.detector.detect(sharp)
            if found:
                h, w = sharp.shape[:2]
                centre = np.array([w / 2, h / 2])
                best = min(found, key=lambda d: float(np.linalg.norm(d.landmarks.mean(axis=0) - centre)))
                points5, detected = best.landmarks.astype(np.float32), True
        if points5 is None:
            if fallback_points5 is None:
                raise ValueError("no face found on the sharp crop and no fallback geometry")
            points5 = np.asarray(fallback_points5, np.float32)
        ref = FaceRef(points5=np.asarray(points5, np.float32), box=dlib_box_from_points(points5), detected=detected)
        if self.landmarker is not None:
            ref.landmarks = self.landmarker(sharp, ref.box)
        if self.embedder is not None:
            ref.embedding = self.embedder(sharp, ref.box, ref.points5)
        return ref

    def score(self, output: np.ndarray, sharp: np.ndarray, ref: FaceRef) -> dict[str, Any]:
        """Per-face metrics of output vs the sharp face (NaN for what is not available)."""
        row: dict[str, Any] = {
            "psnr_rgb": metrics.psnr(output, sharp, "rgb"),
            "psnr_y": metrics.psnr(output, sharp, "y"),
            "ssim_y": metrics.ssim(output, sharp, "y"),
            "ssim_rgb": metrics.ssim(output, sharp, "rgb"),
            "nme": math.nan,
            "cosine": math.nan,
        }
        if self.landmarker is not None and ref.landmarks is not None:
            points = self.landmarker(output, ref.box)
            row["landmarks"] = points
            row["nme"] = metrics.nme(points, ref.landmarks)
        if self.embedder is not None and ref.embedding is not None:
            row["embedding"] = self.embedder(output, ref.box, ref.points5)
            row["cosine"] = metrics.cosine_similarity(row["embedding"], ref.embedding)
        return row


PER_FACE_KEYS = ("psnr_rgb", "psnr_y", "ssim_y", "ssim_rgb", "nme", "cosine")


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _psnr_mean(values: list[float]) -> float:
    """Mean PSNR; identical faces (inf) count as 100 dB so one of them does not make the mean infinite."""
    if values and all(v == math.inf for v in values):
        return math.inf
    return _mean([min(v, 100.0) for v in values])


def summarise(rows: list[dict[str, Any]], labels: list[str], ref_embeddings: list[np.ndarray | None]) -> dict:
    """Summary numbers of one (method, group) from its per-face rows."""
    nme = [r["nme"] for r in rows if math.isfinite(r["nme"])]
    out = {
        "n": len(rows),
        "psnr_rgb": _psnr_mean([r["psnr_rgb"] for r in rows]),
        "psnr_y": _psnr_mean([r["psnr_y"] for r in rows]),
        "ssim_y": _mean([r["ssim_y"] for r in rows]),
        "ssim_rgb": _mean([r["ssim_rgb"] for r in rows]),
        "nme_mean": _mean(nme),
        "auc": metrics.auc(nme) if nme else math.nan,
        "failure_rate": metrics.failure_rate(nme) if nme else math.nan,
        "cosine": _mean([r["cosine"] for r in rows]),
        "rank1": math.nan,
    }
    pairs = [(r["embedding"], e, lab) for r, e, lab in zip(rows, ref_embeddings, labels)
             if "embedding" in r and e is not None]
    if pairs:
        out["rank1"] = metrics.rank1_leave_one_out(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]),
                                                   [p[2] for p in pairs])
    return out
