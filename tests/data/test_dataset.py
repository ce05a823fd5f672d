"""PairDataset / PairStream over make-pairs shards."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from streamdeblur.data.dataset import PairDataset, PairStream, augment_pair, to_tensor
from streamdeblur.data.pairs import run_make_pairs


@pytest.fixture(scope="module")
def pairs_dir(clips_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset_pairs")
    run_make_pairs([clips_dir], out, method="pravg", length="5", size=128, stride=4, shard_size=4,
                   max_frames=24, progress=False)
    return out


def test_items_are_rgb_float_tensors(pairs_dir):
    ds = PairDataset(pairs_dir, split="train")
    assert len(ds) >= 6
    blurry, sharp = ds[0]
    assert blurry.shape == sharp.shape == (3, 128, 128)
    assert blurry.dtype == torch.float32 and 0.0 <= float(blurry.min()) and float(blurry.max()) <= 1.0
    raw_blurry, raw_sharp = ds.images(0)
    assert torch.allclose(sharp, to_tensor(raw_sharp))
    assert torch.allclose(sharp[0], torch.from_numpy(raw_sharp[:, :, 2].astype(np.float32) / 255))  # R first
    assert not torch.equal(blurry, sharp)
    assert len(PairDataset(pairs_dir)) == len(ds)  # no split: every shard


def test_augmentation_is_the_same_for_both_images():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    a, b = augment_pair(image, image.copy(), np.random.default_rng(5), size=64, crop_scale=(0.6, 0.9), flip=True,
                        jitter=0.3)
    assert a.shape == (64, 64, 3) and np.array_equal(a, b)
    c, _ = augment_pair(image, image.copy(), np.random.default_rng(5), size=64, crop_scale=(0.6, 0.9), flip=True,
                        jitter=0.3)
    assert np.array_equal(a, c)  # seeded
    flipped, _ = augment_pair(image, image, np.random.default_rng(1), flip=True)
    plain, _ = augment_pair(image, image, np.random.default_rng(1))
    assert np.array_equal(plain, image)
    assert np.array_equal(flipped, image) or np.array_equal(flipped, image[:, ::-1])
    turns = set()
    for seed in range(16):  # quarter turns, the same on both images, all four of them
        a, b = augment_pair(image, image.copy(), np.random.default_rng(seed), rotate=True)
        assert np.array_equal(a, b)
        turns |= {k for k in range(4) if np.array_equal(a, np.rot90(image, k))}
    assert turns == {0, 1, 2, 3}


def test_options_resize_and_filters(pairs_dir):
    ds = PairDataset(pairs_dir, size=64, crop_scale=(0.8, 1.0), flip=True, jitter=0.1, seed=1)
    blurry, sharp = ds[1]
    assert blurry.shape == (3, 64, 64) and sharp.shape == (3, 64, 64)
    first = ds[1][0]
    ds.set_epoch(1)
    assert torch.equal(first, PairDataset(pairs_dir, size=64, crop_scale=(0.8, 1.0), flip=True, jitter=0.1, seed=1)[1][0])
    motions = sorted(r.meta["motion"] for r in PairDataset(pairs_dir).records)
    middle = motions[len(motions) // 2]
    moving = PairDataset(pairs_dir, min_motion=middle)
    assert 0 < len(moving) < len(motions) and all(r.meta["motion"] >= middle for r in moving.records)
    assert len(PairDataset(pairs_dir, methods=["kernel"])) == 0
    assert len(PairDataset(pairs_dir, methods=["pravg"])) == len(motions)
    with pytest.raises(FileNotFoundError):
        PairDataset(pairs_dir, split="val")


def test_rank_sharding_is_disjoint_and_even(pairs_dir):
    full = PairDataset(pairs_dir)
    parts = [PairDataset(pairs_dir, rank=r, world_size=3) for r in range(3)]
    keys = [[rec.key for rec in p.records] for p in parts]
    assert len({len(k) for k in keys}) == 1
    flat = [k for ks in keys for k in ks]
    assert len(flat) == len(set(flat)) == len(full) - len(full) % 3


# spawn: this test process has decoded video and run the detector (make-pairs), after which
# forked workers can hang inside torch; a training process does not do that.
def test_dataloader_with_two_workers(pairs_dir):
    ds = PairDataset(pairs_dir, size=64, flip=True)
    loader = DataLoader(ds, batch_size=4, num_workers=2, shuffle=False, multiprocessing_context="spawn", timeout=120)
    seen = 0
    for blurry, sharp in loader:
        assert blurry.shape[1:] == (3, 64, 64) and sharp.shape == blurry.shape
        seen += blurry.shape[0]
    assert seen == len(ds)


def test_stream_yields_every_pair_once_across_workers_and_ranks(pairs_dir):
    total = len(PairDataset(pairs_dir))
    stream = PairStream(pairs_dir, shuffle_buffer=3)
    batches = list(DataLoader(stream, batch_size=None, num_workers=2, multiprocessing_context="spawn", timeout=120))
    assert len(batches) == total
    sums = sorted(float(b.sum()) for b, _ in batches)
    ranks = [list(PairStream(pairs_dir, rank=r, world_size=2)) for r in range(2)]
    assert sum(len(r) for r in ranks) == total and all(len(r) > 0 for r in ranks)
    assert sorted(float(b.sum()) for r in ranks for b, _ in r) == pytest.approx(sums)


def _tiny_shard(path, n=3, side=48):
    """A shard of n pairs of side x side noise images."""
    from streamdeblur.data.shards import TarWriter

    rng = np.random.default_rng(0)
    writer = TarWriter(path)
    for i in range(n):
        image = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        writer.add_pair(f"p{i:03d}", image, image, {"method": "kernel", "motion": 1.0})
    return writer.close()


@pytest.mark.parametrize("keep", [1 / 3, 1 / 2])
def test_a_truncated_shard_is_a_user_error_naming_it(tmp_path, keep):
    """A shard cut short (a copy that stopped) fails in one line naming the file, wherever it is read, not with
    tarfile's "unexpected end of data"; one cut at a member boundary is not taken for a whole shard with fewer pairs."""
    from streamdeblur.data.shards import DamagedShard, index_shard, iter_pairs, pair_side
    from streamdeblur.errors import UserError

    good = _tiny_shard(tmp_path / "good.tar")
    assert len(index_shard(good)) == 3 and len(list(iter_pairs(good))) == 3 and pair_side(good) == 48
    data = good.read_bytes()
    bad = tmp_path / "bad.tar"
    bad.write_bytes(data[: int(len(data) * keep)])
    for read in (index_shard, lambda p: list(iter_pairs(p)), lambda p: PairDataset([p])):
        with pytest.raises(UserError, match=f"pairs shard {bad} is damaged") as info:
            read(bad)
        assert isinstance(info.value, DamagedShard) and "make-pairs" in str(info.value)
        assert "\n" not in str(info.value)
    # cut exactly after a member: tarfile alone would end there quietly
    import tarfile

    with tarfile.open(good) as tar:
        members = tar.getmembers()
    bad.write_bytes(data[: members[3].offset])
    with pytest.raises(DamagedShard, match="truncated"):
        index_shard(bad)


def test_a_pair_whose_image_does_not_decode_is_a_user_error_naming_its_shard(tmp_path):
    from streamdeblur.data.shards import DamagedShard, TarWriter

    writer = TarWriter(tmp_path / "odd.tar")
    writer.add("k.blur.png", b"not a png")
    writer.add("k.sharp.png", b"not a png")
    writer.add("k.json", b"{}")
    shard = writer.close()
    with pytest.raises(DamagedShard, match=f"{shard}.*does not decode"):
        PairDataset([shard])[0]
