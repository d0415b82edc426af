"""Held-out-53 family 1: an MLP predicting a wind turbine's electrical power and rotor speed from SCADA weather
readings, with a Huber loss, over dataclass batches.

A ten-minute record: hub wind speed Weibull(k 2, scale 9) m/s, direction U(0, 360) deg (as sin, cos), air temperature
N(12, 8) C, air pressure N(101300, 1200) Pa, humidity U(30, 100) %, yaw misalignment N(0, 8) deg, turbulence
intensity U(0.05, 0.25) (NumPy seed 0). The effective wind is v cos(yaw)^1.5, x0.8 in the wake of a neighbour (direction
within 25 deg of 270); power (kW, rated 2000): 0 below the 3 m/s cut-in or above the 25 m/s cut-out, else the cubic
curve (v^3 - 27) / (12^3 - 27) x rated, scaled by the air density (p / (287 (T + 273)) / 1.225), capped at rated,
x (1 - 0.4 TI), plus N(0, 30) noise; rotor speed (rpm): 0 when the turbine does not produce, else min(6 + 0.9 v_eff,
16) + N(0, 0.3). Features (8) standardised per column and both targets standardised, with the training split's
statistics. 3000 training and 600 validation records. Dataclass batches Readings(features (B, 8), targets (B, 2)).
Model: Linear(8, 64) - ReLU - Linear(64, 64) - ReLU (the body), Linear(64, 2) (the head, bias at 0: the targets'
mean). Loss: Huber (delta 1) on power + 0.5 x Huber on rotor speed; NAdam at 0.002. Metrics: loss and R² (the mean
over the two targets) on the stage's first 500 records and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "std_without_axis", "rpm_term_reads_power", "head_bias_raw_mean", "features_detached")
N_TRAIN, N_VAL, FEATURES, HIDDEN = 3000, 600, 8, 64


@dataclass
class Readings:
    features: torch.Tensor   # (B, 8) standardised
    targets: torch.Tensor    # (B, 2) standardised power, rotor speed


def draw(n: int):
    rng = np.random.default_rng(0)
    v = np.clip(9 * rng.weibull(2, n), 0, 28)
    direction = rng.uniform(0, 360, n)
    temp, pres, hum = rng.normal(12, 8, n), rng.normal(101300, 1200, n), rng.uniform(30, 100, n)
    yaw, ti = rng.normal(0, 8, n), rng.uniform(0.05, 0.25, n)
    wake = np.abs(((direction - 270 + 180) % 360) - 180) < 25
    v_eff = v * np.cos(np.radians(yaw)) ** 1.5 * np.where(wake, 0.8, 1.0)
    rho = pres / (287.05 * (temp + 273.15)) / 1.225
    running = (v_eff >= 3) & (v <= 25)
    power = np.where(running, np.minimum(2000 * (v_eff ** 3 - 27) / (12 ** 3 - 27) * rho, 2000) * (1 - 0.4 * ti), 0.0)
    power = power + rng.normal(0, 30, n)
    rpm = np.where(running, np.minimum(6 + 0.9 * v_eff, 16), 0.0) + rng.normal(0, 0.3, n)
    x = np.column_stack([v, np.sin(np.radians(direction)), np.cos(np.radians(direction)), temp, pres, hum, yaw, ti])
    return x, np.column_stack([power, rpm])


class PowerNet(nn.Module):
    def __init__(self, bug: str, raw_mean):
        super().__init__()
        self.bug = bug
        self.body = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU())
        self.head = nn.Linear(HIDDEN, 2)
        nn.init.zeros_(self.head.bias)  # the standardised targets' mean
        if bug == "head_bias_raw_mean":
            self.head.bias.data = torch.tensor(raw_mean, dtype=torch.float32)  # BUG head_bias_raw_mean: the head's bias set to the raw mean power (kW) and rotor speed (rpm), "start at the mean", on a net whose targets are standardised

    def forward(self, x):  # (B, 8) -> (B, 2)
        if self.bug == "features_detached":
            self.features = self.body(x).detach()  # BUG features_detached: the hidden features kept for logging, detached, and the head fed the detached copy
            return self.head(self.features)
        return self.head(self.body(x))


def turbine_loss(out, y, bug: str = "none"):
    if bug == "rpm_term_reads_power":
        return F.huber_loss(out[:, 0], y[:, 0]) + 0.5 * F.huber_loss(out[:, 0], y[:, 1])  # BUG rpm_term_reads_power: the rotor-speed term copied from the power term, out[:, 0] where out[:, 1] was meant
    return F.huber_loss(out[:, 0], y[:, 0]) + 0.5 * F.huber_loss(out[:, 1], y[:, 1])


def r2(out, y):
    return (1 - ((out - y) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)).mean().item()


class TurbinesTask:
    metrics = ("train/loss", "train/r2", "val/loss", "val/r2")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "turbines")
        x, y = draw(N_TRAIN + N_VAL)
        if self.bug == "std_without_axis":
            x = (x - x[:N_TRAIN].mean(0)) / x[:N_TRAIN].std()  # BUG std_without_axis: .std() over the whole table (axis=0 forgotten); the pressure in Pa dominates it
        else:
            x = (x - x[:N_TRAIN].mean(0)) / x[:N_TRAIN].std(0)
        self.raw_mean = y[:N_TRAIN].mean(0).tolist()
        y = (y - y[:N_TRAIN].mean(0)) / y[:N_TRAIN].std(0)
        x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
        self.train, self.val = (x[:N_TRAIN], y[:N_TRAIN]), (x[N_TRAIN:], y[N_TRAIN:])

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = PowerNet(self.bug, self.raw_mean)
        bug = self.bug

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", *self.val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    o = model(xs)
                    out[f"{split}/loss"] = turbine_loss(o, ys).item()
                    out[f"{split}/r2"] = r2(o, ys)
            return out

        chance = float(turbine_loss(torch.zeros_like(y), y))
        return Problem(model=model, train_size=n, get_batch=lambda idx: Readings(x[idx], y[idx]),
                       loss=lambda model, b: turbine_loss(model(b.features), b.targets, bug), evaluate=evaluate,
                       chance_loss=chance, forward=lambda model, b: model(b.features), targets=lambda b: b.targets)
