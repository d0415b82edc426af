"""Held-out-44 family 1: an MLP with a Gaussian (mean, log-variance) head regressing a field's crop yield from its
weather, soil and fertiliser (tabular heteroscedastic regression), over tuple batches.

A field: rainfall U(200, 1200) mm, mean temperature N(18, 4) °C, soil pH U(5, 8), fertiliser U(0, 200) kg/ha,
sunshine U(4, 10) h/day (standardised with the training split's mean and std) and a soil type of four (one-hot).
Yield (t/ha): 4 + 1.5 tanh((rain - 600) / 250) - 0.08 (temp - 20)² + 1.2 exp(-(pH - 6.5)²) + 0.012 fert
- 0.00003 fert² + 0.3 sun + a soil effect + a rain x soil interaction, plus noise whose std grows with the
fertiliser (0.15 .. 0.55), standardised with the training split's mean and std. NumPy seed 0 draws 3600 fields,
shuffled once; the first 3000 train, the last 600 validate. Model: Linear(9, 64) - ReLU - a hand-written LayerNorm
over the features - Linear(64, 64) - ReLU - Linear(64, 2) (mean, log-variance); the loss is the Gaussian negative
log-likelihood without its constant, 0.5 (log var + (y - mean)² / var); Adam at 0.003. Tuple batches (x (B, 9),
y (B,)). Metrics: loss (that NLL), MSE and R² of the mean on the stage's first 500 fields and on validation. Each bug
is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "sorted_before_split", "nll_divides_by_logvar", "uniform_default_range", "layernorm_over_batch")
N_TRAIN, N_VAL, SOILS = 3000, 600, 4


def draw(n: int, rng: np.random.Generator):
    rain, temp, ph = rng.uniform(200, 1200, n), rng.normal(18, 4, n), rng.uniform(5, 8, n)
    fert, sun, soil = rng.uniform(0, 200, n), rng.uniform(4, 10, n), rng.integers(0, SOILS, n)
    y = (4 + 1.5 * np.tanh((rain - 600) / 250) - 0.08 * (temp - 20) ** 2 + 1.2 * np.exp(-(ph - 6.5) ** 2)
         + 0.012 * fert - 0.00003 * fert ** 2 + 0.3 * sun + np.array([0.0, 0.6, -0.5, 0.3])[soil]
         + np.array([0.0, -0.8, 0.6, 0.3])[soil] * (rain - 700) / 300)
    y = y + rng.normal(0, 1, n) * (0.15 + 0.002 * fert)
    x = np.concatenate([np.stack([rain, temp, ph, fert, sun], 1), np.eye(SOILS)[soil]], 1)
    return x, y


class LayerNorm(nn.Module):
    def __init__(self, d: int, bug: str):
        super().__init__()
        self.bug, self.g, self.b = bug, nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d))

    def forward(self, h):
        if self.bug == "layernorm_over_batch":
            mu, var = h.mean(0, keepdim=True), h.var(0, keepdim=True, unbiased=False)  # BUG layernorm_over_batch: dim 0 is the batch
        else:
            mu, var = h.mean(-1, keepdim=True), h.var(-1, keepdim=True, unbiased=False)
        return (h - mu) / torch.sqrt(var + 1e-5) * self.g + self.b


class HarvestMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.fc1, self.norm, self.fc2, self.out = nn.Linear(5 + SOILS, 64), LayerNorm(64, bug), nn.Linear(64, 64), \
            nn.Linear(64, 2)
        if bug == "uniform_default_range":
            for layer in (self.fc1, self.fc2, self.out):
                nn.init.uniform_(layer.weight)  # BUG uniform_default_range: U(0, 1), every weight positive

    def forward(self, x):  # (B, 9) -> (B, 2): mean, log-variance
        h = self.norm(torch.relu(self.fc1(x)))
        return self.out(torch.relu(self.fc2(h)))


def gaussian_nll(out: torch.Tensor, y: torch.Tensor, bug: str = "none") -> torch.Tensor:
    mean, logvar = out[:, 0], out[:, 1]
    if bug == "nll_divides_by_logvar":
        return (0.5 * (logvar + (y - mean) ** 2 / logvar)).mean()  # BUG nll_divides_by_logvar: var is logvar.exp()
    return (0.5 * (logvar + (y - mean) ** 2 / logvar.exp())).mean()


class HarvestTask:
    metrics = ("train/loss", "train/mse", "train/r2", "val/loss", "val/mse", "val/r2")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "harvest")
        rng = np.random.default_rng(0)
        x, y = draw(N_TRAIN + N_VAL, rng)
        if self.bug == "sorted_before_split":
            order = np.argsort(y)  # BUG sorted_before_split: the records sorted by yield, the top 600 validate
        else:
            order = rng.permutation(len(y))
        x, y = x[order], y[order]
        tr, va = slice(0, N_TRAIN), slice(N_TRAIN, None)
        mu, sd = x[tr, :5].mean(0), x[tr, :5].std(0)
        x = np.concatenate([(x[:, :5] - mu) / sd, x[:, 5:]], 1)
        y = (y - y[tr].mean()) / y[tr].std()
        self.x_train, self.x_val = torch.tensor(x[tr], dtype=torch.float32), torch.tensor(x[va], dtype=torch.float32)
        self.y_train, self.y_val = torch.tensor(y[tr], dtype=torch.float32), torch.tensor(y[va], dtype=torch.float32)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = HarvestMLP(self.bug)
        bug = self.bug

        def loss(model, b):
            return gaussian_nll(model(b[0]), b[1], bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    o = model(xs)
                    mse = ((o[:, 0] - ys) ** 2).mean()
                    out[f"{split}/loss"] = gaussian_nll(o, ys).item()
                    out[f"{split}/mse"] = mse.item()
                    out[f"{split}/r2"] = (1 - mse / ys.var(unbiased=False).clamp(min=1e-8)).item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=0.5, forward=lambda model, b: model(b[0]),
                       targets=lambda b: b[1])
