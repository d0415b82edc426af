"""Held-out-31 family 2: a small CNN naming the colour (red, green, blue) and size (small, large) of a disc in a
noisy 16x16 RGB image: 6 classes.

Each image: a disc of radius 2..3 (small) or 4..5 (large) at a random centre (kept inside), its colour channel at
0.6..1.0 and the two others at 0..0.3 of that (a tint), on Gaussian noise of std 0.2 in each channel. Torch seed 0
draws 2000 training and 500 validation images, standardised with the training mean and std per channel. Model:
Conv(3, 16, 3, pad 1) - ReLU - max-pool 2 - Conv(16, 32, 3, pad 1), a hand-written instance norm (mean and variance
over each image's height and width, a learnt per-channel scale and shift), ReLU - max-pool 2 - flatten (512) -
Linear(512, 64) - ReLU - Dropout(0.2) - Linear(64, 6). Cross-entropy; Adam at 0.003. Tuple batches (images
(B, 3, 16, 16), class (B,) = 2 x colour + size). Metrics: loss and accuracy on the stage's images (at most 1000) and
on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "val_channels_bgr", "norm_over_batch", "conv1_under_no_grad", "loss_on_softmax", "fc1_uniform")
N_TRAIN, N_VAL, CLASSES, SIDE = 2000, 500, 6, 16


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    colour = torch.randint(0, 3, (n,), generator=g)
    size = torch.randint(0, 2, (n,), generator=g)
    radius = 2 + 2 * size + torch.randint(0, 2, (n,), generator=g)
    cy = (radius + torch.rand(n, generator=g) * (SIDE - 2 * radius - 1)).round()
    cx = (radius + torch.rand(n, generator=g) * (SIDE - 2 * radius - 1)).round()
    yy, xx = torch.meshgrid(torch.arange(SIDE), torch.arange(SIDE), indexing="ij")
    inside = ((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2) <= radius[:, None, None] ** 2
    ink = 0.6 + 0.4 * torch.rand(n, generator=g)
    tint = 0.3 * torch.rand(n, 3, generator=g)
    tint[torch.arange(n), colour] = 1.0
    x = inside[:, None].float() * (ink[:, None] * tint)[:, :, None, None]
    x = x + 0.2 * torch.randn(n, 3, SIDE, SIDE, generator=g)
    return x, 2 * colour + size


class InstanceNorm(nn.Module):
    def __init__(self, channels: int, bug: str):
        super().__init__()
        self.bug = bug
        self.scale, self.shift = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels))

    def forward(self, h):  # (B, C, H, W)
        dims = (0, 2, 3) if self.bug == "norm_over_batch" else (2, 3)  # BUG norm_over_batch: statistics over the batch too
        mu, var = h.mean(dims, keepdim=True), h.var(dims, keepdim=True, unbiased=False)
        return (h - mu) / torch.sqrt(var + 1e-5) * self.scale[:, None, None] + self.shift[:, None, None]


class DiscsCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.conv1, self.conv2 = nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)
        self.norm = InstanceNorm(32, bug)
        self.fc1, self.fc2 = nn.Linear(32 * 4 * 4, 64), nn.Linear(64, CLASSES)
        if bug == "fc1_uniform":
            nn.init.uniform_(self.fc1.weight, 0.0, 1.0)  # BUG fc1_uniform: U(0, 1) instead of U(-1/sqrt(512), ..)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        if self.bug == "conv1_under_no_grad":
            with torch.no_grad():  # BUG conv1_under_no_grad: the first block run without gradient
                h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        else:
            h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.norm(self.conv2(h))), 2)
        return self.fc2(self.drop(F.relu(self.fc1(h.flatten(1)))))


class DiscsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "discs")
        g = torch.Generator().manual_seed(0)
        (xt, yt), (xv, yv) = draw(N_TRAIN, g), draw(N_VAL, g)
        mean, std = xt.mean((0, 2, 3), keepdim=True), xt.std((0, 2, 3), keepdim=True)
        xt, xv = (xt - mean) / std, (xv - mean) / std
        if self.bug == "val_channels_bgr":
            xv = xv.flip(1)  # BUG val_channels_bgr: the validation images' channels in BGR order
        self.x_train, self.y_train, self.x_val, self.y_val = xt, yt, xv, yv

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = DiscsCNN(self.bug)

        def loss(model, b):
            if self.bug == "loss_on_softmax":
                return F.cross_entropy(model(b[0]).softmax(-1), b[1])  # BUG loss_on_softmax: probabilities as logits
            return F.cross_entropy(model(b[0]), b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:1000], y[:1000]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(CLASSES),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
