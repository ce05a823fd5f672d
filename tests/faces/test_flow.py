"""Flow alignment of a temporal engine's neighbouring crops onto the middle one (faces/flow.py)."""

from __future__ import annotations

import cv2
import numpy as np

from streamdeblur.faces.flow import align_stack, warp_onto
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
