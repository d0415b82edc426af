"""Held-out-4 family 1: a tabular classifier: nn.Embedding for 3 categorical columns plus 5 numeric columns.

Dict batches {"cats": (B, 3) long, "nums": (B, 5) float, "y": (B,) long}. The binary label is the sign of a fixed
score: one learned-by-table effect per category value, a linear term of the numbers and a product of two numbers
(noise-free, so a correct model can reach near-perfect validation accuracy). Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "labels_rolled", "income_raw", "emb_frozen", "features_normalised_over_batch")
CARDINALITIES, NUMS, CLASSES = (5, 7, 4), 5, 2


def tabular(n: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1234)  # the same rule for every split
    effects = [torch.randn(c, generator=g) for c in CARDINALITIES]
    w = torch.randn(NUMS, generator=g)
    g = torch.Generator().manual_seed(seed)
    cats = torch.stack([torch.randint(0, c, (n,), generator=g) for c in CARDINALITIES], 1)
    nums = torch.randn(n, NUMS, generator=g)
    score = sum(e[cats[:, i]] for i, e in enumerate(effects)) + nums @ w + nums[:, 0] * nums[:, 1]
    return {"cats": cats, "nums": nums, "y": (score > score.median()).long()}


class TabNet(nn.Module):
    def __init__(self, bug: str, dim: int = 8, hidden: int = 64):
        super().__init__()
        self.bug = bug
        self.embs = nn.ModuleList(nn.Embedding(c, dim) for c in CARDINALITIES)
        self.mlp = nn.Sequential(nn.Linear(dim * len(CARDINALITIES) + NUMS, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, CLASSES))
        if bug == "emb_frozen":
            self.embs.requires_grad_(False)  # BUG emb_frozen: "keep the pretrained embeddings" (there are none)

    def forward(self, cats, nums):
        if self.bug == "features_normalised_over_batch":
            nums = F.normalize(nums, dim=0)  # BUG features_normalised_over_batch: unit length over dim 0 (the batch)
        e = [emb(cats[:, i]) for i, emb in enumerate(self.embs)]
        return self.mlp(torch.cat(e + [nums], 1))


class TabTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 3000, n_val: int = 1000):
        self.bug = check_bug(bug, BUGS, "tab")
        self.train, self.val = tabular(n_train, seed=0), tabular(n_val, seed=1)
        if bug == "income_raw":
            for d in (self.train, self.val):
                d["nums"][:, 2] = 50_000 + 20_000 * d["nums"][:, 2]  # BUG income_raw: one column in dollars
        if bug == "labels_rolled":
            self.train["y"] = torch.roll(self.train["y"], 1)  # BUG labels_rolled: an off-by-one join of the labels

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["y"]))
        train = {k: v[:n] for k, v in self.train.items()}
        model = TabNet(self.bug)

        def forward(model, batch):
            return model(batch["cats"], batch["nums"])

        def loss(model, batch):
            return F.cross_entropy(forward(model, batch), batch["y"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, d in (("train", train), ("val", self.val)):
                    logits = forward(model, d)
                    out[f"{split}/loss"] = F.cross_entropy(logits, d["y"]).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == d["y"]).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=loss, evaluate=evaluate, chance_loss=math.log(CLASSES), forward=forward,
                       targets=lambda batch: batch["y"])
