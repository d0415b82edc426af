"""Held-out-14 family 1: a VGG-style CNN on generated colour shapes, trained with SGD + momentum and a step decay.

Each 3x16x16 image holds one filled shape (square, disk or triangle pointing up: all three mirror-symmetric) of
side 6..10 at a random place, in one of two hues (reddish or bluish, the channel levels jittered), on a grey
background with Gaussian noise (std 0.15); the class is shape x hue (6 classes). The pixels are standardised per
channel with the training images' statistics. The batch function flips a random half of the images left-right
(augmentation). Model: two VGG blocks (conv 3x3 - BatchNorm - ReLU twice, max-pool 2), 3 -> 16 -> 32 channels,
flatten (32 x 4 x 4), dropout 0.3, linear 512 -> 64, ReLU, linear 64 -> 6; cross-entropy. The config trains it with
SGD (momentum 0.9) at LR 0.05, halved every 300 steps (StepLR).
Tuple batches (images (B, 3, 16, 16), classes (B,)). Goal: validation accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "flip_reorders_images", "batch_standardised_inputs", "bn_gamma_zero")
SIZE, SHAPES, HUES, NOISE = 16, 3, 2, 0.15
CLASSES = SHAPES * HUES
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 500


def shape_mask(shape: int, side: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(side) + 0.5, torch.arange(side) + 0.5, indexing="ij")
    if shape == 0:    # filled square
        return torch.ones(side, side)
    if shape == 1:    # disk
        return (((yy - side / 2) ** 2 + (xx - side / 2) ** 2) <= (side / 2) ** 2).float()
    return ((xx - side / 2).abs() <= yy / 2).float()  # triangle, apex up


def images(n: int, g: torch.Generator):
    x = 0.5 + NOISE * torch.randn(n, 3, SIZE, SIZE, generator=g)
    y = torch.randint(CLASSES, (n,), generator=g)
    for i in range(n):
        shape, hue = divmod(int(y[i]), HUES)
        side = int(torch.randint(6, 11, (1,), generator=g))
        top, left = torch.randint(0, SIZE - side + 1, (2,), generator=g).tolist()
        base = torch.tensor([0.9, 0.3, 0.2]) if hue == 0 else torch.tensor([0.2, 0.3, 0.9])
        colour = base + 0.1 * torch.randn(3, generator=g)
        m = shape_mask(shape, side)
        patch = x[i, :, top:top + side, left:left + side]
        x[i, :, top:top + side, left:left + side] = patch * (1 - m) + colour[:, None, None] * m
    return x, y


def block(c_in: int, c_out: int, bug: str, last: bool) -> nn.Sequential:
    layers = nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                           nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2))
    if bug == "bn_gamma_zero" and last:
        nn.init.zeros_(layers[4].weight)  # BUG bn_gamma_zero: ResNet's zero-init of the last BN, without a skip
    return layers


class VGG(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.features = nn.Sequential(block(3, 16, bug, last=False), block(16, 32, bug, last=True))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
                                  nn.Linear(64, CLASSES))

    def forward(self, x):  # (B, 3, 16, 16) -> (B, 6)
        if self.bug == "batch_standardised_inputs":
            x = (x - x.mean((0, 2, 3), keepdim=True)) / x.std((0, 2, 3), keepdim=True)  # BUG batch_standardised_inputs
        return self.head(self.features(x))


def flipped(x: torch.Tensor, bug: str) -> torch.Tensor:
    """Augmentation: a random half of the images mirrored left-right (every shape is mirror-symmetric)."""
    flip = torch.rand(len(x)) < 0.5
    if bug == "flip_reorders_images":
        return torch.cat([x[~flip], x[flip].flip(-1)])  # BUG flip_reorders_images: the labels keep their order
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


class VGGTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "vgg")
        g = torch.Generator().manual_seed(DATA_SEED)
        (x, y), (vx, vy) = images(N_TRAIN, g), images(N_VAL, g)
        mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
        self.train, self.val = ((x - mean) / std, y), ((vx - mean) / std, vy)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = VGG(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (xs, ys) in (("train", (x, y)), ("val", self.val)):
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (flipped(x[idx], self.bug), y[idx]),
                       loss=lambda model, b: F.cross_entropy(model(b[0]), b[1]), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b[0]), targets=lambda b: b[1],
                       show_batch=lambda b: b[0])
