"""make-pairs end to end: generated clips and a real clip, shards, resume, splits, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamdeblur.data import blur
from streamdeblur.data.pairs import assign_splits, list_videos, run_make_pairs
from streamdeblur.data.shards import find_shards, iter_pairs
from streamdeblur.errors import UserError

from .conftest import write_faceless_clip, write_moving_clip

REPO = Path(__file__).resolve().parents[2]
FAST = dict(size=128, stride=6, progress=False)


def read_pairs(out: Path) -> dict[str, tuple[np.ndarray, np.ndarray, dict]]:
    """Every pair of a pairs directory, by key (fails on a duplicate key)."""
    pairs = {}
    for shard in find_shards(out):
        for key, blurry, sharp, meta in iter_pairs(shard):
            assert key not in pairs, f"duplicate key {key}"
            pairs[key] = (blurry, sharp, meta)
    return pairs


def assert_blurrier(pairs: dict) -> None:
    for key, (blurry, sharp, meta) in pairs.items():
        assert blurry.shape == sharp.shape == (meta["size"], meta["size"], 3)
        assert blur.gradient_energy(blurry) < 0.9 * blur.gradient_energy(sharp), key


@pytest.fixture(scope="module")
def vla_run(moving_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("vla")
    summary = run_make_pairs([moving_clip], out, method="vla", preview=True, **FAST)
    return out, summary


def test_vla_pairs_from_a_generated_clip(vla_run):
    out, summary = vla_run
    pairs = read_pairs(out)
    assert len(pairs) == summary["totals"]["pairs"] > 0
    assert_blurrier(pairs)
    assert [p.name for p in find_shards(out)] == ["pairs-000000.tar"]
    assert (out / "train" / "pairs-000000.tar").exists()
    for key, (_, _, meta) in pairs.items():
        assert "." not in key and meta["key"] == key and meta["method"] == "vla"
        start, stop = meta["frames"]
        assert stop - start == meta["length"] and meta["length"] % 2 == 1 and meta["length"] >= 5
        assert start <= meta["center"] < stop and meta["center"] % 6 == 0
        assert meta["stop_reason"] in blur.STOP_REASONS
        assert meta["motion"] > 0 and meta["flow_px"] > 0 and meta["split"] == "train"
        assert np.array(meta["crop_matrix"]).shape == (2, 3)
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(e["key"] for e in manifest) == sorted(pairs)
    assert all(e["shard"] == "train/pairs-000000.tar" for e in manifest)
    totals = summary["totals"]
    assert sum(totals["length_histogram"].values()) == len(pairs)
    assert sum(totals["stop_reasons"].values()) == len(pairs)
    video = summary["videos"]["a.mp4"]
    assert video["pairs"] == len(pairs) and video["frames"] == 40 and video["error"] is None
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["totals"]["pairs"] == len(pairs)
    assert not list(out.rglob("*.tmp")) and not (out / ".work").exists()


def test_preview_contact_sheet(vla_run):
    out, summary = vla_run
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    n = min(16, summary["totals"]["pairs"])
    assert sheet is not None and sheet.shape[1] == 256 * min(n, 4)
    assert sheet.shape[0] == (128 + 18) * -(-n // 4)


@pytest.mark.parametrize("method", ["pravg", "kernel"])
def test_pravg_and_kernel_pairs(moving_clip, tmp_path, method):
    summary = run_make_pairs([moving_clip], tmp_path, method=method, length="5,7", **FAST)
    pairs = read_pairs(tmp_path)
    assert len(pairs) == summary["totals"]["pairs"] > 0
    assert_blurrier(pairs)
    for _, _, meta in pairs.values():
        if method == "pravg":
            assert meta["length"] in (5, 7) and meta["stop_reason"] == "fixed"
        else:
            assert meta["length"] == 1 and 7 <= meta["kernel_size"] <= 14  # 13-27 at 256 px, halved at 128


def test_real_clip(shared, tmp_path):
    clip = shared("data/tests/single_face_640x360.mp4")
    summary = run_make_pairs([clip], tmp_path, method="vla", size=128, stride=12, max_frames=48, noise=0.0,
                             progress=False)
    pairs = read_pairs(tmp_path)
    assert len(pairs) == summary["totals"]["pairs"] >= 2
    assert_blurrier(pairs)
    assert {m["video"] for _, _, m in pairs.values()} == {"single_face_640x360.mp4"}


def test_same_seed_same_pairs_other_seed_other_pairs(moving_clip, tmp_path):
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        run_make_pairs([moving_clip], tmp_path / name, method="kernel", seed=seed, max_frames=20, **FAST)
        runs[name] = read_pairs(tmp_path / name)
    assert runs["a"].keys() == runs["b"].keys() == runs["c"].keys()
    for key in runs["a"]:
        assert np.array_equal(runs["a"][key][0], runs["b"][key][0])
        assert runs["a"][key][2] == runs["b"][key][2]
    assert any(not np.array_equal(runs["a"][k][0], runs["c"][k][0]) for k in runs["a"])
    assert (tmp_path / "a/train/pairs-000000.tar").read_bytes() == (tmp_path / "b/train/pairs-000000.tar").read_bytes()


def test_reverse_adds_the_centres_counted_from_the_end(moving_clip, tmp_path):
    run_make_pairs([moving_clip], tmp_path, method="kernel", reverse=True, **FAST)
    pairs = read_pairs(tmp_path)
    forward = {m["center"] for _, _, m in pairs.values() if not m["reverse"]}
    backward = {m["center"] for k, (_, _, m) in pairs.items() if m["reverse"] and k.endswith("_r")}
    assert forward and backward and not forward & backward
    assert all((40 - 1 - c) % 6 == 0 for c in backward)


def _start_after_first_shard(clips: Path, out: Path, args: list[str], n: int, seed: int) -> subprocess.Popen:
    """Four generated clips, then `make-pairs` started on them in a subprocess; returns once its journal holds a
    finished shard, the run still going."""
    clips.mkdir()
    for i in range(4):
        write_moving_clip(clips / f"clip{i}.mp4", n=n, seed=seed + i)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "streamdeblur", "make-pairs", str(clips), "-o", str(out), *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    journal = out / "progress.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 1:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be stopped: " + proc.stderr.read().decode()[-500:]
    return proc


def test_sigterm_stops_the_worker_pool_quietly_and_the_run_resumes(tmp_path):
    """SIGTERM to make-pairs (a scheduler, `timeout`, `kill`) while its pool works: one line, exit 143, no worker left
    behind to print tracebacks into the terminal, and the same command then finishes the job."""
    clips, out = tmp_path / "clips", tmp_path / "out"
    args = ["--method", "pravg", "--size", "128", "--stride", "4", "--shard-size", "1", "--workers", "2", "-q"]
    proc = _start_after_first_shard(clips, out, args, n=36, seed=20)
    proc.send_signal(signal.SIGTERM)
    # reading stderr to its end also waits for every process holding it: an orphaned worker would keep it open
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 143, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "streamdeblur: terminated (SIGTERM)", err
    rerun = subprocess.run([sys.executable, "-m", "streamdeblur", "make-pairs", str(clips), "-o", str(out), *args],
                           env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((out / "summary.json").read_text())["totals"]["videos_done"] == 4


def test_resume_after_kill_gives_the_same_keys(tmp_path):
    clips, out = tmp_path / "clips", tmp_path / "out"
    args = ["--method", "pravg", "--size", "128", "--stride", "6", "--shard-size", "1", "-q"]
    proc = _start_after_first_shard(clips, out, args, n=24, seed=10)
    journal = out / "progress.jsonl"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(journal.read_text().splitlines()[0])
    assert 1 <= len(done["videos"]) < 4
    first = read_pairs(out)
    # a half-written shard and a shard the journal does not know are cleaned up by the re-run
    (out / "train" / "pairs-000042.tar.tmp").write_bytes(b"partial")
    (out / "train" / "pairs-000043.tar").write_bytes(b"orphan")
    rerun = subprocess.run([sys.executable, "-m", "streamdeblur", "make-pairs", str(clips), "-o", str(out), *args,
                            "--workers", "2"], env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    resumed = read_pairs(out)
    assert set(first) <= set(resumed)
    assert not list(out.rglob("*.tmp")) and not (out / "train" / "pairs-000043.tar").exists()
    reference = tmp_path / "ref"
    run_make_pairs([clips], reference, method="pravg", size=128, stride=6, shard_size=1, progress=False)
    expected = read_pairs(reference)
    assert set(resumed) == set(expected)
    for key in expected:
        assert np.array_equal(resumed[key][0], expected[key][0]) and np.array_equal(resumed[key][1], expected[key][1])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["totals"]["pairs"] == len(expected) and summary["totals"]["videos_done"] == 4
    # nothing left to do: a third run adds nothing and keeps the pairs
    again = run_make_pairs([clips], out, method="pravg", size=128, stride=6, shard_size=1, progress=False)
    assert again["totals"]["this_run"]["new_pairs"] == 0 and again["totals"]["pairs"] == len(expected)
    # a finished shard deleted (damaged by a copy, say): the next run makes its videos again
    lost = sorted((out / "train").glob("pairs-*.tar"))[0]
    lost.unlink()
    healed = run_make_pairs([clips], out, method="pravg", size=128, stride=6, shard_size=1, progress=False)
    assert healed["totals"]["this_run"]["new_pairs"] > 0 and healed["totals"]["pairs"] == len(expected)
    assert set(read_pairs(out)) == set(expected)


def test_bad_inputs_are_skipped_with_reasons(moving_clip, tmp_path):
    bad = tmp_path / "inputs"
    bad.mkdir()
    (bad / "garbage.mp4").write_bytes(b"this is not a video" * 100)
    write_faceless_clip(bad / "noface.mp4")
    write_moving_clip(bad / "short.mp4", n=3)
    summary = run_make_pairs([bad, moving_clip], tmp_path / "out", method="pravg", length="7", **FAST)
    videos = summary["videos"]
    assert videos["inputs/garbage.mp4"]["error"].startswith("unreadable")
    assert videos["inputs/noface.mp4"]["error"] == "no_face"
    assert videos["inputs/short.mp4"]["error"] == "too_short"
    assert videos["a.mp4"]["pairs"] > 0
    assert summary["totals"]["video_errors"] == {"unreadable": 1, "no_face": 1, "too_short": 1}
    with pytest.raises(UserError, match="no pairs produced"):
        run_make_pairs([bad], tmp_path / "out2", method="pravg", length="7", **FAST)
    assert json.loads((tmp_path / "out2" / "summary.json").read_text())["totals"]["pairs"] == 0


def test_cli_exit_codes(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    garbage = tmp_path / "x.mp4"
    garbage.write_bytes(b"nope")
    cases = [
        ([str(garbage), "-o", str(tmp_path / "o1")], "no pairs produced"),
        ([str(garbage), "-o", str(tmp_path / "o2"), "--method", "blurry"], "unknown --method"),
        ([str(garbage), "-o", str(tmp_path / "o3"), "--method", "pravg", "--length", "6"], "odd"),
        ([str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o4")], "no such video"),
    ]
    for args, message in cases:
        r = subprocess.run([sys.executable, "-m", "streamdeblur", "make-pairs", *args, "-q"], env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr
        assert message in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_other_options_in_an_existing_directory_are_refused(moving_clip, tmp_path):
    run_make_pairs([moving_clip], tmp_path, method="kernel", max_frames=8, **FAST)
    with pytest.raises(UserError, match="other options .*method"):
        run_make_pairs([moving_clip], tmp_path, method="pravg", max_frames=8, **FAST)


def test_pairs_that_no_run_recorded_are_never_deleted_and_a_damaged_journal_line_loses_only_itself(moving_clip,
                                                                                                   tmp_path, caplog):
    """A folder holding pairs shards and a manifest but no recipe.json (copied there, another tool's): its shards
    were deleted as unknown and its manifest replaced, exit 0. Now refused, nothing touched. A progress journal
    with one damaged line in the middle kept none of the records after it (their shards were deleted and made
    again); now only that line is dropped, with a warning."""
    from streamdeblur.data.pairs import Journal

    theirs = tmp_path / "theirs"
    (theirs / "train").mkdir(parents=True)
    (theirs / "train" / "pairs-000005.tar").write_bytes(b"someone's shard")
    (theirs / "manifest.jsonl").write_text('{"a": 1}\n')
    with pytest.raises(UserError, match="no make-pairs run recorded"):
        run_make_pairs([moving_clip], theirs, method="kernel", max_frames=8, **FAST)
    assert (theirs / "train" / "pairs-000005.tar").read_bytes() == b"someone's shard"
    assert (theirs / "manifest.jsonl").read_text() == '{"a": 1}\n' and not (theirs / "recipe.json").exists()

    journal = tmp_path / "progress.jsonl"
    journal.write_text('{"n": 1}\n{"n": 2, damaged\n{"n": 3}\n{"n": 4}\n{"n": 5, "torn')
    with caplog.at_level("WARNING", logger="streamdeblur"):
        assert Journal(journal).records == [{"n": 1}, {"n": 3}, {"n": 4}]
    assert "line 2 is damaged" in caplog.text and "line 5" not in caplog.text


def test_split_by_video_and_job_array_parts(clips_dir, tmp_path):
    summary = run_make_pairs([clips_dir], tmp_path / "split", method="kernel", val_fraction=0.5, max_frames=12, **FAST)
    splits = {v["split"] for v in summary["videos"].values()}
    assert splits == {"train", "val"}
    pairs = read_pairs(tmp_path / "split")
    for _, _, meta in pairs.values():  # every pair of a video is in its video's split
        assert meta["split"] == summary["videos"][meta["video"]]["split"]
    assert (tmp_path / "split" / "val" / "pairs-000000.tar").exists()

    listed = tmp_path / "val.txt"
    listed.write_text("# validation\nb\n")
    summary = run_make_pairs([clips_dir], tmp_path / "listed", method="kernel", val_list=str(listed), max_frames=12,
                             **FAST)
    assert {n: v["split"] for n, v in summary["videos"].items()} == {
        f"{clips_dir.name}/a.mp4": "train", f"{clips_dir.name}/b.mp4": "val"}

    parts = [run_make_pairs([clips_dir], tmp_path / "parts", method="kernel", max_frames=12, shard_index=i,
                            num_shards=2, **FAST) for i in range(2)]
    assert [set(p["videos"]) for p in parts] == [{f"{clips_dir.name}/a.mp4"}, {f"{clips_dir.name}/b.mp4"}]
    names = sorted(p.name for p in find_shards(tmp_path / "parts"))
    assert names == ["pairs-part000-000000.tar", "pairs-part001-000000.tar"]
    assert (tmp_path / "parts" / "summary-part001.json").exists()


def test_list_videos_and_splits(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/x.mp4", "d/sub/y.MOV", "d/notes.txt", "z.mkv"):
        (tmp_path / name).write_bytes(b"")
    items = list_videos([tmp_path / "d", tmp_path / "z.mkv", tmp_path / "d" / "x.mp4"])
    assert [i.name for i in items] == ["d/sub/y.MOV", "d/x.mp4", "z.mkv"]
    assert len({i.video_id for i in items}) == 3 and all("." not in i.video_id for i in items)
    with pytest.raises(UserError):
        list_videos([tmp_path / "nothing-here"])
    with pytest.raises(UserError):
        list_videos([tmp_path / "d" / "sub" / "missing"])
    many = list_videos([tmp_path / "d"]) * 1
    s1 = assign_splits(many, 0.5, seed=0)
    assert s1 == assign_splits(many, 0.5, seed=0)
    assert sorted(s1.values()) == ["train", "val"]


def test_shards_are_webdataset_tars(vla_run):
    out, _ = vla_run
    with tarfile.open(out / "train" / "pairs-000000.tar") as tar:
        names = tar.getnames()
    assert len(names) % 3 == 0
    for i in range(0, len(names), 3):  # the three members of a pair are adjacent
        key = names[i].split(".")[0]
        assert names[i:i + 3] == [f"{key}.blur.png", f"{key}.sharp.png", f"{key}.json"]


def test_a_shard_open_too_long_is_closed_at_the_next_video(clips_dir, tmp_path):
    from streamdeblur.data.pairs import MakePairsConfig, make_pairs
    from streamdeblur.data.video_pairs import PairOptions

    config = MakePairsConfig(pairs=PairOptions(method="kernel", size=128, stride=6, max_frames=12), shard_seconds=0.0,
                             progress=False)
    summary = make_pairs([clips_dir], tmp_path, config)
    shards = find_shards(tmp_path)
    assert [s.name for s in shards] == ["pairs-000000.tar", "pairs-000001.tar"]
    assert len(read_pairs(tmp_path)) == summary["totals"]["pairs"]
    assert {v["shard"] for v in summary["videos"].values()} == {"train/pairs-000000.tar", "train/pairs-000001.tar"}


def test_motion_pairs_record_their_exposure_and_make_three_frame_groups(moving_clip, tmp_path):
    from streamdeblur.data.shards import index_shard, read_member, decode_png

    args = dict(method="motion", frames=3, speed="2,6", max_frames=30, **FAST)
    summary = run_make_pairs([moving_clip], tmp_path / "a", **args)
    pairs = read_pairs(tmp_path / "a")
    assert len(pairs) == summary["totals"]["pairs"] > 0
    assert_blurrier(pairs)
    for key, (blurry, sharp, meta) in pairs.items():
        assert meta["method"] == "motion" and meta["group"] == 3
        assert 2 <= meta["speed"] <= 6 and 0.25 <= meta["shutter"] <= 1 and 18 <= meta["crf"] <= 32
        assert meta["exposure"] == pytest.approx(meta["speed"] * meta["shutter"], abs=1e-3)
        assert 2 <= meta["subframes"] <= 16 and meta["blur_px"] > 0 and meta["flow_px"] > 0
        centres = meta["group_centres"]  # consecutive exposures one sped-up frame interval apart
        assert centres[1] == meta["center"] and centres[2] - centres[1] == pytest.approx(meta["speed"], abs=1e-3)
        assert len(meta["group_matrices"]) == 3 and len(meta["group_blur_px"]) == 3
    shard = find_shards(tmp_path / "a")[0]
    for rec in index_shard(shard):
        with open(shard, "rb") as f:
            strip = decode_png(read_member(f, *rec.members["frames.png"]))
            centre = decode_png(read_member(f, *rec.members["blur.png"]))
        assert strip.shape == (128, 3 * 128, 3) and np.array_equal(strip[:, 128:256], centre)
    run_make_pairs([moving_clip], tmp_path / "b", **args)  # the same seed gives the same bytes (codec included)
    assert shard.read_bytes() == find_shards(tmp_path / "b")[0].read_bytes()


def test_motion_pairs_of_a_still_clip_equal_their_target_without_noise_or_codec(tmp_path):
    from streamdeblur.synthetic import synthesize_frames, write_clip

    still = synthesize_frames(1, 480, 360, blur=False, shake=0.0, seed=3) * 24
    clip = write_clip(tmp_path / "still.mp4", still)
    run_make_pairs([clip], tmp_path / "p", method="motion", noise=0.0, crf_share=0.0, speed="4,12", max_frames=24,
                   **FAST)
    pairs = read_pairs(tmp_path / "p")
    assert pairs
    for key, (blurry, sharp, meta) in pairs.items():
        diff = np.abs(blurry.astype(int) - sharp.astype(int))
        assert diff.max() <= 2 and diff.mean() < 0.3, key
        assert meta["blur_px"] < 0.5


def test_crf_share_leaves_the_rest_of_the_pairs_clean_and_keeps_older_recipes(moving_clip, tmp_path):
    import json

    run_make_pairs([moving_clip], tmp_path / "mix", method="motion", crf_share=0.5, speed="2,6", max_frames=30, **FAST)
    crfs = [meta["crf"] for _, _, meta in read_pairs(tmp_path / "mix").values()]
    assert any(c == 0 for c in crfs) and any(18 <= c <= 32 for c in crfs), crfs
    assert json.loads((tmp_path / "mix" / "recipe.json").read_text())["pairs"]["motion"]["crf_share"] == 0.5
    run_make_pairs([moving_clip], tmp_path / "all", method="motion", speed="2,6", max_frames=30, **FAST)
    assert "crf_share" not in json.loads((tmp_path / "all" / "recipe.json").read_text())["pairs"]["motion"]


def test_targets_hold_each_exposures_sharp_frame_and_keep_older_recipes(moving_clip, tmp_path):
    """make-pairs --targets: beside the K blurred exposures, the source at each one's centre time: the middle one
    is the pair's target, a neighbour's is sharper than its exposure and nearer to it than the middle target is."""
    import json

    from streamdeblur.data.blur import sharpness
    from streamdeblur.data.shards import decode_png, index_shard, read_member

    args = dict(method="motion", frames=3, speed="3,6", crf_share=0.0, noise=0.0, max_frames=30, **FAST)
    run_make_pairs([moving_clip], tmp_path / "t", targets=True, **args)
    assert json.loads((tmp_path / "t" / "recipe.json").read_text())["pairs"]["motion"]["targets"] is True
    checked = 0
    for shard in find_shards(tmp_path / "t"):
        with open(shard, "rb") as f:
            for rec in index_shard(shard):
                strip, targets, sharp = (decode_png(read_member(f, *rec.members[m]))
                                         for m in ("frames.png", "targets.png", "sharp.png"))
                assert targets.shape == strip.shape == (128, 3 * 128, 3)
                assert np.array_equal(targets[:, 128:256], sharp)
                for k in (0, 2):
                    blurred, target = strip[:, 128 * k:128 * (k + 1)], targets[:, 128 * k:128 * (k + 1)]
                    near = np.abs(target.astype(float) - blurred).mean()
                    assert near < np.abs(sharp.astype(float) - blurred).mean(), (rec.key, k)
                    assert sharpness(target) > sharpness(blurred), (rec.key, k)
                checked += 1
    assert checked > 0
    run_make_pairs([moving_clip], tmp_path / "plain", **args)  # without: no targets, a recipe as before the option
    assert all("targets.png" not in rec.members for s in find_shards(tmp_path / "plain") for rec in index_shard(s))
    assert "targets" not in json.loads((tmp_path / "plain" / "recipe.json").read_text())["pairs"]["motion"]


def test_detect_size_is_the_detectors_and_keeps_older_recipes(moving_clip, tmp_path, monkeypatch):
    """make-pairs' detector sees each frame at --detect-size's longest side (adapt's choice; 640 by default, and
    then the recipe reads as before the option existed)."""
    import json

    from streamdeblur.faces import yunet

    seen = []
    real = yunet.YuNetDetector.__init__
    monkeypatch.setattr(yunet.YuNetDetector, "__init__",
                        lambda self, *a, **k: (seen.append(k.get("max_side")), real(self, *a, **k))[1])
    args = dict(method="motion", speed="2,6", max_frames=12, **FAST)
    run_make_pairs([moving_clip], tmp_path / "small", detect_size=256, **args)
    assert seen == [256] and json.loads((tmp_path / "small" / "recipe.json").read_text())["pairs"]["detect_size"] == 256
    run_make_pairs([moving_clip], tmp_path / "plain", **args)
    assert seen[-1] == 640 and "detect_size" not in json.loads((tmp_path / "plain" / "recipe.json").read_text())["pairs"]
    with pytest.raises(UserError, match="at least 64"):
        run_make_pairs([moving_clip], tmp_path / "bad", detect_size=32, **args)


def test_motion_options_are_checked(moving_clip, tmp_path):
    for bad in (dict(speed="abc"), dict(speed="5,2"), dict(shutter="0,2"), dict(frames=2), dict(crf="10,70"),
                dict(crf_share=1.5), dict(targets=True)):
        with pytest.raises(UserError):
            run_make_pairs([moving_clip], tmp_path, method="motion", **bad, **FAST)
