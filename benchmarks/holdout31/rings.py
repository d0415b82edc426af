"""Held-out-31 family 1: an MLP naming which of four concentric rings a noisy 3-D point lies in, from the point and
two distractor features.

Each point: a direction uniform on the sphere, a radius uniform in [0.5, 4.5]; ring k = floor(radius - 0.5), edges
1.5, 2.5, 3.5 (np.digitize); the point is the direction times the radius plus N(0, 0.03²); two extra N(0, 1)
features that carry nothing. NumPy seed 0 draws 3000 training and 1000 validation points, all five features
standardised with the training statistics. Model: Linear(5, 128) - ReLU - Linear(128, 128) - ReLU - Linear(128, 4).
Cross-entropy; Adam at 0.003. Tuple batches (features (B, 5), ring (B,)). Metrics: loss and
accuracy on the stage's points (at most 1000) and on validation; extras y_val. Each bug is one line, marked
`# BUG <name>`.
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

BUGS = ("none", "edges_in_percent", "nll_of_negated", "weights_constant", "batch_restandardised")
N_TRAIN, N_VAL, CLASSES, FEATURES = 3000, 1000, 4, 5
EDGES = np.array([1.5, 2.5, 3.5])


def draw(n: int, rng: np.random.Generator, bug: str) -> tuple[np.ndarray, np.ndarray]:
    d = rng.normal(0, 1, (n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    r = rng.uniform(0.5, 4.5, n)
    if bug == "edges_in_percent":
        ring = np.digitize(r, EDGES * 100)  # BUG edges_in_percent: edges scaled x100, every radius below the first
    else:
        ring = np.digitize(r, EDGES)
    xyz = d * r[:, None] + rng.normal(0, 0.03, (n, 3))
    return np.concatenate([xyz, rng.normal(0, 1, (n, FEATURES - 3))], 1), ring


class RingsMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.fc1, self.fc2, self.out = nn.Linear(FEATURES, 128), nn.Linear(128, 128), nn.Linear(128, CLASSES)
        if bug == "weights_constant":
            for p in self.parameters():
                nn.init.constant_(p, 0.02)  # BUG weights_constant: every weight and bias set to 0.02

    def forward(self, x):
        if self.bug == "batch_restandardised":
            x = (x - x.mean(0)) / (x.std(0) + 1e-5)  # BUG batch_restandardised: standardised again over the batch
        return self.out(F.relu(self.fc2(F.relu(self.fc1(x)))))


class RingsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "rings")
        rng = np.random.default_rng(0)
        (xt, yt), (xv, yv) = draw(N_TRAIN, rng, self.bug), draw(N_VAL, rng, self.bug)
        mean, std = xt.mean(0), xt.std(0)
        xt, xv = (xt - mean) / std, (xv - mean) / std
        self.x_train, self.y_train = torch.tensor(xt, dtype=torch.float32), torch.tensor(yt)
        self.x_val, self.y_val = torch.tensor(xv, dtype=torch.float32), torch.tensor(yv)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = RingsMLP(self.bug)

        def loss(model, b):
            if self.bug == "nll_of_negated":
                return F.nll_loss(-F.log_softmax(model(b[0]), -1), b[1])  # BUG nll_of_negated: the sign twice
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
                       evaluate=evaluate, chance_loss=math.log(CLASSES), extras={"y_val": self.y_val},
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
