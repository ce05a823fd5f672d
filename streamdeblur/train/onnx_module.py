"""Run a small ONNX graph as a differentiable torch module (for the identity loss).

onnxruntime cannot backpropagate, and onnx2torch needs torchvision (CUDA-only on PyPI), so this
interprets the few operators that face-embedding CNNs use (MobileFaceNet: Conv, Clip, Add, Relu,
Reshape, Constant) plus a handful of common ones. Anything else raises a UserError naming the op.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from streamdeblur.errors import MissingDependencyError, UserError


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(x: Tensor, w: Tensor, b: Tensor | None = None, **a: Any) -> Tensor:
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise UserError("ONNX Conv with auto_pad is not supported by the identity-loss converter")
    top, left, bottom, right = pads
    if top != bottom or left != right:
        x = F.pad(x, (left, right, top, bottom))
        top = left = 0
    return F.conv2d(x, w, b, stride=tuple(a.get("strides", [1, 1])), padding=(top, left),
                    dilation=tuple(a.get("dilations", [1, 1])), groups=int(a.get("group", 1)))


def _clip(x: Tensor, lo: Tensor | None = None, hi: Tensor | None = None, **a: Any) -> Tensor:
    lo_v = float(lo) if lo is not None else a.get("min")
    hi_v = float(hi) if hi is not None else a.get("max")
    return torch.clamp(x, lo_v, hi_v)


def _reshape(x: Tensor, shape: Tensor, **a: Any) -> Tensor:
    dims = [int(s) for s in shape.tolist()]
    dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    if a.get("batch_one") and dims and dims[0] == 1:
        dims[0] = x.shape[0]  # graph exported for batch 1: keep the batch dimension
    return x.reshape(dims)


def _gemm(a_: Tensor, b_: Tensor, c: Tensor | None = None, **a: Any) -> Tensor:
    if a.get("transA", 0):
        a_ = a_.t()
    if a.get("transB", 0):
        b_ = b_.t()
    y = a.get("alpha", 1.0) * (a_ @ b_)
    return y + a.get("beta", 1.0) * c if c is not None else y


def _bn(x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, var: Tensor, **a: Any) -> Tensor:
    return F.batch_norm(x, mean, var, scale, bias, training=False, eps=a.get("epsilon", 1e-5))


def _prelu(x: Tensor, slope: Tensor, **a: Any) -> Tensor:
    return torch.where(x >= 0, x, x * slope)


_OPS: dict[str, Callable[..., Tensor]] = {
    "Conv": _conv,
    "Clip": _clip,
    "Reshape": _reshape,
    "Gemm": _gemm,
    "BatchNormalization": _bn,
    "PRelu": _prelu,
    "Add": lambda x, y, **a: x + y,
    "Sub": lambda x, y, **a: x - y,
    "Mul": lambda x, y, **a: x * y,
    "Div": lambda x, y, **a: x / y,
    "MatMul": lambda x, y, **a: x @ y,
    "Relu": lambda x, **a: F.relu(x),
    "Sigmoid": lambda x, **a: torch.sigmoid(x),
    "Identity": lambda x, **a: x,
    "Flatten": lambda x, **a: x.flatten(a.get("axis", 1)),
    "GlobalAveragePool": lambda x, **a: x.mean(dim=(2, 3), keepdim=True),
    "Concat": lambda *xs, **a: torch.cat(xs, dim=a["axis"]),
}


class OnnxModule(nn.Module):
    """An ONNX graph evaluated node by node with torch ops; initializers are frozen buffers."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        from onnx import numpy_helper

        graph = model.graph
        self.names: dict[str, str] = {}
        for i, init in enumerate(graph.initializer):
            key = f"w{i}"
            self.register_buffer(key, torch.from_numpy(numpy_helper.to_array(init).copy()))
            self.names[init.name] = key
        init_names = set(self.names)
        first = next(i for i in graph.input if i.name not in init_names)
        self.input_name = first.name
        self.output_name = graph.output[0].name
        batch_one = first.type.tensor_type.shape.dim[0].dim_value == 1
        self.nodes: list[tuple[str, list[str], list[str], dict[str, Any]]] = []
        self.constants: dict[str, Tensor] = {}
        for node in graph.node:
            attrs = _attrs(node)
            if node.op_type == "Constant":
                self.constants[node.output[0]] = torch.from_numpy(numpy_helper.to_array(attrs["value"]).copy())
                continue
            if node.op_type not in _OPS:
                raise UserError(f"ONNX op {node.op_type} is not supported by the identity-loss converter; give a TorchScript .pt instead")
            if node.op_type == "Reshape":
                attrs["batch_one"] = batch_one
            self.nodes.append((node.op_type, list(node.input), list(node.output), attrs))

    def forward(self, x: Tensor) -> Tensor:
        values: dict[str, Tensor] = {self.input_name: x}
        values.update({k: v.to(x.device) for k, v in self.constants.items()})
        for name, key in self.names.items():
            values[name] = getattr(self, key)
        for op, inputs, outputs, attrs in self.nodes:
            args = [values[n] if n else None for n in inputs]
            values[outputs[0]] = _OPS[op](*args, **attrs)
        return values[self.output_name]


def load_onnx_module(path: str | Path) -> tuple[OnnxModule, int]:
    """(module, input size) for an ONNX file (external data beside it is loaded too)."""
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependencyError("the identity loss on an ONNX model needs `pip install streamdeblur[onnx]`") from exc
    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    size = int(dims[-1].dim_value) if len(dims) == 4 and dims[-1].dim_value > 0 else 112
    return OnnxModule(model), size
