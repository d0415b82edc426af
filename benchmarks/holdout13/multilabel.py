"""Held-out-13 family 3: a small CNN with GroupNorm naming which of 4 shape kinds a 16x16 image holds (multi-label).

Each image holds 0..3 shapes of different kinds (square outline, cross, ring, horizontal bar), each in its own
8x8 quadrant with a random offset, ink 1 on 0, plus Gaussian noise (std 0.1), stored as 8-bit grey levels and read
back in [0, 1]. The label is the 4-vector of which kinds are present. Model: conv 3x3 1 -> 16, GroupNorm(4), ReLU,
conv 3x3 stride 2 16 -> 32, GroupNorm(8), ReLU, conv 3x3 32 -> 32, GroupNorm(8), ReLU, global average pooling,
linear 32 -> 4; BCEWithLogits over the 4 labels. Tuple batches (images (B, 1, 16, 16), labels (B, 4) float).
Goal: validation per-label accuracy (a label counts as predicted when its logit > 0).
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

BUGS = ("none", "val_labels_from_train", "bce_arguments_swapped", "groupnorm_made_in_forward", "grey_levels_0_255")
SIZE, KINDS, NOISE = 16, 4, 0.1
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 500


def stamp(kind: int) -> torch.Tensor:
    """The 6x6 ink pattern of a shape kind."""
    s = torch.zeros(6, 6)
    if kind == 0:    # square outline
        s[0, :] = s[-1, :] = s[:, 0] = s[:, -1] = 1
    elif kind == 1:  # cross
        s[2:4, :] = s[:, 2:4] = 1
    elif kind == 2:  # ring
        yy, xx = torch.meshgrid(torch.arange(6) - 2.5, torch.arange(6) - 2.5, indexing="ij")
        r = (yy ** 2 + xx ** 2).sqrt()
        s[(r > 1.3) & (r < 2.9)] = 1
    else:            # horizontal bar
        s[2:4, :] = 1
    return s


def images(n: int, g: torch.Generator):
    stamps = [stamp(k) for k in range(KINDS)]
    x = torch.zeros(n, 1, SIZE, SIZE)
    y = torch.zeros(n, KINDS)
    count = torch.randint(0, 4, (n,), generator=g)
    for i in range(n):
        kinds = torch.randperm(KINDS, generator=g)[:count[i]]
        quads = torch.randperm(4, generator=g)[:count[i]]
        for k, q in zip(kinds.tolist(), quads.tolist()):
            dy, dx = torch.randint(0, 3, (2,), generator=g).tolist()
            top, left = 8 * (q // 2) + dy, 8 * (q % 2) + dx
            x[i, 0, top:top + 6, left:left + 6] = stamps[k]
            y[i, k] = 1
    grey = ((x + NOISE * torch.randn(x.shape, generator=g)).clamp(0, 1) * 255).round().to(torch.uint8)
    return grey, y


class ShapeNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.conv1, self.norm1 = nn.Conv2d(1, 16, 3, padding=1), nn.GroupNorm(4, 16)
        self.conv2, self.norm2 = nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.GroupNorm(8, 32)
        self.conv3, self.norm3 = nn.Conv2d(32, 32, 3, padding=1), nn.GroupNorm(8, 32)
        self.head = nn.Linear(32, KINDS)

    def forward(self, x):  # (B, 1, 16, 16) -> (B, 4) logits
        h = F.relu(self.norm1(self.conv1(x)))
        h = F.relu(self.norm2(self.conv2(h)))
        if self.bug == "groupnorm_made_in_forward":
            h = F.relu(nn.GroupNorm(8, 32).to(x.device)(self.conv3(h)))  # BUG groupnorm_made_in_forward
        else:
            h = F.relu(self.norm3(self.conv3(h)))
        return self.head(h.mean((2, 3)))


def multilabel_loss(logits, y, bug: str):
    if bug == "bce_arguments_swapped":
        return F.binary_cross_entropy_with_logits(y, logits)  # BUG bce_arguments_swapped: (target, input)
    return F.binary_cross_entropy_with_logits(logits, y)


class MultiLabelTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "multilabel")
        g = torch.Generator().manual_seed(DATA_SEED)
        (x, y), (vx, vy) = images(N_TRAIN, g), images(N_VAL, g)
        if bug == "val_labels_from_train":
            vy = y[:N_VAL]  # BUG val_labels_from_train: the validation labels sliced from the training table
        x, vx = x.float() / 255, vx.float() / 255
        if bug == "grey_levels_0_255":
            x, vx = x * 255, vx * 255  # BUG grey_levels_0_255: the 8-bit grey levels fed as they are read
        self.train, self.val = (x, y), (vx, vy)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = ShapeNet(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (xs, ys) in (("train", (x, y)), ("val", self.val)):
                    logits = model(xs)
                    right = (logits > 0).float() == ys
                    out[f"{split}/loss"] = F.binary_cross_entropy_with_logits(logits, ys).item()
                    out[f"{split}/acc"] = right.float().mean().item()
                    if split == "val":
                        out["val/exact"] = right.all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                       loss=lambda model, b: multilabel_loss(model(b[0]), b[1], self.bug), evaluate=evaluate,
                       chance_loss=math.log(2), forward=lambda model, b: model(b[0]), targets=lambda b: b[1],
                       show_batch=lambda b: b[0])
