"""Held-out-8 family 1: a Siamese metric-learning model on sklearn's digits: are two images the same digit?

The 1797 images are split (fixed permutation) into 1200 training and 597 validation images, standardised with the
training images' pixel statistics. Pairs are generated in code, half of them "same digit" (another image of the
class, possibly the image itself) and half "different". One MLP tower (64 -> 128 -> 64 -> 32) embeds both images;
the logit is a learned scale times the cosine similarity of the two embeddings plus a learned bias (SigLIP's form:
log-scale starts at log 10, bias at -7, since a fresh tower gives every pair a cosine near 0.75), trained with
binary cross-entropy; the goal is validation pair accuracy. Dict batches `a`, `b`, `same`.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size

from orchestrator.task import Problem

BUGS = ("none", "second_image_shuffled", "scale_not_logged", "normalised_over_batch")
N_TRAIN_IMAGES, EMBED = 1200, 32
SCALE, BIAS = 10.0, -7.0
SPLIT_SEED, TRAIN_SEED, VAL_SEED, SHUFFLE_SEED = 0, 1, 2, 3


def digit_images() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    d = load_digits()
    order = torch.randperm(len(d.target), generator=torch.Generator().manual_seed(SPLIT_SEED))
    x = torch.tensor(d.data, dtype=torch.float32)[order]
    y = torch.tensor(d.target)[order]
    train, val = x[:N_TRAIN_IMAGES], x[N_TRAIN_IMAGES:]
    mean, std = train.mean(0), train.std(0) + 1.0  # + 1: border pixels are (almost) always 0
    return (train - mean) / std, y[:N_TRAIN_IMAGES], (val - mean) / std, y[N_TRAIN_IMAGES:]


def pairs(x: torch.Tensor, y: torch.Tensor, n: int, seed: int) -> dict[str, torch.Tensor]:
    """n pairs of images of x, a balanced mix of same-digit and different-digit pairs."""
    g = torch.Generator().manual_seed(seed)
    first = torch.randint(0, len(y), (n,), generator=g)
    same = torch.rand(n, generator=g) < 0.5
    second = torch.empty(n, dtype=torch.long)
    for k in range(n):
        pool = torch.nonzero((y == y[first[k]]) == same[k]).squeeze(1)
        second[k] = pool[torch.randint(0, len(pool), (1,), generator=g)]
    return {"a": x[first], "b": x[second], "same": same.float()}


class Siamese(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tower = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, EMBED))
        self.log_scale = nn.Parameter(torch.tensor(SCALE).log())
        if bug == "scale_not_logged":
            self.log_scale = nn.Parameter(torch.tensor(SCALE))  # BUG scale_not_logged: the scale itself, exp(10) used
        self.bias = nn.Parameter(torch.tensor(BIAS))

    def embed(self, x):
        e = self.tower(x)
        if self.bug == "normalised_over_batch":
            return F.normalize(e, dim=0)  # BUG normalised_over_batch: each feature over the batch, not each embedding
        return F.normalize(e, dim=-1)

    def forward(self, a, b):  # (B, 64), (B, 64) -> (B,) logits of "same digit"
        return self.log_scale.exp() * (self.embed(a) * self.embed(b)).sum(-1) + self.bias


class SiameseTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 1000):
        self.bug = check_bug(bug, BUGS, "siamese")
        x_train, y_train, x_val, y_val = digit_images()
        self.train, self.val = pairs(x_train, y_train, n_train, TRAIN_SEED), pairs(x_val, y_val, n_val, VAL_SEED)
        if bug == "second_image_shuffled":  # "mix the pairs up a little more": the labels stay where they were
            mix = torch.randperm(n_train, generator=torch.Generator().manual_seed(SHUFFLE_SEED))
            self.train["b"] = self.train["b"][mix]  # BUG second_image_shuffled: the images moved, the labels not

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["same"]))
        train = {k: v[:n] for k, v in self.train.items()}
        model = Siamese(self.bug)

        def forward(model, batch):
            return model(batch["a"], batch["b"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    logits = forward(model, data)
                    out[f"{split}/loss"] = F.binary_cross_entropy_with_logits(logits, data["same"]).item()
                    out[f"{split}/acc"] = ((logits > 0).float() == data["same"]).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=lambda model, batch: F.binary_cross_entropy_with_logits(forward(model, batch),
                                                                                    batch["same"]),
                       evaluate=evaluate, chance_loss=math.log(2), forward=forward,
                       targets=lambda batch: batch["same"])
