"""Held-out-49 family 1: a multi-label MLP predicting five binary properties of an "alloy" from twelve measured
features in mixed physical units, over dict batches {features, props}.

An alloy: twelve latent values z ~ N(0, 1) (NumPy seed 0), measured as features z * scale + offset with per-feature
units (scales 0.01 .. 500, offsets up to 1000), standardised per column with the training split's mean and std. Five
properties (0/1): z0 z1 > 0; z2 + z3 + z4 > 0.5; |z5| > 1; sin(2 z6) + z7 > 0; z8² + z9² < 1.5 (z10, z11 are noise).
3000 training and 600 validation alloys. Model: Linear(12, 128) - ReLU - Linear(128, 128) - ReLU - Linear(128, 5)
(five logits). Loss: BCE with logits, mean over every label; AdamW at 0.003 (its default weight decay 0.01).
Metrics: loss, label accuracy (logit > 0) and `exact` (all five right) on the stage's first 500 alloys and on
validation. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "props_of_previous_row", "softmax_ce_multilabel", "uniform_no_range", "relu_on_logits")
N_TRAIN, N_VAL, FEATURES, PROPS = 3000, 600, 12, 5


def draw(n: int, bug: str):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(n, FEATURES))
    scale = np.array([0.01, 1.0, 500.0, 2.0, 0.3, 40.0, 1.0, 0.05, 10.0, 3.0, 100.0, 0.7])
    offset = np.array([0.0, 20.0, 1000.0, -5.0, 0.0, 300.0, 1.0, 0.0, 50.0, -2.0, 0.0, 7.0])
    x = z * scale + offset
    props = np.stack([z[:, 0] * z[:, 1] > 0, z[:, 2] + z[:, 3] + z[:, 4] > 0.5, np.abs(z[:, 5]) > 1,
                      np.sin(2 * z[:, 6]) + z[:, 7] > 0, z[:, 8] ** 2 + z[:, 9] ** 2 < 1.5], 1).astype(np.float32)
    if bug == "props_of_previous_row":
        props = np.roll(props, 1, axis=0)  # BUG props_of_previous_row: the label table joined one row off (a header row dropped on one side only)
    return x, props


class Regressor(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        layers = [nn.Linear(FEATURES, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, PROPS)]
        if bug == "relu_on_logits":
            layers.append(nn.ReLU())  # BUG relu_on_logits: the layer loop appends a ReLU after every Linear, the last one too
        self.net = nn.Sequential(*layers)
        if bug == "uniform_no_range":
            [nn.init.uniform_(m.weight) for m in self.net if isinstance(m, nn.Linear)]  # BUG uniform_no_range: uniform_(w) draws U(0, 1), the range (-a, a) forgotten

    def forward(self, x):  # (B, 12) -> (B, 5) logits
        return self.net(x)


def props_loss(logits, props, bug: str = "none"):
    if bug == "softmax_ce_multilabel":
        return F.cross_entropy(logits, props)  # BUG softmax_ce_multilabel: CrossEntropyLoss (a softmax over the five properties) on multi-hot targets where BCEWithLogitsLoss was meant
    return F.binary_cross_entropy_with_logits(logits, props)


class AlloysTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "alloys")
        x, p = draw(N_TRAIN + N_VAL, self.bug)
        mean, std = x[:N_TRAIN].mean(0), x[:N_TRAIN].std(0)
        x = torch.tensor((x - mean) / std, dtype=torch.float32)
        p = torch.tensor(p)
        self.train = {"features": x[:N_TRAIN], "props": p[:N_TRAIN]}
        self.val = {"features": x[N_TRAIN:], "props": p[N_TRAIN:]}

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        data = {k: v[:n] for k, v in self.train.items()}
        model = Regressor(self.bug)
        bug = self.bug

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, d in (("train", {k: v[:500] for k, v in data.items()}), ("val", self.val)):
                    d = on_device_of(model, d)
                    logits = model(d["features"])
                    right = (logits > 0).float() == d["props"]
                    out[f"{split}/loss"] = props_loss(logits, d["props"]).item()
                    out[f"{split}/acc"] = right.float().mean().item()
                    out[f"{split}/exact"] = right.all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in data.items()},
                       loss=lambda model, b: props_loss(model(b["features"]), b["props"], bug), evaluate=evaluate,
                       chance_loss=math.log(2), forward=lambda model, b: model(b["features"]),
                       targets=lambda b: b["props"])
