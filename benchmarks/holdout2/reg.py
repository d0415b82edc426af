"""Held-out-2 family 1: an MLP regression (GELU, one residual block, MSE) on a noise-free function of 4 inputs.

y = 3000 + 1000 (sin(2 x1) x2 + 0.5 x3^2 - 0.3 x4), with x uniform in [-2, 2]^4; the targets are standardised with the
training split's mean and std, so predicting the mean costs an MSE of about 1 (the chance loss). Each bug is
one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "shuffle_x_only", "target_thousands", "pred_broadcast")


def function_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 4, generator=g) * 4 - 2
    f = torch.sin(2 * x[:, 0]) * x[:, 1] + 0.5 * x[:, 2] ** 2 - 0.3 * x[:, 3]
    return x, 3000 + 1000 * f  # in the data's own unit ("dollars")


class Regressor(nn.Module):
    def __init__(self, inputs: int = 4, hidden: int = 64):
        super().__init__()
        self.inp = nn.Linear(inputs, hidden)
        self.res = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        h = F.gelu(self.inp(x))
        h = h + self.res(h)  # the residual block
        return self.out(F.gelu(h))  # (B, 1)


class RegTask:
    metrics = ("train/loss", "val/loss", "val/r2")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "reg")
        x, y = function_data(n_train + n_val, seed=0)
        dollars = y
        y = (y - y[:n_train].mean()) / y[:n_train].std()  # standardised with the training split's statistics
        if bug == "target_thousands":
            y = dollars  # BUG target_thousands: the standardised copy made, the raw dollars (~3000 +- 1000) used
        self.x_train, self.y_train = x[:n_train], y[:n_train]
        self.x_val, self.y_val = x[n_train:], y[n_train:]
        if bug == "shuffle_x_only":
            self.x_train = self.x_train[torch.randperm(n_train)]  # BUG shuffle_x_only: inputs shuffled, targets not

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        x_train, y_train = self.x_train[:n], self.y_train[:n]
        model = Regressor(x_train.shape[1])

        def forward(model, batch):
            return model(batch[0])

        def loss(model, batch):
            x, y = batch
            if self.bug == "pred_broadcast":
                return F.mse_loss(model(x), y)  # BUG pred_broadcast: (B, 1) against (B,) broadcasts to (B, B)
            return F.mse_loss(model(x).squeeze(-1), y)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, x, y in (("train", x_train, y_train), ("val", self.x_val, self.y_val)):
                    out[f"{split}/loss"] = F.mse_loss(model(x).squeeze(-1), y).item()
            out["val/r2"] = 1 - out["val/loss"] / self.y_val.var().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x_train[idx], y_train[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=float(self.y_train.var()), forward=forward,
                       targets=lambda batch: batch[1])
