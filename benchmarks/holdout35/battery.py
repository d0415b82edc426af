"""Held-out-35 family 1: an MLP regressing the state of health (remaining capacity, % of new) of a lithium-ion cell
from eight features of its usage history.

A cell: cycles N ~ U(0, 2000), cell temperature T ~ U(0, 45) degC, charge rate C ~ U(0.2, 3), depth of discharge
D ~ U(0.2, 1), months in storage M ~ U(0, 60), mean state of charge in storage S ~ U(0.2, 1), share of fast charges
F ~ U(0, 1) and the resistance when new R0 ~ U(20, 60) mOhm (which does not matter). Its state of health:
100 - 0.04 N^0.75 e^(0.03 (T - 25)) (0.5 + D) (1 + 0.25 C) - 0.35 M^0.8 (0.5 + S) e^(0.04 (T - 25)) - 2.5 F, plus
N(0, NOISE^2) measurement noise. NumPy seed 0 draws 3000 training and 800 validation cells. The table holds the
state of health in column 0 and the features after it; features and target are standardised with the training
statistics. Model: Linear(8, 64) - ReLU - Linear(64, 64) - ReLU - Linear(64, 1) (its output (B, 1)). Mean squared
error on the standardised target; Adam at 0.003. Tuple batches (features (B, 8), target (B,)). Metrics: MSE and R²
on the stage's cells (at most 1000) and on validation. `chance_loss` 1.0 (the variance of the standardised target),
`best_loss` the noise's share of it. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "target_in_features", "train_targets_raw", "mse_pairs_broadcast", "all_constant_init")
N_TRAIN, N_VAL, NOISE = 3000, 800, 2.2


def draw(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 9): the state of health in column 0, then N, T, C, D, M, S, F, R0."""
    lo = np.array([0, 0, 0.2, 0.2, 0, 0.2, 0, 20])
    hi = np.array([2000, 45, 3, 1, 60, 1, 1, 60])
    f = lo + (hi - lo) * rng.random((n, 8))
    n_, t, c, d, m, s, fast, _ = f.T
    cycling = 0.04 * n_ ** 0.75 * np.exp(0.03 * (t - 25)) * (0.5 + d) * (1 + 0.25 * c)
    storage = 0.35 * m ** 0.8 * (0.5 + s) * np.exp(0.04 * (t - 25))
    soh = 100 - cycling - storage - 2.5 * fast + NOISE * rng.standard_normal(n)
    return np.concatenate([soh[:, None], f], 1)


class BatteryMLP(nn.Module):
    def __init__(self, bug: str, width: int):
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(width, 64), nn.Linear(64, 64), nn.Linear(64, 1)
        if bug == "all_constant_init":
            for p in self.parameters(): nn.init.constant_(p, 0.05)  # BUG all_constant_init: every weight 0.05  # noqa: E701

    def forward(self, x):  # (B, width) -> (B, 1)
        return self.out(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def r2(pred: torch.Tensor, y: torch.Tensor) -> float:
    return 1.0 - ((pred - y) ** 2).sum().item() / ((y - y.mean()) ** 2).sum().item()


class BatteryTask:
    metrics = ("train/loss", "train/r2", "val/loss", "val/r2")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "battery")
        rng = np.random.default_rng(0)
        train, val = draw(N_TRAIN, rng), draw(N_VAL, rng)
        mean, std = train.mean(0), train.std(0)
        zt, zv = (train - mean) / std, (val - mean) / std
        if self.bug == "target_in_features":
            ft, fv = zt[:, 0:], zv[:, 0:]  # BUG target_in_features: the slice starts at the target's column
        else:
            ft, fv = zt[:, 1:], zv[:, 1:]
        yt, yv = zt[:, 0], zv[:, 0]
        if self.bug == "train_targets_raw":
            yt = train[:, 0]  # BUG train_targets_raw: the training targets left in % (validation standardised)
        self.x_train, self.x_val = torch.tensor(ft, dtype=torch.float32), torch.tensor(fv, dtype=torch.float32)
        self.y_train, self.y_val = torch.tensor(yt, dtype=torch.float32), torch.tensor(yv, dtype=torch.float32)
        self.best = float(NOISE ** 2 / std[0] ** 2)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = BatteryMLP(self.bug, x.shape[1])

        def loss(model, b):
            if self.bug == "mse_pairs_broadcast":
                return (model(b[0]) - b[1]).pow(2).mean()  # BUG mse_pairs_broadcast: (B, 1) - (B,) is (B, B)
            return (model(b[0]).squeeze(-1) - b[1]).pow(2).mean()

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:1000], y[:1000]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    pred = model(xs).squeeze(-1)
                    out[f"{split}/loss"] = ((pred - ys) ** 2).mean().item()
                    out[f"{split}/r2"] = r2(pred, ys)
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=1.0, best_loss=self.best,
                       forward=lambda model, b: model(b[0]).squeeze(-1), targets=lambda b: b[1])
