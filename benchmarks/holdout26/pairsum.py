"""Held-out-26 family 2: a CNN reading two handwritten digits side by side and giving their sum (0..18).

scikit-learn's 8x8 digits (1797 images, 0..16), scaled to [0, 1] and standardised with the training images' mean and
std; torch seed 0 shuffles them and keeps 1400 for training and 397 for validation. A pair is two images of the same
split laid side by side (1 x 8 x 16), its class the sum of their digits (19 classes); 4000 training pairs and 1000
validation pairs, drawn by torch seed 0. Model: Conv(1, 16, 3, pad 1) - ReLU - Conv(16, 32, 3, pad 1) - ReLU -
max-pool 2 - flatten (1024) - dropout 0.1 (training only) - Linear(1024, 128) - ReLU - Linear(128, 19).
Cross-entropy; SGD with momentum 0.9 at 0.02. Tuple batches (images (B, 1, 8, 16), sum (B,)). Metrics: loss and
accuracy on the stage's pairs (at most 500) and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "labels_from_unshuffled", "loss_summed", "conv1_zero_init", "dropout_always_on")
N_DIGITS_TRAIN, N_TRAIN, N_VAL, CLASSES = 1400, 4000, 1000, 19


class PairCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.conv1, self.conv2 = nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)
        self.fc, self.head = nn.Linear(32 * 4 * 8, 128), nn.Linear(128, CLASSES)
        if bug == "conv1_zero_init":
            for p in self.conv1.parameters():
                nn.init.zeros_(p)  # BUG conv1_zero_init: the first convolution's weight and bias zeroed

    def forward(self, x):  # (B, 1, 8, 16) -> (B, 19) logits
        h = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2).flatten(1)
        if self.bug == "dropout_always_on":
            h = F.dropout(h, 0.1)  # BUG dropout_always_on: F.dropout without training=self.training
        else:
            h = F.dropout(h, 0.1, self.training)
        return self.head(F.relu(self.fc(h)))


def pairs(images, labels, n: int, g: torch.Generator):
    i, j = torch.randint(0, len(images), (2, n), generator=g)
    return torch.cat([images[i], images[j]], -1), labels[i] + labels[j]


class PairSumTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "pairsum")
        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16
        labels = torch.tensor(digits.target)
        g = torch.Generator().manual_seed(0)
        order = torch.randperm(len(images), generator=g)
        images = images[order]
        if self.bug == "labels_from_unshuffled":
            labels = labels  # BUG labels_from_unshuffled: the images shuffled, the labels left in file order
        else:
            labels = labels[order]
        train, val = images[:N_DIGITS_TRAIN], images[N_DIGITS_TRAIN:]
        mean, std = train.mean(), train.std()
        train, val = (train - mean) / std, (val - mean) / std
        self.x_train, self.y_train = pairs(train, labels[:N_DIGITS_TRAIN], N_TRAIN, g)
        self.x_val, self.y_val = pairs(val, labels[N_DIGITS_TRAIN:], N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = PairCNN(self.bug)

        def loss(model, b):
            if self.bug == "loss_summed":
                return F.cross_entropy(model(b[0]), b[1], reduction="sum")  # BUG loss_summed: sum, not mean
            return F.cross_entropy(model(b[0]), b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(CLASSES),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
