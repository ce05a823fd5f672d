"""Small helpers shared by tests: decode a video's frames and timing with PyAV directly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np


def video_info(path: str | Path) -> dict:
    """Frame count, pts list, time base, and audio duration (seconds, or None) of a file."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        pts = [f.pts for f in c.decode(v)]
        tb = v.time_base
    audio = None
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            packets = [p for p in c.demux(a) if p.pts is not None]
            if packets:
                end = max(p.pts + (p.duration or 0) for p in packets)
                audio = float((end - min(p.pts for p in packets)) * a.time_base)
    return {"frames": len(pts), "pts": pts, "time_base": tb, "seconds": [float(p * tb) for p in pts],
            "audio_seconds": audio}


def decode_frames(path: str | Path, limit: int | None = None) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        out = []
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="bgr24"))
            if limit and len(out) >= limit:
                break
        return out


def run_cli(*args: str, input: bytes | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run `python -m streamdeblur ARGS` and capture bytes output."""
    return subprocess.run([sys.executable, "-m", "streamdeblur", *args], input=input,
                          capture_output=True, timeout=timeout)


def one_line(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    """The command failed as a user's mistake (2) or a refused output (1) should: that exit code, one line on
    stderr, no traceback. Returns the line."""
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def wait_until_writing(out: str | Path, proc: subprocess.Popen, timeout: float = 180, settle: float = 2.0) -> None:
    """Wait until `process` has written frames into its partial output (`.<stem>.partial-*<ext>`), not for a
    fixed time: on a loaded machine importing torch alone can take longer than any fixed sleep. settle: seconds
    more for a few frames in flight (0: return as soon as it writes)."""
    import time

    from streamdeblur.io.sink import partial_files

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process ended early ({proc.returncode}): {proc.stderr.read().decode()}")
        if any(p.stat().st_size > 0 for p in partial_files(out)):
            time.sleep(settle)
            return
        time.sleep(0.05)
    raise AssertionError(f"no partial output next to {out} after {timeout} s")
