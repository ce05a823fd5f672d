"""The TensorRT engine through torch-tensorrt (optional extra; needs CUDA).

The model is exported with a dynamic batch axis (1..max_batch), compiled by torch-tensorrt's
dynamo frontend (fp16 by casting the model and its input to half: explicit typing, which both old
and new torch-tensorrt honour), serialised to cache_dir()/tensorrt/ and reused on later runs. A
built or loaded engine is compared against the fp32 torch model on a fixed random batch and
refused (UserError) when the max abs error on the [0, 1] output exceeds the tolerance.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from streamdeblur.backends.common import bgr_to_rgb_order, check_batch
from streamdeblur.errors import MissingDependencyError, UserError

log = logging.getLogger(__name__)

TOLERANCE_FP16 = 0.03
TOLERANCE_FP32 = 2e-3


def import_tensorrt():  # -> module torch_tensorrt
    """torch_tensorrt, or MissingDependencyError naming the extra and CUDA."""
    if not torch.cuda.is_available():
        raise MissingDependencyError(
            "the tensorrt backend needs a CUDA GPU (none here); use --backend torch or onnxruntime"
        )
    try:
        import torch_tensorrt  # noqa: PLC0415
    except Exception as exc:  # ImportError, or a broken install raising OSError/RuntimeError
        raise MissingDependencyError(
            f"the tensorrt backend needs torch-tensorrt with CUDA: pip install 'streamdeblur[tensorrt]' ({exc})"
        ) from None
    return torch_tensorrt


def tensorrt_available() -> bool:
    """True when CUDA is available and torch_tensorrt imports."""
    try:
        import_tensorrt()
    except MissingDependencyError:
        return False
    return True


def _cache_file(cache: Path, key: str, fp16: bool, max_batch: int, trt_version: str) -> Path:
    gpu = re.sub(r"[^A-Za-z0-9]+", "_", torch.cuda.get_device_name())
    return cache / f"{key}-{'fp16' if fp16 else 'fp32'}-b{max_batch}-{gpu}-trt{trt_version}.ep"


def _compile(trt, module: nn.Module, size: int, dtype: torch.dtype, max_batch: int, opt_batch: int, channels: int = 3):
    example = torch.rand(opt_batch, channels, size, size, device="cuda", dtype=dtype)
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    dynamic = {"x": {0: batch}}
    program = torch.export.export(module, (example,), dynamic_shapes=dynamic, strict=False)
    spec = trt.Input(min_shape=(1, channels, size, size), opt_shape=(opt_batch, channels, size, size),
                     max_shape=(max_batch, channels, size, size), dtype=dtype)
    try:
        compiled = trt.dynamo.compile(program, inputs=[spec], enabled_precisions={dtype}, min_block_size=1)
    except TypeError:  # releases that dropped enabled_precisions: explicit typing from the half model
        compiled = trt.dynamo.compile(program, inputs=[spec], min_block_size=1)
    return compiled, example, dynamic


def _save(trt, compiled, path: Path, example: torch.Tensor, dynamic: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            trt.save(compiled, str(tmp), output_format="exported_program", arg_inputs=[example],
                     dynamic_shapes=dynamic, retrace=True)
        except TypeError:  # older torch-tensorrt: `inputs=` and no dynamic_shapes
            trt.save(compiled, str(tmp), inputs=[example])
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _load(trt, path: Path) -> nn.Module:
    loader = getattr(trt, "load", None) or torch.export.load
    return loader(str(path)).module()


class TensorRTEngine:
    """A compiled TensorRT model on N x S x S x 3K uint8 BGR batches; the optimisation profile spans batches
    1..max_batch (the engine's --batch-size), larger calls run in chunks."""

    def __init__(
        self,
        module: nn.Module,
        input_size: int,
        cache_key: str,
        cache: Path,
        fp16: bool = True,
        max_batch: int = 32,
        opt_batch: int = 8,
        tolerance: float | None = None,
        frames: int = 1,
    ) -> None:
        trt = import_tensorrt()
        self.input_size, self.frames = input_size, frames
        self.max_batch = max_batch
        self.dtype = torch.float16 if fp16 else torch.float32
        self.name = "tensorrt-fp16" if fp16 else "tensorrt-fp32"
        reference = module.eval().float().cuda()
        cache.mkdir(parents=True, exist_ok=True)
        path = _cache_file(cache, cache_key, fp16, max_batch, getattr(trt, "__version__", "x"))  # the batch profile is in the name
        compiled = None
        if path.is_file():
            try:
                compiled = _load(trt, path)
                log.info("tensorrt: reusing %s", path)
            except Exception as exc:  # a stale or foreign engine: rebuild it
                log.warning("tensorrt: cannot load cached engine %s (%s); rebuilding", path, exc)
        if compiled is None:
            log.info("tensorrt: building the engine (once; cached at %s)", path)
            import copy

            half = copy.deepcopy(reference).to(self.dtype)
            compiled, example, dynamic = _compile(trt, half, input_size, self.dtype, max_batch, min(opt_batch, max_batch),
                                                  3 * frames)
            try:
                _save(trt, compiled, path, example, dynamic)
            except Exception as exc:  # serialisation support varies across versions: run uncached
                log.warning("tensorrt: could not cache the engine (%s); it will be rebuilt next time", exc)
        self.module = compiled
        try:
            self.error = self._check(reference, tolerance if tolerance is not None else (TOLERANCE_FP16 if fp16 else TOLERANCE_FP32))
        except UserError:
            path.unlink(missing_ok=True)  # never reuse a refused engine
            raise

    def _check(self, reference: nn.Module, tolerance: float) -> float:
        gen = torch.Generator(device="cuda").manual_seed(0)
        x = torch.rand(min(4, self.max_batch), 3 * self.frames, self.input_size, self.input_size, device="cuda",
                       generator=gen)
        with torch.inference_mode():
            expected = reference(x)
            got = self.run_tensor(x)
        error = float((got - expected).abs().max())
        if not error <= tolerance:
            raise UserError(
                f"the TensorRT engine differs from fp32 torch by {error:.3g} (tolerance {tolerance:g}); "
                "refusing it: use --backend torch (or without --fp16)"
            )
        return error

    def run_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x S x S float RGB in [0, 1] (N <= max_batch) -> output (float32, CUDA)."""
        with torch.inference_mode():
            return self.module(x.to(device="cuda", dtype=self.dtype).contiguous()).float()

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """N x S x S x 3K uint8 BGR crops -> deblurred (middle) crops; batches above max_batch run in chunks."""
        check_batch(crops, self.input_size, self.frames)
        if len(crops) == 0:
            return crops[..., :3].copy()
        order = bgr_to_rgb_order(3 * self.frames)
        outs = []
        with torch.inference_mode():
            for start in range(0, len(crops), self.max_batch):
                raw = torch.from_numpy(np.ascontiguousarray(crops[start : start + self.max_batch])).cuda()
                x = raw.permute(0, 3, 1, 2)[:, order].float().div_(255.0)
                y = self.run_tensor(x).mul_(255.0).add_(0.5).clamp_(0.0, 255.0).to(torch.uint8)
                outs.append(y.flip(1).permute(0, 2, 3, 1).contiguous().cpu().numpy())
        return np.concatenate(outs) if len(outs) > 1 else outs[0]
