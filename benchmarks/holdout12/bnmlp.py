"""Held-out-12 family 3: an MLP with BatchNorm and Dropout regressing a nonlinear function of 10 numeric features.

Features: 10 correlated Gaussians (x = z A, A seeded); target y = 2 sin(x0) + x1 x2 + relu(x3) - 0.5 x4^2 + 0.5 x5
+ noise (std 0.3). Inputs and target standardised with the training split's statistics. Model: Linear 10 -> 64,
BatchNorm1d, ReLU, Dropout 0.1, Linear 64 -> 64, BatchNorm1d, ReLU, Dropout 0.1, Linear 64 -> 1; Huber loss
(smooth L1, beta 1). Tuple batches (features (B, 10), target (B,)). Goal: validation MSE in standardised units
(mode min; val/r2 = 1 - it / the target's variance is logged too).
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "target_in_dollars", "targets_sorted", "bn_batch_stats_in_eval")
FEATURES, HIDDEN, NOISE = 10, 64, 0.3
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 500


def table(n: int, g: torch.Generator, mix: torch.Tensor):
    x = torch.randn(n, FEATURES, generator=g) @ mix
    y = 2 * torch.sin(x[:, 0]) + x[:, 1] * x[:, 2] + F.relu(x[:, 3]) - 0.5 * x[:, 4] ** 2 + 0.5 * x[:, 5]
    return x, y + NOISE * torch.randn(n, generator=g)


class BNMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        norm = lambda: nn.BatchNorm1d(HIDDEN)  # noqa: E731
        if bug == "bn_batch_stats_in_eval":
            norm = lambda: nn.BatchNorm1d(HIDDEN, track_running_stats=False)  # BUG bn_batch_stats_in_eval  # noqa: E731
        self.net = nn.Sequential(nn.Linear(FEATURES, HIDDEN), norm(), nn.ReLU(), nn.Dropout(0.1),
                                 nn.Linear(HIDDEN, HIDDEN), norm(), nn.ReLU(), nn.Dropout(0.1),
                                 nn.Linear(HIDDEN, 1))

    def forward(self, x):  # (B, 10) -> (B,)
        return self.net(x).squeeze(-1)


class BNMLPTask:
    metrics = ("train/loss", "train/mse", "val/mse", "val/r2")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "bnmlp")
        g = torch.Generator().manual_seed(DATA_SEED)
        mix = torch.eye(FEATURES) + 0.3 * torch.randn(FEATURES, FEATURES, generator=g)
        x, y = table(N_TRAIN, g, mix)
        vx, vy = table(N_VAL, g, mix)
        xm, xs, ym, ys = x.mean(0), x.std(0), y.mean(), y.std()
        x, vx = (x - xm) / xs, (vx - xm) / xs
        y, vy = (y - ym) / ys, (vy - ym) / ys
        if bug == "target_in_dollars":
            y, vy = 4000 + 1500 * y, 4000 + 1500 * vy  # BUG target_in_dollars: the price column before scaling
        if bug == "targets_sorted":
            y = y.sort().values  # BUG targets_sorted: sorted in place for the quantile clip, rows left as they were
        self.train, self.val = (x, y), (vx, vy)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = BNMLP(self.bug)

        def evaluate(model):
            with evaluating(model):
                vx, vy = self.val
                train_mse = F.mse_loss(model(x), y).item()
                val_mse = F.mse_loss(model(vx), vy).item()
                train_loss = F.smooth_l1_loss(model(x), y).item()
            return {"train/loss": train_loss, "train/mse": train_mse, "val/mse": val_mse,
                    "val/r2": 1 - val_mse / vy.var().item()}

        chance = F.smooth_l1_loss(self.train[1].mean().expand(N_TRAIN), self.train[1]).item()  # predicting the mean
        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                       loss=lambda model, b: F.smooth_l1_loss(model(b[0]), b[1]), evaluate=evaluate,
                       chance_loss=chance, forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
