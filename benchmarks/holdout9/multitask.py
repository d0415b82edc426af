"""Held-out-9 family 3: a shared MLP trunk with two heads on sklearn's digits: the digit and the image's ink.

The 1797 images are split (fixed permutation) into 1300 training and 497 validation images, standardised with the
training pixels' statistics. Targets: the digit (10 classes, cross-entropy) and the image's ink mass (the sum of its
raw 0..16 intensities), standardised with the training images' mean and std (mean squared error). The trunk
(64 -> 128 -> 128, ReLU) feeds a class head (10) and an ink head (1); the loss is CE + 0.5 x MSE. The outputs are
one (B, 11) tensor: 10 class logits, then the ink. Goals on validation class accuracy; the ink error is a metric.
Dict batches `x`, `digit`, `ink`. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "ink_not_standardised", "digits_off_by_one", "ink_shape_broadcast", "first_layer_frozen")
N_TRAIN, HIDDEN, INK_WEIGHT = 1300, 128, 0.5
SPLIT_SEED = 0


def digit_data(bug: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    d = load_digits()
    order = torch.randperm(len(d.target), generator=torch.Generator().manual_seed(SPLIT_SEED))
    raw = torch.tensor(d.data, dtype=torch.float32)[order]
    digit = torch.tensor(d.target)[order]
    ink = raw.sum(1)
    mean, std = raw[:N_TRAIN].mean(0), raw[:N_TRAIN].std(0) + 1.0  # + 1: border pixels are (almost) always 0
    x = (raw - mean) / std
    ink_z = (ink - ink[:N_TRAIN].mean()) / ink[:N_TRAIN].std()
    if bug == "ink_not_standardised":
        ink_z = ink  # BUG ink_not_standardised: the raw ink sum (~300) as the regression target
    train = {"x": x[:N_TRAIN], "digit": digit[:N_TRAIN], "ink": ink_z[:N_TRAIN]}
    if bug == "digits_off_by_one":
        train["digit"] = digit[1:N_TRAIN + 1]  # BUG digits_off_by_one: each image gets the next image's digit
    val = {"x": x[N_TRAIN:], "digit": digit[N_TRAIN:], "ink": ink_z[N_TRAIN:]}
    return train, val


class TwoHeads(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(64, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU())
        if bug == "first_layer_frozen":
            self.trunk[0].requires_grad_(False)  # BUG first_layer_frozen: frozen for a warm-up, never unfrozen
        self.digit = nn.Linear(HIDDEN, 10)
        self.ink = nn.Linear(HIDDEN, 1)

    def forward(self, x):  # (B, 64) -> (B, 11): 10 digit logits, then the ink
        h = self.trunk(x)
        return torch.cat([self.digit(h), self.ink(h)], -1)


def two_task_loss(out: torch.Tensor, batch: dict, bug: str = "none") -> torch.Tensor:
    ink = out[:, 10]
    if bug == "ink_shape_broadcast":
        ink = out[:, 10:]  # BUG ink_shape_broadcast: (B, 1) against (B,) targets, broadcast to (B, B) in the MSE
    return F.cross_entropy(out[:, :10], batch["digit"]) + INK_WEIGHT * F.mse_loss(ink, batch["ink"])


class MultitaskTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/ink_mse")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "multitask")
        self.train, self.val = digit_data(bug)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        train = {k: v[:n] for k, v in self.train.items()}
        model = TwoHeads(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    pred = model(data["x"])
                    out[f"{split}/loss"] = two_task_loss(pred, data).item()
                    out[f"{split}/acc"] = (pred[:, :10].argmax(-1) == data["digit"]).float().mean().item()
                    out[f"{split}/ink_mse"] = F.mse_loss(pred[:, 10], data["ink"]).item()
            return out

        # uninformed: uniform over the digits, the ink's training mean (its variance, 1 when standardised)
        chance = math.log(10) + INK_WEIGHT * self.train["ink"].var().item()
        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=lambda model, batch: two_task_loss(model(batch["x"]), batch, self.bug),
                       evaluate=evaluate, chance_loss=chance, forward=lambda model, batch: model(batch["x"]),
                       targets=lambda batch: batch["digit"])
