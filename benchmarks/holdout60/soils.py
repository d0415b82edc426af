"""Held-out-60 family 1: an MLP classifying a soil sample into one of five soil classes from twelve lab
measurements, with a hand-written feature normalisation (running statistics at evaluation), under Adam, over dict
batches.

A sample: a latent 4-vector (texture, organic matter, drainage, acidity) ~ N(0, 1) (NumPy seed 0); the twelve
measurements are tanh of 0.4 x a fixed random mix of the latents, plus 0.05 noise, and a pH reading (6.5 + 0.8 x
acidity + 0.1 noise); the class is the
argmax of a fixed random readout of the latents (a teacher). 3000 training and 600 validation samples; every column
standardised with the training split's mean and std. Dict batches {"x": (B, 13), "soil": (B,)}. Model: FeatureNorm (a
hand-written batch normalisation over the 13 inputs: batch statistics in training, running ones at evaluation),
Linear(13, 96) - ReLU - Linear(96, 96) - ReLU - Linear(96, 5). Loss: cross-entropy; Adam at 0.002, batch 64. Metrics:
loss and accuracy on the stage's first 500 samples and on validation. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "label_as_ph_column", "nll_on_logits", "zero_init_all", "norm_batch_stats_in_eval")
N_TRAIN, N_VAL, LATENT, MEASURES, CLASSES, HIDDEN = 3000, 600, 4, 12, 5, 96


def draw(n: int, rng: np.random.Generator, mix: np.ndarray, readout: np.ndarray):
    z = rng.standard_normal((n, LATENT))
    meas = np.tanh(0.4 * z @ mix) + 0.05 * rng.standard_normal((n, MEASURES))
    ph = 6.5 + 0.8 * z[:, 3] + 0.1 * rng.standard_normal(n)
    soil = np.argmax(np.tanh(z @ readout[0]) @ readout[1], 1)
    return meas.astype(np.float32), ph.astype(np.float32), soil


class FeatureNorm(nn.Module):
    """Batch normalisation written out: batch statistics while training (the running ones updated), running ones
    at evaluation."""

    def __init__(self, n: int, bug: str):
        super().__init__()
        self.bug = bug
        self.gain, self.shift = nn.Parameter(torch.ones(n)), nn.Parameter(torch.zeros(n))
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("var", torch.ones(n))

    def forward(self, x):
        if self.bug == "norm_batch_stats_in_eval":
            use_batch = True  # BUG norm_batch_stats_in_eval: batch statistics at evaluation too (self.training meant)
        else:
            use_batch = self.training
        if use_batch:
            mean, var = x.mean(0), x.var(0, unbiased=False)
            if self.training:
                with torch.no_grad():
                    self.mean.lerp_(mean, 0.1)
                    self.var.lerp_(var, 0.1)
        else:
            mean, var = self.mean, self.var
        return (x - mean) / (var + 1e-5).sqrt() * self.gain + self.shift


class SoilMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.norm = FeatureNorm(MEASURES + 1, bug)
        self.l1, self.l2, self.out = nn.Linear(MEASURES + 1, HIDDEN), nn.Linear(HIDDEN, HIDDEN), \
            nn.Linear(HIDDEN, CLASSES)
        if bug == "zero_init_all":
            [(nn.init.zeros_(m.weight), nn.init.zeros_(m.bias)) for m in (self.l1, self.l2, self.out)]  # BUG zero_init_all: every Linear's weight and bias zeroed ("start from nothing"): no unit differs from another and ReLU(0) passes no gradient

    def forward(self, x):
        return self.out(F.relu(self.l2(F.relu(self.l1(self.norm(x))))))


def soil_loss(logits, soil, bug: str = "none"):
    if bug == "nll_on_logits":
        return F.nll_loss(logits, soil)  # BUG nll_on_logits: nll_loss on the raw logits (log_softmax forgotten): minus the target's logit, unbounded below
    return F.cross_entropy(logits, soil)


class SoilsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "soils")
        rng = np.random.default_rng(0)
        mix = rng.standard_normal((LATENT, MEASURES))
        readout = (rng.standard_normal((LATENT, 8)), rng.standard_normal((8, CLASSES)))
        meas, ph, soil = draw(N_TRAIN + N_VAL, rng, mix, readout)
        if self.bug == "label_as_ph_column":
            ph = soil.astype(np.float32)  # BUG label_as_ph_column: the export's column 13 read as pH is the lab's soil class code
        x = np.column_stack([meas, ph])
        mean, std = x[:N_TRAIN].mean(0), x[:N_TRAIN].std(0)
        x = torch.tensor((x - mean) / std, dtype=torch.float32)
        y = torch.tensor(soil)
        self.train, self.val = (x[:N_TRAIN], y[:N_TRAIN]), (x[N_TRAIN:], y[N_TRAIN:])

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = SoilMLP(self.bug)
        bug = self.bug

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (xs, ys) in (("train", (x[:500], y[:500])), ("val", self.val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {"x": x[idx], "soil": y[idx]},
                       loss=lambda model, b: soil_loss(model(b["x"]), b["soil"], bug), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b["x"]),
                       targets=lambda b: b["soil"])
