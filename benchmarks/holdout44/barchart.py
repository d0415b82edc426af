"""Held-out-44 family 2: a 2-D CNN reading a bar chart and naming its tallest bar (four classes), over dict batches,
with a random mirror augmentation that relabels the flipped charts.

A chart: 16 x 20 pixels, a background level U(0, 0.3), pixel noise N(0, 0.12²); four bars two pixels wide at columns
3, 7, 11, 15, rising from a baseline 0..3 rows above the bottom (one per chart), their heights four distinct values
of 3..12, each bar at a level U(0.5, 1.0); stored as uint8 and read as (x / 255 - mean) / std with the training pixels' mean and std. The class:
the index (left to right) of the tallest bar. Training batches are mirrored left-right at random (each chart with
probability 1/2), its class then 3 - class. Torch seed 0 draws 3000 training and 600 validation charts. Model:
Conv2d(1, 16, 3) - BatchNorm - ReLU - Conv2d(16, 32, 3) - BatchNorm - ReLU - MaxPool 2 - Conv2d(32, 32, 3) -
BatchNorm - ReLU - MaxPool 2 (convolutions padded; the 2x2 max-pool written out) - flatten (640, the bars' places kept) - Linear(640, 64) - ReLU - Linear(64, 4); cross-entropy;
Adam at 0.003. Dict batches {pixels (B, 1, 16, 20), tallest (B,)}. Metrics: loss and accuracy on the stage's first
500 charts (not mirrored) and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "flip_relabels_all", "features_detached", "normal_init_std1", "global_pool_head")
H, W, COLS, CLASSES = 16, 20, (3, 7, 11, 15), 4
N_TRAIN, N_VAL = 3000, 600


def draw(n: int, g: torch.Generator):
    img = (torch.rand(n, 1, 1, 1, generator=g) * 0.3).expand(n, 1, H, W).clone()
    heights = torch.stack([torch.randperm(10, generator=g)[:4] + 3 for _ in range(n)])
    base = torch.randint(0, 4, (n,), generator=g)
    levels = torch.rand(n, 4, generator=g) * 0.5 + 0.5
    for i in range(n):
        for j, c in enumerate(COLS):
            top = H - int(base[i]) - int(heights[i, j])
            img[i, 0, top:H - int(base[i]), c:c + 2] = levels[i, j]
    img = img + torch.randn(n, 1, H, W, generator=g) * 0.12
    return (img.clamp(0, 1) * 255).round().to(torch.uint8), heights.argmax(1)


class BarChartCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.convs = nn.ModuleList([nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1),
                                    nn.Conv2d(32, 32, 3, padding=1)])
        self.bns = nn.ModuleList([nn.BatchNorm2d(c) for c in (16, 32, 32)])
        if bug == "global_pool_head":
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 64), nn.ReLU(),
                                      nn.Linear(64, CLASSES))  # BUG global_pool_head: a ResNet head's average pool, the bars' places averaged away
        else:
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(640, 64), nn.ReLU(), nn.Linear(64, CLASSES))
        if bug == "normal_init_std1":
            [nn.init.normal_(m.weight) for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]  # BUG normal_init_std1: std 1, not ~1/sqrt(fan_in)

    def pool(self, x):  # a hand-written 2x2 max-pool
        b, c, h, w = x.shape
        return x.view(b, c, h // 2, 2, w // 2, 2).amax((3, 5))

    def forward(self, x):  # (B, 1, 16, 20) -> (B, 4)
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            x = F.relu(bn(conv(x)))
            if i > 0:
                x = self.pool(x)
        if self.bug == "features_detached":
            return self.head(x.detach())  # BUG features_detached: a linear-probe habit, no gradient reaches the convolutions
        return self.head(x)


class BarChartTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "barchart")
        g = torch.Generator().manual_seed(0)
        (self.x_train, self.y_train), (self.x_val, self.y_val) = draw(N_TRAIN, g), draw(N_VAL, g)
        pixels = self.x_train.float() / 255
        self.mean, self.std = pixels.mean().item(), pixels.std().item()

    def read(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() / 255 - self.mean) / self.std

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = BarChartCNN(self.bug)
        bug = self.bug

        def get_batch(idx):
            pixels, tallest = self.read(x[idx]), y[idx]
            flip = torch.rand(len(idx)) < 0.5
            pixels = torch.where(flip[:, None, None, None], pixels.flip(-1), pixels)
            if bug == "flip_relabels_all":
                tallest = 3 - tallest  # BUG flip_relabels_all: every class mirrored, not only the flipped charts'
            else:
                tallest = torch.where(flip, 3 - tallest, tallest)
            return {"pixels": pixels, "tallest": tallest}

        def loss(model, b):
            return F.cross_entropy(model(b["pixels"]), b["tallest"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, self.read(xs)), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b["pixels"]),
                       targets=lambda b: b["tallest"], extras={"y_val": self.y_val})
