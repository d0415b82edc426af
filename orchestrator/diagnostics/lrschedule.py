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

The optimiser can decay its own steps behind an LR that stays put (Adagrad's `lr_decay`: lr / (1 + lr_decay t), which
`param_groups` never shows; holdout55's stamps at 0.1 crawled from its first hundred iterations). So the copy is also
given a constant unit gradient, and the size of each step it takes is judged the same way: at or below the floor of the
first half's largest step over the second half. Plain Adagrad (steps ~ 1/sqrt(t): 0.1 of the first by iteration 100),
RMSprop (10x the LR at first, ~1.3x by 100), momentum and Adam stay above it.
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
    if settings.lr <= 0:
        return None
    steps = max(c.min_steps, int(c.window * settings.budget))
    stepped = _stepped(settings, steps)
    if stepped is None:
        return None
    lrs, sizes = stepped
    half = steps // 2
    scheduled = bool(settings.optim.scheduler._target_)
    if scheduled:
        peak, late = max(lrs[:half]), max(lrs[half:])
        name = settings.optim.scheduler._target_.rsplit(".", 1)[-1]
        if late <= c.floor * peak * (1 + ROUNDING):  # (at 1%: gamma 0.1 at two milestones, in float)
            what = (f"takes the LR from {num(peak)} down to {num(late)} at most over iterations {half}-{steps} "
                    f"({num(late / peak)}x its peak)")
            return _said(name, what, peak, late, steps, settings)
        if max(peak, late) <= c.floor * settings.lr * (1 + ROUNDING):
            what = (f"keeps the LR at {num(late)} at most for the first {steps} iterations "
                    f"({num(late / settings.lr)}x the configured {num(settings.lr)})")
            return _said(name, what, peak, late, steps, settings)
    peak, late = max(sizes[:half]), max(sizes[half:])
    if not (peak > 0 and late <= c.floor * peak * (1 + ROUNDING)):
        return None
    name = type_name(settings)
    return Diagnosis(
        "lr_too_low", "warning", f"the optimiser ({name}) shrinks its own steps: under a constant gradient its step "
        f"goes from {num(peak)} to {num(late)} at most over iterations {half}-{steps} ({num(late / peak)}x), while "
        f"its LR stays {num(settings.lr)}, within the first {steps} of the stage's {settings.budget}-iteration budget "
        f"(its arguments: {dict(settings.optim.args)})", evidence={
            "optimizer": name, "peak_step": num(peak), "late_step": num(late), "steps": steps,
            "budget": settings.budget, "own_decay": True},
        fix="drop the optimiser's own decay (e.g. Adagrad's lr_decay=0) or count it in iterations, and let a "
            "schedule in optim.scheduler decay the LR instead")


def _said(name: str, what: str, peak: float, late: float, steps: int, settings) -> Diagnosis:
    return Diagnosis(
        "lr_too_low", "warning", f"the LR schedule ({name}) {what}, within the first {steps} of the stage's "
        f"{settings.budget}-iteration budget: the scheduler steps every iteration, so its milestones, step sizes and "
        "T_max count iterations, not epochs", evidence={"schedule": name, "peak_lr": num(peak), "late_lr": num(late),
                                                        "steps": steps, "budget": settings.budget},
        fix="count the schedule in iterations (epochs x iterations per epoch), or drop it")


def type_name(settings) -> str:
    target = settings.optim._target_
    return target.rsplit(".", 1)[-1] if target else settings.optim.name


def _stepped(settings, steps: int) -> Optional[tuple]:
    """The LR the schedule sets, and the size of the step the optimiser takes under a constant unit gradient, at each
    of the first `steps` iterations (None: a schedule that cannot be stepped without a metric, or an optimiser with
    needs of its own: a closure, sparse gradients)."""
    param = torch.zeros(1, requires_grad=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = make_optimizer([param], settings.optim, settings.lr)
            for group in opt.param_groups:  # a decay pulls the value back toward 0 (failure.decay_floor's business)
                if "weight_decay" in group:
                    group["weight_decay"] = 0.0
            scheduler = make_scheduler(opt, settings.optim.scheduler)
            lrs, sizes = [], []
            for _ in range(steps):
                lrs.append(float(opt.param_groups[0]["lr"]))
                before = float(param)
                param.grad = torch.ones(1)
                opt.step()
                sizes.append(abs(float(param) - before))
                if scheduler is not None:
                    scheduler.step()
    except Exception:  # noqa: BLE001 - ReduceLROnPlateau wants a metric; a custom schedule its own arguments
        return None
    return lrs, sizes
