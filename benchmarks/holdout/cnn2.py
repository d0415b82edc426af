"""Held-out family 2: a small CNN (conv, BatchNorm, ReLU, max-pool, twice) on the 8x8 digits as 1x8x8 images.

Each bug is one line, marked `# BUG <name>`, next to the clean line it replaces.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from benchmarks.bugsuite.common import CLASSIFIER_METRICS, check_bug, classifier_problem, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pixels_0_255", "standardise_over_batch", "no_grad_block1", "head_std3")


def digit_images() -> tuple[torch.Tensor, torch.Tensor]:
    """1797 digits as (N, 1, 8, 8) images in 0..255 (the bundled copy stores 0..16) and their labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) * (255 / 16), torch.tensor(data.target)


def block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2))


class DigitCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.block1, self.block2 = block(1, 16), block(16, 32)
        self.head = nn.Linear(32 * 2 * 2, 10)
        if bug == "head_std3":
            nn.init.normal_(self.head.weight, std=3.0)  # BUG head_std3: "N(0, 1)-ish init" for the classifier

    def forward(self, x):
        if self.bug == "standardise_over_batch":
            x = (x - x.mean(0, keepdim=True)) / (x.std(0, keepdim=True) + 1e-5)  # BUG: per image meant dims 1..3
        if self.bug == "no_grad_block1":
            with torch.no_grad():
                h = self.block1(x)  # BUG no_grad_block1: "the stem is cheap to run without autograd"
        else:
            h = self.block1(x)
        return self.head(self.block2(h).flatten(1))


class CNN2Task:
    metrics = CLASSIFIER_METRICS

    def __init__(self, bug: str = "none", n_val: int = 360):
        self.bug = check_bug(bug, BUGS, "cnn2")
        pixels, y = digit_images()
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
        pixels, y = pixels[order], y[order]
        train = pixels[n_val:]
        x = (pixels - train.mean()) / train.std()  # one mean and std for all pixels, from the training images
        if bug == "pixels_0_255":
            x = pixels  # BUG pixels_0_255: the standardisation line was lost in a refactor
        self.x_val, self.y_val = x[:n_val], y[:n_val]
        self.x_train, self.y_train = x[n_val:], y[n_val:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        problem = classifier_problem(DigitCNN(self.bug), self.x_train[:n], self.y_train[:n], self.x_val,
                                     self.y_val, 10)
        problem.extras["y_val"] = self.y_val
        return problem
