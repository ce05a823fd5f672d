"""The decoded uint8 pair cache: same pixels as the shards, reused, rebuilt when the shards change,
patches and flips for training, multi-frame groups for temporal engines."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from streamdeblur.data.cache import CachedPairs, build_cache
from streamdeblur.data.dataset import PairDataset
from streamdeblur.data.pairs import run_make_pairs
from streamdeblur.data.shards import find_shards


@pytest.fixture(scope="module")
def group_pairs(moving_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("group_pairs")
    run_make_pairs([moving_clip], out, method="motion", frames=3, speed="2,4", size=128, stride=6, max_frames=30,
                   progress=False)
    return out


def test_cache_holds_the_shards_pixels_and_is_reused(group_pairs, tmp_path):
    shards = find_shards(group_pairs)
    path, metas = build_cache(shards, tmp_path, size=128)
    data = np.load(path, mmap_mode="r")
    reference = PairDataset(shards)
    assert data.shape == (len(reference), 2, 128, 128, 3) and len(metas) == len(reference)
    for i in range(len(reference)):
        blurry, sharp = reference.images(i)
        assert np.array_equal(data[i, 0], blurry) and np.array_equal(data[i, 1], sharp)
        assert metas[i]["key"] == reference.meta(i)["key"] and metas[i]["method"] == "motion"
    mtime = path.stat().st_mtime_ns
    assert build_cache(shards, tmp_path, size=128)[0] == path and path.stat().st_mtime_ns == mtime  # reused
    small, _ = build_cache(shards, tmp_path, size=64)  # another size: another file, resized
    assert small != path and np.load(small, mmap_mode="r").shape[2:] == (64, 64, 3)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_multi_frame_cache_and_training_items(group_pairs, tmp_path):
    shards = find_shards(group_pairs)
    path, metas = build_cache(shards, tmp_path, size=128, frames=3)
    stack = np.load(path, mmap_mode="r")
    assert stack.shape[1:] == (4, 128, 128, 3)
    single = np.load(build_cache(shards, tmp_path, size=128)[0], mmap_mode="r")
    assert np.array_equal(stack[:, 1], single[:, 0]) and np.array_equal(stack[:, 3], single[:, 1])  # centre, sharp
    data = CachedPairs([(path, metas)], patch=48, augment=True, seed=1)
    blurry, sharp = data[0]
    assert blurry.shape == (9, 48, 48) and sharp.shape == (3, 48, 48) and blurry.dtype == torch.float32
    assert torch.equal(data[0][0], blurry)  # the same draw for the same (seed, epoch, index)
    data.set_epoch(1)
    assert not torch.equal(data[0][0], blurry)  # another epoch, another patch
    whole = CachedPairs([(path, metas)], augment=False)
    b, s = whole[0]
    assert b.shape == (9, 128, 128)
    assert torch.allclose(s[0], torch.from_numpy(stack[0, 3, :, :, 2].astype(np.float32) / 255))  # RGB order
    assert len(whole.subset([0])) == 1 and whole.subset([0]).meta(0) == whole.meta(0)


def _twin_cache(group_pairs, tmp_path):
    """A single-frame cache whose blurred slot holds the sharp image: any augmentation that treats the
    two images of a pair alike leaves them equal."""
    path, metas = build_cache(find_shards(group_pairs), tmp_path, size=128)
    twin = np.array(np.load(path, mmap_mode="r"))
    twin[:, 0] = twin[:, 1]
    twin_path = tmp_path / "twin.u8"
    with open(twin_path, "wb") as f:
        np.save(f, twin)
    return path, twin_path, metas


def test_default_patches_are_the_draws_earlier_runs_saw(group_pairs, tmp_path):
    """No new augmentation turned on: the same patch and flip draws as before, so resumed runs see their old samples."""
    path, metas = build_cache(find_shards(group_pairs), tmp_path, size=128)
    stack = np.load(path, mmap_mode="r")
    data = CachedPairs([(path, metas)], patch=48, seed=3)
    data.set_epoch(2)
    for index in range(4):
        rng = np.random.default_rng([3, 2, index])
        y0, x0 = rng.integers(0, 128 - 48 + 1, size=2)
        want = stack[index, :, y0:y0 + 48, x0:x0 + 48]
        want = want[:, :, ::-1] if rng.uniform() < 0.5 else want
        assert torch.equal(data[index][1], torch.from_numpy(np.ascontiguousarray(want[1, ..., ::-1].transpose(2, 0, 1))).float() / 255)


def test_turns_jitter_and_zoom_move_both_images_of_a_pair_alike(group_pairs, tmp_path):
    path, twin_path, metas = _twin_cache(group_pairs, tmp_path)
    kwargs = dict(patch=48, seed=1, rotate=True, jitter=0.3, zoom=(0.7, 1.6))
    twin = CachedPairs([(twin_path, metas)], **kwargs)
    plain = CachedPairs([(path, metas)], patch=48, seed=1)
    for index in range(len(twin)):
        blurry, sharp = twin[index]
        assert blurry.shape == sharp.shape == (3, 48, 48) and torch.equal(blurry, sharp)
        assert not torch.equal(sharp, plain[index][1])  # something was done to it
    real = CachedPairs([(path, metas)], **kwargs)
    assert torch.equal(real[0][1], twin[0][1])  # the sharp target does not depend on the blurred image
    assert not torch.equal(real[0][0], real[0][1])


def test_quarter_turns_cover_all_four_orientations(group_pairs, tmp_path):
    path, metas = build_cache(find_shards(group_pairs), tmp_path, size=128)
    stack = np.load(path, mmap_mode="r")
    data = CachedPairs([(path, metas)], seed=0, flip=False, rotate=True)  # whole crops: only the turn
    turns = set()
    for epoch in range(16):
        data.set_epoch(epoch)
        sharp = data[0][1].mul(255).round().byte().permute(1, 2, 0).numpy()[..., ::-1]  # back to HWC BGR
        matches = [k for k in range(4) if np.array_equal(sharp, np.rot90(stack[0, 1], k))]
        assert len(matches) == 1
        turns.add(matches[0])
    assert turns == {0, 1, 2, 3}


def test_zoom_cuts_the_patch_from_a_larger_region_resized_down(group_pairs, tmp_path):
    """zoom (2, 2): each 48-px patch is a 96-px region of the crop shrunk by INTER_AREA (faces and their blur at half scale)."""
    import cv2

    path, metas = build_cache(find_shards(group_pairs), tmp_path, size=128)
    sharp = np.ascontiguousarray(np.load(path, mmap_mode="r")[1, 1])
    data = CachedPairs([(path, metas)], patch=48, seed=0, flip=False, zoom=(2.0, 2.0))
    got = data[1][1].mul(255).round().byte().permute(1, 2, 0).numpy()[..., ::-1]
    found = [(y, x) for y in range(128 - 96 + 1) for x in range(128 - 96 + 1)
             if np.array_equal(cv2.resize(sharp[y:y + 96, x:x + 96], (48, 48), interpolation=cv2.INTER_AREA), got)]
    assert len(found) == 1


def test_native_cuts_enlarged_pairs_at_their_source_density(group_pairs, tmp_path):
    """native: a pair enlarged from a smaller face (scale 2: two cache pixels per source pixel) gives a 48-px patch
    of a 96-px region shrunk by INTER_AREA; a pair cut at or below its source's density keeps the plain patch."""
    import cv2

    shards = find_shards(group_pairs)
    path, metas = build_cache(shards, tmp_path, size=128)
    reference = PairDataset(shards)
    for i, meta in enumerate(metas):  # the cache's scale is the pair's crop scale times the cache's own resize
        m = np.array(reference.meta(i)["crop_matrix"])
        side = reference.images(i)[1].shape[0]
        assert meta["scale"] == pytest.approx(np.hypot(m[0, 0], m[1, 0]) * 128 / side, abs=1e-3)
    stored = json.loads(path.with_suffix(".json").read_text())  # a cache from before the scale gets its metas again
    path.with_suffix(".json").write_text(json.dumps(dict(stored, metas=[
        {k: v for k, v in m.items() if k != "scale"} for m in stored["metas"]])))
    mtime = path.stat().st_mtime_ns
    assert build_cache(shards, tmp_path, size=128) == (path, metas) and path.stat().st_mtime_ns == mtime
    sharp = np.ascontiguousarray(np.load(path, mmap_mode="r")[1, 1])
    forced = [dict(m, scale=2.0) if i == 1 else dict(m, scale=0.5) for i, m in enumerate(metas)]
    data = CachedPairs([(path, forced)], patch=48, seed=0, flip=False, native=True)
    got = data[1][1].mul(255).round().byte().permute(1, 2, 0).numpy()[..., ::-1]
    found = [(y, x) for y in range(128 - 96 + 1) for x in range(128 - 96 + 1)
             if np.array_equal(cv2.resize(sharp[y:y + 96, x:x + 96], (48, 48), interpolation=cv2.INTER_AREA), got)]
    assert len(found) == 1
    plain = CachedPairs([(path, forced)], patch=48, seed=0, flip=False)
    assert torch.equal(data[0][1], plain[0][1])  # scale 0.5: nothing to undo, the same draw as without native
    assert not torch.equal(data[1][1], plain[1][1])


def test_training_config_checks_the_augmentations():
    from streamdeblur.errors import UserError
    from streamdeblur.train.config import TrainConfig

    TrainConfig(cache=True, patch=64, zoom=(0.8, 1.25), rotate=True, jitter=0.2, native=True).validate()
    TrainConfig(model="naf-t3", patch=64, zoom=(0.8, 1.25)).validate()  # temporal nets always train from the cache
    for bad in (dict(cache=True, patch=64, zoom=(1.5, 1.2)), dict(cache=True, patch=64, zoom=(0.0, 1.0)),
                dict(zoom=(0.8, 1.25)), dict(jitter=1.5), dict(native=True), dict(cache=True, native=True)):
        with pytest.raises(UserError):
            TrainConfig(**bad).validate()


def test_a_flow_aligned_cache_warps_each_groups_neighbours_onto_its_centre(group_pairs, tmp_path):
    """align="flow" (naf-t3f's groups): another cache file; centre and target as in the plain cache, the
    neighbours warped so that they differ less from the centre than the landmark-aligned ones do."""
    shards = find_shards(group_pairs)
    plain_path, _ = build_cache(shards, tmp_path, size=128, frames=3)
    flow_path, metas = build_cache(shards, tmp_path, size=128, frames=3, align="flow")
    assert flow_path != plain_path and len(metas) > 0
    plain, flow = (np.load(p, mmap_mode="r").astype(np.float32) for p in (plain_path, flow_path))
    assert np.array_equal(flow[:, 1], plain[:, 1]) and np.array_equal(flow[:, 3], plain[:, 3])
    inner = np.s_[:, 12:-12, 12:-12]
    for j in (0, 2):
        before = np.abs(plain[:, j] - plain[:, 1])[inner].mean()
        after = np.abs(flow[:, j] - flow[:, 1])[inner].mean()
        assert after < 0.8 * before, (j, before, after)


def test_a_centre_aligned_cache_recuts_each_groups_neighbours_by_its_recorded_matrices(group_pairs, tmp_path):
    """align="centre" (naf-t3m's groups): centre and target as in the plain cache; each neighbour re-cut in the
    centre's alignment from the group's recorded matrices, which puts the face's motion back in: the neighbours
    differ more from the centre than the landmark-aligned ones do."""
    import json

    from streamdeblur.data.shards import index_shard
    from streamdeblur.faces.flow import recut_stack

    shards = find_shards(group_pairs)
    plain_path, _ = build_cache(shards, tmp_path, size=128, frames=3)
    centre_path, metas = build_cache(shards, tmp_path, size=128, frames=3, align="centre")
    assert centre_path != plain_path and len(metas) > 0
    plain, centre = (np.load(p, mmap_mode="r") for p in (plain_path, centre_path))
    assert np.array_equal(centre[:, 1], plain[:, 1]) and np.array_equal(centre[:, 3], plain[:, 3])
    records = {r.key: r for s in shards for r in index_shard(s)}
    for i in range(min(len(metas), 5)):
        meta = records[metas[i]["key"]].meta
        first = int(meta["group"]) // 2 - 1
        stack = recut_stack(np.concatenate(list(plain[i, :3]), axis=2), meta["group_matrices"][first:first + 3])
        assert np.array_equal(np.stack(np.split(stack, 3, axis=2)), centre[i, :3])
    inner = np.s_[:, 12:-12, 12:-12]
    for j in (0, 2):
        aligned = np.abs(plain[:, j].astype(np.float32) - plain[:, 1])[inner].mean()
        moved = np.abs(centre[:, j].astype(np.float32) - centre[:, 1])[inner].mean()
        assert moved > 2 * aligned, (j, aligned, moved)  # about 4x on these groups
    assert json.loads(centre_path.with_suffix(".json").read_text())["align"] == "centre"


def test_restore_stage_trains_naf_t3_from_the_cache(group_pairs, tmp_path, monkeypatch):
    """The modern recipe end to end on the multi-frame groups: the loss falls on a repeated batch."""
    from streamdeblur.train.stages import build_config
    from streamdeblur.train.trainer import Trainer

    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    cfg = build_config(None, ["patch=32", "batch_size=2", "warmup=0", "threads=1", "quiet=true"], model="naf-t3",
                       data=str(group_pairs), run_dir=str(tmp_path / "run"), steps=100)
    assert cfg.stage == "restore" and cfg.cache and cfg.loss == "charbonnier" and cfg.w_fft == 0.1
    trainer = Trainer(cfg, device="cpu")
    assert trainer.frames == 3
    from streamdeblur.train.sampling import open_dataset

    data = open_dataset(cfg, "train", trainer.frames)
    blurry = torch.stack([data[i][0] for i in range(2)])
    sharp = torch.stack([data[i][1] for i in range(2)])
    first = trainer.train_step(blurry, sharp)
    for _ in range(15):
        last = trainer.train_step(blurry, sharp)
    assert last["loss"] < first["loss"] and {"loss_charbonnier", "loss_fft", "lr"} <= set(last)


@pytest.fixture(scope="module")
def target_pairs(moving_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("target_pairs")
    run_make_pairs([moving_clip], out, method="motion", frames=3, targets=True, speed="2,4", size=128, stride=6,
                   max_frames=30, progress=False)
    return out


def test_neighbour_cache_pairs_each_exposure_with_the_next(target_pairs, tmp_path):
    """The flicker loss's cache: the pair, then the next exposure and its sharp frame; an item is both, cut and
    flipped alike, and a batch puts them on consecutive rows."""
    from streamdeblur.data.shards import decode_png, index_shard, read_member
    from streamdeblur.train.sampling import collate

    shards = find_shards(target_pairs)
    path, metas = build_cache(shards, tmp_path, size=128, neighbour=True)
    stack = np.load(path, mmap_mode="r")
    single = np.load(build_cache(shards, tmp_path, size=128)[0], mmap_mode="r")
    assert stack.shape == (len(single), 4, 128, 128, 3) and len(metas) == len(single)
    assert np.array_equal(stack[:, :2], single)  # the pair as the plain cache holds it
    records = [r for s in shards for r in index_shard(s)]
    with open(shards[0], "rb") as f:
        strip, targets = (decode_png(read_member(f, *records[0].members[m])) for m in ("frames.png", "targets.png"))
    assert np.array_equal(stack[0, 2], strip[:, 256:]) and np.array_equal(stack[0, 3], targets[:, 256:])
    assert build_cache(shards, tmp_path, size=128, frames=3, neighbour=True)[1] == []  # 3 frames need 5 exposures
    data = CachedPairs([(path, metas)], patch=48, augment=True, seed=2, neighbour=True)
    items = [data[i] for i in range(2)]
    assert items[0][0].shape == (2, 3, 48, 48) and items[0][1].shape == (2, 3, 48, 48) and data.frames == 1
    blurry, sharp = collate(items)
    assert blurry.shape == (4, 3, 48, 48) and torch.equal(sharp[2], items[1][1][0]) and torch.equal(sharp[1], items[0][1][1])
    whole = CachedPairs([(path, metas)], augment=False, neighbour=True)
    b, s = whole[0]
    for row, k in ((b[0], 0), (s[0], 1), (b[1], 2), (s[1], 3)):  # RGB, in the cache's order
        assert torch.allclose(row[0], torch.from_numpy(stack[0, k, :, :, 2].astype(np.float32) / 255))


def test_flicker_loss_trains_on_consecutive_exposures(target_pairs, group_pairs, tmp_path, monkeypatch):
    """w_flicker: each step restores both exposures of a pair and adds the pixel loss between the change of the
    output and that of the sharp frames; the loss falls on a repeated batch. Pairs without sharp frames, or a stage
    of two networks, are refused with a message."""
    from streamdeblur.errors import UserError
    from streamdeblur.train import losses
    from streamdeblur.train.sampling import collate, open_dataset
    from streamdeblur.train.stages import build_config
    from streamdeblur.train.trainer import Trainer

    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    cfg = build_config(None, ["patch=32", "batch_size=2", "warmup=0", "threads=1", "quiet=true", "loss=psnr",
                              "w_fft=0", "w_flicker=1"], model="naf", data=str(target_pairs),
                       run_dir=str(tmp_path / "run"), steps=100)
    trainer = Trainer(cfg, device="cpu")
    data = open_dataset(cfg, "train", trainer.frames)
    blurry, sharp = collate([data[i] for i in range(2)])
    assert blurry.shape == (4, 3, 32, 32)
    with torch.no_grad():  # the term: the pixel loss between the changes from row 2i to row 2i+1
        expected = losses.psnr_loss(losses.temporal_change(trainer.stage.gen(blurry)), losses.temporal_change(sharp))
    first = trainer.train_step(blurry, sharp)
    assert set(first) >= {"loss_psnr", "loss_flicker"}
    assert float(first["loss_flicker"]) == pytest.approx(float(expected), abs=0.1)
    for _ in range(15):
        last = trainer.train_step(blurry, sharp)
    assert last["loss_flicker"] < first["loss_flicker"] and last["loss"] < first["loss"]
    with pytest.raises(ValueError):
        losses.temporal_change(blurry[:3])
    cfg.data = str(group_pairs)  # groups made without --targets
    with pytest.raises(UserError, match="--targets"):
        open_dataset(cfg, "train", 1)


def test_learning_rate_schedule_warms_up_then_follows_the_cosine():
    from streamdeblur.train.config import TrainConfig
    from streamdeblur.train.trainer import lr_factor

    cfg = TrainConfig(lr=1e-3, lr_min=1e-5, warmup=10, lr_schedule="cosine", steps=110)
    assert lr_factor(cfg, 0) == pytest.approx(0.1) and lr_factor(cfg, 9) == pytest.approx(1.0)
    assert lr_factor(cfg, 10) == pytest.approx(1.0) and lr_factor(cfg, 60) == pytest.approx(0.505)
    assert lr_factor(cfg, 110) == pytest.approx(0.01) and lr_factor(cfg, 500) == pytest.approx(0.01)
    longer = TrainConfig(lr=1e-3, warmup=10, lr_schedule="cosine", steps=1000, lr_horizon=110)
    assert lr_factor(longer, 60) == pytest.approx(0.5)  # the horizon, not steps, sets the schedule
    assert lr_factor(TrainConfig(), 123) == 1.0  # constant


@pytest.mark.parametrize("have,frames,delta", [(1, 3, False), (3, 5, True)])
def test_a_temporal_net_warm_starts_from_the_one_with_fewer_frames(tmp_path, have, frames, delta):
    """naf-t3 initialised from a naf checkpoint computes exactly what naf computes on the centre frame; naf-t5f
    from a naf-t3f one what naf-t3f computes on the middle three frames (the outer frames' weights start at 0)."""
    from streamdeblur.nets import NAFNet
    from streamdeblur.train.stages import CHECKPOINT_FORMAT, load_into

    torch.manual_seed(0)
    narrow = NAFNet(width=8, enc=(1,), mid=1, dec=(1,), frames=have, delta=delta)
    for p in narrow.parameters():  # a trained-looking net (skip-init and the zero ending would hide mistakes)
        p.data.normal_(0, 0.1)
    ckpt = tmp_path / "last.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "config": {"stage": "restore"}, "models": {"g": narrow.state_dict()},
                "ema": {"module": narrow.state_dict()}}, ckpt)
    wide = NAFNet(width=8, enc=(1,), mid=1, dec=(1,), frames=frames, delta=delta)
    load_into(wide, str(ckpt), "g")
    x = torch.rand(2, 3 * frames, 16, 16)
    first = frames // 2 - have // 2
    with torch.no_grad():
        assert torch.allclose(wide(x), narrow(x[:, 3 * first:3 * (first + have)]), atol=1e-5)
        assert not torch.allclose(wide(x), narrow(x[:, :3 * have]), atol=1e-3)  # the middle frames, not the first
