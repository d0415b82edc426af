"""Held-out-36 family 2: a 2-D CNN with a hand-written BatchNorm naming the tetromino (I O T S Z J L) drawn on a
20x20 grey canvas, under random quarter-turn augmentation.

An image: the four cells of a tetromino, each a 3x3 block, in one of its four rotations (uniform), placed anywhere on
the canvas that it fits, each piece of brightness U(0.5, 1), on N(0, 0.15²) pixel noise; pixels standardised with
the training mean and std. Torch seed 0 draws 3000 training and 600 validation images, the seven pieces equally
likely. Training batches are turned at random by 0, 1, 2 or 3 quarter turns (a rotation keeps the piece's name; a
mirror image would swap S with Z and J with L). Model: three blocks Conv2d(3x3, padding 1) - a hand-written
BatchNorm2d (batch statistics over (N, H, W) in training, running statistics with momentum 0.1 in eval; a learnt
per-channel gain and bias) - ReLU, with max-pooling 2 after the first two (1 -> 16 -> 32 -> 64 channels), a global
max-pool, Linear(64, 7). Cross-entropy; Adam at 0.002. Tuple batches (images (B, 1, 20, 20), piece (B,)). Metrics:
loss and accuracy on the stage's images (at most 1000, not turned) and on validation; extras y_val. Each bug is one
line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "flip_swaps_chirality", "bn_eval_batch_stats", "head_frozen", "logits_over_100")
PIECES = {  # (row, col) cells at rotation 0
    "I": ((0, 0), (0, 1), (0, 2), (0, 3)), "O": ((0, 0), (0, 1), (1, 0), (1, 1)),
    "T": ((0, 0), (0, 1), (0, 2), (1, 1)), "S": ((0, 1), (0, 2), (1, 0), (1, 1)),
    "Z": ((0, 0), (0, 1), (1, 1), (1, 2)), "J": ((0, 0), (1, 0), (1, 1), (1, 2)),
    "L": ((0, 2), (1, 0), (1, 1), (1, 2)),
}
NAMES = tuple(PIECES)
N_TRAIN, N_VAL, SIZE, CELL = 3000, 600, 20, 3


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    label = torch.randint(0, len(NAMES), (n,), generator=g)
    x = 0.15 * torch.randn(n, 1, SIZE, SIZE, generator=g)
    for i in range(n):
        cells = torch.tensor(PIECES[NAMES[int(label[i])]])
        for _ in range(int(torch.randint(0, 4, (1,), generator=g))):
            cells = torch.stack([cells[:, 1], -cells[:, 0]], 1)  # a quarter turn
        cells = cells - cells.min(0).values
        h, w = (int(v) + 1 for v in cells.max(0).values)
        top = int(torch.randint(0, SIZE - CELL * h + 1, (1,), generator=g))
        left = int(torch.randint(0, SIZE - CELL * w + 1, (1,), generator=g))
        bright = 0.5 + 0.5 * float(torch.rand(1, generator=g))
        for r, c in cells.tolist():
            y0, x0 = top + CELL * r, left + CELL * c
            x[i, 0, y0:y0 + CELL, x0:x0 + CELL] += bright
    return x, label


class HandBatchNorm(nn.Module):
    def __init__(self, channels: int, bug: str):
        super().__init__()
        self.bug = bug
        self.gain, self.bias = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, h):  # (B, C, H, W)
        if self.training:
            mu, var = h.mean((0, 2, 3)), h.var((0, 2, 3), unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(mu, 0.1)
                self.running_var.lerp_(var, 0.1)
        elif self.bug == "bn_eval_batch_stats":
            mu, var = h.mean((0, 2, 3)), h.var((0, 2, 3), unbiased=False)  # BUG bn_eval_batch_stats
        else:
            mu, var = self.running_mean, self.running_var
        h = (h - mu[:, None, None]) / (var[:, None, None] + 1e-5).sqrt()
        return h * self.gain[:, None, None] + self.bias[:, None, None]


class TetrominoCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 16, 3, padding=1), HandBatchNorm(16, bug)
        self.conv2, self.bn2 = nn.Conv2d(16, 32, 3, padding=1), HandBatchNorm(32, bug)
        self.conv3, self.bn3 = nn.Conv2d(32, 64, 3, padding=1), HandBatchNorm(64, bug)
        self.head = nn.Linear(64, len(NAMES))
        if bug == "head_frozen":
            self.head.requires_grad_(False)  # BUG head_frozen: the classifier frozen at its random init

    def forward(self, x):  # (B, 1, 20, 20) -> (B, 7)
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        h = F.max_pool2d(F.relu(self.bn2(self.conv2(h))), 2)
        h = F.relu(self.bn3(self.conv3(h))).amax((2, 3))
        return self.head(h)


class TetrominoTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "tetromino")
        g = torch.Generator().manual_seed(0)
        (xt, self.y_train), (xv, self.y_val) = draw(N_TRAIN, g), draw(N_VAL, g)
        mean, std = xt.mean(), xt.std()
        self.x_train, self.x_val = (xt - mean) / std, (xv - mean) / std

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = TetrominoCNN(self.bug)

        def get_batch(idx):
            xb, yb = x[idx].clone(), y[idx]
            turns = torch.randint(0, 4, (len(idx),))
            for k in (1, 2, 3):
                xb[turns == k] = xb[turns == k].rot90(k, (2, 3))
            if self.bug == "flip_swaps_chirality":
                xb = torch.where(torch.rand(len(idx))[:, None, None, None] < 0.5, xb.flip(-1), xb)  # BUG flip_swaps_chirality  # noqa: E501
            return xb, yb

        def loss(model, b):
            logits = model(b[0])
            if self.bug == "logits_over_100":
                logits = logits / 100  # BUG logits_over_100: a temperature of 100 in the training loss
            return F.cross_entropy(logits, b[1])

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
                       chance_loss=math.log(len(NAMES)), extras={"y_val": self.y_val},
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
