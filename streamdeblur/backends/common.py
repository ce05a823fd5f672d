"""Checks and conversions shared by the engines: NHWC uint8 BGR crops <-> NCHW float RGB in [0, 1]."""

from __future__ import annotations

import numpy as np


def check_batch(crops: np.ndarray, size: int, frames: int = 1) -> None:
    """ValueError unless crops is an N x size x size x 3*frames uint8 array."""
    channels = 3 * frames
    if (not isinstance(crops, np.ndarray) or crops.dtype != np.uint8 or crops.ndim != 4
            or crops.shape[1:] != (size, size, channels)):
        shape = getattr(crops, "shape", None)
        dtype = getattr(crops, "dtype", type(crops).__name__)
        raise ValueError(f"expected N x {size} x {size} x {channels} uint8 BGR crops, got shape {shape} dtype {dtype}")


def bgr_to_rgb_order(channels: int) -> list[int]:
    """Channel order that turns K stacked BGR images into K stacked RGB images."""
    return [3 * (c // 3) + 2 - c % 3 for c in range(channels)]


def to_nchw_rgb(crops: np.ndarray) -> np.ndarray:
    """N x S x S x 3K uint8 BGR (K stacked frames) -> N x 3K x S x S float32 RGB in [0, 1] (contiguous)."""
    rgb = crops[..., ::-1] if crops.shape[-1] == 3 else crops[..., bgr_to_rgb_order(crops.shape[-1])]
    return np.ascontiguousarray(rgb.transpose(0, 3, 1, 2), dtype=np.float32) * np.float32(1 / 255)


def to_nhwc_bgr(images: np.ndarray) -> np.ndarray:
    """N x 3 x S x S float RGB in [0, 1] -> N x S x S x 3 uint8 BGR (rounded, clipped)."""
    out = np.clip(images * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(0, 2, 3, 1)[..., ::-1])
