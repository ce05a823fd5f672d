"""Aligning a temporal engine's neighbouring crops: by flow onto the middle one, or re-cut in its alignment
(faces/flow.py)."""

from __future__ import annotations

import cv2
import numpy as np

from streamdeblur.faces.flow import align_stack, recut_stack, warp_onto
from streamdeblur.paths import ASSETS_DIR


def _face_crop(size: int = 128) -> np.ndarray:
    image = cv2.imread(str(ASSETS_DIR / "astronaut.jpg"))
    h, w = image.shape[:2]
    side = min(h, w) // 2
    return cv2.resize(image[h // 8:h // 8 + side, w // 2 - side // 2:w // 2 + side // 2], (size, size),
                      interpolation=cv2.INTER_AREA)


def _moved(image: np.ndarray, dx: float, dy: float, angle: float) -> np.ndarray:
    """The image shifted and turned a little (a face that moved between two frames), edges replicated."""
    size = image.shape[0]
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
    matrix[:, 2] += (dx, dy)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _inner_error(a: np.ndarray, b: np.ndarray, border: int = 12) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32))[border:-border, border:-border].mean())


def test_warping_a_moved_crop_lines_it_up_with_the_reference():
    middle = _face_crop()
    moved = _moved(middle, 3.0, -2.0, 3.0)
    before = _inner_error(moved, middle)
    after = _inner_error(warp_onto(moved, middle), middle)
    assert before > 8 and after < before / 3, (before, after)


def test_align_stack_warps_the_neighbours_and_keeps_the_middle_crop_bit_for_bit():
    middle = _face_crop()
    prev, nxt = _moved(middle, -3.0, 1.0, -2.0), _moved(middle, 2.0, 3.0, 2.5)
    stack = np.concatenate([prev, middle, nxt], axis=2)
    out = align_stack(stack)
    assert out.shape == stack.shape and out.dtype == np.uint8
    assert np.array_equal(out[..., 3:6], middle)
    for j, neighbour in ((0, prev), (2, nxt)):
        assert _inner_error(out[..., 3 * j:3 * j + 3], middle) < _inner_error(neighbour, middle) / 3
    assert np.array_equal(stack[..., 0:3], prev)  # the input is not touched
    # a track's start or end repeats the middle crop: it stays as it is; one frame: nothing to align
    padded = np.concatenate([middle, middle, nxt], axis=2)
    assert np.array_equal(align_stack(padded)[..., :6], padded[..., :6])
    assert align_stack(middle) is middle


def test_recut_stack_cuts_each_neighbour_as_the_middle_faces_matrix_would_have():
    """Three crops of one frame (a photo) cut by three matrices (the face moved and turned between exposures):
    re-cut, each neighbour is the crop the middle matrix cuts, up to the second bilinear resampling, and so
    differs from the middle crop only where the frames do (here: nowhere)."""
    frame = cv2.imread(str(ASSETS_DIR / "astronaut.jpg"))
    size = 128

    def matrix(dx: float, dy: float, angle: float) -> np.ndarray:
        m = cv2.getRotationMatrix2D((260.0, 180.0), angle, 0.45)
        m[:, 2] += (dx - 260.0 + size / 2, dy - 180.0 + size / 2)
        return m

    mats = [matrix(-6.0, 2.0, -4.0), matrix(0.0, 0.0, 0.0), matrix(5.0, 4.0, 3.0)]
    crops = [cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
             for m in mats]
    stack = np.concatenate(crops, axis=2)
    out = recut_stack(stack, mats)
    assert out.shape == stack.shape and out.dtype == np.uint8
    assert np.array_equal(out[..., 3:6], crops[1]) and np.array_equal(stack[..., 0:3], crops[0])
    for j in (0, 2):  # about 36 grey levels apart as cut, 3.6 re-cut (the second resampling of a detailed photo)
        before, after = _inner_error(crops[j], crops[1]), _inner_error(out[..., 3 * j:3 * j + 3], crops[1])
        assert before > 20 and after < before / 6, (before, after)
    # a padded track end repeats the middle crop and its matrix: left as it is
    padded = np.concatenate([crops[1], crops[1], crops[2]], axis=2)
    assert np.array_equal(recut_stack(padded, [mats[1], mats[1], mats[2]])[..., :6], padded[..., :6])
    # a face that moved further between frames than the limit (RECUT_MAX_SHIFT of the side, 16 px at 128) keeps its
    # own alignment: the next face 20 px on
    far = [mats[0], mats[1], matrix(20.0, 0.0, 0.0)]
    stack = np.concatenate([crops[0], crops[1], cv2.warpAffine(frame, far[2], (size, size))], axis=2)
    out = recut_stack(stack, far)
    assert np.array_equal(out[..., 6:9], stack[..., 6:9]) and not np.array_equal(out[..., 0:3], stack[..., 0:3])
    assert not np.array_equal(recut_stack(stack, far, max_shift=None)[..., 6:9], stack[..., 6:9])
