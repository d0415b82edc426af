"""Held-out family 1: an MLP with LayerNorm and Dropout on three generated, interleaved spirals.

Four features per point: x, y, the radius (a derived feature) and a constant "sensor" column (a real
dataset often has a column that never varies). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import CLASSIFIER_METRICS, check_bug, classifier_problem, subset_size
from orchestrator.task import Problem

BUGS = ("none", "labels_sorted", "radius_in_mm", "std_zero_column", "ce_on_probs", "zero_init_first")
CLASSES = 3


def spirals(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n points on three noisy spiral arms: features (x, y, r, 1.0) and the arm index."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, CLASSES, (n,), generator=g)
    t = torch.rand(n, generator=g)
    theta = 7.0 * t + y * (2 * math.pi / CLASSES) + 0.25 * torch.randn(n, generator=g)
    r = 0.1 + t
    x = torch.stack([r * theta.cos(), r * theta.sin(), r, torch.ones(n)], 1)
    return x, y


class MLP2Task:
    metrics = CLASSIFIER_METRICS

    def __init__(self, bug: str = "none", n_train: int = 1500, n_val: int = 500, hidden: int = 96):
        self.bug = check_bug(bug, BUGS, "mlp2")
        x, y = spirals(n_train + n_val, seed=0)
        if bug == "radius_in_mm":
            x[:, 2] = x[:, 2] * 1000  # BUG radius_in_mm: one feature left in other units (1000x the rest)
        if bug == "labels_sorted":
            y = y.sort().values  # BUG labels_sorted: labels sorted "for a nicer plot", the points not
        scale = x[:2 * n_train // 3].std(0)
        if bug == "std_zero_column":
            x = (x - x.mean(0)) / scale  # BUG std_zero_column: the constant column's std is 0 -> NaN
        elif bug != "radius_in_mm":
            x = (x - x.mean(0)) / (scale + 1e-6)  # standardised; eps: the constant column has std 0
        self.x_train, self.y_train = x[:n_train], y[:n_train]
        self.x_val, self.y_val = x[n_train:], y[n_train:]
        self.hidden = hidden

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        first = nn.Linear(self.x_train.shape[1], self.hidden)
        if self.bug == "zero_init_first":
            nn.init.zeros_(first.weight), nn.init.zeros_(first.bias)  # BUG zero_init_first: "a clean start"
        model = nn.Sequential(first, nn.LayerNorm(self.hidden), nn.ReLU(), nn.Dropout(0.1),
                              nn.Linear(self.hidden, self.hidden), nn.ReLU(), nn.Linear(self.hidden, CLASSES))

        def loss_fn(logits, y):
            if self.bug == "ce_on_probs":
                return F.cross_entropy(logits.softmax(-1), y)  # BUG ce_on_probs: cross_entropy of probabilities
            return F.cross_entropy(logits, y)

        problem = classifier_problem(model, self.x_train[:n], self.y_train[:n], self.x_val, self.y_val, CLASSES,
                                     loss_fn)
        problem.extras["y_val"] = self.y_val
        return problem
