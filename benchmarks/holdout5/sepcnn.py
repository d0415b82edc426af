"""Held-out-5 family 2: a CNN of depthwise-separable convolutions on sklearn's 8x8 digits, tuple batches.

A 3x3 stem conv to 16 channels, then two separable blocks (a 3x3 depthwise conv with groups=channels, a 1x1
pointwise conv, ReLU after each); the second depthwise conv has stride 2 (8x8 -> 4x4). Global average pooling
and a linear head. No normalisation layers. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from benchmarks.bugsuite.common import check_bug, classifier_problem, subset_size
from orchestrator.task import Problem

BUGS = ("none", "separate_shuffles", "dw_detached", "conv_init_std1")
CLASSES = 10


def separable(channels: int, out: int, stride: int = 1) -> tuple[nn.Conv2d, nn.Conv2d]:
    return (nn.Conv2d(channels, channels, 3, stride=stride, padding=1, groups=channels),
            nn.Conv2d(channels, out, 1))


class SepCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.stem = nn.Conv2d(1, 16, 3, padding=1)
        self.dw1, self.pw1 = separable(16, 32)
        self.dw2, self.pw2 = separable(32, 64, stride=2)
        self.head = nn.Linear(64, CLASSES)
        if bug == "conv_init_std1":
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.normal_(m.weight, std=1.0)  # BUG conv_init_std1: N(0, 1), not scaled by the fan-in

    def forward(self, x):  # x: (B, 1, 8, 8)
        h = F.relu(self.pw1(F.relu(self.dw1(F.relu(self.stem(x))))))
        h = self.dw2(h)
        if self.bug == "dw_detached":
            h = h.detach()  # BUG dw_detached: "the downsampling is fixed anyway": cuts off everything before it
        h = F.relu(self.pw2(F.relu(h)))  # (B, 64, 4, 4)
        return self.head(h.mean((2, 3)))


class SepCNNTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 1400):
        self.bug = check_bug(bug, BUGS, "sepcnn")
        d = load_digits()
        x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0
        y = torch.tensor(d.target)
        g = torch.Generator().manual_seed(0)
        order = torch.randperm(len(y), generator=g)
        x, y = x[order], y[order]
        if bug == "separate_shuffles":
            y = y[torch.randperm(len(y), generator=g)]  # BUG separate_shuffles: y shuffled again on its own
        self.x_train, self.y_train = x[:n_train], y[:n_train]
        self.x_val, self.y_val = x[n_train:], y[n_train:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        return classifier_problem(SepCNN(self.bug), self.x_train[:n], self.y_train[:n], self.x_val, self.y_val,
                                  CLASSES)
