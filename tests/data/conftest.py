"""Fixtures of the make-pairs tests: short generated clips (no ../shared needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_moving_clip(path: Path, n: int = 40, seed: int = 1) -> Path:
    """A sharp 480x360 face clip under a smoothly panning camera (little shake)."""
    from streamdeblur.synthetic import synthesize_frames, write_clip

    return write_clip(path, synthesize_frames(n, 480, 360, blur=False, shake=0.5, seed=seed))


def write_faceless_clip(path: Path, n: int = 20) -> Path:
    """A clip of smooth grey gradients, no face."""
    from streamdeblur.synthetic import write_clip

    ramp = np.linspace(40, 200, 320, dtype=np.float32)
    frames = [np.repeat(np.clip(ramp[None, :] + 3 * i, 0, 255).astype(np.uint8)[:, :, None], 3, 2).repeat(240, 0)
              for i in range(n)]
    return write_clip(path, frames)


@pytest.fixture(scope="session")
def clips_dir(tmp_path_factory) -> Path:
    """A directory with two generated face clips (different camera paths)."""
    d = tmp_path_factory.mktemp("pair_clips")
    write_moving_clip(d / "a.mp4", seed=1)
    write_moving_clip(d / "b.mp4", seed=2)
    return d


@pytest.fixture(scope="session")
def moving_clip(clips_dir) -> Path:
    """One generated sharp face clip with camera motion (40 frames, 480x360)."""
    return clips_dir / "a.mp4"
