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


def line_problem(seed=0, n=64, scale=math.sqrt(12.5)) -> Problem:
    # y = 2x + noise, fitted by one weight under plain SGD: the step diverges above lr = 1 / E[x^2] = 0.08, so
    # the probe's grid (1, 0.333, 0.111, 0.037, ...) blows up at 0.111 and is clean at 0.037
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, generator=g)
    x = x / x.pow(2).mean().sqrt() * scale
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


def test_a_configured_lr_between_the_grid_points_is_probed_itself():
    st, lr = probe(line_problem, 0.05)  # 0.111 diverges, 0.037 is clean: 0.05 is the user's, and clean
    d = next(d for d in st.diagnoses if d["code"] in ("lr_probe", "lr_too_high"))
    assert d["code"] == "lr_probe" and lr == 0.05
    assert [round(p["lr"], 3) for p in d["evidence"]["probes"]][-2:] == [0.037, 0.05]
    st, lr = probe(line_problem, 0.1)  # between them too, but above the real threshold (0.08): lowered
    d = next(d for d in st.diagnoses if d["code"] in ("lr_probe", "lr_too_high"))
    assert d["code"] == "lr_too_high" and lr < 0.037


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
