"""Landmarker and embedders on the two annotated photos of ../shared (skipped without it)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamdeblur.eval import metrics
from streamdeblur.eval.landmarks import dlib_box_from_points, five_points, read_pts


@pytest.fixture(scope="module")
def photos(request):
    """[(image, 68 annotated points, dlib-style box from the detector's 5 points)] for both photos."""
    from tests.conftest import shared_path

    from streamdeblur.faces.detect import create_detector

    detector = create_detector("yunet", max_side=1024)
    out = []
    for name in ("einstein", "breakingbad"):
        image = cv2.imread(str(shared_path(f"data/images/{name}.jpg")))
        pts = read_pts(shared_path(f"data/images/{name}.pts"))
        centre = pts.mean(axis=0)
        face = min(detector.detect(image), key=lambda d: np.linalg.norm(d.landmarks.mean(axis=0) - centre))
        out.append((name, image, pts, face))
    return out


def _motion_blur(image: np.ndarray, length: int) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    return cv2.filter2D(image, -1, kernel)


def test_read_pts_and_five_points(shared):
    pts = read_pts(shared("data/images/einstein.pts"))
    assert pts.shape == (68, 2)
    five = five_points(pts)
    assert five[0, 0] < five[1, 0] and five[2, 1] < five[3, 1]  # left eye left of right eye; nose above mouth


def test_dlib_landmarks_small_on_sharp_photo_and_grow_with_blur(photos):
    from streamdeblur.eval.landmarks import create_landmarker

    landmarker = create_landmarker("dlib")
    for name, image, pts, face in photos:
        box = dlib_box_from_points(face.landmarks)
        side = box[2] - box[0]
        sharp_err = metrics.nme(landmarker(image, box), pts)
        assert sharp_err < 0.04, name
        blurred_err = metrics.nme(landmarker(_motion_blur(image, int(side * 0.45) | 1), box), pts)
        assert blurred_err > sharp_err + 0.01, name


def test_onnx_embedder_same_face_closer_than_different_faces(photos, shared):
    from streamdeblur.faces.identity import OnnxEmbedder, create_embedder

    embedder = create_embedder(str(shared("models/mobilefacenet/MobileFaceNet.onnx")))
    assert isinstance(embedder, OnnxEmbedder) and embedder.size == 112
    sharp = [embedder(image, face.box, face.landmarks) for _, image, _, face in photos]
    # the same faces, slightly blurred and re-compressed as JPEG
    same = []
    for _, image, _, face in photos:
        ok, jpg = cv2.imencode(".jpg", _motion_blur(image, 5), [cv2.IMWRITE_JPEG_QUALITY, 70])
        same.append(embedder(cv2.imdecode(jpg, cv2.IMREAD_COLOR), face.box, face.landmarks))
    assert np.linalg.norm(sharp[0]) == pytest.approx(1.0, abs=1e-5)
    cross = metrics.cosine_similarity(sharp[0], sharp[1])
    for a, b in zip(sharp, same):
        assert metrics.cosine_similarity(a, b) > cross + 0.3
    assert metrics.rank1(np.array(same), ["einstein", "breakingbad"], np.array(sharp), ["einstein", "breakingbad"]) == 1


def test_dlib_embedder_same_face_closer_than_different_faces(photos):
    from streamdeblur.faces.identity import create_embedder

    embedder = create_embedder("dlib")
    (_, im0, _, f0), (_, im1, _, f1) = photos
    e0, e1 = embedder(im0, f0.box, f0.landmarks), embedder(im1, f1.box, f1.landmarks)
    e0b = embedder(_motion_blur(im0, 5), f0.box, f0.landmarks)
    assert metrics.cosine_similarity(e0, e0b) > metrics.cosine_similarity(e0, e1) + 0.05


def test_unknown_embedder_and_landmarker_are_user_errors():
    from streamdeblur.errors import UserError
    from streamdeblur.faces.identity import create_embedder
    from streamdeblur.eval.landmarks import create_landmarker

    with pytest.raises(UserError):
        create_embedder("arcface-from-the-internet")
    with pytest.raises(UserError):
        create_embedder("/nonexistent/model.onnx")
    with pytest.raises(UserError):
        create_landmarker("mediapipe")


def test_missing_dlib_skips_metric_with_a_note(monkeypatch):
    import builtins

    from streamdeblur.eval.scoring import Scorer

    real_import = builtins.__import__

    def no_dlib(name, *args, **kwargs):
        if name == "dlib":
            raise ImportError("no dlib here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dlib)
    scorer = Scorer.create("dlib", "dlib")
    assert scorer.landmarker is None and scorer.embedder is None
    assert len(scorer.notes) == 2 and all("pip install 'streamdeblur[eval]'" in n for n in scorer.notes)
