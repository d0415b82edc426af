"""One trial, in this process: it trains the stage with its settings, and the pruner stops a trial that is
clearly behind another at the same evaluation (successive halving over evaluations)."""
from pathlib import Path

from orchestrator.config import RunConfig
from orchestrator.ladder import Goal, Stage
from orchestrator.search import space, study as studies
from orchestrator.search.trial import TrialSpec, run_trial


def spec(tmp: Path, study, lr: float) -> tuple:
    """A trial asked from the study, and its spec: overfit_10 from fresh weights at this LR."""
    cfg = RunConfig(task={"_target_": "stages.digits.DigitsTask"})
    cfg.ladder.eval_every, cfg.log.every, cfg.ladder.patience = 10, 10, 0
    cfg.diagnostics.enabled = False
    trial = study.ask()
    stage = Stage("overfit_10", Goal("train/acc", 1.0, "max"), {"subset": 10}, budget=400)
    return TrialSpec(number=trial.number, params={"optim.lr": lr}, cfg=space.apply(cfg, {"optim.lr": lr}), stage=stage,
                     lr=lr, batch_size=10, seed=0, warm_start=None, out_dir=str(tmp / f"t{trial.number}"),
                     tb_dir=str(tmp / "tb" / f"t{trial.number}"), journal=str(tmp / "study.journal"),
                     study_name="s", trial_id=trial._trial_id), trial


def test_a_slow_trial_is_pruned_behind_a_faster_one_and_results_are_recorded(tmp_path):
    study = studies.open_study(tmp_path / "study.journal", "s", "random", 0, "max", prune=True)
    slow, slow_trial = spec(tmp_path, study, 3e-5)     # learns, slowly: reports its progress at each evaluation
    result = run_trial(slow)
    studies.tell(study, slow_trial, result)
    assert result["status"] in ("converged", "failed") and result["iterations"] > 40 and not result.get("error")
    slower, slower_trial = spec(tmp_path, study, 1e-7)  # far behind at the same evaluation
    result = run_trial(slower)
    studies.tell(study, slower_trial, result)
    assert result["status"] == "pruned" and result["iterations"] < 100 and "pruned at evaluation" in result["reason"]
    assert [t.user_attrs[studies.RESULT]["status"] for t in studies.finished(study)][1] == "pruned"
    assert (tmp_path / "t0" / "final.pt").exists() and not (tmp_path / "t1" / "final.pt").exists()


def test_a_trial_killed_after_its_result_was_recorded_is_told_not_run_again(tmp_path):
    # the driver records a trial's result, then tells the study: a kill between the two left it running, and a
    # resumed search ran its setting again under a new number (a CI run saw 4 trials with 3 settings)
    path = tmp_path / "study.journal"
    study = studies.open_study(path, "s", "random", 0, "max", prune=False)
    done, cut = study.ask(), study.ask()
    studies.tell(study, done, {"status": "converged", "best": 1.0, "number": done.number})
    cut.suggest_float("optim.lr", 1e-4, 1e-3, log=True)
    cut.set_user_attr(studies.RESULT, {"status": "failed", "best": 0.5, "number": cut.number})  # ... then killed
    killed = study.ask()  # killed while training: runs again
    killed.suggest_float("optim.lr", 1e-4, 1e-3, log=True)
    resumed = studies.open_study(path, "s", "random", 0, "max", prune=False)
    assert studies.requeue_interrupted(resumed) == [killed.number]
    states = {t.number: t.state.name for t in resumed.trials}
    assert states[cut.number] == "COMPLETE" and states[killed.number] == "FAIL" and states[3] == "WAITING"
    assert [t.number for t in studies.finished(resumed)] == [done.number, cut.number]
    again = resumed.ask()  # the retry: the killed trial's setting
    assert again.suggest_float("optim.lr", 1e-4, 1e-3, log=True) == killed.params["optim.lr"]


def test_a_trial_is_given_the_findings_its_warm_start_carries(tmp_path):
    # the label check of a trial stands down for a padding finding made on an earlier stage, as the stage's own run
    # does: the trial needs the findings with their evidence, not the codes alone
    from types import SimpleNamespace
    from orchestrator.ladder import CONVERGED, Ladder
    from orchestrator.search import driver
    found = {"code": "batch_dependence", "severity": "warning", "message": "", "evidence": {"padding": True}}
    first = Stage("small", Goal("train/acc", 1.0, "max"), {"subset": 10}, status=CONVERGED, iterations=40,
                  diagnoses=[found])
    later = Stage("big", Goal("val/acc", 0.9, "max"), {"subset": 100}, after=["small"])
    ctx = SimpleNamespace(cfg=RunConfig(task={"_target_": "stages.digits.DigitsTask"}), ladder=Ladder([first, later]),
                          record=SimpleNamespace(decisions=[]), run_dir=tmp_path)
    study = studies.open_study(tmp_path / "study.journal", "s", "random", 0, "max", prune=False)
    got = driver._spec(ctx, later, ctx.cfg.search, study.ask(), {"optim.lr": 1e-3}, 1e-3, None, tmp_path, 1, "s")
    assert got.inherited == ("batch_dependence",) and got.inherited_findings == (found,)
