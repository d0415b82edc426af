"""Held-out-29 family 2: a small CNN naming the direction of a pen stroke in a noisy 12x12 image.

Each image holds one stroke 4..8 pixels long at a random place: horizontal (class 0), vertical (1), diagonal (2) or
anti-diagonal (3), intensity 0.7..1.0, on Gaussian noise of std 0.25. Torch seed 0 draws 2000 training and 500
validation images. Model: Conv(1, 16, 3) - ReLU - Conv(16, 32, 3), a hand-written per-image normalisation of the
feature map (mean and std over channels, height and width of each image, plus a learnt per-channel scale and shift),
ReLU - max-pool 2 - Conv(32, 32, 3) - ReLU (padding 1), global max pooling, Linear(32, 4). Cross-entropy; Adam at
0.003. Tuple batches (images (B, 1, 12, 12), direction (B,)). Metrics: loss and accuracy on the stage's images (at
most 1000) and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "val_images_transposed", "featnorm_over_batch", "conv3_bias_minus5", "head_on_detached")
N_TRAIN, N_VAL, CLASSES, SIZE = 2000, 500, 4, 12


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = 0.25 * torch.randn(n, 1, SIZE, SIZE, generator=g)
    y = torch.randint(0, CLASSES, (n,), generator=g)
    for i in range(n):
        length = int(torch.randint(4, 9, (1,), generator=g))
        r0 = int(torch.randint(0, SIZE - length + 1, (1,), generator=g))
        c0 = int(torch.randint(0, SIZE - length + 1, (1,), generator=g))
        ink = 0.7 + 0.3 * float(torch.rand(1, generator=g))
        for k in range(length):
            r, c = {0: (r0, c0 + k), 1: (r0 + k, c0), 2: (r0 + k, c0 + k), 3: (r0 + k, c0 + length - 1 - k)}[int(y[i])]
            x[i, 0, r, c] += ink
    return x, y


class StrokeCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.gain, self.shift = nn.Parameter(torch.ones(32, 1, 1)), nn.Parameter(torch.zeros(32, 1, 1))
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        if bug == "conv3_bias_minus5":
            nn.init.constant_(self.conv3.bias, -5.0)  # BUG conv3_bias_minus5: conv3's bias initialised to -5
        self.head = nn.Linear(32, CLASSES)

    def forward(self, x):  # (B, 1, 12, 12) -> (B, 4)
        h = self.conv2(F.relu(self.conv1(x)))
        if self.bug == "featnorm_over_batch":
            dims = (0,)  # BUG featnorm_over_batch: normalised over the batch dim (each channel and pixel on its own)
        else:
            dims = (1, 2, 3)
        h = (h - h.mean(dims, keepdim=True)) / (h.std(dims, keepdim=True) + 1e-5) * self.gain + self.shift
        h = F.max_pool2d(F.relu(h), 2)
        feat = F.relu(self.conv3(h)).amax((2, 3))
        if self.bug == "head_on_detached":
            feat = feat.detach()  # BUG head_on_detached: the features detached before the head
        return self.head(feat)


class StrokesTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "strokes")
        g = torch.Generator().manual_seed(0)
        self.train, (x_va, y_va) = draw(N_TRAIN, g), draw(N_VAL, g)
        if self.bug == "val_images_transposed":
            x_va = x_va.transpose(2, 3)  # BUG val_images_transposed: the validation images stored transposed
        self.val = (x_va, y_va)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = StrokeCNN(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:1000], y[:1000]), ("val", *self.val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                       loss=lambda model, b: F.cross_entropy(model(b[0]), b[1]), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
