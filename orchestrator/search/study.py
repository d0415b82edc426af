"""The Optuna study behind one stage's search: sampler, pruner, and its journal in the run directory.

Ask-and-tell: the driver asks for a trial, the executor trains it, the driver tells the result. The
journal file (search/<stage>/study.journal) holds every trial, so a killed run's search continues
where it stopped; the workers report their evaluations into the same journal for the pruner.
"""
from __future__ import annotations

import math
import time
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
    return InOrderHalving() if enabled else optuna.pruners.NopPruner()


class InOrderHalving(optuna.pruners.BasePruner):
    """Successive halving (Optuna's SuccessiveHalvingPruner's rule: a trial goes on past a rung when it is in the
    top 1/REDUCTION of the trials that reached that rung) that compares a trial only with the trials numbered
    before it, waiting for those still running to reach the rung or end. Its decisions are then those of trials
    run one after another, however many run at once: the same seed gives the same trials and the same winner on
    one core or on eight. (Optuna's own pruner compares with whatever the other workers have reported by then,
    which depends on timing.)"""

    def __init__(self, min_evaluations: int = MIN_EVALUATIONS, reduction: int = REDUCTION):
        self.min_evaluations, self.reduction = min_evaluations, reduction

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        steps = sorted(trial.intermediate_values)
        if not steps:
            return False
        step, before = steps[-1], (steps[-2] if len(steps) > 1 else 0)
        value = trial.intermediate_values[step]
        crossed = [r for r in self.rungs(step) if r > before]  # the rungs this report is the first to reach
        if not crossed:
            return False
        if not math.isfinite(value):
            return True
        earlier = earlier_trials(study, trial.number, step)
        for rung in crossed:
            competing = [v for v in (value_at(t, rung) for t in earlier) if v is not None] + [value]
            if not promotable(value, competing, self.reduction, study.direction):
                return True
        return False

    def rungs(self, step: int) -> list:
        """The evaluations at which trials are compared, up to `step`: MIN_EVALUATIONS x REDUCTION^k."""
        out, rung = [], self.min_evaluations
        while rung <= step:
            out.append(rung)
            rung *= self.reduction
        return out


def value_at(trial: optuna.trial.FrozenTrial, rung: int):
    """The goal value a trial reported on reaching `rung` (its first report at or after it); None: it never got
    there (pruned before, converged, or not finite)."""
    at = [s for s in trial.intermediate_values if s >= rung]
    value = trial.intermediate_values[min(at)] if at else None
    return value if value is not None and math.isfinite(value) else None


def promotable(value: float, competing: list, reduction: int, direction) -> bool:
    """In the top 1/reduction of `competing` (which holds `value`); the best of them while fewer than `reduction`."""
    ranked = sorted(competing, reverse=direction == optuna.study.StudyDirection.MAXIMIZE)
    return ranked.index(value) <= max(0, len(ranked) // reduction - 1)


def earlier_trials(study: optuna.Study, number: int, evaluation: int, poll: float = 0.01) -> list:
    """The trials numbered before `number`, once each has ended or reported its `evaluation`-th evaluation (the
    ones still running are waited for: they run ahead, since they started first). A trial asked but not started
    (WAITING) is not one of them."""
    while True:
        earlier = [t for t in study.get_trials(deepcopy=False) if t.number < number and t.state != TrialState.WAITING]
        if all(t.state.is_finished() or max(t.intermediate_values, default=0) >= evaluation for t in earlier):
            return earlier
        time.sleep(poll)


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
    Returns their numbers (their partial outputs are left over). A trial killed between recording its result
    and being told (see `tell`) ran to the end: it is told now, not run again, which would try its setting twice."""
    again = []
    for t in (t for t in study.trials if t.state == TrialState.RUNNING):
        if RESULT in t.user_attrs:
            _tell(study, t.number, t.user_attrs[RESULT])
            continue
        study.tell(t.number, state=TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        again.append(t.number)
    return again


def discard(study: optuna.Study, trial: optuna.Trial) -> None:
    """A trial whose result is left out (it ran alongside one that ended the search): failed, with no result, so
    that a resumed search neither counts nor repeats it."""
    study.tell(trial, state=TrialState.FAIL)


def tell(study: optuna.Study, trial: optuna.Trial, result: dict) -> None:
    """Record a trial's result and its state: pruned, failed with an error, or complete with its best value."""
    trial.set_user_attr(RESULT, result)
    _tell(study, trial, result)


def _tell(study: optuna.Study, trial, result: dict) -> None:
    """The trial's state from its result (`trial`: the trial or its number)."""
    if result["status"] == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    elif result.get("error") or result["best"] is None or result["best"] != result["best"]:
        study.tell(trial, state=TrialState.FAIL)
    else:
        study.tell(trial, float(result["best"]))
