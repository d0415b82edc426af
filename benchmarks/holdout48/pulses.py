"""Held-out-48 family 2: a 1-D CNN segmenting a noisy trace sample by sample into background, narrow pulses and wide
pulses, trained with SGD and momentum, over dict batches.

A trace: 96 samples of baseline noise N(0, 0.2²) with a slow drift; 1..4 non-overlapping rectangular pulses of
height U(0.8, 1.5) with soft edges, each narrow (3..6 samples, class 1) or wide (10..16 samples, class 2); every other
sample is background (class 0). Torch seed 0 draws 3000 training and 600 validation traces. Model: Conv1d(1, 16, 5,
p2) - ReLU - Conv1d(16, 32, 5, p4, dilation 2) - ReLU - Conv1d(32, 32, 5, p8, dilation 4) - ReLU - Conv1d(32, 32, 5,
p4, dilation 2) - ReLU - Conv1d(32, 3, 1): logits (B, 3, 96). Cross-entropy per sample (mean); SGD, momentum 0.9, LR
0.05. get_batch crops a random window of 80 samples from each trace and the same window of its labels (the
network is fully convolutional; evaluation reads whole traces). Dict batches {trace (B, 1, 80), labels (B, 80)}. Metrics: loss, sample accuracy and `exact` (the share of traces
with at most 2 samples wrong) on the stage's first 500 traces and on validation. Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "crop_offsets_differ", "loss_summed", "init_std_1e-3", "strided_then_upsampled")
N_TRAIN, N_VAL, L, CLASSES, CROP = 3000, 600, 96, 3, 80


def draw(n: int, g: torch.Generator):
    t = torch.arange(L, dtype=torch.float32)
    traces = torch.randn(n, 1, L, generator=g) * 0.2
    labels = torch.zeros(n, L, dtype=torch.long)
    for i in range(n):
        traces[i, 0] += 0.3 * torch.sin(t / 15 + float(torch.rand(1, generator=g)) * 6.28)
        taken = torch.zeros(L, dtype=torch.bool)
        for _ in range(int(torch.randint(1, 5, (1,), generator=g))):
            wide = bool(torch.rand(1, generator=g) < 0.5)
            width = int(torch.randint(10, 17, (1,), generator=g)) if wide else int(torch.randint(3, 7, (1,), generator=g))
            start = int(torch.randint(2, L - width - 2, (1,), generator=g))
            if taken[start - 2:start + width + 2].any():
                continue
            taken[start:start + width] = True
            height = float(torch.rand(1, generator=g)) * 0.7 + 0.8
            edge = torch.sigmoid((t - start + 0.5) * 3) * torch.sigmoid((start + width - 0.5 - t) * 3)
            traces[i, 0] += height * edge
            labels[i, start:start + width] = 2 if wide else 1
    return traces, labels


class PulseNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        stride2 = 2 if bug == "strided_then_upsampled" else 1  # BUG strided_then_upsampled: stride 2 in the second convolution "to save compute", upsampled at the end
        self.net = nn.Sequential(
            nn.Conv1d(1, 16, 5, padding=2), nn.ReLU(),
            nn.Conv1d(16, 32, 5, padding=4, dilation=2, stride=stride2), nn.ReLU(),
            nn.Conv1d(32, 32, 5, padding=8, dilation=4), nn.ReLU(),
            nn.Conv1d(32, 32, 5, padding=4, dilation=2), nn.ReLU(),
            nn.Conv1d(32, CLASSES, 1))
        if bug == "init_std_1e-3":
            [nn.init.normal_(m.weight, 0.0, 1e-3) for m in self.net if isinstance(m, nn.Conv1d)]  # BUG init_std_1e-3: "small weights are safe"

    def forward(self, trace):  # (B, 1, 96) -> (B, 3, 96) logits
        out = self.net(trace)
        if out.shape[-1] != trace.shape[-1]:
            out = F.interpolate(out, size=trace.shape[-1], mode="nearest")
        return out


def cropped(traces: torch.Tensor, labels: torch.Tensor, g: torch.Generator, bug: str):
    """A random window of CROP samples of each trace and the same window of its labels."""
    xs, ys = [], []
    for i in range(len(traces)):
        off = int(torch.randint(0, L - CROP + 1, (1,), generator=g))
        xs.append(traces[i, :, off:off + CROP])
        if bug == "crop_offsets_differ":
            off = int(torch.randint(0, L - CROP + 1, (1,), generator=g))  # BUG crop_offsets_differ: the labels' window drawn anew instead of reusing the trace's
        ys.append(labels[i, off:off + CROP])
    return torch.stack(xs), torch.stack(ys)


class PulsesTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "pulses")
        g = torch.Generator().manual_seed(0)
        (self.x_train, self.y_train), (self.x_val, self.y_val) = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = PulseNet(self.bug)
        bug = self.bug
        g = torch.Generator().manual_seed(seed + 1)

        def get_batch(idx):
            traces, labels = cropped(x[idx], y[idx], g, bug)
            return {"trace": traces, "labels": labels}

        def loss(model, b):
            if bug == "loss_summed":
                return F.cross_entropy(model(b["trace"]), b["labels"], reduction="sum")  # BUG loss_summed: summed over every sample of the batch (3072x the mean) under SGD
            return F.cross_entropy(model(b["trace"]), b["labels"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    wrong = (logits.argmax(1) != ys).sum(1)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = 1 - wrong.sum().item() / ys.numel()
                    out[f"{split}/exact"] = (wrong <= 2).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=loss, evaluate=evaluate, chance_loss=math.log(CLASSES),
                       forward=lambda model, b: model(b["trace"]), targets=lambda b: b["labels"])
