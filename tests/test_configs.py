"""Every shipped config composes against the typed schema and its task instantiates."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from orchestrator.config import RunConfig, register
from orchestrator.ladder import from_config
from orchestrator.loading import instantiate_task

CONF = Path(__file__).resolve().parents[1] / "conf"
TASKS = sorted(p.stem for p in (CONF / "task").glob("*.yaml"))


def test_there_are_shipped_tasks():
    assert "digits" in TASKS


@pytest.mark.parametrize("name", TASKS)
def test_shipped_task_composes_and_instantiates(name):
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"+task={name}"])
    run_cfg = OmegaConf.to_object(cfg)
    assert isinstance(run_cfg, RunConfig)
    task = instantiate_task(cfg.task, name)
    ladder, knobs = from_config(run_cfg.ladder.stages, run_cfg.knobs, (*task.metrics, "train/loss"), where=name)
    assert ladder.order(), "a shipped ladder has stages"
    first = ladder.order()[0]
    problem = task.build(first.knobs, seed=0)
    assert problem.train_size > 0
    assert set(problem.evaluate(problem.model.eval())) <= set(task.metrics)
    # the first line of every task file is its package header, the next the command that runs it
    lines = (CONF / "task" / f"{name}.yaml").read_text().splitlines()
    assert lines[0] == "# @package _global_" and "python -m orchestrator" in lines[1]
