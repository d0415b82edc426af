"""Held-out-10 family 4: an MLP on a generated tabular binary-classification dataset with mixed features.

Each row has 3 categorical columns (region: 6 values, product: 10, channel: 4) and 6 numeric ones in their own units
(age in years, income in dollars, tenure in months, visits per month, basket value in dollars, a satisfaction score
1..5). The label ("churn") is 1 for the 20% of rows with the highest hidden score: a linear mix of the standardised
numerics, an age x visits interaction, and a per-category effect of each column; about 1 positive per 4 negatives.
The numerics are standardised with the training rows' mean and std. Model: one 4-wide embedding per categorical
column, concatenated with the numerics, an MLP 18 -> 64 -> 64 -> 1 (ReLU), one logit, BCEWithLogitsLoss. Dict batches
`cat` (B, 3) ids, `num` (B, 6), `label` (B,) float 0/1. Goal: validation accuracy (0.8 by always saying "no").
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

BUGS = ("none", "income_in_dollars", "restandardised_per_batch", "sigmoid_before_bce", "normal_init_std_1")
CARDINALITIES, EMBED, HIDDEN = (6, 10, 4), 4, 64
NUMERIC, INCOME = 6, 1
POSITIVE_SHARE = 0.2
DATA_SEED, N_TRAIN, N_VAL = 0, 3000, 1000


def table(bug: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(DATA_SEED)
    n = N_TRAIN + N_VAL
    cat = torch.stack([torch.randint(0, c, (n,), generator=g) for c in CARDINALITIES], 1)
    z = torch.randn(n, NUMERIC, generator=g)
    raw = torch.stack([40 + 12 * z[:, 0], 50_000 * torch.exp(0.5 * z[:, 1]), 30 + 20 * z[:, 2].abs(),
                       6 + 2 * z[:, 3], 80 * torch.exp(0.4 * z[:, 4]), (3 + z[:, 5]).round().clamp(1, 5)], 1)
    effects = [torch.randn(c, generator=g) for c in CARDINALITIES]
    score = z @ torch.tensor([0.8, -1.0, -0.6, 0.7, 0.3, -0.9]) + 0.8 * z[:, 0] * z[:, 3]
    score = score + sum(e[cat[:, i]] for i, e in enumerate(effects))
    label = (score > score.quantile(1 - POSITIVE_SHARE)).float()
    mean, std = raw[:N_TRAIN].mean(0), raw[:N_TRAIN].std(0)
    num = (raw - mean) / std
    if bug == "income_in_dollars":
        num[:, INCOME] = raw[:, INCOME]  # BUG income_in_dollars: left out of the columns to standardise
    split = lambda part: {"cat": cat[part], "num": num[part], "label": label[part]}  # noqa: E731
    return split(slice(0, N_TRAIN)), split(slice(N_TRAIN, n))


class TabularMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.embeds = nn.ModuleList(nn.Embedding(c, EMBED) for c in CARDINALITIES)
        self.mlp = nn.Sequential(nn.Linear(len(CARDINALITIES) * EMBED + NUMERIC, HIDDEN), nn.ReLU(),
                                 nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1))
        if bug == "sigmoid_before_bce":
            self.mlp.append(nn.Sigmoid())  # BUG sigmoid_before_bce: a probability fed to BCEWithLogitsLoss
        if bug == "normal_init_std_1":
            [nn.init.normal_(m.weight) for m in self.mlp if isinstance(m, nn.Linear)]  # BUG normal_init_std_1: std 1

    def forward(self, cat, num):  # (B, 3) ids, (B, 6) -> (B,) logits
        if self.bug == "restandardised_per_batch":
            num = (num - num.mean(0)) / num.std(0)  # BUG restandardised_per_batch: "to be safe", over the batch
        x = torch.cat([e(cat[:, i]) for i, e in enumerate(self.embeds)] + [num], -1)
        return self.mlp(x).squeeze(-1)


def prior_entropy(label: torch.Tensor) -> float:
    """The BCE of always predicting the training positive rate: what a model blind to the features reaches."""
    p = label.mean().item()
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


class TabularTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/balanced_acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "tabular")
        self.train, self.val = table(bug)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        train = {k: v[:n] for k, v in self.train.items()}
        model = TabularMLP(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    logits = model(data["cat"], data["num"])
                    said, y = (logits > 0).float(), data["label"]
                    out[f"{split}/loss"] = F.binary_cross_entropy_with_logits(logits, y).item()
                    out[f"{split}/acc"] = (said == y).float().mean().item()
                recall = [(said[y == c] == c).float().mean().item() for c in (0.0, 1.0)]
                out["val/balanced_acc"] = sum(recall) / 2
            return out

        problem = Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                          loss=lambda model, batch: F.binary_cross_entropy_with_logits(
                              model(batch["cat"], batch["num"]), batch["label"]),
                          evaluate=evaluate, chance_loss=prior_entropy(self.train["label"]),
                          forward=lambda model, batch: model(batch["cat"], batch["num"]),
                          targets=lambda batch: batch["label"])
        problem.extras["y_val"] = self.val["label"].long()
        return problem
