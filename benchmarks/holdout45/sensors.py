"""Held-out-45 family 1: an MLP tagging a machine's faults from sixteen sensor readings (multi-label, six binary
flags, binary cross-entropy with logits), over dict batches.

A machine: sixteen latent readings z ~ N(0, 1), recorded on each sensor's own scale (a raw reading is z_i s_i + o_i,
s_i = 10^U(-1, 3), o_i = s_i U(-3, 3): millivolts next to kilopascals); the inputs are the raw readings standardised
with the training split's mean and std (both splits). Fault k is on when a_k . z + b_k z_i z_j + c_k > 0 (a_k a
random direction, b_k in +-1.5, one product of two readings per fault, c_k U(-0.5, 0.5)). NumPy seed 0 draws 3600
machines; the first 3000 train, the last 600 validate. Model: Linear(16, 128) - ReLU - Linear(128, 128) - ReLU -
Linear(128, 6) (logits); loss binary_cross_entropy_with_logits; Adam at 0.003. Dict batches {readings (B, 16),
faults (B, 6) float 0/1}. Metrics: loss, per-flag accuracy (logit > 0) and exact rows on the stage's first 500
machines and on validation. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "val_raw_readings", "labels_by_sign", "rare_prior_bias", "softmax_over_flags")
N_TRAIN, N_VAL, SENSORS, FAULTS, HID = 3000, 600, 16, 6, 128


def draw(n: int, rng: np.random.Generator, bug: str):
    z = rng.normal(0, 1, (n, SENSORS))
    scale = 10 ** rng.uniform(-1, 3, SENSORS)
    raw = z * scale + scale * rng.uniform(-3, 3, SENSORS)
    a = rng.normal(0, 1, (SENSORS, FAULTS))
    a /= np.linalg.norm(a, axis=0, keepdims=True)
    pairs = rng.choice(SENSORS, (FAULTS, 2), replace=True)
    b, c = rng.choice([-1.5, 1.5], FAULTS), rng.uniform(-0.5, 0.5, FAULTS)
    score = z @ a + b * z[:, pairs[:, 0]] * z[:, pairs[:, 1]] + c
    if bug == "labels_by_sign":
        y = np.sign(score)  # BUG labels_by_sign: -1/+1 flags (an SVM's habit) where 0/1 was meant
    else:
        y = (score > 0).astype(np.float64)
    return raw, y


class SensorMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.fc1, self.fc2, self.out = nn.Linear(SENSORS, HID), nn.Linear(HID, HID), nn.Linear(HID, FAULTS)
        if bug == "rare_prior_bias":
            self.out.bias.data.fill_(-math.log((1 - 0.01) / 0.01))  # BUG rare_prior_bias: RetinaNet's prior init (1% positives) on flags that are on half the time

    def forward(self, x):  # (B, 16) -> (B, 6) logits
        logits = self.out(F.relu(self.fc2(F.relu(self.fc1(x)))))
        if self.bug == "softmax_over_flags":
            return logits.softmax(-1)  # BUG softmax_over_flags: a multi-class habit on six independent flags
        return logits


class SensorsTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "sensors")
        raw, y = draw(N_TRAIN + N_VAL, np.random.default_rng(0), self.bug)
        tr, va = slice(0, N_TRAIN), slice(N_TRAIN, None)
        mu, sd = raw[tr].mean(0), raw[tr].std(0)
        x = (raw - mu) / sd
        if self.bug == "val_raw_readings":
            x[va] = raw[va]  # BUG val_raw_readings: the scaler applied to the training split only
        f32 = dict(dtype=torch.float32)
        self.x_train, self.x_val = torch.tensor(x[tr], **f32), torch.tensor(x[va], **f32)
        self.y_train, self.y_val = torch.tensor(y[tr], **f32), torch.tensor(y[va], **f32)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = SensorMLP(self.bug)

        def loss(model, b):
            return F.binary_cross_entropy_with_logits(model(b["readings"]), b["faults"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    right = (logits > 0) == (ys > 0)
                    out[f"{split}/loss"] = F.binary_cross_entropy_with_logits(logits, ys).item()
                    out[f"{split}/acc"] = right.float().mean().item()
                    out[f"{split}/exact"] = right.all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: {"readings": x[idx], "faults": y[idx]}, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(2), forward=lambda model, b: model(b["readings"]),
                       targets=lambda b: b["faults"])
