"""Gradient checks: a norm huge from the first step, steps too large for the weights, and no false
explosions near a memorised zero loss. Families from test_diag_start."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.config import OptimConfig
from orchestrator.diagnostics.config import DiagnosticsConfig, HealthConfig
from orchestrator.ladder import Goal, Stage
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


class Heteroscedastic(nn.Module):
    """A mean and a softly bounded log-variance (sigma 0.1..2), trained on the Gaussian likelihood."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mean, self.log_var = nn.Linear(64, 1), nn.Linear(64, 1)

    def forward(self, x):
        h = self.body(x)
        lo, hi = math.log(0.01), math.log(4.0)
        return self.mean(h), lo + (hi - lo) * torch.sigmoid(self.log_var(h))


def gaussian_nll(m, b):
    mu, log_var = m(b[0])
    return 0.5 * (log_var + (b[1] - mu) ** 2 / log_var.exp() + math.log(2 * math.pi)).mean()


def noisy_points(model, n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = torch.sin(2 * x[:, :1]) + x[:, 1:2] + (0.2 + 0.4 * torch.sigmoid(2 * x[:, :1])) * torch.randn(n, 1, generator=g)
    return Problem(model=model, train_size=n, get_batch=lambda i: (x[i], y[i]), loss=gaussian_nll,
                   evaluate=lambda m: {"train/nll": float(gaussian_nll(m, (x, y)))})


def test_a_likelihood_sharpening_as_it_memorises_is_no_explosion():
    # memorising 10 noisy points shrinks the predicted variances: the gradient norm climbs ~20x over 30 steps
    # while the loss falls (once "spikes" against the 200-norm median); the next stage, warm-started, meets
    # 100 new points with those variances: gradients 13-15x the weights at its first step (once "huge from
    # the start"). Neither is an explosion: a spike must stand out against the norms just before it, and a
    # warm-started stage's first step is not its init
    goal = Goal("train/nll", -5.0, "min")
    for seed in range(3):
        torch.manual_seed(seed)
        model = Heteroscedastic()
        first, _ = run(noisy_points(model, 10, seed), budget=150, lr=1e-2, batch_size=10,
                       stage=Stage("overfit_10", goal, knobs={}))
        after, _ = run(noisy_points(model, 100, seed + 10), budget=30, lr=1e-2, batch_size=100,
                       stage=Stage("overfit_100", goal, knobs={}, after=["overfit_10"]))
        assert found(first, "exploding_gradients") == [] and found(after, "exploding_gradients") == [], seed


class Coupling(nn.Module):
    """RealNVP's affine coupling; its conditioner's last layer starts at zero (Glow): the identity at init."""

    def __init__(self, flip: bool):
        super().__init__()
        self.flip = flip
        self.net = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x):
        a, b = (x[:, 1:], x[:, :1]) if self.flip else (x[:, :1], x[:, 1:])
        s, t = self.net(a).chunk(2, dim=1)
        s = torch.tanh(s)
        b = b * s.exp() + t
        return (torch.cat([b, a], 1) if self.flip else torch.cat([a, b], 1)), s.sum(1)


class Flow(nn.Module):
    def __init__(self, layers=8):
        super().__init__()
        self.couplings = nn.ModuleList(Coupling(i % 2 == 1) for i in range(layers))

    def forward(self, x):
        log_det = torch.zeros(len(x))
        for c in self.couplings:
            x, ld = c(x)
            log_det = log_det + ld
        return x, log_det


def flow_nll(m, b):
    z, log_det = m(b[0])
    return (0.5 * (z ** 2).sum(1) + math.log(2 * math.pi) - log_det).mean()


def test_zero_initialised_layers_that_block_the_first_gradient_on_purpose_raise_nothing():
    # every coupling's first layers get exactly zero gradient at step 1 (the zero last layer blocks it): no
    # `vanishing_gradients` ratio of 0 at that step, and no "did not move" against a median that the
    # zero-initialised layers themselves (which always move by 100%) set
    g = torch.Generator().manual_seed(0)
    angle = torch.rand(10, generator=g) * math.pi
    x = torch.stack([angle.cos(), angle.sin()], 1) + 0.05 * torch.randn(10, 2, generator=g)
    for seed in range(2):
        torch.manual_seed(seed)
        problem = Problem(model=Flow(), train_size=10, get_batch=lambda i: (x[i], x[i]), loss=flow_nll,
                          evaluate=lambda m: {"train/nll": float(flow_nll(m, (x, x)))})
        r, _ = run(problem, budget=50, lr=1e-3, batch_size=10, stage=Stage("s", Goal("train/nll", -9.0, "min"),
                                                                            knobs={}))
        assert found(r, "vanishing_gradients") == [] and found(r, "params_not_updating") == [], seed


def spiky_problem(goal_met_at: int):
    """Every 4th example's loss is 50x the others': a spike every ~4 steps, >10x the median, none enormous.
    train/acc reaches 1 at the `goal_met_at`-th evaluation (only the stage's own loop evaluates)."""
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(4, 4, generator=g), torch.randn(4, 1, generator=g)
    torch.manual_seed(0)
    evaluations = [0]

    def evaluate(m):
        evaluations[0] += 1
        return {"train/acc": float(evaluations[0] >= goal_met_at)}

    return Problem(model=nn.Linear(4, 1), train_size=4, get_batch=lambda i: i,
                   loss=lambda m, i: F.mse_loss(m(x[i]), t[i]) * (50.0 if int(i[0]) == 0 else 1.0), evaluate=evaluate)


@pytest.mark.parametrize("converges", [True, False])
def test_frequent_spikes_are_a_warning_only_when_the_stage_then_fails(converges):
    # ~20 spikes in 100 steps: reported as info when the third is seen; a warning only if the stage fails
    problem = spiky_problem(goal_met_at=10 if converges else 99)  # evaluated every 10 steps: at step 100 or never
    r, outcome = run(problem, budget=100, lr=1e-3, batch_size=1, target=1.0,
                     diag=DiagnosticsConfig(health=HealthConfig(every=0)))  # the spikes alone
    assert outcome.converged == converges and outcome.iterations == 100
    spikes = [d for d in r.stage.diagnoses if d["code"] == "exploding_gradients"]
    assert spikes[0]["severity"] == "info"
    warnings = found(r, "exploding_gradients")
    if converges:
        assert warnings == []
    else:  # dated when the spikes were first reported, not at the stage's end
        assert len(warnings) == 1 and warnings[0]["iteration"] == spikes[0]["iteration"] < 100
        assert warnings[0]["evidence"]["spike_count"] >= 8
