"""`streamdeblur adapt`: a released engine fine-tuned on sharp video of one face, on real clips from ../shared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from streamdeblur.cli import app
from streamdeblur.errors import UserError

# one CPU thread per adapt run: pytest-xdist runs a test on each core, and adapt's default (every core) beside
# another worker's threads oversubscribes them (the naf test took 293 s of its 300 s limit in the suite, 66 s alone)
ONE_THREAD = ["--threads", "1"]
# and uncompiled (adapt's default compiles the step: a minute or two of compiling on a worker the first time; the
# compiled step's numbers are tests/train/test_trainer.py's, its plumbing test_adapt_compiles_its_step_...)
EAGER = ["--no-compile"]


def adapted_card(reference: Path, out: Path, *args: str) -> dict:
    """`streamdeblur adapt REFERENCE -o OUT ARGS` on one thread, uncompiled, which must succeed: the folder's card."""
    result = CliRunner().invoke(app, ["adapt", str(reference), "-o", str(out), *args, *ONE_THREAD, *EAGER, "-q"])
    assert result.exit_code == 0, result.output
    return json.loads((out / "card.json").read_text())


@pytest.fixture
def trains_here(monkeypatch):
    """adapt trains in this process, as the `adapt` command does (its OpenMP threads spin already), not in the child
    that `process --adapt` and callers from Python get (train/apart.py; that path is tests/train/test_apart.py's, and
    end to end test_an_adapted_naf_hd_runs_with_the_test_time_local_converter's): each child imports torch and builds
    its run again, 5-15 s a test on the suite's busy cores."""
    from streamdeblur.train import apart

    monkeypatch.setattr(apart, "spins", lambda: True)


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    """A real talking face split in time: frames 0-59 to restore, 60-139 as the sharp reference (lossless)."""
    from tests.conftest import shared_path
    from streamdeblur.eval.video import read_frames, write_video

    clip = shared_path("data/tests/pexels_woman_640x360.mp4")
    root = tmp_path_factory.mktemp("adapt")
    frames, fps = read_frames(clip, 140)
    return write_video(root / "later.mp4", frames[60:], fps), write_video(root / "first.mp4", frames[:60], fps), root


def test_the_pairs_are_made_of_the_references_sharpest_faces_only(halves, tmp_path):
    """A reference whose first 40 frames are shaken (a motion kernel, as make-pairs' kernel method blurs) before 80
    sharp ones: adapt's sharpness threshold leaves out most of the blurred faces and keeps most of the sharp ones;
    the sharp frames alone keep most of theirs; it never falls below make-pairs' own."""
    from streamdeblur.data import blur
    from streamdeblur.eval.video import read_frames, write_video
    from streamdeblur.faces.detect import create_detector
    from streamdeblur.train.adapt import reference_sharpness, threshold_of

    later, _, _ = halves
    frames, fps = read_frames(later, None)
    rng = np.random.default_rng(0)
    shaken = [blur.apply_kernel(f, blur.motion_kernel(9, rng)) for f in frames[:40]]
    mixed = write_video(tmp_path / "mixed.mp4", shaken + frames, fps)
    faces = np.array(reference_sharpness(mixed, None, create_detector("yunet"), count=120))
    assert len(faces) == 120
    level = threshold_of([faces])
    assert (faces[:40] >= level).mean() <= 0.2 and (faces[40:] >= level).mean() >= 0.7, (level, faces)
    assert (faces[40:] >= threshold_of([faces[40:]])).mean() >= 0.7
    assert threshold_of([faces[40:], faces]) == level and threshold_of([[1.0, 2.0]]) == threshold_of([]) == 20.0


def test_adapt_detects_a_references_faces_at_a_size_made_for_them(halves, tmp_path):
    """adapt's passes over a reference (sharpness, make-pairs: a detection in every frame) see its frames at the size
    that makes its faces about DETECT_FACE px: the same for a copy at twice the resolution (the face's share of the
    frame decides, not the frame), where the detector finds the same faces as at make-pairs' 640 on every frame; and
    640 for a clip without a face."""
    import cv2

    from streamdeblur.eval.video import read_frames, write_video
    from streamdeblur.faces.detect import create_detector
    from streamdeblur.faces.detection import largest_face
    from streamdeblur.train.adapt import DETECT_FACE, MIN_DETECT_SIZE, detect_size

    from ..data.conftest import write_faceless_clip

    later, _, _ = halves
    frames, fps = read_frames(later, 40)
    big = write_video(tmp_path / "big.mp4", [cv2.resize(f, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
                                             for f in frames], fps)
    size, size_big = detect_size([later], None), detect_size([big], None)
    assert MIN_DETECT_SIZE <= size < 640 and size % 32 == 0 and abs(size_big - size) <= 32, (size, size_big)
    assert detect_size([later, big], None) == max(size, size_big)
    full, small = create_detector("yunet"), create_detector("yunet", max_side=size)
    for image in frames[::4]:
        a, b = largest_face(full.detect(image), 64), largest_face(small.detect(image), 64)
        side = float(max(a.box[2:] - a.box[:2]))
        assert b is not None and np.abs(b.box - a.box).max() < 0.1 * side
        assert side * size / max(image.shape[:2]) >= 0.8 * DETECT_FACE
    assert detect_size([write_faceless_clip(tmp_path / "none.mp4")], None) == 640


def _gain_db(weights, pairs) -> float:
    """Mean PSNR gain of naf with these weights over the blurry crops of the pairs (torch, fp32)."""
    from streamdeblur.data.dataset import PairDataset
    from streamdeblur.eval.metrics import psnr
    from streamdeblur.models import load_model

    net = load_model("naf", weights)
    gains = []
    for blurry, sharp in PairDataset(pairs, split="train", size=128):
        with torch.no_grad():
            out = net(blurry[None]).clamp(0, 1)[0]
        as_u8 = lambda t: (t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # noqa: E731
        gains.append(psnr(as_u8(out), as_u8(sharp)) - psnr(as_u8(blurry), as_u8(sharp)))
    return float(np.mean(gains))


def test_a_long_reference_gives_about_max_centres_pairs(shared, monkeypatch):
    """A pair every `stride` frames, so that a film given to `process --adapt` gives MAX_CENTRES pairs, not hours."""
    from streamdeblur.io.source import open_source
    from streamdeblur.train import adapt

    clip = shared("data/tests/pexels_woman_640x360.mp4")
    source = open_source(str(clip))
    frames = source.frame_count
    source.close()
    assert frames > 100 and adapt.centre_stride([clip], None) == -(-frames // adapt.MAX_CENTRES)
    monkeypatch.setattr(adapt, "MAX_CENTRES", 10)
    assert adapt.centre_stride([clip], None) == -(-frames // 10)
    assert adapt.centre_stride([clip, clip], 30) == 6 and adapt.centre_stride([clip], 10) == 1


def test_process_adapt_takes_one_input(tmp_path):
    """--adapt adapts to the input itself: several inputs, a missing file or --weights beside it are refused,
    clearly (a camera, a stream or a pipe is adapted to while it runs: tests/train/test_live.py)."""
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"")
    for args, message in ((["rtsp://camera/1", "--weights", str(tmp_path)], "not both"),
                          ([str(tmp_path / "missing.mp4")], "one video file, a camera"),
                          ([str(clip), str(clip)], "one video file"),
                          ([str(clip), "--weights", str(tmp_path)], "not both"),
                          ([str(clip), "-o", str(clip)], "is the input file"),
                          ([str(clip), "-o", str(tmp_path / "missing" / "o.mp4")], "does not exist")):
        result = CliRunner().invoke(app, ["process", "-o", str(tmp_path / "o.mp4"), *args, "--adapt"])
        # _fail prints; a UserError reaches the entry point, which prints it as one line (no traceback)
        said = result.output if result.exception is None or isinstance(result.exception, SystemExit) else (
            str(result.exception) if isinstance(result.exception, UserError) else repr(result.exception))
        assert result.exit_code != 0 and message in said and "Traceback" not in said, said


def test_adapting_naf_on_later_frames_of_a_face_restores_its_earlier_frames_better(halves, tmp_path, monkeypatch,
                                                                                  trains_here):
    """The point of adapt: fine-tuned on the later (sharp) half of a clip, naf gains more on motion-blurred
    exposures of the first half (frames it never saw) than the released naf does; the folder is a complete
    engine (weights, card naming its reference, README) that `process --weights` runs; a re-run resumes."""
    from streamdeblur.data.pairs import run_make_pairs
    from streamdeblur.models import get_spec, read_card

    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    later, first, root = halves
    out = tmp_path / "engine"
    card = adapted_card(later, out, "--model", "naf", "--steps", "120")
    assert card["model"] == "naf" and card["adapted"]["references"] == [str(later)]
    assert card["adapted"]["pairs"] >= 16 and card["training"]["steps"] == 120
    assert card["adapted"]["min_sharpness"] > 20.0  # its own faces' sharpness, above make-pairs' floor
    # no gate (its person's blurred faces on still tracks gain too), the released naf's settle range for sharp ones
    assert card["gate"] is None and card["settle"] == read_card("naf")["settle"] is not None
    assert "tlc" not in card  # naf runs its 128-px crops with global pooling (engines/naf-hd/NOTES.md)
    assert "## Adapted" in (out / "README.md").read_text()
    assert not list(tmp_path.glob(".engine.partial"))
    # its ONNX export is in the cache already: process (a live input's hand-over) runs it without stopping to export
    from streamdeblur.backends import onnx_model_path

    exported = set((tmp_path / "cache" / "onnx").iterdir())
    assert onnx_model_path("naf", out / "model.safetensors") in exported

    test_pairs = root / "first-pairs"
    if not test_pairs.exists():
        run_make_pairs([first], test_pairs, method="motion", speed="4,10", shutter="0.5,1", crf_share=0.0, noise=0.0,
                       size=128, stride=2, seed=5, progress=False)
    base, adapted = _gain_db(get_spec("naf").weights_path, test_pairs), _gain_db(out / "model.safetensors", test_pairs)
    assert adapted > base + 0.1, (base, adapted)

    # the same references again: the pairs and the run are found in the cache, nothing is trained twice, and the
    # sharpness threshold is the one the first run measured
    from streamdeblur.train import adapt as adapt_module

    monkeypatch.setattr(adapt_module, "sharp_threshold", lambda *a: pytest.fail("measured the threshold again"))
    again = CliRunner().invoke(app, ["adapt", str(later), "-o", str(tmp_path / "again"), "--model", "naf",
                                     "--steps", "120", *ONE_THREAD, *EAGER, "-q"])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again" / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    # fewer steps than the cached run has done: a run of its own that stops there (the longer run is not handed out
    # under the smaller number, and stays to be continued); --snapshot writes the engine as it was at step 20 beside
    fewer = CliRunner().invoke(app, ["adapt", str(later), "-o", str(tmp_path / "fewer"), "--model", "naf",
                                     "--steps", "40", "--snapshot", "20", *ONE_THREAD, *EAGER, "-q"])
    assert fewer.exit_code == 0, fewer.output
    card40 = json.loads((tmp_path / "fewer" / "card.json").read_text())
    assert card40["training"]["steps"] == card40["adapted"]["steps"] == 40
    assert (tmp_path / "fewer" / "model.safetensors").read_bytes() != (out / "model.safetensors").read_bytes()
    card20 = json.loads((tmp_path / "fewer-20" / "card.json").read_text())
    assert card20["adapted"]["steps"] == 20 and card20["adapted"]["identity"] == card40["adapted"]["identity"]
    weights20 = (tmp_path / "fewer-20" / "model.safetensors").read_bytes()
    assert weights20 != (tmp_path / "fewer" / "model.safetensors").read_bytes()
    # the snapshot is what a run stopped at step 20 would have written
    twenty = CliRunner().invoke(app, ["adapt", str(later), "-o", str(tmp_path / "twenty"), "--model", "naf",
                                      "--steps", "20", *ONE_THREAD, *EAGER, "-q"])
    assert twenty.exit_code == 0, twenty.output
    assert (tmp_path / "twenty" / "model.safetensors").read_bytes() == weights20

    # process --adapt: one command adapts to the input's own sharp faces (here the same cached run) and restores it
    summary_path = tmp_path / "self.json"
    ran = CliRunner().invoke(app, ["process", str(later), "-o", str(tmp_path / "self.mp4"), "--adapt", "--model", "naf",
                                   "--adapt-steps", "120", "--duration", "0.5", "--summary-json", str(summary_path),
                                   "-q"])
    assert ran.exit_code == 0, ran.output
    engine = next((tmp_path / "cache" / "adapt").glob("*/engine-*"))
    assert (engine / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    summary = json.loads(summary_path.read_text())
    assert summary["frames"] > 0 and all(t["person"] for t in summary["per_track"].values())

    video = tmp_path / "out.mp4"
    ran = CliRunner().invoke(app, ["process", str(first), "-o", str(video), "--weights", str(out), "--duration", "0.5",
                                   "-q"])  # the folder, as adapt's last line says
    assert ran.exit_code == 0, ran.output
    assert video.stat().st_size > 0

    # whose engine it is: the card holds the reference's face embedding, so `process` gives the adapted engine
    # this woman's track and restores other people (two men, with cuts) exactly as the released naf does
    from streamdeblur.pipeline import ProcessOptions, process
    from tests.conftest import shared_path
    from tests.helpers import decode_frames

    identity = card["adapted"]["identity"]
    assert identity["embedder"] == "dlib-resnet" and len(identity["vectors"]) == 1
    own = process(str(first), str(tmp_path / "own.mp4"), ProcessOptions(weights=out, duration=1.0, lossless=True))
    assert own["per_track"] and all(t["person"] for t in own["per_track"].values())
    # each route's gate is reported: none for the adapted engine, the released card's for the others' tracks
    assert own["gate"] is None and own["gates"] == [None, read_card("naf")["gate"]]
    others = shared_path("data/tests/short_hamilton_clip.mp4")
    outputs = []
    for name, weights in (("adapted", out), ("released", None)):
        summary = process(str(others), str(tmp_path / f"{name}.mp4"),
                          ProcessOptions(weights=weights, duration=2.0, lossless=True))
        assert summary["faces"] > 0
        outputs.append(decode_frames(tmp_path / f"{name}.mp4"))
        if weights is not None:
            assert summary["per_track"] and not any(t["person"] for t in summary["per_track"].values())
    assert len(outputs[0]) == len(outputs[1]) and all(np.array_equal(a, b) for a, b in zip(*outputs))


def test_adapting_the_temporal_naf_t3m_trains_it_on_groups_and_restores_earlier_frames_better(halves, tmp_path,
                                                                                           monkeypatch, trains_here):
    """adapt fine-tunes a temporal engine too: naf-t3m on 3-frame motion groups of the later half (their neighbours
    re-cut as for its release), better than the released naf-t3m on groups of the first half, given the crops as
    `process` gives them; the folder names naf-t3m, so `process --weights` runs it with its one-frame lag."""
    from streamdeblur.backends import create_engine
    from streamdeblur.data.pairs import run_make_pairs
    from streamdeblur.eval.metrics import psnr
    from streamdeblur.eval.run import load_pairs

    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    later, first, root = halves
    out = tmp_path / "engine"
    card = adapted_card(later, out, "--model", "naf-t3m", "--steps", "150")
    assert card["model"] == "naf-t3m" and card["adapted"]["pairs"] >= 16

    groups = root / "first-groups"
    if not groups.exists():
        run_make_pairs([first], groups, method="motion", speed="4,10", shutter="0.5,1", crf_share=0.0, noise=0.0,
                       size=128, stride=2, seed=5, frames=3, progress=False)
    samples = [s for s in load_pairs(groups) if s.stack(3, True) is not None]
    stacks = np.stack([s.stack(3, True) for s in samples])
    assert len(stacks) >= 10

    def gain(engine) -> float:
        return float(np.mean([psnr(o, s.sharp) - psnr(s.blurred, s.sharp) for o, s in zip(engine(stacks), samples)]))

    base = gain(create_engine("naf-t3m", backend="torch", device="cpu", settle=None))
    adapted = gain(create_engine("naf-t3m", backend="torch", device="cpu", settle=None,
                                 weights=out / "model.safetensors"))
    assert adapted > base + 0.1, (base, adapted)

    video = tmp_path / "out.mp4"
    ran = CliRunner().invoke(app, ["process", str(first), "-o", str(video), "--weights", str(out), "--duration", "0.5",
                                   "-q"])
    assert ran.exit_code == 0, ran.output
    assert video.stat().st_size > 0


def test_adapting_naf_t3m_hd_starts_from_naf_t3m_weights_at_256_px(halves, tmp_path, monkeypatch, trains_here):
    """naf-t3m-hd (naf-t3m's network and weights at 256 px) adapts on 256-px 3-frame groups of the reference: its
    folder names naf-t3m-hd, carries naf-hd's settle range and no gate, and `process --weights` runs it (torch here:
    the ONNX path of a temporal engine is naf-t3m's test's). What it gains is measured through `eval --video`
    (engines/naf-t3m-hd/NOTES.md), not here."""
    from safetensors import safe_open

    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    later, first, _ = halves
    out = tmp_path / "engine"
    card = adapted_card(later, out, "--model", "naf-t3m-hd", "--steps", "5", "--max-frames", "40")
    assert card["model"] == "naf-t3m-hd" and card["input_size"] == 256 and card["adapted"]["pairs"] >= 16
    # and global pooling: with the test-time local converter it took detail off sharp faces (its NOTES, session 54)
    assert card["gate"] is None and card["settle"] == [0.3, 0.9] and "tlc" not in card
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert f.get_tensor("net.intro.weight").shape[1] == 9  # three frames in

    # naf-t3m-hd released with weights of its own: the same reference is adapted again from them (a run of its
    # own beside the first), its pairs and sharpness threshold found in the cache, not remade
    import shutil

    from safetensors.torch import load_file, save_file

    from streamdeblur.models import engine_folder, get_spec
    from streamdeblur.train import adapt as adapt_module

    engines = tmp_path / "engines"
    (engines / "naf-t3m-hd").mkdir(parents=True)
    (engines / "naf-t3m").symlink_to(engine_folder("naf-t3m"))
    shutil.copy(engine_folder("naf-t3m-hd") / "card.json", engines / "naf-t3m-hd")
    own = {k: v * 1.01 if v.is_floating_point() else v for k, v in load_file(get_spec("naf-t3m").weights_path).items()}
    save_file(own, str(engines / "naf-t3m-hd" / "model.safetensors"))
    monkeypatch.setenv("STREAMDEBLUR_ENGINES", str(engines))
    monkeypatch.setattr(adapt_module, "sharp_threshold", lambda *a: pytest.fail("measured the threshold again"))
    monkeypatch.setattr(adapt_module, "person_of", lambda *a: None)  # who it is was checked above
    again = CliRunner().invoke(app, ["adapt", str(later), "-o", str(tmp_path / "again"), "--model", "naf-t3m-hd",
                                     "--steps", "5", "--max-frames", "40", *ONE_THREAD, *EAGER, "-q"])
    assert again.exit_code == 0, again.output
    assert len(list((tmp_path / "cache" / "adapt").glob("*/run-*"))) == 2
    assert len(list((tmp_path / "cache" / "adapt").glob("*/pairs"))) == 1
    assert (tmp_path / "again" / "model.safetensors").read_bytes() != (out / "model.safetensors").read_bytes()
    monkeypatch.delenv("STREAMDEBLUR_ENGINES")
    video = tmp_path / "out.mp4"
    ran = CliRunner().invoke(app, ["process", str(first), "-o", str(video), "--weights", str(out), "--duration", "0.2",
                                   "--backend", "torch", "-q"])
    assert ran.exit_code == 0, ran.output
    assert video.stat().st_size > 0


@pytest.mark.parametrize("args, message", [
    (["--model", "hg-cgan-half"], "adapt fine-tunes restoration engines"),
    (["--model", "nope"], "nope"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--duration", "0"], "--duration must be positive"),
    (["--steps", "10", "--snapshot", "10"], "--snapshot must be between 1 and --steps - 1 (9)"),
])
def test_adapt_refuses_what_it_cannot_do_in_one_line(tmp_path, args, message):
    """Checked before anything is read (the reference need not exist yet)."""
    result = CliRunner().invoke(app, ["adapt", str(tmp_path / "ref.mp4"), "-o", str(tmp_path / "e"), *args, "-q"])
    assert result.exit_code != 0 and message in str(result.exception)
    assert getattr(result.exception, "exit_code", None) == 2


def test_adapt_never_writes_over_a_folder_and_needs_its_references(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "model.safetensors").write_bytes(b"x")
    for refs, out, message in (([str(tmp_path / "missing.mp4")], tmp_path / "e", "reference clip not found"),
                               ([str(tmp_path / "missing.mp4")], tmp_path / "taken", "exists")):
        result = CliRunner().invoke(app, ["adapt", *refs, "-o", str(out), "-q"])
        assert result.exit_code != 0 and message in str(result.exception)
    assert (tmp_path / "taken" / "model.safetensors").read_bytes() == b"x"


def test_adapt_takes_a_folder_as_the_videos_under_it(halves, tmp_path, monkeypatch, trains_here):
    """`adapt FOLDER` (as make-pairs and eval take one): the videos under it are the references; it said "reference
    clip not found" of a folder that was there. A folder without videos says so."""
    import shutil

    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "refs" / "anna"
    folder.mkdir(parents=True)
    shutil.copy(halves[0], folder / "later.mp4")
    card = adapted_card(tmp_path / "refs", tmp_path / "engine", "--model", "naf", "--steps", "1", "--max-frames", "20")
    assert card["adapted"]["references"] == [str(folder / "later.mp4")]
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["adapt", str(tmp_path / "empty"), "-o", str(tmp_path / "e2"), "-q"])
    assert getattr(result.exception, "exit_code", None) == 2 and "no video files" in str(result.exception)


def test_adapt_records_a_live_reference_first_and_adapts_to_the_recording(halves, tmp_path, monkeypatch):
    """A camera, a stream or stdin is read once, and adapt reads its reference three times: it records --duration
    seconds of it (losslessly, into the cache, where `adapt RECORDING` finds it again), then adapts to that. Stdin
    stands in for the camera (the same recorder; these machines have none): the face clip piped as MPEG-TS."""
    from streamdeblur.io.clips import remux
    from streamdeblur.io.source import open_source
    from tests.helpers import run_cli

    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    piped = remux(halves[0], tmp_path / "later.ts", format="mpegts")
    out = tmp_path / "engine"
    proc = run_cli("adapt", "-", "-o", str(out), "--model", "naf", "--steps", "1", "--duration", "2", *ONE_THREAD,
                   *EAGER, input=piped.read_bytes())
    assert proc.returncode == 0, proc.stderr.decode()
    recordings = list((tmp_path / "cache" / "adapt" / "recordings").glob("stdin-*.mp4"))
    assert len(recordings) == 1 and f"adapt {recordings[0]}" in proc.stderr.decode()
    card = json.loads((out / "card.json").read_text())
    assert card["adapted"]["references"] == [str(recordings[0])] and card["adapted"]["steps"] == 1
    source = open_source(str(recordings[0]))
    assert source.frame_count == round(2 * float(source.fps))  # the first two seconds of the 3.2 s piped
    source.close()
    twice = CliRunner().invoke(app, ["adapt", "-", "-", "-o", str(tmp_path / "e2"), "-q"])
    assert twice.exit_code != 0 and "stdin ('-') can be read once" in str(twice.exception)


def test_adapt_compiles_its_step_where_it_can_and_not_when_told(halves, tmp_path, monkeypatch, trains_here):
    """adapt's default trains torch.compile'd (twice the steps per second: BENCHMARKS.md) where a C++ compiler is
    installed, uncompiled with --no-compile or without a compiler (a line in the log says why), and a run started one
    way continues the other (the cache's key and run do not depend on it). The training itself is stood in for
    here: what reaches it is the config."""
    from streamdeblur.train import config as config_module
    from streamdeblur.train import trainer

    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    later = halves[0]
    seen = []

    def stand_in(cfg, resume=False, **snapshots):
        seen.append((cfg.compile, cfg.run_dir))
        raise KeyboardInterrupt  # stop there, as Ctrl-C would

    monkeypatch.setattr(trainer, "train", stand_in)
    for flags in ([], ["--no-compile"], ["--compile"]):
        result = CliRunner().invoke(app, ["adapt", str(later), "-o", str(tmp_path / "e"), "--model", "naf",
                                          "--max-frames", "40", *flags, "-q"])
        assert result.exit_code == 130, result.output
    compiler = config_module.can_compile("cpu")
    assert [c for c, _ in seen] == [compiler, False, compiler] and len({r for _, r in seen}) == 1
    monkeypatch.setattr(config_module.shutil, "which", lambda name: None)  # a machine without g++
    assert not config_module.can_compile("cpu") and config_module.can_compile("cuda")
    result = CliRunner().invoke(app, ["adapt", str(later), "-o", str(tmp_path / "e"), "--model", "naf",
                                      "--max-frames", "40"])
    assert result.exit_code == 130 and seen[-1][0] is False and "no C++ compiler found" in result.output


def test_training_commands_get_busy_waiting_openmp_threads_and_the_pipeline_passive_ones():
    from streamdeblur import _omp_wait_policy

    for argv in (["sd", "train"], ["sd", "adapt", "clip.mp4"], ["sd", "bench", "--train"]):
        assert _omp_wait_policy(argv) == "ACTIVE", argv
    for argv in (["sd", "process", "in.mp4"], ["sd", "bench"], ["sd"], ["sd", "eval"]):
        assert _omp_wait_policy(argv) == "PASSIVE", argv


def test_process_runs_an_engine_folder_as_the_model_its_card_names(tmp_path):
    """--weights FOLDER: its model.safetensors, as the card's model (naf-hd weights at naf's 128 px would be wrong)."""
    from streamdeblur.errors import UserError
    from streamdeblur.models import engine_in_folder

    folder = tmp_path / "anna"
    folder.mkdir()
    with pytest.raises(UserError, match="without model.safetensors"):
        engine_in_folder("naf", folder)
    (folder / "model.safetensors").write_bytes(b"")
    assert engine_in_folder("naf", folder) == ("naf", folder / "model.safetensors")  # no card: as asked
    (folder / "card.json").write_text(json.dumps({"model": "naf-hd"}))
    assert engine_in_folder("naf", folder) == ("naf-hd", folder / "model.safetensors")
    assert engine_in_folder("naf", folder / "model.safetensors") == ("naf", folder / "model.safetensors")
    assert engine_in_folder("naf", None) == ("naf", None)
    (folder / "card.json").write_text('{"model": "naf-hd"')  # torn
    with pytest.raises(UserError, match="not a readable JSON card"):
        engine_in_folder("naf", folder)


def test_an_adapted_naf_hd_runs_with_the_test_time_local_converter(halves, tmp_path, monkeypatch):
    """naf-hd adapts on 96-px patches and runs on 256-px crops: its folder's card carries "tlc": 144 (as the released
    naf-hd's), and loading the folder pools its channel attention over those windows. Its gain with and without is
    measured through `eval --video` on ten held-out clips (engines/naf-hd/NOTES.md, session 54), not here. It adapts
    in the child process that `process --adapt` trains in (train/apart.py), as this process's OpenMP threads wait
    passively: the run, its resumption and the export come back through it."""
    from streamdeblur.models import load_model
    from streamdeblur.nets import NAFNet

    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    later, _, _ = halves
    out = tmp_path / "engine"
    card = adapted_card(later, out, "--steps", "2", "--max-frames", "40")
    assert card["model"] == "naf-hd" and card["tlc"] == 144 and card["settle"] == [0.3, 0.9]
    nets = [m for m in load_model("naf-hd", weights=out / "model.safetensors").modules() if isinstance(m, NAFNet)]
    assert [(n.tlc, n.hash_tag) for n in nets] == [(144, "tlc=144")]
    assert "144 px" in (out / "README.md").read_text()

    # process --adapt's cache: an engine cached with other card settings (here before adapt wrote the window: the
    # same folder, its card without "tlc", under both names it had then) is not handed out; the engine found is
    # exported again from the cached run (the same weights, no training) with the window, and is the one found the
    # time after; another settle range alone gives yet another export
    from streamdeblur.train import adapt as adapt_module
    from streamdeblur.train.adapt import AdaptOptions, adapted_to, base_key, work_dir

    options = AdaptOptions(steps=2, max_frames=40, threads=1, quiet=True)
    stale = [work_dir([later], options) / f"engine-{base_key('naf-hd')}-2{tag}" for tag in ("", "-tlc144")]
    for folder in stale:
        shutil.copytree(out, folder)
        (folder / "card.json").write_text(json.dumps({k: v for k, v in card.items() if k != "tlc"}))
    engine = adapted_to(later, options)
    assert engine not in stale and json.loads((engine / "card.json").read_text())["tlc"] == 144
    assert (engine / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    assert adapted_to(later, options) == engine
    monkeypatch.setitem(adapt_module.SETTLE, "naf-hd", (0.2, 0.8))
    resettled = adapted_to(later, options)
    assert resettled not in [engine, *stale] and json.loads((resettled / "card.json").read_text())["settle"] == [0.2, 0.8]
    assert (resettled / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
