"""Every example in examples/ runs as its docstring says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(name: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_deblur_file_example(face_clip, tmp_path):
    out = json.loads(run("deblur_file.py", str(face_clip), str(tmp_path / "out.mp4"), "identity").strip())
    assert out["frames"] == 48 and out["tracks"] == 1 and out["faces"] >= 45


def test_face_tracks_example(face_clip):
    lines = run("face_tracks.py", str(face_clip)).splitlines()
    assert len(lines) >= 45
    assert len({line.split(" track ")[1].split()[0] for line in lines}) == 1  # one face, one stable id
