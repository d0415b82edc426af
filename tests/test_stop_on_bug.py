"""A stage that meets its goal on a named bug stops the ladder, through the CLI (ladder.stop_on_bug)."""
from __future__ import annotations

from conftest import ladder_json, toy

DETACHED = ["task._target_=faulty_task.DetachedToyTask", "task.start=10", "log.console=false"]


def test_a_goal_met_on_a_detached_loss_stops_the_ladder_with_the_bug_as_its_cause(run_dir):
    done = toy(*DETACHED, run_dir=run_dir)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    doc = ladder_json(run_dir)
    assert doc["status"] == "stalled"
    easy = doc["stages"][0]
    assert easy["status"] == "converged" and [s["status"] for s in doc["stages"][1:]] == ["pending", "pending"]
    # named before any update, and first: no LR probe blaming the LR for a loss no weight reaches
    alarms = [d["code"] for d in easy["diagnoses"] if d["severity"] != "info"]
    assert alarms == ["params_not_updating"], easy["diagnoses"]
    assert [d["kind"] for d in doc["decisions"]] == ["stop"] and "params_not_updating" in doc["decisions"][0]["reason"]
    assert doc["cause"]["code"] == "params_not_updating"
    assert "Most likely cause (`easy`)" in (run_dir / "report.md").read_text()


def test_a_ladder_whose_last_stage_met_its_goal_on_a_bug_is_stalled_not_converged(run_dir):
    done = toy(*DETACHED, "~ladder.stages.middle", "~ladder.stages.hard", run_dir=run_dir)
    assert done.returncode == 3, done.stderr[-2000:]
    doc = ladder_json(run_dir)
    assert [s["status"] for s in doc["stages"]] == ["converged"]
    assert doc["status"] == "stalled" and doc["cause"]["code"] == "params_not_updating"
