"""Held-out-2 family 2: a small residual CNN (two residual blocks, hand-written GroupNorm, global average pool)
on generated 1x12x12 images: "which quadrant holds the bright blob".

Each image is sparse sensor noise (half the pixels exactly 0), a bright 3x3 blob in one quadrant (the label)
and a dimmer distractor blob in another. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import CLASSIFIER_METRICS, check_bug, classifier_problem, subset_size
from orchestrator.task import Problem

BUGS = ("none", "log_intensity", "groupnorm_reshape", "shortcut_in_forward", "zero_init_all")
SIZE, CLASSES = 12, 4


def blob_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n images (N, 1, 12, 12) with values >= 0 and the quadrant (0..3) of their bright blob."""
    g = torch.Generator().manual_seed(seed)
    images = (torch.randn(n, 1, SIZE, SIZE, generator=g) * 0.2).clamp(min=0)  # sensor noise, half exactly 0
    labels = torch.randint(0, CLASSES, (n,), generator=g)
    other = (labels + torch.randint(1, CLASSES, (n,), generator=g)) % CLASSES  # the distractor's quadrant
    half = SIZE // 2
    for i in range(n):
        for quadrant, value in ((labels[i], 1.0), (other[i], 0.5)):
            r, c = divmod(int(quadrant), 2)
            y, x = torch.randint(0, half - 2, (2,), generator=g).tolist()
            images[i, 0, r * half + y:r * half + y + 3, c * half + x:c * half + x + 3] += value
    return images, labels


class GroupNorm(nn.Module):
    """GroupNorm by hand (per example and group of channels), with a learned scale and shift per channel."""

    def __init__(self, groups: int, channels: int, bug: str, eps: float = 1e-5):
        super().__init__()
        self.groups, self.eps, self.bug = groups, eps, bug
        self.weight, self.bias = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        if self.bug == "groupnorm_reshape":
            g = x.reshape(self.groups, -1)  # BUG groupnorm_reshape: the batch dimension folded into the groups
        else:
            g = x.reshape(x.shape[0], self.groups, -1)
        g = (g - g.mean(-1, keepdim=True)) / (g.var(-1, unbiased=False, keepdim=True) + self.eps).sqrt()
        return g.reshape(x.shape) * self.weight[:, None, None] + self.bias[:, None, None]


class ResBlock(nn.Module):
    """Pre-activation residual block: x + conv(relu(norm(conv(relu(norm(x)))))), a 1x1 shortcut when it downsamples."""

    def __init__(self, c_in: int, c_out: int, stride: int, bug: str):
        super().__init__()
        self.bug, self.c_in, self.c_out, self.stride = bug, c_in, c_out, stride
        self.norm1, self.norm2 = GroupNorm(4, c_in, bug), GroupNorm(4, c_out, bug)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride) if (stride != 1 or c_in != c_out) else nn.Identity()

    def forward(self, x):
        h = self.conv2(F.relu(self.norm2(self.conv1(F.relu(self.norm1(x))))))
        if self.bug == "shortcut_in_forward" and self.c_in != self.c_out:
            return h + nn.Conv2d(self.c_in, self.c_out, 1, stride=self.stride)(x)  # BUG shortcut_in_forward
        return h + self.shortcut(x)


class ResNet(nn.Module):
    def __init__(self, bug: str, width: int = 16):
        super().__init__()
        self.stem = nn.Conv2d(1, width, 3, padding=1)
        self.blocks = nn.Sequential(ResBlock(width, width, 1, bug), ResBlock(width, 2 * width, 2, bug))
        self.head = nn.Linear(2 * width, CLASSES)
        if bug == "zero_init_all":
            for p in self.parameters():
                nn.init.zeros_(p)  # BUG zero_init_all: "a reproducible init" (every weight and bias 0)

    def forward(self, x):
        h = F.relu(self.blocks(self.stem(x)))
        return self.head(h.mean((2, 3)))  # global average pool


class ResTask:
    metrics = CLASSIFIER_METRICS

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "res")
        pixels, y = blob_images(n_train + n_val, seed=0)
        if bug == "log_intensity":
            pixels = pixels.log()  # BUG log_intensity: "log intensities, as for the microscope" (log(0) = -inf)
        x = (pixels - pixels[:n_train].mean()) / pixels[:n_train].std()  # one mean and std for all pixels
        self.x_train, self.y_train = x[:n_train], y[:n_train]
        self.x_val, self.y_val = x[n_train:], y[n_train:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        problem = classifier_problem(ResNet(self.bug), self.x_train[:n], self.y_train[:n], self.x_val, self.y_val,
                                     CLASSES)
        problem.extras["y_val"] = self.y_val
        return problem
