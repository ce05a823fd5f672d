"""Synthetic face clips made from the shipped public-domain portrait: the embedded default for
`streamdeblur demo`, and test material on a machine with no videos of its own.

The camera pans and shakes over the portrait; with blur=True each frame integrates several
sub-frame positions in linear light (as a real exposure would), so the face is motion-blurred.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from streamdeblur.paths import ASSETS_DIR


def portrait() -> np.ndarray:
    """The shipped portrait (512x512 BGR uint8)."""
    image = cv2.imread(str(ASSETS_DIR / "astronaut.jpg"), cv2.IMREAD_COLOR)
    if image is None:  # pragma: no cover - packaging error
        raise FileNotFoundError(ASSETS_DIR / "astronaut.jpg")
    return image


def _camera_path(n: int, rng: np.random.Generator, shake: float) -> np.ndarray:
    """Per-frame camera offset (dx, dy, zoom): a slow pan plus random shake."""
    t = np.linspace(0.0, 1.0, n)
    pan = np.stack([30 * np.sin(2 * np.pi * t), 15 * np.sin(4 * np.pi * t), 1.0 + 0.15 * t], axis=1)
    pan[:, :2] += rng.normal(0.0, shake, size=(n, 2))
    return pan


def _render(src: np.ndarray, width: int, height: int, dx: float, dy: float, zoom: float) -> np.ndarray:
    scale = zoom * min(width, height) / 450.0
    cx, cy = 225.0, 160.0  # a little below the face centre of the portrait
    m = np.array([[scale, 0, width / 2 - scale * cx + dx], [0, scale, height / 2 - scale * cy + dy]])
    return cv2.warpAffine(src, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def synthesize_frames(
    n: int = 48, width: int = 480, height: int = 360, blur: bool = True, shake: float = 6.0, seed: int = 0
) -> list[np.ndarray]:
    """n BGR frames of the portrait under a moving camera; motion-blurred when blur is set."""
    if n < 1 or width < 1 or height < 1:
        raise ValueError(f"a synthetic clip needs at least one frame of at least 1x1 pixels, got {n} of "
                         f"{width}x{height}")
    rng = np.random.default_rng(seed)
    src = portrait().astype(np.float32) / 255.0
    lin = src**2.2
    path = _camera_path(n + 1, rng, shake)
    frames = []
    for i in range(n):
        if blur:
            subs = 9
            acc = np.zeros((height, width, 3), np.float32)
            for s in np.linspace(0.0, 1.0, subs):
                dx, dy, z = path[i] * (1 - s) + path[i + 1] * s
                acc += _render(lin, width, height, dx, dy, z)
            image = (acc / subs) ** (1 / 2.2)
        else:
            image = _render(src, width, height, *path[i])
        frames.append(np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return frames


def write_clip(
    path: str | Path,
    frames: list[np.ndarray],
    fps: int = 24,
    audio_hz: float | None = None,
    codec: str = "libx264",
    crf: int = 12,
) -> Path:
    """Encode BGR frames to a video file, with an AAC sine tone as long as the video if audio_hz."""
    path = Path(path)
    if not frames:
        raise ValueError(f"no frames to write to {path}")
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            vs.options = {"crf": str(crf), "preset": "veryfast"}
        astream = None
        if audio_hz:
            astream = out.add_stream("aac", rate=48000)
            astream.layout = "mono"
        for i, image in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(image, format="bgr24")
            vf.pts = i
            vf.time_base = Fraction(1, fps)
            for packet in vs.encode(vf):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if astream is not None:
            total = int(48000 * len(frames) / fps)
            t = np.arange(total) / 48000.0
            tone = (0.3 * np.sin(2 * np.pi * audio_hz * t)).astype(np.float32)
            for start in range(0, total, 1024):
                chunk = tone[start : start + 1024]
                af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                af.sample_rate = 48000
                af.pts = start
                af.time_base = Fraction(1, 48000)
                for packet in astream.encode(af):
                    out.mux(packet)
            for packet in astream.encode():
                out.mux(packet)
    return path


def make_face_clip(
    path: str | Path, n: int = 48, width: int = 480, height: int = 360, fps: int = 24,
    blur: bool = True, audio_hz: float | None = 440.0, seed: int = 0,
) -> Path:
    """Write a short face clip (motion-blurred portrait under a shaking camera, with a tone)."""
    return write_clip(path, synthesize_frames(n, width, height, blur=blur, seed=seed), fps=fps, audio_hz=audio_hz)
