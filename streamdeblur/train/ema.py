"""Exponential moving average of a network's weights (the released weights are the EMA's)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class EMA:
    """Exponential moving average of a module's parameters (buffers copied), with a short warm-up."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Move the average towards module's current weights."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ema_p = [p for p in self.module.parameters()]
        new_p = [p.detach() for p in module.parameters()]
        torch._foreach_lerp_(ema_p, new_p, 1.0 - d)
        for e, b in zip(self.module.buffers(), module.buffers()):
            e.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
