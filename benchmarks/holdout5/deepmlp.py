"""Held-out-5 family 1: a deeper residual MLP on 4 concentric rings in the plane, trained with label smoothing.

Points (x, y) with a radius uniform in [0, 4) and a uniform angle; the class is the ring, floor(radius) (noise-free,
so a correct model reaches near-perfect validation accuracy). A linear stem to width 64, three pre-norm residual
blocks (BatchNorm1d, Linear, SiLU, Linear), a final LayerNorm and a linear head: 8 weight layers. Each bug is one
line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, classifier_problem, subset_size
from orchestrator.task import Problem

BUGS = ("none", "sorted_by_radius", "canvas_pixels", "bn_no_running_stats")
CLASSES, WIDTH, SMOOTHING = 4, 64, 0.1


def rings(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    radius = CLASSES * torch.rand(n, generator=g)
    angle = 2 * torch.pi * torch.rand(n, generator=g)
    x = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], 1)
    return x, radius.floor().long().clamp_max(CLASSES - 1)


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.norm = nn.BatchNorm1d(WIDTH)
        if bug == "bn_no_running_stats":
            self.norm = nn.BatchNorm1d(WIDTH, track_running_stats=False)  # BUG bn_no_running_stats: "no stale stats"
        self.fc1, self.fc2 = nn.Linear(WIDTH, 2 * WIDTH), nn.Linear(2 * WIDTH, WIDTH)

    def forward(self, h):
        return h + self.fc2(F.silu(self.fc1(self.norm(h))))


class ResMLP(nn.Module):
    def __init__(self, bug: str, depth: int = 3):
        super().__init__()
        self.stem = nn.Linear(2, WIDTH)
        self.blocks = nn.Sequential(*(Block(bug) for _ in range(depth)))
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, CLASSES)

    def forward(self, x):
        return self.head(F.silu(self.norm(self.blocks(self.stem(x)))))


class DeepMLPTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 3000, n_val: int = 1000):
        self.bug = check_bug(bug, BUGS, "deepmlp")
        (self.x_train, self.y_train), (self.x_val, self.y_val) = rings(n_train, seed=0), rings(n_val, seed=1)
        if bug == "canvas_pixels":
            self.x_train, self.x_val = (self.x_train + 4) * 125, (self.x_val + 4) * 125  # BUG canvas_pixels: 0..1000
        if bug == "sorted_by_radius":
            self.x_train = self.x_train[self.x_train.norm(dim=1).argsort()]  # BUG sorted_by_radius: x only, not y

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        return classifier_problem(ResMLP(self.bug), self.x_train[:n], self.y_train[:n], self.x_val, self.y_val,
                                  CLASSES, loss_fn=lambda logits, y: F.cross_entropy(logits, y,
                                                                                     label_smoothing=SMOOTHING))
