"""`bench`: options every case would fail on are one-line errors before any clip is made or timed."""

from __future__ import annotations

import pytest

from streamdeblur.bench import check_options
from streamdeblur.errors import UserError
from tests.helpers import one_line, run_cli


@pytest.mark.parametrize("args, needles", [
    (["--frames", "0"], ["--frames", "at least 1"]),
    (["--json", "{tmp}/nodir/z/b.json"], ["--json", "does not exist"]),
    (["--model", "nosuch"], ["unknown model 'nosuch'", "choose one of", "naf"]),
    (["--batch-size", "0"], ["--batch-size must be at least 1"]),
    (["--only", "zzz"], ["--only 'zzz'", "decode+encode", "+detect/track"]),
])
def test_bench_refuses_bad_options_up_front(args, needles, tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    line = one_line(run_cli("bench", "--resolution", "480p", "--faces", "one",
                             *[a.format(tmp=tmp_path) for a in args]))
    for needle in needles:
        assert needle in line
    assert not (tmp_path / "cache" / "bench").exists()  # no clip was generated


def test_bench_check_options_accepts_what_bench_runs():
    check_options("naf", 8, 2, 60, ["detect", "onnxruntime"])
    with pytest.raises(UserError, match="--threads"):
        check_options("naf", 8, 0, 60)
    with pytest.raises(UserError, match="--detect-every"):
        check_options("naf", 8, 2, 60, detect_every=0)
