"""Held-out-59 family 2: a BatchNorm 2-D CNN naming the shape of a small plotted curve (a "sparkline") on a noisy 24x24
image, with random vertical jitter in get_batch, under SGD with momentum and weight decay, over dict batches.

A sparkline: 200 points along the width, u in [0, 1], at the height f(u) of one of eight shapes (the class): a rising
line, a falling line, a valley, a hill, a wave (1.5-2.5 periods, any phase), a step up, a step down, a spike on a flat
line; each with its own random slope, centre, step place or phase, an amplitude U(0.5, 1) x 8 pixels around a baseline
row U(9, 14). Each point is drawn as a Gaussian dot (sigma 0.6 pixel), the image keeping the brightest value per pixel,
then pixel noise N(0, 0.1²) (torch seed 0): 3000 training and 600 validation images, standardised with the training
split's mean and std. Dict batches {"pixels" (B, 1, 24, 24), "shape" (B,)}; get_batch rolls each image up or down by
-2..2 rows (the class does not depend on the height). Model: three blocks Conv2d(3x3, pad 1) - BatchNorm2d - ReLU (16,
32, 64 channels; the first two followed by MaxPool2d(2)), global average pooling, Linear(64, 8). Cross-entropy; SGD
(momentum 0.9, weight decay 5e-4) at 0.05, batch 48. Metrics: loss and accuracy on the stage's first 500 images (not
jittered) and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mirror_augment", "ignore_index_zero", "bn_gain_zero", "blocks_in_plain_list")
S, CLASSES, N_TRAIN, N_VAL, POINTS, SPECKS, NOISE = 24, 8, 3000, 600, 200, 6, 0.3
NAMES = ("rise", "fall", "valley", "hill", "wave", "step_up", "step_down", "spike")


def curve(kind: int, u: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    def r(lo, hi):
        return lo + (hi - lo) * float(torch.rand(1, generator=g))

    if kind in (0, 1):
        f = r(0.6, 1.0) * (2 * u - 1)
        return f if kind == 0 else -f
    if kind in (2, 3):
        m = r(0.35, 0.65)
        f = (-1 + 2 * ((u - m) / 0.55) ** 2).clamp(max=1)
        return f if kind == 2 else -f
    if kind == 4:
        return torch.sin(2 * math.pi * r(1.5, 2.5) * u + r(0, 2 * math.pi))
    if kind in (5, 6):
        f = -1 + 2 * torch.sigmoid((u - r(0.3, 0.7)) / 0.012)
        return f if kind == 5 else -f
    return -0.8 + 1.8 * torch.exp(-((u - r(0.2, 0.8)) / 0.04) ** 2)


def draw(n: int, g: torch.Generator):
    rows = torch.arange(S, dtype=torch.float32)
    u = torch.linspace(0, 1, POINTS)
    xs = 1 + u * (S - 3)
    labels = torch.randint(0, CLASSES, (n,), generator=g)
    images = torch.zeros(n, 1, S, S)
    for i in range(n):
        base, amp = 9 + 5 * float(torch.rand(1, generator=g)), 8 * (0.3 + 0.7 * float(torch.rand(1, generator=g)))
        ys = base - amp * curve(int(labels[i]), u, g)
        d2 = (rows[:, None, None] - ys[None, None, :]) ** 2 + (rows[None, :, None] - xs[None, None, :]) ** 2
        images[i, 0] = torch.exp(-d2 / (2 * 0.6 ** 2)).amax(-1)
        for _ in range(SPECKS):
            r, c = (int(v) for v in torch.randint(0, S - 1, (2,), generator=g))
            images[i, 0, r:r + 2, c:c + 2] = 0.5 + 0.5 * float(torch.rand(1, generator=g))
    return images + NOISE * torch.randn(n, 1, S, S, generator=g), labels


def block(cin: int, cout: int, pool: bool) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2)) if pool else nn.Sequential(*layers)


class SparkCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        if bug == "blocks_in_plain_list":
            self.blocks = [block(1, 16, True), block(16, 32, True), block(32, 64, False)]  # BUG blocks_in_plain_list: a plain list where nn.ModuleList was meant: the blocks are not registered, so no optimiser holds them
        else:
            self.blocks = nn.ModuleList([block(1, 16, True), block(16, 32, True), block(32, 64, False)])
        self.head = nn.Linear(64, CLASSES)
        if bug == "bn_gain_zero":
            [nn.init.zeros_(m.weight) for m in self.modules() if isinstance(m, nn.BatchNorm2d)]  # BUG bn_gain_zero: the ResNet trick (zero gain on a residual branch's last BatchNorm) applied to every BatchNorm of a plain stack

    def forward(self, x):  # (B, 1, 24, 24) -> (B, 8)
        for b in self.blocks:
            x = b(x)
        return self.head(x.mean((2, 3)))


def shape_loss(logits, labels, bug: str = "none"):
    if bug == "ignore_index_zero":
        return F.cross_entropy(logits, labels, ignore_index=0)  # BUG ignore_index_zero: ignore_index=0 copied from a tagger's loss (PAD = 0 there), where 0 is the class "rise"
    return F.cross_entropy(logits, labels)


class SparklinesTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "sparklines")
        g = torch.Generator().manual_seed(0)
        x, y = draw(N_TRAIN + N_VAL, g)
        mean, std = x[:N_TRAIN].mean(), x[:N_TRAIN].std()
        x = (x - mean) / std
        self.train = {"pixels": x[:N_TRAIN], "shape": y[:N_TRAIN]}
        self.val = {"pixels": x[N_TRAIN:], "shape": y[N_TRAIN:]}

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        data = {k: v[:n] for k, v in self.train.items()}
        model = SparkCNN(self.bug)
        bug = self.bug

        def get_batch(idx):
            pixels = data["pixels"][idx]
            shifts = torch.randint(-2, 3, (len(idx),)).tolist()
            pixels = torch.stack([p.roll(s, dims=-2) for p, s in zip(pixels, shifts)])
            if bug == "mirror_augment":
                pixels = torch.where((torch.rand(len(idx)) < 0.5)[:, None, None, None], pixels.flip(-1), pixels)  # BUG mirror_augment: a left-right mirror added to the jitter, as for photographs: it turns a rise into a fall and a step up into a step down, the label kept
            return {"pixels": pixels, "shape": data["shape"][idx]}

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, d in (("train", {k: v[:500] for k, v in data.items()}), ("val", self.val)):
                    d = on_device_of(model, d)
                    logits = model(d["pixels"])
                    out[f"{split}/loss"] = F.cross_entropy(logits, d["shape"]).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == d["shape"]).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: shape_loss(model(b["pixels"]), b["shape"], bug), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b["pixels"]),
                       targets=lambda b: b["shape"])
