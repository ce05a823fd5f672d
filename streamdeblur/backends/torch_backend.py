"""The torch engine: CPU or CUDA, fp16 on CUDA, channels_last, optional torch.compile."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from streamdeblur.backends.common import bgr_to_rgb_order, check_batch


class TorchEngine:
    """Runs an [0, 1] image module on N x S x S x 3 uint8 BGR batches under torch.inference_mode."""

    def __init__(
        self,
        module: nn.Module,
        input_size: int,
        device: torch.device,
        fp16: bool = False,
        channels_last: bool = True,
        compile: bool = False,
        frames: int = 1,
    ) -> None:
        if fp16 and device.type != "cuda":
            raise ValueError("fp16 needs a CUDA device")
        self.input_size, self.frames = input_size, frames
        self.device = device
        self.dtype = torch.float16 if fp16 else torch.float32
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.name = f"torch-{device.type}" + ("-fp16" if fp16 else "")
        module = module.eval().to(device=device, dtype=self.dtype, memory_format=self.memory_format)
        self.module: nn.Module = torch.compile(module) if compile else module  # type: ignore[assignment]

    def run_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x S x S float RGB in [0, 1] -> the model's output (float32, on this device)."""
        with torch.inference_mode():
            x = x.to(device=self.device, dtype=self.dtype).contiguous(memory_format=self.memory_format)
            return self.module(x).float()

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """N x S x S x 3K uint8 BGR crops (K stacked frames) -> the deblurred (middle) crops, N x S x S x 3."""
        check_batch(crops, self.input_size, self.frames)
        if len(crops) == 0:
            return crops[..., :3].copy()
        with torch.inference_mode():
            raw = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device, non_blocking=True)
            nchw = raw.permute(0, 3, 1, 2)
            nchw = nchw.flip(1) if self.frames == 1 else nchw[:, bgr_to_rgb_order(3 * self.frames)]
            x = nchw.to(self.dtype).div_(255.0)
            y = self.run_tensor(x)
            out = y.mul_(255.0).add_(0.5).clamp_(0.0, 255.0).to(torch.uint8)
            return out.flip(1).permute(0, 2, 3, 1).contiguous().cpu().numpy()
