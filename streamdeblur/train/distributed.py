"""Process set-up of a training run: torchrun/DDP membership, device choice, RNG state, hardware line."""

from __future__ import annotations

import os
import platform
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1 (nccl on CUDA, gloo otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local)


def pick_device(name: str, info_local: int = 0) -> str:
    """The device a run uses: the given one, else cuda:LOCAL_RANK when CUDA exists, else cpu. UserError for a
    device that is not cpu, cuda or cuda:N, or a CUDA device this torch and machine do not have."""
    if name and name != "auto":
        check_device(name)
        return name
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', info_local))}"
    return "cpu"


def check_device(name: str) -> None:
    """UserError (one line, before any work) for a --device that cannot run here, as `process` gives."""
    from streamdeblur.errors import UserError

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserError(f"unknown --device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"unsupported --device {name!r}; use auto, cpu, cuda or cuda:N")
    if device.type != "cuda":
        return
    if not torch.cuda.is_available():
        raise UserError(f"--device {name} asked for, but this torch has no CUDA device; use --device cpu (or auto)")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"--device {name} asked for, but this machine has {torch.cuda.device_count()} CUDA "
                        f"device(s) (cuda:0 to cuda:{torch.cuda.device_count() - 1})")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX); elsewhere bf16 is emulated and slow."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "")
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def amp_dtype(device: str, requested: bool) -> torch.dtype | None:
    """bfloat16 autocast when asked for and fast on the device (CUDA, or a CPU with native bf16), else None."""
    if not requested:
        return None
    if device.startswith("cuda") or (device == "cpu" and cpu_has_bf16()):
        return torch.bfloat16
    return None


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG this process draws from."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what rng_state() captured. The generators take CPU byte tensors: a checkpoint loaded with
    map_location on a GPU holds them there (resuming on CUDA failed with "RNG state must be a torch.ByteTensor")."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def hardware(device: str) -> str:
    """A one-line description of where training ran."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(torch.device(device))} (CUDA)"
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} thread(s)"
