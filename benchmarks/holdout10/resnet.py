"""Held-out-10 family 3: a small residual CNN with BatchNorm on sklearn's 8x8 digits, random shifts in training.

The 1797 images are split (fixed permutation) into 1300 training and 497 validation images, scaled by 1/16 and
standardised with the training pixels' mean and std (one pair for all pixels). Training batches are augmented: each
image shifted at random by up to one pixel each way (zero padding, then an 8x8 crop); evaluation uses the images as
they are. The net: a 3x3 stem (32 channels, BN, ReLU), a residual block at 32 channels, a residual block that halves
the resolution to 4x4 at 64 channels (1x1 strided projection on the skip), global average pooling and a linear
classifier. Tuple batches (images (B, 1, 8, 8), digits). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from benchmarks.bugsuite.common import check_bug, classifier_problem, subset_size

BUGS = ("none", "bn_without_running_stats", "labels_second_permutation", "classifier_made_per_call")
N_TRAIN, SHIFT = 1300, 1
SPLIT_SEED = 0


def digit_split(bug: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    d = load_digits()
    g = torch.Generator().manual_seed(SPLIT_SEED)
    order = torch.randperm(len(d.target), generator=g)
    x = torch.tensor(d.images, dtype=torch.float32)[order][:, None] / 16.0
    y = torch.tensor(d.target)[order]
    if bug == "labels_second_permutation":
        y = torch.tensor(d.target)[torch.randperm(len(d.target), generator=g)]  # BUG labels_second_permutation: redrawn
    mean, std = x[:N_TRAIN].mean(), x[:N_TRAIN].std()
    x = (x - mean) / std
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def random_shift(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by up to SHIFT pixels in each direction, the border filled with the background (zero)."""
    padded = F.pad(x, (SHIFT,) * 4)
    dy, dx = torch.randint(0, 2 * SHIFT + 1, (2, len(x)), generator=generator)
    return torch.stack([padded[i, :, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8] for i in range(len(x))])


class Residual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, bug: str):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        if bug == "bn_without_running_stats":
            self.bn1 = nn.BatchNorm2d(c_out, track_running_stats=False)  # BUG bn_without_running_stats: eval uses batch
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.skip(x))


class SmallResNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.blocks = nn.Sequential(Residual(32, 32, 1, bug), Residual(32, 64, 2, bug))
        self.head = nn.Linear(64, 10)

    def forward(self, x):  # (B, 1, 8, 8) -> (B, 10)
        h = self.blocks(self.stem(x)).mean((2, 3))
        if self.bug == "classifier_made_per_call":
            return nn.Linear(h.shape[1], 10)(h)  # BUG classifier_made_per_call: new every call
        return self.head(h)


class ResNetTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "resnet")
        self.x_train, self.y_train, self.x_val, self.y_val = digit_split(bug)

    def build(self, knobs: Mapping[str, Any], seed: int):
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        problem = classifier_problem(SmallResNet(self.bug), x, y, self.x_val, self.y_val, 10)
        shifts = torch.Generator().manual_seed(seed + 1)
        problem.get_batch = lambda idx: (random_shift(x[idx], shifts), y[idx])  # augmentation: training batches only
        problem.extras["y_val"] = self.y_val
        return problem
