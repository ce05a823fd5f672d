"""The input video's format, as a faithful output keeps it: pixel format, sample aspect ratio, colour tags."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class VideoFormat:
    """What a faithful output keeps of the input video: pixel format (bit depth, chroma layout), sample
    aspect ratio (anamorphic video) and colour tags."""

    pix_fmt: str | None = None
    sar: Fraction | None = None
    color_range: int = 0
    color_primaries: int = 2  # 2: unspecified
    color_trc: int = 2
    colorspace: int = 2


def video_format_of(stream: Any, rotation: float = 0) -> VideoFormat:
    """The VideoFormat of an av video stream (a 90/270-degree rotation swaps the sample aspect ratio)."""
    ctx = stream.codec_context
    sar = stream.sample_aspect_ratio or ctx.sample_aspect_ratio
    sar = Fraction(sar) if sar and Fraction(sar) > 0 else None
    if sar is not None and int(round(rotation)) % 180 == 90:
        sar = 1 / sar
    pix = ctx.pix_fmt if isinstance(ctx.pix_fmt, str) else getattr(ctx.format, "name", None)

    def tag(name: str, default: int) -> int:
        value = getattr(ctx, name, default)
        return int(value) if value is not None else default

    return VideoFormat(pix, sar, tag("color_range", 0), tag("color_primaries", 2), tag("color_trc", 2),
                       tag("colorspace", 2))
