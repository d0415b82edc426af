"""A loss that falls without bound, seen before any update: the outputs moved along the loss's descent direction
keep lowering it far below zero (linear in the outputs). Bugs of that kind are named `loss_unbounded` by the init
check, and the LR probe stands down; clean losses of every usual kind level off or rise again and say nothing."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from diag_families import Sinks, mlp_problem

from orchestrator import diagnostics
from orchestrator.config import OptimConfig, RunConfig
from orchestrator.diagnostics.unbounded import along_outputs
from orchestrator.ladder import Goal, Stage
from orchestrator.trainer import TrainSettings

torch.set_num_threads(1)


def with_loss(loss, model=None, seed=0):
    problem = mlp_problem(seed=seed)
    if model is not None:
        problem = dataclasses.replace(problem, model=model(problem.model))
    return dataclasses.replace(problem, loss=lambda m, b: loss(m(b[0]), b[1]))


def onehot(y):
    return F.one_hot(y, 3).float()


class LogSoftmaxOut(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return F.log_softmax(self.inner(x), -1)


class SoftmaxOut(LogSoftmaxOut):
    def forward(self, x):
        return F.softmax(self.inner(x), -1)


class MaskedAfterLogSoftmax(LogSoftmaxOut):
    """A pointer-style output: log_softmax over every position, then the last one masked with -1e9 (a mask applied
    after the normalisation, so the others sum below 1): still log-probabilities the model cannot raise past 0."""

    def forward(self, x):
        out = F.log_softmax(self.inner(x), -1)
        return torch.cat([out[:, :-1], torch.full_like(out[:, -1:], -1e9)], -1)


BUGS = {
    "bce arguments swapped": lambda o, y: F.binary_cross_entropy_with_logits(onehot(y), o),
    "nll on raw logits": lambda o, y: F.nll_loss(o, y),
    "negated cross-entropy": lambda o, y: -F.cross_entropy(o, y),
    "bce targets in 0..16": lambda o, y: F.binary_cross_entropy_with_logits(o, 16 * onehot(y)),
}
CLEAN = {
    "cross-entropy": (lambda o, y: F.cross_entropy(o, y), None),
    "cross-entropy, label smoothing": (lambda o, y: F.cross_entropy(o, y, label_smoothing=0.1), None),
    "bce with logits": (lambda o, y: F.binary_cross_entropy_with_logits(o, onehot(y)), None),
    "mse on one-hot": (lambda o, y: F.mse_loss(o, onehot(y)), None),
    "l1": (lambda o, y: F.l1_loss(o, onehot(y)), None),
    "hinge": (lambda o, y: F.multi_margin_loss(o, y), None),
    "gaussian nll (mean, log-variance)": (lambda o, y: F.gaussian_nll_loss(o[:, 0], y.float(), o[:, 1].exp()), None),
    "log_softmax in the model, NLLLoss": (lambda o, y: F.nll_loss(o, y), LogSoftmaxOut),
    "softmax in the model, NLL of its log": (lambda o, y: F.nll_loss(o.clamp_min(1e-12).log(), y), SoftmaxOut),
    "log_softmax, then a position masked, NLLLoss": (lambda o, y: F.nll_loss(o, y.clamp_max(1)), MaskedAfterLogSoftmax),
}


@pytest.mark.parametrize("bug", BUGS)
def test_a_loss_linear_in_the_outputs_falls_without_bound_along_them(bug):
    problem = with_loss(BUGS[bug])
    batch = problem.get_batch(torch.arange(16))
    evidence = along_outputs(problem, problem.model, batch)
    assert evidence is not None, bug
    values = list(evidence["along_outputs"].values())
    assert values[-1] < -10 * max(abs(evidence["start"]), 1.0)


@pytest.mark.parametrize("name", CLEAN)
def test_clean_losses_level_off_or_rise_again(name):
    loss, model = CLEAN[name]
    for seed in range(3):
        problem = with_loss(loss, model, seed)
        assert along_outputs(problem, problem.model, problem.get_batch(torch.arange(16))) is None, (name, seed)


def test_the_init_check_names_it_and_the_probe_keeps_the_lr():
    stage = Stage("s", Goal("val/loss", 0.0, "min"), knobs={})
    settings = TrainSettings(budget=100, lr=1e-3, batch_size=16, optim=OptimConfig(), seed=0)
    problem = with_loss(BUGS["bce arguments swapped"])
    lr = diagnostics.before_stage(RunConfig(task=None), stage, lambda knobs: problem, settings, Sinks())
    codes = [(d["code"], d["severity"]) for d in stage.diagnoses]
    assert ("loss_unbounded", "error") in codes and lr == 1e-3
    assert "lr_too_high" not in [code for code, _ in codes]  # the probe stood down: no LR is to blame
    d = next(d for d in stage.diagnoses if d["code"] == "loss_unbounded")
    assert d["evidence"]["before_update"] and "argument order" in d["fix"]


def start_codes(problem):
    stage = Stage("s", Goal("train/acc", 1.0), knobs={})
    settings = TrainSettings(budget=100, lr=1e-3, batch_size=16, optim=OptimConfig(), seed=0)
    lr = diagnostics.before_stage(RunConfig(task=None), stage, lambda knobs: problem, settings, Sinks())
    return stage, lr


@pytest.mark.parametrize("seed", range(3))
def test_nll_of_probabilities_is_a_loss_mismatch_at_init(seed):
    # minus the target's probability: bounded in [-1, 0] (so not loss_unbounded), and negative from the first
    # batch, which no negative log-likelihood of class ids can be
    problem = with_loss(lambda o, y: F.nll_loss(o, y), SoftmaxOut, seed)
    stage, lr = start_codes(problem)
    found = [d for d in stage.diagnoses if d["severity"] != "info"]
    assert [(d["code"], d["severity"]) for d in found] == [("loss_mismatch", "error")], found
    assert found[0]["evidence"]["negative"] and found[0]["evidence"]["init_loss"] < 0
    assert "log_softmax" in found[0]["fix"] and lr == 1e-3  # a bounded loss: the probe still judged the LR


def test_nll_of_probabilities_in_a_seq2seq_is_named_too():
    from diag_families import seq2seq_problem

    clean = seq2seq_problem()
    problem = dataclasses.replace(clean, loss=lambda m, b: -_target_probability(m, b, clean))
    stage, _ = start_codes(problem)
    assert [d["code"] for d in stage.diagnoses if d["severity"] != "info"] == ["loss_mismatch"]


def _target_probability(model, batch, problem):
    logits = problem.forward(model, batch) if problem.forward else model(batch[0])
    targets = problem.targets(batch) if problem.targets else batch[-1]
    return F.softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).mean()


@pytest.mark.parametrize("name", CLEAN)
def test_clean_losses_are_not_called_a_mismatch_at_init(name):
    loss, model = CLEAN[name]
    for seed in range(3):
        stage, _ = start_codes(with_loss(loss, model, seed))
        assert "loss_mismatch" not in [d["code"] for d in stage.diagnoses], (name, seed)
