"""Held-out-57 family 2: a 1-D CNN reading a pulse rate (beats per minute) off a 16-second single-lead pulse trace,
regressed with an L1 loss under AdamW, over plain tuple batches.

A trace: 384 samples at 24 Hz. A rate U(50, 150) bpm; beats one period apart from a random phase, each period jittered
by 3%; each beat a sharp peak (Gaussian, width 1.2 samples, height 1 +- 0.2) and a T wave (width 4, height 0.3, 7
samples later); a baseline wander 0.3 sin(2 pi f t + phi) with f U(0.1, 0.4) Hz; white noise 0.08 (torch seed 0). 3000
training and 600 validation traces. Traces are standardised with the training split's overall mean and std; the target
is the rate standardised as (bpm - 100) / 29. Model: Conv1d(1, 16, 7) - ReLU - Conv1d(16, 32, 7, stride 2) - ReLU -
Conv1d(32, 32, 5, stride 2) - ReLU, the mean over time, Linear(32, 1), squeezed to (B,). Loss: F.l1_loss; AdamW
(weight decay 0.01) at 0.003. Plain tuple batches (trace (B, 1, 384), rate (B,)). Metrics: `loss` (the L1 loss) and `mae`
(in bpm) on the stage's first 500 traces and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "stretch_keeps_label", "prediction_column_broadcast", "constant_init", "convs_in_plain_list")
N_TRAIN, N_VAL, T, HZ = 3000, 600, 384, 24.0


def draw(n: int, g: torch.Generator):
    bpm = 50 + 100 * torch.rand(n, generator=g)
    t = torch.arange(T, dtype=torch.float32)
    traces = torch.empty(n, T)
    for i in range(n):
        period = HZ * 60 / float(bpm[i])
        beat, x = -period * float(torch.rand(1, generator=g)), torch.zeros(T)
        while beat < T + 10:
            height = 1 + 0.2 * float(torch.randn(1, generator=g))
            x += height * torch.exp(-0.5 * ((t - beat) / 1.2) ** 2) + 0.3 * torch.exp(-0.5 * ((t - beat - 7) / 4) ** 2)
            beat += period * (1 + 0.03 * float(torch.randn(1, generator=g)))
        f, phi = 0.1 + 0.3 * float(torch.rand(1, generator=g)), 2 * math.pi * float(torch.rand(1, generator=g))
        traces[i] = x + 0.3 * torch.sin(2 * math.pi * f * t / HZ + phi) + 0.08 * torch.randn(T, generator=g)
    return traces, bpm


class PulseCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        layers = [nn.Conv1d(1, 16, 7, padding=3), nn.ReLU(), nn.Conv1d(16, 32, 7, stride=2, padding=3), nn.ReLU(),
                  nn.Conv1d(32, 32, 5, stride=2, padding=2), nn.ReLU()]
        if bug == "convs_in_plain_list":
            self.stack = layers  # BUG convs_in_plain_list: the layers kept in a plain list (nn.ModuleList forgotten): not registered, so the optimiser never sees them
        else:
            self.stack = nn.ModuleList(layers)
        self.head = nn.Linear(32, 1)
        if bug == "constant_init":
            [nn.init.constant_(m.weight, 0.05) for m in self.modules() if isinstance(m, (nn.Conv1d, nn.Linear))]  # BUG constant_init: every conv and linear weight set to 0.05 ("small weights")

    def forward(self, x):  # (B, 1, T) -> (B,) standardised rates
        for layer in self.stack:
            x = layer(x)
        out = self.head(x.mean(-1))
        if self.bug == "prediction_column_broadcast":
            return out  # BUG prediction_column_broadcast: the (B, 1) head output returned without .squeeze(-1); the L1 loss broadcasts it against the (B,) rates
        return out.squeeze(-1)


def stretched(x, g):
    """A random time-stretch (speed) augmentation of a batch, cropped or padded back to T samples."""
    s = (0.8, 1.25)[int(torch.randint(0, 2, (1,), generator=g))]
    y = F.interpolate(x, size=int(round(T * s)), mode="linear", align_corners=False)
    return y[..., :T] if y.shape[-1] >= T else F.pad(y, (0, T - y.shape[-1]), mode="replicate")


class HeartbeatTask:
    metrics = ("train/loss", "train/mae", "val/loss", "val/mae")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "heartbeat")
        g = torch.Generator().manual_seed(0)
        traces, bpm = draw(N_TRAIN + N_VAL, g)
        mean, std = traces[:N_TRAIN].mean(), traces[:N_TRAIN].std()
        x = ((traces - mean) / std)[:, None, :]
        self.centre, self.spread = 100.0, 29.0
        y = (bpm - self.centre) / self.spread
        self.x_train, self.y_train, self.x_val, self.y_val = x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = PulseCNN(self.bug)
        bug, spread, aug = self.bug, self.spread, torch.Generator().manual_seed(seed)

        def get_batch(idx):
            if bug == "stretch_keeps_label":
                return stretched(x[idx], aug), y[idx]  # BUG stretch_keeps_label: a speed augmentation (speed perturbation: a time-stretch of 0.8x or 1.25x) that keeps the rate label
            return x[idx], y[idx]

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    pred = model(xs).reshape(-1)
                    out[f"{split}/loss"] = F.l1_loss(pred, ys).item()
                    out[f"{split}/mae"] = (pred - ys).abs().mean().item() * spread
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: F.l1_loss(model(b[0]), b[1]), evaluate=evaluate,
                       chance_loss=float((y - y.median()).abs().mean()),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
