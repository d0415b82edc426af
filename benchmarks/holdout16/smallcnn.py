"""Held-out-16 family 2: a small CNN with hand-written GroupNorm on scikit-learn's 8x8 handwritten digits.

The 1797 digits (pixels 0..16) are split by a fixed permutation into 1397 training and 400 validation images, each
pasted at a random place of a 10x10 canvas with pixel noise (std 1.5), stored flat (100 columns, as scikit-learn
gives its rows) and standardised with the training pixels' overall mean and std. Model: the flat rows viewed as
1x10x10; a stem conv 3x3 (1 -> 16) - GroupNorm - ReLU, then conv 3x3 (16 -> 32) - GroupNorm - ReLU - max-pool 2
(5x5), conv 3x3 (32 -> 32) - GroupNorm - ReLU - max-pool 2 (2x2), flattened (128) -> linear 10.
The GroupNorm is written out (4 groups: mean and variance over each group's channels and pixels, eps 1e-5, a gain
and a bias per channel). Adam at 0.003, cross-entropy. Tuple batches (pixels (B, 64), classes (B,)). Goal:
validation accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from sklearn.datasets import load_digits
from torch import nn

from benchmarks.bugsuite.common import check_bug, classifier_problem, subset_size

BUGS = ("none", "labels_not_permuted", "groupnorm_stats_over_batch", "stem_under_no_grad", "groupnorm_gain_zero")
CLASSES, GROUPS, DATA_SEED, N_TRAIN, SIDE = 10, 4, 0, 1397, 10


class GroupNorm(nn.Module):
    def __init__(self, channels: int, bug: str):
        super().__init__()
        self.bug = bug
        self.weight, self.bias = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels))
        if bug == "groupnorm_gain_zero":
            nn.init.zeros_(self.weight)  # BUG groupnorm_gain_zero: the residual branch's zero init on every norm

    def forward(self, h):  # (B, C, H, W)
        b, c, hh, ww = h.shape
        g, dims = h.reshape(b, GROUPS, -1), -1
        if self.bug == "groupnorm_stats_over_batch":
            dims = (0, 2)  # BUG groupnorm_stats_over_batch: each group's statistics over the batch too
        g = (g - g.mean(dims, keepdim=True)) / (g.var(dims, unbiased=False, keepdim=True) + 1e-5).sqrt()
        return g.reshape(b, c, hh, ww) * self.weight[:, None, None] + self.bias[:, None, None]


def pasted(images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """(N, 8, 8) -> (N, 100): each digit at a random place of a 10x10 canvas, plus noise."""
    canvas = 1.5 * torch.randn(len(images), SIDE, SIDE, generator=g)
    dy, dx = torch.randint(SIDE - 7, (2, len(images)), generator=g)
    for i, image in enumerate(images):
        canvas[i, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8] += image
    return canvas.flatten(1)


def block(c_in: int, c_out: int, bug: str) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), GroupNorm(c_out, bug), nn.ReLU())


class SmallCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.stem = block(1, 16, bug)
        self.body = nn.Sequential(block(16, 32, bug), nn.MaxPool2d(2), block(32, 32, bug), nn.MaxPool2d(2))
        self.head = nn.Linear(32 * 2 * 2, CLASSES)

    def forward(self, x):  # (B, 100) -> (B, 10)
        x = x.view(-1, 1, SIDE, SIDE)
        h = self.stem(x)
        if self.bug == "stem_under_no_grad":
            with torch.no_grad(): h = self.stem(x)  # noqa: E701  BUG stem_under_no_grad: copied from a frozen-stem fine-tune
        return self.head(self.body(h).flatten(1))


class SmallCNNTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "smallcnn")
        digits = load_digits()
        g = torch.Generator().manual_seed(DATA_SEED)
        x = pasted(torch.tensor(digits.images, dtype=torch.float32), g)
        y = torch.tensor(digits.target, dtype=torch.long)
        perm = torch.randperm(len(x), generator=g)
        train, val = perm[:N_TRAIN], perm[N_TRAIN:]
        mean, std = x[train].mean(), x[train].std()
        self.x_train, self.y_train = (x[train] - mean) / std, y[train]
        if self.bug == "labels_not_permuted":
            self.y_train = y[:N_TRAIN]  # BUG labels_not_permuted: the images taken by the permutation, the labels not
        self.x_val, self.y_val = (x[val] - mean) / std, y[val]

    def build(self, knobs: Mapping[str, Any], seed: int):
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        return classifier_problem(SmallCNN(self.bug), self.x_train[:n], self.y_train[:n], self.x_val, self.y_val,
                                  CLASSES)


