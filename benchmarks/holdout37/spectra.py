"""Held-out-37 family 1: an MLP naming which of six compounds are present in a mixture from its absorption
spectrum (multi-label classification, binary cross-entropy).

A compound: two Gaussian absorption bands (centres fixed per compound on a 48-bin wavelength axis, widths 1.2-1.8
bins, relative heights fixed). A mixture: each compound present with probability 0.4 (at least one), at a
concentration U(0.4, 1.0); spectrum = sum of present compounds' bands x concentration + a sloping baseline
(offset U(-0.05, 0.05), slope U(-0.1, 0.1) over the axis) + N(0, 0.02²) noise; standardised per bin with the training
statistics. NumPy seed 0 draws 3000 training and 600 validation mixtures. Training batches are augmented with a
random shift of the spectrum by -1, 0 or +1 bin (an instrument's wavelength calibration drift; bands are 3-5 bins
apart at the closest, so a one-bin shift keeps every label) and a random gain U(0.9, 1.1). Model: Linear(48, 128) -
ReLU - Linear(128, 128) - ReLU - dropout 0.1 - Linear(128, 6); BCE with logits; Adam at 0.003. Tuple batches
(spectrum (B, 48) float, labels (B, 6) float 0/1). Metrics: loss and per-label accuracy (logit > 0) on the stage's
first 500 mixtures and on validation. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "sigmoid_twice", "shift_augment_wide", "fc1_zeros", "dropout_in_eval")
BINS, K = 48, 6
CENTRES = ((4, 30), (9, 40), (14, 22), (18, 44), (26, 35), (33, 11))
HEIGHTS = ((1.0, 0.5), (0.8, 0.6), (1.0, 0.3), (0.6, 0.9), (0.9, 0.4), (0.7, 0.7))
N_TRAIN, N_VAL = 3000, 600


def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    axis = np.arange(BINS)
    widths = rng.uniform(1.2, 1.8, (K, 2))
    y = (rng.random((n, K)) < 0.4).astype(np.float32)
    y[y.sum(1) == 0, rng.integers(0, K)] = 1.0
    conc = rng.uniform(0.4, 1.0, (n, K)) * y
    bands = np.stack([sum(h * np.exp(-0.5 * ((axis - c) / w) ** 2) for c, h, w in zip(cs, hs, ws))
                      for cs, hs, ws in zip(CENTRES, HEIGHTS, widths)])  # (K, BINS)
    base = rng.uniform(-0.05, 0.05, (n, 1)) + rng.uniform(-0.1, 0.1, (n, 1)) * axis / BINS
    x = conc @ bands + base + rng.normal(0, 0.02, (n, BINS))
    return x.astype(np.float32), y


class SpectraMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.fc1, self.fc2, self.out = nn.Linear(BINS, 128), nn.Linear(128, 128), nn.Linear(128, K)
        if bug == "fc1_zeros":
            nn.init.zeros_(self.fc1.weight)  # BUG fc1_zeros: the first layer's weights zero-initialised
        self.drop = nn.Dropout(0.1)

    def forward(self, x):  # (B, 48) -> (B, 6) logits
        h = F.relu(self.fc2(F.relu(self.fc1(x))))
        if self.bug == "dropout_in_eval":
            h = F.dropout(h, 0.1)  # BUG dropout_in_eval: F.dropout's training flag defaults to True
        else:
            h = self.drop(h)
        if self.bug == "sigmoid_twice":
            return torch.sigmoid(self.out(h))  # BUG sigmoid_twice: probabilities fed to the *_with_logits loss
        return self.out(h)


class SpectraTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "spectra")
        rng = np.random.default_rng(0)
        x_tr, y_tr = draw(N_TRAIN, rng)
        x_va, y_va = draw(N_VAL, rng)
        mu, sd = x_tr.mean(0), x_tr.std(0)
        self.x_train, self.y_train = torch.tensor((x_tr - mu) / sd), torch.tensor(y_tr)
        self.x_val, self.y_val = torch.tensor((x_va - mu) / sd), torch.tensor(y_va)
        self.max_shift = 10 if self.bug == "shift_augment_wide" else 1  # BUG shift_augment_wide: bands move onto others

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = SpectraMLP(self.bug)
        shift = self.max_shift
        cols = torch.arange(BINS)

        def get_batch(idx):
            s = torch.randint(-shift, shift + 1, (len(idx), 1))
            gain = torch.empty(len(idx), 1).uniform_(0.9, 1.1)
            xb = x[idx].gather(1, (cols[None] - s) % BINS) * gain
            return xb, y[idx]

        def loss(model, b):
            return F.binary_cross_entropy_with_logits(model(b[0]), b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.binary_cross_entropy_with_logits(logits, ys).item()
                    out[f"{split}/acc"] = ((logits > 0).float() == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(2), forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
