"""Shared fixtures. Real clips come from ../shared (beside the checkout); tests that need them
skip with a clear reason on a fresh clone. Generated clips (from the shipped portrait) need nothing."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# Tests send Ctrl-C (SIGINT) to the commands they start. A suite started in the background (`cmd &` in a script,
# nohup) inherits SIGINT ignored, and so would every command it starts: Python leaves an ignored SIGINT ignored, and
# those tests would wait for a Ctrl-C that never arrives. Catching it here gives the commands the default again
# (a caught signal is reset at exec).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def shared_path(relative: str) -> Path:
    """A file under ../shared, or skip the test saying what is missing."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs ../shared/{relative} (project material beside the checkout; absent here)")
    return path


@pytest.fixture
def shared():
    """Callable: shared('data/tests/single_face_640x360.mp4') -> Path, or skip."""
    return shared_path


@pytest.fixture(scope="session")
def face_clip(tmp_path_factory) -> Path:
    """A 2 s, 24 fps, 480x360 motion-blurred face clip with an AAC tone (generated, no ../shared)."""
    from streamdeblur.synthetic import make_face_clip

    return make_face_clip(tmp_path_factory.mktemp("clips") / "face.mp4")


@pytest.fixture(scope="session")
def sharp_face_clip(tmp_path_factory) -> Path:
    """The same camera motion without blur and without audio."""
    from streamdeblur.synthetic import make_face_clip

    return make_face_clip(tmp_path_factory.mktemp("clips") / "sharp.mp4", blur=False, audio_hz=None)
