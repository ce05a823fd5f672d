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


def existing_ancestor(path: str | Path) -> Path:
    """path itself when it exists, else the nearest folder above it that does (what a later mkdir starts from)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_folder(folder: str | Path, option: str) -> None:
    """Before any work, for a folder made later (a report, an output folder): UserError (exit 2) when it is a file
    or lies under one; OutputError (exit 1) when the nearest existing folder takes no writes. Creates nothing."""
    from streamdeblur.errors import OutputError, UserError

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option} {folder} is a file; give a folder")
    existing = existing_ancestor(folder)
    if existing.exists() and not existing.is_dir():
        raise UserError(f"{option} {folder}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {option} {folder}: {existing} is not writable")
