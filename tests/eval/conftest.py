"""Fixtures of the eval tests: a tiny pairs directory made from the synthetic portrait."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def make_pairs_dir(root: Path, n: int = 4, size: int = 128, seed: int = 0) -> Path:
    """Write one shard in make-pairs' layout: n 'pravg:7' pairs (synthetic exposure blur) and n 'kernel'
    pairs (a known camera-shake kernel, stored in the json) of the synthetic portrait."""
    from streamdeblur.data.blur import apply_kernel, average_frames, motion_kernel
    from streamdeblur.data.shards import TarWriter
    from streamdeblur.faces.crops import alignment_matrix, extract_crop
    from streamdeblur.faces.detect import create_detector
    from streamdeblur.synthetic import synthesize_frames

    frames = synthesize_frames(n + 6, 320, 240, blur=False, shake=4.0, seed=seed)
    sharp = frames[3:-3]
    blurred = [average_frames(frames[i:i + 7]) for i in range(n)]  # 7-frame window around each sharp frame
    detector = create_detector("yunet")
    rng = np.random.default_rng(seed)
    writer = TarWriter(root / "synthetic" / "pairs-000000.tar")
    for i, (s, b) in enumerate(zip(sharp, blurred)):
        face = detector.detect(s)[0]
        m = alignment_matrix(face.landmarks, size)
        s_crop, b_crop = extract_crop(s, m, size), extract_crop(b, m, size)
        writer.add_pair(f"avg{i:03d}", b_crop, s_crop, {"method": "pravg", "length": 7, "clip": "portrait"})
        kernel = motion_kernel(9, rng)
        writer.add_pair(f"ker{i:03d}", apply_kernel(s_crop, kernel), s_crop,
                        {"method": "kernel", "clip": "portrait", "kernel": kernel.round(6).tolist()})
    writer.close()
    return root


@pytest.fixture(scope="session")
def pairs_dir(tmp_path_factory) -> Path:
    """A pairs directory with 4 'pravg:7' and 4 'kernel' pairs at 128 px."""
    return make_pairs_dir(tmp_path_factory.mktemp("pairs"))
