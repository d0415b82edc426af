"""The same rescue with the Ray executor: trials are Ray tasks on a local Ray instance, two at a time."""
import pytest

from conftest import cli, ladder_json, stage_run

pytest.importorskip("ray")


def test_a_search_on_ray_rescues_a_stage_whose_lr_is_far_too_low(run_dir):
    # LRs that need tens of iterations: a trial converging at the first evaluation would leave the other out
    r = cli("+task=digits", "optim.lr=1e-5", "ladder.budget=200", "diagnostics.failure.enabled=false",
            "search.trials=2", "search.parallel=2", "search.executor=ray", "search.prune=false",
            "+search.space.optim.lr={log_uniform:[0.0002,0.0005]}", run_dir=run_dir)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = ladder_json(run_dir)
    assert doc["status"] == "converged"
    trials = doc["stages"][0]["trials"]
    assert sorted(t["number"] for t in trials) == [0, 1]
    assert any(t["status"] == "converged" for t in trials) and not any(t.get("error") for t in trials)
    assert "(ray)" in r.stdout
    # the trials wrote into the run directory (a shared filesystem on a real cluster)
    assert all((stage_run(run_dir, "overfit_10") / f"trial_{n:03d}").is_dir() for n in (0, 1))
