"""Two CPU processes with gloo (as torchrun would start them): weights stay identical across ranks."""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out_dir: str, stage: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    from streamdeblur.train.config import TrainConfig
    from streamdeblur.train.trainer import Trainer
    from tests.train.conftest import PairSet, tiny_cgan_parts, tiny_hg

    torch.manual_seed(rank)  # different initial weights per rank: DDP must broadcast rank 0's
    if stage == "single":
        parts, data, size, batch = {"hg": tiny_hg()}, PairSet(8, 32), 32, 2
    else:
        parts, data, size, batch = tiny_cgan_parts("full"), PairSet(8, 128), 128, 2
    cfg = TrainConfig(name="ddp", model="hg-cgan" if stage == "cgan" else "fast", stage=stage, steps=3, batch_size=batch, crop_size=size, run_dir=out_dir,
                      lr=1e-2 if stage == "single" else 1e-3, quiet=True, ckpt_every=2, val_every=1000)
    trainer = Trainer(cfg, parts=parts, train_data=data, device="cpu")
    assert trainer.info.world == world and dist.get_backend() == "gloo"
    trainer.fit()
    torch.save({k: m.state_dict() for k, m in trainer.parts.items()}, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def _check(tmp_path, stage: str) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), stage), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt")
    b = torch.load(tmp_path / "rank1.pt")
    for part in a:
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), f"{part}.{key} differs across ranks"
    ckpt = torch.load(tmp_path / "last.pt", weights_only=False)
    assert ckpt["step"] == 3 and ckpt["world"] == 2 and len(ckpt["rng"]) == 2


def test_ddp_gloo_single_net_weights_identical(tmp_path):
    _check(tmp_path, "single")


def test_ddp_gloo_cgan_weights_identical(tmp_path):
    _check(tmp_path, "cgan")
