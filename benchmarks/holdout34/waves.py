"""Held-out-34 family 2: a 1-D CNN (Conv1d) naming the shape of a sensor trace: sine, square, triangle, rising
sawtooth, falling sawtooth, or flat (a stuck sensor).

A trace is 96 samples: 2..6 cycles at a random phase, amplitude U(0.5, 3), offset U(-2, 2), plus N(0, (0.15 x
amplitude)²) noise; a flat trace holds one level k/8 (k in -16..16) exactly, without noise (the sensor's last
reading). Torch seed 0 draws 3000 training and 600 validation traces, the six shapes equally likely. Model: each
trace standardised on its own inside the model (a hand-written layer: (x - mean) / (std + 1e-5) over time, so a
flat trace becomes all zeros) - Conv1d(1, 16, 7) - BatchNorm - ReLU - max-pool 2 - Conv1d(16, 32, 5) - BatchNorm -
ReLU - max-pool 2 - Conv1d(32, 32, 3) - BatchNorm - ReLU - mean over time - Linear(32, 6). Cross-entropy; Adam at
0.003. Tuple batches (traces (B, 1, 96), shape (B,)). Metrics: loss and accuracy on the stage's traces (at most
1000) and on validation; extras y_val. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "std_without_eps", "bn_forced_train", "labels_scaled_to_unit", "val_time_reversed")
N_TRAIN, N_VAL, LENGTH, SHAPES = 3000, 600, 96, 6


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    shape = torch.randint(0, SHAPES, (n,), generator=g)
    t = torch.arange(LENGTH) / LENGTH
    cycles = torch.randint(2, 7, (n, 1), generator=g).float()
    phase = torch.rand(n, 1, generator=g)
    amp = 0.5 + 2.5 * torch.rand(n, 1, generator=g)
    offset = 4 * torch.rand(n, 1, generator=g) - 2
    u = (cycles * t + phase) % 1.0  # position in the cycle, 0..1
    waves = torch.stack([torch.sin(2 * math.pi * u), torch.where(u < 0.5, 1.0, -1.0), 1 - 4 * (u - 0.5).abs(),
                         2 * u - 1, 1 - 2 * u, torch.zeros_like(u)], 1)  # (n, 6, L)
    x = waves[torch.arange(n), shape] * amp + offset + 0.15 * amp * torch.randn(n, LENGTH, generator=g)
    level = torch.randint(-16, 17, (n, 1), generator=g).float() / 8
    x = torch.where((shape == 5)[:, None], level.expand(n, LENGTH), x)  # a stuck sensor: one exact level
    return x[:, None, :], shape


class WaveCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.conv1, self.bn1 = nn.Conv1d(1, 16, 7, padding=3), nn.BatchNorm1d(16)
        self.conv2, self.bn2 = nn.Conv1d(16, 32, 5, padding=2), nn.BatchNorm1d(32)
        self.conv3, self.bn3 = nn.Conv1d(32, 32, 3, padding=1), nn.BatchNorm1d(32)
        self.head = nn.Linear(32, SHAPES)

    def forward(self, x):  # (B, 1, L)
        mu = x.mean(-1, keepdim=True)
        if self.bug == "std_without_eps":
            x = (x - mu) / x.std(-1, keepdim=True)  # BUG std_without_eps: a flat trace is 0 / 0
        else:
            x = (x - mu) / (x.std(-1, keepdim=True) + 1e-5)
        h = F.max_pool1d(F.relu(self.bn1(self.conv1(x))), 2)
        if self.bug == "bn_forced_train":
            h = F.max_pool1d(F.relu(self.bn2.train()(self.conv2(h))), 2)  # BUG bn_forced_train: batch stats in eval
        else:
            h = F.max_pool1d(F.relu(self.bn2(self.conv2(h))), 2)
        h = F.relu(self.bn3(self.conv3(h)))
        return self.head(h.mean(-1))


class WavesTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "waves")
        g = torch.Generator().manual_seed(0)
        (self.x_train, self.y_train), (self.x_val, self.y_val) = draw(N_TRAIN, g), draw(N_VAL, g)
        if self.bug == "labels_scaled_to_unit":
            # BUG labels_scaled_to_unit: the labels scaled to [0, 1) like a feature, then cast back: every label 0
            self.y_train, self.y_val = (self.y_train / SHAPES).long(), (self.y_val / SHAPES).long()
        if self.bug == "val_time_reversed":
            self.x_val = self.x_val.flip(-1)  # BUG val_time_reversed: validation traces stored newest first

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = WaveCNN(self.bug)

        def loss(model, b):
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
                       evaluate=evaluate, chance_loss=math.log(SHAPES), extras={"y_val": self.y_val},
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
