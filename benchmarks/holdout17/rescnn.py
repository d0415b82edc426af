"""Held-out-17 family 2: a tiny residual CNN with BatchNorm on scikit-learn's 8x8 digits.

The 1797 digits (pixels 0..16) are split by a fixed permutation into 1397 training and 400 validation images,
stored as 1x8x8 images and standardised with the training pixels' overall mean and std. Model: a stem conv 3x3
(1 -> 16) - BatchNorm - ReLU; a residual block (conv - BN - ReLU - conv - BN, plus the input, ReLU); a strided conv
3x3 (16 -> 32, stride 2: 4x4) - BN - ReLU; a second residual block at 32 channels; global average pooling; a linear
head 32 -> 10. Adam at 0.003, cross-entropy. Tuple batches (images (B, 1, 8, 8), classes (B,)). Goals: train
accuracy on 10 and 100 images, validation accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from sklearn.datasets import load_digits
from torch import nn

from benchmarks.bugsuite.common import check_bug, classifier_problem, subset_size

BUGS = ("none", "labels_shifted_by_one", "head_std_5", "pool_reshape_mixes_batch")
CLASSES, DATA_SEED, N_TRAIN = 10, 0, 1397


def conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out))


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.a, self.b = conv_bn(channels, channels), conv_bn(channels, channels)

    def forward(self, h):
        return torch.relu(h + self.b(torch.relu(self.a(h))))


class ResCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.stem, self.res1 = conv_bn(1, 16), Residual(16)
        self.down, self.res2 = conv_bn(16, 32, stride=2), Residual(32)
        self.head = nn.Linear(32, CLASSES)
        if bug == "head_std_5":
            nn.init.normal_(self.head.weight, std=5.0)  # BUG head_std_5: an N(0, 5^2) head (default std ~0.1)

    def forward(self, x):  # (B, 1, 8, 8) -> (B, 10)
        h = self.res1(torch.relu(self.stem(x)))
        h = self.res2(torch.relu(self.down(h)))              # (B, 32, 4, 4)
        pooled = h.flatten(2).mean(2)                         # (B, 32)
        if self.bug == "pool_reshape_mixes_batch":
            pooled = h.transpose(0, 1).reshape(h.shape[0], h.shape[1], -1).mean(2)  # BUG pool_reshape_mixes_batch: a (C, B, ...) tensor reshaped as (B, C, -1)
        return self.head(pooled)


class ResCNNTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "rescnn")
        digits = load_digits()
        g = torch.Generator().manual_seed(DATA_SEED)
        x = torch.tensor(digits.images, dtype=torch.float32)[:, None]
        y = torch.tensor(digits.target, dtype=torch.long)
        perm = torch.randperm(len(x), generator=g)
        train, val = perm[:N_TRAIN], perm[N_TRAIN:]
        mean, std = x[train].mean(), x[train].std()
        self.x_train, self.y_train = (x[train] - mean) / std, y[train]
        if self.bug == "labels_shifted_by_one":
            self.y_train = torch.roll(y[train], 1)  # BUG labels_shifted_by_one: each image paired with the previous image's label
        self.x_val, self.y_val = (x[val] - mean) / std, y[val]

    def build(self, knobs: Mapping[str, Any], seed: int):
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        return classifier_problem(ResCNN(self.bug), self.x_train[:n], self.y_train[:n], self.x_val, self.y_val,
                                  CLASSES)
