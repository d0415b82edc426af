"""Held-out-36 family 1: a residual MLP naming the quality of a chord (major, minor, diminished, augmented,
suspended fourth, dominant seventh) from a 12-bin chroma vector (the energy of each pitch class), in any key.

A chord: a root r (0..11, uniform) and a quality q (0..5, uniform) with the intervals (0 4 7), (0 3 7), (0 3 6),
(0 4 8), (0 5 7), (0 4 7 10); its chord tones get energy U(0.55, 1), every other pitch class U(0, 0.15), a fifth above
each chord tone bleeds 0.15 x that tone's energy (the third harmonic), and with probability 0.3 one non-chord pitch
class holds a passing note of U(0.15, 0.35). Features: 20 log10(energy + 0.01) dB per pitch class (-40..+1),
standardised with the training mean and std. NumPy seed 0 draws 3000 training and 800 validation chords. Model:
Linear(12, 64), six residual blocks h + Linear(64, 64)(ReLU(Linear(64, 64)(h))) (no normalisation), ReLU,
Linear(64, 6). Cross-entropy; Adam at 0.002. Tuple batches (chroma (B, 12), quality (B,)). Metrics: loss and accuracy
on the stage's chords (at most 1000) and on validation; extras y_val. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "chroma_in_decibels", "sigmoid_nll", "fc1_orthogonal_gain40", "residual_dropped")
QUALITIES = ((0, 4, 7), (0, 3, 7), (0, 3, 6), (0, 4, 8), (0, 5, 7), (0, 4, 7, 10))
N_TRAIN, N_VAL, WIDTH, BLOCKS = 3000, 800, 64, 6


def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    root, quality = rng.integers(0, 12, n), rng.integers(0, len(QUALITIES), n)
    energy = rng.uniform(0, 0.15, (n, 12))
    for i in range(n):
        tones = [(root[i] + k) % 12 for k in QUALITIES[quality[i]]]
        e = rng.uniform(0.55, 1.0, len(tones))
        energy[i, tones] = e
        for t, et in zip(tones, e):
            energy[i, (t + 7) % 12] += 0.15 * et
        if rng.random() < 0.3:
            others = [p for p in range(12) if p not in tones]
            energy[i, others[rng.integers(0, len(others))]] = rng.uniform(0.15, 0.35)
    return 20 * np.log10(energy + 0.01), quality


class ChordMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.fc1 = nn.Linear(12, WIDTH)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH))
                                    for _ in range(BLOCKS))
        self.out = nn.Linear(WIDTH, len(QUALITIES))
        if bug == "fc1_orthogonal_gain40":
            nn.init.orthogonal_(self.fc1.weight, gain=40)  # BUG fc1_orthogonal_gain40: gain 40 instead of 1

    def forward(self, x):  # (B, 12) -> (B, 6) logits
        h = self.fc1(x)
        for block in self.blocks:
            if self.bug == "residual_dropped":
                h = block(h)  # BUG residual_dropped: the skip connection left out, 12 plain layers deep
            else:
                h = h + block(h)
        return self.out(F.relu(h))


class ChordsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "chords")
        rng = np.random.default_rng(0)
        (xt, yt), (xv, yv) = draw(N_TRAIN, rng), draw(N_VAL, rng)
        mean, std = xt.mean(0), xt.std(0)
        if self.bug == "chroma_in_decibels":
            zt, zv = xt, xv  # BUG chroma_in_decibels: the dB values fed as they are (-40..+1), not standardised
        else:
            zt, zv = (xt - mean) / std, (xv - mean) / std
        self.x_train, self.x_val = torch.tensor(zt, dtype=torch.float32), torch.tensor(zv, dtype=torch.float32)
        self.y_train, self.y_val = torch.tensor(yt), torch.tensor(yv)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = ChordMLP(self.bug)

        def loss(model, b):
            logits = model(b[0])
            if self.bug == "sigmoid_nll":
                return F.nll_loss(torch.log(torch.sigmoid(logits)), b[1])  # BUG sigmoid_nll: sigmoid, not softmax
            return F.cross_entropy(logits, b[1])

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
                       evaluate=evaluate, chance_loss=math.log(len(QUALITIES)), extras={"y_val": self.y_val},
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
