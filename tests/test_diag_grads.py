"""Gradient checks: a norm huge from the first step, steps too large for the weights, and no false
explosions near a memorised zero loss. Families from test_diag_start."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from orchestrator.config import OptimConfig
from orchestrator.diagnostics.config import DiagnosticsConfig, HealthConfig
from orchestrator.task import Problem
from test_diag_start import PAD, cnn_problem, found, gru_problem, mlp_problem, run

torch.set_num_threads(1)


def scaled(out, t):
    return 1e4 * F.cross_entropy(out, t)  # a loss scale typo: every gradient 10^4 x too large


def tokens_scaled(logits, t):
    return 1e4 * F.cross_entropy(logits.transpose(1, 2), t, ignore_index=PAD)


@pytest.mark.parametrize("family,make", [("mlp", lambda: mlp_problem(loss_fn=scaled)),
                                         ("gru", lambda: gru_problem(loss_fn=tokens_scaled))])
def test_a_gradient_huge_from_the_first_step_is_named(family, make):
    # no spike ever shows (every norm is huge): the gradient is judged against the weights
    r, _ = run(make(), budget=10)
    d = found(r, "exploding_gradients")
    assert d and d[0]["iteration"] == 1 and d[0]["evidence"]["grad_weight_ratio"] > 10


def test_steps_too_large_for_the_weights_are_named():
    # full-batch SGD on least squares just below its divergence limit (2 / top Hessian eigenvalue): every
    # step overshoots, the weights oscillate and never blow up; each update is a large share of the weights
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    t = x @ torch.randn(8, 1, generator=g)
    model = torch.nn.Linear(8, 1)
    torch.nn.init.zeros_(model.weight)  # start far from the solution along every direction, the top one too
    xb = torch.cat([x, torch.ones(64, 1)], 1)
    top = float(torch.linalg.eigvalsh(2 * xb.T @ xb / 64).max())
    problem = Problem(model=model, train_size=64, get_batch=lambda i: (x[i], t[i]),
                      loss=lambda m, b: F.mse_loss(m(b[0]), b[1]),
                      evaluate=lambda m: {"train/acc": 0.0})
    diag = DiagnosticsConfig(health=HealthConfig(every=20))
    r, _ = run(problem, budget=100, lr=1.995 / top, optim=OptimConfig(name="sgd", momentum=0.0), batch_size=64,
               diag=diag)
    d = [x for x in found(r, "exploding_gradients") if "update_ratio" in x["evidence"]]
    assert d and d[0]["evidence"]["median"] > 0.2
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_stable_lr_on_the_same_problem_is_quiet():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    t = x @ torch.randn(8, 1, generator=g)
    torch.manual_seed(0)
    problem = Problem(model=torch.nn.Linear(8, 1), train_size=64, get_batch=lambda i: (x[i], t[i]),
                      loss=lambda m, b: F.mse_loss(m(b[0]), b[1]), evaluate=lambda m: {"train/acc": 0.0})
    r, _ = run(problem, budget=100, lr=0.1, optim=OptimConfig(name="sgd", momentum=0.0), batch_size=64,
               diag=DiagnosticsConfig(health=HealthConfig(every=20)))
    assert found(r, "exploding_gradients") == []


@pytest.mark.parametrize("family,make", [("mlp", mlp_problem), ("cnn", cnn_problem)])
def test_no_explosion_near_a_memorised_zero_loss(family, make):
    # 16 examples memorised to a loss near zero with Adam: no gradient warning (spikes there, Adam's
    # normalised bursts, are ignored below spikes.tiny_loss x the first loss)
    problem = make()
    problem.train_size = 16
    r, _ = run(problem, budget=600, lr=1e-2, batch_size=8)
    assert found(r, "exploding_gradients") == []


def test_clean_sgd_training_has_no_gradient_warning():
    r, _ = run(mlp_problem(), budget=120, lr=0.1, optim=OptimConfig(name="sgd", momentum=0.9))
    assert found(r, "exploding_gradients") == [] and found(r, "vanishing_gradients") == []
