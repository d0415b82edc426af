"""Held-out-39 family 1: an MLP (tanh, dropout) naming the kind of a star from seven catalogue columns (tabular
classification, six classes).

A star: log10 surface temperature t ~ U(3.50, 4.40) (K); a luminosity class, main sequence or giant, with equal
odds; log10 luminosity (solar units) 7.0 (t - 3.76) + N(0, 0.15²) on the main sequence, plus U(1.5, 3.0) for a giant;
log10 radius from Stefan-Boltzmann, 0.5 log L - 2 (t - 3.76); log10 mass log L / 3.5 on the main sequence, U(-0.2, 0.8)
for a giant; a colour index 0.92 (1 / (1.7 t' + 0.58) + 1 / (1.7 t' + 0.58 + 0.1)) with t' = 10^t / 9000 (the shape of
Ballesteros' formula, not its constants) plus N(0, 0.02²); log10 distance U(1, 3) (pc) and metallicity N(0, 0.3²)
(neither decides the class). The class: the temperature band (cool t < 3.70, intermediate 3.70..4.00, hot above)
times the luminosity class, 0..5 (cool dwarf, cool giant, warm dwarf, warm giant, hot dwarf, hot giant). NumPy seed 0
draws 3600 stars; the first 3000 train, the last 600 validate; every column standardised with the training mean and
std. Model: Linear(7, 64) - tanh - dropout 0.2 - Linear(64, 64) - tanh - dropout 0.2 - Linear(64, 6); cross-entropy;
Adam at 0.003. Tuple batches (features (B, 7) float, class (B,) long). Metrics: loss and accuracy on the stage's first
500 stars and on validation; extras y_val. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "shuffle_features_only", "nll_on_logits", "tanh_init_std_3", "dropout_always_on")
COLUMNS = ("log_temp", "log_lum", "log_radius", "log_mass", "colour_index", "log_distance", "metallicity")
CLASSES = 6
N_TRAIN, N_VAL = 3000, 600


def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    t = rng.uniform(3.50, 4.40, n)
    giant = rng.random(n) < 0.5
    log_l = 7.0 * (t - 3.76) + rng.normal(0, 0.15, n) + np.where(giant, rng.uniform(1.5, 3.0, n), 0.0)
    log_r = 0.5 * log_l - 2 * (t - 3.76)
    log_m = np.where(giant, rng.uniform(-0.2, 0.8, n), log_l / 3.5)
    tp = 10 ** t / 9000
    colour = 0.92 * (1 / (1.7 * tp + 0.58) + 1 / (1.7 * tp + 0.68)) + rng.normal(0, 0.02, n)
    dist, metal = rng.uniform(1, 3, n), rng.normal(0, 0.3, n)
    band = np.digitize(t, [3.70, 4.00])
    y = 2 * band + giant.astype(int)
    return np.stack([t, log_l, log_r, log_m, colour, dist, metal], 1), y


class StarMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.fc1, self.fc2, self.out = nn.Linear(len(COLUMNS), 64), nn.Linear(64, 64), nn.Linear(64, CLASSES)
        if bug == "tanh_init_std_3":
            [nn.init.normal_(fc.weight, std=3.0) for fc in (self.fc1, self.fc2)]  # BUG tanh_init_std_3: "wide" init

    def drop(self, h):
        if self.bug == "dropout_always_on":
            return F.dropout(h, 0.2)  # BUG dropout_always_on: F.dropout's training=True default, on in eval too
        return F.dropout(h, 0.2, self.training)

    def forward(self, x):  # (B, 7) -> (B, 6) logits
        h = self.drop(torch.tanh(self.fc1(x)))
        h = self.drop(torch.tanh(self.fc2(h)))
        return self.out(h)


class StarsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "stars")
        rng = np.random.default_rng(0)
        x, y = draw(N_TRAIN + N_VAL, rng)
        if self.bug == "shuffle_features_only":
            x = x[rng.permutation(len(x))]  # BUG shuffle_features_only: the rows shuffled, the labels not
        x_tr, y_tr, x_va, y_va = x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]
        mu, sd = x_tr.mean(0), x_tr.std(0)
        self.x_train = torch.tensor((x_tr - mu) / sd, dtype=torch.float32)
        self.x_val = torch.tensor((x_va - mu) / sd, dtype=torch.float32)
        self.y_train, self.y_val = torch.tensor(y_tr), torch.tensor(y_va)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = StarMLP(self.bug)

        def loss(model, b):
            logits = model(b[0])
            if self.bug == "nll_on_logits":
                return F.nll_loss(logits, b[1])  # BUG nll_on_logits: NLLLoss on raw logits, no log_softmax
            return F.cross_entropy(logits, b[1])

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
                       evaluate=evaluate, chance_loss=math.log(CLASSES), extras={"y_val": self.y_val},
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
