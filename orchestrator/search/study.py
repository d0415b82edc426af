"""The Optuna study behind one stage's search: sampler, pruner, and its journal in the run directory.

Ask-and-tell: the driver asks for a trial, the executor trains it, the driver tells the result. The
journal file (search/<stage>/study.journal) holds every trial, so a killed run's search continues
where it stopped; the workers report their evaluations into the same journal for the pruner.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

optuna.logging.set_verbosity(optuna.logging.WARNING)  # the search prints its own table

# successive halving over the stage's evaluations: a trial is compared with the others at 4, 12, 36, ...
# evaluations and continues only when it is in the top third there
MIN_EVALUATIONS, REDUCTION = 4, 3
RESULT = "result"  # user attribute: what the trial's training returned (set before the trial is told)


def storage(path: Path) -> JournalStorage:
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def pruner(enabled: bool) -> optuna.pruners.BasePruner:
    if not enabled:
        return optuna.pruners.NopPruner()
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=MIN_EVALUATIONS, reduction_factor=REDUCTION)


def open_study(path: Path, name: str, sampler: str, seed: int, mode: str, prune: bool) -> optuna.Study:
    """The stage's study, created or continued. The sampler's seed also counts the trials already asked:
    a resumed random search draws new settings instead of repeating the first ones."""
    store = storage(path)
    asked = 0
    if name in {s.study_name for s in optuna.get_all_study_summaries(store)}:
        asked = len(optuna.load_study(study_name=name, storage=store).trials)
    seed = zlib.crc32(f"{seed}:{name}:{asked}".encode()) % 2**31
    chosen = optuna.samplers.TPESampler(seed=seed) if sampler == "tpe" else optuna.samplers.RandomSampler(seed=seed)
    return optuna.create_study(storage=store, study_name=name, sampler=chosen, pruner=pruner(prune),
                               direction="maximize" if mode == "max" else "minimize", load_if_exists=True)


def finished(study: optuna.Study) -> list:
    """Trials that ran to the end (converged, failed or pruned), by number."""
    return [t for t in study.trials if RESULT in t.user_attrs]


def requeue_interrupted(study: optuna.Study) -> list[int]:
    """Trials a kill left running: marked failed in the journal and asked again with the same settings.
    Returns their numbers (their partial outputs are left over)."""
    stale = [t for t in study.trials if t.state == TrialState.RUNNING]
    for t in stale:
        study.tell(t.number, state=TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
    return [t.number for t in stale]


def tell(study: optuna.Study, trial: optuna.Trial, result: dict) -> None:
    """Record a trial's result and its state: pruned, failed with an error, or complete with its best value."""
    trial.set_user_attr(RESULT, result)
    if result["status"] == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    elif result.get("error") or result["best"] is None or result["best"] != result["best"]:
        study.tell(trial, state=TrialState.FAIL)
    else:
        study.tell(trial, float(result["best"]))
