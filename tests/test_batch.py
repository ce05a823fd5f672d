"""`process` over many files: mirrored outputs, a broken file reported while the batch goes on, resume,
job-array parts, the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamdeblur.batch import plan_jobs
from streamdeblur.synthetic import synthesize_frames, write_clip
from tests.helpers import one_line, run_cli, video_info


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("recordings")
    (root / "day2").mkdir()
    for i, rel in enumerate(["a.mp4", "b.mov", "day2/c.mp4"]):
        write_clip(root / rel, synthesize_frames(12 + i, 160, 120, blur=False, seed=i))
    (root / "day2" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 10)
    return root


def manifest_rows(outdir: Path) -> list[dict]:
    return [json.loads(line) for line in (outdir / "manifest.jsonl").read_text().splitlines()]


def test_a_folder_with_a_broken_file_then_a_resumed_run(folder, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("process", str(folder), "-o", str(out), "--model", "identity")
    err = proc.stderr.decode()
    assert proc.returncode == 1, err  # one file failed
    assert "Traceback" not in err and "broken.mp4" in err and "3 done" in err and "1 failed" in err
    for rel, frames in (("a.mp4", 12), ("b.mp4", 13), ("day2/c.mp4", 14)):
        assert video_info(out / rel)["frames"] == frames  # relative paths mirrored, as .mp4
    assert not (out / "day2" / "broken.mp4").exists()
    rows = manifest_rows(out)
    assert sorted(r["status"] for r in rows) == ["failed", "ok", "ok", "ok"]
    assert {"input", "output", "frames", "faces", "fps", "status"} <= set(rows[0])
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")}
    again = run_cli("process", str(folder), "-o", str(out), "--model", "identity")
    assert again.returncode == 1  # the broken file is tried again and fails again
    assert "3 skipped" in again.stderr.decode()
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")} == before  # done files were not redone
    assert len(manifest_rows(out)) == 5


def test_job_array_parts_split_the_files_without_overlap(folder, tmp_path):
    parts = [plan_jobs([folder], tmp_path, shard_index=i, num_shards=2) for i in range(2)]
    names = [j.relative for part in parts for j in part]
    assert sorted(names) == sorted(j.relative for j in plan_jobs([folder], tmp_path)) and len(set(names)) == 4
    out = tmp_path / "arr"
    for i in range(2):
        run_cli("process", str(folder), "-o", str(out), "--model", "identity", "-q", "--shard-index", str(i),
                "--num-shards", "2")
    done = [json.loads(line)["input"] for p in sorted(out.glob("manifest-part*.jsonl"))
            for line in p.read_text().splitlines()]
    assert len(done) == len(set(done)) == 4


def test_batch_needs_an_output_folder(folder, tmp_path):
    proc = run_cli("process", str(folder / "a.mp4"), str(folder / "b.mov"))
    assert proc.returncode == 2 and "-o OUTDIR" in proc.stderr.decode()


def test_a_folder_without_videos_or_an_empty_path_is_an_error_and_leaves_no_output_folder(tmp_path):
    """`process EMPTY_FOLDER -o out.mp4` and `process "" -o out.mp4` ("" would read as the current folder) say why
    in one line; neither leaves an empty folder where the output was to be."""
    empty = tmp_path / "nothing here"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a video")
    for given, needle in ((str(empty), "no video files"), ("", "empty path")):
        out = tmp_path / "out.mp4"
        proc = run_cli("process", given, "-o", str(out), "-q")
        err = proc.stderr.decode()
        assert proc.returncode != 0 and needle in err and "Traceback" not in err, err
        assert not out.exists()


# --- sturdiness: the output folder and its manifest are checked before any file is processed ---


def _two_clips(root: Path) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    return [str(write_clip(root / f"{name}.mp4", synthesize_frames(4, 96, 64, blur=False, seed=i)))
            for i, name in enumerate("ab")]


def test_an_output_folder_under_a_file_or_a_manifest_that_is_a_folder_is_one_line(tmp_path):
    clips = _two_clips(tmp_path / "in")
    base = tmp_path / "base.mp4"
    base.write_bytes(b"a file")
    line = one_line(run_cli("process", *clips, "-o", str(base / "sub"), "--model", "identity", "-q"), 2)
    assert "base.mp4 is a file" in line
    out = tmp_path / "out"
    (out / "manifest.jsonl").mkdir(parents=True)
    line = one_line(run_cli("process", *clips, "-o", str(out), "--model", "identity", "-q"), 2)
    assert "manifest" in line and "is a folder" in line
    assert sorted(p.name for p in out.iterdir()) == ["manifest.jsonl"]  # nothing was processed


def test_several_inputs_into_a_video_file_name_are_refused(tmp_path):
    clips = _two_clips(tmp_path / "in")
    out = tmp_path / "X.mp4"
    line = one_line(run_cli("process", *clips, "-o", str(out), "--model", "identity", "-q"), 2)
    assert "output folder" in line and "looks like a video file name" in line and "X.mp4" in line
    assert not out.exists()


def test_a_read_only_output_folder_is_an_output_error_before_any_work(tmp_path, monkeypatch):
    from streamdeblur import batch, paths
    from streamdeblur.errors import OutputError

    monkeypatch.setattr(paths.os, "access", lambda path, mode: False)  # as on a read-only filesystem
    with pytest.raises(OutputError, match="cannot write -o .*outdir: .* is not writable"):
        batch.prepare_outdir(tmp_path / "outdir", tmp_path / "outdir" / "manifest.jsonl")
    assert not (tmp_path / "outdir").exists()
    monkeypatch.undo()
    monkeypatch.setattr(Path, "open", lambda *a, **k: (_ for _ in ()).throw(OSError(30, "Read-only file system")))
    with pytest.raises(OutputError, match="cannot write the batch manifest .*Read-only file system"):
        batch.prepare_outdir(tmp_path, tmp_path / "manifest.jsonl")


def test_a_damaged_manifest_is_skipped_line_by_line_with_a_warning(tmp_path, caplog):
    from streamdeblur.batch import done_outputs

    manifest = tmp_path / "manifest.jsonl"
    good = json.dumps({"input": "in/a.mov", "output": "out/a.mp4", "status": "ok"}).encode()
    manifest.write_bytes(b"\xff\xfe not utf-8\n[1, 2]\n" + good + b"\n\"text\"\n" + b'{"output": "out/b.mp')
    with caplog.at_level("WARNING", logger="streamdeblur"):
        assert done_outputs(manifest) == {(str(Path("in/a.mov").resolve()), str(Path("out/a.mp4").resolve()))}
    assert [r.getMessage().split(": ")[1].split(" is")[0] for r in caplog.records] == ["line 1", "line 2", "line 4"]


def test_a_rerun_over_a_damaged_manifest_redoes_its_files(tmp_path):
    clips = _two_clips(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.jsonl").write_bytes(b"\xff\xfe\x00garbage\n[1, 2]\n")
    proc = run_cli("process", *clips, "-o", str(out), "--model", "identity")
    err = proc.stderr.decode()
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "line 1" in err and "line 2" in err and "2 done" in err
    assert video_info(out / "a.mp4")["frames"] == 4


def test_no_output_replaces_a_file_of_the_batch_and_no_two_share_a_name(tmp_path):
    """x.mkv beside x.mp4 processed into their own folder would write x.mkv's output over the input x.mp4 (then
    read that as x.mp4): refused before anything is written. a/x.mp4 and b/x.mp4 given as files get two names."""
    clips = tmp_path / "clips"
    for rel in ("x.mkv", "x.mp4", "a/x.mp4", "b/x.mp4"):
        (clips / rel).parent.mkdir(parents=True, exist_ok=True)
        (clips / rel).write_bytes(b"")  # planning reads names only
    original = (clips / "x.mp4").read_bytes()
    proc = run_cli("process", str(clips / "x.mkv"), str(clips / "x.mp4"), "-o", str(clips), "--model", "identity")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "would replace the input" in err and "Traceback" not in err, err
    assert (clips / "x.mp4").read_bytes() == original and not (clips / "x_mp4.mp4").exists()
    jobs = plan_jobs([clips / "x.mkv", clips / "a/x.mp4", clips / "b/x.mp4"], tmp_path / "out")
    assert len({job.output for job in jobs}) == 3, [job.output.name for job in jobs]
    assert [job.output.name for job in jobs] == ["x.mp4", "x_mp4.mp4", "x_mp4_2.mp4"]


def test_a_file_added_under_a_name_a_done_file_had_is_done_and_the_other_moves(tmp_path):
    """b/x.mp4 was done as out/x.mp4; a/x.mp4 given beside it later (sorted first) takes that name: it is done
    (it was skipped as 'already done' before, and never processed), and b/x.mp4 is done again as x_mp4.mp4."""
    clips = tmp_path / "in"
    for rel, n in (("b/x.mp4", 5), ("a/x.mp4", 7)):
        (clips / rel).parent.mkdir(parents=True)
        write_clip(clips / rel, synthesize_frames(n, 160, 120, blur=False, seed=n))
    out = tmp_path / "out"
    out.mkdir()  # a folder as -o: a batch of one
    first = run_cli("process", str(clips / "b/x.mp4"), "-o", str(out), "--model", "identity")
    assert first.returncode == 0 and video_info(out / "x.mp4")["frames"] == 5, first.stderr.decode()
    again = run_cli("process", str(clips / "a/x.mp4"), str(clips / "b/x.mp4"), "-o", str(out), "--model", "identity")
    assert again.returncode == 0 and "2 done" in again.stderr.decode(), again.stderr.decode()
    assert video_info(out / "x.mp4")["frames"] == 7 and video_info(out / "x_mp4.mp4")["frames"] == 5


def test_a_rerun_finds_no_inputs_in_its_own_outputs_or_a_killed_runs_leftovers(tmp_path, monkeypatch):
    """-o inside the input folder (its outputs were taken as inputs the second time, and refused as replacing
    them), a killed run's hidden partial file (taken as a broken input), the outputs beside the inputs (-o the
    input folder), and the same files spelt another way (absolute paths, from another folder): each re-run skips
    what is done and reads nothing else."""
    import shutil

    clips = tmp_path / "in"
    clips.mkdir()
    write_clip(clips / "a.mov", synthesize_frames(4, 160, 120, blur=False, seed=1))
    (clips / ".a_deblurred.partial-99999.mp4").write_bytes(b"half a video")  # left by a kill -9
    monkeypatch.chdir(tmp_path)
    for out in ("in/out", "in"):
        for given in (["in", "-o", out], [str(clips), "-o", str(tmp_path / out)]):
            proc = run_cli("process", *given, "--model", "identity")
            err = proc.stderr.decode()
            assert proc.returncode == 0 and " 0 failed" in err and "Traceback" not in err, err
            assert ("1 done, 0 skipped" if given[0] == "in" else "0 done, 1 skipped") in err, err
        assert video_info(tmp_path / out / "a.mp4")["frames"] == 4
        shutil.rmtree(tmp_path / "in" / "out", ignore_errors=True)  # another batch's outputs for -o in
