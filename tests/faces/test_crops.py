"""Crop geometry: landmark alignment, box crops, footprint, residual paste-back (exact and seamless)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamdeblur.faces.crops import (
    alignment_matrix, box_matrix, crop_box, extract_crop, face_matrix, feather_border, feather_mask, landmarks_plausible,
    paste_back, similarity_transform, template_points,
)
from streamdeblur.synthetic import synthesize_frames
from tests.faces.conftest import best


def similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    """A 2x3 similarity: rotate by angle, scale, then translate."""
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """An uncompressed generated face frame (480x360)."""
    return synthesize_frames(1, 480, 360, blur=False, seed=3)[0]


def test_template_is_a_face_inside_the_crop():
    pts = template_points(128, 0.4)
    assert pts[0, 0] < pts[2, 0] < pts[1, 0] and pts[3, 0] < pts[4, 0]  # left/right as seen
    assert pts[:2, 1].max() < pts[2, 1] < pts[3:, 1].min()  # eyes, nose, mouth top to bottom
    eye_mouth = pts[3:].mean(0)[1] - pts[:2].mean(0)[1]
    assert 0.2 * 128 < eye_mouth < 0.33 * 128
    # about one eye-mouth distance above the eyes (hair line) and 0.7 below the mouth (chin) fit in
    assert pts[:2, 1].min() - 1.0 * eye_mouth > 0 and pts[3:, 1].max() + 0.7 * eye_mouth < 128
    tighter = template_points(128, 0.1)
    assert np.ptp(tighter[:, 0]) > np.ptp(pts[:, 0])  # less margin: a bigger face


@pytest.mark.parametrize("angle,scale,tx,ty", [(0, 1, 0, 0), (25, 2.3, 140, 60), (-70, 0.6, 300, 200)])
def test_alignment_maps_landmarks_to_the_template(frame, angle, scale, tx, ty):
    size = 128
    crop = extract_crop(frame, box_matrix([180, 100, 300, 220], size), size)  # any face-like crop
    s = similarity(angle, scale, tx, ty)  # crop -> a synthetic frame
    warped = cv2.warpAffine(crop, s, (640, 480), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    landmarks = apply(s, template_points(size))
    m = alignment_matrix(landmarks, size)
    np.testing.assert_allclose(apply(m, landmarks), template_points(size), atol=1e-6)
    noisy = landmarks + np.random.default_rng(0).normal(0, 0.3 * scale, landmarks.shape)
    assert np.abs(apply(alignment_matrix(noisy, size), landmarks) - template_points(size)).max() < 1.0
    back = extract_crop(warped, m, size)
    inner = slice(16, size - 16)
    diff = np.abs(back[inner, inner].astype(int) - crop[inner, inner].astype(int))
    assert diff.mean() < (6 if scale < 1 else 3)


def test_alignment_on_a_detected_face_is_upright_and_centred(frame, yunet):
    det = best(yunet.detect(frame))
    m = alignment_matrix(det.landmarks, 128)
    assert abs(np.degrees(np.arctan2(m[1, 0], m[0, 0]))) < 10  # the portrait is upright
    assert np.abs(apply(m, det.landmarks) - template_points(128)).max() < 8
    assert landmarks_plausible(det.landmarks, det.box)
    # the box crop frames the same face: its centre lands near the landmark crop's centre
    centre = apply(m, apply(cv2.invertAffineTransform(box_matrix(det.box, 128)), np.array([[64.0, 64.0]])))
    assert np.hypot(*(centre[0] - 64)) < 20


def test_similarity_transform_rejects_reflection():
    src = template_points(100)
    mirrored = src * [-1, 1]
    m = similarity_transform(src, mirrored)
    assert np.linalg.det(m[:, :2]) > 0  # a rotation and scale, never a flip


def test_box_matrix_and_crop_box():
    box = np.array([100, 50, 180, 150], np.float32)  # 80 x 100, centre (140, 100)
    m = box_matrix(box, 128, margin=0.5)
    x1, y1, x2, y2 = crop_box(m, 128)
    np.testing.assert_allclose([x1, y1, x2, y2], [65, 25, 215, 175], atol=1e-6)  # side 100 * 1.5
    rotated = similarity(30, 1.0, 0, 0) @ np.vstack([m, [0, 0, 1]])
    rx1, ry1, rx2, ry2 = crop_box(rotated, 128)
    assert rx2 - rx1 > x2 - x1  # a rotated square's bounding box is larger


def test_implausible_landmarks_fall_back_to_the_box():
    box = np.array([100, 100, 200, 200], np.float32)
    good = apply(cv2.invertAffineTransform(box_matrix(box, 128, margin=0.0)), template_points(128, margin=0.0))
    assert landmarks_plausible(good, box)
    np.testing.assert_allclose(face_matrix(box, good, 128), alignment_matrix(good, 128))
    upside_down = good.copy()
    upside_down[:, 1] = 300 - upside_down[:, 1]
    assert not landmarks_plausible(upside_down, box)
    np.testing.assert_allclose(face_matrix(box, upside_down, 128), box_matrix(box, 128))
    far = good + 400
    assert not landmarks_plausible(far, box)
    np.testing.assert_allclose(face_matrix(box, None, 128), box_matrix(box, 128))


def test_feather_mask():
    mask = feather_mask(128)
    assert mask.dtype == np.float32 and mask.shape == (128, 128) and not mask.flags.writeable
    assert mask[64, 64] == pytest.approx(1.0) and mask[0].max() == 0 and mask[:, -1].max() == 0
    np.testing.assert_allclose(mask, mask.T, atol=1e-6)
    assert feather_mask(128) is mask
    # the face's outer ring (hair, ears, chin) gets the engine's whole work: about 0.64 of the crop at full
    # weight (with the earlier tenth-of-a-side band, 0.36)
    assert 0.6 < (mask > 0.99).mean() < 0.7


def test_feather_border_widens_only_for_enlarged_small_faces():
    big = box_matrix([0, 0, 400, 400], 128)  # a 400-px face: the crop shrinks it
    small = box_matrix([0, 0, 45, 45], 128)  # a 45-px face: the crop enlarges it about 2x
    assert feather_border(128, big) == 6
    assert feather_border(128, small) == pytest.approx(6 * 128 / (45 * 1.4), abs=1.5)


MATRICES = {
    "aligned": lambda f: alignment_matrix(template_points(128) * 1.3 + [120, 60], 128),
    "rotated": lambda f: similarity(17, 0.7, -40, 30) @ np.vstack([box_matrix([150, 80, 300, 260], 128), [0, 0, 1]]),
    "upscaled": lambda f: box_matrix([200, 150, 240, 200], 128),
    "off the edge": lambda f: box_matrix([400, 280, 560, 420], 128),
}


@pytest.mark.parametrize("kind", MATRICES)
def test_identity_round_trip_is_exact(frame, kind):
    m = MATRICES[kind](frame)
    crop = extract_crop(frame, m, 128)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    out = paste_back(frame.copy(), crop, crop.copy(), m)
    assert out.dtype == np.uint8 and np.array_equal(out, frame)


def test_round_trip_on_a_real_decoded_frame(single_face_frames, single_face_detections):
    frame, det = single_face_frames[0], best(single_face_detections[0])
    m = alignment_matrix(det.landmarks, 256)
    crop = extract_crop(frame, m, 256)
    target = frame.copy()
    assert paste_back(target, crop, crop.copy(), m) is target
    assert np.array_equal(target, frame)


@pytest.mark.parametrize("face_side", [64, 128, 300])
def test_pasted_change_stays_in_the_footprint_without_a_seam(face_side):
    frame = np.full((400, 600, 3), 100, np.uint8)
    box = [300 - face_side / 2, 200 - face_side / 2, 300 + face_side / 2, 200 + face_side / 2]
    m = similarity(20, 1.0, 0, 0) @ np.vstack([box_matrix(box, 128), [0, 0, 1]])
    crop = extract_crop(frame, m, 128)
    out = paste_back(frame.copy(), crop, crop + 20, m).astype(int)
    assert out[200, 300, 0] == 120  # the middle of the face gets the whole residual
    x1, y1, x2, y2 = crop_box(m, 128)
    ys, xs = np.nonzero((out != 100).any(axis=2))
    assert xs.min() >= np.floor(x1) and xs.max() <= np.ceil(x2)
    assert ys.min() >= np.floor(y1) and ys.max() <= np.ceil(y2)
    step = max(np.abs(np.diff(out, axis=0)).max(), np.abs(np.diff(out, axis=1)).max())
    assert step <= 4  # a smooth ramp (a hard-edged paste would step by 20)
    assert out.min() == 100 and out.max() == 120


def test_paste_back_only_touches_the_face(frame):
    m = box_matrix([180, 100, 260, 200], 128)
    crop = extract_crop(frame, m, 128)
    restored = cv2.GaussianBlur(crop, (0, 0), 3)
    out = paste_back(frame.copy(), crop, restored, m)
    x1, y1, x2, y2 = crop_box(m, 128)
    outside = np.ones(frame.shape[:2], bool)
    outside[int(np.floor(y1)):int(np.ceil(y2)) + 1, int(np.floor(x1)):int(np.ceil(x2)) + 1] = False
    assert np.array_equal(out[outside], frame[outside])
    assert np.abs(out.astype(int) - frame).max() > 10
    # a footprint wholly outside the frame changes nothing
    away = box_matrix([1000, 1000, 1100, 1100], 128)
    assert np.array_equal(paste_back(frame.copy(), crop, restored, away), frame)
