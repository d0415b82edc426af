"""Held-out-40 family 2: a 1-D CNN naming the shape of an event in a noisy trace (six classes).

A trace: 64 samples, one event at a random place: rising step (a logistic ramp up, width 3), falling step (down),
upward spike (a Gaussian bump, width 1.5), downward spike, sine burst (period 8, random phase, 24 samples) or square
pulse (+1 for 12 samples); amplitude U(0.7, 1.3), baseline U(-0.5, 0.5), N(0, 0.2²) noise. Training examples: torch
generator seed 0 (3000); validation: seed 1 (600). Training batches augmented with torch's global generator: one
circular shift of -4..+4 samples per batch and a gain U(0.8, 1.25) per trace. Each trace standardised by its own mean
and std inside the model. Model: Conv1d(1, 32, 5) - ReLU - max-pool - Conv1d(32, 32, 5) - ReLU - max-pool -
Conv1d(32, 64, 3) - ReLU - mean over time - Linear(64, 6); cross-entropy; Adam at 0.003. Tuple batches (trace (B, 64),
class (B,)). Metrics: loss and accuracy on the stage's first 500 traces and on validation. Each bug is one line,
marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "polarity_flip_aug", "label_smoothing_1", "conv_uniform_0_1", "zscore_over_batch", "val_same_seed")
CLASSES, L = 6, 64
N_TRAIN, N_VAL = 3000, 600


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.randint(0, CLASSES, (n,), generator=g)
    c = torch.randint(12, L - 12, (n, 1), generator=g).float()
    t = torch.arange(L).float()[None]
    amp = 0.7 + 0.6 * torch.rand(n, 1, generator=g)
    phase = 6.2832 * torch.rand(n, 1, generator=g)
    shapes = torch.stack([torch.sigmoid((t - c) / 3), torch.sigmoid((c - t) / 3),
                          torch.exp(-((t - c) / 1.5) ** 2), -torch.exp(-((t - c) / 1.5) ** 2),
                          torch.sin(6.2832 * t / 8 + phase) * ((t - c).abs() < 12),
                          ((t >= c - 6) & (t < c + 6)).float()], 1)  # (n, 6, L)
    x = amp * shapes[torch.arange(n), y] + (torch.rand(n, 1, generator=g) - 0.5)
    return x + 0.2 * torch.randn(n, L, generator=g), y


class TraceCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.c1, self.c2, self.c3 = nn.Conv1d(1, 32, 5, padding=2), nn.Conv1d(32, 32, 5, padding=2), nn.Conv1d(32, 64, 3, padding=1)
        if bug == "conv_uniform_0_1":
            [nn.init.uniform_(c.weight, 0.0, 1.0) for c in (self.c1, self.c2, self.c3)]  # BUG conv_uniform_0_1: meant (-a, a)
        self.head = nn.Linear(64, CLASSES)

    def forward(self, x):  # (B, 64) -> (B, 6) logits
        if self.bug == "zscore_over_batch":
            x = (x - x.mean()) / x.std()  # BUG zscore_over_batch: no dim, the whole batch's statistics
        else:
            x = (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True)
        h = F.max_pool1d(F.relu(self.c1(x[:, None])), 2)
        h = F.max_pool1d(F.relu(self.c2(h)), 2)
        return self.head(F.relu(self.c3(h)).mean(-1))


class EcgTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "ecg")
        self.x_train, self.y_train = draw(N_TRAIN, torch.Generator().manual_seed(0))
        val_seed = 0 if self.bug == "val_same_seed" else 1  # BUG val_same_seed: the training seed again
        self.x_val, self.y_val = draw(N_VAL, torch.Generator().manual_seed(val_seed))

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = TraceCNN(self.bug)

        def get_batch(idx):
            xb = torch.roll(x[idx], int(torch.randint(-4, 5, (1,))), 1) * (0.8 + 0.45 * torch.rand(len(idx), 1))
            if self.bug == "polarity_flip_aug":
                xb = xb * (torch.randint(0, 2, (len(idx), 1)) * 2 - 1)  # BUG polarity_flip_aug: an audio augmentation
            return xb, y[idx]

        def loss(model, b):
            if self.bug == "label_smoothing_1":
                return F.cross_entropy(model(b[0]), b[1], label_smoothing=1.0)  # BUG label_smoothing_1: meant 0.1
            return F.cross_entropy(model(b[0]), b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
