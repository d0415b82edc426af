"""Held-out-14 family 3: a residual MLP regressing a standardised target from 16 generated tabular features.

15 correlated Gaussian features plus a visit count (Poisson with a log-rate from two of them; zero in nearly
half of the rows), fed as log1p(count); all 16 standardised with the training rows' statistics. The target is a
positive amount, exp(6 + 0.6 f), f = sin(2 x0) + x1 x2 + relu(x3 - x4) + 0.5 tanh(3 x5) + 0.3 x6^2 + 0.4
log1p(count) + Gaussian noise (std 0.2), regressed as its log, standardised. Model: linear 16 -> 64 (stem), three
pre-LN residual blocks h + Dropout(0.1)(W2 GELU(W1 LayerNorm(h))) (64 -> 128 -> 64), LayerNorm, linear 64 -> 1;
MSE. AdamW at LR 0.003. Tuple batches (features (B, 16), target (B,)).
Goal: validation R^2 (1 - MSE / the target's variance).
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "amount_not_logged", "log_of_counts", "stem_left_frozen")
FEATURES, WIDTH, BLOCKS, NOISE = 16, 64, 3, 0.2
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 500


def table(n: int, g: torch.Generator, mix: torch.Tensor):
    z = torch.randn(n, FEATURES - 1, generator=g) @ mix
    count = torch.poisson(torch.exp(0.8 * z[:, 7] + 0.5 * z[:, 8] - 0.3), generator=g)
    f = (torch.sin(2 * z[:, 0]) + z[:, 1] * z[:, 2] + F.relu(z[:, 3] - z[:, 4]) + 0.5 * torch.tanh(3 * z[:, 5])
         + 0.3 * z[:, 6] ** 2 + 0.4 * torch.log1p(count) + NOISE * torch.randn(n, generator=g))
    return z, count, torch.exp(6 + 0.6 * f)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm, self.w1, self.w2 = nn.LayerNorm(WIDTH), nn.Linear(WIDTH, 2 * WIDTH), nn.Linear(2 * WIDTH, WIDTH)
        self.drop = nn.Dropout(0.1)

    def forward(self, h):
        return h + self.drop(self.w2(F.gelu(self.w1(self.norm(h)))))


class ResMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.stem = nn.Linear(FEATURES, WIDTH)
        self.blocks = nn.Sequential(*(Block() for _ in range(BLOCKS)))
        self.norm, self.head = nn.LayerNorm(WIDTH), nn.Linear(WIDTH, 1)
        if bug == "stem_left_frozen":
            self.stem.requires_grad_(False)  # BUG stem_left_frozen: left over from a linear-probe experiment

    def forward(self, x):  # (B, 16) -> (B,)
        return self.head(self.norm(self.blocks(self.stem(x)))).squeeze(-1)


def r2(pred, y) -> float:
    return 1 - F.mse_loss(pred, y).item() / y.var().item()


class ResMLPTask:
    metrics = ("train/loss", "train/r2", "val/loss", "val/r2")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "resmlp")
        g = torch.Generator().manual_seed(DATA_SEED)
        mix = torch.eye(FEATURES - 1) + 0.3 * torch.randn(FEATURES - 1, FEATURES - 1, generator=g)
        mix = mix / mix.norm(dim=0, keepdim=True)
        sets = []
        for n in (N_TRAIN, N_VAL):
            z, count, amount = table(n, g, mix)
            visits = torch.log1p(count)
            if self.bug == "log_of_counts":
                visits = torch.log(count)  # BUG log_of_counts: the skewed count logged as is; a third are 0
            target = torch.log(amount)
            if self.bug == "amount_not_logged":
                target = amount  # BUG amount_not_logged: the raw amount (hundreds to thousands) regressed
            sets.append((torch.cat([z, visits[:, None]], 1), target))
        (x, y), (vx, vy) = sets
        mean, std = x.mean(0), x.std(0)
        y_mean, y_std = (0.0, 1.0) if self.bug == "amount_not_logged" else (y.mean(), y.std())
        self.train = ((x - mean) / std, (y - y_mean) / y_std)
        self.val = ((vx - mean) / std, (vy - y_mean) / y_std)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = ResMLP(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (xs, ys) in (("train", (x, y)), ("val", self.val)):
                    pred = model(xs)
                    out[f"{split}/loss"] = F.mse_loss(pred, ys).item()
                    out[f"{split}/r2"] = r2(pred, ys)
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                       loss=lambda model, b: F.mse_loss(model(b[0]), b[1]), evaluate=evaluate,
                       chance_loss=1.0, forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
