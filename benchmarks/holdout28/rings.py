"""Held-out-28 family 1: an MLP telling which of three concentric rings a surveyed point lies on.

A point lies on ring 0, 1 or 2 (radius 1, 2 or 3 km around a mast, radial noise 0.15 km); the features are its east
and north offsets in metres, its altitude in metres (400 +- 60, unrelated to the ring), the signal strength in dBm
(-70 +- 8, unrelated) and two more noise readings (a temperature in °C, 15 +- 6; a humidity share, 0.5 +- 0.15).
Torch seed 0 draws 3000 training and 1000 validation points; features standardised with the training statistics.
Model: Linear(6, 64) - ReLU - Linear(64, 64) - ReLU - Linear(64, 3). Cross-entropy; SGD with momentum 0.9 at 0.05.
Tuple batches (features (B, 6), ring (B,)). Metrics: loss and accuracy on the stage's points (at most 1000) and on
validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "coords_in_metres", "val_classes_reversed", "hidden_init_zero", "ce_reduction_sum")
N_TRAIN, N_VAL, CLASSES = 3000, 1000, 3


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    ring = torch.randint(0, CLASSES, (n,), generator=g)
    radius = 1000.0 * (ring.float() + 1) + 150.0 * torch.randn(n, generator=g)
    angle = 2 * math.pi * torch.rand(n, generator=g)
    x = torch.stack([radius * angle.cos(), radius * angle.sin(), 400 + 60 * torch.randn(n, generator=g),
                     -70 + 8 * torch.randn(n, generator=g), 15 + 6 * torch.randn(n, generator=g),
                     0.5 + 0.15 * torch.randn(n, generator=g)], 1)
    return x, ring


class RingMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, CLASSES))
        if bug == "hidden_init_zero":
            for m in (self.net[0], self.net[2]):
                nn.init.zeros_(m.weight)  # BUG hidden_init_zero: both hidden layers' weights zero-initialised

    def forward(self, x):
        return self.net(x)


class RingsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "rings")
        g = torch.Generator().manual_seed(0)
        (x_tr, y_tr), (x_va, y_va) = draw(N_TRAIN, g), draw(N_VAL, g)
        mean, std = x_tr.mean(0), x_tr.std(0)
        if self.bug == "coords_in_metres":
            self.x_train, self.x_val = x_tr, x_va  # BUG coords_in_metres: the raw readings, standardisation skipped
        else:
            self.x_train, self.x_val = (x_tr - mean) / std, (x_va - mean) / std
        self.y_train = y_tr
        if self.bug == "val_classes_reversed":
            self.y_val = CLASSES - 1 - y_va  # BUG val_classes_reversed: the validation file numbers rings outside-in
        else:
            self.y_val = y_va

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = RingMLP(self.bug)

        def loss(model, b):
            if self.bug == "ce_reduction_sum":
                return F.cross_entropy(model(b[0]), b[1], reduction="sum")  # BUG ce_reduction_sum: summed, not mean
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
                       evaluate=evaluate, chance_loss=math.log(CLASSES),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
