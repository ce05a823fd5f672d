"""The onnxruntime engine: the model exported once to ONNX (dynamic batch), cached, then run by
onnxruntime (CPUExecutionProvider, or CUDAExecutionProvider where onnxruntime has it).

Export uses torch's TorchScript-based exporter (opset 17): it takes well under a second for these
plain convolutional networks, where the torch.export-based default takes 10 s or more; if that
exporter is unavailable (removed in a later torch) the default exporter is used. Every export is
checked against torch on a random batch before it is cached.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from streamdeblur.backends.common import check_batch, to_nchw_rgb, to_nhwc_bgr
from streamdeblur.errors import OutputError, UserError

log = logging.getLogger(__name__)

OPSET = 17
EXPORT_TOLERANCE = 1e-3  # max abs difference on [0, 1] outputs between torch and the exported model


def _export(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    names = dict(input_names=["image"], output_names=["restored"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (example,), str(path), dynamo=False, opset_version=OPSET,
                dynamic_axes={"image": {0: "batch"}, "restored": {0: "batch"}}, **names,
            )
    except (TypeError, RuntimeError, NotImplementedError) as exc:  # legacy exporter unavailable
        log.info("TorchScript ONNX export failed (%s); using the torch.export-based exporter", exc)
        batch = torch.export.Dim("batch", min=1, max=4096)
        torch.onnx.export(
            module, (example,), str(path), dynamo=True, external_data=False, verbose=False,
            dynamic_shapes={"x": {0: batch}}, **names,
        )


def session(path: Path, threads: int | None = None, cuda: bool = False, device_id: int = 0):  # -> InferenceSession
    """An onnxruntime session on the file (all graph optimisations; intra-op threads if given)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.inter_op_num_threads = 1
    # no busy-waiting between runs: the decoder, detector and encoder threads need those cores
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    providers: list = ([("CUDAExecutionProvider", {"device_id": device_id})] if cuda else []) + ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), options, providers=providers)


def check_output_file(path: Path) -> None:
    """Before the export, which takes a while: UserError when a folder above path is a file (the path cannot
    exist); OutputError when its folder takes no file (read-only, permission, full disk). Creates nothing."""
    from streamdeblur.paths import check_folder

    path = Path(path)
    check_folder(path.parent, f"-o {path}:")
    if not path.parent.exists():  # the folders are made later
        return
    probe = path.with_name(f".{path.name}.{os.getpid()}.probe")
    try:
        probe.open("wb").close()
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)


def export_checked(module: nn.Module, input_size: int, path: Path, tolerance: float = EXPORT_TOLERANCE,
                   frames: int = 1) -> Path:
    """Export an [0, 1] image module (3 x frames input channels) to ONNX at path (atomic), refusing an export
    that differs from torch. OutputError when the file cannot be written (nothing is left behind)."""
    path = Path(path)
    check_output_file(path)
    module = module.eval().float().cpu()
    gen = torch.Generator().manual_seed(0)
    example = torch.rand(2, 3 * frames, input_size, input_size, generator=gen)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _export(module, example, tmp)
        check = torch.rand(3, 3 * frames, input_size, input_size, generator=gen)  # another batch size: dynamic axis
        with torch.inference_mode():
            expected = module(check).numpy()
        got = session(tmp, threads=1).run(None, {"image": check.numpy()})[0]
        error = float(np.abs(got - expected).max())
        if not error <= tolerance:
            raise UserError(
                f"the ONNX export differs from torch by {error:.2g} (tolerance {tolerance:g}); use --backend torch"
            )
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, a filesystem gone read-only
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):  # a cleanup failure must not hide the reason
            tmp.unlink(missing_ok=True)
    return path


class OnnxEngine:
    """Runs a cached ONNX model with onnxruntime on N x S x S x 3 uint8 BGR batches."""

    def __init__(
        self, path: Path, input_size: int, threads: int | None = None, cuda: bool = False, device_id: int = 0,
        frames: int = 1,
    ) -> None:
        self.path = Path(path)
        self.input_size, self.frames = input_size, frames
        self.session = session(self.path, threads, cuda, device_id)
        active = self.session.get_providers()[0]
        self.name = "onnxruntime-cuda" if active == "CUDAExecutionProvider" else "onnxruntime-cpu"

    def run_array(self, x: np.ndarray) -> np.ndarray:
        """N x 3 x S x S float32 RGB in [0, 1] -> the model's output."""
        return self.session.run(None, {"image": np.ascontiguousarray(x, dtype=np.float32)})[0]

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """N x S x S x 3K uint8 BGR crops (K stacked frames) -> the deblurred (middle) crops, N x S x S x 3."""
        check_batch(crops, self.input_size, self.frames)
        if len(crops) == 0:
            return crops[..., :3].copy()
        return to_nhwc_bgr(self.run_array(to_nchw_rgb(crops)))
