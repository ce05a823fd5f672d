"""Classical baselines that share the table with the networks.

- blurred input (nothing done), oracle (the sharp face): trivial, handled by the runner;
- unsharp mask as ffmpeg's `unsharp` filter does it by default: luma only, 5x5 binomial blur
  ([1 4 6 4 1]/16 separable: its cascaded box sums), amount 1.0, chroma untouched;
- non-blind Wiener and Richardson-Lucy deconvolution with the true kernel (an optimistic classical
  bound), in linear light as the kernel pairs are blurred (data/blur.py apply_kernel).
"""

from __future__ import annotations

import cv2
import numpy as np

from streamdeblur.data.blur import linear_to_srgb, srgb_to_linear, to_uint8

_BINOMIAL = {3: [1, 2, 1], 5: [1, 4, 6, 4, 1], 7: [1, 6, 15, 20, 15, 6, 1], 9: [1, 8, 28, 56, 70, 56, 28, 8, 1]}


def unsharp_mask(image: np.ndarray, size: int = 5, amount: float = 1.0) -> np.ndarray:
    """ffmpeg `unsharp` on luma (default 5x5, amount 1.0): Y + amount * (Y - binomial(Y)); chroma kept."""
    if size not in _BINOMIAL:
        raise ValueError(f"unsharp size must be one of {sorted(_BINOMIAL)}, got {size}")
    taps = np.array(_BINOMIAL[size], np.float32)
    taps /= taps.sum()
    ycc = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb).astype(np.float32)
    y = ycc[..., 0]
    blurred = cv2.sepFilter2D(y, -1, taps, taps, borderType=cv2.BORDER_REPLICATE)
    ycc[..., 0] = y + amount * (y - blurred)
    return cv2.cvtColor(np.clip(ycc + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2BGR)


def _to_float(image: np.ndarray, linear: bool) -> np.ndarray:
    return srgb_to_linear(image) if linear else image.astype(np.float32) / 255.0


def _to_uint8(values: np.ndarray, linear: bool) -> np.ndarray:
    return linear_to_srgb(values) if linear else to_uint8(values)


def _check_kernel(kernel: np.ndarray) -> np.ndarray:
    kernel = np.asarray(kernel, np.float64)
    if kernel.ndim != 2 or kernel.sum() <= 0:
        raise ValueError("the blur kernel must be a 2-D array with a positive sum")
    return kernel / kernel.sum()


def wiener_deconvolve(image: np.ndarray, kernel: np.ndarray, nsr: float = 1e-2, linear: bool = True) -> np.ndarray:
    """Non-blind Wiener deconvolution of a uint8 BGR image blurred (convolved) by kernel.

    nsr: noise-to-signal power ratio (the regulariser). The image is reflect-padded by the kernel
    size so the circular FFT does not ring at the borders.
    """
    kernel = _check_kernel(kernel)
    x = _to_float(image, linear).astype(np.float64)
    kh, kw = kernel.shape
    py, px = kh, kw
    padded = cv2.copyMakeBorder(x, py, py, px, px, cv2.BORDER_REFLECT)
    h, w = padded.shape[:2]
    psf = np.zeros((h, w))
    psf[:kh, :kw] = kernel
    psf = np.roll(psf, (-(kh // 2), -(kw // 2)), axis=(0, 1))  # centre the kernel at the origin
    otf = np.fft.fft2(psf)
    gain = np.conj(otf) / (np.abs(otf) ** 2 + nsr)
    out = np.real(np.fft.ifft2(np.fft.fft2(padded, axes=(0, 1)) * gain[..., None], axes=(0, 1)))
    return _to_uint8(np.clip(out[py:-py, px:-px], 0.0, 1.0).astype(np.float32), linear)


def richardson_lucy(image: np.ndarray, kernel: np.ndarray, iterations: int = 30, linear: bool = True) -> np.ndarray:
    """Non-blind Richardson-Lucy deconvolution of a uint8 BGR image blurred (convolved) by kernel."""
    kernel = _check_kernel(kernel).astype(np.float32)
    conv = np.ascontiguousarray(kernel[::-1, ::-1])  # filter2D correlates: flipped kernel = convolution
    x = np.maximum(_to_float(image, linear), 1e-4)
    estimate = x.copy()
    for _ in range(iterations):
        reblurred = cv2.filter2D(estimate, -1, conv, borderType=cv2.BORDER_REFLECT)
        ratio = x / np.maximum(reblurred, 1e-4)
        estimate = estimate * cv2.filter2D(ratio, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return _to_uint8(np.clip(estimate, 0.0, 1.0), linear)
