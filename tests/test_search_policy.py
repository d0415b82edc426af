"""The policy's choice between insert, search and stop (plain objects, no training)."""
import pytest

from orchestrator.config import SearchConfig
from orchestrator.engine import apply
from orchestrator.knobs import Knob
from orchestrator.ladder import CONVERGED, FAILED, Goal, Ladder, Stage
from orchestrator.policy import ADVANCE, INSERT, RETRY, SEARCH, STOP, Outcome, decide

GOAL = Goal("val/acc", 0.9)
SUBSET = {"subset": Knob("subset", 10, 1000, "log")}
FAILED_OUTCOME = Outcome(False, 400, 0.5, "budget spent")


def chain(*specs) -> Ladder:
    stages, prev = [], None
    for name, subset, status in specs:
        stages.append(Stage(name, GOAL, {"subset": subset}, after=[prev] if prev else [], status=status, iterations=40))
        prev = name
    return Ladder(stages)


def test_a_stage_that_can_still_get_an_intermediate_stage_gets_one():
    ladder = chain(("a", 10, CONVERGED), ("b", 1000, FAILED))
    assert decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig()).kind == INSERT


def test_a_stage_past_the_insertion_limit_is_searched_instead_of_stalling():
    ladder = chain(("a", 10, CONVERGED), ("b", 1000, FAILED))
    d = decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 0, SearchConfig(trials=5))
    assert d.kind == SEARCH and "max_insertions=0" in d.reason and "5 trials" in d.reason
    # without a search (none configured, or search.trials=0) the ladder stops as before
    assert decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 0).kind == STOP
    assert decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 0, SearchConfig(trials=0)).kind == STOP


def test_no_setting_between_and_first_stages_are_searched():
    ladder = chain(("a", 10, CONVERGED), ("b", 11, FAILED))
    d = decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig())
    assert d.kind == SEARCH and "no setting of the knobs lies between" in d.reason
    first = chain(("a", 10, FAILED))
    assert decide(first, first["a"], FAILED_OUTCOME, SUBSET, 3, SearchConfig()).kind == SEARCH


def test_inserted_stages_that_did_worse_than_the_stage_they_help_lead_to_a_search():
    # fewer examples made the validation goal harder: b.half1 (0.6) did worse than b (0.8)
    ladder = chain(("a", 10, CONVERGED), ("b", 1000, FAILED))
    ladder.insert_between("a", "b", "b.half1", {"subset": 100})
    ladder["b"].best = 0.8
    worse = Outcome(False, 400, 0.6, "budget spent")
    d = decide(ladder, ladder["b.half1"], worse, SUBSET, 3, SearchConfig())
    assert d.kind == SEARCH and "did worse" in d.reason and "b.half1" == d.stage
    # without a search the old rule stands: insert again
    assert decide(ladder, ladder["b.half1"], worse, SUBSET, 3).kind == INSERT
    # an inserted stage that did better is helped by another insertion, not searched
    better = Outcome(False, 400, 0.85, "budget spent")
    assert decide(ladder, ladder["b.half1"], better, SUBSET, 3, SearchConfig()).kind == INSERT


def test_a_stage_whose_lr_is_too_low_is_searched_rather_than_given_easier_stages():
    ladder = chain(("a", 10, CONVERGED), ("b", 1000, FAILED))
    ladder["b"].cause = {"code": "lr_too_low", "severity": "warning", "root": False}
    # the kind that names a gap to the probe's NaN threshold: the search's range holds the fix
    ladder["b"].diagnoses = [{"code": "lr_too_low", "severity": "warning", "evidence": {"below_threshold": 11000.0}}]
    d = decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig())
    assert d.kind == SEARCH and "lr_too_low" in d.reason
    assert decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig(trials=0)).kind == INSERT
    # one example fitting only at 10x the LR (no gap to the threshold): an easier stage first, as before
    ladder["b"].diagnoses = [{"code": "lr_too_low", "severity": "warning", "evidence": {"fits_at_lr": 10.0}}]
    assert decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig()).kind == INSERT


def test_a_bug_is_never_tuned_away():
    ladder = chain(("a", 10, CONVERGED), ("b", 11, FAILED))
    ladder["b"].cause = {"code": "params_not_updating", "severity": "error", "root": True}
    d = decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 0, SearchConfig())
    assert d.kind == STOP and "params_not_updating" in d.reason
    ladder["b"].search = {}  # even when the stage asks for a search
    assert decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 0, SearchConfig()).kind == STOP
    # a NaN the ranking calls a symptom is still no tuning problem: the LR probe keeps the LR below the
    # NaN threshold, so a trial that stops before the NaN would only hide it
    ladder["b"].search = None
    ladder["b"].cause = {"code": "nonfinite", "severity": "error", "root": False}
    d = decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 0, SearchConfig())
    assert d.kind == STOP and "not searched" in d.reason and "nonfinite" in d.reason
    # an error that a far too low LR also produces (one example not fitted) does not stop the search
    ladder["b"].cause = {"code": "overfit_batch_size_1", "severity": "error", "root": False}
    assert decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 0, SearchConfig()).kind == SEARCH


def test_a_stage_can_ask_for_a_search_outright_and_is_judged_on_it_once_searched():
    ladder = chain(("a", 10, CONVERGED), ("b", 1000, CONVERGED))
    met = Outcome(True, 40, 0.95, "goal met")
    assert decide(ladder, ladder["b"], met, SUBSET, 3, SearchConfig()).kind == ADVANCE
    assert decide(ladder, ladder["b"], met, SUBSET, 3, SearchConfig(stage="b")).kind == SEARCH
    ladder["b"].search = {"trials": 4}
    d = decide(ladder, ladder["b"], met, SUBSET, 3, SearchConfig())
    assert d.kind == SEARCH and "4 trials" in d.reason
    ladder["b"].search = {"trials": 0}  # the stage's own setting wins
    assert decide(ladder, ladder["b"], met, SUBSET, 3, SearchConfig(stage="b")).kind == ADVANCE
    # searched: the search's outcome decides, with no second search
    ladder["b"].search, ladder["b"].trials = {}, [{"number": 0}]
    assert decide(ladder, ladder["b"], met, SUBSET, 3, SearchConfig()).kind == ADVANCE
    d = decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig())
    assert d.kind == STOP and "no trial" in d.reason


def test_a_named_fault_stops_unasked_while_a_learning_rate_cause_is_searched():
    ladder = chain(("a", 10, CONVERGED), ("b", 11, FAILED))
    ladder["b"].cause = {"code": "saturated_units", "severity": "warning", "root": False}
    d = decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 0, SearchConfig())
    assert d.kind == STOP and "saturated_units" in d.reason and "search.stage=b" in d.reason
    for code in ("lr_too_low", "lr_too_high", "exploding_gradients"):
        ladder["b"].cause = {"code": code, "severity": "warning", "root": False}
        assert decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 0, SearchConfig()).kind == SEARCH, code
    ladder["b"].cause = {"code": "saturated_units", "severity": "warning", "root": False}
    asked = SearchConfig(stage="b")  # asked for: searched whatever the warning
    assert decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 0, asked).kind == SEARCH


def _probed(ladder: Ladder, lr_used: float, threshold: float = 0.3) -> None:
    """What the LR probe leaves on a first stage that it lowered to threshold/3 (fallback threshold/10)."""
    first = ladder.order()[0]
    first.diagnoses.append({"code": "lr_too_high", "severity": "warning", "evidence": {
        "threshold": threshold, "lr": threshold / 3, "fallback_lr": threshold / 10}})
    for s in ladder.order():
        s.lr_used = lr_used


def test_a_stage_failing_at_the_probes_lr_is_retried_once_at_the_far_end_of_the_range():
    ladder = chain(("a", 10, CONVERGED), ("b", 1000, FAILED))
    _probed(ladder, 0.1)
    d = decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig())
    assert d.kind == RETRY and d.stage == "b" and abs(d.lr - 0.03) < 1e-12 and "0.03" in d.reason
    assert d.restart == ("a", "b")  # a trained at the probe's LR too: b's warm start came from there
    # a first stage is searched instead: nothing warm-started from the high end, and its trials are cheap
    first = chain(("a", 10, FAILED))
    _probed(first, 0.1)
    assert decide(first, first["a"], FAILED_OUTCOME, SUBSET, 3, SearchConfig()).kind == SEARCH
    # after the retry (the stage trains at 0.03 now) it is inserted or searched as before
    ladder["b"].lr = ladder["b"].lr_used = d.lr
    assert decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig()).kind == INSERT


def test_no_retry_for_an_lr_the_user_or_a_search_chose_nor_for_a_named_fault():
    ladder = chain(("a", 10, CONVERGED), ("b", 1000, FAILED))
    _probed(ladder, 0.05)  # e.g. a search's winner: not the probe's pick
    assert decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig()).kind == INSERT
    kept = chain(("a", 10, CONVERGED), ("b", 1000, FAILED))  # the user's LR, kept below the threshold
    kept["a"].diagnoses.append({"code": "lr_probe", "severity": "info", "evidence": {"threshold": 0.3, "lr": 0.01}})
    for s in kept.order():
        s.lr_used = 0.01
    assert decide(kept, kept["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig()).kind == INSERT
    faulty = chain(("a", 10, CONVERGED), ("b", 1000, FAILED))
    _probed(faulty, 0.1)
    faulty["b"].cause = {"code": "dead_units", "severity": "warning", "stage": "b", "iteration": 300}
    assert decide(faulty, faulty["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig()).kind == INSERT


def test_a_stage_a_search_brought_to_its_goal_keeps_its_cause_line_and_the_run_converges():
    # holdout24's recall/lr_0.3: overfit_10 failed at the probe's LR (cause lr_too_high), a trial converged, every
    # stage after it converged: the run converged (exit 0), its report still says why the stage was searched
    from orchestrator.ladder import CONVERGED, FAILED, Goal, Ladder, Stage
    from orchestrator.tables import judged, stalled_on
    cause = {"code": "lr_too_high", "severity": "warning"}
    searched = Stage("a", Goal("train/acc", 1.0), {}, status=CONVERGED, cause=cause,
                     trials=[{"number": 0, "status": "converged"}])
    later = Stage("b", Goal("val/acc", 0.9), {}, after=["a"], status=CONVERGED)
    lad = Ladder([searched, later])
    assert judged(lad) == [searched] and stalled_on(lad) == []
    # a goal met on a named bug (stop_on_bug), and a failed stage, still leave the run stalled
    stopped = Stage("b", Goal("val/acc", 0.9), {}, after=["a"], status=CONVERGED, cause=cause)
    assert stalled_on(Ladder([searched, stopped])) == [stopped]
    failed = Stage("b", Goal("val/acc", 0.9), {}, after=["a"], status=FAILED, cause=cause)
    assert stalled_on(Ladder([searched, failed])) == [failed]


def test_steps_too_noisy_for_small_batches_retry_the_stage_on_larger_ones_and_the_stages_after_it_too():
    ladder = chain(("a", 10, CONVERGED), ("b", 100, FAILED), ("c", 1000, "pending"))
    for s in ladder.order():
        s.lr_used = 0.001
    ladder["b"].diagnoses.append({"code": "lr_too_high", "severity": "warning", "evidence": {
        "lr": 0.001, "settles_lower": True, "batch_noise": True, "batch_size": 2, "larger_batch": 16}})
    ladder["b"].cause = {"code": "lr_too_high", "severity": "warning", "root": True, "stage": "b"}
    d = decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig())
    # the same LR, the stage alone (a converged on batches of two), on batches of 16
    assert d.kind == RETRY and d.restart == ("b",) and d.lr is None and d.batch_size == 16, d
    apply(ladder, d)
    assert [ladder[n].batch_size for n in "abc"] == [None, 16, 16] and ladder["b"].lr_used == 0.001
    # retried once: on the larger batches it is judged as any failed stage
    assert decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig()).kind == INSERT


@pytest.mark.parametrize("measured", [{"nan_threshold": 0.111, "lower_lr_fits": True}, {"loss_climbed": True},
                                      {"settles_lower": True}])
def test_a_later_stage_whose_lr_was_measured_too_high_is_retried_once_at_a_tenth(measured):
    # measured by a refit at a tenth of the LR, or by its own training loss climbing back
    ladder = chain(("a", 10, CONVERGED), ("b", 1000, FAILED))
    for s in ladder.order():
        s.lr_used = 0.1
    ladder["b"].diagnoses.append({"code": "lr_too_high", "severity": "warning", "evidence": {"lr": 0.1, **measured}})
    ladder["b"].cause = {"code": "lr_too_high", "severity": "warning", "root": True, "stage": "b"}
    d = decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig())
    assert d.kind == RETRY and d.restart == ("a", "b") and abs(d.lr - 0.01) < 1e-12, d  # a trained at 0.1 too
    ladder["a"].lr_used = 0.02  # a stage before it that trained at another LR keeps its weights
    assert decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig()).restart == ("b",)
    ladder["b"].lr = ladder["b"].lr_used = d.lr  # retried: it is judged as any failed stage from now on
    assert decide(ladder, ladder["b"], FAILED_OUTCOME, SUBSET, 3, SearchConfig()).kind == INSERT
    first = chain(("a", 10, FAILED))  # a first stage is searched (the tenth is among its trials)
    first["a"].lr_used = 0.1
    first["a"].diagnoses = list(ladder["b"].diagnoses)
    first["a"].cause = dict(ladder["b"].cause, stage="a")
    assert decide(first, first["a"], FAILED_OUTCOME, SUBSET, 3, SearchConfig()).kind == SEARCH
