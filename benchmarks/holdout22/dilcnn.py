"""Held-out-22 family 4: a WaveNet-style dilated causal CNN predicting a signal's next value from its past.

Each series is 65 samples of a sum of three sines (frequencies 0.05..0.25 cycles per sample, amplitudes 0.3..1,
random phases) plus Gaussian noise 0.05 (torch seed 0; 3000 training, 400 validation); inputs the first 64
samples, targets the last 64 (the next value at every position). Tuple batches (x (B, 64), y (B, 64)). Model
(32 channels): a 1x1 input conv, 5 gated layers (kernel 2, dilations 1, 2, 4, 8, 16; left padding (k - 1) * d, so
position t sees t and before), each tanh(conv_f) * sigmoid(conv_g) -> 1x1 residual (added to the input; none in the
last layer) and 1x1 skip; the skips summed -> ReLU -> 1x1 -> ReLU -> 1x1 to one channel. Loss: MSE over every position. Adam at 0.003.
best_loss: the noise variance 0.0025. Metrics: MSE (train on the first 400, val). Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "crop_wrong_end", "inputs_are_targets", "skips_detached")
C, K, DILATIONS, T, NOISE = 32, 2, (1, 2, 4, 8, 16), 64, 0.05
N_TRAIN, N_VAL = 3000, 400


def draw(n: int, g: torch.Generator) -> torch.Tensor:
    f = 0.05 + 0.2 * torch.rand(n, 3, 1, generator=g)
    a = 0.3 + 0.7 * torch.rand(n, 3, 1, generator=g)
    p = 2 * math.pi * torch.rand(n, 3, 1, generator=g)
    t = torch.arange(T + 1).float()
    s = (a * torch.sin(2 * math.pi * f * t + p)).sum(1)
    return s + NOISE * torch.randn(n, T + 1, generator=g)


class GatedLayer(nn.Module):
    def __init__(self, dilation: int, bug: str, last: bool = False):
        super().__init__()
        self.d, self.bug, self.last = dilation, bug, last
        self.conv = nn.Conv1d(C, 2 * C, K, dilation=dilation, padding=(K - 1) * dilation)
        self.res = None if last else nn.Conv1d(C, C, 1)  # the last layer's residual output would go unused
        self.skip = nn.Conv1d(C, C, 1)

    def forward(self, x):  # (B, C, T) -> residual out, skip
        h = self.conv(x)
        pad = (K - 1) * self.d
        if self.bug == "crop_wrong_end":
            h = h[..., pad:]  # BUG crop_wrong_end: the symmetric padding cropped at the start: position t sees t + d
        else:
            h = h[..., :-pad]
        f, g = h.chunk(2, 1)
        z = torch.tanh(f) * torch.sigmoid(g)
        return (x if self.last else x + self.res(z)), self.skip(z)


class WaveNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.inp = nn.Conv1d(1, C, 1)
        self.layers = nn.ModuleList(GatedLayer(d, bug, d == DILATIONS[-1]) for d in DILATIONS)
        self.post1, self.post2 = nn.Conv1d(C, C, 1), nn.Conv1d(C, 1, 1)

    def forward(self, x):  # (B, T) -> (B, T)
        h, total = self.inp(x[:, None]), 0
        for layer in self.layers:
            h, s = layer(h)
            if self.bug == "skips_detached":
                s = s.detach()  # BUG skips_detached: the skip outputs detached (meant for a logging copy)
            total = total + s
        return self.post2(F.relu(self.post1(F.relu(total)))).squeeze(1)


class WaveNetTask:
    metrics = ("train/loss", "val/loss")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "dilcnn")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        s = self.train[:n]
        x, y = s[:, :-1], s[:, 1:]
        model = WaveNet(self.bug)
        train_eval, val_eval = (x[:400], y[:400]), (self.val[:, :-1], self.val[:, 1:])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (xs, ys) in (("train", train_eval), ("val", val_eval)):
                    out[f"{split}/loss"] = F.mse_loss(model(xs), ys).item()
            return out

        def loss(model, b):
            if self.bug == "inputs_are_targets":
                return F.mse_loss(model(b[-1]), b[1])  # noqa: E501  BUG inputs_are_targets: the model fed b[-1] (the targets) instead of b[0]
            return F.mse_loss(model(b[0]), b[1])

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                       loss=loss, evaluate=evaluate, chance_loss=float(self.train[:, 1:].var()),
                       best_loss=NOISE ** 2,
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
