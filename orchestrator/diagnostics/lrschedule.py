"""An LR schedule that ends the learning early (code `lr_too_low`, warning): once per run, before training.

The scheduler steps once per iteration, so its milestones, step sizes and T_max count iterations. A schedule written
in epochs (MultiStepLR at [30, 60, 90], ExponentialLR at 0.95, StepLR every step) then takes the LR down by orders of
magnitude within the first hundred iterations, and the stage trains on at a thousandth of it; a warm-up over more
iterations than the stage has keeps it there from the start. The ladder may even converge on its first, smallest
stages before the LR is gone (benchmarks/holdout44's barchart), so the failure checks never see it.

The schedule is stepped on a one-value copy of the optimiser (no model, no data) for the first `schedule.window`
share (10%) of the first stage's budget, at least `schedule.min_steps` (100) iterations. Fires when the LR over the
second half of that window stays at or below `schedule.floor` (1%) of its peak over the first half (a decay), or when it
never reaches that share of the configured LR (a warm-up that does not end). Cosine annealing over the budget, steps
of 300 iterations and warm restarts keep it above; ReduceLROnPlateau, which needs a metric, is not judged.
"""
from __future__ import annotations

import warnings
from typing import Optional

import torch

from ..diagnosis import Diagnosis
from ..optim import make_optimizer
from ..schedule import make_scheduler
from .common import num
from .config import ScheduleConfig

ROUNDING = 1e-3  # relative: 0.1 * 0.1 * 3e-3 in float lies either side of 1% of 3e-3


def early_decay(c: ScheduleConfig, settings) -> Optional[Diagnosis]:
    if not settings.optim.scheduler._target_ or settings.lr <= 0:
        return None
    steps = max(c.min_steps, int(c.window * settings.budget))
    lrs = _stepped(settings, steps)
    if lrs is None:
        return None
    half = steps // 2
    peak, late = max(lrs[:half]), max(lrs[half:])
    name = settings.optim.scheduler._target_.rsplit(".", 1)[-1]
    if late <= c.floor * peak * (1 + ROUNDING):  # (at 1%: gamma 0.1 at two milestones, in float)
        what = (f"takes the LR from {num(peak)} down to {num(late)} at most over iterations {half}-{steps} "
                f"({num(late / peak)}x its peak)")
    elif max(peak, late) <= c.floor * settings.lr * (1 + ROUNDING):
        what = (f"keeps the LR at {num(late)} at most for the first {steps} iterations ({num(late / settings.lr)}x "
                f"the configured {num(settings.lr)})")
    else:
        return None
    return Diagnosis(
        "lr_too_low", "warning", f"the LR schedule ({name}) {what}, within the first {steps} of the stage's "
        f"{settings.budget}-iteration budget: the scheduler steps every iteration, so its milestones, step sizes and "
        "T_max count iterations, not epochs", evidence={"schedule": name, "peak_lr": num(peak), "late_lr": num(late),
                                                        "steps": steps, "budget": settings.budget},
        fix="count the schedule in iterations (epochs x iterations per epoch), or drop it")


def _stepped(settings, steps: int) -> Optional[list]:
    """The LR the schedule sets at each of the first `steps` iterations (None: a schedule that cannot be stepped
    without a metric, or the optimiser's own needs)."""
    param = torch.zeros(1, requires_grad=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = make_optimizer([param], settings.optim, settings.lr)
            scheduler = make_scheduler(opt, settings.optim.scheduler)
            lrs = []
            for _ in range(steps):
                lrs.append(float(opt.param_groups[0]["lr"]))
                opt.step()
                scheduler.step()
    except Exception:  # noqa: BLE001 - ReduceLROnPlateau wants a metric; a custom schedule its own arguments
        return None
    return lrs
