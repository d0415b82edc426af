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


class Ordinal(nn.Module):
    """One score plus learnt cut points (an ordinal head), optionally ReLU'd."""

    def __init__(self, relu: bool):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 1), *([nn.ReLU()] if relu else []))
        self.cuts = nn.Parameter(torch.zeros(3))

    def forward(self, x):
        return self.score(x) + self.cuts  # (B, 3) cumulative logits


def ordinal(seed: int, relu: bool) -> Problem:
    """A rating 0..3 from the number of cut points (-1, 0, 1) a linear score exceeds."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(200, 4, generator=g)
    q = x @ torch.randn(4, generator=g)
    y = (q[:, None] > torch.tensor([-1.0, 0.0, 1.0]) * q.std()).sum(1)
    torch.manual_seed(seed)
    model = Ordinal(relu)

    def loss(m, b):
        return nn.functional.binary_cross_entropy_with_logits(m(b[0]), (b[1][:, None] > torch.arange(3)).float())

    def evaluate(m):
        with torch.no_grad():
            return {"train/acc": float(((m(x) > 0).sum(1) == y).float().mean())}

    return Problem(model=model, train_size=200, get_batch=lambda i: (x[i], y[i]), loss=loss, evaluate=evaluate,
                   chance_loss=0.69)


def test_a_clamped_output_is_named_on_class_and_real_targets():
    # a ReLU after an ordinal score (class targets, one per row) and after a regression head (real targets)
    r, outcome = run(ordinal(0, relu=True), budget=300, lr=1e-2, batch_size=32, after_failure=True,
                     stage=Stage("s", Goal("train/acc", 0.99, "max"), knobs={}))
    d = [x for x in found(r, "loss_floor") if "clamped_output" in x["evidence"]]
    assert not outcome.converged and d and d[0]["severity"] == "error", [x["message"] for x in r.stage.diagnoses]
    r, outcome = run(regression(0, torch.relu), budget=300, lr=1e-2, batch_size=32, after_failure=True,
                     stage=r2(0.999))
    assert [x for x in found(r, "loss_floor") if "clamped_output" in x["evidence"]], \
        [x["message"] for x in r.stage.diagnoses]


@pytest.mark.parametrize("seed", range(3))
def test_free_ordinal_heads_and_floors_on_agreeing_targets_are_not(seed):
    # forced to fail (an unreachable goal): a free ordinal head, and a ReLU head on targets that are >= 0, whose
    # outputs tie at 0 only where the targets are 0 too
    r, outcome = run(ordinal(seed, relu=False), budget=300, lr=1e-2, batch_size=32, after_failure=True,
                     stage=Stage("s", Goal("train/acc", 2.0, "max"), knobs={}))
    assert not outcome.converged and not [x for x in found(r, "loss_floor") if "clamped_output" in x["evidence"]]
    problem = regression(seed, torch.relu)
    x, y = problem.get_batch(torch.arange(200))
    y = y.clamp(min=0)
    problem.get_batch = lambda i: (x[i], y[i])
    r, outcome = run(problem, budget=300, lr=1e-2, batch_size=32, after_failure=True, stage=r2(2.0))
    assert not outcome.converged
    assert not [x for x in found(r, "loss_floor") if "clamped_output" in x["evidence"]], \
        [x["message"] for x in r.stage.diagnoses]


def test_hidden_units_all_off_for_some_inputs_is_not_a_clamp():
    # every hidden unit reads x0 alone with a positive weight: for x0 < 0 all are off and the output is the head's
    # bias, tied at one value for half the examples, whose targets (from the other inputs) are of every size
    problem = regression(0)
    first = problem.model.net[0]
    with torch.no_grad():
        first.weight.zero_()
        first.weight[:, 0] = 1.0
        first.bias.zero_()
    first.weight.requires_grad_(False)
    first.bias.requires_grad_(False)
    r, outcome = run(problem, budget=300, lr=1e-2, batch_size=32, after_failure=True, stage=r2(2.0))
    assert not outcome.converged
    assert not [x for x in found(r, "loss_floor") if "clamped_output" in x["evidence"]], \
        [x["message"] for x in r.stage.diagnoses]


def test_one_example_at_every_extreme_is_no_tie():
    # ten rows: each column's highest value is one example's (here the same row's), 10% of the outputs, but no tie
    from orchestrator.diagnostics.bounded import clamped
    from orchestrator.diagnostics.config import FailureConfig
    out = torch.randn(10, 11, generator=torch.Generator().manual_seed(0))
    out[6] += 10.0
    targets = (torch.rand(10, 11, generator=torch.Generator().manual_seed(0)) > 0.8).float()
    targets[6] = torch.tensor([1.0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0])  # (holdout52's baskets: its tags beside padding)
    assert clamped(out, targets, FailureConfig()) is None
