"""The insertion rule, the budget rule and the decisions, on plain objects (no training)."""
import torch

from orchestrator.knobs import Knob, intermediate
from orchestrator.ladder import CONVERGED, FAILED, Goal, Ladder, Stage
from orchestrator.policy import ADVANCE, INSERT, STOP, Outcome, budget_for, decide

GOAL = Goal("val/acc", 0.9)
SUBSET = Knob("subset", 10, 1000, "log")
LENGTH = Knob("max_len", 5, 15, "linear")
VARIANT = Knob("variant", "lm", "translate", "categorical", ("lm", "first_word", "translate"))
KNOBS = {"subset": SUBSET, "max_len": LENGTH, "variant": VARIANT}


def test_halfway_is_measured_on_each_knobs_scale():
    assert SUBSET.halfway(10, 1000) == 100            # geometric mean on a log scale
    assert SUBSET.halfway(100, 101) == 100            # integers round toward the easier end
    assert LENGTH.halfway(5, 15) == 10                # arithmetic mean on a linear scale
    assert Knob("p", 0.0, 1.0).halfway(0.0, 1.0) == 0.5
    assert VARIANT.halfway("lm", "translate") == "first_word"
    assert VARIANT.halfway("first_word", "translate") == "first_word"  # neighbours: the easier one


def chain(*specs) -> Ladder:
    stages, prev = [], None
    for name, knobs, status, iterations in specs:
        stages.append(Stage(name, GOAL, knobs, after=[prev] if prev else [], status=status, iterations=iterations))
        prev = name
    return Ladder(stages)


def test_budget_is_growth_times_what_the_predecessor_needed():
    ladder = chain(("a", {}, CONVERGED, 40), ("b", {}, "pending", 0))
    assert budget_for(ladder["a"], ladder, 2000, 10, 100) == 2000
    assert budget_for(ladder["b"], ladder, 2000, 10, 100) == 400
    assert budget_for(ladder["b"], ladder, 2000, 10, 1000) == 1000   # floored at min_budget
    ladder["b"].budget_override = 77
    assert budget_for(ladder["b"], ladder, 2000, 10, 1000) == 77


def test_a_failed_stage_gets_a_stage_halfway_toward_its_converged_predecessor():
    easy = {"subset": 10, "max_len": 5, "variant": "lm"}
    hard = {"subset": 1000, "max_len": 15, "variant": "translate"}
    ladder = chain(("a", easy, CONVERGED, 40), ("b", hard, FAILED, 400))
    d = decide(ladder, ladder["b"], Outcome(False, 400, 0.5, "budget spent"), KNOBS, max_insertions=3)
    assert d.kind == INSERT and d.after == "a" and d.new_stage == "b.half1"
    assert d.knobs == {"subset": 100, "max_len": 10, "variant": "first_word"}
    ladder.insert_between("a", "b", d.new_stage, d.knobs)
    assert [s.name for s in ladder.order()] == ["a", "b.half1", "b"]
    assert ladder["b"].after == ["b.half1"] and ladder["b.half1"].inserted


def test_insertions_stop_at_the_limit_per_original_edge():
    ladder = chain(("a", {"subset": 10}, CONVERGED, 40), ("b", {"subset": 10000}, FAILED, 400))
    knobs = {"subset": SUBSET}
    for i in range(2):
        d = decide(ladder, ladder["b"], Outcome(False, 1, 0.1, "plateau"), knobs, max_insertions=2)
        assert d.kind == INSERT
        ladder.insert_between(ladder["b"].after[0], "b", d.new_stage, d.knobs)
        ladder[d.new_stage].status = CONVERGED
    d = decide(ladder, ladder["b"], Outcome(False, 1, 0.1, "plateau"), knobs, max_insertions=2)
    assert d.kind == STOP and "max_insertions=2" in d.reason


def test_no_setting_between_neighbours_stops_with_a_reason():
    ladder = chain(("a", {"subset": 10}, CONVERGED, 40), ("b", {"subset": 11}, FAILED, 400))
    d = decide(ladder, ladder["b"], Outcome(False, 400, 0.1, "budget spent"), {"subset": SUBSET}, 3)
    assert d.kind == STOP and "no setting of the knobs lies between" in d.reason


def test_first_stage_failure_stops_and_success_advances():
    ladder = chain(("a", {"subset": 10}, FAILED, 2000))
    assert decide(ladder, ladder["a"], Outcome(False, 2000, 0.1, "budget spent"), {"subset": SUBSET}, 3).kind == STOP
    assert decide(ladder, ladder["a"], Outcome(True, 20, 1.0, "goal met"), {"subset": SUBSET}, 3).kind == ADVANCE


def test_intermediate_moves_every_knob():
    assert intermediate({"subset": SUBSET, "max_len": LENGTH}, {"subset": 10, "max_len": 5},
                        {"subset": 1000, "max_len": 5}) == {"subset": 100, "max_len": 5}


def test_neighbouring_categories_keep_the_harder_problem_while_numbers_can_move():
    knobs = {"subset": SUBSET, "max_len": LENGTH, "variant": VARIANT}
    first_word = {"subset": 1000, "max_len": 5, "variant": "first_word"}
    translate = {"subset": 1000, "max_len": 15, "variant": "translate"}
    # translation of shorter sentences, not another first-word stage
    assert intermediate(knobs, first_word, translate) == {"subset": 1000, "max_len": 10, "variant": "translate"}
    # nothing numeric left to move: the category steps toward the easy end
    same_len = dict(translate, max_len=5)
    assert intermediate(knobs, first_word, same_len)["variant"] == "first_word"
    # categories two apart meet in the middle whatever the numbers do
    lm = dict(first_word, variant="lm")
    assert intermediate(knobs, lm, translate)["variant"] == "first_word"


def test_a_bug_named_as_the_cause_stops_instead_of_inserting():
    ladder = chain(("a", {"subset": 10}, CONVERGED, 50), ("b", {"subset": 1000}, FAILED, 400))
    failed = Outcome(False, 400, 0.1, "budget spent")
    ladder["b"].cause = {"code": "input_scale", "severity": "warning", "root": True}
    assert decide(ladder, ladder["b"], failed, {"subset": SUBSET}, 3).kind == INSERT  # a warning: maybe hard
    ladder["b"].cause = {"code": "exploding_gradients", "severity": "error", "root": False}
    assert decide(ladder, ladder["b"], failed, {"subset": SUBSET}, 3).kind == INSERT  # a symptom
    ladder["b"].cause = {"code": "params_not_updating", "severity": "error", "root": True}
    d = decide(ladder, ladder["b"], failed, {"subset": SUBSET}, 3)
    assert d.kind == STOP and "params_not_updating" in d.reason


def test_an_optimiser_setting_no_lr_changes_stops_instead_of_inserting():
    # the optimiser's own decay (Adagrad's lr_decay), a schedule that ends the steps, swapped betas: an easier stage or
    # a search over the LR trains under the same settings (holdout55's stamps: an insertion and a search, 207 s)
    ladder = chain(("a", {"subset": 10}, CONVERGED, 50), ("b", {"subset": 1000}, FAILED, 400))
    failed = Outcome(False, 400, 0.1, "budget spent")
    ladder["b"].cause = {"code": "lr_too_low", "severity": "warning", "root": True, "settings": True}
    d = decide(ladder, ladder["b"], failed, {"subset": SUBSET}, 3)
    assert d.kind == STOP and "optimiser's own settings" in d.reason
    ladder["b"].cause = {"code": "lr_too_low", "severity": "warning", "root": True, "settings": False}
    assert decide(ladder, ladder["b"], failed, {"subset": SUBSET}, 3).kind == INSERT


def test_a_fault_there_from_the_stage_s_first_step_stops_instead_of_inserting():
    ladder = chain(("a", {"subset": 10}, CONVERGED, 50), ("b", {"subset": 1000}, FAILED, 400))
    failed = Outcome(False, 400, 0.1, "budget spent")
    at_start = {"code": "saturated_units", "severity": "warning", "root": False, "stage": "b", "iteration": 1}
    ladder["b"].cause = at_start
    d = decide(ladder, ladder["b"], failed, {"subset": SUBSET}, 3)
    assert d.kind == STOP and "saturated_units" in d.reason and "first step" in d.reason
    # seen later in training, in an ancestor, a cause the LR or clipping fixes, or after a fix the orchestrator
    # applied (a search's settings): an easier stage may help
    for other in ({"iteration": 300}, {"stage": "a"}, {"code": "exploding_gradients"}, {"severity": "info"},
                  {"after_fix": True}):
        ladder["b"].cause = dict(at_start, **other)
        assert decide(ladder, ladder["b"], failed, {"subset": SUBSET}, 3).kind == INSERT, other


def test_a_fault_of_the_initial_weights_inherited_through_warm_starts_stops_instead_of_inserting():
    ladder = chain(("a", {"subset": 10}, CONVERGED, 50), ("b", {"subset": 100}, CONVERGED, 200),
                   ("c", {"subset": 1000}, FAILED, 400))
    failed = Outcome(False, 400, 0.1, "budget spent")
    init = {"code": "bad_init_loss", "severity": "warning", "root": False, "stage": "a", "iteration": 50}
    ladder["c"].cause = init
    d = decide(ladder, ladder["c"], failed, {"subset": SUBSET}, 3)
    assert d.kind == STOP and "bad_init_loss" in d.reason and "warm start" in d.reason
    # another fault, one found after a fix, or a stage that does not start from those weights: an easier stage may help
    for other in ({"code": "saturated_units"}, {"after_fix": True}, {"severity": "info"}):
        ladder["c"].cause = dict(init, **other)
        assert decide(ladder, ladder["c"], failed, {"subset": SUBSET}, 3).kind == INSERT, other
    ladder["c"].cause, ladder["c"].init_from = init, "none"  # trained from fresh weights
    assert decide(ladder, ladder["c"], failed, {"subset": SUBSET}, 3).kind == INSERT


def test_a_long_stage_evaluates_at_most_max_evals_times():
    from orchestrator.stopping import evaluation_spacing
    assert evaluation_spacing(2000, 10, 200) == 10          # short stages keep eval_every
    every = evaluation_spacing(11000, 25, 200)
    assert every == 55 and 11000 // every <= 200
    assert evaluation_spacing(50000, 50, 0) == 50           # 0: no limit


def test_a_stage_that_met_its_goal_on_a_named_bug_stops_the_ladder():
    ladder = chain(("a", {"subset": 10}, CONVERGED, 50), ("b", {"subset": 1000}, CONVERGED, 400))
    met = Outcome(True, 50, 1.0, "goal met")
    frozen = {"code": "params_not_updating", "severity": "error", "stage": "a", "iteration": 0}
    ladder["a"].diagnoses = [frozen]
    d = decide(ladder, ladder["a"], met, {"subset": SUBSET}, 3)
    assert d.kind == STOP and "params_not_updating" in d.reason and "stop_on_bug" in d.reason
    assert decide(ladder, ladder["a"], met, {"subset": SUBSET}, 3, stop_on_bug=False).kind == ADVANCE
    # a warning, a symptom, an error after a fix the orchestrator applied, another stage's: the stage advances
    for other in ({"severity": "warning"}, {"code": "exploding_gradients"}, {"after_fix": "lr=0.001"},
                  {"stage": "b"}):
        ladder["a"].diagnoses = [dict(frozen, **other)]
        assert decide(ladder, ladder["a"], met, {"subset": SUBSET}, 3).kind == ADVANCE, other


def test_a_fault_of_the_weights_that_outlasted_a_converged_stage_stops_the_ladder():
    ladder = chain(("a", {"subset": 10}, CONVERGED, 50), ("b", {"subset": 100}, CONVERGED, 400),
                   ("c", {"subset": 1000}, "pending", 0))
    met = Outcome(True, 400, 1.0, "goal met")
    rails = {"code": "saturated_units", "severity": "warning", "iteration": 1}
    ladder["a"].diagnoses, ladder["b"].diagnoses = [dict(rails, iteration=0)], [rails]
    d = decide(ladder, ladder["b"], met, {"subset": SUBSET}, 3)
    assert d.kind == STOP and "saturated_units" in d.reason and "first step of a" in d.reason
    assert decide(ladder, ladder["b"], met, {"subset": SUBSET}, 3, stop_on_bug=False).kind == ADVANCE
    # the first stage has nothing to compare with; a fault a's training removed, one that appeared later in b,
    # one the LR or clipping fix, one of the optimiser's settings, or an info: b advances
    assert decide(ladder, ladder["a"], met, {"subset": SUBSET}, 3).kind == ADVANCE
    for a_had, b_has in (([], [rails]), ([rails], [dict(rails, iteration=300)]),
                         ([dict(rails, code="lr_too_high")], [dict(rails, code="lr_too_high")]),
                         ([rails], [dict(rails, evidence={"betas": [0.9, 0.9]})]),
                         ([dict(rails, code="bad_init_loss")], [dict(rails, code="bad_init_loss")]),
                         ([dict(rails, severity="info")], [dict(rails, severity="info")])):
        ladder["a"].diagnoses, ladder["b"].diagnoses = a_had, b_has
        assert decide(ladder, ladder["b"], met, {"subset": SUBSET}, 3).kind == ADVANCE, (a_had, b_has)
    # found again on the weights the stage trained (startchecks.still_railed): a first stage stops on it too
    ladder["a"].diagnoses = [dict(rails, evidence={"recurrent_gain": True, "outlasted_training": True})]
    d = decide(ladder, ladder["a"], met, {"subset": SUBSET}, 3)
    assert d.kind == STOP and "again at its end" in d.reason
    ladder["b"].init_from = "none"  # fresh weights: nothing was inherited
    ladder["a"].diagnoses, ladder["b"].diagnoses = [rails], [rails]
    assert decide(ladder, ladder["b"], met, {"subset": SUBSET}, 3).kind == ADVANCE


def test_a_goal_is_met_up_to_float32_rounding_of_the_metric():
    acc = float(torch.tensor(384.0) / torch.tensor(400.0))  # 0.95999998 in float32
    assert acc < 0.96 and Goal("val/acc", 0.96).met(acc)
    assert not Goal("val/acc", 0.96).met(383 / 400)
    loss = float(torch.tensor(0.3, dtype=torch.float32))  # 0.30000001
    assert loss > 0.3 and Goal("val/loss", 0.3, "min").met(loss)
    assert not Goal("val/loss", 0.3, "min").met(0.3001)
