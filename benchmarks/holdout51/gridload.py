"""Held-out-51 family 1: an MLP forecasting the electric load of a power-grid feeder from eight weather and calendar
features, under RMSprop and an L1 (mean absolute error) loss, over dict batches.

An hour of a feeder: hour of day U(0, 24), day of week 0..6, temperature C ~ N(15, 9), humidity % U(20, 100), cloud
cover U(0, 1), wind m/s ~ logNormal(1.5, 0.5), served population (10^4) U(0.5, 2). Load MW = population x (300 + 130
exp(-(h - 19)^2 / 8) + 70 exp(-(h - 8)^2 / 4) (workdays only) - 40 (weekend) + 9 max(0, 16 - T) + 14 max(0, T - 22)
(1 + humidity / 100) - 30 cloud (daytime) + 2 wind max(0, 16 - T) / 5) + noise N(0, 4). Features: sin and cos of the
hour, a weekend flag, temperature, humidity, cloud, wind, population, each standardised with the training split's
mean and std; the target is the load standardised the same way. NumPy seed 0 draws 3000 training and 600 validation
hours, shuffled together before the split. Model: Linear(8, 128) - ReLU - Linear(128, 128) - ReLU - Linear(128, 1).
Loss: L1; RMSprop (alpha 0.9) at 0.001. Dict batches {"features" (B, 8), "load" (B,)}. Metrics: loss (L1), MSE and
`hit` (the share of hours predicted within 0.2 standard deviation) on the stage's first 500 hours and on validation.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "targets_permuted_separately", "l1_unsqueezed", "uniform_pm1_init", "relu_result_discarded")
N_TRAIN, N_VAL, FEATURES, HIDDEN, TOL = 3000, 600, 8, 128, 0.2


def draw(n: int, rng: np.random.Generator):
    hour, day = rng.uniform(0, 24, n), rng.integers(0, 7, n)
    temp, humid, cloud = rng.normal(15, 9, n), rng.uniform(20, 100, n), rng.uniform(0, 1, n)
    wind, pop = rng.lognormal(1.5, 0.5, n), rng.uniform(0.5, 2.0, n)
    weekend = day >= 5
    cold, hot = np.maximum(0, 16 - temp), np.maximum(0, temp - 22)
    per_capita = (300 + 130 * np.exp(-(hour - 19) ** 2 / 8) + 70 * np.exp(-(hour - 8) ** 2 / 4) * ~weekend
                  - 40 * weekend + 9 * cold + 14 * hot * (1 + humid / 100)
                  - 30 * cloud * ((hour > 7) & (hour < 18)) + 2 * wind * cold / 5)
    load = pop * per_capita + rng.normal(0, 4, n)
    raw = np.column_stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24), weekend, temp, humid, cloud,
                           wind, pop])
    return raw, load


class LoadMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.hidden = nn.ModuleList([nn.Linear(FEATURES, HIDDEN), nn.Linear(HIDDEN, HIDDEN)])
        self.out = nn.Linear(HIDDEN, 1)
        if bug == "uniform_pm1_init":
            [nn.init.uniform_(m.weight, -1.0, 1.0) for m in (*self.hidden, self.out)]  # BUG uniform_pm1_init: U(-1, 1), the old Torch7 tutorial's init, for every weight matrix

    def forward(self, x):  # (B, 8) -> (B, 1)
        h = x
        for layer in self.hidden:
            h = layer(h)
            if self.bug == "relu_result_discarded":
                h.relu()  # BUG relu_result_discarded: out-of-place relu whose result is dropped (relu_() was meant): no nonlinearity
            else:
                h = h.relu()
        return self.out(h)


class GridLoadTask:
    metrics = ("train/loss", "train/mse", "train/hit", "val/loss", "val/mse", "val/hit")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "gridload")
        rng = np.random.default_rng(0)
        raw, load = draw(N_TRAIN + N_VAL, rng)
        perm = rng.permutation(N_TRAIN + N_VAL)
        raw = raw[perm]
        if bug == "targets_permuted_separately":
            load = load[rng.permutation(N_TRAIN + N_VAL)]  # BUG targets_permuted_separately: a second permutation drawn for the targets
        else:
            load = load[perm]
        mean, std = raw[:N_TRAIN].mean(0), raw[:N_TRAIN].std(0)
        x = torch.tensor((raw - mean) / std, dtype=torch.float32)
        y = torch.tensor((load - load[:N_TRAIN].mean()) / load[:N_TRAIN].std(), dtype=torch.float32)
        self.x_train, self.y_train, self.x_val, self.y_val = x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = LoadMLP(self.bug)
        bug = self.bug

        def loss(model, b):
            if bug == "l1_unsqueezed":
                return F.l1_loss(model(b["features"]), b["load"])  # BUG l1_unsqueezed: (B, 1) predictions against (B,) targets, .squeeze(-1) forgotten
            return F.l1_loss(model(b["features"]).squeeze(-1), b["load"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    pred = model(xs).squeeze(-1)
                    out[f"{split}/loss"] = F.l1_loss(pred, ys).item()
                    out[f"{split}/mse"] = F.mse_loss(pred, ys).item()
                    out[f"{split}/hit"] = ((pred - ys).abs() < TOL).float().mean().item()
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: {"features": x[idx], "load": y[idx]}, loss=loss, evaluate=evaluate,
                       chance_loss=0.8, forward=lambda model, b: model(b["features"]).squeeze(-1),
                       targets=lambda b: b["load"])
