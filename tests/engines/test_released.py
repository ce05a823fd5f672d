"""Regression guard for the released engines: they load, run, and deblur real pairs."""

from __future__ import annotations

import numpy as np
import pytest

from streamdeblur.backends import create_engine
from streamdeblur.data.shards import find_shards, iter_pairs
from streamdeblur.eval.metrics import psnr
from streamdeblur.models import get_spec, has_weights
from tests.helpers import run_cli

# Engines that must deblur: the CPU/live engines. (The papers' models, trained only as far as a CPU allows, have
# their own guards below: hg-cgan-half runs and is no worse than when it was released; hg-cgan-res and
# multiscale-fast beat the blurred input.)
# Minimum PSNR gain (dB) on (real-clip shake pairs, generated-clip shake pairs); measured at release:
# fast-unet v1 +0.76 / +1.72, fast v0 +0.25 / +1.20, naf v2 +1.78 / +2.12, naf-hd v1 (pairs made at its 256 px)
# +2.59 / +3.10, naf-shake v0 +2.71 / +3.65, v1 +2.76 / +3.35 (tools: the gain() below).
MIN_GAIN = {"fast-unet": (0.4, 1.0), "fast": (0.1, 0.6), "naf": (1.0, 1.2), "naf-hd": (1.2, 1.5),
            "naf-shake": (2.0, 2.8)}
RELEASED = [name for name in MIN_GAIN if has_weights(name)]
# Flow-interpolated motion pairs (speed 4-12) of a real test clip: engines trained on them must deblur them.
# Measured at release: naf v2 +0.44 (24 pairs), naf-hd v1 +0.38 (24 pairs at 256 px), naf-shake v0 +0.58,
# v1 +0.51.
MIN_MOTION_GAIN = {"naf": 0.2, "naf-hd": 0.2, "naf-shake": 0.3}
RELEASED_MOTION = [name for name in MIN_MOTION_GAIN if has_weights(name)]


def make_pairs(clips, out, method: str, size: int, *extra: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The pairs of these clips (a pair depends on the seed, its clip's name and its frame, not on the others)."""
    proc = run_cli("make-pairs", *map(str, clips), "-o", str(out), "--method", method, "--size", str(size),
                   "--stride", "5", "--min-face", "32", "--seed", "3", "--workers", "2", "-q", *extra)
    assert proc.returncode == 0, proc.stderr.decode()
    return [(b, s) for shard in find_shards(out) for _, b, s, _ in iter_pairs(shard)]


@pytest.fixture(scope="module")
def pairs_of(tmp_path_factory):
    """Callable (clips, method, size, *extra) -> the pooled pairs of those clips, each set made once in this module:
    the engines of one crop size are judged on the same pairs, and make-pairs is most of these tests' time."""
    made: dict[tuple, list[tuple[np.ndarray, np.ndarray]]] = {}

    def pairs(clips, method: str, size: int, *extra: str) -> list[tuple[np.ndarray, np.ndarray]]:
        key = (tuple(map(str, clips)), method, size, extra)
        if key not in made:
            made[key] = make_pairs(clips, tmp_path_factory.mktemp(method), method, size, *extra)
        return made[key]

    return pairs


def real_clips() -> list:
    from tests.conftest import shared_path

    return [shared_path(f"data/tests/{clip}") for clip in REAL_CLIPS]


def gain(engine, pairs) -> float:
    """Mean PSNR of the engine's output minus mean PSNR of the blurred input (dB)."""
    blurry = np.stack([b for b, _ in pairs])
    out = engine(blurry)
    before = np.mean([psnr(b, s) for b, s in pairs])
    after = np.mean([psnr(o, s) for o, (_, s) in zip(out, pairs)])
    return float(after - before)


REAL_CLIPS = ("single_face_640x360.mp4", "pexels_woman_640x360.mp4", "short_hamilton_clip.mp4")


@pytest.mark.skipif(not RELEASED, reason="no released engine weights in engines/ yet")
@pytest.mark.parametrize("name", RELEASED)
def test_released_engine_improves_real_shake_pairs(name, pairs_of):
    """Camera-shake pairs from the three real test clips (never used in training), pooled: the
    shipped engine must raise PSNR over the blurred input."""
    engine = create_engine(name, device="cpu")
    pairs = pairs_of(real_clips(), "kernel", engine.input_size, "--max-frames", "150")
    assert len(pairs) >= 40
    assert gain(engine, pairs) > MIN_GAIN[name][0]


@pytest.mark.skipif(not RELEASED, reason="no released engine weights in engines/ yet")
@pytest.mark.parametrize("name", RELEASED)
@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_released_engine_improves_generated_pairs(name, backend, sharp_face_clip, pairs_of):
    """The same guard without ../shared: shake pairs from the generated portrait clip, on both CPU backends."""
    engine = create_engine(name, backend=backend, device="cpu")
    pairs = pairs_of([sharp_face_clip], "kernel", engine.input_size)
    assert len(pairs) >= 5
    assert gain(engine, pairs) > MIN_GAIN[name][1]


@pytest.mark.skipif(not RELEASED_MOTION, reason="no released engine trained on motion pairs in engines/ yet")
@pytest.mark.parametrize("name", RELEASED_MOTION)
def test_released_engine_improves_real_motion_pairs(name, shared, pairs_of):
    """Motion pairs (flow-interpolated exposures, x264) of a clip never used in training, speed 4-12."""
    engine = create_engine(name, device="cpu")
    pairs = pairs_of([shared("data/tests/short_hamilton_clip.mp4")], "motion", engine.input_size,
                     "--speed", "4,12", "--max-frames", "150")
    assert len(pairs) >= 15
    assert gain(engine, pairs) > MIN_MOTION_GAIN[name]


# naf-shake: naf fine-tuned with half its draws shake kernels, the engine for footage shaken blurry as a whole. Its
# reason to exist: it deblurs camera shake better than naf. Measured at release on the real-clip shake pairs (72):
# v0 +2.71 dB, v1 +2.76, against naf v5's +2.04, both CPU backends alike (engines/naf-shake/NOTES.md).
@pytest.mark.skipif(not (has_weights("naf-shake") and has_weights("naf")), reason="no released naf-shake or naf")
def test_naf_shake_deblurs_real_camera_shake_better_than_naf(pairs_of):
    pairs = pairs_of(real_clips(), "kernel", 128, "--max-frames", "150")
    assert len(pairs) >= 40
    shake, naf = (gain(create_engine(name, backend="onnxruntime", device="cpu"), pairs) for name in ("naf-shake", "naf"))
    assert shake > naf + 0.4


# hg-cgan-half: the paper's two-step model at half width, trained 2000 + 1013 CPU steps. It does not
# deblur yet (measured at release: -1.43 dB on the real-clip pairs, -1.11 dB on the generated ones);
# the guard keeps it loading, running alike on both CPU backends, and no worse than released.
HALF = "hg-cgan-half"


@pytest.mark.skipif(not has_weights(HALF), reason="no released hg-cgan-half weights")
def test_hg_cgan_half_runs_on_both_backends_and_is_no_worse_than_released(sharp_face_clip, pairs_of):
    engines = {b: create_engine(HALF, backend=b, device="cpu") for b in ("onnxruntime", "torch")}
    assert engines["torch"].input_size == 256
    pairs = pairs_of([sharp_face_clip], "kernel", 256)
    assert len(pairs) >= 5
    blurry = np.stack([b for b, _ in pairs])
    a, b = engines["onnxruntime"](blurry), engines["torch"](blurry)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 1.0
    assert gain(engines["torch"], pairs) > -1.11 - 0.5


@pytest.mark.skipif(not has_weights(HALF), reason="no released hg-cgan-half weights")
def test_hg_cgan_half_on_real_shake_pairs_is_no_worse_than_released(pairs_of):
    engine = create_engine(HALF, backend="onnxruntime", device="cpu")
    pairs = pairs_of(real_clips(), "kernel", 256, "--max-frames", "150")
    assert len(pairs) >= 40
    assert gain(engine, pairs) > -1.43 - 0.5


# hg-cgan-res: Chrysos et al.'s two-step model at half width with a residual G_bl, 11k CPU steps on motion pairs. It
# beats the blurred input (measured at release, both CPU backends alike: +0.67 dB on the real-clip shake pairs, +0.17
# on the real-clip motion pairs; engines/hg-cgan-res/NOTES.md).
RES = "hg-cgan-res"


@pytest.mark.skipif(not has_weights(RES), reason="no released hg-cgan-res weights")
def test_hg_cgan_res_beats_the_blurred_input_on_real_pairs_alike_on_both_backends(shared, pairs_of):
    engines = {b: create_engine(RES, backend=b, device="cpu") for b in ("onnxruntime", "torch")}
    assert engines["torch"].input_size == 256
    shake = pairs_of(real_clips(), "kernel", 256, "--max-frames", "150")
    motion = pairs_of([shared("data/tests/short_hamilton_clip.mp4")], "motion", 256, "--speed", "4,12",
                      "--max-frames", "150")
    assert len(shake) >= 40 and len(motion) >= 15
    blurry = np.stack([b for b, _ in motion])
    a, b = engines["onnxruntime"](blurry), engines["torch"](blurry)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 1.0
    assert gain(engines["onnxruntime"], shake) > 0.35
    assert gain(engines["onnxruntime"], motion) > 0.05


# multiscale-fast: Shen et al.'s network at a quarter of its width, trained 4k + 2.4k CPU steps. It beats the
# blurred input, barely (measured at release: +0.032 dB on the real-clip shake pairs, both CPU backends).
@pytest.mark.skipif(not has_weights("multiscale-fast"), reason="no released multiscale-fast weights")
def test_multiscale_fast_beats_the_blurred_input_on_real_shake_pairs(pairs_of):
    engine = create_engine("multiscale-fast", backend="onnxruntime", device="cpu")
    pairs = pairs_of(real_clips(), "kernel", 128, "--max-frames", "150")
    assert len(pairs) >= 40
    assert gain(engine, pairs) > 0.0


def test_released_engines_settle_as_their_card_says(tmp_path):
    """create_engine wraps a released engine in its card's settle range; settle=None (`--no-gate`) and other
    weights give the bare network; the process and eval factories follow --no-gate."""
    from streamdeblur.backends import SettledEngine
    from streamdeblur.eval.run import EvalOptions
    from streamdeblur.eval.run import build_engine as eval_engine
    from streamdeblur.pipeline import ProcessOptions, build_engine

    from streamdeblur import models

    if not models.has_weights("naf") or not models.read_card("naf").get("settle"):
        pytest.skip("the released naf has no settle range in its card")
    low, high = models.read_card("naf")["settle"]
    engine = create_engine("naf", device="cpu")
    assert isinstance(engine, SettledEngine) and (engine.low, engine.high) == (low, high) and engine.model == "naf"
    assert engine.gate == models.read_card("naf").get("gate")  # process's gate level (pipeline.gate_levels)
    assert not isinstance(create_engine("naf", device="cpu", settle=None), SettledEngine)
    weights = models.engine_folder("naf") / "model.safetensors"
    assert not isinstance(create_engine("naf", device="cpu", weights=weights), SettledEngine)
    assert isinstance(build_engine(ProcessOptions(model="naf")), SettledEngine)
    assert not isinstance(build_engine(ProcessOptions(model="naf", gate=0.0)), SettledEngine)
    assert isinstance(eval_engine("naf", None, EvalOptions(output=tmp_path)), SettledEngine)
    assert not isinstance(eval_engine("naf", None, EvalOptions(output=tmp_path, gate=False)), SettledEngine)
    assert not isinstance(create_engine("fast-unet", device="cpu", allow_random=True), SettledEngine)


# The settle range trades a little of the gain on strongly blurred faces for the faces that were sharp. naf: v4's
# 0.5-1.5 grey levels gave up 0.01 dB of its bare gain here (0.715 of 0.722), v5's 1-3 gives up 0.08 (0.672 of
# 0.749) and in exchange loses 0.05 dB on 150 held-out still faces where v4 lost 0.24 (engines/naf/NOTES.md).
# naf-hd v1 (0.6-1.5 grey levels, pairs at 256 px) gives up 0.02 (0.774 of 0.795) and leaves every sharp face as it was.
SETTLED = {"naf": 0.1, "naf-hd": 0.1}


@pytest.mark.parametrize("name", list(SETTLED))
def test_settle_spares_sharp_faces_and_keeps_the_gain(name, pairs_of):
    """Given the real sharp faces of two clips, a released engine with its card's settle range returns most of them
    bit for bit (the bare network changes them); on their motion-blurred versions it keeps the bare gain."""
    from streamdeblur.backends import SettledEngine

    if not has_weights(name):
        pytest.skip(f"no released {name} weights in engines/ yet")
    settled, bare = create_engine(name, device="cpu"), create_engine(name, device="cpu", settle=None)
    if not isinstance(settled, SettledEngine):
        pytest.skip(f"the released {name} has no settle range in its card")
    # motion pairs (speed 4-12) of two real clips never used in training, with their sharp faces
    pairs = pairs_of(real_clips()[:2], "motion", settled.input_size, "--speed", "4,12", "--max-frames", "150")
    assert len(pairs) >= 30
    sharp = np.stack([s for _, s in pairs])
    out_settled, out_bare = settled(sharp), bare(sharp)
    assert np.mean([np.array_equal(o, s) for o, s in zip(out_settled, sharp)]) >= 0.8
    assert np.mean([np.array_equal(o, s) for o, s in zip(out_bare, sharp)]) < 0.5
    assert gain(settled, pairs) > gain(bare, pairs) - SETTLED[name]


@pytest.fixture(scope="module")
def motion_groups(tmp_path_factory):
    """Callable frames -> the folder of K-frame motion groups (speed 4-12) of a clip never used in training, made
    once per K in this module (the 3-frame engines share theirs)."""
    from tests.conftest import shared_path

    made: dict[int, object] = {}

    def groups(frames: int):
        if frames not in made:
            out = tmp_path_factory.mktemp(f"groups{frames}")
            proc = run_cli("make-pairs", str(shared_path("data/tests/short_hamilton_clip.mp4")), "-o", str(out),
                           "--method", "motion", "--frames", str(frames), "--size", "128", "--speed", "4,12",
                           "--stride", "5", "--min-face", "32", "--seed", "3", "--max-frames", "150", "-q")
            assert proc.returncode == 0, proc.stderr.decode()
            made[frames] = out
        return made[frames]

    return groups


@pytest.mark.parametrize("model", ["naf-t3", "naf-t3f", "naf-t3m", "naf-t5f"])
def test_released_temporal_engine_improves_real_motion_groups(model, motion_groups):
    """A temporal engine given the K consecutive exposures of motion groups from a clip never used in training
    (speed 4-12) raises PSNR of the centre one; naf-t3m's neighbours re-cut in the centre's alignment, as Restorer
    gives them. Measured at release on 15 groups: naf-t3 v2 +0.45 dB, naf-t3f v0 (its neighbours warped by flow)
    +0.56 dB, naf-t3m v0 +0.47 dB (its neighbours re-cut, those more than 16 px away left as cut: these faces move
    further than its training groups did; +0.37 re-cutting all); naf-t5f v0 +0.66 dB on the 13 5-frame groups."""
    if not has_weights(model):
        pytest.skip(f"no released {model} weights in engines/ yet")
    from streamdeblur.eval.run import PairSample

    frames, recut = get_spec(model).frames, get_spec(model).align == "centre"
    samples = [PairSample(key, "motion", "clip", b, s, meta, strip) for shard in find_shards(motion_groups(frames))
               for key, b, s, meta, strip in iter_pairs(shard, frames=True)]
    samples = [s for s in samples if s.stack(frames, recut) is not None]
    assert len(samples) >= 10
    engine = create_engine(model, device="cpu")
    out = engine(np.stack([s.stack(frames, recut) for s in samples]))
    before = np.mean([psnr(s.blurred, s.sharp) for s in samples])
    after = np.mean([psnr(o, s.sharp) for o, s in zip(out, samples)])
    assert after - before > 0.3


def test_engine_readmes_are_their_cards_then_their_notes():
    """engines/<name>/README.md is what `release` writes: the card for people, then the hand-written NOTES.md. An
    edit of NOTES.md (or of the card) without regenerating the README leaves it stale; this catches it. Engines
    without NOTES.md (fast v0, from before the convention) keep a hand-written README."""
    import json

    from streamdeblur.paths import engines_dir
    from streamdeblur.train.release import engine_readme

    checked = 0
    released = (p for p in engines_dir().iterdir() if (p / "card.json").is_file() and (p / "NOTES.md").is_file())
    for folder in sorted(released):
        want = engine_readme(json.loads((folder / "card.json").read_text()), folder)
        assert (folder / "README.md").read_text() == want, f"{folder.name}: regenerate README.md from card + NOTES"
        checked += 1
    assert checked >= 1


def test_an_engine_running_another_models_weights_shows_that_models_training():
    """A released model without weights of its own runs another's (ModelSpec.weights_owner: naf-t3m-hd runs
    naf-t3m's); its folder copies that model's training record and validation curve, and re-releasing the owner
    without copying them again would leave its card describing weights it no longer runs."""
    import json

    from streamdeblur.models import engine_folder, list_models

    borrowers = [name for name in list_models() if get_spec(name).weights_owner != name
                 and (engine_folder(name) / "card.json").is_file()]
    if not borrowers:
        pytest.skip("no released engine runs another model's weights")
    for name in borrowers:
        folder, owner = engine_folder(name), engine_folder(get_spec(name).weights_owner)
        card = json.loads((folder / "card.json").read_text())
        assert card["training"] == json.loads((owner / "card.json").read_text())["training"], \
            f"{name}: copy {owner.name}'s card training record (it runs {owner.name}'s weights)"
        assert (folder / "val_curve.png").read_bytes() == (owner / "val_curve.png").read_bytes(), \
            f"{name}: copy {owner.name}'s val_curve.png"
