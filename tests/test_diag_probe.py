"""The LR probe between its grid points: a configured LR there is probed itself when the probe above failed late."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from diag_families import Sinks

from orchestrator import diagnostics
from orchestrator.config import OptimConfig, RunConfig
from orchestrator.ladder import Goal, Stage
from orchestrator.task import Problem
from orchestrator.trainer import TrainSettings

torch.set_num_threads(1)


def line_problem(seed=0, n=64, power=12.5) -> Problem:
    # y = 2x + noise, fitted by one weight under plain SGD: each step multiplies the error by 1 - 2 lr E[x^2], so
    # the step diverges above lr = 1 / E[x^2] (E[x^2] = `power`); the probe's grid is 1, 0.333, 0.111, 0.037, ...
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, generator=g)
    x = x / x.pow(2).mean().sqrt() * math.sqrt(power)
    y = 2 * x + 0.1 * torch.randn(n, 1, generator=g)
    torch.manual_seed(seed)
    model = nn.Linear(1, 1, bias=False)
    return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                   loss=lambda m, b: F.mse_loss(m(b[0]), b[1]), evaluate=lambda m: {},
                   chance_loss=float(y.pow(2).mean()))


def probe(problem_fn, lr, batch_size=64):
    st = Stage("s", Goal("val/loss", 0.0, "min"), knobs={})
    settings = TrainSettings(budget=100, lr=lr, batch_size=batch_size, optim=OptimConfig(name="sgd", momentum=0.0),
                             seed=0)
    got = diagnostics.before_stage(RunConfig(task=None), st, lambda knobs: problem_fn(), settings, Sinks())
    return st, got


def test_a_configured_lr_between_the_grid_points_is_probed_itself_when_the_one_above_failed_late():
    # E[x^2] = 9.045: 0.111 grows the error by 1% a step and passes 4x its start only after ~70 steps; 0.05 is
    # the user's, between 0.037 (clean) and 0.111: probed itself, clean, kept
    st, lr = probe(lambda: line_problem(power=9.045), 0.05)
    d = next(d for d in st.diagnoses if d["code"] in ("lr_probe", "lr_too_high"))
    assert d["code"] == "lr_probe" and lr == 0.05
    probes = d["evidence"]["probes"]
    assert probes[-3]["outcome"] == "diverged" and probes[-3]["first_bad_iteration"] > 50
    assert [round(p["lr"], 3) for p in probes][-2:] == [0.037, 0.05]
    # E[x^2] = 12.5: 0.111 blows up at once, so the threshold may lie anywhere below it: 0.05 is lowered as before
    st, lr = probe(lambda: line_problem(power=12.5), 0.05)
    d = next(d for d in st.diagnoses if d["code"] in ("lr_probe", "lr_too_high"))
    assert d["code"] == "lr_too_high" and lr < 0.037
    assert not any(round(p["lr"], 3) == 0.05 for p in d["evidence"]["probes"])


def test_a_loss_that_moves_at_no_lr_is_not_called_a_too_high_lr():
    # every conv unit dead from the start (a bias of -20 under a ReLU): the loss sits still at every LR tried, none
    # diverges, and nothing says the LR is too high (holdout20's keypoint/conv_bias_minus_2 was told it was)
    def dead():
        p = line_problem()
        torch.manual_seed(0)
        p.model = nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Linear(8, 1, bias=False))
        nn.init.constant_(p.model[0].bias, -20.0)
        return p
    st, _ = probe(dead, lr=0.01)
    codes = {d["code"]: d for d in st.diagnoses}
    assert "lr_too_high" not in codes, st.diagnoses
    assert "does not move at any LR" in codes["lr_probe"]["message"]
