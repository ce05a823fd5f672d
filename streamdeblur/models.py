"""Model registry: name -> builder, input size, weights in engines/<name>/, card.

Every registered model is wrapped so that forward() takes and returns N x 3 x S x S RGB float
tensors in [0, 1]; the backends know nothing else about the networks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from streamdeblur.paths import engines_dir


@dataclass(frozen=True)
class ModelSpec:
    name: str
    arch: str
    build: Callable[[], torch.nn.Module]
    input_size: int
    description: str

    @property
    def weights_path(self) -> Path:
        return engines_dir() / self.name / "model.safetensors"

    @property
    def card_path(self) -> Path:
        return engines_dir() / self.name / "card.json"


def list_models() -> list[str]:
    raise NotImplementedError


def get_spec(name: str) -> ModelSpec:
    """Spec for a registered name; UserError listing the known names otherwise."""
    raise NotImplementedError


def load_model(name: str, weights: Path | None = None, allow_random: bool = False) -> torch.nn.Module:
    """Build the model in eval mode with its weights (fp16 safetensors are upcast).

    Raises MissingWeightsError (saying how to get them) when no weights exist, unless allow_random.
    """
    raise NotImplementedError
