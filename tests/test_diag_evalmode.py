"""A model whose eval path differs from its training path by mistake (evalmode.eval_mode_differs): a hand-written
BatchNorm that never updates its running statistics is named when the stage fails; a correct one, nn.BatchNorm1d and
dropout are not."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.task import Problem
from test_diagnostics import cfg, run_stage, settings, stage


class HandNorm(nn.Module):
    """A BatchNorm1d written out; `local` assigns the running statistics to local names (holdout38's chirps)."""

    def __init__(self, c: int, local: bool = False):
        super().__init__()
        self.gain, self.shift = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))
        self.local = local

    def forward(self, x):
        if self.training:
            mean, var = x.mean(0), x.var(0, unbiased=False)
            with torch.no_grad():
                new_mean = 0.9 * self.running_mean + 0.1 * mean
                new_var = 0.9 * self.running_var + 0.1 * var
                if self.local:
                    running_mean, running_var = new_mean, new_var  # noqa: F841 - the bug: self. left out
                else:
                    self.running_mean.copy_(new_mean), self.running_var.copy_(new_var)
        else:
            mean, var = self.running_mean, self.running_var
        return self.gain * (x - mean) / torch.sqrt(var + 1e-5) + self.shift


def blobs(norm, seed=0, n=64, classes=4) -> Problem:
    """Gaussian blobs offset far from 0 (so that a norm stuck at mean 0, variance 1 is wrong in eval mode)."""
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(classes, 8, generator=g) + 5
    y = torch.arange(2 * n) % classes
    x = centres[y] + torch.randn(2 * n, 8, generator=g)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 32), norm(32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, classes))

    def evaluate(m):
        out = {}
        for split, xs, ys in (("train", x[:n], y[:n]), ("val", x[n:], y[n:])):
            logits = m(xs)
            out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
        return out

    return Problem(model=model, train_size=n, get_batch=lambda i: (x[i], y[i]),
                   loss=lambda m, b: F.cross_entropy(m(b[0]), b[1]), evaluate=evaluate, chance_loss=math.log(classes))


def verdicts(tmp_path, problem):
    r, outcome, _ = run_stage(tmp_path, problem, cfg(), st=stage(1.01, metric="train/acc"), s=settings(budget=150))
    assert not outcome.converged  # the goal is out of reach: the failure checks ran
    return [d for d in r.stage.diagnoses if d["evidence"].get("eval_mode_differs")]


def test_running_statistics_never_updated_are_named(tmp_path):
    found = verdicts(tmp_path, blobs(lambda c: HandNorm(c, local=True)))
    assert len(found) == 1 and found[0]["code"] == "loss_mismatch" and found[0]["severity"] == "error"
    e = found[0]["evidence"]
    assert e["eval_mode"] >= 3 * e["train_mode"]


@pytest.mark.parametrize("norm", [HandNorm, nn.BatchNorm1d, nn.LayerNorm],
                         ids=["hand_written", "batchnorm", "layernorm"])
def test_an_eval_path_that_matches_training_is_not_named(tmp_path, norm):
    for seed in range(3):
        assert verdicts(tmp_path / str(seed), blobs(norm, seed)) == [], seed
