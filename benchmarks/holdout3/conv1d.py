"""Held-out-3 family 2: a 1D CNN (strided and dilated Conv1d, BatchNorm1d, AdaptiveAvgPool1d) on waveforms.

Each input is (1, 64): a sine, a square or a sawtooth wave (the label) of random frequency (1.5 to 6
periods), phase and amplitude (0.5 to 1.5), plus Gaussian noise (std 0.2). Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, classifier_problem, subset_size

BUGS = ("none", "adc_counts", "zero_init_conv", "stem_frozen", "smoothing_typo")
LENGTH, CLASSES = 64, 3


def waveforms(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, CLASSES, (n,), generator=g)
    periods = 1.5 + 4.5 * torch.rand(n, 1, generator=g)
    phase = torch.rand(n, 1, generator=g)
    amp = 0.5 + torch.rand(n, 1, generator=g)
    t = (torch.arange(LENGTH) / LENGTH * periods + phase) % 1.0  # position within the period, 0..1
    sine, square, saw = torch.sin(2 * math.pi * t), torch.where(t < 0.5, 1.0, -1.0), 2 * t - 1
    wave = torch.where(y[:, None] == 0, sine, torch.where(y[:, None] == 1, square, saw))
    x = amp * wave + 0.2 * torch.randn(n, LENGTH, generator=g)
    return x[:, None, :], y  # (n, 1, LENGTH)


class WaveCNN(nn.Module):
    def __init__(self, bug: str, ch: int = 32):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(1, ch, 5, padding=2), nn.BatchNorm1d(ch), nn.ReLU())
        self.body = nn.Sequential(
            nn.Conv1d(ch, ch, 3, stride=2, padding=1), nn.BatchNorm1d(ch), nn.ReLU(),
            nn.Conv1d(ch, ch, 3, dilation=2, padding=2), nn.BatchNorm1d(ch), nn.ReLU(),
            nn.Conv1d(ch, ch, 3, dilation=4, padding=4), nn.BatchNorm1d(ch), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(ch, CLASSES)
        if bug == "zero_init_conv":
            for p in self.body[0].parameters():
                nn.init.zeros_(p)  # BUG zero_init_conv: "start the block as an identity-ish no-op"
        if bug == "stem_frozen":
            self.stem.requires_grad_(False)  # BUG stem_frozen: frozen for a warm-up, never unfrozen

    def forward(self, x):
        return self.head(self.pool(self.body(self.stem(x))).flatten(1))


class Conv1dTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "conv1d")
        self.x_train, self.y_train = waveforms(n_train, seed=0)
        self.x_val, self.y_val = waveforms(n_val, seed=1)
        if bug == "adc_counts":
            self.x_train, self.x_val = (2048 + 1000 * x for x in (self.x_train, self.x_val))  # BUG adc_counts

    def build(self, knobs: Mapping[str, Any], seed: int):
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        loss_fn = None
        if self.bug == "smoothing_typo":
            loss_fn = lambda logits, y: F.cross_entropy(logits, y, label_smoothing=0.9)  # noqa: E731  BUG smoothing_typo
        return classifier_problem(WaveCNN(self.bug), self.x_train[:n], self.y_train[:n], self.x_val, self.y_val,
                                  CLASSES, loss_fn)
