"""Crop geometry shared by process, make-pairs and eval: a square, margin-padded face crop aligned
by the 5 landmarks (similarity transform) to NxN, its inverse, and feathered paste-back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Crop:
    """An aligned face crop: image (size, size, 3) uint8 BGR, matrix (2, 3) frame->crop affine."""

    image: np.ndarray
    matrix: np.ndarray
    track_id: int = -1


def alignment_matrix(landmarks: np.ndarray, size: int, margin: float = 0.4) -> np.ndarray:
    """2x3 similarity transform mapping frame coordinates to an aligned size x size crop."""
    raise NotImplementedError


def extract_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp the frame into the crop (bilinear, border replicated)."""
    raise NotImplementedError


def paste_back(frame: np.ndarray, restored: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Warp a restored crop back into the frame (in place, returned) with a feathered mask."""
    raise NotImplementedError
