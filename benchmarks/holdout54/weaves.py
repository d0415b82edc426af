"""Held-out-54 family 2: a 2-D CNN with batch norm naming the weave of a grey fabric swatch (five weaves), its softmax
probabilities scored by the negative log-likelihood, under RMSprop, over dict batches.

A swatch: 16 x 16 pixels of a weave (classes in this order): plain (a 1 x 1 checker of warp-up and weft-up cells),
basket (a 2 x 2 checker), twill (diagonal floats: up where (row + col) mod 4 < 2), weft rib (2-row horizontal bands)
and warp rib (2-column vertical bands), at a random phase; the cells are 0.5 +- contrast / 2 (contrast U(0.3, 0.8))
plus a brightness offset U(-0.3, 0.3), thread-to-thread shading N(0, 0.15) per row and per column and pixel noise
N(0, 0.3). Each swatch record also carries the loom it came from (0..4, drawn independently). Torch seed 0 draws 3000
training and 600 validation swatches; pixels are standardised with the training split's mean and std (one scalar
each). Dict batches {"swatch" (B, 1, 16, 16), "weave" (B,)}. Model: Conv2d(1, 16, 3, pad 1) - BatchNorm2d - ReLU -
Conv2d(16, 32, 3, pad 1) - BatchNorm2d - ReLU - MaxPool2d(2) - Conv2d(32, 32, 3, pad 1) - BatchNorm2d - ReLU - mean
over the pixels - Linear(32, 5) - log_softmax. Loss: nll_loss; RMSprop (alpha 0.9) at 0.001. Metrics: loss and
accuracy on the stage's first 500 swatches and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "loom_column_as_label", "kl_div_arguments_swapped", "batchnorm_gains_zero", "backbone_frozen")
SIZE, WEAVES, LOOMS, N_TRAIN, N_VAL = 16, 5, 5, 3000, 600


def pattern(weave: int, dr: int, dc: int) -> torch.Tensor:
    r = torch.arange(SIZE)[:, None] + dr
    c = torch.arange(SIZE)[None, :] + dc
    if weave == 0:
        up = (r + c) % 2 == 0
    elif weave == 1:
        up = (r // 2 + c // 2) % 2 == 0
    elif weave == 2:
        up = (r + c) % 4 < 2
    elif weave == 3:
        up = (r // 2) % 2 == 0 + 0 * c
    else:
        up = (c // 2) % 2 == 0 + 0 * r
    return up.expand(SIZE, SIZE).float()


def draw(n: int, g: torch.Generator):
    weave = torch.randint(0, WEAVES, (n,), generator=g)
    loom = torch.randint(0, LOOMS, (n,), generator=g)
    images = torch.empty(n, 1, SIZE, SIZE)
    for i in range(n):
        dr, dc = (int(v) for v in torch.randint(0, 4, (2,), generator=g))
        contrast = 0.3 + 0.5 * float(torch.rand(1, generator=g))
        offset = 0.6 * float(torch.rand(1, generator=g)) - 0.3
        img = 0.5 + contrast * (pattern(int(weave[i]), dr, dc) - 0.5) + offset
        img = img + 0.15 * torch.randn(SIZE, 1, generator=g) + 0.15 * torch.randn(1, SIZE, generator=g)
        images[i, 0] = img + 0.3 * torch.randn(SIZE, SIZE, generator=g)
    return images, torch.stack([weave, loom], 1)  # records: (weave, loom)


class WeaveCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1)
        self.features = nn.Sequential(nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1),
                                      nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 32, 3, padding=1),
                                      nn.BatchNorm2d(32), nn.ReLU())
        self.head = nn.Linear(32, WEAVES)
        if bug == "batchnorm_gains_zero":
            [nn.init.zeros_(m.weight) for m in self.features if isinstance(m, nn.BatchNorm2d)]  # BUG batchnorm_gains_zero: the zero-init-last-BN-gamma trick applied to every batch norm (no residual branch here)
        if bug == "backbone_frozen":
            [p.requires_grad_(False) for p in (*self.stem.parameters(), *self.features.parameters())]  # BUG backbone_frozen: the freeze from a fine-tuning recipe, with no pretrained backbone here

    def forward(self, x):  # (B, 1, 16, 16) -> (B, 5) log-probabilities
        h = self.features(self.stem(x)).mean((2, 3))
        return F.log_softmax(self.head(h), -1)


class WeavesTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "weaves")
        g = torch.Generator().manual_seed(0)
        images, records = draw(N_TRAIN + N_VAL, g)
        mean, std = images[:N_TRAIN].mean(), images[:N_TRAIN].std()
        x = (images - mean) / std
        if bug == "loom_column_as_label":
            y = records[:, 1]  # BUG loom_column_as_label: the record's second column (the loom) read as the label, records[:, 0] meant
        else:
            y = records[:, 0]
        self.x_train, self.y_train, self.x_val = x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:]
        self.y_val = records[N_TRAIN:, 0] if bug == "none" else y[N_TRAIN:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = WeaveCNN(self.bug)
        bug = self.bug

        def loss(model, b):
            logp = model(b["swatch"])
            if bug == "kl_div_arguments_swapped":
                return F.kl_div(F.one_hot(b["weave"], WEAVES).float(), logp, reduction="batchmean")  # BUG kl_div_arguments_swapped: F.kl_div(target, log-probs) where F.kl_div(log-probs, target) was meant
            return F.nll_loss(logp, b["weave"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logp = model(xs)
                    out[f"{split}/loss"] = F.nll_loss(logp, ys).item()
                    out[f"{split}/acc"] = (logp.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: {"swatch": x[idx], "weave": y[idx]}, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(WEAVES), forward=lambda model, b: model(b["swatch"]),
                       targets=lambda b: b["weave"], extras={"y_val": self.y_val})
