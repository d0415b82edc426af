"""The Python API: orchestrator.run from a script or notebook, and the Result it returns or loads back."""
import pytest
import torch
from torch import nn
from conftest import TESTS, ladder_json
from toy_task import ToyTask

import orchestrator
from orchestrator.errors import ConfigError
from orchestrator.result import Result

QUICK = {"optim.lr": 1.0, "optim.batch_size": 1, "diagnostics.enabled": False, "log.console": False}
LADDER = {"knobs": {"level": {"easy": 5, "hard": 20, "scale": "log"}},
          "eval_every": 5, "patience": 0,
          "stages": {"near": {"knobs": {"level": 5}, "goal": {"metric": "train/error", "target": 0.01, "mode": "min"}},
                     "far": {"after": ["near"], "goal": {"metric": "train/error", "target": 0.01, "mode": "min"}}}}


def test_a_task_object_and_a_dict_ladder_give_a_result_that_loads_back(tmp_path):
    run_dir = tmp_path / "run"
    result = orchestrator.run(ToyTask(), ladder=LADDER, overrides=QUICK, run_dir=run_dir, live=False)
    assert result.converged and result.exit_code == 0 and result.task == "ToyTask"
    assert [s.name for s in result.stages] == ["near", "far"]
    near, far = result["near"], result["far"]
    assert far.knobs == {"level": 20} and far.after == ["near"]  # a knob a stage omits takes its hard value
    assert 0 < near.iterations <= near.budget and far.best <= 0.01 and far.goal["mode"] == "min"
    assert far.lr == pytest.approx(1.0) and far.checkpoints["final"].exists()
    assert [d["kind"] for d in result.decisions] == ["advance", "advance"]
    assert result.status == ladder_json(run_dir)["status"]
    # the same object from the run directory, by either name
    assert Result.load(run_dir) == result == orchestrator.load(run_dir)
    assert "near" in str(result) and "converged" in str(result)
    with pytest.raises(KeyError, match="the stages: near, far"):
        result["nope"]
    # the same call again: the run is finished, nothing is trained, the same result comes back
    again = orchestrator.run(ToyTask(), ladder=LADDER, overrides=QUICK, run_dir=run_dir, live=False)
    assert again == result


def test_a_task_file_by_name_with_a_yaml_ladder_and_string_overrides(tmp_path):
    ladder = tmp_path / "short.yaml"
    ladder.write_text("stages:\n  only:\n    knobs: {level: 10}\n"
                      "    goal: {metric: train/error, target: 0.01, mode: min}\n")
    result = orchestrator.run("toy", ladder=ladder, config_dir=TESTS / "conf", run_dir=tmp_path / "run",
                              overrides=["diagnostics.enabled=false", "log.console=false", "task.start=5"])
    assert result.task == "toy" and [s.name for s in result.stages] == ["only"]  # the file's stages replaced
    assert result.converged and result["only"].iterations < result["only"].budget
    saved = (tmp_path / "run" / ".hydra" / "config.yaml").read_text()  # the config, as the CLI saves it
    assert "start: 5" in saved and "only:" in saved


@pytest.mark.parametrize("kwargs, says", [
    ({"task": "nosuch"}, "orchestrator.run: task: no task named 'nosuch'"),
    ({"task": "digits", "overrides": ["optim.lrr=0.1"]},
     "orchestrator.run: optim.lrr: unknown key (did you mean optim.lr?)"),
    ({"task": "digits", "overrides": {"optim.lr": -1}}, "orchestrator.run: optim.lr: must be > 0"),
    ({"task": "digits", "overrides": ["optim.lr=fast"]}, "optim.lr: Value 'fast'"),
    ({"task": 42}, "orchestrator.run: task: a task is"),
    ({"task": "digits", "ladder": "/no/such/ladder.yaml"}, "/no/such/ladder.yaml: ladder: no such file"),
    ({"task": ToyTask(), "ladder": {"stages": {"a": {"goal": {"metric": "val/nope", "target": 1}}}}}, "val/nope"),
])
def test_bad_input_is_one_line_naming_the_key_and_writes_nothing(tmp_path, kwargs, says):
    with pytest.raises(ConfigError) as e:
        orchestrator.run(run_dir=tmp_path / "run", live=False, **kwargs)
    line = str(e.value)
    assert says in line and "\n" not in line
    assert not (tmp_path / "run").exists()


def test_importing_the_package_does_not_load_torch():
    import subprocess
    import sys

    code = "import sys, orchestrator; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=TESTS.parent)
    assert out.stdout.strip() == "False", out.stderr
    assert torch.get_num_threads() >= 1


class Unregistered(nn.Module):
    """Its layers in a plain list: nn.Module registers none of them, so it has no parameters."""

    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(1, 1) for _ in range(2)]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class UnregisteredTask(ToyTask):
    def build(self, knobs, seed):
        problem = super().build(knobs, seed)
        problem.model = Unregistered()
        return problem


def test_a_model_without_parameters_is_a_diagnosis_not_a_traceback(tmp_path):
    result = orchestrator.run(UnregisteredTask(), ladder=LADDER, overrides={**QUICK, "diagnostics.enabled": True},
                              run_dir=tmp_path / "run", live=False)
    assert result.exit_code == 3 and not result.converged
    doc = ladder_json(tmp_path / "run")
    near = doc["stages"][0]
    assert near["status"] == "failed" and near["iterations"] == 0
    # first the init check's: the forward uses tensors the model does not own; then training's: nothing to train
    first = next(d for d in near["diagnoses"] if d["code"] == "params_not_updating")
    assert first["severity"] == "error" and "layers[0].weight" in first["message"] and "ModuleList" in first["fix"]
    d = next(d for d in near["diagnoses"] if d["code"] == "params_not_updating" and "no parameters" in d["message"])
    assert d["severity"] == "error" and "ModuleList" in d["fix"]
    assert doc["decisions"][-1]["kind"] == "stop" and doc["cause"]["code"] == "params_not_updating"
