"""Held-out-41 family 2: a 2-D CNN with BatchNorm naming the direction of an arrow drawn somewhere in a 16x16 image
(up, down, left, right) or saying that there is none (five classes), over dict batches.

An image: a background level of k/64 (k uniform 0..19), no pixel noise; an arrow (a shaft of 7 pixels and a
two-pixel-wide V head, one pixel thick) at level U{40..64}/64 centred at a uniform place of the canvas and turned by
k x 90 degrees; an arrow that does not fit on the canvas is redrawn (rejection sampling: the images and the labels
kept with one mask); class 0 (`none`) is the background alone. Every level is a multiple of 1/64; the images are
standardised with the training pixels' mean and std rounded to 1/8 ((x - 0.125) / 0.125), so every value is a
multiple of 1/8 and sums over an image are exact.
Torch generator seed 0 draws the candidates for 3000 training images, seed 1 for 600 validation ones. Each image is
standardised by its own mean and std (+1e-5) inside the model (a blank image becomes zeros). Model: three Conv2d(3x3)
- BatchNorm2d - ReLU (16, 32, 32 channels), max-pooling after the first two, mean over positions, Linear(32, 5);
cross-entropy; Adam at 0.003. Dict batches {image (B, 1, 16, 16), label (B,)}. Metrics: loss and accuracy on the
stage's first 500 images and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "keep_mask_images_only", "ignore_index_class0", "bn_gamma_zero", "contrast_norm_no_eps",
        "norms_in_plain_list")
CLASSES, S = 5, 16  # none, right, up, left, down
N_TRAIN, N_VAL = 3000, 600
MEAN, STD = 0.125, 0.125  # the training pixels' mean and std (0.169, 0.143) rounded to 1/8: levels stay exact


def candidates(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n candidate images, their labels and whether each arrow fits on the canvas."""
    y = torch.randint(0, CLASSES, (n,), generator=g)
    bg = torch.randint(0, 20, (n,), generator=g).float() / 64
    fg = torch.randint(40, 65, (n,), generator=g).float() / 64
    cy, cx = torch.randint(0, S, (n,), generator=g), torch.randint(0, S, (n,), generator=g)
    x = bg[:, None, None].repeat(1, S, S)
    keep = torch.ones(n, dtype=torch.bool)
    shape = [(0, dx) for dx in range(-3, 4)] + [(-1, 2), (1, 2), (-2, 1), (2, 1)]  # pointing right, at (0, 0)
    for i in range(n):
        if y[i] == 0:
            continue
        k = int(y[i]) - 1  # quarter turns (counter-clockwise in image coordinates: up is -row)
        for dy, dx in shape:
            for _ in range(k):
                dy, dx = -dx, dy
            r, c = int(cy[i]) + dy, int(cx[i]) + dx
            if not (0 <= r < S and 0 <= c < S):
                keep[i] = False
                break
            x[i, r, c] = fg[i]
    return x, y, keep


def draw(n: int, g: torch.Generator, bug: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, y, keep = candidates(3 * n, g)
    x = x[keep]
    if bug == "keep_mask_images_only":
        pass  # BUG keep_mask_images_only: y = y[keep] forgotten, the labels keep the rejected candidates' places
    else:
        y = y[keep]
    return (x[:n, None] - MEAN) / STD, y[:n]


class ArrowCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.convs = nn.ModuleList([nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1),
                                    nn.Conv2d(32, 32, 3, padding=1)])
        if bug == "norms_in_plain_list":
            self.norms = [nn.BatchNorm2d(c) for c in (16, 32, 32)]  # BUG norms_in_plain_list: not an nn.ModuleList
        else:
            self.norms = nn.ModuleList([nn.BatchNorm2d(c) for c in (16, 32, 32)])
        if bug == "bn_gamma_zero":
            [nn.init.zeros_(bn.weight) for bn in self.norms]  # BUG bn_gamma_zero: the zero-gamma trick on every BN
        self.head = nn.Linear(32, CLASSES)

    def forward(self, x):  # (B, 1, 16, 16) -> (B, 5) logits
        mu = x.mean((1, 2, 3), keepdim=True)
        if self.bug == "contrast_norm_no_eps":
            x = (x - mu) / x.std((1, 2, 3), keepdim=True)  # BUG contrast_norm_no_eps: a blank image is 0 / 0
        else:
            x = (x - mu) / (x.std((1, 2, 3), keepdim=True) + 1e-5)
        for i, (conv, bn) in enumerate(zip(self.convs, self.norms)):
            x = F.relu(bn(conv(x)))
            if i < 2:
                x = F.max_pool2d(x, 2)
        return self.head(x.mean((2, 3)))


class ArrowsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "arrows")
        self.x_train, self.y_train = draw(N_TRAIN, torch.Generator().manual_seed(0), self.bug)
        self.x_val, self.y_val = draw(N_VAL, torch.Generator().manual_seed(1), "none")

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = ArrowCNN(self.bug)

        def loss(model, b):
            if self.bug == "ignore_index_class0":
                return F.cross_entropy(model(b["image"]), b["label"], ignore_index=0)  # BUG ignore_index_class0: a padding id habit
            return F.cross_entropy(model(b["image"]), b["label"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {"image": x[idx], "label": y[idx]},
                       loss=loss, evaluate=evaluate, chance_loss=math.log(CLASSES),
                       forward=lambda model, b: model(b["image"]), targets=lambda b: b["label"],
                       extras={"y_val": self.y_val})
