"""Held-out-56 family 2: a 2-D CNN naming a coloured shape on a noisy 20x20 RGB tile (circle, square, triangle
pointing up, triangle pointing down; red or blue: 8 classes), with random left-right mirrors in get_batch, under SGD
with Nesterov momentum, over dict batches.

A tile: a background of grey noise N(0.2, 0.08²) per channel; one shape of radius 4..7 pixels at a random place where it
fits, filled with its colour (red: R 0.6..1.0, G and B 0.1..0.3; blue: B 0.6..1.0, R and G 0.1..0.3), then pixel noise
N(0, 0.1²). Class = 2 x shape + colour (torch seed 0): 3000 training and 600 validation tiles, standardised per channel
with the training split's statistics. Dict batches {"image" (B, 3, 20, 20), "label" (B,)}; get_batch mirrors each
tile left-right with probability 1/2 (every shape is symmetric about its vertical axis, so the class is kept). Model:
Conv2d(3, 16, 3, p1) - ReLU - MaxPool(2) - Conv2d(16, 32, 3, p1) - ReLU - MaxPool(2) - Conv2d(32, 32, 3, p1) - ReLU,
flatten (32 x 5 x 5), Linear(800, 64) - ReLU - Dropout(0.3) - Linear(64, 8). Cross-entropy; SGD (momentum 0.9,
Nesterov) at 0.02. Metrics: loss and accuracy on the stage's first 500 tiles (unmirrored) and on validation. Each bug
is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "upside_down_augment", "nll_on_logits", "conv_init_positive", "features_detached")
S, CLASSES, N_TRAIN, N_VAL = 20, 8, 3000, 600


def draw(n: int, g: torch.Generator):
    ys, xs = torch.meshgrid(torch.arange(S, dtype=torch.float32), torch.arange(S, dtype=torch.float32), indexing="ij")
    images = 0.2 + 0.08 * torch.randn(n, 3, S, S, generator=g)
    labels = torch.randint(0, CLASSES, (n,), generator=g)

    def u(lo, hi):
        return lo + (hi - lo) * float(torch.rand(1, generator=g))

    for i in range(n):
        shape, colour = divmod(int(labels[i]), 2)
        r = u(4, 7)
        cy, cx = u(r, S - 1 - r), u(r, S - 1 - r)
        dy, dx = ys - cy, xs - cx
        if shape == 0:
            inside = dy ** 2 + dx ** 2 <= r ** 2
        elif shape == 1:
            inside = (dy.abs() <= r * 0.8) & (dx.abs() <= r * 0.8)
        elif shape == 2:   # apex at the top
            inside = (dy >= -r) & (dy <= r) & (dx.abs() <= (dy + r) / 2)
        else:              # apex at the bottom
            inside = (dy >= -r) & (dy <= r) & (dx.abs() <= (r - dy) / 2)
        main, other = u(0.6, 1.0), [u(0.1, 0.3), u(0.1, 0.3)]
        colours = [main, other[0], other[1]] if colour == 0 else [other[0], other[1], main]
        for c in range(3):
            images[i, c][inside] = colours[c]
    images += 0.1 * torch.randn(n, 3, S, S, generator=g)
    return images, labels


class Reader(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU())
        self.fc, self.drop, self.head = nn.Linear(32 * 5 * 5, 64), nn.Dropout(0.3), nn.Linear(64, CLASSES)
        if bug == "conv_init_positive":
            [nn.init.uniform_(m.weight, 0.0, 0.1) for m in self.features if isinstance(m, nn.Conv2d)]  # BUG conv_init_positive: uniform_(w, 0, 0.1) where uniform_(w, -0.1, 0.1) was meant

    def forward(self, x):  # (B, 3, 20, 20) -> (B, 8) logits
        f = self.features(x).flatten(1)
        if self.bug == "features_detached":
            f = f.detach()  # BUG features_detached: .detach() on the conv features (left from a linear-probe experiment): the convolutions never train
        h = F.relu(self.fc(f))
        return self.head(self.drop(h))


def tile_loss(logits, labels, bug: str = "none"):
    if bug == "nll_on_logits":
        return F.nll_loss(logits, labels)  # BUG nll_on_logits: nll_loss on raw logits (log_softmax forgotten)
    return F.cross_entropy(logits, labels)


class TilesTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "tiles")
        g = torch.Generator().manual_seed(0)
        x, y = draw(N_TRAIN + N_VAL, g)
        mean, std = x[:N_TRAIN].mean((0, 2, 3), keepdim=True), x[:N_TRAIN].std((0, 2, 3), keepdim=True)
        x = (x - mean) / std
        self.train = {"image": x[:N_TRAIN], "label": y[:N_TRAIN]}
        self.val = {"image": x[N_TRAIN:], "label": y[N_TRAIN:]}

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        data = {k: v[:n] for k, v in self.train.items()}
        model = Reader(self.bug)
        bug = self.bug

        def get_batch(idx):
            image = data["image"][idx]
            flip = torch.rand(len(idx)) < 0.5
            image = torch.where(flip[:, None, None, None], image.flip(-1), image)
            if bug == "upside_down_augment":
                image = torch.where((torch.rand(len(idx)) < 0.5)[:, None, None, None], image.flip(-2), image)  # BUG upside_down_augment: an up-down mirror added to the augmentation (it turns an up-triangle into a down-triangle, the label kept)
            return {"image": image, "label": data["label"][idx]}

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, d in (("train", {k: v[:500] for k, v in data.items()}), ("val", self.val)):
                    d = on_device_of(model, d)
                    logits = model(d["image"])
                    out[f"{split}/loss"] = F.cross_entropy(logits, d["label"]).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == d["label"]).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: tile_loss(model(b["image"]), b["label"], bug), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b["image"]),
                       targets=lambda b: b["label"])
