"""Held-out-18 family 1: an ordinal-regression MLP (cumulative logits with learned cut points) on generated data.

16 standard-normal features (8 informative, 8 noise); a latent score sin(2 x0) + x1 x2 + 0.5 x3^2 + x4
- 0.7 x5 x6 + tanh(2 x7) plus N(0, 0.1^2) noise is cut at the training rows' quintiles into 5 ordered classes
(4000 training, 400 validation rows; numpy seed 0). Model: linear 16 -> 128 - ReLU - 128 - ReLU - 1 (a score), an
init loop giving every Linear a Xavier-uniform weight and a zero bias, and 4 learned cut points (from
linspace(-1.5, 1.5)); the 4 cumulative logits are score - cut_k. Loss: binary cross-entropy with logits against
the cumulative targets [y > k] (k = 0..3). Predicted class: the number of positive logits. Adam at 0.003. Tuple
batches (features (B, 16), classes (B,)). Metrics: the cumulative BCE (`loss`), the exact-class accuracy (`acc`),
the mean absolute class error (`val/mae`). Goals: train accuracy on 10 and 100 rows, validation accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "cumulative_targets_ge", "val_labels_misaligned", "bce_by_hand", "constant_init_loop")
FEATURES, CLASSES, HIDDEN, N_TRAIN, N_VAL = 16, 5, 128, 4000, 400


def cumulative(y: torch.Tensor) -> torch.Tensor:
    """(B,) classes -> (B, CLASSES - 1) targets [y > k]."""
    return (y[:, None] > torch.arange(CLASSES - 1)).float()


class OrdinalMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.fc1, self.fc2, self.score = nn.Linear(FEATURES, HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, 1)
        self.cuts = nn.Parameter(torch.linspace(-1.5, 1.5, CLASSES - 1))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if bug == "constant_init_loop":
                    nn.init.constant_(m.weight, 0.05)  # BUG constant_init_loop: constant_ where xavier_uniform_ was meant
                nn.init.zeros_(m.bias)

    def forward(self, x):  # (B, 16) -> (B, 4) cumulative logits
        h = torch.relu(self.fc2(torch.relu(self.fc1(x))))
        return self.score(h) - self.cuts


def predict(logits: torch.Tensor) -> torch.Tensor:
    return (logits > 0).sum(1)


class OrdinalTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/mae")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "ordinal")
        rng = np.random.default_rng(0)
        x = rng.normal(size=(N_TRAIN + N_VAL, FEATURES))
        s = (np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 3] ** 2 + x[:, 4] - 0.7 * x[:, 5] * x[:, 6]
             + np.tanh(2 * x[:, 7]) + 0.1 * rng.normal(size=len(x)))
        y = np.digitize(s, np.quantile(s[:N_TRAIN], np.linspace(0, 1, CLASSES + 1)[1:-1]))
        x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long)
        self.x_train, self.y_train = x[:N_TRAIN], y[:N_TRAIN]
        self.x_val, self.y_val = x[N_TRAIN:], y[N_TRAIN:]
        if self.bug == "val_labels_misaligned":
            self.y_val = y[:N_VAL]  # BUG val_labels_misaligned: the validation labels sliced from the first rows, not the validation rows

    def loss_fn(self, logits, y):
        t = cumulative(y)
        if self.bug == "cumulative_targets_ge":
            t = (y[:, None] >= torch.arange(CLASSES - 1)).float()  # BUG cumulative_targets_ge: [y >= k] for [y > k]
        if self.bug == "bce_by_hand":
            p = torch.sigmoid(logits); return -(t * p.log() + (1 - t) * (1 - p).log()).mean()  # noqa: E702  BUG bce_by_hand: log(sigmoid) and log(1 - sigmoid) written out
        return F.binary_cross_entropy_with_logits(logits, t)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x_train, y_train = self.x_train[:n], self.y_train[:n]
        model = OrdinalMLP(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, x, y in (("train", x_train, y_train), ("val", self.x_val, self.y_val)):
                    logits = model(x)
                    pred = predict(logits)
                    out[f"{split}/loss"] = F.binary_cross_entropy_with_logits(logits, cumulative(y)).item()
                    out[f"{split}/acc"] = (pred == y).float().mean().item()
                    if split == "val":
                        out["val/mae"] = (pred - y).abs().float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x_train[idx], y_train[idx]),
                       loss=lambda model, b: self.loss_fn(model(b[0]), b[1]), evaluate=evaluate,
                       chance_loss=math.log(2), forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
