"""Training loops on tiny networks: losses fall on a fixed batch, exact resume, logs, release, signals."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from streamdeblur.errors import UserError
from streamdeblur.train.config import TrainConfig
from streamdeblur.train.release import release
from streamdeblur.train.sampling import StepSampler
from streamdeblur.train.trainer import Trainer

from .conftest import PairSet, tiny_cgan_parts, tiny_hg


def single_cfg(tmp_path, **kw) -> TrainConfig:
    base = dict(name="t", stage="single", steps=6, batch_size=4, crop_size=32, run_dir=str(tmp_path / "run"),
                lr=2e-3, betas=(0.9, 0.999), w_l1=1.0, w_grad=1.0, log_every=1, val_every=1000,
                plot_every=1000, ckpt_every=1000, quiet=True)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("loss", ["l1", "psnr"])
def test_single_net_steps_reduce_loss_on_fixed_batch(tmp_path, pairs32, loss):
    torch.manual_seed(0)
    trainer = Trainer(single_cfg(tmp_path, changed_weight=2.0, loss=loss), parts={"hg": tiny_hg()})
    blurry, sharp = pairs32.blurry[:4], pairs32.sharp[:4]
    first = trainer.train_step(blurry, sharp)["loss"]
    for _ in range(8):
        last = trainer.train_step(blurry, sharp)["loss"]
    if loss == "psnr":  # minus the mean PSNR (dB): it falls by decibels, not by a factor
        assert first < 0 and last < first - 1.0
    else:
        assert last < 0.8 * first
    assert trainer.step == 9


@pytest.mark.parametrize("variant", ["full", "single-pathway", "no-hg"])
def test_cgan_steps_reduce_l1_on_fixed_batch(tmp_path, variant):
    torch.manual_seed(0)
    data = PairSet(2, 128)
    cfg = TrainConfig(name="g", model="hg-cgan", stage="cgan", variant=variant, steps=5, batch_size=2, crop_size=128,
                      run_dir=str(tmp_path / "run"), lr=1e-3, quiet=True)
    trainer = Trainer(cfg, parts=tiny_cgan_parts(variant))
    hg_before = {k: v.clone() for k, v in trainer.parts.get("hg", torch.nn.Identity()).state_dict().items()}
    first = trainer.train_step(data.blurry, data.sharp)
    for _ in range(4):
        last = trainer.train_step(data.blurry, data.sharp)
    assert last["loss_l1"] < first["loss_l1"]
    assert last["loss"] < first["loss"]
    assert ("loss_recon" in last) == (variant == "full")
    assert {"loss_d", "loss_adv", "loss_proj", "loss_grad"} <= set(last)
    for k, v in trainer.parts.get("hg", torch.nn.Identity()).state_dict().items():
        assert torch.equal(v, hg_before[k]), f"frozen HG changed: {k}"


@pytest.mark.parametrize("loss", ["l1", "psnr"])
def test_cgan_without_adversarial_terms_leaves_the_discriminator_alone_and_a_residual_g_learns(tmp_path, loss):
    """w_adv=0 and w_proj=0 (the hg-cgan-res recipe's pixel terms): D is neither run nor updated; a residual
    G_bl starts at the blurry input and its pixel loss (the paper's L1, or the PSNR loss) falls below the input's."""
    from streamdeblur.nets.cgan import Discriminator, Generator
    from streamdeblur.train import losses

    torch.manual_seed(0)
    data = PairSet(2, 128)
    parts = {"g": Generator(width=0.125, bl_channels=6, residual=True), "d": Discriminator(cond_channels=3, width=0.125),
             "hg": tiny_hg()}
    d_before = {k: v.clone() for k, v in parts["d"].state_dict().items()}
    cfg = TrainConfig(name="r", model="hg-cgan-res", stage="cgan", steps=8, batch_size=2, crop_size=128,
                      run_dir=str(tmp_path / "run"), lr=1e-3, quiet=True, w_adv=0.0, w_proj=0.0, w_recon=0.0,
                      loss=loss)
    trainer = Trainer(cfg, parts=parts)
    at_input = float(losses.psnr_loss(data.blurry, data.sharp) if loss == "psnr" else losses.l1(data.blurry, data.sharp))
    key = f"loss_{loss}"
    first = trainer.train_step(data.blurry, data.sharp)
    assert abs(first[key] - at_input) < 1e-3  # the identity at the first step
    for _ in range(7):
        last = trainer.train_step(data.blurry, data.sharp)
    assert set(last) == {key, "loss_grad", "loss", "lr"}
    assert last[key] < first[key]
    assert all(torch.equal(v, d_before[k]) for k, v in parts["d"].state_dict().items())


def test_multiscale_step_runs_with_adversarial_term(tmp_path):
    from streamdeblur.nets.cgan import Discriminator
    from streamdeblur.nets.multiscale import Multiscale

    torch.manual_seed(0)
    data = PairSet(2, 32)
    cfg = TrainConfig(name="m", model="multiscale", stage="multiscale", steps=3, batch_size=2, crop_size=32, w_adv=0.01,
                      run_dir=str(tmp_path / "run"), lr=1e-3, betas=(0.9, 0.999), quiet=True)
    trainer = Trainer(cfg, parts={"g": Multiscale(width=0.125, n_res=1), "d": Discriminator(width=0.125)})
    first = trainer.train_step(data.blurry, data.sharp)
    for _ in range(5):
        last = trainer.train_step(data.blurry, data.sharp)
    assert {"loss_ms", "loss_adv", "loss_d"} <= set(first)
    assert last["loss_ms"] < first["loss_ms"]


def test_resume_is_bit_for_bit(tmp_path, pairs32):
    def run(run_dir, steps, resume=False, **snapshots):
        torch.manual_seed(123)  # network init identical in every run
        cfg = single_cfg(tmp_path, run_dir=str(run_dir), steps=steps, seed=5, ema_decay=0.9)
        trainer = Trainer(cfg, parts={"hg": tiny_hg()}, train_data=pairs32)
        trainer.fit(resume=resume, **snapshots)
        return trainer

    straight = run(tmp_path / "a", 6)
    run(tmp_path / "b", 3)
    resumed = run(tmp_path / "b", 6, resume=True)
    # a snapshot at step 2 (adapt --snapshot) sees that step's checkpoint, and the run goes on exactly as without one,
    # though the snapshot reseeds the RNGs (as release does, building a Trainer): each step's batch is drawn by step
    from streamdeblur.train.distributed import seed_everything

    seen = []
    snapped = run(tmp_path / "c", 6, snapshot=lambda step, ckpt: seen.append(
        (step, torch.load(ckpt, weights_only=False)["step"])) or seed_everything(99), snapshot_steps=[2])
    assert seen == [(2, 2)]
    for other in (resumed, snapped):
        for (k, a), b in zip(straight.gen.state_dict().items(), other.gen.state_dict().values()):
            assert torch.equal(a, b), k
        for a, b in zip(straight.ema.module.state_dict().values(), other.ema.module.state_dict().values()):
            assert torch.equal(a, b)
    log_a = (tmp_path / "a" / "log.csv").read_text().splitlines()
    log_b = (tmp_path / "b" / "log.csv").read_text().splitlines()
    strip = lambda rows: [",".join(r.split(",")[:1] + r.split(",")[3:]) for r in rows]  # drop timings
    assert strip(log_a) == strip(log_b) and len(log_a) == 7


def test_fit_writes_checkpoint_logs_plot_and_validates(tmp_path, pairs32):
    cfg = single_cfg(tmp_path, steps=4, val_every=2, val_batches=1, plot_every=2, ckpt_every=2)
    result = Trainer(cfg, parts={"hg": tiny_hg()}, train_data=pairs32, val_data=pairs32).fit()
    run = tmp_path / "run"
    assert result.step == 4 and not result.interrupted
    for name in ("last.pt", "config.json", "log.csv", "val.csv", "loss.png"):
        assert (run / name).stat().st_size > 0, name
    assert TrainConfig.load(run / "config.json") == cfg
    state = torch.load(run / "last.pt", weights_only=False)
    assert state["step"] == 4 and {"models", "ema", "opt_g", "rng"} <= set(state)
    val_rows = (run / "val.csv").read_text().splitlines()
    assert val_rows[0].startswith("step,psnr,ssim,psnr_blurry,ssim_blurry") and len(val_rows) == 3
    assert 10 < result.last_val["psnr_blurry"] < 60 and 0 < result.last_val["ssim"] <= 1
    assert not list(run.glob("*.tmp"))
    with pytest.raises(UserError, match="--resume"):
        Trainer(cfg, parts={"hg": tiny_hg()}, train_data=pairs32).fit()


class _SignalAfter(torch.utils.data.Dataset):
    """Wraps a pair set; sends this process a signal when the n-th item is read."""

    def __init__(self, data, n: int, signum: int) -> None:
        self.data, self.n, self.signum, self.reads = data, n, signum, 0

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i):
        self.reads += 1
        if self.reads == self.n:
            os.kill(os.getpid(), self.signum)
        return self.data[i]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_checkpoint_then_stops(tmp_path, pairs32, signum):
    data = _SignalAfter(pairs32, n=4 * 2 + 1, signum=signum)  # during the third batch (batch size 4)
    # the handlers the trainer found (a shell's background job starts with SIGINT ignored, not the default)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    result = Trainer(single_cfg(tmp_path, steps=50), parts={"hg": tiny_hg()}, train_data=data).fit()
    assert result.interrupted and result.step == 3
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 3
    assert {s: signal.getsignal(s) for s in before} == before  # handlers restored


def test_release_writes_fp16_ema_weights_and_card(tmp_path, pairs32):
    from safetensors.torch import load_file

    torch.manual_seed(0)
    cfg = single_cfg(tmp_path, steps=2)
    trainer = Trainer(cfg, parts={"hg": tiny_hg()}, train_data=pairs32)
    trainer.fit()
    folder = release(tmp_path / "run", "tiny", out_dir=tmp_path / "engine", parts={"hg": tiny_hg()})
    weights = load_file(str(folder / "model.safetensors"))
    assert weights and all(v.dtype == torch.float16 for v in weights.values() if v.is_floating_point())
    ema = trainer.inference_module().state_dict()
    assert set(weights) == set(ema)
    for k, v in ema.items():
        if v.is_floating_point():
            assert torch.allclose(weights[k].float(), v, atol=1e-2, rtol=1e-2), k
    card = json.loads((folder / "card.json").read_text())
    assert card["training"]["steps"] == 2 and card["parameters"] > 0
    assert "steps: 2" in (folder / "README.md").read_text()
    with pytest.raises(UserError):
        release(tmp_path / "nowhere", "x")


def test_release_soups_runs_of_one_network_and_refuses_others(tmp_path, pairs32):
    """release(soup=[(run, w)]) writes the weighted mean of the runs' EMA weights and names them in the card."""
    from safetensors.torch import load_file

    runs = {}
    for name, seed, lr in (("a", 0, 2e-3), ("b", 1, 5e-3)):
        torch.manual_seed(seed)
        Trainer(single_cfg(tmp_path, steps=2, lr=lr, run_dir=str(tmp_path / name)), parts={"hg": tiny_hg()},
                train_data=pairs32).fit()
        runs[name] = load_file(str(release(tmp_path / name, name, out_dir=tmp_path / f"e{name}",
                                           parts={"hg": tiny_hg()}) / "model.safetensors"))
    assert any(not torch.equal(runs["a"][k], runs["b"][k]) for k in runs["a"])
    folder = release(tmp_path / "a", "ab", out_dir=tmp_path / "eab", parts={"hg": tiny_hg()}, soup=[(tmp_path / "b", 0.25)])
    soup = load_file(str(folder / "model.safetensors"))
    for k, v in soup.items():
        if v.is_floating_point():
            want = 0.75 * runs["a"][k].float() + 0.25 * runs["b"][k].float()
            assert torch.allclose(v.float(), want, atol=2e-3, rtol=2e-3), k
    card = json.loads((folder / "card.json").read_text())
    assert card["training"]["soup"][0]["weight"] == 0.25 and card["training"]["soup_base_weight"] == 0.75
    assert card["training"]["total_steps"] == 4
    assert "a soup (weight average)" in (folder / "README.md").read_text()
    for weight in (0.0, 1.0, 1.5):
        with pytest.raises(UserError, match="--soup weights"):
            release(tmp_path / "a", "x", out_dir=tmp_path / "x", parts={"hg": tiny_hg()}, soup=[(tmp_path / "b", weight)])
    torch.manual_seed(2)
    from streamdeblur.nets.hourglass import HG

    Trainer(single_cfg(tmp_path, steps=1, run_dir=str(tmp_path / "wide")), parts={"hg": HG(width=0.25, stacks=1, depth=2)},
            train_data=pairs32).fit()
    with pytest.raises(UserError, match="not the same network"):
        release(tmp_path / "a", "x", out_dir=tmp_path / "x", parts={"hg": tiny_hg()}, soup=[(tmp_path / "wide", 0.5)])


def test_step_sampler_is_a_function_of_step_and_shards_ranks():
    a = StepSampler(10, 2, seed=1, rank=0, world=2)
    b = StepSampler(10, 2, seed=1, rank=1, world=2)
    seen = [i for s in range(2) for i in a.batch_at(s) + b.batch_at(s)]
    assert len(seen) == len(set(seen)) == 8  # two steps of two ranks: no pair read twice
    assert StepSampler(10, 2, seed=1, rank=0, world=2, start_step=3).__iter__().__next__() == a.batch_at(3)
    with pytest.raises(UserError):
        StepSampler(3, 4, seed=0)


def test_motion_weighted_sampler_draws_moving_pairs_more_often_and_resumes_exactly():
    weights = [1.0] * 90 + [9.0] * 10  # ten moving pairs carry half the weight
    sampler = StepSampler(100, 10, seed=3, weights=weights)
    drawn = [i for step in range(200) for _, i in sampler.batch_at(step)]
    share = sum(i >= 90 for i in drawn) / len(drawn)
    assert 0.45 < share < 0.55  # uniform sampling would give 0.10
    assert StepSampler(100, 10, seed=3, weights=weights, start_step=57).__iter__().__next__() == sampler.batch_at(57)
    with pytest.raises(ValueError):
        StepSampler(100, 10, seed=3, weights=[0.0] * 100)


def test_motion_weights_come_from_the_pairs_metadata():
    from streamdeblur.train.sampling import motion_weights

    class Pairs:
        motions = [0.0, 0.2, 2.0, 8.0]

        def __len__(self):
            return len(self.motions)

        def meta(self, i):
            return {"motion": self.motions[i]}

    assert motion_weights(Pairs(), 1.0) == [0.5, 0.5, 2.0, 8.0]
    assert motion_weights(Pairs(), 2.0) == [0.25, 0.25, 4.0, 64.0]
    with pytest.raises(UserError):
        motion_weights([1, 2], 1.0)


def test_sharp_inputs_replace_about_their_share_of_inputs_by_the_target_and_resume_exactly():
    from streamdeblur.train.sampling import with_sharp_inputs

    def batches(n):  # 3-frame inputs (9 channels) and their sharp centre targets
        for i in range(n):
            yield torch.full((64, 9, 4, 4), -1.0), torch.full((64, 3, 4, 4), float(i))

    out = list(with_sharp_inputs(batches(20), 0.25, seed=7, start_step=0))
    replaced = [(b == s.repeat(1, 3, 1, 1)).flatten(1).all(1) for b, s in out]
    kept = [(b == -1).flatten(1).all(1) for b, _ in out]
    assert all(bool((r | k).all()) for r, k in zip(replaced, kept))  # every frame replaced, or none
    share = float(torch.cat(replaced).float().mean())
    assert 0.2 < share < 0.3
    resumed = next(with_sharp_inputs(batches(1), 0.25, seed=7, start_step=12))  # step 12 after a resume
    assert torch.equal(kept[12], (resumed[0] == -1).flatten(1).all(1))  # the same faces replaced
    assert not torch.equal(kept[12], kept[13])
    with pytest.raises(UserError):
        TrainConfig(sharp_frac=1.0).validate()


def test_sharp_inputs_of_a_moving_face_keep_their_blurred_neighbours():
    """sharp_moving: of the multi-frame inputs left sharp, that share get the sharp target in the centre frame only
    (their neighbours stay the blurred ones), the others in every frame; the same draws without it."""
    from streamdeblur.train.sampling import with_sharp_inputs

    def batches(n):
        for i in range(n):
            yield torch.full((256, 9, 4, 4), -1.0), torch.full((256, 3, 4, 4), float(i))

    plain = list(with_sharp_inputs(batches(4), 0.5, seed=3, start_step=0))
    mixed = list(with_sharp_inputs(batches(4), 0.5, seed=3, start_step=0, moving=0.5))
    for (b0, s), (b1, _) in zip(plain, mixed):
        picked = (b0 == s.repeat(1, 3, 1, 1)).flatten(1).all(1)
        centre = (b1[:, 3:6] == s).flatten(1).all(1)
        neighbours_blurred = (b1[:, :3] == -1).flatten(1).all(1) & (b1[:, 6:] == -1).flatten(1).all(1)
        still = (b1 == s.repeat(1, 3, 1, 1)).flatten(1).all(1)
        assert torch.equal(centre, picked)  # the same inputs left sharp
        moving = picked & neighbours_blurred
        assert torch.equal(moving | still, picked) and not bool((moving & still).any())
        assert 0.3 < float(moving.sum()) / float(picked.sum()) < 0.7
        assert bool((b1[~picked] == -1).all())
    single = next(with_sharp_inputs(((torch.full((64, 3, 4, 4), -1.0), torch.ones(64, 3, 4, 4)) for _ in range(1)),
                                    0.5, seed=3, start_step=0, moving=1.0))[0]
    assert bool(((single == 1).flatten(1).all(1) | (single == -1).flatten(1).all(1)).all())  # one frame: all of it
    with pytest.raises(UserError):
        TrainConfig(sharp_moving=1.5).validate()


def test_stage2_loads_frozen_hg_from_stage1_checkpoint_or_release(tmp_path, pairs32):
    torch.manual_seed(0)
    stage1 = Trainer(single_cfg(tmp_path, steps=2), parts={"hg": tiny_hg()}, train_data=pairs32)
    stage1.fit()
    engine = release(tmp_path / "run", "hg", out_dir=tmp_path / "engine", parts={"hg": tiny_hg()})
    want = stage1.ema.module.state_dict()
    for source in (tmp_path / "run" / "last.pt", engine / "model.safetensors"):
        cfg = TrainConfig(name="s2", model="hg-cgan", stage="cgan", crop_size=128, batch_size=2, run_dir=str(tmp_path / "s2"),
                          hg_weights=str(source), quiet=True)
        trainer = Trainer(cfg, parts=tiny_cgan_parts("full"))
        for k, v in trainer.hg.state_dict().items():
            assert torch.allclose(v.float(), want[k].float(), atol=1e-2, rtol=1e-2), (source.name, k)
        assert not any(p.requires_grad for p in trainer.hg.parameters())
    with pytest.raises(UserError):
        Trainer(cfg.override(hg_weights=str(tmp_path / "missing.pt")), parts=tiny_cgan_parts("full"))


def test_stage2_warm_starts_g_bl_from_a_released_two_step_engine(tmp_path):
    """A released hg-cgan engine holds the HG and G_bl's inference pathway only: --set init_weights=its
    model.safetensors loads that pathway into the generator (a fresh machine continues from released weights)."""
    from safetensors.torch import save_file

    from streamdeblur.nets.composite import TwoStep

    torch.manual_seed(0)
    trained = tiny_cgan_parts("full")
    for p in trained["g"].parameters():
        torch.nn.init.normal_(p, std=0.1)
    net = TwoStep(trained["hg"], trained["g"].bl_pathway())
    save_file({f"net.{k}": v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "model.safetensors"))
    cfg = TrainConfig(name="s2", model="hg-cgan", stage="cgan", crop_size=128, batch_size=2, run_dir=str(tmp_path / "s2"),
                      init_weights=str(tmp_path / "model.safetensors"), quiet=True)
    trainer = Trainer(cfg, parts=tiny_cgan_parts("full"))
    want = trained["g"].bl_pathway().state_dict()
    got = trainer.gen.bl_pathway().state_dict()
    assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
    # G_s's encoder is not in a release: it starts afresh
    assert not torch.equal(next(trainer.gen.enc_s.parameters()), next(trained["g"].enc_s.parameters()))


def test_release_card_shows_the_validation_curve_across_warm_started_runs(tmp_path, pairs32):
    torch.manual_seed(0)
    first = single_cfg(tmp_path, steps=4, val_every=2, val_batches=1, run_dir=str(tmp_path / "a"))
    Trainer(first, parts={"hg": tiny_hg()}, train_data=pairs32, val_data=pairs32).fit()
    second = single_cfg(tmp_path, steps=2, val_every=1, val_batches=1, run_dir=str(tmp_path / "b"),
                        init_weights=str(tmp_path / "a" / "last.pt"))
    Trainer(second, parts={"hg": tiny_hg()}, train_data=pairs32, val_data=pairs32).fit()
    folder = release(tmp_path / "b", "t", out_dir=tmp_path / "engine", parts={"hg": tiny_hg()})
    card = json.loads((folder / "card.json").read_text())
    curve = card["training"]["curve"]
    assert [e["run"] for e in curve] == ["a", "b"] and card["training"]["total_steps"] == 6
    # b's steps follow a's, from its starting weights (a's last) scored again as its step 0
    assert [r["total_step"] for e in curve for r in e["val"]] == [2, 4, 4, 5, 6]
    assert curve[1]["val"][0]["step"] == 0 and not (tmp_path / "a" / "val.csv").read_text().count("\n0,")
    assert (folder / "val_curve.png").stat().st_size > 0
    assert "val_curve.png" in (folder / "README.md").read_text()
    # a fresh machine warm-starts from the released weights: the card beside them carries the curve on
    third = single_cfg(tmp_path, steps=2, val_every=2, val_batches=1, run_dir=str(tmp_path / "c"),
                       init_weights=str(folder / "model.safetensors"))
    Trainer(third, parts={"hg": tiny_hg()}, train_data=pairs32, val_data=pairs32).fit()
    card = json.loads((release(tmp_path / "c", "t", out_dir=tmp_path / "engine2", parts={"hg": tiny_hg()})
                       / "card.json").read_text())
    assert [e["run"] for e in card["training"]["curve"]] == ["a", "b", "c"] and card["training"]["total_steps"] == 8
    assert [r["total_step"] for e in card["training"]["curve"] for r in e["val"]] == [2, 4, 4, 5, 6, 6, 8]


def test_a_deeper_or_twice_as_wide_naf_warm_starts_as_the_smaller_one_and_a_width_between_does_not(tmp_path):
    from safetensors.torch import save_file

    from streamdeblur.nets.nafnet import NAFNet
    from streamdeblur.train.stages import load_into

    torch.manual_seed(0)
    shallow = NAFNet(width=8, enc=(1, 1), mid=2, dec=(1, 1))
    for p in shallow.parameters():  # trained-looking weights: every residual scale non-zero
        torch.nn.init.normal_(p, std=0.1)
    save_file({f"net.{k}": v.contiguous() for k, v in shallow.state_dict().items()}, str(tmp_path / "m.safetensors"))
    deep = NAFNet(width=8, enc=(1, 1), mid=5, dec=(1, 1))
    load_into(deep, str(tmp_path / "m.safetensors"), "g")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(deep(x), shallow(x))  # the three added blocks start as the identity
    assert not deep.middle[4].beta.any() and deep.middle[1].beta.abs().sum() > 0
    with pytest.raises(UserError, match="does not hold weights"):  # 1.5x the width is not a warm start
        load_into(NAFNet(width=12, enc=(1, 1), mid=2, dec=(1, 1)), str(tmp_path / "m.safetensors"), "g")
    # twice the width (and three frames) is: every channel repeated, each conv's input shares summing to one
    for wide in (NAFNet(width=16, enc=(1, 1), mid=2, dec=(1, 1)),
                 NAFNet(width=16, enc=(1, 1), mid=3, dec=(1, 1), frames=3)):
        load_into(wide, str(tmp_path / "m.safetensors"), "g")
        stack = torch.cat([torch.rand_like(x), x, torch.rand_like(x)], 1) if wide.frames == 3 else x
        with torch.no_grad():
            assert (wide(stack) - shallow(x)).abs().max() < 1e-5
        assert wide.middle[0].conv1.weight.shape == (128, 64, 1, 1)  # the narrow one: (64, 32, 1, 1)
    # the convs making the two copies of a channel get different gradients (the convs reading them weigh them
    # differently), so the copies can drift apart in training
    wide(stack).square().mean().backward()
    g = wide.encoders[0][0].conv3.weight.grad[:, :, 0, 0]
    assert torch.equal(wide.encoders[0][0].conv3.weight[0], wide.encoders[0][0].conv3.weight[1])
    assert not torch.allclose(g[0], g[1], rtol=0.05, atol=0)


def test_dropout_reaches_the_nafnet_being_trained_and_is_refused_elsewhere(tmp_path):
    from streamdeblur.nets import NAFNet

    net = NAFNet(width=8, enc=(1,), mid=1, dec=(1,))
    trainer = Trainer(single_cfg(tmp_path, model="naf", stage="restore", dropout=0.3), parts={"g": net})
    assert trainer.stage.gen.dropout == 0.3
    with pytest.raises(UserError, match="dropout is for NAFNet"):
        Trainer(single_cfg(tmp_path, dropout=0.3), parts={"hg": tiny_hg()})
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(UserError, match="dropout"):
            TrainConfig(dropout=bad).validate()


def test_a_compiled_run_trains_like_the_eager_one_and_checkpoints_the_plain_network(tmp_path, pairs32, monkeypatch):
    """compile=true: the step runs torch.compile'd (inductor), the losses are the eager run's to float precision, and
    its checkpoint is the plain network's (no compile wrapper in its keys): an eager run resumes it and lands where
    an eager run of the same steps does. Refused in one line where a CPU has no C++ compiler to build kernels."""
    from streamdeblur.nets import NAFNet

    def run(run_dir, steps, compile, resume=False):
        torch.manual_seed(123)  # the same initial weights every time
        cfg = single_cfg(tmp_path, model="naf", stage="restore", run_dir=str(run_dir), steps=steps, seed=5,
                         ema_decay=0.9, amp=False, patch=0, lr=1e-3, compile=compile)
        trainer = Trainer(cfg, parts={"g": NAFNet(width=8, enc=(1,), mid=1, dec=(1,))}, train_data=pairs32)
        trainer.fit(resume=resume)
        return trainer

    def losses(run_dir):
        head, *rows = [r.split(",") for r in (run_dir / "log.csv").read_text().splitlines()]
        return [float(r[head.index("loss")]) for r in rows]

    eager = run(tmp_path / "eager", 6, False)
    half = run(tmp_path / "compiled", 3, True)
    assert isinstance(half.stage.gen_ddp, torch._dynamo.eval_frame.OptimizedModule)
    assert half.stage.gen_ddp._orig_mod is half.gen  # the trained parameters are the plain network's
    saved = torch.load(tmp_path / "compiled" / "last.pt", weights_only=False)["models"]["g"]
    assert set(saved) == set(eager.gen.state_dict())
    resumed = run(tmp_path / "compiled", 6, False, resume=True)
    assert losses(tmp_path / "compiled") == pytest.approx(losses(tmp_path / "eager"), rel=1e-4, abs=1e-5)
    for (k, a), b in zip(eager.gen.state_dict().items(), resumed.gen.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-5), k

    # a compiler that fails (here one that exits 1) costs the speed, not the run: the step runs eagerly
    from torch._inductor import config as inductor

    monkeypatch.setattr(inductor.cpp, "cxx", (None, "/bin/false"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))  # nothing built before to fall back on
    torch.manual_seed(0)
    broken = Trainer(single_cfg(tmp_path, model="naf", stage="restore", run_dir=str(tmp_path / "broken"), steps=2,
                                amp=False, patch=0, compile=True),
                     parts={"g": NAFNet(width=4, enc=(1,), mid=1, dec=(1,))}, train_data=pairs32)
    assert broken.fit().step == 2 and len(losses(tmp_path / "broken")) == 2

    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(UserError, match="compile=true needs a C.. compiler"):
        TrainConfig(compile=True).validate()
    TrainConfig(compile=False).validate()
