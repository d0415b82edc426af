"""Family 2: a small CNN on generated 10x10 images of four shapes (bar, column, diagonal, box) with noise.

Each bug is one line, marked `# BUG <name>`, next to the clean line it replaces.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.task import Problem

from .common import CLASSIFIER_METRICS, check_bug, classifier_problem, subset_size

BUGS = ("none", "constant_labels", "frozen_conv", "nan_init", "batch_mixing_reshape", "batch_stats_in_eval",
        "loss_over_batch_squared")
SIZE, CLASSES = 10, 4


def shapes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n images (n, 1, SIZE, SIZE) in 0..1 plus Gaussian noise, and their shape class."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, CLASSES, (n,), generator=g)
    x = 0.15 * torch.randn(n, 1, SIZE, SIZE, generator=g)
    for i in range(n):
        length = int(torch.randint(4, 8, (1,), generator=g))
        r, c = (int(v) for v in torch.randint(0, SIZE - length + 1, (2,), generator=g))
        k = int(y[i])
        if k == 0:    # horizontal bar
            x[i, 0, r, c:c + length] += 1
        elif k == 1:  # vertical bar
            x[i, 0, r:r + length, c] += 1
        elif k == 2:  # diagonal
            for j in range(length):
                x[i, 0, r + j, c + j] += 1
        else:         # box outline
            x[i, 0, r, c:c + length] += 1
            x[i, 0, r + length - 1, c:c + length] += 1
            x[i, 0, r + 1:r + length - 1, c] += 1
            x[i, 0, r + 1:r + length - 1, c + length - 1] += 1
    return x, y


class ShapesCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * (SIZE // 2) ** 2, CLASSES)
        if bug == "frozen_conv":
            self.conv1.requires_grad_(False)  # BUG frozen_conv: left over from a fine-tuning script
        if bug == "nan_init":
            with torch.no_grad():
                self.fc.weight[0, 0] = float("nan")  # BUG nan_init: one weight of the head is NaN

    def forward(self, x):
        h = self.conv1(x)
        if self.bug == "batch_stats_in_eval":
            h = F.batch_norm(h, None, None, self.bn.weight, self.bn.bias, training=True)  # BUG: batch stats in eval too
        else:
            h = self.bn(h)
        h = F.max_pool2d(F.relu(self.conv2(F.relu(h))), 2)
        if self.bug == "batch_mixing_reshape":
            h = h.transpose(0, 1).reshape(h.size(0), -1)  # BUG batch_mixing_reshape: rows mix examples
        else:
            h = h.flatten(1)
        return self.fc(h)


class CNNTask:
    metrics = CLASSIFIER_METRICS

    def __init__(self, bug: str = "none", n_train: int = 1200, n_val: int = 400):
        self.bug = check_bug(bug, BUGS, "cnn")
        self.x_train, self.y_train = shapes(n_train, seed=0)
        self.x_val, self.y_val = shapes(n_val, seed=1)
        if bug == "constant_labels":
            self.y_train, self.y_val = self.y_train * 0, self.y_val * 0  # BUG constant_labels: wrong column read

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))

        def loss_fn(logits, y):
            if self.bug == "loss_over_batch_squared":
                return F.cross_entropy(logits, y, reduction="sum") / len(y) ** 2  # BUG: divided by B twice
            return F.cross_entropy(logits, y, reduction="sum") / len(y)

        return classifier_problem(ShapesCNN(self.bug), self.x_train[:n], self.y_train[:n], self.x_val, self.y_val,
                                  CLASSES, loss_fn)
