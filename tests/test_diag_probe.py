"""The LR probe between its grid points and at batch size 1; the one-example check on a loss with a floor."""
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
    assert d["code"] == "lr_too_high" and lr < 0.037 and not any(round(p["lr"], 3) == 0.05 for p in d["evidence"]["probes"])


def regression_problem(seed=0, n=128) -> Problem:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = torch.sin(x @ torch.randn(8, 1, generator=g)) + torch.randn(n, 1, generator=g)
    y = (y - y.mean()) / y.std()  # standardised, but one example's squared error still spans 1e-3..10
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                   loss=lambda m, b: F.mse_loss(m(b[0]), b[1]), evaluate=lambda m: {}, chance_loss=1.0)


def test_at_batch_size_1_one_example_s_loss_is_no_divergence():
    # one example per step: a later example's squared error is easily 4x the first one's at any LR; the probe
    # judges 10-step means at such batch sizes (holdout14's resmlp "diverged" at every LR down to 5.6e-6)
    st, lr = probe(regression_problem, 1e-3, batch_size=1)
    d = next(d for d in st.diagnoses if d["code"] in ("lr_probe", "lr_too_high"))
    assert d["evidence"]["threshold"] is not None and d["evidence"]["threshold"] >= 1e-3
    assert lr == 1e-3
    # ... and a blow-up inside the first 10 steps still counts: the means are judged against fresh weights' loss
    # on 16 examples, not against a first mean that holds the blow-up (holdout14's resmlp at LR 1: 3000 -> 13.6)
    st, lr = probe(regression_problem, 1.0, batch_size=1)
    d = next(d for d in st.diagnoses if d["code"] in ("lr_probe", "lr_too_high"))
    assert d["code"] == "lr_too_high" and lr < 1.0
