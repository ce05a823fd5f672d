"""Blur synthesis: averaging, camera response, kernels, VLA stop conditions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamdeblur.data import blur
from streamdeblur.synthetic import portrait


def _face(size: int = 64, dx: float = 0.0, dy: float = 0.0, flip: bool = False) -> np.ndarray:
    """The portrait's face region, shifted by (dx, dy) pixels, at size x size."""
    src = portrait()
    if flip:
        src = cv2.flip(src, -1)
    scale = size / 300.0
    m = np.array([[scale, 0, -100 * scale + dx], [0, scale, -40 * scale + dy]], np.float32)
    return cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


BOX = np.array([100.0, 40.0, 400.0, 340.0])


def test_average_of_identical_frames_is_the_frame():
    frame = _face(48)
    for linear in (True, False):
        out = blur.average_frames([frame] * 7, linear=linear)
        assert out.dtype == np.uint8 and out.shape == frame.shape
        assert np.abs(out.astype(int) - frame.astype(int)).max() <= 1


def test_srgb_round_trip_and_range():
    values = np.arange(256, dtype=np.uint8)
    lin = blur.srgb_to_linear(values)
    assert lin[0] == 0.0 and lin[-1] == pytest.approx(1.0)
    assert np.all(np.diff(lin) > 0)
    assert np.array_equal(blur.linear_to_srgb(lin), values)
    with pytest.raises(TypeError):
        blur.srgb_to_linear(values.astype(np.float32))


def test_linear_average_of_two_levels_is_brighter_than_plain_average():
    dark = np.zeros((8, 8, 3), np.uint8)
    bright = np.full((8, 8, 3), 255, np.uint8)
    plain = blur.average_frames([dark, bright], linear=False)
    linear = blur.average_frames([dark, bright], linear=True)
    assert int(plain[0, 0, 0]) in (127, 128)
    # half the light, re-encoded by the sRGB curve: 0.5 linear -> 188 in sRGB
    assert int(linear[0, 0, 0]) == 188
    # mid-grey levels average the same way in both when they are equal
    grey = np.full((4, 4, 3), 100, np.uint8)
    assert np.array_equal(blur.average_frames([grey, grey], True), blur.average_frames([grey, grey], False))


def test_window_bounds():
    assert blur.window_bounds(10, 7) == (7, 14)
    assert blur.window_bounds(0, 1) == (0, 1)
    with pytest.raises(ValueError):
        blur.window_bounds(10, 6)


@pytest.mark.parametrize("size", [13, 19, 27])
def test_kernels_sum_to_one_have_the_size_and_are_not_a_delta(size):
    rng = np.random.default_rng(size)
    for _ in range(5):
        k = blur.motion_kernel(size, rng)
        assert k.shape == (size, size) and k.dtype == np.float32
        assert k.sum() == pytest.approx(1.0, abs=1e-5)
        assert np.all(k >= 0)
        assert k.max() < 0.5  # not a delta
        assert blur.kernel_extent(k) >= size - 3  # the trajectory spans the requested size


def test_kernels_differ_by_seed_and_repeat_for_a_seed():
    a = blur.motion_kernel(17, np.random.default_rng(1))
    b = blur.motion_kernel(17, np.random.default_rng(1))
    c = blur.motion_kernel(17, np.random.default_rng(2))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_apply_kernel_blurs_and_delta_kernel_keeps_the_image():
    image = _face(96)
    delta = np.zeros((5, 5), np.float32)
    delta[2, 2] = 1.0
    assert np.abs(blur.apply_kernel(image, delta).astype(int) - image.astype(int)).max() <= 1
    k = blur.motion_kernel(15, np.random.default_rng(0))
    blurred = blur.apply_kernel(image, k, noise=2.0, rng=np.random.default_rng(0))
    assert blurred.shape == image.shape and blurred.dtype == np.uint8
    assert blur.gradient_energy(blurred) < 0.6 * blur.gradient_energy(image)
    assert np.array_equal(blurred, blur.apply_kernel(image, k, noise=2.0, rng=np.random.default_rng(0)))


def test_sharpness_measures_rank_blur():
    image = _face(96)
    soft = cv2.GaussianBlur(image, (0, 0), 2.0)
    assert blur.sharpness(soft) < blur.sharpness(image)
    assert blur.gradient_energy(soft) < blur.gradient_energy(image)
    assert blur.ssim(image, image) == pytest.approx(1.0)
    assert blur.ssim(image, soft) < 0.95
    assert blur.correlation(image, image) == pytest.approx(1.0)


def test_box_iou():
    a = np.array([0, 0, 10, 10.0])
    assert blur.box_iou(a, a) == pytest.approx(1.0)
    assert blur.box_iou(a, a + [5, 0, 5, 0]) == pytest.approx(50 / 150)
    assert blur.box_iou(a, a + 20) == 0.0


def test_pair_motion_measures_a_shift():
    m = blur.pair_motion(_face(64), _face(64, dx=3.0))
    assert m.dx == pytest.approx(3.0, abs=0.6) and abs(m.dy) < 0.6
    assert m.residual < 8.0
    cut = blur.pair_motion(_face(64), _face(64, flip=True))
    assert cut.residual > m.residual


def test_vla_on_a_static_clip_grows_to_max_length():
    crops = [_face(64)] * 31
    config = blur.VLAConfig(min_length=3, max_length=21)
    result = blur.grow_vla(crops, [BOX] * 31, 15, config)
    assert result.length == 21 and result.reason == "max_length"
    assert result.bounds(15) == (5, 26)


def test_vla_stops_at_the_clip_edge():
    crops = [_face(64)] * 10
    result = blur.grow_vla(crops, [BOX] * 10, 2, blur.VLAConfig(max_length=21))
    assert result.length == 5 and result.reason == "edge"


def test_vla_stops_at_a_scene_cut():
    cut = 12  # frames 0..11 from one clip, 12.. from another
    crops = [_face(64, dx=0.5 * i) for i in range(cut)] + [_face(64, dx=0.5 * i, flip=True) for i in range(cut, 24)]
    center = cut - 3
    result = blur.grow_vla(crops, [BOX] * 24, center, blur.VLAConfig(max_length=21))
    assert result.reason in ("flow_failure", "similarity")
    start, stop = result.bounds(center)
    assert stop == cut  # the window holds every frame before the cut and none after it
    assert start == center - (cut - 1 - center)


def test_vla_stops_when_the_first_and_last_faces_stop_overlapping():
    crops = [_face(64)] * 31
    boxes = [BOX + np.array([8.0 * i, 0, 8.0 * i, 0]) for i in range(31)]  # face slides 8 px/frame
    config = blur.VLAConfig(max_length=31, overlap=0.5)
    result = blur.grow_vla(crops, boxes, 15, config)
    assert result.reason == "overlap"
    start, stop = result.bounds(15)
    assert blur.box_iou(boxes[start], boxes[stop - 1]) >= 0.5
    assert blur.box_iou(boxes[start - 1], boxes[stop]) < 0.5


def test_vla_stops_when_the_motion_reverses():
    center = 10
    xs = [3.0 * min(i, center + 2) - 3.0 * max(0, i - center - 2) for i in range(21)]  # right, then back
    crops = [_face(64, dx=x) for x in xs]
    config = blur.VLAConfig(max_length=21, similarity=0.0)
    result = blur.grow_vla(crops, [BOX] * 21, center, config)
    assert result.reason == "flow_reversal"
    assert result.length == 5


def test_vla_stops_when_the_average_no_longer_resembles_the_middle():
    crops = [_face(64, dx=2.0 * i) for i in range(31)]  # steady motion: the average smears
    config = blur.VLAConfig(max_length=31, similarity=0.7, overlap=0.0, max_step=1.0)
    result = blur.grow_vla(crops, [BOX] * 31, 15, config)
    assert result.reason == "similarity"
    assert 3 <= result.length < 31
    assert result.similarity < 0.7 or result.length == 1


def test_vla_config_validation():
    with pytest.raises(ValueError):
        blur.VLAConfig(min_length=9, max_length=5)
    with pytest.raises(ValueError):
        blur.VLAConfig(metric="psnr")
