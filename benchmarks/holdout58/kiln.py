"""Held-out-58 family 1: an MLP predicting whether a glaze crazes (cracks) in the kiln, from eight firing measurements
and the clay body (a category id through an embedding), binary cross-entropy on one logit, BatchNorm hidden layers,
plain SGD with weight decay, over plain 3-tuple batches (numbers, clay, crazed).

A firing: a clay body drawn uniformly from six (stoneware, porcelain, earthenware, raku, terracotta, ball clay), each
with its own thermal-expansion mismatch (NumPy seed 0, spread 1.8), best peak temperature and sensitivity to cooling;
eight measurements in workshop units: peak temperature (C), ramp rate (C/h), hold (min), cooling rate (C/h), glaze
thickness (mm), clay moisture (%), wall thickness (mm), kiln load (kg). The glaze crazes when a score of them (the
mismatch, the squared distance of the peak from the body's best, cooling x wall thickness, glaze thickness, moisture,
plus logistic noise of scale 0.15) is above 0. NumPy seed 1 draws 3000 training and 600 validation firings; the
measurements are standardised with the training split's mean and std. Batches: a plain tuple (numbers (B, 8) float,
clay (B,) long, crazed (B,) float 0/1). Model: Embedding(6, 4) beside the numbers, Linear(12, 64) - BatchNorm1d - ReLU
- Linear(64, 64) - BatchNorm1d - ReLU - Linear(64, 1), squeezed to a logit per firing. Loss:
F.binary_cross_entropy_with_logits; SGD (no momentum, weight decay 5e-4) at 0.1. Metrics: `loss` and `acc` (logit > 0)
on the stage's first 500 firings and on validation. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "clay_column_sorted", "label_index_stale", "bn_gain_zero", "normalize_over_batch")
N_TRAIN, N_VAL, FEATURES, CLAYS, EMB, HIDDEN = 3000, 600, 8, 6, 4, 64
UNIT_MEAN = np.array([1220.0, 150.0, 20.0, 110.0, 0.8, 2.0, 8.0, 40.0])
UNIT_SCALE = np.array([45.0, 40.0, 8.0, 35.0, 0.25, 0.8, 2.5, 12.0])


def draw(n: int):
    body = np.random.default_rng(0)
    mismatch, best_peak = body.normal(0, 1.8, CLAYS), body.normal(0, 0.8, CLAYS)
    cooling_sense = body.uniform(0.3, 1.5, CLAYS)
    rng = np.random.default_rng(1)
    clay = rng.integers(0, CLAYS, n)
    z = rng.normal(0, 1, (n, FEATURES))
    peak, ramp, hold, cool, glaze, moist, wall, load = z.T
    score = (mismatch[clay] + 0.9 * (peak - best_peak[clay]) ** 2 - 1.2 + cooling_sense[clay] * cool * (1 + 0.6 * wall)
             + 1.1 * glaze - 0.6 * moist + 0.3 * ramp - 0.2 * load)
    crazed = (score + rng.logistic(0, 0.15, n) > 0).astype(np.float32)
    return (UNIT_MEAN + UNIT_SCALE * z).astype(np.float32), clay, crazed


class GlazeMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.clay = nn.Embedding(CLAYS, EMB)
        self.l1, self.n1 = nn.Linear(FEATURES + EMB, HIDDEN), nn.BatchNorm1d(HIDDEN)
        self.l2, self.n2 = nn.Linear(HIDDEN, HIDDEN), nn.BatchNorm1d(HIDDEN)
        self.head = nn.Linear(HIDDEN, 1)
        if bug == "bn_gain_zero":
            [nn.init.zeros_(n.weight) for n in (self.n1, self.n2)]  # BUG bn_gain_zero: every BatchNorm's gain zero-initialised (the "zero-init the last BN of a residual block" trick, in a net without residuals)

    def forward(self, numbers, clay):  # (B, 8), (B,) -> (B,) logits
        if self.bug == "normalize_over_batch":
            numbers = F.normalize(numbers, dim=0)  # BUG normalize_over_batch: each feature vector "normalised" with dim=0, i.e. over the batch (dim=1 meant)
        h = torch.cat([numbers, self.clay(clay)], 1)
        h = F.relu(self.n1(self.l1(h)))
        h = F.relu(self.n2(self.l2(h)))
        return self.head(h).squeeze(-1)


def crazing_loss(model, batch, bug: str = "none"):
    numbers, clay, crazed = batch
    logits = model(numbers, clay)
    if bug == "label_index_stale":
        return F.binary_cross_entropy_with_logits(logits, batch[1].float())  # BUG label_index_stale: the label read as batch[1], its place before the clay column was added to the batch (now the clay id, 0..5)
    return F.binary_cross_entropy_with_logits(logits, crazed)


class KilnTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "kiln")
        raw, clay, crazed = draw(N_TRAIN + N_VAL)
        mean, std = raw[:N_TRAIN].mean(0), raw[:N_TRAIN].std(0)
        x = torch.tensor((raw - mean) / std)
        clay, y = torch.tensor(clay), torch.tensor(crazed)
        train_clay = clay[:N_TRAIN]
        if bug == "clay_column_sorted":
            train_clay = train_clay.sort().values  # BUG clay_column_sorted: the training split's clay column sorted on its own (a groupby's order) while its other columns keep theirs
        self.x_train, self.c_train, self.y_train = x[:N_TRAIN], train_clay, y[:N_TRAIN]
        self.x_val, self.c_val, self.y_val = x[N_TRAIN:], clay[N_TRAIN:], y[N_TRAIN:]
        p = float(self.y_train.mean())
        self.chance = -(p * math.log(p) + (1 - p) * math.log(1 - p))

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, c, y = self.x_train[:n], self.c_train[:n], self.y_train[:n]
        model = GlazeMLP(self.bug)
        bug = self.bug

        def evaluate(model):
            out = {}
            with evaluating(model):
                splits = (("train", x[:500], c[:500], y[:500]), ("val", self.x_val, self.c_val, self.y_val))
                for split, xs, cs, ys in splits:
                    xs, cs, ys = on_device_of(model, xs), on_device_of(model, cs), on_device_of(model, ys)
                    logits = model(xs, cs)
                    out[f"{split}/loss"] = F.binary_cross_entropy_with_logits(logits, ys).item()
                    out[f"{split}/acc"] = ((logits > 0).float() == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], c[idx], y[idx]),
                       loss=lambda model, b: crazing_loss(model, b, bug), evaluate=evaluate,
                       chance_loss=self.chance, forward=lambda model, b: model(b[0], b[1]), targets=lambda b: b[2])
