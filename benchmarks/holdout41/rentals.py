"""Held-out-41 family 1: an MLP (ReLU) predicting a bike-sharing station's hourly rentals from seven columns
(tabular regression).

An hour: hour of day 0..23 (given as sin/cos of 2 pi hour / 24), temperature U(-5, 35) (deg C), humidity U(20, 100)
(%), wind U(0, 25) (km/h), a working-day flag (p 5/7) and a rain flag (p 0.15). Rentals: 20 + 400 x demand(hour,
working day) x comfort(temperature) x (1 - 0.6 rain) x (1 - 0.4 max(0, humidity - 70) / 30) x (1 - wind / 60), with
demand two commuter peaks (8 and 17 h) on working days and one broad afternoon bump otherwise, plus N(0, 15²) noise.
The `registered` column (rentals by subscribers, 0.8 x rentals plus N(0, 5²)) is in the table but is not an input:
it is known only after the hour. NumPy seed 0 draws 3600 hours; the first 3000 train, the last 600 validate; the
inputs and the target standardised with the training mean and std. `best_loss`: the noise's variance in standardised
units. Model: Linear(7, 64) - ReLU - Linear(64, 64) - ReLU - Linear(64, 1); mean squared error on the standardised
target; Adam at 0.003. Tuple batches (features (B, 7) float, target (B,) float). Metrics: loss (MSE) and R² on the
stage's first 500 hours and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "target_raw_counts", "registered_column_kept", "pred_not_squeezed", "all_zero_init")
COLUMNS = ("hour_sin", "hour_cos", "temp", "humidity", "wind", "workday", "rain", "registered")
INPUTS = 7  # the first seven columns; `registered` is not an input
N_TRAIN, N_VAL = 3000, 600
NOISE = 15.0


def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    hour = rng.integers(0, 24, n).astype(float)
    temp, hum, wind = rng.uniform(-5, 35, n), rng.uniform(20, 100, n), rng.uniform(0, 25, n)
    work, rain = (rng.random(n) < 5 / 7).astype(float), (rng.random(n) < 0.15).astype(float)
    peaks = np.exp(-((hour - 8) / 1.5) ** 2) + 1.2 * np.exp(-((hour - 17) / 2.0) ** 2) + 0.1
    bump = 0.9 * np.exp(-((hour - 14) / 4.0) ** 2) + 0.05
    demand = np.where(work > 0, peaks, bump)
    comfort = np.exp(-((temp - 22) / 12) ** 2)
    mean = 20 + 400 * demand * comfort * (1 - 0.6 * rain) * (1 - 0.4 * np.clip(hum - 70, 0, None) / 30) * (1 - wind / 60)
    count = mean + rng.normal(0, NOISE, n)
    registered = 0.8 * count + rng.normal(0, 5, n)
    x = np.stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24), temp, hum, wind, work, rain,
                  registered], 1)
    return x, count


class RentalsMLP(nn.Module):
    def __init__(self, inputs: int, bug: str):
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(inputs, 64), nn.Linear(64, 64), nn.Linear(64, 1)
        if bug == "all_zero_init":
            [nn.init.zeros_(p) for p in self.parameters()]  # BUG all_zero_init: meant for the biases only

    def forward(self, x):  # (B, inputs) -> (B, 1)
        return self.out(F.relu(self.fc2(F.relu(self.fc1(x)))))


class RentalsTask:
    metrics = ("train/loss", "train/r2", "val/loss", "val/r2")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "rentals")
        x, y = draw(N_TRAIN + N_VAL, np.random.default_rng(0))
        cols = slice(0, INPUTS + 1) if self.bug == "registered_column_kept" else slice(0, INPUTS)  # BUG registered_column_kept
        x = x[:, cols]
        x_tr, y_tr, x_va, y_va = x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]
        mu, sd = x_tr.mean(0), x_tr.std(0)
        mu_y, sd_y = y_tr.mean(), y_tr.std()
        self.best = (NOISE / sd_y) ** 2
        if self.bug == "target_raw_counts":
            mu_y, sd_y = 0.0, 1.0  # BUG target_raw_counts: the target left in rentals per hour
        self.x_train = torch.tensor((x_tr - mu) / sd, dtype=torch.float32)
        self.x_val = torch.tensor((x_va - mu) / sd, dtype=torch.float32)
        self.y_train = torch.tensor((y_tr - mu_y) / sd_y, dtype=torch.float32)
        self.y_val = torch.tensor((y_va - mu_y) / sd_y, dtype=torch.float32)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = RentalsMLP(x.shape[1], self.bug)

        def loss(model, b):
            if self.bug == "pred_not_squeezed":
                return F.mse_loss(model(b[0]), b[1])  # BUG pred_not_squeezed: (B, 1) against (B,)
            return F.mse_loss(model(b[0]).squeeze(-1), b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    mse = F.mse_loss(model(xs).squeeze(-1), ys).item()
                    out[f"{split}/loss"] = mse
                    out[f"{split}/r2"] = 1.0 - mse / max(ys.var(unbiased=False).item(), 1e-12)
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=float(self.y_train.var(unbiased=False)),
                       best_loss=self.best, forward=lambda model, b: model(b[0]),
                       targets=lambda b: b[1])
