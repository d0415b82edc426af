"""Outputs that cannot reach their targets (bounded.unreachable_targets): a tanh or a sigmoid on a regression head."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from orchestrator.ladder import Goal, Stage
from orchestrator.task import Problem
from test_diag_start import found, run

torch.set_num_threads(1)


class Regressor(nn.Module):
    def __init__(self, squash=None):
        super().__init__()
        self.net, self.squash = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 1)), squash

    def forward(self, x):
        out = self.net(x).squeeze(-1)
        return self.squash(out) if self.squash is not None else out  # functional: no module to watch


def regression(seed: int, squash=None, scale: float = 1.5) -> Problem:
    """Standardised targets times `scale` (beyond 1 for a third of them at 1.5), from 4 inputs."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(200, 4, generator=g)
    y = x @ torch.randn(4, generator=g)
    y = scale * (y - y.mean()) / y.std()
    torch.manual_seed(seed)
    model = Regressor(squash)

    def evaluate(m):
        with torch.no_grad():
            return {"train/r2": float(1 - ((m(x) - y) ** 2).mean() / y.var())}

    return Problem(model=model, train_size=200, get_batch=lambda i: (x[i], y[i]),
                   loss=lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(), evaluate=evaluate, chance_loss=scale ** 2)


def r2(target: float) -> Stage:
    return Stage("s", Goal("train/r2", target, "max"), knobs={})


@pytest.mark.parametrize("squash", [torch.tanh, torch.sigmoid])
def test_a_squashed_regression_head_is_named(squash):
    r, outcome = run(regression(0, squash), budget=300, lr=1e-2, batch_size=32, after_failure=True, stage=r2(0.999))
    d = [x for x in found(r, "loss_floor") if "bounded_output" in x["evidence"]]
    assert not outcome.converged and d and d[0]["severity"] == "error", [x["message"] for x in r.stage.diagnoses]


@pytest.mark.parametrize("seed", range(3))
def test_free_heads_and_targets_inside_the_range_are_not(seed):
    # forced to fail (a goal above 1): no squash, and a tanh whose targets all lie well inside (-1, 1)
    for problem in (regression(seed), regression(seed, torch.tanh, scale=0.25)):
        r, outcome = run(problem, budget=300, lr=1e-2, batch_size=32, after_failure=True, stage=r2(2.0))
        assert not outcome.converged
        assert not [x for x in found(r, "loss_floor") if "bounded_output" in x["evidence"]]
