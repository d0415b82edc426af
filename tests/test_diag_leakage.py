"""Too good to be true: validation loss below the best loss a correct model can reach (`leakage`), and
perfect validation accuracy on labels a constant predicts (`trivial_labels`)."""
from __future__ import annotations

import torch

from diag_families import Sinks, lm_problem, mlp_problem

from orchestrator import diagnostics
from orchestrator.config import OptimConfig, RunConfig
from orchestrator.diagnostics.config import DiagnosticsConfig, LeakageConfig
from orchestrator.diagnostics.leakage import LeakageCheck
from orchestrator.ladder import Goal, Stage
from orchestrator.trainer import StageRun, TrainSettings, train

torch.set_num_threads(1)


def run_for(problem, tmp_path, budget=300, lr=3e-3):
    st = Stage("s", Goal("val/loss", 0.0, "min"), knobs={})
    s = TrainSettings(budget=budget, lr=lr, batch_size=32, optim=OptimConfig(), seed=0, eval_every=50,
                      patience=0, histograms_every=0, checkpoint_secs=1e9)
    c = RunConfig(task=None, diagnostics=DiagnosticsConfig())
    run = StageRun(stage=st, problem=problem, settings=s, sinks=Sinks(), ckpt_dir=tmp_path,
                   monitors=diagnostics.monitors_for(c, st, problem))
    train(run)
    return st


def codes(st):
    return [d["code"] for d in st.diagnoses]


def test_an_lm_that_sees_the_future_is_leakage(tmp_path):
    st = run_for(lm_problem(causal=False), tmp_path, budget=150)  # the mask forgotten: each position sees its target
    assert codes(st).count("leakage") == 1
    d = next(d for d in st.diagnoses if d["code"] == "leakage")
    assert d["severity"] == "error" and d["evidence"]["value"] < d["evidence"]["best_loss"]


def bare_run(problem):
    st = Stage("s", Goal("val/acc", 1.0), knobs={})
    return StageRun(stage=st, problem=problem, settings=None, sinks=Sinks(), ckpt_dir=None)


def test_perfect_accuracy_on_one_class_is_trivial_labels():
    problem = mlp_problem()
    problem.extras["y_val"] = torch.zeros(64, dtype=torch.long)
    run, check = bare_run(problem), LeakageCheck(LeakageConfig())
    check.on_start(run)
    for _ in range(2):  # once per stage
        check.on_eval(run, {"val/acc": 1.0, "val/loss": 0.01})
    assert codes(run.stage) == ["trivial_labels"] and run.stage.diagnoses[0]["severity"] == "warning"


def test_perfect_accuracy_on_varied_labels_is_fine_and_unknown_labels_are_said_skipped():
    problem = mlp_problem()
    run, check = bare_run(problem), LeakageCheck(LeakageConfig())
    check.on_start(run)
    check.on_eval(run, {"val/acc": 1.0})
    assert codes(run.stage) == []
    del problem.extras["y_val"]
    run, check = bare_run(problem), LeakageCheck(LeakageConfig())
    check.on_start(run)
    check.on_eval(run, {"val/acc": 1.0})
    assert codes(run.stage) == ["check_skipped"] and run.stage.diagnoses[0]["severity"] == "info"


def test_the_built_in_classification_tasks_give_their_validation_labels():
    from stages.digits import DigitsTask
    assert isinstance(DigitsTask().build({"subset": 10}, 0).extras["y_val"], torch.Tensor)
