"""Held-out-30 family 1: an MLP naming the arm of a three-armed spiral a noisy 2-D point lies on, from the point and
four distractor features.

Each point: arm k in {0, 1, 2}, t uniform in [0.15, 1]; (x, y) = 2 t (cos, sin)(2.5 t + 2 pi k / 3) + N(0, 0.05²);
four extra features N(0, 1) that carry nothing. NumPy seed 0 draws 3000 training and 1000 validation points; all six
features standardised with the training statistics. Model: Linear(6, 128) - ReLU - Dropout(0.1) - Linear(128, 128) -
ReLU - Linear(128, 3). Cross-entropy; Adam at 0.01. Tuple batches (features (B, 6), arm (B,)). Metrics: loss and
accuracy on the stage's points (at most 1000) and on validation. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "train_labels_rolled", "nll_on_logits", "first_layer_std30", "dropout_in_eval")
N_TRAIN, N_VAL, CLASSES, FEATURES = 3000, 1000, 3, 6


def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    arm = rng.integers(0, CLASSES, n)
    t = rng.uniform(0.15, 1.0, n)
    angle = 2.5 * t + 2 * math.pi * arm / CLASSES
    xy = 2 * t[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1) + rng.normal(0, 0.05, (n, 2))
    return np.concatenate([xy, rng.normal(0, 1, (n, FEATURES - 2))], 1), arm


class SpiralMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.fc1, self.fc2, self.out = nn.Linear(FEATURES, 128), nn.Linear(128, 128), nn.Linear(128, CLASSES)
        if bug == "first_layer_std30":
            nn.init.normal_(self.fc1.weight, std=30.0)  # BUG first_layer_std30: the first layer drawn with std 30
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        if self.bug == "dropout_in_eval":
            h = F.dropout(h, 0.1)  # BUG dropout_in_eval: F.dropout's training defaults to True, also in eval
        else:
            h = self.drop(h)
        return self.out(F.relu(self.fc2(h)))


class SpiralTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "spiral")
        rng = np.random.default_rng(0)
        (xt, yt), (xv, yv) = draw(N_TRAIN, rng), draw(N_VAL, rng)
        mean, std = xt.mean(0), xt.std(0)
        xt, xv = (xt - mean) / std, (xv - mean) / std
        if self.bug == "train_labels_rolled":
            yt = np.roll(yt, 1)  # BUG train_labels_rolled: each training point gets the previous point's arm
        self.x_train, self.y_train = torch.tensor(xt, dtype=torch.float32), torch.tensor(yt)
        self.x_val, self.y_val = torch.tensor(xv, dtype=torch.float32), torch.tensor(yv)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = SpiralMLP(self.bug)

        def loss(model, b):
            if self.bug == "nll_on_logits":
                return F.nll_loss(model(b[0]), b[1])  # BUG nll_on_logits: NLL of raw logits, no log_softmax
            return F.cross_entropy(model(b[0]), b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:1000], y[:1000]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(CLASSES),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
