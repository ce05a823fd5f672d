"""`streamdeblur bench --train`: training throughput (samples/s) of a model at a crop size and precision,
on random tensors (the network's cost alone) or on real pairs through the data path the trainer uses
(PNG shards decoded per sample, or the decoded uint8 cache)."""

from __future__ import annotations

import tempfile
import time
from typing import Any

import torch

from streamdeblur.errors import UserError

PRECISIONS = ("fp32", "bf16")


def bench_training(model: str, crop: int, batch: int, precision: str = "fp32", steps: int = 20, threads: int = 2,
                   data: str | None = None, cache: bool = True, size: int = 128,
                   compile: bool = False) -> dict[str, Any]:
    """Time `steps` training steps after 3 warm-up steps (with compile, torch.compile'd: the first of them compiles);
    returns the figures (samples/s with and without data, the warm-up's seconds)."""
    from streamdeblur.train.stages import build_config
    from streamdeblur.train.distributed import cpu_has_bf16
    from streamdeblur.train.sampling import batch_stream, open_dataset
    from streamdeblur.train.trainer import Trainer

    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; choose {' or '.join(PRECISIONS)}")
    if steps < 1:
        raise UserError(f"--steps must be at least 1 (timed steps), got {steps}")
    if crop < 16:
        raise UserError(f"--crop must be at least 16 pixels, got {crop}")
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="streamdeblur-bench-") as tmp:
        sets = [f"batch_size={batch}", f"amp={precision == 'bf16'}", f"threads={threads}", "quiet=true",
                f"compile={compile}"]
        if data:
            sets += [f"cache={cache}", f"crop_size={size}", f"patch={crop if crop < size else 0}"]
        else:
            sets += [f"crop_size={crop}"]
        cfg = build_config(None, sets, model=model, data=data or "", run_dir=tmp, name="bench")
        trainer = Trainer(cfg, device="cpu")
        if precision == "bf16" and trainer.amp is None:
            raise UserError("bf16 asked for, but this CPU has no native bfloat16 (AVX-512 BF16 or AMX): "
                            "autocast would emulate it, slower than fp32")
        frames = trainer.frames
        if data:
            built = time.perf_counter()
            batches = batch_stream(open_dataset(cfg, "train", frames), cfg, trainer.info, 0)
            setup_s = time.perf_counter() - built
        else:
            fixed = (torch.rand(batch, 3 * frames, crop, crop), torch.rand(batch, 3, crop, crop))
            batches, setup_s = iter(lambda: fixed, None), 0.0
        started = time.perf_counter()
        for _ in range(3):
            trainer.train_step(*next(batches))
        warmup_s = time.perf_counter() - started
        data_s = step_s = 0.0
        for _ in range(steps):
            t0 = time.perf_counter()
            blurry, sharp = next(batches)
            t1 = time.perf_counter()
            trainer.train_step(blurry, sharp)
            data_s += t1 - t0
            step_s += time.perf_counter() - t1
        params = sum(p.numel() for p in trainer.gen.parameters())
    return {"model": model, "parameters": params, "crop": crop, "batch": batch, "precision": precision,
            "native_bf16": cpu_has_bf16(), "threads": threads,
            "data": (("cache" if cache else "png shards") if data else "random tensors"), "compiled": compile,
            "warmup_s": round(warmup_s, 1),
            "setup_s": round(setup_s, 2), "step_samples_per_s": round(steps * batch / step_s, 1),
            "samples_per_s": round(steps * batch / (step_s + data_s), 1),
            "data_ms_per_batch": round(1000 * data_s / steps, 2)}


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A markdown table of bench_training results."""
    head = ("| model | params | crop | batch | precision | compiled | data | samples/s (step only) | "
            "samples/s (with data) | warm-up s |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['parameters'] / 1e3:.0f}k | {r['crop']} | {r['batch']} | {r['precision']} | "
                     f"{'yes' if r['compiled'] else 'no'} | {r['data']} | {r['step_samples_per_s']} | "
                     f"{r['samples_per_s']} | {r['warmup_s']} |")
    return "\n".join(lines)
