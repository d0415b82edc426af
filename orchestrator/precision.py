"""Mixed precision: `precision: 32 | bf16 | 16-mixed`, as Lightning users know it.

bf16 runs the task's loss under autocast (the weights and the optimiser stay in float32); 16-mixed
adds a GradScaler, because float16 gradients underflow without one. The scaler skips a step whose
gradients overflowed and lowers its scale: that is its normal working, not a fault, so such a step
is kept from the non-finite checks (see `Precision.overflowed`).
"""
from __future__ import annotations

import contextlib

from .errors import ConfigError

PRECISIONS = ("32", "bf16", "16-mixed")


def check(precision: str, where: str) -> None:
    if str(precision) not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r} (expected {', '.join(PRECISIONS)})", key="precision",
                          where=where)


class Precision:
    """What the training loop asks: a context for the forward pass, how to backprop, how to step."""

    def __init__(self, precision: str, device: str):
        import torch

        self.name, self.device_type = str(precision), torch.device(device).type
        self.dtype = {"bf16": torch.bfloat16, "16-mixed": torch.float16}.get(self.name)
        self.scaler = torch.amp.GradScaler(self.device_type) if self.name == "16-mixed" else None
        self._plain = contextlib.nullcontext()  # reusable: float32 makes no context object per step

    def autocast(self):
        if self.dtype is None:
            return self._plain
        import torch

        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def unscale(self, optimizer) -> bool:
        """Bring the gradients back to their true size (before clipping and the health checks).
        True when they overflowed: the scaler will skip this step, which is normal for float16."""
        if not self.scaler:
            return False
        self.scaler.unscale_(optimizer)
        found = self.scaler._found_inf_per_device(optimizer)
        return bool(sum(v.item() for v in found.values()))

    def step(self, optimizer) -> None:
        if self.scaler:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()

    def state_dict(self) -> dict:
        return self.scaler.state_dict() if self.scaler else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler and state:
            self.scaler.load_state_dict(state)
