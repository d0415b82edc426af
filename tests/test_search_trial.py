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
