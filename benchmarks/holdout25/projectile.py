"""Held-out-25 family 1: an MLP classifying where a shot lands against a wall (falls short / hits / clears).

Four inputs in physical units: launch speed v ~ U(8, 30) m/s, elevation ~ U(15, 75) degrees, the wall's distance
d ~ U(5, 60) m and its height h ~ U(0.5, 12) m. The shot flies with the speed v (1 + 0.03 e), e ~ N(0, 1) (an
unmeasured jitter) without drag: class 0 when its range is below d (falls short), 1 when its height at d is below
h (hits the wall), 2 when it clears it. Torch seed 0: 3000 training and 1000 validation shots; the features are
standardised with the training shots' mean and std per column. `best_loss`: the mean entropy of the class given the
inputs on the validation shots, by Monte Carlo over the jitter (256 draws each). Model: Linear(4, 64) - ReLU -
Linear(64, 64) - ReLU - Linear(64, 3); cross-entropy; Adam at 0.003. Tuple batches (features (B, 4), class (B,)).
Metrics: loss and accuracy on the stage's shots (at most 500) and on validation. Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "landing_distance_column", "val_not_standardised", "nll_on_logsigmoid", "standardise_in_forward",
        "uniform_init_no_bounds")
G, JITTER, N_TRAIN, N_VAL, HIDDEN = 9.81, 0.03, 3000, 1000, 64


def flight(v, angle, d, h):
    """The class of each shot and its range (metres)."""
    rng = v ** 2 * torch.sin(2 * angle) / G
    height = d * torch.tan(angle) - G * d ** 2 / (2 * v ** 2 * torch.cos(angle) ** 2)
    cls = torch.where(rng < d, 0, torch.where(height < h, 1, 2))
    return cls, rng


def shots(n: int, g: torch.Generator):
    u = torch.rand(n, 4, generator=g)
    v, deg = 8 + 22 * u[:, 0], 15 + 60 * u[:, 1]
    d, h = 5 + 55 * u[:, 2], 0.5 + 11.5 * u[:, 3]
    angle = torch.deg2rad(deg)
    cls, rng = flight(v * (1 + JITTER * torch.randn(n, generator=g)), angle, d, h)
    return torch.stack([v, deg, d, h], 1), cls, rng, (v, angle, d, h)


def entropy_given_inputs(params, g: torch.Generator, draws: int = 256) -> float:
    v, angle, d, h = (p[:, None].expand(-1, draws) for p in params)
    cls, _ = flight(v * (1 + JITTER * torch.randn(v.shape, generator=g)), angle, d, h)
    p = F.one_hot(cls, 3).float().mean(1)
    return float(-(p * p.clamp_min(1e-12).log()).sum(1).mean())


class ShotMLP(nn.Module):
    def __init__(self, inputs: int, bug: str):
        super().__init__()
        self.bug = bug
        self.net = nn.Sequential(nn.Linear(inputs, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                                 nn.Linear(HIDDEN, 3))
        if bug == "uniform_init_no_bounds":
            for m in self.net:
                if isinstance(m, nn.Linear):
                    nn.init.uniform_(m.weight)  # BUG uniform_init_no_bounds: uniform_ without bounds is U(0, 1)

    def forward(self, x):  # (B, F) -> (B, 3) logits
        if self.bug == "standardise_in_forward":
            x = (x - x.mean(0)) / (x.std(0) + 1e-5)  # BUG standardise_in_forward: statistics of the batch
        return self.net(x)


class ProjectileTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "projectile")
        g = torch.Generator().manual_seed(0)
        x_train, self.y_train, r_train, _ = shots(N_TRAIN, g)
        x_val, self.y_val, r_val, val_params = shots(N_VAL, g)
        self.best = entropy_given_inputs(val_params, g)
        if self.bug == "landing_distance_column":
            x_train, x_val = torch.cat([x_train, r_train[:, None]], 1), torch.cat([x_val, r_val[:, None]], 1)  # noqa: E501  BUG landing_distance_column: the measured landing distance (recorded after the shot) kept as a feature
        mean, std = x_train.mean(0), x_train.std(0)
        self.x_train = (x_train - mean) / std
        if self.bug == "val_not_standardised":
            self.x_val = x_val  # BUG val_not_standardised: the validation features left in physical units
        else:
            self.x_val = (x_val - mean) / std

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = ShotMLP(x.shape[1], self.bug)

        def loss(model, b):
            logits = model(b[0])
            if self.bug == "nll_on_logsigmoid":
                return F.nll_loss(F.logsigmoid(logits), b[1])  # BUG nll_on_logsigmoid: logsigmoid, not log_softmax
            return F.cross_entropy(logits, b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(3), best_loss=self.best,
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
