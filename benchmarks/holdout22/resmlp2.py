"""Held-out-22 family 3: a pre-norm residual MLP (LayerNorm, GELU, 4 blocks) for multi-output tabular regression.

12 generated features per row (torch seed 0; 4000 training, 500 validation): 4 categorical (5, 7, 3 and 10
categories, ids from 0) and 8 numeric (standard normal, then standardised with the training mean and std). Three
targets (the first a price in dollars, 20 + 5 x ...): smooth functions of the numbers plus per-category effects and interactions, plus noise 0.1, each
standardised with the training mean and std. Tuple batches (category ids (B, 4) long, numbers (B, 8), y (B, 3)).
Model (d 64): an 8-wide embedding per categorical column, concatenated with the numbers, linear to 64; 4 pre-norm
blocks x + W2 gelu(W1 LN(x)) (hidden 128); a final LayerNorm and a linear to 3. Loss: MSE. Adam at 0.003. Metrics:
MSE (train on the first 500, val). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "target_in_cents", "branch_linears_zero", "category_ids_one_based")
CARDS, NUMERIC, OUTS, D, EMB = (5, 7, 3, 10), 8, 3, 64, 8
N_TRAIN, N_VAL = 4000, 500


def draw(n: int, g: torch.Generator, effects: list[torch.Tensor]):
    cat = torch.stack([torch.randint(c, (n,), generator=g) for c in CARDS], 1)
    num = torch.randn(n, NUMERIC, generator=g)
    y0 = 20 + 5 * (torch.sin(2 * num[:, 0]) + num[:, 1] * num[:, 2] + effects[0][cat[:, 0]])  # a price in dollars
    y1 = torch.tanh(num[:, 3] + num[:, 4]) * effects[1][cat[:, 1]] + 0.5 * num[:, 5] ** 2
    y2 = effects[2][cat[:, 2], cat[:, 3]] + num[:, 6] - 0.5 * num[:, 7] * num[:, 0]
    y = torch.stack([y0, y1, y2], 1) + 0.1 * torch.randn(n, OUTS, generator=g)
    return cat, num, y


class ResMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.embs = nn.ModuleList(nn.Embedding(c, EMB) for c in CARDS)
        self.stem = nn.Linear(EMB * len(CARDS) + NUMERIC, D)
        self.norms = nn.ModuleList(nn.LayerNorm(D) for _ in range(4))
        self.fc1 = nn.ModuleList(nn.Linear(D, 2 * D) for _ in range(4))
        self.fc2 = nn.ModuleList(nn.Linear(2 * D, D) for _ in range(4))
        for fc in self.fc2:
            nn.init.zeros_(fc.weight)  # the residual branches start as the identity (a common, sound choice)
        if bug == "branch_linears_zero":
            for p in self.fc1.parameters():
                nn.init.zeros_(p)  # noqa: E501  BUG branch_linears_zero: the zero init meant for the branch's last linear applied to its first one too (weights and biases)
        self.final = nn.LayerNorm(D)
        self.head = nn.Linear(D, OUTS)

    def forward(self, cat, num):  # (B, 4) long, (B, 8) -> (B, 3)
        x = self.stem(torch.cat([e(cat[:, i]) for i, e in enumerate(self.embs)] + [num], -1))
        for norm, fc1, fc2 in zip(self.norms, self.fc1, self.fc2):
            x = x + fc2(F.gelu(fc1(norm(x))))
        return self.head(self.final(x))


class ResMLPTask:
    metrics = ("train/loss", "val/loss")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "resmlp2")
        g = torch.Generator().manual_seed(0)
        effects = [torch.randn(CARDS[0], generator=g), torch.randn(CARDS[1], generator=g),
                   torch.randn(CARDS[2], CARDS[3], generator=g)]
        train, val = draw(N_TRAIN, g, effects), draw(N_VAL, g, effects)
        mu_x, sd_x = train[1].mean(0), train[1].std(0)
        mu_y, sd_y = train[2].mean(0), train[2].std(0)
        self.train, self.val = [(c, (x - mu_x) / sd_x, (y - mu_y) / sd_y) for c, x, y in (train, val)]
        if self.bug == "target_in_cents":
            for (_, _, y), raw in zip((self.train, self.val), (train, val)):
                y[:, 0] = raw[2][:, 0] * 100  # noqa: E501  BUG target_in_cents: the price target taken raw from the table, in cents, not standardised
        if self.bug == "category_ids_one_based":
            self.train, self.val = [(c + 1, x, y) for c, x, y in (self.train, self.val)]  # noqa: E501  BUG category_ids_one_based: the category codes read 1-based (as the source table stores them) into tables sized for 0-based ids

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        cat, num, y = (t[:n] for t in self.train)
        model = ResMLP(self.bug)
        train_eval = (cat[:500], num[:500], y[:500])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (c, x, t) in (("train", train_eval), ("val", self.val)):
                    out[f"{split}/loss"] = F.mse_loss(model(c, x), t).item()
            return out

        def loss(model, b):
            return F.mse_loss(model(b[0], b[1]), b[2])

        return Problem(model=model, train_size=n, get_batch=lambda idx: (cat[idx], num[idx], y[idx]),
                       loss=loss, evaluate=evaluate, chance_loss=float(self.train[2].var(0).mean()),
                       forward=lambda model, b: model(b[0], b[1]), targets=lambda b: b[2])
