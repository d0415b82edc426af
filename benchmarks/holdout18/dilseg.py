"""Held-out-18 family 2: a per-pixel segmentation CNN with dilated depthwise-separable residual blocks.

Each 16x16 one-channel image holds a filled square (side 4..6) and a filled disc (radius 2.2..3.5) of the same
brightness 1 at random places (the disc drawn last), plus N(0, 0.3^2) pixel noise; the mask labels each pixel
background (0), square (1) or disc (2), so telling the shapes apart takes context, not brightness. 1500 training
and 300 validation images (torch seed 0), standardised with the training pixels' mean and std. Model: a stem conv
3x3 (1 -> 16) - ReLU; three residual blocks, each a depthwise conv 3x3 with dilation 1, 2, 4 (padding equal to
it) - a pointwise conv 1x1 - ReLU, added to the block's input; a 1x1 head to 3 classes per pixel (1507 weights).
Adam at 0.003, cross-entropy per pixel. Tuple batches (images (B, 1, 16, 16), masks (B, 16, 16)). Metrics:
per-pixel loss and accuracy (`acc`, on the first 200 training images and the validation ones; all background
scores ~0.81) and the validation foreground IoU averaged over the two shapes (`val/miou`). Goals: train pixel
accuracy on 10 and 100 images, validation pixel accuracy.
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

BUGS = ("none", "masks_transposed", "ignore_background", "stem_built_in_forward")
SIZE, CLASSES, WIDTH, DILATIONS = 16, 3, 16, (1, 2, 4)
DATA_SEED, N_TRAIN, N_VAL, NOISE = 0, 1500, 300, 0.3


def scenes(n: int, g: torch.Generator):
    rows, cols = torch.arange(SIZE)[:, None].float(), torch.arange(SIZE)[None, :].float()
    images, masks = torch.zeros(n, 1, SIZE, SIZE), torch.zeros(n, SIZE, SIZE, dtype=torch.long)
    for i in range(n):
        side = int(torch.randint(4, 7, (1,), generator=g))
        r, c = (int(v) for v in torch.randint(0, SIZE - side + 1, (2,), generator=g))
        masks[i, r:r + side, c:c + side] = 1
        radius = 2.2 + 1.3 * float(torch.rand(1, generator=g))
        cr, cc = (float(v) for v in (radius + (SIZE - 1 - 2 * radius) * torch.rand(2, generator=g)))
        masks[i][(rows - cr) ** 2 + (cols - cc) ** 2 <= radius ** 2] = 2
    images[:, 0] = (masks > 0).float() + NOISE * torch.randn(n, SIZE, SIZE, generator=g)
    return images, masks


class Block(nn.Module):
    def __init__(self, dilation: int):
        super().__init__()
        self.depthwise = nn.Conv2d(WIDTH, WIDTH, 3, padding=dilation, dilation=dilation, groups=WIDTH)
        self.pointwise = nn.Conv2d(WIDTH, WIDTH, 1)

    def forward(self, h):
        return h + torch.relu(self.pointwise(self.depthwise(h)))


class DilSeg(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.stem = nn.Conv2d(1, WIDTH, 3, padding=1)
        self.blocks = nn.Sequential(*(Block(d) for d in DILATIONS))
        self.head = nn.Conv2d(WIDTH, CLASSES, 1)

    def forward(self, x):  # (B, 1, H, W) -> (B, 3, H, W)
        stem = self.stem
        if self.bug == "stem_built_in_forward":
            stem = nn.Conv2d(1, WIDTH, 3, padding=1)  # BUG stem_built_in_forward: a new stem conv built at every call
        return self.head(self.blocks(torch.relu(stem(x))))


def miou(logits, y) -> float:
    pred = logits.argmax(1)
    ious = [((pred == k) & (y == k)).sum().item() / max(1, ((pred == k) | (y == k)).sum().item()) for k in (1, 2)]
    return sum(ious) / 2


class DilSegTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/miou")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "dilseg")
        g = torch.Generator().manual_seed(DATA_SEED)
        x, y = scenes(N_TRAIN + N_VAL, g)
        if self.bug == "masks_transposed":
            y = y.transpose(1, 2)  # BUG masks_transposed: the masks stored (x, y) against the images' (row, col)
        mean, std = x[:N_TRAIN].mean(), x[:N_TRAIN].std()
        x = (x - mean) / std
        self.x_train, self.y_train, self.x_val, self.y_val = x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]

    def loss_fn(self, logits, y):
        if self.bug == "ignore_background":
            return F.cross_entropy(logits, y, ignore_index=0)  # BUG ignore_background: class 0 taken for a void label
        return F.cross_entropy(logits, y)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x_train, y_train = self.x_train[:n], self.y_train[:n]
        model = DilSeg(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, x, y in (("train", x_train[:200], y_train[:200]), ("val", self.x_val, self.y_val)):
                    logits = model(x)
                    out[f"{split}/loss"] = F.cross_entropy(logits, y).item()
                    out[f"{split}/acc"] = (logits.argmax(1) == y).float().mean().item()
                    if split == "val":
                        out["val/miou"] = miou(logits, y)
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x_train[idx], y_train[idx]),
                       loss=lambda model, b: self.loss_fn(model(b[0]), b[1]), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
