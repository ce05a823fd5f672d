"""Deblur engines: run a registered model on batches of face crops.

backend 'auto' picks tensorrt (if importable and CUDA) > torch on CUDA > onnxruntime on CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class Engine(Protocol):
    name: str  # e.g. "torch-cpu", "onnxruntime-cpu", "tensorrt-fp16", "identity"
    input_size: int

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """N x S x S x 3 uint8 BGR crops -> deblurred crops of the same shape and dtype."""
        ...


class IdentityEngine:
    """Returns its input: for tests and for measuring the pipeline without a network."""

    name = "identity"

    def __init__(self, input_size: int = 128) -> None:
        self.input_size = input_size

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        return crops


def create_engine(
    model: str,
    backend: str = "auto",
    device: str = "auto",
    fp16: bool = False,
    weights: Path | None = None,
    allow_random: bool = False,
) -> Engine:
    """Build an engine; UserError for an unknown backend or a backend not available here."""
    raise NotImplementedError
