"""Held-out-47 family 1: an MLP regressing a crop's yield from ten standardised field measurements (one real-valued
target, mean squared error), over plain tuple batches.

A field: ten measurements z ~ N(0, 1); the yield is sin(z0 z1) + 0.5 z2^2 - 0.7 z3 z4 + 0.6 tanh(2 z5) + 0.4 z6
+ 0.3 z7 |z8| + noise N(0, 0.05), standardised with the training split's mean and std (z9 unused). NumPy seed 0 draws
3600 fields; the first 3000 train, the last 600 validate. Model: Linear(10, 128) - ReLU - Linear(128, 128) - ReLU -
Linear(128, 1), squeezed to (B,); loss: the hand-written mean of squared errors; Adam at 0.003. Tuple batches
(x (B, 10), y (B,)). Metrics: loss (MSE) and R^2 on the stage's first 500 fields and on validation. Each bug is one
line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "shuffled_apart", "unsqueezed_mse", "uniform_default", "tanh_head")
N_TRAIN, N_VAL, FEATURES, HID = 3000, 600, 10, 128


def draw(bug: str):
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1, (N_TRAIN + N_VAL, FEATURES))
    y = (np.sin(z[:, 0] * z[:, 1]) + 0.5 * z[:, 2] ** 2 - 0.7 * z[:, 3] * z[:, 4] + 0.6 * np.tanh(2 * z[:, 5])
         + 0.4 * z[:, 6] + 0.3 * z[:, 7] * np.abs(z[:, 8]) + rng.normal(0, 0.05, len(z)))
    y = (y - y[:N_TRAIN].mean()) / y[:N_TRAIN].std()
    order = rng.permutation(N_TRAIN)
    x_tr, y_tr = z[:N_TRAIN][order], y[:N_TRAIN][order]
    if bug == "shuffled_apart":
        y_tr = y[:N_TRAIN][rng.permutation(N_TRAIN)]  # BUG shuffled_apart: the targets shuffled with their own permutation
    return x_tr, y_tr, z[N_TRAIN:], y[N_TRAIN:]


class YieldMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.fc1, self.fc2, self.out = nn.Linear(FEATURES, HID), nn.Linear(HID, HID), nn.Linear(HID, 1)
        if bug == "uniform_default":
            for layer in (self.fc1, self.fc2, self.out):
                nn.init.uniform_(layer.weight)  # BUG uniform_default: uniform_'s default range U(0, 1), the bounds forgotten
        self.relu = nn.ReLU()

    def forward(self, x):  # (B, 10) -> (B, 1)
        out = self.out(self.relu(self.fc2(self.relu(self.fc1(x)))))
        if self.bug == "tanh_head":
            return torch.tanh(out)  # BUG tanh_head: a bounded output on standardised targets (|y| > 1 for a third)
        return out


class YieldsTask:
    metrics = ("train/loss", "train/r2", "val/loss", "val/r2")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "yields")
        f32 = dict(dtype=torch.float32)
        self.x_train, self.y_train, self.x_val, self.y_val = (torch.tensor(a, **f32) for a in draw(self.bug))

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = YieldMLP(self.bug)
        bug = self.bug

        def loss(model, b):
            xs, ys = b
            pred = model(xs).squeeze(-1)
            if bug == "unsqueezed_mse":
                pred = model(xs)  # BUG unsqueezed_mse: (B, 1) predictions against (B,) targets, broadcast to (B, B)
            return ((pred - ys) ** 2).mean()

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    mse = ((model(xs).squeeze(-1) - ys) ** 2).mean().item()
                    out[f"{split}/loss"] = mse
                    out[f"{split}/r2"] = 1 - mse / max(ys.var(unbiased=False).item(), 1e-12)
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=1.0, forward=lambda model, b: model(b[0]).squeeze(-1),
                       targets=lambda b: b[1])
