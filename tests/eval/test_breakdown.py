"""The gain-by-input table: per-face gains binned by the blurred face's PSNR, split re-encoded / clean."""

from __future__ import annotations

import math

import pytest

from streamdeblur.eval import breakdown


def _rows(rows, condition):
    return {r["bin"]: r for r in rows if r["condition"] == condition}


def test_gains_are_binned_by_input_and_split_by_codec():
    blurred = [25.0, 27.0, 31.0, 31.0, math.inf, 50.0]
    methods = {"a": [26.0, 27.5, 31.2, 30.8, math.inf, 49.0], "b": [25.0, math.nan, 32.0, 32.0, 60.0, 50.0]}
    conditions = ["re-encoded", "re-encoded", "clean", "clean", "clean", "clean"]
    rows = breakdown.gain_by_input(blurred, methods, conditions)
    every = _rows(rows, "all")
    assert set(every) == {"< 26 dB", "26-30 dB", "30-34 dB", ">= 45 dB"}  # the face equal to the sharp one is left out
    assert every["< 26 dB"]["gains"]["a"] == pytest.approx(1.0)
    assert every["26-30 dB"]["gains"]["a"] == pytest.approx(0.5)
    assert math.isnan(every["26-30 dB"]["gains"]["b"])  # b did not restore that face
    assert every["30-34 dB"]["n"] == 2 and every["30-34 dB"]["gains"]["a"] == pytest.approx(0.0)
    assert every["30-34 dB"]["gains"]["b"] == pytest.approx(1.0) and every["30-34 dB"]["blurred"] == 31.0
    assert every[">= 45 dB"]["gains"]["a"] == pytest.approx(-1.0)
    assert set(_rows(rows, "re-encoded")) == {"< 26 dB", "26-30 dB"}
    assert set(_rows(rows, "clean")) == {"30-34 dB", ">= 45 dB"}


def test_one_condition_only_gives_no_split_and_metadata_decides_it():
    assert breakdown.condition({"crf": 0.0}) == "clean"
    assert breakdown.condition({"crf": 23}) == "re-encoded"
    assert breakdown.condition({"method": "kernel"}) is None
    rows = breakdown.gain_by_input([30.0, 31.0], {"a": [31.0, 31.0]}, ["clean", "clean"])
    assert {r["condition"] for r in rows} == {"all"} and rows[0]["gains"]["a"] == pytest.approx(0.5)
    lines = breakdown.markdown(rows, ["a"])
    assert lines[0] == "## Gain by input quality" and "| all | 30-34 dB | 2 | 30.50 | +0.50 |" in lines
    assert breakdown.markdown([], ["a"]) == []
