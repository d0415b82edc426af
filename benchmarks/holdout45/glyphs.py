"""Held-out-45 family 2: a 2-D CNN naming the glyph drawn in a small noisy image (five classes), over namedtuple
batches, with a hand-written batch normalisation.

A glyph: one of a horizontal bar, a vertical bar, a plus, an L corner and a square outline, of size 4..8 pixels at a
random place in a 14 x 14 image, stroke level U(0.6, 1.0) on a background U(0, 0.3), pixel noise N(0, 0.15²); pixels
standardised with the training images' mean and std. Torch seed 0 draws 3000 training and 600 validation images.
Model: Conv2d(1, 16, 3) - ReLU - Conv2d(16, 32, 3) - a hand-written BatchNorm2d (batch statistics in training,
running statistics with momentum 0.1 in eval) - ReLU - MaxPool 2 - Conv2d(32, 32, 3) - ReLU - global max pool -
Linear(32, 64) - ReLU - Linear(64, 5) (convolutions padded); cross-entropy with label smoothing 0.05; Adam at 0.003.
Namedtuple batches Shot(image (B, 1, 14, 14), label (B,)). Metrics: loss and accuracy on the stage's first 500
images and on validation. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "header_row_misalign", "running_stats_discarded", "conv1_bias_minus2", "dropout_functional")
Shot = namedtuple("Shot", "image label")
S, CLASSES, N_TRAIN, N_VAL = 14, 5, 3000, 600


def draw(n: int, g: torch.Generator):
    img = (torch.rand(n, 1, 1, 1, generator=g) * 0.3).expand(n, 1, S, S).clone()
    label = torch.randint(0, CLASSES, (n,), generator=g)
    size = torch.randint(4, 9, (n,), generator=g)
    level = torch.rand(n, generator=g) * 0.4 + 0.6
    for i in range(n):
        k, s, v = int(label[i]), int(size[i]), float(level[i])
        r, c = (int(torch.randint(0, S - s + 1, (1,), generator=g)) for _ in range(2))
        box = img[i, 0, r:r + s, c:c + s]
        if k == 0:
            box[s // 2, :] = v
        elif k == 1:
            box[:, s // 2] = v
        elif k == 2:
            box[s // 2, :] = v
            box[:, s // 2] = v
        elif k == 3:
            box[:, 0] = v
            box[-1, :] = v
        else:
            box[0, :] = box[-1, :] = v
            box[:, 0] = box[:, -1] = v
    return img + torch.randn(n, 1, S, S, generator=g) * 0.15, label


class BatchNorm(nn.Module):
    def __init__(self, c: int, bug: str, momentum: float = 0.1):
        super().__init__()
        self.bug, self.m = bug, momentum
        self.gain, self.bias = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))

    def forward(self, x):
        if self.training:
            mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
            with torch.no_grad():
                if self.bug == "running_stats_discarded":
                    self.running_mean.mul(1 - self.m).add(self.m * mean); self.running_var.mul(1 - self.m).add(self.m * var)  # BUG running_stats_discarded: out-of-place ops, the buffers stay 0 / 1
                else:
                    self.running_mean.mul_(1 - self.m).add_(self.m * mean); self.running_var.mul_(1 - self.m).add_(self.m * var)  # noqa: E702
        else:
            mean, var = self.running_mean, self.running_var
        x = (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + 1e-5)
        return x * self.gain[None, :, None, None] + self.bias[None, :, None, None]


class GlyphCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.conv1, self.conv2 = nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)
        self.norm, self.conv3 = BatchNorm(32, bug), nn.Conv2d(32, 32, 3, padding=1)
        self.fc, self.head = nn.Linear(32, 64), nn.Linear(64, CLASSES)
        if bug == "conv1_bias_minus2":
            self.conv1.bias.data.fill_(-2.0)  # BUG conv1_bias_minus2: a "sparse activations" bias, every ReLU of conv1 off

    def forward(self, x):  # (B, 1, 14, 14) -> (B, 5)
        h = F.relu(self.conv1(x))
        h = F.max_pool2d(F.relu(self.norm(self.conv2(h))), 2)
        h = F.relu(self.conv3(h)).amax((2, 3))
        h = F.relu(self.fc(h))
        if self.bug == "dropout_functional":
            h = F.dropout(h, 0.3)  # BUG dropout_functional: F.dropout's training=True default, on in eval too
        return self.head(h)


class GlyphsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "glyphs")
        g = torch.Generator().manual_seed(0)
        (x, y), (self.x_val, self.y_val) = draw(N_TRAIN, g), draw(N_VAL, g)
        mean, std = x.mean(), x.std()
        x, self.x_val = (x - mean) / std, (self.x_val - mean) / std
        if self.bug == "header_row_misalign":
            x, y = x[1:], y[:-1]  # BUG header_row_misalign: a header line dropped from the images' file, not the labels'
        self.x_train, self.y_train = x, y

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        x, y = self.x_train[:n], self.y_train[:n]
        model = GlyphCNN(self.bug)

        def loss(model, b):
            return F.cross_entropy(model(b.image), b.label, label_smoothing=0.05)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: Shot(x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(CLASSES), forward=lambda model, b: model(b.image),
                       targets=lambda b: b.label, extras={"y_val": self.y_val})
