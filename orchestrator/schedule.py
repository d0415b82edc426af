"""LR decay the way the method describes it: after k epochs, divide by `factor` every n epochs."""
from __future__ import annotations

import math
from typing import Optional


def step_decay(base_lr: float, epoch: float, after: Optional[float], every: float, factor: float) -> float:
    """A pure function of the position in training, so it composes and resumes for free."""
    if after is None or epoch < after:
        return base_lr
    return base_lr / factor ** (1 + math.floor((epoch - after) / every))
