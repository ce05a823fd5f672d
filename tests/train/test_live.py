"""`process --adapt` on a live input (train/live.py): the first seconds recorded while the released engine
restores them, `adapt` run on the recording in a process of its own, and the person's faces handed to the adapted
engine from the frame it is ready on. Stdin stands in for the camera (these machines have none), fed in two parts:
the second only once the adapted engine exists, so the hand-over happens mid-stream however busy the machine is."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamdeblur.cli import app
from tests.helpers import decode_frames
from tests.train.test_adapt import halves  # noqa: F401 - the fixture

# the pipeline with a LiveAdapt whose child adapts naf for STEPS (default 1: one hand-over), uncompiled (a first
# compile takes minutes), recording SECONDS (default 1), at the pipeline's priority (the suite's other tests keep the
# CPU busy; the lower priority is test_the_adaptation_runs_nicer_than_the_pipeline's); torch runs the engines (no
# ONNX export of each). It prints
# the summary's adapted_from_frame, frames, each track's person and the hand-overs as JSON.
SCRIPT = """
import json, sys
from streamdeblur.cli import _setup_logging
from streamdeblur.pipeline import ProcessOptions, process
from streamdeblur.train.adapt import AdaptOptions
from streamdeblur.train.live import LiveAdapt

_setup_logging(False)
seconds, steps = float(sys.argv[2]), int(sys.argv[3])
live = LiveAdapt("-", AdaptOptions(model="naf", steps=steps, duration=seconds, threads=1, compile=False), nice=0)
summary = process("-", sys.argv[1], ProcessOptions(model="naf", backend="torch", threads=1,
                                                      format="mpegts"), adapting=live)
print(json.dumps([summary["adapted_from_frame"], summary["frames"],
                  [t.get("person") for t in summary["per_track"].values()], summary["handovers"]]))
"""


def stream_bytes(halves, tmp_path):
    """The face clip's 140 frames (the later 80, then the first 60) as one MPEG-TS stream."""
    from streamdeblur.eval.video import read_frames, write_video
    from streamdeblur.io.clips import remux

    later, first, _ = halves
    frames = read_frames(later, 80)[0] + read_frames(first, 60)[0]
    clip = write_video(tmp_path / "stream.mp4", frames, 25)
    return remux(clip, tmp_path / "stream.ts", format="mpegts").read_bytes()


def start(tmp_path, out, seconds: float = 1.0, steps: int = 1):
    """The script on a pipe; its stdout and stderr go to files (read with `said`), so nothing blocks on them."""
    env = {**os.environ, "STREAMDEBLUR_CACHE": str(tmp_path / "cache")}
    with open(tmp_path / "stdout", "wb") as stdout, open(tmp_path / "stderr", "wb") as stderr:
        return subprocess.Popen([sys.executable, "-c", SCRIPT, str(out), str(seconds), str(steps)],
                                stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, env=env)


def said(tmp_path) -> tuple[str, str]:
    return (tmp_path / "stdout").read_text(), (tmp_path / "stderr").read_text()


def in_parts(tmp_path, proc, data: bytes, waits) -> tuple[list, str]:
    """Feed the stream in parts: for each (share, until) of `waits`, up to that share of it, then wait (up to 4 min)
    until `until()` or the process ends; then the rest. The script's printed summary fields, and its stderr."""
    fed = 0
    for share, until in waits:
        cut = int(len(data) * share)
        proc.stdin.write(data[fed:cut])
        proc.stdin.flush()
        fed = cut
        deadline = time.monotonic() + 240
        while not until() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    proc.stdin.write(data[fed:])
    proc.stdin.close()
    proc.wait(timeout=240)
    stdout, stderr = said(tmp_path)
    assert proc.returncode == 0, stderr
    return json.loads(stdout), stderr


def test_a_live_input_is_handed_to_the_engine_adapted_to_its_first_second(halves, tmp_path):
    """Adapted 20 steps: the engine of its 5th step (a fortieth of 20 is under one) takes over once it is ready
    (then the 10th's, when a frame comes while it is the furthest), the whole adaptation (the same run) once it is
    done, and the hand-overs' folders are removed at the end."""
    data = stream_bytes(halves, tmp_path)
    out = tmp_path / "out.ts"
    recordings = tmp_path / "cache" / "adapt" / "recordings"
    # about 45 frames (the first 25 are recorded), more once the first engine is ready, the rest once the whole is
    (swapped, frames, people, handovers), stderr = in_parts(tmp_path, start(tmp_path, out, steps=20), data, [
        (1 / 3, lambda: list(recordings.glob("*-engine-5/card.json"))),
        (2 / 3, lambda: list(recordings.glob("*-engine/card.json")))])
    steps = [h["steps"] for h in handovers]
    assert frames == 140 and people == [True] and steps[0] == 5 and steps[-1] == 20, stderr
    assert steps == sorted(set(steps)) and set(steps) <= {5, 10, 20}, stderr
    assert 25 < swapped == handovers[0]["frame"] and [h["frame"] for h in handovers] == sorted(
        {h["frame"] for h in handovers}) and handovers[-1]["frame"] < 140
    assert len(decode_frames(out)) == 140
    (recording,) = recordings.glob("stdin-*.mp4")
    (engine,) = recordings.glob("*-engine")
    card = json.loads((engine / "card.json").read_text())
    assert card["adapted"]["references"] == [str(recording)] and card["adapted"]["steps"] == 20
    assert not list(recordings.glob("*-engine-*")), "a hand-over's engine is kept after the whole one took over"
    assert "recorded 1.0 s (25 frames)" in stderr and "the engine adapted 5 of the 20 steps is ready" in stderr
    assert "most faces were large" not in stderr  # the model was chosen for adapting live, not for the face size
    for handover in handovers:
        assert f"from frame {handover['frame']} on, the adapted engine ({handover['steps']} steps)" in stderr


def test_an_input_that_ends_first_stops_the_adaptation_and_says_how_to_finish_it(halves, tmp_path):
    data = stream_bytes(halves, tmp_path)
    out = tmp_path / "out.ts"
    proc = start(tmp_path, out, steps=4000)  # staged: 100 steps first (uncompiled: minutes)
    proc.communicate(data, timeout=240)
    stdout, stderr = said(tmp_path)
    assert proc.returncode == 0, stderr
    if "is ready" in stderr:
        pytest.skip("the adaptation finished before the 140 frames did (a fast machine): nothing to stop")
    assert json.loads(stdout) == [None, 140, [None], []]
    (recording,) = (tmp_path / "cache" / "adapt" / "recordings").glob("stdin-*.mp4")
    assert f"`streamdeblur adapt {recording} -o" in stderr and "--model naf --steps 4000` finishes it" in stderr


def test_process_adapt_on_a_live_input_runs_the_released_engine_of_the_model_it_adapts(tmp_path, monkeypatch):
    """The CLI's wiring: a LiveAdapt with the adapt options given, and the pipeline runs adapt's model meanwhile
    (naf-hd by default, naf on a small CPU without a GPU, --model else); --adapt-seconds is refused for a file and
    below zero."""
    from streamdeblur import pipeline

    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    seen = []
    monkeypatch.setattr(pipeline, "process", lambda input, output, options, engine=None, progress=None,
                        adapting=None: seen.append((options.model, adapting)) or {"frames": 0})
    from streamdeblur.train import live as live_module

    # naf-hd by default, but naf on a CPU too small to run naf-hd live (train/live.HD_CORES); --model decides
    for cores, args, model in ((16, [], "naf-hd"), (2, [], "naf"), (2, ["--model", "naf-hd"], "naf-hd"),
                               (16, ["--model", "naf"], "naf")):
        monkeypatch.setattr(live_module.os, "cpu_count", lambda: cores)
        result = CliRunner().invoke(app, ["process", "webcam:0", "-o", str(tmp_path / "o.mp4"), "--adapt",
                                          "--adapt-steps", "7", "--adapt-seconds", "3", "-q", *args])
        assert result.exit_code == 0, result.output
        used, live = seen[-1]
        assert used == model and live.options.model == model and live.options.steps == 7 and live.seconds == 3
        assert live.input == "webcam:0" and live.recording.parent == tmp_path / "cache" / "adapt" / "recordings"
    # without --adapt-steps, the model's own (train/adapt.STEPS): naf 4,000, naf-hd 1,000
    for model, steps in (("naf", 4000), ("naf-hd", 1000)):
        result = CliRunner().invoke(app, ["process", "webcam:0", "-o", str(tmp_path / "o.mp4"), "--adapt", "--model",
                                          model, "-q"])
        assert result.exit_code == 0 and seen[-1][1].options.steps == steps, result.output
    assert [live_module.handover_steps(n) for n in (4000, 1000, 20, 10, 2, 1)] == [
        [100, 1000, 2000], [25, 250, 500], [5, 10], [2, 5], [1], []]
    assert live_module.live_model(2, gpu=True) is None and live_module.live_model(live_module.HD_CORES, False) is None
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"")
    without = CliRunner().invoke(app, ["process", "webcam:0", "-o", str(tmp_path / "o.mp4"), "--adapt-seconds", "3"])
    assert without.exit_code == 2 and "--adapt-seconds goes with --adapt" in without.output
    for args, message in (([str(clip), "--adapt-seconds", "3"], "--adapt-seconds is for a camera"),
                          (["webcam:0", "--adapt-seconds", "0"], "--adapt-seconds must be positive"),
                          (["webcam:0", "--model", "hg-cgan-half"], "adapt fine-tunes restoration engines")):
        result = CliRunner().invoke(app, ["process", *args, "-o", str(tmp_path / "o.mp4"), "--adapt", "-q"])
        said = result.output + (str(result.exception) if result.exception else "")
        assert result.exit_code != 0 and message in said, said


def test_a_recording_or_an_adaptation_that_fails_leaves_the_input_to_the_released_engine(tmp_path, monkeypatch,
                                                                                        caplog):
    """A recording that cannot be started (an unwritable cache) or written (a full disk) or an `adapt` that fails
    (no sharp face in the recording) is one warning; the pipeline goes on with the released engine and nothing more is tried."""
    from streamdeblur.train.adapt import AdaptOptions
    from streamdeblur.train.live import LiveAdapt

    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))

    class Full:
        open = True

        def write(self, frame):
            raise OSError(28, "No space left on device")

        def abort(self):
            self.open = False

    import numpy as np

    from streamdeblur.eval.video import write_video
    from streamdeblur.io.source import open_source

    source = open_source(str(write_video(tmp_path / "in.mp4", [np.zeros((64, 64, 3), np.uint8)] * 3, 25)))
    live = LiveAdapt("webcam:0", AdaptOptions(model="naf"))
    (tmp_path / "file").write_text("")
    live.recording = tmp_path / "file" / "rec.mp4"  # under a file: cannot be created (even by root)
    with caplog.at_level("WARNING", logger="streamdeblur"):
        live.start(source)
        assert live.see(next(iter(source))) is None and live.recorder is None and live.done
    source.close()
    assert caplog.records[0].getMessage().startswith("cannot record the input to adapt to (")
    caplog.clear()
    live = LiveAdapt("webcam:0", AdaptOptions(model="naf"))
    live.recorder = Full()
    with caplog.at_level("WARNING", logger="streamdeblur"):
        assert live.see(object()) is None and live.see(object()) is None
    assert live.child is None and not live.recorder.open
    assert [r.getMessage() for r in caplog.records] == [
        "cannot adapt to the input ([Errno 28] No space left on device); the released engine restores it"]
    caplog.clear()
    live = LiveAdapt("-", AdaptOptions(model="naf"))
    with open(live.log_path, "wb") as out:
        live.child = subprocess.Popen([sys.executable, "-c", "print('streamdeblur: error: no face in the clip');"
                                       "raise SystemExit(2)"], stdout=out)
    live.child.wait()
    with caplog.at_level("WARNING", logger="streamdeblur"):
        assert live.see(object()) is None and live.see(object()) is None
    (said,) = [r.getMessage() for r in caplog.records]
    assert said.endswith("failed (streamdeblur: error: no face in the clip); the released engine restores the rest")


def adapted_engine(folder: Path, identity: dict, **changes) -> Path:
    """An engine folder as `adapt` leaves it: naf's released weights (standing in for adapted ones) and a card that
    says whose engine it is (model, base weights and steps as adapt writes them, but for `changes`)."""
    from streamdeblur.models import get_spec
    from streamdeblur.train.adapt import base_key

    folder.mkdir(parents=True)
    shutil.copy(get_spec("naf").weights_path, folder / "model.safetensors")
    adapted = {"model": "naf", "base": base_key("naf"), "steps": 1000, "identity": identity, "references": [],
               **changes}
    (folder / "card.json").write_text(json.dumps({"model": "naf", "adapted": adapted}))
    return folder


@pytest.fixture(scope="module")
def identities(halves):
    """The cards' face embeddings (dlib) of the woman (her later frames) and of two men (another clip)."""
    pytest.importorskip("dlib")
    from streamdeblur.train.adapt import person_of
    from tests.conftest import shared_path

    return person_of([halves[0]], None), person_of([shared_path("data/tests/short_hamilton_clip.mp4")], None)


def test_an_engine_adapted_before_to_the_same_person_stands_for_adapting_to_a_new_recording(halves, identities,
                                                                                           tmp_path, monkeypatch):
    """The second time a person is adapted to live, the engine of the first time is used at once: one beside an
    earlier recording, of the same model from the same released weights and at least as many steps, whose card's
    face embedding is the new recording's person (dlib, on real clips: the woman's later frames made the engine,
    her first frames are the new recording; two men of another clip are not her). The child copies it into the
    new engine folder instead of adapting; with none it becomes `streamdeblur adapt` on the recording."""
    from streamdeblur.train import live as live_module
    from dataclasses import replace

    from streamdeblur.train.adapt import AdaptOptions
    from streamdeblur.train.live import adapt_command, child, earlier_engine

    _, first, _ = halves
    hers, men = identities
    folder = tmp_path / "recordings"
    folder.mkdir()
    recording = folder / "stdin-new.mp4"
    shutil.copy(first, recording)

    def engine(name: str, identity: dict, **changes) -> Path:
        return adapted_engine(folder / name, identity, **changes)

    options = AdaptOptions(model="naf", steps=1000)
    assert earlier_engine(recording, options) is None  # nothing adapted before
    engine("men-engine", men)
    for name, changes in (("hd-engine", {"model": "naf-hd"}), ("old-engine", {"base": "0"}),
                          ("short-engine", {"steps": 100})):
        engine(name, hers, **changes)
    assert earlier_engine(recording, options) is None  # other people, or hers adapted otherwise
    mine = engine("her-engine", hers)
    assert earlier_engine(recording, options) == mine

    execs = []
    monkeypatch.setattr(live_module.os, "execv", lambda path, args: execs.append(args))
    options = replace(options, snapshots=(100, 500))
    monkeypatch.setattr(sys, "argv", ["-c", *adapt_command(recording, folder / "stdin-new-engine", options)])
    assert child() == 0 and not execs
    assert json.loads((folder / "stdin-new-engine" / "card.json").read_text()) == json.loads(
        (mine / "card.json").read_text())
    shutil.rmtree(mine)
    shutil.rmtree(folder / "stdin-new-engine")
    child()  # none of hers left: (in this process) adapt on the recording, writing the engines at 100 and 500 steps
    assert execs == [[sys.executable, "-m", "streamdeblur", *adapt_command(recording, folder / "stdin-new-engine",
                                                                          options)]]
    assert execs[0][execs[0].index("--steps"):][:6] == ["--steps", "1000", "--snapshot", "100", "--snapshot", "500"]


def test_a_person_adapted_to_before_is_known_from_the_first_faces(halves, identities, tmp_path):
    """The second time: an engine adapted before to the woman (her later frames) is in the cache, and the stream
    starts with her. Her first faces are compared with it while the recording starts, and it takes over within the
    first part of the stream, long before the 4 s (100 frames) to record: nothing is recorded or adapted."""
    recordings = tmp_path / "cache" / "adapt" / "recordings"
    mine = adapted_engine(recordings / "stdin-earlier-engine", identities[0], steps=1)  # the script adapts 1 step
    data = stream_bytes(halves, tmp_path)
    out = tmp_path / "out.ts"
    # about 45 frames, then the rest once the first faces are decided on
    (swapped, frames, people, handovers), stderr = in_parts(tmp_path, start(tmp_path, out, seconds=4), data, [
        (1 / 3, lambda: "the first faces are" in said(tmp_path)[1])])
    assert frames == 140 and swapped < 100 and people == [True] and handovers == [{"frame": swapped, "steps": 1}]
    assert f"the first faces are the person of {mine}, adapted to before" in stderr
    assert f"from frame {swapped} on, the adapted engine" in stderr and "adapting naf to it" not in stderr
    assert not list(recordings.glob("stdin-*.mp4")) and len(decode_frames(out)) == 140


def test_a_person_whose_adaptation_an_input_cut_short_gets_its_engine_and_the_adaptation_finished(
        halves, identities, tmp_path):
    """The first time's input ended before its adaptation (3 steps), keeping its 1-step hand-over beside its
    recording. The second time the same woman comes, her first faces are known by that engine, which takes over at
    once (nothing is recorded), and the adaptation goes on on the first recording: its whole engine takes over when
    done, and the hand-over's folder is removed. Without the recording there is nothing to finish it on, and adapt's
    child (earlier_engine) never takes a hand-over's engine for a finished one."""
    from streamdeblur.train.adapt import AdaptOptions
    from streamdeblur.train.live import adapted_before

    recordings = tmp_path / "cache" / "adapt" / "recordings"
    recordings.mkdir(parents=True)
    earlier = Path(shutil.copy(halves[0], recordings / "stdin-earlier.mp4"))
    kept = adapted_engine(recordings / "stdin-earlier-engine-1", identities[0], steps=1, references=[str(earlier)])
    options = AdaptOptions(model="naf", steps=3)
    assert adapted_before(recordings, options) == [] and adapted_before(recordings, options, unfinished=True) == [
        (kept, identities[0])]
    data = stream_bytes(halves, tmp_path)
    out = tmp_path / "out.ts"
    (swapped, frames, people, handovers), stderr = in_parts(
        tmp_path, start(tmp_path, out, seconds=4, steps=3), data,
        [(1 / 3, lambda: "the first faces are" in said(tmp_path)[1]),
         (2 / 3, lambda: (recordings / "stdin-earlier-engine" / "card.json").is_file())])
    assert frames == 140 and swapped < 100 and people == [True], stderr
    assert [h["steps"] for h in handovers] == [1, 3] and handovers[0]["frame"] == swapped < handovers[1]["frame"]
    assert "1 of its 3 steps (the input ended first)" in stderr and "adapting naf to it" not in stderr
    card = json.loads((recordings / "stdin-earlier-engine" / "card.json").read_text())
    assert card["adapted"]["steps"] == 3 and card["adapted"]["references"] == [str(earlier)]
    assert not kept.exists() and list(recordings.glob("stdin-*.mp4")) == [earlier] and len(decode_frames(out)) == 140
    # a hand-over's engine is offered only with its recording
    other = adapted_engine(recordings / "stdin-gone-engine-2", identities[0], steps=2)
    assert adapted_before(recordings, AdaptOptions(model="naf", steps=9), unfinished=True) == []
    shutil.copy(earlier, recordings / "stdin-gone.mp4")
    assert adapted_before(recordings, AdaptOptions(model="naf", steps=9), unfinished=True) == [(other, identities[0])]


def test_the_first_faces_of_another_person_leave_the_input_to_be_adapted(halves, identities, tmp_path, caplog):
    """The Looker on its own, fed frames as the pipeline offers them: the woman's first frames are her engine's
    person and not the men's (two men of another clip), decided on three faces; with the men's engine only, the
    recording and adapting go on (found stays None)."""
    from streamdeblur.eval.video import read_frames
    from streamdeblur.train.live import Looker

    frames = read_frames(halves[1], 60)[0]
    hers, men = (tmp_path / "her-engine", identities[0]), (tmp_path / "men-engine", identities[1])

    def look(candidates) -> Looker:
        looker = Looker(candidates)
        for frame in frames:
            if looker.finished.wait(0.05):
                break
            looker.offer(frame)
        looker.finished.wait(30)
        return looker

    with caplog.at_level("INFO", logger="streamdeblur"):
        assert look([men]).found is None
        assert "not the person of an engine adapted before" in caplog.text
        found = look([men, hers])
    assert found.found == hers[0] and found.faces == 3


def test_the_whole_engine_is_handed_over_once_it_is_there_before_its_process_has_exited(tmp_path, monkeypatch,
                                                                                       caplog):
    """adapt puts the whole engine in place by a rename, then its process takes a second or more to exit while the
    input goes on (CI's run of the cut-short test: the input ended in that second, and the whole engine was never
    handed over). The engine is handed over on the next frame once its folder is there; the input's end waits for
    the exiting child (no SIGTERM, no 'ended before' message) and removes the hand-overs' folders."""
    from streamdeblur.train.adapt import AdaptOptions
    from streamdeblur.train.live import LiveAdapt, start_child

    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    live = LiveAdapt("-", AdaptOptions(model="naf", steps=40))
    # as adapt: the whole engine's folder appears, and the process exits a while after (3 s here)
    exiting = f"import os, time\nwhile not os.path.exists({str(live.engine / 'card.json')!r}): time.sleep(0.05)\n" \
              "time.sleep(3)"
    live.child = start_child([sys.executable, "-c", exiting], live.log_path, append=False)
    assert live.see(object()) is None  # nothing made yet
    (_, first), *_ = live.stages
    first.mkdir()
    (first / "card.json").write_text(json.dumps({"model": "naf", "adapted": {"steps": 1}}))
    assert live.see(object()) == first
    live.engine.mkdir()
    (live.engine / "card.json").write_text(json.dumps({"model": "naf", "adapted": {
        "steps": 40, "references": [str(live.recording)]}}))
    caplog.clear()
    with caplog.at_level("INFO", logger="streamdeblur"):
        assert live.see(object()) == live.engine and live.child.poll() is None and live.done
        assert live.see(object()) is None
        live.close()
    assert live.child.returncode == 0 and not first.exists() and live.engine.is_dir()
    said = [r.getMessage() for r in caplog.records]
    assert said[0].startswith("the engine adapted to stdin-") and not any("ended" in m for m in said), said


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="no process priorities on this system")
def test_the_adaptation_runs_nicer_than_the_pipeline(tmp_path):
    """The child gets the CPU the pipeline leaves (live.CHILD_NICE): its process group, threads started later included,
    runs that much nicer than the process that started it, and so does its session's scheduling group on Linux; its
    output goes to the log."""
    from streamdeblur.train.live import CHILD_NICE, start_child

    script = ("import os, threading; print('child', flush=True); "
              "t = threading.Thread(target=lambda: print('thread', os.getpriority(os.PRIO_PROCESS, 0), flush=True)); "
              "import time; time.sleep(1.5); t.start(); t.join(); time.sleep(30)")
    child = start_child([sys.executable, "-c", script], tmp_path / "child.log", append=False)
    try:
        expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + CHILD_NICE)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == expected
        group = Path(f"/proc/{child.pid}/autogroup")  # Linux's scheduling group of its session, where there are any
        if group.is_file():
            assert group.read_text().split()[-2:] == ["nice", str(CHILD_NICE)]
        deadline = time.monotonic() + 60
        while "thread" not in (tmp_path / "child.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "child.log").read_text().split() == ["child", "thread", str(expected)]
    finally:
        child.kill()
        child.wait()
