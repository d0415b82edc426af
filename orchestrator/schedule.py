"""LR schedules: the method's step decay, and any torch scheduler by `_target_` stepped per iteration."""
from __future__ import annotations

import math
from typing import Optional

from .config import SchedulerConfig


def step_decay(base_lr: float, epoch: float, after: Optional[float], every: float, factor: float) -> float:
    """After k epochs, divide by `factor` every n epochs: a pure function of the position in training,
    so it composes and resumes for free."""
    if after is None or epoch < after:
        return base_lr
    return base_lr / factor ** (1 + math.floor((epoch - after) / every))


def make_scheduler(optimizer, cfg: SchedulerConfig):
    """E.g. torch.optim.lr_scheduler.CosineAnnealingLR with args {T_max: 1000}; None when none is set.

    It steps once per iteration (so T_max, step_size, ... count iterations) and its state goes into
    each checkpoint, so a resumed stage continues the schedule where it stopped.
    """
    if not cfg._target_:
        return None
    from .optim import importable

    return importable(cfg._target_, "optim.scheduler._target_")(optimizer, **dict(cfg.args))
