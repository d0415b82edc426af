"""Held-out-21 family 4: a CNN of depthwise-separable blocks with squeeze-and-excitation gating and BatchNorm.

Generated 28x28 grey images (torch seed 0; 2000 training, 400 validation) of 6 classes: horizontal stripes,
vertical stripes, diagonal stripes, a checkerboard (period 4..8 pixels, random phase and contrast 0.6..1), a filled
disc and a filled square (random size 5..10 and position), with N(0, 0.3^2) noise; standardised with the training
pixels' mean and std. Model: conv 3x3 (1 -> 16) - BN - ReLU, then two blocks (16 -> 32, 32 -> 64, stride 2): a
depthwise conv 3x3 (groups = channels, stride 2) - BN - ReLU, a pointwise conv 1x1 - BN - ReLU, hand-written SE
(global average pool over H, W -> linear C -> C/4 - ReLU -> linear C/4 -> C - Sigmoid -> scale the channels); global
average pool, linear to 6 classes. Loss: cross-entropy. Adam at 0.003. Tuple batches (images (B, 1, 28, 28),
labels). Metrics: loss and accuracy (train on the first 400). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "se_pool_over_batch", "se_squeeze_zero_init", "se_gate_detached", "rot90_augment")
SIZE, CLASSES, N_TRAIN, N_VAL = 28, 6, 2000, 400


def draw(n: int, g: torch.Generator):
    axis = torch.arange(SIZE).float()
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    images, labels = torch.zeros(n, 1, SIZE, SIZE), torch.randint(CLASSES, (n,), generator=g)
    for i in range(n):
        c = int(labels[i])
        period, phase = 4 + 4 * float(torch.rand(1, generator=g)), 2 * math.pi * float(torch.rand(1, generator=g))
        contrast = 0.6 + 0.4 * float(torch.rand(1, generator=g))
        if c < 4:
            coord = (rows, cols, rows + cols)[c] if c < 3 else None
            if c == 3:
                wave = torch.sign(torch.sin(2 * math.pi * rows / period + phase)
                                  * torch.sin(2 * math.pi * cols / period))
            else:
                wave = torch.sign(torch.sin(2 * math.pi * coord / period * (0.7 if c == 2 else 1) + phase))
            images[i, 0] = contrast * wave
        else:
            size = 5 + int(torch.randint(6, (1,), generator=g))
            r, q = (size + (SIZE - 2 * size) * torch.rand(2, generator=g)).tolist()
            if c == 4:
                shape = (rows - r) ** 2 + (cols - q) ** 2 <= size ** 2
            else:
                shape = ((rows - r).abs() <= size * 0.8) & ((cols - q).abs() <= size * 0.8)
            images[i, 0] = contrast * shape.float()
    return images + 0.3 * torch.randn(images.shape, generator=g), labels


class SE(nn.Module):
    def __init__(self, c: int, bug: str):
        super().__init__()
        self.bug = bug
        self.fc1, self.fc2, self.gate = nn.Linear(c, c // 4), nn.Linear(c // 4, c), nn.Sigmoid()
        if bug == "se_squeeze_zero_init":
            [nn.init.zeros_(t) for t in (self.fc1.weight, self.fc1.bias)]  # noqa: E501  BUG se_squeeze_zero_init: the squeeze layer zeroed (meant: every gate starts at the same value)
        self.relu = nn.ReLU()

    def forward(self, x):
        pooled = x.mean((2, 3))
        if self.bug == "se_pool_over_batch":
            pooled = x.mean((0, 2, 3)).expand(len(x), -1)  # BUG se_pool_over_batch: the squeeze averages the batch too
        s = self.gate(self.fc2(self.relu(self.fc1(pooled))))
        if self.bug == "se_gate_detached":
            s = s.detach()  # BUG se_gate_detached: the gate treated as a constant scale
        return x * s[:, :, None, None]


class SepBlock(nn.Module):
    def __init__(self, cin: int, cout: int, bug: str):
        super().__init__()
        self.dw = nn.Sequential(nn.Conv2d(cin, cin, 3, stride=2, padding=1, groups=cin, bias=False),
                                nn.BatchNorm2d(cin), nn.ReLU())
        self.pw = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
        self.se = SE(cout, bug)

    def forward(self, x):
        return self.se(self.pw(self.dw(x)))


class SENet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.blocks = nn.Sequential(SepBlock(16, 32, bug), SepBlock(32, 64, bug))
        self.head = nn.Linear(64, CLASSES)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


class SETask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "secnn")
        g = torch.Generator().manual_seed(0)
        x_train, self.y_train = draw(N_TRAIN, g)
        x_val, self.y_val = draw(N_VAL, g)
        mu, sd = x_train.mean(), x_train.std()
        self.x_train, self.x_val = (x_train - mu) / sd, (x_val - mu) / sd

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = SENet(self.bug)

        def get_batch(idx):
            xb = x[idx]
            if self.bug == "rot90_augment":
                turn = torch.rand(len(idx)) < 0.5
                xb = torch.where(turn[:, None, None, None], xb.rot90(1, (2, 3)), xb)  # noqa: E501  BUG rot90_augment: a random quarter turn as augmentation, label kept (horizontal stripes become vertical ones)
            return xb, y[idx]

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:400], y[:400]), ("val", self.x_val, self.y_val)):
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: F.cross_entropy(model(b[0]), b[1]), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b[0]), targets=lambda b: b[1],
                       extras={"y_val": self.y_val})
