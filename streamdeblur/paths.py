"""Where the project keeps things: released engines, run state, caches."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"


def engines_dir() -> Path:
    """Released engines: $STREAMDEBLUR_ENGINES, else the repository's engines/ beside the package."""
    env = os.environ.get("STREAMDEBLUR_ENGINES")
    return Path(env) if env else PACKAGE_DIR.parent / "engines"


def cache_dir() -> Path:
    """Run state and built artifacts: $STREAMDEBLUR_CACHE, else ~/.cache/streamdeblur."""
    env = os.environ.get("STREAMDEBLUR_CACHE")
    path = Path(env) if env else Path.home() / ".cache" / "streamdeblur"
    path.mkdir(parents=True, exist_ok=True)
    return path
