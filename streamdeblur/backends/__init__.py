"""Deblur engines: run a registered model on batches of face crops.

backend 'auto' picks tensorrt (if importable and CUDA) > torch on CUDA > onnxruntime on CPU.

Every engine takes N x S x S x 3 uint8 BGR crops (any N, S = the model's input size) and returns
the deblurred crops in the same layout; BGR->RGB, /255 and NCHW happen inside. The batch axis is
dynamic: no padding to a fixed batch.

--fp16 runs half precision where it is real: torch on CUDA and TensorRT. On a CPU device (torch
or onnxruntime) it is ignored with a warning and the engine runs fp32 (its name says so).

Built artifacts are cached under streamdeblur.paths.cache_dir(): onnx/<model>-<weights hash>.onnx
and tensorrt/<model>-<weights hash>-<precision>-b<max batch>-<gpu>-trt<version>.ep; the weights
hash is models.state_hash of the loaded module, so new weights never reuse an old artifact.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from streamdeblur.errors import MissingWeightsError, UserError

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")


class Engine(Protocol):
    name: str  # e.g. "torch-cpu", "onnxruntime-cpu", "tensorrt-fp16", "identity"
    input_size: int

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """N x S x S x 3 uint8 BGR crops -> deblurred crops of the same shape and dtype."""
        ...


class IdentityEngine:
    """Returns its input: for tests and for measuring the pipeline without a network."""

    name = "identity"

    def __init__(self, input_size: int = 128) -> None:
        self.input_size = input_size

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        return crops


def _resolve_device(device: str):  # -> torch.device
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise UserError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if resolved.type not in ("cpu", "cuda"):
        raise UserError(f"unsupported device {device!r}; use auto, cpu, cuda or cuda:N")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for, but this torch has no CUDA device; use --device cpu")
    return resolved


def _onnx_path(name: str, key: str) -> Path:
    from streamdeblur.paths import cache_dir

    return cache_dir() / "onnx" / f"{name}-{key}.onnx"


def onnx_model_path(model: str, weights: Path | None = None, allow_random: bool = False) -> Path:
    """The cached ONNX file of a model (exported and checked on first use)."""
    from streamdeblur.backends.onnx_backend import export_checked
    from streamdeblur.models import get_spec, load_model, state_hash

    spec = get_spec(model)
    module = load_model(model, weights, allow_random)
    path = _onnx_path(spec.name, state_hash(module))
    if not path.is_file():
        log.info("exporting %s to ONNX (once; cached at %s)", model, path)
        export_checked(module, spec.input_size, path)
    return path


def export_onnx(model: str, out_path: Path | str, weights: Path | None = None, allow_random: bool = False) -> Path:
    """Export a registered model to an ONNX file (dynamic batch, checked against torch)."""
    from streamdeblur.backends.onnx_backend import export_checked
    from streamdeblur.models import get_spec, load_model

    spec = get_spec(model)
    out = Path(out_path)
    if out.is_dir():
        raise UserError(f"output {out} is a directory; give a file name such as {out / (model + '.onnx')}")
    return export_checked(load_model(model, weights, allow_random), spec.input_size, out)


def _torch_engine(model: str, device, fp16: bool, weights, allow_random: bool, channels_last: bool, compile: bool):
    from streamdeblur.backends.torch_backend import TorchEngine
    from streamdeblur.models import get_spec, load_model

    if fp16 and device.type != "cuda":
        log.warning("--fp16 needs CUDA; the torch engine runs fp32 on %s", device)
        fp16 = False
    module = load_model(model, weights, allow_random)
    return TorchEngine(module, get_spec(model).input_size, device, fp16, channels_last, compile)


def _onnx_engine(model: str, device, fp16: bool, weights, allow_random: bool, threads: int | None):
    import onnxruntime as ort

    from streamdeblur.backends.onnx_backend import OnnxEngine
    from streamdeblur.models import get_spec

    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device is not None and device.type == "cuda" and not has_cuda:
        raise UserError("this onnxruntime has no CUDA provider; install onnxruntime-gpu, or use --device cpu")
    cuda = has_cuda and (device is None or device.type == "cuda")  # device None: auto
    if fp16:
        log.warning("--fp16 is not supported by the onnxruntime backend; running fp32")
    path = onnx_model_path(model, weights, allow_random)
    device_id = device.index if device is not None and device.index is not None else 0
    return OnnxEngine(path, get_spec(model).input_size, threads=threads, cuda=cuda, device_id=device_id)


def _tensorrt_engine(model: str, fp16: bool, weights, allow_random: bool, max_batch: int):
    from streamdeblur.backends.tensorrt_backend import TensorRTEngine, import_tensorrt
    from streamdeblur.models import get_spec, load_model, state_hash
    from streamdeblur.paths import cache_dir

    import_tensorrt()  # the clear message before loading anything
    spec = get_spec(model)
    module = load_model(model, weights, allow_random)
    key = f"{spec.name}-{state_hash(module)}"
    return TensorRTEngine(module, spec.input_size, key, cache_dir() / "tensorrt", fp16=fp16, max_batch=max_batch)


def create_engine(
    model: str,
    backend: str = "auto",
    device: str = "auto",
    fp16: bool = False,
    weights: Path | None = None,
    allow_random: bool = False,
    threads: int | None = None,
    channels_last: bool = True,
    compile: bool = False,
    max_batch: int = 32,
) -> Engine:
    """Build an engine; UserError for an unknown backend or a backend not available here.

    model 'identity' gives the IdentityEngine (128 px). threads: onnxruntime intra-op threads, or
    torch.set_num_threads for the torch backend (process-wide). channels_last/compile: torch only.
    max_batch: TensorRT's largest batch (bigger batches run in chunks).
    """
    from streamdeblur.models import get_spec

    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if model == "identity":
        return IdentityEngine()
    get_spec(model)  # unknown model -> UserError before anything heavy
    resolved = _resolve_device(device)
    if backend == "auto":
        if resolved.type == "cuda":
            from streamdeblur.backends.tensorrt_backend import tensorrt_available

            if tensorrt_available():
                try:
                    return _tensorrt_engine(model, fp16, weights, allow_random, max_batch)
                except MissingWeightsError:
                    raise
                except UserError as exc:
                    log.warning("tensorrt engine refused (%s); using torch on CUDA", exc)
            backend = "torch"
        else:
            backend = "onnxruntime"
    if backend == "torch":
        if threads:
            import torch

            torch.set_num_threads(threads)
        return _torch_engine(model, resolved, fp16, weights, allow_random, channels_last, compile)
    if backend == "onnxruntime":
        return _onnx_engine(model, None if device == "auto" else resolved, fp16, weights, allow_random, threads)
    if resolved.type != "cuda" and device != "auto":
        raise UserError("the tensorrt backend runs on CUDA only; drop --device cpu or use another backend")
    return _tensorrt_engine(model, fp16, weights, allow_random, max_batch)


def crops_per_second(engine: Engine, batch: int = 8, repeats: int = 5, warmup: int = 2, seed: int = 0) -> float:
    """Median throughput of an engine in crops/s, on random crops `batch` at a time."""
    import time

    crops = np.random.default_rng(seed).integers(0, 256, (batch, engine.input_size, engine.input_size, 3), np.uint8)
    for _ in range(warmup):
        engine(crops)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        engine(crops)
        times.append(time.perf_counter() - start)
    return batch / float(np.median(times))
