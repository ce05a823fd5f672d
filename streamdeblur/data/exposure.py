"""Realistic motion blur: flow-interpolated exposures of real video (pure functions, no learnt weights).

A camera integrates light while its shutter is open, at most one frame interval. Averaging 7-21
whole frames of 25-30 fps video (PrAvg, VLA) gives separated, ghosted copies instead of that
smooth smear. Here the continuous motion between consecutive frames is rebuilt with bidirectional
optical flow (OpenCV DIS) and integrated in linear light over the exposure:

- time is measured in source frames: frame i sits at t = i; an exposure centred on t = c of
  length E covers [c - E/2, c + E/2] and is sampled at the midpoints of round(E * subframes) equal
  sub-intervals (at least one), so `subframes` is the number of samples per source frame interval;
- the sample at t in [i, i+1] is interpolated from frames i and i+1: both are warped to time t
  along the flow (the intermediate flows of Jiang et al.'s Super SloMo, 2018) and blended by
  their distance in time, each weighted by its visibility (a forward-backward consistency test
  marks pixels that one frame cannot see: occlusion is filled from the other frame);
- `E = speed * shutter`: `speed` plays the clip as if the person moved `speed` times faster,
  `shutter` is the fraction of the (sped-up) frame interval the shutter is open.

`encode_roundtrip` then does what every video a user has went through: an x264 encode and decode
at a given CRF (4:2:0 chroma). Sensor noise and camera shake come from data/blur.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import cv2
import numpy as np

from streamdeblur.data.blur import linear_to_srgb, srgb_to_linear

Flows = tuple[np.ndarray, np.ndarray]  # (flow i -> i+1, flow i+1 -> i), HxWx2 float32


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


_DIS: list[cv2.DISOpticalFlow] = []


def bidirectional_flow(a: np.ndarray, b: np.ndarray) -> Flows:
    """Dense DIS optical flow a -> b and b -> a (uint8 BGR or grey images of one size)."""
    if not _DIS:
        _DIS.append(cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM))
    ga, gb = _gray(a), _gray(b)
    return _DIS[0].calc(ga, gb, None), _DIS[0].calc(gb, ga, None)


_GRIDS: dict[tuple[int, int], np.ndarray] = {}


def _grid(h: int, w: int) -> np.ndarray:
    """HxWx2 float32 pixel coordinates (x, y), cached per size."""
    if (h, w) not in _GRIDS:
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        _GRIDS[(h, w)] = np.dstack([gx, gy])
    return _GRIDS[(h, w)]


def backward_warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """out(x) = image(x + flow(x)) (bilinear, border replicated)."""
    return cv2.remap(image, _grid(*flow.shape[:2]) + flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def visibility(flow_ab: np.ndarray, flow_ba: np.ndarray, tolerance: float = 0.5, slope: float = 0.05) -> np.ndarray:
    """Soft visibility in [0, 1] of each pixel of image a in image b: 1 where the flow a -> b and the
    flow b -> a at its destination cancel (forward-backward consistency), 0 where they disagree by
    more than tolerance + slope * (|f_ab|^2 + |f_ba|^2) pixels (occluded, or flow failure)."""
    back = backward_warp(flow_ba, flow_ab)
    err = _squared_length(flow_ab + back)
    bound = tolerance + slope * (_squared_length(flow_ab) + _squared_length(back))
    return np.clip(1.5 - err / np.maximum(bound, 1e-6), 0.0, 1.0).astype(np.float32)


def _squared_length(flow: np.ndarray) -> np.ndarray:
    """x^2 + y^2 of each vector of an HxWx2 flow: what np.sum(flow**2, axis=2) gives, bit for bit, in a tenth of
    its time (numpy reduces a 2-long last axis slowly; make-pairs' motion pairs spent a sixth of their time there)."""
    x, y = flow[..., 0], flow[..., 1]
    return x * x + y * y


def premultiply(image: np.ndarray, vis: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """[image * w, w] with w = vis + eps: the form interpolate() warps (one remap for colour and weight)."""
    w = (vis + eps)[..., None]
    img = image if image.ndim == 3 else image[..., None]
    return np.concatenate([img * w, w], axis=2).astype(np.float32, copy=False)


def interpolate(a: np.ndarray, b: np.ndarray, flows: Flows, t: float,
                premultiplied: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The image at time t in [0, 1] between a (t=0) and b (t=1): float arrays (1-3 channels, e.g.
    linear light), flows (a -> b, b -> a). The intermediate flows are Super SloMo's; each frame is
    warped to time t with its visibility (occluded pixels are filled from the other frame) and the
    two are blended by their distance in time. premultiplied: premultiply(a, vis_a), premultiply(b,
    vis_b) when cached."""
    if t <= 0.0:
        return a
    if t >= 1.0:
        return b
    f01, f10 = flows
    if premultiplied is None:
        premultiplied = (premultiply(a, visibility(f01, f10)), premultiply(b, visibility(f10, f01)))
    pa, pb = premultiplied
    ft0 = cv2.addWeighted(f01, -(1.0 - t) * t, f10, t * t, 0.0)
    ft1 = cv2.addWeighted(f01, (1.0 - t) ** 2, f10, -t * (1.0 - t), 0.0)
    mix = cv2.addWeighted(backward_warp(pa, ft0), 1.0 - t, backward_warp(pb, ft1), t, 0.0)
    out = mix[..., :-1] / mix[..., -1:]
    return out if a.ndim == 3 else out[..., 0]


def exposure_times(center: float, length: float, subframes: int) -> np.ndarray:
    """Sample times (source frame units) of an exposure of `length` frame intervals centred on `center`:
    midpoints of max(1, round(length * subframes)) equal sub-intervals."""
    if length < 0 or subframes < 1:
        raise ValueError(f"exposure length must be >= 0 and subframes >= 1, got {length}, {subframes}")
    n = max(1, int(round(length * subframes)))
    return center - length / 2.0 + (np.arange(n) + 0.5) * (length / n)


def exposure_span(center: float, length: float) -> tuple[int, int]:
    """The source frames [first, last] an exposure reads."""
    return int(math.floor(center - length / 2.0 + 1e-9)), int(math.ceil(center + length / 2.0 - 1e-9))


class ExposureSynth:
    """Exposures of one sequence of consecutive frames of one geometry (uint8 BGR, index = time).

    Flows and linear-light frames are computed once per frame interval and reused by every
    exposure drawn from the same sequence. `flow_source`, when given, supplies the flows of
    interval i (e.g. computed on other images), else they come from bidirectional_flow().
    """

    def __init__(self, frames: Sequence[np.ndarray], linear: bool = True,
                 flow_source: Callable[[int], Flows] | None = None) -> None:
        if len(frames) == 0:
            raise ValueError("an exposure needs at least one frame")
        self.frames = frames
        self.linear = linear
        self._flow_source = flow_source
        self._lin: dict[int, np.ndarray] = {}
        self._flows: dict[int, tuple[Flows, tuple[np.ndarray, np.ndarray]]] = {}  # flows, premultiplied

    def _image(self, i: int) -> np.ndarray:
        if i not in self._lin:
            frame = self.frames[i]
            self._lin[i] = srgb_to_linear(frame) if self.linear else frame.astype(np.float32) / 255.0
        return self._lin[i]

    def forget_before(self, i: int) -> None:
        """Drop what was computed for frames and intervals before frame i (bounded memory on long clips)."""
        for cache in (self._lin, self._flows):
            for k in [k for k in cache if k < i]:
                del cache[k]

    def flows(self, i: int) -> Flows:
        """Bidirectional flow of interval [i, i+1] (cached)."""
        return self._interval(i)[0]

    def _interval(self, i: int) -> tuple[Flows, tuple[np.ndarray, np.ndarray]]:
        if i not in self._flows:
            f = self._flow_source(i) if self._flow_source else bidirectional_flow(self.frames[i], self.frames[i + 1])
            pre = (premultiply(self._image(i), visibility(f[0], f[1])),
                   premultiply(self._image(i + 1), visibility(f[1], f[0])))
            self._flows[i] = (f, pre)
        return self._flows[i]

    def sample(self, t: float) -> np.ndarray:
        """The (linear-light) image at time t, interpolated between its two neighbouring frames."""
        n = len(self.frames)
        if not -1e-6 <= t <= n - 1 + 1e-6:
            raise ValueError(f"time {t:.3f} is outside the frames [0, {n - 1}]")
        i = min(max(int(math.floor(t)), 0), n - 2) if n > 1 else 0
        frac = t - i
        if n == 1 or frac <= 1e-6:
            return self._image(i)
        if frac >= 1 - 1e-6:
            return self._image(i + 1)
        flows, pre = self._interval(i)
        return interpolate(self._image(i), self._image(i + 1), flows, frac, pre)

    def exposure(self, center: float, length: float, subframes: int) -> np.ndarray:
        """uint8 BGR image integrated over the exposure (linear light unless linear=False)."""
        acc = None
        times = exposure_times(center, length, subframes)
        for t in times:
            s = self.sample(float(t))
            if acc is None:
                acc = s.astype(np.float32, copy=True)
            else:
                acc += s
        mean = acc / len(times)
        if self.linear:
            return linear_to_srgb(mean)
        return np.clip(mean * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def path_length(self, center: float, length: float, region: tuple[slice, slice] | None = None) -> float:
        """Median (over the region) length in pixels of the path a point travels during the exposure."""
        lo, hi = center - length / 2.0, center + length / 2.0
        total = None
        for i in range(int(math.floor(lo)), int(math.ceil(hi))):
            overlap = min(hi, i + 1) - max(lo, i)
            if overlap <= 0 or i + 1 >= len(self.frames):
                continue
            f = self.flows(i)[0]
            mag = np.hypot(f[..., 0], f[..., 1]) * overlap
            total = mag if total is None else total + mag
        if total is None:
            return 0.0
        return float(np.median(total[region] if region is not None else total))


def synthesize_exposure(frames: Sequence[np.ndarray], center: float, length: float, subframes: int = 16,
                        linear: bool = True) -> np.ndarray:
    """One exposure of `length` frame intervals centred on time `center` of consecutive uint8 frames."""
    return ExposureSynth(frames, linear).exposure(center, length, subframes)


def encode_roundtrip(frames: Sequence[np.ndarray], crf: float, preset: str = "medium") -> list[np.ndarray]:
    """The frames after an x264 encode (CRF, yuv420p, the given preset) and decode, as uint8 BGR.

    Frames are padded by edge replication to multiples of 32 and cropped back: at other sizes this x264 was
    seen to give another bitstream for the same frames now and then (about 1 encode in 10 when encodes at
    other CRFs came between), where padded sizes gave the same bytes every time.
    """
    import av

    h, w = frames[0].shape[:2]
    ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = pw, ph, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.options = {"crf": f"{crf:g}", "preset": preset, "threads": "1"}
    packets = []
    for k, image in enumerate(frames):
        padded = cv2.copyMakeBorder(image, 0, ph - h, 0, pw - w, cv2.BORDER_REPLICATE) if (ph, pw) != (h, w) else image
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), format="bgr24").reformat(format="yuv420p")
        frame.pts = k
        packets += enc.encode(frame)
    packets += enc.encode(None)
    dec = av.CodecContext.create("h264", "r")
    dec.options = {"threads": "1"}
    out = []
    for packet in packets:
        out += [f.to_ndarray(format="bgr24")[:h, :w] for f in dec.decode(packet)]
    out += [f.to_ndarray(format="bgr24")[:h, :w] for f in dec.decode(None)]
    if len(out) != len(frames):
        raise RuntimeError(f"x264 round trip returned {len(out)} frames for {len(frames)}")
    return out


@dataclass(frozen=True)
class MotionConfig:
    """Ranges the `motion` pair method draws from (uniformly; CRF 0 = no re-encode)."""

    speed: tuple[float, float] = (1.0, 12.0)
    shutter: tuple[float, float] = (0.25, 1.0)
    subframes: tuple[int, int] = (2, 16)  # samples per source interval: enough for <= 1 px steps, within range
    crf: tuple[float, float] = (18.0, 32.0)
    crf_share: float = 1.0  # probability that a pair is re-encoded at all (the rest stay as clean as the source)
    shake: float = 0.0  # probability of composing a camera-shake kernel on top
    frames: int = 1  # K consecutive exposures per pair (odd): multi-frame groups for temporal engines
    # with frames > 1: also each exposure's sharp frame (the source at its centre time, flow-interpolated between
    # frames), for the flicker loss, which compares two consecutive outputs' change with their targets'
    targets: bool = False

    def __post_init__(self) -> None:
        for name in ("speed", "shutter", "subframes", "crf"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name} range must be min,max with min <= max, got {lo},{hi}")
        if self.speed[0] <= 0:
            raise ValueError(f"speed must be > 0 (pixels a frame), got {self.speed[0]:g},{self.speed[1]:g}")
        if not 0 < self.shutter[0] <= self.shutter[1] <= 1.0:
            raise ValueError(f"shutter must be within (0, 1] (the share of the frame interval exposed), "
                             f"got {self.shutter[0]:g},{self.shutter[1]:g}")
        if self.subframes[0] < 1:
            raise ValueError(f"subframes must be >= 1, got {self.subframes[0]}")
        if self.crf[0] < 0 or self.crf[1] > 51:
            raise ValueError(f"crf must be within [0, 51] (x264's scale), got {self.crf[0]:g},{self.crf[1]:g}")
        if not 0.0 <= self.shake <= 1.0:
            raise ValueError(f"shake is a probability in [0, 1], got {self.shake}")
        if not 0.0 <= self.crf_share <= 1.0:
            raise ValueError(f"crf-share is a probability in [0, 1], got {self.crf_share}")
        if self.frames < 1 or self.frames % 2 == 0:
            raise ValueError(f"frames must be odd and positive, got {self.frames}")
        if self.targets and self.frames < 3:
            raise ValueError("targets (a sharp frame per exposure) need groups of 3 or more exposures (--frames 3)")

    @property
    def radius(self) -> int:
        """Source frames needed on each side of a centre frame for the longest group."""
        s = self.speed[1]
        return int(math.ceil((self.frames // 2) * s + s * self.shutter[1] / 2.0)) + 1


def subframes_for(step_px: float, bounds: tuple[int, int]) -> int:
    """Samples per interval so that consecutive samples move at most about one pixel, within bounds."""
    return int(min(max(math.ceil(step_px), bounds[0]), bounds[1]))
