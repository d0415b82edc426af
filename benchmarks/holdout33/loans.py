"""Held-out-33 family 1: a tabular MLP with categorical embeddings sorting loan applications into three classes
(approve, review, decline) from a region and a product (category ids) and four numbers.

Region one of 8, product one of 5, income lognormal(10.8, 0.4) dollars, age U(21, 70) years, debt ratio U(0, 1),
years at the address 0..29. The class is a fixed rule: a score (a per-region and a per-product offset, + 1.5
z(log income) - 1.5 z(debt) + 0.6 z(age) z(years), z with fixed constants) cut at the training scores' terciles.
NumPy seed 0 draws 3000 training and 1000 validation applications; the four numbers standardised with the training
statistics. Model: Embedding(8, 4) and Embedding(5, 4) beside the numbers -> Linear(12, 64) - ReLU - Linear(64, 64) -
ReLU - Linear(64, 3). Cross-entropy; Adam at 0.003. Tuple batches (category ids (B, 2), numbers (B, 4), class (B,)).
Metrics: loss and accuracy on the stage's applications (at most 1000) and on validation; extras y_val. Each bug is
one line, marked `# BUG <name>`.
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

BUGS = ("none", "income_in_dollars", "categories_shuffled", "ignore_index_zero", "out_bias_10")
N_TRAIN, N_VAL, REGIONS, PRODUCTS, CLASSES = 3000, 1000, 8, 5, 3
REGION_OFFSET = np.array([-1.6, -1.1, -0.6, -0.2, 0.2, 0.7, 1.1, 1.6])
PRODUCT_OFFSET = np.array([-1.0, -0.4, 0.1, 0.5, 1.0])


def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    region, product = rng.integers(0, REGIONS, n), rng.integers(0, PRODUCTS, n)
    income, age = rng.lognormal(10.8, 0.4, n), rng.uniform(21, 70, n)
    debt, years = rng.uniform(0, 1, n), rng.integers(0, 30, n).astype(float)
    score = (REGION_OFFSET[region] + PRODUCT_OFFSET[product] + 1.5 * (np.log(income) - 10.8) / 0.4
             - 1.5 * (debt - 0.5) / 0.29 + 0.6 * (age - 45.5) / 14.1 * (years - 14.5) / 8.7)
    return np.stack([region, product], 1), np.stack([income, age, debt, years], 1), score


class LoanMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.region, self.product = nn.Embedding(REGIONS, 4), nn.Embedding(PRODUCTS, 4)
        self.fc1, self.fc2, self.out = nn.Linear(12, 64), nn.Linear(64, 64), nn.Linear(64, CLASSES)
        if bug == "out_bias_10":
            with torch.no_grad():
                self.out.bias.copy_(torch.tensor([10.0, 0.0, 0.0]))  # BUG out_bias_10: a prior of +10 on class 0

    def forward(self, cats, nums):
        h = torch.cat([self.region(cats[:, 0]), self.product(cats[:, 1]), nums], -1)
        return self.out(F.relu(self.fc2(F.relu(self.fc1(h)))))


class LoansTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "loans")
        rng = np.random.default_rng(0)
        (ct, nt, st), (cv, nv, sv) = draw(N_TRAIN, rng), draw(N_VAL, rng)
        cuts = np.quantile(st, [1 / 3, 2 / 3])
        yt, yv = np.digitize(st, cuts), np.digitize(sv, cuts)
        mean, std = nt.mean(0), nt.std(0)
        if self.bug == "income_in_dollars":
            mean[0], std[0] = 0.0, 1.0  # BUG income_in_dollars: income left in dollars, the others standardised
        nt, nv = (nt - mean) / std, (nv - mean) / std
        if self.bug == "categories_shuffled":
            ct = ct[rng.permutation(N_TRAIN)]  # BUG categories_shuffled: the training category ids apart from their rows
        self.c_train, self.n_train = torch.tensor(ct), torch.tensor(nt, dtype=torch.float32)
        self.c_val, self.n_val = torch.tensor(cv), torch.tensor(nv, dtype=torch.float32)
        self.y_train, self.y_val = torch.tensor(yt), torch.tensor(yv)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        c, x, y = self.c_train[:n], self.n_train[:n], self.y_train[:n]
        model = LoanMLP(self.bug)

        def loss(model, b):
            if self.bug == "ignore_index_zero":
                return F.cross_entropy(model(b[0], b[1]), b[2], ignore_index=0)  # BUG ignore_index_zero: class 0 never scored
            return F.cross_entropy(model(b[0], b[1]), b[2])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, cs, xs, ys in (("train", c[:1000], x[:1000], y[:1000]),
                                          ("val", self.c_val, self.n_val, self.y_val)):
                    cs, xs, ys = on_device_of(model, cs), on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(cs, xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (c[idx], x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(CLASSES), extras={"y_val": self.y_val},
                       forward=lambda model, b: model(b[0], b[1]), targets=lambda b: b[2])
