"""Held-out-19 family 2: a CNN that counts objects in generated images (BatchNorm, global average pooling).

Each 16x16 image holds 1..5 bright 2x2 squares (value 1, placed at random without touching each other) on a
dark background, plus N(0, 0.25^2) noise; the class is the count minus one (5 classes; 2000 training, 400
validation images; torch seed 0; standardised with the training pixels' mean and std). Model: a stem conv 3x3
(1 -> 16, no bias) - BatchNorm - ReLU, a conv 3x3 (16 -> 32, no bias) - BatchNorm - ReLU, a conv 3x3 (32 -> 32,
with bias) - ReLU, a global average pool, a head linear 32 -> 64 - ReLU -> 5; an init loop gives the convs
Kaiming-normal weights and the BatchNorms weight 1, bias 0 (a BatchNorm before the pool made the eval-mode
accuracy swing 0.25-0.98 between evaluations in calibration, so the last conv has none). Loss: cross-entropy.
Adam at 0.003. Tuple batches (images (B, 1, 16, 16), classes (B,)). Metrics: loss and accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from benchmarks.bugsuite.common import check_bug, classifier_problem, subset_size

BUGS = ("none", "labels_sorted", "bn_weight_zero", "stem_no_grad")
SIZE, MAX_COUNT, N_TRAIN, N_VAL = 16, 5, 2000, 400


def draw(n: int, g: torch.Generator):
    images, counts = torch.zeros(n, 1, SIZE, SIZE), torch.randint(1, MAX_COUNT + 1, (n,), generator=g)
    for i, c in enumerate(counts.tolist()):
        taken = torch.zeros(SIZE, SIZE, dtype=torch.bool)
        placed = 0
        while placed < c:
            r, q = torch.randint(SIZE - 1, (2,), generator=g).tolist()
            if taken[max(r - 1, 0):r + 3, max(q - 1, 0):q + 3].any():
                continue
            taken[r:r + 2, q:q + 2] = True
            images[i, 0, r:r + 2, q:q + 2] = 1.0
            placed += 1
    images += 0.25 * torch.randn(images.shape, generator=g)
    return images, counts - 1


class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                                  nn.Conv2d(32, 32, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, MAX_COUNT))
        self.bug = "none"

    def init(self, bug: str):
        self.bug = bug
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                if bug == "bn_weight_zero":
                    nn.init.zeros_(m.weight)  # noqa: E501  BUG bn_weight_zero: every BatchNorm's scale zeroed (the zero-gamma trick applied to all of them)
                nn.init.zeros_(m.bias)
        return self

    def forward(self, x):  # (B, 1, 16, 16) -> (B, 5)
        if self.bug == "stem_no_grad":
            with torch.no_grad(): h = self.stem(x)  # noqa: E701  BUG stem_no_grad: the stem run under no_grad
        else:
            h = self.stem(x)
        return self.head(self.body(h).mean((2, 3)))


class CountCNNTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "countcnn")
        g = torch.Generator().manual_seed(0)
        x_train, y_train = draw(N_TRAIN, g)
        x_val, y_val = draw(N_VAL, g)
        mu, sd = x_train.mean(), x_train.std()
        self.x_train, self.x_val = (x_train - mu) / sd, (x_val - mu) / sd
        self.y_train, self.y_val = y_train, y_val
        if self.bug == "labels_sorted":
            self.y_train = y_train.sort().values  # noqa: E501  BUG labels_sorted: the training labels sorted (meant for a class histogram) against the unsorted images
        self.classes = MAX_COUNT

    def build(self, knobs: Mapping[str, Any], seed: int):
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        model = Counter().init(self.bug)
        return classifier_problem(model, self.x_train[:n], self.y_train[:n], self.x_val, self.y_val, self.classes)

