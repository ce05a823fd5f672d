"""Fixtures for the registry and engine tests: a private cache and an empty engines dir."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, _session_cache, tmp_path):
    """Every test: cache under a session temp dir (ONNX exports shared), engines dir empty, 1 thread."""
    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(_session_cache))
    monkeypatch.setenv("STREAMDEBLUR_ENGINES", str(tmp_path / "engines"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def face_crops() -> np.ndarray:
    """Four 128x128 uint8 BGR crops of the shipped portrait under motion blur."""
    from streamdeblur.synthetic import synthesize_frames

    frames = synthesize_frames(n=4, width=256, height=256, seed=1)
    return np.stack([cv2.resize(f, (128, 128), interpolation=cv2.INTER_AREA) for f in frames])
