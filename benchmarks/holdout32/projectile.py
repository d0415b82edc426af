"""Held-out-32 family 1: an MLP regressing where a projectile lands (range), how high it gets (apex) and how long it
flies, from its launch speed, angle, height and a distractor (its mass).

Speed U(5, 20) m/s, angle U(15, 75) degrees, launch height U(0, 10) m, mass U(1, 5) kg (no effect); g = 9.81, no
drag. NumPy seed 0 draws 3000 training and 1000 validation throws; the four inputs and three targets standardised
with the training statistics. Model: Linear(4, 128) - tanh - Linear(128, 128) - a hand-written RMSNorm over the
features (learnt gain) - tanh - Linear(128, 3). Mean squared error; Adam at 0.003. Tuple batches (inputs (B, 4),
targets (B, 3)). Metrics: MSE on the stage's throws (at most 1000) and on validation (in the standardised units);
chance_loss: the training targets' mean variance (1.0). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "targets_unscaled", "loss_on_inputs", "fc1_std4", "rmsnorm_over_batch")
N_TRAIN, N_VAL, G = 3000, 1000, 9.81


def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    v, ang = rng.uniform(5, 20, n), np.radians(rng.uniform(15, 75, n))
    h, m = rng.uniform(0, 10, n), rng.uniform(1, 5, n)
    vx, vy = v * np.cos(ang), v * np.sin(ang)
    t = (vy + np.sqrt(vy ** 2 + 2 * G * h)) / G
    return np.stack([v, ang, h, m], 1), np.stack([vx * t, h + vy ** 2 / (2 * G), t], 1)


class ProjectileMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.fc1, self.fc2, self.out = nn.Linear(4, 128), nn.Linear(128, 128), nn.Linear(128, 3)
        self.gain = nn.Parameter(torch.ones(128))
        if bug == "fc1_std4":
            nn.init.normal_(self.fc1.weight, std=4.0)  # BUG fc1_std4: std 4 instead of U(-1/2, 1/2) (std 0.29)

    def forward(self, x):
        h = self.fc2(torch.tanh(self.fc1(x)))
        if self.bug == "rmsnorm_over_batch":
            h = h / (h.pow(2).mean(0, keepdim=True) + 1e-6).sqrt() * self.gain  # BUG rmsnorm_over_batch: dim 0
        else:
            h = h / (h.pow(2).mean(-1, keepdim=True) + 1e-6).sqrt() * self.gain
        return self.out(torch.tanh(h))


class ProjectileTask:
    metrics = ("train/loss", "val/loss")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "projectile")
        rng = np.random.default_rng(0)
        (xt, yt), (xv, yv) = draw(N_TRAIN, rng), draw(N_VAL, rng)
        xm, xs, ym, ys = xt.mean(0), xt.std(0), yt.mean(0), yt.std(0)
        xt, xv = (xt - xm) / xs, (xv - xm) / xs
        if self.bug != "targets_unscaled":  # BUG targets_unscaled: the targets left in metres and seconds
            yt, yv = (yt - ym) / ys, (yv - ym) / ys
        self.x_train, self.y_train = torch.tensor(xt, dtype=torch.float32), torch.tensor(yt, dtype=torch.float32)
        self.x_val, self.y_val = torch.tensor(xv, dtype=torch.float32), torch.tensor(yv, dtype=torch.float32)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = ProjectileMLP(self.bug)

        def loss(model, b):
            if self.bug == "loss_on_inputs":
                return F.mse_loss(model(b[0]), b[0][:, :3])  # BUG loss_on_inputs: the inputs as the target
            return F.mse_loss(model(b[0]), b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:1000], y[:1000]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    out[f"{split}/loss"] = F.mse_loss(model(xs), ys).item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=float(self.y_train.var(0).mean()),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
