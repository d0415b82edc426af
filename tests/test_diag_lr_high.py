"""An LR too high to learn at that never goes non-finite (failure.lr_near_threshold): a stage that failed within 3x of
the probe's NaN threshold is compared with fresh weights at a tenth of its LR."""
from __future__ import annotations

import pytest
import torch

from orchestrator.diagnostics.ranking import most_likely_cause
from test_diag_start import FAMILIES, found, run

torch.set_num_threads(1)


def near(lr: float) -> dict:
    return {"threshold": 1.2 * lr}  # the probe's evidence: the LR kept, 1.2x below its NaN threshold


@pytest.mark.parametrize("family", ["gru", "transformer"])
def test_an_lr_just_below_the_nan_threshold_that_does_not_learn_is_named(family):
    # Adam at 0.1: the GRU's and the Transformer's losses stay finite and high (train/acc <= 0.71 of 1.0 in 200 steps),
    # while a tenth of the LR fits the same examples 2x to 70x lower
    r, outcome = run(FAMILIES[family](), budget=200, lr=0.1, after_failure=True, probe=near(0.1))
    d = found(r, "lr_too_high")
    assert not outcome.converged and d, [x["code"] for x in r.stage.diagnoses]
    e = d[0]["evidence"]
    assert e["lower_lr_fits"] and e["loss_at_tenth"] < 0.5 * e["loss_at_lr"]
    assert "0.0" in d[0]["fix"]  # the range to lower it to, 1-10x below the threshold
    cause = most_likely_cause(None, r.stage)
    assert cause["code"] == "lr_too_high" and cause["root"]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_usual_lr_near_the_threshold_is_not_blamed(family):
    # the same runs at 3e-3, the threshold put 3x above it (the probe's own pick), and the MLP and CNN at 0.3, which
    # they learn at (Adam's steps are bounded by the LR): a tenth of the LR does not fit clearly better
    for lr in (3e-3, 0.3) if family in ("mlp", "cnn") else (3e-3,):
        r, outcome = run(FAMILIES[family](), budget=200, lr=lr, after_failure=True, probe={"threshold": 3 * lr})
        assert not outcome.converged  # the goal is out of reach: the failure checks run
        assert not found(r, "lr_too_high"), (lr, found(r, "lr_too_high"))


def test_without_a_probe_threshold_the_check_does_not_run():
    r, _ = run(FAMILIES["gru"](), budget=200, lr=0.1, after_failure=True)
    assert not found(r, "lr_too_high")


# --- real labels that fit worse than shuffled ones (labels_not_learnable, evidence shuffled_better) ---------------

@pytest.mark.parametrize("bug", ["keypoint_xy_swapped", "none"])
def test_targets_in_the_wrong_layout_fit_worse_than_shuffled_ones(bug):
    # benchmarks/holdout20's keypoint regressor (a soft-argmax over a CNN's heatmap, written outside this repository)
    # with its targets kept as (row, col) for the soft-argmax's (x, y): a translation-equivariant net cannot put its
    # heatmap at the transposed position, and fits those targets worse than shuffled ones, which it memorises
    from benchmarks.holdout20.keypoint import KeypointTask
    problem = KeypointTask(bug).build({"subset": 100}, 0)
    r, outcome = run(problem, budget=50, lr=0.0088, batch_size=32, after_failure=True)
    assert not outcome.converged
    d = [x for x in found(r, "labels_not_learnable") if x["evidence"].get("shuffled_better")]
    if bug == "none":
        assert not found(r, "labels_not_learnable")
        return
    assert d, [(x["code"], x["message"]) for x in r.stage.diagnoses]
    e = d[0]["evidence"]
    assert e["shuffled_final"] < 0.5 * e["real_final"] and e["shuffled_final_again"] < 0.5 * e["real_final_again"]


def test_a_held_out_accuracy_far_above_guessing_clears_the_labels():
    # the label check's escape for a stage that generalised although 200 steps on 256 examples do not: its best
    # held-out accuracy against always guessing the most frequent training class
    from types import SimpleNamespace
    from orchestrator.diagnostics.failure import _beyond_guessing
    from orchestrator.ladder import Goal, Stage
    targets = torch.tensor([0] * 20 + [1] * 10 + [2] * 10 + [-100] * 5)  # the most frequent class: 0.5 of them

    def why(best, metric="val/acc", mode="max", t=targets):
        run = SimpleNamespace(stage=Stage("s", Goal(metric, 0.9, mode), knobs={}), best=best)
        return _beyond_guessing(run, t, 0.2)

    assert "0.75" in why(0.75) and "0.5" in why(0.75)
    assert why(0.65) is None  # within the margin of guessing
    assert why(0.95, metric="train/acc") is None  # memorising says nothing about unseen examples
    assert why(0.95, t=targets.float()) is None  # real-valued targets have no class to guess
    assert why(None) is None
