"""The most likely cause of a failed stage: root causes before symptoms, errors before warnings, the
first sign before later ones, symptoms after an applied fix last; stored in ladder.json and report.md."""
from __future__ import annotations

import json

from orchestrator.diagnostics.ranking import most_likely_cause
from orchestrator.ladder import Goal, Ladder, Stage
from orchestrator.record import STALLED, Record, load, stage_from_dict
from orchestrator.report import ReportSink


def d(code, severity="warning", t=1.0, **kw):
    return {"code": code, "severity": severity, "message": f"{code} message", "iteration": 0, "fix": "",
            "evidence": kw.pop("evidence", {}), "time": t, "stage": kw.pop("stage", ""), **kw}


def ladder_of(*diag_lists):
    stages, prev = [], None
    for i, ds in enumerate(diag_lists):
        s = Stage(f"s{i}", Goal("val/acc", 1.0), knobs={}, after=[prev] if prev else [])
        s.diagnoses = list(ds)
        s.status = "converged"
        stages.append(s)
        prev = s.name
    stages[-1].status = "failed"
    return Ladder(stages), stages[-1]


def test_unscaled_inputs_rank_above_the_lr_they_cause():
    ladder, s = ladder_of([d("input_scale", t=1), d("lr_too_high", t=2, applied="LR 1 -> 0.01")])
    assert most_likely_cause(ladder, s)["code"] == "input_scale"


def test_a_named_bug_ranks_above_the_non_finite_loss_it_made():
    ladder, s = ladder_of([d("nonfinite", t=1), d("unstable_softmax", "error", t=2), d("dead_units", t=3)])
    assert most_likely_cause(ladder, s)["code"] == "unstable_softmax"


def test_errors_rank_above_warnings_and_earlier_above_later():
    ladder, s = ladder_of([d("dead_units", t=1), d("overfit_batch_size_1", "error", t=2)])
    assert most_likely_cause(ladder, s)["code"] == "overfit_batch_size_1"
    ladder, s = ladder_of([d("labels_not_learnable", "error", t=2), d("params_not_updating", "error", t=1)])
    assert most_likely_cause(ladder, s)["code"] == "params_not_updating"


def test_a_symptom_after_an_applied_fix_ranks_below_one_before_it():
    ladder, s = ladder_of([d("exploding_gradients", t=1, applied="clipping at 1"), d("lr_too_low", t=2),
                           d("dead_units", t=0.5)])
    assert most_likely_cause(ladder, s)["code"] == "dead_units"


def test_optimiser_settings_measured_rank_above_the_symptoms_they_cause():
    # a weight decay that holds the loss up (fresh weights far better without it) shrinks the first layers' gradients
    # first; a clip far below the gradients makes the units look dead; a loss that climbed back is the LR's
    for measured in (d("loss_floor", t=2, evidence={"loss_without": 2e-4}), d("lr_too_low", t=2,
                     evidence={"tight_clip": True}), d("lr_too_high", t=2, evidence={"loss_climbed": True})):
        ladder, s = ladder_of([d("vanishing_gradients", t=1), measured, d("dead_units", t=0.5)])
        cause = most_likely_cause(ladder, s)
        assert cause["code"] == measured["code"] and cause["root"]
    # settings no LR changes say so to the policy (it stops rather than search around them)
    for evidence, settings in (({"own_decay": True}, True), ({"peak_lr": 1e-3}, True), ({"tight_clip": True}, False)):
        ladder, s = ladder_of([d("lr_too_low", t=1, evidence=evidence)])
        assert most_likely_cause(ladder, s)["settings"] == settings
    # without such evidence they stay symptoms: the first sign wins
    ladder, s = ladder_of([d("vanishing_gradients", t=1), d("lr_too_low", t=2)])
    assert most_likely_cause(ladder, s)["code"] == "vanishing_gradients"


def test_checks_run_on_nan_weights_rank_last():
    ladder, s = ladder_of([d("nonfinite", t=1), d("params_not_updating", "error", t=2)])
    assert most_likely_cause(ladder, s)["code"] == "nonfinite"


def test_ancestors_data_checks_count_and_info_never_accuses():
    ladder, s = ladder_of([d("input_scale", t=1), d("lr_probe", "info", t=2)], [d("dead_units", t=3)])
    cause = most_likely_cause(ladder, s)
    assert cause["code"] == "input_scale" and "s0" in cause["why"]
    ladder, s = ladder_of([d("lr_probe", "info"), d("check_skipped", "info")])
    assert most_likely_cause(ladder, s) is None


def test_the_cause_is_in_ladder_json_and_the_report(tmp_path):
    ladder, s = ladder_of([d("nonfinite", t=1, evidence={"before_update": True}, severity="error")])
    s.cause = most_likely_cause(ladder, s)
    rec = Record(tmp_path / "ladder.json", "t", 0)
    rec.status = STALLED
    rec.write(ladder)
    doc = load(rec.path)
    assert doc["cause"]["code"] == "nonfinite" and doc["stages"][0]["cause"]["code"] == "nonfinite"
    assert stage_from_dict(doc["stages"][0]).cause == s.cause
    old = dict(doc["stages"][0])
    del old["cause"]  # a ladder.json written before causes existed still loads
    assert stage_from_dict(json.loads(json.dumps(old))).cause is None
    ReportSink(tmp_path / "report.md", "t").finished(ladder, STALLED, tmp_path, {}, [])
    text = (tmp_path / "report.md").read_text()
    assert text.count("Most likely cause") == 1 and "`nonfinite`" in text


def test_diagnoses_are_listed_in_recording_order_across_stages(tmp_path):
    ladder, s = ladder_of([d("input_scale", t=1), d("dead_units", t=3)], [d("lr_too_low", t=2)])
    ReportSink(tmp_path / "report.md", "t").finished(ladder, STALLED, tmp_path, {}, [])
    text = (tmp_path / "report.md").read_text()
    assert text.index("`input_scale`") < text.index("`lr_too_low`") < text.index("`dead_units`")


def test_a_traced_nonfinite_ranks_below_the_cause_it_names():
    nan = d("nonfinite", "error", t=1, evidence={"before_update": True, "trace": {"cause": "division_by_zero"}})
    ladder, s = ladder_of([nan, d("division_by_zero", "error", t=2)])
    assert most_likely_cause(ladder, s)["code"] == "division_by_zero"


def test_unscaled_inputs_rank_above_the_nan_a_layer_then_makes():
    # a feature of 50,000 drives a gate's softmax to exact zeros, whose log is -inf: the log_of_zero error is real,
    # but the unscaled input found before any training is the root
    ladder, s = ladder_of([d("input_scale", t=1), d("log_of_zero", "error", t=2), d("nonfinite", "error", t=3)])
    assert most_likely_cause(ladder, s)["code"] == "input_scale"
    ladder, s = ladder_of([d("log_of_zero", "error", t=2), d("nonfinite", "error", t=3)])
    assert most_likely_cause(ladder, s)["code"] == "log_of_zero"
    # ... but an error that names another root (targets that do not follow from the inputs) still outranks it
    ladder, s = ladder_of([d("input_scale", t=1), d("labels_not_learnable", "error", t=2)])
    assert most_likely_cause(ladder, s)["code"] == "labels_not_learnable"
