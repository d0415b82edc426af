"""Held-out-30 family 2: a small residual CNN with BatchNorm naming the shape drawn in a noisy 16x16 image.

Each image holds one shape of size 5 or 7 at a random place: a hollow square (class 0), a plus (1) or an X (2), ink
0.6..1.0, on Gaussian noise of std 0.3. Torch seed 0 draws 2000 training and 500 validation images; the pixels are
standardised with the training mean and std. Model: a stem Conv(1, 16, 3, padding 1) - BatchNorm - ReLU; two
residual blocks (Conv - BN - ReLU - Conv - BN, plus the input, ReLU) held in an nn.Sequential; max-pool 2;
Conv(16, 32, 3, padding 1) - BN - ReLU; a hand-written global mean pool; Linear(32, 3). Cross-entropy; Adam at
0.003. Tuple batches (image (B, 1, 16, 16), shape (B,)). Metrics: loss and accuracy on the stage's
images (at most 1000) and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "val_pixels_0_255", "stem_zero_init", "blocks_in_plain_list", "pool_over_active")
N_TRAIN, N_VAL, CLASSES, SIDE = 2000, 500, 3, 16


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = 0.3 * torch.randn(n, 1, SIDE, SIDE, generator=g)
    y = torch.randint(0, CLASSES, (n,), generator=g)
    for i in range(n):
        s = 5 + 2 * int(torch.randint(0, 2, (1,), generator=g))
        r, c = (int(v) for v in torch.randint(0, SIDE - s + 1, (2,), generator=g))
        ink = 0.6 + 0.4 * float(torch.rand(1, generator=g))
        m = torch.zeros(s, s)
        if y[i] == 0:
            m[0], m[-1], m[:, 0], m[:, -1] = 1, 1, 1, 1
        elif y[i] == 1:
            m[s // 2], m[:, s // 2] = 1, 1
        else:
            m[torch.arange(s), torch.arange(s)], m[torch.arange(s), s - 1 - torch.arange(s)] = 1, 1
        x[i, 0, r:r + s, c:c + s] += ink * m
    return x, y


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.c1, self.b1, self.c2, self.b2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), \
            nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(x + self.b2(self.c2(F.relu(self.b1(self.c1(x))))))


class ShapesCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.stem, self.bn0 = nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16)
        if bug == "stem_zero_init":
            nn.init.zeros_(self.stem.weight)  # BUG stem_zero_init: the stem's filters start at zero
        if bug == "blocks_in_plain_list":
            self.blocks = [ResBlock(16), ResBlock(16)]  # BUG blocks_in_plain_list: a Python list, not registered
        else:
            self.blocks = nn.Sequential(ResBlock(16), ResBlock(16))
        self.conv, self.bn1 = nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32)
        self.head = nn.Linear(32, CLASSES)

    def forward(self, x):
        h = F.relu(self.bn0(self.stem(x)))
        for block in self.blocks:
            h = block(h)
        h = F.relu(self.bn1(self.conv(F.max_pool2d(h, 2))))
        if self.bug == "pool_over_active":
            h = h.sum((2, 3)) / (h > 0).sum((2, 3))  # BUG pool_over_active: the mean over the active pixels only
        else:
            h = h.sum((2, 3)) / (h.shape[2] * h.shape[3])
        return self.head(h)


class ShapesTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "shapes")
        g = torch.Generator().manual_seed(0)
        (xt, yt), (xv, yv) = draw(N_TRAIN, g), draw(N_VAL, g)
        mean, std = xt.mean(), xt.std()
        xt = (xt - mean) / std
        if self.bug == "val_pixels_0_255":
            xv = xv * 255  # BUG val_pixels_0_255: the validation images kept raw, in 0..255 units
        else:
            xv = (xv - mean) / std
        self.train, self.val = (xt, yt), (xv, yv)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = ShapesCNN(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:1000], y[:1000]), ("val", *self.val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                       loss=lambda model, b: F.cross_entropy(model(b[0]), b[1]), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
