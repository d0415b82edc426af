"""An LR schedule written in epochs but stepped every iteration (lrschedule.early_decay), judged before training."""
from __future__ import annotations

import pytest

from orchestrator.config import OptimConfig, SchedulerConfig
from orchestrator.diagnostics.config import ScheduleConfig
from orchestrator.diagnostics.lrschedule import early_decay
from orchestrator.trainer import TrainSettings

LR, BUDGET = 3e-3, 2000


def settings(target: str, optim: str = "adam", **args) -> TrainSettings:
    return TrainSettings(budget=BUDGET, lr=LR, batch_size=32, seed=0,
                         optim=OptimConfig(name=optim, scheduler=SchedulerConfig(_target_=target, args=args)))


S = "torch.optim.lr_scheduler."


@pytest.mark.parametrize("target,args", [
    ("MultiStepLR", {"milestones": [30, 60, 90], "gamma": 0.1}),  # milestones meant in epochs
    ("MultiStepLR", {"milestones": [30, 80], "gamma": 0.1}),      # exactly 1% of the peak from iteration 80
    ("ExponentialLR", {"gamma": 0.95}),                           # a per-epoch decay
    ("StepLR", {"step_size": 1, "gamma": 0.9}),
    ("LinearLR", {"start_factor": 0.001, "total_iters": 100000}),  # a warm-up longer than the whole run
])
def test_a_schedule_that_ends_the_learning_early_is_named(target, args):
    d = early_decay(ScheduleConfig(), settings(S + target, **args))
    assert d is not None and d.code == "lr_too_low" and d.severity == "warning"
    assert d.evidence["late_lr"] <= 0.0101 * LR


@pytest.mark.parametrize("target,args,optim", [
    ("CosineAnnealingLR", {"T_max": BUDGET}, "adam"),
    ("StepLR", {"step_size": 300, "gamma": 0.5}, "sgd"),
    ("CosineAnnealingWarmRestarts", {"T_0": 50}, "adam"),
    ("OneCycleLR", {"max_lr": LR, "total_steps": BUDGET}, "sgd"),
    ("ExponentialLR", {"gamma": 0.999}, "adam"),
    ("LinearLR", {"start_factor": 0.01, "total_iters": 100}, "adam"),  # a warm-up that ends
    ("ReduceLROnPlateau", {}, "adam"),  # needs a metric: not judged
])
def test_usual_schedules_are_not(target, args, optim):
    assert early_decay(ScheduleConfig(), settings(S + target, optim, **args)) is None
