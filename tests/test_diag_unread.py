"""A goal that reads an output the loss never trains (unread.unread_output): the loss reads the wrong column."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.ladder import Goal, Stage
from orchestrator.task import Problem
from test_diag_start import found, run

torch.set_num_threads(1)


def multitask(seed: int, amount_column: int = 4, log_probs: bool = False) -> Problem:
    """Which of 4 classes, and an amount, from 8 inputs: out[:, :4] class logits, out[:, 4] the amount. The loss
    reads the amount from `amount_column`; the goal (`train/both`) reads column 4."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(200, 8, generator=g)
    cls = (x[:, :4]).argmax(1)
    amount = x[:, 4:] @ torch.randn(4, generator=g)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 5))

    def loss(m, b):
        out = m(b[0])
        return F.cross_entropy(out[:, :4], b[1]) + F.mse_loss(out[:, amount_column], b[2])

    def evaluate(m):
        out = m(x)
        both = (out[:, :4].argmax(1) == cls) & ((out[:, 4] - amount).abs() < 0.3)
        return {"train/both": float(both.float().mean())}

    return Problem(model=model, train_size=200, get_batch=lambda i: (x[i], cls[i], amount[i]), loss=loss,
                   evaluate=evaluate, chance_loss=math.log(4) + float(amount.var()))


def nll_classifier(seed: int) -> Problem:
    """Log-probabilities over 10 classes from the model, NLL loss, targets using only classes 0-5."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(200, 8, generator=g)
    y = x[:, :6].argmax(1)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 10), nn.LogSoftmax(-1))

    def evaluate(m):
        return {"train/acc": float((m(x).argmax(1) == y).float().mean())}

    return Problem(model=model, train_size=200, get_batch=lambda i: (x[i], y[i]),
                   loss=lambda m, b: F.nll_loss(m(b[0]), b[1]), evaluate=evaluate, chance_loss=math.log(10))


def unread(r):
    return [d for d in found(r, "loss_mismatch") if "unread_columns" in d["evidence"]]


def test_a_loss_reading_the_wrong_column_is_named():
    r, outcome = run(multitask(0, amount_column=3), budget=300, lr=1e-2, batch_size=32, after_failure=True,
                     stage=Stage("s", Goal("train/both", 0.95, "max"), knobs={}))
    d = unread(r)
    assert not outcome.converged and d and d[0]["severity"] == "error", [x["message"] for x in r.stage.diagnoses]
    assert d[0]["evidence"]["unread_columns"] == [4]


@pytest.mark.parametrize("seed", range(3))
def test_every_column_read_or_classes_absent_is_not(seed):
    # forced to fail (an unreachable goal): the loss reads every column; an NLL reads only the targets' classes
    for problem, metric in ((multitask(seed), "train/both"), (nll_classifier(seed), "train/acc")):
        r, outcome = run(problem, budget=200, lr=1e-2, batch_size=32, after_failure=True,
                         stage=Stage("s", Goal(metric, 2.0, "max"), knobs={}))
        assert not outcome.converged and not unread(r), [x["message"] for x in r.stage.diagnoses]


def test_columns_silent_only_where_the_softmax_saturates_are_read():
    # trained weights x100 (benchmarks/bugsuite's mlp/weights_x100 on its full stage) fit most examples with a margin of
    # ~1000: the softmax is exactly 0 or 1 there, and a class whose examples all fit gets an exactly zero gradient in
    # its column although the cross-entropy reads it. Here: every example fit so, but two classes confused
    from orchestrator.diagnostics.unread import _unread_columns
    y = torch.arange(40) % 10
    x = F.one_hot(y, 10).float()
    y[:4] = torch.tensor([2, 2, 1, 1])  # examples 0 and 1 of the inputs of classes 0 and 1 labelled otherwise
    model = nn.Linear(10, 10, bias=False)
    with torch.no_grad():
        model.weight.copy_(1000 * torch.eye(10))
    problem = Problem(model=model, train_size=40, get_batch=lambda i: (x[i], y[i]),
                      loss=lambda m, b: F.cross_entropy(m(b[0]), b[1]), evaluate=lambda m: {}, chance_loss=math.log(10))
    assert _unread_columns(problem, model, (x, y)) is None
    # ... while a loss that reads only some columns still leaves the others unread at outputs pulled to 0
    problem.loss = lambda m, b: F.cross_entropy(m(b[0])[:, :5], b[1].clamp(max=4))
    assert _unread_columns(problem, model, (x, y)) == (10, [5, 6, 7, 8, 9])
