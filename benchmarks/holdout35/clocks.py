"""Held-out-35 family 2: a 2-D CNN reading the hour from a one-handed clock face.

An image is 24x24 grey: a dial (a faint ring of radius 10.5 around a centre moved by up to +-1 pixel), and one hand
from the centre toward hour k (0..11, 12 o'clock is 0, clockwise, angle 30k degrees +- 6), 6..10 pixels long and
about 1.3 pixels thick, of brightness U(0.6, 1), on N(0, 0.08²) pixel noise; pixels standardised with the training
mean and std. Torch seed 0 draws 3000 training and 600 validation faces, the twelve hours equally likely. Training
batches are augmented at random: each face mirrored left-right with probability 1/2, its hour mapped to (12 - k) mod
12. Model: Conv2d(1, 16, 3) - a hand-written per-example normalisation over (C, H, W) with a learnt per-channel
gain and bias - ReLU - max-pool 2 - Conv2d(16, 32, 3) - the same normalisation - ReLU - max-pool 2 - flatten -
Linear(1152, 12). Cross-entropy; Adam at 0.002. Tuple batches (faces (B, 1, 24, 24), hour (B,)). Metrics: loss and
accuracy on the stage's faces (at most 1000, not mirrored) and on validation; extras y_val. Each bug is one line,
marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "head_softmax", "norm_over_batch", "flip_label_kept", "head_init_normal", "stem_detached")
N_TRAIN, N_VAL, SIZE, HOURS = 3000, 600, 24, 12


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    hour = torch.randint(0, HOURS, (n,), generator=g)
    centre = (SIZE - 1) / 2 + 2 * torch.rand(n, 2, generator=g) - 1  # (cy, cx)
    angle = (30 * hour + 12 * torch.rand(n, generator=g) - 6) * math.pi / 180
    length = 6 + 4 * torch.rand(n, generator=g)
    bright = 0.6 + 0.4 * torch.rand(n, generator=g)
    yy, xx = torch.meshgrid(torch.arange(SIZE).float(), torch.arange(SIZE).float(), indexing="ij")
    py, px = yy[None] - centre[:, 0, None, None], xx[None] - centre[:, 1, None, None]
    dy, dx = -torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]  # up is -y
    along = (py * dy + px * dx).clamp(min=0)
    along = torch.minimum(along, length[:, None, None])
    dist = ((py - along * dy) ** 2 + (px - along * dx) ** 2).sqrt()
    hand = (1.3 - dist).clamp(0, 1) * bright[:, None, None]
    ring = 0.3 * (1 - ((py ** 2 + px ** 2).sqrt() - 10.5).abs()).clamp(0, 1)
    x = torch.maximum(hand, ring) + 0.08 * torch.randn(n, SIZE, SIZE, generator=g)
    return x[:, None], hour


class Norm(nn.Module):
    """A hand-written per-example normalisation over (C, H, W) with a per-channel gain and bias."""

    def __init__(self, channels: int, bug: str):
        super().__init__()
        self.bug = bug
        self.gain, self.bias = nn.Parameter(torch.ones(channels, 1, 1)), nn.Parameter(torch.zeros(channels, 1, 1))

    def forward(self, h):
        if self.bug == "norm_over_batch":
            dims = (0, 2, 3)  # BUG norm_over_batch: statistics over the batch and the pixels, not the example
        else:
            dims = (1, 2, 3)
        mu, var = h.mean(dims, keepdim=True), h.var(dims, keepdim=True, unbiased=False)
        return (h - mu) / (var + 1e-5).sqrt() * self.gain + self.bias


class ClockCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.conv1, self.norm1 = nn.Conv2d(1, 16, 3, padding=1), Norm(16, bug)
        self.conv2, self.norm2 = nn.Conv2d(16, 32, 3, padding=1), Norm(32, bug)
        self.head = nn.Linear(32 * 6 * 6, HOURS)
        if bug == "head_init_normal":
            nn.init.normal_(self.head.weight)  # BUG head_init_normal: std 1 instead of ~1/sqrt(3 * 1152)

    def forward(self, x):  # (B, 1, 24, 24) -> (B, 12)
        h = F.max_pool2d(F.relu(self.norm1(self.conv1(x))), 2)
        if self.bug == "stem_detached":
            h = h.detach()  # BUG stem_detached: the first block cut from the gradient
        h = F.max_pool2d(F.relu(self.norm2(self.conv2(h))), 2)
        logits = self.head(h.flatten(1))
        if self.bug == "head_softmax":
            return logits.softmax(-1)  # BUG head_softmax: probabilities out, then cross-entropy softmaxes again
        return logits


class ClocksTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "clocks")
        g = torch.Generator().manual_seed(0)
        (xt, self.y_train), (xv, self.y_val) = draw(N_TRAIN, g), draw(N_VAL, g)
        mean, std = xt.mean(), xt.std()
        self.x_train, self.x_val = (xt - mean) / std, (xv - mean) / std

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = ClockCNN(self.bug)

        def get_batch(idx):
            xb, yb = x[idx], y[idx]
            flip = torch.rand(len(idx)) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            if self.bug == "flip_label_kept":
                yb = yb.clone()  # BUG flip_label_kept: a mirrored face keeps its hour
            else:
                yb = torch.where(flip, (HOURS - yb) % HOURS, yb)
            return xb, yb

        def loss(model, b):
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

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(HOURS), extras={"y_val": self.y_val},
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
