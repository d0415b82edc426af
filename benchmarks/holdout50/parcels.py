"""Held-out-50 family 1: an MLP regressing the log shipping cost of a parcel from eight tabular features, under SGD
with momentum and a Huber loss, over namedtuple batches.

A parcel: weight kg ~ logNormal(0.7, 0.9); length, width, height cm ~ U(5, 80); distance km ~ logNormal(5.5, 1.0);
zone 0..4; express and fragile flags (P 0.3, 0.15). Cost = (4 + 1.1 billable (1 + 0.25 zone)) (1.6 if express)
+ 3 fragile + 0.004 distance, billable = max(weight, L W H / 5000) (volumetric weight); the target is log(cost),
standardised with the training split's mean and std. Features: log weight, L, W, H, log distance, zone, express,
fragile, each standardised with the training split's mean and std. NumPy seed 0 draws 3000 training and 600 validation
parcels. Model: Linear(8, 96) - ReLU - Linear(96, 96) - ReLU - Linear(96, 1). Loss: Huber (delta 1) on the
standardised log cost; SGD with momentum 0.9 at 0.02. Namedtuple batches Parcels(features (B, 8), cost (B,)). Metrics:
loss, MSE and `hit` (the share of parcels whose prediction is within 0.1 standard deviation of the target, about 5% of
the cost) on the stage's first 500 parcels and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "raw_distance_km", "huber_sum", "normal_std1_init", "dropout_in_eval")
Parcels = namedtuple("Parcels", "features cost")
N_TRAIN, N_VAL, FEATURES, HIDDEN, TOL = 3000, 600, 8, 96, 0.2


def draw(n: int, rng: np.random.Generator):
    weight = rng.lognormal(0.7, 0.9, n)
    dims = rng.uniform(5, 80, (n, 3))
    distance = rng.lognormal(5.5, 1.0, n)
    zone = rng.integers(0, 5, n)
    express, fragile = rng.random(n) < 0.3, rng.random(n) < 0.15
    billable = np.maximum(weight, dims.prod(1) / 5000)
    cost = (4 + 1.1 * billable * (1 + 0.25 * zone)) * np.where(express, 1.6, 1.0) + 3 * fragile + 0.004 * distance
    raw = np.column_stack([np.log(weight), dims, np.log(distance), zone, express, fragile])
    return raw, distance, np.log(cost)


class CostMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.fc1, self.fc2, self.out = nn.Linear(FEATURES, HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, 1)
        if bug == "normal_std1_init":
            [nn.init.normal_(m.weight, 0.0, 1.0) for m in (self.fc1, self.fc2, self.out)]  # BUG normal_std1_init: "weights ~ N(0, 1)" as in the textbook

    def forward(self, x):  # (B, 8) -> (B,) standardised log cost
        h = F.relu(self.fc1(x))
        if self.bug == "dropout_in_eval":
            h = F.dropout(h, 0.2)  # BUG dropout_in_eval: F.dropout's training=True default, on in evaluation too
        h = F.relu(self.fc2(h))
        return self.out(h).squeeze(-1)


class ParcelsTask:
    metrics = ("train/loss", "train/mse", "train/hit", "val/loss", "val/mse", "val/hit")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "parcels")
        rng = np.random.default_rng(0)
        raw, distance, y = draw(N_TRAIN + N_VAL, rng)
        mean, std = raw[:N_TRAIN].mean(0), raw[:N_TRAIN].std(0)
        x = torch.tensor((raw - mean) / std, dtype=torch.float32)
        if bug == "raw_distance_km":
            x[:, 4] = torch.tensor(distance, dtype=torch.float32)  # BUG raw_distance_km: the distance column put back in km after the scaler
        y = torch.tensor((y - y[:N_TRAIN].mean()) / y[:N_TRAIN].std(), dtype=torch.float32)
        self.x_train, self.y_train, self.x_val, self.y_val = x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = CostMLP(self.bug)
        bug = self.bug

        def loss(model, b):
            if bug == "huber_sum":
                return F.huber_loss(model(b.features), b.cost, delta=1.0, reduction="sum")  # BUG huber_sum: summed over the batch, not averaged
            return F.huber_loss(model(b.features), b.cost, delta=1.0)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    pred = model(xs)
                    out[f"{split}/loss"] = F.huber_loss(pred, ys, delta=1.0).item()
                    out[f"{split}/mse"] = F.mse_loss(pred, ys).item()
                    out[f"{split}/hit"] = ((pred - ys).abs() < TOL).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: Parcels(x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=0.5, forward=lambda model, b: model(b.features),
                       targets=lambda b: b.cost)
