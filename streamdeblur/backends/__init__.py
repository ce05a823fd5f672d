"""Deblur engines: run a registered model on batches of face crops.

backend 'auto' picks tensorrt (if importable and CUDA) > torch on CUDA > onnxruntime on CPU.

Every engine takes N x S x S x 3 uint8 BGR crops (any N, S = the model's input size) and returns
the deblurred crops in the same layout; BGR->RGB, /255 and NCHW happen inside. The batch axis is
dynamic: no padding to a fixed batch.

--fp16 runs half precision where it is real: torch on CUDA and TensorRT. On a CPU device (torch
or onnxruntime) it is ignored with a warning and the engine runs fp32 (its name says so).

A temporal engine whose model aligns by flow (ModelSpec.align, e.g. naf-t3f) is wrapped in FlowAlignedEngine:
its neighbouring crops are warped onto the middle one (faces/flow.py) before the network sees them.

A released engine's card may set "settle": [LOW, HIGH] (grey levels). The engine then leaves a face whose own
correction is negligible as it came: with m the crop's mean absolute correction (output minus input), the output
is input + s * correction, s = 0 below LOW (bit-exact input), 1 above HIGH, linear between (SettledEngine).
Sharp faces are where a deblurrer does harm, and there its correction is small: this spares them after the
engine has run, as gating by track motion spares them before it (and saves the compute).

Built artifacts are cached under streamdeblur.paths.cache_dir(): onnx/<model>-<weights hash>.onnx
and tensorrt/<model>-<weights hash>-<precision>-b<max batch>-<gpu>-trt<version>.ep; the weights
hash is models.state_hash of the loaded module, so new weights never reuse an old artifact.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from streamdeblur.backends.common import check_batch
from streamdeblur.errors import MissingWeightsError, UserError

if TYPE_CHECKING:
    from streamdeblur.models import ModelSpec

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")


class Engine(Protocol):
    name: str  # e.g. "torch-cpu", "onnxruntime-cpu", "tensorrt-fp16", "identity"
    input_size: int
    frames: int  # K consecutive crops of one track per input (1: single-frame engines)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """N x S x S x 3K uint8 BGR crops (K frames stacked on the channel axis, the restored one in the
        middle) -> the deblurred middle crops, N x S x S x 3 uint8."""
        ...


class IdentityEngine:
    """Returns its (middle) input crops: for tests and for measuring the pipeline without a network."""

    name = "identity"
    model = "identity"

    def __init__(self, input_size: int = 128, frames: int = 1) -> None:
        self.input_size, self.frames = input_size, frames

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        if self.frames == 1:
            return crops
        k = self.frames // 2
        return np.ascontiguousarray(crops[..., 3 * k:3 * k + 3])


class EngineWrapper:
    """An engine around another one: its name, input size and frames, and the backend's own attributes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.name = engine.name
        self.input_size, self.frames = engine.input_size, int(getattr(engine, "frames", 1))

    def __getattr__(self, attr: str) -> Any:  # the backend's own attributes (session, module, ...)
        return getattr(self.__dict__["engine"], attr)


class FlowAlignedEngine(EngineWrapper):
    """A temporal engine whose other crops are first warped onto the middle one by optical flow (faces/flow.py),
    as its training groups were."""

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        from streamdeblur.faces.flow import align_stack

        check_batch(crops, self.input_size, self.frames)
        return self.engine(np.stack([align_stack(c) for c in crops]) if len(crops) else crops)


class SettledEngine(EngineWrapper):
    """An engine whose small corrections are faded out per crop (see the module docstring: "settle")."""

    def __init__(self, engine: Engine, low: float, high: float) -> None:
        check_settle(low, high)
        super().__init__(engine)
        self.low, self.high = float(low), float(high)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        out = self.engine(crops)
        k = self.frames // 2
        given = crops[..., 3 * k:3 * k + 3] if self.frames > 1 else crops
        return settle_crops(given, out, self.low, self.high)


class PersonalEngine(EngineWrapper):
    """An adapted engine (`streamdeblur adapt`) for the person of its references, beside the released engine it
    was adapted from: `routes` (this engine, the base) and `matcher` (faces/person.py) let the deblur stage give
    each track the engine for its face. Called directly on crops (no tracks: `eval --pairs`), it decides crop by
    crop on each one's own embedding (matcher.one; its landmarks are where the crop's alignment put them)."""

    def __init__(self, engine: Engine, base: Engine, matcher: Any) -> None:
        super().__init__(engine)
        self.base, self.matcher = base, matcher
        self.routes = (engine, base)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        from streamdeblur.faces.crops import template_points

        k = self.frames // 2
        middle = crops[..., 3 * k:3 * k + 3]
        points, size = template_points(self.input_size), self.input_size
        mine = np.array([self.matcher.one(c, np.array([0, 0, size, size]), points) for c in middle], bool)
        out = np.empty(middle.shape, np.uint8)
        for route, chosen in ((self.engine, mine), (self.base, ~mine)):
            if chosen.any():
                out[chosen] = route(crops[chosen])
        return out


def check_settle(low: float, high: float) -> None:
    """UserError unless 0 <= LOW < HIGH (a settle range, grey levels)."""
    if not 0 <= low < high:
        raise UserError(f"--settle needs 0 <= LOW < HIGH, got {low:g},{high:g}")


def settle_crops(given: np.ndarray, restored: np.ndarray, low: float, high: float) -> np.ndarray:
    """N crops: given + s * (restored - given), s per crop from its mean absolute correction (module docstring)."""
    correction = restored.astype(np.float32) - given.astype(np.float32)
    amount = np.abs(correction).reshape(len(correction), -1).mean(axis=1)
    scale = np.clip((amount - low) / (high - low), 0.0, 1.0)
    out = restored.copy()
    for i in np.flatnonzero(scale < 1.0):
        out[i] = given[i] if scale[i] == 0.0 else np.clip(given[i] + scale[i] * correction[i] + 0.5, 0, 255)
    return out


def auto_backend(device: Any = None) -> str:
    """The backend `--backend auto` runs on a device (a torch.device; None: the one `--device auto` picks):
    tensorrt where importable on CUDA, else torch on CUDA, onnxruntime on a CPU."""
    if (device if device is not None else _resolve_device("auto")).type != "cuda":
        return "onnxruntime"
    from streamdeblur.backends.tensorrt_backend import tensorrt_available

    return "tensorrt" if tensorrt_available() else "torch"


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


def _spec_of(model: "str | ModelSpec") -> "ModelSpec":
    from streamdeblur.models import get_spec

    return get_spec(model) if isinstance(model, str) else model


def onnx_model_path(model: "str | ModelSpec", weights: Path | None = None, allow_random: bool = False,
                    module: Any = None) -> Path:
    """The cached ONNX file of a model (exported and checked on first use); module: the loaded model, if at hand."""
    from streamdeblur.backends.onnx_backend import export_checked
    from streamdeblur.models import inference_form, load_model, state_hash

    spec = _spec_of(model)
    module = module if module is not None else inference_form(load_model(spec.name, weights, allow_random))
    path = _onnx_path(spec.name, state_hash(module))
    if not path.is_file():
        log.info("exporting %s to ONNX (once; cached at %s)", spec.name, path)
        export_checked(module, spec.input_size, path, frames=spec.frames)
    return path


def export_onnx(model: str, out_path: Path | str, weights: Path | None = None, allow_random: bool = False) -> Path:
    """Export a registered model to an ONNX file (dynamic batch, checked against torch)."""
    from streamdeblur.backends.onnx_backend import export_checked
    from streamdeblur.models import inference_form, load_model

    spec = _spec_of(model)
    if not spec.exportable:
        raise UserError(f"model {spec.name!r} has no network to export")
    out = Path(out_path)
    if out.is_dir():
        raise UserError(f"output {out} is a directory; give a file name such as {out / (model + '.onnx')}")
    return export_checked(inference_form(load_model(spec.name, weights, allow_random)), spec.input_size, out,
                          frames=spec.frames)


def create_engine(model: "str | ModelSpec", settle: "tuple[float, float] | str | None" = "card",
                  **kwargs: Any) -> Engine:
    """The one place a registry entry becomes an engine (see _create_engine for the other arguments); the engine
    carries its model's name (engine.model) and its card's gate level for `process` (engine.gate, None for
    none). settle: (LOW, HIGH), None for none, or "card": the card's own ("settle"). The card is the released
    engine's, or with weights an engine folder's (what `release -o` and `adapt -o` write); a bare weights file
    has none, so no settle range and no gate.

    An engine folder's model.safetensors runs as the model its card names; an adapted engine whose card records
    its person becomes a PersonalEngine beside the released engine it came from."""
    folder = kwargs.get("weights")
    if folder is not None and Path(folder).is_dir():
        return _folder_engine(model if isinstance(model, str) else model.name, Path(folder), settle, kwargs)
    engine = _create_engine(model, **kwargs)
    spec = _spec_of(model)
    name = spec.name
    if spec.align == "flow" and spec.frames > 1 and engine.name != "identity":
        engine = FlowAlignedEngine(engine)
    card: dict = {}
    if kwargs.get("weights") is None and engine.name != "identity":
        from streamdeblur.models import read_card

        card = read_card(name)
    if settle == "card":
        settle = card.get("settle")
    if settle is not None:
        engine = SettledEngine(engine, *settle)
    engine.model = name
    engine.gate = card.get("gate")
    engine.align = spec.align  # how Restorer stacks a temporal engine's crops ("centre": re-cut, faces/flow.py)
    return engine


def _folder_engine(model: str, folder: Path, settle: "tuple[float, float] | str | None",
                   kwargs: dict[str, Any]) -> Engine:
    """create_engine for --weights FOLDER (see there; a folder without a card runs as `model`)."""
    from streamdeblur.models import engine_in_folder, folder_card

    name, weights = engine_in_folder(model, folder)
    card = folder_card(folder)
    engine = create_engine(name, card.get("settle") if settle == "card" else settle, **{**kwargs, "weights": weights})
    engine.gate = card.get("gate")
    identity = (card.get("adapted") or {}).get("identity")
    if not identity:
        return engine
    from streamdeblur.faces.person import PersonMatcher, create_embedder

    try:
        embedder = create_embedder(identity["embedder"])
    except UserError as exc:
        log.warning("%s: cannot tell whose face is whose (%s), so this engine adapted to one person restores "
                    "every face", folder, exc)
        return engine
    try:
        base = create_engine(name, settle, **{**kwargs, "weights": None})  # "card": the released settle range
    except MissingWeightsError:  # no released engine to fall back on: the other faces are left as they are
        base = IdentityEngine(engine.input_size, engine.frames)
    personal = PersonalEngine(engine, base, PersonMatcher(identity, embedder))
    personal.model, personal.gate = name, engine.gate
    return personal


def _create_engine(
    model: "str | ModelSpec",
    backend: str = "auto",
    device: str = "auto",
    fp16: bool = False,
    weights: Path | None = None,
    allow_random: bool = False,
    threads: int | None = None,
    batch_size: int = 32,
    channels_last: bool = True,
    compile: bool = False,
) -> Engine:
    """The one place a registry entry becomes an engine; UserError for a model, backend or device that
    cannot run here (before anything heavy is loaded where possible).

    The spec is resolved and the module loaded once; each backend receives them. The registered
    pass-through model 'identity' returns its input bit for bit on any backend. threads:
    onnxruntime intra-op threads, or torch.set_num_threads for the torch backend (process-wide).
    batch_size: the largest batch the engine is called with (TensorRT's optimisation profile;
    bigger batches run in chunks). channels_last/compile: torch only.
    """
    from streamdeblur.models import inference_form, load_model

    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {batch_size}")
    spec = _spec_of(model)  # unknown model -> UserError before anything heavy
    if not spec.exportable:
        return IdentityEngine(spec.input_size, spec.frames)
    resolved = _resolve_device(device)
    auto = backend == "auto"
    if auto:
        backend = auto_backend(resolved)
    if backend == "tensorrt" and resolved.type != "cuda" and device != "auto":
        raise UserError("the tensorrt backend runs on CUDA only; drop --device cpu or use another backend")
    if backend == "onnxruntime":
        _check_onnx_device(None if device == "auto" else resolved)
    if backend == "tensorrt":
        from streamdeblur.backends.tensorrt_backend import import_tensorrt

        import_tensorrt()  # the clear message before loading anything
    module = inference_form(load_model(spec.name, weights, allow_random))
    if backend == "tensorrt":
        try:
            return _tensorrt_engine(spec, module, fp16, batch_size)
        except MissingWeightsError:
            raise
        except UserError as exc:
            if not auto:
                raise
            log.warning("tensorrt engine refused (%s); using torch on CUDA", exc)
            backend = "torch"
    if backend == "torch":
        from streamdeblur.backends.torch_backend import TorchEngine

        if threads:
            import torch

            torch.set_num_threads(threads)
        if fp16 and resolved.type != "cuda":
            log.warning("--fp16 needs CUDA; the torch engine runs fp32 on %s", resolved)
            fp16 = False
        return TorchEngine(module, spec.input_size, resolved, fp16, channels_last, compile, frames=spec.frames)
    return _onnx_engine(spec, module, None if device == "auto" else resolved, fp16, weights, threads)


def _check_onnx_device(device: Any) -> None:
    import onnxruntime as ort

    if device is not None and device.type == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise UserError("this onnxruntime has no CUDA provider; install onnxruntime-gpu, or use --device cpu")


def _onnx_engine(spec: "ModelSpec", module: Any, device: Any, fp16: bool, weights: Path | None,
                 threads: int | None) -> Engine:
    import onnxruntime as ort

    from streamdeblur.backends.onnx_backend import OnnxEngine

    cuda = "CUDAExecutionProvider" in ort.get_available_providers() and (device is None or device.type == "cuda")
    if fp16:
        log.warning("--fp16 is not supported by the onnxruntime backend; running fp32")
    path = onnx_model_path(spec, weights, module=module)
    device_id = device.index if device is not None and device.index is not None else 0
    return OnnxEngine(path, spec.input_size, threads=threads, cuda=cuda, device_id=device_id, frames=spec.frames)


def _tensorrt_engine(spec: "ModelSpec", module: Any, fp16: bool, max_batch: int) -> Engine:
    from streamdeblur.backends.tensorrt_backend import TensorRTEngine
    from streamdeblur.models import state_hash
    from streamdeblur.paths import cache_dir

    key = f"{spec.name}-{state_hash(module)}"
    return TensorRTEngine(module, spec.input_size, key, cache_dir() / "tensorrt", fp16=fp16, max_batch=max_batch,
                          frames=spec.frames)


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
