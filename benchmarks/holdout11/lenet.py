"""Held-out-11 family 4: a LeNet-style CNN on sklearn's 8x8 digits, trained with SGD + momentum + weight decay.

The 1797 digits are split by a seeded permutation into 1300 training and 497 validation images, standardised with
the training pixels' mean and std and upsampled to 16x16 (bilinear). Model: conv 5x5 (6, padding 2), ReLU, max-pool
2 -> 8x8, conv 5x5 (16) -> 4x4, ReLU, max-pool 2 -> 2x2, flatten (64), dropout 0.3, linear 64 -> 84, ReLU, linear
84 -> 10; cross-entropy. The config trains it with `optim.name: sgd` (momentum 0.9, weight decay 5e-4) at LR 0.03.
Tuple batches (images (B, 1, 16, 16), digits (B,)). Goal: validation accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from benchmarks.bugsuite.common import check_bug, classifier_problem, subset_size

BUGS = ("none", "labels_from_the_end", "conv1_zero_init", "loss_summed")
SPLIT_SEED, N_TRAIN, SIZE = 0, 1300, 16


def digits(bug: str):
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(data.target, dtype=torch.long)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(SPLIT_SEED))
    tr, va = perm[:N_TRAIN], perm[N_TRAIN:]
    y_train = y[tr]
    if bug == "labels_from_the_end":
        y_train = y[perm[-N_TRAIN:]]  # BUG labels_from_the_end: sliced from the wrong end of the permutation
    mean, std = x[tr].mean(), x[tr].std()
    up = lambda im: F.interpolate((im - mean) / std, size=SIZE, mode="bilinear", align_corners=False)  # noqa: E731
    return up(x[tr]), y_train, up(x[va]), y[va]


class LeNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.drop = nn.Dropout(0.3)
        self.fc1, self.fc2 = nn.Linear(16 * 2 * 2, 84), nn.Linear(84, 10)
        if bug == "conv1_zero_init":
            [nn.init.zeros_(p) for p in self.conv1.parameters()]  # BUG conv1_zero_init: meant for the last layer

    def forward(self, x):  # (B, 1, 16, 16) -> (B, 10)
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return self.fc2(F.relu(self.fc1(self.drop(h.flatten(1)))))


def summed_cross_entropy(logits, y):
    return F.cross_entropy(logits, y, reduction="sum")  # BUG loss_summed: per batch, not per example


class LeNetTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "lenet")
        self.data = digits(bug)

    def build(self, knobs: Mapping[str, Any], seed: int):
        torch.manual_seed(seed)
        x, y, vx, vy = self.data
        n = subset_size(knobs, len(y))
        problem = classifier_problem(LeNet(self.bug), x[:n], y[:n], vx, vy, classes=10,
                                     loss_fn=summed_cross_entropy if self.bug == "loss_summed" else None)
        problem.extras["y_val"] = vy
        assert problem.chance_loss == math.log(10)
        return problem
