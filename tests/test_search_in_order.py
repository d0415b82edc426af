"""Trials run at once find what trials run one after another find: each compares itself only with the trials
numbered before it (successive halving, and the cap where an earlier trial converged), waiting for those still
running to get as far. So a search's trials and winner depend on the seed, not on the cores."""
import json
import threading
import time

import optuna
from optuna.trial import TrialState, create_trial
from optuna.distributions import FloatDistribution

from conftest import cli
from orchestrator.search import study as studies


def finished(values: dict, state=TrialState.PRUNED):
    """A trial on record that reported `values` ({evaluation: goal value}) and ended."""
    return create_trial(state=state, value=None if state != TrialState.COMPLETE else max(values.values()),
                        params={"lr": 0.1}, distributions={"lr": FloatDistribution(1e-3, 1.0)},
                        intermediate_values=values)


def test_a_trial_is_judged_against_earlier_trials_only_at_each_rung():
    pruner = studies.InOrderHalving()
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.add_trial(finished({1: 0.2, 2: 0.3, 3: 0.4, 4: 0.5, 5: 0.6}))  # trial 0, reached rung 4 at 0.5
    study.add_trial(finished({1: 0.1, 2: 0.1, 3: 0.1, 4: 0.1}))          # trial 1, 0.1 at rung 4
    mine = study.ask()                                                   # trial 2
    for step, value in [(1, 0.0), (2, 0.0), (3, 0.0)]:
        mine.report(value, step)
        assert not mine.should_prune()  # no rung yet: the first is at MIN_EVALUATIONS (4)
    mine.report(0.3, 4)  # behind 0.5, ahead of 0.1: of three, only the best (3 // 3 = 1) goes on
    assert mine.should_prune()
    # a later trial (numbered after) is no competitor, whatever it reported
    study2 = optuna.create_study(direction="maximize", pruner=pruner)
    study2.add_trial(finished({4: 0.2}))
    me = study2.ask()
    study2.add_trial(finished({4: 0.9}))  # trial 2, after me: does not count
    me.report(0.3, 4)
    assert not me.should_prune()
    # minimising: lower is better
    study3 = optuna.create_study(direction="minimize", pruner=pruner)
    study3.add_trial(finished({4: 0.5}))
    me = study3.ask()
    me.report(0.4, 4)
    assert not me.should_prune()
    me.report(float("nan"), 12)  # a value that is not a number never goes on
    assert me.should_prune()


def test_promotion_keeps_the_top_third_and_the_best_of_the_first_few():
    max_ = optuna.study.StudyDirection.MAXIMIZE
    assert studies.promotable(0.9, [0.1, 0.9], 3, max_) and not studies.promotable(0.1, [0.1, 0.9], 3, max_)
    values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]  # six reached the rung: the best two go on
    assert [studies.promotable(v, values, 3, max_) for v in values] == [False] * 4 + [True] * 2
    assert studies.promotable(0.5, [0.5, 0.5, 0.1], 3, max_)  # a tie with the best goes on


def test_a_trial_waits_for_an_earlier_one_still_running(tmp_path):
    study = optuna.create_study(direction="maximize", storage=studies.storage(tmp_path / "j.journal"))
    earlier = study.ask()
    later = study.ask()
    earlier.report(0.2, 1)

    def catch_up():
        time.sleep(0.3)
        earlier.report(0.4, 2)
    threading.Thread(target=catch_up).start()
    start = time.monotonic()
    seen = studies.earlier_trials(study, later.number, 2)
    assert time.monotonic() - start >= 0.25  # it waited for the earlier trial's second evaluation
    assert [t.number for t in seen] == [0] and seen[0].intermediate_values[2] == 0.4
    study.tell(earlier, state=TrialState.FAIL)  # an ended trial is not waited for
    assert [t.number for t in studies.earlier_trials(study, later.number, 50)] == [0]


def trials(run_dir) -> list:
    doc = json.loads((run_dir / "ladder.json").read_text())
    return [{k: t[k] for k in ("number", "params", "status", "iterations", "best", "budget")}
            for t in doc["stages"][0]["trials"]], [s["iterations"] for s in doc["stages"]]


def test_trials_at_once_give_the_trials_and_winner_of_trials_one_after_another(tmp_path):
    # an LR far too low, searched over a range where some trials are pruned, one converges and the trials after it
    # are cut where it converged: all three rules of the search at work
    args = ("+task=digits", "optim.lr=1e-6", "ladder.budget=600", "ladder.eval_every=10",
            "diagnostics.failure.enabled=false", "search.trials=10", "log.console=false",
            "+search.space.optim.lr={log_uniform:[0.000003,0.0001]}")
    results = {}
    for parallel in (1, 2):
        run_dir = tmp_path / f"parallel{parallel}"
        r = cli(*args, f"search.parallel={parallel}", run_dir=run_dir)
        assert r.returncode == 0, r.stderr[-2000:]
        results[parallel] = trials(run_dir)
    one, two = results[1], results[2]
    assert one == two
    statuses = {t["status"] for t in one[0]}
    assert {"pruned", "converged"} <= statuses, statuses
    converged = min(t["iterations"] for t in one[0] if t["status"] == "converged")
    first = min(t["number"] for t in one[0] if t["status"] == "converged")
    assert all(t["iterations"] <= converged for t in one[0] if t["number"] > first)  # cut where it converged
