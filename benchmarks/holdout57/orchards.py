"""Held-out-57 family 1: an MLP naming an apple's cultivar (one of five) from nine orchard-lab measurements, trained
with a multi-class hinge loss (`F.multi_margin_loss`) under SGD with momentum, over namedtuple batches.

An apple: a cultivar drawn uniformly from the catalogue (Gala, Braeburn, Fuji, Cox, Elstar); its nine measurements
(weight g, diameter mm, height mm, skin hue deg, firmness kg, sugar brix, acidity %, stalk mm, russet %) are the
cultivar's profile (a z-score per feature, NumPy seed 0) plus unit noise, a shared size factor and a firmness-by-sugar
interaction, then put in lab units (each feature its own mean and scale). NumPy seed 1 draws 3000 training and 600
validation apples; features are standardised with the training split's mean and std. Labels: each split's cultivar
names encoded with the catalogue's order. Model: Linear(9, 64) - ReLU - Linear(64, 64) - ReLU - Linear(64, 5) scores.
Loss: F.multi_margin_loss(scores, cultivar) (margin 1); SGD (momentum 0.9) at 0.02. Namedtuple batches
Fruit(features (B, 9), cultivar (B,)). Metrics: `loss` (the hinge loss) and `acc` on the stage's first 500 apples and on
validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "val_labels_alphabetical", "class_counts_as_weights", "zero_init", "relu_on_scores")
Fruit = namedtuple("Fruit", "features cultivar")
CATALOGUE = ("Gala", "Braeburn", "Fuji", "Cox", "Elstar")
N_TRAIN, N_VAL, FEATURES, HIDDEN, CLASSES = 3000, 600, 9, 64, 5
UNIT_MEAN = np.array([180, 75, 68, 40, 7.5, 13, 0.6, 22, 12])
UNIT_SCALE = np.array([30, 6, 5, 25, 1.2, 1.5, 0.15, 5, 8])


def draw(n: int):
    profile = np.random.default_rng(0).normal(0, 2.2, (CLASSES, FEATURES))
    rng = np.random.default_rng(1)
    c = rng.integers(0, CLASSES, n)
    z = profile[c] + rng.normal(0, 1, (n, FEATURES))
    z[:, :3] += rng.normal(0, 0.7, (n, 1))             # size: weight, diameter and height together
    z[:, 5] += 0.4 * z[:, 4] * (c % 2 * 2 - 1)          # sugar follows firmness, one way or the other by cultivar
    names = np.array(CATALOGUE)[c]
    return UNIT_MEAN + UNIT_SCALE * z, names


class CultivarMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.l1, self.l2, self.head = nn.Linear(FEATURES, HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, CLASSES)
        if bug == "zero_init":
            [nn.init.zeros_(p) for p in self.parameters()]  # BUG zero_init: every weight and bias set to 0 ("a clean start")

    def forward(self, x):  # (B, 9) -> (B, 5) scores
        h = F.relu(self.l1(x))
        scores = self.head(F.relu(self.l2(h)))
        if self.bug == "relu_on_scores":
            return F.relu(scores)  # BUG relu_on_scores: the Sequential's trailing ReLU kept after the head
        return scores


def hinge(scores, y, counts=None, bug: str = "none"):
    if bug == "class_counts_as_weights":
        return F.multi_margin_loss(scores, y, weight=counts.to(scores.device))  # BUG class_counts_as_weights: the training split's class counts passed as the class weights, their inverse (balanced classes) meant
    return F.multi_margin_loss(scores, y)


class OrchardsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "orchards")
        raw, names = draw(N_TRAIN + N_VAL)
        mean, std = raw[:N_TRAIN].mean(0), raw[:N_TRAIN].std(0)
        x = torch.tensor((raw - mean) / std, dtype=torch.float32)
        order = {name: i for i, name in enumerate(CATALOGUE)}
        y_train = torch.tensor([order[s] for s in names[:N_TRAIN]])
        if bug == "val_labels_alphabetical":
            y_val = torch.tensor(np.unique(names[N_TRAIN:], return_inverse=True)[1])  # BUG val_labels_alphabetical: the validation labels encoded with np.unique (alphabetical), the training ones with the catalogue's order
        else:
            y_val = torch.tensor([order[s] for s in names[N_TRAIN:]])
        self.counts = torch.bincount(y_train, minlength=CLASSES).float()
        self.x_train, self.y_train, self.x_val, self.y_val = x[:N_TRAIN], y_train, x[N_TRAIN:], y_val.long()

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = CultivarMLP(self.bug)
        bug = self.bug

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    scores = model(xs)
                    out[f"{split}/loss"] = hinge(scores, ys).item()
                    out[f"{split}/acc"] = (scores.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: Fruit(x[idx], y[idx]),
                       loss=lambda model, b: hinge(model(b.features), b.cultivar, self.counts, bug), evaluate=evaluate,
                       chance_loss=(CLASSES - 1) / CLASSES, forward=lambda model, b: model(b.features),
                       targets=lambda b: b.cultivar)
