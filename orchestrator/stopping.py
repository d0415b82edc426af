"""When a stage stops training: small checks, each returning a reason or None, tried in order."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

from .ladder import Goal


@dataclass
class Progress:
    iteration: int
    budget: int
    metric: str
    value: float               # the goal metric at this evaluation
    best: Optional[float]
    evals_since_best: int


Check = Callable[[Progress], Optional[str]]


def goal_reached(goal: Goal) -> Check:
    sign = ">=" if goal.mode == "max" else "<="

    def check(p: Progress) -> Optional[str]:
        if goal.met(p.value):
            return f"goal met: {p.metric} {p.value:.4g} {sign} {goal.target:g} at iteration {p.iteration}"
        return None
    return check


def not_finite(p: Progress) -> Optional[str]:
    if not math.isfinite(p.value):
        return f"{p.metric} is {p.value} at iteration {p.iteration}"
    return None


def plateaued(patience: int) -> Check:
    def check(p: Progress) -> Optional[str]:
        if patience > 0 and p.evals_since_best >= patience:
            return (f"plateau: {p.metric} has not improved on {p.best:.4g} for {p.evals_since_best} "
                    f"evaluations (iteration {p.iteration} of {p.budget})")
        return None
    return check


def asked_to_stop(run) -> Check:
    """A monitor asked the stage to end (StageRun.stop holds why)."""
    def check(p: Progress) -> Optional[str]:
        return f"stopped at iteration {p.iteration}: {run.stop}" if run.stop else None
    return check


def budget_spent(p: Progress) -> Optional[str]:
    if p.iteration >= p.budget:
        best = f"{p.best:.4g}" if p.best is not None else "none"
        return f"budget spent: {p.budget} iterations, best {p.metric} {best}"
    return None


def evaluation_spacing(budget: int, eval_every: int, max_evals: int) -> int:
    """Iterations between evaluations for a stage of `budget` iterations.

    A stage evaluates at most ~`max_evals` times (0: no limit): the growth rule can give a late stage 10x
    its predecessor's iterations, and checking its goal every `eval_every` iterations then costs as much
    as training when an evaluation is dear (the bug suite's GRU: 45% of an 11000-iteration stage). A goal
    is then noticed at most budget / max_evals iterations late. Patience stays a number of evaluations,
    so a long stage also waits longer on a plateau (the addition task's last stage sits on one for
    ~1000 iterations before it climbs again).
    """
    return max(eval_every, -(-budget // max_evals)) if max_evals > 0 else eval_every


def first_reason(checks: list[Check], p: Progress) -> Optional[str]:
    return next((r for r in (c(p) for c in checks) if r), None)
