"""Held-out-27 family 2: a CNN with attention pooling naming a handwritten digit placed anywhere on a 16x16 canvas.

scikit-learn's 8x8 digits (1797 images, 0..16) scaled to [0, 1]; torch seed 0 shuffles them and keeps 1400 for
training and 397 for validation. A canvas is 16x16 zeros with one digit of the split pasted at a random offset
(row, column 0..8); the batch carries the digit (the class) and the canvas quadrant the digit's centre lies in
(0..3, kept for a localisation report). 4000 training and 1000 validation canvases, drawn by torch seed 0,
standardised with the training canvases' mean and std (one scalar each). Model: Conv(1, 16, 3) - ReLU - Conv(16, 32,
3) - ReLU - max-pool 2 - Conv(32, 64, 3) - ReLU (padding 1, 8x8 maps), then attention pooling written out: a 1x1
convolution scores each of the 64 positions, a softmax over the positions weighs the features, and Linear(64, 10)
reads the pooled vector. Cross-entropy; Adam at 0.003. Tuple batches (canvases (B, 1, 16, 16), digit (B,), quadrant
(B,)). Metrics: loss and accuracy on the stage's canvases (at most 500) and on validation. Each bug is one line,
marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "labels_rolled_by_one", "stem_detached", "pool_softmax_over_batch", "conv_normal_init",
        "loss_on_quadrant")
N_DIGITS_TRAIN, N_TRAIN, N_VAL, CLASSES, SIDE = 1400, 4000, 1000, 10, 16


class PlaceCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1),
                                  nn.ReLU(), nn.MaxPool2d(2))
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.score = nn.Conv2d(64, 1, 1)
        self.head = nn.Linear(64, CLASSES)
        if bug == "conv_normal_init":
            for m in (self.stem[0], self.stem[2], self.conv3):
                nn.init.normal_(m.weight)  # BUG conv_normal_init: N(0, 1) convolution weights (std 1)

    def forward(self, x):  # (B, 1, 16, 16) -> (B, 10) logits
        if self.bug == "stem_detached":
            h = self.stem(x).detach()  # BUG stem_detached: the stem's maps detached (kept for a saliency plot)
        else:
            h = self.stem(x)
        h = F.relu(self.conv3(h))                         # (B, 64, 8, 8)
        scores = self.score(h).flatten(1)                 # (B, 64 positions)
        if self.bug == "pool_softmax_over_batch":
            weights = scores.softmax(0)  # BUG pool_softmax_over_batch: softmax over dim 0 (the batch), not 1
        else:
            weights = scores.softmax(1)
        pooled = (h.flatten(2) * weights[:, None, :]).sum(-1)  # (B, 64)
        return self.head(pooled)


def canvases(images, labels, n: int, g: torch.Generator, bug: str):
    idx = torch.randint(0, len(images), (n,), generator=g)
    rows, cols = torch.randint(0, SIDE - 8 + 1, (2, n), generator=g)
    x = torch.zeros(n, 1, SIDE, SIDE)
    for k in range(n):
        x[k, 0, rows[k]:rows[k] + 8, cols[k]:cols[k] + 8] = images[idx[k]]
    quadrant = (rows + 4 >= SIDE // 2).long() * 2 + (cols + 4 >= SIDE // 2).long()
    if bug == "labels_rolled_by_one":
        y = labels[idx.roll(1)]  # BUG labels_rolled_by_one: each canvas gets the label of the one before
    else:
        y = labels[idx]
    return x, y, quadrant


class PlaceDigitTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "placedigit")
        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32) / 16
        labels = torch.tensor(digits.target)
        g = torch.Generator().manual_seed(0)
        order = torch.randperm(len(images), generator=g)
        images, labels = images[order], labels[order]
        train = canvases(images[:N_DIGITS_TRAIN], labels[:N_DIGITS_TRAIN], N_TRAIN, g, self.bug)
        val = canvases(images[N_DIGITS_TRAIN:], labels[N_DIGITS_TRAIN:], N_VAL, g, self.bug)
        mean, std = train[0].mean(), train[0].std()
        self.train = ((train[0] - mean) / std, train[1], train[2])
        self.val = ((val[0] - mean) / std, val[1], val[2])

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y, quadrant = (t[:n] for t in self.train)
        model = PlaceCNN(self.bug)

        def loss(model, b):
            if self.bug == "loss_on_quadrant":
                return F.cross_entropy(model(b[0]), b[-1])  # BUG loss_on_quadrant: b[-1] (the quadrant) for b[1]
            return F.cross_entropy(model(b[0]), b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.val[0], self.val[1])):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx], quadrant[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(CLASSES),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
