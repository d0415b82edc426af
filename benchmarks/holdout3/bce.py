"""Held-out-3 family 1: a multi-label MLP (BatchNorm1d, BCEWithLogitsLoss) on 5 independent binary labels.

Features x ~ N(0, 1)^12; label j is 1 when a random projection of x, plus a product of two features, is
above its threshold, so each label is a smooth, non-linear function of x. Goals on per-label accuracy.
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

BUGS = ("none", "labels_other_split", "one_feature_huge", "batch_standardise", "hand_bce_log0")
FEATURES, LABELS = 12, 5


def multilabel_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n examples; the labelling rule (projections, thresholds) is fixed, only the draw depends on seed."""
    rule = torch.Generator().manual_seed(1234)
    proj = torch.randn(FEATURES, LABELS, generator=rule)
    pairs = torch.randint(0, FEATURES, (LABELS, 2), generator=rule)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)
    score = x @ proj / math.sqrt(FEATURES) + x[:, pairs[:, 0]] * x[:, pairs[:, 1]] * 0.7
    return x, (score > 0.2).float()


class MultiLabelMLP(nn.Module):
    def __init__(self, bug: str, hidden: int = 128):
        super().__init__()
        self.bug = bug
        self.net = nn.Sequential(nn.Linear(FEATURES, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, LABELS))

    def forward(self, x):
        if self.bug == "batch_standardise":
            x = (x - x.mean(0)) / (x.std(0) + 1e-5)  # BUG batch_standardise: "normalise the inputs" with batch stats
        return self.net(x)  # (B, LABELS) logits


class BCETask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "bce")
        self.x_train, self.y_train = multilabel_data(n_train, seed=0)
        self.x_val, self.y_val = multilabel_data(n_val, seed=1)
        if bug == "labels_other_split":
            self.y_train = multilabel_data(n_train, seed=2)[1]  # BUG labels_other_split: the test draw's labels
        if bug == "one_feature_huge":
            for x in (self.x_train, self.x_val):
                x[:, 3] *= 1000  # BUG one_feature_huge: feature 3 left in its raw unit (grams, not kg)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        x_train, y_train = self.x_train[:n], self.y_train[:n]
        model = MultiLabelMLP(self.bug)

        def forward(model, batch):
            return model(batch[0])

        def loss(model, batch):
            x, y = batch
            logits = model(x)
            if self.bug == "hand_bce_log0":
                p = torch.sigmoid(logits)
                return -(y * p.log() + (1 - y) * (1 - p).log()).mean()  # BUG hand_bce_log0: p == 1.0 -> log(0)
            return F.binary_cross_entropy_with_logits(logits, y)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, x, y in (("train", x_train, y_train), ("val", self.x_val, self.y_val)):
                    logits = model(x)
                    out[f"{split}/loss"] = F.binary_cross_entropy_with_logits(logits, y).item()
                    out[f"{split}/acc"] = ((logits > 0).float() == y).float().mean().item()  # per label
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x_train[idx], y_train[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(2), forward=forward, targets=lambda batch: batch[1])
