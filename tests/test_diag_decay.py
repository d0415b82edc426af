"""A weight decay that holds the loss at a floor (failure.overfit_batch_size_1: one example fit without it)."""
from __future__ import annotations

import pytest
import torch

from orchestrator.config import OptimConfig
from orchestrator.diagnostics.ranking import tier
from test_diag_start import FAMILIES, found, run

torch.set_num_threads(1)


def decay_floor(r):
    return [d for d in found(r, "loss_floor") if "weight_decay" in d["evidence"]]


@pytest.mark.parametrize("family", ["mlp", "gru"])
def test_a_weight_decay_that_holds_one_example_at_a_floor_is_named(family):
    # Adam's coupled L2 at 0.5 (holdout48's tallies): one example cannot be fit at any LR tried, and fits without it
    r, outcome = run(FAMILIES[family](), budget=100, lr=3e-3, optim=OptimConfig(weight_decay=0.5), after_failure=True)
    d = decay_floor(r)
    assert not outcome.converged and d and d[0]["severity"] == "warning", [x["message"] for x in r.stage.diagnoses]
    # measured: a root cause, which the dead units and vanishing gradients it leaves behind rank below; and no label
    # comparison on a loss held at a floor (real and shuffled labels both stop there: holdout52's seismic)
    assert tier(d[0]) == 0
    assert not [x for x in r.stage.diagnoses if x["code"] == "labels_not_learnable" and x["severity"] != "info"]


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_a_usual_weight_decay_is_not(family):
    for optim in (OptimConfig(weight_decay=1e-4), OptimConfig(name="adamw", weight_decay=0.01)):
        r, outcome = run(FAMILIES[family](), budget=30, lr=3e-3, optim=optim, after_failure=True)
        assert not decay_floor(r), [x["message"] for x in r.stage.diagnoses]
