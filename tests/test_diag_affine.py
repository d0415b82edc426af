"""A model that computes an affine function of its inputs (affine.affine_model): an activation left out."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from orchestrator.ladder import Goal, Stage
from orchestrator.task import Problem
from test_diag_start import found, run

torch.set_num_threads(1)


def circle(seed: int, activation) -> Problem:
    """Inside or outside a circle, from 2 coordinates (and 6 noise features): not linearly separable."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(200, 8, generator=g)
    y = (x[:, :2].pow(2).sum(1) > 1.4).long()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 32), activation, nn.Linear(32, 32), activation, nn.Linear(32, 2))

    def evaluate(m):
        with torch.no_grad():
            return {"train/acc": float((m(x).argmax(1) == y).float().mean())}

    return Problem(model=model, train_size=200, get_batch=lambda i: (x[i], y[i]),
                   loss=lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]), evaluate=evaluate,
                   chance_loss=0.69)


def affine(r):
    return [d for d in found(r, "loss_floor") if d["evidence"].get("affine")]


def test_layers_without_a_nonlinearity_between_them_are_named():
    r, outcome = run(circle(0, nn.Identity()), budget=300, lr=1e-2, batch_size=32, after_failure=True,
                     stage=Stage("s", Goal("train/acc", 0.99, "max"), knobs={}))
    d = affine(r)
    assert not outcome.converged and d and d[0]["severity"] == "warning", [x["message"] for x in r.stage.diagnoses]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("activation", [nn.ReLU(), nn.Tanh()], ids=["relu", "tanh"])
def test_models_with_a_nonlinearity_are_not(seed, activation):
    r, outcome = run(circle(seed, activation), budget=200, lr=1e-2, batch_size=32, after_failure=True,
                     stage=Stage("s", Goal("train/acc", 2.0, "max"), knobs={}))
    assert not outcome.converged and not affine(r), [x["message"] for x in r.stage.diagnoses]
