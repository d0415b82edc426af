"""Held-out-48 family 1: a multi-task MLP unmixing a spectrum: which of four source spectra dominates a blend (a class)
and how bright the blend is (a regression), over plain tuple batches (x, source, amount).

A blend: four fixed source spectra of 16 bins (positive bumps, NumPy seed 7); mixing weights with one dominant
source (weight U(0.45, 0.8), the rest a Dirichlet share of what is left); a brightness s = exp(U(-0.7, 0.7)); the
spectrum x = s * (weights @ sources) + noise N(0, 0.01²), standardised per bin with the training split's mean and std.
Targets: the dominant source (0..3) and the standardised log brightness. NumPy seed 0 draws 3000 training and 600
validation blends. Model: Linear(16, 64) - Tanh - Linear(64, 64) - Tanh - Linear(64, 5): four class logits and the
brightness. Loss: cross-entropy on the logits plus MSE on the brightness; Adam at 0.003. Metrics: loss, class
accuracy, brightness R² and `both` (the share of blends with the class right and the brightness within 0.15 std) on
the stage's first 500 blends and on validation. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "row_normalised", "amount_from_class_column", "normal_mean_not_std", "activations_forgotten")
N_TRAIN, N_VAL, BINS, SOURCES, TOL = 3000, 600, 16, 4, 0.15


def sources() -> np.ndarray:
    rng = np.random.default_rng(7)
    grid = np.arange(BINS)
    out = np.zeros((SOURCES, BINS))
    for k in range(SOURCES):
        for _ in range(2):
            out[k] += rng.uniform(0.5, 1.0) * np.exp(-((grid - rng.uniform(0, BINS)) / rng.uniform(1.0, 3.0)) ** 2)
    return out + 0.05


def draw(n: int, rng: np.random.Generator, bug: str):
    src = sources()
    cls = rng.integers(0, SOURCES, n)
    w = rng.dirichlet(np.ones(SOURCES - 1), n)
    top = rng.uniform(0.45, 0.8, n)
    weights = np.zeros((n, SOURCES))
    for i in range(n):
        others = [k for k in range(SOURCES) if k != cls[i]]
        weights[i, others] = w[i] * (1 - top[i])
        weights[i, cls[i]] = top[i]
    log_s = rng.uniform(-0.7, 0.7, n)
    x = np.exp(log_s)[:, None] * (weights @ src) + rng.normal(0, 0.01, (n, BINS))
    if bug == "row_normalised":
        x = x / x.sum(1, keepdims=True)  # BUG row_normalised: "normalise each spectrum to unit area" erases the brightness
    return x, cls, log_s


class Unmixer(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        act = (lambda: nn.Identity()) if bug == "activations_forgotten" else nn.Tanh  # BUG activations_forgotten: the trunk's nonlinearities left out: a linear model
        self.net = nn.Sequential(nn.Linear(BINS, 64), act(), nn.Linear(64, 64), act(), nn.Linear(64, SOURCES + 1))
        if bug == "normal_mean_not_std":
            [nn.init.normal_(m.weight, 0.1) for m in self.net if isinstance(m, nn.Linear)]  # BUG normal_mean_not_std: normal_(w, 0.1) sets the mean to 0.1 (std 1), std=0.1 was meant

    def forward(self, x):  # (B, 16) -> (B, 5): four class logits, the brightness
        return self.net(x)


def split(out: torch.Tensor, bug: str = "none"):
    if bug == "amount_from_class_column":
        return out[:, :SOURCES], out[:, SOURCES - 1]  # BUG amount_from_class_column: out[:, 3] (the last class's logit) where out[:, 4] was meant
    return out[:, :SOURCES], out[:, SOURCES]


def blend_loss(out, cls, amount, bug: str = "none"):
    logits, pred = split(out, bug)
    return F.cross_entropy(logits, cls) + F.mse_loss(pred, amount)


class BlendsTask:
    metrics = ("train/loss", "train/acc", "train/r2", "train/both", "val/loss", "val/acc", "val/r2", "val/both")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "blends")
        rng = np.random.default_rng(0)
        x, c, a = draw(N_TRAIN + N_VAL, rng, self.bug)
        mean, std = x[:N_TRAIN].mean(0), x[:N_TRAIN].std(0)
        x = torch.tensor((x - mean) / std, dtype=torch.float32)
        a = torch.tensor((a - a[:N_TRAIN].mean()) / a[:N_TRAIN].std(), dtype=torch.float32)
        c = torch.tensor(c, dtype=torch.long)
        self.train = (x[:N_TRAIN], c[:N_TRAIN], a[:N_TRAIN])
        self.val = (x[N_TRAIN:], c[N_TRAIN:], a[N_TRAIN:])

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, c, a = (t[:n] for t in self.train)
        model = Unmixer(self.bug)
        bug = self.bug

        def evaluate(model):
            out = {}
            with evaluating(model):
                for name, (xs, cs, as_) in (("train", (x[:500], c[:500], a[:500])), ("val", self.val)):
                    xs, cs, as_ = (on_device_of(model, t) for t in (xs, cs, as_))
                    o = model(xs)
                    logits, pred = split(o)
                    right = logits.argmax(-1) == cs
                    close = (pred - as_).abs() < TOL
                    out[f"{name}/loss"] = blend_loss(o, cs, as_).item()
                    out[f"{name}/acc"] = right.float().mean().item()
                    out[f"{name}/r2"] = 1 - ((pred - as_) ** 2).mean().item() / max(as_.var(unbiased=False).item(), 1e-8)
                    out[f"{name}/both"] = (right & close).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], c[idx], a[idx]),
                       loss=lambda model, b: blend_loss(model(b[0]), b[1], b[2], bug), evaluate=evaluate,
                       chance_loss=math.log(SOURCES) + 1.0, forward=lambda model, b: model(b[0]),
                       targets=lambda b: b[1])
