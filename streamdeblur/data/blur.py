"""Blur synthesis: pure functions on uint8 BGR images (no files, no video decoding).

- Camera response: frames are averaged in linear light (the sRGB curve is undone, the linear
  values averaged, the curve re-applied), which is how a longer exposure integrates light.
  `linear=False` gives the plain average of the encoded values. Values stay within [0, 1]
  (an average or a normalised non-negative kernel cannot leave that range); clipping to 255
  only happens after noise is added. Saturated pixels are taken as exactly 1.0 (no highlight
  recovery), so blurred highlights come out a little dimmer than a real exposure would give.
- Fixed-length averaging (PrAvg): `window_bounds` + `average_frames`, the middle frame is sharp.
- Variable Length Averaging (VLA): `grow_vla` grows a window symmetrically around a centre frame
  while (i) the face boxes of the first and last frames overlap, (ii) the running average still
  resembles the middle frame, (iii) the optical flow of the face region is coherent (no reversal
  and no flow failure such as a scene cut), and says why it stopped.
- Camera-shake kernels: `motion_kernel` draws a random trajectory (Boracchi & Foi 2012, as in
  Kupyn et al. 2018) and rasterises it; `apply_kernel` blurs in linear light and adds noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

STOP_REASONS = ("max_length", "edge", "overlap", "similarity", "flow_reversal", "flow_failure")

# --- camera response ---------------------------------------------------------------------------

_SRGB_LUT = np.where(
    np.arange(256) / 255.0 <= 0.04045,
    np.arange(256) / 255.0 / 12.92,
    ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4,
).astype(np.float32)


def srgb_to_linear(image: np.ndarray) -> np.ndarray:
    """uint8 sRGB-encoded image -> float32 linear light in [0, 1]."""
    if image.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {image.dtype}")
    return _SRGB_LUT[image]


def linear_to_srgb_float(linear: np.ndarray) -> np.ndarray:
    """float linear light -> float sRGB-encoded values in [0, 1] (input clipped to [0, 1])."""
    x = np.clip(linear.astype(np.float32, copy=False), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """float linear light in [0, 1] -> uint8 sRGB (rounded, clipped)."""
    return to_uint8(linear_to_srgb_float(linear))


def to_uint8(values: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8, rounded and clipped."""
    return np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8)


def average_frames(frames: Sequence[np.ndarray], linear: bool = True) -> np.ndarray:
    """Average uint8 frames of equal shape: in linear light (default) or of the encoded values."""
    if len(frames) == 0:
        raise ValueError("average_frames needs at least one frame")
    if linear:
        acc = np.zeros(frames[0].shape, np.float32)
        for frame in frames:
            acc += srgb_to_linear(frame)
        return linear_to_srgb(acc / len(frames))
    acc = np.zeros(frames[0].shape, np.float32)
    for frame in frames:
        acc += frame
    return np.clip(acc / len(frames) + 0.5, 0, 255).astype(np.uint8)


def window_bounds(center: int, length: int) -> tuple[int, int]:
    """Frame range [start, stop) of an odd-length window centred on `center`."""
    if length < 1 or length % 2 == 0:
        raise ValueError(f"window length must be odd and positive, got {length}")
    r = length // 2
    return center - r, center + r + 1


# --- image measures ----------------------------------------------------------------------------


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image (higher = sharper)."""
    return float(cv2.Laplacian(_gray(image), cv2.CV_64F).var())


def gradient_energy(image: np.ndarray) -> float:
    """Mean squared Sobel gradient magnitude of the grey image (higher = sharper)."""
    g = _gray(image).astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.mean(gx * gx + gy * gy))


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 images in grey levels (0-255)."""
    return float(np.mean(np.abs(_gray(a).astype(np.float32) - _gray(b).astype(np.float32))))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of the grey images (Gaussian window, sigma 1.5; Wang et al. 2004)."""
    x, y = _gray(a).astype(np.float64), _gray(b).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * cxy + c2)
    den = (mx * mx + my * my + c1) * (vx + vy + c2)
    return float(np.mean(num / den))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the grey images (1.0 for identical, 0.0 for flat images)."""
    x, y = _gray(a).astype(np.float64).ravel(), _gray(b).astype(np.float64).ravel()
    x, y = x - x.mean(), y - y.mean()
    den = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y / den) if den > 0 else 0.0


SIMILARITY = {"ssim": ssim, "corr": correlation}


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


# --- optical flow ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairMotion:
    """Motion between two consecutive crops: median flow (dx, dy) in crop pixels of the first crop's
    size, the mean grey residual after warping the second onto the first, and the crop size."""

    dx: float
    dy: float
    residual: float
    size: int

    @property
    def magnitude(self) -> float:
        """Length of the median flow vector in crop pixels."""
        return math.hypot(self.dx, self.dy)


_FLOW: dict[str, cv2.DISOpticalFlow] = {}


def optical_flow(a: np.ndarray, b: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense flow from grey image a to b (HxWx2 float32): 'dis' (OpenCV DIS) or 'farneback'."""
    ga, gb = _gray(a), _gray(b)
    if method == "dis":
        if "dis" not in _FLOW:
            _FLOW["dis"] = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return _FLOW["dis"].calc(ga, gb, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    raise ValueError(f"unknown flow method {method!r}; choose 'dis' or 'farneback'")


def pair_motion(a: np.ndarray, b: np.ndarray, method: str = "dis", border: float = 0.15) -> PairMotion:
    """Flow between two crops of the same geometry, measured on the central part (face region)."""
    flow = optical_flow(a, b, method)
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    warped = cv2.remap(_gray(b), grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    y0, x0 = int(h * border), int(w * border)
    inner = (slice(y0, h - y0), slice(x0, w - x0))
    residual = float(np.mean(np.abs(warped[inner].astype(np.float32) - _gray(a)[inner].astype(np.float32))))
    dx, dy = (float(np.median(flow[inner][..., k])) for k in (0, 1))
    if not (math.isfinite(dx) and math.isfinite(dy) and math.isfinite(residual)):
        return PairMotion(0.0, 0.0, float("inf"), w)
    return PairMotion(dx, dy, residual, w)


# --- variable length averaging -----------------------------------------------------------------


@dataclass(frozen=True)
class VLAConfig:
    """Stop conditions of VLA. Flow thresholds are fractions of the analysis crop size."""

    min_length: int = 5
    max_length: int = 21
    overlap: float = 0.4  # (i) minimum IoU of the first and last frames' face boxes
    similarity: float = 0.6  # (ii) minimum SSIM/correlation of the running average vs the middle
    metric: str = "ssim"  # 'ssim' or 'corr'
    linear: bool = True  # average in linear light for the similarity test
    max_residual: float = 20.0  # (iii) flow failure: grey residual after warping (0-255)
    max_step: float = 0.25  # (iii) flow failure: one frame's motion larger than this fraction of the crop
    reversal_cos: float = 0.0  # (iii) reversal: cosine between motions below this
    min_flow: float = 0.006  # motions shorter than this fraction of the crop have no direction
    flow_method: str = "dis"

    def __post_init__(self) -> None:
        if self.min_length < 1 or self.max_length < self.min_length:
            raise ValueError("VLA needs 1 <= min_length <= max_length")
        if self.metric not in SIMILARITY:
            raise ValueError(f"unknown similarity metric {self.metric!r}; choose one of {sorted(SIMILARITY)}")


@dataclass(frozen=True)
class VLAResult:
    """The grown window: odd length, why it stopped, and the last similarity measured."""

    length: int
    reason: str
    similarity: float = 1.0

    def bounds(self, center: int) -> tuple[int, int]:
        """Frame range [start, stop) of the window."""
        return window_bounds(center, self.length)


def _opposed(u: PairMotion, v: PairMotion | np.ndarray, min_flow: float, cos_limit: float) -> bool:
    """True when both motions are long enough to have a direction and point apart."""
    vx, vy = (v.dx, v.dy) if isinstance(v, PairMotion) else (float(v[0]), float(v[1]))
    nu, nv = u.magnitude, math.hypot(vx, vy)
    if nu < min_flow * u.size or nv < min_flow * u.size:
        return False
    return (u.dx * vx + u.dy * vy) / (nu * nv) < cos_limit


def grow_vla(
    crops: Sequence[np.ndarray | None],
    boxes: Sequence[np.ndarray | None],
    center: int,
    config: VLAConfig = VLAConfig(),
    motion: Callable[[int], PairMotion] | None = None,
) -> VLAResult:
    """Grow a window around crops[center] by one frame on each side while the stop conditions allow.

    crops: face crops of consecutive frames in one common geometry (None: frame or face missing);
    boxes: the face box of each frame in frame coordinates; motion(i): the PairMotion from crop i to
    crop i+1 (computed from the crops with config.flow_method when not given; pass a cached one).
    """
    n = len(crops)
    if not 0 <= center < n or crops[center] is None:
        raise ValueError("the centre crop must exist")
    cache: dict[int, PairMotion] = {}

    def get_motion(i: int) -> PairMotion:
        if i not in cache:
            cache[i] = motion(i) if motion is not None else pair_motion(crops[i], crops[i + 1], config.flow_method)
        return cache[i]

    measure = SIMILARITY[config.metric]
    middle = crops[center]
    total = srgb_to_linear(middle) if config.linear else middle.astype(np.float32)
    net = np.zeros(2)
    r, sim = 0, 1.0
    while 2 * (r + 1) + 1 <= config.max_length:
        lo, hi = center - r - 1, center + r + 1
        if lo < 0 or hi >= n or crops[lo] is None or crops[hi] is None or boxes[lo] is None or boxes[hi] is None:
            return VLAResult(2 * r + 1, "edge", sim)
        left, right = get_motion(lo), get_motion(hi - 1)
        for m in (left, right):
            if not math.isfinite(m.residual) or m.residual > config.max_residual or m.magnitude > config.max_step * m.size:
                return VLAResult(2 * r + 1, "flow_failure", sim)
        inner_left = get_motion(lo + 1) if r > 0 else right
        inner_right = get_motion(hi - 2) if r > 0 else left
        if (
            _opposed(left, inner_left, config.min_flow, config.reversal_cos)
            or _opposed(right, inner_right, config.min_flow, config.reversal_cos)
            or (r > 0 and _opposed(left, net, config.min_flow, config.reversal_cos))
            or (r > 0 and _opposed(right, net, config.min_flow, config.reversal_cos))
        ):
            return VLAResult(2 * r + 1, "flow_reversal", sim)
        if box_iou(boxes[lo], boxes[hi]) < config.overlap:
            return VLAResult(2 * r + 1, "overlap", sim)
        if config.linear:
            candidate = total + srgb_to_linear(crops[lo]) + srgb_to_linear(crops[hi])
            average = linear_to_srgb(candidate / (2 * r + 3))
        else:
            candidate = total + crops[lo].astype(np.float32) + crops[hi].astype(np.float32)
            average = np.clip(candidate / (2 * r + 3) + 0.5, 0, 255).astype(np.uint8)
        s = measure(average, middle)
        if s < config.similarity:
            return VLAResult(2 * r + 1, "similarity", s)
        total, sim = candidate, s
        net += (left.dx + right.dx, left.dy + right.dy)
        r += 1
    return VLAResult(2 * r + 1, "max_length", sim)


# --- camera-shake kernels ----------------------------------------------------------------------


def shake_trajectory(rng: np.random.Generator, steps: int = 256, exposure: float | None = None) -> np.ndarray:
    """A random camera-shake trajectory (steps x 2, arbitrary units): constant speed, Gaussian shake,
    a centripetal pull and rare abrupt jerks (the Markov model of Boracchi & Foi 2012)."""
    anxiety = rng.uniform(0.005, 0.1)
    centripetal = 0.7 * rng.uniform()
    p_jerk = 0.2 * rng.uniform()
    shake = 10.0 * rng.uniform()
    step = 1.0 / (steps - 1)
    angle = rng.uniform(0, 2 * np.pi)
    v = complex(math.cos(angle), math.sin(angle)) * step
    x = np.zeros(steps, np.complex128)
    for t in range(steps - 1):
        jerk = 0.0
        if rng.uniform() < p_jerk * anxiety:
            jerk = 2 * v * np.exp(1j * (np.pi + (rng.uniform() - 0.5)))
        dv = jerk + anxiety * (shake * complex(rng.normal(), rng.normal()) - centripetal * x[t]) * step
        v = v + dv
        v = v / abs(v) * step if abs(v) > 0 else complex(step, 0)
        x[t + 1] = x[t] + v
    keep = steps if exposure is None else max(2, int(round(steps * exposure)))
    return np.stack([x.real[:keep], x.imag[:keep]], axis=1)


def rasterize_trajectory(points: np.ndarray, size: int) -> np.ndarray:
    """A size x size kernel: the trajectory scaled so its longer extent spans size - 2 pixels,
    centred, splatted bilinearly, normalised to sum 1."""
    p = points - points.min(axis=0)
    extent = float(p.max())
    p = p * ((size - 2) / extent) if extent > 0 else p
    p = p + (size - 1 - p.max(axis=0)) / 2.0  # centre it
    kernel = np.zeros((size, size), np.float64)
    x0, y0 = np.floor(p[:, 0]).astype(int), np.floor(p[:, 1]).astype(int)
    fx, fy = p[:, 0] - x0, p[:, 1] - y0
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xs, ys = np.clip(x0 + dx, 0, size - 1), np.clip(y0 + dy, 0, size - 1)
        np.add.at(kernel, (ys, xs), w)
    return (kernel / kernel.sum()).astype(np.float32)


def motion_kernel(size: int, rng: np.random.Generator) -> np.ndarray:
    """A random camera-shake blur kernel, size x size (size >= 3), float32, summing to 1."""
    if size < 3:
        raise ValueError(f"kernel size must be at least 3, got {size}")
    for _ in range(20):  # a trajectory that folds onto itself can rasterise to almost a point
        kernel = rasterize_trajectory(shake_trajectory(rng, exposure=rng.uniform(0.5, 1.0)), size)
        if kernel.max() < 0.5 and np.count_nonzero(kernel > 1e-4) >= size:
            return kernel
    return kernel


def kernel_extent(kernel: np.ndarray, threshold: float = 1e-4) -> int:
    """Longer side, in pixels, of the kernel's support."""
    ys, xs = np.nonzero(kernel > threshold)
    return int(max(xs.max() - xs.min(), ys.max() - ys.min()) + 1) if len(xs) else 0


def apply_kernel(
    image: np.ndarray,
    kernel: np.ndarray,
    linear: bool = True,
    noise: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Blur a uint8 image with a kernel (in linear light by default), then add Gaussian noise of
    standard deviation `noise` grey levels (0-255) in the encoded domain."""
    flipped = np.ascontiguousarray(kernel[::-1, ::-1])  # filter2D correlates; flip for a convolution
    if linear:
        out = linear_to_srgb_float(cv2.filter2D(srgb_to_linear(image), -1, flipped, borderType=cv2.BORDER_REFLECT))
    else:
        out = cv2.filter2D(image.astype(np.float32) / 255.0, -1, flipped, borderType=cv2.BORDER_REFLECT)
    if noise > 0:
        rng = rng if rng is not None else np.random.default_rng()
        out = out + rng.normal(0.0, noise / 255.0, out.shape).astype(np.float32)
    return to_uint8(out)
