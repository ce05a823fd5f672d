"""The pairs mode end to end on a tiny generated pair set."""

from __future__ import annotations

import json
import math
import tarfile

import cv2
import numpy as np
import pytest

from streamdeblur.errors import UserError
from streamdeblur.eval.run import BLURRED, SHARP, EvalOptions, blur_group, evaluate_pairs, load_pairs, pair_kernel


def _rows(result: dict) -> dict[tuple[str, str], dict]:
    return {(r["method"], r["group"]): r for r in result["rows"]}


def test_blur_groups_and_kernel_from_json():
    assert blur_group({"method": "pravg", "length": 11}) == "pravg:11"
    assert blur_group({"method": "vla", "length": 9}) == "vla"
    assert blur_group({"method": "kernel"}) == "kernel"
    assert pair_kernel({"kernel": [[0, 1], [0, 1]]}).sum() == pytest.approx(1.0)
    assert pair_kernel({"method": "kernel"}) is None


def test_pairs_mode_identity_engine_equals_blurred_baseline(pairs_dir, tmp_path):
    out = tmp_path / "report"
    result = evaluate_pairs(pairs_dir, EvalOptions(output=out, models=["identity"], embedder="dlib", quiet=True,
                                                   examples=4, command="streamdeblur eval --pairs X"))
    rows = _rows(result)
    for group in ("pravg:7", "kernel", "all"):
        blurred, ident = rows[(BLURRED, group)], rows[("identity", group)]
        for key in ("psnr_rgb", "psnr_y", "ssim_y", "auc", "failure_rate", "cosine"):
            assert ident[key] == pytest.approx(blurred[key]), (group, key)
        assert blurred["n"] == (8 if group == "all" else 4)
        assert rows[(SHARP, group)]["ssim_y"] == pytest.approx(1.0)
        assert rows[(SHARP, group)]["auc"] == pytest.approx(1.0)
        assert blurred["ssim_y"] < 0.95 and blurred["auc"] < 1.0 and blurred["cosine"] < 1.0
        assert ident["crops_per_s"] > 0
    # deconvolution with the true kernel applies to the kernel pairs only, and helps
    assert ("richardson-lucy (true kernel)", "pravg:7") not in rows
    rl = rows[("richardson-lucy (true kernel)", "kernel")]
    assert rl["psnr_rgb"] > rows[(BLURRED, "kernel")]["psnr_rgb"] + 3
    # files
    data = json.loads((out / "report.json").read_text())
    assert data["command"] == "streamdeblur eval --pairs X"
    assert data["versions"]["numpy"] and data["settings"]["seed"] == 0
    assert len(data["per_face"]["identity"]["kernel"]["psnr_rgb"]) == 4
    md = (out / "report.md").read_text()
    assert "## Blur: pravg:7" in md and "| identity |" in md and "Y (BT.601" in md
    # the gain-by-input table: the identity engine gains exactly nothing in every bin, the true-kernel
    # deconvolution gains on the kernel pairs' bins
    gains = data["gain_by_input"]
    assert gains and all(r["gains"]["identity"] == pytest.approx(0.0) for r in gains)
    assert max(r["gains"]["richardson-lucy (true kernel)"] for r in gains if r["gains"]["richardson-lucy (true kernel)"] is not None) > 3
    assert "## Gain by input quality" in md
    for name in ("ced.png", "identity_cosine.png", "examples.png", "gain_by_input.png"):
        image = cv2.imread(str(out / name))
        assert image is not None and image.shape[0] > 100 and image.shape[1] > 100


def test_pairs_mode_random_model_plumbing(pairs_dir, tmp_path):
    from streamdeblur.backends import create_engine

    try:
        create_engine("fast", backend="torch", device="cpu", allow_random=True)
    except NotImplementedError:
        pytest.skip("engines not implemented yet")
    result = evaluate_pairs(pairs_dir, EvalOptions(output=tmp_path, models=["fast"], backend="torch", device="cpu",
                                                   allow_random=True, baselines=False, landmarker=None,
                                                   embedder=None, limit=2, quiet=True))
    row = _rows(result)[("fast", "all")]
    assert row["n"] == 4 and math.isfinite(row["psnr_rgb"]) and row["crops_per_s"] > 0
    assert any("not asked for" in n for n in result["notes"])


def test_missing_or_empty_pairs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_pairs(tmp_path / "nope")
    with pytest.raises(UserError, match="no pair shards"):
        load_pairs(tmp_path)
    (tmp_path / "s").mkdir()
    with tarfile.open(tmp_path / "s" / "pairs-000000.tar", "w"):
        pass
    with pytest.raises(UserError, match="no complete pairs"):
        load_pairs(tmp_path)
    with pytest.raises(UserError, match="nothing to evaluate"):
        evaluate_pairs(tmp_path, EvalOptions(output=tmp_path / "r", baselines=False))


def test_kernel_pairs_carry_their_true_kernel(tmp_path):
    """make-pairs --method kernel stores the kernel in each pair's json, and eval reads it back."""
    from streamdeblur.data.shards import find_shards, iter_pairs
    from streamdeblur.eval.run import pair_kernel
    from streamdeblur.synthetic import make_face_clip
    from tests.helpers import run_cli

    clip = make_face_clip(tmp_path / "c.mp4", n=12, blur=False, audio_hz=None)
    proc = run_cli("make-pairs", str(clip), "-o", str(tmp_path / "p"), "--method", "kernel", "--size", "128",
                   "--stride", "6", "--min-face", "32", "--noise", "0", "-q")
    assert proc.returncode == 0, proc.stderr.decode()
    metas = [meta for shard in find_shards(tmp_path / "p") for _, _, _, meta in iter_pairs(shard)]
    assert metas
    for meta in metas:
        assert "kernel" in meta
        kernel = pair_kernel(meta)
        assert kernel is not None and kernel.shape == (meta["kernel_size"],) * 2
        assert abs(kernel.sum() - 1) < 1e-3


def test_an_engine_of_another_size_only_changes_what_it_restores():
    """Crops resized to the engine's size and back: only the residual is resized (as `process` pastes
    back), so an engine that changes nothing leaves 256-px crops bit for bit, whatever its input size."""
    import numpy as np

    from streamdeblur.backends import IdentityEngine
    from streamdeblur.eval.run import PairSample, engine_method

    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (256, 256, 3), dtype=np.uint8) for _ in range(2)]
    samples = [PairSample(key=str(i), blurred=c, sharp=c, group="kernel", identity="x", meta={}) for i, c in enumerate(crops)]
    out = engine_method("identity", IdentityEngine(input_size=128), 2).run(samples)
    assert all(np.array_equal(o, c) for o, c in zip(out, crops))

    class Brighter(IdentityEngine):
        def __call__(self, batch):
            return np.clip(batch.astype(int) + 10, 0, 255).astype(np.uint8)

    flat = [np.full((256, 256, 3), 100, np.uint8)]
    (brighter,) = engine_method("b", Brighter(input_size=128), 1).run(
        [PairSample(key="f", blurred=flat[0], sharp=flat[0], group="kernel", identity="x", meta={})])
    assert np.array_equal(brighter, np.full((256, 256, 3), 110, np.uint8))


def test_pairs_mode_gates_a_group_whose_track_barely_moved_as_process_does():
    """With a gate level, a face of a multi-frame group whose alignment moved less than it from the previous
    exposure comes back bit for bit and never reaches the engine; a moving one, or a pair without a group, is
    restored; the counter says how many were gated of how many could be."""
    from streamdeblur.backends import IdentityEngine
    from streamdeblur.eval.motion import track_motion
    from streamdeblur.eval.run import PairSample, engine_method

    seen = []

    class Brighter(IdentityEngine):
        def __call__(self, batch):
            seen.append(len(batch))
            return np.clip(batch.astype(int) + 10, 0, 255).astype(np.uint8)

    face = np.full((64, 64, 3), 100, np.uint8)

    def group(shift):  # three exposures, the face moving `shift` crop px between consecutive ones
        return {"group_matrices": [[[1.0, 0.0, -k * shift], [0.0, 1.0, 0.0]] for k in range(3)]}

    samples = [PairSample("still", "motion", "c", face, face, group(0.3)),
               PairSample("moving", "motion", "c", face, face, group(2.0)),
               PairSample("single", "kernel", "c", face, face, {})]
    assert track_motion(samples[0]) == pytest.approx(0.3) and track_motion(samples[2]) is None
    counter = [0, 0]
    still, moving, single = engine_method("b", Brighter(input_size=64), 8, gate=1.0, gated=counter).run(samples)
    assert still is face and np.all(moving == 110) and np.all(single == 110)
    assert counter == [1, 2] and seen == [2]
    seen.clear()
    assert all(np.all(o == 110) for o in engine_method("b", Brighter(input_size=64), 8).run(samples))  # no gate


def test_pairs_mode_recuts_a_groups_neighbours_for_an_engine_that_aligns_centre():
    """A 3-exposure group of one face moving 2 crop px right per exposure, each crop cut in its own alignment (so
    alike): an engine that aligns "centre" (naf-t3m) gets the neighbours re-cut from the group's matrices, as
    `process` gives them (2 px left and right of the centre crop); a pair without matrices is not given to it."""
    from streamdeblur.backends import IdentityEngine
    from streamdeblur.eval.run import PairSample, engine_method

    seen = []

    class Temporal(IdentityEngine):
        def __call__(self, batch):
            seen.extend(batch.astype(int))
            return batch[..., 3:6]

    ramp = np.repeat(np.repeat((2 * np.arange(64) + 40).astype(np.uint8)[None, :, None], 64, 0), 3, 2)
    mats = [[[1.0, 0.0, -2.0 * k], [0.0, 1.0, 0.0]] for k in range(3)]
    moving = PairSample("m", "motion", "c", ramp, ramp, {"group_matrices": mats}, np.concatenate([ramp] * 3, axis=1))
    bare = PairSample("b", "motion", "c", ramp, ramp, {}, np.concatenate([ramp] * 3, axis=1))
    for align, shift in (("centre", 4), ("landmarks", 0)):
        engine = Temporal(input_size=64, frames=3)
        engine.align = align
        seen.clear()
        out = engine_method("t", engine, 8).run([moving, bare])
        assert np.array_equal(out[0], ramp) and (out[1] is None) == (align == "centre")
        inner = np.s_[:, 4:-4]
        assert np.all(seen[0][..., 0:3][inner] - ramp[inner] == shift)
        assert np.all(seen[0][..., 6:9][inner] - ramp[inner] == -shift)


def test_gating_analysis_ranks_estimates_by_how_they_predict_the_gain(tmp_path):
    """A fake engine whose gain grows with the face's motion: track motion must rank first."""
    from streamdeblur.eval.gating import gating_report, spearman
    from streamdeblur.eval.motion import matrix_motion
    from streamdeblur.eval.run import PairSample

    rng = np.random.default_rng(0)
    samples, outputs = [], []
    for i in range(40):
        motion = float(i % 10)
        sharp = rng.integers(60, 200, (32, 32, 3)).astype(np.uint8)
        blurred = np.clip(sharp.astype(int) + rng.normal(0, 8, sharp.shape), 0, 255).astype(np.uint8)
        restored = np.clip(sharp + (blurred.astype(float) - sharp) * (1 - 0.08 * motion), 0, 255).astype(np.uint8)
        m0 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
        mats = [[[1.0, 0.0, -k * motion], [0.0, 1.0, 0.0]] for k in range(3)]
        samples.append(PairSample(str(i), "motion", "clip", blurred, sharp, {"group_matrices": mats}))
        outputs.append(restored)
    assert matrix_motion(m0, [[1.0, 0.0, -3.0], [0.0, 1.0, 0.0]], 32) == pytest.approx(3.0)
    assert spearman(np.arange(5), np.arange(5)) == pytest.approx(1.0)
    result = gating_report(samples, outputs, tmp_path, "fake")
    est = result["estimates"]
    assert est["track_motion"]["spearman_with_gain"] > 0.9
    assert est["track_motion"]["gain_of_the_40pct_gated_db"] < est["track_motion"]["gain_of_the_rest_db"]
    assert (tmp_path / "gating.md").read_text().count("|") > 10


def test_faces_that_were_already_sharp_get_their_own_row(tmp_path):
    """Pairs whose blurred face differs from the sharp one by < 1 grey level are pooled in a 'still' group."""
    from streamdeblur.data.shards import TarWriter
    from streamdeblur.eval.run import STILL, is_still

    from .conftest import make_pairs_dir

    root = make_pairs_dir(tmp_path / "pairs", n=2)
    rng = np.random.default_rng(1)
    writer = TarWriter(root / "synthetic" / "pairs-000001.tar")
    for i in range(2):
        sharp = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
        writer.add_pair(f"still{i}", sharp, sharp, {"method": "pravg", "length": 7, "clip": "still", "motion": 0.0})
    writer.close()
    samples = load_pairs(root)
    assert sum(is_still(s) for s in samples) == 2
    result = evaluate_pairs(root, EvalOptions(output=tmp_path / "rep", models=["identity"], landmarker=None,
                                              embedder=None, quiet=True, examples=0))
    rows = {(r["method"], r["group"]): r for r in result["rows"]}
    assert rows[("identity", STILL)]["n"] == 2 and math.isinf(rows[("blurred", STILL)]["psnr_rgb"])


def test_one_model_given_twice_gets_a_row_per_weights(pairs_dir, tmp_path):
    """Two sets of weights of one model (or the same one twice) are labelled apart, not merged into one row."""
    from pathlib import Path

    from streamdeblur.eval.run import method_labels

    assert method_labels([("naf", None), ("naf-t3", None), ("naf-t3", Path("/runs/t3d/model.safetensors"))]) == [
        "naf", "naf-t3@released", "naf-t3@t3d"]
    assert method_labels([("naf", Path("a/x.safetensors")), ("naf", Path("b/x/y.safetensors")),
                          ("naf", Path("c/x/z.safetensors"))]) == ["naf@a", "naf@x#1", "naf@x#2"]
    result = evaluate_pairs(pairs_dir, EvalOptions(output=tmp_path, models=["identity", "identity"],
                                                   baselines=False, landmarker=None, embedder=None, limit=2,
                                                   quiet=True, examples=0))
    rows = _rows(result)
    assert rows[("identity@released#1", "all")]["n"] == rows[("identity@released#2", "all")]["n"] == 4
