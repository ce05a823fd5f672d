"""Metric functions against hand-computed values."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from streamdeblur.eval import metrics


def _image(seed: int = 0, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(40, 215, (8, 8, 3)).astype(np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(base, 20, 235).astype(np.uint8)


def test_psnr_of_known_noise():
    a = _image()
    noise = np.where(np.indices(a.shape).sum(axis=0) % 2 == 0, 5, -5)  # +-5 everywhere: MSE 25
    b = (a.astype(int) + noise).astype(np.uint8)
    assert metrics.mse(a, b) == pytest.approx(25.0)
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 25))
    assert metrics.psnr(a, a) == math.inf


def test_psnr_y_uses_bt601_luma():
    a = np.full((4, 4, 3), 100, np.uint8)
    b = a.copy()
    b[..., 2] += 10  # red channel (BGR order) +10 -> Y + 2.99
    assert metrics.psnr(a, b, space="y") == pytest.approx(10 * math.log10(255**2 / 2.99**2))
    assert metrics.psnr(a, b, space="rgb") == pytest.approx(10 * math.log10(255**2 / (100 / 3)))
    with pytest.raises(ValueError):
        metrics.psnr(a, b, space="lab")


def test_ssim_identical_is_one_and_drops_with_noise():
    a = _image()
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.ssim(a, a, space="rgb") == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    scores = []
    for sigma in (2, 8, 25):
        noisy = np.clip(a + rng.normal(0, sigma, a.shape), 0, 255).astype(np.uint8)
        scores.append(metrics.ssim(a, noisy))
    assert 1.0 > scores[0] > scores[1] > scores[2] > 0.0


def test_ssim_of_constant_images_matches_formula():
    a = np.full((32, 32), 100.0)
    b = np.full((32, 32), 120.0)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1)  # the variance terms cancel
    assert metrics.ssim(a, b) == pytest.approx(expected)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        metrics.psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))


def test_nme_of_shifted_landmarks():
    ref = np.array([[0.0, 0.0], [30.0, 0.0], [30.0, 40.0], [0.0, 40.0]])
    shifted = ref + [3.0, 4.0]  # every point moves by 5 px
    assert metrics.nme(shifted, ref) == pytest.approx(5.0 / 50.0)  # ref box diagonal = 50
    assert metrics.nme(shifted, ref, box=(0, 0, 60, 80)) == pytest.approx(5.0 / 100.0)
    assert metrics.nme(ref, ref) == 0.0
    with pytest.raises(ValueError):
        metrics.nme(ref[:3], ref)


def test_ced_auc_and_failure_rate_of_known_errors():
    errors = [0.0, 0.04, 0.08, 0.2]
    assert metrics.ced(errors, [0.0, 0.04, 0.1]).tolist() == [0.25, 0.5, 0.75]
    # exact area under the step CED up to 0.08, over 0.08: (1 + 0.5 + 0 + 0) / 4
    assert metrics.auc(errors) == pytest.approx(0.375)
    grid = np.linspace(0, 0.08, 8001)
    numeric = np.trapezoid(metrics.ced(errors, grid), grid) / 0.08
    assert metrics.auc(errors) == pytest.approx(numeric, abs=1e-3)
    assert metrics.failure_rate(errors) == pytest.approx(0.25)
    assert metrics.auc([0.0, 0.0]) == 1.0
    assert math.isnan(metrics.auc([]))


def test_cosine_and_rank1_on_toy_gallery():
    assert metrics.cosine_similarity(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == pytest.approx(1.0)
    assert metrics.cosine_similarity(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(0.0)
    rows = metrics.cosine_similarity(np.eye(2), np.array([[1.0, 1.0], [0.0, -1.0]]))
    assert rows == pytest.approx([1 / math.sqrt(2), -1.0])
    gallery = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    labels = ["a", "b", "c"]
    queries = np.array([[0.9, 0.1, 0.0], [0.1, 0.2, 0.9], [0.8, 0.3, 0.1]])
    assert metrics.rank1(queries, ["a", "c", "b"], gallery, labels) == pytest.approx(2 / 3)


def test_temporal_landmark_error():
    sharp = [np.zeros((3, 2)) + t for t in range(4)]  # moves (1, 1) per frame
    assert metrics.temporal_landmark_error(sharp, sharp, [10.0] * 4) == 0.0
    jitter = [s + (0.0 if t % 2 == 0 else 3.0) * np.array([1.0, 0.0]) for t, s in enumerate(sharp)]
    # every step's motion differs from the sharp motion by 3 px in x
    assert metrics.temporal_landmark_error(jitter, sharp, [10.0] * 4) == pytest.approx(0.3)
    with_gap = [jitter[0], None, jitter[2], jitter[3]]
    assert metrics.temporal_landmark_error(with_gap, sharp, [10.0] * 4) == pytest.approx(0.3)
    assert math.isnan(metrics.temporal_landmark_error([None, None], sharp[:2], [1.0, 1.0]))


def test_warped_difference_follows_motion_and_sees_flicker():
    a = _image(3, 96)
    moved = np.roll(a, 2, axis=1)  # content moves 2 px to the right
    mask = np.zeros(a.shape[:2], bool)
    mask[16:-16, 16:-16] = True
    plain = float(np.abs(metrics.to_y(a) - metrics.to_y(moved))[mask].mean())
    flow = metrics.dis_flow(a, moved)
    assert np.median(flow[mask][:, 0]) == pytest.approx(-2.0, abs=0.3)
    warped = metrics.warped_difference(a, moved, flow, mask)
    assert warped < 0.3 * plain
    flicker = np.clip(moved.astype(int) + 12, 0, 255).astype(np.uint8)  # same motion, brightness jump
    assert metrics.warped_difference(a, flicker, flow, mask) > warped + 8


def test_excess_flicker_is_zero_for_the_truth_and_sees_only_what_the_truth_does_not_do():
    """The flicker of the error: the sharp video scores 0 under any flow (even a wrong one, where warped_difference
    is large), a steady brightness offset on both frames scores 0, a brightness jump between frames scores its
    size, and a blur that changes from frame to frame scores more than the same blur on both."""
    import cv2

    a = _image(3, 96)
    moved = np.roll(a, 2, axis=1)
    mask = np.zeros(a.shape[:2], bool)
    mask[16:-16, 16:-16] = True
    wrong = np.zeros(a.shape[:2] + (2,), np.float32)  # no motion: the warp misses the 2-px move
    assert metrics.warped_difference(a, moved, wrong, mask) > 5
    assert metrics.excess_flicker(a, moved, a, moved, wrong, mask) == pytest.approx(0.0)
    flow = metrics.dis_flow(a, moved)
    def bright(x: np.ndarray, d: int) -> np.ndarray:
        return np.clip(x.astype(int) + d, 0, 255).astype(np.uint8)
    assert metrics.excess_flicker(bright(a, 10), bright(moved, 10), a, moved, flow, mask) < 0.5
    assert metrics.excess_flicker(a, bright(moved, 12), a, moved, flow, mask) == pytest.approx(12, abs=1.0)
    blurred = [cv2.blur(a, (1, 7)), cv2.blur(moved, (7, 1))]  # each exposure its own blur
    steady = [cv2.blur(a, (7, 1)), cv2.blur(moved, (7, 1))]  # the same blur on both
    assert metrics.excess_flicker(*blurred, a, moved, flow, mask) > max(
        1.0, 2 * metrics.excess_flicker(*steady, a, moved, flow, mask))


def test_rank1_leave_one_out_never_uses_the_own_sharp_face():
    # identity a: two faces pointing along x; identity b: two faces along y
    refs = np.array([[1.0, 0.0, 0.0], [1.0, 0.2, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.3]])
    labels = ["a", "a", "b", "b"]
    assert metrics.rank1_leave_one_out(refs, refs, labels) == 1.0
    # output 0 equals its own sharp face exactly but that face is left out; the other 'a' face is
    # far from it, so it is matched to 'b'
    refs2 = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.1]])
    outputs = refs2.copy()
    outputs[0] = [0.0, 0.6, 0.8]
    assert metrics.rank1_leave_one_out(outputs, refs2, labels) == pytest.approx(3 / 4)
    assert math.isnan(metrics.rank1_leave_one_out(refs[:2], refs[:2], ["a", "a"]))
