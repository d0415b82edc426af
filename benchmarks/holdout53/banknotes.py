"""Held-out-53 family 2: a 2-D CNN telling six denominations of banknote apart from a scanned 20x32 colour crop, over
dict batches.

A note: a background of a random tint (each channel U(0.45, 0.95); the tint says nothing about the denomination), a
dark vertical security strip 2 pixels wide at a random column, a wavy guilloche line across it, and the
denomination's own 5x5 numeral glyph (six fixed patterns) printed dark at a random place, plus pixel noise N(0, 0.06)
(torch seed 0). 3000 training and 600 validation notes. Images are standardised per channel with the training split's
statistics. Dict batches {"image": (B, 3, 20, 32), "denomination": (B,)}; get_batch jitters brightness and contrast
(x a + b, a U(0.8, 1.2), b U(-0.2, 0.2) per note), which keeps the denomination. Model: Conv2d(3, 16, 3) - BN - ReLU -
MaxPool(2) - Conv2d(16, 32, 3) - BN - ReLU - MaxPool(2) - Conv2d(32, 64, 3) - ReLU - Dropout2d(0.3) - the max over
the plane - Linear(64, 6). Cross-entropy with label smoothing 0.05; SGD with Nesterov momentum 0.9 at 0.05. Metrics:
loss and accuracy on the stage's first 500 notes (unjittered) and on validation. Each bug is one line, marked
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

BUGS = ("none", "val_left_unstandardised", "nll_on_logits", "conv_uniform_default", "head_built_in_forward")
H, W, CLASSES, N_TRAIN, N_VAL = 20, 32, 6, 3000, 600
GLYPHS = torch.tensor([
    [[0, 0, 1, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [0, 1, 1, 1, 0]],   # 1
    [[0, 1, 1, 1, 0], [0, 0, 0, 1, 0], [0, 1, 1, 1, 0], [0, 1, 0, 0, 0], [0, 1, 1, 1, 0]],   # 2
    [[0, 1, 1, 1, 0], [0, 1, 0, 0, 0], [0, 1, 1, 1, 0], [0, 0, 0, 1, 0], [0, 1, 1, 1, 0]],   # 5
    [[1, 0, 1, 1, 1], [1, 0, 1, 0, 1], [1, 0, 1, 0, 1], [1, 0, 1, 0, 1], [1, 0, 1, 1, 1]],   # 10
    [[1, 1, 1, 1, 1], [0, 0, 0, 0, 1], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]],   # 20 (a wide 2)
    [[1, 1, 1, 0, 1], [1, 0, 0, 0, 0], [1, 1, 1, 0, 1], [0, 0, 1, 0, 1], [1, 1, 1, 0, 1]],   # 50
], dtype=torch.float32)


def draw(n: int, g: torch.Generator):
    labels = torch.randint(0, CLASSES, (n,), generator=g)
    tint = 0.45 + 0.5 * torch.rand(n, 3, 1, 1, generator=g)
    img = tint.expand(n, 3, H, W).clone()
    cols = torch.arange(W, dtype=torch.float32)
    for i in range(n):
        s = int(torch.randint(0, W - 2, (1,), generator=g))
        img[i, :, :, s:s + 2] *= 0.35
        phase, row = float(torch.rand(1, generator=g)) * 6.28, float(torch.rand(1, generator=g)) * (H - 6) + 3
        ys = (row + 2 * torch.sin(cols / 3 + phase)).round().long().clamp(0, H - 1)
        img[i, :, ys, torch.arange(W)] *= 0.7
        r, c = int(torch.randint(0, H - 5, (1,), generator=g)), int(torch.randint(0, W - 5, (1,), generator=g))
        img[i, :, r:r + 5, c:c + 5] *= 1 - 0.8 * GLYPHS[labels[i]]
    img = img + 0.06 * torch.randn(img.shape, generator=g)
    return img, labels


class NoteReader(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.c1, self.b1 = nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.c2, self.b2 = nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32)
        self.c3 = nn.Conv2d(32, 64, 3, padding=1)
        self.head = nn.Linear(64, CLASSES)
        if bug == "conv_uniform_default":
            [nn.init.uniform_(c.weight) for c in (self.c1, self.c2, self.c3)]  # BUG conv_uniform_default: nn.init.uniform_(w) with its default range [0, 1) where a small symmetric range (-a, a) was meant

    def forward(self, x):  # (B, 3, 20, 32) -> (B, 6) logits
        h = F.max_pool2d(F.relu(self.b1(self.c1(x))), 2)
        h = F.max_pool2d(F.relu(self.b2(self.c2(h))), 2)
        h = F.relu(self.c3(h))
        h = F.dropout2d(h, 0.3, self.training).amax((2, 3))
        if self.bug == "head_built_in_forward":
            self.head = nn.Linear(h.shape[1], CLASSES).to(h.device)  # BUG head_built_in_forward: the head built in forward, sized from the features (to avoid computing their width), so each call replaces it
        return self.head(h)


def note_loss(logits, y, bug: str = "none"):
    if bug == "nll_on_logits":
        return F.nll_loss(logits, y)  # BUG nll_on_logits: F.nll_loss on raw logits (the model has no log_softmax) where F.cross_entropy was meant
    return F.cross_entropy(logits, y, label_smoothing=0.05)


class BanknotesTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "banknotes")
        g = torch.Generator().manual_seed(0)
        (xt, yt), (xv, yv) = draw(N_TRAIN, g), draw(N_VAL, g)
        mean, std = xt.mean((0, 2, 3), keepdim=True), xt.std((0, 2, 3), keepdim=True)
        self.train = ((xt - mean) / std, yt)
        if self.bug == "val_left_unstandardised":
            self.val = (xv, yv)  # BUG val_left_unstandardised: the standardisation added to the training pipeline only; validation images stay in [0, 1]
        else:
            self.val = ((xv - mean) / std, yv)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = NoteReader(self.bug)
        bug = self.bug

        def get_batch(idx):
            a = 0.8 + 0.4 * torch.rand(len(idx), 1, 1, 1)
            b = 0.4 * torch.rand(len(idx), 1, 1, 1) - 0.2
            return {"image": x[idx] * a + b, "denomination": y[idx]}

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
                       loss=lambda model, b: note_loss(model(b["image"]), b["denomination"], bug), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b["image"]),
                       targets=lambda b: b["denomination"])
