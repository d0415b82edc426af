"""Held-out-59 family 1: an MLP with a learnt oven embedding predicting a loaf's specific volume from its recipe, its
bake and which of six bakery ovens baked it (each runs hotter or cooler than its dial), under AdamW, over plain tuple
batches (numbers, oven, volume).

A loaf: flour protein U(9, 15) %, hydration U(58, 80) %, yeast U(0.5, 2.5) %, salt U(1.0, 2.5) %, proof time U(30, 150)
min, oven set point U(190, 250) °C, bake time U(20, 45) min, and an oven drawn from six, whose true temperature is the
set point plus its own offset (-30, -15, 0, 10, 25, 40 °C). The specific volume (mL/g) follows gas production (yeast x
proof, slowed by salt), the gluten's hold (protein), the dough's hydration (best near 70 %), oven spring (a sigmoid in
the true temperature, the crust setting too early above ~245 °C), how far the bake went (time x heat) and a collapse
when over-proofed; 2 % multiplicative noise (NumPy seed 0). The bakery's log names the ovens; they are coded 0..5 from
the training split's table. 3000 training and 600 validation loaves; the seven numbers and the volume standardised with
the training split's mean and std. Plain tuple batches (numbers (B, 7), oven (B,) int, volume (B,)). Model:
Embedding(6, 4) for the oven, concatenated with the numbers, Linear(11, 128) - SiLU - Linear(128, 128) - SiLU -
Linear(128, 1). Loss: MSE; AdamW (weight decay 0.01) at 0.003, batch 64. Metrics: loss and R² on the stage's first 500
loaves and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "oven_codes_per_split", "prediction_not_squeezed", "uniform_default_range", "oven_embedding_frozen")
OVENS = ("deck-1", "deck-2", "convection-A", "rack-3", "stone-B", "tunnel")
OFFSETS = np.array([-30.0, -15.0, 0.0, 10.0, 25.0, 40.0])
N_TRAIN, N_VAL, NUMBERS, HIDDEN, EMB = 3000, 600, 7, 128, 4


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def draw(n: int, rng: np.random.Generator):
    protein, hydration, yeast = rng.uniform(9, 15, n), rng.uniform(58, 80, n), rng.uniform(0.5, 2.5, n)
    salt, proof, setpoint, bake = rng.uniform(1.0, 2.5, n), rng.uniform(30, 150, n), rng.uniform(190, 250, n), \
        rng.uniform(20, 45, n)
    oven = rng.integers(0, len(OVENS), n)
    heat = setpoint + OFFSETS[oven]
    gas = (1 - np.exp(-yeast * proof / 90)) * (1 - 0.2 * (salt - 1.0))
    hold = 0.55 + 0.45 * np.tanh((protein - 11) / 1.8)
    hydr = np.clip(1 - ((hydration - 70) / 14) ** 2, 0.2, 1)
    spring = sigmoid((heat - 205) / 9) * (1 - 0.45 * sigmoid((heat - 245) / 6))
    done = 1 - np.exp(-bake * (heat - 150) / 1200)
    collapse = np.maximum(0, yeast * proof - 200) / 100
    volume = 2.2 + 4.0 * gas * hold * hydr * spring * done - 0.8 * collapse ** 2
    volume = volume * (1 + 0.02 * rng.standard_normal(n))
    numbers = np.column_stack([protein, hydration, yeast, salt, proof, setpoint, bake])
    return numbers.astype(np.float32), [OVENS[i] for i in oven], volume.astype(np.float32)


def oven_codes(names: list, table: dict | None = None):
    """Oven names -> codes, with the table given, else a new one in order of first appearance."""
    table = table if table is not None else {name: i for i, name in enumerate(dict.fromkeys(names))}
    return torch.tensor([table[name] for name in names]), table


class LoafMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        if bug == "oven_embedding_frozen":
            self.oven = nn.Embedding.from_pretrained(torch.zeros(len(OVENS), EMB))  # BUG oven_embedding_frozen: from_pretrained to start every oven at zero, whose default freeze=True keeps them there
        else:
            self.oven = nn.Embedding(len(OVENS), EMB)
        self.l1, self.l2, self.out = nn.Linear(NUMBERS + EMB, HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, 1)
        if bug == "uniform_default_range":
            [nn.init.uniform_(m.weight) for m in (self.l1, self.l2, self.out)]  # BUG uniform_default_range: uniform_(w) for a "uniform init", whose default range is U(0, 1) (U(-b, b) meant): every weight positive

    def forward(self, numbers, oven):  # (B, 7), (B,) -> (B, 1)
        h = torch.cat([numbers, self.oven(oven)], -1)
        return self.out(F.silu(self.l2(F.silu(self.l1(h)))))


def volume_loss(pred, volume, bug: str = "none"):
    if bug == "prediction_not_squeezed":
        return F.mse_loss(pred, volume)  # BUG prediction_not_squeezed: the (B, 1) prediction against the (B,) targets (.squeeze(-1) forgotten): broadcast to (B, B)
    return F.mse_loss(pred.squeeze(-1), volume)


def r2(pred, y):
    return (1 - ((pred - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()).item()


class LoavesTask:
    metrics = ("train/loss", "train/r2", "val/loss", "val/r2")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "loaves")
        rng = np.random.default_rng(0)
        numbers, names, volume = draw(N_TRAIN + N_VAL, rng)
        mean, std = numbers[:N_TRAIN].mean(0), numbers[:N_TRAIN].std(0)
        vmean, vstd = float(volume[:N_TRAIN].mean()), float(volume[:N_TRAIN].std())
        x = torch.tensor((numbers - mean) / std)
        y = torch.tensor((volume - vmean) / vstd)
        train_ovens, table = oven_codes(names[:N_TRAIN])
        if self.bug == "oven_codes_per_split":
            val_ovens, _ = oven_codes(names[N_TRAIN:])  # BUG oven_codes_per_split: the validation split coded with a table of its own (its order of first appearance), not the training split's
        else:
            val_ovens, _ = oven_codes(names[N_TRAIN:], table)
        self.train = (x[:N_TRAIN], train_ovens, y[:N_TRAIN])
        self.val = (x[N_TRAIN:], val_ovens, y[N_TRAIN:])

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        numbers, ovens, volume = (t[:n] for t in self.train)
        model = LoafMLP(self.bug)
        bug = self.bug

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (xs, os, ys) in (("train", (numbers[:500], ovens[:500], volume[:500])), ("val", self.val)):
                    xs, os, ys = on_device_of(model, xs), on_device_of(model, os), on_device_of(model, ys)
                    pred = model(xs, os).squeeze(-1)
                    out[f"{split}/loss"] = F.mse_loss(pred, ys).item()
                    out[f"{split}/r2"] = r2(pred, ys)
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (numbers[idx], ovens[idx], volume[idx]),
                       loss=lambda model, b: volume_loss(model(b[0], b[1]), b[2], bug), evaluate=evaluate,
                       chance_loss=1.0, forward=lambda model, b: model(b[0], b[1]), targets=lambda b: b[2])
