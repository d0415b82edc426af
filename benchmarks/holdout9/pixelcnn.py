"""Held-out-9 family 1: a small PixelCNN (masked 2-D convolutions) on binarised 8x8 sklearn digits.

The 1797 images are split (fixed permutation) into 1400 training and 397 validation images and binarised (a pixel is
on when its intensity is above 6 of 16). The model predicts each pixel's Bernoulli logit from the pixels before it in
raster order: a 5x5 mask-A convolution (the centre pixel hidden), three 3x3 mask-B convolutions (the centre is the
layer's own earlier features), and a 1x1 output. The loss is the per-image negative log-likelihood in nats (the BCE
summed over the 64 pixels, averaged over the images); chance is 64 ln 2 (every pixel a coin flip). No honest
best_loss: the digits' true entropy is unknown. Batches are the images themselves, (B, 1, 8, 8), input and target
at once. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mask_sees_centre", "inputs_shuffled", "hand_log_sigmoid")
N_TRAIN, CHANNELS, ON_ABOVE = 1400, 32, 6.0
SPLIT_SEED, SHUFFLE_SEED = 0, 1


def binary_digits() -> tuple[torch.Tensor, torch.Tensor]:
    d = load_digits()
    order = torch.randperm(len(d.target), generator=torch.Generator().manual_seed(SPLIT_SEED))
    x = (torch.tensor(d.images, dtype=torch.float32)[order] > ON_ABOVE).float().unsqueeze(1)  # (N, 1, 8, 8)
    return x[:N_TRAIN], x[N_TRAIN:]


class MaskedConv2d(nn.Conv2d):
    """A convolution that sees only the pixels before the centre in raster order (type A), or those and the centre
    (type B: the centre holds the layer's input features, which already exclude the pixel itself)."""

    def __init__(self, kind: str, c_in: int, c_out: int, k: int):
        super().__init__(c_in, c_out, k, padding=k // 2)
        mask = torch.ones(k, k)
        mask[k // 2, k // 2 + (kind == "B"):] = 0  # the centre row: the centre (A) or what follows it (B)
        mask[k // 2 + 1:] = 0                       # every row below
        self.register_buffer("mask", mask)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        first = "A"
        if bug == "mask_sees_centre":
            first = "B"  # BUG mask_sees_centre: mask B on the first layer, so each pixel's logit sees the pixel
        self.layers = nn.ModuleList([MaskedConv2d(first, 1, CHANNELS, 5)]
                                    + [MaskedConv2d("B", CHANNELS, CHANNELS, 3) for _ in range(3)])
        self.out = nn.Conv2d(CHANNELS, 1, 1)

    def forward(self, x):  # (B, 1, 8, 8) in {0, 1} -> (B, 1, 8, 8) logits of "on"
        h = x * 2 - 1  # centred inputs: -1 off, +1 on
        for layer in self.layers:
            h = F.relu(layer(h))
        return self.out(h)


def nll(logits: torch.Tensor, x: torch.Tensor, bug: str = "none") -> torch.Tensor:
    """Nats per image: the BCE summed over the pixels, averaged over the images."""
    if bug == "hand_log_sigmoid":
        p = torch.sigmoid(logits)
        return -(x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3)).mean()  # BUG hand_log_sigmoid: log(1 - 1)
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3)).mean()


class PixelCNNTask:
    metrics = ("train/loss", "val/loss")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "pixelcnn")
        self.train, self.val = binary_digits()
        self.inputs = self.train
        if bug == "inputs_shuffled":  # "shuffle the training set once": only the inputs' copy was shuffled
            mix = torch.randperm(N_TRAIN, generator=torch.Generator().manual_seed(SHUFFLE_SEED))
            self.inputs = self.train[mix]  # BUG inputs_shuffled: the inputs permuted, the target images not

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        inputs, targets = self.inputs[:n], self.train[:n]
        model = PixelCNN(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, x in (("train", targets), ("val", self.val)):
                    out[f"{split}/loss"] = nll(model(x), x).item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (inputs[idx], targets[idx]),
                       loss=lambda model, batch: nll(model(batch[0]), batch[1], self.bug),
                       evaluate=evaluate, chance_loss=64 * math.log(2), forward=lambda model, batch: model(batch[0]),
                       targets=lambda batch: batch[1])
