"""Sweeps: under -m `main` returns the run's objective to Hydra's sweeper, and the sweep ends with a table.

The sweeper is tests/hydra_plugins/fake_best_sweeper.py, a real Hydra Sweeper plugin (the Optuna
sweeper plugin needs optuna < 3): it launches the jobs through Hydra and keeps the lowest value.
"""
import math

import pytest
import yaml
from conftest import TESTS, cli, ladder_json

from orchestrator import objective

SMALL_TOY = ("knobs.level.hard=40", "ladder.stages.middle.knobs.level=20", "diagnostics.enabled=false",
             "log.console=false")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    sweep = tmp_path_factory.mktemp("sweep")
    r = cli("-m", "--config-dir", str(TESTS / "conf"), "+task=toy", "hydra/sweeper=fake_best", "optim.lr=1.0,0.25",
            *SMALL_TOY, f"hydra.sweep.dir={sweep}")
    assert r.returncode == 0, r.stderr
    return sweep, r


def test_a_sweeper_gets_each_runs_iterations_and_picks_the_fastest(swept):
    sweep, r = swept
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    fast, slow = results["values"]
    spent = [sum(s["iterations"] for s in ladder_json(sweep / str(i))["stages"]) for i in (0, 1)]
    assert [fast, slow] == spent  # the objective is the iterations to converge, not the exit code
    assert slow > 1.2 * fast and "optim.lr=1.0" in results["best_params"]
    # the summary table: printed, and saved beside the jobs
    summary = (sweep / "summary.md").read_text()
    assert "| 0 | `optim.lr=1.0" in summary and "| 1 | `optim.lr=0.25" in summary
    assert "sweep of 2 run(s)" in r.stdout and "converged" in summary


def test_objective_values():
    stages = [{"iterations": 30, "best": 1.0}, {"iterations": 70, "best": 0.93}]
    converged = {"status": "converged", "stages": stages}
    stalled = {"status": "stalled", "stages": stages}
    assert objective.value("iterations", converged) == 100
    assert objective.value("iterations", stalled) >= objective.STALLED_PENALTY  # any converged run is better
    assert objective.value("goal", stalled) == 0.93
    assert math.isnan(objective.value("goal", {"status": "stalled", "stages": [{"iterations": 0, "best": None}]}))
    assert (objective.value("exit_code", converged), objective.value("exit_code", stalled)) == (0, 3)


def test_a_finished_run_directory_says_so_in_one_line(swept):
    sweep, _ = swept
    again = cli("--config-dir", str(TESTS / "conf"), "+task=toy", "optim.lr=1.0", *SMALL_TOY, run_dir=sweep / "0")
    assert again.returncode == 0 and again.stderr == ""
    lines = again.stdout.strip().splitlines()
    assert len(lines) == 1 and "finished already (converged)" in lines[0] and "nothing to train" in lines[0]

