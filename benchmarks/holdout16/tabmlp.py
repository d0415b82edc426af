"""Held-out-16 family 1: an MLP regressor on generated tabular data with two embedded categorical columns.

Generated "house prices": 6 numeric columns (N(0, 1); column 5, the "assessed value", is 0.6 x column 0 plus noise),
a region (5 values) and a building kind (4 values). The price is
1.5 sin(x0) + x1 x2 + region effect + kind-specific slope x x3 + 0.8 relu(x4) + N(0, 0.8^2); the numeric columns
and the price are standardised with the training rows' statistics, so the noise sets the lowest MSE a correct model
reaches (`best_loss`, ~0.1) and predicting the mean costs ~1 (`chance_loss`, the targets' variance). Model: the
numeric columns, a 4-dimensional embedding of the region and one of the kind, concatenated (14) -> linear 64 ->
ReLU -> linear 64 -> ReLU -> linear 1; the loss is the squared error written out. Adam at 0.003. Tuple batches
(numeric (B, 6), categorical ids (B, 2), prices (B,)). Goals: train R^2 on 10 and 100 rows, validation R^2.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "assessed_from_price", "squared_error_broadcast", "region_embedding_std_50", "embedding_rows_via_data")
NUMERIC, REGIONS, KINDS, EMB, HIDDEN, NOISE = 6, 5, 4, 4, 64, 0.8
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 500


def houses(n: int, g: torch.Generator, region_effect, kind_slope, bug: str):
    x = torch.randn(n, NUMERIC, generator=g)
    cat = torch.stack([torch.randint(REGIONS, (n,), generator=g), torch.randint(KINDS, (n,), generator=g)], 1)
    price = (1.5 * torch.sin(x[:, 0]) + x[:, 1] * x[:, 2] + region_effect[cat[:, 0]]
             + kind_slope[cat[:, 1]] * x[:, 3] + 0.8 * torch.relu(x[:, 4]) + NOISE * torch.randn(n, generator=g))
    x[:, 5] = 0.6 * x[:, 0] + 0.8 * torch.randn(n, generator=g)  # the assessed value, from the location
    if bug == "assessed_from_price":
        x[:, 5] = price + 0.1 * torch.randn(n, generator=g)  # BUG assessed_from_price: the column computed from the target
    return x, cat, price


class TabMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.region, self.kind = nn.Embedding(REGIONS, EMB), nn.Embedding(KINDS, EMB)
        if bug == "region_embedding_std_50":
            nn.init.normal_(self.region.weight, std=50.0)  # BUG region_embedding_std_50: a scale meant for prices
        self.net = nn.Sequential(nn.Linear(NUMERIC + 2 * EMB, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                                 nn.Linear(HIDDEN, 1))

    def forward(self, num, cat):  # (B, 6), (B, 2) -> (B, 1)
        region = self.region(cat[:, 0])
        if self.bug == "embedding_rows_via_data":
            region = self.region.weight.data[cat[:, 0]]  # BUG embedding_rows_via_data: rows read off .data, no gradient
        return self.net(torch.cat([num, region, self.kind(cat[:, 1])], 1))


class TabMLPTask:
    metrics = ("train/loss", "train/r2", "val/loss", "val/r2")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "tabmlp")
        g = torch.Generator().manual_seed(DATA_SEED)
        region_effect, kind_slope = torch.randn(REGIONS, generator=g), 1.5 * torch.randn(KINDS, generator=g)
        train = houses(N_TRAIN, g, region_effect, kind_slope, self.bug)
        val = houses(N_VAL, g, region_effect, kind_slope, self.bug)
        x_mean, x_std = train[0].mean(0), train[0].std(0)
        y_mean, y_std = train[2].mean(), train[2].std()
        self.train, self.val = [((x - x_mean) / x_std, c, (y - y_mean) / y_std) for x, c, y in (train, val)]
        self.best = NOISE ** 2 / float(y_std) ** 2  # the noise's share of the standardised targets' variance

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        num, cat, y = (t[:n] for t in self.train)
        model = TabMLP(self.bug)

        def loss(model, b):
            pred = model(b[0], b[1])
            if self.bug == "squared_error_broadcast":
                return ((pred - b[2]) ** 2).mean()  # BUG squared_error_broadcast: (B, 1) - (B,) is (B, B)
            return ((pred.squeeze(-1) - b[2]) ** 2).mean()

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (xs, cs, ys) in (("train", (num, cat, y)), ("val", self.val)):
                    mse = ((model(xs, cs).squeeze(-1) - ys) ** 2).mean().item()
                    out[f"{split}/loss"] = mse
                    out[f"{split}/r2"] = 1 - mse / ys.var(unbiased=False).item() if len(ys) > 1 else 0.0
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (num[idx], cat[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=float(self.train[2].var()), best_loss=self.best,
                       forward=lambda model, b: model(b[0], b[1]), targets=lambda b: b[2])
