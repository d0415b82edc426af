"""Held-out-13 family 4: an MLP scorer trained with RankNet's pairwise logistic loss.

Each item has 10 correlated Gaussian features (standardised with the training items' statistics) and a hidden true
score s(x) = w . x + 0.8 sin(2 x0) + 0.5 x1 x2; a pair (a, b) is labelled 1 when a ranks higher (s(a) > s(b)), else 0.
Training pairs are drawn from 1000 training items, validation pairs from 500 other items. Model: a scorer MLP
10 -> 64 -> 64 -> 1 (ReLU) applied to both items; the pair's logit is SIGMA (2) x (score(a) - score(b));
BCEWithLogits on it.
Tuple batches (a (B, 10), b (B, 10), label (B,) float). Goal: validation pair-ordering accuracy.
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

BUGS = ("none", "price_in_cents", "hand_sigmoid_log", "swapped_without_flip")
FEATURES, HIDDEN, SIGMA = 10, 64, 2.0  # SIGMA: RankNet's sharpness of P(a above b)
DATA_SEED, N_ITEMS, N_VAL_ITEMS, N_TRAIN, N_VAL = 0, 1000, 500, 2000, 1000


def items(n: int, g: torch.Generator, mix: torch.Tensor):
    return torch.randn(n, FEATURES, generator=g) @ mix


def true_score(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return x @ w + 0.8 * torch.sin(2 * x[:, 0]) + 0.5 * x[:, 1] * x[:, 2]


def pairs(x: torch.Tensor, n: int, g: torch.Generator, w: torch.Tensor):
    i, j = torch.randint(len(x), (n,), generator=g), torch.randint(len(x), (n,), generator=g)
    s = true_score(x, w)
    return x[i], x[j], (s[i] > s[j]).float()


class RankNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.scorer = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                                    nn.Linear(HIDDEN, 1))

    def forward(self, a, b):  # -> the logit that a ranks above b, (B,): P = sigmoid(SIGMA (score(a) - score(b)))
        return SIGMA * (self.scorer(a) - self.scorer(b)).squeeze(-1)


def pair_loss(logit, y, bug: str):
    if bug == "hand_sigmoid_log":
        p = 1 / (1 + torch.exp(-logit))
        return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()  # BUG hand_sigmoid_log: p rounds to 1.0
    return F.binary_cross_entropy_with_logits(logit, y)


class RankNetTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "ranknet")
        g = torch.Generator().manual_seed(DATA_SEED)
        mix = torch.eye(FEATURES) + 0.3 * torch.randn(FEATURES, FEATURES, generator=g)
        w = torch.randn(FEATURES, generator=g)
        raw, raw_val = items(N_ITEMS, g, mix), items(N_VAL_ITEMS, g, mix)
        mean, std = raw.mean(0), raw.std(0)
        x, vx = (raw - mean) / std, (raw_val - mean) / std
        w = w / true_score(x, w).std()  # true scores of unit spread
        a, b, y = pairs(x, N_TRAIN, g, w)
        va, vb, vy = pairs(vx, N_VAL, g, w)
        if self.bug == "price_in_cents":
            a[:, 3], b[:, 3], va[:, 3], vb[:, 3] = (2000 + 500 * t[:, 3] for t in (a, b, va, vb))  # BUG price_in_cents
        if self.bug == "swapped_without_flip":
            swap = torch.rand(N_TRAIN, generator=g) < 0.5  # order augmentation: the pair's items swapped at random
            a, b = torch.where(swap[:, None], b, a), torch.where(swap[:, None], a, b)  # BUG swapped_without_flip
        self.train, self.val = (a, b, y), (va, vb, vy)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        a, b, y = (t[:n] for t in self.train)
        model = RankNet()

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (xa, xb, ys) in (("train", (a, b, y)), ("val", self.val)):
                    logit = model(xa, xb)
                    out[f"{split}/loss"] = F.binary_cross_entropy_with_logits(logit, ys).item()
                    out[f"{split}/acc"] = ((logit > 0).float() == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (a[idx], b[idx], y[idx]),
                       loss=lambda model, bt: pair_loss(model(bt[0], bt[1]), bt[2], self.bug), evaluate=evaluate,
                       chance_loss=math.log(2), forward=lambda model, bt: model(bt[0], bt[1]),
                       targets=lambda bt: bt[2])
