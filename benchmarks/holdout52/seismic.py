"""Held-out-52 family 2: a 1-D CNN classifying three-component seismic traces (vertical, north, east) as background
noise, a small local quake, a large local quake or a quarry blast, over namedtuple batches.

A trace: 128 samples of noise N(0, 0.15²) on each component. A quake: a P arrival at t0 (U(10, 50)), strongest on the
vertical component, then an S arrival 15..30 samples later, larger and mostly horizontal, each a decaying oscillation
(periods 4..8 samples); amplitude U(0.4, 0.8) for a small quake, U(1.6, 3.2) for a large one. A blast: a sharp
vertical P pulse of amplitude U(0.8, 2.4) with a short 2-3 sample period and no S arrival. Classes 0..3 in that order
(torch seed 0): 3000 training and 600 validation traces. Namedtuple batches Traces(waves (B, 3, 128), labels (B,));
get_batch flips each trace's polarity (x -> -x, every component) with probability 1/2, which keeps its class. Model:
Conv1d(3, 16, 7) - BN - ReLU - MaxPool(2) - Conv1d(16, 32, 5) - BN - ReLU - MaxPool(2) - Conv1d(32, 32, 3) - ReLU,
the mean over time, Linear(32, 4). Cross-entropy; SGD with momentum 0.9 at 0.02. Metrics: loss and accuracy on the
stage's first 500 traces (unflipped) and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "gain_augment", "loss_summed", "last_conv_zero_init", "pooled_over_channels")
Traces = namedtuple("Traces", "waves labels")
T, CLASSES, N_TRAIN, N_VAL = 128, 4, 3000, 600


def wavelet(t, onset, period, decay, g):
    s = (t - onset).clamp_min(0)
    phase = 2 * math.pi * float(torch.rand(1, generator=g))
    return (t >= onset).float() * torch.sin(2 * math.pi * s / period + phase) * torch.exp(-s / decay)


def draw(n: int, g: torch.Generator):
    t = torch.arange(T, dtype=torch.float32)
    waves, labels = 0.15 * torch.randn(n, 3, T, generator=g), torch.randint(0, CLASSES, (n,), generator=g)

    def u(lo, hi):
        return lo + (hi - lo) * float(torch.rand(1, generator=g))

    for i in range(n):
        c = int(labels[i])
        if c in (1, 2):
            amp = u(0.4, 0.8) if c == 1 else u(1.6, 3.2)
            t0, lag = u(10, 50), u(15, 30)
            p = amp * 0.6 * wavelet(t, t0, u(4, 6), u(6, 10), g)
            s = amp * wavelet(t, t0 + lag, u(6, 8), u(10, 16), g)
            waves[i, 0] += p + 0.3 * s
            waves[i, 1] += 0.3 * p + s * u(0.5, 1.0)
            waves[i, 2] += 0.3 * p + s * u(0.5, 1.0)
        elif c == 3:
            amp, t0 = u(0.8, 2.4), u(10, 90)
            p = amp * wavelet(t, t0, u(2, 3), u(2, 4), g)
            waves[i, 0] += p
            waves[i, 1] += 0.2 * p
            waves[i, 2] += 0.2 * p
    return waves, labels


class Picker(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.features = nn.Sequential(
            nn.Conv1d(3, 16, 7, padding=3), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(16, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(32, 32, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(32, CLASSES)
        if bug == "last_conv_zero_init":
            nn.init.zeros_(self.features[8].weight), nn.init.zeros_(self.features[8].bias)  # BUG last_conv_zero_init: the last conv zero-initialised (a residual net's zero-init habit, here without a residual)

    def forward(self, x):  # (B, 3, 128) -> (B, 4) logits
        h = self.features(x)                         # (B, 32 channels, 32 steps)
        if self.bug == "pooled_over_channels":
            return self.head(h.mean(1))  # BUG pooled_over_channels: mean(1) over the channels where the time axis (-1) was meant (both are 32 wide)
        return self.head(h.mean(-1))


def quake_loss(logits, labels, bug: str = "none"):
    if bug == "loss_summed":
        return F.cross_entropy(logits, labels, reduction="sum")  # BUG loss_summed: reduction='sum' (copied from a per-example loop) where the mean was meant
    return F.cross_entropy(logits, labels)


class SeismicTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "seismic")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = Picker(self.bug)
        bug = self.bug

        def get_batch(idx):
            waves = x[idx]
            sign = torch.where(torch.rand(len(idx)) < 0.5, -1.0, 1.0)[:, None, None]
            if bug == "gain_augment":
                sign = sign * 10 ** (1.4 * torch.rand(len(idx), 1, 1) - 0.7)  # BUG gain_augment: a random gain x0.2..5 added to the augmentation (amplitude is what tells a small quake from a large one)
            return Traces(waves * sign, y[idx])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", *self.val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: quake_loss(model(b.waves), b.labels, bug), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b.waves),
                       targets=lambda b: b.labels)
