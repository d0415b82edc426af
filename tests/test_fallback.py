"""Fallback stages: skipped while the ladder goes well, trained when a stage after them fails."""
import pytest

from conftest import cli, events, ladder_json, stage_run
from orchestrator.config import GoalConfig, KnobConfig, StageConfig
from orchestrator.errors import ConfigError
from orchestrator.ladder import CONVERGED, FAILED, PENDING, SKIPPED, Goal, Ladder, Stage, from_config
from orchestrator.policy import FALLBACK, INSERT, SKIP, Outcome, before_training, budget_for, decide
from orchestrator.knobs import Knob

GOAL = Goal("val/acc", 0.9)
KNOBS = {"subset": Knob("subset", 10, 1000, "log")}


def ladder(*statuses) -> Ladder:
    """a -> sub (a fallback) -> full, with these statuses."""
    a, sub, full = statuses
    return Ladder([Stage("a", GOAL, {"subset": 10}, status=a, iterations=40),
                   Stage("sub", GOAL, {"subset": 100}, after=["a"], fallback=True, status=sub),
                   Stage("full", GOAL, {"subset": 1000}, after=["sub"], status=full, iterations=400)])


def test_a_fallback_stage_is_skipped_and_the_next_one_runs_as_if_after_its_predecessor():
    lad = ladder(CONVERGED, PENDING, PENDING)
    d = before_training(lad, lad["sub"])
    assert d.kind == SKIP and before_training(lad, lad["a"]) is None
    lad["sub"].status = SKIPPED
    assert lad.next_runnable().name == "full"
    assert lad.warm_start_source(lad["full"]) == "a"           # the weights of the stage that ran
    assert budget_for(lad["full"], lad, 2000, 10, 100) == 400  # growth x what `a` needed, not x 0
    lad["full"].status = CONVERGED
    assert lad.all_converged()


def test_a_failure_after_skipped_stages_trains_them_then_itself_again():
    lad = ladder(CONVERGED, SKIPPED, FAILED)
    d = decide(lad, lad["full"], Outcome(False, 400, 0.5, "budget spent"), KNOBS, max_insertions=3)
    assert d.kind == FALLBACK and d.restart == ("sub",)
    lad["sub"].status, lad["sub"].called = PENDING, True       # engine.apply
    assert before_training(lad, lad["sub"]) is None            # called: it trains now
    assert lad.next_runnable().name == "sub"
    lad["sub"].status, lad["sub"].iterations = CONVERGED, 60
    assert lad.next_runnable().name == "full" and lad.warm_start_source(lad["full"]) == "sub"
    # failing again, nothing is skipped any more: the usual insertion
    d = decide(lad, lad["full"], Outcome(False, 600, 0.5, "budget spent"), KNOBS, max_insertions=3)
    assert d.kind == INSERT


def stages_cfg(**sub) -> dict:
    goal = GoalConfig(metric="val/acc", target=0.9)
    return {"a": StageConfig(goal=goal, knobs={"subset": 10}),
            "sub": StageConfig(goal=goal, after=["a"], knobs={"subset": 100}, **sub),
            "full": StageConfig(goal=goal, after=["sub"])}


def test_fallback_on_a_first_or_a_last_stage_is_refused_naming_the_key():
    knobs = {"subset": KnobConfig(easy=10, hard=1000, scale="log")}
    lad, _ = from_config(stages_cfg(fallback=True), knobs, ["val/acc"])
    assert lad["sub"].fallback and not lad["full"].fallback
    for name in ("a", "full"):
        cfg = stages_cfg()
        cfg[name].fallback = True
        with pytest.raises(ConfigError) as e:
            from_config(cfg, knobs, ["val/acc"])
        assert e.value.key == f"ladder.stages.{name}.fallback"


def test_cli_skips_a_fallback_stage_when_the_ladder_converges_without_it(run_dir):
    r = cli("+task=digits", "ladder.stages.overfit_100.fallback=true", "ladder.eval_every=5", run_dir=run_dir)
    assert r.returncode == 0, r.stderr
    doc = ladder_json(run_dir)
    assert [(d["kind"], d["stage"]) for d in doc["decisions"]] == [
        ("advance", "overfit_10"), ("skip", "overfit_100"), ("advance", "full")]
    stages = {s["name"]: s for s in doc["stages"]}
    assert stages["overfit_100"]["status"] == "skipped" and stages["overfit_100"]["iterations"] == 0
    assert stages["full"]["budget"] == max(200, 10 * stages["overfit_10"]["iterations"])
    assert not list((run_dir / "tb").glob("*_overfit_100"))  # never trained: no TensorBoard run


def test_cli_trains_the_skipped_stage_when_the_next_one_fails(run_dir):
    # full gets 2 iterations: it must fail; overfit_100 is trained then, and full again, warm-started from it
    r = cli("+task=digits", "ladder.stages.overfit_100.fallback=true", "ladder.stages.full.budget=2",
            "ladder.eval_every=1", "ladder.max_insertions=0", "search.trials=0", run_dir=run_dir)
    assert r.returncode == 3, r.stderr
    doc = ladder_json(run_dir)
    assert [(d["kind"], d["stage"]) for d in doc["decisions"]] == [
        ("advance", "overfit_10"), ("skip", "overfit_100"), ("fallback", "full"), ("advance", "overfit_100"),
        ("stop", "full")]
    assert doc["decisions"][2]["restart"] == ["overfit_100"]
    stages = {s["name"]: s for s in doc["stages"]}
    assert stages["overfit_100"]["status"] == "converged" and stages["overfit_100"]["called"]
    assert stages["full"]["attempts"] == 2
    assert events(stage_run(run_dir, "full", 2)).Scalars("train/loss")  # the second attempt trained
