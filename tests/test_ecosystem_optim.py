"""Any optimiser and scheduler by `_target_`, beside the short names; checked before the run starts."""
import pytest
import torch
from conftest import events, stage_run
from eco_tasks import LADDER, QUICK, BlobsTask

import orchestrator
from orchestrator.config import OptimConfig, SchedulerConfig
from orchestrator.errors import ConfigError
from orchestrator.optim import check, make_optimizer


def test_short_names_and_any_class_by_target():
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer(params, OptimConfig(name="sgd"), 0.1), torch.optim.SGD)
    radam = make_optimizer(params, OptimConfig(_target_="torch.optim.RAdam", args={"betas": [0.8, 0.99]}), 0.1)
    assert isinstance(radam, torch.optim.RAdam)
    assert radam.param_groups[0]["lr"] == 0.1 and tuple(radam.param_groups[0]["betas"]) == (0.8, 0.99)


@pytest.mark.parametrize("cfg, says", [
    (OptimConfig(name="lion"), "optim.name: unknown optimizer 'lion'"),
    (OptimConfig(_target_="torch.optim.Nope"), "optim._target_: cannot import 'torch.optim.Nope'"),
    (OptimConfig(_target_="torch.optim.SGD", args={"momentm": 0.9}), "optim.args.momentm: SGD takes no argument"),
    (OptimConfig(args={"eps": 1e-8}), "optim.args: "),
    (OptimConfig(scheduler=SchedulerConfig(_target_="torch.optim.lr_scheduler.StepLR", args={"step": 3})),
     "optim.scheduler.args.step: StepLR takes no argument 'step'"),
])
def test_a_bad_choice_is_refused_with_its_key(cfg, says):
    with pytest.raises(ConfigError) as e:
        check(cfg, "task.yaml")
    assert says in str(e.value)


def test_a_scheduler_steps_every_iteration_alongside_the_user_optimiser(tmp_path):
    overrides = {**QUICK, "optim.lr": 0.02, "optim._target_": "torch.optim.RAdam",
                 "optim.scheduler._target_": "torch.optim.lr_scheduler.StepLR",
                 "optim.scheduler.args": {"step_size": 20, "gamma": 0.7}}
    result = orchestrator.run(BlobsTask(), ladder=LADDER, overrides=overrides, run_dir=tmp_path / "run")
    assert result.converged
    logged = events(stage_run(tmp_path / "run", "few")).Scalars("lr")
    assert len(logged) >= 2
    for e in logged:  # StepLR counts iterations: 0.7x every 20 of them
        assert e.value == pytest.approx(0.02 * 0.7 ** (e.step // 20), rel=1e-4)
