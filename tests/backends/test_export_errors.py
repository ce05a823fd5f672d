"""`export`: an output that cannot be written is one line and leaves nothing behind; --weights takes engine folders."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from streamdeblur import models
from streamdeblur.backends import export_onnx
from streamdeblur.backends import onnx_backend
from streamdeblur.errors import OutputError
from tests.helpers import one_line, run_cli


def test_export_under_a_file_is_one_line_and_writes_nothing(tmp_path):
    base = tmp_path / "base.mp4"
    base.write_bytes(b"a file")
    line = one_line(run_cli("export", "fast-unet", "-o", str(base / "x.onnx")), 2)
    assert "x.onnx" in line and "base.mp4 is a file" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.mp4"]


def test_a_read_only_output_folder_is_an_output_error_before_the_export(tmp_path, monkeypatch):
    real_open = Path.open

    def refuse(self, mode="r", *args, **kwargs):
        if "w" in mode and self.parent == tmp_path:
            raise OSError(30, "Read-only file system", str(self))
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    monkeypatch.setattr(onnx_backend, "_export", lambda *a: pytest.fail("exported before checking the output"))
    with pytest.raises(OutputError, match=r"cannot write .*x\.onnx: Read-only file system"):
        export_onnx("fast", tmp_path / "x.onnx", allow_random=True)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(onnx_backend.os, "access", lambda path, mode: False)  # folders still to make
    with pytest.raises(OutputError, match=r"cannot write .*x\.onnx: .* is not writable"):
        export_onnx("fast", tmp_path / "new" / "x.onnx", allow_random=True)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_during_the_export_is_an_output_error_and_leaves_nothing(tmp_path, monkeypatch):
    def half_written(module, example, path):
        Path(path).write_bytes(b"\x08\x07 half an onnx file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onnx_backend, "_export", half_written)
    with pytest.raises(OutputError, match=r"cannot write .*x\.onnx: No space left on device"):
        export_onnx("fast", tmp_path / "x.onnx", allow_random=True)
    assert list(tmp_path.iterdir()) == []


def test_export_takes_an_engine_folder_as_weights(tmp_path):
    folder = tmp_path / "engine"
    folder.mkdir()
    models.save_weights(models.load_model("fast-unet", allow_random=True), folder / "model.safetensors")
    (folder / "card.json").write_text(json.dumps({"model": "fast-unet"}))
    out = tmp_path / "x.onnx"
    proc = run_cli("export", "naf", "--weights", str(folder), "-o", str(out))  # the card names the model
    assert proc.returncode == 0, proc.stderr.decode()
    assert "holds a fast-unet engine (its card): running it as fast-unet" in proc.stderr.decode()
    onnx.checker.check_model(onnx.load(str(out)))
    line = one_line(run_cli("export", "naf", "--weights", str(tmp_path), "-o", str(out)), 2)
    assert "without model.safetensors" in line
