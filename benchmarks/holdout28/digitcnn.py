"""Held-out-28 family 2: a small CNN reading scikit-learn's 8x8 handwritten digits, each image standardised in forward.

scikit-learn's digits (1797 images, 0..16) scaled to [0, 1]; torch seed 0 shuffles them, 1400 for training and 397 for
validation. Model: each image standardised on its own in forward (its mean and std over the 8x8 pixels), then
Conv(1, 32, 3) - ReLU - Conv(32, 32, 3) - ReLU - max-pool 2 - Conv(32, 64, 3) - ReLU (padding 1), global average
pooling, Linear(64, 10). Cross-entropy; Adam at 0.003. Tuple batches (images (B, 1, 8, 8), digit (B,)). Metrics: loss
and accuracy on the stage's images and on validation. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "labels_sorted_in_batch", "loss_on_probabilities", "image_norm_wrong_dim", "stem_under_no_grad")
N_TRAIN, CLASSES = 1400, 10


class DigitCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.head = nn.Linear(64, CLASSES)

    def forward(self, x):  # (B, 1, 8, 8) -> (B, 10)
        if self.bug == "image_norm_wrong_dim":
            x = (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True)  # BUG image_norm_wrong_dim: dim 1 (one channel)
        else:
            x = (x - x.mean((2, 3), keepdim=True)) / x.std((2, 3), keepdim=True)
        if self.bug == "stem_under_no_grad":
            with torch.no_grad():  # BUG stem_under_no_grad: the first convolution run under no_grad
                h = F.relu(self.conv1(x))
        else:
            h = F.relu(self.conv1(x))
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        h = F.relu(self.conv3(h))
        return self.head(h.mean((2, 3)))


class DigitCNNTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "digitcnn")
        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16
        labels = torch.tensor(digits.target)
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
        images, labels = images[order], labels[order]
        self.train = (images[:N_TRAIN], labels[:N_TRAIN])
        self.val = (images[N_TRAIN:], labels[N_TRAIN:])

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = DigitCNN(self.bug)

        def get_batch(idx):
            if self.bug == "labels_sorted_in_batch":
                return x[idx], y[idx.sort().values]  # BUG labels_sorted_in_batch: labels fetched in sorted index order
            return x[idx], y[idx]

        def loss(model, b):
            if self.bug == "loss_on_probabilities":
                return F.cross_entropy(model(b[0]).softmax(-1), b[1])  # BUG loss_on_probabilities: softmax then CE
            return F.cross_entropy(model(b[0]), b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x, y), ("val", *self.val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(CLASSES),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
