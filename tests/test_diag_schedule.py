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


def plain(optim: OptimConfig) -> TrainSettings:
    return TrainSettings(budget=BUDGET, lr=LR, batch_size=32, seed=0, optim=optim)


def test_an_optimiser_that_decays_its_own_steps_is_named():
    # Adagrad's lr_decay=0.1: lr / (1 + 0.1 t), which param_groups' lr never shows
    d = early_decay(ScheduleConfig(), plain(OptimConfig(_target_="torch.optim.Adagrad", args={"lr_decay": 0.1})))
    assert d is not None and d.code == "lr_too_low" and d.evidence["own_decay"]
    assert d.evidence["late_step"] <= 0.01 * d.evidence["peak_step"]


@pytest.mark.parametrize("optim", [
    OptimConfig(_target_="torch.optim.Adagrad"),  # steps ~ 1/sqrt(t) by design: 0.07 of the first by 200
    OptimConfig(_target_="torch.optim.RMSprop"),  # 10x the LR at first, ~1x later
    OptimConfig(name="sgd", momentum=0.9, weight_decay=0.3),  # the decay is decay_floor's, not a schedule's
    OptimConfig(_target_="torch.optim.Adadelta"),  # its steps grow
    OptimConfig(name="adamw"), OptimConfig(_target_="torch.optim.NAdam"), OptimConfig(_target_="torch.optim.RAdam"),
])
def test_usual_optimisers_are_not(optim):
    assert early_decay(ScheduleConfig(), plain(optim)) is None
