"""Held-out-32 family 2: a small residual CNN with BatchNorm naming the orientation (0, 45, 90, 135 degrees) and
spatial frequency (period 4 or 8 pixels) of a sinusoidal grating in a noisy 16x16 grey image (8 classes).

Each image: cos(2 pi (x cos t + y sin t) / period + phase), random phase, plus N(0, 0.6²) noise. Torch seed 0: 2000
training and 500 validation images (standardised with the training mean and std). Model: Conv(1, 16, 3) - BN - ReLU;
a residual block (Conv - BN - ReLU - Conv - BN, plus its input, ReLU); max-pool 2; Conv(16, 32, 3) - BN - ReLU;
global average pool; Linear(32, 8). Cross-entropy; Adam at 0.003. Tuple batches (image (B, 1, 16, 16), class (B,)).
Metrics: loss and accuracy on the stage's images (at most 1000) and on validation; extras y_val. Each bug is one
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

BUGS = ("none", "val_images_transposed", "targets_rolled_in_loss", "bn_gamma_zero", "residual_adds_input_twice",
        "bn_momentum_zero")
N_TRAIN, N_VAL, CLASSES, S = 2000, 500, 8, 16
NOISE = 1.5


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.randint(0, CLASSES, (n,), generator=g)
    theta = (y % 4).float() * math.pi / 4
    period = torch.where(y < 4, torch.tensor(4.0), torch.tensor(8.0))
    phase = torch.rand(n, generator=g) * 2 * math.pi
    r = torch.arange(S).float()
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    arg = (xx[None] * theta.cos()[:, None, None] + yy[None] * theta.sin()[:, None, None]) / period[:, None, None]
    img = torch.cos(2 * math.pi * arg + phase[:, None, None]) + NOISE * torch.randn(n, S, S, generator=g)
    return img[:, None], y


class GratingNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        momentum = 0.0 if bug == "bn_momentum_zero" else 0.1  # BUG bn_momentum_zero: running stats never updated
        self.stem, self.bn0 = nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16, momentum=momentum)
        self.c1, self.bn1 = nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16, momentum=momentum)
        self.c2, self.bn2 = nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16, momentum=momentum)
        self.c3, self.bn3 = nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32, momentum=momentum)
        self.fc = nn.Linear(32, CLASSES)
        if bug == "bn_gamma_zero":
            for bn in (self.bn0, self.bn1, self.bn2, self.bn3):
                nn.init.zeros_(bn.weight)  # BUG bn_gamma_zero: every BatchNorm scale starts at 0

    def forward(self, x):
        h = F.relu(self.bn0(self.stem(x)))
        r = self.bn2(self.c2(F.relu(self.bn1(self.c1(h)))))
        if self.bug == "residual_adds_input_twice":
            h = F.relu(h + h)  # BUG residual_adds_input_twice: the block's input added to itself, its branch r dropped
        else:
            h = F.relu(h + r)
        h = F.relu(self.bn3(self.c3(F.max_pool2d(h, 2))))
        return self.fc(h.mean((2, 3)))


class GratingsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "gratings")
        g = torch.Generator().manual_seed(0)
        (xt, yt), (xv, yv) = draw(N_TRAIN, g), draw(N_VAL, g)
        mean, std = xt.mean(), xt.std()
        xt, xv = (xt - mean) / std, (xv - mean) / std
        if self.bug == "val_images_transposed":
            xv = xv.transpose(-1, -2)  # BUG val_images_transposed: the validation images stored (W, H)
        self.x_train, self.y_train, self.x_val, self.y_val = xt, yt, xv, yv

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = GratingNet(self.bug)

        def loss(model, b):
            if self.bug == "targets_rolled_in_loss":
                return F.cross_entropy(model(b[0]), b[1].roll(1, 0))  # BUG targets_rolled_in_loss
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
                       evaluate=evaluate, chance_loss=math.log(CLASSES), extras={"y_val": self.y_val},
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
