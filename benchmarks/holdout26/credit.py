"""Held-out-26 family 1: an MLP grading the credit risk of a loan applicant (low / medium / high).

Six inputs in their natural units: yearly income (k$, log-normal around 55), age (18..80 years), outstanding debt
(k$, 0..120), credit-card utilisation (0..1), years employed (0..min(40, age - 18)) and late payments in the last two
years (Poisson, mean 1.2). A hidden score s = 2.5 debt / income + 2 utilisation + 0.35 late - 0.04 years employed
- 0.01 age gives the grade by its training terciles (0 low, 1 medium, 2 high), without noise. Torch seed 0: 3000
training and 1000 validation applicants; the features are standardised with the training applicants' mean and std
per column. Model: Linear(6, 64) - BatchNorm1d - ReLU - Linear(64, 64) - ReLU - Linear(64, 3), the logits divided by a
learnt temperature (initialised at 1); it returns (logits, hidden features) (the features feed a nearest-neighbour
explanation tool, not used here). Cross-entropy; Adam at 0.003. Tuple batches (features (B, 6), grade (B,)).
Metrics: loss and accuracy on the stage's applicants (at most 500) and on validation. Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size

from orchestrator.task import Problem

BUGS = ("none", "val_columns_swapped", "global_std_scaling", "temperature_zero_init", "outputs_unpacked_swapped",
        "bn_no_running_stats")
N_TRAIN, N_VAL, HIDDEN = 3000, 1000, 64
INCOME, AGE, DEBT, UTIL, YEARS, LATE = range(6)


def applicants(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    income = 55 * torch.exp(0.5 * torch.randn(n, generator=g))
    age = 18 + 62 * torch.rand(n, generator=g)
    debt = 120 * torch.rand(n, generator=g) ** 2
    util = torch.rand(n, generator=g)
    years = torch.rand(n, generator=g) * torch.clamp(age - 18, max=40)
    late = torch.poisson(torch.full((n,), 1.2), generator=g)
    x = torch.stack([income, age, debt, util, years, late], 1)
    score = 2.5 * debt / income + 2 * util + 0.35 * late - 0.04 * years - 0.01 * age
    return x, score


class CreditMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.fc1 = nn.Linear(6, HIDDEN)
        if bug == "bn_no_running_stats":
            self.bn = nn.BatchNorm1d(HIDDEN, track_running_stats=False)  # noqa: E501  BUG bn_no_running_stats: batch statistics in evaluation too
        else:
            self.bn = nn.BatchNorm1d(HIDDEN)
        self.fc2, self.head = nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, 3)
        if bug == "temperature_zero_init":
            self.temperature = nn.Parameter(torch.zeros(1))  # BUG temperature_zero_init: zeros for ones
        else:
            self.temperature = nn.Parameter(torch.ones(1))

    def forward(self, x):  # (B, 6) -> (B, 3) logits, (B, HIDDEN) features
        h = F.relu(self.fc2(F.relu(self.bn(self.fc1(x)))))
        return self.head(h) / self.temperature, h


class CreditTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "credit")
        g = torch.Generator().manual_seed(0)
        x_train, s_train = applicants(N_TRAIN, g)
        x_val, s_val = applicants(N_VAL, g)
        cuts = torch.quantile(s_train, torch.tensor([1 / 3, 2 / 3]))
        self.y_train, self.y_val = torch.bucketize(s_train, cuts), torch.bucketize(s_val, cuts)
        if self.bug == "val_columns_swapped":
            x_val = x_val[:, [DEBT, AGE, INCOME, UTIL, YEARS, LATE]]  # noqa: E501  BUG val_columns_swapped: the validation table's columns in another order (debt first)
        mean = x_train.mean(0)
        if self.bug == "global_std_scaling":
            std = x_train.std()  # BUG global_std_scaling: one std over the whole table, not per column
        else:
            std = x_train.std(0)
        self.x_train, self.x_val = (x_train - mean) / std, (x_val - mean) / std

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = CreditMLP(self.bug)

        def loss(model, b):
            if self.bug == "outputs_unpacked_swapped":
                features, logits = model(b[0])  # BUG outputs_unpacked_swapped: (logits, features) unpacked reversed
            else:
                logits, features = model(b[0])
            return F.cross_entropy(logits, b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)[0]
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(3),
                       forward=lambda model, b: model(b[0])[0], targets=lambda b: b[1])
