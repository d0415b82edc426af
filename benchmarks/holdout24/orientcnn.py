"""Held-out-24 family 2: a CNN regressing the orientation of a bar in a noisy image, on the unit circle.

Each 16x16 grey image holds one anti-aliased bar (length 6..11 px, width ~1.4 px, brightness 0.6..1.0) through a
point near the centre at an angle theta in [0, pi), plus pixel noise 0.15; images standardised with the training
images' mean and std. Orientation is defined modulo pi, so the target is (cos 2 theta, sin 2 theta). Training
batches are augmented: each image is flipped left-right with probability 1/2, which maps theta to pi - theta (target
(cos 2 theta, -sin 2 theta)). Torch seed 0: 3000 training, 400 validation images. Model: conv 1 -> 16 (3x3) - ReLU -
max-pool, conv 16 -> 32 - ReLU - max-pool, flatten (512) - Linear(512, 64) - ReLU - Linear(64, 2), the output
divided by its length (written out) so the prediction lies on the unit circle. Loss: MSE against the target
(`chance_loss` 1: a random direction on the circle). Adam at 0.003. Tuple batches (images (B, 1, 16, 16), targets
(B, 2)). Metrics: loss, accuracy (angle error below 5 degrees) on the stage's images (at most 500) and validation,
validation mean error in degrees. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "flip_keeps_angle", "images_kept_0_255", "head_zero_init", "head_built_in_forward")
SIZE, N_TRAIN, N_VAL, TOLERANCE = 16, 3000, 400, 5.0


def draw(n: int, g: torch.Generator):
    theta = torch.rand(n, generator=g) * math.pi
    centre = (SIZE - 1) / 2 + (torch.rand(n, 2, generator=g) - 0.5) * 4
    half = (6 + 5 * torch.rand(n, generator=g)) / 2
    bright = 0.6 + 0.4 * torch.rand(n, generator=g)
    ys, xs = torch.meshgrid(torch.arange(SIZE, dtype=torch.float), torch.arange(SIZE, dtype=torch.float), indexing="ij")
    dx, dy = xs[None] - centre[:, 0, None, None], ys[None] - centre[:, 1, None, None]
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    along, across = dx * c + dy * s, -dx * s + dy * c
    inside = torch.sigmoid(2 * (half[:, None, None] - along.abs()))
    img = bright[:, None, None] * inside * torch.exp(-across ** 2 / (2 * 0.6 ** 2))
    img = img + 0.15 * torch.randn(img.shape, generator=g)
    return img[:, None], torch.stack([torch.cos(2 * theta), torch.sin(2 * theta)], 1)


def angle_error(pred, target):  # degrees between two orientations given as (cos 2t, sin 2t), in [0, 90]
    diff = torch.atan2(pred[:, 1], pred[:, 0]) - torch.atan2(target[:, 1], target[:, 0])
    return torch.rad2deg(torch.atan2(torch.sin(diff), torch.cos(diff)).abs() / 2)


class OrientCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.features = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        if bug == "head_zero_init":
            for p in self.features.parameters():
                nn.init.constant_(p, 0.05)  # noqa: E501  BUG conv_constant_init: every conv weight and bias set to one small constant
        self.fc = nn.Linear(32 * (SIZE // 4) ** 2, 64)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(64, 2))
        if bug == "head_zero_init":
            for p in self.head.parameters():
                nn.init.zeros_(p)  # BUG head_zero_init: the last layer zero-initialised (a regression-head habit)

    def forward(self, x):  # (B, 1, H, W) -> (B, 2) on the unit circle
        h = self.features(x)
        if self.bug == "head_built_in_forward":
            self.fc = nn.Linear(h.shape[1], 64)  # noqa: E501  BUG head_built_in_forward: the layer (re)built in forward, sized from the input
        out = self.head(self.fc(h))
        return out / out.norm(dim=1, keepdim=True)


class OrientCNNTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/deg")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "orientcnn")
        g = torch.Generator().manual_seed(0)
        self.x_train, self.y_train = draw(N_TRAIN, g)
        self.x_val, self.y_val = draw(N_VAL, g)
        mean, std = self.x_train.mean(), self.x_train.std()
        if self.bug == "images_kept_0_255":
            self.x_train, self.x_val = self.x_train * 255, self.x_val * 255  # noqa: E501  BUG images_kept_0_255: 8-bit intensities, not standardised
        else:
            self.x_train, self.x_val = (self.x_train - mean) / std, (self.x_val - mean) / std

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = OrientCNN(self.bug)

        def get_batch(idx):
            xb, yb = x[idx], y[idx].clone()
            flip = torch.rand(len(idx)) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            if self.bug != "flip_keeps_angle":  # noqa: E501  BUG flip_keeps_angle: (the line skipped) flipped images keep their angle
                yb[:, 1] = torch.where(flip, -yb[:, 1], yb[:, 1])
            return xb, yb

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    pred = model(xs)
                    err = angle_error(pred, ys)
                    out[f"{split}/loss"] = F.mse_loss(pred, ys).item()
                    out[f"{split}/acc"] = (err < TOLERANCE).float().mean().item()
                    if split == "val":
                        out["val/deg"] = err.mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: F.mse_loss(model(b[0]), b[1]), evaluate=evaluate, chance_loss=1.0,
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
