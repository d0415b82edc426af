"""Held-out-49 family 2: a 2-D CNN with attention pooling telling four stroke shapes apart in noisy 14x14 images,
over namedtuple batches.

An image: one shape drawn at a random place, brightness U(0.6, 1.2), plus noise N(0, 0.3²): a horizontal bar, a
vertical bar (length 5..9, width 1), a plus (arms 2..4) or an X (arms 2..4). Classes 0..3 in that order. Torch seed 0
draws 3000 training and 600 validation images. Namedtuple batches Shots(images (B, 1, 14, 14), labels (B,)); get_batch
flips each image left-right with probability 1/2 (every class is symmetric under it). Model: Conv(1, 16, 3) - BN -
ReLU - Conv(16, 32, 3) - BN - ReLU - MaxPool(2) - Conv(32, 32, 3) - ReLU, then attention pooling (a 1x1 conv scores
each of the 49 positions, softmax over the positions, the weighted sum of the features) and Linear(32, 4).
Cross-entropy; SGD with Nesterov momentum 0.9 at 0.05. Metrics: loss and accuracy on the stage's first 500 images
(unflipped) and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "transpose_augment", "nll_on_raw_logits", "conv_constant_init", "pool_softmax_over_batch")
Shots = namedtuple("Shots", "images labels")
SIZE, CLASSES, N_TRAIN, N_VAL = 14, 4, 3000, 600


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = torch.zeros(n, 1, SIZE, SIZE), torch.randint(0, CLASSES, (n,), generator=g)

    def r(lo, hi):
        return int(torch.randint(lo, hi + 1, (1,), generator=g))

    for i in range(n):
        c, v, img = int(labels[i]), 0.6 + 0.6 * float(torch.rand(1, generator=g)), images[i, 0]
        if c < 2:
            length = r(5, 9)
            a, b = r(0, SIZE - length), r(0, SIZE - 1)
            if c == 0:
                img[b, a:a + length] = v
            else:
                img[a:a + length, b] = v
        else:
            arm = r(2, 4)
            cy, cx = r(arm, SIZE - 1 - arm), r(arm, SIZE - 1 - arm)
            for d in range(-arm, arm + 1):
                if c == 2:
                    img[cy, cx + d] = img[cy + d, cx] = v
                else:
                    img[cy + d, cx + d] = img[cy + d, cx - d] = v
    return images + 0.3 * torch.randn(images.shape, generator=g), labels


class Spotter(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU())
        self.score, self.head = nn.Conv2d(32, 1, 1), nn.Linear(32, CLASSES)
        if bug == "conv_constant_init":
            [nn.init.constant_(m.weight, 0.05) for m in self.features if isinstance(m, nn.Conv2d)]  # BUG conv_constant_init: constant_ where a random init (kaiming_normal_) was meant

    def forward(self, x):  # (B, 1, 14, 14) -> (B, 4) logits
        h = self.features(x).flatten(2)              # (B, 32, 49)
        s = self.score.weight.flatten(1) @ h + self.score.bias[:, None]  # (B, 1, 49)
        if self.bug == "pool_softmax_over_batch":
            w = s.softmax(0)  # BUG pool_softmax_over_batch: softmax(0) over the batch where the positions (-1) were meant
        else:
            w = s.softmax(-1)
        return self.head((h * w).sum(-1))


def shape_loss(logits, labels, bug: str = "none"):
    if bug == "nll_on_raw_logits":
        return F.nll_loss(logits, labels)  # BUG nll_on_raw_logits: nll_loss on the raw logits (NLLLoss from a tutorial whose model ended in LogSoftmax)
    return F.cross_entropy(logits, labels)


class CrossesTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "crosses")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = Spotter(self.bug)
        bug = self.bug

        def get_batch(idx):
            images = x[idx]
            flip = torch.rand(len(idx)) < 0.5
            if bug == "transpose_augment":
                images = torch.where(flip[:, None, None, None], images.transpose(-1, -2), images)  # BUG transpose_augment: a transpose (a diagonal flip) where flip(-1) was meant: bars change class, labels do not
            else:
                images = torch.where(flip[:, None, None, None], images.flip(-1), images)
            return Shots(images, y[idx])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", *self.val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: shape_loss(model(b.images), b.labels, bug), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b.images),
                       targets=lambda b: b.labels)
