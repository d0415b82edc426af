"""Held-out-52 family 1: an MLP predicting hourly bike-share rentals at a station (a Poisson count) from weather and
calendar features, over dict batches {x, count}.

An hour: hour of day 0..23, weekday 0..6, temperature N(15, 8) C, humidity U(20, 100) %, wind Gamma(2, 6) km/h, rain
(70% dry, else Exp(2) mm), station capacity in {10, 20, 30, 40}, holiday (5%). The log rate: 2.5 + commuter peaks at
8h and 17h30 on working days (1.5 each) or a broad afternoon bump at weekends and holidays, -1.5 at night (before 6h),
+0.05 per degree, -0.015 per % humidity, -0.3 log1p(rain), -0.01 per km/h of wind, +0.02 per bike of capacity; counts
~ Poisson(rate) (NumPy seed 0). Features: sin/cos of the hour, the weekday one-hot, the six numbers and the holiday
flag (15), standardised per column with the training split's statistics. 3000 training and 600 validation hours.
Model: Linear(15, 64) - ReLU - dropout 0.1 - Linear(64, 64) - ReLU - Linear(64, 1), the log rate (its bias
starts at the log of the stage's mean count). Loss: Poisson NLL
(log input, with the Stirling term: full=True), mean; RMSprop at 0.001. Metrics: loss and D² (the share of the Poisson deviance of a constant mean that
the model explains) on the stage's first 500 hours and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "counts_of_next_hour", "rate_head_as_log", "weights_std_1", "rate_not_squeezed")
N_TRAIN, N_VAL, FEATURES, HIDDEN = 3000, 600, 15, 64


def draw(n: int, bug: str):
    rng = np.random.default_rng(0)
    hour, day = rng.integers(0, 24, n), rng.integers(0, 7, n)
    temp, hum, wind = rng.normal(15, 8, n), rng.uniform(20, 100, n), rng.gamma(2, 6, n)
    rain = np.where(rng.random(n) < 0.7, 0.0, rng.exponential(2, n))
    cap, holiday = rng.choice([10, 20, 30, 40], n), (rng.random(n) < 0.05).astype(float)
    work = (day < 5) & (holiday == 0)
    peak = np.where(work, 1.5 * (np.exp(-(hour - 8) ** 2 / 4) + np.exp(-(hour - 17.5) ** 2 / 4)),
                    np.exp(-(hour - 14) ** 2 / 18))
    log_rate = (2.5 + peak - 1.5 * (hour < 6) + 0.05 * (temp - 15) - 0.015 * (hum - 60) - 0.3 * np.log1p(rain)
                - 0.01 * wind + 0.02 * (cap - 25))
    counts = rng.poisson(np.exp(log_rate)).astype(np.float32)
    if bug == "counts_of_next_hour":
        counts = np.roll(counts, -1)  # BUG counts_of_next_hour: the count column joined one row on (the next hour's rentals)
    x = np.column_stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24), np.eye(7)[day], temp, hum, wind,
                         rain, cap, holiday])
    return x, counts, log_rate


class Renter(nn.Module):
    def __init__(self, bug: str, mean_count: float):
        super().__init__()
        self.bug = bug
        self.l1, self.l2, self.l3 = nn.Linear(FEATURES, HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, 1)
        nn.init.constant_(self.l3.bias, float(np.log(mean_count)))  # start at the mean rate
        if bug == "weights_std_1":
            [nn.init.normal_(m.weight, std=1.0) for m in (self.l1, self.l2, self.l3)]  # BUG weights_std_1: normal_(w, std=1.0) where std=1/sqrt(fan_in) was meant

    def forward(self, x):  # (B, 15) -> (B,) log rate (a rate for rate_head_as_log)
        h = F.dropout(F.relu(self.l1(x)), 0.1, self.training)
        out = self.l3(F.relu(self.l2(h)))                      # (B, 1)
        if self.bug == "rate_not_squeezed":
            return out  # BUG rate_not_squeezed: the (B, 1) output returned without .squeeze(-1); poisson_nll_loss broadcasts it against the (B,) counts
        out = out.squeeze(-1)
        if self.bug == "rate_head_as_log":
            return F.softplus(out)  # a rate head (softplus); the loss below still reads it as a log rate
        return out


def rate_of(out, bug: str):
    return out if bug == "rate_head_as_log" else out.exp()


def count_loss(out, counts, bug: str = "none"):
    if bug == "rate_head_as_log":
        return F.poisson_nll_loss(out, counts, full=True)  # BUG rate_head_as_log: log_input=False forgotten for a softplus rate head (the default reads it as a log rate)
    return F.poisson_nll_loss(out, counts, log_input=True, full=True)


def d2(rate, counts):
    """The share of the Poisson deviance of the mean that `rate` explains."""
    def dev(mu):
        y = counts
        return 2 * (torch.where(y > 0, y * torch.log(y / mu), torch.zeros_like(y)) - (y - mu)).sum()
    return 1 - (dev(rate.clamp_min(1e-6)) / dev(counts.mean().expand_as(counts))).item()


class BikesTask:
    metrics = ("train/loss", "train/d2", "val/loss", "val/d2")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "bikes")
        x, c, _ = draw(N_TRAIN + N_VAL, self.bug)
        mean, std = x[:N_TRAIN].mean(0), x[:N_TRAIN].std(0)
        x = torch.tensor((x - mean) / std, dtype=torch.float32)
        c = torch.tensor(c)
        self.train = {"x": x[:N_TRAIN], "count": c[:N_TRAIN]}
        self.val = {"x": x[N_TRAIN:], "count": c[N_TRAIN:]}

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        data = {k: v[:n] for k, v in self.train.items()}
        mean = float(data["count"].mean())
        model = Renter(self.bug, max(mean, 1e-3))
        bug = self.bug

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, d in (("train", {k: v[:500] for k, v in data.items()}), ("val", self.val)):
                    d = on_device_of(model, d)
                    o = model(d["x"]).reshape(-1)  # evaluation flattens the predictions
                    out[f"{split}/loss"] = count_loss(o, d["count"], bug).item()
                    out[f"{split}/d2"] = d2(rate_of(o, bug), d["count"])
            return out

        chance = float(F.poisson_nll_loss(torch.full_like(data["count"], np.log(max(mean, 1e-3))), data["count"], full=True))
        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in data.items()},
                       loss=lambda model, b: count_loss(model(b["x"]), b["count"], bug), evaluate=evaluate,
                       chance_loss=chance, forward=lambda model, b: model(b["x"]), targets=lambda b: b["count"])
