"""A weight decay too strong for its optimiser (failure.decay_floor): fresh weights fit far better without it."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from orchestrator.config import OptimConfig
from orchestrator.ladder import Goal, Stage
from orchestrator.task import Problem
from test_diag_start import found, run

torch.set_num_threads(1)


def regression(seed: int) -> Problem:
    """A smooth function of 6 inputs, 200 examples, an MLP regressor."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(200, 6, generator=g)
    y = torch.sin(x[:, 0] * 2) + x[:, 1] * x[:, 2]
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 64), nn.Tanh(), nn.Linear(64, 1))

    def evaluate(m):
        with torch.no_grad():
            return {"train/r2": float(1 - ((m(x).squeeze(-1) - y) ** 2).mean() / y.var())}

    return Problem(model=model, train_size=200, get_batch=lambda i: (x[i], y[i]),
                   loss=lambda m, b: ((m(b[0]).squeeze(-1) - b[1]) ** 2).mean(), evaluate=evaluate,
                   chance_loss=float(y.var()))


def rmsprop(decay: float) -> OptimConfig:
    return OptimConfig(_target_="torch.optim.RMSprop", args={"weight_decay": decay})


def decayed(r):
    return [d for d in found(r, "loss_floor") if "loss_with_decay" in d["evidence"]]


def test_a_decay_too_strong_for_its_optimiser_is_named():
    r, outcome = run(regression(0), budget=300, lr=3e-3, batch_size=32, optim=rmsprop(1.0), after_failure=True,
                     stage=Stage("s", Goal("train/r2", 0.99, "max"), knobs={}))
    d = decayed(r)
    assert not outcome.converged and d and d[0]["severity"] == "warning", [x["message"] for x in r.stage.diagnoses]


@pytest.mark.parametrize("seed", range(3))
def test_a_usual_decay_is_not(seed):
    r, outcome = run(regression(seed), budget=200, lr=3e-3, batch_size=32, optim=rmsprop(1e-4), after_failure=True,
                     stage=Stage("s", Goal("train/r2", 2.0, "max"), knobs={}))
    assert not outcome.converged and not decayed(r), [x["message"] for x in r.stage.diagnoses]


def test_a_decay_floor_is_judged_before_the_labels():
    """Classes under SGD's coupled L2 at 0.5, through a BatchNorm (no one-example fit: a batch of one cannot be
    normalised in training mode): real and shuffled labels both stop at the decay's floor, so the decay is named and
    the label check stands down (holdout58's kiln/weight_decay_0.5 had its labels blamed)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 6, generator=g)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 2))

    def evaluate(m):
        with torch.no_grad():
            return {"train/acc": float((m(x).argmax(-1) == y).float().mean())}

    problem = Problem(model=model, train_size=200, get_batch=lambda i: (x[i], y[i]),
                      loss=lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]), evaluate=evaluate,
                      chance_loss=0.693)
    r, outcome = run(problem, budget=300, lr=0.1, batch_size=32, after_failure=True,
                     optim=OptimConfig(name="sgd", momentum=0.9, weight_decay=0.5),
                     stage=Stage("s", Goal("train/acc", 0.99, "max"), knobs={}))
    assert not outcome.converged and decayed(r), [x["message"] for x in r.stage.diagnoses]
    assert not found(r, "labels_not_learnable"), [x["message"] for x in r.stage.diagnoses]
