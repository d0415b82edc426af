"""Held-out-43 family 2: a 2-D CNN counting the plus signs in a 20x20 image among square distractors (0..5 plus
signs, an ordinal output), over dict batches.

An image: a background level U(0, 0.2), pixel noise N(0, 0.05²); k plus signs (k uniform 0..5; 3x3, five pixels) and
0..3 filled 2x2 squares (four pixels, not counted), each at a level U(0.6, 1.0) at a free place (no two shapes
touching); clipped to [0, 1] and stored as uint8 (x 255, the file format). Torch generator seed 0 draws 3000
training images, seed 1 600 validation ones; the images read as float / 255, then standardised as (x - 0.1) / 0.1. Model: Conv2d(1, 16, 3) - ReLU -
Conv2d(16, 32, 3) - ReLU - MaxPool(2) - Conv2d(32, 32, 3) - ReLU (padding 1), the mean over positions, Linear(32, 5):
five ordinal logits, logit k saying count > k; binary cross-entropy with logits against those five bits; the count
read as the number of positive logits. Adam at 0.003. Dict batches {image (B, 1, 20, 20) float, count (B,) long}.
Metrics: loss and accuracy (the count read exactly) on the stage's first 500 images and on validation. Each bug is
one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "scaled_by_255_twice", "ordinal_bits_ge", "pool_divides_by_numel", "trunc_normal_mean_slip")
S, MAX_COUNT = 20, 5
MEAN, STD = 0.1, 0.1  # the training pixels' mean and std (0.16, 0.21) over all pixels, rounded; per pixel ~0.11, 0.07
N_TRAIN, N_VAL = 3000, 600
PLUS = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)]
SQUARE = [(0, 0), (0, 1), (1, 0), (1, 1)]


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(n, 1, 1, generator=g) * 0.2 + torch.randn(n, S, S, generator=g) * 0.05
    y = torch.randint(0, MAX_COUNT + 1, (n,), generator=g)
    squares = torch.randint(0, 4, (n,), generator=g)
    for i in range(n):
        taken = torch.zeros(S + 2, S + 2, dtype=torch.bool)
        for shape in [PLUS] * int(y[i]) + [SQUARE] * int(squares[i]):
            level = float(torch.rand(1, generator=g)) * 0.4 + 0.6
            while True:
                r, c = (int(v) for v in torch.randint(1, S - 2, (2,), generator=g))
                cells = [(r + dr, c + dc) for dr, dc in shape]
                if not any(taken[rr:rr + 3, cc:cc + 3].any() for rr, cc in cells):  # a one-pixel gap around
                    break
            for rr, cc in cells:
                x[i, rr, cc] = level
                taken[rr + 1, cc + 1] = True
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)[:, None], y


class PlusCounter(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.c1, self.c2, self.c3 = nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1), \
            nn.Conv2d(32, 32, 3, padding=1)
        self.head = nn.Linear(32, MAX_COUNT)
        if bug == "trunc_normal_mean_slip":
            [nn.init.trunc_normal_(c.weight, 0.02) for c in (self.c1, self.c2, self.c3)]  # BUG trunc_normal_mean_slip: 0.02 is the mean, std stays 1

    def forward(self, x):  # (B, 1, 20, 20) -> (B, 5) ordinal logits
        h = F.max_pool2d(F.relu(self.c2(F.relu(self.c1(x)))), 2)
        h = F.relu(self.c3(h))
        if self.bug == "pool_divides_by_numel":
            h = h.sum((2, 3)) / h.numel()  # BUG pool_divides_by_numel: divides by B x C x H x W, not H x W
        else:
            h = h.mean((2, 3))
        return self.head(h)


def bits(y: torch.Tensor, bug: str = "none") -> torch.Tensor:
    ks = torch.arange(MAX_COUNT, device=y.device)
    if bug == "ordinal_bits_ge":
        return (y[:, None] >= ks).float()  # BUG ordinal_bits_ge: `>=` where the read-out counts `count > k`
    return (y[:, None] > ks).float()


class PlusCountTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "pluscount")
        self.raw_train, self.y_train = draw(N_TRAIN, torch.Generator().manual_seed(0))
        self.raw_val, self.y_val = draw(N_VAL, torch.Generator().manual_seed(1))
        self.x_train, self.x_val = self.pixels(self.raw_train), self.pixels(self.raw_val)
        p = torch.stack([(self.y_train > k).float().mean() for k in range(MAX_COUNT)])
        self.chance = float(-(p * p.log() + (1 - p) * (1 - p).log()).mean())

    def pixels(self, raw: torch.Tensor) -> torch.Tensor:
        x = raw.float() / 255
        if self.bug == "scaled_by_255_twice":
            x = x / 255  # BUG scaled_by_255_twice: the loader already returned [0, 1] floats
        return (x - MEAN) / STD

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = PlusCounter(self.bug)

        def loss(model, b):
            return F.binary_cross_entropy_with_logits(model(b["image"]), bits(b["count"], self.bug))

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.binary_cross_entropy_with_logits(logits, bits(ys)).item()
                    out[f"{split}/acc"] = ((logits > 0).sum(1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {"image": x[idx], "count": y[idx]},
                       loss=loss, evaluate=evaluate, chance_loss=self.chance,
                       forward=lambda model, b: model(b["image"]), targets=lambda b: b["count"])
