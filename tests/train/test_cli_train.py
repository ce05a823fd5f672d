"""`streamdeblur train` end to end on a tiny pair set the test writes itself in make-pairs' shard layout."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamdeblur.cli import app
from streamdeblur.data.shards import TarWriter
from streamdeblur.synthetic import synthesize_frames


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    """train/ (8 pairs) and val/ (2 pairs) shards: motion-blurred vs sharp renders of the portrait, 128 px."""
    root = tmp_path_factory.mktemp("pairs")
    for split, n, seed in (("train", 8, 1), ("val", 2, 2)):
        blurry = synthesize_frames(n, 128, 128, blur=True, shake=12.0, seed=seed)
        sharp = synthesize_frames(n, 128, 128, blur=False, shake=12.0, seed=seed)
        writer = TarWriter(root / split / "pairs-000000.tar")
        for i, (b, s) in enumerate(zip(blurry, sharp)):
            writer.add_pair(f"{split}{i:04d}", b, s, {"method": "kernel", "motion": float(abs(b.astype(float) - s).mean())})
        writer.close()
    return root


def test_release_takes_the_name_train_gave_a_run(tmp_path, pairs_dir, monkeypatch):
    """`train --name r` keeps the run in <cache>/runs/r; `release r NAME` finds it there (it said 'checkpoint not
    found: r'). A path that exists is still read as the path."""
    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    trained = CliRunner().invoke(app, ["train", "--data", str(pairs_dir), "--model", "fast", "--stage", "single",
                                       "--steps", "1", "--batch-size", "2", "--name", "r", "--threads", "1",
                                       "--set", "val_batches=1", "-q"])
    assert trained.exit_code == 0, trained.output
    out = CliRunner().invoke(app, ["release", "r", "tiny", "-o", str(tmp_path / "engine")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "engine" / "model.safetensors").is_file()
    monkeypatch.chdir(tmp_path)
    missing = CliRunner().invoke(app, ["release", "nope", "tiny", "-o", str(tmp_path / "e2")])
    assert "checkpoint not found" in str(missing.exception)


def test_train_cli_writes_checkpoint_csv_png_and_resumes(tmp_path, pairs_dir):
    run = tmp_path / "run"
    args = ["train", "--data", str(pairs_dir), "--model", "fast", "--stage", "single", "--steps", "2",
            "--batch-size", "2", "--run-dir", str(run), "--threads", "1", "--set", "log_every=1",
            "--set", "val_batches=1", "--set", "val_every=2", "--set", "crop_scale=0.9,1.0", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("last.pt", "config.json", "log.csv", "val.csv", "loss.png"):
        assert (run / name).stat().st_size > 0, name
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"] == "fast" and cfg["steps"] == 2 and cfg["crop_scale"] == [0.9, 1.0]
    with (run / "log.csv").open() as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [1, 2]
    # extend the same run by one step
    more = CliRunner().invoke(app, ["train", "--run-dir", str(run), "--resume", "--steps", "3", "-q"])
    assert more.exit_code == 0, more.output
    with (run / "log.csv").open() as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [1, 2, 3]
    out = CliRunner().invoke(app, ["release", str(run), "tiny", "-o", str(tmp_path / "engine")])
    assert out.exit_code == 0, out.output
    from streamdeblur.models import get_spec, load_weights

    load_weights(get_spec("fast").build(), tmp_path / "engine" / "model.safetensors")  # fits the registry model
    assert "Not measured yet" in (tmp_path / "engine" / "README.md").read_text()
    # measure the released weights, then release again with the report: the card carries the numbers
    weights = tmp_path / "engine" / "model.safetensors"
    measured = CliRunner().invoke(app, ["eval", "--pairs", str(pairs_dir / "val"), "-o", str(tmp_path / "report"),
                                        "--model", f"fast={weights}", "--embedder", "none", "--landmarker", "none",
                                        "--examples", "0", "-q"])
    assert measured.exit_code == 0, measured.output
    out = CliRunner().invoke(app, ["release", str(run), "tiny", "-o", str(tmp_path / "engine"), "--force",
                                   "--metrics", str(tmp_path / "report")])
    assert out.exit_code == 0, out.output
    card = json.loads((tmp_path / "engine" / "card.json").read_text())
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert card["metrics"]["rows"] == report["summary"] and card["metrics"]["command"] == report["command"]
    methods = {r["method"] for r in card["metrics"]["rows"]}
    assert {"blurred", "fast"} <= methods
    readme = (tmp_path / "engine" / "README.md").read_text()
    fast_psnr = next(r["psnr_rgb"] for r in card["metrics"]["rows"] if r["method"] == "fast")
    assert f"| fast | 2 | {fast_psnr:.2f} |" in readme
    (tmp_path / "engine" / "NOTES.md").write_text("## Status\n\nHand-written, kept across releases.\n")
    again = CliRunner().invoke(app, ["release", str(run), "tiny", "-o", str(tmp_path / "engine"), "--force",
                                     "--metrics", str(tmp_path / "report")])
    assert again.exit_code == 0, again.output
    readme = (tmp_path / "engine" / "README.md").read_text()
    assert f"| fast | 2 | {fast_psnr:.2f} |" in readme and readme.rstrip().endswith("kept across releases.")
    bad = CliRunner().invoke(app, ["release", str(run), "tiny", "-o", str(tmp_path / "engine"), "--force",
                                   "--metrics", str(tmp_path / "nowhere")])
    assert bad.exit_code != 0 and "eval report not found" in str(bad.exception)
    settled = CliRunner().invoke(app, ["release", str(run), "tiny", "-o", str(tmp_path / "engine"), "--force", "--settle", "0.5,1.5"])
    assert settled.exit_code == 0, settled.output
    assert json.loads((tmp_path / "engine" / "card.json").read_text())["settle"] == [0.5, 1.5]
    assert "mean correction is under 0.5 grey levels" in (tmp_path / "engine" / "README.md").read_text()
    kept = CliRunner().invoke(app, ["release", str(run), "tiny", "-o", str(tmp_path / "engine"), "--force"])
    assert kept.exit_code == 0 and json.loads((tmp_path / "engine" / "card.json").read_text())["settle"] == [0.5, 1.5]
    card_path = tmp_path / "engine" / "card.json"  # a TLC window set in the card by hand is kept too
    card_path.write_text(json.dumps(dict(json.loads(card_path.read_text()), tlc=192)))
    kept = CliRunner().invoke(app, ["release", str(run), "tiny", "-o", str(tmp_path / "engine"), "--force"])
    assert kept.exit_code == 0 and json.loads(card_path.read_text())["tlc"] == 192
    assert "windows of 192 px" in (tmp_path / "engine" / "README.md").read_text()
    for wrong in ("1.5,0.5", "half"):
        bad = CliRunner().invoke(app, ["release", str(run), "tiny", "-o", str(tmp_path / "engine"), "--force", "--settle", wrong])
        assert bad.exit_code != 0 and "--settle" in str(bad.exception)


@pytest.mark.parametrize("args, message", [
    (["--data", "/no/such/pairs"], "not found"),
    (["--set", "bogus=1"], "unknown config key"),
    (["--stage", "sideways"], "unknown stage"),
])
def test_train_cli_user_errors_are_one_line(tmp_path, pairs_dir, args, message):
    from streamdeblur.cli import main  # noqa: F401 - main() turns UserError into one line + exit 2

    base = ["train", "--data", str(pairs_dir), "--run-dir", str(tmp_path / "r"), "--steps", "1", "-q"]
    result = CliRunner().invoke(app, base + args)
    assert isinstance(result.exception, Exception) and message in str(result.exception)
    assert getattr(result.exception, "exit_code", None) == 2


def test_an_engine_folder_runs_with_its_cards_gate_and_settle_range(tmp_path):
    """What `release -o DIR --gate G --settle LOW,HIGH` writes is what `process --weights DIR` and `eval --model
    NAME=DIR` run: the card's gate level and settle range, as a released engine's card gives them (--gate wins,
    --no-gate leaves the bare network); the bare weights file has neither."""
    import json as _json
    import shutil

    from streamdeblur.backends import SettledEngine, create_engine
    from streamdeblur.eval.run import EvalOptions, card_gate
    from streamdeblur.eval.run import build_engine as eval_engine
    from streamdeblur.models import get_spec, has_weights
    from streamdeblur.pipeline import ProcessOptions, build_engine, gate_levels

    if not has_weights("fast"):
        pytest.skip("no released fast weights in engines/")
    folder = tmp_path / "engine"
    folder.mkdir()
    shutil.copy(get_spec("fast").weights_path, folder / "model.safetensors")
    (folder / "card.json").write_text(_json.dumps({"model": "fast", "gate": 0.8, "settle": [0.5, 1.5]}))
    engine = create_engine("naf", weights=folder, device="cpu")  # the card names the model
    assert engine.model == "fast" and engine.gate == 0.8
    assert isinstance(engine, SettledEngine) and (engine.low, engine.high) == (0.5, 1.5)
    assert gate_levels(ProcessOptions(), build_engine(ProcessOptions(model="fast", weights=folder))) == (0.8,)
    assert gate_levels(ProcessOptions(gate=2.0), engine) == (2.0,)  # --gate wins
    no_gate = ProcessOptions(model="fast", weights=folder, gate=0.0)  # --no-gate: the bare network
    assert gate_levels(no_gate, build_engine(no_gate)) == (None,) and not isinstance(build_engine(no_gate), SettledEngine)
    measured = eval_engine("fast", folder, EvalOptions(output=tmp_path))
    assert isinstance(measured, SettledEngine) and card_gate(measured, EvalOptions(output=tmp_path)) == 0.8
    assert card_gate(measured, EvalOptions(output=tmp_path, gate=False)) is None
    bare = create_engine("fast", weights=folder / "model.safetensors", device="cpu")
    assert bare.gate is None and not isinstance(bare, SettledEngine)
    assert gate_levels(ProcessOptions(), bare) == (None,)


@pytest.mark.parametrize("soup, message", [("nocolon", "--soup takes OTHER_RUN:WEIGHT"),
                                           (":0.3", "--soup takes OTHER_RUN:WEIGHT"),
                                           ("run:half", "--soup takes OTHER_RUN:WEIGHT")])
def test_release_soup_option_errors_are_one_line(tmp_path, soup, message):
    result = CliRunner().invoke(app, ["release", str(tmp_path), "x", "-o", str(tmp_path / "e"), "--soup", soup])
    assert isinstance(result.exception, Exception) and message in str(result.exception)
    assert getattr(result.exception, "exit_code", None) == 2


def test_validation_also_scores_training_pairs_so_memorising_shows(tmp_path, pairs_dir):
    """seen_gain_db: the gain on the train split's pairs beside val's gain_db, in every validation row; off with
    seen_batches=0."""
    def run(name, *extra):
        args = ["train", "--data", str(pairs_dir), "--model", "fast", "--stage", "single", "--steps", "2",
                "--batch-size", "2", "--run-dir", str(tmp_path / name), "--threads", "1", "--set", "val_every=1",
                "--set", "val_batches=1", *extra, "-q"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        with (tmp_path / name / "val.csv").open() as fh:
            return list(csv.DictReader(fh))

    rows = run("seen", "--set", "seen_batches=2")
    assert [int(r["step"]) for r in rows] == [1, 2]
    for r in rows:
        seen, val = float(r["seen_gain_db"]), float(r["gain_db"])
        assert -60 < seen < 60 and seen != val  # other pairs: the train split's, not val's
    assert "seen_gain_db" not in run("unseen", "--set", "seen_batches=0")[0]
    # the card's curve table carries it as a last column
    out = CliRunner().invoke(app, ["release", str(tmp_path / "seen"), "tiny", "-o", str(tmp_path / "engine")])
    assert out.exit_code == 0, out.output
    readme = (tmp_path / "engine" / "README.md").read_text()
    assert "| SSIM out | on training clips |" in readme
    assert f"| {float(rows[-1]['seen_gain_db']):+.2f} |" in readme


def test_the_best_validation_is_kept_as_best_pt_and_releases(tmp_path, pairs_dir):
    """best.pt holds the state at the highest gain_db of val.csv (later steps can lose it); a resumed run keeps
    comparing against the rows before it; release takes best.pt like last.pt."""
    import torch

    args = ["train", "--data", str(pairs_dir), "--model", "fast", "--stage", "single", "--batch-size", "2",
            "--run-dir", str(tmp_path / "run"), "--threads", "1", "--set", "val_every=1", "--set", "val_batches=1",
            "--set", "seen_batches=0", "--lr", "0.05", "-q"]
    for steps, extra in ((3, []), (5, ["--resume"])):
        result = CliRunner().invoke(app, [*args, "--steps", str(steps), *extra])
        assert result.exit_code == 0, result.output
        with (tmp_path / "run" / "val.csv").open() as fh:
            gains = {int(r["step"]): float(r["gain_db"]) for r in csv.DictReader(fh)}
        assert sorted(gains) == list(range(1, steps + 1))
        best = torch.load(tmp_path / "run" / "best.pt", map_location="cpu", weights_only=False)
        assert best["step"] == max(gains, key=gains.get)
    out = CliRunner().invoke(app, ["release", str(tmp_path / "run" / "best.pt"), "tiny", "-o", str(tmp_path / "engine")])
    assert out.exit_code == 0, out.output
    card = json.loads((tmp_path / "engine" / "card.json").read_text())
    assert card["training"]["steps"] == best["step"]
    # a warm start scores its starting weights as step 0; best.pt is still a trained state
    warm = [a if a != str(tmp_path / "run") else str(tmp_path / "warm") for a in args]
    out = CliRunner().invoke(app, [*warm, "--steps", "2", "--set", f"init_weights={tmp_path / 'engine' / 'model.safetensors'}"])
    assert out.exit_code == 0, out.output
    with (tmp_path / "warm" / "val.csv").open() as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [0, 1, 2]
    assert torch.load(tmp_path / "warm" / "best.pt", map_location="cpu", weights_only=False)["step"] in (1, 2)


@pytest.mark.parametrize("cache", [False, True])
def test_clip_share_trains_on_whole_clips_nested_and_leaves_val_alone(tmp_path, monkeypatch, cache):
    """clip_share picks whole clips by a hash of their id (a smaller share's clips among a larger one's), for the
    training split and the training pairs that validation scores ("seen"), never for val."""
    from streamdeblur.train.config import TrainConfig
    from streamdeblur.train.sampling import in_clip_share, open_dataset

    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    clips = [f"clip{k}-{k * 7919:08x}" for k in range(12)]
    for split, ids in (("train", clips), ("val", ["held-out-a", "held-out-b"])):
        frames = synthesize_frames(2 * len(ids), 64, 64, blur=False, seed=3)
        writer = TarWriter(tmp_path / "pairs" / split / "pairs-000000.tar")
        for i, image in enumerate(frames):
            writer.add_pair(f"{split}{i:04d}", image, image, {"method": "motion", "video_id": ids[i // 2]})
        writer.close()

    def clips_of(share, split):
        cfg = TrainConfig(data=str(tmp_path / "pairs"), crop_size=64, cache=cache, clip_share=share).validate()
        data = open_dataset(cfg, split)
        metas = [data.meta(i) for i in range(len(data))] if cache else [r.meta for r in data.records]
        return {m["video_id"] for m in metas}

    half, quarter = clips_of(0.5, "train"), clips_of(0.25, "train")
    assert half == {c for c in clips if in_clip_share(c, 0.5)} and 0 < len(half) < len(clips)
    assert quarter <= half and clips_of(1.0, "train") == set(clips)
    assert clips_of(0.5, "seen") == half
    assert clips_of(0.5, "unseen") == set(clips) - half  # the training sources' clips the share left out
    assert clips_of(0.25, "val") == {"held-out-a", "held-out-b"}
    if not cache:
        return
    # a run on a share scores the clips it left out beside val and its own clips, into val.csv and the card
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "pairs"), "--model", "fast", "--stage", "single",
                                      "--crop-size", "64", "--steps", "2", "--batch-size", "2", "--run-dir", str(run),
                                      "--threads", "1", "--set", "val_every=1", "--set", "val_batches=1",
                                      "--set", "seen_batches=1", "--set", "clip_share=0.5", "-q"])
    assert result.exit_code == 0, result.output
    with (run / "val.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [1, 2]
    for r in rows:  # targets equal their inputs here: the three gains are finite and differ by the pairs scored
        assert {"gain_db", "seen_gain_db", "unseen_gain_db"} <= {k for k, v in r.items() if v}
        assert float(r["seen_gain_db"]) != float(r["unseen_gain_db"])
    out = CliRunner().invoke(app, ["release", str(run), "tiny", "-o", str(tmp_path / "engine")])
    assert out.exit_code == 0, out.output
    readme = (tmp_path / "engine" / "README.md").read_text()
    assert "| on training clips | on clips left out |" in readme
    assert f"| {float(rows[-1]['unseen_gain_db']):+.2f} |" in readme


def test_a_resumed_log_gains_the_columns_of_newer_code(tmp_path):
    """CsvLog: rows past the resumed step are dropped; a new key widens the header, earlier rows leave it empty."""
    from streamdeblur.train.logs import CsvLog, read_rows

    path = tmp_path / "val.csv"
    log = CsvLog(path)
    for step in (1, 2, 3):
        log.write({"step": step, "gain_db": 0.1 * step})
    log = CsvLog(path, resume_step=2)
    log.write({"step": 3, "gain_db": 0.5, "unseen_gain_db": -0.25})
    log.write({"step": 4, "gain_db": 0.6})
    assert read_rows(path) == [{"step": "1", "gain_db": "0.1", "unseen_gain_db": ""},
                               {"step": "2", "gain_db": "0.2", "unseen_gain_db": ""},
                               {"step": "3", "gain_db": "0.5", "unseen_gain_db": "-0.25"},
                               {"step": "4", "gain_db": "0.6", "unseen_gain_db": ""}]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_whole_process_group_checkpoints_a_run_with_data_workers(tmp_path, pairs_dir, signum):
    """Ctrl-C in a terminal, or `timeout`/`kill` of the process group, reaches the data workers too: the run still
    stops at the end of its step with its checkpoint (exit 130, no traceback) and leaves no process behind."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "streamdeblur", "train", "--data", str(pairs_dir), "--model", "fast", "--stage",
           "single", "--steps", "100000", "--batch-size", "2", "--run-dir", str(run), "--threads", "1",
           "--set", "workers=2", "--set", "log_every=1", "--set", "val_every=100000", "--set", "ckpt_every=100000",
           "-q"]
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env=dict(os.environ, PYTHONPATH=str(repo)))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        log = run / "log.csv"
        if log.exists() and log.read_text().count("\n") >= 4:  # the header and three steps
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-800:]
    os.killpg(proc.pid, signum)
    _, err = proc.communicate(timeout=60)  # returns only once every process holding stderr is gone
    err = err.decode()
    assert proc.returncode == 130 and "Traceback" not in err, err[-800:]
    assert (run / "last.pt").is_file()
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)


# ---- user mistakes: one line (`streamdeblur: error: ...`), exit 2, no traceback, before any long work


def one_line_error(capsys, *args: str) -> str:
    """Run the real entry point (streamdeblur.cli.main, as the installed command does) with args; it must fail like
    a user mistake: exit 2, one line on stderr, no traceback. Returns the line."""
    from streamdeblur.cli import main

    old_argv, old_term = sys.argv, signal.getsignal(signal.SIGTERM)
    sys.argv = ["streamdeblur", *map(str, args)]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.argv = old_argv
        signal.signal(signal.SIGTERM, old_term)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("streamdeblur: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory, pairs_dir):
    """A one-step run of model fast (no validation)."""
    run = tmp_path_factory.mktemp("fast_run") / "run"
    result = CliRunner().invoke(app, ["train", "--data", str(pairs_dir), "--model", "fast", "--stage", "single",
                                      "--steps", "1", "--batch-size", "2", "--run-dir", str(run), "--threads", "1",
                                      "--set", "val_batches=0", "-q"])
    assert result.exit_code == 0, result.output
    return run


@pytest.mark.parametrize("args, words", [
    (["--crop-size", "33"], ["--crop-size 33", "model fast", "multiple of 64", "64 or"]),
    (["--crop-size", "96"], ["--crop-size 96", "multiple of 64"]),
    (["--crop-size", "4096"], ["--crop-size 4096", "larger than the 128-px pairs", "--crop-size 128 or less"]),
    (["--lr", "-1"], ["--lr", "positive"]),
    (["--lr", "nan"], ["--lr", "positive"]),
    (["--steps", "0"], ["--steps", "positive"]),
    (["--batch-size", "0"], ["--batch-size", "positive"]),
    (["--threads", "-2"], ["--threads", "0"]),
    (["--set", "warmup=-5"], ["warmup", "0 or more"]),
    (["--set", "ema_decay=1.5"], ["ema_decay", "[0, 1)"]),
    (["--set", "w_l1=-1"], ["w_l1", "0 or more"]),
    (["--set", "betas=0.9,1.5"], ["betas"]),
    (["--set", "crop_scale=0,1"], ["crop_scale"]),
    (["--device", "tpu"], ["--device 'tpu'", "cpu, cuda"]),
    (["--device", "cuda:x"], ["--device 'cuda:x'", "cpu, cuda"]),
    (["--config", "{binary}"], ["config file", "not valid JSON"]),
    (["--config", "{tmp}"], ["config file", "is a folder"]),
    (["--crop-size", "128", "--set", "patch=256"], ["patch", "--set patch=0"]),
])
def test_train_option_mistakes_are_one_line_errors(capsys, tmp_path, pairs_dir, args, words):
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    args = [str(a).replace("{binary}", str(binary)).replace("{tmp}", str(tmp_path)) for a in args]
    line = one_line_error(capsys, "train", "--data", pairs_dir, "--model", "fast", "--stage", "single", "--steps", "1",
                          "--batch-size", "2", "--run-dir", tmp_path / "run", "--threads", "1", "-q", *args)
    for word in words:
        assert word in line, line
    assert not (tmp_path / "run").exists()  # refused before the run, or its empty folder removed


def test_train_cuda_without_cuda_is_one_line(capsys, tmp_path, pairs_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    line = one_line_error(capsys, "train", "--data", pairs_dir, "--model", "fast", "--steps", "1", "--run-dir",
                          tmp_path / "run", "--device", "cuda", "-q")
    assert "--device cuda" in line and "no CUDA" in line and "--device cpu" in line


def test_the_crop_size_check_fits_every_registered_model_at_its_own_size():
    from streamdeblur import models
    from streamdeblur.train.config import TrainConfig
    from streamdeblur.train.stages import check_input_size, input_sides

    for name in models.list_models():
        spec = models.get_spec(name)
        if spec.stages:
            check_input_size(TrainConfig(model=name, crop_size=spec.input_size), dict(models.build_parts(name)))
    assert input_sides(dict(models.build_parts("naf"))) == (8, 8)
    assert input_sides(dict(models.build_parts("hg-cgan-fast"))) == (128, 128)
    assert input_sides(dict(models.build_parts("multiscale-fast"))) == (2, 24)


def test_train_run_dir_and_data_that_are_files_are_one_line(capsys, tmp_path, pairs_dir):
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    line = one_line_error(capsys, "train", "--data", pairs_dir, "--model", "fast", "--steps", "1", "--run-dir", afile,
                          "-q")
    assert f"--run-dir {afile} is a file" in line
    line = one_line_error(capsys, "train", "--data", afile, "--model", "fast", "--steps", "1", "--run-dir",
                          tmp_path / "run", "-q")
    assert f"--data {afile} is a file, not a pairs folder" in line


@pytest.mark.parametrize("content", [b"\x00not safetensors at all" * 50, b"PK\x03\x04garbage" * 50])
def test_train_vgg19_that_is_no_state_dict_is_one_line(capsys, tmp_path, pairs_dir, content):
    bad = tmp_path / ("vgg.safetensors" if content.startswith(b"\x00") else "vgg.pth")
    bad.write_bytes(content)
    line = one_line_error(capsys, "train", "--data", pairs_dir, "--model", "fast", "--stage", "single", "--steps",
                          "1", "--run-dir", tmp_path / "run", "--vgg19", bad, "-q")
    assert f"--vgg19 {bad}" in line and "VGG19" in line


def test_resuming_with_another_model_or_a_damaged_checkpoint_is_one_line(capsys, tmp_path, fast_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(fast_run, run)
    line = one_line_error(capsys, "train", "--run-dir", run, "--resume", "--model", "naf", "--steps", "2", "-q")
    assert "trained with model fast" in line and "--model fast" in line and "--run-dir" in line
    (run / "config.json").unlink()  # the checkpoint's own config tells it too
    line = one_line_error(capsys, "train", "--data", fast_run.parent.parent, "--run-dir", run, "--resume", "--model",
                          "fast-unet", "--stage", "single", "--steps", "2", "-q")
    assert "trained with model fast" in line
    data = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(data[: len(data) // 2])
    shutil.copy(fast_run / "config.json", run / "config.json")
    line = one_line_error(capsys, "train", "--run-dir", run, "--resume", "--steps", "2", "-q")
    assert f"checkpoint {run / 'last.pt'} is damaged" in line and "delete it" in line and "best.pt" not in line
    shutil.copy(fast_run / "last.pt", run / "best.pt")
    line = one_line_error(capsys, "train", "--run-dir", run, "--resume", "--steps", "2", "-q")
    assert "copy best.pt" in line


def _damaged_pairs(pairs_dir: Path, root: Path) -> Path:
    """A copy of the pairs whose train and val shards hold the first third of their bytes."""
    import shutil

    shutil.copytree(pairs_dir, root)
    for shard in root.rglob("*.tar"):
        data = shard.read_bytes()
        shard.write_bytes(data[: len(data) // 3])
    return root


def test_a_truncated_shard_is_one_line_in_train_and_eval(capsys, tmp_path, pairs_dir):
    bad = _damaged_pairs(pairs_dir, tmp_path / "pairs")
    line = one_line_error(capsys, "train", "--data", bad, "--model", "fast", "--stage", "single", "--steps", "1",
                          "--batch-size", "2", "--run-dir", tmp_path / "run", "--threads", "1", "-q")
    assert f"pairs shard {bad / 'train' / 'pairs-000000.tar'} is damaged" in line and "make-pairs" in line
    line = one_line_error(capsys, "eval", "--pairs", bad / "val", "-o", tmp_path / "report", "--model", "identity",
                          "--embedder", "none", "--landmarker", "none", "--examples", "0", "-q")
    assert f"pairs shard {bad / 'val' / 'pairs-000000.tar'} is damaged" in line


def test_a_truncated_shard_through_the_installed_command(tmp_path, pairs_dir):
    """The same through a real process (python -m streamdeblur), as a user runs it."""
    from tests.helpers import run_cli

    bad = _damaged_pairs(pairs_dir, tmp_path / "pairs")
    proc = run_cli("train", "--data", str(bad), "--model", "fast", "--stage", "single", "--steps", "1",
                   "--batch-size", "2", "--run-dir", str(tmp_path / "run"), "--threads", "1", "-q", timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "is damaged" in err


@pytest.mark.parametrize("what", ["video", "garbage"])
def test_release_of_what_is_no_checkpoint_is_one_line(capsys, tmp_path, what):
    path = tmp_path / ("clip.mp4" if what == "video" else "garbage.pt")
    if what == "video":
        from streamdeblur.synthetic import write_clip

        write_clip(path, synthesize_frames(3, 64, 64, blur=False))
    else:
        path.write_bytes(os.urandom(4000))
    line = one_line_error(capsys, "release", path, "myeng", "-o", tmp_path / "r")
    assert f"{path} is not a training checkpoint" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, words", [
    (["../../etc/evil"], ["'../../etc/evil' is not a plain folder name"]),
    ([".."], ["'..' is not a plain folder name"]),
    (["a/b"], ["is not a plain folder name"]),
    (["ok", "--gate", "-5"], ["--gate", "-5"]),
    (["ok", "--gate", "inf"], ["--gate", "inf"]),
    (["ok", "--metrics", "{binary}"], ["is not a report.json"]),
])
def test_release_name_and_gate_mistakes_are_one_line(capsys, tmp_path, fast_run, args, words):
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    args = [a.replace("{binary}", str(binary)) for a in args]
    line = one_line_error(capsys, "release", fast_run, *args, "-o", tmp_path / "r")
    for word in words:
        assert word in line, line
    assert not (tmp_path / "r").exists()


def test_release_refuses_to_replace_an_engine_without_force(capsys, tmp_path, fast_run, monkeypatch):
    folder = tmp_path / "engine"
    assert CliRunner().invoke(app, ["release", str(fast_run), "tiny", "-o", str(folder)]).exit_code == 0
    (folder / "NOTES.md").write_text("## Status\n\nHand-written.\n")
    (folder / "export.onnx").write_bytes(b"kept")
    before = (folder / "card.json").read_text()
    line = one_line_error(capsys, "release", fast_run, "tiny", "-o", folder, "--gate", "2")
    assert f"{folder} already holds an engine" in line and "--force" in line
    assert (folder / "card.json").read_text() == before
    out = CliRunner().invoke(app, ["release", str(fast_run), "tiny", "-o", str(folder), "--gate", "2", "--force"])
    assert out.exit_code == 0, out.output
    assert json.loads((folder / "card.json").read_text())["gate"] == 2.0
    assert (folder / "export.onnx").read_bytes() == b"kept"
    assert (folder / "README.md").read_text().rstrip().endswith("Hand-written.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["engine"]  # no staging folder left beside it
    # without -o: engines/<name>, a shipped engine
    engines = tmp_path / "engines"
    (engines / "naf").mkdir(parents=True)
    (engines / "naf" / "card.json").write_text("{}")
    monkeypatch.setenv("STREAMDEBLUR_ENGINES", str(engines))
    line = one_line_error(capsys, "release", fast_run, "naf")
    assert f"{engines / 'naf'} already holds an engine" in line
    assert (engines / "naf" / "card.json").read_text() == "{}"


@pytest.mark.parametrize("args, words", [
    (["--threads", "-2"], ["--threads", "-2"]),
    (["--max-frames", "0"], ["--max-frames must be at least 1"]),
    (["--steps", "0"], ["--steps", "at least 1"]),
])
def test_adapt_option_mistakes_are_one_line(capsys, tmp_path, args, words):
    clip = tmp_path / "ref.mp4"
    clip.write_bytes(b"")
    line = one_line_error(capsys, "adapt", clip, "-o", tmp_path / "eng", *args)
    for word in words:
        assert word in line, line


def test_process_adapt_steps_are_named_as_process_names_them(tmp_path):
    from streamdeblur.errors import UserError
    from streamdeblur.train.adapt import AdaptOptions, adapted_to

    with pytest.raises(UserError, match="--adapt-steps"):
        adapted_to(tmp_path / "clip.mp4", AdaptOptions(steps=0))


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_pair_that_does_not_decode_is_one_line_even_from_a_data_worker(capsys, tmp_path, workers):
    """A data worker's exception comes back with its traceback in the message: the user sees its own line only."""
    import numpy as np

    from streamdeblur.data.shards import encode_png

    writer = TarWriter(tmp_path / "pairs" / "train" / "pairs-000000.tar")
    for i in range(4):
        writer.add(f"k{i}.blur.png", b"garbage")
        writer.add(f"k{i}.sharp.png", encode_png(np.zeros((64, 64, 3), np.uint8)))
        writer.add(f"k{i}.json", b'{"method": "kernel", "motion": 1.0}')
    writer.close()
    line = one_line_error(capsys, "train", "--data", tmp_path / "pairs", "--model", "fast", "--stage", "single",
                          "--steps", "1", "--batch-size", "2", "--crop-size", "64", "--run-dir", tmp_path / "run",
                          "--threads", "1", "--set", f"workers={workers}", "--set", "val_batches=0", "-q")
    assert line.startswith(f"streamdeblur: error: pairs shard {tmp_path / 'pairs' / 'train' / 'pairs-000000.tar'} "
                           "is damaged (pair k0"), line
