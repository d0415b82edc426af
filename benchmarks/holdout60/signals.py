"""Held-out-60 family 2: a 1-D CNN naming the waveform a sensor recorded (sine, square, sawtooth, triangle, chirp, or
a dead sensor's silence), with each recording standardised inside the model, under SGD with Nesterov momentum, over
namedtuple batches.

A recording: 96 samples; a waveform of random frequency (1.5..6 cycles), phase and amplitude (0.5..2), a random DC
offset (-1..1) and Gaussian noise 0.3; a chirp sweeps 1..8 cycles; silence is exactly zero (torch seed 0). Classes
equally likely. 3000 training and 600 validation recordings. Namedtuple batches Recording(wave (B, 1, 96), kind (B,)).
Model: each recording standardised by its own mean and std (std + 1e-5), Conv1d(1, 16, 7) - ReLU - MaxPool(2) -
Conv1d(16, 32, 5) - ReLU - MaxPool(2) - Conv1d(32, 32, 3) - ReLU - global average pooling - Linear(32, 6). Loss:
cross-entropy; SGD (Nesterov momentum 0.9) at 0.05, batch 32. Metrics: loss and accuracy on the stage's first 500
recordings and on validation. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "labels_rolled_in_batch", "std_without_eps", "conv_init_std_1", "features_detached")
Recording = namedtuple("Recording", "wave kind")
N_TRAIN, N_VAL, LENGTH, CLASSES = 3000, 600, 96, 6


def draw(n: int, g: torch.Generator):
    t = torch.linspace(0, 1, LENGTH)
    kind = torch.randint(0, CLASSES, (n,), generator=g)
    freq = 1.5 + 4.5 * torch.rand(n, 1, generator=g)
    phase = torch.rand(n, 1, generator=g)
    amp = 0.5 + 1.5 * torch.rand(n, 1, generator=g)
    offset = 2 * torch.rand(n, 1, generator=g) - 1
    cyc = freq * t + phase  # cycles
    frac = cyc - cyc.floor()
    waves = torch.stack([torch.sin(2 * math.pi * cyc), torch.sign(torch.sin(2 * math.pi * cyc)), 2 * frac - 1,
                         4 * (frac - 0.5).abs() - 1, torch.sin(2 * math.pi * (1 + 3.5 * t) * t + 2 * math.pi * phase),
                         torch.zeros(n, LENGTH)], 1)  # (n, 6, L)
    wave = waves[torch.arange(n), kind] * amp + offset + 0.3 * torch.randn(n, LENGTH, generator=g)
    wave[kind == CLASSES - 1] = 0.0  # a dead sensor records exact zeros
    return wave[:, None], kind


class WaveCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.c1, self.c2, self.c3 = nn.Conv1d(1, 16, 7, padding=3), nn.Conv1d(16, 32, 5, padding=2), \
            nn.Conv1d(32, 32, 3, padding=1)
        self.head = nn.Linear(32, CLASSES)
        if bug == "conv_init_std_1":
            [nn.init.normal_(c.weight, std=1.0) for c in (self.c1, self.c2, self.c3)]  # BUG conv_init_std_1: normal_(w) for the convolutions (std 1.0, 4-17x PyTorch's default; std=sqrt(2 / fan_in) meant)

    def features(self, x):
        h = F.max_pool1d(F.relu(self.c1(x)), 2)
        h = F.max_pool1d(F.relu(self.c2(h)), 2)
        return F.relu(self.c3(h)).mean(-1)

    def forward(self, wave):
        mean = wave.mean(-1, keepdim=True)
        if self.bug == "std_without_eps":
            x = (wave - mean) / wave.std(-1, keepdim=True)  # BUG std_without_eps: each recording divided by its own std with no eps: a silent recording is 0/0
        else:
            x = (wave - mean) / (wave.std(-1, keepdim=True) + 1e-5)
        if self.bug == "features_detached":
            h = self.features(x).detach()  # BUG features_detached: .detach() left from a linear-probe experiment: the convolutions never train
        else:
            h = self.features(x)
        return self.head(h)


class SignalsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "signals")
        g = torch.Generator().manual_seed(0)
        wave, kind = draw(N_TRAIN + N_VAL, g)
        self.train, self.val = (wave[:N_TRAIN], kind[:N_TRAIN]), (wave[N_TRAIN:], kind[N_TRAIN:])

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        wave, kind = self.train[0][:n], self.train[1][:n]
        model = WaveCNN(self.bug)
        bug = self.bug

        def get_batch(idx):
            if bug == "labels_rolled_in_batch":
                return Recording(wave[idx], kind[idx.roll(1)])  # BUG labels_rolled_in_batch: the labels indexed with a rolled copy of the indices (left from a contrastive-pairs experiment): each recording gets its batch-mate's label
            return Recording(wave[idx], kind[idx])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (xs, ys) in (("train", (wave[:500], kind[:500])), ("val", self.val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: F.cross_entropy(model(b.wave), b.kind), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b.wave),
                       targets=lambda b: b.kind)
