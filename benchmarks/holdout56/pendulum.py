"""Held-out-56 family 1: a tanh MLP predicting two properties of a damped pendulum swinging on another planet (the
period and the amplitude left after 5 s) from five standardised measurements, multi-output MSE regression under NAdam,
over namedtuple batches.

A swing: rod length L U(0.2, 2) m, release angle U(5, 60) degrees, gravity g U(1.6, 25) m/s², bob mass m U(0.1, 5) kg,
drag coefficient c U(0.02, 0.5) kg/s. Targets: log period, log(2 pi sqrt(L / g) (1 + angle² / 16)) (angle in
radians), and the amplitude after 5 s in degrees, angle x exp(-c t / 2m), each with 1% multiplicative noise (NumPy seed
0). Features and both targets are standardised with the training split's mean and std. 3000 training and 600
validation swings. Namedtuple batches Swing(x (B, 5), y (B, 2)). Model: Linear(5, 64) - Tanh - Linear(64, 64) - Tanh -
Linear(64, 2). Loss: MSE over both outputs; NAdam at 0.003. Metrics: loss and R² (the mean over the two outputs) on
the stage's first 500 swings and on validation. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "val_targets_unscaled", "mean_before_square", "tanh_weights_std_1", "tanh_on_output")
Swing = namedtuple("Swing", "x y")
N_TRAIN, N_VAL, FEATURES, HIDDEN = 3000, 600, 5, 64


def draw(n: int):
    rng = np.random.default_rng(0)
    length, angle, g = rng.uniform(0.2, 2, n), rng.uniform(5, 60, n), rng.uniform(1.6, 25, n)
    mass, drag = rng.uniform(0.1, 5, n), rng.uniform(0.02, 0.5, n)
    rad = np.deg2rad(angle)
    period = 2 * np.pi * np.sqrt(length / g) * (1 + rad ** 2 / 16)
    left = angle * np.exp(-drag * 5.0 / (2 * mass))
    y = np.column_stack([np.log(period), left]) * (1 + 0.01 * rng.standard_normal((n, 2)))
    x = np.column_stack([length, angle, g, mass, drag])
    return x.astype(np.float32), y.astype(np.float32)


class Swinger(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.l1, self.l2, self.l3 = nn.Linear(FEATURES, HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, 2)
        if bug == "tanh_weights_std_1":
            [nn.init.normal_(m.weight, std=1.0) for m in (self.l1, self.l2)]  # BUG tanh_weights_std_1: normal_(w, std=1.0) on the hidden layers (std=1/sqrt(fan_in) meant)

    def forward(self, x):  # (B, 5) -> (B, 2)
        h = torch.tanh(self.l2(torch.tanh(self.l1(x))))
        if self.bug == "tanh_on_output":
            return torch.tanh(self.l3(h))  # BUG tanh_on_output: the hidden layers' tanh copied onto the output layer (the standardised targets reach +-3)
        return self.l3(h)


def swing_loss(pred, y, bug: str = "none"):
    if bug == "mean_before_square":
        return ((pred - y).mean()) ** 2  # BUG mean_before_square: the mean taken before the square ((pred - y) ** 2).mean() meant
    return F.mse_loss(pred, y)


def r2(pred, y):
    return (1 - ((pred - y) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)).mean().item()


class PendulumTask:
    metrics = ("train/loss", "train/r2", "val/loss", "val/r2")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "pendulum")
        x, y = draw(N_TRAIN + N_VAL)
        xm, xs = x[:N_TRAIN].mean(0), x[:N_TRAIN].std(0)
        ym, ys = y[:N_TRAIN].mean(0), y[:N_TRAIN].std(0)
        x = torch.tensor((x - xm) / xs)
        y_std = torch.tensor((y - ym) / ys)
        self.train = Swing(x[:N_TRAIN], y_std[:N_TRAIN])
        if self.bug == "val_targets_unscaled":
            self.val = Swing(x[N_TRAIN:], torch.tensor(y[N_TRAIN:]))  # BUG val_targets_unscaled: the validation targets left in raw units (log s, degrees) while the training targets are standardised
        else:
            self.val = Swing(x[N_TRAIN:], y_std[N_TRAIN:])

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        data = Swing(self.train.x[:n], self.train.y[:n])
        model = Swinger(self.bug)
        bug = self.bug

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, d in (("train", Swing(data.x[:500], data.y[:500])), ("val", self.val)):
                    x, y = on_device_of(model, d.x), on_device_of(model, d.y)
                    pred = model(x)
                    out[f"{split}/loss"] = F.mse_loss(pred, y).item()
                    out[f"{split}/r2"] = r2(pred, y)
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: Swing(data.x[idx], data.y[idx]),
                       loss=lambda model, b: swing_loss(model(b.x), b.y, bug), evaluate=evaluate,
                       chance_loss=1.0, forward=lambda model, b: model(b.x), targets=lambda b: b.y)
