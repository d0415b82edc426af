"""Held-out-47 family 2: a CNN reading a seven-segment digit in a noisy 16x16 image (ten classes, cross-entropy), over
dict batches.

An image: a seven-segment digit 5 pixels wide and 9 tall, strokes 1 pixel thick of brightness U(0.6, 1.0), drawn at a
random place (top-left corner in 0..7 x 0..11), plus pixel noise N(0, 0.2), then centred by the training split's
mean and std. Torch seed 0 draws 3000 training and 600 validation images. Model: Conv2d(1, 16, 3, padding 1) - ReLU -
MaxPool 2 - Conv2d(16, 32, 3, padding 1) - BatchNorm2d - ReLU - MaxPool 2 - flatten (512) - Linear(512, 64) - ReLU -
a hand-written linear head (64 -> 10, weight and bias as parameters). Loss: cross-entropy; Adam at 0.003. Dict batches
{pixels (B, 1, 16, 16), digit (B,)}. Metrics: loss and accuracy on the stage's first 500 images and on validation.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mirror_augment", "nll_on_softmax", "bn_gamma_zero", "head_weight_not_parameter")
N_TRAIN, N_VAL, SIZE, CLASSES = 3000, 600, 16, 10
# segments a (top), b (top right), c (bottom right), d (bottom), e (bottom left), f (top left), g (middle)
DIGITS = ("abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abcdfg")


def glyph(digit: int) -> torch.Tensor:
    g = torch.zeros(9, 5)
    for s in DIGITS[digit]:
        if s == "a":
            g[0, :] = 1
        elif s == "g":
            g[4, :] = 1
        elif s == "d":
            g[8, :] = 1
        elif s == "b":
            g[:5, 4] = 1
        elif s == "c":
            g[4:, 4] = 1
        elif s == "e":
            g[4:, 0] = 1
        elif s == "f":
            g[:5, 0] = 1
    return g


def draw(n: int, gen: torch.Generator):
    labels = torch.randint(0, CLASSES, (n,), generator=gen)
    images = torch.zeros(n, 1, SIZE, SIZE)
    glyphs = [glyph(d) for d in range(CLASSES)]
    for i, d in enumerate(labels.tolist()):
        r, c = int(torch.randint(0, 8, (1,), generator=gen)), int(torch.randint(0, 12, (1,), generator=gen))
        bright = 0.6 + 0.4 * torch.rand((), generator=gen)
        images[i, 0, r:r + 9, c:c + 5] = glyphs[d] * bright
    images += 0.2 * torch.randn(images.shape, generator=gen)
    return images, labels


class Head(nn.Module):
    """A hand-written linear layer (zero-initialised, as output layers often are)."""

    def __init__(self, d_in: int, d_out: int, bug: str):
        super().__init__()
        if bug == "head_weight_not_parameter":
            self.weight = torch.zeros(d_in, d_out, requires_grad=True)  # BUG head_weight_not_parameter: a plain tensor, never in the optimizer
        else:
            self.weight = nn.Parameter(torch.zeros(d_in, d_out))
        self.bias = nn.Parameter(torch.zeros(d_out))

    def forward(self, x):
        return x @ self.weight.to(x.device) + self.bias


class DigitCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)
        self.bn = nn.BatchNorm2d(32)
        if bug == "bn_gamma_zero":
            nn.init.zeros_(self.bn.weight)  # BUG bn_gamma_zero: ResNet's zero-gamma trick in a net without residuals
        self.fc = nn.Linear(32 * 4 * 4, 64)
        self.head = Head(64, CLASSES, bug)

    def forward(self, x):  # (B, 1, 16, 16) -> (B, 10)
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.bn(self.conv2(h))), 2)
        return self.head(F.relu(self.fc(h.flatten(1))))


class SegmentsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "segments")
        gen = torch.Generator().manual_seed(0)
        x_tr, self.y_train = draw(N_TRAIN, gen)
        x_va, self.y_val = draw(N_VAL, gen)
        mu, sd = x_tr.mean(), x_tr.std()
        self.x_train, self.x_val = (x_tr - mu) / sd, (x_va - mu) / sd

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = DigitCNN(self.bug)
        bug = self.bug

        def get_batch(idx):
            pixels = x[idx]
            if bug == "mirror_augment":
                pixels = torch.where(torch.rand(len(idx), 1, 1, 1) < 0.5, pixels.flip(-1), pixels)  # BUG mirror_augment: random horizontal flips by habit (a mirrored 2 is a 5)
            return {"pixels": pixels, "digit": y[idx]}

        def loss(model, b):
            logits = model(b["pixels"])
            if bug == "nll_on_softmax":
                return F.nll_loss(F.softmax(logits, -1), b["digit"])  # BUG nll_on_softmax: softmax where log_softmax was meant
            return F.cross_entropy(logits, b["digit"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b["pixels"]),
                       targets=lambda b: b["digit"])
