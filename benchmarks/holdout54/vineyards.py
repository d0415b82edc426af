"""Held-out-54 family 1: an MLP grading the ripeness of a vineyard block's grapes (four classes) from nine field and lab
measurements, under SGD with momentum and a label-smoothed cross-entropy, over namedtuple batches.

A block sample: sugar (Brix) ~ N(21, 3), titratable acidity (g/L) ~ N(7, 1.5), pH ~ N(3.4, 0.15), berry weight (g)
~ N(1.5, 0.3), days since veraison U(10, 60), growing degree days U(1000, 2000), last month's rain (mm) U(0, 150),
seed browning U(0, 1), skin anthocyanins (mg/g) ~ N(1, 0.3). A ripeness score = 0.9 z(Brix) - 0.7 z(acid) + 0.5
z(pH) + 0.5 z(days) + 0.6 z(browning) - 0.4 z(rain) z(weight) + 0.3 z(anthocyanin) tanh(z(GDD)) (z: the population's
standardisation), and the class is its quartile: unripe, veraison, ripe, overripe (cut points fixed on the population).
Features: the nine columns standardised with the training split's per-column mean and std. NumPy seed 0 draws 3000
training and 600 validation samples. Model: Linear(9, 64) - Tanh - Linear(64, 64) - Tanh - Linear(64, 4). Loss:
cross-entropy with label smoothing 0.05; SGD (momentum 0.9) at 0.05. Namedtuple batches Grapes(features (B, 9),
ripeness (B,)). Metrics: loss and accuracy on the stage's first 500 samples and on validation. Each bug is one line,
marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "standardised_over_all_columns", "loss_divided_by_batch", "uniform_default_init",
        "feature_major_reshape")
Grapes = namedtuple("Grapes", "features ripeness")
N_TRAIN, N_VAL, FEATURES, HIDDEN, CLASSES = 3000, 600, 9, 64, 4
MEAN = np.array([21, 7, 3.4, 1.5, 35, 1500, 75, 0.5, 1.0])
STD = np.array([3, 1.5, 0.15, 0.3, 50 / math.sqrt(12), 1000 / math.sqrt(12), 150 / math.sqrt(12), 1 / math.sqrt(12),
                0.3])


def draw(n: int, rng: np.random.Generator):
    raw = np.column_stack([rng.normal(21, 3, n), rng.normal(7, 1.5, n), rng.normal(3.4, 0.15, n),
                           rng.normal(1.5, 0.3, n), rng.uniform(10, 60, n), rng.uniform(1000, 2000, n),
                           rng.uniform(0, 150, n), rng.uniform(0, 1, n), rng.normal(1.0, 0.3, n)])
    z = (raw - MEAN) / STD
    score = (0.9 * z[:, 0] - 0.7 * z[:, 1] + 0.5 * z[:, 2] + 0.5 * z[:, 4] + 0.6 * z[:, 7] - 0.4 * z[:, 6] * z[:, 3]
             + 0.3 * z[:, 8] * np.tanh(z[:, 5]))
    cuts = np.array([-0.9, 0.0, 0.9])  # ~ the quartiles of the score (std ~1.35)
    return raw, np.searchsorted(cuts, score)


class GradeMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, HIDDEN), nn.Tanh(),
                                 nn.Linear(HIDDEN, CLASSES))
        if bug == "uniform_default_init":
            [nn.init.uniform_(m.weight) for m in self.net if isinstance(m, nn.Linear)]  # BUG uniform_default_init: uniform_ without bounds draws U(0, 1): every weight positive

    def forward(self, x):  # (B, 9) -> (B, 4) logits
        return self.net(x)


class VineyardsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "vineyards")
        rng = np.random.default_rng(0)
        raw, grade = draw(N_TRAIN + N_VAL, rng)
        if bug == "standardised_over_all_columns":
            mean, std = raw[:N_TRAIN].mean(), raw[:N_TRAIN].std()  # BUG standardised_over_all_columns: axis=0 forgotten, one mean and std for the whole table
        else:
            mean, std = raw[:N_TRAIN].mean(0), raw[:N_TRAIN].std(0)
        x = torch.tensor((raw - mean) / std, dtype=torch.float32)
        y = torch.tensor(grade, dtype=torch.long)
        self.x_train, self.y_train, self.x_val, self.y_val = x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        columns = x.t().contiguous()  # the table kept feature-major (9, n), as the loader hands it over
        model = GradeMLP(self.bug)
        bug = self.bug

        def get_batch(idx):
            if bug == "feature_major_reshape":
                return Grapes(columns[:, idx].reshape(-1, FEATURES), y[idx])  # BUG feature_major_reshape: reshape where .t() was meant: each row mixes the batch's samples
            return Grapes(columns[:, idx].t(), y[idx])

        def loss(model, b):
            value = F.cross_entropy(model(b.features), b.ripeness, label_smoothing=0.05)
            if bug == "loss_divided_by_batch":
                value = value / len(b.ripeness)  # BUG loss_divided_by_batch: the mean divided by the batch size again
            return value

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b.features),
                       targets=lambda b: b.ripeness, extras={"y_val": self.y_val})
