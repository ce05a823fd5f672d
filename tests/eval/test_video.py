"""The video mode end to end: blur whole frames, run `process`, compare faces with the sharp frames."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from streamdeblur.errors import UserError
from streamdeblur.eval.run import BLURRED, SHARP, EvalOptions
from streamdeblur.eval.video import UNSHARP, BlurSpec, blur_video, evaluate_video, parse_blurs, soft_truths


def _rows(result: dict) -> dict[tuple[str, str], dict]:
    return {(r["method"], r["group"]): r for r in result["rows"]}


def test_parse_blurs():
    assert parse_blurs("pravg:7, pravg:11,vla,kernel") == [BlurSpec("pravg", 7), BlurSpec("pravg", 11),
                                                           BlurSpec("vla"), BlurSpec("kernel", 15)]
    assert parse_blurs("kernel:9")[0].size == 9
    for bad in ("pravg:4", "gauss", "", "kernel:x"):
        with pytest.raises(UserError):
            parse_blurs(bad)


def test_motion_blur_specs_and_shutter_exposures_share_no_source_frame():
    specs = parse_blurs("motion:4,motion:8:1")
    assert [s.name for s in specs] == ["motion:4", "motion:8:1"] and specs[1].shutter == 1.0
    for bad in ("motion:0", "motion:4:2", "motion:x"):
        with pytest.raises(UserError):
            parse_blurs(bad)
    frames = [np.roll(np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (48, 1, 3)), 2 * i, axis=1)
              for i in range(30)]
    sliding, _, _ = blur_video(frames, [None] * 30, BlurSpec("motion", speed=4, shutter=0.5), 0, "x")
    centres, blurred, lengths = blur_video(frames, [None] * 30, BlurSpec("motion", speed=4, shutter=0.5), 0, "x",
                                           exposure="shutter")
    assert sliding == list(range(1, 29)) and centres == list(range(1, 29, 4)) and lengths[0] == 2.0
    spans = [(c - 1, c + 1) for c in centres]  # each exposure: 2 frame intervals around its centre
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))  # consecutive exposures share no source frame
    assert not np.array_equal(blurred[0], frames[1])  # smeared by the motion
    p_centres, _, _ = blur_video(frames, [None] * 30, BlurSpec("pravg", 7), 0, "x", exposure="shutter")
    assert p_centres == [3, 10, 17, 24]
    with pytest.raises(UserError, match="exposure"):
        blur_video(frames, [None] * 30, BlurSpec("pravg", 7), 0, "x", exposure="open")


def test_blur_video_averages_whole_frames():
    from streamdeblur.data.blur import average_frames

    frames = [np.full((8, 8, 3), 10 * i, np.uint8) for i in range(7)]
    centres, blurred, lengths = blur_video(frames, [None] * 7, BlurSpec("pravg", 3), 0, "x")
    assert centres == [1, 2, 3, 4, 5] and lengths == [3] * 5
    assert np.array_equal(blurred[0], average_frames(frames[0:3]))
    centres, blurred, _ = blur_video(frames, [None] * 7, BlurSpec("kernel", 5), 0, "x")
    assert len(blurred) == 7  # flat frames stay flat under a normalised kernel
    assert np.abs(blurred[3].astype(int) - frames[3]).max() <= 1


def test_video_mode_identity_engine_end_to_end(sharp_face_clip, tmp_path):
    out = tmp_path / "report"
    result = evaluate_video(sharp_face_clip, "pravg:5,kernel:9", EvalOptions(
        output=out, models=["identity"], quiet=True, examples=3), max_frames=12)
    rows = _rows(result)
    for group in ("pravg:5", "kernel", "all"):
        blurred, ident = rows[(BLURRED, group)], rows[("identity", group)]
        # the pass-through engine returns the blurred input: identical frames after the same encode/decode
        for key in ("psnr_rgb", "ssim_y", "cosine", "auc"):
            assert ident[key] == pytest.approx(blurred[key], abs=1e-6), (group, key)
        assert blurred["n"] > 0 and blurred["ssim_y"] < 0.97
        assert rows[(SHARP, group)]["ssim_y"] == pytest.approx(1.0)
        assert rows[(SHARP, group)]["temporal_nme"] == pytest.approx(0.0)
        assert math.isfinite(ident["warp_diff"]) and ident["fps"] > 0
        # the error's flicker: none for the sharp video itself (its warped diff is the flow's error), some for blur
        assert rows[(SHARP, group)]["warp_diff_err"] == pytest.approx(0.0)
        assert rows[(SHARP, group)]["warp_diff"] > 0 and ident["warp_diff_err"] > 0
        assert (UNSHARP, group) in rows
    assert rows[(BLURRED, "kernel")]["n"] == 12 and rows[(BLURRED, "pravg:5")]["n"] == 8
    data = json.loads((out / "report.json").read_text())
    assert data["mode"] == "video" and data["settings"]["blur"] == ["pravg:5", "kernel"]
    md = (out / "report.md").read_text()
    assert "temporal NME" in md and "end-to-end fps" in md and "flicker not in the sharp video" in md
    gating = data["settings"]["gating"]["identity"]  # what `process` gated: no card, no gate
    assert gating["gate"] is None and gating["gated"] == 0 and gating["faces"] >= 20
    # the synthetic clip's face is equally sharp throughout: every face is scored, and the report says so
    assert data["settings"]["sharp_truth"] == 0.6 and data["settings"]["soft_truths_left_out"] == 0
    assert "sharp truth: 0 of 12 source faces were not scored" in md
    assert "identity: no gate" in md
    for name in ("ced.png", "identity_cosine.png", "examples.png"):
        assert cv2.imread(str(out / name)) is not None


def test_faces_blurred_in_the_source_itself_are_not_scored(shared):
    """A real talking face whose first 12 frames are shaken in the source: they are no truth to deblur towards (an
    engine restoring them would be scored as losing), so soft_truths leaves them out and few of the sharp ones."""
    from streamdeblur.data import blur
    from streamdeblur.eval.video import read_frames
    from streamdeblur.faces.detect import create_detector
    from streamdeblur.faces.detection import largest_face

    frames, _ = read_frames(shared("data/tests/pexels_woman_640x360.mp4"), 60)
    rng = np.random.default_rng(0)
    frames = [blur.apply_kernel(f, blur.motion_kernel(9, rng)) for f in frames[:12]] + frames[12:]
    detector = create_detector("yunet")
    faces = [largest_face(detector.detect(f), 48) for f in frames]
    assert all(f is not None for f in faces)
    soft = soft_truths(frames, faces)
    assert len(soft & set(range(12))) >= 11 and len(soft - set(range(12))) <= 4, sorted(soft)
    assert soft_truths(frames, faces, 0.0) == set() and soft_truths(frames, [None] * 60) == set()


def test_video_mode_random_model_on_real_clip(shared, tmp_path):
    from streamdeblur.backends import create_engine

    clip = shared("data/tests/single_face_640x360.mp4")
    try:
        create_engine("fast", backend="torch", device="cpu", allow_random=True)
    except NotImplementedError:
        pytest.skip("engines not implemented yet")
    result = evaluate_video(clip, "pravg:3", EvalOptions(
        output=tmp_path, models=["fast"], backend="torch", device="cpu", allow_random=True, baselines=False,
        landmarker=None, embedder=None, quiet=True, examples=2), max_frames=8)
    row = _rows(result)[("fast", "pravg:3")]
    assert row["n"] == 6 and math.isfinite(row["psnr_rgb"]) and row["fps"] > 0


def test_clip_without_faces_is_a_user_error(tmp_path):
    from streamdeblur.synthetic import write_clip

    clip = write_clip(tmp_path / "empty.mp4", [np.full((96, 128, 3), 90, np.uint8)] * 6)
    with pytest.raises(UserError, match="no faces"):
        evaluate_video(clip, "pravg:3", EvalOptions(output=tmp_path / "r", quiet=True), max_frames=6)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(UserError, match="no video files"):
        evaluate_video(tmp_path / "empty_dir", "pravg:3", EvalOptions(output=tmp_path / "r2", quiet=True))


def test_cli_eval_user_errors_exit_2(tmp_path):
    from typer.testing import CliRunner

    from streamdeblur.cli import app

    runner = CliRunner()
    for args in (["eval", "-o", str(tmp_path)],
                 ["eval", "--pairs", str(tmp_path / "none"), "-o", str(tmp_path)],
                 ["eval", "--video", str(tmp_path), "--blur", "box", "-o", str(tmp_path)]):
        result = runner.invoke(app, args)
        assert isinstance(result.exception, UserError), args
        assert result.exception.exit_code == 2


def test_cli_eval_pairs_writes_report(pairs_dir, tmp_path):
    from typer.testing import CliRunner

    from streamdeblur.cli import app

    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["eval", "--pairs", str(pairs_dir), "--model", "identity", "--limit", "2",
                                      "--embedder", "none", "--examples", "2", "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "report.json").read_text())
    assert {r["method"] for r in data["summary"]} >= {"blurred", "identity", "sharp (oracle)"}
    assert data["summary"][0]["n"] == 2


def test_codec_cost_grows_with_crf_and_the_cli_writes_its_table(tmp_path):
    from streamdeblur.eval.codec import cost_at
    from streamdeblur.synthetic import make_face_clip
    from tests.helpers import run_cli

    assert cost_at(40.0, 30.0) == pytest.approx(10 * math.log10(1.1)) and cost_at(math.inf, 30.0) == 0.0
    clip = make_face_clip(tmp_path / "c.mp4", n=12, blur=False, audio_hz=None)
    proc = run_cli("eval", "--codec", str(clip), "--crf", "12,24", "-o", str(tmp_path / "r"), "--max-frames", "12")
    assert proc.returncode == 0, proc.stderr.decode()
    rows = {r["setting"]: r for r in json.loads((tmp_path / "r" / "codec.json").read_text())["rows"]}
    assert rows["lossless"]["face_psnr"] > rows["crf 12"]["face_psnr"] > rows["crf 24"]["face_psnr"]
    assert rows["crf 12"]["kbps"] > rows["crf 24"]["kbps"]
    assert rows["crf 24"]["cost_at_30db"] > rows["crf 12"]["cost_at_30db"] > 0
    assert "| crf 12 |" in (tmp_path / "r" / "codec.md").read_text()
