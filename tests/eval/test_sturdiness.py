"""eval's user-facing errors: one line, the option or file at fault, before any long work; Ctrl-C exits 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamdeblur.synthetic import synthesize_frames, write_clip
from tests.helpers import one_line, run_cli


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("eval_clip") / "clip.mp4", synthesize_frames(8, 320, 240, blur=False))


def test_pairs_given_a_file_that_is_no_shard_is_one_line(tmp_path):
    text = tmp_path / "text.mp4"
    text.write_text("not a video, not a tar\n")
    line = one_line(run_cli("eval", "--pairs", str(text), "-o", str(tmp_path / "rep")))
    assert "--pairs" in line and "text.mp4" in line and "not a pairs directory" in line
    assert not (tmp_path / "rep").exists()


def test_a_report_folder_that_is_a_file_is_refused_before_any_work(clip, tmp_path):
    base = tmp_path / "base.mp4"
    base.write_bytes(b"an earlier output")
    for out, needle in ((base, "base.mp4 is a file; give a folder"), (base / "sub", "base.mp4 is a file")):
        line = one_line(run_cli("eval", "--video", str(clip), "-o", str(out), "--model", "identity",
                                      "--embedder", "none", "--landmarker", "none", "-q"))
        assert needle in line and "-o" in line
    assert base.read_bytes() == b"an earlier output"


def test_a_read_only_report_folder_is_an_output_error(tmp_path, monkeypatch):
    from streamdeblur.errors import OutputError
    from streamdeblur import paths

    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as on a read-only filesystem
    with pytest.raises(OutputError, match="cannot write -o .*rep: .* is not writable"):
        paths.check_folder(tmp_path / "rep", "-o")


def test_an_embedder_that_is_not_an_onnx_model_names_the_file(clip, tmp_path):
    text = tmp_path / "text.mp4"
    text.write_text("not a model\n")
    line = one_line(run_cli("eval", "--video", str(clip), "-o", str(tmp_path / "rep"), "--model", "identity",
                                  "--embedder", str(text), "--landmarker", "none", "-q"))
    assert "--embedder" in line and "text.mp4" in line and "ONNX" in line
    line = one_line(run_cli("eval", "--video", str(clip), "-o", str(tmp_path / "rep"), "--model", "identity",
                                  "--embedder", "none", "--landmarker", str(text), "-q"))
    assert "landmarker" in line and "text.mp4" in line


def test_interpolation_on_a_one_frame_clip_is_too_few_frames(tmp_path):
    one = write_clip(tmp_path / "oneframe.mp4", synthesize_frames(1, 160, 120, blur=False))
    line = one_line(run_cli("eval", "--interpolation", str(one), "-o", str(tmp_path / "ev")))
    assert "too few" in line and "oneframe.mp4" in line
    assert not (tmp_path / "ev").exists()


def test_ctrl_c_while_eval_runs_the_pipeline_exits_130(tmp_path):
    """SIGINT lands while `process` writes a method's output (the pipeline then stops early and closes its file):
    eval stops too and exits 130, not with a frame-count mismatch."""
    src = write_clip(tmp_path / "clip.mp4", synthesize_frames(40, 480, 360, blur=False))
    work = tmp_path / "tmp"
    work.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "streamdeblur", "eval", "--video", str(src), "-o",
                             str(tmp_path / "evint"), "--model", "naf", "--max-frames", "40", "--blur", "pravg:3",
                             "--no-baselines", "--embedder", "none", "--landmarker", "none", "-q"],
                            stderr=subprocess.PIPE, env=dict(os.environ, TMPDIR=str(work)))
    deadline = time.monotonic() + 180
    while not any(p.stat().st_size > 0 for p in work.glob("streamdeblur-eval-*/.*_out_naf.partial-*")):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "eval never ran the pipeline"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    text = err.decode()
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "frames for" not in text and text.strip().endswith("interrupted")
    assert not (tmp_path / "evint").exists()
