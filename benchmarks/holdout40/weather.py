"""Held-out-40 family 1: an MLP (ReLU) naming the weather of a station's hourly reading from eight columns (tabular
classification, five classes).

A reading: air temperature U(-5, 35) (deg C), relative humidity U(30, 100) (%), pressure U(985, 1035) (hPa), wind
speed U(0, 20) (m/s), cloud cover U(0, 1), dew point temperature - (100 - humidity) / 5 plus N(0, 1), visibility
U(0, 10) (km), hour U(0, 24) (irrelevant). The class, first rule that holds: storm (pressure < 1000 and wind > 12),
fog (visibility < 2), rain (humidity > 75 and cloud > 0.6), cloudy (cloud > 0.5), sunny. NumPy seed 0 draws 3600
readings; the first 3000 train, the last 600 validate; every column standardised with the training mean and std.
Model: Linear(8, 64) - ReLU - Linear(64, 64) - ReLU - Linear(64, 5); cross-entropy; Adam at 0.003. Tuple batches
(features (B, 8) float, class (B,) long). Metrics: loss and accuracy on the stage's first 500 readings and on
validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pressure_raw_hpa", "double_softmax", "constant_init_hidden", "fc1_detached")
COLUMNS = ("temp", "humidity", "pressure", "wind", "cloud", "dew_point", "visibility", "hour")
CLASSES = 5  # sunny, cloudy, rain, fog, storm
N_TRAIN, N_VAL = 3000, 600


def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    temp, hum, pres = rng.uniform(-5, 35, n), rng.uniform(30, 100, n), rng.uniform(985, 1035, n)
    wind, cloud, vis, hour = rng.uniform(0, 20, n), rng.uniform(0, 1, n), rng.uniform(0, 10, n), rng.uniform(0, 24, n)
    dew = temp - (100 - hum) / 5 + rng.normal(0, 1, n)
    y = np.select([(pres < 1000) & (wind > 12), vis < 2, (hum > 75) & (cloud > 0.6), cloud > 0.5], [4, 3, 2, 1], 0)
    return np.stack([temp, hum, pres, wind, cloud, dew, vis, hour], 1), y


class WeatherMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.fc1, self.fc2, self.out = nn.Linear(len(COLUMNS), 64), nn.Linear(64, 64), nn.Linear(64, CLASSES)
        if bug == "constant_init_hidden":
            [nn.init.constant_(p, 0.05) for p in (*self.fc1.parameters(), *self.fc2.parameters())]  # BUG constant_init_hidden

    def forward(self, x):  # (B, 8) -> (B, 5) logits
        h = F.relu(self.fc1(x))
        if self.bug == "fc1_detached":
            h = h.detach()  # BUG fc1_detached: left from a feature-extraction experiment
        return self.out(F.relu(self.fc2(h)))


class WeatherTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "weather")
        x, y = draw(N_TRAIN + N_VAL, np.random.default_rng(0))
        x_tr, y_tr, x_va, y_va = x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]
        mu, sd = x_tr.mean(0), x_tr.std(0)
        if self.bug == "pressure_raw_hpa":
            mu[2], sd[2] = 0.0, 1.0  # BUG pressure_raw_hpa: the pressure column left in hPa
        self.x_train = torch.tensor((x_tr - mu) / sd, dtype=torch.float32)
        self.x_val = torch.tensor((x_va - mu) / sd, dtype=torch.float32)
        self.y_train, self.y_val = torch.tensor(y_tr), torch.tensor(y_va)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = WeatherMLP(self.bug)

        def loss(model, b):
            logits = model(b[0])
            if self.bug == "double_softmax":
                return F.cross_entropy(logits.softmax(-1), b[1])  # BUG double_softmax: probabilities into CE
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
                       evaluate=evaluate, chance_loss=math.log(CLASSES),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
