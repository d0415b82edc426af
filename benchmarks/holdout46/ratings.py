"""Held-out-46 family 1: an ordinal MLP (a CORAL-style head: one score, five learnt cut points) rating a product
0..5 stars from eight tabular features, over dataclass batches.

A product: eight features N(0, 1) (price, weight, ... standardised); a latent quality
q = 1.2 x0 - 0.8 x1 + 0.9 tanh(2 x4) + 0.5 x5² - 0.5 + 0.3 x7 plus noise N(0, 0.05²) (x2, x3, x6 unused);
the rating is the number of the cut points (-2.0, -0.9, 0.0, 0.9, 2.0) that q exceeds (6 classes). NumPy seed 0 draws
3000 training and 600 validation products. Model: Linear(8, 64) - ReLU - Linear(64, 64) - ReLU - Linear(64, 1) (the
score, no bias) plus five learnt biases: logit_k = score + b_k, P(rating > k) = sigmoid(logit_k). Loss: binary
cross-entropy with logits against the cumulative targets [rating > k], mean over the five; Adam at 0.01. Dataclass
batches Reviews(features (B, 8), stars (B,)). Prediction: the count of logits above 0. Metrics: loss, exact accuracy and
mean absolute error in stars on the stage's first 500 products and on validation. Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "cumulative_ge", "sigmoid_then_bce_logits", "zero_init_hidden", "relu_after_head")
N_TRAIN, N_VAL, FEATURES, CUTS = 3000, 600, 8, 5
THRESHOLDS = np.array([-2.0, -0.9, 0.0, 0.9, 2.0])


@dataclass
class Reviews:
    features: torch.Tensor  # (B, 8) float
    stars: torch.Tensor     # (B,) int 0..5


def draw(n: int, rng: np.random.Generator):
    x = rng.normal(0, 1, (n, FEATURES))
    q = (1.2 * x[:, 0] - 0.8 * x[:, 1] + 0.9 * np.tanh(2 * x[:, 4]) + 0.5 * x[:, 5] ** 2 - 0.5 + 0.3 * x[:, 7]
         + rng.normal(0, 0.05, n))
    return x, (q[:, None] > THRESHOLDS).sum(1)


class OrdinalMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        layers = [nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1, bias=False)]
        if bug == "relu_after_head":
            layers.append(nn.ReLU())  # BUG relu_after_head: a ReLU after every Linear, the score's too: it is never negative
        self.net = nn.Sequential(*layers)
        self.cuts = nn.Parameter(torch.zeros(CUTS))
        if bug == "zero_init_hidden":
            [nn.init.zeros_(p) for m in (self.net[0], self.net[2]) for p in m.parameters()]  # BUG zero_init_hidden: "zero init is safe": every hidden unit 0, ReLU's slope 0

    def forward(self, x):  # (B, 8) -> (B, 5) cumulative logits
        return self.net(x) + self.cuts


def cumulative(stars: torch.Tensor, bug: str = "none") -> torch.Tensor:
    k = torch.arange(CUTS, device=stars.device)
    if bug == "cumulative_ge":
        return (stars[:, None] >= k).float()  # BUG cumulative_ge: [rating >= k] where [rating > k] was meant
    return (stars[:, None] > k).float()


def ordinal_loss(logits: torch.Tensor, stars: torch.Tensor, bug: str = "none") -> torch.Tensor:
    t = cumulative(stars, bug)
    if bug == "sigmoid_then_bce_logits":
        return F.binary_cross_entropy_with_logits(torch.sigmoid(logits), t)  # BUG sigmoid_then_bce_logits: the loss applies its own sigmoid
    return F.binary_cross_entropy_with_logits(logits, t)


class RatingsTask:
    metrics = ("train/loss", "train/acc", "train/mae", "val/loss", "val/acc", "val/mae")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "ratings")
        rng = np.random.default_rng(0)
        x, y = draw(N_TRAIN + N_VAL, rng)
        x = torch.tensor(x, dtype=torch.float32)
        y = torch.tensor(y, dtype=torch.long)
        self.x_train, self.y_train, self.x_val, self.y_val = x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = OrdinalMLP(self.bug)
        bug = self.bug

        def loss(model, b):
            return ordinal_loss(model(b.features), b.stars, bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    pred = (logits > 0).sum(1)
                    out[f"{split}/loss"] = ordinal_loss(logits, ys).item()
                    out[f"{split}/acc"] = (pred == ys).float().mean().item()
                    out[f"{split}/mae"] = (pred - ys).abs().float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: Reviews(x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(2), forward=lambda model, b: model(b.features),
                       targets=lambda b: b.stars)
