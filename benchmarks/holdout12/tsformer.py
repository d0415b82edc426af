"""Held-out-12 family 4: a decoder-only Transformer predicting the next value of noisy AR(2) series.

Each series: x_t = a1 x_{t-1} + a2 x_{t-2} + e_t, e_t ~ N(0, 1), with its own coefficients from a complex pair of
roots (radius 0.75..0.95, angle 0.3..1.2 rad), 49 steps after a burn-in of 100, all divided by one global scale (the
training series' std). Model: a linear projection of each step's value (1 -> 32) plus learned positions, an
nn.TransformerEncoder (2 layers, 4 heads, feed-forward 64, no dropout) under a causal mask, a linear output 32 -> 1;
the model reads steps 0..47 and predicts steps 1..48 at every position; MSE. Tuple batches (inputs (B, 48),
targets (B, 48)). Goal: validation MSE at the positions from WARMUP (8) on, where the coefficients can be read from
the context; the noise alone (`best_loss`) is the floor a correct model cannot beat.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mask_blocks_past", "targets_unshifted", "output_not_squeezed")
STEPS, BURN, WARMUP, D, HEADS = 48, 100, 8, 32, 4
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 500


def ar2(n: int, g: torch.Generator) -> torch.Tensor:
    r = 0.75 + 0.2 * torch.rand(n, generator=g)
    theta = 0.3 + 0.9 * torch.rand(n, generator=g)
    a1, a2 = 2 * r * torch.cos(theta), -r ** 2
    e = torch.randn(n, BURN + STEPS + 1, generator=g)
    x = torch.zeros(n, BURN + STEPS + 1)
    for t in range(2, BURN + STEPS + 1):
        x[:, t] = a1 * x[:, t - 1] + a2 * x[:, t - 2] + e[:, t]
    return x[:, BURN:]  # (n, 49)


def shifted(series: torch.Tensor, bug: str):
    x, y = series[:, :-1], series[:, 1:]
    if bug == "targets_unshifted":
        y = series[:, :-1]  # BUG targets_unshifted: sliced like the inputs
    return x, y


class CausalTSFormer(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.inp = nn.Linear(1, D)
        self.pos = nn.Embedding(STEPS, D)
        nn.init.normal_(self.pos.weight, std=0.1)
        layer = nn.TransformerEncoderLayer(D, HEADS, 2 * D, dropout=0.0, batch_first=True)
        self.body = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.out = nn.Linear(D, 1)

    def forward(self, x):  # (B, T) -> (B, T)
        t = x.shape[1]
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), 1)  # True: may not attend
        if self.bug == "mask_blocks_past":
            mask = torch.tril(torch.ones(t, t, dtype=torch.bool, device=x.device), -1)  # BUG mask_blocks_past
        h = self.body(self.inp(x.unsqueeze(-1)) + self.pos(torch.arange(t, device=x.device)), mask=mask)
        if self.bug == "output_not_squeezed":
            return self.out(h)  # BUG output_not_squeezed: (B, T, 1) against (B, T) targets
        return self.out(h).squeeze(-1)


class TSFormerTask:
    metrics = ("train/loss", "train/mse", "val/loss", "val/mse")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "tsformer")
        g = torch.Generator().manual_seed(DATA_SEED)
        train, val = ar2(N_TRAIN, g), ar2(N_VAL, g)
        scale = train.std()
        self.best = 1 / scale.item() ** 2  # the innovation's variance after scaling: unpredictable
        self.train, self.val = shifted(train / scale, bug), shifted(val / scale, bug)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = CausalTSFormer(self.bug)

        def evaluate(model):
            with evaluating(model):
                vx, vy = self.val
                train_mse = F.mse_loss(model(x)[:, WARMUP:], y[:, WARMUP:]).item()
                val_mse = F.mse_loss(model(vx)[:, WARMUP:], vy[:, WARMUP:]).item()
            return {"train/loss": train_mse, "train/mse": train_mse, "val/loss": val_mse, "val/mse": val_mse}

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                       loss=lambda model, b: F.mse_loss(model(b[0]), b[1]), evaluate=evaluate,
                       chance_loss=self.train[1].var().item(), best_loss=self.best,
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
